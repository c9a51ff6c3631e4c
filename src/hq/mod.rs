//! The reference head-office receiver (`intake hq serve`): the server side of
//! `docs/openapi.yaml`, with its own store ([`store::HqStore`]: SQLite or PostgreSQL), so a
//! site can run the whole system and the tests can run against the real protocol.
//!
//! Head office faces many stations, some over the internet, so it holds against guessing,
//! floods and lies:
//! - Authentication comes from the headers alone, before any body is read; an unknown
//!   token is 401 after at most a small drain, and repeated bad tokens from one address
//!   are throttled ([`crate::web::auth::Throttle`], 429 with `Retry-After`).
//! - Each station token is bound to its station id ([`HqStore::add_token`], stored as a
//!   SHA-256 hash): it uploads only that station's records (403 otherwise). Tokens from
//!   `--token-file` are legacy site-wide tokens (any station), logged as such.
//! - Requests per token are rate limited ([`crate::web::auth::RateLimit`], 429).
//! - Bodies are streamed and bounded as sent and as decompressed (a gzip bomb is 413 with
//!   memory flat); only a few uploads are read at once.
//! - A record id already held with other content is a conflict: 409, logged, kept aside
//!   (`intake hq scans --conflicts`), never silently dropped. An identical replay is
//!   acknowledged as already held (exactly once).
//! - A malformed batch is 400 naming the first bad record, with nothing stored.

pub mod audit;
pub mod store;

use std::collections::HashMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;
use sha2::Digest;

use crate::sync::token::Token;
use crate::sync::wire::{Ack, ErrorBody, ManifestPage, RateCardDoc, parse_batch};
use crate::web::auth::{Gate, RateLimit, Throttle, ThrottlePolicy, client_key};
pub use store::{BatchOutcome, HqStore, HqStoreError};

/// Limits on what one request may carry, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes on the wire (compressed, if it is).
    pub max_body: usize,
    /// Bytes after decompression.
    pub max_decoded: usize,
    /// Records in one batch.
    pub max_records: usize,
    /// Requests per minute per token (sustained)...
    pub per_token_per_minute: u32,
    /// ...and at once.
    pub per_token_burst: u32,
    /// Upload bodies read at the same time (memory is at most this × `max_decoded`).
    pub concurrent_uploads: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 8 * 1024 * 1024,
            max_decoded: 32 * 1024 * 1024,
            max_records: 10_000,
            per_token_per_minute: 1_800,
            per_token_burst: 300,
            concurrent_uploads: 2,
        }
    }
}

/// A body that stalls this long between chunks is dropped.
const BODY_STALL: Duration = Duration::from_secs(30);
/// What an unauthenticated request's body may be drained by, so its client reads the 401
/// rather than a reset; past this the connection is closed.
const UNAUTHENTICATED_DRAIN: usize = 64 * 1024;

/// Who a request is from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A station token: only this station's records.
    Station(String),
    /// A token from `--token-file`: any station (legacy, site-wide).
    SiteWide,
}

/// Guessing and flood state, shared by the handlers.
#[derive(Debug)]
struct Guard {
    bad_tokens: Mutex<Throttle<IpAddr>>,
    per_token: Mutex<RateLimit<String>>,
    uploads: tokio::sync::Semaphore,
    /// Token hash → station, for tokens seen (the store is asked on a miss).
    known: Mutex<HashMap<String, String>>,
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: HqStore,
    /// Site-wide tokens (`--token-file`): they may upload any station's records.
    pub tokens: Arc<Vec<Token>>,
    pub limits: Limits,
    guard: Arc<Guard>,
}

