//! Station configuration: raw serde structs read from TOML, then one conversion into
//! validated [`Settings`]. After that nothing re-validates. A bad key names the file, the key
//! and the fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::country::Country;
use crate::decide::billing::BillingRules;
use crate::judge::Policy;
use crate::measure::weight::StableRule;
use crate::pricing::RateCard;
use crate::quantity::{Length, Mass, Money};
use crate::rules::{Destinations, Limits};
use crate::station::StationConfig;
use crate::waybill::{CarrierPattern, WaybillRules};
use std::time::Duration;

/// The default configuration, built into the binary.
pub const EMBEDDED_CONFIG: &str = include_str!("../config/station.toml");
/// Files the embedded configuration names, built in alongside it.
const EMBEDDED_FILES: [(&str, &str); 2] = [
    ("rates.toml", include_str!("../config/rates.toml")),
    (
        "manifest-sample.csv",
        include_str!("../config/manifest-sample.csv"),
    ),
];

/// The largest configuration, rate card or preloaded manifest read (`/dev/zero` as a rate
/// card used to be read until memory ran out).
pub const MAX_SOURCE_FILE: u64 = 64 << 20;

/// Where a configuration (or a file it names) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Built into the binary, by name.
    Embedded(&'static str),
    /// A file on disk.
    File(PathBuf),
}

impl Source {
    pub fn describe(&self) -> String {
        match self {
            Source::Embedded(name) => format!("(embedded) {name}"),
            Source::File(p) => p.display().to_string(),
        }
    }

    /// Reads the whole file: a regular file of at most [`MAX_SOURCE_FILE`] bytes.
    pub fn read(&self) -> Result<Vec<u8>, std::io::Error> {
        match self {
            Source::Embedded(name) => EMBEDDED_FILES
                .iter()
                .chain(std::iter::once(&("station.toml", EMBEDDED_CONFIG)))
                .find(|(n, _)| n == name)
                .map(|(_, text)| text.as_bytes().to_vec())
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, *name)),
            Source::File(p) => crate::userfile::read_input(p, MAX_SOURCE_FILE),
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read config file {file}: {source}; check the path, or leave out --config to run on the embedded default"
    )]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {key}: {message}")]
    Invalid {
        file: String,
        key: String,
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    station: RawStation,
    limits: RawLimits,
    destinations: RawDestinations,
    pricing: RawPricing,
    #[serde(default)]
    billing: RawBilling,
    #[serde(default)]
    waybill: RawWaybill,
    #[serde(default)]
    manifest: RawManifest,
    #[serde(default)]
    weighing: RawWeighing,
    #[serde(default)]
    sim: RawSim,
    #[serde(default)]
    barcode: crate::barcode::BarcodeConfig,
    #[serde(default)]
    camera: intake_hal::camera::CameraConfig,
    scale: intake_hal::scale::config::ScaleConfig,
    dimensions: crate::measure::dims::RawDimensions,
    indicator: intake_hal::operator::config::RawIndicator,
    sync: Option<crate::sync::config::SyncConfig>,
    #[serde(default)]
    web: crate::web::config::WebConfig,
}

/// The settings of what measures and reads a parcel (`[scale]`, `[dimensions]`,
/// `[weighing]`, `[camera]`, `[barcode]`) as canonical JSON: part of what is in force, so
/// changing any of them bumps the configuration counter.
fn measuring_settings(table: &toml::Table) -> String {
    let mut m = serde_json::Map::new();
    for key in ["scale", "dimensions", "weighing", "camera", "barcode"] {
        if let Some(v) = table.get(key) {
            m.insert(
                key.to_owned(),
                serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
            );
        }
    }
    serde_json::Value::Object(m).to_string()
}

/// Which camera looks at the label (`[camera]`): the table and its validation live with the
/// cameras in `intake_hal::camera::config`.
pub use intake_hal::camera::config::CameraSettings;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawWeighing {
    detect_threshold: String,
    division: String,
    stable_readings: usize,
    stable_window_ms: u64,
    unflagged_readings: usize,
    unflagged_window_ms: u64,
    settle_timeout_ms: u64,
    measure_timeout_ms: u64,
    scale_silence_ms: u64,
    zero_tolerance: String,
    second_parcel_delta: String,
    min_presence_ms: u64,
    commit_timeout_ms: u64,
}

