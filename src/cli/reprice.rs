//! `intake reprice`: billing asks to price the scans not yet delivered to head office with
//! the rate card in force now. A new card never reprices stored scans by itself.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::Context;
use intake::store::outbox::RecordKind;

/// Price the scans still waiting for head office again with the rate card in force (billing
/// asked). Each changed price is a new resolution (the scan row stays as it was), delivered
/// with the next sync. The daemon must be stopped (it holds the data folder).
#[derive(Debug, Args)]
pub(crate) struct Reprice {
    /// Only these scans (ids), instead of every undelivered one.
    #[arg(long = "scan", value_name = "ID")]
    scans: Vec<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Reprice {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let settings = ctx.settings()?;
        let (records, owner) = ctx.records(&settings)?;
        let ids = if self.scans.is_empty() {
            records
                .read(|st| st.pending_outbox(0, usize::MAX))
                .wait()
                .map(|rows| {
                    rows.into_iter()
                        .filter(|r| r.kind == RecordKind::Scan)
                        .map(|r| r.record_id)
                        .collect()
                })
        } else {
            Ok(self.scans.clone())
        };
        let made = ids.and_then(|ids| records.reprice(ids).wait());
        let card = records.in_force().policy.card.version.clone();
        owner.stop();
        let made = made?;
        if self.json {
            println!(
                "{}",
                json!({
                    "rate_card": card,
                    "repriced": made.iter().map(|r| json!({
                        "scan_id": r.scan_id,
                        "resolution_id": r.id,
                        "disposition": r.disposition,
                        "note": r.note,
                    })).collect::<Vec<_>>(),
                })
            );
        } else {
            println!("{} scan(s) priced again with rate card {card}", made.len());
            for r in &made {
                println!("  {}: {}", r.scan_id, r.note.as_deref().unwrap_or(""));
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
