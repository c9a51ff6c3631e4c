//! One owner of the records, seen from outside: while the daemon runs, parcels commit at
//! full pace, an operator resolves an exception on the dashboard, and sync delivers to and
//! pulls from head office — all through the store actor, with no SQLITE_BUSY. Every
//! dashboard stream sees every numbered event in order, including one that drops off and
//! comes back with `Last-Event-ID` (made to lag), and the numbers match the store's.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod sync_util;
mod web_util;

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};
use web_util::{BUSY_DOCK, Daemon, StationDir, get, post_json, wait_for};

const LIMIT: Duration = Duration::from_secs(120);

/// One numbered server-sent event.
#[derive(Debug, Clone)]
struct Numbered {
    id: u64,
    name: String,
    data: Value,
}

/// Reads the numbered events of `/api/events` (from `last` on, when given) on a thread,
/// stopping after `stop_after` of them (to drop off on purpose).
fn numbered_events(url: &str, last: Option<u64>, stop_after: usize) -> mpsc::Receiver<Numbered> {
    let (tx, rx) = mpsc::channel();
    let url = url.to_owned();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut req = agent.get(&url);
        if let Some(n) = last {
            req = req.header("Last-Event-ID", n.to_string());
        }
        let Ok(resp) = req.call() else { return };
        let reader = BufReader::new(resp.into_body().into_reader());
        let (mut id, mut name, mut data) = (None, String::new(), String::new());
        let mut sent = 0;
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if line.is_empty() {
                if let Some(n) = id.take() {
                    let v = serde_json::from_str(&data).unwrap_or(Value::Null);
                    if tx
                        .send(Numbered {
                            id: n,
                            name: name.clone(),
                            data: v,
                        })
                        .is_err()
                    {
                        return;
                    }
                    sent += 1;
                    if sent == stop_after {
                        return; // drops the connection
                    }
                }
                name.clear();
                data.clear();
            } else if let Some(v) = line.strip_prefix("id:") {
                id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_owned();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    });
    rx
}

fn drain(rx: &mpsc::Receiver<Numbered>, until: u64) -> Vec<Numbered> {
    let mut got: Vec<Numbered> = Vec::new();
    while got.last().is_none_or(|e| e.id < until) {
        got.push(
            rx.recv_timeout(LIMIT)
                .unwrap_or_else(|_| panic!("events up to {until}; got {:?}", got.last())),
        );
    }
    got
}

#[test]
fn resolutions_sync_and_parcels_go_through_one_writer_and_every_stream_sees_every_event() {
    // Head office, and a busy station that syncs as soon as two records wait.
    let hq_dir = tempfile::tempdir().unwrap();
    let tok = hq_dir.path().join("tokens");
    sync_util::write_private(&tok, &format!("{}\n", sync_util::TOKEN));
    let hq_db = hq_dir.path().join("hq.db");
    let hq = sync_util::Hq::start(hq_db.to_str().unwrap(), &tok, 0, &[]);
    let station = StationDir::new(
        BUSY_DOCK,
        &format!(
            "\n[sync]\nurl = \"{}\"\ntoken_file = \"hq.token\"\nupload_backlog = 2\nbatch_size = 5\npull_every = \"5s\"\nretry_first = \"10ms\"\nretry_max = \"200ms\"\n",
            hq.url()
        ),
    );
    sync_util::write_private(
        &station.dir.path().join("hq.token"),
        &format!("{}\n", sync_util::TOKEN),
    );
    let mut d = Daemon::start(&station, "127.0.0.1:0", &["--fast"]);
    let url = d.url.clone();
    let events_url = format!("{url}/api/events");

    // One stream reads all along; another reads three events, drops off, and comes back
    // later asking for what it missed.
    let steady = numbered_events(&events_url, None, usize::MAX);
    let dropping = numbered_events(&events_url, None, 3);
    let first_part: Vec<Numbered> = (0..3)
        .map(|_| dropping.recv_timeout(LIMIT).unwrap())
        .collect();

    // An exception resolved by the operator while parcels keep coming.
    let exception: Value = wait_for("an exception to resolve", LIMIT, || {
        let q = get(&format!("{url}/api/exceptions")).json();
        q["exceptions"].as_array()?.first().cloned()
    });
    let sid = exception["scan_id"].as_str().unwrap();
    let r = post_json(
        &format!("{url}/api/scans/{sid}/resolution"),
        &json!({ "action": "confirm", "note": "set aside" }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let resolution_id = r.json()["resolution_id"].as_str().unwrap().to_owned();

    // Head office has received some records and the station pulled (its manifest, its card).
    wait_for("head office to hold records", LIMIT, || {
        (sync_util::hq_scans(hq_db.to_str().unwrap(), false).len() >= 6).then_some(())
    });
    d.wait_scans(12, LIMIT);
    let status = d.stop();
    assert!(status.success(), "{status}");

    // The store's own numbering: consecutive, and it holds every scan and the resolution.
    let st = intake::store::Store::open_read_only(&station.db()).unwrap();
    let head = st.last_event_seq().unwrap();
    let stored = st.events_since(0, usize::MAX).unwrap();
    assert_eq!(stored.len() as u64, head);
    assert!(stored.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    let scans = st.scans(&Default::default()).unwrap();
    let scan_events = stored
        .iter()
        .filter(|e| matches!(e.kind, intake::store::EventKind::ScanCommitted(_)))
        .count();
    assert_eq!(scan_events, scans.len(), "one event per stored scan");
    assert!(stored.iter().any(|e| matches!(&e.kind,
        intake::store::EventKind::ResolutionRecorded(r) if r.id == resolution_id)));
    assert!(
        stored
            .iter()
            .any(|e| matches!(e.kind, intake::store::EventKind::Delivered { .. })),
        "sync delivered through the actor"
    );

    // The steady stream saw every event from its start to the end, in order.
    let first = drain(&steady, head);
    assert!(
        first.windows(2).all(|w| w[1].id == w[0].id + 1),
        "steady stream: {:?}",
        first.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    for e in &first {
        let want = &stored[(e.id - 1) as usize];
        assert_eq!(e.name, want.kind.name(), "event {}", e.id);
    }
    assert!(
        first
            .iter()
            .any(|e| e.name == "resolution" && e.data["resolution_id"] == resolution_id)
    );

    // The stream that dropped off comes back (to a restarted daemon) and gets the rest.
    let mut again = Daemon::start(&station, "127.0.0.1:0", &["--fast", "--parcels", "1"]);
    let resumed_from = first_part.last().unwrap().id;
    let back = numbered_events(
        &format!("{}/api/events", again.url),
        Some(resumed_from),
        usize::MAX,
    );
    let rest = drain(&back, head);
    let ids: Vec<u64> = first_part.iter().chain(&rest).map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|w| w[1] == w[0] + 1),
        "the lagging stream got every event once, in order: {ids:?}"
    );
    let st2 = again.stop();
    assert!(st2.success(), "{st2}: {}", again.log_text());

    // One writer: nothing ever waited on a lock.
    let log = d.log_text();
    for bad in ["database is locked", "SQLITE_BUSY"] {
        assert!(!log.contains(bad), "{bad} in the daemon log:\n{log}");
    }
}