impl Default for RawWeighing {
    fn default() -> RawWeighing {
        RawWeighing {
            detect_threshold: "50 g".into(),
            division: "5 g".into(),
            stable_readings: 3,
            stable_window_ms: 300,
            unflagged_readings: 6,
            unflagged_window_ms: 800,
            settle_timeout_ms: 5000,
            measure_timeout_ms: 3000,
            scale_silence_ms: 2000,
            zero_tolerance: "20 g".into(),
            second_parcel_delta: "100 g".into(),
            min_presence_ms: 200,
            commit_timeout_ms: 2000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSim {
    seed: u64,
    gap_ms: u64,
    removal_delay_ms: u64,
    over_weight_permille: u32,
    over_size_permille: u32,
    torn_label_permille: u32,
    unknown_waybill_permille: u32,
}

impl Default for RawSim {
    fn default() -> RawSim {
        RawSim {
            seed: 1,
            gap_ms: 1500,
            removal_delay_ms: 500,
            over_weight_permille: 60,
            over_size_permille: 60,
            torn_label_permille: 60,
            unknown_waybill_permille: 60,
        }
    }
}

/// The simulated dock's pace and mix of parcels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSettings {
    pub seed: u64,
    /// Empty platform between parcels (a realistic pace; `--fast` sets it to zero).
    pub gap: Duration,
    /// From the verdict light to lifting the parcel.
    pub removal_delay: Duration,
    pub over_weight_permille: u32,
    pub over_size_permille: u32,
    pub torn_label_permille: u32,
    pub unknown_waybill_permille: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStation {
    id: String,
    data_dir: String,
    /// `intake run --parcels N` gives up (exit 1) when the store fails this long.
    #[serde(default = "default_give_up_after")]
    give_up_after: String,
    /// Evidence images are written only while the data folder's disk keeps this much free.
    #[serde(default = "default_evidence_min_free_mb")]
    evidence_min_free_mb: u64,
}

fn default_give_up_after() -> String {
    "10m".into()
}

fn default_evidence_min_free_mb() -> u64 {
    256
}

/// What the station does when storage fails (`[station]` `give_up_after`,
/// `evidence_min_free_mb`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageSettings {
    /// A bounded run (`intake run --parcels N`) exits 1 when scans could not be stored for
    /// this long, saying how many are pending (they go to the spill file).
    pub give_up_after: Duration,
    /// Bytes the disk keeps free for scans: evidence is shed, oldest first, or not written
    /// rather than go below it.
    pub evidence_min_free: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    max_weight: String,
    max_side: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestinations {
    served: Vec<String>,
    #[serde(default)]
    consignee_id_required: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPricing {
    rate_card: String,
    reprice_tolerance_cents: i64,
}

/// `[billing]`: what makes a scan's measurement usable for billing (see
/// [`crate::decide::billing`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBilling {
    /// The scale is verified and sealed for trade. Default: yes for the simulated scale
    /// (it stands in for a certified one), no for a real scale until declared here.
    legal_for_trade: Option<bool>,
    /// The smallest side measured for billing (default "2 in").
    min_side: Option<String>,
    /// Days within which the station must have passed `intake verify`; absent or 0: no
    /// verification required.
    verify_every_days: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaybill {
    #[serde(default)]
    patterns: Vec<RawPattern>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    name: String,
    regex: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    preload: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub source: Source,
    pub station_id: String,
    pub data_dir: PathBuf,
    pub policy: Policy,
    pub waybill: WaybillRules,
    pub rate_card_source: Source,
    pub manifest_preload: Option<Source>,
    pub station: StationConfig,
    /// Storage failures: give-up time and the disk space evidence leaves to scans.
    pub storage: StorageSettings,
    pub sim: SimSettings,
    pub barcode: crate::barcode::BarcodeConfig,
    pub camera: CameraSettings,
    pub scale: intake_hal::scale::config::ScaleSettings,
    pub dimensions: crate::measure::dims::DimsConfig,
    pub indicator: intake_hal::operator::config::IndicatorConfig,
    /// Head-office sync (`[sync]`), if configured.
    pub sync: Option<crate::sync::config::SyncSettings>,
    /// The dashboard, API and evidence retention (`[web]`).
    pub web: crate::web::config::WebSettings,
}

impl Settings {
    /// Loads `path` laid over the embedded default, or the embedded default alone when
    /// `None`.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        let source = match path {
            Some(p) => Source::File(p.to_path_buf()),
            None => Source::Embedded("station.toml"),
        };
        let text = read_text(&source)?;
        Settings::from_toml(&text, source)
    }

    /// Validates configuration text that came from `source`, laid over the embedded default
    /// (keys it does not name keep their default).
    pub fn from_toml(text: &str, source: Source) -> Result<Settings, ConfigError> {
        let layered = Layered::over_default(text, &source)?;
        Settings::from_layered(layered)
    }

    /// Validates a layered configuration.
    pub fn from_layered(layered: Layered) -> Result<Settings, ConfigError> {
        let Layered {
            table,
            origins,
            source,
            text,
        } = layered;
        let file = source.describe();
        let from_file = |key: &str| origins.get(key) == Some(&Origin::File);
        let measuring = measuring_settings(&table);
        let raw: RawConfig =
            RawConfig::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Syntax {
                file: file.clone(),
                message: unknown_key_line(&text, &e),
            })?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.clone(),
            key: key.to_owned(),
            message,
        };

        let station_id = raw.station.id.trim().to_owned();
        if let Err(why) = crate::sync::wire::check_station_id(&station_id) {
            return Err(invalid(
                "station.id",
                format!("{why} (it names this station at head office)"),
            ));
        }
        if raw.station.data_dir.trim().is_empty() {
            return Err(invalid("station.data_dir", "must name a directory".into()));
        }
        let give_up_after = intake_hal::quantity::parse_duration(&raw.station.give_up_after)
            .map_err(|e| invalid("station.give_up_after", e.to_string()))?;
        if give_up_after.is_zero() {
            return Err(invalid(
                "station.give_up_after",
                "must be above zero, like \"10m\"".into(),
            ));
        }
        let storage = StorageSettings {
            give_up_after,
            evidence_min_free: raw
                .station
                .evidence_min_free_mb
                .checked_mul(1024 * 1024)
                .ok_or_else(|| {
                    invalid(
                        "station.evidence_min_free_mb",
                        "is too large; give MiB, like 256".into(),
                    )
                })?,
        };

        let limits = Limits {
            max_weight: raw
                .limits
                .max_weight
                .parse::<Mass>()
                .map_err(|e| invalid("limits.max_weight", e.to_string()))?,
            max_side: raw
                .limits
                .max_side
                .parse::<Length>()
                .map_err(|e| invalid("limits.max_side", e.to_string()))?,
        };
        if limits.max_weight == Mass::ZERO || limits.max_side == Length::ZERO {
            return Err(invalid("limits", "limits must be above zero".into()));
        }

        let countries = |key: &str, codes: &[String]| -> Result<BTreeSet<Country>, ConfigError> {
            codes
                .iter()
                .map(|c| {
                    c.parse::<Country>()
                        .map_err(|e| invalid(key, e.to_string()))
                })
                .collect()
        };
        let destinations = Destinations {
            served: countries("destinations.served", &raw.destinations.served)?,
            consignee_id_required: countries(
                "destinations.consignee_id_required",
                &raw.destinations.consignee_id_required,
            )?,
        };
        if destinations.served.is_empty() {
            return Err(invalid(
                "destinations.served",
                "lists no destination; add at least one ISO code like \"JP\"".into(),
            ));
        }

        if raw.pricing.reprice_tolerance_cents < 0 {
            return Err(invalid(
                "pricing.reprice_tolerance_cents",
                "cannot be negative; 0 reprices every difference".into(),
            ));
        }
        let rate_card_source = resolve(
            &source,
            &raw.pricing.rate_card,
            from_file("pricing.rate_card"),
        );
        let card_bytes = rate_card_source.read().map_err(|e| {
            invalid(
                "pricing.rate_card",
                format!("cannot read {}: {e}", rate_card_source.describe()),
            )
        })?;
        let card = RateCard::from_toml(&String::from_utf8_lossy(&card_bytes)).map_err(|e| {
            invalid(
                "pricing.rate_card",
                format!("{}: {e}", rate_card_source.describe()),
            )
        })?;
        let unpriced: Vec<String> = destinations
            .served
            .iter()
            .filter(|c| !card.rates.contains_key(c))
            .map(Country::to_string)
            .collect();
        if !unpriced.is_empty() {
            return Err(invalid(
                "pricing.rate_card",
                format!(
                    "{} has no rate for served destination(s) {}; add them to the card or remove them from destinations.served",
                    rate_card_source.describe(),
                    unpriced.join(", ")
                ),
            ));
        }

        let mut patterns = Vec::new();
        for (i, p) in raw.waybill.patterns.into_iter().enumerate() {
            let key = format!("waybill.patterns[{i}].regex");
            if !p.regex.starts_with('^') || !p.regex.ends_with('$') {
                return Err(invalid(
                    &key,
                    format!(
                        "\"{}\" must be anchored with ^ and $ so it matches a whole waybill",
                        p.regex
                    ),
                ));
            }
            let regex = regex::Regex::new(&p.regex).map_err(|e| invalid(&key, e.to_string()))?;
            patterns.push(CarrierPattern {
                name: p.name,
                regex,
            });
        }

        let w = &raw.weighing;
        let mass = |key: &str, v: &str| -> Result<Mass, ConfigError> {
            v.parse::<Mass>()
                .map_err(|e| invalid(&format!("weighing.{key}"), e.to_string()))
        };
        let ms = |key: &str, v: u64| -> Result<Duration, ConfigError> {
            if v == 0 || v > 600_000 {
                return Err(invalid(
                    &format!("weighing.{key}"),
                    format!("{v} is out of range; give milliseconds between 1 and 600000"),
                ));
            }
            Ok(Duration::from_millis(v))
        };
        let station = StationConfig {
            detect_threshold: mass("detect_threshold", &w.detect_threshold)?,
            min_presence: ms("min_presence_ms", w.min_presence_ms)?,
            stable: StableRule {
                division: mass("division", &w.division)?,
                readings: w.stable_readings,
                window: ms("stable_window_ms", w.stable_window_ms)?,
                unflagged_readings: w.unflagged_readings,
                unflagged_window: ms("unflagged_window_ms", w.unflagged_window_ms)?,
            },
            settle_timeout: ms("settle_timeout_ms", w.settle_timeout_ms)?,
            measure_timeout: ms("measure_timeout_ms", w.measure_timeout_ms)?,
            scale_silence: ms("scale_silence_ms", w.scale_silence_ms)?,
            zero_tolerance: mass("zero_tolerance", &w.zero_tolerance)?,
            second_parcel_delta: mass("second_parcel_delta", &w.second_parcel_delta)?,
            commit_timeout: ms("commit_timeout_ms", w.commit_timeout_ms)?,
        };
        for (key, n) in [
            ("weighing.stable_readings", w.stable_readings),
            ("weighing.unflagged_readings", w.unflagged_readings),
        ] {
            if !(2..=100).contains(&n) {
                return Err(invalid(key, "must be between 2 and 100 readings".into()));
            }
        }
        if station.stable.division == Mass::ZERO {
            return Err(invalid(
                "weighing.division",
                "must be the scale's display step, like \"5 g\" or \"0.01 lb\"".into(),
            ));
        }
        let sm = &raw.sim;
        let permille = [
            sm.over_weight_permille,
            sm.over_size_permille,
            sm.torn_label_permille,
            sm.unknown_waybill_permille,
        ];
        // Checked: a wrapping sum let `over_weight_permille = 4294967295` through.
        let total = permille.iter().try_fold(0u32, |a, &b| a.checked_add(b));
        if total.is_none_or(|t| t > 1000) {
            return Err(invalid(
                "sim",
                "the shares of bad parcels add up to more than 1000 per mille".into(),
            ));
        }
        let sim = SimSettings {
            seed: sm.seed,
            gap: Duration::from_millis(sm.gap_ms),
            removal_delay: Duration::from_millis(sm.removal_delay_ms),
            over_weight_permille: sm.over_weight_permille,
            over_size_permille: sm.over_size_permille,
            torn_label_permille: sm.torn_label_permille,
            unknown_waybill_permille: sm.unknown_waybill_permille,
        };

        crate::barcode::Reader::new(&raw.barcode).map_err(|e| invalid("barcode", e.to_string()))?;
        let camera = raw
            .camera
            .validate(
                match &source {
                    Source::File(path) => Some(base_dir(path)),
                    Source::Embedded(_) => None,
                }
                .as_deref(),
            )
            .map_err(|e| invalid(&format!("camera.{}", e.key), e.message))?;

        let scale = raw
            .scale
            .validate()
            .map_err(|e| invalid(&format!("scale.{}", e.key), e.message))?;
        let dimensions = crate::measure::dims::DimsConfig::from_raw(&raw.dimensions, "dimensions")
            .map_err(|e| invalid(&e.key, e.message))?;
        let indicator =
            intake_hal::operator::config::IndicatorConfig::from_raw(&raw.indicator, "indicator")
                .map_err(|e| invalid(&e.key, e.message))?;

        let data_dir = match &source {
            Source::File(path) if from_file("station.data_dir") => {
                base_dir(path).join(&raw.station.data_dir)
            }
            _ => state_directory().unwrap_or_else(|| PathBuf::from(&raw.station.data_dir)),
        };

        let billing = BillingRules {
            legal_for_trade: raw.billing.legal_for_trade.unwrap_or(matches!(
                scale,
                intake_hal::scale::config::ScaleSettings::Sim(_)
            )),
            min_side: match &raw.billing.min_side {
                None => BillingRules::default().min_side,
                Some(t) => {
                    let l = t
                        .parse::<Length>()
                        .map_err(|e| invalid("billing.min_side", e.to_string()))?;
                    if l == Length::ZERO || l >= limits.max_side {
                        return Err(invalid(
                            "billing.min_side",
                            format!("{t} must be above zero and below limits.max_side"),
                        ));
                    }
                    l
                }
            },
            verify_every: raw
                .billing
                .verify_every_days
                .filter(|d| *d > 0)
                .map(|d| jiff::SignedDuration::from_hours(i64::from(d) * 24)),
        };
        let sync = crate::sync::config::from_raw(raw.sync, &source)
            .map_err(|e| invalid(&e.key, e.message))?;
        let web = raw.web.validate().map_err(|e| invalid(&e.key, e.message))?;
        Ok(Settings {
            sync,
            web,
            station_id,
            data_dir,
            policy: Policy {
                limits,
                destinations,
                card,
                reprice_tolerance: Money::from_cents(raw.pricing.reprice_tolerance_cents),
                billing,
                measuring,
            },
            waybill: WaybillRules { patterns },
            rate_card_source,
            manifest_preload: raw
                .manifest
                .preload
                .filter(|p| !p.trim().is_empty())
                .map(|p| resolve(&source, &p, from_file("manifest.preload"))),
            station,
            storage,
            sim,
            barcode: raw.barcode,
            camera,
            scale,
            dimensions,
            indicator,
            source,
        })
    }

