//! The `udp` path: UADP over a UDP socket (port 4840). Single messages use `send`/`recv` on a
//! connected socket; batches use `sendmmsg`/`recvmmsg`. Unconnected (`UdpOptions::connected`
//! false), single messages use `sendto`/`recvfrom` on a bound socket, the way an OPC UA PubSub
//! publisher and subscriber commonly do (and the way sockperf does).

use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::transport::{Transport, TransportCounters, TransportError, TxStamp, TxStampKind};

/// IPv4 (20) + UDP (8) header bytes.
const IP_UDP_HEADERS: usize = 28;
/// Largest batch for `sendmmsg`/`recvmmsg`.
pub const MAX_BATCH: usize = 64;

/// Options of the UDP path.
#[derive(Debug, Clone)]
pub struct UdpOptions {
    /// Local address to bind (in the namespace of the creating thread).
    pub local: SocketAddrV4,
    /// The peer: the socket is connected to it (see `connected`), so datagrams from anyone
    /// else are not delivered.
    pub peer: SocketAddrV4,
    /// `connect()` the socket to `peer` and use `send`/`recv` (the kernel then keeps the
    /// route and the peer's address with the socket). `false`: leave it unconnected and use
    /// `sendto(peer)`/`recvfrom` (datagrams from anyone but `peer` are read and skipped:
    /// `foreign_frames`); single messages only (`recv_batch` 1), without `so_timestamping`.
    pub connected: bool,
    /// Link MTU, for the largest message.
    pub mtu: usize,
    /// `SO_BUSY_POLL` in microseconds (0: off).
    pub busy_poll_us: u32,
    /// Receive batch (`recvmmsg`) size; 1 uses plain `recv`.
    pub recv_batch: usize,
    /// How long `recv` waits.
    pub recv_timeout: Duration,
    /// Socket buffer sizes (0: kernel default).
    pub socket_buffer_bytes: usize,
    /// `SO_TIMESTAMPING` software stamps: transmit (SCHED and SOFTWARE, with OPT_ID keys, read
    /// from the error queue) and receive (`recvmsg` instead of `recv`; single messages only).
    pub so_timestamping: bool,
    /// With `so_timestamping`: the NIC's hardware stamps as well (transmit and receive, raw
    /// PHC time, [`HARDWARE_FLAGS`]). The interface's hardware stamping must be on
    /// ([`crate::hw_stamping::HardwareStamping`], held with
    /// [`UdpTransport::hold_hardware_stamping`]).
    pub hardware_timestamps: bool,
    /// One publisher to many subscribers over IPv4 multicast: the group and the index of the
    /// interface it travels on. A socket whose `peer` is the group sends to it (out of that
    /// interface, never looped back to this host); any other socket receives it: bound to the
    /// group's address (so it gets only the group's datagrams), joined on the interface, and
    /// connected to `peer` (the publisher).
    pub multicast: Option<Multicast>,
}

/// The group and interface of [`UdpOptions::multicast`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Multicast {
    /// The IPv4 multicast group.
    pub group: std::net::Ipv4Addr,
    /// Index of the interface the group travels on.
    pub ifindex: u32,
}

/// The `SO_TIMESTAMPING` flags of [`UdpOptions::so_timestamping`].
pub const TIMESTAMPING_FLAGS: libc::c_uint = libc::SOF_TIMESTAMPING_TX_SCHED
    | libc::SOF_TIMESTAMPING_TX_SOFTWARE
    | libc::SOF_TIMESTAMPING_RX_SOFTWARE
    | libc::SOF_TIMESTAMPING_SOFTWARE
    | libc::SOF_TIMESTAMPING_OPT_ID
    | libc::SOF_TIMESTAMPING_OPT_TSONLY;

/// The hardware `SO_TIMESTAMPING` flags added by [`UdpOptions::hardware_timestamps`]: NIC
/// transmit and receive stamps reported raw, and `OPT_TX_SWHW` so the software transmit stamp
/// is still reported for packets the NIC stamps too.
pub const HARDWARE_FLAGS: libc::c_uint = libc::SOF_TIMESTAMPING_TX_HARDWARE
    | libc::SOF_TIMESTAMPING_RX_HARDWARE
    | libc::SOF_TIMESTAMPING_RAW_HARDWARE
    | libc::SOF_TIMESTAMPING_OPT_TX_SWHW;

