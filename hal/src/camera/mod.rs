//! Cameras: frame capture from real sources, and the simulated camera that renders a real
//! label image.
//!
//! - [`config`]: the `[camera]` table (`type = "sim" | "file" | "v4l2" | "folder" | "http"`).
//! - [`V4l2Camera`]: a USB (UVC) camera through Video4Linux2.
//! - [`FolderCamera`]: a drop folder an industrial camera writes frames into.
//! - [`HttpCamera`]: a network camera's snapshot URL (basic or digest authentication).
//! - [`SimCamera`]: frames of whatever label the simulated station holds.
//! - [`FileCamera`]: frames replayed from image files.
//! - [`image_file`]: every image format a frame comes in, decoded under size limits.
//! - [`label`]: a shipping label (waybill as Code 128, postcode, QR) drawn with rxing's
//!   encoders and a tiny bitmap font; [`scene`]: a camera frame around it; [`hard`]: the
//!   frames real dock cameras give (narrow modules, motion blur, faded print).

pub mod auth;
pub mod config;
mod file;
pub mod folder;
mod font;
pub mod hard;
mod http;
pub mod image_file;
pub mod label;
pub mod scene;
mod sim;
pub mod v4l2;

pub use config::{CameraConfig, CameraSettings};
pub use file::FileCamera;
pub use folder::FolderCamera;
pub use hard::{Hardship, hard_frame, hard_scene};
pub use http::HttpCamera;
pub use label::{LabelDamage, LabelError, LabelSpec, WaybillCode, render_label};
pub use scene::{Scene, compose};
pub use sim::{SimCamera, SimCameraConfig};
pub use v4l2::V4l2Camera;
