//! Opening a path: one function that turns (path, encapsulation, link facts, options) into a
//! boxed [`Transport`]. Call it on the thread that will use the transport, after moving that
//! thread into the namespace of `link` (sockets belong to their creator's namespace).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use serde::Serialize;

use crate::transport::{Encap, PathKind, Transport, TransportError};
use crate::udp::{UdpOptions, UdpTransport};

/// Facts about the local end of the link and its peer.
#[derive(Debug, Clone)]
pub struct LinkInfo {
    pub ifname: String,
    pub ifindex: u32,
    pub mtu: usize,
    pub local_mac: [u8; 6],
    pub local_ip: Ipv4Addr,
    pub peer_mac: [u8; 6],
    pub peer_ip: Ipv4Addr,
    /// UDP port both ends use (UADP over UDP).
    pub udp_port: u16,
}

/// Tunables of the paths (each path reads the ones that apply to it).
#[derive(Debug, Clone, Serialize)]
pub struct PathOptions {
    /// udp/xdp: `SO_BUSY_POLL` microseconds (0: off).
    pub busy_poll_us: u32,
    /// udp: leave the sockets unconnected (`sendto`/`recvfrom` with the peer's address, as
    /// OPC UA PubSub stacks and sockperf do) instead of `connect()`ing them (the default).
    pub udp_unconnected: bool,
    /// Messages per send/receive batch (flood mode; sendmmsg/recvmmsg, AF_XDP ring batches).
    pub batch: usize,
    /// Socket buffer bytes (0: kernel default).
    pub socket_buffer_bytes: usize,
    /// eth: 802.1Q VLAN id to tag frames with (None: untagged).
    pub vlan_id: Option<u16>,
    /// eth: 802.1Q priority code point (TSN traffic class), with `vlan_id`.
    pub vlan_pcp: u8,
    /// eth: bypass the qdisc layer (`PACKET_QDISC_BYPASS`).
    pub qdisc_bypass: bool,
    /// xdp: attach the XDP program in driver (native) mode instead of generic SKB mode.
    pub xdp_driver_mode: bool,
    /// xdp: zero-copy AF_XDP (only where the NIC driver supports it; veth does not).
    pub xdp_zero_copy: bool,
    /// xdp: frames in the UMEM and entries of each ring.
    pub xdp_ring_size: u32,
    /// xdp: bind with `XDP_USE_NEED_WAKEUP` and kick the kernel only when it asks (default);
    /// off: kick after every batch.
    pub xdp_need_wakeup: bool,
    /// Allow eth/xdp on an interface uadpbench did not create. Attaching XDP and opening raw /
    /// AF_XDP sockets there can disrupt that interface's traffic; the CLI exposes this only
    /// under a flag that says so.
    pub allow_disruptive_interface: bool,
    /// udp: `SO_TIMESTAMPING` software transmit and receive stamps (the clock cross-check of
    /// the probes; receives use `recvmsg`).
    pub so_timestamping: bool,
    /// xdp: the XDP program stamps each benchmark message's arrival (the `xdp_ingress` probe
    /// layer; set by probe runs).
    pub xdp_stamps: bool,
    /// udp: one publisher to many subscribers over this IPv4 multicast group. The side whose
    /// peer address is the group publishes to it; the others join it on their link (see
    /// [`crate::udp::UdpOptions::multicast`]). The raw paths need nothing: they address the
    /// group's MAC and their receivers filter on the sender's MAC.
    pub multicast_group: Option<Ipv4Addr>,
    /// xdp: the NIC receive queue the AF_XDP socket binds to (veth: 0). On a multi-queue NIC
    /// steer the benchmark's frames there (`ethtool -N`).
    pub xdp_queue: u32,
    /// How long a receive call waits before returning with nothing.
    #[serde(skip)]
    pub recv_timeout: Duration,
    /// What transports opened with these options did differently from what was asked (a
    /// fallback and its reason); shared by every clone, read after the run.
    #[serde(skip)]
    pub notes: SetupNotes,
}

