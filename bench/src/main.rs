//! `uadpbench`: command line. Parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use uadpbench::conditions::{IdleLatency, Placement};
use uadpbench::decode::{self, DecodeInput};
use uadpbench::interop::{
    self,
    fields::FieldList,
    layout::{ConfigVersion, Encoding, LayoutConfig, PublisherIdSetting},
    mask::{DataSetMessageContentMask, NetworkMessageContentMask},
    net::MulticastOptions,
    preset::Preset,
    publish::{PublishConfig, Publisher},
    subscribe::{PublisherIdMatch, ReaderFilter, SubscribeConfig, Subscriber},
    url::Target,
};
use uadpbench::paths::PathOptions;
use uadpbench::run::{self, Mode, RunConfig};
use uadpbench_sender::frame::EthFraming;
use uadpbench_sender::sched::ThreadSched;
use uadpbench_sender::transport::{Encap, PathKind};

/// Prints a line on stdout. A closed pipe (`uadpbench … | head -1`) ends the program quietly
/// with status 0, as other command-line tools do, instead of panicking; results are written
/// before anything is printed.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

#[derive(Debug, Parser)]
#[command(
    name = "uadpbench",
    version,
    about = "Benchmark OPC UA PubSub UADP over UDP, raw Ethernet and AF_XDP on Linux"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one measurement over a fresh two-namespace veth topology.
    Run(RunArgs),
    /// Run a campaign file (a matrix of runs) into one results directory.
    Campaign(CampaignArgs),
    /// Decode UADP NetworkMessages and print one JSON object per message.
    Decode(DecodeArgs),
    /// Compare the paths of a campaign (or one run) and draw plots into DIR/plots.
    Report(ReportArgs),
    /// Check privileges and kernel features, with the fix for each missing one.
    Doctor,
    /// The kernel probe layers: which attach on this kernel, how, or why not.
    #[command(subcommand)]
    Probes(ProbesCommand),
    /// Remove namespaces and veths that killed runs left behind.
    Cleanup(CleanupArgs),
    /// Publish a configured UADP stream to an OPC UA target (a third-party subscriber, a PLC).
    Publish(PublishArgs),
    /// Receive UADP from a target, filter like a DataSetReader and report per writer.
    Subscribe(SubscribeArgs),
    /// Measure what the probes cost: the same workload with probes off and on (and optionally
    /// under bpftrace), interleaved, with bootstrap confidence intervals; writes overhead.csv.
    Overhead(OverheadArgs),
    /// Compare two runs or campaigns (A = before, B = after): p50/p99/rate per configuration
    /// with the change, a bootstrap CI and better/worse/no change; conditions that differ first.
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// The reference results directory (a run or a campaign).
    a: PathBuf,
    /// The results directory compared with it.
    b: PathBuf,
    /// Smallest change (%) called better or worse when its 95 % CI excludes 0.
    #[arg(long, value_name = "PCT", default_value_t = 3.0)]
    threshold: f64,
    /// Exit with status 1 if any statistic got worse by more than PCT % (for CI scripts).
    #[arg(long, value_name = "PCT")]
    fail_if_worse: Option<f64>,
    /// Where to write the comparison as CSV (default: B/compare.csv).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PathArg {
    Udp,
    Eth,
    Xdp,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum EncapArg {
    Eth,
    Udp,
}

/// `--trace` and its window, on `run` and `campaign`.
#[derive(Debug, Args)]
struct TraceArgs {
    /// Write a timeline of a window of the run (the first --trace-packets measured packets)
    /// as Perfetto/Chrome trace-event JSON: one track per stack layer with each packet moving
    /// down the send path and up the receive path, beside the thread running on each CPU
    /// (sched:sched_switch) and the benchmark threads' off-CPU intervals. Open it at
    /// ui.perfetto.dev (Open trace file). `run`: implies --probes all when --probes is none.
    /// `campaign`: every run with probes writes its runs/*/trace.json (runs without probes
    /// stay uninstrumented), merged into FILE at the end, one process group per run.
    /// Records every context switch while a traced run lasts (~0.2 µs each).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// --trace window: the first N measured packets.
    #[arg(long, value_name = "N", default_value_t = uadpbench::trace::DEFAULT_TRACE_PACKETS)]
    trace_packets: u64,
    /// --trace window: the packets of this many ms from the first measured one (instead of
    /// --trace-packets).
    #[arg(long, value_name = "MS")]
    trace_window_ms: Option<f64>,
}

