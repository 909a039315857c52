//! Paired percentile bootstrap of a mean difference: the statistics behind every row of
//! overhead.csv. Pure functions, deterministic for a given seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A paired bootstrap interval of a mean difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Point estimate: mean(arm) − mean(off).
    pub delta: f64,
    pub low: f64,
    pub high: f64,
}

/// Arithmetic mean (NaN for an empty slice).
pub(crate) fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Quantile `q` of sorted, non-empty `v`, linear interpolation between order statistics.
pub(crate) fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Paired percentile bootstrap of mean(arm − off): repetition `i` of both arms ran next to
/// each other, so the differences `arm[i] − off[i]` are resampled (with replacement, `n` per
/// resample) and the `confidence` interval is taken from the quantiles of their means.
/// `None` if the slices are empty or of unequal length, or `resamples` is 0.
pub fn bootstrap_paired(
    off: &[f64],
    arm: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Option<Interval> {
    if off.is_empty() || off.len() != arm.len() || resamples == 0 {
        return None;
    }
    let d: Vec<f64> = arm.iter().zip(off).map(|(a, o)| a - o).collect();
    let n = d.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| d[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    Some(Interval {
        delta: mean(&d),
        low: quantile_sorted(&means, alpha),
        high: quantile_sorted(&means, 1.0 - alpha),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::overhead::DEFAULT_SEED;

    #[test]
    fn identical_samples_give_a_zero_width_interval_at_zero() {
        let v = [10_000.0, 12_500.0, 11_000.0, 13_000.0, 9_000.0];
        let ci = bootstrap_paired(&v, &v, 2000, 0.95, 1).unwrap();
        assert_eq!(
            ci,
            Interval {
                delta: 0.0,
                low: 0.0,
                high: 0.0
            }
        );
    }

    #[test]
    fn constant_shift_gives_a_zero_width_interval_at_the_shift() {
        let off = [100.0, 250.0, 175.0, 90.0];
        let on: Vec<f64> = off.iter().map(|x| x + 64.0).collect();
        let ci = bootstrap_paired(&off, &on, 2000, 0.95, 7).unwrap();
        assert_eq!((ci.delta, ci.low, ci.high), (64.0, 64.0, 64.0));
    }

    #[test]
    fn noisy_shift_is_inside_the_interval() {
        // off ~ 20 µs ± 2 µs, on = off' + 3 µs with its own noise, 10 repetitions.
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let off: Vec<f64> = (0..10)
            .map(|_| 20_000.0 + rng.gen_range(-2000.0..2000.0))
            .collect();
        let on: Vec<f64> = off
            .iter()
            .map(|x| x + 3_000.0 + rng.gen_range(-300.0..300.0))
            .collect();
        let ci = bootstrap_paired(&off, &on, 2000, 0.95, DEFAULT_SEED).unwrap();
        assert!(ci.low <= ci.delta && ci.delta <= ci.high, "{ci:?}");
        assert!(ci.low < 3_000.0 && 3_000.0 < ci.high, "{ci:?}");
        assert!(
            ci.high - ci.low < 600.0,
            "paired: the drift cancels, {ci:?}"
        );
        assert!(ci.low > 0.0, "clearly positive: {ci:?}");
    }

    #[test]
    fn known_mean_is_covered_for_many_seeds() {
        // Differences symmetric around a known mean of 500: the 95 % interval holds it for
        // (nearly) every seed, and its point estimate is exactly the sample mean.
        let off = vec![0.0; 12];
        let on: Vec<f64> = (0..12).map(|i| 500.0 + (i as f64 - 5.5) * 40.0).collect();
        let covered = (0..50u64)
            .filter(|&seed| {
                let ci = bootstrap_paired(&off, &on, 1000, 0.95, seed).unwrap();
                assert!((ci.delta - 500.0).abs() < 1e-9, "{ci:?}");
                assert!(ci.low <= ci.high, "{ci:?}");
                ci.low <= 500.0 && 500.0 <= ci.high
            })
            .count();
        assert_eq!(covered, 50);
    }

    #[test]
    fn higher_confidence_gives_a_wider_interval() {
        let off = [10.0, 12.0, 9.0, 14.0, 11.0, 13.0];
        let on = [15.0, 13.0, 16.0, 21.0, 12.0, 19.0];
        let narrow = bootstrap_paired(&off, &on, 2000, 0.5, 9).unwrap();
        let wide = bootstrap_paired(&off, &on, 2000, 0.99, 9).unwrap();
        assert_eq!(narrow.delta, wide.delta);
        assert!(wide.low <= narrow.low && narrow.high <= wide.high);
        assert!(wide.high - wide.low > narrow.high - narrow.low);
    }

    #[test]
    fn bootstrap_is_deterministic_and_checks_its_input() {
        let off = [1.0, 5.0, 2.0];
        let on = [2.0, 4.0, 9.0];
        let a = bootstrap_paired(&off, &on, 500, 0.95, 3).unwrap();
        assert_eq!(a, bootstrap_paired(&off, &on, 500, 0.95, 3).unwrap());
        assert!((a.delta - 7.0 / 3.0).abs() < 1e-12);
        assert!(a.low >= -1.0 && a.high <= 7.0, "{a:?}");
        assert_ne!(
            a,
            bootstrap_paired(&off, &on, 500, 0.95, 4).unwrap(),
            "another seed, other resamples"
        );
        assert!(bootstrap_paired(&[], &[], 10, 0.95, 0).is_none());
        assert!(bootstrap_paired(&[1.0], &[1.0, 2.0], 10, 0.95, 0).is_none());
        assert!(bootstrap_paired(&off, &on, 0, 0.95, 0).is_none());
    }

    #[test]
    fn degenerate_inputs() {
        // One pair: every resample is that pair.
        let ci = bootstrap_paired(&[3.0], &[10.0], 100, 0.95, 1).unwrap();
        assert_eq!((ci.delta, ci.low, ci.high), (7.0, 7.0, 7.0));
        // One resample: both bounds are its mean.
        let ci = bootstrap_paired(&[0.0, 0.0], &[1.0, 3.0], 1, 0.95, 1).unwrap();
        assert_eq!(ci.low, ci.high);
        assert!([1.0, 2.0, 3.0].contains(&ci.low), "{ci:?}");
        // Confidence outside [0, 1] is clamped to the extreme resamples, not a panic.
        let ci = bootstrap_paired(&[0.0, 0.0], &[1.0, 3.0], 200, 1.5, 1).unwrap();
        assert!(ci.low <= ci.high);
        assert!(ci.low >= 1.0 && ci.high <= 3.0, "{ci:?}");
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(quantile_sorted(&v, 0.0), 0.0);
        assert_eq!(quantile_sorted(&v, 0.5), 20.0);
        assert_eq!(quantile_sorted(&v, 0.125), 5.0);
        assert_eq!(quantile_sorted(&v, 1.0), 40.0);
        assert_eq!(quantile_sorted(&v, -1.0), 0.0, "clamped");
        assert_eq!(quantile_sorted(&v, 2.0), 40.0, "clamped");
        assert_eq!(quantile_sorted(&[7.0], 0.3), 7.0);
    }

    #[test]
    fn mean_of_a_sample() {
        assert_eq!(mean(&[1.0, 2.0, 6.0]), 3.0);
        assert!(mean(&[]).is_nan());
    }
}
