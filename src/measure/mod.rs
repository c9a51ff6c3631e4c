//! Measurement: stable-weight detection (`weight`) and dimensions from distance sensors (`dims`).

pub mod dims;
pub mod weight;
