//! The `[scale]` configuration table: raw serde structs, then one validation into typed
//! [`ScaleSettings`]. Errors name the key (`scale.framing`) and the fix.
//!
//! ```toml
//! [scale]
//! type = "serial"                 # "serial", "sim" or "replay"
//! port = "/dev/serial/by-id/usb-1a86_USB_Serial-if00-port0"   # prefer by-id: it survives replugging
//! protocol = "nci"                # mt-sics | toledo | sma | nci | cas
//! baud = 9600                     # or "9600"; 1200 … 115200
//! framing = "7E1"                 # data bits, parity (N/E/O), stop bits; default per protocol
//! poll_interval = "200ms"         # polled protocols: how often to ask (or poll_interval_ms = 200)
//! read_timeout = "2s"             # no valid frame for this long → timeout fault (or read_timeout_ms)
//! reconnect_min = "250ms"         # first wait before reopening an unplugged port (or _ms)
//! reconnect_max = "5s"            # the wait doubles up to this (or reconnect_max_ms)
//! ```
//!
//! ```toml
//! [scale]
//! type = "sim"                    # a simulated scale on a pseudo-terminal, spoken to over serial
//! protocol = "cas"                # what the simulated scale speaks
//! unit = "lb"                     # g | kg | lb | oz
//! decimals = 2                    # shown decimals; one division is one unit of the last place
//! capacity = "150 lb"             # above this it reports over capacity
//! settle = "600ms"                # motion shown after the load changes (or settle_ms)
//! interval = "100ms"              # continuous protocols: time between frames (or interval_ms)
//! seed = 1                        # noise generator seed
//! link = "/tmp/intake-scale"      # optional: a stable symlink to the pty
//! baud = 4800                     # optional: a reader at another speed gets line noise
//! framing = "7E1"                 # 7-bit framings put their parity in bit 7 (default 8N1)
//! ```
//!
//! ```toml
//! [scale]
//! type = "replay"                 # a recorded capture played into a pty, read over serial
//! capture = "parcel.capture"      # written by `intake scale monitor --record FILE`
//! protocol = "toledo"             # optional when the capture's header names it
//! speed = 1.0                     # 1.0 = the recorded pace; 2.0 twice as fast
//! ```
//!
//! Durations are written with a unit (`"200ms"`, `"2s"`, `"1.5s"`) or as whole milliseconds
//! under the same key with `_ms` (`poll_interval_ms = 200`); not both.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use tokio_serial::{DataBits, Parity, StopBits};

use crate::quantity::{Mass, MassUnit};
use crate::scale::Protocol;
use crate::scale::replay::ReplayOptions;
use crate::scale::sim::SimScaleOptions;

/// The raw `[scale]` table as written.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ScaleConfig {
    Sim(RawSim),
    Serial(RawSerial),
    Replay(RawReplay),
}

/// A number or the same number in a string (`9600` or `"9600"`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum NumberOrText {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSerial {
    pub port: Option<String>,
    pub protocol: Option<String>,
    pub baud: Option<NumberOrText>,
    pub framing: Option<String>,
    pub poll_interval: Option<String>,
    pub poll_interval_ms: Option<u64>,
    pub read_timeout: Option<String>,
    pub read_timeout_ms: Option<u64>,
    pub reconnect_min: Option<String>,
    pub reconnect_min_ms: Option<u64>,
    pub reconnect_max: Option<String>,
    pub reconnect_max_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReplay {
    pub capture: Option<PathBuf>,
    pub protocol: Option<String>,
    pub speed: Option<f64>,
    pub link: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSim {
    pub protocol: Option<String>,
    pub unit: Option<String>,
    pub decimals: Option<u32>,
    pub capacity: Option<String>,
    pub settle: Option<String>,
    pub settle_ms: Option<u64>,
    pub interval: Option<String>,
    pub interval_ms: Option<u64>,
    pub seed: Option<u64>,
    pub link: Option<PathBuf>,
    pub baud: Option<u32>,
    pub framing: Option<String>,
}

/// A `[scale]` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scale.{key}: {message}")]
pub struct ScaleConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ScaleConfigError {
    ScaleConfigError {
        key: key.to_owned(),
        message: message.into(),
    }
}

/// Data bits, parity and stop bits, written `8N1`, `7E1`, `7O2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub data_bits: DataBits,
    pub parity: Parity,
    pub stop_bits: StopBits,
}

