//! Evidence images: each scan keeps its camera frame, downscaled, with the barcode's position
//! marked, as `<data_dir>/evidence/<scan_id>.jpg`; billing checks a repricing against it.
//!
//! Rendering is pure (frame in, JPEG bytes out) and so are the retention plan (files, time
//! and limits in, the files to delete out) and the space plan (files, free space and the
//! reserve in: what to shed, and whether the new image may be written). The writer thread
//! does the file IO off the station's path: a verdict never waits for its evidence.
//!
//! Scans come first: an image is written only while the disk keeps `[station]
//! evidence_min_free_mb` free after it; to stay above that, the oldest images are shed, and
//! when shedding cannot make room the image is not kept. When a commit fails the daemon asks
//! the writer to shed down to the reserve at once ([`EvidenceWriter::make_room`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use image::{GrayImage, Rgb, RgbImage};
use jiff::Timestamp;
use tracing::{debug, info, warn};

use crate::barcode::Point;
use crate::web::config::EvidenceRetention;

/// Evidence images are at most this wide (a 1280×720 frame becomes 640×360).
pub const WIDTH: u32 = 640;
const JPEG_QUALITY: u8 = 75;
/// Retention and free space are also checked this often when no scan arrives.
const PRUNE_EVERY: Duration = Duration::from_secs(30);

/// One decoded symbol's outline on the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mark {
    pub corners: [Point; 4],
    /// The symbol that carried the waybill (drawn bold); others are drawn thin.
    pub chosen: bool,
}

/// A captured frame and the symbols found on it, kept until the scan is stored.
#[derive(Clone, PartialEq)]
pub struct EvidenceFrame {
    pub image: GrayImage,
    pub marks: Vec<Mark>,
}

impl std::fmt::Debug for EvidenceFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "EvidenceFrame({}×{}, {} mark(s))",
            self.image.width(),
            self.image.height(),
            self.marks.len()
        )
    }
}

/// Why an evidence image could not be made or kept (the scan itself is stored regardless).
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("cannot encode the evidence image: {0}")]
    Encode(#[from] image::ImageError),
    #[error(
        "cannot write evidence in {dir}: {source}; check the disk has space and station.data_dir is writable"
    )]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// Downscales the frame to at most [`WIDTH`] wide, marks the symbols and encodes a JPEG.
pub fn render(frame: &EvidenceFrame) -> Result<Vec<u8>, EvidenceError> {
    let (w, h) = frame.image.dimensions();
    let scale = if w > WIDTH {
        WIDTH as f32 / w as f32
    } else {
        1.0
    };
    let (nw, nh) = (
        ((w as f32 * scale).round() as u32).max(1),
        ((h as f32 * scale).round() as u32).max(1),
    );
    let small = if scale < 1.0 {
        image::imageops::resize(&frame.image, nw, nh, image::imageops::FilterType::Triangle)
    } else {
        frame.image.clone()
    };
    let mut rgb = RgbImage::from_fn(small.width(), small.height(), |x, y| {
        let v = small.get_pixel(x, y).0[0];
        Rgb([v, v, v])
    });
    // Thin outlines first, so the chosen symbol's bold one is drawn over them.
    let mut marks = frame.marks.clone();
    marks.sort_by_key(|m| m.chosen);
    for m in &marks {
        let pts: Vec<(f32, f32)> = m
            .corners
            .iter()
            .map(|p| (p.x * scale, p.y * scale))
            .collect();
        for i in 0..4 {
            let (a, b) = (pts[i], pts[(i + 1) % 4]);
            if m.chosen {
                // Black under yellow: visible on a white label and on a dark parcel alike.
                line(&mut rgb, a, b, 3, Rgb([0, 0, 0]));
                line(&mut rgb, a, b, 1, Rgb([255, 214, 0]));
            } else {
                line(&mut rgb, a, b, 1, Rgb([0, 190, 255]));
            }
        }
    }
    let mut out = Vec::with_capacity(48 * 1024);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)
        .encode_image(&rgb)?;
    Ok(out)
}

