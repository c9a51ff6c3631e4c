//! The JSON API, the event stream and the operations endpoints. Store access runs on the
//! blocking pool through one connection of the web server's own (WAL lets it read while
//! the daemon writes).

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::Stream;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::warn;

use super::{AppState, metrics};
use crate::daemon::evidence;
use crate::decide::{ResolutionRequest, ResolveError, needs_operator};
use crate::rules::Disposition;
use crate::scan::ScanRecord;
use crate::store::actor::ResolveFailed;
use crate::store::outbox::{ACTOR_OPERATOR, Resolution};
use crate::store::{ScanFilter, Store, StoreError};
use crate::sync::wire::resolution_to_wire;

/// The exceptions queue shows the scans of this last stretch of time (a shift and more).
const QUEUE_WINDOW: SignedDuration = SignedDuration::from_hours(24);
const QUEUE_MAX: usize = 100;
const SCANS_MAX: usize = 500;

/// An error answered as `{"error": "..."}` with its status.
#[derive(Debug)]
pub(super) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("no {what}"))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        warn!(error = %e, "store error in the web server");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status, &json!({ "error": self.message }))
    }
}

pub(super) fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// Runs `f` on the web server's store connection, off the async threads.
async fn db<T, F>(app: &AppState, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&mut Store, &AppState) -> Result<T, ApiError> + Send + 'static,
{
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let mut store = app.store.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut store, &app)
    })
    .await
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request failed: {e}"),
        )
    })?
}

/// A scan as the API and the dashboard show it: the stored record, its words for people,
/// its resolutions and whether it has an evidence image.
pub(super) fn scan_json(rec: &ScanRecord, resolutions: &[Resolution], has_evidence: bool) -> Value {
    let mut v = rec.to_json();
    let resolved = resolutions.iter().any(|r| r.actor == ACTOR_OPERATOR);
    if let Some(m) = v.as_object_mut() {
        m.insert("headline".into(), json!(rec.disposition.headline()));
        m.insert("light".into(), json!(rec.disposition.light()));
        m.insert(
            "reasons_words".into(),
            json!(rec.reasons.iter().map(|r| r.words()).collect::<Vec<_>>()),
        );
        m.insert(
            "evidence_url".into(),
            if has_evidence {
                json!(format!("/api/scans/{}/evidence.jpg", rec.id))
            } else {
                Value::Null
            },
        );
        m.insert(
            "resolutions".into(),
            Value::Array(
                resolutions
                    .iter()
                    .map(|r| resolution_to_wire(r, &rec.station_id))
                    .collect(),
            ),
        );
        m.insert(
            "needs_operator".into(),
            json!(needs_operator(rec.disposition) && !resolved),
        );
    }
    v
}

fn has_evidence(app: &AppState, id: &str) -> bool {
    evidence::path_for(&app.evidence_dir, id).is_some_and(|p| p.is_file())
}

/// The newest scans, newest first, looking back as far as needed for `limit` of them.
fn recent_scans(
    store: &Store,
    limit: usize,
    disposition: Option<Disposition>,
    now: Timestamp,
) -> Result<Vec<ScanRecord>, StoreError> {
    let windows = [
        Some(SignedDuration::from_hours(1)),
        Some(SignedDuration::from_hours(24)),
        Some(SignedDuration::from_hours(24 * 7)),
        None,
    ];
    for w in windows {
        let since = w.and_then(|w| now.checked_sub(w).ok());
        let mut rows = store.scans(&ScanFilter {
            since,
            disposition,
            limit: None,
        })?;
        if rows.len() >= limit || since.is_none() {
            let skip = rows.len().saturating_sub(limit);
            rows.drain(..skip);
            rows.reverse();
            return Ok(rows);
        }
    }
    Ok(Vec::new())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScansQuery {
    limit: Option<usize>,
    disposition: Option<String>,
}

pub(super) async fn scans(
    State(app): State<AppState>,
    Query(q): Query<ScansQuery>,
) -> Result<Response, ApiError> {
    let limit = q.limit.unwrap_or(50).clamp(1, SCANS_MAX);
    let disposition = q
        .disposition
        .map(|d| d.parse::<Disposition>())
        .transpose()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    db(&app, move |store, app| {
        let rows = recent_scans(store, limit, disposition, Timestamp::now())?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let res = store.resolutions_of(&r.id)?;
            out.push(scan_json(r, &res, has_evidence(app, &r.id)));
        }
        Ok(ok(&json!({ "scans": out })))
    })
    .await
}

pub(super) async fn scan(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    db(&app, move |store, app| {
        let rec = store
            .scan(&id)?
            .ok_or_else(|| ApiError::not_found("such scan"))?;
        let res = store.resolutions_of(&id)?;
        Ok(ok(&scan_json(&rec, &res, has_evidence(app, &id))))
    })
    .await
}

