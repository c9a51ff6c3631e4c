//! A scan: one station's record of one parcel, as it is stored and sent to head office.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::country::Country;
use crate::decide::billing::NotBillable;
use crate::judge::{Judgement, Measurement, WaybillRead};
use crate::quantity::{Dims, Mass, Money};
use crate::rules::{Disposition, Reason};

/// One parcel's record. Immutable once stored; corrections are resolution rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRecord {
    /// Time-ordered id (UUIDv7) made by the station, so two stations never collide.
    pub id: String,
    pub station_id: String,
    pub created_at: Timestamp,
    pub waybill: Option<String>,
    pub destination: Option<Country>,
    pub weight: Option<Mass>,
    pub dims: Option<Dims>,
    pub dimensional_weight: Option<Mass>,
    pub billable_weight: Option<Mass>,
    pub price: Option<Money>,
    pub currency: Option<String>,
    pub quoted: Option<Money>,
    pub adjustment: Option<Money>,
    pub disposition: Disposition,
    pub reasons: Vec<Reason>,
    pub rate_card_version: Option<String>,
    /// The version of what was in force (limits, rate card, destinations, waybill formats)
    /// when the station judged it; `None` for scans stored before versions were kept.
    pub in_force_version: Option<u64>,
    /// The number of the calibration in force when it was measured; `None` when there was
    /// none (or the scan predates calibrations in the store).
    pub calibration_number: Option<u64>,
    /// Whether billing may charge on this measurement; `None` for scans stored before the
    /// flag existed.
    pub billable: Option<bool>,
    /// Why not, when not billable (see [`crate::decide::billing`]).
    pub not_billable: Vec<NotBillable>,
}

/// A new time-ordered scan id.
pub fn new_scan_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl ScanRecord {
    /// Builds the record of a judged measurement (pure: id and time are given).
    pub fn new(
        id: String,
        station_id: &str,
        created_at: Timestamp,
        m: &Measurement,
        j: &Judgement,
        rate_card_version: &str,
    ) -> ScanRecord {
        let waybill = match &m.waybill {
            WaybillRead::Read(w) => Some(w.clone()),
            WaybillRead::NoRead | WaybillRead::Ambiguous(_) => None,
        };
        ScanRecord {
            id,
            station_id: station_id.to_owned(),
            created_at,
            waybill,
            destination: j.destination,
            weight: m.weight.ok(),
            dims: m.dims.ok(),
            dimensional_weight: j.priced.as_ref().map(|p| p.dimensional),
            billable_weight: j.priced.as_ref().map(|p| p.billable),
            price: j.priced.as_ref().map(|p| p.price),
            currency: j.priced.as_ref().map(|p| p.currency.clone()),
            quoted: j.quoted,
            adjustment: j.adjustment,
            disposition: j.verdict.disposition,
            reasons: j.verdict.reasons.clone(),
            rate_card_version: j.priced.as_ref().map(|_| rate_card_version.to_owned()),
            in_force_version: None,
            calibration_number: None,
            billable: None,
            not_billable: Vec::new(),
        }
    }

    /// Reasons as stored: space-separated names.
    pub fn reasons_text(&self) -> String {
        self.reasons
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The JSON shape of a scan (CLI, API, head office): exact integers in base units, and
    /// pounds/inches for people.
    pub fn to_json(&self) -> Value {
        let round2 = |x: f64| (x * 100.0).round() / 100.0;
        let mut v = json!({
            "scan_id": self.id,
            "station_id": self.station_id,
            "created_at": self.created_at.to_string(),
            "waybill": self.waybill,
            "destination": self.destination.map(|c| c.to_string()),
            "disposition": self.disposition,
            "reasons": self.reasons,
            "weight_ug": self.weight.map(Mass::micrograms),
            "weight_lb": self.weight.map(|w| round2(w.lb())),
            "length_um": self.dims.map(|d| d.length.micrometres()),
            "width_um": self.dims.map(|d| d.width.micrometres()),
            "height_um": self.dims.map(|d| d.height.micrometres()),
            "dims_in": self.dims.map(|d| [round2(d.length.inches()), round2(d.width.inches()), round2(d.height.inches())]),
            "dimensional_weight_ug": self.dimensional_weight.map(Mass::micrograms),
            "billable_weight_ug": self.billable_weight.map(Mass::micrograms),
            "billable_weight_lb": self.billable_weight.map(|w| round2(w.lb())),
            "price_cents": self.price.map(Money::cents),
            "currency": self.currency,
            "quoted_cents": self.quoted.map(Money::cents),
            "adjustment_cents": self.adjustment.map(Money::cents),
            "rate_card_version": self.rate_card_version,
            "in_force_version": self.in_force_version,
        });
        // Only when known: a scan stored before calibrations or the billing flag keeps the
        // exact shape its audit entry and head office hold.
        if let (Some(n), Value::Object(m)) = (self.calibration_number, &mut v) {
            m.insert("calibration_number".into(), Value::from(n));
        }
        if let (Some(b), Some(o)) = (self.billable, v.as_object_mut()) {
            o.insert("billable".into(), Value::Bool(b));
            o.insert("not_billable".into(), json!(self.not_billable));
        }
        v
    }
}
