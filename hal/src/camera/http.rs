//! A network camera's snapshot URL: one HTTP GET per trigger, the answer decoded as an
//! image. Basic and digest authentication (see [`super::auth`]); the digest nonce is kept
//! between snapshots, so a camera that accepts it answers the first request.
//!
//! The camera holds no connection state that can break: every capture is a fresh request
//! (ureq reuses a kept-alive connection when it can), so a camera that was off answers again
//! as soon as it is back.

use std::time::{Duration, Instant};

use image::GrayImage;

use super::auth::{self, Challenge, DigestChallenge};
use super::config::HttpSettings;
use super::image_file::{ImageLimits, decode_image};
use crate::device::{BoxFuture, Camera, DeviceError, ErrorKind};

/// A password read from a file; never printed.
#[derive(Clone)]
struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

/// The snapshot camera.
pub struct HttpCamera {
    name: String,
    inner: Option<Inner>,
    settings: HttpSettings,
}

#[derive(Debug, Clone)]
struct Inner {
    name: String,
    url: String,
    /// The request target, for the digest (path and query).
    uri: String,
    timeout: Duration,
    agent: ureq::Agent,
    credentials: Option<(String, Secret)>,
    /// The last digest challenge and how many requests used its nonce.
    digest: Option<(DigestChallenge, u32)>,
    basic: bool,
    limits: ImageLimits,
}

impl HttpCamera {
    /// Prepares the camera: reads the password file (a missing or empty one is a config
    /// error). No request is made until the first capture.
    pub fn open(settings: &HttpSettings) -> Result<HttpCamera, DeviceError> {
        let name = format!("camera at {}", redact(&settings.url));
        let inner = Inner::new(&name, settings)?;
        Ok(HttpCamera {
            name,
            inner: Some(inner),
            settings: settings.clone(),
        })
    }

    /// One snapshot, blocking (for tools and tests without a runtime).
    pub fn snapshot(&mut self) -> Result<GrayImage, DeviceError> {
        let inner = match self.inner.as_mut() {
            Some(i) => i,
            None => self.inner.insert(Inner::new(&self.name, &self.settings)?),
        };
        inner.snapshot()
    }
}

/// The URL without any `user:password@` part, for names and logs.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_owned(),
    }
}

