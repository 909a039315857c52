//! Is a run's number trustworthy? Detects what could not be controlled: a distribution with
//! two separated modes, a timed thread that migrated, a timed CPU that entered an idle state
//! deeper than polling — and, across repetitions, medians that disagree.

use serde::{Deserialize, Serialize};

/// Two modes each holding at least this fraction of the samples make a run multimodal.
pub const MODE_MIN_FRACTION: f64 = 0.05;
/// Repetitions disagree when max/min of their p50 exceeds this.
pub const REPETITION_MAX_RATIO: f64 = 1.25;

/// Two separated modes of a latency distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Modes {
    /// Centre of the lower mode, ns.
    pub low_ns: f64,
    /// Centre of the upper mode, ns.
    pub high_ns: f64,
    /// Fraction of samples in the upper mode (above the valley).
    pub high_fraction: f64,
}

/// Bins per octave of the log-scale histogram (each bin ≈ 9 % wide).
const BINS_PER_OCTAVE: f64 = 8.0;

/// Finds two separated modes in `samples` (ns), each holding ≥ 5 % of them.
///
/// Method: a histogram on a log scale (8 bins per octave), smoothed over 3 bins; the two
/// highest local maxima of the smoothed density with at least [`MODE_MIN_FRACTION`] of the
/// samples on each side of the lowest point between them, the peaks at least 1.5× apart, and
/// that valley below a quarter of the lower peak. A long tail is not a mode (it has no second
/// peak); a shoulder less than 1.5× away is the same mode.
pub fn find_modes(samples: &[u64]) -> Option<Modes> {
    let pos: Vec<f64> = samples
        .iter()
        .filter(|&&v| v > 0)
        .map(|&v| (v as f64).log2())
        .collect();
    if pos.len() < 40 {
        return None;
    }
    let lo = pos.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = pos.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let nbins = (((hi - lo) * BINS_PER_OCTAVE).floor() as usize + 1).min(4096);
    if nbins < 3 {
        return None;
    }
    let mut hist = vec![0f64; nbins];
    for v in &pos {
        let i = (((v - lo) * BINS_PER_OCTAVE) as usize).min(nbins - 1);
        hist[i] += 1.0;
    }
    let smooth: Vec<f64> = (0..nbins)
        .map(|i| {
            let a = if i > 0 { hist[i - 1] } else { 0.0 };
            let c = if i + 1 < nbins { hist[i + 1] } else { 0.0 };
            (a + 2.0 * hist[i] + c) / 4.0
        })
        .collect();
    // Local maxima (plateaus count once, at their first bin).
    let peaks: Vec<usize> = (0..nbins)
        .filter(|&i| {
            let left = if i > 0 { smooth[i - 1] } else { 0.0 };
            let right = if i + 1 < nbins { smooth[i + 1] } else { 0.0 };
            smooth[i] > 0.0 && smooth[i] > left && smooth[i] >= right
        })
        .collect();
    let n = pos.len() as f64;
    let centre = |i: usize| 2f64.powf(lo + (i as f64 + 0.5) / BINS_PER_OCTAVE);
    let mut best: Option<(f64, Modes)> = None;
    for (ai, &a) in peaks.iter().enumerate() {
        for &b in &peaks[ai + 1..] {
            if (b - a) as f64 / BINS_PER_OCTAVE < 1.5f64.log2() {
                continue;
            }
            let (valley, vmin) =
                (a..=b)
                    .map(|i| (i, smooth[i]))
                    .fold(
                        (a, f64::INFINITY),
                        |acc, x| if x.1 < acc.1 { x } else { acc },
                    );
            if vmin > 0.25 * smooth[a].min(smooth[b]) {
                continue;
            }
            let below: f64 = hist[..=valley].iter().sum();
            let (fl, fh) = (below / n, 1.0 - below / n);
            if fl < MODE_MIN_FRACTION || fh < MODE_MIN_FRACTION {
                continue;
            }
            let score = smooth[a].min(smooth[b]);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((
                    score,
                    Modes {
                        low_ns: centre(a),
                        high_ns: centre(b),
                        high_fraction: fh,
                    },
                ));
            }
        }
    }
    best.map(|(_, m)| m)
}

/// One reason a run's result may not be what the transport path costs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityFlag {
    /// The latency distribution has two separated modes holding ≥ 5 % each.
    Multimodal,
    /// A timed thread moved to another CPU during the run.
    Migrated,
    /// A timed CPU entered an idle state deeper than polling.
    DeepIdle,
    /// The hypervisor took the timed CPUs away for more than 1 % of the run (steal time).
    Steal,
}

