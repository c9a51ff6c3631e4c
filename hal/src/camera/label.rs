//! A shipping label as the simulated camera sees it: the waybill as Code 128 with its
//! number underneath, optionally a postcode bar code and a QR code, rendered with rxing's
//! encoders into an 8-bit image (black on white).

use image::{GrayImage, Luma};
use rxing::oned::{Code39Writer, Code128Writer, OneDimensionalCodeWriter};
use rxing::qrcode::QRCodeWriter;
use rxing::{BarcodeFormat, Writer};

use super::font;

/// What happened to the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelDamage {
    /// A clean label.
    #[default]
    None,
    /// The corner with most of the waybill bar code is torn off (the postcode survives).
    Torn,
    /// A label with text only: nothing to scan.
    NoBarcode,
}

/// The symbology the waybill is printed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaybillCode {
    #[default]
    Code128,
    /// Code 39, in full-ASCII (extended) mode when the text needs it: lower case and
    /// punctuation become shift pairs (`a` is `+A`, `!` is `/A`).
    Code39,
}

/// What the label on the station says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSpec {
    /// The waybill number, printed as a bar code (`waybill_code`) and as text.
    pub waybill: String,
    /// The waybill's symbology.
    pub waybill_code: WaybillCode,
    /// A second Code 128 (a postcode or sorting code), above the waybill.
    pub postcode: Option<String>,
    /// A QR code beside the postcode (a tracking URL, say).
    pub qr: Option<String>,
    pub damage: LabelDamage,
    /// Label pixels per narrow bar (and per QR module); 2 or more.
    pub module_px: u32,
}

impl LabelSpec {
    /// A clean label with the waybill, a postcode bar code and no QR.
    pub fn new(waybill: impl Into<String>) -> LabelSpec {
        LabelSpec {
            waybill: waybill.into(),
            waybill_code: WaybillCode::Code128,
            postcode: Some("42010115".to_owned()),
            qr: None,
            damage: LabelDamage::None,
            module_px: 3,
        }
    }
}

/// Why a label cannot be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("cannot encode \"{text}\" as {what}: {detail}; use printable ASCII")]
    Encode {
        text: String,
        what: &'static str,
        detail: String,
    },
    #[error("module_px {0} is too small to print; use 2 or more")]
    Module(u32),
}

fn oned(
    writer: &impl OneDimensionalCodeWriter,
    what: &'static str,
    text: &str,
) -> Result<Vec<bool>, LabelError> {
    writer.encode_oned(text).map_err(|e| LabelError::Encode {
        text: text.to_owned(),
        what,
        detail: e.to_string(),
    })
}

fn code128(text: &str) -> Result<Vec<bool>, LabelError> {
    oned(&Code128Writer, "Code 128", text)
}

fn qr(text: &str) -> Result<rxing::common::BitMatrix, LabelError> {
    QRCodeWriter
        .encode(text, &BarcodeFormat::QR_CODE, 0, 0)
        .map_err(|e| LabelError::Encode {
            text: text.to_owned(),
            what: "QR code",
            detail: e.to_string(),
        })
}

fn fill(img: &mut GrayImage, x: u32, y: u32, w: u32, h: u32, v: u8) {
    for yy in y..(y + h).min(img.height()) {
        for xx in x..(x + w).min(img.width()) {
            img.put_pixel(xx, yy, Luma([v]));
        }
    }
}

fn bars(img: &mut GrayImage, x: u32, y: u32, pattern: &[bool], m: u32, h: u32) {
    for (i, &black) in pattern.iter().enumerate() {
        if black {
            fill(img, x + i as u32 * m, y, m, h, 0);
        }
    }
}

