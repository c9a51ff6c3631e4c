//! Benewake TFmini / TFmini-S / TFmini Plus / TF-Luna lidar over UART (115200 8N1).
//!
//! The sensor streams 9-byte frames (100 Hz by default):
//! `59 59 Dist_L Dist_H Strength_L Strength_H Temp_L Temp_H Checksum`, the checksum being
//! the low 8 bits of the sum of the first 8 bytes (TFmini-S manual §5.3, TFmini Plus manual).
//! [`Parser`] is pure: `push(&[u8])`, then `next_frame()`. [`TfMini`] moves bytes from a
//! serial port (or any `AsyncRead`) into it.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::device::{BoxFuture, DeviceError, ErrorKind, RangeFinder};
use crate::quantity::Length;

/// Frame header byte (twice).
pub const HEADER: u8 = 0x59;
/// Bytes in one frame.
pub const FRAME_LEN: usize = 9;
/// The parser never holds more than this many bytes; older ones are dropped first.
pub const MAX_BUFFER: usize = 256;
/// The serial speed every model ships with.
pub const BAUD: u32 = 115_200;

/// One frame with a good checksum, as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Frame {
    /// Distance in the unit the sensor is set to (centimetres by default); `0xFFFF`,
    /// `0xFFFE` and `0xFFFC` are the TFmini-S invalid codes (−1, −2, −4).
    pub dist: u16,
    pub strength: u16,
    /// Bytes 6..8: chip temperature (`raw / 8 − 256` °C) on the TFmini-S / Plus / Luna; on an
    /// old TFmini, byte 6 is the distance mode (2 short, 7 long) and byte 7 is zero.
    pub temp_raw: u16,
}

impl Frame {
    /// Decodes 9 bytes that start with the header; `Err` carries the checksum computed.
    pub fn decode(b: &[u8; FRAME_LEN]) -> Result<Frame, ChecksumError> {
        let sum = b[..8].iter().fold(0u8, |s, x| s.wrapping_add(*x));
        if sum != b[8] {
            return Err(ChecksumError {
                computed: sum,
                received: b[8],
                frame: *b,
            });
        }
        Ok(Frame {
            dist: u16::from_le_bytes([b[2], b[3]]),
            strength: u16::from_le_bytes([b[4], b[5]]),
            temp_raw: u16::from_le_bytes([b[6], b[7]]),
        })
    }

    /// Chip temperature in whole °C (TFmini-S / Plus / Luna).
    pub fn temp_celsius(&self) -> i32 {
        i32::from(self.temp_raw) / 8 - 256
    }

    /// The distance, or why the sensor says it has none. The frame must be in centimetres
    /// (the factory "standard 9 bytes (cm)" output format).
    pub fn distance(&self) -> Result<Length, InvalidReading> {
        match self.dist {
            0xFFFF => return Err(InvalidReading::WeakSignal),
            0xFFFE => return Err(InvalidReading::SignalSaturated),
            0xFFFC => return Err(InvalidReading::AmbientSaturated),
            _ => {}
        }
        // TFmini Plus / TF-Luna: below 100 or at 65535 the reading is unreliable (and the
        // distance is sent as 0 or a code).
        if self.strength < 100 {
            return Err(InvalidReading::WeakSignal);
        }
        if self.strength == u16::MAX {
            return Err(InvalidReading::SignalSaturated);
        }
        if self.dist == 0 {
            return Err(InvalidReading::WeakSignal);
        }
        Ok(Length::from_mm(i64::from(self.dist) * 10))
    }
}

/// A frame whose checksum does not match: the bytes are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "frame {frame:02x?} has checksum {received:#04x}, computed {computed:#04x}; check the baud rate and cable (noise or a software serial port drops bits)"
)]
pub struct ChecksumError {
    pub computed: u8,
    pub received: u8,
    pub frame: [u8; FRAME_LEN],
}

/// Why a well-formed frame carries no usable distance (TFmini-S manual "abnormal values").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum InvalidReading {
    #[error("signal too weak (strength below 100): nothing in range, or a dark or angled surface")]
    WeakSignal,
    #[error("signal saturated: a mirror or reflector too close; angle the target or the sensor")]
    SignalSaturated,
    #[error("ambient light saturated: shade the sensor from sunlight or lamps")]
    AmbientSaturated,
}

/// The pure frame parser: bytes in, frames out, resync after garbage.
#[derive(Debug, Default, Clone)]
pub struct Parser {
    buf: Vec<u8>,
    skipped: u64,
}

impl Parser {
    pub fn new() -> Self {
        Parser::default()
    }

    /// Appends bytes. If the buffer would exceed [`MAX_BUFFER`] the oldest bytes are
    /// dropped (the newest readings are the ones that matter).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > MAX_BUFFER {
            let excess = self.buf.len() - MAX_BUFFER;
            self.buf.drain(..excess);
            self.skipped += excess as u64;
        }
    }

    /// Bytes dropped so far as garbage, partial frames or overflow.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Bytes waiting.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Forgets everything buffered (to read a fresh frame).
    pub fn clear(&mut self) {
        self.skipped += self.buf.len() as u64;
        self.buf.clear();
    }

    /// The next frame, a checksum failure (its first byte is dropped, so a misaligned
    /// stream resyncs on the next header), or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Result<Frame, ChecksumError>> {
        let start = self
            .buf
            .windows(2)
            .position(|w| w == [HEADER, HEADER])
            .unwrap_or_else(|| {
                // Keep a trailing 0x59: it may be the first half of a header.
                if self.buf.last() == Some(&HEADER) {
                    self.buf.len() - 1
                } else {
                    self.buf.len()
                }
            });
        if start > 0 {
            self.buf.drain(..start);
            self.skipped += start as u64;
        }
        let bytes: [u8; FRAME_LEN] = self.buf.get(..FRAME_LEN)?.try_into().ok()?;
        match Frame::decode(&bytes) {
            Ok(f) => {
                self.buf.drain(..FRAME_LEN);
                Some(Ok(f))
            }
            Err(e) => {
                self.buf.drain(..1);
                self.skipped += 1;
                Some(Err(e))
            }
        }
    }
}

