//! Black-box tests of `intake scale`: the built binary, each test in its own temp dir.
//! Captures come from `hal/tests/fixtures/scale/` (provenance in its README); live tests run
//! the simulated scale on a pty inside the test process.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use intake_hal::quantity::{Mass, MassUnit};
use intake_hal::scale::Protocol;
use intake_hal::scale::sim::{SimScale, SimScaleOptions};
use serde_json::Value;
use tokio::sync::watch;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("hal/tests/fixtures/scale")
        .join(name)
}

fn intake(dir: &tempfile::TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("INTAKE_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run intake")
}

/// Fails the test with the command's stderr unless it exited 0.
#[track_caller]
fn expect_ok(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn decode(protocol: &str, file: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture(file);
    let out = intake(
        &dir,
        &[
            "scale",
            "decode",
            "--protocol",
            protocol,
            f.to_str().unwrap(),
            "--json",
        ],
    );
    expect_ok(&out);
    json_lines(&out)
}

fn frames(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|v| v["frame"].as_str().unwrap()).collect()
}

#[test]
fn decode_toledo_with_misaligned_start_parity_bad_checksum_and_half_frame() {
    let lines = decode("toledo", "toledo-wildcat.bin");
    assert_eq!(
        frames(&lines),
        [
            "rejected", "reading", "reading", "rejected", "rejected", "reading"
        ]
    );
    for r in [&lines[1], &lines[2], &lines[5]] {
        assert_eq!(r["weight"], 123.45);
        assert_eq!(r["unit"], "kg");
        assert_eq!(r["stable"], true);
        assert_eq!(r["net"], false);
        assert_eq!(r["tare"], 0.0);
    }
    assert!(
        lines[3]["error"]
            .as_str()
            .unwrap()
            .contains("checksum 0x1f")
    );
    assert!(lines[4]["error"].as_str().unwrap().contains("half frame"));
}

#[test]
fn decode_mt_sics_stream_with_lb_oz() {
    let lines = decode("mt-sics", "mt-sics-ohaus-sir.bin");
    assert_eq!(
        frames(&lines),
        [
            "rejected", "reading", "reading", "reading", "reading", "status", "refused", "reading"
        ]
    );
    assert_eq!(lines[3]["weight"], 114.87);
    assert_eq!(lines[3]["stable"], false);
    assert_eq!(lines[5]["status"], "not_executable");
    assert_eq!(lines[6]["code"], "ES");
    // 12 lb 7.50 oz shown as decimal pounds.
    assert_eq!(
        (lines[7]["weight"].clone(), lines[7]["unit"].clone()),
        (12.46875.into(), "lb".into())
    );
}

#[test]
fn decode_nci_sma_and_cas_captures() {
    let nci = decode("nci", "nci-brewcop.bin");
    assert_eq!(
        frames(&nci),
        ["rejected", "reading", "status", "reading", "refused"]
    );
    assert_eq!(nci[2]["motion"], true);
    assert_eq!(nci[3]["weight"], 1.25);
    let sma = decode("sma", "sma-sartorius.bin");
    assert_eq!(
        frames(&sma),
        ["rejected", "reading", "reading", "refused", "status"]
    );
    assert_eq!(sma[2]["unit"], "kg");
    assert_eq!(sma[4]["status"], "zero_error");
    let cas = decode("cas", "cas-mixed.bin");
    assert_eq!(
        frames(&cas),
        [
            "rejected", "reading", "reading", "rejected", "reading", "status"
        ]
    );
    assert_eq!(cas[1]["net"], true);
    assert_eq!(cas[4]["stable"], false);
    assert_eq!(cas[5]["status"], "over_capacity");
}

#[test]
fn decode_a_capture_cut_mid_frame_reports_the_tail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cut.bin"), b"ST,GS,+  4.876kg\r\nST,GS,+ ").unwrap();
    let out = intake(
        &dir,
        &["scale", "decode", "--protocol", "cas", "cut.bin", "--json"],
    );
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out);
    assert_eq!(frames(&lines), ["reading", "rejected"]);
}

#[test]
fn decode_prints_text_without_json() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture("cas-mixed.bin");
    let out = intake(
        &dir,
        &["scale", "decode", "--protocol", "cas", f.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("reading   1.234 kg stable net"),
        "{text}"
    );
}

