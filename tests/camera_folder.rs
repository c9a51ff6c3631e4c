//! The drop-folder camera against real files: written slowly, renamed into place,
//! truncated and corrupt (clear error, nothing lost), and written before the trigger (not
//! taken). Each test arms the camera and only then starts its writer.

#![allow(clippy::unwrap_used)]

mod camera_util;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use camera_util::{WAYBILL, encoded, label_frame};
use intake_hal::ErrorKind;
use intake_hal::camera::FolderCamera;
use intake_hal::camera::config::{After, FolderSettings};

fn settings(dir: &Path, after: After) -> FolderSettings {
    FolderSettings {
        path: dir.join("in"),
        after,
        archive_path: dir.join("archive"),
        timeout: Duration::from_secs(4),
        settle: Duration::from_millis(150),
    }
}

fn png() -> Vec<u8> {
    encoded(&label_frame(WAYBILL), image::ImageFormat::Png)
}

/// Runs `take_next`, starting `writer` on another thread once the camera is armed.
fn take_while(
    s: &FolderSettings,
    writer: impl FnOnce(PathBuf) + Send + 'static,
) -> Result<image::GrayImage, intake_hal::DeviceError> {
    std::fs::create_dir_all(&s.path).unwrap();
    let mut cam = FolderCamera::open(s);
    let (tx, rx) = mpsc::channel::<()>();
    let dir = s.path.clone();
    let w = std::thread::spawn(move || {
        if rx.recv().is_ok() {
            writer(dir);
        }
    });
    let mut go = Some(tx);
    let r = cam.take_next(&mut || {
        if let Some(tx) = go.take() {
            tx.send(()).unwrap();
        }
    });
    w.join().unwrap();
    r
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_slowly_written_file_is_taken_only_when_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), After::Archive);
    let bytes = png();
    let img = take_while(&s, move |dir| {
        let mut f = std::fs::File::create(dir.join("frame-0001.png")).unwrap();
        // Half, then a pause longer than `settle` with the file still open (an FTP upload
        // stalling), then the rest.
        f.write_all(&bytes[..bytes.len() / 2]).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(400));
        f.write_all(&bytes[bytes.len() / 2..]).unwrap();
    })
    .unwrap();
    assert_eq!(img.dimensions(), (1280, 720));
    // Archived, nothing left or rejected in the folder.
    assert_eq!(names(&s.path), Vec::<String>::new());
    assert_eq!(names(&s.archive_path), vec!["frame-0001.png"]);
}

#[test]
fn a_file_renamed_into_place_is_taken_and_its_temp_name_never() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), After::Delete);
    let bytes = png();
    let img = take_while(&s, move |dir| {
        let part = dir.join("frame.png.part");
        std::fs::write(&part, &bytes).unwrap();
        std::fs::rename(&part, dir.join("frame.png")).unwrap();
    })
    .unwrap();
    assert_eq!(img.dimensions(), (1280, 720));
    assert_eq!(names(&s.path), Vec::<String>::new(), "deleted after taking");
}

#[test]
fn a_file_from_before_the_trigger_is_not_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = settings(tmp.path(), After::Archive);
    s.timeout = Duration::from_millis(600);
    std::fs::create_dir_all(&s.path).unwrap();
    std::fs::write(s.path.join("old.png"), png()).unwrap();
    let e = take_while(&s, |_| {}).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.detail.contains("no new complete image"), "{e}");
    assert_eq!(names(&s.path), vec!["old.png"], "left alone");
}

#[test]
fn truncated_and_corrupt_files_give_a_clear_error_and_are_kept() {
    for (name, bytes) in [
        ("truncated.png", png()[..5000].to_vec()),
        ("corrupt.jpg", b"\xff\xd8\xff\xe0 this is no JPEG".to_vec()),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let s = settings(tmp.path(), After::Delete);
        let e = take_while(&s, move |dir| {
            // Written and closed at once: the writer says it is done, so no waiting.
            std::fs::write(dir.join(name), &bytes).unwrap();
        })
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
        assert!(
            e.detail.contains(name) && e.detail.contains("truncated or corrupt"),
            "{e}"
        );
        assert_eq!(
            names(&s.path),
            vec![format!("{name}.rejected")],
            "never lost"
        );
    }
}

