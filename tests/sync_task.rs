//! The daemon's scheduled sync task against `intake hq serve` on loopback: a fresh station
//! (never uploaded) uploads at start — the missed-slot catch-up — and pulls the rate card.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod sync_util;

use std::time::Duration;

use intake::store::{Records, StartOptions};
use intake::sync::{SyncEvent, SyncTask};
use sync_util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_task_catches_up_at_start_and_pulls() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tokens");
    write_private(&tok, &format!("{TOKEN}\n"));
    let db = dir.path().join("hq.db");
    let db = db.to_str().unwrap().to_owned();
    let hq = Hq::start(&db, &tok, 0, &[]);
    let station = Station::new(&hq.url(), "batch_size = 50");
    let settings = station.settings();
    station
        .store()
        .insert_scans_bulk(&make_scans(&settings, 120, 1_764_000_000_000))
        .unwrap();
    // Head office's newer card (the station's own config keeps its card).
    let card = std::fs::read_to_string(station.dir.path().join("rates.toml"))
        .unwrap()
        .replace("sample-2026-11", "hq-task");
    let rates = station.dir.path().join("rates-hq.toml");
    std::fs::write(&rates, card).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["hq", "load-rate-card", "--db", &db, rates.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());

    let (records, owner) = Records::open(
        &settings.data_dir,
        &settings.db_path(),
        StartOptions::from_settings(&settings),
    )
    .unwrap();
    let task = SyncTask::from_settings(&settings, records.clone())
        .unwrap()
        .expect("[sync] is configured");
    let handle = task.handle();
    let mut events = handle.subscribe();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(task.run(async {
        let _ = stop_rx.await;
    }));
    let (mut uploaded, mut card_in_force) = (None, None);
    while uploaded.is_none() || card_in_force.is_none() {
        match tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("the task reports within a minute")
            .unwrap()
        {
            SyncEvent::Uploaded(r) => uploaded = Some(r),
            SyncEvent::Pulled {
                rate_card: Some(c), ..
            } => card_in_force = Some(c.version),
            SyncEvent::UploadFailed(e) | SyncEvent::PullFailed(e) => panic!("{e}"),
            SyncEvent::Pulled { .. } => {}
        }
    }
    assert_eq!(uploaded.unwrap().delivered, 120);
    assert_eq!(card_in_force.as_deref(), Some("hq-task"));
    stop_tx.send(()).unwrap();
    running.await.unwrap().unwrap();
    assert_eq!(records.in_force().policy.card.version, "hq-task");
    tokio::task::spawn_blocking(move || owner.stop())
        .await
        .unwrap();
    assert_eq!(station.store().outbox_depth().unwrap(), 0);
    assert!(station.store().last_upload_ok().unwrap().is_some());
    assert_eq!(hq_scans(&db, false).len(), 120);
}
