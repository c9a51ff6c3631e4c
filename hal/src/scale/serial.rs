//! The serial transport: a [`Scale`] over a serial port (tokio-serial), for every protocol.
//!
//! * Polled protocols get their request every `poll_interval`; continuous ones are only read.
//! * No valid frame for `read_timeout` → an [`ErrorKind::Timeout`] error (saying whether bytes
//!   arrived at all, which points at baud/framing rather than power). The port stays open;
//!   the next call keeps reading.
//! * EOF or an IO error (EIO when a USB adapter is pulled) → the port is closed and an
//!   [`ErrorKind::Disconnected`] error returned once; the next call waits (doubling from
//!   `reconnect_min` to `reconnect_max`) and reopens until the port is back, without
//!   returning an error per retry. Open the scale by its `/dev/serial/by-id/…` path: that
//!   name comes back when the adapter is replugged, while `/dev/ttyUSB0` may not.
//! * A weight-less status frame that reports a condition (over capacity, under zero, zero
//!   error, fault) is an [`ErrorKind::OutOfRange`] error; status-only motion frames are
//!   skipped (no weight to report). A refused request (`?`, `ES`) is an
//!   [`ErrorKind::Config`] error: the scale speaks another protocol.
//!
//! * Frames come with [`Note`]s (status bits that differ from the manual, parity stripped…):
//!   they are logged when they change (not per frame) and counted per kind in
//!   [`NoteCounts`] ([`SerialScale::note_counts`]) for the metrics.
//!
//! State changes are logged once each (`tracing`): disconnected, reconnected, silent,
//! answering again, notes changed. Nothing is logged per retry or per poll.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, sleep, timeout_at};
use tokio_serial::SerialStream;
use tracing::{debug, info, warn};

use crate::device::{BoxFuture, DeviceError, ErrorKind, Scale, ScaleStatus, WeightReading};
use crate::scale::config::SerialSettings;
use crate::scale::{Frame, FrameError, FrameParser, Note, NoteCounts};

/// About the most raw bytes kept for [`SerialScale::take_raw`] (reads of up to 512).
const MAX_RAW: usize = 64 * 1024;

/// A scale on a serial port.
pub struct SerialScale {
    settings: SerialSettings,
    name: String,
    port: Option<SerialStream>,
    parser: Box<dyn FrameParser>,
    /// A disconnection was reported and not yet followed by a reconnection.
    down: bool,
    backoff: Duration,
    /// A timeout was reported and no valid frame has come since.
    silent: bool,
    next_poll: Instant,
    last_frame: Instant,
    /// Bytes since the last valid frame (to tell "nothing" from "garbage").
    bytes_since_frame: usize,
    /// Reads kept for the technician's monitor: when, and the bytes.
    raw: Option<Vec<(Instant, Vec<u8>)>>,
    /// The notes of the last valid frame (logged when they change).
    notes: Vec<Note>,
    counts: NoteCounts,
    /// A valid frame taken from the parser while checking the read deadline.
    pending: Option<Frame>,
}

impl std::fmt::Debug for SerialScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialScale")
            .field("settings", &self.settings)
            .field("connected", &self.port.is_some())
            .finish_non_exhaustive()
    }
}

impl SerialScale {
    /// A scale on `settings.port`; the port is opened on the first read (and reopened after
    /// an unplug), so a scale that is off at start-up is a reported fault, not a crash.
    pub fn new(settings: SerialSettings) -> SerialScale {
        let name = format!("scale on {}", settings.port.display());
        let now = Instant::now();
        SerialScale {
            parser: settings.protocol.parser(),
            backoff: settings.reconnect_min,
            settings,
            name,
            port: None,
            down: false,
            silent: false,
            next_poll: now,
            last_frame: now,
            bytes_since_frame: 0,
            raw: None,
            notes: Vec::new(),
            counts: NoteCounts::default(),
            pending: None,
        }
    }

