//! The framing layer every scale protocol shares: bytes in, frames cut out.
//!
//! A [`Framer`] holds the bytes read so far (raw, parity bits and all), bounded by
//! [`MAX_PENDING`]. Each protocol describes its frames with a [`Spec`] (how a frame starts,
//! the byte that ends it, the longest it may be) and asks [`Framer::next_cut`] for the next
//! one; the framer reports what is not a frame (garbage before a start, a half frame cut by
//! the next start, a run too long to be a frame, bytes dropped because the reader fell
//! behind) as typed rejections that keep the raw bytes. [`Framer::take`] then hands the
//! frame to the protocol's decoder as 7-bit text and consumes it.
//!
//! Start and end bytes are compared without bit 7, so a 7E1 line read by a port opened as
//! 8N1 frames the same. Whether bit 7 is stripped from a frame's content is decided per frame
//! ([`seven_bit`]): only when every byte of the frame carries a consistent parity (even, odd
//! or mark) is it parity, stripped and noted ([`Note::ParityBitStripped`]); otherwise the
//! bytes are genuine 8-bit data and reach the decoder as they are.

use std::borrow::Cow;

use crate::scale::{FrameError, Note, Parity, Reject};

/// The most bytes a parser holds while waiting for the rest of a frame. Longer runs without a
/// frame are reported and dropped, so a parser's memory is bounded whatever the line sends.
pub const MAX_PENDING: usize = 4096;

/// How a frame begins.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start {
    /// Anywhere: a frame begins right after the previous one (line protocols).
    Any,
    /// At this byte (compared without bit 7).
    Byte(u8),
    /// At one of these headers (compared without bit 7).
    Headers(&'static [&'static [u8]]),
}

/// One protocol's frame shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec {
    pub(crate) start: Start,
    /// The byte that ends a frame (compared without bit 7); it belongs to the frame.
    pub(crate) end: u8,
    /// The longest frame, start to end inclusive.
    pub(crate) max_len: usize,
    /// A start found right after this byte belongs to the frame (NCI's `CR LF` inside a
    /// reply); `None`: any start before the end cuts the frame.
    pub(crate) start_continues_after: Option<u8>,
    /// Where the search for the end begins, given the frame's first bytes (binary fields
    /// that may hold the end byte are skipped this way).
    pub(crate) end_from: fn(&[u8]) -> usize,
}

/// The end search begins right after the start.
pub(crate) fn after_start(_: &[u8]) -> usize {
    1
}

impl Spec {
    /// Whether a frame starts at `b[i..]`: `Some(true)`, `Some(false)`, or `None` when the
    /// bytes there are a header's beginning and more are needed to tell.
    #[inline(always)]
    fn starts_at(&self, b: &[u8], i: usize) -> Option<bool> {
        match self.start {
            Start::Any => Some(true),
            Start::Byte(s) => Some(b[i] & 0x7f == s),
            Start::Headers(hs) => {
                let first = b[i] & 0x7f;
                if hs.iter().all(|h| h.first() != Some(&first)) {
                    return Some(false);
                }
                let tail = &b[i..];
                let mut maybe = false;
                for h in hs {
                    let n = h.len().min(tail.len());
                    if tail[..n].iter().zip(*h).all(|(x, y)| x & 0x7f == *y) {
                        if n == h.len() {
                            return Some(true);
                        }
                        maybe = true;
                    }
                }
                if maybe { None } else { Some(false) }
            }
        }
    }
}

/// The bytes of a stream not yet cut into frames: raw, read from `pos`, compacted on push,
/// never longer than [`MAX_PENDING`] (older bytes are dropped and reported as an overflow).
#[derive(Debug, Default)]
pub(crate) struct Framer {
    data: Vec<u8>,
    pos: usize,
    dropped: usize,
    /// One past the last byte in `data` with bit 7 set (0: none): frames before it need no
    /// parity check, the common case of a clean 8N1 line.
    high_end: usize,
    /// The 7-bit copy of a frame whose parity bits were stripped.
    scratch: Vec<u8>,
}

