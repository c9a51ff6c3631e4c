//! The `[sync]` section of the station config: raw serde struct, validated once into
//! [`SyncSettings`]. Durations carry their unit (`"5m"`, `"30s"`, `"800ms"`).
//!
//! ```toml
//! [sync]
//! url = "https://hq.example.net"       # head office; http:// only to a loopback address
//! token_file = "/etc/intake/hq.token"   # must not be world-readable (chmod 600)
//! upload_at = "02:00"                   # local time of the nightly upload
//! upload_backlog = 10000                # and at once when this many records wait (0: off)
//! pull_every = "5m"                     # manifest and rate card, while head office answers
//! batch_size = 500                      # records per upload request
//! timeout = "30s"                       # per request
//! retry_first = "1s"                    # backoff after a failure, doubling...
//! retry_max = "5m"                      # ...up to this
//! give_up_after = "15m"                 # `intake sync` stops retrying after this without progress
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::schedule::Schedule;
use crate::config::Source;

/// The raw `[sync]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    pub url: String,
    pub token_file: String,
    #[serde(default = "d_upload_at")]
    pub upload_at: String,
    #[serde(default = "d_backlog")]
    pub upload_backlog: u64,
    #[serde(default = "d_pull_every")]
    pub pull_every: String,
    #[serde(default = "d_batch_size")]
    pub batch_size: usize,
    #[serde(default = "d_timeout")]
    pub timeout: String,
    #[serde(default = "d_retry_first")]
    pub retry_first: String,
    #[serde(default = "d_retry_max")]
    pub retry_max: String,
    #[serde(default = "d_give_up")]
    pub give_up_after: String,
}

fn d_upload_at() -> String {
    "02:00".into()
}
fn d_backlog() -> u64 {
    10_000
}
fn d_pull_every() -> String {
    "5m".into()
}
fn d_batch_size() -> usize {
    500
}
fn d_timeout() -> String {
    "30s".into()
}
fn d_retry_first() -> String {
    "1s".into()
}
fn d_retry_max() -> String {
    "5m".into()
}
fn d_give_up() -> String {
    "15m".into()
}

/// The validated sync settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// Head office's base URL, without a trailing slash.
    pub url: String,
    pub token_file: PathBuf,
    pub schedule: Schedule,
    pub batch_size: usize,
    pub timeout: Duration,
    pub give_up_after: Duration,
}

/// A bad `[sync]` key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SyncConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> SyncConfigError {
    SyncConfigError {
        key: format!("sync.{key}"),
        message: message.into(),
    }
}

/// A duration with its unit: `"5m"`, `"30s"`, `"800ms"`, `"2h"`.
pub fn parse_duration(key: &str, text: &str) -> Result<Duration, SyncConfigError> {
    intake_hal::quantity::parse_duration(text).map_err(|e| err(key, e.to_string()))
}

/// Checks a head-office URL: https, or http to a loopback address only (the token would
/// otherwise cross the network in clear).
pub fn check_url(text: &str) -> Result<String, String> {
    let t = text.trim().trim_end_matches('/');
    let (scheme, rest) = t
        .split_once("://")
        .ok_or_else(|| format!("\"{text}\" is not a URL; write e.g. \"https://hq.example.net\""))?;
    let host_port = rest.split('/').next().unwrap_or("");
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.rsplit_once(':').map_or(host_port, |(h, _)| h)
    };
    if host.is_empty() {
        return Err(format!("\"{text}\" names no host"));
    }
    match scheme {
        "https" => Ok(t.to_owned()),
        "http" => {
            let loopback = host == "localhost"
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(t.to_owned())
            } else {
                Err(format!(
                    "\"{text}\" is plain http to another machine; the token would cross the network in clear — use https"
                ))
            }
        }
        other => Err(format!("\"{other}\" is not http or https")),
    }
}

impl SyncConfig {
    /// A section with every default, for `intake sync --url .. --token-file ..` without one.
    pub fn new(url: &str, token_file: &str) -> SyncConfig {
        SyncConfig {
            url: url.into(),
            token_file: token_file.into(),
            upload_at: d_upload_at(),
            upload_backlog: d_backlog(),
            pull_every: d_pull_every(),
            batch_size: d_batch_size(),
            timeout: d_timeout(),
            retry_first: d_retry_first(),
            retry_max: d_retry_max(),
            give_up_after: d_give_up(),
        }
    }

