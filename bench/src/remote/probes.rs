//! Kernel probes on the agent's host: what the controller asks for, and the agent's probe
//! report on the wire.
//!
//! Each host runs its own probe session on its own kernel: the session traces the devices of
//! the host's network namespace and the threads of its own process (the controller's
//! initiator or publisher, the agent's reflector or subscriber). The agent sends its stamps
//! back with the side's result; the controller puts them on its clock and into the run's
//! crossing numbering ([`run_crossing`]) and writes one layers.csv / segments.csv for the
//! packet's whole path, as a local run does.

use serde::{Deserialize, Serialize};
use uadpbench_probes::{
    Direction, HistogramReport, LayerEvent, LayerHistogram, LayerId, LayerLoss, ProbeReport,
    ProgramCost, SchedEvent, SegmentHistogram, StatsWindow,
};
use uadpbench_sender::transport::XdpStamps;

/// Most messages (warm-up included) of a run whose far end is probed: the probes keep the
/// stamps of this many packet ids, and the agent sends all of them back in one control frame.
pub const MAX_REMOTE_PROBED_MESSAGES: u64 = 1 << 17;

/// What the agent's probe session traces, from the controller's `--probes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteProbeParams {
    /// The selection, as `--probes` takes it ("all", "minimal" or a list of layer names).
    pub selection: String,
    /// Packet slots of the stamp map (a power of two).
    pub slots: u32,
    /// When BPF run-time statistics are on: `calibrate` (the warm-up), `run` or `off`.
    pub stats: String,
    /// Warm-up messages: the statistics stop at the first stamp of this packet id
    /// (`calibrate`).
    pub warmup: u64,
    /// `--trace`: also record the agent host's context switches and send back those around
    /// this window of the run.
    #[serde(default)]
    pub trace: Option<RemoteTraceWindow>,
    /// `--probes-mode histogram`: count in the kernel instead of keeping stamps; the agent
    /// sends back its per-segment histograms ([`RemoteHistograms`]), for any run length.
    #[serde(default)]
    pub histogram: bool,
}

/// The window of a run a trace covers, as the agent cuts its context switches to it: its
/// stamps of the packets from `first_packet` on — `packets` of them, or those of `window_ns`
/// from the first — plus [`REMOTE_SCHED_MARGIN_NS`] on either side (the controller cuts the
/// exact window on its clock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteTraceWindow {
    /// The first measured packet id (the warm-up count).
    pub first_packet: u64,
    /// Packets in the window.
    pub packets: u64,
    /// Or: the window's length from its first packet's first stamp.
    pub window_ns: Option<u64>,
}

/// Margin around the agent's trace window: covers the clock offset between the hosts and
/// the controller's own margin.
pub const REMOTE_SCHED_MARGIN_NS: u64 = 2_000_000;

/// A context switch of the agent's host (its clock, its CPU numbers) on the controller's clock,
/// its CPU numbered `cpu_base + cpu`; `None` for a CPU number of `cpu_base` or more (the agent's
/// CPUs must stay within `cpu_base..2·cpu_base` so that they do not meet other tracks).
pub fn far_sched_event(
    s: &SchedEvent,
    to_controller: &dyn Fn(u64) -> u64,
    cpu_base: u32,
) -> Option<SchedEvent> {
    (s.cpu < cpu_base).then(|| SchedEvent {
        t_ns: to_controller(s.t_ns),
        cpu: cpu_base + s.cpu,
        ..s.clone()
    })
}

