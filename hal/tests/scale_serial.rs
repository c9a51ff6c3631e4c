//! The serial driver against the simulated scale over real pseudo-terminals, for every
//! protocol: readings arrive; unplug and replug; garbage and half frames between good frames;
//! a scale that answers nothing (timeout, then recovery).
//!
//! Time is real (the pty is real IO), but short: 20 ms polls and a 300 ms read timeout.
//! Nothing waits a fixed time for a result; every wait is a read with a deadline.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use intake_hal::quantity::{Mass, MassUnit};
use intake_hal::scale::Protocol;
use intake_hal::scale::config::SerialSettings;
use intake_hal::scale::serial::{SerialScale, probe};
use intake_hal::scale::sim::{SimScale, SimScaleHandle, SimScaleOptions};
use intake_hal::{DeviceError, ErrorKind, Scale, WeightReading};
use tokio::sync::watch;
use tokio::time::timeout;

const DEADLINE: Duration = Duration::from_secs(5);

fn lb(hundredths: i64) -> Mass {
    Mass::from_decimal(hundredths, 2, MassUnit::Pound).unwrap()
}

fn start(protocol: Protocol, load: Mass) -> (SimScaleHandle, watch::Sender<Mass>, SerialScale) {
    let (tx, rx) = watch::channel(load);
    let opts = SimScaleOptions {
        settle: Duration::from_millis(100),
        interval: Duration::from_millis(10),
        ..SimScaleOptions::default()
    };
    let (sim, path) = SimScale::spawn(protocol, rx, opts).unwrap();
    let mut settings = SerialSettings::new(path, protocol);
    settings.poll_interval = Duration::from_millis(20);
    settings.read_timeout = Duration::from_millis(300);
    settings.reconnect_min = Duration::from_millis(10);
    settings.reconnect_max = Duration::from_millis(40);
    (sim, tx, SerialScale::new(settings))
}

async fn next(scale: &mut SerialScale) -> Result<WeightReading, DeviceError> {
    timeout(DEADLINE, scale.next_reading())
        .await
        .unwrap_or_else(|_| panic!("{}: nothing within {DEADLINE:?}", scale.name()))
}

/// Reads until a stable reading within one division (0.01 lb) of `want`; any error fails.
async fn settle_on(scale: &mut SerialScale, want: Mass) -> WeightReading {
    let div = lb(1).micrograms();
    for _ in 0..200 {
        let r = next(scale).await.unwrap_or_else(|e| panic!("{e}"));
        if r.stable && (r.weight.micrograms() - want.micrograms()).abs() <= div {
            return r;
        }
    }
    panic!("{}: never settled on {want}", scale.name());
}

#[tokio::test]
async fn every_protocol_reads_the_load_and_follows_a_change() {
    for protocol in Protocol::ALL {
        let (_sim, load, mut scale) = start(protocol, lb(1234));
        let r = settle_on(&mut scale, lb(1234)).await;
        assert_eq!(r.unit, MassUnit::Pound, "{protocol}");
        load.send(lb(4400)).unwrap();
        // Motion first (the sim shows it for 100 ms), then the new load.
        let mut saw_motion = false;
        loop {
            let r = next(&mut scale).await.unwrap();
            saw_motion |= !r.stable;
            if r.stable
                && (r.weight.micrograms() - lb(4400).micrograms()).abs() <= lb(1).micrograms()
            {
                break;
            }
        }
        // NCI (ECR-style) replies with weight and motion flag; every protocol shows motion.
        assert!(saw_motion, "{protocol}: no motion while settling");
    }
}

#[tokio::test]
async fn unplug_is_reported_once_and_replug_recovers() {
    for protocol in Protocol::ALL {
        let (sim, _load, mut scale) = start(protocol, lb(500));
        settle_on(&mut scale, lb(500)).await;
        sim.unplug().await.unwrap();
        // Frames already read may come first; then the disconnection.
        let err = loop {
            match next(&mut scale).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::Disconnected, "{protocol}: {err}");
        // The next call retries silently (several failed reopens while unplugged) and
        // returns a reading once the scale is back: no error per retry.
        let (r, replugged) = tokio::join!(next(&mut scale), async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            sim.replug().await
        });
        replugged.unwrap();
        let r = r.unwrap_or_else(|e| panic!("{protocol}: {e}"));
        assert!(
            (r.weight.micrograms() - lb(500).micrograms()).abs() <= lb(1).micrograms() || !r.stable
        );
    }
}

