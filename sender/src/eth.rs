//! The `eth` path: raw Ethernet frames through an AF_PACKET socket, driven by `pnet_datalink`
//! (`ChannelType::Layer2`). Carries UADP directly over Ethernet (EtherType 0xB62C, optionally
//! 802.1Q-tagged with a VID and PCP) or over hand-built UDP/IPv4 headers ([`crate::frame`]), so
//! that the encapsulation is a matrix axis independent of the kernel path.
//!
//! Why pnet and not a hand-rolled socket: the design compares the paths as a typical Rust
//! application would use them. pnet exposes no socket fd and no socket options, so this module
//! creates the AF_PACKET socket itself (libc), sets the options pnet lacks, and hands the fd to
//! pnet through `pnet_datalink::Config::socket_fd`; pnet binds it to the interface and does
//! every send and receive. The options:
//!
//! * `PACKET_QDISC_BYPASS` when [`PathOptions::qdisc_bypass`] is set: really set on the socket
//!   (an error if the kernel refuses). Frames then go to the driver through
//!   `dev_direct_xmit`, skipping the qdisc layer (and the `net_dev_queue` tracepoint and
//!   packet taps such as tcpdump on the sending side).
//! * `PACKET_IGNORE_OUTGOING`: frames this host sends (from any socket) are not looped back to
//!   this socket. Where a kernel lacks it, frames whose source MAC is the local MAC are skipped
//!   as foreign instead (they fail the peer-MAC / peer-IP filter of [`crate::frame::parse`]).
//! * `SO_RCVBUF` / `SO_SNDBUF` from [`PathOptions::socket_buffer_bytes`].
//!
//! Receive: the kernel strips an 802.1Q tag before AF_PACKET sees the frame (the tag travels in
//! `PACKET_AUXDATA`, which pnet does not read), so tagged frames arrive untagged here and their
//! VID/PCP cannot be checked on this path; the filter accepts tagged and untagged frames alike.
//! The channel is not promiscuous (the peer sends to our MAC).
//!
//! Costs that belong to this path (pnet's design, measured as part of it): every send is
//! `poll(POLLOUT)` + `sendto`, every receive `poll(POLLIN)` + `recvfrom`. pnet's read timeout
//! has millisecond resolution: [`Transport::set_recv_timeout`] rounds up to whole milliseconds
//! and re-creates the pnet channel on the same socket (no frame is lost).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use pnet_datalink::{Channel, ChannelType, DataLinkReceiver, DataLinkSender, NetworkInterface};

use crate::frame::{parse_uadp, FrameBuilder, PeerFilter, Rejected, VlanTag, ETH_HLEN, VLAN_HLEN};
use crate::open::{max_message_len, LinkInfo, PathOptions};
use crate::transport::{Encap, PathKind, Transport, TransportCounters, TransportError};

/// pnet's two halves of one channel.
/// pnet's sender and receiver of one AF_PACKET socket.
pub type PnetChannel = (Box<dyn DataLinkSender>, Box<dyn DataLinkReceiver>);

/// An AF_PACKET socket on one interface, used through pnet.
pub struct EthTransport {
    link: LinkInfo,
    encap: Encap,
    vlan: Option<VlanTag>,
    qdisc_bypass: bool,
    ignore_outgoing: bool,
    recv_timeout: Duration,
    iface: NetworkInterface,
    /// The socket; owned by pnet's sender/receiver (closed when both are dropped).
    fd: RawFd,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
    builder: FrameBuilder,
    filter: PeerFilter,
    /// Reused send buffer, one frame long.
    frame: Vec<u8>,
    max_len: usize,
    counters: TransportCounters,
}

impl std::fmt::Debug for EthTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthTransport")
            .field("link", &self.link)
            .field("encap", &self.encap)
            .field("fd", &self.fd)
            .finish_non_exhaustive()
    }
}

/// pnet's receive buffer: the largest frame we expect plus room for a tag.
fn frame_capacity(mtu: usize) -> usize {
    mtu + ETH_HLEN + 2 * VLAN_HLEN
}

/// pnet polls with a millisecond timeout, truncating: round up so that a sub-millisecond
/// timeout does not become a non-blocking read.
fn pnet_timeout(t: Duration) -> Duration {
    Duration::from_millis(t.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as u64)
}

