//! `intake scans`: list what the station recorded.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use intake::rules::Disposition;
use intake::store::ScanFilter;
use jiff::{Timestamp, ZonedDateTime as Zoned};

use super::columns::{Units, scan_header, scan_row};
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
    /// Units of weights and sizes in the table and CSV (money in the CSV is in cents).
    #[arg(long, value_enum, default_value_t = Units::Us)]
    units: Units,
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
                w.write_record(scan_header(self.units))?;
                for s in &scans {
                    w.write_record(scan_row(s, self.units))?;
                }
                w.flush()?;
            }
            Format::Table => {
                let u = self.units;
                writeln!(
                    out,
                    "{:<24} {:<13} {:<3} {:<16} {:>10} {:>22} {:>9} {:>9} {:<4}  reasons",
                    "time (UTC)",
                    "waybill",
                    "to",
                    "disposition",
                    "weight",
                    "dims",
                    "price",
                    "adjust",
                    "bill"
                )?;
                for s in &scans {
                    let t = s.created_at.to_string();
                    let weight = s
                        .weight
                        .map(|m| {
                            format!("{} {}", u.mass(m), if u == Units::Us { "lb" } else { "kg" })
                        })
                        .unwrap_or_default();
                    let money = |m: Option<intake::quantity::Money>| {
                        m.map(|m| m.to_string()).unwrap_or_default()
                    };
                    let bill = match s.billable {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "-",
                    };
                    let mut reasons = s.reasons_text();
                    if !s.not_billable.is_empty() {
                        reasons.push_str(&format!(
                            " (not billable: {})",
                            intake::decide::billing::NotBillable::text(&s.not_billable)
                        ));
                    }
                    writeln!(
                        out,
                        "{:<24} {:<13} {:<3} {:<16} {:>10} {:>22} {:>9} {:>9} {:<4}  {}",
                        &t[..t.len().min(24)],
                        s.waybill.as_deref().unwrap_or(""),
                        s.destination.map(|c| c.to_string()).unwrap_or_default(),
                        s.disposition.to_string(),
                        weight,
                        u.dims_short(s),
                        money(s.price),
                        money(s.adjustment),
                        bill,
                        reasons.trim()
                    )?;
                }
                writeln!(out, "{} scan(s)", scans.len())?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
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
