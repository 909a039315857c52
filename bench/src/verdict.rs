//! The answer to the user's question, at the end of every campaign and of `report`: per mode,
//! message size and placement, the transport paths ranked by median and p99 latency — with the
//! spread of the repetitions and a "not distinguishable" mark where their confidence intervals
//! overlap — the probes' overhead per path, loss, and what could not be controlled. Also written
//! as `verdict.md` beside the results.
//!
//! The unit of evidence is the repetition: on a shared machine the medians of repetitions of one
//! configuration differ more than the samples of one run suggest (docs/method.md,
//! "Conditions"), so the interval is a Student-t interval over the repetitions' p50 (p99), not
//! a bootstrap over pooled messages.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::overhead::OverheadRow;
use crate::results::SummaryRow;

/// One run as summary.csv describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub run_id: String,
    /// The run id without its repetition suffix.
    pub config: String,
    pub mode: String,
    pub payload_bytes: usize,
    pub path: String,
    pub encap: String,
    pub placement: String,
    /// Probe selection (`none` for uninstrumented runs).
    pub probes: String,
    pub p50_ns: Option<f64>,
    pub p99_ns: Option<f64>,
    /// Round trips or messages per second.
    pub rate: Option<f64>,
    pub sent: f64,
    pub lost: f64,
    pub quality: String,
    /// CPU time per message of the timed threads (both sides), ns.
    pub cpu_per_message_ns: Option<f64>,
    /// A fan-out run's subscriber count (`--subscribers`); `None` for a two-namespace run.
    pub subscribers: Option<usize>,
}

impl RunResult {
    /// `path/encap`.
    pub fn transport(&self) -> String {
        format!("{}/{}", self.path, self.encap)
    }

    /// The workload as the verdict groups it: the mode, and for fan-out runs how many
    /// subscribers (runs with different counts never compete in one ranking).
    pub fn workload(&self) -> String {
        match self.subscribers {
            Some(n) => format!("{} to {n} subscriber(s)", self.mode),
            None => self.mode.clone(),
        }
    }
}

/// Strips `-rN` from a run id.
pub fn config_of(run_id: &str) -> String {
    match run_id.rsplit_once("-r") {
        Some((head, rep)) if !rep.is_empty() && rep.chars().all(|c| c.is_ascii_digit()) => {
            head.to_owned()
        }
        _ => run_id.to_owned(),
    }
}

/// The probe selection encoded in a campaign run id (`…-probes_all-r1`); `none` otherwise.
fn probes_of(run_id: &str) -> String {
    config_of(run_id)
        .rsplit_once("-probes_")
        .map_or("none".into(), |(_, p)| p.to_owned())
}

/// Groups summary rows into runs.
pub fn runs_from_rows(rows: &[SummaryRow]) -> Vec<RunResult> {
    let mut runs: BTreeMap<String, RunResult> = BTreeMap::new();
    for r in rows {
        let run = runs.entry(r.run_id.clone()).or_insert_with(|| RunResult {
            run_id: r.run_id.clone(),
            config: config_of(&r.run_id),
            mode: r.mode.clone(),
            payload_bytes: r.payload_bytes,
            path: r.path.clone(),
            encap: r.encap.clone(),
            placement: if r.placement.is_empty() {
                "unrecorded".into()
            } else {
                r.placement.clone()
            },
            probes: probes_of(&r.run_id),
            p50_ns: None,
            p99_ns: None,
            rate: None,
            sent: 0.0,
            lost: 0.0,
            quality: r.quality.clone(),
            cpu_per_message_ns: None,
            subscribers: None,
        });
        let latency = r.metric == "rtt" || r.metric == "one_way";
        match (r.metric.as_str(), r.statistic.as_str()) {
            (_, "p50") if latency => run.p50_ns = Some(r.value),
            (_, "p99") if latency => run.p99_ns = Some(r.value),
            ("messages", "sent") => run.sent = r.value,
            ("fanout", "subscribers") => run.subscribers = Some(r.value as usize),
            ("messages", "lost") => run.lost = r.value,
            ("rate", "round_trips_per_second" | "received_per_second") => run.rate = Some(r.value),
            (m, "total_per_message") if m.starts_with("cpu_") => {
                *run.cpu_per_message_ns.get_or_insert(0.0) += r.value
            }
            _ => {}
        }
    }
    runs.into_values().collect()
}

