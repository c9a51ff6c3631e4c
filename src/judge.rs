//! The heart of the station: one pure function from what was measured and what head office
//! knows to a verdict, a price and the adjustment against the quote.

use serde::Serialize;

use crate::country::Country;
use crate::manifest::ManifestEntry;
use crate::pricing::{Priced, RateCard, adjustment};
use crate::quantity::{Dims, Mass, Money};
use crate::rules::{Destinations, Limits, Reason, Verdict};

/// Why a measurement is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The weight never settled within the timeout.
    Unstable,
    /// A device failed or answered nonsense.
    Fault,
    /// The station has no calibrated empty baseline (or zero).
    Uncalibrated,
}

impl Problem {
    fn reason(self, unstable: Reason) -> Reason {
        match self {
            Problem::Unstable => unstable,
            Problem::Fault => Reason::SensorFault,
            Problem::Uncalibrated => Reason::Uncalibrated,
        }
    }
}

/// What the camera gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "waybills")]
pub enum WaybillRead {
    /// Exactly one valid waybill on the label.
    Read(String),
    /// No valid waybill.
    NoRead,
    /// Two or more different valid waybills.
    Ambiguous(Vec<String>),
}

/// Everything the station measured of one parcel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measurement {
    pub weight: Result<Mass, Problem>,
    pub dims: Result<Dims, Problem>,
    pub waybill: WaybillRead,
}

/// The rules in force: limits, destinations, rate card and repricing tolerance.
#[derive(Debug, Clone)]
pub struct Policy {
    pub limits: Limits,
    pub destinations: Destinations,
    pub card: RateCard,
    pub reprice_tolerance: Money,
    /// What makes a measurement usable for billing.
    pub billing: crate::decide::billing::BillingRules,
    /// The measuring devices' settings (canonical JSON): in force like the rules, so a
    /// change is counted; judging does not read it.
    pub measuring: String,
}

/// The station's decision on one parcel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub destination: Option<Country>,
    pub priced: Option<Priced>,
    pub quoted: Option<Money>,
    pub adjustment: Option<Money>,
    /// Why there is no price although there could have been one (a rate card gap).
    pub pricing_problem: Option<String>,
}

impl Judgement {
    /// Adds reasons the station itself found (a parcel removed early, two parcels at once);
    /// the disposition is recomputed from all of them.
    pub fn add_reasons(&mut self, extra: &[Reason]) {
        if extra.is_empty() {
            return;
        }
        let all: Vec<Reason> = self.verdict.reasons.iter().chain(extra).copied().collect();
        self.verdict = Verdict::from_reasons(all);
    }
}

