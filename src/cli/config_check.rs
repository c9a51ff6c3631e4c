//! `intake config check`: validate a config file and show what it means.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use intake::config::{Layered, Origin, Settings};
use serde_json::json;

use super::{Context, bad_input};

/// Work with the station configuration.
#[derive(Debug, Args)]
pub(crate) struct ConfigCmd {
    #[command(subcommand)]
    command: ConfigSub,
}

#[derive(Debug, Subcommand)]
enum ConfigSub {
    /// Validate a config (PATH, else --config, else the embedded default) and summarise it.
    Check {
        path: Option<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print the embedded default config, to start a station's own file from.
    Default,
    /// Print the effective configuration (the file laid over the embedded default) and where
    /// each value came from.
    Show {
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

/// The manifest the daemon loads at start, read and parsed as the daemon will (bounded: a
/// preload of `/dev/zero` is refused here rather than at start).
fn check_preload(s: &Settings) -> anyhow::Result<()> {
    let Some(src) = &s.manifest_preload else {
        return Ok(());
    };
    let bytes = src
        .read()
        .map_err(|e| anyhow::anyhow!("cannot read manifest.preload {}: {e}", src.describe()))?;
    intake::manifest::parse_csv(&bytes, &s.waybill)
        .map_err(|e| anyhow::anyhow!("manifest.preload {}: {e}", src.describe()))?;
    Ok(())
}

impl ConfigCmd {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.command {
            ConfigSub::Default => {
                print!("{}", intake::config::EMBEDDED_CONFIG);
                Ok(ExitCode::SUCCESS)
            }
            ConfigSub::Show { json } => show(ctx, json),
            ConfigSub::Check { path, json } => {
                let s = match path {
                    Some(p) => Settings::load(Some(&p)).map_err(bad_input)?,
                    None => ctx.settings()?,
                };
                check_preload(&s).map_err(bad_input)?;
                let served: Vec<String> = s
                    .policy
                    .destinations
                    .served
                    .iter()
                    .map(|c| c.to_string())
                    .collect();
                if json {
                    let out = json!({
                        "ok": true,
                        "source": s.source.describe(),
                        "station_id": s.station_id,
                        "data_dir": s.data_dir,
                        "max_weight_lb": s.policy.limits.max_weight.lb(),
                        "max_side_in": s.policy.limits.max_side.inches(),
                        "served": served,
                        "rate_card_version": s.policy.card.version,
                        "rate_card": s.rate_card_source.describe(),
                    });
                    println!("{out}");
                } else {
                    println!("{}: ok", s.source.describe());
                    println!(
                        "  station {} · data in {}",
                        s.station_id,
                        s.data_dir.display()
                    );
                    println!(
                        "  limits: {} and {} (exactly at the limit is accepted)",
                        s.policy.limits.max_weight, s.policy.limits.max_side
                    );
                    println!("  served: {}", served.join(" "));
                    println!(
                        "  rate card {} from {}",
                        s.policy.card.version,
                        s.rate_card_source.describe()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// `intake config show`: validated first (a bad config is bad input), then every leaf.
fn show(ctx: &Context, as_json: bool) -> anyhow::Result<ExitCode> {
    let layered = Layered::load(ctx.config.as_deref()).map_err(bad_input)?;
    Settings::from_layered(layered.clone()).map_err(bad_input)?;
    let file = layered.source.describe();
    let from = |o: Origin| match o {
        Origin::Default => "default".to_owned(),
        Origin::File => file.clone(),
    };
    let state = layered.data_dir_from_state_directory();
    let rows: Vec<(String, String, String, serde_json::Value)> = layered
        .values()
        .into_iter()
        .map(|(key, value, origin)| match (&state, key.as_str()) {
            (Some(dir), "station.data_dir") => {
                let d = dir.display().to_string();
                let shown = toml::Value::String(d.clone()).to_string();
                (key, shown, "$STATE_DIRECTORY".to_owned(), json!(d))
            }
            _ => {
                let j = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
                (key, value.to_string(), from(origin), j)
            }
        })
        .collect();
    if as_json {
        let values: Vec<serde_json::Value> = rows
            .iter()
            .map(|(k, _, f, v)| json!({"key": k, "value": v, "from": f}))
            .collect();
        println!("{}", json!({"source": file, "values": values}));
        return Ok(ExitCode::SUCCESS);
    }
    println!("# effective configuration: {file} over the embedded default");
    let width = rows
        .iter()
        .map(|(k, v, _, _)| k.len() + v.len() + 3)
        .max()
        .unwrap_or(0)
        .min(72);
    for (key, value, from, _) in &rows {
        let line = format!("{key} = {value}");
        println!("{line:<width$}  # {from}");
    }
    Ok(ExitCode::SUCCESS)
}
