//! Head office's store: SQLite (a file; WAL, `synchronous = FULL`) by default, PostgreSQL
//! when given a `postgres://` URL. Each record id is stored once (`ON CONFLICT DO NOTHING`);
//! a batch is one transaction. A record id already held with *different* content is a
//! conflict: the batch is refused whole and the conflicting copy is kept aside in
//! `hq_conflicts` for someone to look at. Station tokens are kept as SHA-256 hashes, each
//! bound to one station id. The same SQL runs on both (numbered `$n` parameters in order,
//! `BIGINT`, `TEXT`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use crate::manifest::ManifestEntry;
use crate::sync::wire::{Received, manifest_to_wire};

/// What went wrong with head office's store.
#[derive(Debug, thiserror::Error)]
pub enum HqStoreError {
    #[error(
        "cannot open the head-office store {path}: {source}; check the path and that its directory is writable"
    )]
    OpenSqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "cannot connect to PostgreSQL at {url}: {source}; check the server runs and the URL (user, password, database)"
    )]
    ConnectPostgres {
        url: String,
        source: tokio_postgres::Error,
    },
    #[error("head-office store (SQLite): {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("head-office store (PostgreSQL): {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("head-office store task failed: {0}")]
    Task(String),
}

type Result<T, E = HqStoreError> = std::result::Result<T, E>;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS hq_scans (
        scan_id        TEXT PRIMARY KEY,
        station_id     TEXT NOT NULL,
        waybill        TEXT,
        disposition    TEXT NOT NULL,
        created_at_ms  BIGINT NOT NULL,
        received_at_ms BIGINT NOT NULL,
        body           TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS hq_scans_by_station ON hq_scans(station_id, created_at_ms)",
    "CREATE TABLE IF NOT EXISTS hq_resolutions (
        resolution_id  TEXT PRIMARY KEY,
        scan_id        TEXT NOT NULL,
        station_id     TEXT NOT NULL,
        created_at_ms  BIGINT NOT NULL,
        received_at_ms BIGINT NOT NULL,
        body           TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS hq_manifest (
        waybill TEXT PRIMARY KEY,
        seq     BIGINT NOT NULL,
        body    TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS hq_manifest_by_seq ON hq_manifest(seq)",
    // Station tokens, hashed (SHA-256, hex): a token uploads only its station's records.
    "CREATE TABLE IF NOT EXISTS hq_tokens (
        hash          TEXT PRIMARY KEY,
        station_id    TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL
    )",
    // A record id replayed with other content than the copy held: kept for inspection,
    // never stored over the first.
    "CREATE TABLE IF NOT EXISTS hq_conflicts (
        record_id      TEXT NOT NULL,
        station_id     TEXT NOT NULL,
        received_at_ms BIGINT NOT NULL,
        body           TEXT NOT NULL
    )",
    // Each station's audit chain, entry by entry as the station hashed it: head office
    // re-verifies it (`intake hq audit verify --station ID`). An entry number replayed with
    // other content (a chain rewritten at the station) is a conflict, never stored over.
    "CREATE TABLE IF NOT EXISTS hq_audit (
        record_id      TEXT PRIMARY KEY,
        station_id     TEXT NOT NULL,
        seq            BIGINT NOT NULL,
        received_at_ms BIGINT NOT NULL,
        body           TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS hq_audit_by_station ON hq_audit(station_id, seq)",
    // The newest entry each station reported, and when: a station sends its records first
    // and its chain after, so a record received before the last report and in no entry is
    // a record whose entry was cut.
    "CREATE TABLE IF NOT EXISTS hq_audit_heads (
        station_id     TEXT PRIMARY KEY,
        seq            BIGINT NOT NULL,
        received_at_ms BIGINT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS hq_rate_cards (
        version      TEXT PRIMARY KEY,
        seq          BIGINT NOT NULL,
        body         TEXT NOT NULL,
        loaded_at_ms BIGINT NOT NULL
    )",
];

const INSERT_SCAN: &str = "INSERT INTO hq_scans (scan_id, station_id, waybill, disposition,
    created_at_ms, received_at_ms, body) VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (scan_id) DO NOTHING";
