//! Bad input is refused clearly and nothing is half-stored: a wrong token (401), a
//! malformed batch (400 naming the first bad record), an oversized request (413), a rate
//! card that fails validation (kept out; the old one stays), a world-readable token file.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod sync_util;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use intake::sync::wire::scan_to_wire;
use sync_util::*;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

struct Answer {
    status: u16,
    body: serde_json::Value,
}

fn post(url: &str, token: Option<&str>, ctype: &str, gzip: bool, body: &[u8]) -> Answer {
    let mut req = agent()
        .post(format!("{url}/v1/records"))
        .content_type(ctype);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    if gzip {
        req = req.header("Content-Encoding", "gzip");
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

fn setup(extra: &[&str]) -> (tempfile::TempDir, Hq, HqCounter, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tokens");
    write_private(&tok, &format!("{TOKEN}\n"));
    let db = dir.path().join("hq.db");
    let db = db.to_str().unwrap();
    let hq = Hq::start(db, &tok, 0, extra);
    let counter = HqCounter::open(db);
    let station = Station::new(&hq.url(), "");
    let scans = make_scans(&station.settings(), 4, 1_764_000_000_000)
        .iter()
        .map(scan_to_wire)
        .collect();
    (dir, hq, counter, scans)
}

#[test]
fn a_wrong_or_missing_token_is_401_and_nothing_is_stored() {
    let (_d, hq, counter, scans) = setup(&[]);
    let body = ndjson(&scans);
    for token in [None, Some("wrong-token"), Some("")] {
        let a = post(&hq.url(), token, "application/x-ndjson", false, &body);
        assert_eq!(a.status, 401, "{token:?}");
        assert_eq!(a.body["error"], "unauthorized");
    }
    assert_eq!(counter.scans(), 0);
    let ok = post(&hq.url(), Some(TOKEN), "application/x-ndjson", false, &body);
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(counter.scans(), 4);
    let a = agent()
        .get(format!("{}/v1/manifest", hq.url()))
        .header("Authorization", "Bearer nope")
        .call()
        .unwrap();
    assert_eq!(a.status().as_u16(), 401);
}

#[test]
fn a_malformed_batch_is_400_naming_the_first_bad_record_and_nothing_is_stored() {
    let (_d, hq, counter, mut scans) = setup(&[]);
    scans[1]["disposition"] = "lost".into();
    let bad_id = scans[1]["scan_id"].as_str().unwrap().to_owned();
    scans[2]["weight_ug"] = "heavy".into();
    let a = post(
        &hq.url(),
        Some(TOKEN),
        "application/x-ndjson",
        false,
        &ndjson(&scans),
    );
    assert_eq!(a.status, 400);
    assert_eq!(a.body["error"], "bad_record");
    assert_eq!(a.body["line"], 2);
    assert_eq!(a.body["record_id"].as_str(), Some(bad_id.as_str()));
    let msg = a.body["message"].as_str().unwrap();
    assert!(msg.contains("lost") && msg.contains("nothing"), "{msg}");
    assert_eq!(
        counter.scans(),
        0,
        "the good first record was not stored either"
    );

    // The same through JSON and gzip.
    let json = serde_json::to_vec(&serde_json::json!({ "records": scans })).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&json).unwrap();
    let a = post(
        &hq.url(),
        Some(TOKEN),
        "application/json",
        true,
        &gz.finish().unwrap(),
    );
    assert_eq!((a.status, a.body["line"].as_u64()), (400, Some(2)));
    assert_eq!(counter.scans(), 0);

    let a = post(
        &hq.url(),
        Some(TOKEN),
        "application/x-ndjson",
        true,
        b"not gzip",
    );
    assert_eq!(a.status, 400);
    let a = post(&hq.url(), Some(TOKEN), "text/csv", false, b"a,b\n");
    assert_eq!(a.status, 415);
    assert_eq!(counter.scans(), 0);
}

#[test]
fn oversized_requests_are_413() {
    let (_d, hq, counter, scans) = setup(&[
        "--max-body",
        "4096",
        "--max-decoded",
        "65536",
        "--max-records",
        "3",
    ]);
    // Over the body limit on the wire.
    let big = vec![b' '; 20_000];
    let a = post(&hq.url(), Some(TOKEN), "application/x-ndjson", false, &big);
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(a.body["error"], "too_large");
    // Small on the wire, over the limit once decompressed.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b'\n'; 1_000_000]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 4096);
    let a = post(&hq.url(), Some(TOKEN), "application/x-ndjson", true, &bomb);
    assert_eq!(a.status, 413, "{}", a.body);
    // Too many records in one batch.
    let a = post(
        &hq.url(),
        Some(TOKEN),
        "application/x-ndjson",
        false,
        &ndjson(&scans),
    );
    assert_eq!(a.status, 413, "{}", a.body);
    assert_eq!(counter.scans(), 0);
    let a = post(
        &hq.url(),
        Some(TOKEN),
        "application/x-ndjson",
        false,
        &ndjson(&scans[..3]),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(counter.scans(), 3);
}

#[test]
fn a_rate_card_failing_validation_is_kept_out_at_head_office_and_at_the_station() {
    let (dir, hq, _counter, _scans) = setup(&[]);
    let db = hq.db.clone();
    let station = Station::new(&hq.url(), "");
    let rates = std::fs::read_to_string(station.dir.path().join("rates.toml")).unwrap();
    let load = |text: &str| {
        let f = dir.path().join("card.toml");
        std::fs::write(&f, text).unwrap();
        BIN_cmd(&["hq", "load-rate-card", "--db", &db, f.to_str().unwrap()])
    };
    let v1 = rates.replace("sample-2026-11", "hq-v1");
    assert!(load(&v1).status.success());
    // Invalid TOML / values: refused at head office, exit 2, v1 stays.
    let out = load(
        &v1.replace("hq-v1", "hq-v2")
            .replace("\"0.5 lb\"", "\"half a pound\""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("card in force stays"));
    let sync = |st: &Station| {
        let out = st.intake(&["sync", "--json"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let r = sync(&station);
    assert_eq!(r["rate_card"], "hq-v1");
    assert_eq!(
        station
            .store()
            .rate_card_version_in_force()
            .unwrap()
            .as_deref(),
        Some("hq-v1")
    );
    // Valid TOML but no rate for China, which this station serves: head office takes it
    // (it does not know each station's destinations); the station keeps it out.
    let no_cn = v1
        .replace("hq-v1", "hq-v3")
        .split("# China")
        .next()
        .unwrap()
        .to_owned();
    assert!(load(&no_cn).status.success());
    let r = sync(&station);
    assert_eq!(r["rate_card"], serde_json::Value::Null);
    let why = r["rate_card_refused"].as_str().unwrap();
    assert!(why.contains("CN") && why.contains("kept out"), "{why}");
    assert_eq!(
        station
            .store()
            .rate_card_version_in_force()
            .unwrap()
            .as_deref(),
        Some("hq-v1"),
        "the old card stays in force"
    );
}

#[allow(non_snake_case)]
fn BIN_cmd(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN).args(args).output().unwrap()
}

#[test]
fn a_world_readable_token_file_is_refused_by_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let tok = dir.path().join("tokens");
    std::fs::write(&tok, "abc\n").unwrap();
    std::fs::set_permissions(&tok, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = BIN_cmd(&[
        "hq",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--db",
        dir.path().join("hq.db").to_str().unwrap(),
        "--token-file",
        tok.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600") && !err.contains("abc"), "{err}");

    let station = Station::new("http://127.0.0.1:9", "");
    std::fs::set_permissions(&station.token_file, std::fs::Permissions::from_mode(0o604)).unwrap();
    let out = station.intake(&["sync"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("world") || err.contains("every user"), "{err}");
    assert!(!err.contains(TOKEN), "the token is never printed");
    // A dry run needs no token and sends nothing.
    let out = station.intake(&["sync", "--dry-run"]).output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("would send 0 scan(s)"));
}
