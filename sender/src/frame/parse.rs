//! Classifying received frames: [`parse`] / [`parse_uadp`] (benchmark frames from the peer, for
//! the `eth` and `xdp` receivers) and [`parse_raw_uadp`] (UADP from any sender, in any
//! [`EthFraming`]).

use std::net::Ipv4Addr;

use etherparse::{
    checksum::Sum16BitWords, EtherType, Ethernet2Slice, IpNumber, Ipv4Slice, SingleVlanSlice,
    UdpSlice,
};

use super::ieee8023::uadp_after_type;
use super::{EthFraming, VlanTag};
use crate::open::LinkInfo;
use crate::transport::Encap;

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

/// The UADP bytes of `frame` if it is a benchmark frame of `encap` from `peer`.
#[inline]
pub fn parse_uadp<'a>(
    frame: &'a [u8],
    encap: Encap,
    peer: &PeerFilter,
) -> Result<&'a [u8], Rejected> {
    parse(frame, encap, peer).map(|p| p.uadp)
}

/// An Ethernet II frame with at most one 802.1Q / 802.1ad tag taken off.
struct Untagged<'a> {
    eth: Ethernet2Slice<'a>,
    /// The EtherType (or 802.3 length) after the tag.
    ether_type: EtherType,
    /// What follows it.
    payload: &'a [u8],
    vlan: Option<VlanTag>,
}

fn untag(frame: &[u8]) -> Result<Untagged<'_>, Rejected> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| Rejected::Malformed)?;
    let ether_type = eth.ether_type();
    if ether_type == EtherType::VLAN_TAGGED_FRAME || ether_type == EtherType::PROVIDER_BRIDGING {
        let tag =
            SingleVlanSlice::from_slice(eth.payload_slice()).map_err(|_| Rejected::Malformed)?;
        let vlan = VlanTag {
            id: tag.vlan_identifier().value(),
            pcp: tag.priority_code_point().value(),
        };
        return Ok(Untagged {
            eth,
            ether_type: tag.ether_type(),
            payload: tag.payload_slice(),
            vlan: Some(vlan),
        });
    }
    Ok(Untagged {
        payload: eth.payload_slice(),
        eth,
        ether_type,
        vlan: None,
    })
}

/// Like [`parse_uadp`], also reporting the 802.1Q tag the frame carried.
///
/// Accepts one tag (TPID 0x8100 or 0x88A8, like the XDP program); a frame with a second tag is
/// foreign. [`Encap::Eth`]: UADP in any [`EthFraming`] (EtherType 0xB62C, or an 802.3 length
/// field with LLC/SNAP or bare UADP) from `peer.peer_mac`. [`Encap::Udp`]: IPv4, not
/// fragmented, UDP to `peer.udp_port` from `peer.peer_ip`, valid IPv4 header checksum.
pub fn parse<'a>(frame: &'a [u8], encap: Encap, peer: &PeerFilter) -> Result<Parsed<'a>, Rejected> {
    let Untagged {
        eth,
        ether_type,
        payload,
        vlan,
    } = untag(frame)?;
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

/// The UADP message of a raw Ethernet frame from any sender: Ethernet II with EtherType 0xB62C,
/// or an IEEE 802.3 length-field frame with the LLC/SNAP header [`LLC_SNAP_UADP`] or with the
/// UADP message right after the length field (bare, as open62541 v1.4 sends), untagged or
/// with one 802.1Q/802.1ad tag. For third-party publishers, where [`parse`]'s peer filter does
/// not apply; the caller filters on [`RawUadp::destination`] / [`RawUadp::source`].
///
/// [`LLC_SNAP_UADP`]: super::LLC_SNAP_UADP
pub fn parse_raw_uadp(frame: &[u8]) -> Result<RawUadp<'_>, Rejected> {
    let Untagged {
        eth,
        ether_type,
        payload,
        vlan,
    } = untag(frame)?;
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
    use crate::frame::test_support::*;
    use crate::frame::FrameBuilder;
    use proptest::prelude::*;

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
    }
}
