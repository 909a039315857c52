//! The sockets of `publish` and `subscribe`: UDP (unicast and multicast) and raw Ethernet
//! (AF_PACKET through pnet), each opened only on the interface the user names.
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
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use pnet_datalink::{DataLinkReceiver, DataLinkSender, NetworkInterface};
use uadpbench_sender::frame::{EthFraming, VlanTag, LLC_SNAP_UADP, MAX_8023_LENGTH};

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

fn set_opt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

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
        set_opt(
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
        set_opt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_ADD_MEMBERSHIP,
            &mreqn(*at.ip(), index),
        )
        .map_err(io_err(format!("joining {} on {ifname}", at.ip())))?;
        set_opt(
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

/// pnet's two halves of one channel.
use uadpbench_sender::eth::PnetChannel;

/// An AF_PACKET socket on one named interface, used through pnet.
pub struct EthSocket {
    pub ifname: String,
    pub mac: [u8; 6],
    pub mtu: usize,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
}

impl std::fmt::Debug for EthSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthSocket")
            .field("ifname", &self.ifname)
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

/// The MTU of `ifname` (SIOCGIFMTU on `fd`; /sys would show the root namespace's interfaces
/// to a thread moved with setns); 1500 if the kernel does not say.
fn interface_mtu(fd: RawFd, ifname: &str) -> usize {
    query_mtu(fd, ifname).map_or(1500, |mtu| mtu as usize)
}

/// The MTU of `ifname` in the network namespace of the socket `fd` (SIOCGIFMTU).
pub(crate) fn query_mtu(fd: RawFd, ifname: &str) -> io::Result<u32> {
    // SAFETY: ifreq is plain old data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req
        .ifr_name
        .iter_mut()
        .zip(ifname.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads ifr_name and writes ifr_mtu of the ifreq we own.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFMTU, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled the mtu member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| io::Error::other(format!("negative MTU {mtu}")))
}

impl EthSocket {
    /// Opens an AF_PACKET socket on `ifname`; joins `multicast_mac` on it if given. An
    /// interface uadpbench did not create (not one of its veth ends) is refused unless
    /// `allow_disruptive` says the user named it with `--disruptive-interface`.
    pub fn open(
        ifname: &str,
        multicast_mac: Option<[u8; 6]>,
        timeout: Duration,
        allow_disruptive: bool,
    ) -> Result<Self, NetError> {
        if !allow_disruptive && !uadpbench_topology::is_own_link(ifname) {
            return Err(NetError::DisruptiveInterface(ifname.to_owned()));
        }
        let index = ifindex(ifname)?;
        let iface = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == ifname)
            .ok_or_else(|| NetError::NoInterface(ifname.to_owned()))?;
        let mac = iface.mac.map(|m| m.octets()).unwrap_or_default();
        // SAFETY: plain socket(2). Protocol 0 receives nothing until pnet binds it (ETH_P_ALL).
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            let e = io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::EPERM) {
                NetError::RawPermission
            } else {
                NetError::Io {
                    what: "socket(AF_PACKET)".into(),
                    source: e,
                }
            });
        }
        // SAFETY: `raw` is a fresh descriptor we own.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        let fd = sock.as_raw_fd();
        // Best effort: older kernels lack it, then our own frames are filtered by address.
        let _ = set_opt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &1 as &libc::c_int,
        );
        if let Some(group) = multicast_mac {
            let mut mr_address = [0u8; 8];
            mr_address[..6].copy_from_slice(&group);
            let mreq = libc::packet_mreq {
                mr_ifindex: index as libc::c_int,
                mr_type: libc::PACKET_MR_MULTICAST as libc::c_ushort,
                mr_alen: 6,
                mr_address,
            };
            set_opt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq).map_err(io_err(
                format!("joining multicast MAC on {ifname} (PACKET_ADD_MEMBERSHIP)"),
            ))?;
        }
        let mtu = interface_mtu(fd, ifname);
        let (tx, rx) = channel(&iface, mtu, sock.into_raw_fd(), timeout)?;
        Ok(EthSocket {
            ifname: ifname.to_owned(),
            mac,
            mtu,
            tx,
            rx,
        })
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), NetError> {
        match self.tx.send_to(frame, None) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(NetError::Io {
                what: format!("AF_PACKET send on {}", self.ifname),
                source: e,
            }),
            None => Err(NetError::Io {
                what: format!("AF_PACKET send on {}", self.ifname),
                source: io::Error::other("pnet refused the frame"),
            }),
        }
    }

    /// Receives one frame; `None` on timeout.
    pub fn recv(&mut self) -> Result<Option<&[u8]>, NetError> {
        match self.rx.next() {
            Ok(frame) => Ok(Some(frame)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(NetError::Io {
                what: format!("AF_PACKET receive on {}", self.ifname),
                source: e,
            }),
        }
    }
}

