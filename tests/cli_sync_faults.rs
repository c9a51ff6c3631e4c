//! Issue 16, item 4: `intake sync` against a head office that is down gives up after
//! `sync.give_up_after` with exit 1 and the number of records still queued; a 409 (head
//! office refusing a changed replay) stops the sync at once instead of resending for ever.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod sync_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sync_util::*;

const QUEUED: usize = 25;

fn station_with_records(url: &str, sync_extra: &str) -> Station {
    let station = Station::new(url, sync_extra);
    let scans = make_scans(&station.settings(), QUEUED, 1_764_000_000_000);
    assert_eq!(station.store().insert_scans_bulk(&scans).unwrap(), QUEUED);
    station
}

/// Runs `intake sync --no-pull` to completion, failing the test after `limit`.
fn sync(station: &Station, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = station
        .intake(&["sync", "--no-pull"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for("intake sync to end", limit, || child.try_wait().unwrap());
    let mut out = Output {
        status,
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out.stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut out.stderr)
        .unwrap();
    (out, started.elapsed())
}

#[test]
fn sync_gives_up_on_a_head_office_that_is_down_and_says_what_is_queued() {
    // A loopback port nobody listens on: every connection is refused at once.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let station = station_with_records(
        &format!("http://127.0.0.1:{port}"),
        "retry_first = \"10ms\"\nretry_max = \"100ms\"\ngive_up_after = \"1s\"\ntimeout = \"2s\"",
    );
    let (out, took) = sync(&station, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("gave up after"), "{err}");
    assert!(
        err.contains(&format!("{QUEUED} record(s) still queued")),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(1),
        "gave up before the deadline: {took:?}"
    );
    println!("figure: intake sync against a closed port gave up after {took:?} (give_up_after 1s)");
}

/// A head office that answers every upload with 409, counting the uploads.
fn conflicting_head_office() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let uploads = Arc::new(AtomicUsize::new(0));
    let count = uploads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0usize;
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0u8; length];
            reader.read_exact(&mut body).unwrap();
            if first.starts_with("POST /v1/records") {
                count.fetch_add(1, Ordering::SeqCst);
            }
            // The body head office sends for a changed replay (docs/openapi.yaml, 409).
            let answer = r#"{"error":"conflict","message":"record already stored with other content","line":1,"record_id":"01JCHANGED0000000000000000"}"#;
            let _ = write!(
                conn,
                "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, uploads)
}

#[test]
fn a_changed_replay_409_is_reported_once_not_resent_for_ever() {
    let (url, uploads) = conflicting_head_office();
    let station = station_with_records(
        &url,
        "retry_first = \"10ms\"\nretry_max = \"50ms\"\ngive_up_after = \"30s\"\ntimeout = \"5s\"",
    );
    let (out, took) = sync(&station, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("changed replay (409)"), "{err}");
    assert!(
        err.contains("record 1 (01JCHANGED0000000000000000)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("{QUEUED} record(s) still queued")),
        "{err}"
    );
    assert_eq!(
        uploads.load(Ordering::SeqCst),
        1,
        "the batch was sent again"
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
}
