//! Opening the devices the config asks for, and the simulated dock when it asks for
//! simulation. Real devices that cannot be opened stop the daemon with the device's name
//! and the fix; there is never a silent fallback to simulation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image::GrayImage;
use intake_hal::camera::label::{LabelDamage, LabelSpec};
use intake_hal::camera::{
    FileCamera, FolderCamera, HttpCamera, SimCamera, SimCameraConfig, V4l2Camera,
};
use intake_hal::operator::config::IndicatorConfig;
use intake_hal::quantity::Mass;
use intake_hal::range::Axis;
use intake_hal::range::sim::SimBox;
use intake_hal::scale::NoteCounts;
use intake_hal::scale::config::{ScaleSettings, SerialSettings};
use intake_hal::scale::replay::{self, ReplayHandle};
use intake_hal::scale::serial::SerialScale;
use intake_hal::scale::sim::{SimScale, SimScaleHandle};
use intake_hal::sim::{
    Generator, GeneratorConfig, Operator, OperatorConfig, SimIndicator, SimOrder, SimParcel,
};
use intake_hal::{BoxFuture, Camera, DeviceError, Indicator, RangeFinder, Scale};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::evidence::{EvidenceFrame, Mark};
use super::{DimsSource, LabelRead, LabelSource};
use crate::barcode::{ChosenSymbol, Reader, Symbol, choose_waybill};
use crate::config::{CameraSettings, Settings};
use crate::judge::{Problem, WaybillRead};
use crate::measure::calibration::{Calibration, Readings};
use crate::measure::dims::{DimsConfig, dimensions};
use crate::quantity::Dims;
use crate::store::Store;
use crate::waybill::{WaybillRules, s10_check_digit};

/// How the simulated dock should run.
#[derive(Debug, Clone, Default)]
pub struct SimOptions {
    /// No pauses between parcels or before lifting them.
    pub fast: bool,
    /// The operator stops after this many parcels.
    pub parcels: Option<u64>,
    /// Where each simulated parcel's ground truth is appended (JSON lines).
    pub truth_file: Option<PathBuf>,
    /// No simulated operator: the command places what it needs itself (`intake calibrate`
    /// leaves the platform empty, `intake verify` puts the reference box on it).
    pub no_operator: bool,
}

/// The simulated dock's scale: the simulated one, or a replayed capture. Held only to keep
/// it running (dropping it stops it).
#[expect(dead_code, reason = "held for its Drop")]
enum DockScale {
    Sim(SimScaleHandle),
    Replay(ReplayHandle),
}

/// What keeps the simulated dock running; dropping it stops the simulated scale.
pub struct SimDock {
    _scale: DockScale,
    operator: JoinHandle<()>,
    _feeder: JoinHandle<()>,
    platform: watch::Sender<Option<SimParcel>>,
}

impl SimDock {
    /// Puts `parcel` on the simulated platform (or clears it), as a person would: for
    /// `intake verify`, whose operator never started.
    pub fn present(&self, parcel: Option<SimParcel>) {
        self.platform.send_replace(parcel);
    }
}

impl Drop for SimDock {
    fn drop(&mut self) {
        self.operator.abort();
        self._feeder.abort();
    }
}

/// A device that could not be opened: which, what went wrong, and the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OpenDevicesError(pub String);

/// Range finders and the dimensioning rule: one box per request.
struct RangeDims {
    cfg: DimsConfig,
    sensors: Vec<(Axis, Box<dyn RangeFinder>)>,
}

impl RangeDims {
    async fn read(&mut self, samples: usize) -> Readings {
        let mut readings: Readings = BTreeMap::new();
        for _ in 0..samples {
            for (axis, s) in &mut self.sensors {
                readings.entry(*axis).or_default().push(s.measure().await);
            }
        }
        readings
    }
}

impl DimsSource for RangeDims {
    fn measure(&mut self, cal: &Calibration) -> BoxFuture<'_, Result<Dims, (Problem, String)>> {
        let cfg = self.cfg.calibrated(cal);
        Box::pin(async move {
            let readings = self.read(cfg.samples).await;
            dimensions(&cfg, &readings).map_err(|e| (e.problem(), e.to_string()))
        })
    }

    fn readings(&mut self, samples: usize) -> BoxFuture<'_, Readings> {
        Box::pin(self.read(samples))
    }
}

