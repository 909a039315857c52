//! Frames for the raw paths (`eth` over AF_PACKET, `xdp` over AF_XDP): building the link, IP and
//! UDP headers around a UADP message, and finding the UADP message in a received frame.
//!
//! Why: the `udp` path lets the kernel build the headers, the raw paths must do it themselves,
//! for both encapsulations of the matrix:
//!
//! * [`Encap::Eth`]: Ethernet II (dst = peer MAC, src = local MAC), optionally one 802.1Q tag
//!   (VID, PCP), EtherType 0xB62C, UADP.
//! * [`Encap::Udp`]: Ethernet II (+ optional tag), IPv4 (TTL 64, DF, correct header checksum),
//!   UDP (the OPC UA port on both ends, correct checksum), UADP.
//!
//! Headers are built and checked with `etherparse`. [`FrameBuilder`] prepares the link header
//! and the IPv4 template once; per message it only recomputes the lengths and checksums and
//! writes headers + payload into the caller's buffer, without allocating.
//!
//! [`parse_uadp`] is the receive side filter. It accepts untagged and tagged frames (the kernel
//! strips 802.1Q tags before AF_PACKET sees them, so the `eth` receiver gets them untagged, while
//! the XDP program and AF_XDP see them tagged), and uses the IPv4 total length and the UDP
//! length, so Ethernet padding never ends up in the message. For raw 0xB62C frames there is no
//! length field: the rest of the frame is returned (the UADP decoder accepts trailing zero
//! padding). The UDP checksum is deliberately **not** verified: with veth offloads on, locally
//! generated UDP packets carry a partial checksum (CHECKSUM_PARTIAL), which a raw receiver sees
//! as wrong. The IPv4 header checksum is always computed in software and is verified.
//!
//! Some third-party stacks send UADP in IEEE 802.3 *length-field* frames instead of Ethernet II:
//! the EtherType/length field holds the length of the MAC client data (≤ 1500), followed by an
//! IEEE 802.2 LLC header with a SNAP extension that carries the EtherType (the RFC 1042 /
//! IEEE 802 "SNAP with OUI 00-00-00" encapsulation of an EtherType protocol):
//!
//! ```text
//! dst(6) src(6) [TPID 0x8100/0x88A8 + TCI] length(2, ≤ 1500)
//!   DSAP 0xAA  SSAP 0xAA  control 0x03 (UI)  OUI 00-00-00  type 0xB62C   UADP …   [padding]
//! ```
//!
//! Others (open62541 v1.4) put the UADP NetworkMessage right after the length field, with no
//! LLC header at all ("bare" 802.3):
//!
//! ```text
//! dst(6) src(6) [TPID 0x8100/0x88A8 + TCI] length(2, ≤ 1500)   UADP …   [padding]
//! ```
//!
//! The two cannot collide: LLC/SNAP starts with DSAP 0xAA, a UADP NetworkMessage with its
//! version in the low nibble of byte 0, which is 1 ([`is_uadp_v1_start`]).
//!
//! [`parse_raw_uadp`] accepts all three framings ([`EthFraming`]); for length-field frames the
//! UADP message ends where the length field says (8 bytes of LLC/SNAP included in it for the
//! SNAP variant), so padding is cut off. Any other 802.2 protocol (STP, other SNAP OUIs or
//! types) is foreign.

use std::net::Ipv4Addr;

use etherparse::{
    checksum::Sum16BitWords, EtherType, Ethernet2Header, Ethernet2Slice, IpNumber, Ipv4Header,
    Ipv4Slice, SingleVlanHeader, SingleVlanSlice, UdpHeader, UdpSlice, VlanId, VlanPcp,
};
use uadpbench_common::UADP_ETHERTYPE;

use crate::open::LinkInfo;
use crate::transport::Encap;

/// Ethernet II header bytes.
pub const ETH_HLEN: usize = Ethernet2Header::LEN;
/// 802.1Q tag bytes.
pub const VLAN_HLEN: usize = SingleVlanHeader::LEN;
/// IPv4 (no options) + UDP header bytes.
pub const IP_UDP_HLEN: usize = Ipv4Header::MIN_LEN + UdpHeader::LEN;
/// TTL of the IPv4 headers we build.
pub const IPV4_TTL: u8 = 64;

/// One 802.1Q tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// VLAN identifier, 0..=4095 (0: priority tag only).
    pub id: u16,
    /// Priority code point (802.1p class, the TSN traffic class), 0..=7.
    pub pcp: u8,
}

/// IEEE 802.2 LLC (DSAP 0xAA, SSAP 0xAA, control 0x03) + SNAP (OUI 00-00-00, type 0xB62C):
/// what follows the length field of an IEEE 802.3 length-field frame carrying UADP.
pub const LLC_SNAP_UADP: [u8; 8] = [0xAA, 0xAA, 0x03, 0x00, 0x00, 0x00, 0xB6, 0x2C];
/// Largest value of the EtherType/length field that is a length (IEEE 802.3 clause 3.2.6);
/// 0x0600 and above are EtherTypes.
pub const MAX_8023_LENGTH: u16 = 1500;

/// How a raw Ethernet frame announces UADP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EthFraming {
    /// Ethernet II: EtherType 0xB62C (what OPC UA Part 14 §7.3.4 specifies).
    #[default]
    EthernetII,
    /// IEEE 802.3 length field + LLC/SNAP header carrying type 0xB62C ([`LLC_SNAP_UADP`]).
    Ieee8023Snap,
    /// IEEE 802.3 length field, then the UADP NetworkMessage directly, without an LLC header
    /// (what open62541 v1.4 sends).
    Ieee8023Bare,
}

impl EthFraming {
    /// Every framing.
    pub const ALL: [EthFraming; 3] = [
        EthFraming::EthernetII,
        EthFraming::Ieee8023Snap,
        EthFraming::Ieee8023Bare,
    ];

    /// Bytes between the EtherType/length field and the UADP message.
    pub const fn llc_len(self) -> usize {
        match self {
            EthFraming::EthernetII | EthFraming::Ieee8023Bare => 0,
            EthFraming::Ieee8023Snap => LLC_SNAP_UADP.len(),
        }
    }

    /// Whether the EtherType/length field holds a length (IEEE 802.3) rather than 0xB62C.
    pub const fn has_length_field(self) -> bool {
        !matches!(self, EthFraming::EthernetII)
    }