/// The agent's context switches (`sched`) around the trace window `w` of its session's
/// stamps (`events`); empty when it stamped no packet of the window.
pub fn sched_in_window(
    events: &[LayerEvent],
    sched: &[SchedEvent],
    w: &RemoteTraceWindow,
) -> Vec<SchedEvent> {
    use std::collections::BTreeMap;
    let mut span: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for e in events.iter().filter(|e| e.packet_id >= w.first_packet) {
        let s = span.entry(e.packet_id).or_insert((e.t_ns, e.t_ns));
        s.0 = s.0.min(e.t_ns);
        s.1 = s.1.max(e.t_ns);
    }
    let Some(&(start, _)) = span.values().next() else {
        return Vec::new();
    };
    let chosen: Vec<(u64, u64)> = match w.window_ns {
        Some(ns) => span
            .values()
            .copied()
            .filter(|(first, _)| *first < start.saturating_add(ns))
            .collect(),
        None => span
            .values()
            .copied()
            .take(w.packets.max(1) as usize)
            .collect(),
    };
    let t0 = chosen.iter().map(|s| s.0).min().unwrap_or(start);
    let t1 = chosen.iter().map(|s| s.1).max().unwrap_or(start);
    let (t0, t1) = (
        t0.saturating_sub(REMOTE_SCHED_MARGIN_NS),
        t1.saturating_add(REMOTE_SCHED_MARGIN_NS),
    );
    sched
        .iter()
        .filter(|s| s.t_ns >= t0 && s.t_ns <= t1)
        .cloned()
        .collect()
}

/// Which end of a run a host's session traced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbedEnd {
    /// The controller: ping-pong initiator or publisher (side A).
    Near,
    /// The agent: reflector or subscriber (side B).
    Far,
}

/// Whether a layer's stamp is taken on the host that receives the packet. Receive layers
/// are; so is `netif_rx`, a transmit-side layer by its place in the stack, but stamped on the
/// receiving device: veth hands the frame to its peer's backlog (the peer is in the other
/// namespace, whose session traces it).
pub fn stamped_by_receiver(layer: LayerId) -> bool {
    layer == LayerId::NetifRx || uadpbench_probes::layer(layer).direction == Direction::Receive
}

/// The run's crossing of a stamp one host's session took. Each host's session sees a
/// packet cross a layer once (its own half of the path) and numbers that crossing 0; the run
/// numbers the trip A → B (ping, publication) 0 and the echo B → A 1, as one session
/// tracing both ends does. The controller (A) stamps its sending layers on trip 0 and its
/// receiving layers on trip 1; the agent (B) the other way round.
pub fn run_crossing(end: ProbedEnd, layer: LayerId) -> u8 {
    match (end, stamped_by_receiver(layer)) {
        (ProbedEnd::Near, false) | (ProbedEnd::Far, true) => 0,
        (ProbedEnd::Near, true) | (ProbedEnd::Far, false) => 1,
    }
}

/// The agent's probe report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteProbeReport {
    /// Every layer of the path: how it was attached on the agent's host, or why not.
    pub layers: Vec<RemoteLayer>,
    /// The stamps, grouped by layer and (the agent session's) crossing.
    pub stamps: Vec<RemoteLayerStamps>,
    /// Per recorded layer: the session's accounting.
    pub losses: Vec<RemoteLoss>,
    /// Per program: BPF run count and time (the calibration window).
    pub costs: Vec<RemoteCost>,
    /// When BPF statistics were on (agent CLOCK_MONOTONIC).
    pub stats_on_ns: Option<u64>,
    pub stats_off_ns: Option<u64>,
    pub stats_off_at_packet: Option<u64>,
    /// Why BPF statistics were off, if they were.
    pub stats_error: Option<String>,
    pub thread_slot_evictions: u64,
    pub skb_map_insert_failures: u64,
    /// `--trace`: the agent host's context switches around the trace window
    /// ([`sched_in_window`]).
    #[serde(default)]
    pub sched: Vec<SchedEvent>,
    /// Context switches the agent's ring buffer dropped.
    #[serde(default)]
    pub sched_dropped: u64,
    /// Why the agent recorded no context switches, if it could not.
    #[serde(default)]
    pub sched_error: Option<String>,
    /// Histogram mode: the agent's per-segment histograms.
    #[serde(default)]
    pub histograms: Option<RemoteHistograms>,
    /// What a tracepoint hit costs beyond its program on the agent's host (its dispatch
    /// calibration; `None`: not measured, or an agent that does not send it).
    #[serde(default)]
    pub dispatch: Option<uadpbench_probes::DispatchCost>,
}

/// The agent's histogram-mode counts: its per-segment histograms only. A time since a
/// reference stamp taken on the other host would need both clocks inside the kernel; each
/// host's segments are between two of its own stamps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteHistograms {
    /// First counted packet id.
    pub first_packet: u64,
    pub segments: Vec<RemoteSegment>,
}

