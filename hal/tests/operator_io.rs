//! Stack light, buzzer and foot switch: the pin transactions (embedded-hal-mock, ending with
//! `.done()`) and the pure timing, in tokio's paused time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as T};
use intake_hal::operator::{
    Debouncer, FootSwitch, LogIndicator, OperatorInput, Outputs, Polarity, StackLight,
    StackLightPins, next_change,
};
use intake_hal::{Beep, Indicator, Light, Signal};

fn signal(light: Light, blink: bool, beep: Beep) -> Signal {
    Signal {
        light,
        blink,
        beep,
        text: "test".into(),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn outputs_over_time() {
    let accept = signal(Light::Green, false, Beep::Short);
    assert_eq!(
        Outputs::at(&accept, ms(0)),
        Outputs {
            green: true,
            buzzer: true,
            ..Outputs::default()
        }
    );
    assert!(!Outputs::at(&accept, ms(150)).buzzer);
    assert!(Outputs::at(&accept, ms(10_000)).green);
    assert_eq!(next_change(&accept, ms(0)), Some(ms(150)));
    assert_eq!(next_change(&accept, ms(150)), None);

    let hold = signal(Light::Amber, true, Beep::Double);
    let beeps: Vec<bool> = [0, 119, 120, 239, 240, 359, 360]
        .iter()
        .map(|t| Outputs::at(&hold, ms(*t)).buzzer)
        .collect();
    assert_eq!(beeps, [true, true, false, false, true, true, false]);
    assert!(Outputs::at(&hold, ms(499)).amber);
    assert!(!Outputs::at(&hold, ms(500)).amber);
    assert!(Outputs::at(&hold, ms(1_000)).amber);
    assert_eq!(next_change(&hold, ms(360)), Some(ms(500)));
    assert_eq!(next_change(&hold, ms(500)), Some(ms(1_000)));

    let ret = signal(Light::Red, false, Beep::Long);
    assert!(Outputs::at(&ret, ms(799)).buzzer && !Outputs::at(&ret, ms(800)).buzzer);
    assert_eq!(
        Outputs::at(&signal(Light::Off, true, Beep::None), ms(0)),
        Outputs::default()
    );
    assert_eq!(
        next_change(&signal(Light::Off, true, Beep::None), ms(0)),
        None
    );
}

fn pins(
    polarity: Polarity,
    g: &[T],
    a: &[T],
    r: &[T],
    b: &[T],
) -> (StackLightPins<PinMock>, [PinMock; 4]) {
    let mocks = [
        PinMock::new(g),
        PinMock::new(a),
        PinMock::new(r),
        PinMock::new(b),
    ];
    (
        StackLightPins {
            green: mocks[0].clone(),
            amber: mocks[1].clone(),
            red: mocks[2].clone(),
            buzzer: Some(mocks[3].clone()),
            polarity,
            buzzer_polarity: Polarity::ActiveHigh,
        },
        mocks,
    )
}

#[tokio::test(start_paused = true)]
async fn accept_is_green_with_one_short_beep_active_high() {
    use State::{High, Low};
    let (p, mut mocks) = pins(
        Polarity::ActiveHigh,
        &[T::set(High), T::set(High)],
        &[T::set(Low), T::set(Low)],
        &[T::set(Low), T::set(Low)],
        &[T::set(High), T::set(Low)],
    );
    let mut light = StackLight::new("light", p);
    light
        .show(&signal(Light::Green, false, Beep::Short))
        .await
        .unwrap();
    tokio::time::sleep(ms(1_000)).await;
    drop(light);
    for m in &mut mocks {
        m.done();
    }
}

#[tokio::test(start_paused = true)]
async fn active_low_relays_invert_the_lamps_not_the_buzzer() {
    use State::{High, Low};
    let (p, mut mocks) = pins(
        Polarity::ActiveLow,
        &[T::set(High)],
        &[T::set(High)],
        &[T::set(Low)],
        &[T::set(Low)],
    );
    let mut light = StackLight::new("light", p);
    light
        .show(&signal(Light::Red, false, Beep::None))
        .await
        .unwrap();
    tokio::time::sleep(ms(1_000)).await;
    drop(light);
    for m in &mut mocks {
        m.done();
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_signal_replaces_a_blinking_one() {
    use State::{High, Low};
    // Blink amber: on at 0 (beep none), off at 500, on at 1000; at 1200 a green signal.
    let (p, mut mocks) = pins(
        Polarity::ActiveHigh,
        &[T::set(Low), T::set(Low), T::set(Low), T::set(High)],
        &[T::set(High), T::set(Low), T::set(High), T::set(Low)],
        &[T::set(Low), T::set(Low), T::set(Low), T::set(Low)],
        &[T::set(Low), T::set(Low), T::set(Low), T::set(Low)],
    );
    let mut light = StackLight::new("light", p);
    light
        .show(&signal(Light::Amber, true, Beep::None))
        .await
        .unwrap();
    tokio::time::sleep(ms(1_200)).await;
    light
        .show(&signal(Light::Green, false, Beep::None))
        .await
        .unwrap();
    tokio::time::sleep(ms(5_000)).await;
    drop(light);
    for m in &mut mocks {
        m.done();
    }
}

#[test]
fn debouncing_ignores_bounce_and_classifies_presses() {
    let mut d = Debouncer::new(ms(30), ms(1_000));
    // Contact bounce on press: 0/1 flicker shorter than 30 ms says nothing.
    let mut events = Vec::new();
    let raw = [(0, true), (5, false), (10, true), (15, false), (20, true)];
    for (t, v) in raw {
        events.extend(d.sample(ms(t), v));
    }
    assert!(!d.is_pressed());
    for t in (25..=60).step_by(5) {
        events.extend(d.sample(ms(t), true));
    }
    assert!(d.is_pressed(), "held 40 ms since the last bounce");
    // A short press: released at 300 ms (with bounce), confirmed once it settles.
    for (t, v) in [(300, false), (305, true), (310, false)] {
        events.extend(d.sample(ms(t), v));
    }
    for t in (315..=400).step_by(5) {
        events.extend(d.sample(ms(t), false));
    }
    assert_eq!(events, [OperatorInput::Confirm]);

    // A long press reports while held, and its release says nothing more.
    let mut events = Vec::new();
    for t in (1_000..=2_100).step_by(5) {
        events.extend(d.sample(ms(t), true));
    }
    assert_eq!(events, [OperatorInput::Remeasure]);
    for t in (2_105..=2_300).step_by(5) {
        events.extend(d.sample(ms(t), false));
    }
    assert_eq!(events, [OperatorInput::Remeasure]);
    assert!(!d.is_pressed());
}

#[tokio::test(start_paused = true)]
async fn the_foot_switch_reads_an_active_low_press() {
    use State::{High, Low};
    // Sampled every 5 ms: released at 0 and 5, pressed (low) from 10 to 55 ms (accepted at
    // 30), released from 60 (accepted at 80, the fifth high sample): a confirm, and no
    // further sample is taken.
    let mut t: Vec<T> = vec![T::get(High); 2];
    t.extend(vec![T::get(Low); 10]);
    t.extend(vec![T::get(High); 5]);
    let mut pin = PinMock::new(&t);
    let mut sw = FootSwitch::new(
        "pedal",
        pin.clone(),
        Polarity::ActiveLow,
        Debouncer::new(ms(20), ms(1_000)),
    );
    assert_eq!(sw.next_input().await.unwrap(), OperatorInput::Confirm);
    drop(sw);
    pin.done();
}

/// Captures formatted tracing output.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_log_indicator_writes_one_readable_line_per_signal() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut ind = LogIndicator::new("sim-light");
    ind.show(&Signal {
        light: Light::Red,
        blink: false,
        beep: Beep::Long,
        text: "return to sender: over 59 in".into(),
    })
    .await
    .unwrap();
    ind.show(&signal(Light::Amber, true, Beep::Double))
        .await
        .unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("RED, one long beep: return to sender: over 59 in"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("device=sim-light"), "{}", lines[0]);
    assert!(
        lines[1].contains("AMBER (blinking), two short beeps: test"),
        "{}",
        lines[1]
    );
}