    /// A short human-readable name, as reports print it.
    pub const fn describe(self) -> &'static str {
        match self {
            EthFraming::EthernetII => "Ethernet II 0xB62C",
            EthFraming::Ieee8023Snap => "IEEE 802.3 + LLC/SNAP",
            EthFraming::Ieee8023Bare => "IEEE 802.3, bare UADP",
        }
    }
}

/// Whether `data` starts like a UADP NetworkMessage of version 1: the low nibble of byte 0 is
/// the UADPVersion (the high nibble holds UADPFlags). Tells bare-UADP 802.3 frames from 802.2 LLC traffic
/// (DSAP 0xAA for SNAP, 0x42 for STP, …).
pub fn is_uadp_v1_start(data: &[u8]) -> bool {
    data.first().is_some_and(|b| b & 0x0F == 1)
}

/// A frame that carries UADP, found by [`parse_raw_uadp`] (any sender, any destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawUadp<'a> {
    /// The UADP bytes: for Ethernet II including any Ethernet padding, for 802.3 frames exactly
    /// the length field's extent.
    pub uadp: &'a [u8],
    /// The 802.1Q tag, if the frame still carried one.
    pub vlan: Option<VlanTag>,
    pub destination: [u8; 6],
    pub source: [u8; 6],
    pub framing: EthFraming,
}

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("the frame needs {need} bytes but the buffer has {have}")]
    BufferTooSmall { need: usize, have: usize },
    #[error("a {len}-byte UADP payload does not fit a UDP/IPv4 packet (at most {max} bytes)")]
    PayloadTooLarge { len: usize, max: usize },
    #[error("invalid VLAN tag: VID {id} (0..=4095) / PCP {pcp} (0..=7)")]
    InvalidVlan { id: u16, pcp: u8 },
}

/// Why a received frame is not a benchmark message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// Well-formed, but other traffic (other EtherType, protocol, port or sender).
    #[error("not a benchmark frame")]
    Foreign,
    /// Truncated or inconsistent at the Ethernet/VLAN/IPv4/UDP level.
    #[error("malformed frame")]
    Malformed,
}

/// Which frames count as benchmark frames from the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerFilter {
    /// [`Encap::Eth`]: frames must come from this source MAC.
    pub peer_mac: [u8; 6],
    /// [`Encap::Udp`]: datagrams must come from this source address.
    pub peer_ip: Ipv4Addr,
    /// [`Encap::Udp`]: datagrams must go to this destination port.
    pub udp_port: u16,
}

impl PeerFilter {
    /// The peer of `link`.
    pub fn from_link(link: &LinkInfo) -> Self {
        PeerFilter {
            peer_mac: link.peer_mac,
            peer_ip: link.peer_ip,
            udp_port: link.udp_port,
        }
    }
}

/// A benchmark frame found by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// The UADP bytes (for [`Encap::Eth`] including any Ethernet padding).
    pub uadp: &'a [u8],
    /// The 802.1Q tag, if the frame still carried one.
    pub vlan: Option<VlanTag>,
}

/// Builds frames of one encapsulation from one local end to its peer.
#[derive(Debug, Clone)]
pub struct FrameBuilder {
    encap: Encap,
    /// Ethernet (+ VLAN) header, ready to copy.
    link_hdr: [u8; ETH_HLEN + VLAN_HLEN],
    link_len: usize,
    /// IPv4 header with everything but the lengths and checksum filled in.
    ip: Ipv4Header,
    udp_port: u16,
}

impl FrameBuilder {
    /// Frames from `link`'s local end to its peer, tagged with `vlan` if given.
    pub fn new(encap: Encap, link: &LinkInfo, vlan: Option<VlanTag>) -> Result<Self, FrameError> {
        let inner = match encap {
            Encap::Eth => EtherType(UADP_ETHERTYPE),
            Encap::Udp => EtherType::IPV4,
        };
        let mut link_hdr = [0u8; ETH_HLEN + VLAN_HLEN];
        let link_len = match vlan {
            None => {
                let eth = Ethernet2Header {
                    destination: link.peer_mac,
                    source: link.local_mac,
                    ether_type: inner,
                };
                link_hdr[..ETH_HLEN].copy_from_slice(&eth.to_bytes());
                ETH_HLEN
            }
            Some(tag) => {
                let bad = FrameError::InvalidVlan {
                    id: tag.id,
                    pcp: tag.pcp,
                };
                let tag_hdr = SingleVlanHeader {
                    pcp: VlanPcp::try_new(tag.pcp).map_err(|_| bad)?,
                    drop_eligible_indicator: false,
                    vlan_id: VlanId::try_new(tag.id).map_err(|_| bad)?,
                    ether_type: inner,
                };
                let eth = Ethernet2Header {
                    destination: link.peer_mac,
                    source: link.local_mac,
                    ether_type: EtherType::VLAN_TAGGED_FRAME,
                };
                link_hdr[..ETH_HLEN].copy_from_slice(&eth.to_bytes());
                link_hdr[ETH_HLEN..].copy_from_slice(&tag_hdr.to_bytes());
                ETH_HLEN + VLAN_HLEN
            }
        };
        let ip = Ipv4Header::new(
            UdpHeader::LEN as u16,
            IPV4_TTL,
            IpNumber::UDP,
            link.local_ip.octets(),
            link.peer_ip.octets(),
        )
        .map_err(|_| FrameError::PayloadTooLarge {
            len: 0,
            max: Self::MAX_UDP_PAYLOAD,
        })?;
        Ok(FrameBuilder {
            encap,
            link_hdr,
            link_len,
            ip,
            udp_port: link.udp_port,
        })
    }

    /// Largest UADP payload of one UDP/IPv4 packet.
    pub const MAX_UDP_PAYLOAD: usize = u16::MAX as usize - IP_UDP_HLEN;

    /// The encapsulation.
    pub fn encap(&self) -> Encap {
        self.encap
    }

    /// Bytes in front of the UADP payload.
    pub fn header_len(&self) -> usize {
        match self.encap {
            Encap::Eth => self.link_len,
            Encap::Udp => self.link_len + IP_UDP_HLEN,
        }
    }

