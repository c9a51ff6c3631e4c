//! Files a user points a command at (`intake export -o PATH`, `intake run --truth FILE`):
//! written only when they are regular files or do not exist yet. A device node, a FIFO, a
//! socket or a directory is refused before anything is opened (run as root, a rename over
//! `/dev/full` would replace the device with a plain file; opening a FIFO blocks). A
//! symbolic link is followed to the regular file it names. `-` means standard output.
//!
//! Files read (a configuration, a rate card, a manifest, a capture) go through
//! [`open_input`] / [`read_input`]: a regular file only (`/dev/zero`, a FIFO, a directory are
//! refused before a byte is read, so nothing blocks or grows without end) and never more than
//! a stated number of bytes, even if the file grows while it is read.
//!
//! Replacing is atomic: a new temporary file beside the target (created exclusively, so a
//! planted link is never followed), synced, given the old file's permissions, renamed over
//! it, and the folder synced.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file the user named cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum UserFileError {
    #[error(
        "{path} is {kind}, not a regular file; refusing to write to it — name a regular file (or - for standard output)"
    )]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{path} is a symbolic link to nothing; name a regular file")]
    Dangling { path: PathBuf },
    #[error("{path} names no file; give a file name")]
    NoName { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a kind of file is called in messages.
fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> UserFileError + '_ {
    move |source| UserFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The path to write for `path`: itself if it does not exist or is a regular file, the
/// regular file a symbolic link names; anything else is refused.
pub fn writable(path: &Path) -> Result<PathBuf, UserFileError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(path.to_path_buf()),
        Err(e) => return Err(io(path)(e)),
    };
    if meta.file_type().is_symlink() {
        return match std::fs::metadata(path) {
            Ok(m) if m.is_file() => std::fs::canonicalize(path).map_err(io(path)),
            Ok(m) => Err(UserFileError::NotRegular {
                path: path.to_path_buf(),
                kind: kind_of(m.file_type()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(UserFileError::Dangling {
                path: path.to_path_buf(),
            }),
            Err(e) => Err(io(path)(e)),
        };
    }
    if meta.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(UserFileError::NotRegular {
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        })
    }
}

/// The bytes in a human unit for messages: "64 MiB", "300 KiB", "12 bytes".
pub fn size_text(n: u64) -> String {
    match n {
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{} MiB", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{} KiB", n >> 10),
        n => format!("{n} bytes"),
    }
}

/// Opens a file to read at most `max` bytes from it. Anything but a regular file (after
/// following symbolic links) is refused without being opened, and a file already larger
/// than `max` is refused at once. The errors are `std::io::Error`s whose text says what is
/// wrong and what to do; callers add the path.
pub fn open_input(path: &Path, max: u64) -> std::io::Result<Limited<File>> {
    let refuse = |kind: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {kind}, not a regular file; name a regular file"),
        )
    };
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(refuse(kind_of(meta.file_type())));
    }
    // O_NONBLOCK: if the path was swapped for a FIFO since, opening does not wait for a
    // writer; the second check below refuses it. Reads of a regular file ignore the flag.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(refuse(kind_of(meta.file_type())));
    }
    if meta.len() > max {
        return Err(too_large(Some(meta.len()), max));
    }
    Ok(Limited {
        inner: file,
        left: max,
        max,
    })
}

/// Reads a whole file of at most `max` bytes (see [`open_input`]).
pub fn read_input(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut r = open_input(path, max)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)?;
    Ok(out)
}

/// `O_NONBLOCK` on Linux (every architecture intake builds for but alpha, sparc and parisc).
const O_NONBLOCK: i32 = 0o4000;

/// `len`: the size when known from the file system; `None` when the file grew past `max`
/// while being read.
fn too_large(len: Option<u64>, max: u64) -> std::io::Error {
    let size = len.map_or_else(|| "larger".to_owned(), |n| format!("{n} bytes"));
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!(
            "it is {size}, more than the {} intake reads from such a file",
            size_text(max)
        ),
    )
}

