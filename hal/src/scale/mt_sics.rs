//! METTLER TOLEDO Standard Interface Command Set (MT-SICS), as balances, bench scales and
//! shipping scales (BC60 and friends) speak it.
//!
//! Replies are lines closed by `CR LF`: an identifier, a space, a status letter, then for
//! weights a space, a 10-character right-aligned weight field with the sign inside it, a space
//! and the unit: `S S     100.00 g`. Status letters: `S` stable, `D` dynamic (motion), `I`
//! not executable now, `+` over capacity / upper limit, `-` under zero / lower limit, `A`
//! done, `L` logical error. Bare `ES`, `ET`, `EL` are syntax, transmission and logical errors.
//! US shipping scales send `lb:oz` values (`S D 12:07.50 lb:oz`), reported here in pounds.
//!
//! MT-SICS does not say whether a weight is gross or net; readings are reported as gross and
//! without tare.
//!
//! The driver polls with `SI` (the weight now, stable or not); `S` would wait for stability
//! and `SIR` streams about four a second, both of which this parser also reads.

use crate::device::{ScaleStatus, WeightKind, WeightReading};
use crate::scale::framing::{Framer, Spec, Start, after_start};
use crate::scale::{
    Frame, FrameError, FrameParser, Reject, format_decimal, parse_weight, to_decimal,
};

/// The weight request the driver sends: "send the weight immediately".
pub const REQUEST: &[u8] = b"SI\r\n";

/// The longest line (without `CR LF`) a reply may be.
const MAX_LINE: usize = 64;

const SPEC: Spec = Spec {
    start: Start::Any,
    end: b'\n',
    max_len: MAX_LINE + 2,
    start_continues_after: None,
    end_from: after_start,
};

/// MT-SICS parser: lines in, frames out.
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
        loop {
            // An empty line (a lone LF, or the LF of a CR LF split from its line) is nothing.
            let b = self.framer.bytes();
            let blank = b.iter().take_while(|&&x| matches!(x & 0x7f, b'\r' | b'\n'));
            let blank = blank.count();
            if blank > 0 && b.get(blank - 1).is_some_and(|x| x & 0x7f == b'\n') {
                self.framer.consume(blank);
                continue;
            }
            let len = match self.framer.next_cut(&SPEC)? {
                Ok(n) => n,
                Err(e) => return Some(Err(e)),
            };
            let (text, note) = self.framer.text(len);
            let line = &text[..len - 1];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let result = match parse_line(line) {
                Ok(frame) => Ok(frame),
                // Noise glued to the front of a good line: report the noise, keep the line.
                Err(reason) => Err((
                    (1..line.len()).find(|&i| parse_line(&line[i..]).is_ok()),
                    reason,
                )),
            };
            return Some(match result {
                Ok(frame) => {
                    self.framer.consume(len);
                    Ok(frame.with_note(note))
                }
                Err((Some(noise), _)) => Err(self.framer.reject(Reject::Garbage(noise), noise)),
                Err((None, reason)) => Err(self.framer.reject(reason, len)),
            });
        }
    }

    fn reset(&mut self) {
        self.framer.clear();
    }

    fn pending(&self) -> &[u8] {
        self.framer.bytes()
    }
}

