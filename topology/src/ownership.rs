//! Telling uadpbench's own links and namespaces from everything else ([`is_own_link`]), so the
//! tool never touches interfaces it did not create unless told to.

use crate::names;
use crate::{current_netns, netns_id, NetnsId, NETNS_DIR, NETNS_PREFIX};

/// Whether `ifname`, as seen from the calling thread's network namespace, is a veth end that
/// uadpbench created: the only interfaces the tool touches unless the user names another one
/// explicitly. The name alone proves nothing (anyone can call a veth `ub000123400000a`), so the
/// thread must also be inside a namespace uadpbench created: one whose identity (device and
/// inode) equals that of a `/var/run/netns/uadpbench-*` namespace file — the record every
/// [`Topology`](crate::Topology) leaves while it exists.
pub fn is_own_link(ifname: &str) -> bool {
    names::id_of_link(ifname).is_some() && in_own_namespace()
}

/// Whether the calling thread is in a network namespace created by uadpbench (see
/// [`is_own_link`]).
pub fn in_own_namespace() -> bool {
    let Ok(current) = current_netns() else {
        return false;
    };
    own_namespaces().contains(&current)
}

/// Identities of the namespaces uadpbench created that exist now (this process's and other
/// uadpbench processes').
pub fn own_namespaces() -> Vec<NetnsId> {
    std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(NETNS_PREFIX))
        .filter_map(|e| netns_id(e.path()).ok())
        .collect()
}
