//! `--trace FILE`: a timeline of a window of the run as Chrome trace-event JSON (the
//! `{"traceEvents": [...]}` format that ui.perfetto.dev and chrome://tracing open).
//!
//! What it shows, all on the probes' clock (`bpf_ktime_get_ns`, CLOCK_MONOTONIC, the same as
//! the user-space send/receive times), timestamps in µs from the window start:
//!
//! - process "packet layers": one track per stack layer in path order (user send, the send
//!   path down to the net device, the receive path up to the user receive). Each packet is a
//!   slice on every layer it crossed, from its stamp there to its next stamp (so the packet is
//!   seen moving from track to track), and flow arrows link one packet's stamps in time order.
//! - process "CPU n" (one per CPU): the thread running on that CPU between context switches
//!   (`sched:sched_switch`); gaps are idle.
//! - process "benchmark threads": per thread that made a benchmark system call, its on-CPU
//!   intervals and its off-CPU intervals (sleeping or preempted), e.g. the sender waiting for
//!   the echo.
//!
//! The window is the first N measured packets that have stamps (default 200), or a duration
//! from the first of them (`--trace-window-ms`), plus a small margin.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use uadpbench_probes::{LayerEvent, LayerId, ProbeReport, SchedEvent};

use crate::results::{self, SampleRow};

/// Default number of measured packets in the trace window.
pub const DEFAULT_TRACE_PACKETS: u64 = 200;
/// Margin around the window's packets.
const MARGIN_NS: u64 = 20_000;

/// Where the trace goes and which window of the run it covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceSpec {
    /// The trace-event JSON file.
    pub file: PathBuf,
    /// The first this many measured packets (with stamps) ...
    pub packets: u64,
    /// ... or the packets of this long a window from the first of them, if set.
    pub window_ms: Option<f64>,
}

impl TraceSpec {
    /// The default window (first [`DEFAULT_TRACE_PACKETS`] measured packets) into `file`.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        TraceSpec {
            file: file.into(),
            packets: DEFAULT_TRACE_PACKETS,
            window_ms: None,
        }
    }

    /// Every problem with the window (empty: valid).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.packets == 0 {
            problems.push("--trace-packets must be at least 1".into());
        }
        if self
            .window_ms
            .is_some_and(|ms| !(ms > 0.0 && ms.is_finite()))
        {
            problems.push("--trace-window-ms must be a positive number".into());
        }
        problems
    }
}

/// What went into a trace.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSummary {
    /// Trace events written.
    pub events: usize,
    /// Packets in the window.
    pub packets: usize,
    /// Layer tracks.
    pub layers: usize,
    /// Context switches in the window.
    pub sched_switches: usize,
    /// CPUs with a track.
    pub cpus: usize,
    /// Window start (CLOCK_MONOTONIC ns) and length.
    pub window_start_ns: u64,
    /// Window length in µs.
    pub window_us: f64,
}

/// Process ids of the trace (JSON pids are numbers; names come from metadata events).
const PID_LAYERS: u64 = 1;
const PID_THREADS: u64 = 2;
const PID_CPU_BASE: u64 = 100;
/// Thread ids of the user-space ends on the layer process (layer tracks are index + 1).
const TID_USER_SEND: u64 = 0;
const TID_USER_RECV: u64 = 10_000;

/// Layers of system calls made by benchmark threads (their tids are benchmark threads).
const THREAD_LAYERS: [LayerId; 7] = [
    LayerId::LibcSendto,
    LayerId::SysEnterSendto,
    LayerId::SockSendLength,
    LayerId::SysExitSendto,
    LayerId::SockRecvLength,
    LayerId::SysExitRecvfrom,
    LayerId::LibcRecvfrom,
];

/// A thread's interval: start, end, `Some(cpu)` on CPU or `None` off CPU, `prev_state` when
/// it went off CPU.
type Interval = (u64, u64, Option<u32>, i64);

/// A point of a packet's way on one track.
#[derive(Debug, Clone)]
struct Stamp {
    t_ns: u64,
    tid: u64,
    packet_id: u64,
    name: String,
    args: Value,
}

