//! Link-layer sizes (Ethernet II header, 802.1Q tag) and the [`VlanTag`] the builder writes and
//! the parsers report.

use etherparse::{Ethernet2Header, SingleVlanHeader};

/// Ethernet II header bytes.
pub const ETH_HLEN: usize = Ethernet2Header::LEN;
/// 802.1Q tag bytes.
pub const VLAN_HLEN: usize = SingleVlanHeader::LEN;

/// One 802.1Q tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// VLAN identifier, 0..=4095 (0: priority tag only).
    pub id: u16,
    /// Priority code point (802.1p class, the TSN traffic class), 0..=7.
    pub pcp: u8,
}