    /// The SQLite store's path.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("intake.db")
    }
}

/// Under systemd, the unit's `StateDirectory=` (e.g. /var/lib/intake): the data folder
/// when the config file does not set `station.data_dir`.
fn state_directory() -> Option<PathBuf> {
    let v = std::env::var_os("STATE_DIRECTORY")?;
    // Several directories are separated by ':'; the first is ours.
    let first = v.to_str().map_or(v.clone(), |s| {
        s.split(':').next().unwrap_or_default().into()
    });
    (!first.is_empty()).then(|| PathBuf::from(first))
}

fn read_text(source: &Source) -> Result<String, ConfigError> {
    let bytes = source.read().map_err(|e| ConfigError::Read {
        file: source.describe(),
        source: e,
    })?;
    String::from_utf8(bytes).map_err(|_| ConfigError::Syntax {
        file: source.describe(),
        message: "is not UTF-8 text".into(),
    })
}

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The embedded default.
    Default,
    /// The config file.
    File,
}

/// A configuration file laid over the embedded default, on the TOML value level: tables
/// merge key by key (recursively); any other value (arrays included) replaces the default's.
#[derive(Debug, Clone)]
pub struct Layered {
    /// The effective configuration, before validation.
    pub table: toml::Table,
    /// Every leaf's dotted key (`limits.max_weight`; arrays as one leaf) and its origin.
    pub origins: BTreeMap<String, Origin>,
    /// The file laid over the default (or the default itself).
    pub source: Source,
    text: String,
}

