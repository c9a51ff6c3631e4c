//! The store actor: the one writer of the station database, and the keeper of what is in
//! force.
//!
//! It runs on a thread of its own (SQLite is blocking) and takes typed commands — commit a
//! scan, record a resolution, apply a rate card, load manifest entries, mark records
//! delivered, check overdue duties — each answered on its own channel. Every change is
//! committed together with a numbered [`Event`]; after the commit the event is published to
//! every [`Subscription`], which catches up from the store by number when it falls behind.
//! Deciding is done by the pure functions of [`crate::decide`]; the actor only looks up,
//! persists and publishes. Nothing else in the process opens the database for writing:
//! readers open it read-only ([`Store::open_read_only`]), WAL lets them read while it writes.

use std::collections::VecDeque;
use std::io::{IsTerminal, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use intake_hal::{Light, Signal};
use jiff::Timestamp;
use serde_json::Value;
use tokio::sync::{broadcast, oneshot, watch};
use tracing::{error, info, warn};

use super::calibration::Verification;
use super::events::{Event, EventKind};
use super::outbox::{ManifestApplied, RateCardApplied, RateCardRefused, Resolution};
use super::{ImportCounts, Store, StoreError};
use crate::decide::{self, InForce, ResolutionRequest, ResolveError};
use crate::judge::{Policy, WaybillRead};
use crate::manifest::ManifestEntry;
use crate::measure::calibration::{Calibration, Measured};
use crate::rules::Reason;
use crate::scan::{ScanRecord, new_scan_id};
use crate::station::{CycleTimes, Finished, ParcelId};
use crate::waybill::WaybillRules;

/// How often scans that could not be stored are tried again.
const RETRY_EVERY: Duration = Duration::from_secs(3);
/// How often held parcels are checked against the duties rule (and once at start).
const DUTIES_EVERY: Duration = Duration::from_secs(24 * 3600);
/// Events kept for subscribers that are a little behind; further behind, they read the store.
pub const EVENT_BUFFER: usize = 1024;
/// Events read back from the store per catch-up step.
const CATCH_UP_PAGE: usize = 256;
/// Space held in the data folder and released when the disk fills, so the scan being
/// committed then can still be stored.
pub const RESERVE_BYTES: u64 = 4 * 1024 * 1024;
/// The reserve's name in the data folder.
pub const RESERVE_FILE: &str = "reserve.space";

/// What the actor starts with: the station and what the config puts in force.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub station_id: String,
    pub policy: Policy,
    pub waybill: WaybillRules,
    /// The configured rate card's text, kept so a scan's price can be checked later.
    pub rate_card_text: String,
    /// Events a subscriber may fall behind before it reads them back from the store.
    pub event_buffer: usize,
    /// The configuration's hand-written sensor baselines (deprecated), imported once as the
    /// first calibration when the store holds none.
    pub config_baselines: Option<Measured>,
}

impl StartOptions {
    pub fn from_settings(s: &crate::config::Settings) -> StartOptions {
        let text = s.rate_card_source.read().unwrap_or_default();
        StartOptions {
            station_id: s.station_id.clone(),
            policy: s.policy.clone(),
            waybill: s.waybill.clone(),
            rate_card_text: String::from_utf8_lossy(&text).into_owned(),
            event_buffer: EVENT_BUFFER,
            config_baselines: s.dimensions.config_baselines(),
        }
    }
}

/// A parcel whose scan is stored.
#[derive(Debug, Clone)]
pub struct Committed {
    pub parcel: ParcelId,
    pub record: ScanRecord,
    /// What the light shows for it.
    pub signal: Signal,
    pub timings: CycleTimes,
    /// Looking up the manifest and judging.
    pub judge: Duration,
    /// The SQLite transaction.
    pub commit: Duration,
    /// The event that told of it.
    pub event: u64,
}

/// A scan that could not be stored now; the actor keeps it and retries.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error}")]
pub struct CommitFailed {
    /// Empty when the actor itself is gone (the scan was handed to it, and may be lost).
    pub scan_id: String,
    pub error: String,
}

impl From<StoreError> for CommitFailed {
    fn from(e: StoreError) -> CommitFailed {
        CommitFailed {
            scan_id: String::new(),
            error: e.to_string(),
        }
    }
}

/// Why an operator's resolution was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum ResolveFailed {
    #[error("no scan {0} in the store")]
    NoSuchScan(String),
    #[error(transparent)]
    Refused(#[from] ResolveError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Reply<T, E = StoreError> = oneshot::Sender<Result<T, E>>;
type ReadFn = Box<dyn FnOnce(&Store) + Send>;

enum Command {
    Commit(Box<Finished>, Reply<Committed, CommitFailed>),
    Resolve {
        scan_id: String,
        request: ResolutionRequest,
        reply: Reply<Resolution, ResolveFailed>,
    },
    ApplyRateCard {
        body: String,
        reply: Reply<RateCardApplied, RateCardRefused>,
    },
    /// Manifest entries from a CSV (`cursor: None`) or a page pulled from head office.
    Manifest {
        entries: Vec<ManifestEntry>,
        source: String,
        cursor: Option<String>,
        reply: Reply<ManifestApplied>,
    },
    MarkDelivered {
        seqs: Vec<i64>,
        at: Timestamp,
        reply: Reply<usize>,
    },
    SetLastUploadOk {
        at: Timestamp,
        reply: Reply<()>,
    },
    SetAuditSent {
        seq: u64,
        reply: Reply<()>,
    },
    CheckDuties {
        now: Timestamp,
        reply: Reply<Vec<Resolution>>,
    },
    /// A reloaded configuration: its rules go in force from the next parcel.
    ApplyConfig {
        opts: Box<StartOptions>,
        why: String,
        reply: Reply<(u64, bool)>,
    },
    Reprice {
        scan_ids: Vec<String>,
        reply: Reply<Vec<Resolution>>,
    },
    Calibrate {
        measured: Box<Measured>,
        source: String,
        reply: Reply<Calibration>,
    },
    Verified {
        calibration_number: Option<u64>,
        passed: bool,
        report: Value,
        reply: Reply<Verification>,
    },
    /// A read answered in order with the writes before it.
    Read(ReadFn),
    Stop(oneshot::Sender<usize>),
}

/// An answer on its way from the actor: `.await` it in async code, or `.wait()` for it on a
/// thread that may block (the CLI, sync's blocking task).
#[must_use = "the command runs either way; its answer says whether it worked"]
pub struct Call<T, E = StoreError> {
    rx: oneshot::Receiver<Result<T, E>>,
}

impl<T, E: From<StoreError>> Call<T, E> {
    /// Blocks until answered. Not from inside an async task.
    pub fn wait(self) -> Result<T, E> {
        self.rx
            .blocking_recv()
            .unwrap_or_else(|_| Err(StoreError::Stopped.into()))
    }
}

impl<T, E: From<StoreError>> std::future::Future for Call<T, E> {
    type Output = Result<T, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or_else(|_| Err(StoreError::Stopped.into())))
    }
}

