//! Loading, attaching (best mechanism per layer), draining and cost accounting.

use std::{
    error::Error as StdError,
    fmt,
    mem::{size_of, zeroed},
    os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, OwnedFd},
    path::PathBuf,
};

use aya::{
    maps::{Array, PerCpuArray},
    programs::{
        fentry::FEntryLink, kprobe::KProbeLink, tp_btf::BtfTracePointLink,
        trace_point::TracePointLink, uprobe::UProbeLink, uprobe::UProbeScope, BtfTracePoint,
        FEntry, KProbe, TracePoint, UProbe,
    },
    Btf, Ebpf, EbpfLoader,
};
use uadpbench_common::{
    global_counter_index, layer_counter_index, stamp_entries, GlobalCounter, LayerCounter,
    ProbeGlobals, PROBE_COUNTERS_MAP_NAME, PROBE_DEFAULT_SLOTS, PROBE_FLAG_DATA_READY,
    PROBE_FLAG_NETNS_FILTER, PROBE_FLAG_OFFSETS, PROBE_GLOBALS_NAME, PROBE_RECORD_MAP_NAME,
    PROBE_SLOTS_MAP_NAME, RECORD_MASK_CLASSIC, RECORD_MASK_MAIN, UADP_UDP_PORT,
    USER_FORMAT_ETHERNET, USER_FORMAT_NONE, USER_FORMAT_UADP,
};
use uadpbench_common::{
    sched_switch_format, SchedSwitch, PROBE_SCHED_MAP_NAME, PROBE_SCHED_MIN_BYTES,
    PROBE_TRACE_MAP_NAME,
};

use crate::{
    ensure_tracefs, is_root,
    kernel::KernelInfo,
    layers::{
        layer, layer_index, path_layers, resolve, AttachPoint, Candidate, Correlation, Direction,
        Helper, LayerId, Mechanism, ProbePath, Requirement, Selected, Selection, LAYERS,
    },
    netns_inode,
    slots::SlotMap,
    ProbeError, PROBES_OBJECT,
};

/// Default PublisherId of benchmark messages (the sender's default).
const DEFAULT_PUBLISHER_ID: u16 = 2234;
/// Default size of the `sched_switch` ring buffer: 16 MiB, 262144 context switches.
pub const DEFAULT_SCHED_BUFFER_BYTES: u32 = 16 << 20;

/// The `sched:sched_switch` program (not a layer: context for timelines).
const SCHED_SWITCH: Candidate = Candidate {
    mechanism: Mechanism::Tracepoint,
    program: "tp_sched_switch",
    attach: AttachPoint::Tracepoint {
        category: "sched",
        name: "sched_switch",
        fields: &[
            ("prev_comm", sched_switch_format::PREV_COMM as u16),
            ("prev_pid", sched_switch_format::PREV_PID as u16),
            ("prev_state", sched_switch_format::PREV_STATE as u16),
            ("next_comm", sched_switch_format::NEXT_COMM as u16),
            ("next_pid", sched_switch_format::NEXT_PID as u16),
        ],
    },
    correlation: Correlation::UserBuffer,
};

/// One context switch on one CPU (`sched:sched_switch`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SchedEvent {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, the clock of the layer events.
    pub t_ns: u64,
    /// The CPU.
    pub cpu: u32,
    /// Thread switched out (0: idle).
    pub prev_tid: u32,
    /// Its `comm`.
    pub prev_comm: String,
    /// Its state: 0 = runnable (preempted), else sleeping/blocked (`TASK_*` bits).
    pub prev_state: i64,
    /// Thread switched in (0: idle).
    pub next_tid: u32,
    /// Its `comm`.
    pub next_comm: String,
}

fn comm(b: &[u8; 16]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// What to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// The path whose layers are traced (decides the user-buffer format too).
    pub path: ProbePath,
    /// Which layers.
    pub selection: Selection,
    /// Process whose threads the process-context layers trace (0: every process). Default:
    /// this process.
    pub target_tgid: u32,
    /// PublisherId of the benchmark messages to recognise.
    pub publisher_id: u16,
    /// UDP port (source or destination) of UADP over UDP.
    pub udp_port: u16,
    /// Network namespace files (at most 2) whose devices the device-level layers trace, e.g.
    /// both ends of the topology (`Endpoint::netns_path()`). Empty: every device.
    pub netns: Vec<PathBuf>,
    /// Packet slots (a power of two, ≥ 2). Packets more than `slots` ids apart share a slot:
    /// drain before that many packets are in flight undrained, or lose (and count) stamps.
    /// 1152 bytes each.
    pub slots: u32,
    /// Mechanisms not to use even if the kernel offers them (e.g. `[TpBtf]` to test the
    /// classic tracepoint fallback).
    pub deny: Vec<Mechanism>,
    /// Turn on `BPF_ENABLE_STATS` (run count and time of every program) from the start of the
    /// session. It adds two clock reads to every program run (of every BPF program on the
    /// machine): turn it off for measured packets with [`ProbeSession::stop_stats_at_packet`]
    /// (calibration) or [`ProbeSession::stop_stats`].
    pub stats: bool,
    /// Also attach the `sched:sched_switch` program and record every context switch on every
    /// CPU while the trace window is open ([`ProbeSession::set_sched_window`]; open from the
    /// start of the session). For timelines: costs ~0.2 µs per context switch while open.
    pub sched_switch: bool,
    /// Bytes of the `sched_switch` ring buffer (a power of two, multiple of the page size;
    /// 64 bytes a switch). Records that do not fit are dropped and counted.
    pub sched_buffer_bytes: u32,
}

impl ProbeConfig {
    /// Defaults: all layers of `path`, this process, PublisherId 2234, port 4840, no netns
    /// filter, 16384 slots, every mechanism allowed, stats on.
    pub fn new(path: ProbePath) -> Self {
        ProbeConfig {
            path,
            selection: Selection::All,
            target_tgid: std::process::id(),
            publisher_id: DEFAULT_PUBLISHER_ID,
            udp_port: UADP_UDP_PORT,
            netns: Vec::new(),
            slots: PROBE_DEFAULT_SLOTS,
            deny: Vec::new(),
            stats: true,
            sched_switch: false,
            sched_buffer_bytes: DEFAULT_SCHED_BUFFER_BYTES,
        }
    }
}

