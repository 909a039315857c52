//! Loading and attaching candidate programs: [`load_program`] (the one place that knows how
//! each mechanism's program is loaded) and the [`Attacher`] that tries a layer's candidates.

use std::error::Error as StdError;

use aya::{
    programs::{
        fentry::FEntryLink, kprobe::KProbeLink, tp_btf::BtfTracePointLink,
        trace_point::TracePointLink, uprobe::UProbeLink, uprobe::UProbeScope, BtfTracePoint,
        FEntry, KProbe, Program, ProgramError, TracePoint, UProbe,
    },
    Btf, Ebpf,
};

use super::Outcome;
use crate::{
    ensure_tracefs,
    kernel::KernelInfo,
    layers::{layer, AttachPoint, Candidate, Correlation, Helper, LayerId, Mechanism, LAYERS},
};

/// An owned attachment: dropping it detaches.
#[allow(
    dead_code,
    reason = "the links are held for their Drop (detach), never read"
)]
pub(super) enum OwnedLink {
    Tracepoint(TracePointLink),
    BtfTracepoint(BtfTracePointLink),
    FEntry(FEntryLink),
    KProbe(KProbeLink),
    UProbe(UProbeLink),
}

/// A program the session attached.
#[derive(Clone, Copy, Debug)]
pub(super) struct AttachedProgram {
    pub(super) program: &'static str,
    pub(super) mechanism: Mechanism,
    pub(super) role: &'static str,
    /// The layer it records (`None`: a helper).
    pub(super) layer: Option<LayerId>,
}

impl AttachedProgram {
    /// Its row in the layer table (a placeholder for helpers outside the table).
    pub(super) fn candidate(&self) -> &'static Candidate {
        LAYERS
            .iter()
            .flat_map(|l| l.candidates.iter())
            .find(|c| c.program == self.program)
            .unwrap_or(&PLACEHOLDER)
    }

    /// Whether it records a layer through the classic skb map.
    pub(super) fn records_via_skb_map(&self) -> bool {
        self.layer.is_some() && self.candidate().correlation == Correlation::SkbMap
    }
}

const PLACEHOLDER: Candidate = Candidate {
    mechanism: Mechanism::Tracepoint,
    program: "",
    attach: AttachPoint::External(""),
    correlation: Correlation::UserBuffer,
};

