//! One measurement: set up the two-namespace topology, open the path on both sides (each on
//! an OS thread moved into its namespace), run the mode's loops, and turn what they measured
//! into summary.csv, samples.csv and meta.json.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use uadpbench_sender::loops::SchedDelta;
use uadpbench_topology::{Topology, TopologyOptions};

use crate::conditions::machine::deep_idle_entries;
use crate::conditions::{
    find_modes, quality_label, IdleCounters, IdleLatency, MachineConditions, Placement,
    QualityFlag, ResolvedPlacement, StealCounters,
};
use crate::meta::{Environment, RunConditions, RunMeta, ThreadConditions};
use crate::results::{self};

mod config;
mod fanout;
mod output;
mod peer;
mod workload;

pub use config::*;
use output::*;
pub use output::{KernelStamps, RunOutcome};
pub use peer::{
    peer_problems, run_with_peer, run_with_peers, PeerClock, PeerSpec, AGENT_CHECK_EVERY,
    CLOCK_SAMPLES,
};
use workload::*;

/// Runs one measurement and writes its files into `out_dir` (created if needed).
pub fn run(cfg: &RunConfig, out_dir: &Path, stop: Arc<AtomicBool>) -> anyhow::Result<RunOutcome> {
    let created = !out_dir.exists();
    let r = run_in(cfg, out_dir, stop);
    if r.is_err() && created {
        // A run that failed before writing anything (not root, no such kernel feature, too
        // many open files) leaves no empty directory behind; `remove_dir` keeps a non-empty one.
        let _ = std::fs::remove_dir(out_dir);
    }
    r
}

