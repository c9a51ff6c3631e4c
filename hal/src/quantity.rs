//! Typed quantities: mass, length, dimensions and money.
//!
//! Every quantity is an integer in one base unit — micrograms for mass, micrometres for
//! length, minor units (cents) for money — so limits compare exactly. User text is parsed
//! as a decimal (never through a float) and converted by one exact rational factor per unit:
//! `44 lb` and `19.95806428 kg` are the same number of micrograms.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Micrograms in one pound (avoirdupois, exact by the 1959 international definition).
const UG_PER_LB: i64 = 453_592_370;
/// Micrometres in one inch (exact).
const UM_PER_IN: i64 = 25_400;

/// The heaviest mass the station accepts as input at all: 1000 kg.
pub const MAX_MASS: Mass = Mass(1_000_000_000_000);
/// The longest length the station accepts as input at all: 10 m.
pub const MAX_LENGTH: Length = Length(10_000_000);

/// Why a quantity could not be read from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("empty value; {accepted}")]
    Empty { accepted: &'static str },
    #[error("\"{text}\" has no unit; {accepted}")]
    NoUnit {
        text: String,
        accepted: &'static str,
    },
    #[error("\"{text}\": unknown unit \"{unit}\"; {accepted}")]
    UnknownUnit {
        text: String,
        unit: String,
        accepted: &'static str,
    },
    #[error("\"{text}\" is not a plain decimal number; {accepted}")]
    NotANumber {
        text: String,
        accepted: &'static str,
    },
    #[error("\"{text}\" is negative; a {what} cannot be below zero")]
    Negative { text: String, what: &'static str },
    #[error("\"{text}\" is beyond what a parcel station measures (at most {max})")]
    Absurd { text: String, max: &'static str },
    #[error(
        "\"{text}\": the side \"{side}\" is {why}; every side of a parcel is at least {MIN_SIDE_TEXT}"
    )]
    SideTooSmall {
        text: String,
        side: String,
        why: &'static str,
    },
    #[error("\"{text}\" is not three sides; write it like \"12x10x8 in\" or \"30x20x10 cm\"")]
    NotThreeSides { text: String },
    #[error("\"{text}\" has more than {places} decimal places")]
    TooPrecise { text: String, places: u32 },
}

const MASS_ACCEPTED: &str =
    "write a number and a unit, like \"44 lb\", \"19.5 kg\", \"700 g\" or \"12 oz\"";
const LENGTH_ACCEPTED: &str =
    "write a number and a unit, like \"59 in\", \"150 cm\", \"1498 mm\" or \"1.2 m\"";
const MONEY_ACCEPTED: &str =
    "write an amount like \"23.50\" (optionally \"23.50 USD\" or \"$23.50\")";

/// The shortest side a parcel can have: a flat envelope is a millimetre thick. A typed side
/// below it is a typing error (`0x10x10in`), refused like a negative one.
pub const MIN_SIDE: Length = Length(1_000);
const MIN_SIDE_TEXT: &str = "1 mm";

/// `a / b` rounded towards positive infinity, for `b > 0`.
pub fn div_ceil(a: i64, b: i64) -> i64 {
    let q = a.div_euclid(b);
    if a.rem_euclid(b) == 0 { q } else { q + 1 }
}