/// The handle every part of the daemon holds: send commands, read what is in force,
/// subscribe to events. Cheap to clone.
#[derive(Clone)]
pub struct Records {
    tx: std_mpsc::Sender<Command>,
    events: broadcast::Sender<Arc<Event>>,
    head: Arc<AtomicU64>,
    in_force: watch::Receiver<Arc<InForce>>,
    calibration: watch::Receiver<Option<Arc<Calibration>>>,
}

impl std::fmt::Debug for Records {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Records")
            .field("head", &self.head.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

/// The actor's thread and its data-folder lock: stop it to write what is pending and end.
#[derive(Debug)]
pub struct Owner {
    tx: std_mpsc::Sender<Command>,
    thread: Option<JoinHandle<()>>,
}

impl Owner {
    /// Writes what is still pending (what cannot be written is logged whole) and ends the
    /// actor. Returns how many scans stayed unstored.
    pub fn stop(mut self) -> usize {
        let (tx, rx) = oneshot::channel();
        let unstored = if self.tx.send(Command::Stop(tx)).is_ok() {
            rx.blocking_recv().unwrap_or(0)
        } else {
            0
        };
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            error!("the store actor panicked");
        }
        unstored
    }
}

impl Records {
    /// Takes the data folder's lock, opens the store at `db` and starts the actor.
    pub fn open(
        data_dir: &Path,
        db: &Path,
        opts: StartOptions,
    ) -> Result<(Records, Owner), StoreError> {
        let lock = DataLock::acquire(data_dir)?;
        let store = Store::open(db)?;
        // Named as the holder once the store is migrated and readers can read it.
        lock.announce();
        Records::spawn(store, Some(lock), opts)
    }

    /// Starts the actor on an open store (tests, in-memory stores).
    pub fn spawn(
        mut store: Store,
        lock: Option<DataLock>,
        opts: StartOptions,
    ) -> Result<(Records, Owner), StoreError> {
        let now = now_ms();
        let (in_force, ev) = put_config_in_force(&mut store, &opts, "configuration at start", now)?;
        let imported = import_config_baselines(&mut store, &opts, now)?;
        let calibration = store.calibration_in_force()?.map(Arc::new);
        let (calibration_tx, calibration_rx) = watch::channel(calibration);
        let head = store.last_event_seq()?;
        let (events, _) = broadcast::channel(opts.event_buffer.max(1));
        let (in_force_tx, in_force_rx) = watch::channel(Arc::new(in_force));
        let (tx, rx) = std_mpsc::channel();
        let records = Records {
            tx: tx.clone(),
            events,
            head: Arc::new(AtomicU64::new(head)),
            in_force: in_force_rx,
            calibration: calibration_rx,
        };
        let mut actor = Actor {
            store,
            station_id: opts.station_id,
            in_force: in_force_tx,
            calibration: calibration_tx,
            events: records.events.clone(),
            head: records.head.clone(),
            pending: VecDeque::new(),
            colour: std::io::stderr().is_terminal(),
            reserve: lock
                .as_ref()
                .and_then(|l| hold_reserve(&l.path().with_file_name(RESERVE_FILE), RESERVE_BYTES)),
            spill_reserve: lock.as_ref().and_then(|l| {
                hold_reserve(
                    &l.path().with_file_name(super::spill::RESERVE_FILE),
                    super::spill::RESERVE_BYTES,
                )
            }),
            data_dir: lock
                .as_ref()
                .and_then(|l| l.path().parent().map(Path::to_path_buf)),
            _lock: lock,
        };
        for ev in ev.into_iter().chain(imported) {
            actor.publish(ev);
        }
        let thread = std::thread::Builder::new()
            .name("intake-store".into())
            .spawn(move || actor.run(rx))
            .map_err(StoreError::Thread)?;
        Ok((
            records,
            Owner {
                tx,
                thread: Some(thread),
            },
        ))
    }

    fn call<T, E>(&self, make: impl FnOnce(Reply<T, E>) -> Command) -> Call<T, E> {
        let (tx, rx) = oneshot::channel();
        // A send fails only once the actor ended; the dropped reply then answers `Stopped`.
        let _ = self.tx.send(make(tx));
        Call { rx }
    }

    /// Judges and stores a finished parcel.
    pub fn commit(&self, f: Box<Finished>) -> Call<Committed, CommitFailed> {
        self.call(|reply| Command::Commit(f, reply))
    }

    /// Records an operator's resolution of a scan.
    pub fn resolve(
        &self,
        scan_id: &str,
        request: ResolutionRequest,
    ) -> Call<Resolution, ResolveFailed> {
        let scan_id = scan_id.to_owned();
        self.call(|reply| Command::Resolve {
            scan_id,
            request,
            reply,
        })
    }

