//! The columns of a scan in a table or CSV, shared by `intake scans` and `intake export` so
//! billing reads the same units in both: pounds and inches by default (`--units metric`:
//! kilograms and centimetres), money in cents, and the billing flag as columns.

use clap::ValueEnum;
use intake::quantity::{Length, Mass, Money};
use intake::scan::ScanRecord;
use intake::store::outbox::Resolution;

/// The units weights and sizes are shown in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Units {
    /// Pounds and inches.
    #[default]
    Us,
    /// Kilograms and centimetres.
    Metric,
}

impl Units {
    fn mass_unit(self) -> &'static str {
        match self {
            Units::Us => "lb",
            Units::Metric => "kg",
        }
    }

    fn length_unit(self) -> &'static str {
        match self {
            Units::Us => "in",
            Units::Metric => "cm",
        }
    }

    /// A weight to the nearest thousandth of the unit (under half a gram either way).
    pub(crate) fn mass(self, m: Mass) -> String {
        match self {
            Units::Us => format!("{:.3}", m.lb()),
            Units::Metric => format!("{:.3}", m.micrograms() as f64 / 1e9),
        }
    }

    /// A length to the nearest hundredth of an inch or tenth of a millimetre.
    pub(crate) fn length(self, l: Length) -> String {
        match self {
            Units::Us => format!("{:.2}", l.inches()),
            Units::Metric => format!("{:.2}", l.cm()),
        }
    }

    /// `12.0x10.0x8.0 in`, for a table.
    pub(crate) fn dims_short(self, s: &ScanRecord) -> String {
        s.dims.map_or_else(String::new, |d| {
            let one = |l: Length| match self {
                Units::Us => format!("{:.1}", l.inches()),
                Units::Metric => format!("{:.1}", l.cm()),
            };
            format!(
                "{}x{}x{} {}",
                one(d.length),
                one(d.width),
                one(d.height),
                self.length_unit()
            )
        })
    }
}

/// The scan columns' names in `units`.
pub(crate) fn scan_header(units: Units) -> Vec<String> {
    let (m, l) = (units.mass_unit(), units.length_unit());
    let mut h: Vec<String> = [
        "scan_id",
        "station_id",
        "created_at",
        "waybill",
        "destination",
        "disposition",
        "reasons",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    h.extend([
        format!("weight_{m}"),
        format!("length_{l}"),
        format!("width_{l}"),
        format!("height_{l}"),
        format!("dimensional_weight_{m}"),
        format!("billable_weight_{m}"),
    ]);
    h.extend(
        [
            "price_cents",
            "currency",
            "quoted_cents",
            "adjustment_cents",
            "rate_card_version",
            "in_force_version",
            "billable",
            "not_billable",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    h
}

fn opt<T>(v: Option<T>, f: impl FnOnce(T) -> String) -> String {
    v.map(f).unwrap_or_default()
}

fn cents(m: Option<Money>) -> String {
    opt(m, |m| m.cents().to_string())
}

/// One scan's values, in [`scan_header`]'s order.
pub(crate) fn scan_row(s: &ScanRecord, units: Units) -> Vec<String> {
    vec![
        s.id.clone(),
        s.station_id.clone(),
        s.created_at.to_string(),
        s.waybill.clone().unwrap_or_default(),
        opt(s.destination, |d| d.to_string()),
        s.disposition.to_string(),
        s.reasons_text(),
        opt(s.weight, |m| units.mass(m)),
        opt(s.dims, |d| units.length(d.length)),
        opt(s.dims, |d| units.length(d.width)),
        opt(s.dims, |d| units.length(d.height)),
        opt(s.dimensional_weight, |m| units.mass(m)),
        opt(s.billable_weight, |m| units.mass(m)),
        cents(s.price),
        s.currency.clone().unwrap_or_default(),
        cents(s.quoted),
        cents(s.adjustment),
        s.rate_card_version.clone().unwrap_or_default(),
        opt(s.in_force_version, |v| v.to_string()),
        opt(s.billable, |b| b.to_string()),
        intake::decide::billing::NotBillable::text(&s.not_billable),
    ]
}

/// The extra columns a resolution fills in an export (after the scan columns): the
/// repricing after the fact and an operator's flag, as numbers.
pub(crate) const RESOLUTION_EXTRA: [&str; 2] = ["measurement_flagged", "note"];

/// A resolution in the export's columns: `kind`, `record_id`, then the scan columns it has
/// (its new price, adjustment and rate card under the scan's names), then the extras.
pub(crate) fn resolution_row(r: &Resolution, station_id: &str, units: Units) -> Vec<String> {
    let header = scan_header(units);
    let mut row = vec![String::new(); header.len()];
    let mut set = |name: &str, v: String| {
        if let Some(i) = header.iter().position(|h| h == name) {
            row[i] = v;
        }
    };
    set("scan_id", r.scan_id.clone());
    set("station_id", station_id.to_owned());
    set("created_at", r.created_at.to_string());
    set("waybill", r.waybill.clone().unwrap_or_default());
    set("disposition", opt(r.disposition, |d| d.to_string()));
    set("reasons", r.reasons_text());
    set("price_cents", cents(r.billing.price));
    set("adjustment_cents", cents(r.billing.adjustment));
    set(
        "rate_card_version",
        r.billing.rate_card_version.clone().unwrap_or_default(),
    );
    let mut out = vec!["resolution".to_owned(), r.id.clone()];
    out.extend(row);
    out.push(r.billing.measurement_flagged.to_string());
    out.push(r.note.clone().unwrap_or_default());
    out
}
