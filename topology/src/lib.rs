//! # uadpbench-topology
//!
//! The default uadpbench test topology: two Linux network namespaces joined by a veth pair,
//! created on demand and removed again on every exit path that runs destructors.
//!
//! ```text
//!   netns uadpbench-<id>-a                     netns uadpbench-<id>-b
//!   ┌──────────────────────────┐               ┌──────────────────────────┐
//!   │ ub<id>a  198.18.0.1/24   │═══ veth ══════│ ub<id>b  198.18.0.2/24   │
//!   │ 02:75:62:00:00:01        │               │ 02:75:62:00:00:02        │
//!   └──────────────────────────┘               └──────────────────────────┘
//! ```
//!
//! * Names carry a per-instance id (pid + counter, 12 hex digits), so topologies made by
//!   parallel threads and parallel processes never collide. [`NETNS_PREFIX`] and [`LINK_PREFIX`]
//!   let [`find_leftovers`] / [`remove_leftovers`] find what a killed run left behind.
//! * Addresses come from the RFC 2544 benchmarking range 198.18.0.0/15; every instance uses the
//!   same ones, which is fine because the namespaces isolate them. The MACs are fixed,
//!   locally administered, and each side has a permanent neighbour entry for the other, so no
//!   ARP traffic disturbs a measurement. IPv6 is disabled on the veth ends by default (no router
//!   solicitations, DAD or MLD reports on the wire).
//! * The veth pair is created directly inside the namespaces: nothing is ever added to,
//!   changed in or removed from the root namespace's interfaces.
//! * [`Drop`] deletes the veth pair and both namespaces, also while a panic unwinds. It cannot
//!   run on SIGKILL or on a signal that kills the process without unwinding: the owner of a
//!   topology should handle SIGINT/SIGTERM (and `uadpbench cleanup` removes the rest).
//!
//! ## Threads and namespaces
//!
//! A network namespace is a property of a *thread*. Use [`spawn_in`] (or
//! [`Endpoint::spawn`]) for a thread that lives in one side, or [`enter`] for a guard that moves
//! the current thread temporarily. Sockets belong to the namespace of the thread that created
//! them.
//!
//! A BPF loader must stay in the root namespace: `ip netns exec` remounts `/sys` for the target
//! namespace, hiding bpffs and tracefs, while `setns(2)` as done here changes only the network
//! namespace of one thread.
//!
//! ## Requirements
//!
//! Root (CAP_SYS_ADMIN, CAP_NET_ADMIN), `ip` from iproute2, and `ethtool` only if
//! [`TopologyOptions::disable_offloads`] is set. [`preflight`] checks the first two.
//!
//! ```no_run
//! use uadpbench_topology::{Topology, TopologyOptions};
//! use std::net::UdpSocket;
//!
//! let topo = Topology::create(TopologyOptions::default())?;
//! let dst = (topo.b().ipv4(), 4840);
//! let _rx = topo.b().spawn("rx", move || -> std::io::Result<Vec<u8>> {
//!     let sock = UdpSocket::bind(dst)?;
//!     let mut buf = [0u8; 1500];
//!     let (n, _) = sock.recv_from(&mut buf)?;
//!     Ok(buf[..n].to_vec())
//! })?;
//! # Ok::<(), uadpbench_topology::Error>(())
//! ```

#![warn(missing_docs)]

mod cmd;
mod endpoint;
mod error;
mod fanout;
mod leftovers;
mod mac;
mod names;
mod netns;
mod ownership;
mod topology;

use std::net::Ipv4Addr;

pub use endpoint::{Endpoint, Side};
pub use error::{Error, Result};
pub use fanout::{
    subscriber_ipv4, subscriber_mac, FanOutTopology, FANOUT_GROUP, FANOUT_GROUP_MAC,
    MAX_SUBSCRIBERS,
};
pub use leftovers::{find_leftovers, remove_leftovers, Leftover, LeftoverKind, LeftoverScope};
pub use mac::{format_mac, MAC_A, MAC_B};
pub use names::IFNAME_MAX;
pub use netns::{current_netns, enter, netns_id, spawn_in, NetnsGuard, NetnsId, THREAD_NETNS};
pub use ownership::{in_own_namespace, is_own_link, own_namespaces};
pub use topology::{preflight, Topology, TopologyOptions};

/// Prefix of every network namespace this crate creates: `uadpbench-<id>-a` / `-b`.
pub const NETNS_PREFIX: &str = "uadpbench-";
/// Prefix of every veth end this crate creates: `ub<id>a` / `ub<id>b` (15 characters).
pub const LINK_PREFIX: &str = "ub";
/// Where iproute2 keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// IPv4 address of side A (RFC 2544 benchmarking range).
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// IPv4 address of side B (RFC 2544 benchmarking range).
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Prefix length of both addresses.
pub const PREFIX_LEN: u8 = 24;
/// The OPC UA UDP port (UADP over UDP uses it by default).
pub const OPCUA_UDP_PORT: u16 = 4840;

/// Smallest MTU a veth accepts.
pub const MTU_MIN: u32 = 68;
/// Largest MTU a veth accepts.
pub const MTU_MAX: u32 = 65535;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_say_what_to_do() {
        let e = Error::NotRoot { euid: 1000 };
        assert!(e.to_string().contains("run as root"));
        let e = Error::ToolMissing {
            tool: "ip",
            package: "iproute2",
        };
        assert!(e.to_string().contains("apt-get install iproute2"));
        let hint = error::hint_for("RTNETLINK answers: Operation not permitted");
        assert!(hint.contains("CAP_NET_ADMIN"));
    }
}
