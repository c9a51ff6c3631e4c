//! The audit chain: every numbered event carries its canonical content (for a scan or a
//! resolution: the whole record) and a SHA-256 over that content and the previous entry's
//! hash. Editing, deleting, inserting or reordering a row — even with the triggers dropped
//! and put back — breaks the chain or makes a row differ from its entry, and
//! [`Store::verify_chain`] names the first entry where it does.
//!
//! Entries are never pruned: the chain is the station's alibi memory for billing (at least
//! the 90 days the carrier asks for, and never past what head office has not acknowledged).

use rusqlite::{OptionalExtension, Transaction};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::events::EventKind;
use super::outbox::Resolution;
use super::{Result, Store};
use crate::scan::ScanRecord;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical content of a scan in the chain: every stored field, exact.
pub fn scan_content(s: &ScanRecord) -> Value {
    s.to_json()
}

/// The canonical content of a resolution in the chain.
pub fn resolution_content(r: &Resolution) -> Value {
    let mut v = json!({
        "resolution_id": r.id,
        "scan_id": r.scan_id,
        "created_at": r.created_at.to_string(),
        "actor": r.actor,
        "waybill": r.waybill,
        "disposition": r.disposition,
        "reasons": r.reasons,
        "note": r.note,
    });
    // Only when it has one: a resolution stored before these columns existed keeps the
    // exact shape its entry recorded.
    if let (Some(b), Some(o)) = (r.billing.to_json(), v.as_object_mut()) {
        o.insert("billing".into(), b);
    }
    v
}

/// The entry's canonical text: keys sorted (serde_json's map), no whitespace.
pub(super) fn content(seq: u64, at_ms: i64, kind: &EventKind, detail: &Value) -> String {
    let record = match kind {
        EventKind::ScanCommitted(s) => scan_content(s),
        EventKind::ResolutionRecorded(r) => resolution_content(r),
        EventKind::Calibrated(c) => super::calibration::calibration_content(c),
        EventKind::Verified(v) => super::calibration::verification_content(v),
        _ => Value::Null,
    };
    json!({
        "seq": seq,
        "at_ms": at_ms,
        "kind": kind.name(),
        "record": record,
        "detail": detail,
    })
    .to_string()
}

/// SHA-256 of the previous entry's hash and this entry's content, in hex.
pub fn chain_hash(prev: &str, content: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(b"\n");
    h.update(content.as_bytes());
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The record inside an entry's canonical text, without parsing it: the content is
/// `{"at_ms":…,"detail":…,"kind":"K","record":R,"seq":N}` (keys sorted, no whitespace), so R
/// sits between `"kind":"K","record":` and the final `,"seq":N}`. `None` when the text is
/// not in that shape (then the entry is parsed and compared field by field).
fn record_text<'a>(content: &'a str, kind: &str, seq: u64) -> Option<&'a str> {
    let head = format!("\"kind\":\"{kind}\",\"record\":");
    let tail = format!(",\"seq\":{seq}}}");
    let start = content.find(&head)? + head.len();
    let end = content.strip_suffix(&tail)?.len();
    content.get(start..end)
}

/// What is wrong with the chain, at the first entry where it goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The entry's number (0: a row no entry covers).
    pub entry: u64,
    pub what: String,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub entries: u64,
    pub scans: u64,
    pub resolutions: u64,
    /// The newest entry's hash.
    pub head: String,
    /// Empty when the chain and the tables it covers are intact.
    pub breaks: Vec<Break>,
}

/// Field by field: what differs between the entry's record and the row now.
fn differences(entry: &Value, row: &Value) -> String {
    let (Some(a), Some(b)) = (entry.as_object(), row.as_object()) else {
        return "the record differs".into();
    };
    let mut out = Vec::new();
    for (k, v) in a {
        let now = b.get(k).unwrap_or(&Value::Null);
        if now != v {
            out.push(format!("{k} was {v}, is {now}"));
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            out.push(format!("{k} added: {v}"));
        }
    }
    out.join("; ")
}

