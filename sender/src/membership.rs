//! Multicast MAC membership for the raw paths: a receiver of frames addressed to a group MAC
//! (eth and xdp fan-out subscribers) must get that address into its NIC's receive filter, or a
//! real NIC drops the frames before any socket or XDP program sees them. A UDP receiver gets
//! this from its IGMP join; the raw paths hold a [`MacMembership`] instead.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::transport::TransportError;

/// The group MAC `mac` in the receive filter of interface `ifindex` (in the calling thread's
/// network namespace) for as long as this value lives: an `AF_PACKET` socket that receives
/// nothing (protocol 0, never bound) holding `PACKET_ADD_MEMBERSHIP`. The kernel drops the
/// membership when the socket closes — on drop, and when the process dies in any way.
#[derive(Debug)]
pub struct MacMembership {
    _socket: OwnedFd,
    mac: [u8; 6],
    ifindex: u32,
}

impl MacMembership {
    /// Adds `mac` (a multicast address: lowest bit of the first octet set) to `ifindex`'s
    /// filter.
    pub fn join(ifindex: u32, mac: [u8; 6]) -> Result<Self, TransportError> {
        if mac[0] & 1 == 0 {
            return Err(TransportError::Setup(format!(
                "{} is not a multicast MAC address (the first octet's lowest bit is clear)",
                format_mac(&mac)
            )));
        }
        let socket = crate::sys::packet_socket().map_err(|e| {
            TransportError::Setup(format!(
                "socket(AF_PACKET) for the multicast MAC membership ({e}); run as root or with CAP_NET_RAW"
            ))
        })?;
        crate::sys::add_mac_membership(socket.as_raw_fd(), ifindex, mac).map_err(|e| {
            TransportError::Setup(format!(
                "cannot add multicast MAC {} to the receive filter of interface index {ifindex} (PACKET_ADD_MEMBERSHIP: {e}); is the interface up?",
                format_mac(&mac)
            ))
        })?;
        Ok(MacMembership {
            _socket: socket,
            mac,
            ifindex,
        })
    }

    /// The group MAC held.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// The interface it is held on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
}

/// The Ethernet address an IPv4 multicast group travels to (RFC 1112: `01:00:5e` and the
/// group's low 23 bits).
pub fn ipv4_group_mac(group: std::net::Ipv4Addr) -> [u8; 6] {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

fn format_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/net/dev_mcast` of the calling thread's namespace: (ifindex, MAC hex) pairs.
    fn filter_entries() -> Vec<(u32, String)> {
        std::fs::read_to_string("/proc/net/dev_mcast")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                Some((f.first()?.parse().ok()?, (*f.get(4)?).to_owned()))
            })
            .collect()
    }

    #[test]
    fn group_macs_follow_rfc_1112() {
        let mac = ipv4_group_mac(std::net::Ipv4Addr::new(239, 198, 18, 1));
        assert_eq!(mac, [0x01, 0x00, 0x5e, 0x46, 0x12, 0x01]);
        // The 24th bit from the end is dropped: 224.128.0.1 and 224.0.0.1 share a MAC.
        assert_eq!(
            ipv4_group_mac(std::net::Ipv4Addr::new(224, 128, 0, 1)),
            ipv4_group_mac(std::net::Ipv4Addr::new(224, 0, 0, 1))
        );
    }

    #[test]
    fn a_unicast_mac_is_refused() {
        let e = MacMembership::join(1, [0x02, 0, 0, 0, 0, 1]).unwrap_err();
        assert!(e.to_string().contains("not a multicast MAC"), "{e}");
    }

    #[test]
    fn the_membership_is_in_the_filter_while_held_and_gone_after() {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        assert!(
            root,
            "needs root (AF_PACKET): run the tests as root (sudo scripts/test.sh); a test that cannot run fails instead of passing"
        );
        // Loopback of this namespace; a group MAC nothing else uses.
        let mac = [0x01, 0x00, 0x5e, 0x46, 0x12, 0x7f];
        let hex = "01005e46127f".to_owned();
        let m = MacMembership::join(1, mac).expect("join on lo");
        assert_eq!((m.mac(), m.ifindex()), (mac, 1));
        assert!(
            filter_entries().contains(&(1, hex.clone())),
            "{:?}",
            filter_entries()
        );
        drop(m);
        assert!(!filter_entries().contains(&(1, hex)), "left in the filter");
    }
}
