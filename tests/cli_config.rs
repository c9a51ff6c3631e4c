//! Layered configuration through the real binary: a site file laid over the embedded
//! default, `intake config show`, the `$STATE_DIRECTORY` data folder, the shipped station
//! configs, and every failing device named in one run.

mod util;

use std::path::Path;

use util::Dir;

fn repo(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

#[test]
fn a_site_file_holds_only_what_differs() {
    let dir = Dir::new();
    let cfg = dir.write("site.toml", "[limits]\nmax_weight = \"30 lb\"\n");
    let cfg = cfg.to_str().expect("utf-8 path");
    let out = dir
        .run(&["config", "check", cfg, "--json"])
        .expect_code(0)
        .json_lines();
    assert_eq!(out[0]["max_weight_lb"], 30.0);
    // Not named: the default's, with the default's embedded rate card.
    assert_eq!(out[0]["max_side_in"], 59.0);
    assert_eq!(out[0]["rate_card"], "(embedded) rates.toml");

    let show = dir
        .run(&["--config", cfg, "config", "show", "--json"])
        .expect_code(0)
        .json_lines();
    let values = show[0]["values"].as_array().expect("values");
    let find = |k: &str| {
        values
            .iter()
            .find(|v| v["key"] == k)
            .unwrap_or_else(|| panic!("{k} in {values:?}"))
    };
    assert_eq!(find("limits.max_weight")["value"], "30 lb");
    assert_eq!(find("limits.max_weight")["from"], cfg);
    assert_eq!(find("limits.max_side")["from"], "default");
    let text = dir
        .run(&["--config", cfg, "config", "show"])
        .expect_code(0)
        .stdout();
    let line = text
        .lines()
        .find(|l| l.starts_with("limits.max_weight = "))
        .expect("a line per key");
    assert!(line.ends_with(&format!("# {cfg}")), "{line}");
}

#[test]
fn unknown_keys_name_the_key_its_line_and_the_fix() {
    let dir = Dir::new();
    let cfg = dir.write("site.toml", "[limits]\n\nmax_wieght = \"30 lb\"\n");
    let err = dir
        .run(&["config", "check", cfg.to_str().expect("utf-8")])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("max_wieght") && err.contains("line 3") && err.contains("max_weight"),
        "{err}"
    );
}

#[test]
fn a_device_table_of_another_type_replaces_the_default() {
    // The default's [scale] is type "sim" with sim keys; a serial scale must not inherit them.
    let dir = Dir::new();
    let cfg = dir.write(
        "site.toml",
        "[scale]\ntype = \"serial\"\nport = \"/dev/ttyUSB0\"\nprotocol = \"nci\"\n",
    );
    dir.run(&["config", "check", cfg.to_str().expect("utf-8")])
        .expect_code(0);
}

#[test]
fn the_data_folder_defaults_to_the_state_directory_under_systemd() {
    let dir = Dir::new();
    let cfg = dir.write("site.toml", "[station]\nid = \"dock-7\"\n");
    let cfg = cfg.to_str().expect("utf-8");
    let state = dir.join("state");
    let out = dir
        .cmd(&["config", "check", cfg, "--json"])
        .env("STATE_DIRECTORY", &state)
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["data_dir"], state.display().to_string());
    // A file that sets it wins, relative to the file.
    let cfg2 = dir.write("own.toml", "[station]\nid = \"dock-7\"\ndata_dir = \"d\"\n");
    let out = dir
        .cmd(&["config", "check", cfg2.to_str().expect("utf-8"), "--json"])
        .env("STATE_DIRECTORY", &state)
        .output()
        .expect("run");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["data_dir"], dir.join("d").display().to_string());
}

#[test]
fn the_shipped_station_configs_pass_check() {
    let dir = Dir::new();
    for f in ["config/pi.toml", "config/usb-station.toml"] {
        let out = dir
            .run(&["config", "check", &repo(f), "--json"])
            .expect_code(0)
            .json_lines();
        assert_eq!(out[0]["ok"], true, "{f}");
    }
}

#[test]
fn run_names_every_device_that_failed_and_exits_2() {
    // Here there is no Pi, no scale, no lidar and no camera: all of them fail at once.
    let dir = Dir::new();
    let err = dir
        .run(&["run", "--config", &repo("config/pi.toml")])
        .expect_code(2)
        .stderr();
    for named in [
        "scale:",
        "dimension sensor \"end\"",
        "dimension sensor \"side\"",
        "dimension sensor \"top\"",
        "camera:",
        "indicator:",
    ] {
        assert!(err.contains(named), "{named} not named in:\n{err}");
    }
    assert!(err.contains("6 device(s) could not be opened"), "{err}");
}

#[test]
fn logs_suit_the_journal_and_log_shippers() {
    let dir = Dir::new();
    let run = |extra: &[&str], journal: bool| {
        let mut args = vec!["run", "--parcels", "1", "--fast"];
        args.extend_from_slice(extra);
        let mut c = dir.cmd(&args);
        if journal {
            c.env("JOURNAL_STREAM", "8:12345");
        } else {
            c.env_remove("JOURNAL_STREAM");
        }
        let out = c.output().expect("run");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Under systemd: no timestamp of our own, one line per event.
    let journal = run(&[], true);
    assert!(journal.lines().count() > 3, "{journal}");
    for l in journal.lines() {
        assert!(!l.starts_with("20"), "a timestamp in the journal: {l}");
    }
    // JSON for log shippers, in UTC when asked.
    let json = run(&["--log-format", "json", "--utc"], false);
    for l in json.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        let ts = v["timestamp"].as_str().expect("timestamp");
        assert!(ts.ends_with('Z'), "{ts}");
        assert!(v["message"].is_string(), "{l}");
    }
}