/// Which transmit stamp an error-queue message is: (software stamp `ts[0]`, hardware stamp
/// `ts[2]`, `ee_info`) → kind and ns. A hardware stamp comes alone, as `SCM_TSTAMP_SND`.
pub(crate) fn classify_tx_stamp(
    software: Option<u64>,
    hardware: Option<u64>,
    info: u32,
) -> Option<(TxStampKind, u64)> {
    match (software, hardware, info) {
        (_, Some(hw), crate::sys::SCM_TSTAMP_SND) => Some((TxStampKind::Hardware, hw)),
        (Some(sw), _, crate::sys::SCM_TSTAMP_SCHED) => Some((TxStampKind::Sched, sw)),
        (Some(sw), _, crate::sys::SCM_TSTAMP_SND) => Some((TxStampKind::Software, sw)),
        _ => None,
    }
}

/// A UDP socket, connected to its peer unless [`UdpOptions::connected`] is false.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
    options: UdpOptions,
    counters: TransportCounters,
    rx: RxBatch,
    /// Receive stamp of the last message `recv` returned (with `so_timestamping`).
    last_rx_stamp: Option<u64>,
    /// Hardware receive stamp of that message (with `hardware_timestamps`).
    last_rx_hw_stamp: Option<u64>,
    /// The interface's hardware stamping, switched on for this transport's lifetime.
    hardware: Option<crate::hw_stamping::HardwareStamping>,
}

/// Multicast setup of [`UdpTransport::open`]: a receiver joins the group on the interface; a
/// sender sends out of the interface, one hop, without a copy to its own host.
fn join_or_send_to(socket: &UdpSocket, m: Multicast, receiver: bool) -> Result<(), TransportError> {
    let fd = socket.as_raw_fd();
    let ifindex = libc::c_int::try_from(m.ifindex).map_err(|_| {
        TransportError::Setup(format!("interface index {} out of range", m.ifindex))
    })?;
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from(m.group).to_be(),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex,
    };
    if receiver {
        crate::sys::set_sockopt(fd, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreqn).map_err(
            |e| {
                TransportError::Setup(format!(
                    "cannot join multicast group {} on interface index {} ({e}): is the interface up, and is {} a multicast address?",
                    m.group, m.ifindex, m.group
                ))
            },
        )
    } else {
        crate::sys::set_sockopt(fd, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreqn)
            .map_err(|e| TransportError::io("IP_MULTICAST_IF", e))?;
        socket
            .set_multicast_loop_v4(false)
            .map_err(|e| TransportError::io("IP_MULTICAST_LOOP", e))
    }
}

#[derive(Debug)]
struct RxBatch {
    bufs: Vec<u8>,
    slot: usize,
    lens: Vec<usize>,
    next: usize,
    filled: usize,
}

