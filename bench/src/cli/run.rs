//! `uadpbench run`: one measurement over a fresh two-namespace veth topology.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;
use uadpbench::interop::{layout::LayoutConfig, preset::Preset};
use uadpbench::paths::PathOptions;
use uadpbench::run::{self};

use super::conditions::*;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
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
    /// udp: leave both sockets unconnected and send with sendto(peer) / receive with
    /// recvfrom, as OPC UA PubSub stacks and sockperf do (default: connect() them, which lets
    /// the kernel keep the route with the socket; docs/method.md, "Connected or unconnected UDP
    /// sockets"). Single messages only: flood needs --batch 1.
    #[arg(long)]
    udp_unconnected: bool,
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
    /// xdp: zero-copy AF_XDP where the NIC driver has it; without it (veth) the socket runs
    /// in copy mode and the run says so (meta.json transport_notes).
    #[arg(long)]
    xdp_zero_copy: bool,
    /// xdp: the receive queue the AF_XDP socket binds to. On a multi-queue NIC steer the
    /// benchmark's frames to it, e.g. `ethtool -N IF flow-type ether proto 0xb62c action Q`.
    #[arg(long, default_value_t = 0, value_name = "Q")]
    xdp_queue: u32,
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
    /// How the probes report: events (every stamp of every packet: layers.csv, segments.csv;
    /// full coverage up to 131 072 messages) or histogram (per layer, a log2 histogram of the
    /// time since the packet's first stamp, counted in the kernel: probe_histograms.csv, any
    /// run length).
    #[arg(long, value_enum, default_value_t = uadpbench::run::ProbesMode::Events)]
    probes_mode: uadpbench::run::ProbesMode,
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
    /// One publisher to N subscribers (cyclic mode): each subscriber in its own namespace,
    /// all on one Linux bridge; the udp path publishes to multicast group 239.198.18.1, the
    /// eth/xdp paths to its MAC. Per-subscriber latency, loss and arrival order go to
    /// subscribers.csv; `--subscribers 1` is the same bridge with one subscriber (the
    /// baseline for the spread). All subscribers run on side B's CPU.
    #[arg(long, value_name = "N")]
    subscribers: Option<usize>,
    /// With --subscribers: the subscribers' CPUs, used in turn (e.g. `1,2,3`: subscriber 1 on
    /// CPU 1, 2 on 2, 3 on 3, 4 on 1 …). Default: all on side B's CPU.
    #[arg(
        long,
        value_name = "CPUS",
        value_delimiter = ',',
        requires = "subscribers"
    )]
    subscriber_cpus: Vec<usize>,
    #[command(flatten)]
    peer: PeerArgs,
}

/// Runs across two hosts: side B runs on `uadpbench agent` on another host
/// (docs/two-hosts.md).
#[derive(Debug, Args)]
pub(crate) struct PeerArgs {
    /// Run side B (reflector or subscriber) on the uadpbench agent at HOST[:PORT] (port
    /// 4850 by default) instead of creating a local topology; side A runs here on
    /// --interface. --cpu-b then names a CPU of the agent's host, --mtu is replaced by the
    /// smaller MTU of the interfaces. Repeat it for a fan-out across hosts (--subscribers N
    /// --mode cyclic): one subscriber on each agent.
    #[arg(long, value_name = "HOST[:PORT]", requires_all = ["interface", "peer_interface"])]
    peer: Vec<String>,
    /// With --peer: this host's interface (side A).
    #[arg(long, value_name = "IFNAME", requires = "peer")]
    interface: Option<String>,
    /// With --peer: the agent host's interface (side B), as `ip link` shows it there. With
    /// several --peers: once for all agents, or once per --peer in the same order.
    #[arg(long, value_name = "IFNAME", requires = "peer")]
    peer_interface: Vec<String>,
    /// With --peer: the token the agent requires (the file's content, whitespace trimmed).
    #[arg(long, value_name = "FILE", requires = "peer")]
    token_file: Option<PathBuf>,
    /// With --peer: let --interface be an interface uadpbench did not create (a real NIC;
    /// raw sockets and XDP on it can disrupt its other traffic). The agent decides for its own
    /// interface (`uadpbench agent --allow-external-interface`).
    #[arg(long, requires = "peer")]
    allow_external_interface: bool,
    /// With --peer --mode cyclic: how receive times on the agent reach this host's clock.
    /// `auto`: exactly when the agent runs on this kernel (same boot id: the local stand-in),
    /// else through CLOCK_TAI when both hosts are PTP-disciplined (ptp4l + phc2sys), else the
    /// offset estimated over the control connection; `estimate`: always the estimate (shows
    /// the estimator's own error where the true offset is known); `ptp`: CLOCK_TAI, refused
    /// when a host is not PTP-disciplined.
    #[arg(long, value_enum, default_value = "auto", requires = "peer")]
    peer_clock: uadpbench::run::PeerClock,
    /// With --peer: the agent captures the benchmark frames its interface receives (warm-up
    /// included) into NAME.pcap in its --capture-dir (fan-out: NAME-sub<i>.pcap on each agent);
    /// fetch the file from there. Letters, digits, '.', '-', '_'.
    #[arg(long, value_name = "NAME", requires = "peer")]
    peer_pcap: Option<String>,
}

