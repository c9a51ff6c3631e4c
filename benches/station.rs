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
    ] {
        println!(
            "  {name:<36} median {:>8} ms   p99 {:>8} ms",
            v[key]["median"], v[key]["p99"]
        );
    }
    println!("  dispositions: {}", v["by_disposition"]);
}

fn main() {
    let parcels: u64 = std::env::var("INTAKE_BENCH_PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);

    let alone = tempfile::tempdir().expect("temp dir");
    station(alone.path(), "");
    report(
        &format!("station on the simulated dock, {parcels} parcels, --fast, no sync"),
        &run(alone.path(), parcels),
    );

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
