//! Config for the operator's light, buzzer and foot switch: the daemon embeds it as the
//! `[indicator]` table (see `config/pi.toml`).
//!
//! ```toml
//! [indicator]
//! type = "gpio"            # or "sim": one log line per verdict
//! green = 17               # BCM GPIO numbers
//! amber = 27
//! red = 22
//! buzzer = 18              # optional
//! polarity = "active_low"  # relay boards; "active_high" for transistor drivers
//! buzzer_polarity = "active_high"
//!
//! [indicator.foot_switch]  # optional
//! pin = 23
//! polarity = "active_low"  # switch to ground, internal pull-up
//! debounce = "30ms"
//! long_press = "1s"        # held this long: re-measure; shorter: confirm
//! ```

use std::time::Duration;

use serde::Deserialize;

use super::pi::{StackLightGpio, open_foot_switch, open_stack_light};
use super::{Debouncer, FootSwitch, LogIndicator, Polarity};
use crate::device::Indicator;
use crate::range::config::{KeyError, parse_duration};
use crate::range::pi::OpenError;

/// The `[indicator]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RawIndicator {
    /// The simulated indicator: a readable log line per verdict. (A struct variant, so an
    /// unknown key beside `type = "sim"` is refused too.)
    Sim {},
    /// A stack light (and buzzer, and foot switch) on the Pi's GPIO.
    Gpio {
        green: u8,
        amber: u8,
        red: u8,
        buzzer: Option<u8>,
        #[serde(default)]
        polarity: Polarity,
        #[serde(default)]
        buzzer_polarity: Polarity,
        foot_switch: Option<RawFootSwitch>,
    },
}

/// `[indicator.foot_switch]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFootSwitch {
    pub pin: u8,
    /// Default "active_low": a switch to ground with the internal pull-up.
    pub polarity: Option<Polarity>,
    /// Default "30ms".
    pub debounce: Option<String>,
    /// Default "1s".
    pub long_press: Option<String>,
}

/// A validated foot switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FootSwitchConfig {
    pub pin: u8,
    pub polarity: Polarity,
    pub debounce: Duration,
    pub long_press: Duration,
}

/// A validated indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndicatorConfig {
    Sim,
    Gpio {
        light: StackLightGpio,
        foot_switch: Option<FootSwitchConfig>,
    },
}

impl IndicatorConfig {
    /// Validates `raw`, found at `key` (normally `indicator`).
    pub fn from_raw(raw: &RawIndicator, key: &str) -> Result<Self, KeyError> {
        let RawIndicator::Gpio {
            green,
            amber,
            red,
            buzzer,
            polarity,
            buzzer_polarity,
            foot_switch,
        } = raw
        else {
            return Ok(IndicatorConfig::Sim);
        };
        let foot_switch = match foot_switch {
            None => None,
            Some(f) => {
                let k = |field: &str| format!("{key}.foot_switch.{field}");
                let debounce = match &f.debounce {
                    Some(t) => parse_duration(&k("debounce"), t)?,
                    None => Duration::from_millis(30),
                };
                let long_press = match &f.long_press {
                    Some(t) => parse_duration(&k("long_press"), t)?,
                    None => Duration::from_secs(1),
                };
                if debounce > Duration::from_millis(200) {
                    return Err(KeyError::new(
                        k("debounce"),
                        "over 200 ms makes the switch feel dead; 20–50 ms suits a foot switch",
                    ));
                }
                if long_press <= debounce * 2 {
                    return Err(KeyError::new(
                        k("long_press"),
                        "must be well above debounce (\"1s\" is usual)",
                    ));
                }
                Some(FootSwitchConfig {
                    pin: f.pin,
                    polarity: f.polarity.unwrap_or(Polarity::ActiveLow),
                    debounce,
                    long_press,
                })
            }
        };
        let mut pins = vec![("green", *green), ("amber", *amber), ("red", *red)];
        pins.extend(buzzer.map(|b| ("buzzer", b)));
        pins.extend(foot_switch.map(|f| ("foot_switch.pin", f.pin)));
        for (i, (name, pin)) in pins.iter().enumerate() {
            if *pin > 27 {
                return Err(KeyError::new(
                    format!("{key}.{name}"),
                    format!("GPIO {pin} is not on the 40-pin header; use a BCM number 2–27"),
                ));
            }
            if let Some((other, _)) = pins[..i].iter().find(|(_, p)| p == pin) {
                return Err(KeyError::new(
                    format!("{key}.{name}"),
                    format!(
                        "GPIO {pin} is already used by {key}.{other}; give each line its own pin"
                    ),
                ));
            }
        }
        Ok(IndicatorConfig::Gpio {
            light: StackLightGpio {
                green: *green,
                amber: *amber,
                red: *red,
                buzzer: *buzzer,
                polarity: *polarity,
                buzzer_polarity: *buzzer_polarity,
            },
            foot_switch,
        })
    }

