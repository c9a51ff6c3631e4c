//! The NCI / Weigh-Tronix "W" protocol (SCP-01, SCP-02 / "ECR" mode): Avery Weigh-Tronix,
//! Avery-Berkel, Salter Brecknell and many shipping scales; usually 9600 7E1.
//!
//! The driver sends `W CR`. Replies start with `LF` and end with `ETX`; four shapes are
//! seen in the field and all are read:
//!
//! * SCP-01: `LF 0001.23lb CR LF hh CR ETX` (weight line, then the status bytes on their own
//!   line);
//! * SCP-02 / ECR: `LF 00.000LB CR LF S hh CR ETX` (status bytes after an `S`);
//! * Salter Brecknell: `LF pxxxxxxUU CR hh ETX` (status bytes straight after the weight's CR);
//! * without the status line: `LF 0001.23lb CR ETX` (read as stable: ECR scales send the
//!   status alone while in motion or out of range).
//!
//! Status bytes whose "always 1" bit 4 is clear, or whose byte-1 bit 6 ("always 0") is set,
//! are read with a [`Note::StatusBitDiffers`]; a byte without bit 5 is not a status byte.
//!
//! A status-only reply (`LF hh CR ETX` or `LF S hh CR ETX`) is what ECR scales send while in
//! motion, below zero or over capacity: it becomes [`Frame::Status`]. `LF ? CR` (with or
//! without `ETX`) is "unrecognised command". Weights in pounds and ounces
//! (`LF 12lb 07.5oz CR …`) are read exactly and reported in pounds.
//!
//! Status bytes (each `0x30 | bits`, bit 6 "another byte follows" on bytes 2 and 3):
//! byte 1 bit 0 motion, bit 1 at zero, bit 2 RAM error, bit 3 EEPROM error; byte 2 bit 0
//! under capacity, bit 1 over capacity, bit 2 ROM error, bit 3 faulty calibration; byte 3
//! bits 0–1 range, bit 2 net, bit 3 initial zero error.

use crate::device::{ScaleStatus, WeightKind, WeightReading};
use crate::scale::framing::{Framer, Spec, Start, after_start};
use crate::scale::{
    Frame, FrameError, FrameParser, Note, Reject, fixed_bits, format_decimal, lb_oz_mass,
    parse_number, parse_weight, to_decimal,
};

/// The weight request the driver sends.
pub const REQUEST: &[u8] = b"W\r";

const LF: u8 = b'\n';
const CR: u8 = b'\r';
const ETX: u8 = 0x03;
/// The longest reply accepted, `LF` to `ETX`.
const MAX_FRAME: usize = 40;

const SPEC: Spec = Spec {
    start: Start::Byte(LF),
    end: ETX,
    max_len: MAX_FRAME,
    // Inside a reply LF only follows CR; a bare LF starts the next reply.
    start_continues_after: Some(CR),
    end_from: after_start,
};

/// NCI parser.
#[derive(Debug, Default)]
pub struct Parser {
    framer: Framer,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }
}

impl FrameParser for Parser {
    fn push(&mut self, bytes: &[u8]) {
        self.framer.push(bytes);
    }

    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        let b = self.framer.bytes();
        let masked = |i: usize| b.get(i).map(|x| x & 0x7f);
        if masked(0) == Some(LF) && masked(1) == Some(b'?') && masked(2) == Some(CR) {
            // Some scales close "unrecognised" with ETX, some do not.
            let used = match masked(3) {
                None => return None,
                Some(ETX) => 4,
                Some(_) => 3,
            };
            self.framer.consume(used);
            return Some(Ok(Frame::Refused {
                code: "?".into(),
                meaning: "unrecognised command; check that the scale speaks NCI".into(),
            }));
        }
        let len = match self.framer.next_cut(&SPEC)? {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        Some(self.framer.take(len, |t, parity| {
            parse_body(&t[1..len - 1]).map(|f| f.with_note(parity))
        }))
    }

    fn reset(&mut self) {
        self.framer.clear();
    }

    fn pending(&self) -> &[u8] {
        self.framer.bytes()
    }
}

/// What the status bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Flags {
    motion: bool,
    net: bool,
    status: ScaleStatus,
    notes: Vec<Note>,
}

/// Names of the status bytes, for notes.
const STATUS_BYTES: [&str; 4] = ["status 1", "status 2", "status 3", "status 4"];

