//! How long parcels took, in fixed-size histograms (HdrHistogram, 3 significant digits from
//! 1 µs to 1 hour): a daemon that runs for months keeps the same few kilobytes.

use std::time::Duration;

use hdrhistogram::Histogram;

/// Longest duration recorded exactly; longer ones count as this.
const MAX_US: u64 = 3_600_000_000;

/// One kind of duration.
#[derive(Debug, Clone)]
pub struct Durations(Histogram<u64>);

impl Default for Durations {
    fn default() -> Durations {
        // Invariant: constant bounds that `new_with_bounds` accepts (low >= 1,
        // high >= 2 * low, 3 significant digits).
        #[allow(clippy::expect_used)]
        let h = Histogram::new_with_bounds(1, MAX_US, 3).expect("valid constant bounds");
        Durations(h)
    }
}

impl Durations {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(MAX_US)
            .clamp(1, MAX_US);
        self.0.saturating_record(us);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value at quantile `q` (0..=1), in milliseconds; `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(q) as f64 / 1000.0)
    }
}

/// The station's timings of one run.
#[derive(Debug, Clone, Default)]
pub struct Timing {
    /// From detection to committed.
    pub cycle: Durations,
    /// From detection to a stable weight.
    pub settle: Durations,
    /// Capture and decode of the label.
    pub label: Durations,
    /// Manifest lookup and judging.
    pub judge: Durations,
    /// The SQLite commit.
    pub commit: Durations,
    /// From the stable weight to the verdict committed and shown: what the operator waits.
    pub verdict: Durations,
}

/// The value at quantile `q` of some durations, in milliseconds.
pub fn quantile_ms(d: &Durations, q: f64) -> Option<f64> {
    d.quantile_ms(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_close_and_memory_does_not_grow() {
        let mut d = Durations::default();
        assert_eq!(d.quantile_ms(0.5), None);
        for ms in 1..=1000u64 {
            d.record(Duration::from_millis(ms));
        }
        let median = d.quantile_ms(0.5).unwrap();
        assert!((median - 500.0).abs() <= 1.0, "{median}");
        let p99 = d.quantile_ms(0.99).unwrap();
        assert!((p99 - 990.0).abs() <= 1.0, "{p99}");
        let size = std::mem::size_of_val(&d) + d.0.distinct_values() * 8;
        for _ in 0..100_000 {
            d.record(Duration::from_millis(42));
        }
        assert_eq!(d.len(), 101_000);
        // Recording more values never allocates more buckets.
        assert!(std::mem::size_of_val(&d) + d.0.distinct_values() * 8 <= size + 8 * 1000);
        // Out of range is clamped, not lost.
        d.record(Duration::from_secs(100_000));
        assert_eq!(d.len(), 101_001);
    }
}
