//! `intake scale`: the technician's tools for the scale.
//!
//! * `decode --protocol NAME FILE` decodes a raw capture (what the port sent), one line per
//!   frame and per rejected run of bytes; `--json` for JSON lines.
//! * `monitor --port P --protocol NAME` reads a live scale and prints each frame beside the
//!   raw bytes (hex).
//! * `probe --port P` tries every protocol at common baud rates and framings and says which
//!   answers.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use intake::quantity::MassUnit;
use intake_hal::device::{ErrorKind, WeightKind, WeightReading};
use intake_hal::scale::config::{BAUD_RATES, Framing, ScaleSettings, SerialSettings};
use intake_hal::scale::serial::{SerialScale, probe};
use intake_hal::scale::sim::SimScale;
use intake_hal::scale::{Frame, FrameError, Protocol, hex};
use serde_json::{Value, json};

use super::{Context, bad_input};

/// Scale tools: decode a capture, watch a live scale, find out what a scale speaks.
#[derive(Debug, Args)]
pub(crate) struct ScaleCmd {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, Subcommand)]
enum Sub {
    Decode(Decode),
    Monitor(Monitor),
    Probe(Probe),
}

impl ScaleCmd {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        match self.command {
            Sub::Decode(c) => c.run(),
            Sub::Monitor(c) => runtime()?.block_on(c.run(ctx)),
            Sub::Probe(c) => runtime()?.block_on(c.run()),
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the IO runtime")
}

/// Decode a raw byte capture from a scale: one line per frame, one per rejected run of bytes.
#[derive(Debug, Args)]
struct Decode {
    /// The protocol: mt-sics, toledo, sma, nci or cas.
    #[arg(long, value_name = "NAME")]
    protocol: Protocol,
    /// The capture: the bytes exactly as the port sent them.
    file: PathBuf,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
}

/// A mass as a plain number in `unit`, for JSON (display only).
fn number(m: intake::quantity::Mass, unit: MassUnit) -> Value {
    let v = (m.in_unit(unit) * 1e6).round() / 1e6;
    json!(v)
}

fn reading_json(r: &WeightReading) -> Value {
    json!({
        "frame": "reading",
        "weight": number(r.weight, r.unit),
        "unit": r.unit.symbol(),
        "stable": r.stable,
        "net": r.kind == WeightKind::Net,
        "kind": r.kind,
        "tare": r.tare.map(|t| number(t, r.unit)),
        "status": r.status,
    })
}

fn frame_json(f: &Result<Frame, FrameError>) -> Value {
    match f {
        Ok(Frame::Reading(r)) => reading_json(r),
        Ok(Frame::Status { status, motion }) => {
            json!({"frame": "status", "status": status, "motion": motion})
        }
        Ok(Frame::Reply {
            command,
            status,
            detail,
        }) => json!({"frame": "reply", "command": command, "status": status, "detail": detail}),
        Ok(Frame::Refused { code, meaning }) => {
            json!({"frame": "refused", "code": code, "error": meaning})
        }
        Err(e) => json!({"frame": "rejected", "error": e.reason.to_string(), "bytes": hex(&e.raw)}),
    }
}

fn frame_text(f: &Result<Frame, FrameError>) -> String {
    match f {
        Ok(Frame::Reading(r)) => {
            let w = number(r.weight, r.unit);
            let tare = r
                .tare
                .map(|t| format!(" tare {} {}", number(t, r.unit), r.unit.symbol()))
                .unwrap_or_default();
            format!(
                "reading   {w} {} {} {:?}{tare} status {:?}",
                r.unit.symbol(),
                if r.stable { "stable" } else { "motion" },
                r.kind,
                r.status
            )
            .to_lowercase()
        }
        Ok(Frame::Status { status, motion }) => format!(
            "status    {status:?}{}",
            if *motion { " motion" } else { "" }
        ),
        Ok(Frame::Reply {
            command,
            status,
            detail,
        }) => format!("reply     {command} {status:?} {detail}"),
        Ok(Frame::Refused { code, meaning }) => format!("refused   {code}: {meaning}"),
        Err(e) => format!("rejected  {e}"),
    }
}

impl Decode {
    fn run(self) -> anyhow::Result<ExitCode> {
        let bytes = std::fs::read(&self.file)
            .with_context(|| format!("cannot read capture {}", self.file.display()))
            .map_err(bad_input)?;
        let mut parser = self.protocol.parser();
        let mut out = Vec::new();
        for chunk in bytes.chunks(1024) {
            parser.push(chunk);
            while let Some(f) = parser.next_frame() {
                out.push(f);
            }
        }
        let rest = parser.pending();
        if rest.iter().any(|b| !matches!(b, b'\r' | b'\n')) {
            out.push(Err(FrameError {
                reason: intake_hal::scale::Reject::Truncated,
                raw: rest.iter().take(64).copied().collect(),
            }));
        }
        let mut stdout = std::io::stdout().lock();
        for f in &out {
            let line = if self.json {
                frame_json(f).to_string()
            } else {
                frame_text(f)
            };
            use std::io::Write;
            writeln!(stdout, "{line}")?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Watch a live scale: each frame beside the raw bytes it came from.
#[derive(Debug, Args)]
struct Monitor {
    /// The serial device, e.g. /dev/serial/by-id/usb-… or /dev/ttyUSB0. Without it, the
    /// scale of the config (`[scale]`; the simulated one in the embedded default).
    #[arg(long, requires = "protocol")]
    port: Option<PathBuf>,
    /// The protocol: mt-sics, toledo, sma, nci or cas (with --port).
    #[arg(long, value_name = "NAME")]
    protocol: Option<Protocol>,
    /// Baud rate.
    #[arg(long, default_value_t = 9600)]
    baud: u32,
    /// Data bits, parity, stop bits (8N1, 7E1); default: what the protocol usually uses.
    #[arg(long)]
    framing: Option<String>,
    /// Polled protocols: milliseconds between requests.
    #[arg(long, default_value_t = 200)]
    poll_ms: u64,
    /// Seconds without a valid frame before reporting a timeout.
    #[arg(long, default_value_t = 2.0)]
    timeout: f64,
    /// Stop after this many frames (default: run until interrupted).
    #[arg(long)]
    count: Option<usize>,
    /// One JSON object per line (`raw` holds the hex).
    #[arg(long)]
    json: bool,
}

fn framing(text: Option<&str>, protocol: Protocol) -> anyhow::Result<Framing> {
    match text {
        Some(t) => t
            .parse()
            .map_err(|m: String| bad_input(anyhow::anyhow!("--framing: {m}"))),
        None => Ok(Framing::usual_for(protocol)),
    }
}

impl Monitor {
    async fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        if !BAUD_RATES.contains(&self.baud) {
            return Err(bad_input(anyhow::anyhow!(
                "--baud {} is not a scale baud rate; use one of {BAUD_RATES:?}",
                self.baud
            )));
        }
        if !(self.timeout > 0.0 && self.timeout < 3600.0) {
            return Err(bad_input(anyhow::anyhow!(
                "--timeout must be a number of seconds above 0"
            )));
        }
        // The simulated scale, when that is what the config has, lives as long as this.
        let mut _sim = None;
        let s = match (&self.port, self.protocol) {
            (Some(port), Some(protocol)) => {
                let mut s = SerialSettings::new(port, protocol);
                s.baud = self.baud;
                s.framing = framing(self.framing.as_deref(), protocol)?;
                s.poll_interval = Duration::from_millis(self.poll_ms.max(10));
                s.read_timeout = Duration::from_secs_f64(self.timeout).max(s.poll_interval);
                s
            }
            _ => match ctx.settings()?.scale {
                ScaleSettings::Serial(s) => s,
                ScaleSettings::Sim(sim) => {
                    // An empty simulated platform: readings of zero with the scale's noise.
                    let (_load, rx) = tokio::sync::watch::channel(intake::quantity::Mass::ZERO);
                    let (handle, path) = SimScale::spawn(sim.protocol, rx, sim.options.clone())?;
                    _sim = Some((handle, _load));
                    SerialSettings {
                        poll_interval: sim.options.interval,
                        ..SerialSettings::new(path, sim.protocol)
                    }
                }
            },
        };
        let mut scale = SerialScale::open(s).map_err(|e| {
            let kind = e.kind();
            let err = anyhow::Error::new(e);
            if kind == ErrorKind::Config {
                bad_input(err)
            } else {
                err
            }
        })?;
        scale.record_raw(true);
        let mut seen = 0;
        while self.count.is_none_or(|c| seen < c) {
            let f = scale.next_frame().await;
            // The bytes read since the last frame; one read may bring several frames.
            let raw = hex(&scale.take_raw());
            let line = match &f {
                Ok(frame) if self.json => {
                    let mut v = frame_json(frame);
                    v["raw"] = json!(raw);
                    v.to_string()
                }
                Ok(frame) if raw.is_empty() => {
                    format!("{:<60} | (in the read above)", frame_text(frame))
                }
                Ok(frame) => format!("{:<60} | {raw}", frame_text(frame)),
                Err(e) if self.json => {
                    json!({"frame": "fault", "kind": e.kind(), "error": e.to_string(), "raw": raw})
                        .to_string()
                }
                Err(e) => format!("{:<60} | {raw}", format!("fault     {e}")),
            };
            println!("{line}");
            seen += 1;
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Find out what a scale speaks: every protocol at common baud rates and framings.
#[derive(Debug, Args)]
struct Probe {
    /// The serial device.
    #[arg(long)]
    port: PathBuf,
    /// Baud rates to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [9600, 4800, 19200, 2400])]
    baud: Vec<u32>,
    /// Framings to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ["8N1".to_owned(), "7E1".to_owned()])]
    framing: Vec<String>,
    /// Milliseconds to listen after each request.
    #[arg(long, default_value_t = 300)]
    listen_ms: u64,
    /// One JSON object per answer.
    #[arg(long)]
    json: bool,
}

impl Probe {
    async fn run(self) -> anyhow::Result<ExitCode> {
        if let Some(b) = self.baud.iter().find(|b| !BAUD_RATES.contains(b)) {
            return Err(bad_input(anyhow::anyhow!(
                "--baud {b} is not a scale baud rate; use some of {BAUD_RATES:?}"
            )));
        }
        let framings = self
            .framing
            .iter()
            .map(|f| framing(Some(f), Protocol::Cas))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let answers = probe(
            &self.port,
            &self.baud,
            &framings,
            Duration::from_millis(self.listen_ms.max(20)),
        )
        .await?;
        for a in &answers {
            if self.json {
                let mut v = json!({
                    "protocol": a.protocol.name(),
                    "baud": a.baud,
                    "framing": a.framing.to_string(),
                    "frames": a.frames,
                });
                v["sample"] = frame_json(&Ok(a.sample.clone()));
                println!("{v}");
            } else {
                println!(
                    "{} answers at {} {} ({} valid frames; first: {})",
                    a.protocol,
                    a.baud,
                    a.framing,
                    a.frames,
                    frame_text(&Ok(a.sample.clone())).trim()
                );
            }
        }
        if answers.is_empty() {
            anyhow::bail!(
                "no protocol answered on {} at {:?} × {:?}; check the cable and power, and that the scale's output is enabled",
                self.port.display(),
                self.baud,
                self.framing
            );
        }
        // A pty (and some adapters) ignore framing: say so rather than guess.
        if answers.len() > 1 {
            eprintln!(
                "note: several settings answered; a port that ignores parity (USB adapters in 8N1, ptys) answers at all of them"
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_print_in_the_scales_unit() {
        let r = WeightReading {
            weight: intake::quantity::Mass::from_decimal(12909, 2, MassUnit::Kilogram).unwrap(),
            unit: MassUnit::Kilogram,
            stable: true,
            kind: WeightKind::Net,
            tare: None,
            status: intake_hal::ScaleStatus::Ok,
        };
        let v = reading_json(&r);
        assert_eq!(v["weight"], json!(129.09));
        assert_eq!(v["unit"], "kg");
        assert_eq!(v["net"], true);
        assert_eq!(v["tare"], Value::Null);
        assert_eq!(v["status"], "ok");
    }
}
