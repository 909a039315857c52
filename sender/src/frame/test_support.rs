//! Fixtures shared by the frame tests: the two ends of a link and sample payloads.

use std::net::Ipv4Addr;

use super::PeerFilter;
use crate::open::LinkInfo;

pub(super) const MAC_A: [u8; 6] = [0x02, 0x75, 0x62, 0, 0, 1];
pub(super) const MAC_B: [u8; 6] = [0x02, 0x75, 0x62, 0, 0, 2];
pub(super) const IP_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub(super) const IP_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub(super) fn link(local: bool) -> LinkInfo {
    let (local_mac, local_ip, peer_mac, peer_ip) = if local {
        (MAC_A, IP_A, MAC_B, IP_B)
    } else {
        (MAC_B, IP_B, MAC_A, IP_A)
    };
    LinkInfo {
        ifname: "veth0".into(),
        ifindex: 2,
        mtu: 1500,
        local_mac,
        local_ip,
        peer_mac,
        peer_ip,
        udp_port: uadpbench_common::UADP_UDP_PORT,
    }
}

/// What side B expects from side A.
pub(super) fn filter_b() -> PeerFilter {
    PeerFilter::from_link(&link(false))
}

pub(super) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 1) as u8).collect()
}