/// How a layer is (or would be) hooked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Attached ([`ProbeSession`]) or loadable and attachable as far as can be checked without
    /// attaching ([`plan`]).
    Attached {
        /// The mechanism.
        mechanism: Mechanism,
        /// The program.
        program: &'static str,
        /// Whether its stamps are recorded (false: only a helper of another layer).
        recorded: bool,
    },
    /// [`plan`]: the program loads (the verifier accepts it) and the hook exists; it would be
    /// attached with this mechanism.
    Available {
        /// The mechanism.
        mechanism: Mechanism,
        /// The program.
        program: &'static str,
    },
    /// No candidate works here; one reason per candidate tried (`"fentry: ..."`).
    Unavailable {
        /// Why not.
        reasons: Vec<String>,
    },
    /// Not selected, so not attached (sessions don't evaluate unselected layers).
    NotSelected,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Attached {
                mechanism,
                program,
                recorded,
            } => {
                write!(f, "{mechanism} ({program})")?;
                if !recorded {
                    f.write_str(", helper only")?;
                }
                Ok(())
            }
            Outcome::Available { mechanism, program } => {
                write!(f, "{mechanism} ({program}), available")
            }
            Outcome::Unavailable { reasons } => {
                write!(f, "not attachable: {}", reasons.join("; "))
            }
            Outcome::NotSelected => f.write_str("not selected"),
        }
    }
}

/// One layer of a path: selection and outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerStatus {
    /// The layer.
    pub layer: LayerId,
    /// Its name.
    pub name: &'static str,
    /// Send or receive side.
    pub direction: Direction,
    /// Position in the path's layer list ([`path_layers`]).
    pub layer_index: usize,
    /// Whether it is traced.
    pub selected: Selected,
    /// How it is hooked, or why not.
    pub outcome: Outcome,
    /// When an attached probe legitimately sees no packet.
    pub only_when: Option<&'static str>,
}

/// [`plan`] output: the same shape as a session's [`LayerStatus`].
pub type LayerPlan = LayerStatus;

impl LayerStatus {
    /// The mechanism it is attached with (session), or would be ([`plan`]).
    pub fn attached_via(&self) -> Option<Mechanism> {
        match self.outcome {
            Outcome::Attached { mechanism, .. } | Outcome::Available { mechanism, .. } => {
                Some(mechanism)
            }
            _ => None,
        }
    }

    /// Whether its stamps are recorded.
    pub fn recorded(&self) -> bool {
        matches!(self.outcome, Outcome::Attached { recorded: true, .. })
    }
}

/// One timestamp of one packet at one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LayerEvent {
    /// The benchmark packet id (the UADP message's 64-bit id; its low 16 bits are the
    /// NetworkMessage SequenceNumber).
    pub packet_id: u64,
    /// The layer.
    pub layer: LayerId,
    /// Position of the layer in its path ([`layer_index`]).
    pub layer_index: u16,
    /// 0: the packet's first crossing of this layer; 1: the second (a ping-pong echo).
    pub crossing: u8,
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, the userspace clock of the benchmark.
    pub t_ns: u64,
    /// CPU the probe ran on.
    pub cpu: u32,
    /// Thread that was current (softirq work runs in the interrupted thread or ksoftirqd).
    pub tid: u32,
}

/// Per-layer event accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerLoss {
    /// The layer.
    pub layer: LayerId,
    /// Stamps written by the probe.
    pub recorded: u64,
    /// Stamps drained into events.
    pub drained: u64,
    /// Stamps written over an undrained stamp of another packet (the older one is lost).
    pub overwritten: u64,
    /// Stamps dropped: both crossings of the layer already held the packet.
    pub extra_crossings: u64,
    /// Target-thread buffers the probe could not read (maybe benchmark packets).
    pub read_failures: u64,
    /// Classic variants: skb map entries whose frame length did not match (stale entries of
    /// freed skbs); no stamp written.
    pub mismatches: u64,
    /// Classic variants: skb map entries rejected as stale (tagged too long ago, or older than
    /// the packet already stamped at this layer: a freed skb's address reused); no stamp written.
    pub stale_matches: u64,
    /// Runs of the layer's program the kernel skipped (`recursion_misses`, e.g. a classic
    /// tracepoint firing inside another BPF program on the same CPU).
    pub missed_runs: u64,
    /// `sched_waking`: received packets whose receiving thread slept in the `recvfrom` that
    /// returned them — the packets the wake-up layers apply to (`recorded / applicable` is
    /// their coverage). 0 for the other layers.
    pub applicable: u64,
}

impl LayerLoss {
    /// Events certainly lost.
    pub fn lost(&self) -> u64 {
        self.overwritten + self.extra_crossings
    }

    /// Events that may have been lost (unreadable buffers, skipped runs).
    pub fn maybe_lost(&self) -> u64 {
        self.read_failures + self.missed_runs
    }
}

/// Cost of one BPF program (`BPF_ENABLE_STATS`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramCost {
    /// Program name in the object.
    pub program: &'static str,
    /// Kernel program id (as `bpftool prog` shows it).
    pub prog_id: u32,
    /// The layer it records, or the helper it is.
    pub role: &'static str,
    /// Its mechanism.
    pub mechanism: Mechanism,
    /// Runs (every hit of the hook, benchmark packet or not).
    pub run_count: u64,
    /// Total run time.
    pub run_time_ns: u64,
    /// `run_time_ns / run_count`.
    pub ns_per_run: Option<f64>,
    /// Runs the kernel skipped (recursion).
    pub missed_runs: u64,
    /// Stamps the program wrote.
    pub events_recorded: u64,
    /// Its events lost ([`LayerLoss::lost`]).
    pub events_lost: u64,
}

/// Everything a session collected.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The path.
    pub path: ProbePath,
    /// Per layer of the path: selection and how it was attached or why not.
    pub layers: Vec<LayerStatus>,
    /// All events, in drain order.
    pub events: Vec<LayerEvent>,
    /// Per recorded layer.
    pub lost_per_layer: Vec<LayerLoss>,
    /// Per attached program.
    pub program_costs: Vec<ProgramCost>,
    /// Thread context slots taken over from another in-flight thread.
    pub thread_slot_evictions: u64,
    /// Failed inserts into the skb map (classic fallback).
    pub skb_map_insert_failures: u64,
    /// Why `BPF_ENABLE_STATS` is off, if it is.
    pub stats_error: Option<String>,
    /// When `BPF_ENABLE_STATS` was on: the window [`program_costs`](Self::program_costs)
    /// covers.
    pub stats_window: StatsWindow,
    /// Context switches recorded while the trace window was open ([`ProbeConfig::sched_switch`];
    /// empty without it), in time order.
    pub sched_events: Vec<SchedEvent>,
    /// Context switches lost: the ring buffer was full.
    pub sched_dropped: u64,
    /// Why the `sched_switch` program could not be attached, if it was requested and failed.
    pub sched_error: Option<String>,
}

/// How often the calibration watcher ([`ProbeSession::stop_stats_at_packet`]) looks at the
/// stamps: the statistics stay on for at most about this long into the measured packets.
pub const STATS_WATCH_INTERVAL: std::time::Duration = std::time::Duration::from_micros(100);

/// When `BPF_ENABLE_STATS` was on during a session (CLOCK_MONOTONIC ns): the window the
/// programs' run counts and times cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsWindow {
    /// When it was turned on (`None`: never: not requested, or refused).
    pub on_ns: Option<u64>,
    /// When it was turned off before the session ended (`None`: on until the end, or never).
    pub off_ns: Option<u64>,
    /// The packet whose stamp turned it off ([`ProbeSession::stop_stats_at_packet`]).
    pub off_at_packet: Option<u64>,
}

