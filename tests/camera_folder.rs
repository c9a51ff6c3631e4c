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
