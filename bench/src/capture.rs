//! Finding UADP NetworkMessages in captures: pcap and pcapng files, Ethernet / Linux cooked
//! (SLL, SLL2) / raw IP link types; UADP is taken from EtherType 0xB62C frames (VLAN-tagged or
//! not), from IEEE 802.3 length-field frames that carry it behind LLC/SNAP or bare (right after
//! the length field, as open62541 v1.4 sends; the length field cuts the padding off) — the
//! frame parser of `subscribe`, [`uadpbench_sender::frame::parse_raw_uadp`] — and from UDP
//! datagrams with a port in 4840–4850. Linux cooked captures (`tcpdump -i any`) keep no length
//! field: their 802.2 frames (protocol ETH_P_802_2) are taken whole, padding included.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::ops::RangeInclusive;

use etherparse::{EtherType, LinkSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::DataLink;
use uadpbench_sender::frame::{parse_raw_uadp, uadp_in_8023_data, EthFraming, MAX_8023_LENGTH};

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
    /// Directly in Ethernet, in this framing.
    Ethernet(EthFraming),
    Udp {
        src_port: u16,
        dst_port: u16,
    },
}

/// Linux's protocol number for IEEE 802.2 LLC frames (`ETH_P_802_2`): what a cooked capture
/// records for an 802.3 length-field frame that is not Novell raw IPX.
const ETH_P_802_2: u16 = 0x0004;
/// `ARPHRD_ETHER`: the cooked header's link-layer type for Ethernet devices.
const ARPHRD_ETHER: u16 = 1;

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
pub fn read_frames(input: impl Read) -> Result<Vec<Frame<'static>>, CaptureError> {
    let r = read_frames_partial(input)?;
    match r.error {
        Some(e) => Err(e),
        None => Ok(r.frames),
    }
}

/// The frames of a capture up to the first bad record, and that record's error.
pub struct FramesRead {
    pub frames: Vec<Frame<'static>>,
    /// Why reading stopped before the end (a truncated last record, say).
    pub error: Option<CaptureError>,
}

/// Like [`read_frames`], but keeps every complete frame before a bad or truncated record
/// (`Err` only when the file is not a capture at all).
pub fn read_frames_partial(input: impl Read) -> Result<FramesRead, CaptureError> {
    let mut frames = Vec::new();
    let read = for_each_frame(input, |f| {
        frames.push(Frame {
            number: f.number,
            link: f.link,
            data: Cow::Owned(f.data.into_owned()),
        });
        Ok::<(), std::convert::Infallible>(())
    });
    match read {
        Ok(FramesStreamed { error, .. }) => Ok(FramesRead { frames, error }),
        Err(StreamError::Capture(e)) => Err(e),
        Err(StreamError::Visitor(never)) => match never {},
    }
}

/// How a streamed capture ended.
#[derive(Debug)]
pub struct FramesStreamed {
    /// Complete frames handed to the visitor.
    pub frames: u64,
    /// Why reading stopped before the end (a truncated last record, say).
    pub error: Option<CaptureError>,
}

/// Why [`for_each_frame`] gave up.
#[derive(Debug)]
pub enum StreamError<E> {
    /// Not a capture at all (or unreadable from its first bytes).
    Capture(CaptureError),
    /// The visitor returned this error.
    Visitor(E),
}

