//! What a session (or a plan) reports: layer outcomes, events, losses, program costs.

use std::fmt;

use super::SchedEvent;
use crate::layers::{layer, layer_index, Direction, LayerId, Mechanism, ProbePath, Selected};

/// How a layer is (or would be) hooked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Attached ([`ProbeSession`](crate::ProbeSession)) or loadable and attachable as far as
    /// can be checked without attaching ([`plan`](crate::plan)).
    Attached {
        /// The mechanism.
        mechanism: Mechanism,
        /// The program.
        program: &'static str,
        /// Whether its stamps are recorded (false: only a helper of another layer).
        recorded: bool,
    },
    /// [`plan`](crate::plan): the program loads (the verifier accepts it) and the hook exists;
    /// it would be attached with this mechanism.
    Available {
        /// The mechanism.
        mechanism: Mechanism,
        /// The program.
        program: &'static str,
    },
    /// No candidate works here; one reason per candidate tried (`"fentry: ..."`).
    Unavailable {
        /// Why not.
        reasons: Vec<String>,
    },
    /// Not selected, so not attached (sessions don't evaluate unselected layers).
    NotSelected,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Attached {
                mechanism,
                program,
                recorded,
            } => {
                write!(f, "{mechanism} ({program})")?;
                if !recorded {
                    f.write_str(", helper only")?;
                }
                Ok(())
            }
            Outcome::Available { mechanism, program } => {
                write!(f, "{mechanism} ({program}), available")
            }
            Outcome::Unavailable { reasons } => {
                write!(f, "not attachable: {}", reasons.join("; "))
            }
            Outcome::NotSelected => f.write_str("not selected"),
        }
    }
}

/// One layer of a path: selection and outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerStatus {
    /// The layer.
    pub layer: LayerId,
    /// Its name.
    pub name: &'static str,
    /// Send or receive side.
    pub direction: Direction,
    /// Position in the path's layer list ([`path_layers`](crate::path_layers)).
    pub layer_index: usize,
    /// Whether it is traced.
    pub selected: Selected,
    /// How it is hooked, or why not.
    pub outcome: Outcome,
    /// When an attached probe legitimately sees no packet.
    pub only_when: Option<&'static str>,
}

/// [`plan`](crate::plan) output: the same shape as a session's [`LayerStatus`].
pub type LayerPlan = LayerStatus;

impl LayerStatus {
    /// The status of layer `id` of `path` (its name, direction and position from the table).
    pub(super) fn new(path: ProbePath, id: LayerId, selected: Selected, outcome: Outcome) -> Self {
        let l = layer(id);
        LayerStatus {
            layer: id,
            name: l.name(),
            direction: l.direction,
            layer_index: layer_index(path, id).unwrap_or(usize::MAX),
            selected,
            outcome,
            only_when: l.only_when,
        }
    }

    /// The mechanism it is attached with (session), or would be ([`plan`](crate::plan)).
    pub fn attached_via(&self) -> Option<Mechanism> {
        match self.outcome {
            Outcome::Attached { mechanism, .. } | Outcome::Available { mechanism, .. } => {
                Some(mechanism)
            }
            _ => None,
        }
    }

    /// Whether its stamps are recorded.
    pub fn recorded(&self) -> bool {
        matches!(self.outcome, Outcome::Attached { recorded: true, .. })
    }
}

/// One timestamp of one packet at one layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LayerEvent {
    /// The benchmark packet id (the UADP message's 64-bit id; its low 16 bits are the
    /// NetworkMessage SequenceNumber).
    pub packet_id: u64,
    /// The layer.
    pub layer: LayerId,
    /// Position of the layer in its path ([`layer_index`]).
    pub layer_index: u16,
    /// 0: the packet's first crossing of this layer; 1: the second (a ping-pong echo).
    pub crossing: u8,
    /// `bpf_ktime_get_ns()`: CLOCK_MONOTONIC, the userspace clock of the benchmark.
    pub t_ns: u64,
    /// CPU the probe ran on.
    pub cpu: u32,
    /// Thread that was current (softirq work runs in the interrupted thread or ksoftirqd).
    pub tid: u32,
}

