//! The fuzz targets: every parser that reads bytes from outside (a scale line, a range
//! sensor, a typed quantity, a waybill, a manifest CSV, a configuration, a head-office batch,
//! a camera frame), each as `fn(&[u8])` that must return without panicking, and the seeds
//! each starts from.
//!
//! Why not `cargo fuzz`: libFuzzer's coverage guidance needs `-Zsanitizer` flags, so it needs
//! a nightly toolchain, and this project builds on stable only. The driver in `main.rs` is a
//! plain mutational fuzzer (bit flips, interesting bytes, splices of seeds, truncation), so
//! it runs with `cargo run` and its short mode fits CI; crashes are saved and become files in
//! `fuzz/regressions/<target>/`, replayed by `fuzz/tests/regressions.rs`.

use intake::config::{EMBEDDED_CONFIG, Settings, Source};
use intake::waybill::WaybillRules;
use intake_hal::camera::image_file::{ImageLimits, decode_image};
use intake_hal::quantity::{Dims, Length, Mass, Money, parse_duration};
use intake_hal::scale::Protocol;

/// One target: its name, the function under test and its seeds.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
    pub seeds: fn() -> Vec<Vec<u8>>,
    /// The largest input generated (images need more room than a frame).
    pub max_len: usize,
}

fn scale(protocol: Protocol, data: &[u8]) {
    let mut p = protocol.parser();
    // Fed in two pieces, so frames split across reads are exercised too.
    let cut = data
        .first()
        .map_or(0, |&b| usize::from(b) % (data.len() + 1));
    for piece in [&data[..cut], &data[cut..]] {
        p.push(piece);
        while p.next_frame().is_some() {}
    }
    let _ = p.pending();
}