/// Hands every frame of a pcap or pcapng capture to `visit` as it is read — memory stays
/// bounded by the reader's buffer (8 MB in pcap-file) whatever the file's size. A bad or truncated record ends the stream; it is
/// returned in [`FramesStreamed::error`] after every complete frame before it was visited.
pub fn for_each_frame<E>(
    mut input: impl Read,
    mut visit: impl FnMut(Frame<'_>) -> Result<(), E>,
) -> Result<FramesStreamed, StreamError<E>> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match input.read(&mut magic[got..]) {
            Ok(0) => return Err(StreamError::Capture(CaptureError::UnknownFormat([0; 4]))),
            Ok(k) => got += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(StreamError::Capture(e.into())),
        }
    }
    let input = std::io::Cursor::new(magic).chain(input);
    let mut n = 0u64;
    let mut error = None;
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let mut r = PcapNgReader::new(input).map_err(|e| StreamError::Capture(e.into()))?;
            let mut links: HashMap<u32, DataLink> = HashMap::new();
            let mut next_if = 0u32;
            while let Some(block) = r.next_block() {
                let block = match block {
                    Ok(b) => b,
                    Err(e) => {
                        error = Some(e.into());
                        break;
                    }
                };
                let (link, data) = match block {
                    Block::SectionHeader(_) => {
                        links.clear();
                        next_if = 0;
                        continue;
                    }
                    Block::InterfaceDescription(i) => {
                        links.insert(next_if, i.linktype);
                        next_if += 1;
                        continue;
                    }
                    Block::EnhancedPacket(p) => (
                        links
                            .get(&p.interface_id)
                            .copied()
                            .unwrap_or(DataLink::ETHERNET),
                        p.data,
                    ),
                    Block::SimplePacket(p) => {
                        (links.get(&0).copied().unwrap_or(DataLink::ETHERNET), p.data)
                    }
                    _ => continue,
                };
                n += 1;
                visit(Frame {
                    number: n,
                    link,
                    data,
                })
                .map_err(StreamError::Visitor)?;
            }
        }
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => {
            let mut r = PcapReader::new(input).map_err(|e| StreamError::Capture(e.into()))?;
            let link = r.header().datalink;
            while let Some(p) = r.next_packet() {
                let p = match p {
                    Ok(p) => p,
                    Err(e) => {
                        error = Some(e.into());
                        break;
                    }
                };
                n += 1;
                visit(Frame {
                    number: n,
                    link,
                    data: p.data,
                })
                .map_err(StreamError::Visitor)?;
            }
        }
        other => return Err(StreamError::Capture(CaptureError::UnknownFormat(other))),
    }
    Ok(FramesStreamed { frames: n, error })
}