/// Which Benewake model: they share the frame; the name is for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    #[serde(rename = "tfmini")]
    TfMini,
    #[serde(rename = "tfmini-s")]
    TfMiniS,
    #[serde(rename = "tfmini-plus")]
    TfMiniPlus,
    #[serde(rename = "tf-luna")]
    TfLuna,
}

impl Model {
    pub fn label(self) -> &'static str {
        match self {
            Model::TfMini => "TFmini",
            Model::TfMiniS => "TFmini-S",
            Model::TfMiniPlus => "TFmini Plus",
            Model::TfLuna => "TF-Luna",
        }
    }
}

/// A Benewake lidar on a byte stream.
pub struct TfMini<R> {
    name: String,
    model: Model,
    port: R,
    parser: Parser,
    timeout: Duration,
}

impl TfMini<tokio_serial::SerialStream> {
    /// Opens a serial port at 115200 8N1.
    pub fn open(
        name: impl Into<String>,
        model: Model,
        path: &Path,
    ) -> Result<Self, tokio_serial::Error> {
        use tokio_serial::SerialPortBuilderExt;
        let port = tokio_serial::new(path.to_string_lossy(), BAUD)
            .data_bits(tokio_serial::DataBits::Eight)
            .parity(tokio_serial::Parity::None)
            .stop_bits(tokio_serial::StopBits::One)
            .flow_control(tokio_serial::FlowControl::None)
            .open_native_async()?;
        Ok(TfMini::new(name, model, port))
    }
}

impl<R: AsyncRead + ClearInput + Unpin + Send> TfMini<R> {
    pub fn new(name: impl Into<String>, model: Model, port: R) -> Self {
        TfMini {
            name: name.into(),
            model,
            port,
            parser: Parser::new(),
            timeout: Duration::from_millis(500),
        }
    }

    /// How long a reading may take before it is a timeout (default 500 ms; the sensor
    /// sends 100 frames a second).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn device(&self) -> String {
        format!("{} {}", self.model.label(), self.name)
    }

    /// Reads until a frame with a good checksum arrives, then reports its distance. Bytes
    /// already waiting in the port are stale and discarded first.
    pub async fn next_reading(&mut self) -> Result<Result<Length, InvalidReading>, DeviceError> {
        if let Err(e) = self.port.clear_input() {
            return Err(DeviceError::new(
                self.device(),
                ErrorKind::Disconnected,
                format!("cannot flush the port: {e}; check the USB-serial adapter is plugged in"),
            ));
        }
        self.parser.clear();
        let mut bad = 0u32;
        let mut buf = [0u8; 64];
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            while let Some(item) = self.parser.next_frame() {
                match item {
                    Ok(frame) => return Ok(frame.distance()),
                    Err(e) => {
                        bad += 1;
                        tracing::debug!(device = %self.name, error = %e, "dropped frame");
                    }
                }
            }
            let n = match tokio::time::timeout_at(deadline, self.port.read(&mut buf)).await {
                Err(_) if bad > 0 => {
                    return Err(DeviceError::new(
                        self.device(),
                        ErrorKind::Malformed,
                        format!(
                            "{bad} frame(s) in {:?} failed the checksum and none passed; check the baud rate (115200) and the cable",
                            self.timeout
                        ),
                    ));
                }
                Err(_) => {
                    return Err(DeviceError::new(
                        self.device(),
                        ErrorKind::Timeout,
                        format!(
                            "sent no frame for {:?}; check it is powered, its TX goes to our RX, and it runs 115200 8N1 in the standard 9-byte (cm) format",
                            self.timeout
                        ),
                    ));
                }
                Ok(Err(e)) => {
                    return Err(DeviceError::new(
                        self.device(),
                        ErrorKind::Disconnected,
                        format!("read failed: {e}; check the USB-serial adapter is plugged in"),
                    ));
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                return Err(DeviceError::new(
                    self.device(),
                    ErrorKind::Disconnected,
                    "the serial port closed; check the USB-serial adapter is plugged in",
                ));
            }
            self.parser.push(&buf[..n]);
        }
    }
}

/// A byte stream whose unread input can be discarded (stale frames from the last 100 Hz
/// burst must not be taken for a fresh reading).
pub trait ClearInput {
    fn clear_input(&mut self) -> std::io::Result<()>;
}

impl ClearInput for tokio_serial::SerialStream {
    fn clear_input(&mut self) -> std::io::Result<()> {
        use tokio_serial::SerialPort;
        self.clear(tokio_serial::ClearBuffer::Input)
            .map_err(std::io::Error::from)
    }
}

impl<R: AsyncRead + ClearInput + Unpin + Send> RangeFinder for TfMini<R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn measure(&mut self) -> BoxFuture<'_, Result<Length, DeviceError>> {
        Box::pin(async move {
            match self.next_reading().await? {
                Ok(l) => Ok(l),
                Err(invalid) => Err(DeviceError::new(
                    self.device(),
                    ErrorKind::OutOfRange,
                    invalid.to_string(),
                )),
            }
        })
    }
}
