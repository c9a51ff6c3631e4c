//! Deciding about parcels, in one place: the verdict of a new scan, and every later decision
//! about a stored one (a manifest entry, a consignee ID or paid duties arriving; duties left
//! unpaid too long; an operator's resolution; a repricing billing asked for).
//!
//! Pure: what is in force, the records and the time come in as arguments; a record to store
//! comes out. The store actor is the only caller that persists what these return, so every
//! decision is taken with the rules in force and lands in one ordered history.

pub mod billing;
pub mod operator;

use intake_hal::{Beep, Signal};
use jiff::{SignedDuration, Timestamp};

pub use operator::{
    MAX_NOTE, ResolutionRequest, ResolveError, needs_operator, operator_resolution,
    requested_waybill,
};

use crate::judge::{Judgement, Measurement, Policy, Problem, WaybillRead, judge};
use crate::manifest::ManifestEntry;
use crate::rules::{Disposition, Duties, Reason, Verdict};
use crate::scan::ScanRecord;
use crate::station::Finished;
use crate::store::outbox::{ACTOR_SYSTEM, Resolution, ResolutionBilling};
use crate::waybill::WaybillRules;

/// Duties still unpaid this long after intake turn a hold into a return to the sender (the
/// carrier's rule).
pub const DUTIES_GRACE: SignedDuration = SignedDuration::from_hours(30 * 24);

/// What the station judges with: limits, destinations, rate card, repricing tolerance and
/// waybill formats, under one version number that only grows. Every scan records the
/// version it was judged with.
#[derive(Debug, Clone)]
pub struct InForce {
    pub version: u64,
    pub policy: Policy,
    pub waybill: WaybillRules,
}

/// Reasons the station itself found about the parcel (not the rules): kept whenever the
/// parcel is judged again.
const STATION_REASONS: [Reason; 2] = [Reason::RemovedEarly, Reason::MultipleParcels];

/// The station's own reasons a stored scan carries.
fn station_reasons(scan: &ScanRecord) -> Vec<Reason> {
    STATION_REASONS
        .into_iter()
        .filter(|r| scan.reasons.contains(r))
        .collect()
}

/// The record of a parcel the station finished: judged with what is in force, and flagged
/// for billing with what the station knows of itself (`facts`).
pub fn scan(
    f: &Finished,
    entry: Option<&ManifestEntry>,
    in_force: &InForce,
    facts: &billing::StationFacts,
    station_id: &str,
    (id, at): (String, Timestamp),
) -> ScanRecord {
    let mut j = judge(&f.measurement, entry, &in_force.policy);
    j.add_reasons(&f.extra_reasons);
    let mut rec = ScanRecord::new(
        id,
        station_id,
        at,
        &f.measurement,
        &j,
        &in_force.policy.card.version,
    );
    rec.in_force_version = Some(in_force.version);
    let why = billing::not_billable(&rec, &in_force.policy.billing, facts);
    billing::flag(&mut rec, why);
    rec
}

/// What the light, buzzer and screen show for a stored verdict.
pub fn verdict_signal(r: &ScanRecord) -> Signal {
    let d = r.disposition;
    let beep = match d {
        Disposition::Accept | Disposition::AcceptRepriced => Beep::Short,
        Disposition::Manual | Disposition::Hold => Beep::Double,
        Disposition::ReturnToSender => Beep::Long,
    };
    let mut text = d.headline().to_owned();
    if let Some(w) = &r.waybill {
        text.push_str(&format!(" · {w}"));
    }
    for reason in &r.reasons {
        text.push_str(&format!(" · {}", reason.words()));
    }
    Signal {
        light: d.light(),
        blink: false,
        beep,
        text,
    }
}

/// A hypothetical parcel (`intake quote`), judged like a real one.
pub fn quote(m: &Measurement, entry: Option<&ManifestEntry>, policy: &Policy) -> Judgement {
    judge(m, entry, policy)
}