impl AppState {
    /// The state for serving `store`, with site-wide `tokens` (may be empty: then only
    /// station tokens in the store are accepted).
    pub fn new(store: HqStore, tokens: Vec<Token>, limits: Limits) -> AppState {
        AppState {
            store,
            tokens: Arc::new(tokens),
            limits,
            guard: Arc::new(Guard {
                bad_tokens: Mutex::new(Throttle::new(ThrottlePolicy {
                    // Stations retry on their own schedule; a few bad tokens in a row are
                    // a misconfigured station, more are a guesser.
                    free_failures: 5,
                    first_delay: Duration::from_secs(2),
                    lockout_after: 20,
                    ..ThrottlePolicy::default()
                })),
                per_token: Mutex::new(RateLimit::new(
                    limits.per_token_per_minute,
                    limits.per_token_burst,
                    65_536,
                )),
                uploads: tokio::sync::Semaphore::new(limits.concurrent_uploads.max(1)),
                known: Mutex::new(HashMap::new()),
            }),
        }
    }
}

/// The hex SHA-256 of a token: how head office keeps and looks up station tokens.
pub fn token_hash(token: &str) -> String {
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new random station token (256 bits, hex, with a prefix that says what it is).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("intake-hq-{hex}")
}

/// The client's address (from the accept loop).
struct Peer(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Peer, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip()),
        ))
    }
}

fn json_response<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    match serde_json::to_vec(v) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ErrorBody {
        error: code.into(),
        message: message.into(),
        line: None,
        record_id: None,
    };
    json_response(status, &body)
}

