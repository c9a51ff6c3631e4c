//! Upload throughput to head office over loopback, and the station's intake commit time
//! with and without a sync running.
//!
//!     cargo bench --bench sync                    # 100,000 scans
//!     INTAKE_BENCH_SCANS=20000 cargo bench --bench sync
//!
//! Head office is the reference receiver (`intake::hq`, SQLite store) in this process on a
//! loopback port; the station store is a real SQLite file (WAL, synchronous = FULL). The
//! upload is `intake::sync::upload_all`, exactly what `intake sync` runs. The "intake cycle"
//! measured is the part of a parcel's cycle the sync can slow down: committing its scan
//! through the store actor (judge, one fsync'd transaction, its event), timed while an
//! upload runs through the same actor and again with no sync.

use std::time::{Duration, Instant};

use intake::config::Settings;
use intake::hq::{AppState, HqStore, Limits};
use intake::judge::{Measurement, WaybillRead, judge};
use intake::manifest::ManifestEntry;
use intake::quantity::Money;
use intake::rules::Duties;
use intake::scan::{ScanRecord, new_scan_id};
use intake::station::Finished;
use intake::store::actor::Owner;
use intake::store::{Records, StartOptions, Store};
use intake::sync::run::{Quiet, RetryPolicy, Stop};
use intake::sync::{Client, Token, upload_all};

fn scans(settings: &Settings, n: usize, start_ms: i64) -> Vec<ScanRecord> {
    let e = ManifestEntry {
        waybill: "EE123456785GB".into(),
        destination: "JP".parse().expect("JP"),
        declared_weight: None,
        declared_dims: None,
        quoted_price: Some(Money::from_cents(1800)),
        consignee_id_on_file: false,
        duties: Duties::NotApplicable,
    };
    (0..n)
        .map(|i| {
            let m = Measurement {
                weight: Ok(format!("{}.{} lb", 1 + i % 40, i % 10)
                    .parse()
                    .expect("mass")),
                dims: Ok(format!("{}x{}x6 in", 8 + i % 40, 6 + i % 7)
                    .parse()
                    .expect("dims")),
                waybill: WaybillRead::Read("EE123456785GB".into()),
            };
            let j = judge(&m, Some(&e), &settings.policy);
            ScanRecord::new(
                new_scan_id(),
                &settings.station_id,
                jiff::Timestamp::from_millisecond(start_ms + i as i64).expect("time"),
                &m,
                &j,
                &settings.policy.card.version,
            )
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Commits `n` parcels through the store actor, as the station does; each one's round trip.
fn commit_times(records: &Records, n: usize) -> Vec<Duration> {
    let mut out: Vec<Duration> = (0..n)
        .map(|i| {
            let f = Finished {
                parcel: i as u64,
                measurement: Measurement {
                    weight: Ok(format!("{}.{} lb", 1 + i % 40, i % 10)
                        .parse()
                        .expect("mass")),
                    dims: Ok("12x10x8 in".parse().expect("dims")),
                    waybill: WaybillRead::Read("EE123456785GB".into()),
                },
                extra_reasons: vec![],
                notes: vec![],
                timings: Default::default(),
            };
            let t = Instant::now();
            records.commit(Box::new(f)).wait().expect("commit");
            t.elapsed()
        })
        .collect();
    out.sort();
    out
}

fn actor(settings: &Settings, dir: &std::path::Path) -> (Records, Owner) {
    Records::open(
        dir,
        &dir.join("station.db"),
        StartOptions::from_settings(settings),
    )
    .expect("store actor")
}

fn main() {
    let n: usize = std::env::var("INTAKE_BENCH_SCANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let batch: usize = std::env::var("INTAKE_BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = Settings::load(None).expect("embedded config");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "bench-token\n").expect("token");
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let token = Token::from_file(&token_file).expect("token");

    // Head office on a loopback port, in this process.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let hq_db = dir.path().join("hq.db");
    let (addr, shutdown) = rt.block_on(async {
        let store = HqStore::open(hq_db.to_str().expect("utf-8"))
            .await
            .expect("hq store");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(store, vec![token.clone()], Limits::default());
        tokio::spawn(intake::hq::serve(listener, state, async {
            let _ = rx.await;
        }));
        (addr, tx)
    });

    let db = dir.path().join("station.db");
    let mut store = Store::open(&db).expect("station store");
    let t = Instant::now();
    store
        .insert_scans_bulk(&scans(&settings, n, 1_764_000_000_000))
        .expect("fill");
    drop(store);
    let (records, owner) = actor(&settings, dir.path());
    println!(
        "filled the station store with {n} scans in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let url = format!("http://{addr}");
    let client = Client::new(&url, token, Duration::from_secs(30));
    let retry = RetryPolicy {
        first: Duration::from_millis(50),
        max: Duration::from_secs(1),
        give_up_after: Duration::from_secs(60),
    };

    // 1. Throughput: upload the whole backlog, nothing else running.
    let t = Instant::now();
    let r = upload_all(
        &records,
        &client,
        &settings.station_id,
        batch,
        retry,
        &mut Quiet,
        &Stop::new(),
    )
    .expect("upload");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "upload: {} scans in {} batches of {batch} over loopback in {secs:.2}s = {:.0} scans/s ({} retries)",
        r.delivered,
        r.batches,
        r.delivered as f64 / secs,
        r.retries
    );

    // 2. Intake commit time without a sync, then while one uploads a fresh backlog on
    //    another connection (as the daemon's sync task does).
    let without = commit_times(&records, 300);
    // A fresh backlog, written while the actor is stopped (it is the only writer).
    owner.stop();
    let second = (n / 5).max(1000);
    Store::open(&db)
        .expect("station store")
        .insert_scans_bulk(&scans(&settings, second, 1_767_000_000_000))
        .expect("refill");
    let (records, owner) = actor(&settings, dir.path());
    let station_id = settings.station_id.clone();
    let uploader = records.clone();
    let upload = std::thread::spawn(move || {
        upload_all(
            &uploader,
            &client,
            &station_id,
            batch,
            retry,
            &mut Quiet,
            &Stop::new(),
        )
        .expect("upload")
    });
    let mut during = Vec::new();
    while !upload.is_finished() && during.len() < 300 {
        during.extend(commit_times(&records, 10));
    }
    upload.join().expect("upload thread");
    owner.stop();
    during.sort();
    for (label, v) in [("without a sync", &without), ("while a sync runs", &during)] {
        if v.is_empty() {
            continue;
        }
        println!(
            "intake scan commit {label}: n={} p50={:.2}ms p99={:.2}ms max={:.2}ms",
            v.len(),
            percentile(v, 0.5).as_secs_f64() * 1e3,
            percentile(v, 0.99).as_secs_f64() * 1e3,
            v[v.len() - 1].as_secs_f64() * 1e3
        );
    }
    let _ = shutdown.send(());
}
