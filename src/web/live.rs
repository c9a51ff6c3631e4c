//! The daemon's live state as the dashboard sees it: the hooks the daemon calls (status,
//! label reads, committed scans, evidence), counters for `/metrics`, and a broadcast of
//! events that every server-sent-events stream forwards.

use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::metrics::Metrics;
use crate::daemon::calibration::CalibrateRequest;
use crate::daemon::evidence::Usage;
use crate::daemon::status::StatusDoc;
use crate::judge::WaybillRead;
use crate::measure::calibration::Calibration;
use crate::store::{EventKind, Subscription};

/// One server-sent event: its name and its JSON data.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub name: &'static str,
    pub data: String,
}

/// What the hub knows now.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The daemon's status (devices, phase); `None` until the daemon loop started.
    pub status: Option<StatusDoc>,
    pub evidence: Usage,
    /// The daemon loop has stopped (or was never started).
    pub stopped: bool,
}

struct Inner {
    events: broadcast::Sender<LiveEvent>,
    state: Mutex<Snapshot>,
    metrics: Metrics,
    closed: watch::Sender<bool>,
    started_at: Timestamp,
    /// Where calibrations asked on the dashboard go: the daemon loop, once it runs.
    calibrator: Mutex<Option<mpsc::UnboundedSender<CalibrateRequest>>>,
}

/// Shared between the daemon (which reports) and the web server (which shows). Cheap to
/// clone.
#[derive(Clone)]
pub struct Hub(Arc<Inner>);

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hub")
    }
}

impl Default for Hub {
    fn default() -> Hub {
        Hub::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        let (events, _) = broadcast::channel(256);
        let (closed, _) = watch::channel(false);
        Hub(Arc::new(Inner {
            events,
            state: Mutex::new(Snapshot::default()),
            metrics: Metrics::new(),
            closed,
            started_at: Timestamp::now(),
            calibrator: Mutex::new(None),
        }))
    }

