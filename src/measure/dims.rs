//! Dimensions from distance sensors against the calibrated empty station. Pure: readings in,
//! a box or the reason there is none out.
//!
//! The layout: one sensor per axis. The x and y sensors sit beside the platform and look
//! across it at a fence on the far side, and the parcel is pushed into the corner against
//! those fences; the z sensor looks down at the platform. Each sensor's *baseline* is what it
//! reads with the station empty (the calibration), so a parcel's extent on that axis is
//! `baseline − distance`. Several readings per axis are taken; their median counts, and
//! if they disagree by more than `max_spread` (a hand in the beam, a parcel still moving,
//! an irregular shape) there is no measurement but a `sensor_fault` the operator can act on.
//!
//! Config (the daemon embeds this as `[dimensions]`; see `config/pi.toml`):
//! ```toml
//! [dimensions]
//! samples = 5              # readings per axis
//! max_spread = "6 mm"      # readings on one axis may differ by at most this
//! division = "1 mm"        # sides are rounded to this ("0.1 in" works too)
//!
//! [[dimensions.sensors]]
//! name = "top"
//! axis = "z"               # "x" along the platform, "y" across, "z" up
//! baseline = "80 cm"       # empty-station reading; leave out until calibrated
//! [dimensions.sensors.device]
//! type = "sim"
//! mounting = "80 cm"
//! ```

use std::collections::BTreeMap;

use intake_hal::DeviceError;
use intake_hal::quantity::{Dims, Length, Mass};
use intake_hal::range::Axis;
use intake_hal::range::config::{KeyError, RangeDeviceConfig, RawRangeDevice};
use serde::Deserialize;

use super::calibration::{Calibration, DriftTolerance, Measured, SensorBaseline};
use crate::judge::Problem;

/// The `[dimensions]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDimensions {
    /// Readings per axis; default 5.
    pub samples: Option<usize>,
    /// Default "6 mm".
    pub max_spread: Option<String>,
    /// Default "1 mm".
    pub division: Option<String>,
    /// Readings per sensor when calibrating (`intake calibrate`); default 25.
    pub calibration_samples: Option<usize>,
    /// How far an empty-station reading may stray from its calibrated baseline; default "5 mm".
    pub drift_tolerance: Option<String>,
    /// How far the empty scale may stray from zero before dimensioning stops; default "20 g".
    pub scale_drift_tolerance: Option<String>,
    /// `intake verify`: how far a side's bias and spread may be; default one `division`.
    pub verify_tolerance: Option<String>,
    /// Simulated stations only (ignored when any sensor is real): calibrate the empty
    /// station at the first start.
    pub self_calibrate: Option<bool>,
    pub sensors: Vec<RawSensor>,
}

/// One `[[dimensions.sensors]]` entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSensor {
    pub name: String,
    pub axis: Axis,
    /// Deprecated: the empty-station reading written by hand. Imported once as calibration 1
    /// when the store has none; calibration lives in the store (`intake calibrate`).
    pub baseline: Option<String>,
    pub device: RawRangeDevice,
}

/// One sensor of the layout, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorConfig {
    pub name: String,
    pub axis: Axis,
    pub baseline: Option<Length>,
    pub device: RangeDeviceConfig,
}

/// The validated `[dimensions]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DimsConfig {
    pub samples: usize,
    pub max_spread: Length,
    pub division: Length,
    pub calibration_samples: usize,
    pub drift_tolerance: Length,
    pub scale_drift_tolerance: Mass,
    pub verify_tolerance: Length,
    pub self_calibrate: bool,
    /// One per axis, in x, y, z order.
    pub sensors: Vec<SensorConfig>,
}

