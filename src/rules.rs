//! The carrier's limits and the exceptions operators act on, as a verdict:
//! a disposition (what happens to the parcel) and every reason that led to it.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::quantity::{Dims, Length, Mass};
pub use intake_hal::Light;

/// What happens to the parcel. Ordered by severity: a verdict takes its most severe reason's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    Accept,
    AcceptRepriced,
    Manual,
    Hold,
    ReturnToSender,
}

impl Disposition {
    pub const ALL: [Disposition; 5] = [
        Disposition::Accept,
        Disposition::AcceptRepriced,
        Disposition::Manual,
        Disposition::Hold,
        Disposition::ReturnToSender,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Accept => "accept",
            Disposition::AcceptRepriced => "accept_repriced",
            Disposition::Manual => "manual",
            Disposition::Hold => "hold",
            Disposition::ReturnToSender => "return_to_sender",
        }
    }

    /// The stack-light colour: green accept, red return, amber hold or manual.
    pub fn light(self) -> Light {
        match self {
            Disposition::Accept | Disposition::AcceptRepriced => Light::Green,
            Disposition::Manual | Disposition::Hold => Light::Amber,
            Disposition::ReturnToSender => Light::Red,
        }
    }

    /// What the operator reads at arm's length.
    pub fn headline(self) -> &'static str {
        match self {
            Disposition::Accept => "ACCEPT",
            Disposition::AcceptRepriced => "ACCEPT — REPRICED",
            Disposition::Manual => "MANUAL CHECK",
            Disposition::Hold => "HOLD",
            Disposition::ReturnToSender => "RETURN TO SENDER",
        }
    }
}

impl fmt::Display for Disposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown disposition \"{0}\"; use one of accept, accept_repriced, manual, hold, return_to_sender"
)]
pub struct UnknownDisposition(pub String);

impl FromStr for Disposition {
    type Err = UnknownDisposition;

    fn from_str(s: &str) -> Result<Disposition, UnknownDisposition> {
        Disposition::ALL
            .into_iter()
            .find(|d| d.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownDisposition(s.to_owned()))
    }
}

/// Why a parcel got its disposition. Several may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    OverWeight,
    OverSize,
    DestinationNotServed,
    NoRead,
    AmbiguousWaybill,
    UnknownWaybill,
    IdRequired,
    DutiesUnpaid,
    UnstableWeight,
    SensorFault,
    Uncalibrated,
    RemovedEarly,
    MultipleParcels,
    Repriced,
}

impl Reason {
    pub const ALL: [Reason; 14] = [
        Reason::OverWeight,
        Reason::OverSize,
        Reason::DestinationNotServed,
        Reason::NoRead,
        Reason::AmbiguousWaybill,
        Reason::UnknownWaybill,
        Reason::IdRequired,
        Reason::DutiesUnpaid,
        Reason::UnstableWeight,
        Reason::SensorFault,
        Reason::Uncalibrated,
        Reason::RemovedEarly,
        Reason::MultipleParcels,
        Reason::Repriced,
    ];

    /// The disposition this reason alone calls for.
    pub fn disposition(self) -> Disposition {
        match self {
            Reason::OverWeight | Reason::OverSize | Reason::DestinationNotServed => {
                Disposition::ReturnToSender
            }
            Reason::IdRequired | Reason::DutiesUnpaid => Disposition::Hold,
            Reason::NoRead
            | Reason::AmbiguousWaybill
            | Reason::UnknownWaybill
            | Reason::UnstableWeight
            | Reason::SensorFault
            | Reason::Uncalibrated
            | Reason::RemovedEarly
            | Reason::MultipleParcels => Disposition::Manual,
            Reason::Repriced => Disposition::AcceptRepriced,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OverWeight => "over_weight",
            Reason::OverSize => "over_size",
            Reason::DestinationNotServed => "destination_not_served",
            Reason::NoRead => "no_read",
            Reason::AmbiguousWaybill => "ambiguous_waybill",
            Reason::UnknownWaybill => "unknown_waybill",
            Reason::IdRequired => "id_required",
            Reason::DutiesUnpaid => "duties_unpaid",
            Reason::UnstableWeight => "unstable_weight",
            Reason::SensorFault => "sensor_fault",
            Reason::Uncalibrated => "uncalibrated",
            Reason::RemovedEarly => "removed_early",
            Reason::MultipleParcels => "multiple_parcels",
            Reason::Repriced => "repriced",
        }
    }