pub(super) async fn exceptions(State(app): State<AppState>) -> Result<Response, ApiError> {
    db(&app, move |store, app| {
        let now = Timestamp::now();
        let since = now.checked_sub(QUEUE_WINDOW).ok();
        let scans = store.scans(&ScanFilter {
            since,
            disposition: None,
            limit: None,
        })?;
        let resolved: std::collections::BTreeSet<String> = store
            .resolutions(since)?
            .into_iter()
            .filter(|r| r.actor == ACTOR_OPERATOR)
            .map(|r| r.scan_id)
            .collect();
        let open: Vec<Value> = scans
            .iter()
            .rev()
            .filter(|s| needs_operator(s.disposition) && !resolved.contains(&s.id))
            .take(QUEUE_MAX)
            .map(|s| scan_json(s, &[], has_evidence(app, &s.id)))
            .collect();
        Ok(ok(&json!({
            "window_hours": QUEUE_WINDOW.as_hours(),
            "exceptions": open,
        })))
    })
    .await
}

pub(super) async fn evidence_jpg(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let path = evidence::path_for(&app.evidence_dir, &id)
        .ok_or_else(|| ApiError::not_found("such scan"))?;
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok((
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                // A scan's evidence never changes.
                (
                    header::CACHE_CONTROL,
                    "private, max-age=31536000, immutable",
                ),
            ],
            bytes,
        )
            .into_response()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(
            "evidence image for this scan (none was taken, or it is older than the retention)",
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("cannot read the evidence image: {e}"),
        )),
    }
}

pub(super) async fn resolution(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: ResolutionRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body is not a resolution ({e}); send {{\"action\":\"waybill\",\"waybill\":\"EE123456785GB\"}} or {{\"action\":\"confirm\"}}"
            ),
        )
    })?;
    let r = app.records.resolve(&id, req).await.map_err(|e| match e {
        ResolveFailed::NoSuchScan(_) => ApiError::not_found("such scan"),
        ResolveFailed::Refused(e) => {
            let status = match e {
                ResolveError::AlreadyResolved { .. } | ResolveError::AlreadyFlagged { .. } => {
                    StatusCode::CONFLICT
                }
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            ApiError::new(status, e.to_string())
        }
        ResolveFailed::Store(e) => e.into(),
    })?;
    Ok(json_response(
        StatusCode::CREATED,
        &resolution_to_wire(&r, &app.settings.station_id),
    ))
}

/// `POST /api/calibrate` (`{}` or `{"samples": N}`): the running station calibrates its empty
/// station, as `intake calibrate` does with the daemon stopped. A write: it needs the PIN
/// off loopback like any other.
pub(super) async fn calibrate(
    State(app): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Ask {
        samples: Option<usize>,
    }
    let ask: Ask = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "the body is not a calibration request ({e}); send {{}} or {{\"samples\": 25}}"
            ),
        )
    })?;
    if ask.samples.is_some_and(|n| !(3..=500).contains(&n)) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "samples must be 3 to 500",
        ));
    }
    match app.hub.calibrate(ask.samples, "dashboard").await {
        Ok(c) => Ok(json_response(
            StatusCode::CREATED,
            &crate::store::calibration::calibration_content(&c),
        )),
        Err(why) => Err(ApiError::new(StatusCode::CONFLICT, why)),
    }
}

/// What stands between the station and ready, in words (empty: ready).
fn readiness(app: &AppState, store_ok: Result<(), String>) -> Vec<String> {
    let snap = app.hub.snapshot();
    let mut problems = Vec::new();
    match &snap.status {
        None => problems.push("the station has not started yet".to_owned()),
        Some(_) if snap.stopped => problems.push("the station is stopped".to_owned()),
        Some(doc) => {
            for (name, h) in &doc.devices {
                if !h.ok {
                    problems.push(format!(
                        "{name}: {}",
                        h.detail.as_deref().unwrap_or("not working")
                    ));
                }
            }
        }
    }
    if let Err(e) = store_ok {
        problems.push(format!("store: {e}"));
    }
    problems
}

/// How long a write probe of the data folder counts (probes wear an SD card: scrapers and
/// health checks ask every few seconds).
const PROBE_VALID: Duration = Duration::from_secs(30);

/// The store answers and its folder takes a write (disk not full, not read-only).
fn store_check(store: &Store, app: &AppState) -> Result<(), String> {
    store.outbox_depth().map_err(|e| e.to_string())?;
    let mut last = app.probe.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, result)) = &*last
        && at.elapsed() < PROBE_VALID
    {
        return result.clone();
    }
    let probe = app.settings.data_dir.join(".ready-probe");
    let result = std::fs::write(&probe, b"ok")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "cannot write in {}: {e}; free disk space or fix the permissions",
                app.settings.data_dir.display()
            )
        });
    *last = Some((std::time::Instant::now(), result.clone()));
    result
}

pub(super) async fn healthz() -> Response {
    ok(&json!({ "status": "alive" }))
}

pub(super) async fn readyz(State(app): State<AppState>) -> Result<Response, ApiError> {
    let store_ok = db(&app, |store, app| Ok(store_check(store, app))).await?;
    let problems = readiness(&app, store_ok);
    let status = if problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok(json_response(
        status,
        &json!({ "ready": problems.is_empty(), "problems": problems }),
    ))
}

