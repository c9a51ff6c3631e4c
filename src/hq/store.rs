//! Head office's store: SQLite (a file; WAL, `synchronous = FULL`) by default, PostgreSQL
//! when given a `postgres://` URL. Each record id is stored once (`ON CONFLICT DO NOTHING`);
//! a batch is one transaction. The same SQL runs on both (numbered `$n` parameters in order,
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

/// How many records of a batch were new.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stored {
    pub stored: u64,
    pub already_held: u64,
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

    /// Stores a checked batch in one transaction; each id once.
    pub async fn store_batch(&self, records: Vec<Received>, now: Timestamp) -> Result<Stored> {
        let now_ms = now.as_millisecond();
        // (id, kind-specific columns, body) prepared outside the transaction.
        let rows: Vec<(Received, String)> = records
            .into_iter()
            .map(|r| {
                let body = r.to_json().to_string();
                (r, body)
            })
            .collect();
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, move |c| {
                    let tx = c.transaction()?;
                    let mut out = Stored::default();
                    {
                        let mut scan = tx.prepare_cached(INSERT_SCAN)?;
                        let mut res = tx.prepare_cached(INSERT_RESOLUTION)?;
                        for (r, body) in &rows {
                            let n = match r {
                                Received::Scan(s) => scan.execute(rusqlite::params![
                                    s.id,
                                    s.station_id,
                                    s.waybill,
                                    s.disposition.as_str(),
                                    s.created_at.as_millisecond(),
                                    now_ms,
                                    body
                                ])?,
                                Received::Resolution {
                                    resolution,
                                    station_id,
                                } => res.execute(rusqlite::params![
                                    resolution.id,
                                    resolution.scan_id,
                                    station_id,
                                    resolution.created_at.as_millisecond(),
                                    now_ms,
                                    body
                                ])?,
                            };
                            if n == 1 {
                                out.stored += 1;
                            } else {
                                out.already_held += 1;
                            }
                        }
                    }
                    tx.commit()?;
                    Ok(out)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let mut c = client.lock().await;
                let tx = c.transaction().await?;
                let scan = tx.prepare(INSERT_SCAN).await?;
                let res = tx.prepare(INSERT_RESOLUTION).await?;
                let mut out = Stored::default();
                for (r, body) in &rows {
                    let n = match r {
                        Received::Scan(s) => {
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
                            .await?
                        }
                        Received::Resolution {
                            resolution,
                            station_id,
                        } => {
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
                            .await?
                        }
                    };
                    if n == 1 {
                        out.stored += 1;
                    } else {
                        out.already_held += 1;
                    }
                }
                tx.commit().await?;
                Ok(out)
            }
        }
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

    /// Every scan held, as stored JSON, oldest first.
    pub async fn scans(&self) -> Result<Vec<String>> {
        self.bodies(SCANS).await
    }

    /// Every resolution held, as stored JSON, oldest first.
    pub async fn resolutions(&self) -> Result<Vec<String>> {
        self.bodies(RESOLUTIONS).await
    }

    pub async fn count_scans(&self) -> Result<u64> {
        match self {
            HqStore::Sqlite(conn) => {
                blocking(conn, |c| {
                    Ok(c.query_row(COUNT_SCANS, [], |r| r.get::<_, i64>(0))? as u64)
                })
                .await
            }
            HqStore::Postgres(client) => {
                let c = client.lock().await;
                Ok(c.query_one(COUNT_SCANS, &[]).await?.get::<_, i64>(0) as u64)
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
