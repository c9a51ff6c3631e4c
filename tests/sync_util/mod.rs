//! Shared by the sync integration tests: a head office (`intake hq serve` as a subprocess
//! on loopback), a station directory with a config and a store filled through the store
//! API, and readiness polling (no fixed sleeps).
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use intake::config::{EMBEDDED_CONFIG, Settings, Source};
use intake::judge::{Measurement, WaybillRead, judge};
use intake::manifest::ManifestEntry;
use intake::quantity::Money;
use intake::rules::Duties;
use intake::scan::{ScanRecord, new_scan_id};
use intake::store::Store;

pub const BIN: &str = env!("CARGO_BIN_EXE_intake");
pub const TOKEN: &str = "test-token-0123456789";

/// Polls `f` until it gives `Some`, or panics after `limit` naming `what`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `intake hq serve` as a subprocess.
pub struct Hq {
    pub child: Child,
    pub port: u16,
    pub db: String,
    pub token_file: PathBuf,
    pub extra: Vec<String>,
}

impl Hq {
    /// Starts head office on `port` (0: a free one) and waits until it listens.
    pub fn start(db: &str, token_file: &Path, port: u16, extra: &[&str]) -> Hq {
        let mut child = Command::new(BIN)
            .args(["hq", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--db", db])
            .arg("--token-file")
            .arg(token_file)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("hq serve did not say where it listens: {line:?}"));
        Hq {
            child,
            port,
            db: db.to_owned(),
            token_file: token_file.to_owned(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Cuts head office off at once (SIGKILL): connections drop mid-request.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        let extra: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        wait_for("the port to be free again", Duration::from_secs(10), || {
            let probe = std::net::TcpListener::bind(("127.0.0.1", self.port));
            probe.ok().map(drop)
        });
        *self = Hq::start(&self.db, &self.token_file, self.port, &extra);
    }
}

impl Drop for Hq {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A station: a directory with a config (and its rate card and manifest sample) and a store.
pub struct Station {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub token_file: PathBuf,
}

impl Station {
    /// A station whose `[sync]` points at `url`, with the given extra `[sync]` lines.
    pub fn new(url: &str, sync_extra: &str) -> Station {
        let dir = tempfile::tempdir().unwrap();
        for name in ["rates.toml", "manifest-sample.csv"] {
            let bytes = Source::Embedded(name).read().unwrap();
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let token_file = dir.path().join("hq.token");
        write_private(&token_file, &format!("{TOKEN}\n"));
        let config = dir.path().join("station.toml");
        let text = format!(
            "{}\n[sync]\nurl = \"{url}\"\ntoken_file = \"hq.token\"\n{sync_extra}\n",
            EMBEDDED_CONFIG.replace("id = \"sim-dock-01\"", "id = \"test-dock-07\"")
        );
        std::fs::write(&config, text).unwrap();
        Station {
            dir,
            config,
            token_file,
        }
    }

    pub fn settings(&self) -> Settings {
        Settings::load(Some(&self.config)).unwrap()
    }

    pub fn store(&self) -> Store {
        Store::open(&self.settings().db_path()).unwrap()
    }

    /// `intake --config <station> ARGS` (not yet run).
    pub fn intake(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config").arg(&self.config).args(args);
        c
    }
}

/// `n` scans of varied parcels, judged with the station's policy, some with waybills the
/// manifest does not know.
pub fn make_scans(settings: &Settings, n: usize, start_ms: i64) -> Vec<ScanRecord> {
    let known = ManifestEntry {
        waybill: "EE123456785GB".into(),
        destination: "JP".parse().unwrap(),
        declared_weight: None,
        declared_dims: None,
        quoted_price: Some(Money::from_cents(1800)),
        consignee_id_on_file: false,
        duties: Duties::NotApplicable,
    };
    (0..n)
        .map(|i| {
            let lb = 1 + (i % 50) as i64;
            let m = Measurement {
                weight: Ok(format!("{lb}.{} lb", i % 10).parse().unwrap()),
                dims: Ok(format!("{}x{}x6 in", 8 + i % 55, 6 + i % 7)
                    .parse()
                    .unwrap()),
                waybill: WaybillRead::Read(if i % 3 == 0 {
                    "RR473124829US".into()
                } else {
                    "EE123456785GB".into()
                }),
            };
            let entry = (i % 3 != 0).then_some(&known);
            let j = judge(&m, entry, &settings.policy);
            ScanRecord::new(
                new_scan_id(),
                &settings.station_id,
                jiff::Timestamp::from_millisecond(start_ms + i as i64).unwrap(),
                &m,
                &j,
                &settings.policy.card.version,
            )
        })
        .collect()
}

/// Records as an NDJSON upload body.
pub fn ndjson(records: &[serde_json::Value]) -> Vec<u8> {
    records
        .iter()
        .map(|r| format!("{r}\n"))
        .collect::<String>()
        .into_bytes()
}

/// Head office's scans, as JSON objects, via `intake hq scans --format json`.
pub fn hq_scans(db: &str, resolutions: bool) -> Vec<serde_json::Value> {
    let mut c = Command::new(BIN);
    c.args(["hq", "scans", "--db", db, "--format", "json"]);
    if resolutions {
        c.arg("--resolutions");
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Counts head office's scans through the library (fast enough to poll).
pub struct HqCounter {
    rt: tokio::runtime::Runtime,
    store: intake::hq::HqStore,
}

impl HqCounter {
    pub fn open(db: &str) -> HqCounter {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let store = rt.block_on(intake::hq::HqStore::open(db)).unwrap();
        HqCounter { rt, store }
    }

    pub fn scans(&self) -> u64 {
        self.rt.block_on(self.store.count_scans()).unwrap()
    }
}

/// A fresh PostgreSQL schema for one test, when `INTAKE_TEST_PG_URL` is set: the URL with
/// its search_path set to it.
pub fn pg_schema_url(tag: &str) -> Option<String> {
    let base = std::env::var("INTAKE_TEST_PG_URL").ok()?;
    let schema = format!(
        "t_{tag}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
            .await
            .expect("INTAKE_TEST_PG_URL does not connect");
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .unwrap();
    });
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options=-c%20search_path%3D{schema}"))
}
