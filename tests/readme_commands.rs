//! Every command in README.md's shell code blocks runs as written: `cargo run --release --`
//! is swapped for the built binary, and each runs in one scratch directory (so `./data` is
//! scratch) in the order the README gives them. Two are not run to the end, as the README
//! says: `cargo test --workspace` (this is it) and `intake run` without `--parcels`
//! (until Ctrl-C), which is started, checked to come up (its dashboard answers `/readyz`),
//! and stopped with SIGTERM.
//!
//! The environment sets `INTAKE_CONFIG` to the embedded default with two changes only: the
//! dashboard on a free port (tests run side by side, and 8080 may be taken) and a quicker
//! simulated scale, so the README's 200 parcels take seconds, not minutes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod dock_util;

use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

use dock_util::{QUICK, sigterm, spawn_logged, write_station};

const README: &str = include_str!("../README.md");
const LIMIT: Duration = Duration::from_secs(300);

/// The commands of the README's `sh` code blocks, comments cut off.
fn commands() -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in README.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && (t == "```sh" || t == "```bash" || t == "```console");
            continue;
        }
        if in_sh {
            let cmd = t.split(" #").next().unwrap().trim();
            if !cmd.is_empty() && !cmd.starts_with('#') {
                out.push(cmd.to_owned());
            }
        }
    }
    out
}

/// `intake` arguments of a `cargo run --release -- ARGS` line.
fn intake_args(cmd: &str) -> Option<Vec<String>> {
    let rest = cmd.strip_prefix("cargo run --release --")?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The address the daemon's log says the dashboard listens on.
fn listening(line: &str) -> Option<String> {
    if !line.contains("dashboard") {
        return None;
    }
    let at = line.find("http://")?;
    let url = line[at..].split_whitespace().next()?;
    Some(url.trim_end_matches(['/', '"', ',']).to_owned())
}

fn http_get(base: &str, path: &str) -> Option<String> {
    let addr = base.strip_prefix("http://")?;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// Starts the daemon as written, waits for its dashboard to say ready, stops it.
fn start_and_stop(dir: &std::path::Path, args: &[String]) {
    let (mut child, rx) = spawn_logged(
        Command::new(env!("CARGO_BIN_EXE_intake"))
            .args(args)
            .current_dir(dir)
            .env("INTAKE_CONFIG", dir.join("station.toml"))
            .env_remove("RUST_LOG"),
    );
    let deadline = Instant::now() + LIMIT;
    let mut log = Vec::new();
    let base = loop {
        let line = rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("`intake run` did not come up:\n{}", log.join("\n")));
        if let Some(b) = listening(&line) {
            break b;
        }
        log.push(line);
    };
    let start = Instant::now();
    loop {
        let r = http_get(&base, "/readyz").unwrap_or_default();
        if r.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(start.elapsed() < LIMIT, "never ready: {r}");
        std::thread::sleep(Duration::from_millis(20));
    }
    sigterm(&child);
    let status = child.wait().unwrap();
    assert!(status.success(), "`intake run` stopped with {status}");
}

#[test]
fn every_command_in_the_readme_runs_as_written() {
    let cmds = commands();
    assert!(cmds.len() >= 6, "found only {cmds:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut changes = vec![("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")];
    changes.extend(QUICK);
    write_station(dir.path(), &changes);

    let mut ran = 0;
    for cmd in &cmds {
        if cmd == "cargo test --workspace" {
            continue; // this very test run
        }
        let args = intake_args(cmd)
            .unwrap_or_else(|| panic!("README command {cmd:?} is not `cargo run --release -- …`"));
        if args.first().map(String::as_str) == Some("run") && !args.iter().any(|a| a == "--parcels")
        {
            start_and_stop(dir.path(), &args);
            ran += 1;
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_intake"))
            .args(&args)
            .current_dir(dir.path())
            .env("INTAKE_CONFIG", dir.path().join("station.toml"))
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README command {cmd:?} failed ({})\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.stdout.is_empty(), "{cmd:?} printed nothing");
        ran += 1;
    }
    eprintln!(
        "README: {ran} commands run as written ({} found)",
        cmds.len()
    );
}