/// Draws a line `half` pixels either side of its centre, clipped to the image.
fn line(img: &mut RgbImage, a: (f32, f32), b: (f32, f32), half: i64, colour: Rgb<u8>) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let steps = (b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil().max(1.0) as i64;
    if steps > 100_000 {
        return; // corners far outside any frame: nothing sensible to draw
    }
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let cx = (a.0 + (b.0 - a.0) * t).round() as i64;
        let cy = (a.1 + (b.1 - a.1) * t).round() as i64;
        for y in (cy - half).max(0)..=(cy + half).min(h - 1) {
            for x in (cx - half).max(0)..=(cx + half).min(w - 1) {
                // In range by the clamps above.
                img.put_pixel(x as u32, y as u32, colour);
            }
        }
    }
}

/// The scan id an evidence file name stands for, when it is one of ours (`<uuid>.jpg`),
/// with the time its UUIDv7 carries.
pub fn parse_name(name: &str) -> Option<(String, Timestamp)> {
    let id = name.strip_suffix(".jpg")?;
    let uuid = uuid::Uuid::parse_str(id).ok()?;
    if uuid.hyphenated().to_string() != id {
        return None;
    }
    let (secs, nanos) = uuid.get_timestamp()?.to_unix();
    let at = Timestamp::new(i64::try_from(secs).ok()?, i32::try_from(nanos).ok()?).ok()?;
    Some((id.to_owned(), at))
}

/// The file an evidence image of `scan_id` lives in; `None` for an id that is not a UUID
/// (so a request can never name another file).
pub fn path_for(dir: &Path, scan_id: &str) -> Option<PathBuf> {
    let uuid = uuid::Uuid::parse_str(scan_id).ok()?;
    Some(dir.join(format!("{}.jpg", uuid.hyphenated())))
}

/// The evidence folder of a data dir.
pub fn dir_in(data_dir: &Path) -> PathBuf {
    data_dir.join("evidence")
}

/// One kept image, for the retention plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    pub scan_id: String,
    pub at: Timestamp,
    pub bytes: u64,
}

/// Which kept images to delete (pure): those older than `keep_days`, then the oldest until
/// the rest fit in `max_bytes`. `kept` is in age order, oldest first.
pub fn plan_prune(kept: &[Kept], now: Timestamp, r: EvidenceRetention) -> Vec<usize> {
    let cutoff = now
        .checked_sub(jiff::SignedDuration::from_hours(
            24 * i64::from(r.keep_days),
        ))
        .unwrap_or(Timestamp::MIN);
    let mut total: u64 = kept.iter().map(|k| k.bytes).sum();
    let mut out = Vec::new();
    for (i, k) in kept.iter().enumerate() {
        if k.at < cutoff || total > r.max_bytes {
            total -= k.bytes;
            out.push(i);
        } else {
            break;
        }
    }
    out
}

/// What to do about disk space before writing `need` bytes (pure): the oldest images to
/// shed (indexes into `kept`, oldest first) so that `free` stays at or above `min_free`
/// after the write, and whether the write may then go ahead (false when shedding every
/// image would not make room: nothing is shed then, and the image is not kept).
pub fn plan_space(kept: &[Kept], free: u64, need: u64, min_free: u64) -> (Vec<usize>, bool) {
    let want = min_free.saturating_add(need);
    let mut have = free;
    let mut shed = Vec::new();
    for (i, k) in kept.iter().enumerate() {
        if have >= want {
            break;
        }
        have = have.saturating_add(k.bytes);
        shed.push(i);
    }
    if have >= want {
        (shed, true)
    } else if need == 0 {
        // Making room for scans: shed everything, it is all we can give.
        (shed, false)
    } else {
        (Vec::new(), false)
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let st = rustix::fs::statvfs(dir).ok()?;
    Some(st.f_bavail.saturating_mul(st.f_frsize))
}

/// How much evidence is kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub files: u64,
    pub bytes: u64,
}

/// The evidence folder and an index of what it holds (kept in memory, in age order).
#[derive(Debug)]
pub struct EvidenceDir {
    dir: PathBuf,
    retention: EvidenceRetention,
    index: BTreeMap<(Timestamp, String), u64>,
}

