//! Whether billing may charge on a scan's measurement (pure). Commercial dimensioners call
//! this "legal for trade": a measurement is used for billing only when the station was
//! calibrated, verified with a reference box recently enough, its scale is declared legal for
//! trade, the parcel is not smaller than the station measures reliably, and no operator
//! flagged the measurement. Anything else is still recorded (and priced, for reference), but
//! no repricing adjustment is proposed on it: it is flagged for billing's review.

use std::fmt;
use std::str::FromStr;

use jiff::{SignedDuration, Timestamp};
use serde::{Serialize, Serializer};

use crate::judge::Judgement;
use crate::quantity::Length;
use crate::rules::{Reason, Verdict};
use crate::scan::ScanRecord;
use crate::store::outbox::Resolution;

/// What the station's billing rules are (`[billing]`): part of what is in force, so a change
/// bumps the configuration counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingRules {
    /// The scale is declared legal for trade (verified and sealed) in the configuration.
    pub legal_for_trade: bool,
    /// The smallest side the station measures for billing.
    pub min_side: Length,
    /// How often the station must pass a verification with a reference box; `None`: no
    /// verification is required.
    pub verify_every: Option<SignedDuration>,
}

impl Default for BillingRules {
    fn default() -> BillingRules {
        BillingRules {
            legal_for_trade: false,
            min_side: Length::from_inches(2),
            verify_every: None,
        }
    }
}

/// Why a scan may not be billed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NotBillable {
    /// The station had no valid calibration.
    Uncalibrated,
    /// Weight or dimensions are missing (a device fault, an unsteady weight): nothing to
    /// bill on.
    NotMeasured,
    /// The scale is not declared legal for trade in the configuration.
    NotLegalForTrade,
    /// No passed verification within the configured interval.
    VerificationOverdue,
    /// A side is below the station's minimum measurable size.
    BelowMinimumSize,
    /// An operator flagged the measurement as wrong (after the fact, by a resolution).
    MeasurementFlagged,
}

impl NotBillable {
    pub const ALL: [NotBillable; 6] = [
        NotBillable::Uncalibrated,
        NotBillable::NotMeasured,
        NotBillable::NotLegalForTrade,
        NotBillable::VerificationOverdue,
        NotBillable::BelowMinimumSize,
        NotBillable::MeasurementFlagged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotBillable::Uncalibrated => "uncalibrated",
            NotBillable::NotMeasured => "not_measured",
            NotBillable::NotLegalForTrade => "not_legal_for_trade",
            NotBillable::VerificationOverdue => "verification_overdue",
            NotBillable::BelowMinimumSize => "below_minimum_size",
            NotBillable::MeasurementFlagged => "measurement_flagged",
        }
    }

    /// For billing staff.
    pub fn words(self) -> &'static str {
        match self {
            NotBillable::Uncalibrated => "station not calibrated",
            NotBillable::NotMeasured => "weight or size not measured",
            NotBillable::NotLegalForTrade => "scale not declared legal for trade",
            NotBillable::VerificationOverdue => "verification overdue",
            NotBillable::BelowMinimumSize => "below the minimum measurable size",
            NotBillable::MeasurementFlagged => "measurement flagged by an operator",
        }
    }

    /// Space-separated names, as stored.
    pub fn text(reasons: &[NotBillable]) -> String {
        reasons
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Reads the stored text back; an unknown name is an error (a newer station's store).
    pub fn parse_list(text: &str) -> Result<Vec<NotBillable>, String> {
        text.split_whitespace().map(str::parse).collect()
    }
}

impl fmt::Display for NotBillable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotBillable {
    type Err = String;
    fn from_str(s: &str) -> Result<NotBillable, String> {
        NotBillable::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("\"{s}\" is not a billing reason"))
    }
}

impl Serialize for NotBillable {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// What the station knows about itself when a scan is committed (from the store).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StationFacts {
    /// When the station last passed a verification with a reference box.
    pub last_verified: Option<Timestamp>,
}

