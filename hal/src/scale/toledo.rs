//! Toledo continuous output: the 18-byte frame METTLER TOLEDO, Cardinal, OHAUS, Fairbanks and
//! many indicators stream without being asked.
//!
//! `STX SWA SWB SWC w w w w w w t t t t t t CR CHK`
//!
//! * `SWA` bits 0–2: where the decimal point goes (`XXXX00` … `X.XXXXX`), bits 3–4: the
//!   increment (×1, ×2, ×5), bit 5 always 1, bit 6 always 0.
//! * `SWB` bit 0 net, bit 1 negative, bit 2 out of range, bit 3 motion, bit 4 kg (else lb),
//!   bit 5 always 1, bit 6 power-up not zeroed.
//! * `SWC` bits 0–2: unit override (`001` g, `011` oz; `010` t and `111` none are rejected),
//!   bit 3 print request, bit 4 expanded display, bit 5 always 1, bit 6 always 0.
//! * six digits of displayed weight, six of tare (both without sign or point), `CR`.
//! * `CHK`: the two's complement of the low seven bits of the sum of every byte before it.
//!
//! Every byte sums the same whichever is first, so a frame read from the wrong start (a
//! rotated frame) still passes the checksum; position checks (STX first, CR at byte 16, the
//! always-1 and always-0 status bits, digits where digits go) reject it.
//!
//! The format without checksum and without tare (Cardinal "Format 1 – SHORT") is not read.

use crate::device::{ScaleStatus, WeightKind, WeightReading};
use crate::quantity::{Mass, MassUnit};
use crate::scale::{Frame, FrameError, FrameParser, Pending, Reject, to_decimal};

pub const STX: u8 = 0x02;
pub const CR: u8 = 0x0d;
/// Bytes in one frame, checksum included.
pub const FRAME_LEN: usize = 18;

/// The checksum over `bytes`: the two's complement of the low seven bits of their sum.
pub fn checksum(bytes: &[u8]) -> u8 {
    let sum = bytes.iter().fold(0u8, |s, b| s.wrapping_add(b & 0x7f));
    sum.wrapping_neg() & 0x7f
}

/// Toledo continuous parser.
#[derive(Debug, Default)]
pub struct Parser {
    pending: Pending,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }
}

