//! The daemon on the simulated dock, end to end: a pty scale speaking MT-SICS, simulated
//! range finders, rendered labels that are really decoded, the SQLite store. Every stored
//! verdict is checked against the simulator's ground truth; a SIGKILL mid-run loses nothing
//! that was indicated.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod util;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;

use intake::config::{EMBEDDED_CONFIG, Settings};
use intake::judge::{Measurement, WaybillRead, judge};
use intake::quantity::{Length, Mass};
use intake::scan::ScanRecord;
use intake::store::{ScanFilter, Store};
use serde_json::Value;
use util::Dir;

/// The embedded config with a quicker simulated scale and more bad parcels.
fn config(d: &Dir) -> PathBuf {
    let mut text = EMBEDDED_CONFIG.to_owned();
    for (from, to) in [
        ("settle = \"400ms\"", "settle = \"150ms\""),
        ("interval = \"50ms\"", "interval = \"25ms\""),
        ("over_weight_permille = 60", "over_weight_permille = 100"),
        ("over_size_permille = 60", "over_size_permille = 100"),
        ("torn_label_permille = 60", "torn_label_permille = 100"),
        (
            "unknown_waybill_permille = 60",
            "unknown_waybill_permille = 100",
        ),
        ("seed = 1\n# Empty", "seed = 7\n# Empty"),
    ] {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    d.write("rates.toml", include_str!("../config/rates.toml"));
    d.write(
        "manifest-sample.csv",
        include_str!("../config/manifest-sample.csv"),
    );
    d.write("station.toml", &text)
}

fn truth(d: &Dir) -> Vec<Value> {
    std::fs::read_to_string(d.join("truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn scans(d: &Dir) -> Vec<ScanRecord> {
    Store::open(&d.join("data/intake.db"))
        .unwrap()
        .scans(&ScanFilter::default())
        .unwrap()
}

fn i(v: &Value, k: &str) -> i64 {
    v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[test]
fn every_stored_verdict_matches_the_simulators_ground_truth() {
    let d = Dir::new();
    let cfg = config(&d);
    let out = d
        .run(&[
            "--config",
            cfg.to_str().unwrap(),
            "run",
            "--parcels",
            "40",
            "--fast",
            "--truth",
            "truth.jsonl",
            "--json",
        ])
        .expect_code(0);
    let summary = &out.json_lines()[0];
    assert_eq!(summary["parcels"], 40, "{summary}");

    let settings = Settings::load(Some(&cfg)).unwrap();
    let store = Store::open(&d.join("data/intake.db")).unwrap();
    let scans = store.scans(&ScanFilter::default()).unwrap();
    let truth = truth(&d);
    assert_eq!(scans.len(), 40, "no parcel missing or duplicated");
    assert_eq!(truth.len(), 40);
    let ids: HashSet<&str> = scans.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids.len(), 40);
    let mut kinds = HashSet::new();
    let division = Mass::from_decimal(1, 2, intake::quantity::MassUnit::Pound).unwrap();
    for (s, t) in scans.iter().zip(&truth) {
        let kind = t["kind"].as_str().unwrap();
        kinds.insert(kind.to_owned());
        let ctx = format!("parcel {} ({kind}): {}", t["seq"], s.to_json());
        // The weight is the scale's to within one division; the sides to the dimensioning
        // division (0.1 in) plus the sensors' noise.
        let w = s.weight.unwrap_or_else(|| panic!("no weight: {ctx}"));
        assert!(
            w.abs_diff(Mass::from_micrograms(i(t, "weight_ug"))) <= division,
            "{ctx}"
        );
        let dims = s.dims.unwrap_or_else(|| panic!("no dims: {ctx}"));
        for (got, want) in [
            (dims.length, "length_um"),
            (dims.width, "width_um"),
            (dims.height, "height_um"),
        ] {
            let off = (got.micrometres() - i(t, want)).abs();
            assert!(
                off <= Length::from_mm(3).micrometres(),
                "{want} off by {off} µm: {ctx}"
            );
        }
        // Every readable label is read, and read right.
        if t["barcode_readable"].as_bool().unwrap() {
            assert_eq!(s.waybill.as_deref(), t["waybill"].as_str(), "{ctx}");
        } else {
            assert_eq!(s.waybill, None, "{ctx}");
            assert!(s.reasons.contains(&intake::rules::Reason::NoRead), "{ctx}");
        }
        match kind {
            "over_weight" => {
                assert_eq!(s.disposition.as_str(), "return_to_sender", "{ctx}");
                assert!(
                    s.reasons.contains(&intake::rules::Reason::OverWeight),
                    "{ctx}"
                );
            }
            "over_size" => {
                assert_eq!(s.disposition.as_str(), "return_to_sender", "{ctx}");
                assert!(
                    s.reasons.contains(&intake::rules::Reason::OverSize),
                    "{ctx}"
                );
            }
            "unknown_waybill" => {
                assert!(
                    s.reasons.contains(&intake::rules::Reason::UnknownWaybill),
                    "{ctx}"
                );
            }
            _ => {}
        }
        // And the verdict is exactly what the rules make of what was measured and the
        // manifest: accepted, repriced, held or returned as the manifest implies.
        let m = Measurement {
            weight: Ok(w),
            dims: Ok(dims),
            waybill: s
                .waybill
                .clone()
                .map_or(WaybillRead::NoRead, WaybillRead::Read),
        };
        let entry = s
            .waybill
            .as_deref()
            .and_then(|wb| store.manifest_entry(wb).unwrap());
        let expected = judge(&m, entry.as_ref(), &settings.policy);
        assert_eq!(s.disposition, expected.verdict.disposition, "{ctx}");
        assert_eq!(s.reasons, expected.verdict.reasons, "{ctx}");
        assert_eq!(s.price, expected.priced.as_ref().map(|p| p.price), "{ctx}");
    }
    for k in [
        "as_declared",
        "over_weight",
        "over_size",
        "torn_label",
        "unknown_waybill",
    ] {
        assert!(kinds.contains(k), "the run had no {k} parcel: {kinds:?}");
    }
    assert_eq!(store.outbox_depth().unwrap(), 40);
    assert_eq!(store.integrity_check().unwrap(), Ok(()));
}

#[test]
fn a_sigkill_loses_nothing_that_was_indicated_and_the_run_goes_on() {
    let d = Dir::new();
    let cfg = config(&d);
    let mut child = d
        .cmd(&["--config", cfg.to_str().unwrap(), "run", "--fast"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut indicated = Vec::new();
    let mut lines = BufReader::new(stderr).lines();
    while indicated.len() < 6 {
        let line = lines.next().expect("the daemon ended early").unwrap();
        if line.contains("intake::verdict") {
            let id = line
                .split("scan_id=")
                .nth(1)
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap();
            indicated.push(id.to_owned());
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let store = Store::open(&d.join("data/intake.db")).unwrap();
    assert_eq!(store.integrity_check().unwrap(), Ok(()));
    for id in &indicated {
        assert!(
            store.scan(id).unwrap().is_some(),
            "indicated scan {id} is not in the store"
        );
    }
    let before = store.scans(&ScanFilter::default()).unwrap().len();
    assert!(before >= indicated.len());
    drop(store);

    d.run(&[
        "--config",
        cfg.to_str().unwrap(),
        "run",
        "--parcels",
        "3",
        "--fast",
    ])
    .expect_code(0);
    let after = scans(&d);
    assert_eq!(after.len(), before + 3);
    let unique: HashSet<&str> = after.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(unique.len(), after.len());
}

#[test]
fn real_devices_that_are_missing_stop_the_daemon_with_the_fix() {
    let d = Dir::new();
    let cfg = config(&d);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let serial = text.replace(
        "type = \"sim\"\nprotocol = \"mt-sics\"\nunit = \"lb\"\ndecimals = 2\ncapacity = \"150 lb\"\nsettle = \"150ms\"\ninterval = \"25ms\"\nseed = 1",
        "type = \"serial\"\nport = \"/dev/serial/by-id/no-such-scale\"\nprotocol = \"nci\"",
    );
    assert_ne!(serial, text);
    let bad = d.write("serial.toml", &serial);
    let err = d
        .run(&["--config", bad.to_str().unwrap(), "run"])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("no-such-scale") && err.contains("dialout"),
        "{err}"
    );
}
