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
use crate::judge::{Measurement, Policy, Problem, WaybillRead, judge};
use crate::manifest::ManifestEntry;
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
}

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
}

const KEY_CURSOR: &str = "manifest_cursor";
const KEY_RATE_CARD: &str = "rate_card_version";
const KEY_LAST_UPLOAD: &str = "last_upload_ok_ms";

fn new_id(now: Timestamp) -> String {
    let secs = u64::try_from(now.as_second()).unwrap_or(0);
    let nanos = u32::try_from(now.subsec_nanosecond()).unwrap_or(0);
    uuid::Uuid::new_v7(uuid::Timestamp::from_unix(uuid::NoContext, secs, nanos)).to_string()
}

fn reasons_from(text: &str) -> rusqlite::Result<Vec<Reason>> {
    text.split_ascii_whitespace()
        .map(str::parse::<Reason>)
        .collect::<Result<_, _>>()
        .map_err(corrupt)
}

/// What the station measured, read back from a stored scan, for judging it again. A missing
/// weight or size comes back as the problem its reasons name.
pub fn measurement_of(s: &ScanRecord) -> Measurement {
    let has = |r: Reason| s.reasons.contains(&r);
    let problem = |unstable: bool| {
        if has(Reason::Uncalibrated) {
            Problem::Uncalibrated
        } else if unstable {
            Problem::Unstable
        } else {
            Problem::Fault
        }
    };
    Measurement {
        weight: s.weight.ok_or(problem(has(Reason::UnstableWeight))),
        dims: s.dims.ok_or(problem(false)),
        waybill: match &s.waybill {
            Some(w) => WaybillRead::Read(w.clone()),
            None => WaybillRead::NoRead,
        },
    }
}

