//! CAS / A&D style continuous output: lines such as `ST,GS,+  1.234kg CR LF` streamed
//! without being asked (CAS indicators, A&D balances, many rebadged bench and shipping
//! scales).
//!
//! A line is a header, comma-separated fields, and the weight with its unit:
//!
//! * header `ST` stable, `US` unstable (motion), `OL` overload (no weight is reported);
//! * optionally `GS` gross, `NT` net or `TR` tare;
//! * optionally a device-ID and a lamp byte followed by a comma (the CAS 22-byte format);
//! * the weight (sign, spaces and digits with a point) directly followed by or spaced from
//!   its unit (`kg`, `g`, `lb`, `oz`), then `CR LF`.
//!
//! Lines are found by their header, so garbage before a header is reported and skipped, and
//! a header that arrives before the previous line ended marks that line as a half frame. The
//! CAS format without the comma after ID and lamp is not read.

use crate::device::{ScaleStatus, WeightKind, WeightReading};
use crate::scale::framing::{Framer, Spec, Start};
use crate::scale::{
    Frame, FrameError, FrameParser, Note, Reject, format_decimal, parse_weight, to_decimal,
};

/// The longest line, header to `LF`.
const MAX_LINE: usize = 40;
const HEADERS: [&[u8]; 3] = [b"ST,", b"US,", b"OL,"];

const SPEC: Spec = Spec {
    start: Start::Headers(&HEADERS),
    end: b'\n',
    max_len: MAX_LINE,
    start_continues_after: None,
    end_from: body_from,
};

/// Where a line's text begins: after the header, or in the CAS 22-byte format after the ID
/// and lamp bytes (any value, even one that reads as LF) at 6 and 7. `MAX_LINE` (wait) until
/// the bytes that tell have arrived.
fn body_from(b: &[u8]) -> usize {
    let comma = |i: usize| b.get(i).map(|x| x & 0x7f == b',');
    match (comma(5), comma(8)) {
        (Some(true), Some(true)) => 9,
        (Some(true), None) => MAX_LINE,
        _ => 3,
    }
}

/// CAS / A&D parser.
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
        // Line ends between lines are not garbage.
        let b = self.framer.bytes();
        let quiet = b.iter().take_while(|&&x| matches!(x & 0x7f, b'\r' | b'\n'));
        let quiet = quiet.count();
        self.framer.consume(quiet);
        let len = match self.framer.next_cut(&SPEC)? {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        let cas22 = body_from(self.framer.bytes()) == 9;
        Some(self.framer.take(len, |t, parity| {
            let line = &t[..len - 1];
            parse_line(line.strip_suffix(b"\r").unwrap_or(line), cas22).map(|f| f.with_note(parity))
        }))
    }

    fn reset(&mut self) {
        self.framer.clear();
    }

    fn pending(&self) -> &[u8] {
        self.framer.bytes()
    }
}

/// One line from its header, without `CR LF`.
fn parse_line(line: &[u8], cas22: bool) -> Result<Frame, Reject> {
    let header = &line[..2];
    let mut rest: Vec<u8> = line[3..].to_vec();
    let mut kind = WeightKind::Gross;
    for (tag, k) in [
        (&b"GS,"[..], WeightKind::Gross),
        (b"NT,", WeightKind::Net),
        (b"TR,", WeightKind::Tare),
    ] {
        if rest.starts_with(tag) {
            kind = k;
            rest.drain(..3);
        }
    }
    let mut notes = Vec::new();
    if cas22 {
        // ID, lamp and comma. The lamp byte's bit 7 is "1" in the CAS manuals.
        if let Some(&lamp) = rest.get(1)
            && lamp & 0x80 == 0
        {
            notes.push(Note::StatusBitDiffers {
                byte: "lamp",
                bit: 7,
                expected: true,
                got: false,
            });
        }
        rest.drain(..3.min(rest.len()));
    }
    if !rest.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(Reject::field("weight", &rest));
    }
    let text = String::from_utf8_lossy(&rest).into_owned();
    if header == b"OL" {
        return Ok(Frame::Status {
            status: ScaleStatus::OverCapacity,
            motion: false,
            notes,
        });
    }
    let stable = header == b"ST";
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| Reject::Unit(String::new()))?;
    let (weight, unit) = parse_weight(&text[..split], &text[split..])?;
    Ok(Frame::Reading(
        WeightReading {
            weight,
            unit,
            stable,
            kind,
            tare: None,
            status: ScaleStatus::Ok,
        },
        notes,
    ))
}