    /// Length of the frame carrying `payload_len` bytes of UADP.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        self.header_len() + payload_len
    }

    /// Writes the frame carrying `payload` to the start of `out`; returns its length.
    /// Allocation-free.
    #[inline]
    pub fn build(&self, out: &mut [u8], payload: &[u8]) -> Result<usize, FrameError> {
        let need = self.frame_len(payload.len());
        if out.len() < need {
            return Err(FrameError::BufferTooSmall {
                need,
                have: out.len(),
            });
        }
        out[..self.link_len].copy_from_slice(&self.link_hdr[..self.link_len]);
        let mut at = self.link_len;
        if self.encap == Encap::Udp {
            let too_large = FrameError::PayloadTooLarge {
                len: payload.len(),
                max: Self::MAX_UDP_PAYLOAD,
            };
            if payload.len() > Self::MAX_UDP_PAYLOAD {
                return Err(too_large);
            }
            // The template has no options: `to_bytes` yields a 20-byte array, no allocation.
            let mut ip = self.ip.clone();
            ip.set_payload_len(UdpHeader::LEN + payload.len())
                .map_err(|_| too_large)?;
            ip.header_checksum = ip.calc_header_checksum();
            let udp = UdpHeader::with_ipv4_checksum(self.udp_port, self.udp_port, &ip, payload)
                .map_err(|_| too_large)?;
            let ip_bytes = ip.to_bytes();
            out[at..at + ip_bytes.len()].copy_from_slice(&ip_bytes);
            at += ip_bytes.len();
            out[at..at + UdpHeader::LEN].copy_from_slice(&udp.to_bytes());
            at += UdpHeader::LEN;
        }
        out[at..at + payload.len()].copy_from_slice(payload);
        Ok(at + payload.len())
    }
}

/// The UADP bytes of `frame` if it is a benchmark frame of `encap` from `peer`.
#[inline]
pub fn parse_uadp<'a>(
    frame: &'a [u8],
    encap: Encap,
    peer: &PeerFilter,
) -> Result<&'a [u8], Rejected> {
    parse(frame, encap, peer).map(|p| p.uadp)
}

/// Like [`parse_uadp`], also reporting the 802.1Q tag the frame carried.
///
/// Accepts one tag (TPID 0x8100 or 0x88A8, like the XDP program); a frame with a second tag is
/// foreign. [`Encap::Eth`]: UADP in any [`EthFraming`] (EtherType 0xB62C, or an 802.3 length
/// field with LLC/SNAP or bare UADP) from `peer.peer_mac`. [`Encap::Udp`]: IPv4, not
/// fragmented, UDP to `peer.udp_port` from `peer.peer_ip`, valid IPv4 header checksum.
pub fn parse<'a>(frame: &'a [u8], encap: Encap, peer: &PeerFilter) -> Result<Parsed<'a>, Rejected> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| Rejected::Malformed)?;
    let mut ether_type = eth.ether_type();
    let mut payload = eth.payload_slice();
    let mut vlan = None;
    if ether_type == EtherType::VLAN_TAGGED_FRAME || ether_type == EtherType::PROVIDER_BRIDGING {
        let tag = SingleVlanSlice::from_slice(payload).map_err(|_| Rejected::Malformed)?;
        vlan = Some(VlanTag {
            id: tag.vlan_identifier().value(),
            pcp: tag.priority_code_point().value(),
        });
        ether_type = tag.ether_type();
        payload = tag.payload_slice();
    }
    match encap {
        Encap::Eth => {
            if eth.source() != peer.peer_mac {
                return Err(Rejected::Foreign);
            }
            let (uadp, _) = uadp_after_type(ether_type, payload)?;
            Ok(Parsed { uadp, vlan })
        }
        Encap::Udp => {
            if ether_type != EtherType::IPV4 {
                return Err(Rejected::Foreign);
            }
            // Checks version, IHL and that the total length fits; the payload ends at the total
            // length, so Ethernet padding is cut off.
            let ip = Ipv4Slice::from_slice(payload).map_err(|_| Rejected::Malformed)?;
            let header = ip.header();
            if Sum16BitWords::new()
                .add_slice(header.slice())
                .ones_complement()
                != 0
            {
                return Err(Rejected::Malformed);
            }
            if ip.payload_ip_number() != IpNumber::UDP || ip.is_payload_fragmented() {
                return Err(Rejected::Foreign);
            }
            // Cuts the payload at the UDP length (falls back to the IP payload if it is 0).
            let udp =
                UdpSlice::from_slice(ip.payload().payload).map_err(|_| Rejected::Malformed)?;
            if udp.destination_port() != peer.udp_port || header.source_addr() != peer.peer_ip {
                return Err(Rejected::Foreign);
            }
            Ok(Parsed {
                uadp: udp.payload(),
                vlan,
            })
        }
    }
}

/// The UADP bytes after the EtherType/length field `ether_type`, for every [`EthFraming`].
fn uadp_after_type(ether_type: EtherType, payload: &[u8]) -> Result<(&[u8], EthFraming), Rejected> {
    if ether_type == EtherType(UADP_ETHERTYPE) {
        return Ok((payload, EthFraming::EthernetII));
    }
    if ether_type.0 > MAX_8023_LENGTH {
        return Err(Rejected::Foreign);
    }
    uadp_in_8023_data(payload, Some(ether_type.0))
}

/// The UADP message in the MAC client data `data` of an IEEE 802.3 length-field frame (what
/// follows the length field): behind LLC/SNAP ([`EthFraming::Ieee8023Snap`]) or directly
/// ([`EthFraming::Ieee8023Bare`], when `data` starts like UADP version 1).
///
/// `length` is the frame's length field (≤ [`MAX_8023_LENGTH`]); it bounds the message, so
/// Ethernet padding is cut off. `None` when the caller has no length field, only the client
/// data (a Linux cooked capture of protocol ETH_P_802_2): then all of `data` counts, padding
/// included (the UADP decoder accepts trailing zeros).
///
/// Other 802.2 traffic is [`Rejected::Foreign`]; a length that does not cover the LLC/SNAP
/// header (or, bare, is 0), or that runs past `data`, is [`Rejected::Malformed`].
pub fn uadp_in_8023_data(
    data: &[u8],
    length: Option<u16>,
) -> Result<(&[u8], EthFraming), Rejected> {
    let framing = if data.starts_with(&LLC_SNAP_UADP) {
        EthFraming::Ieee8023Snap
    } else if is_uadp_v1_start(data) {
        EthFraming::Ieee8023Bare
    } else {
        return Err(Rejected::Foreign);
    };
    let start = framing.llc_len();
    let end = match length {
        Some(l) if l > MAX_8023_LENGTH => return Err(Rejected::Foreign),
        Some(l) => usize::from(l),
        None => data.len(),
    };
    if framing == EthFraming::Ieee8023Bare && end == 0 {
        // Not even the UADP header's first byte is inside the length.
        return Err(Rejected::Malformed);
    }
    // The length does not cover the LLC/SNAP header, or the frame is truncated.
    data.get(start..end)
        .map(|uadp| (uadp, framing))
        .ok_or(Rejected::Malformed)
}

