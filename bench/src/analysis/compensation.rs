//! Taking the probes' own cost out of what they measured.
//!
//! The probes' BPF programs run inside the path they time: every program run adds its run
//! time to the segment it runs in and to the end-to-end latency. Their cost is calibrated on
//! the warm-up packets (BPF run-time statistics, probe_cost.csv), so a run knows, per program,
//! the time of one run and the time of all runs per benchmark message. Two estimates follow:
//!
//! * **per segment**: a stamp is taken at the end of its program (after the program found the
//!   packet), so the program's run lies inside the segment that *ends* at its stamp; that
//!   segment's compensated value is its value minus one run of that program. Program runs
//!   that stamp nothing (helpers, other traffic, the wake-up context) cannot be placed in a
//!   segment: they are the unattributed rest.
//! * **end to end**: the latency minus the cost on the packet's path — one run of each
//!   program whose stamp ends a segment of the chain, so that the compensated latency is the
//!   sum of the compensated segments. The BPF time of *every* program per message is larger:
//!   with the two sides on two CPUs much of it runs beside the path (the sender's system
//!   call returning while the receiver already runs, frees, other traffic, helpers before a
//!   receiver sleeps), and subtracting all of it overcompensates (measured: by 10–30 %).
//!
//! A program's cost is its BPF run time plus what its hook costs beyond the program (the
//! tracepoint's dispatch: `uadpbench_probes::calibrate_dispatch`, measured on the host before
//! its session attached; 0 for mechanisms it does not cover).
//!
//! A model, not a measurement: it assumes the programs' cost adds linearly and leaves
//! caches and the slow system-call path out; and the calibration runs with BPF
//! statistics on, whose clock reads make every run look somewhat longer. Checking it against runs without probes
//! (campaigns and `uadpbench overhead` pair them: overhead.csv `rtt_compensated`) says how
//! far it holds.

use std::collections::HashMap;

use crate::schema::SegmentRow;

/// One program's calibrated cost, as probe_cost.csv has it.
#[derive(Debug, Clone, PartialEq)]
pub struct CostInput {
    pub program: String,
    pub run_count: u64,
    pub run_time_ns: u64,
    /// What one hit of the program's hook costs beyond the program on its host (the
    /// dispatch calibration, by mechanism; 0 where not calibrated).
    pub dispatch_ns: f64,
    /// Benchmark messages the statistics window covered on the program's host (`None`: not
    /// calibrated, the row is left out).
    pub messages: Option<u64>,
}

/// The calibrated costs of a run's programs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Compensation {
    /// Mean cost of one run, by program (over every host that ran it): BPF run time plus
    /// the hook's dispatch.
    pub ns_per_run: HashMap<String, f64>,
    /// Cost of all programs' runs per benchmark message (BPF run time plus dispatch).
    pub per_message_ns: f64,
    /// The dispatch's part of `per_message_ns`.
    pub dispatch_per_message_ns: f64,
    /// Programs left out: they ran but their window was not calibrated.
    pub uncalibrated: Vec<String>,
}

impl Compensation {
    /// From the cost rows; `None` when no row was calibrated.
    pub fn from_costs(rows: &[CostInput]) -> Option<Self> {
        let mut runs: HashMap<String, (u64, f64)> = HashMap::new();
        let mut per_message = 0.0;
        let mut dispatch_per_message = 0.0;
        let mut calibrated = 0;
        let mut uncalibrated = Vec::new();
        for r in rows {
            match r.messages {
                Some(m) if m > 0 => {
                    calibrated += 1;
                    let dispatch = r.run_count as f64 * r.dispatch_ns.max(0.0);
                    per_message += (r.run_time_ns as f64 + dispatch) / m as f64;
                    dispatch_per_message += dispatch / m as f64;
                    let e = runs.entry(r.program.clone()).or_default();
                    e.0 += r.run_count;
                    e.1 += r.run_time_ns as f64 + dispatch;
                }
                _ if r.run_count > 0 || r.run_time_ns > 0 => uncalibrated.push(r.program.clone()),
                _ => {}
            }
        }
        if calibrated == 0 {
            return None;
        }
        uncalibrated.sort();
        uncalibrated.dedup();
        Some(Compensation {
            ns_per_run: runs
                .into_iter()
                .filter(|(_, (n, _))| *n > 0)
                .map(|(p, (n, t))| (p, t / n as f64))
                .collect(),
            per_message_ns: per_message,
            dispatch_per_message_ns: dispatch_per_message,
            uncalibrated,
        })
    }

    /// One run of `program` (0 for a point no program stamps: the user-space ends).
    pub fn run_ns(&self, program: Option<&str>) -> f64 {
        program
            .and_then(|p| self.ns_per_run.get(p))
            .copied()
            .unwrap_or(0.0)
    }
}

/// Whether a segment statistic is a time a constant shift moves (not a count or a spread).
fn shifts(statistic: &str) -> bool {
    !matches!(statistic, "count" | "stddev" | "negative")
}