/// A reader that fails (rather than stops quietly) once more than `max` bytes come.
#[derive(Debug)]
pub struct Limited<R> {
    inner: R,
    left: u64,
    max: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte past the limit is asked for, to tell "exactly max" from "more".
        let want = usize::try_from((self.left + 1).min(buf.len() as u64)).unwrap_or(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(too_large(None, self.max));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether a command-line path means standard output.
pub fn is_stdout(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Writes what `fill` writes to `path` (`-`: standard output), replacing a regular file
/// atomically: it appears whole or not at all.
pub fn write_replacing<E>(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), E>,
) -> Result<(), E>
where
    E: From<UserFileError> + From<std::io::Error>,
{
    if is_stdout(path) {
        let mut out = BufWriter::new(std::io::stdout().lock());
        fill(&mut out)?;
        out.flush()?;
        return Ok(());
    }
    let target = writable(path)?;
    let name = target.file_name().ok_or_else(|| UserFileError::NoName {
        path: path.to_path_buf(),
    })?;
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    // The old file's permissions carry over to its replacement.
    let mode = std::fs::metadata(&target)
        .ok()
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777);
    let result = (|| -> Result<(), E> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode.unwrap_or(0o666))
            .open(&tmp)
            .map_err(io(&tmp))?;
        if let Some(m) = mode {
            // create_new applied the umask; give back exactly what the old file had.
            file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(m))
                .map_err(io(&tmp))?;
        }
        let mut w = BufWriter::new(file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| io(&tmp)(e.into_error()))?;
        file.sync_all().map_err(io(&tmp))?;
        // Checked again just before: a device put there meanwhile is not replaced.
        writable(&target)?;
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Opens `path` for appending (created if missing), refusing anything but a regular file.
pub fn open_append(path: &Path) -> Result<File, UserFileError> {
    let target = writable(path)?;
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&target)
        .map_err(io(&target))?;
    // What was opened, not what was looked at: a swap in between is caught here.
    let meta = file.metadata().map_err(io(&target))?;
    if !meta.is_file() {
        return Err(UserFileError::NotRegular {
            path: target,
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_regular_files_read_within_a_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, b"0123456789").unwrap();
        assert_eq!(read_input(&p, 10).unwrap(), b"0123456789");
        let e = read_input(&p, 9).unwrap_err().to_string();
        assert!(e.contains("10 bytes, more than the 9 bytes"), "{e}");
        let e = read_input(Path::new("/dev/zero"), 1 << 20)
            .unwrap_err()
            .to_string();
        assert!(e.contains("a character device, not a regular file"), "{e}");
        let e = read_input(dir.path(), 1 << 20).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        // A file that grows past the limit while read (its length said it fit).
        let mut r = Limited {
            inner: std::io::repeat(b'x'),
            left: 100,
            max: 100,
        };
        let e = std::io::copy(&mut r, &mut std::io::sink())
            .unwrap_err()
            .to_string();
        assert!(e.contains("larger, more than the 100 bytes"), "{e}");
        assert_eq!(size_text(64 << 20), "64 MiB");
    }

    fn fifo(dir: &Path) -> PathBuf {
        let p = dir.join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo");
        p
    }

    fn write(path: &Path, text: &str) -> Result<(), anyhow::Error> {
        write_replacing(path, |w| {
            w.write_all(text.as_bytes())?;
            Ok::<(), anyhow::Error>(())
        })
    }

    #[test]
    fn regular_files_are_replaced_and_keep_their_mode() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.csv");
        write(&p, "one").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "one");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write(&p, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "two");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // Through a link: the file it names is replaced, the link stays.
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        write(&link, "three").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "three");
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "no temporary file left behind");
    }

    #[test]
    fn fifos_devices_directories_and_dangling_links_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let f = fifo(d.path());
        let e = write(&f, "x").unwrap_err();
        assert!(e.to_string().contains("FIFO"), "{e}");
        assert!(std::fs::symlink_metadata(&f).unwrap().file_type().is_fifo());
        // Opening for append does not block on it either.
        assert!(matches!(
            open_append(&f),
            Err(UserFileError::NotRegular { .. })
        ));
        // Only looked at, never written: a regression here must not touch the device.
        let e = writable(Path::new("/dev/null")).unwrap_err();
        assert!(e.to_string().contains("character device"), "{e}");
        assert!(matches!(
            open_append(Path::new("/dev/null")),
            Err(UserFileError::NotRegular { .. })
        ));
        let e = write(d.path(), "x").unwrap_err();
        assert!(e.to_string().contains("directory"), "{e}");
        let link = d.path().join("to-fifo");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert!(write(&link, "x").unwrap_err().to_string().contains("FIFO"));
        let dangling = d.path().join("dangling");
        std::os::unix::fs::symlink(d.path().join("nowhere"), &dangling).unwrap();
        assert!(matches!(
            writable(&dangling),
            Err(UserFileError::Dangling { .. })
        ));
    }

    #[test]
    fn a_planted_temporary_link_is_not_followed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out");
        let victim = d.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        let tmp = d.path().join(format!(".out.tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        assert!(write(&p, "x").is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn appending_makes_or_extends_a_regular_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("truth.jsonl");
        open_append(&p).unwrap().write_all(b"a\n").unwrap();
        open_append(&p).unwrap().write_all(b"b\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "a\nb\n");
        assert!(is_stdout(Path::new("-")));
        assert!(!is_stdout(Path::new("./-")));
    }
}