impl TraceArgs {
    fn spec(&self) -> Option<uadpbench::trace::TraceSpec> {
        self.trace.clone().map(|file| uadpbench::trace::TraceSpec {
            file,
            packets: self.trace_packets,
            window_ms: self.trace_window_ms,
        })
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Transport path.
    #[arg(long, value_enum, default_value = "udp")]
    path: PathArg,
    /// Encapsulation for eth/xdp: UADP directly in Ethernet (0xB62C) or in UDP/IPv4.
    /// Default: udp for the udp path, eth otherwise.
    #[arg(long, value_enum)]
    encap: Option<EncapArg>,
    /// Measurement mode.
    #[arg(long, value_enum, default_value = "pingpong")]
    mode: Mode,
    /// Measured messages (pingpong, cyclic).
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Run length in seconds (flood; cyclic: instead of --count).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Messages sent first and excluded from statistics.
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
    /// Size of each UADP NetworkMessage in bytes (default 64; a --layout sets its own size).
    #[arg(long)]
    payload: Option<usize>,
    /// Cyclic publishing interval in microseconds.
    #[arg(long, default_value_t = 1_000)]
    interval_us: u64,
    /// Cyclic: busy-wait this many microseconds before each deadline (more precise, burns CPU).
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
    /// How long to wait for a reply (pingpong) or for stragglers (cyclic, flood), in ms.
    #[arg(long, default_value_t = 200)]
    timeout_ms: u64,
    /// MTU of the veth pair.
    #[arg(long, default_value_t = 1500)]
    mtu: usize,
    /// SO_BUSY_POLL microseconds for the udp path (0: off).
    #[arg(long, default_value_t = 0)]
    busy_poll_us: u32,
    /// Messages per batch in flood mode (sendmmsg/recvmmsg; AF_XDP frames per kick).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// eth/xdp: tag frames with this 802.1Q VLAN id.
    #[arg(long, value_name = "VID")]
    vlan_id: Option<u16>,
    /// eth/xdp: 802.1Q priority code point (TSN traffic class) of tagged frames.
    #[arg(long, value_name = "PCP", default_value_t = 0, requires = "vlan_id")]
    vlan_pcp: u8,
    /// eth: bypass the qdisc layer (PACKET_QDISC_BYPASS).
    #[arg(long)]
    qdisc_bypass: bool,
    /// xdp: attach the XDP program in driver (native) mode instead of generic SKB mode.
    #[arg(long)]
    xdp_driver_mode: bool,
    /// xdp: zero-copy AF_XDP (needs NIC driver support; veth has none).
    #[arg(long)]
    xdp_zero_copy: bool,
    /// xdp: UMEM frames and entries of each AF_XDP ring.
    #[arg(long, default_value_t = 2048)]
    xdp_ring_size: u32,
    /// xdp: do not bind with XDP_USE_NEED_WAKEUP; kick the kernel after every batch instead.
    #[arg(long)]
    xdp_no_need_wakeup: bool,
    /// udp path, cyclic mode: also record the kernel's SO_TIMESTAMPING software stamps
    /// (transmit SCHED and SOFTWARE, receive SOFTWARE) of every packet and compare them with
    /// the user-space times and, with --probes, the matching layers' stamps: clock_check.csv.
    /// The subscriber then receives with recvmsg.
    #[arg(long)]
    so_timestamping: bool,
    #[command(flatten)]
    conditions: ConditionsArgs,
    /// Run both timed threads under SCHED_FIFO with this priority (1-99).
    #[arg(long, value_name = "PRIO")]
    fifo: Option<i32>,
    /// Kernel probes: none, all, minimal, or a comma-separated list of layer names (`uadpbench
    /// probes list`). Adds layers.csv, segments.csv, probe_cost.csv and probe_layers.csv.
    #[arg(long, default_value = "none")]
    probes: String,
    #[command(flatten)]
    trace: TraceArgs,
    /// Publish the messages of a publisher layout instead of the benchmark's own message:
    /// a preset (periodic-fixed, dynamic, sdk-tutorial) or a layout TOML file (the keys of
    /// `uadpbench publish --layout-file`). Timing then comes from the SequenceNumber (or a
    /// counter field) and the sender's send log; --probes must stay none.
    #[arg(long, value_name = "PRESET|FILE")]
    layout: Option<String>,
    /// Results directory (default: results/<UTC time>-<run id>). Must not hold results yet.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With --out: replace the results of an earlier run there (its files are removed first).
    #[arg(long)]
    force: bool,
    /// Write the benchmark frames received on namespace B's veth (warm-up included) to this
    /// pcap file; read it back with `uadpbench decode --pcap FILE`. Timestamps are
    /// CLOCK_REALTIME at capture, not the benchmark clock. Capturing costs CPU (one more
    /// socket and thread on the measuring machine): it can shift latencies and limit flood
    /// rates. Captures nothing on the xdp path (frames go to AF_XDP before packet taps).
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct CampaignArgs {
    /// The campaign file (TOML), e.g. campaigns/default.toml.
    file: PathBuf,
    /// Results directory (default: results/<name>-<UTC time>).
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue an interrupted campaign in this directory (finished runs are kept).
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Only check the file and list the runs, without running them.
    #[arg(long)]
    dry_run: bool,
    /// Serve Prometheus metrics (per-configuration latency histograms, message and loss
    /// counters, runs finished/failed; updated after each run) on http://ADDR/metrics.
    /// Without a value: 127.0.0.1:9464 (loopback only).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = uadpbench::metrics::DEFAULT_ADDR)]
    metrics_addr: Option<String>,
    #[command(flatten)]
    trace: TraceArgs,
}

#[derive(Debug, Args)]
struct ReportArgs {
    /// A campaign or run results directory.
    dir: PathBuf,
    /// Only print the table, draw no plots (report.html then has no charts but the waterfalls).
    #[arg(long)]
    no_plots: bool,
    /// Do not write DIR/report.html (written by default: one self-contained page).
    #[arg(long)]
    no_html: bool,
}

#[derive(Debug, Subcommand)]
enum ProbesCommand {
    /// List each layer of a path with the mechanism it would use here, or why it cannot attach.
    List {
        /// Only this path (udp, eth, xdp); default: all three.
        #[arg(long)]
        path: Option<String>,
    },
}

#[derive(Debug, Args)]
struct CleanupArgs {
    /// Also remove topologies whose owning process still runs (default: orphans only).
    #[arg(long)]
    all: bool,
    /// Results tree to clear of partial files (`*.tmp` of interrupted writes, empty SVGs)
    /// older than a minute; complete results are never touched.
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// The message as hex digits.
    #[arg(long, conflicts_with_all = ["file", "pcap"])]
    hex: Option<String>,
    /// A capture (pcap or pcapng): UDP ports 4840-4850, EtherType 0xB62C frames and IEEE 802.3
    /// length-field frames with LLC/SNAP or bare UADP (open62541 v1.4).
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pcap: Option<PathBuf>,
    /// A file holding one message's raw bytes.
    file: Option<PathBuf>,
    /// Field types of RawData DataSetMessages, e.g. UInt32,UInt32,DateTime (RawData cannot be
    /// split into fields without it; without it the bytes are printed as hex).
    #[arg(long, value_name = "TYPES")]
    raw_layout: Option<String>,
}

/// Publisher identity and DataSet layout: a preset, a layout file, and flags over both.
#[derive(Debug, Args)]
struct LayoutArgs {
    /// Ready-made layout (default sdk-tutorial); the flags below override parts of it.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// TOML file with layout keys (preset, publisher_id, writer_group_id, writer_ids,
    /// network_message, dataset_message, encoding, fields, ...); flags override it.
    #[arg(long, value_name = "FILE")]
    layout_file: Option<PathBuf>,
    /// PublisherId as TYPE:VALUE (TYPE Byte, UInt16, UInt32, UInt64 or String), or a number
    /// of the preset's type.
    #[arg(long, value_name = "[TYPE:]VALUE")]
    publisher_id: Option<PublisherIdSetting>,
    /// WriterGroupId (in the GroupHeader).
    #[arg(long, value_name = "ID")]
    writer_group_id: Option<u16>,
    /// DataSetWriterIds, comma-separated: one DataSetMessage each per NetworkMessage.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    writer_ids: Option<Vec<u16>>,
    /// UadpNetworkMessageContentMask: names joined by | (PublisherId, GroupHeader,
    /// WriterGroupId, GroupVersion, NetworkMessageNumber, SequenceNumber, PayloadHeader,
    /// Timestamp, PicoSeconds, DataSetClassId, PromotedFields), a number, or none.
    #[arg(long, value_name = "MASK")]
    network_message: Option<NetworkMessageContentMask>,
    /// UadpDataSetMessageContentMask: names joined by | (Timestamp, PicoSeconds, Status,
    /// MajorVersion, MinorVersion, SequenceNumber), a number, or none.
    #[arg(long, value_name = "MASK")]
    dataset_message: Option<DataSetMessageContentMask>,
    /// Field encoding.
    #[arg(long, value_enum)]
    encoding: Option<Encoding>,
    /// The DataSet: TYPE[=VALUE],... with VALUE counter, now, toggle, mono-ns or a constant,
    /// e.g. DateTime,Int32,Int64,Boolean or DateTime=now,Int32=-42,UInt64=mono-ns.
    #[arg(long, value_name = "FIELDS")]
    fields: Option<FieldList>,
    /// GroupVersion (in the GroupHeader).
    #[arg(long, value_name = "N")]
    group_version: Option<u32>,
    /// DataSet ConfigurationVersion, as the subscriber's DataSetMetaData has it.
    #[arg(long, value_name = "MAJOR.MINOR")]
    config_version: Option<ConfigVersion>,
    /// DataSetClassId (8-4-4-4-12 hex digits), sent when the mask has DataSetClassId.
    #[arg(long, value_name = "GUID")]
    dataset_class_id: Option<String>,
}

impl LayoutArgs {
    fn resolve(self) -> anyhow::Result<interop::layout::Layout> {
        let base = match &self.layout_file {
            Some(p) => LayoutConfig::load(p)?,
            None => LayoutConfig::default(),
        };
        let flags = LayoutConfig {
            preset: self.preset,
            publisher_id: self.publisher_id,
            writer_group_id: self.writer_group_id,
            writer_ids: self.writer_ids,
            network_message: self.network_message,
            dataset_message: self.dataset_message,
            encoding: self.encoding,
            fields: self.fields,
            group_version: self.group_version,
            config_version: self.config_version,
            dataset_class_id: self.dataset_class_id,
        };
        Ok(base.overlay(flags).resolve()?)
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FramingArg {
    /// Ethernet II, EtherType 0xB62C (Part 14): what open62541 v1.4 subscribers receive.
    EthernetIi,
    /// IEEE 802.3 length field + LLC/SNAP header carrying 0xB62C (RFC 1042 encapsulation);
    /// open62541 v1.4 discards these frames.
    Ieee8023,
    /// IEEE 802.3 length field, then the UADP message with no LLC header: what open62541 v1.4
    /// publishers send.
    #[value(name = "ieee8023-bare")]
    Ieee8023Bare,
}

#[derive(Debug, Args)]
struct PublishArgs {
    /// Where to send: opc.udp://HOST:PORT (unicast or multicast) or opc.eth://MAC[:VID[.PCP]].
    #[arg(long, value_name = "URL", default_value = "opc.udp://224.0.0.22:4840")]
    target: Target,
    /// Interface to send on; required for multicast and opc.eth (never the route's default).
    #[arg(long, value_name = "IFNAME", conflicts_with = "disruptive_interface")]
    interface: Option<String>,
    /// opc.eth on an interface uadpbench did not create (a NIC, a bridge, another veth):
    /// the raw AF_PACKET socket shares, and can disrupt, that interface's traffic. Use it
    /// instead of --interface; UDP targets never need it.
    #[arg(long, value_name = "IFNAME")]
    disruptive_interface: Option<String>,
    #[command(flatten)]
    layout: LayoutArgs,
    /// Messages to send.
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Seconds to publish.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Publishing interval in microseconds (0: as fast as possible).
    #[arg(long, default_value_t = 1_000)]
    interval_us: u64,
    /// Busy-wait this many microseconds before each deadline (more precise, burns CPU).
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
    /// opc.eth: frame format. `subscribe` accepts all three whatever is chosen here.
    #[arg(long, value_enum, default_value = "ethernet-ii")]
    eth_framing: FramingArg,
    /// Multicast TTL (1: the link only).
    #[arg(long, default_value_t = 1)]
    multicast_ttl: u8,
    /// Also deliver multicast to sockets of this host (IP_MULTICAST_LOOP).
    #[arg(long)]
    multicast_loop: bool,
    /// Write the send log (CSV: index, sequence, deadline and send CLOCK_MONOTONIC ns) here.
    #[arg(long, value_name = "FILE")]
    send_log: Option<PathBuf>,
    /// Print the resolved layout and message 0 (hex and JSON); send nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    conditions: EndpointConditionsArgs,
}

#[derive(Debug, Args)]
struct SubscribeArgs {
    /// Where to listen: opc.udp://ADDR:PORT (a local address, 0.0.0.0, or a multicast group)
    /// or opc.eth://MAC (the destination MAC of the frames; Ethernet II 0xB62C and IEEE 802.3
    /// length-field frames, with LLC/SNAP or bare UADP as open62541 v1.4 sends, are all
    /// accepted).
    #[arg(long, value_name = "URL", default_value = "opc.udp://224.0.0.22:4840")]
    target: Target,
    /// Interface to listen on; required for multicast and opc.eth.
    #[arg(long, value_name = "IFNAME", conflicts_with = "disruptive_interface")]
    interface: Option<String>,
    /// opc.eth on an interface uadpbench did not create (a NIC, a bridge, another veth):
    /// the raw AF_PACKET socket shares, and can disrupt, that interface's traffic. Use it
    /// instead of --interface; UDP targets never need it.
    #[arg(long, value_name = "IFNAME")]
    disruptive_interface: Option<String>,
    /// Accept only this PublisherId: a number (any numeric type) or TYPE:VALUE (exact).
    #[arg(long, value_name = "[TYPE:]VALUE")]
    publisher_id: Option<PublisherIdMatch>,
    /// Accept only this WriterGroupId.
    #[arg(long, value_name = "ID")]
    writer_group_id: Option<u16>,
    /// Accept only these DataSetWriterIds (comma-separated or repeated).
    #[arg(long = "writer-id", value_name = "ID", value_delimiter = ',')]
    writer_ids: Vec<u16>,
    /// RawData field types, TYPE,TYPE,... (RawData cannot be split into fields without them).
    #[arg(long, value_name = "TYPES")]
    fields: Option<FieldList>,
    /// Take the RawData field types from this preset's DataSet.
    #[arg(long, value_enum, conflicts_with = "fields")]
    preset: Option<Preset>,
    /// Stop after this many accepted NetworkMessages.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds (with --count: whichever comes first).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Write every received NetworkMessage as one JSON object per line.
    #[arg(long, value_name = "FILE")]
    json_lines: Option<PathBuf>,
    /// Write one CSV row per accepted DataSetMessage.
    #[arg(long, value_name = "FILE")]
    samples: Option<PathBuf>,
    /// The publishing interval, reference of the jitter (default: the mean inter-arrival).
    #[arg(long, value_name = "US")]
    expected_interval_us: Option<u64>,
    /// Field index carrying the publisher's CLOCK_MONOTONIC send time (a mono-ns field).
    #[arg(long, value_name = "N", conflicts_with = "send_log")]
    send_time_field: Option<u16>,
    /// A uadpbench publisher's send log: latency joined on the sequence number.
    #[arg(long, value_name = "FILE")]
    send_log: Option<PathBuf>,
    #[command(flatten)]
    conditions: EndpointConditionsArgs,
}

/// Conditions of `publish`/`subscribe`: one timed thread.
#[derive(Debug, Args, Clone)]
struct EndpointConditionsArgs {
    /// Pin the publishing/subscribing thread to this CPU (default: not pinned).
    #[arg(long, value_name = "CPU")]
    cpu: Option<usize>,
    /// PM QoS CPU latency limit held while running, in µs (0, the default: idle CPUs only
    /// poll, so a wake-up does not add tens of µs to the timing), or `off`.
    #[arg(long, value_name = "US|off", default_value = "0")]
    idle_latency_us: IdleLatency,
}

impl EndpointConditionsArgs {
    /// Problems to refuse with exit status 2.
    fn problems(&self) -> Vec<String> {
        let Some(cpu) = self.cpu else {
            return Vec::new();
        };
        match uadpbench::conditions::placement::usable_cpus() {
            Ok(u) if u.contains(&cpu) => Vec::new(),
            Ok(u) => vec![format!(
                "--cpu {cpu}: offline or outside this process's CPU affinity mask; usable CPUs: {}",
                uadpbench::conditions::placement::cpu_list(&u)
            )],
            Err(e) => vec![format!("--cpu {cpu}: {e}")],
        }
    }

    /// Pins the calling thread and holds PM QoS; the guard releases it.
    fn apply(&self) -> anyhow::Result<Option<uadpbench::conditions::PmQosGuard>> {
        uadpbench_sender::sched::ThreadSched {
            cpu: self.cpu,
            fifo_priority: None,
        }
        .apply_to_current_thread()?;
        let guard = self.idle_latency_us.hold()?;
        eprintln!(
            "conditions: {}; idle states: {}",
            self.cpu
                .map_or("thread not pinned".into(), |c| format!("pinned to CPU {c}")),
            match self.idle_latency_us {
                IdleLatency::Hold(us) => format!("PM QoS CPU latency limit {us} µs held"),
                IdleLatency::Off => "not controlled".into(),
            }
        );
        Ok(guard)
    }
}

/// Controlled conditions of the timed part: CPU placement and idle states.
#[derive(Debug, Args, Clone)]
struct ConditionsArgs {
    /// Where the two timed threads run: cross-cpu (sides A and B pinned to two distinct CPUs,
    /// chosen deterministically and printed: the analogue of two hosts), same-cpu (both on one
    /// CPU), or none (the scheduler decides; results then change from run to run).
    #[arg(long, value_enum, default_value = "cross-cpu")]
    placement: Placement,
    /// Pin the thread in namespace A (initiator/publisher) to this CPU (overrides the
    /// placement's choice; must be online and in this process's affinity mask).
    #[arg(long, value_name = "CPU")]
    cpu_a: Option<usize>,
    /// Pin the thread in namespace B (reflector/subscriber) to this CPU.
    #[arg(long, value_name = "CPU")]
    cpu_b: Option<usize>,
    /// PM QoS CPU latency limit held while the run is timed, in µs: 0 (default) lets idle CPUs
    /// only poll, as cyclictest does; `off` leaves idle states alone (waking a halted CPU can
    /// cost tens of µs per message on a VM).
    #[arg(long, value_name = "US|off", default_value = "0")]
    idle_latency_us: IdleLatency,
}

impl ConditionsArgs {
    fn apply(&self, cfg: &mut RunConfig) {
        cfg.placement = self.placement;
        cfg.idle_latency = self.idle_latency_us;
        cfg.sched_a.cpu = self.cpu_a;
        cfg.sched_b.cpu = self.cpu_b;
    }
}

#[derive(Debug, Args)]
struct OverheadArgs {
    /// Transport path.
    #[arg(long, value_enum, default_value = "udp")]
    path: PathArg,
    /// Encapsulation for eth/xdp (default: udp for the udp path, eth otherwise).
    #[arg(long, value_enum)]
    encap: Option<EncapArg>,
    /// Measurement mode.
    #[arg(long, value_enum, default_value = "pingpong")]
    mode: Mode,
    /// Runs per arm (off, probes[, bpftrace]), interleaved.
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
    /// Measured messages per run (pingpong, cyclic).
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Run length in seconds (flood: default 2; cyclic: instead of --count).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Messages sent first in each run and excluded from statistics.
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
    /// Size of each UADP NetworkMessage in bytes.
    #[arg(long, default_value_t = 64)]
    payload: usize,
    /// Cyclic publishing interval in microseconds.
    #[arg(long, default_value_t = 1_000)]
    interval_us: u64,
    /// Probes of the probes arm: all, or a comma-separated list of layer names.
    #[arg(long, default_value = "all")]
    probes: String,
    /// Add a third arm: bpftrace running the equivalent classic tracepoints (probes off).
    #[arg(long)]
    bpftrace: bool,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = uadpbench::overhead::DEFAULT_RESAMPLES)]
    resamples: usize,
    #[command(flatten)]
    conditions: ConditionsArgs,
    /// Results directory (default: results/overhead-<UTC time>-<run id>).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn overhead_command(a: OverheadArgs) -> anyhow::Result<ExitCode> {
    use uadpbench::overhead::{run_overhead, OverheadConfig, DEFAULT_SEED};
    let path = match a.path {
        PathArg::Udp => PathKind::Udp,
        PathArg::Eth => PathKind::Eth,
        PathArg::Xdp => PathKind::Xdp,
    };
    let encap = match (a.encap, path) {
        (Some(EncapArg::Eth), _) => Encap::Eth,
        (Some(EncapArg::Udp), _) | (None, PathKind::Udp) => Encap::Udp,
        (None, _) => Encap::Eth,
    };
    let duration = match (a.mode, a.duration) {
        (Mode::Flood, None) => Some(2.0),
        (_, d) => d,
    };
    let mut cfg = OverheadConfig {
        run: RunConfig {
            path,
            encap,
            mode: a.mode,
            count: a.count,
            duration_s: duration,
            warmup: a.warmup,
            payload_bytes: a.payload,
            interval_us: a.interval_us,
            ..RunConfig::default()
        },
        probes: a.probes,
        repetitions: a.repetitions,
        bpftrace: a.bpftrace,
        resamples: a.resamples,
        seed: DEFAULT_SEED,
    };
    a.conditions.apply(&mut cfg.run);
    let problems = cfg.validate();
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    let out = a.out.unwrap_or_else(|| {
        let now = time::OffsetDateTime::now_utc();
        PathBuf::from("results").join(format!(
            "overhead-{:04}{:02}{:02}T{:02}{:02}{:02}Z-{}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second(),
            cfg.run.run_id()
        ))
    });
    let stop = stop_on_signal()?;
    let outcome = run_overhead(&cfg, &out, Arc::clone(&stop))?;
    for line in &outcome.report {
        say!("{line}");
    }
    let d = outcome.dir.display();
    say!("results: {d}/overhead.csv, {d}/overhead_cost.csv, meta.json and runs/*/ (columns in docs/csv-schema.md)");
    if outcome.interrupted {
        eprintln!("interrupted: the table covers the repetitions finished before the signal");
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn seconds(flag: &str, s: Option<f64>) -> anyhow::Result<Option<std::time::Duration>> {
    s.map(|v| {
        std::time::Duration::try_from_secs_f64(v)
            .map_err(|_| anyhow::anyhow!("{flag} {v}: give a non-negative number of seconds"))
    })
    .transpose()
}

fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
        .map_err(|e| anyhow::anyhow!("cannot install the signal handler: {e}"))?;
    Ok(stop)
}

fn publish_command(a: PublishArgs) -> anyhow::Result<ExitCode> {
    let layout = a.layout.resolve()?;
    if a.dry_run {
        for l in interop::publish::preview(&layout)? {
            say!("{l}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = PublishConfig {
        target: a.target,
        disruptive_interface: a.disruptive_interface.is_some(),
        interface: a.interface.or(a.disruptive_interface),
        layout,
        count: a.count,
        duration: seconds("--duration", a.duration)?,
        interval: std::time::Duration::from_micros(a.interval_us),
        spin: std::time::Duration::from_micros(a.spin_us),
        framing: match a.eth_framing {
            FramingArg::EthernetIi => EthFraming::EthernetII,
            FramingArg::Ieee8023 => EthFraming::Ieee8023Snap,
            FramingArg::Ieee8023Bare => EthFraming::Ieee8023Bare,
        },
        multicast: MulticastOptions {
            ttl: a.multicast_ttl,
            loopback: a.multicast_loop,
        },
        send_log: a.send_log,
    };
    let mut problems = cfg.problems();
    problems.extend(a.conditions.problems());
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    let _pm_qos = a.conditions.apply()?;
    let mut publisher = Publisher::open(cfg)?;
    let stop = stop_on_signal()?;
    eprintln!("{} (Ctrl-C stops)", publisher.describe());
    let report = publisher.run(&stop)?;
    for l in report.lines() {
        say!("{l}");
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

fn subscribe_command(a: SubscribeArgs) -> anyhow::Result<ExitCode> {
    let raw_layout = match (a.fields, a.preset) {
        (Some(f), _) => Some(f.0.iter().map(|f| f.ty).collect()),
        (None, Some(p)) => Some(p.layout().field_types()),
        (None, None) => None,
    };
    let bounded = a.count.is_some() || a.duration.is_some();
    let cfg = SubscribeConfig {
        target: Some(a.target),
        disruptive_interface: a.disruptive_interface.is_some(),
        interface: a.interface.or(a.disruptive_interface),
        filter: ReaderFilter {
            publisher_id: a.publisher_id,
            writer_group_id: a.writer_group_id,
            writer_ids: a.writer_ids,
        },
        raw_layout,
        count: a.count,
        duration: seconds("--duration", a.duration)?,
        json_lines: a.json_lines,
        samples: a.samples,
        expected_interval: a.expected_interval_us.map(std::time::Duration::from_micros),
        send_time_field: a.send_time_field,
        send_log: a.send_log,
    };
    let mut problems = cfg.problems();
    problems.extend(a.conditions.problems());
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    let _pm_qos = a.conditions.apply()?;
    let mut subscriber = Subscriber::open(cfg)?;
    let stop = stop_on_signal()?;
    eprintln!("{} (Ctrl-C stops)", subscriber.describe());
    let report = subscriber.run(&stop, &mut |_| {})?;
    for l in report.lines() {
        say!("{l}");
    }
    Ok(if report.interrupted && bounded {
        ExitCode::from(130)
    } else if report.accepted == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn decode_command(a: DecodeArgs) -> anyhow::Result<ExitCode> {
    let input = match (a.hex, a.pcap, a.file) {
        (Some(h), _, _) => DecodeInput::Hex(h),
        (_, Some(p), _) => DecodeInput::Pcap(p),
        (_, _, Some(f)) => DecodeInput::File(f),
        _ => anyhow::bail!("nothing to decode: give --hex HEX, --pcap FILE or a FILE of raw bytes"),
    };
    let layout = a
        .raw_layout
        .as_deref()
        .map(decode::parse_layout)
        .transpose()?;
    let summary = decode::run(
        &input,
        layout.as_deref(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )?;
    if summary.failed > 0 {
        eprintln!(
            "{} message(s) decoded, {} failed",
            summary.decoded, summary.failed
        );
        return Ok(ExitCode::from(1));
    }
    if summary.decoded == 0 {
        eprintln!(
            "no UADP message found ({} frame(s) without UADP)",
            summary.skipped_frames
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn run_command(a: RunArgs) -> anyhow::Result<ExitCode> {
    let path = match a.path {
        PathArg::Udp => PathKind::Udp,
        PathArg::Eth => PathKind::Eth,
        PathArg::Xdp => PathKind::Xdp,
    };
    let encap = match (a.encap, path) {
        (Some(EncapArg::Eth), _) => Encap::Eth,
        (Some(EncapArg::Udp), _) | (None, PathKind::Udp) => Encap::Udp,
        (None, _) => Encap::Eth,
    };
    let layout = match &a.layout {
        None => None,
        Some(text) => match Preset::ALL.into_iter().find(|p| p.name() == text) {
            Some(p) => Some(LayoutConfig {
                preset: Some(p),
                ..LayoutConfig::default()
            }),
            None if std::path::Path::new(text).is_file() => {
                Some(LayoutConfig::load(std::path::Path::new(text))?)
            }
            None => {
                eprintln!(
                    "error: --layout {text:?} is neither a preset ({}) nor a layout file",
                    Preset::ALL.map(Preset::name).join(", ")
                );
                return Ok(ExitCode::from(2));
            }
        },
    };
    if layout.is_some() && a.payload.is_some() {
        eprintln!("error: --payload with --layout: the layout decides the message size; leave --payload out");
        return Ok(ExitCode::from(2));
    }
    let mut cfg = RunConfig {
        label: None,
        path,
        encap,
        mode: a.mode,
        count: a.count,
        duration_s: a.duration,
        warmup: a.warmup,
        payload_bytes: a.payload.unwrap_or(RunConfig::default().payload_bytes),
        interval_us: a.interval_us,
        spin_us: a.spin_us,
        timeout_ms: a.timeout_ms,
        mtu: a.mtu,
        path_options: PathOptions {
            busy_poll_us: a.busy_poll_us,
            batch: a.batch,
            vlan_id: a.vlan_id,
            vlan_pcp: a.vlan_pcp,
            qdisc_bypass: a.qdisc_bypass,
            xdp_driver_mode: a.xdp_driver_mode,
            xdp_zero_copy: a.xdp_zero_copy,
            xdp_ring_size: a.xdp_ring_size,
            xdp_need_wakeup: !a.xdp_no_need_wakeup,
            so_timestamping: a.so_timestamping,
            ..PathOptions::default()
        },
        placement: a.conditions.placement,
        idle_latency: a.conditions.idle_latency_us,
        sched_a: ThreadSched {
            cpu: a.conditions.cpu_a,
            fifo_priority: a.fifo,
        },
        sched_b: ThreadSched {
            cpu: a.conditions.cpu_b,
            fifo_priority: a.fifo,
        },
        probes: a.probes.clone(),
        pcap: a.pcap.clone(),
        trace: a.trace.spec(),
        layout,
    };
    if let Err(e) = cfg.apply_layout() {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let problems = cfg.validate();
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        return Ok(ExitCode::from(2));
    }
    let out = a.out.unwrap_or_else(|| {
        let now = time::OffsetDateTime::now_utc();
        let stamp = format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        );
        let base = PathBuf::from("results").join(format!("{stamp}-{}", cfg.run_id()));
        // Two runs in the same second: the second gets its own directory.
        (1..)
            .map(|n| {
                if n == 1 {
                    base.clone()
                } else {
                    PathBuf::from(format!("{}-{n}", base.display()))
                }
            })
            .find(|d| !d.exists())
            .unwrap_or(base)
    });
    if let Err(e) = uadpbench::results::prepare_run_dir(&out, a.force) {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    // SIGINT/SIGTERM/SIGHUP end the measurement loops; the topology is then removed normally.
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
        .map_err(|e| anyhow::anyhow!("cannot install the signal handler: {e}"))?;
    eprintln!(
        "running {} ({} messages after {} warm-up) ...",
        cfg.run_id(),
        cfg.measured_count(),
        cfg.warmup
    );
    let outcome = run::run(&cfg, &out, Arc::clone(&stop))?;
    for line in &outcome.report {
        say!("{line}");
    }
    say!(
        "results: {}/ (summary.csv, samples.csv, meta.json; columns in docs/csv-schema.md)",
        outcome.dir.display()
    );
    say!(
        "plot:    python3 scripts/plot_run.py {}",
        outcome.dir.display()
    );
    if outcome.interrupted {
        eprintln!("interrupted: the results cover the messages measured before the signal");
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn campaign_command(a: CampaignArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    use uadpbench::campaign::{Campaign, InvalidCampaign};
    use uadpbench::campaign_run::{run_campaign, CampaignOptions};
    let (campaign, text) = match Campaign::load(&a.file) {
        Ok(c) => c,
        Err(e) if e.is::<InvalidCampaign>() => {
            eprintln!("{}", e.root_cause());
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e),
    };
    let planned = campaign.expand();
    if !a.dry_run && !uadpbench::doctor::privileged() {
        eprintln!("error: a campaign's runs create network namespaces and load BPF programs: run it as root (sudo), or with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN (uadpbench doctor checks)");
        return Ok(ExitCode::from(2));
    }
    eprintln!(
        "campaign {}: {} runs, about {:.0} s",
        campaign.name,
        planned.len(),
        campaign.estimated_seconds()
    );
    if a.dry_run {
        for r in &planned {
            say!("{:4} {}", r.index, r.id());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
        .map_err(|e| anyhow::anyhow!("cannot install the signal handler: {e}"))?;
    let metrics = a
        .metrics_addr
        .as_ref()
        .map(|_| uadpbench::metrics::Metrics::default());
    let _server = match (&a.metrics_addr, &metrics) {
        (Some(addr), Some(m)) => {
            let server = uadpbench::metrics::MetricsServer::start(addr, m.clone())?;
            eprintln!("metrics: http://{}/metrics", server.local_addr());
            Some(server)
        }
        _ => None,
    };
    let options = CampaignOptions {
        out: a.out,
        resume: a.resume,
        progress: std::io::stderr().is_terminal(),
        metrics,
        trace: a.trace.spec(),
    };
    if let Some(t) = &options.trace {
        let problems = t.validate();
        if !problems.is_empty() {
            for p in problems {
                eprintln!("error: {p}");
            }
            return Ok(ExitCode::from(2));
        }
    }
    let outcome = run_campaign(&campaign, &text, &options, Arc::clone(&stop))?;
    let ok = outcome.runs.iter().filter(|r| r.status == "ok").count();
    let failed: Vec<_> = outcome
        .runs
        .iter()
        .filter(|r| r.status == "failed")
        .collect();
    let lost: u64 = outcome.runs.iter().filter_map(|r| r.lost).sum();
    let sent: u64 = outcome.runs.iter().filter_map(|r| r.sent).sum();
    say!(
        "{} of {} runs finished; {sent} messages measured, {lost} lost (per run: runs.csv)",
        ok,
        outcome.runs.len()
    );
    for r in &failed {
        say!("FAILED {}: {}", r.run_id, r.error);
    }
    for line in uadpbench::conditions::consistency::consistency_lines(&outcome.dir)? {
        say!("{line}");
    }
    if outcome.dir.join("summary.csv").is_file() {
        say!("");
        for line in uadpbench::verdict::write_verdict(&outcome.dir)? {
            say!("{line}");
        }
    }
    let d = outcome.dir.display();
    let overhead = if outcome.dir.join("overhead.csv").is_file() {
        ", overhead.csv"
    } else {
        ""
    };
    say!("results: {d}/ (runs.csv, summary.csv, samples.csv{overhead}, meta.json, runs/*; columns in docs/csv-schema.md)");
    say!("plot:    uadpbench report {d}   (comparison table + SVG plots in {d}/plots)");
    if let Some((file, n)) = &outcome.trace {
        say!(
            "trace:   {} ({n} runs, one process group each; open it at https://ui.perfetto.dev → \"Open trace file\")",
            file.display()
        );
    }
    if outcome.interrupted {
        eprintln!("interrupted: finished runs are kept; continue with: uadpbench campaign {} --resume {d}", a.file.display());
        return Ok(ExitCode::from(130));
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn compare_command(a: CompareArgs) -> anyhow::Result<ExitCode> {
    for (flag, v) in [
        ("--threshold", Some(a.threshold)),
        ("--fail-if-worse", a.fail_if_worse),
    ] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && (0.0..=1000.0).contains(v))) {
            eprintln!("error: {flag} {v}: give a percentage in 0..=1000");
            return Ok(ExitCode::from(2));
        }
    }
    let c = uadpbench::compare::compare(&a.a, &a.b, a.threshold)?;
    for l in uadpbench::compare::lines(&c, &a.a, &a.b) {
        say!("{l}");
    }
    let csv = a.csv.unwrap_or_else(|| a.b.join("compare.csv"));
    uadpbench::results::write_csv(&csv, &c.rows)?;
    say!(
        "comparison: {} (columns in docs/csv-schema.md)",
        csv.display()
    );
    if let Some(pct) = a.fail_if_worse {
        let worse = uadpbench::compare::worse_than(&c, pct);
        if !worse.is_empty() {
            eprintln!(
                "{} statistic(s) worse by more than {pct} %: {}",
                worse.len(),
                worse
                    .iter()
                    .map(|r| format!("{} {} {:+.1} %", r.config, r.statistic, r.change_percent))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report_command(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let data = uadpbench::report::load(&a.dir)?;
    let table = if data.is_empty() {
        Vec::new()
    } else {
        uadpbench::report::table(&data)
    };
    for line in &table {
        say!("{line}");
    }
    for line in uadpbench::report::overhead_table(&a.dir)? {
        say!("{line}");
    }
    let consistency = uadpbench::conditions::consistency::consistency_lines(&a.dir)?;
    for line in &consistency {
        say!("{line}");
    }
    let verdict = if a.dir.join("summary.csv").is_file() {
        say!("");
        let v = uadpbench::verdict::write_verdict(&a.dir)?;
        for line in &v {
            say!("{line}");
        }
        v
    } else {
        Vec::new()
    };
    let files = if a.no_plots {
        Vec::new()
    } else {
        uadpbench::report::plots(&a.dir, &data)?
    };
    let d = a.dir.display();
    if !a.no_plots {
        say!("plots ({}): {d}/plots/ (SVG)", files.len());
    }
    if a.dir.join("summary.csv").is_file() {
        say!("verdict: {d}/verdict.md");
    }
    if !a.no_html {
        let html = uadpbench::html::write_report(&a.dir, &table, &verdict, &consistency, &files)?;
        say!(
            "report:  {} (self-contained; open it in a browser)",
            html.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn probes_list(path: Option<String>) -> anyhow::Result<ExitCode> {
    use uadpbench_probes::{plan, ProbePath, Selection};
    let paths: Vec<ProbePath> = match path {
        Some(p) => vec![p
            .parse()
            .map_err(|e: String| anyhow::anyhow!("--path {p:?}: {e}"))?],
        None => ProbePath::ALL.to_vec(),
    };
    for p in paths {
        say!("path {p}:");
        for l in plan(p, &Selection::All) {
            let when = l
                .only_when
                .map(|w| format!("  [fires only when: {w}]"))
                .unwrap_or_default();
            // The probe session cannot attach xdp_ingress itself: the xdp path's own XDP
            // program stamps it in probe runs.
            let outcome = if l.layer == uadpbench_probes::LayerId::XdpIngress {
                "xdp: stamped by the xdp path's own XDP program in probe runs (XDP_FLAG_STAMP)"
                    .to_owned()
            } else {
                l.outcome.to_string()
            };
            say!(
                "  {:>2} {:<24} {:<8} {outcome}{when}",
                l.layer_index,
                l.name,
                format!("{:?}", l.direction).to_lowercase(),
            );
        }
        say!("  {}", uadpbench_probes::minimal_description(p));
    }
    Ok(ExitCode::SUCCESS)
}

fn cleanup_command(a: CleanupArgs) -> anyhow::Result<ExitCode> {
    let scope = if a.all {
        uadpbench_topology::LeftoverScope::All
    } else {
        uadpbench_topology::LeftoverScope::Orphaned
    };
    let removed = uadpbench_topology::remove_leftovers(scope)?;
    for r in &removed {
        say!("removed {:?} {}", r.kind, r.name);
    }
    let partial = if a.results.is_dir() {
        uadpbench::results::remove_partial_files(&a.results, std::time::Duration::from_secs(60))
            .map_err(|e| {
                anyhow::anyhow!("clearing partial files under {}: {e}", a.results.display())
            })?
    } else {
        Vec::new()
    };
    for p in &partial {
        say!("removed partial file {}", p.display());
    }
    if removed.is_empty() && partial.is_empty() {
        say!("nothing to clean up");
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run_command(a),
        Command::Campaign(a) => campaign_command(a),
        Command::Report(a) => report_command(a),
        Command::Probes(ProbesCommand::List { path }) => probes_list(path),
        Command::Doctor => {
            let (lines, fatal) = uadpbench::doctor::report(&uadpbench::doctor::run_checks());
            for l in lines {
                say!("{l}");
            }
            say!("\nlatency conditions (what makes the same command give different numbers):");
            let (lines, _) = uadpbench::doctor::report(&uadpbench::doctor::latency_checks());
            for l in lines {
                say!("{l}");
            }
            Ok(if fatal {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Decode(a) => decode_command(a),
        Command::Cleanup(a) => cleanup_command(a),
        Command::Publish(a) => publish_command(a),
        Command::Subscribe(a) => subscribe_command(a),
        Command::Overhead(a) => overhead_command(a),
        Command::Compare(a) => compare_command(a),
    };
    match result {
        Ok(code) => code,
        // stdout closed by the reader (`| head`): not an error of ours.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
