//! Rate cards, dimensional and billable weight, the price, and the adjustment against the
//! price quoted online. Money is integer cents throughout.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::quantity::{Dims, Mass, MassUnit, Money, div_ceil};

/// Why a rate card is not usable. Messages name the destination and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateCardError {
    #[error("rate card is not valid TOML: {0}")]
    Syntax(String),
    #[error("rate card: {key}: {message}")]
    Invalid { key: String, message: String },
}

/// Why a parcel could not be priced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("the rate card {version} has no rate for {to}; add [destinations.{to}] to it")]
    NoRate { version: String, to: Country },
    #[error("price for {billable} overflows; the parcel's measurements are implausible")]
    Overflow { billable: Mass },
}

/// How many cubic units of volume per unit of mass, e.g. `139 in3/lb` or `5000 cm3/kg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DimDivisor {
    /// Volume in µm³ per unit of mass in µg, as an exact fraction `vol / mass`.
    vol_um3: i128,
    mass_ug: i128,
    text_value: u32,
    metric: bool,
}

impl DimDivisor {
    pub fn parse(text: &str) -> Result<DimDivisor, String> {
        let t = text.trim();
        let (num, unit) = t
            .split_once(|c: char| !c.is_ascii_digit())
            .map(|(n, _)| (n, t[n.len()..].trim()))
            .unwrap_or((t, ""));
        let value: u32 = num.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
            format!(
                "\"{t}\": write a positive whole divisor like \"139 in3/lb\" or \"5000 cm3/kg\""
            )
        })?;
        let (vol_per_unit, mass_per_unit, metric) = match unit.to_ascii_lowercase().as_str() {
            "in3/lb" | "in^3/lb" | "cubic in/lb" => (25_400i128.pow(3), 453_592_370i128, false),
            "cm3/kg" | "cm^3/kg" => (10_000i128.pow(3), 1_000_000_000i128, true),
            _ => {
                return Err(format!(
                    "\"{t}\": the divisor needs its unit, \"in3/lb\" or \"cm3/kg\" (e.g. \"139 in3/lb\")"
                ));
            }
        };
        Ok(DimDivisor {
            vol_um3: i128::from(value) * vol_per_unit,
            mass_ug: mass_per_unit,
            text_value: value,
            metric,
        })
    }

    /// L×W×H / divisor, rounded up to the microgram.
    pub fn dimensional_weight(&self, dims: &Dims) -> Option<Mass> {
        let num = dims.volume_um3().checked_mul(self.mass_ug)?;
        let ug = num.div_euclid(self.vol_um3) + i128::from(num.rem_euclid(self.vol_um3) != 0);
        i64::try_from(ug).ok().map(Mass::from_micrograms)
    }
}

impl std::fmt::Display for DimDivisor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let unit = if self.metric { "cm3/kg" } else { "in3/lb" };
        write!(f, "{} {unit}", self.text_value)
    }
}

/// How a destination's price grows with billable weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `first` for the first step, `additional` for each further step.
    PerStep { first: Money, additional: Money },
    /// A fixed price up to each band's weight, then `additional` per step beyond the last.
    Bands {
        bands: Vec<(Mass, Money)>,
        additional: Money,
    },
}

/// One destination's rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub currency: String,
    pub dim_divisor: DimDivisor,
    pub step: Mass,
    pub schedule: Schedule,
}

/// A validated rate card: a version and a rate per destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCard {
    pub version: String,
    pub note: Option<String>,
    pub rates: BTreeMap<Country, Rate>,
}

