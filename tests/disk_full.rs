//! A full disk never loses a parcel: the store actor's data folder on a small tmpfs (as
//! root; the test says so and checks nothing where it cannot mount one). The reserve is
//! released so the scan in hand still commits; once the disk is full for good, scans are
//! kept in order and stored as soon as space returns, and the chain stays intact.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod tmpfs_util;

use std::time::{Duration, Instant};

use intake::config::Settings;
use intake::judge::{Measurement, WaybillRead};
use intake::station::Finished;
use intake::store::actor::RESERVE_FILE;
use intake::store::{Records, StartOptions, Store};
use tmpfs_util::{fill, mount_small};

fn parcel(n: u64) -> Box<Finished> {
    Box::new(Finished {
        parcel: n,
        measurement: Measurement {
            weight: Ok("3 lb".parse().unwrap()),
            dims: Ok("12x10x8 in".parse().unwrap()),
            waybill: WaybillRead::NoRead,
        },
        extra_reasons: vec![],
        notes: vec![n.to_string()],
        timings: Default::default(),
    })
}

#[test]
fn a_full_disk_releases_the_reserve_then_keeps_scans_until_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let Some(_mount) = mount_small(&data, "16m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (not root?); the disk-full test checked nothing"
        );
        return;
    };
    let mut settings = Settings::load(None).unwrap();
    settings.data_dir = data.clone();
    let (records, owner) = Records::open(
        &data,
        &settings.db_path(),
        StartOptions::from_settings(&settings),
    )
    .unwrap();
    assert!(data.join(RESERVE_FILE).is_file(), "the reserve is held");
    for n in 0..5 {
        records.commit(parcel(n)).wait().unwrap();
    }

    // The disk fills: the reserve is released and the scan in hand is stored.
    fill(&data, "filler-1");
    let saved = records.commit(parcel(5)).wait().unwrap();
    assert!(
        !data.join(RESERVE_FILE).exists(),
        "the reserve was released"
    );

    // Full again, no reserve left: the scans are kept, in order, and said not stored.
    fill(&data, "filler-2");
    let mut kept = Vec::new();
    for n in 6..9 {
        let err = records.commit(parcel(n)).wait().unwrap_err();
        kept.push(err.scan_id.clone());
        assert!(
            err.error.contains("full") || err.error.contains("not stored"),
            "{}",
            err.error
        );
    }
    // Space returns: the actor's retry stores them, oldest first, without a new commit.
    std::fs::remove_file(data.join("filler-1")).unwrap();
    std::fs::remove_file(data.join("filler-2")).unwrap();
    let start = Instant::now();
    loop {
        let st = Store::open_read_only(&settings.db_path()).unwrap();
        if kept.iter().all(|id| st.scan(id).unwrap().is_some()) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the kept scans were not stored after space returned"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = records.commit(parcel(9)).wait().unwrap();
    assert_eq!(owner.stop(), 0, "nothing left unstored");

    let st = Store::open_read_only(&settings.db_path()).unwrap();
    let scans = st.scans(&Default::default()).unwrap();
    assert_eq!(scans.len(), 10, "every parcel is one row");
    // Stored in the order the station finished them.
    let order: Vec<String> = st
        .events_since(0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.kind {
            intake::store::EventKind::ScanCommitted(s) => Some(s.id),
            _ => None,
        })
        .collect();
    let pos = |id: &str| order.iter().position(|x| x == id).unwrap();
    assert!(pos(&saved.record.id) < pos(&kept[0]));
    assert!(pos(&kept[0]) < pos(&kept[1]) && pos(&kept[1]) < pos(&kept[2]));
    assert!(pos(&kept[2]) < pos(&after.record.id));
    let v = st.verify_chain().unwrap();
    assert!(v.breaks.is_empty(), "{:?}", v.breaks);
    assert_eq!(st.integrity_check().unwrap(), Ok(()));
}
