//! `intake scans`: list what the station recorded.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use intake::rules::Disposition;
use intake::scan::ScanRecord;
use intake::store::ScanFilter;
use jiff::{Timestamp, ZonedDateTime as Zoned};

use super::{Context, bad_input};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Csv,
    /// One JSON object per line.
    Json,
}

/// List scans, oldest first.
#[derive(Debug, Args)]
pub(crate) struct Scans {
    /// Only scans from this time on: 2026-11-26 (local midnight), 2026-11-26T08:00:00Z,
    /// or a span back from now: 24h, 7d, "2 hours".
    #[arg(long)]
    since: Option<String>,
    /// Only scans with this disposition.
    #[arg(long)]
    disposition: Option<Disposition>,
    /// At most this many scans.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Same as --format json.
    #[arg(long)]
    json: bool,
}

/// Reads `--since`: an instant, a local date, or a span back from now.
pub(crate) fn parse_since(text: &str, now: &Zoned) -> anyhow::Result<Timestamp> {
    let t = text.trim();
    if let Ok(ts) = t.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = t.parse::<jiff::civil::Date>() {
        return Ok(date.to_zoned_datetime(now.time_zone().clone())?.timestamp());
    }
    if let Ok(span) = t.parse::<jiff::Span>() {
        return Ok(now.checked_sub(span)?.timestamp());
    }
    anyhow::bail!(
        "--since \"{t}\" is not a time; use a date (2026-11-26), an instant (2026-11-26T08:00:00Z) or a span (24h, 7d)"
    )
}

impl Scans {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
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
            disposition: self.disposition,
            limit: self.limit,
        })?;
        let format = if self.json { Format::Json } else { self.format };
        let mut out = std::io::stdout().lock();
        match format {
            Format::Json => {
                for s in &scans {
                    writeln!(out, "{}", s.to_json())?;
                }
            }
            Format::Csv => {
                let mut w = csv::Writer::from_writer(out);
                w.write_record([
                    "scan_id",
                    "created_at",
                    "waybill",
                    "destination",
                    "disposition",
                    "reasons",
                    "weight_lb",
                    "dims_in",
                    "billable_lb",
                    "price",
                    "currency",
                    "quoted",
                    "adjustment",
                ])?;
                for s in &scans {
                    w.write_record(row(s))?;
                }
                w.flush()?;
            }
            Format::Table => {
                writeln!(
                    out,
                    "{:<24} {:<13} {:<3} {:<16} {:>9} {:>20} {:>9} {:>9}  reasons",
                    "time (UTC)",
                    "waybill",
                    "to",
                    "disposition",
                    "weight",
                    "dims",
                    "price",
                    "adjust"
                )?;
                for s in &scans {
                    let r = row(s);
                    writeln!(
                        out,
                        "{:<24} {:<13} {:<3} {:<16} {:>9} {:>20} {:>9} {:>9}  {}",
                        &r[1][..r[1].len().min(24)],
                        r[2],
                        r[3],
                        r[4],
                        r[6],
                        r[7],
                        r[9],
                        r[12],
                        r[5]
                    )?;
                }
                writeln!(out, "{} scan(s)", scans.len())?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn row(s: &ScanRecord) -> [String; 13] {
    let opt = |v: Option<String>| v.unwrap_or_default();
    [
        s.id.clone(),
        s.created_at.to_string(),
        opt(s.waybill.clone()),
        opt(s.destination.map(|c| c.to_string())),
        s.disposition.to_string(),
        s.reasons_text(),
        opt(s.weight.map(|w| format!("{:.2}", w.lb()))),
        opt(s.dims.map(|d| {
            format!(
                "{:.1}x{:.1}x{:.1}",
                d.length.inches(),
                d.width.inches(),
                d.height.inches()
            )
        })),
        opt(s.billable_weight.map(|w| format!("{:.2}", w.lb()))),
        opt(s.price.map(|p| p.to_string())),
        opt(s.currency.clone()),
        opt(s.quoted.map(|p| p.to_string())),
        opt(s.adjustment.map(|p| p.to_string())),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_accepts_instants_dates_and_spans() {
        let now: Zoned = "2026-11-26T12:00:00+00:00[UTC]".parse().unwrap();
        assert_eq!(
            parse_since("2026-11-26T08:00:00Z", &now)
                .unwrap()
                .to_string(),
            "2026-11-26T08:00:00Z"
        );
        assert_eq!(
            parse_since("2026-11-25", &now).unwrap().to_string(),
            "2026-11-25T00:00:00Z"
        );
        assert_eq!(
            parse_since("24h", &now).unwrap().to_string(),
            "2026-11-25T12:00:00Z"
        );
        assert_eq!(
            parse_since("7d", &now).unwrap().to_string(),
            "2026-11-19T12:00:00Z"
        );
        assert!(parse_since("yesterday-ish", &now).is_err());
    }
}