/// Two to four status bytes (after an optional `S`). Each carries `0x20` (printable); bit 4
/// "always 1" and byte 1's bit 6 "always 0" may differ in the field: noted, not rejected.
fn parse_status(seg: &[u8]) -> Result<Flags, Reject> {
    let bytes = seg.strip_prefix(b"S").unwrap_or(seg);
    if !(2..=4).contains(&bytes.len()) || bytes.iter().any(|b| b & 0x20 == 0 || *b > 0x7e) {
        return Err(Reject::field("status bytes", seg));
    }
    let mut notes = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        let mask = if i == 0 { 0x50 } else { 0x10 };
        fixed_bits(&mut notes, STATUS_BYTES[i], b, mask, 0x10);
    }
    let b1 = bytes[0];
    let b2 = bytes[1];
    let b3 = bytes.get(2).copied().unwrap_or(0x30);
    let fault = b1 & 0x0c != 0 || b2 & 0x0c != 0;
    let status = if b2 & 0x02 != 0 {
        ScaleStatus::OverCapacity
    } else if b2 & 0x01 != 0 {
        ScaleStatus::UnderZero
    } else if b3 & 0x08 != 0 {
        ScaleStatus::ZeroError
    } else if fault {
        ScaleStatus::Fault
    } else {
        ScaleStatus::Ok
    };
    Ok(Flags {
        motion: b1 & 0x01 != 0,
        net: b3 & 0x04 != 0,
        status,
        notes,
    })
}

/// `0001.23lb`, `00.000LB`, ` 12.34 kg`, `12lb 07.5oz`.
fn parse_weight_line(
    seg: &[u8],
) -> Result<(crate::quantity::Mass, crate::quantity::MassUnit), Reject> {
    if !seg.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(Reject::field("weight", seg));
    }
    let text = String::from_utf8_lossy(seg).to_ascii_lowercase();
    if let Some((lb, oz)) = text.split_once("lb")
        && let Some(oz) = oz.trim().strip_suffix("oz")
    {
        let bad = || Reject::Number(text.trim().to_owned());
        let (lb_m, lb_d) = parse_number(lb).ok_or_else(bad)?;
        let (oz_m, oz_d) = parse_number(oz).ok_or_else(bad)?;
        let scale = 10i64.checked_pow(oz_d).ok_or_else(bad)?;
        if lb_d != 0 || !(0..16 * scale).contains(&oz_m) || oz.trim().starts_with(['-', '+']) {
            return Err(bad());
        }
        let neg = lb.trim_start().starts_with('-');
        let mass = lb_oz_mass(lb_m.abs(), oz_m, oz_d, neg).ok_or_else(bad)?;
        return Ok((mass, crate::quantity::MassUnit::Pound));
    }
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| Reject::Unit(String::new()))?;
    parse_weight(&text[..split], &text[split..])
}

/// What lies between the first `LF` and `ETX`.
fn parse_body(body: &[u8]) -> Result<Frame, Reject> {
    let segs: Vec<&[u8]> = body
        .split(|&b| b == CR || b == LF)
        .filter(|s| !s.is_empty())
        .collect();
    let reading = |weight: &[u8], f: Flags| {
        let (weight, unit) = parse_weight_line(weight)?;
        Ok(Frame::Reading(
            WeightReading {
                weight,
                unit,
                stable: !f.motion,
                kind: if f.net {
                    WeightKind::Net
                } else {
                    WeightKind::Gross
                },
                tare: None,
                status: f.status,
            },
            f.notes,
        ))
    };
    match segs.as_slice() {
        [single] => match parse_status(single) {
            Ok(f) => Ok(Frame::Status {
                status: f.status,
                motion: f.motion,
                notes: f.notes,
            }),
            // A weight without the status line: ECR scales answer a weight request with the
            // status alone while in motion or out of range, so a bare weight is a stable one.
            Err(not_status) => reading(single, no_status()).map_err(|_| not_status),
        },
        [weight, status] => reading(weight, parse_status(status)?),
        _ => Err(Reject::field("reply", body)),
    }
}

/// The flags of a reply without status bytes.
fn no_status() -> Flags {
    Flags {
        motion: false,
        net: false,
        status: ScaleStatus::Ok,
        notes: Vec::new(),
    }
}

