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
//!
//! Submodules (private, everything is re-exported here: use `frame::X`): `ethernet` (link-layer
//! sizes and the 802.1Q tag), `build` (the header writer for both encapsulations, IPv4/UDP
//! lengths and checksums), `parse` (classifying received frames) and `ieee8023` (the IEEE 802.3
//! length-field framings).
//!
//! [`Encap::Eth`]: crate::transport::Encap::Eth
//! [`Encap::Udp`]: crate::transport::Encap::Udp

mod build;
mod ethernet;
mod ieee8023;
mod parse;
#[cfg(test)]
mod test_support;

pub use build::{FrameBuilder, FrameError, IPV4_TTL, IP_UDP_HLEN};
pub use ethernet::{VlanTag, ETH_HLEN, VLAN_HLEN};
pub use ieee8023::{
    is_uadp_v1_start, uadp_in_8023_data, EthFraming, LLC_SNAP_UADP, MAX_8023_LENGTH,
};
pub use parse::{parse, parse_raw_uadp, parse_uadp, Parsed, PeerFilter, RawUadp, Rejected};