/// Garbage, parity-flipped bytes and the first half of a valid frame between good frames.
#[tokio::test]
async fn garbage_and_half_frames_between_good_ones_are_skipped() {
    for protocol in Protocol::ALL {
        let (sim, _load, mut scale) = start(protocol, lb(1999));
        settle_on(&mut scale, lb(1999)).await;
        let good = protocol.encode(
            &WeightReading {
                weight: lb(1999),
                unit: MassUnit::Pound,
                stable: true,
                kind: intake_hal::WeightKind::Gross,
                tare: None,
                status: intake_hal::ScaleStatus::Ok,
            },
            2,
        );
        for _ in 0..3 {
            let mut junk = vec![0xff, 0x00, b'#', 0x95, b'\r'];
            junk.extend_from_slice(&good[..good.len() / 2]);
            sim.inject(junk).await.unwrap();
            let r = settle_on(&mut scale, lb(1999)).await;
            assert_eq!(r.unit, MassUnit::Pound);
        }
    }
}

#[tokio::test]
async fn a_silent_scale_times_out_then_recovers() {
    for protocol in Protocol::ALL {
        let (sim, _load, mut scale) = start(protocol, lb(250));
        settle_on(&mut scale, lb(250)).await;
        sim.set_silent(true).await.unwrap();
        let err = loop {
            match next(&mut scale).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::Timeout, "{protocol}: {err}");
        assert!(err.to_string().contains("sent nothing"), "{err}");
        // Still silent: another timeout, not a disconnection.
        assert_eq!(
            next(&mut scale).await.unwrap_err().kind(),
            ErrorKind::Timeout
        );
        sim.set_silent(false).await.unwrap();
        settle_on(&mut scale, lb(250)).await;
    }
}

/// Issue 16: a scale line carrying only garbage (wrong protocol or baud rate) was reported
/// as "sent nothing, check it is powered"; a steady garbage stream never timed out at all.
#[tokio::test]
async fn garbage_on_the_line_is_named_unreadable_data_not_silence() {
    for protocol in Protocol::ALL {
        let (sim, _load, mut scale) = start(protocol, lb(250));
        settle_on(&mut scale, lb(250)).await;
        sim.set_silent(true).await.unwrap();
        // What a scale at the wrong baud rate looks like: framing errors as high bytes,
        // a steady stream with no valid frame in it.
        let feeder = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(15));
            loop {
                tick.tick().await;
                if sim
                    .inject(vec![0xf8, 0x80, 0xfe, 0x00, 0x78, 0x86, 0xe0])
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        let err = loop {
            match next(&mut scale).await {
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        feeder.abort();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{protocol}: {err}");
        let text = err.to_string();
        assert!(
            text.contains("unreadable data: wrong protocol or baud rate?"),
            "{protocol}: {text}"
        );
        assert!(!text.contains("sent nothing"), "{text}");
    }
}

#[tokio::test]
async fn a_port_that_is_not_there_is_a_disconnection_not_a_panic() {
    let mut settings = SerialSettings::new("/dev/intake-no-such-scale", Protocol::Nci);
    settings.reconnect_min = Duration::from_millis(10);
    let mut scale = SerialScale::new(settings);
    let err = next(&mut scale).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Disconnected);
    assert!(err.to_string().contains("/dev/serial/by-id"), "{err}");
}

#[tokio::test]
async fn probe_finds_the_protocol_the_scale_speaks() {
    for protocol in [Protocol::Sma, Protocol::Cas] {
        let (sim, _load, _scale) = start(protocol, lb(100));
        let found = probe(
            sim.path(),
            &[9600],
            &[intake_hal::scale::config::Framing::N81],
            Duration::from_millis(150),
        )
        .await
        .unwrap();
        let names: Vec<Protocol> = found.iter().map(|a| a.protocol).collect();
        assert_eq!(names, vec![protocol]);
    }
}
