//! Drives sync: upload the outbox until it is empty (marking rows delivered only after head
//! office acknowledged them), pull the manifest and the rate card, and — for the daemon — do
//! both on the [`Schedule`]. Resuming after a crash or a cut connection needs no extra state:
//! whatever was not acknowledged is still pending in the outbox and is sent again, and head
//! office stores each id once.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use jiff::{Timestamp, ZonedDateTime};
use tracing::{Instrument, info, info_span, warn};

use super::client::{Client, SyncError};
use super::config::SyncSettings;
use super::plan::{Summary, plan_batches, reconcile, summarise};
use super::schedule::{History, Schedule, UploadWhy, backoff};
use super::token::Token;
use super::wire::{AuditEntry, encode_audit, encode_batch, manifest_from_wire};
use crate::config::Settings;
use crate::pricing::RateCard;
use crate::store::outbox::Resolution;
use crate::store::{EventKind, ImportCounts, Records, Store};

/// Told how an upload goes; `intake sync` draws a progress bar, the daemon logs.
pub trait Progress {
    /// `pending` records wait in the outbox.
    fn start(&mut self, _pending: u64) {}
    /// `n` more records were acknowledged.
    fn delivered(&mut self, _n: u64) {}
    /// A call failed; the next try is in `wait`.
    fn retrying(&mut self, _error: &SyncError, _wait: Duration) {}
    fn finish(&mut self) {}
}

/// No progress output (tracing events still tell what happens).
#[derive(Debug, Default)]
pub struct Quiet;
impl Progress for Quiet {}

/// A stop signal a blocking sync checks between calls and while it waits to retry.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<(Mutex<bool>, Condvar)>);

impl Stop {
    pub fn new() -> Stop {
        Stop::default()
    }

