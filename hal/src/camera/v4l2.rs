//! A USB (UVC) camera through Video4Linux2.
//!
//! The decisions are pure and tested without a device: [`negotiate`] picks the format and
//! size from what the device offers, [`plan_controls`] turns the wanted exposure and focus
//! into control values the device accepts (and says which it refused), [`Freshness`]
//! drops the buffers that were filled before the trigger, and [`yuyv_luma`] takes the luma
//! out of a YUYV frame without an RGB round trip. The ioctl layer ([`device`], Linux only,
//! through the `v4l` crate) only moves those decisions to and from the driver.
//!
//! The stream runs between captures (auto exposure and white balance stay settled); at the
//! trigger the buffers the driver filled meanwhile are stale. Each dequeued buffer carries
//! the driver's timestamp on the monotonic clock: buffers stamped before the trigger are
//! dropped. Drivers without monotonic timestamps get their whole queue dropped instead.

use std::time::Duration;

use image::GrayImage;

use super::config::{PixelFormat, V4l2Settings};

/// A frame size a device offers for one format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeOffer {
    Discrete {
        width: u32,
        height: u32,
    },
    /// Any size from min to max in steps (a range of sizes).
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

/// One pixel format the device offers, with its sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatOffer {
    pub fourcc: [u8; 4],
    pub sizes: Vec<SizeOffer>,
}

/// The format and size to ask the driver for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
}

/// Why the device cannot give what the config asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NegotiationError {
    #[error(
        "the camera does not offer {wanted} (it offers {offered}); set camera.format to one of those"
    )]
    Format { wanted: String, offered: String },
    #[error("the camera offers no frame size for {0}")]
    NoSizes(String),
}

fn fourcc_text(f: [u8; 4]) -> String {
    String::from_utf8_lossy(&f).trim().to_owned()
}

