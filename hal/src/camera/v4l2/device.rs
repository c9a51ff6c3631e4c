//! The thin ioctl layer: list what the device offers, apply what [`super::negotiate`] and
//! [`super::plan_controls`] decided, and dequeue buffers through [`super::Freshness`].
//! Everything here needs a device; the decisions are tested in the parent module.

use std::time::{Duration, Instant};

use image::GrayImage;
use v4l::buffer::{Flags, Type};
use v4l::control::{Control, MenuItem, Value};
use v4l::format::FourCC;
use v4l::framesize::FrameSizeEnum;
use v4l::io::mmap::Stream;
use v4l::io::traits::CaptureStream;
use v4l::video::Capture;
use v4l::{Device, Format};

use super::{
    Choice, ControlInfo, FormatOffer, Freshness, SizeOffer, V4l2Camera, Verdict, negotiate,
    plan_controls, yuyv_luma,
};
use crate::camera::config::{PixelFormat, V4l2Settings};
use crate::camera::image_file::{ImageLimits, decode_image};
use crate::device::{BoxFuture, Camera, DeviceError, ErrorKind};

/// Buffers the driver fills in turn.
const BUFFERS: u32 = 3;

/// An open, streaming device.
pub(super) struct Open {
    // The stream holds its own handle to the device; `_dev` keeps the controls' handle.
    _dev: Device,
    stream: Stream<'static>,
    choice: Choice,
    stride: u32,
}

fn monotonic_now() -> Option<Duration> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    Some(Duration::new(
        u64::try_from(t.tv_sec()).ok()?,
        u32::try_from(t.tv_nsec()).ok()?,
    ))
}

fn offers(dev: &Device) -> std::io::Result<Vec<FormatOffer>> {
    let mut out = Vec::new();
    for f in dev.enum_formats()? {
        let sizes = dev
            .enum_framesizes(f.fourcc)
            .unwrap_or_default()
            .into_iter()
            .map(|s| match s.size {
                FrameSizeEnum::Discrete(d) => SizeOffer::Discrete {
                    width: d.width,
                    height: d.height,
                },
                FrameSizeEnum::Stepwise(s) => SizeOffer::Stepwise {
                    min: (s.min_width, s.min_height),
                    max: (s.max_width, s.max_height),
                    step: (s.step_width, s.step_height),
                },
            })
            .collect();
        out.push(FormatOffer {
            fourcc: f.fourcc.repr,
            sizes,
        });
    }
    Ok(out)
}

fn controls(dev: &Device) -> Vec<ControlInfo> {
    dev.query_controls()
        .unwrap_or_default()
        .into_iter()
        .map(|c| ControlInfo {
            id: c.id,
            name: c.name,
            min: c.minimum,
            max: c.maximum,
            step: c.step,
            menu: c.items.map(|items| {
                items
                    .into_iter()
                    .map(|(i, item)| match item {
                        MenuItem::Value(v) => v,
                        MenuItem::Name(_) => i64::from(i),
                    })
                    .collect()
            }),
        })
        .collect()
}

impl Open {
    fn start(name: &str, s: &V4l2Settings) -> Result<Open, DeviceError> {
        let err = |kind, detail: String| DeviceError::new(name, kind, detail);
        let dev = Device::with_path(&s.device).map_err(|e| {
            err(
                ErrorKind::Disconnected,
                format!(
                    "cannot open {}: {e}; check the camera is plugged in and this user is in the video group",
                    s.device.display()
                ),
            )
        })?;
        let offered = offers(&dev).map_err(|e| {
            err(
                ErrorKind::Config,
                format!(
                    "{} lists no capture formats ({e}); is it a camera?",
                    s.device.display()
                ),
            )
        })?;
        let choice = negotiate(&offered, s.format, s.width, s.height)
            .map_err(|e| err(ErrorKind::Config, e.to_string()))?;
        if (choice.width, choice.height) != (s.width, s.height) {
            tracing::warn!(device = %name, width = choice.width, height = choice.height,
                "the camera does not offer the configured size; using the nearest");
        }
        let fourcc = FourCC::new(&choice.format.fourcc());
        let got = dev
            .set_format(&Format::new(choice.width, choice.height, fourcc))
            .map_err(|e| {
                err(
                    ErrorKind::Config,
                    format!("the camera refused the format: {e}"),
                )
            })?;
        if got.fourcc != fourcc {
            return Err(err(
                ErrorKind::Config,
                format!(
                    "the camera switched to {} instead of {}",
                    got.fourcc, fourcc
                ),
            ));
        }
        let plan = plan_controls(&controls(&dev), s.exposure, s.focus);
        let mut refused = plan.refused;
        for (id, value) in plan.set {
            if let Err(e) = dev.set_control(Control {
                id,
                value: Value::Integer(value),
            }) {
                refused.push(format!("control {id:#x} = {value}: {e}"));
            }
        }
        for r in &refused {
            tracing::warn!(device = %name, refused = %r, "camera control not applied");
        }
        let mut stream = Stream::with_buffers(&dev, Type::VideoCapture, BUFFERS).map_err(|e| {
            err(
                ErrorKind::Disconnected,
                format!("cannot map the camera's buffers: {e}"),
            )
        })?;
        stream.set_timeout(s.timeout);
        Ok(Open {
            _dev: dev,
            stream,
            choice: Choice {
                width: got.width,
                height: got.height,
                ..choice
            },
            stride: got.stride,
        })
    }