/// A non-negative decimal read exactly: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    /// Parses `123`, `12.5`, `.5`; no signs, exponents, `NaN` or `inf`.
    fn parse(s: &str) -> Option<Decimal> {
        let (int, frac) = match s.split_once('.') {
            Some((i, f)) => (i, f),
            None => (s, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // 30 significant digits keep every product below in i128.
        let digits = int.trim_start_matches('0').len() + frac.len();
        if digits > 30 {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa * 10 + i128::from(b - b'0');
        }
        Some(Decimal {
            mantissa,
            scale: u32::try_from(frac.len()).ok()?,
        })
    }

    /// `self × num / den` in base units, rounded half up.
    fn times(self, num: i128, den: i128) -> Option<i128> {
        let n = self.mantissa.checked_mul(num)?;
        let d = 10i128.checked_pow(self.scale)?.checked_mul(den)?;
        Some((n + d / 2) / d)
    }
}

/// Splits `"19.5kg"` / `"19.5 kg"` into number and unit text.
fn split_number_unit(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    (s[..end].trim(), s[end..].trim())
}

/// Reads `"<number> <unit>"` into base units with one exact factor per unit.
fn parse_quantity(
    text: &str,
    accepted: &'static str,
    what: &'static str,
    unit_factor: fn(&str) -> Option<(i128, i128)>,
) -> Result<i128, QuantityError> {
    let s = text.trim();
    if s.is_empty() {
        return Err(QuantityError::Empty { accepted });
    }
    if let Some(rest) = s.strip_prefix('-') {
        // Say "negative" rather than "not a number" when the rest is a number.
        if Decimal::parse(split_number_unit(rest.trim()).0).is_some() {
            return Err(QuantityError::Negative {
                text: s.to_owned(),
                what,
            });
        }
    }
    let (num, unit) = split_number_unit(s);
    let Some(value) = Decimal::parse(num) else {
        return Err(QuantityError::NotANumber {
            text: s.to_owned(),
            accepted,
        });
    };
    if unit.is_empty() {
        return Err(QuantityError::NoUnit {
            text: s.to_owned(),
            accepted,
        });
    }
    let Some((n, d)) = unit_factor(&unit.to_ascii_lowercase()) else {
        return Err(QuantityError::UnknownUnit {
            text: s.to_owned(),
            unit: unit.to_owned(),
            accepted,
        });
    };
    value.times(n, d).ok_or(QuantityError::NotANumber {
        text: s.to_owned(),
        accepted,
    })
}

/// A mass in micrograms. Never negative once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Mass(i64);

/// Units a mass can be written or shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MassUnit {
    Gram,
    Kilogram,
    Pound,
    Ounce,
}

impl MassUnit {
    /// Micrograms per unit as an exact fraction.
    fn factor(self) -> (i128, i128) {
        match self {
            MassUnit::Gram => (1_000_000, 1),
            MassUnit::Kilogram => (1_000_000_000, 1),
            MassUnit::Pound => (i128::from(UG_PER_LB), 1),
            // 1 oz = 1/16 lb = 28 349 523.125 µg.
            MassUnit::Ounce => (i128::from(UG_PER_LB), 16),
        }
    }

    /// Reads a unit name (lower case) as written by people and scales.
    pub fn from_name(name: &str) -> Option<MassUnit> {
        Some(match name {
            "g" | "gram" | "grams" => MassUnit::Gram,
            "kg" | "kgs" | "kilogram" | "kilograms" => MassUnit::Kilogram,
            "lb" | "lbs" | "pound" | "pounds" | "#" => MassUnit::Pound,
            "oz" | "ounce" | "ounces" => MassUnit::Ounce,
            _ => return None,
        })
    }

    pub fn symbol(self) -> &'static str {
        match self {
            MassUnit::Gram => "g",
            MassUnit::Kilogram => "kg",
            MassUnit::Pound => "lb",
            MassUnit::Ounce => "oz",
        }
    }
}

impl Mass {
    pub const ZERO: Mass = Mass(0);

    pub const fn from_micrograms(ug: i64) -> Mass {
        Mass(ug)
    }

    pub const fn micrograms(self) -> i64 {
        self.0
    }

    /// An exact amount of a unit given as `mantissa / 10^scale` (as a scale prints it),
    /// rounded to the nearest microgram; `None` if it overflows.
    pub fn from_decimal(mantissa: i64, scale: u32, unit: MassUnit) -> Option<Mass> {
        let (n, d) = unit.factor();
        let num = i128::from(mantissa).checked_mul(n)?;
        let den = 10i128.checked_pow(scale)?.checked_mul(d)?;
        let half = if num < 0 { -den / 2 } else { den / 2 };
        i64::try_from((num + half) / den).ok().map(Mass)
    }

    pub fn from_grams(g: i64) -> Mass {
        Mass(g.saturating_mul(1_000_000))
    }

    pub fn from_lb(lb: i64) -> Mass {
        Mass(lb.saturating_mul(UG_PER_LB))
    }