fn run_in(cfg: &RunConfig, out_dir: &Path, stop: Arc<AtomicBool>) -> anyhow::Result<RunOutcome> {
    let problems = cfg.validate();
    if !problems.is_empty() {
        bail!(
            "invalid run configuration:\n  - {}",
            problems.join("\n  - ")
        );
    }
    let placement = cfg.resolve_placement()?;
    let mut pinned = cfg.clone();
    pinned.sched_a.cpu = placement.cpu_a;
    pinned.sched_b.cpu = placement.cpu_b;
    let cfg = &pinned;
    let machine = MachineConditions::read();
    let codec = cfg.codec()?;
    let codec = codec.as_ref();
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create the results directory {}", out_dir.display()))?;
    for f in [
        cfg.pcap.as_deref(),
        cfg.trace.as_ref().map(|t| t.file.as_path()),
    ]
    .into_iter()
    .flatten()
    {
        if let Some(parent) = f.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create the directory of {}", f.display()))?;
        }
    }
    if let Some(n) = cfg.subscribers {
        return fanout::run(cfg, n, out_dir, stop, placement, machine);
    }
    let env = Environment::current();
    let started = crate::results::rfc3339_now();

    let topo = Topology::create(TopologyOptions {
        mtu: cfg.mtu as u32,
        ..TopologyOptions::default()
    })
    .context("setting up the two-namespace veth topology")?;
    let topo = Arc::new(topo);
    // Probes attach before the timed threads start and stay for the whole run.
    let probes = crate::probe_run::start(cfg, &topo)?;
    // The capture starts before the loops (warm-up included) and stops after them.
    let capture = match &cfg.pcap {
        Some(file) => Some(crate::capture_run::start(&topo, file)?),
        None => None,
    };
    let run_id = cfg.run_id();
    let mut rows = Rows {
        cfg,
        run_id: &run_id,
        rows: Vec::new(),
        placement,
        sched: Vec::new(),
        shared_cpu: Vec::new(),
    };
    let mut samples = Vec::new();
    let mut report = vec![format!(
        "uadpbench run {run_id}: {} mode, {}-byte UADP messages, warm-up of {} message(s) excluded",
        cfg.mode.name(),
        cfg.payload_bytes,
        cfg.warmup
    )];
    if let Some(l) = cfg.layout.as_ref().and_then(|l| l.resolve().ok()) {
        report.extend(
            l.describe()
                .into_iter()
                .map(|line| format!("  layout {line}")),
        );
        report.push(format!("  timing: {}", cfg.timing_source()));
    }

    report.push(format!("  {}", placement.describe()));
    let window = TimedWindow::start(cfg, &placement, &machine, &mut report)?;

    let mut kernel_stamps = KernelStamps::default();
    let measured = workload(cfg.mode).run(
        &Stage {
            cfg,
            topo: &topo,
            codec,
            stop: &stop,
            run_id: &run_id,
        },
        &mut Collected {
            rows: &mut rows,
            samples: &mut samples,
            report: &mut report,
            kernel_stamps: &mut kernel_stamps,
        },
    );
    let timed = window.stop();
    // Interrupted = the signal cut the measurement short, not one that came after the loops
    // had sent every message (flood runs end by time: any signal during them counts).
    let sent = rows
        .rows
        .iter()
        .find(|r| r.metric == "messages" && r.statistic == "sent")
        .map_or(0, |r| r.value as u64);
    let interrupted = cut_short(
        stop.load(Ordering::Relaxed),
        cfg.mode,
        sent,
        cfg.measured_count(),
    );
    let capture_stats = match (capture, measured) {
        (Some(c), Ok(())) => Some(c.finish()?),
        (Some(c), Err(e)) => {
            c.abort();
            return Err(e);
        }
        (None, r) => {
            r?;
            None
        }
    };
    if let (Some(s), Some(file)) = (&capture_stats, &cfg.pcap) {
        rows.push("capture", "frames", s.frames as f64, "frames");
        rows.push("capture", "kernel_drops", s.kernel_drops as f64, "frames");
        report.push(format!(
            "  pcap: {} benchmark frame(s) received on B's veth (warm-up included) written to {}{}",
            s.frames,
            file.display(),
            if s.kernel_drops > 0 {
                format!(
                    ", {} dropped by the kernel (capture buffer full)",
                    s.kernel_drops
                )
            } else {
                String::new()
            }
        ));
    }
    let probe_outcome = match probes {
        Some(session) => Some(crate::probe_run::finish(
            session,
            cfg,
            &run_id,
            &samples,
            out_dir,
            &kernel_stamps,
        )?),
        None => None,
    };
    // The clock cross-check: with probes it was done in `finish` (with the layer stamps).
    let clock_check = match (&probe_outcome, &kernel_stamps.clock) {
        (Some(p), _) => p.clock.clone(),
        (None, Some(c)) => Some(crate::clock_check::evaluate(&run_id, c, &samples, None)),
        (None, None) => None,
    };
    let clock_meta = match &clock_check {
        Some(c) => Some(write_clock_check(c, out_dir, &mut report, &mut rows)?),
        None => None,
    };
    if let Some(p) = &probe_outcome {
        report.extend(p.report.iter().cloned());
        let one_cpu = matches!(
            (rows.placement.cpu_a, rows.placement.cpu_b),
            (Some(a), Some(b)) if a == b
        );
        if one_cpu && p.per_message_ns.is_some() {
            report.push(
                "  both timed threads share one CPU: the compensated p50 (summary.csv *_compensated) takes every program's cost per message (BPF time + dispatch) out, not only the path's runs — on one CPU the sides take turns and every program run lies on the round trip".into(),
            );
        }
        rows.push_compensated(p.per_message_ns, p.on_path_ns, one_cpu);
        if let Some(d) = p.dispatch_per_message_ns {
            rows.push("probe_cost", "dispatch_per_message", d, "ns");
        }
        for (metric, statistic, value, unit) in &p.summary {
            rows.push(metric, statistic, *value, unit);
        }
    }

    let topology_meta = serde_json::json!({
        "kind": "two network namespaces joined by a veth pair",
        "a": { "netns": topo.a().netns(), "ifname": topo.a().ifname(), "ipv4": topo.a().ipv4().to_string() },
        "b": { "netns": topo.b().netns(), "ifname": topo.b().ifname(), "ipv4": topo.b().ipv4().to_string() },
        "mtu": cfg.mtu,
    });
    match Arc::try_unwrap(topo) {
        Ok(t) => t.destroy().context("removing the topology")?,
        Err(_) => bail!("internal error: a measurement thread still holds the topology"),
    }

    write_results(
        out_dir,
        RunRecord {
            cfg,
            run_id: &run_id,
            rows,
            samples,
            report,
            placement,
            machine,
            timed,
            env,
            started,
            interrupted,
        },
        topology_meta,
        MetaSections {
            probes: probe_outcome.as_ref().map(|p| p.meta.clone()),
            clock_check: clock_meta,
            capture: capture_stats.map(|s| {
                serde_json::json!({
                    "file": cfg.pcap.as_ref().map(|f| f.display().to_string()),
                    "interface": "veth of namespace B (receiving side), received frames only",
                    "frames": s.frames,
                    "other_frames": s.other_frames,
                    "kernel_drops": s.kernel_drops,
                    "timestamps": "CLOCK_REALTIME when the capture thread read the frame (not the benchmark clock)",
                    "includes_warmup": true,
                })
            }),
            peer: None,
            fanout: None,
        },
    )
}

