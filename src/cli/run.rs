//! `intake run`: the station daemon.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use intake::daemon::devices::SimOptions;
use intake::daemon::{self, Durations, RunOptions, Summary, quantile_ms};
use serde_json::json;

use super::{Context, bad_input};

/// Run the station: weigh, measure, read, judge, store, signal. Runs on simulated devices
/// unless the config names real ones. Stops on Ctrl-C / SIGTERM after the parcel in progress;
/// SIGHUP reloads the configuration file (rules and rate card, from the next parcel).
#[derive(Debug, Args)]
pub(crate) struct Run {
    /// Stop after this many parcels and print a summary (with the simulated dock: the
    /// operator brings exactly this many).
    #[arg(long)]
    parcels: Option<u64>,
    /// Simulated dock at full speed: no pauses between parcels.
    #[arg(long)]
    fast: bool,
    /// Append each simulated parcel's ground truth to FILE (JSON lines), for tests.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// Serve the dashboard on this address instead of `[web] listen` (port 0: any free
    /// port; the log says which).
    #[arg(long, value_name = "ADDR", value_parser = intake::web::config::parse_listen)]
    listen: Option<std::net::SocketAddr>,
    // --- scale replay ---
    /// Weigh with a recorded scale capture (`intake scale monitor --record`) played into a
    /// pty at the recorded pace, instead of the configured scale; the simulated dock
    /// supplies the other devices.
    #[arg(long, value_name = "CAPTURE")]
    scale_replay: Option<PathBuf>,
    /// With --scale-replay: the capture's protocol (default: the capture's header).
    #[arg(long, value_name = "NAME", requires = "scale_replay")]
    protocol: Option<intake_hal::scale::Protocol>,
    /// With --scale-replay: play this many times faster than recorded.
    #[arg(long, value_name = "FACTOR", requires = "scale_replay")]
    replay_speed: Option<f64>,
}

impl Run {
    /// `[scale]` as `--scale-replay` overrides it.
    fn replay_scale(&self) -> anyhow::Result<Option<intake_hal::scale::config::ScaleSettings>> {
        let Some(capture) = &self.scale_replay else {
            return Ok(None);
        };
        let raw = intake_hal::scale::config::RawReplay {
            capture: Some(capture.clone()),
            protocol: self.protocol.map(|p| p.name().to_owned()),
            speed: self.replay_speed,
            link: None,
        };
        let r = raw.validate().map_err(bad_input)?;
        Ok(Some(intake_hal::scale::config::ScaleSettings::Replay(r)))
    }
}

impl Run {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let mut settings = ctx.settings()?;
        if let Some(scale) = self.replay_scale()? {
            settings.scale = scale;
        }
        if let Some(addr) = self.listen {
            settings.web.listen = addr;
            settings.web.validate_listen().map_err(bad_input)?;
        }
        let mut opts = RunOptions {
            parcels: self.parcels,
            sim: SimOptions {
                fast: self.fast,
                parcels: self.parcels,
                truth_file: self.truth.clone(),
                no_operator: false,
            },
            reload: None,
        };
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("intake")
            .build()
            .context("cannot start the async runtime")?;
        let started = Instant::now();
        let summary = rt
            .block_on(async {
                let stop = shutdown_signal();
                opts.reload = hangups();
                daemon::run(&settings, opts, stop).await
            })
            .map_err(|e| {
                if e.is_bad_input() {
                    bad_input(e)
                } else {
                    anyhow::Error::from(e)
                }
            })?;
        rt.shutdown_timeout(std::time::Duration::from_secs(2));
        print_summary(&summary, started.elapsed(), self.json);
        let spill = intake::store::spill::path_in(&settings.data_dir);
        if let Some(after) = summary.gave_up {
            eprintln!(
                "error: gave up: the store failed for {} ([station] give_up_after); {} scan(s) pending, kept in {} and stored at the next start",
                humantime(after),
                summary.unstored,
                spill.display()
            );
            return Ok(ExitCode::FAILURE);
        }
        if summary.unstored > 0 {
            eprintln!(
                "warning: {} scan(s) not stored at shutdown, kept in {} and stored at the next start",
                summary.unstored,
                spill.display()
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed now, before start-up begins
/// (a SIGTERM while the store or devices open must stop the daemon cleanly, not kill it);
/// call inside the runtime.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate()).ok()
    };
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        match term {
            Some(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            None => {
                let _ = ctrl_c.await;
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        let _ = tx.send(true);
    });
    async move {
        let _ = rx.wait_for(|s| *s).await;
    }
}

/// Counts SIGHUPs (systemd's `ExecReload`): each one asks the daemon to reload its
/// configuration. Installed before start-up, so a SIGHUP then is counted, never fatal.
/// Call inside the runtime.
fn hangups() -> Option<tokio::sync::watch::Receiver<u64>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: reload needs a restart");
                return None;
            }
        };
        let (tx, rx) = tokio::sync::watch::channel(0u64);
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tx.send_modify(|n| *n += 1);
            }
        });
        Some(rx)
    }
    #[cfg(not(unix))]
    None
}