fn monotonic_ns() -> u64 {
    // SAFETY: a valid timespec out-parameter.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The `BPF_ENABLE_STATS` file descriptor (statistics are on while it is open), shared with the
/// calibration watcher.
#[derive(Clone)]
struct StatsHold(std::sync::Arc<std::sync::Mutex<(Option<OwnedFd>, StatsWindow)>>);

impl StatsHold {
    fn new(fd: Option<OwnedFd>) -> Self {
        let window = StatsWindow {
            on_ns: fd.as_ref().map(|_| monotonic_ns()),
            ..StatsWindow::default()
        };
        StatsHold(std::sync::Arc::new(std::sync::Mutex::new((fd, window))))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Option<OwnedFd>, StatsWindow)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_on(&self) -> bool {
        self.lock().0.is_some()
    }

    fn stop(&self, at_packet: Option<u64>) {
        let mut g = self.lock();
        if g.0.take().is_some() {
            g.1.off_ns = Some(monotonic_ns());
            g.1.off_at_packet = at_packet;
        }
    }

    fn window(&self) -> StatsWindow {
        self.lock().1
    }
}

/// The calibration watcher thread; dropping it stops and joins it.
struct StatsWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StatsWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// An owned attachment: dropping it detaches.
#[allow(dead_code)] // held for their Drop
enum OwnedLink {
    Tracepoint(TracePointLink),
    BtfTracepoint(BtfTracePointLink),
    FEntry(FEntryLink),
    KProbe(KProbeLink),
    UProbe(UProbeLink),
}

/// A program the session attached.
#[derive(Clone, Copy, Debug)]
struct AttachedProgram {
    program: &'static str,
    mechanism: Mechanism,
    role: &'static str,
    layer: Option<LayerId>,
}

/// Loads and attaches candidates.
struct Attacher<'a> {
    ebpf: &'a mut Ebpf,
    kernel: &'a KernelInfo,
    btf: Result<Btf, String>,
    deny: &'a [Mechanism],
    attach: bool,
    links: Vec<OwnedLink>,
    attached: Vec<AttachedProgram>,
}

impl Attacher<'_> {
    fn is_attached(&self, program: &str) -> bool {
        self.attached.iter().any(|p| p.program == program)
    }

    /// Loads (and, in attach mode, attaches) `c`. `Err`: why it cannot be used here.
    fn try_candidate(
        &mut self,
        c: &Candidate,
        role: &'static str,
        layer: Option<LayerId>,
    ) -> Result<(), String> {
        if self.deny.contains(&c.mechanism) {
            return Err("not allowed by the configuration".to_owned());
        }
        self.kernel.preflight(c)?;
        if self.is_attached(c.program) {
            return Ok(());
        }
        let kernel = self.kernel;
        let load_err = |e: aya::programs::ProgramError| {
            kernel.explain_load_failure(c.mechanism, &describe(&e))
        };
        let prog = self.ebpf.program_mut(c.program).ok_or_else(|| {
            format!(
                "the probes object has no program {}: it is stale, rebuild uadpbench-probes",
                c.program
            )
        })?;
        let attach = self.attach;
        match (c.mechanism, c.attach) {
            (Mechanism::Tracepoint, AttachPoint::Tracepoint { category, name, .. }) => {
                let p: &mut TracePoint = prog.try_into().map_err(|e| describe(&e))?;
                if p.fd().is_err() {
                    p.load().map_err(load_err)?;
                }
                if attach {
                    let id = p.attach(category, name).map_err(|e| describe(&e))?;
                    let link = p.take_link(id).map_err(|e| describe(&e))?;
                    self.links.push(OwnedLink::Tracepoint(link));
                }
            }
            (Mechanism::TpBtf, AttachPoint::BtfTracepoint { name, .. }) => {
                let btf = self.btf.as_ref().map_err(Clone::clone)?;
                let p: &mut BtfTracePoint = prog.try_into().map_err(|e| describe(&e))?;
                if p.fd().is_err() {
                    p.load(name, btf).map_err(load_err)?;
                }
                if attach {
                    let id = p.attach().map_err(|e| describe(&e))?;
                    let link = p.take_link(id).map_err(|e| describe(&e))?;
                    self.links.push(OwnedLink::BtfTracepoint(link));
                }
            }
            (Mechanism::FEntry, AttachPoint::Function(function)) => {
                let btf = self.btf.as_ref().map_err(Clone::clone)?;
                let p: &mut FEntry = prog.try_into().map_err(|e| describe(&e))?;
                if p.fd().is_err() {
                    p.load(function, btf).map_err(load_err)?;
                }
                if attach {
                    let id = p.attach().map_err(|e| describe(&e))?;
                    let link = p.take_link(id).map_err(|e| describe(&e))?;
                    self.links.push(OwnedLink::FEntry(link));
                }
            }
            (Mechanism::KProbe, AttachPoint::Function(function)) => {
                let p: &mut KProbe = prog.try_into().map_err(|e| describe(&e))?;
                if p.fd().is_err() {
                    p.load().map_err(load_err)?;
                }
                if attach {
                    let id = p.attach(function, 0).map_err(|e| describe(&e))?;
                    let link = p.take_link(id).map_err(|e| describe(&e))?;
                    self.links.push(OwnedLink::KProbe(link));
                }
            }
            (Mechanism::UProbe, AttachPoint::Libc { symbols, .. }) => {
                let p: &mut UProbe = prog.try_into().map_err(|e| describe(&e))?;
                if p.fd().is_err() {
                    p.load().map_err(load_err)?;
                }
                if attach {
                    // Per-process perf scopes miss threads created later: attach system-wide
                    // and let the program filter on the target process.
                    let mut new = Vec::new();
                    for sym in symbols {
                        let id = p
                            .attach(*sym, "libc", UProbeScope::AllProcesses)
                            .map_err(|e| format!("libc {sym}: {}", describe(&e)))?;
                        new.push(OwnedLink::UProbe(
                            p.take_link(id).map_err(|e| describe(&e))?,
                        ));
                    }
                    self.links.extend(new);
                }
            }
            (m, a) => return Err(format!("{m} cannot attach to {a}")),
        }
        self.attached.push(AttachedProgram {
            program: c.program,
            mechanism: c.mechanism,
            role,
            layer,
        });
        Ok(())
    }

    /// Tries a layer's candidates in order.
    fn try_layer(&mut self, id: LayerId, recorded: bool) -> Outcome {
        let l = layer(id);
        let mut reasons = Vec::new();
        for c in l.candidates {
            match self.try_candidate(c, l.name(), recorded.then_some(id)) {
                Ok(()) if !self.attach => {
                    return Outcome::Available {
                        mechanism: c.mechanism,
                        program: c.program,
                    }
                }
                Ok(()) => {
                    return Outcome::Attached {
                        mechanism: c.mechanism,
                        program: c.program,
                        recorded,
                    }
                }
                Err(r) => reasons.push(format!("{}: {r}", c.mechanism)),
            }
        }
        Outcome::Unavailable { reasons }
    }

    /// Attaches a helper; a failure is returned as a reason string.
    fn try_helper(&mut self, h: Helper) -> Result<(), String> {
        self.try_candidate(&h.candidate(), h.name(), None)
            .map_err(|r| format!("{}: {r}", h.name()))
    }
}