    /// Frames with each kind of note so far; a shared handle that stays current.
    pub fn note_counts(&self) -> NoteCounts {
        self.counts.clone()
    }

    /// Counts a valid frame's notes, and logs them when they differ from the last frame's.
    fn notice(&mut self, frame: &Frame) {
        let notes = frame.notes();
        self.counts.add(notes);
        if notes == self.notes.as_slice() {
            return;
        }
        self.notes = notes.to_vec();
        if notes.is_empty() {
            info!(device = %self.name, "scale frames match the manual again");
        } else {
            let text: Vec<String> = notes.iter().map(ToString::to_string).collect();
            let kinds: Vec<&str> = notes.iter().map(Note::kind).collect();
            info!(
                device = %self.name,
                notes = %text.join("; "),
                kinds = ?kinds,
                "scale frames differ from the manual (read anyway)"
            );
        }
    }

    /// Opens the port now: for tools that should fail at once on a wrong path.
    pub fn open(settings: SerialSettings) -> Result<SerialScale, DeviceError> {
        let mut s = SerialScale::new(settings);
        s.connect()?;
        Ok(s)
    }

    pub fn settings(&self) -> &SerialSettings {
        &self.settings
    }

    /// Keeps the raw bytes read, for [`SerialScale::take_raw`] (the technician's monitor).
    pub fn record_raw(&mut self, on: bool) {
        self.raw = on.then(Vec::new);
    }

    /// The raw bytes read since the last call (when recording).
    pub fn take_raw(&mut self) -> Vec<u8> {
        self.take_chunks()
            .into_iter()
            .flat_map(|(_, b)| b)
            .collect()
    }

