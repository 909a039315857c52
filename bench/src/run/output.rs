//! What a run hands back and the rows it writes: accounting, summary rows, terminal lines.

use std::path::PathBuf;
use std::time::Duration;

use uadpbench_sender::loops::{CpuTime, RejectCounts, SchedDelta};
use uadpbench_sender::transport::TransportCounters;

use crate::conditions::ResolvedPlacement;
use crate::results::SummaryRow;
use crate::stats::Summary;

use super::*;

/// Timestamps the kernel took outside the probe session, for the probe files.
#[derive(Debug, Default)]
pub struct KernelStamps {
    /// `--so-timestamping`: the SO_TIMESTAMPING stamps of a cyclic udp run.
    pub clock: Option<crate::clock_check::ClockStamps>,
    /// xdp path with probes: each side's XDP program arrival stamps, with the crossing they
    /// are (0: the first arrival of a packet, at B; 1: a ping-pong echo, at A).
    pub xdp: Vec<(u8, uadpbench_sender::transport::XdpStamps)>,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_id: String,
    pub dir: PathBuf,
    pub summary: Vec<SummaryRow>,
    /// A signal stopped the measurement before it was complete (a signal after the last
    /// message does not count).
    pub interrupted: bool,
    /// Human-readable lines for the terminal.
    pub report: Vec<String>,
}

/// Message accounting common to all modes.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Accounting {
    pub(super) sent: u64,
    pub(super) received: u64,
    pub(super) lost: u64,
    pub(super) reordered: u64,
    pub(super) duplicated: u64,
    pub(super) late: u64,
    pub(super) rejects: RejectCounts,
    pub(super) tx: TransportCounters,
    pub(super) rx: TransportCounters,
}

pub(super) struct Rows<'a> {
    pub(super) cfg: &'a RunConfig,
    pub(super) run_id: &'a str,
    pub(super) rows: Vec<SummaryRow>,
    pub(super) placement: ResolvedPlacement,
    /// What the scheduler did to each timed thread (role, delta).
    pub(super) sched: Vec<(String, SchedDelta)>,
    /// Fan-out: the roles (`subscriber3`) whose thread shares its CPU with another
    /// subscriber's, so waiting for the CPU is part of the measurement.
    pub(super) shared_cpu: Vec<String>,
}

impl Rows<'_> {
    /// A probe run's calibrated probe cost per message (all programs, and on the packet's
    /// path), and the latency's p50 without the path's part (`rtt_compensated` /
    /// `one_way_compensated`; `analysis::compensation`).
    /// The probes' cost rows and the compensated latency p50: the latency's p50 minus the
    /// cost on the packet's path (`on_path_ns`) — or, with both timed threads on one CPU
    /// (`one_cpu`), minus every program's BPF time per message (`per_message_ns`): there the
    /// two sides take turns on that CPU, so every program run lies on the round trip.
    /// Returns the cost subtracted.
    pub(super) fn push_compensated(
        &mut self,
        per_message_ns: Option<f64>,
        on_path_ns: Option<f64>,
        one_cpu: bool,
    ) -> Option<f64> {
        if let Some(all) = per_message_ns {
            self.push("probe_cost", "per_message", all, "ns");
        }
        let on_path = on_path_ns?;
        self.push("probe_cost", "on_path_per_message", on_path, "ns");
        let cost = match per_message_ns {
            Some(all) if one_cpu => all,
            _ => on_path,
        };
        self.push("probe_cost", "subtracted_per_message", cost, "ns");
        let latency = match self.cfg.mode {
            Mode::Pingpong => "rtt",
            Mode::Cyclic => "one_way",
            Mode::Flood => return Some(cost),
        };
        let p50 = self
            .rows
            .iter()
            .find(|r| r.metric == latency && r.statistic == "p50")
            .map(|r| r.value);
        if let Some(p50) = p50 {
            self.push(&format!("{latency}_compensated"), "p50", p50 - cost, "ns");
        }
        Some(cost)
    }

    pub(super) fn push(&mut self, metric: &str, statistic: &str, value: f64, unit: &str) {
        self.rows.push(SummaryRow {
            run_id: self.run_id.to_owned(),
            path: self.cfg.path.to_string(),
            encap: self.cfg.encap.to_string(),
            mode: self.cfg.mode.name().to_owned(),
            payload_bytes: self.cfg.payload_bytes,
            metric: metric.to_owned(),
            statistic: statistic.to_owned(),
            value,
            unit: unit.to_owned(),
            placement: self.placement.placement.name().to_owned(),
            cpu_a: self.placement.cpu_a,
            cpu_b: self.placement.cpu_b,
            quality: String::new(),
        });
    }

    pub(super) fn summary(&mut self, metric: &str, s: &Summary) {
        for (stat, v) in s.rows() {
            self.push(
                metric,
                stat,
                v,
                if stat == "count" { "messages" } else { "ns" },
            );
        }
    }

    pub(super) fn accounting(&mut self, a: &Accounting) {
        for (stat, v) in [
            ("sent", a.sent),
            ("received", a.received),
            ("lost", a.lost),
            ("reordered", a.reordered),
            ("duplicated", a.duplicated),
            ("late", a.late),
            ("decode_errors", a.rejects.decode_errors),
            ("out_of_run", a.rejects.out_of_run),
            ("foreign_frames", a.rx.foreign_frames + a.tx.foreign_frames),
            (
                "malformed_frames",
                a.rx.malformed_frames + a.tx.malformed_frames,
            ),
            ("send_dropped", a.tx.send_dropped + a.rx.send_dropped),
        ] {
            self.push("messages", stat, v as f64, "messages");
        }
    }

    pub(super) fn cpu(&mut self, role: &str, cpu: CpuTime, messages: u64) {
        let s = cpu.sched;
        if let Some(m) = s.migrations {
            self.push(&format!("sched_{role}"), "migrations", m as f64, "events");
        }
        self.push(
            &format!("sched_{role}"),
            "involuntary_switches",
            s.involuntary_switches as f64,
            "events",
        );
        self.push(
            &format!("sched_{role}"),
            "voluntary_switches",
            s.voluntary_switches as f64,
            "events",
        );
        // Where the thread's time went during its loop: on a CPU, runnable but waiting for
        // one, and the rest: asleep (blocked in a receive or waiting for a deadline) or its
        // vCPU taken by the hypervisor (steal time counts as neither of the first two).
        if let (Some(on), Some(wait)) = (s.on_cpu_ns, s.runqueue_wait_ns) {
            let sleeping = s.window_ns.saturating_sub(on).saturating_sub(wait);
            for (stat, v) in [
                ("window", s.window_ns),
                ("on_cpu", on),
                ("runqueue_wait", wait),
                ("asleep_or_stolen", sleeping),
            ] {
                self.push(&format!("sched_{role}"), stat, v as f64, "ns");
            }
            if s.window_ns > 0 {
                self.push(
                    &format!("sched_{role}"),
                    "on_cpu_fraction",
                    on as f64 / s.window_ns as f64,
                    "fraction",
                );
            }
        }
        self.sched.push((role.to_owned(), s));
        let per = |d: Duration| {
            if messages == 0 {
                0.0
            } else {
                d.as_nanos() as f64 / messages as f64
            }
        };
        self.push(
            &format!("cpu_{role}"),
            "user_per_message",
            per(cpu.user),
            "ns",
        );
        self.push(
            &format!("cpu_{role}"),
            "system_per_message",
            per(cpu.system),
            "ns",
        );
        self.push(
            &format!("cpu_{role}"),
            "total_per_message",
            per(cpu.user + cpu.system),
            "ns",
        );
    }
}

