//! The station's local store: SQLite in WAL mode with `synchronous = FULL`, so a committed
//! scan survives a power cut. The only code that speaks SQL.

pub mod actor;
pub mod audit;
pub mod calibration;
pub mod events;
mod in_force;
mod migrations;
pub mod outbox;
pub mod spill;

pub use actor::{Call, Committed, DataLock, Records, StartOptions, Subscription};
pub use events::{Event, EventKind};

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, params};
use tracing::instrument;

use crate::country::Country;
use crate::decide::billing::NotBillable;
use crate::manifest::ManifestEntry;
use crate::quantity::{Dims, Length, Mass, Money};
use crate::rules::{Disposition, Duties, Reason};
use crate::scan::ScanRecord;

/// What went wrong with the store, and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot create the data directory {dir}: {source}; check station.data_dir and its permissions"
    )]
    DataDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot open the store {path}: {source}; check the file is a station database and the directory is writable"
    )]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the disk holding the store is full; free space now — the record was NOT stored")]
    DiskFull,
    #[error(
        "the store was written by a newer intake (schema {found}, this build knows {known}); upgrade intake"
    )]
    TooNew { found: i64, known: i64 },
    #[error("store: {0}")]
    Sql(rusqlite::Error),
    #[error("store holds a value this build cannot read ({0}); was the database edited by hand?")]
    Corrupt(String),
    #[error(
        "another intake (pid {holder}) is using the data folder (lock {path}); stop it first (systemctl stop intake), or give this one another station.data_dir"
    )]
    Locked { path: PathBuf, holder: String },
    #[error("the store has stopped (see the log for why); restart intake")]
    Stopped,
    #[error("cannot start the store thread: {0}")]
    Thread(std::io::Error),
    #[error("the store at {0} does not exist yet; run the station (intake run) once first")]
    Missing(PathBuf),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::DiskFull,
            _ => StoreError::Sql(e),
        }
    }
}

type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which scans to list.
#[derive(Debug, Clone, Default)]
pub struct ScanFilter {
    pub since: Option<Timestamp>,
    pub disposition: Option<Disposition>,
    pub limit: Option<usize>,
}

/// What a manifest import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportCounts {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// The open store. One writer per process; readers may open it concurrently (WAL).
#[derive(Debug)]
pub struct Store {
    conn: Connection,
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_ms(v: i64) -> Result<Timestamp> {
    Timestamp::from_millisecond(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn corrupt<E: std::fmt::Display>(e: E) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        Box::<dyn std::error::Error + Send + Sync>::from(e.to_string()),
    )
}

impl Store {
    /// Opens (creating if needed) the store at `path` and applies pending migrations.
    #[instrument(skip_all, err, fields(path = %path.display()))]
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let open = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(open)?;
        Store::init(conn).map_err(|e| match e {
            StoreError::Sql(source) => open(source),
            other => other,
        })
    }