    /// The reads since the last call (when recording), each with when it arrived: what
    /// `intake scale monitor --record` writes as a capture.
    pub fn take_chunks(&mut self) -> Vec<(Instant, Vec<u8>)> {
        self.raw.as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn error(&self, kind: ErrorKind, detail: impl Into<String>) -> DeviceError {
        DeviceError::new(self.name.clone(), kind, detail)
    }

    fn connect(&mut self) -> Result<(), DeviceError> {
        let s = &self.settings;
        let builder = tokio_serial::new(s.port.to_string_lossy(), s.baud)
            .data_bits(s.framing.data_bits)
            .parity(s.framing.parity)
            .stop_bits(s.framing.stop_bits)
            .flow_control(tokio_serial::FlowControl::None);
        match SerialStream::open(&builder) {
            Ok(port) => {
                self.port = Some(port);
                self.parser.reset();
                let now = Instant::now();
                self.next_poll = now;
                self.last_frame = now;
                self.bytes_since_frame = 0;
                self.backoff = self.settings.reconnect_min;
                if self.down {
                    self.down = false;
                    info!(device = %self.name, "scale reconnected");
                }
                Ok(())
            }
            Err(e) => {
                let kind = match e.kind {
                    tokio_serial::ErrorKind::Io(io::ErrorKind::PermissionDenied) => {
                        ErrorKind::Config
                    }
                    tokio_serial::ErrorKind::InvalidInput => ErrorKind::Config,
                    _ => ErrorKind::Disconnected,
                };
                let hint = match kind {
                    ErrorKind::Config => {
                        "check the port settings and that this user may open it (dialout group)"
                    }
                    _ => {
                        "check the cable and the port name (prefer /dev/serial/by-id/…, which survives replugging)"
                    }
                };
                Err(self.error(kind, format!("cannot open: {e}; {hint}")))
            }
        }
    }

    /// Closes the port after EOF or an IO error; returns the error to report (once).
    fn disconnect(&mut self, why: &str) -> Option<DeviceError> {
        if let Some(mut port) = self.port.take() {
            // Clear TIOCEXCL so that the device can be opened again by a non-root user.
            let _ = port.set_exclusive(false);
        }
        self.parser.reset();
        if self.down {
            return None;
        }
        self.down = true;
        warn!(device = %self.name, reason = why, "scale disconnected");
        Some(self.error(
            ErrorKind::Disconnected,
            format!("{why}; the scale was unplugged or lost power; reconnecting"),
        ))
    }

    /// Whether the parser holds a valid frame (rejections are skipped past, so a valid frame
    /// behind them still counts).
    fn parser_has_frame(&mut self) -> bool {
        // Rejections already parsed are dropped here: read_weight skips them anyway, and
        // the timeout about to be reported says what they were.
        loop {
            match self.parser.next_frame() {
                Some(Ok(frame)) => {
                    self.pending = Some(frame);
                    return true;
                }
                Some(Err(e)) => {
                    debug!(device = %self.name, error = %e, "frame rejected");
                }
                None => return false,
            }
        }
    }

    /// The timeout error for a read deadline passed without a valid frame: "sent nothing"
    /// when no byte came, "unreadable data" when bytes came but no frame.
    fn no_valid_frame(&mut self) -> DeviceError {
        self.last_frame = Instant::now();
        let s = &self.settings;
        let detail = if self.bytes_since_frame == 0 {
            format!(
                "sent nothing for {:?}; check it is powered, connected and set to {} {}",
                s.read_timeout, s.baud, s.framing
            )
        } else {
            format!(
                "unreadable data: wrong protocol or baud rate? ({} bytes in {:?}, no valid {} frame at {} {}; check the scale's protocol, baud rate and framing)",
                self.bytes_since_frame, s.read_timeout, s.protocol, s.baud, s.framing
            )
        };
        self.bytes_since_frame = 0;
        if !self.silent {
            self.silent = true;
            warn!(device = %self.name, detail = %detail, "no valid frame from the scale");
        }
        self.error(ErrorKind::Timeout, detail)
    }

    /// The next frame (or rejected run of bytes) from the scale, reconnecting and polling as
    /// needed. Errors: `Disconnected` (once per outage), `Timeout`, `Config`.
    pub async fn next_frame(&mut self) -> Result<Result<Frame, FrameError>, DeviceError> {
        let mut buf = [0u8; 512];
        loop {
            if let Some(f) = self
                .pending
                .take()
                .map(Ok)
                .or_else(|| self.parser.next_frame())
            {
                if let Ok(frame) = &f {
                    self.notice(frame);
                    self.last_frame = Instant::now();
                    self.bytes_since_frame = 0;
                    if self.silent {
                        self.silent = false;
                        info!(device = %self.name, "scale answering again");
                    }
                }
                return Ok(f);
            }
            if self.port.is_none() {
                if self.down {
                    sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(self.settings.reconnect_max);
                }
                if let Err(e) = self.connect() {
                    if let Some(reported) = self.disconnect(&e.detail) {
                        return Err(DeviceError {
                            kind: e.kind,
                            ..reported
                        });
                    }
                    continue;
                }
            }
            let now = Instant::now();
            let Some(port) = self.port.as_mut() else {
                continue;
            };
            if let Some(req) = self.settings.protocol.request()
                && now >= self.next_poll
            {
                self.next_poll = now + self.settings.poll_interval;
                if let Err(e) = port.write_all(req).await {
                    if let Some(err) = self.disconnect(&format!("write failed: {e}")) {
                        return Err(err);
                    }
                    continue;
                }
            }
            let deadline = self.last_frame + self.settings.read_timeout;
            let wake = if self.settings.protocol.is_polled() {
                deadline.min(self.next_poll)
            } else {
                deadline
            };
            match timeout_at(wake, port.read(&mut buf)).await {
                Ok(Ok(0)) => {
                    if let Some(err) = self.disconnect("end of file on the port") {
                        return Err(err);
                    }
                }
                Ok(Ok(n)) => {
                    self.bytes_since_frame += n;
                    if let Some(raw) = self.raw.as_mut() {
                        if raw.len() * 512 > MAX_RAW {
                            raw.clear();
                        }
                        raw.push((Instant::now(), buf[..n].to_vec()));
                    }
                    self.parser.push(&buf[..n]);
                    // A steady stream of unreadable bytes never lets the read time out: the
                    // deadline is checked here too, once the parser has no frame to give.
                    if Instant::now() >= deadline && !self.parser_has_frame() {
                        return Err(self.no_valid_frame());
                    }
                }
                Ok(Err(e)) => {
                    if let Some(err) = self.disconnect(&format!("read failed: {e}")) {
                        return Err(err);
                    }
                }
                Err(_elapsed) if Instant::now() >= deadline => {
                    return Err(self.no_valid_frame());
                }
                Err(_elapsed) => {}
            }
        }
    }

    /// The next weight reading; see the module documentation for what becomes an error.
    pub async fn read_weight(&mut self) -> Result<WeightReading, DeviceError> {
        loop {
            match self.next_frame().await? {
                Ok(Frame::Reading(r, _)) => return Ok(r),
                Ok(Frame::Status { status, motion, .. }) => {
                    if status == ScaleStatus::Ok {
                        debug!(device = %self.name, motion, "status without weight");
                        continue;
                    }
                    let what = match status {
                        ScaleStatus::OverCapacity => "over capacity; take the load off",
                        ScaleStatus::UnderZero => "under zero; empty the platform and re-zero it",
                        ScaleStatus::ZeroError => "cannot zero; empty the platform and re-zero it",
                        ScaleStatus::NotExecutable => "busy; it could not weigh now",
                        ScaleStatus::Fault => "reports an internal fault; service the scale",
                        ScaleStatus::Ok => "ok",
                    };
                    return Err(self.error(ErrorKind::OutOfRange, format!("scale {what}")));
                }
                Ok(Frame::Reply {
                    command, detail, ..
                }) => {
                    debug!(device = %self.name, command = %command, detail = %detail, "reply");
                }
                Ok(Frame::Refused { code, meaning }) => {
                    let kind = if matches!(code.as_str(), "?" | "ES") {
                        ErrorKind::Config
                    } else {
                        ErrorKind::Malformed
                    };
                    return Err(self.error(
                        kind,
                        format!(
                            "the scale refused the {} weight request ({code}: {meaning})",
                            self.settings.protocol
                        ),
                    ));
                }
                Err(e) => debug!(device = %self.name, error = %e, "frame rejected"),
            }
        }
    }
}

impl Scale for SerialScale {
    fn name(&self) -> &str {
        &self.name
    }

