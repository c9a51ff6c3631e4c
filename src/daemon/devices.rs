//! Opening the devices the config asks for, and the simulated dock when it asks for
//! simulation. Real devices that cannot be opened stop the daemon with the device's name
//! and the fix; there is never a silent fallback to simulation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use intake_hal::camera::FileCamera;
use intake_hal::camera::label::{LabelDamage, LabelSpec};
use intake_hal::camera::{SimCamera, SimCameraConfig};
use intake_hal::operator::config::IndicatorConfig;
use intake_hal::quantity::{Length, Mass};
use intake_hal::range::Axis;
use intake_hal::range::sim::SimBox;
use intake_hal::scale::config::{ScaleSettings, SerialSettings};
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
use crate::barcode::{Reader, choose_waybill};
use crate::config::{CameraSettings, Settings};
use crate::judge::{Problem, WaybillRead};
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
}

/// What keeps the simulated dock running; dropping it stops the simulated scale.
pub struct SimDock {
    _scale: SimScaleHandle,
    operator: JoinHandle<()>,
    _feeder: JoinHandle<()>,
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

impl DimsSource for RangeDims {
    fn measure(&mut self) -> BoxFuture<'_, Result<Dims, (Problem, String)>> {
        Box::pin(async move {
            let mut readings: BTreeMap<Axis, Vec<Result<Length, DeviceError>>> = BTreeMap::new();
            for _ in 0..self.cfg.samples {
                for (axis, s) in &mut self.sensors {
                    readings.entry(*axis).or_default().push(s.measure().await);
                }
            }
            dimensions(&self.cfg, &readings).map_err(|e| (e.problem(), e.to_string()))
        })
    }
}

/// The camera and the barcode reader: capture, decode off the async threads, choose.
struct CameraLabels {
    camera: Box<dyn Camera>,
    reader: Arc<Reader>,
    rules: Arc<WaybillRules>,
}

impl LabelSource for CameraLabels {
    fn read(&mut self) -> BoxFuture<'_, LabelRead> {
        Box::pin(async move {
            let t0 = Instant::now();
            let frame = match self.camera.capture().await {
                Ok(f) => f,
                Err(e) => {
                    return LabelRead {
                        read: WaybillRead::NoRead,
                        took: t0.elapsed(),
                        error: Some(e.to_string()),
                        frame: None,
                    };
                }
            };
            let (reader, rules) = (self.reader.clone(), self.rules.clone());
            let decoded = tokio::task::spawn_blocking(move || {
                let symbols = reader.read_gray(&frame);
                let (read, chosen) = choose_waybill(&symbols, &rules);
                // Every symbol is outlined on the evidence image; the waybill's in bold.
                let marks = symbols
                    .iter()
                    .map(|s| Mark {
                        corners: s.corners,
                        chosen: chosen.as_ref().is_some_and(|c| c.symbol == *s),
                    })
                    .collect();
                (
                    read,
                    EvidenceFrame {
                        image: frame,
                        marks,
                    },
                )
            })
            .await;
            match decoded {
                Ok((read, frame)) => LabelRead {
                    read,
                    took: t0.elapsed(),
                    error: None,
                    frame: Some(Box::new(frame)),
                },
                Err(e) => LabelRead {
                    read: WaybillRead::NoRead,
                    took: t0.elapsed(),
                    error: Some(format!("the barcode decoder failed: {e}")),
                    frame: None,
                },
            }
        })
    }
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

    let (scale, sim_scale): (Box<dyn Scale>, Option<SimScaleHandle>) = match &settings.scale {
        ScaleSettings::Serial(s) => {
            let scale = SerialScale::open(s.clone()).map_err(|e| {
                OpenDevicesError(format!(
                    "{e}; check the cable and scale.port (a /dev/serial/by-id/… name survives replugging), and that this user is in the dialout group"
                ))
            })?;
            (Box::new(scale), None)
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
            (Box::new(scale), Some(handle))
        }
    };

    let mut sensors = Vec::new();
    for s in &settings.dimensions.sensors {
        let finder = s
            .device
            .open(&s.name, s.axis, &box_rx)
            .map_err(|e| OpenDevicesError(format!("dimension sensor \"{}\": {e}", s.name)))?;
        sensors.push((s.axis, finder));
    }
    let dims = RangeDims {
        cfg: settings.dimensions.clone(),
        sensors,
    };

    let camera: Box<dyn Camera> = match &settings.camera {
        CameraSettings::Sim { width, height } => Box::new(SimCamera::new(
            label_rx,
            SimCameraConfig {
                width: *width,
                height: *height,
                seed: settings.sim.seed,
            },
        )),
        CameraSettings::File { dir } => {
            Box::new(FileCamera::open(dir).map_err(|e| OpenDevicesError(format!("camera: {e}")))?)
        }
    };
    let reader =
        Reader::new(&settings.barcode).map_err(|e| OpenDevicesError(format!("barcode: {e}")))?;
    let label = CameraLabels {
        camera,
        reader: Arc::new(reader),
        rules: Arc::new(settings.waybill.clone()),
    };

    let mut indicator: Box<dyn Indicator> = match &settings.indicator {
        IndicatorConfig::Sim => Box::new(intake_hal::operator::LogIndicator::default()),
        real => real
            .open_indicator()
            .map_err(|e| OpenDevicesError(format!("indicator: {e}")))?,
    };

    let dock = match sim_scale {
        None => None,
        Some(scale_handle) => {
            let (sig_tx, sig_rx) = mpsc::unbounded_channel();
            indicator = match settings.indicator {
                // The simulated light is the verdict log line the daemon already writes.
                IndicatorConfig::Sim => Box::new(SimIndicator::new(sig_tx)),
                _ => Box::new(Both(indicator, SimIndicator::new(sig_tx))),
            };
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
            let operator =
                tokio::spawn(Operator::new(generator, cfg, platform_tx, sig_rx, truth).run());
            let feeder = tokio::spawn(feed(platform_rx, load_tx, box_tx, label_tx));
            Some(SimDock {
                _scale: scale_handle,
                operator,
                _feeder: feeder,
            })
        }
    };

    Ok((
        super::Devices {
            scale,
            dims: Box::new(dims),
            label: Box::new(label),
            indicator,
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
