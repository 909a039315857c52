//! Owned loader of the `uadpbench_xdp` program (crate `xdp-ebpf`, embedded at build time).
//!
//! ```no_run
//! use uadpbench_sender::xdp_program::{XdpAttachMode, XdpProgram};
//! use uadpbench_common::XdpConfig;
//!
//! let mut prog = XdpProgram::load(XdpConfig::default())?;
//! prog.attach_name("veth0", XdpAttachMode::Skb)?; // on a thread in veth0's network namespace
//! // ... bind an AF_XDP socket and put it into `prog.xsks_mut()?` at its queue index ...
//! println!("{:?}", prog.counters()?);
//! # Ok::<(), uadpbench_sender::xdp_program::XdpProgramError>(())
//! ```
//!
//! Network namespaces: loading is namespace-independent, but attaching resolves the interface
//! (name or index) in the network namespace of the **calling thread**. Attach from a thread that
//! has `setns`'d into the interface's namespace (never run the loader under `ip netns exec`,
//! which remounts /sys). The attachment is a BPF link: it is removed when the [`XdpProgram`] is
//! dropped (or [`XdpProgram::detach`] is called), from any thread.

use std::{error::Error as StdError, ffi::CString, fmt, io};

use aya::{
    maps::{Array, MapData, MapError, PerCpuArray, XskMap},
    programs::xdp::XdpLinkId,
    programs::{ProgramError, ProgramInfo, Xdp, XdpMode},
    Ebpf, EbpfError, EbpfLoader,
};
use uadpbench_common::{
    Stamp, XdpConfig, XdpCounter, XDP_CONFIG_GLOBAL_NAME, XDP_COUNTERS_MAP_NAME, XDP_COUNTER_COUNT,
    XDP_FLAGS_KNOWN, XDP_FLAG_STAMP, XDP_PROGRAM_NAME, XDP_STAMPS_MAP_NAME, XSKS_MAP_NAME,
};

/// The `xdp-ebpf` object built by `build.rs` (empty when built with `AYA_BUILD_SKIP=1`).
static XDP_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xdp-ebpf"));

/// The embedded `xdp-ebpf` ELF object (empty if the crate was built with `AYA_BUILD_SKIP=1`).
pub fn embedded_object() -> &'static [u8] {
    XDP_OBJECT
}

/// How the XDP program is attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum XdpAttachMode {
    /// Generic XDP (`XDP_FLAGS_SKB_MODE`): works on every interface, runs after the skb is built.
    #[default]
    Skb,
    /// Native XDP (`XDP_FLAGS_DRV_MODE`): in the driver; needs driver support (veth has it).
    Driver,
}

impl XdpAttachMode {
    fn aya_mode(self) -> XdpMode {
        match self {
            XdpAttachMode::Skb => XdpMode::Skb,
            XdpAttachMode::Driver => XdpMode::Driver,
        }
    }
}

impl fmt::Display for XdpAttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpAttachMode::Skb => "SKB (generic)",
            XdpAttachMode::Driver => "DRV (native)",
        })
    }
}

/// Errors of [`XdpProgram`]. The messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum XdpProgramError {
    /// The crate was built without the eBPF object.
    #[error(
        "the XDP program was not built into this binary (AYA_BUILD_SKIP was set): rebuild \
         without AYA_BUILD_SKIP, with the nightly toolchain and bpf-linker installed \
         (scripts/setup.sh)"
    )]
    NotBuilt,
    /// Loading failed and we are not root.
    #[error(
        "loading the XDP program failed and this process is not root: run as root (sudo) or \
         grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON"
    )]
    NotRoot(#[source] Box<EbpfError>),
    /// Loading (parsing, map creation, verification) failed.
    #[error(
        "loading the XDP program `{XDP_PROGRAM_NAME}` into the kernel failed (the verifier log, \
         if any, is in the cause)"
    )]
    Load(#[source] Box<EbpfError>),
    /// The configuration has unknown flag bits or port 0.
    #[error("invalid XDP configuration {config:?}: {reason}")]
    InvalidConfig {
        /// The rejected configuration.
        config: XdpConfig,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The named interface does not exist in the calling thread's network namespace.
    #[error(
        "network interface `{name}` not found in this thread's network namespace: check the name \
         with `ip link` (or `ip -n NS link`), and attach from a thread that has setns'd into the \
         interface's namespace"
    )]
    InterfaceNotFound {
        /// The interface name.
        name: String,
    },
    /// Looking the interface up failed for another reason than its absence (e.g. EMFILE: the
    /// lookup needs a socket).
    #[error("cannot look up network interface `{name}`: {source}{hint}")]
    InterfaceLookup {
        /// The interface name.
        name: String,
        /// What the kernel said.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// Already attached: one [`XdpProgram`] serves one interface.
    #[error("the XDP program is already attached to ifindex {ifindex}: detach it first")]
    AlreadyAttached {
        /// Where it is attached.
        ifindex: u32,
    },
    /// The kernel refused the attachment.
    #[error("attaching the XDP program to ifindex {ifindex} in {mode} mode failed: {hint}")]
    Attach {
        /// The interface index.
        ifindex: u32,
        /// The requested mode.
        mode: XdpAttachMode,
        /// What to do about it.
        hint: &'static str,
        /// The cause.
        #[source]
        source: Box<ProgramError>,
    },
    /// The embedded object lacks a program or map this loader expects.
    #[error(
        "the embedded XDP object has no {kind} `{name}`: the object is stale or wrong, rebuild \
         uadpbench-sender (cargo clean -p uadpbench-sender)"
    )]
    Missing {
        /// "program" or "map".
        kind: &'static str,
        /// Its name.
        name: &'static str,
    },
    /// A map operation failed.
    #[error("XDP map `{map}`: {op} failed")]
    Map {
        /// The map name.
        map: &'static str,
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: Box<MapError>,
    },
    /// Another program operation failed (program info, detach).
    #[error("XDP program: {op} failed")]
    Program {
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: Box<ProgramError>,
    },
}