impl DimsConfig {
    /// Validates `raw`, found at `key` (normally `dimensions`).
    pub fn from_raw(raw: &RawDimensions, key: &str) -> Result<DimsConfig, KeyError> {
        let length =
            |k: &str, text: &Option<String>, default: Length| -> Result<Length, KeyError> {
                match text {
                    Some(t) => t
                        .parse::<Length>()
                        .map_err(|e| KeyError::new(format!("{key}.{k}"), e.to_string())),
                    None => Ok(default),
                }
            };
        let samples = raw.samples.unwrap_or(5);
        if !(1..=50).contains(&samples) {
            return Err(KeyError::new(
                format!("{key}.samples"),
                "must be 1 to 50; 5 is a good start (3 at least to outvote one bad reading)",
            ));
        }
        let max_spread = length("max_spread", &raw.max_spread, Length::from_mm(6))?;
        let division = length("division", &raw.division, Length::from_mm(1))?;
        if division == Length::ZERO {
            return Err(KeyError::new(
                format!("{key}.division"),
                "must be above zero, like \"1 mm\" or \"0.1 in\"",
            ));
        }
        let mut sensors: Vec<SensorConfig> = Vec::new();
        for (i, s) in raw.sensors.iter().enumerate() {
            let k = format!("{key}.sensors[{i}]");
            if s.name.trim().is_empty() {
                return Err(KeyError::new(
                    format!("{k}.name"),
                    "must name the sensor, like \"top\"",
                ));
            }
            if let Some(other) = sensors.iter().find(|o| o.axis == s.axis) {
                return Err(KeyError::new(
                    format!("{k}.axis"),
                    format!(
                        "axis \"{}\" is already measured by sensor \"{}\"; one sensor per axis",
                        s.axis, other.name
                    ),
                ));
            }
            if sensors.iter().any(|o| o.name == s.name) {
                return Err(KeyError::new(
                    format!("{k}.name"),
                    format!("\"{}\" is used twice", s.name),
                ));
            }
            let device = RangeDeviceConfig::from_raw(&s.device, &format!("{k}.device"))?;
            let baseline = match &s.baseline {
                Some(b) => {
                    let b = b
                        .parse::<Length>()
                        .map_err(|e| KeyError::new(format!("{k}.baseline"), e.to_string()))?;
                    let (min, max) = device.valid_range();
                    if b < min || b > max {
                        return Err(KeyError::new(
                            format!("{k}.baseline"),
                            format!(
                                "{} is outside what this sensor measures ({} to {}); re-measure the empty station",
                                show(b),
                                show(min),
                                show(max)
                            ),
                        ));
                    }
                    Some(b)
                }
                None => None,
            };
            sensors.push(SensorConfig {
                name: s.name.clone(),
                axis: s.axis,
                baseline,
                device,
            });
        }
        for axis in Axis::ALL {
            if !sensors.iter().any(|s| s.axis == axis) {
                return Err(KeyError::new(
                    format!("{key}.sensors"),
                    format!(
                        "no sensor measures axis \"{axis}\"; add a [[{key}.sensors]] with axis = \"{axis}\""
                    ),
                ));
            }
        }
        sensors.sort_by_key(|s| s.axis);
        let calibration_samples = raw.calibration_samples.unwrap_or(25);
        if !(3..=500).contains(&calibration_samples) {
            return Err(KeyError::new(
                format!("{key}.calibration_samples"),
                "must be 3 to 500; 25 is a good start",
            ));
        }
        let drift_tolerance = length("drift_tolerance", &raw.drift_tolerance, Length::from_mm(5))?;
        let scale_drift_tolerance = match &raw.scale_drift_tolerance {
            Some(t) => t.parse::<Mass>().map_err(|e| {
                KeyError::new(format!("{key}.scale_drift_tolerance"), e.to_string())
            })?,
            None => Mass::from_grams(20),
        };
        let verify_tolerance = length("verify_tolerance", &raw.verify_tolerance, division)?;
        // Only a simulated station calibrates itself (a site file laid over the embedded
        // default inherits the key; real sensors ignore it).
        let self_calibrate =
            raw.self_calibrate.unwrap_or(false) && sensors.iter().all(|s| !s.device.is_real());
        Ok(DimsConfig {
            samples,
            max_spread,
            division,
            calibration_samples,
            drift_tolerance,
            scale_drift_tolerance,
            verify_tolerance,
            self_calibrate,
            sensors,
        })
    }

    /// This layout with the baselines of `cal` (a sensor it lacks stays uncalibrated).
    pub fn calibrated(&self, cal: &Calibration) -> DimsConfig {
        let mut c = self.clone();
        for s in &mut c.sensors {
            s.baseline = cal.baseline(&s.name);
        }
        c
    }

