//! Calibration and drift around the pure core (`measure::calibration`): reading the empty
//! station with devices held directly (`intake calibrate`, `intake verify`), and the running
//! daemon's bookkeeping — when to compare the empty station with its calibration, whether
//! dimensioning may go on, and what `/readyz`, `intake status` and the dashboard say.

use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_hal::Scale;
use intake_hal::quantity::Mass;
use tokio::sync::oneshot;

use tokio::sync::mpsc;
use tracing::{debug, error, warn};

use super::Devices;
use crate::config::Settings;
use crate::judge::Problem;
use crate::measure::calibration::{self, Calibration, CalibrationError, Measured, Readings};
use crate::measure::weight::{StableDetector, StableRule};
use crate::station::Station;
use crate::store::Records;

/// What a calibration asked of the running daemon answers: the calibration in force, or
/// why it was refused.
pub type CalibrateReply = oneshot::Sender<Result<Calibration, String>>;

/// A calibration asked of the running daemon (the dashboard's `POST /api/calibrate`).
#[derive(Debug)]
pub struct CalibrateRequest {
    /// Readings per sensor (default: `[dimensions] calibration_samples`).
    pub samples: Option<usize>,
    /// Who asked, as recorded with the calibration.
    pub source: String,
    pub reply: CalibrateReply,
}

/// The source recorded for the simulated dock's own calibration at its first start.
pub const FIRST_START: &str = "simulated dock, first start";

/// How often the empty station is compared with its calibration while it stays empty
/// (besides once each time it becomes empty).
pub const DRIFT_EVERY: Duration = Duration::from_secs(60);

/// What to say while the station has no calibration.
pub const UNCALIBRATED: &str = "uncalibrated: take everything off the station and run `intake calibrate` (or POST /api/calibrate while the daemon runs)";

/// Reads the scale until a stable weight that `accept` takes; `None` when there is none
/// within `limit`.
pub async fn stable_weight(
    scale: &mut dyn Scale,
    rule: StableRule,
    limit: Duration,
    accept: impl Fn(Mass) -> bool,
) -> Option<Mass> {
    let mut detector = StableDetector::new(rule);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let reading = tokio::time::timeout_at(deadline, scale.next_reading())
            .await
            .ok()?;
        if let Ok(r) = reading
            && let Some(stable) = detector.push(Instant::now(), &r)
            && accept(stable.weight)
        {
            return Some(stable.weight);
        }
    }
}

/// Calibrates the empty station with devices held directly (the daemon is not running):
/// `samples` readings per sensor, and the empty scale's stable weight.
pub async fn calibrate_devices(
    settings: &crate::config::Settings,
    devs: &mut Devices,
    samples: usize,
) -> Result<Measured, CalibrationError> {
    let zero = stable_weight(
        &mut *devs.scale,
        settings.station.stable,
        settings.station.settle_timeout,
        |_| true,
    )
    .await;
    let readings = devs.dims.readings(samples).await;
    calibration::calibrate(
        &settings.dimensions,
        &readings,
        zero,
        settings.station.stable.division,
    )
}

/// Why the empty station is being read.
#[derive(Debug)]
pub enum EmptyPurpose {
    /// Compare with the calibration; `confirm`: the second look after a drift was seen.
    Drift { confirm: bool },
    /// Calibrate; `reply`: who asked (`None`: the simulated dock's first start).
    Calibrate {
        source: String,
        reply: Option<CalibrateReply>,
    },
}

/// The running daemon's calibration state: drift found, checks in flight, the simulated
/// dock's first-start calibration.
#[derive(Debug, Default)]
pub struct CalWatch {
    /// The drift found against calibration `.0`; only a newer calibration clears it.
    drift: Option<(u64, String)>,
    /// A read of the empty station is in flight.
    pub busy: bool,
    /// The empty period last compared, and when.
    checked: Option<(Instant, Instant)>,
    /// The first-start calibration was tried (it is not tried twice).
    pub self_tried: bool,
}

impl CalWatch {
    /// Whether dimensioning may go on with `cal`; the problem and why when not.
    pub fn gate(
        &self,
        cal: Option<Arc<Calibration>>,
    ) -> Result<Arc<Calibration>, (Problem, String)> {
        let Some(cal) = cal else {
            return Err((Problem::Uncalibrated, UNCALIBRATED.to_owned()));
        };
        match &self.drift {
            Some((n, why)) if *n == cal.number => Err((Problem::Fault, why.clone())),
            _ => Ok(cal),
        }
    }

