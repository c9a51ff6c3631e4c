//! `intake probe sensors`: open each configured distance sensor, read it once, and show the
//! distance, its status and the side it implies against the calibrated baseline.
//!
//! `intake probe camera`: capture one frame from the configured camera, optionally save it,
//! decode it and show what it found — the technician's first check on site.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use intake::barcode::Reader;
use intake::daemon::devices::{LabelCamera, open_camera};
use intake::judge::WaybillRead;
use intake::measure::dims::{DimsConfig, RawDimensions, axis_extent, dimensions};
use intake::quantity::{Dims, Length};
use intake_hal::ErrorKind;
use intake_hal::camera::LabelSpec;
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
    /// Capture one frame from the configured camera, decode it and show the waybill.
    /// Exit 0 when a frame was captured, 1 when the camera failed, 2 for a bad config.
    Camera {
        /// Save the captured frame to this file (PNG, JPEG, … by its extension).
        #[arg(long, value_name = "FILE")]
        save: Option<PathBuf>,
        /// For the simulated camera: the waybill on the label under it. Without it the
        /// simulated station is empty.
        #[arg(long, value_name = "WAYBILL")]
        sim_label: Option<String>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

impl Probe {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let (config_section, sim_box, json) = match self.command {
            ProbeSub::Sensors {
                config_section,
                sim_box,
                json,
            } => (config_section, sim_box, json),
            ProbeSub::Camera {
                save,
                sim_label,
                json,
            } => return probe_camera(ctx, save, sim_label, json),
        };
        let (source, cfg) = load_dimensions(config_section.as_deref().or(ctx.config.as_deref()))?;
        let world = match sim_box {
            None => None,
            Some(text) => Some(parse_sim_box(&text).map_err(bad_input)?),
        };
        let rt = runtime()?;
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
            "{source} has no [dimensions] table; see config/pi.toml"
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

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn probe_camera(
    ctx: &Context,
    save: Option<PathBuf>,
    sim_label: Option<String>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let settings = ctx.settings()?;
    let reader = Reader::new(&settings.barcode).map_err(bad_input)?;
    let label = sim_label.map(LabelSpec::new);
    let (_label_tx, label_rx) = tokio::sync::watch::channel(label);
    let rt = runtime()?;
    // Cameras spawn their blocking work on the runtime: open them inside it.
    let _guard = rt.enter();
    let camera = match open_camera(&settings.camera, settings.sim.seed, label_rx) {
        Ok(c) => c,
        Err(e) if e.kind() == ErrorKind::Config => return Err(bad_input(anyhow::Error::new(e))),
        Err(e) => {
            return Ok(camera_failed(
                &settings.camera.describe(),
                &e.to_string(),
                json,
            ));
        }
    };
    let mut cam = LabelCamera::new(camera, reader, settings.waybill.clone());
    let name = cam.camera_name().to_owned();
    let shot = match rt.block_on(cam.shot()) {
        Ok(s) => s,
        Err(e) => return Ok(camera_failed(&name, &e.to_string(), json)),
    };
    let saved = match &save {
        None => None,
        Some(path) => match shot.frame.save(path) {
            Ok(()) => Some(path.clone()),
            Err(e) => {
                let why = format!("captured, but cannot save {}: {e}", path.display());
                return Ok(camera_failed(&name, &why, json));
            }
        },
    };
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e5).round() / 100.0;
    let waybill = match &shot.read {
        WaybillRead::Read(w) => Some(w.clone()),
        _ => None,
    };
    if json {
        let mut out = json!({
            "camera": name,
            "waybill": waybill,
            "barcodes": super::decode::barcodes_json(&shot.symbols),
            "width": shot.frame.width(),
            "height": shot.frame.height(),
            "capture_ms": ms(shot.capture),
            "decode_ms": ms(shot.decode),
        });
        if let Some(p) = &saved {
            out["saved"] = json!(p);
        }
        if let WaybillRead::Ambiguous(all) = &shot.read {
            out["ambiguous"] = json!(all);
        }
        println!("{out}");
    } else {
        println!("{name}");
        println!(
            "  frame:    {}×{} px, captured in {} ms{}",
            shot.frame.width(),
            shot.frame.height(),
            ms(shot.capture),
            saved
                .map(|p| format!(", saved to {}", p.display()))
                .unwrap_or_default()
        );
        println!(
            "  barcodes: {} found in {} ms",
            shot.symbols.len(),
            ms(shot.decode)
        );
        for s in &shot.symbols {
            let c = s.center();
            println!("    {} {:?} at ({:.0}, {:.0})", s.format, s.text, c.x, c.y);
        }
        match &shot.read {
            WaybillRead::Read(w) => println!("  waybill:  {w}"),
            WaybillRead::NoRead => println!(
                "  waybill:  none (hold a label under the camera; check focus and exposure on the saved frame)"
            ),
            WaybillRead::Ambiguous(all) => {
                println!("  waybill:  ambiguous: {}", all.join(", "))
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Reports a camera that gave no frame: exit 1.
fn camera_failed(name: &str, why: &str, json: bool) -> ExitCode {
    if json {
        println!("{}", json!({"camera": name, "waybill": null, "error": why}));
    }
    eprintln!("error: {why}");
    ExitCode::from(1)
}
