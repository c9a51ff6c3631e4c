//! The whole system: `intake run` on the simulated dock delivering to `intake hq serve` on
//! loopback while head office is cut off and restarted, and the station itself is killed
//! with SIGKILL mid-run and started again. In the end head office holds every scan exactly
//! once, field for field equal to the station's; the dock never stopped for the network.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod sync_util;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use intake::store::ScanFilter;
use sync_util::*;

const LIMIT: Duration = Duration::from_secs(120);

/// Starts the daemon; a thread counts its verdict lines.
fn run_daemon(station: &Station, args: &[&str]) -> (Child, Arc<AtomicUsize>) {
    let mut child = station
        .intake(&[&["run", "--fast"], args].concat())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let verdicts = Arc::new(AtomicUsize::new(0));
    let v = verdicts.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("intake::verdict") {
                v.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (child, verdicts)
}

fn whole_system_against(db: &str) {
    let work = tempfile::tempdir().unwrap();
    let hq_token = work.path().join("hq.tokens");
    write_private(&hq_token, &format!("{TOKEN}\n"));
    let mut hq = Hq::start(db, &hq_token, 0, &[]);
    let station = Station::new(
        &hq.url(),
        "upload_backlog = 2\nbatch_size = 2\npull_every = \"1h\"\nretry_first = \"10ms\"\nretry_max = \"200ms\"\ntimeout = \"5s\"",
    );
    // A quicker simulated scale, as in the daemon tests.
    let text = std::fs::read_to_string(&station.config)
        .unwrap()
        .replace("settle = \"400ms\"", "settle = \"150ms\"")
        .replace("interval = \"50ms\"", "interval = \"25ms\"");
    std::fs::write(&station.config, text).unwrap();
    let counter = HqCounter::open(db);

    let (mut daemon, verdicts) = run_daemon(&station, &[]);
    wait_for(
        "head office to get scans from the running station",
        LIMIT,
        || (counter.scans() >= 3).then_some(()),
    );
    // Head office goes away; the dock goes on.
    hq.kill();
    let at_cut = verdicts.load(Ordering::SeqCst);
    wait_for(
        "the dock to work on while head office is down",
        LIMIT,
        || (verdicts.load(Ordering::SeqCst) >= at_cut + 3).then_some(()),
    );
    hq.restart();
    let held_before = counter.scans();
    wait_for("the backlog to flow again", LIMIT, || {
        (counter.scans() > held_before + 2).then_some(())
    });
    // The station itself dies mid-run.
    daemon.kill().unwrap(); // SIGKILL
    daemon.wait().unwrap();

    // Started again, it judges a few more parcels and delivers what it owes.
    let (mut again, _) = run_daemon(&station, &["--parcels", "4"]);
    assert!(again.wait().unwrap().success());
    let out = station
        .intake(&["sync", "--no-pull", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let station_scans = station.store().scans(&ScanFilter::default()).unwrap();
    assert!(station_scans.len() >= 10, "{} scans", station_scans.len());
    let held = hq_scans(db, false);
    let by_id: BTreeMap<String, serde_json::Value> = held
        .iter()
        .map(|v| (v["scan_id"].as_str().unwrap().to_owned(), v.clone()))
        .collect();
    assert_eq!(held.len(), by_id.len(), "a scan id held twice");
    assert_eq!(
        held.len(),
        station_scans.len(),
        "head office holds each scan once"
    );
    for s in &station_scans {
        assert_eq!(
            by_id.get(&s.id),
            Some(&s.to_json()),
            "scan {} differs",
            s.id
        );
        assert_eq!(by_id[&s.id]["station_id"], "test-dock-07");
    }
    assert_eq!(station.store().outbox_depth().unwrap(), 0);
}

#[test]
fn the_running_station_delivers_every_scan_exactly_once_through_cuts_and_a_crash() {
    let work = tempfile::tempdir().unwrap();
    let db = work.path().join("hq.db");
    whole_system_against(db.to_str().unwrap());
}

#[test]
fn the_same_against_postgresql() {
    match pg_schema_url("daemon") {
        Some(url) => whole_system_against(&url),
        None => eprintln!("SKIPPED: INTAKE_TEST_PG_URL is not set; .ci/run sets it (PostgreSQL)"),
    }
}