/// What the station measured, read back from a stored scan, for judging it again. A missing
/// weight or size comes back as the problem its reasons name.
pub fn measurement_of(s: &ScanRecord) -> Measurement {
    let has = |r: Reason| s.reasons.contains(&r);
    let problem = |unstable: bool| {
        if has(Reason::Uncalibrated) {
            Problem::Uncalibrated
        } else if unstable {
            Problem::Unstable
        } else {
            Problem::Fault
        }
    };
    Measurement {
        weight: s.weight.ok_or(problem(has(Reason::UnstableWeight))),
        dims: s.dims.ok_or(problem(false)),
        waybill: match &s.waybill {
            Some(w) => WaybillRead::Read(w.clone()),
            None => WaybillRead::NoRead,
        },
    }
}

/// Where a scan stands now: the newest resolution that decided a disposition, else the
/// scan's own verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub disposition: Disposition,
    pub reasons: Vec<Reason>,
    pub waybill: Option<String>,
}

/// `resolutions` in the order they were made.
pub fn standing(scan: &ScanRecord, resolutions: &[Resolution]) -> Standing {
    let latest = resolutions
        .iter()
        .filter(|r| r.scan_id == scan.id && r.disposition.is_some())
        .max_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    match latest {
        Some(r) => Standing {
            disposition: r.disposition.unwrap_or(scan.disposition),
            reasons: r.reasons.clone(),
            waybill: r.waybill.clone().or_else(|| scan.waybill.clone()),
        },
        None => Standing {
            disposition: scan.disposition,
            reasons: scan.reasons.clone(),
            waybill: scan.waybill.clone(),
        },
    }
}

/// Why a scan was judged again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Its waybill was unknown and its manifest entry arrived.
    ManifestArrived,
    /// It was held for the consignee's ID, and the ID is now on file.
    ConsigneeIdArrived,
    /// It was held for unpaid duties, and they are now paid (or not due).
    DutiesPaid,
}

impl Trigger {
    pub fn words(self) -> &'static str {
        match self {
            Trigger::ManifestArrived => "the manifest entry arrived after intake",
            Trigger::ConsigneeIdArrived => "the consignee's ID is now on file",
            Trigger::DutiesPaid => "the duties are now paid",
        }
    }
}

/// Which trigger a changed manifest entry fires for a scan standing so, if any.
pub fn trigger(st: &Standing, entry: &ManifestEntry) -> Option<Trigger> {
    let has = |r: Reason| st.reasons.contains(&r);
    if has(Reason::UnknownWaybill) {
        Some(Trigger::ManifestArrived)
    } else if has(Reason::IdRequired) && entry.consignee_id_on_file {
        Some(Trigger::ConsigneeIdArrived)
    } else if has(Reason::DutiesUnpaid) && entry.duties != Duties::Unpaid {
        Some(Trigger::DutiesPaid)
    } else {
        None
    }
}

/// Judges a stored scan's measurement again; a scan that may not be billed on (its flag, or
/// an operator's flag since) gets no adjustment.
fn judge_again(
    scan: &ScanRecord,
    resolutions: &[Resolution],
    m: &Measurement,
    entry: &ManifestEntry,
    policy: &Policy,
) -> Judgement {
    let mut j = judge(m, Some(entry), policy);
    if !billing::standing(scan, resolutions).is_empty() {
        billing::without_adjustment(&mut j);
    }
    j
}

/// The billing side of a system resolution that priced a scan again.
fn priced_again(j: &Judgement, card: &str) -> ResolutionBilling {
    ResolutionBilling {
        price: j.priced.as_ref().map(|p| p.price),
        adjustment: j.adjustment,
        rate_card_version: j.priced.as_ref().map(|_| card.to_owned()),
        measurement_flagged: false,
    }
}

fn system_resolution(
    scan: &ScanRecord,
    waybill: Option<String>,
    verdict: Verdict,
    note: String,
    (id, now): (String, Timestamp),
    billing: ResolutionBilling,
) -> Resolution {
    Resolution {
        id,
        scan_id: scan.id.clone(),
        created_at: now,
        actor: ACTOR_SYSTEM.to_owned(),
        waybill,
        disposition: Some(verdict.disposition),
        reasons: verdict.reasons,
        note: Some(note),
        billing,
    }
}