    /// Validates the section; a relative `token_file` is relative to `base_dir` (the config
    /// file's directory) when given.
    pub fn validate(&self, base_dir: Option<&Path>) -> Result<SyncSettings, SyncConfigError> {
        let url = check_url(&self.url).map_err(|m| err("url", m))?;
        if self.token_file.trim().is_empty() {
            return Err(err(
                "token_file",
                "must name the file holding the bearer token",
            ));
        }
        let tf = PathBuf::from(self.token_file.trim());
        let token_file = match base_dir {
            Some(b) if tf.is_relative() => b.join(tf),
            _ => tf,
        };
        let upload_at: jiff::civil::Time = self.upload_at.trim().parse().map_err(|_| {
            err(
                "upload_at",
                format!("\"{}\" is not a local time like \"02:00\"", self.upload_at),
            )
        })?;
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(err("batch_size", "must be between 1 and 10000 records"));
        }
        let pull_every = parse_duration("pull_every", &self.pull_every)?;
        if pull_every < Duration::from_secs(5) {
            return Err(err("pull_every", "must be at least \"5s\""));
        }
        let timeout = parse_duration("timeout", &self.timeout)?;
        if timeout.is_zero() {
            return Err(err("timeout", "must be above zero"));
        }
        let retry_first = parse_duration("retry_first", &self.retry_first)?;
        let retry_max = parse_duration("retry_max", &self.retry_max)?;
        if retry_first.is_zero() || retry_max < retry_first {
            return Err(err(
                "retry_max",
                "retry_first must be above zero and retry_max at least retry_first",
            ));
        }
        Ok(SyncSettings {
            url,
            token_file,
            schedule: Schedule {
                upload_at,
                upload_backlog: self.upload_backlog,
                pull_every,
                retry_first,
                retry_max,
            },
            batch_size: self.batch_size,
            timeout,
            give_up_after: parse_duration("give_up_after", &self.give_up_after)?,
        })
    }
}

/// Validates an optional `[sync]` section of the config that came from `source`.
pub fn from_raw(
    raw: Option<SyncConfig>,
    source: &Source,
) -> Result<Option<SyncSettings>, SyncConfigError> {
    let base = match source {
        Source::File(p) => p.parent(),
        Source::Embedded(_) => None,
    };
    raw.map(|c| c.validate(base)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let s = SyncConfig::new("https://hq.example.net/", "hq.token")
            .validate(Some(Path::new("/etc/intake")))
            .unwrap();
        assert_eq!(s.url, "https://hq.example.net");
        assert_eq!(s.token_file, PathBuf::from("/etc/intake/hq.token"));
        assert_eq!(s.schedule, Schedule::default());
        assert_eq!(s.batch_size, 500);
        assert_eq!(s.give_up_after, Duration::from_secs(900));
    }

    #[test]
    fn the_section_reads_from_toml_and_bad_keys_are_named() {
        let c: SyncConfig = toml::from_str(
            "url = \"http://127.0.0.1:8470\"\ntoken_file = \"/t\"\nupload_at = \"23:30\"\npull_every = \"90s\"\nretry_first = \"50ms\"\nretry_max = \"2s\"\n",
        )
        .unwrap();
        let s = c.validate(None).unwrap();
        assert_eq!(
            s.schedule.upload_at,
            jiff::civil::Time::constant(23, 30, 0, 0)
        );
        assert_eq!(s.schedule.pull_every, Duration::from_secs(90));
        assert_eq!(s.schedule.retry_first, Duration::from_millis(50));
        let unknown = toml::from_str::<SyncConfig>("url = \"x\"\ntoken_file = \"t\"\ncolour = 1\n");
        assert!(unknown.unwrap_err().to_string().contains("colour"));

        let bad = |f: fn(&mut SyncConfig)| {
            let mut c = SyncConfig::new("https://hq", "t");
            f(&mut c);
            c.validate(None).unwrap_err()
        };
        assert_eq!(bad(|c| c.pull_every = "5".into()).key, "sync.pull_every");
        assert!(bad(|c| c.pull_every = "5".into()).message.contains("unit"));
        assert_eq!(bad(|c| c.upload_at = "2am".into()).key, "sync.upload_at");
        assert_eq!(bad(|c| c.batch_size = 0).key, "sync.batch_size");
        assert_eq!(bad(|c| c.url = "ftp://hq".into()).key, "sync.url");
        let e = bad(|c| c.url = "http://hq.example.net".into());
        assert!(e.message.contains("https"), "{e}");
        assert_eq!(bad(|c| c.retry_max = "1ms".into()).key, "sync.retry_max");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_url("http://127.0.0.1:8470").is_ok());
        assert!(check_url("http://[::1]:8470/").is_ok());
        assert!(check_url("http://localhost").is_ok());
        assert!(check_url("http://10.0.0.5:8470").is_err());
        assert!(check_url("https://10.0.0.5:8470").is_ok());
        assert!(check_url("hq.example.net").is_err());
    }
}
