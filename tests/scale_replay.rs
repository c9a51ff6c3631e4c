//! A recorded scale capture drives the whole station: `intake run --scale-replay` plays it
//! into a pty at the recorded pace, the real serial driver and Toledo parser read it, and the
//! simulated dock supplies the sensors, camera and operator. The capture is of a parcel that
//! weighs 50.00 lb, over the 44 lb limit, so the stored verdict must be `return_to_sender`
//! for `over_weight`.
//!
//! The capture (`tests/fixtures/scale/parcel-50lb-toledo.capture`, provenance in the README
//! there) was read from a 7E1 line on an 8N1 port, begins mid-frame, and its indicator clears
//! a status bit the manual says is "always 1": the station reads it anyway.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod util;

use std::path::PathBuf;

use intake::config::EMBEDDED_CONFIG;
use intake::quantity::{Mass, MassUnit};
use intake::store::{ScanFilter, Store};
use util::Dir;

fn capture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scale/parcel-50lb-toledo.capture")
}

fn config(d: &Dir) -> PathBuf {
    d.write("rates.toml", include_str!("../config/rates.toml"));
    d.write(
        "manifest-sample.csv",
        include_str!("../config/manifest-sample.csv"),
    );
    d.write("station.toml", EMBEDDED_CONFIG)
}

#[test]
fn a_replayed_50_lb_capture_is_returned_to_sender() {
    let d = Dir::new();
    let cfg = config(&d);
    let cap = capture();
    let out = d
        .run(&[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--scale-replay",
            cap.to_str().unwrap(),
            "--protocol",
            "toledo",
            "--replay-speed",
            "1.5",
            "--parcels",
            "1",
            "--fast",
            "--listen",
            "127.0.0.1:0",
            "--json",
        ])
        .expect_code(0);
    let summary = &out.json_lines()[0];
    assert_eq!(summary["parcels"], 1, "{summary}");
    let scans = Store::open(&d.join("data/intake.db"))
        .unwrap()
        .scans(&ScanFilter::default())
        .unwrap();
    assert_eq!(scans.len(), 1, "{scans:?}");
    let s = &scans[0];
    let ctx = s.to_json();
    assert_eq!(s.disposition.as_str(), "return_to_sender", "{ctx}");
    assert!(
        s.reasons.contains(&intake::rules::Reason::OverWeight),
        "{ctx}"
    );
    // The capture's weight, not the simulated parcel's: 50.00 lb, give or take the one
    // count of noise in the capture.
    let w = s.weight.unwrap();
    let want = Mass::from_decimal(5000, 2, MassUnit::Pound).unwrap();
    assert!(
        w.abs_diff(want) <= Mass::from_decimal(1, 2, MassUnit::Pound).unwrap(),
        "{ctx}"
    );
}

#[test]
fn a_replay_without_a_protocol_or_capture_is_bad_input() {
    let d = Dir::new();
    let cfg = config(&d);
    let missing = d.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "run",
        "--scale-replay",
        "no-such.capture",
        "--parcels",
        "1",
    ]);
    assert_eq!(missing.code(), 2, "{}", missing.stderr());
    assert!(
        missing.stderr().contains("no-such.capture"),
        "{}",
        missing.stderr()
    );
    d.write("headless.capture", "# intake scale capture 1\n0 02\n");
    let headless = d.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "run",
        "--scale-replay",
        "headless.capture",
        "--parcels",
        "1",
    ]);
    assert_eq!(headless.code(), 2, "{}", headless.stderr());
    assert!(
        headless.stderr().contains("protocol"),
        "{}",
        headless.stderr()
    );
}
