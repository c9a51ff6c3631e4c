//! SMA SCP-0499 (Scale Manufacturers Association Standard Scale Serial Communication
//! Protocol, Levels 1 and 2): Fairbanks, Sartorius/Minebea, Rice Lake and others.
//!
//! The driver sends `LF W CR`; the scale answers
//! `LF s r n m f xxxxxx.xxx uuu CR`:
//!
//! * `s` condition: `Z` centre of zero, `O` over capacity, `U` under capacity, `E` zero error,
//!   `I` initial-zero error, `T` tare error, space none. For `E`, `I`, `T` the weight field
//!   is dashes and no weight is reported ([`Frame::Status`]).
//! * `r` range (`1` single range), `n` `G` gross / `N` net / `T` tare / `g`, `n` high
//!   resolution, `m` `M` motion or space, `f` reserved.
//! * a weight field fixed at 10 characters, the unit in 3 (`lb `, `kg `).
//!
//! `LF ? CR` is "unrecognised command", `LF ! CR` a communication (parity or framing) error;
//! `LF` and four characters `CR` answers the diagnostics command. Level 2's information
//! replies (`LF` tag `:` data `CR`, e.g. `SMA:2/1.0`) are [`Frame::Reply`]s with the tag as
//! the command. A reserved `f` byte other than a space is a [`Note::ReservedField`].

use crate::device::{ScaleStatus, WeightKind, WeightReading};
use crate::scale::framing::{Framer, Spec, Start, after_start};
use crate::scale::{
    Frame, FrameError, FrameParser, Note, Reject, format_decimal, parse_weight, to_decimal,
};

/// The weight request the driver sends.
pub const REQUEST: &[u8] = b"\nW\r";

const LF: u8 = b'\n';
const CR: u8 = b'\r';
/// The longest body between `LF` and `CR` accepted (the weight reply has 18).
const MAX_BODY: usize = 32;

const SPEC: Spec = Spec {
    start: Start::Byte(LF),
    end: CR,
    max_len: MAX_BODY + 2,
    start_continues_after: None,
    end_from: after_start,
};

/// SMA parser.
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

/// What lies between `LF` and `CR`.
fn parse_body(body: &[u8]) -> Result<Frame, Reject> {
    if !body.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(Reject::field("reply", body));
    }
    match body {
        b"?" => {
            return Ok(Frame::Refused {
                code: "?".into(),
                meaning: "unrecognised command; check that the scale speaks SMA".into(),
            });
        }
        b"!" => {
            return Ok(Frame::Refused {
                code: "!".into(),
                meaning: "communication error (parity or framing); check baud rate and parity"
                    .into(),
            });
        }
        _ => {}
    }
    // Level 2 information replies (`A`, `B`, `I` commands): a three-letter tag, a colon,
    // the data (`SMA:2/1.0`, `MFG:…`, `CAP:l:10000.0:lb`, `END:`).
    if body.len() >= 4 && body[3] == b':' && body[..3].iter().all(u8::is_ascii_uppercase) {
        return Ok(Frame::Reply {
            command: String::from_utf8_lossy(&body[..3]).into_owned(),
            status: ScaleStatus::Ok,
            detail: String::from_utf8_lossy(&body[4..]).trim().to_owned(),
        });
    }
    if body.len() == 4 && body.iter().all(|b| b.is_ascii_uppercase() || *b == b' ') {
        let detail = if body == b"    " {
            "no errors".to_owned()
        } else {
            String::from_utf8_lossy(body).trim().to_owned()
        };
        return Ok(Frame::Reply {
            command: "D".into(),
            status: ScaleStatus::Ok,
            detail,
        });
    }
    if body.len() != 18 {
        return Err(Reject::field(
            "reply length",
            body.len().to_string().as_bytes(),
        ));
    }
    let (s, r, n, m, f) = (body[0], body[1], body[2], body[3], body[4]);
    let mut notes = Vec::new();
    if f != b' ' {
        notes.push(Note::ReservedField {
            field: "f",
            value: f,
        });
    }
    let status = match s {
        b' ' | b'Z' => ScaleStatus::Ok,
        b'O' => ScaleStatus::OverCapacity,
        b'U' => ScaleStatus::UnderZero,
        b'E' | b'I' => ScaleStatus::ZeroError,
        b'T' => ScaleStatus::NotExecutable,
        _ => return Err(Reject::field("condition (s)", &[s])),
    };
    if !r.is_ascii_digit() {
        return Err(Reject::field("range (r)", &[r]));
    }
    let kind = match n {
        b'G' | b'g' => WeightKind::Gross,
        b'N' | b'n' => WeightKind::Net,
        b'T' => WeightKind::Tare,
        _ => return Err(Reject::field("gross/net (n)", &[n])),
    };
    let motion = match m {
        b' ' => false,
        b'M' => true,
        _ => return Err(Reject::field("motion (m)", &[m])),
    };
    // Printable ASCII, checked above.
    let weight =
        std::str::from_utf8(&body[5..15]).map_err(|_| Reject::field("weight", &body[5..15]))?;
    let unit =
        std::str::from_utf8(&body[15..18]).map_err(|_| Reject::field("unit", &body[15..18]))?;
    if weight.contains('-') && weight.bytes().all(|b| b == b'-' || b == b' ') {
        if !matches!(s, b'E' | b'I' | b'T' | b'O' | b'U') {
            return Err(Reject::field("weight", weight.as_bytes()));
        }
        return Ok(Frame::Status {
            status,
            motion,
            notes,
        });
    }
    let (weight, unit) = parse_weight(weight, unit)?;
    Ok(Frame::Reading(
        WeightReading {
            weight,
            unit,
            stable: !motion,
            kind,
            tare: None,
            status,
        },
        notes,
    ))
}