/// One reply line, without its `CR LF`.
fn parse_line(line: &[u8]) -> Result<Frame, Reject> {
    if !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(Reject::field("reply", line));
    }
    // Checked to be printable ASCII above.
    let text = std::str::from_utf8(line).map_err(|_| Reject::field("reply", line))?;
    let (id, rest) = text.split_once(' ').unwrap_or((text, ""));
    let id_ok = (1..=4).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_uppercase())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !id_ok {
        return Err(Reject::field("command identifier", id.as_bytes()));
    }
    if rest.is_empty() {
        let meaning = match id {
            "ES" => "syntax error: the scale did not recognise the command",
            "ET" => "transmission error: the scale received a garbled command (check parity)",
            "EL" => "logical error: the command cannot be carried out",
            _ => return Err(Reject::field("reply", line)),
        };
        return Ok(Frame::Refused {
            code: id.to_owned(),
            meaning: meaning.to_owned(),
        });
    }
    let mut chars = rest.chars();
    let status = chars.next().unwrap_or(' ');
    let data = chars.as_str();
    if !(data.is_empty() || data.starts_with(' ')) {
        return Err(Reject::field("status", rest.as_bytes()));
    }
    let data = data.trim();
    let condition = match status {
        'S' | 'D' | 'A' => ScaleStatus::Ok,
        'I' | 'L' => ScaleStatus::NotExecutable,
        '+' => ScaleStatus::OverCapacity,
        '-' => ScaleStatus::UnderZero,
        _ => return Err(Reject::field("status", &[status as u8])),
    };
    if id.starts_with('S') {
        if matches!(status, 'S' | 'D') {
            let (number, unit) = data
                .rsplit_once(' ')
                .ok_or_else(|| Reject::field("weight", data.as_bytes()))?;
            let (weight, unit) = parse_weight(number, unit)?;
            return Ok(Frame::Reading(
                WeightReading {
                    weight,
                    unit,
                    stable: status == 'S',
                    kind: WeightKind::Gross,
                    tare: None,
                    status: ScaleStatus::Ok,
                },
                Vec::new(),
            ));
        }
        if status == 'A' || !data.is_empty() {
            return Err(Reject::field("weight reply", line));
        }
        return Ok(Frame::Status {
            status: condition,
            motion: false,
            notes: Vec::new(),
        });
    }
    let detail = match (id, status) {
        ("Z", 'A') => "zero set".to_owned(),
        ("Z", 'I') => "zero not executable now (motion did not settle)".to_owned(),
        ("Z", '+') => "upper limit of zero setting range exceeded".to_owned(),
        ("Z", '-') => "lower limit of zero setting range exceeded".to_owned(),
        _ => data.to_owned(),
    };
    let status = match (id, condition) {
        ("Z", ScaleStatus::OverCapacity | ScaleStatus::UnderZero) => ScaleStatus::ZeroError,
        (_, s) => s,
    };
    Ok(Frame::Reply {
        command: id.to_owned(),
        status,
        detail,
    })
}

