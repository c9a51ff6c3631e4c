//! The station's cycle time on the simulated dock at full speed: how long a parcel waits
//! for a stable weight, for its label to be captured and decoded, to be judged and to be
//! committed (median and p99), and parcels per second.
//!
//! `cargo bench --bench station` (INTAKE_BENCH_PARCELS, default 200). It runs the release
//! `intake run --fast --parcels N --json` in a temporary directory on the embedded default
//! configuration, so the figures are the daemon's own, through the pty scale and the real
//! decoder.

use std::process::Command;

fn main() {
    let parcels: u64 = std::env::var("INTAKE_BENCH_PARCELS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(["run", "--fast", "--json", "--parcels", &parcels.to_string()])
        .current_dir(dir.path())
        .env_remove("INTAKE_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run intake");
    assert!(
        out.status.success(),
        "intake run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    println!("station on the simulated dock, {parcels} parcels, --fast");
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