/// Judges a stored `unknown_waybill` scan again with the manifest entry that arrived: the
/// resolution to record (pure; id and time from `now`).
pub fn rejudge(
    s: &ScanRecord,
    entry: &ManifestEntry,
    policy: &Policy,
    now: Timestamp,
) -> Resolution {
    let j = judge(&measurement_of(s), Some(entry), policy);
    let mut note = format!(
        "judged again: the manifest entry for {} arrived after intake",
        entry.waybill
    );
    if let Some(p) = &j.priced {
        note.push_str(&format!("; price {} {}", p.price, p.currency));
    }
    if let Some(a) = j.adjustment {
        note.push_str(&format!("; adjustment {a}"));
    }
    Resolution {
        id: new_id(now),
        scan_id: s.id.clone(),
        created_at: now,
        actor: ACTOR_SYSTEM.to_owned(),
        waybill: s.waybill.clone(),
        disposition: Some(j.verdict.disposition),
        reasons: j.verdict.reasons,
        note: Some(note),
    }
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
        })
    }

    const RESOLUTION_COLUMNS: &'static str =
        "id, scan_id, created_at_ms, actor, waybill, disposition, reasons, note";

    /// Stores a resolution and its outbox row in one transaction. Idempotent on the id:
    /// returns `false` if that id was already stored.
    #[instrument(skip_all, err, fields(scan_id = %r.scan_id))]
    pub fn insert_resolution(&mut self, r: &Resolution) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let n = Store::insert_resolution_in(&tx, r)?;
        tx.commit()?;
        Ok(n)
    }

    fn insert_resolution_in(tx: &rusqlite::Transaction<'_>, r: &Resolution) -> Result<bool> {
        let n = tx.execute(
            "INSERT OR IGNORE INTO resolutions (id, scan_id, created_at_ms, actor, waybill,
                disposition, reasons, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                r.id,
                r.scan_id,
                ms(r.created_at),
                r.actor,
                r.waybill,
                r.disposition.map(Disposition::as_str),
                r.reasons_text(),
                r.note
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
        Ok(self
            .conn
            .query_row(&sql, [id], Store::resolution_from_row)
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

    /// Marks outbox rows delivered (head office acknowledged them), in one transaction.
    /// Returns how many were still pending.
    #[instrument(skip_all, err, fields(rows = seqs.len()))]
    pub fn mark_delivered(&mut self, seqs: &[i64], now: Timestamp) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET delivered_at_ms = ?2 WHERE seq = ?1 AND delivered_at_ms IS NULL",
            )?;
            for s in seqs {
                n += stmt.execute(params![s, ms(now)])?;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn state(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM sync_state WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn set_state_in(tx: &rusqlite::Connection, key: &str, value: &str) -> Result<()> {
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

    /// The manifest cursor head office gave out last.
    pub fn manifest_cursor(&self) -> Result<Option<String>> {
        self.state(KEY_CURSOR)
    }

    /// The version of the rate card in force, if one was pulled.
    pub fn rate_card_version_in_force(&self) -> Result<Option<String>> {
        self.state(KEY_RATE_CARD)
    }

    /// The rate card in force, if one was pulled from head office (else the config's).
    pub fn rate_card_in_force(&self) -> Result<Option<RateCard>> {
        let Some(version) = self.state(KEY_RATE_CARD)? else {
            return Ok(None);
        };
        let body: String = self.conn.query_row(
            "SELECT body FROM rate_cards WHERE version = ?1",
            [&version],
            |r| r.get(0),
        )?;
        RateCard::from_toml(&body)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("rate card {version}: {e}")))
    }

    /// Applies a rate card pulled from head office: validated first (a card that fails, or
    /// leaves a served destination unpriced, is kept out and the card in force stays), then
    /// stored and put in force in one transaction, so pricing never sees half a card.
    #[instrument(skip_all, err)]
    pub fn apply_rate_card(
        &mut self,
        body: &str,
        served: &BTreeSet<Country>,
        now: Timestamp,
    ) -> Result<RateCardApplied, RateCardRefused> {
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
        let tx = self.conn.transaction().map_err(StoreError::from)?;
        let old: Option<String> = tx
            .query_row(
                "SELECT body FROM rate_cards WHERE version = ?1",
                [&card.version],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)?;
        if let Some(old) = old {
            let same = RateCard::from_toml(&old).is_ok_and(|c| c == card);
            if !same {
                return Err(RateCardRefused::VersionReused {
                    version: card.version,
                });
            }
        }
        let in_force: Option<String> = tx
            .query_row(
                "SELECT value FROM sync_state WHERE key = ?1",
                [KEY_RATE_CARD],
                |r| r.get(0),
            )
            .optional()
            .map_err(StoreError::from)?;
        let changed = in_force.as_deref() != Some(card.version.as_str());
        if changed {
            tx.execute(
                "INSERT OR IGNORE INTO rate_cards (version, body, loaded_at_ms) VALUES (?1, ?2, ?3)",
                params![card.version, body, ms(now)],
            )
            .map_err(StoreError::from)?;
            Store::set_state_in(&tx, KEY_RATE_CARD, &card.version)?;
            tx.execute(
                "INSERT INTO audit (at_ms, actor, action, detail) VALUES (?1, 'system', 'rate_card_applied', ?2)",
                params![
                    ms(now),
                    format!(
                        "rate card {} from head office in force (was {})",
                        card.version,
                        in_force.as_deref().unwrap_or("the configured card")
                    )
                ],
            )
            .map_err(StoreError::from)?;
        }
        tx.commit().map_err(StoreError::from)?;
        Ok(RateCardApplied { card, changed })
    }

    /// Upserts a page of manifest entries pulled from head office and stores its cursor, in
    /// one transaction (a crash leaves the old cursor, so the page comes again).
    #[instrument(skip_all, err, fields(entries = entries.len()))]
    pub fn apply_manifest_page(
        &mut self,
        entries: &[ManifestEntry],
        cursor: &str,
        now: Timestamp,
    ) -> Result<ManifestApplied> {
        let tx = self.conn.transaction()?;
        let mut out = ManifestApplied::default();
        out.changed = Store::upsert_manifest_in(&tx, entries, "head office", now, &mut out.counts)?;
        Store::set_state_in(&tx, KEY_CURSOR, cursor)?;
        if !out.changed.is_empty() {
            tx.execute(
                "INSERT INTO audit (at_ms, actor, action, detail) VALUES (?1, 'system', 'manifest_pull', ?2)",
                params![
                    ms(now),
                    format!(
                        "head office: {} inserted, {} updated, {} unchanged; cursor {cursor}",
                        out.counts.inserted, out.counts.updated, out.counts.unchanged
                    )
                ],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Scans judged `unknown_waybill` that have no system re-judgement yet, optionally for
    /// one waybill only.
    fn unknown_waybill_scans(&self, waybill: Option<&str>) -> Result<Vec<ScanRecord>> {
        let sql = format!(
            "SELECT {} FROM scans s
             WHERE s.waybill IS NOT NULL AND (?1 IS NULL OR s.waybill = ?1)
               AND (' ' || s.reasons || ' ') LIKE '% unknown_waybill %'
               AND EXISTS (SELECT 1 FROM manifest m WHERE m.waybill = s.waybill)
               AND NOT EXISTS (SELECT 1 FROM resolutions r
                               WHERE r.scan_id = s.id AND r.actor = 'system')
             ORDER BY s.created_at_ms, s.id",
            Store::SCAN_COLUMNS
                .split(',')
                .map(|c| format!("s.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([waybill], Store::scan_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn rejudge_scans(
        &mut self,
        scans: Vec<ScanRecord>,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Vec<Resolution>> {
        let mut made = Vec::new();
        for s in scans {
            let Some(wb) = s.waybill.as_deref() else {
                continue;
            };
            let Some(entry) = self.manifest_entry(wb)? else {
                continue;
            };
            made.push(rejudge(&s, &entry, policy, now));
        }
        let tx = self.conn.transaction()?;
        for r in &made {
            Store::insert_resolution_in(&tx, r)?;
        }
        tx.commit()?;
        for r in &made {
            tracing::info!(scan_id = %r.scan_id, waybill = r.waybill.as_deref().unwrap_or(""),
                disposition = ?r.disposition, "scan judged again: its manifest entry arrived");
        }
        Ok(made)
    }

    /// Judges again the `unknown_waybill` scans of these waybills (whose manifest entries
    /// just arrived): one new resolution per scan, referencing it, in one transaction. A
    /// scan is re-judged once; the scan row itself is never changed.
    #[instrument(skip_all, err, fields(waybills = waybills.len()))]
    pub fn rejudge_waybills(
        &mut self,
        waybills: &[String],
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Vec<Resolution>> {
        let mut scans = Vec::new();
        for wb in waybills.iter().collect::<BTreeSet<_>>() {
            scans.extend(self.unknown_waybill_scans(Some(wb))?);
        }
        self.rejudge_scans(scans, policy, now)
    }

    /// Judges again every `unknown_waybill` scan whose manifest entry is now known and that
    /// was not judged again yet (call at start: catches up after a crash between a manifest
    /// pull and its re-judging).
    #[instrument(skip_all, err)]
    pub fn rejudge_pending(&mut self, policy: &Policy, now: Timestamp) -> Result<Vec<Resolution>> {
        let scans = self.unknown_waybill_scans(None)?;
        self.rejudge_scans(scans, policy, now)
    }

    /// Stores many scans (and their outbox rows) in one transaction; idempotent on the ids.
    /// For imports, tests and benchmarks: intake itself commits each scan alone
    /// ([`Store::insert_scan`]) so the operator's verdict is durable at once.
    #[instrument(skip_all, err, fields(scans = scans.len()))]
    pub fn insert_scans_bulk(&mut self, scans: &[ScanRecord]) -> Result<usize> {
        let tx = self.conn.transaction()?;
        let mut n = 0;
        {
            let mut ins = tx.prepare_cached(
                "INSERT OR IGNORE INTO scans (id, station_id, created_at_ms, waybill, destination,
                    weight_ug, length_um, width_um, height_um, dimensional_weight_ug,
                    billable_weight_ug, price_cents, currency, quoted_cents, adjustment_cents,
                    disposition, reasons, rate_card_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
            )?;
            let mut outbox = tx.prepare_cached(
                "INSERT INTO outbox (kind, record_id, created_at_ms) VALUES ('scan', ?1, ?2)",
            )?;
            for s in scans {
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
                ])?;
                if added == 1 {
                    outbox.execute(params![s.id, ms(s.created_at)])?;
                    n += 1;
                }
            }
        }
        tx.commit()?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
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

        assert_eq!(
            st.mark_delivered(&[rows[0].seq, rows[1].seq], t(9000))
                .unwrap(),
            2
        );
        assert_eq!(
            st.mark_delivered(&[rows[0].seq], t(9001)).unwrap(),
            0,
            "delivered once"
        );
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
    fn a_pulled_rate_card_applies_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("s.db")).unwrap();
        let s = settings();
        let served = &s.policy.destinations.served;
        assert_eq!(st.rate_card_in_force().unwrap(), None);
        let good = crate::config::EMBEDDED_CONFIG; // not a card: fails validation
        let err = st.apply_rate_card(good, served, t(1)).unwrap_err();
        assert!(matches!(err, RateCardRefused::Invalid(_)), "{err}");
        assert!(err.to_string().contains("kept out"), "{err}");
        assert_eq!(st.rate_card_in_force().unwrap(), None);

        let card_text = String::from_utf8(s.rate_card_source.read().unwrap()).unwrap();
        let v2 = card_text.replace("sample-2026-11", "hq-2026-12");
        let applied = st.apply_rate_card(&v2, served, t(2)).unwrap();
        assert!(applied.changed);
        assert_eq!(applied.card.version, "hq-2026-12");
        assert_eq!(st.rate_card_in_force().unwrap(), Some(applied.card.clone()));
        assert!(!st.apply_rate_card(&v2, served, t(3)).unwrap().changed);

        // Missing a served destination: kept out, the old card stays.
        let no_cn = v2
            .replace("hq-2026-12", "hq-2027-01")
            .split("# China")
            .next()
            .unwrap()
            .to_owned();
        let err = st.apply_rate_card(&no_cn, served, t(4)).unwrap_err();
        assert!(err.to_string().contains("CN"), "{err}");
        // Same version, other figures: kept out.
        let reused = v2.replace("first = \"14.00\"", "first = \"1.00\"");
        let err = st.apply_rate_card(&reused, served, t(5)).unwrap_err();
        assert!(
            matches!(err, RateCardRefused::VersionReused { .. }),
            "{err}"
        );
        // Broken TOML: kept out.
        let err = st
            .apply_rate_card("version = \"x\"\n[destinations.JP\n", served, t(6))
            .unwrap_err();
        assert!(matches!(err, RateCardRefused::Invalid(_)), "{err}");
        drop(st);
        let st = Store::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(
            st.rate_card_version_in_force().unwrap().as_deref(),
            Some("hq-2026-12")
        );
    }

    #[test]
    fn manifest_pages_keep_their_cursor_and_rejudge_unknown_waybills_once() {
        let mut st = Store::open_in_memory().unwrap();
        let policy = settings().policy;
        let unknown = scan("u1", 1000, "EE123456785GB", None);
        assert_eq!(unknown.reasons, vec![Reason::UnknownWaybill]);
        assert_eq!(unknown.disposition, Disposition::Manual);
        st.insert_scan(&unknown).unwrap();
        let known_e = entry("RR473124829US");
        st.insert_scan(&scan("k1", 2000, "RR473124829US", Some(&known_e)))
            .unwrap();
        assert_eq!(st.manifest_cursor().unwrap(), None);

        let applied = st
            .apply_manifest_page(
                &[entry("EE123456785GB"), entry("RR473124829US")],
                "42",
                t(3000),
            )
            .unwrap();
        assert_eq!(applied.counts.inserted, 2);
        assert_eq!(st.manifest_cursor().unwrap().as_deref(), Some("42"));
        let made = st
            .rejudge_waybills(&applied.changed, &policy, t(3000))
            .unwrap();
        assert_eq!(made.len(), 1, "only the unknown_waybill scan: {made:?}");
        let r = &made[0];
        assert_eq!(r.scan_id, "u1");
        assert_eq!(r.actor, ACTOR_SYSTEM);
        let expected = judge(
            &measurement_of(&unknown),
            Some(&entry("EE123456785GB")),
            &policy,
        );
        assert_eq!(r.disposition, Some(expected.verdict.disposition));
        assert_eq!(r.reasons, expected.verdict.reasons);
        assert!(!r.reasons.contains(&Reason::UnknownWaybill));
        assert_eq!(
            st.scan("u1").unwrap().unwrap(),
            unknown,
            "the scan is never edited"
        );
        assert_eq!(st.resolutions_of("u1").unwrap(), vec![r.clone()]);
        let pending: Vec<String> = st
            .pending_outbox(0, 10)
            .unwrap()
            .into_iter()
            .map(|r| r.record_id)
            .collect();
        assert_eq!(
            pending.last(),
            Some(&r.id),
            "the resolution goes to head office"
        );

        // Judged once: again, or at start, makes nothing new.
        assert!(
            st.rejudge_waybills(&applied.changed, &policy, t(4000))
                .unwrap()
                .is_empty()
        );
        assert!(st.rejudge_pending(&policy, t(4000)).unwrap().is_empty());
        let again = st
            .apply_manifest_page(&[entry("EE123456785GB")], "43", t(5000))
            .unwrap();
        assert_eq!(again.counts.unchanged, 1);
        assert!(again.changed.is_empty());
        assert_eq!(st.manifest_cursor().unwrap().as_deref(), Some("43"));
    }

    #[test]
    fn rejudge_pending_catches_up_after_a_crash() {
        let mut st = Store::open_in_memory().unwrap();
        let policy = settings().policy;
        st.insert_scan(&scan("u1", 1000, "EE123456785GB", None))
            .unwrap();
        st.apply_manifest_page(&[entry("EE123456785GB")], "1", t(2000))
            .unwrap();
        // (the process died here, before rejudge_waybills)
        let made = st.rejudge_pending(&policy, t(3000)).unwrap();
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].scan_id, "u1");
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

    #[test]
    fn measurement_is_read_back_with_its_problems() {
        let mut s = scan("x", 1, "EE123456785GB", None);
        s.weight = None;
        s.dims = None;
        s.reasons = vec![Reason::UnknownWaybill, Reason::UnstableWeight];
        let m = measurement_of(&s);
        assert_eq!(m.weight, Err(Problem::Unstable));
        assert_eq!(m.dims, Err(Problem::Fault));
        s.reasons.push(Reason::Uncalibrated);
        assert_eq!(measurement_of(&s).dims, Err(Problem::Uncalibrated));
    }
}