impl QualityFlag {
    pub fn name(&self) -> &'static str {
        match self {
            QualityFlag::Multimodal => "multimodal",
            QualityFlag::Migrated => "migrated",
            QualityFlag::DeepIdle => "deep_idle",
            QualityFlag::Steal => "steal",
        }
    }
}

/// The `quality` column: `ok`, or the flags joined by `+`.
pub fn quality_label(flags: &[QualityFlag]) -> String {
    if flags.is_empty() {
        "ok".into()
    } else {
        flags.iter().map(|f| f.name()).collect::<Vec<_>>().join("+")
    }
}

/// Repetitions of one configuration whose p50 disagree, with the likely cause.
#[derive(Clone, Debug, PartialEq)]
pub struct Disagreement {
    /// max/min of the repetitions' p50.
    pub ratio: f64,
    pub min_p50_ns: f64,
    pub max_p50_ns: f64,
    pub likely_cause: String,
}

/// One repetition of a configuration, as recorded in summary.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct Repetition {
    /// Median latency, ns.
    pub p50_ns: f64,
    /// The run's `quality` label.
    pub quality: String,
    /// Its placement name.
    pub placement: String,
    /// CPU time (user + system) of both timed threads per message, ns, when recorded.
    pub cpu_per_message_ns: Option<f64>,
}

