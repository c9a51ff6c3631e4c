//! `intake export`: scans and resolutions to a file, for head offices without an API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use intake::store::ScanFilter;
use intake::sync::wire::{resolution_to_wire, scan_to_wire};
use jiff::ZonedDateTime as Zoned;

use super::scans::parse_since;
use super::{Context, bad_input};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    /// One JSON object per line, the upload protocol's record shape.
    Ndjson,
}

/// Write scans (and resolutions: repricing and re-judging after the fact) to a file,
/// atomically: the file appears whole or not at all. Only a regular file (or - for
/// standard output).
#[derive(Debug, Args)]
pub(crate) struct Export {
    /// Only records from this time on: a date, an instant or a span back (24h, 7d).
    #[arg(long)]
    since: Option<String>,
    #[arg(long, value_enum, default_value_t = Format::Ndjson)]
    format: Format,
    /// The file to write: a regular file (replaced atomically) or - for standard output.
    /// Device nodes, FIFOs and directories are refused.
    #[arg(long, short, value_name = "PATH")]
    output: PathBuf,
}

const CSV_HEADER: [&str; 20] = [
    "kind",
    "record_id",
    "scan_id",
    "station_id",
    "created_at",
    "waybill",
    "destination",
    "disposition",
    "reasons",
    "weight_ug",
    "length_um",
    "width_um",
    "height_um",
    "billable_weight_ug",
    "price_cents",
    "currency",
    "quoted_cents",
    "adjustment_cents",
    "rate_card_version",
    "note",
];

impl Export {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        // A device, FIFO or directory is bad input, refused before anything is read.
        if !intake::userfile::is_stdout(&self.output) {
            intake::userfile::writable(&self.output).map_err(bad_input)?;
        }
        let settings = ctx.settings()?;
        let since = self
            .since
            .as_deref()
            .map(|s| parse_since(s, &Zoned::now()))
            .transpose()
            .map_err(bad_input)?;
        let store = ctx.store(&settings)?;
        let scans = store.scans(&ScanFilter {
            since,
            ..ScanFilter::default()
        })?;
        let resolutions = store.resolutions(since)?;
        let station = settings.station_id.clone();
        intake::userfile::write_replacing(&self.output, |w| -> anyhow::Result<()> {
            match self.format {
                Format::Ndjson => {
                    for s in &scans {
                        serde_json::to_writer(&mut *w, &scan_to_wire(s))?;
                        w.write_all(b"\n")?;
                    }
                    for r in &resolutions {
                        serde_json::to_writer(&mut *w, &resolution_to_wire(r, &station))?;
                        w.write_all(b"\n")?;
                    }
                }
                Format::Csv => {
                    let mut c = csv::Writer::from_writer(&mut *w);
                    c.write_record(CSV_HEADER)?;
                    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
                    for s in &scans {
                        c.write_record([
                            "scan".to_owned(),
                            s.id.clone(),
                            s.id.clone(),
                            s.station_id.clone(),
                            s.created_at.to_string(),
                            s.waybill.clone().unwrap_or_default(),
                            s.destination.map(|d| d.to_string()).unwrap_or_default(),
                            s.disposition.to_string(),
                            s.reasons_text(),
                            opt(s.weight.map(|m| m.micrograms())),
                            opt(s.dims.map(|d| d.length.micrometres())),
                            opt(s.dims.map(|d| d.width.micrometres())),
                            opt(s.dims.map(|d| d.height.micrometres())),
                            opt(s.billable_weight.map(|m| m.micrograms())),
                            opt(s.price.map(|m| m.cents())),
                            s.currency.clone().unwrap_or_default(),
                            opt(s.quoted.map(|m| m.cents())),
                            opt(s.adjustment.map(|m| m.cents())),
                            s.rate_card_version.clone().unwrap_or_default(),
                            String::new(),
                        ])?;
                    }
                    for r in &resolutions {
                        let mut row = vec![String::new(); CSV_HEADER.len()];
                        row[0] = "resolution".into();
                        row[1] = r.id.clone();
                        row[2] = r.scan_id.clone();
                        row[3] = station.clone();
                        row[4] = r.created_at.to_string();
                        row[5] = r.waybill.clone().unwrap_or_default();
                        row[7] = r.disposition.map(|d| d.to_string()).unwrap_or_default();
                        row[8] = r.reasons_text();
                        row[19] = r.note.clone().unwrap_or_default();
                        c.write_record(&row)?;
                    }
                    c.flush()?;
                }
            }
            Ok(())
        })?;
        let done = format!(
            "wrote {} scan(s) and {} resolution(s) to {}",
            scans.len(),
            resolutions.len(),
            self.output.display()
        );
        // Standard output carries the export itself.
        if intake::userfile::is_stdout(&self.output) {
            eprintln!("{done}");
        } else {
            println!("{done}");
        }
        Ok(ExitCode::SUCCESS)
    }
}
