//! `intake calibrate`: the empty station's baselines and the scale's zero, measured and
//! stored as a new calibration (numbered, chained in the audit log). The daemon must be
//! stopped (it holds the devices and the data folder); while it runs, calibrate from the
//! dashboard (`POST /api/calibrate`).

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use intake::config::Settings;
use intake::daemon::Devices;
use intake::daemon::calibration::calibrate_devices;
use intake::daemon::devices::{self, SimDock, SimOptions};
use intake::measure::calibration::{Calibration, grams, mm};
use intake::store::Store;
use intake::store::calibration::calibration_content;

use super::{Context, bad_input};

/// Calibrate the EMPTY station: read each distance sensor `--samples` times (its baseline is
/// the median; refused, naming the sensor, when the readings spread wider than
/// `[dimensions] max_spread`), check the empty scale reads zero within one division, and
/// store the result as calibration N+1. Exit 1 when refused. The daemon must be stopped.
#[derive(Debug, Args)]
pub(crate) struct Calibrate {
    /// Readings per sensor (default: `[dimensions] calibration_samples`, 25).
    #[arg(long, value_name = "N")]
    samples: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Opens the configured devices on a runtime of its own and runs `f` with them (the
/// simulated dock's operator never starts: the command places what it needs itself).
pub(super) fn with_devices<T>(
    settings: &Settings,
    f: impl AsyncFnOnce(&mut Devices, Option<&SimDock>) -> T,
) -> anyhow::Result<T> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let reader = Store::open_read_only(&settings.db_path())?;
    let out = rt.block_on(async {
        let sim = SimOptions {
            no_operator: true,
            ..SimOptions::default()
        };
        let (mut devs, dock) = devices::open(settings, &reader, &sim).map_err(bad_input)?;
        let out = f(&mut devs, dock.as_ref()).await;
        drop(devs);
        drop(dock);
        anyhow::Ok(out)
    });
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    out
}

impl Calibrate {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let settings = ctx.settings()?;
        let samples = self
            .samples
            .unwrap_or(settings.dimensions.calibration_samples);
        if !(3..=500).contains(&samples) {
            return Err(bad_input(anyhow::anyhow!(
                "--samples must be 3 to 500 (25 is a good start)"
            )));
        }
        let (records, owner) = ctx.records(&settings)?;
        let previous = records.calibration().map(|c| c.number);
        let measured = with_devices(&settings, async |devs, _| {
            calibrate_devices(&settings, devs, samples).await
        });
        let stored = match measured {
            Ok(Ok(m)) => records.calibrate(m, "intake calibrate").wait().map(Ok),
            Ok(Err(refused)) => Ok(Err(refused)),
            Err(e) => {
                owner.stop();
                return Err(e);
            }
        };
        owner.stop();
        match stored? {
            Ok(c) => {
                print(&c, previous, self.json);
                Ok(ExitCode::SUCCESS)
            }
            Err(refused) => {
                if self.json {
                    println!(
                        "{}",
                        serde_json::json!({ "calibrated": false, "refused": refused.to_string() })
                    );
                }
                eprintln!("intake: calibration refused: {refused}");
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

fn print(c: &Calibration, previous: Option<u64>, json: bool) {
    if json {
        let mut v = calibration_content(c);
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("calibrated".into(), true.into());
            m.insert("previous".into(), previous.into());
        }
        println!("{v}");
        return;
    }
    println!(
        "calibration {} in force ({} readings per sensor){}",
        c.number,
        c.measured.samples,
        previous
            .map(|p| format!(", replacing calibration {p}"))
            .unwrap_or_default()
    );
    for s in &c.measured.sensors {
        println!(
            "  {:<8} axis {}  baseline {}  spread {}",
            s.name,
            s.axis,
            mm(s.baseline),
            mm(s.spread)
        );
    }
    if let Some(z) = c.measured.scale_zero {
        println!("  scale    empty reads {}", grams(z));
    }
}