/// Raw TOML shape of a rate card file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCard {
    version: String,
    note: Option<String>,
    destinations: BTreeMap<String, RawRate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRate {
    currency: String,
    dim_divisor: String,
    step: String,
    first: Option<String>,
    additional: String,
    bands: Option<Vec<RawBand>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    up_to: String,
    price: String,
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> RateCardError {
    RateCardError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl RateCard {
    /// Parses and validates a rate card; nothing is half-accepted.
    pub fn from_toml(text: &str) -> Result<RateCard, RateCardError> {
        let raw: RawCard = toml::from_str(text)
            .map_err(|e| RateCardError::Syntax(crate::config::toml_error_line(text, &e)))?;
        if raw.version.trim().is_empty() {
            return Err(invalid("version", "must not be empty"));
        }
        let mut rates = BTreeMap::new();
        for (code, r) in raw.destinations {
            let key = format!("destinations.{code}");
            let country: Country = code
                .parse()
                .map_err(|e: crate::country::UnknownCountry| invalid(&key, e.to_string()))?;
            rates.insert(country, Rate::from_raw(&key, r)?);
        }
        if rates.is_empty() {
            return Err(invalid("destinations", "no destination has a rate"));
        }
        Ok(RateCard {
            version: raw.version,
            note: raw.note,
            rates,
        })
    }

    pub fn rate(&self, to: Country) -> Result<&Rate, PricingError> {
        self.rates.get(&to).ok_or_else(|| PricingError::NoRate {
            version: self.version.clone(),
            to,
        })
    }
}

impl Rate {
    fn from_raw(key: &str, r: RawRate) -> Result<Rate, RateCardError> {
        let money = |k: &str, v: &str| -> Result<Money, RateCardError> {
            v.parse().map_err(|e: crate::quantity::QuantityError| {
                invalid(format!("{key}.{k}"), e.to_string())
            })
        };
        let currency = r.currency.trim().to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid(
                format!("{key}.currency"),
                "use an ISO 4217 code like \"USD\"",
            ));
        }
        let dim_divisor = DimDivisor::parse(&r.dim_divisor)
            .map_err(|m| invalid(format!("{key}.dim_divisor"), m))?;
        let step: Mass = r
            .step
            .parse()
            .map_err(|e: crate::quantity::QuantityError| {
                invalid(format!("{key}.step"), e.to_string())
            })?;
        if step == Mass::ZERO {
            return Err(invalid(
                format!("{key}.step"),
                "must be more than zero, like \"0.5 lb\"",
            ));
        }
        let additional = money("additional", &r.additional)?;
        let schedule = match (r.first, r.bands) {
            (Some(first), None) => Schedule::PerStep {
                first: money("first", &first)?,
                additional,
            },
            (None, Some(raw_bands)) => {
                let mut bands = Vec::with_capacity(raw_bands.len());
                for (i, b) in raw_bands.into_iter().enumerate() {
                    let k = format!("{key}.bands[{i}]");
                    let up_to: Mass =
                        b.up_to
                            .parse()
                            .map_err(|e: crate::quantity::QuantityError| {
                                invalid(format!("{k}.up_to"), e.to_string())
                            })?;
                    let price = money(&format!("bands[{i}].price"), &b.price)?;
                    if let Some(&(prev_w, prev_p)) = bands.last() {
                        if up_to <= prev_w {
                            return Err(invalid(&k, "bands must go up in weight"));
                        }
                        if price < prev_p {
                            return Err(invalid(
                                &k,
                                "a heavier band cannot cost less than a lighter one",
                            ));
                        }
                    }
                    bands.push((up_to, price));
                }
                if bands.is_empty() {
                    return Err(invalid(format!("{key}.bands"), "needs at least one band"));
                }
                Schedule::Bands { bands, additional }
            }
            _ => {
                return Err(invalid(
                    key,
                    "give either `first` (price of the first step) or `bands`, not both or neither",
                ));
            }
        };
        Ok(Rate {
            currency,
            dim_divisor,
            step,
            schedule,
        })
    }

    /// The price of a parcel of this billable weight (already a whole number of steps).
    pub fn price(&self, billable: Mass) -> Result<Money, PricingError> {
        let overflow = PricingError::Overflow { billable };
        let steps = |w: Mass| -> i64 { div_ceil(w.micrograms(), self.step.micrograms()).max(1) };
        let price = match &self.schedule {
            Schedule::PerStep { first, additional } => additional
                .checked_mul(steps(billable) - 1)
                .and_then(|a| first.checked_add(a)),
            Schedule::Bands { bands, additional } => {
                match bands.iter().find(|(up_to, _)| billable <= *up_to) {
                    Some(&(_, p)) => Some(p),
                    None => {
                        let &(last_w, last_p) = bands.last().ok_or(overflow.clone())?;
                        let beyond =
                            Mass::from_micrograms(billable.micrograms() - last_w.micrograms());
                        additional
                            .checked_mul(div_ceil(beyond.micrograms(), self.step.micrograms()))
                            .and_then(|a| last_p.checked_add(a))
                    }
                }
            }
        };
        price.ok_or(overflow)
    }

    /// Weighs the actual against the dimensional weight and prices the heavier.
    pub fn quote(&self, actual: Mass, dims: &Dims) -> Result<Priced, PricingError> {
        let overflow = PricingError::Overflow { billable: actual };
        let dimensional = self.dim_divisor.dimensional_weight(dims).ok_or(overflow)?;
        let billable = actual.max(dimensional).round_up_to(self.step);
        Ok(Priced {
            actual,
            dimensional,
            billable,
            price: self.price(billable)?,
            currency: self.currency.clone(),
        })
    }
}

