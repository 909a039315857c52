//! uadpbench per-layer eBPF probes: the embedded `probes-ebpf` object and its loader.
//!
//! For now the set is one tracepoint program, `net_dev_start_xmit` (`net:net_dev_start_xmit`),
//! that counts its runs in the per-CPU array `PROBE_COUNTERS`. Loading is independent of network
//! namespaces; tracepoints fire for every namespace.

use std::{ffi::CStr, fmt, io, path::Path};

use aya::{
    maps::{MapError, PerCpuArray},
    programs::{trace_point::TracePointLinkId, ProgramError, TracePoint},
    Ebpf, EbpfError,
};
pub use uadpbench_common::ProbeCounter;
use uadpbench_common::PROBE_COUNTERS_MAP_NAME;

/// The `probes-ebpf` object built by `build.rs` (empty when built with `AYA_BUILD_SKIP=1`).
static PROBES_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probes-ebpf"));

/// The embedded `probes-ebpf` ELF object (empty if the crate was built with `AYA_BUILD_SKIP=1`).
pub fn embedded_object() -> &'static [u8] {
    PROBES_OBJECT
}

/// A tracepoint program of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TracepointProbe {
    /// Program (function) name in the object.
    pub program: &'static str,
    /// Tracepoint category (`/sys/kernel/tracing/events/<category>`).
    pub category: &'static str,
    /// Tracepoint name.
    pub name: &'static str,
    /// Its run counter.
    pub counter: ProbeCounter,
}

/// The tracepoint programs in the embedded object.
pub const TRACEPOINTS: &[TracepointProbe] = &[TracepointProbe {
    program: "net_dev_start_xmit",
    category: "net",
    name: "net_dev_start_xmit",
    counter: ProbeCounter::NetDevStartXmit,
}];

/// Errors of [`ProbeSet`]. The messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The crate was built without the eBPF object.
    #[error(
        "the probes were not built into this binary (AYA_BUILD_SKIP was set): rebuild without \
         AYA_BUILD_SKIP, with the nightly toolchain and bpf-linker installed (scripts/setup.sh)"
    )]
    NotBuilt,
    /// Loading failed and we are not root.
    #[error(
        "loading the probes failed and this process is not root: run as root (sudo) or grant \
         CAP_BPF and CAP_PERFMON"
    )]
    NotRoot(#[source] Box<EbpfError>),
    /// Parsing the object or creating its maps failed.
    #[error("loading the probes object failed")]
    Load(#[source] Box<EbpfError>),
    /// The embedded object lacks a program or map this loader expects.
    #[error(
        "the embedded probes object has no {kind} `{name}`: the object is stale or wrong, \
         rebuild uadpbench-probes"
    )]
    Missing {
        /// "program" or "map".
        kind: &'static str,
        /// Its name.
        name: &'static str,
    },
    /// Loading (verifying) or attaching one program failed.
    #[error(
        "{op} the probe `{program}` on tracepoint {category}:{name} failed (does \
         /sys/kernel/tracing/events/{category}/{name} exist? is tracefs mounted? do not run \
         under `ip netns exec`, which remounts /sys)"
    )]
    Program {
        /// "loading" or "attaching".
        op: &'static str,
        /// Program name.
        program: &'static str,
        /// Tracepoint category.
        category: &'static str,
        /// Tracepoint name.
        name: &'static str,
        /// The cause.
        #[source]
        source: Box<ProgramError>,
    },
    /// No tracefs, and mounting it failed.
    #[error(
        "tracefs is not mounted (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing has \
         entries) and mounting it at /sys/kernel/tracing failed: run as root, or mount it \
         yourself with `mount -t tracefs nodev /sys/kernel/tracing`"
    )]
    NoTracefs(#[source] io::Error),
    /// A map operation failed.
    #[error("probe map `{map}`: {op} failed")]
    Map {
        /// The map name.
        map: &'static str,
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: Box<MapError>,
    },
}