fn unauthorized() -> Response {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "no valid bearer token; send `Authorization: Bearer <token>` with this station's token",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

fn too_many(wait: Duration, message: &str) -> Response {
    let mut r = error(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// A response after which the connection is closed (the body was not read whole).
fn closing(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

fn unavailable(e: &HqStoreError) -> Response {
    tracing::error!(error = %e, "head-office store failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "head office cannot store this now; retry later",
    )
}

/// Checks the bearer token from the headers alone: who is calling, or the refusal. Bad
/// tokens are throttled per address; good ones are rate limited per token.
// The refusal is the response itself, made once per refused request: boxing it buys nothing.
#[allow(clippy::result_large_err)]
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
) -> Result<Caller, Response> {
    let now = Instant::now();
    let key = client_key(peer.unwrap_or(IpAddr::from([0, 0, 0, 0])));
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    else {
        return Err(unauthorized());
    };
    let hash = token_hash(presented);
    // Every site-wide token is compared (no early exit), so timing tells nothing.
    let site_wide = state
        .tokens
        .iter()
        .fold(false, |ok, t| t.matches(presented) | ok);
    let cached = state
        .guard
        .known
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&hash)
        .cloned();
    let caller = match (site_wide, cached) {
        (true, _) => Some(Caller::SiteWide),
        (false, Some(station)) => Some(Caller::Station(station)),
        (false, None) => {
            // A token not seen yet: an address that keeps sending bad ones is held back
            // before the store is asked (a known token is never held back, so one broken
            // station cannot lock out the others behind the same address).
            let gate = state
                .guard
                .bad_tokens
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .check(&key, now);
            if let Gate::Wait(d) | Gate::Locked(d) = gate {
                return Err(too_many(
                    d,
                    "too many bad tokens from this address; wait, and check the station's sync.token_file",
                ));
            }
            match state.store.token_station(&hash).await {
                Ok(Some(station)) => {
                    let mut known = state.guard.known.lock().unwrap_or_else(|p| p.into_inner());
                    if known.len() < 65_536 {
                        known.insert(hash.clone(), station.clone());
                    }
                    Some(Caller::Station(station))
                }
                Ok(None) => None,
                Err(e) => return Err(unavailable(&e)),
            }
        }
    };
    let Some(caller) = caller else {
        let f = state
            .guard
            .bad_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failure(&key, now);
        if f.locked_out {
            tracing::warn!(client = %key, failures = f.in_a_row, lockout_s = f.wait.as_secs(),
                "head office: address locked out after bad tokens");
        } else {
            tracing::warn!(client = %key, failures = f.in_a_row, "head office: bad token");
        }
        return Err(unauthorized());
    };
    let limited = state
        .guard
        .per_token
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take(&hash, now);
    if let Err(wait) = limited {
        tracing::debug!(caller = ?caller, "head office: token over its request rate");
        return Err(too_many(
            wait,
            "this token is over head office's request rate; retry after the given time",
        ));
    }
    Ok(caller)
}

/// Why a body could not be taken.
enum BodyError {
    /// Over the limit as sent.
    TooLarge,
    /// Over the limit once decompressed.
    DecodedTooLarge,
    /// The client stopped sending.
    Stalled,
    /// Not valid gzip.
    BadGzip(String),
    Broken(String),
}

/// A writer that refuses to grow past `limit`.
struct Capped {
    buf: Vec<u8>,
    limit: usize,
}

impl std::io::Write for Capped {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                "over the decompressed limit",
            ));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How a body is encoded.
#[derive(Clone, Copy)]
enum Encoding {
    Identity,
    Gzip,
}

/// Reads a body as it arrives, decompressing on the fly, and stops as soon as it is over
/// `max_body` as sent or `max_decoded` decompressed: memory never holds more than the
/// decompressed limit, whatever the client sends.
async fn read_decoded(
    body: Body,
    encoding: Encoding,
    max_body: usize,
    max_decoded: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut body = body;
    let out = Capped {
        buf: Vec::new(),
        limit: max_decoded,
    };
    let mut gz = match encoding {
        Encoding::Gzip => Some(flate2::write::GzDecoder::new(out)),
        Encoding::Identity => None,
    };
    let mut plain = match encoding {
        Encoding::Identity => Some(Capped {
            buf: Vec::new(),
            limit: max_decoded,
        }),
        Encoding::Gzip => None,
    };
    let mut total = 0usize;
    loop {
        let frame = match tokio::time::timeout(BODY_STALL, body.frame()).await {
            Err(_) => return Err(BodyError::Stalled),
            Ok(None) => break,
            Ok(Some(f)) => f.map_err(|e| BodyError::Broken(e.to_string()))?,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > max_body {
            return Err(BodyError::TooLarge);
        }
        let written = match (&mut gz, &mut plain) {
            (Some(d), _) => d.write_all(&data),
            (_, Some(p)) => p.write_all(&data),
            _ => Ok(()),
        };
        if let Err(e) = written {
            return Err(if e.kind() == std::io::ErrorKind::FileTooLarge {
                BodyError::DecodedTooLarge
            } else {
                BodyError::BadGzip(e.to_string())
            });
        }
    }
    match (gz, plain) {
        (Some(d), _) => match d.finish() {
            Ok(c) => Ok(c.buf),
            Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => {
                Err(BodyError::DecodedTooLarge)
            }
            Err(e) => Err(BodyError::BadGzip(e.to_string())),
        },
        (_, Some(p)) => Ok(p.buf),
        _ => Ok(Vec::new()),
    }
}

/// Reads and throws away at most a little of a refused request's body.
async fn drain_a_little(body: Body) {
    let mut body = body;
    let mut seen = 0usize;
    while seen <= UNAUTHENTICATED_DRAIN {
        match tokio::time::timeout(Duration::from_secs(2), body.frame()).await {
            Ok(Some(Ok(f))) => seen += f.data_ref().map_or(0, |d| d.len()),
            _ => return,
        }
    }
}

/// A refusal for a request whose body is unread: a small body is drained so the client
/// reads the answer; a large one is cut off with the connection.
async fn refuse_unread(headers: &HeaderMap, body: Body, r: Response) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_none_or(|n| n <= UNAUTHENTICATED_DRAIN) {
        drain_a_little(body).await;
    }
    closing(r)
}

fn too_large(what: &str, limit: usize) -> Response {
    closing(error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "{what} is over head office's limit of {limit} bytes; nothing was stored — send smaller batches"
        ),
    ))
}

