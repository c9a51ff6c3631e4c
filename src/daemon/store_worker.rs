//! The store's thread: manifest lookup, judging and the durable write of each scan.
//!
//! A scan that cannot be written (disk full, database locked) is kept in memory, in order,
//! and retried every few seconds and at shutdown; the operator is told it is not stored.

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use intake_hal::{Beep, Light, Signal};
use jiff::Timestamp;
use tokio::sync::mpsc;
use tracing::{error, info, warn};

use super::{DaemonError, Event};
use crate::config::Settings;
use crate::judge::{Policy, WaybillRead, judge};
use crate::rules::Disposition;
use crate::scan::{ScanRecord, new_scan_id};
use crate::station::{CycleTimes, Finished, Input, ParcelId};
use crate::store::Store;

const RETRY_EVERY: Duration = Duration::from_secs(3);

/// A parcel whose scan is stored.
#[derive(Debug, Clone)]
pub struct Committed {
    pub parcel: ParcelId,
    pub record: ScanRecord,
    /// What the light shows for it.
    pub signal: Signal,
    pub timings: CycleTimes,
    pub judge: Duration,
    pub commit: Duration,
    /// From detection to committed (filled in by the daemon).
    pub cycle: Duration,
}

enum Job {
    Commit(Box<Finished>),
    /// Price with this card from now on (pulled from head office, already validated).
    SetCard(Box<crate::pricing::RateCard>),
    Finish,
}

pub(super) struct StoreHandle {
    tx: std_mpsc::Sender<Job>,
    thread: Option<JoinHandle<()>>,
}

impl StoreHandle {
    pub(super) fn commit(&self, f: Box<Finished>) {
        // The thread only ends on `finish`, so the channel is open while the daemon runs.
        let _ = self.tx.send(Job::Commit(f));
    }

    pub(super) fn set_card(&self, card: crate::pricing::RateCard) {
        let _ = self.tx.send(Job::SetCard(Box::new(card)));
    }

    /// Writes what is still pending and ends the thread.
    pub(super) fn finish(mut self) {
        let _ = self.tx.send(Job::Finish);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            error!("the store thread panicked");
        }
    }
}

struct Pending {
    finished: Box<Finished>,
    id: String,
    at: Timestamp,
}

struct Worker {
    store: Store,
    policy: Policy,
    station_id: String,
    events: mpsc::UnboundedSender<Event>,
    pending: VecDeque<Pending>,
    colour: bool,
}

pub(super) fn spawn(
    store: Store,
    settings: &Settings,
    events: mpsc::UnboundedSender<Event>,
) -> Result<StoreHandle, DaemonError> {
    let (tx, rx) = std_mpsc::channel::<Job>();
    let mut w = Worker {
        store,
        policy: settings.policy.clone(),
        station_id: settings.station_id.clone(),
        events,
        pending: VecDeque::new(),
        colour: std::io::stderr().is_terminal(),
    };
    let thread = std::thread::Builder::new()
        .name("intake-store".into())
        .spawn(move || w.run(rx))
        .map_err(DaemonError::Thread)?;
    Ok(StoreHandle {
        tx,
        thread: Some(thread),
    })
}

/// What the light, buzzer and screen show for a stored verdict.
pub fn verdict_signal(r: &ScanRecord) -> Signal {
    let d = r.disposition;
    let beep = match d {
        Disposition::Accept | Disposition::AcceptRepriced => Beep::Short,
        Disposition::Manual | Disposition::Hold => Beep::Double,
        Disposition::ReturnToSender => Beep::Long,
    };
    let mut text = d.headline().to_owned();
    if let Some(w) = &r.waybill {
        text.push_str(&format!(" · {w}"));
    }
    for reason in &r.reasons {
        text.push_str(&format!(" · {}", reason.words()));
    }
    Signal {
        light: d.light(),
        blink: false,
        beep,
        text,
    }
}

impl Worker {
    fn run(&mut self, rx: std_mpsc::Receiver<Job>) {
        loop {
            match rx.recv_timeout(RETRY_EVERY) {
                Ok(Job::Commit(f)) => {
                    self.retry_pending();
                    let p = Pending {
                        finished: f,
                        id: new_scan_id(),
                        at: Timestamp::now(),
                    };
                    self.store_one(p, true);
                }
                Ok(Job::SetCard(card)) => self.policy.card = *card,
                Err(std_mpsc::RecvTimeoutError::Timeout) => self.retry_pending(),
                Ok(Job::Finish) | Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                    self.retry_pending();
                    for p in &self.pending {
                        // Last resort: the whole record in the log, so billing can recover it.
                        let rec = self.judge(p).0;
                        error!(scan_id = %p.id, record = %rec.to_json(), "scan NOT stored at shutdown");
                    }
                    return;
                }
            }
        }
    }

    fn retry_pending(&mut self) {
        while let Some(p) = self.pending.pop_front() {
            if !self.store_one(p, false) {
                break;
            }
        }
    }

    fn judge(&self, p: &Pending) -> (ScanRecord, Result<(), String>) {
        let f = &p.finished;
        let (entry, lookup) = match &f.measurement.waybill {
            WaybillRead::Read(w) => match self.store.manifest_entry(w) {
                Ok(e) => (e, Ok(())),
                Err(e) => (None, Err(e.to_string())),
            },
            _ => (None, Ok(())),
        };
        let mut j = judge(&f.measurement, entry.as_ref(), &self.policy);
        j.add_reasons(&f.extra_reasons);
        let rec = ScanRecord::new(
            p.id.clone(),
            &self.station_id,
            p.at,
            &f.measurement,
            &j,
            &self.policy.card.version,
        );
        (rec, lookup)
    }

    /// Judges and stores one parcel. `first`: this is its first try (the station waits).
    fn store_one(&mut self, p: Pending, first: bool) -> bool {
        let t0 = Instant::now();
        let (rec, lookup) = self.judge(&p);
        let t1 = Instant::now();
        let result = match lookup {
            Ok(()) => self.store.insert_scan(&rec).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        let t2 = Instant::now();
        let parcel = p.finished.parcel;
        match result {
            Ok(_) => {
                self.log_verdict(&rec, &p.finished.notes, !first);
                if first {
                    let c = Committed {
                        parcel,
                        signal: verdict_signal(&rec),
                        record: rec,
                        timings: p.finished.timings,
                        judge: t1 - t0,
                        commit: t2 - t1,
                        cycle: Duration::ZERO,
                    };
                    let _ = self.events.send(Event::Committed(Box::new(c)));
                }
                true
            }
            Err(e) => {
                if first {
                    error!(scan_id = %p.id, error = %e, "scan not stored; keeping it and retrying");
                    let _ = self
                        .events
                        .send(Event::Input(Input::CommitFailed { parcel, error: e }));
                }
                self.pending.push_front(p);
                false
            }
        }
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