    /// Validates a rate card (from head office) and puts it in force.
    pub fn apply_rate_card(&self, body: String) -> Call<RateCardApplied, RateCardRefused> {
        self.call(|reply| Command::ApplyRateCard { body, reply })
    }

    /// Loads manifest entries (a CSV import) and judges again the scans they concern.
    pub fn import_manifest(
        &self,
        entries: Vec<ManifestEntry>,
        source: &str,
    ) -> Call<ManifestApplied> {
        let source = source.to_owned();
        self.call(|reply| Command::Manifest {
            entries,
            source,
            cursor: None,
            reply,
        })
    }

    /// Loads a manifest page pulled from head office and its cursor, then judges again.
    pub fn apply_manifest_page(
        &self,
        entries: Vec<ManifestEntry>,
        cursor: &str,
    ) -> Call<ManifestApplied> {
        let cursor = Some(cursor.to_owned());
        self.call(|reply| Command::Manifest {
            entries,
            source: "head office".into(),
            cursor,
            reply,
        })
    }

    /// Marks outbox rows delivered (head office acknowledged them).
    pub fn mark_delivered(&self, seqs: Vec<i64>, at: Timestamp) -> Call<usize> {
        self.call(|reply| Command::MarkDelivered { seqs, at, reply })
    }

    pub fn set_last_upload_ok(&self, at: Timestamp) -> Call<()> {
        self.call(|reply| Command::SetLastUploadOk { at, reply })
    }

    /// Head office acknowledged the audit chain through entry `seq`.
    pub fn set_audit_sent(&self, seq: u64) -> Call<()> {
        self.call(|reply| Command::SetAuditSent { seq, reply })
    }

    /// Applies the duties rule as of `now` (the actor also does at start and daily).
    pub fn check_duties(&self, now: Timestamp) -> Call<Vec<Resolution>> {
        self.call(|reply| Command::CheckDuties { now, reply })
    }

    /// Puts a reloaded (already validated) configuration's rules in force from the next
    /// parcel: limits, destinations, tolerance, waybill formats, and its rate card when it
    /// names a new one (a card pulled from head office stays otherwise). Answers the version
    /// in force and whether it changed.
    pub fn apply_config(&self, opts: StartOptions, why: &str) -> Call<(u64, bool)> {
        let why = why.to_owned();
        self.call(|reply| Command::ApplyConfig {
            opts: Box::new(opts),
            why,
            reply,
        })
    }

    /// Prices these scans again with the rate card in force (billing asked).
    pub fn reprice(&self, scan_ids: Vec<String>) -> Call<Vec<Resolution>> {
        self.call(|reply| Command::Reprice { scan_ids, reply })
    }

    /// Stores a calibration of the empty station (numbered one above the last, chained) and
    /// puts it in force from the next parcel.
    pub fn calibrate(&self, measured: Measured, source: &str) -> Call<Calibration> {
        let source = source.to_owned();
        self.call(|reply| Command::Calibrate {
            measured: Box::new(measured),
            source,
            reply,
        })
    }

    /// Stores a verification with a reference box (chained).
    pub fn record_verification(
        &self,
        calibration_number: Option<u64>,
        passed: bool,
        report: Value,
    ) -> Call<Verification> {
        self.call(|reply| Command::Verified {
            calibration_number,
            passed,
            report,
            reply,
        })
    }

    /// The calibration in force (`None`: the station was never calibrated).
    pub fn calibration(&self) -> Option<Arc<Calibration>> {
        self.calibration.borrow().clone()
    }

    /// Runs a read on the actor's connection, in order with the writes before it.
    pub fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Call<T> {
        self.call(|reply| {
            Command::Read(Box::new(move |st: &Store| {
                let _ = reply.send(f(st));
            }))
        })
    }

    /// What is in force now.
    pub fn in_force(&self) -> Arc<InForce> {
        self.in_force.borrow().clone()
    }

    /// The number of the newest event published.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::SeqCst)
    }

    /// Every event from now on, in order.
    pub fn subscribe(&self) -> Subscription {
        let rx = self.events.subscribe();
        let next = self.head() + 1;
        Subscription {
            rx,
            next,
            records: self.clone(),
            backlog: VecDeque::new(),
        }
    }

    /// Every event numbered after `after`, in order (those already stored first).
    pub fn subscribe_after(&self, after: u64) -> Subscription {
        let mut s = self.subscribe();
        s.next = after.saturating_add(1).min(s.next);
        s
    }
}

/// One subscriber's ordered view of the events: every event once, in order, none dropped.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Event>>,
    next: u64,
    records: Records,
    backlog: VecDeque<Arc<Event>>,
}

