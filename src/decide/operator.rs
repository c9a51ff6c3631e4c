//! Operator resolutions of exceptions (pure): a waybill typed or scanned for a label that
//! was not read, or a confirmation that a held, returned or manual parcel was dealt with.
//! A resolution is a new record that references the scan; the scan stays as it was.

use jiff::Timestamp;
use serde::Deserialize;

use super::measurement_of;
use crate::judge::{Policy, WaybillRead, judge};
use crate::manifest::ManifestEntry;
use crate::rules::{Disposition, Reason};
use crate::scan::ScanRecord;
use crate::store::outbox::{ACTOR_OPERATOR, Resolution, ResolutionBilling};
use crate::waybill::WaybillRules;

/// Longest operator note kept.
pub const MAX_NOTE: usize = 500;

/// What the operator did, as the API receives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResolutionRequest {
    /// The waybill for a label that was not read (typed, or scanned with a hand scanner).
    Waybill {
        waybill: String,
        #[serde(default)]
        note: Option<String>,
    },
    /// The parcel was dealt with as judged: set aside for return, kept on hold, or
    /// handled by hand.
    Confirm {
        #[serde(default)]
        note: Option<String>,
    },
    /// A held parcel goes on (a supervisor checked the ID or the duties by other means):
    /// the reason is required and kept.
    Release { reason: String },
    /// The measurement is wrong (the parcel was leaning on the fence, a second item was on
    /// the platform…): any scan, once; the reason is required and kept. The scan stays as
    /// judged for the dock, but billing no longer charges on it.
    FlagMeasurement { reason: String },
}

/// Why a resolution was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error(
        "scan {scan_id} was accepted; only manual, hold and return-to-sender scans are resolved"
    )]
    NotAnException { scan_id: String },
    #[error(
        "scan {scan_id} already has its waybill {waybill}; type a waybill only for a label that was not read"
    )]
    HasWaybill { scan_id: String, waybill: String },
    #[error("\"{text}\" is not a waybill: {why}; check the number on the label and type it again")]
    BadWaybill { text: String, why: String },
    #[error("the note is {len} characters; keep it under {MAX_NOTE}")]
    NoteTooLong { len: usize },
    #[error("scan {scan_id} was already resolved by an operator; a second resolution is refused")]
    AlreadyResolved { scan_id: String },
    #[error("scan {scan_id} is not on hold ({disposition}); only a held parcel is released")]
    NotHeld {
        scan_id: String,
        disposition: Disposition,
    },
    #[error("a release or a flag needs a reason (who checked what); type one")]
    NoReason,
    #[error("scan {scan_id}'s measurement was already flagged")]
    AlreadyFlagged { scan_id: String },
}

/// Whether a scan needs an operator: the exceptions queue holds these until resolved.
pub fn needs_operator(d: Disposition) -> bool {
    matches!(
        d,
        Disposition::Manual | Disposition::Hold | Disposition::ReturnToSender
    )
}

/// The waybill a request names, normalised, when it is one (for the manifest lookup).
pub fn requested_waybill(
    req: &ResolutionRequest,
    rules: &WaybillRules,
) -> Result<Option<String>, ResolveError> {
    match req {
        ResolutionRequest::Waybill { waybill, .. } => rules
            .parse(waybill)
            .map(|w| Some(w.as_str().to_owned()))
            .map_err(|e| ResolveError::BadWaybill {
                text: waybill.trim().chars().take(40).collect(),
                why: e.to_string(),
            }),
        ResolutionRequest::Confirm { .. }
        | ResolutionRequest::Release { .. }
        | ResolutionRequest::FlagMeasurement { .. } => Ok(None),
    }
}