/// The UADP bytes a frame carries, if any.
pub fn uadp_payload(link: DataLink, data: &[u8]) -> Option<(Carrier, &[u8])> {
    let sliced = match link {
        DataLink::ETHERNET => {
            // Every framing `subscribe` accepts (untagged or one tag); anything else, e.g.
            // UDP/IPv4 or two VLAN tags, goes through etherparse.
            if let Ok(raw) = parse_raw_uadp(data) {
                return Some((Carrier::Ethernet(raw.framing), raw.uadp));
            }
            SlicedPacket::from_ethernet(data).ok()?
        }
        DataLink::LINUX_SLL => {
            // Header: packet type, ARPHRD type, address length, address (8), protocol.
            let (hatype, proto) = (be16(data, 2)?, be16(data, 14)?);
            if hatype == ARPHRD_ETHER && proto == ETH_P_802_2 {
                return llc_payload(data.get(16..)?);
            }
            SlicedPacket::from_linux_sll(data).ok()?
        }
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
    if p.ether_type == EtherType(uadp::UADP_ETHERTYPE) {
        return Some((Carrier::Ethernet(EthFraming::EthernetII), p.payload));
    }
    // A length field after Ethernet (and its VLAN tags); a cooked header's protocol is never
    // a length.
    let cooked = matches!(
        sliced.link,
        Some(LinkSlice::LinuxSll(_) | LinkSlice::LinuxSllPayload(_))
    );
    if !cooked && p.ether_type.0 <= MAX_8023_LENGTH {
        let (uadp, framing) = uadp_in_8023_data(p.payload, Some(p.ether_type.0)).ok()?;
        return Some((Carrier::Ethernet(framing), uadp));
    }
    None
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

/// The UADP message of 802.2 client data without its length field (LLC/SNAP or bare).
fn llc_payload(data: &[u8]) -> Option<(Carrier, &[u8])> {
    let (uadp, framing) = uadp_in_8023_data(data, None).ok()?;
    Some((Carrier::Ethernet(framing), uadp))
}

/// Linux cooked capture v2: 20-byte header, protocol type in the first two bytes (big endian),
/// ARPHRD type at byte 8.
fn sll2_payload(data: &[u8]) -> Option<(Carrier, &[u8])> {
    let proto = be16(data, 0)?;
    let payload = data.get(20..)?;
    if proto == uadp::UADP_ETHERTYPE {
        return Some((Carrier::Ethernet(EthFraming::EthernetII), payload));
    }
    if proto == ETH_P_802_2 && be16(data, 8)? == ARPHRD_ETHER {
        return llc_payload(payload);
    }
    if proto <= MAX_8023_LENGTH {
        // Linux's other pseudo protocols below 0x0600; never a length field here.
        return None;
    }
    let sliced = etherparse::SlicedPacket::from_ether_type(EtherType(proto), payload).ok()?;
    uadp_in(&sliced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A reader that counts the bytes handed out.
    struct Counting<R> {
        inner: R,
        taken: Rc<Cell<usize>>,
    }

    impl<R: Read> Read for Counting<R> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let k = self.inner.read(buf)?;
            self.taken.set(self.taken.get() + k);
            Ok(k)
        }
    }

    #[test]
    fn frames_are_visited_before_the_file_is_read_whole() {
        use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
        let header = PcapHeader {
            datalink: DataLink::ETHERNET,
            ..PcapHeader::default()
        };
        let mut w = PcapWriter::with_header(Vec::new(), header).unwrap();
        let frame = vec![0u8; 1000];
        for _ in 0..30_000 {
            let p = PcapPacket::new(std::time::Duration::ZERO, 1000, &frame);
            w.write_packet(&p).unwrap();
        }
        let bytes = w.into_writer();
        let total = bytes.len();
        let taken = Rc::new(Cell::new(0));
        let mut at_first = None;
        let input = Counting {
            inner: &bytes[..],
            taken: taken.clone(),
        };
        let streamed = for_each_frame(input, |f| {
            if f.number == 1 {
                at_first = Some(taken.get());
            }
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(streamed.frames, 30_000);
        assert!(streamed.error.is_none());
        let at_first = at_first.unwrap();
        assert!(
            at_first <= 8_100_000 && at_first < total / 3,
            "{at_first} of {total} bytes read before the first frame was visited"
        );
    }

    #[test]
    fn a_visitor_error_stops_the_stream() {
        use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
        let mut w = PcapWriter::with_header(Vec::new(), PcapHeader::default()).unwrap();
        for _ in 0..3 {
            let p = PcapPacket::new(std::time::Duration::ZERO, 4, &[1, 2, 3, 4]);
            w.write_packet(&p).unwrap();
        }
        let bytes = w.into_writer();
        let mut seen = 0;
        let r = for_each_frame(&bytes[..], |f| {
            seen += 1;
            if f.number == 2 {
                return Err("stop");
            }
            Ok(())
        });
        assert!(matches!(r, Err(StreamError::Visitor("stop"))));
        assert_eq!(seen, 2);
        // Too short to hold a magic number: not a capture.
        let r = for_each_frame(&[0x0a, 0x0d][..], |_| Ok::<(), ()>(()));
        assert!(matches!(
            r,
            Err(StreamError::Capture(CaptureError::UnknownFormat(_)))
        ));
    }

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
            Some((Carrier::Ethernet(EthFraming::EthernetII), &uadp[..]))
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
            Some((Carrier::Ethernet(EthFraming::EthernetII), &uadp[..]))
        );
    }

    /// open62541 v1.4's frame: 802.3 length 0x003b, then 59 bytes of UADP, no LLC header.
    const OPEN62541_BARE_8023: &str = "01005e7f000162eac941d008003bf101ba080964000000014df4e9100000a8bbac9d3b82dd01080a3d7836093d7804000dc6bbac9d3b82dd0106000000000800000000000000000101";

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn ieee_8023_frames_bare_and_llc_snap() {
        let frame = unhex(OPEN62541_BARE_8023);
        assert_eq!(
            uadp_payload(DataLink::ETHERNET, &frame),
            Some((Carrier::Ethernet(EthFraming::Ieee8023Bare), &frame[14..]))
        );
        // Padded to 60 bytes: the length field bounds the message.
        let uadp = [0xf1u8, 0x01, 0xba, 0x08];
        let mut bare = vec![1, 0, 0x5e, 0x7f, 0, 1, 2, 0, 0, 0, 0, 1, 0x00, 0x04];
        bare.extend_from_slice(&uadp);
        bare.resize(60, 0);
        assert_eq!(
            uadp_payload(DataLink::ETHERNET, &bare),
            Some((Carrier::Ethernet(EthFraming::Ieee8023Bare), &uadp[..]))
        );
        let mut snap = vec![1, 0, 0x5e, 0x7f, 0, 1, 2, 0, 0, 0, 0, 1, 0x00, 0x0c];
        snap.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0xb6, 0x2c]);
        snap.extend_from_slice(&uadp);
        snap.resize(60, 0);
        assert_eq!(
            uadp_payload(DataLink::ETHERNET, &snap),
            Some((Carrier::Ethernet(EthFraming::Ieee8023Snap), &uadp[..]))
        );
        // Two VLAN tags (etherparse's path), then a bare length-field frame.
        let mut qinq = vec![1, 0, 0x5e, 0x7f, 0, 1, 2, 0, 0, 0, 0, 1];
        qinq.extend_from_slice(&[0x88, 0xa8, 0, 5, 0x81, 0x00, 0, 7, 0x00, 0x04]);
        qinq.extend_from_slice(&uadp);
        qinq.resize(64, 0);
        assert_eq!(
            uadp_payload(DataLink::ETHERNET, &qinq),
            Some((Carrier::Ethernet(EthFraming::Ieee8023Bare), &uadp[..]))
        );
        // A length beyond the frame, STP: no UADP.
        let mut long = bare.clone();
        long[12..14].copy_from_slice(&47u16.to_be_bytes());
        assert_eq!(uadp_payload(DataLink::ETHERNET, &long), None);
        let mut stp = vec![1, 0x80, 0xc2, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0x00, 0x27];
        stp.extend_from_slice(&[0x42, 0x42, 0x03, 0, 0, 0, 0]);
        stp.resize(60, 0);
        assert_eq!(uadp_payload(DataLink::ETHERNET, &stp), None);
    }

    #[test]
    fn cooked_captures_of_8022_frames() {
        let frame = unhex(OPEN62541_BARE_8023);
        // SLL: packet type 2 (multicast), ARPHRD_ETHER, address length 6, address, ETH_P_802_2.
        let mut sll = vec![0, 2, 0, 1, 0, 6];
        sll.extend_from_slice(&frame[6..12]);
        sll.extend_from_slice(&[0, 0, 0x00, 0x04]);
        sll.extend_from_slice(&frame[14..]);
        assert_eq!(
            uadp_payload(DataLink::LINUX_SLL, &sll),
            Some((Carrier::Ethernet(EthFraming::Ieee8023Bare), &frame[14..]))
        );
        // SLL2: protocol ETH_P_802_2, reserved, ifindex, ARPHRD_ETHER, packet type, length, address.
        let mut sll2 = vec![0x00, 0x04, 0, 0, 0, 0, 0, 2, 0, 1, 2, 6];
        sll2.extend_from_slice(&frame[6..12]);
        sll2.extend_from_slice(&[0, 0]);
        sll2.extend_from_slice(&frame[14..]);
        assert_eq!(
            uadp_payload(DataLink::LINUX_SLL2, &sll2),
            Some((Carrier::Ethernet(EthFraming::Ieee8023Bare), &frame[14..]))
        );
        // STP in a cooked capture is not UADP.
        let mut stp = sll2[..20].to_vec();
        stp.extend_from_slice(&[0x42, 0x42, 0x03, 0, 0]);
        assert_eq!(uadp_payload(DataLink::LINUX_SLL2, &stp), None);
        // A pseudo protocol number (ETH_P_802_3, Novell raw) is not a length field.
        let mut novell = sll2.clone();
        novell[..2].copy_from_slice(&[0x00, 0x01]);
        assert_eq!(uadp_payload(DataLink::LINUX_SLL2, &novell), None);
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