/// Picks the format and size: the configured format must be offered; the size is the exact
/// one asked for when offered, else the offered size nearest to it (by pixel count, then
/// aspect), preferring sizes at least as large.
pub fn negotiate(
    offers: &[FormatOffer],
    format: PixelFormat,
    width: u32,
    height: u32,
) -> Result<Choice, NegotiationError> {
    let Some(offer) = offers.iter().find(|o| o.fourcc == format.fourcc()) else {
        return Err(NegotiationError::Format {
            wanted: format.as_str().to_owned(),
            offered: offers
                .iter()
                .map(|o| fourcc_text(o.fourcc))
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let mut candidates: Vec<(u32, u32)> = Vec::new();
    for s in &offer.sizes {
        match *s {
            SizeOffer::Discrete { width, height } => candidates.push((width, height)),
            SizeOffer::Stepwise { min, max, step } => {
                let fit = |want: u32, lo: u32, hi: u32, st: u32| {
                    let st = st.max(1);
                    let w = want.clamp(lo, hi);
                    lo + (w - lo) / st * st
                };
                candidates.push((
                    fit(width, min.0, max.0, step.0),
                    fit(height, min.1, max.1, step.1),
                ));
            }
        }
    }
    let want_px = u64::from(width) * u64::from(height);
    let want_aspect = width as f32 / height.max(1) as f32;
    let best = candidates.into_iter().min_by(|a, b| {
        let key = |&(w, h): &(u32, u32)| {
            let px = u64::from(w) * u64::from(h);
            let smaller = px < want_px;
            let aspect = ((w as f32 / h.max(1) as f32) - want_aspect).abs();
            (smaller, px.abs_diff(want_px), (aspect * 1000.0) as u32)
        };
        key(a).cmp(&key(b))
    });
    let (width, height) =
        best.ok_or_else(|| NegotiationError::NoSizes(format.as_str().to_owned()))?;
    Ok(Choice {
        format,
        width,
        height,
    })
}

/// V4L2 control ids (linux/v4l2-controls.h, camera class).
pub mod cid {
    const CAMERA_CLASS_BASE: u32 = 0x009a_0900;
    pub const EXPOSURE_AUTO: u32 = CAMERA_CLASS_BASE + 1;
    pub const EXPOSURE_ABSOLUTE: u32 = CAMERA_CLASS_BASE + 2;
    pub const FOCUS_ABSOLUTE: u32 = CAMERA_CLASS_BASE + 10;
    pub const FOCUS_AUTO: u32 = CAMERA_CLASS_BASE + 12;
    /// `V4L2_EXPOSURE_MANUAL` of the exposure_auto menu.
    pub const EXPOSURE_MANUAL: i64 = 1;
}

/// A control as the device describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlInfo {
    pub id: u32,
    pub name: String,
    pub min: i64,
    pub max: i64,
    pub step: u64,
    /// For menu controls, the values it lists.
    pub menu: Option<Vec<i64>>,
}

/// What to set, in order, and what the device refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ControlPlan {
    pub set: Vec<(u32, i64)>,
    pub refused: Vec<String>,
}

fn accepts(c: &ControlInfo, v: i64) -> bool {
    match &c.menu {
        Some(items) => items.contains(&v),
        None => (c.min..=c.max).contains(&v) && (v - c.min) % (c.step.max(1) as i64) == 0,
    }
}

/// Manual exposure (in V4L2's 100 µs units, switching auto exposure off first) and manual
/// focus (switching autofocus off first), as far as the device offers them.
pub fn plan_controls(
    offered: &[ControlInfo],
    exposure: Option<Duration>,
    focus: Option<i64>,
) -> ControlPlan {
    let find = |id| offered.iter().find(|c| c.id == id);
    let mut plan = ControlPlan::default();
    let manual = |plan: &mut ControlPlan,
                  what: &str,
                  auto: Option<(u32, i64)>,
                  abs_id: u32,
                  value: i64,
                  shown: String| {
        let Some(abs) = find(abs_id) else {
            plan.refused.push(format!(
                "{what} {shown}: the camera has no manual {what} control"
            ));
            return;
        };
        let step = abs.step.max(1) as i64;
        let snapped = abs.min + ((value - abs.min) as f64 / step as f64).round() as i64 * step;
        if !accepts(abs, snapped) {
            plan.refused.push(format!(
                "{what} {shown}: outside what the camera accepts ({}…{})",
                abs.min, abs.max
            ));
            return;
        }
        if let Some((auto_id, manual_value)) = auto {
            match find(auto_id) {
                Some(a) if accepts(a, manual_value) => plan.set.push((auto_id, manual_value)),
                Some(_) => {
                    plan.refused.push(format!(
                        "{what} {shown}: the camera cannot switch automatic {what} off"
                    ));
                    return;
                }
                // No auto control: the manual one applies as it is.
                None => {}
            }
        }
        plan.set.push((abs_id, snapped));
    };
    if let Some(e) = exposure {
        let units = (e.as_micros() / 100) as i64;
        manual(
            &mut plan,
            "exposure",
            Some((cid::EXPOSURE_AUTO, cid::EXPOSURE_MANUAL)),
            cid::EXPOSURE_ABSOLUTE,
            units,
            format!("{} ms", e.as_micros() as f64 / 1000.0),
        );
    }
    if let Some(f) = focus {
        manual(
            &mut plan,
            "focus",
            Some((cid::FOCUS_AUTO, 0)),
            cid::FOCUS_ABSOLUTE,
            f,
            f.to_string(),
        );
    }
    plan
}

/// What to do with a dequeued buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Filled before the trigger: give it back to the driver.
    Drop,
    Take,
}

/// Drops the buffers filled before a trigger. `trigger` is on the driver's clock (the
/// monotonic clock). Buffers without a usable timestamp: the first `queue` are dropped
/// (at most that many can have been waiting).
#[derive(Debug, Clone)]
pub struct Freshness {
    trigger: Duration,
    queue: u32,
    dropped: u32,
}

impl Freshness {
    pub fn new(trigger: Duration, queue: u32) -> Freshness {
        Freshness {
            trigger,
            queue,
            dropped: 0,
        }
    }

    /// `timestamp`: the buffer's monotonic timestamp, `None` when the driver does not
    /// stamp buffers on the monotonic clock.
    pub fn judge(&mut self, timestamp: Option<Duration>) -> Verdict {
        let stale = match timestamp {
            Some(t) => t < self.trigger,
            None => self.dropped < self.queue,
        };
        if stale {
            self.dropped += 1;
            Verdict::Drop
        } else {
            Verdict::Take
        }
    }

