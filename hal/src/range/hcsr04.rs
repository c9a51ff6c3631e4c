//! HC-SR04 ultrasonic distance sensor on two GPIO lines.
//!
//! A 10 µs pulse on TRIG starts a measurement; ECHO then stays high for the sound's round
//! trip (about 38 ms when nothing answers). The echo width is taken from the *timestamps* of
//! the echo's rising and falling edges, as the kernel records them for GPIO line events, not
//! from a busy loop sampling the pin: a busy loop on a Linux box is only as accurate as the
//! scheduler lets it be.
//!
//! The edges arrive on a channel ([`EdgeSender`]), so the source is injectable: on a Pi the
//! rppal interrupt callback feeds it (see `range::pi`); in tests a script does.

use std::time::Duration;

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::OutputPin;
use tokio::sync::mpsc;

use crate::device::{BoxFuture, DeviceError, ErrorKind, RangeFinder};
use crate::quantity::Length;

/// One edge on the ECHO line, stamped by a monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// `true` for low→high.
    pub rising: bool,
    /// When it happened, on any monotonic clock (only differences are used).
    pub at: Duration,
}

/// Where the edge source sends edges.
pub type EdgeSender = mpsc::UnboundedSender<Edge>;
/// Where the driver receives them.
pub type EdgeReceiver = mpsc::UnboundedReceiver<Edge>;

/// A new edge channel.
pub fn edge_channel() -> (EdgeSender, EdgeReceiver) {
    mpsc::unbounded_channel()
}

/// Speed of sound in dry air at `temp_millicelsius`, in millimetres per second:
/// 331.3 m/s + 0.606 m/s per °C (the usual linear approximation, within 0.2 % from −20 to
/// +40 °C). 20 °C gives 343.42 m/s.
pub fn speed_of_sound_mm_per_s(temp_millicelsius: i32) -> i64 {
    331_300 + i64::from(temp_millicelsius) * 606 / 1000
}

/// The one-way distance for an echo of `width` at the given speed of sound.
pub fn echo_to_distance(width: Duration, speed_mm_per_s: i64) -> Length {
    // ns × mm/s = 1e-9 mm = 1e-6 µm; halve for the round trip.
    let ns = i128::try_from(width.as_nanos()).unwrap_or(i128::MAX);
    let um = ns.saturating_mul(i128::from(speed_mm_per_s)) / 2_000_000;
    Length::from_micrometres(i64::try_from(um).unwrap_or(i64::MAX))
}

/// The sensor's setup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Air temperature at the sensor, for the speed of sound.
    pub temp_millicelsius: i32,
    /// Readings nearer than this are refused (datasheet: 2 cm).
    pub min: Length,
    /// Readings farther than this are refused (datasheet: 4 m).
    pub max: Length,
    /// How long to wait for the echo to start and to end.
    pub echo_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            temp_millicelsius: 20_000,
            min: Length::from_mm(20),
            max: Length::from_mm(4_000),
            echo_timeout: Duration::from_millis(60),
        }
    }
}

/// What went wrong with one measurement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error<E> {
    #[error("TRIG pin error {0:?}; check the GPIO number and that no other program holds it")]
    Pin(E),
    #[error(
        "no echo started within {0:?}; check ECHO wiring (through a 5 V → 3.3 V divider) and the sensor's 5 V supply"
    )]
    NoEcho(Duration),
    #[error(
        "the echo did not end within {0:?}; nothing in range, or the beam is blocked at an angle"
    )]
    EchoTooLong(Duration),
    #[error("the echo source stopped; the GPIO interrupt was released")]
    SourceClosed,
    #[error(
        "{distance} is nearer than the sensor's minimum {min}; something is in front of the sensor"
    )]
    TooClose { distance: Length, min: Length },
    #[error("{distance} is beyond the sensor's maximum {max}; nothing in range")]
    TooFar { distance: Length, max: Length },
}

/// An HC-SR04: TRIG as an output pin, ECHO as timestamped edges.
pub struct HcSr04<P, D> {
    name: String,
    trigger: P,
    delay: D,
    edges: EdgeReceiver,
    settings: Settings,
}

