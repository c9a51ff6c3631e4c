//! Shared by the tests that run the real daemon on the simulated dock: a station folder
//! with a quick simulated pace, a daemon whose log lines arrive on a channel, SIGTERM.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use intake::config::{EMBEDDED_CONFIG, Source};

/// The simulated scale and weighing windows at a quick pace (about 7 parcels a second with
/// `--fast`); the rest is the embedded default.
pub const QUICK: [(&str, &str); 4] = [
    ("settle = \"400ms\"", "settle = \"30ms\""),
    ("interval = \"50ms\"", "interval = \"10ms\""),
    ("min_presence_ms = 200", "min_presence_ms = 20"),
    ("stable_window_ms = 300", "stable_window_ms = 40"),
];

/// Writes the sample rate card and manifest and `station.toml` (the embedded default with
/// `changes`, each of which must apply) into `dir`; returns the config's path.
pub fn write_station(dir: &Path, changes: &[(&str, &str)]) -> PathBuf {
    for name in ["rates.toml", "manifest-sample.csv"] {
        std::fs::write(dir.join(name), Source::Embedded(name).read().unwrap()).unwrap();
    }
    let mut text = EMBEDDED_CONFIG.to_owned();
    for (from, to) in changes {
        assert!(text.contains(from), "{from}");
        text = text.replacen(from, to, 1);
    }
    let config = dir.join("station.toml");
    std::fs::write(&config, text).unwrap();
    config
}

/// Spawns `cmd` with stdout piped and its stderr lines sent to the returned channel.
pub fn spawn_logged(cmd: &mut Command) -> (Child, mpsc::Receiver<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// Asks the process to stop (SIGTERM), as systemd does.
pub fn sigterm(child: &Child) {
    let pid = child.id().to_string();
    let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(ok.success(), "kill -TERM {pid}");
}

/// The scan id in a log line (`scan_id=…`).
pub fn scan_id_in(line: &str) -> Option<String> {
    let id = line.split("scan_id=").nth(1)?.split_whitespace().next()?;
    Some(id.trim_matches('"').to_owned())
}
