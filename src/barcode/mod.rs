//! Frame → barcode candidates (rxing) → the waybill, with confidence and position.
//!
//! [`Reader::read`] takes one 8-bit luma frame and returns every symbol it finds in the
//! enabled formats. Large frames are not handed to rxing whole: a cheap texture analysis
//! finds candidate regions ([`regions`]), each region is cut out (deskewed for bar codes)
//! and decoded with the one reader its texture calls for, regions in parallel across cores.
//! A whole-frame pass runs only when regions were found but none decoded; a frame without
//! texture is rejected after the analysis. [`choose_waybill`] then picks the waybill.
//!
//! Results are deterministic: regions are ordered by position, decoded independently and
//! merged in that order, and no step depends on the clock or on hash-map order of ours.

mod config;
mod decode;
mod reader;
mod regions;
mod sample;
mod waybill;

use serde::Serialize;

pub use config::{BarcodeConfig, BarcodeConfigError, ReaderSettings};
pub use reader::{ReadStats, Reader};
pub use regions::{Region, RegionKind, find_regions};
pub use waybill::{ChosenSymbol, choose_waybill};

/// A symbology the reader can look for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[serde(rename = "code128")]
    Code128,
    #[serde(rename = "code39")]
    Code39,
    QrCode,
    DataMatrix,
    #[serde(rename = "pdf417")]
    Pdf417,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Code128,
        Format::Code39,
        Format::QrCode,
        Format::DataMatrix,
        Format::Pdf417,
    ];

    /// The name used in config and JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Code128 => "code128",
            Format::Code39 => "code39",
            Format::QrCode => "qr_code",
            Format::DataMatrix => "data_matrix",
            Format::Pdf417 => "pdf417",
        }
    }

    /// A linear (one-dimensional) bar code, read along scan lines.
    pub fn is_linear(self) -> bool {
        matches!(self, Format::Code128 | Format::Code39)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in frame pixel coordinates (x right, y down).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// One symbol found in a frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Symbol {
    pub format: Format,
    /// The decoded text.
    pub text: String,
    /// The raw data bytes as the decoder reported them (empty for linear codes).
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// The symbol's four corners in frame coordinates. For 2D codes the detector's corners;
    /// for linear codes the box of the scan lines that read it.
    pub corners: [Point; 4],
}

impl Symbol {
    /// The centre of the corners.
    pub fn center(&self) -> Point {
        let (sx, sy) = self
            .corners
            .iter()
            .fold((0.0, 0.0), |(x, y), p| (x + p.x, y + p.y));
        Point {
            x: sx / 4.0,
            y: sy / 4.0,
        }
    }
}

/// A borrowed 8-bit luma frame: `width × height` bytes, row after row.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
}

/// A buffer that does not hold the frame its size promises.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {width}×{height} luma frame needs {} bytes but the buffer holds {len}; pass the camera's real size",
    u64::from(*width) * u64::from(*height)
)]
pub struct FrameSizeError {
    pub width: u32,
    pub height: u32,
    pub len: usize,
}

impl<'a> Frame<'a> {
    pub fn new(data: &'a [u8], width: u32, height: u32) -> Result<Frame<'a>, FrameSizeError> {
        let need = u64::from(width) * u64::from(height);
        if data.len() as u64 != need {
            return Err(FrameSizeError {
                width,
                height,
                len: data.len(),
            });
        }
        Ok(Frame {
            data,
            width,
            height,
        })
    }

    /// Borrows an `image::GrayImage` (whose buffer always matches its size).
    pub fn from_gray(img: &'a image::GrayImage) -> Frame<'a> {
        Frame {
            data: img.as_raw(),
            width: img.width(),
            height: img.height(),
        }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    #[inline]
    fn px(&self, x: usize, y: usize) -> u8 {
        self.data[y * self.width as usize + x]
    }
}
