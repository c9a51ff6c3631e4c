//! The dashboard's doorman: checks a presented PIN (or token) against `[web] pin` under the
//! [`Throttle`](super::auth::Throttle), logs and counts failures and lockouts, and hands a
//! browser that gave the right PIN a session cookie so its reads (and the event stream,
//! which cannot carry headers) need no PIN on every request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{Gate, Throttle, ThrottlePolicy, client_key};
use super::config::Pin;

/// The header a PIN is sent in (the page's writes, scripts).
pub const PIN_HEADER: &str = "x-intake-pin";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "intake_session";
/// How long a session lasts (a shift and then some).
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Most sessions at once; the oldest goes first.
const MAX_SESSIONS: usize = 256;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct AccessStats {
    pub failures: AtomicU64,
    pub lockouts: AtomicU64,
}

/// PIN checks, throttling and sessions.
pub struct Access {
    pin: Option<Pin>,
    throttle: Mutex<Throttle<IpAddr>>,
    sessions: Mutex<HashMap<String, Instant>>,
    pub stats: AccessStats,
}

/// Why a request was turned away (the response is made from it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: &'static str,
    /// When the client may try again (`Retry-After`).
    pub retry_after: Option<Duration>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut r = super::api::json_response(self.status, &json!({ "error": self.message }));
        if let Some(d) = self.retry_after {
            // Whole seconds, rounded up (RFC 9110 §10.2.3).
            let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        r
    }
}

fn refuse(status: StatusCode, message: &'static str, retry_after: Option<Duration>) -> Refusal {
    Refusal {
        status,
        message,
        retry_after,
    }
}

/// How a request proved itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    Pin,
    Session,
}

impl Access {
    pub fn new(pin: Option<Pin>, policy: ThrottlePolicy) -> Access {
        Access {
            pin,
            throttle: Mutex::new(Throttle::new(policy)),
            sessions: Mutex::new(HashMap::new()),
            stats: AccessStats::default(),
        }
    }

    /// Checks the request's session cookie, or else the PIN it presents (header
    /// `X-Intake-Pin`, or `Authorization: Bearer`), throttled per client. `allow_session`
    /// is false for writes, which must carry the PIN itself.
    pub fn check(
        &self,
        headers: &HeaderMap,
        peer: Option<IpAddr>,
        now: Instant,
        allow_session: bool,
    ) -> Result<Proof, Refusal> {
        if allow_session && self.session_valid(headers, now) {
            return Ok(Proof::Session);
        }
        let Some(given) = presented(headers) else {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "this station needs the operator PIN for that; type it when the dashboard asks",
                None,
            ));
        };
        // Without a peer (not served through our accept loop) every request counts as
        // one client: stricter, never looser.
        let key = client_key(peer.unwrap_or(IpAddr::from([0, 0, 0, 0])));
        let mut throttle = self.throttle.lock().unwrap_or_else(|p| p.into_inner());
        // A held-back client's guess is not even looked at.
        match throttle.check(&key, now) {
            Gate::Open => {}
            Gate::Wait(d) => {
                return Err(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many wrong PINs; wait before trying again",
                    Some(d),
                ));
            }
            Gate::Locked(d) => {
                return Err(refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many wrong PINs: locked out for a while; ask the supervisor for the PIN",
                    Some(d),
                ));
            }
        }
        if self.pin.as_ref().is_some_and(|p| p.matches(given)) {
            throttle.success(&key);
            return Ok(Proof::Pin);
        }
        let f = throttle.failure(&key, now);
        drop(throttle);
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        let client = peer.map(|p| p.to_string()).unwrap_or_default();
        if f.locked_out {
            self.stats.lockouts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                client = %client,
                failures = f.in_a_row,
                lockout_s = f.wait.as_secs(),
                "dashboard: client locked out after wrong PINs"
            );
        } else {
            tracing::warn!(
                client = %client,
                failures = f.in_a_row,
                wait_s = f.wait.as_secs(),
                "dashboard: wrong PIN"
            );
        }
        Err(refuse(
            StatusCode::UNAUTHORIZED,
            "wrong PIN",
            (!f.wait.is_zero()).then_some(f.wait),
        ))
    }

    /// Opens a session (after a PIN check passed): the cookie value to set.
    pub fn open_session(&self, now: Instant) -> String {
        let mut bytes = [0u8; 16];
        rand::fill(&mut bytes);
        let id: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.retain(|_, until| *until > now);
        if s.len() >= MAX_SESSIONS
            && let Some(oldest) = s.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone())
        {
            s.remove(&oldest);
        }
        s.insert(id.clone(), now + SESSION_TTL);
        id
    }

    fn session_valid(&self, headers: &HeaderMap, now: Instant) -> bool {
        let Some(id) = cookie(headers, SESSION_COOKIE) else {
            return false;
        };
        let s = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        s.get(id).is_some_and(|until| *until > now)
    }
}

