//! Kernel probes during a run: start a probe session for the run's path and topology before
//! the timed threads start, and afterwards turn its report into layers.csv (one row per packet
//! per layer), segments.csv (statistics of each consecutive layer-to-layer segment, from the
//! user-space send to the user-space receive, so that the segments add up to the end-to-end
//! latency), probe_cost.csv (BPF run time per program) and probe_layers.csv (what attached,
//! how, or why not, and every lost event).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;
use uadpbench_probes::{ProbeConfig, ProbeReport, ProbeSession};
use uadpbench_sender::transport::PathKind;
use uadpbench_topology::Topology;

use crate::results::{self, SampleRow};
use crate::run::RunConfig;

/// Starts a session for `cfg` (None when probes are off), tracing both ends of the topology.
pub fn start(cfg: &RunConfig, topo: &Topology) -> anyhow::Result<Option<ProbeSession>> {
    let Some(spec) = SessionSpec::of(cfg)? else {
        return Ok(None);
    };
    start_session(
        &spec,
        vec![
            topo.a().netns_path().to_owned(),
            topo.b().netns_path().to_owned(),
        ],
    )
    .map(Some)
}

/// What one host's probe session traces: a local run's (both ends), or one end's of a run
/// across hosts (this host's, or the agent's from [`crate::remote::RemoteProbeParams`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    pub path: PathKind,
    pub selection: uadpbench_probes::Selection,
    pub slots: u32,
    pub stats: StatsMode,
    /// Warm-up messages (the calibration window of [`StatsMode::Calibrate`]).
    pub warmup: u64,
    /// `--trace`: record context switches too.
    pub sched_switch: bool,
    /// `--probes-mode histogram`: in-kernel histograms of the packets after the warm-up.
    pub histogram: bool,
}

impl SessionSpec {
    /// The session of `cfg` (`None` when it has no probes and no trace).
    pub fn of(cfg: &RunConfig) -> anyhow::Result<Option<Self>> {
        let mut selection = cfg
            .probe_selection()
            .map_err(|e| anyhow::anyhow!("--probes: {e}"))?;
        if selection == uadpbench_probes::Selection::None {
            if cfg.trace.is_none() {
                return Ok(None);
            }
            // A trace needs the layer stamps: --trace implies --probes all.
            selection = uadpbench_probes::Selection::All;
        }
        let (slots, warning) = slots_for(cfg);
        if let Some(w) = warning {
            eprintln!("warning: {w}");
        }
        Ok(Some(SessionSpec {
            path: cfg.path,
            selection,
            slots,
            stats: StatsMode::from_env().map_err(|e| anyhow::anyhow!("{e}"))?,
            warmup: cfg.warmup,
            // --trace: context switches too (every CPU, for the whole run: the window is cut
            // out afterwards).
            sched_switch: cfg.trace.is_some(),
            histogram: cfg.probes_mode == crate::run::ProbesMode::Histogram,
        }))
    }
}

/// Starts a session of `spec` tracing the devices of the network namespaces `netns` (their
/// files, at most two) and the threads of this process.
pub fn start_session(
    spec: &SessionSpec,
    netns: Vec<std::path::PathBuf>,
) -> anyhow::Result<ProbeSession> {
    let path = spec.path;
    let mut pc = ProbeConfig::new(path);
    pc.selection = spec.selection.clone();
    pc.slots = spec.slots;
    pc.netns = netns;
    // BPF run-time statistics: on for the warm-up (calibration), off for the measured packets,
    // unless asked otherwise (they add two clock reads to every program run).
    pc.stats = match spec.stats {
        StatsMode::Calibrate => spec.warmup > 0,
        StatsMode::Run => true,
        StatsMode::Off => false,
    };
    pc.sched_switch = spec.sched_switch;
    pc.tx_chain = tx_chain_from_env()?;
    // With a calibration window, also measure what the hooks cost beyond the programs.
    if pc.stats {
        pc.dispatch = Some(uadpbench_probes::DispatchConfig::default());
    }
    if spec.histogram {
        pc.histogram = Some(uadpbench_probes::HistogramConfig {
            first_packet: u32::try_from(spec.warmup).map_err(|_| {
                anyhow::anyhow!(
                    "--probes-mode histogram: a warm-up of {} messages is more than the probes count from (at most {})",
                    spec.warmup,
                    u32::MAX
                )
            })?,
        });
    }
    let mut session = ProbeSession::start(pc)
        .context("starting the kernel probes (uadpbench doctor shows what this kernel allows)")?;
    // The xdp path's own XDP program stamps arrivals (`xdp_stamps`, set for probe runs).
    let xdp_selected = session.layers().iter().any(|s| {
        s.layer == uadpbench_probes::LayerId::XdpIngress
            && s.selected != uadpbench_probes::Selected::No
    });
    if path == PathKind::Xdp && xdp_selected {
        session.record_external(
            uadpbench_probes::LayerId::XdpIngress,
            uadpbench_probes::Mechanism::Xdp,
        );
    }
    if spec.stats == StatsMode::Calibrate {
        // Packet ids 0..warmup are the warm-up: the first stamp of the first measured packet
        // ends the calibration window.
        session
            .stop_stats_at_packet(spec.warmup)
            .context("starting the probe cost calibration")?;
    }
    Ok(session)
}

/// Name of the environment variable that turns the transmit-chain cache off (`off`): every
/// transmit layer then reads the frame itself (to measure what the cache saves).
pub const TX_CHAIN_ENV: &str = "UADPBENCH_PROBE_TX_CHAIN";

