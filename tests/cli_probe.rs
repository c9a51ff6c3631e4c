//! Black-box tests of `intake probe sensors`, each in its own temp dir.

use std::path::Path;
use std::process::{Command, Output};

fn intake(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(args)
        .current_dir(dir)
        .env_remove("INTAKE_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run intake: {e}"))
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn simulated_sensors_measure_a_simulated_box_without_hardware() {
    let dir = tempfile::tempdir().unwrap();
    let out = intake(
        dir.path(),
        &["probe", "sensors", "--sim-box", "40x30x25 cm", "--json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["dims_mm"], serde_json::json!([400.0, 300.0, 250.0]));
    let sensors = v["sensors"].as_array().unwrap();
    assert_eq!(sensors.len(), 3);
    for s in sensors {
        assert_eq!(s["status"], "ok");
        assert_eq!(s["real"], false);
        let d = s["distance_mm"].as_f64().unwrap();
        let base = s["baseline_mm"].as_f64().unwrap();
        let side = s["dimension_mm"].as_f64().unwrap();
        // Within the sim's ±1 mm noise, rounded to the 1 mm division.
        assert!((base - d - side).abs() <= 1.0, "{s}");
    }
    // Text output shows the box too.
    let out = intake(
        dir.path(),
        &["probe", "sensors", "--sim-box", "40x30x25 cm"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("box: 400 × 300 × 250 mm"), "{text}");
}

#[test]
fn an_empty_platform_says_where_to_put_the_parcel() {
    let dir = tempfile::tempdir().unwrap();
    let v = json(&intake(dir.path(), &["probe", "sensors", "--json"]));
    assert!(v["dims_mm"].is_null());
    for s in v["sensors"].as_array().unwrap() {
        assert!(
            s["dimension_error"]
                .as_str()
                .unwrap()
                .contains("into the corner"),
            "{s}"
        );
    }
}

const SECTION: &str = r#"
[dimensions]
samples = 3

[[dimensions.sensors]]
name = "end"
axis = "x"
baseline = "1 m"
[dimensions.sensors.device]
type = "sim"
mounting = "1 m"

[[dimensions.sensors]]
name = "side"
axis = "y"
[dimensions.sensors.device]
type = "sim"
mounting = "70 cm"

[[dimensions.sensors]]
name = "top"
axis = "z"
baseline = "90 cm"
[dimensions.sensors.device]
type = "vl53l1x"
bus = 1
"#;

#[test]
fn a_real_sensor_off_a_pi_is_refused_with_the_fix_and_status_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pi.toml"), SECTION).unwrap();
    for args in [
        vec!["probe", "sensors", "--config-section", "pi.toml"],
        vec!["--config", "pi.toml", "probe", "sensors"],
    ] {
        let out = intake(dir.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.code() == Some(0) {
            // On a real Pi with the sensor wired the probe succeeds: nothing to refuse.
            continue;
        }
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("range sensor top (VL53L1X on I2C bus 1 at 0x29)"),
            "{err}"
        );
        assert!(
            err.contains("not a Raspberry Pi") || err.contains("enable I2C"),
            "{err}"
        );
        assert!(out.stdout.is_empty(), "no partial report on stdout");
    }
}

#[test]
fn an_uncalibrated_sensor_reads_but_derives_no_side() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("sim.toml"),
        SECTION.replace(
            "type = \"vl53l1x\"\nbus = 1",
            "type = \"sim\"\nmounting = \"90 cm\"",
        ),
    )
    .unwrap();
    let v = json(&intake(
        dir.path(),
        &[
            "probe",
            "sensors",
            "--config-section",
            "sim.toml",
            "--sim-box",
            "50x20x10cm",
            "--json",
        ],
    ));
    let side = &v["sensors"][1];
    assert_eq!(side["name"], "side");
    assert_eq!(side["status"], "ok");
    assert!(side["baseline_mm"].is_null());
    assert!(
        side["dimension_error"]
            .as_str()
            .unwrap()
            .contains("no calibrated baseline"),
        "{side}"
    );
    assert!(v["dims_mm"].is_null());
    assert_eq!(v["sensors"][2]["dimension_mm"], 100.0);
}

#[test]
fn config_mistakes_are_bad_input_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        SECTION.replace("axis = \"y\"", "axis = \"x\""),
    )
    .unwrap();
    let out = intake(
        dir.path(),
        &["probe", "sensors", "--config-section", "bad.toml"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dimensions.sensors[1].axis"), "{err}");

    std::fs::write(dir.path().join("none.toml"), "[station]\nid = \"x\"\n").unwrap();
    let out = intake(
        dir.path(),
        &["probe", "sensors", "--config-section", "none.toml"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [dimensions] table"));

    let out = intake(dir.path(), &["probe", "sensors", "--sim-box", "40x30"]);
    assert_eq!(out.status.code(), Some(2));
}