/// The line an MT-SICS scale sends for `reading` in answer to `SI` (or while streaming `SIR`).
pub fn encode(reading: &WeightReading, decimals: u32) -> Vec<u8> {
    let line = match reading.status {
        ScaleStatus::OverCapacity => "S +".to_owned(),
        ScaleStatus::UnderZero => "S -".to_owned(),
        ScaleStatus::ZeroError | ScaleStatus::NotExecutable | ScaleStatus::Fault => {
            "S I".to_owned()
        }
        ScaleStatus::Ok => {
            let value =
                format_decimal(to_decimal(reading.weight, reading.unit, decimals), decimals);
            format!(
                "S {} {value:>10} {}",
                if reading.stable { 'S' } else { 'D' },
                reading.unit.symbol()
            )
        }
    };
    format!("{line}\r\n").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quantity::{Mass, MassUnit};
    use proptest::prelude::*;

    fn frames(bytes: &[u8]) -> Vec<Result<Frame, FrameError>> {
        crate::scale::testing::frames_of(Parser::new(), bytes)
    }

    fn reading(bytes: &[u8]) -> WeightReading {
        match frames(bytes).as_slice() {
            [Ok(Frame::Reading(r, _))] => *r,
            other => panic!("{other:?}"),
        }
    }

    fn mass(m: i64, d: u32, u: MassUnit) -> Mass {
        Mass::from_decimal(m, d, u).unwrap()
    }

    /// OHAUS 7000 Series indicator manual, MT-SICS section, page EN-105 (SIR example):
    /// https://manualarchiveguide.com/manuals/OHAUS-7000-Series-Instruction-Manual-4001023?page=111
    /// The manual's `_` are spaces; the weight field is restored to its 10 characters.
    #[test]
    fn ohaus_sir_stream() {
        let got = frames(b"S S     129.09 kg\r\nS S     129.09 kg\r\nS D     114.87 kg\r\n");
        let w: Vec<(Mass, bool)> = got
            .iter()
            .map(|f| match f {
                Ok(Frame::Reading(r, _)) => (r.weight, r.stable),
                other => panic!("{other:?}"),
            })
            .collect();
        let kg = |m| mass(m, 2, MassUnit::Kilogram);
        assert_eq!(
            w,
            vec![(kg(12909), true), (kg(12909), true), (kg(11487), false)]
        );
    }

    /// Same OHAUS manual page: replies to `Z` and `@`.
    #[test]
    fn ohaus_zero_and_reset_replies() {
        let got = frames(b"Z A\r\nZ I\r\nZ +\r\nZ -\r\nI4 A \"12345678\"\r\n");
        let status: Vec<_> = got
            .iter()
            .map(|f| match f {
                Ok(Frame::Reply {
                    command, status, ..
                }) => (command.as_str(), *status),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            status,
            vec![
                ("Z", ScaleStatus::Ok),
                ("Z", ScaleStatus::NotExecutable),
                ("Z", ScaleStatus::ZeroError),
                ("Z", ScaleStatus::ZeroError),
                ("I4", ScaleStatus::Ok),
            ]
        );
        assert!(matches!(&got[4], Ok(Frame::Reply { detail, .. }) if detail == "\"12345678\""));
    }

    /// METTLER TOLEDO AT balances operating instructions, page 87 (S command):
    /// https://www.manualshelf.com/manual/mettler-toledo/at-balances/2-operating-instructions-english/page-87.html
    /// "Response S S 100.00 g" (the extraction collapsed the spaces; this test restores the
    /// field width) and the `S I`, `S +`, `S -` replies.
    #[test]
    fn at_balance_s_replies() {
        let r = reading(b"S S     100.00 g\r\n");
        assert_eq!(r.weight, Mass::from_grams(100));
        assert_eq!(r.unit, MassUnit::Gram);
        assert!(r.stable);
        let got = frames(b"S I\r\nS +\r\nS -\r\n");
        let st: Vec<_> = got
            .iter()
            .map(|f| match f {
                Ok(Frame::Status { status, .. }) => *status,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            st,
            vec![
                ScaleStatus::NotExecutable,
                ScaleStatus::OverCapacity,
                ScaleStatus::UnderZero
            ]
        );
    }

    /// METTLER TOLEDO AE balances manual, page 13: «ET» «ES» «EL» error replies.
    /// https://manualslib.fr/manual/86158/Mettler-Toledo-Ae-S%C3%A9rie.html?page=13
    #[test]
    fn ae_error_replies() {
        let got = frames(b"ES\r\nET\r\nEL\r\n");
        let codes: Vec<_> = got
            .iter()
            .map(|f| match f {
                Ok(Frame::Refused { code, .. }) => code.as_str(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(codes, vec!["ES", "ET", "EL"]);
    }

    /// A Mettler Toledo BC60 shipping scale's lb:oz reply, quoted in
    /// https://github.com/artisan-roaster-scope/artisan/pull/2223: `S D 12:07.50 lb:oz`.
    #[test]
    fn bc60_lb_oz() {
        let r = reading(b"S D 12:07.50 lb:oz\r\n");
        // 12 lb 7.50 oz = 199.50 oz.
        assert_eq!(r.weight, mass(19950, 2, MassUnit::Ounce));
        assert_eq!(r.unit, MassUnit::Pound);
        assert!(!r.stable);
    }

    /// Arduino scale simulator's sample output (HerrRiebmann/Scale_Simulator, README.md,
    /// "Sample Outputs"): `S S     4.08 kg`; with the parity bit set on every byte, as a 7E1
    /// line read as 8N1 looks.
    #[test]
    fn parity_bits_are_masked() {
        let with_parity: Vec<u8> = b"S S     4.08 kg\r\n".iter().map(|b| b | 0x80).collect();
        assert_eq!(
            reading(&with_parity).weight,
            mass(408, 2, MassUnit::Kilogram)
        );
    }

    /// MT-SICS weight replies in every unit a METTLER TOLEDO balance or scale may be set to
    /// (the MT-SICS reference manual's unit list), stable `S` and dynamic `D`, each with the
    /// 10-character field: read exactly, reported in g, kg, lb or oz.
    #[test]
    fn every_unit_stable_and_dynamic() {
        let cases: [(&[u8], i64, MassUnit); 11] = [
            (b"S S     100.00 g\r\n", 100_000_000, MassUnit::Gram),
            (
                b"S D     129.09 kg\r\n",
                129_090_000_000,
                MassUnit::Kilogram,
            ),
            (b"S S      44.00 lb\r\n", 19_958_064_280, MassUnit::Pound),
            (b"S D      16.00 oz\r\n", 453_592_370, MassUnit::Ounce),
            (b"S S    1500.0 mg\r\n", 1_500_000, MassUnit::Gram),
            (b"S S     0.0450 t\r\n", 45_000_000_000, MassUnit::Kilogram),
            (b"S D       5.00 ct\r\n", 1_000_000, MassUnit::Gram),
            (b"S S     1.0000 ozt\r\n", 31_103_477, MassUnit::Ounce),
            (b"S S       1.00 dwt\r\n", 1_555_174, MassUnit::Gram),
            (b"S S      100.0 GN\r\n", 6_479_891, MassUnit::Gram),
            (b"S D 12:07.50 lb:oz\r\n", 5_655_729_863, MassUnit::Pound),
        ];
        for (line, ug, unit) in cases {
            let r = reading(line);
            let text = String::from_utf8_lossy(line);
            assert_eq!((r.weight.micrograms(), r.unit), (ug, unit), "{text}");
            assert_eq!(r.stable, line[2] == b'S', "{text}");
        }
    }

    #[test]
    fn sign_inside_the_field_and_half_lines() {
        let got = frames(b"     1.2 kg\r\nS S     -0.35 lb\r\nS X 1 kg\r\nS S   1.0 stone\r\n");
        assert!(matches!(got[0], Err(FrameError { .. })));
        assert!(
            matches!(&got[1], Ok(Frame::Reading(r, _)) if r.weight == Mass::from_decimal(-35, 2, MassUnit::Pound).unwrap())
        );
        assert!(matches!(
            &got[2],
            Err(FrameError {
                reason: Reject::Field { .. },
                ..
            })
        ));
        assert!(matches!(
            &got[3],
            Err(FrameError {
                reason: Reject::Unit(_),
                ..
            })
        ));
    }

    #[test]
    fn noise_before_a_line_is_skipped_and_the_line_read() {
        let got = frames(b"\xff\x00#xS S      1.00 kg\r\n");
        assert!(matches!(
            &got[0],
            Err(FrameError {
                reason: Reject::Garbage(4),
                ..
            })
        ));
        assert!(matches!(&got[1], Ok(Frame::Reading(r, _)) if r.weight == Mass::from_grams(1000)));
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn an_endless_line_is_rejected_and_the_next_one_read() {
        let mut bytes = vec![b'7'; 200];
        bytes.extend_from_slice(b"\r\nS S      1.00 kg\r\n");
        let got = frames(&bytes);
        assert!(got[..got.len() - 1].iter().all(Result::is_err));
        assert!(matches!(got.last(), Some(Ok(Frame::Reading(..)))));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut p = Parser::new();
            for chunk in bytes.chunks(7) {
                p.push(chunk);
                while let Some(f) = p.next_frame() {
                    if let Ok(Frame::Reading(r, _)) = f {
                        prop_assert!(r.weight.micrograms().abs() < 10i64.pow(18));
                    }
                }
            }
        }

        #[test]
        fn encode_then_parse_round_trips(
            m in -999_999i64..9_999_999, decimals in 0u32..4, stable: bool,
            unit in prop_oneof![Just(MassUnit::Gram), Just(MassUnit::Kilogram), Just(MassUnit::Pound), Just(MassUnit::Ounce)],
        ) {
            let r = WeightReading {
                weight: Mass::from_decimal(m, decimals, unit).unwrap(),
                unit, stable, kind: WeightKind::Gross, tare: None, status: ScaleStatus::Ok,
            };
            let got = frames(&encode(&r, decimals));
            prop_assert_eq!(got, vec![Ok(Frame::Reading(crate::scale::displayed(&r, decimals), vec![]))]);
        }
    }
}
