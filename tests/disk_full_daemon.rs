//! The real daemon on the simulated dock with its data folder on a small tmpfs (as root;
//! elsewhere each test says it was skipped and checks nothing):
//! - evidence images never take the space scans need: written only while the disk keeps
//!   `[station] evidence_min_free_mb` free, the oldest shed first;
//! - a scan stored on a retry after a failed commit keeps its evidence image;
//! - `intake run --parcels N` gives up after `[station] give_up_after` with exit 1 and the
//!   number pending, instead of waiting for ever; SIGTERM on a full disk the same without
//!   the failure: the unstored scans go to the spill file, imported once at the next start.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod dock_util;
mod tmpfs_util;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use dock_util::{QUICK, scan_id_in, sigterm, spawn_logged, write_station};
use intake::store::{ScanFilter, Store};
use tmpfs_util::{Tmpfs, figures, fill, free_bytes, mount_small};

const LIMIT: Duration = Duration::from_secs(90);

/// A station directory whose data folder is a tmpfs of `size`.
struct Station {
    // Unmounted before the folder is removed (fields drop in order).
    _mount: Tmpfs,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Station {
    fn new(size: &str, station_extra: &str) -> Option<Station> {
        let dir = tempfile::tempdir().unwrap();
        let Some(mount) = mount_small(&dir.path().join("data"), size) else {
            eprintln!("SKIPPED: cannot mount a tmpfs here (not root?); this test checked nothing");
            return None;
        };
        let data_dir = format!("data_dir = \"./data\"\n{station_extra}");
        let mut changes = vec![("data_dir = \"./data\"", data_dir.as_str())];
        changes.extend(QUICK);
        let config = write_station(dir.path(), &changes);
        Some(Station {
            dir,
            config,
            _mount: mount,
        })
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn store(&self) -> Store {
        Store::open_read_only(&self.data().join("intake.db")).unwrap()
    }

    fn intake(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_intake"));
        c.arg("--config")
            .arg(&self.config)
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("RUST_LOG");
        c
    }

    /// `intake run --fast ARGS` with its log lines sent to a channel.
    fn start(&self, args: &[&str]) -> Daemon {
        let (child, lines) = spawn_logged(
            &mut self.intake(&[&["run", "--fast", "--listen", "127.0.0.1:0"], args].concat()),
        );
        Daemon {
            child,
            lines,
            log: Vec::new(),
        }
    }
}

struct Daemon {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Daemon {
    /// Waits for a log line containing `what`; returns it.
    fn wait_line(&mut self, what: &str) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no log line with {what:?}; log:\n{}", self.log.join("\n"));
                }
            }
        }
    }

    /// Waits for `n` verdict lines.
    fn verdicts(&mut self, n: usize) {
        for _ in 0..n {
            self.wait_line("intake::verdict");
        }
    }

    /// Waits for the exit (bounded); the exit code and the rest of the log.
    fn finish(mut self) -> (i32, String, String) {
        let deadline = Instant::now() + LIMIT;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the daemon did not end in {LIMIT:?}; log:\n{}",
                    self.log.join("\n")
                );
            }
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(l) => self.log.push(l),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        };
        self.log.extend(self.lines.iter());
        let mut out = String::new();
        std::io::Read::read_to_string(&mut self.child.stdout.take().unwrap(), &mut out).unwrap();
        (status.code().unwrap_or(-1), self.log.join("\n"), out)
    }
}

/// A daemon (run with `args`) on a disk of `size` that has just failed a commit for want
/// of space: the station, the daemon and the scan id kept for a retry.
fn failing_daemon(size: &str, args: &[&str]) -> Option<(Station, Daemon, String)> {
    let st = Station::new(size, "evidence_min_free_mb = 1")?;
    let mut d = st.start(args);
    d.verdicts(2);
    fill_for_good(&st.data());
    let line = d.wait_line("scan not stored; keeping it and retrying");
    Some((st, d, scan_id_in(&line).unwrap()))
}

/// Polls until `f` holds, or panics naming `what`.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < LIMIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Fills the disk twice: the first fill makes the store release its reserve (the scan in
/// hand is stored), the second leaves no space at all.
fn fill_for_good(data: &Path) {
    fill(data, "filler-1");
    wait_until("the reserve to be released", || {
        !data.join(intake::store::actor::RESERVE_FILE).exists()
    });
    fill(data, "filler-2");
}

