//! The `[camera]` configuration table: a raw serde enum tagged by `type`, then one
//! validation into typed [`CameraSettings`]. Errors name the key (`camera.timeout`) and the
//! fix.
//!
//! ```toml
//! [camera]
//! type = "v4l2"                 # a USB (UVC) camera
//! device = "/dev/video0"        # prefer /dev/v4l/by-id/…: it survives replugging
//! width = 1920
//! height = 1080
//! format = "mjpeg"              # "mjpeg" or "yuyv"
//! exposure = "4 ms"             # optional: manual exposure (short against motion blur)
//! focus = 120                   # optional: manual focus, in the device's own units
//! timeout = "2 s"
//! ```
//!
//! ```toml
//! [camera]
//! type = "folder"               # an industrial camera that writes frames into a folder
//! path = "/srv/ftp/camera"
//! after = "archive"             # "archive" (move to archive_path), "delete" or "keep"
//! archive_path = "/srv/ftp/camera/taken"
//! timeout = "3 s"
//! settle = "200 ms"             # a file whose size has not changed this long is complete
//! ```
//!
//! ```toml
//! [camera]
//! type = "http"                 # a network camera's snapshot URL
//! url = "http://192.0.2.10/cgi-bin/snapshot.cgi"
//! timeout = "2 s"
//! username = "intake"           # optional; basic or digest, as the camera asks
//! password_file = "/etc/intake/camera-password"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::range::config::{KeyError, parse_duration};

/// The raw `[camera]` table as written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CameraConfig {
    /// Renders the simulated parcel's label into a frame of this size.
    Sim {
        #[serde(default = "default_sim_width")]
        width: u32,
        #[serde(default = "default_sim_height")]
        height: u32,
    },
    /// Replays the image files of a folder, in turn (for technicians and demos).
    File { dir: PathBuf },
    V4l2 {
        #[serde(default = "default_device")]
        device: PathBuf,
        #[serde(default = "default_width")]
        width: u32,
        #[serde(default = "default_height")]
        height: u32,
        #[serde(default)]
        format: PixelFormat,
        exposure: Option<String>,
        focus: Option<i64>,
        timeout: Option<String>,
    },
    Folder {
        path: PathBuf,
        #[serde(default)]
        after: After,
        archive_path: Option<PathBuf>,
        timeout: Option<String>,
        settle: Option<String>,
    },
    Http {
        url: String,
        timeout: Option<String>,
        username: Option<String>,
        password_file: Option<PathBuf>,
    },
}

fn default_sim_width() -> u32 {
    1280
}

fn default_sim_height() -> u32 {
    720
}

fn default_device() -> PathBuf {
    PathBuf::from("/dev/video0")
}

fn default_width() -> u32 {
    1920
}

fn default_height() -> u32 {
    1080
}

impl Default for CameraConfig {
    fn default() -> CameraConfig {
        CameraConfig::Sim {
            width: default_sim_width(),
            height: default_sim_height(),
        }
    }
}

/// The pixel format asked of a V4L2 camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelFormat {
    /// Motion JPEG: small frames, full resolution at full rate over USB 2.
    #[default]
    Mjpeg,
    /// YUV 4:2:2 uncompressed: no JPEG artefacts, but USB 2 limits it to a few 1080p frames
    /// a second. The luma is used as it comes.
    Yuyv,
}

impl PixelFormat {
    /// The V4L2 four-character code.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            PixelFormat::Mjpeg => *b"MJPG",
            PixelFormat::Yuyv => *b"YUYV",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PixelFormat::Mjpeg => "mjpeg",
            PixelFormat::Yuyv => "yuyv",
        }
    }
}

/// What the folder camera does with a file once it has taken it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum After {
    /// Move it to `archive_path` (the evidence stays on disk, the folder stays small).
    #[default]
    Archive,
    Delete,
    /// Leave it; a later trigger never takes it again (only files written after a trigger
    /// are taken).
    Keep,
}

/// A validated `[camera]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSettings {
    Sim { width: u32, height: u32 },
    File { dir: PathBuf },
    V4l2(V4l2Settings),
    Folder(FolderSettings),
    Http(HttpSettings),
}

