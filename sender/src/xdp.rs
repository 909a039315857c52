//! The `xdp` path: an AF_XDP socket (xsk-rs 0.11 over libxdp) fed by the uadpbench XDP program.
//!
//! Why: AF_XDP is the kernel-bypass-like path of the matrix. On receive, the `uadpbench_xdp`
//! program ([`crate::xdp_program`]), attached to the interface by this transport, redirects the
//! benchmark frames (EtherType 0xB62C for [`Encap::Eth`], IPv4/UDP to the OPC UA port for
//! [`Encap::Udp`], optionally behind one VLAN tag) through its `XSKS` map to this socket, and
//! passes everything else (ARP, other UDP ports, ICMP, …) to the kernel stack, which keeps
//! working. On send, frames are written straight into UMEM frames and put on the TX ring; a
//! `sendto` kick makes the kernel transmit them (`xsk_generic_xmit` in copy mode).
//!
//! Setup, in order: a UMEM of `2 × ring` frames (the first half stocks the fill ring for
//! receive, the second half is the free list for send), the socket bound to queue 0 with
//! `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD` (libxdp must not load its own program),
//! `XDP_USE_NEED_WAKEUP` and `XDP_COPY` (or `XDP_ZEROCOPY` with
//! [`PathOptions::xdp_zero_copy`], which veth does not support), then the XDP program loaded and
//! attached (SKB mode, or driver mode with [`PathOptions::xdp_driver_mode`]) and the socket put
//! into `XSKS[0]`. Every ring (RX, TX, fill, completion) has [`PathOptions::xdp_ring_size`]
//! entries. Dropping the transport closes the socket and detaches the program.
//!
//! Receive keeps the fill ring stocked (each frame goes back as soon as its UADP bytes are
//! copied out), consumes up to [`PathOptions::batch`] descriptors per ring read, and waits with
//! `ppoll(2)` for the remaining timeout; with [`PathOptions::busy_poll_us`] > 0 it first spins on
//! the RX ring for up to that long per wait (and sets `SO_BUSY_POLL` on the socket, which only
//! matters for drivers with NAPI busy polling). Frames the program redirected but
//! [`crate::frame::parse`] rejects (e.g. UDP to the port from another address) are counted as
//! foreign/malformed.
//!
//! Copy mode transmits at most 32 descriptors per `sendto` (the kernel's `TX_BATCH_SIZE`), so
//! [`Transport::send_batch`] puts up to `batch` frames on the ring and kicks until the kernel
//! has taken them all.

use std::error::Error as StdError;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

use uadpbench_common::{XdpConfig, XDP_FLAG_REDIRECT_ETH, XDP_FLAG_REDIRECT_UDP, XDP_FLAG_VLAN};
use xsk_rs::config::{
    BindFlags, FrameSize, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XDP_UMEM_MIN_CHUNK_SIZE,
};
use xsk_rs::socket::XdpStatistics;
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use crate::frame::{parse_uadp, FrameBuilder, PeerFilter, Rejected, VlanTag};
use crate::open::{max_message_len, LinkInfo, PathOptions};
use crate::transport::{Encap, PathKind, Transport, TransportCounters, TransportError, XdpStamps};
use crate::xdp_program::{XdpAttachMode, XdpCounters, XdpProgram};

/// `XDP_PACKET_HEADROOM`: bytes the kernel reserves in front of each UMEM frame's data.
const XDP_HEADROOM: usize = 256;
/// The rx queue the socket binds to (veth pairs made by the topology have one queue).
const QUEUE_ID: u32 = 0;
/// How long a send waits for a free UMEM frame before counting the message as dropped.
const TX_FRAME_WAIT: Duration = Duration::from_millis(10);
/// Kicks a batch send makes at most while waiting for the kernel to drain the TX ring.
const MAX_DRAIN_KICKS: usize = 1024;

