//! Finding UADP NetworkMessages in captures: pcap and pcapng files, Ethernet / Linux cooked
//! (SLL, SLL2) / raw IP link types; UADP is taken from EtherType 0xB62C frames (VLAN-tagged or
//! not) and from UDP datagrams with a port in 4840–4850.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::ops::RangeInclusive;

use etherparse::{EtherType, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;

/// UDP ports whose payloads are taken as UADP.
pub const UADP_UDP_PORTS: RangeInclusive<u16> = 4840..=4850;

/// One captured frame.
#[derive(Debug, Clone)]
pub struct Frame<'a> {
    /// 1-based frame number in the file, as Wireshark counts.
    pub number: u64,
    pub link: DataLink,
    pub data: Cow<'a, [u8]>,
}

/// Where a UADP message was found in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    Ethernet,
    Udp { src_port: u16, dst_port: u16 },
}

/// Errors reading a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot read the capture: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "not a pcap or pcapng file (magic {0:02x?}); write captures with tcpdump -w or Wireshark"
    )]
    UnknownFormat([u8; 4]),
    #[error("malformed capture: {0}")]
    Pcap(#[from] pcap_file::PcapError),
}

/// Reads every frame of a pcap or pcapng capture.
pub fn read_frames(mut input: impl Read) -> Result<Vec<Frame<'static>>, CaptureError> {
    let mut bytes = Vec::new();
    input.read_to_end(&mut bytes)?;
    let magic: [u8; 4] = match bytes.get(..4) {
        Some(m) => [m[0], m[1], m[2], m[3]],
        None => return Err(CaptureError::UnknownFormat([0; 4])),
    };
    let mut frames = Vec::new();
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let mut r = PcapNgReader::new(&bytes[..])?;
            let mut links: HashMap<u32, DataLink> = HashMap::new();
            let mut next_if = 0u32;
            let mut n = 0u64;
            while let Some(block) = r.next_block() {
                match block? {
                    Block::SectionHeader(_) => {
                        links.clear();
                        next_if = 0;
                    }
                    Block::InterfaceDescription(i) => {
                        links.insert(next_if, i.linktype);
                        next_if += 1;
                    }
                    Block::EnhancedPacket(p) => {
                        n += 1;
                        let link = links
                            .get(&p.interface_id)
                            .copied()
                            .unwrap_or(DataLink::ETHERNET);
                        frames.push(Frame {
                            number: n,
                            link,
                            data: Cow::Owned(p.data.into_owned()),
                        });
                    }
                    Block::SimplePacket(p) => {
                        n += 1;
                        let link = links.get(&0).copied().unwrap_or(DataLink::ETHERNET);
                        frames.push(Frame {
                            number: n,
                            link,
                            data: Cow::Owned(p.data.into_owned()),
                        });
                    }
                    _ => {}
                }
            }
        }
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => {
            let mut r = PcapReader::new(&bytes[..])?;
            let link = r.header().datalink;
            let mut n = 0u64;
            while let Some(p) = r.next_packet() {
                n += 1;
                frames.push(Frame {
                    number: n,
                    link,
                    data: Cow::Owned(p?.data.into_owned()),
                });
            }
        }
        other => return Err(CaptureError::UnknownFormat(other)),
    }
    Ok(frames)
}

/// The UADP bytes a frame carries, if any.
pub fn uadp_payload(link: DataLink, data: &[u8]) -> Option<(Carrier, &[u8])> {
    let sliced = match link {
        DataLink::ETHERNET => SlicedPacket::from_ethernet(data).ok()?,
        DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(data).ok()?,
        DataLink::LINUX_SLL2 => return sll2_payload(data),
        DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(data).ok()?,
        DataLink::NULL | DataLink::LOOP => SlicedPacket::from_ip(data.get(4..)?).ok()?,
        _ => return None,
    };
    uadp_in(&sliced)
}

fn uadp_in<'a>(sliced: &SlicedPacket<'a>) -> Option<(Carrier, &'a [u8])> {
    if let Some(TransportSlice::Udp(u)) = &sliced.transport {
        let (src_port, dst_port) = (u.source_port(), u.destination_port());
        if UADP_UDP_PORTS.contains(&dst_port) || UADP_UDP_PORTS.contains(&src_port) {
            return Some((Carrier::Udp { src_port, dst_port }, u.payload()));
        }
        return None;
    }
    let p = sliced.ether_payload()?;
    (p.ether_type == EtherType(uadp::UADP_ETHERTYPE)).then_some((Carrier::Ethernet, p.payload))
}

/// Linux cooked capture v2: 20-byte header, protocol type in the first two bytes (big endian).
fn sll2_payload(data: &[u8]) -> Option<(Carrier, &[u8])> {
    let proto = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    let payload = data.get(20..)?;
    if proto == uadp::UADP_ETHERTYPE {
        return Some((Carrier::Ethernet, payload));
    }
    let sliced = etherparse::SlicedPacket::from_ether_type(EtherType(proto), payload).ok()?;
    uadp_in(&sliced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    #[test]
    fn finds_uadp_in_udp_and_ethernet() {
        let uadp = [0xf1u8, 0x01, 0xba, 0x08];
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
            .udp(40000, 4840);
        let mut udp = Vec::new();
        b.write(&mut udp, &uadp).unwrap();
        assert_eq!(
            uadp_payload(DataLink::ETHERNET, &udp),
            Some((
                Carrier::Udp {
                    src_port: 40000,
                    dst_port: 4840
                },
                &uadp[..]
            ))
        );

        let mut eth = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0xb6, 0x2c];
        eth.extend_from_slice(&uadp);
        assert_eq!(
            uadp_payload(DataLink::ETHERNET, &eth),
            Some((Carrier::Ethernet, &uadp[..]))
        );

        // Foreign UDP port: not UADP.
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([198, 18, 0, 1], [198, 18, 0, 2], 64)
            .udp(40000, 53);
        let mut dns = Vec::new();
        b.write(&mut dns, &uadp).unwrap();
        assert_eq!(uadp_payload(DataLink::ETHERNET, &dns), None);
    }

    #[test]
    fn vlan_tagged_uadp_frame() {
        let uadp = [0xf1u8, 0x01];
        let mut eth = vec![
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x81, 0x00, 0xa0, 0x05, 0xb6, 0x2c,
        ];
        eth.extend_from_slice(&uadp);
        assert_eq!(
            uadp_payload(DataLink::ETHERNET, &eth),
            Some((Carrier::Ethernet, &uadp[..]))
        );
    }

    #[test]
    fn garbage_is_not_a_capture() {
        assert!(matches!(
            read_frames(&b"hello world"[..]),
            Err(CaptureError::UnknownFormat(_))
        ));
        assert!(read_frames(&b""[..]).is_err());
    }
}
