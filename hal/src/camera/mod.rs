//! Cameras: frame capture, and the simulated camera that renders a real label image.
//!
//! - [`label`]: a shipping label (waybill as Code 128, postcode, QR) drawn with rxing's
//!   encoders and a tiny bitmap font.
//! - [`scene`]: a camera frame around a label: background, place, angle, blur, noise.
//! - [`SimCamera`]: frames of whatever label the simulated station holds.
//! - [`FileCamera`]: frames replayed from image files.

mod file;
mod font;
pub mod label;
pub mod scene;
mod sim;

pub use file::FileCamera;
pub use label::{LabelDamage, LabelError, LabelSpec, render_label};
pub use scene::{Scene, compose};
pub use sim::{SimCamera, SimCameraConfig};