/// After a failed commit the evidence is shed to give scans room; once it is gone, the
/// room it left is filled too, so the store stays full.
fn take_what_evidence_gave_back(data: &Path) {
    wait_until("the evidence to be shed for the scans", || {
        evidence_ids(data).is_empty()
    });
    fill(data, "filler-3");
}

fn free_disk(data: &Path) {
    for f in ["filler-1", "filler-2", "filler-3"] {
        let _ = std::fs::remove_file(data.join(f));
    }
}

fn evidence_ids(data: &Path) -> HashSet<String> {
    std::fs::read_dir(data.join("evidence"))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".jpg").map(str::to_owned)
        })
        .collect()
}

fn check_store(st: &Store) -> Vec<String> {
    assert_eq!(st.integrity_check().unwrap(), Ok(()));
    let v = st.verify_chain().unwrap();
    assert!(v.breaks.is_empty(), "{:?}", v.breaks);
    let ids: Vec<String> = st
        .scans(&ScanFilter::default())
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a scan stored twice");
    ids
}

#[test]
fn evidence_keeps_the_reserve_free_for_scans_shedding_the_oldest() {
    // 10 MiB: the store's reserves hold 5, the database and its WAL grow to 3 or so; evidence
    // may use what lies above 1 MiB free. Without that reserve the images (about 27 KB a
    // parcel) filled this disk and scans failed.
    let Some(st) = Station::new("10m", "evidence_min_free_mb = 1") else {
        return;
    };
    let d = st.start(&["--parcels", "80"]);
    let (code, log, _) = d.finish();
    assert_eq!(code, 0, "{log}");
    // Before the fix the images filled the disk: the store had to release its
    // emergency reserve to commit a scan (and then failed scans once it was gone).
    assert!(
        !log.contains("scan not stored") && !log.contains("released the reserve"),
        "evidence took the scans' space:\n{log}"
    );
    let ids = check_store(&st.store());
    assert_eq!(ids.len(), 80, "every parcel stored");
    let kept = evidence_ids(&st.data());
    assert!(
        log.contains("evidence shed, oldest first"),
        "the test disk is too large to need shedding ({} images kept)\n{log}",
        kept.len()
    );
    assert!(!kept.is_empty() && kept.len() < 80, "{} images", kept.len());
    // Shed oldest first: every image kept is newer than every scan whose image is gone
    // (the database's growth may leave the last few without room, never an old one kept).
    let first_kept = ids.iter().position(|id| kept.contains(id)).unwrap();
    assert!(
        ids[first_kept..]
            .iter()
            .filter(|id| !kept.contains(*id))
            .count()
            <= 3,
        "images shed out of order: {} kept from scan {first_kept} of 80",
        kept.len()
    );
    assert!(!kept.contains(&ids[0]), "the oldest image was kept");
    let free = free_bytes(&st.data());
    assert!(
        free >= 1024 * 1024 - 256 * 1024,
        "evidence left {free} bytes free, below the reserve"
    );
    figures(
        "disk-evidence",
        &format!(
            "disk full, evidence: 80 parcels on a 10 MiB tmpfs, all stored, the scans' reserve never touched; {} images kept (the rest shed oldest first), {free} bytes free at the end",
            kept.len()
        ),
    );
}

#[test]
fn a_scan_stored_on_a_retry_keeps_its_evidence() {
    // A bounded run: a parcel put down while the store failed is not taken; the simulated
    // operator puts it on again once the station takes parcels, so the run still ends with
    // its 8 scans.
    let Some((st, mut d, failed)) = failing_daemon("24m", &["--parcels", "8"]) else {
        return;
    };
    let data = st.data();
    free_disk(&data);
    d.wait_line(&format!("scan stored after a retry scan_id={failed}"));
    // Its image is written after the retry stored it (before the fix it never was).
    let image = data.join("evidence").join(format!("{failed}.jpg"));
    let start = Instant::now();
    while !image.is_file() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let (code, log, _) = d.finish();
    assert_eq!(code, 0, "{log}");
    let ids = check_store(&st.store());
    assert!(ids.contains(&failed), "the retried scan {failed} is stored");
    assert_eq!(
        ids.len(),
        8,
        "every parcel of the bounded run is stored\n{log}"
    );
    assert!(
        evidence_ids(&data).contains(&failed),
        "the scan stored on a retry lost its evidence image\n{log}"
    );
    figures(
        "disk-retry",
        "disk full, retry: the scan that failed its commit was stored on the retry with its evidence image",
    );
}

