//! Real barcode images from the ZXing blackbox suite (see tests/fixtures/barcodes/NOTICE.md):
//! each one is read back exactly, in its own format.

// Helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use intake::barcode::{BarcodeConfig, Format, Reader};

fn fixture(name: &str) -> (image::GrayImage, String) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/barcodes");
    let img = image::open(dir.join(format!("{name}.png")))
        .unwrap()
        .to_luma8();
    let text = std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap();
    (img, text)
}

fn read(name: &str, config: &BarcodeConfig) -> (Vec<(Format, String)>, String) {
    let (img, text) = fixture(name);
    let reader = Reader::new(config).unwrap();
    let found = reader
        .read_gray(&img)
        .into_iter()
        .map(|s| (s.format, s.text))
        .collect();
    (found, text)
}

#[test]
fn every_fixture_reads_back_exactly_in_its_format() {
    let cases = [
        ("code128-1_1", Format::Code128),
        ("code39-1_1", Format::Code39),
        ("qrcode-2_1", Format::QrCode),
        ("datamatrix-1_abcd-18x8", Format::DataMatrix),
        ("datamatrix-2_01", Format::DataMatrix),
        ("pdf417-1_01", Format::Pdf417),
        ("pdf417-3_01", Format::Pdf417),
    ];
    for (name, format) in cases {
        let (found, text) = read(name, &BarcodeConfig::default());
        assert!(
            found.contains(&(format, text.clone())),
            "{name}: expected {format} {text:?}, found {found:?}"
        );
        // Nothing else, and never a wrong text in the same format.
        assert!(
            found.iter().all(|(f, t)| *f != format || *t == text),
            "{name}: {found:?}"
        );
    }
}

#[test]
fn code39_full_ascii_only_when_configured() {
    // blackbox/code39-2/1.png encodes "Extended !?*#" in full-ASCII Code 39.
    let full = BarcodeConfig {
        code39_full_ascii: true,
        ..BarcodeConfig::default()
    };
    let (found, text) = read("code39-2_1", &full);
    assert_eq!(found, vec![(Format::Code39, text.clone())]);
    let (plain, _) = read("code39-2_1", &BarcodeConfig::default());
    assert!(
        plain.iter().all(|(_, t)| *t != text && !t.is_empty()),
        "without full ASCII the shift pairs stay as printed: {plain:?}"
    );
}

#[test]
fn disabled_formats_are_not_reported() {
    let only_qr = BarcodeConfig {
        formats: vec![Format::QrCode],
        ..BarcodeConfig::default()
    };
    let (found, _) = read("code128-1_1", &only_qr);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn reads_are_deterministic() {
    let reader = Reader::new(&BarcodeConfig::default()).unwrap();
    for name in ["qrcode-2_1", "pdf417-3_01", "code128-1_1"] {
        let (img, _) = fixture(name);
        let first = reader.read_gray(&img);
        for _ in 0..3 {
            assert_eq!(reader.read_gray(&img), first, "{name}");
        }
    }
}