/// Why a new scan may not be billed on (empty: billable), in a fixed order.
pub fn not_billable(
    rec: &ScanRecord,
    rules: &BillingRules,
    facts: &StationFacts,
) -> Vec<NotBillable> {
    let mut out = Vec::new();
    if rec.reasons.contains(&Reason::Uncalibrated) {
        out.push(NotBillable::Uncalibrated);
    } else if rec.weight.is_none() || rec.dims.is_none() {
        out.push(NotBillable::NotMeasured);
    }
    if !rules.legal_for_trade {
        out.push(NotBillable::NotLegalForTrade);
    }
    if let Some(every) = rules.verify_every {
        let current = facts
            .last_verified
            .is_some_and(|at| rec.created_at.duration_since(at) <= every);
        if !current {
            out.push(NotBillable::VerificationOverdue);
        }
    }
    if let Some(d) = rec.dims {
        let smallest = d.length.min(d.width).min(d.height);
        if smallest < rules.min_side {
            out.push(NotBillable::BelowMinimumSize);
        }
    }
    out
}

/// Where a stored scan stands for billing now: its own flag, and an operator's flag on its
/// measurement made since (`resolutions` of that scan). A scan stored before the flag
/// existed counts as billable unless flagged.
pub fn standing(scan: &ScanRecord, resolutions: &[Resolution]) -> Vec<NotBillable> {
    let mut out = scan.not_billable.clone();
    if scan.billable == Some(false) && out.is_empty() {
        // A flag without its reasons cannot come from this station; keep it not billable.
        out.push(NotBillable::NotMeasured);
    }
    let flagged = resolutions
        .iter()
        .any(|r| r.scan_id == scan.id && r.billing.measurement_flagged);
    if flagged && !out.contains(&NotBillable::MeasurementFlagged) {
        out.push(NotBillable::MeasurementFlagged);
    }
    out
}

/// A judgement of a scan that may not be billed on proposes no adjustment: the price stays
/// (for reference), the adjustment and the `repriced` reason go.
pub fn without_adjustment(j: &mut Judgement) {
    j.adjustment = None;
    if j.verdict.reasons.contains(&Reason::Repriced) {
        j.verdict = Verdict::from_reasons(
            j.verdict
                .reasons
                .iter()
                .copied()
                .filter(|r| *r != Reason::Repriced),
        );
    }
}