/// The local machine's conditions around the timed part of a run: PM QoS held, idle and steal
/// counters of the timed CPUs read before and after.
struct TimedWindow {
    timed_cpus: Vec<usize>,
    pm_qos: Option<crate::conditions::PmQosGuard>,
    idle_before: IdleCounters,
    steal_before: StealCounters,
    started: std::time::Instant,
}

/// What [`TimedWindow::stop`] measured.
struct TimedConditions {
    timed_cpus: Vec<usize>,
    idle_during: Vec<crate::conditions::IdleDelta>,
    steal_ms: std::collections::BTreeMap<usize, f64>,
    timed_ms: f64,
}

impl TimedWindow {
    /// Holds PM QoS as configured (reporting it) and reads the counters of the CPUs the
    /// placement pins (all usable CPUs when nothing is pinned).
    fn start(
        cfg: &RunConfig,
        placement: &ResolvedPlacement,
        machine: &MachineConditions,
        report: &mut Vec<String>,
    ) -> anyhow::Result<TimedWindow> {
        let timed_cpus = match placement.pinned_cpus() {
            p if p.is_empty() => crate::conditions::placement::usable_cpus().unwrap_or_default(),
            p => p,
        };
        report.push(match cfg.idle_latency {
            IdleLatency::Hold(us) => format!(
                "  idle states: PM QoS CPU latency limit {us} µs held while timed (cpuidle driver {})",
                machine.cpuidle_driver.as_deref().unwrap_or("none")
            ),
            IdleLatency::Off => format!(
                "  idle states: not controlled (--idle-latency-us off; cpuidle driver {})",
                machine.cpuidle_driver.as_deref().unwrap_or("none")
            ),
        });
        let pm_qos = cfg
            .idle_latency
            .hold()
            .context("holding the PM QoS CPU latency limit (/dev/cpu_dma_latency)")?;
        // A CPU that was already halted when the request was made is woken by it; give it a
        // moment so that its earlier idle period is not counted as entered during the run.
        if pm_qos.is_some() {
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(TimedWindow {
            idle_before: IdleCounters::read(&timed_cpus),
            steal_before: StealCounters::read(),
            started: std::time::Instant::now(),
            timed_cpus,
            pm_qos,
        })
    }

    /// Reads the counters again and releases PM QoS.
    fn stop(self) -> TimedConditions {
        let idle_during = self
            .idle_before
            .delta(&IdleCounters::read(&self.timed_cpus));
        let steal_ms = self
            .steal_before
            .delta_ms(&StealCounters::read(), &self.timed_cpus);
        let timed_ms = self.started.elapsed().as_secs_f64() * 1e3;
        drop(self.pm_qos);
        TimedConditions {
            timed_cpus: self.timed_cpus,
            idle_during,
            steal_ms,
            timed_ms,
        }
    }
}

/// The roles of fan-out subscribers that share a CPU with another subscriber: `cpus[i]` is
/// where subscriber i + 1 ran, as (machine, CPU) — `None` for an unpinned thread, which
/// shares nothing it can name.
fn subscribers_sharing_a_cpu<K: Eq>(cpus: &[Option<K>]) -> Vec<String> {
    cpus.iter()
        .enumerate()
        .filter(|(i, c)| {
            c.as_ref().is_some_and(|c| {
                cpus.iter()
                    .enumerate()
                    .any(|(j, d)| j != *i && d.as_ref() == Some(c))
            })
        })
        .map(|(i, _)| format!("subscriber{}", i + 1))
        .collect()
}

/// Writes clock_check.csv, adds its lines to the report and its statistics to summary.csv,
/// and returns meta.json's `clock_check`.
fn write_clock_check(
    c: &crate::clock_check::ClockCheck,
    out_dir: &Path,
    report: &mut Vec<String>,
    rows: &mut Rows<'_>,
) -> anyhow::Result<serde_json::Value> {
    let (lines, meta) = crate::clock_check::write(c, out_dir)?;
    report.extend(lines);
    for (stamp, reference) in crate::clock_check::COMPARISONS {
        let d = c.deltas(stamp, reference.name());
        if let Some(stats) = crate::stats::signed_rows(&d) {
            let metric = format!("clock_{stamp}_to_{}", reference.name());
            for (stat, v) in stats {
                rows.push(
                    &metric,
                    stat,
                    v,
                    if stat == "count" { "messages" } else { "ns" },
                );
            }
        }
    }
    Ok(meta)
}

/// meta.json's optional sections (see [`RunMeta`]).
#[derive(Default)]
pub(super) struct MetaSections {
    probes: Option<serde_json::Value>,
    clock_check: Option<serde_json::Value>,
    capture: Option<serde_json::Value>,
    peer: Option<serde_json::Value>,
    fanout: Option<serde_json::Value>,
}

/// Everything a measured run hands to [`write_results`].
struct RunRecord<'c> {
    cfg: &'c RunConfig,
    run_id: &'c str,
    rows: Rows<'c>,
    samples: Vec<crate::results::SampleRow>,
    report: Vec<String>,
    placement: ResolvedPlacement,
    machine: MachineConditions,
    timed: TimedConditions,
    env: Environment,
    started: Option<String>,
    interrupted: bool,
}

