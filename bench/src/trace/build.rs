//! Building a trace: the window of the run it covers, then the layer, CPU and benchmark-thread
//! tracks ([`super::layers`], [`super::cpus`], [`super::threads`]) and the trace's metadata.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};
use uadpbench_probes::{LayerEvent, ProbeReport};

use super::cpus::cpu_tracks;
use super::layers::layer_tracks;
use super::threads::thread_tracks;
use super::{us, TraceSpec, TraceSummary};
use crate::results::SampleRow;

/// Margin around the window's packets.
const MARGIN_NS: u64 = 20_000;

/// The window of the run a trace covers.
pub(super) struct Window<'a> {
    /// The run's samples by packet id (empty without samples).
    pub(super) measured: HashMap<u64, &'a SampleRow>,
    /// The packets in the window with their layer stamps, in packet-id order.
    pub(super) packets: Vec<(u64, Vec<&'a LayerEvent>)>,
    /// Window start (CLOCK_MONOTONIC ns), the margin included.
    pub(super) t0: u64,
    /// Window end (CLOCK_MONOTONIC ns), the margin included.
    pub(super) t1: u64,
}

/// The window of `spec`: the first packets with layer stamps (of measured packets, if there
/// are samples), by count or by duration, plus [`MARGIN_NS`] on either side.
fn select_window<'a>(
    spec: &TraceSpec,
    report: &'a ProbeReport,
    samples: &'a [SampleRow],
) -> anyhow::Result<Window<'a>> {
    let measured: HashMap<u64, &SampleRow> = samples.iter().map(|s| (s.packet_id, s)).collect();
    let mut by_packet: BTreeMap<u64, Vec<&LayerEvent>> = BTreeMap::new();
    for e in &report.events {
        if measured.is_empty() || measured.contains_key(&e.packet_id) {
            by_packet.entry(e.packet_id).or_default().push(e);
        }
    }
    if by_packet.is_empty() {
        anyhow::bail!("no layer stamps of measured packets: nothing to trace");
    }
    let first_t = |id: u64, evs: &[&LayerEvent]| -> u64 {
        let t = evs.iter().map(|e| e.t_ns).min().unwrap_or(u64::MAX);
        measured.get(&id).map_or(t, |s| t.min(s.t_send_ns))
    };
    let last_t = |id: u64, evs: &[&LayerEvent]| -> u64 {
        let t = evs.iter().map(|e| e.t_ns).max().unwrap_or(0);
        measured
            .get(&id)
            .and_then(|s| s.t_recv_ns)
            .map_or(t, |r| t.max(r))
    };
    let (&first_id, first_evs) = by_packet.iter().next().expect("not empty");
    let start = first_t(first_id, first_evs);
    let packets: Vec<(u64, Vec<&LayerEvent>)> = match spec.window_ms {
        Some(ms) => {
            let end = start + (ms * 1e6) as u64;
            by_packet
                .into_iter()
                .filter(|(id, evs)| first_t(*id, evs) < end)
                .collect()
        }
        None => by_packet
            .into_iter()
            .take(spec.packets.max(1) as usize)
            .collect(),
    };
    let t0 = packets
        .iter()
        .map(|(id, evs)| first_t(*id, evs))
        .min()
        .unwrap_or(start)
        .saturating_sub(MARGIN_NS);
    let t1 = packets
        .iter()
        .map(|(id, evs)| last_t(*id, evs))
        .max()
        .unwrap_or(start)
        + MARGIN_NS;
    Ok(Window {
        measured,
        packets,
        t0,
        t1,
    })
}

/// Builds the trace (a `{"traceEvents": [...]}` value) of the window of `spec` from the probe
/// report and the run's samples (may be empty: then the window is the first packets stamped).
pub fn build(
    spec: &TraceSpec,
    report: &ProbeReport,
    samples: &[SampleRow],
) -> anyhow::Result<(Value, TraceSummary)> {
    let window = select_window(spec, report, samples)?;
    let (t0, t1) = (window.t0, window.t1);
    let packets = &window.packets;
    let window_us = us(t1, t0);

    let mut events: Vec<Value> = Vec::new();
    let layers = layer_tracks(&window, report, &mut events);
    let cpus = cpu_tracks(&window, report, &layers.thread_tids, &mut events);
    let seen_threads = thread_tracks(
        &window,
        &layers,
        cpus.comm_of,
        cpus.thread_intervals,
        &mut events,
    );
    let sender_tid = layers.sender_tid;
    let sched_in_window = cpus.sched_in_window;

    let summary = TraceSummary {
        events: events.len(),
        packets: packets.len(),
        layers: layers.layer_tids.len(),
        sched_switches: sched_in_window,
        cpus: cpus.cpus.len(),
        window_start_ns: t0,
        window_us,
    };
    let value = json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "tool": "uadpbench run --trace",
            "clock": "bpf_ktime_get_ns (CLOCK_MONOTONIC); ts in µs from window_start_ns",
            "window_start_ns": t0,
            "window_us": window_us,
            "packets": packets.len(),
            "first_packet_id": packets.first().map(|p| p.0),
            "last_packet_id": packets.last().map(|p| p.0),
            "sender_tid": sender_tid,
            "sched_switches_in_window": sched_in_window,
            "sched_switches_dropped": report.sched_dropped,
            "sched_error": report.sched_error,
            "threads_with_intervals": seen_threads,
        },
    });
    Ok((value, summary))
}
