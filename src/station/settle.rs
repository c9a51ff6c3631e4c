//! When is a weight stable? Two ways, because shipping scales differ: the scale flags its
//! last `stable_readings` readings stable and they lie within one division; or, for scales
//! that rarely flag stable while streaming, at least `stable_readings` consecutive readings
//! lie within one division over at least `stable_window`. The weight is their median.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use intake_hal::{ScaleStatus, WeightReading};

use super::StationConfig;
use crate::quantity::Mass;

/// Readings kept: enough for a 2 s window at 50 Hz.
const KEEP: usize = 128;

#[derive(Debug, Clone)]
pub struct Settle {
    readings: VecDeque<(Instant, Mass, bool)>,
    n: usize,
    window: Duration,
    division: Mass,
}

impl Settle {
    pub fn new(cfg: &StationConfig) -> Settle {
        Settle {
            readings: VecDeque::with_capacity(KEEP),
            n: cfg.stable_readings.max(2),
            window: cfg.stable_window,
            division: cfg.division,
        }
    }

    pub fn push(&mut self, now: Instant, r: &WeightReading) {
        if r.status != ScaleStatus::Ok {
            // Over capacity, under zero, an error: not a weight to settle on.
            self.readings.clear();
            return;
        }
        if self.readings.len() == KEEP {
            self.readings.pop_front();
        }
        self.readings.push_back((now, r.weight, r.stable));
    }

    /// The stable weight, if the readings so far show one.
    pub fn stable_weight(&self) -> Option<Mass> {
        let last = self.readings.back()?;
        // The longest run of newest readings within one division of each other.
        let (mut lo, mut hi) = (last.1, last.1);
        let mut run = 0;
        for &(_, w, _) in self.readings.iter().rev() {
            let (l, h) = (lo.min(w), hi.max(w));
            if h.micrograms() - l.micrograms() > self.division.micrograms() {
                break;
            }
            (lo, hi) = (l, h);
            run += 1;
        }
        if run < self.n {
            return None;
        }
        let newest = self.readings.iter().rev().take(run);
        let flagged = newest.clone().take(self.n).all(|r| r.2);
        let oldest_in_run = self.readings[self.readings.len() - run].0;
        let span = last.0.saturating_duration_since(oldest_in_run);
        if !(flagged || span >= self.window) {
            return None;
        }
        let mut ws: Vec<Mass> = newest.take(self.n).map(|r| r.1).collect();
        ws.sort_unstable();
        Some(ws[ws.len() / 2])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_hal::WeightKind;
    use intake_hal::quantity::MassUnit;

    fn reading(g: i64, stable: bool) -> WeightReading {
        WeightReading {
            weight: Mass::from_grams(g),
            unit: MassUnit::Gram,
            stable,
            kind: WeightKind::Gross,
            tare: None,
            status: ScaleStatus::Ok,
        }
    }

    fn feed(s: &mut Settle, t0: Instant, ms_step: u64, grams: &[(i64, bool)]) {
        for (i, &(g, st)) in grams.iter().enumerate() {
            s.push(
                t0 + Duration::from_millis(ms_step * i as u64),
                &reading(g, st),
            );
        }
    }

    #[test]
    fn flagged_readings_within_a_division_settle() {
        let mut s = Settle::new(&StationConfig::default());
        let t0 = Instant::now();
        feed(
            &mut s,
            t0,
            100,
            &[
                (900, false),
                (1020, false),
                (1000, true),
                (1005, true),
                (1000, true),
                (1000, true),
            ],
        );
        assert_eq!(s.stable_weight(), None, "only four flagged");
        s.push(t0 + Duration::from_millis(600), &reading(1005, true));
        assert_eq!(s.stable_weight(), Some(Mass::from_grams(1000)));
    }

    #[test]
    fn unflagged_readings_settle_after_the_window() {
        let mut s = Settle::new(&StationConfig::default());
        let t0 = Instant::now();
        feed(
            &mut s,
            t0,
            100,
            &[
                (1000, false),
                (1005, false),
                (1000, false),
                (1005, false),
                (1000, false),
            ],
        );
        assert_eq!(s.stable_weight(), None, "400 ms is under the window");
        feed(
            &mut s,
            t0 + Duration::from_millis(500),
            100,
            &[(1005, false), (1000, false)],
        );
        assert!(s.stable_weight().is_some());
    }

    #[test]
    fn motion_beyond_a_division_never_settles() {
        let mut s = Settle::new(&StationConfig::default());
        let t0 = Instant::now();
        let wobble: Vec<(i64, bool)> = (0..40).map(|i| (1000 + (i % 2) * 10, true)).collect();
        feed(&mut s, t0, 50, &wobble);
        assert_eq!(s.stable_weight(), None);
    }

    #[test]
    fn an_error_status_resets() {
        let mut s = Settle::new(&StationConfig::default());
        let t0 = Instant::now();
        feed(&mut s, t0, 100, &[(1000, true); 5]);
        assert!(s.stable_weight().is_some());
        let mut over = reading(1000, true);
        over.status = ScaleStatus::OverCapacity;
        s.push(t0 + Duration::from_secs(1), &over);
        assert_eq!(s.stable_weight(), None);
    }
}