/// Hands the AF_PACKET socket `fd` (ownership included) to pnet, which binds it to `iface`
/// (layer 2, not promiscuous, buffers for one frame at `mtu`, `timeout` rounded up to pnet's
/// milliseconds). The one place both the eth path and `publish`/`subscribe` open pnet.
pub fn pnet_channel(
    iface: &NetworkInterface,
    mtu: usize,
    fd: RawFd,
    timeout: Duration,
) -> std::io::Result<PnetChannel> {
    let config = pnet_datalink::Config {
        read_buffer_size: frame_capacity(mtu),
        write_buffer_size: frame_capacity(mtu),
        read_timeout: Some(pnet_timeout(timeout)),
        write_timeout: None,
        channel_type: ChannelType::Layer2,
        promiscuous: false,
        socket_fd: Some(fd),
        ..Default::default()
    };
    match pnet_datalink::channel(iface, config) {
        Ok(Channel::Ethernet(tx, rx)) => Ok((tx, rx)),
        Ok(_) => {
            // SAFETY: pnet did not take the descriptor in this case; close it.
            drop(unsafe { OwnedFd::from_raw_fd(fd) });
            Err(std::io::Error::other(
                "pnet returned a non-Ethernet channel type",
            ))
        }
        Err(e) => Err(e),
    }
}

impl EthTransport {
    /// Opens an AF_PACKET socket on `link.ifname` in the calling thread's network namespace.
    pub fn open(
        encap: Encap,
        link: &LinkInfo,
        options: &PathOptions,
    ) -> Result<Self, TransportError> {
        let vlan = options.vlan_id.map(|id| VlanTag {
            id,
            pcp: options.vlan_pcp,
        });
        let builder = FrameBuilder::new(encap, link, vlan).map_err(|e| {
            TransportError::Setup(format!("eth path: {e}; check --vlan-id / --vlan-pcp"))
        })?;
        let iface = pnet_datalink::interfaces().into_iter().find(|i| i.name == link.ifname).ok_or_else(|| {
            TransportError::Setup(format!(
                "network interface `{}` not found in this thread's network namespace: check the name with \
                 `ip link` (or `ip -n NS link`) and open the transport on a thread inside that namespace",
                link.ifname
            ))
        })?;

        let sock = crate::sys::packet_socket().map_err(|e| {
            if e.raw_os_error() == Some(libc::EPERM) {
                TransportError::Setup(
                    "cannot open an AF_PACKET socket (EPERM): run as root or grant CAP_NET_RAW"
                        .into(),
                )
            } else {
                TransportError::io("socket(AF_PACKET)", e)
            }
        })?;
        let fd = sock.as_raw_fd();
        let ignore_outgoing =
            crate::sys::set_int_sockopt(fd, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
                .is_ok();
        if options.qdisc_bypass {
            crate::sys::set_int_sockopt(fd, libc::SOL_PACKET, libc::PACKET_QDISC_BYPASS, 1)
                .map_err(|e| {
                    TransportError::Setup(format!(
                    "PACKET_QDISC_BYPASS refused by the kernel ({e}); run without --qdisc-bypass"
                ))
                })?;
        }
        if options.socket_buffer_bytes > 0 {
            let bytes =
                libc::c_int::try_from(options.socket_buffer_bytes).unwrap_or(libc::c_int::MAX);
            crate::sys::set_int_sockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
                .map_err(|e| TransportError::io("SO_RCVBUF", e))?;
            crate::sys::set_int_sockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, bytes)
                .map_err(|e| TransportError::io("SO_SNDBUF", e))?;
        }
        let (tx, rx) = Self::channel(&iface, link.mtu, sock.into_raw_fd(), options.recv_timeout)?;
        let max_len = max_message_len(PathKind::Eth, encap, link.mtu, vlan.is_some());
        Ok(EthTransport {
            frame: vec![0; builder.frame_len(max_len)],
            link: link.clone(),
            encap,
            vlan,
            qdisc_bypass: options.qdisc_bypass,
            ignore_outgoing,
            recv_timeout: options.recv_timeout,
            iface,
            fd,
            tx,
            rx,
            filter: PeerFilter::from_link(link),
            builder,
            max_len,
            counters: TransportCounters::default(),
        })
    }

    fn channel(
        iface: &NetworkInterface,
        mtu: usize,
        fd: RawFd,
        timeout: Duration,
    ) -> Result<PnetChannel, TransportError> {
        pnet_channel(iface, mtu, fd, timeout).map_err(|e| {
            TransportError::Setup(format!(
                "cannot bind the AF_PACKET socket to `{}` ({e}); is the interface up and are we root?",
                iface.name
            ))
        })
    }

    /// Whether `PACKET_IGNORE_OUTGOING` is in effect (else outgoing frames are filtered by MAC).
    pub fn ignores_outgoing(&self) -> bool {
        self.ignore_outgoing
    }

