//! Config for one distance sensor: a raw serde struct tagged by `type`, validated once into
//! [`RangeDeviceConfig`], which can open the device.
//!
//! ```toml
//! type = "vl53l1x"         # or "sim", "hcsr04", "tfmini"
//! bus = 1                  # /dev/i2c-1
//! address = 0x29
//! distance_mode = "long"   # or "short"
//! timing_budget = "50ms"   # 20, 33, 50, 100, 200, 500 ms (15 ms in short mode)
//! ```
//!
//! The daemon embeds this as `[dimensions.sensors.device]` (see `config/pi.toml`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::watch;

use super::Axis;
use super::hcsr04;
use super::pi::OpenError;
use super::sim::{SimBox, SimRangeFinder};
use super::tfmini::{Model, TfMini};
use super::vl53l1x::{self, DistanceMode};
use crate::device::RangeFinder;
use crate::quantity::Length;

/// A bad config value: the key (full path, as the caller names it) and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct KeyError {
    pub key: String,
    pub message: String,
}

impl KeyError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        KeyError {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A duration written with its unit: `"50ms"`, `"1 s"`, `"1.5s"`.
pub fn parse_duration(key: &str, text: &str) -> Result<Duration, KeyError> {
    crate::quantity::parse_duration(text).map_err(|e| KeyError::new(key, e.to_string()))
}

/// A temperature with its unit: `"20 C"`, `"20°C"`, `"68 F"`; in millidegrees Celsius.
pub fn parse_temperature(key: &str, text: &str) -> Result<i32, KeyError> {
    let t = text.trim();
    let bad = || {
        KeyError::new(
            key,
            format!("\"{text}\" is not a temperature; write it like \"20 C\" or \"68 F\""),
        )
    };
    let i = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .ok_or_else(bad)?;
    let value: f64 = t[..i].trim().parse().map_err(|_| bad())?;
    let celsius = match t[i..].trim().trim_start_matches('°') {
        "C" | "c" => value,
        "F" | "f" => (value - 32.0) * 5.0 / 9.0,
        _ => return Err(bad()),
    };
    if !(-40.0..=60.0).contains(&celsius) {
        return Err(KeyError::new(
            key,
            format!("\"{text}\" is outside −40…60 °C; is the unit right?"),
        ));
    }
    Ok((celsius * 1000.0).round() as i32)
}

fn length(key: &str, text: &str) -> Result<Length, KeyError> {
    text.parse::<Length>()
        .map_err(|e| KeyError::new(key, e.to_string()))
}

/// One sensor's device table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawRangeDevice {
    /// A simulated sensor that sees the simulated dock's parcel.
    Sim {
        /// Distance from the sensor to the opposite fence (or the platform), e.g. "80 cm".
        mounting: String,
        /// Noise amplitude, uniform ±; default "1 mm".
        noise: Option<String>,
        /// Noise seed; default from the sensor's name.
        seed: Option<u64>,
        /// Drift to simulate: after the sensor has measured `drift_after` parcels, every
        /// reading comes out this much shorter (a sagging mount), e.g. "12 mm".
        drift: Option<String>,
        /// Parcels measured before the drift sets in; default 0 (from the start).
        drift_after: Option<u64>,
    },
    /// ST VL53L1X time-of-flight on I2C.
    Vl53l1x {
        /// I2C bus number (`/dev/i2c-<bus>`); default 1.
        bus: Option<u8>,
        /// 7-bit address; default 0x29.
        address: Option<u8>,
        /// "short" (to 1.3 m, better in daylight) or "long" (to 4 m); default "long".
        distance_mode: Option<DistanceMode>,
        /// "20ms" … "500ms"; default "50ms".
        timing_budget: Option<String>,
    },
    /// HC-SR04 ultrasonic on two GPIO lines (BCM numbers).
    Hcsr04 {
        trigger_pin: u8,
        /// Through a 5 V → 3.3 V divider.
        echo_pin: u8,
        /// Air temperature for the speed of sound; default "20 C".
        temperature: Option<String>,
        /// Valid range; default "2 cm" to "4 m".
        min: Option<String>,
        max: Option<String>,
    },
    /// Benewake TFmini / TFmini-S / TFmini Plus / TF-Luna on a serial port (115200 8N1).
    Tfmini {
        /// Best a stable `/dev/serial/by-id/…` name (see deploy/99-intake.rules).
        path: String,
        /// "tfmini", "tfmini-s", "tfmini-plus" or "tf-luna"; default "tfmini-s".
        model: Option<Model>,
    },
}