    /// The reason in words, for the operator's screen.
    pub fn words(self) -> &'static str {
        match self {
            Reason::OverWeight => "heavier than the carrier's weight limit",
            Reason::OverSize => "a side is longer than the carrier's size limit",
            Reason::DestinationNotServed => "destination is not served",
            Reason::NoRead => "waybill barcode could not be read",
            Reason::AmbiguousWaybill => "two different waybills on one label",
            Reason::UnknownWaybill => "waybill is not in the manifest",
            Reason::IdRequired => "consignee ID required and not on file",
            Reason::DutiesUnpaid => "customs duties unpaid",
            Reason::UnstableWeight => "weight did not settle",
            Reason::SensorFault => "a sensor failed; check the station",
            Reason::Uncalibrated => "station not calibrated",
            Reason::RemovedEarly => "parcel removed before it was measured",
            Reason::MultipleParcels => "more than one parcel on the station",
            Reason::Repriced => "price differs from the quote",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown reason \"{0}\"")]
pub struct UnknownReason(pub String);

impl FromStr for Reason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Reason, UnknownReason> {
        Reason::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| UnknownReason(s.to_owned()))
    }
}

/// A disposition and every reason behind it (sorted, no repeats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub disposition: Disposition,
    pub reasons: Vec<Reason>,
}

impl Verdict {
    /// The most severe disposition among the reasons; `accept` when there are none.
    pub fn from_reasons(reasons: impl IntoIterator<Item = Reason>) -> Verdict {
        let reasons: Vec<Reason> = reasons
            .into_iter()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let disposition = reasons
            .iter()
            .map(|r| r.disposition())
            .max()
            .unwrap_or(Disposition::Accept);
        Verdict {
            disposition,
            reasons,
        }
    }
}

/// The carrier's physical limits. A parcel exactly at a limit is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_weight: Mass,
    pub max_side: Length,
}

impl Limits {
    /// Only the actual weight counts here; dimensional weight prices, it never returns.
    pub fn check_weight(&self, actual: Mass) -> Option<Reason> {
        (actual > self.max_weight).then_some(Reason::OverWeight)
    }

    pub fn check_size(&self, dims: &Dims) -> Option<Reason> {
        (dims.longest() > self.max_side).then_some(Reason::OverSize)
    }
}

/// Where the carrier goes and what each destination's customs needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    pub served: BTreeSet<Country>,
    pub consignee_id_required: BTreeSet<Country>,
}

impl Destinations {
    pub fn is_served(&self, c: Country) -> bool {
        self.served.contains(&c)
    }

    /// The reasons a destination raises for a parcel with this paperwork.
    pub fn check(&self, to: Country, id_on_file: bool, duties: Duties) -> Vec<Reason> {
        let mut r = Vec::new();
        if !self.is_served(to) {
            r.push(Reason::DestinationNotServed);
        }
        if self.consignee_id_required.contains(&to) && !id_on_file {
            r.push(Reason::IdRequired);
        }
        if duties == Duties::Unpaid {
            r.push(Reason::DutiesUnpaid);
        }
        r
    }
}

/// Customs-duty status of a manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Duties {
    /// Duties prepaid (DDP).
    Paid,
    /// Duties due and not paid: the parcel is held until they are.
    Unpaid,
    /// No duties apply (below the de-minimis value, documents).
    #[default]
    NotApplicable,
}

impl Duties {
    pub fn as_str(self) -> &'static str {
        match self {
            Duties::Paid => "paid",
            Duties::Unpaid => "unpaid",
            Duties::NotApplicable => "n/a",
        }
    }
}

impl FromStr for Duties {
    type Err = String;

