//! The running session: trace window, statistics, draining, losses, costs and the report.
//! Attaching is in `start.rs` ([`ProbeSession::start`]).

use std::fmt;

use aya::Ebpf;
use uadpbench_common::{
    global_counter_index, layer_counter_index, GlobalCounter, LayerCounter, PROBE_SLOTS_MAP_NAME,
};

use super::{
    attach::{describe, AttachedProgram, OwnedLink},
    histogram, maps, sched,
    stats::{prog_info, ProgInfo, StatsHold, StatsWatch},
    LayerEvent, LayerLoss, LayerStatus, Outcome, ProbeReport, ProgramCost, SchedEvent, StatsWindow,
};
use crate::{
    layers::{layer_index, LayerId, Mechanism, ProbePath, Selected, LAYERS},
    slots::SlotMap,
    ProbeError,
};

/// An attached set of probes. Dropping it detaches everything.
pub struct ProbeSession {
    // Field order is drop order: detach first, then unmap, then unload.
    pub(super) links: Vec<OwnedLink>,
    pub(super) slots: SlotMap,
    pub(super) ebpf: Ebpf,
    pub(super) stats: StatsHold,
    pub(super) stats_error: Option<String>,
    pub(super) stats_watch: Option<StatsWatch>,
    pub(super) path: ProbePath,
    pub(super) slot_count: u32,
    pub(super) status: Vec<LayerStatus>,
    pub(super) programs: Vec<AttachedProgram>,
    pub(super) recorded: Vec<LayerId>,
    pub(super) events: Vec<LayerEvent>,
    pub(super) drained: [u64; LAYERS.len()],
    pub(super) sched_attached: bool,
    pub(super) sched_error: Option<String>,
    /// Histogram mode: the reference layer and the first counted packet.
    pub(super) histogram: Option<(LayerId, u64)>,
    /// The dispatch calibration's result, if one was asked for.
    pub(super) dispatch: Option<Result<super::DispatchCost, String>>,
}

