//! The store's numbered history: one row per committed change, written in the change's own
//! transaction, numbered 1, 2, 3, ... without gaps. The store actor publishes each event
//! after its commit; a subscriber that fell behind reads the missed ones back from here by
//! number, so nothing is ever silently dropped.

use jiff::Timestamp;
use rusqlite::{Transaction, params};
use serde_json::{Value, json};

use super::calibration::Verification;
use super::outbox::Resolution;
use super::{Result, Store, StoreError, from_ms, ms};
use crate::measure::calibration::Calibration;
use crate::scan::ScanRecord;

/// One committed change, as subscribers learn of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Consecutive from 1 in commit order.
    pub seq: u64,
    pub at: Timestamp,
    pub kind: EventKind,
}

/// What changed.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// A parcel's scan (and its outbox row) was stored.
    ScanCommitted(Box<ScanRecord>),
    /// A later decision about a scan: an operator's, or the station's own re-judging.
    ResolutionRecorded(Box<Resolution>),
    /// What the station judges with changed (config at start, a reload, a pulled rate card).
    InForce {
        version: u64,
        rate_card: String,
        why: String,
    },
    /// Manifest entries were loaded (CSV import or a pull from head office).
    ManifestChanged {
        source: String,
        inserted: u64,
        updated: u64,
    },
    /// Head office acknowledged records; they left the outbox.
    Delivered { records: u64 },
    /// The empty station was calibrated: this calibration is in force from now on.
    Calibrated(Box<Calibration>),
    /// The station was verified with a reference box.
    Verified(Box<Verification>),
}

impl EventKind {
    /// The name stored and shown (the dashboard's event name).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::ScanCommitted(_) => "scan",
            EventKind::ResolutionRecorded(_) => "resolution",
            EventKind::InForce { .. } => "in_force",
            EventKind::ManifestChanged { .. } => "manifest",
            EventKind::Delivered { .. } => "delivered",
            EventKind::Calibrated(_) => "calibration",
            EventKind::Verified(_) => "verification",
        }
    }

    fn record_id(&self) -> Option<String> {
        match self {
            EventKind::ScanCommitted(s) => Some(s.id.clone()),
            EventKind::ResolutionRecorded(r) => Some(r.id.clone()),
            EventKind::Calibrated(c) => Some(c.number.to_string()),
            EventKind::Verified(v) => Some(v.id.to_string()),
            _ => None,
        }
    }

    /// What the row keeps beside the record it points to (and what the dashboard shows
    /// of a change that is not a record).
    pub fn detail(&self) -> Value {
        match self {
            EventKind::ScanCommitted(s) => json!({ "disposition": s.disposition }),
            EventKind::ResolutionRecorded(r) => {
                json!({ "scan_id": r.scan_id, "disposition": r.disposition })
            }
            EventKind::InForce {
                version,
                rate_card,
                why,
            } => json!({ "version": version, "rate_card": rate_card, "why": why }),
            EventKind::ManifestChanged {
                source,
                inserted,
                updated,
            } => json!({ "source": source, "inserted": inserted, "updated": updated }),
            EventKind::Delivered { records } => json!({ "records": records }),
            EventKind::Calibrated(c) => json!({ "number": c.number, "source": c.source }),
            EventKind::Verified(v) => json!({ "id": v.id, "passed": v.passed }),
        }
    }
}

fn corrupt(seq: u64, what: &str) -> StoreError {
    StoreError::Corrupt(format!("event {seq}: {what}"))
}

impl Store {
    /// Appends an event inside the transaction of the change it tells of.
    pub(crate) fn append_event_in(
        tx: &Transaction<'_>,
        at: Timestamp,
        kind: EventKind,
    ) -> Result<Event> {
        let last: Option<i64> = tx.query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
        let seq = u64::try_from(last.unwrap_or(0) + 1).unwrap_or(0);
        let detail = kind.detail();
        // Chained: the entry's content and the hash over it and the entry before.
        let (_, prev) = super::audit::head_before(tx, seq)?;
        let content = super::audit::content(seq, ms(at), &kind, &detail);
        let hash = super::audit::chain_hash(&prev, &content);
        tx.execute(
            "INSERT INTO events (seq, at_ms, kind, record_id, detail, content, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                i64::try_from(seq).unwrap_or(i64::MAX),
                ms(at),
                kind.name(),
                kind.record_id(),
                detail.to_string(),
                content,
                hash
            ],
        )?;
        Ok(Event { seq, at, kind })
    }

    /// The number of the newest event (0: none yet).
    pub fn last_event_seq(&self) -> Result<u64> {
        let last: Option<i64> = self
            .conn
            .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))?;
        Ok(last.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    /// Up to `limit` events numbered above `after`, in order, with their records.
    pub fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, at_ms, kind, record_id, detail FROM events WHERE seq > ?1
             ORDER BY seq LIMIT ?2",
        )?;
        let rows: Vec<(i64, i64, String, Option<String>, String)> = stmt
            .query_map(
                params![
                    i64::try_from(after).unwrap_or(i64::MAX),
                    i64::try_from(limit).unwrap_or(i64::MAX)
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )?
            .collect::<rusqlite::Result<_>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, at, kind, record_id, detail) in rows {
            let seq = u64::try_from(seq).unwrap_or(0);
            let detail: Value =
                serde_json::from_str(&detail).map_err(|_| corrupt(seq, "detail is not JSON"))?;
            let text = |k: &str| detail[k].as_str().unwrap_or_default().to_owned();
            let num = |k: &str| detail[k].as_u64().unwrap_or(0);
            let id = record_id.as_deref().unwrap_or_default();
            let kind = match kind.as_str() {
                "scan" => EventKind::ScanCommitted(Box::new(
                    self.scan(id)?
                        .ok_or_else(|| corrupt(seq, "its scan is missing"))?,
                )),
                "resolution" => EventKind::ResolutionRecorded(Box::new(
                    self.resolution(id)?
                        .ok_or_else(|| corrupt(seq, "its resolution is missing"))?,
                )),
                "in_force" => EventKind::InForce {
                    version: num("version"),
                    rate_card: text("rate_card"),
                    why: text("why"),
                },
                "manifest" => EventKind::ManifestChanged {
                    source: text("source"),
                    inserted: num("inserted"),
                    updated: num("updated"),
                },
                "delivered" => EventKind::Delivered {
                    records: num("records"),
                },
                "calibration" => EventKind::Calibrated(Box::new(
                    self.calibration(id.parse().unwrap_or(0))?
                        .ok_or_else(|| corrupt(seq, "its calibration is missing"))?,
                )),
                "verification" => EventKind::Verified(Box::new(
                    self.verification(id.parse().unwrap_or(0))?
                        .ok_or_else(|| corrupt(seq, "its verification is missing"))?,
                )),
                other => return Err(corrupt(seq, &format!("unknown kind \"{other}\""))),
            };
            out.push(Event {
                seq,
                at: from_ms(at)?,
                kind,
            });
        }
        Ok(out)
    }
}
