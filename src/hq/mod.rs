//! The reference head-office receiver (`intake hq serve`): the server side of
//! `docs/openapi.yaml`, with its own store ([`store::HqStore`]: SQLite or PostgreSQL), so a
//! site can run the whole system and the tests can run against the real protocol.
//!
//! Bad input is refused whole: a wrong token is 401 before the body is looked at; a
//! malformed batch is 400 naming the first bad record, with nothing stored; a request over
//! the size limits is 413.

pub mod store;

use std::io::Read;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::json;

use crate::sync::token::Token;
use crate::sync::wire::{Ack, ErrorBody, ManifestPage, RateCardDoc, parse_batch};
pub use store::{HqStore, HqStoreError};

/// Limits on what one request may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes on the wire (compressed, if it is).
    pub max_body: usize,
    /// Bytes after decompression.
    pub max_decoded: usize,
    /// Records in one batch.
    pub max_records: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 16 * 1024 * 1024,
            max_decoded: 128 * 1024 * 1024,
            max_records: 10_000,
        }
    }
}

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: HqStore,
    pub tokens: Arc<Vec<Token>>,
    pub limits: Limits,
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
        "no valid bearer token; send `Authorization: Bearer <token>` with this site's token",
    );
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
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

fn authorised(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(presented) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Check every token (no early exit), so timing tells nothing about which matched.
    state
        .tokens
        .iter()
        .fold(false, |ok, t| t.matches(presented.trim()) | ok)
}

enum BodyError {
    TooLarge,
    Broken(String),
}

/// Reads the body up to `limit` bytes. Past the limit it keeps reading (and dropping) up to
/// four times the limit, so the client gets its 413 instead of a reset connection.
async fn read_body(body: Body, limit: usize) -> Result<Vec<u8>, BodyError> {
    let mut body = body;
    let mut buf = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Broken(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total <= limit {
                buf.extend_from_slice(&data);
            } else if total > limit.saturating_mul(4) {
                break;
            }
        }
    }
    if total > limit {
        return Err(BodyError::TooLarge);
    }
    Ok(buf)
}

fn too_large(what: &str, limit: usize) -> Response {
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!(
            "{what} is over head office's limit of {limit}; nothing was stored — send smaller batches"
        ),
    )
}

async fn post_records(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !authorised(&state, &headers) {
        // Drain (bounded) so the client reads the 401 rather than a reset.
        let _ = read_body(body, state.limits.max_body).await;
        tracing::warn!("upload refused: no valid token");
        return unauthorized();
    }
    let limits = state.limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limits.max_body.saturating_mul(4)) {
        return too_large("the request body", limits.max_body);
    }
    let raw = match read_body(body, limits.max_body).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => return too_large("the request body", limits.max_body),
        Err(BodyError::Broken(e)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("cannot read the body: {e}"),
            );
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    let decoded = match encoding.as_str() {
        "identity" | "" => {
            if raw.len() > limits.max_decoded {
                return too_large("the decompressed body", limits.max_decoded);
            }
            raw
        }
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            let mut dec =
                flate2::read::GzDecoder::new(&raw[..]).take(limits.max_decoded as u64 + 1);
            if let Err(e) = dec.read_to_end(&mut out) {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the body is not valid gzip: {e}; nothing was stored"),
                );
            }
            if out.len() > limits.max_decoded {
                return too_large("the decompressed body", limits.max_decoded);
            }
            out
        }
        other => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("Content-Encoding \"{other}\" is not supported; send gzip or identity"),
            );
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
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type \"{other}\" is not supported; send application/x-ndjson or application/json"
                ),
            );
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
    if records.len() > limits.max_records {
        return too_large(
            &format!("a batch of {} records", records.len()),
            limits.max_records,
        );
    }
    let held: Vec<String> = records.iter().map(|r| r.id().to_owned()).collect();
    let n = records.len();
    match state.store.store_batch(records, Timestamp::now()).await {
        Ok(s) => {
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
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
struct HeldRequest {
    ids: Vec<String>,
}

async fn post_held(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !authorised(&state, &headers) {
        let _ = read_body(body, state.limits.max_body).await;
        return unauthorized();
    }
    let raw = match read_body(body, state.limits.max_body).await {
        Ok(b) => b,
        Err(_) => return too_large("the request body", state.limits.max_body),
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
    headers: HeaderMap,
    Query(q): Query<ManifestQuery>,
) -> Response {
    if !authorised(&state, &headers) {
        return unauthorized();
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

async fn get_rate_card(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !authorised(&state, &headers) {
        return unauthorized();
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
        // Our own limits apply (read_body); axum's default 2 MB would answer first.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

/// Serves the API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