    fn state(&self) -> MutexGuard<'_, Snapshot> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, name: &'static str, data: &Value) {
        // No subscriber is fine: nobody has the dashboard open.
        let _ = self.0.events.send(LiveEvent {
            name,
            data: data.to_string(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.events.subscribe()
    }

    /// When the web server was started (the page reloads its data when this changes).
    pub fn started_at(&self) -> Timestamp {
        self.0.started_at
    }

    /// The counters and histograms for `/metrics`.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub fn snapshot(&self) -> Snapshot {
        self.state().clone()
    }

    /// The daemon loop takes calibrations asked on the dashboard from here on.
    pub fn set_calibrator(&self, tx: mpsc::UnboundedSender<CalibrateRequest>) {
        *self.0.calibrator.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
    }

    /// Asks the running station to calibrate its empty station; the calibration in force,
    /// or why not.
    pub async fn calibrate(
        &self,
        samples: Option<usize>,
        source: &str,
    ) -> Result<Calibration, String> {
        let (reply, rx) = oneshot::channel();
        let req = CalibrateRequest {
            samples,
            source: source.to_owned(),
            reply,
        };
        let sent = self
            .0
            .calibrator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(|tx| tx.send(req).is_ok());
        if !sent {
            return Err(
                "the station is not running; start it (intake run) or use intake calibrate".into(),
            );
        }
        rx.await
            .unwrap_or_else(|_| Err("the station stopped while calibrating".into()))
    }

    /// Resolves once [`Hub::close`] was called.
    pub async fn wait_closed(&self) {
        let mut rx = self.0.closed.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Ends every event stream (the daemon is stopping).
    pub fn close(&self) {
        self.state().stopped = true;
        self.0.closed.send_replace(true);
    }

    /// The daemon's status changed (or may have): devices, phase. A device that was in
    /// fault and works again counts as a reconnect.
    pub fn status(&self, doc: &StatusDoc) {
        let changed = {
            let mut s = self.state();
            let same = s.status.as_ref().is_some_and(|old| {
                old.phase == doc.phase
                    && old.running == doc.running
                    && old.devices == doc.devices
                    && old.parcels_this_run == doc.parcels_this_run
            });
            if !same {
                if let Some(old) = &s.status {
                    let back: Vec<String> = doc
                        .devices
                        .iter()
                        .filter(|(name, h)| h.ok && old.devices.get(*name).is_some_and(|o| !o.ok))
                        .map(|(name, _)| name.clone())
                        .collect();
                    for name in back {
                        self.0.metrics.reconnect(&name);
                    }
                }
                s.status = Some(doc.clone());
                s.stopped = !doc.running;
            }
            !same
        };
        if changed {
            self.send("status", &json!(doc));
        }
    }

    /// A label was read (or not).
    pub fn label_read(&self, read: &WaybillRead, camera_error: bool) {
        let kind = match read {
            _ if camera_error => "camera_error",
            WaybillRead::Read(_) => return,
            WaybillRead::NoRead => "no_read",
            WaybillRead::Ambiguous(_) => "ambiguous",
        };
        self.0.metrics.decode_failure(kind);
    }

    /// A parcel's cycle, detection to committed.
    pub fn observe_cycle(&self, d: std::time::Duration) {
        self.0.metrics.cycle(d);
    }

    /// The time from the stable weight to the verdict committed and shown.
    pub fn observe_verdict(&self, d: std::time::Duration) {
        self.0.metrics.verdict(d);
    }

    /// A store event, for the counters (the event stream itself reaches each dashboard
    /// through its own subscription).
    pub fn count(&self, kind: &EventKind) {
        match kind {
            EventKind::ScanCommitted(rec) => self.0.metrics.scan(rec.disposition),
            EventKind::ResolutionRecorded(_) => self.0.metrics.resolution(),
            _ => {}
        }
    }

    /// An evidence image was saved (`scan_id` empty: only the usage changed).
    pub fn evidence_saved(&self, scan_id: &str, usage: Usage) {
        self.state().evidence = usage;
        if !scan_id.is_empty() {
            self.send("evidence", &json!({ "scan_id": scan_id }));
        }
    }
}

/// Counts every store event for `/metrics`, in order, none dropped; ends when the store
/// actor stops.
pub async fn feed(mut events: Subscription, hub: Hub) {
    while let Some(ev) = events.next().await {
        hub.count(&ev.kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_back_from_a_fault_is_a_reconnect_and_status_is_sent_on_change_only() {
        let hub = Hub::new();
        let mut rx = hub.subscribe();
        let tmp = tempfile::tempdir().unwrap();
        let mut f = crate::daemon::status::StatusFile::new(tmp.path(), "t", &["scale"]);
        hub.status(&f.doc);
        assert_eq!(rx.try_recv().unwrap().name, "status");
        hub.status(&f.doc);
        assert!(rx.try_recv().is_err(), "nothing changed");
        f.set_device("scale", false, Some("unplugged".into()));
        hub.status(&f.doc);
        f.set_device("scale", true, None);
        hub.status(&f.doc);
        assert_eq!(hub.metrics().reconnects_of("scale"), 1);
        assert_eq!(rx.try_recv().unwrap().name, "status");
        let last = rx.try_recv().unwrap();
        let doc: StatusDoc = serde_json::from_str(&last.data).unwrap();
        assert!(doc.devices["scale"].ok);

        hub.label_read(&WaybillRead::NoRead, false);
        hub.label_read(&WaybillRead::Read("x".into()), false);
        hub.label_read(&WaybillRead::NoRead, true);
        let m = hub.metrics();
        assert_eq!(m.decode_failures_of("no_read"), 1);
        assert_eq!(m.decode_failures_of("camera_error"), 1);
        assert_eq!(m.decode_failures_of("ambiguous"), 0);
    }
}