/// Notes of the transports opened with one [`PathOptions`] (and its clones): each a sentence
/// saying what was asked, what was done instead, and why.
#[derive(Debug, Clone, Default)]
pub struct SetupNotes(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl SetupNotes {
    /// Adds a note (once: a second transport falling back the same way adds nothing).
    pub fn push(&self, note: String) {
        let mut notes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !notes.contains(&note) {
            notes.push(note);
        }
    }

    /// The notes so far.
    pub fn snapshot(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Default for PathOptions {
    fn default() -> Self {
        PathOptions {
            busy_poll_us: 0,
            udp_unconnected: false,
            batch: 32,
            socket_buffer_bytes: 4 << 20,
            vlan_id: None,
            vlan_pcp: 0,
            qdisc_bypass: false,
            xdp_driver_mode: false,
            xdp_zero_copy: false,
            xdp_ring_size: 2048,
            xdp_need_wakeup: true,
            allow_disruptive_interface: false,
            so_timestamping: false,
            xdp_stamps: false,
            multicast_group: None,
            xdp_queue: 0,
            recv_timeout: Duration::from_millis(100),
            notes: SetupNotes::default(),
        }
    }
}

/// Headers a path adds below UADP, in bytes, for the largest-message check.
pub fn max_message_len(path: PathKind, encap: Encap, mtu: usize, vlan: bool) -> usize {
    let _ = vlan; // An 802.1Q tag lives outside the MTU.
    match (path, encap) {
        (PathKind::Udp, _) | (_, Encap::Udp) => mtu.saturating_sub(20 + 8),
        (_, Encap::Eth) => mtu,
    }
}

/// Opens `path` on the calling thread's namespace.
pub fn open_transport(
    path: PathKind,
    encap: Encap,
    link: &LinkInfo,
    options: &PathOptions,
) -> Result<Box<dyn Transport>, TransportError> {
    if path != PathKind::Udp
        && !options.allow_disruptive_interface
        && !uadpbench_topology::is_own_link(&link.ifname)
    {
        return Err(TransportError::Setup(format!(
            "refusing to attach XDP or open raw sockets on {}: uadpbench did not create it. \
             Use its own topology, or accept the disruption of that interface's traffic explicitly",
            link.ifname
        )));
    }
    match path {
        PathKind::Udp => {
            if encap != Encap::Udp {
                return Err(TransportError::Setup(
                    "the udp path carries UADP over UDP only (--encap udp)".into(),
                ));
            }
            // With SO_TIMESTAMPING, the NIC's hardware stamps too where the interface can
            // stamp every packet; otherwise a note says why there are none.
            let hardware = options
                .so_timestamping
                .then(|| crate::hw_stamping::HardwareStamping::enable(&link.ifname))
                .and_then(|r| {
                    r.map_err(|e| {
                        options.notes.push(format!("hardware timestamps: {e}"));
                    })
                    .ok()
                });
            let mut t = UdpTransport::open(UdpOptions {
                local: SocketAddrV4::new(link.local_ip, link.udp_port),
                peer: SocketAddrV4::new(link.peer_ip, link.udp_port),
                mtu: link.mtu,
                connected: !options.udp_unconnected,
                busy_poll_us: options.busy_poll_us,
                recv_batch: options.batch,
                recv_timeout: options.recv_timeout,
                socket_buffer_bytes: options.socket_buffer_bytes,
                so_timestamping: options.so_timestamping,
                hardware_timestamps: hardware.is_some(),
                multicast: options.multicast_group.map(|group| crate::udp::Multicast {
                    group,
                    ifindex: link.ifindex,
                }),
            })?;
            if let Some(h) = hardware {
                t.hold_hardware_stamping(h);
            }
            Ok(Box::new(t))
        }
        PathKind::Eth => Ok(Box::new(crate::eth::EthTransport::open(
            encap, link, options,
        )?)),
        PathKind::Xdp => Ok(Box::new(crate::xdp::XdpTransport::open(
            encap, link, options,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(ifname: &str) -> LinkInfo {
        LinkInfo {
            ifname: ifname.into(),
            ifindex: 1,
            mtu: 1500,
            local_mac: [2, 0, 0, 0, 0, 1],
            local_ip: Ipv4Addr::new(198, 18, 0, 1),
            peer_mac: [2, 0, 0, 0, 0, 2],
            peer_ip: Ipv4Addr::new(198, 18, 0, 2),
            udp_port: uadpbench_common::UADP_UDP_PORT,
        }
    }

    #[test]
    fn raw_paths_refuse_interfaces_the_tool_did_not_create() {
        for path in [PathKind::Eth, PathKind::Xdp] {
            for ifname in ["lo", "eth0", "ubfoo"] {
                let err = open_transport(path, Encap::Eth, &link(ifname), &PathOptions::default())
                    .err()
                    .expect("refused");
                assert!(err.to_string().contains("did not create"), "{err}");
            }
        }
    }
}
