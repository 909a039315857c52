//! What observing costs: `uadpbench overhead` runs the same workload with the kernel probes off
//! and on — and optionally with bpftrace running the equivalent classic tracepoints — interleaved
//! (off, probes, bpftrace, off, probes, bpftrace, …) so that machine drift hits every arm alike,
//! one fresh [`run::run`] each, and reports the difference of each latency percentile (and of the
//! flood rate and the CPU time per message) with paired bootstrap confidence intervals.
//!
//! Files (columns in docs/csv-schema.md): `overhead.csv`, `overhead_cost.csv`, `meta.json`,
//! `bpftrace.bt` (with the bpftrace arm) and `runs/NN-<arm>-rK/` (each run's own files; the
//! bpftrace runs also hold `bpftrace.out`, `bpftrace.err` and `bpftrace_cost.csv`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use uadpbench_probes::{
    layer, path_layers, AttachPoint, Correlation, Helper, Layer, Mechanism, ProbePath, Requirement,
    Selection,
};
use uadpbench_sender::transport::PathKind;

use crate::results::{self, SummaryRow};
use crate::run::{self, Mode, RunConfig};

/// Latency percentiles compared.
pub const PERCENTILES: [&str; 4] = ["p50", "p90", "p99", "p99.9"];

/// Default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// Seed of the bootstrap RNG (results are reproducible from the run files).
pub const DEFAULT_SEED: u64 = 0x0ad9_be9c_u64;

/// The printed line bpftrace's BEGIN probe emits once every probe is attached (bpftrace
/// triggers BEGIN after attaching the other probes).
const READY_MARKER: &str = "uadpbench: bpftrace probes attached";

/// One arm of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// No instrumentation.
    Off,
    /// uadpbench's own probes (`RunConfig::probes`).
    Probes,
    /// bpftrace running the equivalent tracepoints, uadpbench's probes off.
    Bpftrace,
}

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Arm::Off => "off",
            Arm::Probes => "probes",
            Arm::Bpftrace => "bpftrace",
        }
    }
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct OverheadConfig {
    /// The workload; its `probes` and `label` are set per arm.
    pub run: RunConfig,
    /// The probe selection of the probes arm (and of the bpftrace script): "all" or a list.
    pub probes: String,
    /// Runs per arm.
    pub repetitions: usize,
    /// Add the bpftrace arm.
    pub bpftrace: bool,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap RNG seed.
    pub seed: u64,
}

impl OverheadConfig {
    /// The probes arm's selection on the run's path.
    fn selection(&self) -> Result<Selection, String> {
        self.probes.trim().parse::<Selection>()
    }

    /// Every problem with the configuration (empty: valid).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.selection() {
            Ok(Selection::None) => problems.push(
                "--probes none: nothing to compare; give all or a list of layer names".into(),
            ),
            Ok(_) => {}
            Err(e) => problems.push(format!("--probes {:?}: {e}", self.probes)),
        }
        if self.repetitions == 0 {
            problems.push("--repetitions must be at least 1".into());
        }
        if self.resamples == 0 {
            problems.push("--resamples must be at least 1".into());
        }
        let mut probe_cfg = self.run.clone();
        probe_cfg.probes = self.probes.clone();
        problems.extend(
            probe_cfg
                .validate()
                .into_iter()
                .filter(|p| !p.starts_with("--probes")),
        );
        problems
    }

    /// The arms, in the order each repetition runs them.
    pub fn arms(&self) -> Vec<Arm> {
        let mut arms = vec![Arm::Off, Arm::Probes];
        if self.bpftrace {
            arms.push(Arm::Bpftrace);
        }
        arms
    }
}

/// One run of one arm.
#[derive(Debug, Clone)]
pub struct ArmRun {
    /// 1-based position in the run order.
    pub index: usize,
    pub arm: Arm,
    /// 1-based.
    pub repetition: usize,
    pub dir: PathBuf,
    pub summary: Vec<SummaryRow>,
    /// A signal cut the run short: it is not used.
    pub interrupted: bool,
    /// The bpftrace process of this run (bpftrace arm).
    pub bpftrace_pid: Option<u32>,
    /// Events bpftrace counted per layer (bpftrace arm).
    pub bpftrace_events: BTreeMap<String, u64>,
}

/// One row of overhead.csv: one statistic of one arm against the off arm (written by
/// `overhead` and campaigns, read by `report`, the verdict and `compare`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct OverheadRow {
    pub path: String,
    pub encap: String,
    pub mode: String,
    pub payload_bytes: usize,
    /// Cyclic runs: the publishing interval.
    pub interval_us: Option<u64>,
    pub metric: String,
    pub statistic: String,
    pub arm: String,
    /// The probe selection of the arm (`all` or a list of layers; the bpftrace arm mirrors it).
    pub probes: String,
    /// Complete (off, arm) pairs the row is computed from.
    pub repetitions: usize,
    pub mean_off: f64,
    pub mean_arm: f64,
    /// mean_arm − mean_off.
    pub delta: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub unit: String,
    /// CPU placement of the workload (empty in files written before placements existed).
    #[serde(default)]
    pub placement: String,
}