/// Reads the runs of a run or campaign directory (its summary.csv).
pub fn load_runs(dir: &Path) -> anyhow::Result<Vec<RunResult>> {
    let path = dir.join("summary.csv");
    let mut rd = csv::Reader::from_path(&path).with_context(|| {
        format!(
            "{} has no summary.csv: give a run or campaign results directory",
            dir.display()
        )
    })?;
    let rows = rd
        .deserialize::<SummaryRow>()
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(runs_from_rows(&rows))
}

/// Reads overhead.csv of a directory (empty when absent).
pub fn load_overhead(dir: &Path) -> anyhow::Result<Vec<OverheadRow>> {
    let path = dir.join("overhead.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    csv::Reader::from_path(&path)?
        .deserialize::<OverheadRow>()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))
}

/// Two-sided 97.5 % quantile of Student's t with `df` degrees of freedom.
pub fn t_975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        d if d <= 30 => T[d - 1],
        _ => 1.96,
    }
}

/// Mean of `v` with its 95 % Student-t confidence interval; `None` for an empty slice. One
/// value gives an unbounded interval.
pub fn mean_ci(v: &[f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() == 1 {
        return Some((mean, f64::NEG_INFINITY, f64::INFINITY));
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let half = t_975(v.len() - 1) * (var / n).sqrt();
    Some((mean, mean - half, mean + half))
}

/// One transport in a ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked {
    pub transport: String,
    pub repetitions: usize,
    /// Mean of the repetitions' p50, and its 95 % CI, ns.
    pub p50: (f64, f64, f64),
    /// Min and max of the repetitions' p50, ns.
    pub p50_spread: (f64, f64),
    /// Mean of the repetitions' p99, ns.
    pub p99: Option<f64>,
    pub loss_percent: f64,
    /// Flags of its repetitions (`multimodal`, `steal`, …), deduplicated.
    pub flags: Vec<String>,
    /// Its CI overlaps the fastest one's: not distinguishable from the winner.
    pub tied_with_best: bool,
}

/// The ranking of one (mode, payload, placement) group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub mode: String,
    pub payload_bytes: usize,
    pub placement: String,
    /// Fastest first (by mean p50).
    pub ranked: Vec<Ranked>,
    /// Transport with the lowest p99.
    pub best_p99: Option<String>,
}