impl EvidenceDir {
    /// Opens (creating) the folder and indexes the images already there.
    pub fn open(dir: &Path, retention: EvidenceRetention) -> Result<EvidenceDir, EvidenceError> {
        let io = |source| EvidenceError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut index = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name();
            let Some((id, at)) = name.to_str().and_then(parse_name) else {
                continue;
            };
            let bytes = entry.metadata().map_err(io)?.len();
            index.insert((at, id), bytes);
        }
        Ok(EvidenceDir {
            dir: dir.to_path_buf(),
            retention,
            index,
        })
    }

    pub fn usage(&self) -> Usage {
        Usage {
            files: self.index.len() as u64,
            bytes: self.index.values().sum(),
        }
    }

    /// Writes one image (atomically: a temporary file renamed into place).
    pub fn save(&mut self, scan_id: &str, at: Timestamp, jpeg: &[u8]) -> Result<(), EvidenceError> {
        let io = |source| EvidenceError::Io {
            dir: self.dir.clone(),
            source,
        };
        let Some(path) = path_for(&self.dir, scan_id) else {
            return Ok(());
        };
        let tmp = path.with_extension("jpg.tmp");
        std::fs::write(&tmp, jpeg).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        self.index
            .insert((at, scan_id.to_owned()), jpeg.len() as u64);
        Ok(())
    }

    fn kept(&self) -> Vec<Kept> {
        self.index
            .iter()
            .map(|((at, id), bytes)| Kept {
                scan_id: id.clone(),
                at: *at,
                bytes: *bytes,
            })
            .collect()
    }

    /// Sheds the oldest images so that writing `need` bytes leaves `min_free` free on the
    /// disk; false when the image must not be written (no room even with none kept).
    pub fn make_room(&mut self, need: u64, min_free: u64) -> bool {
        let Some(free) = free_bytes(&self.dir) else {
            return true; // cannot tell: write, as before there was a reserve
        };
        let kept = self.kept();
        let (plan, fits) = plan_space(&kept, free, need, min_free);
        if !plan.is_empty() {
            let shed = self.delete(&kept, plan);
            info!(
                shed,
                free, min_free, "evidence shed, oldest first: the disk keeps its reserve for scans"
            );
        }
        fits
    }

    /// Deletes what the retention limits no longer allow; returns how many were deleted.
    pub fn prune(&mut self, now: Timestamp) -> usize {
        let kept = self.kept();
        let plan = plan_prune(&kept, now, self.retention);
        self.delete(&kept, plan)
    }

    fn delete(&mut self, kept: &[Kept], plan: Vec<usize>) -> usize {
        let mut deleted = 0;
        for i in plan {
            let k = &kept[i];
            let Some(path) = path_for(&self.dir, &k.scan_id) else {
                continue;
            };
            match std::fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    warn!(path = %path.display(), error = %e, "cannot delete old evidence");
                    continue;
                }
            }
            self.index.remove(&(k.at, k.scan_id.clone()));
        }
        deleted
    }
}

/// Told when an image was saved (the dashboard shows it) and how much is kept.
pub type OnSaved = Box<dyn Fn(&str, Usage) + Send>;

enum Job {
    Save {
        scan_id: String,
        at: Timestamp,
        frame: Box<EvidenceFrame>,
    },
    /// A commit failed: shed down to the reserve now.
    MakeRoom,
    Finish,
}

/// The evidence writer thread.
pub struct EvidenceWriter {
    tx: std_mpsc::Sender<Job>,
    thread: Option<JoinHandle<()>>,
}

