//! Toledo continuous output: the 18-byte frame METTLER TOLEDO, Cardinal, OHAUS, Fairbanks and
//! many indicators stream without being asked.
//!
//! `STX SWA SWB SWC w w w w w w t t t t t t CR CHK`
//!
//! * `SWA` bits 0–2: where the decimal point goes (`XXXX00` … `X.XXXXX`), bits 3–4: the
//!   increment (×1, ×2, ×5), bit 5 always 1, bit 6 always 0.
//! * `SWB` bit 0 net, bit 1 negative, bit 2 out of range, bit 3 motion, bit 4 kg (else lb),
//!   bit 5 always 1, bit 6 power-up not zeroed.
//! * `SWC` bits 0–2: unit override (`001` g, `010` t (read as kg), `011` oz; `111` none is rejected),
//!   bit 3 print request, bit 4 expanded display, bit 5 always 1, bit 6 always 0.
//! * six digits of displayed weight, six of tare (both without sign or point), `CR`.
//! * `CHK`: the two's complement of the low seven bits of the sum of every byte before it.
//!
//! The short format without the tare field (Cardinal 225 "Format 1 – SHORT",
//! `STX SWA SWB SWC w w w w w w CR`) and both formats without the checksum are read too. A
//! frame without a checksum is recognised by the next frame's `STX` right after its `CR`; once
//! a stream has shown checksums, a frame that lacks one is rejected.
//!
//! Indicators in the field set the "always" bits differently (firmware, compatible brands);
//! such a bit is a [`Note::StatusBitDiffers`], and the power-up-not-zeroed, print-request and
//! expanded-display bits are [`Note::Flag`]s: none of them makes the weight untrustworthy.
//! What does is rejected or flagged on the reading: a bad checksum, non-digits, a misplaced
//! `CR`, out of range (over capacity or under zero), motion.
//!
//! Every byte sums the same whichever is first, so a frame read from the wrong start (a
//! rotated frame) still passes the checksum; the position checks (STX first, CR at byte 10
//! or 16, digits where digits go) reject it.

use crate::device::{ScaleStatus, WeightKind, WeightReading};
use crate::quantity::{Mass, MassUnit};
use crate::scale::framing::{Framer, Spec, Start};
use crate::scale::{Frame, FrameError, FrameParser, Note, Reject, fixed_bits, to_decimal};

pub const STX: u8 = 0x02;
pub const CR: u8 = 0x0d;
/// Bytes in one full frame, checksum included.
pub const FRAME_LEN: usize = 18;
/// Bytes from STX to CR in the full frame and in the short one (without tare).
const LONG: usize = 17;
const SHORT: usize = 11;

const SPEC: Spec = Spec {
    start: Start::Byte(STX),
    end: CR,
    max_len: LONG,
    start_continues_after: None,
    // Status bytes and digits never hold CR; the earliest CR is the short frame's.
    end_from: |_| SHORT - 1,
};

/// The checksum over `bytes`: the two's complement of the low seven bits of their sum.
pub fn checksum(bytes: &[u8]) -> u8 {
    let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(b & 0x7f));
    sum.wrapping_neg() & 0x7f
}

/// Toledo continuous parser.
#[derive(Debug, Default)]
pub struct Parser {
    framer: Framer,
    /// Whether this stream's frames carry a checksum, once known.
    checksums: Option<bool>,
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
        let len = match self.framer.next_cut(&SPEC)? {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        if len != SHORT && len != LONG {
            let cr = bad("CR position", u8::try_from(len - 1).unwrap_or(u8::MAX));
            return Some(Err(self.framer.reject(cr, len)));
        }
        let b = self.framer.bytes();
        // The byte after CR: the checksum, or the next frame's STX.
        let got = *b.get(len)? & 0x7f;
        let expected = checksum(&b[..len]);
        let with_checksum = match (got == expected, got == STX) {
            (true, true) => self.checksums != Some(false),
            (true, false) => true,
            (false, true) if self.checksums != Some(true) => false,
            (false, false) if self.checksums == Some(false) => false,
            (false, next_stx) => {
                // A lost checksum leaves the next STX in place.
                let used = if next_stx { len } else { len + 1 };
                let err = Reject::Checksum { expected, got };
                return Some(Err(self.framer.reject(err, used)));
            }
        };
        self.checksums = Some(with_checksum);
        let used = len + usize::from(with_checksum);
        Some(
            self.framer
                .take(used, |f, parity| decode(&f[..len], with_checksum, parity)),
        )
    }

    fn reset(&mut self) {
        self.framer.clear();
        self.checksums = None;
    }

