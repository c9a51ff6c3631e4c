//! The station state machine: `Input` in, `Output` out, time passed in. No IO, no tokio.
//!
//! Shaped like quinn-proto's `Connection`: the daemon calls [`Station::handle_input`] with
//! each device event and [`Station::handle_timeout`] when [`Station::poll_timeout`] is due,
//! then carries out every [`Output`] from [`Station::poll_output`]. Tests drive it in
//! virtual time.
//!
//! One parcel's way: `Idle` → (weight above the threshold for `min_presence`: the label is
//! captured now) `Settling` →
//! (stable weight, or the settle timeout) `Measuring` (dimensions requested) →
//! (both results, or the measure timeout) `Committing` (the store actor judges and stores;
//! past the commit timeout the light says NOT STORED) →
//! (commit confirmed: only now the light shows the verdict) `AwaitRemoval` → (weight back
//! near zero) `Idle`. A parcel lifted before it is judged is recorded as `removed_early`;
//! a second parcel added on top is recorded as `multiple_parcels`; a silent or failing scale
//! becomes `sensor_fault`. Nothing waits forever.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use intake_hal::{Beep, DeviceError, Light, ScaleStatus, Signal, WeightReading};

use crate::judge::{Measurement, Problem, WaybillRead};
use crate::measure::weight::{Platform, StableDetector, StableRule, ZeroRule};
use crate::quantity::{Dims, Mass};
use crate::rules::Reason;

/// Timing and thresholds of the station (validated config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StationConfig {
    /// A weight above this means something is on the platform.
    pub detect_threshold: Mass,
    /// Shorter blips above the threshold (a bump, a hand) are ignored.
    pub min_presence: Duration,
    /// When a weight is stable (see `measure::weight`).
    pub stable: StableRule,
    /// No stable weight within this → `unstable_weight`.
    pub settle_timeout: Duration,
    /// Dimensions and label must arrive within this after the weight settles.
    pub measure_timeout: Duration,
    /// No reading from the scale for this long → scale fault.
    pub scale_silence: Duration,
    /// The empty scale may read this far from zero; beyond it the operator must re-zero.
    pub zero_tolerance: Mass,
    /// A stable weight that later grows by more than this means a second parcel.
    pub second_parcel_delta: Mass,
    /// The store must confirm a scan within this; past it the operator sees NOT STORED
    /// (the station keeps waiting for the confirmation, and takes no new parcel meanwhile).
    pub commit_timeout: Duration,
}

impl Default for StationConfig {
    fn default() -> StationConfig {
        StationConfig {
            detect_threshold: Mass::from_grams(50),
            min_presence: Duration::from_millis(200),
            stable: StableRule {
                division: Mass::from_grams(5),
                readings: 3,
                window: Duration::from_millis(300),
                unflagged_readings: 6,
                unflagged_window: Duration::from_millis(600),
            },
            settle_timeout: Duration::from_secs(5),
            measure_timeout: Duration::from_secs(3),
            scale_silence: Duration::from_secs(2),
            zero_tolerance: Mass::from_grams(20),
            second_parcel_delta: Mass::from_grams(100),
            commit_timeout: Duration::from_secs(2),
        }
    }
}

/// When the station asks for the label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LabelTrigger {
    /// As soon as the parcel is detected, while the scale settles (the station's way).
    #[default]
    Detected,
    /// Once the weight is stable, with the dimensions: the station before the early
    /// trigger. Only for the benchmark that measures what the early trigger saves
    /// (`benches/station.rs`); no configuration selects it.
    Stable,
}

/// A parcel's number in this run of the station (not its scan id).
pub type ParcelId = u64;

/// What happened, as the daemon tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A reading from the scale.
    Weight(WeightReading),
    /// The scale failed (timeout, unplugged, garbage); the driver goes on trying.
    ScaleError(DeviceError),
    /// The dimensions measured for a parcel.
    Dims {
        parcel: ParcelId,
        result: Result<Dims, (Problem, String)>,
    },
    /// The label read for a parcel.
    Label { parcel: ParcelId, read: WaybillRead },
    /// The parcel's scan is committed; `signal` shows its verdict.
    Committed { parcel: ParcelId, signal: Signal },
    /// Storing the parcel's scan failed; the daemon keeps it and retries.
    CommitFailed { parcel: ParcelId, error: String },
    /// The store stores again (a scan kept after a failure was stored).
    StoreRecovered,
}