    fn next_reading(&mut self) -> BoxFuture<'_, Result<WeightReading, DeviceError>> {
        Box::pin(self.read_weight())
    }
}

/// One way of talking to a port that got valid frames back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeAnswer {
    pub protocol: crate::scale::Protocol,
    pub baud: u32,
    pub framing: crate::scale::config::Framing,
    /// Valid frames received while listening.
    pub frames: usize,
    /// Runs of bytes the parser rejected meanwhile.
    pub rejected: usize,
    /// The first valid frame, to show the technician.
    pub sample: Frame,
    /// The parity the frames carried in bit 7 (a 7-bit scale read at 8 bits), if they did.
    pub parity: Option<crate::scale::Parity>,
}

impl ProbeAnswer {
    /// The framing to configure: 7 data bits with the parity the frames carried, when they
    /// carried one; otherwise the framing that was tried.
    pub fn framing_to_use(&self) -> crate::scale::config::Framing {
        use crate::scale::Parity;
        use crate::scale::config::Framing;
        match self.parity {
            Some(Parity::Even) => Framing::E71,
            Some(Parity::Odd) => Framing {
                parity: tokio_serial::Parity::Odd,
                ..Framing::E71
            },
            Some(Parity::Mark) | None => self.framing,
        }
    }

    /// The `[scale]` section that reads this scale on `port`.
    pub fn toml_section(&self, port: &std::path::Path) -> String {
        format!(
            "[scale]\ntype = \"serial\"\nport = {:?}\nprotocol = \"{}\"\nbaud = {}\nframing = \"{}\"\n",
            port.to_string_lossy(),
            self.protocol,
            self.baud,
            self.framing_to_use()
        )
    }