/// Hands `fd` (ownership included) to pnet, which binds it to `iface`.
fn channel(
    iface: &NetworkInterface,
    mtu: usize,
    fd: RawFd,
    timeout: Duration,
) -> Result<PnetChannel, NetError> {
    uadpbench_sender::eth::pnet_channel(iface, mtu, fd, timeout).map_err(|e| NetError::Io {
        what: format!(
            "binding the AF_PACKET socket to `{}` (is the interface up?)",
            iface.name
        ),
        source: e,
    })
}

/// Ethernet frame minimum without FCS: shorter frames are padded with zeros, as NICs do.
pub const MIN_FRAME: usize = 60;

/// Largest UADP message one frame of `framing` carries at `mtu` (a VLAN tag lies outside it).
pub fn max_eth_payload(framing: EthFraming, mtu: usize) -> usize {
    match framing {
        EthFraming::EthernetII => mtu,
        // The length field counts the LLC/SNAP header (if any) and the message: ≤ 1500.
        EthFraming::Ieee8023Snap | EthFraming::Ieee8023Bare => mtu
            .min(usize::from(MAX_8023_LENGTH))
            .saturating_sub(framing.llc_len()),
    }
}

/// Writes a frame `src → dst` of `framing` carrying `uadp` into `out` (cleared first);
/// padded to [`MIN_FRAME`].
pub fn build_eth_frame(
    out: &mut Vec<u8>,
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<VlanTag>,
    framing: EthFraming,
    uadp: &[u8],
) {
    out.clear();
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    if let Some(t) = vlan {
        out.extend_from_slice(&0x8100u16.to_be_bytes());
        out.extend_from_slice(&((u16::from(t.pcp) << 13) | (t.id & 0x0FFF)).to_be_bytes());
    }
    match framing {
        EthFraming::EthernetII => out.extend_from_slice(&uadp::UADP_ETHERTYPE.to_be_bytes()),
        EthFraming::Ieee8023Snap | EthFraming::Ieee8023Bare => {
            // Callers keep `uadp` within `max_eth_payload`, so the length fits 1500.
            let len = (framing.llc_len() + uadp.len()) as u16;
            out.extend_from_slice(&len.to_be_bytes());
            if framing == EthFraming::Ieee8023Snap {
                out.extend_from_slice(&LLC_SNAP_UADP);
            }
        }
    }
    out.extend_from_slice(uadp);
    if out.len() < MIN_FRAME {
        out.resize(MIN_FRAME, 0);
    }
}

/// Whether a MAC is a multicast (group) address other than broadcast.
pub fn is_multicast_mac(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 1 && *mac != [0xff; 6]
}

#[cfg(test)]
mod tests {
    use super::*;
    use uadpbench_sender::frame::parse_raw_uadp;

    #[test]
    fn frames_parse_back_in_every_framing() {
        let dst = [1, 0, 0x5e, 0, 0, 0x16];
        let src = [2, 0x75, 0x62, 0, 0, 1];
        let mut buf = Vec::new();
        for framing in EthFraming::ALL {
            for vlan in [None, Some(VlanTag { id: 7, pcp: 5 })] {
                build_eth_frame(&mut buf, dst, src, vlan, framing, &[0xf1, 1, 2]);
                assert_eq!(buf.len(), MIN_FRAME);
                let raw = parse_raw_uadp(&buf).unwrap();
                assert_eq!(
                    (raw.destination, raw.source, raw.vlan, raw.framing),
                    (dst, src, vlan, framing)
                );
                match framing {
                    EthFraming::Ieee8023Snap | EthFraming::Ieee8023Bare => {
                        assert_eq!(raw.uadp, &[0xf1, 1, 2])
                    }
                    EthFraming::EthernetII => assert_eq!(&raw.uadp[..3], &[0xf1, 1, 2]),
                }
            }
        }
        // Bare: the length field (3), then the message, no LLC header.
        build_eth_frame(
            &mut buf,
            dst,
            src,
            None,
            EthFraming::Ieee8023Bare,
            &[0xf1, 1, 2],
        );
        assert_eq!(&buf[12..17], &[0x00, 0x03, 0xf1, 1, 2]);
        assert_eq!(&buf[17..], &[0; MIN_FRAME - 17]);
        // The largest bare message fills the 1500-byte length exactly.
        let big = [0xf1; 1500];
        build_eth_frame(&mut buf, dst, src, None, EthFraming::Ieee8023Bare, &big);
        assert_eq!((buf.len(), &buf[12..14]), (1514, &[0x05, 0xdc][..]));
        assert_eq!(parse_raw_uadp(&buf).unwrap().uadp.len(), 1500);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Snap, 1500), 1492);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Snap, 9000), 1492);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Bare, 1500), 1500);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Bare, 9000), 1500);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Bare, 1280), 1280);
        assert_eq!(max_eth_payload(EthFraming::EthernetII, 9000), 9000);
        assert!(is_multicast_mac(&dst) && !is_multicast_mac(&src) && !is_multicast_mac(&[0xff; 6]));
    }

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
