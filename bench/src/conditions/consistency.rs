//! Across runs: do the repetitions of each configuration agree, and which runs were flagged?
//! Printed at the end of a campaign and by `report`.

use super::quality::{check_repetitions, Repetition, REPETITION_MAX_RATIO};

/// Checks every configuration of a results directory (summary.csv of a campaign or run):
/// repetitions whose p50 disagree by more than [`REPETITION_MAX_RATIO`], and runs flagged by
/// their quality column. Returns the lines to print (empty: nothing to say).
pub fn consistency_lines(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use std::collections::BTreeMap;
    let path = dir.join("summary.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut rd = csv::Reader::from_path(&path)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    // configuration → run id → repetition
    let mut configs: BTreeMap<String, BTreeMap<String, Repetition>> = BTreeMap::new();
    let mut flagged: BTreeMap<String, String> = BTreeMap::new();
    // run id → CPU time per message of its timed threads (both sides), ns
    let mut cpu: BTreeMap<String, f64> = BTreeMap::new();
    for row in rd.deserialize::<crate::results::SummaryRow>() {
        let r = row.map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        if !r.quality.is_empty() && r.quality != "ok" {
            flagged.insert(r.run_id.clone(), r.quality.clone());
        }
        if r.metric.starts_with("cpu_") && r.statistic == "total_per_message" {
            *cpu.entry(r.run_id.clone()).or_default() += r.value;
        }
        if !(r.statistic == "p50" && (r.metric == "rtt" || r.metric == "one_way")) {
            continue;
        }
        let config = match r.run_id.rsplit_once("-r") {
            Some((head, rep)) if !rep.is_empty() && rep.chars().all(|c| c.is_ascii_digit()) => {
                head.to_owned()
            }
            _ => r.run_id.clone(),
        };
        configs.entry(config).or_default().insert(
            r.run_id,
            Repetition {
                p50_ns: r.value,
                quality: r.quality,
                placement: r.placement,
                cpu_per_message_ns: None,
            },
        );
    }
    for runs in configs.values_mut() {
        for (id, rep) in runs.iter_mut() {
            rep.cpu_per_message_ns = cpu.get(id).copied();
        }
    }
    let mut lines = Vec::new();
    for (config, runs) in &configs {
        let reps: Vec<Repetition> = runs.values().cloned().collect();
        if let Some(d) = check_repetitions(&reps) {
            lines.push(format!(
                "  {config}: repetitions disagree (p50 {:.2}–{:.2} µs, ×{:.2}); likely cause: {}",
                d.min_p50_ns / 1e3,
                d.max_p50_ns / 1e3,
                d.ratio,
                d.likely_cause
            ));
        }
    }
    if !flagged.is_empty() {
        let mut by_flag: BTreeMap<&str, usize> = BTreeMap::new();
        for q in flagged.values() {
            for f in q.split('+') {
                *by_flag.entry(f).or_default() += 1;
            }
        }
        lines.push(format!(
            "  runs with uncontrolled conditions (quality column of summary.csv): {}",
            by_flag
                .iter()
                .map(|(f, n)| format!("{f} ×{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !lines.is_empty() {
        lines.insert(
            0,
            format!(
                "conditions check: {} of {} configuration(s) with disagreeing repetitions (max/min of p50 > {REPETITION_MAX_RATIO})",
                configs
                    .values()
                    .filter(|r| check_repetitions(&r.values().cloned().collect::<Vec<_>>()).is_some())
                    .count(),
                configs.len()
            ),
        );
    } else if !configs.is_empty() {
        lines.push(format!(
            "conditions check: the repetitions of all {} configuration(s) agree (max/min of p50 ≤ {REPETITION_MAX_RATIO}) and no run was flagged",
            configs.len()
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::SummaryRow;

    fn row(run_id: &str, p50: f64, quality: &str, placement: &str) -> SummaryRow {
        SummaryRow {
            run_id: run_id.into(),
            path: "udp".into(),
            encap: "udp".into(),
            mode: "pingpong".into(),
            payload_bytes: 64,
            metric: "rtt".into(),
            statistic: "p50".into(),
            value: p50,
            unit: "ns".into(),
            placement: placement.into(),
            cpu_a: None,
            cpu_b: None,
            quality: quality.into(),
        }
    }

    fn dir_with(rows: &[SummaryRow], name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "uadpbench-consistency-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&d).unwrap();
        crate::results::write_csv(&d.join("summary.csv"), rows).unwrap();
        d
    }

    #[test]
    fn agreeing_repetitions_say_so() {
        let d = dir_with(
            &[
                row("udp-a-r1", 3_200.0, "ok", "cross-cpu"),
                row("udp-a-r2", 3_300.0, "ok", "cross-cpu"),
                row("udp-b-r1", 6_600.0, "ok", "cross-cpu"),
            ],
            "agree",
        );
        let l = consistency_lines(&d).unwrap();
        assert_eq!(l.len(), 1, "{l:?}");
        assert!(l[0].contains("all 2 configuration(s) agree"), "{l:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn disagreeing_repetitions_name_the_cause() {
        let d = dir_with(
            &[
                row("udp-a-r1", 82_900.0, "multimodal", "none"),
                row("udp-a-r2", 3_240.0, "ok", "none"),
                row("udp-b-r1", 6_600.0, "ok", "cross-cpu"),
                row("udp-b-r2", 6_500.0, "ok", "cross-cpu"),
            ],
            "disagree",
        );
        let l = consistency_lines(&d).unwrap();
        assert!(l[0].contains("1 of 2 configuration(s)"), "{l:?}");
        assert!(
            l.iter()
                .any(|x| x.contains("udp-a") && x.contains("not pinned")),
            "{l:?}"
        );
        assert!(l.iter().any(|x| x.contains("multimodal ×1")), "{l:?}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn no_summary_no_lines() {
        let d = std::env::temp_dir().join("uadpbench-consistency-none-does-not-exist");
        assert!(consistency_lines(&d).unwrap().is_empty());
    }
}