impl EvidenceWriter {
    /// Starts the writer on `dir`. A folder that cannot be opened is logged, and scans go on
    /// without evidence.
    pub fn spawn(
        dir: &Path,
        retention: EvidenceRetention,
        min_free: u64,
        on_saved: OnSaved,
    ) -> std::io::Result<EvidenceWriter> {
        let (tx, rx) = std_mpsc::channel::<Job>();
        let opened = EvidenceDir::open(dir, retention);
        let thread = std::thread::Builder::new()
            .name("intake-evidence".into())
            .spawn(move || {
                let mut ev = match opened {
                    Ok(ev) => ev,
                    Err(e) => {
                        warn!(error = %e, "no evidence images will be kept");
                        while let Ok(Job::Save { .. } | Job::MakeRoom) = rx.recv() {}
                        return;
                    }
                };
                let pruned = ev.prune(Timestamp::now());
                let u = ev.usage();
                info!(
                    files = u.files,
                    bytes = u.bytes,
                    pruned,
                    "evidence folder indexed"
                );
                on_saved("", u);
                loop {
                    match rx.recv_timeout(PRUNE_EVERY) {
                        Ok(Job::Save { scan_id, at, frame }) => {
                            let saved = render(&frame).and_then(|jpeg| {
                                if retention.max_bytes == 0 {
                                    return Ok(false);
                                }
                                if !ev.make_room(jpeg.len() as u64, min_free) {
                                    warn!(scan_id = %scan_id, min_free,
                                        "evidence not kept: the disk keeps its free space for scans");
                                    on_saved("", ev.usage());
                                    return Ok(false);
                                }
                                ev.save(&scan_id, at, &jpeg).map(|()| true)
                            });
                            match saved {
                                Ok(true) => {
                                    ev.prune(Timestamp::now());
                                    debug!(scan_id = %scan_id, "evidence saved");
                                    on_saved(&scan_id, ev.usage());
                                }
                                Ok(false) => {}
                                Err(e) => {
                                    warn!(scan_id = %scan_id, error = %e, "evidence not kept")
                                }
                            }
                        }
                        Ok(Job::MakeRoom) => {
                            ev.make_room(0, min_free);
                            on_saved("", ev.usage());
                        }
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {
                            let before = ev.usage();
                            ev.prune(Timestamp::now());
                            ev.make_room(0, min_free);
                            if ev.usage() != before {
                                on_saved("", ev.usage());
                            }
                        }
                        Ok(Job::Finish) | Err(std_mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(EvidenceWriter {
            tx,
            thread: Some(thread),
        })
    }

    /// Queues a stored scan's frame.
    pub fn save(&self, scan_id: &str, at: Timestamp, frame: Box<EvidenceFrame>) {
        let _ = self.tx.send(Job::Save {
            scan_id: scan_id.to_owned(),
            at,
            frame,
        });
    }

    /// Sheds evidence down to the reserve now (a commit failed: scans need the space).
    pub fn make_room(&self) {
        let _ = self.tx.send(Job::MakeRoom);
    }

    /// Writes what is queued and ends the thread.
    pub fn finish(mut self) {
        let _ = self.tx.send(Job::Finish);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            warn!("the evidence thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn kept(at: i64, bytes: u64) -> Kept {
        Kept {
            scan_id: format!("s{at}"),
            at: ts(at),
            bytes,
        }
    }

    const DAY: i64 = 86_400;

    #[test]
    fn prune_plan_drops_the_old_then_the_oldest_over_the_byte_limit() {
        let r = EvidenceRetention {
            keep_days: 2,
            max_bytes: 250,
        };
        let now = ts(10 * DAY);
        let files = [
            kept(7 * DAY, 10),     // older than 2 days
            kept(8 * DAY - 1, 10), // just older
            kept(8 * DAY, 100),    // exactly 2 days: kept by age...
            kept(9 * DAY, 100),
            kept(10 * DAY, 100), // ...but 300 > 250: the oldest left goes
        ];
        assert_eq!(plan_prune(&files, now, r), vec![0, 1, 2]);
        let roomy = EvidenceRetention {
            keep_days: 2,
            max_bytes: 1000,
        };
        assert_eq!(plan_prune(&files, now, roomy), vec![0, 1]);
        let none = EvidenceRetention {
            keep_days: 30,
            max_bytes: 0,
        };
        assert_eq!(plan_prune(&files, now, none), vec![0, 1, 2, 3, 4]);
        assert!(plan_prune(&[], now, r).is_empty());
    }

    fn frame_with_mark() -> EvidenceFrame {
        let image = GrayImage::from_pixel(1280, 720, image::Luma([255]));
        let p = |x, y| Point { x, y };
        EvidenceFrame {
            image,
            marks: vec![Mark {
                corners: [
                    p(400.0, 300.0),
                    p(880.0, 300.0),
                    p(880.0, 420.0),
                    p(400.0, 420.0),
                ],
                chosen: true,
            }],
        }
    }

    #[test]
    fn space_plan_sheds_the_oldest_to_keep_the_reserve_or_refuses_the_image() {
        let files = [kept(1, 100), kept(2, 100), kept(3, 100)];
        // Room enough: nothing shed.
        assert_eq!(plan_space(&files, 1000, 50, 500), (vec![], true));
        // Exactly at the reserve after the write is fine.
        assert_eq!(plan_space(&files, 550, 50, 500), (vec![], true));
        // 1 byte short: the oldest goes.
        assert_eq!(plan_space(&files, 549, 50, 500), (vec![0], true));
        assert_eq!(plan_space(&files, 360, 50, 500), (vec![0, 1], true));
        // Even with all three shed there is no room: keep them, skip the new image.
        assert_eq!(plan_space(&files, 100, 500, 500), (vec![], false));
        assert_eq!(plan_space(&[], 0, 1, 0), (vec![], false));
        // Making room for scans (need 0) sheds all it can, even if not enough.
        assert_eq!(plan_space(&files, 100, 0, 500), (vec![0, 1, 2], false));
        assert_eq!(plan_space(&files, 100, 0, 300), (vec![0, 1], true));
    }

    #[test]
    fn render_downscales_and_marks_the_barcode() {
        let jpeg = render(&frame_with_mark()).unwrap();
        let img = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (640, 360));
        // The outline's top edge runs along y = 150 from x = 200 to 440: yellow there
        // (JPEG shifts colours a little), white well inside the box.
        let on = img.get_pixel(320, 150).0;
        assert!(on[0] > 180 && on[1] > 150 && on[2] < 90, "{on:?}");
        let inside = img.get_pixel(320, 180).0;
        assert!(inside.iter().all(|&c| c > 230), "{inside:?}");
        // Corners far outside the frame are clipped, not a panic.
        let mut f = frame_with_mark();
        f.marks[0].corners[2] = Point { x: 1e6, y: -1e6 };
        render(&f).unwrap();
    }

    #[test]
    fn names_are_scan_uuids_only() {
        let id = crate::scan::new_scan_id();
        let (back, at) = parse_name(&format!("{id}.jpg")).unwrap();
        assert_eq!(back, id);
        assert!((Timestamp::now() - at).as_secs().abs() < 60);
        assert!(parse_name("notes.txt").is_none());
        assert!(parse_name(&format!("{id}.jpg.tmp")).is_none());
        assert!(path_for(Path::new("/e"), "../../etc/passwd").is_none());
        assert_eq!(
            path_for(Path::new("/e"), &id.to_uppercase()).unwrap(),
            Path::new("/e").join(format!("{id}.jpg"))
        );
    }

    #[test]
    fn the_folder_is_indexed_saved_into_and_pruned() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("evidence");
        let r = EvidenceRetention {
            keep_days: 30,
            max_bytes: 25,
        };
        let mut ev = EvidenceDir::open(&dir, r).unwrap();
        std::fs::write(dir.join("README"), "not evidence").unwrap();
        let ids: Vec<String> = (0..3).map(|_| crate::scan::new_scan_id()).collect();
        for (i, id) in ids.iter().enumerate() {
            let at = parse_name(&format!("{id}.jpg")).unwrap().1;
            ev.save(id, at, &[i as u8; 10]).unwrap();
        }
        assert_eq!(
            ev.usage(),
            Usage {
                files: 3,
                bytes: 30
            }
        );
        // Reopening finds the same images (and ignores the README).
        let mut ev = EvidenceDir::open(&dir, r).unwrap();
        assert_eq!(ev.usage().files, 3);
        assert_eq!(
            ev.prune(Timestamp::now()),
            1,
            "30 bytes > 25: the oldest goes"
        );
        assert!(!path_for(&dir, &ids[0]).unwrap().exists());
        assert!(path_for(&dir, &ids[2]).unwrap().exists());
        assert!(dir.join("README").exists());
    }
}