/// One captured and decoded frame: what the station and `intake probe camera` both use.
pub struct LabelShot {
    pub read: WaybillRead,
    /// Every symbol found, in the reader's order.
    pub symbols: Vec<Symbol>,
    /// The symbol the waybill came from.
    pub chosen: Option<ChosenSymbol>,
    pub frame: GrayImage,
    pub capture: Duration,
    pub decode: Duration,
}

impl LabelShot {
    /// The frame with every symbol outlined (the waybill's in bold), as scan evidence.
    pub fn evidence(self) -> EvidenceFrame {
        let marks = self
            .symbols
            .iter()
            .map(|s| Mark {
                corners: s.corners,
                chosen: self.chosen.as_ref().is_some_and(|c| c.symbol == *s),
            })
            .collect();
        EvidenceFrame {
            image: self.frame,
            marks,
        }
    }
}

/// Why a label shot has no frame.
#[derive(Debug, thiserror::Error)]
pub enum LabelShotError {
    #[error(transparent)]
    Camera(#[from] DeviceError),
    #[error("the barcode decoder failed: {0}")]
    Decoder(String),
}

/// The camera and the barcode reader: capture, then decode off the async threads and
/// choose the waybill. Usable without the station (`intake probe camera`).
pub struct LabelCamera {
    camera: Box<dyn Camera>,
    reader: Arc<Reader>,
    rules: Arc<WaybillRules>,
}

impl LabelCamera {
    pub fn new(camera: Box<dyn Camera>, reader: Reader, rules: WaybillRules) -> LabelCamera {
        LabelCamera {
            camera,
            reader: Arc::new(reader),
            rules: Arc::new(rules),
        }
    }

    pub fn camera_name(&self) -> &str {
        self.camera.name()
    }

    /// Captures one frame now and decodes it.
    pub async fn shot(&mut self) -> Result<LabelShot, LabelShotError> {
        let t0 = Instant::now();
        let frame = self.camera.capture().await?;
        let capture = t0.elapsed();
        let (reader, rules) = (self.reader.clone(), self.rules.clone());
        tokio::task::spawn_blocking(move || {
            let t1 = Instant::now();
            let symbols = reader.read_gray(&frame);
            let (read, chosen) = choose_waybill(&symbols, &rules);
            LabelShot {
                read,
                symbols,
                chosen,
                frame,
                capture,
                decode: t1.elapsed(),
            }
        })
        .await
        .map_err(|e| LabelShotError::Decoder(e.to_string()))
    }
}

/// The station's label source: one shot, and a second one when the first frame gives no
/// waybill (the label half out of view, blurred by a parcel still moving). A camera that
/// fails gives `no_read` with the device's note; the parcel still gets its verdict.
struct CameraLabels(LabelCamera);

impl LabelSource for CameraLabels {
    fn read(&mut self) -> BoxFuture<'_, LabelRead> {
        Box::pin(async move {
            let t0 = Instant::now();
            let failed = |e: LabelShotError| LabelRead {
                read: WaybillRead::NoRead,
                took: t0.elapsed(),
                error: Some(e.to_string()),
                frame: None,
            };
            let first = match self.0.shot().await {
                Ok(s) => s,
                Err(e) => return failed(e),
            };
            let (shot, error) = if first.read == WaybillRead::NoRead {
                match self.0.shot().await {
                    Ok(second) => (second, None),
                    Err(e) => (first, Some(e.to_string())),
                }
            } else {
                (first, None)
            };
            LabelRead {
                read: shot.read.clone(),
                took: t0.elapsed(),
                error,
                frame: Some(Box::new(shot.evidence())),
            }
        })
    }
}

/// Opens the configured camera. The simulated one renders what `sim_label` says lies on
/// the station. Real cameras open lazily or reconnect by themselves; only a config that
/// cannot work fails here.
pub fn open_camera(
    settings: &CameraSettings,
    seed: u64,
    sim_label: watch::Receiver<Option<LabelSpec>>,
) -> Result<Box<dyn Camera>, DeviceError> {
    Ok(match settings {
        CameraSettings::Sim { width, height } => Box::new(SimCamera::new(
            sim_label,
            SimCameraConfig {
                width: *width,
                height: *height,
                seed,
            },
        )),
        CameraSettings::File { dir } => Box::new(FileCamera::open(dir)?),
        CameraSettings::V4l2(v) => Box::new(V4l2Camera::new(v)),
        CameraSettings::Folder(f) => Box::new(FolderCamera::open(f)),
        CameraSettings::Http(h) => Box::new(HttpCamera::open(h)?),
    })
}

/// Shows every signal on two indicators (the configured one and the simulated operator).
struct Both(Box<dyn Indicator>, SimIndicator);