/// One entry of the chain, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub kind: String,
    pub record_id: Option<String>,
    pub content: Value,
    pub hash: String,
}

impl Store {
    /// One entry of the chain.
    pub fn chain_entry(&self, seq: u64) -> Result<Option<Entry>> {
        type Row = (String, Option<String>, Option<String>, Option<String>);
        let row: Option<Row> = self
            .conn
            .query_row(
                "SELECT kind, record_id, content, hash FROM events WHERE seq = ?1",
                [i64::try_from(seq).unwrap_or(i64::MAX)],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row.map(|(kind, record_id, content, hash)| Entry {
            seq,
            kind,
            record_id,
            content: content
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or(Value::Null),
            hash: hash.unwrap_or_default(),
        }))
    }

    /// Entries after `after`, at most `limit`, exactly as stored (for head office, which
    /// checks the hashes over the same bytes).
    pub fn chain_entries_after(
        &self,
        station_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::sync::wire::AuditEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, kind, record_id, content, hash FROM events
             WHERE seq > ?1 AND content IS NOT NULL ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            [
                i64::try_from(after).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX),
            ],
            |r| {
                Ok(crate::sync::wire::AuditEntry {
                    station_id: station_id.to_owned(),
                    seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                    entry_kind: r.get(1)?,
                    record_id: r.get(2)?,
                    content: r.get(3)?,
                    hash: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                })
            },
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Walks the chain from the first entry: each hash against its content and the one
    /// before, each scan and resolution against its entry, and every scan and resolution
    /// row against the entries (a row no entry covers was inserted behind intake's back).
    pub fn verify_chain(&self) -> Result<Verified> {
        let mut out = Verified {
            entries: 0,
            scans: 0,
            resolutions: 0,
            head: GENESIS.to_owned(),
            breaks: Vec::new(),
        };
        let mut stmt = self
            .conn
            .prepare("SELECT seq, kind, record_id, content, hash FROM events ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        let mut expected = 1u64;
        let mut prev = GENESIS.to_owned();
        let mut covered_scans = std::collections::HashSet::new();
        let mut covered_res = std::collections::HashSet::new();
        let mut covered_cal = std::collections::HashSet::new();
        let mut covered_ver = std::collections::HashSet::new();
        while let Some(r) = rows.next()? {
            let seq = u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0);
            let kind: String = r.get(1)?;
            let record_id: Option<String> = r.get(2)?;
            let content: Option<String> = r.get(3)?;
            let hash: Option<String> = r.get(4)?;
            out.entries += 1;
            let mut broke = |what: String| out.breaks.push(Break { entry: seq, what });
            if seq != expected {
                broke(format!(
                    "entry {expected} is missing or out of order (the next stored is {seq})"
                ));
            }
            expected = seq + 1;
            let (Some(content), Some(hash)) = (content, hash) else {
                broke("the entry has no content or hash".into());
                continue;
            };
            if chain_hash(&prev, &content) != hash {
                broke(
                    "its hash does not match its content and the entry before (edited, removed, inserted or reordered)"
                        .into(),
                );
            }
            prev = hash;
            let id = record_id.unwrap_or_default();
            // The usual case, an intact record, is checked on the canonical text alone.
            let number: u64 = id.parse().unwrap_or(0);
            let now = match kind.as_str() {
                "scan" => self.scan(&id)?.map(|s| scan_content(&s)),
                "resolution" => self.resolution(&id)?.map(|r| resolution_content(&r)),
                "calibration" => self
                    .calibration(number)?
                    .map(|c| super::calibration::calibration_content(&c)),
                "verification" => self
                    .verification(number)?
                    .map(|v| super::calibration::verification_content(&v)),
                _ => None,
            };
            match kind.as_str() {
                "scan" => covered_scans.insert(id.clone()),
                "resolution" => covered_res.insert(id.clone()),
                "calibration" => covered_cal.insert(number),
                "verification" => covered_ver.insert(number),
                _ => false,
            };
            if let (Some(now), Some(text)) = (&now, record_text(&content, &kind, seq))
                && serde_json::to_string(now).is_ok_and(|t| t == text)
            {
                continue;
            }
            let parsed: Value = serde_json::from_str(&content).unwrap_or(Value::Null);
            if parsed["seq"].as_u64() != Some(seq) || parsed["kind"] != kind.as_str() {
                broke(format!(
                    "the entry's content says entry {} ({}), it is stored as {seq} ({kind})",
                    parsed["seq"], parsed["kind"]
                ));
            }
            if matches!(
                kind.as_str(),
                "scan" | "resolution" | "calibration" | "verification"
            ) {
                match now {
                    None => broke(format!("{kind} {id} was deleted")),
                    Some(now) if now != parsed["record"] => broke(format!(
                        "{kind} {id} was edited: {}",
                        differences(&parsed["record"], &now)
                    )),
                    Some(_) => {}
                }
            }
        }
        out.head = prev;
        let (cals, vers) = self.calibration_and_verification_ids()?;
        for (what, ids, covered) in [
            ("calibration", cals, &covered_cal),
            ("verification", vers, &covered_ver),
        ] {
            for n in ids.into_iter().filter(|n| !covered.contains(n)) {
                out.breaks.push(Break {
                    entry: 0,
                    what: format!("{what} {n} is in no entry (inserted outside intake, or the chain was cut after it)"),
                });
            }
        }
        let ids = |sql: &str| -> Result<Vec<String>> {
            let mut s = self.conn.prepare(sql)?;
            let v = s
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(v)
        };
        let scans = ids("SELECT id FROM scans ORDER BY created_at_ms, id")?;
        out.scans = scans.len() as u64;
        for id in scans.into_iter().filter(|id| !covered_scans.contains(id)) {
            out.breaks.push(Break {
                entry: 0,
                what: format!("scan {id} is in no entry (inserted outside intake, or the chain was cut after it)"),
            });
        }
        let res = ids("SELECT id FROM resolutions ORDER BY created_at_ms, id")?;
        out.resolutions = res.len() as u64;
        for id in res.into_iter().filter(|id| !covered_res.contains(id)) {
            out.breaks.push(Break {
                entry: 0,
                what: format!("resolution {id} is in no entry (inserted outside intake, or the chain was cut after it)"),
            });
        }
        Ok(out)
    }

