//! The IEEE 802.3 length-field framings of UADP ([`EthFraming::Ieee8023Snap`] with LLC/SNAP,
//! [`EthFraming::Ieee8023Bare`] without an LLC header) next to Ethernet II, and finding the UADP
//! message behind the EtherType/length field.

use etherparse::EtherType;
use uadpbench_common::UADP_ETHERTYPE;

use super::Rejected;

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

/// The UADP bytes after the EtherType/length field `ether_type`, for every [`EthFraming`].
pub(super) fn uadp_after_type(
    ether_type: EtherType,
    payload: &[u8],
) -> Result<(&[u8], EthFraming), Rejected> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::test_support::*;
    use crate::frame::{parse, parse_raw_uadp, parse_uadp, FrameBuilder, VlanTag};
    use crate::transport::Encap;
    use proptest::prelude::*;

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
