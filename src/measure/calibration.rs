//! Calibration, drift and verification, pure: readings in, a calibration, a drift or a
//! verification report out. The daemon and the CLI read the devices; the store actor keeps
//! the results (`src/store/calibration.rs`).
//!
//! - **Calibration**: with the station empty, each range finder reads `samples` times; its
//!   baseline is the median, and the readings must agree (their whole spread within
//!   `[dimensions] max_spread`), else the calibration is refused naming the sensor. The
//!   empty scale must read zero within one division.
//! - **Drift**: whenever the station is empty, each sensor's median against its calibrated
//!   baseline (`[dimensions] drift_tolerance`), and the empty scale against zero
//!   (`[dimensions] scale_drift_tolerance`). Beyond either, dimensioning stops until a new
//!   calibration.
//! - **Verification**: a reference box measured `count` times: bias (mean − declared) and
//!   standard deviation per side and for the weight, against tolerances.

use std::collections::BTreeMap;

use intake_hal::DeviceError;
use intake_hal::quantity::{Dims, Length, Mass};
use intake_hal::range::Axis;
use jiff::Timestamp;
use serde::Serialize;

use super::dims::{DimsConfig, Unfit, fit, median};

/// Readings per axis, as the range finders gave them.
pub type Readings = BTreeMap<Axis, Vec<Result<Length, DeviceError>>>;

/// One sensor's calibrated baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SensorBaseline {
    pub name: String,
    pub axis: Axis,
    /// The median of the empty-station readings.
    pub baseline: Length,
    /// Highest minus lowest reading.
    pub spread: Length,
}

/// What a calibration measured, before the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Measured {
    pub samples: usize,
    /// In x, y, z order.
    pub sensors: Vec<SensorBaseline>,
    /// The empty scale's stable reading; `None` for a calibration imported from the
    /// configuration's `baseline` values (no scale reading was taken).
    pub scale_zero: Option<Mass>,
}

/// A calibration in the store: numbered 1, 2, 3 … (the number only grows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calibration {
    pub number: u64,
    pub at: Timestamp,
    /// Who or what calibrated: `intake calibrate`, the dashboard, the simulated dock's first
    /// start, or the configuration's baselines imported once.
    pub source: String,
    pub measured: Measured,
}

impl Calibration {
    /// The baseline of the sensor named `name`.
    pub fn baseline(&self, name: &str) -> Option<Length> {
        self.measured
            .sensors
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.baseline)
    }
}

/// Millimetres with one decimal, for people.
pub fn mm(l: Length) -> String {
    format!("{:.1} mm", l.micrometres() as f64 / 1000.0)
}

/// Grams with one decimal, for people (a scale's zero is a few grams, not pounds).
pub fn grams(m: Mass) -> String {
    format!("{:.1} g", m.micrograms() as f64 / 1_000_000.0)
}

/// Why a calibration was refused. Each message names the sensor and what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalibrationError {
    #[error(
        "sensor {sensor} (axis {axis}) readings of the empty station vary by {spread} (at most {max} allowed): keep the beams clear, check the sensor is fixed firmly, and calibrate again"
    )]
    Spread {
        sensor: String,
        axis: Axis,
        spread: String,
        max: String,
    },
    #[error(
        "sensor {sensor} (axis {axis}) gave no usable reading of the empty station ({error}); check the sensor and calibrate again"
    )]
    Device {
        sensor: String,
        axis: Axis,
        error: String,
    },
    #[error(
        "sensor {sensor} (axis {axis}) reads {distance} on the empty station, outside its range of {min} to {max}; check nothing blocks it and it faces the fence or platform"
    )]
    OutOfRange {
        sensor: String,
        axis: Axis,
        distance: String,
        min: String,
        max: String,
    },
    #[error("no readings from sensor {sensor} (axis {axis})")]
    Missing { sensor: String, axis: Axis },
    #[error(
        "the empty scale reads {reads}, more than one division ({division}) from zero: clear the platform, zero the scale (its ZERO key) and calibrate again"
    )]
    ScaleNotZero { reads: String, division: String },
    #[error(
        "the scale gave no stable reading of the empty platform; check it is connected and nothing touches the platform, then calibrate again"
    )]
    ScaleUnstable,
}

