//! intake: the edge daemon and library of a parcel carrier's intake scanning station.
//!
//! Pure logic (quantities, waybills, rules, pricing, the judge) takes its inputs as
//! arguments and does no IO; the store and the daemon do the IO around it. See
//! `ARCHITECTURE.md` in the design folder and the README.

pub mod barcode;
pub mod config;
pub mod country;
pub mod daemon;
pub mod decide;
pub mod hq;
pub mod judge;
pub mod manifest;
pub mod measure;
pub mod pricing;
pub mod rules;
pub mod scan;
pub mod station;
pub mod store;
pub mod sync;
pub mod userfile;
pub mod waybill;
pub mod web;

/// Typed quantities live in the hal crate (readings carry them); re-exported here.
pub use intake_hal::quantity;
