//! The daemon's health, written to `<data_dir>/status.json` on every change (atomically:
//! a temporary file renamed over the old one), so `intake status` can read it while the
//! daemon runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// One device's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceHealth {
    pub ok: bool,
    pub detail: Option<String>,
    pub since: Timestamp,
}

/// What `status.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDoc {
    pub pid: u32,
    pub station_id: String,
    pub running: bool,
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    pub phase: String,
    pub parcels_this_run: u64,
    /// The number of the newest store event the daemon has seen.
    #[serde(default)]
    pub last_event: u64,
    pub devices: BTreeMap<String, DeviceHealth>,
}

/// The status file of a running daemon.
#[derive(Debug)]
pub struct StatusFile {
    path: PathBuf,
    pub doc: StatusDoc,
}

impl StatusFile {
    pub fn path_in(data_dir: &Path) -> PathBuf {
        data_dir.join("status.json")
    }

    pub fn new(data_dir: &Path, station_id: &str, devices: &[&str]) -> StatusFile {
        let now = Timestamp::now();
        StatusFile {
            path: StatusFile::path_in(data_dir),
            doc: StatusDoc {
                pid: std::process::id(),
                station_id: station_id.to_owned(),
                running: true,
                started_at: now,
                updated_at: now,
                phase: "starting".into(),
                parcels_this_run: 0,
                last_event: 0,
                devices: devices
                    .iter()
                    .map(|d| {
                        (
                            (*d).to_owned(),
                            DeviceHealth {
                                ok: true,
                                detail: None,
                                since: now,
                            },
                        )
                    })
                    .collect(),
            },
        }
    }

    /// Records a device's health; returns whether it changed.
    pub fn set_device(&mut self, device: &str, ok: bool, detail: Option<String>) -> bool {
        let now = Timestamp::now();
        let entry = self
            .doc
            .devices
            .entry(device.to_owned())
            .or_insert(DeviceHealth {
                ok,
                detail: None,
                since: now,
            });
        if entry.ok == ok && entry.detail == detail {
            return false;
        }
        *entry = DeviceHealth {
            ok,
            detail,
            since: now,
        };
        true
    }

    /// Writes the file; a failure is logged, never fatal (the store is what matters).
    pub fn write(&mut self) {
        self.doc.updated_at = Timestamp::now();
        let tmp = self.path.with_extension("json.tmp");
        let result = serde_json::to_vec_pretty(&self.doc)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = result {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write the status file");
        }
    }

    /// Reads a status file written by a daemon.
    pub fn read(data_dir: &Path) -> Option<StatusDoc> {
        let bytes = std::fs::read(StatusFile::path_in(data_dir)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// Whether the process that wrote `doc` is still alive (Linux: its /proc entry exists).
pub fn is_alive(doc: &StatusDoc) -> bool {
    doc.running && Path::new(&format!("/proc/{}", doc.pid)).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_reports_changes_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = StatusFile::new(dir.path(), "t-1", &["scale", "camera"]);
        assert!(!s.set_device("scale", true, None));
        assert!(s.set_device("scale", false, Some("unplugged".into())));
        assert!(!s.set_device("scale", false, Some("unplugged".into())));
        s.write();
        let back = StatusFile::read(dir.path()).unwrap();
        assert_eq!(back, s.doc);
        assert!(is_alive(&back), "this very process");
        assert!(!back.devices["scale"].ok);
    }
}
