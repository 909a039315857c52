//! Sockets for `publish` and `subscribe` against third-party OPC UA PubSub stacks: UDP
//! (unicast and multicast) and raw Ethernet (AF_PACKET through pnet), each opened only on the
//! interface the user names. The benchmark paths' transports are beside this module
//! (`udp`, `eth`, `xdp`); both share the system-call helpers in `sys`.
//!
//!
//! * UDP multicast, send: `IP_MULTICAST_IF` is set to the named interface (by index, so it
//!   needs no IPv4 address), so the routing table's default never picks the interface;
//!   `IP_MULTICAST_TTL` (default 1: the group stays on the link) and `IP_MULTICAST_LOOP` (off
//!   unless asked, so a subscriber on the same host sees copies only when wanted).
//! * UDP multicast, receive: the socket binds the group address and port (so it gets that
//!   group only; `IP_MULTICAST_ALL` off), with `SO_REUSEADDR` so that a third-party
//!   subscriber on the same host can listen too, and joins the group on the named interface
//!   (`IP_ADD_MEMBERSHIP` with `ip_mreqn.imr_ifindex`).
//! * UDP unicast: an interface is optional; when given, `SO_BINDTODEVICE` pins the socket to it.
//! * Raw Ethernet: an AF_PACKET socket bound to the named interface, not promiscuous; a
//!   multicast destination MAC is joined on the socket (`PACKET_ADD_MEMBERSHIP`,
//!   `PACKET_MR_MULTICAST`), which the kernel drops when the socket closes.
//!   `PACKET_IGNORE_OUTGOING` keeps the host's own transmissions out of a subscriber.

use std::io;

mod eth;
mod udp;

pub use eth::{build_eth_frame, is_multicast_mac, max_eth_payload, EthSocket, MIN_FRAME};
pub use udp::{udp_receiver, udp_recv, udp_sender, MulticastOptions};

/// Why a socket could not be opened or used; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("network interface `{0}` not found in this network namespace: check the name with `ip link`")]
    NoInterface(String),
    #[error("{target} is a {kind}: name the interface with --interface IFNAME (uadpbench never lets the routing table choose it)")]
    InterfaceRequired { target: String, kind: &'static str },
    #[error("cannot open an AF_PACKET socket (EPERM): raw Ethernet needs root or CAP_NET_RAW")]
    RawPermission,
    #[error("opc.eth opens a raw AF_PACKET socket on `{0}`, an interface uadpbench did not create: name it with --disruptive-interface {0} to accept that the benchmark's frames share (and can disrupt) its traffic")]
    DisruptiveInterface(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("a {len}-byte UADP message does not fit one frame on {ifname} (at most {max} bytes with MTU {mtu}): use fewer or shorter fields")]
    TooLarge {
        len: usize,
        max: usize,
        mtu: usize,
        ifname: String,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

fn nix_err(what: impl Into<String>) -> impl FnOnce(nix::Error) -> NetError {
    let what = what.into();
    move |e| NetError::Io {
        what,
        source: e.into(),
    }
}

/// The interface index of `ifname` in the calling thread's namespace.
pub fn ifindex(ifname: &str) -> Result<u32, NetError> {
    nix::net::if_::if_nametoindex(ifname).map_err(|_| NetError::NoInterface(ifname.to_owned()))
}

/// The MTU of `ifname` in the network namespace of the socket `fd` (SIOCGIFMTU).
pub fn query_mtu(fd: std::os::fd::RawFd, ifname: &str) -> io::Result<u32> {
    crate::sys::interface_mtu(fd, ifname)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_without_interface_is_refused() {
        let e = udp_sender(
            "224.0.0.22:4840".parse().unwrap(),
            None,
            MulticastOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("--interface"), "{e}");
        let e = ifindex("uadpbench-nope0").unwrap_err();
        assert!(e.to_string().contains("ip link"), "{e}");
    }
}