/// Everything about a parcel the daemon needs to judge and store it.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub parcel: ParcelId,
    pub measurement: Measurement,
    /// Reasons the station found itself (removed early, two parcels).
    pub extra_reasons: Vec<Reason>,
    /// What went wrong with devices, in words, for the log and the record.
    pub notes: Vec<String>,
    pub timings: CycleTimes,
}

/// How long each phase of a parcel took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleTimes {
    /// From detection to a stable weight (or the settle timeout).
    pub settle: Duration,
    /// From the stable weight to the last of dimensions and label.
    pub measure: Duration,
}

/// State changes worth a log line or a dashboard update.
#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    ParcelDetected {
        parcel: ParcelId,
    },
    WeightSettled {
        parcel: ParcelId,
        weight: Mass,
    },
    ParcelRemoved {
        parcel: ParcelId,
    },
    ScaleFault {
        error: String,
    },
    ScaleRecovered,
    OffZero {
        weight: Mass,
    },
    ZeroRestored,
    /// The store has not confirmed the parcel's scan within the commit timeout.
    StoreSlow {
        parcel: ParcelId,
    },
}

/// What the daemon must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Measure the parcel's dimensions now; answer with `Input::Dims`.
    MeasureDims {
        parcel: ParcelId,
    },
    /// Capture and decode the label now; answer with `Input::Label`.
    ReadLabel {
        parcel: ParcelId,
    },
    /// Judge and store this parcel; answer with `Input::Committed` or `CommitFailed`.
    Commit(Box<Finished>),
    /// Show this on the light, buzzer and screen.
    Indicate(Signal),
    Notice(Notice),
}

/// The station's phase, for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Idle,
    Settling,
    Measuring,
    Committing,
    AwaitRemoval,
}

#[derive(Debug)]
struct Parcel {
    id: ParcelId,
    detected_at: Instant,
    settle: StableDetector,
    weight: Option<Result<Mass, Problem>>,
    settled_at: Option<Instant>,
    dims: Option<Result<Dims, Problem>>,
    label: Option<WaybillRead>,
    extra: Vec<Reason>,
    notes: Vec<String>,
    /// The empty scale was off zero when this parcel arrived.
    off_zero: bool,
}

#[derive(Debug)]
enum State {
    /// Nothing on the platform; `above_since` is when the weight first crossed the threshold.
    Idle {
        above_since: Option<Instant>,
    },
    Settling(Box<Parcel>),
    Measuring(Box<Parcel>),
    Committing {
        parcel: ParcelId,
        removed: bool,
        /// When NOT STORED is shown if the store has not answered.
        deadline: Instant,
        /// NOT STORED is already shown.
        late: bool,
    },
    AwaitRemoval {
        parcel: ParcelId,
    },
}

/// The station. See the module documentation.
#[derive(Debug)]
pub struct Station {
    cfg: StationConfig,
    state: State,
    next_parcel: ParcelId,
    last_reading: Option<Instant>,
    scale_fault: Option<String>,
    off_zero: bool,
    /// Stable readings of the empty platform, for zero tracking.
    empty: StableDetector,
    /// The measure deadline of the parcel being measured.
    deadline: Option<Instant>,
    /// The store failed a commit (or did not answer): no new parcel is taken until it
    /// stores again, so no verdict lives only in memory.
    store_failing: bool,
    /// The operator was told (once per parcel put on) that no parcel is taken.
    refused_shown: bool,
    /// Since when the platform has been empty (idle, nothing above the threshold).
    empty_since: Option<Instant>,
    /// The empty platform's last stable weight, within this empty period.
    empty_weight: Option<Mass>,
    label_trigger: LabelTrigger,
    out: VecDeque<Output>,
}

fn signal(light: Light, blink: bool, beep: Beep, text: impl Into<String>) -> Signal {
    Signal {
        light,
        blink,
        beep,
        text: text.into(),
    }
}