fn us(t_ns: u64, t0: u64) -> f64 {
    t_ns.saturating_sub(t0) as f64 / 1000.0
}

fn meta(name: &str, pid: u64, tid: u64, args: Value) -> Value {
    json!({"name": name, "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args})
}

fn complete(name: &str, cat: &str, pid: u64, tid: u64, ts: f64, dur: f64, args: Value) -> Value {
    json!({"name": name, "cat": cat, "ph": "X", "ts": ts, "dur": dur.max(0.0), "pid": pid,
           "tid": tid, "args": args})
}

fn thread_label(tid: u32, comm: &str) -> String {
    if tid == 0 {
        "idle".to_owned()
    } else {
        format!("{comm} [{tid}]")
    }
}

/// Builds the trace (a `{"traceEvents": [...]}` value) of the window of `spec` from the probe
/// report and the run's samples (may be empty: then the window is the first packets stamped).
pub fn build(
    spec: &TraceSpec,
    report: &ProbeReport,
    samples: &[SampleRow],
) -> anyhow::Result<(Value, TraceSummary)> {
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
    let window_us = us(t1, t0);
    let in_window = |t: u64| t >= t0 && t <= t1;

    let mut events: Vec<Value> = Vec::new();
    // ---------------------------------------------------------------- layer tracks
    events.push(meta(
        "process_name",
        PID_LAYERS,
        0,
        json!({"name": "packet layers (send path down, receive path up)"}),
    ));
    events.push(meta(
        "process_sort_index",
        PID_LAYERS,
        0,
        json!({"sort_index": 0}),
    ));
    let name_of: HashMap<u16, &str> = report
        .layers
        .iter()
        .map(|s| (s.layer_index as u16, s.name))
        .collect();
    let mut layer_tids: BTreeSet<u64> = BTreeSet::new();
    let mut stamps: Vec<Stamp> = Vec::new();
    let mut thread_tids: BTreeSet<u32> = BTreeSet::new();
    let mut sender_tid: Option<u32> = None;
    for (id, evs) in &packets {
        if let Some(s) = measured.get(id) {
            stamps.push(Stamp {
                t_ns: s.t_send_ns,
                tid: TID_USER_SEND,
                packet_id: *id,
                name: format!("pkt {id}"),
                args: json!({"packet_id": id, "point": "user_send"}),
            });
            if let Some(r) = s.t_recv_ns {
                stamps.push(Stamp {
                    t_ns: r,
                    tid: TID_USER_RECV,
                    packet_id: *id,
                    name: format!("pkt {id}"),
                    args: json!({"packet_id": id, "point": "user_recv"}),
                });
            }
        }
        for e in evs {
            let tid = u64::from(e.layer_index) + 1;
            layer_tids.insert(tid);
            if THREAD_LAYERS.contains(&e.layer) && e.tid != 0 {
                thread_tids.insert(e.tid);
                if e.crossing == 0
                    && matches!(e.layer, LayerId::SysEnterSendto | LayerId::LibcSendto)
                    && sender_tid.is_none()
                {
                    sender_tid = Some(e.tid);
                }
            }
            stamps.push(Stamp {
                t_ns: e.t_ns,
                tid,
                packet_id: *id,
                name: if e.crossing == 0 {
                    format!("pkt {id}")
                } else {
                    format!("pkt {id} (echo)")
                },
                args: json!({"packet_id": id, "layer": e.layer.name(), "crossing": e.crossing,
                             "cpu": e.cpu, "tid": e.tid, "t_ns": e.t_ns}),
            });
        }
    }
    let has_user = !measured.is_empty();
    if has_user {
        events.push(meta(
            "thread_name",
            PID_LAYERS,
            TID_USER_SEND,
            json!({"name": "user send"}),
        ));
        events.push(meta(
            "thread_sort_index",
            PID_LAYERS,
            TID_USER_SEND,
            json!({"sort_index": 0}),
        ));
        events.push(meta(
            "thread_name",
            PID_LAYERS,
            TID_USER_RECV,
            json!({"name": "user receive"}),
        ));
        events.push(meta(
            "thread_sort_index",
            PID_LAYERS,
            TID_USER_RECV,
            json!({"sort_index": TID_USER_RECV}),
        ));
    }
    for &tid in &layer_tids {
        let idx = (tid - 1) as u16;
        let name = name_of.get(&idx).copied().unwrap_or("unknown");
        events.push(meta(
            "thread_name",
            PID_LAYERS,
            tid,
            json!({"name": format!("{idx:02} {name}")}),
        ));
        events.push(meta(
            "thread_sort_index",
            PID_LAYERS,
            tid,
            json!({"sort_index": tid}),
        ));
    }
    // Slice ends: the packet's next stamp, but never past the next slice of the same track
    // (slices of one track must not overlap).
    let mut next_on_track: HashMap<usize, u64> = HashMap::new();
    {
        let mut per_track: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, s) in stamps.iter().enumerate() {
            per_track.entry(s.tid).or_default().push(i);
        }
        for v in per_track.values_mut() {
            v.sort_by_key(|&i| stamps[i].t_ns);
            for w in v.windows(2) {
                next_on_track.insert(w[0], stamps[w[1]].t_ns);
            }
        }
    }
    let mut per_packet: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, s) in stamps.iter().enumerate() {
        per_packet.entry(s.packet_id).or_default().push(i);
    }
    let mut layer_events = 0usize;
    let mut packet_ids: Vec<u64> = per_packet.keys().copied().collect();
    packet_ids.sort_unstable();
    for id in packet_ids {
        let mut idx = per_packet.remove(&id).unwrap_or_default();
        idx.sort_by_key(|&i| (stamps[i].t_ns, stamps[i].tid));
        let n = idx.len();
        for (k, &i) in idx.iter().enumerate() {
            let s = &stamps[i];
            let packet_next = idx.get(k + 1).map(|&j| stamps[j].t_ns);
            let track_next = next_on_track.get(&i).copied();
            let end = match (packet_next, track_next) {
                (Some(p), Some(t)) => p.min(t),
                (Some(p), None) => p,
                (None, Some(t)) => t.min(s.t_ns + 1_000),
                (None, None) => s.t_ns + 1_000,
            }
            .min(t1)
            .max(s.t_ns);
            let ts = us(s.t_ns, t0);
            events.push(complete(
                &s.name,
                "packet",
                PID_LAYERS,
                s.tid,
                ts,
                us(end, t0) - ts,
                s.args.clone(),
            ));
            layer_events += 1;
            if n > 1 {
                let ph = match k {
                    0 => "s",
                    k if k + 1 == n => "f",
                    _ => "t",
                };
                events.push(
                    json!({"name": "packet", "cat": "packet", "ph": ph, "id": id,
                    "bp": "e", "ts": ts, "pid": PID_LAYERS, "tid": s.tid}),
                );
            }
        }
    }

    // ---------------------------------------------------------------- CPU tracks
    let sched: Vec<&SchedEvent> = report.sched_events.iter().collect();
    let mut cpus: BTreeSet<u32> = BTreeSet::new();
    let mut sched_in_window = 0usize;
    let mut by_cpu: BTreeMap<u32, Vec<&SchedEvent>> = BTreeMap::new();
    for e in &sched {
        by_cpu.entry(e.cpu).or_default().push(e);
    }
    let mut comm_of: HashMap<u32, String> = HashMap::new();
    for e in &sched {
        comm_of
            .entry(e.prev_tid)
            .or_insert_with(|| e.prev_comm.clone());
        comm_of
            .entry(e.next_tid)
            .or_insert_with(|| e.next_comm.clone());
    }
    // Per benchmark thread: (start, end, on-CPU cpu or None, off-CPU state) intervals.
    let mut thread_intervals: HashMap<u32, Vec<Interval>> = HashMap::new();
    for (&cpu, evs) in &mut by_cpu {
        evs.sort_by_key(|e| e.t_ns);
        let pid = PID_CPU_BASE + u64::from(cpu);
        let mut track = Vec::new();
        // The thread running from one switch to the next (the first switch tells who ran
        // before it).
        let mut running: Option<(u64, u32, String)> = evs
            .first()
            .map(|e| (t0.min(e.t_ns), e.prev_tid, e.prev_comm.clone()));
        for e in evs.iter() {
            if in_window(e.t_ns) {
                sched_in_window += 1;
            }
            if let Some((from, tid, comm)) = running.take() {
                let (a, b) = (from.max(t0), e.t_ns.min(t1));
                if a < b && tid != 0 {
                    let ts = us(a, t0);
                    track.push(complete(
                        &thread_label(tid, &comm),
                        "sched",
                        pid,
                        1,
                        ts,
                        us(b, t0) - ts,
                        json!({"tid": tid, "comm": comm, "cpu": cpu}),
                    ));
                }
                if thread_tids.contains(&tid) {
                    thread_intervals
                        .entry(tid)
                        .or_default()
                        .push((from, e.t_ns, Some(cpu), 0));
                }
            }
            if thread_tids.contains(&e.prev_tid) {
                // Off-CPU from here; closed when it is switched in again.
                thread_intervals.entry(e.prev_tid).or_default().push((
                    e.t_ns,
                    u64::MAX,
                    None,
                    e.prev_state,
                ));
            }
            running = Some((e.t_ns, e.next_tid, e.next_comm.clone()));
        }
        if let Some((from, tid, comm)) = running {
            if thread_tids.contains(&tid) {
                thread_intervals
                    .entry(tid)
                    .or_default()
                    .push((from, t1, Some(cpu), 0));
            }
            let a = from.max(t0);
            if a < t1 && tid != 0 && from <= t1 {
                let ts = us(a, t0);
                track.push(complete(
                    &thread_label(tid, &comm),
                    "sched",
                    pid,
                    1,
                    ts,
                    us(t1, t0) - ts,
                    json!({"tid": tid, "comm": comm, "cpu": cpu}),
                ));
            }
        }
        if !track.is_empty() || evs.iter().any(|e| in_window(e.t_ns)) {
            cpus.insert(cpu);
            events.push(meta(
                "process_name",
                pid,
                0,
                json!({"name": format!("CPU {cpu}")}),
            ));
            events.push(meta(
                "process_sort_index",
                pid,
                0,
                json!({"sort_index": 10 + cpu}),
            ));
            events.push(meta(
                "thread_name",
                pid,
                1,
                json!({"name": "running thread"}),
            ));
            events.extend(track);
        }
    }

    // ---------------------------------------------------------------- benchmark threads
    if !thread_tids.is_empty() {
        events.push(meta(
            "process_name",
            PID_THREADS,
            0,
            json!({"name": "benchmark threads (on/off CPU)"}),
        ));
        events.push(meta(
            "process_sort_index",
            PID_THREADS,
            0,
            json!({"sort_index": 1}),
        ));
    }
    let mut seen_threads: HashSet<u32> = HashSet::new();
    for &tid in &thread_tids {
        let comm = comm_of.get(&tid).cloned().unwrap_or_default();
        let role = if Some(tid) == sender_tid {
            "sender"
        } else {
            "peer"
        };
        events.push(meta(
            "thread_name",
            PID_THREADS,
            u64::from(tid),
            json!({"name": format!("{role}: {comm} [{tid}]")}),
        ));
        events.push(meta(
            "thread_sort_index",
            PID_THREADS,
            u64::from(tid),
            json!({"sort_index": if role == "sender" { 0 } else { 1 }}),
        ));
        let mut iv = thread_intervals.remove(&tid).unwrap_or_default();
        iv.sort_by_key(|x| (x.0, x.2.is_none()));
        // Close each off-CPU interval at the thread's next on-CPU interval.
        for i in 0..iv.len() {
            if iv[i].2.is_none() {
                let next_on = iv[i + 1..]
                    .iter()
                    .find(|x| x.2.is_some())
                    .map(|x| x.0)
                    .unwrap_or(t1);
                iv[i].1 = next_on;
            }
        }
        for (a, b, on, state) in iv {
            let (ca, cb) = (a.max(t0), b.min(t1));
            if ca >= cb {
                continue;
            }
            seen_threads.insert(tid);
            let (name, args) = match on {
                Some(cpu) => (format!("on CPU {cpu}"), json!({"cpu": cpu})),
                None if state == 0 => (
                    "off-CPU: preempted (runnable)".to_owned(),
                    json!({"prev_state": state}),
                ),
                None => ("off-CPU: sleeping".to_owned(), json!({"prev_state": state})),
            };
            let ts = us(ca, t0);
            events.push(complete(
                &name,
                if on.is_some() { "on_cpu" } else { "off_cpu" },
                PID_THREADS,
                u64::from(tid),
                ts,
                us(cb, t0) - ts,
                args,
            ));
        }
    }

    let summary = TraceSummary {
        events: events.len(),
        packets: packets.len(),
        layers: layer_tids.len(),
        sched_switches: sched_in_window,
        cpus: cpus.len(),
        window_start_ns: t0,
        window_us,
    };
    let _ = layer_events;
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
            "threads_with_intervals": seen_threads.len(),
        },
    });
    Ok((value, summary))
}

