//! `intake quote`: the verdict and price for a hypothetical parcel.

use std::process::ExitCode;

use clap::Args;
use intake::country::Country;
use intake::decide::quote;
use intake::judge::{Measurement, WaybillRead};
use intake::manifest::ManifestEntry;
use intake::quantity::{Dims, Mass, Money};
use intake::rules::Duties;
use serde_json::json;

use super::Context;

/// Judge and price a parcel that is not on the station: what would intake decide?
#[derive(Debug, Args)]
pub(crate) struct Quote {
    /// Destination, ISO 3166 alpha-2 (JP, hk, CN …).
    #[arg(long)]
    to: Country,
    /// Actual weight with its unit: 3.2lb, 1.5 kg, 700 g, 12 oz.
    #[arg(long, allow_hyphen_values = true)]
    weight: Mass,
    /// Sides with a unit: 12x10x8in, 30x20x10 cm.
    #[arg(long, allow_hyphen_values = true)]
    dims: Dims,
    /// The price quoted online, in the rate card's currency (23.50); shows the adjustment.
    #[arg(long, allow_hyphen_values = true)]
    quoted: Option<Money>,
    /// The consignee's ID is on file (needed for CN, KR, TW).
    #[arg(long)]
    id_on_file: bool,
    /// Customs-duty status: paid, unpaid or n/a.
    #[arg(long, default_value = "n/a")]
    duties: Duties,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Quote {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let settings = ctx.settings()?;
        let entry = ManifestEntry {
            waybill: String::new(),
            destination: self.to,
            declared_weight: Some(self.weight),
            declared_dims: Some(self.dims),
            quoted_price: self.quoted,
            consignee_id_on_file: self.id_on_file,
            duties: self.duties,
        };
        let m = Measurement {
            weight: Ok(self.weight),
            dims: Ok(self.dims),
            waybill: WaybillRead::Read(String::new()),
        };
        // What the station has in force (a rate card pulled from head office included); a
        // station that never ran judges with its configuration.
        let store = ctx.store(&settings)?;
        let (policy, in_force) = match store.in_force()? {
            Some(f) => (f.policy, json!(f.version)),
            None => (settings.policy.clone(), serde_json::Value::Null),
        };
        let j = quote(&m, Some(&entry), &policy);
        let lb = |w: Mass| (w.lb() * 100.0).round() / 100.0;
        if self.json {
            let p = j.priced.as_ref();
            let out = json!({
                "destination": self.to,
                "disposition": j.verdict.disposition,
                "reasons": j.verdict.reasons,
                "light": j.verdict.disposition.light(),
                "actual_weight_lb": lb(self.weight),
                "dimensional_weight_lb": p.map(|p| lb(p.dimensional)),
                "billable_weight_lb": p.map(|p| lb(p.billable)),
                "dims_in": [self.dims.length.inches(), self.dims.width.inches(), self.dims.height.inches()],
                "price_cents": p.map(|p| p.price.cents()),
                "currency": p.map(|p| p.currency.clone()),
                "quoted_cents": self.quoted.map(Money::cents),
                "adjustment_cents": j.adjustment.map(Money::cents),
                "rate_card_version": policy.card.version,
                "in_force_version": in_force,
            });
            println!("{out}");
            return Ok(ExitCode::SUCCESS);
        }
        let d = j.verdict.disposition;
        println!("{}  ({d})", d.headline());
        let version = match in_force.as_u64() {
            Some(v) => format!("in force version {v}"),
            None => "the configuration; the station has not run yet".to_owned(),
        };
        println!(
            "  judged with rate card {} ({version})",
            policy.card.version
        );
        for r in &j.verdict.reasons {
            println!("  reason: {r} — {}", r.words());
        }
        println!(
            "  to {} ({}) · {} · actual {}",
            self.to,
            self.to.name(),
            self.dims,
            self.weight
        );
        match &j.priced {
            Some(p) => {
                println!(
                    "  dimensional {} · billable {} · price {} {}",
                    p.dimensional, p.billable, p.currency, p.price
                );
                if let (Some(q), Some(a)) = (self.quoted, j.adjustment) {
                    let sign = if a.cents() > 0 { "+" } else { "" };
                    println!("  quoted {q} · adjustment {sign}{a}");
                }
            }
            None => println!(
                "  not priced: {}",
                j.pricing_problem
                    .as_deref()
                    .unwrap_or("destination not served")
            ),
        }
        Ok(ExitCode::SUCCESS)
    }
}
