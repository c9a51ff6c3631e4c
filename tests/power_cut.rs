//! Power cuts while the store actor writes: the database, its WAL and its shared memory are
//! copied at random moments (what a disk holds when the power goes), each copy is opened,
//! and every scan whose commit had been confirmed before the copy began is in it, SQLite's
//! integrity check passes and the audit chain is intact. `INTAKE_POWER_CUTS` (default 40)
//! sets how many copies.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use intake::config::Settings;
use intake::judge::{Measurement, WaybillRead};
use intake::station::Finished;
use intake::store::{Records, StartOptions, Store};
use rand::{RngExt, SeedableRng};

fn parcel(n: u64) -> Box<Finished> {
    Box::new(Finished {
        parcel: n,
        measurement: Measurement {
            weight: Ok(format!("{}.1 lb", 1 + n % 40).parse().unwrap()),
            dims: Ok("12x10x8 in".parse().unwrap()),
            waybill: WaybillRead::NoRead,
        },
        extra_reasons: vec![],
        notes: vec![],
        timings: Default::default(),
    })
}

/// The files as a disk would hold them if the power went now. A reader holds a snapshot
/// while they are copied, so a checkpoint cannot recycle the WAL under the copy (the copy
/// is taken file by file, not at one instant as a power cut is); the writer goes on
/// appending, so the copied WAL may end in a torn, uncommitted frame, as after a cut.
fn copy_files(db: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let reader =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let _: i64 = reader
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    for ext in ["", "-wal", "-shm"] {
        let src = format!("{}{ext}", db.display());
        let dst = to.join(format!("intake.db{ext}"));
        // A file may not exist at that instant (the WAL before the first write).
        let _ = std::fs::copy(&src, &dst);
    }
    reader.execute_batch("COMMIT").unwrap();
}

#[test]
fn no_confirmed_scan_is_lost_to_a_power_cut_at_a_random_moment() {
    let cuts: usize = std::env::var("INTAKE_POWER_CUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let tmp = tempfile::tempdir().unwrap();
    let mut settings = Settings::load(None).unwrap();
    settings.data_dir = tmp.path().join("data");
    let db = settings.db_path();
    let (records, owner) = Records::open(
        &settings.data_dir,
        &db,
        StartOptions::from_settings(&settings),
    )
    .unwrap();
    let confirmed: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (records, confirmed, stop) = (records.clone(), confirmed.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let c = records.commit(parcel(n)).wait().unwrap();
                confirmed.lock().unwrap().push(c.record.id);
                n += 1;
            }
        })
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut checked = 0;
    for cut in 0..cuts {
        std::thread::sleep(Duration::from_millis(rng.random_range(1..25)));
        let before: Vec<String> = confirmed.lock().unwrap().clone();
        let copy = tmp.path().join(format!("cut-{cut}"));
        copy_files(&db, &copy);
        let st = Store::open(&copy.join("intake.db")).unwrap();
        for id in &before {
            assert!(
                st.scan(id).unwrap().is_some(),
                "cut {cut}: confirmed scan {id} lost ({} confirmed before the cut)",
                before.len()
            );
        }
        assert_eq!(st.integrity_check().unwrap(), Ok(()), "cut {cut}");
        let v = st.verify_chain().unwrap();
        assert!(v.breaks.is_empty(), "cut {cut}: {:?}", v.breaks);
        checked += before.len();
        drop(st);
        std::fs::remove_dir_all(&copy).unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert_eq!(owner.stop(), 0);
    assert!(checked > 0, "commits were confirmed during the cuts");
    eprintln!("power cuts: {cuts} copies, {checked} confirmed scans checked in them");
}