/// A calibration from the empty station's readings and the empty scale's stable reading.
pub fn calibrate(
    cfg: &DimsConfig,
    readings: &Readings,
    scale_empty: Option<Mass>,
    scale_division: Mass,
) -> Result<Measured, CalibrationError> {
    let mut sensors = Vec::with_capacity(cfg.sensors.len());
    let mut samples = 0;
    for s in &cfg.sensors {
        let sensor = || s.name.clone();
        let r =
            readings
                .get(&s.axis)
                .filter(|r| !r.is_empty())
                .ok_or(CalibrationError::Missing {
                    sensor: sensor(),
                    axis: s.axis,
                })?;
        // Calibration is strict: every reading must be good.
        if let Some(e) = r.iter().find_map(|x| x.as_ref().err()) {
            return Err(CalibrationError::Device {
                sensor: sensor(),
                axis: s.axis,
                error: e.to_string(),
            });
        }
        let mut good: Vec<Length> = r.iter().filter_map(|x| x.as_ref().ok().copied()).collect();
        samples = samples.max(good.len());
        let Some(med) = median(&mut good) else {
            return Err(CalibrationError::Missing {
                sensor: sensor(),
                axis: s.axis,
            });
        };
        let spread = spread(&good);
        match fit(s, med, spread, cfg.max_spread) {
            Ok(()) => {}
            Err(Unfit::Spread { spread, max }) => {
                return Err(CalibrationError::Spread {
                    sensor: sensor(),
                    axis: s.axis,
                    spread,
                    max,
                });
            }
            Err(Unfit::OutOfRange { distance, min, max }) => {
                return Err(CalibrationError::OutOfRange {
                    sensor: sensor(),
                    axis: s.axis,
                    distance,
                    min,
                    max,
                });
            }
        }
        sensors.push(SensorBaseline {
            name: s.name.clone(),
            axis: s.axis,
            baseline: med,
            spread,
        });
    }
    let zero = scale_empty.ok_or(CalibrationError::ScaleUnstable)?;
    if zero.micrograms().abs() > scale_division.micrograms() {
        return Err(CalibrationError::ScaleNotZero {
            reads: grams(zero),
            division: grams(scale_division),
        });
    }
    Ok(Measured {
        samples,
        sensors,
        scale_zero: Some(zero),
    })
}

/// Highest minus lowest.
fn spread(v: &[Length]) -> Length {
    match (v.iter().min(), v.iter().max()) {
        (Some(a), Some(b)) => Length::from_micrometres(b.micrometres() - a.micrometres()),
        _ => Length::ZERO,
    }
}

/// How far the empty station may stray from its calibration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriftTolerance {
    pub range: Length,
    pub scale: Mass,
}

/// The empty station no longer matches its calibration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Drift {
    #[error(
        "sensor {sensor} (axis {axis}) drifted: it reads {reads} on the empty station, {by} from its calibrated {baseline} (tolerance {tolerance}); recalibrate (intake calibrate) before measuring again"
    )]
    Sensor {
        sensor: String,
        axis: Axis,
        reads: String,
        baseline: String,
        by: String,
        tolerance: String,
    },
    #[error(
        "the scale drifted: it reads {reads} when empty (tolerance {tolerance}); zero it and recalibrate (intake calibrate) before measuring again"
    )]
    Scale { reads: String, tolerance: String },
}

