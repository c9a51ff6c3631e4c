//! The audit chain against someone with the SQLite file: each tamper — a weight rewritten
//! with the triggers dropped and put back, a row deleted, a row inserted, two entries
//! swapped, the chain cut — is found by `intake audit verify`, naming the entry; an
//! untouched store of 1,000 parcels verifies clean.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod tamper_util;
mod web_util;

use std::path::{Path, PathBuf};
use std::process::Command;

use intake::config::Settings;
use intake::decide::ResolutionRequest;
use intake::judge::{Measurement, WaybillRead};
use intake::station::Finished;
use intake::store::{Records, StartOptions};
use rusqlite::Connection;
use serde_json::Value;
use tamper_util::tamper;
use web_util::{BIN, StationDir};

fn finished(parcel: u64, weight: &str, waybill: Option<&str>) -> Box<Finished> {
    Box::new(Finished {
        parcel,
        measurement: Measurement {
            weight: Ok(weight.parse().unwrap()),
            dims: Ok("12x10x8 in".parse().unwrap()),
            waybill: match waybill {
                Some(w) => WaybillRead::Read(w.into()),
                None => WaybillRead::NoRead,
            },
        },
        extra_reasons: vec![],
        notes: vec![],
        timings: Default::default(),
    })
}

/// A station that judged `parcels` parcels (every tenth unreadable, resolved by the
/// operator); returns its directory.
fn station(parcels: u64) -> StationDir {
    let dir = StationDir::new(&[], "");
    let settings = Settings::load(Some(&dir.config)).unwrap();
    let (records, owner) = Records::open(
        &settings.data_dir,
        &settings.db_path(),
        StartOptions::from_settings(&settings),
    )
    .unwrap();
    let known = dir.manifest_waybill();
    for p in 0..parcels {
        let waybill = (p % 10 != 0).then_some(known.as_str());
        let c = records
            .commit(finished(p, &format!("{}.5 lb", 1 + p % 30), waybill))
            .wait()
            .unwrap();
        if waybill.is_none() {
            records
                .resolve(&c.record.id, ResolutionRequest::Confirm { note: None })
                .wait()
                .unwrap();
        }
    }
    owner.stop();
    dir
}

fn verify(dir: &StationDir) -> (i32, Value) {
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&dir.config)
        .args(["audit", "verify", "--json"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap(), v)
}

fn copy_station(from: &StationDir) -> StationDir {
    let to = StationDir::new(&[], "");
    std::fs::create_dir_all(to.db().parent().unwrap()).unwrap();
    for ext in ["", "-wal", "-shm"] {
        let src = PathBuf::from(format!("{}{ext}", from.db().display()));
        if src.exists() {
            std::fs::copy(&src, format!("{}{ext}", to.db().display())).unwrap();
        }
    }
    to
}

fn first_break(v: &Value) -> (u64, String) {
    let b = &v["breaks"][0];
    (
        b["entry"].as_u64().unwrap(),
        b["what"].as_str().unwrap().to_owned(),
    )
}

