//! What one run is: the mode, the configuration with its bounds and validation, and the run id.

use std::path::{Path, PathBuf};

use serde::Serialize;
use uadpbench_sender::bench_message::{
    BenchCodec, DEFAULT_PUBLISHER_ID, DEFAULT_WRITER_GROUP_ID, MIN_MESSAGE_LEN,
};
use uadpbench_sender::codec::MessageCodec;
use uadpbench_sender::sched::ThreadSched;
use uadpbench_sender::transport::{Encap, PathKind};

use crate::conditions::{IdleLatency, Placement, PlacementError, ResolvedPlacement};
use crate::interop::layout::LayoutConfig;
use crate::interop::layout_codec::LayoutCodec;
use crate::paths::{self, PathOptions};

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

/// How the probes report (`--probes-mode`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ProbesMode {
    /// Every stamp of every measured packet: layers.csv, segments.csv (runs up to the stamp
    /// slots' 131 072 messages for full coverage).
    #[default]
    Events,
    /// Per layer, a log2 histogram of the time since the packet's first stamp, counted in the
    /// kernel (no per-packet data leaves it): probe_histograms.csv, any run length.
    Histogram,
}

impl ProbesMode {
    pub fn name(self) -> &'static str {
        match self {
            ProbesMode::Events => "events",
            ProbesMode::Histogram => "histogram",
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
/// Largest `--xdp-queue`: the kernel's limit of receive queues per device (4096).
pub const MAX_XDP_QUEUE: u32 = 4095;
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
    /// `--probes-mode`: every stamp (events) or in-kernel histograms.
    pub probes_mode: ProbesMode,
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
    /// One publisher to this many subscribers (`--subscribers N`): a fan-out topology (each
    /// subscriber in its own namespace, all on one bridge) and multicast instead of the
    /// two-namespace veth pair ([`super::fanout`]). `None`: the two-namespace run.
    pub subscribers: Option<usize>,
    /// Fan-out: the CPUs of the subscriber threads, used in turn (subscriber i on
    /// `subscriber_cpus[(i - 1) % len]`). Empty: every subscriber on side B's CPU.
    pub subscriber_cpus: Vec<usize>,
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
            probes_mode: ProbesMode::Events,
            trace: None,
            pcap: None,
            layout: None,
            subscribers: None,
            subscriber_cpus: Vec::new(),
        }
    }
}