/// Whether the probes parse a transmitted frame once per `dev_queue_xmit` call
/// ([`TX_CHAIN_ENV`]: unset, empty or `on`: yes; `off`: no).
pub fn tx_chain_from_env() -> anyhow::Result<bool> {
    match std::env::var(TX_CHAIN_ENV) {
        Err(_) => Ok(true),
        Ok(v) => match v.trim() {
            "" | "on" => Ok(true),
            "off" => Ok(false),
            other => anyhow::bail!(
                "{TX_CHAIN_ENV}={other:?}: use on (default: transmit layers reuse what net_dev_queue read) or off (every layer reads the frame)"
            ),
        },
    }
}

/// Name of the environment variable that says when the probes' BPF run-time statistics
/// (`BPF_ENABLE_STATS`, the source of probe_cost.csv) are on.
pub const STATS_ENV: &str = "UADPBENCH_PROBE_STATS";

/// When the probes' BPF run-time statistics are on ([`STATS_ENV`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatsMode {
    /// During the warm-up only (default): probe_cost.csv comes from the warm-up packets, the
    /// measured packets run without the statistics' clock reads.
    Calibrate,
    /// For the whole run (measured packets included, as before).
    Run,
    /// Never: probe_cost.csv has run counts of 0.
    Off,
}

impl StatsMode {
    /// `calibrate`, `run`, `off`.
    pub const fn name(self) -> &'static str {
        match self {
            StatsMode::Calibrate => "calibrate",
            StatsMode::Run => "run",
            StatsMode::Off => "off",
        }
    }

    /// From [`STATS_ENV`] (unset or empty: [`StatsMode::Calibrate`]).
    pub fn from_env() -> Result<Self, String> {
        match std::env::var(STATS_ENV) {
            Err(_) => Ok(StatsMode::Calibrate),
            Ok(v) => Self::parse(&v).map_err(|e| format!("{STATS_ENV}={e}")),
        }
    }

    /// `calibrate` (also the empty string), `run` or `off`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "calibrate" => Ok(StatsMode::Calibrate),
            "run" => Ok(StatsMode::Run),
            "off" => Ok(StatsMode::Off),
            other => Err(format!(
                "{other:?}: use calibrate (default: BPF statistics during the warm-up only), run (the whole run) or off"
            )),
        }
    }
}

/// meta.json's description of the window probe_cost.csv covers.
fn stats_meta(report: &ProbeReport, cfg: &RunConfig) -> serde_json::Value {
    let w = report.stats_window;
    let mode = StatsMode::from_env().unwrap_or(StatsMode::Calibrate);
    let window = match (w.on_ns, w.off_ns, w.off_at_packet) {
        (None, _, _) => "none".to_owned(),
        (Some(_), Some(_), Some(p)) => {
            format!("calibration: warm-up packets 0..{p}, off at the first stamp of packet {p}")
        }
        (Some(_), Some(_), None) => {
            "stopped before a packet was stamped: no calibrated cost".to_owned()
        }
        (Some(_), None, _) if mode == StatsMode::Calibrate => {
            "whole run (the first measured packet was never stamped)".to_owned()
        }
        (Some(_), None, _) => "whole run".to_owned(),
    };
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .ok()
        .map(|s| s.trim() == "1");
    serde_json::json!({
        "mode": mode.name(),
        "window": window,
        "on_ns": w.on_ns,
        "off_ns": w.off_ns,
        "off_at_packet": w.off_at_packet,
        "warmup_messages": cfg.warmup,
        "kernel_bpf_stats_enabled": sysctl,
    })
}

/// meta.json's `probes.dispatch`: what a tracepoint hit cost beyond its program on this host
/// (and, across hosts, on the agent's), or why it was not measured.
fn dispatch_meta(
    near: Option<&Result<uadpbench_probes::DispatchCost, String>>,
    far: Option<Option<&uadpbench_probes::DispatchCost>>,
) -> serde_json::Value {
    let near = match near {
        None => {
            serde_json::json!({"measured": false, "why": "BPF statistics off (UADPBENCH_PROBE_STATS=off): no calibration"})
        }
        Some(Err(e)) => serde_json::json!({"measured": false, "why": e}),
        Some(Ok(d)) => serde_json::json!({"measured": true, "cost": d}),
    };
    serde_json::json!({
        "what": "ns per call on one CPU, batches timed on the thread CPU clock: tracepoint / btf_tracepoint = one hit of an empty classic / BTF program on task_rename (prctl PR_SET_NAME minus PR_GET_NAME, against the same difference with nothing attached; medians over the batches); *_counted_ns = what BPF statistics count for one run of that empty program; syscall = getppid with nothing attached; syscall_tracing = getppid with a program on an unused system-call tracepoint minus syscall (the slow system-call path, not paired, reported only). The compensation adds hit minus counted to every run of that mechanism (docs/probes.md, What a hook costs beyond its program)",
        "this_host": near,
        "agent": far.map(|f| match f {
            Some(d) => serde_json::json!({"measured": true, "cost": d}),
            None => serde_json::json!({"measured": false}),
        }),
    })
}

/// Recorded stamps of a layer (0 if not recorded).
fn recorded(report: &ProbeReport, id: uadpbench_probes::LayerId) -> u64 {
    report
        .lost_per_layer
        .iter()
        .find(|l| l.layer == id)
        .map_or(0, |l| l.recorded)
}