/// Formats an error with its sources; long verifier logs are cut to their end.
fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    if let Some(i) = s.find("Verifier output:") {
        let log: Vec<&str> = s[i..].lines().collect();
        if log.len() > 16 {
            let tail = log[log.len() - 15..].join("\n");
            s = format!("{}Verifier output (end): ...\n{tail}", &s[..i]);
        }
    }
    let mut src = e.source();
    while let Some(x) = src {
        let m = x.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    s
}

/// The functions the layer table may hook (for the kallsyms lookup).
fn table_functions() -> Vec<&'static str> {
    LAYERS
        .iter()
        .flat_map(|l| l.candidates.iter())
        .filter_map(|c| match c.attach {
            AttachPoint::Function(f) => Some(f),
            _ => None,
        })
        .collect()
}

fn user_format(path: ProbePath) -> u32 {
    match path {
        ProbePath::Udp => USER_FORMAT_UADP,
        ProbePath::Eth => USER_FORMAT_ETHERNET,
        ProbePath::Xdp => USER_FORMAT_NONE,
    }
}

fn globals(config: &ProbeConfig, kernel: &KernelInfo) -> Result<ProbeGlobals, ProbeError> {
    if config.slots < 2 || !config.slots.is_power_of_two() {
        return Err(ProbeError::Config(format!(
            "slots must be a power of two ≥ 2, not {}",
            config.slots
        )));
    }
    if config.sched_switch
        && (!config.sched_buffer_bytes.is_power_of_two()
            || config.sched_buffer_bytes < PROBE_SCHED_MIN_BYTES)
    {
        return Err(ProbeError::Config(format!(
            "sched_buffer_bytes must be a power of two ≥ {PROBE_SCHED_MIN_BYTES}, not {}",
            config.sched_buffer_bytes
        )));
    }
    if config.netns.len() > 2 {
        return Err(ProbeError::Config(format!(
            "at most 2 network namespaces can be traced, {} given",
            config.netns.len()
        )));
    }
    let mut g = ProbeGlobals {
        target_tgid: config.target_tgid,
        slot_mask: config.slots - 1,
        user_format: user_format(config.path),
        publisher_id: config.publisher_id,
        udp_port: config.udp_port,
        ..ProbeGlobals::DEFAULT
    };
    if let Ok(o) = &kernel.offsets {
        g.offsets = *o;
        g.flags |= PROBE_FLAG_OFFSETS;
    }
    for (i, ns) in config.netns.iter().enumerate() {
        g.netns_inum[i] = netns_inode(ns)?;
        g.flags |= PROBE_FLAG_NETNS_FILTER;
    }
    // A receiver's wake-up counts as its packet's only right after an sk_data_ready on the
    // waker's CPU, when that tracepoint will be attached.
    let data_ready = layer(LayerId::SkDataReady);
    if resolve(config.path, &config.selection)[LayerId::SkDataReady.index()] != Selected::No
        && data_ready
            .candidates
            .iter()
            .any(|c| !config.deny.contains(&c.mechanism) && kernel.preflight(c).is_ok())
    {
        g.flags |= PROBE_FLAG_DATA_READY;
    }
    Ok(g)
}

fn load(globals: &ProbeGlobals, slots: u32, sched_bytes: u32) -> Result<Ebpf, ProbeError> {
    if PROBES_OBJECT.is_empty() {
        return Err(ProbeError::NotBuilt);
    }
    EbpfLoader::new()
        .override_global(PROBE_GLOBALS_NAME, globals, true)
        .map_max_entries(PROBE_SLOTS_MAP_NAME, stamp_entries(slots))
        .map_max_entries(PROBE_SCHED_MAP_NAME, sched_bytes)
        .load(PROBES_OBJECT)
        .map_err(|e| {
            if is_root() {
                ProbeError::Load(Box::new(e))
            } else {
                ProbeError::NotRoot(Box::new(e))
            }
        })
}

fn status(path: ProbePath, id: LayerId, selected: Selected, outcome: Outcome) -> LayerStatus {
    let l = layer(id);
    LayerStatus {
        layer: id,
        name: l.name(),
        direction: l.direction,
        layer_index: layer_index(path, id).unwrap_or(usize::MAX),
        selected,
        outcome,
        only_when: l.only_when,
    }
}

/// The mechanism every layer of `path` would use on this kernel, or why it cannot be hooked,
/// without attaching anything (programs are loaded to let the verifier check them, then
/// unloaded). Every layer of the path is evaluated; `selected` says what `selection` traces.
/// Needs root to load; without it the reasons say so.
pub fn plan(path: ProbePath, selection: &Selection) -> Vec<LayerPlan> {
    let mut config = ProbeConfig::new(path);
    config.selection = selection.clone();
    plan_with(&config)
}

/// [`plan`] with a full configuration (denied mechanisms, publisher id, ...).
pub fn plan_with(config: &ProbeConfig) -> Vec<LayerPlan> {
    let path = config.path;
    let selected = resolve(path, &config.selection);
    let tracefs = ensure_tracefs().ok();
    let kernel = KernelInfo::gather(tracefs, &table_functions());
    let loaded = globals(config, &kernel).and_then(|g| load(&g, 2, PROBE_SCHED_MIN_BYTES));
    let mut ebpf = match loaded {
        Ok(e) => e,
        Err(e) => {
            let reason = describe(&e);
            return path_layers(path)
                .map(|l| {
                    status(
                        path,
                        l.id,
                        selected[l.id.index()],
                        Outcome::Unavailable {
                            reasons: vec![format!("cannot load the probes: {reason}")],
                        },
                    )
                })
                .collect();
        }
    };
    let mut att = Attacher {
        ebpf: &mut ebpf,
        kernel: &kernel,
        btf: Btf::from_sys_fs().map_err(|e| format!("kernel BTF unreadable: {e}")),
        deny: &config.deny,
        attach: false,
        links: Vec::new(),
        attached: Vec::new(),
    };
    path_layers(path)
        .map(|l| {
            let sel = selected[l.id.index()];
            let outcome = att.try_layer(l.id, sel != Selected::No);
            status(path, l.id, sel, outcome)
        })
        .collect()
}

