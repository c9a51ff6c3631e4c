//! Distance sensors: VL53L1X (I2C), HC-SR04 (GPIO), TFmini (UART), and simulated ones.
//!
//! Each driver is generic over `embedded-hal` 1.0 traits (or an async byte stream) and
//! implements [`crate::RangeFinder`], so the daemon holds `Box<dyn RangeFinder>` whichever
//! sensor the config chose.

pub mod hcsr04;
pub mod pi;
pub mod tfmini;
pub mod vl53l1x;
