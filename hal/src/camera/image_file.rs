//! Reading a label image from bytes or a file: every common format (PNG, JPEG, WebP, BMP,
//! TIFF, GIF, PNM), recognised by its content, not its name, and decoded under limits so a
//! huge or malicious file is refused with a clear error instead of exhausting memory.
//!
//! The dimensions are read from the header first and checked against [`ImageLimits`]; the
//! decode itself then runs with the same limits handed to the `image` crate, so a header
//! that lies about the size still cannot make the decoder allocate past `max_alloc`.

use std::io::{Cursor, Read};
use std::path::Path;

use image::{GrayImage, ImageError, ImageFormat, ImageReader};

/// The formats a frame may come in, for messages.
pub const FORMATS: &str = "PNG, JPEG, WebP, BMP, TIFF, GIF or PNM";

/// File-name extensions of those formats (lower case), for folder listings.
pub const EXTENSIONS: [&str; 12] = [
    "png", "jpg", "jpeg", "webp", "bmp", "tif", "tiff", "gif", "pnm", "pgm", "ppm", "pbm",
];

/// Whether a path's extension names an image format intake reads.
pub fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|x| x.to_str())
        .is_some_and(|x| EXTENSIONS.contains(&x.to_ascii_lowercase().as_str()))
}

/// How large an image may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLimits {
    pub max_width: u32,
    pub max_height: u32,
    /// The most the decoder may allocate at once, bytes (the decoded pixels included).
    pub max_alloc: u64,
    /// The largest file read, bytes.
    pub max_file: u64,
}

impl Default for ImageLimits {
    /// 12000 × 12000 px (a 100-megapixel industrial camera fits), 512 MiB while decoding
    /// (a 12000 × 12000 RGB frame needs 412 MiB), files up to 256 MiB.
    fn default() -> Self {
        ImageLimits {
            max_width: 12_000,
            max_height: 12_000,
            max_alloc: 512 << 20,
            max_file: 256 << 20,
        }
    }
}

impl ImageLimits {
    fn for_image_crate(&self) -> image::Limits {
        let mut l = image::Limits::default();
        l.max_image_width = Some(self.max_width);
        l.max_image_height = Some(self.max_height);
        l.max_alloc = Some(self.max_alloc);
        l
    }
}

/// Why an image could not be read. `what` names the file or the source ("the snapshot").
#[derive(Debug, thiserror::Error)]
pub enum ImageFileError {
    #[error("cannot read {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} is empty (0 bytes); the camera wrote nothing")]
    Empty { what: String },
    #[error(
        "{what} is {len} bytes, more than the {max} intake reads; is it really one camera frame?"
    )]
    FileTooLarge { what: String, len: u64, max: u64 },
    #[error("{what} is not an image in a format intake reads ({FORMATS})")]
    UnknownFormat { what: String },
    #[error(
        "{what} is {width}×{height} px; intake reads frames up to {max_width}×{max_height} px, so it refuses this one (lower the camera's resolution)"
    )]
    TooLarge {
        what: String,
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    #[error(
        "{what} needs more memory to decode than the {max_mib} MiB intake allows; refused ({detail})"
    )]
    TooMuchMemory {
        what: String,
        max_mib: u64,
        detail: String,
    },
    #[error("{what} is not a readable {format:?} image (truncated or corrupt?): {detail}")]
    Corrupt {
        what: String,
        format: ImageFormat,
        detail: String,
    },
}

