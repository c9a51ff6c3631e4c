//! HC-SR04 transcript tests: the TRIG pin transactions are checked by `embedded-hal-mock`
//! (ending with `.done()`); the ECHO edges come from a script that plays them when TRIG
//! falls, stamped as the kernel would stamp GPIO line events.
//!
//! Timing per the HC-SR04 datasheet (Elecfreaks / Cytron): a ≥10 µs TRIG pulse; the echo
//! pulse width is the round trip; 2 cm – 400 cm; about 38 ms high with no obstacle.

use std::time::Duration;

use embedded_hal::digital::{ErrorType, OutputPin};
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as T};
use intake_hal::range::hcsr04::{Edge, EdgeSender, HcSr04, Settings, edge_channel};
use intake_hal::{ErrorKind, RangeFinder};

/// The mock TRIG pin, plus: when TRIG goes low after a high pulse, the "sensor" answers
/// with the scripted echo edges.
struct TrigWithEcho {
    pin: PinMock,
    echo: EdgeSender,
    script: Vec<Vec<Edge>>,
    high: bool,
}

impl ErrorType for TrigWithEcho {
    type Error = <PinMock as ErrorType>::Error;
}

impl OutputPin for TrigWithEcho {
    fn set_low(&mut self) -> Result<(), Self::Error> {
        self.pin.set_low()?;
        if self.high && !self.script.is_empty() {
            for e in self.script.remove(0) {
                let _ = self.echo.send(e);
            }
        }
        self.high = false;
        Ok(())
    }

    fn set_high(&mut self) -> Result<(), Self::Error> {
        self.pin.set_high()?;
        self.high = true;
        Ok(())
    }
}

fn pulse() -> [T; 3] {
    [T::set(State::Low), T::set(State::High), T::set(State::Low)]
}

fn echo(start_us: u64, width_us: u64) -> Vec<Edge> {
    let t0 = Duration::from_secs(1_000) + Duration::from_micros(start_us);
    vec![
        Edge {
            rising: true,
            at: t0,
        },
        Edge {
            rising: false,
            at: t0 + Duration::from_micros(width_us),
        },
    ]
}

fn sensor(
    transactions: &[T],
    script: Vec<Vec<Edge>>,
    settings: Settings,
) -> (HcSr04<TrigWithEcho, NoopDelay>, PinMock, EdgeSender) {
    let pin = PinMock::new(transactions);
    let (tx, rx) = edge_channel();
    let trig = TrigWithEcho {
        pin: pin.clone(),
        echo: tx.clone(),
        script,
        high: false,
    };
    (
        HcSr04::new("front", trig, NoopDelay::new(), rx, settings),
        pin,
        tx,
    )
}

#[tokio::test(start_paused = true)]
async fn echo_width_from_edge_timestamps_at_20c() {
    // 2 913 µs round trip at 343.42 m/s = 500.2 mm.
    let (mut s, mut pin, _tx) = sensor(&pulse(), vec![echo(450, 2_913)], Settings::default());
    let d = s.measure().await.unwrap();
    assert_eq!(d.micrometres() / 100, 5_001, "{d:?}");
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn temperature_changes_the_distance() {
    let cold = Settings {
        temp_millicelsius: -5_000,
        ..Settings::default()
    };
    let (mut s, mut pin, _tx) = sensor(&pulse(), vec![echo(450, 2_913)], cold);
    let d = s.measure().await.unwrap();
    // 328.27 m/s × 2 913 µs / 2 = 478.1 mm.
    assert_eq!(d.micrometres() / 100, 4_781, "{d:?}");
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn edges_from_before_the_trigger_are_dropped() {
    let (mut s, mut pin, tx) = sensor(&pulse(), vec![vec![]], Settings::default());
    // Left over from an earlier measurement, queued before this trigger.
    for e in echo(0, 2_913) {
        tx.send(e).unwrap();
    }
    let e = s.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn a_fall_before_the_rise_is_the_tail_of_an_old_echo() {
    let mut script = vec![Edge {
        rising: false,
        at: Duration::from_secs(999),
    }];
    script.extend(echo(0, 5_824)); // 1.000 m at 20 °C
    let (mut s, mut pin, _tx) = sensor(&pulse(), vec![script], Settings::default());
    let d = s.measure().await.unwrap();
    assert_eq!(d.micrometres() / 1_000, 1_000, "{d:?}");
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn no_echo_is_a_timeout_that_names_the_wiring() {
    let (mut s, mut pin, _tx) = sensor(&pulse(), vec![vec![]], Settings::default());
    let e = s.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.to_string().contains("ECHO wiring"), "{e}");
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn an_echo_that_never_ends_is_out_of_range() {
    let rise_only = vec![Edge {
        rising: true,
        at: Duration::from_secs(1),
    }];
    let (mut s, mut pin, _tx) = sensor(&pulse(), vec![rise_only], Settings::default());
    let e = s.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfRange);
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn the_38ms_no_obstacle_pulse_is_too_far() {
    let (mut s, mut pin, _tx) = sensor(&pulse(), vec![echo(0, 38_000)], Settings::default());
    let e = s.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfRange);
    assert!(e.to_string().contains("beyond"), "{e}");
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn an_echo_nearer_than_2cm_is_too_close() {
    let (mut s, mut pin, _tx) = sensor(&pulse(), vec![echo(0, 58)], Settings::default());
    let e = s.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfRange);
    assert!(e.to_string().contains("nearer"), "{e}");
    pin.done();
}

#[tokio::test(start_paused = true)]
async fn a_trigger_pin_error_is_a_disconnect() {
    use embedded_hal_mock::eh1::MockError;
    let t = [T::set(State::Low).with_error(MockError::Io(std::io::ErrorKind::NotConnected))];
    let (mut s, mut pin, _tx) = sensor(&t, vec![], Settings::default());
    let e = s.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disconnected);
    pin.done();
}
