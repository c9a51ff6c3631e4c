//! The dashboard on a LAN: PIN guessing is slowed per client, logged and counted; reads
//! need the PIN off loopback (a session cookie carries it for the page); TLS from a
//! certificate and key file. Each test runs `intake run` on the simulated dock with the
//! dashboard on all addresses and talks to it over loopback: 127.0.0.1 plays the guesser,
//! 127.0.0.2 another client (Linux routes all of 127/8 to the loopback interface).
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod web_util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use web_util::{Browser, Daemon, StationDir, find_chromium, get, get_with, post, wait_for};

const PIN: &str = "4821";

/// GET `path` on 127.0.0.1:`port` from the source address `from` (ureq cannot pick its
/// source address): (status, body).
fn get_from(from: &str, port: u16, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let mut s = sock
            .connect(format!("127.0.0.1:{port}").parse().unwrap())
            .await
            .unwrap();
        let mut req =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&buf).into_owned();
        let status = text.split(' ').nth(1).unwrap().parse().unwrap();
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    })
}

fn lan_station(extra_web: &str) -> StationDir {
    StationDir::new(
        &[
            ("listen = \"127.0.0.1:8080\"", "listen = \"0.0.0.0:0\""),
            ("# pin = \"4821\"", &format!("pin = \"{PIN}\"\n{extra_web}")),
        ],
        "",
    )
}