/// The reply an SMA scale sends to `LF W CR` for `reading`, shown with `decimals` places.
pub fn encode(reading: &WeightReading, decimals: u32) -> Vec<u8> {
    let value = to_decimal(reading.weight, reading.unit, decimals);
    let s = match reading.status {
        ScaleStatus::Ok if value == 0 => 'Z',
        ScaleStatus::Ok => ' ',
        ScaleStatus::OverCapacity => 'O',
        ScaleStatus::UnderZero => 'U',
        ScaleStatus::ZeroError | ScaleStatus::Fault => 'E',
        ScaleStatus::NotExecutable => 'T',
    };
    let n = match reading.kind {
        WeightKind::Gross => 'G',
        WeightKind::Net => 'N',
        WeightKind::Tare => 'T',
    };
    let m = if reading.stable { ' ' } else { 'M' };
    let weight = if matches!(s, 'E' | 'T') {
        "  --------".to_owned()
    } else {
        format!("{:>10}", format_decimal(value, decimals))
    };
    format!("\n{s}1{n}{m} {weight}{:<3}\r", reading.unit.symbol()).into_bytes()
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

    fn lb(m: i64, d: u32) -> Mass {
        Mass::from_decimal(m, d, MassUnit::Pound).unwrap()
    }

    /// Sartorius PR 5211 manual, SMA chapter (https://www.easymanua.ls/sartorius/pr-5211-series/manual?p=54,
    /// also PR 5220 ?p=130), replies to `W`, `H`, `Z` and the `R` repeat stream. The printed
    /// `_` are spaces; the weight field is set to the standard's fixed 10 characters.
    #[test]
    fn sartorius_replies() {
        let got = frames(
            b"\n 1G       5.025lb \r\n 1N      100000lb \r\n 1g      5.0025lb \r\nZ1G       0.000lb \r\n 1G       7.025kg \r\n 1GM      7.650kg \r\n 1G       7.650kg \r",
        );
        assert_eq!(got.len(), 7, "{got:?}");
        let r0 = reading(&got[0]);
        assert_eq!(
            (r0.weight, r0.unit, r0.kind, r0.stable),
            (lb(5025, 3), MassUnit::Pound, WeightKind::Gross, true)
        );
        let r1 = reading(&got[1]);
        assert_eq!(
            (r1.weight, r1.kind),
            (Mass::from_lb(100_000), WeightKind::Net)
        );
        assert_eq!(reading(&got[2]).weight, lb(50025, 4));
        let z = reading(&got[3]);
        assert_eq!((z.weight, z.status), (Mass::ZERO, ScaleStatus::Ok));
        let moving = reading(&got[5]);
        assert_eq!(
            moving.weight,
            Mass::from_decimal(7650, 3, MassUnit::Kilogram).unwrap()
        );
        assert!(!moving.stable);
        assert!(reading(&got[6]).stable);
    }

    /// Same manual, 5.4.2 and 5.4.3: `<LF>?<CR>` and `<LF>!<CR>`, and the diagnostics reply
    /// `<LF> <_> <_> <_> <_> <CR>`.
    #[test]
    fn sartorius_refusals_and_diagnostics() {
        let got = frames(b"\n?\r\n!\r\n    \r");
        assert!(matches!(&got[0], Ok(Frame::Refused { code, .. }) if code == "?"));
        assert!(matches!(&got[1], Ok(Frame::Refused { code, .. }) if code == "!"));
        assert!(matches!(&got[2], Ok(Frame::Reply { command, .. }) if command == "D"));
    }

    /// SMA SCP-0499 field definitions (Fairbanks FB2550 manual, Appendix III,
    /// https://azmanual.top/manuals/347098/fairbanks-fb2550-series.html?page=180): "For 'E',
    /// 'I', 'T' error conditions <xxxxxx.xxx> = ————— (center dashes)"; O and U over/under.
    #[test]
    fn error_conditions() {
        let got = frames(b"\nE1G    ----    lb \r\nO1G      999.99lb \r\nU1G       -0.05lb \r");
        assert_eq!(
            got[0],
            Ok(Frame::Status {
                status: ScaleStatus::ZeroError,
                motion: false,
                notes: vec![],
            })
        );
        assert_eq!(reading(&got[1]).status, ScaleStatus::OverCapacity);
        let u = reading(&got[2]);
        assert_eq!((u.status, u.weight), (ScaleStatus::UnderZero, lb(-5, 2)));
    }

    /// SMA SCP-0499 Level 2 information replies (`LF` tag `:` data `CR`) and a weight reply
    /// whose reserved `f` byte is not a space, as some indicators send: read, with a note.
    #[test]
    fn level_2_replies_and_a_reserved_byte() {
        let got = frames(b"\nSMA:2/1.0\r\nMFG:FAIRBANKS\r\nEND:\r\n 1G R     5.025lb \r");
        assert!(
            matches!(&got[0], Ok(Frame::Reply { command, detail, .. }) if command == "SMA" && detail == "2/1.0")
        );
        assert!(matches!(&got[1], Ok(Frame::Reply { command, .. }) if command == "MFG"));
        assert!(matches!(&got[2], Ok(Frame::Reply { command, .. }) if command == "END"));
        assert_eq!(reading(&got[3]).weight, lb(5025, 3));
        assert_eq!(
            crate::scale::testing::notes(&got[3]),
            vec![Note::ReservedField {
                field: "f",
                value: b'R'
            }]
        );
    }

    #[test]
    fn garbage_half_frames_and_wrong_fields() {
        let got = frames(
            b"xx\n 1G      \n 1G       5.025lb \r\n 1X       5.025lb \r\n 1G       5.025st \r",
        );
        assert!(matches!(
            &got[0],
            Err(FrameError {
                reason: Reject::Garbage(2),
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
        assert_eq!(reading(&got[2]).weight, lb(5025, 3));
        assert!(matches!(
            &got[3],
            Err(FrameError {
                reason: Reject::Field { .. },
                ..
            })
        ));
        assert!(matches!(
            &got[4],
            Err(FrameError {
                reason: Reject::Unit(_),
                ..
            })
        ));
        assert_eq!(got.len(), 5);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut p = Parser::new();
            for chunk in bytes.chunks(3) {
                p.push(chunk);
                while let Some(f) = p.next_frame() {
                    if let Ok(Frame::Reading(..)) = f {
                        // Only a 20-byte LF…CR run can carry a reading.
                        let masked: Vec<u8> = bytes.iter().map(|b| b & 0x7f).collect();
                        prop_assert!(masked.windows(20).any(|w| w[0] == LF && w[19] == CR));
                    }
                }
            }
        }

        #[test]
        fn encode_then_parse_round_trips(
            m in -99_999_999i64..999_999_999, decimals in 0u32..4, stable: bool, net: bool,
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