impl Subscription {
    /// The next event; `None` once the actor has stopped and every event was delivered.
    pub async fn next(&mut self) -> Option<Arc<Event>> {
        loop {
            if let Some(ev) = self.backlog.pop_front() {
                if ev.seq == self.next {
                    self.next += 1;
                    return Some(ev);
                }
                continue;
            }
            if self.records.head() >= self.next && self.rx.is_empty() {
                // Behind, with nothing buffered that could fill the gap: read the store.
                if !self.catch_up().await {
                    return None;
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(ev) if ev.seq < self.next => {}
                Ok(ev) if ev.seq == self.next => {
                    self.next += 1;
                    return Some(ev);
                }
                Ok(ev) => {
                    // A gap (subscribed late, or lagged): read the missing ones back.
                    if !self.catch_up().await {
                        return None;
                    }
                    self.backlog.push_back(ev);
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(
                        missed = n,
                        "event subscriber fell behind; reading the store"
                    );
                    if !self.catch_up().await {
                        return None;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    return None;
                }
            }
        }
    }

    /// Reads events from `next` on from the store into the backlog; false if the store
    /// cannot be read (the actor stopped).
    async fn catch_up(&mut self) -> bool {
        let after = self.next - 1;
        match self
            .records
            .read(move |st| st.events_since(after, CATCH_UP_PAGE))
            .await
        {
            Ok(evs) => {
                let got = !evs.is_empty();
                self.backlog.extend(evs.into_iter().map(Arc::new));
                got || self.records.head() < self.next
            }
            Err(e) => {
                warn!(error = %e, "cannot read missed events from the store");
                false
            }
        }
    }
}

/// Puts the config's rules in force at start. The rate card: the config's, unless the
/// config's card is the same one as at the last start and another card (pulled from head
/// office) was put in force since — the newest card applied wins, from either side.
fn put_config_in_force(
    store: &mut Store,
    opts: &StartOptions,
    why: &str,
    now: Timestamp,
) -> Result<(InForce, Option<Event>), StoreError> {
    const KEY_CONFIG_CARD: &str = "config_rate_card_version";
    let previous = store.in_force()?;
    let config_card_seen = store.state(KEY_CONFIG_CARD)?;
    let mut policy = opts.policy.clone();
    let pulled = match &previous {
        Some(p) => Some(p.policy.card.clone()),
        // A store from before versions were kept: the card pulled then.
        None => store.legacy_pulled_rate_card()?,
    };
    if config_card_seen.as_deref() == Some(opts.policy.card.version.as_str())
        && let Some(card) = pulled
    {
        policy.card = card;
    }
    let tx = store.conn.transaction()?;
    tx.execute(
        "INSERT OR IGNORE INTO rate_cards (version, body, loaded_at_ms) VALUES (?1, ?2, ?3)",
        rusqlite::params![
            opts.policy.card.version,
            opts.rate_card_text,
            super::ms(now)
        ],
    )?;
    Store::set_state_in(&tx, KEY_CONFIG_CARD, &opts.policy.card.version)?;
    let (in_force, changed) = Store::put_in_force_in(&tx, &policy, &opts.waybill, why, now)?;
    let ev = if changed {
        Some(Store::append_event_in(
            &tx,
            now,
            EventKind::InForce {
                version: in_force.version,
                rate_card: in_force.policy.card.version.clone(),
                why: why.to_owned(),
            },
        )?)
    } else {
        None
    };
    tx.commit()?;
    info!(version = in_force.version, rate_card = %in_force.policy.card.version, "in force");
    Ok((in_force, ev))
}

/// The configuration's baselines become calibration 1 when the store holds none (the
/// migration path from hand-written baselines); afterwards the configuration's values are
/// not used.
fn import_config_baselines(
    store: &mut Store,
    opts: &StartOptions,
    now: Timestamp,
) -> Result<Option<Event>, StoreError> {
    let Some(measured) = &opts.config_baselines else {
        return Ok(None);
    };
    if store.calibration_in_force()?.is_some() {
        return Ok(None);
    }
    let tx = store.conn.transaction()?;
    let c = Store::insert_calibration_in(&tx, measured, CONFIG_IMPORT, now)?;
    let ev = Store::append_event_in(&tx, now, EventKind::Calibrated(Box::new(c.clone())))?;
    tx.commit()?;
    warn!(
        calibration = c.number,
        "the configuration's [dimensions.sensors] baselines were imported as a calibration; they are not used again: calibrate the empty station (intake calibrate) and remove them"
    );
    Ok(Some(ev))
}

/// The source of a calibration imported from the configuration's baselines.
pub const CONFIG_IMPORT: &str = "configuration baselines (imported once)";

/// Now, at the store's precision (milliseconds): what a command answers is exactly what
/// was stored.
fn now_ms() -> Timestamp {
    let now = Timestamp::now();
    Timestamp::from_millisecond(now.as_millisecond()).unwrap_or(now)
}

struct Pending {
    finished: Box<Finished>,
    id: String,
    at: Timestamp,
}

fn judge_pending(
    store: &Store,
    station_id: &str,
    in_force: &InForce,
    calibration: Option<u64>,
    p: &Pending,
) -> Result<(ScanRecord, Duration), StoreError> {
    let t0 = Instant::now();
    let entry = match &p.finished.measurement.waybill {
        WaybillRead::Read(w) => store.manifest_entry(w)?,
        _ => None,
    };
    let rec = decide::scan(
        &p.finished,
        entry.as_ref(),
        in_force,
        &store.station_facts()?,
        station_id,
        (p.id.clone(), p.at),
    );
    let rec = ScanRecord {
        calibration_number: calibration,
        ..rec
    };
    Ok((rec, t0.elapsed()))
}

/// Judges and stores one parcel: the scan, its outbox row and its event in one transaction.
fn store_scan(
    store: &mut Store,
    station_id: &str,
    in_force: &InForce,
    calibration: Option<u64>,
    p: &Pending,
) -> Result<(ScanRecord, Event, Duration, Duration), StoreError> {
    let (rec, judged) = judge_pending(store, station_id, in_force, calibration, p)?;
    let t0 = Instant::now();
    let tx = store.conn.transaction()?;
    Store::insert_scan_in(&tx, &rec)?;
    let ev = Store::append_event_in(
        &tx,
        rec.created_at,
        EventKind::ScanCommitted(Box::new(rec.clone())),
    )?;
    tx.commit()?;
    Ok((rec, ev, judged, t0.elapsed()))
}

struct Actor {
    store: Store,
    station_id: String,
    in_force: watch::Sender<Arc<InForce>>,
    calibration: watch::Sender<Option<Arc<Calibration>>>,
    events: broadcast::Sender<Arc<Event>>,
    head: Arc<AtomicU64>,
    pending: VecDeque<Pending>,
    colour: bool,
    /// The reserve file, while it is held.
    reserve: Option<PathBuf>,
    /// The reserve released to write the spill file at shutdown, while it is held.
    spill_reserve: Option<PathBuf>,
    /// The data folder (the spill file's), when the actor holds its lock.
    data_dir: Option<PathBuf>,
    _lock: Option<DataLock>,
}

impl Actor {
    fn run(&mut self, rx: std_mpsc::Receiver<Command>) {
        self.import_spill();
        self.sweep();
        let mut next_duties = Instant::now();
        loop {
            if Instant::now() >= next_duties {
                if let Err(e) = self.check_duties(now_ms()) {
                    warn!(error = %e, "the duties rule could not be checked; tried again tomorrow");
                }
                next_duties = Instant::now() + DUTIES_EVERY;
            }
            match rx.recv_timeout(RETRY_EVERY) {
                Ok(Command::Stop(reply)) => {
                    let n = self.shutdown();
                    let _ = reply.send(n);
                    return;
                }
                Ok(cmd) => self.supervised(|a| a.handle(cmd)),
                Err(std_mpsc::RecvTimeoutError::Timeout) => self.supervised(Actor::retry_pending),
                Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    self.shutdown();
                    return;
                }
            }
        }
    }

    /// Runs one step; a panic in it (a bug, a corrupt row) is logged and the actor goes on
    /// with its queue intact. The command's caller gets [`StoreError::Stopped`] (its reply
    /// was dropped), the station shows NOT STORED, and the scan is retried.
    fn supervised(&mut self, step: impl FnOnce(&mut Actor)) {
        let run = std::panic::AssertUnwindSafe(|| step(self));
        if let Err(panic) = std::panic::catch_unwind(run) {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            error!(panic = %why, waiting = self.pending.len(),
                "the store actor failed a command and goes on; unstored scans are retried");
        }
    }

    fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Commit(f, reply) => {
                let r = self.commit(f);
                let _ = reply.send(r);
            }
            Command::Resolve {
                scan_id,
                request,
                reply,
            } => {
                let _ = reply.send(self.resolve(&scan_id, &request));
            }
            Command::ApplyRateCard { body, reply } => {
                let _ = reply.send(self.apply_rate_card(&body));
            }
            Command::Manifest {
                entries,
                source,
                cursor,
                reply,
            } => {
                let _ = reply.send(self.manifest(&entries, &source, cursor.as_deref()));
            }
            Command::MarkDelivered { seqs, at, reply } => {
                let _ = reply.send(self.mark_delivered(&seqs, at));
            }
            Command::SetLastUploadOk { at, reply } => {
                let _ = reply.send(self.store.set_last_upload_ok(at));
            }
            Command::SetAuditSent { seq, reply } => {
                let _ = reply.send(self.store.set_audit_sent(seq));
            }
            Command::CheckDuties { now, reply } => {
                let _ = reply.send(self.check_duties(now));
            }
            Command::ApplyConfig { opts, why, reply } => {
                let r = put_config_in_force(&mut self.store, &opts, &why, now_ms()).map(
                    |(in_force, ev)| {
                        let v = in_force.version;
                        let changed = ev.is_some();
                        self.in_force.send_replace(Arc::new(in_force));
                        if let Some(ev) = ev {
                            self.publish(ev);
                        }
                        (v, changed)
                    },
                );
                let _ = reply.send(r);
            }
            Command::Reprice { scan_ids, reply } => {
                let _ = reply.send(self.reprice(&scan_ids));
            }
            Command::Calibrate {
                measured,
                source,
                reply,
            } => {
                let _ = reply.send(self.calibrate(&measured, &source));
            }
            Command::Verified {
                calibration_number,
                passed,
                report,
                reply,
            } => {
                let _ = reply.send(self.record_verification(calibration_number, passed, &report));
            }
            Command::Read(f) => f(&self.store),
            Command::Stop(_) => {}
        }
    }

    fn publish(&mut self, ev: Event) {
        self.head.store(ev.seq, Ordering::SeqCst);
        // No subscriber is fine; a slow one catches up from the store.
        let _ = self.events.send(Arc::new(ev));
    }

    fn in_force(&self) -> Arc<InForce> {
        self.in_force.borrow().clone()
    }

    /// Stores what it can; the rest goes to the spill file (imported at the next start).
    /// Returns how many scans stayed unstored.
    fn shutdown(&mut self) -> usize {
        self.retry_pending();
        if self.pending.is_empty() {
            return 0;
        }
        let judged: Vec<(String, Result<ScanRecord, StoreError>)> = self
            .pending
            .iter()
            .map(|p| (p.id.clone(), self.judge(p).map(|(r, _)| r)))
            .collect();
        let records: Vec<ScanRecord> = judged
            .iter()
            .filter_map(|(_, r)| r.as_ref().ok().cloned())
            .collect();
        let spilled = match &self.data_dir {
            Some(dir) if !records.is_empty() => self.spill(dir.clone(), &records),
            _ => false,
        };
        for (id, rec) in &judged {
            match rec {
                Ok(r) if spilled => {
                    warn!(scan_id = %id, waybill = r.waybill.as_deref().unwrap_or("-"),
                        "scan not stored at shutdown: kept in the spill file, stored at the next start");
                }
                // Last resort: the whole record in the log, so billing can recover it.
                Ok(r) => {
                    error!(scan_id = %id, record = %r.to_json(), "scan NOT stored at shutdown")
                }
                Err(e) => {
                    error!(scan_id = %id, error = %e, "scan NOT stored at shutdown and cannot be judged")
                }
            }
        }
        self.pending.len()
    }

    /// Writes unstored scans to the spill file, releasing its reserve when the disk is full.
    fn spill(&mut self, dir: PathBuf, records: &[ScanRecord]) -> bool {
        let mut result = super::spill::append(&dir, records);
        if result.is_err()
            && let Some(reserve) = self.spill_reserve.take()
        {
            let _ = std::fs::remove_file(&reserve);
            result = super::spill::append(&dir, records);
        }
        match result {
            Ok(path) => {
                warn!(file = %path.display(), scans = records.len(),
                    "unstored scans written to the spill file; they are stored at the next start");
                true
            }
            Err(e) => {
                error!(dir = %dir.display(), error = %e, "cannot write the spill file");
                false
            }
        }
    }

    /// Stores the scans of a spill file left by the last run (each once: a scan already
    /// stored is skipped), then removes the file. On a failure the file stays for the
    /// next start.
    fn import_spill(&mut self) {
        let Some(dir) = self.data_dir.clone() else {
            return;
        };
        let spilled = match super::spill::read(&dir) {
            Ok(Some(s)) => s,
            Ok(None) => return,
            Err(e) => {
                error!(dir = %dir.display(), error = %e, "cannot read the spill file; it stays");
                return;
            }
        };
        let (mut stored, mut present) = (0, 0);
        for s in &spilled.scans {
            match self.store_spilled(s) {
                Ok(true) => stored += 1,
                Ok(false) => present += 1,
                Err(e) => {
                    error!(scan_id = %s.id, error = %e,
                        "a spilled scan cannot be stored yet; the spill file stays for the next start");
                    return;
                }
            }
        }
        for (line, why) in &spilled.bad {
            error!(line, problem = %why, "a spill file line is not a scan; the file stays for a person to look at");
        }
        if spilled.bad.is_empty()
            && let Err(e) = super::spill::remove(&dir)
        {
            warn!(error = %e, "the spill file's scans are stored but the file cannot be removed");
        }
        info!(
            stored,
            already_stored = present,
            "spill file of the last run imported"
        );
    }

    /// Stores one spilled scan with its outbox row and event; false when it was stored
    /// already.
    fn store_spilled(&mut self, s: &ScanRecord) -> Result<bool, StoreError> {
        let tx = self.store.conn.transaction()?;
        if !Store::insert_scan_in(&tx, s)? {
            return Ok(false);
        }
        let ev = Store::append_event_in(
            &tx,
            s.created_at,
            EventKind::ScanCommitted(Box::new(s.clone())),
        )?;
        tx.commit()?;
        self.log_verdict(s, &[], true);
        self.publish(ev);
        Ok(true)
    }

    fn judge(&self, p: &Pending) -> Result<(ScanRecord, Duration), StoreError> {
        let cal = self.calibration_number();
        judge_pending(&self.store, &self.station_id, &self.in_force(), cal, p)
    }

    fn calibration_number(&self) -> Option<u64> {
        self.calibration.borrow().as_ref().map(|c| c.number)
    }

    fn calibrate(&mut self, measured: &Measured, source: &str) -> Result<Calibration, StoreError> {
        let now = now_ms();
        let tx = self.store.conn.transaction()?;
        let c = Store::insert_calibration_in(&tx, measured, source, now)?;
        let ev = Store::append_event_in(&tx, now, EventKind::Calibrated(Box::new(c.clone())))?;
        tx.commit()?;
        info!(calibration = c.number, source, "calibration in force");
        self.calibration.send_replace(Some(Arc::new(c.clone())));
        self.publish(ev);
        Ok(c)
    }

    fn record_verification(
        &mut self,
        calibration_number: Option<u64>,
        passed: bool,
        report: &Value,
    ) -> Result<Verification, StoreError> {
        let now = now_ms();
        let tx = self.store.conn.transaction()?;
        let v = Store::insert_verification_in(&tx, now, calibration_number, passed, report)?;
        let ev = Store::append_event_in(&tx, now, EventKind::Verified(Box::new(v.clone())))?;
        tx.commit()?;
        info!(verification = v.id, passed, "verification stored");
        self.publish(ev);
        Ok(v)
    }

    /// Judges and stores the oldest unstored scan (it stays queued until stored). A full
    /// disk releases the reserve once and tries again.
    fn store_front(
        &mut self,
    ) -> Option<Result<(ScanRecord, Event, Duration, Duration), StoreError>> {
        let in_force = self.in_force();
        let cal = self.calibration_number();
        let front = self.pending.front()?;
        let first = store_scan(&mut self.store, &self.station_id, &in_force, cal, front);
        if let Err(StoreError::DiskFull) = first
            && let Some(reserve) = self.reserve.take()
        {
            match std::fs::remove_file(&reserve) {
                Ok(()) => {
                    warn!(reserve = %reserve.display(),
                        "the disk is full: released the reserve to store the scan; free space now");
                    return Some(store_scan(
                        &mut self.store,
                        &self.station_id,
                        &in_force,
                        cal,
                        front,
                    ));
                }
                Err(e) => {
                    warn!(error = %e, "the disk is full and the reserve cannot be released")
                }
            }
        }
        Some(first)
    }

    /// Queues the parcel behind any scans still unstored (order is kept) and stores the
    /// queue from its front. A scan leaves the queue only once stored, so a failure — or a
    /// panic the actor survives — never loses it.
    fn commit(&mut self, f: Box<Finished>) -> Result<Committed, CommitFailed> {
        let p = Pending {
            finished: f,
            id: new_scan_id(),
            at: now_ms(),
        };
        let id = p.id.clone();
        self.pending.push_back(p);
        loop {
            let is_new = self.pending.front().is_some_and(|p| p.id == id);
            let Some(result) = self.store_front() else {
                // Unreachable: the parcel was queued above and leaves only once stored.
                return Err(CommitFailed {
                    scan_id: id,
                    error: "the scan left the queue unstored".into(),
                });
            };
            match result {
                Ok((rec, ev, judge, commit)) => {
                    let Some(p) = self.pending.pop_front() else {
                        continue;
                    };
                    self.log_verdict(&rec, &p.finished.notes, !is_new);
                    let seq = ev.seq;
                    self.publish(ev);
                    if is_new {
                        return Ok(Committed {
                            parcel: p.finished.parcel,
                            signal: decide::verdict_signal(&rec),
                            record: rec,
                            timings: p.finished.timings,
                            judge,
                            commit,
                            event: seq,
                        });
                    }
                }
                Err(e) => {
                    error!(scan_id = %id, error = %e, waiting = self.pending.len(),
                        "scan not stored; keeping it and retrying");
                    return Err(CommitFailed {
                        scan_id: id,
                        error: e.to_string(),
                    });
                }
            }
        }
    }

    fn retry_pending(&mut self) {
        while let Some(result) = self.store_front() {
            match result {
                Ok((rec, ev, _, _)) => {
                    if let Some(p) = self.pending.pop_front() {
                        self.log_verdict(&rec, &p.finished.notes, true);
                    }
                    self.publish(ev);
                }
                Err(e) => {
                    tracing::debug!(error = %e, waiting = self.pending.len(), "still not stored");
                    return;
                }
            }
        }
    }

    /// Stores resolutions (and their outbox rows and events) in one transaction.
    fn store_resolutions(&mut self, rs: &[Resolution]) -> Result<(), StoreError> {
        if rs.is_empty() {
            return Ok(());
        }
        let tx = self.store.conn.transaction()?;
        let mut evs = Vec::with_capacity(rs.len());
        for r in rs {
            if Store::insert_resolution_in(&tx, r)? {
                evs.push(Store::append_event_in(
                    &tx,
                    r.created_at,
                    EventKind::ResolutionRecorded(Box::new(r.clone())),
                )?);
            }
        }
        tx.commit()?;
        for ev in evs {
            self.publish(ev);
        }
        Ok(())
    }

    fn resolve(
        &mut self,
        scan_id: &str,
        req: &ResolutionRequest,
    ) -> Result<Resolution, ResolveFailed> {
        let scan = self
            .store
            .scan(scan_id)?
            .ok_or_else(|| ResolveFailed::NoSuchScan(scan_id.to_owned()))?;
        let earlier = self.store.resolutions_of(scan_id)?;
        let in_force = self.in_force();
        let entry = match decide::requested_waybill(req, &in_force.waybill)? {
            Some(w) => self.store.manifest_entry(&w)?,
            None => None,
        };
        let r = decide::operator_resolution(
            &scan,
            &earlier,
            req,
            &in_force.waybill,
            entry.as_ref(),
            &in_force.policy,
            new_scan_id(),
            now_ms(),
        )?;
        self.store_resolutions(std::slice::from_ref(&r))?;
        info!(scan_id = %r.scan_id, waybill = r.waybill.as_deref().unwrap_or("-"),
            disposition = ?r.disposition, "operator resolution stored");
        Ok(r)
    }

    fn apply_rate_card(&mut self, body: &str) -> Result<RateCardApplied, RateCardRefused> {
        let now = now_ms();
        let current = self.in_force();
        let tx = self.store.conn.transaction().map_err(StoreError::from)?;
        let card = Store::check_rate_card_in(&tx, body, &current.policy.destinations.served, now)?;
        let mut policy = current.policy.clone();
        policy.card = card.clone();
        let why = format!("rate card {} from head office", card.version);
        let (in_force, changed) =
            Store::put_in_force_in(&tx, &policy, &current.waybill, &why, now)?;
        let ev = if changed {
            Some(Store::append_event_in(
                &tx,
                now,
                EventKind::InForce {
                    version: in_force.version,
                    rate_card: card.version.clone(),
                    why: why.clone(),
                },
            )?)
        } else {
            None
        };
        tx.commit().map_err(StoreError::from)?;
        if let Some(ev) = ev {
            info!(version = in_force.version, rate_card = %card.version, "rate card from head office in force");
            self.in_force.send_replace(Arc::new(in_force));
            self.publish(ev);
        }
        Ok(RateCardApplied { card, changed })
    }

    fn manifest(
        &mut self,
        entries: &[ManifestEntry],
        source: &str,
        cursor: Option<&str>,
    ) -> Result<ManifestApplied, StoreError> {
        let now = now_ms();
        let tx = self.store.conn.transaction()?;
        let mut counts = ImportCounts::default();
        let changed = Store::upsert_manifest_in(&tx, entries, source, now, &mut counts)?;
        if let Some(c) = cursor {
            Store::set_state_in(&tx, super::outbox::KEY_CURSOR, c)?;
        }
        let ev = if changed.is_empty() {
            None
        } else {
            Some(Store::append_event_in(
                &tx,
                now,
                EventKind::ManifestChanged {
                    source: source.to_owned(),
                    inserted: counts.inserted as u64,
                    updated: counts.updated as u64,
                },
            )?)
        };
        tx.commit()?;
        if let Some(ev) = ev {
            self.publish(ev);
        }
        let rejudged = self.rejudge(Some(&changed))?;
        Ok(ManifestApplied {
            counts,
            changed,
            rejudged,
        })
    }

    /// Judges again the scans standing on a reason a manifest change can lift (all of them,
    /// or those of `waybills`). At start this catches up after a crash between a manifest
    /// change and its re-judging.
    fn rejudge(&mut self, waybills: Option<&[String]>) -> Result<Vec<Resolution>, StoreError> {
        const LIFTABLE: [Reason; 3] = [
            Reason::UnknownWaybill,
            Reason::IdRequired,
            Reason::DutiesUnpaid,
        ];
        let candidates = match waybills {
            Some([]) => return Ok(Vec::new()),
            Some(ws) => {
                let mut all = Vec::new();
                for w in ws {
                    all.extend(self.store.scans_standing_on(&LIFTABLE, Some(w))?);
                }
                all
            }
            None => self.store.scans_standing_on(&LIFTABLE, None)?,
        };
        let now = now_ms();
        let in_force = self.in_force();
        let mut made = Vec::new();
        for scan in candidates {
            let earlier = self.store.resolutions_of(&scan.id)?;
            let st = decide::standing(&scan, &earlier);
            let Some(w) = st.waybill.as_deref() else {
                continue;
            };
            let Some(entry) = self.store.manifest_entry(w)? else {
                continue;
            };
            if let Some(r) =
                decide::on_manifest_change(&scan, &earlier, &entry, &in_force, new_scan_id(), now)
            {
                info!(scan_id = %r.scan_id, waybill = w, disposition = ?r.disposition,
                    note = r.note.as_deref().unwrap_or(""), "scan judged again");
                made.push(r);
            }
        }
        self.store_resolutions(&made)?;
        Ok(made)
    }

    fn sweep(&mut self) {
        if let Err(e) = self.rejudge(None) {
            warn!(error = %e, "scans waiting for manifest changes could not be judged again at start");
        }
    }

    fn check_duties(&mut self, now: Timestamp) -> Result<Vec<Resolution>, StoreError> {
        let mut made = Vec::new();
        for scan in self
            .store
            .scans_standing_on(&[Reason::DutiesUnpaid], None)?
        {
            let earlier = self.store.resolutions_of(&scan.id)?;
            if let Some(r) = decide::duties_overdue(&scan, &earlier, now, new_scan_id()) {
                warn!(scan_id = %r.scan_id, waybill = r.waybill.as_deref().unwrap_or("-"),
                    "duties unpaid 30 days after intake: return to sender");
                made.push(r);
            }
        }
        self.store_resolutions(&made)?;
        Ok(made)
    }

    fn reprice(&mut self, scan_ids: &[String]) -> Result<Vec<Resolution>, StoreError> {
        let now = now_ms();
        let in_force = self.in_force();
        let mut made = Vec::new();
        for id in scan_ids {
            let Some(scan) = self.store.scan(id)? else {
                continue;
            };
            let earlier = self.store.resolutions_of(id)?;
            let st = decide::standing(&scan, &earlier);
            let Some(entry) = st
                .waybill
                .as_deref()
                .map(|w| self.store.manifest_entry(w))
                .transpose()?
                .flatten()
            else {
                continue;
            };
            made.extend(decide::reprice(
                &scan,
                &earlier,
                &entry,
                &in_force,
                new_scan_id(),
                now,
            ));
        }
        self.store_resolutions(&made)?;
        Ok(made)
    }

    fn mark_delivered(&mut self, seqs: &[i64], at: Timestamp) -> Result<usize, StoreError> {
        let tx = self.store.conn.transaction()?;
        let n = Store::mark_delivered_in(&tx, seqs, at)?;
        let ev = if n > 0 {
            Some(Store::append_event_in(
                &tx,
                at,
                EventKind::Delivered { records: n as u64 },
            )?)
        } else {
            None
        };
        tx.commit()?;
        if let Some(ev) = ev {
            self.publish(ev);
        }
        Ok(n)
    }

    fn log_verdict(&self, r: &ScanRecord, notes: &[String], late: bool) {
        let headline = r.disposition.headline();
        let headline = if self.colour {
            let code = match r.disposition.light() {
                Light::Green => "1;32",
                Light::Amber => "1;33",
                Light::Red => "1;31",
                Light::Off => "0",
            };
            format!("\x1b[{code}m{headline}\x1b[0m")
        } else {
            headline.to_owned()
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let weight = opt(r.weight.map(|w| w.to_string()));
        let dims = opt(r.dims.map(|d| d.to_string()));
        let price = opt(r
            .price
            .map(|p| format!("{} {}", r.currency.as_deref().unwrap_or(""), p)));
        let adjustment = opt(r.adjustment.map(|a| a.to_string()));
        let reasons = r.reasons_text();
        let waybill = r.waybill.as_deref().unwrap_or("-");
        if late {
            warn!(scan_id = %r.id, waybill, "scan stored after a retry");
        }
        info!(
            target: "intake::verdict",
            scan_id = %r.id,
            waybill,
            weight = %weight,
            dims = %dims,
            disposition = %r.disposition,
            reasons = %reasons,
            price = %price,
            adjustment = %adjustment,
            notes = %notes.join("; "),
            "{headline}"
        );
    }
}

