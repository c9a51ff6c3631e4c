//! The only code that speaks HTTP to head office: one blocking call per protocol operation
//! (`docs/openapi.yaml`), over rustls for https. What to send and when is decided elsewhere
//! ([`super::plan`], [`super::schedule`]); driving the calls is [`super::run`].

use std::io::Read;
use std::time::Duration;

use super::token::Token;
use super::wire::{Ack, ErrorBody, ManifestPage, RateCardDoc};
use crate::store::StoreError;

/// What went wrong talking to head office, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "head office refused the token (401); check that sync.token_file holds this site's current token"
    )]
    Unauthorized,
    #[error(
        "head office refused a batch as malformed: {message}; nothing of it was stored. This is a bug in the station or head office — report it with this message"
    )]
    Rejected { message: String },
    #[error(
        "head office refused a batch as a changed replay (409): {message}; records it already holds came again with other content, so sending it again cannot succeed. Nothing of the batch was stored; the outbox is kept. Compare the station's record with head office's, and report it"
    )]
    Conflict { message: String },
    #[error("head office says the request is too large (413) even for one record: {message}")]
    TooLarge { message: String },
    #[error("head office did not answer ({detail}); will retry")]
    Unavailable { detail: String },
    #[error("head office answered something this station does not understand: {0}")]
    Protocol(String),
    #[error(
        "gave up after {waited:?} without progress; the last problem: {last}. The outbox is kept: run `intake sync` again later"
    )]
    GaveUp { waited: Duration, last: String },
    #[error("stopped before the sync finished; the outbox is kept and the next sync resumes")]
    Stopped,
    #[error(transparent)]
    Token(#[from] super::token::TokenError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot encode the batch: {0}")]
    Encode(#[from] std::io::Error),
}

impl SyncError {
    /// Worth trying again later (the network or head office), as opposed to a problem a
    /// person must fix first.
    pub fn is_retryable(&self) -> bool {
        matches!(self, SyncError::Unavailable { .. } | SyncError::Protocol(_))
    }
}

/// A head-office client. Cheap to clone (connections are pooled).
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: Token,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

/// Largest answer read from head office.
const MAX_ANSWER: u64 = 64 * 1024 * 1024;

fn unavailable(e: ureq::Error) -> SyncError {
    SyncError::Unavailable {
        detail: e.to_string(),
    }
}

impl Client {
    /// A client for head office at `base` (validated by `SyncConfig`).
    pub fn new(base: &str, token: Token, timeout: Duration) -> Client {
        // ureq logs the wire unredacted at TRACE, Authorization header included: cap the
        // `log` facade (which carries ureq's and rustls's logs into tracing) at DEBUG so the
        // token never reaches a log, whatever -v or RUST_LOG say.
        if log::max_level() > log::LevelFilter::Debug {
            log::set_max_level(log::LevelFilter::Debug);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(concat!("intake/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            token: token.clone(),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn auth(&self) -> String {
        format!("Bearer {}", self.token.expose())
    }

    fn read_answer(resp: &mut ureq::http::Response<ureq::Body>) -> Result<Vec<u8>, SyncError> {
        resp.body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(unavailable)
    }

    /// Maps a non-success status to the error it means.
    fn status_error(status: u16, body: &[u8]) -> SyncError {
        let message = serde_json::from_slice::<ErrorBody>(body)
            .map(|e| match (e.line, e.record_id) {
                (Some(l), Some(id)) => format!("record {l} ({id}): {}", e.message),
                (Some(l), None) => format!("record {l}: {}", e.message),
                _ => e.message,
            })
            .unwrap_or_else(|_| String::from_utf8_lossy(&body[..body.len().min(300)]).into());
        match status {
            401 | 403 => SyncError::Unauthorized,
            400 | 415 | 422 => SyncError::Rejected { message },
            // A changed replay: the same record id with other content. Resending the same
            // batch gets the same answer, so it is not retried.
            409 => SyncError::Conflict { message },
            413 => SyncError::TooLarge { message },
            _ => SyncError::Unavailable {
                detail: format!("HTTP {status}: {message}"),
            },
        }
    }

    /// Uploads one gzip-compressed NDJSON batch; head office's acknowledgement.
    pub fn upload(&self, gz_ndjson: &[u8]) -> Result<Ack, SyncError> {
        let mut resp = self
            .agent
            .post(format!("{}/v1/records", self.base))
            .header("Authorization", self.auth())
            .header("Content-Encoding", "gzip")
            .content_type("application/x-ndjson")
            .send(gz_ndjson)
            .map_err(unavailable)?;
        let status = resp.status().as_u16();
        let body = Client::read_answer(&mut resp)?;
        if status != 200 {
            return Err(Client::status_error(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| SyncError::Protocol(format!("upload answer: {e}")))
    }

    /// One page of manifest entries changed since `since`.
    pub fn manifest_page(
        &self,
        since: Option<&str>,
        limit: u32,
    ) -> Result<ManifestPage, SyncError> {
        let mut req = self
            .agent
            .get(format!("{}/v1/manifest", self.base))
            .header("Authorization", self.auth())
            .query("limit", limit.to_string());
        if let Some(s) = since {
            req = req.query("since", s);
        }
        let mut resp = req.call().map_err(unavailable)?;
        let status = resp.status().as_u16();
        let body = Client::read_answer(&mut resp)?;
        if status != 200 {
            return Err(Client::status_error(status, &body));
        }
        serde_json::from_slice(&body)
            .map_err(|e| SyncError::Protocol(format!("manifest answer: {e}")))
    }

    /// The rate card in force at head office: `None` when the station has `have` already,
    /// or head office has none.
    pub fn rate_card(&self, have: Option<&str>) -> Result<Option<RateCardDoc>, SyncError> {
        let mut req = self
            .agent
            .get(format!("{}/v1/rate-card", self.base))
            .header("Authorization", self.auth());
        if let Some(v) = have {
            req = req.header("If-None-Match", format!("\"{v}\""));
        }
        let mut resp = req.call().map_err(unavailable)?;
        let status = resp.status().as_u16();
        let body = Client::read_answer(&mut resp)?;
        match status {
            200 => serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| SyncError::Protocol(format!("rate card answer: {e}"))),
            304 | 404 => Ok(None),
            _ => Err(Client::status_error(status, &body)),
        }
    }

    /// Whether head office answers at all (`/healthz`, no token).
    pub fn healthy(&self) -> bool {
        self.agent
            .get(format!("{}/healthz", self.base))
            .call()
            .is_ok_and(|mut r| {
                let mut s = String::new();
                r.status() == 200 && r.body_mut().as_reader().read_to_string(&mut s).is_ok()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_replay_is_not_retried_and_says_which_record() {
        // Head office's 409 body names the line and record (src/hq: "409 names the line").
        let body = br#"{"error":"conflict","message":"record already stored with other content","line":3,"record_id":"01J0000000000000000000000A"}"#;
        let e = Client::status_error(409, body);
        assert!(matches!(e, SyncError::Conflict { .. }), "{e:?}");
        assert!(!e.is_retryable());
        let text = e.to_string();
        assert!(
            text.contains("409") && text.contains("record 3 (01J0000000000000000000000A)"),
            "{text}"
        );
        // What stays retryable.
        assert!(Client::status_error(503, b"").is_retryable());
        assert!(!Client::status_error(400, b"").is_retryable());
    }
}