/// Per-program BPF cost of an arm, over its runs (one row of overhead_cost.csv).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CostRow {
    pub arm: String,
    /// BPF program (`total`: all programs of the arm).
    pub program: String,
    pub mechanism: String,
    /// Runs in which the program ran at least once.
    pub runs: usize,
    /// Program runs, summed over the runs.
    pub run_count: u64,
    /// BPF run time, summed over the runs.
    pub run_time_ns: u64,
    /// Mean over the runs of run_time_ns / run_count.
    pub mean_ns_per_run: Option<f64>,
    /// Mean over the runs of the program's BPF time per benchmark message (warm-up included).
    pub ns_per_message: Option<f64>,
}

/// What `uadpbench overhead` produced.
#[derive(Debug, Clone)]
pub struct OverheadOutcome {
    pub dir: PathBuf,
    pub rows: Vec<OverheadRow>,
    pub costs: Vec<CostRow>,
    pub runs: Vec<ArmRun>,
    /// Lines for the terminal.
    pub report: Vec<String>,
    /// A signal ended the comparison early; the rows cover the complete repetitions.
    pub interrupted: bool,
}

/// A paired bootstrap interval of a mean difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    /// Point estimate: mean(arm) − mean(off).
    pub delta: f64,
    pub low: f64,
    pub high: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// Quantile `q` of sorted `v`, linear interpolation between order statistics.
fn quantile_sorted(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Paired percentile bootstrap of mean(arm − off): repetition `i` of both arms ran next to
/// each other, so the differences `arm[i] − off[i]` are resampled (with replacement, `n` per
/// resample) and the `confidence` interval is taken from the quantiles of their means.
/// `None` if the slices are empty or of unequal length.
pub fn bootstrap_paired(
    off: &[f64],
    arm: &[f64],
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Option<Interval> {
    if off.is_empty() || off.len() != arm.len() || resamples == 0 {
        return None;
    }
    let d: Vec<f64> = arm.iter().zip(off).map(|(a, o)| a - o).collect();
    let n = d.len();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| d[rng.gen_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    Some(Interval {
        delta: mean(&d),
        low: quantile_sorted(&means, alpha),
        high: quantile_sorted(&means, 1.0 - alpha),
    })
}

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
    for (i, (metric, statistic, unit)) in compared_statistics(workload.mode).into_iter().enumerate()
    {
        let (mut off, mut on) = (Vec::new(), Vec::new());
        for (o, a) in pairs {
            if let (Some(o), Some(a)) = (
                value_of(o, metric, statistic),
                value_of(a, metric, statistic),
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
            metric: metric.into(),
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

fn value_of(summary: &[SummaryRow], metric: &str, statistic: &str) -> Option<f64> {
    summary
        .iter()
        .find(|r| r.metric == metric && r.statistic == statistic)
        .map(|r| r.value)
}

/// Messages a run pushed through the probes: measured ones plus the warm-up.
/// Messages inside the BPF-statistics window of a probe run, when the statistics covered only
/// the calibration phase (meta.json `probes.stats.off_at_packet`).
fn calibration_messages(dir: &Path) -> Option<f64> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).ok()?).ok()?;
    meta.pointer("/probes/stats/off_at_packet")?.as_f64()
}

fn messages_of(cfg: &RunConfig, summary: &[SummaryRow]) -> Option<f64> {
    let sent = value_of(summary, "messages", "sent")?;
    Some(match cfg.mode {
        Mode::Flood => sent,
        Mode::Pingpong | Mode::Cyclic => sent + cfg.warmup as f64,
    })
}

fn probe_path(p: PathKind) -> ProbePath {
    match p {
        PathKind::Udp => ProbePath::Udp,
        PathKind::Eth => ProbePath::Eth,
        PathKind::Xdp => ProbePath::Xdp,
    }
}

// ---------------------------------------------------------------------------------------------
// bpftrace

/// One probe of the generated bpftrace script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BpftraceProbe {
    /// Layer (or helper) name.
    pub name: String,
    /// bpftrace attach point(s), e.g. `tracepoint:net:net_dev_queue`.
    pub attach: String,
    /// Map key: `tid` or `args->skbaddr`.
    pub key: String,
}

/// The bpftrace equivalent of a probe selection.
#[derive(Debug, Clone, Serialize)]
pub struct BpftraceScript {
    pub text: String,
    pub probes: Vec<BpftraceProbe>,
    /// Selected layers bpftrace cannot hook here, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// The libc file the benchmark threads call (for uprobe layers).
fn libc_path() -> Option<String> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            Path::new(p)
                .file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with("libc.so"))
        })
        .map(str::to_owned)
}