/// meta.json's account of the wake-up layers (warm-up included): how many received packets
/// found their receiver asleep (`applicable`), and how many of them each layer stamped.
fn wake_meta(report: &ProbeReport) -> serde_json::Value {
    use uadpbench_probes::LayerId;
    let Some(w) = report
        .lost_per_layer
        .iter()
        .find(|l| l.layer == LayerId::SchedWaking)
    else {
        return serde_json::Value::Null;
    };
    let mut m = serde_json::Map::new();
    m.insert("applicable".into(), w.applicable.into());
    for id in [
        LayerId::SkDataReady,
        LayerId::SchedWaking,
        LayerId::IpiSend,
        LayerId::CpuIdleExit,
        LayerId::SchedSwitchIn,
    ] {
        m.insert(id.name().into(), recorded(report, id).into());
    }
    serde_json::Value::Object(m)
}

/// One report line about the wake-up layers.
fn wake_line(report: &ProbeReport) -> Option<String> {
    use uadpbench_probes::LayerId;
    let w = report
        .lost_per_layer
        .iter()
        .find(|l| l.layer == LayerId::SchedWaking)?;
    Some(format!(
        "  wake-up layers (warm-up included): the receiver slept until its packet for {} packet(s); stamped: sched_waking {}, sched_switch_in {}, sk_data_ready {}, ipi_send {} (an interrupt was needed), cpu_idle_exit {} (its CPU was idle)",
        w.applicable,
        w.recorded,
        recorded(report, LayerId::SchedSwitchIn),
        recorded(report, LayerId::SkDataReady),
        recorded(report, LayerId::IpiSend),
        recorded(report, LayerId::CpuIdleExit),
    ))
}

/// One report line about the stats window.
fn stats_line(report: &ProbeReport) -> String {
    let w = report.stats_window;
    match (w.on_ns, w.off_ns, w.off_at_packet) {
        (None, _, _) => format!(
            "  probe cost: not measured (BPF statistics off: {}; {STATS_ENV}=run measures it during the run)",
            report.stats_error.as_deref().unwrap_or("off")
        ),
        (Some(on), Some(off), Some(p)) => format!(
            "  probe cost (probe_cost.csv): calibrated on the warm-up (packets 0..{p}, {:.1} ms with BPF statistics on); measured packets ran without them",
            (off.saturating_sub(on)) as f64 / 1e6
        ),
        (Some(_), Some(_), None) => "  probe cost (probe_cost.csv): BPF statistics stopped before a packet was stamped (a host whose session stamps nothing of its own): not calibrated".to_owned(),
        (Some(_), _, _) => "  probe cost (probe_cost.csv): BPF statistics on for the whole run (they add two clock reads to every program run)".to_owned(),
    }
}

/// Adds the XDP program's arrival stamps to the report as the `xdp_ingress` layer (one
/// crossing per side), with their accounting.
fn merge_xdp_stamps(
    report: &mut ProbeReport,
    xdp: &[(u8, uadpbench_sender::transport::XdpStamps)],
) {
    use uadpbench_probes::{LayerEvent, LayerId};
    let Some(index) = report
        .layers
        .iter()
        .find(|s| s.layer == LayerId::XdpIngress && s.recorded())
        .map(|s| s.layer_index as u16)
    else {
        return;
    };
    let mut written = 0;
    let mut overwritten = 0;
    let mut merged = 0;
    for (crossing, x) in xdp {
        written += x.stamped;
        overwritten += x.overwritten;
        for s in &x.stamps {
            report.events.push(LayerEvent {
                packet_id: s.packet_id,
                layer: LayerId::XdpIngress,
                layer_index: index,
                crossing: *crossing,
                t_ns: s.t_ns,
                cpu: s.cpu,
                tid: s.tid,
            });
            merged += 1;
        }
    }
    if let Some(l) = report
        .lost_per_layer
        .iter_mut()
        .find(|l| l.layer == LayerId::XdpIngress)
    {
        l.recorded = written;
        l.drained = merged;
        l.overwritten = overwritten;
    }
}

#[derive(Debug, Serialize)]
struct LayerRow<'a> {
    run_id: &'a str,
    seq: u16,
    packet_id: u64,
    layer: &'static str,
    layer_index: u16,
    crossing: u8,
    t_ns: u64,
    cpu: u32,
    tid: u32,
}

pub use crate::schema::SegmentRow;

#[derive(Debug, Serialize)]
struct ProbeCostRow<'a> {
    run_id: &'a str,
    program: String,
    role: String,
    mechanism: String,
    run_count: u64,
    run_time_ns: u64,
    ns_per_run: Option<f64>,
    missed_runs: u64,
    events_recorded: u64,
    events_lost: u64,
    /// `both` (one session traced both ends: a local run), `a` (this host's end of a run
    /// across hosts, or side A's XDP program), `b` (the agent's, or side B's XDP program).
    side: &'static str,
}

#[derive(Debug, Serialize)]
struct LayerStatusRow<'a> {
    run_id: &'a str,
    layer: &'static str,
    direction: String,
    layer_index: usize,
    attached: bool,
    outcome: String,
    condition: &'static str,
    recorded: u64,
    drained: u64,
    overwritten: u64,
    extra_crossings: u64,
    read_failures: u64,
    mismatches: u64,
    stale_matches: u64,
    missed_runs: u64,
    lost: u64,
    coverage_crossing0: Option<f64>,
    coverage_crossing1: Option<f64>,
    chain_hits: u64,
}