/// The functions the layer table may hook (for the kallsyms lookup).
fn table_functions() -> Vec<&'static str> {
    LAYERS
        .iter()
        .flat_map(|l| l.candidates.iter())
        .filter_map(|c| match c.attach {
            AttachPoint::Function(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// What the running kernel offers for the layer table (mounts tracefs if needed).
pub(super) fn kernel_info() -> KernelInfo {
    let tracefs = ensure_tracefs().ok();
    KernelInfo::gather(tracefs, &table_functions())
}

/// The kernel's BTF, which `tp_btf` and fentry programs are loaded against.
pub(super) fn kernel_btf() -> Result<Btf, String> {
    Btf::from_sys_fs().map_err(|e| format!("kernel BTF unreadable: {e}"))
}

/// A loaded program, as its mechanism's type, with what attaching it needs.
pub(super) enum Loaded<'p> {
    Tracepoint {
        program: &'p mut TracePoint,
        category: &'static str,
        name: &'static str,
    },
    BtfTracepoint(&'p mut BtfTracePoint),
    FEntry(&'p mut FEntry),
    KProbe {
        program: &'p mut KProbe,
        function: &'static str,
    },
    UProbe {
        program: &'p mut UProbe,
        symbols: &'static [&'static str],
    },
}

impl Loaded<'_> {
    /// Attaches the program; the links detach when dropped.
    pub(super) fn attach(self) -> Result<Vec<OwnedLink>, String> {
        Ok(match self {
            Loaded::Tracepoint {
                program: p,
                category,
                name,
            } => {
                let id = p.attach(category, name).map_err(|e| describe(&e))?;
                vec![OwnedLink::Tracepoint(
                    p.take_link(id).map_err(|e| describe(&e))?,
                )]
            }
            Loaded::BtfTracepoint(p) => {
                let id = p.attach().map_err(|e| describe(&e))?;
                vec![OwnedLink::BtfTracepoint(
                    p.take_link(id).map_err(|e| describe(&e))?,
                )]
            }
            Loaded::FEntry(p) => {
                let id = p.attach().map_err(|e| describe(&e))?;
                vec![OwnedLink::FEntry(
                    p.take_link(id).map_err(|e| describe(&e))?,
                )]
            }
            Loaded::KProbe {
                program: p,
                function,
            } => {
                let id = p.attach(function, 0).map_err(|e| describe(&e))?;
                vec![OwnedLink::KProbe(
                    p.take_link(id).map_err(|e| describe(&e))?,
                )]
            }
            Loaded::UProbe {
                program: p,
                symbols,
            } => {
                // Per-process perf scopes miss threads created later: attach system-wide and
                // let the program filter on the target process. A failure drops (detaches)
                // the symbols attached so far.
                let mut links = Vec::new();
                for sym in symbols {
                    let id = p
                        .attach(*sym, "libc", UProbeScope::AllProcesses)
                        .map_err(|e| format!("libc {sym}: {}", describe(&e)))?;
                    links.push(OwnedLink::UProbe(
                        p.take_link(id).map_err(|e| describe(&e))?,
                    ));
                }
                links
            }
        })
    }
}

/// Loads `prog`, the program of candidate `c`, unless it is loaded already. `Err`: why the
/// kernel refused it (explained), or why it cannot be loaded as `c` says.
pub(super) fn load_program<'p>(
    prog: &'p mut Program,
    c: &Candidate,
    btf: &Result<Btf, String>,
    kernel: &KernelInfo,
) -> Result<Loaded<'p>, String> {
    let load_err = |e: ProgramError| kernel.explain_load_failure(c.mechanism, &describe(&e));
    Ok(match (c.mechanism, c.attach) {
        (Mechanism::Tracepoint, AttachPoint::Tracepoint { category, name, .. }) => {
            let p: &mut TracePoint = prog.try_into().map_err(|e| describe(&e))?;
            if p.fd().is_err() {
                p.load().map_err(load_err)?;
            }
            Loaded::Tracepoint {
                program: p,
                category,
                name,
            }
        }
        (Mechanism::TpBtf, AttachPoint::BtfTracepoint { name, .. }) => {
            let btf = btf.as_ref().map_err(Clone::clone)?;
            let p: &mut BtfTracePoint = prog.try_into().map_err(|e| describe(&e))?;
            if p.fd().is_err() {
                p.load(name, btf).map_err(load_err)?;
            }
            Loaded::BtfTracepoint(p)
        }
        (Mechanism::FEntry, AttachPoint::Function(function)) => {
            let btf = btf.as_ref().map_err(Clone::clone)?;
            let p: &mut FEntry = prog.try_into().map_err(|e| describe(&e))?;
            if p.fd().is_err() {
                p.load(function, btf).map_err(load_err)?;
            }
            Loaded::FEntry(p)
        }
        (Mechanism::KProbe, AttachPoint::Function(function)) => {
            let p: &mut KProbe = prog.try_into().map_err(|e| describe(&e))?;
            if p.fd().is_err() {
                p.load().map_err(load_err)?;
            }
            Loaded::KProbe {
                program: p,
                function,
            }
        }
        (Mechanism::UProbe, AttachPoint::Libc { symbols, .. }) => {
            let p: &mut UProbe = prog.try_into().map_err(|e| describe(&e))?;
            if p.fd().is_err() {
                p.load().map_err(load_err)?;
            }
            Loaded::UProbe {
                program: p,
                symbols,
            }
        }
        (m, a) => return Err(format!("{m} cannot attach to {a}")),
    })
}

/// Loads and attaches candidates.
pub(super) struct Attacher<'a> {
    ebpf: &'a mut Ebpf,
    kernel: &'a KernelInfo,
    btf: Result<Btf, String>,
    deny: &'a [Mechanism],
    /// false: load only ([`plan`](crate::plan)).
    attach: bool,
    links: Vec<OwnedLink>,
    attached: Vec<AttachedProgram>,
}

