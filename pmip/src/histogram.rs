//! [`Histogram`]: a latency distribution for `/metrics`, in fixed buckets of seconds (from
//! half a millisecond, for a store write or a MAAR on the same link as its CMD, to ten seconds,
//! beyond which signaling has given up).

use std::time::Duration;

/// The buckets' upper bounds, in seconds; one more bucket holds everything above.
pub const BOUNDS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Observations by bucket, their number and their sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    /// Per bucket (not cumulative), the last one above every bound.
    counts: [u64; BOUNDS_S.len() + 1],
    sum_ns: u128,
    count: u64,
}

impl Histogram {
    pub fn observe(&mut self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = BOUNDS_S
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BOUNDS_S.len());
        self.counts[bucket] += 1;
        self.sum_ns += duration.as_nanos();
        self.count += 1;
    }

    /// Every bucket's upper bound (the last one infinite) and its own count, not cumulative.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        BOUNDS_S
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.counts)
            .collect()
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The sum of the observations, in seconds.
    #[expect(
        clippy::cast_precision_loss,
        reason = "a sum of nanoseconds shown in seconds: 2^52 ns is 52 days"
    )]
    pub fn sum_seconds(&self) -> f64 {
        self.sum_ns as f64 / 1e9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let mut h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_micros(501));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(11));
        let buckets = h.buckets();
        assert_eq!(buckets.len(), 15);
        assert_eq!(buckets[0], (0.0005, 1), "500 us is at most 0.5 ms");
        assert_eq!(buckets[1], (0.001, 1));
        assert_eq!(buckets[6], (0.05, 1), "30 ms is in (25, 50] ms");
        assert_eq!(buckets[14].1, 1, "11 s is above every bound");
        assert!(buckets[14].0.is_infinite());
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 4);
        assert_eq!(h.count(), 4);
        assert!((h.sum_seconds() - 11.031_001).abs() < 1e-9);
    }
}
