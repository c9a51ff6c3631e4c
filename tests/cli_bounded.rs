//! Issue 16, item 2: bounded input. Every file a command reads is a regular file read within
//! a limit: `/dev/zero`, a FIFO and an over-large file are refused at once, and the commands
//! that stream (manifest import, scale decode) keep memory flat and output short however
//! long the file is. Peak memory is the child's VmHWM from /proc, sampled while it runs.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod util;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use util::Dir;

/// A finished child: exit code, stdout, stderr, and the largest VmHWM seen (KiB).
struct Measured {
    code: i32,
    stdout: String,
    stderr: String,
    peak_kib: u64,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs `cmd` to completion within `limit`, sampling its peak memory.
fn measure(mut cmd: Command, limit: Duration) -> Measured {
    let out_file = tempfile::tempfile().unwrap();
    let err_file = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(out_file.try_clone().unwrap())
        .stderr(err_file.try_clone().unwrap())
        .spawn()
        .expect("spawn intake");
    let deadline = Instant::now() + limit;
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = vm_hwm_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("intake did not finish within {limit:?} (blocked or unbounded?)");
        }
        std::thread::yield_now();
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        f.rewind().unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        s
    };
    Measured {
        code: status.code().unwrap_or(-1),
        stdout: read(out_file),
        stderr: read(err_file),
        peak_kib: peak,
    }
}

fn fifo(d: &Dir, name: &str) -> std::path::PathBuf {
    let p = d.join(name);
    let ok = Command::new("mkfifo").arg(&p).status().unwrap().success();
    assert!(ok, "mkfifo");
    p
}

#[track_caller]
fn refused_one_line(m: &Measured, what: &str) {
    assert_eq!(m.code, 2, "{what}\n{}\n{}", m.stdout, m.stderr);
    assert!(m.stderr.contains(what), "{}", m.stderr);
    assert_eq!(m.stderr.trim_end().lines().count(), 1, "{}", m.stderr);
}

