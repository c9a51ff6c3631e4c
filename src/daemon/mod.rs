//! The daemon: starts everything in one place, then only drives. The one place that spawns
//! tasks.
//!
//! Start-up, in order ([`run`]): the store actor (the one writer; it takes the data folder's
//! lock and puts the config in force), the manifest preload, the devices, head-office sync,
//! the dashboard. Then [`drive`] passes device events into the station (a pure state
//! machine), and the station's outputs to the devices and to the store actor: a finished
//! parcel is committed by the actor, which judges it with what is in force and stores it
//! before the station lights the verdict. Everyone else learns what happened from the
//! actor's numbered events.

pub mod calibration;
pub mod devices;
pub mod evidence;
pub mod reload;
pub mod status;
pub mod systemd;
mod timing;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use intake_hal::{BoxFuture, Indicator, Scale, Signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::Settings;
use crate::judge::{Problem, WaybillRead};
use crate::measure::calibration::{Calibration, Readings};
use crate::quantity::Dims;
use crate::rules::Disposition;
use crate::station::{Input, Notice, Output, Phase, Station};
use crate::store::actor::{CommitFailed, Owner};
use crate::store::{Committed, EventKind, Records, StartOptions, Store, StoreError, Subscription};
use calibration::{
    CalWatch, CalibrateRequest, DimsJob, EmptyReadings, calibrate_on_request, on_empty,
    watch_empty_station,
};

pub use crate::decide::verdict_signal;
pub use timing::{Durations, Timing, quantile_ms};

/// Measures a parcel's dimensions (range finders + dimensioning).
pub trait DimsSource: Send {
    /// A parcel's box against the calibration in force.
    fn measure(&mut self, cal: &Calibration) -> BoxFuture<'_, Result<Dims, (Problem, String)>>;
    /// `samples` readings of every sensor (the empty station: calibration, drift).
    fn readings(&mut self, samples: usize) -> BoxFuture<'_, Readings>;
}

/// Captures and decodes the label.
pub trait LabelSource: Send {
    fn read(&mut self) -> BoxFuture<'_, LabelRead>;
}

/// A decoded label and what it cost.
#[derive(Debug, Clone)]
pub struct LabelRead {
    pub read: WaybillRead,
    /// Capture plus decode.
    pub took: Duration,
    /// Why there is no read, when a device failed (not when the label had no barcode).
    pub error: Option<String>,
    /// The frame and the symbols found on it, kept as the scan's evidence image.
    pub frame: Option<Box<evidence::EvidenceFrame>>,
}

/// The station's devices, as the config chose them.
pub struct Devices {
    pub scale: Box<dyn Scale>,
    pub dims: Box<dyn DimsSource>,
    pub label: Box<dyn LabelSource>,
    pub indicator: Box<dyn Indicator>,
    /// The simulated dock's operator waits for `true` (the station is calibrated).
    pub dock_open: Option<tokio::sync::watch::Sender<bool>>,
    /// The serial scale's count of frames with notes, for `/metrics`.
    pub scale_notes: Option<intake_hal::scale::NoteCounts>,
}

/// How `intake run` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this many parcels were committed.
    pub parcels: Option<u64>,
    /// How the simulated dock runs (when the devices are simulated).
    pub sim: devices::SimOptions,
    /// Counts SIGHUPs: each one reloads the configuration file ([`reload`]).
    pub reload: Option<tokio::sync::watch::Receiver<u64>>,
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Devices that could not be opened (bad input: the config or the wiring).
    #[error("{0}")]
    Devices(String),
    /// A configuration that cannot run (bad input).
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    Web(#[from] crate::web::WebError),
    #[error("cannot start: {0}")]
    Thread(std::io::Error),
}

impl DaemonError {
    /// The operator's or technician's input is at fault (exit 2), not the machine.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            DaemonError::Devices(_)
                | DaemonError::Config(_)
                | DaemonError::Store(StoreError::Locked { .. })
        )
    }
}