    /// Value in `unit`, for display only (never for comparisons).
    pub fn in_unit(self, unit: MassUnit) -> f64 {
        let (n, d) = unit.factor();
        (self.0 as f64) * (d as f64) / (n as f64)
    }

    pub fn lb(self) -> f64 {
        self.in_unit(MassUnit::Pound)
    }

    /// Rounds up to a whole number of `step`s (a zero step leaves the mass as it is).
    pub fn round_up_to(self, step: Mass) -> Mass {
        if step.0 <= 0 {
            return self;
        }
        Mass(div_ceil(self.0, step.0).saturating_mul(step.0))
    }

    pub fn abs_diff(self, other: Mass) -> Mass {
        Mass(self.0.abs_diff(other.0).try_into().unwrap_or(i64::MAX))
    }
}

impl FromStr for Mass {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Mass, QuantityError> {
        let ug = parse_quantity(s, MASS_ACCEPTED, "weight", |u| {
            MassUnit::from_name(u).map(MassUnit::factor)
        })?;
        if ug > i128::from(MAX_MASS.0) {
            return Err(QuantityError::Absurd {
                text: s.trim().to_owned(),
                max: "1000 kg",
            });
        }
        // Bounded by MAX_MASS above, so it fits.
        Ok(Mass(ug as i64))
    }
}

impl fmt::Display for Mass {
    /// Pounds with two decimals, the unit the carrier's limits and rate cards speak.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} lb", self.lb())
    }
}

/// A length in micrometres. Never negative once parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Length(i64);

/// Units a length can be written or shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthUnit {
    Millimetre,
    Centimetre,
    Metre,
    Inch,
}

impl LengthUnit {
    /// Micrometres per unit.
    fn factor(self) -> (i128, i128) {
        match self {
            LengthUnit::Millimetre => (1_000, 1),
            LengthUnit::Centimetre => (10_000, 1),
            LengthUnit::Metre => (1_000_000, 1),
            LengthUnit::Inch => (i128::from(UM_PER_IN), 1),
        }
    }

    pub fn from_name(name: &str) -> Option<LengthUnit> {
        Some(match name {
            "mm" | "millimetre" | "millimetres" | "millimeter" | "millimeters" => {
                LengthUnit::Millimetre
            }
            "cm" | "centimetre" | "centimetres" | "centimeter" | "centimeters" => {
                LengthUnit::Centimetre
            }
            "m" | "metre" | "metres" | "meter" | "meters" => LengthUnit::Metre,
            "in" | "inch" | "inches" | "\"" => LengthUnit::Inch,
            _ => return None,
        })
    }
}

impl Length {
    pub const ZERO: Length = Length(0);

    pub const fn from_micrometres(um: i64) -> Length {
        Length(um)
    }

    pub const fn micrometres(self) -> i64 {
        self.0
    }

    pub fn from_mm(mm: i64) -> Length {
        Length(mm.saturating_mul(1_000))
    }

    pub fn from_inches(inches: i64) -> Length {
        Length(inches.saturating_mul(UM_PER_IN))
    }

    /// Value in `unit`, for display only.
    pub fn in_unit(self, unit: LengthUnit) -> f64 {
        let (n, d) = unit.factor();
        (self.0 as f64) * (d as f64) / (n as f64)
    }

    pub fn inches(self) -> f64 {
        self.in_unit(LengthUnit::Inch)
    }

    pub fn cm(self) -> f64 {
        self.in_unit(LengthUnit::Centimetre)
    }
}

impl FromStr for Length {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Length, QuantityError> {
        let um = parse_quantity(s, LENGTH_ACCEPTED, "length", |u| {
            LengthUnit::from_name(u).map(LengthUnit::factor)
        })?;
        if um > i128::from(MAX_LENGTH.0) {
            return Err(QuantityError::Absurd {
                text: s.trim().to_owned(),
                max: "10 m",
            });
        }
        Ok(Length(um as i64))
    }
}

impl fmt::Display for Length {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.1} in", self.inches())
    }
}

/// A parcel's three sides, longest first: `length ≥ width ≥ height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dims {
    pub length: Length,
    pub width: Length,
    pub height: Length,
}

