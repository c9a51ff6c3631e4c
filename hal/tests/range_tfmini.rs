//! Benewake TFmini / TFmini-S / TFmini Plus / TF-Luna frame tests, and the transport on a
//! real pseudo-terminal pair.
//!
//! Sources of the quoted bytes:
//! - Negative vectors (checksum off by one), device capture, TFmini Plus on an Arduino UNO:
//!   <https://github.com/budryerson/TFMini-Plus/issues/11> (the maintainer: "The checksums
//!   are off by one").
//! - Garbage with no header, device capture, TFmini Plus on an ESP32-CAM:
//!   <https://github.com/budryerson/TFMini-Plus/issues/44>.
//! - Frame layout, checksum, abnormal-value codes and `Temp / 8 - 256`: TFmini-S product
//!   manual §5.3 and its I2C/UART manual p. 12; TFmini Plus manual p. 12; "Distance 1,000cm =
//!   03 E8 (HEX)" from the original TFmini datasheet p. 7.

use intake_hal::quantity::Length;
use intake_hal::range::tfmini::{
    ChecksumError, ClearInput, Frame, InvalidReading, MAX_BUFFER, Model, Parser, TfMini,
};
use intake_hal::{ErrorKind, RangeFinder};
use proptest::prelude::*;

/// Issue #11's seven rejected frames, exactly as printed.
const OFF_BY_ONE: [[u8; 9]; 7] = [
    [0x59, 0x59, 0xec, 0x00, 0x02, 0x14, 0x28, 0x09, 0xe4],
    [0x59, 0x59, 0xed, 0x00, 0x71, 0x15, 0x28, 0x08, 0x56],
    [0x59, 0x59, 0xed, 0x00, 0x0d, 0x17, 0x28, 0x09, 0xf3],
    [0x59, 0x59, 0xed, 0x00, 0x27, 0x16, 0x28, 0x09, 0x0c],
    [0x59, 0x59, 0xec, 0x00, 0x3c, 0x16, 0x28, 0x09, 0x22],
    [0x59, 0x59, 0xec, 0x00, 0x45, 0x16, 0x28, 0x09, 0x2b],
    [0x59, 0x59, 0xec, 0x00, 0x45, 0x16, 0x28, 0x09, 0x2b],
];
/// The checksums those frames should have carried (derived: sum of the first 8 bytes).
const CORRECT_SUMS: [u8; 7] = [0xe5, 0x55, 0xf4, 0x0d, 0x21, 0x2a, 0x2a];

/// Issue #44's two garbage lines (no 0x59 0x59 header anywhere).
const GARBAGE: [[u8; 9]; 2] = [
    [0x20, 0x09, 0x68, 0xFF, 0x20, 0x09, 0x68, 0xFF, 0x20],
    [0xFF, 0x26, 0x09, 0x64, 0xFF, 0x20, 0x09, 0x65, 0xFF],
];

/// A frame with a correct checksum built from fields (for valid frames).
fn frame(dist: u16, strength: u16, temp: u16) -> [u8; 9] {
    let mut b = [0x59, 0x59, 0, 0, 0, 0, 0, 0, 0];
    b[2..4].copy_from_slice(&dist.to_le_bytes());
    b[4..6].copy_from_slice(&strength.to_le_bytes());
    b[6..8].copy_from_slice(&temp.to_le_bytes());
    b[8] = b[..8].iter().fold(0u8, |s, x| s.wrapping_add(*x));
    b
}

fn all(p: &mut Parser) -> Vec<Result<Frame, ChecksumError>> {
    std::iter::from_fn(|| p.next_frame()).collect()
}

#[test]
fn the_captured_off_by_one_frames_are_rejected() {
    for (bytes, sum) in OFF_BY_ONE.iter().zip(CORRECT_SUMS) {
        let e = Frame::decode(bytes).unwrap_err();
        assert_eq!(e.computed, sum);
        assert_eq!(e.received, bytes[8]);
        assert_eq!(e.computed.abs_diff(e.received), 1);
        assert!(e.to_string().contains("baud rate"), "{e}");
    }
}

#[test]
fn the_same_frames_with_the_right_checksum_read_236_cm_at_37_c() {
    // Derived: the capture's frames with their checksum corrected.
    let mut b = OFF_BY_ONE[0];
    b[8] = CORRECT_SUMS[0];
    let f = Frame::decode(&b).unwrap();
    assert_eq!(f.dist, 236);
    assert_eq!(f.temp_celsius(), 37);
    assert_eq!(f.distance().unwrap(), "236 cm".parse::<Length>().unwrap());
}