/// The loaded probe programs; attached ones are detached on drop.
pub struct ProbeSet {
    ebpf: Ebpf,
    attached: Vec<(&'static TracepointProbe, TracePointLinkId)>,
}

impl fmt::Debug for ProbeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProbeSet")
            .field(
                "attached",
                &self
                    .attached
                    .iter()
                    .map(|(p, _)| p.program)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl ProbeSet {
    /// Parses the embedded object and creates its maps (no program is loaded yet).
    pub fn load() -> Result<Self, ProbeError> {
        if PROBES_OBJECT.is_empty() {
            return Err(ProbeError::NotBuilt);
        }
        let ebpf = Ebpf::load(PROBES_OBJECT).map_err(|e| {
            if is_root() {
                ProbeError::Load(Box::new(e))
            } else {
                ProbeError::NotRoot(Box::new(e))
            }
        })?;
        Ok(ProbeSet {
            ebpf,
            attached: Vec::new(),
        })
    }

    /// Loads (verifies) and attaches every program of [`TRACEPOINTS`] not yet attached.
    pub fn attach_all(&mut self) -> Result<(), ProbeError> {
        for probe in TRACEPOINTS {
            self.attach(probe)?;
        }
        Ok(())
    }

    /// Loads (verifies) and attaches one tracepoint program (no-op if already attached).
    ///
    /// Classic tracepoints are looked up in tracefs: see [`ensure_tracefs`].
    pub fn attach(&mut self, probe: &'static TracepointProbe) -> Result<(), ProbeError> {
        if self.attached.iter().any(|(p, _)| *p == probe) {
            return Ok(());
        }
        ensure_tracefs()?;
        let err = |op, source| ProbeError::Program {
            op,
            program: probe.program,
            category: probe.category,
            name: probe.name,
            source: Box::new(source),
        };
        let prog = self
            .ebpf
            .program_mut(probe.program)
            .ok_or(ProbeError::Missing {
                kind: "program",
                name: probe.program,
            })?;
        let tp: &mut TracePoint = prog.try_into().map_err(|e| err("loading", e))?;
        if tp.fd().is_err() {
            tp.load().map_err(|e| err("loading", e))?;
        }
        let link = tp
            .attach(probe.category, probe.name)
            .map_err(|e| err("attaching", e))?;
        self.attached.push((probe, link));
        Ok(())
    }

    /// Names of the attached programs.
    pub fn attached(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.attached.iter().map(|(p, _)| p.program)
    }

    /// One run counter, summed over all CPUs.
    pub fn counter(&self, counter: ProbeCounter) -> Result<u64, ProbeError> {
        let map = self
            .ebpf
            .map(PROBE_COUNTERS_MAP_NAME)
            .ok_or(ProbeError::Missing {
                kind: "map",
                name: PROBE_COUNTERS_MAP_NAME,
            })?;
        let array = PerCpuArray::<_, u64>::try_from(map).map_err(|source| ProbeError::Map {
            map: PROBE_COUNTERS_MAP_NAME,
            op: "opening as per-CPU array",
            source: Box::new(source),
        })?;
        let per_cpu = array
            .get(&counter.index(), 0)
            .map_err(|source| ProbeError::Map {
                map: PROBE_COUNTERS_MAP_NAME,
                op: "lookup",
                source: Box::new(source),
            })?;
        Ok(per_cpu.iter().copied().fold(0u64, u64::wrapping_add))
    }
}

impl Drop for ProbeSet {
    fn drop(&mut self) {
        for (probe, link) in self.attached.drain(..) {
            if let Some(prog) = self.ebpf.program_mut(probe.program) {
                if let Ok(tp) = <&mut TracePoint>::try_from(prog) {
                    // Errors cannot be reported from drop; dropping `ebpf` detaches anyway.
                    let _ = tp.detach(link);
                }
            }
        }
    }
}

/// The tracefs mount points aya looks at, in its order.
const TRACEFS_PATHS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

fn has_entries(dir: &str) -> bool {
    Path::new(dir)
        .read_dir()
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
}

/// Makes sure tracefs is mounted where aya looks for it, and returns that path.
///
/// Classic tracepoints are attached by id, read from tracefs
/// (`events/<category>/<name>/id`). Some machines have neither tracefs nor debugfs mounted; then
/// this mounts tracefs at `/sys/kernel/tracing` (needs root), which is harmless and stays
/// mounted. aya caches the tracefs path at its first tracepoint attach, so this must run before
/// that: [`ProbeSet::attach`] calls it.
pub fn ensure_tracefs() -> Result<&'static str, ProbeError> {
    if let Some(p) = TRACEFS_PATHS.into_iter().find(|p| has_entries(p)) {
        return Ok(p);
    }
    const SOURCE: &CStr = c"nodev";
    const TARGET: &CStr = c"/sys/kernel/tracing";
    const FSTYPE: &CStr = c"tracefs";
    // SAFETY: valid NUL-terminated strings, no data argument.
    let rc = unsafe {
        libc::mount(
            SOURCE.as_ptr(),
            TARGET.as_ptr(),
            FSTYPE.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(ProbeError::NoTracefs(io::Error::last_os_error()));
    }
    if has_entries(TRACEFS_PATHS[0]) {
        Ok(TRACEFS_PATHS[0])
    } else {
        Err(ProbeError::NoTracefs(io::Error::other(
            "mounted tracefs at /sys/kernel/tracing but it is empty",
        )))
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}
