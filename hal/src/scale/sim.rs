//! A simulated scale on a pseudo-terminal: it speaks any of the protocols, so the station
//! opens it through [`SerialScale`](crate::scale::serial::SerialScale) exactly as it would a
//! real scale, and the real parsers read its bytes.
//!
//! The load on the platform comes from a `watch` channel (the simulated dock drives it).
//! After the load changes the scale shows motion for `settle`, moving from the old weight to
//! the new one; then it shows the load, flagged stable, with a noise of ±1 division (a
//! seeded generator: −1 a quarter of the time, +1 a quarter, exact otherwise). Polled
//! protocols answer their requests; continuous ones stream every `interval`. Time is tokio's,
//! so the model follows paused time; the pty itself is real IO.
//!
//! The pty's slave is reached through a symlink (`options.link`, or a fresh path in the temp
//! directory), so that [`SimScaleHandle::unplug`] and [`SimScaleHandle::replug`] can take the
//! device away and bring a new one back under the same name, as a USB adapter behind
//! `/dev/serial/by-id/…` does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_serial::SerialStream;

use crate::device::{ScaleStatus, WeightKind, WeightReading};
use crate::quantity::{Mass, MassUnit};
use crate::scale::Protocol;
use crate::scale::config::Framing;

/// How the simulated scale behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimScaleOptions {
    /// The unit it shows and sends.
    pub unit: MassUnit,
    /// Decimal places shown; one division is one unit of the last place.
    pub decimals: u32,
    /// Above this it reports over capacity.
    pub capacity: Mass,
    /// How long it shows motion after the load changes.
    pub settle: Duration,
    /// Time between frames for continuous protocols.
    pub interval: Duration,
    /// Noise generator seed.
    pub seed: u64,
    /// Where the symlink to the pty goes; a fresh temp path when `None`.
    pub link: Option<PathBuf>,
    /// The line speed the scale is set to; a reader whose port is set to another speed gets
    /// the noise a real line then shows (a pty carries the reader's baud setting, so this
    /// can be checked). `None`: any speed works.
    pub baud: Option<u32>,
    /// With 7-bit data (`7E1`, `7O1`) every byte carries its parity in bit 7, as a reader on
    /// an 8N1 port sees such a scale (a pty cannot carry 7-bit framing).
    pub framing: Framing,
}

impl Default for SimScaleOptions {
    fn default() -> SimScaleOptions {
        SimScaleOptions {
            unit: MassUnit::Pound,
            decimals: 2,
            capacity: Mass::from_lb(150),
            settle: Duration::from_millis(600),
            interval: Duration::from_millis(100),
            seed: 1,
            link: None,
            baud: None,
            framing: Framing::N81,
        }
    }
}

/// Why the simulated scale could not start or change.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot open a pseudo-terminal for the simulated scale: {0}; is /dev/ptmx available?")]
    Pty(#[from] tokio_serial::Error),
    #[error(
        "cannot link {link} to the simulated scale's pty: {source}; choose a writable scale.link"
    )]
    Link {
        link: PathBuf,
        source: std::io::Error,
    },
    #[error("the simulated scale has stopped")]
    Stopped,
}

/// Commands to the running simulator.
enum Ctl {
    Unplug(oneshot::Sender<()>),
    Replug(oneshot::Sender<Result<(), SimError>>),
    Silent(bool, oneshot::Sender<()>),
    Inject(Vec<u8>, oneshot::Sender<()>),
}

/// The running simulated scale. Dropping it stops the simulator and removes the link.
#[derive(Debug)]
pub struct SimScaleHandle {
    ctl: mpsc::Sender<Ctl>,
    link: PathBuf,
    task: JoinHandle<()>,
}

/// The simulated scale's entry point.
pub struct SimScale;

static NEXT_LINK: AtomicU64 = AtomicU64::new(0);

impl SimScale {
    /// Starts a simulated scale speaking `protocol`, weighing what `load` says. Returns its
    /// handle and the path to open (the symlink to the pty). Needs a tokio runtime.
    pub fn spawn(
        protocol: Protocol,
        load: watch::Receiver<Mass>,
        options: SimScaleOptions,
    ) -> Result<(SimScaleHandle, PathBuf), SimError> {
        let link = options
            .link
            .clone()
            .unwrap_or_else(|| temp_link("intake-sim-scale"));
        let master = plug(&link)?;
        let (tx, rx) = mpsc::channel(8);
        let now = Instant::now();
        let initial = *load.borrow();
        let sim = Sim {
            protocol,
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            division: Mass::from_decimal(1, options.decimals, options.unit).unwrap_or(Mass::ZERO),
            options,
            load,
            from: initial,
            target: initial,
            changed_at: now,
            zero: Mass::ZERO,
            link: link.clone(),
            port: Some(master),
            connected: false,
            silent: false,
            request: Vec::new(),
        };
        let task = tokio::spawn(sim.run(rx));
        Ok((
            SimScaleHandle {
                ctl: tx,
                link: link.clone(),
                task,
            },
            link,
        ))
    }
}