/// One segment histogram on the wire ([`SegmentHistogram`], points by layer name and the
/// agent session's crossing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteSegment {
    pub layer: String,
    pub crossing: u8,
    /// log2 buckets ([`LayerHistogram::buckets`]).
    pub buckets: Vec<u64>,
    pub sum_ns: u64,
    pub no_previous: u64,
    /// The segments' starts: (layer name, crossing, segments).
    pub from: Vec<(String, u8, u64)>,
}

impl RemoteHistograms {
    /// The wire form of a session's per-segment histograms.
    pub fn of(h: &HistogramReport) -> Self {
        RemoteHistograms {
            first_packet: h.first_packet,
            segments: h
                .segments
                .iter()
                .map(|s| RemoteSegment {
                    layer: s.to.layer.name().to_owned(),
                    crossing: s.to.crossing,
                    buckets: s.to.buckets.clone(),
                    sum_ns: s.to.sum_ns,
                    no_previous: s.to.no_reference,
                    from: s
                        .from
                        .iter()
                        .map(|(l, c, n)| (l.name().to_owned(), *c, *n))
                        .collect(),
                })
                .collect(),
        }
    }

    /// The agent's segments in the run's crossings ([`run_crossing`]); segments naming a
    /// layer this version does not know, or with another number of buckets, are counted and
    /// left out.
    pub fn segments(&self) -> (Vec<SegmentHistogram>, usize) {
        let point = |name: &str, crossing: u8| {
            layer_by_name(name).map(|l| (l, run_point_crossing(ProbedEnd::Far, l, crossing)))
        };
        let mut unknown = 0;
        let mut out = Vec::new();
        for s in &self.segments {
            let to = point(&s.layer, s.crossing);
            let from: Option<Vec<(LayerId, u8, u64)>> = s
                .from
                .iter()
                .map(|(l, c, n)| point(l, *c).map(|(l, c)| (l, c, *n)))
                .collect();
            match (to, from) {
                // The far end's half of the path only (see
                // `near_histograms_in_run_crossings`).
                (Some((layer, crossing)), Some(_))
                    if crossing != run_crossing(ProbedEnd::Far, layer) => {}
                (Some((layer, crossing)), Some(from))
                    if s.buckets.len() == uadpbench_common::HIST_BUCKETS as usize =>
                {
                    out.push(SegmentHistogram {
                        to: LayerHistogram {
                            layer,
                            crossing,
                            buckets: s.buckets.clone(),
                            sum_ns: s.sum_ns,
                            no_reference: s.no_previous,
                        },
                        from,
                    })
                }
                _ => unknown += 1,
            }
        }
        (out, unknown)
    }
}

/// This host's histograms (a run across hosts, this host's session numbering its own
/// crossings) in the run's crossings, keeping this host's half of the path: on one kernel
/// (the local stand-in) a session also counts layers recognised by content alone on the
/// other end (`consume_skb`), which the agent reports itself.
pub fn near_histograms_in_run_crossings(h: &mut HistogramReport) {
    let run = |l: LayerId, c: u8| run_point_crossing(ProbedEnd::Near, l, c);
    for l in &mut h.layers {
        l.crossing = run(l.layer, l.crossing);
    }
    for s in &mut h.segments {
        s.to.crossing = run(s.to.layer, s.to.crossing);
        for f in &mut s.from {
            f.1 = run(f.0, f.1);
        }
    }
    let own = |l: LayerId, c: u8| c == run_crossing(ProbedEnd::Near, l);
    h.layers.retain(|l| own(l.layer, l.crossing));
    h.segments.retain(|s| own(s.to.layer, s.to.crossing));
}

/// The run's crossing of a point a host's session numbered `session_crossing` (its first
/// crossing of the layer 0): [`run_crossing`] for 0, the other trip for 1.
pub fn run_point_crossing(end: ProbedEnd, layer: LayerId, session_crossing: u8) -> u8 {
    let c = run_crossing(end, layer);
    if session_crossing == 0 {
        c
    } else {
        1 - c
    }
}

