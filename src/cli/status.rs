//! `intake status`: device health, today's scans per disposition, the outbox — read from
//! the status file and the store, so it works while the daemon runs.

use std::process::ExitCode;

use clap::Args;
use intake::daemon::status::{StatusFile, is_alive};
use intake::rules::Disposition;
use jiff::ZonedDateTime as Zoned;
use serde_json::json;

use super::Context;

/// Show the station's health and today's work.
#[derive(Debug, Args)]
pub(crate) struct Status {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Status {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let settings = ctx.settings()?;
        let store = ctx.store(&settings)?;
        let midnight = Zoned::now().start_of_day()?.timestamp();
        let today = store.counts_by_disposition(midnight)?;
        let outbox = store.outbox_depth()?;
        let last = store.last_scan_at()?;
        let manifest = store.manifest_len()?;
        let calibration = store.calibration_in_force()?;
        let verified = store.last_verification()?;
        let doc = StatusFile::read(&settings.data_dir);
        let running = doc.as_ref().is_some_and(is_alive);
        let count = |d: Disposition| today.iter().find(|(x, _)| *x == d).map_or(0, |(_, n)| *n);
        if self.json {
            let by: serde_json::Map<String, serde_json::Value> = Disposition::ALL
                .iter()
                .map(|d| (d.as_str().to_owned(), json!(count(*d))))
                .collect();
            let out = json!({
                "station_id": settings.station_id,
                "daemon_running": running,
                "phase": doc.as_ref().map(|d| d.phase.clone()),
                "devices": doc.as_ref().map(|d| &d.devices),
                "scans_today": by,
                "outbox_depth": outbox,
                "last_scan_at": last.map(|t| t.to_string()),
                "manifest_entries": manifest,
                "calibrated": calibration.is_some(),
                "calibration": calibration.as_ref().map(|c| json!({
                    "number": c.number,
                    "at": c.at.to_string(),
                    "source": c.source,
                })),
                "last_verification": verified.map(|(at, passed)| json!({
                    "at": at.to_string(),
                    "passed": passed,
                })),
            });
            println!("{out}");
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "station {} · daemon {}",
            settings.station_id,
            match &doc {
                Some(d) if running => format!("running (pid {}, {})", d.pid, d.phase),
                Some(d) => format!("not running (last seen {})", d.updated_at),
                None => "never started here".into(),
            }
        );
        if let Some(d) = &doc {
            for (name, h) in &d.devices {
                let state = if h.ok { "ok" } else { "FAULT" };
                let detail = h
                    .detail
                    .as_deref()
                    .map(|s| format!(" — {s}"))
                    .unwrap_or_default();
                println!("  {name:<11} {state}{detail}");
            }
        }
        match &calibration {
            Some(c) => println!("calibration {} of {} ({})", c.number, c.at, c.source),
            None => println!(
                "UNCALIBRATED: nothing is dimensioned; run `intake calibrate` with the station empty"
            ),
        }
        if let Some((at, passed)) = verified {
            println!(
                "last verification: {at} ({})",
                if passed { "passed" } else { "FAILED" }
            );
        }
        let total: u64 = today.iter().map(|(_, n)| n).sum();
        println!("scans today: {total}");
        for d in Disposition::ALL {
            println!("  {:<17} {}", d.as_str(), count(d));
        }
        println!("outbox: {outbox} to send · manifest: {manifest} entries");
        if let Some(t) = last {
            println!("last scan: {t}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
