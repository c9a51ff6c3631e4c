//! `intake probe sensors`: open each configured distance sensor, read it once, and show the
//! distance, its status and the side it implies against the calibrated baseline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use intake::measure::dims::{DimsConfig, RawDimensions, axis_extent, dimensions};
use intake::quantity::{Dims, Length};
use intake_hal::range::Axis;
use intake_hal::range::sim::SimBox;
use serde_json::json;

use super::{Context, bad_input};

/// The `[dimensions]` table used when no config names one: three simulated sensors.
pub(crate) const DEFAULT_DIMENSIONS: &str = r#"
[dimensions]
samples = 5
max_spread = "6 mm"
division = "1 mm"

[[dimensions.sensors]]
name = "end"
axis = "x"
baseline = "120 cm"
[dimensions.sensors.device]
type = "sim"
mounting = "120 cm"

[[dimensions.sensors]]
name = "side"
axis = "y"
baseline = "80 cm"
[dimensions.sensors.device]
type = "sim"
mounting = "80 cm"

[[dimensions.sensors]]
name = "top"
axis = "z"
baseline = "100 cm"
[dimensions.sensors.device]
type = "sim"
mounting = "100 cm"
"#;

/// Check the station's hardware.
#[derive(Debug, Args)]
pub(crate) struct Probe {
    #[command(subcommand)]
    command: ProbeSub,
}

#[derive(Debug, Subcommand)]
enum ProbeSub {
    /// Read each distance sensor once: distance, status and the derived side.
    Sensors {
        /// A TOML file with the [dimensions] table (else the --config file's, else three
        /// simulated sensors).
        #[arg(long, value_name = "FILE")]
        config_section: Option<PathBuf>,
        /// For simulated sensors: the parcel on the platform, like "40x30x25 cm" (length along
        /// x, width along y, height). Without it the simulated platform is empty.
        #[arg(long, value_name = "LxWxH")]
        sim_box: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Probe {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let ProbeSub::Sensors {
            config_section,
            sim_box,
            json,
        } = self.command;
        let (source, cfg) = load_dimensions(config_section.as_deref().or(ctx.config.as_deref()))?;
        let world = match sim_box {
            None => None,
            Some(text) => Some(parse_sim_box(&text).map_err(bad_input)?),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        rt.block_on(probe(&source, &cfg, world, json))
    }
}

/// Reads `[dimensions]` from `path` (or the built-in simulated layout).
fn load_dimensions(path: Option<&Path>) -> anyhow::Result<(String, DimsConfig)> {
    let (source, text) = match path {
        Some(p) => (
            p.display().to_string(),
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))
                .map_err(bad_input)?,
        ),
        None => (
            "(built-in simulated sensors)".to_owned(),
            DEFAULT_DIMENSIONS.to_owned(),
        ),
    };
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{source}: {}", intake::config::toml_error_line(&text, &e)))
        .map_err(bad_input)?;
    let Some(section) = table.get("dimensions") else {
        return Err(bad_input(anyhow::anyhow!(
            "{source} has no [dimensions] table; see config/pi.example.toml"
        )));
    };
    let raw: RawDimensions = section
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| {
            anyhow::anyhow!("{source}: dimensions: {}", e.message().trim_end())
        })
        .map_err(bad_input)?;
    let cfg = DimsConfig::from_raw(&raw, "dimensions")
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))
        .map_err(bad_input)?;
    Ok((source, cfg))
}

fn parse_sim_box(text: &str) -> anyhow::Result<SimBox> {
    // Parse the three sides in the order given (Dims would sort them).
    let parts: Vec<&str> = text.split(['x', 'X', '×']).map(str::trim).collect();
    let unit = parts
        .last()
        .map(|p| {
            p.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
                .trim()
        })
        .unwrap_or("");
    let side = |p: &str| -> anyhow::Result<Length> {
        let with_unit = if p.ends_with(|c: char| c.is_ascii_digit()) {
            format!("{p} {unit}")
        } else {
            p.to_owned()
        };
        with_unit
            .parse::<Length>()
            .map_err(|e| anyhow::anyhow!("--sim-box: {e}"))
    };
    match parts.as_slice() {
        [l, w, h] => Ok(SimBox::new(side(l)?, side(w)?, side(h)?)),
        _ => anyhow::bail!("--sim-box \"{text}\": write three sides, like \"40x30x25 cm\""),
    }
}

fn mm(l: Length) -> f64 {
    (l.micrometres() as f64 / 100.0).round() / 10.0
}

async fn probe(
    source: &str,
    cfg: &DimsConfig,
    sim_box: Option<SimBox>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let (_world_tx, world) = tokio::sync::watch::channel(sim_box);
    // Open everything first: a real device that cannot be opened is a setup problem.
    let mut devices = Vec::new();
    for s in &cfg.sensors {
        let dev = s
            .device
            .open(&s.name, s.axis, &world)
            .map_err(|e| bad_input(anyhow::Error::new(e)))?;
        devices.push((s, dev));
    }
    let mut rows = Vec::new();
    let mut all_ok = true;
    let mut by_axis: BTreeMap<Axis, Vec<_>> = BTreeMap::new();
    for (s, dev) in &mut devices {
        let reading = dev.measure().await;
        let side = axis_extent(cfg, s, std::slice::from_ref(&reading));
        all_ok &= reading.is_ok();
        by_axis.insert(s.axis, vec![reading.clone()]);
        rows.push((s, reading, side));
    }
    let dims: Option<Dims> = dimensions(cfg, &by_axis).ok();
    if json {
        let sensors: Vec<_> = rows
            .iter()
            .map(|(s, reading, side)| {
                json!({
                    "name": s.name,
                    "axis": s.axis,
                    "device": s.device.describe(),
                    "real": s.device.is_real(),
                    "baseline_mm": s.baseline.map(mm),
                    "distance_mm": reading.as_ref().ok().map(|l| mm(*l)),
                    "status": match reading {
                        Ok(_) => serde_json::Value::from("ok"),
                        Err(e) => serde_json::to_value(e.kind()).unwrap_or_default(),
                    },
                    "error": reading.as_ref().err().map(ToString::to_string),
                    "dimension_mm": side.as_ref().ok().map(|l| mm(*l)),
                    "dimension_error": side.as_ref().err().map(ToString::to_string),
                })
            })
            .collect();
        let out = json!({
            "source": source,
            "sensors": sensors,
            "dims_mm": dims.map(|d| [mm(d.length), mm(d.width), mm(d.height)]),
        });
        println!("{out}");
    } else {
        println!("{source}");
        for (s, reading, side) in &rows {
            let status = match reading {
                Ok(d) => format!("{} mm  ok", mm(*d)),
                Err(e) => format!("{:?}: {e}", e.kind()),
            };
            let side = match side {
                Ok(l) => format!("{} mm on {}", mm(*l), s.axis),
                Err(e) => e.to_string(),
            };
            println!("  {} (axis {}, {})", s.name, s.axis, s.device.describe());
            println!("    reading: {status}");
            println!("    side:    {side}");
        }
        match dims {
            Some(d) => println!(
                "  box: {} × {} × {} mm ({d})",
                mm(d.length),
                mm(d.width),
                mm(d.height)
            ),
            None => println!("  box: none (see above)"),
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