/// A validated sensor device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeDeviceConfig {
    Sim {
        mounting: Length,
        noise: Length,
        seed: Option<u64>,
        /// After this many parcels, readings are this much shorter.
        drift: Option<(u64, Length)>,
    },
    Vl53l1x {
        bus: u8,
        address: u8,
        settings: vl53l1x::Settings,
    },
    Hcsr04 {
        trigger_pin: u8,
        echo_pin: u8,
        settings: hcsr04::Settings,
    },
    Tfmini {
        path: PathBuf,
        model: Model,
    },
}

impl RangeDeviceConfig {
    /// Validates `raw`, found at `key` (like `dimensions.sensors[0].device`).
    pub fn from_raw(raw: &RawRangeDevice, key: &str) -> Result<Self, KeyError> {
        let k = |field: &str| format!("{key}.{field}");
        Ok(match raw {
            RawRangeDevice::Sim {
                mounting,
                noise,
                seed,
                drift,
                drift_after,
            } => {
                let mounting = length(&k("mounting"), mounting)?;
                if mounting < Length::from_mm(50) {
                    return Err(KeyError::new(
                        k("mounting"),
                        "must be at least \"5 cm\": the distance from the sensor to the opposite fence or the platform",
                    ));
                }
                RangeDeviceConfig::Sim {
                    mounting,
                    noise: match noise {
                        Some(n) => length(&k("noise"), n)?,
                        None => Length::from_mm(1),
                    },
                    seed: *seed,
                    drift: match (drift, drift_after) {
                        (Some(d), after) => Some((after.unwrap_or(0), length(&k("drift"), d)?)),
                        (None, Some(_)) => {
                            return Err(KeyError::new(
                                k("drift_after"),
                                "needs `drift`, the length readings lose, like \"12 mm\"",
                            ));
                        }
                        (None, None) => None,
                    },
                }
            }
            RawRangeDevice::Vl53l1x {
                bus,
                address,
                distance_mode,
                timing_budget,
            } => {
                let address = address.unwrap_or(vl53l1x::DEFAULT_ADDRESS);
                if !(0x08..=0x77).contains(&address) {
                    return Err(KeyError::new(
                        k("address"),
                        format!(
                            "{address:#04x} is not a 7-bit I2C address; the VL53L1X answers at 0x29 unless re-addressed"
                        ),
                    ));
                }
                let mode = distance_mode.unwrap_or(DistanceMode::Long);
                let budget = match timing_budget {
                    Some(t) => parse_duration(&k("timing_budget"), t)?,
                    None => Duration::from_millis(50),
                };
                let budget_ms = u16::try_from(budget.as_millis()).unwrap_or(u16::MAX);
                if mode.timeouts(budget_ms).is_none() || budget.subsec_micros() % 1000 != 0 {
                    return Err(KeyError::new(
                        k("timing_budget"),
                        format!(
                            "{budget:?} is not supported in {mode:?} mode; use \"20ms\", \"33ms\", \"50ms\", \"100ms\", \"200ms\" or \"500ms\" (\"15ms\" in short mode only)"
                        ),
                    ));
                }
                RangeDeviceConfig::Vl53l1x {
                    bus: bus.unwrap_or(1),
                    address,
                    settings: vl53l1x::Settings {
                        distance_mode: mode,
                        timing_budget_ms: budget_ms,
                    },
                }
            }
            RawRangeDevice::Hcsr04 {
                trigger_pin,
                echo_pin,
                temperature,
                min,
                max,
            } => {
                if trigger_pin == echo_pin {
                    return Err(KeyError::new(
                        k("echo_pin"),
                        "must differ from trigger_pin: TRIG is an output, ECHO an input",
                    ));
                }
                let d = hcsr04::Settings::default();
                let settings = hcsr04::Settings {
                    temp_millicelsius: match temperature {
                        Some(t) => parse_temperature(&k("temperature"), t)?,
                        None => d.temp_millicelsius,
                    },
                    min: match min {
                        Some(m) => length(&k("min"), m)?,
                        None => d.min,
                    },
                    max: match max {
                        Some(m) => length(&k("max"), m)?,
                        None => d.max,
                    },
                    echo_timeout: d.echo_timeout,
                };
                if settings.min >= settings.max {
                    return Err(KeyError::new(k("max"), "must be above min"));
                }
                RangeDeviceConfig::Hcsr04 {
                    trigger_pin: *trigger_pin,
                    echo_pin: *echo_pin,
                    settings,
                }
            }
            RawRangeDevice::Tfmini { path, model } => {
                if path.trim().is_empty() {
                    return Err(KeyError::new(
                        k("path"),
                        "must name the serial port, like \"/dev/serial/by-id/usb-FTDI_…-if00-port0\"",
                    ));
                }
                RangeDeviceConfig::Tfmini {
                    path: PathBuf::from(path),
                    model: model.unwrap_or(Model::TfMiniS),
                }
            }
        })
    }

