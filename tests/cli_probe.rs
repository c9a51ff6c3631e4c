//! Black-box tests of `intake probe sensors` and `intake probe camera`, each in its own temp dir.

// Helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

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

mod camera_util;

/// The shipped station config (beside its rate card and manifest) with its `[camera]`
/// table replaced.
fn config_with_camera(dir: &Path, camera: &str) -> std::path::PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for f in ["rates.toml", "manifest-sample.csv"] {
        std::fs::copy(shipped.join(f), dir.join(f)).unwrap();
    }
    let text = std::fs::read_to_string(shipped.join("station.toml")).unwrap();
    assert!(text.contains("[camera]"), "{text}");
    let start = text.find("[camera]").unwrap();
    let end = text[start + 1..]
        .find("\n[")
        .map_or(text.len(), |i| start + 1 + i);
    let cfg = format!("{}[camera]\n{camera}\n{}", &text[..start], &text[end..]);
    let path = dir.join("station.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

fn probe_camera(dir: &Path, config: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "--config",
        config.to_str().unwrap(),
        "probe",
        "camera",
        "--json",
    ];
    args.extend_from_slice(extra);
    intake(dir, &args)
}

fn assert_label_read(out: &Output, size: (u64, u64)) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(out);
    assert_eq!(v["waybill"], camera_util::WAYBILL, "{v}");
    assert_eq!(
        (v["width"].as_u64().unwrap(), v["height"].as_u64().unwrap()),
        size
    );
    let b = &v["barcodes"].as_array().unwrap()[0];
    assert_eq!(b["corners"].as_array().unwrap().len(), 4, "{v}");
    assert!(b["format"].is_string() && b["text"].is_string(), "{v}");
    assert!(
        v["capture_ms"].as_f64().is_some() && v["decode_ms"].as_f64().is_some(),
        "{v}"
    );
}

#[test]
fn probe_camera_reads_the_simulated_label_and_saves_the_frame() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_camera(dir.path(), "type = \"sim\"\nwidth = 1280\nheight = 720");
    let out = probe_camera(
        dir.path(),
        &cfg,
        &["--sim-label", camera_util::WAYBILL, "--save", "frame.png"],
    );
    assert_label_read(&out, (1280, 720));
    let saved = image::open(dir.path().join("frame.png")).unwrap();
    assert_eq!((saved.width(), saved.height()), (1280, 720));
}

#[test]
fn probe_camera_reads_from_files_a_folder_and_a_snapshot_url() {
    let dir = tempfile::tempdir().unwrap();
    let frame = camera_util::label_frame(camera_util::WAYBILL);
    // File source: a WebP photo in a folder.
    std::fs::create_dir_all(dir.path().join("photos")).unwrap();
    let webp = camera_util::encoded(&frame, image::ImageFormat::WebP);
    std::fs::write(dir.path().join("photos/label.webp"), &webp).unwrap();
    let cfg = config_with_camera(dir.path(), "type = \"file\"\ndir = \"photos\"");
    assert_label_read(&probe_camera(dir.path(), &cfg, &[]), (1280, 720));

    // HTTP snapshot source.
    let jpeg = camera_util::encoded(&frame, image::ImageFormat::Jpeg);
    let cam = camera_util::Camera::start(jpeg);
    let cfg = config_with_camera(
        dir.path(),
        &format!("type = \"http\"\nurl = \"{}\"", cam.url("/snap.jpg")),
    );
    assert_label_read(&probe_camera(dir.path(), &cfg, &[]), (1280, 720));
    let out = probe_camera(
        dir.path(),
        &config_with_camera(
            dir.path(),
            &format!("type = \"http\"\nurl = \"{}\"", cam.url("/gone.jpg")),
        ),
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["error"].as_str().unwrap().contains("404"));

    // Folder source: the probe is the trigger, so frames written after it starts count.
    // The writer drops a new frame every 100 ms until the probe has taken one (bounded).
    let inbox = dir.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let cfg = config_with_camera(
        dir.path(),
        "type = \"folder\"\npath = \"inbox\"\nafter = \"keep\"\ntimeout = \"5 s\"",
    );
    let child = Command::new(env!("CARGO_BIN_EXE_intake"))
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "probe",
            "camera",
            "--json",
        ])
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let png = camera_util::encoded(&frame, image::ImageFormat::Png);
    let pid = child.id();
    let writer = std::thread::spawn(move || {
        for i in 0..60 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            let tmp = inbox.join(format!(".f{i}.png"));
            std::fs::write(&tmp, &png).unwrap();
            std::fs::rename(&tmp, inbox.join(format!("f{i}.png"))).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_label_read(&out, (1280, 720));
}

#[test]
fn probe_camera_exit_codes_say_camera_failed_or_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with_camera(
        dir.path(),
        "type = \"v4l2\"\ndevice = \"/dev/video-intake-none\"\ntimeout = \"500 ms\"",
    );
    let out = probe_camera(dir.path(), &cfg, &[]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert!(v["waybill"].is_null());
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("/dev/video-intake-none"),
        "{v}"
    );
    let cfg = config_with_camera(dir.path(), "type = \"http\"\nurl = \"ftp://x/y\"");
    let out = probe_camera(dir.path(), &cfg, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("camera.url"));
}
