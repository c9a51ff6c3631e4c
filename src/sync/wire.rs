//! The JSON shapes both ends of the protocol share (`docs/openapi.yaml`): records going up,
//! manifest entries and rate cards coming down, acknowledgements and errors. Parsing is
//! strict and pure: a record that does not parse names its field.

use std::io::Write;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::country::Country;
use crate::decide::billing::NotBillable;
use crate::manifest::ManifestEntry;
use crate::quantity::{Dims, Length, Mass, Money};
use crate::rules::{Disposition, Duties, Reason};
use crate::scan::ScanRecord;
use crate::store::outbox::{ACTOR_OPERATOR, ACTOR_SYSTEM, Record, Resolution, ResolutionBilling};

/// Head office's answer to an upload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The ids of the batch head office now holds.
    pub held: Vec<String>,
    pub stored: u64,
    pub already_held: u64,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
}

/// A page of changed manifest entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPage {
    pub entries: Vec<Value>,
    pub cursor: String,
    pub more: bool,
}

/// The rate card in force at head office.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateCardDoc {
    pub version: String,
    pub body: String,
}

/// Why a record is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    /// The record's id, when it could be read.
    pub record_id: Option<String>,
    pub message: String,
}

/// The first bad record of a batch: its 1-based line (NDJSON) or position (JSON array).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record {line}{}: {message}", record_id.as_ref().map(|i| format!(" ({i})")).unwrap_or_default())]
pub struct BadRecord {
    pub line: u64,
    pub record_id: Option<String>,
    pub message: String,
}

/// A scan as sent: its JSON shape plus `kind`.
pub fn scan_to_wire(s: &ScanRecord) -> Value {
    let mut v = s.to_json();
    if let Value::Object(m) = &mut v {
        m.insert("kind".into(), Value::from("scan"));
    }
    v
}

/// A resolution as sent.
pub fn resolution_to_wire(r: &Resolution, station_id: &str) -> Value {
    // The chain's canonical content of the resolution, with where it was made and `kind`.
    let mut v = crate::store::audit::resolution_content(r);
    if let Some(o) = v.as_object_mut() {
        o.insert("kind".into(), Value::from("resolution"));
        o.insert("station_id".into(), Value::from(station_id));
    }
    v
}

/// A record as sent. Resolutions carry the station id they were made at.
pub fn record_to_wire(r: &Record, station_id: &str) -> Value {
    match r {
        Record::Scan(s) => scan_to_wire(s),
        Record::Resolution(r) => resolution_to_wire(r, station_id),
    }
}

/// One entry of a station's audit chain, as sent to head office (after the records it
/// covers): its number, kind, the record it is about, its canonical content exactly as the
/// station hashed it, and its hash. Head office re-verifies the chain from these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    pub station_id: String,
    pub seq: u64,
    pub entry_kind: String,
    pub record_id: Option<String>,
    pub content: String,
    pub hash: String,
}

impl AuditEntry {
    /// The id head office keeps it under: unique across stations.
    pub fn id_of(station_id: &str, seq: u64) -> String {
        format!("{station_id}/audit/{seq}")
    }

    /// As sent: the entry and `kind`.
    pub fn to_wire(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(m) = &mut v {
            m.insert("kind".into(), Value::from("audit"));
        }
        v
    }
}

fn parse_audit(v: Value) -> Result<(String, Received), String> {
    let e: AuditEntry = serde_json::from_value(v).map_err(|e| e.to_string())?;
    check_station_id(&e.station_id)?;
    if e.seq == 0 {
        return Err("seq must be 1 or more".into());
    }
    if e.hash.len() != 64 || !e.hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "hash \"{}\" is not a SHA-256 in hex",
            e.hash.chars().take(80).collect::<String>()
        ));
    }
    if e.content.len() > MAX_AUDIT_CONTENT {
        return Err(format!(
            "content is {} bytes; an entry holds at most {MAX_AUDIT_CONTENT}",
            e.content.len()
        ));
    }
    Ok((
        AuditEntry::id_of(&e.station_id, e.seq),
        Received::Audit(Box::new(e)),
    ))
}

