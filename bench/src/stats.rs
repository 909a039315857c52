//! Latency statistics: percentiles from an HDR histogram (3 significant digits, so every
//! percentile is within 0.1 % of the exact order statistic), exact count/min/max/mean/stddev
//! from the raw values.

use hdrhistogram::Histogram;

/// Percentiles reported everywhere, as (statistic name, quantile).
pub const PERCENTILES: [(&str, f64); 6] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
    ("p99.999", 0.99999),
];

/// Summary of a set of non-negative nanosecond values.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub min: u64,
    pub max: u64,
    pub mean: f64,
    /// Population standard deviation.
    pub stddev: f64,
    /// Values of [`PERCENTILES`], in order.
    pub percentiles: [u64; PERCENTILES.len()],
}

impl Summary {
    /// `None` for an empty set.
    pub fn of(values: impl IntoIterator<Item = u64>) -> Option<Summary> {
        // 1 ns .. 1 hour, 3 significant digits; larger values saturate at the top bucket.
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).ok()?;
        let (mut n, mut mean, mut m2) = (0u64, 0f64, 0f64);
        let (mut min, mut max) = (u64::MAX, 0u64);
        for v in values {
            h.saturating_record(v.max(1));
            n += 1;
            // Welford: numerically stable running mean and variance.
            let x = v as f64;
            let d = x - mean;
            mean += d / n as f64;
            m2 += d * (x - mean);
            min = min.min(v);
            max = max.max(v);
        }
        if n == 0 {
            return None;
        }
        let mut percentiles = [0u64; PERCENTILES.len()];
        for (p, (_, q)) in percentiles.iter_mut().zip(PERCENTILES) {
            // Never report a percentile above the true maximum (bucket upper edges can be).
            *p = h.value_at_quantile(q).min(max).max(min);
        }
        Some(Summary {
            count: n,
            min,
            max,
            mean,
            stddev: (m2 / n as f64).sqrt(),
            percentiles,
        })
    }

    /// The named statistics, in report order: count, min, p50 … p99.999, max, mean, stddev.
    pub fn rows(&self) -> Vec<(&'static str, f64)> {
        let mut rows = vec![("count", self.count as f64), ("min", self.min as f64)];
        rows.extend(
            PERCENTILES
                .iter()
                .zip(self.percentiles)
                .map(|((name, _), v)| (*name, v as f64)),
        );
        rows.extend([
            ("max", self.max as f64),
            ("mean", self.mean),
            ("stddev", self.stddev),
        ]);
        rows
    }

    pub fn percentile(&self, name: &str) -> Option<u64> {
        PERCENTILES
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| self.percentiles[i])
    }
}

/// Summary of signed values (e.g. layer-to-layer segments, which can be negative when two
/// threads work on one packet concurrently, or a clock-check delta): the same statistics as
/// [`Summary`], but **exact**: percentiles are order statistics of the sorted values (nearest
/// rank: the smallest value with at least the quantile's fraction of values at or below it,
/// HDR's definition without its bucketing). A histogram of values shifted by the minimum
/// would lose them: one outlier far below the rest (a stamp 243 ms early) widens the shifted
/// range so much that 3 significant digits no longer resolve the rest (seen: a 0.4 µs
/// segment reported as 23 µs). Sorting a run's values costs nothing next to collecting them.
pub fn signed_rows(values: &[i64]) -> Option<Vec<(&'static str, f64)>> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let (mut mean, mut m2) = (0f64, 0f64);
    for (i, v) in sorted.iter().enumerate() {
        let x = *v as f64;
        let d = x - mean;
        mean += d / (i + 1) as f64;
        m2 += d * (x - mean);
    }
    let at = |q: f64| -> f64 {
        let rank = (q * n as f64).ceil() as usize;
        sorted[rank.clamp(1, n) - 1] as f64
    };
    let mut rows = vec![("count", n as f64), ("min", sorted[0] as f64)];
    rows.extend(PERCENTILES.iter().map(|(name, q)| (*name, at(*q))));
    rows.extend([
        ("max", sorted[n - 1] as f64),
        ("mean", mean),
        ("stddev", (m2 / n as f64).sqrt()),
    ]);
    Some(rows)
}

#[cfg(test)]
mod tests {
    #[test]
    fn signed_values_keep_their_sign() {
        let rows: std::collections::HashMap<_, _> = super::signed_rows(&[-5, 0, 5, 10])
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(rows["min"], -5.0);
        assert_eq!(rows["max"], 10.0);
        assert!((rows["mean"] - 2.5).abs() < 1e-9);
        assert_eq!(rows["count"], 4.0);
        assert_eq!(rows["p50"], 0.0, "nearest rank: 2 of 4 values at or below");
        assert_eq!(rows["p90"], 10.0);
        assert!(super::signed_rows(&[]).is_none());
    }

    /// One value far below the rest must not blur the others (a shifted HDR histogram
    /// reported this 400 ns segment as 1.6 µs at every percentile).
    #[test]
    fn a_far_outlier_does_not_blur_the_rest() {
        let mut v: Vec<i64> = (0..9_999).map(|i| 400 + (i % 7)).collect();
        v.push(-243_268_040);
        let rows: std::collections::HashMap<_, _> =
            super::signed_rows(&v).unwrap().into_iter().collect();
        assert_eq!(rows["min"], -243_268_040.0);
        assert_eq!(rows["p50"], 403.0);
        assert_eq!(rows["p99"], 406.0);
        assert_eq!(rows["max"], 406.0);
        let exact_mean = v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64;
        assert!((rows["mean"] - exact_mean).abs() < 1e-6);
    }

    use super::*;

    #[test]
    fn uniform_values() {
        let s = Summary::of(1..=10_000u64).unwrap();
        assert_eq!((s.count, s.min, s.max), (10_000, 1, 10_000));
        assert!((s.mean - 5000.5).abs() < 1e-6);
        assert!((s.stddev - 2886.751).abs() < 0.01);
        let p50 = s.percentile("p50").unwrap() as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.002, "{p50}");
        let p99 = s.percentile("p99").unwrap() as f64;
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.002, "{p99}");
        assert_eq!(s.percentile("p99.999"), Some(10_000));
    }

    #[test]
    fn empty_and_single() {
        assert!(Summary::of(std::iter::empty()).is_none());
        let s = Summary::of([7]).unwrap();
        assert_eq!((s.min, s.max, s.percentile("p99.99")), (7, 7, Some(7)));
        assert_eq!(s.stddev, 0.0);
    }

    #[test]
    fn zero_values_are_counted() {
        let s = Summary::of([0, 0, 10]).unwrap();
        assert_eq!((s.count, s.min, s.max), (3, 0, 10));
    }
}
