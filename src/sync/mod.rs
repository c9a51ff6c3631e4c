//! Head-office sync: upload the outbox, pull manifest and rate cards, schedule.
//!
//! Deciding is pure ([`plan`], [`schedule`]); [`client`] is the only code that speaks HTTP,
//! [`wire`] is the JSON shape both ends share (see `docs/openapi.yaml`), and [`run`] drives
//! them for the daemon and for `intake sync`.

pub mod client;
pub mod config;
pub mod plan;
pub mod run;
pub mod schedule;
pub mod token;
pub mod wire;

pub use client::{Client, SyncError};
pub use config::{SyncConfig, SyncSettings};
pub use run::{
    Progress, Stop, SyncEvent, SyncHandle, SyncTask, UploadReport, pull_all, upload_all,
};
pub use token::Token;