/// What a run did: counts and timings (fixed-size histograms: memory stays flat however
/// long the daemon runs).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub parcels: u64,
    pub by_disposition: BTreeMap<Disposition, u64>,
    pub repriced: u64,
    /// Sum of the repriced parcels' adjustments (cents; positive: customers owe more).
    pub adjustments_cents: i64,
    pub timing: Timing,
    /// A bounded run gave up: the store failed this long (`[station] give_up_after`).
    pub gave_up: Option<Duration>,
    /// Scans still unstored when the run ended (written to the spill file, stored at the
    /// next start).
    pub unstored: usize,
}

impl Summary {
    /// A scan stored during this run: counted from the store's events, so a scan kept
    /// after a failed commit and stored on a retry counts too.
    fn stored(&mut self, record: &crate::scan::ScanRecord) {
        self.parcels += 1;
        *self.by_disposition.entry(record.disposition).or_default() += 1;
        if record.disposition == Disposition::AcceptRepriced {
            self.repriced += 1;
            self.adjustments_cents += record.adjustment.map_or(0, |a| a.cents());
        }
    }

    /// The timings of a parcel whose commit was confirmed at once.
    fn timed(&mut self, c: &Committed, cycle: Duration) {
        self.timing.cycle.record(cycle);
        self.timing.settle.record(c.timings.settle);
        self.timing.judge.record(c.judge);
        self.timing.commit.record(c.commit);
    }
}

/// Events from device tasks and the store, beside station inputs.
enum Event {
    Input(Input),
    Label { parcel: u64, read: LabelRead },
    Committed(Box<Committed>),
    CommitFailed { parcel: u64, failed: CommitFailed },
    Empty(EmptyReadings),
}

/// Starts the station in order — store actor, manifest, devices, sync, dashboard — runs it
/// until `shutdown` resolves (finishing the parcel in progress) or the requested number of
/// parcels is done, then stops everything in reverse order.
pub async fn run(
    settings: &Settings,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let (records, owner) = start_records(settings).await?;
    let result = run_with(settings, &records, opts, shutdown).await;
    let unstored = tokio::task::spawn_blocking(move || owner.stop())
        .await
        .unwrap_or(0);
    if unstored > 0 {
        error!(
            unstored,
            spill = %crate::store::spill::path_in(&settings.data_dir).display(),
            "scans were NOT stored; they are in the spill file (or, failing that, the log above)"
        );
    }
    result.map(|mut s| {
        s.unstored = unstored;
        s
    })
}

/// The store actor: takes the data folder's lock, migrates, puts the config in force.
async fn start_records(settings: &Settings) -> Result<(Records, Owner), DaemonError> {
    let data_dir = settings.data_dir.clone();
    let db = settings.db_path();
    let opts = StartOptions::from_settings(settings);
    tokio::task::spawn_blocking(move || Records::open(&data_dir, &db, opts))
        .await
        .map_err(|e| DaemonError::Thread(std::io::Error::other(e.to_string())))?
        .map_err(DaemonError::from)
}

/// Loads the configured manifest file through the store actor (idempotent).
async fn preload_manifest(settings: &Settings, records: &Records) -> Result<(), DaemonError> {
    let Some(src) = &settings.manifest_preload else {
        return Ok(());
    };
    let bytes = src.read().map_err(|e| {
        DaemonError::Config(format!(
            "cannot read manifest.preload {}: {e}",
            src.describe()
        ))
    })?;
    let parsed = crate::manifest::parse_csv(&bytes, &records.in_force().waybill)
        .map_err(|e| DaemonError::Config(format!("manifest.preload {}: {e}", src.describe())))?;
    for r in &parsed.rejected {
        warn!(file = %src.describe(), line = r.line, problem = %r.message, "manifest row skipped");
    }
    let applied = records
        .import_manifest(parsed.entries, &src.describe())
        .await?;
    info!(file = %src.describe(), new = applied.counts.inserted, updated = applied.counts.updated,
        rejudged = applied.rejudged.len(), "manifest loaded");
    Ok(())
}

