//! uadpbench per-layer eBPF probes: the layer table, the embedded `probes-ebpf` object and the
//! session that attaches it, collects one timestamp per layer per benchmark packet and measures
//! what the probes cost.
//!
//! ```no_run
//! use uadpbench_probes::{ProbeConfig, ProbePath, ProbeSession, Selection};
//! let mut cfg = ProbeConfig::new(ProbePath::Udp);
//! cfg.selection = Selection::All;
//! let session = ProbeSession::start(cfg)?;
//! for l in session.layers() {
//!     println!("{:<24} {}", l.name, l.outcome);
//! }
//! // ... run the benchmark (threads of this process) ...
//! let report = session.finish()?;
//! println!("{} events", report.events.len());
//! # Ok::<(), uadpbench_probes::ProbeError>(())
//! ```
//!
//! See `docs/probes.md` for the layer table, the correlation method, the clock and the costs.

mod btf;
mod kernel;
mod layers;
mod session;
mod slots;

use std::{ffi::CStr, io, path::Path};

pub use btf::{kernel_offsets, KernelBtf, VMLINUX_BTF};
pub use layers::{
    layer, layer_index, minimal_description, minimal_layers, path_layers, resolve, AttachPoint,
    Candidate, Correlation, Direction, Helper, Layer, LayerId, Mechanism, ProbePath, Requirement,
    Selected, Selection, LAYERS, MINIMAL,
};
pub use session::{
    calibrate_dispatch, plan, plan_with, point_name, reference_layer, verify_programs,
    DispatchConfig, DispatchCost, DispatchFigure, HistogramConfig, HistogramReport, LayerEvent,
    LayerHistogram, LayerLoss, LayerPlan, LayerStatus, Outcome, ProbeConfig, ProbeReport,
    ProbeSession, ProgramCheck, ProgramCost, SchedEvent, SegmentHistogram, StatsWindow,
    DEFAULT_SCHED_BUFFER_BYTES, STATS_WATCH_INTERVAL,
};
pub use uadpbench_common::PROBE_DEFAULT_SLOTS;

/// The `probes-ebpf` object built by `build.rs` (empty when built with `AYA_BUILD_SKIP=1`).
static PROBES_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/probes-ebpf"));

/// The embedded `probes-ebpf` ELF object (empty if the crate was built with `AYA_BUILD_SKIP=1`).
pub fn embedded_object() -> &'static [u8] {
    PROBES_OBJECT
}

/// Errors of the probe session. The messages say what to do.
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
    NotRoot(#[source] Box<aya::EbpfError>),
    /// Parsing the object or creating its maps failed.
    #[error(
        "loading the probes object failed (maps could not be created); with many slots, \
         lower ProbeConfig::slots"
    )]
    Load(#[source] Box<aya::EbpfError>),
    /// The embedded object lacks a map this loader expects.
    #[error(
        "the embedded probes object has no map `{0}`: the object is stale, rebuild \
         uadpbench-probes"
    )]
    MissingMap(&'static str),
    /// A map operation failed.
    #[error("probe map `{map}`: {op} failed")]
    Map {
        /// The map name.
        map: &'static str,
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: Box<aya::maps::MapError>,
    },
    /// Mapping the slot array into memory failed.
    #[error(
        "mapping the probe slot array ({bytes} bytes) failed: the kernel must support \
         BPF_F_MMAPABLE arrays (5.5+); lower ProbeConfig::slots if memory is short"
    )]
    Mmap {
        /// Bytes requested.
        bytes: usize,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The dispatch calibration could not attach or run its programs.
    #[error(
        "calibrating what a tracepoint hit costs failed ({0}); the probes still work, \
         their compensation leaves the tracepoints' dispatch out"
    )]
    Dispatch(String),
    /// Invalid configuration.
    #[error("invalid probe configuration: {0}")]
    Config(String),
    /// A network namespace of the filter could not be inspected.
    #[error(
        "cannot read the network namespace {path}: give existing namespace files (e.g. \
         /var/run/netns/NAME or /proc/PID/ns/net)"
    )]
    Netns {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No tracefs, and mounting it failed.
    #[error(
        "tracefs is not mounted (neither /sys/kernel/tracing nor /sys/kernel/debug/tracing has \
         entries) and mounting it at /sys/kernel/tracing failed: run as root, or mount it \
         yourself with `mount -t tracefs nodev /sys/kernel/tracing`"
    )]
    NoTracefs(#[source] io::Error),
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
/// that: [`ProbeSession::start`] calls it.
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

/// The inode number of a network namespace file (what the probes compare `net->ns.inum` with).
pub fn netns_inode(path: impl AsRef<Path>) -> Result<u32, ProbeError> {
    use std::os::unix::fs::MetadataExt as _;
    let path = path.as_ref();
    let meta = std::fs::metadata(path).map_err(|source| ProbeError::Netns {
        path: path.display().to_string(),
        source,
    })?;
    u32::try_from(meta.ino()).map_err(|_| ProbeError::Netns {
        path: path.display().to_string(),
        source: io::Error::other("inode number does not fit 32 bits"),
    })
}
