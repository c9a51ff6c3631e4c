//! `intake decode IMAGE...`: read every barcode in image files and pick the waybill, as
//! the station would from a camera frame.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use intake::barcode::{BarcodeConfig, Format, Reader, Symbol, choose_waybill};
use intake::judge::WaybillRead;
use intake_hal::camera::image_file::{ImageLimits, load_image};
use serde_json::json;

use super::{Context, bad_input};

/// Decode the barcodes in image files (PNG, JPEG, WebP, BMP, TIFF, GIF, PNM) and show the
/// waybill. Files are recognised by content and refused above 12000 × 12000 px.
#[derive(Debug, Args)]
pub(crate) struct Decode {
    /// Image files to read.
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
    /// Formats to look for (comma-separated): code128, code39, qr_code, data_matrix, pdf417.
    #[arg(long, value_delimiter = ',', value_parser = parse_format)]
    formats: Vec<Format>,
    /// Read Code 39 in full-ASCII (extended) mode.
    #[arg(long)]
    code39_full_ascii: bool,
    /// One JSON object per file and line instead of text.
    #[arg(long)]
    json: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::ALL
        .into_iter()
        .find(|f| f.as_str() == s.trim().to_ascii_lowercase())
        .ok_or_else(|| {
            format!("unknown format \"{s}\"; use code128, code39, qr_code, data_matrix or pdf417")
        })
}

impl Decode {
    pub(crate) fn run(self, ctx: &Context) -> anyhow::Result<ExitCode> {
        let settings = ctx.settings()?;
        let mut config = BarcodeConfig {
            code39_full_ascii: self.code39_full_ascii,
            ..BarcodeConfig::default()
        };
        if !self.formats.is_empty() {
            config.formats = self.formats.clone();
        }
        let reader = Reader::new(&config).map_err(bad_input)?;
        let mut failed = 0usize;
        for path in &self.images {
            let img = match load_image(path, &ImageLimits::default()) {
                Ok(i) => i,
                Err(e) => {
                    failed += 1;
                    let reason = e.to_string();
                    if self.json {
                        println!("{}", json!({"file": path, "error": reason}));
                    }
                    eprintln!("error: {reason}");
                    continue;
                }
            };
            let t0 = Instant::now();
            let symbols = reader.read_gray(&img);
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            let (read, _) = choose_waybill(&symbols, &settings.waybill);
            let waybill = match &read {
                WaybillRead::Read(w) => Some(w.clone()),
                _ => None,
            };
            if self.json {
                let mut obj = json!({
                    "file": path,
                    "width": img.width(),
                    "height": img.height(),
                    "barcodes": barcodes_json(&symbols),
                    "waybill": waybill,
                    "decode_ms": (ms * 100.0).round() / 100.0,
                });
                if let WaybillRead::Ambiguous(all) = &read {
                    obj["ambiguous"] = json!(all);
                }
                println!("{obj}");
            } else {
                let what = match &read {
                    WaybillRead::Read(w) => format!("waybill {w}"),
                    WaybillRead::NoRead => "no waybill".to_owned(),
                    WaybillRead::Ambiguous(all) => format!("ambiguous: {}", all.join(", ")),
                };
                let list: Vec<String> = symbols
                    .iter()
                    .map(|s| {
                        let c = s.center();
                        format!("{} {:?} at ({:.0}, {:.0})", s.format, s.text, c.x, c.y)
                    })
                    .collect();
                println!(
                    "{}: {what} · {} barcode(s){}{} · {ms:.1} ms",
                    path.display(),
                    symbols.len(),
                    if list.is_empty() { "" } else { ": " },
                    list.join("; ")
                );
            }
        }
        Ok(if failed > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// The symbols as JSON: text, format and the four corners in frame pixels.
pub(crate) fn barcodes_json(symbols: &[Symbol]) -> serde_json::Value {
    symbols
        .iter()
        .map(|s| {
            json!({
                "format": s.format,
                "text": s.text,
                "corners": s.corners.iter().map(|p| [round1(p.x), round1(p.y)]).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn round1(v: f32) -> f64 {
    (f64::from(v) * 10.0).round() / 10.0
}
