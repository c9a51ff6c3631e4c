//! Waybill numbers: UPU S10 identifiers with their check digit, and carrier-native
//! formats from config. Text that fails these rules is not a waybill.

use std::fmt;

use regex::Regex;

use crate::country::Country;

/// S10 check-digit weights over the eight serial digits (UPU S10 standard).
const S10_WEIGHTS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];

/// Which rule made a text a waybill.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaybillKind {
    /// UPU S10: service indicator, serial, check digit, origin country.
    S10 { origin: Country },
    /// A carrier-native format, by its configured name.
    Carrier(String),
}

/// A validated waybill number (upper case, no spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waybill {
    text: String,
    kind: WaybillKind,
}

impl Waybill {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn kind(&self) -> &WaybillKind {
        &self.kind
    }
}

impl fmt::Display for Waybill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Why a text is not a waybill.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WaybillError {
    #[error(
        "\"{text}\" is not a waybill: expected an S10 number like EE123456785GB or a carrier format ({formats})"
    )]
    NoFormat { text: String, formats: String },
    #[error("\"{text}\" has a wrong S10 check digit (expected {expected}); re-read the label")]
    CheckDigit { text: String, expected: u32 },
    #[error("\"{text}\" ends in \"{country}\", which is not a country code")]
    Country { text: String, country: String },
}

/// A carrier-native format: a name and an anchored regular expression.
#[derive(Debug, Clone)]
pub struct CarrierPattern {
    pub name: String,
    pub regex: Regex,
}

/// The waybill rules in force: S10 always, carrier formats from config.
#[derive(Debug, Clone, Default)]
pub struct WaybillRules {
    pub patterns: Vec<CarrierPattern>,
}

/// The S10 check digit of eight serial digits.
pub fn s10_check_digit(serial: &[u8; 8]) -> u32 {
    let sum: u32 = serial
        .iter()
        .zip(S10_WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    match 11 - sum % 11 {
        10 => 0,
        11 => 5,
        c => c,
    }
}

fn looks_like_s10(b: &[u8]) -> bool {
    b.len() == 13
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..11].iter().all(u8::is_ascii_digit)
        && b[11..].iter().all(u8::is_ascii_uppercase)
}

impl WaybillRules {
    /// Validates `text` (as read from a barcode or typed by an operator; spaces and case are
    /// forgiven) as a waybill.
    pub fn parse(&self, text: &str) -> Result<Waybill, WaybillError> {
        let norm: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_uppercase();
        let b = norm.as_bytes();
        if looks_like_s10(b) {
            let mut serial = [0u8; 8];
            serial.copy_from_slice(&b[2..10]);
            let expected = s10_check_digit(&serial);
            if u32::from(b[10] - b'0') != expected {
                return Err(WaybillError::CheckDigit {
                    text: norm,
                    expected,
                });
            }
            let origin: Country = norm[11..].parse().map_err(|_| WaybillError::Country {
                country: norm[11..].to_owned(),
                text: norm.clone(),
            })?;
            return Ok(Waybill {
                text: norm,
                kind: WaybillKind::S10 { origin },
            });
        }
        for p in &self.patterns {
            if p.regex.is_match(&norm) {
                return Ok(Waybill {
                    text: norm,
                    kind: WaybillKind::Carrier(p.name.clone()),
                });
            }
        }
        Err(WaybillError::NoFormat {
            text: norm,
            formats: if self.patterns.is_empty() {
                "none configured".to_owned()
            } else {
                self.patterns
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        })
    }

    pub fn is_waybill(&self, text: &str) -> bool {
        self.parse(text).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules() -> WaybillRules {
        WaybillRules {
            patterns: vec![CarrierPattern {
                name: "carrier".into(),
                regex: Regex::new("^IK[0-9]{10}$").unwrap(),
            }],
        }
    }

    #[test]
    fn s10_check_digits() {
        // 1·8+2·6+3·4+4·2+5·3+6·5+7·9+8·7 = 204; 204 mod 11 = 6; 11−6 = 5.
        assert_eq!(s10_check_digit(b"12345678"), 5);
        // 4·8+7·6+3·4+1·2+2·3+4·5+8·9+2·7 = 200; 200 mod 11 = 2; 11−2 = 9.
        assert_eq!(s10_check_digit(b"47312482"), 9);
        // Sum divisible by 11 → 11 − 0 = 11 → 5.
        assert_eq!(s10_check_digit(b"00000000"), 5);
        // Sum 5 (1·5) → 11 − 5 = 6.
        assert_eq!(s10_check_digit(b"00000100"), 6);
        // Sum 10 (2·5) → 11 − 10 = 1.
        assert_eq!(s10_check_digit(b"00000200"), 1);
        // Sum 12 (6·2) → 12 mod 11 = 1 → 10 → 0.
        assert_eq!(s10_check_digit(b"02000000"), 0);
    }

    #[test]
    fn s10_valid_and_invalid() {
        let r = rules();
        let w = r.parse("EE123456785GB").unwrap();
        assert_eq!(w.as_str(), "EE123456785GB");
        assert!(matches!(w.kind(), WaybillKind::S10 { origin } if origin.as_str() == "GB"));
        assert_eq!(
            r.parse("ee 123 456 785 gb").unwrap().as_str(),
            "EE123456785GB"
        );
        assert!(matches!(
            r.parse("EE123456784GB"),
            Err(WaybillError::CheckDigit { expected: 5, .. })
        ));
        assert!(matches!(
            r.parse("EE123456785XX"),
            Err(WaybillError::Country { .. })
        ));
        assert!(r.parse("EE12345678GB").is_err());
        assert!(r.parse("").is_err());
    }

    #[test]
    fn carrier_patterns_from_config() {
        let r = rules();
        assert_eq!(
            r.parse("IK0000012345").unwrap().kind(),
            &WaybillKind::Carrier("carrier".into())
        );
        assert!(r.parse("IK00000123").is_err());
        assert!(WaybillRules::default().parse("IK0000012345").is_err());
    }

    proptest! {
        #[test]
        fn every_serial_has_exactly_one_valid_check_digit(serial in 0u32..100_000_000) {
            let s = format!("{serial:08}");
            let valid: Vec<u32> = (0..10)
                .filter(|d| rules().parse(&format!("RR{s}{d}US")).is_ok())
                .collect();
            prop_assert_eq!(valid.len(), 1);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,20}") {
            let _ = rules().parse(&s);
        }
    }
}
