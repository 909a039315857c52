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

mod build;
mod cpus;
mod layers;
mod merge;
mod threads;
mod write;

use std::path::PathBuf;

use serde::Serialize;
use serde_json::{json, Value};

pub use build::build;
pub use merge::merge;
pub use write::{report_lines, write};

/// CPU numbers of the agent's host in a trace across hosts: its CPU n is `FAR_CPU_BASE + n`
/// (track "agent's host CPU n"). CPU tracks are processes `PID_CPU_BASE + cpu`, and a
/// campaign's merged trace gives run k the pids `k·1000 + pid`: with this base both hosts'
/// CPUs stay below 1000 up to 450 CPUs each.
pub const FAR_CPU_BASE: u32 = 450;

/// The name of CPU `cpu`'s track.
fn cpu_name(cpu: u32) -> String {
    match cpu.checked_sub(FAR_CPU_BASE) {
        Some(n) => format!("agent's host CPU {n}"),
        None => format!("CPU {cpu}"),
    }
}

/// Default number of measured packets in the trace window.
pub const DEFAULT_TRACE_PACKETS: u64 = 200;

/// Where the trace goes and which window of the run it covers.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agents_cpus_have_their_own_tracks() {
        assert_eq!(cpu_name(0), "CPU 0");
        assert_eq!(cpu_name(FAR_CPU_BASE - 1), "CPU 449");
        assert_eq!(cpu_name(FAR_CPU_BASE + 1), "agent's host CPU 1");
        // Both hosts' CPU processes stay below a campaign merge's per-run block of 1000.
        assert!(u64::from(FAR_CPU_BASE) * 2 + PID_CPU_BASE <= 1000);
    }
}