    pub fn is_real(&self) -> bool {
        matches!(self, IndicatorConfig::Gpio { .. })
    }

    /// Opens the light (and buzzer). Call inside a tokio runtime (patterns play in a task).
    pub fn open_indicator(&self) -> Result<Box<dyn Indicator>, OpenError> {
        match self {
            IndicatorConfig::Sim => Ok(Box::new(LogIndicator::default())),
            IndicatorConfig::Gpio { light, .. } => {
                Ok(Box::new(open_stack_light("stack light", *light)?))
            }
        }
    }

    /// Opens the foot switch, if one is configured.
    pub fn open_foot_switch(&self) -> Result<Option<FootSwitch<rppal::gpio::InputPin>>, OpenError> {
        match self {
            IndicatorConfig::Gpio {
                foot_switch: Some(f),
                ..
            } => open_foot_switch(
                "foot switch",
                f.pin,
                f.polarity,
                Debouncer::new(f.debounce, f.long_press),
            )
            .map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<IndicatorConfig, String> {
        let raw: RawIndicator = toml::from_str(text).map_err(|e| e.to_string())?;
        IndicatorConfig::from_raw(&raw, "indicator").map_err(|e| e.to_string())
    }

    #[test]
    fn gpio_and_sim() {
        assert_eq!(cfg("type = \"sim\"").unwrap(), IndicatorConfig::Sim);
        let c = cfg("type = \"gpio\"\ngreen = 17\namber = 27\nred = 22\nbuzzer = 18\npolarity = \"active_low\"\n[foot_switch]\npin = 23\n").unwrap();
        let IndicatorConfig::Gpio { light, foot_switch } = c else {
            panic!()
        };
        assert_eq!(light.polarity, Polarity::ActiveLow);
        assert_eq!(light.buzzer_polarity, Polarity::ActiveHigh);
        let f = foot_switch.unwrap();
        assert_eq!((f.pin, f.polarity), (23, Polarity::ActiveLow));
        assert_eq!(f.long_press, Duration::from_secs(1));
    }

    #[test]
    fn mistakes_name_the_key() {
        let e = cfg("type = \"gpio\"\ngreen = 17\namber = 17\nred = 22").unwrap_err();
        assert!(
            e.starts_with("indicator.amber: GPIO 17 is already used by indicator.green"),
            "{e}"
        );
        let e = cfg("type = \"gpio\"\ngreen = 17\namber = 27\nred = 40").unwrap_err();
        assert!(e.contains("indicator.red") && e.contains("BCM"), "{e}");
        let e = cfg("type = \"gpio\"\ngreen = 17\namber = 27\nred = 22\n[foot_switch]\npin = 23\ndebounce = \"30\"").unwrap_err();
        assert!(e.starts_with("indicator.foot_switch.debounce"), "{e}");
        assert!(cfg("type = \"gpio\"\ngreen = 17\namber = 27\nred = 22\ncolour = 1").is_err());
        assert!(cfg("type = \"sim\"\ngreen = 17").is_err());
    }

    #[test]
    fn a_real_light_off_a_pi_is_an_error_not_a_log_line() {
        if rppal::system::DeviceInfo::new().is_ok() {
            return;
        }
        let c = cfg("type = \"gpio\"\ngreen = 17\namber = 27\nred = 22").unwrap();
        let e = c.open_indicator().err().unwrap();
        assert!(
            e.device.starts_with("stack light") && e.problem.contains("not a Raspberry Pi"),
            "{e}"
        );
    }
}