impl Layered {
    /// Reads `path` (or only the default) and lays it over the embedded default.
    pub fn load(path: Option<&Path>) -> Result<Layered, ConfigError> {
        let source = match path {
            Some(p) => Source::File(p.to_path_buf()),
            None => Source::Embedded("station.toml"),
        };
        let text = read_text(&source)?;
        Layered::over_default(&text, &source)
    }

    /// Lays `text` (from `source`) over the embedded default.
    pub fn over_default(text: &str, source: &Source) -> Result<Layered, ConfigError> {
        let parse = |text: &str, file: String| {
            toml::from_str::<toml::Table>(text).map_err(|e| ConfigError::Syntax {
                file,
                message: toml_error_line(text, &e),
            })
        };
        let mut table = parse(EMBEDDED_CONFIG, "(embedded) station.toml".into())?;
        let mut origins = BTreeMap::new();
        leaves(&table, "", Origin::Default, &mut origins);
        let over = parse(text, source.describe())?;
        leaves(&over, "", Origin::File, &mut origins);
        merge(&mut table, over);
        // A default leaf that the file replaced with a table of its own is gone.
        let mut live = BTreeMap::new();
        leaves(&table, "", Origin::Default, &mut live);
        origins.retain(|k, _| live.contains_key(k));
        Ok(Layered {
            table,
            origins,
            source: source.clone(),
            text: text.to_owned(),
        })
    }
}

