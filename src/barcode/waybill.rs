//! Choosing the waybill among the symbols on a label. Pure: symbols and rules in, the
//! read (and where it was) out.

use crate::judge::WaybillRead;
use crate::waybill::{Waybill, WaybillRules};

use super::Symbol;

/// The symbol that carried the waybill, kept for the evidence image.
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenSymbol {
    pub waybill: Waybill,
    pub symbol: Symbol,
}

/// Picks the waybill: the symbols whose whole text passes the waybill rules (S10 check
/// digit, configured carrier patterns). One distinct waybill → `Read` (the same number in
/// two symbols, say a Code 128 and a QR, is still one); none → `NoRead`; two or more
/// different ones → `Ambiguous` with them sorted, and no symbol chosen. When one waybill
/// was printed twice, the first symbol in reader order is kept.
pub fn choose_waybill(
    symbols: &[Symbol],
    rules: &WaybillRules,
) -> (WaybillRead, Option<ChosenSymbol>) {
    let mut chosen: Option<ChosenSymbol> = None;
    let mut others: Vec<String> = Vec::new();
    for s in symbols {
        let Ok(w) = rules.parse(&s.text) else {
            continue;
        };
        match &chosen {
            None => {
                chosen = Some(ChosenSymbol {
                    waybill: w,
                    symbol: s.clone(),
                });
            }
            Some(c) if c.waybill.as_str() == w.as_str() => {}
            Some(_) => {
                if !others.iter().any(|o| o == w.as_str()) {
                    others.push(w.as_str().to_owned());
                }
            }
        }
    }
    match chosen {
        None => (WaybillRead::NoRead, None),
        Some(c) if others.is_empty() => (WaybillRead::Read(c.waybill.as_str().to_owned()), Some(c)),
        Some(c) => {
            others.push(c.waybill.as_str().to_owned());
            others.sort();
            (WaybillRead::Ambiguous(others), None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::barcode::{Format, Point};
    use crate::waybill::CarrierPattern;

    fn sym(format: Format, text: &str, x: f32) -> Symbol {
        let p = |dx: f32, dy: f32| Point { x: x + dx, y: dy };
        Symbol {
            format,
            text: text.to_owned(),
            bytes: Vec::new(),
            corners: [p(0.0, 0.0), p(10.0, 0.0), p(10.0, 5.0), p(0.0, 5.0)],
        }
    }

    fn rules() -> WaybillRules {
        WaybillRules {
            patterns: vec![CarrierPattern {
                name: "carrier".into(),
                regex: regex::Regex::new("^IK[0-9]{10}$").unwrap(),
            }],
        }
    }

    #[test]
    fn one_valid_waybill_among_other_symbols_is_read_with_its_position() {
        let symbols = [
            sym(Format::Code128, "420 10115", 0.0),
            sym(Format::QrCode, "https://example.com/track", 20.0),
            sym(Format::Code128, "EE123456785GB", 40.0),
        ];
        let (read, chosen) = choose_waybill(&symbols, &rules());
        assert_eq!(read, WaybillRead::Read("EE123456785GB".into()));
        let c = chosen.unwrap();
        assert_eq!(c.symbol.corners[0].x, 40.0);
        assert_eq!(c.waybill.as_str(), "EE123456785GB");
    }

    #[test]
    fn a_wrong_check_digit_is_not_a_waybill() {
        let symbols = [sym(Format::Code128, "EE123456784GB", 0.0)];
        assert_eq!(
            choose_waybill(&symbols, &rules()),
            (WaybillRead::NoRead, None)
        );
        assert_eq!(choose_waybill(&[], &rules()), (WaybillRead::NoRead, None));
    }

    #[test]
    fn the_same_waybill_twice_is_one_read_and_keeps_the_first_symbol() {
        let symbols = [
            sym(Format::QrCode, "EE123456785GB", 0.0),
            sym(Format::Code128, "ee 123456785 gb", 40.0),
        ];
        let (read, chosen) = choose_waybill(&symbols, &rules());
        assert_eq!(read, WaybillRead::Read("EE123456785GB".into()));
        assert_eq!(chosen.unwrap().symbol.format, Format::QrCode);
    }

    #[test]
    fn two_different_waybills_are_ambiguous() {
        let symbols = [
            sym(Format::Code128, "IK0000012345", 0.0),
            sym(Format::Code128, "EE123456785GB", 40.0),
            sym(Format::Code128, "IK0000012345", 80.0),
        ];
        let (read, chosen) = choose_waybill(&symbols, &rules());
        assert_eq!(
            read,
            WaybillRead::Ambiguous(vec!["EE123456785GB".into(), "IK0000012345".into()])
        );
        assert!(chosen.is_none());
    }
}