    /// Chains the scans and resolutions a store written before the chain existed already
    /// holds, once, at the upgrade (never later: a row that appears afterwards without an
    /// entry is a break).
    pub(super) fn chain_existing_rows(&mut self) -> Result<u64> {
        let scans = self.scans(&super::ScanFilter::default())?;
        let resolutions = self.resolutions(None)?;
        if scans.is_empty() && resolutions.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.transaction()?;
        let mut n = 0;
        // In time order, scans before the resolutions that point at them.
        let mut all: Vec<(jiff::Timestamp, u8, EventKind)> = scans
            .into_iter()
            .map(|s| (s.created_at, 0, EventKind::ScanCommitted(Box::new(s))))
            .chain(
                resolutions
                    .into_iter()
                    .map(|r| (r.created_at, 1, EventKind::ResolutionRecorded(Box::new(r)))),
            )
            .collect();
        all.sort_by_key(|e| (e.0, e.1));
        for (at, _, kind) in all {
            Store::append_event_in(&tx, at, kind)?;
            n += 1;
        }
        tx.commit()?;
        Ok(n)
    }
}

/// The hash of the entry before `seq`.
pub(super) fn head_before(tx: &Transaction<'_>, seq: u64) -> Result<(u64, String)> {
    if seq <= 1 {
        return Ok((0, GENESIS.to_owned()));
    }
    let hash: Option<Option<String>> = tx
        .query_row(
            "SELECT hash FROM events WHERE seq = ?1",
            [i64::try_from(seq - 1).unwrap_or(i64::MAX)],
            |r| r.get(0),
        )
        .optional()?;
    Ok((
        seq - 1,
        hash.flatten().unwrap_or_else(|| GENESIS.to_owned()),
    ))
}