#[test]
fn a_bounded_run_gives_up_with_the_count_and_the_spill_is_imported_once() {
    let Some(st) = Station::new("24m", "evidence_min_free_mb = 1\ngive_up_after = \"2s\"") else {
        return;
    };
    let data = st.data();
    let mut d = st.start(&["--parcels", "50", "--json"]);
    d.verdicts(2);
    fill_for_good(&data);
    d.wait_line("scan not stored; keeping it and retrying");
    take_what_evidence_gave_back(&data);
    let (code, log, out) = d.finish();
    assert_eq!(code, 1, "gave up with exit 1\n{log}");
    let msg = log
        .lines()
        .find(|l| l.starts_with("error: gave up"))
        .unwrap_or_else(|| panic!("no give-up message\n{log}"));
    assert!(
        msg.contains("give_up_after") && msg.contains("pending"),
        "{msg}"
    );
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(summary["gave_up"], true);
    let pending = summary["unstored"].as_u64().unwrap();
    assert!(pending >= 1, "{summary}");
    assert!(msg.contains(&format!("{pending} scan(s) pending")), "{msg}");
    let spill = intake::store::spill::read(&data)
        .unwrap()
        .expect("a spill file");
    assert_eq!(spill.scans.len() as u64, pending);
    let before = check_store(&st.store());
    for s in &spill.scans {
        assert!(!before.contains(&s.id), "spilled {} was stored", s.id);
    }

    // Space returns; the next start stores the spilled scans, once, and removes the file.
    free_disk(&data);
    let (code, log, _) = st.start(&["--parcels", "1"]).finish();
    assert_eq!(code, 0, "{log}");
    assert!(!intake::store::spill::path_in(&data).exists());
    let after = check_store(&st.store());
    for s in &spill.scans {
        assert!(after.contains(&s.id), "spilled {} not imported", s.id);
    }
    assert_eq!(after.len(), before.len() + spill.scans.len() + 1);

    // A spill file whose scans are already stored (a crash after the import, before the
    // removal) is imported without a duplicate.
    intake::store::spill::append(&data, &spill.scans).unwrap();
    let (code, log, _) = st.start(&["--parcels", "1"]).finish();
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("already_stored"), "{log}");
    assert!(!intake::store::spill::path_in(&data).exists());
    assert_eq!(check_store(&st.store()).len(), after.len() + 1);
    figures(
        "disk-give-up",
        &format!(
            "disk full, bounded run: gave up after give_up_after = 2 s with exit 1, {pending} scan(s) pending in the spill file; the next start stored all {pending}, a second import of the same spill stored none twice"
        ),
    );
}

#[test]
fn sigterm_on_a_full_disk_spills_the_unstored_scans() {
    let Some((st, d, failed)) = failing_daemon("24m", &[]) else {
        return;
    };
    let data = st.data();
    take_what_evidence_gave_back(&data);
    sigterm(&d.child);
    let (code, log, _) = d.finish();
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("kept in") && log.contains("unstored.jsonl"),
        "{log}"
    );
    let spill = intake::store::spill::read(&data)
        .unwrap()
        .expect("a spill file");
    assert!(
        spill.scans.iter().any(|s| s.id == failed),
        "{failed} not spilled"
    );
    free_disk(&data);
    let (code, log, _) = st.start(&["--parcels", "1"]).finish();
    assert_eq!(code, 0, "{log}");
    assert!(check_store(&st.store()).contains(&failed));
    assert!(!intake::store::spill::path_in(&data).exists());
    figures(
        "disk-sigterm",
        &format!(
            "disk full, SIGTERM: {} unstored scan(s) spilled (fsynced), all stored at the next start",
            spill.scans.len()
        ),
    );
}