async fn run_with(
    settings: &Settings,
    records: &Records,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    preload_manifest(settings, records).await?;
    let reader = Store::open_read_only(&settings.db_path())?;
    let (devs, dock) =
        devices::open(settings, &reader, &opts.sim).map_err(|e| DaemonError::Devices(e.0))?;
    drop(reader);
    let sync = crate::sync::SyncTask::from_settings(settings, records.clone())
        .map_err(|e| DaemonError::Config(e.to_string()))?;
    // One shutdown for everything: the station finishes its parcel, sync its batch.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let sync_task = sync.map(|t| tokio::spawn(t.run(stopped(stop_rx.clone()))));
    let hub = crate::web::Hub::new();
    let web = crate::web::WebServer::start(settings, hub.clone(), records.clone())?;
    let feeder = tokio::spawn(crate::web::feed(records.subscribe(), hub.clone()));
    let reloader = opts
        .reload
        .map(|hups| tokio::spawn(reload::on_hangup(settings.clone(), records.clone(), hups)));
    let summary = drive(
        settings,
        records,
        devs,
        Some(hub),
        opts.parcels,
        async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        },
    )
    .await;
    web.stop().await;
    feeder.abort();
    if let Some(r) = reloader {
        r.abort();
    }
    drop(dock);
    if let Some(t) = sync_task {
        t.abort();
    }
    summary
}

