//! Generated labels (rxing's encoders, drawn by the simulated camera) in camera frames:
//! rotation, blur, noise, faded and inverted print, torn labels, two waybills, and the
//! simulated camera's own frames.

// Helpers outside #[test] fns: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use intake::barcode::{BarcodeConfig, Format, Reader, Symbol, choose_waybill};
use intake::judge::WaybillRead;
use intake::waybill::{WaybillRules, s10_check_digit};
use intake_hal::camera::{
    LabelDamage, LabelSpec, Scene, SimCamera, SimCameraConfig, compose, render_label,
};
use proptest::prelude::*;

const WAYBILL: &str = "EE123456785GB";

fn reader() -> Reader {
    Reader::new(&BarcodeConfig::default()).unwrap()
}

fn frame(spec: &LabelSpec, scene: &Scene) -> image::GrayImage {
    let label = render_label(spec).unwrap();
    compose(Some(&label), scene)
}

fn scene(angle_deg: f32, seed: u64) -> Scene {
    Scene {
        angle_deg,
        ..Scene::centered(1280, 720, seed)
    }
}

fn texts(symbols: &[Symbol]) -> Vec<(Format, &str)> {
    symbols
        .iter()
        .map(|s| (s.format, s.text.as_str()))
        .collect()
}

fn waybill_of(symbols: &[Symbol]) -> WaybillRead {
    choose_waybill(symbols, &WaybillRules::default()).0
}

#[test]
fn every_symbol_on_a_label_at_any_angle() {
    let spec = LabelSpec {
        qr: Some("https://track.example/EE123456785GB".into()),
        ..LabelSpec::new(WAYBILL)
    };
    let r = reader();
    for (i, angle) in [0.0f32, 17.0, 90.0, 135.0, 180.0, 243.0, 301.0]
        .into_iter()
        .enumerate()
    {
        let syms = r.read_gray(&frame(&spec, &scene(angle, i as u64)));
        let t = texts(&syms);
        assert!(t.contains(&(Format::Code128, WAYBILL)), "{angle}°: {t:?}");
        assert!(
            t.contains(&(Format::Code128, "42010115")),
            "{angle}°: {t:?}"
        );
        assert!(
            t.contains(&(Format::QrCode, "https://track.example/EE123456785GB")),
            "{angle}°: {t:?}"
        );
        assert_eq!(syms.len(), 3, "{angle}°: {t:?}");
        // The waybill's corners surround the place it was printed: inside the label box.
        let c = syms.iter().find(|s| s.text == WAYBILL).unwrap().center();
        assert!(
            (c.x - 640.0).abs() < 400.0 && (c.y - 360.0).abs() < 400.0,
            "{c:?}"
        );
    }
}

#[test]
fn blur_noise_faded_and_inverted_print() {
    let spec = LabelSpec::new(WAYBILL);
    let r = reader();
    let cases = [
        (
            "blur",
            Scene {
                blur: 1,
                ..scene(31.0, 1)
            },
        ),
        (
            "noise",
            Scene {
                noise: 14.0,
                ..scene(200.0, 2)
            },
        ),
        (
            "faded",
            Scene {
                contrast: 0.35,
                ..scene(75.0, 3)
            },
        ),
        (
            "inverted",
            Scene {
                invert: true,
                ..scene(12.0, 4)
            },
        ),
        (
            "small",
            Scene {
                scale: 0.8,
                ..scene(160.0, 5)
            },
        ),
    ];
    for (what, sc) in cases {
        let syms = r.read_gray(&frame(&spec, &sc));
        assert_eq!(
            waybill_of(&syms),
            WaybillRead::Read(WAYBILL.into()),
            "{what}: {:?}",
            texts(&syms)
        );
    }
}

#[test]
fn torn_or_blank_labels_and_empty_frames_give_no_waybill() {
    let r = reader();
    let torn = LabelSpec {
        damage: LabelDamage::Torn,
        ..LabelSpec::new(WAYBILL)
    };
    let syms = r.read_gray(&frame(&torn, &scene(20.0, 9)));
    assert_eq!(waybill_of(&syms), WaybillRead::NoRead, "{:?}", texts(&syms));
    // The postcode survives the tear and is still read: it is just not a waybill.
    assert!(texts(&syms).contains(&(Format::Code128, "42010115")));
    let blank = LabelSpec {
        damage: LabelDamage::NoBarcode,
        ..LabelSpec::new(WAYBILL)
    };
    assert!(r.read_gray(&frame(&blank, &scene(0.0, 10))).is_empty());
    let empty = compose(None, &Scene::centered(1280, 720, 11));
    assert!(r.read_gray(&empty).is_empty());
}

#[test]
fn two_different_waybills_on_one_frame_are_ambiguous() {
    // The "postcode" slot carries a second valid S10 number.
    let spec = LabelSpec {
        postcode: Some("RR473124829US".into()),
        ..LabelSpec::new(WAYBILL)
    };
    let syms = reader().read_gray(&frame(&spec, &scene(10.0, 12)));
    let (read, chosen) = choose_waybill(&syms, &WaybillRules::default());
    assert_eq!(
        read,
        WaybillRead::Ambiguous(vec![WAYBILL.into(), "RR473124829US".into()])
    );
    assert!(chosen.is_none());
}

#[tokio::test]
async fn simulated_camera_frames_decode_every_time() {
    use intake_hal::Camera;
    let (tx, rx) = tokio::sync::watch::channel(None);
    let mut cam = SimCamera::new(
        rx,
        SimCameraConfig {
            width: 1280,
            height: 720,
            seed: 42,
        },
    );
    let r = reader();
    assert!(r.read_gray(&cam.capture().await.unwrap()).is_empty());
    for i in 0..12u32 {
        let serial = format!("{:08}", 31_415_926 + i * 7919);
        let d = s10_check_digit(serial.as_bytes().try_into().unwrap());
        let wb = format!("CP{serial}{d}JP");
        tx.send(Some(LabelSpec {
            qr: (i % 3 == 0).then(|| format!("https://track.example/{wb}")),
            ..LabelSpec::new(wb.clone())
        }))
        .unwrap();
        let syms = r.read_gray(&cam.capture().await.unwrap());
        assert_eq!(
            waybill_of(&syms),
            WaybillRead::Read(wb.clone()),
            "frame {i}: {:?}",
            texts(&syms)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    /// A random valid S10 waybill as Code 128 at a random angle on a random background is
    /// read back exactly.
    #[test]
    fn random_s10_waybill_at_random_angle_reads_back(
        service in "[A-Z]{2}",
        serial in 0u32..100_000_000,
        country in prop::sample::select(vec!["GB", "US", "JP", "CN", "HK", "DE", "FR"]),
        angle in 0.0f32..360.0,
        seed in any::<u64>(),
    ) {
        let s = format!("{serial:08}");
        let d = s10_check_digit(s.as_bytes().try_into().unwrap());
        let wb = format!("{service}{s}{d}{country}");
        let spec = LabelSpec { postcode: None, ..LabelSpec::new(wb.clone()) };
        let label = render_label(&spec).unwrap();
        let sc = Scene { angle_deg: angle, ..Scene::centered(1280, 720, seed) };
        let syms = reader().read_gray(&compose(Some(&label), &sc));
        prop_assert_eq!(waybill_of(&syms), WaybillRead::Read(wb));
    }
}