fn scale_seeds(protocol: Protocol) -> Vec<Vec<u8>> {
    let file = match protocol {
        Protocol::MtSics => "mt-sics-ohaus-sir.bin",
        Protocol::Toledo => "toledo-wildcat.bin",
        Protocol::Sma => "sma-sartorius.bin",
        Protocol::Nci => "nci-brewcop.bin",
        Protocol::Cas => "cas-mixed.bin",
    };
    let path = format!(
        "{}/../hal/tests/fixtures/scale/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let whole = std::fs::read(path).unwrap_or_default();
    // The transcript whole and in halves: smaller seeds mutate faster.
    let half = whole.len() / 2;
    vec![
        whole.clone(),
        whole[..half].to_vec(),
        whole[half..].to_vec(),
    ]
}

macro_rules! scale_target {
    ($name:literal, $p:expr) => {
        Target {
            name: $name,
            run: |d| scale($p, d),
            seeds: || scale_seeds($p),
            max_len: 4096,
        }
    };
}

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

fn tfmini(data: &[u8]) {
    let mut p = intake_hal::range::tfmini::Parser::new();
    p.push(data);
    while let Some(f) = p.next_frame() {
        if let Ok(f) = f {
            let _ = f.distance();
            let _ = f.temp_celsius();
        }
    }
}

fn tfmini_seeds() -> Vec<Vec<u8>> {
    // TFmini-S manual §7.1: 0x59 0x59, distance, strength, temperature (LSB first), checksum
    // = low byte of the sum of the first eight bytes.
    let mut f = vec![0x59, 0x59, 0x96, 0x00, 0x10, 0x02, 0x00, 0x09];
    let sum = f.iter().map(|&b| u32::from(b)).sum::<u32>();
    f.push((sum & 0xff) as u8);
    let mut two = f.clone();
    two.extend_from_slice(&f);
    vec![f, two]
}

fn quantity(data: &[u8]) {
    let s = text(data);
    let _ = s.parse::<Mass>();
    let _ = s.parse::<Length>();
    let _ = s.parse::<Money>();
    let _ = parse_duration(&s);
    if let Ok(d) = s.parse::<Dims>() {
        let _ = d.volume_um3();
        let _ = d.to_string();
    }
}

fn quantity_seeds() -> Vec<Vec<u8>> {
    [
        "12x10x8in",
        "30 x 20 x 10 cm",
        "12in x 10in x 8in",
        "19.5 kg",
        "44 lb",
        "23.50 USD",
        "$0.01",
        "1.5s",
        "250ms",
        "0x10x10in",
        "-3 lb",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn waybill(data: &[u8]) {
    let rules = WaybillRules::default();
    let _ = rules.parse(&text(data));
}

fn waybill_seeds() -> Vec<Vec<u8>> {
    [
        "EE123456785GB",
        "RR473124829US",
        "1Z999AA10123456784",
        "EE 123 456 785 GB",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

fn manifest(data: &[u8]) {
    let _ = intake::manifest::parse_csv(data, &WaybillRules::default());
}

fn manifest_seeds() -> Vec<Vec<u8>> {
    let sample = Source::Embedded("manifest-sample.csv")
        .read()
        .unwrap_or_default();
    let head: Vec<u8> = sample.iter().take(600).copied().collect();
    vec![sample, head]
}

fn config(data: &[u8]) {
    let _ = Settings::from_toml(&text(data), Source::Embedded("station.toml"));
}

fn config_seeds() -> Vec<Vec<u8>> {
    let full = EMBEDDED_CONFIG.as_bytes().to_vec();
    // Sections alone mutate faster than the whole file.
    let mut seeds = vec![full];
    for part in EMBEDDED_CONFIG.split("\n[") {
        seeds.push(format!("[{part}").into_bytes());
    }
    seeds
}

fn batch(data: &[u8]) {
    let _ = intake::sync::wire::parse_batch(data, true);
    let _ = intake::sync::wire::parse_batch(data, false);
}

fn batch_seeds() -> Vec<Vec<u8>> {
    let scan = r#"{"kind":"scan","id":"01JD0000000000000000000000","station_id":"dock-7","scanned_at":"2026-12-01T10:00:00Z","waybill":"EE123456785GB","destination":"JP","weight_g":1450,"dims_mm":[300,200,100],"disposition":"accept","reasons":[],"price_cents":2350,"currency":"USD"}"#;
    let res = r#"{"kind":"resolution","id":"01JD0000000000000000000001","scan_id":"01JD0000000000000000000000","station_id":"dock-7","created_at":"2026-12-01T10:05:00Z","actor":"operator","disposition":"accept","reasons":[],"note":"ok"}"#;
    vec![
        format!("{scan}\n").into_bytes(),
        format!("{scan}\n{res}\n").into_bytes(),
    ]
}

fn image(data: &[u8]) {
    let limits = ImageLimits {
        max_width: 512,
        max_height: 512,
        max_alloc: 8 << 20,
        max_file: 1 << 20,
    };
    let _ = decode_image(data, "fuzz", &limits);
}

fn image_seeds() -> Vec<Vec<u8>> {
    let img =
        image::GrayImage::from_fn(24, 16, |x, y| image::Luma([((x * 7 + y * 13) % 256) as u8]));
    let rgb = image::DynamicImage::ImageLuma8(img.clone()).to_rgb8();
    let mut seeds = Vec::new();
    for f in [
        image::ImageFormat::Png,
        image::ImageFormat::Jpeg,
        image::ImageFormat::Gif,
        image::ImageFormat::Bmp,
    ] {
        let mut out = std::io::Cursor::new(Vec::new());
        let ok = if f == image::ImageFormat::Png {
            img.write_to(&mut out, f).is_ok()
        } else {
            rgb.write_to(&mut out, f).is_ok()
        };
        if ok {
            seeds.push(out.into_inner());
        }
    }
    seeds
}

/// Every target, in the order `.ci/run` runs them.
pub const TARGETS: &[Target] = &[
    scale_target!("scale-mt-sics", Protocol::MtSics),
    scale_target!("scale-toledo", Protocol::Toledo),
    scale_target!("scale-sma", Protocol::Sma),
    scale_target!("scale-nci", Protocol::Nci),
    scale_target!("scale-cas", Protocol::Cas),
    Target {
        name: "range-tfmini",
        run: tfmini,
        seeds: tfmini_seeds,
        max_len: 256,
    },
    Target {
        name: "quantity",
        run: quantity,
        seeds: quantity_seeds,
        max_len: 64,
    },
    Target {
        name: "waybill",
        run: waybill,
        seeds: waybill_seeds,
        max_len: 64,
    },
    Target {
        name: "manifest",
        run: manifest,
        seeds: manifest_seeds,
        max_len: 4096,
    },
    Target {
        name: "config",
        run: config,
        seeds: config_seeds,
        max_len: 16384,
    },
    Target {
        name: "hq-batch",
        run: batch,
        seeds: batch_seeds,
        max_len: 4096,
    },
    Target {
        name: "image",
        run: image,
        seeds: image_seeds,
        max_len: 8192,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
