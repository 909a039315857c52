//! UDP sockets on a named interface: unicast (optionally `SO_BINDTODEVICE`) and multicast
//! (`IP_MULTICAST_IF` / `IP_ADD_MEMBERSHIP` by interface index).

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::{ifindex, io_err, nix_err, NetError};
use crate::sys::set_sockopt;

fn mreqn(group: Ipv4Addr, ifindex: u32) -> libc::ip_mreqn {
    libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(group).to_be(),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as libc::c_int,
    }
}

fn bind_to_device(sock: &UdpSocket, ifname: &str) -> Result<(), NetError> {
    use nix::sys::socket::{setsockopt, sockopt};
    setsockopt(
        sock,
        sockopt::BindToDevice,
        &std::ffi::OsString::from(ifname),
    )
    .map_err(nix_err(format!("SO_BINDTODEVICE {ifname}")))
}

/// Multicast send options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MulticastOptions {
    /// `IP_MULTICAST_TTL` (1: the link only).
    pub ttl: u8,
    /// `IP_MULTICAST_LOOP`: deliver copies to sockets of this host too.
    pub loopback: bool,
}

impl Default for MulticastOptions {
    fn default() -> Self {
        MulticastOptions {
            ttl: 1,
            loopback: false,
        }
    }
}

/// A UDP socket for publishing to `dst`.
pub fn udp_sender(
    dst: SocketAddrV4,
    interface: Option<&str>,
    mc: MulticastOptions,
) -> Result<UdpSocket, NetError> {
    let multicast_if = match (dst.ip().is_multicast(), interface) {
        (true, None) => {
            return Err(NetError::InterfaceRequired {
                target: format!("opc.udp://{dst}"),
                kind: "multicast group",
            })
        }
        (true, Some(ifname)) => Some((ifname, ifindex(ifname)?)),
        (false, _) => None,
    };
    let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(io_err("bind UDP socket"))?;
    if let Some((ifname, index)) = multicast_if {
        let fd = sock.as_raw_fd();
        set_sockopt(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreqn(Ipv4Addr::UNSPECIFIED, index),
        )
        .map_err(io_err(format!("IP_MULTICAST_IF {ifname}")))?;
        sock.set_multicast_ttl_v4(mc.ttl.into())
            .map_err(io_err("IP_MULTICAST_TTL"))?;
        sock.set_multicast_loop_v4(mc.loopback)
            .map_err(io_err("IP_MULTICAST_LOOP"))?;
    } else if let Some(ifname) = interface {
        ifindex(ifname)?;
        bind_to_device(&sock, ifname)?;
    }
    Ok(sock)
}

/// A UDP socket for subscribing at `at` (a local address, 0.0.0.0, or a multicast group).
pub fn udp_receiver(
    at: SocketAddrV4,
    interface: Option<&str>,
    timeout: Duration,
) -> Result<UdpSocket, NetError> {
    use nix::sys::socket::{
        bind, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    let fd: OwnedFd = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(nix_err("UDP socket"))?;
    let multicast = at.ip().is_multicast();
    if multicast && interface.is_none() {
        return Err(NetError::InterfaceRequired {
            target: format!("opc.udp://{at}"),
            kind: "multicast group",
        });
    }
    if multicast {
        // Share the group's port with other subscribers on this host (a third-party one).
        setsockopt(&fd, sockopt::ReuseAddr, &true).map_err(nix_err("SO_REUSEADDR"))?;
    }
    bind(fd.as_raw_fd(), &SockaddrIn::from(at)).map_err(|e| NetError::Io {
        what: format!(
            "cannot bind UDP {at} (is another subscriber using the port without SO_REUSEADDR, \
             or is {} not an address of this host?)",
            at.ip()
        ),
        source: e.into(),
    })?;
    let sock = UdpSocket::from(fd);
    if let (true, Some(ifname)) = (multicast, interface) {
        let index = ifindex(ifname)?;
        let raw = sock.as_raw_fd();
        set_sockopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            &mreqn(*at.ip(), index),
        )
        .map_err(io_err(format!("joining {} on {ifname}", at.ip())))?;
        set_sockopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_ALL,
            &0 as &libc::c_int,
        )
        .map_err(io_err("IP_MULTICAST_ALL"))?;
    } else if let Some(ifname) = interface {
        ifindex(ifname)?;
        bind_to_device(&sock, ifname)?;
    }
    sock.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
        .map_err(io_err("SO_RCVTIMEO"))?;
    Ok(sock)
}

/// Receives one datagram; `None` on timeout.
pub fn udp_recv(sock: &UdpSocket, buf: &mut [u8]) -> Result<Option<(usize, SocketAddr)>, NetError> {
    match sock.recv_from(buf) {
        Ok(r) => Ok(Some(r)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        // A stale ICMP error from an earlier send on this socket: nothing to receive.
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => Ok(None),
        Err(e) => Err(NetError::Io {
            what: "UDP recvfrom".into(),
            source: e,
        }),
    }
}
