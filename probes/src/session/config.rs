//! What to trace ([`ProbeConfig`]), the globals it gives the programs, and loading the object.

use std::path::PathBuf;

use aya::{Ebpf, EbpfLoader};
use uadpbench_common::{
    stamp_entries, ProbeGlobals, PROBE_DEFAULT_SLOTS, PROBE_FLAG_DATA_READY, PROBE_FLAG_HISTOGRAM,
    PROBE_FLAG_NETNS_FILTER, PROBE_FLAG_OFFSETS, PROBE_FLAG_TX_CHAIN, PROBE_GLOBALS_NAME,
    PROBE_SCHED_MAP_NAME, PROBE_SCHED_MIN_BYTES, PROBE_SLOTS_MAP_NAME, UADP_UDP_PORT,
    USER_FORMAT_ETHERNET, USER_FORMAT_NONE, USER_FORMAT_UADP,
};

use crate::{
    is_root,
    kernel::KernelInfo,
    layers::{layer, resolve, LayerId, Mechanism, ProbePath, Selected, Selection},
    netns_inode, ProbeError, PROBES_OBJECT,
};

use super::histogram::{reference_layer, HistogramConfig};

/// Default PublisherId of benchmark messages (the sender's default).
const DEFAULT_PUBLISHER_ID: u16 = uadpbench_common::BENCH_PUBLISHER_ID;
/// Default size of the `sched_switch` ring buffer: 16 MiB, 262144 context switches.
pub const DEFAULT_SCHED_BUFFER_BYTES: u32 = 16 << 20;

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
    /// machine): turn it off for measured packets with
    /// [`ProbeSession::stop_stats_at_packet`](crate::ProbeSession::stop_stats_at_packet)
    /// (calibration) or [`ProbeSession::stop_stats`](crate::ProbeSession::stop_stats).
    pub stats: bool,
    /// Also attach the `sched:sched_switch` program and record every context switch on every
    /// CPU while the trace window is open
    /// ([`ProbeSession::set_sched_window`](crate::ProbeSession::set_sched_window); open from
    /// the start of the session). For timelines: costs ~0.2 µs per context switch while open.
    pub sched_switch: bool,
    /// Bytes of the `sched_switch` ring buffer (a power of two, multiple of the page size;
    /// 64 bytes a switch). Records that do not fit are dropped and counted.
    pub sched_buffer_bytes: u32,
    /// Histogram mode (`None`: collect every stamp). The report then holds the histograms
    /// ([`ProbeReport::histograms`](crate::ProbeReport::histograms)) and no events.
    pub histogram: Option<HistogramConfig>,
    /// Parse each transmitted frame once per `dev_queue_xmit` call: `net_dev_queue` (or
    /// `qdisc_dequeue`) leaves what it found for the transmit layers after it on the same CPU
    /// (`uadpbench_common::PROBE_FLAG_TX_CHAIN`). Default on; used when `net_dev_queue`,
    /// `qdisc_dequeue` and `net_dev_start_xmit` are all selected tp_btf layers. Off reads the
    /// frame at every layer (to measure what it saves).
    pub tx_chain: bool,
    /// Before attaching anything, measure what a tracepoint hit costs beyond its program
    /// ([`calibrate_dispatch`](crate::calibrate_dispatch); `None`: do not). The report has
    /// the result ([`ProbeReport::dispatch`](crate::ProbeReport::dispatch)).
    pub dispatch: Option<super::DispatchConfig>,
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
            histogram: None,
            tx_chain: true,
            dispatch: None,
        }
    }
}

fn user_format(path: ProbePath) -> u32 {
    match path {
        ProbePath::Udp => USER_FORMAT_UADP,
        ProbePath::Eth => USER_FORMAT_ETHERNET,
        ProbePath::Xdp => USER_FORMAT_NONE,
    }
}

/// Checks `config` and builds the programs' `PROBE_GLOBALS` from it and the kernel.
pub(super) fn globals(
    config: &ProbeConfig,
    kernel: &KernelInfo,
) -> Result<ProbeGlobals, ProbeError> {
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
        if config.tx_chain && tx_chain_possible(config, kernel) {
            g.flags |= PROBE_FLAG_TX_CHAIN;
        }
    }
    if let Some(h) = config.histogram {
        let Some(r) = reference_layer(config.path, &config.selection) else {
            return Err(ProbeError::Config(
                "histogram mode needs a selected layer to measure from (a send-side layer, \
                 e.g. sys_enter_sendto, or netif_rx on the xdp path)"
                    .into(),
            ));
        };
        g.flags |= PROBE_FLAG_HISTOGRAM;
        g.hist_ref_layer = r.index() as u32;
        g.hist_first_packet = h.first_packet;
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

/// Whether the transmit chain can be used: the layers that write its context
/// (`net_dev_queue`, `qdisc_dequeue`, `net_dev_start_xmit`) are all selected and will be tp_btf
/// programs. Without one of them a context could outlive its skb (e.g. no `qdisc_dequeue`
/// with a qdisc: `net_dev_start_xmit` on the dequeuing CPU would find that CPU's context of
/// an older skb whose memory the new one reuses).
fn tx_chain_possible(config: &ProbeConfig, kernel: &KernelInfo) -> bool {
    if config.deny.contains(&Mechanism::TpBtf) {
        return false;
    }
    let selected = resolve(config.path, &config.selection);
    [
        LayerId::NetDevQueue,
        LayerId::QdiscDequeue,
        LayerId::NetDevStartXmit,
    ]
    .into_iter()
    .all(|id| {
        selected[id.index()] != Selected::No
            && layer(id)
                .candidates
                .iter()
                .find(|c| c.mechanism == Mechanism::TpBtf)
                .is_some_and(|c| kernel.preflight(c).is_ok())
    })
}

/// Loads the embedded object (maps created, no program loaded yet) with `globals`, `slots`
/// packet slots and a `sched_bytes` ring buffer.
pub(super) fn load(
    globals: &ProbeGlobals,
    slots: u32,
    sched_bytes: u32,
) -> Result<Ebpf, ProbeError> {
    if PROBES_OBJECT.is_empty() {
        return Err(ProbeError::NotBuilt);
    }
    EbpfLoader::new()
        .override_global(PROBE_GLOBALS_NAME, globals, true)
        .map_max_entries(PROBE_SLOTS_MAP_NAME, stamp_entries(slots))
        .map_max_entries(uadpbench_common::PROBE_LAST_MAP_NAME, slots)
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

#[cfg(test)]
mod tests {
    use super::*;

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