    fn pending(&self) -> &[u8] {
        self.framer.bytes()
    }
}

fn bad(field: &'static str, b: u8) -> Reject {
    Reject::Field {
        field,
        value: format!("{b:#04x}"),
    }
}

/// Six digits (leading spaces allowed) as an integer.
fn digits(field: &'static str, b: &[u8]) -> Result<i64, Reject> {
    let text = String::from_utf8_lossy(b);
    let t = text.trim_start();
    if t.is_empty() || !t.bytes().all(|x| x.is_ascii_digit()) {
        return Err(Reject::Field {
            field,
            value: text.into_owned(),
        });
    }
    t.parse().map_err(|_| Reject::Number(text.into_owned()))
}

/// One frame from STX to CR (11 or 17 bytes), its checksum (if any) already checked.
fn decode(f: &[u8], with_checksum: bool, parity: Option<Note>) -> Result<Frame, Reject> {
    let (swa, swb, swc) = (f[1] & 0x7f, f[2] & 0x7f, f[3] & 0x7f);
    let mut notes: Vec<Note> = parity.into_iter().collect();
    if !with_checksum {
        notes.push(Note::NoChecksum);
    }
    fixed_bits(&mut notes, "SWA", swa, 0x60, 0x20);
    fixed_bits(&mut notes, "SWB", swb, 0x20, 0x20);
    fixed_bits(&mut notes, "SWC", swc, 0x60, 0x20);
    for (byte, bit, flag) in [
        (swb, 0x40, "power-up not zeroed"),
        (swc, 0x08, "print request"),
        (swc, 0x10, "expanded display"),
    ] {
        if byte & bit != 0 {
            notes.push(Note::Flag { flag });
        }
    }
    let weight = digits("weight", &f[4..10])?;
    let tare = if f.len() == LONG {
        Some(digits("tare", &f[10..16])?)
    } else {
        None
    };
    let (factor, decimals) = match swa & 0x07 {
        0 => (100, 0),
        1 => (10, 0),
        2 => (1, 0),
        code => (1, u32::from(code - 2)),
    };
    // Tonnes are read as kilograms (×1000).
    let (unit, factor) = match swc & 0x07 {
        0 if swb & 0x10 != 0 => (MassUnit::Kilogram, factor),
        0 => (MassUnit::Pound, factor),
        1 => (MassUnit::Gram, factor),
        2 => (MassUnit::Kilogram, factor * 1000),
        3 => (MassUnit::Ounce, factor),
        7 => return Err(Reject::Unit("(none)".into())),
        _ => return Err(bad("SWC unit bits", swc)),
    };
    let negative = swb & 0x02 != 0;
    let mass = |v: i64, neg: bool| {
        let m = v * factor;
        Mass::from_decimal(if neg { -m } else { m }, decimals, unit)
            .ok_or_else(|| Reject::Number(v.to_string()))
    };
    let status = match (swb & 0x04 != 0, negative) {
        (true, true) => ScaleStatus::UnderZero,
        (true, false) => ScaleStatus::OverCapacity,
        (false, _) => ScaleStatus::Ok,
    };
    let reading = WeightReading {
        weight: mass(weight, negative)?,
        unit,
        stable: swb & 0x08 == 0,
        kind: if swb & 0x01 != 0 {
            WeightKind::Net
        } else {
            WeightKind::Gross
        },
        tare: tare.map(|t| mass(t, false)).transpose()?,
        status,
    };
    Ok(Frame::Reading(reading, notes))
}

