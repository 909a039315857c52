//! The crate's error type.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building, using or removing a topology.
///
/// Every message says what the user can do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The process does not run with effective uid 0.
    #[error(
        "creating network namespaces needs root (effective uid is {euid}): run as root, \
         e.g. with `sudo`, with CAP_SYS_ADMIN and CAP_NET_ADMIN"
    )]
    NotRoot {
        /// The effective uid the process runs with.
        euid: u32,
    },

    /// A required external program is not installed (or not in `PATH`).
    #[error("`{tool}` was not found in PATH: install the `{package}` package (e.g. `apt-get install {package}`)")]
    ToolMissing {
        /// The program that was looked for (`ip`, `ethtool`).
        tool: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },

    /// An external program could not be started for a reason other than "not found".
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An external command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}{hint}")]
    Command {
        /// The command line.
        command: String,
        /// How it ended (exit code or signal).
        status: String,
        /// What it printed on stderr, trimmed.
        stderr: String,
        /// A suggestion derived from the error text (empty or starting with "; ").
        hint: String,
    },

    /// An MTU outside what a veth device accepts.
    #[error("MTU {mtu} is out of range: a veth device accepts {min}..={max}")]
    InvalidMtu {
        /// The MTU that was asked for.
        mtu: u32,
        /// Smallest allowed value.
        min: u32,
        /// Largest allowed value.
        max: u32,
    },

    /// A fan-out topology with no subscribers or more than the crate builds.
    #[error("a fan-out topology has 1..={max} subscribers, not {subscribers}: choose a count in that range")]
    InvalidSubscribers {
        /// The count that was asked for.
        subscribers: usize,
        /// The largest count.
        max: usize,
    },

    /// Every candidate instance id was already taken by an existing namespace.
    #[error(
        "could not find a free topology id after {attempts} attempts (namespaces `{last}` etc. \
         already exist): remove leftovers with `uadpbench cleanup` or `ip netns del NAME`"
    )]
    IdsExhausted {
        /// How many ids were tried.
        attempts: u32,
        /// The last namespace name that was already taken.
        last: String,
    },

    /// A veth end did not become operationally up in time.
    #[error(
        "veth `{ifname}` in namespace `{netns}` is not up after {waited_ms} ms (last state: \
         {last}): check `dmesg` for veth errors"
    )]
    LinkNotUp {
        /// The interface.
        ifname: String,
        /// Its namespace.
        netns: String,
        /// How long we waited.
        waited_ms: u64,
        /// The last `ip -o link show` line.
        last: String,
    },

    /// A namespace file could not be opened.
    #[error(
        "cannot open network namespace {path:?}: {source}: does the namespace exist \
         (`ip netns list`)?"
    )]
    NetnsOpen {
        /// The path that was opened.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// `setns(2)` failed.
    #[error("setns({path:?}, CLONE_NEWNET) failed: {source}: the thread needs CAP_SYS_ADMIN")]
    Setns {
        /// The namespace that was entered (or restored).
        path: PathBuf,
        /// The errno.
        #[source]
        source: nix::Error,
    },

    /// An interface was not found inside its namespace.
    #[error(
        "interface `{ifname}` not found in namespace `{netns}`: {source}: the topology was \
         probably removed behind our back"
    )]
    NoSuchInterface {
        /// The interface name.
        ifname: String,
        /// The namespace it was looked up in.
        netns: String,
        /// The errno.
        #[source]
        source: nix::Error,
    },

    /// A file under /proc, /run or similar could not be read or written.
    #[error("{what} ({path:?}): {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An OS thread could not be started.
    #[error(
        "could not spawn thread `{name}`: {source}: the system may be out of threads or memory"
    )]
    Thread {
        /// The thread's name.
        name: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Several errors occurred while removing namespaces or links (each is listed).
    #[error("cleanup incomplete ({} error(s)): {}; list what is left with `ip netns list` and remove it with `uadpbench cleanup`", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Teardown(Vec<Error>),
}

/// Suggest what to do, given the stderr of a failed command.
pub(crate) fn hint_for(stderr: &str) -> String {
    let s = stderr.to_ascii_lowercase();
    let hint = if s.contains("operation not permitted") || s.contains("permission denied") {
        "run as root with CAP_SYS_ADMIN and CAP_NET_ADMIN (in a container: `--privileged`)"
    } else if s.contains("file exists") {
        "a leftover from an earlier run? list and remove them with `uadpbench cleanup`"
    } else if s.contains("unknown device type") || s.contains("not supported") {
        "the kernel lacks veth / network namespace support (CONFIG_VETH, CONFIG_NET_NS)"
    } else {
        ""
    };
    if hint.is_empty() {
        String::new()
    } else {
        format!("; {hint}")
    }
}

impl Error {
    /// The errors of a teardown as one result: none is success, one is itself, several are
    /// [`Error::Teardown`].
    pub(crate) fn all(mut errors: Vec<Error>) -> Result<()> {
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Teardown(errors)),
        }
    }
}
