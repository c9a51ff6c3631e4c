//! Measurement: stable-weight detection (`weight`), dimensions from distance sensors
//! (`dims`), and their calibration, drift and verification (`calibration`).

pub mod calibration;
pub mod dims;
pub mod weight;