/// What the repetitions of one configuration tell: disagreement (max/min of p50 above
/// [`REPETITION_MAX_RATIO`]) with the likely cause, read from the recorded conditions.
pub fn check_repetitions(reps: &[Repetition]) -> Option<Disagreement> {
    let valid: Vec<&Repetition> = reps.iter().filter(|r| r.p50_ns > 0.0).collect();
    if valid.len() < 2 {
        return None;
    }
    let fastest = valid.iter().min_by(|a, b| a.p50_ns.total_cmp(&b.p50_ns))?;
    let slowest = valid.iter().max_by(|a, b| a.p50_ns.total_cmp(&b.p50_ns))?;
    let (min, max) = (fastest.p50_ns, slowest.p50_ns);
    let ratio = max / min;
    if ratio <= REPETITION_MAX_RATIO {
        return None;
    }
    let has = |flag: &str| reps.iter().any(|r| r.quality.split('+').any(|f| f == flag));
    // The same work took more CPU time in the slow repetition: the machine itself was slower.
    let cpu_ratio = fastest
        .cpu_per_message_ns
        .zip(slowest.cpu_per_message_ns)
        .filter(|(f, _)| *f > 0.0)
        .map(|(f, s)| s / f);
    let likely_cause = if reps.iter().any(|r| r.placement == "none") {
        "threads not pinned (placement none): the scheduler put the two sides on the same CPU in some repetitions and on different CPUs in others; use --placement cross-cpu or same-cpu".to_owned()
    } else if has("steal") {
        "the hypervisor ran other guests on the timed vCPUs (steal time above 1 % in some repetitions): measure on a quieter host or dedicated CPUs".to_owned()
    } else if has("deep_idle") {
        "timed CPUs entered deep idle states: waking them costs tens of µs; hold PM QoS (the default --idle-latency-us 0) and check `uadpbench doctor`".to_owned()
    } else if has("migrated") {
        "a timed thread migrated between CPUs: pin it (--placement) or isolate CPUs".to_owned()
    } else if let Some(c) = cpu_ratio.filter(|c| *c - 1.0 >= 0.5 * (ratio - 1.0)) {
        format!(
            "the machine itself was slower in the slow repetition: the same messages took ×{c:.2} the CPU time (threads pinned, CPUs polling) — contention on the host (other VMs, shared caches, frequency), not the transport; interleave and compare medians of repetitions"
        )
    } else if has("multimodal") {
        "bimodal repetitions with pinned threads and polling idle: other load on the timed CPUs (interrupts, other processes, the hypervisor); run on a quiet or isolated CPU".to_owned()
    } else {
        "no recorded condition explains it: other load on the machine (or the hypervisor) during some repetitions; interleave and repeat".to_owned()
    };
    Some(Disagreement {
        ratio,
        min_p50_ns: min,
        max_p50_ns: max,
        likely_cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Log-normal-ish samples around `centre` ns (±~10 %).
    fn cluster(rng: &mut rand_chacha::ChaCha8Rng, centre: f64, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let z: f64 = (0..6).map(|_| rng.gen::<f64>()).sum::<f64>() - 3.0;
                (centre * (z * 0.08).exp()) as u64
            })
            .collect()
    }

    fn rng() -> rand_chacha::ChaCha8Rng {
        rand_chacha::ChaCha8Rng::seed_from_u64(7)
    }

    #[test]
    fn unimodal_is_not_flagged() {
        let mut r = rng();
        assert_eq!(find_modes(&cluster(&mut r, 3_200.0, 5_000)), None);
    }

    #[test]
    fn unimodal_with_a_long_tail_is_not_flagged() {
        let mut r = rng();
        let mut s = cluster(&mut r, 3_200.0, 5_000);
        // A Pareto tail (6 % of the samples, up to ~180 µs): it thins out, no second peak.
        s.extend((0..300).map(|i| {
            let u = i as f64 / 300.0;
            (4_000.0 / (1.0 - u).powf(1.0 / 1.5)) as u64
        }));
        assert_eq!(find_modes(&s), None);
    }

    #[test]
    fn two_worlds_are_flagged() {
        let mut r = rng();
        let mut s = cluster(&mut r, 3_200.0, 4_000);
        s.extend(cluster(&mut r, 72_000.0, 1_000));
        let m = find_modes(&s).expect("bimodal");
        assert!((2_800.0..3_700.0).contains(&m.low_ns), "{m:?}");
        assert!((60_000.0..85_000.0).contains(&m.high_ns), "{m:?}");
        assert!((m.high_fraction - 0.2).abs() < 0.02, "{m:?}");
    }

    #[test]
    fn a_mode_below_five_percent_is_not_flagged() {
        let mut r = rng();
        let mut s = cluster(&mut r, 3_200.0, 9_800);
        s.extend(cluster(&mut r, 72_000.0, 200));
        assert_eq!(find_modes(&s), None);
        let mut s = cluster(&mut r, 3_200.0, 9_000);
        s.extend(cluster(&mut r, 72_000.0, 1_000));
        assert!(find_modes(&s).is_some());
    }

    #[test]
    fn close_modes_are_one_mode() {
        let mut r = rng();
        let mut s = cluster(&mut r, 3_200.0, 3_000);
        s.extend(cluster(&mut r, 3_700.0, 3_000));
        assert_eq!(find_modes(&s), None);
    }

    #[test]
    fn tiny_or_constant_samples_are_not_flagged() {
        assert_eq!(find_modes(&[]), None);
        assert_eq!(find_modes(&[5; 1000]), None);
        assert_eq!(find_modes(&[1, 1_000_000]), None);
    }

    #[test]
    fn labels() {
        assert_eq!(quality_label(&[]), "ok");
        assert_eq!(
            quality_label(&[QualityFlag::Multimodal, QualityFlag::DeepIdle]),
            "multimodal+deep_idle"
        );
    }

    #[test]
    fn repetitions_agree_or_name_a_cause() {
        let rep = |p: f64, q: &str, pl: &str| Repetition {
            p50_ns: p,
            quality: q.to_owned(),
            placement: pl.to_owned(),
            cpu_per_message_ns: None,
        };
        assert_eq!(
            check_repetitions(&[rep(3.2, "ok", "cross-cpu"), rep(3.5, "ok", "cross-cpu")]),
            None
        );
        assert_eq!(check_repetitions(&[rep(3.2, "ok", "cross-cpu")]), None);
        let d = check_repetitions(&[rep(82.9, "ok", "none"), rep(3.24, "ok", "none")])
            .expect("disagree");
        assert!(d.ratio > 25.0);
        assert!(d.likely_cause.contains("not pinned"), "{}", d.likely_cause);
        let d = check_repetitions(&[
            rep(4.1, "ok", "cross-cpu"),
            rep(63.0, "deep_idle", "cross-cpu"),
        ])
        .expect("disagree");
        assert!(d.likely_cause.contains("idle"), "{}", d.likely_cause);
        let d = check_repetitions(&[rep(4.1, "ok", "same-cpu"), rep(6.0, "ok", "same-cpu")])
            .expect("disagree");
        assert!(d.likely_cause.contains("other load"), "{}", d.likely_cause);
        // CPU time per message rose with the latency: the machine was slower.
        let with_cpu = |p: f64, cpu: f64| Repetition {
            cpu_per_message_ns: Some(cpu),
            ..rep(p, "ok", "cross-cpu")
        };
        let d = check_repetitions(&[with_cpu(11.6, 14_900.0), with_cpu(14.6, 18_800.0)])
            .expect("disagree");
        assert!(
            d.likely_cause.contains("machine itself was slower"),
            "{}",
            d.likely_cause
        );
        assert!(d.likely_cause.contains("×1.26"), "{}", d.likely_cause);
        // Same CPU time, higher latency: not the machine's speed.
        let d = check_repetitions(&[with_cpu(11.6, 15_000.0), with_cpu(14.6, 15_100.0)])
            .expect("disagree");
        assert!(
            d.likely_cause.contains("no recorded condition"),
            "{}",
            d.likely_cause
        );
    }
}
