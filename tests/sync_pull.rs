//! Manifest and rate card come down through `intake sync`; a scan judged `unknown_waybill`
//! is judged again when its entry arrives (a new resolution, never an edit), and that
//! resolution goes up on the next sync. Also `intake export`, written atomically.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod sync_util;

use intake::rules::Reason;
use intake::store::ScanFilter;
use intake::store::outbox::ACTOR_SYSTEM;
use sync_util::*;

const MANIFEST: &str =
    "waybill,destination,declared_weight,declared_dims,quoted_price,consignee_id_on_file,duties
RR473124829US,JP,2 lb,,20.00,no,
EA100079198US,HK,1 lb,,12.00,no,
";

#[test]
fn a_late_manifest_entry_rejudges_its_scan_and_the_resolution_goes_up() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tokens");
    write_private(&tok, &format!("{TOKEN}\n"));
    let db = dir.path().join("hq.db");
    let db = db.to_str().unwrap();
    let hq = Hq::start(db, &tok, 0, &[]);
    let station = Station::new(&hq.url(), "batch_size = 7");
    let scans = make_scans(&station.settings(), 30, 1_764_000_000_000);
    let unknown: Vec<_> = scans
        .iter()
        .filter(|s| s.reasons.contains(&Reason::UnknownWaybill))
        .cloned()
        .collect();
    assert_eq!(unknown.len(), 10);
    station.store().insert_scans_bulk(&scans).unwrap();

    let dry = station.intake(&["sync", "--dry-run"]).output().unwrap();
    let dry = String::from_utf8(dry.stdout).unwrap();
    assert!(
        dry.contains("would send 30 scan(s) and 0 resolution(s) in 5 batch(es)"),
        "{dry}"
    );

    let csv = dir.path().join("manifest.csv");
    std::fs::write(&csv, MANIFEST).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["hq", "load-manifest", "--db", db, csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let sync = || {
        let out = station.intake(&["sync", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = sync();
    assert_eq!(first["upload"]["delivered"], 30);
    assert_eq!(first["manifest"]["inserted"], 2);
    assert_eq!(first["rejudged"], 10);
    let st = station.store();
    assert!(st.manifest_entry("RR473124829US").unwrap().is_some());
    assert_eq!(st.manifest_cursor().unwrap().as_deref(), Some("2"));
    for s in &unknown {
        assert_eq!(
            st.scan(&s.id).unwrap().as_ref(),
            Some(s),
            "scan rows never change"
        );
        let r = st.resolutions_of(&s.id).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].actor, ACTOR_SYSTEM);
        assert!(
            !r[0].reasons.contains(&Reason::UnknownWaybill),
            "{:?}",
            r[0]
        );
    }
    drop(st);

    // The next sync uploads the 10 resolutions; the manifest has nothing new.
    let second = sync();
    assert_eq!(second["upload"]["delivered"], 10);
    assert_eq!(second["manifest"]["inserted"], 0);
    assert_eq!(second["rejudged"], 0);
    let held = hq_scans(db, true);
    assert_eq!(held.len(), 10);
    assert!(
        held.iter()
            .all(|r| r["actor"] == "system" && r["station_id"] == "test-dock-07")
    );
    assert_eq!(hq_scans(db, false).len(), 30);
}

#[test]
fn export_writes_scans_and_resolutions_atomically() {
    let station = Station::new("http://127.0.0.1:9", "");
    let settings = station.settings();
    let scans = make_scans(&settings, 12, 1_764_000_000_000);
    let mut st = station.store();
    st.insert_scans_bulk(&scans).unwrap();
    drop(st);
    // The manifest arrives (as from a pull); the store actor judges the unknown ones again.
    let (records, owner) = intake::store::Records::open(
        &settings.data_dir,
        &settings.db_path(),
        intake::store::StartOptions::from_settings(&settings),
    )
    .unwrap();
    let applied = records
        .apply_manifest_page(
            intake::manifest::parse_csv(MANIFEST.as_bytes(), &settings.waybill)
                .unwrap()
                .entries,
            "1",
        )
        .wait()
        .unwrap();
    assert_eq!(applied.rejudged.len(), 4);
    owner.stop();

    let out_dir = station.dir.path().join("exports");
    std::fs::create_dir(&out_dir).unwrap();
    let nd = out_dir.join("scans.ndjson");
    let out = station
        .intake(&["export", "--format", "ndjson", "-o", nd.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&nd)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 16);
    // The export is the upload protocol's record shape: head office's parser takes it.
    let body = std::fs::read(&nd).unwrap();
    let parsed = intake::sync::wire::parse_batch(&body, false).unwrap();
    assert_eq!(parsed.len(), 16);
    let stored = station.store().scans(&ScanFilter::default()).unwrap();
    assert_eq!(
        parsed[0],
        intake::sync::wire::Received::Scan(stored[0].clone())
    );

    let csv_path = out_dir.join("scans.csv");
    let out = station
        .intake(&[
            "export",
            "--format",
            "csv",
            "--since",
            "2025-11-24T16:00:00.005Z",
            "-o",
            csv_path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut rdr = csv::Reader::from_path(&csv_path).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(
        rows.len(),
        7 + 4,
        "scans from the 6th millisecond on, and the resolutions"
    );
    assert_eq!(&rows[7][0], "resolution");
    // Nothing but the two exports is left in the directory (no temporary files).
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["scans.csv", "scans.ndjson"]);
    // A directory that does not exist: an error, and no partial file anywhere.
    let out = station
        .intake(&["export", "-o", "/nonexistent-dir/x.ndjson"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
