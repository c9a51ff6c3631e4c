//! Shipping scales: pure protocol parsers, the serial transport, and the simulated scale.
//!
//! Each protocol has its own module with a parser (bytes in with [`FrameParser::push`],
//! frames out with [`FrameParser::next_frame`]; no IO, bounded buffers, resynchronises after
//! garbage) and an encoder (a reading to the bytes that scale would send), which the simulated
//! scale and the round-trip tests use.
//!
//! | name      | module       | mode       | request      | usual framing |
//! | --------- | ------------ | ---------- | ------------ | ------------- |
//! | `mt-sics` | [`mt_sics`]  | polled     | `SI CR LF`   | 8N1 / 7E1     |
//! | `toledo`  | [`toledo`]   | continuous | –            | 7E1           |
//! | `sma`     | [`sma`]      | polled     | `LF W CR`    | 8N1           |
//! | `nci`     | [`nci`]      | polled     | `W CR`       | 7E1           |
//! | `cas`     | [`cas`]      | continuous | –            | 8N1           |
//!
//! Every parser frames through [`framing::Framer`] (find the start, cut at the terminator,
//! bound the length, resynchronise), and keeps only what its protocol's frames hold. Every
//! protocol here is 7-bit ASCII: a scale sending 7E1 read by a port opened as 8N1 (or a raw
//! capture of one) decodes the same, with a [`Note::ParityBitStripped`].
//!
//! Scales in the field do not always set their status bits as the manual says (firmware
//! versions, compatible indicators of other brands, options). A frame with a valid structure,
//! digits and checksum decodes; what differs from the manual comes with the reading as a
//! [`Note`]. Only what makes the value untrustworthy (checksum, non-digits, over or under
//! range, motion) rejects a frame or changes the reading's flags.
//!
//! The transport is [`serial::SerialScale`]; its configuration is [`config::ScaleConfig`]; the
//! simulated scale is [`sim::SimScale`].

pub mod capture;
pub mod cas;
pub mod config;
pub mod framing;
pub mod mt_sics;
pub mod nci;
pub mod replay;
pub mod serial;
pub mod sim;
pub mod sma;
pub mod toledo;

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::device::{ScaleStatus, WeightReading};
use crate::quantity::{Mass, MassUnit};

pub use framing::MAX_PENDING;

/// The most raw bytes kept in a [`FrameError`] for the technician.
const MAX_RAW_KEPT: usize = 64;

/// What a parser found in the byte stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A weight, with the scale's flags, and what in the frame differed from the manual.
    Reading(WeightReading, Vec<Note>),
    /// The scale's condition without a weight (in motion, over capacity, zero error…): what
    /// some protocols send instead of a weight.
    Status {
        status: ScaleStatus,
        motion: bool,
        notes: Vec<Note>,
    },
    /// An answer to a command other than a weight request (zero, tare, reset, identify).
    Reply {
        command: String,
        status: ScaleStatus,
        detail: String,
    },
    /// The scale refused a command: it did not understand it, or the line garbled it.
    Refused { code: String, meaning: String },
}

impl Frame {
    /// What differed from the manual in this frame.
    pub fn notes(&self) -> &[Note] {
        match self {
            Frame::Reading(_, notes) | Frame::Status { notes, .. } => notes,
            Frame::Reply { .. } | Frame::Refused { .. } => &[],
        }
    }

    fn notes_mut(&mut self) -> Option<&mut Vec<Note>> {
        match self {
            Frame::Reading(_, notes) | Frame::Status { notes, .. } => Some(notes),
            Frame::Reply { .. } | Frame::Refused { .. } => None,
        }
    }

    /// Adds the framing layer's note (parity stripped), first.
    pub(crate) fn with_note(mut self, note: Option<Note>) -> Frame {
        if let (Some(n), Some(notes)) = (note, self.notes_mut()) {
            notes.insert(0, n);
        }
        self
    }
}

/// The parity a 7-bit line carried in bit 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Parity {
    Even,
    Odd,
    /// Bit 7 always set.
    Mark,
}

