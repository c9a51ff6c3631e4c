//! The device traits and their typed readings and errors. Real drivers and simulators
//! implement the same trait; the config picks one, and the daemon only sees the trait.
//!
//! Traits return boxed futures so that the daemon can hold `Box<dyn Scale>` and friends
//! whichever backend the config chose.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::quantity::{Length, Mass, MassUnit};

/// A boxed, sendable future: what every async device method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What kind of trouble a device is in, so generic code decides reconnect-vs-alarm without
/// matching strings (as embedded-hal's `ErrorKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Unplugged, port gone, bus missing: close, back off, reopen.
    Disconnected,
    /// Nothing arrived in time: the device may be off or mis-set (baud, parity, address).
    Timeout,
    /// Bytes arrived but do not form a valid frame; skip them and read on.
    Malformed,
    /// A valid reading outside what the device can measure (overload, no echo, too far).
    OutOfRange,
    /// The device is configured wrongly or cannot exist on this machine: stop and say so.
    Config,
}

/// A device failure: which device, what kind, and the detail an operator or technician needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{device}: {detail}")]
pub struct DeviceError {
    pub device: String,
    pub kind: ErrorKind,
    pub detail: String,
}

impl DeviceError {
    pub fn new(device: impl Into<String>, kind: ErrorKind, detail: impl Into<String>) -> Self {
        DeviceError {
            device: device.into(),
            kind,
            detail: detail.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Whether a scale reports gross, net or tare weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightKind {
    #[default]
    Gross,
    Net,
    Tare,
}

/// A scale's own condition, beside the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScaleStatus {
    #[default]
    Ok,
    /// Above capacity: the weight shown is not the parcel's.
    OverCapacity,
    /// Below zero: the platform was zeroed with something on it, or the load cell drifts.
    UnderZero,
    /// The scale could not zero (power-up or zero-range error).
    ZeroError,
    /// The scale understood the command but cannot carry it out now.
    NotExecutable,
    /// The scale reports a fault of its own (RAM, ROM, EEPROM, calibration): service it.
    Fault,
}

/// One weight reading as the scale sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WeightReading {
    /// The weight the scale displayed (net when it reports net); may be below zero.
    pub weight: Mass,
    /// The unit the scale used on the wire.
    pub unit: MassUnit,
    /// The scale's own stable (no-motion) flag.
    pub stable: bool,
    pub kind: WeightKind,
    pub tare: Option<Mass>,
    pub status: ScaleStatus,
}

/// A shipping scale: a stream of weight readings.
pub trait Scale: Send {
    /// A short name for logs and the dashboard ("scale", "/dev/serial/by-id/…").
    fn name(&self) -> &str;

    /// Waits for the next reading. Polled protocols send their request; continuous ones
    /// read. A `Disconnected` error is reported once; the next call tries to reconnect.
    fn next_reading(&mut self) -> BoxFuture<'_, Result<WeightReading, DeviceError>>;
}

/// A distance sensor over or beside the platform.
pub trait RangeFinder: Send {
    fn name(&self) -> &str;

    /// One distance reading to the nearest surface.
    fn measure(&mut self) -> BoxFuture<'_, Result<Length, DeviceError>>;
}

/// A camera over the label area.
pub trait Camera: Send {
    fn name(&self) -> &str;

    /// Captures one frame, as 8-bit luma (the barcode reader needs nothing else).
    fn capture(&mut self) -> BoxFuture<'_, Result<image::GrayImage, DeviceError>>;
}

/// The stack light's colour. Green accept, red return, amber hold or manual.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    Off,
    Green,
    Amber,
    Red,
}

/// A buzzer pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Beep {
    None,
    /// One short beep: accepted.
    Short,
    /// Two short beeps: look at the screen (hold, manual).
    Double,
    /// One long beep: set the parcel aside (return to sender).
    Long,
}

/// How the station's text begins when it refuses a parcel (its store is failing): the
/// parcel is not taken and is to be put on again once the station is ready. The simulated
/// operator reads it as a real one reads the screen.
pub const REFUSED_TEXT: &str = "NOT STORED — the store is failing";

/// What the operator is shown: a light (steady or blinking), a beep and one line of text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Signal {
    pub light: Light,
    pub blink: bool,
    pub beep: Beep,
    /// The verdict in words (the simulated indicator logs it; a real light ignores it).
    pub text: String,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}{} {}",
            self.light,
            if self.blink { " (blink)" } else { "" },
            self.text
        )
    }
}

/// The operator's light and buzzer.
pub trait Indicator: Send {
    fn name(&self) -> &str;

    fn show(&mut self, signal: &Signal) -> BoxFuture<'_, Result<(), DeviceError>>;
}

/// Where each reading came from, for the technician's tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    Scale,
    RangeFinder,
    Camera,
    Indicator,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_which_device_and_keep_their_kind() {
        let e = DeviceError::new(
            "scale on /dev/ttyUSB0",
            ErrorKind::Timeout,
            "sent nothing for 2s; check it is powered and set to 9600 8N1",
        );
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(
            e.to_string()
                .starts_with("scale on /dev/ttyUSB0: sent nothing")
        );
    }
}