/// Result of loading one program of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramCheck {
    /// Program name.
    pub program: &'static str,
    /// Its mechanism.
    pub mechanism: Mechanism,
    /// `Ok`: the kernel loaded it (the verifier accepted it); `Err`: why not.
    pub result: Result<(), String>,
}

/// Loads every program of the object once (nothing is attached) and reports which the kernel
/// accepts: a check of the verifier's verdict on all of them, including the mechanisms whose
/// hooks do not exist here (kprobe programs load without `CONFIG_KPROBES`).
pub fn verify_programs() -> Result<Vec<ProgramCheck>, ProbeError> {
    let config = ProbeConfig::new(ProbePath::Udp);
    let tracefs = ensure_tracefs().ok();
    let kernel = KernelInfo::gather(tracefs, &table_functions());
    let mut ebpf = load(&globals(&config, &kernel)?, 2, PROBE_SCHED_MIN_BYTES)?;
    let btf = Btf::from_sys_fs().map_err(|e| format!("kernel BTF unreadable: {e}"));
    let mut seen = Vec::new();
    let candidates = LAYERS
        .iter()
        .flat_map(|l| l.candidates.iter().copied())
        .chain(
            [
                Helper::SysEnterRecvfrom,
                Helper::LibcRecvEntry,
                Helper::KfreeSkb,
                Helper::SysEnterRecvmsg,
                Helper::SysExitRecvmsg,
                Helper::SysEnterPoll,
                Helper::SysExitPoll,
            ]
            .map(Helper::candidate),
        )
        .filter(|c| c.mechanism != Mechanism::Xdp);
    let mut out = Vec::new();
    for c in candidates {
        if seen.contains(&c.program) {
            continue;
        }
        seen.push(c.program);
        let result = (|| -> Result<(), String> {
            let prog = ebpf
                .program_mut(c.program)
                .ok_or_else(|| format!("no program {} in the object", c.program))?;
            let fail = |e: aya::programs::ProgramError| {
                kernel.explain_load_failure(c.mechanism, &describe(&e))
            };
            match (c.mechanism, c.attach) {
                (Mechanism::Tracepoint, _) => {
                    let p: &mut TracePoint = prog.try_into().map_err(|e| describe(&e))?;
                    p.load().map_err(fail)
                }
                (Mechanism::TpBtf, AttachPoint::BtfTracepoint { name, .. }) => {
                    let btf = btf.as_ref().map_err(Clone::clone)?;
                    let p: &mut BtfTracePoint = prog.try_into().map_err(|e| describe(&e))?;
                    p.load(name, btf).map_err(fail)
                }
                (Mechanism::FEntry, AttachPoint::Function(f)) => {
                    let btf = btf.as_ref().map_err(Clone::clone)?;
                    let p: &mut FEntry = prog.try_into().map_err(|e| describe(&e))?;
                    p.load(f, btf).map_err(fail)
                }
                (Mechanism::KProbe, _) => {
                    let p: &mut KProbe = prog.try_into().map_err(|e| describe(&e))?;
                    p.load().map_err(fail)
                }
                (Mechanism::UProbe, _) => {
                    let p: &mut UProbe = prog.try_into().map_err(|e| describe(&e))?;
                    p.load().map_err(fail)
                }
                (m, a) => Err(format!("{m} cannot attach to {a}")),
            }
        })();
        out.push(ProgramCheck {
            program: c.program,
            mechanism: c.mechanism,
            result,
        });
    }
    Ok(out)
}

/// An attached set of probes. Dropping it detaches everything.
pub struct ProbeSession {
    // Field order is drop order: detach first, then unmap, then unload.
    links: Vec<OwnedLink>,
    slots: SlotMap,
    ebpf: Ebpf,
    stats: StatsHold,
    stats_error: Option<String>,
    stats_watch: Option<StatsWatch>,
    path: ProbePath,
    slot_count: u32,
    status: Vec<LayerStatus>,
    programs: Vec<AttachedProgram>,
    recorded: Vec<LayerId>,
    events: Vec<LayerEvent>,
    drained: [u64; LAYERS.len()],
    sched_attached: bool,
    sched_error: Option<String>,
}