/// One layer's status on the agent's host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLayer {
    pub layer: String,
    /// How it was attached, or why not (as probe_layers.csv's `outcome`).
    pub outcome: String,
    /// Whether its stamps were recorded.
    pub recorded: bool,
}

/// One stamp on the wire: `(packet id, t_ns on the agent's CLOCK_MONOTONIC, cpu, tid)`.
pub type WireStamp = (u64, u64, u32, u32);

/// One layer's stamps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLayerStamps {
    pub layer: String,
    /// The crossing in the agent's session (0; 1 if the agent's host saw the packet cross the
    /// layer twice).
    pub crossing: u8,
    pub stamps: Vec<WireStamp>,
}

/// [`LayerLoss`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteLoss {
    pub layer: String,
    pub recorded: u64,
    pub drained: u64,
    pub overwritten: u64,
    pub extra_crossings: u64,
    pub read_failures: u64,
    pub mismatches: u64,
    pub stale_matches: u64,
    pub missed_runs: u64,
    pub applicable: u64,
    /// Added after protocol 1's first release: absent from older agents (0).
    #[serde(default)]
    pub chain_hits: u64,
}

/// [`ProgramCost`] on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteCost {
    pub program: String,
    pub role: String,
    pub mechanism: String,
    pub run_count: u64,
    pub run_time_ns: u64,
    pub ns_per_run: Option<f64>,
    pub missed_runs: u64,
    pub events_recorded: u64,
    pub events_lost: u64,
}

impl RemoteProbeReport {
    /// The wire form of the agent's session report (the xdp path's arrival stamps are
    /// already merged into it as `xdp_ingress`).
    pub fn new(report: &ProbeReport) -> Self {
        use std::collections::BTreeMap;
        let mut grouped: BTreeMap<(usize, u8), Vec<WireStamp>> = BTreeMap::new();
        for e in &report.events {
            grouped
                .entry((e.layer.index(), e.crossing))
                .or_default()
                .push((e.packet_id, e.t_ns, e.cpu, e.tid));
        }
        RemoteProbeReport {
            layers: report
                .layers
                .iter()
                .map(|s| RemoteLayer {
                    layer: s.name.to_owned(),
                    outcome: s.outcome.to_string(),
                    recorded: s.recorded(),
                })
                .collect(),
            stamps: grouped
                .into_iter()
                .filter_map(|((index, crossing), stamps)| {
                    Some(RemoteLayerStamps {
                        layer: LayerId::from_index(index)?.name().to_owned(),
                        crossing,
                        stamps,
                    })
                })
                .collect(),
            losses: report.lost_per_layer.iter().map(RemoteLoss::of).collect(),
            costs: report.program_costs.iter().map(RemoteCost::of).collect(),
            stats_on_ns: report.stats_window.on_ns,
            stats_off_ns: report.stats_window.off_ns,
            stats_off_at_packet: report.stats_window.off_at_packet,
            stats_error: report.stats_error.clone(),
            thread_slot_evictions: report.thread_slot_evictions,
            skb_map_insert_failures: report.skb_map_insert_failures,
            sched: Vec::new(),
            sched_dropped: 0,
            sched_error: None,
            histograms: report.histograms.as_ref().map(RemoteHistograms::of),
            dispatch: report
                .dispatch
                .as_ref()
                .and_then(|d| d.as_ref().ok())
                .cloned(),
        }
    }

    /// The statistics window on the agent's clock.
    pub fn stats_window(&self) -> StatsWindow {
        StatsWindow {
            on_ns: self.stats_on_ns,
            off_ns: self.stats_off_ns,
            off_at_packet: self.stats_off_at_packet,
        }
    }
}

/// A layer by its name (`None` for a name this version does not know).
pub fn layer_by_name(name: &str) -> Option<LayerId> {
    LayerId::ALL.into_iter().find(|l| l.name() == name)
}

