//! The `[web]` section of the station config: raw serde struct, validated once into
//! [`WebSettings`].
//!
//! ```toml
//! [web]
//! listen = "127.0.0.1:8080"   # loopback: only this machine reaches the dashboard
//! pin = "4821"                # needed when `listen` is not loopback (4 to 128 characters;
//!                             # digits for a PIN pad, or a long token for scripts)
//! public_read = false         # not loopback: reads need the PIN too, unless this is true
//! tls_cert = "/etc/intake/dashboard.crt"  # optional: serve HTTPS (PEM certificate chain...
//! tls_key = "/etc/intake/dashboard.key"   # ...and its PEM private key)
//! max_connections = 128       # client connections at once (lowered to fit the fd limit)
//! evidence_keep_days = 30     # evidence images older than this are deleted...
//! evidence_max_mb = 2048      # ...and the oldest go first when the folder grows past this
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;

/// The raw `[web]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub listen: String,
    pub pin: Option<String>,
    pub public_read: bool,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_connections: usize,
    pub evidence_keep_days: u32,
    pub evidence_max_mb: u64,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            listen: "127.0.0.1:8080".into(),
            pin: None,
            public_read: false,
            tls_cert: None,
            tls_key: None,
            max_connections: 128,
            evidence_keep_days: 30,
            evidence_max_mb: 2048,
        }
    }
}

/// An operator PIN or token. Never printed: its `Debug` shows `****`.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(****)")
    }
}

impl Pin {
    /// Whether `given` is this PIN, compared in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let mut diff = a.len() ^ b.len();
        for (i, x) in a.iter().enumerate() {
            diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
        }
        diff == 0
    }
}

/// How long and how much evidence is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvidenceRetention {
    /// Images older than this many days are deleted.
    pub keep_days: u32,
    /// The folder never holds more than this; the oldest images go first. 0 keeps none.
    pub max_bytes: u64,
}

/// Where the dashboard's TLS certificate and key are (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The validated `[web]` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    pub listen: SocketAddr,
    /// Required when `listen` is not a loopback address: for writes, and for reads unless
    /// `public_read`.
    pub pin: Option<Pin>,
    /// On a non-loopback address, reads are open to anyone who reaches it.
    pub public_read: bool,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<TlsFiles>,
    /// Most client connections at once.
    pub max_connections: usize,
    pub evidence: EvidenceRetention,
}

impl Default for WebSettings {
    fn default() -> WebSettings {
        WebSettings {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080),
            pin: None,
            public_read: false,
            tls: None,
            max_connections: 128,
            evidence: EvidenceRetention {
                keep_days: 30,
                max_bytes: 2048 * 1024 * 1024,
            },
        }
    }
}

impl WebSettings {
    /// Whether write actions need the PIN: the dashboard is reachable from other machines.
    pub fn pin_required(&self) -> bool {
        !self.listen.ip().is_loopback()
    }

    /// Whether reads (scans, evidence, status, metrics) need the PIN too.
    pub fn read_pin_required(&self) -> bool {
        self.pin_required() && !self.public_read
    }

    /// Refuses an address reachable from other machines when no PIN is set.
    pub fn validate_listen(&self) -> Result<(), WebConfigError> {
        if self.pin_required() && self.pin.is_none() {
            return Err(err(
                "listen",
                format!(
                    "{} is reachable from other machines, so resolving exceptions needs a PIN: set web.pin, or listen on 127.0.0.1",
                    self.listen
                ),
            ));
        }
        Ok(())
    }
}

/// A bad `[web]` key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct WebConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> WebConfigError {
    WebConfigError {
        key: format!("web.{key}"),
        message: message.into(),
    }
}

/// Parses a listen address: `IP:PORT`, `[IPv6]:PORT` or `localhost:PORT`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let t = text.trim();
    if let Some(port) = t.strip_prefix("localhost:") {
        let port: u16 = port
            .parse()
            .map_err(|_| format!("\"{text}\" has no valid port"))?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    t.parse().map_err(|_| {
        format!(
            "\"{text}\" is not an address and port; write e.g. \"127.0.0.1:8080\" (this machine only) or \"0.0.0.0:8080\" (every network, with a pin)"
        )
    })
}