fn scan_ids(db: &Path) -> Vec<(String, u64)> {
    let c = Connection::open(db).unwrap();
    c.prepare("SELECT s.id, e.seq FROM scans s JOIN events e ON e.record_id = s.id ORDER BY e.seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn every_tamper_is_found_and_named_and_an_untouched_store_verifies_clean() {
    let original = station(1000);
    let (code, v) = verify(&original);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["scans"], 1000);
    assert_eq!(v["resolutions"], 100);
    assert!(v["breaks"].as_array().unwrap().is_empty());
    let entries = v["entries"].as_u64().unwrap();
    assert!(
        entries > 1100,
        "every scan, resolution and change: {entries}"
    );
    let scans = scan_ids(&original.db());
    let (victim, victim_entry) = scans[500].clone();

    // A weight rewritten (and the price with it), the trigger dropped and put back.
    let t = copy_station(&original);
    tamper(
        &t.db(),
        &format!(
            "UPDATE scans SET weight_ug = weight_ug - 453592, price_cents = 100 WHERE id = '{victim}';"
        ),
    );
    let (code, v) = verify(&t);
    assert_eq!(code, 1);
    let (entry, what) = first_break(&v);
    assert_eq!(entry, victim_entry);
    assert!(
        what.contains("was edited") && what.contains("weight_ug") && what.contains("price_cents"),
        "{what}"
    );

    // A row deleted.
    let t = copy_station(&original);
    tamper(
        &t.db(),
        &format!(
            "DELETE FROM outbox WHERE record_id = '{victim}'; DELETE FROM scans WHERE id = '{victim}';"
        ),
    );
    let (code, v) = verify(&t);
    assert_eq!(code, 1);
    assert_eq!(
        first_break(&v),
        (victim_entry, format!("scan {victim} was deleted"))
    );

    // A row inserted behind intake's back.
    let t = copy_station(&original);
    tamper(
        &t.db(),
        &format!(
            "CREATE TEMP TABLE copy AS SELECT * FROM scans WHERE id = '{victim}';
             UPDATE copy SET id = '01a00000-0000-7000-8000-000000000bad';
             INSERT INTO scans SELECT * FROM copy;"
        ),
    );
    let (code, v) = verify(&t);
    assert_eq!(code, 1);
    let (entry, what) = first_break(&v);
    assert_eq!(entry, 0);
    assert!(
        what.contains("01a00000-0000-7000-8000-000000000bad") && what.contains("in no entry"),
        "{what}"
    );

    // Two entries swapped.
    let (a, b) = (scans[10].1, scans[11].1);
    let t = copy_station(&original);
    tamper(
        &t.db(),
        &format!(
            "UPDATE events SET seq = -1 WHERE seq = {a}; UPDATE events SET seq = {a} WHERE seq = {b}; UPDATE events SET seq = {b} WHERE seq = -1;"
        ),
    );
    let (code, v) = verify(&t);
    assert_eq!(code, 1);
    let (entry, what) = first_break(&v);
    assert_eq!(entry, a);
    assert!(
        what.contains(&format!("entry {b}")) || what.contains("hash"),
        "{what}"
    );

    // A row's entry rewritten to match the edit: the hash no longer chains.
    let t = copy_station(&original);
    tamper(
        &t.db(),
        &format!(
            "UPDATE scans SET weight_ug = 1 WHERE id = '{victim}';
             UPDATE events SET content = replace(content, '\"weight_ug\":', '\"weight_ug\":1,\"x\":') WHERE seq = {victim_entry};"
        ),
    );
    let (code, v) = verify(&t);
    assert_eq!(code, 1);
    assert_eq!(first_break(&v).0, victim_entry);

    // The chain cut: its last entries gone.
    let last = scans.last().unwrap().clone();
    let t = copy_station(&original);
    tamper(
        &t.db(),
        &format!("DELETE FROM events WHERE seq >= {};", last.1),
    );
    let (code, v) = verify(&t);
    assert_eq!(code, 1);
    let whats: Vec<String> = v["breaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["what"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        whats
            .iter()
            .any(|w| w.contains(&last.0) && w.contains("in no entry")),
        "{whats:?}"
    );

    // `audit show` prints one entry with its record.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&original.config)
        .args(["audit", "show", &victim_entry.to_string(), "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let e: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(e["record_id"], victim);
    assert_eq!(e["content"]["record"]["scan_id"], victim);
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&original.config)
        .args(["audit", "show", "999999"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_rate_card_change_is_in_the_chain_and_the_next_scan_records_the_new_version() {
    let dir = StationDir::new(&[], "");
    let settings = Settings::load(Some(&dir.config)).unwrap();
    let (records, owner) = Records::open(
        &settings.data_dir,
        &settings.db_path(),
        StartOptions::from_settings(&settings),
    )
    .unwrap();
    let w = dir.manifest_waybill();
    let first = records
        .commit(finished(1, "3 lb", Some(&w)))
        .wait()
        .unwrap();
    let card = std::fs::read_to_string(dir.dir.path().join("rates.toml"))
        .unwrap()
        .replace("sample-2026-11", "hq-audit");
    records.apply_rate_card(card).wait().unwrap();
    let second = records
        .commit(finished(2, "3 lb", Some(&w)))
        .wait()
        .unwrap();
    owner.stop();
    assert_eq!(
        second.record.in_force_version,
        first.record.in_force_version.map(|v| v + 1)
    );
    let (code, v) = verify(&dir);
    assert_eq!(code, 0, "{v}");
    let st = intake::store::Store::open_read_only(&dir.db()).unwrap();
    let change = (1..=v["entries"].as_u64().unwrap())
        .filter_map(|n| st.chain_entry(n).unwrap())
        .find(|e| e.kind == "in_force" && e.content["detail"]["rate_card"] == "hq-audit")
        .expect("the rate card change is an entry");
    assert!(change.seq < second.event && change.seq > first.event);
}
