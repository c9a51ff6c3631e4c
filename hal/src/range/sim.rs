//! Simulated range finders: each reports the distance to the parcel on its axis, i.e. its
//! mounting distance less the parcel's extent on that axis, with a little seeded noise. The
//! simulated dock drives them through a `watch` channel of the parcel on the platform.

use std::sync::{Arc, Mutex};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tokio::sync::watch;

use super::Axis;
use crate::device::{BoxFuture, DeviceError, ErrorKind, RangeFinder};
use crate::quantity::Length;

/// A parcel on the simulated platform, as placed: `length` along x, `width` along y,
/// `height` up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct SimBox {
    pub length: Length,
    pub width: Length,
    pub height: Length,
}

impl SimBox {
    pub fn new(length: Length, width: Length, height: Length) -> Self {
        SimBox {
            length,
            width,
            height,
        }
    }

    /// The parcel's extent along `axis`.
    pub fn extent(&self, axis: Axis) -> Length {
        match axis {
            Axis::X => self.length,
            Axis::Y => self.width,
            Axis::Z => self.height,
        }
    }
}

/// A fault to inject into a simulated sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SimFault {
    /// Something (a hand) moves through the beam near the sensor: each reading is a short,
    /// different distance.
    HandInBeam,
    /// The sensor reports nothing in range.
    OutOfRange,
    /// The sensor has gone (unplugged).
    Disconnected,
}

/// A handle to inject or clear a fault while the sensor is boxed away in the daemon.
#[derive(Debug, Clone, Default)]
pub struct FaultSwitch(Arc<Mutex<Option<SimFault>>>);

impl FaultSwitch {
    pub fn set(&self, fault: Option<SimFault>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = fault;
    }

    pub fn get(&self) -> Option<SimFault> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A simulated distance sensor.
pub struct SimRangeFinder {
    name: String,
    axis: Axis,
    mounting: Length,
    noise: Length,
    world: watch::Receiver<Option<SimBox>>,
    rng: ChaCha8Rng,
    fault: FaultSwitch,
}

impl SimRangeFinder {
    /// A sensor `mounting` away from the opposite fence (or the platform, for `z`) along
    /// `axis`, watching `world`. Noise defaults to ±1 mm, uniform, from `seed`.
    pub fn new(
        name: impl Into<String>,
        axis: Axis,
        mounting: Length,
        world: watch::Receiver<Option<SimBox>>,
        seed: u64,
    ) -> Self {
        SimRangeFinder {
            name: name.into(),
            axis,
            mounting,
            noise: Length::from_mm(1),
            world,
            rng: ChaCha8Rng::seed_from_u64(seed),
            fault: FaultSwitch::default(),
        }
    }

    /// Sets the noise amplitude (uniform in ±`noise`).
    pub fn with_noise(mut self, noise: Length) -> Self {
        self.noise = noise;
        self
    }

    /// The handle to inject faults with.
    pub fn fault_switch(&self) -> FaultSwitch {
        self.fault.clone()
    }

    pub fn axis(&self) -> Axis {
        self.axis
    }

    fn error(&self, kind: ErrorKind, detail: &str) -> DeviceError {
        DeviceError::new(format!("simulated sensor {}", self.name), kind, detail)
    }

    /// One reading, synchronously.
    pub fn read_now(&mut self) -> Result<Length, DeviceError> {
        match self.fault.get() {
            Some(SimFault::OutOfRange) => {
                return Err(self.error(ErrorKind::OutOfRange, "nothing in range (injected fault)"));
            }
            Some(SimFault::Disconnected) => {
                return Err(self.error(ErrorKind::Disconnected, "not answering (injected fault)"));
            }
            Some(SimFault::HandInBeam) => {
                // 5–30 cm from the sensor, a new place each reading.
                let um = self.rng.random_range(50_000..300_000);
                return Ok(Length::from_micrometres(um));
            }
            None => {}
        }
        let extent = (*self.world.borrow())
            .map(|b| b.extent(self.axis))
            .unwrap_or(Length::ZERO);
        let n = self.noise.micrometres();
        let noise = if n > 0 {
            self.rng.random_range(-n..=n)
        } else {
            0
        };
        let um = self.mounting.micrometres() - extent.micrometres() + noise;
        if um < 20_000 {
            return Err(self.error(
                ErrorKind::OutOfRange,
                "the parcel is closer than the sensor's 2 cm minimum",
            ));
        }
        Ok(Length::from_micrometres(um))
    }
}

impl RangeFinder for SimRangeFinder {
    fn name(&self) -> &str {
        &self.name
    }

    fn measure(&mut self) -> BoxFuture<'_, Result<Length, DeviceError>> {
        let r = self.read_now();
        Box::pin(async move { r })
    }
}