#[test]
fn a_stream_of_bad_and_good_frames_yields_only_the_good_ones_as_frames() {
    // The capture's interleaving: bad, good, good, bad, good …
    let good = frame(237, 0x1571, 0x0928);
    let mut stream = Vec::new();
    for bad in OFF_BY_ONE {
        stream.extend_from_slice(&bad);
        stream.extend_from_slice(&good);
        stream.extend_from_slice(&good);
    }
    let mut p = Parser::new();
    let mut frames = 0;
    let mut errors = 0;
    for chunk in stream.chunks(5) {
        p.push(chunk);
        for item in all(&mut p) {
            match item {
                Ok(f) => {
                    assert_eq!(f.dist, 237);
                    frames += 1;
                }
                Err(_) => errors += 1,
            }
        }
    }
    assert_eq!(frames, 14);
    assert_eq!(errors, 7);
    assert_eq!(p.buffered(), 0);
}

#[test]
fn garbage_without_a_header_yields_nothing_and_stays_bounded() {
    let mut p = Parser::new();
    for _ in 0..100 {
        for g in GARBAGE {
            p.push(&g);
            assert!(p.next_frame().is_none());
        }
    }
    assert!(p.buffered() <= 1);
    assert_eq!(p.skipped(), 1_800);
}

#[test]
fn a_frame_after_garbage_and_a_split_header_is_found() {
    let mut p = Parser::new();
    p.push(&GARBAGE[0]);
    p.push(&GARBAGE[1]);
    p.push(&[0x59]); // half a header at the end of a read
    assert!(p.next_frame().is_none());
    let f = frame(1000, 500, 0x0900);
    p.push(&f[1..]);
    let got = p.next_frame().unwrap().unwrap();
    // "Distance 1,000cm = 03 E8 (HEX)".
    assert_eq!(got.dist, 0x03E8);
    assert_eq!(got.distance().unwrap(), "10 m".parse::<Length>().unwrap());
    assert!(p.next_frame().is_none());
}

#[test]
fn misaligned_start_resyncs_on_the_next_header() {
    let f = frame(80, 3_000, 0x0900);
    let mut stream = f[4..].to_vec(); // the tail of a frame we joined late
    stream.extend_from_slice(&f);
    let mut p = Parser::new();
    p.push(&stream);
    let items = all(&mut p);
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].as_ref().unwrap().dist, 80);
}

#[test]
fn invalid_distance_codes() {
    // TFmini-S: Dist −1 (strength ≤ 100), −2 (signal saturation), −4 (ambient saturation).
    let weak = Frame::decode(&frame(0xFFFF, 40, 0x0900)).unwrap();
    assert_eq!(weak.distance(), Err(InvalidReading::WeakSignal));
    let sat = Frame::decode(&frame(0xFFFE, 0xFFFF, 0x0900)).unwrap();
    assert_eq!(sat.distance(), Err(InvalidReading::SignalSaturated));
    let amb = Frame::decode(&frame(0xFFFC, 300, 0x0900)).unwrap();
    assert_eq!(amb.distance(), Err(InvalidReading::AmbientSaturated));
    // TFmini Plus / TF-Luna: strength below 100 or 65535 is unreliable whatever the distance.
    let low = Frame::decode(&frame(120, 99, 0x0900)).unwrap();
    assert_eq!(low.distance(), Err(InvalidReading::WeakSignal));
    let full = Frame::decode(&frame(3, 0xFFFF, 0x0900)).unwrap();
    assert_eq!(full.distance(), Err(InvalidReading::SignalSaturated));
    let zero = Frame::decode(&frame(0, 500, 0x0900)).unwrap();
    assert_eq!(zero.distance(), Err(InvalidReading::WeakSignal));
    let ok = Frame::decode(&frame(100, 100, 0x0900)).unwrap();
    assert_eq!(ok.distance().unwrap(), "1 m".parse::<Length>().unwrap());
}