    /// Whether this is real hardware (never silently replaced by a simulation).
    pub fn is_real(&self) -> bool {
        !matches!(self, RangeDeviceConfig::Sim { .. })
    }

    /// The distances the sensor can report reliably (datasheets: VL53L1X 4 cm to 1.3 m
    /// short / 4 m long; HC-SR04 as configured; TFmini-S 10 cm to 12 m).
    pub fn valid_range(&self) -> (Length, Length) {
        match self {
            RangeDeviceConfig::Sim { .. } => (Length::from_mm(20), Length::from_mm(10_000)),
            RangeDeviceConfig::Vl53l1x { settings, .. } => match settings.distance_mode {
                DistanceMode::Short => (Length::from_mm(40), Length::from_mm(1_300)),
                DistanceMode::Long => (Length::from_mm(40), Length::from_mm(4_000)),
            },
            RangeDeviceConfig::Hcsr04 { settings, .. } => (settings.min, settings.max),
            RangeDeviceConfig::Tfmini { model, .. } => match model {
                Model::TfLuna => (Length::from_mm(200), Length::from_mm(8_000)),
                _ => (Length::from_mm(100), Length::from_mm(12_000)),
            },
        }
    }

    /// One line for the technician: what and where.
    pub fn describe(&self) -> String {
        match self {
            RangeDeviceConfig::Sim { mounting, .. } => {
                format!(
                    "simulated, mounted {:.1} mm away",
                    mounting.micrometres() as f64 / 1000.0
                )
            }
            RangeDeviceConfig::Vl53l1x {
                bus,
                address,
                settings,
            } => format!(
                "VL53L1X on I2C bus {bus} at {address:#04x}, {:?} mode, {} ms",
                settings.distance_mode, settings.timing_budget_ms
            ),
            RangeDeviceConfig::Hcsr04 {
                trigger_pin,
                echo_pin,
                ..
            } => format!("HC-SR04, TRIG GPIO{trigger_pin}, ECHO GPIO{echo_pin}"),
            RangeDeviceConfig::Tfmini { path, model } => {
                format!("{} on {}", model.label(), path.display())
            }
        }
    }

    /// Opens the device. Real devices that cannot be opened give an [`OpenError`] naming
    /// the device and the fix (enable I2C, join the gpio group, check wiring); there is no
    /// fallback to simulation. Call inside a tokio runtime (the serial port registers with
    /// it). A VL53L1X is initialised here, which blocks for some tens of milliseconds.
    pub fn open(
        &self,
        name: &str,
        axis: Axis,
        world: &watch::Receiver<Option<SimBox>>,
    ) -> Result<Box<dyn RangeFinder>, OpenError> {
        Ok(match self {
            RangeDeviceConfig::Sim {
                mounting,
                noise,
                seed,
                drift,
            } => {
                let seed = seed.unwrap_or_else(|| {
                    // FNV-1a of the name: stable across runs and builds.
                    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                    })
                });
                let mut sim = SimRangeFinder::new(name, axis, *mounting, world.clone(), seed)
                    .with_noise(*noise);
                if let Some((after, by)) = drift {
                    sim = sim.with_drift(*after, *by);
                }
                Box::new(sim)
            }
            RangeDeviceConfig::Vl53l1x {
                bus,
                address,
                settings,
            } => Box::new(super::pi::open_vl53l1x(name, *bus, *address, *settings)?),
            RangeDeviceConfig::Hcsr04 {
                trigger_pin,
                echo_pin,
                settings,
            } => Box::new(super::pi::open_hcsr04(
                name,
                *trigger_pin,
                *echo_pin,
                *settings,
            )?),
            RangeDeviceConfig::Tfmini { path, model } => {
                let device = format!(
                    "range sensor {name} ({} on {})",
                    model.label(),
                    path.display()
                );
                let tf = TfMini::open(name, *model, path).map_err(|e| serial_error(&device, e))?;
                Box::new(tf)
            }
        })
    }
}

