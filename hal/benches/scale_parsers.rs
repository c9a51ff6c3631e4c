//! Parser throughput, MB/s, per protocol: `cargo bench -p intake-hal --bench scale_parsers`.
//!
//! Each protocol's encoder writes about 4 MiB of frames (weights varying, motion and stable,
//! one frame in 50 followed by garbage to exercise resynchronisation); the parser takes it in
//! 512-byte pushes, as a serial read would hand it over, and every frame is drained. The best
//! of five runs is printed. A 9600-baud line carries under 1 kB/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use intake_hal::device::{ScaleStatus, WeightKind, WeightReading};
use intake_hal::quantity::{Mass, MassUnit};
use intake_hal::scale::Protocol;

const TARGET_BYTES: usize = 4 << 20;
const RUNS: usize = 5;

fn stream(protocol: Protocol) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(TARGET_BYTES + 64);
    let mut frames = 0;
    let mut i: i64 = 0;
    while out.len() < TARGET_BYTES {
        let r = WeightReading {
            weight: Mass::from_decimal(i % 15_000, 2, MassUnit::Pound).unwrap_or(Mass::ZERO),
            unit: MassUnit::Pound,
            stable: i % 3 != 0,
            kind: if i % 7 == 0 {
                WeightKind::Net
            } else {
                WeightKind::Gross
            },
            tare: None,
            status: ScaleStatus::Ok,
        };
        out.extend(protocol.encode(&r, 2));
        frames += 1;
        if i % 50 == 0 {
            out.extend_from_slice(b"\xff\x00#garbage");
        }
        i += 1;
    }
    (out, frames)
}

fn run(protocol: Protocol, bytes: &[u8]) -> (Duration, usize) {
    let mut parser = protocol.parser();
    let start = Instant::now();
    let mut readings = 0;
    for chunk in bytes.chunks(512) {
        parser.push(black_box(chunk));
        while let Some(f) = parser.next_frame() {
            if let Ok(intake_hal::scale::Frame::Reading(r, _)) = black_box(f) {
                readings += 1;
                black_box(r);
            }
        }
    }
    (start.elapsed(), readings)
}

fn main() {
    println!(
        "{:<8} {:>10} {:>12} {:>14}",
        "parser", "MB/s", "frames/s", "bytes/frame"
    );
    for protocol in Protocol::ALL {
        let (bytes, frames) = stream(protocol);
        let mut best = Duration::MAX;
        for _ in 0..RUNS {
            let (t, readings) = run(protocol, &bytes);
            assert_eq!(readings, frames, "{protocol}: every encoded frame decodes");
            best = best.min(t);
        }
        let secs = best.as_secs_f64();
        println!(
            "{:<8} {:>10.1} {:>12.0} {:>14.1}",
            protocol.name(),
            bytes.len() as f64 / secs / 1e6,
            frames as f64 / secs,
            bytes.len() as f64 / frames as f64
        );
    }
}