pub(super) fn fmt_us(ns: f64) -> String {
    format!("{:.2}", ns / 1000.0)
}

pub(super) fn table_line(name: &str, s: &Summary) -> [String; 2] {
    let p = |n| {
        s.percentile(n)
            .map_or_else(String::new, |v| fmt_us(v as f64))
    };
    [
        format!(
            "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "", "min", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean", "stddev"
        ),
        format!(
            "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            format!("{name} (µs)"),
            fmt_us(s.min as f64),
            p("p50"),
            p("p90"),
            p("p99"),
            p("p99.9"),
            p("p99.99"),
            fmt_us(s.max as f64),
            fmt_us(s.mean),
            fmt_us(s.stddev)
        ),
    ]
}

pub(super) fn accounting_line(a: &Accounting) -> String {
    format!(
        "  sent {}  received {}  lost {}  reordered {}  duplicated {}  late {}  decode errors {}  foreign frames {}  send dropped {}",
        a.sent,
        a.received,
        a.lost,
        a.reordered,
        a.duplicated,
        a.late,
        a.rejects.decode_errors,
        a.rx.foreign_frames + a.tx.foreign_frames,
        a.tx.send_dropped + a.rx.send_dropped
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::Placement;

    fn rows(cfg: &RunConfig) -> Rows<'_> {
        Rows {
            cfg,
            run_id: "r",
            rows: Vec::new(),
            placement: ResolvedPlacement {
                placement: Placement::SameCpu,
                cpu_a: Some(0),
                cpu_b: Some(0),
            },
            sched: Vec::new(),
            shared_cpu: Vec::new(),
        }
    }

    fn value(r: &Rows<'_>, metric: &str, statistic: &str) -> Option<f64> {
        r.rows
            .iter()
            .find(|x| x.metric == metric && x.statistic == statistic)
            .map(|x| x.value)
    }

    #[test]
    fn the_compensated_p50_subtracts_the_path_or_on_one_cpu_everything() {
        let cfg = RunConfig::new(
            uadpbench_sender::transport::PathKind::Udp,
            None,
            Mode::Pingpong,
        );
        for (one_cpu, subtracted) in [(false, 1_500.0), (true, 4_000.0)] {
            let mut r = rows(&cfg);
            r.push("rtt", "p50", 20_000.0, "ns");
            assert_eq!(
                r.push_compensated(Some(4_000.0), Some(1_500.0), one_cpu),
                Some(subtracted)
            );
            assert_eq!(value(&r, "probe_cost", "per_message"), Some(4_000.0));
            assert_eq!(
                value(&r, "probe_cost", "on_path_per_message"),
                Some(1_500.0)
            );
            assert_eq!(
                value(&r, "probe_cost", "subtracted_per_message"),
                Some(subtracted)
            );
            assert_eq!(
                value(&r, "rtt_compensated", "p50"),
                Some(20_000.0 - subtracted)
            );
        }
        // Without the path's cost (no segment chain) nothing is compensated.
        let mut r = rows(&cfg);
        r.push("rtt", "p50", 20_000.0, "ns");
        assert_eq!(r.push_compensated(Some(4_000.0), None, true), None);
        assert_eq!(value(&r, "rtt_compensated", "p50"), None);
    }
}
