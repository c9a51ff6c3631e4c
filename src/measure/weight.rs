//! Stable-weight detection: the scale's own flag and a software check over a window, and
//! zero tracking. Pure: readings and the time they arrived are passed in.
//!
//! # The rule
//!
//! Readings are kept in arrival order. A run of readings *agrees* when every reading in it
//! is within one division of the run's median weight (`|w − median| ≤ division`), all in the
//! same unit, none reporting a condition (over capacity, under zero, …). The *covering run*
//! for a window `W` is the shortest run of the latest readings whose oldest arrived at
//! least `W` before the newest.
//!
//! The weight is stable, and its value is the median of the run, when either holds:
//!
//! 1. **flagged**: the newest reading carries the scale's stable flag, and the covering run
//!    for `window` has at least `readings` readings and agrees; or
//! 2. **unflagged**: the covering run for `unflagged_window` has at least
//!    `unflagged_readings` readings and agrees, whatever the flags say.
//!
//! Path 1 is fast for scales whose flag is honest, and still refuses a scale that flags
//! stable while the weight visibly moves. Path 2 exists because many shipping scales rarely
//! or never flag a streamed reading stable (MT-SICS `SIR` on a BC60, for one); it asks for
//! more readings over a longer time instead. A reading with a condition, or in another unit,
//! starts the history afresh.
//!
//! # Zero tracking
//!
//! Before a parcel starts, the empty platform's stable weight must be within `tolerance` of
//! zero. [`ZeroRule::check`] says [`Platform::Empty`] (start), [`Platform::Loaded`] (at or
//! above `min_parcel`: something is on it) or refuses with [`OffZero`], whose message tells
//! the operator to empty the platform and re-zero the scale.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use intake_hal::device::{ScaleStatus, WeightReading};
use intake_hal::quantity::{Mass, MassUnit};

/// The most readings kept, whatever the rate.
const MAX_HISTORY: usize = 1024;

/// How many readings, over how long, must agree, and within what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StableRule {
    /// One scale division (the display's step).
    pub division: Mass,
    /// Readings that must agree when the scale flags stable…
    pub readings: usize,
    /// …spanning at least this long.
    pub window: Duration,
    /// Readings that must agree when the scale does not flag stable…
    pub unflagged_readings: usize,
    /// …spanning at least this long.
    pub unflagged_window: Duration,
}

impl Default for StableRule {
    /// A 150 lb × 0.05 lb shipping scale streaming about ten readings a second.
    fn default() -> StableRule {
        StableRule {
            division: Mass::from_decimal(5, 2, MassUnit::Pound).unwrap_or(Mass::ZERO),
            readings: 3,
            window: Duration::from_millis(300),
            unflagged_readings: 6,
            unflagged_window: Duration::from_millis(800),
        }
    }
}

/// Which path found the weight stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StableBy {
    /// The scale's flag, confirmed by the readings.
    ScaleFlag,
    /// The readings alone, over the longer window.
    Readings,
}

/// A stable weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stable {
    /// The median of the agreeing readings.
    pub weight: Mass,
    pub unit: MassUnit,
    pub by: StableBy,
    /// How many readings agreed.
    pub readings: usize,
}

/// Watches readings and says when the weight is stable.
#[derive(Debug, Clone)]
pub struct StableDetector {
    rule: StableRule,
    history: VecDeque<(Instant, WeightReading)>,
}

impl StableDetector {
    pub fn new(rule: StableRule) -> StableDetector {
        StableDetector {
            rule,
            history: VecDeque::new(),
        }
    }

    /// Forgets every reading (a new parcel, a reconnected scale).
    pub fn reset(&mut self) {
        self.history.clear();
    }