impl Dims {
    /// Orders the sides so the longest is the length, whatever axis it was measured on.
    pub fn new(a: Length, b: Length, c: Length) -> Dims {
        let mut s = [a, b, c];
        s.sort_unstable_by(|x, y| y.cmp(x));
        Dims {
            length: s[0],
            width: s[1],
            height: s[2],
        }
    }

    pub fn longest(&self) -> Length {
        self.length
    }

    /// Volume in cubic micrometres (fits: 10 m per side is 10^21 µm³).
    pub fn volume_um3(&self) -> i128 {
        i128::from(self.length.0) * i128::from(self.width.0) * i128::from(self.height.0)
    }
}

impl FromStr for Dims {
    type Err = QuantityError;

    /// `12x10x8in`, `30x20x10 cm`, `12 x 10 x 8 in`, `12in x 10in x 8in`, `12×10×8 in`.
    fn from_str(s: &str) -> Result<Dims, QuantityError> {
        let text = s.trim();
        let parts: Vec<&str> = text.split(['x', 'X', '×', '*']).map(str::trim).collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(QuantityError::NotThreeSides {
                text: text.to_owned(),
            });
        }
        // A unit written once at the end applies to all three sides.
        let (_, last_unit) = split_number_unit(parts[2]);
        let side = |p: &str| -> Result<Length, QuantityError> {
            let (_, unit) = split_number_unit(p);
            let len: Length = if unit.is_empty() && !last_unit.is_empty() {
                format!("{p} {last_unit}").parse()?
            } else {
                p.parse()?
            };
            if len < MIN_SIDE {
                return Err(QuantityError::SideTooSmall {
                    text: text.to_owned(),
                    side: p.to_owned(),
                    why: if len == Length::ZERO {
                        "zero"
                    } else {
                        "too small"
                    },
                });
            }
            Ok(len)
        };
        Ok(Dims::new(side(parts[0])?, side(parts[1])?, side(parts[2])?))
    }
}

impl fmt::Display for Dims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.1}×{:.1}×{:.1} in",
            self.length.inches(),
            self.width.inches(),
            self.height.inches()
        )
    }
}

/// An amount of money in minor units (cents). May be negative only as an adjustment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_cents(cents: i64) -> Money {
        Money(cents)
    }

    pub const fn cents(self) -> i64 {
        self.0
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    pub fn checked_mul(self, n: i64) -> Option<Money> {
        self.0.checked_mul(n).map(Money)
    }
}

impl FromStr for Money {
    type Err = QuantityError;

    /// `23.50`, `23.5`, `23`, `$23.50`, `23.50 USD`. Never negative, at most two decimals.
    fn from_str(s: &str) -> Result<Money, QuantityError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(QuantityError::Empty {
                accepted: MONEY_ACCEPTED,
            });
        }
        let mut body = text.strip_prefix('$').unwrap_or(text).trim();
        if let Some((num, code)) = body.rsplit_once(' ')
            && code.len() == 3
            && code.bytes().all(|b| b.is_ascii_alphabetic())
        {
            body = num.trim();
        }
        if let Some(rest) = body.strip_prefix('-')
            && Decimal::parse(rest).is_some()
        {
            return Err(QuantityError::Negative {
                text: text.to_owned(),
                what: "price",
            });
        }
        let Some(d) = Decimal::parse(body) else {
            return Err(QuantityError::NotANumber {
                text: text.to_owned(),
                accepted: MONEY_ACCEPTED,
            });
        };
        if d.scale > 2 {
            return Err(QuantityError::TooPrecise {
                text: text.to_owned(),
                places: 2,
            });
        }
        let cents = d.times(100, 1).filter(|c| *c <= 100_000_000_000);
        match cents {
            Some(c) => Ok(Money(c as i64)),
            None => Err(QuantityError::Absurd {
                text: text.to_owned(),
                max: "1,000,000,000.00",
            }),
        }
    }
}

