//! A drop folder: an industrial camera (or its FTP/SMB upload) writes a frame into a folder
//! for each shot. On a trigger the camera takes the newest *complete* image file written
//! after the trigger, never a half-written one and never one that was there before.
//!
//! - **After the trigger**: at the trigger the folder is listed and each file's stamp
//!   (size, modification time, inode) noted; a file is a candidate only when its stamp
//!   differs from that. A file written before the trigger is never taken, however late its
//!   change notification arrives.
//! - **Complete**: renamed into place, or closed after writing (inotify's `CLOSE_WRITE`)
//!   with its stamp unchanged since; or, where no such event comes (network file systems),
//!   a size and time that stayed the same for `settle`.
//! - Names that writers use while writing are ignored: hidden files (`.x.jpg`) and
//!   non-image extensions (`x.jpg.part`, `x.tmp`).
//!
//! [`Tracker`] decides all of that from observations and time given to it (tested in
//! virtual time); [`FolderCamera`] only watches (`notify`), lists, stats and moves files.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use image::GrayImage;
use notify::event::{AccessKind, AccessMode, EventKind, ModifyKind, RenameMode};

use super::config::{After, FolderSettings};
use super::image_file::{ImageLimits, has_image_extension, load_image};
use crate::device::{BoxFuture, Camera, DeviceError, ErrorKind};

/// What identifies one version of a file on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub len: u64,
    pub modified: Option<SystemTime>,
    pub inode: u64,
}

impl Stamp {
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        }
    }
}

/// How a file was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Created, written to, or just listed.
    Changed,
    /// Closed after writing, or renamed into place: the writer says it is done.
    Finished,
}

#[derive(Debug, Clone)]
struct Pending {
    stamp: Stamp,
    /// When the stamp last changed.
    since: Instant,
    /// The stamp when the writer said it was done.
    finished: Option<Stamp>,
    /// Order of the last change (newest wins).
    order: u64,
}

/// Decides which file to take after one trigger. Pure: stamps and time are passed in.
#[derive(Debug, Clone)]
pub struct Tracker {
    baseline: HashMap<PathBuf, Stamp>,
    settle: Duration,
    pending: BTreeMap<PathBuf, Pending>,
    order: u64,
}

impl Tracker {
    /// Arms the tracker at the trigger with the folder as it was then.
    pub fn arm(baseline: impl IntoIterator<Item = (PathBuf, Stamp)>, settle: Duration) -> Tracker {
        Tracker {
            baseline: baseline.into_iter().collect(),
            settle,
            pending: BTreeMap::new(),
            order: 0,
        }
    }

    /// Whether the folder camera looks at a file of this name at all.
    pub fn wanted_name(path: &Path) -> bool {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.') || n.starts_with('~'));
        !hidden && has_image_extension(path)
    }

    /// A file observed now with its current stamp (`None`: it is gone).
    pub fn observe(&mut self, path: &Path, stamp: Option<Stamp>, seen: Seen, now: Instant) {
        if !Self::wanted_name(path) {
            return;
        }
        let Some(stamp) = stamp else {
            self.pending.remove(path);
            return;
        };
        if self.baseline.get(path) == Some(&stamp) {
            // As it was at the trigger: written before it.
            return;
        }
        let order = &mut self.order;
        let p = self.pending.entry(path.to_owned()).or_insert_with(|| {
            *order += 1;
            Pending {
                stamp,
                since: now,
                finished: None,
                order: *order,
            }
        });
        if p.stamp != stamp {
            self.order += 1;
            p.stamp = stamp;
            p.since = now;
            p.finished = None;
            p.order = self.order;
        }
        if seen == Seen::Finished {
            p.finished = Some(stamp);
        }
    }

    fn complete(&self, p: &Pending, now: Instant) -> bool {
        p.stamp.len > 0
            && (p.finished == Some(p.stamp)
                || now.saturating_duration_since(p.since) >= self.settle)
    }

    /// The newest complete file, if any.
    pub fn ready(&self, now: Instant) -> Option<&Path> {
        self.pending
            .iter()
            .filter(|(_, p)| self.complete(p, now))
            .max_by_key(|(_, p)| (p.stamp.modified, p.order))
            .map(|(path, _)| path.as_path())
    }

    /// When a file still settling will have settled.
    pub fn next_check(&self) -> Option<Instant> {
        self.pending
            .values()
            .filter(|p| p.stamp.len > 0 && p.finished != Some(p.stamp))
            .map(|p| p.since + self.settle)
            .min()
    }

    /// Files seen after the trigger and not yet complete.
    pub fn pending(&self) -> impl Iterator<Item = &Path> {
        self.pending.keys().map(PathBuf::as_path)
    }

    /// Forgets a file (taken, or refused).
    pub fn forget(&mut self, path: &Path) {
        self.pending.remove(path);
    }

