//! The operator dashboard, the JSON API, server-sent events, `/healthz`, `/readyz` and
//! `/metrics`, served by the daemon (axum) on `127.0.0.1:8080` unless `[web] listen` says
//! otherwise.
//!
//! The page is plain HTML, CSS and JavaScript built into the binary: no CDN, no build step.
//! It shows each verdict as it is stored (server-sent events from the [`Hub`] the daemon
//! reports to), the exceptions queue, device health and each scan's evidence image.
//!
//! Access: on a loopback address only this machine reaches the server, and it answers only
//! to loopback host names (so a web page elsewhere cannot rebind a name to it). On another
//! address, writes need the operator PIN from `[web] pin`, and so do reads unless
//! `[web] public_read = true` (the page itself, `/healthz` and `/readyz` stay open); wrong
//! PINs are throttled per client ([`auth::Throttle`]: growing waits, then a logged lockout,
//! counted in `/metrics`), and a browser that gave the PIN gets a session cookie for its
//! reads. Optional TLS (`[web] tls_cert`, `tls_key`). Connections are held by
//! [`conn::serve`]: header timeouts, a connection cap that leaves the station descriptors
//! of its own, quiet connections closed first under pressure. Every response carries
//! security headers; request bodies are limited to a few kilobytes; writes must be JSON
//! from the page's own origin.

pub mod access;
mod api;
pub mod auth;
pub mod config;
pub mod conn;
mod live;
pub mod metrics;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::{error, info};

pub use live::{Hub, LiveEvent, Snapshot, feed};

use crate::config::Settings;
use crate::store::{Store, StoreError};

/// The largest request body accepted (a resolution is a few hundred bytes).
pub const MAX_BODY: usize = 8 * 1024;
/// At most this many event streams (dashboards) at once.
pub const MAX_STREAMS: usize = 32;
pub use access::PIN_HEADER;
/// A write (a resolution) must arrive whole within this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Why the web server could not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("the dashboard cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

struct App {
    hub: Hub,
    /// A read-only connection: every write goes to the store actor through `records`.
    store: Mutex<Store>,
    records: crate::store::Records,
    settings: Settings,
    evidence_dir: PathBuf,
    pin_required: bool,
    read_pin_required: bool,
    access: access::Access,
    conns: Arc<conn::ConnStats>,
    sse_slots: Arc<tokio::sync::Semaphore>,
    /// The last write probe of the data folder, and when.
    probe: Mutex<Option<(std::time::Instant, Result<(), String>)>>,
}

/// What every handler gets.
type AppState = Arc<App>;

/// Every route, behind the guard.
fn router(app: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/app.js", get(app_js))
        .route("/app.css", get(app_css))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/metrics", get(api::metrics))
        .route("/api/status", get(api::status))
        .route("/api/events", get(api::events))
        .route("/api/scans", get(api::scans))
        .route("/api/exceptions", get(api::exceptions))
        .route("/api/scans/{id}", get(api::scan))
        .route("/api/scans/{id}/evidence.jpg", get(api::evidence_jpg))
        .route("/api/scans/{id}/resolution", post(api::resolution))
        .route("/api/calibrate", post(api::calibrate))
        .route("/api/login", post(login))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> Response {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn app_css() -> Response {
    asset("text/css; charset=utf-8", APP_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // The page must come from the running binary: a restarted, newer daemon serves
            // its own.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn not_found() -> Response {
    api::json_response(StatusCode::NOT_FOUND, &json!({ "error": "no such page" }))
}

fn refuse(status: StatusCode, message: &str) -> Response {
    api::json_response(status, &json!({ "error": message }))
}

/// Whether a `Host` header names this machine.
fn host_is_loopback(host: &str) -> bool {
    let name = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Checks a write's type and origin; `None` lets it through.
fn check_write(headers: &HeaderMap) -> Option<Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim() == "application/json")
        });
    if !is_json {
        return Some(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the resolution as JSON (Content-Type: application/json)",
        ));
    }
    // A page of another site may not write here (the browser sends where it comes from).
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            "writes from another site are refused",
        ));
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let same = origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
        if !same {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                "writes from another origin are refused",
            ));
        }
    }
    None
}

/// Paths anyone who reaches the server may read: the page itself (it asks for the PIN)
/// and the liveness and readiness probes (no parcel data).
fn open_to_all(path: &str) -> bool {
    matches!(
        path,
        "/" | "/app.js" | "/app.css" | "/healthz" | "/readyz" | "/favicon.ico"
    )
}

/// Host check, PIN checks and security headers, around every request.
async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let now = std::time::Instant::now();
    let write = req.method() != Method::GET && req.method() != Method::HEAD;
    let mut resp = if !app.pin_required && !host_is_loopback(host) {
        refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard listens on a loopback address; open it as http://127.0.0.1 or http://localhost",
        )
    } else if write {
        let checked = match check_write(req.headers()) {
            Some(refused) => Err(refused),
            None if app.pin_required => app
                .access
                .check(req.headers(), peer, now, false)
                .map(drop)
                .map_err(IntoResponse::into_response),
            None => Ok(()),
        };
        match checked {
            Err(refused) => refused,
            Ok(()) => match tokio::time::timeout(WRITE_TIMEOUT, next.run(req)).await {
                Ok(r) => r,
                Err(_) => refuse(
                    StatusCode::REQUEST_TIMEOUT,
                    "the request did not arrive in time; send it again",
                ),
            },
        }
    } else if app.read_pin_required && !open_to_all(req.uri().path()) {
        match app.access.check(req.headers(), peer, now, true) {
            Err(refused) => refused.into_response(),
            Ok(_) => next.run(req).await,
        }
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, "content-security-policy", CSP);
    set(h, "x-content-type-options", "nosniff");
    set(h, "x-frame-options", "DENY");
    set(h, "referrer-policy", "no-referrer");
    set(h, "cross-origin-opener-policy", "same-origin");
    set(h, "cross-origin-resource-policy", "same-origin");
    set(
        h,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=(), usb=(), serial=()",
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, "cache-control", "no-store");
    }
    resp
}

