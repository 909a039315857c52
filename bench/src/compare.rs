//! `uadpbench compare A B`: two runs or campaigns, configuration by configuration — median and
//! p99 latency and rate, the change in %, a 95 % bootstrap confidence interval of the change,
//! and better / worse / no change — with the conditions that differ between A and B listed
//! first (kernel, CPU, placement, idle driver…), as benchstat or critcmp do for benchmarks.
//!
//! Statistics: with at least two repetitions on both sides the unit is the repetition (its p50,
//! p99 or rate), resampled with replacement within A and within B; with a single run per side
//! the messages of samples.csv are resampled instead (p50/p99 only). A change counts as better
//! or worse only when the interval excludes 0 and the change is at least `threshold` %.

use std::collections::BTreeMap;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::verdict::{load_runs, RunResult};

/// Bootstrap resamples.
pub const RESAMPLES: usize = 2000;
const SEED: u64 = 0x5eed_c0de;

/// One compared statistic of one configuration (one row of compare.csv).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareRow {
    pub config: String,
    /// `p50`, `p99` (latency, ns) or `rate` (1/s).
    pub statistic: String,
    pub a: f64,
    pub b: f64,
    /// (b − a) / a in %.
    pub change_percent: f64,
    pub ci_low_percent: f64,
    pub ci_high_percent: f64,
    /// `repetitions` (n_a × n_b runs) or `messages` (one run per side).
    pub basis: String,
    pub n_a: usize,
    pub n_b: usize,
    /// `better`, `worse` or `no change`.
    pub verdict: String,
}

/// What `compare` found.
#[derive(Debug, Clone, Default)]
pub struct Comparison {
    /// Conditions that differ, `key: A → B`.
    pub condition_differences: Vec<String>,
    pub rows: Vec<CompareRow>,
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// 95 % percentile-bootstrap interval of `(stat(b) − stat(a)) / stat(a)` in %, resampling each
/// side independently.
pub fn bootstrap_change(
    a: &[f64],
    b: &[f64],
    stat: impl Fn(&mut Vec<f64>) -> f64,
    resamples: usize,
    seed: u64,
) -> Option<(f64, f64, f64)> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (sa, sb) = (stat(&mut a.to_vec()), stat(&mut b.to_vec()));
    if sa == 0.0 || !sa.is_finite() || !sb.is_finite() {
        return None;
    }
    let change = 100.0 * (sb - sa) / sa;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut ra = Vec::with_capacity(a.len());
    let mut rb = Vec::with_capacity(b.len());
    let mut changes = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        ra.clear();
        rb.clear();
        ra.extend((0..a.len()).map(|_| a[rng.gen_range(0..a.len())]));
        rb.extend((0..b.len()).map(|_| b[rng.gen_range(0..b.len())]));
        let (x, y) = (stat(&mut ra), stat(&mut rb));
        if x != 0.0 {
            changes.push(100.0 * (y - x) / x);
        }
    }
    changes.sort_by(f64::total_cmp);
    Some((change, quantile(&changes, 0.025), quantile(&changes, 0.975)))
}

/// better / worse / no change for a change whose CI is `[lo, hi]` %.
pub fn classify(
    change: f64,
    lo: f64,
    hi: f64,
    lower_is_better: bool,
    threshold: f64,
) -> &'static str {
    let significant = (lo > 0.0 || hi < 0.0) && change.abs() >= threshold;
    if !significant {
        "no change"
    } else if (change < 0.0) == lower_is_better {
        "better"
    } else {
        "worse"
    }
}

/// Latency samples per run id from samples.csv (at most `limit` per run, evenly picked).
fn samples_of(dir: &Path, limit: usize) -> BTreeMap<String, Vec<f64>> {
    let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let Ok(mut rd) = csv::Reader::from_path(dir.join("samples.csv")) else {
        return out;
    };
    for s in rd.deserialize::<crate::schema::SampleRow>().flatten() {
        if let Some(v) = s.rtt_ns.or(s.one_way_ns) {
            out.entry(s.run_id).or_default().push(v as f64);
        }
    }
    for v in out.values_mut() {
        if v.len() > limit {
            let step = v.len() as f64 / limit as f64;
            *v = (0..limit).map(|i| v[(i as f64 * step) as usize]).collect();
        }
    }
    out
}

/// The conditions of a run or campaign directory as flat `key → value` (from meta.json; a
/// campaign's first run gives the run conditions).
fn conditions_of(dir: &Path) -> BTreeMap<String, String> {
    let (top, run_meta) = crate::meta::read_metas(dir);
    crate::meta::condition_facts(top.as_ref(), run_meta.as_ref())
        .into_iter()
        // When a run started always differs; placements are compared per configuration.
        .filter(|f| f.key != "started_utc" && f.key != "conditions.placement")
        .filter(|_| top.is_some() || run_meta.is_some())
        .map(|f| (f.key.to_owned(), f.value.unwrap_or_else(|| "-".into())))
        .collect()
}