    /// Adds a reading that arrived at `now`; returns the stable weight if there is one now.
    pub fn push(&mut self, now: Instant, reading: &WeightReading) -> Option<Stable> {
        let breaks = reading.status != ScaleStatus::Ok
            || self
                .history
                .back()
                .is_some_and(|(t, r)| r.unit != reading.unit || now < *t);
        if breaks {
            self.history.clear();
        }
        if reading.status != ScaleStatus::Ok {
            return None;
        }
        self.history.push_back((now, *reading));
        // Keep only what the longest window needs (plus the reading that covers it).
        let keep = self.rule.window.max(self.rule.unflagged_window);
        while self.history.len() > 1
            && self
                .history
                .get(1)
                .is_some_and(|(t, _)| now.duration_since(*t) >= keep)
        {
            self.history.pop_front();
        }
        while self.history.len() > MAX_HISTORY {
            self.history.pop_front();
        }
        if reading.stable
            && let Some((weight, n)) = self.agreeing(now, self.rule.window, self.rule.readings)
        {
            return Some(Stable {
                weight,
                unit: reading.unit,
                by: StableBy::ScaleFlag,
                readings: n,
            });
        }
        self.agreeing(
            now,
            self.rule.unflagged_window,
            self.rule.unflagged_readings,
        )
        .map(|(weight, n)| Stable {
            weight,
            unit: reading.unit,
            by: StableBy::Readings,
            readings: n,
        })
    }

    /// The median of the covering run for `window`, if it has `min` readings that agree.
    fn agreeing(&self, now: Instant, window: Duration, min: usize) -> Option<(Mass, usize)> {
        let start = self
            .history
            .iter()
            .rposition(|(t, _)| now.duration_since(*t) >= window)?;
        let run: Vec<i64> = self
            .history
            .iter()
            .skip(start)
            .map(|(_, r)| r.weight.micrograms())
            .collect();
        if run.len() < min.max(1) {
            return None;
        }
        let mut sorted = run.clone();
        sorted.sort_unstable();
        let median = sorted[(sorted.len() - 1) / 2];
        let div = self.rule.division.micrograms();
        run.iter()
            .all(|w| (w - median).abs() <= div)
            .then_some((Mass::from_micrograms(median), run.len()))
    }
}

/// How far from zero an empty platform may read, and what counts as a parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeroRule {
    /// An empty platform within ± this of zero is fine.
    pub tolerance: Mass,
    /// A stable weight at or above this is a parcel on the platform.
    pub min_parcel: Mass,
}

impl Default for ZeroRule {
    fn default() -> ZeroRule {
        ZeroRule {
            tolerance: Mass::from_decimal(10, 2, MassUnit::Pound).unwrap_or(Mass::ZERO),
            min_parcel: Mass::from_decimal(25, 2, MassUnit::Pound).unwrap_or(Mass::ZERO),
        }
    }
}

/// What a stable weight says about the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Empty and at zero: a parcel may start.
    Empty,
    /// Something is on it.
    Loaded(Mass),
}

/// The empty scale is off zero: the operator must re-zero before the next parcel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the empty scale reads {reading} ({} lb from zero, more than the {} lb allowed); empty the platform and re-zero the scale",
    lb2(*off),
    lb2(*tolerance)
)]
pub struct OffZero {
    /// The reading, signed, in micrograms (may be below zero).
    pub reading: SignedMass,
    pub off: Mass,
    pub tolerance: Mass,
}

/// A mass that may be negative, shown in pounds with its sign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedMass(pub Mass);

impl std::fmt::Display for SignedMass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} lb", self.0.lb())
    }
}

fn lb2(m: Mass) -> String {
    format!("{:.2}", m.lb())
}