    /// Opens an existing store for reading only (CLI listings, the dashboard's queries,
    /// sync's reads): WAL lets it read while the store actor writes. Never migrates.
    #[instrument(skip_all, err, fields(path = %path.display()))]
    pub fn open_read_only(path: &Path) -> Result<Store> {
        use rusqlite::OpenFlags;
        if !path.exists() {
            return Err(StoreError::Missing(path.to_path_buf()));
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = Store::schema_version();
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        if found < known {
            return Err(StoreError::Corrupt(format!(
                "schema {found} is older than this build's {known}: the station is upgrading it now (try again in a moment), or start the station (intake run) once to upgrade it"
            )));
        }
        Ok(Store { conn })
    }

    /// A private in-memory store (tests, dry runs).
    pub fn open_in_memory() -> Result<Store> {
        Store::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL lets the CLI read while the daemon writes; FULL syncs the WAL on every commit,
        // because a verdict the operator saw must survive a power cut.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    /// The schema version this build writes.
    pub fn schema_version() -> i64 {
        migrations::MIGRATIONS.len() as i64
    }

    fn migrate(&mut self) -> Result<()> {
        let current: i64 = self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = Store::schema_version();
        if current > known {
            return Err(StoreError::TooNew {
                found: current,
                known,
            });
        }
        for (i, (why, sql)) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(current as usize)
        {
            let tx = self.conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            tx.commit()?;
            tracing::info!(version = i + 1, why, "store migrated");
        }
        // A store from before the audit chain: its rows are chained once, now.
        if current > 0 && current < 4 && self.last_event_seq()? == 0 {
            let n = self.chain_existing_rows()?;
            tracing::info!(entries = n, "existing scans and resolutions chained");
        }
        Ok(())
    }

    /// What the station knows of itself that decides whether a new scan is billable.
    pub fn station_facts(&self) -> Result<crate::decide::billing::StationFacts> {
        // A verification that failed leaves the station unverified until one passes.
        Ok(crate::decide::billing::StationFacts {
            last_verified: self
                .last_verification()?
                .and_then(|(at, passed)| passed.then_some(at)),
        })
    }

    /// Stores a scan and its outbox row in one transaction. Idempotent on the scan id:
    /// returns `false` if that id was already stored.
    #[instrument(skip_all, err, fields(scan_id = %s.id))]
    pub fn insert_scan(&mut self, s: &ScanRecord) -> Result<bool> {
        Ok(self.insert_scans_bulk(std::slice::from_ref(s))? == 1)
    }

    fn scan_from_row(r: &Row<'_>) -> rusqlite::Result<ScanRecord> {
        let opt_mass = |i: usize| -> rusqlite::Result<Option<Mass>> {
            Ok(r.get::<_, Option<i64>>(i)?.map(Mass::from_micrograms))
        };
        let dims = match (
            r.get::<_, Option<i64>>(6)?,
            r.get::<_, Option<i64>>(7)?,
            r.get::<_, Option<i64>>(8)?,
        ) {
            (Some(l), Some(w), Some(h)) => Some(Dims::new(
                Length::from_micrometres(l),
                Length::from_micrometres(w),
                Length::from_micrometres(h),
            )),
            _ => None,
        };
        let reasons: String = r.get(16)?;
        Ok(ScanRecord {
            id: r.get(0)?,
            station_id: r.get(1)?,
            created_at: Timestamp::from_millisecond(r.get(2)?).map_err(corrupt)?,
            waybill: r.get(3)?,
            destination: r
                .get::<_, Option<String>>(4)?
                .map(|c| c.parse::<Country>())
                .transpose()
                .map_err(corrupt)?,
            weight: opt_mass(5)?,
            dims,
            dimensional_weight: opt_mass(9)?,
            billable_weight: opt_mass(10)?,
            price: r.get::<_, Option<i64>>(11)?.map(Money::from_cents),
            currency: r.get(12)?,
            quoted: r.get::<_, Option<i64>>(13)?.map(Money::from_cents),
            adjustment: r.get::<_, Option<i64>>(14)?.map(Money::from_cents),
            disposition: r.get::<_, String>(15)?.parse().map_err(corrupt)?,
            reasons: reasons
                .split_ascii_whitespace()
                .map(str::parse::<Reason>)
                .collect::<Result<_, _>>()
                .map_err(corrupt)?,
            rate_card_version: r.get(17)?,
            in_force_version: r
                .get::<_, Option<i64>>(18)?
                .map(|v| u64::try_from(v).unwrap_or(0)),
            calibration_number: r
                .get::<_, Option<i64>>(19)?
                .map(|v| u64::try_from(v).unwrap_or(0)),
            billable: r.get::<_, Option<i64>>(20)?.map(|b| b != 0),
            not_billable: NotBillable::parse_list(
                &r.get::<_, Option<String>>(21)?.unwrap_or_default(),
            )
            .map_err(corrupt)?,
        })
    }

    const SCAN_COLUMNS: &'static str = "id, station_id, created_at_ms, waybill, destination,
        weight_ug, length_um, width_um, height_um, dimensional_weight_ug, billable_weight_ug,
        price_cents, currency, quoted_cents, adjustment_cents, disposition, reasons,
        rate_card_version, in_force_version, calibration_number, billable, not_billable";

    /// Scans in time order, filtered.
    #[instrument(skip_all, err)]
    pub fn scans(&self, f: &ScanFilter) -> Result<Vec<ScanRecord>> {
        let sql = format!(
            "SELECT {} FROM scans
             WHERE (?1 IS NULL OR created_at_ms >= ?1) AND (?2 IS NULL OR disposition = ?2)
             ORDER BY created_at_ms, id LIMIT ?3",
            Store::SCAN_COLUMNS
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let limit = f.limit.map_or(-1, |l| l as i64);
        let rows = stmt.query_map(
            params![
                f.since.map(ms),
                f.disposition.map(Disposition::as_str),
                limit
            ],
            Store::scan_from_row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn scan(&self, id: &str) -> Result<Option<ScanRecord>> {
        let sql = format!("SELECT {} FROM scans WHERE id = ?1", Store::SCAN_COLUMNS);
        // Cached: `audit verify` looks up every scan of the chain.
        let mut stmt = self.conn.prepare_cached(&sql)?;
        Ok(stmt.query_row([id], Store::scan_from_row).optional()?)
    }

    /// Scans per disposition since `since`.
    pub fn counts_by_disposition(&self, since: Timestamp) -> Result<Vec<(Disposition, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT disposition, COUNT(*) FROM scans WHERE created_at_ms >= ?1 GROUP BY disposition",
        )?;
        let rows = stmt.query_map([ms(since)], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (d, n) = row?;
            let d: Disposition = d.parse().map_err(|e: crate::rules::UnknownDisposition| {
                StoreError::Corrupt(e.to_string())
            })?;
            out.push((d, n as u64));
        }
        out.sort();
        Ok(out)
    }

    /// Records not yet delivered to head office.
    pub fn outbox_depth(&self) -> Result<u64> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM outbox WHERE delivered_at_ms IS NULL",
            [],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Upserts manifest entries inside `tx`, counting what changed; returns the waybills
    /// inserted or updated. Shared by the CSV import and the pull from head office.
    pub(crate) fn upsert_manifest_in(
        tx: &rusqlite::Transaction<'_>,
        entries: &[ManifestEntry],
        source: &str,
        now: Timestamp,
        counts: &mut ImportCounts,
    ) -> Result<Vec<String>> {
        type Cols = (
            String,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            bool,
            String,
        );
        let mut find = tx.prepare_cached(
            "SELECT destination, declared_weight_ug, declared_length_um, declared_width_um,
                    declared_height_um, quoted_cents, consignee_id_on_file, duties
             FROM manifest WHERE waybill = ?1",
        )?;
        let mut upsert = tx.prepare_cached(
            "INSERT INTO manifest (waybill, destination, declared_weight_ug, declared_length_um,
                declared_width_um, declared_height_um, quoted_cents, consignee_id_on_file,
                duties, updated_at_ms, source)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(waybill) DO UPDATE SET destination = excluded.destination,
                declared_weight_ug = excluded.declared_weight_ug,
                declared_length_um = excluded.declared_length_um,
                declared_width_um = excluded.declared_width_um,
                declared_height_um = excluded.declared_height_um,
                quoted_cents = excluded.quoted_cents,
                consignee_id_on_file = excluded.consignee_id_on_file,
                duties = excluded.duties, updated_at_ms = excluded.updated_at_ms,
                source = excluded.source",
        )?;
        let mut changed = Vec::new();
        for e in entries {
            let new: Cols = (
                e.destination.to_string(),
                e.declared_weight.map(Mass::micrograms),
                e.declared_dims.map(|d| d.length.micrometres()),
                e.declared_dims.map(|d| d.width.micrometres()),
                e.declared_dims.map(|d| d.height.micrometres()),
                e.quoted_price.map(Money::cents),
                e.consignee_id_on_file,
                e.duties.as_str().to_owned(),
            );
            let old: Option<Cols> = find
                .query_row([&e.waybill], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                })
                .optional()?;
            match old {
                Some(o) if o == new => {
                    counts.unchanged += 1;
                    continue;
                }
                Some(_) => counts.updated += 1,
                None => counts.inserted += 1,
            }
            upsert.execute(params![
                e.waybill,
                new.0,
                new.1,
                new.2,
                new.3,
                new.4,
                new.5,
                new.6,
                new.7,
                ms(now),
                source
            ])?;
            changed.push(e.waybill.clone());
        }
        Ok(changed)
    }

    /// Loads manifest entries (upsert on the waybill) in one transaction.
    #[instrument(skip_all, err, fields(entries = entries.len()))]
    pub fn import_manifest(
        &mut self,
        entries: &[ManifestEntry],
        source: &str,
        now: Timestamp,
    ) -> Result<ImportCounts> {
        let tx = self.conn.transaction()?;
        let mut counts = ImportCounts::default();
        Store::upsert_manifest_in(&tx, entries, source, now, &mut counts)?;
        tx.execute(
            "INSERT INTO audit (at_ms, actor, action, detail) VALUES (?1, 'technician', 'manifest_import', ?2)",
            params![
                ms(now),
                format!(
                    "{source}: {} inserted, {} updated, {} unchanged",
                    counts.inserted, counts.updated, counts.unchanged
                )
            ],
        )?;
        tx.commit()?;
        Ok(counts)
    }

    /// The manifest entry for a waybill, if head office advised it.
    pub fn manifest_entry(&self, waybill: &str) -> Result<Option<ManifestEntry>> {
        let row = self
            .conn
            .query_row(
                "SELECT destination, declared_weight_ug, declared_length_um, declared_width_um,
                        declared_height_um, quoted_cents, consignee_id_on_file, duties
                 FROM manifest WHERE waybill = ?1",
                [waybill],
                |r| {
                    let dims = match (
                        r.get::<_, Option<i64>>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ) {
                        (Some(l), Some(w), Some(h)) => Some(Dims::new(
                            Length::from_micrometres(l),
                            Length::from_micrometres(w),
                            Length::from_micrometres(h),
                        )),
                        _ => None,
                    };
                    Ok(ManifestEntry {
                        waybill: waybill.to_owned(),
                        destination: r.get::<_, String>(0)?.parse().map_err(corrupt)?,
                        declared_weight: r.get::<_, Option<i64>>(1)?.map(Mass::from_micrograms),
                        declared_dims: dims,
                        quoted_price: r.get::<_, Option<i64>>(5)?.map(Money::from_cents),
                        consignee_id_on_file: r.get(6)?,
                        duties: r.get::<_, String>(7)?.parse::<Duties>().map_err(corrupt)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Every manifest entry, by waybill.
    pub fn manifest_entries(&self) -> Result<Vec<ManifestEntry>> {
        let mut stmt = self
            .conn
            .prepare("SELECT waybill FROM manifest ORDER BY waybill")?;
        let waybills: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut out = Vec::with_capacity(waybills.len());
        for w in waybills {
            out.extend(self.manifest_entry(&w)?);
        }
        Ok(out)
    }

    /// How many manifest entries the store holds.
    pub fn manifest_len(&self) -> Result<u64> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM manifest", [], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Keeps the text of a rate card version the station prices with (once per version).
    pub fn record_rate_card(&mut self, version: &str, body: &str, now: Timestamp) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO rate_cards (version, body, loaded_at_ms) VALUES (?1, ?2, ?3)",
            params![version, body, ms(now)],
        )?;
        Ok(())
    }

    /// `PRAGMA integrity_check`: `Ok(())` or the problems SQLite found.
    pub fn integrity_check(&self) -> Result<Result<(), String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(if rows == ["ok"] {
            Ok(())
        } else {
            Err(rows.join("; "))
        })
    }

    /// Time of the newest scan, if any.
    pub fn last_scan_at(&self) -> Result<Option<Timestamp>> {
        let v: Option<i64> =
            self.conn
                .query_row("SELECT MAX(created_at_ms) FROM scans", [], |r| r.get(0))?;
        v.map(from_ms).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Measurement, WaybillRead, judge};

    fn record(id: &str, at_ms: i64, disposition_weight: &str) -> ScanRecord {
        let s = crate::config::Settings::load(None).unwrap();
        let m = Measurement {
            weight: Ok(disposition_weight.parse().unwrap()),
            dims: Ok("10x8x6 in".parse().unwrap()),
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
        let j = judge(&m, Some(&e), &s.policy);
        ScanRecord::new(
            id.into(),
            "t-1",
            Timestamp::from_millisecond(at_ms).unwrap(),
            &m,
            &j,
            &s.policy.card.version,
        )
    }

    #[test]
    fn a_scan_round_trips_field_for_field_and_is_immutable() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = Store::open(&dir.path().join("sub/intake.db")).unwrap();
        let r = record(
            "0190a0a0-0000-7000-8000-000000000001",
            1_700_000_000_000,
            "3 lb",
        );
        assert!(st.insert_scan(&r).unwrap());
        assert!(
            !st.insert_scan(&r).unwrap(),
            "insert is idempotent on the id"
        );
        assert_eq!(st.scan(&r.id).unwrap().unwrap(), r);
        assert_eq!(st.outbox_depth().unwrap(), 1);
        let err = st
            .conn
            .execute("UPDATE scans SET disposition = 'accept'", [])
            .unwrap_err();
        assert!(err.to_string().contains("immutable"));
        assert!(st.conn.execute("DELETE FROM scans", []).is_err());
        assert_eq!(st.integrity_check().unwrap(), Ok(()));
    }

    #[test]
    fn filters_and_counts() {
        let mut st = Store::open_in_memory().unwrap();
        st.insert_scan(&record("a", 1_000, "3 lb")).unwrap();
        st.insert_scan(&record("b", 2_000, "50 lb")).unwrap();
        st.insert_scan(&record("c", 3_000, "3 lb")).unwrap();
        let all = st.scans(&ScanFilter::default()).unwrap();
        assert_eq!(
            all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let since = st
            .scans(&ScanFilter {
                since: Some(Timestamp::from_millisecond(2_000).unwrap()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(since.len(), 2);
        let returned = st
            .scans(&ScanFilter {
                disposition: Some(Disposition::ReturnToSender),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(returned.len(), 1);
        assert_eq!(returned[0].id, "b");
        let counts = st.counts_by_disposition(Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(
            counts,
            vec![
                (Disposition::AcceptRepriced, 2),
                (Disposition::ReturnToSender, 1)
            ]
        );
    }

    #[test]
    fn manifest_import_is_idempotent() {
        let mut st = Store::open_in_memory().unwrap();
        let s = crate::config::Settings::load(None).unwrap();
        let parsed = crate::manifest::parse_csv(
            &s.manifest_preload.as_ref().unwrap().read().unwrap(),
            &s.waybill,
        )
        .unwrap();
        assert!(parsed.rejected.is_empty(), "{:?}", parsed.rejected);
        let now = Timestamp::UNIX_EPOCH;
        let first = st.import_manifest(&parsed.entries, "sample", now).unwrap();
        assert_eq!(first.inserted, parsed.entries.len());
        let again = st.import_manifest(&parsed.entries, "sample", now).unwrap();
        assert_eq!(
            again,
            ImportCounts {
                inserted: 0,
                updated: 0,
                unchanged: parsed.entries.len()
            }
        );
        let e = &parsed.entries[0];
        assert_eq!(st.manifest_entry(&e.waybill).unwrap().as_ref(), Some(e));
        let mut changed = e.clone();
        changed.quoted_price = Some(Money::from_cents(1));
        let c = st.import_manifest(&[changed], "fix", now).unwrap();
        assert_eq!(c.updated, 1);
        assert_eq!(st.manifest_len().unwrap() as usize, parsed.entries.len());
    }

    #[test]
    fn migrations_apply_to_an_empty_database_and_a_newer_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.db");
        drop(Store::open(&p).unwrap());
        let c = Connection::open(&p).unwrap();
        let v: i64 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, Store::schema_version());
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            Store::open(&p),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn a_store_from_before_the_chain_is_chained_once_at_the_upgrade() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("old.db");
        {
            // The previous release's schema (v2), with a scan in it.
            let c = Connection::open(&p).unwrap();
            for (_, sql) in &migrations::MIGRATIONS[..2] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 2).unwrap();
            let r = record(
                "0190a0a0-0000-7000-8000-000000000009",
                1_700_000_000_000,
                "3 lb",
            );
            c.execute(
                "INSERT INTO scans (id, station_id, created_at_ms, waybill, destination, weight_ug,
                    length_um, width_um, height_um, dimensional_weight_ug, billable_weight_ug,
                    price_cents, currency, quoted_cents, adjustment_cents, disposition, reasons,
                    rate_card_version)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
                params![
                    r.id, r.station_id, r.created_at.as_millisecond(), r.waybill,
                    r.destination.map(|c| c.to_string()), r.weight.map(Mass::micrograms),
                    r.dims.map(|d| d.length.micrometres()), r.dims.map(|d| d.width.micrometres()),
                    r.dims.map(|d| d.height.micrometres()), r.dimensional_weight.map(Mass::micrograms),
                    r.billable_weight.map(Mass::micrograms), r.price.map(Money::cents), r.currency,
                    r.quoted.map(Money::cents), r.adjustment.map(Money::cents),
                    r.disposition.as_str(), r.reasons_text(), r.rate_card_version
                ],
            )
            .unwrap();
        }
        let st = Store::open(&p).unwrap();
        assert_eq!(st.last_event_seq().unwrap(), 1, "the old scan is chained");
        let v = st.verify_chain().unwrap();
        assert!(v.breaks.is_empty(), "{:?}", v.breaks);
        assert_eq!(v.scans, 1);
        drop(st);
        // Only at the upgrade: opening again chains nothing more.
        let st = Store::open(&p).unwrap();
        assert_eq!(st.last_event_seq().unwrap(), 1);
    }
}
