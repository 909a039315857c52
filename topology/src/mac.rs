//! The fixed MACs of the two veth ends and MAC formatting.

/// MAC of side A's veth end (locally administered, unicast; `75:62` = "ub").
pub const MAC_A: [u8; 6] = [0x02, 0x75, 0x62, 0x00, 0x00, 0x01];
/// MAC of side B's veth end.
pub const MAC_B: [u8; 6] = [0x02, 0x75, 0x62, 0x00, 0x00, 0x02];

/// Format a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = *mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}