    /// Whether the writer said the file is done (closed after writing, renamed in).
    pub fn finished(&self, path: &Path) -> bool {
        self.pending
            .get(path)
            .is_some_and(|p| p.finished == Some(p.stamp))
    }

    /// Sets a file aside until it changes again: it settled but did not decode, and its
    /// writer never said it was done, so it may be a writer that paused.
    pub fn defer(&mut self, path: &Path) {
        if let Some(p) = self.pending.remove(path) {
            self.baseline.insert(path.to_owned(), p.stamp);
        }
    }
}

/// The drop-folder camera.
pub struct FolderCamera {
    name: String,
    state: Option<State>,
    settings: FolderSettings,
}

struct State {
    name: String,
    settings: FolderSettings,
    limits: ImageLimits,
    watch: Option<(
        notify::RecommendedWatcher,
        mpsc::Receiver<notify::Result<notify::Event>>,
    )>,
}

impl FolderCamera {
    /// Starts watching the folder. A folder that does not exist (yet) is not an error here:
    /// the share may be mounted later; captures report it until it is there.
    pub fn open(settings: &FolderSettings) -> FolderCamera {
        let name = format!("camera (folder {})", settings.path.display());
        let mut state = State {
            name: name.clone(),
            settings: settings.clone(),
            limits: ImageLimits::default(),
            watch: None,
        };
        if let Err(e) = state.ensure_watch() {
            tracing::warn!(device = %name, error = %e, "camera folder not watched yet");
        }
        FolderCamera {
            name,
            state: Some(state),
            settings: settings.clone(),
        }
    }

    /// Waits for the next frame written after now, blocking. `armed` runs once the folder
    /// was listed: from then on, a new file counts.
    pub fn take_next(&mut self, armed: &mut dyn FnMut()) -> Result<GrayImage, DeviceError> {
        let state = self.state.get_or_insert_with(|| State {
            name: self.name.clone(),
            settings: self.settings.clone(),
            limits: ImageLimits::default(),
            watch: None,
        });
        state.take(Instant::now(), armed)
    }
}

impl State {
    fn err(&self, kind: ErrorKind, detail: impl Into<String>) -> DeviceError {
        DeviceError::new(&self.name, kind, detail)
    }

    fn ensure_watch(&mut self) -> Result<(), DeviceError> {
        if self.watch.is_some() {
            return Ok(());
        }
        let (tx, rx) = mpsc::channel();
        let mut w = notify::recommended_watcher(tx).map_err(|e| {
            self.err(
                ErrorKind::Config,
                format!("cannot watch files on this system: {e}"),
            )
        })?;
        notify::Watcher::watch(&mut w, &self.settings.path, notify::RecursiveMode::NonRecursive)
            .map_err(|e| {
                self.err(
                    ErrorKind::Disconnected,
                    format!(
                        "cannot watch {}: {e}; check the folder exists (is the share mounted?) and camera.path",
                        self.settings.path.display()
                    ),
                )
            })?;
        self.watch = Some((w, rx));
        Ok(())
    }