fn serial_error(device: &str, e: tokio_serial::Error) -> OpenError {
    use tokio_serial::ErrorKind as K;
    let (problem, fix) = match e.kind {
        K::Io(std::io::ErrorKind::NotFound) => (
            "the serial port does not exist".to_owned(),
            "check the USB cable and the path (ls -l /dev/serial/by-id/)",
        ),
        K::Io(std::io::ErrorKind::PermissionDenied) => (
            "permission denied".to_owned(),
            "add the daemon's user to the dialout group (sudo usermod -aG dialout intake)",
        ),
        K::NoDevice => (
            e.description.clone(),
            "another program holds the port (close it), or the device is gone",
        ),
        _ => (e.description.clone(), "check the port and the cable"),
    };
    OpenError::new(device, problem, fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Result<RawRangeDevice, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn every_type_parses_and_validates() {
        let v = RangeDeviceConfig::from_raw(
            &raw("type = \"vl53l1x\"\naddress = 0x30\ndistance_mode = \"short\"\ntiming_budget = \"33ms\"").unwrap(),
            "d",
        )
        .unwrap();
        assert_eq!(
            v,
            RangeDeviceConfig::Vl53l1x {
                bus: 1,
                address: 0x30,
                settings: vl53l1x::Settings {
                    distance_mode: DistanceMode::Short,
                    timing_budget_ms: 33
                }
            }
        );
        let h = RangeDeviceConfig::from_raw(
            &raw("type = \"hcsr04\"\ntrigger_pin = 23\necho_pin = 24\ntemperature = \"68 F\"")
                .unwrap(),
            "d",
        )
        .unwrap();
        let RangeDeviceConfig::Hcsr04 { settings, .. } = h else {
            panic!("{h:?}")
        };
        assert_eq!(settings.temp_millicelsius, 20_000);
        let t = RangeDeviceConfig::from_raw(
            &raw("type = \"tfmini\"\npath = \"/dev/ttyUSB0\"\nmodel = \"tf-luna\"").unwrap(),
            "d",
        )
        .unwrap();
        assert_eq!(t.valid_range().0, Length::from_mm(200));
        let s =
            RangeDeviceConfig::from_raw(&raw("type = \"sim\"\nmounting = \"80 cm\"").unwrap(), "d")
                .unwrap();
        assert!(!s.is_real() && t.is_real());
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        let e = RangeDeviceConfig::from_raw(
            &raw("type = \"vl53l1x\"\ntiming_budget = \"15ms\"").unwrap(),
            "dimensions.sensors[0].device",
        )
        .unwrap_err();
        assert_eq!(e.key, "dimensions.sensors[0].device.timing_budget");
        assert!(e.message.contains("short mode only"), "{e}");
        let e = RangeDeviceConfig::from_raw(
            &raw("type = \"vl53l1x\"\ntiming_budget = \"50\"").unwrap(),
            "d",
        )
        .unwrap_err();
        assert!(
            e.message.contains("no unit") && e.message.contains("ms\""),
            "{e}"
        );
        let e = RangeDeviceConfig::from_raw(
            &raw("type = \"hcsr04\"\ntrigger_pin = 5\necho_pin = 5").unwrap(),
            "d",
        )
        .unwrap_err();
        assert_eq!(e.key, "d.echo_pin");
        let e =
            RangeDeviceConfig::from_raw(&raw("type = \"sim\"\nmounting = \"80\"").unwrap(), "d")
                .unwrap_err();
        assert!(
            e.key == "d.mounting" && e.message.contains("no unit"),
            "{e}"
        );
        assert!(raw("type = \"vl53l1x\"\nadress = 0x29").is_err());
        assert!(raw("type = \"laser\"").is_err());
        assert!(parse_temperature("t", "20").is_err());
        assert!(parse_temperature("t", "200 C").is_err());
        assert_eq!(
            parse_duration("t", "1.5 s").unwrap(),
            Duration::from_millis(1500)
        );
    }

    #[test]
    fn real_devices_off_a_pi_fail_with_the_fix_not_a_simulation() {
        // Only meaningful off a Pi (CI and developer machines).
        if rppal::system::DeviceInfo::new().is_ok() {
            return;
        }
        let (_tx, rx) = watch::channel(None);
        let v = RangeDeviceConfig::Vl53l1x {
            bus: 1,
            address: 0x29,
            settings: vl53l1x::Settings::default(),
        };
        let e = v.open("top", Axis::Z, &rx).err().unwrap();
        assert!(
            e.device.contains("top") && e.device.contains("VL53L1X"),
            "{e}"
        );
        assert!(e.problem.contains("not a Raspberry Pi"), "{e}");
        assert!(e.fix.contains("type = \"sim\""), "{e}");
    }
}