impl Indicator for Both {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn show(&mut self, signal: &intake_hal::Signal) -> BoxFuture<'_, Result<(), DeviceError>> {
        let signal = signal.clone();
        Box::pin(async move {
            self.1.show(&signal).await?;
            self.0.show(&signal).await
        })
    }
}

/// Valid S10 waybills that are not in the manifest, for "unknown waybill" parcels.
fn unknown_waybills(store: &Store, n: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            let serial = format!("{:08}", 90_000_000 + i * 7_919);
            let mut digits = [0u8; 8];
            digits.copy_from_slice(serial.as_bytes());
            format!("UZ{serial}{}US", s10_check_digit(&digits))
        })
        .filter(|w| matches!(store.manifest_entry(w), Ok(None)))
        .collect()
}

/// Opens the configured devices; when the scale is simulated, also starts the simulated
/// dock (operator, parcels, ground truth) that drives every simulated device.
pub fn open(
    settings: &Settings,
    store: &Store,
    sim: &SimOptions,
) -> Result<(super::Devices, Option<SimDock>), OpenDevicesError> {
    let (platform_tx, platform_rx) = watch::channel::<Option<SimParcel>>(None);
    let (load_tx, load_rx) = watch::channel(Mass::ZERO);
    let (box_tx, box_rx) = watch::channel::<Option<SimBox>>(None);
    let (label_tx, label_rx) = watch::channel::<Option<LabelSpec>>(None);

    // Every device is tried; all that fail are named together, each with its fix.
    let mut failed: Vec<String> = Vec::new();
    type Opened = (Box<dyn Scale>, Option<DockScale>, Option<NoteCounts>);
    let opened_scale = || -> Result<Opened, OpenDevicesError> {
        Ok(match &settings.scale {
            ScaleSettings::Serial(s) => {
                let scale = SerialScale::open(s.clone()).map_err(|e| {
                OpenDevicesError(format!(
                    "{e}; and that this user is in the dialout group (scale.port names the port)"
                ))
            })?;
                let notes = scale.note_counts();
                (Box::new(scale), None, Some(notes))
            }
            ScaleSettings::Sim(s) => {
                let (handle, path) = SimScale::spawn(s.protocol, load_rx, s.options.clone())
                    .map_err(|e| OpenDevicesError(format!("simulated scale: {e}")))?;
                // Poll as often as the simulated scale updates, as a real station would be set up.
                let serial = SerialSettings {
                    poll_interval: s.options.interval,
                    ..SerialSettings::new(&path, s.protocol)
                };
                let scale = SerialScale::open(serial)
                    .map_err(|e| OpenDevicesError(format!("simulated scale: {e}")))?;
                let notes = scale.note_counts();
                (Box::new(scale), Some(DockScale::Sim(handle)), Some(notes))
            }
            // A replayed capture weighs; the simulated dock supplies everything else (the
            // platform load it would put on the simulated scale is not used).
            ScaleSettings::Replay(r) => {
                let (handle, serial) =
                    replay::start(r).map_err(|e| OpenDevicesError(format!("scale replay: {e}")))?;
                let scale = SerialScale::open(serial)
                    .map_err(|e| OpenDevicesError(format!("scale replay: {e}")))?;
                let notes = scale.note_counts();
                (
                    Box::new(scale),
                    Some(DockScale::Replay(handle)),
                    Some(notes),
                )
            }
        })
    };
    let scale = opened_scale()
        .map_err(|e| failed.push(format!("scale: {}", e.0)))
        .ok();
    let scale_notes = scale.as_ref().and_then(|(_, _, n)| n.clone());
    let scale = scale.map(|(s, d, _)| (s, d));

    let mut sensors = Vec::new();
    for s in &settings.dimensions.sensors {
        match s.device.open(&s.name, s.axis, &box_rx) {
            Ok(finder) => sensors.push((s.axis, finder)),
            Err(e) => failed.push(format!("dimension sensor \"{}\": {e}", s.name)),
        }
    }
    let dims = RangeDims {
        cfg: settings.dimensions.clone(),
        sensors,
    };

    // A V4L2 camera opens lazily (on the first capture); a device node that is not there is
    // named now with the rest.
    if let CameraSettings::V4l2(v) = &settings.camera
        && !v.device.exists()
    {
        failed.push(format!(
            "camera: {} does not exist; plug the USB camera in, check `ls /dev/video*` and camera.device, and that this user is in the video group",
            v.device.display()
        ));
    }
    let camera = open_camera(&settings.camera, settings.sim.seed, label_rx)
        .map_err(|e| failed.push(format!("camera: {e}")))
        .ok();
    let reader = Reader::new(&settings.barcode)
        .map_err(|e| failed.push(format!("barcode: {e}")))
        .ok();

    let indicator: Option<Box<dyn Indicator>> = match &settings.indicator {
        IndicatorConfig::Sim => Some(Box::new(intake_hal::operator::LogIndicator::default())),
        real => real
            .open_indicator()
            .map_err(|e| failed.push(format!("indicator: {e}")))
            .ok(),
    };
    let (Some((scale, sim_scale)), Some(camera), Some(reader), Some(mut indicator), true) =
        (scale, camera, reader, indicator, failed.is_empty())
    else {
        return Err(OpenDevicesError(format!(
            "{} device(s) could not be opened:\n  - {}",
            failed.len(),
            failed.join("\n  - ")
        )));
    };
    let label = CameraLabels(LabelCamera::new(camera, reader, settings.waybill.clone()));

    let (dock_open, dock_opened) = watch::channel(false);
    let dock = match sim_scale {
        None => None,
        Some(scale_handle) => {
            let (sig_tx, sig_rx) = mpsc::unbounded_channel();
            indicator = match settings.indicator {
                // The simulated light is the verdict log line the daemon already writes.
                IndicatorConfig::Sim => Box::new(SimIndicator::new(sig_tx)),
                _ => Box::new(Both(indicator, SimIndicator::new(sig_tx))),
            };
            let platform = platform_tx.clone();
            let feeder = tokio::spawn(feed(platform_rx, load_tx, box_tx, label_tx));
            if sim.no_operator {
                return Ok((
                    super::Devices {
                        scale,
                        dims: Box::new(dims),
                        label: Box::new(label),
                        indicator,
                        dock_open: None,
                        scale_notes,
                    },
                    Some(SimDock {
                        _scale: scale_handle,
                        operator: tokio::spawn(async {}),
                        _feeder: feeder,
                        platform,
                    }),
                ));
            }
            let orders: Vec<SimOrder> = store
                .manifest_entries()
                .map_err(|e| OpenDevicesError(format!("simulated dock: {e}")))?
                .into_iter()
                .map(|e| SimOrder {
                    waybill: e.waybill,
                    declared_weight: e.declared_weight,
                    declared_dims: e.declared_dims,
                })
                .collect();
            let s = &settings.sim;
            let generator = Generator::new(
                GeneratorConfig {
                    seed: s.seed,
                    over_weight_permille: s.over_weight_permille,
                    over_size_permille: s.over_size_permille,
                    torn_label_permille: s.torn_label_permille,
                    unknown_waybill_permille: s.unknown_waybill_permille,
                    max_weight: settings.policy.limits.max_weight,
                    max_side: settings.policy.limits.max_side,
                },
                orders,
                unknown_waybills(store, 50),
            )
            .map_err(|e| OpenDevicesError(format!("simulated dock: {e}")))?;
            let cfg = OperatorConfig {
                gap: if sim.fast { Duration::ZERO } else { s.gap },
                removal_delay: if sim.fast {
                    Duration::ZERO
                } else {
                    s.removal_delay
                },
                patience: Duration::from_secs(60),
                parcels: sim.parcels,
            };
            let truth = truth_writer(sim.truth_file.clone())?;
            let operator = Operator::new(generator, cfg, platform_tx.clone(), sig_rx, truth);
            // The operator starts once the station says so (calibrated, or it will not
            // calibrate itself); never, for `intake calibrate` and `intake verify`.
            let mut opened = dock_opened;
            let operator = tokio::spawn(async move {
                if opened.wait_for(|o| *o).await.is_ok() {
                    operator.run().await;
                }
            });
            Some(SimDock {
                _scale: scale_handle,
                operator,
                _feeder: feeder,
                platform,
            })
        }
    };

    Ok((
        super::Devices {
            scale,
            dims: Box::new(dims),
            label: Box::new(label),
            indicator,
            dock_open: Some(dock_open),
            scale_notes,
        },
        dock,
    ))
}

