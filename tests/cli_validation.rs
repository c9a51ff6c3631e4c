//! Issue 16, item 3: validation that matches reality. Each test reproduces a value that the
//! command line used to accept (and what went wrong with it) and checks it is now refused
//! with one clear line naming the key.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod util;

use util::{Dir, Run};

/// `intake config check` of the embedded configuration with `from` replaced by `to`.
fn check_with(from: &str, to: &str) -> Run {
    let d = Dir::new();
    let text = intake::config::EMBEDDED_CONFIG.replace(from, to);
    assert_ne!(
        text,
        intake::config::EMBEDDED_CONFIG,
        "{from} not in the config"
    );
    let cfg = d.write("station.toml", &text);
    d.write("rates.toml", include_str!("../config/rates.toml"));
    d.write(
        "manifest-sample.csv",
        include_str!("../config/manifest-sample.csv"),
    );
    d.run(&["config", "check", cfg.to_str().unwrap()])
}

#[track_caller]
fn refused(run: Run, key: &str) -> String {
    let run = run.expect_code(2);
    let err = run.stderr();
    assert!(err.contains(key), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn a_permille_share_that_wraps_the_sum_is_refused() {
    // 4294967295 + 3 × 60 wrapped to 179, under 1000: every simulated parcel was over weight.
    let err = refused(
        check_with(
            "over_weight_permille = 60",
            "over_weight_permille = 4294967295",
        ),
        "sim",
    );
    assert!(err.contains("1000 per mille"), "{err}");
    // The boundary still passes.
    check_with("over_weight_permille = 60", "over_weight_permille = 820").expect_code(0);
    refused(
        check_with("over_weight_permille = 60", "over_weight_permille = 821"),
        "sim",
    );
}

#[test]
fn a_zero_scale_capacity_is_refused() {
    // "0 lb" passed, and the daemon flapped between over-capacity and weighing.
    let err = refused(
        check_with("capacity = \"150 lb\"", "capacity = \"0 lb\""),
        "capacity",
    );
    assert!(err.contains("no capacity"), "{err}");
}

#[test]
fn a_station_id_head_office_refuses_is_refused_by_config_check() {
    // 65 characters passed `config check`; head office answers 400 to every batch, so the
    // outbox could never drain.
    let long = "d".repeat(65);
    let err = refused(
        check_with("id = \"sim-dock-01\"", &format!("id = \"{long}\"")),
        "station.id",
    );
    assert!(err.contains("1 to 64"), "{err}");
    check_with(
        "id = \"sim-dock-01\"",
        &format!("id = \"{}\"", "d".repeat(64)),
    )
    .expect_code(0);
    // The same rule head office decodes batches with.
    assert!(intake::sync::wire::check_station_id(&"d".repeat(64)).is_ok());
    assert!(intake::sync::wire::check_station_id(&long).is_err());
    assert!(intake::sync::wire::check_station_id("dock 7").is_err());
}

#[test]
fn a_zero_side_is_not_priced() {
    let d = Dir::new();
    for dims in ["0x10x10in", "10x10x0 cm", "0.1x100x100 mm"] {
        let run = d
            .run(&["quote", "--to", "JP", "--weight", "3lb", "--dims", dims])
            .expect_code(2);
        let err = run.stderr();
        assert!(err.contains("at least 1 mm"), "{dims}: {err}");
        // clap adds its "For more information" hint; the error itself is one line.
        assert!(
            err.lines().next().unwrap().contains("at least 1 mm"),
            "{err}"
        );
        assert!(run.stdout().is_empty(), "{}", run.stdout());
    }
}
