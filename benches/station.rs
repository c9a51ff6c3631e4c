//! The station's cycle time on the simulated dock at full speed: how long a parcel waits
//! for a stable weight, for its label to be captured and decoded, to be judged and to be
//! committed (median and p99), and parcels per second — once on its own, and once while
//! head-office sync uploads after every scan (to `intake hq serve` on loopback), so the two
//! can be compared.
//!
//! `cargo bench --bench station` (INTAKE_BENCH_PARCELS, default 200). It runs the release
//! `intake run --fast --parcels N --json` in temporary directories on the embedded default
//! configuration, so the figures are the daemon's own, through the pty scale and the real
//! decoder.
//!
//! `cargo bench --bench station -- early-trigger` runs only the comparison of the label
//! captured at detection (the station) against at the stable weight (before the early
//! trigger; `INTAKE_BENCH_LABEL_AT_STABLE`, which only this bench sets).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use intake::config::{EMBEDDED_CONFIG, Source};

const BIN: &str = env!("CARGO_BIN_EXE_intake");
const TOKEN: &str = "bench-token-0123456789";

/// A station directory: the default config (plus `extra`), its rate card and manifest.
fn station(dir: &Path, extra: &str) {
    for name in ["rates.toml", "manifest-sample.csv"] {
        let bytes = Source::Embedded(name).read().expect("embedded file");
        std::fs::write(dir.join(name), bytes).expect("write");
    }
    std::fs::write(
        dir.join("station.toml"),
        format!("{EMBEDDED_CONFIG}\n{extra}"),
    )
    .expect("write");
}

fn private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn run(dir: &Path, parcels: u64) -> serde_json::Value {
    run_with(dir, parcels, &[])
}