impl UdpTransport {
    /// Opens, binds and connects the socket in the calling thread's network namespace.
    pub fn open(options: UdpOptions) -> Result<Self, TransportError> {
        let receives_group = options.multicast.filter(|m| *options.peer.ip() != m.group);
        let bind_to = match receives_group {
            Some(m) => SocketAddrV4::new(m.group, options.local.port()),
            None => options.local,
        };
        let socket = UdpSocket::bind(bind_to).map_err(|e| {
            TransportError::Setup(format!(
                "cannot bind UDP {bind_to} ({e}); is another benchmark or OPC UA server using the port in this namespace?"
            ))
        })?;
        if let Some(m) = options.multicast {
            join_or_send_to(&socket, m, receives_group.is_some())?;
        }
        if options.connected {
            socket
                .connect(options.peer)
                .map_err(|e| TransportError::io("connect", e))?;
        } else if options.recv_batch > 1 || options.so_timestamping {
            return Err(TransportError::Setup(
                "an unconnected UDP socket sends and receives one message per system call here, \
                 without SO_TIMESTAMPING: use --batch 1 and leave --so-timestamping out (or \
                 leave --udp-unconnected out)"
                    .into(),
            ));
        }
        socket
            .set_read_timeout(Some(options.recv_timeout.max(Duration::from_micros(1))))
            .map_err(|e| TransportError::io("SO_RCVTIMEO", e))?;
        if options.busy_poll_us > 0 {
            let us = libc::c_int::try_from(options.busy_poll_us).unwrap_or(libc::c_int::MAX);
            crate::sys::set_int_sockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BUSY_POLL,
                us,
            )
            .map_err(|e| TransportError::io("SO_BUSY_POLL", e))?;
        }
        if options.socket_buffer_bytes > 0 {
            use nix::sys::socket::{setsockopt, sockopt};
            setsockopt(&socket, sockopt::RcvBuf, &options.socket_buffer_bytes)
                .map_err(|e| TransportError::io("SO_RCVBUF", e.into()))?;
            setsockopt(&socket, sockopt::SndBuf, &options.socket_buffer_bytes)
                .map_err(|e| TransportError::io("SO_SNDBUF", e.into()))?;
        }
        if options.so_timestamping {
            if options.recv_batch > 1 {
                return Err(TransportError::Setup(
                    "SO_TIMESTAMPING receive stamps need single-message receives (batch 1)".into(),
                ));
            }
            let flags = if options.hardware_timestamps {
                TIMESTAMPING_FLAGS | HARDWARE_FLAGS
            } else {
                TIMESTAMPING_FLAGS
            };
            crate::sys::set_int_sockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPING,
                flags as libc::c_int,
            )
            .map_err(|e| TransportError::io("SO_TIMESTAMPING", e))?;
        }
        let batch = options.recv_batch.clamp(1, MAX_BATCH);
        let slot = options.mtu.max(64);
        Ok(UdpTransport {
            socket,
            last_rx_stamp: None,
            last_rx_hw_stamp: None,
            hardware: None,
            counters: TransportCounters::default(),
            rx: RxBatch {
                bufs: vec![0; slot * batch],
                slot,
                lens: vec![0; batch],
                next: 0,
                filled: 0,
            },
            options: UdpOptions {
                recv_batch: batch,
                ..options
            },
        })
    }

    /// Keeps the interface's hardware stamping on while this transport lives (put back when
    /// it is dropped); `hardware_timestamps` must have been asked for.
    pub fn hold_hardware_stamping(&mut self, hardware: crate::hw_stamping::HardwareStamping) {
        self.hardware = Some(hardware);
    }

    /// The bound local address (the group's, for a multicast receiver).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    fn is_timeout(e: &io::Error) -> bool {
        matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        )
    }
}

impl Transport for UdpTransport {
    fn describe(&self) -> String {
        format!(
            "udp {} -> {}{} (busy_poll {} us, recv batch {})",
            self.options.local,
            self.options.peer,
            if self.options.connected {
                ""
            } else {
                ", unconnected"
            },
            self.options.busy_poll_us,
            self.options.recv_batch
        )
    }