/// The PIN a request presents, if any.
fn presented(headers: &HeaderMap) -> Option<&str> {
    if let Some(p) = headers.get(PIN_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(p.trim());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// A cookie's value.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The `Set-Cookie` value for a session.
pub fn session_cookie(id: &str, tls: bool) -> String {
    format!(
        "{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_TTL.as_secs(),
        if tls { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(p: &str) -> Pin {
        crate::web::config::WebConfig {
            listen: "0.0.0.0:1".into(),
            pin: Some(p.into()),
            ..Default::default()
        }
        .validate()
        .unwrap()
        .pin
        .unwrap()
    }

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn a_pin_a_bearer_token_or_a_session() {
        let a = Access::new(Some(pin("4821")), ThrottlePolicy::default());
        let now = Instant::now();
        let ip = Some(IpAddr::from([10, 0, 0, 9]));
        assert_eq!(
            a.check(&with(PIN_HEADER, "4821"), ip, now, false).ok(),
            Some(Proof::Pin)
        );
        assert_eq!(
            a.check(&with("authorization", "Bearer 4821"), ip, now, false)
                .ok(),
            Some(Proof::Pin)
        );
        let none = a.check(&HeaderMap::new(), ip, now, true).unwrap_err();
        assert_eq!(none.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            a.stats.failures.load(Ordering::Relaxed),
            0,
            "no PIN is no guess"
        );
        let id = a.open_session(now);
        let c = with("cookie", &format!("a=b; {SESSION_COOKIE}={id}"));
        assert_eq!(a.check(&c, ip, now, true).ok(), Some(Proof::Session));
        assert!(a.check(&c, ip, now, false).is_err(), "writes need the PIN");
        assert!(a.check(&c, ip, now + SESSION_TTL, true).is_err(), "expired");
        let forged = with("cookie", &format!("{SESSION_COOKIE}=00"));
        assert!(a.check(&forged, ip, now, true).is_err());
        assert!(session_cookie(&id, true).ends_with("; Secure"));
    }

    #[test]
    fn guessing_is_throttled_logged_and_counted() {
        let a = Access::new(Some(pin("4821")), ThrottlePolicy::default());
        let now = Instant::now();
        let ip = Some(IpAddr::from([10, 0, 0, 9]));
        let other = Some(IpAddr::from([10, 0, 0, 10]));
        for _ in 0..3 {
            let r = a
                .check(&with(PIN_HEADER, "0000"), ip, now, false)
                .unwrap_err();
            assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        }
        // Held back now: even the right PIN is not looked at.
        let r = a
            .check(&with(PIN_HEADER, "4821"), ip, now, false)
            .unwrap_err();
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.into_response().headers()[header::RETRY_AFTER], "5");
        // Another client is not.
        assert!(
            a.check(&with(PIN_HEADER, "4821"), other, now, false)
                .is_ok()
        );
        let mut t = now;
        for _ in 0..2 {
            t += Duration::from_secs(60);
            let _ = a.check(&with(PIN_HEADER, "0000"), ip, t, false);
        }
        assert_eq!(a.stats.failures.load(Ordering::Relaxed), 5);
        assert_eq!(a.stats.lockouts.load(Ordering::Relaxed), 1);
        let r = a
            .check(
                &with(PIN_HEADER, "4821"),
                ip,
                t + Duration::from_secs(60),
                false,
            )
            .unwrap_err();
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.into_response().headers()[header::RETRY_AFTER], "840");
    }
}