/// The frame a Toledo indicator streams for `reading`, shown with `decimals` places (0–5),
/// increment ×1. Tare is sent as zero when unknown; a status this format cannot express
/// (`NotExecutable`, `Fault`) is sent as a plain reading.
pub fn encode(reading: &WeightReading, decimals: u32) -> Vec<u8> {
    let decimals = decimals.min(5);
    let value = to_decimal(reading.weight, reading.unit, decimals);
    let tare = reading
        .tare
        .map_or(0, |t| to_decimal(t, reading.unit, decimals).abs());
    let mut oor = matches!(
        reading.status,
        ScaleStatus::OverCapacity | ScaleStatus::UnderZero
    );
    if value.abs() > 999_999 {
        oor = true;
    }
    let negative = value < 0 || reading.status == ScaleStatus::UnderZero;
    // Decimal codes 2..=7 are 0..=5 places; the value fits `u8` by the clamp above.
    let swa = 0x20 | 0x08 | (2 + decimals as u8);
    let mut swb = 0x20;
    if reading.kind == WeightKind::Net {
        swb |= 0x01;
    }
    if negative {
        swb |= 0x02;
    }
    if oor {
        swb |= 0x04;
    }
    if !reading.stable {
        swb |= 0x08;
    }
    if reading.status == ScaleStatus::ZeroError {
        swb |= 0x40;
    }
    let swc = match reading.unit {
        MassUnit::Kilogram => {
            swb |= 0x10;
            0x20
        }
        MassUnit::Pound => 0x20,
        MassUnit::Gram => 0x21,
        MassUnit::Ounce => 0x23,
    };
    let mut f = vec![STX, swa, swb, swc];
    f.extend(format!("{:06}", value.abs().min(999_999)).bytes());
    f.extend(format!("{:06}", tare.min(999_999)).bytes());
    f.push(CR);
    f.push(checksum(&f));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::testing::{notes, reading};
    use proptest::prelude::*;

    fn frames(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
        crate::scale::testing::frames_of(Parser::new(), bytes)
    }

    fn readings(bytes: &[u8]) -> Vec<WeightReading> {
        frames(bytes)
            .into_iter()
            .filter_map(|f| match f {
                Ok(Frame::Reading(r, _)) => Some(r),
                _ => None,
            })
            .collect()
    }

    /// A frame spelled byte by byte from the METTLER TOLEDO Wildcat Scale Technical Manual,
    /// Appendix 2, pages 6-4 and 6-5 (status byte tables and "Checksum is defined as the 2s
    /// complement of the seven low order bits of the binary sum of all characters preceding
    /// the checksum character, including the <STX> and <CR> characters"):
    /// http://38.142.81.21:8001/manual/wildcat-territory/scale-e15609900a/user-s-manual-english/page-40.html
    /// SWA 0x34 = bit 5, increment bits 3,4 = 0,1 (×2), decimal code 4 (XXXX.XX);
    /// SWB 0x30 = bit 5, kg; SWC 0x20; weight 012345; tare 000000; checksum 0x1e
    /// (sum 0x2e2, low seven bits 0x62, complement 0x1e).
    const WILDCAT_123_45_KG: [u8; 18] = [
        0x02, 0x34, 0x30, 0x20, b'0', b'1', b'2', b'3', b'4', b'5', b'0', b'0', b'0', b'0', b'0',
        b'0', 0x0d, 0x1e,
    ];

    #[test]
    fn wildcat_tables_decode() {
        assert_eq!(checksum(&WILDCAT_123_45_KG[..17]), 0x1e);
        let r = readings(&WILDCAT_123_45_KG);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].weight,
            Mass::from_decimal(12345, 2, MassUnit::Kilogram).unwrap()
        );
        assert_eq!(r[0].unit, MassUnit::Kilogram);
        assert!(r[0].stable);
        assert_eq!(r[0].kind, WeightKind::Gross);
        assert_eq!(r[0].tare, Some(Mass::ZERO));
        assert_eq!(r[0].status, ScaleStatus::Ok);
    }

    /// Same manual, status byte B: net (bit 0), negative (bit 1), motion (bit 3), lb (bit 4
    /// clear); status byte A decimal code 0 (XXXX00); then out of range (bit 2) and power-up
    /// not zeroed (bit 6). OHAUS Defender 5000 manual (byte C bits 2..0 = 011 oz):
    /// https://manualshive.com/en/manual/ohaus/defender-5000-series/3571725?page=70
    #[test]
    fn status_bits_decode() {
        let mk = |swa: u8, swb: u8, swc: u8, w: &[u8; 6], t: &[u8; 6]| {
            let mut f = vec![STX, swa, swb, swc];
            f.extend_from_slice(w);
            f.extend_from_slice(t);
            f.push(CR);
            f.push(checksum(&f));
            f
        };
        let r = readings(&mk(0x28, 0x2b, 0x20, b"000012", b"000003"))[0];
        assert_eq!(
            r.weight,
            Mass::from_decimal(-1200, 0, MassUnit::Pound).unwrap()
        );
        assert_eq!(r.tare, Some(Mass::from_lb(300)));
        assert_eq!((r.kind, r.stable), (WeightKind::Net, false));
        let over = readings(&mk(0x2a, 0x24, 0x20, b"999999", b"000000"))[0];
        assert_eq!(over.status, ScaleStatus::OverCapacity);
        let under = readings(&mk(0x2a, 0x26, 0x20, b"000001", b"000000"))[0];
        assert_eq!(under.status, ScaleStatus::UnderZero);
        // Power-up not zeroed does not make the weight wrong: a flag, not a fault.
        let unzeroed = frames(&mk(0x2a, 0x60, 0x20, b"000000", b"000000"));
        assert_eq!(reading(&unzeroed[0]).status, ScaleStatus::Ok);
        assert_eq!(
            notes(&unzeroed[0]),
            vec![Note::Flag {
                flag: "power-up not zeroed"
            }]
        );
        let oz = readings(&mk(0x2b, 0x20, 0x23, b"001135", b"000000"))[0];
        assert_eq!(
            (oz.weight, oz.unit),
            (
                Mass::from_decimal(1135, 1, MassUnit::Ounce).unwrap(),
                MassUnit::Ounce
            )
        );
        // Byte C unit code 010 is tonnes (read as kilograms); 111 "no units" cannot be read.
        let tonnes = readings(&mk(0x2b, 0x20, 0x22, b"000015", b"000000"))[0];
        assert_eq!(
            (tonnes.weight, tonnes.unit),
            (Mass::from_grams(1_500_000), MassUnit::Kilogram)
        );
        let none = frames(&mk(0x2a, 0x20, 0x27, b"000001", b"000000"));
        assert!(matches!(
            &none[0],
            Err(FrameError {
                reason: Reject::Unit(_),
                ..
            })
        ));
    }

    #[test]
    fn a_rotated_frame_never_gives_a_wrong_weight() {
        // Every rotation sums the same, so the checksum alone cannot tell. A rotation whose
        // tail is a whole frame without its checksum may decode, as that frame: the same
        // weight, noted as checksum-less.
        let truth = readings(&WILDCAT_123_45_KG)[0];
        for k in 1..FRAME_LEN {
            let mut rot = WILDCAT_123_45_KG;
            rot.rotate_left(k);
            let total = rot.iter().fold(0u8, |s, b| s.wrapping_add(*b)) & 0x7f;
            assert_eq!(total, 0, "rotation {k} still sums to zero");
            // Pad with a clean frame after it, as a stream would continue.
            let mut stream = rot.to_vec();
            stream.extend_from_slice(&WILDCAT_123_45_KG);
            let got = frames(&stream);
            for f in got.iter().filter(|f| f.is_ok()) {
                assert_eq!(reading(f), truth, "rotation {k}: {got:?}");
            }
            assert_eq!(got.last().map(notes), Some(vec![]), "rotation {k}: {got:?}");
        }
    }

    /// The Wildcat frame with the manual's "always" bits the other way, as indicators in the
    /// field send them (SWA bit 5 "always 1" clear, SWB bit 5 clear, SWC bit 6 "always 0"
    /// set), a print request (SWC bit 3) and a valid checksum: decoded, with notes. The same
    /// frame with its checksum off by one is still rejected.
    #[test]
    fn field_status_bits_decode_with_notes_and_bad_checksums_do_not() {
        let mut f = WILDCAT_123_45_KG.to_vec();
        f[1] &= !0x20;
        f[2] &= !0x20;
        f[3] |= 0x40 | 0x08;
        f[17] = checksum(&f[..17]);
        let got = frames(&f);
        assert_eq!(
            reading(&got[0]).weight,
            readings(&WILDCAT_123_45_KG)[0].weight
        );
        let bit = crate::scale::testing::bit_differs;
        assert_eq!(
            notes(&got[0]),
            vec![
                bit("SWA", 5, true),
                bit("SWB", 5, true),
                bit("SWC", 6, false),
                Note::Flag {
                    flag: "print request"
                },
            ]
        );
        assert_eq!(
            notes(&got[0])[0].to_string(),
            "SWA bit 5 is 0, the manual says always 1"
        );
        f[17] = (f[17] + 1) & 0x7f;
        assert!(matches!(
            frames(&f).as_slice(),
            [Err(FrameError {
                reason: Reject::Checksum { .. },
                ..
            })]
        ));
    }

    /// Cardinal 225 manual (https://www.easymanua.ls/cardinal/225/manual/112006?p=126):
    /// "Format 1 – SHORT no CKSUM <stx><swa><swb><swc>xxxxxx<cr>"; and the full frame
    /// without its optional checksum ("6 Optional checksum character", Wildcat manual).
    #[test]
    fn short_and_checksum_less_variants() {
        let short = |chk: bool| {
            let mut f = WILDCAT_123_45_KG[..10].to_vec();
            f.push(CR);
            if chk {
                f.push(checksum(&f));
            }
            f
        };
        let long_no_chk = WILDCAT_123_45_KG[..17].to_vec();
        let want = readings(&WILDCAT_123_45_KG)[0].weight;
        for (name, frame, tare, no_chk) in [
            ("short, checksum", short(true), None, false),
            ("short, none", short(false), None, true),
            ("full, none", long_no_chk, Some(Mass::ZERO), true),
        ] {
            // Three frames in a row, as the indicator streams them.
            let stream = frame.repeat(3);
            let got = frames(&stream);
            // A checksum-less frame is known by the next STX: the last one waits for it.
            assert_eq!(got.len(), if no_chk { 2 } else { 3 }, "{name}: {got:?}");
            for f in &got {
                let r = reading(f);
                assert_eq!((r.weight, r.tare), (want, tare), "{name}");
                assert_eq!(notes(f).contains(&Note::NoChecksum), no_chk, "{name}");
            }
        }
        // Once a stream has shown checksums, a frame that lost its checksum is rejected.
        let mut s = WILDCAT_123_45_KG.to_vec();
        s.extend_from_slice(&WILDCAT_123_45_KG[..17]);
        s.extend_from_slice(&WILDCAT_123_45_KG);
        let got = frames(&s);
        assert!(got[0].is_ok() && got[2].is_ok(), "{got:?}");
        assert!(matches!(
            &got[1],
            Err(FrameError {
                reason: Reject::Checksum { .. },
                ..
            })
        ));
    }

    #[test]
    fn parity_of_a_7e1_line_is_stripped_and_noted_but_8_bit_data_is_not() {
        let got = frames(&crate::scale::framing::with_even_parity(&WILDCAT_123_45_KG));
        assert_eq!(
            notes(&got[0]),
            vec![Note::ParityBitStripped {
                parity: crate::scale::Parity::Even
            }]
        );
        // Bit 7 set on one digit only: not parity; the digit is no digit.
        let mut f = WILDCAT_123_45_KG;
        f[5] |= 0x80;
        assert!(frames(&f).iter().all(Result::is_err));
    }

    #[test]
    fn garbage_half_frames_and_parity_bits() {
        let mut s = b"\xff\x13noise".to_vec();
        s.extend_from_slice(&WILDCAT_123_45_KG[..9]); // half a frame, then a whole one
        s.extend(WILDCAT_123_45_KG.iter().map(|b| {
            // Even parity in bit 7, as a 7E1 scale read as 8N1 sends it.
            if b.count_ones() % 2 == 1 {
                b | 0x80
            } else {
                *b
            }
        }));
        let got = frames(&s);
        assert!(matches!(
            &got[0],
            Err(FrameError {
                reason: Reject::Garbage(7),
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
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(matches!(&got[2], Ok(Frame::Reading(..))));
        assert_eq!(
            notes(&got[2]),
            vec![Note::ParityBitStripped {
                parity: crate::scale::Parity::Even
            }]
        );
    }

    #[test]
    fn a_flipped_bit_is_caught() {
        for i in 1..FRAME_LEN {
            for bit in 0..7 {
                let mut f = WILDCAT_123_45_KG;
                f[i] ^= 1 << bit;
                let got = frames(&f);
                assert!(
                    got.iter().all(|r| r.is_err()),
                    "byte {i} bit {bit}: {got:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_readings_pass_their_checks(
            bytes in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            let mut p = Parser::new();
            let mut seen: Vec<u8> = Vec::new();
            for chunk in bytes.chunks(5) {
                p.push(chunk);
                seen.extend(chunk.iter().map(|b| b & 0x7f));
                while let Some(f) = p.next_frame() {
                    if let Ok(Frame::Reading(..)) = f {
                        // Some 18 bytes of the input form a frame that passes every check.
                        let ok = seen.windows(FRAME_LEN).any(|w| {
                            w[0] == STX && w[16] == CR && checksum(&w[..17]) == w[17]
                        });
                        prop_assert!(ok);
                    }
                }
            }
        }

        #[test]
        fn encode_then_parse_round_trips(
            m in -999_999i64..999_999, t in 0i64..999_999, decimals in 0u32..6, stable: bool, net: bool,
            unit in prop_oneof![Just(MassUnit::Gram), Just(MassUnit::Kilogram), Just(MassUnit::Pound), Just(MassUnit::Ounce)],
        ) {
            let r = WeightReading {
                weight: Mass::from_decimal(m, decimals, unit).unwrap(),
                unit, stable,
                kind: if net { WeightKind::Net } else { WeightKind::Gross },
                tare: Some(Mass::from_decimal(t, decimals, unit).unwrap()),
                status: ScaleStatus::Ok,
            };
            prop_assert_eq!(frames(&encode(&r, decimals)), vec![Ok(Frame::Reading(r, vec![]))]);
        }
    }
}
