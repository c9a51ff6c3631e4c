//! Exactly-once delivery through real seams: `intake hq serve` on loopback, a station store
//! filled through the store API, `intake sync` as a subprocess. Head office is cut off
//! (SIGKILL) and restarted mid-upload several times, the client is SIGKILLed once and run
//! again, and in the end head office holds every scan and resolution exactly once, field for
//! field equal to the station's.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod sync_util;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use intake::store::ScanFilter;
use intake::store::outbox::{ACTOR_OPERATOR, Resolution};
use sync_util::*;

const SCANS: usize = 3000;
const BATCH: usize = 10;
const LIMIT: Duration = Duration::from_secs(120);

fn exactly_once_against(db: &str) {
    let work = tempfile::tempdir().unwrap();
    let hq_token = work.path().join("hq.tokens");
    write_private(&hq_token, &format!("# accepted tokens\n{TOKEN}\n"));
    let mut hq = Hq::start(db, &hq_token, 0, &[]);
    let station = Station::new(
        &hq.url(),
        &format!(
            "batch_size = {BATCH}\nretry_first = \"10ms\"\nretry_max = \"100ms\"\ngive_up_after = \"60s\"\ntimeout = \"5s\""
        ),
    );
    let settings = station.settings();
    let scans = make_scans(&settings, SCANS, 1_764_000_000_000);
    {
        let mut st = station.store();
        assert_eq!(st.insert_scans_bulk(&scans).unwrap(), SCANS);
        // An operator's corrections, after the scans they refer to.
        for s in scans.iter().step_by(300) {
            st.insert_resolution(&Resolution {
                id: intake::scan::new_scan_id(),
                scan_id: s.id.clone(),
                created_at: jiff::Timestamp::from_millisecond(1_764_100_000_000).unwrap(),
                actor: ACTOR_OPERATOR.into(),
                waybill: s.waybill.clone(),
                disposition: Some(intake::rules::Disposition::Accept),
                reasons: vec![],
                note: Some("weighed again by hand".into()),
                billing: Default::default(),
            })
            .unwrap();
        }
    }
    let counter = HqCounter::open(db);
    let sync = |st: &Station| {
        st.intake(&["sync", "--no-pull"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut client = sync(&station);
    let mut cuts_mid_upload = 0;
    for threshold in [300u64, 900, 1500] {
        let held = wait_for("head office to get more scans", LIMIT, || {
            let n = counter.scans();
            (n >= threshold).then_some(n)
        });
        hq.kill();
        if held < SCANS as u64 {
            cuts_mid_upload += 1;
        }
        // The client keeps retrying while head office is away.
        assert!(client.try_wait().unwrap().is_none() || held == SCANS as u64);
        hq.restart();
    }

    // Kill the client itself mid-upload, then run it again: it resumes from the outbox.
    let at_kill = wait_for("more scans before killing the client", LIMIT, || {
        let n = counter.scans();
        (n >= 2100).then_some(n)
    });
    client.kill().unwrap(); // SIGKILL
    let _ = client.wait();
    let killed_mid_upload = at_kill < SCANS as u64;

    let out = station
        .intake(&["sync", "--no-pull", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "second sync failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["upload"]["delivered"].as_u64().unwrap() > 0 || !killed_mid_upload);

    // Every scan exactly once, field for field.
    let station_scans = station.store().scans(&ScanFilter::default()).unwrap();
    assert_eq!(station_scans.len(), SCANS);
    let held = hq_scans(db, false);
    assert_eq!(held.len(), SCANS, "head office holds each scan once");
    let by_id: BTreeMap<String, serde_json::Value> = held
        .into_iter()
        .map(|v| (v["scan_id"].as_str().unwrap().to_owned(), v))
        .collect();
    assert_eq!(by_id.len(), SCANS, "no scan id twice");
    for s in &station_scans {
        assert_eq!(
            by_id.get(&s.id),
            Some(&s.to_json()),
            "scan {} differs",
            s.id
        );
    }
    let resolutions = station.store().resolutions(None).unwrap();
    let held_res = hq_scans(db, true);
    assert_eq!(held_res.len(), resolutions.len());
    for (r, h) in resolutions.iter().zip(&held_res) {
        assert_eq!(h["resolution_id"].as_str(), Some(r.id.as_str()));
        assert_eq!(h["scan_id"].as_str(), Some(r.scan_id.as_str()));
        assert_eq!(h["note"].as_str(), r.note.as_deref());
    }
    assert_eq!(station.store().outbox_depth().unwrap(), 0);
    assert!(station.store().last_upload_ok().unwrap().is_some());
    // The cuts must have happened during the upload, or the test proved nothing.
    assert!(
        cuts_mid_upload >= 2 && killed_mid_upload,
        "cuts mid-upload: {cuts_mid_upload}, client killed mid-upload: {killed_mid_upload}"
    );

    // Once more: nothing to send, nothing stored twice.
    let out = station
        .intake(&["sync", "--no-pull", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["upload"]["delivered"], 0);
    assert_eq!(counter.scans(), SCANS as u64);
}

#[test]
fn every_scan_arrives_exactly_once_despite_cuts_and_a_killed_client_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hq.db");
    exactly_once_against(db.to_str().unwrap());
}

/// Runs when `INTAKE_TEST_PG_URL` is set (`.ci/postgres.sh` sets it up).
#[test]
fn every_scan_arrives_exactly_once_despite_cuts_and_a_killed_client_postgres() {
    let Some(url) = pg_schema_url("once") else {
        eprintln!("INTAKE_TEST_PG_URL not set: PostgreSQL variant skipped");
        return;
    };
    exactly_once_against(&url);
}