    /// The configuration's hand-written baselines, when every sensor has one: the import
    /// path to the store's first calibration.
    pub fn config_baselines(&self) -> Option<Measured> {
        let sensors = self
            .sensors
            .iter()
            .map(|s| {
                s.baseline.map(|b| SensorBaseline {
                    name: s.name.clone(),
                    axis: s.axis,
                    baseline: b,
                    spread: Length::ZERO,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Measured {
            samples: 0,
            sensors,
            scale_zero: None,
        })
    }

    /// The drift tolerances.
    pub fn drift(&self) -> DriftTolerance {
        DriftTolerance {
            range: self.drift_tolerance,
            scale: self.scale_drift_tolerance,
        }
    }

    /// The sensor on `axis`.
    pub fn sensor(&self, axis: Axis) -> Option<&SensorConfig> {
        self.sensors.iter().find(|s| s.axis == axis)
    }
}

/// Why there is no box. Each message tells the operator what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DimsError {
    #[error(
        "sensor {sensor} (axis {axis}) has no calibrated baseline; calibrate the empty station before measuring (intake calibrate)"
    )]
    Uncalibrated { sensor: String, axis: Axis },
    #[error(
        "sensor {sensor} (axis {axis}) gave no usable reading ({error}); check the sensor and measure again"
    )]
    Device {
        sensor: String,
        axis: Axis,
        error: DeviceError,
    },
    #[error(
        "sensor {sensor} (axis {axis}) readings vary by {spread} (at most {max} allowed): something moved in the beam; keep hands clear and measure again, or measure an irregular parcel by hand"
    )]
    Spread {
        sensor: String,
        axis: Axis,
        spread: String,
        max: String,
    },
    #[error(
        "sensor {sensor} (axis {axis}) reads {distance}, outside its range of {min} to {max}; check nothing blocks it and the parcel is on the platform"
    )]
    OutOfRange {
        sensor: String,
        axis: Axis,
        distance: String,
        min: String,
        max: String,
    },
    #[error(
        "sensor {sensor} (axis {axis}) reads {distance}, farther than the empty station ({baseline}); recalibrate the baseline"
    )]
    BeyondBaseline {
        sensor: String,
        axis: Axis,
        distance: String,
        baseline: String,
    },
    #[error(
        "nothing in front of sensor {sensor} (axis {axis}); push the parcel into the corner against the fences and measure again"
    )]
    NoParcel { sensor: String, axis: Axis },
    #[error("no readings for axis {axis}")]
    Missing { axis: Axis },
}

impl DimsError {
    /// How the judge counts it: a missing baseline is `uncalibrated`, all else `sensor_fault`.
    pub fn problem(&self) -> Problem {
        match self {
            DimsError::Uncalibrated { .. } => Problem::Uncalibrated,
            _ => Problem::Fault,
        }
    }
}

/// A length for people: millimetres with one decimal.
fn show(l: Length) -> String {
    format!("{:.1} mm", l.micrometres() as f64 / 1000.0)
}

/// `l` rounded to the nearest multiple of `division` (halves up).
pub fn round_to(l: Length, division: Length) -> Length {
    let d = division.micrometres().max(1);
    let um = l.micrometres();
    Length::from_micrometres((um + d / 2).div_euclid(d) * d)
}

/// The median of `v` (the lower middle one for an even count); `None` when empty.
pub(crate) fn median(v: &mut [Length]) -> Option<Length> {
    v.sort_unstable();
    v.get((v.len().saturating_sub(1)) / 2).copied()
}

/// The spread of `v` after setting aside the one reading farthest from the median when there
/// are four or more: one stray reading is outvoted, a moving hand is not.
fn robust_spread(v: &[Length], med: Length) -> Length {
    let mut sorted: Vec<Length> = v.to_vec();
    sorted.sort_unstable();
    if sorted.len() >= 4 {
        let lo = med.micrometres() - sorted[0].micrometres();
        let hi = sorted[sorted.len() - 1].micrometres() - med.micrometres();
        if hi >= lo {
            sorted.pop();
        } else {
            sorted.remove(0);
        }
    }
    match (sorted.first(), sorted.last()) {
        (Some(a), Some(b)) => Length::from_micrometres(b.micrometres() - a.micrometres()),
        _ => Length::ZERO,
    }
}

/// Why a sensor's readings cannot be used, in people's words (millimetres).
pub(crate) enum Unfit {
    Spread {
        spread: String,
        max: String,
    },
    OutOfRange {
        distance: String,
        min: String,
        max: String,
    },
}

/// Whether readings whose median is `med` and whose spread is `spread` can be used: the
/// spread within `max_spread`, the median within what the sensor measures.
pub(crate) fn fit(
    sensor: &SensorConfig,
    med: Length,
    spread: Length,
    max_spread: Length,
) -> Result<(), Unfit> {
    if spread > max_spread {
        return Err(Unfit::Spread {
            spread: show(spread),
            max: show(max_spread),
        });
    }
    let (min, max) = sensor.device.valid_range();
    if med < min || med > max {
        return Err(Unfit::OutOfRange {
            distance: show(med),
            min: show(min),
            max: show(max),
        });
    }
    Ok(())
}

