//! Distance sensors: VL53L1X (I2C), HC-SR04 (GPIO), TFmini (UART), and simulated ones.
//!
//! Each driver is generic over `embedded-hal` 1.0 traits (or an async byte stream) and
//! implements [`crate::RangeFinder`], so the daemon holds `Box<dyn RangeFinder>` whichever
//! sensor the config chose.

pub mod hcsr04;
pub mod pi;
pub mod sim;
pub mod tfmini;
pub mod vl53l1x;

use serde::{Deserialize, Serialize};

/// The station axis a sensor measures along: `x` along the platform, `y` across it (the
/// sensors beside the platform, the parcel pushed against the fence opposite), `z` up (the
/// sensor overhead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    X,
    Y,
    Z,
}

impl Axis {
    pub const ALL: [Axis; 3] = [Axis::X, Axis::Y, Axis::Z];

    pub fn label(self) -> &'static str {
        match self {
            Axis::X => "x",
            Axis::Y => "y",
            Axis::Z => "z",
        }
    }
}

impl std::fmt::Display for Axis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}
pub mod config;