    /// The folder's image files and their stamps.
    fn list(&self) -> Result<Vec<(PathBuf, Stamp)>, DeviceError> {
        let dir = std::fs::read_dir(&self.settings.path).map_err(|e| {
            self.err(
                ErrorKind::Disconnected,
                format!(
                    "cannot list {}: {e}; is the share mounted?",
                    self.settings.path.display()
                ),
            )
        })?;
        Ok(dir
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| Tracker::wanted_name(&e.path()))
            .filter_map(|e| Some((e.path(), Stamp::of(&e.metadata().ok()?))))
            .collect())
    }

    fn stat(path: &Path) -> Option<Stamp> {
        std::fs::metadata(path)
            .ok()
            .filter(|m| m.is_file())
            .map(|m| Stamp::of(&m))
    }

    fn take(
        &mut self,
        trigger: Instant,
        armed: &mut dyn FnMut(),
    ) -> Result<GrayImage, DeviceError> {
        let deadline = trigger + self.settings.timeout;
        self.ensure_watch()?;
        // Notifications so far are of files from before the trigger.
        if let Some((_, rx)) = &self.watch {
            while rx.try_recv().is_ok() {}
        }
        let mut tracker = Tracker::arm(self.list()?, self.settings.settle);
        tracing::debug!(device = %self.name, "camera folder armed: a file written from now on is taken");
        armed();
        // A file that settled but did not decode, kept until the deadline in case its
        // writer only paused.
        let mut unreadable: Option<(PathBuf, DeviceError)> = None;
        // A listing now and then catches what notifications miss (network file systems).
        let tick = (self.settings.settle / 2).max(Duration::from_millis(20));
        let mut next_scan = trigger + tick;
        loop {
            let now = Instant::now();
            if let Some(path) = tracker.ready(now).map(Path::to_path_buf) {
                match load_image(&path, &self.limits) {
                    Ok(img) => {
                        self.after(&path);
                        return Ok(img);
                    }
                    Err(e) if tracker.finished(&path) => {
                        return Err(self.reject(&path, &e.to_string()));
                    }
                    Err(e) => {
                        tracker.defer(&path);
                        unreadable = Some((path, self.err(ErrorKind::Malformed, e.to_string())));
                        continue;
                    }
                }
            }
            if now >= deadline {
                if let Some((path, e)) = unreadable {
                    return Err(self.reject(&path, &e.detail));
                }
                return Err(self.err(
                    ErrorKind::Timeout,
                    format!(
                        "no new complete image in {} within {} ms of the trigger; check the camera writes there and fires on the trigger",
                        self.settings.path.display(),
                        self.settings.timeout.as_millis()
                    ),
                ));
            }
            let wake = [Some(deadline), Some(next_scan), tracker.next_check()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(deadline);
            let wait = wake.saturating_duration_since(now);
            let event = match &self.watch {
                Some((_, rx)) => match rx.recv_timeout(wait) {
                    Ok(ev) => Some(ev),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        self.watch = None;
                        None
                    }
                },
                None => {
                    std::thread::sleep(wait);
                    None
                }
            };
            let now = Instant::now();
            match event {
                Some(Ok(ev)) => self.apply(&mut tracker, &ev, now),
                Some(Err(e)) => {
                    // The watch broke (folder removed, share unmounted): list until it is back.
                    tracing::warn!(device = %self.name, error = %e, "camera folder watch lost");
                    self.watch = None;
                }
                None => {}
            }
            if now >= next_scan {
                next_scan = now + tick;
                if self.watch.is_none() {
                    let _ = self.ensure_watch();
                }
                for (p, s) in self.list()? {
                    tracker.observe(&p, Some(s), Seen::Changed, now);
                }
                let pending: Vec<PathBuf> = tracker.pending().map(Path::to_path_buf).collect();
                for p in pending {
                    tracker.observe(&p, Self::stat(&p), Seen::Changed, now);
                }
            }
        }
    }

    fn apply(&self, tracker: &mut Tracker, ev: &notify::Event, now: Instant) {
        let in_folder = |p: &Path| p.parent() == Some(self.settings.path.as_path());
        let seen = match ev.kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => Seen::Finished,
            EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                for p in ev.paths.iter().filter(|p| in_folder(p)) {
                    tracker.observe(p, None, Seen::Changed, now);
                }
                return;
            }
            EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => {
                if let [from, to, ..] = ev.paths.as_slice() {
                    tracker.observe(from, None, Seen::Changed, now);
                    if in_folder(to) {
                        tracker.observe(to, Self::stat(to), Seen::Finished, now);
                    }
                }
                return;
            }
            EventKind::Modify(ModifyKind::Name(_)) => Seen::Finished,
            EventKind::Create(_) | EventKind::Modify(_) => Seen::Changed,
            EventKind::Remove(_) => {
                for p in &ev.paths {
                    tracker.observe(p, None, Seen::Changed, now);
                }
                return;
            }
            _ => return,
        };
        for p in ev.paths.iter().filter(|p| in_folder(p)) {
            tracker.observe(p, Self::stat(p), seen, now);
        }
    }

    /// A file that does not decode is renamed `NAME.rejected` beside it: never taken
    /// again, never lost.
    fn reject(&self, path: &Path, why: &str) -> DeviceError {
        let mut rejected = path.as_os_str().to_owned();
        rejected.push(".rejected");
        let kept = match std::fs::rename(path, &rejected) {
            Ok(()) => format!("kept as {}", PathBuf::from(&rejected).display()),
            Err(_) => "left in place".to_owned(),
        };
        self.err(ErrorKind::Malformed, format!("{why}; {kept}"))
    }

    /// Archives, deletes or keeps a frame that was taken.
    fn after(&self, path: &Path) {
        if let Err(e) = self.after_io(path) {
            tracing::warn!(device = %self.name, file = %path.display(), error = %e, "frame taken but not moved");
        }
    }

    fn after_io(&self, path: &Path) -> std::io::Result<()> {
        match self.settings.after {
            After::Keep => Ok(()),
            After::Delete => std::fs::remove_file(path),
            After::Archive => {
                let dir = &self.settings.archive_path;
                std::fs::create_dir_all(dir)?;
                let name = path.file_name().unwrap_or_default();
                let mut to = dir.join(name);
                let mut n = 1;
                while to.exists() {
                    let mut alt = name.to_owned();
                    alt.push(format!(".{n}"));
                    to = dir.join(alt);
                    n += 1;
                }
                std::fs::rename(path, &to).or_else(|_| {
                    // Another file system: copy, then remove.
                    std::fs::copy(path, &to)?;
                    std::fs::remove_file(path)
                })
            }
        }
    }
}