/// A priced parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Priced {
    pub actual: Mass,
    pub dimensional: Mass,
    pub billable: Mass,
    pub price: Money,
    pub currency: String,
}

impl Priced {
    pub fn billable_lb(&self) -> f64 {
        self.billable.in_unit(MassUnit::Pound)
    }
}

/// The difference between the intake price and the quote (positive: the customer owes
/// more), and whether it is beyond the tolerance and so a repricing.
pub fn adjustment(price: Money, quoted: Money, tolerance: Money) -> (Money, bool) {
    let adj = Money::from_cents(price.cents() - quoted.cents());
    (adj, adj.cents().abs() > tolerance.cents())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CARD: &str = r#"
        version = "test-1"
        [destinations.JP]
        currency = "usd"
        dim_divisor = "139 in3/lb"
        step = "0.5 lb"
        first = "10.00"
        additional = "2.00"
        [destinations.CN]
        currency = "USD"
        dim_divisor = "5000 cm3/kg"
        step = "1 lb"
        bands = [ { up_to = "1 lb", price = "12.00" }, { up_to = "5 lb", price = "20.00" } ]
        additional = "3.00"
    "#;

    fn card() -> RateCard {
        RateCard::from_toml(CARD).unwrap()
    }

    fn jp() -> Country {
        "JP".parse().unwrap()
    }

    #[test]
    fn dimensional_weight_in_inches_and_pounds() {
        let d = DimDivisor::parse("139 in3/lb").unwrap();
        // 12×10×8 = 960 in³ / 139 = 6.906… lb.
        let w = d
            .dimensional_weight(&"12x10x8 in".parse().unwrap())
            .unwrap();
        assert!(w > "6.906 lb".parse().unwrap() && w < "6.907 lb".parse().unwrap());
        // 139 in³ is exactly one pound.
        let one = d
            .dimensional_weight(&"139x1x1 in".parse().unwrap())
            .unwrap();
        assert_eq!(one, "1 lb".parse().unwrap());
        let m = DimDivisor::parse("5000 cm3/kg").unwrap();
        assert_eq!(
            m.dimensional_weight(&"50x10x10 cm".parse().unwrap())
                .unwrap(),
            "1 kg".parse().unwrap()
        );
        assert!(DimDivisor::parse("139").is_err());
        assert!(DimDivisor::parse("0 in3/lb").is_err());
    }

    #[test]
    fn per_step_pricing_rounds_up_to_the_step() {
        let r = card();
        let rate = r.rate(jp()).unwrap();
        assert_eq!(rate.currency, "USD");
        let p = rate
            .quote("3.2 lb".parse().unwrap(), &"6x6x6 in".parse().unwrap())
            .unwrap();
        assert_eq!(p.billable, "3.5 lb".parse().unwrap());
        // 7 steps: 10.00 + 6 × 2.00.
        assert_eq!(p.price, Money::from_cents(2200));
        // A zero-weight envelope still pays the first step.
        assert_eq!(rate.price(Mass::ZERO).unwrap(), Money::from_cents(1000));
    }

    #[test]
    fn a_light_large_box_pays_by_dimensional_weight() {
        let r = card();
        let rate = r.rate(jp()).unwrap();
        let p = rate
            .quote("2 lb".parse().unwrap(), &"24x18x18 in".parse().unwrap())
            .unwrap();
        // 7776 in³ / 139 = 55.94 lb → 56 lb billable.
        assert_eq!(p.billable, "56 lb".parse().unwrap());
        assert!(p.dimensional > p.actual);
        assert_eq!(p.price, Money::from_cents(1000 + 111 * 200));
    }

    #[test]
    fn band_pricing_and_beyond_the_last_band() {
        let r = card();
        let rate = r.rate("cn".parse().unwrap()).unwrap();
        assert_eq!(
            rate.price("1 lb".parse().unwrap()).unwrap(),
            Money::from_cents(1200)
        );
        assert_eq!(
            rate.price("2 lb".parse().unwrap()).unwrap(),
            Money::from_cents(2000)
        );
        assert_eq!(
            rate.price("5 lb".parse().unwrap()).unwrap(),
            Money::from_cents(2000)
        );
        assert_eq!(
            rate.price("7 lb".parse().unwrap()).unwrap(),
            Money::from_cents(2600)
        );
    }

    #[test]
    fn invalid_cards_name_the_key() {
        let cases = [
            (
                CARD.replace("\"0.5 lb\"", "\"0 lb\""),
                "destinations.JP.step",
            ),
            (
                CARD.replace("\"139 in3/lb\"", "\"139\""),
                "destinations.JP.dim_divisor",
            ),
            (
                CARD.replace("\"5 lb\", price = \"20.00\"", "\"5 lb\", price = \"2.00\""),
                "destinations.CN.bands[1]",
            ),
            (
                CARD.replace("destinations.JP]", "destinations.XX]"),
                "destinations.XX",
            ),
            (CARD.replace("first = \"10.00\"\n", ""), "destinations.JP"),
            (
                CARD.replace("\"usd\"", "\"dollars\""),
                "destinations.JP.currency",
            ),
        ];
        for (text, key) in cases {
            let err = RateCard::from_toml(&text).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        assert!(matches!(
            RateCard::from_toml("version = "),
            Err(RateCardError::Syntax(_))
        ));
    }

    #[test]
    fn adjustment_against_the_quote() {
        let tol = Money::from_cents(50);
        assert_eq!(
            adjustment(Money::from_cents(2350), Money::from_cents(2350), tol),
            (Money::ZERO, false)
        );
        assert_eq!(
            adjustment(Money::from_cents(2400), Money::from_cents(2350), tol),
            (Money::from_cents(50), false)
        );
        assert_eq!(
            adjustment(Money::from_cents(2401), Money::from_cents(2350), tol),
            (Money::from_cents(51), true)
        );
        assert_eq!(
            adjustment(Money::from_cents(2000), Money::from_cents(2350), tol),
            (Money::from_cents(-350), true)
        );
    }

    proptest! {
        #[test]
        fn price_is_never_negative_and_grows_with_weight(a in 0i64..2_000_000_000_000, b in 0i64..2_000_000_000_000) {
            let r = card();
            for rate in r.rates.values() {
                let (lo, hi) = (a.min(b), a.max(b));
                let plo = rate.price(Mass::from_micrograms(lo).round_up_to(rate.step)).unwrap();
                let phi = rate.price(Mass::from_micrograms(hi).round_up_to(rate.step)).unwrap();
                prop_assert!(plo >= Money::ZERO);
                prop_assert!(plo <= phi);
            }
        }

        #[test]
        fn billable_is_at_least_actual_and_dimensional(w in 0i64..30_000_000_000, l in 1i64..1_500_000, x in 1i64..1_500_000, h in 1i64..1_500_000) {
            let r = card();
            let rate = r.rate(jp()).unwrap();
            use crate::quantity::Length;
            let dims = Dims::new(Length::from_micrometres(l), Length::from_micrometres(x), Length::from_micrometres(h));
            let p = rate.quote(Mass::from_micrograms(w), &dims).unwrap();
            prop_assert!(p.billable >= p.actual && p.billable >= p.dimensional);
            prop_assert!(p.billable.micrograms() % rate.step.micrograms() == 0);
        }
    }
}