    /// The answer to configure from several: the most valid frames, then the fewest
    /// rejections, then the first tried.
    pub fn best(answers: &[ProbeAnswer]) -> Option<&ProbeAnswer> {
        answers
            .iter()
            .enumerate()
            .max_by_key(|(i, a)| {
                (
                    a.frames,
                    std::cmp::Reverse(a.rejected),
                    std::cmp::Reverse(*i),
                )
            })
            .map(|(_, a)| a)
    }
}

/// Tries every protocol at every baud rate and framing given on `port`: for each setting it
/// listens for `listen` (continuous protocols), then sends each polled protocol's request and
/// listens again. Returns the settings that got valid frames back.
pub async fn probe(
    port: &std::path::Path,
    bauds: &[u32],
    framings: &[crate::scale::config::Framing],
    listen: Duration,
) -> Result<Vec<ProbeAnswer>, DeviceError> {
    use crate::scale::Protocol;
    let mut answers = Vec::new();
    for &baud in bauds {
        for &framing in framings {
            let builder = tokio_serial::new(port.to_string_lossy(), baud)
                .data_bits(framing.data_bits)
                .parity(framing.parity)
                .stop_bits(framing.stop_bits);
            let mut stream = SerialStream::open(&builder).map_err(|e| {
                DeviceError::new(
                    format!("scale on {}", port.display()),
                    ErrorKind::Disconnected,
                    format!("cannot open: {e}; check the port name and that nothing else holds it"),
                )
            })?;
            let mut rounds: Vec<(Option<Protocol>, Vec<Protocol>)> =
                vec![(None, vec![Protocol::Toledo, Protocol::Cas])];
            rounds.extend(
                Protocol::ALL
                    .into_iter()
                    .filter(|p| p.is_polled())
                    .map(|p| (Some(p), vec![p])),
            );
            for (ask, parse) in rounds {
                if let Some(p) = ask
                    && let Some(req) = p.request()
                {
                    let _ = stream.write_all(req).await;
                }
                // Per protocol: its parser, valid frames seen, rejections, the first frame.
                type Listener = (Protocol, Box<dyn FrameParser>, usize, usize, Option<Frame>);
                let mut parsers: Vec<Listener> =
                    parse.iter().map(|&p| (p, p.parser(), 0, 0, None)).collect();
                let end = Instant::now() + listen;
                let mut buf = [0u8; 512];
                while let Ok(Ok(n)) = timeout_at(end, stream.read(&mut buf)).await {
                    if n == 0 {
                        break;
                    }
                    for (_, parser, count, rejected, sample) in parsers.iter_mut() {
                        parser.push(&buf[..n]);
                        while let Some(f) = parser.next_frame() {
                            match f {
                                Ok(f) => {
                                    *count += 1;
                                    sample.get_or_insert(f);
                                }
                                Err(_) => *rejected += 1,
                            }
                        }
                    }
                }
                for (protocol, _, frames, rejected, sample) in parsers {
                    if let Some(sample) = sample {
                        let parity = sample.notes().iter().find_map(|n| match n {
                            crate::scale::Note::ParityBitStripped { parity } => Some(*parity),
                            _ => None,
                        });
                        answers.push(ProbeAnswer {
                            protocol,
                            baud,
                            framing,
                            frames,
                            rejected,
                            sample,
                            parity,
                        });
                    }
                }
            }
            let _ = stream.set_exclusive(false);
        }
    }
    Ok(answers)
}
