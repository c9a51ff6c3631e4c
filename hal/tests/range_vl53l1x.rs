//! VL53L1X transcript tests: the exact I2C traffic the driver must produce, checked by
//! `embedded-hal-mock`, each ending with `.done()`.
//!
//! Register map and sequence: ST UM2510 (VL53L1X ULD API user manual) and the ULD's
//! `VL53L1X_api.c` (model id 0xEACC at 0x010F, default block at 0x2D..=0x87, timing-budget
//! tables, `status_rtn` range-status table).

use embedded_hal::i2c::ErrorKind as I2cErrorKind;
use embedded_hal_mock::eh1::delay::NoopDelay;
use embedded_hal_mock::eh1::i2c::{Mock as I2cMock, Transaction as T};
use intake_hal::range::vl53l1x::{
    DEFAULT_ADDRESS, DEFAULT_CONFIGURATION, DistanceMode, Error, RangeStatus, Settings, Vl53l1x,
    Vl53l1xRangeFinder,
};
use intake_hal::{ErrorKind, RangeFinder};

const A: u8 = DEFAULT_ADDRESS;

fn rd(reg: u16, resp: &[u8]) -> T {
    T::write_read(A, reg.to_be_bytes().to_vec(), resp.to_vec())
}

fn wr(reg: u16, data: &[u8]) -> T {
    let mut v = reg.to_be_bytes().to_vec();
    v.extend_from_slice(data);
    T::write(A, v)
}

/// A result block as `RESULT__RANGE_STATUS` (0x89) burst-reads it: status byte first,
/// distance big-endian at offsets 13..15.
fn result(raw_status: u8, mm: u16) -> Vec<u8> {
    let mut r = vec![0u8; 17];
    r[0] = raw_status;
    r[13..15].copy_from_slice(&mm.to_be_bytes());
    r
}

fn init_transcript(mode_bytes: &[T], budget: &[T]) -> Vec<T> {
    let mut block = vec![0x00, 0x2D];
    block.extend_from_slice(&DEFAULT_CONFIGURATION);
    let mut t = vec![
        rd(0x010F, &[0xEA, 0xCC]), // model id
        rd(0x00E5, &[0x00]),       // not booted yet
        rd(0x00E5, &[0x01]),       // booted
        T::write(A, block),        // default configuration 0x2D..=0x87
        wr(0x0087, &[0x40]),       // start ranging
        rd(0x0031, &[0x00]),       // not ready
        rd(0x0031, &[0x01]),       // ready
        wr(0x0086, &[0x01]),       // clear interrupt
        wr(0x0087, &[0x00]),       // stop
        wr(0x0008, &[0x09]),       // VHV loop bound
        wr(0x000B, &[0x00]),       // VHV from previous temperature
    ];
    t.extend_from_slice(mode_bytes);
    t.extend_from_slice(budget);
    t
}

fn long_mode() -> Vec<T> {
    vec![
        wr(0x004B, &[0x0A]),
        wr(0x0060, &[0x0F]),
        wr(0x0063, &[0x0D]),
        wr(0x0069, &[0xB8]),
        wr(0x0078, &[0x0F, 0x0D]),
        wr(0x007A, &[0x0E, 0x0E]),
    ]
}

fn short_mode() -> Vec<T> {
    vec![
        wr(0x004B, &[0x14]),
        wr(0x0060, &[0x07]),
        wr(0x0063, &[0x05]),
        wr(0x0069, &[0x38]),
        wr(0x0078, &[0x07, 0x05]),
        wr(0x007A, &[0x06, 0x06]),
    ]
}

#[test]
fn init_long_mode_50ms() {
    let mut t = init_transcript(
        &long_mode(),
        &[wr(0x005E, &[0x00, 0xAD]), wr(0x0061, &[0x00, 0xC6])],
    );
    // Inter-measurement period: osc calibrate 0x0100 (& 0x3FF) × 50 ms × 1.075 = 13760.
    t.push(rd(0x00DE, &[0x01, 0x00]));
    t.push(wr(0x006C, &13_760u32.to_be_bytes()));
    let mut i2c = I2cMock::new(&t);
    let mut s = Vl53l1x::new(i2c.clone(), A);
    s.init(Settings::default(), &mut NoopDelay::new()).unwrap();
    i2c.done();
}

#[test]
fn init_short_mode_20ms() {
    let mut t = init_transcript(
        &short_mode(),
        &[wr(0x005E, &[0x00, 0x51]), wr(0x0061, &[0x00, 0x6E])],
    );
    t.push(rd(0x00DE, &[0x04, 0x00])); // 0x0400 & 0x3FF = 0
    t.push(wr(0x006C, &[0, 0, 0, 0]));
    let mut i2c = I2cMock::new(&t);
    let mut s = Vl53l1x::new(i2c.clone(), A);
    let settings = Settings {
        distance_mode: DistanceMode::Short,
        timing_budget_ms: 20,
    };
    s.init(settings, &mut NoopDelay::new()).unwrap();
    i2c.done();
}