const INSERT_RESOLUTION: &str = "INSERT INTO hq_resolutions (resolution_id, scan_id, station_id,
    created_at_ms, received_at_ms, body) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (resolution_id) DO NOTHING";
const INSERT_AUDIT: &str = "INSERT INTO hq_audit (record_id, station_id, seq, received_at_ms,
    body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (record_id) DO NOTHING";
const AUDIT_BODY: &str = "SELECT body FROM hq_audit WHERE record_id = $1";
const AUDIT_HEAD: &str = "INSERT INTO hq_audit_heads (station_id, seq, received_at_ms)
    VALUES ($1, $2, $3) ON CONFLICT (station_id) DO UPDATE SET seq = excluded.seq,
    received_at_ms = excluded.received_at_ms";
const AUDIT_HEAD_OF: &str = "SELECT seq, received_at_ms FROM hq_audit_heads WHERE station_id = $1";
const SCAN_TIMES_OF: &str = "SELECT scan_id, received_at_ms FROM hq_scans WHERE station_id = $1";
const RESOLUTION_TIMES_OF: &str =
    "SELECT resolution_id, received_at_ms FROM hq_resolutions WHERE station_id = $1";
const AUDIT_OF: &str = "SELECT body FROM hq_audit WHERE station_id = $1 ORDER BY seq";
const SCANS_OF: &str =
    "SELECT body FROM hq_scans WHERE station_id = $1 ORDER BY created_at_ms, scan_id";
const RESOLUTIONS_OF: &str = "SELECT body FROM hq_resolutions WHERE station_id = $1
    ORDER BY created_at_ms, resolution_id";
const CONFLICTS_OF: &str =
    "SELECT record_id FROM hq_conflicts WHERE station_id = $1 ORDER BY received_at_ms";
const HELD_SCAN: &str = "SELECT 1 FROM hq_scans WHERE scan_id = $1";
const HELD_RESOLUTION: &str = "SELECT 1 FROM hq_resolutions WHERE resolution_id = $1";
const MANIFEST_SINCE: &str =
    "SELECT seq, body FROM hq_manifest WHERE seq > $1 ORDER BY seq LIMIT $2";
const MANIFEST_MAX: &str = "SELECT COALESCE(MAX(seq), 0) FROM hq_manifest";
const MANIFEST_OLD: &str = "SELECT body FROM hq_manifest WHERE waybill = $1";
const MANIFEST_UPSERT: &str = "INSERT INTO hq_manifest (waybill, seq, body) VALUES ($1, $2, $3)
    ON CONFLICT (waybill) DO UPDATE SET seq = excluded.seq, body = excluded.body";
const CARD_CURRENT: &str = "SELECT version, body FROM hq_rate_cards ORDER BY seq DESC LIMIT 1";
const CARD_MAX: &str = "SELECT COALESCE(MAX(seq), 0) FROM hq_rate_cards";
const CARD_UPSERT: &str = "INSERT INTO hq_rate_cards (version, seq, body, loaded_at_ms)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (version) DO UPDATE SET seq = excluded.seq, body = excluded.body,
        loaded_at_ms = excluded.loaded_at_ms";
const SCANS: &str = "SELECT body FROM hq_scans ORDER BY created_at_ms, scan_id";
const RESOLUTIONS: &str = "SELECT body FROM hq_resolutions ORDER BY created_at_ms, resolution_id";
const COUNT_SCANS: &str = "SELECT COUNT(*) FROM hq_scans";
const SCAN_BODY: &str = "SELECT body FROM hq_scans WHERE scan_id = $1";
const RESOLUTION_BODY: &str = "SELECT body FROM hq_resolutions WHERE resolution_id = $1";
const INSERT_CONFLICT: &str = "INSERT INTO hq_conflicts (record_id, station_id, received_at_ms,
    body) VALUES ($1, $2, $3, $4)";
const CONFLICTS: &str = "SELECT body FROM hq_conflicts ORDER BY received_at_ms";
const COUNT_CONFLICTS: &str = "SELECT COUNT(*) FROM hq_conflicts";
const INSERT_TOKEN: &str =
    "INSERT INTO hq_tokens (hash, station_id, created_at_ms) VALUES ($1, $2, $3)";