/// What the probes contributed to a run.
#[derive(Debug, Default)]
pub struct ProbeOutcome {
    pub segments: Vec<SegmentRow>,
    pub report: Vec<String>,
    pub meta: serde_json::Value,
    /// The SO_TIMESTAMPING cross-check against the layer stamps (`--so-timestamping`).
    pub clock: Option<crate::clock_check::ClockCheck>,
    /// The probes' calibrated cost per benchmark message: BPF run time plus the hooks'
    /// dispatch (ns; `None`: not calibrated).
    pub per_message_ns: Option<f64>,
    /// The dispatch's part of `per_message_ns` (ns).
    pub dispatch_per_message_ns: Option<f64>,
    /// The part of it on the packet's path: one run of each program whose stamp ends a
    /// segment of the chain (ns). `None` in histogram mode (no chain).
    pub on_path_ns: Option<f64>,
    /// More summary.csv statistics (histogram mode: each point's time since the reference).
    pub summary: Vec<crate::analysis::histograms::SummaryStat>,
}

/// Most packet slots of the stamp map (182 MB of stamps at 1 392 bytes per slot).
pub const MAX_PROBE_SLOTS: u32 = 1 << 17;

/// Packet slots for a run: enough for every message of a ping-pong or cyclic run (warm-up
/// included), so that no stamp is overwritten before the run ends, up to [`MAX_PROBE_SLOTS`].
/// Beyond that the stamps of older packets are overwritten (counted in probe_layers.csv), which
/// the returned warning says before the run.
pub fn slots_for(cfg: &RunConfig) -> (u32, Option<String>) {
    use uadpbench_probes::PROBE_DEFAULT_SLOTS;
    if cfg.probes_mode == crate::run::ProbesMode::Histogram {
        // Only the packets in flight need their stamps (each is counted when written).
        return (PROBE_DEFAULT_SLOTS, None);
    }
    if cfg.mode == crate::run::Mode::Flood {
        return (PROBE_DEFAULT_SLOTS, Some(format!(
            "flood runs keep probe stamps of the last {PROBE_DEFAULT_SLOTS} packet ids only: layer coverage (probe_layers.csv) will be low"
        )));
    }
    let total = cfg.measured_count().saturating_add(cfg.warmup);
    let want = total
        .max(PROBE_DEFAULT_SLOTS as u64)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX);
    if want > MAX_PROBE_SLOTS as u64 {
        return (
            MAX_PROBE_SLOTS,
            Some(format!(
                "{total} messages with probes: the probes keep stamps of {MAX_PROBE_SLOTS} packet ids, so only about the last {MAX_PROBE_SLOTS} packets are stamped (coverage in probe_layers.csv); use --count ≤ {} for full coverage",
                MAX_PROBE_SLOTS as u64 - cfg.warmup.min(MAX_PROBE_SLOTS as u64)
            )),
        );
    }
    (want as u32, None)
}

/// Finishes the session and writes the probe files into `out_dir`.
pub fn finish(
    session: ProbeSession,
    cfg: &RunConfig,
    run_id: &str,
    samples: &[SampleRow],
    out_dir: &Path,
    stamps: &crate::run::KernelStamps,
) -> anyhow::Result<ProbeOutcome> {
    let report = collect(session, &stamps.xdp)?;
    write(report, cfg, run_id, samples, out_dir, stamps, None)
}

/// Ends the session: its report, with the xdp path's arrival stamps of `xdp` merged in.
pub fn collect(
    session: ProbeSession,
    xdp: &[(u8, uadpbench_sender::transport::XdpStamps)],
) -> anyhow::Result<ProbeReport> {
    let mut report: ProbeReport = session
        .finish()
        .context("collecting the probe timestamps")?;
    merge_xdp_stamps(&mut report, xdp);
    Ok(report)
}

/// The agent's probes in a run across hosts ([`write`] merges them with this host's).
pub struct FarProbes<'a> {
    /// What the agent's session reported.
    pub report: &'a crate::remote::RemoteProbeReport,
    /// The agent's CLOCK_MONOTONIC → this host's.
    pub to_controller: &'a dyn Fn(u64) -> u64,
    /// The agent host's name (report lines).
    pub host: &'a str,
    /// How the agent's stamps were put on this host's clock (meta.json, report).
    pub clock: String,
    /// The agent runs on this kernel (the local stand-in): both sessions see every stamp of
    /// a content-only layer ([`crate::remote::probes::content_only`]).
    pub same_kernel: bool,
}