/// The end of every run: quality flags from what could not be controlled (modes, migrations,
/// deep idle, steal) with their warnings, then summary.csv, samples.csv and meta.json (last:
/// it marks the run complete). `topology` is meta.json's "topology"; `extra` its optional
/// sections.
fn write_results(
    out_dir: &Path,
    record: RunRecord<'_>,
    topology: serde_json::Value,
    extra: MetaSections,
) -> anyhow::Result<RunOutcome> {
    let RunRecord {
        cfg,
        run_id,
        mut rows,
        samples,
        mut report,
        placement,
        machine,
        timed,
        env,
        started,
        interrupted,
    } = record;
    let TimedConditions {
        timed_cpus,
        idle_during,
        steal_ms,
        timed_ms,
    } = timed;
    // What could not be controlled.
    let main_latencies: Vec<u64> = samples
        .iter()
        .filter_map(|s| s.rtt_ns.or(s.one_way_ns))
        .collect();
    let modes = find_modes(&main_latencies);
    let mut flags = Vec::new();
    if modes.is_some() {
        flags.push(QualityFlag::Multimodal);
    }
    let migrated: Vec<&(String, SchedDelta)> = rows
        .sched
        .iter()
        .filter(|(_, s)| {
            s.migrations.is_some_and(|m| m > 0)
                || (s.first_cpu.is_some() && s.first_cpu != s.last_cpu)
        })
        .collect();
    if !migrated.is_empty() {
        flags.push(QualityFlag::Migrated);
    }
    let deep_idle = deep_idle_entries(&idle_during);
    if deep_idle > 0 {
        flags.push(QualityFlag::DeepIdle);
    }
    let steal_max_ms = steal_ms.values().copied().fold(0.0, f64::max);
    let stolen = timed_ms > 0.0 && steal_max_ms > 0.01 * timed_ms;
    if stolen {
        flags.push(QualityFlag::Steal);
    }
    let quality = quality_label(&flags);
    for r in &mut rows.rows {
        r.quality = quality.clone();
    }
    if let Some(m) = &modes {
        report.push(format!(
            "  WARNING: two separated modes around {} and {} µs ({:.0} % in the upper one): the result mixes two conditions{}",
            fmt_us(m.low_ns),
            fmt_us(m.high_ns),
            m.high_fraction * 100.0,
            if placement.placement == Placement::None {
                " — the threads were not pinned (--placement none)"
            } else {
                ""
            }
        ));
    }
    for (role, s) in &migrated {
        report.push(format!(
            "  WARNING: the {role} thread migrated between CPUs {} time(s) during the run (CPU {} → {}): pin it with --placement",
            s.migrations.unwrap_or(1),
            s.first_cpu.map_or("?".into(), |c| c.to_string()),
            s.last_cpu.map_or("?".into(), |c| c.to_string()),
        ));
    }
    if deep_idle > 0 {
        report.push(format!(
            "  WARNING: the timed CPUs entered idle states deeper than polling {deep_idle} time(s) ({}): waking them adds latency; keep the default --idle-latency-us 0",
            idle_during
                .iter()
                .filter(|d| !d.polling && d.entries > 0)
                .map(|d| format!("CPU {} {} ×{}", d.cpu, d.state, d.entries))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if stolen {
        report.push(format!(
            "  WARNING: the hypervisor ran something else on the timed vCPUs for {steal_max_ms:.1} ms of the {timed_ms:.0} ms run (steal time): the latencies include waiting for the host"
        ));
    }
    // Where each timed thread's time went (schedstat): a thread that waits for a CPU while
    // runnable is being delayed by something else on its CPU.
    for (role, s) in &rows.sched {
        if let (Some(on), Some(wait), true) = (s.on_cpu_ns, s.runqueue_wait_ns, s.window_ns > 0) {
            let pct = |v: u64| 100.0 * v as f64 / s.window_ns as f64;
            let asleep = s.window_ns.saturating_sub(on).saturating_sub(wait);
            report.push(format!(
                "  {role} thread: on a CPU {:.0} %, runnable but waiting for a CPU {:.1} %, asleep (or its vCPU stolen) {:.0} % of its loop{}",
                pct(on),
                pct(wait),
                pct(asleep),
                if pct(wait) > 5.0 && rows.shared_cpu.contains(role) {
                    " — the other subscribers share its CPU (waking one after another is part of what a fan-out run measures)"
                } else if pct(wait) > 5.0 {
                    " — something else ran on its CPU: see the conditions check"
                } else {
                    ""
                }
            ));
        }
    }
    // What the transports did differently from what was asked (both hosts' for a run
    // across hosts).
    let transport_notes = cfg.path_options.notes.snapshot();
    for note in &transport_notes {
        report.push(format!("  NOTE: {note}"));
    }
    report.push(format!("  quality: {quality}"));
    let conditions_meta = RunConditions {
        placement,
        idle_latency_us: cfg.idle_latency.to_string(),
        pm_qos: match cfg.idle_latency {
            IdleLatency::Hold(us) => format!("/dev/cpu_dma_latency held at {us} µs from before the timed threads started until they ended"),
            IdleLatency::Off => "not held".into(),
        },
        timed_cpus,
        idle_during_run: idle_during,
        steal_ms_during_run: steal_ms,
        timed_ms,
        threads: rows
            .sched
            .iter()
            .map(|(role, s)| ThreadConditions {
                role: role.clone(),
                migrations: s.migrations,
                involuntary_switches: s.involuntary_switches,
                voluntary_switches: s.voluntary_switches,
                first_cpu: s.first_cpu,
                last_cpu: s.last_cpu,
                window_ns: s.window_ns,
                on_cpu_ns: s.on_cpu_ns,
                runqueue_wait_ns: s.runqueue_wait_ns,
                window: "the timed loop, warm-up included".into(),
            })
            .collect(),
        machine,
        quality,
        modes,
    };

    results::write_csv(&out_dir.join("summary.csv"), &rows.rows)?;
    if !samples.is_empty() {
        results::write_csv(&out_dir.join("samples.csv"), &samples)?;
    }
    let meta = RunMeta {
        run_id: run_id.to_owned(),
        started_utc: started,
        finished_utc: crate::results::rfc3339_now(),
        config: cfg,
        environment: env,
        topology,
        conditions: conditions_meta,
        interrupted,
        message_layout: match &cfg.layout {
            None => "UADP-Periodic-Fixed (Part 14 A.2.1), RawData fields: UInt64 send time (CLOCK_MONOTONIC ns), UInt64 packet id, ByteString filler".to_owned(),
            Some(l) => l.resolve().map(|l| l.describe().join("; ")).unwrap_or_default(),
        },
        timing_source: cfg.timing_source(),
        probes: extra.probes,
        clock_check: extra.clock_check,
        capture: extra.capture,
        peer: extra.peer,
        fanout: extra.fanout,
        transport_notes,
    };
    results::write_json(&out_dir.join("meta.json"), &meta)?;
    let summary = rows.rows;
    Ok(RunOutcome {
        run_id: run_id.to_owned(),
        dir: out_dir.to_owned(),
        summary,
        report,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::subscribers_sharing_a_cpu;

    #[test]
    fn subscribers_share_a_cpu_only_with_the_same_machine_and_cpu() {
        assert_eq!(
            subscribers_sharing_a_cpu(&[Some(1), Some(1), Some(2)]),
            ["subscriber1", "subscriber2"]
        );
        assert!(subscribers_sharing_a_cpu::<usize>(&[None, None]).is_empty());
        assert!(subscribers_sharing_a_cpu(&[Some(("host-a", 1)), Some(("host-b", 1))]).is_empty());
        assert!(subscribers_sharing_a_cpu(&[Some(3)]).is_empty());
    }
}
