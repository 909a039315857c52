//! One measurement: set up the two-namespace topology, open the path on both sides (each on
//! an OS thread moved into its namespace), run the mode's loops, and turn what they measured
//! into summary.csv, samples.csv and meta.json.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use uadpbench_sender::bench_message::{
    BenchCodec, DEFAULT_PUBLISHER_ID, DEFAULT_WRITER_GROUP_ID, MIN_MESSAGE_LEN,
};
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::codec::MessageCodec;
use uadpbench_sender::loops::{
    self, CpuTime, CyclicConfig, FloodConfig, PingPongConfig, RejectCounts, SchedDelta,
    SubscribeConfig,
};
use uadpbench_sender::sched::ThreadSched;
use uadpbench_sender::transport::{Encap, PathKind, Transport, TransportCounters};
use uadpbench_topology::{Side, Topology, TopologyOptions};

use crate::conditions::machine::deep_idle_entries;
use crate::conditions::{
    find_modes, quality_label, IdleCounters, IdleLatency, MachineConditions, Placement,
    PlacementError, QualityFlag, ResolvedPlacement, StealCounters,
};
use crate::interop::layout::LayoutConfig;
use crate::interop::layout_codec::LayoutCodec;
use crate::meta::Environment;
use crate::paths::{self, PathOptions};
use crate::results::{self, SampleRow, SummaryRow};
use crate::stats::Summary;

/// Measurement mode.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A reflector echoes each message; round-trip time per message.
    Pingpong,
    /// A publisher on absolute deadlines; send jitter and one-way latency.
    Cyclic,
    /// As fast as the path goes; rate, CPU per message, loss.
    Flood,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Pingpong => "pingpong",
            Mode::Cyclic => "cyclic",
            Mode::Flood => "flood",
        }
    }
}

/// Why an output file named on the command line cannot be written (checked before setup, so
/// that a run is not measured for nothing).
pub fn output_file_problem(flag: &str, f: &Path) -> Option<String> {
    if f.is_dir() {
        return Some(format!(
            "{flag} {}: is a directory; give a file name",
            f.display()
        ));
    }
    // Missing directories are created (e.g. a file inside --out); the nearest existing one
    // must be a directory.
    let existing = f
        .ancestors()
        .skip(1)
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .find(|p| p.exists())
        .unwrap_or(Path::new("."));
    if !existing.is_dir() {
        return Some(format!(
            "{flag} {}: {} is not a directory",
            f.display(),
            existing.display()
        ));
    }
    None
}

/// Whether a stop signal cut the measurement short: not when it came after every planned
/// message was sent (it then only stopped the program from lingering). Flood runs end by time,
/// so any signal during them counts.
pub fn cut_short(signalled: bool, mode: Mode, sent: u64, planned: u64) -> bool {
    signalled && (mode == Mode::Flood || sent < planned)
}

/// Most messages (measured or warm-up) one run takes: samples are kept in memory.
pub const MAX_MESSAGES: u64 = 20_000_000;
/// Longest cyclic interval, µs.
pub const MAX_INTERVAL_US: u64 = 10_000_000;
/// Longest `--duration`, s.
pub const MAX_DURATION_S: f64 = 86_400.0;
/// Longest ping-pong reply timeout, ms.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Largest `--batch` (UIO_MAXIOV).
pub const MAX_BATCH: usize = 1024;
/// MTU range of the veth pair.
pub const MIN_MTU: u64 = 68;
pub const MAX_MTU: u64 = 65_535;

/// Everything a run needs, validated by [`RunConfig::validate`] before anything is set up.
#[derive(Debug, Clone, Serialize)]
pub struct RunConfig {
    /// Run id to use instead of the generated one (campaigns make ids unique per repetition).
    pub label: Option<String>,
    #[serde(serialize_with = "ser_display")]
    pub path: PathKind,
    #[serde(serialize_with = "ser_display")]
    pub encap: Encap,
    pub mode: Mode,
    /// Measured messages (pingpong, cyclic).
    pub count: u64,
    /// Run length instead of a count (cyclic: count = duration / interval; flood: required).
    pub duration_s: Option<f64>,
    /// Messages before the measured ones, excluded from statistics.
    pub warmup: u64,
    /// Bytes of each UADP NetworkMessage.
    pub payload_bytes: usize,
    /// Cyclic publishing interval.
    pub interval_us: u64,
    /// Cyclic: busy-wait this long before each deadline.
    pub spin_us: u64,
    /// Ping-pong: wait this long for an echo before counting the message lost.
    pub timeout_ms: u64,
    /// MTU of the veth pair.
    pub mtu: usize,
    pub path_options: PathOptions,
    /// Where the two timed threads run; `sched_a.cpu`/`sched_b.cpu` override its choice.
    pub placement: Placement,
    /// PM QoS CPU latency limit held while the run is timed (default 0: polling idle only).
    pub idle_latency: IdleLatency,
    /// Scheduling of the thread in namespace A (initiator / publisher).
    pub sched_a: ThreadSched,
    /// Scheduling of the thread in namespace B (reflector / subscriber).
    pub sched_b: ThreadSched,
    /// Kernel probes: "none", "all" or a comma-separated list of layer names
    /// (`uadpbench probes list` shows them).
    pub probes: String,
    /// `--trace`: write a Perfetto/Chrome trace-event timeline of a window of the run
    /// ([`crate::trace`]); implies probes "all" when probes are "none".
    pub trace: Option<crate::trace::TraceSpec>,
    /// Write the benchmark frames received on B's veth to this pcap file
    /// ([`crate::capture_run`]). Costs CPU during the run.
    pub pcap: Option<PathBuf>,
    /// Publish the messages of this publisher layout instead of the benchmark's own message
    /// ([`crate::interop::layout_codec`]): `payload_bytes` is then the layout's message size
    /// ([`RunConfig::apply_layout`]) and timing comes from the send log.
    pub layout: Option<LayoutConfig>,
}

fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            label: None,
            path: PathKind::Udp,
            encap: Encap::Udp,
            mode: Mode::Pingpong,
            count: 10_000,
            duration_s: None,
            warmup: 1_000,
            payload_bytes: 64,
            interval_us: 1_000,
            spin_us: 0,
            timeout_ms: 200,
            mtu: 1500,
            path_options: PathOptions::default(),
            placement: Placement::default(),
            idle_latency: IdleLatency::default(),
            sched_a: ThreadSched::default(),
            sched_b: ThreadSched::default(),
            probes: "none".into(),
            trace: None,
            pcap: None,
            layout: None,
        }
    }
}

impl RunConfig {
    /// The probe selection, parsed.
    pub fn probe_selection(&self) -> Result<uadpbench_probes::Selection, String> {
        self.probes.trim().parse::<uadpbench_probes::Selection>()
    }

    /// Whether this run attaches kernel probes.
    pub fn probes_enabled(&self) -> bool {
        !matches!(
            self.probe_selection(),
            Ok(uadpbench_probes::Selection::None)
        )
    }

    /// The message format of the run: the benchmark's own message, or the configured layout.
    pub fn codec(&self) -> anyhow::Result<Box<dyn MessageCodec>> {
        Ok(match &self.layout {
            None => Box::new(BenchCodec::new(
                DEFAULT_PUBLISHER_ID,
                DEFAULT_WRITER_GROUP_ID,
                self.payload_bytes,
            )?),
            Some(l) => Box::new(LayoutCodec::new(l.resolve()?)?),
        })
    }

    /// With a layout: sets `payload_bytes` to the size of the layout's messages (the layout
    /// decides it). An error says what the layout lacks for a run.
    pub fn apply_layout(&mut self) -> Result<(), String> {
        let Some(l) = &self.layout else {
            return Ok(());
        };
        let layout = l.resolve().map_err(|e| format!("--layout: {e}"))?;
        let mut codec = LayoutCodec::new(layout).map_err(|e| format!("--layout: {e}"))?;
        self.payload_bytes = codec
            .message_len()
            .map_err(|e| format!("--layout: cannot encode a message: {e}"))?;
        Ok(())
    }

    /// Where the run's latencies come from (written to meta.json and printed).
    pub fn timing_source(&self) -> String {
        match self
            .layout
            .as_ref()
            .map(|l| l.resolve().map(LayoutCodec::new))
        {
            Some(Ok(Ok(c))) => c.timing_source(),
            Some(_) => "invalid layout".into(),
            None => "message: each message carries its CLOCK_MONOTONIC send time and 64-bit \
                     packet id (RawData fields of the benchmark's Periodic-Fixed message); the \
                     sender's log agrees with it"
                .into(),
        }
    }

    /// Messages measured (after warm-up).
    pub fn measured_count(&self) -> u64 {
        match (self.mode, self.duration_s) {
            (Mode::Cyclic, Some(d)) => ((d * 1e6) / self.interval_us.max(1) as f64) as u64,
            _ => self.count,
        }
    }

    /// The placement with the CPUs it uses on this machine (`--cpu-a/--cpu-b` override).
    pub fn resolve_placement(&self) -> Result<ResolvedPlacement, PlacementError> {
        crate::conditions::placement::resolve_here(
            self.placement,
            self.sched_a.cpu,
            self.sched_b.cpu,
        )
    }

