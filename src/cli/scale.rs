//! `intake scale`: the technician's tools for the scale.
//!
//! * `decode --protocol NAME FILE` decodes a capture (the raw bytes the port sent, or a
//!   timestamped capture from `monitor --record`), one line per frame and per rejected run of
//!   bytes, with the notes on frames that differ from the manual; `--json` for JSON lines.
//! * `monitor --port P --protocol NAME [--record FILE]` reads a live scale and prints each
//!   frame beside the raw bytes (hex); `--record` also writes a timestamped capture that
//!   `intake run --scale-replay` plays back.
//! * `probe --port P` tries every protocol at the usual baud rates and framings, says which
//!   answers, and prints the `[scale]` section to configure.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use intake::quantity::MassUnit;
use intake_hal::device::{ErrorKind, WeightKind, WeightReading};
use intake_hal::scale::capture::{self, Capture};
use intake_hal::scale::config::{BAUD_RATES, Framing, ScaleSettings, SerialSettings};
use intake_hal::scale::serial::ProbeAnswer;
use intake_hal::scale::serial::{SerialScale, probe};
use intake_hal::scale::sim::SimScale;
use intake_hal::scale::{Frame, FrameError, Note, Protocol, hex};
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

/// Decode a capture from a scale: one line per frame, one per rejected run of bytes.
#[derive(Debug, Args)]
struct Decode {
    /// The protocol: mt-sics, toledo, sma, nci or cas (default: the capture's header).
    #[arg(long, value_name = "NAME")]
    protocol: Option<Protocol>,
    /// The capture: the bytes exactly as the port sent them, or a timestamped capture
    /// written by `intake scale monitor --record`.
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

/// Notes as JSON: each note's fields, its kind and its text.
fn notes_json(notes: &[Note]) -> Value {
    notes
        .iter()
        .map(|n| {
            let mut v = serde_json::to_value(n).unwrap_or_else(|_| json!({}));
            v["note"] = json!(n.kind());
            v["text"] = json!(n.to_string());
            v
        })
        .collect()
}

fn notes_text(notes: &[Note]) -> String {
    if notes.is_empty() {
        return String::new();
    }
    let t: Vec<String> = notes.iter().map(ToString::to_string).collect();
    format!(" (note: {})", t.join("; "))
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
        Ok(Frame::Reading(r, notes)) => {
            let mut v = reading_json(r);
            v["notes"] = notes_json(notes);
            v
        }
        Ok(Frame::Status {
            status,
            motion,
            notes,
        }) => {
            json!({"frame": "status", "status": status, "motion": motion, "notes": notes_json(notes)})
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
        Ok(Frame::Reading(r, notes)) => {
            let w = number(r.weight, r.unit);
            let tare = r
                .tare
                .map(|t| format!(" tare {} {}", number(t, r.unit), r.unit.symbol()))
                .unwrap_or_default();
            let text = format!(
                "reading   {w} {} {} {:?}{tare} status {:?}",
                r.unit.symbol(),
                if r.stable { "stable" } else { "motion" },
                r.kind,
                r.status
            )
            .to_lowercase();
            format!("{text}{}", notes_text(notes))
        }
        Ok(Frame::Status {
            status,
            motion,
            notes,
        }) => format!(
            "status    {status:?}{}{}",
            if *motion { " motion" } else { "" },
            notes_text(notes)
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

/// The largest capture file decoded. A raw byte dump is streamed (memory stays flat); a
/// timestamped capture is text read whole, so it has the lower limit.
const MAX_RAW_DUMP: u64 = 4 << 30;
const MAX_CAPTURE: u64 = 256 << 20;

/// Prints decoded frames as they come, a run of rejected frames in a row (see [`same_run`])
/// as one line (a 40 MB run of line feeds used to print, and first keep, one
/// rejection per byte).
struct FramePrinter<W: std::io::Write> {
    out: W,
    json: bool,
    /// The first rejection of the current run, how many frames and raw bytes it holds.
    run: Option<(FrameError, u64, u64)>,
}

impl<W: std::io::Write> FramePrinter<W> {
    fn frame(&mut self, f: Result<Frame, FrameError>) -> std::io::Result<()> {
        match f {
            Err(e) => {
                let len = rejected_len(&e);
                match &mut self.run {
                    Some((first, n, bytes)) if same_run(first, &e) => {
                        *n += 1;
                        *bytes += len;
                    }
                    _ => {
                        self.flush_run()?;
                        self.run = Some((e, 1, len));
                    }
                }
                Ok(())
            }
            ok => {
                self.flush_run()?;
                self.line(&ok, None)
            }
        }
    }

    fn flush_run(&mut self) -> std::io::Result<()> {
        match self.run.take() {
            Some((e, n, bytes)) => self.line(&Err(e), Some((n, bytes))),
            None => Ok(()),
        }
    }

    fn line(
        &mut self,
        f: &Result<Frame, FrameError>,
        run: Option<(u64, u64)>,
    ) -> std::io::Result<()> {
        let line = match (self.json, run) {
            (true, Some((n, bytes))) if n > 1 => {
                let mut v = frame_json(f);
                v["run_frames"] = json!(n);
                v["run_bytes"] = json!(bytes);
                v.to_string()
            }
            (true, _) => frame_json(f).to_string(),
            (false, Some((n, bytes))) if n > 1 => format!(
                "{} (the first of {n} rejected frames in a row, {bytes} bytes)",
                frame_text(f)
            ),
            (false, _) => frame_text(f),
        };
        writeln!(self.out, "{line}")
    }
}

/// Whether rejection `b` continues the run `a` began: the same kind of reason, or both
/// line noise (bytes outside frames, or a "frame" of nothing but line ends and NULs).
fn same_run(a: &FrameError, b: &FrameError) -> bool {
    use intake_hal::scale::Reject;
    let noise = |e: &FrameError| {
        matches!(
            e.reason,
            Reject::Garbage(_) | Reject::TooLong(_) | Reject::Overflow(_)
        ) || e.raw.iter().all(|c| matches!(c, b'\r' | b'\n' | b' ' | 0))
    };
    std::mem::discriminant(&a.reason) == std::mem::discriminant(&b.reason) || (noise(a) && noise(b))
}

/// The bytes a rejection stands for (at least what it kept of them).
fn rejected_len(e: &FrameError) -> u64 {
    use intake_hal::scale::Reject;
    let n = match e.reason {
        Reject::Garbage(n) | Reject::TooLong(n) | Reject::Overflow(n) => n.max(e.raw.len()),
        _ => e.raw.len(),
    };
    n.max(1) as u64
}

impl Decode {
    fn run(self) -> anyhow::Result<ExitCode> {
        use std::io::Read;
        let cannot = || format!("cannot read capture {}", self.file.display());
        let mut file = intake::userfile::open_input(&self.file, MAX_RAW_DUMP)
            .with_context(cannot)
            .map_err(bad_input)?;
        let mut head = Vec::new();
        (&mut file)
            .take(capture::MAGIC.len() as u64)
            .read_to_end(&mut head)
            .with_context(cannot)
            .map_err(bad_input)?;
        let (capture_bytes, header) = if head == capture::MAGIC.as_bytes() {
            let mut text = head.clone();
            (&mut file)
                .take(MAX_CAPTURE + 1)
                .read_to_end(&mut text)
                .with_context(cannot)
                .map_err(bad_input)?;
            if text.len() as u64 > MAX_CAPTURE {
                return Err(bad_input(anyhow::anyhow!(
                    "{}: a timestamped capture is read whole, and this one is larger than {}; record a shorter one",
                    cannot(),
                    intake::userfile::size_text(MAX_CAPTURE)
                )));
            }
            let cap = Capture::parse(&String::from_utf8_lossy(&text))
                .with_context(cannot)
                .map_err(bad_input)?;
            (Some(cap.bytes()), cap.protocol)
        } else {
            (None, None)
        };
        let protocol = self.protocol.or(header).ok_or_else(|| {
            bad_input(anyhow::anyhow!(
                "--protocol is missing and the capture does not name one; use mt-sics, toledo, sma, nci or cas"
            ))
        })?;
        let mut parser = protocol.parser();
        let mut printer = FramePrinter {
            out: std::io::BufWriter::new(std::io::stdout().lock()),
            json: self.json,
            run: None,
        };
        let mut feed = |chunk: &[u8], printer: &mut FramePrinter<_>| -> std::io::Result<()> {
            parser.push(chunk);
            while let Some(f) = parser.next_frame() {
                printer.frame(f)?;
            }
            Ok(())
        };
        match capture_bytes {
            Some(bytes) => {
                for chunk in bytes.chunks(1024) {
                    feed(chunk, &mut printer)?;
                }
            }
            None => {
                // The raw dump: what was read for the magic, then the rest as it comes.
                feed(&head, &mut printer)?;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = file
                        .read(&mut buf)
                        .with_context(cannot)
                        .map_err(bad_input)?;
                    if n == 0 {
                        break;
                    }
                    feed(&buf[..n], &mut printer)?;
                }
            }
        }
        let rest = parser.pending();
        if rest.iter().any(|b| !matches!(b, b'\r' | b'\n')) {
            printer.frame(Err(FrameError {
                reason: intake_hal::scale::Reject::Truncated,
                raw: rest.iter().take(64).copied().collect(),
            }))?;
        }
        printer.flush_run()?;
        use std::io::Write;
        printer.out.flush()?;
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
    /// Also write what the port sent, with when, to FILE (a timestamped capture that
    /// `intake scale decode` reads and `intake run --scale-replay` plays back).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
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
        let mut _replay = None;
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
                ScaleSettings::Replay(r) => {
                    let (handle, serial) =
                        intake_hal::scale::replay::start(&r).map_err(bad_input)?;
                    _replay = Some(handle);
                    serial
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
        let mut record = match &self.record {
            None => None,
            Some(path) => {
                let s = scale.settings();
                let mut file = std::fs::File::create(path)
                    .with_context(|| format!("cannot create the capture {}", path.display()))
                    .map_err(bad_input)?;
                use std::io::Write;
                file.write_all(
                    capture::header(s.protocol, s.baud, &s.framing.to_string()).as_bytes(),
                )?;
                Some((file, tokio::time::Instant::now()))
            }
        };
        let mut seen = 0;
        while self.count.is_none_or(|c| seen < c) {
            let f = scale.next_frame().await;
            // The bytes read since the last frame; one read may bring several frames.
            let chunks = scale.take_chunks();
            if let Some((file, start)) = record.as_mut() {
                use std::io::Write;
                for (at, bytes) in &chunks {
                    file.write_all(
                        capture::line(at.saturating_duration_since(*start), bytes).as_bytes(),
                    )?;
                }
                file.flush()?;
            }
            let raw: Vec<u8> = chunks.into_iter().flat_map(|(_, b)| b).collect();
            let raw = hex(&raw);
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

/// Find out what a scale speaks: every protocol at the usual baud rates and framings; prints
/// the `[scale]` section that reads it.
#[derive(Debug, Args)]
struct Probe {
    /// The serial device.
    #[arg(long)]
    port: PathBuf,
    /// Baud rates to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [9600, 4800, 19200, 2400, 1200, 38400])]
    baud: Vec<u32>,
    /// Framings to try, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ["8N1".to_owned(), "7E1".to_owned(), "7O1".to_owned()])]
    framing: Vec<String>,
    /// Milliseconds to listen after each request (and for continuous output).
    #[arg(long, default_value_t = 300)]
    listen_ms: u64,
    /// One JSON object: every answer, and the `[scale]` section to use.
    #[arg(long)]
    json: bool,
}

fn answer_json(a: &ProbeAnswer) -> Value {
    json!({
        "protocol": a.protocol.name(),
        "baud": a.baud,
        "framing": a.framing.to_string(),
        "framing_to_use": a.framing_to_use().to_string(),
        "frames": a.frames,
        "rejected": a.rejected,
        "sample": frame_json(&Ok(a.sample.clone())),
    })
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
            Duration::from_millis(self.listen_ms.clamp(20, 5000)),
        )
        .await?;
        let Some(best) = ProbeAnswer::best(&answers) else {
            anyhow::bail!(
                "no protocol answered on {} at {:?} × {:?}; check the cable and power, and that the scale's output is enabled",
                self.port.display(),
                self.baud,
                self.framing
            );
        };
        let section = best.toml_section(&self.port);
        if self.json {
            let v = json!({
                "answers": answers.iter().map(answer_json).collect::<Vec<_>>(),
                "best": answer_json(best),
                "config": section,
            });
            println!("{v}");
            return Ok(ExitCode::SUCCESS);
        }
        for a in &answers {
            println!(
                "{} answers at {} {} ({} valid frames, {} rejected; first: {})",
                a.protocol,
                a.baud,
                a.framing,
                a.frames,
                a.rejected,
                frame_text(&Ok(a.sample.clone())).trim()
            );
        }
        println!(
            "\n# The scale on {} (paste into the station config):",
            self.port.display()
        );
        print!("{section}");
        // A pty (and some adapters) ignore framing: say so rather than guess.
        if answers.len() > 1 {
            eprintln!(
                "note: several settings answered; a port that ignores parity (USB adapters in 8N1, ptys) answers at all of them, so the section above takes the one with the most valid frames and the parity the frames carried"
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