impl Inner {
    fn new(name: &str, s: &HttpSettings) -> Result<Inner, DeviceError> {
        let credentials = match &s.auth {
            None => None,
            Some((user, file)) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    DeviceError::new(
                        name,
                        ErrorKind::Config,
                        format!(
                            "cannot read the password file {}: {e}; check camera.password_file and its permissions",
                            file.display()
                        ),
                    )
                })?;
                let pw = text.trim_end_matches(['\n', '\r']).to_owned();
                if pw.is_empty() {
                    return Err(DeviceError::new(
                        name,
                        ErrorKind::Config,
                        format!("the password file {} is empty", file.display()),
                    ));
                }
                Some((user.clone(), Secret(pw)))
            }
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(s.timeout))
            .http_status_as_error(false)
            .max_redirects(3)
            .build();
        let after_host = s
            .url
            .split_once("://")
            .map_or("", |(_, r)| r.find('/').map_or("", |i| &r[i..]));
        Ok(Inner {
            name: name.to_owned(),
            url: s.url.clone(),
            uri: if after_host.is_empty() {
                "/".to_owned()
            } else {
                after_host.split('#').next().unwrap_or("/").to_owned()
            },
            timeout: s.timeout,
            agent: config.into(),
            credentials,
            digest: None,
            basic: false,
            limits: ImageLimits::default(),
        })
    }

    fn err(&self, kind: ErrorKind, detail: impl Into<String>) -> DeviceError {
        DeviceError::new(&self.name, kind, detail)
    }

    /// The `Authorization` header for the next request, if we know what the camera wants.
    fn authorization(&mut self) -> Option<String> {
        let (user, pw) = self.credentials.as_ref()?;
        if let Some((c, nc)) = &mut self.digest {
            *nc += 1;
            let cnonce = format!("{:016x}", rand::random::<u64>());
            return Some(auth::digest(c, user, &pw.0, "GET", &self.uri, *nc, &cnonce));
        }
        self.basic.then(|| auth::basic(user, &pw.0))
    }

    fn get(&mut self, deadline: Instant) -> Result<ureq::http::Response<ureq::Body>, DeviceError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.timed_out());
        }
        let mut req = self
            .agent
            .get(&self.url)
            .config()
            .timeout_global(Some(left))
            .build();
        if let Some(a) = self.authorization() {
            req = req.header("Authorization", a);
        }
        req.call().map_err(|e| self.transport(e))
    }

    fn timed_out(&self) -> DeviceError {
        self.err(
            ErrorKind::Timeout,
            format!(
                "no snapshot within {} ms; check the camera is powered and reachable",
                self.timeout.as_millis()
            ),
        )
    }

    fn transport(&self, e: ureq::Error) -> DeviceError {
        match e {
            ureq::Error::Timeout(_) => self.timed_out(),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => self.timed_out(),
            ureq::Error::HostNotFound => self.err(
                ErrorKind::Disconnected,
                "the camera's host name does not resolve; check camera.url",
            ),
            ureq::Error::BodyExceedsLimit(n) => self.err(
                ErrorKind::Malformed,
                format!("the snapshot is larger than {n} bytes; is the URL a single image?"),
            ),
            other => self.err(
                ErrorKind::Disconnected,
                format!(
                    "no connection to the camera: {other}; check its network cable and camera.url"
                ),
            ),
        }
    }

    fn snapshot(&mut self) -> Result<GrayImage, DeviceError> {
        let deadline = Instant::now() + self.timeout;
        let mut resp = self.get(deadline)?;
        // Up to two challenges: the first (or a stale nonce), then one retry.
        for _ in 0..2 {
            if resp.status().as_u16() != 401 || self.credentials.is_none() {
                break;
            }
            let challenges: Vec<String> = resp
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            let had_auth = self.digest.is_some() || self.basic;
            let chosen = auth::choose_challenge(challenges.iter().map(String::as_str))
                .map_err(|e| self.err(ErrorKind::Config, e.to_string()))?;
            match chosen {
                Challenge::Digest(d) => {
                    // A repeated challenge that is not stale: the password is wrong.
                    if had_auth && !d.stale {
                        break;
                    }
                    self.digest = Some((d, 0));
                    self.basic = false;
                }
                Challenge::Basic => {
                    if had_auth {
                        break;
                    }
                    self.basic = true;
                    self.digest = None;
                }
            }
            resp = self.get(deadline)?;
        }
        let status = resp.status().as_u16();
        match status {
            200..=299 => {}
            401 => {
                self.digest = None;
                self.basic = false;
                return Err(self.err(
                    ErrorKind::Config,
                    if self.credentials.is_some() {
                        "the camera refused the user name and password (401); check camera.username and the password file"
                    } else {
                        "the camera wants a login (401); set camera.username and camera.password_file"
                    },
                ));
            }
            403 => {
                return Err(self.err(
                    ErrorKind::Config,
                    "the camera forbids this user its snapshots (403); give the user the right to view",
                ));
            }
            404 => {
                return Err(self.err(
                    ErrorKind::Config,
                    "the camera has no such page (404); check camera.url against the camera's manual",
                ));
            }
            s => {
                return Err(self.err(
                    ErrorKind::Disconnected,
                    format!("the camera answered HTTP {s}; it may be restarting"),
                ));
            }
        }
        let max = self.limits.max_file;
        let body = resp
            .body_mut()
            .with_config()
            .limit(max)
            .read_to_vec()
            .map_err(|e| self.transport(e))?;
        decode_image(&body, "the snapshot", &self.limits)
            .map_err(|e| self.err(ErrorKind::Malformed, e.to_string()))
    }
}

impl Camera for HttpCamera {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(&mut self) -> BoxFuture<'_, Result<GrayImage, DeviceError>> {
        Box::pin(async move {
            let mut inner = match self.inner.take() {
                Some(i) => i,
                None => Inner::new(&self.name, &self.settings)?,
            };
            // ureq blocks: off the async threads. Its own timeout ends the request; the outer
            // one is a backstop a little later.
            let backstop = inner.timeout + Duration::from_millis(500);
            let job = tokio::task::spawn_blocking(move || {
                let r = inner.snapshot();
                (inner, r)
            });
            match tokio::time::timeout(backstop, job).await {
                Ok(Ok((inner, r))) => {
                    self.inner = Some(inner);
                    r
                }
                Ok(Err(e)) => Err(DeviceError::new(
                    &self.name,
                    ErrorKind::Disconnected,
                    format!("the snapshot request stopped: {e}"),
                )),
                Err(_) => Err(DeviceError::new(
                    &self.name,
                    ErrorKind::Timeout,
                    format!(
                        "no snapshot within {} ms; check the camera is powered and reachable",
                        self.settings.timeout.as_millis()
                    ),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_hide_credentials_in_urls() {
        assert_eq!(
            redact("http://admin:pw@10.0.0.5/cgi-bin/snap.jpg?ch=1"),
            "http://10.0.0.5/cgi-bin/snap.jpg?ch=1"
        );
        assert_eq!(redact("https://cam.local"), "https://cam.local");
        assert_eq!(format!("{:?}", Secret("hunter2".into())), "****");
    }

    #[test]
    fn a_missing_password_file_is_a_config_error() {
        let s = HttpSettings {
            url: "http://127.0.0.1:9/snap.jpg".into(),
            timeout: Duration::from_secs(1),
            auth: Some(("u".into(), "/nonexistent/intake-pw".into())),
        };
        let e = HttpCamera::open(&s).err().unwrap();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert!(e.detail.contains("/nonexistent/intake-pw"), "{e}");
    }
}
