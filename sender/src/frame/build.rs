//! [`FrameBuilder`]: writes the Ethernet II (+ 802.1Q) header and, for [`Encap::Udp`], the IPv4
//! and UDP headers with their lengths and checksums in front of a UADP message.

use etherparse::{
    EtherType, Ethernet2Header, IpNumber, Ipv4Header, SingleVlanHeader, UdpHeader, VlanId, VlanPcp,
};
use uadpbench_common::UADP_ETHERTYPE;

use super::{VlanTag, ETH_HLEN, VLAN_HLEN};
use crate::open::LinkInfo;
use crate::transport::Encap;

/// IPv4 (no options) + UDP header bytes.
pub const IP_UDP_HLEN: usize = Ipv4Header::MIN_LEN + UdpHeader::LEN;
/// TTL of the IPv4 headers we build.
pub const IPV4_TTL: u8 = 64;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::test_support::*;
    use crate::frame::{parse, parse_uadp, Parsed};
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

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
}
