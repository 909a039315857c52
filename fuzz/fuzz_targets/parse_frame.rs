//! Fuzzes the frame parser of the eth/xdp receivers: any bytes must be accepted as a benchmark
//! frame or rejected as foreign/malformed, never panic; accepted UADP bytes lie inside the frame
//! and then go through the UADP decoder too.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use uadpbench_sender::frame::{parse, PeerFilter};
use uadpbench_sender::transport::Encap;

fuzz_target!(|data: &[u8]| {
    let peer = PeerFilter {
        peer_mac: [2, 0x75, 0x62, 0, 0, 1],
        peer_ip: Ipv4Addr::new(198, 18, 0, 1),
        udp_port: 4840,
    };
    for encap in [Encap::Eth, Encap::Udp] {
        if let Ok(p) = parse(data, encap, &peer) {
            let start = p.uadp.as_ptr() as usize - data.as_ptr() as usize;
            assert!(start + p.uadp.len() <= data.len());
            let _ = uadp::NetworkMessage::decode(p.uadp);
        }
    }
});