impl<P: OutputPin, D: DelayNs> HcSr04<P, D> {
    pub fn new(
        name: impl Into<String>,
        trigger: P,
        delay: D,
        edges: EdgeReceiver,
        settings: Settings,
    ) -> Self {
        HcSr04 {
            name: name.into(),
            trigger,
            delay,
            edges,
            settings,
        }
    }

    /// Gives the trigger pin and delay back.
    pub fn destroy(self) -> (P, D) {
        (self.trigger, self.delay)
    }

    /// One measurement: drop stale edges, pulse TRIG for 10 µs, then time the echo.
    pub async fn measure_once(&mut self) -> Result<Length, Error<P::Error>> {
        while self.edges.try_recv().is_ok() {}
        self.trigger.set_low().map_err(Error::Pin)?;
        self.delay.delay_us(2);
        self.trigger.set_high().map_err(Error::Pin)?;
        self.delay.delay_us(10);
        self.trigger.set_low().map_err(Error::Pin)?;

        let timeout = self.settings.echo_timeout;
        let rise = loop {
            match tokio::time::timeout(timeout, self.edges.recv()).await {
                Err(_) => return Err(Error::NoEcho(timeout)),
                Ok(None) => return Err(Error::SourceClosed),
                Ok(Some(e)) if e.rising => break e.at,
                // A falling edge before any rise is the tail of an earlier echo.
                Ok(Some(_)) => {}
            }
        };
        let fall = loop {
            match tokio::time::timeout(timeout, self.edges.recv()).await {
                Err(_) => return Err(Error::EchoTooLong(timeout)),
                Ok(None) => return Err(Error::SourceClosed),
                Ok(Some(e)) if !e.rising => break e.at,
                Ok(Some(_)) => {}
            }
        };
        let width = fall.saturating_sub(rise);
        let distance = echo_to_distance(
            width,
            speed_of_sound_mm_per_s(self.settings.temp_millicelsius),
        );
        if distance < self.settings.min {
            return Err(Error::TooClose {
                distance,
                min: self.settings.min,
            });
        }
        if distance > self.settings.max {
            return Err(Error::TooFar {
                distance,
                max: self.settings.max,
            });
        }
        Ok(distance)
    }
}

impl<P, D> RangeFinder for HcSr04<P, D>
where
    P: OutputPin + Send,
    P::Error: std::fmt::Debug + Send,
    D: DelayNs + Send,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn measure(&mut self) -> BoxFuture<'_, Result<Length, DeviceError>> {
        Box::pin(async move {
            self.measure_once().await.map_err(|e| {
                let kind = match &e {
                    Error::Pin(_) | Error::SourceClosed => ErrorKind::Disconnected,
                    Error::NoEcho(_) => ErrorKind::Timeout,
                    Error::EchoTooLong(_) | Error::TooClose { .. } | Error::TooFar { .. } => {
                        ErrorKind::OutOfRange
                    }
                };
                DeviceError::new(format!("HC-SR04 {}", self.name), kind, e.to_string())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speed_of_sound_follows_temperature() {
        assert_eq!(speed_of_sound_mm_per_s(0), 331_300);
        assert_eq!(speed_of_sound_mm_per_s(20_000), 343_420);
        assert_eq!(speed_of_sound_mm_per_s(-10_000), 325_240);
    }

    #[test]
    fn one_metre_round_trip() {
        // 2 m of travel at 343.42 m/s takes 5 823.77 µs.
        let d = echo_to_distance(Duration::from_nanos(5_823_770), 343_420);
        assert!((d.micrometres() - 1_000_000).abs() < 5, "{d:?}");
        // The same echo on a cold morning is a shorter distance.
        let cold = echo_to_distance(Duration::from_nanos(5_823_770), speed_of_sound_mm_per_s(0));
        assert!(cold < d);
        assert_eq!(echo_to_distance(Duration::ZERO, 343_420), Length::ZERO);
    }
}
