//! The timestamped capture format: what a scale sent, chunk by chunk, with when it arrived.
//! `intake scale monitor --record FILE` writes it; the replay backend
//! ([`crate::scale::replay`]) plays it back at the recorded pace.
//!
//! A text file, one chunk per line: the milliseconds since the capture started (a whole
//! number, never decreasing), a space, then the chunk's bytes in hex, space-separated. Lines
//! starting with `#` are comments; the first says what the file is, and `# key=value` lines
//! record the port settings the capture was made with (`protocol`, `baud`, `framing`):
//!
//! ```text
//! # intake scale capture 1
//! # protocol=toledo baud=9600 framing=7E1
//! 0 02 34 30 20 30 31 32 33 34 35 30 30 30 30 30 30 0d 1e
//! 101 02 34 30 20 30 31 32 33 34 35 30 30 30 30 30 30 0d 1e
//! ```
//!
//! The bytes are exactly what the port read (parity bits included when a 7-bit line was read
//! on an 8N1 port), so a capture decodes with `intake scale decode` after `--capture`, and
//! replays into the real serial driver through a pseudo-terminal.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scale::{Protocol, hex};

/// The first line of every capture.
pub const MAGIC: &str = "# intake scale capture 1";

/// One read from the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Since the capture started.
    pub at: Duration,
    pub bytes: Vec<u8>,
}

/// A parsed capture.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capture {
    pub chunks: Vec<Chunk>,
    /// From the `# protocol=` header, when present.
    pub protocol: Option<Protocol>,
}

/// A line of a capture that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capture line {line}: {message}")]
pub struct CaptureError {
    pub line: usize,
    pub message: String,
}

impl Capture {
    /// Reads a capture's text.
    pub fn parse(text: &str) -> Result<Capture, CaptureError> {
        let mut cap = Capture::default();
        let mut last = Duration::ZERO;
        for (i, line) in text.lines().enumerate() {
            let err = |message: String| CaptureError {
                line: i + 1,
                message,
            };
            let line = line.trim();
            if i == 0 && line != MAGIC {
                return Err(err(format!(
                    "not a scale capture (the first line must be {MAGIC:?}); record one with `intake scale monitor --record FILE`"
                )));
            }
            if let Some(comment) = line.strip_prefix('#') {
                for kv in comment.split_whitespace() {
                    if let Some(p) = kv.strip_prefix("protocol=") {
                        cap.protocol = Some(p.parse().map_err(|e| err(format!("{e}")))?);
                    }
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            let (ms, bytes) = line.split_once(' ').unwrap_or((line, ""));
            let at = ms.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                err(format!(
                    "{ms:?} is not a time; a line starts with whole milliseconds since the start"
                ))
            })?;
            if at < last {
                return Err(err(format!(
                    "time {ms} ms goes back (the line before was at {} ms)",
                    last.as_millis()
                )));
            }
            last = at;
            let bytes = bytes
                .split_whitespace()
                .map(|h| {
                    u8::from_str_radix(h, 16)
                        .ok()
                        .filter(|_| h.len() == 2)
                        .ok_or_else(|| err(format!("{h:?} is not a byte in hex (two digits)")))
                })
                .collect::<Result<Vec<u8>, _>>()?;
            cap.chunks.push(Chunk { at, bytes });
        }
        if text.trim().is_empty() {
            return Err(CaptureError {
                line: 1,
                message: "the capture is empty".into(),
            });
        }
        Ok(cap)
    }

    /// All the bytes, in order (what `intake scale decode` reads).
    pub fn bytes(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .flat_map(|c| c.bytes.iter().copied())
            .collect()
    }

    /// How long the capture lasts.
    pub fn duration(&self) -> Duration {
        self.chunks.last().map_or(Duration::ZERO, |c| c.at)
    }
}

/// The header of a new capture: the magic line and the settings it is recorded with.
pub fn header(protocol: Protocol, baud: u32, framing: &str) -> String {
    format!("{MAGIC}\n# protocol={protocol} baud={baud} framing={framing}\n")
}

/// One chunk's line (with its newline).
pub fn line(at: Duration, bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3 + 12);
    let _ = write!(s, "{} {}", at.as_millis(), hex(bytes));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_captures_read_back() {
        let mut text = header(Protocol::Toledo, 9600, "7E1");
        text.push_str(&line(Duration::ZERO, &[0x02, 0x8d]));
        text.push_str(&line(Duration::from_millis(105), b"ab"));
        let cap = Capture::parse(&text).unwrap();
        assert_eq!(cap.protocol, Some(Protocol::Toledo));
        assert_eq!(cap.chunks.len(), 2);
        assert_eq!(cap.chunks[1].at, Duration::from_millis(105));
        assert_eq!(cap.bytes(), vec![0x02, 0x8d, b'a', b'b']);
        assert_eq!(cap.duration(), Duration::from_millis(105));
    }

    #[test]
    fn bad_captures_name_the_line() {
        for (text, want) in [
            ("hello\n", "line 1: not a scale capture"),
            (
                "# intake scale capture 1\nx 02\n",
                "line 2: \"x\" is not a time",
            ),
            (
                "# intake scale capture 1\n5 02\n3 02\n",
                "line 3: time 3 ms goes back",
            ),
            (
                "# intake scale capture 1\n5 2\n",
                "line 2: \"2\" is not a byte",
            ),
            (
                "# intake scale capture 1\n# protocol=dymo\n",
                "line 2: unknown scale protocol",
            ),
            ("", "empty"),
        ] {
            let e = Capture::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