impl Layered {
    /// Every effective leaf value, by dotted key, with where it came from.
    pub fn values(&self) -> Vec<(String, &toml::Value, Origin)> {
        fn walk<'a>(
            t: &'a toml::Table,
            prefix: &str,
            origins: &BTreeMap<String, Origin>,
            out: &mut Vec<(String, &'a toml::Value, Origin)>,
        ) {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    toml::Value::Table(inner) => walk(inner, &key, origins, out),
                    _ => {
                        let o = origins.get(&key).copied().unwrap_or(Origin::Default);
                        out.push((key, v, o));
                    }
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.table, "", &self.origins, &mut out);
        out
    }

    /// Whether the data folder comes from `$STATE_DIRECTORY` (the file does not set it).
    pub fn data_dir_from_state_directory(&self) -> Option<PathBuf> {
        if self.origins.get("station.data_dir") == Some(&Origin::File) {
            return None;
        }
        state_directory()
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            // A device table whose `type` the file changes (`[scale] type = "serial"` over the
            // default's "sim") is replaced whole: the other type's keys would not fit.
            (Some(toml::Value::Table(b)), toml::Value::Table(o))
                if o.get("type").is_none_or(|t| b.get("type") == Some(t)) =>
            {
                merge(b, o)
            }
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn leaves(t: &toml::Table, prefix: &str, origin: Origin, out: &mut BTreeMap<String, Origin>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(inner) => leaves(inner, &key, origin, out),
            _ => {
                // A file's leaf under a key replaces every default leaf below it.
                out.retain(|o, _| !o.starts_with(&format!("{key}.")));
                out.insert(key, origin);
            }
        }
    }
}

