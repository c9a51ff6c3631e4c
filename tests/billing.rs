//! Trustworthy records for billing, end to end on the simulated dock (issue 15): the
//! billable flag and its reasons on every scan, no adjustment proposed on a scan billing may
//! not use, the configuration counter (what is in force) bumped by rules and device
//! settings and recorded by the next scan, and the billing export's units and columns.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod util;

use std::collections::BTreeMap;

use serde_json::Value;
use util::Dir;

/// A site file laid over the embedded default (the simulated dock, seed 1), with `extra`.
fn site(d: &Dir, name: &str, extra: &str) -> String {
    let text =
        format!("[scale]\nsettle = \"100ms\"\ninterval = \"20ms\"\n[sim]\nseed = 3\n{extra}\n");
    d.write(name, &text).to_str().unwrap().to_owned()
}

/// The sample rate card under another version, dearer where it has a first step.
fn dear_card(version: &str) -> String {
    let card = include_str!("../config/rates.toml")
        .replace(
            "version = \"sample-2026-11\"",
            &format!("version = \"{version}\""),
        )
        .replace("first = \"", "first = \"1");
    assert!(card.contains(version));
    card
}

fn run(d: &Dir, cfg: &str, parcels: &str) {
    d.run(&["--config", cfg, "run", "--parcels", parcels, "--fast"])
        .expect_code(0);
}

fn scans(d: &Dir, cfg: &str) -> Vec<Value> {
    d.run(&["--config", cfg, "scans", "--json"])
        .expect_code(0)
        .json_lines()
}

#[test]
fn a_station_billing_may_not_use_records_the_price_but_proposes_no_adjustment() {
    // The same seeded parcels on a station whose scale is declared legal for trade (the
    // simulated one is, by default) and on one whose scale is not.
    let legal = Dir::new();
    let cfg = site(&legal, "site.toml", "");
    run(&legal, &cfg, "30");
    let billed = scans(&legal, &cfg);

    let not_legal = Dir::new();
    let cfg2 = site(
        &not_legal,
        "site.toml",
        "[billing]\nlegal_for_trade = false",
    );
    run(&not_legal, &cfg2, "30");
    let flagged = scans(&not_legal, &cfg2);
    assert_eq!(billed.len(), 30);
    assert_eq!(flagged.len(), 30);

    let repriced = billed
        .iter()
        .filter(|s| s["disposition"] == "accept_repriced")
        .count();
    assert!(repriced > 0, "the sample quotes give repriced parcels");
    for (b, f) in billed.iter().zip(&flagged) {
        assert_eq!(b["waybill"], f["waybill"], "same seed, same parcels");
        assert_eq!(b["price_cents"], f["price_cents"], "the price is kept");
        assert_eq!(f["billable"], false, "{f}");
        assert!(
            f["not_billable"]
                .as_array()
                .unwrap()
                .contains(&Value::from("not_legal_for_trade")),
            "{f}"
        );
        assert_eq!(f["adjustment_cents"], Value::Null, "{f}");
        assert_ne!(f["disposition"], "accept_repriced", "{f}");
        // A measured parcel on the legal station is billable; one without a weight or size
        // names why.
        let measured = !b["weight_ug"].is_null() && !b["length_um"].is_null();
        assert_eq!(b["billable"], measured, "{b}");
        if !measured {
            assert_eq!(
                b["not_billable"],
                serde_json::json!(["not_measured"]),
                "{b}"
            );
        }
    }

    // The table says it too, for billing staff.
    let table = not_legal
        .run(&["--config", &cfg2, "scans"])
        .expect_code(0)
        .stdout();
    assert!(
        table.contains("not billable: not_legal_for_trade"),
        "{table}"
    );
}

#[test]
fn a_required_verification_that_never_happened_makes_scans_not_billable() {
    let d = Dir::new();
    let cfg = site(&d, "site.toml", "[billing]\nverify_every_days = 30");
    run(&d, &cfg, "5");
    for s in scans(&d, &cfg) {
        assert_eq!(s["billable"], false, "{s}");
        assert!(
            s["not_billable"]
                .as_array()
                .unwrap()
                .contains(&Value::from("verification_overdue")),
            "{s}"
        );
        assert_eq!(s["adjustment_cents"], Value::Null);
    }
}

