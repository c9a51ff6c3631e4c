//! Files a user points a command at: `intake export -o` and `intake run --truth` write
//! only regular files. The finding: `export -o PATH` renamed over whatever PATH was (run as
//! root it replaced `/dev/full` with a regular file; FIFOs and device nodes likewise).
//! Here a FIFO and a directory stand in for device nodes (making one needs root); the
//! device check itself is in `intake::userfile`'s unit tests.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod sync_util;

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use sync_util::*;

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

fn is_fifo(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_fifo()
}

/// Runs `cmd` to its end, failing the test (not hanging it) if it blocks, e.g. on a FIFO.
fn run_bounded(mut cmd: Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("the command blocked (on the FIFO?)");
        }
    }
}

fn station_with_scans() -> (Station, PathBuf) {
    let station = Station::new("http://127.0.0.1:9", "");
    let mut st = station.store();
    st.insert_scans_bulk(&make_scans(&station.settings(), 3, 1_764_000_000_000))
        .unwrap();
    drop(st);
    let out = station.dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    (station, out)
}

#[test]
fn export_onto_a_fifo_or_a_directory_is_refused_and_leaves_it_alone() {
    let (station, out) = station_with_scans();
    let fifo = out.join("scans.fifo");
    mkfifo(&fifo);
    let o = run_bounded(station.intake(&["export", "-o", fifo.to_str().unwrap()]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("FIFO") && err.contains("regular file"),
        "{err}"
    );
    assert!(is_fifo(&fifo), "the FIFO is still a FIFO");

    // A link to it is followed and refused too.
    let link = out.join("link");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let o = run_bounded(station.intake(&["export", "-o", link.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(2));
    assert!(is_fifo(&fifo));

    let o = run_bounded(station.intake(&["export", "-o", out.to_str().unwrap()]));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("directory"));
    assert!(out.is_dir());
    // Nothing else was left in the folder (no temporary file).
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn export_to_a_regular_file_or_standard_output() {
    let (station, out) = station_with_scans();
    let file = out.join("scans.ndjson");
    std::fs::write(&file, "old\n").unwrap();
    let o = run_bounded(station.intake(&["export", "-o", file.to_str().unwrap()]));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 3);

    let o = run_bounded(station.intake(&["export", "--format", "csv", "-o", "-"]));
    assert!(o.status.success());
    let csv = String::from_utf8(o.stdout).unwrap();
    assert!(csv.starts_with("kind,record_id"), "{csv}");
    assert_eq!(csv.lines().count(), 4);
    assert!(String::from_utf8_lossy(&o.stderr).contains("wrote 3 scan(s)"));
}

#[test]
fn run_truth_onto_a_fifo_is_refused() {
    let (station, out) = station_with_scans();
    let fifo = out.join("truth.fifo");
    mkfifo(&fifo);
    let o = run_bounded(station.intake(&[
        "run",
        "--parcels",
        "1",
        "--fast",
        "--listen",
        "127.0.0.1:0",
        "--truth",
        fifo.to_str().unwrap(),
    ]));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("FIFO"), "{err}");
    assert!(is_fifo(&fifo));
}