impl SimScaleHandle {
    /// The path to open (a symlink to the current pty).
    pub fn path(&self) -> &Path {
        &self.link
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Ctl) -> Result<T, SimError> {
        let (tx, rx) = oneshot::channel();
        self.ctl
            .send(make(tx))
            .await
            .map_err(|_| SimError::Stopped)?;
        rx.await.map_err(|_| SimError::Stopped)
    }

    /// Pulls the cable: closes the pty (the reader sees EOF or EIO) and removes the link.
    pub async fn unplug(&self) -> Result<(), SimError> {
        self.ask(Ctl::Unplug).await
    }

    /// Plugs a new pty in under the same link.
    pub async fn replug(&self) -> Result<(), SimError> {
        self.ask(Ctl::Replug).await?
    }

    /// A silent scale stays plugged in but sends and answers nothing.
    pub async fn set_silent(&self, silent: bool) -> Result<(), SimError> {
        self.ask(|tx| Ctl::Silent(silent, tx)).await
    }

    /// Writes raw bytes to the line (garbage, half frames) as they are.
    pub async fn inject(&self, bytes: impl Into<Vec<u8>>) -> Result<(), SimError> {
        let bytes = bytes.into();
        self.ask(|tx| Ctl::Inject(bytes, tx)).await
    }
}

impl Drop for SimScaleHandle {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.link);
    }
}

/// A fresh path in the temp directory for a pty's symlink.
pub(crate) fn temp_link(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT_LINK.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A new pty whose slave `link` points to; returns the master. The slave is closed here so
/// that the master reads EIO until someone opens the link (how the simulator knows nobody is
/// listening, and never fills the line with stale frames).
pub(crate) fn plug(link: &Path) -> Result<SerialStream, SimError> {
    let (master, slave) = SerialStream::pair()?;
    let name = tokio_serial::SerialPort::name(&slave).ok_or_else(|| SimError::Link {
        link: link.to_owned(),
        source: std::io::Error::other("the pty has no slave name"),
    })?;
    drop(slave);
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&name, link).map_err(|source| SimError::Link {
        link: link.to_owned(),
        source,
    })?;
    Ok(master)
}

struct Sim {
    protocol: Protocol,
    options: SimScaleOptions,
    rng: ChaCha8Rng,
    division: Mass,
    load: watch::Receiver<Mass>,
    /// The load before the last change, the load now, and when it changed.
    from: Mass,
    target: Mass,
    changed_at: Instant,
    /// What a zero command took off.
    zero: Mass,
    link: PathBuf,
    port: Option<SerialStream>,
    /// Someone has the slave open (the master does not read EIO).
    connected: bool,
    silent: bool,
    request: Vec<u8>,
}

/// How often a disconnected pty is checked for a new reader.
const RECHECK: Duration = Duration::from_millis(5);
/// How often a connected pty is checked for requests (a real scale answers within ~100 ms).
const POLL: Duration = Duration::from_millis(2);