    /// Every problem with the configuration, one message each (empty: valid).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(e) = self.resolve_placement() {
            problems.push(format!("--placement {}: {e}", self.placement));
        }
        if let Err(e) = self.probe_selection() {
            problems.push(format!("--probes {:?}: {e}", self.probes));
        }
        if let Some(t) = &self.trace {
            problems.extend(t.validate());
        }
        let max = paths::max_message_len(self.path, self.encap, self.mtu);
        if let Some(l) = &self.layout {
            match l.resolve().map(LayoutCodec::new) {
                Err(e) | Ok(Err(e)) => problems.push(format!("--layout: {e}")),
                Ok(Ok(mut c)) => match c.message_len() {
                    Ok(n) if n != self.payload_bytes => problems.push(format!(
                        "--payload {} with --layout: the layout's messages are {n} bytes (a layout sets the size; leave --payload out)",
                        self.payload_bytes
                    )),
                    Ok(_) => {}
                    Err(e) => problems.push(format!("--layout: cannot encode a message: {e}")),
                },
            }
            if self.probes_enabled() || self.trace.is_some() {
                problems.push(
                    "--probes/--trace need the benchmark's own message (the probes find the packet id at its fixed offset): run layouts with --probes none".into(),
                );
            }
        } else if self.payload_bytes < MIN_MESSAGE_LEN {
            problems.push(format!(
                "--payload {} is smaller than the smallest benchmark message ({MIN_MESSAGE_LEN} bytes: UADP Periodic-Fixed header + send time + packet id)",
                self.payload_bytes
            ));
        }
        if self.payload_bytes > max {
            problems.push(format!(
                "--payload {} does not fit the {} path with {} encapsulation at MTU {}: at most {max} bytes",
                self.payload_bytes, self.path, self.encap, self.mtu
            ));
        }
        if self.path_options.so_timestamping
            && (self.path != PathKind::Udp || self.mode != Mode::Cyclic)
        {
            problems.push(
                "--so-timestamping cross-checks the udp path in cyclic mode: use --path udp --mode cyclic".into(),
            );
        }
        if self.path == PathKind::Udp && self.encap != Encap::Udp {
            problems.push(
                "the udp path carries UADP in UDP only: use --encap udp (or another path)".into(),
            );
        }
        match self.mode {
            Mode::Flood => {
                if self.duration_s.is_none() {
                    problems.push("flood mode needs --duration SECS (> 0)".into());
                }
            }
            Mode::Pingpong | Mode::Cyclic => {
                if self.measured_count() == 0 {
                    problems.push("nothing to measure: --count (or --duration / --interval-us) gives 0 messages".into());
                }
            }
        }
        if self.mode == Mode::Cyclic {
            let res_ns = uadpbench_sender::clock::monotonic_resolution_ns();
            if self.interval_us.saturating_mul(1000) < res_ns.max(1).saturating_mul(10) {
                problems.push(format!(
                    "--interval-us {} is below what CLOCK_MONOTONIC (resolution {res_ns} ns) can schedule",
                    self.interval_us
                ));
            }
        }
        for s in [&self.sched_a, &self.sched_b] {
            // CPUs are checked by the placement (online, in the affinity mask).
            if let Some(p) = s.fifo_priority.filter(|p| !(1..=99).contains(p)) {
                problems.push(format!("SCHED_FIFO priority {p} is outside 1..=99"));
            }
        }
        let o = &self.path_options;
        if o.vlan_id.is_some_and(|v| v == 0 || v >= 4095) {
            problems.push("--vlan-id must be in 1..=4094".into());
        }
        if o.vlan_pcp > 7 {
            problems.push("--vlan-pcp must be in 0..=7".into());
        }
        if self.path == PathKind::Udp && (o.vlan_id.is_some() || o.qdisc_bypass) {
            problems
                .push("--vlan-id and --qdisc-bypass apply to the eth/xdp paths, not udp".into());
        }
        if (o.xdp_driver_mode || o.xdp_zero_copy) && self.path != PathKind::Xdp {
            problems
                .push("--xdp-driver-mode and --xdp-zero-copy apply to the xdp path only".into());
        }
        if o.xdp_ring_size == 0 || !o.xdp_ring_size.is_power_of_two() {
            problems.push(format!(
                "--xdp-ring-size {} must be a power of two",
                o.xdp_ring_size
            ));
        }
        problems.extend(self.bound_problems());
        for (flag, file) in [
            ("--pcap", self.pcap.as_deref()),
            ("--trace", self.trace.as_ref().map(|t| t.file.as_path())),
        ] {
            if let Some(f) = file {
                problems.extend(output_file_problem(flag, f));
            }
        }
        // One message per problem (both sides share --fifo, for one).
        let mut seen = std::collections::HashSet::new();
        problems.retain(|p| seen.insert(p.clone()));
        problems
    }

    /// Numeric options outside what the code can represent or what makes sense: a value that
    /// wraps or is truncated would give a valid-looking wrong result (limits: docs/safety.md).
    fn bound_problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let mut range = |flag: &str, v: u64, lo: u64, hi: u64, why: &str| {
            if !(lo..=hi).contains(&v) {
                p.push(format!("{flag} {v} is outside {lo}..={hi}{why}"));
            }
        };
        range(
            "--count",
            self.count,
            0, // 0: "nothing to measure" says it
            MAX_MESSAGES,
            " (every measured message keeps a sample in memory, ~200 bytes each: split longer measurements into repetitions of a campaign)",
        );
        range("--warmup", self.warmup, 0, MAX_MESSAGES, "");
        range(
            "--interval-us",
            self.interval_us,
            1,
            MAX_INTERVAL_US,
            " (10 s)",
        );
        range(
            "--spin-us",
            self.spin_us,
            0,
            self.interval_us.clamp(1, MAX_INTERVAL_US),
            " (at most the interval)",
        );
        range(
            "--timeout-ms",
            self.timeout_ms,
            1,
            MAX_TIMEOUT_MS,
            " (one minute)",
        );
        range(
            "--mtu",
            self.mtu as u64,
            MIN_MTU,
            MAX_MTU,
            " (what a veth accepts)",
        );
        let o = &self.path_options;
        range(
            "--batch",
            o.batch as u64,
            1,
            MAX_BATCH as u64,
            " (sendmmsg/recvmmsg take at most 1024 messages)",
        );
        range(
            "--busy-poll-us",
            o.busy_poll_us as u64,
            0,
            1_000_000,
            " (one second)",
        );
        range("--xdp-ring-size", o.xdp_ring_size as u64, 64, 1 << 16, "");
        if let Some(d) = self.duration_s {
            if !d.is_finite() || d <= 0.0 || d > MAX_DURATION_S {
                p.push(format!(
                    "--duration {d} is outside (0, {MAX_DURATION_S}] seconds (one day)"
                ));
            } else if self.mode == Mode::Cyclic && self.measured_count() > MAX_MESSAGES {
                p.push(format!(
                    "--duration {d} at --interval-us {} is {} messages, more than {MAX_MESSAGES} (every measured message keeps a sample in memory)",
                    self.interval_us,
                    self.measured_count()
                ));
            }
        }
        p
    }

    /// The run id: path, encapsulation, mode and size.
    pub fn run_id(&self) -> String {
        if let Some(l) = &self.label {
            return l.clone();
        }
        let layout = match &self.layout {
            None => String::new(),
            Some(l) => format!(
                "-layout_{}",
                l.preset
                    .map_or("custom", crate::interop::preset::Preset::name)
            ),
        };
        format!(
            "{}-{}-{}-{}B{layout}",
            self.path,
            self.encap,
            self.mode.name(),
            self.payload_bytes
        )
    }
}

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
struct Accounting {
    sent: u64,
    received: u64,
    lost: u64,
    reordered: u64,
    duplicated: u64,
    late: u64,
    rejects: RejectCounts,
    tx: TransportCounters,
    rx: TransportCounters,
}