/// An AF_XDP socket with its UMEM and the XDP program that feeds it.
pub struct XdpTransport {
    // Rings and UMEM are declared (and so dropped) before the program: the socket is closed
    // (and leaves the XSKMAP) before the program is detached.
    tx_q: TxQueue,
    rx_q: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
    umem: Umem,
    fd: RawFd,
    /// UMEM frames free for sending.
    tx_free: Vec<FrameDesc>,
    /// Bound with `XDP_USE_NEED_WAKEUP`: kick only when the kernel asks for it.
    need_wakeup: bool,
    /// Scratch for completion-ring reads (`ring` entries).
    comp_scratch: Vec<FrameDesc>,
    /// Scratch for one batch of send descriptors (`batch` entries).
    tx_batch: Vec<FrameDesc>,
    /// Descriptors read from the RX ring, `rx_next..rx_filled` not yet handed out.
    rx_descs: Vec<FrameDesc>,
    rx_next: usize,
    rx_filled: usize,
    /// RX frames that could not go back to the fill ring yet.
    fill_backlog: Vec<FrameDesc>,
    program: XdpProgram,
    link: LinkInfo,
    encap: Encap,
    vlan: Option<VlanTag>,
    mode: XdpAttachMode,
    zero_copy: bool,
    ring: u32,
    batch: usize,
    frame_size: u32,
    busy_poll: Duration,
    recv_timeout: Duration,
    builder: FrameBuilder,
    filter: PeerFilter,
    max_len: usize,
    counters: TransportCounters,
}

impl std::fmt::Debug for XdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpTransport")
            .field("link", &self.link)
            .field("encap", &self.encap)
            .field("fd", &self.fd)
            .field("program", &self.program)
            .finish_non_exhaustive()
    }
}

/// `e: cause: cause…`, for errors whose Display leaves the detail to `source()`.
fn error_chain(e: &dyn StdError) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn setup(msg: impl Into<String>) -> TransportError {
    TransportError::Setup(msg.into())
}

/// The smallest power-of-two UMEM frame (≥ 2048) whose data part holds `frame_len` bytes.
fn umem_frame_size(frame_len: usize) -> Option<u32> {
    [XDP_UMEM_MIN_CHUNK_SIZE, 4096]
        .into_iter()
        .find(|fs| frame_len + XDP_HEADROOM <= *fs as usize)
}

impl XdpTransport {
    /// Creates the socket on `link.ifname` (calling thread's network namespace), loads and
    /// attaches the XDP program there and registers the socket with it.
    pub fn open(
        encap: Encap,
        link: &LinkInfo,
        options: &PathOptions,
    ) -> Result<Self, TransportError> {
        let ring = options.xdp_ring_size;
        let queue_size = QueueSize::new(ring).map_err(|_| {
            setup(format!(
                "--xdp-ring-size {ring} is not a power of two (e.g. 512, 1024, 2048, 4096)"
            ))
        })?;
        if ring < 8 {
            return Err(setup(format!(
                "--xdp-ring-size {ring} is too small: use at least 64"
            )));
        }
        let batch = options.batch.clamp(1, ring as usize);
        let vlan = options.vlan_id.map(|id| VlanTag {
            id,
            pcp: options.vlan_pcp,
        });
        let builder = FrameBuilder::new(encap, link, vlan)
            .map_err(|e| setup(format!("xdp path: {e}; check --vlan-id / --vlan-pcp")))?;
        let max_len = max_message_len(PathKind::Xdp, encap, link.mtu, vlan.is_some());
        let frame_size = umem_frame_size(builder.frame_len(max_len)).ok_or_else(|| {
            setup(format!(
                "MTU {} is too large for the xdp path (a frame must fit a 4096-byte UMEM frame, and XDP \
                 on veth needs the frame in one page): use an MTU of at most 3800",
                link.mtu
            ))
        })?;

        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(frame_size).map_err(|e| setup(e.to_string()))?)
            .fill_queue_size(queue_size)
            .comp_queue_size(queue_size)
            .build()
            .map_err(|e| setup(format!("UMEM configuration: {e}")))?;
        let frame_count =
            NonZeroU32::new(2 * ring).ok_or_else(|| setup("--xdp-ring-size must not be 0"))?;
        let (umem, mut frames) = Umem::new(umem_config, frame_count, false).map_err(|e| {
            setup(format!(
                "cannot create the AF_XDP UMEM ({}); run as root (CAP_NET_RAW, CAP_IPC_LOCK) or use a \
                 smaller --xdp-ring-size",
                error_chain(&e)
            ))
        })?;

