//! The command line and the one owner of the records: `intake quote` judges with what the
//! station has in force (a rate card pulled from head office included), billing's
//! `intake reprice`, and the data folder's lock against a second daemon or writer.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod sync_util;

use serde_json::Value;
use sync_util::{BIN, Hq, Station, TOKEN, make_scans, write_private};

fn json_out(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn quote_uses_the_rate_card_in_force_after_a_pull_and_billing_reprices_on_request() {
    let hq_dir = tempfile::tempdir().unwrap();
    let tok = hq_dir.path().join("tokens");
    write_private(&tok, &format!("{TOKEN}\n"));
    let db = hq_dir.path().join("hq.db");
    let db = db.to_str().unwrap().to_owned();
    let hq = Hq::start(&db, &tok, 0, &[]);
    let station = Station::new(&hq.url(), "");
    let settings = station.settings();
    let quote = |station: &Station| {
        json_out(
            &station
                .intake(&[
                    "quote",
                    "--to",
                    "JP",
                    "--weight",
                    "3lb",
                    "--dims",
                    "12x10x8in",
                    "--json",
                ])
                .output()
                .unwrap(),
        )
    };
    // A station that never ran quotes with its configuration.
    let before = quote(&station);
    assert_eq!(before["rate_card_version"], "sample-2026-11");
    assert_eq!(before["in_force_version"], Value::Null);

    // Scans wait in the outbox; head office has a dearer card.
    station
        .store()
        .insert_scans_bulk(&make_scans(&settings, 4, 1_764_000_000_000))
        .unwrap();
    let card = std::fs::read_to_string(station.dir.path().join("rates.toml"))
        .unwrap()
        .replace("sample-2026-11", "hq-2027-01")
        .replace("first = \"14.00\"", "first = \"44.00\"");
    let hq_card = hq_dir.path().join("card.toml");
    std::fs::write(&hq_card, card).unwrap();
    let out = std::process::Command::new(BIN)
        .args([
            "hq",
            "load-rate-card",
            "--db",
            &db,
            hq_card.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    // The order of the station's scans, as billing knows it.
    let csv = hq_dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        "waybill,destination,declared_weight,declared_dims,quoted_price,consignee_id_on_file,duties\nEE123456785GB,JP,3 lb,,18.00,no,\n",
    )
    .unwrap();
    let out = station
        .intake(&["manifest", "import", csv.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let synced = json_out(&station.intake(&["sync", "--json"]).output().unwrap());
    assert_eq!(synced["rate_card"], "hq-2027-01");

    let after = quote(&station);
    assert_eq!(after["rate_card_version"], "hq-2027-01");
    assert_eq!(after["in_force_version"], 2);
    assert!(
        after["price_cents"].as_i64().unwrap() > before["price_cents"].as_i64().unwrap(),
        "{before} → {after}"
    );

    // Billing asks for the new card on the scans head office has not acknowledged — here
    // all of them were delivered by the sync above, so none is repriced...
    let none = json_out(&station.intake(&["reprice", "--json"]).output().unwrap());
    assert_eq!(none["repriced"].as_array().unwrap().len(), 0);
    assert_eq!(none["rate_card"], "hq-2027-01");
    // ...and named scans are repriced whatever their state.
    let scan = station.store().scans(&Default::default()).unwrap();
    let priced = scan
        .iter()
        .find(|s| s.waybill.as_deref() == Some("EE123456785GB"))
        .unwrap();
    let out = station
        .intake(&["reprice", "--scan", &priced.id, "--json"])
        .output()
        .unwrap();
    let one = json_out(&out);
    let made = one["repriced"].as_array().unwrap();
    assert_eq!(made.len(), 1, "{one}");
    assert!(made[0]["note"].as_str().unwrap().contains("hq-2027-01"));
}

#[test]
fn a_second_daemon_or_writer_on_the_same_data_folder_is_refused_naming_the_lock() {
    let station = Station::new("http://127.0.0.1:9", "");
    let mut first = station
        .intake(&["run", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lock = station.dir.path().join("data/intake.lock");
    sync_util::wait_for(
        "the first daemon to take the lock",
        std::time::Duration::from_secs(60),
        || {
            std::fs::read_to_string(&lock)
                .ok()
                .filter(|pid| pid.trim() == first.id().to_string())
        },
    );
    for args in [
        &["run", "--listen", "127.0.0.1:0", "--parcels", "1"][..],
        &["manifest", "import", "manifest-sample.csv"][..],
    ] {
        let out = station
            .intake(args)
            .current_dir(station.dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("intake.lock"), "{args:?}: {err}");
        assert!(err.contains(&first.id().to_string()), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
    // Readers are never refused.
    let out = station
        .intake(&["scans", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let _ = first.kill();
    let _ = first.wait();
    // A crash releases it: the next writer proceeds.
    let out = station
        .intake(&["manifest", "import", "manifest-sample.csv"])
        .current_dir(station.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