impl Framing {
    pub const N81: Framing = Framing {
        data_bits: DataBits::Eight,
        parity: Parity::None,
        stop_bits: StopBits::One,
    };
    pub const E71: Framing = Framing {
        data_bits: DataBits::Seven,
        parity: Parity::Even,
        stop_bits: StopBits::One,
    };

    /// What scales of this protocol are usually set to.
    pub fn usual_for(protocol: Protocol) -> Framing {
        match protocol {
            Protocol::Nci | Protocol::Toledo => Framing::E71,
            Protocol::MtSics | Protocol::Sma | Protocol::Cas => Framing::N81,
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = match self.data_bits {
            DataBits::Five => '5',
            DataBits::Six => '6',
            DataBits::Seven => '7',
            DataBits::Eight => '8',
        };
        let p = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        let s = match self.stop_bits {
            StopBits::One => '1',
            StopBits::Two => '2',
        };
        write!(f, "{d}{p}{s}")
    }
}

impl FromStr for Framing {
    type Err = String;

    fn from_str(s: &str) -> Result<Framing, String> {
        let t = s.trim().to_ascii_uppercase();
        let b = t.as_bytes();
        let usage = || {
            format!(
                "{s:?} is not a framing; write data bits, parity and stop bits like \"8N1\" or \"7E1\""
            )
        };
        if b.len() != 3 {
            return Err(usage());
        }
        let data_bits = match b[0] {
            b'7' => DataBits::Seven,
            b'8' => DataBits::Eight,
            _ => return Err(usage()),
        };
        let parity = match b[1] {
            b'N' => Parity::None,
            b'E' => Parity::Even,
            b'O' => Parity::Odd,
            _ => return Err(usage()),
        };
        let stop_bits = match b[2] {
            b'1' => StopBits::One,
            b'2' => StopBits::Two,
            _ => return Err(usage()),
        };
        Ok(Framing {
            data_bits,
            parity,
            stop_bits,
        })
    }
}

/// Baud rates a scale is set to.
pub const BAUD_RATES: [u32; 8] = [1200, 2400, 4800, 9600, 19200, 38400, 57600, 115_200];

/// A serial scale, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSettings {
    pub port: PathBuf,
    pub protocol: Protocol,
    pub baud: u32,
    pub framing: Framing,
    pub poll_interval: Duration,
    pub read_timeout: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
}

impl SerialSettings {
    /// Settings with the usual defaults for `protocol` on `port`.
    pub fn new(port: impl Into<PathBuf>, protocol: Protocol) -> SerialSettings {
        SerialSettings {
            port: port.into(),
            protocol,
            baud: 9600,
            framing: Framing::usual_for(protocol),
            poll_interval: Duration::from_millis(200),
            read_timeout: Duration::from_secs(2),
            reconnect_min: Duration::from_millis(250),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

/// A simulated scale, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSettings {
    pub protocol: Protocol,
    pub options: SimScaleOptions,
}

/// A replayed capture, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplaySettings {
    /// The capture file ([`crate::scale::capture`] format).
    pub capture: PathBuf,
    /// What the capture's scale speaks; `None`: the capture's `# protocol=` header says.
    pub protocol: Option<Protocol>,
    pub options: ReplayOptions,
}

/// The validated `[scale]` table.
#[derive(Debug, Clone, PartialEq)]
pub enum ScaleSettings {
    Sim(SimSettings),
    Serial(SerialSettings),
    Replay(ReplaySettings),
}

/// `"200ms"`, `"2s"`, `"1.5s"`, `"2 s"`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    crate::quantity::parse_duration(text).ok()
}