/// Something in a valid frame that differs from the protocol's manual, or that the scale set
/// and intake does not act on. Notes never reject a frame; they are shown by `intake scale
/// decode`, logged by the serial driver when they change, and counted per [`Note::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// A status bit the manual fixes ("always 0", "always 1") or reserves came the other way.
    StatusBitDiffers {
        /// Which status byte (`"SWA"`, `"status 1"`, `"lamp"`).
        byte: &'static str,
        bit: u8,
        expected: bool,
        got: bool,
    },
    /// Bit 7 of every byte carried parity (a 7-bit line read on an 8N1 port); stripped.
    ParityBitStripped { parity: Parity },
    /// A reserved field held a value other than the manual's.
    ReservedField { field: &'static str, value: u8 },
    /// The scale flags a condition intake does not act on (power-up not zeroed, print request).
    Flag { flag: &'static str },
    /// The frame came without the optional checksum, so only its shape vouches for it.
    NoChecksum,
}

impl Note {
    /// A short stable name, for metric labels (`scale_frame_notes_total{note="…"}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Note::StatusBitDiffers { .. } => "status_bit_differs",
            Note::ParityBitStripped { .. } => "parity_bit_stripped",
            Note::ReservedField { .. } => "reserved_field",
            Note::Flag { .. } => "flag",
            Note::NoChecksum => "no_checksum",
        }
    }

    /// Every kind, in a fixed order.
    pub const KINDS: [&'static str; 5] = [
        "status_bit_differs",
        "parity_bit_stripped",
        "reserved_field",
        "flag",
        "no_checksum",
    ];
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::StatusBitDiffers {
                byte,
                bit,
                expected,
                got,
            } => write!(
                f,
                "{byte} bit {bit} is {}, the manual says always {}",
                u8::from(*got),
                u8::from(*expected)
            ),
            Note::ParityBitStripped { parity } => write!(
                f,
                "bit 7 carried {parity:?} parity (a 7-bit line on an 8N1 port); stripped",
            ),
            Note::ReservedField { field, value } => {
                write!(f, "reserved field {field} is {value:#04x}")
            }
            Note::Flag { flag } => write!(f, "the scale flags: {flag}"),
            Note::NoChecksum => f.write_str("no checksum in this format"),
        }
    }
}

/// Frames seen with each kind of note (one count per note), shared between the serial
/// driver that counts and whoever reports them (`/metrics`: `scale_frame_notes_total{note}`).
#[derive(Debug, Clone, Default)]
pub struct NoteCounts(std::sync::Arc<[std::sync::atomic::AtomicU64; Note::KINDS.len()]>);