struct Rows<'a> {
    cfg: &'a RunConfig,
    run_id: &'a str,
    rows: Vec<SummaryRow>,
    placement: ResolvedPlacement,
    /// What the scheduler did to each timed thread (role, delta).
    sched: Vec<(String, SchedDelta)>,
}

impl Rows<'_> {
    fn push(&mut self, metric: &str, statistic: &str, value: f64, unit: &str) {
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

    fn summary(&mut self, metric: &str, s: &Summary) {
        for (stat, v) in s.rows() {
            self.push(
                metric,
                stat,
                v,
                if stat == "count" { "messages" } else { "ns" },
            );
        }
    }

    fn accounting(&mut self, a: &Accounting) {
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

    fn cpu(&mut self, role: &str, cpu: CpuTime, messages: u64) {
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

fn fmt_us(ns: f64) -> String {
    format!("{:.2}", ns / 1000.0)
}

fn table_line(name: &str, s: &Summary) -> [String; 2] {
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

fn accounting_line(a: &Accounting) -> String {
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
    let env = Environment::current();
    let started = time::OffsetDateTime::now_utc();

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
    // A CPU that was already halted when the request was made is woken by it; give it a moment
    // so that its earlier idle period is not counted as entered during the run.
    if pm_qos.is_some() {
        std::thread::sleep(Duration::from_millis(2));
    }
    let idle_before = IdleCounters::read(&timed_cpus);
    let steal_before = StealCounters::read();
    let timed_started = std::time::Instant::now();

    let mut kernel_stamps = KernelStamps::default();
    let measured = match cfg.mode {
        Mode::Pingpong => run_pingpong(
            cfg,
            &topo,
            codec,
            &stop,
            &run_id,
            &mut rows,
            &mut samples,
            &mut report,
            &mut kernel_stamps,
        ),
        Mode::Cyclic => run_cyclic(
            cfg,
            &topo,
            codec,
            &stop,
            &run_id,
            &mut rows,
            &mut samples,
            &mut report,
            &mut kernel_stamps,
        ),
        Mode::Flood => run_flood(cfg, &topo, codec, &stop, &mut rows, &mut report),
    };
    let idle_during = idle_before.delta(&IdleCounters::read(&timed_cpus));
    let steal_ms = steal_before.delta_ms(&StealCounters::read(), &timed_cpus);
    let timed_ms = timed_started.elapsed().as_secs_f64() * 1e3;
    drop(pm_qos);
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
    let mut clock_meta = None;
    if let Some(c) = &clock_check {
        let (lines, meta) = crate::clock_check::write(c, out_dir)?;
        report.extend(lines);
        clock_meta = Some(meta);
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
    }
    if let Some(p) = &probe_outcome {
        report.extend(p.report.iter().cloned());
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
    report.push(format!("  quality: {quality}"));
    let conditions_meta = serde_json::json!({
        "placement": placement,
        "idle_latency_us": cfg.idle_latency.to_string(),
        "pm_qos": match cfg.idle_latency {
            IdleLatency::Hold(us) => format!("/dev/cpu_dma_latency held at {us} µs from before the timed threads started until they ended"),
            IdleLatency::Off => "not held".into(),
        },
        "timed_cpus": timed_cpus,
        "idle_during_run": idle_during,
        "steal_ms_during_run": steal_ms,
        "timed_ms": timed_ms,
        "threads": rows.sched.iter().map(|(role, s)| serde_json::json!({
            "role": role,
            "migrations": s.migrations,
            "involuntary_switches": s.involuntary_switches,
            "voluntary_switches": s.voluntary_switches,
            "first_cpu": s.first_cpu,
            "last_cpu": s.last_cpu,
            "window": "the timed loop, warm-up included",
        })).collect::<Vec<_>>(),
        "machine": machine,
        "quality": quality,
        "modes": modes,
    });

    results::write_csv(&out_dir.join("summary.csv"), &rows.rows)?;
    if !samples.is_empty() {
        results::write_csv(&out_dir.join("samples.csv"), &samples)?;
    }
    let meta = serde_json::json!({
        "run_id": run_id,
        "started_utc": started.format(&time::format_description::well_known::Rfc3339).ok(),
        "finished_utc": time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).ok(),
        "config": cfg,
        "environment": env,
        "topology": topology_meta,
        "conditions": conditions_meta,
        "interrupted": interrupted,
        "message_layout": match &cfg.layout {
            None => "UADP-Periodic-Fixed (Part 14 A.2.1), RawData fields: UInt64 send time (CLOCK_MONOTONIC ns), UInt64 packet id, ByteString filler".to_owned(),
            Some(l) => l.resolve().map(|l| l.describe().join("; ")).unwrap_or_default(),
        },
        "timing_source": cfg.timing_source(),
        "probes": probe_outcome.as_ref().map(|p| p.meta.clone()),
        "clock_check": clock_meta,
        "capture": capture_stats.map(|s| serde_json::json!({
            "file": cfg.pcap.as_ref().map(|f| f.display().to_string()),
            "interface": "veth of namespace B (receiving side), received frames only",
            "frames": s.frames,
            "other_frames": s.other_frames,
            "kernel_drops": s.kernel_drops,
            "timestamps": "CLOCK_REALTIME when the capture thread read the frame (not the benchmark clock)",
            "includes_warmup": true,
        })),
    });
    results::write_json(&out_dir.join("meta.json"), &meta)?;
    let summary = rows.rows;
    Ok(RunOutcome {
        run_id: run_id.clone(),
        dir: out_dir.to_owned(),
        summary,
        report,
        interrupted,
    })
}

/// Opens a transport inside a side's namespace and runs `body` on that thread.
fn spawn_side<T: Send + 'static>(
    topo: &Arc<Topology>,
    side: Side,
    name: &str,
    cfg: &RunConfig,
    ready: Option<mpsc::Sender<()>>,
    body: impl FnOnce(&mut dyn Transport) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<T>>> {
    let t2 = Arc::clone(topo);
    let (path, encap, mut opts) = (cfg.path, cfg.encap, cfg.path_options.clone());
    // Probe runs on the xdp path: the XDP program stamps arrivals (the xdp_ingress layer).
    opts.xdp_stamps = cfg.path == PathKind::Xdp && (cfg.probes_enabled() || cfg.trace.is_some());
    if cfg.mode != Mode::Flood {
        // Latency modes handle one message at a time: plain send/recv system calls, no
        // batching (recvmmsg would only add its own overhead, and the probes' receive-side
        // syscall layers follow recvfrom).
        opts.batch = 1;
    }
    let sched = match side {
        Side::A => cfg.sched_a,
        Side::B => cfg.sched_b,
    };
    let handle = topo.spawn_in(side, name.to_owned(), move || -> anyhow::Result<T> {
        sched.apply_to_current_thread()?;
        let mut transport = paths::open(path, encap, &t2, side, &opts)?;
        if let Some(r) = ready {
            let _ = r.send(());
        }
        body(transport.as_mut())
    })?;
    Ok(handle)
}

fn join<T>(h: std::thread::JoinHandle<anyhow::Result<T>>, what: &str) -> anyhow::Result<T> {
    match h.join() {
        Ok(r) => r.with_context(|| format!("the {what} failed")),
        Err(_) => bail!("the {what} thread panicked"),
    }
}

fn wait_ready(rx: &mpsc::Receiver<()>, what: &str) -> anyhow::Result<()> {
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| anyhow::anyhow!("the {what} did not start (see the error above)"))
}

#[allow(clippy::too_many_arguments)]
fn run_pingpong(
    cfg: &RunConfig,
    topo: &Arc<Topology>,
    codec: &dyn MessageCodec,
    stop: &Arc<AtomicBool>,
    run_id: &str,
    rows: &mut Rows<'_>,
    samples: &mut Vec<SampleRow>,
    report: &mut Vec<String>,
    kernel_stamps: &mut KernelStamps,
) -> anyhow::Result<()> {
    let reflector_stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let rs = Arc::clone(&reflector_stop);
    let reflector = spawn_side(topo, Side::B, "ub-reflector", cfg, Some(ready_tx), {
        let mut c = codec.boxed();
        move |t| Ok(loops::reflect(t, c.as_mut(), &rs)?)
    })?;
    if let Err(e) = wait_ready(&ready_rx, "reflector") {
        reflector_stop.store(true, Ordering::Relaxed);
        join(reflector, "reflector")?;
        return Err(e);
    }
    let pp = PingPongConfig {
        warmup: cfg.warmup,
        count: cfg.count,
        timeout: Duration::from_millis(cfg.timeout_ms),
    };
    let st = Arc::clone(stop);
    let mut c = codec.boxed();
    let initiator = spawn_side(topo, Side::A, "ub-pingpong", cfg, None, move |t| {
        Ok(loops::ping_pong(t, c.as_mut(), &pp, &st)?)
    })?;
    let result = join(initiator, "ping-pong initiator");
    reflector_stop.store(true, Ordering::Relaxed);
    let refl = join(reflector, "reflector")?;
    let r = result?;
    // The XDP program of each side stamps what arrives there: pings at B, echoes at A.
    if let Some(x) = &refl.xdp {
        kernel_stamps.xdp.push((0, x.clone()));
    }
    if let Some(x) = &r.xdp {
        kernel_stamps.xdp.push((1, x.clone()));
    }

    let measured = r.round_trips.len() as u64;
    let received = r
        .round_trips
        .iter()
        .filter(|x| x.t_recv_ns.is_some())
        .count() as u64;
    let a = Accounting {
        sent: measured,
        received,
        lost: measured - received,
        reordered: r.seq.reordered,
        duplicated: r.seq.duplicates,
        late: r.late,
        rejects: RejectCounts {
            decode_errors: r.rejects.decode_errors + refl.rejects.decode_errors,
            out_of_run: r.rejects.out_of_run + refl.rejects.out_of_run,
        },
        tx: r.transport,
        rx: refl.transport,
    };
    rows.accounting(&a);
    report.push(accounting_line(&a));
    let rtts: Vec<u64> = r
        .round_trips
        .iter()
        .filter_map(|x| x.t_recv_ns.map(|t| t - x.t_send_ns))
        .collect();
    if let Some(s) = Summary::of(rtts.iter().copied()) {
        rows.summary("rtt", &s);
        report.extend(table_line("round trip", &s));
    }
    rows.cpu("initiator", r.cpu, measured);
    rows.cpu("reflector", refl.cpu, refl.reflected);
    if r.wall_ns > 0 {
        rows.push(
            "rate",
            "round_trips_per_second",
            measured as f64 * 1e9 / r.wall_ns as f64,
            "1/s",
        );
    }
    samples.extend(r.round_trips.iter().map(|x| SampleRow {
        run_id: run_id.to_owned(),
        seq: x.packet_id as u16,
        packet_id: x.packet_id,
        t_send_ns: x.t_send_ns,
        t_recv_ns: x.t_recv_ns,
        rtt_ns: x.t_recv_ns.map(|t| t - x.t_send_ns),
        one_way_ns: None,
        send_deviation_ns: None,
        lost: x.t_recv_ns.is_none(),
    }));
    Ok(())
}

type SubscriberHandle = std::thread::JoinHandle<anyhow::Result<loops::SubscribeResult>>;

/// Starts the subscriber in namespace B and waits until its transport is open.
fn start_subscriber(
    cfg: &RunConfig,
    topo: &Arc<Topology>,
    codec: &dyn MessageCodec,
    sub_cfg: SubscribeConfig,
    publisher_done: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<SubscriberHandle> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (pd, st) = (Arc::clone(publisher_done), Arc::clone(stop));
    let subscriber = spawn_side(topo, Side::B, "ub-subscriber", cfg, Some(ready_tx), {
        let mut c = codec.boxed();
        move |t| Ok(loops::subscribe(t, c.as_mut(), &sub_cfg, &pd, &st)?)
    })?;
    if let Err(e) = wait_ready(&ready_rx, "subscriber") {
        publisher_done.store(true, Ordering::Release);
        stop.store(true, Ordering::Relaxed);
        join(subscriber, "subscriber")?;
        return Err(e);
    }
    Ok(subscriber)
}

#[allow(clippy::too_many_arguments)]
fn run_cyclic(
    cfg: &RunConfig,
    topo: &Arc<Topology>,
    codec: &dyn MessageCodec,
    stop: &Arc<AtomicBool>,
    run_id: &str,
    rows: &mut Rows<'_>,
    samples: &mut Vec<SampleRow>,
    report: &mut Vec<String>,
    kernel_stamps: &mut KernelStamps,
) -> anyhow::Result<()> {
    let offset_before = cfg
        .path_options
        .so_timestamping
        .then(|| uadpbench_sender::clock::realtime_offset(1000));
    let count = cfg.measured_count();
    let total = cfg.warmup + count;
    let publisher_done = Arc::new(AtomicBool::new(false));
    let sub_cfg = SubscribeConfig {
        warmup: cfg.warmup,
        expected: total,
        record: true,
        linger: Duration::from_millis(cfg.timeout_ms),
    };
    let subscriber = start_subscriber(cfg, topo, codec, sub_cfg, &publisher_done, stop)?;
    let cyc = CyclicConfig {
        warmup: cfg.warmup,
        count,
        interval: Duration::from_micros(cfg.interval_us),
        spin: Duration::from_micros(cfg.spin_us),
    };
    let (pd, st) = (Arc::clone(&publisher_done), Arc::clone(stop));
    let mut c = codec.boxed();
    let publisher = spawn_side(topo, Side::A, "ub-publisher", cfg, None, move |t| {
        // Start one interval from now so the first deadline is not already late.
        let start = monotonic_ns() + cyc.interval.as_nanos() as u64;
        let r = loops::publish_cyclic(t, c.as_mut(), &cyc, start, &st);
        pd.store(true, Ordering::Release);
        Ok(r?)
    })?;
    let pub_result = join(publisher, "publisher");
    publisher_done.store(true, Ordering::Release);
    let sub = join(subscriber, "subscriber")?;
    let p = pub_result?;
    if let Some(before) = offset_before {
        kernel_stamps.clock = Some(crate::clock_check::ClockStamps {
            tx: p.tx_stamps.clone(),
            rx: sub.rx_stamps.clone(),
            before,
            after: uadpbench_sender::clock::realtime_offset(1000),
        });
    }

    if let Some(x) = &sub.xdp {
        kernel_stamps.xdp.push((0, x.clone()));
    }
    let measured = p.publications.len() as u64;
    let a = Accounting {
        sent: measured,
        received: sub.measured_received,
        lost: measured.saturating_sub(sub.measured_received),
        reordered: sub.seq.reordered,
        duplicated: sub.seq.duplicates,
        late: 0,
        rejects: sub.rejects,
        tx: p.transport,
        rx: sub.transport,
    };
    rows.accounting(&a);
    report.push(accounting_line(&a));
    let mut recv_by_id = vec![None; total as usize];
    let mut carried_mismatch = 0u64;
    for r in &sub.receptions {
        if let Some(slot) = recv_by_id.get_mut(r.packet_id as usize) {
            *slot = Some(r.t_recv_ns);
        }
    }
    // One-way latency: the send log (the publisher's own time of each id) joined with the
    // receptions. The benchmark message also carries its send time: it must agree.
    let mut one_way = Vec::with_capacity(p.publications.len());
    let mut send_by_id = vec![None; total as usize];
    for x in &p.publications {
        if let Some(slot) = send_by_id.get_mut(x.packet_id as usize) {
            *slot = Some(x.t_send_ns);
        }
        if let Some(t) = recv_by_id.get(x.packet_id as usize).copied().flatten() {
            one_way.push(t.saturating_sub(x.t_send_ns));
        }
    }
    for r in &sub.receptions {
        let logged = send_by_id.get(r.packet_id as usize).copied().flatten();
        if let (Some(carried), Some(logged)) = (r.t_send_ns, logged) {
            if carried != logged {
                carried_mismatch += 1;
            }
        }
    }
    if carried_mismatch > 0 {
        bail!(
            "{carried_mismatch} message(s) carried another send time than the publisher logged for their packet id: the receiver matched the wrong messages"
        );
    }
    let deviation: Vec<u64> = p
        .publications
        .iter()
        .map(|x| x.t_send_ns.saturating_sub(x.deadline_ns))
        .collect();
    if let Some(s) = Summary::of(one_way.iter().copied()) {
        rows.summary("one_way", &s);
        report.extend(table_line("one way", &s));
    }
    if let Some(s) = Summary::of(deviation.iter().copied()) {
        rows.summary("send_deviation", &s);
        report.push(table_line("send deviation", &s)[1].clone());
    }
    rows.cpu("publisher", p.cpu, p.sent);
    rows.cpu("subscriber", sub.cpu, sub.seq.received);
    rows.push(
        "interval",
        "configured",
        cfg.interval_us as f64 * 1000.0,
        "ns",
    );
    samples.extend(p.publications.iter().map(|x| {
        let t_recv = recv_by_id.get(x.packet_id as usize).copied().flatten();
        SampleRow {
            run_id: run_id.to_owned(),
            seq: x.packet_id as u16,
            packet_id: x.packet_id,
            t_send_ns: x.t_send_ns,
            t_recv_ns: t_recv,
            rtt_ns: None,
            one_way_ns: t_recv.map(|t| t.saturating_sub(x.t_send_ns)),
            send_deviation_ns: Some(x.t_send_ns.saturating_sub(x.deadline_ns)),
            lost: t_recv.is_none(),
        }
    }));
    Ok(())
}

fn run_flood(
    cfg: &RunConfig,
    topo: &Arc<Topology>,
    codec: &dyn MessageCodec,
    stop: &Arc<AtomicBool>,
    rows: &mut Rows<'_>,
    report: &mut Vec<String>,
) -> anyhow::Result<()> {
    let duration = Duration::from_secs_f64(cfg.duration_s.unwrap_or(1.0));
    let publisher_done = Arc::new(AtomicBool::new(false));
    // Upper bound for preallocation only: 4 million messages per second.
    let expected = (duration.as_secs_f64() * 4e6) as u64 + 1024;
    let sub_cfg = SubscribeConfig {
        warmup: 0,
        expected,
        record: false,
        linger: Duration::from_millis(cfg.timeout_ms),
    };
    let subscriber = start_subscriber(cfg, topo, codec, sub_cfg, &publisher_done, stop)?;
    let flood = FloodConfig {
        duration,
        batch: cfg.path_options.batch,
    };
    let (pd, st) = (Arc::clone(&publisher_done), Arc::clone(stop));
    let mut c = codec.boxed();
    let publisher = spawn_side(topo, Side::A, "ub-flood", cfg, None, move |t| {
        let r = loops::publish_flood(t, c.as_mut(), &flood, &st);
        pd.store(true, Ordering::Release);
        Ok(r?)
    })?;
    let pub_result = join(publisher, "flood publisher");
    publisher_done.store(true, Ordering::Release);
    let sub = join(subscriber, "subscriber")?;
    let p = pub_result?;

    let a = Accounting {
        sent: p.sent,
        received: sub.seq.received,
        lost: p.sent.saturating_sub(sub.seq.received),
        reordered: sub.seq.reordered,
        duplicated: sub.seq.duplicates,
        late: 0,
        rejects: sub.rejects,
        tx: p.transport,
        rx: sub.transport,
    };
    rows.accounting(&a);
    report.push(accounting_line(&a));
    let secs = p.wall_ns as f64 / 1e9;
    let rx_rate = if secs > 0.0 {
        sub.seq.received as f64 / secs
    } else {
        0.0
    };
    let tx_rate = if secs > 0.0 {
        p.sent as f64 / secs
    } else {
        0.0
    };
    rows.push("rate", "sent_per_second", tx_rate, "1/s");
    rows.push("rate", "received_per_second", rx_rate, "1/s");
    rows.push(
        "rate",
        "received_uadp_bits_per_second",
        rx_rate * cfg.payload_bytes as f64 * 8.0,
        "bit/s",
    );
    rows.push("duration", "publisher_wall", p.wall_ns as f64, "ns");
    rows.cpu("publisher", p.cpu, p.sent);
    rows.cpu("subscriber", sub.cpu, sub.seq.received);
    report.push(format!(
        "  rate: sent {:.0}/s, received {:.0}/s ({:.1} Mbit/s of UADP); CPU per message: publisher {:.0} ns, subscriber {:.0} ns",
        tx_rate,
        rx_rate,
        rx_rate * cfg.payload_bytes as f64 * 8.0 / 1e6,
        (p.cpu.user + p.cpu.system).as_nanos() as f64 / p.sent.max(1) as f64,
        (sub.cpu.user + sub.cpu.system).as_nanos() as f64 / sub.seq.received.max(1) as f64,
    ));
    Ok(())
}

#[cfg(test)]
mod bound_tests {
    use super::*;
    use proptest::prelude::*;

    /// Extreme and ordinary values of a u64 option.
    fn u64_values() -> impl Strategy<Value = u64> {
        prop_oneof![
            Just(0u64),
            Just(1),
            Just(u64::MAX),
            Just(u64::MAX / 1000 + 1),
            Just(u32::MAX as u64 + 1),
            Just(MAX_MESSAGES),
            Just(MAX_MESSAGES + 1),
            0u64..100_000,
            any::<u64>(),
        ]
    }

    fn f64_values() -> impl Strategy<Value = Option<f64>> {
        prop_oneof![
            Just(None),
            Just(Some(f64::NAN)),
            Just(Some(f64::INFINITY)),
            Just(Some(-1.0)),
            Just(Some(0.0)),
            Just(Some(1e300)),
            Just(Some(1e-12)),
            (0.0f64..100.0).prop_map(Some),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// Whatever the numbers, a configuration that validates can be run without overflow,
        /// truncation or a panic: its sizes fit in memory limits and its times in `Duration`.
        #[test]
        fn validated_numbers_are_representable(
            count in u64_values(),
            warmup in u64_values(),
            interval_us in u64_values(),
            spin_us in u64_values(),
            timeout_ms in u64_values(),
            mtu in u64_values(),
            batch in u64_values(),
            duration_s in f64_values(),
            mode in prop_oneof![Just(Mode::Pingpong), Just(Mode::Cyclic), Just(Mode::Flood)],
        ) {
            let cfg = RunConfig {
                count,
                warmup,
                interval_us,
                spin_us,
                timeout_ms,
                mtu: mtu as usize,
                duration_s,
                mode,
                placement: Placement::None,
                path_options: PathOptions { batch: batch as usize, ..PathOptions::default() },
                ..RunConfig::default()
            };
            if cfg.validate().is_empty() {
                prop_assert!(cfg.count + cfg.warmup <= 2 * MAX_MESSAGES);
                prop_assert!(cfg.measured_count() <= MAX_MESSAGES);
                prop_assert!(cfg.measured_count() > 0 || mode == Mode::Flood);
                prop_assert!(cfg.interval_us.checked_mul(1000).is_some());
                prop_assert!(cfg.interval_us >= 1);
                prop_assert!(cfg.spin_us <= cfg.interval_us);
                prop_assert!((1..=MAX_TIMEOUT_MS).contains(&cfg.timeout_ms));
                prop_assert!((MIN_MTU..=MAX_MTU).contains(&(cfg.mtu as u64)));
                prop_assert!((1..=MAX_BATCH).contains(&cfg.path_options.batch));
                if let Some(d) = cfg.duration_s {
                    prop_assert!(Duration::try_from_secs_f64(d).is_ok());
                }
                if mode == Mode::Flood {
                    prop_assert!(cfg.duration_s.is_some_and(|d| d > 0.0));
                }
            }
        }
    }

    #[test]
    fn a_signal_after_the_last_message_is_not_an_interruption() {
        assert!(!cut_short(true, Mode::Pingpong, 1000, 1000));
        assert!(!cut_short(true, Mode::Cyclic, 1000, 1000));
        assert!(cut_short(true, Mode::Pingpong, 999, 1000));
        assert!(!cut_short(false, Mode::Pingpong, 10, 1000));
        assert!(cut_short(true, Mode::Flood, 10, 0));
    }

    #[test]
    fn reported_wraps_are_refused() {
        let wrap = RunConfig {
            mode: Mode::Cyclic,
            interval_us: u64::MAX,
            placement: Placement::None,
            ..RunConfig::default()
        };
        assert!(
            wrap.validate().iter().any(|p| p.contains("--interval-us")),
            "{:?}",
            wrap.validate()
        );
        for count in [1_000_000_000_000u64, u64::MAX] {
            let c = RunConfig {
                count,
                placement: Placement::None,
                ..RunConfig::default()
            };
            assert!(c.validate().iter().any(|p| p.contains("--count")));
        }
        for d in [f64::NAN, 1e300, -1.0] {
            let c = RunConfig {
                mode: Mode::Flood,
                duration_s: Some(d),
                placement: Placement::None,
                ..RunConfig::default()
            };
            assert!(
                c.validate().iter().any(|p| p.contains("--duration")),
                "{d}: {:?}",
                c.validate()
            );
        }
        let b = RunConfig {
            path_options: PathOptions {
                batch: 0,
                ..PathOptions::default()
            },
            placement: Placement::None,
            ..RunConfig::default()
        };
        assert!(b.validate().iter().any(|p| p.contains("--batch")));
        let m = RunConfig {
            mtu: 100_000,
            placement: Placement::None,
            ..RunConfig::default()
        };
        assert!(m.validate().iter().any(|p| p.contains("--mtu")));
    }
}
