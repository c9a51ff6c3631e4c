//! A flood of idle connections at the common 1,024-descriptor limit: the daemon keeps
//! committing scans, writing evidence images and its status file, and answering
//! `/healthz`, because clients never get the descriptors it keeps for itself and quiet
//! connections are closed to make room.
//!
//! The finding this holds against: with no connection timeout or cap, 1,100 idle
//! connections to a daemon limited to 1,024 descriptors made it drop evidence images, stop
//! writing its status file and stop answering `/healthz`.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod web_util;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use web_util::{Daemon, StationDir, get, wait_for};

const FLOOD: usize = 1_100;

fn nofile(pid: &str) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn evidence_files(dir: &StationDir) -> usize {
    std::fs::read_dir(dir.dir.path().join("data/evidence"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".jpg"))
                .count()
        })
        .unwrap_or(0)
}

fn parcels_in_status(dir: &StationDir) -> u64 {
    std::fs::read_to_string(dir.dir.path().join("data/status.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["parcels_this_run"].as_u64())
        .unwrap_or(0)
}

/// Keeps `FLOOD` idle connections open to `addr`: whenever the server closes one, it is
/// opened again, as a real flood would. Stops when `stop` is set.
fn flood(
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    open: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let connect = || {
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
            s.set_nonblocking(true).ok()?;
            Some(s)
        };
        let mut conns: Vec<Option<TcpStream>> = (0..FLOOD).map(|_| connect()).collect();
        let mut reopened = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            let mut n = 0;
            for c in &mut conns {
                let mut byte = [0u8; 256];
                let closed = match c {
                    None => true,
                    Some(s) => match s.read(&mut byte) {
                        Ok(0) => true,
                        // The 503 of a refused connection, then its close.
                        Ok(_) => false,
                        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                    },
                };
                if closed {
                    *c = connect();
                    reopened += 1;
                }
                n += usize::from(c.is_some());
            }
            open.store(n, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20));
        }
        reopened
    })
}

#[test]
fn a_thousand_idle_connections_at_a_1024_descriptor_limit_leave_the_station_working() {
    let own = nofile("self");
    assert!(
        own >= (FLOOD as u64) + 200,
        "this test holds {FLOOD} connections itself: raise its descriptor limit (ulimit -n 4096), it is {own}"
    );
    let dir = StationDir::new(&[], "");
    let d = Daemon::start_wrapped(
        &dir,
        "127.0.0.1:0",
        &["--fast"],
        &["prlimit", "--nofile=1024:1024", "--"],
    );
    assert_eq!(
        nofile(&d.child.id().to_string()),
        1024,
        "the daemon runs at the limit"
    );
    d.wait_ready();
    let addr: SocketAddr = format!("127.0.0.1:{}", d.port()).parse().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let open = Arc::new(AtomicUsize::new(0));
    let flooder = flood(addr, stop.clone(), open.clone());
    wait_for("the flood to be open", Duration::from_secs(60), || {
        (open.load(Ordering::Relaxed) >= FLOOD - 10).then_some(())
    });
    let flood_started = Instant::now();

    // While the flood is held open: /healthz answers...
    let evidence_before = evidence_files(&dir);
    let parcels_before = parcels_in_status(&dir);
    for _ in 0..5 {
        let h = get(&format!("http://{addr}/healthz"));
        assert_eq!(h.status, 200, "/healthz under the flood: {}", h.text());
    }
    // ...scans go on being committed, with their evidence images and the status file.
    wait_for(
        "evidence images under the flood",
        Duration::from_secs(60),
        || (evidence_files(&dir) >= evidence_before + 5).then_some(()),
    );
    wait_for(
        "the status file under the flood",
        Duration::from_secs(60),
        || (parcels_in_status(&dir) >= parcels_before + 5).then_some(()),
    );
    let m = get(&format!("http://{addr}/metrics")).text();
    let held_at = flood_started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let reopened = flooder.join().unwrap();

    let count = |name: &str| -> u64 {
        m.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not in /metrics"))
            .parse()
            .unwrap()
    };
    let evicted = count("intake_web_connections_evicted_total");
    let refused = count("intake_web_connections_refused_total");
    assert!(evicted + refused > 0, "the flood was not noticed");
    let log = d.log_text();
    assert!(
        !log.contains("Too many open files") && !log.contains("os error 24"),
        "the daemon ran out of descriptors:\n{log}"
    );
    eprintln!(
        "flood of {FLOOD} held {:.1}s: {evicted} evicted, {refused} refused with 503, {reopened} reopened by the flooder; evidence {} -> {}",
        held_at.as_secs_f64(),
        evidence_before,
        evidence_files(&dir)
    );
}