#[test]
fn manifest_import_refuses_devices_fifos_and_huge_files() {
    // `manifest import /dev/zero` reached 22.5 GB before this.
    let d = Dir::new();
    let m = measure(
        d.cmd(&["manifest", "import", "/dev/zero"]),
        Duration::from_secs(20),
    );
    refused_one_line(&m, "is a character device, not a regular file");
    // A FIFO with no writer: opening it would block for ever.
    let p = fifo(&d, "orders.csv");
    let m = measure(
        d.cmd(&["manifest", "import", p.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    refused_one_line(&m, "is a FIFO (named pipe)");
    // A sparse 2 GiB file: refused by its length, nothing read.
    let big = d.join("big.csv");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let m = measure(
        d.cmd(&["manifest", "import", big.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    refused_one_line(&m, "more than the 1024 MiB");
    println!("figure: manifest import of /dev/zero, a FIFO, a 2 GiB file: refused at once");
}

#[test]
fn a_manifest_of_bad_rows_streams_in_flat_memory_and_reports_the_first_twenty() {
    // 200 MB of bad rows took 1.5 GB and printed 5.24 million lines; 24 MB here.
    let d = Dir::new();
    let path = d.join("bad.csv");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(
        f,
        "waybill,destination,declared_weight,declared_dims,quoted_price,consignee_id_on_file,duties"
    )
    .unwrap();
    let rows = 600_000;
    for i in 0..rows {
        writeln!(f, "NOTAWAYBILL{i:08},JP,1 lb,12x10x8 in,,no,").unwrap();
    }
    drop(f);
    let size = std::fs::metadata(&path).unwrap().len();
    let m = measure(
        d.cmd(&["manifest", "import", path.to_str().unwrap(), "--json"]),
        Duration::from_secs(120),
    );
    assert_eq!(m.code, 2, "{}", m.stderr);
    let lines: Vec<&str> = m.stderr.lines().collect();
    assert_eq!(lines.len(), 21, "{}", &m.stderr[..m.stderr.len().min(2000)]);
    assert!(
        lines[0].contains("bad.csv:2: skipped: waybill"),
        "{}",
        lines[0]
    );
    assert!(
        lines[20].contains(&format!("and {} more rows skipped", rows - 20)),
        "{}",
        lines[20]
    );
    let v: serde_json::Value = serde_json::from_str(m.stdout.trim()).unwrap();
    assert_eq!(v["rejected_total"], rows);
    assert_eq!(v["rejected"].as_array().unwrap().len(), 20);
    assert!(m.peak_kib < 96 * 1024, "peak {} KiB", m.peak_kib);
    println!(
        "figure: manifest import of {} MB of bad rows: peak {} KiB, {} stderr lines",
        size / 1_000_000,
        m.peak_kib,
        lines.len()
    );
}

#[test]
fn config_check_refuses_a_device_as_rate_card_or_manifest_and_a_huge_config() {
    let d = Dir::new();
    for (from, to, what) in [
        (
            "rate_card = \"rates.toml\"",
            "rate_card = \"/dev/zero\"",
            "rate",
        ),
        (
            "preload = \"manifest-sample.csv\"",
            "preload = \"/dev/zero\"",
            "manifest",
        ),
    ] {
        let text = intake::config::EMBEDDED_CONFIG.replace(from, to);
        assert_ne!(text, intake::config::EMBEDDED_CONFIG, "{from}");
        let cfg = d.write("station.toml", &text);
        d.write("rates.toml", include_str!("../config/rates.toml"));
        d.write(
            "manifest-sample.csv",
            include_str!("../config/manifest-sample.csv"),
        );
        let m = measure(
            d.cmd(&["config", "check", cfg.to_str().unwrap()]),
            Duration::from_secs(20),
        );
        assert_eq!(m.code, 2, "{what}: {}{}", m.stdout, m.stderr);
        assert!(
            m.stderr.contains("/dev/zero") && m.stderr.contains("not a regular file"),
            "{what}: {}",
            m.stderr
        );
        assert!(m.peak_kib < 64 * 1024, "{what}: peak {} KiB", m.peak_kib);
    }
    let cfg = d.join("huge.toml");
    std::fs::File::create(&cfg)
        .unwrap()
        .set_len(65 << 20)
        .unwrap();
    let m = measure(
        d.cmd(&["config", "check", cfg.to_str().unwrap()]),
        Duration::from_secs(20),
    );
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(m.stderr.contains("more than the 64 MiB"), "{}", m.stderr);
    let m = measure(
        d.cmd(&["config", "check", "/dev/zero"]),
        Duration::from_secs(20),
    );
    assert_eq!(m.code, 2, "{}", m.stderr);
    assert!(m.stderr.contains("character device"), "{}", m.stderr);
}

#[test]
fn scale_decode_streams_and_merges_a_run_of_rejected_bytes() {
    // A 40 MB run of line feeds gave 3.98 GB and one rejected frame per byte.
    let d = Dir::new();
    let path = d.join("lf.bin");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let chunk = vec![b'\n'; 1 << 20];
    for _ in 0..40 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    for protocol in ["mt-sics", "toledo", "sma", "nci", "cas"] {
        let m = measure(
            d.cmd(&[
                "scale",
                "decode",
                "--protocol",
                protocol,
                path.to_str().unwrap(),
            ]),
            Duration::from_secs(120),
        );
        assert_eq!(m.code, 0, "{protocol}: {}", m.stderr);
        let lines: Vec<&str> = m.stdout.lines().collect();
        assert!(lines.len() <= 2, "{protocol}: {} lines", lines.len());
        assert!(lines[0].starts_with("rejected"), "{protocol}: {}", lines[0]);
        assert!(
            m.peak_kib < 64 * 1024,
            "{protocol}: peak {} KiB",
            m.peak_kib
        );
        println!(
            "figure: scale decode --protocol {protocol} of 40 MiB of line feeds: {} line(s), peak {} KiB",
            lines.len(),
            m.peak_kib
        );
    }
    // The run ends where real frames begin, and those print as before: the Toledo
    // transcript (hal/tests/fixtures/scale/toledo-wildcat.bin) after the line feeds.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/hal/tests/fixtures/scale/toledo-wildcat.bin"
    );
    let alone = d
        .run(&["scale", "decode", "--protocol", "toledo", fixture])
        .expect_code(0)
        .stdout();
    let mut both = std::fs::read(&path).unwrap();
    both.extend(std::fs::read(fixture).unwrap());
    let both_path = d.join("lf-then-toledo.bin");
    std::fs::write(&both_path, both).unwrap();
    let after = d
        .run(&[
            "scale",
            "decode",
            "--protocol",
            "toledo",
            both_path.to_str().unwrap(),
        ])
        .expect_code(0)
        .stdout();
    // The transcript begins with 7 bytes of a cut frame: garbage like the line feeds, so
    // they join their run.
    let (first, rest) = after.split_once('\n').unwrap();
    assert!(
        first.starts_with("rejected") && first.contains("in a row"),
        "{first}"
    );
    assert!(rest.contains("reading"), "{rest}");
    assert_eq!(rest, alone.split_once('\n').unwrap().1);

    let m = measure(
        d.cmd(&["scale", "decode", "--protocol", "toledo", "/dev/zero"]),
        Duration::from_secs(20),
    );
    refused_one_line(&m, "character device");
    let p = fifo(&d, "cap.bin");
    let m = measure(
        d.cmd(&[
            "scale",
            "decode",
            "--protocol",
            "toledo",
            p.to_str().unwrap(),
        ]),
        Duration::from_secs(20),
    );
    refused_one_line(&m, "FIFO");
}
