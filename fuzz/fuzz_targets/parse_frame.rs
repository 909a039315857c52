//! Fuzzes the frame parsers of the eth/xdp receivers and of `subscribe`: any bytes must be
//! accepted as a benchmark / UADP frame or rejected as foreign/malformed, never panic; accepted
//! UADP bytes lie inside the frame (for IEEE 802.3 length-field frames, LLC/SNAP or bare,
//! exactly the length field's extent) and then go through the UADP decoder too.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use uadpbench_sender::frame::{parse, parse_raw_uadp, PeerFilter};
use uadpbench_sender::transport::Encap;

fn offset_in(inner: &[u8], outer: &[u8]) -> usize {
    let start = inner.as_ptr() as usize - outer.as_ptr() as usize;
    assert!(start + inner.len() <= outer.len());
    start
}

fuzz_target!(|data: &[u8]| {
    let peer = PeerFilter {
        peer_mac: [2, 0x75, 0x62, 0, 0, 1],
        peer_ip: Ipv4Addr::new(198, 18, 0, 1),
        udp_port: 4840,
    };
    for encap in [Encap::Eth, Encap::Udp] {
        if let Ok(p) = parse(data, encap, &peer) {
            offset_in(p.uadp, data);
            let _ = uadp::NetworkMessage::decode(p.uadp);
        }
    }
    if let Ok(r) = parse_raw_uadp(data) {
        let start = offset_in(r.uadp, data);
        if r.framing.has_length_field() {
            // The length field sits right before the LLC/SNAP header (or the bare message).
            let at = start - r.framing.llc_len() - 2;
            let field = usize::from(u16::from_be_bytes([data[at], data[at + 1]]));
            assert_eq!(r.uadp.len() + r.framing.llc_len(), field);
        }
        let _ = uadp::NetworkMessage::decode(r.uadp);
    }
});