fn placements(runs: &[RunResult]) -> String {
    let mut p: Vec<&str> = runs.iter().map(|r| r.placement.as_str()).collect();
    p.sort_unstable();
    p.dedup();
    p.join(",")
}

/// Compares two result directories.
pub fn compare(a_dir: &Path, b_dir: &Path, threshold: f64) -> anyhow::Result<Comparison> {
    let (a_runs, b_runs) = (load_runs(a_dir)?, load_runs(b_dir)?);
    let mut c = Comparison::default();
    let (ca, cb) = (conditions_of(a_dir), conditions_of(b_dir));
    let keys: std::collections::BTreeSet<&String> = ca.keys().chain(cb.keys()).collect();
    for k in keys {
        let (x, y) = (ca.get(k), cb.get(k));
        if x != y {
            c.condition_differences.push(format!(
                "{k}: {} → {}",
                x.map_or("(unrecorded)", String::as_str),
                y.map_or("(unrecorded)", String::as_str)
            ));
        }
    }
    let (pa, pb) = (placements(&a_runs), placements(&b_runs));
    if pa != pb {
        c.condition_differences
            .insert(0, format!("placement: {pa} → {pb}"));
    }
    let group = |runs: &[RunResult]| {
        let mut m: BTreeMap<String, Vec<RunResult>> = BTreeMap::new();
        for r in runs {
            m.entry(r.config.clone()).or_default().push(r.clone());
        }
        m
    };
    let (ga, gb) = (group(&a_runs), group(&b_runs));
    c.only_in_a = ga
        .keys()
        .filter(|k| !gb.contains_key(*k))
        .cloned()
        .collect();
    c.only_in_b = gb
        .keys()
        .filter(|k| !ga.contains_key(*k))
        .cloned()
        .collect();
    let (mut sa, mut sb) = (None, None);
    for (i, (config, ra)) in ga.iter().enumerate() {
        let Some(rb) = gb.get(config) else {
            continue;
        };
        let reps = ra.len() >= 2 && rb.len() >= 2;
        type Pick = fn(&RunResult) -> Option<f64>;
        let stats: [(&str, Pick, bool); 3] = [
            ("p50", |r| r.p50_ns, true),
            ("p99", |r| r.p99_ns, true),
            ("rate", |r| r.rate, false),
        ];
        for (j, (name, pick, lower_better)) in stats.into_iter().enumerate() {
            let va: Vec<f64> = ra.iter().filter_map(pick).collect();
            let vb: Vec<f64> = rb.iter().filter_map(pick).collect();
            if va.is_empty() || vb.is_empty() {
                continue;
            }
            let seed = SEED ^ ((i as u64) << 8) ^ j as u64;
            let (result, basis, na, nb) = if name == "rate" && !reps {
                // One value per side: no interval for a rate.
                (None, "none", va.len(), vb.len())
            } else if reps {
                (
                    bootstrap_change(&va, &vb, |v| mean(v), RESAMPLES, seed),
                    "repetitions",
                    va.len(),
                    vb.len(),
                )
            } else {
                // One run per side: resample its messages.
                let sa = sa.get_or_insert_with(|| samples_of(a_dir, 5000));
                let sb = sb.get_or_insert_with(|| samples_of(b_dir, 5000));
                let (xa, xb) = (sa.get(&ra[0].run_id), sb.get(&rb[0].run_id));
                let q = if name == "p50" { 0.5 } else { 0.99 };
                match (xa, xb) {
                    (Some(xa), Some(xb)) => (
                        bootstrap_change(
                            xa,
                            xb,
                            |v| {
                                v.sort_by(f64::total_cmp);
                                quantile(v, q)
                            },
                            RESAMPLES / 4,
                            seed,
                        ),
                        "messages",
                        xa.len(),
                        xb.len(),
                    ),
                    _ => (None, "none", 1, 1),
                }
            };
            let (a, b) = (mean(&va), mean(&vb));
            let (change, lo, hi) = result.unwrap_or((
                if a != 0.0 { 100.0 * (b - a) / a } else { 0.0 },
                f64::NEG_INFINITY,
                f64::INFINITY,
            ));
            c.rows.push(CompareRow {
                config: config.clone(),
                statistic: name.into(),
                a,
                b,
                change_percent: change,
                ci_low_percent: lo,
                ci_high_percent: hi,
                basis: basis.into(),
                n_a: na,
                n_b: nb,
                verdict: classify(change, lo, hi, lower_better, threshold).into(),
            });
        }
    }
    Ok(c)
}