/// Builds the operator's resolution of `scan`. For a typed waybill the scan's measurement
/// is judged again with it and its manifest `entry`; `id` and `now` are given.
#[allow(clippy::too_many_arguments)]
pub fn operator_resolution(
    scan: &ScanRecord,
    earlier: &[Resolution],
    req: &ResolutionRequest,
    rules: &WaybillRules,
    entry: Option<&ManifestEntry>,
    policy: &Policy,
    id: String,
    now: Timestamp,
) -> Result<Resolution, ResolveError> {
    if let ResolutionRequest::FlagMeasurement { reason } = req {
        return flag_measurement(scan, earlier, reason, id, now);
    }
    if !needs_operator(scan.disposition) {
        return Err(ResolveError::NotAnException {
            scan_id: scan.id.clone(),
        });
    }
    if let ResolutionRequest::Release { reason } = req {
        return release(scan, earlier, reason, id, now);
    }
    if earlier.iter().any(|r| r.actor == ACTOR_OPERATOR) {
        return Err(ResolveError::AlreadyResolved {
            scan_id: scan.id.clone(),
        });
    }
    let given_note = match req {
        ResolutionRequest::Waybill { note, .. } | ResolutionRequest::Confirm { note } => {
            note.as_deref().map(str::trim).filter(|n| !n.is_empty())
        }
        ResolutionRequest::Release { .. } | ResolutionRequest::FlagMeasurement { .. } => None,
    };
    if let Some(n) = given_note
        && n.chars().count() > MAX_NOTE
    {
        return Err(ResolveError::NoteTooLong {
            len: n.chars().count(),
        });
    }
    let mut billing = ResolutionBilling::default();
    let (waybill, disposition, reasons, mut note) = match req {
        ResolutionRequest::Waybill { .. } => {
            if let Some(w) = &scan.waybill {
                return Err(ResolveError::HasWaybill {
                    scan_id: scan.id.clone(),
                    waybill: w.clone(),
                });
            }
            let Some(w) = requested_waybill(req, rules)? else {
                return Err(ResolveError::BadWaybill {
                    text: String::new(),
                    why: "no waybill given".into(),
                });
            };
            let mut m = measurement_of(scan);
            m.waybill = WaybillRead::Read(w.clone());
            let mut j = judge(&m, entry, policy);
            if !super::billing::standing(scan, earlier).is_empty() {
                super::billing::without_adjustment(&mut j);
            }
            billing = ResolutionBilling {
                price: j.priced.as_ref().map(|p| p.price),
                adjustment: j.adjustment,
                rate_card_version: j.priced.as_ref().map(|_| policy.card.version.clone()),
                measurement_flagged: false,
            };
            let mut note = format!("waybill {w} entered by the operator");
            if let Some(p) = &j.priced {
                note.push_str(&format!("; price {} {}", p.price, p.currency));
            }
            if let Some(a) = j.adjustment {
                note.push_str(&format!("; adjustment {a}"));
            }
            (Some(w), j.verdict.disposition, j.verdict.reasons, note)
        }
        // Handled first (a release is allowed after a confirmation); kept here for the match.
        ResolutionRequest::Release { reason } => return release(scan, earlier, reason, id, now),
        ResolutionRequest::FlagMeasurement { reason } => {
            return flag_measurement(scan, earlier, reason, id, now);
        }
        ResolutionRequest::Confirm { .. } => {
            let what = match scan.disposition {
                Disposition::ReturnToSender => "set aside for return to sender",
                Disposition::Hold => "kept on hold",
                _ => "handled by hand",
            };
            (
                scan.waybill.clone(),
                scan.disposition,
                scan.reasons.clone(),
                format!("operator confirmed: parcel {what}"),
            )
        }
    };
    if let Some(n) = given_note {
        note.push_str(&format!("; {n}"));
    }
    Ok(Resolution {
        id,
        scan_id: scan.id.clone(),
        created_at: now,
        actor: ACTOR_OPERATOR.to_owned(),
        waybill,
        disposition: Some(disposition),
        reasons,
        note: Some(note),
        billing,
    })
}

/// An operator's reason (a release, a flag): required, trimmed, at most [`MAX_NOTE`].
fn required_reason(reason: &str) -> Result<&str, ResolveError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ResolveError::NoReason);
    }
    let len = reason.chars().count();
    if len > MAX_NOTE {
        return Err(ResolveError::NoteTooLong { len });
    }
    Ok(reason)
}

