//! Station scenarios in virtual time: no tokio, no sleeps.

use super::*;
use intake_hal::quantity::MassUnit;
use intake_hal::{ErrorKind, WeightKind};
use proptest::prelude::*;

fn reading(grams: i64, stable: bool) -> WeightReading {
    WeightReading {
        weight: Mass::from_grams(grams),
        unit: MassUnit::Gram,
        stable,
        kind: WeightKind::Gross,
        tare: None,
        status: ScaleStatus::Ok,
    }
}

/// Drives a station in virtual time, firing its timeouts as time passes.
struct Drive {
    st: Station,
    now: Instant,
    out: Vec<Output>,
}

impl Drive {
    fn new() -> Drive {
        let now = Instant::now();
        Drive {
            st: Station::new(StationConfig::default(), now),
            now,
            out: Vec::new(),
        }
    }

    fn collect(&mut self) {
        while let Some(o) = self.st.poll_output() {
            self.out.push(o);
        }
    }

    /// Moves time forward by `d`, calling `handle_timeout` at every deadline on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.st.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.st.handle_timeout(self.now);
            self.collect();
        }
        self.now = end;
    }

    fn input(&mut self, i: Input) {
        self.st.handle_input(self.now, i);
        self.collect();
    }

    /// `count` readings, one every 100 ms.
    fn stream(&mut self, grams: i64, stable: bool, count: usize) {
        for _ in 0..count {
            self.advance(Duration::from_millis(100));
            self.input(Input::Weight(reading(grams, stable)));
        }
    }

    fn take(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    fn commit(&mut self) -> Finished {
        let outs = self.take();
        let f = outs
            .iter()
            .find_map(|o| match o {
                Output::Commit(f) => Some((**f).clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no commit in {outs:?}"));
        assert!(
            !outs
                .iter()
                .any(|o| matches!(o, Output::Indicate(s) if s.light != Light::Off && !s.blink)),
            "a verdict light before the commit: {outs:?}"
        );
        f
    }

    /// A parcel weighed, measured and unread, its commit asked for.
    fn measured_no_read(&mut self, parcel: ParcelId) -> Finished {
        self.stream(1500, true, 8);
        self.input(Input::Dims {
            parcel,
            result: Ok(dims()),
        });
        self.input(Input::Label {
            parcel,
            read: WaybillRead::NoRead,
        });
        self.commit()
    }

    fn confirm(&mut self, parcel: ParcelId, light: Light) {
        self.input(Input::Committed {
            parcel,
            signal: signal(light, false, Beep::Short, "verdict"),
        });
    }
}

fn dims() -> Dims {
    "12x10x8 in".parse().unwrap()
}

fn has(outs: &[Output], pred: impl Fn(&Output) -> bool) -> bool {
    outs.iter().any(pred)
}

#[test]
fn a_parcel_goes_from_idle_to_a_committed_verdict_and_back() {
    let mut d = Drive::new();
    d.stream(0, true, 5);
    assert_eq!(d.st.phase(), Phase::Idle);
    // Placed: motion, then stable.
    d.stream(1200, false, 1);
    d.stream(980, false, 2);
    assert_eq!(d.st.phase(), Phase::Settling);
    d.stream(1000, true, 5);
    assert_eq!(d.st.phase(), Phase::Measuring);
    let outs = d.take();
    assert!(has(&outs, |o| matches!(
        o,
        Output::MeasureDims { parcel: 1 }
    )));
    assert!(has(&outs, |o| matches!(o, Output::ReadLabel { parcel: 1 })));
    assert!(has(
        &outs,
        |o| matches!(o, Output::Notice(Notice::WeightSettled { weight, .. }) if *weight == Mass::from_grams(1000))
    ));
    d.input(Input::Dims {
        parcel: 1,
        result: Ok(dims()),
    });
    assert_eq!(
        d.st.phase(),
        Phase::Measuring,
        "still waiting for the label"
    );
    d.input(Input::Label {
        parcel: 1,
        read: WaybillRead::Read("EE123456785GB".into()),
    });
    assert_eq!(d.st.phase(), Phase::Committing);
    let f = d.commit();
    assert_eq!(f.measurement.weight, Ok(Mass::from_grams(1000)));
    assert_eq!(f.measurement.dims, Ok(dims()));
    assert!(f.extra_reasons.is_empty());
    // Write before indicate: the light shows only once the commit is confirmed.
    d.stream(1000, true, 3);
    assert!(!has(&d.take(), |o| matches!(o, Output::Indicate(_))));
    d.confirm(1, Light::Green);
    assert_eq!(
        d.take(),
        vec![Output::Indicate(signal(
            Light::Green,
            false,
            Beep::Short,
            "verdict"
        ))]
    );
    assert_eq!(d.st.phase(), Phase::AwaitRemoval);
    d.stream(1000, true, 20);
    assert_eq!(
        d.st.phase(),
        Phase::AwaitRemoval,
        "waits as long as the parcel stays"
    );
    d.stream(0, true, 1);
    assert_eq!(d.st.phase(), Phase::Idle);
    let outs = d.take();
    assert!(has(&outs, |o| matches!(
        o,
        Output::Notice(Notice::ParcelRemoved { parcel: 1 })
    )));
    assert!(has(
        &outs,
        |o| matches!(o, Output::Indicate(s) if s.light == Light::Off)
    ));
    // The next parcel gets the next number.
    d.stream(500, true, 8);
    assert!(has(&d.take(), |o| matches!(
        o,
        Output::MeasureDims { parcel: 2 }
    )));
}

#[test]
fn a_weight_that_never_settles_is_unstable_and_still_measured() {
    let mut d = Drive::new();
    for i in 0..80 {
        d.stream(1000 + (i % 2) * 40, false, 1);
    }
    assert_eq!(d.st.phase(), Phase::Measuring);
    d.input(Input::Dims {
        parcel: 1,
        result: Ok(dims()),
    });
    d.input(Input::Label {
        parcel: 1,
        read: WaybillRead::NoRead,
    });
    let f = d.commit();
    assert_eq!(f.measurement.weight, Err(Problem::Unstable));
    assert!(f.timings.settle >= StationConfig::default().settle_timeout);
    assert!(f.notes.iter().any(|n| n.contains("did not settle")));
}

#[test]
fn missing_dimensions_and_label_time_out_into_faults() {
    let mut d = Drive::new();
    while d.st.phase() != Phase::Measuring {
        d.stream(2000, true, 1);
    }
    let measuring_since = d.now;
    while d.st.phase() == Phase::Measuring {
        d.stream(2000, true, 1);
    }
    let waited = d.now - measuring_since;
    let timeout = StationConfig::default().measure_timeout;
    assert!(
        waited >= timeout && waited <= timeout + Duration::from_millis(100),
        "{waited:?}"
    );
    let f = d.commit();
    assert_eq!(f.measurement.dims, Err(Problem::Fault));
    assert_eq!(f.measurement.waybill, WaybillRead::NoRead);
    assert_eq!(f.notes.len(), 2, "{:?}", f.notes);
}

#[test]
fn the_measure_timeout_fires_even_when_the_scale_goes_quiet() {
    let mut d = Drive::new();
    d.stream(2000, true, 8);
    d.take();
    d.advance(Duration::from_secs(4));
    let outs = d.take();
    assert!(has(&outs, |o| matches!(o, Output::Commit(_))), "{outs:?}");
}

/// Where in the output the label is asked for, relative to the stable weight.
fn label_asked(trigger: LabelTrigger) -> (usize, usize) {
    let mut d = Drive::new();
    d.st = Station::new(StationConfig::default(), d.now).with_label_trigger(trigger);
    d.stream(0, true, 3);
    d.stream(1200, false, 3);
    d.stream(1000, true, 5);
    let outs = d.take();
    let at = |pred: &dyn Fn(&Output) -> bool| {
        outs.iter()
            .position(pred)
            .unwrap_or_else(|| panic!("{outs:?}"))
    };
    (
        at(&|o| matches!(o, Output::ReadLabel { parcel: 1 })),
        at(&|o| matches!(o, Output::Notice(Notice::WeightSettled { .. }))),
    )
}

#[test]
fn the_label_is_asked_for_at_detection_and_the_bench_can_ask_at_the_stable_weight() {
    let (label, settled) = label_asked(LabelTrigger::Detected);
    assert!(label < settled, "while the scale settles");
    let (label, settled) = label_asked(LabelTrigger::Stable);
    assert!(
        label > settled,
        "with the dimensions, after the stable weight"
    );
}

#[test]
fn a_parcel_lifted_while_settling_is_recorded_as_removed_early() {
    let mut d = Drive::new();
    d.stream(1500, false, 4);
    assert_eq!(d.st.phase(), Phase::Settling);
    d.stream(0, true, 1);
    let f = d.commit();
    assert_eq!(f.extra_reasons, vec![Reason::RemovedEarly]);
    assert_eq!(d.st.phase(), Phase::Committing);
    d.confirm(f.parcel, Light::Amber);
    assert_eq!(
        d.st.phase(),
        Phase::Idle,
        "already gone: no wait for removal"
    );
    assert!(has(
        &d.take(),
        |o| matches!(o, Output::Indicate(s) if s.light == Light::Amber)
    ));
}

#[test]
fn a_parcel_lifted_while_measuring_keeps_its_weight() {
    let mut d = Drive::new();
    d.stream(1500, true, 8);
    d.input(Input::Dims {
        parcel: 1,
        result: Ok(dims()),
    });
    d.stream(0, true, 1);
    let f = d.commit();
    assert_eq!(f.measurement.weight, Ok(Mass::from_grams(1500)));
    assert_eq!(f.measurement.dims, Ok(dims()));
    assert_eq!(f.measurement.waybill, WaybillRead::NoRead);
    assert_eq!(f.extra_reasons, vec![Reason::RemovedEarly]);
}

#[test]
fn a_second_parcel_placed_on_top_is_flagged() {
    let mut d = Drive::new();
    d.stream(1500, true, 8);
    assert_eq!(d.st.phase(), Phase::Measuring);
    d.stream(2600, false, 2);
    d.stream(2600, true, 2);
    d.input(Input::Dims {
        parcel: 1,
        result: Ok(dims()),
    });
    d.input(Input::Label {
        parcel: 1,
        read: WaybillRead::Read("EE123456785GB".into()),
    });
    let f = d.commit();
    assert_eq!(f.extra_reasons, vec![Reason::MultipleParcels]);
}

#[test]
fn a_bump_shorter_than_min_presence_is_not_a_parcel() {
    let mut d = Drive::new();
    d.stream(0, true, 3);
    d.advance(Duration::from_millis(50));
    d.input(Input::Weight(reading(800, false)));
    d.advance(Duration::from_millis(100));
    d.input(Input::Weight(reading(0, true)));
    d.stream(0, true, 10);
    assert_eq!(d.st.phase(), Phase::Idle);
    assert!(!has(&d.take(), |o| matches!(
        o,
        Output::Notice(Notice::ParcelDetected { .. })
    )));
}

#[test]
fn a_silent_scale_is_a_fault_reported_once_and_recovers() {
    let mut d = Drive::new();
    d.stream(0, true, 2);
    d.take();
    d.advance(Duration::from_secs(10));
    let outs = d.take();
    let faults = outs
        .iter()
        .filter(|o| matches!(o, Output::Notice(Notice::ScaleFault { .. })))
        .count();
    assert_eq!(faults, 1, "{outs:?}");
    assert!(has(
        &outs,
        |o| matches!(o, Output::Indicate(s) if s.light == Light::Amber && s.text.contains("SCALE"))
    ));
    assert!(d.st.scale_fault().is_some());
    d.stream(0, true, 1);
    assert!(has(&d.take(), |o| matches!(
        o,
        Output::Notice(Notice::ScaleRecovered)
    )));
    assert!(d.st.scale_fault().is_none());
}

#[test]
fn a_scale_that_fails_while_weighing_gives_a_sensor_fault_parcel() {
    let mut d = Drive::new();
    d.stream(1500, false, 3);
    d.input(Input::ScaleError(DeviceError::new(
        "scale",
        ErrorKind::Disconnected,
        "port closed",
    )));
    assert_eq!(d.st.phase(), Phase::Measuring);
    d.input(Input::Dims {
        parcel: 1,
        result: Ok(dims()),
    });
    d.input(Input::Label {
        parcel: 1,
        read: WaybillRead::NoRead,
    });
    let f = d.commit();
    assert_eq!(f.measurement.weight, Err(Problem::Fault));
    assert!(f.notes.iter().any(|n| n.contains("port closed")));
}

#[test]
fn an_empty_scale_off_zero_must_be_rezeroed_and_taints_the_next_weight() {
    let mut d = Drive::new();
    d.stream(30, true, 8);
    let outs = d.take();
    assert!(has(&outs, |o| matches!(
        o,
        Output::Notice(Notice::OffZero { .. })
    )));
    assert!(has(
        &outs,
        |o| matches!(o, Output::Indicate(s) if s.text.contains("RE-ZERO"))
    ));
    d.stream(1000, true, 8);
    d.input(Input::Dims {
        parcel: 1,
        result: Ok(dims()),
    });
    d.input(Input::Label {
        parcel: 1,
        read: WaybillRead::NoRead,
    });
    let f = d.commit();
    assert_eq!(f.measurement.weight, Err(Problem::Uncalibrated));
    d.confirm(1, Light::Amber);
    d.stream(0, true, 8);
    assert!(has(&d.take(), |o| matches!(
        o,
        Output::Notice(Notice::ZeroRestored)
    )));
}

#[test]
fn results_for_another_parcel_are_ignored() {
    let mut d = Drive::new();
    d.stream(1500, true, 8);
    d.input(Input::Dims {
        parcel: 7,
        result: Ok(dims()),
    });
    d.input(Input::Label {
        parcel: 7,
        read: WaybillRead::NoRead,
    });
    assert_eq!(d.st.phase(), Phase::Measuring);
    d.input(Input::Committed {
        parcel: 7,
        signal: signal(Light::Green, false, Beep::Short, "x"),
    });
    assert!(!has(&d.take(), |o| matches!(o, Output::Indicate(_))));
}

#[test]
fn a_failed_commit_warns_the_operator_without_a_verdict_light() {
    let mut d = Drive::new();
    d.stream(1500, true, 8);
    d.input(Input::Dims {
        parcel: 1,
        result: Err((Problem::Fault, "height sensor out of range".into())),
    });
    d.input(Input::Label {
        parcel: 1,
        read: WaybillRead::NoRead,
    });
    let f = d.commit();
    assert!(f.notes.iter().any(|n| n.contains("height sensor")));
    d.input(Input::CommitFailed {
        parcel: 1,
        error: "disk full".into(),
    });
    let outs = d.take();
    assert!(has(
        &outs,
        |o| matches!(o, Output::Indicate(s) if s.blink && s.text.contains("NOT STORED"))
    ));
    assert_eq!(d.st.phase(), Phase::AwaitRemoval);
}

#[test]
fn while_the_store_fails_no_new_parcel_is_taken_until_it_stores_again() {
    let mut d = Drive::new();
    d.measured_no_read(1);
    d.input(Input::CommitFailed {
        parcel: 1,
        error: "disk full".into(),
    });
    // The parcel is lifted; another is put on: not taken, and the operator is told once.
    d.stream(0, true, 5);
    assert_eq!(d.st.phase(), Phase::Idle);
    d.take();
    d.stream(2000, true, 20);
    let outs = d.take();
    assert!(!has(&outs, |o| matches!(
        o,
        Output::Notice(Notice::ParcelDetected { .. })
    )));
    assert!(!has(&outs, |o| matches!(
        o,
        Output::Commit(_) | Output::MeasureDims { .. }
    )));
    let told = outs
        .iter()
        .filter(|o| matches!(o, Output::Indicate(s) if s.blink && s.text.contains("take no more")))
        .count();
    assert_eq!(told, 1, "{outs:?}");
    assert_eq!(d.st.phase(), Phase::Idle);
    // No deadline spins while it waits.
    assert_eq!(d.st.poll_timeout().map(|t| t <= d.now), Some(false));
    // The kept scan is stored: the parcel waiting on the platform is taken at once.
    d.input(Input::StoreRecovered);
    assert_eq!(d.st.phase(), Phase::Settling);
    assert!(has(&d.take(), |o| matches!(
        o,
        Output::Notice(Notice::ParcelDetected { parcel: 2 })
    )));
}

#[test]
fn a_store_that_does_not_answer_shows_not_stored_then_the_verdict_when_it_does() {
    let mut d = Drive::new();
    d.measured_no_read(1);
    d.advance(Duration::from_secs(3));
    let outs = d.take();
    assert!(has(&outs, |o| matches!(
        o,
        Output::Notice(Notice::StoreSlow { parcel: 1 })
    )));
    assert!(has(
        &outs,
        |o| matches!(o, Output::Indicate(s) if s.blink && s.text.contains("NOT STORED"))
    ));
    assert_eq!(d.st.phase(), Phase::Committing);
    d.confirm(1, Light::Green);
    assert!(has(
        &d.take(),
        |o| matches!(o, Output::Indicate(s) if s.light == Light::Green)
    ));
    assert_eq!(d.st.phase(), Phase::AwaitRemoval);
}

/// Random device input never panics the station, never stalls it (a deadline is always
/// set while a parcel is in progress), and a verdict light is only shown for a committed
/// parcel.
#[derive(Debug, Clone)]
enum Ev {
    Weigh(i64, bool),
    Wait(u64),
    Fail,
    Dims(u64),
    Label(u64),
    Commit(u64),
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        4 => ((-50i64..30_000), any::<bool>()).prop_map(|(g, s)| Ev::Weigh(g, s)),
        2 => (0u64..3_000).prop_map(Ev::Wait),
        1 => Just(Ev::Fail),
        1 => (0u64..4).prop_map(Ev::Dims),
        1 => (0u64..4).prop_map(Ev::Label),
        1 => (0u64..4).prop_map(Ev::Commit),
    ]
}

proptest! {
    #[test]
    fn random_input_never_stalls_or_indicates_uncommitted(evs in proptest::collection::vec(ev(), 1..120)) {
        let mut d = Drive::new();
        let mut committed_asked = std::collections::HashSet::new();
        for e in evs {
            match e {
                Ev::Weigh(g, s) => { d.advance(Duration::from_millis(100)); d.input(Input::Weight(reading(g, s))) }
                Ev::Wait(ms) => d.advance(Duration::from_millis(ms)),
                Ev::Fail => d.input(Input::ScaleError(DeviceError::new("scale", ErrorKind::Timeout, "silent"))),
                Ev::Dims(p) => d.input(Input::Dims { parcel: p, result: Ok(dims()) }),
                Ev::Label(p) => d.input(Input::Label { parcel: p, read: WaybillRead::NoRead }),
                Ev::Commit(p) => {
                    let asked = committed_asked.contains(&p);
                    d.input(Input::Committed { parcel: p, signal: signal(Light::Green, false, Beep::Short, "v") });
                    if !asked {
                        prop_assert!(!d.out.iter().any(|o| matches!(o, Output::Indicate(s) if s.light == Light::Green)));
                    }
                }
            }
            for o in d.take() {
                if let Output::Commit(f) = o {
                    committed_asked.insert(f.parcel);
                }
            }
            if matches!(d.st.phase(), Phase::Settling | Phase::Measuring) {
                prop_assert!(d.st.poll_timeout().is_some());
            }
        }
        // Left alone long enough, a parcel in progress always reaches a commit.
        d.advance(Duration::from_secs(30));
        prop_assert!(!matches!(d.st.phase(), Phase::Settling | Phase::Measuring));
    }
}

#[test]
fn the_empty_period_and_its_zero_are_known_and_end_when_a_parcel_arrives() {
    let mut d = Drive::new();
    assert_eq!(d.st.empty_since(), None, "no reading yet");
    d.stream(2, true, 1);
    let since =
        d.st.empty_since()
            .expect("empty after the first empty reading");
    assert_eq!(d.st.empty_weight(), None, "not settled yet");
    d.stream(2, true, 5);
    assert_eq!(d.st.empty_since(), Some(since), "the same empty period");
    assert_eq!(d.st.empty_weight(), Some(Mass::from_grams(2)));
    // A parcel: the period ends at its first reading, before it is detected.
    d.stream(3_000, false, 1);
    assert_eq!((d.st.empty_since(), d.st.empty_weight()), (None, None));
    // A bump that goes away starts a new period, whose zero must settle again.
    d.stream(2, true, 1);
    assert!(d.st.empty_since().is_some_and(|t| t > since));
    assert_eq!(d.st.empty_weight(), None);
}
