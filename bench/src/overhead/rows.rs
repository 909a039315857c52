//! The rows of overhead.csv: which statistics of a run are compared per mode, and the paired
//! bootstrap of each over the (off, arm) pairs of repetitions.

use super::bootstrap::{bootstrap_paired, mean};
use super::{Arm, OverheadRow, PERCENTILES};
use crate::results::SummaryRow;
use crate::run::{Mode, RunConfig};

/// The (metric, statistic, unit) compared for a mode.
pub fn compared_statistics(mode: Mode) -> Vec<(&'static str, &'static str, &'static str)> {
    let mut out = Vec::new();
    let (latency, roles) = match mode {
        Mode::Pingpong => (Some("rtt"), ["cpu_initiator", "cpu_reflector"]),
        Mode::Cyclic => (Some("one_way"), ["cpu_publisher", "cpu_subscriber"]),
        Mode::Flood => (None, ["cpu_publisher", "cpu_subscriber"]),
    };
    if let Some(m) = latency {
        out.extend(PERCENTILES.iter().map(|p| (m, *p, "ns")));
    }
    match mode {
        Mode::Pingpong => out.push(("rate", "round_trips_per_second", "1/s")),
        Mode::Flood => out.push(("rate", "received_per_second", "1/s")),
        Mode::Cyclic => {}
    }
    out.extend(roles.iter().map(|r| (*r, "total_per_message", "ns")));
    out
}

/// The latency statistics probe runs also report compensated (`<metric>_compensated`).
pub fn compensated_statistics(mode: Mode) -> Vec<(&'static str, &'static str, &'static str)> {
    match mode {
        Mode::Pingpong => vec![("rtt", "p50", "ns")],
        Mode::Cyclic => vec![("one_way", "p50", "ns")],
        Mode::Flood => Vec::new(),
    }
}

/// The overhead rows of one workload: for each compared statistic of the workload's mode, the
/// paired bootstrap of (arm − off) over `pairs` — (off run's summary, arm run's summary), one
/// pair per repetition, the two runs of a pair having run next to each other. A statistic
/// missing from either run of a pair leaves that pair out of its row.
pub fn overhead_rows(
    workload: &RunConfig,
    arm: Arm,
    probes: &str,
    pairs: &[(&[SummaryRow], &[SummaryRow])],
    resamples: usize,
    seed: u64,
) -> Vec<OverheadRow> {
    let mut rows = Vec::new();
    // Each compared statistic against itself, and the probe runs' compensated latency
    // (`<latency>_compensated`, the probes' calibrated cost taken out) against the latency
    // without probes: how far the compensation model holds.
    let compared = compared_statistics(workload.mode)
        .into_iter()
        .map(|(m, s, u)| (m, m.to_owned(), s, u))
        .chain(
            compensated_statistics(workload.mode)
                .into_iter()
                .map(|(m, s, u)| (m, format!("{m}_compensated"), s, u)),
        );
    for (i, (metric, arm_metric, statistic, unit)) in compared.enumerate() {
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for (o, a) in pairs {
            if let (Some(o), Some(a)) = (
                value_of(o, metric, statistic),
                value_of(a, &arm_metric, statistic),
            ) {
                off.push(o);
                on.push(a);
            }
        }
        let Some(ci) = bootstrap_paired(&off, &on, resamples, 0.95, seed ^ ((i as u64) << 8))
        else {
            continue;
        };
        rows.push(OverheadRow {
            path: workload.path.to_string(),
            encap: workload.encap.to_string(),
            mode: workload.mode.name().into(),
            payload_bytes: workload.payload_bytes,
            interval_us: (workload.mode == Mode::Cyclic).then_some(workload.interval_us),
            metric: arm_metric,
            statistic: statistic.into(),
            arm: arm.name().into(),
            probes: probes.into(),
            repetitions: off.len(),
            mean_off: mean(&off),
            mean_arm: mean(&on),
            delta: ci.delta,
            ci_low: ci.low,
            ci_high: ci.high,
            unit: unit.into(),
            placement: workload.placement.name().into(),
        });
    }
    rows
}