/// A deserialization error of the merged configuration, with the line of an unknown key in
/// the file when the file has it (the merged value has no positions of its own).
fn unknown_key_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim_end().to_owned();
    let unknown = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
        .map(|(k, _)| k.to_owned());
    let Some(key) = unknown else { return msg };
    let line = text.lines().position(|l| {
        let l = l.trim_start();
        l.strip_prefix(key.as_str())
            .is_some_and(|r| r.trim_start().starts_with('='))
    });
    let fix = "fix the spelling, or see `intake config default` for every key";
    match line {
        Some(i) => format!("line {}: {msg}; {fix}", i + 1),
        None => format!("{msg}; {fix}"),
    }
}

/// A TOML error as one line: where, and what (toml's own text spans several lines).
pub fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {}", e.message().trim_end())
        }
        None => e.message().trim_end().to_owned(),
    }
}

fn base_dir(config: &Path) -> PathBuf {
    config.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A path named in a config: relative to the config file's directory when the file names
/// it; named by the embedded default, the embedded file of that name.
fn resolve(config: &Source, name: &str, from_file: bool) -> Source {
    match config {
        Source::File(path) if from_file => Source::File(base_dir(path).join(name)),
        _ => EMBEDDED_FILES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, _)| Source::Embedded(n))
            .unwrap_or_else(|| Source::File(PathBuf::from(name))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_default_is_valid() {
        let s = Settings::load(None).unwrap();
        assert_eq!(s.station_id, "sim-dock-01");
        assert_eq!(s.policy.limits.max_weight, "44 lb".parse().unwrap());
        assert_eq!(s.policy.destinations.served.len(), 9);
        assert_eq!(s.rate_card_source, Source::Embedded("rates.toml"));
        assert!(s.manifest_preload.is_some());
        assert!(s.waybill.is_waybill("IK0000012345"));
    }

    fn err_for(from: &str, to: &str) -> String {
        assert!(EMBEDDED_CONFIG.contains(from), "{from}");
        let text = EMBEDDED_CONFIG.replace(from, to);
        Settings::from_toml(&text, Source::Embedded("station.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_keys_are_named_with_the_fix() {
        let e = err_for("max_weight = \"44 lb\"", "max_weight = \"44\"");
        assert!(
            e.contains("limits.max_weight") && e.contains("no unit"),
            "{e}"
        );
        let e = err_for("max_side = \"59 in\"", "max_side = \"59 lb\"");
        assert!(e.contains("limits.max_side"), "{e}");
        let e = err_for("[\"CN\", \"KR\", \"TW\"]", "[\"CN\", \"XX\"]");
        assert!(
            e.contains("destinations.consignee_id_required") && e.contains("XX"),
            "{e}"
        );
        let e = err_for("max_weight", "max_wieght");
        assert!(e.contains("max_wieght"), "{e}");
        let e = err_for("^IK[0-9]{10}$", "IK[0-9]{10}");
        assert!(e.contains("anchored"), "{e}");
        let e = err_for("\"MY\", \"CN\"", "\"MY\", \"CN\", \"US\"");
        assert!(e.contains("no rate") && e.contains("US"), "{e}");
        let e = err_for(
            "reprice_tolerance_cents = 50",
            "reprice_tolerance_cents = -1",
        );
        assert!(e.contains("reprice_tolerance_cents"), "{e}");
        let e = err_for("id = \"sim-dock-01\"", "id = \"dock 1\"");
        assert!(e.contains("station.id"), "{e}");
    }

    #[test]
    fn storage_keys_default_and_are_checked() {
        let s = Settings::load(None).unwrap();
        assert_eq!(s.storage.give_up_after, Duration::from_secs(600));
        assert_eq!(s.storage.evidence_min_free, 256 * 1024 * 1024);
        // A site file naming only these keys, laid over the embedded default.
        let set = |extra: &str| {
            Settings::from_toml(
                &format!("[station]\n{extra}"),
                Source::Embedded("station.toml"),
            )
        };
        let s = set("give_up_after = \"90s\"\nevidence_min_free_mb = 0").unwrap();
        assert_eq!(s.storage.give_up_after, Duration::from_secs(90));
        assert_eq!(s.storage.evidence_min_free, 0);
        for (extra, key) in [
            ("give_up_after = \"0s\"", "station.give_up_after"),
            ("give_up_after = \"90\"", "station.give_up_after"),
            (
                "evidence_min_free_mb = 17592186044416",
                "station.evidence_min_free_mb",
            ),
        ] {
            let e = set(extra).unwrap_err().to_string();
            assert!(e.contains(key), "{extra}: {e}");
        }
    }

    #[test]
    fn file_paths_resolve_beside_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("station.toml");
        std::fs::write(&cfg, EMBEDDED_CONFIG).unwrap();
        let e = Settings::load(Some(&cfg)).unwrap_err().to_string();
        assert!(
            e.contains("pricing.rate_card") && e.contains("rates.toml"),
            "{e}"
        );
        std::fs::write(dir.path().join("rates.toml"), EMBEDDED_FILES[0].1).unwrap();
        let s = Settings::load(Some(&cfg)).unwrap();
        assert_eq!(s.data_dir, dir.path().join("./data"));
        assert!(Settings::load(Some(&dir.path().join("nope.toml"))).is_err());
    }
}
