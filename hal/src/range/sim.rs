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
    /// After `.0` parcels, readings come out `.1` shorter.
    drift: Option<(u64, Length)>,
    /// Parcels seen so far (a parcel counts when it appears between two readings).
    parcels: u64,
    parcel_seen: bool,
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
            drift: None,
            parcels: 0,
            parcel_seen: false,
        }
    }

    /// Drifts: once the sensor has measured `after` parcels, every reading is `by` shorter
    /// (a mount sagging towards the platform), so the empty station no longer matches its
    /// calibration.
    pub fn with_drift(mut self, after: u64, by: Length) -> Self {
        self.drift = Some((after, by));
        self
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
        let parcel = *self.world.borrow();
        if parcel.is_some() && !self.parcel_seen {
            self.parcels += 1;
        }
        self.parcel_seen = parcel.is_some();
        let extent = parcel.map(|b| b.extent(self.axis)).unwrap_or(Length::ZERO);
        let drift = match self.drift {
            // The parcel that makes the count is still measured true; the mount sags once
            // it is lifted.
            Some((after, by))
                if self.parcels > after || (self.parcels == after && parcel.is_none()) =>
            {
                by.micrometres()
            }
            _ => 0,
        };
        let n = self.noise.micrometres();
        let noise = if n > 0 {
            self.rng.random_range(-n..=n)
        } else {
            0
        };
        let um = self.mounting.micrometres() - extent.micrometres() + noise - drift;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_sets_in_after_the_configured_parcels() {
        let (tx, rx) = watch::channel(None);
        let mut s = SimRangeFinder::new("top", Axis::Z, Length::from_mm(1200), rx, 7)
            .with_noise(Length::ZERO)
            .with_drift(1, Length::from_mm(12));
        let mm = |s: &mut SimRangeFinder| s.read_now().map(|l| l.micrometres() / 1000);
        assert_eq!(mm(&mut s), Ok(1200), "empty, before any parcel");
        let parcel = SimBox::new(
            Length::from_mm(300),
            Length::from_mm(200),
            Length::from_mm(100),
        );
        tx.send_replace(Some(parcel));
        assert_eq!(mm(&mut s), Ok(1100), "the first parcel is measured true");
        tx.send_replace(None);
        assert_eq!(mm(&mut s), Ok(1188), "then the mount has sagged 12 mm");
        tx.send_replace(Some(parcel));
        assert_eq!(mm(&mut s), Ok(1088));
    }
}