    pub fn dropped(&self) -> u32 {
        self.dropped
    }
}

/// Why a frame's bytes are not an image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a {width}×{height} YUYV frame with {stride} bytes a line needs {need} bytes; the driver gave {len}"
)]
pub struct ShortFrame {
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    pub need: usize,
    pub len: usize,
}

/// The luma of a YUYV (Y0 U Y1 V) frame: every other byte, row by row (`stride` bytes a
/// line, at least `2 × width`).
pub fn yuyv_luma(
    data: &[u8],
    width: u32,
    height: u32,
    stride: u32,
) -> Result<GrayImage, ShortFrame> {
    let (w, h) = (width as usize, height as usize);
    let stride = (stride as usize).max(2 * w);
    let need = if h == 0 { 0 } else { stride * (h - 1) + 2 * w };
    if data.len() < need {
        return Err(ShortFrame {
            width,
            height,
            stride: stride as u32,
            need,
            len: data.len(),
        });
    }
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = &data[y * stride..y * stride + 2 * w];
        out.extend(row.iter().step_by(2));
    }
    // The buffer holds exactly width × height bytes.
    GrayImage::from_raw(width, height, out).ok_or(ShortFrame {
        width,
        height,
        stride: stride as u32,
        need,
        len: data.len(),
    })
}

/// The camera: settings now, the device once a capture opens it (and again after it was
/// unplugged).
pub struct V4l2Camera {
    name: String,
    settings: V4l2Settings,
    #[cfg(target_os = "linux")]
    open: Option<device::Open>,
}

impl V4l2Camera {
    /// Nothing is opened until the first capture: a camera plugged in later works then.
    pub fn new(settings: &V4l2Settings) -> V4l2Camera {
        V4l2Camera {
            name: format!("camera {}", settings.device.display()),
            settings: settings.clone(),
            #[cfg(target_os = "linux")]
            open: None,
        }
    }
}

#[cfg(target_os = "linux")]
pub mod device;