pub(crate) fn run_command(a: RunArgs) -> anyhow::Result<ExitCode> {
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
    if layout.is_some() && a.workload.payload.is_some() {
        eprintln!("error: --payload with --layout: the layout decides the message size; leave --payload out");
        return Ok(ExitCode::from(2));
    }
    let mut cfg = a.workload.config();
    cfg.spin_us = a.spin_us;
    cfg.timeout_ms = a.timeout_ms;
    cfg.mtu = a.mtu;
    cfg.path_options = PathOptions {
        busy_poll_us: a.busy_poll_us,
        udp_unconnected: a.udp_unconnected,
        batch: a.batch,
        vlan_id: a.vlan_id,
        vlan_pcp: a.vlan_pcp,
        qdisc_bypass: a.qdisc_bypass,
        xdp_driver_mode: a.xdp_driver_mode,
        xdp_zero_copy: a.xdp_zero_copy,
        xdp_queue: a.xdp_queue,
        xdp_ring_size: a.xdp_ring_size,
        xdp_need_wakeup: !a.xdp_no_need_wakeup,
        so_timestamping: a.so_timestamping,
        ..PathOptions::default()
    };
    a.conditions.apply(&mut cfg);
    cfg.sched_a.fifo_priority = a.fifo;
    cfg.sched_b.fifo_priority = a.fifo;
    cfg.probes = a.probes.clone();
    cfg.probes_mode = a.probes_mode;
    cfg.pcap = a.pcap.clone();
    cfg.trace = a.trace.spec();
    cfg.layout = layout;
    cfg.subscribers = a.subscribers;
    cfg.subscriber_cpus = a.subscriber_cpus.clone();
    if let Err(e) = cfg.apply_layout() {
        eprintln!("error: {e}");
        return Ok(ExitCode::from(2));
    }
    let peers = match peer_specs(&a.peer) {
        Ok(peers) => peers,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let problems = if peers.is_empty() {
        cfg.validate()
    } else {
        run::peer_problems(&cfg, peers.len())
    };
    if let Some(code) = super::refused(&problems) {
        return Ok(code);
    }
    if let Some(code) = super::too_few_open_files() {
        return Ok(code);
    }
    let out = a
        .out
        .unwrap_or_else(|| uadpbench::results::default_dir("", &cfg.run_id()));
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
    let outcome = if peers.is_empty() {
        run::run(&cfg, &out, Arc::clone(&stop))?
    } else {
        run::run_with_peers(&cfg, &peers, &out, Arc::clone(&stop))?
    };
    for line in &outcome.report {
        say!("{line}");
    }
    say!(
        "results: {}/ ({}; columns in docs/csv-schema.md)",
        outcome.dir.display(),
        if cfg.subscribers.is_some() {
            "summary.csv, subscribers.csv, fanout_samples.csv, meta.json"
        } else {
            "summary.csv, samples.csv, meta.json"
        }
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

/// The agents of `--peer` (one or several), each with its interface, the token and the
/// shared options; empty without `--peer`.
fn peer_specs(a: &PeerArgs) -> anyhow::Result<Vec<run::PeerSpec>> {
    if a.peer.is_empty() {
        return Ok(Vec::new());
    }
    let interfaces: Vec<&String> = match a.peer_interface.len() {
        1 => vec![&a.peer_interface[0]; a.peer.len()],
        n if n == a.peer.len() => a.peer_interface.iter().collect(),
        n => anyhow::bail!(
            "{n} --peer-interface for {} --peer: give one for all agents or one per --peer, in the same order",
            a.peer.len()
        ),
    };
    let token = match &a.token_file {
        Some(f) => Some(uadpbench::remote::addr::read_token(f)?),
        None => None,
    };
    if let Some(name) = &a.peer_pcap {
        if !uadpbench::remote::valid_capture_name(name) {
            anyhow::bail!(
                "--peer-pcap {name:?}: a file name for the agent's --capture-dir (letters, digits, '.', '-', '_', at most 100 bytes, no leading dot), not a path"
            );
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    a.peer
        .iter()
        .zip(interfaces)
        .map(|(text, peer_interface)| {
            let addr =
                uadpbench::remote::addr::peer_address(text).map_err(|e| anyhow::anyhow!(e))?;
            if !seen.insert(addr.clone()) {
                anyhow::bail!(
                    "--peer {addr} is given twice: each agent runs one subscriber of a fan-out; start another agent (another host, or another namespace and address) for another subscriber"
                );
            }
            Ok(run::PeerSpec {
                addr,
                interface: a.interface.clone().unwrap_or_default(),
                peer_interface: peer_interface.clone(),
                token: token.clone(),
                allow_external_interface: a.allow_external_interface,
                clock: a.peer_clock,
                pcap_name: a.peer_pcap.clone(),
            })
        })
        .collect()
}
