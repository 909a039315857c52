//! The two sides of a topology ([`Side`]) and one side's namespace and veth end ([`Endpoint`]):
//! names, addresses, and entering or spawning threads in its namespace.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crate::names;
use crate::{enter, spawn_in, NetnsGuard, Result};
use crate::{ADDR_A, ADDR_B, MAC_A, MAC_B, NETNS_DIR, PREFIX_LEN};

/// One end of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Namespace `...-a`, address [`ADDR_A`].
    A,
    /// Namespace `...-b`, address [`ADDR_B`].
    B,
}

impl Side {
    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    fn letter(self) -> char {
        match self {
            Side::A => 'a',
            Side::B => 'b',
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// One side of a topology: its namespace and its veth end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub(crate) side: Side,
    pub(crate) netns: String,
    pub(crate) netns_path: PathBuf,
    pub(crate) ifname: String,
    pub(crate) ifindex: u32,
    pub(crate) ipv4: Ipv4Addr,
    pub(crate) prefix_len: u8,
    pub(crate) mac: [u8; 6],
    pub(crate) mtu: u32,
    pub(crate) peer_ipv4: Ipv4Addr,
    pub(crate) peer_mac: [u8; 6],
}

impl Endpoint {
    pub(crate) fn new(id: &str, side: Side, mtu: u32) -> Self {
        let (ipv4, mac, peer_ipv4, peer_mac) = match side {
            Side::A => (ADDR_A, MAC_A, ADDR_B, MAC_B),
            Side::B => (ADDR_B, MAC_B, ADDR_A, MAC_A),
        };
        let netns = names::netns_name(id, side.letter());
        Endpoint {
            side,
            netns_path: Path::new(NETNS_DIR).join(&netns),
            netns,
            ifname: names::link_name(id, side.letter()),
            ifindex: 0,
            ipv4,
            prefix_len: PREFIX_LEN,
            mac,
            mtu,
            peer_ipv4,
            peer_mac,
        }
    }

    /// Which side this is.
    pub fn side(&self) -> Side {
        self.side
    }
    /// Name of the network namespace (`uadpbench-<id>-a`).
    pub fn netns(&self) -> &str {
        &self.netns
    }
    /// Path of the namespace file (`/var/run/netns/<name>`), for [`enter`] / [`spawn_in`].
    pub fn netns_path(&self) -> &Path {
        &self.netns_path
    }
    /// Name of the veth end inside the namespace (`ub<id>a`).
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
    /// Interface index of the veth end, as seen inside its namespace.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
    /// IPv4 address of the veth end.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }
    /// Prefix length of [`ipv4`](Self::ipv4).
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }
    /// MAC address of the veth end.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    /// MTU of the veth end.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }
    /// IPv4 address of the other side.
    pub fn peer_ipv4(&self) -> Ipv4Addr {
        self.peer_ipv4
    }
    /// MAC address of the other side.
    pub fn peer_mac(&self) -> [u8; 6] {
        self.peer_mac
    }

    /// Move the current thread into this side's namespace until the guard drops.
    pub fn enter(&self) -> Result<NetnsGuard> {
        enter(&self.netns_path)
    }

    /// Spawn a named OS thread that runs `f` inside this side's namespace.
    pub fn spawn<F, T>(&self, name: impl Into<String>, f: F) -> Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_in(&self.netns_path, name, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{format_mac, TopologyOptions};

    #[test]
    fn mac_formatting_and_defaults() {
        assert_eq!(format_mac(&MAC_A), "02:75:62:00:00:01");
        assert_eq!(format_mac(&MAC_B), "02:75:62:00:00:02");
        // Locally administered, unicast.
        assert_eq!(MAC_A[0] & 0b11, 0b10);
        let o = TopologyOptions::default();
        assert_eq!(
            (o.mtu, o.disable_ipv6, o.disable_offloads),
            (1500, true, false)
        );
        let ep = Endpoint::new("000000100002", Side::B, 1500);
        assert_eq!(ep.netns(), "uadpbench-000000100002-b");
        assert_eq!(ep.ifname(), "ub000000100002b");
        assert_eq!(
            ep.netns_path(),
            Path::new("/var/run/netns/uadpbench-000000100002-b")
        );
        assert_eq!((ep.ipv4(), ep.peer_ipv4()), (ADDR_B, ADDR_A));
        assert_eq!(Side::A.peer(), Side::B);
    }
}
