//! `intake verify`: a reference box of known size and weight measured `--count` times; bias
//! and spread per side and for the weight, pass or fail, stored (chained in the audit log).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use intake::daemon::calibration::stable_weight;
use intake::measure::calibration::{Figure, VerifyReport, VerifyTolerance, verify};
use intake::quantity::{Dims, Mass};
use intake_hal::sim::{SimKind, SimParcel};
use serde_json::{Value, json};

use super::calibrate::with_devices;
use super::{Context, bad_input};

/// How long the operator has to put the box on, or take it off.
const OPERATOR_WAIT: Duration = Duration::from_secs(300);

/// Verify the station with a reference box: put it on the station `--count` times (the
/// command says when; on the simulated dock the simulator does), and get the bias and
/// standard deviation of each side and of the weight against the declared values. Passes
/// when each is within `[dimensions] verify_tolerance` (default one division) and the weight
/// within one scale division. Exit 0 pass, 1 fail, 2 bad input. The daemon must be stopped.
#[derive(Debug, Args)]
pub(crate) struct Verify {
    /// The reference box's declared size, like `12x10x8in` or `30x20x10 cm`.
    #[arg(long, value_name = "LxWxH")]
    reference: String,
    /// Its declared weight, like `5lb` or `2.27 kg`.
    #[arg(long, value_name = "MASS")]
    weight: String,
    /// Placements (1 to 100).
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

impl Verify {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let reference: Dims = self
            .reference
            .parse()
            .map_err(|e| bad_input(anyhow::anyhow!("--reference: {e}")))?;
        let weight: Mass = self
            .weight
            .parse()
            .map_err(|e| bad_input(anyhow::anyhow!("--weight: {e}")))?;
        if !(1..=100).contains(&self.count) {
            return Err(bad_input(anyhow::anyhow!("--count must be 1 to 100")));
        }
        let settings = ctx.settings()?;
        let (records, owner) = ctx.records(&settings)?;
        let Some(cal) = records.calibration() else {
            owner.stop();
            eprintln!("intake: the station is uncalibrated; calibrate it first (intake calibrate)");
            return Ok(ExitCode::FAILURE);
        };
        let threshold = settings.station.detect_threshold;
        let rule = settings.station.stable;
        let count = self.count;
        let measured = with_devices(&settings, async |devs, dock| {
            let mut out = Vec::with_capacity(count);
            for i in 1..=count {
                match dock {
                    Some(d) => d.present(Some(SimParcel {
                        seq: i as u64,
                        kind: SimKind::AsDeclared,
                        waybill: "REFERENCE".into(),
                        barcode_readable: true,
                        weight,
                        dims: reference,
                    })),
                    None => eprintln!("put the reference box on the station ({i} of {count})"),
                }
                let w =
                    stable_weight(&mut *devs.scale, rule, OPERATOR_WAIT, |w| w > threshold).await;
                let d = devs.dims.measure(&cal).await;
                if let Err((_, why)) = &d {
                    eprintln!("placement {i}: no box measured: {why}");
                }
                out.push(w.zip(d.ok()).map(|(w, d)| (d, w)));
                match dock {
                    Some(d) => d.present(None),
                    None => eprintln!("take it off"),
                }
                stable_weight(&mut *devs.scale, rule, OPERATOR_WAIT, |w| w <= threshold).await;
            }
            out
        });
        let measured = match measured {
            Ok(m) => m,
            Err(e) => {
                owner.stop();
                return Err(e);
            }
        };
        let tol = VerifyTolerance {
            side: settings.dimensions.verify_tolerance,
            weight: settings.station.stable.division,
        };
        let report = verify(reference, weight, &measured, tol);
        let doc = report_json(&self.reference, &self.weight, cal.number, &report);
        let stored = records
            .record_verification(Some(cal.number), report.passed, doc.clone())
            .wait();
        owner.stop();
        let stored = stored?;
        if self.json {
            let mut doc = doc;
            if let Value::Object(m) = &mut doc {
                m.insert("verification".into(), stored.id.into());
                m.insert("at".into(), stored.at.to_string().into());
            }
            println!("{doc}");
        } else {
            print(
                &self.reference,
                &self.weight,
                stored.id,
                cal.number,
                &report,
            );
        }
        Ok(if report.passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}

/// One figure in people's units: millimetres for sides, grams for the weight.
fn figure_json(f: &Figure, scale: f64, unit: &str) -> Value {
    let r = |v: f64| (v / scale * 1000.0).round() / 1000.0;
    json!({
        "declared_base": f.declared,
        format!("bias_{unit}"): r(f.bias),
        format!("std_dev_{unit}"): r(f.std_dev),
        format!("tolerance_{unit}"): r(f.tolerance as f64),
        "passed": f.passed,
    })
}

fn report_json(reference: &str, weight: &str, calibration: u64, r: &VerifyReport) -> Value {
    json!({
        "reference": reference,
        "weight": weight,
        "calibration_number": calibration,
        "count": r.count,
        "failed_measurements": r.failed_measurements,
        "length": figure_json(&r.length, 1000.0, "mm"),
        "width": figure_json(&r.width, 1000.0, "mm"),
        "height": figure_json(&r.height, 1000.0, "mm"),
        "weight_figures": figure_json(&r.weight, 1_000_000.0, "g"),
        "passed": r.passed,
    })
}

fn print(reference: &str, weight: &str, id: u64, calibration: u64, r: &VerifyReport) {
    println!(
        "verification {id}: {reference}, {weight}, {} placement(s), calibration {calibration}: {}",
        r.count,
        if r.passed { "PASS" } else { "FAIL" }
    );
    if r.failed_measurements > 0 {
        println!(
            "  {} placement(s) gave no measurement",
            r.failed_measurements
        );
    }
    let line = |name: &str, f: &Figure, scale: f64, unit: &str| {
        println!(
            "  {name:<7} bias {:+.2} {unit}  std dev {:.2} {unit}  (tolerance {:.2} {unit})  {}",
            f.bias / scale,
            f.std_dev / scale,
            f.tolerance as f64 / scale,
            if f.passed { "ok" } else { "OUT" }
        );
    };
    line("length", &r.length, 1000.0, "mm");
    line("width", &r.width, 1000.0, "mm");
    line("height", &r.height, 1000.0, "mm");
    line("weight", &r.weight, 1_000_000.0, "g");
}
