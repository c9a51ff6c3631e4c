//! Head-office sync: upload the outbox, pull manifest and rate cards, schedule.
//!
//! Deciding is pure ([`plan`], [`schedule`]); [`client`] is the only code that speaks HTTP,
//! [`wire`] is the JSON shape both ends share (see `docs/openapi.yaml`), and [`run`] drives
//! them for the daemon and for `intake sync`.

pub mod plan;
pub mod schedule;
