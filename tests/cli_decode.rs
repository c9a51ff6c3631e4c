//! Black-box tests of `intake decode`: real image files in a temp dir, the real binary.

// Helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

use intake_hal::camera::{LabelSpec, Scene, compose, render_label};

fn intake(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intake"))
        .current_dir(dir)
        .env_remove("INTAKE_CONFIG")
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .unwrap()
}

fn label_frame(dir: &Path, name: &str, waybill: &str) {
    let label = render_label(&LabelSpec {
        qr: Some("https://track.example/x".into()),
        ..LabelSpec::new(waybill)
    })
    .unwrap();
    let scene = Scene {
        angle_deg: 33.0,
        ..Scene::centered(1280, 720, 5)
    };
    compose(Some(&label), &scene).save(dir.join(name)).unwrap();
}

#[test]
fn json_line_per_file_with_barcodes_and_waybill() {
    let dir = tempfile::tempdir().unwrap();
    label_frame(dir.path(), "label.png", "EE123456785GB");
    compose(None, &Scene::centered(1280, 720, 6))
        .save(dir.path().join("empty.jpg"))
        .unwrap();
    let out = intake(dir.path(), &["decode", "--json", "label.png", "empty.jpg"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let l = &lines[0];
    assert_eq!(l["file"], "label.png");
    assert_eq!(l["waybill"], "EE123456785GB");
    assert!(l["decode_ms"].as_f64().unwrap() >= 0.0);
    let barcodes = l["barcodes"].as_array().unwrap();
    assert_eq!(barcodes.len(), 3, "{barcodes:?}");
    let wb = barcodes
        .iter()
        .find(|b| b["text"] == "EE123456785GB")
        .unwrap();
    assert_eq!(wb["format"], "code128");
    assert_eq!(wb["corners"].as_array().unwrap().len(), 4);
    assert!(barcodes.iter().any(|b| b["format"] == "qr_code"));
    // Finding nothing is a result, not an error.
    assert_eq!(lines[1]["file"], "empty.jpg");
    assert_eq!(lines[1]["waybill"], serde_json::Value::Null);
    assert_eq!(lines[1]["barcodes"].as_array().unwrap().len(), 0);
}

#[test]
fn text_output_names_the_waybill() {
    let dir = tempfile::tempdir().unwrap();
    label_frame(dir.path(), "a.png", "RR473124829US");
    let out = intake(dir.path(), &["decode", "a.png"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("a.png: waybill RR473124829US"), "{text}");
    assert_eq!(text.lines().count(), 1);
}

#[test]
fn unreadable_files_exit_2_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.png"), b"this is not a PNG").unwrap();
    label_frame(dir.path(), "ok.png", "EE123456785GB");
    let out = intake(
        dir.path(),
        &["decode", "notes.png", "missing.png", "ok.png"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("notes.png is not an image in a format intake reads"),
        "{err}"
    );
    assert!(err.contains("missing.png"), "{err}");
    // The good file is still decoded.
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("ok.png: waybill EE123456785GB")
    );
    let bad_format = intake(dir.path(), &["decode", "--formats", "ean13", "ok.png"]);
    assert_eq!(bad_format.status.code(), Some(2));
}

mod camera_util;

#[test]
fn the_same_label_reads_in_every_listed_format() {
    let dir = tempfile::tempdir().unwrap();
    let frame = camera_util::label_frame(camera_util::WAYBILL);
    let mut files = Vec::new();
    for (ext, f) in [
        ("png", image::ImageFormat::Png),
        ("jpg", image::ImageFormat::Jpeg),
        ("webp", image::ImageFormat::WebP),
        ("bmp", image::ImageFormat::Bmp),
        ("tif", image::ImageFormat::Tiff),
        ("gif", image::ImageFormat::Gif),
        ("pgm", image::ImageFormat::Pnm),
    ] {
        let name = format!("label.{ext}");
        std::fs::write(dir.path().join(&name), camera_util::encoded(&frame, f)).unwrap();
        files.push(name);
    }
    // A header that claims a huge frame is refused, not decoded.
    let mut bomb = image::GrayImage::new(4, 4);
    bomb.put_pixel(0, 0, image::Luma([9]));
    let mut bmp = camera_util::encoded(&bomb, image::ImageFormat::Bmp);
    // BITMAPINFOHEADER width and height (little-endian i32 at offsets 18 and 22).
    bmp[18..22].copy_from_slice(&60_000i32.to_le_bytes());
    bmp[22..26].copy_from_slice(&60_000i32.to_le_bytes());
    std::fs::write(dir.path().join("bomb.bmp"), bmp).unwrap();
    let mut args = vec!["decode", "--json"];
    args.extend(files.iter().map(String::as_str));
    args.push("bomb.bmp");
    let out = intake(dir.path(), &args);
    assert_eq!(out.status.code(), Some(2), "one file was refused");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), files.len() + 1);
    for (v, name) in lines.iter().zip(&files) {
        assert_eq!(v["waybill"], camera_util::WAYBILL, "{name}: {v}");
    }
    let refused = lines.last().unwrap()["error"].as_str().unwrap();
    assert!(
        refused.contains("60000×60000") && refused.contains("refuses"),
        "{refused}"
    );
}