/// The `XDP_COUNTERS`, summed over all CPUs. See [`XdpCounter`] for their meaning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpCounters {
    values: [u64; XDP_COUNTER_COUNT as usize],
}

impl XdpCounters {
    /// One counter.
    pub fn get(&self, counter: XdpCounter) -> u64 {
        self.values[counter.index() as usize]
    }
    /// Benchmark frames handed to the XSKMAP.
    pub fn redirected(&self) -> u64 {
        self.get(XdpCounter::Redirected)
    }
    /// Benchmark frames without an AF_XDP socket at their queue (passed to the stack).
    pub fn redirect_failed(&self) -> u64 {
        self.get(XdpCounter::RedirectFailed)
    }
    /// Non-benchmark frames (passed).
    pub fn passed_foreign(&self) -> u64 {
        self.get(XdpCounter::PassedForeign)
    }
    /// Truncated / malformed frames (passed).
    pub fn passed_malformed(&self) -> u64 {
        self.get(XdpCounter::PassedMalformed)
    }
    /// UADP over Ethernet frames matched.
    pub fn matched_eth(&self) -> u64 {
        self.get(XdpCounter::MatchedEth)
    }
    /// UADP over UDP/IPv4 frames matched.
    pub fn matched_udp(&self) -> u64 {
        self.get(XdpCounter::MatchedUdp)
    }
    /// Every frame that got `XDP_PASS`.
    pub fn passed(&self) -> u64 {
        self.redirect_failed() + self.passed_foreign() + self.passed_malformed()
    }
    /// Every frame the program ran for.
    pub fn total(&self) -> u64 {
        self.redirected() + self.passed()
    }
    /// `(name, value)` pairs in index order (for CSV / logs).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        XdpCounter::ALL.iter().map(|c| (c.name(), self.get(*c)))
    }
    /// `self - earlier`, per counter (saturating).
    pub fn delta_since(&self, earlier: &XdpCounters) -> XdpCounters {
        let mut values = self.values;
        for (v, e) in values.iter_mut().zip(earlier.values.iter()) {
            *v = v.saturating_sub(*e);
        }
        XdpCounters { values }
    }
}

/// The loaded `uadpbench_xdp` program, optionally attached to one interface. Detaches on drop.
pub struct XdpProgram {
    // Field order: the link is owned by the program inside `ebpf`; both go together.
    ebpf: Ebpf,
    attached: Option<Attachment>,
    config: XdpConfig,
}

#[derive(Debug)]
struct Attachment {
    ifindex: u32,
    mode: XdpAttachMode,
    link: XdpLinkId,
}

impl fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpProgram")
            .field("config", &self.config)
            .field("attached", &self.attached)
            .finish_non_exhaustive()
    }
}