/// Decodes an image held in memory into 8-bit luma.
pub fn decode_image(
    bytes: &[u8],
    what: &str,
    limits: &ImageLimits,
) -> Result<GrayImage, ImageFileError> {
    let what = what.to_owned();
    if bytes.is_empty() {
        return Err(ImageFileError::Empty { what });
    }
    let format = image::guess_format(bytes)
        .map_err(|_| ImageFileError::UnknownFormat { what: what.clone() })?;
    if !supported(format) {
        return Err(ImageFileError::UnknownFormat { what });
    }
    let reader = || {
        let mut r = ImageReader::with_format(Cursor::new(bytes), format);
        r.limits(limits.for_image_crate());
        r
    };
    let corrupt = |e: ImageError, what: String| match e {
        ImageError::Limits(l) => ImageFileError::TooMuchMemory {
            what,
            max_mib: limits.max_alloc >> 20,
            detail: one_line(&l.to_string()),
        },
        other => ImageFileError::Corrupt {
            what,
            format,
            detail: one_line(&other.to_string()),
        },
    };
    // The header alone first: a clear "too large" before any pixel is decoded.
    let mut header = ImageReader::with_format(Cursor::new(bytes), format);
    header.no_limits();
    let (width, height) = header
        .into_dimensions()
        .map_err(|e| corrupt(e, what.clone()))?;
    if width > limits.max_width || height > limits.max_height {
        return Err(ImageFileError::TooLarge {
            what,
            width,
            height,
            max_width: limits.max_width,
            max_height: limits.max_height,
        });
    }
    let img = reader().decode().map_err(|e| corrupt(e, what.clone()))?;
    Ok(img.into_luma8())
}

