//! Calibration, drift and verification on the simulated dock, through the real binary, its
//! dashboard over loopback and the SQLite file (issue 14, items 4–6):
//! - no calibration: parcels are `uncalibrated`, `/readyz` is 503 and `intake status` says
//!   so; a calibration from the dashboard makes the station ready and parcels dimensioned;
//! - a simulated sensor that drifts stops dimensioning (`sensor_fault`, named) and the
//!   station is not ready until it is recalibrated;
//! - `intake calibrate` numbers only grow, each calibration and verification is in the
//!   audit chain, and editing a calibration row is found;
//! - `intake verify` reports bias and spread within the simulator's noise.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod web_util;

use std::process::{Command, Output};
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{Value, json};
use web_util::{BIN, Daemon, StationDir, get, post_json, wait_for};

const LIMIT: Duration = Duration::from_secs(120);
const NO_SELF_CALIBRATION: (&str, &str) = ("self_calibrate = true", "self_calibrate = false");

fn intake(dir: &StationDir, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir.dir.path())
        .env_remove("INTAKE_CONFIG")
        .arg("--config")
        .arg(&dir.config)
        .args(args)
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `/readyz`'s problems, once it answers `status` with a problem containing `needle`.
fn wait_readyz(d: &Daemon, status: u16, needle: &str) -> Value {
    wait_for(&format!("/readyz {status} with {needle:?}"), LIMIT, || {
        let r = get(&format!("{}/readyz", d.url));
        let v = r.json();
        (r.status == status && v["problems"].to_string().contains(needle)).then_some(v)
    })
}

/// Calibrates the running station from the dashboard (retried until the station is empty
/// and settled between two parcels).
fn calibrate_on_dashboard(d: &Daemon) -> Value {
    wait_for("a calibration from the dashboard", LIMIT, || {
        let r = post_json(&format!("{}/api/calibrate", d.url), &json!({}));
        match r.status {
            201 => Some(r.json()),
            409 => None, // a parcel on the station: try again in the gap
            other => panic!("POST /api/calibrate: {other} {}", r.text()),
        }
    })
}