impl RemoteLoss {
    fn of(l: &LayerLoss) -> Self {
        RemoteLoss {
            layer: l.layer.name().to_owned(),
            recorded: l.recorded,
            drained: l.drained,
            overwritten: l.overwritten,
            extra_crossings: l.extra_crossings,
            read_failures: l.read_failures,
            mismatches: l.mismatches,
            stale_matches: l.stale_matches,
            missed_runs: l.missed_runs,
            applicable: l.applicable,
            chain_hits: l.chain_hits,
        }
    }

    /// Back to a [`LayerLoss`] (`None` for a layer this version does not know).
    pub fn loss(&self) -> Option<LayerLoss> {
        Some(LayerLoss {
            layer: layer_by_name(&self.layer)?,
            recorded: self.recorded,
            drained: self.drained,
            overwritten: self.overwritten,
            extra_crossings: self.extra_crossings,
            read_failures: self.read_failures,
            mismatches: self.mismatches,
            stale_matches: self.stale_matches,
            missed_runs: self.missed_runs,
            applicable: self.applicable,
            chain_hits: self.chain_hits,
        })
    }
}

impl RemoteCost {
    fn of(c: &ProgramCost) -> Self {
        RemoteCost {
            program: c.program.to_owned(),
            role: c.role.to_owned(),
            mechanism: c.mechanism.to_string(),
            run_count: c.run_count,
            run_time_ns: c.run_time_ns,
            ns_per_run: c.ns_per_run,
            missed_runs: c.missed_runs,
            events_recorded: c.events_recorded,
            events_lost: c.events_lost,
        }
    }

    /// The cost of the xdp path's own XDP program on the agent's host (it stamps
    /// `xdp_ingress` there).
    pub fn xdp_program(x: &XdpStamps) -> Option<Self> {
        (x.run_count > 0).then(|| RemoteCost {
            program: "uadpbench_xdp".into(),
            role: "xdp path program (redirect + xdp_ingress stamp)".into(),
            mechanism: "xdp".into(),
            run_count: x.run_count,
            run_time_ns: x.run_time_ns,
            ns_per_run: Some(x.run_time_ns as f64 / x.run_count as f64),
            missed_runs: 0,
            events_recorded: x.stamped,
            events_lost: x.overwritten,
        })
    }
}

/// Layers stamped in softirq or any context, by the device the packet is on (or its content
/// alone: `consume_skb`), rather than by a thread of the traced process. Which host's session
/// sees them can depend on the driver: veth moves the frame to its peer inside its transmit
/// function, so `netif_rx` and `net_dev_xmit` already see the receiving device. The xdp path's
/// own XDP program is not one of them: each host's program stamps its own arrivals.
pub fn device_level(layer: LayerId) -> bool {
    matches!(
        layer,
        LayerId::NetDevQueue
            | LayerId::QdiscDequeue
            | LayerId::NetDevStartXmit
            | LayerId::NetifRx
            | LayerId::NetDevXmit
            | LayerId::NetifReceiveSkb
            | LayerId::IpRcv
            | LayerId::UdpRcv
            | LayerId::PacketRcv
            | LayerId::ConsumeSkb
    )
}

/// Both ends' stamps in the run's numbering.
#[derive(Debug, Default)]
pub struct MergedStamps {
    /// The events, on the controller's clock.
    pub events: Vec<LayerEvent>,
    /// Stamps left out, per layer: a second crossing of a layer on one host, or a third
    /// stamp of a packet at a layer.
    pub left_out: std::collections::BTreeMap<&'static str, u64>,
    /// The agent's stamps of layers this version does not know or the path does not have.
    pub unknown: u64,
}