impl NoteCounts {
    pub fn add(&self, notes: &[Note]) {
        for n in notes {
            if let Some(i) = Note::KINDS.iter().position(|k| *k == n.kind()) {
                self.0[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Every kind with its count, in [`Note::KINDS`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Note::KINDS
            .iter()
            .zip(self.0.iter())
            .map(|(k, c)| (*k, c.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }
}

/// Notes for the bits of `byte` (named `name`) that the manual fixes: `mask` selects them,
/// `want` gives their values.
pub(crate) fn fixed_bits(notes: &mut Vec<Note>, name: &'static str, byte: u8, mask: u8, want: u8) {
    let differs = (byte ^ want) & mask;
    if differs == 0 {
        return;
    }
    for bit in 0..8 {
        if differs & (1 << bit) != 0 {
            notes.push(Note::StatusBitDiffers {
                byte: name,
                bit,
                expected: want & (1 << bit) != 0,
                got: byte & (1 << bit) != 0,
            });
        }
    }
}

/// Why a run of bytes is not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error(
        "{0} bytes before a frame start: a capture that began mid-frame, line noise, or the wrong protocol"
    )]
    Garbage(usize),
    #[error("no frame end within {0} bytes; check the protocol and the baud rate")]
    TooLong(usize),
    #[error("{0} bytes dropped: the reader fell behind the line")]
    Overflow(usize),
    #[error("half frame: a new frame started before this one ended")]
    Truncated,
    #[error("checksum {got:#04x} does not match {expected:#04x}: line noise, or not this protocol")]
    Checksum { expected: u8, got: u8 },
    #[error("{field} is {value:?}, which this protocol never sends there")]
    Field { field: &'static str, value: String },
    #[error("weight {0:?} is not a number")]
    Number(String),
    #[error("unit {0:?} is not one intake reads (g, kg, lb, oz, lb:oz, mg, t, ct, ozt, dwt, GN)")]
    Unit(String),
}

impl Reject {
    /// A field that holds a value this protocol never sends there.
    pub(crate) fn field(field: &'static str, value: &[u8]) -> Reject {
        Reject::Field {
            field,
            value: String::from_utf8_lossy(value).into_owned(),
        }
    }
}

/// A rejected run of bytes: why, and the bytes (at most 64 are kept).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} [{}]", hex(&self.raw))]
pub struct FrameError {
    pub reason: Reject,
    pub raw: Vec<u8>,
}

impl FrameError {
    pub(crate) fn new(reason: Reject, raw: &[u8]) -> FrameError {
        FrameError {
            reason,
            raw: raw[..raw.len().min(MAX_RAW_KEPT)].to_vec(),
        }
    }
}

/// A protocol parser: bytes in, frames out. No IO, no clock.
pub trait FrameParser: Send {
    /// Appends bytes from the line (the parity bit is masked off).
    fn push(&mut self, bytes: &[u8]);
    /// The next complete frame, or `None` until more bytes arrive.
    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>>;
    /// Forgets everything pending (after a reconnect).
    fn reset(&mut self);
    /// Bytes held that do not form a frame yet (at the end of a capture: a cut-off frame).
    fn pending(&self) -> &[u8];
}

/// Test helpers shared by every protocol's tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Frame, FrameError, FrameParser};
    use crate::device::WeightReading;

    /// Everything a fresh parser makes of `bytes`.
    pub(crate) fn frames_of(
        mut p: impl FrameParser,
        bytes: &[u8],
    ) -> Vec<Result<Frame, FrameError>> {
        p.push(bytes);
        std::iter::from_fn(|| p.next_frame()).collect()
    }

    /// The reading in a frame; any other frame fails the test.
    pub(crate) fn reading(f: &Result<Frame, FrameError>) -> WeightReading {
        match f {
            Ok(Frame::Reading(r, _)) => *r,
            other => panic!("{other:?}"),
        }
    }

    /// A status bit that came the other way from the manual's `expected`.
    pub(crate) fn bit_differs(byte: &'static str, bit: u8, expected: bool) -> super::Note {
        super::Note::StatusBitDiffers {
            byte,
            bit,
            expected,
            got: !expected,
        }
    }

    /// The notes on a frame; a rejection fails the test.
    pub(crate) fn notes(f: &Result<Frame, FrameError>) -> Vec<super::Note> {
        match f {
            Ok(f) => f.notes().to_vec(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// The protocols intake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Protocol {
    #[serde(rename = "mt-sics")]
    MtSics,
    #[serde(rename = "toledo")]
    Toledo,
    #[serde(rename = "sma")]
    Sma,
    #[serde(rename = "nci")]
    Nci,
    #[serde(rename = "cas")]
    Cas,
}

/// A protocol name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scale protocol {0:?}; use one of mt-sics, toledo, sma, nci, cas")]
pub struct UnknownProtocol(pub String);

impl Protocol {
    pub const ALL: [Protocol; 5] = [
        Protocol::MtSics,
        Protocol::Toledo,
        Protocol::Sma,
        Protocol::Nci,
        Protocol::Cas,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Protocol::MtSics => "mt-sics",
            Protocol::Toledo => "toledo",
            Protocol::Sma => "sma",
            Protocol::Nci => "nci",
            Protocol::Cas => "cas",
        }
    }

    /// The bytes that ask for one weight, for polled protocols; `None` for continuous ones.
    pub fn request(self) -> Option<&'static [u8]> {
        match self {
            Protocol::MtSics => Some(mt_sics::REQUEST),
            Protocol::Sma => Some(sma::REQUEST),
            Protocol::Nci => Some(nci::REQUEST),
            Protocol::Toledo | Protocol::Cas => None,
        }
    }

    pub fn is_polled(self) -> bool {
        self.request().is_some()
    }

    /// A fresh parser for this protocol.
    pub fn parser(self) -> Box<dyn FrameParser> {
        match self {
            Protocol::MtSics => Box::new(mt_sics::Parser::new()),
            Protocol::Toledo => Box::new(toledo::Parser::new()),
            Protocol::Sma => Box::new(sma::Parser::new()),
            Protocol::Nci => Box::new(nci::Parser::new()),
            Protocol::Cas => Box::new(cas::Parser::new()),
        }
    }

    /// The bytes this protocol's scale sends for `reading`, its weight shown with `decimals`
    /// decimal places (rounded) in `reading.unit`.
    pub fn encode(self, reading: &WeightReading, decimals: u32) -> Vec<u8> {
        match self {
            Protocol::MtSics => mt_sics::encode(reading, decimals),
            Protocol::Toledo => toledo::encode(reading, decimals),
            Protocol::Sma => sma::encode(reading, decimals),
            Protocol::Nci => nci::encode(reading, decimals),
            Protocol::Cas => cas::encode(reading, decimals),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Protocol {
    type Err = UnknownProtocol;

    fn from_str(s: &str) -> Result<Protocol, UnknownProtocol> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == t || (t == "mtsics" && *p == Protocol::MtSics))
            .ok_or_else(|| UnknownProtocol(s.to_owned()))
    }
}

/// Lower-case hex, space-separated, for logs and the technician's tools.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The most digits a weight field may have (keeps every product inside `i64`).
const MAX_DIGITS: usize = 12;

/// Reads a number as scales print it: an optional sign (spaces may stand between the sign and
/// the digits, and before both), digits with at most one decimal point. Returns
/// `(mantissa, decimals)`.
pub(crate) fn parse_number(text: &str) -> Option<(i64, u32)> {
    let t = text.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, t[1..].trim_start()),
        Some(b'+') => (false, t[1..].trim_start()),
        _ => (false, t),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if int.len() + frac.len() > MAX_DIGITS {
        return None;
    }
    let mut m: i64 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        m = m * 10 + i64::from(b - b'0');
    }
    let decimals = u32::try_from(frac.len()).ok()?;
    Some((if neg { -m } else { m }, decimals))
}

/// A unit name as a scale writes it (`kg`, `LB`, `lbs`, `oz`, `g`).
pub(crate) fn parse_unit(text: &str) -> Option<MassUnit> {
    MassUnit::from_name(&text.trim().to_ascii_lowercase())
}

/// Units a scale may send that intake keeps in another unit: name, the unit reported, and
/// micrograms per one of them as an exact fraction. MT-SICS lists these beside g, kg, lb and
/// oz (METTLER TOLEDO MT-SICS reference manual, unit table): milligram, tonne, carat, troy
/// ounce, pennyweight, grain. Grain, troy ounce and pennyweight are defined from the grain
/// (64.79891 mg exactly).
const OTHER_UNITS: [(&str, MassUnit, i128, i128); 6] = [
    ("mg", MassUnit::Gram, 1_000, 1),
    ("t", MassUnit::Kilogram, 1_000_000_000_000, 1),
    ("ct", MassUnit::Gram, 200_000, 1),
    ("gn", MassUnit::Gram, 6_479_891, 100),
    ("ozt", MassUnit::Ounce, 480 * 6_479_891, 100),
    ("dwt", MassUnit::Gram, 24 * 6_479_891, 100),
];

/// Reads a weight field with its unit into a mass; `lb:oz` values (`12:07.50 lb:oz`) too.
/// Returns the mass and the unit to report (`lb:oz` reports pounds; `mg`, `ct`, `GN`, `dwt`
/// report grams, `t` kilograms, `ozt` ounces).
pub(crate) fn parse_weight(number: &str, unit: &str) -> Result<(Mass, MassUnit), Reject> {
    let u = unit.trim().to_ascii_lowercase();
    let bad_number = || Reject::Number(number.trim().to_owned());
    if u == "lb:oz" {
        return parse_lb_oz(number)
            .map(|m| (m, MassUnit::Pound))
            .ok_or_else(bad_number);
    }
    let (mantissa, decimals) = parse_number(number).ok_or_else(bad_number)?;
    if let Some(unit_) = parse_unit(&u) {
        let mass = Mass::from_decimal(mantissa, decimals, unit_).ok_or_else(bad_number)?;
        return Ok((mass, unit_));
    }
    let (_, reported, num, den) = OTHER_UNITS
        .iter()
        .find(|(name, ..)| *name == u)
        .ok_or_else(|| Reject::Unit(unit.trim().to_owned()))?;
    let den = den * 10i128.pow(decimals);
    let ug = i128::from(mantissa) * num;
    let half = if ug < 0 { -den / 2 } else { den / 2 };
    let ug = i64::try_from((ug + half) / den).map_err(|_| bad_number())?;
    Ok((Mass::from_micrograms(ug), *reported))
}

/// `12:07.50` (pounds, colon, ounces below 16), optionally signed, as an exact mass.
pub(crate) fn parse_lb_oz(text: &str) -> Option<Mass> {
    let t = text.trim();
    let (lb, oz) = t.split_once(':')?;
    let (lb_m, lb_d) = parse_number(lb)?;
    let neg = lb.trim_start().starts_with('-');
    let (oz_m, oz_d) = parse_number(oz)?;
    if lb_d != 0 || oz_m < 0 || oz.trim_start().starts_with(['+', '-']) {
        return None;
    }
    let scale = 10i64.checked_pow(oz_d)?;
    if oz_m >= 16 * scale {
        return None;
    }
    lb_oz_mass(lb_m.abs(), oz_m, oz_d, neg)
}

/// `lb` pounds and `oz_mantissa / 10^oz_decimals` ounces, as one exact mass.
pub(crate) fn lb_oz_mass(
    lb: i64,
    oz_mantissa: i64,
    oz_decimals: u32,
    negative: bool,
) -> Option<Mass> {
    let scale = 10i64.checked_pow(oz_decimals)?;
    let total = lb
        .checked_mul(16)?
        .checked_mul(scale)?
        .checked_add(oz_mantissa)?;
    Mass::from_decimal(
        if negative { -total } else { total },
        oz_decimals,
        MassUnit::Ounce,
    )
}

/// Micrograms per unit as an exact fraction (the same factors as `quantity`).
fn ug_per(unit: MassUnit) -> (i128, i128) {
    match unit {
        MassUnit::Gram => (1_000_000, 1),
        MassUnit::Kilogram => (1_000_000_000, 1),
        MassUnit::Pound => (453_592_370, 1),
        MassUnit::Ounce => (453_592_370, 16),
    }
}

/// `mass` in `unit` with `decimals` places, as an integer mantissa rounded half away from zero:
/// what a scale's display would show.
pub fn to_decimal(mass: Mass, unit: MassUnit, decimals: u32) -> i64 {
    let (n, d) = ug_per(unit);
    let num = i128::from(mass.micrograms()) * d * 10i128.pow(decimals.min(9));
    let half = if num < 0 { -n / 2 } else { n / 2 };
    i64::try_from((num + half) / n).unwrap_or(if num < 0 { i64::MIN } else { i64::MAX })
}

/// `mantissa / 10^decimals` written out: `-12345, 2` → `-123.45`.
pub fn format_decimal(mantissa: i64, decimals: u32) -> String {
    let sign = if mantissa < 0 { "-" } else { "" };
    let abs = mantissa.unsigned_abs();
    if decimals == 0 {
        return format!("{sign}{abs}");
    }
    let p = 10u64.pow(decimals.min(9));
    format!(
        "{sign}{}.{:0w$}",
        abs / p,
        abs % p,
        w = decimals.min(9) as usize
    )
}

/// The same reading as a scale showing `decimals` places would send it (for round trips).
pub fn displayed(reading: &WeightReading, decimals: u32) -> WeightReading {
    let round = |m: Mass| {
        Mass::from_decimal(
            to_decimal(m, reading.unit, decimals),
            decimals,
            reading.unit,
        )
        .unwrap_or(m)
    };
    WeightReading {
        weight: round(reading.weight),
        tare: reading.tare.map(round),
        ..*reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_round_trip() {
        for p in Protocol::ALL {
            assert_eq!(p.name().parse::<Protocol>(), Ok(p));
            assert_eq!(p.to_string(), p.name());
        }
        assert_eq!("MT_SICS".parse::<Protocol>(), Ok(Protocol::MtSics));
        let err = "dymo".parse::<Protocol>().unwrap_err().to_string();
        assert!(err.contains("mt-sics, toledo, sma, nci, cas"), "{err}");
        assert!(Protocol::Nci.is_polled() && !Protocol::Toledo.is_polled());
    }

    #[test]
    fn numbers_read_as_scales_print_them() {
        assert_eq!(parse_number("   -  1.23"), Some((-123, 2)));
        assert_eq!(parse_number("+  4.876"), Some((4876, 3)));
        assert_eq!(parse_number("000013.5"), Some((135, 1)));
        assert_eq!(parse_number("100000"), Some((100_000, 0)));
        for bad in [
            "",
            "-",
            ".",
            "1.2.3",
            "1 2",
            "1e3",
            "--1",
            "0x10",
            "9999999999999",
        ] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn lb_oz_is_exact() {
        // 12 lb 7.50 oz = 199.5 oz.
        assert_eq!(
            parse_lb_oz("12:07.50"),
            Mass::from_decimal(1995, 1, MassUnit::Ounce)
        );
        assert_eq!(
            parse_lb_oz("-0:08"),
            Some(Mass::from_micrograms(-226_796_185))
        );
        assert_eq!(parse_lb_oz("1:16.0"), None, "ounces stay below 16");
        assert_eq!(parse_lb_oz("1.5:02"), None);
        assert_eq!(parse_lb_oz("1:-2"), None);
    }

    #[test]
    fn decimals_round_half_away_from_zero() {
        let m = Mass::from_decimal(12345, 3, MassUnit::Kilogram).unwrap();
        assert_eq!(to_decimal(m, MassUnit::Kilogram, 2), 1235);
        assert_eq!(
            to_decimal(
                Mass::from_micrograms(-12_345_000_000),
                MassUnit::Kilogram,
                2
            ),
            -1235
        );
        assert_eq!(to_decimal(Mass::from_lb(44), MassUnit::Pound, 2), 4400);
        assert_eq!(format_decimal(-12345, 2), "-123.45");
        assert_eq!(format_decimal(5, 3), "0.005");
        assert_eq!(format_decimal(7, 0), "7");
    }
}