/// Scans stored after the newest calibration, newest first, once there are `n`.
fn scans_with_calibration(d: &Daemon, number: u64, n: usize) -> Vec<Value> {
    wait_for(
        &format!("{n} scans with calibration {number}"),
        LIMIT,
        || {
            let r = get(&format!("{}/api/scans?limit=50", d.url));
            let scans: Vec<Value> = r.json()["scans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|s| s["calibration_number"] == number)
                .collect();
            (scans.len() >= n).then_some(scans)
        },
    )
}

/// `intake verify` with a 12 × 10 × 8 in, 5 lb reference box, `count` times: exit status
/// and JSON report.
fn verify_box(dir: &StationDir, count: u32) -> (Option<i32>, Value) {
    let count = count.to_string();
    let args = [
        "verify",
        "--reference",
        "12x10x8in",
        "--weight",
        "5lb",
        "--count",
        &count,
        "--json",
    ];
    let out = intake(dir, &args);
    (out.status.code(), json_of(&out))
}

#[test]
fn an_uncalibrated_station_is_not_ready_until_calibrated_on_the_dashboard() {
    let dir = StationDir::new(&[NO_SELF_CALIBRATION], "");
    let d = Daemon::start(&dir, "127.0.0.1:0", &[]);
    let v = wait_readyz(&d, 503, "uncalibrated");
    assert_eq!(v["ready"], false);
    // Parcels still get a verdict, without dimensions: a manual check, `uncalibrated`.
    let first = d.wait_scans(1, LIMIT).remove(0);
    assert_eq!(first["disposition"], "manual", "{first}");
    assert!(
        first["reasons"].to_string().contains("uncalibrated"),
        "{first}"
    );
    assert!(first["length_um"].is_null(), "{first}");
    assert!(first.get("calibration_number").is_none_or(Value::is_null));
    // `intake status` works while the daemon runs, and says so.
    let status = json_of(&intake(&dir, &["status", "--json"]));
    assert_eq!(status["calibrated"], false, "{status}");
    assert_eq!(status["devices"]["calibration"]["ok"], false, "{status}");
    let text = String::from_utf8(intake(&dir, &["status"]).stdout).unwrap();
    assert!(text.contains("UNCALIBRATED"), "{text}");
    // Writing commands are refused while the daemon holds the data folder.
    let refused = intake(&dir, &["calibrate"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("stop it first"));

    let c = calibrate_on_dashboard(&d);
    assert_eq!(
        (c["number"].as_u64(), &c["source"]),
        (Some(1), &json!("dashboard"))
    );
    assert_eq!(c["sensors"].as_array().unwrap().len(), 3);
    wait_for("/readyz 200", LIMIT, || {
        (get(&format!("{}/readyz", d.url)).status == 200).then_some(())
    });
    // Parcels measured from now on are dimensioned against calibration 1.
    let scans = scans_with_calibration(&d, 1, 2);
    let dimensioned = scans.iter().filter(|s| s["length_um"].is_i64()).count();
    assert!(dimensioned >= 1, "{scans:?}");
    assert!(
        scans
            .iter()
            .all(|s| !s["reasons"].to_string().contains("uncalibrated")),
        "{scans:?}"
    );
    let status = json_of(&intake(&dir, &["status", "--json"]));
    assert_eq!(status["calibration"]["number"], 1, "{status}");
}

#[test]
fn a_drifting_sensor_stops_dimensioning_until_recalibrated() {
    let dir = StationDir::new(
        &[(
            "# drift_after = 20\n# drift = \"12 mm\"",
            "drift_after = 2\ndrift = \"12 mm\"",
        )],
        "",
    );
    let d = Daemon::start(&dir, "127.0.0.1:0", &[]);
    // The simulated dock calibrated itself at its first start.
    wait_for("calibration 1 at first start", LIMIT, || {
        let log = d.log_text();
        log.contains("calibration in force calibration=1")
            .then_some(())
    });
    assert!(d.log_text().contains("simulated dock, first start"));
    let v = wait_readyz(&d, 503, "drifted");
    let problems = v["problems"].to_string();
    assert!(
        problems.contains("sensor_fault")
            && problems.contains("sensor top")
            && problems.contains("recalibrate"),
        "{problems}"
    );
    // Parcels put on meanwhile are not dimensioned: a sensor fault, with the reason.
    let faulted = wait_for("a sensor_fault scan", LIMIT, || {
        let r = get(&format!("{}/api/scans?limit=20", d.url));
        r.json()["scans"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .find(|s| s["reasons"].to_string().contains("sensor_fault"))
    });
    assert!(faulted["length_um"].is_null(), "{faulted}");
    assert_eq!(faulted["calibration_number"], 1);

    // A new calibration (of the drifted mount) recovers.
    let c = calibrate_on_dashboard(&d);
    assert_eq!(c["number"], 2);
    let top = c["sensors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "top")
        .unwrap()
        .clone();
    let baseline = top["baseline_um"].as_i64().unwrap();
    assert!(
        (1_186_000..=1_190_000).contains(&baseline),
        "the top sensor now reads 12 mm short: {top}"
    );
    wait_for("/readyz 200 after recalibrating", LIMIT, || {
        (get(&format!("{}/readyz", d.url)).status == 200).then_some(())
    });
    let scans = scans_with_calibration(&d, 2, 2);
    assert!(
        scans.iter().any(|s| s["length_um"].is_i64()),
        "dimensioned again: {scans:?}"
    );
}

#[test]
fn calibrations_grow_are_chained_and_verification_reports_the_noise() {
    let dir = StationDir::new(&[NO_SELF_CALIBRATION], "");
    // Nothing calibrated: verification is refused.
    let out = intake(
        &dir,
        &["verify", "--reference", "12x10x8in", "--weight", "5lb"],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("uncalibrated"));
    let out = intake(
        &dir,
        &["verify", "--reference", "12x10in", "--weight", "5lb"],
    );
    assert_eq!(out.status.code(), Some(2), "bad usage: {out:?}");
    let out = intake(&dir, &["calibrate", "--samples", "1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");

    for n in 1..=3u64 {
        let out = intake(&dir, &["calibrate", "--samples", "15", "--json"]);
        assert!(out.status.success(), "{out:?}");
        let c = json_of(&out);
        assert_eq!(c["number"], n, "{c}");
        assert_eq!(c["samples"], 15);
        assert_eq!(
            c["scale_zero_ug"], 0,
            "the empty simulated scale reads zero"
        );
        for s in c["sensors"].as_array().unwrap() {
            // The simulated sensors' noise is ±1 mm: readings spread at most 2 mm.
            assert!(s["spread_um"].as_i64().unwrap() <= 2_000, "{s}");
        }
    }

    // A reference box, ten times: bias and spread within the simulator's noise (±1 mm on
    // the sensors, sides rounded to the 0.1 in division; the simulated scale has none).
    let (code, v) = verify_box(&dir, 10);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        (v["passed"].as_bool(), v["count"].as_u64()),
        (Some(true), Some(10)),
        "{v}"
    );
    assert_eq!(v["calibration_number"], 3);
    for side in ["length", "width", "height"] {
        let f = &v[side];
        let half_division_mm = 1.27;
        assert!(
            f["bias_mm"].as_f64().unwrap().abs() <= 1.0 + half_division_mm,
            "{v}"
        );
        assert!(f["std_dev_mm"].as_f64().unwrap() <= 2.54, "{v}");
    }
    assert!(
        v["weight_figures"]["bias_g"].as_f64().unwrap().abs() <= 4.6,
        "{v}"
    );
    // The top sensor's mount sags 12 mm after the calibration: the box measures 12 mm
    // taller, a failed verification (exit 1), stored too.
    let text = std::fs::read_to_string(&dir.config).unwrap().replace(
        "# drift_after = 20\n# drift = \"12 mm\"",
        "drift = \"12 mm\"",
    );
    std::fs::write(&dir.config, text).unwrap();
    let (code, failed) = verify_box(&dir, 2);
    assert_eq!(code, Some(1), "{failed}");
    assert_eq!(failed["height"]["passed"], false, "{failed}");
    let bias = failed["height"]["bias_mm"].as_f64().unwrap();
    assert!((bias - 12.0).abs() <= 1.0 + 1.27, "{failed}");
    assert_eq!(failed["length"]["passed"], true, "{failed}");

    // Every calibration and verification is an entry of the chain; the chain is intact.
    let out = intake(&dir, &["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let db = Connection::open(dir.db()).unwrap();
    let kinds: Vec<String> = db
        .prepare(
            "SELECT kind FROM events WHERE kind IN ('calibration','verification') ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        kinds,
        [
            "calibration",
            "calibration",
            "calibration",
            "verification",
            "verification"
        ]
    );
    let status = json_of(&intake(&dir, &["status", "--json"]));
    assert_eq!(status["last_verification"]["passed"], false, "{status}");

    // Editing a calibration behind intake's back (triggers dropped and put back) is found.
    let edit = |sql: &str| {
        let c = Connection::open(dir.db()).unwrap();
        c.execute_batch(&format!(
            "DROP TRIGGER calibrations_are_immutable; {sql};
             CREATE TRIGGER calibrations_are_immutable BEFORE UPDATE ON calibrations
             BEGIN SELECT RAISE(ABORT, 'calibrations are immutable; calibrate again instead'); END;"
        ))
        .unwrap();
    };
    edit("UPDATE calibrations SET scale_zero_ug = 900000 WHERE number = 2");
    let out = intake(&dir, &["audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json_of(&out);
    let what = v["breaks"][0]["what"].as_str().unwrap();
    assert!(
        what.contains("calibration 2 was edited") && what.contains("scale_zero_ug"),
        "{v}"
    );
}

#[test]
fn a_calibration_with_readings_spread_too_wide_is_refused_naming_the_sensor() {
    // The side sensor's noise is ±5 mm: its readings spread wider than max_spread (6 mm).
    let dir = StationDir::new(
        &[
            NO_SELF_CALIBRATION,
            (
                "mounting = \"120 cm\"\nnoise = \"1 mm\"\n\n[[dimensions.sensors]]\nname = \"top\"",
                "mounting = \"120 cm\"\nnoise = \"5 mm\"\n\n[[dimensions.sensors]]\nname = \"top\"",
            ),
        ],
        "",
    );
    let out = intake(&dir, &["calibrate", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = json_of(&out);
    let why = v["refused"].as_str().unwrap();
    assert!(
        why.contains("sensor side") && why.contains("vary by"),
        "{why}"
    );
    let status = json_of(&intake(&dir, &["status", "--json"]));
    assert_eq!(status["calibrated"], false, "nothing stored: {status}");
}

#[test]
fn configured_baselines_are_imported_once_as_calibration_one() {
    let dir = StationDir::new(&[NO_SELF_CALIBRATION], "");
    // The old way: a baseline per sensor in the file.
    let text = std::fs::read_to_string(&dir.config)
        .unwrap()
        .replace(
            "name = \"end\"\naxis = \"x\"",
            "name = \"end\"\naxis = \"x\"\nbaseline = \"200 cm\"",
        )
        .replace(
            "name = \"side\"\naxis = \"y\"",
            "name = \"side\"\naxis = \"y\"\nbaseline = \"120 cm\"",
        )
        .replace(
            "name = \"top\"\naxis = \"z\"",
            "name = \"top\"\naxis = \"z\"\nbaseline = \"120 cm\"",
        );
    std::fs::write(&dir.config, text).unwrap();
    let out = intake(&dir, &["calibrate", "--json"]);
    assert!(out.status.success(), "{out:?}");
    // The import is calibration 1; the measured one is 2; the file is not imported again.
    assert_eq!(json_of(&out)["number"], 2);
    assert_eq!(json_of(&out)["previous"], 1);
    let out = intake(&dir, &["calibrate", "--json"]);
    assert_eq!(json_of(&out)["number"], 3);
    let db = Connection::open(dir.db()).unwrap();
    let (source, zero): (String, Option<i64>) = db
        .query_row(
            "SELECT source, scale_zero_ug FROM calibrations WHERE number = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert!(source.contains("imported once"), "{source}");
    assert_eq!(zero, None);
}