/// One duration from `key = "200ms"` or `key_ms = 200`, within `[min, max]`.
fn duration(
    key: &str,
    text: Option<&str>,
    ms: Option<u64>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ScaleConfigError> {
    let d = match (text, ms) {
        (Some(_), Some(_)) => {
            return Err(err(key, format!("set either {key} or {key}_ms, not both")));
        }
        (Some(t), None) => parse_duration(t).ok_or_else(|| {
            err(
                key,
                format!("{t:?} is not a duration; write it with a unit, like \"200ms\" or \"2s\""),
            )
        })?,
        (None, Some(ms)) => Duration::from_millis(ms),
        (None, None) => default,
    };
    if d < min || d > max {
        return Err(err(
            key,
            format!("{d:?} is outside {min:?} … {max:?}; pick a value in that range"),
        ));
    }
    Ok(d)
}

fn protocol(text: Option<&str>) -> Result<Protocol, ScaleConfigError> {
    let t = text.ok_or_else(|| {
        err(
            "protocol",
            "missing; set it to what the scale speaks: mt-sics, toledo, sma, nci or cas",
        )
    })?;
    t.parse()
        .map_err(|e: crate::scale::UnknownProtocol| err("protocol", e.to_string()))
}

impl ScaleConfig {
    /// Checks every value and returns typed settings; nothing re-validates after this.
    pub fn validate(&self) -> Result<ScaleSettings, ScaleConfigError> {
        match self {
            ScaleConfig::Serial(raw) => raw.validate().map(ScaleSettings::Serial),
            ScaleConfig::Sim(raw) => raw.validate().map(ScaleSettings::Sim),
            ScaleConfig::Replay(raw) => raw.validate().map(ScaleSettings::Replay),
        }
    }
}

impl RawSerial {
    pub fn validate(&self) -> Result<SerialSettings, ScaleConfigError> {
        let port = match self.port.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => {
                return Err(err(
                    "port",
                    "missing; set the scale's serial device, preferably its /dev/serial/by-id/… path (ls /dev/serial/by-id)",
                ));
            }
        };
        let protocol = protocol(self.protocol.as_deref())?;
        let mut s = SerialSettings::new(port, protocol);
        if let Some(b) = &self.baud {
            let n = match b {
                NumberOrText::Number(n) => Some(*n),
                NumberOrText::Text(t) => t.trim().parse().ok(),
            };
            s.baud = n
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| BAUD_RATES.contains(n))
                .ok_or_else(|| {
                    err(
                        "baud",
                        format!("{b:?} is not a scale baud rate; use one of {BAUD_RATES:?} (most scales: 9600)"),
                    )
                })?;
        }
        if let Some(f) = &self.framing {
            s.framing = f.parse().map_err(|m: String| err("framing", m))?;
        }
        s.poll_interval = duration(
            "poll_interval",
            self.poll_interval.as_deref(),
            self.poll_interval_ms,
            s.poll_interval,
            Duration::from_millis(20),
            Duration::from_secs(10),
        )?;
        s.read_timeout = duration(
            "read_timeout",
            self.read_timeout.as_deref(),
            self.read_timeout_ms,
            s.read_timeout,
            Duration::from_millis(50),
            Duration::from_secs(60),
        )?;
        if protocol.is_polled() && s.read_timeout < s.poll_interval {
            return Err(err(
                "read_timeout",
                format!(
                    "{:?} is shorter than poll_interval {:?}: the scale could never answer in time; make it at least the poll interval",
                    s.read_timeout, s.poll_interval
                ),
            ));
        }
        s.reconnect_min = duration(
            "reconnect_min",
            self.reconnect_min.as_deref(),
            self.reconnect_min_ms,
            s.reconnect_min,
            Duration::from_millis(10),
            Duration::from_secs(60),
        )?;
        s.reconnect_max = duration(
            "reconnect_max",
            self.reconnect_max.as_deref(),
            self.reconnect_max_ms,
            s.reconnect_max.max(s.reconnect_min),
            s.reconnect_min,
            Duration::from_secs(300),
        )?;
        Ok(s)
    }
}