const TOKEN_STATION: &str = "SELECT station_id FROM hq_tokens WHERE hash = $1";
const DELETE_TOKENS: &str = "DELETE FROM hq_tokens WHERE station_id = $1";
const TOKENS: &str =
    "SELECT station_id, created_at_ms FROM hq_tokens ORDER BY station_id, created_at_ms";
const COUNT_TOKENS: &str = "SELECT COUNT(*) FROM hq_tokens";

/// What head office holds of one station, for re-verifying its audit chain.
#[derive(Debug, Clone, Default)]
pub struct StationAudit {
    pub entries: Vec<String>,
    pub scans: Vec<String>,
    pub resolutions: Vec<String>,
    pub conflicts: Vec<String>,
    /// When each of its scans and resolutions (by id) was received, in milliseconds.
    pub received: std::collections::HashMap<String, i64>,
    /// The newest entry the station reported, and when (milliseconds).
    pub head: Option<(u64, i64)>,
}

/// How many records of a batch were new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub stored: u64,
    pub already_held: u64,
}

/// What became of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    /// Stored (each id once).
    Stored(Stored),
    /// `record_id` is held with other content; nothing of the batch was stored and the
    /// replayed copy was put in `hq_conflicts`.
    Conflict { record_id: String },
}

/// A statement parameter.
enum Param {
    Text(String),
    Int(i64),
}

/// A record's station id.
pub fn station_of(r: &Received) -> &str {
    match r {
        Received::Scan(s) => &s.station_id,
        Received::Resolution { station_id, .. } => station_id,
        Received::Audit(e) => &e.station_id,
    }
}

/// The open head-office store. Cheap to clone.
#[derive(Clone)]
pub enum HqStore {
    Sqlite(Arc<Mutex<rusqlite::Connection>>),
    Postgres(Arc<tokio::sync::Mutex<tokio_postgres::Client>>),
}

impl std::fmt::Debug for HqStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HqStore::Sqlite(_) => "HqStore::Sqlite",
            HqStore::Postgres(_) => "HqStore::Postgres",
        })
    }
}

/// A database URL with its password hidden, for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:****{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn is_postgres(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

async fn blocking<T: Send + 'static>(
    conn: &Arc<Mutex<rusqlite::Connection>>,
    f: impl FnOnce(&mut rusqlite::Connection) -> Result<T> + Send + 'static,
) -> Result<T> {
    let conn = conn.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut c)
    })
    .await
    .map_err(|e| HqStoreError::Task(e.to_string()))?
}

