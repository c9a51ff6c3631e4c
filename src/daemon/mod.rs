//! The daemon: wires devices, the station, the store and the indicator. The one place that
//! spawns tasks.
//!
//! Device events become station inputs on one channel; the station's outputs are carried
//! out here. The store lives on a thread of its own (SQLite is blocking): it looks the
//! waybill up in the manifest, judges (pure), writes the scan and its outbox row in one
//! transaction, and only then tells the station, which only then lights the verdict.

pub mod devices;
pub mod evidence;
pub mod status;
mod store_worker;

use std::collections::BTreeMap;
use std::time::Duration;

use intake_hal::{BoxFuture, Indicator, Scale, Signal};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::config::Settings;
use crate::judge::{Problem, WaybillRead};
use crate::quantity::Dims;
use crate::rules::Disposition;
use crate::station::{Input, Notice, Output, Phase, Station, StationConfig};
use crate::store::{Store, StoreError};

pub use store_worker::{Committed, verdict_signal};

/// Measures a parcel's dimensions (range finders + dimensioning).
pub trait DimsSource: Send {
    fn measure(&mut self) -> BoxFuture<'_, Result<Dims, (Problem, String)>>;
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
}

/// How `intake run` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this many parcels were committed.
    pub parcels: Option<u64>,
    /// The head-office sync task, when `[sync]` is configured: told of each commit, and
    /// its pulled rate cards are priced with from the next parcel on.
    pub sync: Option<crate::sync::SyncHandle>,
    /// The dashboard's hub: told of status changes, label reads and stored scans.
    pub web: Option<crate::web::Hub>,
}

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Devices(String),
    #[error("cannot start the store thread: {0}")]
    Thread(std::io::Error),
}

/// What a run did: counts and cycle times.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub parcels: u64,
    pub by_disposition: BTreeMap<Disposition, u64>,
    pub repriced: u64,
    /// Sum of the repriced parcels' adjustments (cents; positive: customers owe more).
    pub adjustments_cents: i64,
    pub cycle: Vec<Duration>,
    pub settle: Vec<Duration>,
    pub label: Vec<Duration>,
    pub judge: Vec<Duration>,
    pub commit: Vec<Duration>,
}

/// The value at quantile `q` (0..=1) of some durations, in milliseconds.
pub fn quantile_ms(v: &[Duration], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s: Vec<Duration> = v.to_vec();
    s.sort_unstable();
    let i = ((s.len() - 1) as f64 * q).round() as usize;
    Some(s[i.min(s.len() - 1)].as_secs_f64() * 1000.0)
}

impl Summary {
    fn add(&mut self, c: &Committed) {
        self.parcels += 1;
        *self.by_disposition.entry(c.record.disposition).or_default() += 1;
        if c.record.disposition == Disposition::AcceptRepriced {
            self.repriced += 1;
            self.adjustments_cents += c.record.adjustment.map_or(0, |a| a.cents());
        }
        self.cycle.push(c.cycle);
        self.settle.push(c.timings.settle);
        self.judge.push(c.judge);
        self.commit.push(c.commit);
    }
}

/// Events from device tasks, beside station inputs.
enum Event {
    Input(Input),
    Label { parcel: u64, read: LabelRead },
    Committed(Box<Committed>),
}