/// Where the simulated operator reports each parcel it places.
type TruthSink = Box<dyn FnMut(&SimParcel) + Send>;

/// Appends each parcel's ground truth to a JSON-lines file (when asked).
fn truth_writer(path: Option<PathBuf>) -> Result<TruthSink, OpenDevicesError> {
    let Some(path) = path else {
        return Ok(Box::new(|p: &SimParcel| {
            tracing::debug!(seq = p.seq, waybill = %p.waybill, kind = ?p.kind, "simulated parcel placed");
        }));
    };
    let mut file = crate::userfile::open_append(&path).map_err(|e| {
        OpenDevicesError(format!(
            "cannot open the ground-truth file {}: {e}",
            path.display()
        ))
    })?;
    Ok(Box::new(move |p: &SimParcel| {
        let line = serde_json::json!({
            "seq": p.seq,
            "kind": p.kind,
            "waybill": p.waybill,
            "barcode_readable": p.barcode_readable,
            "weight_ug": p.weight.micrograms(),
            "length_um": p.dims.length.micrometres(),
            "width_um": p.dims.width.micrometres(),
            "height_um": p.dims.height.micrometres(),
        });
        if let Err(e) = writeln!(file, "{line}").and_then(|()| file.flush()) {
            tracing::warn!(error = %e, "cannot write the simulated ground truth");
        }
    }))
}