/// Reads and decodes an image file (at most `limits.max_file` bytes are read).
pub fn load_image(path: &Path, limits: &ImageLimits) -> Result<GrayImage, ImageFileError> {
    let what = path.display().to_string();
    let io = |source| ImageFileError::Io {
        what: what.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limits.max_file + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limits.max_file {
        let len = std::fs::metadata(path).map_or(bytes.len() as u64, |m| m.len());
        return Err(ImageFileError::FileTooLarge {
            what,
            len,
            max: limits.max_file,
        });
    }
    decode_image(&bytes, &what, limits)
}

/// A decoder's message on one line: some span lines ("Format error decoding Jpeg:\n..."),
/// which breaks a log line or a one-line CLI error.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn supported(f: ImageFormat) -> bool {
    matches!(
        f,
        ImageFormat::Png
            | ImageFormat::Jpeg
            | ImageFormat::WebP
            | ImageFormat::Bmp
            | ImageFormat::Tiff
            | ImageFormat::Gif
            | ImageFormat::Pnm
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> GrayImage {
        // A real label: the waybill's Code 128 and the rest, as the simulated camera draws it.
        let spec = crate::camera::LabelSpec {
            module_px: 2,
            ..crate::camera::LabelSpec::new("EE123456785GB")
        };
        crate::camera::render_label(&spec).unwrap()
    }

    fn encode(img: &GrayImage, f: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        match f {
            // WebP's encoder in `image` is lossless only and wants colour or luma + alpha.
            ImageFormat::WebP => image::DynamicImage::ImageLuma8(img.clone())
                .to_rgba8()
                .write_to(&mut out, f)
                .unwrap(),
            ImageFormat::Gif | ImageFormat::Jpeg | ImageFormat::Bmp => {
                image::DynamicImage::ImageLuma8(img.clone())
                    .to_rgb8()
                    .write_to(&mut out, f)
                    .unwrap()
            }
            _ => img.write_to(&mut out, f).unwrap(),
        }
        out.into_inner()
    }

    #[test]
    fn a_truncated_image_is_reported_on_one_line() {
        // Issue 16: a truncated JPEG's error spanned two lines (the decoder's message has a
        // line break), which split the CLI error and the log line.
        let img = label();
        for f in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::WebP,
            ImageFormat::Gif,
        ] {
            let bytes = encode(&img, f);
            for cut in [bytes.len() / 2, bytes.len() - 3, 40] {
                let Err(e) = decode_image(&bytes[..cut], "label.img", &ImageLimits::default())
                else {
                    continue;
                };
                let text = e.to_string();
                assert!(!text.contains('\n'), "{f:?} cut at {cut}: {text:?}");
                assert!(text.starts_with("label.img"), "{text}");
            }
        }
        assert_eq!(
            one_line("Format error decoding Jpeg:\n  premature end\n"),
            "Format error decoding Jpeg: premature end"
        );
    }

    #[test]
    fn reads_every_listed_format_by_content() {
        let img = label();
        for f in [
            ImageFormat::Png,
            ImageFormat::Jpeg,
            ImageFormat::WebP,
            ImageFormat::Bmp,
            ImageFormat::Tiff,
            ImageFormat::Gif,
            ImageFormat::Pnm,
        ] {
            let bytes = encode(&img, f);
            let back = decode_image(&bytes, "label", &ImageLimits::default())
                .unwrap_or_else(|e| panic!("{f:?}: {e}"));
            assert_eq!(back.dimensions(), img.dimensions(), "{f:?}");
            // Lossless formats give the same pixels back; JPEG within its error.
            let worst = back
                .pixels()
                .zip(img.pixels())
                .map(|(a, b)| a.0[0].abs_diff(b.0[0]))
                .max()
                .unwrap();
            let allowed = if f == ImageFormat::Jpeg { 128 } else { 1 };
            assert!(worst <= allowed, "{f:?}: worst pixel error {worst}");
        }
    }

    #[test]
    fn refuses_a_header_that_claims_a_huge_frame_before_decoding() {
        // A PNG signature, an IHDR chunk for 100000 × 100000 RGBA (40 GB decoded) and the
        // start of an IDAT chunk (PNG spec, ISO/IEC 15948 §11.2.2, §11.2.4): 60 bytes.
        let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        let idat = b"IDAT\x78\x9c";
        png.extend_from_slice(&2u32.to_be_bytes());
        png.extend_from_slice(idat);
        png.extend_from_slice(&crc32(idat).to_be_bytes());
        let e = decode_image(&png, "bomb.png", &ImageLimits::default()).unwrap_err();
        assert!(
            matches!(
                e,
                ImageFileError::TooLarge {
                    width: 100_000,
                    height: 100_000,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("100000×100000"), "{e}");
    }

    #[test]
    fn refuses_a_frame_whose_pixels_exceed_the_memory_limit() {
        let bytes = encode(&label(), ImageFormat::Png);
        let tight = ImageLimits {
            max_alloc: 1000,
            ..ImageLimits::default()
        };
        let e = decode_image(&bytes, "label.png", &tight).unwrap_err();
        assert!(matches!(e, ImageFileError::TooMuchMemory { .. }), "{e}");
    }

    #[test]
    fn truncated_empty_and_foreign_files_give_clear_errors() {
        let bytes = encode(&label(), ImageFormat::Png);
        let e = decode_image(
            &bytes[..bytes.len() / 2],
            "half.png",
            &ImageLimits::default(),
        )
        .unwrap_err();
        assert!(matches!(e, ImageFileError::Corrupt { .. }), "{e}");
        assert!(e.to_string().contains("half.png"), "{e}");
        assert!(matches!(
            decode_image(b"", "x", &ImageLimits::default()),
            Err(ImageFileError::Empty { .. })
        ));
        assert!(matches!(
            decode_image(b"%PDF-1.7 not a frame", "x", &ImageLimits::default()),
            Err(ImageFileError::UnknownFormat { .. })
        ));
    }

    #[test]
    fn a_file_over_the_size_limit_is_not_read_whole() {
        let dir = tempfile_dir("size");
        let p = dir.join("big.png");
        std::fs::write(&p, encode(&label(), ImageFormat::Png)).unwrap();
        let small = ImageLimits {
            max_file: 100,
            ..ImageLimits::default()
        };
        assert!(matches!(
            load_image(&p, &small),
            Err(ImageFileError::FileTooLarge { max: 100, .. })
        ));
        assert!(load_image(&p, &ImageLimits::default()).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_dir(tag: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("intake-imgfile-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// CRC-32 (ISO 3309, as PNG uses), bitwise.
    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
}