/// Compares the empty station with its calibration. A sensor with no good reading is not
/// judged here (measuring reports the device); `scale_empty` is the empty scale's stable
/// reading, when there is one.
pub fn check_drift(
    cal: &Calibration,
    readings: &Readings,
    scale_empty: Option<Mass>,
    tol: DriftTolerance,
) -> Result<(), Drift> {
    for s in &cal.measured.sensors {
        let mut good: Vec<Length> = readings
            .get(&s.axis)
            .map(|r| r.iter().filter_map(|x| x.as_ref().ok().copied()).collect())
            .unwrap_or_default();
        let Some(now) = median(&mut good) else {
            continue;
        };
        let by = (now.micrometres() - s.baseline.micrometres()).abs();
        if by > tol.range.micrometres() {
            return Err(Drift::Sensor {
                sensor: s.name.clone(),
                axis: s.axis,
                reads: mm(now),
                baseline: mm(s.baseline),
                by: mm(Length::from_micrometres(by)),
                tolerance: mm(tol.range),
            });
        }
    }
    if let Some(w) = scale_empty
        && w.micrograms().abs() > tol.scale.micrograms()
    {
        return Err(Drift::Scale {
            reads: grams(w),
            tolerance: grams(tol.scale),
        });
    }
    Ok(())
}

/// Tolerances of a verification with a reference box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyTolerance {
    /// Per side: |bias| and the standard deviation must each be within this.
    pub side: Length,
    pub weight: Mass,
}

/// Bias and spread of one measured quantity, in its base unit (µm or µg).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figure {
    pub declared: i64,
    /// Mean measured − declared.
    pub bias: f64,
    /// Sample standard deviation (n − 1); 0 for a single measurement.
    pub std_dev: f64,
    pub tolerance: i64,
    pub passed: bool,
}

/// A verification's figures: length, width, height (longest first) and weight.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub count: usize,
    /// Measurements that gave no box or no weight (each fails the verification).
    pub failed_measurements: usize,
    pub length: Figure,
    pub width: Figure,
    pub height: Figure,
    pub weight: Figure,
    pub passed: bool,
}

fn figure(declared: i64, values: &[i64], tolerance: i64) -> Figure {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|v| *v as f64).sum::<f64>() / n;
    let var = if values.len() > 1 {
        values
            .iter()
            .map(|v| (*v as f64 - mean).powi(2))
            .sum::<f64>()
            / (n - 1.0)
    } else {
        0.0
    };
    let bias = mean - declared as f64;
    let std_dev = var.sqrt();
    let tol = tolerance as f64;
    Figure {
        declared,
        bias,
        std_dev,
        tolerance,
        passed: !values.is_empty() && bias.abs() <= tol && std_dev <= tol,
    }
}