impl fmt::Debug for ProbeSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeSession")
            .field("path", &self.path)
            .field("recorded", &self.recorded)
            .field("links", &self.links.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl ProbeSession {
    /// Loads the probes, attaches the best available mechanism for every selected layer (and
    /// what they need), and starts recording.
    ///
    /// Layers that cannot be hooked are not an error: [`layers`](Self::layers) says why.
    /// Errors are about the whole set: not root, object missing, maps not creatable, bad
    /// configuration.
    pub fn start(config: ProbeConfig) -> Result<ProbeSession, ProbeError> {
        let path = config.path;
        let mut selected = resolve(path, &config.selection);
        let tracefs = ensure_tracefs().ok();
        let kernel = KernelInfo::gather(tracefs, &table_functions());
        let g = globals(&config, &kernel)?;
        // Stats on before anything runs, so counts cover the whole session.
        let (stats, stats_error) = if config.stats {
            match aya::sys::enable_stats(aya::sys::Stats::RunTime) {
                Ok(fd) => (Some(fd), None),
                Err(e) => (
                    None,
                    Some(format!("BPF_ENABLE_STATS failed: {}", describe(&e))),
                ),
            }
        } else {
            (None, Some("not requested".to_owned()))
        };
        let sched_bytes = if config.sched_switch {
            config.sched_buffer_bytes
        } else {
            PROBE_SCHED_MIN_BYTES
        };
        let mut ebpf = load(&g, config.slots, sched_bytes)?;
        let mut att = Attacher {
            ebpf: &mut ebpf,
            kernel: &kernel,
            btf: Btf::from_sys_fs().map_err(|e| format!("kernel BTF unreadable: {e}")),
            deny: &config.deny,
            attach: true,
            links: Vec::new(),
            attached: Vec::new(),
        };

        // Layers, in path order, until the prerequisites of the chosen candidates are in.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; LAYERS.len()];
        loop {
            for l in path_layers(path) {
                let i = l.id.index();
                if selected[i] != Selected::No && outcomes[i].is_none() {
                    outcomes[i] = Some(att.try_layer(l.id, true));
                }
            }
            // The classic skb-map variants are tagged from the sending thread's context.
            let classic = att
                .attached
                .iter()
                .any(|p| p.layer.is_some() && candidate_of(p).correlation == Correlation::SkbMap);
            let mut more = false;
            if classic {
                for dep in [LayerId::SysEnterSendto, LayerId::SysExitSendto] {
                    if layer(dep).on_path(path) && selected[dep.index()] == Selected::No {
                        selected[dep.index()] = Selected::Prerequisite;
                        more = true;
                    }
                }
            }
            if !more {
                break;
            }
        }

        // Helpers.
        let mut helper_notes: Vec<(LayerId, String)> = Vec::new();
        for l in path_layers(path) {
            if !matches!(outcomes[l.id.index()], Some(Outcome::Attached { .. })) {
                continue;
            }
            for r in l.requires {
                if let Requirement::Helper(h) = r {
                    if let Err(reason) = att.try_helper(*h) {
                        helper_notes.push((l.id, reason));
                    }
                }
            }
        }
        let classic_layers: Vec<LayerId> = att
            .attached
            .iter()
            .filter(|p| p.layer.is_some() && candidate_of(p).correlation == Correlation::SkbMap)
            .filter_map(|p| p.layer)
            .collect();
        if !classic_layers.is_empty() {
            if let Err(reason) = att.try_helper(Helper::KfreeSkb) {
                helper_notes.push((classic_layers[0], reason));
            }
            // The classic programs that tag (first transmit layers) and forget (consume) skbs,
            // as helpers where their layers are not traced.
            for id in [
                LayerId::NetDevQueue,
                LayerId::NetDevStartXmit,
                LayerId::ConsumeSkb,
            ] {
                if outcomes[id.index()].is_some() && selected[id.index()] != Selected::No {
                    continue;
                }
                if let Some(c) = layer(id)
                    .candidates
                    .iter()
                    .find(|c| c.correlation == Correlation::SkbMap)
                {
                    match att.try_candidate(c, id.name(), None) {
                        Ok(()) => {
                            outcomes[id.index()] = Some(Outcome::Attached {
                                mechanism: c.mechanism,
                                program: c.program,
                                recorded: false,
                            })
                        }
                        Err(r) => helper_notes.push((classic_layers[0], format!("{id:?}: {r}"))),
                    }
                }
            }
        }

        // Context switches for timelines (not a layer).
        let sched_error = if config.sched_switch {
            att.try_candidate(&SCHED_SWITCH, "sched_switch", None).err()
        } else {
            None
        };

        let Attacher {
            links, attached, ..
        } = att;

        // Record masks: which layers write stamps, from which kind of program.
        let mut main_mask = 0u32;
        let mut classic_mask = 0u32;
        for p in &attached {
            let Some(id) = p.layer else { continue };
            if candidate_of(p).correlation == Correlation::SkbMap {
                classic_mask |= id.bit();
            } else {
                main_mask |= id.bit();
            }
        }
        {
            let map = ebpf
                .map_mut(PROBE_RECORD_MAP_NAME)
                .ok_or(ProbeError::MissingMap(PROBE_RECORD_MAP_NAME))?;
            let mut masks = Array::<_, u32>::try_from(map).map_err(|source| ProbeError::Map {
                map: PROBE_RECORD_MAP_NAME,
                op: "opening as array",
                source: Box::new(source),
            })?;
            for (i, m) in [
                (RECORD_MASK_MAIN, main_mask),
                (RECORD_MASK_CLASSIC, classic_mask),
            ] {
                masks.set(i, m, 0).map_err(|source| ProbeError::Map {
                    map: PROBE_RECORD_MAP_NAME,
                    op: "update",
                    source: Box::new(source),
                })?;
            }
        }

        let slots = {
            let map = ebpf
                .map(PROBE_SLOTS_MAP_NAME)
                .ok_or(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME))?;
            let fd = map_fd(map).ok_or(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME))?;
            SlotMap::map(fd, config.slots).map_err(|source| ProbeError::Mmap {
                bytes: SlotMap::bytes(config.slots),
                source,
            })?
        };

        let mut status_list = Vec::new();
        for l in path_layers(path) {
            let i = l.id.index();
            let mut outcome = outcomes[i].clone().unwrap_or(Outcome::NotSelected);
            let notes: Vec<String> = helper_notes
                .iter()
                .filter(|(id, _)| *id == l.id)
                .map(|(_, r)| r.clone())
                .collect();
            if !notes.is_empty() {
                if let Outcome::Attached { .. } = outcome {
                    // Attached but a helper is missing: it will record nothing useful.
                    outcome = Outcome::Unavailable {
                        reasons: vec![format!(
                            "attached but its helper failed: {}",
                            notes.join("; ")
                        )],
                    };
                }
            }
            status_list.push(status(path, l.id, selected[i], outcome));
        }
        let recorded = attached.iter().filter_map(|p| p.layer).collect();
        let sched_attached = config.sched_switch && sched_error.is_none();
        let mut session = ProbeSession {
            links,
            slots,
            ebpf,
            stats: StatsHold::new(stats),
            stats_error,
            stats_watch: None,
            path,
            slot_count: config.slots,
            status: status_list,
            programs: attached,
            recorded,
            events: Vec::new(),
            drained: [0; LAYERS.len()],
            sched_attached,
            sched_error,
        };
        if sched_attached {
            session.set_sched_window(true)?;
        }
        Ok(session)
    }

    /// Opens (`true`) or closes the trace window: while open, the `sched_switch` program
    /// records every context switch ([`ProbeConfig::sched_switch`]; a no-op without it). A
    /// session with it starts with the window open.
    pub fn set_sched_window(&mut self, open: bool) -> Result<(), ProbeError> {
        if !self.sched_attached {
            return Ok(());
        }
        let map = self
            .ebpf
            .map_mut(PROBE_TRACE_MAP_NAME)
            .ok_or(ProbeError::MissingMap(PROBE_TRACE_MAP_NAME))?;
        let mut a = Array::<_, u32>::try_from(map).map_err(|source| ProbeError::Map {
            map: PROBE_TRACE_MAP_NAME,
            op: "opening as array",
            source: Box::new(source),
        })?;
        a.set(0, u32::from(open), 0)
            .map_err(|source| ProbeError::Map {
                map: PROBE_TRACE_MAP_NAME,
                op: "update",
                source: Box::new(source),
            })
    }

    /// Why the `sched_switch` program is not attached although requested, if so.
    pub fn sched_error(&self) -> Option<&str> {
        self.sched_error.as_deref()
    }

    /// Takes the context switches recorded so far out of the ring buffer, in time order.
    pub fn take_sched_events(&mut self) -> Result<Vec<SchedEvent>, ProbeError> {
        let mut out = Vec::new();
        if !self.sched_attached {
            return Ok(out);
        }
        let map = self
            .ebpf
            .map_mut(PROBE_SCHED_MAP_NAME)
            .ok_or(ProbeError::MissingMap(PROBE_SCHED_MAP_NAME))?;
        let mut ring = aya::maps::RingBuf::try_from(map).map_err(|source| ProbeError::Map {
            map: PROBE_SCHED_MAP_NAME,
            op: "opening as ring buffer",
            source: Box::new(source),
        })?;
        while let Some(item) = ring.next() {
            if item.len() < size_of::<SchedSwitch>() {
                continue;
            }
            // SAFETY: the record is a `SchedSwitch` (plain integers) written by the program;
            // unaligned read of its bytes.
            let r: SchedSwitch = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
            out.push(SchedEvent {
                t_ns: r.t_ns,
                cpu: r.cpu,
                prev_tid: r.prev_tid,
                prev_comm: comm(&r.prev_comm),
                prev_state: r.prev_state,
                next_tid: r.next_tid,
                next_comm: comm(&r.next_comm),
            });
        }
        // Per-CPU order is submission order; across CPUs reservations may interleave.
        out.sort_by_key(|e| (e.t_ns, e.cpu));
        Ok(out)
    }

    /// Every layer of the path: selection and how it is hooked, or why not.
    pub fn layers(&self) -> &[LayerStatus] {
        &self.status
    }

    /// The path.
    pub fn path(&self) -> ProbePath {
        self.path
    }

    /// Whether `BPF_ENABLE_STATS` is (still) on for this session.
    pub fn stats_enabled(&self) -> bool {
        self.stats.is_on()
    }

    /// Turns `BPF_ENABLE_STATS` off now (the run counts and times of the programs keep what
    /// they counted so far). A no-op if it is off.
    pub fn stop_stats(&mut self) {
        self.stats.stop(None);
    }

    /// Calibration: keeps `BPF_ENABLE_STATS` on until the probes stamp packet `packet_id` (at
    /// any layer this session records, either crossing), then turns it off. A watcher thread
    /// looks at the stamps every [`STATS_WATCH_INTERVAL`]; it ends when it has turned the
    /// statistics off or when the session finishes. Use it with the id of the first measured
    /// packet: the programs' costs then come from the warm-up, and the measured packets run
    /// without the two clock reads per program run that the statistics add. Call it after
    /// [`record_external`](Self::record_external) (external layers are not watched).
    pub fn stop_stats_at_packet(&mut self, packet_id: u64) -> Result<(), ProbeError> {
        if !self.stats.is_on() || self.stats_watch.is_some() {
            return Ok(());
        }
        let layers: Vec<LayerId> = self
            .recorded
            .iter()
            .copied()
            .filter(|l| *l != LayerId::XdpIngress)
            .collect();
        if layers.is_empty() {
            return Ok(());
        }
        let map = self
            .ebpf
            .map(PROBE_SLOTS_MAP_NAME)
            .ok_or(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME))?;
        let fd = map_fd(map).ok_or(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME))?;
        // Its own mapping of the stamps: the watcher never touches the session's.
        let view = SlotMap::map(fd, self.slot_count).map_err(|source| ProbeError::Mmap {
            bytes: SlotMap::bytes(self.slot_count),
            source,
        })?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hold = self.stats.clone();
        let stop_w = std::sync::Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("probe-stats".into())
            .spawn(move || {
                while !stop_w.load(std::sync::atomic::Ordering::Relaxed) {
                    if view.holds_packet(&layers, packet_id) {
                        hold.stop(Some(packet_id));
                        return;
                    }
                    std::thread::sleep(STATS_WATCH_INTERVAL);
                }
            })
            .map_err(|e| ProbeError::Config(format!("cannot start the stats watcher: {e}")))?;
        self.stats_watch = Some(StatsWatch {
            stop,
            handle: Some(handle),
        });
        Ok(())
    }

    /// When the run-time statistics were on so far.
    pub fn stats_window(&self) -> StatsWindow {
        self.stats.window()
    }

    /// Packet slots of the stamp map (a power of two).
    pub fn slots(&self) -> u32 {
        self.slot_count
    }

    /// Pins the stamp map (`PROBE_SLOTS`) at `path` in a bpffs (e.g.
    /// `/sys/fs/bpf/uadpbench_probe_slots`), so that another object can share it: the hook for
    /// the XDP program to stamp [`LayerId::XdpIngress`] (load it with
    /// `EbpfLoader::map_pin_path("PROBE_SLOTS", path)`, same map definition, write at
    /// `uadpbench_common::stamp_index` with `slot_mask = slots() - 1`). Then call
    /// [`record_external`](Self::record_external) so the session drains that layer. Remove
    /// the pin file when done.
    pub fn pin_stamp_map(&self, path: impl AsRef<std::path::Path>) -> Result<(), ProbeError> {
        let map = self
            .ebpf
            .map(PROBE_SLOTS_MAP_NAME)
            .ok_or(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME))?;
        map.pin(path.as_ref()).map_err(|e| {
            ProbeError::Config(format!(
                "pinning {PROBE_SLOTS_MAP_NAME} at {} failed (is a bpffs mounted there?): {}",
                path.as_ref().display(),
                describe(&e)
            ))
        })
    }

    /// Declares that another program (the XDP program) stamps `layer` into the shared stamp
    /// map: the session drains it and reports it attached via `mechanism`.
    pub fn record_external(&mut self, layer: LayerId, mechanism: Mechanism) {
        if !self.recorded.contains(&layer) {
            self.recorded.push(layer);
        }
        if let Some(s) = self.status.iter_mut().find(|s| s.layer == layer) {
            s.selected = Selected::Yes;
            s.outcome = Outcome::Attached {
                mechanism,
                program: "(external)",
                recorded: true,
            };
        }
    }

    /// Moves every stamp in the slots into the session's event list; returns how many. Call it
    /// while no benchmark packet is in flight (between batches): a stamp written while its slot
    /// is drained may be split from its packet's other stamps (never lost: the next drain
    /// collects it).
    pub fn drain(&mut self) -> usize {
        self.drain_inner(None)
    }

    /// Like [`drain`](Self::drain) but only stamps of packets with id `< before`: safe while
    /// newer packets are in flight (e.g. `before` = the oldest id not yet received).
    pub fn drain_before(&mut self, before: u64) -> usize {
        self.drain_inner(Some(before))
    }

    fn drain_inner(&mut self, before: Option<u64>) -> usize {
        let mut out = Vec::new();
        let n = self.slots.drain(&self.recorded, before, &mut out);
        self.events.reserve(out.len());
        for d in out {
            self.drained[d.layer.index()] += 1;
            self.events.push(LayerEvent {
                packet_id: d.stamp.packet_id,
                layer: d.layer,
                layer_index: layer_index(self.path, d.layer).unwrap_or(usize::MAX) as u16,
                crossing: d.crossing,
                t_ns: d.stamp.t_ns,
                cpu: d.stamp.cpu,
                tid: d.stamp.tid,
            });
        }
        n
    }

    /// Takes the events drained so far.
    pub fn take_events(&mut self) -> Vec<LayerEvent> {
        std::mem::take(&mut self.events)
    }

    fn counters(&self) -> Result<impl Fn(u32) -> u64 + '_, ProbeError> {
        let map = self
            .ebpf
            .map(PROBE_COUNTERS_MAP_NAME)
            .ok_or(ProbeError::MissingMap(PROBE_COUNTERS_MAP_NAME))?;
        let array = PerCpuArray::<_, u64>::try_from(map).map_err(|source| ProbeError::Map {
            map: PROBE_COUNTERS_MAP_NAME,
            op: "opening as per-CPU array",
            source: Box::new(source),
        })?;
        Ok(move |index: u32| {
            array
                .get(&index, 0)
                .map(|v| v.iter().copied().fold(0u64, u64::wrapping_add))
                .unwrap_or(0)
        })
    }

    /// Per recorded layer: stamps recorded, drained, lost and maybe lost so far.
    pub fn layer_losses(&self) -> Result<Vec<LayerLoss>, ProbeError> {
        let get = self.counters()?;
        let infos = self.program_infos();
        Ok(self
            .recorded
            .iter()
            .map(|&id| {
                let c = |k| get(layer_counter_index(id, k));
                let missed_runs = self
                    .programs
                    .iter()
                    .zip(&infos)
                    .filter(|(p, _)| p.layer == Some(id))
                    .map(|(_, i)| i.map_or(0, |i| i.recursion_misses))
                    .sum();
                LayerLoss {
                    layer: id,
                    recorded: c(LayerCounter::Recorded),
                    drained: self.drained[id.index()],
                    overwritten: c(LayerCounter::Overwritten),
                    extra_crossings: c(LayerCounter::ExtraCrossing),
                    read_failures: c(LayerCounter::ReadFailed),
                    mismatches: c(LayerCounter::Mismatch),
                    stale_matches: c(LayerCounter::Stale),
                    missed_runs,
                    applicable: c(LayerCounter::Applicable),
                }
            })
            .collect())
    }

    fn program_infos(&self) -> Vec<Option<ProgInfo>> {
        self.programs
            .iter()
            .map(|p| {
                let prog = self.ebpf.program(p.program)?;
                let fd = prog.fd().ok()?;
                prog_info(fd.as_fd())
            })
            .collect()
    }

    /// Run count and time of every attached program (needs `ProbeConfig::stats`).
    pub fn program_costs(&self) -> Result<Vec<ProgramCost>, ProbeError> {
        let losses = self.layer_losses()?;
        let infos = self.program_infos();
        Ok(self
            .programs
            .iter()
            .zip(infos)
            .map(|(p, info)| {
                let info = info.unwrap_or_default();
                let loss = p.layer.and_then(|id| losses.iter().find(|l| l.layer == id));
                ProgramCost {
                    program: p.program,
                    prog_id: info.id,
                    role: p.role,
                    mechanism: p.mechanism,
                    run_count: info.run_cnt,
                    run_time_ns: info.run_time_ns,
                    ns_per_run: (info.run_cnt > 0)
                        .then(|| info.run_time_ns as f64 / info.run_cnt as f64),
                    missed_runs: info.recursion_misses,
                    events_recorded: loss.map_or(0, |l| l.recorded),
                    events_lost: loss.map_or(0, LayerLoss::lost),
                }
            })
            .collect())
    }

    /// Detaches everything, drains the remaining stamps and returns all results.
    pub fn finish(mut self) -> Result<ProbeReport, ProbeError> {
        self.stats_watch = None;
        self.links.clear();
        self.drain();
        let sched_events = self.take_sched_events()?;
        let (thread_slot_evictions, skb_map_insert_failures, sched_dropped) = {
            let get = self.counters()?;
            (
                get(global_counter_index(GlobalCounter::ThreadSlotEvictions)),
                get(global_counter_index(GlobalCounter::SkbIdsInsertFailed)),
                get(global_counter_index(GlobalCounter::SchedDropped)),
            )
        };
        let lost_per_layer = self.layer_losses()?;
        let program_costs = self.program_costs()?;
        Ok(ProbeReport {
            path: self.path,
            layers: self.status.clone(),
            events: std::mem::take(&mut self.events),
            lost_per_layer,
            program_costs,
            thread_slot_evictions,
            skb_map_insert_failures,
            stats_error: self.stats_error.clone(),
            stats_window: self.stats.window(),
            sched_events,
            sched_dropped,
            sched_error: self.sched_error.clone(),
        })
    }
}