/// The line a CAS-style scale streams for `reading`: `ST,GS,+  1.234kg CR LF`.
pub fn encode(reading: &WeightReading, decimals: u32) -> Vec<u8> {
    let kind = match reading.kind {
        WeightKind::Gross => "GS",
        WeightKind::Net => "NT",
        WeightKind::Tare => "TR",
    };
    if reading.status == ScaleStatus::OverCapacity {
        return format!("OL,{kind},+999999 E\r\n").into_bytes();
    }
    let value = to_decimal(reading.weight, reading.unit, decimals);
    let header = if reading.stable { "ST" } else { "US" };
    let sign = if value < 0 { '-' } else { '+' };
    let digits = format_decimal(value.abs(), decimals);
    format!(
        "{header},{kind},{sign}{digits:>7}{}\r\n",
        reading.unit.symbol()
    )
    .into_bytes()
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

    fn kg(m: i64, d: u32) -> Mass {
        Mass::from_decimal(m, d, MassUnit::Kilogram).unwrap()
    }

    /// A user's AWH-SA30-class scale, quoted by the maintainer in
    /// https://github.com/imTigger/webapp-hardware-bridge/issues/4:
    /// "my scale output "ST,NT,+  1.234kg"" (two spaces between `+` and `1.234`).
    #[test]
    fn webapp_hardware_bridge_scale() {
        let r = reading(&frames(b"ST,NT,+  1.234kg\r\n")[0]);
        assert_eq!(
            (r.weight, r.unit, r.stable, r.kind),
            (kg(1234, 3), MassUnit::Kilogram, true, WeightKind::Net)
        );
    }

    /// A test sender imitating a scale (github.com/woxuankai/project_sperm,
    /// newhub/mods/test_mod_scales.py): `ST,GS,+  4.876kg\r\n`.
    #[test]
    fn project_sperm_sender() {
        let got = frames(b"ST,GS,+  4.876kg\r\nST,GS,+  4.876kg\r\n");
        assert_eq!(got.len(), 2);
        assert_eq!(reading(&got[1]).weight, kg(4876, 3));
    }

    /// A&D GH series data format examples (shape hint only, the extraction is garbled):
    /// https://azmanual.top/manuals/659030/ad-weighing-gh-252-gh-202-gh-300-gh-200-gh-120.html?page=44
    /// `ST,+00081.72 g`, `US,-00183.96 g`, `OL,+999999 E`; and the CAS CI-600D 22-byte
    /// format (https://www.easymanua.ls/cas/ci-600d-series/manual?p=74): "ST (Stable), US
    /// (Unstable), OL (Over Load) … GS (Gross), NT (Net) … Device ID … Lamp" and "13.5 kg …
    /// '0','0','0','0','1','3','.','5'".
    #[test]
    fn and_and_cas22_shapes() {
        let got = frames(
            b"ST,+00081.72  g\r\nUS,-00183.96  g\r\nOL,+999999 E\r\nST,GS,\x01\xc0,000013.5 kg\r\n",
        );
        let a = reading(&got[0]);
        assert_eq!(
            (a.weight, a.stable),
            (Mass::from_decimal(8172, 2, MassUnit::Gram).unwrap(), true)
        );
        let b = reading(&got[1]);
        assert_eq!(
            (b.weight, b.stable),
            (
                Mass::from_decimal(-18396, 2, MassUnit::Gram).unwrap(),
                false
            )
        );
        assert_eq!(
            got[2],
            Ok(Frame::Status {
                status: ScaleStatus::OverCapacity,
                motion: false,
                notes: vec![],
            })
        );
        assert_eq!(reading(&got[3]).weight, kg(135, 1));
        // A lamp byte that reads as LF once the parity bit is masked does not split the line.
        let lamp_lf = frames(b"ST,GS,\x01\x8a,000013.5 kg\r\n");
        assert_eq!(reading(&lamp_lf[0]).weight, kg(135, 1));
        assert_eq!(crate::scale::testing::notes(&lamp_lf[0]), vec![]);
        // CI-600D and CI-150A disagree on the lamp byte; bit 7 ("1" in both) clear: a note.
        let lamp_7 = frames(b"ST,GS,\x01\x40,000013.5 kg\r\n");
        assert_eq!(reading(&lamp_7[0]).weight, kg(135, 1));
        assert_eq!(
            crate::scale::testing::notes(&lamp_7[0]),
            vec![Note::StatusBitDiffers {
                byte: "lamp",
                bit: 7,
                expected: true,
                got: false
            }]
        );
    }

    #[test]
    fn garbage_and_half_lines() {
        let got = frames(b"\xff\xfe.5kg\r\nST,GS,+  4.8US,GS,+  4.876kg\r\nST,GS,+  4.876st\r\n");
        assert!(matches!(
            &got[0],
            Err(FrameError {
                reason: Reject::Garbage(8),
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
        assert!(!reading(&got[2]).stable);
        assert!(matches!(
            &got[3],
            Err(FrameError {
                reason: Reject::Unit(_),
                ..
            })
        ));
        assert_eq!(got.len(), 4);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut p = Parser::new();
            for chunk in bytes.chunks(6) {
                p.push(chunk);
                while let Some(f) = p.next_frame() {
                    if let Ok(Frame::Reading(..)) = f {
                        let masked: Vec<u8> = bytes.iter().map(|b| b & 0x7f).collect();
                        prop_assert!(masked.windows(3).any(|w| w == b"ST," || w == b"US,"));
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
