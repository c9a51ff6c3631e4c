//! Every input a fuzz run once crashed on (`fuzz/regressions/<target>/*`), and every seed,
//! run through its target: each must now return without panicking.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use intake_fuzz::{TARGETS, target};

#[test]
fn every_saved_crash_and_seed_runs_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    let mut ran = 0;
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let t = target(&name).unwrap_or_else(|| panic!("regressions/{name} names no target"));
            for f in std::fs::read_dir(e.path()).unwrap().flatten() {
                let bytes = std::fs::read(f.path()).unwrap();
                (t.run)(&bytes);
                ran += 1;
            }
        }
    }
    for t in TARGETS {
        let seeds = (t.seeds)();
        assert!(
            !seeds.is_empty() && seeds.iter().any(|s| !s.is_empty()),
            "{} has no seeds",
            t.name
        );
        for s in seeds {
            (t.run)(&s);
        }
    }
    println!("{ran} saved crash inputs replayed");
}