/// Builds the trace and writes it to `spec.file` atomically (temporary file + rename).
pub fn write(
    spec: &TraceSpec,
    report: &ProbeReport,
    samples: &[SampleRow],
) -> anyhow::Result<TraceSummary> {
    let (value, summary) = build(spec, report, samples)?;
    if let Some(dir) = spec.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    results::write_atomically(&spec.file, |w| {
        serde_json::to_writer(&mut *w, &value)?;
        writeln!(w)?;
        Ok(())
    })?;
    Ok(summary)
}

/// The lines the run prints about a written trace.
pub fn report_lines(file: &Path, s: &TraceSummary, dropped: u64) -> Vec<String> {
    let mut lines = vec![format!(
        "  trace: {} ({} events: {} packets over {} layer tracks, {} context switches on {} CPU(s), {:.1} µs window)",
        file.display(),
        s.events,
        s.packets,
        s.layers,
        s.sched_switches,
        s.cpus,
        s.window_us
    )];
    if dropped > 0 {
        lines.push(format!(
            "    {dropped} context switch(es) lost: the sched_switch ring buffer was full"
        ));
    }
    lines.push(
        "    open it at https://ui.perfetto.dev → \"Open trace file\" (or chrome://tracing)".into(),
    );
    lines
}

/// Trace processes of one run in a merged campaign trace: run `k` (0-based) owns the pids
/// `(k + 1) * MERGE_PID_STRIDE + pid`.
const MERGE_PID_STRIDE: u64 = 1_000;