#[cfg(not(target_os = "linux"))]
impl crate::device::Camera for V4l2Camera {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(
        &mut self,
    ) -> crate::device::BoxFuture<'_, Result<GrayImage, crate::device::DeviceError>> {
        let e = crate::device::DeviceError::new(
            &self.name,
            crate::device::ErrorKind::Config,
            "V4L2 cameras exist on Linux only; use type = \"http\" or \"folder\" here",
        );
        Box::pin(async move { Err(e) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers() -> Vec<FormatOffer> {
        // What a common 1080p UVC webcam lists (v4l2-ctl --list-formats-ext).
        let d = |width, height| SizeOffer::Discrete { width, height };
        vec![
            FormatOffer {
                fourcc: *b"MJPG",
                sizes: vec![d(1920, 1080), d(1280, 720), d(640, 480)],
            },
            FormatOffer {
                fourcc: *b"YUYV",
                sizes: vec![d(640, 480), d(1280, 720)],
            },
        ]
    }

    #[test]
    fn negotiation_takes_the_exact_size_or_the_nearest_not_smaller() {
        let c = negotiate(&offers(), PixelFormat::Mjpeg, 1920, 1080).unwrap();
        assert_eq!((c.width, c.height), (1920, 1080));
        // YUYV has no 1080p: the largest it has, 720p, is the nearest.
        let c = negotiate(&offers(), PixelFormat::Yuyv, 1920, 1080).unwrap();
        assert_eq!(
            (c.width, c.height, c.format),
            (1280, 720, PixelFormat::Yuyv)
        );
        // Between sizes: the next larger wins over the next smaller.
        let c = negotiate(&offers(), PixelFormat::Mjpeg, 1600, 900).unwrap();
        assert_eq!((c.width, c.height), (1920, 1080));
        let stepwise = [FormatOffer {
            fourcc: *b"YUYV",
            sizes: vec![SizeOffer::Stepwise {
                min: (32, 32),
                max: (1280, 960),
                step: (16, 8),
            }],
        }];
        let c = negotiate(&stepwise, PixelFormat::Yuyv, 1000, 700).unwrap();
        assert_eq!((c.width, c.height), (992, 696));
        let c = negotiate(&stepwise, PixelFormat::Yuyv, 1920, 1080).unwrap();
        assert_eq!((c.width, c.height), (1280, 960));
    }

    #[test]
    fn a_format_the_camera_lacks_is_refused_with_what_it_has() {
        let only_yuyv = &offers()[1..];
        let e = negotiate(only_yuyv, PixelFormat::Mjpeg, 1280, 720).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the camera does not offer mjpeg (it offers YUYV); set camera.format to one of those"
        );
    }

    fn uvc_controls() -> Vec<ControlInfo> {
        vec![
            ControlInfo {
                id: cid::EXPOSURE_AUTO,
                name: "Auto Exposure".into(),
                min: 0,
                max: 3,
                step: 1,
                // UVC: manual (1) and aperture priority (3) only.
                menu: Some(vec![1, 3]),
            },
            ControlInfo {
                id: cid::EXPOSURE_ABSOLUTE,
                name: "Exposure Time, Absolute".into(),
                min: 3,
                max: 2047,
                step: 1,
                menu: None,
            },
        ]
    }

    #[test]
    fn exposure_switches_auto_off_and_unoffered_focus_is_refused() {
        let plan = plan_controls(&uvc_controls(), Some(Duration::from_millis(4)), Some(120));
        assert_eq!(
            plan.set,
            vec![
                (cid::EXPOSURE_AUTO, cid::EXPOSURE_MANUAL),
                (cid::EXPOSURE_ABSOLUTE, 40)
            ]
        );
        assert_eq!(plan.refused.len(), 1);
        assert!(
            plan.refused[0].starts_with("focus 120: the camera has no manual focus"),
            "{:?}",
            plan.refused
        );
    }

    #[test]
    fn out_of_range_and_stepped_values() {
        let mut ctl = uvc_controls();
        // 0.1 ms is below the camera's 0.3 ms minimum.
        let plan = plan_controls(&ctl, Some(Duration::from_micros(100)), None);
        assert!(plan.set.is_empty());
        assert!(
            plan.refused[0].contains("outside what the camera accepts (3…2047)"),
            "{:?}",
            plan.refused
        );
        // A focus control in steps of 5 snaps to the nearest step.
        ctl.push(ControlInfo {
            id: cid::FOCUS_ABSOLUTE,
            name: "Focus".into(),
            min: 0,
            max: 250,
            step: 5,
            menu: None,
        });
        let plan = plan_controls(&ctl, None, Some(122));
        assert_eq!(plan.set, vec![(cid::FOCUS_ABSOLUTE, 120)]);
        assert!(plan.refused.is_empty());
        // An auto-exposure menu without "manual" cannot be switched off.
        ctl[0].menu = Some(vec![3]);
        let plan = plan_controls(&ctl, Some(Duration::from_millis(4)), None);
        assert!(plan.refused[0].contains("cannot switch automatic exposure off"));
    }

    #[test]
    fn buffers_stamped_before_the_trigger_are_dropped() {
        let trigger = Duration::from_millis(10_000);
        let mut f = Freshness::new(trigger, 4);
        // Three buffers filled while nobody was reading, then the first one after.
        for t in [9_900, 9_933, 9_966] {
            assert_eq!(f.judge(Some(Duration::from_millis(t))), Verdict::Drop);
        }
        assert_eq!(f.judge(Some(Duration::from_millis(10_000))), Verdict::Take);
        assert_eq!(f.dropped(), 3);
        // Without timestamps the whole queue goes.
        let mut f = Freshness::new(trigger, 2);
        assert_eq!(f.judge(None), Verdict::Drop);
        assert_eq!(f.judge(None), Verdict::Drop);
        assert_eq!(f.judge(None), Verdict::Take);
    }

    #[test]
    fn yuyv_luma_is_every_other_byte_and_respects_the_stride() {
        // 4×2 pixels, stride 10 (2 bytes of padding a line).
        let data = [
            10, 128, 20, 128, 30, 128, 40, 128, 0, 0, //
            50, 128, 60, 128, 70, 128, 80, 128,
        ];
        let img = yuyv_luma(&data, 4, 2, 10).unwrap();
        assert_eq!(img.as_raw(), &[10, 20, 30, 40, 50, 60, 70, 80]);
        let e = yuyv_luma(&data[..12], 4, 2, 10).unwrap_err();
        assert_eq!((e.need, e.len), (18, 12));
    }
}
