//! `intake export`: scans and resolutions to a file, for head offices without an API.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use intake::store::ScanFilter;
use intake::sync::wire::{resolution_to_wire, scan_to_wire};
use jiff::ZonedDateTime as Zoned;

use super::columns::{RESOLUTION_EXTRA, Units, resolution_row, scan_header, scan_row};
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
    /// Units of weights and sizes in the CSV (money is always in cents; NDJSON carries
    /// exact base units).
    #[arg(long, value_enum, default_value_t = Units::Us)]
    units: Units,
}

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
                    let mut header = vec!["kind".to_owned(), "record_id".to_owned()];
                    header.extend(scan_header(self.units));
                    header.extend(RESOLUTION_EXTRA.map(str::to_owned));
                    c.write_record(&header)?;
                    for s in &scans {
                        let mut row = vec!["scan".to_owned(), s.id.clone()];
                        row.extend(scan_row(s, self.units));
                        row.extend([String::new(), String::new()]);
                        c.write_record(&row)?;
                    }
                    for r in &resolutions {
                        c.write_record(resolution_row(r, &station, self.units))?;
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