/// The value of (metric, statistic) in a run's summary.csv rows.
pub(super) fn value_of(summary: &[SummaryRow], metric: &str, statistic: &str) -> Option<f64> {
    summary
        .iter()
        .find(|r| r.metric == metric && r.statistic == statistic)
        .map(|r| r.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_per_mode() {
        let pp = compared_statistics(Mode::Pingpong);
        for p in PERCENTILES {
            assert!(pp.contains(&("rtt", p, "ns")));
        }
        assert!(compared_statistics(Mode::Flood).contains(&("rate", "received_per_second", "1/s")));
        assert!(compared_statistics(Mode::Cyclic).contains(&("one_way", "p99.9", "ns")));
        assert!(!compared_statistics(Mode::Flood)
            .iter()
            .any(|(m, _, _)| *m == "rtt" || *m == "one_way"));
    }

    fn summary(values: &[(&str, &str, f64)]) -> Vec<SummaryRow> {
        values
            .iter()
            .map(|(metric, statistic, value)| SummaryRow {
                run_id: "r".into(),
                path: "udp".into(),
                encap: "udp".into(),
                mode: "pingpong".into(),
                payload_bytes: 64,
                metric: (*metric).into(),
                statistic: (*statistic).into(),
                value: *value,
                unit: "ns".into(),
                placement: String::new(),
                cpu_a: None,
                cpu_b: None,
                quality: String::new(),
            })
            .collect()
    }

    #[test]
    fn rows_pair_repetitions_and_skip_missing_statistics() {
        let workload = RunConfig::default();
        assert_eq!(workload.mode, Mode::Pingpong);
        let off = [
            summary(&[("rtt", "p50", 10_000.0), ("rtt", "p99", 20_000.0)]),
            summary(&[("rtt", "p50", 12_000.0)]),
        ];
        let on = [
            summary(&[("rtt", "p50", 11_000.0), ("rtt", "p99", 26_000.0)]),
            summary(&[("rtt", "p50", 13_000.0), ("rtt", "p99", 1.0)]),
        ];
        let pairs: Vec<(&[SummaryRow], &[SummaryRow])> = off
            .iter()
            .zip(&on)
            .map(|(o, a)| (o.as_slice(), a.as_slice()))
            .collect();
        let rows = overhead_rows(&workload, Arm::Probes, "all", &pairs, 200, 1);
        let stats: Vec<&str> = rows.iter().map(|r| r.statistic.as_str()).collect();
        assert_eq!(stats, ["p50", "p99"], "statistics in no pair have no row");
        let p50 = &rows[0];
        assert_eq!(
            (p50.repetitions, p50.mean_off, p50.mean_arm),
            (2, 11_000.0, 12_000.0)
        );
        assert_eq!(
            (p50.delta, p50.ci_low, p50.ci_high),
            (1000.0, 1000.0, 1000.0)
        );
        assert_eq!((p50.arm.as_str(), p50.probes.as_str()), ("probes", "all"));
        assert_eq!((p50.metric.as_str(), p50.unit.as_str()), ("rtt", "ns"));
        assert_eq!(p50.interval_us, None, "pingpong has no interval");
        let p99 = &rows[1];
        assert_eq!(
            p99.repetitions, 1,
            "the pair without an off p99 is left out"
        );
        assert_eq!(p99.delta, 6000.0);
        assert!(overhead_rows(&workload, Arm::Probes, "all", &[], 200, 1).is_empty());
    }

    #[test]
    fn compensated_latency_is_compared_with_the_plain_latency_without_probes() {
        let workload = RunConfig::default();
        let off = [summary(&[("rtt", "p50", 10_000.0)])];
        let on = [summary(&[
            ("rtt", "p50", 17_000.0),
            ("rtt_compensated", "p50", 10_500.0),
        ])];
        let pairs: Vec<(&[SummaryRow], &[SummaryRow])> =
            vec![(off[0].as_slice(), on[0].as_slice())];
        let rows = overhead_rows(&workload, Arm::Probes, "all", &pairs, 200, 1);
        let c = rows
            .iter()
            .find(|r| r.metric == "rtt_compensated")
            .expect("a compensated row");
        assert_eq!(c.statistic, "p50");
        assert_eq!(
            (c.mean_off, c.mean_arm, c.delta),
            (10_000.0, 10_500.0, 500.0)
        );
        // The bpftrace arm has no compensated latency: no row.
        let bpftrace = [summary(&[("rtt", "p50", 25_000.0)])];
        let pairs: Vec<(&[SummaryRow], &[SummaryRow])> =
            vec![(off[0].as_slice(), bpftrace[0].as_slice())];
        let rows = overhead_rows(&workload, Arm::Bpftrace, "all", &pairs, 200, 1);
        assert!(rows.iter().all(|r| r.metric == "rtt"), "{rows:?}");
    }
}