/// Runs the station until `shutdown` resolves (finishing the parcel in progress) or the
/// requested number of parcels is done.
pub async fn run(
    settings: &Settings,
    station_cfg: StationConfig,
    store: Store,
    devices: Devices,
    opts: RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<Summary, DaemonError> {
    let Devices {
        mut scale,
        mut dims,
        mut label,
        mut indicator,
    } = devices;
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
    let (dims_tx, mut dims_rx) = mpsc::unbounded_channel::<u64>();
    let tx = ev_tx.clone();
    let dims_task = tokio::spawn(async move {
        while let Some(parcel) = dims_rx.recv().await {
            let result = dims.measure().await;
            if let Err((_, why)) = &result {
                warn!(device = "dimensions", error = %why, "dimensions not measured");
            }
            if tx
                .send(Event::Input(Input::Dims { parcel, result }))
                .is_err()
            {
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

    let store = store_worker::spawn(store, settings, ev_tx.clone())?;
    let mut sync_events = match &opts.sync {
        Some(h) => h.subscribe(),
        // A channel nobody sends on: the select arm below never fires.
        None => tokio::sync::broadcast::channel(1).1,
    };

    let mut status = status::StatusFile::new(
        &settings.data_dir,
        &settings.station_id,
        &["scale", "dimensions", "camera", "indicator"],
    );
    status.write();
    let hub = opts.web.clone();
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
        on_saved,
    )
    .map_err(DaemonError::Thread)?;
    let mut frames: BTreeMap<u64, Box<evidence::EvidenceFrame>> = BTreeMap::new();
    let start = Instant::now();
    let mut station = Station::new(station_cfg, start.into_std());
    let mut summary = Summary::default();
    let mut detected: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut label_times: BTreeMap<u64, Duration> = BTreeMap::new();
    let mut stopping = false;
    tokio::pin!(shutdown);
    info!(station = %settings.station_id, "station ready");
    indicator_show(&mut *indicator, &ready()).await;

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
                        label_times.insert(parcel, read.took);
                        station.handle_input(now, Input::Label { parcel, read: read.read });
                    }
                    Event::Committed(c) => {
                        let parcel = c.parcel;
                        let mut c = *c;
                        c.cycle = detected.remove(&parcel).map_or(Duration::ZERO, |t| t.elapsed());
                        if let Some(t) = label_times.remove(&parcel) {
                            summary.label.push(t);
                        }
                        summary.add(&c);
                        if let Some(h) = &opts.sync {
                            h.record_committed();
                        }
                        if let Some(f) = frames.remove(&parcel) {
                            evidence.save(&c.record.id, c.record.created_at, f);
                        }
                        frames.retain(|p, _| *p > parcel);
                        if let Some(h) = &hub {
                            h.committed(&c);
                        }
                        status.doc.parcels_this_run = summary.parcels;
                        status.write();
                        station.handle_input(now, Input::Committed { parcel, signal: c.signal.clone() });
                    }
                }
            }
            () = sleep_until(deadline) => {
                station.handle_timeout(Instant::now().into_std());
            }
            ev = sync_events.recv(), if opts.sync.is_some() => {
                match ev {
                    Ok(crate::sync::SyncEvent::Pulled { rate_card: Some(card), .. }) => {
                        info!(version = %card.version, "pricing with the rate card from head office");
                        store.set_card(card);
                    }
                    Ok(crate::sync::SyncEvent::Pulled { rejudged, .. }) if !rejudged.is_empty() => {
                        info!(count = rejudged.len(), "unknown waybills judged again after the manifest arrived");
                    }
                    Ok(crate::sync::SyncEvent::UploadFailed(e) | crate::sync::SyncEvent::PullFailed(e)) => {
                        warn!(error = %e, "head office sync failed; intake goes on, sync retries");
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        warn!(missed = n, "sync events missed");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        sync_events = tokio::sync::broadcast::channel(1).1;
                    }
                }
            }
            () = &mut shutdown, if !stopping => {
                info!("stopping: finishing the parcel in progress");
                stopping = true;
            }
        }
        while let Some(out) = station.poll_output() {
            match out {
                Output::MeasureDims { parcel } => {
                    let _ = dims_tx.send(parcel);
                }
                Output::ReadLabel { parcel } => {
                    let _ = label_tx.send(parcel);
                }
                Output::Commit(f) => store.commit(f),
                Output::Indicate(s) => indicator_show(&mut *indicator, &s).await,
                Output::Notice(n) => {
                    match &n {
                        Notice::ParcelDetected { parcel } => {
                            detected.insert(*parcel, Instant::now());
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
                        _ => {}
                    }
                    log_notice(&n);
                }
            }
        }
        let phase = format!("{:?}", station.phase()).to_lowercase();
        if phase != status.doc.phase {
            status.doc.phase = phase;
        }
        if let Some(h) = &hub {
            h.status(&status.doc);
        }
        let done = opts.parcels.is_some_and(|n| summary.parcels >= n);
        if (stopping || done) && matches!(station.phase(), Phase::Idle | Phase::AwaitRemoval) {
            break;
        }
    }
    scale_task.abort();
    dims_task.abort();
    label_task.abort();
    store.finish();
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
    }
}