/// Judges a stored scan again with its manifest entry as it is now, if the change fires a
/// [`Trigger`] and the verdict differs from where the scan stands. The rate card is the one
/// in force (a re-judged parcel is priced now, as it is carried now).
pub fn on_manifest_change(
    scan: &ScanRecord,
    resolutions: &[Resolution],
    entry: &ManifestEntry,
    in_force: &InForce,
    id: String,
    now: Timestamp,
) -> Option<Resolution> {
    let st = standing(scan, resolutions);
    if st.waybill.as_deref() != Some(entry.waybill.as_str()) {
        return None;
    }
    let why = trigger(&st, entry)?;
    let mut m = measurement_of(scan);
    m.waybill = WaybillRead::Read(entry.waybill.clone());
    let mut j = judge_again(scan, resolutions, &m, entry, &in_force.policy);
    j.add_reasons(&station_reasons(scan));
    if j.verdict.disposition == st.disposition && j.verdict.reasons == st.reasons {
        return None;
    }
    let mut note = format!("judged again: {}", why.words());
    if let Some(p) = &j.priced {
        note.push_str(&format!("; price {} {}", p.price, p.currency));
    }
    if let Some(a) = j.adjustment {
        note.push_str(&format!("; adjustment {a}"));
    }
    let billing = priced_again(&j, &in_force.policy.card.version);
    Some(system_resolution(
        scan,
        st.waybill,
        j.verdict,
        note,
        (id, now),
        billing,
    ))
}

/// A hold for unpaid duties that has lasted [`DUTIES_GRACE`] since intake becomes a return
/// to the sender (a new resolution); `None` while it has not, or the scan is not so held.
pub fn duties_overdue(
    scan: &ScanRecord,
    resolutions: &[Resolution],
    now: Timestamp,
    id: String,
) -> Option<Resolution> {
    let st = standing(scan, resolutions);
    if st.disposition != Disposition::Hold || !st.reasons.contains(&Reason::DutiesUnpaid) {
        return None;
    }
    let due = scan.created_at.checked_add(DUTIES_GRACE).ok()?;
    if now < due {
        return None;
    }
    let verdict = Verdict {
        disposition: Disposition::ReturnToSender,
        reasons: st.reasons.clone(),
    };
    Some(system_resolution(
        scan,
        st.waybill,
        verdict,
        format!(
            "duties still unpaid {} days after intake: return to sender",
            DUTIES_GRACE.as_hours() / 24
        ),
        (id, now),
        ResolutionBilling::default(),
    ))
}