/// The figures of `measured` (one box and weight per placement; `None`: the station gave
/// none) against the reference box.
pub fn verify(
    reference: Dims,
    weight: Mass,
    measured: &[Option<(Dims, Mass)>],
    tol: VerifyTolerance,
) -> VerifyReport {
    let good: Vec<(Dims, Mass)> = measured.iter().flatten().copied().collect();
    let side = |f: fn(&Dims) -> Length| -> Vec<i64> {
        good.iter().map(|(d, _)| f(d).micrometres()).collect()
    };
    let t = tol.side.micrometres();
    let length = figure(reference.length.micrometres(), &side(|d| d.length), t);
    let width = figure(reference.width.micrometres(), &side(|d| d.width), t);
    let height = figure(reference.height.micrometres(), &side(|d| d.height), t);
    let weights: Vec<i64> = good.iter().map(|(_, w)| w.micrograms()).collect();
    let weight = figure(weight.micrograms(), &weights, tol.weight.micrograms());
    let failed = measured.len() - good.len();
    VerifyReport {
        count: measured.len(),
        failed_measurements: failed,
        passed: failed == 0
            && !measured.is_empty()
            && length.passed
            && width.passed
            && height.passed
            && weight.passed,
        length,
        width,
        height,
        weight,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_hal::ErrorKind;

    fn cfg() -> DimsConfig {
        let raw: super::super::dims::RawDimensions = toml::from_str(
            r#"
max_spread = "6 mm"
[[sensors]]
name = "end"
axis = "x"
[sensors.device]
type = "sim"
mounting = "200 cm"
[[sensors]]
name = "side"
axis = "y"
[sensors.device]
type = "sim"
mounting = "120 cm"
[[sensors]]
name = "top"
axis = "z"
[sensors.device]
type = "sim"
mounting = "120 cm"
"#,
        )
        .unwrap();
        DimsConfig::from_raw(&raw, "dimensions").unwrap()
    }

    fn mm_series(v: &[f64]) -> Vec<Result<Length, DeviceError>> {
        v.iter()
            .map(|x| Ok(Length::from_micrometres((x * 1000.0).round() as i64)))
            .collect()
    }

    fn empty_station() -> Readings {
        BTreeMap::from([
            (
                Axis::X,
                mm_series(&[2000.4, 1999.1, 2000.0, 2000.9, 1999.6]),
            ),
            (
                Axis::Y,
                mm_series(&[1200.2, 1199.5, 1200.8, 1200.0, 1199.9]),
            ),
            (
                Axis::Z,
                mm_series(&[1199.0, 1200.1, 1200.0, 1200.6, 1199.7]),
            ),
        ])
    }

    fn division() -> Mass {
        "0.01 lb".parse().unwrap()
    }

    fn calibration() -> Calibration {
        Calibration {
            number: 1,
            at: Timestamp::UNIX_EPOCH,
            source: "test".into(),
            measured: calibrate(&cfg(), &empty_station(), Some(Mass::ZERO), division()).unwrap(),
        }
    }

    fn tol() -> DriftTolerance {
        DriftTolerance {
            range: Length::from_mm(5),
            scale: Mass::from_grams(20),
        }
    }

    #[test]
    fn the_baseline_is_the_median_and_the_spread_is_kept() {
        let m = calibrate(&cfg(), &empty_station(), Some(Mass::ZERO), division()).unwrap();
        let z = &m.sensors[2];
        assert_eq!((z.name.as_str(), z.axis), ("top", Axis::Z));
        assert_eq!(z.baseline, Length::from_micrometres(1_200_000));
        assert_eq!(z.spread, Length::from_micrometres(1_600));
        assert_eq!(m.sensors[0].baseline, Length::from_micrometres(2_000_000));
        assert_eq!(m.samples, 5);
        assert_eq!(m.scale_zero, Some(Mass::ZERO));
    }

    #[test]
    fn a_wide_spread_is_refused_naming_the_sensor() {
        let mut r = empty_station();
        // A hand through the side beam once: 12 mm short.
        r.insert(
            Axis::Y,
            mm_series(&[1200.0, 1200.1, 1188.0, 1199.9, 1200.0]),
        );
        let e = calibrate(&cfg(), &r, Some(Mass::ZERO), division()).unwrap_err();
        assert!(
            matches!(&e, CalibrationError::Spread { sensor, axis: Axis::Y, .. } if sensor == "side"),
            "{e:?}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("sensor side") && msg.contains("12.1 mm"),
            "{msg}"
        );
        // Exactly at the limit is accepted.
        r.insert(Axis::Y, mm_series(&[1200.0, 1206.0, 1203.0]));
        assert!(calibrate(&cfg(), &r, Some(Mass::ZERO), division()).is_ok());
    }

    #[test]
    fn a_failed_reading_or_an_off_zero_scale_is_refused() {
        let mut r = empty_station();
        r.get_mut(&Axis::X).unwrap()[2] = Err(DeviceError::new(
            "end",
            ErrorKind::Timeout,
            "no answer in 100 ms",
        ));
        let e = calibrate(&cfg(), &r, Some(Mass::ZERO), division()).unwrap_err();
        assert!(e.to_string().contains("sensor end"), "{e}");
        // One division from zero is zero; more is not.
        let r = empty_station();
        assert!(calibrate(&cfg(), &r, Some(division()), division()).is_ok());
        let off = Mass::from_micrograms(division().micrograms() + 1);
        let e = calibrate(&cfg(), &r, Some(off), division()).unwrap_err();
        assert!(matches!(e, CalibrationError::ScaleNotZero { .. }), "{e:?}");
        assert!(e.to_string().contains("zero the scale"), "{e}");
        let e = calibrate(&cfg(), &r, None, division()).unwrap_err();
        assert_eq!(e, CalibrationError::ScaleUnstable);
    }

    #[test]
    fn drift_beyond_the_tolerance_names_the_sensor_and_how_far() {
        let cal = calibration();
        assert_eq!(
            check_drift(&cal, &empty_station(), Some(Mass::ZERO), tol()),
            Ok(())
        );
        let mut r = empty_station();
        // The top sensor sagged 5 mm: at the tolerance, still fine.
        r.insert(Axis::Z, mm_series(&[1195.0, 1195.0, 1195.0]));
        assert_eq!(check_drift(&cal, &r, Some(Mass::ZERO), tol()), Ok(()));
        r.insert(Axis::Z, mm_series(&[1194.0, 1194.2, 1193.8]));
        let e = check_drift(&cal, &r, Some(Mass::ZERO), tol()).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("sensor top") && msg.contains("6.0 mm from its calibrated 1200.0 mm"),
            "{msg}"
        );
        // Failing readings are not drift (measuring reports the device).
        let mut r = empty_station();
        r.insert(
            Axis::Y,
            vec![Err(DeviceError::new(
                "side",
                ErrorKind::Disconnected,
                "gone",
            ))],
        );
        assert_eq!(check_drift(&cal, &r, Some(Mass::ZERO), tol()), Ok(()));
        // The scale: 25 g when empty is beyond 20 g.
        let e = check_drift(&cal, &empty_station(), Some(Mass::from_grams(25)), tol()).unwrap_err();
        assert!(e.to_string().contains("scale drifted") && e.to_string().contains("25.0 g"));
        let neg = Mass::from_micrograms(-Mass::from_grams(25).micrograms());
        assert!(check_drift(&cal, &empty_station(), Some(neg), tol()).is_err());
    }

    #[test]
    fn verification_reports_bias_and_spread() {
        let reference: Dims = "12x10x8 in".parse().unwrap();
        let w: Mass = "5 lb".parse().unwrap();
        let tol = VerifyTolerance {
            side: "0.1 in".parse().unwrap(),
            weight: division(),
        };
        let d = |s: &str| s.parse::<Dims>().unwrap();
        let measured = vec![
            Some((d("12.1x10x8 in"), w)),
            Some((d("12x10x8 in"), w)),
            Some((d("12x10x8 in"), w)),
            Some((d("12.1x10x8 in"), w)),
        ];
        let r = verify(reference, w, &measured, tol);
        assert!(r.passed, "{r:?}");
        // Mean 12.05 in: bias 0.05 in = 1270 µm; sd of {0, 2540, 2540, 0} µm is 1270·√(4/3) ≈ 1466.47.
        assert!((r.length.bias - 1270.0).abs() < 1e-6, "{r:?}");
        assert!((r.length.std_dev - 1466.47).abs() < 0.01, "{r:?}");
        assert_eq!((r.width.bias, r.height.std_dev), (0.0, 0.0));
        // A scale reading 0.02 lb heavy fails the weight only.
        let heavy: Mass = "5.02 lb".parse().unwrap();
        let r = verify(reference, w, &[Some((reference, heavy)); 3], tol);
        assert!(!r.passed && !r.weight.passed && r.length.passed, "{r:?}");
        // A placement without a measurement fails the verification.
        let r = verify(reference, w, &[Some((reference, w)), None], tol);
        assert!(!r.passed && r.failed_measurements == 1, "{r:?}");
        assert!(!verify(reference, w, &[], tol).passed);
    }
}
