//! The replay backend: a recorded capture ([`crate::scale::capture`]) played into a
//! pseudo-terminal at the recorded pace (or faster, by `speed`), read by the real serial
//! driver. A field capture so becomes a test of the whole station, parser to verdict.
//!
//! The clock starts when a reader opens the pty (the driver connecting), so the first chunk
//! arrives at once and the rest keep their recorded spacing. Requests the driver sends
//! (polled protocols) are read and dropped: the capture holds the scale's answers. After the
//! last chunk the pty stays open and silent, as a scale that stopped sending.
//!
//! ```toml
//! [scale]
//! type = "replay"
//! capture = "tests/fixtures/scale/parcel-50lb-toledo.capture"
//! protocol = "toledo"        # optional when the capture's header names it
//! speed = 1.0                # 2.0 plays twice as fast
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_serial::SerialStream;
use tracing::{debug, info};

use crate::scale::capture::Capture;
use crate::scale::sim::{SimError, plug, temp_link};

/// How a capture is replayed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    /// 1.0 plays at the recorded pace; 2.0 twice as fast.
    pub speed: f64,
    /// Where the symlink to the pty goes; a fresh temp path when `None`.
    pub link: Option<PathBuf>,
}

impl Default for ReplayOptions {
    fn default() -> ReplayOptions {
        ReplayOptions {
            speed: 1.0,
            link: None,
        }
    }
}

/// The running replay. Dropping it stops the replay and removes the link.
#[derive(Debug)]
pub struct ReplayHandle {
    link: PathBuf,
    task: JoinHandle<()>,
    done: watch::Receiver<bool>,
}

impl ReplayHandle {
    /// The path to open (a symlink to the pty).
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// Waits until the last chunk was written.
    pub async fn finished(&mut self) {
        let _ = self.done.wait_for(|d| *d).await;
    }
}

impl Drop for ReplayHandle {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.link);
    }
}

/// How often the pty is checked for a reader, and drained of requests.
const TICK: Duration = Duration::from_millis(5);

/// Starts replaying `capture`; returns the handle and the path to open. Needs a tokio
/// runtime.
pub fn spawn(
    capture: Capture,
    options: ReplayOptions,
) -> Result<(ReplayHandle, PathBuf), SimError> {
    let link = options
        .link
        .clone()
        .unwrap_or_else(|| temp_link("intake-replay-scale"));
    let master = plug(&link)?;
    let (done_tx, done) = watch::channel(false);
    let speed = if options.speed.is_finite() && options.speed > 0.0 {
        options.speed
    } else {
        1.0
    };
    let task = tokio::spawn(run(master, capture, speed, done_tx));
    Ok((
        ReplayHandle {
            link: link.clone(),
            task,
            done,
        },
        link,
    ))
}

/// Reads and drops what the reader sent; `false` while nobody has the pty open.
fn drain(port: &mut SerialStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match port.try_read(&mut buf) {
            Ok(n) if n > 0 => debug!(bytes = n, "replay: request dropped"),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            _ => return false,
        }
    }
}

async fn run(mut port: SerialStream, capture: Capture, speed: f64, done: watch::Sender<bool>) {
    // The master reads EIO until the slave is opened.
    while !drain(&mut port) {
        sleep(TICK).await;
    }
    let start = Instant::now();
    info!(chunks = capture.chunks.len(), speed, "scale replay started");
    for chunk in &capture.chunks {
        let due = start + chunk.at.div_f64(speed);
        while Instant::now() + TICK < due {
            sleep(TICK).await;
            drain(&mut port);
        }
        sleep_until(due).await;
        if port.write_all(&chunk.bytes).await.is_err() {
            info!("scale replay: the reader went away");
            break;
        }
    }
    info!("scale replay finished");
    let _ = done.send(true);
    loop {
        sleep(TICK * 20).await;
        drain(&mut port);
    }
}

/// Why a configured replay could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot read the scale capture {path}: {source}; check scale.capture")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scale capture {path}: {source}")]
    Capture {
        path: PathBuf,
        source: crate::scale::capture::CaptureError,
    },
    #[error(
        "scale capture {0}: no protocol given and its header names none; set scale.protocol (or --protocol)"
    )]
    NoProtocol(PathBuf),
    #[error(transparent)]
    Pty(#[from] SimError),
}

/// Starts the replay the settings describe; returns it and the serial settings the driver
/// opens it with (polling as often as the capture's pace allows: every 50 ms).
pub fn start(
    settings: &crate::scale::config::ReplaySettings,
) -> Result<(ReplayHandle, crate::scale::config::SerialSettings), ReplayError> {
    let path = &settings.capture;
    let text = std::fs::read_to_string(path).map_err(|source| ReplayError::Read {
        path: path.clone(),
        source,
    })?;
    let capture = Capture::parse(&text).map_err(|source| ReplayError::Capture {
        path: path.clone(),
        source,
    })?;
    let protocol = settings
        .protocol
        .or(capture.protocol)
        .ok_or_else(|| ReplayError::NoProtocol(path.clone()))?;
    let (handle, link) = spawn(capture, settings.options.clone())?;
    let serial = crate::scale::config::SerialSettings {
        poll_interval: Duration::from_millis(50),
        ..crate::scale::config::SerialSettings::new(link, protocol)
    };
    Ok((handle, serial))
}