    pub fn stop(&self) {
        let (lock, cv) = &*self.0;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `d`; true if stopped meanwhile.
    pub fn wait(&self, d: Duration) -> bool {
        let (lock, cv) = &*self.0;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = cv
            .wait_timeout_while(guard, d, |stopped| !*stopped)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

/// How an upload run retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub first: Duration,
    pub max: Duration,
    /// Stop retrying after this long without progress (zero: do not retry at all).
    pub give_up_after: Duration,
}

/// What an upload run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UploadReport {
    /// Records acknowledged and marked delivered.
    pub delivered: u64,
    /// Of those, how many head office already held (sent again after a cut).
    pub already_held: u64,
    pub batches: u64,
    pub retries: u64,
    /// Audit chain entries head office stored (new to it).
    pub audit_entries: u64,
}

fn jitter() -> f64 {
    rand::random::<f64>()
}

/// What would be sent now (`--dry-run`): no network.
pub fn dry_run(store: &Store, batch_size: usize) -> Result<Summary, SyncError> {
    let pending = store.pending_outbox(0, usize::MAX)?;
    Ok(summarise(&plan_batches(&pending, batch_size)))
}

/// Uploads the whole outbox, batch by batch in commit order, retrying transient failures
/// with exponential backoff and jitter. Rows are marked delivered only for the ids head
/// office acknowledged. On success the outbox is empty and `last_upload_ok` is recorded.
pub fn upload_all(
    records: &Records,
    client: &Client,
    station_id: &str,
    batch_size: usize,
    retry: RetryPolicy,
    progress: &mut dyn Progress,
    stop: &Stop,
) -> Result<UploadReport, SyncError> {
    let mut report = UploadReport::default();
    let mut size = batch_size.max(1);
    progress.start(records.read(|st| st.outbox_depth()).wait()?);
    let mut failures = 0u32;
    let mut last_progress = Instant::now();
    let mut head_reported = false;
    loop {
        if stop.is_stopped() {
            return Err(SyncError::Stopped);
        }
        let (batch, loaded) = records
            .read(move |st| {
                let pending = st.pending_outbox(0, size)?;
                let Some(batch) = plan_batches(&pending, size).into_iter().next() else {
                    return Ok(None);
                };
                let loaded = st.outbox_records(&batch.rows)?;
                Ok(Some((batch, loaded)))
            })
            .wait()?
            .map_or((None, Vec::new()), |(b, l)| (Some(b), l));
        // The records first, then the audit chain that covers them (head office checks
        // every record it holds is in an entry).
        let work = match batch {
            Some(batch) => Work::Records(batch),
            None => {
                let station = station_id.to_owned();
                let entries = records
                    .read(move |st| {
                        // A chain shorter than what head office acknowledged (a store
                        // restored from a backup, or cut) is sent again from its end:
                        // head office refuses entries that differ from what it holds.
                        let sent = st.audit_sent()?.min(st.last_event_seq()?);
                        // Once per sync the newest acknowledged entry again: head office
                        // learns the station's head even when nothing is new.
                        let from = if head_reported {
                            sent
                        } else {
                            sent.saturating_sub(1)
                        };
                        st.chain_entries_after(&station, from, size)
                    })
                    .wait()?;
                if entries.is_empty() {
                    break;
                }
                Work::Audit(entries)
            }
        };
        let (body, span) = match &work {
            Work::Records(batch) => (
                encode_batch(&loaded, station_id)?,
                info_span!(
                    "upload_batch",
                    records = batch.rows.len(),
                    first_seq = batch.rows[0].seq
                ),
            ),
            Work::Audit(entries) => (
                encode_audit(entries)?,
                info_span!(
                    "upload_audit",
                    entries = entries.len(),
                    first_entry = entries[0].seq
                ),
            ),
        };
        let _enter = span.enter();
        match (client.upload(&body), &work) {
            (Ok(ack), Work::Audit(entries)) => {
                let last = entries[entries.len() - 1].seq;
                let last_id = AuditEntry::id_of(station_id, last);
                if !ack.held.contains(&last_id) {
                    return Err(SyncError::Protocol(format!(
                        "head office did not acknowledge audit entry {last}"
                    )));
                }
                records.set_audit_sent(last).wait()?;
                report.audit_entries += ack.stored;
                head_reported = true;
                failures = 0;
                last_progress = Instant::now();
            }
            (Ok(ack), Work::Records(batch)) => {
                let r = reconcile(batch, &ack.held);
                if r.delivered.is_empty() {
                    return Err(SyncError::Protocol(format!(
                        "head office acknowledged none of the {} records sent",
                        batch.rows.len()
                    )));
                }
                let n = records
                    .mark_delivered(r.delivered.clone(), Timestamp::now())
                    .wait()?;
                if !r.unconfirmed.is_empty() {
                    warn!(
                        unconfirmed = r.unconfirmed.len(),
                        "head office did not confirm every record; they stay pending"
                    );
                }
                report.delivered += n as u64;
                report.already_held += ack.already_held;
                report.batches += 1;
                info!(
                    delivered = n,
                    already_held = ack.already_held,
                    "batch acknowledged"
                );
                progress.delivered(n as u64);
                failures = 0;
                last_progress = Instant::now();
            }
            (Err(SyncError::TooLarge { message }), _) if size > 1 => {
                size = (size / 2).max(1);
                warn!(batch_size = size, %message, "head office found the batch too large; sending smaller batches");
            }
            (Err(e), _) if e.is_retryable() => {
                failures += 1;
                report.retries += 1;
                if last_progress.elapsed() >= retry.give_up_after {
                    return Err(SyncError::GaveUp {
                        waited: last_progress.elapsed(),
                        last: e.to_string(),
                    });
                }
                let wait = backoff(failures, retry.first, retry.max, jitter());
                warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "upload failed; retrying");
                progress.retrying(&e, wait);
                if stop.wait(wait) {
                    return Err(SyncError::Stopped);
                }
            }
            (Err(e), _) => return Err(e),
        }
    }
    records.set_last_upload_ok(Timestamp::now()).wait()?;
    progress.finish();
    Ok(report)
}

/// One upload: a batch of outbox records, or entries of the audit chain.
enum Work {
    Records(super::plan::Batch),
    Audit(Vec<AuditEntry>),
}

/// What a pull did.
#[derive(Debug, Clone, Default)]
pub struct PullReport {
    pub manifest: ImportCounts,
    /// Manifest entries head office sent that this station could not read (skipped).
    pub manifest_rejected: Vec<String>,
    /// Scans judged again because their manifest entry arrived.
    pub rejudged: Vec<Resolution>,
    /// A rate card put in force by this pull.
    pub rate_card: Option<RateCard>,
    /// Why head office's rate card was kept out, if it was.
    pub rate_card_refused: Option<String>,
}