impl Drop for ProbeSession {
    fn drop(&mut self) {
        self.stats_watch = None;
        // Detach before the programs and maps go (dropping `ebpf` would detach too).
        self.links.clear();
    }
}

fn candidate_of(p: &AttachedProgram) -> &'static Candidate {
    LAYERS
        .iter()
        .flat_map(|l| l.candidates.iter())
        .find(|c| c.program == p.program)
        .unwrap_or(&PLACEHOLDER)
}

const PLACEHOLDER: Candidate = Candidate {
    mechanism: Mechanism::Tracepoint,
    program: "",
    attach: AttachPoint::External(""),
    correlation: Correlation::UserBuffer,
};

fn map_fd(map: &aya::maps::Map) -> Option<BorrowedFd<'_>> {
    match map {
        aya::maps::Map::Array(d) => Some(d.fd().as_fd()),
        _ => None,
    }
}

/// The few `bpf_prog_info` fields we read.
#[derive(Clone, Copy, Debug, Default)]
struct ProgInfo {
    id: u32,
    run_time_ns: u64,
    run_cnt: u64,
    recursion_misses: u64,
}

/// `BPF_OBJ_GET_INFO_BY_FD` (aya's `ProgramInfo` does not expose `recursion_misses`).
fn prog_info(fd: BorrowedFd<'_>) -> Option<ProgInfo> {
    use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_prog_info};
    // SAFETY: plain-old-data kernel structs; zero is a valid value.
    let mut info: bpf_prog_info = unsafe { zeroed() };
    // SAFETY: as above.
    let mut attr: bpf_attr = unsafe { zeroed() };
    attr.info.bpf_fd = fd.as_raw_fd() as u32;
    attr.info.info_len = size_of::<bpf_prog_info>() as u32;
    attr.info.info = (&raw mut info) as u64;
    // SAFETY: valid attr and buffer of the announced size.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    (rc == 0).then_some(ProgInfo {
        id: info.id,
        run_time_ns: info.run_time_ns,
        run_cnt: info.run_cnt,
        recursion_misses: info.recursion_misses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_and_report_are_send() {
        fn send<T: Send>() {}
        send::<ProbeSession>();
        send::<ProbeReport>();
        send::<ProbeConfig>();
    }

    #[test]
    fn config_is_validated() {
        let kernel = KernelInfo::gather(None, &[]);
        let mut c = ProbeConfig::new(ProbePath::Udp);
        c.slots = 1000;
        assert!(matches!(globals(&c, &kernel), Err(ProbeError::Config(_))));
        c.slots = 1024;
        c.netns = vec!["/a".into(), "/b".into(), "/c".into()];
        assert!(matches!(globals(&c, &kernel), Err(ProbeError::Config(_))));
        c.netns = vec!["/nonexistent/netns".into()];
        let e = globals(&c, &kernel).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/netns"), "{e}");
        c.netns.clear();
        let g = globals(&c, &kernel).expect("globals");
        assert_eq!(g.slot_mask, 1023);
        assert_eq!(g.user_format, USER_FORMAT_UADP);
        assert_eq!(g.target_tgid, std::process::id());
    }
}
