//! Walking the audit chain: `intake audit verify` over a station store of 100,000 entries
//! (the target: under 2 s). Each entry is a scan; verifying recomputes every SHA-256 link and
//! compares every scan row with its entry's content, as the command does.
//!
//!     cargo bench --bench audit                       # 100,000 entries
//!     INTAKE_BENCH_ENTRIES=20000 cargo bench --bench audit
//!
//! The store is a real SQLite file (WAL, synchronous = FULL) in a temporary directory.

use std::time::{Duration, Instant};

use intake::config::Settings;
use intake::judge::{Measurement, WaybillRead, judge};
use intake::scan::{ScanRecord, new_scan_id};
use intake::store::Store;

fn scans(settings: &Settings, from: usize, n: usize) -> Vec<ScanRecord> {
    (from..from + n)
        .map(|i| {
            let m = Measurement {
                weight: Ok(format!("{}.{} lb", 1 + i % 40, i % 10)
                    .parse()
                    .expect("mass")),
                dims: Ok(format!("{}x{}x6 in", 8 + i % 40, 6 + i % 7)
                    .parse()
                    .expect("dims")),
                waybill: WaybillRead::Read(format!("IK{:010}", i)),
            };
            let j = judge(&m, None, &settings.policy);
            ScanRecord::new(
                new_scan_id(),
                &settings.station_id,
                jiff::Timestamp::from_millisecond(1_764_000_000_000 + i as i64).expect("time"),
                &m,
                &j,
                &settings.policy.card.version,
            )
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing else to parse.
    let entries: usize = std::env::var("INTAKE_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let settings = Settings::load(None).expect("embedded config");
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("intake.db");
    let mut store = Store::open(&db).expect("store");
    let t0 = Instant::now();
    let chunk = 5_000;
    let mut made = 0;
    while made < entries {
        let n = chunk.min(entries - made);
        store
            .insert_scans_bulk(&scans(&settings, made, n))
            .expect("insert");
        made += n;
    }
    println!(
        "audit chain: {entries} entries written in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    drop(store);

    let store = Store::open_read_only(&db).expect("read-only store");
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let v = store.verify_chain().expect("verify");
        times.push(t.elapsed());
        assert!(v.breaks.is_empty(), "{:?}", v.breaks.first());
        assert_eq!(v.entries as usize, entries);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "audit verify: {entries} entries, median of 5 runs {:.3} s (min {:.3} s, max {:.3} s); target under 2 s: {}",
        median.as_secs_f64(),
        times[0].as_secs_f64(),
        times[times.len() - 1].as_secs_f64(),
        if median < Duration::from_secs(2) {
            "met"
        } else {
            "NOT met"
        }
    );
}