impl Framer {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.data.drain(..self.pos);
            self.high_end = self.high_end.saturating_sub(self.pos);
            self.pos = 0;
        }
        if let Some(p) = bytes.iter().rposition(|b| b & 0x80 != 0) {
            self.high_end = self.data.len() + p + 1;
        }
        self.data.extend_from_slice(bytes);
        if self.data.len() > MAX_PENDING {
            let excess = self.data.len() - MAX_PENDING;
            self.data.drain(..excess);
            self.high_end = self.high_end.saturating_sub(excess);
            self.dropped += excess;
        }
    }

    /// The raw bytes held.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data[self.pos..]
    }

    pub(crate) fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.data.len());
    }

    pub(crate) fn clear(&mut self) {
        self.data.clear();
        self.pos = 0;
        self.dropped = 0;
        self.high_end = 0;
    }

    /// Reports `n` bytes at the front as `reason` and drops them.
    pub(crate) fn reject(&mut self, reason: Reject, n: usize) -> FrameError {
        let err = FrameError::new(reason, &self.bytes()[..n.min(self.bytes().len())]);
        self.consume(n);
        err
    }

    /// The next frame's length (it starts at the front of [`Framer::bytes`]), a framing
    /// rejection, or `None` until more bytes arrive.
    // Inlined into each parser, where `spec` is a constant the loops specialise on.
    #[inline(always)]
    pub(crate) fn next_cut(&mut self, spec: &Spec) -> Option<Result<usize, FrameError>> {
        if self.dropped > 0 {
            let n = std::mem::take(&mut self.dropped);
            return Some(Err(FrameError::new(Reject::Overflow(n), &[])));
        }
        let b = self.bytes();
        if b.is_empty() {
            return None;
        }
        let from = |b: &[u8]| (spec.end_from)(b).max(1).min(spec.max_len);
        let limit = b.len().min(spec.max_len);
        let end_in = |b: &[u8], from: usize, to: usize| {
            b[from.min(to)..to]
                .iter()
                .position(|&x| x & 0x7f == spec.end)
                .map(|p| p + from)
        };
        let cut_at = match spec.start {
            Start::Any => {
                // Line protocols: the first end byte ends the frame.
                if let Some(e) = end_in(b, from(b), limit) {
                    return Some(Ok(e + 1));
                }
                None
            }
            Start::Byte(s) => {
                let skip = b.iter().position(|&x| x & 0x7f == s).unwrap_or(b.len());
                if skip > 0 {
                    return Some(Err(self.reject(Reject::Garbage(skip), skip)));
                }
                let end = end_in(b, from(b), limit);
                // A new start between this frame's start and its end: this one was cut.
                let cut = (1..end.unwrap_or(limit)).find(|&i| {
                    b[i] & 0x7f == s
                        && spec
                            .start_continues_after
                            .is_none_or(|after| b[i - 1] & 0x7f != after)
                });
                match (cut, end) {
                    (None, Some(e)) => return Some(Ok(e + 1)),
                    (cut, _) => cut,
                }
            }
            Start::Headers(_) => {
                let skip = (0..b.len())
                    .find(|&i| spec.starts_at(b, i) != Some(false))
                    .unwrap_or(b.len());
                if skip > 0 {
                    return Some(Err(self.reject(Reject::Garbage(skip), skip)));
                }
                // A header's beginning: wait for the rest.
                spec.starts_at(b, 0)?;
                let end = end_in(b, from(b), limit);
                let cut = (1..end.unwrap_or(limit)).find(|&i| spec.starts_at(b, i) == Some(true));
                match (cut, end) {
                    (None, Some(e)) => return Some(Ok(e + 1)),
                    (cut, _) => cut,
                }
            }
        };
        if let Some(i) = cut_at {
            return Some(Err(self.reject(Reject::Truncated, i)));
        }
        if b.len() >= spec.max_len {
            return Some(Err(self.reject(Reject::TooLong(spec.max_len), spec.max_len)));
        }
        None
    }

    /// The `len` bytes at the front as 7-bit text (not consumed), with the parity note when
    /// bit 7 was parity and was stripped.
    #[inline(always)]
    pub(crate) fn text(&mut self, len: usize) -> (&[u8], Option<Note>) {
        let len = len.min(self.bytes().len());
        let raw = &self.data[self.pos..self.pos + len];
        if self.high_end <= self.pos {
            return (raw, None);
        }
        seven_bit(raw, &mut self.scratch)
    }

    /// Decodes the `len` bytes at the front as 7-bit text, given the parity note (when bit 7
    /// was parity and was stripped), and consumes them; a rejection keeps the raw bytes.
    #[inline(always)]
    pub(crate) fn take<T>(
        &mut self,
        len: usize,
        decode: impl FnOnce(&[u8], Option<Note>) -> Result<T, Reject>,
    ) -> Result<T, FrameError> {
        let (text, note) = self.text(len);
        match decode(text, note) {
            Ok(v) => {
                self.consume(len);
                Ok(v)
            }
            Err(r) => Err(self.reject(r, len)),
        }
    }
}

/// A frame's content as 7-bit text: bit 7 stripped when it is parity (every byte agrees on
/// even, odd or mark parity, and some byte has it set), with the note saying so; the raw
/// bytes unchanged otherwise (plain 7-bit text, or genuine 8-bit data).
#[inline(always)]
pub(crate) fn seven_bit<'a>(raw: &'a [u8], scratch: &'a mut Vec<u8>) -> (&'a [u8], Option<Note>) {
    match parity_of(raw) {
        None => (raw, None),
        Some(parity) => {
            scratch.clear();
            scratch.extend(raw.iter().map(|b| b & 0x7f));
            (scratch.as_slice(), Some(Note::ParityBitStripped { parity }))
        }
    }
}