/// The layers `selection` traces on `path`, prerequisites included (as the probe session
/// resolves them), and the helper programs they need.
fn selected_layers(path: ProbePath, selection: &Selection) -> (Vec<&'static Layer>, Vec<Helper>) {
    let mut on = [false; uadpbench_probes::LAYERS.len()];
    match selection {
        Selection::None => {}
        Selection::All => path_layers(path)
            .filter(|l| !l.optional)
            .for_each(|l| on[l.id.index()] = true),
        Selection::Layers(ids) => ids
            .iter()
            .filter(|id| layer(**id).on_path(path))
            .for_each(|id| on[id.index()] = true),
    }
    loop {
        let mut changed = false;
        for l in uadpbench_probes::LAYERS.iter() {
            if !on[l.id.index()] {
                continue;
            }
            for r in l.requires {
                if let Requirement::Layer(dep) = r {
                    if !on[dep.index()] {
                        on[dep.index()] = true;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    let layers: Vec<&'static Layer> = path_layers(path).filter(|l| on[l.id.index()]).collect();
    let mut helpers = Vec::new();
    for l in &layers {
        for r in l.requires {
            if let Requirement::Helper(h) = r {
                if !helpers.contains(h) {
                    helpers.push(*h);
                }
            }
        }
    }
    (layers, helpers)
}

/// A bpftrace attach point for a candidate: classic tracepoints and libc uprobes (bpftrace 0.17
/// has no tp_btf; fentry/kprobe layers are skipped, as the kernels this targets refuse them).
fn bpftrace_attach(
    c: &uadpbench_probes::Candidate,
    libc: Option<&str>,
) -> Option<(String, String)> {
    match c.attach {
        AttachPoint::Tracepoint { category, name, .. } => {
            let key = if c.correlation == Correlation::SkbMap {
                "args->skbaddr"
            } else {
                "tid"
            };
            Some((format!("tracepoint:{category}:{name}"), key.into()))
        }
        AttachPoint::Libc { symbols, ret } => {
            let libc = libc?;
            let kind = if ret { "uretprobe" } else { "uprobe" };
            let attach = symbols
                .iter()
                .map(|s| format!("{kind}:{libc}:{s}"))
                .collect::<Vec<_>>()
                .join(",");
            Some((attach, "tid".into()))
        }
        _ => None,
    }
}

/// The bpftrace script equivalent to `selection` on `path`: for every layer with a classic
/// tracepoint (or libc uprobe), a probe filtered to process `pid` that stores `nsecs` in a map
/// keyed by thread id (syscall and socket layers) or skb address (device layers) and counts
/// the event; helpers store their argument. END clears the timestamp maps so only the counts
/// are printed.
pub fn bpftrace_script(path: PathKind, selection: &Selection, pid: u32) -> BpftraceScript {
    let (layers, helpers) = selected_layers(probe_path(path), selection);
    let libc = libc_path();
    let mut probes = Vec::new();
    let mut skipped = Vec::new();
    for l in layers {
        let found = l
            .candidates
            .iter()
            .filter(|c| matches!(c.mechanism, Mechanism::Tracepoint | Mechanism::UProbe))
            .find_map(|c| bpftrace_attach(c, libc.as_deref()));
        match found {
            Some((attach, key)) => probes.push(BpftraceProbe {
                name: l.name().into(),
                attach,
                key,
            }),
            None => skipped.push((
                l.name().to_owned(),
                format!(
                    "no classic tracepoint or uprobe (candidates: {})",
                    l.candidates
                        .iter()
                        .map(|c| c.mechanism.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
        }
    }
    let mut helper_probes = Vec::new();
    for h in helpers {
        let c = h.candidate();
        if let Some((attach, _)) = bpftrace_attach(&c, libc.as_deref()) {
            let arg = match c.attach {
                AttachPoint::Tracepoint { fields, .. } => fields
                    .first()
                    .map_or_else(|| "nsecs".into(), |(f, _)| format!("args->{f}")),
                _ => "arg1".into(),
            };
            helper_probes.push((h.name().replace(':', "_"), attach, arg));
        }
    }
    let selection = match selection {
        Selection::All => "all".to_owned(),
        Selection::None => "none".to_owned(),
        Selection::Layers(ids) => ids.iter().map(|i| i.name()).collect::<Vec<_>>().join(","),
    };
    let mut text = String::new();
    text.push_str(&format!(
        "// uadpbench overhead: the bpftrace equivalent of --probes {selection} on the {path} path,\n\
         // filtered to the benchmark process (pid {pid}). Each probe stores nsecs keyed by thread id\n\
         // or skb address and counts its events. Generated; see docs/csv-schema.md.\n\n"
    ));
    text.push_str(&format!("BEGIN {{ printf(\"{READY_MARKER}\\n\"); }}\n\n"));
    for p in &probes {
        text.push_str(&format!(
            "{} /pid == {pid}/ {{ @t_{}[{}] = nsecs; @events[\"{}\"] = count(); }}\n",
            p.attach, p.name, p.key, p.name
        ));
    }
    for (name, attach, arg) in &helper_probes {
        text.push_str(&format!(
            "{attach} /pid == {pid}/ {{ @{name}[tid] = {arg}; }}\n"
        ));
    }
    text.push_str("\nEND {\n");
    for p in &probes {
        text.push_str(&format!("  clear(@t_{});\n", p.name));
    }
    for (name, _, _) in &helper_probes {
        text.push_str(&format!("  clear(@{name});\n"));
    }
    text.push_str("}\n");
    let mut all = probes;
    all.extend(
        helper_probes
            .into_iter()
            .map(|(name, attach, _)| BpftraceProbe {
                name,
                attach,
                key: "tid".into(),
            }),
    );
    BpftraceScript {
        text,
        probes: all,
        skipped,
    }
}

/// `@events[NAME]: N` lines of bpftrace's exit output.
fn parse_event_counts(lines: &[String]) -> BTreeMap<String, u64> {
    lines
        .iter()
        .filter_map(|l| {
            let rest = l.trim().strip_prefix("@events[")?;
            let (name, n) = rest.split_once("]:")?;
            Some((name.trim().to_owned(), n.trim().parse().ok()?))
        })
        .collect()
}

fn bpf_syscall(cmd: libc::c_int, attr: *mut u8, size: usize) -> libc::c_long {
    // SAFETY: attr points to `size` valid, writable bytes laid out as the command's bpf_attr.
    unsafe { libc::syscall(libc::SYS_bpf, cmd, attr, size as libc::c_uint) }
}

/// `BPF_ENABLE_STATS(BPF_STATS_RUN_TIME)`: BPF run time is counted while the fd is open.
fn enable_bpf_stats() -> Option<OwnedFd> {
    const BPF_ENABLE_STATS: libc::c_int = 32;
    let mut attr = [0u8; 8];
    let fd = bpf_syscall(BPF_ENABLE_STATS, attr.as_mut_ptr(), attr.len());
    // SAFETY: a non-negative return is a new fd owned by us.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// `BPF_TASK_FD_QUERY` attribute.
#[repr(C)]
#[derive(Default)]
struct TaskFdQuery {
    pid: u32,
    fd: u32,
    flags: u32,
    buf_len: u32,
    buf: u64,
    prog_id: u32,
    fd_type: u32,
    probe_offset: u64,
    probe_addr: u64,
}

/// BPF program attached through a perf event fd of another process: (prog id, fd type, name).
fn task_fd_query(pid: u32, fd: u32) -> Option<(u32, u32, String)> {
    const BPF_TASK_FD_QUERY: libc::c_int = 20;
    let mut buf = [0u8; 256];
    let mut q = TaskFdQuery {
        pid,
        fd,
        buf_len: buf.len() as u32,
        buf: buf.as_mut_ptr() as u64,
        ..TaskFdQuery::default()
    };
    let rc = bpf_syscall(
        BPF_TASK_FD_QUERY,
        (&mut q as *mut TaskFdQuery).cast(),
        std::mem::size_of::<TaskFdQuery>(),
    );
    if rc != 0 {
        return None;
    }
    let name = std::ffi::CStr::from_bytes_until_nul(&buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some((q.prog_id, q.fd_type, name))
}

/// One program of the bpftrace process, as bpftrace_cost.csv has it.
#[derive(Debug, Clone, Serialize)]
struct BpftraceCostRow {
    run_id: String,
    program: String,
    mechanism: String,
    attach: String,
    prog_id: u32,
    run_count: u64,
    run_time_ns: u64,
    ns_per_run: Option<f64>,
}

/// Run time of every tracepoint/uprobe program `pid` (bpftrace) attached, read from
/// `/proc/PID/fdinfo` (prog fds: prog_id, run_time_ns, run_cnt) joined with
/// `BPF_TASK_FD_QUERY` on its perf event fds (which program, attached where). bpftrace's own
/// BEGIN/END uprobes are left out.
fn bpftrace_costs(pid: u32, run_id: &str, script: &BpftraceScript) -> Vec<BpftraceCostRow> {
    let fd_dir = format!("/proc/{pid}/fd");
    let Ok(entries) = std::fs::read_dir(&fd_dir) else {
        return Vec::new();
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let mut stats: BTreeMap<u32, (u64, u64)> = BTreeMap::new();
    let mut attached: Vec<(u32, u32, String)> = Vec::new();
    for e in entries.flatten() {
        let Ok(fd) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let link = std::fs::read_link(e.path()).unwrap_or_default();
        let link = link.to_string_lossy();
        if link.contains("bpf-prog") {
            let info =
                std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap_or_default();
            let field = |k: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            if let Some(id) = field("prog_id:") {
                stats.insert(
                    id as u32,
                    (
                        field("run_cnt:").unwrap_or(0),
                        field("run_time_ns:").unwrap_or(0),
                    ),
                );
            }
        } else if link.contains("perf_event") {
            if let Some(q) = task_fd_query(pid, fd) {
                attached.push(q);
            }
        }
    }
    // BPF_FD_TYPE_*: 0 raw_tracepoint, 1 tracepoint, 2 kprobe, 3 kretprobe, 4 uprobe, 5 uretprobe.
    let mut rows = Vec::new();
    for (prog_id, fd_type, name) in attached {
        if matches!(fd_type, 4 | 5) && exe.as_ref().is_some_and(|x| Path::new(&name) == x) {
            continue; // BEGIN_trigger / END_trigger
        }
        let (mechanism, attach) = match fd_type {
            0 | 1 => ("tracepoint", name.clone()),
            2 | 3 => ("kprobe", name.clone()),
            _ => ("uprobe", name.clone()),
        };
        let program = script
            .probes
            .iter()
            .find(|p| {
                (fd_type == 1 && p.attach.ends_with(&format!(":{name}")))
                    || (fd_type != 1 && p.attach.contains(&name))
            })
            .map_or_else(|| format!("bt_{name}"), |p| format!("bt_{}", p.name));
        let (run_count, run_time_ns) = stats.get(&prog_id).copied().unwrap_or((0, 0));
        rows.push(BpftraceCostRow {
            run_id: run_id.to_owned(),
            program,
            mechanism: mechanism.into(),
            attach,
            prog_id,
            run_count,
            run_time_ns,
            ns_per_run: (run_count > 0).then(|| run_time_ns as f64 / run_count as f64),
        });
    }
    rows.sort_by(|a, b| a.program.cmp(&b.program).then(a.prog_id.cmp(&b.prog_id)));
    rows
}

/// A running bpftrace child. Dropping it stops it (SIGINT to its pid, then SIGKILL).
struct Bpftrace {
    child: Option<Child>,
    stdout: Option<std::thread::JoinHandle<Vec<String>>>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

/// What bpftrace printed.
struct BpftraceOutput {
    stdout: Vec<String>,
    stderr: String,
    status: Option<std::process::ExitStatus>,
}

impl Bpftrace {
    /// Starts `bpftrace SCRIPT` and waits until it printed that its probes are attached.
    fn start(script: &Path, timeout: Duration) -> anyhow::Result<Bpftrace> {
        let mut cmd = Command::new("bpftrace");
        cmd.arg("-B")
            .arg("none")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C at the terminal reaches only uadpbench, which
            // then stops bpftrace in order.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; it makes the kernel signal bpftrace if this
        // thread dies without stopping it.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().context(
            "cannot start bpftrace: install it (scripts/setup.sh installs Debian's bpftrace)",
        )?;
        let (ready_tx, ready_rx) = mpsc::channel::<()>();
        let out = child.stdout.take().expect("piped stdout");
        let stdout = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if line.contains(READY_MARKER) {
                    let _ = ready_tx.send(());
                }
                lines.push(line);
            }
            lines
        });
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let mut bt = Bpftrace {
            child: Some(child),
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        match ready_rx.recv_timeout(timeout) {
            Ok(()) => Ok(bt),
            Err(e) => {
                let out = bt.stop();
                let why = match e {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("did not attach its probes within {} s", timeout.as_secs())
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        format!("exited before attaching its probes ({:?})", out.status)
                    }
                };
                bail!(
                    "bpftrace {why}:\n{}\n{}",
                    out.stdout.join("\n"),
                    out.stderr.trim()
                )
            }
        }
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGINT to bpftrace's pid (it prints its maps and exits), SIGKILL after 15 s.
    fn stop(&mut self) -> BpftraceOutput {
        let mut status = None;
        if let Some(mut child) = self.child.take() {
            let pid = nix::unistd::Pid::from_raw(child.id() as i32);
            // The child is not reaped yet, so its pid cannot have been reused.
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
            let deadline = Instant::now() + Duration::from_secs(15);
            loop {
                match child.try_wait() {
                    Ok(Some(s)) => {
                        status = Some(s);
                        break;
                    }
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    _ => {
                        let _ = child.kill();
                        status = child.wait().ok();
                        break;
                    }
                }
            }
        }
        BpftraceOutput {
            stdout: self
                .stdout
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .and_then(|h| h.join().ok())
                .unwrap_or_default(),
            status,
        }
    }
}

impl Drop for Bpftrace {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison

fn read_cost_csv(path: &Path) -> Vec<(String, String, u64, u64)> {
    let Ok(mut r) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    let Ok(h) = r.headers().cloned() else {
        return Vec::new();
    };
    let col = |n: &str| h.iter().position(|c| c == n);
    let (Some(p), Some(c), Some(t)) = (col("program"), col("run_count"), col("run_time_ns")) else {
        return Vec::new();
    };
    let m = col("mechanism");
    r.records()
        .flatten()
        .filter_map(|rec| {
            Some((
                rec.get(p)?.to_owned(),
                m.and_then(|m| rec.get(m)).unwrap_or("").to_owned(),
                rec.get(c)?.parse().ok()?,
                rec.get(t)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Per-program cost over the arm's runs, from each run directory's cost file.
fn aggregate_costs(arm: Arm, runs: &[&ArmRun], file: &str, cfg: &RunConfig) -> Vec<CostRow> {
    #[derive(Default)]
    struct Acc {
        mechanism: String,
        runs: usize,
        run_count: u64,
        run_time_ns: u64,
        per_run: Vec<f64>,
        per_msg: Vec<f64>,
    }
    let mut by_program: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc {
        mechanism: "all".into(),
        ..Acc::default()
    };
    for r in runs {
        let rows = read_cost_csv(&r.dir.join(file));
        if rows.is_empty() {
            continue;
        }
        // probe_cost.csv of a probe run covers its calibration window (the warm-up packets
        // before `off_at_packet`) unless BPF statistics ran for the whole run.
        let messages = calibration_messages(&r.dir)
            .or_else(|| messages_of(cfg, &r.summary))
            .filter(|m| *m > 0.0);
        let mut run_total = 0u64;
        for (program, mechanism, count, time) in rows {
            let a = by_program.entry(program).or_default();
            a.mechanism = mechanism;
            run_total += time;
            if count > 0 {
                a.runs += 1;
                a.run_count += count;
                a.run_time_ns += time;
                a.per_run.push(time as f64 / count as f64);
                total.run_count += count;
                total.run_time_ns += time;
            }
            if let Some(m) = messages {
                a.per_msg.push(time as f64 / m);
            }
        }
        total.runs += 1;
        if let Some(m) = messages {
            total.per_msg.push(run_total as f64 / m);
        }
    }
    if total.runs == 0 {
        return Vec::new();
    }
    if total.run_count > 0 {
        total
            .per_run
            .push(total.run_time_ns as f64 / total.run_count as f64);
    }
    let row = |program: String, a: Acc| CostRow {
        arm: arm.name().into(),
        program,
        mechanism: a.mechanism,
        runs: a.runs,
        run_count: a.run_count,
        run_time_ns: a.run_time_ns,
        mean_ns_per_run: (!a.per_run.is_empty()).then(|| mean(&a.per_run)),
        ns_per_message: (!a.per_msg.is_empty()).then(|| mean(&a.per_msg)),
    };
    let mut out: Vec<CostRow> = by_program.into_iter().map(|(p, a)| row(p, a)).collect();
    out.push(row("total".into(), total));
    out
}

fn fmt_value(v: f64, unit: &str) -> String {
    match unit {
        "ns" => format!("{:.2}", v / 1000.0),
        "1/s" => format!("{v:.0}"),
        _ => format!("{v:.3}"),
    }
}

fn fmt_delta(v: f64, unit: &str) -> String {
    let s = fmt_value(v.abs(), unit);
    if v < 0.0 {
        format!("-{s}")
    } else {
        format!("+{s}")
    }
}

/// The table of the comparison, one line per statistic, a column group per arm.
fn table(cfg: &OverheadConfig, rows: &[OverheadRow], pairs: usize) -> Vec<String> {
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
    lines
}

fn cost_lines(costs: &[CostRow]) -> Vec<String> {
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

/// Runs the comparison into `out_dir` and writes its files.
pub fn run_overhead(
    cfg: &OverheadConfig,
    out_dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<OverheadOutcome> {
    let problems = cfg.validate();
    if !problems.is_empty() {
        bail!(
            "invalid overhead configuration:\n  - {}",
            problems.join("\n  - ")
        );
    }
    let selection = cfg.selection().map_err(|e| anyhow::anyhow!(e))?;
    let runs_dir = out_dir.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .with_context(|| format!("cannot create {}", runs_dir.display()))?;
    let started = time::OffsetDateTime::now_utc();
    let env = crate::meta::Environment::current();

    let script = cfg
        .bpftrace
        .then(|| bpftrace_script(cfg.run.path, &selection, std::process::id()));
    let script_path = out_dir.join("bpftrace.bt");
    if let Some(s) = &script {
        if s.probes.is_empty() {
            bail!(
                "bpftrace has nothing to attach for --probes {} on the {} path",
                cfg.probes,
                cfg.run.path
            );
        }
        results::write_atomically(&script_path, |w| {
            std::io::Write::write_all(w, s.text.as_bytes())?;
            Ok(())
        })?;
    }

    let arms = cfg.arms();
    let total = arms.len() * cfg.repetitions;
    let width = total.to_string().len().max(2);
    let mut runs: Vec<ArmRun> = Vec::new();
    let base_id = RunConfig {
        label: None,
        ..cfg.run.clone()
    }
    .run_id();
    'reps: for rep in 1..=cfg.repetitions {
        for &arm in &arms {
            if stop.load(Ordering::Relaxed) {
                break 'reps;
            }
            let index = runs.len() + 1;
            let dir = runs_dir.join(format!("{index:0width$}-{}-r{rep}", arm.name()));
            let mut rc = cfg.run.clone();
            rc.label = Some(format!("{base_id}-{}-r{rep}", arm.name()));
            rc.probes = match arm {
                Arm::Probes => cfg.probes.clone(),
                Arm::Off | Arm::Bpftrace => "none".into(),
            };
            eprintln!(
                "[{index}/{total}] {} repetition {rep}: {}",
                arm.name(),
                dir.display()
            );
            let what = format!("run {}", dir.display());
            let (outcome, bt) = match arm {
                Arm::Bpftrace => {
                    let stats = enable_bpf_stats();
                    let mut bt = Bpftrace::start(&script_path, Duration::from_secs(90))
                        .with_context(|| what.clone())?;
                    let pid = bt.pid();
                    let outcome = run::run(&rc, &dir, Arc::clone(&stop)).context(what)?;
                    let costs = match (pid, &script) {
                        (Some(pid), Some(s)) => {
                            bpftrace_costs(pid, rc.label.as_deref().unwrap_or(""), s)
                        }
                        _ => Vec::new(),
                    };
                    let out = bt.stop();
                    drop(stats);
                    if !costs.is_empty() {
                        results::write_csv(&dir.join("bpftrace_cost.csv"), &costs)?;
                    }
                    results::write_atomically(&dir.join("bpftrace.out"), |w| {
                        for l in &out.stdout {
                            std::io::Write::write_all(w, l.as_bytes())?;
                            std::io::Write::write_all(w, b"\n")?;
                        }
                        Ok(())
                    })?;
                    results::write_atomically(&dir.join("bpftrace.err"), |w| {
                        std::io::Write::write_all(w, out.stderr.as_bytes())?;
                        Ok(())
                    })?;
                    (outcome, Some((pid, parse_event_counts(&out.stdout))))
                }
                Arm::Off | Arm::Probes => {
                    (run::run(&rc, &dir, Arc::clone(&stop)).context(what)?, None)
                }
            };
            let (bpftrace_pid, bpftrace_events) = bt.unwrap_or_default();
            runs.push(ArmRun {
                index,
                arm,
                repetition: rep,
                dir,
                summary: outcome.summary,
                interrupted: outcome.interrupted,
                bpftrace_pid,
                bpftrace_events,
            });
        }
    }
    let interrupted = stop.load(Ordering::Relaxed);

    // Complete repetitions only: every arm ran to the end.
    let complete: Vec<usize> = (1..=cfg.repetitions)
        .filter(|rep| {
            arms.iter().all(|a| {
                runs.iter()
                    .any(|r| r.repetition == *rep && r.arm == *a && !r.interrupted)
            })
        })
        .collect();
    let run_of = |arm: Arm, rep: usize| {
        runs.iter()
            .find(|r| r.arm == arm && r.repetition == rep)
            .expect("complete repetition")
    };
    let mut rows = Vec::new();
    for (j, &arm) in arms.iter().skip(1).enumerate() {
        let pairs: Vec<(&[SummaryRow], &[SummaryRow])> = complete
            .iter()
            .map(|&rep| {
                (
                    run_of(Arm::Off, rep).summary.as_slice(),
                    run_of(arm, rep).summary.as_slice(),
                )
            })
            .collect();
        rows.extend(overhead_rows(
            &cfg.run,
            arm,
            &cfg.probes,
            &pairs,
            cfg.resamples,
            cfg.seed ^ j as u64,
        ));
    }
    let mut costs = Vec::new();
    for (arm, file) in [
        (Arm::Probes, "probe_cost.csv"),
        (Arm::Bpftrace, "bpftrace_cost.csv"),
    ] {
        let of_arm: Vec<&ArmRun> = runs
            .iter()
            .filter(|r| r.arm == arm && complete.contains(&r.repetition))
            .collect();
        costs.extend(aggregate_costs(arm, &of_arm, file, &cfg.run));
    }

    results::write_csv(&out_dir.join("overhead.csv"), &rows)?;
    results::write_csv(&out_dir.join("overhead_cost.csv"), &costs)?;
    let meta = serde_json::json!({
        "kind": "uadpbench overhead",
        "started_utc": started.format(&time::format_description::well_known::Rfc3339).ok(),
        "finished_utc": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).ok(),
        "config": cfg.run,
        "probes": cfg.probes,
        "repetitions": cfg.repetitions,
        "complete_repetitions": complete.len(),
        "arms": arms.iter().map(|a| a.name()).collect::<Vec<_>>(),
        "bootstrap": {
            "method": "paired percentile bootstrap of mean(arm - off) over repetitions",
            "resamples": cfg.resamples,
            "confidence": 0.95,
            "seed": cfg.seed,
            "rng": "ChaCha8",
        },
        "bpftrace": script.as_ref().map(|s| serde_json::json!({
            "script": "bpftrace.bt",
            "probes": s.probes,
            "skipped_layers": s.skipped,
        })),
        "runs": runs.iter().map(|r| serde_json::json!({
            "index": r.index,
            "arm": r.arm.name(),
            "repetition": r.repetition,
            "dir": r.dir.strip_prefix(out_dir).unwrap_or(&r.dir),
            "interrupted": r.interrupted,
            "bpftrace_events": (r.arm == Arm::Bpftrace).then_some(&r.bpftrace_events),
        })).collect::<Vec<_>>(),
        "interrupted": interrupted,
        "environment": env,
    });
    results::write_json(&out_dir.join("meta.json"), &meta)?;

    let mut report = table(cfg, &rows, complete.len());
    if let Some(s) = &script {
        if !s.skipped.is_empty() {
            report.push(format!(
                "  bpftrace arm leaves out (no tracepoint or uprobe for them): {}",
                s.skipped
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
            report.push(format!(
                "  bpftrace events per run (mean): {}",
                events
                    .iter()
                    .map(|(k, v)| format!(
                        "{k} {:.0}",
                        v.iter().sum::<u64>() as f64 / v.len() as f64
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    report.extend(cost_lines(&costs));
    Ok(OverheadOutcome {
        dir: out_dir.to_owned(),
        rows,
        costs,
        runs,
        report,
        interrupted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_samples_give_a_zero_width_interval_at_zero() {
        let v = [10_000.0, 12_500.0, 11_000.0, 13_000.0, 9_000.0];
        let ci = bootstrap_paired(&v, &v, 2000, 0.95, 1).unwrap();
        assert_eq!(
            ci,
            Interval {
                delta: 0.0,
                low: 0.0,
                high: 0.0
            }
        );
    }

    #[test]
    fn constant_shift_gives_a_zero_width_interval_at_the_shift() {
        let off = [100.0, 250.0, 175.0, 90.0];
        let on: Vec<f64> = off.iter().map(|x| x + 64.0).collect();
        let ci = bootstrap_paired(&off, &on, 2000, 0.95, 7).unwrap();
        assert_eq!((ci.delta, ci.low, ci.high), (64.0, 64.0, 64.0));
    }

    #[test]
    fn noisy_shift_is_inside_the_interval() {
        // off ~ 20 µs ± 2 µs, on = off' + 3 µs with its own noise, 10 repetitions.
        let mut rng = ChaCha8Rng::seed_from_u64(42);
        let off: Vec<f64> = (0..10)
            .map(|_| 20_000.0 + rng.gen_range(-2000.0..2000.0))
            .collect();
        let on: Vec<f64> = off
            .iter()
            .map(|x| x + 3_000.0 + rng.gen_range(-300.0..300.0))
            .collect();
        let ci = bootstrap_paired(&off, &on, 2000, 0.95, DEFAULT_SEED).unwrap();
        assert!(ci.low <= ci.delta && ci.delta <= ci.high, "{ci:?}");
        assert!(ci.low < 3_000.0 && 3_000.0 < ci.high, "{ci:?}");
        assert!(
            ci.high - ci.low < 600.0,
            "paired: the drift cancels, {ci:?}"
        );
        assert!(ci.low > 0.0, "clearly positive: {ci:?}");
    }

    #[test]
    fn bootstrap_is_deterministic_and_checks_its_input() {
        let off = [1.0, 5.0, 2.0];
        let on = [2.0, 4.0, 9.0];
        let a = bootstrap_paired(&off, &on, 500, 0.95, 3).unwrap();
        assert_eq!(a, bootstrap_paired(&off, &on, 500, 0.95, 3).unwrap());
        assert!((a.delta - 7.0 / 3.0).abs() < 1e-12);
        assert!(a.low >= -1.0 && a.high <= 7.0, "{a:?}");
        assert!(bootstrap_paired(&[], &[], 10, 0.95, 0).is_none());
        assert!(bootstrap_paired(&[1.0], &[1.0, 2.0], 10, 0.95, 0).is_none());
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 10.0, 20.0, 30.0, 40.0];
        assert_eq!(quantile_sorted(&v, 0.0), 0.0);
        assert_eq!(quantile_sorted(&v, 0.5), 20.0);
        assert_eq!(quantile_sorted(&v, 0.125), 5.0);
        assert_eq!(quantile_sorted(&v, 1.0), 40.0);
    }

    #[test]
    fn bpftrace_script_mirrors_the_udp_layers() {
        let s = bpftrace_script(PathKind::Udp, &Selection::All, 4242);
        for tp in [
            "tracepoint:syscalls:sys_enter_sendto",
            "tracepoint:net:net_dev_queue",
            "tracepoint:net:net_dev_start_xmit",
            "tracepoint:net:netif_rx",
            "tracepoint:net:net_dev_xmit",
            "tracepoint:sock:sock_send_length",
            "tracepoint:syscalls:sys_exit_sendto",
            "tracepoint:net:netif_receive_skb",
            "tracepoint:sock:sock_recv_length",
            "tracepoint:syscalls:sys_exit_recvfrom",
            "tracepoint:syscalls:sys_enter_recvfrom",
        ] {
            let line = s
                .text
                .lines()
                .find(|l| l.starts_with(&format!("{tp} ")))
                .unwrap_or_else(|| panic!("{tp} missing:\n{}", s.text));
            assert!(line.contains("/pid == 4242/"), "{line}");
        }
        assert!(s.text.contains("@t_net_dev_queue[args->skbaddr] = nsecs"));
        assert!(s.text.contains("@t_sys_enter_sendto[tid] = nsecs"));
        assert!(s.text.contains(READY_MARKER));
        assert!(!s.text.contains("libc"), "optional layers are not in all");
        let skipped: Vec<&str> = s.skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(skipped, ["udp_sendmsg", "ip_send_skb", "ip_rcv", "udp_rcv"]);
        // A list adds the prerequisites, as the probe session does.
        let s = bpftrace_script(PathKind::Udp, &"sock_send_length".parse().unwrap(), 1);
        let names: Vec<&str> = s.probes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["sys_enter_sendto", "sock_send_length", "sys_exit_sendto"]
        );
    }

    #[test]
    fn event_counts_parse() {
        let lines: Vec<String> = [
            "Attaching 5 probes...",
            "",
            "@events[net_dev_queue]: 12000",
            "@events[sys_exit_sendto]: 11999",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let c = parse_event_counts(&lines);
        assert_eq!(c["net_dev_queue"], 12000);
        assert_eq!(c["sys_exit_sendto"], 11999);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn statistics_per_mode() {
        let pp = compared_statistics(Mode::Pingpong);
        for p in PERCENTILES {
            assert!(pp.contains(&("rtt", p, "ns")));
        }
        assert!(compared_statistics(Mode::Flood).contains(&("rate", "received_per_second", "1/s")));
        assert!(compared_statistics(Mode::Cyclic).contains(&("one_way", "p99.9", "ns")));
    }
}
