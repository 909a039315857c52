//! The benchmark-thread tracks of a trace (process "benchmark threads"): per thread that made a
//! benchmark system call, its on-CPU intervals and its off-CPU intervals (sleeping or
//! preempted), e.g. the sender waiting for the echo.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};
use uadpbench_common::tracepoint::sched_switch_format;

use super::build::Window;
use super::cpus::Interval;
use super::layers::LayerTracks;
use super::{complete, meta, us, PID_THREADS};

/// Pushes the benchmark-thread tracks onto `events`; returns how many threads have an
/// interval in the window `w`.
pub(super) fn thread_tracks(
    w: &Window<'_>,
    layers: &LayerTracks,
    comm_of: HashMap<u32, String>,
    mut thread_intervals: HashMap<u32, Vec<Interval>>,
    events: &mut Vec<Value>,
) -> usize {
    let (t0, t1) = (w.t0, w.t1);
    let (thread_tids, sender_tid) = (&layers.thread_tids, layers.sender_tid);
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
    for &tid in thread_tids {
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
                None => (off_cpu_name(state).to_owned(), json!({"prev_state": state})),
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
    seen_threads.len()
}

/// The name of an off-CPU interval that began with a switch-out in `prev_state`
/// (`sched:sched_switch`'s value: a preempted thread is reported as `TASK_REPORT_MAX`).
fn off_cpu_name(prev_state: i64) -> &'static str {
    if sched_switch_format::sleeping(prev_state) {
        "off-CPU: sleeping"
    } else {
        "off-CPU: preempted (runnable)"
    }
}

#[cfg(test)]
mod tests {
    use super::off_cpu_name;

    #[test]
    fn a_preempted_thread_is_runnable_not_asleep() {
        // What sched:sched_switch reports: TASK_REPORT_MAX for a preemption ("R+"), TASK_*
        // bits for a thread that went to sleep or blocked.
        assert_eq!(off_cpu_name(0x100), "off-CPU: preempted (runnable)");
        assert_eq!(off_cpu_name(0), "off-CPU: preempted (runnable)");
        assert_eq!(off_cpu_name(1), "off-CPU: sleeping"); // S
        assert_eq!(off_cpu_name(2), "off-CPU: sleeping"); // D
        assert_eq!(off_cpu_name(0x80), "off-CPU: sleeping"); // I
    }
}