/// Ranks the uninstrumented runs (probes `none`) per (mode, payload, placement).
pub fn rank(runs: &[RunResult]) -> Vec<Group> {
    type Key = (String, usize, String);
    let mut groups: BTreeMap<Key, BTreeMap<String, Vec<&RunResult>>> = BTreeMap::new();
    for r in runs
        .iter()
        .filter(|r| r.probes == "none" && r.p50_ns.is_some())
    {
        groups
            .entry((r.workload(), r.payload_bytes, r.placement.clone()))
            .or_default()
            .entry(r.transport())
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for ((mode, payload_bytes, placement), by_transport) in groups {
        let mut ranked: Vec<Ranked> = by_transport
            .into_iter()
            .filter_map(|(transport, reps)| {
                let p50s: Vec<f64> = reps.iter().filter_map(|r| r.p50_ns).collect();
                let p99s: Vec<f64> = reps.iter().filter_map(|r| r.p99_ns).collect();
                let p50 = mean_ci(&p50s)?;
                let spread = (
                    p50s.iter().copied().fold(f64::INFINITY, f64::min),
                    p50s.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                );
                let (sent, lost) = reps
                    .iter()
                    .fold((0.0, 0.0), |(s, l), r| (s + r.sent, l + r.lost));
                let mut flags: Vec<String> = reps
                    .iter()
                    .flat_map(|r| r.quality.split('+'))
                    .filter(|f| !f.is_empty() && *f != "ok")
                    .map(str::to_owned)
                    .collect();
                flags.sort();
                flags.dedup();
                Some(Ranked {
                    transport,
                    repetitions: p50s.len(),
                    p50,
                    p50_spread: spread,
                    p99: mean_ci(&p99s).map(|m| m.0),
                    loss_percent: if sent > 0.0 { 100.0 * lost / sent } else { 0.0 },
                    flags,
                    tied_with_best: false,
                })
            })
            .collect();
        ranked.sort_by(|a, b| a.p50.0.total_cmp(&b.p50.0));
        if let Some(best) = ranked.first().map(|b| b.p50) {
            for (i, r) in ranked.iter_mut().enumerate() {
                r.tied_with_best = i > 0 && r.p50.1 <= best.2 && best.1 <= r.p50.2;
            }
        }
        let best_p99 = ranked
            .iter()
            .filter(|r| r.p99.is_some())
            .min_by(|a, b| {
                a.p99
                    .unwrap_or(f64::MAX)
                    .total_cmp(&b.p99.unwrap_or(f64::MAX))
            })
            .map(|r| r.transport.clone());
        out.push(Group {
            mode,
            payload_bytes,
            placement,
            ranked,
            best_p99,
        });
    }
    out
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1e3)
}