/// Per-layer event accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerLoss {
    /// The layer.
    pub layer: LayerId,
    /// Stamps written by the probe.
    pub recorded: u64,
    /// Stamps drained into events.
    pub drained: u64,
    /// Stamps written over an undrained stamp of another packet (the older one is lost).
    pub overwritten: u64,
    /// Stamps dropped: both crossings of the layer already held the packet.
    pub extra_crossings: u64,
    /// Target-thread buffers the probe could not read (maybe benchmark packets).
    pub read_failures: u64,
    /// Classic variants: skb map entries whose frame length did not match (stale entries of
    /// freed skbs); no stamp written.
    pub mismatches: u64,
    /// Classic variants: skb map entries rejected as stale (tagged too long ago, or older than
    /// the packet already stamped at this layer: a freed skb's address reused); no stamp written.
    pub stale_matches: u64,
    /// Runs of the layer's program the kernel skipped (`recursion_misses`, e.g. a classic
    /// tracepoint firing inside another BPF program on the same CPU).
    pub missed_runs: u64,
    /// `sched_waking`: received packets whose receiving thread slept in the `recvfrom` that
    /// returned them — the packets the wake-up layers apply to (`recorded / applicable` is
    /// their coverage). 0 for the other layers.
    pub applicable: u64,
    /// Transmit layers after `net_dev_queue`: skbs whose packet (or "not a benchmark packet")
    /// came from the transmit-chain context instead of reading the frame
    /// (`ProbeConfig::tx_chain`). 0 for the other layers.
    pub chain_hits: u64,
}

impl LayerLoss {
    /// Events certainly lost.
    pub fn lost(&self) -> u64 {
        self.overwritten + self.extra_crossings
    }

    /// Events that may have been lost (unreadable buffers, skipped runs).
    pub fn maybe_lost(&self) -> u64 {
        self.read_failures + self.missed_runs
    }
}

/// Cost of one BPF program (`BPF_ENABLE_STATS`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProgramCost {
    /// Program name in the object.
    pub program: &'static str,
    /// Kernel program id (as `bpftool prog` shows it).
    pub prog_id: u32,
    /// The layer it records, or the helper it is.
    pub role: &'static str,
    /// Its mechanism.
    pub mechanism: Mechanism,
    /// Runs (every hit of the hook, benchmark packet or not).
    pub run_count: u64,
    /// Total run time.
    pub run_time_ns: u64,
    /// `run_time_ns / run_count`.
    pub ns_per_run: Option<f64>,
    /// Runs the kernel skipped (recursion).
    pub missed_runs: u64,
    /// Stamps the program wrote.
    pub events_recorded: u64,
    /// Its events lost ([`LayerLoss::lost`]).
    pub events_lost: u64,
}

/// Everything a session collected.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The path.
    pub path: ProbePath,
    /// Per layer of the path: selection and how it was attached or why not.
    pub layers: Vec<LayerStatus>,
    /// All events, in drain order.
    pub events: Vec<LayerEvent>,
    /// Per recorded layer.
    pub lost_per_layer: Vec<LayerLoss>,
    /// Per attached program.
    pub program_costs: Vec<ProgramCost>,
    /// Thread context slots taken over from another in-flight thread.
    pub thread_slot_evictions: u64,
    /// Failed inserts into the skb map (classic fallback).
    pub skb_map_insert_failures: u64,
    /// Why `BPF_ENABLE_STATS` is off, if it is.
    pub stats_error: Option<String>,
    /// When `BPF_ENABLE_STATS` was on: the window [`program_costs`](Self::program_costs)
    /// covers.
    pub stats_window: StatsWindow,
    /// Context switches recorded while the trace window was open
    /// ([`ProbeConfig::sched_switch`](crate::ProbeConfig::sched_switch); empty without it), in
    /// time order.
    pub sched_events: Vec<SchedEvent>,
    /// Context switches lost: the ring buffer was full.
    pub sched_dropped: u64,
    /// Why the `sched_switch` program could not be attached, if it was requested and failed.
    pub sched_error: Option<String>,
    /// Histogram mode: what the kernel counted (`events` is then empty, and
    /// `lost_per_layer` counts every recorded stamp as collected: each was counted into a
    /// histogram when it was written).
    pub histograms: Option<super::HistogramReport>,
    /// What a tracepoint hit costs beyond its program on this host, measured before the
    /// session attached ([`ProbeConfig::dispatch`](crate::ProbeConfig::dispatch); `None`: not
    /// asked for; `Err`: why it failed).
    pub dispatch: Option<Result<super::DispatchCost, String>>,
}

/// When `BPF_ENABLE_STATS` was on during a session (CLOCK_MONOTONIC ns): the window the
/// programs' run counts and times cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsWindow {
    /// When it was turned on (`None`: never: not requested, or refused).
    pub on_ns: Option<u64>,
    /// When it was turned off before the session ended (`None`: on until the end, or never).
    pub off_ns: Option<u64>,
    /// The packet whose stamp turned it off
    /// ([`ProbeSession::stop_stats_at_packet`](crate::ProbeSession::stop_stats_at_packet)).
    pub off_at_packet: Option<u64>,
}