impl<'a> Attacher<'a> {
    /// An attacher of `ebpf`'s programs (`attach` false: load them only), never using the
    /// mechanisms in `deny`.
    pub(super) fn new(
        ebpf: &'a mut Ebpf,
        kernel: &'a KernelInfo,
        deny: &'a [Mechanism],
        attach: bool,
    ) -> Self {
        Attacher {
            ebpf,
            kernel,
            btf: kernel_btf(),
            deny,
            attach,
            links: Vec::new(),
            attached: Vec::new(),
        }
    }

    /// The programs loaded (attached) so far.
    pub(super) fn attached(&self) -> &[AttachedProgram] {
        &self.attached
    }

    /// The links (detach when dropped) and the programs they attach.
    pub(super) fn into_parts(self) -> (Vec<OwnedLink>, Vec<AttachedProgram>) {
        (self.links, self.attached)
    }

    fn is_attached(&self, program: &str) -> bool {
        self.attached.iter().any(|p| p.program == program)
    }

    /// Loads (and, in attach mode, attaches) `c`. `Err`: why it cannot be used here.
    pub(super) fn try_candidate(
        &mut self,
        c: &Candidate,
        role: &'static str,
        layer: Option<LayerId>,
    ) -> Result<(), String> {
        if self.deny.contains(&c.mechanism) {
            return Err("not allowed by the configuration".to_owned());
        }
        self.kernel.preflight(c)?;
        if self.is_attached(c.program) {
            return Ok(());
        }
        let prog = self.ebpf.program_mut(c.program).ok_or_else(|| {
            format!(
                "the probes object has no program {}: it is stale, rebuild uadpbench-probes",
                c.program
            )
        })?;
        let loaded = load_program(prog, c, &self.btf, self.kernel)?;
        if self.attach {
            let links = loaded.attach()?;
            self.links.extend(links);
        }
        self.attached.push(AttachedProgram {
            program: c.program,
            mechanism: c.mechanism,
            role,
            layer,
        });
        Ok(())
    }

    /// Tries a layer's candidates in order.
    pub(super) fn try_layer(&mut self, id: LayerId, recorded: bool) -> Outcome {
        let l = layer(id);
        let mut reasons = Vec::new();
        for c in l.candidates {
            match self.try_candidate(c, l.name(), recorded.then_some(id)) {
                Ok(()) if !self.attach => {
                    return Outcome::Available {
                        mechanism: c.mechanism,
                        program: c.program,
                    }
                }
                Ok(()) => {
                    return Outcome::Attached {
                        mechanism: c.mechanism,
                        program: c.program,
                        recorded,
                    }
                }
                Err(r) => reasons.push(format!("{}: {r}", c.mechanism)),
            }
        }
        Outcome::Unavailable { reasons }
    }

    /// Attaches a helper; a failure is returned as a reason string.
    pub(super) fn try_helper(&mut self, h: Helper) -> Result<(), String> {
        let mut reasons = Vec::new();
        for c in h.btf_candidate().into_iter().chain([h.candidate()]) {
            match self.try_candidate(&c, h.name(), None) {
                Ok(()) => return Ok(()),
                Err(r) => reasons.push(format!("{}: {r}", c.mechanism)),
            }
        }
        Err(format!("{}: {}", h.name(), reasons.join("; ")))
    }
}

/// Formats an error with its sources; long verifier logs are cut to their end.
pub(super) fn describe(e: &(dyn StdError + 'static)) -> String {
    let mut s = e.to_string();
    if let Some(i) = s.find("Verifier output:") {
        let log: Vec<&str> = s[i..].lines().collect();
        if log.len() > 16 {
            let tail = log[log.len() - 15..].join("\n");
            s = format!("{}Verifier output (end): ...\n{tail}", &s[..i]);
        }
    }
    let mut src = e.source();
    while let Some(x) = src {
        let m = x.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        src = x.source();
    }
    s
}
