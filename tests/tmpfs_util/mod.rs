//! A small tmpfs for disk-full tests (mounting needs root: without it the tests say they
//! were skipped and check nothing), and a way to fill it.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
pub struct Tmpfs(pub PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Mounts a tmpfs of `size` (e.g. "16m") on `dir`; `None` where the test cannot mount one.
pub fn mount_small(dir: &Path, size: &str) -> Option<Tmpfs> {
    std::fs::create_dir_all(dir).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Tmpfs(dir.to_path_buf()))
}

/// Fills the file system holding `dir` until a write fails.
pub fn fill(dir: &Path, name: &str) {
    let mut f = std::fs::File::create(dir.join(name)).expect("create the filler");
    let block = vec![7u8; 16 * 1024];
    while f.write_all(&block).is_ok() {}
    // Down to the last bytes, so even a small write fails.
    let small = [7u8; 512];
    while f.write_all(&small).is_ok() {}
    let _ = f.sync_all();
}

/// Free bytes on the file system holding `dir`.
pub fn free_bytes(dir: &Path) -> u64 {
    intake::daemon::evidence::free_bytes(dir).expect("statvfs")
}

/// Prints a test's figures and leaves them for `.ci/run` to print (cargo test keeps a
/// passing test's output to itself): `<target>/tmp/figures-NAME.txt`.
pub fn figures(name: &str, text: &str) {
    eprintln!("{text}");
    let _ = std::fs::write(
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("figures-{name}.txt")),
        format!("{text}\n"),
    );
}