impl WebConfig {
    pub fn validate(&self) -> Result<WebSettings, WebConfigError> {
        let listen = parse_listen(&self.listen).map_err(|m| err("listen", m))?;
        let pin = match self.pin.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) if p.len() < 4 || p.len() > 128 || p.bytes().any(|b| !b.is_ascii_graphic()) => {
                return Err(err(
                    "pin",
                    "must be 4 to 128 visible characters with no spaces (digits for a PIN pad, or a longer token)",
                ));
            }
            Some(p) => Some(Pin(p.to_owned())),
        };
        if self.evidence_keep_days == 0 || self.evidence_keep_days > 3650 {
            return Err(err(
                "evidence_keep_days",
                format!(
                    "{} is out of range; give days between 1 and 3650",
                    self.evidence_keep_days
                ),
            ));
        }
        let max_bytes = self
            .evidence_max_mb
            .checked_mul(1024 * 1024)
            .ok_or_else(|| err("evidence_max_mb", "is too large"))?;
        let tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            (Some(_), None) => {
                return Err(err(
                    "tls_key",
                    "tls_cert is set, so give tls_key too (the PEM private key of the certificate)",
                ));
            }
            (None, Some(_)) => {
                return Err(err(
                    "tls_cert",
                    "tls_key is set, so give tls_cert too (the PEM certificate chain)",
                ));
            }
        };
        if self.max_connections == 0 || self.max_connections > 65_536 {
            return Err(err(
                "max_connections",
                format!("{} is out of range; give 1 to 65536", self.max_connections),
            ));
        }
        let s = WebSettings {
            listen,
            pin,
            public_read: self.public_read,
            tls,
            max_connections: self.max_connections,
            evidence: EvidenceRetention {
                keep_days: self.evidence_keep_days,
                max_bytes,
            },
        };
        s.validate_listen()?;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(listen: &str, pin: Option<&str>) -> WebConfig {
        WebConfig {
            listen: listen.into(),
            pin: pin.map(Into::into),
            ..WebConfig::default()
        }
    }

    #[test]
    fn loopback_needs_no_pin_other_addresses_do() {
        let s = WebConfig::default().validate().unwrap();
        assert_eq!(s, WebSettings::default());
        assert!(!s.pin_required());
        let s = cfg("localhost:9000", None).validate().unwrap();
        assert_eq!(s.listen.port(), 9000);
        assert!(cfg("[::1]:8080", None).validate().is_ok());
        let e = cfg("0.0.0.0:8080", None).validate().unwrap_err();
        assert_eq!(e.key, "web.listen");
        assert!(e.message.contains("web.pin"), "{e}");
        let s = cfg("0.0.0.0:8080", Some("4821")).validate().unwrap();
        assert!(s.pin_required());
        assert!(s.read_pin_required());
        assert_eq!(format!("{:?}", s.pin), "Some(Pin(****))");
        let open = WebConfig {
            public_read: true,
            ..cfg("0.0.0.0:8080", Some("4821"))
        };
        assert!(!open.validate().unwrap().read_pin_required());
        assert!(!WebSettings::default().read_pin_required());
    }

    #[test]
    fn long_pins_and_tls_pairs() {
        let long = "x".repeat(128);
        assert!(cfg("0.0.0.0:1", Some(&long)).validate().is_ok());
        let too_long = "x".repeat(129);
        assert_eq!(
            cfg("0.0.0.0:1", Some(&too_long))
                .validate()
                .unwrap_err()
                .key,
            "web.pin"
        );
        let half = WebConfig {
            tls_cert: Some("c.pem".into()),
            ..WebConfig::default()
        };
        assert_eq!(half.validate().unwrap_err().key, "web.tls_key");
        let both = WebConfig {
            tls_cert: Some("c.pem".into()),
            tls_key: Some("k.pem".into()),
            ..WebConfig::default()
        };
        assert_eq!(
            both.validate().unwrap().tls.unwrap().key,
            PathBuf::from("k.pem")
        );
    }

    #[test]
    fn bad_values_are_named() {
        assert_eq!(cfg("8080", None).validate().unwrap_err().key, "web.listen");
        assert_eq!(
            cfg("0.0.0.0:1", Some("12")).validate().unwrap_err().key,
            "web.pin"
        );
        assert_eq!(
            cfg("0.0.0.0:1", Some("12 34")).validate().unwrap_err().key,
            "web.pin"
        );
        let e = WebConfig {
            evidence_keep_days: 0,
            ..WebConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.key, "web.evidence_keep_days");
    }

    #[test]
    fn pin_matches_exactly() {
        let p = Pin("4821".into());
        assert!(p.matches("4821"));
        for wrong in ["", "482", "48210", "4822", "x821"] {
            assert!(!p.matches(wrong), "{wrong}");
        }
    }
}
