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
use crate::scale::{
    Frame, FrameError, FrameParser, Pending, Reject, format_decimal, parse_weight, to_decimal,
};

/// The longest line, header to `LF`.
const MAX_LINE: usize = 40;
const HEADERS: [&[u8]; 3] = [b"ST,", b"US,", b"OL,"];

/// CAS / A&D parser.
#[derive(Debug, Default)]
pub struct Parser {
    pending: Pending,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }
}

/// Where the next header starts at or after `from`, if one is (or may yet be) there:
/// `Ok(i)` found at `i`, `Err(i)` none before `i` (the tail from `i` may be a header's start).
fn find_header(b: &[u8], from: usize) -> Result<usize, usize> {
    for i in from..b.len() {
        let tail = &b[i..];
        if HEADERS.iter().any(|h| tail.starts_with(h)) {
            return Ok(i);
        }
        if tail.len() < 3 && HEADERS.iter().any(|h| h.starts_with(tail)) {
            return Err(i);
        }
    }
    Err(b.len())
}

impl FrameParser for Parser {
    fn push(&mut self, bytes: &[u8]) {
        self.pending.push(bytes);
    }

    fn next_frame(&mut self) -> Option<Result<Frame, FrameError>> {
        if let Some(e) = self.pending.take_overflow() {
            return Some(Err(e));
        }
        let b = self.pending.bytes();
        match find_header(b, 0) {
            Ok(0) => {}
            Ok(i) | Err(i) => {
                // Blank line ends (CR LF between lines) are not garbage.
                let skipped = &b[..i];
                if skipped.is_empty() {
                    return None;
                }
                let quiet = skipped.iter().all(|&x| x == b'\r' || x == b'\n');
                let err = FrameError::new(Reject::Garbage(i), skipped);
                self.pending.consume(i);
                if quiet {
                    return self.next_frame();
                }
                return Some(Err(err));
            }
        }
        // In the CAS 22-byte format the ID and lamp bytes (any value) sit at 6 and 7.
        let cas22 = b.len() > 8 && b[5] == b',' && b[8] == b',';
        let body_from = if cas22 { 9 } else { 3 };
        let limit = b.len().min(MAX_LINE);
        let lf = b[..limit].iter().skip(body_from).position(|&x| x == b'\n');
        let next = find_header(&b[..limit], body_from).ok();
        match (lf.map(|i| i + body_from), next) {
            (Some(end), n) if n.is_none_or(|n| n > end) => {
                let line = &b[..end];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let result = parse_line(line, cas22).map_err(|r| FrameError::new(r, &b[..=end]));
                self.pending.consume(end + 1);
                Some(result)
            }
            (_, Some(n)) => {
                let err = FrameError::new(Reject::Truncated, &b[..n]);
                self.pending.consume(n);
                Some(Err(err))
            }
            (None, None) if b.len() >= MAX_LINE => {
                let err = FrameError::new(Reject::TooLong(MAX_LINE), &b[..MAX_LINE]);
                self.pending.consume(MAX_LINE);
                Some(Err(err))
            }
            _ => None,
        }
    }

    fn reset(&mut self) {
        self.pending.clear();
    }

    fn pending(&self) -> &[u8] {
        self.pending.bytes()
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
    if cas22 {
        // ID, lamp and comma.
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
        });
    }
    let stable = header == b"ST";
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .ok_or_else(|| Reject::Unit(String::new()))?;
    let (weight, unit) = parse_weight(&text[..split], &text[split..])?;
    Ok(Frame::Reading(WeightReading {
        weight,
        unit,
        stable,
        kind,
        tare: None,
        status: ScaleStatus::Ok,
    }))
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
                motion: false
            })
        );
        assert_eq!(reading(&got[3]).weight, kg(135, 1));
        // A lamp byte that reads as LF once the parity bit is masked does not split the line.
        let lamp_lf = frames(b"ST,GS,\x01\x8a,000013.5 kg\r\n");
        assert_eq!(reading(&lamp_lf[0]).weight, kg(135, 1));
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
                    if let Ok(Frame::Reading(_)) = f {
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
            prop_assert_eq!(frames(&encode(&r, decimals)), vec![Ok(Frame::Reading(r))]);
        }
    }
}