impl Camera for FolderCamera {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(&mut self) -> BoxFuture<'_, Result<GrayImage, DeviceError>> {
        // The trigger is now, not when the blocking thread gets to run.
        let trigger = Instant::now();
        Box::pin(async move {
            let mut state = match self.state.take() {
                Some(s) => s,
                None => State {
                    name: self.name.clone(),
                    settings: self.settings.clone(),
                    limits: ImageLimits::default(),
                    watch: None,
                },
            };
            let job = tokio::task::spawn_blocking(move || {
                let r = state.take(trigger, &mut || {});
                (state, r)
            });
            match job.await {
                Ok((state, r)) => {
                    self.state = Some(state);
                    r
                }
                Err(e) => Err(DeviceError::new(
                    &self.name,
                    ErrorKind::Disconnected,
                    format!("the folder watch stopped: {e}"),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(len: u64, secs: u64) -> Option<Stamp> {
        Some(Stamp {
            len,
            modified: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)),
            inode: 7,
        })
    }

    const SETTLE: Duration = Duration::from_millis(200);

    #[test]
    fn a_file_from_before_the_trigger_is_never_taken() {
        let t0 = Instant::now();
        let old = PathBuf::from("/f/old.jpg");
        let mut t = Tracker::arm([(old.clone(), stamp(500, 10).unwrap())], SETTLE);
        // Its notification arrives late, with the same stamp: ignored.
        t.observe(&old, stamp(500, 10), Seen::Finished, t0);
        assert_eq!(t.ready(t0 + SETTLE * 3), None);
        // Overwritten after the trigger: a new frame.
        t.observe(&old, stamp(600, 20), Seen::Finished, t0);
        assert_eq!(t.ready(t0), Some(old.as_path()));
    }

    #[test]
    fn a_growing_file_waits_for_its_size_to_settle() {
        let t0 = Instant::now();
        let f = PathBuf::from("/f/a.png");
        let mut t = Tracker::arm([], SETTLE);
        t.observe(&f, stamp(0, 1), Seen::Changed, t0);
        assert_eq!(t.next_check(), None, "an empty file is not settling");
        t.observe(&f, stamp(1000, 1), Seen::Changed, t0 + SETTLE / 2);
        assert_eq!(t.ready(t0 + SETTLE), None);
        t.observe(&f, stamp(2000, 2), Seen::Changed, t0 + SETTLE);
        assert_eq!(t.next_check(), Some(t0 + SETTLE * 2));
        assert_eq!(t.ready(t0 + SETTLE * 2 - Duration::from_millis(1)), None);
        // The same stamp listed again does not restart the clock.
        t.observe(&f, stamp(2000, 2), Seen::Changed, t0 + SETTLE * 3 / 2);
        assert_eq!(t.ready(t0 + SETTLE * 2), Some(f.as_path()));
    }

    #[test]
    fn closed_or_renamed_files_are_complete_at_once_unless_written_again() {
        let t0 = Instant::now();
        let f = PathBuf::from("/f/a.jpg");
        let mut t = Tracker::arm([], SETTLE);
        t.observe(&f, stamp(100, 1), Seen::Changed, t0);
        t.observe(&f, stamp(300, 1), Seen::Finished, t0);
        assert_eq!(t.ready(t0), Some(f.as_path()));
        // Reopened and appended to after the close: settle again.
        t.observe(&f, stamp(400, 2), Seen::Changed, t0);
        assert_eq!(t.ready(t0), None);
    }

    #[test]
    fn the_newest_complete_file_wins_and_temp_names_are_ignored() {
        let t0 = Instant::now();
        let mut t = Tracker::arm([], SETTLE);
        let (a, b, c) = (
            PathBuf::from("/f/1.jpg"),
            PathBuf::from("/f/2.jpg"),
            PathBuf::from("/f/3.jpg"),
        );
        t.observe(&a, stamp(10, 5), Seen::Finished, t0);
        t.observe(&b, stamp(10, 6), Seen::Finished, t0);
        t.observe(&c, stamp(10, 7), Seen::Changed, t0);
        assert_eq!(
            t.ready(t0),
            Some(b.as_path()),
            "3.jpg is still being written"
        );
        for tmp in ["/f/3.jpg.part", "/f/.3.jpg", "/f/x.tmp", "/f/~x.jpg"] {
            t.observe(Path::new(tmp), stamp(10, 9), Seen::Finished, t0);
        }
        assert_eq!(t.ready(t0), Some(b.as_path()));
        t.observe(&b, None, Seen::Changed, t0);
        assert_eq!(
            t.ready(t0),
            Some(a.as_path()),
            "a removed file is forgotten"
        );
    }
}
