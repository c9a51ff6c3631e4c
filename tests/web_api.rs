//! The dashboard's JSON API, event stream and operations endpoints, over loopback HTTP
//! against `intake run` on the simulated dock in a temporary directory. Readiness is
//! polled; nothing sleeps a fixed time.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod web_util;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use web_util::{BUSY_DOCK, Daemon, StationDir, get, get_with, post, post_json, sse, wait_for};

const MINUTE: Duration = Duration::from_secs(60);

fn store_rows(db: &std::path::Path, sql: &str, id: &str) -> Vec<Vec<Option<String>>> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    let mut stmt = c.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([id], |r| {
        (0..n)
            .map(|i| r.get::<_, Option<String>>(i))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// Every sample line of an exposition, strictly: `name{labels} value`, each family
/// announced by `# TYPE` before its samples.
fn strict_exposition(text: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    let mut eof = false;
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
            && !n.as_bytes()[0].is_ascii_digit()
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(name_ok(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.to_owned(), kind.to_owned()).is_none(),
                "twice: {line}"
            );
            // OpenMetrics: a counter family is named without `_total`, its samples with.
            assert!(
                !name.ends_with("_total"),
                "a counter family has no _total suffix: {line}"
            );
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
            continue;
        }
        if line == "# EOF" {
            eof = true;
            continue;
        }
        assert!(!eof, "nothing after # EOF: {line:?}");
        assert!(
            !line.starts_with('#') && !line.is_empty(),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').unwrap();
        let name = series.split('{').next().unwrap();
        assert!(name_ok(name), "{line}");
        let family = [
            ("_bucket", "histogram"),
            ("_sum", "histogram"),
            ("_count", "histogram"),
            ("_total", "counter"),
        ]
        .iter()
        .find_map(|(s, kind)| {
            name.strip_suffix(s)
                .filter(|f| types.get(*f).is_some_and(|t| t == kind))
        })
        .unwrap_or(name);
        assert!(types.contains_key(family), "no # TYPE before {line}");
        assert!(
            value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value),
            "{line}"
        );
        assert!(
            types.get(family).is_none_or(|t| t != "counter") || name.ends_with("_total"),
            "a counter's sample is named *_total: {line}"
        );
        if let Some(labels) = series.strip_prefix(name)
            && !labels.is_empty()
        {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
        }
    }
    assert!(eof, "an OpenMetrics exposition ends with # EOF");
    types
}