    /// The first frame the driver stamped at or after `trigger`.
    fn grab(
        &mut self,
        name: &str,
        trigger: Option<Duration>,
        deadline: Instant,
    ) -> Result<GrayImage, DeviceError> {
        let mut fresh = Freshness::new(trigger.unwrap_or_default(), BUFFERS);
        loop {
            if Instant::now() >= deadline {
                return Err(DeviceError::new(
                    name,
                    ErrorKind::Timeout,
                    "no fresh frame in time; check the cable and that no other program holds the camera",
                ));
            }
            let (buf, meta) = CaptureStream::next(&mut self.stream).map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::TimedOut {
                    ErrorKind::Timeout
                } else {
                    ErrorKind::Disconnected
                };
                DeviceError::new(name, kind, format!("no frame from the camera: {e}"))
            })?;
            let stamp = (trigger.is_some() && meta.flags.contains(Flags::TIMESTAMP_MONOTONIC))
                .then(|| {
                    Duration::new(
                        u64::try_from(meta.timestamp.sec).unwrap_or(0),
                        u32::try_from(meta.timestamp.usec * 1000).unwrap_or(0),
                    )
                });
            if fresh.judge(stamp) == Verdict::Drop {
                continue;
            }
            let used = (meta.bytesused as usize).min(buf.len());
            let data = &buf[..used];
            let c = self.choice;
            return match c.format {
                PixelFormat::Yuyv => yuyv_luma(data, c.width, c.height, self.stride)
                    .map_err(|e| DeviceError::new(name, ErrorKind::Malformed, e.to_string())),
                // UVC MJPEG frames often lack Huffman tables; zune-jpeg supplies the
                // standard ones (ITU T.81 Annex K) for them.
                PixelFormat::Mjpeg => {
                    decode_image(data, "the MJPEG frame", &ImageLimits::default())
                        .map_err(|e| DeviceError::new(name, ErrorKind::Malformed, e.to_string()))
                }
            };
        }
    }
}

impl Camera for V4l2Camera {
    fn name(&self) -> &str {
        &self.name
    }

    fn capture(&mut self) -> BoxFuture<'_, Result<GrayImage, DeviceError>> {
        let trigger = monotonic_now();
        let started = Instant::now();
        Box::pin(async move {
            let (name, settings) = (self.name.clone(), self.settings.clone());
            let open = self.open.take();
            let job = tokio::task::spawn_blocking(move || {
                let mut open = match open {
                    Some(o) => o,
                    None => Open::start(&name, &settings)?,
                };
                let r = open.grab(&name, trigger, started + settings.timeout);
                match r {
                    // A device that went away is reopened on the next capture.
                    Err(e) if e.kind() == ErrorKind::Disconnected => Err(e),
                    r => Ok((open, r)),
                }
            });
            match job.await {
                Ok(Ok((open, r))) => {
                    self.open = Some(open);
                    r
                }
                Ok(Err(e)) => Err(e),
                Err(e) => Err(DeviceError::new(
                    &self.name,
                    ErrorKind::Disconnected,
                    format!("the capture thread stopped: {e}"),
                )),
            }
        })
    }
}