/// The SCP-01 reply to `W` for `reading`: weight line and status bytes, or status only when
/// the scale is over capacity, under zero or in error (as ECR scales do).
pub fn encode(reading: &WeightReading, decimals: u32) -> Vec<u8> {
    let value = to_decimal(reading.weight, reading.unit, decimals);
    let mut b1 = 0x30u8;
    let mut b2 = 0x30u8;
    if !reading.stable {
        b1 |= 0x01;
    }
    if value == 0 {
        b1 |= 0x02;
    }
    match reading.status {
        ScaleStatus::OverCapacity => b2 |= 0x02,
        ScaleStatus::UnderZero => b2 |= 0x01,
        ScaleStatus::Fault => b2 |= 0x08,
        ScaleStatus::Ok | ScaleStatus::ZeroError | ScaleStatus::NotExecutable => {}
    }
    let mut status = vec![b1, b2];
    if reading.kind == WeightKind::Net || reading.status == ScaleStatus::ZeroError {
        status[1] |= 0x40;
        let mut b3 = 0x30;
        if reading.kind == WeightKind::Net {
            b3 |= 0x04;
        }
        if reading.status == ScaleStatus::ZeroError {
            b3 |= 0x08;
        }
        status.push(b3);
    }
    let mut out = vec![LF];
    if reading.status == ScaleStatus::Ok {
        let sign = if value < 0 { "-" } else { "" };
        let digits = format_decimal(value.abs(), decimals);
        let width = if decimals == 0 {
            4
        } else {
            decimals as usize + 5
        };
        out.extend(format!("{sign}{digits:0>width$}").bytes());
        out.extend(reading.unit.symbol().to_ascii_uppercase().bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(&status);
    out.extend_from_slice(&[CR, ETX]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::{Mass, MassUnit};
    use crate::scale::testing::reading;
    use proptest::prelude::*;

    fn frames(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
        crate::scale::testing::frames_of(Parser::new(), bytes)
    }

    /// Avery-Berkel 6702 bench scale in ECR mode, as the BREWCOP project's parser accepted
    /// from the real device (github.com/garlick/brewcop @ 4d53e07, test/query.c and
    /// brewcop.py): value `\n00.000LB\r`, status `\nS00\r\x03`; status-only `\nS10\r\x03`
    /// ("Weight not stable"), `\nS02\r\x03` ("Over capacity"), `\nS01\r\x03` ("Under
    /// capacity"), `\nS20\r\x03` ("Zero"). Sent at 7E1: here with the parity bits set.
    #[test]
    fn brewcop_avery_berkel_replies() {
        let with_parity = |s: &[u8]| -> Vec<u8> {
            s.iter()
                .map(|b| {
                    if b.count_ones() % 2 == 1 {
                        b | 0x80
                    } else {
                        *b
                    }
                })
                .collect()
        };
        let got = frames(&with_parity(
            b"\n00.000LB\r\nS00\r\x03\nS10\r\x03\nS02\r\x03\nS01\r\x03\nS20\r\x03",
        ));
        let r = reading(&got[0]);
        assert_eq!(
            (r.weight, r.unit, r.stable, r.status),
            (Mass::ZERO, MassUnit::Pound, true, ScaleStatus::Ok)
        );
        let st: Vec<_> = got[1..]
            .iter()
            .map(|f| match f {
                Ok(Frame::Status { status, motion, .. }) => (*status, *motion),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            st,
            vec![
                (ScaleStatus::Ok, true),
                (ScaleStatus::OverCapacity, false),
                (ScaleStatus::UnderZero, false),
                (ScaleStatus::Ok, false),
            ]
        );
    }

    /// Weigh-Tronix SCP-01 template (NCI standard, quoted in RichardChambers/anduino_uno,
    /// scalesimulator/serialcommands.ino): `<LF>xxxx.xxuu<CR><LF>hh...<CR><ETX>` and the
    /// lb-oz shape `<LF>xxlb<SP>xx.xoz<CR><LF>hh...<CR><ETX>`; status bytes per its table
    /// (byte 3 bit 2 net). The template is filled in here, not quoted as data.
    #[test]
    fn scp01_shapes() {
        let got =
            frames(b"\n0012.34lb\r\n00\r\x03\n05lb 07.5oz\r\n10\r\x03\n0001.50kg\r\n0p4\r\x03");
        let a = reading(&got[0]);
        assert_eq!(
            (a.weight, a.stable),
            (Mass::from_decimal(1234, 2, MassUnit::Pound).unwrap(), true)
        );
        let b = reading(&got[1]);
        // 5 lb 7.5 oz = 87.5 oz.
        assert_eq!(
            (b.weight, b.unit, b.stable),
            (
                Mass::from_decimal(875, 1, MassUnit::Ounce).unwrap(),
                MassUnit::Pound,
                false
            )
        );
        let c = reading(&got[2]);
        assert_eq!((c.kind, c.unit), (WeightKind::Net, MassUnit::Kilogram));
    }

    /// Salter Brecknell PS-USB reply shape as implemented and tested in
    /// github.com/chris-rudmin/serial-nci-scale (src/serial-nci-scale.js): "Weight format
    /// <LF>pxxxxxxUU<CR>hh<ETX>", "Status format <LF>hh<CR><ETX>", unknown `<LF>?<CR>`.
    #[test]
    fn brecknell_shape() {
        let got = frames(b"\n 001.25LB\r00\x03\n10\r\x03\n?\r\n 002.50LB\r00\x03");
        assert_eq!(
            reading(&got[0]).weight,
            Mass::from_decimal(125, 2, MassUnit::Pound).unwrap()
        );
        assert_eq!(
            got[1],
            Ok(Frame::Status {
                status: ScaleStatus::Ok,
                motion: true,
                notes: vec![],
            })
        );
        assert!(matches!(&got[2], Ok(Frame::Refused { code, .. }) if code == "?"));
        assert_eq!(
            reading(&got[3]).weight,
            Mass::from_decimal(250, 2, MassUnit::Pound).unwrap()
        );
    }

    /// METTLER TOLEDO DIVA (Magellan 8500) service manual, ECR protocol:
    /// http://38.142.81.21:8001/manual/psc/magellan-8500/service-manual-english/page-41.html
    /// "unrecognized command Response: <LF>?<CR><ETX>".
    #[test]
    fn diva_unrecognised() {
        assert!(matches!(
            frames(b"\n?\r\x03").as_slice(),
            [Ok(Frame::Refused { .. })]
        ));
    }

    /// SCP-01 status table (RichardChambers/anduino_uno, serialcommands.ino, quoting the NCI
    /// standard): bits 4 and 5 "Always 1", byte 1 bit 6 "Always 0". A scale that clears bit
    /// 4 (`0x20`, a space) or sets byte 1's bit 6 (`p` = 0x70) is read, with notes; a
    /// weight reply without the status line (`LF weight CR ETX`) is read as stable.
    #[test]
    fn field_status_bits_and_no_status_line() {
        let got = frames(b"\n0012.34lb\r\n \x30\r\x03\n0012.34lb\r\np0\r\x03\n0001.50kg\r\x03");
        let a = reading(&got[0]);
        assert_eq!(
            a.weight,
            Mass::from_decimal(1234, 2, MassUnit::Pound).unwrap()
        );
        let bit = crate::scale::testing::bit_differs;
        assert_eq!(
            crate::scale::testing::notes(&got[0]),
            vec![bit("status 1", 4, true)]
        );
        assert_eq!(
            crate::scale::testing::notes(&got[1]),
            vec![bit("status 1", 6, false)]
        );
        let c = reading(&got[2]);
        assert_eq!(
            (c.weight, c.stable, c.status),
            (
                Mass::from_decimal(150, 2, MassUnit::Kilogram).unwrap(),
                true,
                ScaleStatus::Ok
            )
        );
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn garbage_half_frames_and_bad_status() {
        let got = frames(b"junk\n001.2\n0001.20lb\r\n00\r\x03\n0001.20lb\r\nAB\r\x03");
        assert!(matches!(
            &got[0],
            Err(FrameError {
                reason: Reject::Garbage(4),
                ..
            })
        ));
        assert!(matches!(
            &got[1],
            Err(FrameError {
                reason: Reject::Truncated,
                ..
            })
        ));
        assert!(matches!(&got[2], Ok(Frame::Reading(..))));
        assert!(matches!(
            &got[3],
            Err(FrameError {
                reason: Reject::Field { .. },
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut p = Parser::new();
            for chunk in bytes.chunks(4) {
                p.push(chunk);
                while let Some(f) = p.next_frame() {
                    if let Ok(Frame::Reading(..)) = f {
                        let masked: Vec<u8> = bytes.iter().map(|b| b & 0x7f).collect();
                        prop_assert!(masked.contains(&ETX) && masked.contains(&LF));
                    }
                }
            }
        }

        #[test]
        fn encode_then_parse_round_trips(
            m in -9_999_999i64..99_999_999, decimals in 0u32..4, stable: bool, net: bool,
            unit in prop_oneof![Just(MassUnit::Gram), Just(MassUnit::Kilogram), Just(MassUnit::Pound), Just(MassUnit::Ounce)],
        ) {
            let r = WeightReading {
                weight: Mass::from_decimal(m, decimals, unit).unwrap(),
                unit, stable,
                kind: if net { WeightKind::Net } else { WeightKind::Gross },
                tare: None,
                status: ScaleStatus::Ok,
            };
            prop_assert_eq!(frames(&encode(&r, decimals)), vec![Ok(Frame::Reading(r, vec![]))]);
        }
    }
}