/// Drives the station until `shutdown` resolves (finishing the parcel in progress) or
/// `parcels` are done: device events in, station outputs out.
pub async fn drive(
    settings: &Settings,
    records: &Records,
    devices: Devices,
    hub: Option<crate::web::Hub>,
    parcels: Option<u64>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let Devices {
        mut scale,
        mut dims,
        mut label,
        mut indicator,
        dock_open,
        scale_notes,
    } = devices;
    if let (Some(h), Some(n)) = (&hub, scale_notes) {
        h.metrics().watch_scale_notes(n);
    }
    let (cal_tx, mut cal_rx) = mpsc::unbounded_channel::<CalibrateRequest>();
    if let Some(h) = &hub {
        h.set_calibrator(cal_tx);
    }
    let mut cal = CalWatch::default();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Event>();

    // The scale: every reading or error becomes a station input.
    let tx = ev_tx.clone();
    let scale_task = tokio::spawn(async move {
        loop {
            let input = match scale.next_reading().await {
                Ok(r) => Input::Weight(r),
                Err(e) => Input::ScaleError(e),
            };
            if tx.send(Event::Input(input)).is_err() {
                return;
            }
        }
    });

    // Dimensions and label: one request at a time each, answered as station inputs.
    let (dims_tx, mut dims_rx) = mpsc::unbounded_channel::<DimsJob>();
    let tx = ev_tx.clone();
    let dims_task = tokio::spawn(async move {
        while let Some(job) = dims_rx.recv().await {
            let ev = match job {
                DimsJob::Measure { parcel, cal } => {
                    let result = dims.measure(&cal).await;
                    if let Err((_, why)) = &result {
                        warn!(device = "dimensions", error = %why, "dimensions not measured");
                    }
                    Event::Input(Input::Dims { parcel, result })
                }
                DimsJob::Empty {
                    samples,
                    since,
                    purpose,
                } => Event::Empty(EmptyReadings {
                    since,
                    purpose,
                    readings: dims.readings(samples).await,
                }),
            };
            if tx.send(ev).is_err() {
                return;
            }
        }
    });
    let (label_tx, mut label_rx) = mpsc::unbounded_channel::<u64>();
    let tx = ev_tx.clone();
    let label_task = tokio::spawn(async move {
        while let Some(parcel) = label_rx.recv().await {
            let read = label.read().await;
            if tx.send(Event::Label { parcel, read }).is_err() {
                return;
            }
        }
    });

    let mut status = status::StatusFile::new(
        &settings.data_dir,
        &settings.station_id,
        &[
            "scale",
            "dimensions",
            "calibration",
            "camera",
            "indicator",
            "store",
        ],
    );
    // Not ready until calibrated: said from the first status on, so readiness never shows
    // ready before the (self-)calibration.
    let (ok, detail) = cal.health(records.calibration().as_deref());
    status.set_device("calibration", ok, detail);
    status.write();
    if let Some(h) = &hub {
        h.status(&status.doc);
    }
    let on_saved: evidence::OnSaved = match hub.clone() {
        Some(h) => Box::new(move |id: &str, usage| h.evidence_saved(id, usage)),
        None => Box::new(|_: &str, _| {}),
    };
    let evidence = evidence::EvidenceWriter::spawn(
        &evidence::dir_in(&settings.data_dir),
        settings.web.evidence,
        settings.storage.evidence_min_free,
        on_saved,
    )
    .map_err(DaemonError::Thread)?;
    let mut events: Subscription = records.subscribe();
    let mut frames: BTreeMap<u64, Box<evidence::EvidenceFrame>> = BTreeMap::new();
    // Frames of scans the store kept after a failed commit, by scan id: saved when the
    // retry stores the scan (or at the end, for the spill file's scans).
    let mut retrying: BTreeMap<String, Box<evidence::EvidenceFrame>> = BTreeMap::new();
    // Since when the store has failed, for `give_up_after` (bounded runs only).
    let mut failing_since: Option<Instant> = None;
    let give_up_after = settings.storage.give_up_after;
    let start = Instant::now();
    // Only `benches/station.rs` sets this: the station before the early trigger, to measure it.
    let trigger = match std::env::var_os("INTAKE_BENCH_LABEL_AT_STABLE") {
        Some(_) => crate::station::LabelTrigger::Stable,
        None => crate::station::LabelTrigger::Detected,
    };
    let mut station =
        Station::new(settings.station.clone(), start.into_std()).with_label_trigger(trigger);
    let mut summary = Summary::default();
    let mut detected: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut settled: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut shown: Option<u64> = None;
    let mut stopping = false;
    tokio::pin!(shutdown);
    info!(station = %settings.station_id, in_force = records.in_force().version, "station ready");
    indicator_show(&mut *indicator, &ready()).await;
    let mut heartbeat = systemd::Heartbeat::from_env();
    systemd::ready(&systemd::status_line(0, None, records.in_force().version));

    loop {
        let deadline = station.poll_timeout().map(Instant::from_std);
        tokio::select! {
            ev = ev_rx.recv() => {
                let Some(ev) = ev else { break };
                let now = Instant::now().into_std();
                match ev {
                    Event::Input(i) => station.handle_input(now, i),
                    Event::Label { parcel, mut read } => {
                        if let Some(h) = &hub {
                            h.label_read(&read.read, read.error.is_some());
                        }
                        if let Some(f) = read.frame.take() {
                            frames.insert(parcel, f);
                        }
                        if let Some(e) = &read.error {
                            warn!(device = "camera", error = %e, "label not read");
                        }
                        if status.set_device("camera", read.error.is_none(), read.error.clone()) {
                            status.write();
                        }
                        summary.timing.label.record(read.took);
                        station.handle_input(now, Input::Label { parcel, read: read.read });
                    }
                    Event::Committed(c) => {
                        let parcel = c.parcel;
                        let cycle = detected.remove(&parcel).map_or(Duration::ZERO, |t| t.elapsed());
                        summary.timed(&c, cycle);
                        if let Some(h) = &hub {
                            h.observe_cycle(cycle);
                        }
                        if let Some(f) = frames.remove(&parcel) {
                            evidence.save(&c.record.id, c.record.created_at, f);
                        }
                        frames.retain(|p, _| *p > parcel);
                        failing_since = None;
                        if status.set_device("store", true, None) {
                            status.write();
                        }
                        shown = Some(parcel);
                        station.handle_input(now, Input::Committed { parcel, signal: c.signal.clone() });
                    }
                    Event::CommitFailed { parcel, failed } => {
                        failing_since.get_or_insert_with(Instant::now);
                        if let Some(f) = frames.remove(&parcel)
                            && !failed.scan_id.is_empty()
                        {
                            retrying.insert(failed.scan_id.clone(), f);
                        }
                        // Scans come first: evidence gives back space down to its reserve.
                        evidence.make_room();
                        status.set_device("store", false, Some(failed.error.clone()));
                        status.write();
                        station.handle_input(now, Input::CommitFailed { parcel, error: failed.error });
                    }
                    Event::Empty(e) => on_empty(settings, records, &station, &mut cal, &dims_tx, e),
                }
            }
            Some(req) = cal_rx.recv() => {
                calibrate_on_request(settings, &station, &mut cal, &dims_tx, req);
            }
            () = sleep_until(deadline) => {
                station.handle_timeout(Instant::now().into_std());
            }
            () = sleep_until(failing_since.map(|t| t + give_up_after)), if parcels.is_some() => {
                error!(after = ?give_up_after, "the store has failed for give_up_after; giving up the run");
                summary.gave_up = Some(give_up_after);
                break;
            }
            ev = events.next() => {
                match ev {
                    Some(ev) => {
                        status.doc.last_event = ev.seq;
                        if let EventKind::ScanCommitted(rec) = &ev.kind {
                            summary.stored(rec);
                            if let Some(f) = retrying.remove(&rec.id) {
                                evidence.save(&rec.id, rec.created_at, f);
                            }
                        }
                        if let EventKind::InForce { version, rate_card, why } = &ev.kind {
                            info!(version, rate_card = %rate_card, why = %why, "pricing and judging with a new version");
                        }
                        if matches!(ev.kind, EventKind::ScanCommitted(_) | EventKind::ResolutionRecorded(_)) {
                            status.write();
                        }
                        // A scan kept after a failure was stored: the store works again.
                        let store_down = status.doc.devices.get("store").is_some_and(|h| !h.ok);
                        if store_down && matches!(ev.kind, EventKind::ScanCommitted(_)) {
                            info!("the store stores again; the station takes parcels");
                            failing_since = None;
                            status.set_device("store", true, None);
                            status.write();
                            station.handle_input(Instant::now().into_std(), Input::StoreRecovered);
                        }
                    }
                    None => {
                        error!("the store actor stopped; the station cannot store verdicts");
                        events = records.subscribe();
                    }
                }
            }
            () = heartbeat.tick() => {
                // From the loop itself: a stalled loop stops pinging and systemd restarts it.
                let (parcels, version) = (summary.parcels, records.in_force().version);
                let depth = records.read(|st| st.outbox_depth());
                heartbeat.beat();
                tokio::spawn(async move {
                    systemd::status(&systemd::status_line(parcels, depth.await.ok(), version));
                });
            }
            () = &mut shutdown, if !stopping => {
                info!("stopping: finishing the parcel in progress");
                systemd::stopping();
                stopping = true;
            }
        }
        while let Some(out) = station.poll_output() {
            match out {
                Output::MeasureDims { parcel } => match cal.gate(records.calibration()) {
                    Ok(cal) => {
                        let _ = dims_tx.send(DimsJob::Measure { parcel, cal });
                    }
                    Err((problem, why)) => {
                        warn!(device = "dimensions", error = %why, "not dimensioning");
                        station.handle_input(
                            Instant::now().into_std(),
                            Input::Dims {
                                parcel,
                                result: Err((problem, why)),
                            },
                        );
                    }
                },
                Output::ReadLabel { parcel } => {
                    let _ = label_tx.send(parcel);
                }
                Output::Commit(f) => {
                    let parcel = f.parcel;
                    let call = records.commit(f);
                    let tx = ev_tx.clone();
                    tokio::spawn(async move {
                        let ev = match call.await {
                            Ok(c) => Event::Committed(Box::new(c)),
                            Err(failed) => Event::CommitFailed { parcel, failed },
                        };
                        let _ = tx.send(ev);
                    });
                }
                Output::Indicate(s) => {
                    indicator_show(&mut *indicator, &s).await;
                    // The verdict is committed and now shown: the time the operator waited
                    // from the stable weight.
                    if let Some(p) = shown.take()
                        && let Some(t) = settled.remove(&p)
                    {
                        let waited = t.elapsed();
                        summary.timing.verdict.record(waited);
                        if let Some(h) = &hub {
                            h.observe_verdict(waited);
                        }
                    }
                }
                Output::Notice(n) => {
                    match &n {
                        Notice::ParcelDetected { parcel } => {
                            detected.insert(*parcel, Instant::now());
                        }
                        Notice::WeightSettled { parcel, .. } => {
                            settled.insert(*parcel, Instant::now());
                        }
                        Notice::StoreSlow { parcel } => {
                            failing_since.get_or_insert_with(Instant::now);
                            warn!(
                                parcel,
                                "the store has not confirmed the scan in time; NOT STORED is shown until it does"
                            );
                            status.set_device(
                                "store",
                                false,
                                Some("not answering: verdicts are NOT STORED".into()),
                            );
                            status.write();
                        }
                        Notice::ScaleFault { error } => {
                            status.set_device("scale", false, Some(error.clone()));
                            status.write();
                        }
                        Notice::ScaleRecovered | Notice::ZeroRestored => {
                            status.set_device("scale", true, None);
                            status.write();
                        }
                        Notice::OffZero { weight } => {
                            status.set_device(
                                "scale",
                                false,
                                Some(format!("off zero by {weight}: re-zero it")),
                            );
                            status.write();
                        }
                        Notice::ParcelRemoved { .. } => {}
                    }
                    log_notice(&n);
                }
            }
        }
        watch_empty_station(
            settings,
            records,
            &station,
            &mut cal,
            &dims_tx,
            dock_open.as_ref(),
        );
        let (ok, detail) = cal.health(records.calibration().as_deref());
        if status.set_device("calibration", ok, detail) {
            status.write();
        }
        // Only parcels in progress are timed: the maps stay small.
        detected.retain(|_, t| t.elapsed() < Duration::from_secs(600));
        settled.retain(|_, t| t.elapsed() < Duration::from_secs(600));
        let phase = format!("{:?}", station.phase()).to_lowercase();
        if phase != status.doc.phase {
            status.doc.phase = phase;
        }
        status.doc.parcels_this_run = summary.parcels;
        if let Some(h) = &hub {
            h.status(&status.doc);
        }
        let done = parcels.is_some_and(|n| summary.parcels >= n);
        if (stopping || done) && matches!(station.phase(), Phase::Idle | Phase::AwaitRemoval) {
            break;
        }
    }
    scale_task.abort();
    dims_task.abort();
    label_task.abort();
    // Scans still waiting go to the spill file under the same ids: keep their evidence.
    for (id, f) in retrying {
        evidence.save(&id, jiff::Timestamp::now(), f);
    }
    evidence.finish();
    status.doc.running = false;
    status.doc.phase = "stopped".into();
    status.write();
    if let Some(h) = &hub {
        h.status(&status.doc);
    }
    info!(parcels = summary.parcels, "station stopped");
    Ok(summary)
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn ready() -> Signal {
    Signal {
        light: intake_hal::Light::Off,
        blink: false,
        beep: intake_hal::Beep::None,
        text: "ready".into(),
    }
}

async fn indicator_show(indicator: &mut dyn Indicator, s: &Signal) {
    if let Err(e) = indicator.show(s).await {
        // The verdict is stored; a failed light must not stop the station.
        error!(device = indicator.name(), error = %e, "indicator failed");
    }
}

fn log_notice(n: &Notice) {
    match n {
        Notice::ParcelDetected { parcel } => debug!(parcel, "parcel detected"),
        Notice::WeightSettled { parcel, weight } => {
            debug!(parcel, weight = %weight, "weight settled")
        }
        Notice::ParcelRemoved { parcel } => debug!(parcel, "parcel removed"),
        Notice::ScaleFault { error } => warn!(device = "scale", %error, "scale fault"),
        Notice::ScaleRecovered => info!(device = "scale", "scale answering again"),
        Notice::OffZero { weight } => {
            warn!(device = "scale", weight = %weight, "empty scale is off zero: re-zero it")
        }
        Notice::ZeroRestored => info!(device = "scale", "scale back at zero"),
        Notice::StoreSlow { .. } => {}
    }
}
