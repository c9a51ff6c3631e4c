//! The `[barcode]` config section (raw serde struct) and the validated reader settings.

use serde::{Deserialize, Serialize};

use super::Format;

/// The `[barcode]` section as written in the station config.
///
/// ```toml
/// [barcode]
/// formats = ["code128", "code39", "qr_code", "data_matrix", "pdf417"]
/// code39_full_ascii = false
/// threads = 0          # 0 = one per core
/// retries = 1          # 0 fast only, 1 + inverted/other binarizer, 2 + whole-frame try-harder
/// max_regions = 24
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BarcodeConfig {
    /// The symbologies to look for; the fewer, the faster.
    pub formats: Vec<Format>,
    /// Read Code 39 in full-ASCII (extended) mode: `+A` is `a`, `/A` is `!` and so on.
    /// Only when the carrier prints it so: plain Code 39 text with `+`, `$`, `%`, `/` would
    /// otherwise be changed.
    pub code39_full_ascii: bool,
    /// Decoding threads; 0 uses every core.
    pub threads: usize,
    /// How hard to retry when the fast pass finds nothing: 0 fast pass only; 1 adds the
    /// inverted image and a second binarizer on each region; 2 adds a whole-frame
    /// try-harder pass.
    pub retries: u8,
    /// The most candidate regions decoded per frame (largest first).
    pub max_regions: usize,
}

impl Default for BarcodeConfig {
    fn default() -> Self {
        BarcodeConfig {
            formats: vec![
                Format::Code128,
                Format::Code39,
                Format::QrCode,
                Format::DataMatrix,
                Format::Pdf417,
            ],
            code39_full_ascii: false,
            threads: 0,
            retries: 2,
            max_regions: 24,
        }
    }
}

/// Why a `[barcode]` section cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarcodeConfigError {
    #[error(
        "barcode.formats is empty; list at least one of code128, code39, qr_code, data_matrix, pdf417"
    )]
    NoFormats,
    #[error("barcode.retries = {0} is out of range; use 0, 1 or 2")]
    Retries(u8),
    #[error("barcode.max_regions = 0 would never decode anything; use 1 or more (default 24)")]
    MaxRegions,
    #[error("barcode.threads = {0} is more than 64; use 0 (one per core) or a smaller number")]
    Threads(usize),
}

/// Validated reader settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderSettings {
    /// Enabled formats, deduplicated, in [`Format::ALL`] order.
    pub formats: Vec<Format>,
    pub code39_full_ascii: bool,
    pub threads: usize,
    pub retries: u8,
    pub max_regions: usize,
}

impl ReaderSettings {
    pub fn enabled(&self, f: Format) -> bool {
        self.formats.contains(&f)
    }

    pub(crate) fn any_linear(&self) -> bool {
        self.formats.iter().any(|f| f.is_linear())
    }
}

impl TryFrom<&BarcodeConfig> for ReaderSettings {
    type Error = BarcodeConfigError;

    fn try_from(c: &BarcodeConfig) -> Result<Self, Self::Error> {
        let formats: Vec<Format> = Format::ALL
            .into_iter()
            .filter(|f| c.formats.contains(f))
            .collect();
        if formats.is_empty() {
            return Err(BarcodeConfigError::NoFormats);
        }
        if c.retries > 2 {
            return Err(BarcodeConfigError::Retries(c.retries));
        }
        if c.max_regions == 0 {
            return Err(BarcodeConfigError::MaxRegions);
        }
        if c.threads > 64 {
            return Err(BarcodeConfigError::Threads(c.threads));
        }
        let threads = if c.threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            c.threads
        };
        Ok(ReaderSettings {
            formats,
            code39_full_ascii: c.code39_full_ascii,
            threads,
            retries: c.retries,
            max_regions: c.max_regions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_enable_the_five_label_formats() {
        let c: BarcodeConfig = toml::from_str("").unwrap();
        assert_eq!(c, BarcodeConfig::default());
        let s = ReaderSettings::try_from(&c).unwrap();
        assert_eq!(s.formats, Format::ALL.to_vec());
        assert!(!s.code39_full_ascii);
        assert!(s.threads >= 1);
    }

    #[test]
    fn parses_and_orders_formats() {
        let c: BarcodeConfig = toml::from_str(
            "formats = [\"qr_code\", \"code39\", \"code39\"]\ncode39_full_ascii = true",
        )
        .unwrap();
        let s = ReaderSettings::try_from(&c).unwrap();
        assert_eq!(s.formats, vec![Format::Code39, Format::QrCode]);
        assert!(s.code39_full_ascii);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_values() {
        let e = toml::from_str::<BarcodeConfig>("fromats = []").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(toml::from_str::<BarcodeConfig>("formats = [\"ean13\"]").is_err());
        let empty = BarcodeConfig {
            formats: vec![],
            ..BarcodeConfig::default()
        };
        assert_eq!(
            ReaderSettings::try_from(&empty),
            Err(BarcodeConfigError::NoFormats)
        );
        let r = BarcodeConfig {
            retries: 3,
            ..BarcodeConfig::default()
        };
        assert_eq!(
            ReaderSettings::try_from(&r),
            Err(BarcodeConfigError::Retries(3))
        );
    }
}