impl fmt::Display for Money {
    /// `23.50`, `-1.05`: decimal with two places, no currency (the caller knows it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

const DURATION_ACCEPTED: &str =
    "write a number and a unit, like \"800ms\", \"1.5 s\", \"5m\" (minutes) or \"2h\"";

/// A duration with its unit: `"800ms"`, `"1.5 s"`, `"30s"`, `"5m"` or `"5min"`, `"2h"`. Exact
/// (decimal, no float); never negative; at most a day. The one duration reader of every
/// config section.
pub fn parse_duration(text: &str) -> Result<Duration, QuantityError> {
    let ns = parse_quantity(text, DURATION_ACCEPTED, "duration", |u| {
        Some(match u {
            "ms" => (1_000_000, 1),
            "s" | "sec" => (1_000_000_000, 1),
            "m" | "min" => (60_000_000_000, 1),
            "h" => (3_600_000_000_000, 1),
            _ => return None,
        })
    })?;
    if ns > 86_400_000_000_000 {
        return Err(QuantityError::Absurd {
            text: text.trim().to_owned(),
            max: "24h",
        });
    }
    // Bounded above, and parse_quantity never returns a negative value.
    Ok(Duration::from_nanos(ns as u64))
}

/// Serde support: quantities are strings with units in config and JSON files.
macro_rules! serde_via_str {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_via_str!(Mass);
serde_via_str!(Length);
serde_via_str!(Money);
serde_via_str!(Dims);

impl Serialize for MassUnit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.symbol())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> Mass {
        s.parse().unwrap()
    }

    fn l(s: &str) -> Length {
        s.parse().unwrap()
    }

    #[test]
    fn mass_units_are_exact() {
        assert_eq!(m("44 lb"), Mass(44 * UG_PER_LB));
        assert_eq!(m("44lb"), m("44 lb"));
        assert_eq!(m("44 LBS"), m("44 lb"));
        assert_eq!(m("19.5 kg"), Mass(19_500_000_000));
        assert_eq!(m("700 g"), Mass(700_000_000));
        assert_eq!(m("16 oz"), m("1 lb"));
        // 44 lb written in kilograms to the microgram is the same integer.
        assert_eq!(m("19.958064280 kg"), m("44 lb"));
        assert!(m("19.958064281 kg") > m("44 lb"));
        assert_eq!(m(".5 lb"), m("8 oz"));
    }

    #[test]
    fn length_units_are_exact() {
        assert_eq!(l("59 in"), Length(1_498_600));
        assert_eq!(l("149.86 cm"), l("59 in"));
        assert_eq!(l("1498.6 mm"), l("59 in"));
        assert!(l("150 cm") > l("59 in"));
        assert!(l("1498 mm") < l("59 in"));
        assert_eq!(l("1.2 m"), l("120 cm"));
    }

    #[test]
    fn dims_parse_in_every_spelling_and_sort_longest_first() {
        let d: Dims = "12x10x8in".parse().unwrap();
        assert_eq!(d.length, l("12 in"));
        assert_eq!(d.height, l("8 in"));
        let e: Dims = "8 x 12 x 10 in".parse().unwrap();
        assert_eq!(d, e);
        let c: Dims = "30x20x10 cm".parse().unwrap();
        assert_eq!(c.length, l("30 cm"));
        let mixed: Dims = "1 m x 20cm x 100 mm".parse().unwrap();
        assert_eq!(mixed.length, l("100 cm"));
        assert_eq!(mixed.height, l("10 cm"));
        assert!("12x10in".parse::<Dims>().is_err());
        assert!("12x10x8".parse::<Dims>().is_err());
    }