/// `--trace` across hosts: adds the agent host's context switches to `report` on this
/// host's clock, its CPUs numbered from [`crate::trace::FAR_CPU_BASE`] (tracks "agent's host
/// CPU n"); returns report lines. On the local stand-in (`same_kernel`) the agent's switches
/// are this kernel's, already in this session's record of every CPU: they are counted, not
/// added twice.
fn merge_far_sched(report: &mut ProbeReport, far: &FarProbes<'_>) -> Vec<String> {
    let wire = far.report;
    let mut lines = Vec::new();
    if let Some(e) = &wire.sched_error {
        lines.push(format!(
            "  trace: the agent's host ({}) could not record context switches ({e}): no CPU tracks of it",
            far.host
        ));
    }
    if wire.sched.is_empty() {
        return lines;
    }
    if far.same_kernel {
        lines.push(format!(
            "  trace: {} context switch(es) from the agent's host, which runs this kernel: its CPUs are this trace's CPU tracks (shown once)",
            wire.sched.len()
        ));
        return lines;
    }
    let before = report.sched_events.len();
    report
        .sched_events
        .extend(wire.sched.iter().filter_map(|s| {
            crate::remote::probes::far_sched_event(s, far.to_controller, crate::trace::FAR_CPU_BASE)
        }));
    let dropped = wire.sched.len() - (report.sched_events.len() - before);
    if dropped > 0 {
        lines.push(format!(
            "  trace: {dropped} context switch(es) of the agent's host left out: CPU numbers of {} or more (the trace draws at most {} CPUs per host)",
            crate::trace::FAR_CPU_BASE,
            crate::trace::FAR_CPU_BASE
        ));
    }
    report.sched_dropped += wire.sched_dropped;
    lines.push(format!(
        "  trace: {} context switch(es) from the agent's host ({}), {}: tracks \"agent's host CPU n\"",
        wire.sched.len(),
        far.host,
        far.clock
    ));
    lines
}

/// Puts this host's stamps (`report`, the near end of a run across hosts) and the agent's
/// (`far`) into one report in the run's crossing numbering; returns meta.json's account of
/// the agent's side and report lines.
fn merge_far(
    report: &mut ProbeReport,
    far: &FarProbes<'_>,
    path: PathKind,
) -> (serde_json::Value, Vec<String>) {
    use crate::remote::probes::merge_ends;
    let mut lines = vec![format!(
        "  probes on both hosts: this host's session traced side A, the agent's host ({}) side B; the agent's stamps {}",
        far.host, far.clock
    )];
    // This host saw each packet cross each layer once: its session's crossing 0.
    let merged = merge_ends(
        std::mem::take(&mut report.events),
        far.report,
        path,
        far.same_kernel,
        far.to_controller,
    );
    report.events = merged.events;
    let left_out: u64 = merged.left_out.values().sum();
    for wire in &far.report.losses {
        let Some(l) = wire.loss() else { continue };
        match report
            .lost_per_layer
            .iter_mut()
            .find(|m| m.layer == l.layer)
        {
            Some(m) => {
                m.recorded += l.recorded;
                m.drained += l.drained;
                m.overwritten += l.overwritten;
                m.extra_crossings += l.extra_crossings;
                m.read_failures += l.read_failures;
                m.mismatches += l.mismatches;
                m.stale_matches += l.stale_matches;
                m.missed_runs += l.missed_runs;
                m.applicable += l.applicable;
                m.chain_hits += l.chain_hits;
            }
            None => report.lost_per_layer.push(l),
        }
    }
    report.thread_slot_evictions += far.report.thread_slot_evictions;
    report.skb_map_insert_failures += far.report.skb_map_insert_failures;
    lines.extend(merge_far_sched(report, far));
    // A layer the two kernels hook differently (or only one of them can) is said.
    let mut differ = Vec::new();
    for s in &report.layers {
        if let Some(f) = far.report.layers.iter().find(|f| f.layer == s.name) {
            if f.recorded != s.recorded() || f.outcome != s.outcome.to_string() {
                lines.push(format!(
                    "    {}: this host {}; agent's host {}",
                    s.name, s.outcome, f.outcome
                ));
                differ.push(s.name);
            }
        }
    }
    if !differ.is_empty() {
        lines.insert(
            0,
            format!(
                "  probes: {} layer(s) hooked differently on the agent's host {} (probe_layers.csv shows this host's; meta.json probes.agent has the agent's):",
                differ.len(),
                far.host
            ),
        );
    }
    if left_out + merged.unknown > 0 {
        lines.push(format!(
            "  probes: {left_out} stamp(s) left out (a host saw a packet cross a layer twice), {} of layers this version does not know",
            merged.unknown
        ));
    }
    let window = far.report.stats_window();
    let meta = serde_json::json!({
        "host": far.host,
        "clock": far.clock,
        "layers": far.report.layers,
        "stats": {
            "on_ns": window.on_ns,
            "off_ns": window.off_ns,
            "off_at_packet": window.off_at_packet,
            "clock": "the agent's CLOCK_MONOTONIC",
        },
        "stats_error": far.report.stats_error,
        "stamps_left_out": {
            "placed_twice": left_out,
            "by_layer": merged.left_out,
            "unknown_layers": merged.unknown,
        },
        "crossings": if far.same_kernel {
            "one kernel: thread layers by role (the agent's receive layers crossing 0, send layers 1; this host's the other way round); device layers from both sessions in time order, duplicates dropped"
        } else {
            "each host's session sees its half of the path: the agent's stamps of receive layers are crossing 0, of send layers crossing 1; this host's the other way round"
        },
    });
    (meta, lines)
}