impl HqStore {
    /// Opens (creating if needed) the store: a SQLite file path, or a `postgres://` URL.
    pub async fn open(db: &str) -> Result<HqStore> {
        if is_postgres(db) {
            let (client, conn) = tokio_postgres::connect(db, tokio_postgres::NoTls)
                .await
                .map_err(|source| HqStoreError::ConnectPostgres {
                    url: redact_url(db),
                    source,
                })?;
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::error!(error = %e, "PostgreSQL connection lost");
                }
            });
            for sql in SCHEMA {
                client.batch_execute(sql).await?;
            }
            return Ok(HqStore::Postgres(Arc::new(tokio::sync::Mutex::new(client))));
        }
        let path = PathBuf::from(db);
        let p2 = path.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<rusqlite::Connection> {
            let open = |source| HqStoreError::OpenSqlite {
                path: p2.clone(),
                source,
            };
            let c = rusqlite::Connection::open(&p2).map_err(open)?;
            c.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(open)?;
            c.pragma_update(None, "journal_mode", "WAL").map_err(open)?;
            c.pragma_update(None, "synchronous", "FULL").map_err(open)?;
            for sql in SCHEMA {
                c.execute_batch(sql).map_err(open)?;
            }
            Ok(c)
        })
        .await
        .map_err(|e| HqStoreError::Task(e.to_string()))??;
        tracing::debug!(path = %path.display(), "head-office store open");
        Ok(HqStore::Sqlite(Arc::new(Mutex::new(conn))))
    }

    /// Stores a checked batch in one transaction; each id once. An id already held with
    /// different content refuses the whole batch ([`BatchOutcome::Conflict`]).
    pub async fn store_batch(
        &self,
        records: Vec<Received>,
        now: Timestamp,
    ) -> Result<BatchOutcome> {
        let now_ms = now.as_millisecond();
        // (id, kind-specific columns, body) prepared outside the transaction.
        let rows: Vec<(Received, String)> = records
            .into_iter()
            .map(|r| {
                let body = r.to_json().to_string();
                (r, body)
            })
            .collect();
        let outcome = match self {
            HqStore::Sqlite(conn) => {
                let rows = rows.clone();
                blocking(conn, move |c| {
                    let tx = c.transaction()?;
                    let mut out = Stored::default();
                    {
                        let mut scan = tx.prepare_cached(INSERT_SCAN)?;
                        let mut res = tx.prepare_cached(INSERT_RESOLUTION)?;
                        let mut audit = tx.prepare_cached(INSERT_AUDIT)?;
                        for (r, body) in &rows {
                            let (n, held) = match r {
                                Received::Scan(s) => (
                                    scan.execute(rusqlite::params![
                                        s.id,
                                        s.station_id,
                                        s.waybill,
                                        s.disposition.as_str(),
                                        s.created_at.as_millisecond(),
                                        now_ms,
                                        body
                                    ])?,
                                    SCAN_BODY,
                                ),
                                Received::Resolution {
                                    resolution,
                                    station_id,
                                } => (
                                    res.execute(rusqlite::params![
                                        resolution.id,
                                        resolution.scan_id,
                                        station_id,
                                        resolution.created_at.as_millisecond(),
                                        now_ms,
                                        body
                                    ])?,
                                    RESOLUTION_BODY,
                                ),
                                Received::Audit(e) => (
                                    audit.execute(rusqlite::params![
                                        r.id(),
                                        e.station_id,
                                        i64::try_from(e.seq).unwrap_or(i64::MAX),
                                        now_ms,
                                        body
                                    ])?,
                                    AUDIT_BODY,
                                ),
                            };
                            if n == 1 {
                                out.stored += 1;
                                continue;
                            }
                            let old: String = tx.query_row(held, [r.id()], |row| row.get(0))?;
                            if old != *body {
                                // Dropping the transaction rolls the batch back.
                                return Ok(BatchOutcome::Conflict { record_id: r.id() });
                            }
                            out.already_held += 1;
                        }
                    }
                    tx.commit()?;
                    Ok(BatchOutcome::Stored(out))
                })
                .await?
            }
            HqStore::Postgres(client) => {
                let mut c = client.lock().await;
                let tx = c.transaction().await?;
                let scan = tx.prepare(INSERT_SCAN).await?;
                let res = tx.prepare(INSERT_RESOLUTION).await?;
                let audit = tx.prepare(INSERT_AUDIT).await?;
                let mut out = Stored::default();
                let mut conflict = None;
                for (r, body) in &rows {
                    let (n, held) = match r {
                        Received::Scan(s) => (
                            tx.execute(
                                &scan,
                                &[
                                    &s.id,
                                    &s.station_id,
                                    &s.waybill,
                                    &s.disposition.as_str(),
                                    &s.created_at.as_millisecond(),
                                    &now_ms,
                                    body,
                                ],
                            )
                            .await?,
                            SCAN_BODY,
                        ),
                        Received::Resolution {
                            resolution,
                            station_id,
                        } => (
                            tx.execute(
                                &res,
                                &[
                                    &resolution.id,
                                    &resolution.scan_id,
                                    station_id,
                                    &resolution.created_at.as_millisecond(),
                                    &now_ms,
                                    body,
                                ],
                            )
                            .await?,
                            RESOLUTION_BODY,
                        ),
                        Received::Audit(e) => (
                            tx.execute(
                                &audit,
                                &[
                                    &r.id(),
                                    &e.station_id,
                                    &i64::try_from(e.seq).unwrap_or(i64::MAX),
                                    &now_ms,
                                    body,
                                ],
                            )
                            .await?,
                            AUDIT_BODY,
                        ),
                    };
                    if n == 1 {
                        out.stored += 1;
                        continue;
                    }
                    let old: String = tx.query_one(held, &[&r.id()]).await?.get(0);
                    if old != *body {
                        conflict = Some(r.id());
                        break;
                    }
                    out.already_held += 1;
                }
                match conflict {
                    Some(record_id) => {
                        tx.rollback().await?;
                        BatchOutcome::Conflict { record_id }
                    }
                    None => {
                        tx.commit().await?;
                        BatchOutcome::Stored(out)
                    }
                }
            }
        };
        if let BatchOutcome::Stored(_) = &outcome {
            // The newest entry of each station's chain in this batch: its head, as reported.
            let mut heads: std::collections::BTreeMap<&str, u64> = Default::default();
            for (r, _) in &rows {
                if let Received::Audit(e) = r {
                    let h = heads.entry(e.station_id.as_str()).or_default();
                    *h = (*h).max(e.seq);
                }
            }
            for (station, seq) in heads {
                self.execute(
                    AUDIT_HEAD,
                    vec![
                        Param::Text(station.to_owned()),
                        Param::Int(i64::try_from(seq).unwrap_or(i64::MAX)),
                        Param::Int(now_ms),
                    ],
                )
                .await?;
            }
        }
        if let BatchOutcome::Conflict { record_id } = &outcome
            && let Some((r, body)) = rows.iter().find(|(r, _)| r.id() == *record_id)
        {
            self.execute(
                INSERT_CONFLICT,
                vec![
                    Param::Text(record_id.clone()),
                    Param::Text(station_of(r).to_owned()),
                    Param::Int(now_ms),
                    Param::Text(body.clone()),
                ],
            )
            .await?;
        }
        Ok(outcome)
    }

    /// Runs one statement with the given parameters; returns the rows changed.
    async fn execute(&self, sql: &'static str, params: Vec<Param>) -> Result<u64> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let values = params.into_iter().map(|p| match p {
                        Param::Text(t) => rusqlite::types::Value::from(t),
                        Param::Int(n) => rusqlite::types::Value::from(n),
                    });
                    Ok(c.execute(sql, rusqlite::params_from_iter(values))? as u64)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|p| match p {
                        Param::Text(t) => t as &(dyn tokio_postgres::types::ToSql + Sync),
                        Param::Int(n) => n,
                    })
                    .collect();
                Ok(c.execute(sql, &refs).await?)
            }
        }
    }

    /// One text column of the first row of `sql`, if any.
    async fn text_opt(&self, sql: &'static str, param: String) -> Result<Option<String>> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let mut s = c.prepare_cached(sql)?;
                    let mut q = s.query([&param])?;
                    Ok(match q.next()? {
                        Some(r) => Some(r.get(0)?),
                        None => None,
                    })
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                Ok(c.query_opt(sql, &[&param]).await?.map(|r| r.get(0)))
            }
        }
    }

    /// Keeps a new station token (its SHA-256 hash, hex) bound to `station_id`.
    pub async fn add_token(&self, hash: &str, station_id: &str, now: Timestamp) -> Result<()> {
        self.execute(
            INSERT_TOKEN,
            vec![
                Param::Text(hash.to_owned()),
                Param::Text(station_id.to_owned()),
                Param::Int(now.as_millisecond()),
            ],
        )
        .await
        .map(drop)
    }

    /// The station a token hash belongs to.
    pub async fn token_station(&self, hash: &str) -> Result<Option<String>> {
        self.text_opt(TOKEN_STATION, hash.to_owned()).await
    }

    /// Forgets every token of `station_id`; returns how many there were.
    pub async fn revoke_tokens(&self, station_id: &str) -> Result<u64> {
        self.execute(DELETE_TOKENS, vec![Param::Text(station_id.to_owned())])
            .await
    }

    /// (station id, created at ms) of every token, by station.
    pub async fn tokens(&self) -> Result<Vec<(String, i64)>> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, |c| {
                    let mut s = c.prepare_cached(TOKENS)?;
                    let rows = s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                Ok(c.query(TOKENS, &[])
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect())
            }
        }
    }

    /// Replayed records refused because their id is held with other content, as received.
    pub async fn conflicts(&self) -> Result<Vec<String>> {
        self.bodies(CONFLICTS).await
    }

    /// How many replayed records were refused as conflicts.
    pub async fn count_conflicts(&self) -> Result<u64> {
        self.count(COUNT_CONFLICTS).await
    }

    /// How many station tokens are kept.
    pub async fn count_tokens(&self) -> Result<u64> {
        self.count(COUNT_TOKENS).await
    }

    /// The subset of `ids` (scans or resolutions) held, in the order asked.
    pub async fn held(&self, ids: Vec<String>) -> Result<Vec<String>> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let mut scan = c.prepare_cached(HELD_SCAN)?;
                    let mut res = c.prepare_cached(HELD_RESOLUTION)?;
                    let mut out = Vec::new();
                    for id in ids {
                        if scan.exists([&id])? || res.exists([&id])? {
                            out.push(id);
                        }
                    }
                    Ok(out)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                let scan = c.prepare(HELD_SCAN).await?;
                let res = c.prepare(HELD_RESOLUTION).await?;
                let mut out = Vec::new();
                for id in ids {
                    if c.query_opt(&scan, &[&id]).await?.is_some()
                        || c.query_opt(&res, &[&id]).await?.is_some()
                    {
                        out.push(id);
                    }
                }
                Ok(out)
            }
        }
    }

    /// Manifest entries changed after `after` (a seq), at most `limit`: (seq, JSON body).
    pub async fn manifest_since(&self, after: i64, limit: i64) -> Result<Vec<(i64, String)>> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let mut stmt = c.prepare_cached(MANIFEST_SINCE)?;
                    let rows = stmt.query_map(rusqlite::params![after, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                let rows = c.query(MANIFEST_SINCE, &[&after, &limit]).await?;
                Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
            }
        }
    }

    /// Loads manifest entries (a new change seq for each new or changed one). Returns how
    /// many changed.
    pub async fn load_manifest(&self, entries: &[ManifestEntry]) -> Result<u64> {
        let rows: Vec<(String, String)> = entries
            .iter()
            .map(|e| (e.waybill.clone(), manifest_to_wire(e).to_string()))
            .collect();
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let tx = c.transaction()?;
                    let mut seq: i64 = tx.query_row(MANIFEST_MAX, [], |r| r.get(0))?;
                    let mut changed = 0;
                    for (wb, body) in &rows {
                        let old: Option<String> = {
                            let mut s = tx.prepare_cached(MANIFEST_OLD)?;
                            let mut q = s.query([wb])?;
                            q.next()?.map(|r| r.get(0)).transpose()?
                        };
                        if old.as_deref() == Some(body.as_str()) {
                            continue;
                        }
                        seq += 1;
                        tx.execute(MANIFEST_UPSERT, rusqlite::params![wb, seq, body])?;
                        changed += 1;
                    }
                    tx.commit()?;
                    Ok(changed)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let mut c = client.lock().await;
                let tx = c.transaction().await?;
                tx.batch_execute("LOCK TABLE hq_manifest IN EXCLUSIVE MODE")
                    .await?;
                let mut seq: i64 = tx.query_one(MANIFEST_MAX, &[]).await?.get(0);
                let mut changed = 0;
                for (wb, body) in &rows {
                    let old: Option<String> =
                        tx.query_opt(MANIFEST_OLD, &[wb]).await?.map(|r| r.get(0));
                    if old.as_deref() == Some(body.as_str()) {
                        continue;
                    }
                    seq += 1;
                    tx.execute(MANIFEST_UPSERT, &[wb, &seq, body]).await?;
                    changed += 1;
                }
                tx.commit().await?;
                Ok(changed)
            }
        }
    }

    /// Puts a (validated) rate card in force.
    pub async fn load_rate_card(&self, version: &str, body: &str, now: Timestamp) -> Result<()> {
        let (version, body, now_ms) = (version.to_owned(), body.to_owned(), now.as_millisecond());
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let tx = c.transaction()?;
                    let seq: i64 = tx.query_row(CARD_MAX, [], |r| r.get(0))?;
                    tx.execute(
                        CARD_UPSERT,
                        rusqlite::params![version, seq + 1, body, now_ms],
                    )?;
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            HqStore::Postgres(client) => {
                let mut c = client.lock().await;
                let tx = c.transaction().await?;
                tx.batch_execute("LOCK TABLE hq_rate_cards IN EXCLUSIVE MODE")
                    .await?;
                let seq: i64 = tx.query_one(CARD_MAX, &[]).await?.get(0);
                tx.execute(CARD_UPSERT, &[&version, &(seq + 1), &body, &now_ms])
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// The rate card in force: (version, TOML).
    pub async fn rate_card(&self) -> Result<Option<(String, String)>> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, |c| {
                    let mut s = c.prepare_cached(CARD_CURRENT)?;
                    let mut q = s.query([])?;
                    Ok(match q.next()? {
                        Some(r) => Some((r.get(0)?, r.get(1)?)),
                        None => None,
                    })
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                Ok(c.query_opt(CARD_CURRENT, &[])
                    .await?
                    .map(|r| (r.get(0), r.get(1))))
            }
        }
    }

    async fn bodies(&self, sql: &'static str) -> Result<Vec<String>> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let mut s = c.prepare_cached(sql)?;
                    let rows = s.query_map([], |r| r.get(0))?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                Ok(c.query(sql, &[]).await?.iter().map(|r| r.get(0)).collect())
            }
        }
    }

    async fn bodies_of(&self, sql: &'static str, station: &str) -> Result<Vec<String>> {
        let station = station.to_owned();
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let mut s = c.prepare_cached(sql)?;
                    let rows = s.query_map([station], |r| r.get(0))?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                Ok(c.query(sql, &[&station])
                    .await?
                    .iter()
                    .map(|r| r.get(0))
                    .collect())
            }
        }
    }

    /// One station's audit chain as held (entries as stored JSON, in number order), its
    /// scans and resolutions, and the ids of its records set aside as conflicts.
    pub async fn station_audit(&self, station: &str) -> Result<StationAudit> {
        let received = self
            .pairs_of(SCAN_TIMES_OF, station)
            .await?
            .into_iter()
            .chain(self.pairs_of(RESOLUTION_TIMES_OF, station).await?)
            .collect();
        let head = self
            .pairs_of(AUDIT_HEAD_OF, station)
            .await?
            .into_iter()
            .next()
            .and_then(|(seq, at)| Some((seq.parse().ok()?, at)));
        Ok(StationAudit {
            entries: self.bodies_of(AUDIT_OF, station).await?,
            scans: self.bodies_of(SCANS_OF, station).await?,
            resolutions: self.bodies_of(RESOLUTIONS_OF, station).await?,
            conflicts: self.bodies_of(CONFLICTS_OF, station).await?,
            received,
            head,
        })
    }

    /// (text or number as text, milliseconds) rows of one station.
    async fn pairs_of(&self, sql: &'static str, station: &str) -> Result<Vec<(String, i64)>> {
        let station = station.to_owned();
        // The first column may be a number (seq) or text (an id): read as text either way.
        fn first_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<String> {
            match r.get_ref(0)? {
                rusqlite::types::ValueRef::Integer(n) => Ok(n.to_string()),
                _ => r.get(0),
            }
        }
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let mut s = c.prepare_cached(sql)?;
                    let rows = s.query_map([station], |r| Ok((first_sqlite(r)?, r.get(1)?)))?;
                    Ok(rows.collect::<Result<_, _>>()?)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                let rows = c.query(sql, &[&station]).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        let first = r
                            .try_get::<_, String>(0)
                            .unwrap_or_else(|_| r.get::<_, i64>(0).to_string());
                        (first, r.get(1))
                    })
                    .collect())
            }
        }
    }

    /// Every scan held, as stored JSON, oldest first.
    pub async fn scans(&self) -> Result<Vec<String>> {
        self.bodies(SCANS).await
    }

    /// Every resolution held, as stored JSON, oldest first.
    pub async fn resolutions(&self) -> Result<Vec<String>> {
        self.bodies(RESOLUTIONS).await
    }

    pub async fn count_scans(&self) -> Result<u64> {
        self.count(COUNT_SCANS).await
    }

    async fn count(&self, sql: &'static str) -> Result<u64> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                Ok(c.query_one(sql, &[]).await?.get::<_, i64>(0) as u64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_in_urls() {
        assert_eq!(
            redact_url("postgres://intake:s3cret@127.0.0.1:5432/hq"),
            "postgres://intake:****@127.0.0.1:5432/hq"
        );
        assert_eq!(
            redact_url("postgres://intake@h/hq"),
            "postgres://intake@h/hq"
        );
        assert_eq!(redact_url("/var/lib/hq.db"), "/var/lib/hq.db");
    }
}