    /// The "calibration" device's health: ok, and what to show.
    pub fn health(&self, cal: Option<&Calibration>) -> (bool, Option<String>) {
        match cal {
            None => (false, Some(UNCALIBRATED.to_owned())),
            Some(c) => match &self.drift {
                Some((n, why)) if *n == c.number => (false, Some(format!("sensor_fault: {why}"))),
                _ => (true, Some(format!("calibration {} of {}", c.number, c.at))),
            },
        }
    }

    /// Whether the empty period that began at `since` is due a comparison at `now`.
    pub fn due(&self, since: Instant, now: Instant) -> bool {
        !self.busy
            && match self.checked {
                Some((period, at)) => period != since || now >= at + DRIFT_EVERY,
                None => true,
            }
    }

    /// The empty period `since` was compared at `now` and matched.
    pub fn checked(&mut self, since: Instant, now: Instant) {
        self.checked = Some((since, now));
    }

    /// A drift was confirmed against calibration `number`.
    pub fn drifted(&mut self, number: u64, why: String) {
        self.drift = Some((number, why));
    }

    /// Whether a drift stops dimensioning with calibration `number`.
    pub fn has_drift(&self, number: u64) -> bool {
        self.drift.as_ref().is_some_and(|(n, _)| *n == number)
    }
}

/// The readings of the empty station, the time its empty period began, and why they were
/// taken: what the dimensions task answers.
#[derive(Debug)]
pub struct EmptyReadings {
    pub since: Instant,
    pub purpose: EmptyPurpose,
    pub readings: Readings,
}

/// What the dimensions task is asked: a parcel's box, or the empty station's readings.
pub(super) enum DimsJob {
    Measure {
        parcel: u64,
        cal: std::sync::Arc<Calibration>,
    },
    Empty {
        samples: usize,
        since: std::time::Instant,
        purpose: EmptyPurpose,
    },
}

/// While the station is empty: the simulated dock's first-start calibration, then the
/// comparison with the calibration in force (once per empty period, and every minute).
/// The simulated operator starts once the station is calibrated (or will not calibrate
/// itself).
pub(super) fn watch_empty_station(
    settings: &Settings,
    records: &Records,
    station: &Station,
    cal: &mut CalWatch,
    dims_tx: &mpsc::UnboundedSender<DimsJob>,
    dock_open: Option<&tokio::sync::watch::Sender<bool>>,
) {
    let current = records.calibration();
    let self_calibrating =
        current.is_none() && settings.dimensions.self_calibrate && !cal.self_tried;
    if let Some(d) = dock_open
        && !self_calibrating
        && !*d.borrow()
    {
        d.send_replace(true);
    }
    let (Some(since), Some(_)) = (station.empty_since(), station.empty_weight()) else {
        return;
    };
    let now = std::time::Instant::now();
    let (samples, purpose) = if self_calibrating {
        if cal.busy {
            return;
        }
        cal.self_tried = true;
        let purpose = EmptyPurpose::Calibrate {
            source: FIRST_START.into(),
            reply: None,
        };
        (settings.dimensions.calibration_samples, purpose)
    } else {
        match current {
            Some(c) if !cal.has_drift(c.number) && cal.due(since, now) => (
                settings.dimensions.samples,
                EmptyPurpose::Drift { confirm: false },
            ),
            _ => return,
        }
    };
    cal.busy = true;
    let _ = dims_tx.send(DimsJob::Empty {
        samples,
        since,
        purpose,
    });
}

/// A calibration asked of the running daemon: taken only with the station empty.
pub(super) fn calibrate_on_request(
    settings: &Settings,
    station: &Station,
    cal: &mut CalWatch,
    dims_tx: &mpsc::UnboundedSender<DimsJob>,
    req: CalibrateRequest,
) {
    let since = match (station.empty_since(), station.empty_weight()) {
        _ if cal.busy => Err("the station is reading its sensors; try again in a moment"),
        (Some(since), Some(_)) => Ok(since),
        _ => Err(
            "the station is not empty, or the scale has not settled on the empty platform: take everything off and try again",
        ),
    };
    let since = match since {
        Ok(s) => s,
        Err(why) => {
            let _ = req.reply.send(Err(why.to_owned()));
            return;
        }
    };
    cal.busy = true;
    let _ = dims_tx.send(DimsJob::Empty {
        samples: req
            .samples
            .unwrap_or(settings.dimensions.calibration_samples),
        since,
        purpose: EmptyPurpose::Calibrate {
            source: req.source,
            reply: Some(req.reply),
        },
    });
}

