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
//! receive, the second half is the free list for send), the socket bound to receive queue
//! [`PathOptions::xdp_queue`] (0 by default) with `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD` (libxdp
//! must not load its own program), `XDP_USE_NEED_WAKEUP` and `XDP_COPY` (or `XDP_ZEROCOPY` with
//! [`PathOptions::xdp_zero_copy`]; a driver without it — veth — gives copy mode and a note in
//! [`PathOptions::notes`]), then the XDP program loaded and attached (SKB mode, or driver mode
//! with [`PathOptions::xdp_driver_mode`]) and the socket put into `XSKS[queue]` (the program
//! redirects by the frame's receive queue). Every ring (RX, TX, fill, completion) has [`PathOptions::xdp_ring_size`]
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
//!
//! Submodules (private): `socket` creates the UMEM, the socket and the program
//! ([`XdpTransport::open`]); `datapath` is the send/receive path ([`Transport`] for
//! [`XdpTransport`]).

mod datapath;
mod socket;

use std::error::Error as StdError;
use std::os::fd::RawFd;
use std::time::Duration;

use xsk_rs::socket::XdpStatistics;
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, TxQueue, Umem};

use crate::frame::{FrameBuilder, PeerFilter, VlanTag};
use crate::open::LinkInfo;
#[cfg(doc)]
use crate::open::PathOptions;
#[cfg(doc)]
use crate::transport::Transport;
use crate::transport::{Encap, TransportCounters, TransportError};
use crate::xdp_program::{XdpAttachMode, XdpCounters, XdpProgram};

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
    /// The receive queue the socket is bound to.
    queue: u32,
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

impl XdpTransport {
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
}
