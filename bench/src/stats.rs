//! Robust summaries of noisy timing samples (the machines are shared).

/// The interquartile mean: the mean of the middle half of the samples. Ignores the slow tail
/// (interrupts, other tenants) and the rare fast outlier, and unlike the median it resolves
/// below the kernel's 1 ns duration granularity.
pub fn interquartile_mean(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi) = (sorted.len() / 4, sorted.len() - sorted.len() / 4);
    let middle = &sorted[lo..hi.max(lo + 1)];
    middle.iter().sum::<f64>() / middle.len() as f64
}

/// The median.
pub fn median(samples: &[f64]) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) {
        f64::midpoint(sorted[mid - 1], sorted[mid])
    } else {
        sorted[mid]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::float_cmp,
        reason = "the mean of one sample is that sample, exactly"
    )]
    fn interquartile_mean_ignores_the_tails() {
        let samples = [1.0, 10.0, 10.0, 11.0, 11.0, 10.0, 10.0, 1000.0];
        // Sorted 1, 10, 10, 10, 10, 11, 11, 1000: the middle half is 10, 10, 10, 11.
        assert!((interquartile_mean(&samples) - 10.25).abs() < 1e-9);
        assert_eq!(interquartile_mean(&[3.0]), 3.0);
        assert!(interquartile_mean(&[]).is_nan());
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "halves of small integers are exact")]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