fn run_with(dir: &Path, parcels: u64, env: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new(BIN)
        .args([
            "--config",
            "station.toml",
            "run",
            "--fast",
            "--json",
            "--parcels",
        ])
        .arg(parcels.to_string())
        .current_dir(dir)
        .env_remove("INTAKE_CONFIG")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .output()
        .expect("run intake");
    assert!(
        out.status.success(),
        "intake run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("summary JSON")
}

fn report(title: &str, v: &serde_json::Value) {
    println!("{title}");
    println!(
        "  {} parcels in {} s: {} parcels/s",
        v["parcels"], v["seconds"], v["parcels_per_second"]
    );
    for (name, key) in [
        ("whole cycle (detected → committed)", "cycle_ms"),
        ("wait for a stable weight", "settle_ms"),
        ("label: capture + decode", "label_ms"),
        ("judge", "judge_ms"),
        ("commit (SQLite, synchronous=FULL)", "commit_ms"),
        ("stable weight → verdict shown", "verdict_ms"),
    ] {
        println!(
            "  {name:<36} median {:>8} ms   p99 {:>8} ms",
            v[key]["median"], v[key]["p99"]
        );
    }
    println!("  dispositions: {}", v["by_disposition"]);
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Parcels committed so far, from the daemon's status file.
fn parcels_done(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("data/status.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["parcels_this_run"].as_u64())
        .unwrap_or(0)
}

/// The daemon's resident memory after `early` and after `late` parcels, on a quick dock
/// (short settle, small frames) so the long run takes minutes, not hours.
fn memory(early: u64, late: u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let quick = EMBEDDED_CONFIG
        .replace("width = 1280", "width = 640")
        .replace("height = 720", "height = 480")
        .replace("settle = \"400ms\"", "settle = \"60ms\"")
        .replace("interval = \"50ms\"", "interval = \"20ms\"")
        .replace("min_presence_ms = 200", "min_presence_ms = 40")
        .replace("stable_window_ms = 300", "stable_window_ms = 60");
    for name in ["rates.toml", "manifest-sample.csv"] {
        let bytes = Source::Embedded(name).read().expect("embedded file");
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    std::fs::write(dir.path().join("station.toml"), quick).expect("write");
    let mut child = Command::new(BIN)
        .args(["--config", "station.toml", "run", "--fast", "--parcels"])
        .arg(late.to_string())
        .current_dir(dir.path())
        .env_remove("INTAKE_CONFIG")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run intake");
    let pid = child.id();
    let started = std::time::Instant::now();
    let mut at_early = None;
    let mut at_late = None;
    loop {
        let done = parcels_done(dir.path());
        if at_early.is_none() && done >= early {
            at_early = rss_kib(pid).map(|r| (done, r));
        }
        if done + 1 >= late {
            at_late = rss_kib(pid).map(|r| (done, r)).or(at_late);
        }
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let secs = started.elapsed().as_secs();
    match (at_early, at_late) {
        (Some((n1, a)), Some((n2, b))) => println!(
            "resident memory: {a} KiB after {n1} parcels, {b} KiB after {n2} ({:+.1} %), {secs} s",
            (b as f64 - a as f64) * 100.0 / a as f64
        ),
        _ => println!("resident memory: not sampled (the run ended early?)"),
    }
}

/// Detection → verdict with the label captured at detection (now) and at the stable
/// weight (before the early trigger), on the same dock and parcels.
fn early_trigger(parcels: u64) {
    for (title, env) in [
        (
            "label captured at the stable weight (before)",
            vec![("INTAKE_BENCH_LABEL_AT_STABLE", "1")],
        ),
        ("label captured at detection (now)", vec![]),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        station(dir.path(), "");
        let v = run_with(dir.path(), parcels, &env);
        report(&format!("early trigger: {title}, {parcels} parcels"), &v);
    }
}

fn main() {
    let parcels: u64 = std::env::var("INTAKE_BENCH_PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    if std::env::args().any(|a| a == "early-trigger") {
        early_trigger(parcels);
        return;
    }

    let alone = tempfile::tempdir().expect("temp dir");
    station(alone.path(), "");
    report(
        &format!("station on the simulated dock, {parcels} parcels, --fast, no sync"),
        &run(alone.path(), parcels),
    );

    // The verdict latency on 1080p frames (the label is read while the scale settles).
    let hd = tempfile::tempdir().expect("temp dir");
    station(hd.path(), "");
    let cfg = std::fs::read_to_string(hd.path().join("station.toml")).expect("read");
    std::fs::write(
        hd.path().join("station.toml"),
        cfg.replace("width = 1280", "width = 1920")
            .replace("height = 720", "height = 1080"),
    )
    .expect("write");
    report(
        &format!("the same with 1920×1080 frames, {parcels} parcels"),
        &run(hd.path(), parcels),
    );

    early_trigger(parcels.min(60));

    // Memory stays flat: 1,000 parcels against 10,000 (INTAKE_BENCH_MEMORY=0 skips it).
    if std::env::var("INTAKE_BENCH_MEMORY").as_deref() != Ok("0") {
        memory(1_000, 10_000);
    }

    // The same while sync uploads after every committed scan and pulls every 5 s.
    let hq = tempfile::tempdir().expect("temp dir");
    private(&hq.path().join("tokens"), &format!("{TOKEN}\n"));
    let mut server = Command::new(BIN)
        .args(["hq", "serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(hq.path().join("hq.db"))
        .arg("--token-file")
        .arg(hq.path().join("tokens"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start intake hq serve");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("hq says where it listens");
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let synced = tempfile::tempdir().expect("temp dir");
    private(&synced.path().join("hq.token"), &format!("{TOKEN}\n"));
    station(
        synced.path(),
        &format!(
            "[sync]\nurl = \"{url}\"\ntoken_file = \"hq.token\"\nupload_backlog = 1\nbatch_size = 1\npull_every = \"5s\"\n"
        ),
    );
    let with_sync = run(synced.path(), parcels);
    let _ = server.kill();
    let _ = server.wait();
    report(
        &format!("the same while head-office sync uploads after every scan ({url})"),
        &with_sync,
    );
}