#[test]
fn api_events_resolutions_metrics_and_guards() {
    let dir = StationDir::new(BUSY_DOCK, "");
    let d = Daemon::start(&dir, "127.0.0.1:0", &["--fast"]);
    let url = d.url.clone();

    // Liveness at once; readiness once the station runs.
    let h = get(&format!("{url}/healthz"));
    assert_eq!(h.status, 200);
    d.wait_ready();
    let ready = get(&format!("{url}/readyz")).json();
    assert_eq!(ready["ready"], true, "{ready}");

    // The event stream says hello, then a scan is shown only once it is in the store.
    let events = sse(&format!("{url}/api/events"));
    let (name, hello) = events.recv_timeout(MINUTE).unwrap();
    assert_eq!(name, "hello");
    assert_eq!(
        serde_json::from_str::<Value>(&hello).unwrap()["station_id"],
        "sim-dock-01"
    );
    let pushed: Value = wait_for("a scan event", MINUTE, || {
        let (name, data) = events.recv_timeout(MINUTE).ok()?;
        (name == "scan").then(|| serde_json::from_str(&data).unwrap())
    });
    let id = pushed["scan_id"].as_str().unwrap();
    let stored = get(&format!("{url}/api/scans/{id}"));
    assert_eq!(stored.status, 200, "{}", stored.text());
    let stored = stored.json();
    for key in [
        "disposition",
        "waybill",
        "weight_ug",
        "price_cents",
        "reasons",
    ] {
        assert_eq!(stored[key], pushed[key], "{key}");
    }
    // Judged with what was in force, and says which version.
    assert!(pushed["in_force_version"].as_u64().is_some(), "{pushed}");
    assert!(stored["headline"].as_str().unwrap().len() > 3);

    // Its evidence: a downscaled JPEG of the frame, announced when saved.
    let ev_url = wait_for("the evidence image", MINUTE, || {
        let s = get(&format!("{url}/api/scans/{id}")).json();
        s["evidence_url"].as_str().map(str::to_owned)
    });
    let jpg = get(&format!("{url}{ev_url}"));
    assert_eq!(jpg.status, 200);
    assert_eq!(jpg.header("content-type"), Some("image/jpeg"));
    let img = image::load_from_memory(&jpg.body).unwrap();
    assert_eq!((img.width(), img.height()), (640, 360));
    assert!(
        dir.dir
            .path()
            .join(format!("data/evidence/{id}.jpg"))
            .is_file()
    );
    assert_eq!(
        get(&format!("{url}/api/scans/../../etc/passwd/evidence.jpg")).status,
        404
    );
    assert_eq!(
        get(&format!("{url}/api/scans/not-a-scan/evidence.jpg")).status,
        404
    );
    assert_eq!(get(&format!("{url}/api/scans/not-a-scan")).status, 404);

    // A no-read waits in the exceptions queue until the operator types its waybill.
    let no_read: Value = wait_for("a no-read in the exceptions queue", 2 * MINUTE, || {
        let q = get(&format!("{url}/api/exceptions")).json();
        q["exceptions"]
            .as_array()?
            .iter()
            .find(|s| {
                s["waybill"].is_null()
                    && s["reasons"].as_array().unwrap().contains(&json!("no_read"))
            })
            .cloned()
    });
    let nid = no_read["scan_id"].as_str().unwrap().to_owned();
    assert_eq!(no_read["disposition"], "manual");
    assert_eq!(no_read["needs_operator"], true);
    let res_url = format!("{url}/api/scans/{nid}/resolution");
    let bad = post_json(
        &res_url,
        &json!({"action": "waybill", "waybill": "EE123456784GB"}),
    );
    assert_eq!(bad.status, 422, "{}", bad.text());
    assert!(bad.json()["error"].as_str().unwrap().contains("check"));
    let garbage = post_json(&res_url, &json!({"action": "erase"}));
    assert_eq!(garbage.status, 400);
    let waybill = dir.manifest_waybill();
    let typed = post_json(
        &res_url,
        &json!({"action": "waybill", "waybill": waybill.to_lowercase()}),
    );
    assert_eq!(typed.status, 201, "{}", typed.text());
    let r = typed.json();
    assert_eq!(r["waybill"], waybill.as_str());
    assert_eq!(r["actor"], "operator");
    assert_ne!(r["disposition"], "manual", "{r}");
    let again = post_json(&res_url, &json!({"action": "confirm"}));
    assert_eq!(again.status, 409, "{}", again.text());

    // In the store: a resolution row referencing the scan, and its outbox row for sync.
    let rid = r["resolution_id"].as_str().unwrap();
    let rows = store_rows(
        &dir.db(),
        "SELECT scan_id, actor, waybill, disposition FROM resolutions WHERE id = ?1",
        rid,
    );
    assert_eq!(
        rows,
        vec![vec![
            Some(nid.clone()),
            Some("operator".into()),
            Some(waybill.clone()),
            r["disposition"].as_str().map(str::to_owned)
        ]]
    );
    let outbox = store_rows(
        &dir.db(),
        "SELECT kind, delivered_at_ms FROM outbox WHERE record_id = ?1",
        rid,
    );
    assert_eq!(outbox, vec![vec![Some("resolution".into()), None]]);
    let shown = get(&format!("{url}/api/scans/{nid}")).json();
    assert_eq!(shown["needs_operator"], false);
    assert_eq!(shown["resolutions"][0]["resolution_id"], rid);
    let queue = get(&format!("{url}/api/exceptions")).json();
    assert!(
        !queue["exceptions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["scan_id"] == nid.as_str()),
        "resolved scans leave the queue"
    );
    // An accepted scan is no exception.
    let scans = get(&format!("{url}/api/scans?limit=100")).json();
    let accepted = scans["scans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["disposition"] == "accept")
        .expect("an accepted scan among the last 100");
    let refused = post_json(
        &format!(
            "{url}/api/scans/{}/resolution",
            accepted["scan_id"].as_str().unwrap()
        ),
        &json!({"action": "confirm"}),
    );
    assert_eq!(refused.status, 422);
    // ...but its measurement can be flagged (once, with a reason): billing stops charging
    // on it, the dock's verdict stands.
    let acc_id = accepted["scan_id"].as_str().unwrap();
    let acc_res = format!("{url}/api/scans/{acc_id}/resolution");
    let no_reason = post_json(
        &acc_res,
        &json!({"action": "flag_measurement", "reason": ""}),
    );
    assert_eq!(no_reason.status, 422, "{}", no_reason.text());
    let flagged = post_json(
        &acc_res,
        &json!({"action": "flag_measurement", "reason": "leaning on the fence"}),
    );
    assert_eq!(flagged.status, 201, "{}", flagged.text());
    let f = flagged.json();
    assert_eq!(f["billing"]["measurement_flagged"], true, "{f}");
    assert_eq!(f["disposition"], Value::Null, "{f}");
    let twice = post_json(
        &acc_res,
        &json!({"action": "flag_measurement", "reason": "again"}),
    );
    assert_eq!(twice.status, 409, "{}", twice.text());
    let rows = store_rows(
        &dir.db(),
        "SELECT flag FROM resolutions WHERE scan_id = ?1",
        acc_id,
    );
    assert_eq!(rows, vec![vec![Some("measurement".into())]]);
    assert_eq!(
        get(&format!("{url}/api/scans?disposition=maybe")).status,
        400
    );
    let newest_first = scans["scans"].as_array().unwrap();
    assert!(
        newest_first
            .windows(2)
            .all(|w| w[0]["created_at"].as_str() >= w[1]["created_at"].as_str())
    );

    // Guards: JSON only, same origin only, loopback host names only, small bodies only.
    let json_ct = ("Content-Type", "application/json");
    let body = br#"{"action":"confirm"}"#;
    assert_eq!(
        post(&res_url, &[("Content-Type", "text/plain")], body).status,
        415
    );
    assert_eq!(
        post(
            &res_url,
            &[json_ct, ("Origin", "http://evil.example")],
            body
        )
        .status,
        403
    );
    assert_eq!(
        post(&res_url, &[json_ct, ("Sec-Fetch-Site", "cross-site")], body).status,
        403
    );
    let port = d.port();
    let same_origin = format!("http://127.0.0.1:{port}");
    assert_eq!(
        post(&res_url, &[json_ct, ("Origin", &same_origin)], body).status,
        409,
        "the page's own origin passes the guard (and meets the earlier resolution)"
    );
    assert_eq!(
        get_with(&format!("{url}/api/status"), &[("Host", "evil.example")]).status,
        421
    );
    let big = vec![b' '; 64 * 1024];
    assert_eq!(post(&res_url, &[json_ct], &big).status, 413);
    let page = get(&format!("{url}/"));
    assert_eq!(page.status, 200);
    assert!(page.text().contains("/app.js"));
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    let status = get(&format!("{url}/api/status"));
    assert_eq!(status.header("cache-control"), Some("no-store"));
    let st = status.json();
    assert_eq!(st["ready"], true);
    assert_eq!(st["pin_required"], false);
    assert!(st["outbox_depth"].as_u64().unwrap() >= 2);
    assert_eq!(st["daemon"]["devices"]["scale"]["ok"], true);
    assert!(st["evidence"]["files"].as_u64().unwrap() >= 1);

    // /metrics parses as Prometheus text, and agrees with what happened.
    let m = get(&format!("{url}/metrics"));
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0")
    );
    let text = m.text();
    let types = strict_exposition(&text);
    assert_eq!(types["intake_cycle_seconds"], "histogram");
    assert_eq!(types["intake_scans"], "counter");
    assert_eq!(types["intake_verdict_seconds"], "histogram");
    let scrape = prometheus_parse::Scrape::parse(
        text.lines()
            .filter(|l| !l.starts_with("# EOF") && !l.starts_with("# UNIT"))
            .map(|l| Ok(l.to_owned())),
    )
    .expect("a Prometheus text exposition");
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => panic!("{name} is not a plain value"),
            })
            .sum()
    };
    let scanned: f64 = value("intake_scans_total", None);
    assert!(scanned >= 3.0, "{text}");
    assert!(value("intake_scans_total", Some(("disposition", "manual"))) >= 1.0);
    assert!(value("intake_decode_failures_total", Some(("kind", "no_read"))) >= 1.0);
    // The typed waybill and the flagged measurement.
    assert_eq!(value("intake_resolutions_total", None), 2.0);
    assert_eq!(value("intake_device_up", Some(("device", "scale"))), 1.0);
    assert_eq!(
        value("intake_device_reconnects_total", Some(("device", "scale"))),
        0.0
    );
    assert!(value("intake_outbox_records", None) >= scanned);
    assert_eq!(value("intake_ready", None), 1.0);
    // The time from the stable weight to the verdict shown: measured, and well under the
    // settle time of the simulated scale.
    let p99 = value("intake_verdict_ms", Some(("quantile", "0.99")));
    assert!(p99 > 0.0 && p99 < 2000.0, "verdict p99 {p99} ms");
    assert!(value("intake_evidence_bytes", None) > 1000.0);
    let hist = scrape
        .samples
        .iter()
        .find_map(|s| match (&s.metric[..], &s.value) {
            ("intake_cycle_seconds", prometheus_parse::Value::Histogram(h)) => Some(h.clone()),
            _ => None,
        })
        .expect("the cycle-time histogram");
    let mut hist = hist;
    hist.sort_by(|a, b| a.less_than.total_cmp(&b.less_than));
    let inf = hist
        .iter()
        .find(|b| b.less_than.is_infinite())
        .unwrap()
        .count;
    assert!(
        inf >= scanned,
        "every stored scan was timed: {inf} < {scanned}"
    );
    assert!(
        hist.windows(2).all(|w| w[0].count <= w[1].count),
        "cumulative buckets"
    );

    // SIGTERM: the daemon finishes the parcel in hand and stops the dashboard with it.
    let mut d = d;
    assert!(d.stop().success(), "{}", d.log_text());
    assert_eq!(get(&format!("{url}/healthz")).status, 0);
}