/// The parity bit 7 carries in every byte of `raw`, if it does and is set somewhere.
#[inline]
pub(crate) fn parity_of(raw: &[u8]) -> Option<Parity> {
    if raw.iter().all(|b| b & 0x80 == 0) {
        return None;
    }
    if raw.iter().all(|b| b.count_ones() % 2 == 0) {
        Some(Parity::Even)
    } else if raw.iter().all(|b| b.count_ones() % 2 == 1) {
        Some(Parity::Odd)
    } else if raw.iter().all(|b| b & 0x80 != 0) {
        Some(Parity::Mark)
    } else {
        None
    }
}

/// `bytes` as a 7E1 line sends them: bit 7 set where it makes the count of ones even.
pub fn with_even_parity(bytes: &[u8]) -> Vec<u8> {
    bytes
        .iter()
        .map(|b| {
            let b = b & 0x7f;
            if b.count_ones() % 2 == 1 { b | 0x80 } else { b }
        })
        .collect()
}

/// The text of `raw` with bit 7 stripped when it is parity (for tools that show bytes).
pub fn strip_parity(raw: &[u8]) -> Cow<'_, [u8]> {
    match parity_of(raw) {
        None => Cow::Borrowed(raw),
        Some(_) => Cow::Owned(raw.iter().map(|b| b & 0x7f).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: Spec = Spec {
        start: Start::Byte(b'\n'),
        end: b'\r',
        max_len: 8,
        start_continues_after: None,
        end_from: after_start,
    };

    fn cuts(spec: &Spec, bytes: &[u8]) -> Vec<Result<Vec<u8>, Reject>> {
        let mut f = Framer::default();
        f.push(bytes);
        let mut out = Vec::new();
        while let Some(c) = f.next_cut(spec) {
            match c {
                Ok(n) => {
                    let v = f.take(n, |t, _| Ok(t.to_vec())).unwrap();
                    out.push(Ok(v));
                }
                Err(e) => out.push(Err(e.reason)),
            }
        }
        out
    }

    #[test]
    fn garbage_half_frames_and_long_runs_are_reported_and_framing_resumes() {
        let got = cuts(&LINE, b"xy\nab\ncd\r\n0123456789\nok\r");
        assert_eq!(
            got,
            vec![
                Err(Reject::Garbage(2)),
                Err(Reject::Truncated),
                Ok(b"\ncd\r".to_vec()),
                Err(Reject::TooLong(8)),
                Err(Reject::Garbage(3)),
                Ok(b"\nok\r".to_vec()),
            ]
        );
    }

    #[test]
    fn headers_may_arrive_in_pieces() {
        const H: Spec = Spec {
            start: Start::Headers(&[b"ST,", b"US,"]),
            end: b'\n',
            max_len: 20,
            start_continues_after: None,
            end_from: after_start,
        };
        let mut f = Framer::default();
        f.push(b"S");
        assert!(f.next_cut(&H).is_none());
        f.push(b"T,1kg\r\n");
        assert_eq!(f.next_cut(&H).unwrap().unwrap(), 8);
    }

    #[test]
    fn parity_is_stripped_only_when_every_byte_agrees() {
        let mut s = Vec::new();
        let even = with_even_parity(b"\nS00\r\x03");
        assert_eq!(
            seven_bit(&even, &mut s),
            (
                &b"\nS00\r\x03"[..],
                Some(Note::ParityBitStripped {
                    parity: Parity::Even
                })
            )
        );
        let mark: Vec<u8> = b"S S 1 g".iter().map(|b| b | 0x80).collect();
        assert_eq!(
            seven_bit(&mark, &mut s).1,
            Some(Note::ParityBitStripped {
                parity: Parity::Mark
            })
        );
        // A binary byte among plain text (a CAS lamp byte) is data, not parity.
        let mixed = b"ST,GS,\x01\xc1,1kg";
        assert_eq!(seven_bit(mixed, &mut s), (&mixed[..], None));
        assert_eq!(seven_bit(b"plain", &mut s), (&b"plain"[..], None));
    }

    #[test]
    fn the_buffer_is_bounded() {
        let mut f = Framer::default();
        f.push(&vec![b'x'; MAX_PENDING + 10]);
        assert_eq!(f.bytes().len(), MAX_PENDING);
        assert_eq!(
            f.next_cut(&LINE).unwrap().unwrap_err().reason,
            Reject::Overflow(10)
        );
    }
}
