//! The shipped systemd unit, run the way systemd runs it: `ExecStart=` from
//! `deploy/intake.service` (binary path swapped for the built one), its `Environment=`
//! (paths under /etc/intake and /var/lib/intake moved into a scratch root), `$STATE_DIRECTORY`
//! from `StateDirectory=`, `$WATCHDOG_USEC` from `WatchdogSec=`, and `$NOTIFY_SOCKET` at a
//! datagram socket this test reads (sd_notify(3)). `ExecReload=` is run as written, with
//! `$MAINPID` the daemon's pid.

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use intake::store::{ScanFilter, Store};

const UNIT: &str = include_str!("../deploy/intake.service");
const RATES: &str = include_str!("../config/rates.toml");
/// Between looks at the store or the process (each look is bounded by a deadline).
const POLL: Duration = Duration::from_millis(25);

/// `KEY=value` lines of the unit's [Service] section, in order (repeated keys kept).
fn service_lines() -> Vec<(String, String)> {
    let mut in_service = false;
    let mut out = Vec::new();
    for line in UNIT.lines().map(str::trim) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
            continue;
        }
        if !in_service || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').expect("a unit line is KEY=VALUE");
        out.push((k.to_owned(), v.to_owned()));
    }
    out
}

fn one(lines: &[(String, String)], key: &str) -> String {
    let found: Vec<&String> = lines
        .iter()
        .filter(|(k, _)| k == key)
        .map(|(_, v)| v)
        .collect();
    assert_eq!(found.len(), 1, "{key}= must appear once in the unit");
    found[0].clone()
}

/// systemd time span: "30s", "1min", "500ms".
fn timespan(v: &str) -> Duration {
    let n: String = v.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = n.parse().expect("a number");
    match &v[v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len())..] {
        "" | "s" | "sec" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "min" | "m" => Duration::from_secs(n * 60),
        other => panic!("unit {other} in {v}"),
    }
}

/// The scratch root: /etc/intake and /var/lib/intake inside it.
struct Root {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Root {
    fn new() -> Root {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().to_path_buf();
        for d in ["etc/intake", "var/lib/intake"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        Root { _tmp: tmp, root }
    }

    /// A path the unit names, moved under the scratch root.
    fn moved(&self, v: &str) -> String {
        for prefix in ["/etc/intake/", "/var/lib/intake"] {
            if let Some(rest) = v.strip_prefix(prefix) {
                return self
                    .root
                    .join(prefix.trim_start_matches('/'))
                    .join(rest)
                    .display()
                    .to_string();
            }
        }
        v.to_owned()
    }

    fn etc(&self, name: &str) -> PathBuf {
        self.root.join("etc/intake").join(name)
    }
}

/// The site's config: only what differs from the embedded default (its own rate card beside
/// it, simulated devices at a quick pace, the dashboard on any free port).
fn site_config(max_weight: &str) -> String {
    format!(
        "[limits]\nmax_weight = \"{max_weight}\"\nmax_side = \"59 in\"\n\n\
         [pricing]\nrate_card = \"rates.toml\"\n\n[sim]\ngap_ms = 20\nremoval_delay_ms = 20\n\n[web]\nlisten = \"127.0.0.1:0\"\n"
    )
}

struct Daemon {
    child: Child,
    notify: UnixDatagram,
    log: PathBuf,
    reload: String,
}

impl Daemon {
    /// The next notification, or None at the deadline.
    fn next_message(&self, deadline: Instant) -> Option<String> {
        let mut buf = [0u8; 4096];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            self.notify
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            match self.notify.recv(&mut buf) {
                Ok(n) => return Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => panic!("notify socket: {e}"),
            }
        }
    }