/// Pulls manifest pages until head office has no more (the store actor judges again the
/// scans whose entries arrived), then the rate card. A card that fails validation is kept
/// out (reported in `rate_card_refused`); the card in force stays.
pub fn pull_all(records: &Records, client: &Client) -> Result<PullReport, SyncError> {
    let mut report = PullReport::default();
    loop {
        let since = records.read(|st| st.manifest_cursor()).wait()?;
        let page = client.manifest_page(since.as_deref(), 1000)?;
        let mut entries = Vec::with_capacity(page.entries.len());
        for v in page.entries {
            match manifest_from_wire(v) {
                Ok(e) => entries.push(e),
                Err(e) => {
                    warn!(waybill = e.record_id.as_deref().unwrap_or("?"), error = %e.message,
                        "head office sent a manifest entry this station cannot read; skipped");
                    report.manifest_rejected.push(format!(
                        "{}: {}",
                        e.record_id.unwrap_or_default(),
                        e.message
                    ));
                }
            }
        }
        let applied = records.apply_manifest_page(entries, &page.cursor).wait()?;
        report.manifest.inserted += applied.counts.inserted;
        report.manifest.updated += applied.counts.updated;
        report.manifest.unchanged += applied.counts.unchanged;
        report.rejudged.extend(applied.rejudged);
        if !page.more || since.as_deref() == Some(page.cursor.as_str()) {
            break;
        }
    }
    let have = records.in_force().policy.card.version.clone();
    if let Some(doc) = client.rate_card(Some(&have))? {
        match records.apply_rate_card(doc.body.clone()).wait() {
            Ok(applied) => {
                if applied.changed {
                    report.rate_card = Some(applied.card);
                }
            }
            Err(crate::store::outbox::RateCardRefused::Store(e)) => return Err(e.into()),
            Err(refused) => {
                warn!(version = %doc.version, error = %refused, "rate card kept out");
                report.rate_card_refused = Some(refused.to_string());
            }
        }
    }
    Ok(report)
}

/// Something the scheduled sync did, for the daemon (dashboard, metrics, pricing).
#[derive(Debug, Clone)]
pub enum SyncEvent {
    Uploaded(UploadReport),
    UploadFailed(String),
    /// A pull finished; a new rate card (if any) is already in force in the store and must
    /// be used for the next parcel.
    Pulled {
        manifest: ImportCounts,
        rejudged: Vec<Resolution>,
        rate_card: Option<RateCard>,
        rate_card_refused: Option<String>,
    },
    PullFailed(String),
}

/// The daemon's handle on its sync task: nudge it when a scan was committed (the backlog
/// may have reached its threshold), ask for a sync now, hear what it did.
#[derive(Debug, Clone)]
pub struct SyncHandle {
    wake: Arc<tokio::sync::Notify>,
    now: Arc<std::sync::atomic::AtomicBool>,
    events: tokio::sync::broadcast::Sender<SyncEvent>,
}

impl SyncHandle {
    /// Upload and pull now, whatever the schedule says.
    pub fn sync_now(&self) {
        self.now.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.notify_one();
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<SyncEvent> {
        self.events.subscribe()
    }
}

/// The scheduled sync the daemon runs: see [`SyncTask::run`].
#[derive(Debug)]
pub struct SyncTask {
    settings: SyncSettings,
    station_id: String,
    records: Records,
    client: Client,
    handle: SyncHandle,
}

impl SyncTask {
    /// Builds the task from the station settings: `Ok(None)` when no `[sync]` is configured.
    /// Refuses a token file that is world-readable (the daemon should not start then).
    pub fn from_settings(
        settings: &Settings,
        records: Records,
    ) -> Result<Option<SyncTask>, SyncError> {
        let Some(sync) = settings.sync.clone() else {
            return Ok(None);
        };
        let token = Token::from_file(&sync.token_file)?;
        let client = Client::new(&sync.url, token, sync.timeout);
        let (events, _) = tokio::sync::broadcast::channel(64);
        Ok(Some(SyncTask {
            station_id: settings.station_id.clone(),
            records,
            client,
            handle: SyncHandle {
                wake: Arc::new(tokio::sync::Notify::new()),
                now: Arc::new(std::sync::atomic::AtomicBool::new(false)),
                events,
            },
            settings: sync,
        }))
    }

    pub fn handle(&self) -> SyncHandle {
        self.handle.clone()
    }

    /// Runs until `shutdown` completes: uploads at the daily slot (catching up a missed one
    /// at start) and when the backlog reaches its threshold (it hears of every commit from
    /// the store's events), and pulls the manifest and rate card every `pull_every` while
    /// head office answers. Blocking work runs on tokio's blocking pool; every write goes
    /// through the store actor, so intake never waits on sync.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), SyncError> {
        let SyncTask {
            settings,
            station_id,
            records,
            client,
            handle,
        } = self;
        let stop = Stop::new();
        let schedule: Schedule = settings.schedule.clone();
        let last_upload_ok =
            on_records(&records, |r| Ok(r.read(|st| st.last_upload_ok()).wait()?)).await?;
        let mut history = History {
            last_upload_ok,
            ..History::default()
        };
        let mut events = records.subscribe();
        let mut events_alive = true;