/// The UADP message of a raw Ethernet frame from any sender: Ethernet II with EtherType 0xB62C,
/// or an IEEE 802.3 length-field frame with the LLC/SNAP header [`LLC_SNAP_UADP`] or with the
/// UADP message right after the length field (bare, as open62541 v1.4 sends), untagged or
/// with one 802.1Q/802.1ad tag. For third-party publishers, where [`parse`]'s peer filter does
/// not apply; the caller filters on [`RawUadp::destination`] / [`RawUadp::source`].
pub fn parse_raw_uadp(frame: &[u8]) -> Result<RawUadp<'_>, Rejected> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| Rejected::Malformed)?;
    let mut ether_type = eth.ether_type();
    let mut payload = eth.payload_slice();
    let mut vlan = None;
    if ether_type == EtherType::VLAN_TAGGED_FRAME || ether_type == EtherType::PROVIDER_BRIDGING {
        let tag = SingleVlanSlice::from_slice(payload).map_err(|_| Rejected::Malformed)?;
        vlan = Some(VlanTag {
            id: tag.vlan_identifier().value(),
            pcp: tag.priority_code_point().value(),
        });
        ether_type = tag.ether_type();
        payload = tag.payload_slice();
    }
    let (uadp, framing) = uadp_after_type(ether_type, payload)?;
    Ok(RawUadp {
        uadp,
        vlan,
        destination: eth.destination(),
        source: eth.source(),
        framing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    use proptest::prelude::*;

    const MAC_A: [u8; 6] = [0x02, 0x75, 0x62, 0, 0, 1];
    const MAC_B: [u8; 6] = [0x02, 0x75, 0x62, 0, 0, 2];
    const IP_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const IP_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn link(local: bool) -> LinkInfo {
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
    fn filter_b() -> PeerFilter {
        PeerFilter::from_link(&link(false))
    }

    fn payload(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + 1) as u8).collect()
    }

    #[test]
    fn eth_frame_layout_and_roundtrip() {
        let b = FrameBuilder::new(Encap::Eth, &link(true), None).unwrap();
        let msg = payload(100);
        let mut buf = [0u8; 1600];
        let n = b.build(&mut buf, &msg).unwrap();
        assert_eq!(n, 14 + 100);
        assert_eq!(b.header_len(), 14);
        assert_eq!(&buf[0..6], &MAC_B);
        assert_eq!(&buf[6..12], &MAC_A);
        assert_eq!(&buf[12..14], &[0xB6, 0x2C]);
        assert_eq!(&buf[14..n], &msg[..]);
        let p = parse(&buf[..n], Encap::Eth, &filter_b()).unwrap();
        assert_eq!(
            p,
            Parsed {
                uadp: &msg[..],
                vlan: None
            }
        );
    }

    #[test]
    fn vlan_tag_is_written_and_read() {
        let tag = VlanTag { id: 5, pcp: 3 };
        for encap in [Encap::Eth, Encap::Udp] {
            let b = FrameBuilder::new(encap, &link(true), Some(tag)).unwrap();
            let msg = payload(64);
            let mut buf = [0u8; 1600];
            let n = b.build(&mut buf, &msg).unwrap();
            assert_eq!(&buf[12..14], &[0x81, 0x00]);
            // PCP 3, DEI 0, VID 5.
            assert_eq!(&buf[14..16], &((3u16 << 13) | 5).to_be_bytes());
            let inner: &[u8] = if encap == Encap::Eth {
                &[0xB6, 0x2C]
            } else {
                &[0x08, 0x00]
            };
            assert_eq!(&buf[16..18], inner);
            let p = parse(&buf[..n], encap, &filter_b()).unwrap();
            assert_eq!(p.uadp, &msg[..]);
            assert_eq!(p.vlan, Some(tag));
        }
        assert_eq!(
            FrameBuilder::new(Encap::Eth, &link(true), Some(VlanTag { id: 4096, pcp: 0 }))
                .unwrap_err(),
            FrameError::InvalidVlan { id: 4096, pcp: 0 }
        );
        assert!(
            FrameBuilder::new(Encap::Eth, &link(true), Some(VlanTag { id: 1, pcp: 8 })).is_err()
        );
    }

    #[test]
    fn udp_frame_has_valid_checksums_and_lengths() {
        let b = FrameBuilder::new(Encap::Udp, &link(true), None).unwrap();
        let mut buf = [0u8; 1600];
        // Different sizes through the same builder: lengths and checksums follow each message.
        for len in [0usize, 1, 63, 64, 1400, 1472] {
            let msg = payload(len);
            let n = b.build(&mut buf, &msg).unwrap();
            assert_eq!(n, 14 + 28 + len);
            let pkt = SlicedPacket::from_ethernet(&buf[..n]).unwrap();
            let Some(NetSlice::Ipv4(ip)) = pkt.net else {
                panic!("no IPv4")
            };
            let h = ip.header().to_header();
            assert_eq!(h.time_to_live, 64);
            assert!(h.dont_fragment);
            assert_eq!(usize::from(h.total_len), 28 + len);
            assert_eq!(h.source, IP_A.octets());
            assert_eq!(h.destination, IP_B.octets());
            assert_eq!(h.header_checksum, h.calc_header_checksum());
            let Some(TransportSlice::Udp(udp)) = pkt.transport else {
                panic!("no UDP")
            };
            let u = udp.to_header();
            assert_eq!((u.source_port, u.destination_port), (4840, 4840));
            assert_eq!(usize::from(u.length), 8 + len);
            assert_eq!(u.checksum, u.calc_checksum_ipv4(&h, &msg).unwrap());
            assert_ne!(u.checksum, 0);
            assert_eq!(
                parse_uadp(&buf[..n], Encap::Udp, &filter_b()).unwrap(),
                &msg[..]
            );
        }
    }

    #[test]
    fn padding_is_cut_off_by_the_ip_and_udp_lengths() {
        let b = FrameBuilder::new(Encap::Udp, &link(true), None).unwrap();
        let mut buf = [0u8; 60];
        let n = b.build(&mut buf, &[1, 2, 3]).unwrap();
        assert_eq!(n, 45);
        // A NIC pads to 60 bytes.
        assert_eq!(
            parse_uadp(&buf, Encap::Udp, &filter_b()).unwrap(),
            &[1, 2, 3]
        );
        // Raw UADP: no length field, the rest of the frame comes back (the decoder skips zeros).
        let b = FrameBuilder::new(Encap::Eth, &link(true), None).unwrap();
        let n = b.build(&mut buf, &[1, 2, 3]).unwrap();
        assert_eq!(n, 17);
        let got = parse_uadp(&buf, Encap::Eth, &filter_b()).unwrap();
        assert_eq!(got.len(), 46);
        assert_eq!(&got[..3], &[1, 2, 3]);
    }

    #[test]
    fn foreign_frames_are_told_apart() {
        let msg = payload(64);
        let mut buf = [0u8; 1600];
        // Our own frames (source = the local end) are not from the peer.
        let own = FrameBuilder::new(Encap::Eth, &link(false), None).unwrap();
        let n = own.build(&mut buf, &msg).unwrap();
        assert_eq!(
            parse_uadp(&buf[..n], Encap::Eth, &filter_b()),
            Err(Rejected::Foreign)
        );
        let own = FrameBuilder::new(Encap::Udp, &link(false), None).unwrap();
        let n = own.build(&mut buf, &msg).unwrap();
        assert_eq!(
            parse_uadp(&buf[..n], Encap::Udp, &filter_b()),
            Err(Rejected::Foreign)
        );

        // Encapsulation mismatch both ways.
        let eth = FrameBuilder::new(Encap::Eth, &link(true), None).unwrap();
        let n = eth.build(&mut buf, &msg).unwrap();
        assert_eq!(
            parse_uadp(&buf[..n], Encap::Udp, &filter_b()),
            Err(Rejected::Foreign)
        );
        let udp = FrameBuilder::new(Encap::Udp, &link(true), None).unwrap();
        let n = udp.build(&mut buf, &msg).unwrap();
        assert_eq!(
            parse_uadp(&buf[..n], Encap::Eth, &filter_b()),
            Err(Rejected::Foreign)
        );

        // Other port, other protocol, ARP, IPv6, fragments.
        let mut other = link(true);
        other.udp_port = 9999;
        let n = FrameBuilder::new(Encap::Udp, &other, None)
            .unwrap()
            .build(&mut buf, &msg)
            .unwrap();
        assert_eq!(
            parse_uadp(&buf[..n], Encap::Udp, &filter_b()),
            Err(Rejected::Foreign)
        );
        let n = udp.build(&mut buf, &msg).unwrap();
        let mut tcp = buf[..n].to_vec();
        tcp[14 + 9] = 6;
        fix_ip_checksum(&mut tcp);
        assert_eq!(
            parse_uadp(&tcp, Encap::Udp, &filter_b()),
            Err(Rejected::Foreign)
        );
        let mut frag = buf[..n].to_vec();
        frag[14 + 6] = 0x20; // MF
        fix_ip_checksum(&mut frag);
        assert_eq!(
            parse_uadp(&frag, Encap::Udp, &filter_b()),
            Err(Rejected::Foreign)
        );
        let mut arp = buf[..60].to_vec();
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert_eq!(
            parse_uadp(&arp, Encap::Udp, &filter_b()),
            Err(Rejected::Foreign)
        );
        assert_eq!(
            parse_uadp(&arp, Encap::Eth, &filter_b()),
            Err(Rejected::Foreign)
        );
    }

    fn fix_ip_checksum(frame: &mut [u8]) {
        frame[24..26].copy_from_slice(&[0, 0]);
        let ck = Sum16BitWords::new()
            .add_slice(&frame[14..34])
            .ones_complement();
        // The sum is over native-endian words.
        frame[24..26].copy_from_slice(&ck.to_ne_bytes());
    }

    #[test]
    fn malformed_frames_are_told_apart() {
        let msg = payload(64);
        let mut buf = [0u8; 1600];
        let udp = FrameBuilder::new(Encap::Udp, &link(true), None).unwrap();
        let n = udp.build(&mut buf, &msg).unwrap();
        let good = buf[..n].to_vec();
        for encap in [Encap::Eth, Encap::Udp] {
            assert_eq!(
                parse_uadp(&good[..13], encap, &filter_b()),
                Err(Rejected::Malformed)
            );
            // A VLAN TPID with the tag cut off.
            let mut short_tag = good[..15].to_vec();
            short_tag[12..14].copy_from_slice(&[0x81, 0x00]);
            assert_eq!(
                parse_uadp(&short_tag, encap, &filter_b()),
                Err(Rejected::Malformed)
            );
        }
        // Truncated IPv4 (total length beyond the frame).
        assert_eq!(
            parse_uadp(&good[..n - 1], Encap::Udp, &filter_b()),
            Err(Rejected::Malformed)
        );
        // Bad IPv4 header checksum.
        let mut bad = good.clone();
        bad[24] ^= 0xff;
        assert_eq!(
            parse_uadp(&bad, Encap::Udp, &filter_b()),
            Err(Rejected::Malformed)
        );
        // IHL < 5.
        let mut bad = good.clone();
        bad[14] = 0x44;
        assert_eq!(
            parse_uadp(&bad, Encap::Udp, &filter_b()),
            Err(Rejected::Malformed)
        );
        // UDP length beyond the IP payload.
        let mut bad = good.clone();
        bad[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(
            parse_uadp(&bad, Encap::Udp, &filter_b()),
            Err(Rejected::Malformed)
        );
        // A wrong UDP checksum (as with CHECKSUM_PARTIAL on veth) is accepted.
        let mut partial = good.clone();
        partial[14 + 20 + 6] ^= 0x5a;
        assert_eq!(parse_uadp(&partial, Encap::Udp, &filter_b()), Ok(&msg[..]));
    }

    #[test]
    fn buffer_and_payload_limits() {
        let b =
            FrameBuilder::new(Encap::Udp, &link(true), Some(VlanTag { id: 1, pcp: 0 })).unwrap();
        let mut small = [0u8; 50];
        assert_eq!(
            b.build(&mut small, &[0; 10]),
            Err(FrameError::BufferTooSmall {
                need: 14 + 4 + 28 + 10,
                have: 50
            })
        );
        let big = vec![0u8; FrameBuilder::MAX_UDP_PAYLOAD + 1];
        let mut out = vec![0u8; big.len() + 100];
        assert!(matches!(
            b.build(&mut out, &big),
            Err(FrameError::PayloadTooLarge { .. })
        ));
        let ok = vec![0u8; FrameBuilder::MAX_UDP_PAYLOAD];
        assert_eq!(b.build(&mut out, &ok).unwrap(), 18 + 65535);
    }

    /// An IEEE 802.3 length-field frame from A to `dst` carrying `msg` behind LLC/SNAP,
    /// optionally tagged, padded to the 60-byte minimum like a NIC does.
    fn snap_frame(dst: [u8; 6], msg: &[u8], vlan: Option<VlanTag>) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&MAC_A);
        if let Some(t) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&((u16::from(t.pcp) << 13) | t.id).to_be_bytes());
        }
        let len = u16::try_from(LLC_SNAP_UADP.len() + msg.len()).unwrap();
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&LLC_SNAP_UADP);
        f.extend_from_slice(msg);
        if f.len() < 60 {
            f.resize(60, 0);
        }
        f
    }

    #[test]
    fn ieee_8023_length_field_frames_with_llc_snap_are_accepted() {
        for vlan in [None, Some(VlanTag { id: 5, pcp: 3 })] {
            for len in [1usize, 3, 30, 64, 1492] {
                let msg = payload(len);
                let frame = snap_frame(MAC_B, &msg, vlan);
                let raw = parse_raw_uadp(&frame).unwrap();
                // The length field cuts the padding off exactly.
                assert_eq!(raw.uadp, &msg[..]);
                assert_eq!(raw.framing, EthFraming::Ieee8023Snap);
                assert_eq!(
                    (raw.destination, raw.source, raw.vlan),
                    (MAC_B, MAC_A, vlan)
                );
                // The benchmark's eth receiver accepts them too (from its peer only).
                let p = parse(&frame, Encap::Eth, &filter_b()).unwrap();
                assert_eq!((p.uadp, p.vlan), (&msg[..], vlan));
                assert_eq!(
                    parse(&frame, Encap::Udp, &filter_b()),
                    Err(Rejected::Foreign)
                );
            }
        }
        // Ethernet II through the same entry point: padding stays (no length field).
        let b = FrameBuilder::new(Encap::Eth, &link(true), None).unwrap();
        let mut buf = [0u8; 60];
        b.build(&mut buf, &[1, 2, 3]).unwrap();
        let raw = parse_raw_uadp(&buf).unwrap();
        assert_eq!(raw.framing, EthFraming::EthernetII);
        assert_eq!((raw.uadp.len(), &raw.uadp[..3]), (46, &[1u8, 2, 3][..]));
    }

    #[test]
    fn other_8023_frames_are_foreign_and_bad_lengths_malformed() {
        let msg = payload(20);
        let good = snap_frame(MAC_B, &msg, None);
        // STP (LLC 42-42-03), another SNAP type, another OUI.
        for (at, byte) in [(14, 0x42u8), (15, 0x42), (20, 0x08), (19, 0x01), (17, 0x0c)] {
            let mut f = good.clone();
            f[at] = byte;
            assert_eq!(parse_raw_uadp(&f), Err(Rejected::Foreign), "byte {at}");
        }
        // 1501..=1535 are neither lengths nor EtherTypes.
        let mut f = good.clone();
        f[12..14].copy_from_slice(&1501u16.to_be_bytes());
        assert_eq!(parse_raw_uadp(&f), Err(Rejected::Foreign));
        // A length that does not cover LLC/SNAP, or runs past the frame.
        for len in [0u16, 7, 47, 1500] {
            let mut f = good.clone();
            f[12..14].copy_from_slice(&len.to_be_bytes());
            assert_eq!(parse_raw_uadp(&f), Err(Rejected::Malformed), "length {len}");
        }
        // Length exactly the LLC/SNAP header: an empty UADP message (the decoder rejects it).
        let mut f = good.clone();
        f[12..14].copy_from_slice(&8u16.to_be_bytes());
        assert_eq!(parse_raw_uadp(&f).unwrap().uadp, &[] as &[u8]);
        // Truncated before the SNAP header ends: cannot be ours.
        assert_eq!(parse_raw_uadp(&good[..18]), Err(Rejected::Foreign));
        assert_eq!(parse_raw_uadp(&good[..10]), Err(Rejected::Malformed));
    }

    /// A frame open62541 v1.4 sent (SDK tutorial publisher, opc.eth://01-00-5e-7f-00-01):
    /// IEEE 802.3 length 0x003b, then 59 bytes of UADP, no LLC header, no padding.
    const OPEN62541_BARE_8023: &str = "01005e7f000162eac941d008003b\
        f101ba080964000000014df4e9100000a8bbac9d3b82dd01080a3d7836093d7804000dc6bbac9d3b82dd01\
        06000000000800000000000000000101";

    fn unhex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(u8::is_ascii_hexdigit)
            .map(|c| (c as char).to_digit(16).unwrap() as u8)
            .collect();
        digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect()
    }

    /// An IEEE 802.3 length-field frame from A to `dst` carrying `msg` right after the length
    /// field (bare, like open62541 v1.4), optionally tagged, padded to the 60-byte minimum.
    fn bare_frame(dst: [u8; 6], msg: &[u8], vlan: Option<VlanTag>) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&MAC_A);
        if let Some(t) = vlan {
            f.extend_from_slice(&[0x81, 0x00]);
            f.extend_from_slice(&((u16::from(t.pcp) << 13) | t.id).to_be_bytes());
        }
        let len = u16::try_from(msg.len()).unwrap();
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(msg);
        if f.len() < 60 {
            f.resize(60, 0);
        }
        f
    }

    /// A UADP-looking message: byte 0 is 0xF1 (version 1), the rest [`payload`].
    fn uadp_like(len: usize) -> Vec<u8> {
        let mut m = payload(len);
        if let Some(b) = m.first_mut() {
            *b = 0xF1;
        }
        m
    }

    #[test]
    fn open62541_bare_8023_frame_is_accepted_and_decodes() {
        let frame = unhex(OPEN62541_BARE_8023);
        assert_eq!(frame.len(), 14 + 59);
        let raw = parse_raw_uadp(&frame).unwrap();
        assert_eq!(raw.framing, EthFraming::Ieee8023Bare);
        assert_eq!(raw.destination, [0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01]);
        assert_eq!(raw.source, [0x62, 0xea, 0xc9, 0x41, 0xd0, 0x08]);
        assert_eq!(raw.vlan, None);
        assert_eq!(raw.uadp, &frame[14..]);

        // The SDK tutorial's identities and DataSet (DateTime, Int32, Int64, Boolean).
        let m = uadp::NetworkMessage::decode(raw.uadp).unwrap();
        assert_eq!(m.publisher_id, Some(uadp::PublisherId::UInt16(2234)));
        let g = m.group_header.unwrap();
        assert_eq!((g.writer_group_id, g.sequence_number), (Some(100), Some(0)));
        let d = &m.dataset_messages()[0];
        assert_eq!(d.writer_id, Some(62541));
        let values: Vec<uadp::Scalar<'_>> = d
            .fields(None)
            .map(|f| match f.unwrap().value {
                uadp::FieldValue::Variant(uadp::Variant::Scalar(s)) => s,
                other => panic!("not a scalar Variant: {other:?}"),
            })
            .collect();
        assert_eq!(
            values,
            [
                uadp::Scalar::DateTime(uadp::DateTime(0x01dd_823b_9dac_bbc6)),
                uadp::Scalar::Int32(0),
                uadp::Scalar::Int64(0),
                uadp::Scalar::Boolean(true),
            ]
        );

        // The benchmark's eth receiver takes it from its peer only.
        let mut from_peer = frame.clone();
        from_peer[6..12].copy_from_slice(&MAC_A);
        assert_eq!(
            parse(&from_peer, Encap::Eth, &filter_b()).unwrap().uadp,
            &frame[14..]
        );
        assert_eq!(
            parse(&frame, Encap::Eth, &filter_b()),
            Err(Rejected::Foreign)
        );
        assert_eq!(
            parse(&from_peer, Encap::Udp, &filter_b()),
            Err(Rejected::Foreign)
        );
    }

    #[test]
    fn ieee_8023_bare_frames_are_accepted_with_padding_cut_off() {
        for vlan in [None, Some(VlanTag { id: 5, pcp: 3 })] {
            for len in [1usize, 3, 30, 46, 64, 1500] {
                let msg = uadp_like(len);
                let frame = bare_frame(MAC_B, &msg, vlan);
                let raw = parse_raw_uadp(&frame).unwrap();
                assert_eq!(raw.uadp, &msg[..], "length {len}");
                assert_eq!(raw.framing, EthFraming::Ieee8023Bare);
                assert_eq!(
                    (raw.destination, raw.source, raw.vlan),
                    (MAC_B, MAC_A, vlan)
                );
                let p = parse(&frame, Encap::Eth, &filter_b()).unwrap();
                assert_eq!((p.uadp, p.vlan), (&msg[..], vlan));
            }
        }
        // Any UADPFlags in the high nibble: only the version (low nibble 1) counts.
        for byte0 in [0x01u8, 0x11, 0x91, 0xF1] {
            let mut msg = uadp_like(20);
            msg[0] = byte0;
            let frame = bare_frame(MAC_B, &msg, None);
            assert_eq!(parse_raw_uadp(&frame).unwrap().uadp, &msg[..]);
        }
        // The open62541 conformance vector V2 in a bare frame decodes.
        let v2 = unhex(
            "f101ba08016400014df4e11000c08976453cda0101000000020000000400\
             0d00c08976453cda0106d6ffffff08cb04fb711f0100000101",
        );
        let frame = bare_frame([1, 0, 0x5e, 0x7f, 0, 1], &v2, None);
        let raw = parse_raw_uadp(&frame).unwrap();
        assert_eq!(raw.uadp, &v2[..]);
        let m = uadp::NetworkMessage::decode(raw.uadp).unwrap();
        assert_eq!(m.dataset_messages()[0].writer_id, Some(62541));
    }

    #[test]
    fn bare_8023_length_beyond_the_frame_is_malformed() {
        let msg = uadp_like(59);
        let good = bare_frame(MAC_B, &msg, None);
        assert_eq!(good.len(), 14 + 59);
        // One byte more than the frame holds, and the largest length.
        for len in [60u16, 61, 1500] {
            let mut f = good.clone();
            f[12..14].copy_from_slice(&len.to_be_bytes());
            assert_eq!(parse_raw_uadp(&f), Err(Rejected::Malformed), "length {len}");
            assert_eq!(
                parse(&f, Encap::Eth, &filter_b()),
                Err(Rejected::Malformed),
                "length {len}"
            );
        }
        // The captured open62541 frame cut short by one byte.
        let frame = unhex(OPEN62541_BARE_8023);
        assert_eq!(
            parse_raw_uadp(&frame[..frame.len() - 1]),
            Err(Rejected::Malformed)
        );
        // A length of 0 does not even cover the UADP version byte.
        let mut f = good.clone();
        f[12..14].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(parse_raw_uadp(&f), Err(Rejected::Malformed));
        // A padded short message: the length, not the frame, bounds it.
        let short = bare_frame(MAC_B, &msg[..5], None);
        assert_eq!(short.len(), 60);
        assert_eq!(parse_raw_uadp(&short).unwrap().uadp, &msg[..5]);
        let mut f = short.clone();
        f[12..14].copy_from_slice(&46u16.to_be_bytes());
        assert_eq!(parse_raw_uadp(&f).unwrap().uadp.len(), 46);
        f[12..14].copy_from_slice(&47u16.to_be_bytes());
        assert_eq!(parse_raw_uadp(&f), Err(Rejected::Malformed));
    }

    #[test]
    fn non_uadp_8023_frames_stay_other_traffic() {
        // STP BPDU: 802.3 length, LLC 42-42-03, protocol id 0, version 0, … padded to 60.
        let mut stp = vec![0x01, 0x80, 0xc2, 0, 0, 0];
        stp.extend_from_slice(&MAC_A);
        stp.extend_from_slice(&39u16.to_be_bytes());
        stp.extend_from_slice(&[0x42, 0x42, 0x03, 0x00, 0x00, 0x00, 0x00]);
        stp.resize(60, 0);
        assert_eq!(parse_raw_uadp(&stp), Err(Rejected::Foreign));
        assert_eq!(parse(&stp, Encap::Eth, &filter_b()), Err(Rejected::Foreign));
        // Other LLC SAPs (IPX 0xE0, NetBIOS 0xF0, null 0x00), and Novell raw 802.3 (0xFFFF);
        // UADP version 2 or 0 is not version 1 either.
        for byte0 in [0xE0u8, 0xF0, 0x00, 0xFF, 0xF2, 0xF0] {
            let mut f = bare_frame(MAC_B, &uadp_like(40), None);
            f[14] = byte0;
            f[15] = byte0;
            assert_eq!(
                parse_raw_uadp(&f),
                Err(Rejected::Foreign),
                "byte0 {byte0:#04x}"
            );
        }
        // An empty 802.3 frame (length 0, nothing after it).
        let mut empty = bare_frame(MAC_B, &[], None);
        empty.truncate(14);
        assert_eq!(parse_raw_uadp(&empty), Err(Rejected::Foreign));
    }

    #[test]
    fn all_three_framings_through_one_entry_point() {
        let msg = uadp_like(33);
        let b = FrameBuilder::new(Encap::Eth, &link(true), None).unwrap();
        let mut buf = [0u8; 128];
        let n = b.build(&mut buf, &msg).unwrap();
        let frames = [
            (buf[..n].to_vec(), EthFraming::EthernetII),
            (snap_frame(MAC_B, &msg, None), EthFraming::Ieee8023Snap),
            (bare_frame(MAC_B, &msg, None), EthFraming::Ieee8023Bare),
        ];
        for (frame, framing) in &frames {
            let raw = parse_raw_uadp(frame).unwrap();
            assert_eq!(raw.framing, *framing);
            assert_eq!(&raw.uadp[..msg.len()], &msg[..]);
            assert_eq!(raw.uadp.len(), msg.len(), "{framing:?}");
            assert_eq!(parse_uadp(frame, Encap::Eth, &filter_b()), Ok(raw.uadp));
        }
        assert_eq!(EthFraming::ALL.map(EthFraming::llc_len), [0, 8, 0]);
        // Client data without a length field (a Linux cooked capture of ETH_P_802_2).
        let bare = bare_frame(MAC_B, &msg[..4], None);
        assert_eq!(
            uadp_in_8023_data(&bare[14..], None),
            Ok((&bare[14..], EthFraming::Ieee8023Bare))
        );
        let snap = snap_frame(MAC_B, &msg[..4], None);
        assert_eq!(
            uadp_in_8023_data(&snap[14..], None),
            Ok((&snap[22..], EthFraming::Ieee8023Snap))
        );
        assert_eq!(
            uadp_in_8023_data(&[0x42, 0x42, 3], None),
            Err(Rejected::Foreign)
        );
        assert_eq!(
            uadp_in_8023_data(&[0xf1], Some(1501)),
            Err(Rejected::Foreign)
        );
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic_in_parse_raw_uadp(
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            if let Ok(r) = parse_raw_uadp(&bytes) {
                prop_assert!(r.uadp.len() <= bytes.len());
            }
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for encap in [Encap::Eth, Encap::Udp] {
                let _ = parse(&bytes, encap, &filter_b());
            }
        }

        /// Random mutations of a valid frame never panic, and what is accepted lies inside it.
        #[test]
        fn mutated_frames_never_panic(
            len in 0usize..300,
            tagged in any::<bool>(),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in any::<usize>(),
        ) {
            for encap in [Encap::Eth, Encap::Udp] {
                let vlan = tagged.then_some(VlanTag { id: 7, pcp: 1 });
                let b = FrameBuilder::new(encap, &link(true), vlan).unwrap();
                let mut buf = vec![0u8; 400];
                let n = b.build(&mut buf, &payload(len)).unwrap();
                let mut frame = buf[..n].to_vec();
                for (at, x) in &flips {
                    let i = at % frame.len();
                    frame[i] ^= x;
                }
                frame.truncate(cut % (frame.len() + 1));
                if let Ok(p) = parse(&frame, encap, &filter_b()) {
                    prop_assert!(p.uadp.len() <= frame.len());
                }
            }
        }

        /// Every framing round-trips, and mutated or cut frames of each never panic and
        /// never yield bytes outside the frame or past a length field.
        #[test]
        fn each_framing_roundtrips_and_mutations_never_panic(
            len in 1usize..=1492,
            tagged in any::<bool>(),
            framing in prop::sample::select(EthFraming::ALL.to_vec()),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            cut in any::<usize>(),
        ) {
            let vlan = tagged.then_some(VlanTag { id: 7, pcp: 1 });
            let msg = uadp_like(len);
            let frame = match framing {
                EthFraming::EthernetII => {
                    let b = FrameBuilder::new(Encap::Eth, &link(true), vlan).unwrap();
                    let mut buf = vec![0u8; 1600];
                    let n = b.build(&mut buf, &msg).unwrap();
                    buf.truncate(n.max(60));
                    buf
                }
                EthFraming::Ieee8023Snap => snap_frame(MAC_B, &msg, vlan),
                EthFraming::Ieee8023Bare => bare_frame(MAC_B, &msg, vlan),
            };
            let raw = parse_raw_uadp(&frame).unwrap();
            prop_assert_eq!(raw.framing, framing);
            prop_assert_eq!(raw.vlan, vlan);
            prop_assert_eq!(&raw.uadp[..len], &msg[..]);
            if framing.has_length_field() {
                prop_assert_eq!(raw.uadp.len(), len);
            }
            let mut bad = frame.clone();
            for (at, x) in &flips {
                let i = at % bad.len();
                bad[i] ^= x;
            }
            bad.truncate(cut % (bad.len() + 1));
            if let Ok(r) = parse_raw_uadp(&bad) {
                let start = r.uadp.as_ptr() as usize - bad.as_ptr() as usize;
                prop_assert!(start + r.uadp.len() <= bad.len());
                if r.framing.has_length_field() {
                    let at = start - r.framing.llc_len() - 2;
                    let field = usize::from(u16::from_be_bytes([bad[at], bad[at + 1]]));
                    prop_assert_eq!(r.uadp.len() + r.framing.llc_len(), field);
                }
            }
            let _ = parse(&bad, Encap::Eth, &filter_b());
        }
    }
}
