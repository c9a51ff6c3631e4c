//! Manifest entries: what head office knows of a waybill before intake, and the CSV format
//! they are imported from. Parsing is pure; the store keeps them.

use serde::Serialize;

use crate::country::Country;
use crate::quantity::{Dims, Mass, Money};
use crate::rules::Duties;
use crate::waybill::WaybillRules;

/// One pre-advised order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ManifestEntry {
    pub waybill: String,
    pub destination: Country,
    pub declared_weight: Option<Mass>,
    pub declared_dims: Option<Dims>,
    pub quoted_price: Option<Money>,
    pub consignee_id_on_file: bool,
    pub duties: Duties,
}

/// The CSV header, in order. `declared_weight`, `declared_dims`, `quoted_price` and
/// `duties` may be empty.
pub const CSV_COLUMNS: [&str; 7] = [
    "waybill",
    "destination",
    "declared_weight",
    "declared_dims",
    "quoted_price",
    "consignee_id_on_file",
    "duties",
];

/// A row that could not be read, by its line in the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// Everything read from one CSV file: good entries and the rows that were skipped.
#[derive(Debug, Default)]
pub struct ParsedManifest {
    pub entries: Vec<ManifestEntry>,
    /// The first [`REPORTED_REJECTIONS`] skipped rows, each message cut to
    /// [`MAX_MESSAGE_CHARS`] characters: a file of bad rows costs no memory per row.
    pub rejected: Vec<RowError>,
    /// Every skipped row, reported or not.
    pub rejected_total: u64,
}

impl ParsedManifest {
    /// Skipped rows counted but not in `rejected`.
    pub fn rejected_unreported(&self) -> u64 {
        self.rejected_total - self.rejected.len() as u64
    }

    fn reject(&mut self, line: u64, message: String) {
        self.rejected_total += 1;
        if self.rejected.len() < REPORTED_REJECTIONS {
            self.rejected.push(RowError {
                line,
                message: cut(&message, MAX_MESSAGE_CHARS),
            });
        }
    }
}

/// How many skipped rows are reported one by one; the rest are counted.
pub const REPORTED_REJECTIONS: usize = 20;
/// The longest reported message, characters (a row's fields are quoted in it).
pub const MAX_MESSAGE_CHARS: usize = 200;

/// `text` cut to `max` characters, with "…" when cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

/// Why a manifest file cannot be read at all (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest's first line must be the header `{}`; found `{found}`", CSV_COLUMNS.join(","))]
    Header { found: String },
    #[error("cannot read the manifest as CSV: {0}")]
    Csv(#[from] csv::Error),
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "yes" | "y" | "true" | "1" => Ok(true),
        "no" | "n" | "false" | "0" | "" => Ok(false),
        other => Err(format!("consignee_id_on_file \"{other}\" is not yes or no")),
    }
}

fn optional<T, E: std::fmt::Display>(
    field: &str,
    s: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Option<T>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    parse(t).map(Some).map_err(|e| format!("{field}: {e}"))
}

fn parse_row(rec: &csv::StringRecord, rules: &WaybillRules) -> Result<ManifestEntry, String> {
    let get = |i: usize| rec.get(i).unwrap_or("");
    if rec.len() != CSV_COLUMNS.len() {
        return Err(format!(
            "has {} fields, expected {} ({})",
            rec.len(),
            CSV_COLUMNS.len(),
            CSV_COLUMNS.join(",")
        ));
    }
    let waybill = rules
        .parse(get(0))
        .map_err(|e| format!("waybill: {e}"))?
        .as_str()
        .to_owned();
    let destination: Country = get(1).parse().map_err(|e| format!("destination: {e}"))?;
    Ok(ManifestEntry {
        waybill,
        destination,
        declared_weight: optional("declared_weight", get(2), str::parse::<Mass>)?,
        declared_dims: optional("declared_dims", get(3), str::parse::<Dims>)?,
        quoted_price: optional("quoted_price", get(4), str::parse::<Money>)?,
        consignee_id_on_file: parse_bool(get(5))?,
        duties: get(6).parse()?,
    })
}

/// Reads a manifest CSV. Malformed rows are reported with their line number and skipped;
/// a waybill repeated with different data keeps its first row and reports the others.
pub fn parse_csv(data: &[u8], rules: &WaybillRules) -> Result<ParsedManifest, ManifestError> {
    parse_csv_from(data, rules)
}