    fn from_str(s: &str) -> Result<Duties, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "paid" | "yes" | "ddp" => Ok(Duties::Paid),
            "unpaid" | "no" | "due" => Ok(Duties::Unpaid),
            "" | "n/a" | "na" | "none" => Ok(Duties::NotApplicable),
            other => Err(format!(
                "duties \"{other}\" is not one of paid, unpaid, n/a"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_weight: "44 lb".parse().unwrap(),
            max_side: "59 in".parse().unwrap(),
        }
    }

    #[test]
    fn weight_limit_boundary() {
        let l = limits();
        let at = "44 lb".parse().unwrap();
        assert_eq!(l.check_weight(at), None);
        // One microgram over is over.
        let over = Mass::from_micrograms(at.micrograms() + 1);
        assert_eq!(l.check_weight(over), Some(Reason::OverWeight));
        assert_eq!(
            l.check_weight("44.01 lb".parse().unwrap()),
            Some(Reason::OverWeight)
        );
        assert_eq!(l.check_weight("19.95 kg".parse().unwrap()), None);
        assert_eq!(
            l.check_weight("19.96 kg".parse().unwrap()),
            Some(Reason::OverWeight)
        );
    }

    #[test]
    fn size_limit_boundary_on_the_longest_side() {
        let l = limits();
        let ok: Dims = "59x10x10 in".parse().unwrap();
        assert_eq!(l.check_size(&ok), None);
        let over: Dims = "10x59.01x10 in".parse().unwrap();
        assert_eq!(l.check_size(&over), Some(Reason::OverSize));
        assert_eq!(l.check_size(&"1498x100x100 mm".parse().unwrap()), None);
        assert_eq!(
            l.check_size(&"150x10x10 cm".parse().unwrap()),
            Some(Reason::OverSize)
        );
        assert_eq!(l.check_size(&"149.86x10x10 cm".parse().unwrap()), None);
    }

    #[test]
    fn the_most_severe_disposition_wins_and_every_reason_is_kept() {
        let v = Verdict::from_reasons([Reason::Repriced, Reason::IdRequired, Reason::OverWeight]);
        assert_eq!(v.disposition, Disposition::ReturnToSender);
        assert_eq!(v.reasons.len(), 3);
        let v = Verdict::from_reasons([Reason::NoRead, Reason::DutiesUnpaid]);
        assert_eq!(v.disposition, Disposition::Hold);
        let v = Verdict::from_reasons([Reason::Repriced, Reason::NoRead]);
        assert_eq!(v.disposition, Disposition::Manual);
        let v = Verdict::from_reasons([Reason::Repriced, Reason::Repriced]);
        assert_eq!(
            v,
            Verdict {
                disposition: Disposition::AcceptRepriced,
                reasons: vec![Reason::Repriced]
            }
        );
        assert_eq!(Verdict::from_reasons([]).disposition, Disposition::Accept);
    }

    #[test]
    fn severity_order() {
        use Disposition as D;
        assert!(D::ReturnToSender > D::Hold);
        assert!(D::Hold > D::Manual);
        assert!(D::Manual > D::AcceptRepriced);
        assert!(D::AcceptRepriced > D::Accept);
    }

    #[test]
    fn names_round_trip() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>().unwrap(), r);
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.as_str())
            );
        }
        for d in Disposition::ALL {
            assert_eq!(d.as_str().parse::<Disposition>().unwrap(), d);
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{}\"", d.as_str())
            );
        }
    }

    #[test]
    fn destinations_raise_paperwork_reasons() {
        let d = Destinations {
            served: ["JP", "CN"].iter().map(|c| c.parse().unwrap()).collect(),
            consignee_id_required: ["CN"].iter().map(|c| c.parse().unwrap()).collect(),
        };
        let cn = "CN".parse().unwrap();
        assert_eq!(d.check(cn, false, Duties::Paid), vec![Reason::IdRequired]);
        assert!(d.check(cn, true, Duties::NotApplicable).is_empty());
        assert_eq!(
            d.check("US".parse().unwrap(), true, Duties::Unpaid),
            vec![Reason::DestinationNotServed, Reason::DutiesUnpaid]
        );
    }
}
