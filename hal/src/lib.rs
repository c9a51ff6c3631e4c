//! intake-hal: the station's hardware — device traits, typed readings, real drivers and
//! simulators. No business rules live here: the station decides, the hal measures.

pub mod camera;
pub mod device;
pub mod operator;
pub mod quantity;
pub mod range;
pub mod scale;
pub mod sim;

pub use device::{
    Beep, BoxFuture, Camera, DeviceError, ErrorKind, Indicator, Light, RangeFinder, Scale,
    ScaleStatus, Signal, WeightKind, WeightReading,
};