impl XdpProgram {
    /// Loads the embedded object with `config` and verifies the program (not attached yet).
    pub fn load(config: XdpConfig) -> Result<Self, XdpProgramError> {
        if config.flags & !XDP_FLAGS_KNOWN != 0 {
            return Err(XdpProgramError::InvalidConfig {
                config,
                reason: "unknown flag bits",
            });
        }
        if config.udp_port == 0 {
            return Err(XdpProgramError::InvalidConfig {
                config,
                reason: "UDP port 0",
            });
        }
        if XDP_OBJECT.is_empty() {
            return Err(XdpProgramError::NotBuilt);
        }
        let load_err = |e: EbpfError| {
            // SAFETY: geteuid has no preconditions and cannot fail.
            if unsafe { libc::geteuid() } != 0 {
                XdpProgramError::NotRoot(Box::new(e))
            } else {
                XdpProgramError::Load(Box::new(e))
            }
        };
        let mut loader = EbpfLoader::new();
        loader.override_global(XDP_CONFIG_GLOBAL_NAME, &config, true);
        if !config.has(XDP_FLAG_STAMP) {
            // The stamp array is only written with XDP_FLAG_STAMP: one entry otherwise.
            loader.map_max_entries(XDP_STAMPS_MAP_NAME, 1);
        }
        let mut ebpf = loader.load(XDP_OBJECT).map_err(load_err)?;
        let prog = xdp_mut(&mut ebpf)?;
        prog.load()
            .map_err(|e| load_err(EbpfError::ProgramError(e)))?;
        Ok(XdpProgram {
            ebpf,
            attached: None,
            config,
        })
    }

    /// The configuration the program was loaded with.
    pub fn config(&self) -> XdpConfig {
        self.config
    }

    /// Attaches to the interface `name` (resolved in the calling thread's network namespace).
    pub fn attach_name(&mut self, name: &str, mode: XdpAttachMode) -> Result<u32, XdpProgramError> {
        let ifindex = ifindex_of(name)?;
        self.attach_ifindex(ifindex, mode)?;
        Ok(ifindex)
    }

    /// Attaches to interface index `ifindex` (of the calling thread's network namespace).
    pub fn attach_ifindex(
        &mut self,
        ifindex: u32,
        mode: XdpAttachMode,
    ) -> Result<(), XdpProgramError> {
        if let Some(a) = &self.attached {
            return Err(XdpProgramError::AlreadyAttached { ifindex: a.ifindex });
        }
        let prog = xdp_mut(&mut self.ebpf)?;
        let link = prog
            .attach_to_if_index(ifindex, mode.aya_mode())
            .map_err(|source| XdpProgramError::Attach {
                ifindex,
                mode,
                hint: attach_hint(&source, mode),
                source: Box::new(source),
            })?;
        self.attached = Some(Attachment {
            ifindex,
            mode,
            link,
        });
        Ok(())
    }

    /// Where the program is attached: `(ifindex, mode)`.
    pub fn attached(&self) -> Option<(u32, XdpAttachMode)> {
        self.attached.as_ref().map(|a| (a.ifindex, a.mode))
    }

    /// Detaches from the interface (no-op when not attached).
    pub fn detach(&mut self) -> Result<(), XdpProgramError> {
        let Some(a) = self.attached.take() else {
            return Ok(());
        };
        let prog = xdp_mut(&mut self.ebpf)?;
        prog.detach(a.link)
            .map_err(|source| XdpProgramError::Program {
                op: "detach",
                source: Box::new(source),
            })
    }

    /// The `XSKS` map (AF_XDP sockets keyed by rx queue index), to insert a bound socket's fd
    /// with `XskMap::set(queue_id, fd, 0)`.
    pub fn xsks_mut(&mut self) -> Result<XskMap<&mut MapData>, XdpProgramError> {
        let map = self
            .ebpf
            .map_mut(XSKS_MAP_NAME)
            .ok_or(XdpProgramError::Missing {
                kind: "map",
                name: XSKS_MAP_NAME,
            })?;
        XskMap::try_from(map).map_err(|source| XdpProgramError::Map {
            map: XSKS_MAP_NAME,
            op: "opening as XSKMAP",
            source: Box::new(source),
        })
    }

    /// The counters summed over all CPUs.
    pub fn counters(&self) -> Result<XdpCounters, XdpProgramError> {
        let map = self
            .ebpf
            .map(XDP_COUNTERS_MAP_NAME)
            .ok_or(XdpProgramError::Missing {
                kind: "map",
                name: XDP_COUNTERS_MAP_NAME,
            })?;
        let array =
            PerCpuArray::<_, u64>::try_from(map).map_err(|source| XdpProgramError::Map {
                map: XDP_COUNTERS_MAP_NAME,
                op: "opening as per-CPU array",
                source: Box::new(source),
            })?;
        let mut out = XdpCounters::default();
        for c in XdpCounter::ALL {
            let per_cpu = array
                .get(&c.index(), 0)
                .map_err(|source| XdpProgramError::Map {
                    map: XDP_COUNTERS_MAP_NAME,
                    op: "lookup",
                    source: Box::new(source),
                })?;
            out.values[c.index() as usize] = per_cpu.iter().copied().fold(0u64, u64::wrapping_add);
        }
        Ok(out)
    }

