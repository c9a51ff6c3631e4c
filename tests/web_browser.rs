//! The dashboard in a real headless Chromium, against `intake run` on the simulated dock:
//! a verdict appears without a reload, a no-read is resolved by typing its waybill (and the
//! resolution is in the store), the page rides out a daemon restart by itself, and
//! screenshots of an accepted, a returned and a repriced parcel are written to a temporary
//! folder. Skipped, loudly, only where no Chromium is installed (`bash .ci/chromium.sh`).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod web_util;

use std::io::Write as _;
use std::time::Duration;

use serde_json::Value;
use web_util::{BUSY_DOCK, Browser, Daemon, StationDir, find_chromium, get, wait_for};

const MINUTE: Duration = Duration::from_secs(60);

fn js(v: &str) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn dashboard_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        // Straight to stderr, past the test harness's capture, so the skip is seen.
        let _ = writeln!(
            std::io::stderr(),
            "\n\n******** SKIPPED dashboard_in_headless_chromium: no Chromium at /usr/bin/chromium \
             (or $INTAKE_CHROMIUM). Install it with `bash .ci/chromium.sh`. ********\n"
        );
        return;
    };
    let t0 = std::time::Instant::now();
    let step = |what: &str| eprintln!("{:6.1} s  {what}", t0.elapsed().as_secs_f64());
    // Quicker parcels, and the mix this test needs soon: returns and no-reads among the
    // accepted and repriced.
    let mut tweaks = BUSY_DOCK.to_vec();
    tweaks.extend([
        ("settle = \"400ms\"", "settle = \"150ms\""),
        ("over_size_permille = 60", "over_size_permille = 0"),
        (
            "unknown_waybill_permille = 60",
            "unknown_waybill_permille = 0",
        ),
    ]);
    let dir = StationDir::new(&tweaks, "");
    let mut d = Daemon::start(&dir, "127.0.0.1:0", &["--fast"]);
    d.wait_ready();
    let mut b = Browser::launch(&chromium);
    b.navigate(&format!("{}/", d.url));
    b.wait_eval(
        "the page to go live",
        MINUTE,
        "document.querySelector('#conn')?.dataset.state === 'live'",
    );
    // Marks this page load: a reload would lose it.
    b.eval("window.__load = 'first'; true");

    step("page live");
    // A verdict appears, then another, pushed over server-sent events.
    let first = b.wait_eval(
        "a verdict on the page",
        MINUTE,
        "document.querySelector('#current').dataset.scanId",
    );
    let next = b.wait_eval(
        "a new verdict without a reload",
        MINUTE,
        &format!(
            "(() => {{ const id = document.querySelector('#current').dataset.scanId; \
             return id && id !== {first} ? id : null; }})()"
        ),
    );
    assert_eq!(b.eval("window.__load"), "first", "the page was reloaded");
    // The banner says it in words and with a symbol, as the store has it.
    let shown = b.eval(
        "(() => { const c = document.querySelector('#current'); return { id: c.dataset.scanId, \
         d: document.querySelector('#banner').dataset.disposition, \
         words: document.querySelector('#banner-text').textContent, \
         icon: document.querySelector('#banner-use').getAttribute('href') }; })()",
    );
    let id = shown["id"].as_str().unwrap();
    assert!(id == next.as_str().unwrap() || id != first.as_str().unwrap());
    let stored = get(&format!("{}/api/scans/{id}", d.url)).json();
    assert_eq!(shown["d"], stored["disposition"]);
    assert_eq!(shown["words"], stored["headline"]);
    let icon = shown["icon"].as_str().unwrap();
    assert!(icon.starts_with("#i-") && icon != "#i-wait", "{icon}");

    step("verdicts appeared without a reload");
    // A no-read waits in the exceptions queue; the operator types its waybill and Enter.
    let no_read = b.wait_eval(
        "a no-read in the exceptions queue",
        2 * MINUTE,
        "(() => { const i = document.querySelector('#exceptions li:not(.done) input[name=waybill]'); \
         return i ? i.closest('li').dataset.scanId : null; })()",
    );
    let nid = no_read.as_str().unwrap().to_owned();
    let item = format!("#exceptions li[data-scan-id='{nid}']");
    b.click(&format!("{item} input[name=waybill]"));
    let waybill = dir.manifest_waybill();
    b.type_text(&waybill.to_lowercase(), true);
    let resolved = b.wait_eval(
        "the page to show the resolution",
        MINUTE,
        &format!(
            "(() => {{ const li = document.querySelector({}); \
             return li && li.classList.contains('done') ? li.querySelector('.exc-why').textContent \
             : (li ? (li.querySelector('.err').textContent ? 'ERROR ' + li.querySelector('.err').textContent : null) : 'gone'); }})()",
            js(&item)
        ),
    );
    let resolved = resolved.as_str().unwrap();
    assert!(!resolved.starts_with("ERROR"), "{resolved}");
    // In the store: a new resolution row referencing the scan, queued for head office.
    let db =
        rusqlite::Connection::open_with_flags(dir.db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let (actor, typed, outbox): (String, String, String) = db
        .query_row(
            "SELECT r.actor, r.waybill, o.kind FROM resolutions r JOIN outbox o ON o.record_id = r.id
             WHERE r.scan_id = ?1",
            [&nid],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (actor.as_str(), typed.as_str(), outbox.as_str()),
        ("operator", waybill.as_str(), "resolution")
    );
    let scan_row: String = db
        .query_row("SELECT disposition FROM scans WHERE id = ?1", [&nid], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(scan_row, "manual", "the scan itself is never changed");
    b.wait_eval(
        "the resolved item to leave the queue",
        MINUTE,
        &format!("!document.querySelector({})", js(&item)),
    );

    step("no-read resolved in the page and in the store");
    // Screenshots of an accepted, a returned and a repriced parcel, evidence shown.
    let shots = std::env::temp_dir().join("intake-dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (kind, file) in [
        ("accept", "accepted.png"),
        ("return_to_sender", "returned.png"),
        ("accept_repriced", "repriced.png"),
    ] {
        let scan: Value = wait_for(&format!("a {kind} scan with evidence"), 2 * MINUTE, || {
            let r = get(&format!("{}/api/scans?limit=100&disposition={kind}", d.url)).json();
            r["scans"]
                .as_array()?
                .iter()
                .find(|s| s["evidence_url"].is_string())
                .cloned()
        });
        let sid = scan["scan_id"].as_str().unwrap();
        b.navigate(&format!("{}/#scan={sid}", d.url));
        b.wait_eval(
            &format!("the {kind} scan and its evidence on screen"),
            MINUTE,
            &format!(
                "(() => {{ const img = document.querySelector('#evidence'); \
                 return document.querySelector('#current').dataset.scanId === {id} \
                 && document.querySelector('#banner').dataset.disposition === {kind} \
                 && !img.hidden && img.complete && img.naturalWidth === 640; }})()",
                id = js(sid),
                kind = js(kind)
            ),
        );
        b.screenshot(&shots.join(file));
        step(file);
    }
    eprintln!("dashboard screenshots: {}", shots.display());
    let words = b.eval("document.querySelector('#banner-text').textContent");
    assert_eq!(words, "ACCEPT — REPRICED");
    let adj = b.eval("document.querySelector('#f-adjust').textContent");
    assert!(adj.as_str().unwrap().contains(['+', '−']), "{adj}");

    // Back to live, then a daemon restart: the page notices and reconnects by itself.
    b.click("#back-live");
    b.wait_eval(
        "the live view with its evidence",
        MINUTE,
        "(() => { const img = document.querySelector('#evidence'); \
         return document.querySelector('#pinned').hidden && !location.hash \
         && !img.hidden && img.complete && img.naturalWidth === 640; })()",
    );
    b.screenshot(&shots.join("live.png"));
    let port = d.port();
    assert!(d.stop().success(), "{}", d.log_text());
    b.wait_eval(
        "the page to show the lost connection",
        MINUTE,
        "document.querySelector('#conn').dataset.state === 'reconnecting' \
         && !document.querySelector('#offline').hidden",
    );
    step("daemon stopped, page noticed");
    let before = b.eval("document.querySelector('#current').dataset.scanId");
    let d2 = Daemon::start(&dir, &format!("127.0.0.1:{port}"), &["--fast"]);
    b.wait_eval(
        "the page to reconnect",
        MINUTE,
        "document.querySelector('#conn').dataset.state === 'live' \
         && document.querySelector('#offline').hidden",
    );
    b.wait_eval(
        "a verdict from the restarted daemon",
        MINUTE,
        &format!("document.querySelector('#current').dataset.scanId !== {before}"),
    );
    assert_eq!(b.eval("window.__load"), "first", "the page was reloaded");
    step("reconnected to the restarted daemon");
    drop(d2);
}