/// Billing asked to price a not-yet-delivered scan with the rate card in force now: the
/// resolution that records the new price, if it differs from the scan's.
pub fn reprice(
    scan: &ScanRecord,
    resolutions: &[Resolution],
    entry: &ManifestEntry,
    in_force: &InForce,
    id: String,
    now: Timestamp,
) -> Option<Resolution> {
    let st = standing(scan, resolutions);
    let mut m = measurement_of(scan);
    if let Some(w) = &st.waybill {
        m.waybill = WaybillRead::Read(w.clone());
    }
    let j = judge_again(scan, resolutions, &m, entry, &in_force.policy);
    let priced = j.priced.as_ref()?;
    if Some(priced.price) == scan.price
        && Some(in_force.policy.card.version.as_str()) == scan.rate_card_version.as_deref()
    {
        return None;
    }
    let mut note = format!(
        "repriced at billing's request with rate card {}: price {} {} (was {})",
        in_force.policy.card.version,
        priced.price,
        priced.currency,
        scan.price
            .map_or_else(|| "none".to_owned(), |p| p.to_string())
    );
    if let Some(a) = j.adjustment {
        note.push_str(&format!("; adjustment {a}"));
    }
    let billing = priced_again(&j, &in_force.policy.card.version);
    let mut verdict = j.verdict;
    let kept = station_reasons(scan);
    if !kept.is_empty() {
        verdict = Verdict::from_reasons(verdict.reasons.into_iter().chain(kept));
    }
    Some(system_resolution(
        scan,
        st.waybill,
        verdict,
        note,
        (id, now),
        billing,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use crate::quantity::Money;

    fn in_force() -> InForce {
        let s = Settings::load(None).unwrap();
        InForce {
            version: 7,
            policy: s.policy,
            waybill: s.waybill,
        }
    }

    fn t(days: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + days * 86_400).unwrap()
    }

    fn entry(to: &str, id: bool, duties: Duties) -> ManifestEntry {
        ManifestEntry {
            waybill: "EE123456785GB".into(),
            destination: to.parse().unwrap(),
            declared_weight: None,
            declared_dims: None,
            quoted_price: Some(Money::from_cents(1400)),
            consignee_id_on_file: id,
            duties,
        }
    }

    fn finished(weight: &str) -> Finished {
        Finished {
            parcel: 1,
            measurement: Measurement {
                weight: Ok(weight.parse().unwrap()),
                dims: Ok("10x8x6 in".parse().unwrap()),
                waybill: WaybillRead::Read("EE123456785GB".into()),
            },
            extra_reasons: vec![],
            notes: vec![],
            timings: Default::default(),
        }
    }

    fn scan_of(e: Option<&ManifestEntry>) -> ScanRecord {
        scan(
            &finished("3 lb"),
            e,
            &in_force(),
            &billing::StationFacts::default(),
            "t-1",
            ("s-1".into(), t(0)),
        )
    }

    #[test]
    fn a_scan_records_the_version_it_was_judged_with() {
        let s = scan_of(Some(&entry("JP", false, Duties::NotApplicable)));
        assert_eq!(s.in_force_version, Some(7));
        assert!(matches!(
            s.disposition,
            Disposition::Accept | Disposition::AcceptRepriced
        ));
    }

    #[test]
    fn an_unknown_waybill_is_judged_again_when_its_entry_arrives_and_only_then() {
        let s = scan_of(None);
        assert!(s.reasons.contains(&Reason::UnknownWaybill));
        let e = entry("JP", false, Duties::NotApplicable);
        let r = on_manifest_change(&s, &[], &e, &in_force(), "r-1".into(), t(1)).unwrap();
        assert_eq!(r.actor, ACTOR_SYSTEM);
        assert!(!r.reasons.contains(&Reason::UnknownWaybill));
        assert!(r.note.unwrap().contains("manifest entry arrived"));
        // Once judged again it stands known: the same entry again changes nothing.
        let r = on_manifest_change(&s, &[], &e, &in_force(), "r-1".into(), t(1)).unwrap();
        assert_eq!(
            on_manifest_change(&s, &[r], &e, &in_force(), "r-2".into(), t(2)),
            None
        );
    }

    #[test]
    fn a_hold_for_the_consignee_id_is_released_when_the_id_arrives() {
        let held = entry("CN", false, Duties::NotApplicable);
        let s = scan_of(Some(&held));
        assert_eq!(s.disposition, Disposition::Hold);
        assert!(s.reasons.contains(&Reason::IdRequired));
        // The entry changed, but not the ID: nothing to do.
        let mut other = held.clone();
        other.quoted_price = Some(Money::from_cents(1));
        assert_eq!(
            on_manifest_change(&s, &[], &other, &in_force(), "r".into(), t(1)),
            None
        );
        let with_id = entry("CN", true, Duties::NotApplicable);
        let r = on_manifest_change(&s, &[], &with_id, &in_force(), "r".into(), t(1)).unwrap();
        assert_ne!(r.disposition, Some(Disposition::Hold));
        assert!(!r.reasons.contains(&Reason::IdRequired));
        assert!(r.note.unwrap().contains("ID is now on file"));
    }

    #[test]
    fn a_hold_for_unpaid_duties_is_released_when_paid_and_returned_after_30_days() {
        let unpaid = entry("JP", false, Duties::Unpaid);
        let s = scan_of(Some(&unpaid));
        assert_eq!(s.disposition, Disposition::Hold);
        let paid = entry("JP", false, Duties::Paid);
        let r = on_manifest_change(&s, &[], &paid, &in_force(), "r".into(), t(3)).unwrap();
        assert!(!r.reasons.contains(&Reason::DutiesUnpaid));
        // Paid: no longer held, so the 30-day rule no longer applies.
        assert_eq!(duties_overdue(&s, &[r], t(40), "x".into()), None);

        // Unpaid: held until day 30, returned from then on.
        assert_eq!(
            duties_overdue(&s, &[], t(30) - SignedDuration::from_secs(1), "x".into()),
            None
        );
        let back = duties_overdue(&s, &[], t(30), "x".into()).unwrap();
        assert_eq!(back.disposition, Some(Disposition::ReturnToSender));
        assert!(back.reasons.contains(&Reason::DutiesUnpaid));
        // Returned once: the rule does not fire again.
        assert_eq!(duties_overdue(&s, &[back], t(31), "y".into()), None);
    }

    #[test]
    fn repricing_records_a_new_price_only_when_it_changed() {
        let e = entry("JP", false, Duties::NotApplicable);
        let s = scan_of(Some(&e));
        assert_eq!(reprice(&s, &[], &e, &in_force(), "r".into(), t(1)), None);
        let mut cheaper = in_force();
        cheaper.policy.card.version = "cheaper".into();
        for rate in cheaper.policy.card.rates.values_mut() {
            rate.schedule = crate::pricing::Schedule::PerStep {
                first: Money::from_cents(100),
                additional: Money::from_cents(10),
            };
        }
        let r = reprice(&s, &[], &e, &cheaper, "r".into(), t(1)).unwrap();
        assert_eq!(r.billing.rate_card_version.as_deref(), Some("cheaper"));
        let price = r.billing.price.unwrap();
        assert_eq!(
            r.billing.adjustment,
            Some(Money::from_cents(price.cents() - 1400))
        );
        assert!(r.note.unwrap().contains("rate card cheaper"));

        // Once an operator flagged the measurement, billing's repricing proposes no
        // adjustment (the price is still recorded).
        let flag = operator_resolution(
            &s,
            &[],
            &ResolutionRequest::FlagMeasurement {
                reason: "parcel leaned on the fence".into(),
            },
            &in_force().waybill,
            Some(&e),
            &in_force().policy,
            "f".into(),
            t(1),
        )
        .unwrap();
        assert!(flag.billing.measurement_flagged);
        assert_eq!(flag.disposition, None, "the dock's verdict stands");
        assert_eq!(
            billing::standing(&s, std::slice::from_ref(&flag)),
            [billing::NotBillable::MeasurementFlagged]
        );
        let r = reprice(
            &s,
            std::slice::from_ref(&flag),
            &e,
            &cheaper,
            "r2".into(),
            t(2),
        )
        .unwrap();
        assert_eq!(r.billing.price, Some(price));
        assert_eq!(r.billing.adjustment, None);
        assert!(!r.reasons.contains(&Reason::Repriced));
        // A second flag is refused; so is one without a reason.
        let again = operator_resolution(
            &s,
            std::slice::from_ref(&flag),
            &ResolutionRequest::FlagMeasurement { reason: "x".into() },
            &in_force().waybill,
            Some(&e),
            &in_force().policy,
            "g".into(),
            t(3),
        );
        assert!(matches!(again, Err(ResolveError::AlreadyFlagged { .. })));
        let blank = operator_resolution(
            &s,
            &[],
            &ResolutionRequest::FlagMeasurement { reason: " ".into() },
            &in_force().waybill,
            Some(&e),
            &in_force().policy,
            "h".into(),
            t(3),
        );
        assert_eq!(blank, Err(ResolveError::NoReason));
    }
}