impl RunConfig {
    /// The one way to start a configuration: a path, its encapsulation (`None`: the path's
    /// default, [`Encap::default_for`]) and a mode; everything else at its default.
    pub fn new(path: PathKind, encap: Option<Encap>, mode: Mode) -> Self {
        RunConfig {
            path,
            encap: encap.unwrap_or(Encap::default_for(path)),
            mode,
            ..RunConfig::default()
        }
    }

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
        if self.probes_mode == ProbesMode::Histogram {
            if !self.probes_enabled() {
                problems.push(
                    "--probes-mode histogram counts the probes' stamps: give --probes all, minimal or a layer list".into(),
                );
            }
            if self.trace.is_some() {
                problems.push(
                    "--trace draws every packet's stamps: use it with --probes-mode events".into(),
                );
            }
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
        if o.udp_unconnected {
            if self.path != PathKind::Udp {
                problems.push(format!(
                    "--udp-unconnected applies to the udp path's sockets, not to {}",
                    self.path
                ));
            }
            if self.mode == Mode::Flood && o.batch != 1 {
                problems.push(
                    "--udp-unconnected sends and receives one message per system call: add --batch 1 to the flood run".into(),
                );
            }
            if o.so_timestamping {
                problems.push(
                    "--so-timestamping runs on connected sockets: leave --udp-unconnected out"
                        .into(),
                );
            }
        }
        if self.path == PathKind::Udp && (o.vlan_id.is_some() || o.qdisc_bypass) {
            problems
                .push("--vlan-id and --qdisc-bypass apply to the eth/xdp paths, not udp".into());
        }
        if (o.xdp_driver_mode || o.xdp_zero_copy || o.xdp_queue > 0) && self.path != PathKind::Xdp {
            problems.push(
                "--xdp-driver-mode, --xdp-zero-copy and --xdp-queue apply to the xdp path only"
                    .into(),
            );
        }
        if o.xdp_ring_size == 0 || !o.xdp_ring_size.is_power_of_two() {
            problems.push(format!(
                "--xdp-ring-size {} must be a power of two",
                o.xdp_ring_size
            ));
        }
        problems.extend(self.fanout_problems());
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

    /// What a fan-out run (`--subscribers`) does not do (yet), each with what to use instead.
    fn fanout_problems(&self) -> Vec<String> {
        let Some(n) = self.subscribers else {
            return if self.subscriber_cpus.is_empty() {
                Vec::new()
            } else {
                vec!["--subscriber-cpus places the subscribers of a fan-out run: add --subscribers N".into()]
            };
        };
        let mut p = Vec::new();
        let max = uadpbench_topology::MAX_SUBSCRIBERS;
        if !(1..=max).contains(&n) {
            p.push(format!("--subscribers {n} is outside 1..={max}"));
        }
        if self.mode != Mode::Cyclic {
            p.push(format!(
                "--subscribers measures one publisher to many subscribers in cyclic mode (one-way latency and loss per subscriber): use --mode cyclic, not {}",
                self.mode.name()
            ));
        }
        if self.probes_enabled() || self.trace.is_some() {
            p.push("--probes/--trace follow one receiver: run fan-out with --probes none".into());
        }
        if self.pcap.is_some() {
            p.push("--pcap captures one receiver's veth: not available with --subscribers".into());
        }
        if self.path_options.so_timestamping {
            p.push(
                "--so-timestamping cross-checks one receiver: not available with --subscribers"
                    .into(),
            );
        }
        if !self.subscriber_cpus.is_empty() {
            match crate::conditions::placement::usable_cpus() {
                Ok(usable) => {
                    for c in self.subscriber_cpus.iter().filter(|c| !usable.contains(c)) {
                        p.push(format!(
                            "--subscriber-cpus: CPU {c} is offline or outside this process's CPU mask (usable: {usable:?})"
                        ));
                    }
                }
                Err(e) => p.push(format!("--subscriber-cpus: {e}")),
            }
        }
        p
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
        range(
            "--xdp-queue",
            u64::from(o.xdp_queue),
            0,
            u64::from(MAX_XDP_QUEUE),
            " (the kernel's limit of queues per device)",
        );
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
        let fanout = self
            .subscribers
            .map_or_else(String::new, |n| format!("-{n}sub"));
        format!(
            "{}-{}-{}-{}B{layout}{fanout}",
            self.path,
            self.encap,
            self.mode.name(),
            self.payload_bytes
        )
    }
}

#[cfg(test)]
mod bound_tests {
    use super::*;
    use proptest::prelude::*;
    use std::time::Duration;

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

    #[test]
    fn unconnected_udp_sockets_only_where_they_work() {
        let unconnected = |path, mode, batch| RunConfig {
            path,
            encap: if path == PathKind::Udp {
                Encap::Udp
            } else {
                Encap::Eth
            },
            mode,
            duration_s: (mode == Mode::Flood).then_some(1.0),
            placement: Placement::None,
            path_options: PathOptions {
                udp_unconnected: true,
                batch,
                ..PathOptions::default()
            },
            ..RunConfig::default()
        };
        let says = |c: RunConfig, what: &str| c.validate().iter().any(|p| p.contains(what));
        assert!(unconnected(PathKind::Udp, Mode::Pingpong, 32)
            .validate()
            .is_empty());
        assert!(unconnected(PathKind::Udp, Mode::Flood, 1)
            .validate()
            .is_empty());
        assert!(says(
            unconnected(PathKind::Udp, Mode::Flood, 32),
            "add --batch 1"
        ));
        assert!(says(
            unconnected(PathKind::Eth, Mode::Pingpong, 1),
            "applies to the udp path"
        ));
    }
}