/// Judges one parcel. Pure: the same inputs always give the same judgement.
pub fn judge(m: &Measurement, entry: Option<&ManifestEntry>, policy: &Policy) -> Judgement {
    let mut reasons = Vec::new();
    match m.weight {
        Ok(w) => reasons.extend(policy.limits.check_weight(w)),
        Err(p) => reasons.push(p.reason(Reason::UnstableWeight)),
    }
    match &m.dims {
        Ok(d) => reasons.extend(policy.limits.check_size(d)),
        // Dimensions do not "settle": a sensor that gives no steady reading is at fault.
        Err(p) => reasons.push(p.reason(Reason::SensorFault)),
    }
    match &m.waybill {
        WaybillRead::NoRead => reasons.push(Reason::NoRead),
        WaybillRead::Ambiguous(_) => reasons.push(Reason::AmbiguousWaybill),
        WaybillRead::Read(_) if entry.is_none() => reasons.push(Reason::UnknownWaybill),
        WaybillRead::Read(_) => {}
    }
    let mut out = Judgement {
        verdict: Verdict::from_reasons([]),
        destination: None,
        priced: None,
        quoted: None,
        adjustment: None,
        pricing_problem: None,
    };
    if let Some(e) = entry {
        out.destination = Some(e.destination);
        out.quoted = e.quoted_price;
        reasons.extend(
            policy
                .destinations
                .check(e.destination, e.consignee_id_on_file, e.duties),
        );
        if let (Ok(w), Ok(d), true) = (
            m.weight,
            &m.dims,
            policy.destinations.is_served(e.destination),
        ) {
            match policy.card.rate(e.destination).and_then(|r| r.quote(w, d)) {
                Ok(priced) => {
                    // A returned parcel is not carried: it has a price, but nothing to adjust.
                    let returned = reasons
                        .iter()
                        .any(|r| r.disposition() == crate::rules::Disposition::ReturnToSender);
                    if let (Some(q), false) = (e.quoted_price, returned) {
                        let (adj, repriced) = adjustment(priced.price, q, policy.reprice_tolerance);
                        out.adjustment = Some(adj);
                        if repriced {
                            reasons.push(Reason::Repriced);
                        }
                    }
                    out.priced = Some(priced);
                }
                Err(err) => {
                    out.pricing_problem = Some(err.to_string());
                    reasons.push(Reason::SensorFault);
                }
            }
        }
    }
    out.verdict = Verdict::from_reasons(reasons);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Disposition, Duties};

    fn policy() -> Policy {
        let card = RateCard::from_toml(
            r#"
            version = "t"
            [destinations.JP]
            currency = "USD"
            dim_divisor = "139 in3/lb"
            step = "0.5 lb"
            first = "10.00"
            additional = "2.00"
            [destinations.CN]
            currency = "USD"
            dim_divisor = "139 in3/lb"
            step = "0.5 lb"
            first = "12.00"
            additional = "2.50"
            "#,
        )
        .unwrap();
        Policy {
            limits: Limits {
                max_weight: "44 lb".parse().unwrap(),
                max_side: "59 in".parse().unwrap(),
            },
            destinations: Destinations {
                served: ["JP", "CN"].iter().map(|c| c.parse().unwrap()).collect(),
                consignee_id_required: ["CN"].iter().map(|c| c.parse().unwrap()).collect(),
            },
            card,
            reprice_tolerance: Money::from_cents(50),
            billing: crate::decide::billing::BillingRules::default(),
            measuring: String::new(),
        }
    }

    fn entry(to: &str, quoted: Option<&str>, id: bool, duties: Duties) -> ManifestEntry {
        ManifestEntry {
            waybill: "EE123456785GB".into(),
            destination: to.parse().unwrap(),
            declared_weight: None,
            declared_dims: None,
            quoted_price: quoted.map(|q| q.parse().unwrap()),
            consignee_id_on_file: id,
            duties,
        }
    }

    fn measured(w: &str, d: &str) -> Measurement {
        Measurement {
            weight: Ok(w.parse().unwrap()),
            dims: Ok(d.parse().unwrap()),
            waybill: WaybillRead::Read("EE123456785GB".into()),
        }
    }

    struct Case {
        name: &'static str,
        m: Measurement,
        e: Option<ManifestEntry>,
        disposition: Disposition,
        reasons: &'static [Reason],
    }

    #[test]
    fn table() {
        use Reason as R;
        let jp = |q| Some(entry("JP", q, false, Duties::NotApplicable));
        let cases = [
            Case {
                name: "exactly 44 lb accepted",
                m: measured("44 lb", "10x10x10 in"),
                e: jp(None),
                disposition: Disposition::Accept,
                reasons: &[],
            },
            Case {
                name: "just over 44 lb returned",
                m: measured("44.01 lb", "10x10x10 in"),
                e: jp(None),
                disposition: Disposition::ReturnToSender,
                reasons: &[R::OverWeight],
            },
            Case {
                name: "59 in accepted",
                m: measured("1 lb", "59x2x2 in"),
                e: jp(None),
                disposition: Disposition::Accept,
                reasons: &[],
            },
            Case {
                name: "just over 59 in returned",
                m: measured("1 lb", "59.1x2x2 in"),
                e: jp(None),
                disposition: Disposition::ReturnToSender,
                reasons: &[R::OverSize],
            },
            Case {
                name: "metric just under both",
                m: measured("19.95 kg", "149.8x5x5 cm"),
                e: jp(None),
                disposition: Disposition::Accept,
                reasons: &[],
            },
            Case {
                name: "metric just over both",
                m: measured("19.96 kg", "150x5x5 cm"),
                e: jp(None),
                disposition: Disposition::ReturnToSender,
                reasons: &[R::OverWeight, R::OverSize],
            },
            Case {
                name: "light large box accepted, priced by volume",
                m: measured("3 lb", "30x20x20 in"),
                e: jp(None),
                disposition: Disposition::Accept,
                reasons: &[],
            },
            Case {
                name: "quote too low → repriced",
                m: measured("3.2 lb", "12x10x8 in"),
                e: jp(Some("15.00")),
                disposition: Disposition::AcceptRepriced,
                reasons: &[R::Repriced],
            },
            Case {
                name: "within tolerance",
                m: measured("3.2 lb", "12x10x8 in"),
                e: jp(Some("35.60")),
                disposition: Disposition::Accept,
                reasons: &[],
            },
            Case {
                name: "not served",
                m: measured("1 lb", "5x5x5 in"),
                e: Some(entry("US", None, false, Duties::NotApplicable)),
                disposition: Disposition::ReturnToSender,
                reasons: &[R::DestinationNotServed],
            },
            Case {
                name: "CN without ID held",
                m: measured("1 lb", "5x5x5 in"),
                e: Some(entry("CN", None, false, Duties::Paid)),
                disposition: Disposition::Hold,
                reasons: &[R::IdRequired],
            },
            Case {
                name: "CN with ID accepted",
                m: measured("1 lb", "5x5x5 in"),
                e: Some(entry("CN", None, true, Duties::Paid)),
                disposition: Disposition::Accept,
                reasons: &[],
            },
            Case {
                name: "duties unpaid held",
                m: measured("1 lb", "5x5x5 in"),
                e: Some(entry("JP", None, false, Duties::Unpaid)),
                disposition: Disposition::Hold,
                reasons: &[R::DutiesUnpaid],
            },
            Case {
                name: "unknown waybill",
                m: measured("1 lb", "5x5x5 in"),
                e: None,
                disposition: Disposition::Manual,
                reasons: &[R::UnknownWaybill],
            },
            Case {
                name: "over weight and unknown",
                m: measured("50 lb", "5x5x5 in"),
                e: None,
                disposition: Disposition::ReturnToSender,
                reasons: &[R::OverWeight, R::UnknownWaybill],
            },
            Case {
                name: "no read",
                m: Measurement {
                    waybill: WaybillRead::NoRead,
                    ..measured("1 lb", "5x5x5 in")
                },
                e: None,
                disposition: Disposition::Manual,
                reasons: &[R::NoRead],
            },
            Case {
                name: "ambiguous",
                m: Measurement {
                    waybill: WaybillRead::Ambiguous(vec!["A".into(), "B".into()]),
                    ..measured("1 lb", "5x5x5 in")
                },
                e: None,
                disposition: Disposition::Manual,
                reasons: &[R::AmbiguousWaybill],
            },
            Case {
                name: "unstable weight",
                m: Measurement {
                    weight: Err(Problem::Unstable),
                    ..measured("1 lb", "5x5x5 in")
                },
                e: jp(Some("10.00")),
                disposition: Disposition::Manual,
                reasons: &[R::UnstableWeight],
            },
            Case {
                name: "sensor fault",
                m: Measurement {
                    dims: Err(Problem::Fault),
                    ..measured("1 lb", "5x5x5 in")
                },
                e: jp(None),
                disposition: Disposition::Manual,
                reasons: &[R::SensorFault],
            },
            Case {
                name: "uncalibrated",
                m: Measurement {
                    dims: Err(Problem::Uncalibrated),
                    ..measured("1 lb", "5x5x5 in")
                },
                e: jp(None),
                disposition: Disposition::Manual,
                reasons: &[R::Uncalibrated],
            },
            Case {
                name: "held and repriced keeps both",
                m: measured("3.2 lb", "12x10x8 in"),
                e: Some(entry("CN", Some("10.00"), false, Duties::Paid)),
                disposition: Disposition::Hold,
                reasons: &[R::IdRequired, R::Repriced],
            },
        ];
        for c in cases {
            let j = judge(&c.m, c.e.as_ref(), &policy());
            assert_eq!(j.verdict.disposition, c.disposition, "{}: {:?}", c.name, j);
            assert_eq!(j.verdict.reasons, c.reasons, "{}", c.name);
        }
    }

    #[test]
    fn price_and_adjustment() {
        let j = judge(
            &measured("3.2 lb", "12x10x8 in"),
            Some(&entry("JP", Some("15.00"), false, Duties::NotApplicable)),
            &policy(),
        );
        let p = j.priced.unwrap();
        // max(3.2, 960/139 = 6.91) → 7.0 lb = 14 steps → 10 + 13×2 = 36.00.
        assert_eq!(p.billable, "7 lb".parse().unwrap());
        assert_eq!(p.price, Money::from_cents(3600));
        assert_eq!(j.adjustment, Some(Money::from_cents(2100)));
    }

    #[test]
    fn nothing_is_priced_for_an_unserved_destination_or_a_missing_weight() {
        let us = entry("US", Some("10.00"), false, Duties::NotApplicable);
        assert!(
            judge(&measured("1 lb", "5x5x5 in"), Some(&us), &policy())
                .priced
                .is_none()
        );
        let m = Measurement {
            weight: Err(Problem::Unstable),
            ..measured("1 lb", "5x5x5 in")
        };
        let j = judge(
            &m,
            Some(&entry("JP", Some("10.00"), false, Duties::NotApplicable)),
            &policy(),
        );
        assert!(j.priced.is_none() && j.adjustment.is_none());
    }
}