#[test]
fn the_newest_of_several_new_files_is_taken() {
    let tmp = tempfile::tempdir().unwrap();
    let s = settings(tmp.path(), After::Keep);
    let a = encoded(&label_frame("RA000000005GB"), image::ImageFormat::Png);
    let b = encoded(&image::GrayImage::new(640, 480), image::ImageFormat::Png);
    let img = take_while(&s, move |dir| {
        // Both appear in one rename-free burst; b is written last.
        std::fs::write(dir.join("a.png"), &a).unwrap();
        std::fs::write(dir.join("b.png"), &b).unwrap();
    })
    .unwrap();
    // Either file may be complete first; when both are, the newer wins. a is never taken
    // after b.
    assert!(matches!(img.dimensions(), (640, 480) | (1280, 720)));
    assert_eq!(names(&s.path), vec!["a.png", "b.png"], "kept");
}

/// The daemon on the simulated dock with `[camera] type = "folder"`: at each parcel's
/// trigger the test drops a file into the folder — a corrupt JPEG, a truncated PNG, then a
/// good label. The first two parcels go to `manual` with `no_read` and the camera's note in
/// the log, their files are kept (`.rejected`), and the third parcel's label is read.
#[test]
fn the_daemon_survives_corrupt_and_truncated_drops_and_reads_the_next_good_one() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use intake::rules::{Disposition, Reason};
    use intake::store::{ScanFilter, Store};

    // A waybill of the sample manifest, so the third scan is priced like any other.
    const GOOD: &str = "EA100158386US";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (inbox, archive) = (dir.join("inbox"), dir.join("archive"));
    std::fs::create_dir_all(&inbox).unwrap();
    let cfg = camera_util::station_with_camera(
        dir,
        &format!(
            "type = \"folder\"\npath = \"{}\"\nafter = \"archive\"\narchive_path = \"{}\"\ntimeout = \"2 s\"",
            inbox.display(),
            archive.display()
        ),
    );
    let drops: Vec<(&str, Vec<u8>)> = vec![
        ("corrupt.jpg", b"\xff\xd8\xff\xe0 this is no JPEG".to_vec()),
        ("truncated.png", png()[..5000].to_vec()),
        (
            "good.png",
            encoded(&label_frame(GOOD), image::ImageFormat::Png),
        ),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .args(["--parcels", "3", "--fast", "--json"])
        .current_dir(dir)
        .env_remove("INTAKE_CONFIG")
        .env("RUST_LOG", "info,intake_hal::camera=debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Each time the camera is armed (the parcel's trigger), the next file is dropped.
    let stderr = child.stderr.take().unwrap();
    let drop_dir = inbox.clone();
    let logger = std::thread::spawn(move || {
        let mut log = Vec::new();
        let mut next = drops.into_iter();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if line.contains("camera folder armed")
                && let Some((name, bytes)) = next.next()
            {
                std::fs::write(drop_dir.join(name), bytes).unwrap();
            }
            log.push(line);
        }
        log
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the daemon did not finish 3 parcels within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = logger.join().unwrap().join("\n");
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "{status}\n{log}");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["parcels"], 3, "{summary}");

    // Every parcel is one scan: the two bad drops manual/no_read, then the good label read.
    let scans = Store::open(&dir.join("data/intake.db"))
        .unwrap()
        .scans(&ScanFilter::default())
        .unwrap();
    assert_eq!(scans.len(), 3, "{log}");
    for s in &scans[..2] {
        assert_eq!(s.disposition, Disposition::Manual, "{}", s.to_json());
        assert!(s.reasons.contains(&Reason::NoRead), "{}", s.to_json());
        assert_eq!(s.waybill, None);
    }
    assert_eq!(scans[2].waybill.as_deref(), Some(GOOD), "{log}");
    assert!(!scans[2].reasons.contains(&Reason::NoRead));
    // The device note names each bad file and what is wrong with it.
    for name in ["corrupt.jpg", "truncated.png"] {
        assert!(
            log.lines().any(|l| l.contains("label not read")
                && l.contains(name)
                && l.contains("truncated or corrupt")),
            "no camera note for {name}:\n{log}"
        );
    }
    // Nothing lost: the bad files stay beside the folder, set aside; the good one archived.
    assert_eq!(
        names(&inbox),
        vec!["corrupt.jpg.rejected", "truncated.png.rejected"]
    );
    assert_eq!(names(&archive), vec!["good.png"]);
}