impl FrameParser for Parser {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.push(bytes);
    }

    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if let Some(e) = self.pending.take_overflow() {
            return Some(Err(e));
        }
        if let Some(e) = self.pending.skip_to(STX) {
            return Some(Err(e));
        }
        let b = self.pending.bytes();
        // No STX inside a frame before its checksum: a new STX there means this one was cut.
        if let Some(i) = b.iter().take(FRAME_LEN - 1).skip(1).position(|&x| x == STX) {
            let err = FrameError::new(Reject::Truncated, &b[..=i]);
            self.pending.consume(i + 1);
            return Some(Err(err));
        }
        if b.len() < FRAME_LEN {
            return None;
        }
        let frame = &b[..FRAME_LEN];
        let result = decode(frame).map_err(|r| FrameError::new(r, frame));
        // A rejected frame's checksum byte may be an STX that starts the next one.
        let used = if result.is_err() && frame[FRAME_LEN - 1] == STX {
            FRAME_LEN - 1
        } else {
            FRAME_LEN
        };
        self.pending.consume(used);
        Some(result.map(Frame::Reading))
    }

    fn reset(&mut self) {
        self.pending.clear();
    }

    fn pending(&self) -> &[u8] {
        self.pending.bytes()
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

/// One 18-byte frame that starts with STX.
fn decode(f: &[u8]) -> Result<WeightReading, Reject> {
    let (swa, swb, swc) = (f[1], f[2], f[3]);
    if f[16] != CR {
        return Err(bad("byte 16 (CR)", f[16]));
    }
    if swa & 0x60 != 0x20 {
        return Err(bad("status A", swa));
    }
    if swb & 0x20 != 0x20 {
        return Err(bad("status B", swb));
    }
    if swc & 0x60 != 0x20 {
        return Err(bad("status C", swc));
    }
    let expected = checksum(&f[..17]);
    if f[17] != expected {
        return Err(Reject::Checksum {
            expected,
            got: f[17],
        });
    }
    let weight = digits("weight", &f[4..10])?;
    let tare = digits("tare", &f[10..16])?;
    let (factor, decimals) = match swa & 0x07 {
        0 => (100, 0),
        1 => (10, 0),
        2 => (1, 0),
        code => (1, u32::from(code - 2)),
    };
    let unit = match swc & 0x07 {
        0 if swb & 0x10 != 0 => MassUnit::Kilogram,
        0 => MassUnit::Pound,
        1 => MassUnit::Gram,
        3 => MassUnit::Ounce,
        2 => return Err(Reject::Unit("t".into())),
        7 => return Err(Reject::Unit("(none)".into())),
        _ => return Err(bad("status C unit bits", swc)),
    };
    let negative = swb & 0x02 != 0;
    let mass = |v: i64, neg: bool| {
        let m = v * factor;
        Mass::from_decimal(if neg { -m } else { m }, decimals, unit)
            .ok_or_else(|| Reject::Number(v.to_string()))
    };
    let status = if swb & 0x04 != 0 {
        if negative {
            ScaleStatus::UnderZero
        } else {
            ScaleStatus::OverCapacity
        }
    } else if swb & 0x40 != 0 {
        ScaleStatus::ZeroError
    } else {
        ScaleStatus::Ok
    };
    Ok(WeightReading {
        weight: mass(weight, negative)?,
        unit,
        stable: swb & 0x08 == 0,
        kind: if swb & 0x01 != 0 {
            WeightKind::Net
        } else {
            WeightKind::Gross
        },
        tare: Some(mass(tare, false)?),
        status,
    })
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
    use proptest::prelude::*;

    fn frames(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
        crate::scale::testing::frames_of(Parser::new(), bytes)
    }

    fn readings(bytes: &[u8]) -> Vec<WeightReading> {
        frames(bytes)
            .into_iter()
            .filter_map(|f| match f {
                Ok(Frame::Reading(r)) => Some(r),
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
        let unzeroed = readings(&mk(0x2a, 0x60, 0x20, b"000000", b"000000"))[0];
        assert_eq!(unzeroed.status, ScaleStatus::ZeroError);
        let oz = readings(&mk(0x2b, 0x20, 0x23, b"001135", b"000000"))[0];
        assert_eq!(
            (oz.weight, oz.unit),
            (
                Mass::from_decimal(1135, 1, MassUnit::Ounce).unwrap(),
                MassUnit::Ounce
            )
        );
        let tonnes = frames(&mk(0x2a, 0x20, 0x22, b"000001", b"000000"));
        assert!(matches!(
            &tonnes[0],
            Err(FrameError {
                reason: Reject::Unit(_),
                ..
            })
        ));
    }

    #[test]
    fn a_rotated_frame_passes_the_checksum_but_not_the_position_checks() {
        // Every rotation sums the same, so the checksum alone cannot tell.
        for k in 1..FRAME_LEN {
            let mut rot = WILDCAT_123_45_KG;
            rot.rotate_left(k);
            let total = rot.iter().fold(0u8, |s, b| s.wrapping_add(*b)) & 0x7f;
            assert_eq!(total, 0, "rotation {k} still sums to zero");
            // Pad with a clean frame after it, as a stream would continue.
            let mut stream = rot.to_vec();
            stream.extend_from_slice(&WILDCAT_123_45_KG);
            let got = frames(&stream);
            let good = got.iter().filter(|f| f.is_ok()).count();
            assert_eq!(good, 1, "rotation {k}: {got:?}");
            assert!(matches!(got.last(), Some(Ok(_))), "rotation {k}: {got:?}");
        }
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
        assert!(matches!(&got[2], Ok(Frame::Reading(_))));
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
                    if let Ok(Frame::Reading(_)) = f {
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
            prop_assert_eq!(frames(&encode(&r, decimals)), vec![Ok(Frame::Reading(r))]);
        }
    }
}