/// Turns what is on the simulated platform into what each simulated device sees.
async fn feed(
    mut platform: watch::Receiver<Option<SimParcel>>,
    load: watch::Sender<Mass>,
    boxes: watch::Sender<Option<SimBox>>,
    label: watch::Sender<Option<LabelSpec>>,
) {
    loop {
        let parcel = platform.borrow_and_update().clone();
        match parcel {
            Some(p) => {
                // Camera and sensors see the parcel as it lands; the scale then settles.
                label.send_replace(Some(LabelSpec {
                    damage: if p.barcode_readable {
                        LabelDamage::None
                    } else {
                        LabelDamage::Torn
                    },
                    ..LabelSpec::new(p.waybill.clone())
                }));
                boxes.send_replace(Some(SimBox::new(
                    p.dims.length,
                    p.dims.width,
                    p.dims.height,
                )));
                load.send_replace(p.weight);
            }
            None => {
                load.send_replace(Mass::ZERO);
                boxes.send_replace(None);
                label.send_replace(None);
            }
        }
        if platform.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod camera_tests {
    use super::*;
    use intake_hal::ErrorKind;
    use intake_hal::camera::{Scene, compose, render_label};

    /// A camera that plays a script: a frame, or a failure, per capture.
    struct Scripted(Vec<Result<GrayImage, DeviceError>>);

    impl Camera for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }

        fn capture(&mut self) -> BoxFuture<'_, Result<GrayImage, DeviceError>> {
            let next = self.0.remove(0);
            Box::pin(async move { next })
        }
    }

    fn labels(script: Vec<Result<GrayImage, DeviceError>>) -> CameraLabels {
        let reader = Reader::new(&crate::barcode::BarcodeConfig::default()).unwrap();
        CameraLabels(LabelCamera::new(
            Box::new(Scripted(script)),
            reader,
            WaybillRules::default(),
        ))
    }

    fn frame(waybill: Option<&str>) -> GrayImage {
        let label = waybill.map(|w| render_label(&LabelSpec::new(w)).unwrap());
        compose(label.as_ref(), &Scene::centered(1280, 720, 2))
    }

    #[tokio::test]
    async fn a_frame_without_a_waybill_is_captured_once_more() {
        let mut l = labels(vec![Ok(frame(None)), Ok(frame(Some("EE123456785GB")))]);
        let r = l.read().await;
        assert_eq!(r.read, WaybillRead::Read("EE123456785GB".into()));
        assert!(r.error.is_none());
        // Read at once: no second capture (the script would panic on an empty list).
        let mut l = labels(vec![Ok(frame(Some("EE123456785GB")))]);
        assert!(matches!(l.read().await.read, WaybillRead::Read(_)));
    }

    #[tokio::test]
    async fn a_failing_camera_gives_no_read_with_the_device_note() {
        let e = DeviceError::new("scripted", ErrorKind::Timeout, "no snapshot within 2000 ms");
        let mut l = labels(vec![Err(e)]);
        let r = l.read().await;
        assert_eq!(r.read, WaybillRead::NoRead);
        assert!(r.error.unwrap().contains("no snapshot within 2000 ms"));
        assert!(r.frame.is_none());
        // Two frames without a waybill: no read, no device note, the second as evidence.
        let mut l = labels(vec![Ok(frame(None)), Ok(frame(None))]);
        let r = l.read().await;
        assert_eq!((r.read, r.error), (WaybillRead::NoRead, None));
        assert!(r.frame.is_some());
    }
}
