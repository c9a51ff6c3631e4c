//! `intake sync`: upload the outbox to head office now and pull the manifest and rate card.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use intake::store::Records;
use intake::sync::config::{SyncConfig, SyncSettings, check_url};
use intake::sync::run::{PullReport, RetryPolicy, Stop, dry_run};
use intake::sync::{Client, Progress, SyncError, Token, UploadReport, pull_all, upload_all};

use super::{Context, bad_input};

/// Upload every record waiting for head office, then pull the manifest and rate card.
/// Resumes where an earlier run stopped; head office stores each record once.
#[derive(Debug, Args)]
pub(crate) struct Sync {
    /// Head office's URL, for this run (overrides sync.url).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The bearer token file, for this run (overrides sync.token_file). Must not be
    /// world-readable.
    #[arg(long, value_name = "PATH")]
    token_file: Option<PathBuf>,
    /// Say what would be sent; send nothing.
    #[arg(long)]
    dry_run: bool,
    /// Upload only; do not pull the manifest and rate card.
    #[arg(long)]
    no_pull: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// A one-line progress bar on a terminal's stderr.
struct Bar {
    total: u64,
    done: u64,
    started: Instant,
    draw: bool,
}

impl Bar {
    fn render(&self, note: &str) {
        if !self.draw {
            return;
        }
        let width = 30usize;
        let filled = (self.done.min(self.total) * width as u64)
            .checked_div(self.total)
            .map_or(width, |f| f as usize);
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2Kuploading [{}{}] {}/{} records  {:.0}/s {}",
            "#".repeat(filled),
            ".".repeat(width - filled),
            self.done,
            self.total,
            rate,
            note
        );
        let _ = err.flush();
    }
}

impl Progress for Bar {
    fn start(&mut self, pending: u64) {
        self.total = pending;
        self.render("");
    }

    fn delivered(&mut self, n: u64) {
        self.done += n;
        self.total = self.total.max(self.done);
        self.render("");
    }

    fn retrying(&mut self, error: &SyncError, wait: Duration) {
        if self.draw {
            self.render(&format!(
                "— {error}; retrying in {:.1}s",
                wait.as_secs_f64()
            ));
        } else {
            eprintln!("{error}; retrying in {:.1}s", wait.as_secs_f64());
        }
    }

    fn finish(&mut self) {
        self.render("");
        if self.draw {
            eprintln!();
        }
    }
}

impl Sync {
    fn settings(&self, configured: Option<SyncSettings>) -> anyhow::Result<SyncSettings> {
        let mut s = match (configured, &self.url, &self.token_file) {
            (Some(s), _, _) => s,
            (None, Some(url), Some(tf)) => SyncConfig::new(url, &tf.to_string_lossy())
                .validate(None)
                .map_err(bad_input)?,
            (None, _, _) => {
                return Err(bad_input(anyhow::anyhow!(
                    "head-office sync is not configured: add a [sync] section (url, token_file) to the config, or pass --url and --token-file"
                )));
            }
        };
        if let Some(url) = &self.url {
            s.url = check_url(url).map_err(|m| bad_input(anyhow::anyhow!("--url: {m}")))?;
        }
        if let Some(tf) = &self.token_file {
            s.token_file = tf.clone();
        }
        Ok(s)
    }

    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let settings = ctx.settings()?;
        let sync = self.settings(settings.sync.clone())?;
        if self.dry_run {
            let store = ctx.store(&settings)?;
            let s = dry_run(&store, sync.batch_size)?;
            if self.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                println!(
                    "would send {} scan(s) and {} resolution(s) in {} batch(es) to {}{}",
                    s.scans,
                    s.resolutions,
                    s.batches,
                    sync.url,
                    match (s.first_seq, s.last_seq) {
                        (Some(a), Some(b)) => format!(" (outbox rows {a}..={b})"),
                        _ => String::new(),
                    }
                );
            }
            return Ok(ExitCode::SUCCESS);
        }
        let token = Token::from_file(&sync.token_file).map_err(bad_input)?;
        let client = Client::new(&sync.url, token, sync.timeout);
        let mut bar = Bar {
            total: 0,
            done: 0,
            started: Instant::now(),
            draw: std::io::stderr().is_terminal() && !self.json,
        };
        let retry = RetryPolicy {
            first: sync.schedule.retry_first,
            max: sync.schedule.retry_max,
            give_up_after: sync.give_up_after,
        };
        let (records, owner) = ctx.records(&settings)?;
        let result = upload_and_pull(&self, &records, &client, &settings, &sync, retry, &mut bar);
        owner.stop();
        let (report, pulled, secs) = result?;
        if self.json {
            let out = serde_json::json!({
                "upload": report,
                "seconds": secs,
                "manifest": pulled.as_ref().map(|p| p.manifest),
                "rejudged": pulled.as_ref().map_or(0, |p| p.rejudged.len()),
                "rate_card": pulled.as_ref().and_then(|p| p.rate_card.as_ref().map(|c| c.version.clone())),
                "rate_card_refused": pulled.as_ref().and_then(|p| p.rate_card_refused.clone()),
            });
            println!("{out}");
        } else {
            println!(
                "delivered {} record(s) to {} in {} batch(es), {:.1}s ({} already held, {} retries)",
                report.delivered,
                sync.url,
                report.batches,
                secs,
                report.already_held,
                report.retries
            );
            if let Some(p) = &pulled {
                println!(
                    "manifest: {} new, {} updated; {} scan(s) judged again",
                    p.manifest.inserted,
                    p.manifest.updated,
                    p.rejudged.len()
                );
                if let Some(c) = &p.rate_card {
                    println!("rate card {} from head office now in force", c.version);
                }
                if let Some(why) = &p.rate_card_refused {
                    eprintln!("warning: {why}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

type Synced = (UploadReport, Option<PullReport>, f64);

/// Uploads the outbox, then pulls (unless `--no-pull`), through the store actor.
fn upload_and_pull(
    cmd: &Sync,
    records: &Records,
    client: &Client,
    settings: &intake::config::Settings,
    sync: &SyncSettings,
    retry: RetryPolicy,
    bar: &mut Bar,
) -> anyhow::Result<Synced> {
    let started = Instant::now();
    let report = upload_all(
        records,
        client,
        &settings.station_id,
        sync.batch_size,
        retry,
        bar,
        &Stop::new(),
    )
    .map_err(|e| match e {
        SyncError::Unauthorized => bad_input(e),
        other => still_queued(records, other),
    })?;
    let secs = started.elapsed().as_secs_f64();
    let pulled = if cmd.no_pull {
        None
    } else {
        Some(pull_all(records, client).map_err(|e| still_queued(records, e))?)
    };
    Ok((report, pulled, secs))
}

/// A sync that stopped (gave up, or head office refused a batch), with how many records the
/// outbox still holds: exit 1, and the operator knows what is left.
fn still_queued(records: &Records, e: SyncError) -> anyhow::Error {
    match records.read(|st| st.outbox_depth()).wait() {
        Ok(n) => anyhow::anyhow!("{e}; {n} record(s) still queued for head office"),
        Err(_) => e.into(),
    }
}