/// Flow ids of run `k` are offset by `(k + 1) * MERGE_FLOW_STRIDE` so that arrows never link
/// two runs.
const MERGE_FLOW_STRIDE: u64 = 1 << 40;

/// Merges per-run traces into one trace-event file: every run keeps its own processes (layer
/// tracks, benchmark threads, CPUs), named `<run id> · <process>`, sorted in run order; each
/// run's timestamps stay relative to its own window start, so the runs' windows lie on top of
/// each other from 0 and compare at a glance. Returns the number of events written.
pub fn merge(runs: &[(String, PathBuf)], out: &Path) -> anyhow::Result<usize> {
    let mut events: Vec<Value> = Vec::new();
    let mut windows = Vec::new();
    for (k, (run_id, file)) in runs.iter().enumerate() {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("reading the trace {}: {e}", file.display()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not trace-event JSON: {e}", file.display()))?;
        let Some(list) = value["traceEvents"].as_array() else {
            anyhow::bail!("{} has no traceEvents array", file.display());
        };
        let base = (k as u64 + 1) * MERGE_PID_STRIDE;
        let mut pids = BTreeSet::new();
        for ev in list {
            let mut ev = ev.clone();
            let Some(pid) = ev["pid"].as_u64() else {
                continue;
            };
            anyhow::ensure!(
                pid < MERGE_PID_STRIDE,
                "{}: pid {pid} too large to merge",
                file.display()
            );
            ev["pid"] = json!(base + pid);
            pids.insert(base + pid);
            if let Some(id) = ev.get("id").and_then(Value::as_u64) {
                ev["id"] = json!((k as u64 + 1) * MERGE_FLOW_STRIDE + id);
            }
            if ev["ph"] == "M" && ev["name"] == "process_name" {
                let name = ev["args"]["name"].as_str().unwrap_or("").to_owned();
                ev["args"]["name"] = json!(format!("{run_id} · {name}"));
            }
            events.push(ev);
        }
        for pid in pids {
            events.push(meta(
                "process_sort_index",
                pid,
                0,
                json!({"sort_index": pid}),
            ));
        }
        windows.push(json!({
            "run_id": run_id,
            "pids": [base, base + MERGE_PID_STRIDE - 1],
            "window_start_ns": value["otherData"]["window_start_ns"],
            "window_us": value["otherData"]["window_us"],
            "packets": value["otherData"]["packets"],
        }));
    }
    let n = events.len();
    let value = json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "tool": "uadpbench campaign --trace",
            "clock": "bpf_ktime_get_ns (CLOCK_MONOTONIC); each run's ts in µs from its own window_start_ns",
            "runs": windows,
        },
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    results::write_atomically(out, |w| {
        serde_json::to_writer(&mut *w, &value)?;
        writeln!(w)?;
        Ok(())
    })?;
    Ok(n)
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    fn trace(dir: &Path, name: &str) -> PathBuf {
        let f = dir.join(name);
        let v = json!({"traceEvents": [
            meta("process_name", PID_LAYERS, 0, json!({"name": "packet layers"})),
            complete("udp_sendmsg", "packet", PID_LAYERS, 3, 1.0, 2.0, json!({})),
            json!({"name": "packet", "ph": "s", "id": 7, "bp": "e", "ts": 1.0, "pid": PID_LAYERS, "tid": 3}),
            complete("uadpbench", "cpu", PID_CPU_BASE + 1, 0, 0.5, 4.0, json!({})),
        ], "otherData": {"window_start_ns": 5, "window_us": 4.5, "packets": 1}});
        std::fs::write(&f, v.to_string()).expect("write");
        f
    }

    #[test]
    fn runs_keep_separate_processes_and_flows() {
        let dir = std::env::temp_dir().join(format!("uadpbench-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = trace(&dir, "a.json");
        let b = trace(&dir, "b.json");
        let out = dir.join("all.json");
        let n = merge(&[("run-a".into(), a), ("run-b".into(), b)], &out).expect("merge");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
        let evs = v["traceEvents"].as_array().expect("events");
        assert_eq!(evs.len(), n);
        let names: Vec<&str> = evs
            .iter()
            .filter(|e| e["name"] == "process_name")
            .filter_map(|e| e["args"]["name"].as_str())
            .collect();
        assert_eq!(names, ["run-a · packet layers", "run-b · packet layers"]);
        let pids: BTreeSet<u64> = evs.iter().filter_map(|e| e["pid"].as_u64()).collect();
        assert_eq!(
            pids.into_iter().collect::<Vec<_>>(),
            [1001, 1101, 2001, 2101]
        );
        let ids: Vec<u64> = evs.iter().filter_map(|e| e["id"].as_u64()).collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1], "flows of two runs never link");
        assert_eq!(v["otherData"]["runs"][1]["run_id"], "run-b");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_broken_trace_is_an_error() {
        let dir = std::env::temp_dir().join(format!("uadpbench-merge-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("bad.json");
        std::fs::write(&f, "{\"x\": 1}").expect("write");
        assert!(merge(&[("r".into(), f)], &dir.join("out.json")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