    /// Waits for a notification with this line (e.g. "READY=1"); returns the whole message.
    fn expect_line(&self, what: &str, pred: impl Fn(&str) -> bool, within: Duration) -> String {
        let deadline = Instant::now() + within;
        while let Some(m) = self.next_message(deadline) {
            if m.lines().any(&pred) {
                return m;
            }
        }
        panic!(
            "no {what} within {within:?}; daemon log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn signal_reload(&self) {
        let cmd = self
            .reload
            .replace("$MAINPID", &self.child.id().to_string());
        let argv: Vec<&str> = cmd.split_whitespace().collect();
        let st = Command::new(argv[0])
            .args(&argv[1..])
            .status()
            .expect("ExecReload");
        assert!(st.success(), "{cmd}");
    }

    fn assert_running(&mut self) {
        assert!(
            self.child.try_wait().expect("wait").is_none(),
            "the daemon exited; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls the store (read-only, as `intake scans` does) until the newest priced scan passes
/// `pred`; returns its (price in cents, rate card version, in-force version).
fn newest_scan_until(
    db: &Path,
    within: Duration,
    pred: impl Fn(i64, &str, u64) -> bool,
) -> (i64, String, u64) {
    let deadline = Instant::now() + within;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(store) = Store::open_read_only(db) {
            let scans = store.scans(&ScanFilter::default()).expect("scans");
            if let Some(s) = scans.iter().rev().find(|s| s.price.is_some()) {
                let got = (
                    s.price.map_or(0, |p| p.cents()),
                    s.rate_card_version.clone().unwrap_or_default(),
                    s.in_force_version.unwrap_or(0),
                );
                if pred(got.0, &got.1, got.2) {
                    return got;
                }
                last = Some(got);
            }
        }
        std::thread::sleep(POLL);
    }
    panic!("no matching scan within {within:?}; newest priced: {last:?}");
}

#[test]
fn the_unit_starts_notifies_reloads_and_refuses_a_broken_config() {
    let lines = service_lines();
    assert_eq!(one(&lines, "Type"), "notify");
    let watchdog = timespan(&one(&lines, "WatchdogSec"));
    assert!(!watchdog.is_zero());
    let root = Root::new();

    // ExecStart=, exactly, with the built binary in place of the installed one.
    let exec = one(&lines, "ExecStart");
    let mut argv = exec.split_whitespace();
    let installed = argv.next().expect("a command");
    assert!(installed.ends_with("/intake"), "{installed}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_intake"));
    cmd.args(argv);
    cmd.env_remove("INTAKE_CONFIG")
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("WATCHDOG_PID");
    let mut env = BTreeMap::new();
    for (_, v) in lines.iter().filter(|(k, _)| k == "Environment") {
        let (name, value) = v.split_once('=').expect("Environment=NAME=value");
        env.insert(name.to_owned(), root.moved(value));
    }
    let config = PathBuf::from(env.get("INTAKE_CONFIG").expect("the unit names its config"));
    assert_eq!(config, root.etc("station.toml"));
    std::fs::write(&config, site_config("44 lb")).expect("config");
    std::fs::write(root.etc("rates.toml"), RATES).expect("rates");
    cmd.envs(&env);
    // StateDirectory=intake: systemd creates /var/lib/intake and says so in the environment.
    assert_eq!(one(&lines, "StateDirectory"), "intake");
    let state = root.root.join("var/lib/intake");
    cmd.env("STATE_DIRECTORY", &state);
    cmd.current_dir(root.moved(&one(&lines, "WorkingDirectory")));
    cmd.env("WATCHDOG_USEC", watchdog.as_micros().to_string());
    let sock_path = root.root.join("notify.sock");
    let notify = UnixDatagram::bind(&sock_path).expect("notify socket");
    cmd.env("NOTIFY_SOCKET", &sock_path);
    let log = root.root.join("daemon.log");
    let logf = std::fs::File::create(&log).expect("log");
    cmd.stdin(Stdio::null())
        .stdout(logf.try_clone().expect("log"))
        .stderr(logf);
    let mut d = Daemon {
        child: cmd.spawn().expect("start the daemon"),
        notify,
        log,
        reload: one(&lines, "ExecReload"),
    };

    // READY=1, then WATCHDOG=1 within WatchdogSec.
    d.expect_line("READY=1", |l| l == "READY=1", Duration::from_secs(60));
    d.expect_line("WATCHDOG=1", |l| l == "WATCHDOG=1", watchdog);
    d.assert_running();

    // The data folder defaulted to $STATE_DIRECTORY.
    let db = state.join("intake.db");
    let (old_price, old_card, old_version) =
        newest_scan_until(&db, Duration::from_secs(60), |_, card, _| {
            card == "sample-2026-11"
        });
    assert!(old_price < 100_000, "{old_price}");

    // A changed rate card on SIGHUP prices the next parcel.
    let dearer = RATES
        .replace("version = \"sample-2026-11\"", "version = \"test-dear\"")
        .replace("first = \"", "first = \"10");
    assert_ne!(dearer, RATES);
    std::fs::write(root.etc("rates.toml"), &dearer).expect("rates");
    d.signal_reload();
    let m = d.expect_line(
        "a reload status",
        |l| l.starts_with("STATUS=configuration reloaded"),
        Duration::from_secs(30),
    );
    assert!(m.contains("READY=1"), "{m}");
    let (new_price, _, new_version) =
        newest_scan_until(&db, Duration::from_secs(60), |_, card, _| {
            card == "test-dear"
        });
    assert!(new_version > old_version, "{new_version} vs {old_version}");
    assert!(
        new_price >= 100_000 && new_price > old_price,
        "{new_price} after {old_price} ({old_card})"
    );

    // A broken config on SIGHUP is refused; the daemon runs on with the old one.
    std::fs::write(&config, site_config("44")).expect("config");
    d.signal_reload();
    let m = d.expect_line(
        "a refusal",
        |l| l.starts_with("STATUS=reload refused"),
        Duration::from_secs(30),
    );
    assert!(m.contains("limits.max_weight"), "{m}");
    d.assert_running();
    let head = Store::open_read_only(&db)
        .expect("store")
        .scans(&ScanFilter::default())
        .expect("scans")
        .len();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let scans = Store::open_read_only(&db)
            .expect("store")
            .scans(&ScanFilter::default())
            .expect("scans");
        if scans.len() > head + 1 {
            let s = scans.last().expect("a scan");
            assert_eq!(s.in_force_version, Some(new_version));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no scans after the refused reload"
        );
        std::thread::sleep(POLL);
    }
    d.assert_running();

    // SIGTERM: the parcel in progress is finished, then exit 0.
    let st = Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = d.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(POLL);
    };
    assert!(status.success(), "{status:?}");
}