/// The verdict as at most ~25 lines of text (markdown-friendly).
pub fn verdict_lines(runs: &[RunResult], overhead: &[OverheadRow]) -> Vec<String> {
    let groups = rank(runs);
    let mut lines = Vec::new();
    if groups.is_empty() {
        lines.push("verdict: no uninstrumented latency runs to rank (ping-pong or cyclic with probes none)".into());
        return lines;
    }
    let reps = groups
        .iter()
        .flat_map(|g| g.ranked.iter().map(|r| r.repetitions))
        .max()
        .unwrap_or(0);
    lines.push(format!(
        "verdict — paths ranked by median latency (RTT for ping-pong, one-way for cyclic), mean of {reps} repetition(s) with 95 % CI; ≈ = not distinguishable from the fastest:"
    ));
    for g in &groups {
        let Some(best) = g.ranked.first() else {
            continue;
        };
        let mut parts = Vec::new();
        for (i, r) in g.ranked.iter().enumerate() {
            let mark = if i == 0 {
                ""
            } else if r.tied_with_best {
                "≈ "
            } else {
                "> "
            };
            let flags = if r.flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", r.flags.join(","))
            };
            parts.push(format!("{mark}{} {}{flags}", r.transport, us(r.p50.0)));
        }
        let ci = if best.repetitions > 1 {
            format!(
                " (fastest {} µs, CI {}–{}, repetitions {}–{})",
                us(best.p50.0),
                us(best.p50.1.max(0.0)),
                us(best.p50.2),
                us(best.p50_spread.0),
                us(best.p50_spread.1)
            )
        } else {
            " (1 repetition: no CI)".into()
        };
        lines.push(format!(
            "  {} {} B, {}: {} µs{ci}; lowest p99: {}",
            g.mode,
            g.payload_bytes,
            g.placement,
            parts.join("  "),
            g.best_p99.as_deref().unwrap_or("-")
        ));
    }
    // The answer, per mode and size, over placements: which transport wins most often.
    let mut answer: BTreeMap<(String, usize), Vec<String>> = BTreeMap::new();
    for g in &groups {
        if let Some(b) = g.ranked.first() {
            let tied: Vec<&str> = g
                .ranked
                .iter()
                .filter(|r| r.tied_with_best)
                .map(|r| r.transport.as_str())
                .collect();
            answer
                .entry((g.mode.clone(), g.payload_bytes))
                .or_default()
                .push(if tied.is_empty() {
                    format!("{} ({})", b.transport, g.placement)
                } else {
                    format!("{} ({}; ≈ {})", b.transport, g.placement, tied.join(", "))
                });
        }
    }
    lines.push("answer — fastest median per workload:".into());
    for ((mode, payload), winners) in &answer {
        lines.push(format!("  {mode} {payload} B: {}", winners.join("; ")));
    }
    // Probe overhead per path (p50 of the main latency).
    let ov: Vec<&OverheadRow> = overhead
        .iter()
        .filter(|o| o.statistic == "p50" && (o.metric == "rtt" || o.metric == "one_way"))
        .collect();
    if !ov.is_empty() {
        let mut per_path: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for o in &ov {
            per_path
                .entry(format!("{}/{}", o.path, o.encap))
                .or_default()
                .push(o.delta);
        }
        lines.push(format!(
            "probes' cost (added p50, range over workloads): {}",
            per_path
                .iter()
                .map(|(p, d)| {
                    let lo = d.iter().copied().fold(f64::INFINITY, f64::min);
                    let hi = d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    format!("{p} {:+.1}…{:+.1} µs", lo / 1e3, hi / 1e3)
                })
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let (sent, lost) = runs
        .iter()
        .fold((0.0, 0.0), |(s, l), r| (s + r.sent, l + r.lost));
    lines.push(if lost > 0.0 {
        let worst = runs
            .iter()
            .filter(|r| r.sent > 0.0)
            .max_by(|a, b| (a.lost / a.sent).total_cmp(&(b.lost / b.sent)));
        format!(
            "loss: {lost:.0} of {sent:.0} messages ({:.4} %); worst {}",
            100.0 * lost / sent.max(1.0),
            worst.map_or("-".into(), |w| format!(
                "{} {:.3} %",
                w.run_id,
                100.0 * w.lost / w.sent
            ))
        )
    } else {
        format!("loss: none ({sent:.0} messages)")
    });
    let mut flags: BTreeMap<String, usize> = BTreeMap::new();
    for r in runs {
        for f in r.quality.split('+').filter(|f| !f.is_empty() && *f != "ok") {
            *flags.entry(f.to_owned()).or_default() += 1;
        }
    }
    lines.push(if flags.is_empty() {
        format!(
            "conditions: every one of {} runs controlled (quality ok)",
            runs.len()
        )
    } else {
        format!(
            "conditions: {} of {} runs flagged ({}) — see the conditions check and docs/method.md",
            runs.iter()
                .filter(|r| !r.quality.is_empty() && r.quality != "ok")
                .count(),
            runs.len(),
            flags
                .iter()
                .map(|(f, n)| format!("{f} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    lines
}

/// Computes the verdict of a results directory, writes `verdict.md` there and returns its lines.
pub fn write_verdict(dir: &Path) -> anyhow::Result<Vec<String>> {
    let runs = load_runs(dir)?;
    let overhead = load_overhead(dir)?;
    let mut lines = verdict_lines(&runs, &overhead);
    lines.extend(crate::report::fanout::answer_lines(
        &crate::report::fanout::load(dir)?,
    ));
    crate::results::write_atomically(&dir.join("verdict.md"), |w| {
        use std::io::Write;
        writeln!(w, "# Verdict: {}\n", dir.display())?;
        writeln!(w, "```")?;
        for l in &lines {
            writeln!(w, "{l}")?;
        }
        writeln!(w, "```")?;
        Ok(())
    })?;
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, path: &str, p50_us: f64, quality: &str) -> RunResult {
        RunResult {
            run_id: id.into(),
            config: config_of(id),
            mode: "pingpong".into(),
            payload_bytes: 64,
            path: path.into(),
            encap: if path == "udp" {
                "udp".into()
            } else {
                "eth".into()
            },
            placement: "cross-cpu".into(),
            probes: probes_of(id),
            p50_ns: Some(p50_us * 1e3),
            p99_ns: Some(p50_us * 3e3),
            rate: None,
            sent: 1000.0,
            lost: 0.0,
            quality: quality.into(),
            cpu_per_message_ns: None,
            subscribers: None,
        }
    }

    #[test]
    fn t_interval_is_right() {
        let (m, lo, hi) = mean_ci(&[10.0, 12.0, 14.0]).unwrap();
        assert_eq!(m, 12.0);
        // sd 2, n 3: half-width 4.303 × 2/√3 = 4.97
        assert!((hi - m - 4.969).abs() < 0.01, "{hi}");
        assert!((m - lo - 4.969).abs() < 0.01);
        let (_, lo, hi) = mean_ci(&[5.0]).unwrap();
        assert!(lo.is_infinite() && hi.is_infinite());
        assert!(mean_ci(&[]).is_none());
    }

    #[test]
    fn clear_winner_is_ranked_first_and_not_tied() {
        let runs = vec![
            run("xdp-eth-pingpong-64B-probes_none-r1", "xdp", 10.0, "ok"),
            run("xdp-eth-pingpong-64B-probes_none-r2", "xdp", 10.2, "ok"),
            run("xdp-eth-pingpong-64B-probes_none-r3", "xdp", 9.9, "ok"),
            run("udp-udp-pingpong-64B-probes_none-r1", "udp", 14.0, "ok"),
            run("udp-udp-pingpong-64B-probes_none-r2", "udp", 14.3, "ok"),
            run("udp-udp-pingpong-64B-probes_none-r3", "udp", 13.8, "ok"),
            // Probe runs are not ranked.
            run("udp-udp-pingpong-64B-probes_all-r1", "udp", 1.0, "ok"),
        ];
        let g = rank(&runs);
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].ranked[0].transport, "xdp/eth");
        assert!(!g[0].ranked[1].tied_with_best);
        assert_eq!(g[0].best_p99.as_deref(), Some("xdp/eth"));
        let lines = verdict_lines(&runs, &[]);
        assert!(lines.len() <= 25, "{lines:?}");
        assert!(
            lines[1].contains("xdp/eth 10.0") && lines[1].contains("> udp/udp 14.0"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("pingpong 64 B: xdp/eth (cross-cpu)")),
            "{lines:?}"
        );
    }

    #[test]
    fn overlapping_intervals_are_a_tie() {
        let runs = vec![
            run("xdp-eth-pingpong-64B-probes_none-r1", "xdp", 10.0, "ok"),
            run("xdp-eth-pingpong-64B-probes_none-r2", "xdp", 14.0, "ok"),
            run("udp-udp-pingpong-64B-probes_none-r1", "udp", 11.0, "ok"),
            run("udp-udp-pingpong-64B-probes_none-r2", "udp", 13.5, "ok"),
        ];
        let g = rank(&runs);
        assert!(g[0].ranked[1].tied_with_best);
        let lines = verdict_lines(&runs, &[]);
        assert!(lines[1].contains("≈ "), "{lines:?}");
        assert!(lines.iter().any(|l| l.contains("≈ ")), "{lines:?}");
    }

    #[test]
    fn bimodal_runs_are_flagged_in_the_verdict() {
        let runs = vec![
            run(
                "udp-udp-pingpong-64B-probes_none-r1",
                "udp",
                14.0,
                "multimodal",
            ),
            run(
                "udp-udp-pingpong-64B-probes_none-r2",
                "udp",
                80.0,
                "multimodal+migrated",
            ),
        ];
        let lines = verdict_lines(&runs, &[]);
        assert!(lines[1].contains("[migrated,multimodal]"), "{lines:?}");
        let last = lines.last().unwrap();
        assert!(
            last.contains("2 of 2 runs flagged") && last.contains("multimodal ×2"),
            "{last}"
        );
    }

    #[test]
    fn single_repetition_says_so_and_loss_is_reported() {
        let mut r = run("udp-udp-pingpong-64B", "udp", 14.0, "ok");
        r.lost = 10.0;
        let lines = verdict_lines(&[r], &[]);
        assert!(lines[1].contains("1 repetition: no CI"), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.starts_with("loss: 10 of 1000")),
            "{lines:?}"
        );
        assert!(verdict_lines(&[], &[])[0].contains("no uninstrumented"));
    }
}