#[test]
fn a_wrong_model_stops_before_writing_anything() {
    // A VL53L0X (or another part) at the address answers something else.
    let t = [rd(0x010F, &[0xEE, 0xAA])];
    let mut i2c = I2cMock::new(&t);
    let mut s = Vl53l1x::new(i2c.clone(), A);
    let e = s
        .init(Settings::default(), &mut NoopDelay::new())
        .unwrap_err();
    assert_eq!(e, Error::WrongModel { found: 0xEEAA });
    assert!(e.to_string().contains("check the address"), "{e}");
    i2c.done();
}

#[test]
fn an_unsupported_budget_is_refused_without_traffic() {
    let mut i2c = I2cMock::new(&[]);
    let mut s = Vl53l1x::new(i2c.clone(), A);
    let e = s
        .init(
            Settings {
                distance_mode: DistanceMode::Long,
                timing_budget_ms: 15,
            },
            &mut NoopDelay::new(),
        )
        .unwrap_err();
    assert!(matches!(
        e,
        Error::InvalidTimingBudget { budget_ms: 15, .. }
    ));
    i2c.done();
}

#[test]
fn a_bus_error_is_reported_as_such() {
    let t = [rd(0x010F, &[0, 0]).with_error(I2cErrorKind::Other)];
    let mut i2c = I2cMock::new(&t);
    let mut s = Vl53l1x::new(i2c.clone(), A);
    let e = s.model_id().unwrap_err();
    assert_eq!(e, Error::I2c(I2cErrorKind::Other));
    assert!(e.to_string().contains("SDA/SCL"), "{e}");
    i2c.done();
}

#[test]
fn range_status_table() {
    assert_eq!(RangeStatus::from_raw(9), RangeStatus::Valid);
    assert_eq!(RangeStatus::from_raw(0x09 | 0xE0), RangeStatus::Valid); // high bits ignored
    assert_eq!(RangeStatus::from_raw(6), RangeStatus::SigmaFail);
    assert_eq!(RangeStatus::from_raw(4), RangeStatus::SignalFail);
    assert_eq!(RangeStatus::from_raw(5), RangeStatus::OutOfBounds);
    assert_eq!(RangeStatus::from_raw(7), RangeStatus::WrapAround);
    assert_eq!(RangeStatus::from_raw(19), RangeStatus::NoWrapCheck);
    assert_eq!(RangeStatus::from_raw(1), RangeStatus::Other(1));
}

#[tokio::test(start_paused = true)]
async fn a_reading_is_start_ready_read_clear_and_skips_the_unchecked_first_range() {
    let t = [
        wr(0x0086, &[0x01]), // clear
        wr(0x0087, &[0x40]), // start
        rd(0x0031, &[0x00]), // not ready: the adapter sleeps, not spins
        rd(0x0031, &[0x01]),
        rd(0x0089, &result(19, 640)), // first range: no wrap check, skipped
        wr(0x0086, &[0x01]),
        rd(0x0031, &[0x01]),
        rd(0x0089, &result(9, 642)),
        wr(0x0086, &[0x01]),
        // The second reading: ranging already on.
        rd(0x0031, &[0x01]),
        rd(0x0089, &result(9, 641)),
        wr(0x0086, &[0x01]),
    ];
    let mut i2c = I2cMock::new(&t);
    let mut rf = Vl53l1xRangeFinder::new("top", Vl53l1x::new(i2c.clone(), A), Settings::default());
    assert_eq!(rf.measure().await.unwrap(), "642 mm".parse().unwrap());
    assert_eq!(rf.measure().await.unwrap(), "641 mm".parse().unwrap());
    i2c.done();
}

#[tokio::test(start_paused = true)]
async fn a_bad_range_status_is_a_typed_out_of_range_error() {
    let t = [
        wr(0x0086, &[0x01]),
        wr(0x0087, &[0x40]),
        rd(0x0031, &[0x01]),
        rd(0x0089, &result(4, 0)), // signal fail
        wr(0x0086, &[0x01]),
    ];
    let mut i2c = I2cMock::new(&t);
    let mut rf = Vl53l1xRangeFinder::new("side", Vl53l1x::new(i2c.clone(), A), Settings::default());
    let e = rf.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfRange);
    assert!(e.to_string().contains("too little light"), "{e}");
    assert!(e.device.contains("0x29"), "{}", e.device);
    i2c.done();
}

#[tokio::test(start_paused = true)]
async fn a_sensor_that_never_becomes_ready_times_out() {
    // 50 ms budget: deadline 200 ms, polled every 5 ms → 41 polls, then a timeout.
    let mut t = vec![wr(0x0086, &[0x01]), wr(0x0087, &[0x40])];
    t.extend((0..41).map(|_| rd(0x0031, &[0x00])));
    let mut i2c = I2cMock::new(&t);
    let mut rf = Vl53l1xRangeFinder::new("top", Vl53l1x::new(i2c.clone(), A), Settings::default());
    let e = rf.measure().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    i2c.done();
}
