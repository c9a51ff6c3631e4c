//! The store's side of head-office sync: the outbox read in commit order and marked
//! delivered only after head office acknowledged it; resolutions (a later decision about a
//! scan, never an edit of it); pulled rate cards applied whole or not at all; pulled manifest
//! pages with their cursor; and judging again the scans that were `unknown_waybill` once
//! their manifest entry arrived.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Row, params};
use tracing::instrument;

use super::{ImportCounts, Result, Store, StoreError, corrupt, from_ms, ms};
use crate::country::Country;
use crate::pricing::{RateCard, RateCardError};
use crate::quantity::{Mass, Money};
use crate::rules::{Disposition, Reason};
use crate::scan::ScanRecord;

/// What an outbox row delivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    Scan,
    Resolution,
}

impl RecordKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Scan => "scan",
            RecordKind::Resolution => "resolution",
        }
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordKind {
    type Err = String;

    fn from_str(s: &str) -> Result<RecordKind, String> {
        match s {
            "scan" => Ok(RecordKind::Scan),
            "resolution" => Ok(RecordKind::Resolution),
            other => Err(format!("unknown record kind \"{other}\"")),
        }
    }
}

/// One record waiting for head office, in commit order (`seq`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub seq: i64,
    pub kind: RecordKind,
    pub record_id: String,
    pub created_at: Timestamp,
}

/// Who made a resolution.
pub const ACTOR_OPERATOR: &str = "operator";
/// The station itself (e.g. judging again when a manifest entry arrived).
pub const ACTOR_SYSTEM: &str = "system";

/// A later decision about a scan. The scan row stays as it was; head office gets both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// UUIDv7 made by the station.
    pub id: String,
    pub scan_id: String,
    pub created_at: Timestamp,
    /// [`ACTOR_OPERATOR`] or [`ACTOR_SYSTEM`].
    pub actor: String,
    pub waybill: Option<String>,
    pub disposition: Option<Disposition>,
    pub reasons: Vec<Reason>,
    pub note: Option<String>,
    /// What it means for billing: a new price, or an operator's flag on the measurement.
    pub billing: ResolutionBilling,
}

/// A resolution's billing side, as numbers (not only in the note): the price and
/// adjustment a repricing or a re-judge gave, or an operator's flag on the measurement.
/// All empty for a resolution that does not touch billing, and for those stored before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResolutionBilling {
    pub price: Option<Money>,
    pub adjustment: Option<Money>,
    pub rate_card_version: Option<String>,
    /// An operator flagged the scan's measurement as wrong: the scan is no longer billable.
    pub measurement_flagged: bool,
}

impl ResolutionBilling {
    pub fn is_empty(&self) -> bool {
        *self == ResolutionBilling::default()
    }

    /// The JSON shape (audit entry, wire, API); `None` when empty, so a resolution without
    /// a billing side keeps the shape it always had.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        (!self.is_empty()).then(|| {
            serde_json::json!({
                "price_cents": self.price.map(Money::cents),
                "adjustment_cents": self.adjustment.map(Money::cents),
                "rate_card_version": self.rate_card_version,
                "measurement_flagged": self.measurement_flagged,
            })
        })
    }
}

/// The stored `flag` of an operator's resolution that takes a measurement out of billing.
pub const FLAG_MEASUREMENT: &str = "measurement";

impl Resolution {
    pub fn reasons_text(&self) -> String {
        self.reasons
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A record to deliver, loaded for an outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Scan(ScanRecord),
    Resolution(Resolution),
}

impl Record {
    pub fn id(&self) -> &str {
        match self {
            Record::Scan(s) => &s.id,
            Record::Resolution(r) => &r.id,
        }
    }
}

/// The rate card a pull applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCardApplied {
    pub card: RateCard,
    /// False when this version was already in force (nothing changed).
    pub changed: bool,
}