#[test]
fn decode_bad_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixture("cas-mixed.bin");
    let bad_name = intake(
        &dir,
        &["scale", "decode", "--protocol", "dymo", f.to_str().unwrap()],
    );
    assert_eq!(bad_name.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_name.stderr).contains("mt-sics, toledo, sma, nci, cas"));
    let missing = intake(&dir, &["scale", "decode", "--protocol", "cas", "nope.bin"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read capture nope.bin"));
}

/// Runs the simulated scale in this process while the binary talks to it.
fn with_sim(protocol: Protocol, f: impl FnOnce(&str) -> Output) -> Output {
    with_sim_set(protocol, SimScaleOptions::default(), f)
}

/// The same, with the simulated scale's line settings (baud, framing) given.
fn with_sim_set(
    protocol: Protocol,
    line: SimScaleOptions,
    f: impl FnOnce(&str) -> Output,
) -> Output {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (_tx, rx) = watch::channel(Mass::from_decimal(1234, 2, MassUnit::Pound).unwrap());
    let opts = SimScaleOptions {
        settle: Duration::ZERO,
        interval: Duration::from_millis(20),
        ..line
    };
    let (sim, path) = rt.block_on(async { SimScale::spawn(protocol, rx, opts).unwrap() });
    let out = f(path.to_str().unwrap());
    drop(sim);
    out
}

#[test]
fn monitor_prints_frames_beside_raw_hex() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_sim(Protocol::Nci, |port| {
        intake(
            &dir,
            &[
                "scale",
                "monitor",
                "--port",
                port,
                "--protocol",
                "nci",
                "--poll-ms",
                "20",
                "--count",
                "3",
                "--json",
            ],
        )
    });
    expect_ok(&out);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(l["frame"], "reading");
        assert!(
            (l["weight"].as_f64().unwrap() - 12.34).abs() <= 0.011,
            "{l}"
        );
        // The bytes of the read that completed the frame: LF, the weight line, status
        // bytes, ETX in hex; empty when an earlier line's read brought this frame too.
        let raw = l["raw"].as_str().unwrap();
        assert!(raw.is_empty() || raw.starts_with("0a 30 30"), "{l}");
    }
    assert!(
        lines[0]["raw"].as_str().unwrap().contains("0d 03"),
        "{}",
        lines[0]
    );
}

#[test]
fn probe_says_which_protocol_answers_and_prints_the_section() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_sim(Protocol::MtSics, |port| {
        intake(
            &dir,
            &[
                "scale",
                "probe",
                "--port",
                port,
                "--baud",
                "9600",
                "--framing",
                "8N1",
                "--listen-ms",
                "150",
            ],
        )
    });
    expect_ok(&out);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("mt-sics answers at 9600 8N1"), "{text}");
    assert!(
        text.contains("[scale]\ntype = \"serial\"\n")
            && text.contains("protocol = \"mt-sics\"\nbaud = 9600\nframing = \"8N1\"\n"),
        "{text}"
    );
}

