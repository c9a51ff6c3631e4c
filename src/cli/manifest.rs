//! `intake manifest import`: load pre-advised orders from a CSV file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use intake::manifest::parse_csv_from;
use serde_json::json;

use super::{Context, bad_input};

/// The largest manifest CSV imported (rows are read as they come; the limit bounds the time
/// and the good entries held for the store).
const MAX_MANIFEST_FILE: u64 = 1 << 30;

/// Pre-advised orders (the manifest).
#[derive(Debug, Args)]
pub(crate) struct Manifest {
    #[command(subcommand)]
    command: ManifestSub,
}

#[derive(Debug, Subcommand)]
enum ManifestSub {
    /// Load a manifest CSV into the store. Malformed rows are reported by line and skipped
    /// (exit 2 after loading the rest); importing the same file again changes nothing.
    Import {
        file: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Manifest {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let ManifestSub::Import { file, json } = self.command;
        let settings = ctx.settings()?;
        let data = intake::userfile::open_input(&file, MAX_MANIFEST_FILE)
            .with_context(|| format!("cannot read manifest {}", file.display()))
            .map_err(bad_input)?;
        let parsed = parse_csv_from(std::io::BufReader::new(data), &settings.waybill)
            .with_context(|| format!("manifest {}", file.display()))
            .map_err(bad_input)?;
        let unreported = parsed.rejected_unreported();
        let (records, owner) = ctx.records(&settings)?;
        let applied = records
            .import_manifest(parsed.entries, &file.display().to_string())
            .wait();
        owner.stop();
        let applied = applied?;
        let counts = applied.counts;
        for r in &parsed.rejected {
            eprintln!("{}:{}: skipped: {}", file.display(), r.line, r.message);
        }
        if unreported > 0 {
            eprintln!(
                "{}: and {} more rows skipped (the first {} are shown)",
                file.display(),
                unreported,
                parsed.rejected_total
            );
        }
        if json {
            let out = json!({
                "file": file,
                "inserted": counts.inserted,
                "updated": counts.updated,
                "unchanged": counts.unchanged,
                "rejudged": applied.rejudged.len(),
                "rejected": parsed.rejected,
                "rejected_total": parsed.rejected_total,
            });
            println!("{out}");
        } else {
            println!(
                "{}: {} new, {} updated, {} unchanged, {} skipped",
                file.display(),
                counts.inserted,
                counts.updated,
                counts.unchanged,
                parsed.rejected_total
            );
        }
        Ok(if parsed.rejected_total == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        })
    }
}
