//! What is in force, versioned: limits, destinations, the rate card (by version, its text in
//! `rate_cards`), the repricing tolerance and the waybill formats. A new row, with a version
//! one higher, whenever any of them changes; scans record the version they were judged with.

use std::collections::BTreeSet;

use jiff::Timestamp;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::{Result, Store, StoreError, ms};
use crate::country::Country;
use crate::decide::InForce;
use crate::decide::billing::BillingRules;
use crate::judge::Policy;
use crate::pricing::RateCard;
use crate::quantity::{Length, Mass, Money};
use crate::rules::{Destinations, Limits};
use crate::waybill::{CarrierPattern, WaybillRules};

/// The stored form of what is in force (the rate card by version).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Snapshot {
    max_weight_ug: i64,
    max_side_um: i64,
    served: BTreeSet<String>,
    consignee_id_required: BTreeSet<String>,
    reprice_tolerance_cents: i64,
    rate_card: String,
    waybill_patterns: Vec<(String, String)>,
    /// Absent in versions recorded before billing rules were in force.
    #[serde(default)]
    billing: Option<SnapshotBilling>,
    /// The measuring devices' settings (canonical JSON); empty in older versions.
    #[serde(default)]
    measuring: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotBilling {
    legal_for_trade: bool,
    min_side_um: i64,
    verify_every_hours: Option<i64>,
}

impl Snapshot {
    fn of(policy: &Policy, waybill: &WaybillRules) -> Snapshot {
        let codes = |set: &BTreeSet<Country>| set.iter().map(Country::to_string).collect();
        Snapshot {
            max_weight_ug: policy.limits.max_weight.micrograms(),
            max_side_um: policy.limits.max_side.micrometres(),
            served: codes(&policy.destinations.served),
            consignee_id_required: codes(&policy.destinations.consignee_id_required),
            reprice_tolerance_cents: policy.reprice_tolerance.cents(),
            rate_card: policy.card.version.clone(),
            waybill_patterns: waybill
                .patterns
                .iter()
                .map(|p| (p.name.clone(), p.regex.as_str().to_owned()))
                .collect(),
            billing: Some(SnapshotBilling {
                legal_for_trade: policy.billing.legal_for_trade,
                min_side_um: policy.billing.min_side.micrometres(),
                verify_every_hours: policy.billing.verify_every.map(|d| d.as_hours()),
            }),
            measuring: policy.measuring.clone(),
        }
    }

    fn into_in_force(self, version: u64, card: RateCard) -> Result<InForce, String> {
        let codes = |set: BTreeSet<String>| {
            set.iter()
                .map(|c| c.parse::<Country>().map_err(|e| e.to_string()))
                .collect::<Result<BTreeSet<_>, _>>()
        };
        let patterns = self
            .waybill_patterns
            .into_iter()
            .map(|(name, re)| {
                regex::Regex::new(&re)
                    .map(|regex| CarrierPattern { name, regex })
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(InForce {
            version,
            policy: Policy {
                limits: Limits {
                    max_weight: Mass::from_micrograms(self.max_weight_ug),
                    max_side: Length::from_micrometres(self.max_side_um),
                },
                destinations: Destinations {
                    served: codes(self.served)?,
                    consignee_id_required: codes(self.consignee_id_required)?,
                },
                card,
                reprice_tolerance: Money::from_cents(self.reprice_tolerance_cents),
                billing: self
                    .billing
                    .map_or_else(BillingRules::default, |b| BillingRules {
                        legal_for_trade: b.legal_for_trade,
                        min_side: Length::from_micrometres(b.min_side_um),
                        verify_every: b.verify_every_hours.map(jiff::SignedDuration::from_hours),
                    }),
                measuring: self.measuring,
            },
            waybill: WaybillRules { patterns },
        })
    }
}

fn version_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Store {
    /// The newest version of what is in force, if the station ever recorded one.
    pub fn in_force(&self) -> Result<Option<InForce>> {
        let row: Option<(i64, String, String)> = self
            .conn
            .query_row(
                "SELECT version, rate_card_version, body FROM in_force ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((version, card_version, body)) = row else {
            return Ok(None);
        };
        let bad = |what: String| StoreError::Corrupt(format!("in force version {version}: {what}"));
        let snapshot: Snapshot = serde_json::from_str(&body).map_err(|e| bad(e.to_string()))?;
        let card = self
            .rate_card(&card_version)?
            .ok_or_else(|| bad(format!("rate card {card_version} is missing")))?;
        snapshot
            .into_in_force(version_of(version), card)
            .map(Some)
            .map_err(bad)
    }

    /// A stored rate card by version.
    pub fn rate_card(&self, version: &str) -> Result<Option<RateCard>> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM rate_cards WHERE version = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| {
            RateCard::from_toml(&b)
                .map_err(|e| StoreError::Corrupt(format!("rate card {version}: {e}")))
        })
        .transpose()
    }

    /// Puts `policy` and `waybill` in force inside `tx` if they differ from the newest
    /// version (the rate card's text must already be in `rate_cards`). Returns what is in
    /// force and whether this made a new version.
    pub(crate) fn put_in_force_in(
        tx: &Transaction<'_>,
        policy: &Policy,
        waybill: &WaybillRules,
        why: &str,
        now: Timestamp,
    ) -> Result<(InForce, bool)> {
        let snapshot = Snapshot::of(policy, waybill);
        let newest: Option<(i64, String)> = tx
            .query_row(
                "SELECT version, body FROM in_force ORDER BY version DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let same = |body: &str| serde_json::from_str::<Snapshot>(body).is_ok_and(|s| s == snapshot);
        let (version, changed) = match newest {
            Some((v, body)) if same(&body) => (version_of(v), false),
            Some((v, _)) => (version_of(v) + 1, true),
            None => (1, true),
        };
        if changed {
            let body = serde_json::to_string(&snapshot)
                .map_err(|e| StoreError::Corrupt(format!("in force: {e}")))?;
            tx.execute(
                "INSERT INTO in_force (version, at_ms, rate_card_version, body, why)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    i64::try_from(version).unwrap_or(i64::MAX),
                    ms(now),
                    policy.card.version,
                    body,
                    why
                ],
            )?;
        }
        Ok((
            InForce {
                version,
                policy: policy.clone(),
                waybill: waybill.clone(),
            },
            changed,
        ))
    }
}