impl Default for CameraSettings {
    fn default() -> CameraSettings {
        CameraSettings::Sim {
            width: default_sim_width(),
            height: default_sim_height(),
        }
    }
}

impl CameraSettings {
    /// What the camera is, for logs and the technician ("v4l2 /dev/video0").
    pub fn describe(&self) -> String {
        match self {
            CameraSettings::Sim { width, height } => format!("simulated {width}×{height}"),
            CameraSettings::File { dir } => format!("files in {}", dir.display()),
            CameraSettings::V4l2(v) => format!(
                "v4l2 {} {}×{} {}",
                v.device.display(),
                v.width,
                v.height,
                v.format.as_str()
            ),
            CameraSettings::Folder(f) => format!("folder {}", f.path.display()),
            CameraSettings::Http(h) => format!("http {}", h.url),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4l2Settings {
    pub device: PathBuf,
    pub width: u32,
    pub height: u32,
    pub format: PixelFormat,
    pub exposure: Option<Duration>,
    pub focus: Option<i64>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderSettings {
    pub path: PathBuf,
    pub after: After,
    /// Where taken files go when `after` is `Archive`.
    pub archive_path: PathBuf,
    pub timeout: Duration,
    pub settle: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub url: String,
    pub timeout: Duration,
    /// User name and the file holding the password (read when the camera is opened, so the
    /// secret never sits in the config).
    pub auth: Option<(String, PathBuf)>,
}

fn duration_or(key: &str, text: Option<&str>, default: Duration) -> Result<Duration, KeyError> {
    let d = match text {
        None => return Ok(default),
        Some(t) => parse_duration(key, t)?,
    };
    if d.is_zero() || d > Duration::from_secs(60) {
        return Err(KeyError::new(
            key,
            format!(
                "{} is outside 1 ms … 60 s; a camera that takes longer holds the parcel up",
                text.unwrap_or_default()
            ),
        ));
    }
    Ok(d)
}

fn frame_size(width: u32, height: u32) -> Result<(), KeyError> {
    if !(320..=8192).contains(&width) || !(240..=8192).contains(&height) {
        return Err(KeyError::new(
            "width",
            format!(
                "a {width}×{height} frame is not a camera frame; use e.g. 1280×720 or 1920×1080"
            ),
        ));
    }
    Ok(())
}

impl CameraConfig {
    /// Validates the table. Relative paths are taken from `base` (the config file's folder)
    /// when given. Keys in errors are relative to `camera.` (`timeout`, `url`).
    pub fn validate(self, base: Option<&Path>) -> Result<CameraSettings, KeyError> {
        let resolve = |p: PathBuf| match base {
            Some(b) => b.join(p),
            None => p,
        };
        Ok(match self {
            CameraConfig::Sim { width, height } => {
                frame_size(width, height)?;
                CameraSettings::Sim { width, height }
            }
            CameraConfig::File { dir } => CameraSettings::File { dir: resolve(dir) },
            CameraConfig::V4l2 {
                device,
                width,
                height,
                format,
                exposure,
                focus,
                timeout,
            } => {
                frame_size(width, height)?;
                let exposure = match exposure.as_deref() {
                    None => None,
                    Some(t) => {
                        let d = parse_duration("exposure", t)?;
                        // V4L2 exposure_time_absolute counts 100 µs steps.
                        if d < Duration::from_micros(100) || d > Duration::from_secs(1) {
                            return Err(KeyError::new(
                                "exposure",
                                format!(
                                    "{t} is outside 0.1 ms … 1 s; at a dock 2–8 ms keeps a moving label sharp"
                                ),
                            ));
                        }
                        Some(d)
                    }
                };
                CameraSettings::V4l2(V4l2Settings {
                    device,
                    width,
                    height,
                    format,
                    exposure,
                    focus,
                    timeout: duration_or("timeout", timeout.as_deref(), Duration::from_secs(2))?,
                })
            }
            CameraConfig::Folder {
                path,
                after,
                archive_path,
                timeout,
                settle,
            } => {
                let path = resolve(path);
                let archive_path = match (after, archive_path) {
                    (_, Some(a)) => resolve(a),
                    (_, None) => path.join("archive"),
                };
                if archive_path == path {
                    return Err(KeyError::new(
                        "archive_path",
                        "is the watched folder itself; name another folder (default: archive/ inside it)",
                    ));
                }
                CameraSettings::Folder(FolderSettings {
                    path,
                    after,
                    archive_path,
                    timeout: duration_or("timeout", timeout.as_deref(), Duration::from_secs(3))?,
                    settle: duration_or("settle", settle.as_deref(), Duration::from_millis(200))?,
                })
            }
            CameraConfig::Http {
                url,
                timeout,
                username,
                password_file,
            } => {
                let lower = url.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://"))
                    || url.len() < 10
                {
                    return Err(KeyError::new(
                        "url",
                        format!(
                            "\"{url}\" is not an http:// or https:// URL; write the camera's snapshot URL"
                        ),
                    ));
                }
                let auth = match (username, password_file) {
                    (None, None) => None,
                    (Some(u), Some(p)) => Some((u, resolve(p))),
                    (Some(_), None) => {
                        return Err(KeyError::new(
                            "password_file",
                            "is missing while username is set; name a file holding the camera's password",
                        ));
                    }
                    (None, Some(_)) => {
                        return Err(KeyError::new(
                            "username",
                            "is missing while password_file is set; add the camera's user name",
                        ));
                    }
                };
                CameraSettings::Http(HttpSettings {
                    url,
                    timeout: duration_or("timeout", timeout.as_deref(), Duration::from_secs(2))?,
                    auth,
                })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<CameraSettings, String> {
        let raw: CameraConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        raw.validate(Some(Path::new("/etc/intake")))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn every_documented_example_parses() {
        let doc = include_str!("config.rs");
        let blocks: Vec<&str> = doc
            .split("//! ```toml\n")
            .skip(1)
            .map(|b| b.split("//! ```").next().unwrap())
            .collect();
        assert_eq!(blocks.len(), 3);
        for b in blocks {
            let text: String = b
                .lines()
                .map(|l| l.trim_start_matches("//!").trim_start())
                .filter(|l| !l.starts_with("[camera]"))
                .collect::<Vec<_>>()
                .join("\n");
            parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        }
    }

    #[test]
    fn defaults_and_relative_paths() {
        let v = parse("type = \"v4l2\"").unwrap();
        let CameraSettings::V4l2(v) = v else { panic!() };
        assert_eq!(
            (v.device.to_str(), v.width, v.height, v.format),
            (Some("/dev/video0"), 1920, 1080, PixelFormat::Mjpeg)
        );
        assert_eq!(v.timeout, Duration::from_secs(2));
        let f = parse("type = \"folder\"\npath = \"frames\"").unwrap();
        let CameraSettings::Folder(f) = f else {
            panic!()
        };
        assert_eq!(f.path, Path::new("/etc/intake/frames"));
        assert_eq!(f.archive_path, Path::new("/etc/intake/frames/archive"));
        assert_eq!(f.after, After::Archive);
        assert_eq!(f.settle, Duration::from_millis(200));
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        for (text, says) in [
            ("type = \"http\"\nurl = \"ftp://cam/x.jpg\"", "url: "),
            (
                "type = \"http\"\nurl = \"http://cam/snap\"\nusername = \"u\"",
                "password_file: ",
            ),
            ("type = \"v4l2\"\nexposure = \"5 s\"", "exposure: "),
            ("type = \"v4l2\"\ntimeout = \"2\"", "timeout: "),
            ("type = \"v4l2\"\nformat = \"h264\"", "unknown variant"),
            (
                "type = \"folder\"\npath = \"/x\"\narchive_path = \"/x\"",
                "archive_path: ",
            ),
            ("type = \"sim\"\nwidth = 10", "not a camera frame"),
            (
                "type = \"folder\"\npath = \"/x\"\nafter = \"move\"",
                "unknown variant",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