    /// The arrival stamps written with [`uadpbench_common::XDP_FLAG_STAMP`] (slots with a
    /// stamp, in slot order).
    pub fn stamps(&self) -> Result<Vec<Stamp>, XdpProgramError> {
        let map = self
            .ebpf
            .map(XDP_STAMPS_MAP_NAME)
            .ok_or(XdpProgramError::Missing {
                kind: "map",
                name: XDP_STAMPS_MAP_NAME,
            })?;
        let array = Array::<_, Stamp>::try_from(map).map_err(|source| XdpProgramError::Map {
            map: XDP_STAMPS_MAP_NAME,
            op: "opening as array",
            source: Box::new(source),
        })?;
        let mut out = Vec::new();
        for s in array.iter() {
            let s = s.map_err(|source| XdpProgramError::Map {
                map: XDP_STAMPS_MAP_NAME,
                op: "reading",
                source: Box::new(source),
            })?;
            if s.t_ns != 0 {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Kernel information on the loaded program (id, tag, `run_count`/`run_time` once
    /// `aya::sys::enable_stats` is on).
    pub fn program_info(&self) -> Result<ProgramInfo, XdpProgramError> {
        let prog = self
            .ebpf
            .program(XDP_PROGRAM_NAME)
            .ok_or(XdpProgramError::Missing {
                kind: "program",
                name: XDP_PROGRAM_NAME,
            })?;
        let prog: &Xdp = prog.try_into().map_err(|source| XdpProgramError::Program {
            op: "program type check",
            source: Box::new(source),
        })?;
        prog.info().map_err(|source| XdpProgramError::Program {
            op: "reading program info",
            source: Box::new(source),
        })
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; aya would detach the link anyway when `ebpf`
        // is dropped (closing the link fd).
        let _ = self.detach();
    }
}

fn xdp_mut(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpProgramError> {
    let prog = ebpf
        .program_mut(XDP_PROGRAM_NAME)
        .ok_or(XdpProgramError::Missing {
            kind: "program",
            name: XDP_PROGRAM_NAME,
        })?;
    prog.try_into().map_err(|source| XdpProgramError::Program {
        op: "program type check",
        source: Box::new(source),
    })
}

/// `if_nametoindex` in the calling thread's network namespace.
pub fn ifindex_of(name: &str) -> Result<u32, XdpProgramError> {
    let not_found = || XdpProgramError::InterfaceNotFound {
        name: name.to_owned(),
    };
    let c = CString::new(name).map_err(|_| not_found())?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let ifindex = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if ifindex == 0 {
        let source = io::Error::last_os_error();
        return Err(match source.raw_os_error() {
            Some(0) | Some(libc::ENODEV) | Some(libc::ENXIO) | None => not_found(),
            Some(code) => XdpProgramError::InterfaceLookup {
                name: name.to_owned(),
                hint: if code == libc::EMFILE || code == libc::ENFILE {
                    " (too many open files: raise the limit with `ulimit -n`)"
                } else {
                    ""
                },
                source,
            },
        });
    }
    Ok(ifindex)
}

/// The first OS error code in an error's cause chain.
fn errno_in(err: &(dyn StdError + 'static)) -> Option<i32> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(code) = io.raw_os_error() {
                return Some(code);
            }
        }
        if let Some(nl) = e.downcast_ref::<aya::sys::NetlinkError>() {
            if let Some(code) = nl.raw_os_error() {
                return Some(code);
            }
        }
        cur = e.source();
    }
    None
}

fn attach_hint(err: &ProgramError, mode: XdpAttachMode) -> &'static str {
    match errno_in(err) {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            "permission denied: run as root (or with CAP_NET_ADMIN and CAP_BPF)"
        }
        Some(libc::EBUSY) | Some(libc::EEXIST) => {
            "another XDP program is attached to this interface: remove it with \
             `ip link set dev IFACE xdp off` (or `xdpgeneric off`)"
        }
        Some(libc::ENODEV) => {
            "no such interface in this thread's network namespace: attach from a thread that \
             has setns'd into the interface's namespace"
        }
        Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) if mode == XdpAttachMode::Driver => {
            "the driver does not support native XDP here: use SKB (generic) mode"
        }
        _ => "see the cause below",
    }
}