#[test]
fn off_loopback_writes_need_the_pin() {
    // Without a PIN the config is refused, naming the key and the fix.
    let no_pin = StationDir::new(
        &[("listen = \"127.0.0.1:8080\"", "listen = \"0.0.0.0:0\"")],
        "",
    );
    let out = std::process::Command::new(web_util::BIN)
        .current_dir(no_pin.dir.path())
        .args(["config", "check"])
        .arg(&no_pin.config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("web.listen") && err.contains("web.pin"),
        "{err}"
    );
    let out = std::process::Command::new(web_util::BIN)
        .current_dir(no_pin.dir.path())
        .args(["run", "--listen", "0.0.0.0:0", "--parcels", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let dir = StationDir::new(
        &[
            ("listen = \"127.0.0.1:8080\"", "listen = \"0.0.0.0:0\""),
            // Reads open to the LAN (tests/web_guard.rs covers reads behind the PIN).
            ("# pin = \"4821\"", "pin = \"4821\"\npublic_read = true"),
        ],
        "",
    );
    let d = Daemon::start(&dir, "0.0.0.0:0", &["--fast"]);
    let url = d.url.replace("0.0.0.0", "127.0.0.1");
    let scans = d.wait_scans(1, MINUTE);
    let id = scans[0]["scan_id"].as_str().unwrap();
    let res_url = format!("{url}/api/scans/{id}/resolution");
    let body = br#"{"action":"confirm"}"#;
    let json_ct = ("Content-Type", "application/json");
    let none = post(&res_url, &[json_ct], body);
    assert_eq!(none.status, 401, "{}", none.text());
    assert!(none.json()["error"].as_str().unwrap().contains("PIN"));
    assert_eq!(
        post(&res_url, &[json_ct, ("X-Intake-Pin", "4822")], body).status,
        401
    );
    let with = post(&res_url, &[json_ct, ("X-Intake-Pin", "4821")], body);
    assert!(
        [201, 422].contains(&with.status),
        "past the PIN check: {} {}",
        with.status,
        with.text()
    );
    // With public_read, reads need no PIN, and other host names are fine off loopback.
    assert_eq!(
        get_with(&format!("{url}/api/status"), &[("Host", "dock-7.local:1")]).status,
        200
    );
    assert_eq!(
        get(&format!("{url}/api/status")).json()["pin_required"],
        true
    );
}