/// Makes sure the reserve file holds its space (written, not sparse); `None` when it
/// cannot (the disk is already too full: the station runs without a reserve).
fn hold_reserve(path: &Path, bytes: u64) -> Option<PathBuf> {
    if std::fs::metadata(path).is_ok_and(|m| m.len() >= bytes) {
        return Some(path.to_path_buf());
    }
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        let block = vec![0u8; 64 * 1024];
        for _ in 0..bytes.div_ceil(block.len() as u64) {
            f.write_all(&block)?;
        }
        f.sync_all()
    };
    match write() {
        Ok(()) => Some(path.to_path_buf()),
        Err(e) => {
            let _ = std::fs::remove_file(path);
            warn!(reserve = %path.display(), error = %e, "no space for the disk-full reserve");
            None
        }
    }
}

/// The data folder's lock: one daemon (or one writing command) per data folder. Released
/// when dropped, and by the kernel when the process dies.
#[derive(Debug)]
pub struct DataLock {
    _file: std::fs::File,
    path: PathBuf,
}

impl DataLock {
    /// The lock file's name in the data folder.
    pub const FILE: &'static str = "intake.lock";

    pub fn acquire(data_dir: &Path) -> Result<DataLock, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DataLock::FILE);
        let lock_err = |source: std::io::Error| StoreError::DataDir {
            dir: data_dir.to_path_buf(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(StoreError::Locked {
                    path,
                    holder: holder.trim().chars().take(40).collect(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_err(e)),
        }
        Ok(DataLock { _file: file, path })
    }

    /// Writes this process's id into the lock file: who holds it, for the message a
    /// second instance prints (and for tools that wait for the daemon).
    pub fn announce(&self) {
        let mut file = &self._file;
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = write!(file, "{}", std::process::id());
        let _ = file.flush();
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
