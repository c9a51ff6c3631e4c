//! The replay backend into the real serial driver over a pty, and the driver's note counts:
//! a capture recorded from a 7E1 Toledo line on an 8N1 port, whose indicator clears a status
//! bit the manual calls "always 1" (the repository's `tests/fixtures/scale/` capture), reads
//! as the frames it holds, each counted with its notes.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use intake_hal::quantity::{Mass, MassUnit};
use intake_hal::scale::Protocol;
use intake_hal::scale::capture::{self, Capture};
use intake_hal::scale::config::{ReplaySettings, SerialSettings};
use intake_hal::scale::replay::{self, ReplayOptions};
use intake_hal::scale::serial::SerialScale;
use intake_hal::{Scale, WeightReading};
use tokio::time::timeout;

const CAPTURE: &str = include_str!("../../tests/fixtures/scale/parcel-50lb-toledo.capture");

async fn readings(scale: &mut SerialScale, n: usize) -> Vec<WeightReading> {
    let mut out = Vec::new();
    while out.len() < n {
        let r = timeout(Duration::from_secs(5), scale.next_reading())
            .await
            .expect("a reading within 5 s")
            .unwrap();
        out.push(r);
    }
    out
}

#[tokio::test]
async fn a_capture_replays_into_the_driver_with_its_notes_counted() {
    let cap = Capture::parse(CAPTURE).unwrap();
    assert_eq!(cap.protocol, Some(Protocol::Toledo));
    let frames = cap.chunks.len() / 2; // each frame in two reads; the first chunk is a tail
    let (mut handle, link) = replay::spawn(
        cap.clone(),
        ReplayOptions {
            speed: 20.0,
            link: None,
        },
    )
    .unwrap();
    let mut scale = SerialScale::open(SerialSettings::new(&link, Protocol::Toledo)).unwrap();
    let counts = scale.note_counts();
    let got = readings(&mut scale, frames).await;
    let lb = |h| Mass::from_decimal(h, 2, MassUnit::Pound).unwrap();
    assert_eq!(got[0].weight, Mass::ZERO);
    let stable_50: Vec<_> = got
        .iter()
        .filter(|r| r.stable && r.weight.abs_diff(lb(5000)) <= lb(1))
        .collect();
    assert_eq!(stable_50.len(), 40, "{got:?}");
    assert_eq!(got.last().unwrap().weight, Mass::ZERO);
    // Every frame: parity stripped and SWA bit 5 noted, none rejected for it.
    let snap = counts.snapshot();
    let count = |k: &str| snap.iter().find(|(n, _)| *n == k).unwrap().1;
    assert_eq!(count("parity_bit_stripped"), frames as u64);
    assert_eq!(count("status_bit_differs"), frames as u64);
    assert_eq!(count("no_checksum"), 0);
    timeout(Duration::from_secs(5), handle.finished())
        .await
        .unwrap();
    drop(handle);
    assert!(!link.exists());
}

#[tokio::test]
async fn the_recorded_pace_is_kept_up_to_the_speed_factor() {
    // Two chunks 400 ms apart at speed 4: the second arrives about 100 ms after the first.
    let mut text = capture::header(Protocol::Cas, 9600, "8N1");
    text.push_str(&capture::line(Duration::ZERO, b"ST,GS,+  1.000kg\r\n"));
    text.push_str(&capture::line(
        Duration::from_millis(400),
        b"ST,GS,+  2.000kg\r\n",
    ));
    let path = std::env::temp_dir().join(format!("intake-pace-{}.capture", std::process::id()));
    std::fs::write(&path, text).unwrap();
    let (_handle, serial) = replay::start(&ReplaySettings {
        capture: path.clone(),
        protocol: None,
        options: ReplayOptions {
            speed: 4.0,
            link: None,
        },
    })
    .unwrap();
    let mut scale = SerialScale::open(serial).unwrap();
    let first = readings(&mut scale, 1).await;
    let t0 = tokio::time::Instant::now();
    let second = readings(&mut scale, 1).await;
    let gap = t0.elapsed();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(first[0].weight, Mass::from_grams(1000));
    assert_eq!(second[0].weight, Mass::from_grams(2000));
    assert!(
        gap >= Duration::from_millis(80) && gap < Duration::from_millis(400),
        "{gap:?}"
    );
}
