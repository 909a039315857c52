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
/// threads work on one packet concurrently): the same statistics as [`Summary`], shifted.
pub fn signed_rows(values: &[i64]) -> Option<Vec<(&'static str, f64)>> {
    let min = *values.iter().min()?;
    let shift = if min < 0 { min.unsigned_abs() } else { 0 };
    let s = Summary::of(values.iter().map(|v| (*v as i128 + shift as i128) as u64))?;
    let d = shift as f64;
    Some(
        s.rows()
            .into_iter()
            .map(|(name, v)| match name {
                "count" | "stddev" => (name, v),
                _ => (name, v - d),
            })
            .collect(),
    )
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
        assert!(super::signed_rows(&[]).is_none());
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
