//! The HTTP snapshot camera against a loopback camera serving real JPEGs: a good snapshot,
//! a camera that never answers (timeout), 404, 401, and basic and digest authentication.

#![allow(clippy::unwrap_used)]

mod camera_util;

use std::time::{Duration, Instant};

use camera_util::{Camera, PASSWORD, USER, WAYBILL, encoded, label_frame};
use intake::barcode::{BarcodeConfig, Reader, choose_waybill};
use intake::judge::WaybillRead;
use intake_hal::ErrorKind;
use intake_hal::camera::HttpCamera;
use intake_hal::camera::config::HttpSettings;

fn server() -> Camera {
    Camera::start(encoded(&label_frame(WAYBILL), image::ImageFormat::Jpeg))
}

fn settings(url: String, auth: bool, dir: &std::path::Path) -> HttpSettings {
    let auth = auth.then(|| {
        let pw = dir.join("camera-password");
        std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
        (USER.to_owned(), pw)
    });
    HttpSettings {
        url,
        timeout: Duration::from_millis(700),
        auth,
    }
}

fn waybill_of(img: &image::GrayImage) -> WaybillRead {
    let reader = Reader::new(&BarcodeConfig::default()).unwrap();
    choose_waybill(
        &reader.read_gray(img),
        &intake::waybill::WaybillRules::default(),
    )
    .0
}

#[test]
fn a_snapshot_is_a_real_jpeg_whose_waybill_reads() {
    let cam = server();
    let dir = tempfile::tempdir().unwrap();
    let mut c = HttpCamera::open(&settings(cam.url("/snap.jpg"), false, dir.path())).unwrap();
    let img = c.snapshot().unwrap();
    assert_eq!(img.dimensions(), (1280, 720));
    assert_eq!(waybill_of(&img), WaybillRead::Read(WAYBILL.into()));
}

#[test]
fn a_camera_that_does_not_answer_times_out_on_time() {
    let cam = server();
    let dir = tempfile::tempdir().unwrap();
    let mut c = HttpCamera::open(&settings(cam.url("/slow.jpg"), false, dir.path())).unwrap();
    let t0 = Instant::now();
    let e = c.snapshot().unwrap_err();
    let took = t0.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_secs(3),
        "{took:?}"
    );
    // The next capture works again as soon as the camera answers.
    let mut ok = HttpCamera::open(&settings(cam.url("/snap.jpg"), false, dir.path())).unwrap();
    assert!(ok.snapshot().is_ok());
}

#[test]
fn not_found_and_unauthorised_say_what_to_fix() {
    let cam = server();
    let dir = tempfile::tempdir().unwrap();
    let e = HttpCamera::open(&settings(cam.url("/nothing.jpg"), false, dir.path()))
        .unwrap()
        .snapshot()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.detail.contains("404") && e.detail.contains("camera.url"),
        "{e}"
    );
    let e = HttpCamera::open(&settings(cam.url("/basic.jpg"), false, dir.path()))
        .unwrap()
        .snapshot()
        .unwrap_err();
    assert!(
        e.detail.contains("401") && e.detail.contains("camera.username"),
        "{e}"
    );
    // A wrong password: refused, not retried for ever.
    let mut s = settings(cam.url("/digest.jpg"), true, dir.path());
    std::fs::write(&s.auth.as_mut().unwrap().1, "wrong").unwrap();
    let e = HttpCamera::open(&s).unwrap().snapshot().unwrap_err();
    assert!(
        e.detail.contains("refused the user name and password"),
        "{e}"
    );
}

#[test]
fn basic_auth() {
    let cam = server();
    let dir = tempfile::tempdir().unwrap();
    let mut c = HttpCamera::open(&settings(cam.url("/basic.jpg"), true, dir.path())).unwrap();
    assert!(c.snapshot().is_ok());
    assert!(cam.seen.lock().unwrap()[0].starts_with("Basic "));
}

#[test]
fn digest_auth_picks_sha256_and_reuses_the_nonce() {
    let cam = server();
    let dir = tempfile::tempdir().unwrap();
    let mut c = HttpCamera::open(&settings(cam.url("/digest.jpg"), true, dir.path())).unwrap();
    let img = c.snapshot().unwrap();
    assert_eq!(waybill_of(&img), WaybillRead::Read(WAYBILL.into()));
    // The second snapshot answers the kept challenge at once, with the next nc.
    c.snapshot().unwrap();
    let seen = cam.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].contains("algorithm=SHA-256") && seen[0].contains("nc=00000001"));
    assert!(seen[1].contains("nc=00000002"), "{seen:?}");
}
