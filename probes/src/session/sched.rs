//! Context switches for timelines: the `sched:sched_switch` program, its trace window and
//! its ring buffer.

use std::mem::size_of;

use aya::{maps::RingBuf, Ebpf};
use uadpbench_common::{
    sched_switch_format, SchedSwitch, PROBE_SCHED_MAP_NAME, PROBE_TRACE_MAP_NAME,
};

use super::maps;
use crate::{
    layers::{AttachPoint, Candidate, Correlation, Mechanism},
    ProbeError,
};

/// The `sched:sched_switch` program (not a layer: context for timelines).
pub(super) const SCHED_SWITCH: Candidate = Candidate {
    mechanism: Mechanism::Tracepoint,
    program: "tp_sched_switch",
    attach: AttachPoint::Tracepoint {
        category: "sched",
        name: "sched_switch",
        fields: &[
            ("prev_comm", sched_switch_format::PREV_COMM as u16),
            ("prev_pid", sched_switch_format::PREV_PID as u16),
            ("prev_state", sched_switch_format::PREV_STATE as u16),
            ("next_comm", sched_switch_format::NEXT_COMM as u16),
            ("next_pid", sched_switch_format::NEXT_PID as u16),
        ],
    },
    correlation: Correlation::UserBuffer,
};

/// One context switch on one CPU (`sched:sched_switch`). With the `serde` feature it is also
/// what an agent sends its controller (on the agent's clock and CPU numbers).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SchedEvent {
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, the clock of the layer events.
    pub t_ns: u64,
    /// The CPU.
    pub cpu: u32,
    /// Thread switched out (0: idle).
    pub prev_tid: u32,
    /// Its `comm`.
    pub prev_comm: String,
    /// Its state as `sched:sched_switch` reports it: `TASK_*` bits when it went to sleep or
    /// blocked, `TASK_REPORT_MAX` (0x100) when it was preempted; see [`Self::sleeping`].
    pub prev_state: i64,
    /// Thread switched in (0: idle).
    pub next_tid: u32,
    /// Its `comm`.
    pub next_comm: String,
}

impl SchedEvent {
    /// Whether the thread switched out went to sleep or blocked (false: preempted, still
    /// runnable).
    pub fn sleeping(&self) -> bool {
        sched_switch_format::sleeping(self.prev_state)
    }
}

fn comm(b: &[u8; 16]) -> String {
    let n = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..n]).into_owned()
}

/// Opens (`true`) or closes the trace window of the `sched_switch` program.
pub(super) fn set_window(ebpf: &mut Ebpf, open: bool) -> Result<(), ProbeError> {
    maps::set_u32(ebpf, PROBE_TRACE_MAP_NAME, &[(0, u32::from(open))])
}

/// Takes the context switches recorded so far out of the ring buffer, in time order.
pub(super) fn take_events(ebpf: &mut Ebpf) -> Result<Vec<SchedEvent>, ProbeError> {
    let map = ebpf
        .map_mut(PROBE_SCHED_MAP_NAME)
        .ok_or(ProbeError::MissingMap(PROBE_SCHED_MAP_NAME))?;
    let mut ring = RingBuf::try_from(map).map_err(|source| ProbeError::Map {
        map: PROBE_SCHED_MAP_NAME,
        op: "opening as ring buffer",
        source: Box::new(source),
    })?;
    let mut out = Vec::new();
    while let Some(item) = ring.next() {
        if item.len() < size_of::<SchedSwitch>() {
            continue;
        }
        // SAFETY: the record is a `SchedSwitch` (plain integers) written by the program;
        // unaligned read of its bytes.
        let r: SchedSwitch = unsafe { std::ptr::read_unaligned(item.as_ptr().cast()) };
        out.push(SchedEvent {
            t_ns: r.t_ns,
            cpu: r.cpu,
            prev_tid: r.prev_tid,
            prev_comm: comm(&r.prev_comm),
            prev_state: r.prev_state,
            next_tid: r.next_tid,
            next_comm: comm(&r.next_comm),
        });
    }
    // Per-CPU order is submission order; across CPUs reservations may interleave.
    out.sort_by_key(|e| (e.t_ns, e.cpu));
    Ok(out)
}