fn body_refusal(e: BodyError, limits: Limits) -> Response {
    match e {
        BodyError::TooLarge => too_large("the request body", limits.max_body),
        BodyError::DecodedTooLarge => too_large("the decompressed body", limits.max_decoded),
        BodyError::Stalled => closing(error(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the body stopped arriving; nothing was stored",
        )),
        BodyError::BadGzip(e) => error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the body is not valid gzip: {e}; nothing was stored"),
        ),
        BodyError::Broken(e) => closing(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("cannot read the body: {e}"),
        )),
    }
}

async fn post_records(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let caller = match authenticate(&state, &headers, peer).await {
        Ok(c) => c,
        Err(refused) => return refuse_unread(&headers, body, refused).await,
    };
    let limits = state.limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body) {
        return too_large("the request body", limits.max_body);
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let encoding = match encoding.as_str() {
        "identity" | "" => Encoding::Identity,
        "gzip" | "x-gzip" => Encoding::Gzip,
        other => {
            let r = error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Encoding \"{other}\" is not supported; send gzip or identity"),
            );
            return refuse_unread(&headers, body, r).await;
        }
    };
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-ndjson");
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let json = match mime.as_str() {
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" | "" => false,
        "application/json" => true,
        other => {
            let r = error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type \"{other}\" is not supported; send application/x-ndjson or application/json"
                ),
            );
            return refuse_unread(&headers, body, r).await;
        }
    };
    // Only a few bodies in memory at once.
    let Ok(_permit) =
        tokio::time::timeout(Duration::from_secs(20), state.guard.uploads.acquire()).await
    else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "head office is reading other uploads; retry shortly",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return refuse_unread(&headers, body, r).await;
    };
    let decoded = match read_decoded(body, encoding, limits.max_body, limits.max_decoded).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(caller = ?caller, "upload refused: body over a limit or unreadable");
            return body_refusal(e, limits);
        }
    };
    let records = match parse_batch(&decoded, json) {
        Ok(r) => r,
        Err(bad) => {
            tracing::warn!(line = bad.line, record_id = bad.record_id.as_deref().unwrap_or(""),
                error = %bad.message, "batch refused");
            let body = ErrorBody {
                error: "bad_record".into(),
                message: format!("{bad}; nothing of this batch was stored"),
                line: Some(bad.line),
                record_id: bad.record_id,
            };
            return json_response(StatusCode::BAD_REQUEST, &body);
        }
    };
    drop(decoded);
    if records.len() > limits.max_records {
        return too_large(
            &format!("a batch of {} records", records.len()),
            limits.max_records,
        );
    }
    if let Caller::Station(own) = &caller
        && let Some((line, r)) = records
            .iter()
            .enumerate()
            .find(|(_, r)| store::station_of(r) != own)
    {
        tracing::warn!(token_station = %own, record_station = %store::station_of(r),
            record_id = %r.id(), "batch refused: a record of another station");
        let body = ErrorBody {
            error: "wrong_station".into(),
            message: format!(
                "record {} is from station {}, but this token belongs to station {own}; nothing of this batch was stored",
                r.id(),
                store::station_of(r)
            ),
            line: Some(line as u64 + 1),
            record_id: Some(r.id().to_owned()),
        };
        return json_response(StatusCode::FORBIDDEN, &body);
    }
    let held: Vec<String> = records.iter().map(|r| r.id().to_owned()).collect();
    let n = records.len();
    match state.store.store_batch(records, Timestamp::now()).await {
        Ok(BatchOutcome::Stored(s)) => {
            tracing::info!(
                records = n,
                stored = s.stored,
                already_held = s.already_held,
                "batch stored"
            );
            json_response(
                StatusCode::OK,
                &Ack {
                    held,
                    stored: s.stored,
                    already_held: s.already_held,
                },
            )
        }
        Ok(BatchOutcome::Conflict { record_id }) => {
            tracing::warn!(caller = ?caller, record_id = %record_id,
                "batch refused: a record id already held with other content (kept aside in hq_conflicts)");
            let body = ErrorBody {
                error: "conflict".into(),
                message: format!(
                    "record {record_id} is already held with other content; head office keeps the first copy, set this one aside for inspection, and stored nothing of this batch"
                ),
                line: held
                    .iter()
                    .position(|h| *h == record_id)
                    .map(|i| i as u64 + 1),
                record_id: Some(record_id),
            };
            json_response(StatusCode::CONFLICT, &body)
        }
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
struct HeldRequest {
    ids: Vec<String>,
}

async fn post_held(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if let Err(refused) = authenticate(&state, &headers, peer).await {
        return refuse_unread(&headers, body, refused).await;
    }
    // 10,000 ids of a few dozen bytes each.
    let limit = state.limits.max_body.min(2 * 1024 * 1024);
    let raw = match read_decoded(body, Encoding::Identity, limit, limit).await {
        Ok(b) => b,
        Err(e) => return body_refusal(e, state.limits),
    };
    let req: HeldRequest = match serde_json::from_slice(&raw) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("expected {{\"ids\": [...]}}: {e}"),
            );
        }
    };
    if req.ids.len() > 10_000 {
        return error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "ask about at most 10000 ids at once",
        );
    }
    match state.store.held(req.ids).await {
        Ok(held) => json_response(StatusCode::OK, &json!({ "held": held })),
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
struct ManifestQuery {
    since: Option<String>,
    limit: Option<u32>,
}

async fn get_manifest(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Query(q): Query<ManifestQuery>,
) -> Response {
    if let Err(refused) = authenticate(&state, &headers, peer).await {
        return refused;
    }
    let after = match q.since.as_deref().map(str::parse::<i64>).transpose() {
        Ok(a) => a.unwrap_or(0),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_cursor",
                "`since` is not a cursor this head office gave out; leave it out to start over",
            );
        }
    };
    let limit = i64::from(q.limit.unwrap_or(1000).clamp(1, 10_000));
    match state.store.manifest_since(after, limit + 1).await {
        Ok(mut rows) => {
            let more = rows.len() as i64 > limit;
            rows.truncate(limit as usize);
            let cursor = rows.last().map_or(after, |r| r.0).to_string();
            let entries = rows
                .into_iter()
                .filter_map(|(_, body)| serde_json::from_str(&body).ok())
                .collect();
            json_response(
                StatusCode::OK,
                &ManifestPage {
                    entries,
                    cursor,
                    more,
                },
            )
        }
        Err(e) => unavailable(&e),
    }
}