/// Takes a scan's measurement out of billing, with the operator's reason. The scan's
/// disposition is left as it stands (the resolution decides none).
fn flag_measurement(
    scan: &ScanRecord,
    earlier: &[Resolution],
    reason: &str,
    id: String,
    now: Timestamp,
) -> Result<Resolution, ResolveError> {
    if earlier
        .iter()
        .any(|r| r.scan_id == scan.id && r.billing.measurement_flagged)
    {
        return Err(ResolveError::AlreadyFlagged {
            scan_id: scan.id.clone(),
        });
    }
    let reason = required_reason(reason)?;
    Ok(Resolution {
        id,
        scan_id: scan.id.clone(),
        created_at: now,
        actor: ACTOR_OPERATOR.to_owned(),
        waybill: None,
        disposition: None,
        reasons: Vec::new(),
        note: Some(format!("measurement flagged by the operator: {reason}")),
        billing: ResolutionBilling {
            measurement_flagged: true,
            ..ResolutionBilling::default()
        },
    })
}

/// Releases a held parcel: the hold's reasons (consignee ID, duties) are set aside with the
/// operator's reason; any other reason keeps its disposition.
fn release(
    scan: &ScanRecord,
    earlier: &[Resolution],
    reason: &str,
    id: String,
    now: Timestamp,
) -> Result<Resolution, ResolveError> {
    let st = super::standing(scan, earlier);
    if st.disposition != Disposition::Hold {
        return Err(ResolveError::NotHeld {
            scan_id: scan.id.clone(),
            disposition: st.disposition,
        });
    }
    let reason = required_reason(reason)?;
    let rest = st
        .reasons
        .iter()
        .copied()
        .filter(|r| !matches!(r, Reason::IdRequired | Reason::DutiesUnpaid));
    let verdict = crate::rules::Verdict::from_reasons(rest);
    Ok(Resolution {
        id,
        scan_id: scan.id.clone(),
        created_at: now,
        actor: ACTOR_OPERATOR.to_owned(),
        waybill: st.waybill,
        disposition: Some(verdict.disposition),
        reasons: verdict.reasons,
        note: Some(format!("hold released by the operator: {reason}")),
        billing: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Measurement;
    use crate::quantity::Money;
    use crate::rules::{Duties, Reason};

    fn settings() -> crate::config::Settings {
        crate::config::Settings::load(None).unwrap()
    }

    fn scan(waybill: WaybillRead, weight: &str) -> ScanRecord {
        let s = settings();
        let m = Measurement {
            weight: Ok(weight.parse().unwrap()),
            dims: Ok("10x8x6 in".parse().unwrap()),
            waybill,
        };
        let j = judge(&m, None, &s.policy);
        ScanRecord::new(
            "0190a0a0-0000-7000-8000-000000000001".into(),
            "t-1",
            Timestamp::UNIX_EPOCH,
            &m,
            &j,
            &s.policy.card.version,
        )
    }

    fn entry(waybill: &str) -> ManifestEntry {
        ManifestEntry {
            waybill: waybill.into(),
            destination: "JP".parse().unwrap(),
            declared_weight: None,
            declared_dims: None,
            quoted_price: Some(Money::from_cents(1000)),
            consignee_id_on_file: false,
            duties: Duties::NotApplicable,
        }
    }

    fn resolve(
        scan: &ScanRecord,
        earlier: &[Resolution],
        req: &ResolutionRequest,
        e: Option<&ManifestEntry>,
    ) -> Result<Resolution, ResolveError> {
        let s = settings();
        operator_resolution(
            scan,
            earlier,
            req,
            &s.waybill,
            e,
            &s.policy,
            "r-1".into(),
            Timestamp::UNIX_EPOCH,
        )
    }

    fn typed(w: &str) -> ResolutionRequest {
        ResolutionRequest::Waybill {
            waybill: w.into(),
            note: None,
        }
    }

    #[test]
    fn a_typed_waybill_judges_the_no_read_again_with_its_manifest_entry() {
        let s = scan(WaybillRead::NoRead, "3 lb");
        assert_eq!(s.disposition, Disposition::Manual);
        assert_eq!(s.reasons, vec![Reason::NoRead]);
        // Typed in lower case with a space, as people do; the check digit is verified.
        let e = entry("EE123456785GB");
        let r = resolve(&s, &[], &typed(" ee123456785 gb"), Some(&e)).unwrap();
        assert_eq!(r.waybill.as_deref(), Some("EE123456785GB"));
        assert_eq!(r.actor, ACTOR_OPERATOR);
        assert_eq!(r.scan_id, s.id);
        assert!(matches!(
            r.disposition,
            Some(Disposition::Accept | Disposition::AcceptRepriced)
        ));
        assert!(!r.reasons.contains(&Reason::NoRead));
        assert!(
            r.note
                .as_deref()
                .unwrap()
                .contains("entered by the operator")
        );
        // Not in the manifest: still an exception, now for that reason.
        let r = resolve(&s, &[], &typed("EE123456785GB"), None).unwrap();
        assert_eq!(r.reasons, vec![Reason::UnknownWaybill]);
        // Over the limit stays returned whatever the waybill.
        let heavy = scan(WaybillRead::NoRead, "45 lb");
        let r = resolve(&heavy, &[], &typed("EE123456785GB"), Some(&e)).unwrap();
        assert_eq!(r.disposition, Some(Disposition::ReturnToSender));
        assert!(r.reasons.contains(&Reason::OverWeight));
    }

    #[test]
    fn refusals_say_why() {
        let s = scan(WaybillRead::NoRead, "3 lb");
        let e = resolve(&s, &[], &typed("EE123456784GB"), None).unwrap_err();
        assert!(matches!(e, ResolveError::BadWaybill { .. }), "{e}");
        assert!(e.to_string().contains("check"), "{e}");
        let first = resolve(&s, &[], &typed("EE123456785GB"), None).unwrap();
        let e = resolve(&s, &[first], &typed("EE123456785GB"), None).unwrap_err();
        assert!(matches!(e, ResolveError::AlreadyResolved { .. }));
        let long = ResolutionRequest::Confirm {
            note: Some("x".repeat(MAX_NOTE + 1)),
        };
        assert!(matches!(
            resolve(&s, &[], &long, None),
            Err(ResolveError::NoteTooLong { .. })
        ));
        let read = scan(WaybillRead::Read("EE123456785GB".into()), "3 lb");
        let e = resolve(&read, &[], &typed("EE123456785GB"), None).unwrap_err();
        // Unknown waybill → manual; it has its waybill, so only a confirmation fits.
        assert!(matches!(e, ResolveError::HasWaybill { .. }), "{e}");
        let mut accepted = read.clone();
        accepted.disposition = Disposition::Accept;
        assert!(matches!(
            resolve(
                &accepted,
                &[],
                &ResolutionRequest::Confirm { note: None },
                None
            ),
            Err(ResolveError::NotAnException { .. })
        ));
    }

    #[test]
    fn a_confirmed_return_keeps_the_verdict_and_adds_the_note() {
        let s = scan(WaybillRead::Read("EE123456785GB".into()), "50 lb");
        assert_eq!(s.disposition, Disposition::ReturnToSender);
        let req = ResolutionRequest::Confirm {
            note: Some(" on the returns shelf ".into()),
        };
        let r = resolve(&s, &[], &req, None).unwrap();
        assert_eq!(r.disposition, Some(Disposition::ReturnToSender));
        assert_eq!(r.reasons, s.reasons);
        assert_eq!(
            r.note.as_deref(),
            Some("operator confirmed: parcel set aside for return to sender; on the returns shelf")
        );
        let parsed: ResolutionRequest =
            serde_json::from_str(r#"{"action":"waybill","waybill":"EE123456785GB"}"#).unwrap();
        assert_eq!(parsed, typed("EE123456785GB"));
        assert!(serde_json::from_str::<ResolutionRequest>(r#"{"action":"delete"}"#).is_err());
    }
}
