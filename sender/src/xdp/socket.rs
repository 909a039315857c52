//! Setting the `xdp` path up: the UMEM, the AF_XDP socket bound to the receive queue
//! [`PathOptions::xdp_queue`] (zero-copy when asked and the driver has it), the fill ring
//! stocked, and the XDP program loaded, attached and pointed at the socket
//! ([`XdpTransport::open`]).

use std::error::Error as StdError;
use std::io;
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::time::Duration;

use uadpbench_common::{XdpConfig, XDP_FLAG_REDIRECT_ETH, XDP_FLAG_REDIRECT_UDP, XDP_FLAG_VLAN};
use xsk_rs::config::{
    BindFlags, FrameSize, LibxdpFlags, QueueSize, SocketConfig, UmemConfig, XDP_UMEM_MIN_CHUNK_SIZE,
};
use xsk_rs::{FrameDesc, Socket, Umem};

use super::{error_chain, setup, XdpTransport};
use crate::frame::{FrameBuilder, PeerFilter, VlanTag};
use crate::open::{max_message_len, LinkInfo, PathOptions};
use crate::transport::{Encap, PathKind, TransportCounters, TransportError};
use crate::xdp_program::{XdpAttachMode, XdpProgram};

/// `XDP_PACKET_HEADROOM`: bytes the kernel reserves in front of each UMEM frame's data.
const XDP_HEADROOM: usize = 256;

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

        let bind = if options.xdp_need_wakeup {
            BindFlags::XDP_USE_NEED_WAKEUP
        } else {
            BindFlags::empty()
        };
        let socket_config = |zero_copy: bool| {
            SocketConfig::builder()
                .rx_queue_size(queue_size)
                .tx_queue_size(queue_size)
                .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
                .bind_flags(
                    bind | if zero_copy {
                        BindFlags::XDP_ZEROCOPY
                    } else {
                        BindFlags::XDP_COPY
                    },
                )
                .build()
        };
        let queue = options.xdp_queue;
        // Zero-copy where the driver has it; without it, copy mode and a note saying so.
        let mut zero_copy = options.xdp_zero_copy;
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
            let r = unsafe { Socket::new(socket_config(zero_copy), &umem, &ifname, queue) };
            let errno = r.as_ref().err().and_then(|e| {
                e.source()
                    .and_then(|s| s.downcast_ref::<io::Error>())
                    .and_then(io::Error::raw_os_error)
            });
            if errno == Some(libc::EOPNOTSUPP) && zero_copy {
                zero_copy = false;
                options.notes.push(format!(
                    "xdp on {}: zero-copy AF_XDP asked for (--xdp-zero-copy), but the driver refused it (EOPNOTSUPP: no zero-copy support for this interface or queue); the socket runs in copy mode",
                    link.ifname
                ));
                continue;
            }
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
                Some(libc::EINVAL) if queue > 0 => {
                    "is there such a receive queue? `ethtool -l` lists the interface's queues; --xdp-queue picks one"
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
                map.set(queue, fd, 0)
                    .map_err(|source| crate::xdp_program::XdpProgramError::Map {
                        map: uadpbench_common::XSKS_MAP_NAME,
                        op: "inserting the AF_XDP socket",
                        source: Box::new(source),
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
            zero_copy,
            queue,
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