    fn max_message_len(&self) -> usize {
        self.options.mtu.saturating_sub(IP_UDP_HEADERS)
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        if msg.len() > self.max_message_len() {
            return Err(TransportError::MessageTooLarge {
                len: msg.len(),
                max: self.max_message_len(),
            });
        }
        let sent = if self.options.connected {
            self.socket.send(msg)
        } else {
            self.socket.send_to(msg, self.options.peer)
        };
        match sent {
            Ok(_) => Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::ENOBUFS)
                    || e.kind() == io::ErrorKind::WouldBlock =>
            {
                self.counters.send_dropped += 1;
                Ok(())
            }
            // ECONNREFUSED: an ICMP port unreachable from the peer before its socket existed.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                self.counters.send_dropped += 1;
                Ok(())
            }
            Err(e) => Err(TransportError::io("send", e)),
        }
    }

    fn send_batch(&mut self, msgs: &[&[u8]]) -> Result<usize, TransportError> {
        let mut sent = 0;
        for chunk in msgs.chunks(MAX_BATCH) {
            if let Some(m) = chunk.iter().find(|m| m.len() > self.max_message_len()) {
                return Err(TransportError::MessageTooLarge {
                    len: m.len(),
                    max: self.max_message_len(),
                });
            }
            match crate::sys::sendmmsg(self.socket.as_raw_fd(), chunk) {
                Ok(n) => {
                    sent += n;
                    self.counters.send_dropped += (chunk.len() - n) as u64;
                }
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOBUFS)
                        || e.kind() == io::ErrorKind::WouldBlock =>
                {
                    self.counters.send_dropped += chunk.len() as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    self.counters.send_dropped += chunk.len() as u64;
                }
                Err(e) => return Err(TransportError::io("sendmmsg", e)),
            }
        }
        Ok(sent)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, TransportError> {
        if self.options.so_timestamping {
            loop {
                return match crate::sys::recvmsg_timestamped(self.socket.as_raw_fd(), buf, 0) {
                    Ok(r) => {
                        self.last_rx_stamp = r.stamp_ns;
                        self.last_rx_hw_stamp = r.hw_stamp_ns;
                        Ok(Some(r.len))
                    }
                    Err(e) if Self::is_timeout(&e) => Ok(None),
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => Err(TransportError::io("recvmsg", e)),
                };
            }
        }
        if self.options.recv_batch == 1 {
            loop {
                let got = if self.options.connected {
                    self.socket.recv(buf)
                } else {
                    match self.socket.recv_from(buf) {
                        Ok((n, from)) if from == SocketAddr::V4(self.options.peer) => Ok(n),
                        Ok(_) => {
                            self.counters.foreign_frames += 1;
                            continue;
                        }
                        Err(e) => Err(e),
                    }
                };
                return match got {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if Self::is_timeout(&e) => Ok(None),
                    // A pending ICMP "port unreachable" from an earlier send (the peer's socket
                    // did not exist yet): reported once, it is not a message; keep waiting.
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                    Err(e) => Err(TransportError::io("recv", e)),
                };
            }
        }
        let rx = &mut self.rx;
        if rx.next == rx.filled {
            match crate::sys::recvmmsg(self.socket.as_raw_fd(), &mut rx.bufs, rx.slot, &mut rx.lens)
            {
                Ok(n) => {
                    rx.next = 0;
                    rx.filled = n;
                }
                Err(e) if Self::is_timeout(&e) => return Ok(None),
                // See above: a stale ICMP error, not a message.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => return self.recv(buf),
                Err(e) => return Err(TransportError::io("recvmmsg", e)),
            }
            if rx.filled == 0 {
                return Ok(None);
            }
        }
        let i = rx.next;
        rx.next += 1;
        let len = rx.lens[i].min(buf.len());
        buf[..len].copy_from_slice(&rx.bufs[i * rx.slot..i * rx.slot + len]);
        Ok(Some(len))
    }

    fn recv_timeout(&self) -> Duration {
        self.options.recv_timeout
    }

    fn set_recv_timeout(&mut self, timeout: Duration) -> Result<(), TransportError> {
        self.socket
            .set_read_timeout(Some(timeout.max(Duration::from_micros(1))))
            .map_err(|e| TransportError::io("SO_RCVTIMEO", e))?;
        self.options.recv_timeout = timeout;
        Ok(())
    }

    fn counters(&self) -> TransportCounters {
        self.counters
    }

    fn timestamping(&self) -> bool {
        self.options.so_timestamping
    }

    fn last_rx_stamp(&self) -> Option<u64> {
        self.last_rx_stamp
    }

    fn last_rx_hw_stamp(&self) -> Option<u64> {
        self.last_rx_hw_stamp
    }

    fn hardware_clock(&self) -> Option<i32> {
        self.hardware
            .as_ref()
            .filter(|_| self.options.hardware_timestamps)
            .map(|h| h.phc_index)
    }

    fn drain_tx_stamps(&mut self, out: &mut Vec<TxStamp>) -> Result<(), TransportError> {
        if !self.options.so_timestamping {
            return Ok(());
        }
        let mut scratch = [0u8; 64];
        loop {
            match crate::sys::recvmsg_timestamped(
                self.socket.as_raw_fd(),
                &mut scratch,
                libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT,
            ) {
                Ok(r) => {
                    let Some((info, key)) = r.tstamp_info else {
                        continue;
                    };
                    let Some((kind, ns)) = classify_tx_stamp(r.stamp_ns, r.hw_stamp_ns, info)
                    else {
                        continue;
                    };
                    out.push(TxStamp { key, kind, ns });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(TransportError::io("recvmsg(MSG_ERRQUEUE)", e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn pair(batch: usize) -> (UdpTransport, UdpTransport) {
        pair_with(batch, false)
    }

    fn pair_with(batch: usize, so_timestamping: bool) -> (UdpTransport, UdpTransport) {
        pair_full(batch, so_timestamping, true)
    }

    fn pair_full(
        batch: usize,
        so_timestamping: bool,
        connected: bool,
    ) -> (UdpTransport, UdpTransport) {
        pair_stamped(batch, so_timestamping, false, connected)
    }

    fn pair_stamped(
        batch: usize,
        so_timestamping: bool,
        hardware_timestamps: bool,
        connected: bool,
    ) -> (UdpTransport, UdpTransport) {
        let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let (pa, pb) = match (a.local_addr().unwrap(), b.local_addr().unwrap()) {
            (SocketAddr::V4(x), SocketAddr::V4(y)) => (x, y),
            _ => unreachable!("bound to IPv4"),
        };
        drop((a, b));
        let opts = |local, peer| UdpOptions {
            local,
            peer,
            mtu: 1500,
            connected,
            busy_poll_us: 0,
            recv_batch: batch,
            recv_timeout: Duration::from_millis(500),
            socket_buffer_bytes: 0,
            so_timestamping,
            hardware_timestamps,
            multicast: None,
        };
        (
            UdpTransport::open(opts(pa, pb)).unwrap(),
            UdpTransport::open(opts(pb, pa)).unwrap(),
        )
    }

    #[test]
    fn loopback_single_and_batched() {
        for batch in [1, 8] {
            let (mut a, mut b) = pair(batch);
            let msgs: Vec<Vec<u8>> = (0..20u8).map(|i| vec![i; 100]).collect();
            let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
            assert_eq!(a.send_batch(&refs).unwrap(), 20);
            a.send(&[99; 10]).unwrap();
            let mut buf = [0u8; 2048];
            for i in 0..20u8 {
                let n = b.recv(&mut buf).unwrap().expect("datagram");
                assert_eq!(&buf[..n], &[i; 100][..]);
            }
            assert_eq!(b.recv(&mut buf).unwrap(), Some(10));
            b.set_recv_timeout(Duration::from_millis(10)).unwrap();
            assert_eq!(b.recv(&mut buf).unwrap(), None);
        }
    }

    #[test]
    fn unconnected_sockets_exchange_with_their_peer_and_skip_strangers() {
        let (mut a, mut b) = pair_full(1, false, false);
        let mut buf = [0u8; 2048];
        // A stranger's datagram reaches b's unconnected socket: read and skipped, counted.
        let stranger = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        stranger.send_to(&[7; 30], b.local_addr().unwrap()).unwrap();
        for i in 0..5u8 {
            a.send(&[i; 50]).unwrap();
            let n = b.recv(&mut buf).unwrap().expect("datagram from the peer");
            assert_eq!(&buf[..n], &[i; 50][..]);
            b.send(&buf[..n]).unwrap();
            let n = a.recv(&mut buf).unwrap().expect("echo");
            assert_eq!(&buf[..n], &[i; 50][..]);
        }
        assert_eq!(b.counters().foreign_frames, 1);
        assert_eq!(a.counters().foreign_frames, 0);
        b.set_recv_timeout(Duration::from_millis(10)).unwrap();
        assert_eq!(b.recv(&mut buf).unwrap(), None);
    }

    #[test]
    fn unconnected_sockets_refuse_batches_and_timestamping() {
        for (batch, ts) in [(8, false), (1, true)] {
            let a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let Ok(SocketAddr::V4(local)) = a.local_addr() else {
                unreachable!("bound to IPv4")
            };
            drop(a);
            let err = UdpTransport::open(UdpOptions {
                local,
                peer: SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9),
                mtu: 1500,
                connected: false,
                busy_poll_us: 0,
                recv_batch: batch,
                recv_timeout: Duration::from_millis(10),
                socket_buffer_bytes: 0,
                so_timestamping: ts,
                hardware_timestamps: false,
                multicast: None,
            })
            .unwrap_err();
            assert!(err.to_string().contains("--batch 1"), "{err}");
        }
    }

    #[test]
    fn tx_stamps_are_classified_by_type_and_clock() {
        use crate::sys::{SCM_TSTAMP_SCHED, SCM_TSTAMP_SND};
        assert_eq!(
            classify_tx_stamp(Some(5), None, SCM_TSTAMP_SCHED),
            Some((TxStampKind::Sched, 5))
        );
        assert_eq!(
            classify_tx_stamp(Some(7), None, SCM_TSTAMP_SND),
            Some((TxStampKind::Software, 7))
        );
        // The NIC's stamp arrives alone (ts[0] zero) as SND, in PHC time.
        assert_eq!(
            classify_tx_stamp(None, Some(9), SCM_TSTAMP_SND),
            Some((TxStampKind::Hardware, 9))
        );
        // ACK stamps (2) are not asked for; an empty message is nothing.
        assert_eq!(classify_tx_stamp(Some(1), None, 2), None);
        assert_eq!(classify_tx_stamp(None, None, SCM_TSTAMP_SND), None);
    }

    #[test]
    fn so_timestamping_stamps_every_send_and_receive_in_order() {
        // Asking for hardware stamps too (the flags a NIC with hardware stamping gets) must
        // not lose or change the software ones on an interface without any (loopback).
        for hardware in [false, true] {
            so_timestamping_in_order(hardware);
        }
    }

    fn so_timestamping_in_order(hardware: bool) {
        let (mut a, mut b) = pair_stamped(1, true, hardware, true);
        assert!(a.timestamping() && b.timestamping());
        let mut buf = [0u8; 2048];
        let mut tx = Vec::new();
        let mut rx = Vec::new();
        // Enabling receive stamps turns on a kernel-wide static key through deferred work: the
        // first datagrams may arrive unstamped. Warm up until one is stamped.
        let mut warmup = 0u32;
        loop {
            a.send(&[0xee; 40]).unwrap();
            warmup += 1;
            b.recv(&mut buf).unwrap().expect("warm-up datagram");
            if b.last_rx_stamp().is_some() {
                break;
            }
            assert!(warmup < 1000, "receive stamps never appeared");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(5));
        a.drain_tx_stamps(&mut Vec::new()).unwrap();
        for i in 0..5u8 {
            a.send(&[i; 40]).unwrap();
            a.drain_tx_stamps(&mut tx).unwrap();
            let n = b.recv(&mut buf).unwrap().expect("datagram");
            assert_eq!(&buf[..n], &[i; 40][..]);
            rx.push(b.last_rx_stamp().expect("receive stamp"));
        }
        std::thread::sleep(Duration::from_millis(5));
        a.drain_tx_stamps(&mut tx).unwrap();
        for key in warmup..warmup + 5 {
            let of = |kind| {
                tx.iter()
                    .find(|s| s.key == key && s.kind == kind)
                    .unwrap_or_else(|| panic!("no {kind:?} stamp for send {key}: {tx:?}"))
                    .ns
            };
            let (sched, sw) = (of(TxStampKind::Sched), of(TxStampKind::Software));
            // Scheduler entry, then the driver, then the receive side (loopback_xmit →
            // netif_rx); all CLOCK_REALTIME.
            assert!(sched <= sw, "send {key}: sched {sched} > software {sw}");
            let r = rx[(key - warmup) as usize];
            assert!(sw <= r, "send {key}: software {sw} > rx {r}");
        }
        assert_eq!(tx.len(), 10, "two stamps per send: {tx:?}");
        assert!(b.last_rx_hw_stamp().is_none() && a.hardware_clock().is_none());
        // A transport without the option has no stamps.
        let (mut c, _d) = pair(1);
        c.send(&[1; 8]).unwrap();
        let mut none = Vec::new();
        c.drain_tx_stamps(&mut none).unwrap();
        assert!(none.is_empty() && c.last_rx_stamp().is_none());
    }

    #[test]
    fn oversized_message_is_refused_before_sending() {
        let (mut a, _b) = pair(1);
        assert!(matches!(
            a.send(&[0; 1473]),
            Err(TransportError::MessageTooLarge {
                len: 1473,
                max: 1472
            })
        ));
    }
}