/// Why a pulled rate card was kept out. The card in force stays.
#[derive(Debug, thiserror::Error)]
pub enum RateCardRefused {
    #[error(
        "the rate card from head office is not valid and was kept out (the card in force stays): {0}; ask head office to fix it"
    )]
    Invalid(#[from] RateCardError),
    #[error(
        "the rate card {version} from head office has no rate for served destination(s) {missing} and was kept out (the card in force stays); ask head office to add them"
    )]
    Unpriced { version: String, missing: String },
    #[error(
        "the rate card {version} from head office differs from the card of that version already applied and was kept out; a changed card needs a new version"
    )]
    VersionReused { version: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What applying a pulled manifest page did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestApplied {
    pub counts: ImportCounts,
    /// The waybills whose entry is new or changed.
    pub changed: Vec<String>,
    /// Scans judged again because of it.
    pub rejudged: Vec<Resolution>,
}

pub(super) const KEY_CURSOR: &str = "manifest_cursor";
const KEY_RATE_CARD: &str = "rate_card_version";
const KEY_LAST_UPLOAD: &str = "last_upload_ok_ms";
const KEY_AUDIT_SENT: &str = "audit_sent_seq";

fn reasons_from(text: &str) -> rusqlite::Result<Vec<Reason>> {
    text.split_ascii_whitespace()
        .map(str::parse::<Reason>)
        .collect::<Result<_, _>>()
        .map_err(corrupt)
}

impl Store {
    fn resolution_from_row(r: &Row<'_>) -> rusqlite::Result<Resolution> {
        Ok(Resolution {
            id: r.get(0)?,
            scan_id: r.get(1)?,
            created_at: Timestamp::from_millisecond(r.get(2)?).map_err(corrupt)?,
            actor: r.get(3)?,
            waybill: r.get(4)?,
            disposition: r
                .get::<_, Option<String>>(5)?
                .map(|d| d.parse::<Disposition>())
                .transpose()
                .map_err(corrupt)?,
            reasons: reasons_from(&r.get::<_, Option<String>>(6)?.unwrap_or_default())?,
            note: r.get(7)?,
            billing: ResolutionBilling {
                price: r.get::<_, Option<i64>>(8)?.map(Money::from_cents),
                adjustment: r.get::<_, Option<i64>>(9)?.map(Money::from_cents),
                rate_card_version: r.get(10)?,
                measurement_flagged: r.get::<_, Option<String>>(11)?.as_deref()
                    == Some(FLAG_MEASUREMENT),
            },
        })
    }

    const RESOLUTION_COLUMNS: &'static str = "id, scan_id, created_at_ms, actor, waybill,
        disposition, reasons, note, price_cents, adjustment_cents, rate_card_version, flag";

    /// Stores a resolution and its outbox row in one transaction. Idempotent on the id:
    /// returns `false` if that id was already stored.
    #[instrument(skip_all, err, fields(scan_id = %r.scan_id))]
    pub fn insert_resolution(&mut self, r: &Resolution) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let n = Store::insert_resolution_in(&tx, r)?;
        if n {
            Store::append_event_in(
                &tx,
                r.created_at,
                super::EventKind::ResolutionRecorded(Box::new(r.clone())),
            )?;
        }
        tx.commit()?;
        Ok(n)
    }

    pub(super) fn insert_resolution_in(
        tx: &rusqlite::Transaction<'_>,
        r: &Resolution,
    ) -> Result<bool> {
        let n = tx.execute(
            "INSERT OR IGNORE INTO resolutions (id, scan_id, created_at_ms, actor, waybill,
                disposition, reasons, note, price_cents, adjustment_cents, rate_card_version,
                flag) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                r.id,
                r.scan_id,
                ms(r.created_at),
                r.actor,
                r.waybill,
                r.disposition.map(Disposition::as_str),
                r.reasons_text(),
                r.note,
                r.billing.price.map(Money::cents),
                r.billing.adjustment.map(Money::cents),
                r.billing.rate_card_version,
                r.billing.measurement_flagged.then_some(FLAG_MEASUREMENT),
            ],
        )?;
        if n == 1 {
            tx.execute(
                "INSERT INTO outbox (kind, record_id, created_at_ms) VALUES ('resolution', ?1, ?2)",
                params![r.id, ms(r.created_at)],
            )?;
        }
        Ok(n == 1)
    }

    pub fn resolution(&self, id: &str) -> Result<Option<Resolution>> {
        let sql = format!(
            "SELECT {} FROM resolutions WHERE id = ?1",
            Store::RESOLUTION_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt
            .query_row([id], Store::resolution_from_row)
            .optional()?)
    }

    /// Resolutions in time order, from `since` on.
    pub fn resolutions(&self, since: Option<Timestamp>) -> Result<Vec<Resolution>> {
        let sql = format!(
            "SELECT {} FROM resolutions WHERE (?1 IS NULL OR created_at_ms >= ?1)
             ORDER BY created_at_ms, id",
            Store::RESOLUTION_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([since.map(ms)], Store::resolution_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Resolutions of one scan, oldest first.
    pub fn resolutions_of(&self, scan_id: &str) -> Result<Vec<Resolution>> {
        let sql = format!(
            "SELECT {} FROM resolutions WHERE scan_id = ?1 ORDER BY created_at_ms, id",
            Store::RESOLUTION_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([scan_id], Store::resolution_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Undelivered outbox rows after `after_seq`, in commit order, at most `limit`.
    #[instrument(skip_all, err)]
    pub fn pending_outbox(&self, after_seq: i64, limit: usize) -> Result<Vec<OutboxRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, kind, record_id, created_at_ms FROM outbox
             WHERE delivered_at_ms IS NULL AND seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![after_seq, limit], |r| {
            Ok(OutboxRow {
                seq: r.get(0)?,
                kind: r.get::<_, String>(1)?.parse().map_err(corrupt)?,
                record_id: r.get(2)?,
                created_at: Timestamp::from_millisecond(r.get(3)?).map_err(corrupt)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The records of outbox rows, in the same order.
    #[instrument(skip_all, err, fields(rows = rows.len()))]
    pub fn outbox_records(&self, rows: &[OutboxRow]) -> Result<Vec<Record>> {
        rows.iter()
            .map(|row| {
                let rec = match row.kind {
                    RecordKind::Scan => self.scan(&row.record_id)?.map(Record::Scan),
                    RecordKind::Resolution => {
                        self.resolution(&row.record_id)?.map(Record::Resolution)
                    }
                };
                rec.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "outbox row {} names {} {} which is not in the store",
                        row.seq, row.kind, row.record_id
                    ))
                })
            })
            .collect()
    }

    /// Marks outbox rows delivered (head office acknowledged them) inside `tx`. Returns
    /// how many were still pending.
    pub(super) fn mark_delivered_in(
        tx: &rusqlite::Transaction<'_>,
        seqs: &[i64],
        now: Timestamp,
    ) -> Result<usize> {
        let mut stmt = tx.prepare_cached(
            "UPDATE outbox SET delivered_at_ms = ?2 WHERE seq = ?1 AND delivered_at_ms IS NULL",
        )?;
        let mut n = 0;
        for s in seqs {
            n += stmt.execute(params![s, ms(now)])?;
        }
        Ok(n)
    }

    pub(super) fn state(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    pub(super) fn set_state_in(tx: &rusqlite::Connection, key: &str, value: &str) -> Result<()> {
        tx.execute(
            "INSERT INTO sync_state (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    /// When an upload last emptied the outbox.
    pub fn last_upload_ok(&self) -> Result<Option<Timestamp>> {
        self.state(KEY_LAST_UPLOAD)?
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|e| StoreError::Corrupt(format!("{KEY_LAST_UPLOAD}: {e}")))
                    .and_then(from_ms)
            })
            .transpose()
    }

    pub fn set_last_upload_ok(&mut self, at: Timestamp) -> Result<()> {
        Store::set_state_in(&self.conn, KEY_LAST_UPLOAD, &ms(at).to_string())
    }

    /// The newest audit entry head office acknowledged (0: none).
    pub fn audit_sent(&self) -> Result<u64> {
        Ok(self
            .state(KEY_AUDIT_SENT)?
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0))
    }

    pub fn set_audit_sent(&mut self, seq: u64) -> Result<()> {
        Store::set_state_in(&self.conn, KEY_AUDIT_SENT, &seq.to_string())
    }

    /// The manifest cursor head office gave out last.
    pub fn manifest_cursor(&self) -> Result<Option<String>> {
        self.state(KEY_CURSOR)
    }

    /// The version of the rate card in force.
    pub fn rate_card_version_in_force(&self) -> Result<Option<String>> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT rate_card_version FROM in_force ORDER BY version DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        match v {
            Some(v) => Ok(Some(v)),
            None => self.state(KEY_RATE_CARD),
        }
    }

    /// The rate card in force, if the station recorded one.
    pub fn rate_card_in_force(&self) -> Result<Option<RateCard>> {
        Ok(self.in_force()?.map(|f| f.policy.card))
    }

    /// The card a store written before versions were kept had pulled from head office.
    pub(super) fn legacy_pulled_rate_card(&self) -> Result<Option<RateCard>> {
        match self.state(KEY_RATE_CARD)? {
            Some(version) => self.rate_card(&version),
            None => Ok(None),
        }
    }

    /// Validates a rate card pulled from head office and keeps its text (once per version)
    /// inside `tx`: a card that fails, leaves a served destination unpriced, or reuses a
    /// version with other figures is refused, and nothing is written.
    pub(super) fn check_rate_card_in(
        tx: &rusqlite::Transaction<'_>,
        body: &str,
        served: &BTreeSet<Country>,
        now: Timestamp,
    ) -> Result<RateCard, RateCardRefused> {
        let card = RateCard::from_toml(body)?;
        let missing: Vec<String> = served
            .iter()
            .filter(|c| !card.rates.contains_key(c))
            .map(Country::to_string)
            .collect();
        if !missing.is_empty() {
            return Err(RateCardRefused::Unpriced {
                version: card.version,
                missing: missing.join(", "),
            });
        }
        let old: Option<String> = tx
            .query_row(
                "SELECT body FROM rate_cards WHERE version = ?1",
                [&card.version],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)?;
        match old {
            Some(old) => {
                if !RateCard::from_toml(&old).is_ok_and(|c| c == card) {
                    return Err(RateCardRefused::VersionReused {
                        version: card.version,
                    });
                }
            }
            None => {
                tx.execute(
                    "INSERT INTO rate_cards (version, body, loaded_at_ms) VALUES (?1, ?2, ?3)",
                    params![card.version, body, ms(now)],
                )
                .map_err(StoreError::from)?;
            }
        }
        Ok(card)
    }

    /// Scans that stand (by themselves or their newest resolutions) on any of `reasons`,
    /// optionally only those of one waybill (the scan's, or one an operator typed), oldest
    /// first. Candidates only: [`crate::decide::standing`] says where each really stands.
    pub fn scans_standing_on(
        &self,
        reasons: &[Reason],
        waybill: Option<&str>,
    ) -> Result<Vec<ScanRecord>> {
        let like = |col: &str| {
            reasons
                .iter()
                .map(|r| format!("(' ' || {col} || ' ') LIKE '% {} %'", r.as_str()))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        let sql = format!(
            "SELECT {cols} FROM scans s
             WHERE ((?1 IS NULL OR s.waybill = ?1) AND ({on_scan}))
                OR EXISTS (SELECT 1 FROM resolutions r WHERE r.scan_id = s.id
                           AND (?1 IS NULL OR r.waybill = ?1 OR s.waybill = ?1)
                           AND ({on_res}))
             ORDER BY s.created_at_ms, s.id",
            cols = Store::SCAN_COLUMNS
                .split(',')
                .map(|c| format!("s.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", "),
            on_scan = like("s.reasons"),
            on_res = like("COALESCE(r.reasons, '')"),
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([waybill], Store::scan_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores many scans (and their outbox rows) in one transaction; idempotent on the ids.
    /// For imports, tests and benchmarks: the station commits each scan alone through the
    /// store actor, so the operator's verdict is durable at once.
    #[instrument(skip_all, err, fields(scans = scans.len()))]
    pub fn insert_scans_bulk(&mut self, scans: &[ScanRecord]) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        for s in scans {
            if Store::insert_scan_in(&tx, s)? {
                Store::append_event_in(
                    &tx,
                    s.created_at,
                    super::EventKind::ScanCommitted(Box::new(s.clone())),
                )?;
                n += 1;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    /// Stores a scan and its outbox row inside `tx`; false if the id was already stored.
    pub(super) fn insert_scan_in(tx: &rusqlite::Transaction<'_>, s: &ScanRecord) -> Result<bool> {
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO scans (id, station_id, created_at_ms, waybill, destination,
                weight_ug, length_um, width_um, height_um, dimensional_weight_ug,
                billable_weight_ug, price_cents, currency, quoted_cents, adjustment_cents,
                disposition, reasons, rate_card_version, in_force_version, calibration_number,
                billable, not_billable)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                ?20, ?21, ?22)",
        )?;
        let added = ins.execute(params![
            s.id,
            s.station_id,
            ms(s.created_at),
            s.waybill,
            s.destination.map(|c| c.to_string()),
            s.weight.map(Mass::micrograms),
            s.dims.map(|d| d.length.micrometres()),
            s.dims.map(|d| d.width.micrometres()),
            s.dims.map(|d| d.height.micrometres()),
            s.dimensional_weight.map(Mass::micrograms),
            s.billable_weight.map(Mass::micrograms),
            s.price.map(Money::cents),
            s.currency,
            s.quoted.map(Money::cents),
            s.adjustment.map(Money::cents),
            s.disposition.as_str(),
            s.reasons_text(),
            s.rate_card_version,
            s.in_force_version
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            s.calibration_number
                .map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
            s.billable.map(i64::from),
            s.billable
                .map(|_| crate::decide::billing::NotBillable::text(&s.not_billable)),
        ])?;
        if added == 1 {
            tx.execute(
                "INSERT INTO outbox (kind, record_id, created_at_ms) VALUES ('scan', ?1, ?2)",
                params![s.id, ms(s.created_at)],
            )?;
        }
        Ok(added == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::judge::{Measurement, WaybillRead, judge};
    use crate::manifest::ManifestEntry;
    use crate::rules::Duties;

    fn settings() -> Settings {
        Settings::load(None).unwrap()
    }

    fn scan(id: &str, at_ms: i64, waybill: &str, known: Option<&ManifestEntry>) -> ScanRecord {
        let s = settings();
        let m = Measurement {
            weight: Ok("3 lb".parse().unwrap()),
            dims: Ok("10x8x6 in".parse().unwrap()),
            waybill: WaybillRead::Read(waybill.into()),
        };
        let j = judge(&m, known, &s.policy);
        ScanRecord::new(
            id.into(),
            "t-1",
            Timestamp::from_millisecond(at_ms).unwrap(),
            &m,
            &j,
            &s.policy.card.version,
        )
    }

    fn entry(waybill: &str) -> ManifestEntry {
        ManifestEntry {
            waybill: waybill.into(),
            destination: "JP".parse().unwrap(),
            declared_weight: None,
            declared_dims: None,
            quoted_price: Some(Money::from_cents(1400)),
            consignee_id_on_file: false,
            duties: Duties::NotApplicable,
        }
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap()
    }

    #[test]
    fn outbox_is_read_in_order_and_marked_delivered_once() {
        let mut st = Store::open_in_memory().unwrap();
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            st.insert_scan(&scan(id, 1000 + i as i64, "EE123456785GB", None))
                .unwrap();
        }
        let r = Resolution {
            id: "r1".into(),
            scan_id: "b".into(),
            created_at: t(5000),
            actor: ACTOR_OPERATOR.into(),
            waybill: Some("EE123456785GB".into()),
            disposition: Some(Disposition::Accept),
            reasons: vec![],
            note: Some("checked by hand".into()),
            billing: Default::default(),
        };
        assert!(st.insert_resolution(&r).unwrap());
        assert!(!st.insert_resolution(&r).unwrap(), "idempotent on the id");
        let rows = st.pending_outbox(0, 10).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r.record_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "r1"]);
        assert_eq!(rows[3].kind, RecordKind::Resolution);
        let recs = st.outbox_records(&rows).unwrap();
        assert_eq!(recs[3], Record::Resolution(r.clone()));
        assert!(matches!(&recs[0], Record::Scan(s) if s.id == "a"));
        assert_eq!(st.pending_outbox(rows[1].seq, 10).unwrap().len(), 2);
        assert_eq!(st.pending_outbox(0, 1).unwrap().len(), 1);

        let mut mark = |seqs: &[i64], at| {
            let tx = st.conn.transaction().unwrap();
            let n = Store::mark_delivered_in(&tx, seqs, at).unwrap();
            tx.commit().unwrap();
            n
        };
        assert_eq!(mark(&[rows[0].seq, rows[1].seq], t(9000)), 2);
        assert_eq!(mark(&[rows[0].seq], t(9001)), 0, "delivered once");
        assert_eq!(st.outbox_depth().unwrap(), 2);
        let left: Vec<String> = st
            .pending_outbox(0, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.record_id)
            .collect();
        assert_eq!(left, ["c", "r1"]);
        assert_eq!(st.resolutions(None).unwrap(), vec![r.clone()]);
        assert_eq!(st.resolutions(Some(t(5001))).unwrap(), vec![]);
    }

    #[test]
    fn scans_standing_on_a_reason_are_found_by_scan_or_by_resolution() {
        let mut st = Store::open_in_memory().unwrap();
        st.insert_scan(&scan("u1", 1000, "EE123456785GB", None))
            .unwrap();
        let known = entry("RR473124829US");
        st.insert_scan(&scan("k1", 2000, "RR473124829US", Some(&known)))
            .unwrap();
        let found = |st: &Store, w: Option<&str>| -> Vec<String> {
            st.scans_standing_on(&[Reason::UnknownWaybill], w)
                .unwrap()
                .into_iter()
                .map(|s| s.id)
                .collect()
        };
        assert_eq!(found(&st, None), ["u1"]);
        assert_eq!(found(&st, Some("EE123456785GB")), ["u1"]);
        assert!(found(&st, Some("RR473124829US")).is_empty());
        // An operator typed a waybill that is not in the manifest for the known scan.
        let r = Resolution {
            id: "r1".into(),
            scan_id: "k1".into(),
            created_at: t(3000),
            actor: ACTOR_OPERATOR.into(),
            waybill: Some("CP123456785DE".into()),
            disposition: Some(Disposition::Manual),
            reasons: vec![Reason::UnknownWaybill],
            note: None,
            billing: Default::default(),
        };
        st.insert_resolution(&r).unwrap();
        assert_eq!(found(&st, Some("CP123456785DE")), ["k1"]);
        assert_eq!(found(&st, None), ["u1", "k1"]);
    }

    #[test]
    fn bulk_insert_matches_single_insert() {
        let mut one = Store::open_in_memory().unwrap();
        let mut bulk = Store::open_in_memory().unwrap();
        let scans: Vec<ScanRecord> = (0..5)
            .map(|i| {
                let e = entry("EE123456785GB");
                scan(
                    &format!("s{i}"),
                    1000 + i,
                    "EE123456785GB",
                    (i % 2 == 0).then_some(&e),
                )
            })
            .collect();
        for s in &scans {
            one.insert_scan(s).unwrap();
        }
        assert_eq!(bulk.insert_scans_bulk(&scans).unwrap(), 5);
        assert_eq!(bulk.insert_scans_bulk(&scans).unwrap(), 0, "idempotent");
        let all = crate::store::ScanFilter::default();
        assert_eq!(one.scans(&all).unwrap(), bulk.scans(&all).unwrap());
        assert_eq!(
            one.pending_outbox(0, 100).unwrap(),
            bulk.pending_outbox(0, 100).unwrap()
        );
    }
}
