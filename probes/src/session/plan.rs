//! What would attach, without attaching ([`plan`]), and the verifier's verdict on every
//! program of the object ([`verify_programs`]).

use uadpbench_common::PROBE_SCHED_MIN_BYTES;

use super::{
    attach::{describe, kernel_btf, kernel_info, load_program, Attacher},
    config::{globals, load},
    LayerPlan, LayerStatus, Outcome, ProbeConfig,
};
use crate::{
    layers::{path_layers, resolve, Helper, Mechanism, ProbePath, Selected, Selection, LAYERS},
    ProbeError,
};

/// The mechanism every layer of `path` would use on this kernel, or why it cannot be hooked,
/// without attaching anything (programs are loaded to let the verifier check them, then
/// unloaded). Every layer of the path is evaluated; `selected` says what `selection` traces.
/// Needs root to load; without it the reasons say so.
pub fn plan(path: ProbePath, selection: &Selection) -> Vec<LayerPlan> {
    let mut config = ProbeConfig::new(path);
    config.selection = selection.clone();
    plan_with(&config)
}

/// [`plan`] with a full configuration (denied mechanisms, publisher id, ...).
pub fn plan_with(config: &ProbeConfig) -> Vec<LayerPlan> {
    let path = config.path;
    let selected = resolve(path, &config.selection);
    let kernel = kernel_info();
    let loaded = globals(config, &kernel).and_then(|g| load(&g, 2, PROBE_SCHED_MIN_BYTES));
    let mut ebpf = match loaded {
        Ok(e) => e,
        Err(e) => {
            let reason = describe(&e);
            return path_layers(path)
                .map(|l| {
                    LayerStatus::new(
                        path,
                        l.id,
                        selected[l.id.index()],
                        Outcome::Unavailable {
                            reasons: vec![format!("cannot load the probes: {reason}")],
                        },
                    )
                })
                .collect();
        }
    };
    let mut att = Attacher::new(&mut ebpf, &kernel, &config.deny, false);
    path_layers(path)
        .map(|l| {
            let sel = selected[l.id.index()];
            let outcome = att.try_layer(l.id, sel != Selected::No);
            LayerStatus::new(path, l.id, sel, outcome)
        })
        .collect()
}

/// Result of loading one program of the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramCheck {
    /// Program name.
    pub program: &'static str,
    /// Its mechanism.
    pub mechanism: Mechanism,
    /// `Ok`: the kernel loaded it (the verifier accepted it); `Err`: why not.
    pub result: Result<(), String>,
}

/// The helpers [`verify_programs`] loads besides the layer table's candidates.
const VERIFIED_HELPERS: [Helper; 8] = [
    Helper::SysEnterRecvfrom,
    Helper::LibcRecvEntry,
    Helper::KfreeSkb,
    Helper::SysEnterRecvmsg,
    Helper::SysExitRecvmsg,
    Helper::SysEnterPoll,
    Helper::SysExitPoll,
    Helper::SoftirqExit,
];

/// Loads every program of the object once (nothing is attached) and reports which the kernel
/// accepts: a check of the verifier's verdict on all of them, including the mechanisms whose
/// hooks do not exist here (kprobe programs load without `CONFIG_KPROBES`).
pub fn verify_programs() -> Result<Vec<ProgramCheck>, ProbeError> {
    let config = ProbeConfig::new(ProbePath::Udp);
    let kernel = kernel_info();
    let mut ebpf = load(&globals(&config, &kernel)?, 2, PROBE_SCHED_MIN_BYTES)?;
    let btf = kernel_btf();
    let mut seen = Vec::new();
    let candidates = LAYERS
        .iter()
        .flat_map(|l| l.candidates.iter().copied())
        .chain(VERIFIED_HELPERS.map(Helper::candidate))
        .chain(VERIFIED_HELPERS.iter().filter_map(|h| h.btf_candidate()))
        .filter(|c| c.mechanism != Mechanism::Xdp);
    let mut out = Vec::new();
    for c in candidates {
        if seen.contains(&c.program) {
            continue;
        }
        seen.push(c.program);
        let result = ebpf
            .program_mut(c.program)
            .ok_or_else(|| format!("no program {} in the object", c.program))
            .and_then(|prog| load_program(prog, &c, &btf, &kernel).map(|_| ()));
        out.push(ProgramCheck {
            program: c.program,
            mechanism: c.mechanism,
            result,
        });
    }
    Ok(out)
}