/// A simulated SMA scale set to 4800 baud and 7E1: at 9600 the probe reads only line noise;
/// at 4800 it reads SMA frames whose bit 7 carries even parity (a pty carries 8 bits, as an
/// 8N1 port does), so the section it prints says 4800 and 7E1. The printed section is then
/// checked by `intake config check`.
#[test]
fn probe_finds_a_non_default_baud_protocol_and_parity() {
    let dir = tempfile::tempdir().unwrap();
    let line = SimScaleOptions {
        baud: Some(4800),
        framing: "7E1".parse().unwrap(),
        ..SimScaleOptions::default()
    };
    let out = with_sim_set(Protocol::Sma, line, |port| {
        intake(
            &dir,
            &[
                "scale",
                "probe",
                "--port",
                port,
                "--baud",
                "9600,4800",
                "--framing",
                "8N1,7E1",
                "--listen-ms",
                "120",
                "--json",
            ],
        )
    });
    expect_ok(&out);
    let v = &json_lines(&out)[0];
    let answers = v["answers"].as_array().unwrap();
    assert!(
        answers
            .iter()
            .all(|a| a["baud"] == 4800 && a["protocol"] == "sma"),
        "{v}"
    );
    assert_eq!(v["best"]["framing_to_use"], "7E1", "{v}");
    let notes = v["best"]["sample"]["notes"].as_array().unwrap();
    assert_eq!(notes[0]["note"], "parity_bit_stripped", "{v}");
    let section = v["config"].as_str().unwrap();
    assert!(
        section.contains("protocol = \"sma\"\nbaud = 4800\nframing = \"7E1\""),
        "{section}"
    );
    // The section is a valid station config.
    std::fs::write(
        dir.path().join("rates.toml"),
        include_str!("../config/rates.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("manifest-sample.csv"),
        include_str!("../config/manifest-sample.csv"),
    )
    .unwrap();
    let cfg = dir.path().join("probed.toml");
    let base = intake_config_default(&dir);
    let start = base.find("[scale]").unwrap();
    let end = base[start + 7..]
        .find("\n[")
        .map_or(base.len(), |i| start + 7 + i + 1);
    std::fs::write(
        &cfg,
        format!("{}{section}\n{}", &base[..start], &base[end..]),
    )
    .unwrap();
    let check = intake(&dir, &["config", "check", cfg.to_str().unwrap()]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

fn intake_config_default(dir: &tempfile::TempDir) -> String {
    let out = intake(dir, &["config", "default"]);
    assert_eq!(out.status.code(), Some(0));
    String::from_utf8(out.stdout).unwrap()
}

/// `monitor --record` writes a timestamped capture that `decode` reads back: the same
/// readings, in order.
#[test]
fn monitor_records_a_capture_that_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let out = with_sim(Protocol::Cas, |port| {
        intake(
            &dir,
            &[
                "scale",
                "monitor",
                "--port",
                port,
                "--protocol",
                "cas",
                "--count",
                "4",
                "--record",
                "rec.capture",
            ],
        )
    });
    expect_ok(&out);
    let text = std::fs::read_to_string(dir.path().join("rec.capture")).unwrap();
    assert!(
        text.starts_with("# intake scale capture 1\n# protocol=cas baud=9600 framing=8N1\n"),
        "{text}"
    );
    let dec = intake(&dir, &["scale", "decode", "rec.capture", "--json"]);
    expect_ok(&dec);
    let lines = json_lines(&dec);
    let readings: Vec<&Value> = lines.iter().filter(|l| l["frame"] == "reading").collect();
    assert!(readings.len() >= 4, "{lines:?}");
    for r in readings {
        assert!(
            (r["weight"].as_f64().unwrap() - 12.34).abs() <= 0.011,
            "{r}"
        );
    }
}

/// The checked-in replay capture decodes as a scale technician would see it: the first
/// bytes a half frame, then readings with the notes the indicator's quirks earn.
#[test]
fn decode_a_timestamped_capture_shows_notes() {
    let dir = tempfile::tempdir().unwrap();
    let f = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/scale/parcel-50lb-toledo.capture");
    let out = intake(&dir, &["scale", "decode", f.to_str().unwrap(), "--json"]);
    expect_ok(&out);
    let lines = json_lines(&out);
    assert_eq!(lines[0]["frame"], "rejected");
    let r = &lines[1];
    assert_eq!(r["frame"], "reading");
    let kinds: Vec<&str> = r["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["note"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["parity_bit_stripped", "status_bit_differs"], "{r}");
    assert_eq!(
        r["notes"][1]["text"],
        "SWA bit 5 is 0, the manual says always 1"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["weight"] == 50.0 && l["stable"] == true)
    );
    // Text output names the notes too.
    let text = intake(&dir, &["scale", "decode", f.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("(note: bit 7 carried Even parity"));
}

#[test]
fn probe_of_a_missing_port_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = intake(
        &dir,
        &["scale", "probe", "--port", "/dev/intake-no-such-port"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open"));
}

#[test]
fn monitor_without_a_port_opens_the_configured_scale() {
    // The embedded default's scale is the simulated one: MT-SICS over a pty, empty platform.
    let dir = tempfile::tempdir().unwrap();
    let out = intake(&dir, &["scale", "monitor", "--count", "3", "--json"]);
    expect_ok(&out);
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 3);
    for l in &lines {
        assert_eq!(l["frame"], "reading", "{l}");
        // Zero, give or take the scale's one division of noise (0.01 lb).
        assert!(l["weight"].as_f64().unwrap().abs() <= 0.011, "{l}");
        // MT-SICS weight replies start "S ".
        assert!(
            l["raw"].as_str().unwrap().starts_with("53 20") || l["raw"] == "",
            "{l}"
        );
    }
}
