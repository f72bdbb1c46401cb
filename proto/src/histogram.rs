//! The latency/distribution histogram shared by agent and server.
//!
//! Log-scale buckets: a value `v > MIN_TRACKED` lands in bucket `ceil(log_GAMMA(v / MIN_TRACKED))`,
//! so every bucket spans a ratio of `GAMMA` and a quantile read back from it is within
//! about 2 % of the true value. Buckets are sparse (only used ones are stored) and merge
//! by adding counts, which is what lets the server combine minutes, hosts and payloads.

use crate::v1::Histogram;

/// Ratio between a bucket's upper and lower bound.
pub const GAMMA: f64 = 1.04;
/// Values at or below this go to `zero_count` (for durations in ms: one microsecond).
pub const MIN_TRACKED: f64 = 0.001;

pub fn bucket_index(value: f64) -> Option<i32> {
    if value.is_nan() || value <= MIN_TRACKED || value.is_infinite() {
        return None;
    }
    Some(((value / MIN_TRACKED).ln() / GAMMA.ln()).ceil() as i32)
}

/// The value a bucket stands for when reading quantiles: its geometric middle.
pub fn bucket_value(index: i32) -> f64 {
    MIN_TRACKED * GAMMA.powf(index as f64 - 0.5)
}

pub fn record(histogram: &mut Histogram, value: f64) {
    record_n(histogram, value, 1);
}

pub fn record_n(histogram: &mut Histogram, value: f64, count: u64) {
    match bucket_index(value) {
        Some(index) => *histogram.buckets.entry(index).or_insert(0) += count,
        None => histogram.zero_count += count,
    }
}

pub fn merge(into: &mut Histogram, other: &Histogram) {
    into.zero_count += other.zero_count;
    for (index, count) in &other.buckets {
        *into.buckets.entry(*index).or_insert(0) += count;
    }
}

pub fn total_count(histogram: &Histogram) -> u64 {
    histogram.zero_count + histogram.buckets.values().sum::<u64>()
}

/// The value below which a fraction `q` (0.0..=1.0) of the recorded values fall.
/// `None` for an empty histogram.
pub fn quantile(histogram: &Histogram, q: f64) -> Option<f64> {
    let total = total_count(histogram);
    if total == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
    let mut seen = histogram.zero_count;
    if seen >= rank {
        return Some(0.0);
    }
    // Buckets are a BTreeMap (see the drift test's btree_map option): ascending order.
    for (index, count) in &histogram.buckets {
        seen += count;
        if seen >= rank {
            return Some(bucket_value(*index));
        }
    }
    histogram
        .buckets
        .keys()
        .next_back()
        .map(|i| bucket_value(*i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_two_percent() {
        let mut h = Histogram::default();
        for ms in 1..=1000 {
            record(&mut h, ms as f64);
        }
        for (q, expected) in [(0.5, 500.0), (0.9, 900.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = quantile(&h, q).unwrap();
            assert!(
                (got - expected).abs() / expected < 0.025,
                "q{q}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn merging_equals_recording_everything_in_one() {
        let (mut a, mut b, mut both) = (
            Histogram::default(),
            Histogram::default(),
            Histogram::default(),
        );
        for v in [0.0, 0.5, 3.0, 250.0] {
            record(&mut a, v);
            record(&mut both, v);
        }
        for v in [7.0, 7.0, 10_000.0] {
            record(&mut b, v);
            record(&mut both, v);
        }
        merge(&mut a, &b);
        assert_eq!(a, both);
        assert_eq!(total_count(&a), 7);
    }

    #[test]
    fn empty_histogram_has_no_quantile_and_tiny_values_count_as_zero() {
        let mut h = Histogram::default();
        assert_eq!(quantile(&h, 0.5), None);
        record(&mut h, -3.0);
        record(&mut h, f64::NAN);
        assert_eq!(h.zero_count, 2);
        assert_eq!(quantile(&h, 0.99), Some(0.0));
    }
}
