//! The station core through the command line: quote, manifest import, scans, config check.

mod util;

use util::Dir;

#[test]
fn quote_json_has_the_documented_fields() {
    let d = Dir::new();
    let out = d
        .run(&[
            "quote",
            "--to",
            "JP",
            "--weight",
            "3.2lb",
            "--dims",
            "12x10x8in",
            "--quoted",
            "23.50",
            "--json",
        ])
        .expect_code(0);
    let v = &out.json_lines()[0];
    assert_eq!(v["disposition"], "accept_repriced");
    assert_eq!(v["reasons"], serde_json::json!(["repriced"]));
    assert_eq!(v["actual_weight_lb"], 3.2);
    assert_eq!(v["dimensional_weight_lb"], 6.91);
    assert_eq!(v["billable_weight_lb"], 7.0);
    // Sample JP card: 14.00 first half-pound + 13 × 2.75.
    assert_eq!(v["price_cents"], 4975);
    assert_eq!(v["currency"], "USD");
    assert_eq!(v["adjustment_cents"], 4975 - 2350);
}

#[test]
fn quote_limits_at_the_boundary() {
    let d = Dir::new();
    let disposition = |w: &str, dims: &str| -> String {
        let out = d
            .run(&[
                "quote", "--to", "hk", "--weight", w, "--dims", dims, "--json",
            ])
            .expect_code(0);
        out.json_lines()[0]["disposition"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(disposition("44 lb", "10x10x10in"), "accept");
    assert_eq!(disposition("44.001 lb", "10x10x10in"), "return_to_sender");
    assert_eq!(disposition("19.958 kg", "10x10x10in"), "accept");
    assert_eq!(disposition("19.959 kg", "10x10x10in"), "return_to_sender");
    assert_eq!(disposition("1 lb", "59x10x10in"), "accept");
    assert_eq!(disposition("1 lb", "59.01x10x10in"), "return_to_sender");
    assert_eq!(disposition("1 lb", "1498x100x100 mm"), "accept");
    assert_eq!(disposition("1 lb", "150x10x10 cm"), "return_to_sender");
    // Light and large: priced by volume, never returned for it.
    let out = d
        .run(&[
            "quote",
            "--to",
            "HK",
            "--weight",
            "3 lb",
            "--dims",
            "40x30x30 in",
            "--json",
        ])
        .expect_code(0);
    let v = &out.json_lines()[0];
    assert_eq!(v["disposition"], "accept");
    assert!(v["billable_weight_lb"].as_f64().unwrap() > 250.0);
}

#[test]
fn quote_destinations_and_paperwork() {
    let d = Dir::new();
    let v = d
        .run(&[
            "quote", "--to", "US", "--weight", "1lb", "--dims", "5x5x5in", "--json",
        ])
        .expect_code(0)
        .json_lines();
    assert_eq!(v[0]["disposition"], "return_to_sender");
    assert_eq!(
        v[0]["reasons"],
        serde_json::json!(["destination_not_served"])
    );
    assert!(v[0]["price_cents"].is_null());
    let v = d
        .run(&[
            "quote", "--to", "CN", "--weight", "1lb", "--dims", "5x5x5in", "--json",
        ])
        .expect_code(0)
        .json_lines();
    assert_eq!(v[0]["disposition"], "hold");
    assert_eq!(v[0]["reasons"], serde_json::json!(["id_required"]));
    let v = d
        .run(&[
            "quote",
            "--to",
            "CN",
            "--weight",
            "1lb",
            "--dims",
            "5x5x5in",
            "--id-on-file",
            "--json",
        ])
        .expect_code(0)
        .json_lines();
    assert_eq!(v[0]["disposition"], "accept");
    let text = d
        .run(&[
            "quote",
            "--to",
            "TW",
            "--weight",
            "2kg",
            "--dims",
            "30x20x10cm",
        ])
        .expect_code(0)
        .stdout();
    assert!(text.starts_with("HOLD"), "{text}");
    assert!(text.contains("consignee ID"), "{text}");
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let d = Dir::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "quote", "--to", "XX", "--weight", "1lb", "--dims", "5x5x5in",
            ],
            "ISO 3166",
        ),
        (
            &["quote", "--to", "JP", "--weight", "44", "--dims", "5x5x5in"],
            "no unit",
        ),
        (
            &[
                "quote", "--to", "JP", "--weight", "-1 lb", "--dims", "5x5x5in",
            ],
            "negative",
        ),
        (
            &[
                "quote", "--to", "JP", "--weight", "NaN lb", "--dims", "5x5x5in",
            ],
            "not a plain decimal",
        ),
        (
            &[
                "quote", "--to", "JP", "--weight", "2000 kg", "--dims", "5x5x5in",
            ],
            "beyond",
        ),
        (
            &["quote", "--to", "JP", "--weight", "1 lb", "--dims", "5x5in"],
            "three sides",
        ),
        (
            &[
                "quote", "--to", "JP", "--weight", "1 lb", "--dims", "5x5x11m",
            ],
            "beyond",
        ),
        (
            &[
                "quote", "--to", "JP", "--weight", "1 lb", "--dims", "5x5x5in", "--quoted", "1.234",
            ],
            "decimal places",
        ),
        (
            &["manifest", "import", "missing.csv"],
            "cannot read manifest",
        ),
        (&["scans", "--since", "whenever"], "--since"),
        (&["scans", "--disposition", "maybe"], "disposition"),
        (&["config", "check", "nope.toml"], "cannot read config"),
        (&["--config", "nope.toml", "scans"], "cannot read config"),
        (&["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let out = d.run(args);
        assert_eq!(out.code(), 2, "{args:?}: {}", out.stderr());
        let err = out.stderr();
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(out.stdout().is_empty(), "{args:?}");
    }
}

#[test]
fn a_bad_config_names_the_file_and_key() {
    let d = Dir::new();
    let text =
        intake::config::EMBEDDED_CONFIG.replace("max_weight = \"44 lb\"", "max_weight = \"44\"");
    let cfg = d.write("station.toml", &text);
    let out = d
        .run(&["config", "check", cfg.to_str().unwrap()])
        .expect_code(2);
    let err = out.stderr();
    assert!(
        err.contains("station.toml") && err.contains("limits.max_weight") && err.contains("44 lb"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let garbage = d.write("garbage.toml", "this is = = not toml");
    let err = d
        .run(&["config", "check", garbage.to_str().unwrap()])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("garbage.toml") && err.contains("line 1"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn config_works_from_any_directory_and_from_the_environment() {
    let d = Dir::new();
    d.run(&["config", "check"]).expect_code(0);
    // A copy of the default with its own rate card beside it, chosen by INTAKE_CONFIG.
    let cfg = d.write(
        "mine.toml",
        &intake::config::EMBEDDED_CONFIG.replace("sim-dock-01", "dock-7"),
    );
    d.write("rates.toml", include_str!("../config/rates.toml"));
    d.write(
        "manifest-sample.csv",
        include_str!("../config/manifest-sample.csv"),
    );
    let out = d
        .cmd(&["config", "check", "--json"])
        .env("INTAKE_CONFIG", &cfg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["station_id"], "dock-7");
}

#[test]
fn manifest_import_reports_bad_rows_and_is_idempotent() {
    let d = Dir::new();
    let csv = d.write(
        "orders.csv",
        "waybill,destination,declared_weight,declared_dims,quoted_price,consignee_id_on_file,duties\n\
         EE123456785GB,JP,3.2 lb,12x10x8 in,23.50,no,\n\
         EE123456784GB,JP,1 lb,,,no,\n\
         RR473124829US,KR,2 kg,30x20x10 cm,19.00,yes,paid\n\
         RR000000014US,JP,44 stone,,,no,\n",
    );
    let out = d
        .run(&["manifest", "import", "orders.csv", "--json"])
        .expect_code(2);
    let v = &out.json_lines()[0];
    assert_eq!(v["inserted"], 2);
    let lines: Vec<u64> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 5]);
    assert!(out.stderr().contains("orders.csv:3:") && out.stderr().contains("check digit"));
    let again = d
        .run(&["manifest", "import", csv.to_str().unwrap(), "--json"])
        .expect_code(2);
    assert_eq!(again.json_lines()[0]["inserted"], 0);
    assert_eq!(again.json_lines()[0]["unchanged"], 2);
    assert!(d.join("data/intake.db").exists());
    // The shipped sample loads whole.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/config/manifest-sample.csv");
    let v = d
        .run(&["manifest", "import", sample, "--json"])
        .expect_code(0)
        .json_lines();
    assert!(v[0]["inserted"].as_u64().unwrap() >= 36, "{}", v[0]);
}

#[test]
fn scans_lists_in_every_format() {
    let d = Dir::new();
    // Write scans through the library into the store the CLI reads.
    let settings = intake::config::Settings::load(None).unwrap();
    std::fs::create_dir_all(d.join("data")).unwrap();
    let mut store = intake::store::Store::open(&d.join("data/intake.db")).unwrap();
    use intake::judge::{Measurement, WaybillRead, judge};
    for (i, (w, read)) in [("3 lb", true), ("50 lb", true), ("2 lb", false)]
        .into_iter()
        .enumerate()
    {
        let m = Measurement {
            weight: Ok(w.parse().unwrap()),
            dims: Ok("10x8x6 in".parse().unwrap()),
            waybill: if read {
                WaybillRead::Read("EE123456785GB".into())
            } else {
                WaybillRead::NoRead
            },
        };
        let j = judge(&m, None, &settings.policy);
        let at = jiff::Timestamp::from_second(1_790_000_000 + i as i64).unwrap();
        let rec = intake::scan::ScanRecord::new(format!("id-{i}"), "sim-dock-01", at, &m, &j, "v");
        store.insert_scan(&rec).unwrap();
    }
    drop(store);
    let v = d.run(&["scans", "--json"]).expect_code(0).json_lines();
    assert_eq!(v.len(), 3);
    assert_eq!(v[0]["disposition"], "manual");
    assert_eq!(v[0]["reasons"], serde_json::json!(["unknown_waybill"]));
    assert_eq!(v[1]["disposition"], "return_to_sender");
    assert_eq!(v[2]["reasons"], serde_json::json!(["no_read"]));
    let only = d
        .run(&[
            "scans",
            "--disposition",
            "return_to_sender",
            "--format",
            "json",
        ])
        .expect_code(0)
        .json_lines();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["scan_id"], "id-1");
    let csv = d.run(&["scans", "--format", "csv"]).expect_code(0).stdout();
    assert_eq!(csv.lines().count(), 4);
    assert!(
        csv.starts_with("scan_id,station_id,created_at,waybill"),
        "{csv}"
    );
    let table = d.run(&["scans"]).expect_code(0).stdout();
    assert!(table.contains("3 scan(s)"), "{table}");
    let recent = d
        .run(&["scans", "--since", "2026-09-21T00:00:00Z", "--json"])
        .expect_code(0)
        .json_lines();
    assert_eq!(recent.len(), 3);
    let none = d
        .run(&["scans", "--since", "2030-01-01", "--json"])
        .expect_code(0)
        .json_lines();
    assert!(none.is_empty());
}

#[test]
fn every_command_has_help() {
    let d = Dir::new();
    for args in [
        &["--help"][..],
        &["quote", "--help"],
        &["manifest", "import", "--help"],
        &["scans", "--help"],
        &["config", "check", "--help"],
    ] {
        let out = d.run(args).expect_code(0);
        assert!(out.stdout().contains("Usage"), "{args:?}");
    }
}
