//! Finding and removing namespaces and links left behind by runs that did not clean up
//! (killed with SIGKILL, power loss, a crash in a signal handler...). For `uadpbench cleanup`.

use std::fmt;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::cmd::ip_ignore_missing;
use crate::error::{Error, Result};
use crate::names::{id_of_link, id_of_netns, pid_of_id};
use crate::{NETNS_DIR, NETNS_PREFIX};

/// What kind of object a [`Leftover`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LeftoverKind {
    /// A named network namespace `uadpbench-...` in [`NETNS_DIR`].
    Netns,
    /// A veth end `ub<id>a|b` in the namespace of the calling thread (normally the root one).
    /// This crate creates its links directly inside its namespaces, so such links only appear
    /// if something else went wrong.
    Link,
}

/// A namespace or link that looks like ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leftover {
    /// Namespace or link.
    pub kind: LeftoverKind,
    /// Its name.
    pub name: String,
    /// The pid of the process that created it, if the name carries one.
    pub owner_pid: Option<u32>,
    /// Whether a process with `owner_pid` is alive now (it may be a different process that
    /// reused the pid). `false` when the owner is unknown.
    pub owner_alive: bool,
}

impl Leftover {
    /// No live process claims it: safe to remove even while other runs are going on.
    pub fn is_orphaned(&self) -> bool {
        !self.owner_alive
    }

    /// Remove it (a missing object counts as removed). Deleting a namespace also deletes the
    /// veth end in it and therefore its peer.
    pub fn remove(&self) -> Result<()> {
        match self.kind {
            LeftoverKind::Netns => ip_ignore_missing(&["netns", "del", &self.name]),
            LeftoverKind::Link => ip_ignore_missing(&["link", "del", "dev", &self.name]),
        }
    }
}

impl fmt::Display for Leftover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            LeftoverKind::Netns => "netns",
            LeftoverKind::Link => "link",
        };
        write!(f, "{kind} {}", self.name)?;
        match (self.owner_pid, self.owner_alive) {
            (Some(pid), true) => write!(f, " (owner pid {pid} is running)"),
            (Some(pid), false) => write!(f, " (owner pid {pid} is gone)"),
            (None, _) => write!(f, " (owner unknown)"),
        }
    }
}

/// Which leftovers [`remove_leftovers`] removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeftoverScope {
    /// Only those whose owning process is gone: safe while other runs (or tests) are active.
    #[default]
    Orphaned,
    /// All of them, including those of running processes.
    All,
}

fn pid_alive(pid: u32) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

fn leftover(kind: LeftoverKind, name: String, id: Option<&str>) -> Leftover {
    let owner_pid = id.and_then(pid_of_id);
    Leftover {
        kind,
        owner_alive: owner_pid.is_some_and(pid_alive),
        owner_pid,
        name,
    }
}

/// List named namespaces starting with [`NETNS_PREFIX`](crate::NETNS_PREFIX) and interfaces in
/// the calling thread's namespace (call it from the root namespace) named like our veth ends
/// (`ub` + 12 hex digits + `a`/`b`). Nothing is changed.
pub fn find_leftovers() -> Result<Vec<Leftover>> {
    let mut found = Vec::new();

    let dir = PathBuf::from(NETNS_DIR);
    match std::fs::read_dir(&dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|source| Error::Io {
                    what: "cannot list network namespaces",
                    path: dir.clone(),
                    source,
                })?;
                let Ok(name) = entry.file_name().into_string() else {
                    continue;
                };
                if name.starts_with(NETNS_PREFIX) {
                    let id = id_of_netns(&name).map(str::to_owned);
                    found.push(leftover(LeftoverKind::Netns, name, id.as_deref()));
                }
            }
        }
        // No namespace was ever created on this boot.
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => {
            return Err(Error::Io {
                what: "cannot list network namespaces",
                path: dir,
                source,
            })
        }
    }

    let links = nix::net::if_::if_nameindex().map_err(|errno| Error::Io {
        what: "cannot list network interfaces",
        path: PathBuf::from("if_nameindex(3)"),
        source: errno.into(),
    })?;
    for iface in links.iter() {
        let name = iface.name().to_string_lossy().into_owned();
        if let Some(id) = id_of_link(&name).map(str::to_owned) {
            found.push(leftover(LeftoverKind::Link, name, Some(&id)));
        }
    }

    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Remove the leftovers in `scope`; returns what was removed. Tries all of them and reports
/// every failure together.
pub fn remove_leftovers(scope: LeftoverScope) -> Result<Vec<Leftover>> {
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    for l in find_leftovers()? {
        if scope == LeftoverScope::Orphaned && !l.is_orphaned() {
            continue;
        }
        match l.remove() {
            Ok(()) => removed.push(l),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(removed)
    } else {
        Err(Error::Teardown(errors))
    }
}