        let mut bind = if options.xdp_need_wakeup {
            BindFlags::XDP_USE_NEED_WAKEUP
        } else {
            BindFlags::empty()
        };
        bind |= if options.xdp_zero_copy {
            BindFlags::XDP_ZEROCOPY
        } else {
            BindFlags::XDP_COPY
        };
        let socket_config = || {
            SocketConfig::builder()
                .rx_queue_size(queue_size)
                .tx_queue_size(queue_size)
                .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
                .bind_flags(bind)
                .build()
        };
        let ifname = link.ifname.parse().map_err(|_| {
            setup(format!(
                "interface name `{}` contains a NUL byte",
                link.ifname
            ))
        })?;
        // A socket closed just before on the same queue (e.g. the previous run on a reused
        // interface) releases its binding asynchronously, once the XSKMAP that referenced it is
        // freed: EBUSY for a moment. Retry for up to a second before giving up.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        let created = loop {
            // SAFETY: the UMEM is fresh and no other socket is bound to this interface/queue by
            // us; the kernel refuses (EBUSY) a second socket on the same queue.
            let r = unsafe { Socket::new(socket_config(), &umem, &ifname, QUEUE_ID) };
            let errno = r.as_ref().err().and_then(|e| {
                e.source()
                    .and_then(|s| s.downcast_ref::<io::Error>())
                    .and_then(io::Error::raw_os_error)
            });
            if errno == Some(libc::EBUSY) && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(20));
                continue;
            }
            break r;
        };
        let (tx_q, rx_q, rings) = created.map_err(|e| {
            let errno = e.source().and_then(|s| s.downcast_ref::<io::Error>()).and_then(io::Error::raw_os_error);
            let hint = match errno {
                Some(libc::EPERM) => "run as root (CAP_NET_RAW, CAP_NET_ADMIN, CAP_BPF)",
                Some(libc::EBUSY) => "another AF_XDP socket is bound to this interface queue: stop it",
                Some(libc::EOPNOTSUPP) if options.xdp_zero_copy => {
                    "the driver has no AF_XDP zero-copy support (veth has none): drop --xdp-zero-copy"
                }
                Some(libc::ENODEV) | Some(libc::ENXIO) => {
                    "interface not found: open the transport on a thread inside the interface's namespace"
                }
                _ => "check that the interface exists in this thread's namespace and is up",
            };
            setup(format!("cannot create the AF_XDP socket on `{}` ({}); {hint}", link.ifname, error_chain(&e)))
        })?;
        let (mut fq, cq) = rings
            .ok_or_else(|| setup("libxdp returned no fill/completion ring for a fresh UMEM"))?;
        let fd = rx_q.fd().as_raw_fd();

        if options.busy_poll_us > 0 {
            let us = libc::c_int::try_from(options.busy_poll_us).unwrap_or(libc::c_int::MAX);
            crate::sys::set_int_sockopt(fd, libc::SOL_SOCKET, libc::SO_BUSY_POLL, us)
                .map_err(|e| TransportError::io("SO_BUSY_POLL on the AF_XDP socket", e))?;
        }

        // Stock the fill ring with the first half of the UMEM (all-or-nothing: the ring is empty
        // and exactly this large).
        let tx_frames = frames.split_off(ring as usize);
        // SAFETY: these frames are ours and are not on any other ring.
        let filled = unsafe { fq.produce(&frames) };
        if filled != frames.len() {
            return Err(setup(format!(
                "could only put {filled} of {} frames on the AF_XDP fill ring",
                frames.len()
            )));
        }

        let flags = XDP_FLAG_VLAN
            | match encap {
                Encap::Eth => XDP_FLAG_REDIRECT_ETH,
                Encap::Udp => XDP_FLAG_REDIRECT_UDP,
            };
        let flags = if options.xdp_stamps {
            flags | uadpbench_common::XDP_FLAG_STAMP
        } else {
            flags
        };
        let mut program = XdpProgram::load(XdpConfig {
            flags,
            udp_port: link.udp_port,
            publisher_id: crate::bench_message::DEFAULT_PUBLISHER_ID,
        })
        .map_err(|e| setup(error_chain(&e)))?;
        let mode = if options.xdp_driver_mode {
            XdpAttachMode::Driver
        } else {
            XdpAttachMode::Skb
        };
        program
            .attach_name(&link.ifname, mode)
            .map_err(|e| setup(error_chain(&e)))?;
        program
            .xsks_mut()
            .and_then(|mut map| {
                map.set(QUEUE_ID, fd, 0).map_err(|source| {
                    crate::xdp_program::XdpProgramError::Map {
                        map: uadpbench_common::XSKS_MAP_NAME,
                        op: "inserting the AF_XDP socket",
                        source: Box::new(source),
                    }
                })
            })
            .map_err(|e| setup(error_chain(&e)))?;

        Ok(XdpTransport {
            need_wakeup: options.xdp_need_wakeup,
            tx_q,
            rx_q,
            fq,
            cq,
            umem,
            fd,
            tx_free: tx_frames,
            comp_scratch: vec![FrameDesc::default(); ring as usize],
            tx_batch: Vec::with_capacity(batch),
            rx_descs: vec![FrameDesc::default(); batch],
            rx_next: 0,
            rx_filled: 0,
            fill_backlog: Vec::with_capacity(ring as usize),
            program,
            link: link.clone(),
            encap,
            vlan,
            mode,
            zero_copy: options.xdp_zero_copy,
            ring,
            batch,
            frame_size,
            busy_poll: Duration::from_micros(u64::from(options.busy_poll_us)),
            recv_timeout: options.recv_timeout,
            filter: PeerFilter::from_link(link),
            builder,
            max_len,
            counters: TransportCounters::default(),
        })
    }

    /// The XDP program's counters (redirected, passed, …), summed over CPUs.
    pub fn program_counters(&self) -> Result<XdpCounters, TransportError> {
        self.program.counters().map_err(|e| setup(error_chain(&e)))
    }

    /// The kernel's statistics of the socket (`XDP_STATISTICS`: RX drops, full rings, …).
    pub fn socket_statistics(&self) -> Result<XdpStatistics, TransportError> {
        self.rx_q
            .fd()
            .xdp_statistics()
            .map_err(|e| TransportError::io("getsockopt(XDP_STATISTICS)", e))
    }

    /// The AF_XDP socket (for diagnostics).
    pub fn raw_fd(&self) -> RawFd {
        self.fd
    }

    /// Takes completed TX frames back into the free list.
    fn reclaim(&mut self) {
        // SAFETY: the scratch descriptors are overwritten with completed frames, which the
        // kernel has handed back to us.
        let n = unsafe { self.cq.consume(&mut self.comp_scratch) };
        self.tx_free.extend_from_slice(&self.comp_scratch[..n]);
    }

    /// Wakes the kernel up to transmit what is on the TX ring.
    fn kick(&mut self) -> Result<(), TransportError> {
        // Without need_wakeup every batch is kicked (one sendto per batch in copy mode).
        if !self.need_wakeup || self.tx_q.needs_wakeup() {
            // EAGAIN/EBUSY/ENOBUFS/ENETDOWN are ignored by xsk-rs: the frames stay on the ring
            // (or are completed unsent) and the next kick continues.
            self.tx_q
                .wakeup()
                .map_err(|e| TransportError::io("sendto (AF_XDP TX kick)", e))?;
        }
        Ok(())
    }

    /// A free UMEM frame for sending, waiting briefly for completions if none is free.
    fn acquire_tx_frame(&mut self) -> Result<Option<FrameDesc>, TransportError> {
        if self.tx_free.is_empty() {
            self.reclaim();
        }
        if self.tx_free.is_empty() {
            let deadline = Instant::now() + TX_FRAME_WAIT;
            while self.tx_free.is_empty() && Instant::now() < deadline {
                self.kick()?;
                self.reclaim();
            }
        }
        Ok(self.tx_free.pop())
    }

    /// Writes the frame carrying `msg` into the UMEM frame `desc`.
    fn write_frame(&self, desc: &mut FrameDesc, msg: &[u8]) -> Result<(), TransportError> {
        let len = self.builder.frame_len(msg.len());
        // SAFETY: `desc` came from the free list: neither the kernel nor another descriptor
        // refers to this frame now.
        let mut data = unsafe { self.umem.data_mut(desc) };
        data.cursor().set_pos(len);
        let out = data.contents_mut();
        self.builder
            .build(out, msg)
            .map_err(|e| setup(format!("building an AF_XDP frame: {e}")))?;
        Ok(())
    }

    fn check_len(&self, msg: &[u8]) -> Result<(), TransportError> {
        if msg.len() > self.max_len {
            return Err(TransportError::MessageTooLarge {
                len: msg.len(),
                max: self.max_len,
            });
        }
        Ok(())
    }

    /// Returns an RX frame to the fill ring (or the backlog if the ring has no room).
    fn refill(&mut self, desc: FrameDesc) {
        if !self.fill_backlog.is_empty() {
            // SAFETY: backlog frames are ours (consumed from the RX ring, data copied out).
            let n = unsafe { self.fq.produce(&self.fill_backlog) };
            if n > 0 {
                self.fill_backlog.clear();
            }
        }
        // SAFETY: as above.
        if unsafe { self.fq.produce_one(&desc) } == 0 {
            self.fill_backlog.push(desc);
        }
    }

    /// Waits until the RX ring has entries or `deadline` passes; false on timeout.
    fn wait_rx(&mut self, deadline: Instant) -> Result<bool, TransportError> {
        loop {
            if self.rx_q.nb_avail(1) > 0 {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if !self.busy_poll.is_zero() {
                let spin_until = (now + self.busy_poll).min(deadline);
                while Instant::now() < spin_until {
                    if self.rx_q.nb_avail(1) > 0 {
                        return Ok(true);
                    }
                    std::hint::spin_loop();
                }
                if Instant::now() >= deadline {
                    return Ok(false);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = libc::timespec {
                tv_sec: left.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, a valid timespec, no signal mask change.
            let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(TransportError::io("ppoll on the AF_XDP socket", e));
                }
            } else if r == 0 {
                return Ok(self.rx_q.nb_avail(1) > 0);
            }
        }
    }
}

impl Transport for XdpTransport {
    fn describe(&self) -> String {
        let vlan = match self.vlan {
            Some(t) => format!("vlan {} pcp {}", t.id, t.pcp),
            None => "untagged".into(),
        };
        format!(
            "xdp (AF_XDP {} via xsk-rs, XDP program in {} mode) on {} queue {QUEUE_ID} encap {}, {vlan}, \
             ring {}, UMEM frame {} B, batch {}, busy poll {} us",
            if self.zero_copy { "zero-copy" } else { "copy mode" },
            self.mode,
            self.link.ifname,
            self.encap,
            self.ring,
            self.frame_size,
            self.batch,
            self.busy_poll.as_micros(),
        )
    }

    fn max_message_len(&self) -> usize {
        self.max_len
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        self.check_len(msg)?;
        self.reclaim();
        let Some(mut desc) = self.acquire_tx_frame()? else {
            self.counters.send_dropped += 1;
            return Ok(());
        };
        if let Err(e) = self.write_frame(&mut desc, msg) {
            self.tx_free.push(desc);
            return Err(e);
        }
        // SAFETY: the frame is written and ours; from now on the kernel owns it until it comes
        // back on the completion ring.
        if unsafe { self.tx_q.produce_one(&desc) } == 0 {
            self.tx_free.push(desc);
            self.counters.send_dropped += 1;
        }
        self.kick()
    }

    fn send_batch(&mut self, msgs: &[&[u8]]) -> Result<usize, TransportError> {
        if let Some(m) = msgs.iter().find(|m| m.len() > self.max_len) {
            return Err(TransportError::MessageTooLarge {
                len: m.len(),
                max: self.max_len,
            });
        }
        let mut sent = 0;
        for chunk in msgs.chunks(self.batch) {
            self.reclaim();
            self.tx_batch.clear();
            for m in chunk {
                let Some(mut desc) = self.acquire_tx_frame()? else {
                    self.counters.send_dropped += 1;
                    continue;
                };
                if let Err(e) = self.write_frame(&mut desc, m) {
                    self.tx_free.push(desc);
                    self.tx_free.extend_from_slice(&self.tx_batch);
                    return Err(e);
                }
                self.tx_batch.push(desc);
            }
            // SAFETY: the frames are written and ours; the kernel owns them from here on.
            let n = unsafe { self.tx_q.produce(&self.tx_batch) };
            if n < self.tx_batch.len() {
                self.counters.send_dropped += (self.tx_batch.len() - n) as u64;
                self.tx_free.extend_from_slice(&self.tx_batch[n..]);
            }
            sent += n;
            // Copy mode takes at most 32 descriptors per kick: kick until the ring is drained.
            self.kick()?;
            let mut kicks = 1;
            while self.tx_q.nb_free(self.ring) < self.ring && kicks < MAX_DRAIN_KICKS {
                self.kick()?;
                self.reclaim();
                kicks += 1;
            }
        }
        self.reclaim();
        Ok(sent)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let deadline = Instant::now() + self.recv_timeout;
        loop {
            while self.rx_next < self.rx_filled {
                let desc = self.rx_descs[self.rx_next];
                self.rx_next += 1;
                // SAFETY: the descriptor came from the RX ring and is not on the fill ring yet.
                let data = unsafe { self.umem.data(&desc) };
                let got = match parse_uadp(data.contents(), self.encap, &self.filter) {
                    Ok(uadp) => {
                        let n = uadp.len().min(buf.len());
                        buf[..n].copy_from_slice(&uadp[..n]);
                        Some(n)
                    }
                    Err(Rejected::Foreign) => {
                        self.counters.foreign_frames += 1;
                        None
                    }
                    Err(Rejected::Malformed) => {
                        self.counters.malformed_frames += 1;
                        None
                    }
                };
                self.refill(desc);
                if got.is_some() {
                    return Ok(got);
                }
            }
            // SAFETY: the scratch descriptors are overwritten with received frames.
            let n = unsafe { self.rx_q.consume(&mut self.rx_descs) };
            if n > 0 {
                self.rx_next = 0;
                self.rx_filled = n;
                continue;
            }
            if !self.wait_rx(deadline)? {
                return Ok(None);
            }
        }
    }

    fn recv_timeout(&self) -> Duration {
        self.recv_timeout
    }

    fn set_recv_timeout(&mut self, timeout: Duration) -> Result<(), TransportError> {
        self.recv_timeout = timeout;
        Ok(())
    }

    fn counters(&self) -> TransportCounters {
        self.counters
    }

    fn xdp_stamps(&mut self) -> Result<Option<XdpStamps>, TransportError> {
        if !self.program.config().has(uadpbench_common::XDP_FLAG_STAMP) {
            return Ok(None);
        }
        let stamps = self.program.stamps().map_err(|e| setup(error_chain(&e)))?;
        let c = self.program_counters()?;
        let (run_count, run_time_ns) = self
            .program
            .program_info()
            .map_or((0, 0), |i| (i.run_count(), i.run_time().as_nanos() as u64));
        Ok(Some(XdpStamps {
            stamps,
            stamped: c.get(uadpbench_common::XdpCounter::Stamped),
            overwritten: c.get(uadpbench_common::XdpCounter::StampOverwritten),
            run_count,
            run_time_ns,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn umem_frame_size_fits_the_frame() {
        assert_eq!(umem_frame_size(1518), Some(2048));
        assert_eq!(umem_frame_size(2048 - 256), Some(2048));
        assert_eq!(umem_frame_size(2048 - 255), Some(4096));
        assert_eq!(umem_frame_size(3840), Some(4096));
        assert_eq!(umem_frame_size(3841), None);
    }

    #[test]
    fn bad_ring_size_is_refused_before_touching_the_kernel() {
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
        let opts = PathOptions {
            xdp_ring_size: 1000,
            ..Default::default()
        };
        let err = XdpTransport::open(Encap::Eth, &link, &opts).unwrap_err();
        assert!(err.to_string().contains("power of two"), "{err}");
        let jumbo = LinkInfo { mtu: 9000, ..link };
        let err = XdpTransport::open(Encap::Udp, &jumbo, &PathOptions::default()).unwrap_err();
        assert!(err.to_string().contains("MTU 9000"), "{err}");
    }
}