/// Writes the probe files of `report` (this host's session; with `far`, merged with the
/// agent's) into `out_dir`.
pub fn write(
    mut report: ProbeReport,
    cfg: &RunConfig,
    run_id: &str,
    samples: &[SampleRow],
    out_dir: &Path,
    stamps: &crate::run::KernelStamps,
    far: Option<FarProbes<'_>>,
) -> anyhow::Result<ProbeOutcome> {
    let clock = stamps.clock.as_ref();
    let (far_meta, mut far_lines) = match &far {
        Some(f) => {
            let (m, l) = merge_far(&mut report, f, cfg.path);
            (Some(m), l)
        }
        None => (None, Vec::new()),
    };
    // Histogram mode across hosts: this host's counts in the run's crossings, and the
    // agent's per-segment histograms beside them.
    if let (Some(f), Some(h)) = (&far, report.histograms.as_mut()) {
        crate::remote::probes::near_histograms_in_run_crossings(h);
        if f.same_kernel {
            far_lines.push(
                "  one kernel (the local stand-in): veth hands a frame to its peer device inside the sender's transmit, so a session can count veth's device-level layers (netif_rx, net_dev_xmit) of the other trip, and histogram mode labels them by its own order — those two points' crossings may name the other trip; events mode orders them by time, and between two hosts this does not occur".into(),
            );
        }
        match &f.report.histograms {
            Some(fh) => {
                let (segments, unknown) = fh.segments();
                h.segments.extend(segments);
                if unknown > 0 {
                    far_lines.push(format!(
                        "  {unknown} segment histogram(s) of {} left out: layers or bucket counts this version does not know (run the same uadpbench version on both hosts)",
                        f.host
                    ));
                }
            }
            None => far_lines.push(format!(
                "  {} sent no histograms: run the same uadpbench version on both hosts",
                f.host
            )),
        }
    }
    let near_end = |l: uadpbench_probes::LayerId, c: u8| {
        c == crate::remote::probes::run_crossing(crate::remote::probes::ProbedEnd::Near, l)
    };
    let side_of = |l: uadpbench_probes::LayerId, c: u8| match (&far, near_end(l, c)) {
        (None, _) => "both",
        (Some(_), true) => "a",
        (Some(_), false) => "b",
    };
    // Lines about the trace, after the probe summary.
    let mut report_lines_pre: Vec<String> = Vec::new();
    let measured: HashMap<u64, &SampleRow> = samples.iter().map(|s| (s.packet_id, s)).collect();
    let received: Vec<&SampleRow> = samples.iter().filter(|s| s.t_recv_ns.is_some()).collect();

    // layers.csv: measured packets only (warm-up excluded, like every statistic).
    let mut events: Vec<_> = report
        .events
        .iter()
        .filter(|e| measured.contains_key(&e.packet_id))
        .collect();
    events.sort_by_key(|e| (e.packet_id, e.crossing, e.layer_index));
    let rows: Vec<LayerRow<'_>> = events
        .iter()
        .map(|e| LayerRow {
            run_id,
            seq: e.packet_id as u16,
            packet_id: e.packet_id,
            layer: e.layer.name(),
            layer_index: e.layer_index,
            crossing: e.crossing,
            t_ns: e.t_ns,
            cpu: e.cpu,
            tid: e.tid,
        })
        .collect();
    // Histogram mode: no stamps left the kernel, so no layers.csv or segments.csv.
    let events_mode = report.histograms.is_none();
    if events_mode {
        results::write_csv(&out_dir.join("layers.csv"), &rows)?;
    }

    let crate::analysis::segments::ChainSegments {
        mut segments,
        mut lines,
        mut coverage,
    } = crate::analysis::segments::chain_segments(run_id, cfg, &events, &received, &report.layers);
    // Histogram mode: no stamps left the kernel; its histograms replace the chain.
    let histograms = report
        .histograms
        .as_ref()
        .map(|h| crate::analysis::histograms::evaluate(run_id, h, received.len() as u64, &side_of));
    if let Some(h) = &histograms {
        lines = h.lines.clone();
        coverage = h
            .counted
            .iter()
            .filter_map(|(layer, crossing, n)| {
                report
                    .layers
                    .iter()
                    .find(|s| s.layer == *layer)
                    .map(|s| ((s.layer_index as u16, *crossing), *n))
            })
            .collect();
        results::write_csv(&out_dir.join("probe_histograms.csv"), &h.rows)?;
    }

    // One session traced both ends (a local run), or this host's end (side A) of a run across
    // hosts, whose agent traced side B.
    let near_side = if far.is_some() { "a" } else { "both" };
    let mut costs: Vec<ProbeCostRow<'_>> = report
        .program_costs
        .iter()
        .map(|c| ProbeCostRow {
            run_id,
            program: c.program.to_owned(),
            role: c.role.to_owned(),
            mechanism: c.mechanism.to_string(),
            run_count: c.run_count,
            run_time_ns: c.run_time_ns,
            ns_per_run: c.ns_per_run,
            missed_runs: c.missed_runs,
            events_recorded: c.events_recorded,
            events_lost: c.events_lost,
            side: near_side,
        })
        .collect();
    // The xdp path's XDP program stamps xdp_ingress: its cost (with the stamping) per side.
    for (crossing, x) in &stamps.xdp {
        if x.run_count == 0 {
            continue;
        }
        // Session crossing 0 is side B's arrivals in a local run; across hosts this host's
        // transport is side A's.
        let side = if far.is_some() || *crossing == 1 {
            "a"
        } else {
            "b"
        };
        costs.push(ProbeCostRow {
            run_id,
            program: "uadpbench_xdp".into(),
            role: format!(
                "xdp path program, side {} (redirect + xdp_ingress stamp)",
                side.to_uppercase()
            ),
            mechanism: "xdp".into(),
            run_count: x.run_count,
            run_time_ns: x.run_time_ns,
            ns_per_run: Some(x.run_time_ns as f64 / x.run_count as f64),
            missed_runs: 0,
            events_recorded: x.stamped,
            events_lost: x.overwritten,
            side,
        });
    }
    if let Some(f) = &far {
        costs.extend(f.report.costs.iter().map(|c| ProbeCostRow {
            run_id,
            program: c.program.clone(),
            role: c.role.clone(),
            mechanism: c.mechanism.clone(),
            run_count: c.run_count,
            run_time_ns: c.run_time_ns,
            ns_per_run: c.ns_per_run,
            missed_runs: c.missed_runs,
            events_recorded: c.events_recorded,
            events_lost: c.events_lost,
            side: "b",
        }));
    }
    results::write_csv(&out_dir.join("probe_cost.csv"), &costs)?;

    // The probes' own cost, taken out of the segments and of the end-to-end latency.
    let messages_of = |w: uadpbench_probes::StatsWindow| -> Option<u64> {
        match (w.on_ns, w.off_ns, w.off_at_packet) {
            (Some(_), Some(_), Some(p)) => Some(p),
            // On for the whole run: every message sent.
            (Some(_), None, _) => Some(cfg.warmup + samples.len() as u64),
            _ => None,
        }
    };
    let near_messages = messages_of(report.stats_window);
    let far_messages = far
        .as_ref()
        .and_then(|f| messages_of(f.report.stats_window()));
    // What each host's hooks cost beyond the programs (measured before its session attached).
    let near_dispatch = report.dispatch.as_ref().and_then(|d| d.as_ref().ok());
    let far_dispatch = far.as_ref().and_then(|f| f.report.dispatch.as_ref());
    let compensation = crate::analysis::compensation::Compensation::from_costs(
        &costs
            .iter()
            .map(|c| {
                // Side B is the agent's host only across hosts; in a local run side B's XDP
                // program ran under this session's statistics window.
                let agent = c.side == "b" && far.is_some();
                let dispatch = if agent { far_dispatch } else { near_dispatch };
                crate::analysis::compensation::CostInput {
                    program: c.program.clone(),
                    run_count: c.run_count,
                    run_time_ns: c.run_time_ns,
                    dispatch_ns: dispatch
                        .and_then(|d| d.per_hit_ns(&c.mechanism))
                        .unwrap_or(0.0),
                    messages: if agent { far_messages } else { near_messages },
                }
            })
            .collect::<Vec<_>>(),
    );
    let program_of: HashMap<&'static str, String> = report
        .layers
        .iter()
        .filter_map(|s| match &s.outcome {
            uadpbench_probes::Outcome::Attached {
                program,
                recorded: true,
                ..
            } => Some((
                s.name,
                if *program == "(external)" {
                    "uadpbench_xdp".to_owned()
                } else {
                    (*program).to_owned()
                },
            )),
            _ => None,
        })
        .collect();
    let mut on_path_ns = None;
    if let Some(c) = compensation.as_ref().filter(|_| histograms.is_none()) {
        let on_path = crate::analysis::compensation::compensate_segments(
            &mut segments,
            |layer| program_of.get(layer).cloned(),
            c,
        );
        on_path_ns = Some(on_path);
        lines.push(format!(
            "  probe cost per message (calibrated BPF run time + tracepoint dispatch): {:.2} µs of every program (dispatch {:.2} µs of it), {:.2} µs on the packet's path (one run of each program whose stamp ends a segment); segments.csv compensated_value takes that run out of its segment, summary.csv *_compensated the path's cost out of the p50",
            c.per_message_ns / 1000.0,
            c.dispatch_per_message_ns / 1000.0,
            on_path / 1000.0
        ));
        if !c.uncalibrated.is_empty() {
            lines.push(format!(
                "  not in the probe cost (their host's statistics were not calibrated): {}",
                c.uncalibrated.join(", ")
            ));
        }
    }
    if events_mode {
        results::write_csv(&out_dir.join("segments.csv"), &segments)?;
    }

    let n_received = received.len().max(1) as f64;
    let losses: HashMap<_, _> = report.lost_per_layer.iter().map(|l| (l.layer, l)).collect();
    let status_rows: Vec<LayerStatusRow<'_>> = report
        .layers
        .iter()
        .map(|s| {
            let l = losses.get(&s.layer);
            let cov = |c: u8| {
                coverage
                    .get(&(s.layer_index as u16, c))
                    .map(|n| *n as f64 / n_received)
            };
            LayerStatusRow {
                run_id,
                layer: s.name,
                direction: format!("{:?}", s.direction).to_lowercase(),
                layer_index: s.layer_index,
                attached: s.recorded(),
                outcome: s.outcome.to_string(),
                condition: s.only_when.unwrap_or(""),
                recorded: l.map_or(0, |l| l.recorded),
                drained: l.map_or(0, |l| l.drained),
                overwritten: l.map_or(0, |l| l.overwritten),
                extra_crossings: l.map_or(0, |l| l.extra_crossings),
                read_failures: l.map_or(0, |l| l.read_failures),
                mismatches: l.map_or(0, |l| l.mismatches),
                stale_matches: l.map_or(0, |l| l.stale_matches),
                missed_runs: l.map_or(0, |l| l.missed_runs),
                lost: l.map_or(0, |l| l.lost()),
                coverage_crossing0: cov(0),
                coverage_crossing1: cov(1),
                chain_hits: l.map_or(0, |l| l.chain_hits),
            }
        })
        .collect();
    results::write_csv(&out_dir.join("probe_layers.csv"), &status_rows)?;

    if let Some(spec) = &cfg.trace {
        if let Some(e) = &report.sched_error {
            report_lines_pre.push(format!(
                "  trace: sched:sched_switch could not be attached ({e}): no CPU tracks"
            ));
        }
        match crate::trace::write(spec, &report, samples) {
            Ok(summary) => report_lines_pre.extend(crate::trace::report_lines(
                &spec.file,
                &summary,
                report.sched_dropped,
            )),
            Err(e) => report_lines_pre.push(format!(
                "  trace: not written to {}: {e:#}",
                spec.file.display()
            )),
        }
    }

    let attached = report.layers.iter().filter(|s| s.recorded()).count();
    let lost: u64 = report.lost_per_layer.iter().map(|l| l.lost()).sum();
    let collected = match &histograms {
        Some(h) => format!(
            "{} stamp(s) of measured packets counted into histograms (probe_histograms.csv)",
            h.counted.iter().map(|c| c.2).sum::<u64>()
        ),
        None => format!("{} event(s) of measured packets", rows.len()),
    };
    let mut report_lines = vec![
        format!("  probes: {attached} layer(s) attached, {collected}, {lost} lost"),
        stats_line(&report),
    ];
    for s in report.layers.iter().filter(|s| !s.recorded()) {
        report_lines.push(format!("    not recorded: {:<26} {}", s.name, s.outcome));
    }
    if let Some(l) = wake_line(&report) {
        report_lines.push(l);
    }
    report_lines.extend(far_lines);
    report_lines.extend(lines);
    report_lines.extend(report_lines_pre);
    let meta = serde_json::json!({
        "selection": cfg.probes,
        "mode": cfg.probes_mode.name(),
        "histogram": report.histograms.as_ref().map(|h| serde_json::json!({
            "reference": uadpbench_probes::point_name(h.reference, 0),
            "first_packet": h.first_packet,
            "buckets": "log2 of ns: bucket b holds [2^b, 2^(b+1)) ns (b = 0: 0 and 1 ns; the last bucket is open-ended)",
            "what": "per (layer, crossing), the time from the packet's stamp at the reference layer (crossing 0) to its stamp there, counted by the probes in per-CPU kernel maps; the mean is exact, quantiles are interpolated inside their bucket",
            "segments_what": "per (layer, crossing), the time from the packet's previous stamp (whichever point wrote it, earlier in time) to its stamp there; from: how many of those segments started at each point; no_previous: stamps without an earlier stamp of their packet (its first stamp, or one written after a later stamp of it on another CPU)",
            "segments": h.segments.iter().map(|s| serde_json::json!({
                "to": uadpbench_probes::point_name(s.to.layer, s.to.crossing),
                "count": s.to.count(),
                "no_previous": s.to.no_reference,
                "from": s.from.iter().map(|&(l, c, n)| serde_json::json!({
                    "point": uadpbench_probes::point_name(l, c),
                    "segments": n,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })),
        "clock": "bpf_ktime_get_ns (CLOCK_MONOTONIC), the same clock as the user-space timestamps",
        "layers": report.layers.iter().map(|s| serde_json::json!({
            "layer": s.name, "layer_index": s.layer_index, "outcome": s.outcome.to_string(), "condition": s.only_when,
        })).collect::<Vec<_>>(),
        "thread_slot_evictions": report.thread_slot_evictions,
        "skb_map_insert_failures": report.skb_map_insert_failures,
        "stats_error": report.stats_error,
        "stats": stats_meta(&report, cfg),
        "tx_chain": {
            "requested": tx_chain_from_env().unwrap_or(true),
            "chain_hits": report.lost_per_layer.iter().map(|l| l.chain_hits).sum::<u64>(),
            "what": "transmit layers after net_dev_queue/qdisc_dequeue reuse what it read from the frame (docs/probes.md, Correlation); used only when net_dev_queue, qdisc_dequeue and net_dev_start_xmit are all selected tp_btf layers",
        },
        "wake": wake_meta(&report),
        "agent": far_meta,
        "dispatch": dispatch_meta(report.dispatch.as_ref(), far.as_ref().map(|f| f.report.dispatch.as_ref())),
        "compensation": compensation.as_ref().map(|c| serde_json::json!({
            "per_message_ns": c.per_message_ns,
            "dispatch_per_message_ns": c.dispatch_per_message_ns,
            "on_path_ns": on_path_ns,
            "ns_per_run": c.ns_per_run,
            "uncalibrated": c.uncalibrated,
            "model": "a program run costs its BPF run time plus its hook's dispatch (dispatch.*, by mechanism); each stamping program's run lies in the segment its stamp ends; the compensated latency is the latency minus one run of each program whose stamp ends a segment of the chain (on_path_ns), i.e. the sum of the compensated segments",
        })),
    });
    let clock = clock.map(|c| {
        let first_crossing: HashMap<(u64, uadpbench_probes::LayerId), u64> = report
            .events
            .iter()
            .filter(|e| e.crossing == 0)
            .map(|e| ((e.packet_id, e.layer), e.t_ns))
            .collect();
        crate::clock_check::evaluate(run_id, c, samples, Some(&first_crossing))
    });
    Ok(ProbeOutcome {
        segments,
        report: report_lines,
        meta,
        clock,
        per_message_ns: compensation.as_ref().map(|c| c.per_message_ns),
        dispatch_per_message_ns: compensation.as_ref().map(|c| c.dispatch_per_message_ns),
        on_path_ns,
        summary: histograms.map(|h| h.summary).unwrap_or_default(),
    })
}