/// The largest audit entry content head office takes (a scan or resolution is far smaller).
pub const MAX_AUDIT_CONTENT: usize = 64 * 1024;

/// One record as received, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    Scan(ScanRecord),
    Resolution {
        resolution: Resolution,
        station_id: String,
    },
    /// An entry of the station's audit chain.
    Audit(Box<AuditEntry>),
}

impl Received {
    /// The id head office keeps it under (an audit entry's is made from its station and
    /// number: see [`Received::audit_id`]).
    pub fn id(&self) -> String {
        match self {
            Received::Scan(s) => s.id.clone(),
            Received::Resolution { resolution, .. } => resolution.id.clone(),
            Received::Audit(e) => AuditEntry::id_of(&e.station_id, e.seq),
        }
    }

    /// The canonical JSON head office stores and lists.
    pub fn to_json(&self) -> Value {
        match self {
            Received::Scan(s) => s.to_json(),
            Received::Resolution {
                resolution,
                station_id,
            } => {
                let mut v = resolution_to_wire(resolution, station_id);
                if let Value::Object(m) = &mut v {
                    m.remove("kind");
                }
                v
            }
            Received::Audit(e) => serde_json::to_value(e).unwrap_or(Value::Null),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireScan {
    scan_id: String,
    station_id: String,
    created_at: String,
    waybill: Option<String>,
    destination: Option<String>,
    disposition: String,
    reasons: Vec<String>,
    weight_ug: Option<i64>,
    length_um: Option<i64>,
    width_um: Option<i64>,
    height_um: Option<i64>,
    dimensional_weight_ug: Option<i64>,
    billable_weight_ug: Option<i64>,
    price_cents: Option<i64>,
    currency: Option<String>,
    quoted_cents: Option<i64>,
    adjustment_cents: Option<i64>,
    rate_card_version: Option<String>,
    #[serde(default)]
    in_force_version: Option<u64>,
    #[serde(default)]
    calibration_number: Option<u64>,
    #[serde(default)]
    billable: Option<bool>,
    #[serde(default)]
    not_billable: Vec<String>,
    // For people; head office recomputes them from the exact fields.
    #[allow(dead_code)]
    weight_lb: Option<Value>,
    #[allow(dead_code)]
    dims_in: Option<Value>,
    #[allow(dead_code)]
    billable_weight_lb: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireResolution {
    resolution_id: String,
    scan_id: String,
    station_id: String,
    created_at: String,
    actor: String,
    waybill: Option<String>,
    disposition: Option<String>,
    reasons: Vec<String>,
    note: Option<String>,
    #[serde(default)]
    billing: Option<WireBilling>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireBilling {
    price_cents: Option<i64>,
    adjustment_cents: Option<i64>,
    rate_card_version: Option<String>,
    measurement_flagged: bool,
}

fn check_uuid(field: &str, id: &str) -> Result<(), String> {
    let u =
        uuid::Uuid::parse_str(id).map_err(|e| format!("{field} \"{id}\" is not a UUID: {e}"))?;
    if u.get_version_num() != 7 {
        return Err(format!(
            "{field} \"{id}\" is not a time-ordered UUIDv7 (version {})",
            u.get_version_num()
        ));
    }
    Ok(())
}

/// Whether `id` is a station id head office accepts: 1 to 64 of `[A-Za-z0-9_-]`. The one
/// rule, shared by `[station] id` in the configuration, so an outbox can always drain.
pub fn check_station_id(id: &str) -> Result<(), String> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        let shown: String = id.chars().take(80).collect();
        let more = if id.chars().count() > 80 { "…" } else { "" };
        return Err(format!(
            "station_id \"{shown}{more}\" ({} characters) must be 1 to 64 letters, digits, '-' or '_'",
            id.chars().count()
        ));
    }
    Ok(())
}

fn non_negative(field: &str, v: Option<i64>) -> Result<Option<i64>, String> {
    match v {
        Some(n) if n < 0 => Err(format!("{field} is negative ({n})")),
        _ => Ok(v),
    }
}

fn reasons(list: &[String]) -> Result<Vec<Reason>, String> {
    let mut out: Vec<Reason> = list
        .iter()
        .map(|r| r.parse::<Reason>().map_err(|e| format!("reasons: {e}")))
        .collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

fn timestamp(text: &str) -> Result<Timestamp, String> {
    text.parse::<Timestamp>()
        .map_err(|e| format!("created_at \"{text}\" is not an RFC 3339 instant: {e}"))
}

fn parse_scan(w: WireScan) -> Result<ScanRecord, String> {
    check_uuid("scan_id", &w.scan_id)?;
    check_station_id(&w.station_id)?;
    let dims = match (
        non_negative("length_um", w.length_um)?,
        non_negative("width_um", w.width_um)?,
        non_negative("height_um", w.height_um)?,
    ) {
        (Some(l), Some(wd), Some(h)) => Some(Dims::new(
            Length::from_micrometres(l),
            Length::from_micrometres(wd),
            Length::from_micrometres(h),
        )),
        (None, None, None) => None,
        _ => {
            return Err("length_um, width_um and height_um come all together or not at all".into());
        }
    };
    Ok(ScanRecord {
        created_at: timestamp(&w.created_at)?,
        destination: w
            .destination
            .map(|d| d.parse::<Country>())
            .transpose()
            .map_err(|e| format!("destination: {e}"))?,
        weight: non_negative("weight_ug", w.weight_ug)?.map(Mass::from_micrograms),
        dims,
        dimensional_weight: non_negative("dimensional_weight_ug", w.dimensional_weight_ug)?
            .map(Mass::from_micrograms),
        billable_weight: non_negative("billable_weight_ug", w.billable_weight_ug)?
            .map(Mass::from_micrograms),
        price: w.price_cents.map(Money::from_cents),
        currency: w.currency,
        quoted: w.quoted_cents.map(Money::from_cents),
        adjustment: w.adjustment_cents.map(Money::from_cents),
        disposition: w
            .disposition
            .parse::<Disposition>()
            .map_err(|e| e.to_string())?,
        reasons: reasons(&w.reasons)?,
        rate_card_version: w.rate_card_version,
        in_force_version: w.in_force_version,
        calibration_number: w.calibration_number,
        not_billable: match w.billable {
            Some(false) => w
                .not_billable
                .iter()
                .map(|r| r.parse::<NotBillable>())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("not_billable: {e}"))?,
            _ if !w.not_billable.is_empty() => {
                return Err(
                    "not_billable lists reasons for a scan that is not flagged billable: false"
                        .into(),
                );
            }
            _ => Vec::new(),
        },
        billable: w.billable,
        id: w.scan_id,
        station_id: w.station_id,
        waybill: w.waybill,
    })
}

fn parse_resolution(w: WireResolution) -> Result<Received, String> {
    check_uuid("resolution_id", &w.resolution_id)?;
    check_uuid("scan_id", &w.scan_id)?;
    check_station_id(&w.station_id)?;
    if w.actor != ACTOR_OPERATOR && w.actor != ACTOR_SYSTEM {
        return Err(format!("actor \"{}\" is not operator or system", w.actor));
    }
    Ok(Received::Resolution {
        resolution: Resolution {
            created_at: timestamp(&w.created_at)?,
            disposition: w
                .disposition
                .map(|d| d.parse::<Disposition>())
                .transpose()
                .map_err(|e| e.to_string())?,
            reasons: reasons(&w.reasons)?,
            id: w.resolution_id,
            scan_id: w.scan_id,
            actor: w.actor,
            waybill: w.waybill,
            note: w.note,
            billing: w
                .billing
                .map_or_else(ResolutionBilling::default, |b| ResolutionBilling {
                    price: b.price_cents.map(Money::from_cents),
                    adjustment: b.adjustment_cents.map(Money::from_cents),
                    rate_card_version: b.rate_card_version,
                    measurement_flagged: b.measurement_flagged,
                }),
        },
        station_id: w.station_id,
    })
}

/// Checks one received record.
pub fn record_from_wire(mut v: Value) -> Result<Received, WireError> {
    let id_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let Value::Object(m) = &mut v else {
        return Err(WireError {
            record_id: None,
            message: "is not a JSON object".into(),
        });
    };
    let kind = m.remove("kind");
    let (record_id, result) = match kind.as_ref().and_then(Value::as_str) {
        Some("scan") => {
            let id = id_of(&v, "scan_id");
            let r = serde_json::from_value::<WireScan>(v)
                .map_err(|e| e.to_string())
                .and_then(parse_scan)
                .map(Received::Scan);
            (id, r)
        }
        Some("resolution") => {
            let id = id_of(&v, "resolution_id");
            let r = serde_json::from_value::<WireResolution>(v)
                .map_err(|e| e.to_string())
                .and_then(parse_resolution);
            (id, r)
        }
        Some("audit") => match parse_audit(v) {
            Ok((id, r)) => (Some(id), Ok(r)),
            Err(e) => (None, Err(e)),
        },
        Some(other) => (
            None,
            Err(format!(
                "kind \"{other}\" is not \"scan\", \"resolution\" or \"audit\""
            )),
        ),
        None => (
            None,
            Err("has no \"kind\" (\"scan\", \"resolution\" or \"audit\")".into()),
        ),
    };
    result.map_err(|message| WireError { record_id, message })
}

/// Parses a whole batch, stopping at the first bad record: NDJSON (`json = false`) or a
/// JSON array / `{"records": [...]}`.
pub fn parse_batch(body: &[u8], json: bool) -> Result<Vec<Received>, BadRecord> {
    let bad = |line: u64, record_id, message: String| BadRecord {
        line,
        record_id,
        message,
    };
    let values: Vec<(u64, Result<Value, String>)> = if json {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| bad(1, None, format!("not JSON: {e}")))?;
        let list = match v {
            Value::Array(a) => a,
            Value::Object(mut m) => match m.remove("records") {
                Some(Value::Array(a)) => a,
                _ => {
                    return Err(bad(
                        1,
                        None,
                        "a JSON body is an array of records or {\"records\": [...]}".into(),
                    ));
                }
            },
            _ => {
                return Err(bad(
                    1,
                    None,
                    "a JSON body is an array of records or {\"records\": [...]}".into(),
                ));
            }
        };
        list.into_iter()
            .enumerate()
            .map(|(i, v)| (i as u64 + 1, Ok(v)))
            .collect()
    } else {
        body.split(|&b| b == b'\n')
            .enumerate()
            .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
            .map(|(i, l)| {
                (
                    i as u64 + 1,
                    serde_json::from_slice::<Value>(l).map_err(|e| format!("not JSON: {e}")),
                )
            })
            .collect()
    };
    let mut out = Vec::with_capacity(values.len());
    for (line, v) in values {
        let v = v.map_err(|m| bad(line, None, m))?;
        out.push(record_from_wire(v).map_err(|e| bad(line, e.record_id, e.message))?);
    }
    Ok(out)
}

/// Records as gzip-compressed NDJSON, ready to send.
pub fn encode_batch(records: &[Record], station_id: &str) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for r in records {
        serde_json::to_writer(&mut gz, &record_to_wire(r, station_id))?;
        gz.write_all(b"\n")?;
    }
    gz.finish()
}

/// A batch of audit chain entries, as NDJSON compressed with gzip (the records' endpoint).
pub fn encode_audit(entries: &[AuditEntry]) -> std::io::Result<Vec<u8>> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for e in entries {
        serde_json::to_writer(&mut gz, &e.to_wire())?;
        gz.write_all(b"\n")?;
    }
    gz.finish()
}