impl ZeroRule {
    /// Judges a stable weight of the platform before a parcel.
    pub fn check(&self, stable: Mass) -> Result<Platform, OffZero> {
        if stable >= self.min_parcel {
            return Ok(Platform::Loaded(stable));
        }
        let off = stable.abs_diff(Mass::ZERO);
        if off > self.tolerance {
            return Err(OffZero {
                reading: SignedMass(stable),
                off,
                tolerance: self.tolerance,
            });
        }
        Ok(Platform::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_hal::device::WeightKind;

    fn lb(hundredths: i64) -> Mass {
        Mass::from_decimal(hundredths, 2, MassUnit::Pound).unwrap()
    }

    fn r(hundredths: i64, stable: bool) -> WeightReading {
        WeightReading {
            weight: lb(hundredths),
            unit: MassUnit::Pound,
            stable,
            kind: WeightKind::Gross,
            tare: None,
            status: ScaleStatus::Ok,
        }
    }

    fn rule() -> StableRule {
        StableRule {
            division: lb(5),
            readings: 3,
            window: Duration::from_millis(300),
            unflagged_readings: 6,
            unflagged_window: Duration::from_millis(800),
        }
    }

    /// Feeds readings 100 ms apart; returns the first stable result and its index.
    fn feed(readings: &[WeightReading]) -> Option<(usize, Stable)> {
        let mut d = StableDetector::new(rule());
        let t0 = Instant::now();
        readings.iter().enumerate().find_map(|(i, x)| {
            d.push(t0 + Duration::from_millis(100 * i as u64), x)
                .map(|s| (i, s))
        })
    }

    #[test]
    fn an_honest_flag_settles_after_the_short_window() {
        let rs = [
            r(1000, false),
            r(1210, false),
            r(1200, true),
            r(1205, true),
            r(1200, true),
            r(1200, true),
        ];
        let (i, s) = feed(&rs).unwrap();
        // At index 4 the run 1..=4 spans 300 ms but 12.10 is 0.10 lb from the median 12.00;
        // at index 5 the run 2..=5 agrees.
        assert_eq!(i, 5);
        assert_eq!(
            (s.weight, s.by, s.readings),
            (lb(1200), StableBy::ScaleFlag, 4)
        );
    }

    #[test]
    fn a_flag_while_the_weight_moves_is_not_believed() {
        let rs = [r(1000, true), r(1100, true), r(1200, true), r(1300, true)];
        assert_eq!(feed(&rs), None);
    }

    #[test]
    fn a_scale_that_never_flags_settles_on_the_longer_window() {
        let mut rs = vec![r(0, false), r(3000, false)];
        rs.extend((0..12).map(|i| r(3000 + [0, 5, -5][i % 3], false)));
        let (i, s) = feed(&rs).unwrap();
        // Index 1 is the first 30.00; eight readings later the run covers 800 ms.
        assert_eq!(i, 9);
        assert_eq!(
            (s.weight, s.by, s.readings),
            (lb(3000), StableBy::Readings, 9)
        );
    }

    #[test]
    fn two_divisions_apart_is_not_stable_and_a_condition_restarts() {
        let rs: Vec<_> = (0..20)
            .map(|i| r(3000 + if i % 2 == 0 { 0 } else { 11 }, true))
            .collect();
        assert_eq!(feed(&rs), None);
        let mut d = StableDetector::new(rule());
        let t0 = Instant::now();
        for i in 0..4 {
            d.push(t0 + Duration::from_millis(100 * i), &r(500, true));
        }
        let over = WeightReading {
            status: ScaleStatus::OverCapacity,
            ..r(500, true)
        };
        assert_eq!(d.push(t0 + Duration::from_millis(400), &over), None);
        // History starts again: one more reading is not enough.
        assert_eq!(d.push(t0 + Duration::from_millis(500), &r(500, true)), None);
    }

    #[test]
    fn a_unit_change_restarts() {
        let mut d = StableDetector::new(rule());
        let t0 = Instant::now();
        for i in 0..3 {
            d.push(t0 + Duration::from_millis(100 * i), &r(500, true));
        }
        let kg = WeightReading {
            unit: MassUnit::Kilogram,
            ..r(500, true)
        };
        assert_eq!(d.push(t0 + Duration::from_millis(300), &kg), None);
    }

    #[test]
    fn readings_faster_than_the_window_need_the_full_window() {
        let mut d = StableDetector::new(rule());
        let t0 = Instant::now();
        // Twenty readings in 190 ms: enough readings, not enough time.
        for i in 0..20 {
            assert_eq!(
                d.push(t0 + Duration::from_millis(10 * i), &r(700, true)),
                None
            );
        }
        assert!(
            d.push(t0 + Duration::from_millis(300), &r(700, true))
                .is_some()
        );
    }

    #[test]
    fn zero_tracking() {
        let z = ZeroRule {
            tolerance: lb(10),
            min_parcel: lb(25),
        };
        assert_eq!(z.check(Mass::ZERO), Ok(Platform::Empty));
        assert_eq!(z.check(lb(10)), Ok(Platform::Empty));
        assert_eq!(z.check(lb(-10)), Ok(Platform::Empty));
        assert_eq!(z.check(lb(25)), Ok(Platform::Loaded(lb(25))));
        let e = z.check(lb(15)).unwrap_err();
        assert_eq!(e.off, lb(15));
        assert!(e.to_string().contains("re-zero"), "{e}");
        let below = z.check(lb(-20)).unwrap_err();
        assert_eq!(below.off, lb(20));
        assert!(
            below
                .to_string()
                .starts_with("the empty scale reads -0.20 lb"),
            "{below}"
        );
    }
}
