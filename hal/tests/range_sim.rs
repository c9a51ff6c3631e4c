//! Simulated range finders driven by the simulated dock's parcel channel.

use intake_hal::quantity::Length;
use intake_hal::range::Axis;
use intake_hal::range::sim::{SimBox, SimFault, SimRangeFinder};
use intake_hal::{ErrorKind, RangeFinder};
use tokio::sync::watch;

fn l(s: &str) -> Length {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[tokio::test]
async fn distance_is_mounting_less_extent_within_the_noise() {
    let (tx, rx) = watch::channel(None);
    let mut top = SimRangeFinder::new("top", Axis::Z, l("80 cm"), rx.clone(), 7);
    let mut side = SimRangeFinder::new("side", Axis::Y, l("60 cm"), rx, 8);
    let empty = top.measure().await.unwrap();
    assert!(empty.micrometres().abs_diff(800_000) <= 1_000, "{empty:?}");
    tx.send(Some(SimBox::new(l("40 cm"), l("30 cm"), l("25 cm"))))
        .unwrap();
    for _ in 0..50 {
        let d = top.measure().await.unwrap();
        assert!(d.micrometres().abs_diff(550_000) <= 1_000, "{d:?}");
        let d = side.measure().await.unwrap();
        assert!(d.micrometres().abs_diff(300_000) <= 1_000, "{d:?}");
    }
}

#[tokio::test]
async fn the_same_seed_gives_the_same_readings() {
    let (_tx, rx) = watch::channel(Some(SimBox::new(l("1 m"), l("50 cm"), l("10 cm"))));
    let mut a = SimRangeFinder::new("a", Axis::X, l("1.5 m"), rx.clone(), 42);
    let mut b = SimRangeFinder::new("b", Axis::X, l("1.5 m"), rx.clone(), 42);
    let mut c = SimRangeFinder::new("c", Axis::X, l("1.5 m"), rx, 43);
    let (mut ra, mut rb, mut rc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..10 {
        ra.push(a.measure().await.unwrap());
        rb.push(b.measure().await.unwrap());
        rc.push(c.measure().await.unwrap());
    }
    assert_eq!(ra, rb);
    assert_ne!(ra, rc);
}

#[tokio::test]
async fn injected_faults() {
    let (_tx, rx) = watch::channel(None);
    let mut s = SimRangeFinder::new("top", Axis::Z, l("80 cm"), rx, 1);
    let switch = s.fault_switch();
    switch.set(Some(SimFault::HandInBeam));
    let a = s.measure().await.unwrap();
    let b = s.measure().await.unwrap();
    assert!(a < l("31 cm") && b < l("31 cm") && a != b, "{a:?} {b:?}");
    switch.set(Some(SimFault::OutOfRange));
    assert_eq!(s.measure().await.unwrap_err().kind(), ErrorKind::OutOfRange);
    switch.set(Some(SimFault::Disconnected));
    assert_eq!(
        s.measure().await.unwrap_err().kind(),
        ErrorKind::Disconnected
    );
    switch.set(None);
    assert!(s.measure().await.unwrap() > l("79 cm"));
}

#[tokio::test]
async fn a_parcel_touching_the_sensor_is_out_of_range() {
    let (_tx, rx) = watch::channel(Some(SimBox::new(l("10 cm"), l("10 cm"), l("79.5 cm"))));
    let mut s = SimRangeFinder::new("top", Axis::Z, l("80 cm"), rx, 1);
    assert_eq!(s.measure().await.unwrap_err().kind(), ErrorKind::OutOfRange);
}