/// A manifest entry as sent down.
pub fn manifest_to_wire(e: &ManifestEntry) -> Value {
    json!({
        "waybill": e.waybill,
        "destination": e.destination.to_string(),
        "declared_weight_ug": e.declared_weight.map(Mass::micrograms),
        "declared_length_um": e.declared_dims.map(|d| d.length.micrometres()),
        "declared_width_um": e.declared_dims.map(|d| d.width.micrometres()),
        "declared_height_um": e.declared_dims.map(|d| d.height.micrometres()),
        "quoted_cents": e.quoted_price.map(Money::cents),
        "consignee_id_on_file": e.consignee_id_on_file,
        "duties": e.duties.as_str(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEntry {
    waybill: String,
    destination: String,
    declared_weight_ug: Option<i64>,
    declared_length_um: Option<i64>,
    declared_width_um: Option<i64>,
    declared_height_um: Option<i64>,
    quoted_cents: Option<i64>,
    consignee_id_on_file: bool,
    duties: String,
}

/// A manifest entry as received from head office, checked.
pub fn manifest_from_wire(v: Value) -> Result<ManifestEntry, WireError> {
    let record_id = v.get("waybill").and_then(Value::as_str).map(str::to_owned);
    let err = |message: String| WireError {
        record_id: record_id.clone(),
        message,
    };
    let w: WireEntry = serde_json::from_value(v).map_err(|e| err(e.to_string()))?;
    if w.waybill.trim().is_empty() {
        return Err(err("waybill is empty".into()));
    }
    let declared_dims = match (
        non_negative("declared_length_um", w.declared_length_um).map_err(err)?,
        non_negative("declared_width_um", w.declared_width_um).map_err(err)?,
        non_negative("declared_height_um", w.declared_height_um).map_err(err)?,
    ) {
        (Some(l), Some(wd), Some(h)) => Some(Dims::new(
            Length::from_micrometres(l),
            Length::from_micrometres(wd),
            Length::from_micrometres(h),
        )),
        (None, None, None) => None,
        _ => {
            return Err(err(
                "declared dimensions come all together or not at all".into()
            ));
        }
    };
    Ok(ManifestEntry {
        destination: w
            .destination
            .parse()
            .map_err(|e: crate::country::UnknownCountry| err(format!("destination: {e}")))?,
        declared_weight: non_negative("declared_weight_ug", w.declared_weight_ug)
            .map_err(err)?
            .map(Mass::from_micrograms),
        declared_dims,
        quoted_price: w.quoted_cents.map(Money::from_cents),
        consignee_id_on_file: w.consignee_id_on_file,
        duties: w.duties.parse::<Duties>().map_err(err)?,
        waybill: w.waybill,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Measurement, WaybillRead, judge};

    fn scan() -> ScanRecord {
        let s = crate::config::Settings::load(None).unwrap();
        let m = Measurement {
            weight: Ok("3.2 lb".parse().unwrap()),
            dims: Ok("12x10x8 in".parse().unwrap()),
            waybill: WaybillRead::Read("EE123456785GB".into()),
        };
        let e = ManifestEntry {
            waybill: "EE123456785GB".into(),
            destination: "JP".parse().unwrap(),
            declared_weight: None,
            declared_dims: None,
            quoted_price: Some(Money::from_cents(1000)),
            consignee_id_on_file: false,
            duties: Duties::NotApplicable,
        };
        ScanRecord::new(
            crate::scan::new_scan_id(),
            "dock-01",
            Timestamp::from_millisecond(1_700_000_000_123).unwrap(),
            &m,
            &judge(&m, Some(&e), &s.policy),
            &s.policy.card.version,
        )
    }

    #[test]
    fn a_scan_survives_the_wire_field_for_field() {
        let s = scan();
        assert!(s.price.is_some() && s.adjustment.is_some());
        let back = record_from_wire(scan_to_wire(&s)).unwrap();
        assert_eq!(back, Received::Scan(s.clone()));
        assert_eq!(back.to_json(), s.to_json());
    }

    #[test]
    fn a_resolution_survives_the_wire() {
        let r = Resolution {
            id: crate::scan::new_scan_id(),
            scan_id: crate::scan::new_scan_id(),
            created_at: Timestamp::from_millisecond(5).unwrap(),
            actor: ACTOR_SYSTEM.into(),
            waybill: Some("EE123456785GB".into()),
            disposition: Some(Disposition::Hold),
            reasons: vec![Reason::IdRequired],
            note: None,
            billing: Default::default(),
        };
        let back = record_from_wire(resolution_to_wire(&r, "dock-01")).unwrap();
        assert_eq!(
            back,
            Received::Resolution {
                resolution: r,
                station_id: "dock-01".into()
            }
        );
    }

    #[test]
    fn a_batch_names_its_first_bad_record() {
        let good = scan_to_wire(&scan()).to_string();
        let mut bad = scan_to_wire(&scan());
        bad["disposition"] = "maybe".into();
        let bad_id = bad["scan_id"].as_str().unwrap().to_owned();
        let mut worse = scan_to_wire(&scan());
        worse["scan_id"] = "not-a-uuid".into();
        let body = format!("{good}\n\n{bad}\n{worse}\n");
        let err = parse_batch(body.as_bytes(), false).unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.record_id.as_deref(), Some(bad_id.as_str()));
        assert!(err.message.contains("maybe"), "{err}");

        let ok = parse_batch(format!("{good}\n{good}").as_bytes(), false).unwrap();
        assert_eq!(ok.len(), 2);
        let arr = format!("[{good},{worse}]");
        let err = parse_batch(arr.as_bytes(), true).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("UUID"), "{err}");
        let wrapped = format!("{{\"records\":[{good}]}}");
        assert_eq!(parse_batch(wrapped.as_bytes(), true).unwrap().len(), 1);
        let err = parse_batch(b"{\"kind\":\"scan\"", false).unwrap_err();
        assert!(err.message.contains("not JSON"), "{err}");
    }

    #[test]
    fn unknown_fields_and_half_dimensions_are_refused() {
        let mut v = scan_to_wire(&scan());
        v["colour"] = "red".into();
        let e = record_from_wire(v).unwrap_err();
        assert!(e.message.contains("colour"), "{e}");
        let mut v = scan_to_wire(&scan());
        v["width_um"] = Value::Null;
        let e = record_from_wire(v).unwrap_err();
        assert!(e.message.contains("all together"), "{e}");
        let mut v = scan_to_wire(&scan());
        v["scan_id"] = "0b8e1d6c-6d7b-4b8a-9c3e-2f4b1a0c9d8e".into(); // v4
        let e = record_from_wire(v).unwrap_err();
        assert!(e.message.contains("UUIDv7"), "{e}");
        let mut v = scan_to_wire(&scan());
        v["weight_ug"] = (-1).into();
        assert!(record_from_wire(v).is_err());
    }

    #[test]
    fn manifest_entries_round_trip_and_bad_ones_are_named() {
        let e = ManifestEntry {
            waybill: "EE123456785GB".into(),
            destination: "CN".parse().unwrap(),
            declared_weight: Some("2 lb".parse().unwrap()),
            declared_dims: Some("10x8x6 in".parse().unwrap()),
            quoted_price: Some(Money::from_cents(2200)),
            consignee_id_on_file: true,
            duties: Duties::Unpaid,
        };
        assert_eq!(manifest_from_wire(manifest_to_wire(&e)).unwrap(), e);
        let mut v = manifest_to_wire(&e);
        v["destination"] = "XX".into();
        let err = manifest_from_wire(v).unwrap_err();
        assert_eq!(err.record_id.as_deref(), Some("EE123456785GB"));
        assert!(err.message.contains("destination"), "{err}");
    }

    #[test]
    fn encoded_batches_are_gzip_ndjson() {
        let s = scan();
        let body = encode_batch(&[Record::Scan(s.clone())], "dock-01").unwrap();
        assert_eq!(&body[..2], &[0x1f, 0x8b], "gzip magic (RFC 1952)");
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&body[..]), &mut text)
            .unwrap();
        assert_eq!(parse_batch(&text, false).unwrap(), vec![Received::Scan(s)]);
    }
}