/// The terminal lines of a comparison.
pub fn lines(c: &Comparison, a: &Path, b: &Path) -> Vec<String> {
    let mut out = vec![format!(
        "compare A = {}  →  B = {}",
        a.display(),
        b.display()
    )];
    if c.condition_differences.is_empty() {
        out.push(
            "conditions: the same in A and B (kernel, CPU, placement, idle states, clocksource)"
                .into(),
        );
    } else {
        out.push("conditions that differ (read the changes below in their light):".into());
        out.extend(c.condition_differences.iter().map(|d| format!("  {d}")));
    }
    out.push(format!(
        "{:<52} {:>5} {:>11} {:>11} {:>8} {:>19}  {}",
        "configuration", "stat", "A", "B", "Δ %", "95 % CI of Δ %", "verdict"
    ));
    for r in &c.rows {
        let v = |x: f64| {
            if r.statistic == "rate" {
                format!("{x:.0}/s")
            } else {
                format!("{:.2} µs", x / 1e3)
            }
        };
        let ci = if r.ci_low_percent.is_finite() {
            format!("[{:+.1}, {:+.1}]", r.ci_low_percent, r.ci_high_percent)
        } else {
            "(no interval)".into()
        };
        out.push(format!(
            "{:<52} {:>5} {:>11} {:>11} {:>+8.1} {:>19}  {}",
            r.config,
            r.statistic,
            v(r.a),
            v(r.b),
            r.change_percent,
            ci,
            r.verdict
        ));
    }
    let count = |v: &str| c.rows.iter().filter(|r| r.verdict == v).count();
    out.push(format!(
        "{} better, {} worse, {} no change; configurations only in A: {}, only in B: {}",
        count("better"),
        count("worse"),
        count("no change"),
        c.only_in_a.len(),
        c.only_in_b.len()
    ));
    out
}

/// Whether any statistic got worse by more than `pct` % (its interval excluding 0).
pub fn worse_than(c: &Comparison, pct: f64) -> Vec<&CompareRow> {
    c.rows
        .iter()
        .filter(|r| r.verdict == "worse" && r.change_percent.abs() > pct)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noisy(centre: f64, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..n)
            .map(|_| centre * (1.0 + 0.05 * (rng.gen::<f64>() - 0.5)))
            .collect()
    }

    #[test]
    fn a_known_shift_is_detected() {
        let a = noisy(10_000.0, 5, 1);
        let b = noisy(12_000.0, 5, 2);
        let (change, lo, hi) = bootstrap_change(&a, &b, |v| mean(v), 2000, 7).unwrap();
        assert!((change - 20.0).abs() < 3.0, "{change}");
        assert!(lo > 10.0 && hi < 30.0, "[{lo}, {hi}]");
        assert_eq!(classify(change, lo, hi, true, 3.0), "worse");
        assert_eq!(classify(change, lo, hi, false, 3.0), "better");
    }

    #[test]
    fn equal_samples_give_no_change() {
        let a = noisy(10_000.0, 5, 1);
        let (change, lo, hi) = bootstrap_change(&a, &a, |v| mean(v), 2000, 7).unwrap();
        assert_eq!(change, 0.0);
        assert!(lo <= 0.0 && hi >= 0.0, "[{lo}, {hi}]");
        assert_eq!(classify(change, lo, hi, true, 3.0), "no change");
        // Same distribution, different draws: no change either.
        let b = noisy(10_000.0, 5, 99);
        let (change, lo, hi) = bootstrap_change(&a, &b, |v| mean(v), 2000, 7).unwrap();
        assert_eq!(
            classify(change, lo, hi, true, 3.0),
            "no change",
            "{change} [{lo},{hi}]"
        );
    }

    #[test]
    fn a_small_significant_change_below_the_threshold_is_no_change() {
        assert_eq!(classify(1.0, 0.5, 1.5, true, 3.0), "no change");
        assert_eq!(classify(4.0, 0.5, 7.5, true, 3.0), "worse");
    }

    #[test]
    fn medians_of_messages_shift_too() {
        let a = noisy(10_000.0, 3000, 3);
        let b: Vec<f64> = a.iter().map(|x| x * 0.8).collect();
        let (change, lo, hi) = bootstrap_change(
            &a,
            &b,
            |v| {
                v.sort_by(f64::total_cmp);
                quantile(v, 0.5)
            },
            300,
            5,
        )
        .unwrap();
        assert!((change + 20.0).abs() < 1.0, "{change}");
        assert_eq!(classify(change, lo, hi, true, 3.0), "better");
    }
}
