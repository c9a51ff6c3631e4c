//! The spill file: scans still unstored when the daemon stops (the disk full, the store
//! failing) are written to `<data_dir>/unstored.jsonl`, one scan a line in the head-office
//! wire shape, durably (a temporary file fsynced, renamed into place, the folder fsynced).
//! At the next start the store actor imports them ([`super::actor`]): a scan already stored
//! is not stored twice (the scan id is the key), and the file is removed only after every
//! scan in it is committed.
//!
//! Writing happens on a full disk, so a small reserve file (`spill.space`) is held beside
//! it and released just before the spill is written.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::scan::ScanRecord;
use crate::sync::wire::{Received, record_from_wire, scan_to_wire};

/// The spill file's name in the data folder.
pub const FILE: &str = "unstored.jsonl";
/// The reserve released to write the spill file on a full disk.
pub const RESERVE_FILE: &str = "spill.space";
/// Space held for the spill file: about a thousand scans.
pub const RESERVE_BYTES: u64 = 1024 * 1024;
/// A spill file larger than this is not read (it is never written that large).
const MAX_BYTES: u64 = 256 * 1024 * 1024;

/// The spill file of a data folder.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// What a spill file held.
#[derive(Debug, Default)]
pub struct Spilled {
    pub scans: Vec<ScanRecord>,
    /// Lines that are not a scan (1-based line number and why); the file is then kept.
    pub bad: Vec<(usize, String)>,
}

/// Reads the spill file; `None` when there is none.
pub fn read(data_dir: &Path) -> std::io::Result<Option<Spilled>> {
    let path = path_in(data_dir);
    let bytes = match crate::userfile::read_input(&path, MAX_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    Ok(Some(parse(&bytes)))
}

/// Parses spill text (pure).
pub fn parse(bytes: &[u8]) -> Spilled {
    let mut out = Spilled::default();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(line)
            .map_err(|e| e.to_string())
            .and_then(|v| record_from_wire(v).map_err(|e| e.to_string()));
        match parsed {
            Ok(Received::Scan(s)) => out.scans.push(s),
            Ok(Received::Resolution { .. } | Received::Audit(_)) => {
                out.bad.push((i + 1, "not a scan".into()))
            }
            Err(e) => out.bad.push((i + 1, e)),
        }
    }
    out
}

/// One line a scan.
pub fn encode(scans: &[ScanRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in scans {
        out.extend_from_slice(scan_to_wire(s).to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// Adds `scans` to the spill file (what it already holds is kept), durably: when this
/// returns Ok, the scans survive a power cut.
pub fn append(data_dir: &Path, scans: &[ScanRecord]) -> std::io::Result<PathBuf> {
    let path = path_in(data_dir);
    let mut text = match crate::userfile::read_input(&path, MAX_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    if !text.is_empty() && !text.ends_with(b"\n") {
        text.push(b'\n');
    }
    text.extend_from_slice(&encode(scans));
    let tmp = data_dir.join(format!("{FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        sync_dir(data_dir)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    Ok(path)
}

/// Removes the spill file once its scans are committed (durably: the folder is fsynced).
pub fn remove(data_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path_in(data_dir)) {
        Ok(()) => sync_dir(data_dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::{Measurement, WaybillRead, judge};

    fn scan(n: i64) -> ScanRecord {
        let settings = crate::config::Settings::load(None).unwrap();
        let m = Measurement {
            weight: Ok(format!("{n}.5 lb").parse().unwrap()),
            dims: Ok("12x10x8 in".parse().unwrap()),
            waybill: WaybillRead::Read("EE123456785GB".into()),
        };
        let j = judge(&m, None, &settings.policy);
        let mut s = ScanRecord::new(
            crate::scan::new_scan_id(),
            &settings.station_id,
            jiff::Timestamp::from_millisecond(1_700_000_000_000 + n).unwrap(),
            &m,
            &j,
            &settings.policy.card.version,
        );
        s.in_force_version = Some(3);
        s
    }

    #[test]
    fn scans_round_trip_and_appends_keep_what_was_there() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        let (a, b) = (scan(1), scan(2));
        append(dir.path(), std::slice::from_ref(&a)).unwrap();
        append(dir.path(), std::slice::from_ref(&b)).unwrap();
        let back = read(dir.path()).unwrap().unwrap();
        assert_eq!(back.scans, vec![a, b]);
        assert!(back.bad.is_empty());
        assert!(!dir.path().join(format!("{FILE}.tmp")).exists());
        remove(dir.path()).unwrap();
        assert!(read(dir.path()).unwrap().is_none());
        remove(dir.path()).unwrap();
    }

    #[test]
    fn a_bad_line_is_named_and_the_good_ones_kept() {
        let mut text = encode(&[scan(1)]);
        text.extend_from_slice(b"{\"kind\":\"scan\"}\n\n{torn");
        let s = parse(&text);
        assert_eq!(s.scans.len(), 1);
        assert_eq!(s.bad.iter().map(|b| b.0).collect::<Vec<_>>(), vec![2, 4]);
    }
}