/// [`parse_csv`] from a reader, row by row: memory grows with the good entries only.
pub fn parse_csv_from(
    data: impl std::io::Read,
    rules: &WaybillRules,
) -> Result<ParsedManifest, ManifestError> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(data);
    let header = rdr.headers()?.clone();
    let found: Vec<String> = header.iter().map(|h| h.to_ascii_lowercase()).collect();
    if found != CSV_COLUMNS {
        return Err(ManifestError::Header {
            found: header.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut out = ParsedManifest::default();
    let mut seen = std::collections::HashMap::<String, (u64, usize)>::new();
    let mut rec = csv::StringRecord::new();
    loop {
        let (line, result) = match rdr.read_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map_or(0, |p| p.line());
                (line, parse_row(&rec, rules))
            }
            // The file itself failed (too large, unreadable): no row to skip, stop.
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => return Err(e.into()),
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                (line, Err(e.to_string()))
            }
        };
        match result {
            Ok(entry) => match seen.get(&entry.waybill) {
                Some(&(first_line, idx)) if out.entries[idx] != entry => out.reject(
                    line,
                    format!(
                        "waybill {} already given on line {first_line} with other data",
                        entry.waybill
                    ),
                ),
                Some(_) => {}
                None => {
                    seen.insert(entry.waybill.clone(), (line, out.entries.len()));
                    out.entries.push(entry);
                }
            },
            Err(message) => out.reject(line, message),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "waybill,destination,declared_weight,declared_dims,quoted_price,consignee_id_on_file,duties\n";

    #[test]
    fn good_rows_load_and_bad_rows_are_reported_by_line() {
        let csv = format!(
            "{HEADER}EE123456785GB,jp,3.2 lb,12x10x8 in,23.50,no,\n\
             EE123456784GB,JP,1 lb,,,no,\n\
             RR473124829US,XX,1 lb,,,no,\n\
             RR000000014US,CN,,,,yes,unpaid\n\
             RR000000028US,CN,1 kg,,12.00,maybe,\n\
             RR000000031US,JP\n"
        );
        let p = parse_csv(csv.as_bytes(), &WaybillRules::default()).unwrap();
        assert_eq!(p.entries.len(), 2, "{:?}", p.rejected);
        assert_eq!(p.entries[0].destination.as_str(), "JP");
        assert_eq!(p.entries[0].quoted_price, Some(Money::from_cents(2350)));
        assert_eq!(p.entries[1].duties, Duties::Unpaid);
        assert!(p.entries[1].consignee_id_on_file);
        let lines: Vec<u64> = p.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![3, 4, 6, 7]);
        assert!(p.rejected[0].message.contains("check digit"));
        assert!(p.rejected[1].message.contains("destination"));
        assert!(p.rejected[2].message.contains("consignee_id_on_file"));
        assert!(p.rejected[3].message.contains("fields"));
    }

    #[test]
    fn bad_rows_are_counted_and_only_the_first_are_kept_cut_short() {
        let long = "X".repeat(5000);
        let mut csv = HEADER.to_owned();
        for _ in 0..1000 {
            csv.push_str(&format!("{long},JP,1 lb,,,no,\n"));
        }
        let p = parse_csv(csv.as_bytes(), &WaybillRules::default()).unwrap();
        assert_eq!(p.rejected_total, 1000);
        assert_eq!(p.rejected.len(), REPORTED_REJECTIONS);
        assert_eq!(p.rejected_unreported(), 1000 - REPORTED_REJECTIONS as u64);
        assert_eq!(p.rejected[19].line, 21);
        for r in &p.rejected {
            assert!(
                r.message.chars().count() <= MAX_MESSAGE_CHARS + 1,
                "{}",
                r.message
            );
        }
        assert!(
            p.rejected[0].message.ends_with('…'),
            "{}",
            p.rejected[0].message
        );
    }

    #[test]
    fn a_wrong_header_is_refused_whole() {
        let err = parse_csv(b"a,b,c\n1,2,3\n", &WaybillRules::default()).unwrap_err();
        assert!(err.to_string().contains("header"));
    }

    #[test]
    fn repeated_waybills() {
        let csv = format!(
            "{HEADER}EE123456785GB,JP,1 lb,,,no,\nEE123456785GB,JP,1 lb,,,no,\nEE123456785GB,KR,1 lb,,,no,\n"
        );
        let p = parse_csv(csv.as_bytes(), &WaybillRules::default()).unwrap();
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.rejected.len(), 1);
        assert_eq!(p.rejected[0].line, 4);
        assert!(p.rejected[0].message.contains("line 2"));
    }
}