        tokio::pin!(shutdown);
        loop {
            let now = ZonedDateTime::now();
            let backlog =
                on_records(&records, |r| Ok(r.read(|st| st.outbox_depth()).wait()?)).await?;
            let forced = handle.now.swap(false, std::sync::atomic::Ordering::SeqCst);
            let mut due = schedule.due(&history, &now, backlog, jitter());
            if forced {
                due.pull = true;
                due.upload = due.upload.or(Some(UploadWhy::Backlog { waiting: backlog }));
            }
            if due.pull {
                let c = client.clone();
                let out = on_records(&records, move |r| pull_all(r, &c))
                    .instrument(info_span!("sync_pull"))
                    .await;
                history.last_pull_attempt = Some(Timestamp::now());
                match out {
                    Ok(r) => {
                        history.pull_failures = 0;
                        let _ = handle.events.send(SyncEvent::Pulled {
                            manifest: r.manifest,
                            rejudged: r.rejudged,
                            rate_card: r.rate_card,
                            rate_card_refused: r.rate_card_refused,
                        });
                    }
                    Err(e) => {
                        history.pull_failures += 1;
                        warn!(error = %e, failures = history.pull_failures, "pull from head office failed");
                        let _ = handle.events.send(SyncEvent::PullFailed(e.to_string()));
                    }
                }
            }
            if let Some(why) = due.upload {
                let c = client.clone();
                let stop2 = stop.clone();
                let sid = station_id.clone();
                let batch = settings.batch_size;
                // The schedule retries (with backoff and jitter); one attempt here.
                let retry = RetryPolicy {
                    first: schedule.retry_first,
                    max: schedule.retry_max,
                    give_up_after: Duration::ZERO,
                };
                let out = on_records(&records, move |r| {
                    upload_all(r, &c, &sid, batch, retry, &mut Quiet, &stop2)
                })
                .instrument(info_span!("sync_upload", why = ?why, backlog))
                .await;
                history.last_upload_attempt = Some(Timestamp::now());
                match out {
                    Ok(r) => {
                        history.upload_failures = 0;
                        history.last_upload_ok = Some(Timestamp::now());
                        info!(
                            delivered = r.delivered,
                            batches = r.batches,
                            "upload to head office done"
                        );
                        let _ = handle.events.send(SyncEvent::Uploaded(r));
                    }
                    Err(SyncError::Stopped) => return Ok(()),
                    Err(e) => {
                        history.upload_failures += 1;
                        warn!(error = %e, failures = history.upload_failures, "upload to head office failed");
                        let _ = handle.events.send(SyncEvent::UploadFailed(e.to_string()));
                    }
                }
            }
            let now = ZonedDateTime::now();
            let wake = schedule.next_wake(&history, &now, backlog, jitter());
            let wait_ms = (wake.as_millisecond() - now.timestamp().as_millisecond()).max(0);
            // Look at least once a minute: the clock may jump, and the backlog grows.
            let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0))
                .min(Duration::from_secs(60));
            let sleep = tokio::time::sleep(wait);
            tokio::pin!(sleep);
            // New records wake the task (the backlog may have reached its threshold);
            // other events (deliveries, rate cards) do not.
            loop {
                tokio::select! {
                    () = &mut shutdown => {
                        stop.stop();
                        return Ok(());
                    }
                    () = handle.wake.notified() => break,
                    () = &mut sleep => break,
                    ev = events.next(), if events_alive => match ev {
                        Some(ev) if matches!(ev.kind, EventKind::ScanCommitted(_) | EventKind::ResolutionRecorded(_)) => break,
                        Some(_) => {}
                        None => events_alive = false,
                    },
                }
            }
        }
    }
}

/// Runs `f` with the store actor's handle on tokio's blocking pool (its calls wait).
async fn on_records<T: Send + 'static>(
    records: &Records,
    f: impl FnOnce(&Records) -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    let records = records.clone();
    tokio::task::spawn_blocking(move || f(&records))
        .await
        .map_err(|e| SyncError::Protocol(format!("sync task: {e}")))?
}
