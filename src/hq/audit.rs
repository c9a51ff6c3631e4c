//! Head office re-verifies a station's audit chain (pure): the entries it received, linked
//! by SHA-256 from the first, each scan and resolution it holds against the entry that
//! covers it, and every record it holds covered by an entry. A gap, a break, a rewritten
//! entry or a record whose entry was cut is reported, never accepted silently.
//!
//! The station sends its records first and its chain after (`intake sync`), and reports its
//! newest entry each time; so a record received before that report and in no entry is one
//! whose entry was removed at the station.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::Value;

use super::store::StationAudit;
use crate::store::audit::{Break, GENESIS, chain_hash};
use crate::sync::wire::AuditEntry;

/// What head office found in one station's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StationVerified {
    pub station_id: String,
    pub entries: u64,
    pub scans: u64,
    pub resolutions: u64,
    /// The newest entry the station reported.
    pub head: Option<u64>,
    /// Entries about records head office does not hold yet (sent in a later sync).
    pub awaiting_records: u64,
    /// Records received after the station's last report, not covered yet.
    pub awaiting_entries: u64,
    /// Empty when the chain is whole and covers every record.
    pub breaks: Vec<Break>,
}

impl StationVerified {
    pub fn is_clean(&self) -> bool {
        self.breaks.is_empty() && self.entries > 0
    }
}

/// Verifies `held`, everything head office holds of `station`.
pub fn verify_station(station: &str, held: &StationAudit) -> StationVerified {
    let mut out = StationVerified {
        station_id: station.to_owned(),
        entries: held.entries.len() as u64,
        scans: held.scans.len() as u64,
        resolutions: held.resolutions.len() as u64,
        head: held.head.map(|h| h.0),
        awaiting_records: 0,
        awaiting_entries: 0,
        breaks: Vec::new(),
    };
    let mut breaks: Vec<Break> = Vec::new();
    let mut broke = |entry: u64, what: String| breaks.push(Break { entry, what });
    let (mut awaiting_records, mut awaiting_entries) = (0u64, 0u64);
    if held.entries.is_empty() {
        broke(
            0,
            format!(
                "head office holds no audit entry of station {station}; has it synced since it was upgraded?"
            ),
        );
    }
    // Records held, by id, as the station's canonical content.
    let mut records: HashMap<String, Value> = HashMap::new();
    for body in &held.scans {
        if let Ok(v) = serde_json::from_str::<Value>(body)
            && let Some(id) = v["scan_id"].as_str()
        {
            records.insert(id.to_owned(), v.clone());
        }
    }
    for body in &held.resolutions {
        if let Ok(mut v) = serde_json::from_str::<Value>(body)
            && let Some(id) = v["resolution_id"].as_str().map(str::to_owned)
        {
            // Head office keeps the station id beside the resolution; the chain's content
            // is the resolution itself.
            if let Some(m) = v.as_object_mut() {
                m.remove("station_id");
            }
            records.insert(id, v);
        }
    }

    let mut covered: HashSet<String> = HashSet::new();
    let mut expected = 1u64;
    let mut prev = GENESIS.to_owned();
    for body in &held.entries {
        let e: AuditEntry = match serde_json::from_str(body) {
            Ok(e) => e,
            Err(err) => {
                broke(expected, format!("the stored entry is unreadable: {err}"));
                continue;
            }
        };
        let mut linked = true;
        if e.seq != expected {
            broke(
                e.seq,
                format!(
                    "entries {expected} to {} never arrived (a gap: removed at the station, or lost)",
                    e.seq.saturating_sub(1)
                ),
            );
            // The entry before is unknown: this one's link cannot be checked.
            linked = false;
        }
        expected = e.seq + 1;
        if linked && chain_hash(&prev, &e.content) != e.hash {
            broke(
                e.seq,
                "its hash does not match its content and the entry before (edited, removed, inserted or reordered at the station)".into(),
            );
        }
        prev = e.hash.clone();
        let content: Value = serde_json::from_str(&e.content).unwrap_or(Value::Null);
        if content["seq"].as_u64() != Some(e.seq) || content["kind"] != e.entry_kind.as_str() {
            broke(
                e.seq,
                format!(
                    "its content says entry {} ({}), it was sent as {} ({})",
                    content["seq"], content["kind"], e.seq, e.entry_kind
                ),
            );
        }
        if !matches!(e.entry_kind.as_str(), "scan" | "resolution") {
            continue;
        }
        let Some(id) = e.record_id.clone() else {
            broke(e.seq, "a record's entry names no record".into());
            continue;
        };
        match records.get(&id) {
            None => awaiting_records += 1,
            Some(held_record) if *held_record != content["record"] => broke(
                e.seq,
                format!(
                    "{} {id} as head office holds it differs from its entry",
                    e.entry_kind
                ),
            ),
            Some(_) => {}
        }
        covered.insert(id);
    }

    // Every record received before the station's last report must be in an entry.
    let reported_at = held.head.map(|h| h.1);
    let mut uncovered: Vec<(&String, i64)> = held
        .received
        .iter()
        .filter(|(id, _)| !covered.contains(*id))
        .map(|(id, at)| (id, *at))
        .collect();
    uncovered.sort();
    for (id, at) in uncovered {
        if reported_at.is_some_and(|r| at <= r) {
            broke(
                0,
                format!(
                    "record {id} is held but in no entry, though the station reported its chain after sending it: the chain was cut"
                ),
            );
        } else {
            awaiting_entries += 1;
        }
    }
    for id in &held.conflicts {
        let what = match id.rsplit_once("/audit/") {
            Some((_, seq)) => format!(
                "entry {seq} was sent again with other content: the station's chain was rewritten (the copy is kept in hq_conflicts)"
            ),
            None => format!(
                "record {id} was sent again with other content (the copy is kept in hq_conflicts)"
            ),
        };
        let entry = id
            .rsplit_once("/audit/")
            .and_then(|(_, s)| s.parse().ok())
            .unwrap_or(0);
        broke(entry, what);
    }
    out.breaks = breaks;
    out.awaiting_records = awaiting_records;
    out.awaiting_entries = awaiting_entries;
    out
}
