//! The CPU tracks of a trace (process "CPU n", one per CPU): the thread running on that CPU
//! between context switches (`sched:sched_switch`); gaps are idle. On the way, the on-CPU and
//! off-CPU intervals of the benchmark threads.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use uadpbench_probes::{ProbeReport, SchedEvent};

use super::build::Window;
use super::{complete, cpu_name, meta, us, PID_CPU_BASE};

/// A thread's interval: start, end, `Some(cpu)` on CPU or `None` off CPU, `prev_state` when
/// it went off CPU.
pub(super) type Interval = (u64, u64, Option<u32>, i64);

fn thread_label(tid: u32, comm: &str) -> String {
    if tid == 0 {
        "idle".to_owned()
    } else {
        format!("{comm} [{tid}]")
    }
}

/// What the CPU tracks found out about the run's threads.
pub(super) struct CpuTracks {
    /// CPUs with a track.
    pub(super) cpus: BTreeSet<u32>,
    /// Context switches in the window.
    pub(super) sched_in_window: usize,
    /// Command names by thread id.
    pub(super) comm_of: HashMap<u32, String>,
    /// Per benchmark thread: its on-CPU and off-CPU intervals (off-CPU ones still open).
    pub(super) thread_intervals: HashMap<u32, Vec<Interval>>,
}

/// Pushes the CPU tracks of the window `w` onto `events`; collects the intervals of the
/// benchmark threads `thread_tids`.
pub(super) fn cpu_tracks(
    w: &Window<'_>,
    report: &ProbeReport,
    thread_tids: &BTreeSet<u32>,
    events: &mut Vec<Value>,
) -> CpuTracks {
    let (t0, t1) = (w.t0, w.t1);
    let in_window = |t: u64| t >= t0 && t <= t1;
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
            events.push(meta("process_name", pid, 0, json!({"name": cpu_name(cpu)})));
            events.push(meta(
                "process_sort_index",
                pid,
                0,
                json!({"sort_index": 10 + u64::from(cpu)}),
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
    CpuTracks {
        cpus,
        sched_in_window,
        comm_of,
        thread_intervals,
    }
}
