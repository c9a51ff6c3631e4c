//! `intake audit`: walk the tamper-evident chain of the station's records, or show one entry.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{Context, bad_input};

/// The audit chain: every scan, resolution, rate card and configuration change, each entry
/// hashed together with the one before.
#[derive(Debug, Args)]
pub(crate) struct Audit {
    #[command(subcommand)]
    command: AuditSub,
}

#[derive(Debug, Subcommand)]
enum AuditSub {
    /// Check the whole chain and the records it covers; exit 0 when intact, 1 when broken
    /// (the first break is named: edited, deleted, inserted or reordered).
    Verify {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print one entry.
    Show {
        /// The entry's number.
        entry: u64,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Audit {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let settings = ctx.settings()?;
        let store = ctx.store(&settings)?;
        match self.command {
            AuditSub::Verify { json } => {
                let v = store.verify_chain()?;
                if json {
                    println!("{}", serde_json::to_string(&v)?);
                } else if v.breaks.is_empty() {
                    println!(
                        "chain intact: {} entries, {} scans, {} resolutions; head {}",
                        v.entries, v.scans, v.resolutions, v.head
                    );
                } else {
                    println!(
                        "chain BROKEN: {} problem(s) in {} entries",
                        v.breaks.len(),
                        v.entries
                    );
                    print_breaks(&v.breaks);
                }
                Ok(if v.breaks.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                })
            }
            AuditSub::Show { entry, json } => {
                let Some(e) = store.chain_entry(entry)? else {
                    return Err(bad_input(anyhow::anyhow!(
                        "no entry {entry} in the chain; `intake audit verify` says how many there are"
                    )));
                };
                if json {
                    println!("{}", serde_json::to_string(&e)?);
                } else {
                    println!(
                        "entry {} ({}) {}",
                        e.seq,
                        e.kind,
                        e.record_id.unwrap_or_default()
                    );
                    println!("  hash {}", e.hash);
                    println!("  {}", json!(e.content));
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// The first 20 breaks of a chain, one a line, and how many more.
pub(crate) fn print_breaks(breaks: &[intake::store::audit::Break]) {
    for b in breaks.iter().take(20) {
        match b.entry {
            0 => println!("  {}", b.what),
            n => println!("  entry {n}: {}", b.what),
        }
    }
    if breaks.len() > 20 {
        println!("  … and {} more", breaks.len() - 20);
    }
}