impl Station {
    pub fn new(cfg: StationConfig, now: Instant) -> Station {
        let empty = StableDetector::new(cfg.stable);
        Station {
            cfg,
            state: State::Idle { above_since: None },
            next_parcel: 1,
            last_reading: Some(now),
            scale_fault: None,
            off_zero: false,
            empty,
            deadline: None,
            store_failing: false,
            refused_shown: false,
            empty_since: None,
            empty_weight: None,
            label_trigger: LabelTrigger::Detected,
            out: VecDeque::new(),
        }
    }

    /// The station asking for the label at `trigger` (see [`LabelTrigger`]).
    pub fn with_label_trigger(mut self, trigger: LabelTrigger) -> Station {
        self.label_trigger = trigger;
        self
    }

    pub fn phase(&self) -> Phase {
        match self.state {
            State::Idle { .. } => Phase::Idle,
            State::Settling(_) => Phase::Settling,
            State::Measuring(_) => Phase::Measuring,
            State::Committing { .. } => Phase::Committing,
            State::AwaitRemoval { .. } => Phase::AwaitRemoval,
        }
    }

    /// Since when the platform has been empty (`None` while anything is on it, or the
    /// scale is failing): the daemon compares the empty station with its calibration, and
    /// a check whose empty period changed while it ran is discarded.
    pub fn empty_since(&self) -> Option<Instant> {
        self.empty_since.filter(|_| self.scale_fault.is_none())
    }

    /// The empty platform's stable weight in the current empty period (the scale's zero).
    pub fn empty_weight(&self) -> Option<Mass> {
        self.empty_since().and(self.empty_weight)
    }

    /// Whether the scale is currently failing, and why.
    pub fn scale_fault(&self) -> Option<&str> {
        self.scale_fault.as_deref()
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When `handle_timeout` must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let silence = self.last_reading.map(|t| t + self.cfg.scale_silence);
        let phase = match &self.state {
            State::Idle {
                above_since: Some(t),
            } if !self.store_failing => Some(*t + self.cfg.min_presence),
            State::Settling(p) => Some(p.detected_at + self.cfg.settle_timeout),
            State::Measuring(_) => self.deadline,
            State::Committing {
                deadline,
                late: false,
                ..
            } => Some(*deadline),
            _ => None,
        };
        let silence = if self.scale_fault.is_some() {
            None
        } else {
            silence
        };
        match (silence, phase) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.scale_fault.is_none()
            && self
                .last_reading
                .is_some_and(|t| now >= t + self.cfg.scale_silence)
        {
            let secs = self.cfg.scale_silence.as_secs_f32();
            self.on_scale_fault(
                now,
                format!(
                    "the scale sent nothing for {secs:.1}s; check it is powered and its cable is in"
                ),
            );
        }
        match &mut self.state {
            State::Idle {
                above_since: Some(t),
            } if now >= *t + self.cfg.min_presence && !self.store_failing => {
                // The weight stayed up (readings may be sparse): a parcel arrived.
                self.start_parcel(now);
            }
            State::Settling(p) if now >= p.detected_at + self.cfg.settle_timeout => {
                p.weight = Some(Err(Problem::Unstable));
                p.notes.push(format!(
                    "the weight did not settle within {:.1}s",
                    self.cfg.settle_timeout.as_secs_f32()
                ));
                self.begin_measuring(now);
            }
            State::Measuring(_) if self.deadline.is_some_and(|d| now >= d) => {
                if let State::Measuring(p) = &mut self.state {
                    if p.dims.is_none() {
                        p.dims = Some(Err(Problem::Fault));
                        p.notes
                            .push("the dimension sensors did not answer in time".into());
                    }
                    if p.label.is_none() {
                        p.label = Some(WaybillRead::NoRead);
                        p.notes
                            .push("the camera did not deliver a decoded frame in time".into());
                    }
                }
                self.finish(now);
            }
            State::Committing {
                parcel,
                deadline,
                late,
                ..
            } if !*late && now >= *deadline => {
                *late = true;
                self.store_failing = true;
                let parcel = *parcel;
                self.out
                    .push_back(Output::Notice(Notice::StoreSlow { parcel }));
                self.out.push_back(Output::Indicate(signal(
                    Light::Amber,
                    true,
                    Beep::Long,
                    "NOT STORED — the store is not answering; set the parcel aside and call the technician",
                )));
            }
            _ => {}
        }
    }