proptest! {
    /// Any frame survives any garbage before it (without a header inside) and any chunking;
    /// random bytes never panic and never grow the buffer past its bound.
    #[test]
    fn frames_survive_garbage_and_chunking(
        dist in 0u16..12_000,
        strength in 0u16..=u16::MAX,
        temp in 0u16..=u16::MAX,
        garbage in proptest::collection::vec(0u8..0x59, 0..40),
        cut in 1usize..9,
    ) {
        let f = frame(dist, strength, temp);
        let mut stream = garbage.clone();
        stream.extend_from_slice(&f);
        let mut p = Parser::new();
        let mut got = Vec::new();
        for chunk in stream.chunks(cut) {
            p.push(chunk);
            got.extend(all(&mut p));
        }
        prop_assert_eq!(got.len(), 1);
        let frame = got[0].as_ref().unwrap();
        prop_assert_eq!((frame.dist, frame.strength, frame.temp_raw), (dist, strength, temp));
        prop_assert_eq!(p.skipped(), garbage.len() as u64);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        let mut p = Parser::new();
        for chunk in bytes.chunks(37) {
            p.push(chunk);
            prop_assert!(p.buffered() <= MAX_BUFFER);
            for f in all(&mut p).into_iter().flatten() {
                let _ = f.distance();
            }
        }
    }

    /// A single flipped bit in a valid frame's payload or checksum is always caught.
    #[test]
    fn one_flipped_bit_fails_the_checksum(
        dist in 0u16..12_000, strength in 100u16..60_000, byte in 2usize..9, bit in 0u8..8,
    ) {
        let mut f = frame(dist, strength, 0x0900);
        f[byte] ^= 1 << bit;
        prop_assert!(Frame::decode(&f).is_err());
    }
}

#[tokio::test]
async fn the_transport_reads_a_fresh_frame_from_a_pty() {
    use tokio::io::AsyncWriteExt;
    let (mut sensor_end, our_end) = tokio_serial::SerialStream::pair().unwrap();
    // Stale frames already waiting in the port are dropped.
    sensor_end
        .write_all(&frame(999, 500, 0x0900))
        .await
        .unwrap();
    sensor_end.flush().await.unwrap();
    // Readiness polling: wait until the stale frame sits in our input queue.
    {
        use tokio_serial::SerialPort;
        while our_end.bytes_to_read().unwrap() < 9 {
            tokio::task::yield_now().await;
        }
    }
    let mut tf = TfMini::new("top", Model::TfMiniS, our_end);
    let mut stream = OFF_BY_ONE[0].to_vec();
    stream.extend_from_slice(&frame(64, 2_000, 0x0900));
    let (reading, ()) = tokio::join!(tf.measure(), async {
        sensor_end.write_all(&stream).await.unwrap();
        sensor_end.flush().await.unwrap();
    });
    assert_eq!(reading.unwrap(), "64 cm".parse::<Length>().unwrap());
}

#[tokio::test]
async fn the_transport_reports_an_invalid_reading() {
    use tokio::io::AsyncWriteExt;
    let (mut sensor_end, our_end) = tokio_serial::SerialStream::pair().unwrap();
    let mut tf = TfMini::new("side", Model::TfLuna, our_end);
    let (reading, ()) = tokio::join!(tf.measure(), async {
        sensor_end
            .write_all(&frame(0xFFFC, 300, 0x0900))
            .await
            .unwrap();
    });
    let e = reading.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfRange);
    assert!(e.to_string().contains("TF-Luna side: ambient light"), "{e}");
}

/// An in-memory port (for timeouts in paused time, where a pty's real IO would race the
/// virtual clock); clearing its input is a no-op.
struct MemPort(tokio::io::DuplexStream);

impl tokio::io::AsyncRead for MemPort {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl ClearInput for MemPort {
    fn clear_input(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_silent_sensor_times_out_and_only_bad_frames_are_malformed() {
    use tokio::io::AsyncWriteExt;
    let (mut sensor_end, ours) = tokio::io::duplex(256);
    let mut tf = TfMini::new("side", Model::TfMiniPlus, MemPort(ours));
    let e = tf.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.to_string().contains("115200 8N1"), "{e}");

    let (reading, ()) = tokio::join!(tf.measure(), async {
        for bad in OFF_BY_ONE {
            sensor_end.write_all(&bad).await.unwrap();
        }
    });
    let e = reading.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed);
    assert!(e.to_string().contains("7 frame(s)"), "{e}");

    drop(sensor_end);
    let e = tf.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disconnected);
}