/// The empty station's readings came back: calibrate, or compare with the calibration. A
/// read during which something was put on the station is discarded.
pub(super) fn on_empty(
    settings: &Settings,
    records: &Records,
    station: &Station,
    cal: &mut CalWatch,
    dims_tx: &mpsc::UnboundedSender<DimsJob>,
    e: EmptyReadings,
) {
    cal.busy = false;
    let still_empty = station.empty_since() == Some(e.since);
    match e.purpose {
        EmptyPurpose::Calibrate { source, reply, .. } => {
            let result = if still_empty {
                crate::measure::calibration::calibrate(
                    &settings.dimensions,
                    &e.readings,
                    station.empty_weight(),
                    settings.station.stable.division,
                )
                .map_err(|e| e.to_string())
            } else {
                Err(
                    "something was put on the station while calibrating; take it off and try again"
                        .into(),
                )
            };
            match result {
                Ok(measured) => {
                    let call = records.calibrate(measured, &source);
                    tokio::spawn(async move {
                        let r = call.await.map_err(|e| e.to_string());
                        if let Err(e) = &r {
                            error!(error = %e, "the calibration was not stored");
                        }
                        if let Some(reply) = reply {
                            let _ = reply.send(r);
                        }
                    });
                }
                Err(why) => {
                    warn!(error = %why, "calibration refused");
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(why));
                    }
                }
            }
        }
        EmptyPurpose::Drift { confirm } => {
            let Some(current) = records.calibration().filter(|_| still_empty) else {
                return;
            };
            let tol = settings.dimensions.drift();
            match crate::measure::calibration::check_drift(
                &current,
                &e.readings,
                station.empty_weight(),
                tol,
            ) {
                Ok(()) => cal.checked(e.since, std::time::Instant::now()),
                Err(d) if !confirm => {
                    // Look again once a parcel put on meanwhile would have been seen.
                    debug!(drift = %d, "the empty station differs from its calibration; looking again");
                    cal.busy = true;
                    let tx = dims_tx.clone();
                    let (since, samples) = (e.since, settings.dimensions.samples);
                    let wait = settings.station.min_presence + Duration::from_millis(100);
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = tx.send(DimsJob::Empty {
                            samples,
                            since,
                            purpose: EmptyPurpose::Drift { confirm: true },
                        });
                    });
                }
                Err(d) => {
                    error!(calibration = current.number, drift = %d,
                        "drift: dimensioning stopped until the station is recalibrated");
                    cal.drifted(current.number, d.to_string());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::calibration::Measured;

    fn cal(number: u64) -> Arc<Calibration> {
        Arc::new(Calibration {
            number,
            at: jiff::Timestamp::UNIX_EPOCH,
            source: "test".into(),
            measured: Measured {
                samples: 1,
                sensors: Vec::new(),
                scale_zero: None,
            },
        })
    }

    #[test]
    fn uncalibrated_then_drift_then_only_a_new_calibration_recovers() {
        let mut w = CalWatch::default();
        let (p, why) = w.gate(None).unwrap_err();
        assert_eq!(p, Problem::Uncalibrated);
        assert!(why.starts_with("uncalibrated"));
        assert!(!w.health(None).0);
        assert_eq!(w.gate(Some(cal(1))).unwrap().number, 1);
        w.drifted(1, "sensor top drifted".into());
        let (p, why) = w.gate(Some(cal(1))).unwrap_err();
        assert_eq!((p, why.as_str()), (Problem::Fault, "sensor top drifted"));
        let (ok, detail) = w.health(Some(&cal(1)));
        assert!(!ok && detail.unwrap().starts_with("sensor_fault: sensor top"));
        // Calibration 2 clears it.
        assert!(w.gate(Some(cal(2))).is_ok());
        assert!(w.health(Some(&cal(2))).0);
    }

    #[test]
    fn each_empty_period_is_compared_once_then_every_minute() {
        let mut w = CalWatch::default();
        let t0 = Instant::now();
        assert!(w.due(t0, t0));
        w.checked(t0, t0);
        assert!(!w.due(t0, t0 + Duration::from_secs(59)));
        assert!(w.due(t0, t0 + DRIFT_EVERY));
        let t1 = t0 + Duration::from_secs(5);
        assert!(w.due(t1, t1), "a new empty period");
        w.busy = true;
        assert!(!w.due(t1, t1));
    }
}