/// `POST /api/login` with the PIN (checked by the guard): a session cookie for this
/// browser's reads and event stream.
async fn login(State(app): State<AppState>, req: Request) -> Response {
    let tls = req.extensions().get::<conn::Tls>().is_some_and(|t| t.0);
    let id = app.access.open_session(std::time::Instant::now());
    let mut r = api::json_response(
        StatusCode::OK,
        &json!({ "session": "open", "expires_in_s": access::SESSION_TTL.as_secs() }),
    );
    if let Ok(v) = HeaderValue::from_str(&access::session_cookie(&id, tls)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// The dashboard's own counters for `/metrics`: failed PINs, lockouts, refused and
/// closed-for-room connections.
fn security_counters(app: &App) -> metrics::WebSecurity {
    use std::sync::atomic::Ordering::Relaxed;
    metrics::WebSecurity {
        pin_failures: app.access.stats.failures.load(Relaxed),
        lockouts: app.access.stats.lockouts.load(Relaxed),
        connections_refused: app.conns.refused.load(Relaxed),
        connections_evicted: app.conns.evicted.load(Relaxed),
    }
}

/// The running web server.
pub struct WebServer {
    hub: Hub,
    task: JoinHandle<()>,
}

impl WebServer {
    /// Starts serving on `[web] listen`. The store is read on a read-only connection of
    /// its own; resolutions are sent to the store actor. A port that cannot be bound is logged and retried every few
    /// seconds: the station weighs and judges without its dashboard.
    pub fn start(
        settings: &Settings,
        hub: Hub,
        records: crate::store::Records,
    ) -> Result<WebServer, WebError> {
        let listen = settings.web.listen;
        let store = Store::open_read_only(&settings.db_path())?;
        let tls = match &settings.web.tls {
            Some(files) => Some(tls::acceptor(
                &config_relative(settings, &files.cert),
                &config_relative(settings, &files.key),
            )?),
            None => None,
        };
        let app = Arc::new(App {
            hub: hub.clone(),
            store: Mutex::new(store),
            records,
            evidence_dir: crate::daemon::evidence::dir_in(&settings.data_dir),
            pin_required: settings.web.pin_required(),
            read_pin_required: settings.web.read_pin_required(),
            access: access::Access::new(settings.web.pin.clone(), auth::ThrottlePolicy::default()),
            conns: Arc::new(conn::ConnStats::default()),
            settings: settings.clone(),
            sse_slots: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
            probe: Mutex::new(None),
        });
        let task = tokio::spawn(serve(listen, app, tls));
        Ok(WebServer { hub, task })
    }

    /// Ends the event streams and stops serving.
    pub async fn stop(self) {
        self.hub.close();
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// A path from the config: relative to the config file's folder.
fn config_relative(settings: &Settings, p: &std::path::Path) -> PathBuf {
    match &settings.source {
        crate::config::Source::File(cfg) if p.is_relative() => {
            cfg.parent().map_or_else(|| p.to_path_buf(), |d| d.join(p))
        }
        _ => p.to_path_buf(),
    }
}

async fn serve(listen: SocketAddr, app: AppState, tls: Option<tokio_rustls::TlsAcceptor>) {
    let hub = app.hub.clone();
    let mut logged = false;
    let listener = loop {
        match tokio::net::TcpListener::bind(listen).await {
            Ok(l) => break l,
            Err(e) => {
                if !logged {
                    error!(
                        listen = %listen,
                        error = %e,
                        "the dashboard cannot listen (is another intake running?); the station runs without it and retries every 5 s — set [web] listen or --listen to another port"
                    );
                    logged = true;
                }
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = hub.wait_closed() => return,
                }
            }
        }
    };
    let addr = listener.local_addr().unwrap_or(listen);
    let scheme = if tls.is_some() { "https" } else { "http" };
    info!(url = %format!("{scheme}://{addr}/"), "dashboard listening");
    let closed = hub.clone();
    let limits = conn::ConnLimits {
        max_connections: app.settings.web.max_connections,
        ..conn::ConnLimits::default()
    };
    let stats = app.conns.clone();
    conn::serve(listener, router(app), limits, tls, stats, async move {
        closed.wait_closed().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_host_names() {
        for h in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.1.2.3",
        ] {
            assert!(host_is_loopback(h), "{h}");
        }
        for h in [
            "",
            "evil.example:8080",
            "10.0.0.5:8080",
            "[::2]:80",
            "localhost.evil:80",
        ] {
            assert!(!host_is_loopback(h), "{h}");
        }
    }
}