impl RawReplay {
    pub fn validate(&self) -> Result<ReplaySettings, ScaleConfigError> {
        let capture = self.capture.clone().filter(|p| !p.as_os_str().is_empty()).ok_or_else(|| {
            err(
                "capture",
                "missing; set the capture file to replay (record one with `intake scale monitor --record FILE`)",
            )
        })?;
        let protocol = match &self.protocol {
            None => None,
            Some(p) => Some(protocol(Some(p))?),
        };
        let speed = self.speed.unwrap_or(1.0);
        if !(speed.is_finite() && (0.01..=100.0).contains(&speed)) {
            return Err(err(
                "speed",
                format!(
                    "{speed} is not a replay speed; use 1.0 for the recorded pace (0.01 … 100)"
                ),
            ));
        }
        Ok(ReplaySettings {
            capture,
            protocol,
            options: ReplayOptions {
                speed,
                link: self.link.clone(),
            },
        })
    }
}

impl RawSim {
    pub fn validate(&self) -> Result<SimSettings, ScaleConfigError> {
        let protocol = protocol(self.protocol.as_deref())?;
        let mut o = SimScaleOptions::default();
        if let Some(u) = &self.unit {
            o.unit = MassUnit::from_name(&u.trim().to_ascii_lowercase())
                .ok_or_else(|| err("unit", format!("{u:?} is not a unit; use g, kg, lb or oz")))?;
        }
        if let Some(d) = self.decimals {
            if d > 4 {
                return Err(err(
                    "decimals",
                    format!("{d} is more than a scale shows; use 0 to 4"),
                ));
            }
            o.decimals = d;
        }
        if let Some(c) = &self.capacity {
            o.capacity = c
                .parse::<Mass>()
                .map_err(|e| err("capacity", e.to_string()))?;
            if o.capacity == Mass::ZERO {
                return Err(err(
                    "capacity",
                    format!("{c:?} is no capacity; give the scale's maximum, like \"150 lb\""),
                ));
            }
        }
        o.settle = duration(
            "settle",
            self.settle.as_deref(),
            self.settle_ms,
            o.settle,
            Duration::ZERO,
            Duration::from_secs(30),
        )?;
        o.interval = duration(
            "interval",
            self.interval.as_deref(),
            self.interval_ms,
            o.interval,
            Duration::from_millis(5),
            Duration::from_secs(10),
        )?;
        if let Some(seed) = self.seed {
            o.seed = seed;
        }
        o.link.clone_from(&self.link);
        if let Some(b) = self.baud {
            if !BAUD_RATES.contains(&b) {
                return Err(err(
                    "baud",
                    format!("{b} is not a scale baud rate; use one of {BAUD_RATES:?}"),
                ));
            }
            o.baud = Some(b);
        }
        if let Some(f) = &self.framing {
            o.framing = f.parse().map_err(|m: String| err("framing", m))?;
        }
        Ok(SimSettings {
            protocol,
            options: o,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        scale: ScaleConfig,
    }

    fn load(text: &str) -> Result<ScaleSettings, String> {
        let doc: Doc = toml::from_str(text).map_err(|e| e.to_string())?;
        doc.scale.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn serial_with_units_and_ms_keys() {
        let s = load(
            r#"[scale]
type = "serial"
port = "/dev/serial/by-id/usb-scale"
protocol = "nci"
baud = "9600"
framing = "7e1"
poll_interval_ms = 150
read_timeout = "1.5s"
"#,
        )
        .unwrap();
        let ScaleSettings::Serial(s) = s else {
            panic!()
        };
        assert_eq!(s.protocol, Protocol::Nci);
        assert_eq!(s.framing, Framing::E71);
        assert_eq!(s.framing.to_string(), "7E1");
        assert_eq!(s.poll_interval, Duration::from_millis(150));
        assert_eq!(s.read_timeout, Duration::from_millis(1500));
        assert_eq!(s.reconnect_max, Duration::from_secs(5));
    }

    #[test]
    fn defaults_follow_the_protocol() {
        let ScaleSettings::Serial(s) =
            load("[scale]\ntype = \"serial\"\nport = \"/dev/ttyUSB0\"\nprotocol = \"cas\"\nbaud = 19200\n").unwrap()
        else {
            panic!()
        };
        assert_eq!((s.baud, s.framing), (19200, Framing::N81));
    }

    #[test]
    fn sim_table() {
        let ScaleSettings::Sim(s) = load(
            "[scale]\ntype = \"sim\"\nprotocol = \"toledo\"\nunit = \"kg\"\ndecimals = 3\nsettle = \"1s\"\ninterval_ms = 50\ncapacity = \"60 kg\"\n",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(s.protocol, Protocol::Toledo);
        assert_eq!(s.options.unit, MassUnit::Kilogram);
        assert_eq!(s.options.settle, Duration::from_secs(1));
        assert_eq!(s.options.interval, Duration::from_millis(50));
    }

    #[test]
    fn errors_name_the_key_and_the_fix() {
        let cases = [
            (
                "type = \"serial\"\nprotocol = \"nci\"",
                "scale.port: missing",
            ),
            (
                "type = \"serial\"\nport = \"/dev/x\"\nprotocol = \"dymo\"",
                "scale.protocol: unknown scale protocol",
            ),
            (
                "type = \"serial\"\nport = \"/dev/x\"\nprotocol = \"nci\"\nbaud = 9601",
                "scale.baud:",
            ),
            (
                "type = \"serial\"\nport = \"/dev/x\"\nprotocol = \"nci\"\nframing = \"9X1\"",
                "\"8N1\" or \"7E1\"",
            ),
            (
                "type = \"serial\"\nport = \"/dev/x\"\nprotocol = \"nci\"\npoll_interval = \"200\"",
                "scale.poll_interval: \"200\" is not a duration",
            ),
            (
                "type = \"serial\"\nport = \"/dev/x\"\nprotocol = \"nci\"\npoll_interval = \"1s\"\npoll_interval_ms = 5",
                "not both",
            ),
            (
                "type = \"serial\"\nport = \"/dev/x\"\nprotocol = \"nci\"\npoll_interval = \"1s\"\nread_timeout = \"500ms\"",
                "scale.read_timeout:",
            ),
            (
                "type = \"sim\"\nprotocol = \"nci\"\nunit = \"stone\"",
                "scale.unit:",
            ),
        ];
        for (body, want) in cases {
            let got = load(&format!("[scale]\n{body}\n")).unwrap_err();
            assert!(got.contains(want), "{body}: {got}");
        }
        let unknown = load(
            "[scale]\ntype = \"serial\"\nport = \"/dev/x\"\nprotocol = \"nci\"\nbaudrate = 9600\n",
        )
        .unwrap_err();
        assert!(unknown.contains("unknown field `baudrate`"), "{unknown}");
        let bad_type = load("[scale]\ntype = \"usb\"\n").unwrap_err();
        assert!(
            bad_type.contains("sim") && bad_type.contains("serial"),
            "{bad_type}"
        );
    }

    #[test]
    fn replay_table() {
        let ScaleSettings::Replay(r) =
            load("[scale]\ntype = \"replay\"\ncapture = \"x.capture\"\nspeed = 4.0\n").unwrap()
        else {
            panic!()
        };
        assert_eq!((r.protocol, r.options.speed), (None, 4.0));
        let e = load("[scale]\ntype = \"replay\"\n").unwrap_err();
        assert!(e.contains("scale.capture: missing"), "{e}");
        let e = load("[scale]\ntype = \"replay\"\ncapture = \"x\"\nspeed = 0.0\n").unwrap_err();
        assert!(e.contains("scale.speed:"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5 s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("200"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("2 fortnights"), None);
    }
}