/// One axis: the parcel's extent from its sensor's readings.
pub fn axis_extent(
    cfg: &DimsConfig,
    sensor: &SensorConfig,
    readings: &[Result<Length, DeviceError>],
) -> Result<Length, DimsError> {
    let name = || sensor.name.clone();
    let Some(baseline) = sensor.baseline else {
        return Err(DimsError::Uncalibrated {
            sensor: name(),
            axis: sensor.axis,
        });
    };
    let mut good: Vec<Length> = readings
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    // A minority of failed readings is outvoted; a majority is the answer.
    if good.len() * 2 <= readings.len() {
        return match readings.iter().find_map(|r| r.as_ref().err()) {
            Some(e) => Err(DimsError::Device {
                sensor: name(),
                axis: sensor.axis,
                error: e.clone(),
            }),
            None => Err(DimsError::Missing { axis: sensor.axis }),
        };
    }
    let Some(med) = median(&mut good) else {
        return Err(DimsError::Missing { axis: sensor.axis });
    };
    match fit(sensor, med, robust_spread(&good, med), cfg.max_spread) {
        Ok(()) => {}
        Err(Unfit::Spread { spread, max }) => {
            return Err(DimsError::Spread {
                sensor: name(),
                axis: sensor.axis,
                spread,
                max,
            });
        }
        Err(Unfit::OutOfRange { distance, min, max }) => {
            return Err(DimsError::OutOfRange {
                sensor: name(),
                axis: sensor.axis,
                distance,
                min,
                max,
            });
        }
    }
    if med.micrometres() > baseline.micrometres() + cfg.max_spread.micrometres() {
        return Err(DimsError::BeyondBaseline {
            sensor: name(),
            axis: sensor.axis,
            distance: show(med),
            baseline: show(baseline),
        });
    }
    let extent = round_to(
        Length::from_micrometres((baseline.micrometres() - med.micrometres()).max(0)),
        cfg.division,
    );
    // Less than a division, or within the noise of the empty station: nothing there.
    if extent == Length::ZERO || extent <= cfg.max_spread {
        return Err(DimsError::NoParcel {
            sensor: name(),
            axis: sensor.axis,
        });
    }
    Ok(extent)
}