/// Merges this host's session events (`near`, side A) with the agent's report (side B) into
/// the run's crossings, the agent's times moved with `to_controller`.
///
/// Thread-context layers (and the xdp program's stamps) follow [`run_crossing`]: each host's
/// threads do their half of the path. Device-level layers ([`device_level`]) do too between
/// two hosts, where a NIC's stamps belong to the host that sends or receives on it; on one
/// kernel (`same_kernel`, the local stand-in) the two sessions share one clock and may see
/// each other's devices, so each packet's stamps of such a layer are taken from both and
/// numbered in time order; `consume_skb`, recognised by content alone, is seen whole by
/// both sessions: the agent's stamps are kept as its session numbered them.
pub fn merge_ends(
    near: Vec<LayerEvent>,
    far: &RemoteProbeReport,
    path: uadpbench_probes::ProbePath,
    same_kernel: bool,
    to_controller: impl Fn(u64) -> u64,
) -> MergedStamps {
    use std::collections::BTreeMap;
    let mut merged = MergedStamps::default();
    let mut far_events = Vec::new();
    for group in &far.stamps {
        let known = layer_by_name(&group.layer)
            .and_then(|layer| Some((layer, uadpbench_probes::layer_index(path, layer)?)));
        let Some((layer, index)) = known else {
            merged.unknown += group.stamps.len() as u64;
            continue;
        };
        far_events.extend(
            group
                .stamps
                .iter()
                .map(|&(packet_id, t_ns, cpu, tid)| LayerEvent {
                    packet_id,
                    layer,
                    layer_index: index as u16,
                    crossing: group.crossing,
                    t_ns: to_controller(t_ns),
                    cpu,
                    tid,
                }),
        );
    }
    let mut pooled: BTreeMap<(u64, LayerId), Vec<LayerEvent>> = BTreeMap::new();
    let ends = near
        .into_iter()
        .map(|e| (ProbedEnd::Near, e))
        .chain(far_events.into_iter().map(|e| (ProbedEnd::Far, e)));
    for (end, mut e) in ends {
        if same_kernel && e.layer == LayerId::ConsumeSkb {
            // Recognised by content alone: both sessions stamped every free, each numbered
            // in time order by its own session. The agent's are kept, this host's dropped.
            if end == ProbedEnd::Far {
                merged.events.push(e);
            }
        } else if same_kernel && device_level(e.layer) {
            pooled.entry((e.packet_id, e.layer)).or_default().push(e);
        } else if e.crossing == 0 {
            e.crossing = run_crossing(end, e.layer);
            merged.events.push(e);
        } else {
            *merged.left_out.entry(e.layer.name()).or_default() += 1;
        }
    }
    for ((_, layer), mut stamps) in pooled {
        stamps.sort_by_key(|e| (e.t_ns, e.cpu, e.tid));
        stamps.dedup_by_key(|e| (e.t_ns, e.cpu, e.tid));
        for (i, mut e) in stamps.into_iter().enumerate() {
            if i < 2 {
                e.crossing = i as u8;
                merged.events.push(e);
            } else {
                *merged.left_out.entry(layer.name()).or_default() += 1;
            }
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch(t_ns: u64, cpu: u32) -> SchedEvent {
        SchedEvent {
            t_ns,
            cpu,
            prev_tid: 10,
            prev_comm: "a".into(),
            prev_state: 1,
            next_tid: 0,
            next_comm: "swapper/0".into(),
        }
    }

    fn stamp(packet_id: u64, t_ns: u64) -> LayerEvent {
        LayerEvent {
            packet_id,
            layer: LayerId::SysExitRecvfrom,
            layer_index: 0,
            crossing: 0,
            t_ns,
            cpu: 0,
            tid: 10,
        }
    }

    #[test]
    fn the_agent_sends_the_switches_around_its_window_on_the_controllers_cpus() {
        const MS: u64 = 1_000_000;
        // Warm-up packets 0..10 at 0..10 ms, measured packets 10.. at 100 ms + 1 ms each.
        let mut events: Vec<LayerEvent> = (0..10).map(|i| stamp(i, i * MS)).collect();
        events.extend((10..40).map(|i| stamp(i, 100 * MS + (i - 10) * MS)));
        let sched: Vec<SchedEvent> = [5, 97, 99, 104, 111, 114, 200]
            .iter()
            .map(|&ms| switch(ms * MS, 1))
            .collect();
        let by_count = RemoteTraceWindow {
            first_packet: 10,
            packets: 10,
            window_ns: None,
        };
        // Packets 10..20: 100..109 ms, ± the 2 ms margin.
        let times = |w: &RemoteTraceWindow| -> Vec<u64> {
            sched_in_window(&events, &sched, w)
                .iter()
                .map(|s| s.t_ns / MS)
                .collect()
        };
        assert_eq!(times(&by_count), [99, 104, 111]);
        let by_time = RemoteTraceWindow {
            window_ns: Some(5 * MS),
            ..by_count.clone()
        };
        assert_eq!(times(&by_time), [99, 104]);
        let after = RemoteTraceWindow {
            first_packet: 1000,
            ..by_count
        };
        assert!(times(&after).is_empty(), "no stamp of the window: nothing");
        // On the controller: its clock, CPUs after the base.
        let wire = &sched_in_window(&events, &sched, &by_time)[0];
        let e = far_sched_event(wire, &|t| t + 7, 450).expect("CPU 1 is in range");
        assert_eq!((e.t_ns, e.cpu, e.prev_tid), (99 * MS + 7, 451, 10));
        let odd = SchedEvent {
            cpu: 450,
            ..wire.clone()
        };
        assert!(
            far_sched_event(&odd, &|t| t, 450).is_none(),
            "a CPU number out of range is dropped"
        );
    }

    #[test]
    fn each_host_stamps_its_half_of_the_path() {
        // The initiator sends the ping (trip 0) and receives the echo (trip 1).
        assert_eq!(run_crossing(ProbedEnd::Near, LayerId::SysEnterSendto), 0);
        assert_eq!(run_crossing(ProbedEnd::Near, LayerId::NetDevStartXmit), 0);
        assert_eq!(run_crossing(ProbedEnd::Near, LayerId::NetifReceiveSkb), 1);
        assert_eq!(run_crossing(ProbedEnd::Near, LayerId::SysExitRecvfrom), 1);
        // The reflector receives the ping and sends the echo.
        assert_eq!(run_crossing(ProbedEnd::Far, LayerId::XdpIngress), 0);
        assert_eq!(run_crossing(ProbedEnd::Far, LayerId::SchedWaking), 0);
        assert_eq!(run_crossing(ProbedEnd::Far, LayerId::SysExitSendto), 1);
        // veth's netif_rx is stamped on the receiving device, whichever way the frame goes.
        assert_eq!(run_crossing(ProbedEnd::Far, LayerId::NetifRx), 0);
        assert_eq!(run_crossing(ProbedEnd::Near, LayerId::NetifRx), 1);
    }

    fn event(layer: LayerId, crossing: u8, t_ns: u64) -> LayerEvent {
        LayerEvent {
            packet_id: 7,
            layer,
            layer_index: uadpbench_probes::layer_index(uadpbench_probes::ProbePath::Udp, layer)
                .unwrap() as u16,
            crossing,
            t_ns,
            cpu: 0,
            tid: 1,
        }
    }

    fn crossing_of(m: &MergedStamps, layer: LayerId, t_ns: u64) -> Option<u8> {
        m.events
            .iter()
            .find(|e| e.layer == layer && e.t_ns == t_ns)
            .map(|e| e.crossing)
    }

    #[test]
    fn two_hosts_place_stamps_by_role_on_the_controller_clock() {
        let far = RemoteProbeReport {
            stamps: vec![
                RemoteLayerStamps {
                    layer: "netif_receive_skb".into(),
                    crossing: 0,
                    stamps: vec![(7, 1_000, 1, 42)],
                },
                RemoteLayerStamps {
                    layer: "sys_exit_sendto".into(),
                    crossing: 0,
                    stamps: vec![(7, 2_000, 1, 42)],
                },
                // Not placeable: an unknown layer, a second crossing on one host.
                RemoteLayerStamps {
                    layer: "from_a_newer_version".into(),
                    crossing: 0,
                    stamps: vec![(7, 1, 0, 0)],
                },
                RemoteLayerStamps {
                    layer: "sys_exit_sendto".into(),
                    crossing: 1,
                    stamps: vec![(7, 3_000, 1, 42)],
                },
            ],
            ..RemoteProbeReport::default()
        };
        let near = vec![
            event(LayerId::SysEnterSendto, 0, 100),
            event(LayerId::NetDevXmit, 0, 200),
            event(LayerId::NetifReceiveSkb, 0, 5_000),
        ];
        let m = merge_ends(near, &far, uadpbench_probes::ProbePath::Udp, false, |t| {
            t + 500
        });
        assert_eq!(m.unknown, 1);
        assert_eq!(m.left_out.get("sys_exit_sendto"), Some(&1));
        assert_eq!(m.events.len(), 5);
        assert_eq!(crossing_of(&m, LayerId::SysEnterSendto, 100), Some(0));
        assert_eq!(crossing_of(&m, LayerId::NetDevXmit, 200), Some(0));
        assert_eq!(crossing_of(&m, LayerId::NetifReceiveSkb, 5_000), Some(1));
        // The agent's stamps, moved onto this clock.
        assert_eq!(crossing_of(&m, LayerId::NetifReceiveSkb, 1_500), Some(0));
        assert_eq!(crossing_of(&m, LayerId::SysExitSendto, 2_500), Some(1));
        let rx = m.events.iter().find(|e| e.t_ns == 1_500).unwrap();
        assert_eq!(rx.tid, 42);
        assert_eq!(
            rx.layer_index as usize,
            uadpbench_probes::layer_index(
                uadpbench_probes::ProbePath::Udp,
                LayerId::NetifReceiveSkb
            )
            .unwrap()
        );
    }

    #[test]
    fn one_kernel_numbers_device_stamps_in_time_order() {
        // veth: the agent's session saw net_dev_xmit of the ping (the frame already on its
        // device), this host's that of the echo; both saw both frees (consume_skb).
        let far = RemoteProbeReport {
            stamps: vec![
                RemoteLayerStamps {
                    layer: "net_dev_xmit".into(),
                    crossing: 0,
                    stamps: vec![(7, 300, 0, 1)],
                },
                RemoteLayerStamps {
                    layer: "consume_skb".into(),
                    crossing: 0,
                    stamps: vec![(7, 900, 0, 1)],
                },
                RemoteLayerStamps {
                    layer: "consume_skb".into(),
                    crossing: 1,
                    stamps: vec![(7, 4_000, 0, 1)],
                },
            ],
            ..RemoteProbeReport::default()
        };
        let near = vec![
            event(LayerId::NetDevXmit, 0, 3_000),
            event(LayerId::ConsumeSkb, 0, 910),
            event(LayerId::ConsumeSkb, 1, 4_020),
            event(LayerId::SysExitSendto, 0, 3_500),
        ];
        let m = merge_ends(near, &far, uadpbench_probes::ProbePath::Udp, true, |t| t);
        assert!(m.left_out.is_empty(), "{:?}", m.left_out);
        assert_eq!(crossing_of(&m, LayerId::NetDevXmit, 300), Some(0));
        assert_eq!(crossing_of(&m, LayerId::NetDevXmit, 3_000), Some(1));
        assert_eq!(crossing_of(&m, LayerId::ConsumeSkb, 900), Some(0));
        assert_eq!(crossing_of(&m, LayerId::ConsumeSkb, 4_000), Some(1));
        assert_eq!(
            m.events
                .iter()
                .filter(|e| e.layer == LayerId::ConsumeSkb)
                .count(),
            2,
            "duplicates dropped"
        );
        // A thread's layer keeps its host's role, whatever its time.
        assert_eq!(crossing_of(&m, LayerId::SysExitSendto, 3_500), Some(0));
    }

    #[test]
    fn losses_round_trip_by_name() {
        let loss = LayerLoss {
            layer: LayerId::SchedWaking,
            recorded: 5,
            drained: 5,
            overwritten: 1,
            extra_crossings: 0,
            read_failures: 2,
            mismatches: 0,
            stale_matches: 0,
            missed_runs: 3,
            applicable: 9,
            chain_hits: 4,
        };
        let wire: RemoteLoss =
            serde_json::from_value(serde_json::to_value(RemoteLoss::of(&loss)).unwrap()).unwrap();
        assert_eq!(wire.loss(), Some(loss));
        let unknown = RemoteLoss {
            layer: "nope".into(),
            ..wire
        };
        assert_eq!(unknown.loss(), None);
        assert_eq!(layer_by_name("netif_rx"), Some(LayerId::NetifRx));
    }
}