    /// The raw AF_PACKET socket (owned by the transport; for diagnostics such as
    /// `SO_TIMESTAMPING` or `getsockopt`).
    pub fn raw_fd(&self) -> RawFd {
        self.fd
    }
}

impl Transport for EthTransport {
    fn describe(&self) -> String {
        let vlan = match self.vlan {
            Some(t) => format!("vlan {} pcp {}", t.id, t.pcp),
            None => "untagged".into(),
        };
        format!(
            "eth (AF_PACKET via pnet) on {} encap {} {} -> {}, {vlan}, qdisc bypass {}",
            self.link.ifname,
            self.encap,
            uadpbench_topology::format_mac(&self.link.local_mac),
            uadpbench_topology::format_mac(&self.link.peer_mac),
            if self.qdisc_bypass { "on" } else { "off" },
        )
    }

    fn max_message_len(&self) -> usize {
        self.max_len
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        if msg.len() > self.max_len {
            return Err(TransportError::MessageTooLarge {
                len: msg.len(),
                max: self.max_len,
            });
        }
        let n = self
            .builder
            .build(&mut self.frame, msg)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        match self.tx.send_to(&self.frame[..n], None) {
            Some(Ok(())) => Ok(()),
            Some(Err(e))
                if e.raw_os_error() == Some(libc::ENOBUFS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                self.counters.send_dropped += 1;
                Ok(())
            }
            Some(Err(e)) => Err(TransportError::io("AF_PACKET sendto", e)),
            None => Err(TransportError::Setup(
                "pnet refused to send the frame".into(),
            )),
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let deadline = Instant::now() + self.recv_timeout;
        loop {
            match self.rx.next() {
                Ok(frame) => match parse_uadp(frame, self.encap, &self.filter) {
                    Ok(uadp) => {
                        let n = uadp.len().min(buf.len());
                        buf[..n].copy_from_slice(&uadp[..n]);
                        return Ok(Some(n));
                    }
                    Err(Rejected::Foreign) => self.counters.foreign_frames += 1,
                    Err(Rejected::Malformed) => self.counters.malformed_frames += 1,
                },
                Err(e) if e.kind() == io::ErrorKind::TimedOut => return Ok(None),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => return Err(TransportError::io("AF_PACKET recvfrom", e)),
            }
            // Foreign traffic must not extend the wait beyond the timeout.
            if Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    fn recv_timeout(&self) -> Duration {
        self.recv_timeout
    }

    fn set_recv_timeout(&mut self, timeout: Duration) -> Result<(), TransportError> {
        if pnet_timeout(timeout) != pnet_timeout(self.recv_timeout) {
            // pnet fixes the timeout when the channel is made: make a new channel on a duplicate
            // of the same socket (queued frames stay), then drop the old one (closes `self.fd`).
            // SAFETY: dup(2) of a descriptor we own.
            let dup = unsafe { libc::fcntl(self.fd, libc::F_DUPFD_CLOEXEC, 0) };
            if dup < 0 {
                return Err(TransportError::io(
                    "dup AF_PACKET socket",
                    io::Error::last_os_error(),
                ));
            }
            let (tx, rx) = Self::channel(&self.iface, self.link.mtu, dup, timeout)?;
            self.tx = tx;
            self.rx = rx;
            self.fd = dup;
        }
        self.recv_timeout = timeout;
        Ok(())
    }

    fn counters(&self) -> TransportCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pnet_timeout_rounds_up_to_milliseconds() {
        assert_eq!(pnet_timeout(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            pnet_timeout(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            pnet_timeout(Duration::from_micros(1500)),
            Duration::from_millis(2)
        );
        assert_eq!(
            pnet_timeout(Duration::from_millis(20)),
            Duration::from_millis(20)
        );
    }

    #[test]
    fn missing_interface_is_a_clear_error() {
        let link = LinkInfo {
            ifname: "uadpbench-nope0".into(),
            ifindex: 0,
            mtu: 1500,
            local_mac: [2, 0, 0, 0, 0, 1],
            local_ip: "198.18.0.1".parse().unwrap(),
            peer_mac: [2, 0, 0, 0, 0, 2],
            peer_ip: "198.18.0.2".parse().unwrap(),
            udp_port: uadpbench_common::UADP_UDP_PORT,
        };
        let err = EthTransport::open(Encap::Eth, &link, &PathOptions::default()).unwrap_err();
        assert!(err.to_string().contains("ip link"), "{err}");
    }
}