    pub fn handle_input(&mut self, now: Instant, input: Input) {
        match input {
            Input::Weight(r) => self.on_weight(now, r),
            Input::StoreRecovered => {
                if std::mem::replace(&mut self.store_failing, false)
                    && let State::Idle {
                        above_since: Some(t),
                    } = self.state
                    && now >= t + self.cfg.min_presence
                {
                    // A parcel waited on the platform: take it now.
                    self.start_parcel(now);
                }
            }
            Input::ScaleError(e) => self.on_scale_fault(now, e.to_string()),
            Input::Dims { parcel, result } => {
                if let State::Measuring(p) = &mut self.state
                    && p.id == parcel
                {
                    p.dims = Some(result.map_err(|(problem, why)| {
                        p.notes.push(why);
                        problem
                    }));
                    self.maybe_finish(now);
                }
            }
            Input::Label { parcel, read } => {
                // The label is captured at detection, so it may arrive while settling.
                if let State::Settling(p) | State::Measuring(p) = &mut self.state
                    && p.id == parcel
                {
                    p.label = Some(read);
                    self.maybe_finish(now);
                }
            }
            Input::Committed { parcel, signal } => {
                if let State::Committing {
                    parcel: id,
                    removed,
                    ..
                } = self.state
                    && id == parcel
                {
                    self.store_failing = false;
                    self.out.push_back(Output::Indicate(signal));
                    if removed {
                        self.out
                            .push_back(Output::Notice(Notice::ParcelRemoved { parcel }));
                        self.state = State::Idle { above_since: None };
                    } else {
                        self.state = State::AwaitRemoval { parcel };
                    }
                }
            }
            Input::CommitFailed { parcel, error } => {
                if let State::Committing {
                    parcel: id,
                    removed,
                    ..
                } = self.state
                    && id == parcel
                {
                    self.store_failing = true;
                    // The daemon keeps the record and retries; the operator must know the
                    // verdict is not stored yet, so no verdict light: amber, blinking.
                    self.out.push_back(Output::Indicate(signal(
                        Light::Amber,
                        true,
                        Beep::Long,
                        format!(
                            "NOT STORED — set the parcel aside and call the technician ({error})"
                        ),
                    )));
                    self.state = if removed {
                        State::Idle { above_since: None }
                    } else {
                        State::AwaitRemoval { parcel }
                    };
                }
            }
        }
    }

    fn on_scale_fault(&mut self, now: Instant, error: String) {
        if self.scale_fault.is_none() {
            self.out.push_back(Output::Notice(Notice::ScaleFault {
                error: error.clone(),
            }));
            if matches!(self.state, State::Idle { .. } | State::AwaitRemoval { .. }) {
                self.out.push_back(Output::Indicate(signal(
                    Light::Amber,
                    true,
                    Beep::Double,
                    format!("SCALE FAULT — {error}"),
                )));
            }
        }
        self.scale_fault = Some(error.clone());
        // A parcel being weighed cannot be weighed now: judge it without a weight.
        if let State::Settling(p) = &mut self.state {
            p.weight = Some(Err(Problem::Fault));
            p.notes.push(format!("scale: {error}"));
            self.begin_measuring(now);
        }
    }