impl Sim {
    async fn run(mut self, mut ctl: mpsc::Receiver<Ctl>) {
        let mut next_tick = Instant::now();
        let mut recheck = Instant::now();
        let mut poll_at = Instant::now();
        let mut buf = [0u8; 256];
        loop {
            let streaming = !self.protocol.is_polled() && !self.silent && self.port.is_some();
            let reading = self.connected && self.port.is_some();
            let checking = !self.connected && self.port.is_some();
            tokio::select! {
                cmd = ctl.recv() => match cmd {
                    None => return,
                    Some(cmd) => self.control(cmd),
                },
                _ = sleep_until(next_tick), if streaming => {
                    next_tick += self.options.interval;
                    if next_tick < Instant::now() {
                        next_tick = Instant::now() + self.options.interval;
                    }
                    if self.connected {
                        let frame = self.frame();
                        self.send_frame(&frame);
                    }
                }
                // Requests are polled, not awaited: after the master has seen a hang-up
                // (nobody had the slave open yet), tokio keeps its "read closed" readiness
                // for good, and an awaited read would spin on EAGAIN at full speed.
                _ = sleep_until(poll_at), if reading => {
                    poll_at = Instant::now() + POLL;
                    let mut got = Vec::new();
                    let mut gone = false;
                    if let Some(port) = self.port.as_mut() {
                        loop {
                            match port.try_read(&mut buf) {
                                Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                                _ => {
                                    gone = true;
                                    break;
                                }
                            }
                        }
                    }
                    if !got.is_empty() {
                        self.requests(&got);
                    }
                    if gone {
                        self.connected = false;
                        recheck = Instant::now() + RECHECK;
                    }
                }
                _ = sleep_until(recheck), if checking => {
                    recheck = Instant::now() + RECHECK;
                    if let Some(port) = self.port.as_mut() {
                        match port.try_read(&mut buf) {
                            Ok(n) if n > 0 => {
                                self.connected = true;
                                self.requests(&buf[..n]);
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => self.connected = true,
                            _ => {}
                        }
                    }
                }
            }
        }
    }

    fn control(&mut self, cmd: Ctl) {
        match cmd {
            Ctl::Unplug(done) => {
                self.port = None;
                self.connected = false;
                let _ = std::fs::remove_file(&self.link);
                let _ = done.send(());
            }
            Ctl::Replug(done) => {
                let r = plug(&self.link).map(|p| {
                    self.port = Some(p);
                    self.connected = false;
                    self.request.clear();
                });
                let _ = done.send(r);
            }
            Ctl::Silent(s, done) => {
                self.silent = s;
                let _ = done.send(());
            }
            Ctl::Inject(bytes, done) => {
                self.send(&bytes);
                let _ = done.send(());
            }
        }
    }

    /// Sends a frame as the line carries it: with parity bits for 7-bit framings, and as
    /// noise when the reader's port is set to another speed.
    fn send_frame(&mut self, bytes: &[u8]) {
        let reader_baud = self
            .port
            .as_ref()
            .and_then(|p| tokio_serial::SerialPort::baud_rate(p).ok());
        if let (Some(want), Some(got)) = (self.options.baud, reader_baud)
            && want != got
        {
            // What a UART at the wrong speed makes of a frame: break-like and all-ones bytes.
            const NOISE: [u8; 6] = [0x00, 0x80, 0xf8, 0xfe, 0xe0, 0xff];
            let noise: Vec<u8> = (0..bytes.len())
                .map(|_| NOISE[self.rng.random_range(0..NOISE.len())])
                .collect();
            self.send(&noise);
            return;
        }
        let parity = match self.options.framing.parity {
            tokio_serial::Parity::None => None,
            tokio_serial::Parity::Even => Some(0),
            tokio_serial::Parity::Odd => Some(1),
        };
        match (self.options.framing.data_bits, parity) {
            (tokio_serial::DataBits::Seven, Some(p)) => {
                let line: Vec<u8> = bytes
                    .iter()
                    .map(|b| {
                        let b = b & 0x7f;
                        if b.count_ones() % 2 == p { b } else { b | 0x80 }
                    })
                    .collect();
                self.send(&line);
            }
            _ => self.send(bytes),
        }
    }

    /// Writes what fits; a full line drops the rest, as a wire with nobody reading would.
    fn send(&mut self, bytes: &[u8]) {
        if let Some(port) = self.port.as_mut() {
            let _ = port.try_write(bytes);
        }
    }

    /// Commands from the station: answered per protocol; continuous protocols ignore input.
    fn requests(&mut self, bytes: &[u8]) {
        if !self.protocol.is_polled() {
            return;
        }
        self.request.extend(bytes.iter().map(|b| b & 0x7f));
        if self.request.len() > 256 {
            self.request.clear();
        }
        while let Some(end) = self.request.iter().position(|&b| b == b'\r') {
            let line: Vec<u8> = self.request.drain(..=end).collect();
            let cmd = String::from_utf8_lossy(&line).trim().to_owned();
            if cmd.is_empty() || self.silent {
                continue;
            }
            let reply = self.answer(&cmd);
            self.send_frame(&reply);
        }
        // MT-SICS commands end CR LF: a lone LF left over is not a command.
        if self.request.iter().all(|&b| b == b'\n') {
            self.request.clear();
        }
    }

    fn answer(&mut self, cmd: &str) -> Vec<u8> {
        let weigh = |s: &mut Sim| s.frame();
        match (self.protocol, cmd) {
            (Protocol::MtSics, "SI" | "S") | (Protocol::Sma | Protocol::Nci, "W") => weigh(self),
            (Protocol::MtSics, "Z") => {
                self.zero_now();
                b"Z A\r\n".to_vec()
            }
            (Protocol::MtSics, "@") => b"I4 A \"SIM00001\"\r\n".to_vec(),
            (Protocol::MtSics, _) => b"ES\r\n".to_vec(),
            (Protocol::Sma, "Z") => {
                self.zero_now();
                weigh(self)
            }
            (Protocol::Sma, _) => b"\n?\r".to_vec(),
            (Protocol::Nci, "Z" | "S") => {
                if cmd == "Z" {
                    self.zero_now();
                }
                // Status only: the status bytes of a full reply.
                let full = weigh(self);
                let status_at = full.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                let mut out = vec![b'\n'];
                out.extend_from_slice(&full[status_at..]);
                out
            }
            (Protocol::Nci, _) => b"\n?\r\x03".to_vec(),
            (Protocol::Toledo | Protocol::Cas, _) => Vec::new(),
        }
    }

    fn zero_now(&mut self) {
        self.update(Instant::now());
        self.zero = self.target;
    }

    fn update(&mut self, now: Instant) {
        if self.load.has_changed().unwrap_or(false) {
            let new = *self.load.borrow_and_update();
            self.from = self.true_load(now);
            self.target = new;
            self.changed_at = now;
        }
    }

    /// The load the platform carries now, motion included, before noise and zero.
    fn true_load(&self, now: Instant) -> Mass {
        let elapsed = now.saturating_duration_since(self.changed_at);
        if elapsed >= self.options.settle || self.options.settle.is_zero() {
            return self.target;
        }
        let f = elapsed.as_secs_f64() / self.options.settle.as_secs_f64();
        let (a, b) = (self.from.micrograms(), self.target.micrograms());
        // Overshoot and swing while the parcel lands, damped to the new load.
        let swing = (f * 12.0).sin() * (1.0 - f) * 0.1;
        let ug = a as f64 + (b - a) as f64 * (f + swing);
        Mass::from_micrograms(ug as i64)
    }

    /// The reading the scale shows now, encoded in its protocol.
    fn frame(&mut self) -> Vec<u8> {
        let now = Instant::now();
        self.update(now);
        let settled = now.saturating_duration_since(self.changed_at) >= self.options.settle;
        let noise = match self.rng.random_range(0..4u8) {
            0 => -1,
            1 => 1,
            _ => 0,
        };
        let shown = self.true_load(now).micrograms() - self.zero.micrograms()
            + noise * self.division.micrograms();
        let weight = Mass::from_micrograms(shown);
        let status = if weight > self.options.capacity {
            ScaleStatus::OverCapacity
        } else {
            ScaleStatus::Ok
        };
        let reading = WeightReading {
            weight,
            unit: self.options.unit,
            stable: settled,
            kind: WeightKind::Gross,
            tare: None,
            status,
        };
        self.protocol.encode(&reading, self.options.decimals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::Frame;
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;

    /// Reads frames from the slave until `want` readings arrived or the deadline passed.
    async fn readings(
        port: &mut SerialStream,
        protocol: Protocol,
        want: usize,
    ) -> Vec<WeightReading> {
        let mut parser = protocol.parser();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 256];
        while out.len() < want && Instant::now() < deadline {
            if let Some(req) = protocol.request() {
                port.write_all(req).await.unwrap();
            }
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(200), port.read(&mut buf)).await
            {
                parser.push(&buf[..n]);
            }
            while let Some(f) = parser.next_frame() {
                if let Ok(Frame::Reading(r, _)) = f {
                    out.push(r);
                }
            }
        }
        out
    }

    #[tokio::test]
    async fn every_protocol_shows_the_load_with_at_most_one_division_of_noise() {
        for protocol in Protocol::ALL {
            let (_tx, rx) = watch::channel(Mass::from_decimal(1234, 2, MassUnit::Pound).unwrap());
            let opts = SimScaleOptions {
                interval: Duration::from_millis(10),
                settle: Duration::ZERO,
                ..SimScaleOptions::default()
            };
            let (sim, path) = SimScale::spawn(protocol, rx, opts).unwrap();
            let b = tokio_serial::new(path.to_string_lossy(), 9600);
            let mut port = SerialStream::open(&b).unwrap();
            let got = readings(&mut port, protocol, 5).await;
            assert_eq!(got.len(), 5, "{protocol}");
            for r in got {
                let d = r.weight.micrograms()
                    - Mass::from_decimal(1234, 2, MassUnit::Pound)
                        .unwrap()
                        .micrograms();
                assert!(
                    d.abs()
                        <= Mass::from_decimal(1, 2, MassUnit::Pound)
                            .unwrap()
                            .micrograms()
                            + 1,
                    "{protocol}: {r:?}"
                );
                assert!(r.stable);
            }
            drop(sim);
            assert!(!path.exists());
        }
    }
}