/// Fills `compensated_value` of segments.csv's rows: the value minus one run of the program
/// whose stamp ends the segment (`program_of(to_layer)`). Returns the probes' cost on the
/// packet's path: one run of each stamping program along the chain (the p50 rows'), what the
/// compensated segments lack against the plain ones in sum.
pub fn compensate_segments(
    rows: &mut [SegmentRow],
    program_of: impl Fn(&str) -> Option<String>,
    c: &Compensation,
) -> f64 {
    let mut on_path = 0.0;
    for r in rows.iter_mut() {
        if !shifts(&r.statistic) {
            continue;
        }
        let cost = c.run_ns(program_of(&r.to_layer).as_deref());
        r.compensated_value = Some(r.value - cost);
        if r.statistic == "p50" {
            on_path += cost;
        }
    }
    on_path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(to: &str, statistic: &str, value: f64) -> SegmentRow {
        SegmentRow {
            run_id: "r".into(),
            path: "udp".into(),
            encap: "udp".into(),
            mode: "pingpong".into(),
            payload_bytes: 64,
            segment_index: 0,
            from_layer: "user_send".into(),
            from_crossing: 0,
            to_layer: to.into(),
            to_crossing: 0,
            statistic: statistic.into(),
            value,
            unit: "ns".into(),
            compensated_value: None,
        }
    }

    #[test]
    fn per_message_cost_sums_every_calibrated_program() {
        let c = Compensation::from_costs(&[
            CostInput {
                program: "a".into(),
                run_count: 2_000,
                run_time_ns: 200_000,
                dispatch_ns: 0.0,
                messages: Some(1_000),
            },
            // The same program on the other host: one mean per run over both.
            CostInput {
                program: "a".into(),
                run_count: 1_000,
                run_time_ns: 400_000,
                dispatch_ns: 0.0,
                messages: Some(1_000),
            },
            CostInput {
                program: "helper".into(),
                run_count: 500,
                run_time_ns: 50_000,
                dispatch_ns: 0.0,
                messages: Some(500),
            },
            CostInput {
                program: "late".into(),
                run_count: 10,
                run_time_ns: 1_000,
                dispatch_ns: 30.0,
                messages: None,
            },
        ])
        .unwrap();
        assert_eq!(c.per_message_ns, 200.0 + 400.0 + 100.0);
        assert_eq!(c.ns_per_run["a"], 200.0);
        assert_eq!(c.ns_per_run["helper"], 100.0);
        assert_eq!(c.uncalibrated, vec!["late".to_owned()]);
        assert_eq!(c.dispatch_per_message_ns, 0.0);
        assert_eq!(c.run_ns(None), 0.0);
        assert!(Compensation::from_costs(&[]).is_none());
    }

    #[test]
    fn every_run_also_pays_its_hooks_dispatch() {
        let c = Compensation::from_costs(&[
            // A classic tracepoint: 100 ns of BPF, 60 ns of dispatch, twice per message.
            CostInput {
                program: "tp".into(),
                run_count: 2_000,
                run_time_ns: 200_000,
                dispatch_ns: 60.0,
                messages: Some(1_000),
            },
            // XDP: no dispatch calibrated.
            CostInput {
                program: "xdp".into(),
                run_count: 1_000,
                run_time_ns: 50_000,
                dispatch_ns: 0.0,
                messages: Some(1_000),
            },
            // A noisy calibration never makes a cost negative.
            CostInput {
                program: "btf".into(),
                run_count: 1_000,
                run_time_ns: 100_000,
                dispatch_ns: -5.0,
                messages: Some(1_000),
            },
        ])
        .unwrap();
        assert_eq!(c.ns_per_run["tp"], 160.0);
        assert_eq!(c.ns_per_run["xdp"], 50.0);
        assert_eq!(c.ns_per_run["btf"], 100.0);
        assert_eq!(c.per_message_ns, 320.0 + 50.0 + 100.0);
        assert_eq!(c.dispatch_per_message_ns, 120.0);
    }

    #[test]
    fn segments_lose_the_run_of_the_program_that_ends_them() {
        let c = Compensation {
            ns_per_run: [("prog_rx".to_owned(), 150.0)].into_iter().collect(),
            per_message_ns: 1_000.0,
            dispatch_per_message_ns: 0.0,
            uncalibrated: Vec::new(),
        };
        let mut rows = vec![
            row("netif_receive_skb", "p50", 2_000.0),
            row("netif_receive_skb", "count", 900.0),
            row("user_recv", "p50", 5_000.0),
            row("netif_receive_skb", "mean", 2_100.0),
        ];
        let on_path = compensate_segments(
            &mut rows,
            |layer| (layer == "netif_receive_skb").then(|| "prog_rx".to_owned()),
            &c,
        );
        assert_eq!(rows[0].compensated_value, Some(1_850.0));
        assert_eq!(rows[1].compensated_value, None);
        assert_eq!(rows[2].compensated_value, Some(5_000.0));
        assert_eq!(rows[3].compensated_value, Some(1_950.0));
        assert_eq!(on_path, 150.0);
    }
}