/// Renders the label: white paper, black print.
pub fn render_label(spec: &LabelSpec) -> Result<GrayImage, LabelError> {
    let m = spec.module_px;
    if m < 2 {
        return Err(LabelError::Module(m));
    }
    let wb = match spec.waybill_code {
        WaybillCode::Code128 => code128(&spec.waybill)?,
        WaybillCode::Code39 => oned(&Code39Writer, "Code 39", &spec.waybill)?,
    };
    let pc = spec.postcode.as_deref().map(code128).transpose()?;
    let q = spec.qr.as_deref().map(qr).transpose()?;
    let quiet = 12 * m;
    let text = m.max(2);
    let wb_w = wb.len() as u32 * m;
    let pc_w = pc.as_ref().map_or(0, |p| p.len() as u32 * m);
    let q_side = q.as_ref().map_or(0, |q| q.width() * m);
    let width = (wb_w + 2 * quiet)
        .max(pc_w + q_side + 3 * quiet)
        .max(font::text_width("INTAKE PARCEL POST", text) + 2 * quiet);
    let top_h = 7 * text + 2 * quiet / 3;
    let pc_h = if pc.is_some() || q.is_some() {
        (26 * m).max(q_side) + 10 * text + quiet / 2
    } else {
        0
    };
    let wb_h = 34 * m;
    let height = top_h + pc_h + wb_h + 10 * text + quiet + quiet / 2;
    let mut img = GrayImage::from_pixel(width, height, Luma([255]));
    // A thin printed frame, well outside every quiet zone.
    let b = (m / 2).max(1);
    fill(&mut img, 0, 0, width, b, 0);
    fill(&mut img, 0, height - b, width, b, 0);
    fill(&mut img, 0, 0, b, height, 0);
    fill(&mut img, width - b, 0, b, height, 0);
    let mut y = quiet / 2;
    font::draw_text(&mut img, quiet, y, "INTAKE PARCEL POST", text);
    y = top_h;
    let print = spec.damage != LabelDamage::NoBarcode;
    if let Some(p) = &pc {
        if print {
            bars(&mut img, quiet, y, p, m, 26 * m);
        }
        if let Some(t) = &spec.postcode {
            font::draw_text(&mut img, quiet, y + 26 * m + 2 * text, t, text);
        }
    }
    if let Some(q) = &q
        && print
    {
        let x0 = width - quiet - q_side;
        for qy in 0..q.height() {
            for qx in 0..q.width() {
                if q.get(qx, qy) {
                    fill(&mut img, x0 + qx * m, y + qy * m, m, m, 0);
                }
            }
        }
    }
    y += pc_h;
    let x0 = (width - wb_w) / 2;
    if print {
        bars(&mut img, x0, y, &wb, m, wb_h);
    }
    font::draw_text(&mut img, x0, y + wb_h + 2 * text, &spec.waybill, text);
    if spec.damage == LabelDamage::Torn {
        // Tear from the right edge across 60% of the waybill, slanting upwards.
        let tear_x = x0 + wb_w * 2 / 5;
        for yy in y.saturating_sub(quiet / 2)..height {
            let slant = (height - yy) / 4;
            fill(&mut img, tear_x.saturating_sub(slant), yy, width, 1, 255);
        }
    }
    Ok(img)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_is_white_with_black_bars_and_grows_with_the_module() {
        let small = render_label(&LabelSpec::new("EE123456785GB")).unwrap();
        let big = render_label(&LabelSpec {
            module_px: 4,
            ..LabelSpec::new("EE123456785GB")
        })
        .unwrap();
        assert!(big.width() > small.width());
        let black = small.pixels().filter(|p| p.0[0] == 0).count();
        assert!(black > 1000 && black < (small.width() * small.height()) as usize / 2);
    }

    #[test]
    fn no_barcode_label_prints_less_ink_and_bad_text_is_an_error() {
        let clean = render_label(&LabelSpec::new("EE123456785GB")).unwrap();
        let blank = render_label(&LabelSpec {
            damage: LabelDamage::NoBarcode,
            ..LabelSpec::new("EE123456785GB")
        })
        .unwrap();
        let ink = |i: &GrayImage| i.pixels().filter(|p| p.0[0] == 0).count();
        assert!(ink(&blank) * 3 < ink(&clean));
        assert!(matches!(
            render_label(&LabelSpec::new("EE1234€")),
            Err(LabelError::Encode { .. })
        ));
        assert!(matches!(
            render_label(&LabelSpec {
                module_px: 1,
                ..LabelSpec::new("X")
            }),
            Err(LabelError::Module(1))
        ));
    }
}