#[test]
fn pin_guessing_is_slowed_to_a_few_tries_per_client_logged_and_counted() {
    let dir = lan_station("");
    let d = Daemon::start(&dir, "0.0.0.0:0", &[]);
    let guesser = format!("http://127.0.0.1:{}", d.port());

    // The finding: a tight loop guessed 2,086 PINs a second with nothing in the way. The
    // same loop now, for at most 2 s or 300 guesses.
    let start = Instant::now();
    let (mut judged, mut held) = (0, 0);
    for guess in 0..300u32 {
        if start.elapsed() > Duration::from_secs(2) {
            break;
        }
        let pin = format!("{guess:04}");
        let a = get_with(&format!("{guesser}/api/scans"), &[("X-Intake-Pin", &pin)]);
        match a.status {
            401 => judged += 1,
            429 => {
                held += 1;
                let wait: u64 = a.header("retry-after").unwrap().parse().unwrap();
                assert!((1..=5).contains(&wait), "Retry-After {wait}");
            }
            s => panic!("guess {pin}: {s} {}", a.text()),
        }
    }
    // Two free tries (typos), the third starts a wait: 3 guesses looked at, not 4,000.
    assert_eq!(judged, 3, "{judged} guesses judged, {held} held back");
    assert!(held > 10, "{held}");
    // While held back even the right PIN is not looked at...
    let a = get_with(&format!("{guesser}/api/scans"), &[("X-Intake-Pin", PIN)]);
    assert_eq!(a.status, 429, "{}", a.text());
    // ...but another client is not locked out by the guesser.
    let (status, body) = get_from(
        "127.0.0.2",
        d.port(),
        "/api/scans",
        &[("X-Intake-Pin", PIN)],
    );
    assert_eq!(status, 200, "{body}");

    // Logged, with the client's address...
    wait_for("the failures in the log", Duration::from_secs(10), || {
        let log = d.log_text();
        (log.matches("dashboard: wrong PIN").count() == 3 && log.contains("client=127.0.0.1"))
            .then_some(())
    });
    // ...and counted in /metrics.
    let bearer = format!("Bearer {PIN}");
    let (status, text) = get_from(
        "127.0.0.2",
        d.port(),
        "/metrics",
        &[("Authorization", &bearer)],
    );
    assert_eq!(status, 200, "{text}");
    for line in [
        "intake_web_pin_failures_total 3",
        "intake_web_lockouts_total 0",
        "# TYPE intake_web_lockouts counter",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    // The lockout after a run of failures (15 minutes, then longer) is shown in virtual
    // time in the unit tests of web::auth and web::access: a test here would wait for real.
}

#[test]
fn off_loopback_reads_need_the_pin_and_a_session_cookie_carries_it() {
    let dir = lan_station("");
    let d = Daemon::start(&dir, "0.0.0.0:0", &[]);
    let url = format!("http://127.0.0.1:{}", d.port());
    for path in [
        "/api/scans",
        "/api/status",
        "/api/exceptions",
        "/api/events",
        "/metrics",
        "/api/scans/0190d7a8-0000-7000-8000-000000000000/evidence.jpg",
    ] {
        let a = get(&format!("{url}{path}"));
        assert_eq!(a.status, 401, "{path}: {}", a.text());
    }
    // The page (which asks for the PIN) and the probes stay open.
    for path in ["/", "/app.js", "/app.css", "/healthz"] {
        assert_eq!(get(&format!("{url}{path}")).status, 200, "{path}");
    }
    let scans = format!("{url}/api/scans");
    assert_eq!(get_with(&scans, &[("X-Intake-Pin", PIN)]).status, 200);
    let bearer = format!("Bearer {PIN}");
    assert_eq!(get_with(&scans, &[("Authorization", &bearer)]).status, 200);

    // Signing in as the page does: the PIN once, then a cookie.
    let json = ("Content-Type", "application/json");
    let wrong = post(
        &format!("{url}/api/login"),
        &[json, ("X-Intake-Pin", "0000")],
        b"{}",
    );
    assert_eq!(wrong.status, 401);
    assert!(wrong.header("set-cookie").is_none());
    let ok = post(
        &format!("{url}/api/login"),
        &[json, ("X-Intake-Pin", PIN)],
        b"{}",
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cookie = ok.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
    let session = cookie.split(';').next().unwrap();
    assert_eq!(get_with(&scans, &[("Cookie", session)]).status, 200);
    let forged = "intake_session=0123456789abcdef0123456789abcdef";
    assert_eq!(get_with(&scans, &[("Cookie", forged)]).status, 401);
    // A write still needs the PIN itself, not the cookie.
    let w = post(
        &format!("{url}/api/scans/0190d7a8-0000-7000-8000-000000000000/resolution"),
        &[json, ("Cookie", session)],
        br#"{"action":"confirm"}"#,
    );
    assert_eq!(w.status, 401, "{}", w.text());
}

#[test]
fn tls_serves_the_dashboard_with_the_configured_certificate() {
    let dir = lan_station("tls_cert = \"cert.pem\"\ntls_key = \"key.pem\"");
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    std::fs::copy(
        fixtures.join("test-cert.pem"),
        dir.dir.path().join("cert.pem"),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("test-key.pem"),
        dir.dir.path().join("key.pem"),
    )
    .unwrap();
    let d = Daemon::start(&dir, "0.0.0.0:0", &[]);
    assert!(d.url.starts_with("https://"), "{}", d.url);
    let port = d.port();

    let cert = std::fs::read(fixtures.join("test-ca.pem")).unwrap();
    let root = ureq::tls::Certificate::from_pem(&cert).unwrap();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![root])))
                .build(),
        )
        .build()
        .into();
    let r = agent
        .get(format!("https://127.0.0.1:{port}/healthz"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut r = agent
        .get(format!("https://localhost:{port}/api/status"))
        .header("X-Intake-Pin", PIN)
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let status: serde_json::Value =
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(status["pin_required"], true);
    let r = agent
        .post(format!("https://127.0.0.1:{port}/api/login"))
        .header("X-Intake-Pin", PIN)
        .content_type("application/json")
        .send("{}")
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP to the TLS port gets no dashboard.
    assert_ne!(get(&format!("http://127.0.0.1:{port}/healthz")).status, 200);
    // A client that does not trust the certificate is refused by its own TLS.
    assert_eq!(get(&format!("https://127.0.0.1:{port}/healthz")).status, 0);
}

#[test]
fn the_page_asks_for_the_pin_once_and_then_goes_live() {
    let Some(chromium) = find_chromium() else {
        eprintln!("SKIPPED: no Chromium (bash .ci/chromium.sh installs it)");
        return;
    };
    let dir = lan_station("");
    let d = Daemon::start(&dir, "0.0.0.0:0", &["--fast"]);
    let mut b = Browser::launch(&chromium);
    b.navigate(&format!("http://127.0.0.1:{}/", d.port()));
    let minute = Duration::from_secs(60);
    b.wait_eval(
        "the PIN dialog",
        minute,
        "document.querySelector('#pin-dialog')?.open",
    );
    b.type_text("0000", true);
    b.wait_eval(
        "the dialog again, saying the PIN was wrong",
        minute,
        "document.querySelector('#pin-dialog').open && \
         document.querySelector('#pin-why').textContent.includes('Wrong')",
    );
    b.type_text(PIN, true);
    b.wait_eval(
        "the page to go live with its session cookie",
        minute,
        "document.querySelector('#conn')?.dataset.state === 'live'",
    );
    b.wait_eval(
        "scans in the list",
        minute,
        "document.querySelectorAll('#recent tr, #recent li').length > 0 || \
         !!document.querySelector('#current')?.dataset.scanId",
    );
    assert!(d.log_text().contains("dashboard: wrong PIN"));
}