/// The parcel's box from every axis's readings; the longest side is the length.
pub fn dimensions(
    cfg: &DimsConfig,
    readings: &BTreeMap<Axis, Vec<Result<Length, DeviceError>>>,
) -> Result<Dims, DimsError> {
    let mut sides = [Length::ZERO; 3];
    for (i, axis) in Axis::ALL.into_iter().enumerate() {
        let sensor = cfg.sensor(axis).ok_or(DimsError::Missing { axis })?;
        let r = readings.get(&axis).ok_or(DimsError::Missing { axis })?;
        sides[i] = axis_extent(cfg, sensor, r)?;
    }
    Ok(Dims::new(sides[0], sides[1], sides[2]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_hal::ErrorKind;

    const CONFIG: &str = r#"
samples = 5
max_spread = "6 mm"
division = "1 mm"

[[sensors]]
name = "top"
axis = "z"
baseline = "80 cm"
[sensors.device]
type = "sim"
mounting = "80 cm"

[[sensors]]
name = "side"
axis = "y"
baseline = "60 cm"
[sensors.device]
type = "vl53l1x"

[[sensors]]
name = "end"
axis = "x"
baseline = "120 cm"
[sensors.device]
type = "tfmini"
path = "/dev/serial/by-id/usb-lidar"
"#;

    fn cfg_from(text: &str) -> Result<DimsConfig, KeyError> {
        let raw: RawDimensions =
            toml::from_str(text).map_err(|e| KeyError::new("toml", e.to_string()))?;
        DimsConfig::from_raw(&raw, "dimensions")
    }

    fn cfg() -> DimsConfig {
        cfg_from(CONFIG).unwrap()
    }

    fn mm(v: &[f64]) -> Vec<Result<Length, DeviceError>> {
        v.iter()
            .map(|x| Ok(Length::from_micrometres((x * 1000.0).round() as i64)))
            .collect()
    }

    fn readings(
        x: Vec<Result<Length, DeviceError>>,
        y: Vec<Result<Length, DeviceError>>,
        z: Vec<Result<Length, DeviceError>>,
    ) -> BTreeMap<Axis, Vec<Result<Length, DeviceError>>> {
        BTreeMap::from([(Axis::X, x), (Axis::Y, y), (Axis::Z, z)])
    }

    fn l(s: &str) -> Length {
        s.parse().unwrap()
    }

    #[test]
    fn noisy_series_give_the_box_rounded_to_the_division() {
        // A 40 × 30 × 25 cm parcel; readings with ±2 mm of noise (recorded from the sim).
        let r = readings(
            mm(&[800.4, 801.9, 799.2, 800.0, 798.7]), // x: 1200 − 800.0 = 400 mm
            mm(&[300.6, 299.1, 301.8, 300.2, 298.9]), // y: 600 − 300.2 = 299.8 → 300 mm
            mm(&[550.3, 551.2, 549.5, 548.9, 550.6]), // z: 800 − 550.3 = 249.7 → 250 mm
        );
        let d = dimensions(&cfg(), &r).unwrap();
        assert_eq!(d, Dims::new(l("400 mm"), l("300 mm"), l("250 mm")));
        assert_eq!(d.length, l("40 cm"));
    }

    #[test]
    fn the_longest_side_is_the_length_whatever_the_axis() {
        // Tall and narrow: the z axis holds the longest side.
        let r = readings(
            mm(&[1_000.0, 1_000.0, 1_000.0]),
            mm(&[450.0, 450.0, 450.0]),
            mm(&[100.0, 100.0, 100.0]),
        );
        let d = dimensions(&cfg(), &r).unwrap();
        assert_eq!(
            (d.length, d.width, d.height),
            (l("700 mm"), l("200 mm"), l("150 mm"))
        );
    }

    #[test]
    fn one_outlier_is_outvoted() {
        // A single multipath reading on the side sensor.
        let r = readings(
            mm(&[800.0, 800.5, 799.5, 800.2, 800.1]),
            mm(&[300.0, 300.4, 241.0, 299.8, 300.1]),
            mm(&[550.0, 550.0, 550.5, 549.5, 550.0]),
        );
        let d = dimensions(&cfg(), &r).unwrap();
        assert_eq!(d.width, l("300 mm"));
    }

    #[test]
    fn a_hand_in_the_beam_is_a_sensor_fault_the_operator_understands() {
        // Recorded from the simulated hand-in-beam fault: short, scattered distances.
        let r = readings(
            mm(&[800.0, 800.0, 800.0, 800.0, 800.0]),
            mm(&[300.0, 300.0, 300.0, 300.0, 300.0]),
            mm(&[212.4, 98.1, 156.9, 270.3, 133.0]),
        );
        let e = dimensions(&cfg(), &r).unwrap_err();
        assert!(
            matches!(e, DimsError::Spread { axis: Axis::Z, .. }),
            "{e:?}"
        );
        assert_eq!(e.problem(), Problem::Fault);
        let msg = e.to_string();
        assert!(
            msg.contains("top") && msg.contains("keep hands clear"),
            "{msg}"
        );
    }

    #[test]
    fn out_of_range_and_device_failures() {
        let out = || {
            Err(DeviceError::new(
                "side",
                ErrorKind::OutOfRange,
                "nothing in range",
            ))
        };
        // A majority of failed readings: the device's own error, as a fault.
        let r = readings(
            mm(&[800.0, 800.0, 800.0]),
            vec![out(), out(), Ok(l("300 mm"))],
            mm(&[550.0, 550.0, 550.0]),
        );
        let e = dimensions(&cfg(), &r).unwrap_err();
        assert!(
            matches!(e, DimsError::Device { axis: Axis::Y, .. }),
            "{e:?}"
        );
        assert_eq!(e.problem(), Problem::Fault);
        // A minority is outvoted.
        let r = readings(
            mm(&[800.0, 800.0, 800.0]),
            vec![out(), Ok(l("300 mm")), Ok(l("300 mm"))],
            mm(&[550.0, 550.0, 550.0]),
        );
        assert!(dimensions(&cfg(), &r).is_ok());
        // Beyond the VL53L1X's long-mode range (4 m).
        let mut c = cfg();
        c.sensors[1].baseline = Some(l("4 m"));
        let r = readings(
            mm(&[800.0, 800.0, 800.0]),
            mm(&[4_100.0, 4_100.0, 4_100.0]),
            mm(&[550.0, 550.0, 550.0]),
        );
        let e = dimensions(&c, &r).unwrap_err();
        assert!(matches!(e, DimsError::OutOfRange { .. }), "{e:?}");
        // Farther than the empty station: the baseline is wrong.
        let r = readings(
            mm(&[800.0, 800.0, 800.0]),
            mm(&[300.0, 300.0, 300.0]),
            mm(&[830.0, 830.0, 830.0]),
        );
        let e = dimensions(&cfg(), &r).unwrap_err();
        assert!(e.to_string().contains("recalibrate"), "{e}");
    }

    #[test]
    fn an_empty_axis_says_where_to_put_the_parcel() {
        let r = readings(
            mm(&[1_200.0, 1_199.0, 1_201.0]),
            mm(&[300.0, 300.0, 300.0]),
            mm(&[550.0, 550.0, 550.0]),
        );
        let e = dimensions(&cfg(), &r).unwrap_err();
        assert!(e.to_string().contains("into the corner"), "{e}");
    }

    #[test]
    fn a_missing_baseline_is_uncalibrated() {
        let text = CONFIG.replace("baseline = \"80 cm\"\n", "");
        let c = cfg_from(&text).unwrap();
        let r = readings(mm(&[800.0]), mm(&[300.0]), mm(&[550.0]));
        let e = dimensions(&c, &r).unwrap_err();
        assert_eq!(e.problem(), Problem::Uncalibrated);
        assert!(e.to_string().contains("calibrate the empty station"), "{e}");
    }

    #[test]
    fn rounding_to_the_division() {
        assert_eq!(round_to(l("299.5 mm"), l("1 mm")), l("300 mm"));
        assert_eq!(round_to(l("299.4 mm"), l("1 mm")), l("299 mm"));
        assert_eq!(round_to(l("12.34 in"), l("0.1 in")), l("12.3 in"));
        assert_eq!(round_to(l("12.36 in"), l("0.5 in")), l("12.5 in"));
    }

    #[test]
    fn config_mistakes_name_the_key() {
        let e = cfg_from(&CONFIG.replace("axis = \"y\"", "axis = \"z\"")).unwrap_err();
        assert_eq!(e.key, "dimensions.sensors[1].axis");
        assert!(
            e.message.contains("already measured by sensor \"top\""),
            "{e}"
        );
        let e = cfg_from(&CONFIG.replace("baseline = \"60 cm\"", "baseline = \"60\"")).unwrap_err();
        assert_eq!(e.key, "dimensions.sensors[1].baseline");
        let e =
            cfg_from(&CONFIG.replace("baseline = \"120 cm\"", "baseline = \"5 cm\"")).unwrap_err();
        assert!(
            e.message.contains("outside what this sensor measures"),
            "{e}"
        );
        let e = cfg_from(&CONFIG.replace("samples = 5", "samples = 0")).unwrap_err();
        assert_eq!(e.key, "dimensions.samples");
        let e = cfg_from(&CONFIG.replace(
            "type = \"vl53l1x\"",
            "type = \"vl53l1x\"\ntiming_budget = \"1s\"",
        ))
        .unwrap_err();
        assert_eq!(e.key, "dimensions.sensors[1].device.timing_budget");
        let e = cfg_from(&CONFIG.replace("division = \"1 mm\"", "divison = \"1 mm\"")).unwrap_err();
        assert!(e.message.contains("divison"), "{e}");
        // Only two axes.
        let two = CONFIG.split("[[sensors]]\nname = \"end\"").next().unwrap();
        let e = cfg_from(two).unwrap_err();
        assert!(e.message.contains("no sensor measures axis \"x\""), "{e}");
    }

    #[test]
    fn the_pi_config_is_valid() {
        use intake_hal::operator::config::{IndicatorConfig, RawIndicator};
        let text = include_str!("../../config/pi.toml");
        let table: toml::Table = toml::from_str(text).unwrap();
        let raw: RawDimensions = table["dimensions"].clone().try_into().unwrap();
        let c = DimsConfig::from_raw(&raw, "dimensions").unwrap();
        assert!(
            c.sensors
                .iter()
                .all(|s| s.device.is_real() && s.baseline.is_some())
        );
        let raw: RawIndicator = table["indicator"].clone().try_into().unwrap();
        let i = IndicatorConfig::from_raw(&raw, "indicator").unwrap();
        assert!(i.is_real());
    }
}
