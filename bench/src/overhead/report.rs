//! The terminal report of `uadpbench overhead`: the comparison table, the BPF program cost and
//! what the bpftrace arm left out and counted.

use std::collections::BTreeMap;

use super::bpftrace::BpftraceScript;
use super::{Arm, ArmRun, OverheadConfig, OverheadCostRow, OverheadRow};

/// A value in the table's unit: µs for ns, whole numbers for rates.
fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ns" => format!("{:.2}", v / 1000.0),
        "1/s" => format!("{v:.0}"),
        _ => format!("{v:.3}"),
    }
}

/// A signed difference in the table's unit.
fn fmt_delta(v: f64, unit: &str) -> String {
    let s = fmt_value(v.abs(), unit);
    if v < 0.0 {
        format!("-{s}")
    } else {
        format!("+{s}")
    }
}

/// The table of the comparison, one line per statistic, a column group per arm.
pub(super) fn table(cfg: &OverheadConfig, rows: &[OverheadRow], pairs: usize) -> Vec<String> {
    let arms: Vec<Arm> = cfg.arms().into_iter().skip(1).collect();
    let mut lines = vec![format!(
        "overhead on {}/{} {} with {}-byte messages, --probes {}: {pairs} repetition(s) per arm, interleaved; Δ = arm − off, paired bootstrap 95 % CI ({} resamples)",
        cfg.run.path,
        cfg.run.encap,
        cfg.run.mode.name(),
        cfg.run.payload_bytes,
        cfg.probes,
        cfg.resamples
    )];
    let mut head = format!("  {:<34} {:>10}", "statistic (µs, or 1/s)", "off");
    for a in &arms {
        head.push_str(&format!(
            " {:>10} {:>10} {:>22} {:>7}",
            a.name(),
            "Δ",
            "95 % CI of Δ",
            "Δ %"
        ));
    }
    lines.push(head);
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in rows {
        let k = (r.metric.clone(), r.statistic.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for (metric, statistic) in keys {
        let of = |arm: Arm| {
            rows.iter()
                .find(|r| r.metric == metric && r.statistic == statistic && r.arm == arm.name())
        };
        let Some(first) = arms.iter().find_map(|a| of(*a)) else {
            continue;
        };
        let unit = first.unit.as_str();
        let mut line = format!(
            "  {:<34} {:>10}",
            format!("{metric} {statistic}"),
            fmt_value(first.mean_off, unit)
        );
        for a in &arms {
            match of(*a) {
                Some(r) => line.push_str(&format!(
                    " {:>10} {:>10} {:>22} {:>7}",
                    fmt_value(r.mean_arm, unit),
                    fmt_delta(r.delta, unit),
                    format!(
                        "[{}, {}]",
                        fmt_delta(r.ci_low, unit),
                        fmt_delta(r.ci_high, unit)
                    ),
                    if r.mean_off != 0.0 {
                        format!("{:+.1}", r.delta / r.mean_off * 100.0)
                    } else {
                        String::new()
                    }
                )),
                None => line.push_str(&format!(" {:>10} {:>10} {:>22} {:>7}", "-", "", "", "")),
            }
        }
        lines.push(line);
    }
    if rows.iter().any(|r| r.metric.ends_with("_compensated")) {
        lines.push(
            "  *_compensated: the probe runs' p50 minus the probes' calibrated cost (across CPUs the cost on the packet's path, one run of each program whose stamp ends a segment; with both sides on one CPU every program's BPF time per message), against the runs without probes: a Δ near 0 means the compensation accounts for what the probes add".into(),
        );
    }
    lines
}

pub(super) fn cost_lines(costs: &[OverheadCostRow]) -> Vec<String> {
    if costs.is_empty() {
        return vec![
            "  BPF program cost: no probe_cost.csv / bpftrace_cost.csv in the runs".into(),
        ];
    }
    let mut lines = vec![format!(
        "  BPF program cost (mean over runs): {:<9} {:<30} {:<11} {:>6} {:>12} {:>11} {:>12}",
        "arm", "program", "mechanism", "runs", "run count", "ns/run", "ns/message"
    )];
    let opt = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{v:.0}"));
    for c in costs {
        lines.push(format!(
            "  {:<34} {:<9} {:<30} {:<11} {:>6} {:>12} {:>11} {:>12}",
            "",
            c.arm,
            c.program,
            c.mechanism,
            c.runs,
            c.run_count,
            opt(c.mean_ns_per_run),
            opt(c.ns_per_message)
        ));
    }
    lines
}

/// What the bpftrace arm left out (layers without a tracepoint or uprobe) and the events it
/// counted per layer, as the mean over its runs.
pub(super) fn bpftrace_lines(script: &BpftraceScript, runs: &[ArmRun]) -> Vec<String> {
    let mut lines = Vec::new();
    if !script.skipped.is_empty() {
        lines.push(format!(
            "  bpftrace arm leaves out (no tracepoint or uprobe for them): {}",
            script
                .skipped
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut events: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for r in runs.iter().filter(|r| r.arm == Arm::Bpftrace) {
        for (k, v) in &r.bpftrace_events {
            events.entry(k).or_default().push(*v);
        }
    }
    if !events.is_empty() {
        lines.push(format!(
            "  bpftrace events per run (mean): {}",
            events
                .iter()
                .map(|(k, v)| format!("{k} {:.0}", v.iter().sum::<u64>() as f64 / v.len() as f64))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::RunConfig;

    #[test]
    fn values_and_deltas_in_table_units() {
        assert_eq!(fmt_value(12_345.0, "ns"), "12.35");
        assert_eq!(fmt_value(1234.4, "1/s"), "1234");
        assert_eq!(fmt_delta(-500.0, "ns"), "-0.50");
        assert_eq!(fmt_delta(0.0, "ns"), "+0.00");
    }

    #[test]
    fn table_has_a_line_per_statistic() {
        let cfg = OverheadConfig {
            run: RunConfig::default(),
            probes: "all".into(),
            repetitions: 2,
            bpftrace: false,
            resamples: 100,
            seed: 1,
        };
        let row = |statistic: &str, off: f64, on: f64| OverheadRow {
            path: "udp".into(),
            encap: "udp".into(),
            mode: "pingpong".into(),
            payload_bytes: 64,
            interval_us: None,
            metric: "rtt".into(),
            statistic: statistic.into(),
            arm: "probes".into(),
            probes: "all".into(),
            repetitions: 2,
            mean_off: off,
            mean_arm: on,
            delta: on - off,
            ci_low: on - off - 100.0,
            ci_high: on - off + 100.0,
            unit: "ns".into(),
            placement: String::new(),
        };
        let lines = table(
            &cfg,
            &[
                row("p50", 20_000.0, 21_000.0),
                row("p99", 40_000.0, 44_000.0),
            ],
            2,
        );
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(lines[0].contains("2 repetition(s) per arm"), "{}", lines[0]);
        assert!(lines[1].contains("probes") && !lines[1].contains("bpftrace"));
        assert!(lines[2].contains("rtt p50") && lines[2].contains("+1.00"));
        assert!(lines[2].contains("[+0.90, +1.10]") && lines[2].contains("+5.0"));
        assert!(lines[3].contains("rtt p99") && lines[3].contains("+10.0"));
        assert!(cost_lines(&[])[0].contains("no probe_cost.csv"));
    }
}