/// "90 s", "10 min": how long, for a person.
fn humantime(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 60.0 && d.as_secs().is_multiple_of(60) && d.subsec_nanos() == 0 {
        format!("{} min", d.as_secs() / 60)
    } else {
        format!("{s:.1} s")
    }
}

fn print_summary(s: &Summary, took: std::time::Duration, as_json: bool) {
    let secs = took.as_secs_f64();
    let rate = if secs > 0.0 {
        s.parcels as f64 / secs
    } else {
        0.0
    };
    let ms = |v: &Durations, q: f64| quantile_ms(v, q).map(|x| (x * 10.0).round() / 10.0);
    let t = &s.timing;
    if as_json {
        let by: serde_json::Map<String, serde_json::Value> = s
            .by_disposition
            .iter()
            .map(|(d, n)| (d.as_str().to_owned(), json!(n)))
            .collect();
        let out = json!({
            "parcels": s.parcels,
            "seconds": (secs * 100.0).round() / 100.0,
            "parcels_per_second": (rate * 100.0).round() / 100.0,
            "by_disposition": by,
            "repriced": s.repriced,
            "adjustments_cents": s.adjustments_cents,
            "cycle_ms": {"median": ms(&t.cycle, 0.5), "p99": ms(&t.cycle, 0.99)},
            "settle_ms": {"median": ms(&t.settle, 0.5), "p99": ms(&t.settle, 0.99)},
            "label_ms": {"median": ms(&t.label, 0.5), "p99": ms(&t.label, 0.99)},
            "judge_ms": {"median": ms(&t.judge, 0.5), "p99": ms(&t.judge, 0.99)},
            "commit_ms": {"median": ms(&t.commit, 0.5), "p99": ms(&t.commit, 0.99)},
            "verdict_ms": {"median": ms(&t.verdict, 0.5), "p99": ms(&t.verdict, 0.99)},
            "gave_up": s.gave_up.is_some(),
            "unstored": s.unstored,
        });
        println!("{out}");
        return;
    }
    println!(
        "{} parcel(s) in {secs:.1} s ({rate:.2} parcels/s)",
        s.parcels
    );
    let counts: Vec<String> = s
        .by_disposition
        .iter()
        .map(|(d, n)| format!("{d} {n}"))
        .collect();
    println!("  {}", counts.join(" · "));
    let adj = intake::quantity::Money::from_cents(s.adjustments_cents);
    println!(
        "  repriced: {} parcel(s), adjustments total {adj}",
        s.repriced
    );
    let f = |v: Option<f64>| v.map_or("-".to_owned(), |x| format!("{x:.1} ms"));
    println!(
        "  cycle time: median {}, p99 {} (settle {}, label {}, judge {}, commit {}); stable weight to verdict shown: median {}, p99 {}",
        f(ms(&t.cycle, 0.5)),
        f(ms(&t.cycle, 0.99)),
        f(ms(&t.settle, 0.5)),
        f(ms(&t.label, 0.5)),
        f(ms(&t.judge, 0.5)),
        f(ms(&t.commit, 0.5)),
        f(ms(&t.verdict, 0.5)),
        f(ms(&t.verdict, 0.99)),
    );
}