impl fmt::Debug for ProbeSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeSession")
            .field("path", &self.path)
            .field("recorded", &self.recorded)
            .field("links", &self.links.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl ProbeSession {
    /// Opens (`true`) or closes the trace window: while open, the `sched_switch` program
    /// records every context switch ([`ProbeConfig::sched_switch`](super::ProbeConfig::sched_switch);
    /// a no-op without it). A session with it starts with the window open.
    pub fn set_sched_window(&mut self, open: bool) -> Result<(), ProbeError> {
        if !self.sched_attached {
            return Ok(());
        }
        sched::set_window(&mut self.ebpf, open)
    }

    /// Why the `sched_switch` program is not attached although requested, if so.
    pub fn sched_error(&self) -> Option<&str> {
        self.sched_error.as_deref()
    }

    /// Takes the context switches recorded so far out of the ring buffer, in time order.
    pub fn take_sched_events(&mut self) -> Result<Vec<SchedEvent>, ProbeError> {
        if !self.sched_attached {
            return Ok(Vec::new());
        }
        sched::take_events(&mut self.ebpf)
    }

    /// Every layer of the path: selection and how it is hooked, or why not.
    pub fn layers(&self) -> &[LayerStatus] {
        &self.status
    }

    /// The path.
    pub fn path(&self) -> ProbePath {
        self.path
    }

    /// Whether `BPF_ENABLE_STATS` is (still) on for this session.
    pub fn stats_enabled(&self) -> bool {
        self.stats.is_on()
    }

    /// Turns `BPF_ENABLE_STATS` off now (the run counts and times of the programs keep what
    /// they counted so far). A no-op if it is off.
    pub fn stop_stats(&mut self) {
        // A calibration watcher still waiting for its packet ends first.
        self.stats_watch = None;
        self.stats.stop(None);
    }

    /// Calibration: keeps `BPF_ENABLE_STATS` on until the probes stamp packet `packet_id` (at
    /// any layer this session records, either crossing), then turns it off. A watcher thread
    /// looks at the stamps every [`STATS_WATCH_INTERVAL`](super::STATS_WATCH_INTERVAL); it ends
    /// when it has turned the statistics off or when the session finishes. Use it with the id
    /// of the first measured packet: the programs' costs then come from the warm-up, and the
    /// measured packets run without the two clock reads per program run that the statistics
    /// add. Call it after [`record_external`](Self::record_external) (external layers are not
    /// watched).
    pub fn stop_stats_at_packet(&mut self, packet_id: u64) -> Result<(), ProbeError> {
        if !self.stats.is_on() || self.stats_watch.is_some() {
            return Ok(());
        }
        let layers: Vec<LayerId> = self
            .recorded
            .iter()
            .copied()
            .filter(|l| *l != LayerId::XdpIngress)
            .collect();
        if layers.is_empty() {
            return Ok(());
        }
        // Its own mapping of the stamps: the watcher never touches the session's.
        let view = maps::map_slots(&self.ebpf, self.slot_count)?;
        self.stats_watch = Some(StatsWatch::spawn(
            view,
            layers,
            packet_id,
            self.stats.clone(),
        )?);
        Ok(())
    }

    /// When the run-time statistics were on so far.
    pub fn stats_window(&self) -> StatsWindow {
        self.stats.window()
    }

    /// Packet slots of the stamp map (a power of two).
    pub fn slots(&self) -> u32 {
        self.slot_count
    }

    /// Pins the stamp map (`PROBE_SLOTS`) at `path` in a bpffs (e.g.
    /// `/sys/fs/bpf/uadpbench_probe_slots`), so that another object can share it: the hook for
    /// the XDP program to stamp [`LayerId::XdpIngress`] (load it with
    /// `EbpfLoader::map_pin_path("PROBE_SLOTS", path)`, same map definition, write at
    /// `uadpbench_common::stamp_index` with `slot_mask = slots() - 1`). Then call
    /// [`record_external`](Self::record_external) so the session drains that layer. Remove
    /// the pin file when done.
    pub fn pin_stamp_map(&self, path: impl AsRef<std::path::Path>) -> Result<(), ProbeError> {
        let map = self
            .ebpf
            .map(PROBE_SLOTS_MAP_NAME)
            .ok_or(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME))?;
        map.pin(path.as_ref()).map_err(|e| {
            ProbeError::Config(format!(
                "pinning {PROBE_SLOTS_MAP_NAME} at {} failed (is a bpffs mounted there?): {}",
                path.as_ref().display(),
                describe(&e)
            ))
        })
    }

    /// Declares that another program (the XDP program) stamps `layer` into the shared stamp
    /// map: the session drains it and reports it attached via `mechanism`.
    pub fn record_external(&mut self, layer: LayerId, mechanism: Mechanism) {
        if !self.recorded.contains(&layer) {
            self.recorded.push(layer);
        }
        if let Some(s) = self.status.iter_mut().find(|s| s.layer == layer) {
            s.selected = Selected::Yes;
            s.outcome = Outcome::Attached {
                mechanism,
                program: "(external)",
                recorded: true,
            };
        }
    }

    /// Moves every stamp in the slots into the session's event list; returns how many. Call it
    /// while no benchmark packet is in flight (between batches): a stamp written while its slot
    /// is drained may be split from its packet's other stamps (never lost: the next drain
    /// collects it).
    pub fn drain(&mut self) -> usize {
        self.drain_inner(None)
    }

    /// Like [`drain`](Self::drain) but only stamps of packets with id `< before`: safe while
    /// newer packets are in flight (e.g. `before` = the oldest id not yet received).
    pub fn drain_before(&mut self, before: u64) -> usize {
        self.drain_inner(Some(before))
    }

    fn drain_inner(&mut self, before: Option<u64>) -> usize {
        let mut out = Vec::new();
        let n = self.slots.drain(&self.recorded, before, &mut out);
        self.events.reserve(out.len());
        for d in out {
            self.drained[d.layer.index()] += 1;
            self.events.push(LayerEvent {
                packet_id: d.stamp.packet_id,
                layer: d.layer,
                layer_index: layer_index(self.path, d.layer).unwrap_or(usize::MAX) as u16,
                crossing: d.crossing,
                t_ns: d.stamp.t_ns,
                cpu: d.stamp.cpu,
                tid: d.stamp.tid,
            });
        }
        n
    }

    /// Takes the events drained so far.
    pub fn take_events(&mut self) -> Vec<LayerEvent> {
        std::mem::take(&mut self.events)
    }

    /// Per recorded layer: stamps recorded, drained, lost and maybe lost so far.
    pub fn layer_losses(&self) -> Result<Vec<LayerLoss>, ProbeError> {
        let get = maps::counters(&self.ebpf)?;
        let infos = self.program_infos();
        Ok(self
            .recorded
            .iter()
            .map(|&id| {
                let c = |k| get(layer_counter_index(id, k));
                let missed_runs = self
                    .programs
                    .iter()
                    .zip(&infos)
                    .filter(|(p, _)| p.layer == Some(id))
                    .map(|(_, i)| i.map_or(0, |i| i.recursion_misses))
                    .sum();
                // Histogram mode: every stamp went into a histogram when it was written,
                // and the slots are reused by design.
                let histogram = self.histogram.is_some();
                LayerLoss {
                    layer: id,
                    recorded: c(LayerCounter::Recorded),
                    drained: if histogram {
                        c(LayerCounter::Recorded)
                    } else {
                        self.drained[id.index()]
                    },
                    overwritten: if histogram {
                        0
                    } else {
                        c(LayerCounter::Overwritten)
                    },
                    extra_crossings: c(LayerCounter::ExtraCrossing),
                    read_failures: c(LayerCounter::ReadFailed),
                    mismatches: c(LayerCounter::Mismatch),
                    stale_matches: c(LayerCounter::Stale),
                    missed_runs,
                    applicable: c(LayerCounter::Applicable),
                    chain_hits: c(LayerCounter::ChainHit),
                }
            })
            .collect())
    }

    /// The kernel's info on each attached program, in `programs` order.
    fn program_infos(&self) -> Vec<Option<ProgInfo>> {
        self.programs
            .iter()
            .map(|p| prog_info(self.ebpf.program(p.program)?))
            .collect()
    }

    /// Run count and time of every attached program (needs `ProbeConfig::stats`).
    pub fn program_costs(&self) -> Result<Vec<ProgramCost>, ProbeError> {
        let losses = self.layer_losses()?;
        let infos = self.program_infos();
        Ok(self
            .programs
            .iter()
            .zip(infos)
            .map(|(p, info)| {
                let info = info.unwrap_or_default();
                let loss = p.layer.and_then(|id| losses.iter().find(|l| l.layer == id));
                ProgramCost {
                    program: p.program,
                    prog_id: info.id,
                    role: p.role,
                    mechanism: p.mechanism,
                    run_count: info.run_cnt,
                    run_time_ns: info.run_time_ns,
                    ns_per_run: (info.run_cnt > 0)
                        .then(|| info.run_time_ns as f64 / info.run_cnt as f64),
                    missed_runs: info.recursion_misses,
                    events_recorded: loss.map_or(0, |l| l.recorded),
                    events_lost: loss.map_or(0, LayerLoss::lost),
                }
            })
            .collect())
    }

    /// Detaches everything, drains the remaining stamps and returns all results.
    pub fn finish(mut self) -> Result<ProbeReport, ProbeError> {
        self.stats_watch = None;
        self.links.clear();
        let histograms = match self.histogram {
            Some((reference, first)) => Some(histogram::read(
                &self.ebpf,
                &self.recorded,
                reference,
                first,
            )?),
            None => {
                self.drain();
                None
            }
        };
        let sched_events = self.take_sched_events()?;
        let (thread_slot_evictions, skb_map_insert_failures, sched_dropped) = {
            let get = maps::counters(&self.ebpf)?;
            (
                get(global_counter_index(GlobalCounter::ThreadSlotEvictions)),
                get(global_counter_index(GlobalCounter::SkbIdsInsertFailed)),
                get(global_counter_index(GlobalCounter::SchedDropped)),
            )
        };
        let lost_per_layer = self.layer_losses()?;
        let program_costs = self.program_costs()?;
        Ok(ProbeReport {
            path: self.path,
            layers: self.status.clone(),
            events: std::mem::take(&mut self.events),
            lost_per_layer,
            program_costs,
            thread_slot_evictions,
            skb_map_insert_failures,
            stats_error: self.stats_error.clone(),
            stats_window: self.stats.window(),
            sched_events,
            sched_dropped,
            sched_error: self.sched_error.clone(),
            histograms,
            dispatch: self.dispatch.clone(),
        })
    }
}

impl Drop for ProbeSession {
    fn drop(&mut self) {
        self.stats_watch = None;
        // Detach before the programs and maps go (dropping `ebpf` would detach too).
        self.links.clear();
    }
}
