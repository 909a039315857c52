//! [`ProbeSession::start`]: load the object, attach the selected layers, what they need, and
//! the helpers, then set the record masks and map the stamps.

use uadpbench_common::{
    PROBE_RECORD_MAP_NAME, PROBE_SCHED_MIN_BYTES, RECORD_MASK_CLASSIC, RECORD_MASK_MAIN,
};

use super::{
    attach::{kernel_info, Attacher},
    config::{globals, load},
    histogram::reference_layer,
    maps,
    sched::SCHED_SWITCH,
    stats::{self, StatsHold},
    LayerStatus, Outcome, ProbeConfig, ProbeSession,
};
use crate::{
    layers::{
        layer, path_layers, resolve, Correlation, Helper, LayerId, Requirement, Selected, LAYERS,
    },
    ProbeError,
};

impl ProbeSession {
    /// Loads the probes, attaches the best available mechanism for every selected layer (and
    /// what they need), and starts recording.
    ///
    /// Layers that cannot be hooked are not an error: [`layers`](Self::layers) says why.
    /// Errors are about the whole set: not root, object missing, maps not creatable, bad
    /// configuration.
    pub fn start(config: ProbeConfig) -> Result<ProbeSession, ProbeError> {
        let path = config.path;
        let mut selected = resolve(path, &config.selection);
        let kernel = kernel_info();
        let g = globals(&config, &kernel)?;
        // The dispatch calibration first: nothing of the session attached yet, no BPF
        // statistics adding clock reads to its empty programs.
        let dispatch = config
            .dispatch
            .map(|d| super::calibrate_dispatch(d).map_err(|e| e.to_string()));
        // Stats on before anything runs, so counts cover the whole session.
        let (stats, stats_error) = stats::enable(config.stats);
        let sched_bytes = if config.sched_switch {
            config.sched_buffer_bytes
        } else {
            PROBE_SCHED_MIN_BYTES
        };
        let mut ebpf = load(&g, config.slots, sched_bytes)?;
        let mut att = Attacher::new(&mut ebpf, &kernel, &config.deny, true);

        // Layers, in path order, until the prerequisites of the chosen candidates are in.
        let mut outcomes: Vec<Option<Outcome>> = vec![None; LAYERS.len()];
        loop {
            for l in path_layers(path) {
                let i = l.id.index();
                if selected[i] != Selected::No && outcomes[i].is_none() {
                    outcomes[i] = Some(att.try_layer(l.id, true));
                }
            }
            // The classic skb-map variants are tagged from the sending thread's context.
            let classic = att.attached().iter().any(|p| p.records_via_skb_map());
            let mut more = false;
            if classic {
                for dep in [LayerId::SysEnterSendto, LayerId::SysExitSendto] {
                    if layer(dep).on_path(path) && selected[dep.index()] == Selected::No {
                        selected[dep.index()] = Selected::Prerequisite;
                        more = true;
                    }
                }
            }
            if !more {
                break;
            }
        }

        // Helpers.
        let mut helper_notes: Vec<(LayerId, String)> = Vec::new();
        for l in path_layers(path) {
            if !matches!(outcomes[l.id.index()], Some(Outcome::Attached { .. })) {
                continue;
            }
            for r in l.requires {
                if let Requirement::Helper(h) = r {
                    if let Err(reason) = att.try_helper(*h) {
                        helper_notes.push((l.id, reason));
                    }
                }
            }
        }
        let classic_layers: Vec<LayerId> = att
            .attached()
            .iter()
            .filter(|p| p.records_via_skb_map())
            .filter_map(|p| p.layer)
            .collect();
        if !classic_layers.is_empty() {
            if let Err(reason) = att.try_helper(Helper::KfreeSkb) {
                helper_notes.push((classic_layers[0], reason));
            }
            // The classic programs that tag (first transmit layers) and forget (consume) skbs,
            // as helpers where their layers are not traced.
            for id in [
                LayerId::NetDevQueue,
                LayerId::NetDevStartXmit,
                LayerId::ConsumeSkb,
            ] {
                if outcomes[id.index()].is_some() && selected[id.index()] != Selected::No {
                    continue;
                }
                if let Some(c) = layer(id)
                    .candidates
                    .iter()
                    .find(|c| c.correlation == Correlation::SkbMap)
                {
                    match att.try_candidate(c, id.name(), None) {
                        Ok(()) => {
                            outcomes[id.index()] = Some(Outcome::Attached {
                                mechanism: c.mechanism,
                                program: c.program,
                                recorded: false,
                            })
                        }
                        Err(r) => helper_notes.push((classic_layers[0], format!("{id:?}: {r}"))),
                    }
                }
            }
        }

        // Context switches for timelines (not a layer).
        let sched_error = if config.sched_switch {
            att.try_candidate(&SCHED_SWITCH, "sched_switch", None).err()
        } else {
            None
        };

        let (links, attached) = att.into_parts();

        // Record masks: which layers write stamps, from which kind of program.
        let mut main_mask = 0u32;
        let mut classic_mask = 0u32;
        for p in &attached {
            let Some(id) = p.layer else { continue };
            if p.candidate().correlation == Correlation::SkbMap {
                classic_mask |= id.bit();
            } else {
                main_mask |= id.bit();
            }
        }
        maps::set_u32(
            &mut ebpf,
            PROBE_RECORD_MAP_NAME,
            &[
                (RECORD_MASK_MAIN, main_mask),
                (RECORD_MASK_CLASSIC, classic_mask),
            ],
        )?;

        let slots = maps::map_slots(&ebpf, config.slots)?;

        let mut status_list = Vec::new();
        for l in path_layers(path) {
            let i = l.id.index();
            let mut outcome = outcomes[i].clone().unwrap_or(Outcome::NotSelected);
            let notes: Vec<String> = helper_notes
                .iter()
                .filter(|(id, _)| *id == l.id)
                .map(|(_, r)| r.clone())
                .collect();
            if !notes.is_empty() {
                if let Outcome::Attached { .. } = outcome {
                    // Attached but a helper is missing: it will record nothing useful.
                    outcome = Outcome::Unavailable {
                        reasons: vec![format!(
                            "attached but its helper failed: {}",
                            notes.join("; ")
                        )],
                    };
                }
            }
            status_list.push(LayerStatus::new(path, l.id, selected[i], outcome));
        }
        let recorded = attached.iter().filter_map(|p| p.layer).collect();
        let sched_attached = config.sched_switch && sched_error.is_none();
        let mut session = ProbeSession {
            links,
            slots,
            ebpf,
            stats: StatsHold::new(stats),
            stats_error,
            stats_watch: None,
            path,
            slot_count: config.slots,
            status: status_list,
            programs: attached,
            recorded,
            events: Vec::new(),
            drained: [0; LAYERS.len()],
            sched_attached,
            sched_error,
            dispatch,
            histogram: config.histogram.and_then(|h| {
                reference_layer(path, &config.selection).map(|r| (r, u64::from(h.first_packet)))
            }),
        };
        if sched_attached {
            session.set_sched_window(true)?;
        }
        Ok(session)
    }
}