async fn get_rate_card(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = authenticate(&state, &headers, peer).await {
        return refused;
    }
    match state.store.rate_card().await {
        Ok(Some((version, body))) => {
            let etag = format!("\"{version}\"");
            let matches = headers
                .get(header::IF_NONE_MATCH)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
            if matches {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            let mut r = json_response(StatusCode::OK, &RateCardDoc { version, body });
            if let Ok(v) = HeaderValue::from_str(&etag) {
                r.headers_mut().insert(header::ETAG, v);
            }
            r
        }
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            "no_rate_card",
            "head office has no rate card yet; load one with `intake hq load-rate-card`",
        ),
        Err(e) => unavailable(&e),
    }
}

/// The head-office API as an axum router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/records", post(post_records))
        .route("/v1/held", post(post_held))
        .route("/v1/manifest", get(get_manifest))
        .route("/v1/rate-card", get(get_rate_card))
        // Our own limits apply (read_decoded); axum's default 2 MB would answer first.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes, through the same guarded
/// accept loop as the dashboard (header timeouts, a connection cap within the descriptor
/// limit, quiet connections closed first under pressure).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = crate::web::conn::ConnLimits {
        max_connections: 1024,
        fd_reserve: 64,
        ..crate::web::conn::ConnLimits::default()
    };
    crate::web::conn::serve(
        listener,
        router(state),
        limits,
        None,
        Arc::new(crate::web::conn::ConnStats::default()),
        shutdown,
    )
    .await;
    Ok(())
}