/// Applies the flag to a judged scan: a scan that may not be billed on keeps its price (for
/// reference) but gets no adjustment, so it is never `accept_repriced`.
pub fn flag(rec: &mut ScanRecord, reasons: Vec<NotBillable>) {
    rec.billable = Some(reasons.is_empty());
    if !reasons.is_empty() {
        rec.adjustment = None;
        if rec.reasons.contains(&Reason::Repriced) {
            let v = Verdict::from_reasons(
                rec.reasons
                    .iter()
                    .copied()
                    .filter(|r| *r != Reason::Repriced),
            );
            rec.disposition = v.disposition;
            rec.reasons = v.reasons;
        }
    }
    rec.not_billable = reasons;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Measurement, WaybillRead, judge};
    use crate::manifest::ManifestEntry;
    use crate::quantity::{Dims, Mass, Money};
    use crate::rules::Disposition;

    fn policy() -> crate::judge::Policy {
        crate::config::Settings::load(None).unwrap().policy
    }

    fn entry(quoted: i64) -> ManifestEntry {
        ManifestEntry {
            waybill: "EE123456785GB".into(),
            destination: "JP".parse().unwrap(),
            declared_weight: None,
            declared_dims: None,
            quoted_price: Some(Money::from_cents(quoted)),
            consignee_id_on_file: false,
            duties: crate::rules::Duties::NotApplicable,
        }
    }

    /// A JP parcel of `lb` and `dims` inches, quoted at one cent: always repriced.
    fn scan(lb: i64, dims: (i64, i64, i64), at: Timestamp) -> ScanRecord {
        let m = Measurement {
            weight: Ok(Mass::from_lb(lb)),
            dims: Ok(Dims::new(
                Length::from_inches(dims.0),
                Length::from_inches(dims.1),
                Length::from_inches(dims.2),
            )),
            waybill: WaybillRead::Read("EE123456785GB".into()),
        };
        let j = judge(&m, Some(&entry(1)), &policy());
        ScanRecord::new("s1".into(), "st", at, &m, &j, "v1")
    }

    fn legal() -> BillingRules {
        BillingRules {
            legal_for_trade: true,
            ..BillingRules::default()
        }
    }

    const NOW: &str = "2026-12-04T12:00:00Z";

    #[test]
    fn a_measured_parcel_on_a_legal_station_is_billable_and_keeps_its_adjustment() {
        let mut s = scan(5, (12, 10, 8), NOW.parse().unwrap());
        assert_eq!(s.disposition, Disposition::AcceptRepriced);
        let why = not_billable(&s, &legal(), &StationFacts::default());
        assert!(why.is_empty(), "{why:?}");
        flag(&mut s, why);
        assert_eq!(s.billable, Some(true));
        assert_eq!(s.disposition, Disposition::AcceptRepriced);
        assert!(s.adjustment.is_some());
    }

    #[test]
    fn a_scale_not_declared_legal_gives_no_adjustment_but_keeps_the_price() {
        let mut s = scan(5, (12, 10, 8), NOW.parse().unwrap());
        let price = s.price;
        let why = not_billable(&s, &BillingRules::default(), &StationFacts::default());
        assert_eq!(why, [NotBillable::NotLegalForTrade]);
        flag(&mut s, why);
        assert_eq!(s.billable, Some(false));
        assert_eq!(s.adjustment, None);
        assert_eq!(s.disposition, Disposition::Accept);
        assert!(!s.reasons.contains(&Reason::Repriced));
        assert_eq!(s.price, price, "the price is kept for reference");
    }

    #[test]
    fn verification_is_overdue_when_never_done_or_older_than_the_interval() {
        let s = scan(5, (12, 10, 8), NOW.parse().unwrap());
        let rules = BillingRules {
            verify_every: Some(SignedDuration::from_hours(24 * 30)),
            ..legal()
        };
        let never = StationFacts::default();
        assert_eq!(
            not_billable(&s, &rules, &never),
            [NotBillable::VerificationOverdue]
        );
        let recent = StationFacts {
            last_verified: Some("2026-11-20T12:00:00Z".parse().unwrap()),
        };
        assert!(not_billable(&s, &rules, &recent).is_empty());
        // Exactly 30 days is still current; a second more is not.
        let edge = StationFacts {
            last_verified: Some("2026-11-04T12:00:00Z".parse().unwrap()),
        };
        assert!(not_billable(&s, &rules, &edge).is_empty());
        let old = StationFacts {
            last_verified: Some("2026-11-04T11:59:59Z".parse().unwrap()),
        };
        assert_eq!(
            not_billable(&s, &rules, &old),
            [NotBillable::VerificationOverdue]
        );
    }

    #[test]
    fn a_side_below_the_minimum_is_not_billable() {
        let s = scan(1, (12, 10, 1), NOW.parse().unwrap());
        assert_eq!(
            not_billable(&s, &legal(), &StationFacts::default()),
            [NotBillable::BelowMinimumSize]
        );
        // Exactly the minimum is measured.
        let s = scan(1, (12, 10, 2), NOW.parse().unwrap());
        assert!(not_billable(&s, &legal(), &StationFacts::default()).is_empty());
    }

    #[test]
    fn uncalibrated_and_unmeasured_scans_name_why_and_every_reason_is_listed() {
        let m = Measurement {
            weight: Ok(Mass::from_lb(3)),
            dims: Err(crate::judge::Problem::Uncalibrated),
            waybill: WaybillRead::Read("EE123456785GB".into()),
        };
        let j = judge(&m, Some(&entry(1)), &policy());
        let s = ScanRecord::new("s".into(), "st", NOW.parse().unwrap(), &m, &j, "v1");
        assert_eq!(
            not_billable(&s, &BillingRules::default(), &StationFacts::default()),
            [NotBillable::Uncalibrated, NotBillable::NotLegalForTrade]
        );
        let m = Measurement {
            dims: Err(crate::judge::Problem::Fault),
            ..m
        };
        let j = judge(&m, Some(&entry(1)), &policy());
        let s = ScanRecord::new("s".into(), "st", NOW.parse().unwrap(), &m, &j, "v1");
        assert_eq!(
            not_billable(&s, &legal(), &StationFacts::default()),
            [NotBillable::NotMeasured]
        );
    }

    #[test]
    fn stored_text_round_trips_and_unknown_names_are_refused() {
        let all = NotBillable::ALL.to_vec();
        assert_eq!(
            NotBillable::parse_list(&NotBillable::text(&all)).unwrap(),
            all
        );
        assert!(NotBillable::parse_list("uncalibrated bogus").is_err());
        assert_eq!(NotBillable::parse_list("").unwrap(), []);
    }
}