struct StoreFacts {
    outbox: u64,
    last_sync: Option<Timestamp>,
    check: Result<(), String>,
}

async fn store_facts(app: &AppState) -> Result<StoreFacts, ApiError> {
    db(app, |store, app| {
        Ok(StoreFacts {
            outbox: store.outbox_depth()?,
            last_sync: store.last_upload_ok()?,
            check: store_check(store, app),
        })
    })
    .await
}

pub(super) async fn metrics(State(app): State<AppState>) -> Result<Response, ApiError> {
    let facts = store_facts(&app).await?;
    let snap = app.hub.snapshot();
    let ready = readiness(&app, facts.check).is_empty();
    let g = metrics::Gauges {
        outbox_records: Some(facts.outbox),
        sync_age_seconds: facts
            .last_sync
            .map(|t| (Timestamp::now() - t).as_secs_f64()),
        devices_up: snap
            .status
            .as_ref()
            .map(|d| d.devices.iter().map(|(n, h)| (n.clone(), h.ok)).collect())
            .unwrap_or_default(),
        evidence_files: snap.evidence.files,
        evidence_bytes: snap.evidence.bytes,
        ready,
        web: super::security_counters(&app),
    };
    Ok((
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        app.hub.metrics().render(&g),
    )
        .into_response())
}

pub(super) async fn status(State(app): State<AppState>) -> Result<Response, ApiError> {
    let facts = store_facts(&app).await?;
    let snap = app.hub.snapshot();
    let problems = readiness(&app, facts.check);
    Ok(ok(&json!({
        "station_id": app.settings.station_id,
        "version": env!("CARGO_PKG_VERSION"),
        "web_started_at": app.hub.started_at().to_string(),
        "daemon": snap.status,
        "stopped": snap.stopped,
        "ready": problems.is_empty(),
        "problems": problems,
        "outbox_depth": facts.outbox,
        "sync_configured": app.settings.sync.is_some(),
        "last_sync_at": facts.last_sync.map(|t| t.to_string()),
        "evidence": snap.evidence,
        "pin_required": app.pin_required,
        "limits": {
            "max_weight_lb": (app.settings.policy.limits.max_weight.lb() * 100.0).round() / 100.0,
            "max_side_in": (app.settings.policy.limits.max_side.inches() * 100.0).round() / 100.0,
        },
    })))
}

/// How far back a reconnecting dashboard's `Last-Event-ID` is replayed from the store.
const REPLAY_MAX: u64 = 10_000;

/// The store event as the dashboard gets it: numbered (`id:`), so a page that reconnects
/// with `Last-Event-ID` gets what it missed.
fn store_event(app: &AppState, ev: &crate::store::Event) -> Event {
    use crate::store::EventKind;
    let data = match &ev.kind {
        EventKind::ScanCommitted(rec) => scan_json(rec, &[], has_evidence(app, &rec.id)),
        EventKind::ResolutionRecorded(r) => resolution_to_wire(r, &app.settings.station_id),
        other => other.detail(),
    };
    Event::default()
        .id(ev.seq.to_string())
        .event(ev.kind.name())
        .data(data.to_string())
}

/// The live event stream: a `hello`, then every store event (numbered, each once, in
/// order) and the hub's live device news, until the daemon stops. The browser's
/// EventSource reconnects by itself (after `retry`), also to a restarted daemon, and its
/// `Last-Event-ID` brings back what it missed.
pub(super) async fn events(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let permit = app.sse_slots.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many dashboards are open on this station; close one",
        )
    })?;
    let hello = Event::default()
        .event("hello")
        .retry(Duration::from_secs(2))
        .data(
            json!({
                "station_id": app.settings.station_id,
                "web_started_at": app.hub.started_at().to_string(),
                "event": app.records.head(),
            })
            .to_string(),
        );
    let last_seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let store = match last_seen {
        Some(n) => app
            .records
            .subscribe_after(n.max(app.records.head().saturating_sub(REPLAY_MAX))),
        None => app.records.subscribe(),
    };
    struct St {
        rx: tokio::sync::broadcast::Receiver<super::LiveEvent>,
        store: crate::store::Subscription,
        app: AppState,
        hello: Option<Event>,
        _permit: tokio::sync::OwnedSemaphorePermit,
    }
    let st = St {
        rx: app.hub.subscribe(),
        store,
        app: app.clone(),
        hello: Some(hello),
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(st, |mut st| async move {
        if let Some(h) = st.hello.take() {
            return Some((Ok(h), st));
        }
        use tokio::sync::broadcast::error::RecvError;
        let hub = st.app.hub.clone();
        let ev = tokio::select! {
            () = hub.wait_closed() => return None,
            ev = st.store.next() => match ev {
                Some(ev) => store_event(&st.app, &ev),
                None => return None,
            },
            r = st.rx.recv() => match r {
                Ok(ev) => Event::default().event(ev.name).data(ev.data),
                // Live device news only (status, evidence): the next one tells the same.
                Err(RecvError::Lagged(n)) => Event::default().event("lagged").data(n.to_string()),
                Err(RecvError::Closed) => return None,
            },
        };
        Some((Ok(ev), st))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