    #[test]
    fn bad_input_says_what_is_accepted() {
        for bad in [
            "44", "", "  ", "lb", "abc lb", "1e3 lb", "NaN lb", "inf kg", "4.4.4 lb",
        ] {
            let err = bad.parse::<Mass>().unwrap_err().to_string();
            assert!(
                err.contains("44 lb") || err.contains("empty") || err.contains("unit"),
                "{bad:?}: {err}"
            );
        }
        assert!(matches!(
            "-3 lb".parse::<Mass>(),
            Err(QuantityError::Negative { .. })
        ));
        assert!(matches!(
            "1001 kg".parse::<Mass>(),
            Err(QuantityError::Absurd { .. })
        ));
        assert!("1000 kg".parse::<Mass>().is_ok());
        assert!(matches!(
            "10.001 m".parse::<Length>(),
            Err(QuantityError::Absurd { .. })
        ));
        assert!(matches!(
            "44 stone".parse::<Mass>(),
            Err(QuantityError::UnknownUnit { .. })
        ));
        assert!(matches!(
            "59 lb".parse::<Length>(),
            Err(QuantityError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn zero_and_tiny_sides_are_refused_like_negative_ones() {
        // Issue 16: `intake quote --dims 0x10x10in` was priced.
        for text in [
            "0x10x10in",
            "10x0x10 in",
            "10 x 10 x 0 cm",
            "0.01x10x10 mm",
            "10x10x0.5mm",
        ] {
            let e = text.parse::<Dims>().unwrap_err();
            assert!(
                matches!(e, QuantityError::SideTooSmall { .. }),
                "{text}: {e}"
            );
            assert!(e.to_string().contains("at least 1 mm"), "{e}");
        }
        let e = "0x10x10in".parse::<Dims>().unwrap_err().to_string();
        assert!(e.contains("\"0\" is zero"), "{e}");
        // The smallest accepted side is exactly the minimum.
        let d: Dims = "1x10x10 mm".parse().unwrap();
        assert_eq!(d.height, MIN_SIDE);
    }

    #[test]
    fn money_is_integer_cents() {
        assert_eq!("23.50".parse::<Money>().unwrap(), Money(2350));
        assert_eq!("23.5".parse::<Money>().unwrap(), Money(2350));
        assert_eq!("$7".parse::<Money>().unwrap(), Money(700));
        assert_eq!("12.05 USD".parse::<Money>().unwrap(), Money(1205));
        assert!("1.234".parse::<Money>().is_err());
        assert!("-1".parse::<Money>().is_err());
        assert_eq!(Money(-105).to_string(), "-1.05");
        assert_eq!(Money(2350).to_string(), "23.50");
    }

    #[test]
    fn rounding_up_to_a_step() {
        let step = m("0.5 lb");
        assert_eq!(m("3.2 lb").round_up_to(step), m("3.5 lb"));
        assert_eq!(m("3.5 lb").round_up_to(step), m("3.5 lb"));
        assert_eq!(Mass::ZERO.round_up_to(step), Mass::ZERO);
    }

    #[test]
    fn from_decimal_matches_parsing() {
        assert_eq!(
            Mass::from_decimal(785, 2, MassUnit::Pound),
            Some(m("7.85 lb"))
        );
        assert_eq!(
            Mass::from_decimal(-5, 0, MassUnit::Gram),
            Some(Mass(-5_000_000))
        );
    }

    #[test]
    fn durations_with_units() {
        assert_eq!(parse_duration("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(parse_duration("1.5 s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("5min"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        for bad in ["200", "-1s", "2 fortnights", "1e3ms", "", "25h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn mass_parser_never_panics(s in "\\PC{0,24}") {
            let _ = s.parse::<Mass>();
            let _ = s.parse::<Length>();
            let _ = s.parse::<Dims>();
            let _ = s.parse::<Money>();
        }

        #[test]
        fn parsed_mass_is_bounded_and_non_negative(s in "[-0-9. ]{0,12}(kg|lb|g|oz|KG|x)?") {
            if let Ok(v) = s.parse::<Mass>() {
                prop_assert!(v >= Mass::ZERO && v <= MAX_MASS);
            }
        }

        #[test]
        fn grams_round_trip(g in 0i64..1_000_000) {
            prop_assert_eq!(format!("{g} g").parse::<Mass>().unwrap(), Mass::from_grams(g));
        }

        #[test]
        fn more_pounds_is_never_less_mass(a in 0u32..100_000, b in 0u32..100_000) {
            let ma: Mass = format!("{}.{:02} lb", a / 100, a % 100).parse().unwrap();
            let mb: Mass = format!("{}.{:02} lb", b / 100, b % 100).parse().unwrap();
            prop_assert_eq!(a.cmp(&b), ma.cmp(&mb));
        }
    }
}