#[test]
fn rules_and_device_settings_bump_the_configuration_counter_and_the_next_scan_records_it() {
    let d = Dir::new();
    let first = site(&d, "a.toml", "");
    run(&d, &first, "2");
    // A new rate card changes what is in force; so does a device setting.
    d.write("rates-2027.toml", &dear_card("rates-2027"));
    let rule = site(&d, "b.toml", "[pricing]\nrate_card = \"rates-2027.toml\"");
    run(&d, &rule, "2");
    let device = site(
        &d,
        "c.toml",
        "[pricing]\nrate_card = \"rates-2027.toml\"\n[dimensions]\nsamples = 4",
    );
    run(&d, &device, "2");
    // Unchanged: no new version.
    run(&d, &device, "1");

    let all = scans(&d, &device);
    let versions: Vec<u64> = all
        .iter()
        .map(|s| s["in_force_version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions.len(), 7);
    let v1 = versions[0];
    assert_eq!(versions, [v1, v1, v1 + 1, v1 + 1, v1 + 2, v1 + 2, v1 + 2]);
    let cards: Vec<&str> = all
        .iter()
        .map(|s| s["rate_card_version"].as_str().unwrap_or(""))
        .collect();
    assert!(
        cards[..2]
            .iter()
            .all(|c| c.is_empty() || *c == "sample-2026-11"),
        "{cards:?}"
    );
    assert!(
        cards[2..]
            .iter()
            .all(|c| c.is_empty() || *c == "rates-2027"),
        "{cards:?}"
    );

    // Each change is an entry of the audit chain, and the chain verifies clean.
    let verify = d
        .run(&["--config", &device, "audit", "verify", "--json"])
        .expect_code(0)
        .json_lines();
    let entries = verify[0]["entries"].as_u64().unwrap();
    let mut in_force = BTreeMap::new();
    for n in 1..=entries {
        let e = d
            .run(&[
                "--config",
                &device,
                "audit",
                "show",
                &n.to_string(),
                "--json",
            ])
            .expect_code(0)
            .json_lines();
        if e[0]["kind"] == "in_force" {
            let detail = &e[0]["content"]["detail"];
            in_force.insert(detail["version"].as_u64().unwrap(), detail.clone());
        }
    }
    assert!(
        [v1, v1 + 1, v1 + 2]
            .iter()
            .all(|v| in_force.contains_key(v)),
        "every version is chained: {in_force:?}"
    );
}

#[test]
fn the_billing_export_carries_the_units_of_scans_and_repricing_as_columns() {
    let d = Dir::new();
    let cfg = site(&d, "site.toml", "");
    run(&d, &cfg, "6");
    let stored = scans(&d, &cfg);
    let csv = |units: &str| {
        let out = d
            .run(&[
                "--config", &cfg, "export", "--format", "csv", "--units", units, "-o", "-",
            ])
            .expect_code(0)
            .stdout();
        let mut r = csv::Reader::from_reader(out.as_bytes());
        let header: Vec<String> = r.headers().unwrap().iter().map(str::to_owned).collect();
        let rows: Vec<BTreeMap<String, String>> = r
            .records()
            .map(|rec| {
                header
                    .iter()
                    .cloned()
                    .zip(rec.unwrap().iter().map(str::to_owned))
                    .collect()
            })
            .collect();
        (header, rows)
    };
    let (us_h, us) = csv("us");
    let (metric_h, metric) = csv("metric");
    for col in [
        "weight_lb",
        "length_in",
        "billable_weight_lb",
        "price_cents",
        "billable",
    ] {
        assert!(us_h.contains(&col.to_owned()), "{col} in {us_h:?}");
    }
    for col in [
        "weight_kg",
        "length_cm",
        "width_cm",
        "height_cm",
        "billable_weight_kg",
    ] {
        assert!(metric_h.contains(&col.to_owned()), "{col} in {metric_h:?}");
    }
    // `intake scans --format csv` has the same columns after the export's kind and id.
    let scans_csv = d
        .run(&["--config", &cfg, "scans", "--format", "csv"])
        .expect_code(0)
        .stdout();
    let scans_header: Vec<&str> = scans_csv.lines().next().unwrap().split(',').collect();
    assert_eq!(&us_h[2..2 + scans_header.len()], scans_header.as_slice());

    for ((s, u), m) in stored.iter().zip(&us).zip(&metric) {
        assert_eq!(u["scan_id"], s["scan_id"].as_str().unwrap());
        let Some(ug) = s["weight_ug"].as_i64() else {
            continue;
        };
        let lb: f64 = u["weight_lb"].parse().unwrap();
        let kg: f64 = m["weight_kg"].parse().unwrap();
        assert!(
            (lb - ug as f64 / 453_592_370.0).abs() < 0.0006,
            "{lb} lb vs {ug} µg"
        );
        assert!((kg - ug as f64 / 1e9).abs() < 0.0006, "{kg} kg vs {ug} µg");
        if let Some(l) = s["length_um"].as_i64() {
            let cm: f64 = m["length_cm"].parse().unwrap();
            assert!((cm - l as f64 / 1e4).abs() < 0.006, "{cm} cm vs {l} µm");
        }
        assert_eq!(
            u["price_cents"],
            s["price_cents"].to_string().replace("null", "")
        );
    }

    // Billing reprices a scan with a new card: the new price and adjustment are columns of
    // the resolution row, not only words in its note.
    d.write("dear.toml", &dear_card("dear-2027"));
    let dear = site(&d, "dear-site.toml", "[pricing]\nrate_card = \"dear.toml\"");
    let victim = stored
        .iter()
        .find(|s| {
            !s["quoted_cents"].is_null()
                && matches!(
                    s["disposition"].as_str(),
                    Some("accept" | "accept_repriced")
                )
        })
        .expect("a carried parcel with a quote");
    let id = victim["scan_id"].as_str().unwrap();
    d.run(&["--config", &dear, "reprice", "--scan", id, "--json"])
        .expect_code(0);
    let (_, rows) = csv("us");
    let res = rows
        .iter()
        .find(|r| r["kind"] == "resolution" && r["scan_id"] == id)
        .expect("the repricing's row");
    let new_price: i64 = res["price_cents"].parse().unwrap();
    assert!(
        new_price >= victim["price_cents"].as_i64().unwrap(),
        "{res:?}"
    );
    let shown = format!("price {}.{:02} ", new_price / 100, new_price % 100);
    assert!(res["note"].contains(&shown), "{shown} in {res:?}");
    assert_eq!(res["rate_card_version"], "dear-2027");
    assert_eq!(res["measurement_flagged"], "false");
    let adj: i64 = res["adjustment_cents"].parse().unwrap();
    assert_eq!(
        adj,
        new_price - victim["quoted_cents"].as_i64().unwrap(),
        "{res:?}"
    );
}

#[test]
fn calibration_and_verification_decide_billing_and_recalibration_bumps_its_counter() {
    let d = Dir::new();
    let cfg = site(
        &d,
        "site.toml",
        "[dimensions]\nself_calibrate = false\n[billing]\nverify_every_days = 30",
    );
    // Never calibrated: no size, scans not billable for it (and never verified).
    run(&d, &cfg, "2");
    for s in scans(&d, &cfg) {
        assert_eq!(s["billable"], false, "{s}");
        let why = s["not_billable"].as_array().unwrap();
        assert!(why.contains(&Value::from("uncalibrated")), "{s}");
        assert!(why.contains(&Value::from("verification_overdue")), "{s}");
        assert_eq!(s["adjustment_cents"], Value::Null);
        assert_eq!(s.get("calibration_number"), None, "{s}");
    }
    let calibrate = || {
        let c = d
            .run(&["--config", &cfg, "calibrate", "--json"])
            .expect_code(0)
            .json_lines();
        c[0]["number"].as_u64().unwrap()
    };
    assert_eq!(calibrate(), 1);
    // Calibrated but not verified: still not billable, for that reason alone.
    run(&d, &cfg, "2");
    let after_cal = scans(&d, &cfg);
    for s in &after_cal[2..] {
        assert_eq!(s["calibration_number"], 1, "{s}");
        assert_eq!(
            s["not_billable"],
            serde_json::json!(["verification_overdue"]),
            "{s}"
        );
    }
    // A passed verification with the reference box makes the next scans billable.
    d.run(&[
        "--config",
        &cfg,
        "verify",
        "--reference",
        "12x10x8in",
        "--weight",
        "5lb",
        "--count",
        "3",
    ])
    .expect_code(0);
    // A recalibration bumps the calibration counter; the next scans record it.
    assert_eq!(calibrate(), 2);
    run(&d, &cfg, "4");
    let all = scans(&d, &cfg);
    assert_eq!(all.len(), 8);
    for s in &all[4..] {
        assert_eq!(s["calibration_number"], 2, "{s}");
        let measured = !s["weight_ug"].is_null() && !s["length_um"].is_null();
        assert_eq!(s["billable"], measured, "{s}");
    }
    // Both calibrations and the verification are entries of the chain, and it verifies.
    let v = d
        .run(&["--config", &cfg, "audit", "verify", "--json"])
        .expect_code(0)
        .json_lines();
    let entries = v[0]["entries"].as_u64().unwrap();
    let kinds: Vec<String> = (1..=entries)
        .map(|n| {
            d.run(&["--config", &cfg, "audit", "show", &n.to_string(), "--json"])
                .expect_code(0)
                .json_lines()[0]["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "calibration").count(),
        2,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| *k == "verification").count(),
        1,
        "{kinds:?}"
    );
}