    fn on_weight(&mut self, now: Instant, r: WeightReading) {
        self.last_reading = Some(now);
        if self.scale_fault.take().is_some() {
            self.out.push_back(Output::Notice(Notice::ScaleRecovered));
            if matches!(self.state, State::Idle { .. }) {
                self.out.push_back(Output::Indicate(signal(
                    Light::Off,
                    false,
                    Beep::None,
                    "ready",
                )));
            }
        }
        let present = r.weight > self.cfg.detect_threshold || r.status == ScaleStatus::OverCapacity;
        if present || !matches!(self.state, State::Idle { .. }) {
            // The empty spell ended: its zero must settle afresh in the next one.
            if self.empty_since.take().is_some() {
                self.empty.reset();
            }
            self.empty_weight = None;
        } else if self.empty_since.is_none() {
            self.empty_since = Some(now);
        }
        match &mut self.state {
            State::Idle { above_since } => {
                if present {
                    let since = *above_since.get_or_insert(now);
                    if now >= since + self.cfg.min_presence {
                        if self.store_failing {
                            self.refuse_parcel();
                        } else {
                            self.start_parcel(now);
                            self.settle_on(now, &r);
                        }
                    }
                } else {
                    *above_since = None;
                    self.refused_shown = false;
                    self.track_zero(now, &r);
                }
            }
            State::Settling(_) => {
                if !present {
                    self.removed_early(now);
                } else {
                    self.settle_on(now, &r);
                }
            }
            State::Measuring(p) => {
                if !present {
                    self.removed_early(now);
                } else if let Some(Ok(w)) = p.weight
                    && r.stable
                    && r.weight > w
                    && (r.weight.micrograms() - w.micrograms())
                        > self.cfg.second_parcel_delta.micrograms()
                    && !p.extra.contains(&Reason::MultipleParcels)
                {
                    p.extra.push(Reason::MultipleParcels);
                    p.notes.push(format!(
                        "the weight rose from {w} to {} while measuring: a second parcel?",
                        r.weight
                    ));
                }
            }
            State::Committing { removed, .. } => {
                if !present {
                    *removed = true;
                }
            }
            State::AwaitRemoval { parcel } => {
                if !present {
                    let parcel = *parcel;
                    self.out
                        .push_back(Output::Notice(Notice::ParcelRemoved { parcel }));
                    self.out.push_back(Output::Indicate(signal(
                        Light::Off,
                        false,
                        Beep::None,
                        "ready",
                    )));
                    self.state = State::Idle { above_since: None };
                    self.empty.reset();
                }
            }
        }
    }

    /// Zero tracking on the empty platform: a stable empty weight beyond the tolerance must
    /// be re-zeroed before the next parcel can be weighed.
    fn track_zero(&mut self, now: Instant, r: &WeightReading) {
        if r.status == ScaleStatus::UnderZero || r.status == ScaleStatus::ZeroError {
            self.set_off_zero(true, r.weight);
            return;
        }
        if let Some(stable) = self.empty.push(now, r) {
            if self.empty_since.is_some() {
                self.empty_weight = Some(stable.weight);
            }
            let rule = ZeroRule {
                tolerance: self.cfg.zero_tolerance,
                min_parcel: self.cfg.detect_threshold,
            };
            match rule.check(stable.weight) {
                Ok(Platform::Empty) => self.set_off_zero(false, stable.weight),
                Ok(Platform::Loaded(_)) => {}
                Err(_) => self.set_off_zero(true, stable.weight),
            }
        }
    }

    fn set_off_zero(&mut self, off: bool, weight: Mass) {
        if off == self.off_zero {
            return;
        }
        self.off_zero = off;
        if off {
            self.out
                .push_back(Output::Notice(Notice::OffZero { weight }));
            self.out.push_back(Output::Indicate(signal(
                Light::Amber,
                true,
                Beep::Double,
                format!("RE-ZERO THE SCALE — it reads {weight} when empty"),
            )));
        } else {
            self.out.push_back(Output::Notice(Notice::ZeroRestored));
            self.out.push_back(Output::Indicate(signal(
                Light::Off,
                false,
                Beep::None,
                "ready",
            )));
        }
    }

    /// A parcel was put on while the store is failing: it is not taken (its verdict could
    /// not be stored); the operator is told once.
    fn refuse_parcel(&mut self) {
        if !std::mem::replace(&mut self.refused_shown, true) {
            self.out.push_back(Output::Indicate(signal(
                Light::Amber,
                true,
                Beep::Long,
                format!(
                    "{}: take the parcel off, take no more, call the technician",
                    intake_hal::device::REFUSED_TEXT
                ),
            )));
        }
    }

