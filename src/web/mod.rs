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
//! address, write actions need the operator PIN from `[web] pin`. Every response carries
//! security headers; request bodies are limited to a few kilobytes; writes must be JSON from
//! the page's own origin.

mod api;
pub mod config;
mod live;
pub mod metrics;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
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
/// The header write actions carry the operator PIN in.
pub const PIN_HEADER: &str = "x-intake-pin";

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
}

struct App {
    hub: Hub,
    /// A read-only connection: every write goes to the store actor through `records`.
    store: Mutex<Store>,
    records: crate::store::Records,
    settings: Settings,
    evidence_dir: PathBuf,
    pin_required: bool,
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

/// Checks a write's origin and PIN; `None` lets it through.
fn check_write(app: &App, headers: &HeaderMap) -> Option<Response> {
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
    if app.pin_required {
        let given = headers
            .get(PIN_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let good = app
            .settings
            .web
            .pin
            .as_ref()
            .is_some_and(|p| p.matches(given));
        if !good {
            return Some(refuse(
                StatusCode::UNAUTHORIZED,
                "this station needs the operator PIN for that; type it when the dashboard asks",
            ));
        }
    }
    None
}

/// Host check, write checks and security headers, around every request.
async fn guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut resp = if !app.pin_required && !host_is_loopback(host) {
        refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this dashboard listens on a loopback address; open it as http://127.0.0.1 or http://localhost",
        )
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        match check_write(&app, req.headers()) {
            Some(refused) => refused,
            None => next.run(req).await,
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
        let app = Arc::new(App {
            hub: hub.clone(),
            store: Mutex::new(store),
            records,
            evidence_dir: crate::daemon::evidence::dir_in(&settings.data_dir),
            pin_required: !listen.ip().is_loopback(),
            settings: settings.clone(),
            sse_slots: Arc::new(tokio::sync::Semaphore::new(MAX_STREAMS)),
            probe: Mutex::new(None),
        });
        let task = tokio::spawn(serve(listen, app));
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

async fn serve(listen: SocketAddr, app: AppState) {
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
    info!(url = %format!("http://{addr}/"), "dashboard listening");
    let closed = hub.clone();
    let served = axum::serve(listener, router(app))
        .with_graceful_shutdown(async move { closed.wait_closed().await })
        .await;
    if let Err(e) = served {
        error!(error = %e, "the dashboard stopped");
    }
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