    fn start_parcel(&mut self, now: Instant) {
        let id = self.next_parcel;
        self.next_parcel += 1;
        self.out
            .push_back(Output::Notice(Notice::ParcelDetected { parcel: id }));
        // The parcel is on the platform: read its label while the scale settles, so the
        // label adds nothing to the time from the stable weight to the verdict.
        if self.label_trigger == LabelTrigger::Detected {
            self.out.push_back(Output::ReadLabel { parcel: id });
        }
        let mut notes = Vec::new();
        if self.off_zero {
            notes.push("the empty scale was off zero; re-zero it".to_owned());
        }
        self.state = State::Settling(Box::new(Parcel {
            id,
            detected_at: now,
            settle: StableDetector::new(self.cfg.stable),
            weight: None,
            settled_at: None,
            dims: None,
            label: None,
            extra: Vec::new(),
            notes,
            off_zero: self.off_zero,
        }));
    }

    /// Feeds a reading to the parcel's stable-weight detector; moves on once it is stable.
    fn settle_on(&mut self, now: Instant, r: &WeightReading) {
        if let State::Settling(p) = &mut self.state
            && let Some(stable) = p.settle.push(now, r)
        {
            let w = stable.weight;
            p.weight = Some(if p.off_zero {
                Err(Problem::Uncalibrated)
            } else {
                Ok(w)
            });
            self.out.push_back(Output::Notice(Notice::WeightSettled {
                parcel: p.id,
                weight: w,
            }));
            self.begin_measuring(now);
        }
    }

    fn begin_measuring(&mut self, now: Instant) {
        let state = std::mem::replace(&mut self.state, State::Idle { above_since: None });
        if let State::Settling(mut p) = state {
            p.settled_at = Some(now);
            self.out.push_back(Output::MeasureDims { parcel: p.id });
            if self.label_trigger == LabelTrigger::Stable {
                self.out.push_back(Output::ReadLabel { parcel: p.id });
            }
            self.deadline = Some(now + self.cfg.measure_timeout);
            self.state = State::Measuring(p);
        } else {
            self.state = state;
        }
    }

    fn maybe_finish(&mut self, now: Instant) {
        if let State::Measuring(p) = &self.state
            && p.dims.is_some()
            && p.label.is_some()
        {
            self.finish(now);
        }
    }

    fn removed_early(&mut self, now: Instant) {
        if let State::Settling(p) | State::Measuring(p) = &mut self.state {
            p.extra.push(Reason::RemovedEarly);
            if p.weight.is_none() {
                p.weight = Some(Err(Problem::Unstable));
            }
            if p.dims.is_none() {
                p.dims = Some(Err(Problem::Fault));
            }
            if p.label.is_none() {
                p.label = Some(WaybillRead::NoRead);
            }
            p.notes
                .push("the parcel was lifted before it was measured".into());
            let id = p.id;
            self.finish(now);
            if let State::Committing { removed, .. } = &mut self.state {
                *removed = true;
            }
            self.out
                .push_back(Output::Notice(Notice::ParcelRemoved { parcel: id }));
        }
    }

    fn finish(&mut self, now: Instant) {
        let state = std::mem::replace(&mut self.state, State::Idle { above_since: None });
        let (State::Measuring(p) | State::Settling(p)) = state else {
            self.state = state;
            return;
        };
        self.deadline = None;
        let settled = p.settled_at.unwrap_or(now);
        let finished = Finished {
            parcel: p.id,
            measurement: Measurement {
                weight: p.weight.unwrap_or(Err(Problem::Unstable)),
                dims: p.dims.unwrap_or(Err(Problem::Fault)),
                waybill: p.label.unwrap_or(WaybillRead::NoRead),
            },
            extra_reasons: p.extra,
            notes: p.notes,
            timings: CycleTimes {
                settle: settled.saturating_duration_since(p.detected_at),
                measure: now.saturating_duration_since(settled),
            },
        };
        self.out.push_back(Output::Commit(Box::new(finished)));
        self.state = State::Committing {
            parcel: p.id,
            removed: false,
            deadline: now + self.cfg.commit_timeout,
            late: false,
        };
    }
}

#[cfg(test)]
mod tests;
