//! A network interface of this host, as the calling thread's network namespace sees it, and
//! the interface guard of runs across hosts.
//!
//! Everything is read through the namespace of the calling thread (getifaddrs through pnet,
//! `SIOCGIFMTU` on a socket it opens), never through `/sys/class/net`, which shows the
//! interfaces of whichever namespace mounted `/sys`.

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use uadpbench_agent::protocol::format_mac;
use uadpbench_agent::InterfaceFacts;
use uadpbench_sender::timestamping::{timestamping_caps, TimestampingCaps};

/// The NIC hardware-timestamping line of a run across hosts, when `facts`' interface can stamp
/// every packet in hardware: where those stamps are used (uadpbench's latencies stay
/// CLOCK_MONOTONIC stamps taken by its threads).
pub fn hardware_timestamps_note(facts: &InterfaceFacts, host: &str) -> Option<String> {
    let caps: TimestampingCaps = serde_json::from_value(facts.timestamping.clone()?).ok()?;
    caps.hardware_for_every_packet().then(|| {
        format!(
            "{} on {host} can timestamp every packet in hardware (PTP hardware clock {}); uadpbench's latencies are CLOCK_MONOTONIC stamps taken by its threads, and `--path udp --mode cyclic --so-timestamping` sets the NIC's own stamps beside them (clock_check.csv: tx_hardware, rx_hardware)",
            facts.name,
            caps.phc_index.map_or("none".into(), |i| format!("/dev/ptp{i}"))
        )
    })
}

/// Why an interface cannot be used; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InterfaceError {
    /// Not something Linux accepts as an interface name.
    #[error("{0:?} is not a network interface name (1 to 15 bytes, no '/', ':' or whitespace); check it with `ip link`")]
    BadName(String),
    /// No such interface in this namespace.
    #[error("no network interface `{0}` on this host (network namespace); check the name with `ip link`")]
    NotFound(String),
    /// The interface is down.
    #[error("network interface `{0}` is down; bring it up with `ip link set {0} up`")]
    Down(String),
    /// No Ethernet address.
    #[error(
        "network interface `{0}` has no MAC address; the benchmark needs an Ethernet interface"
    )]
    NoMac(String),
    /// SIOCGIFMTU failed.
    #[error("cannot read the MTU of `{name}`: {source}")]
    Mtu {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// Listing the interfaces failed.
    #[error("cannot list the network interfaces: {0}")]
    List(std::io::Error),
    /// The interface guard refused an interface uadpbench did not create.
    #[error(
        "`{name}` is not a veth end of a uadpbench topology: the benchmark opens raw sockets, \
         attaches XDP or binds UDP port 4840 on the interface it uses, which can disrupt that \
         interface's traffic. {how}"
    )]
    External { name: String, how: String },
}

/// One interface of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalInterface {
    pub name: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// The first IPv4 address, if any.
    pub ipv4: Option<Ipv4Addr>,
    pub mtu: u32,
    /// What it can timestamp (`None`: `ETHTOOL_GET_TS_INFO` failed).
    pub timestamping: Option<TimestampingCaps>,
}

impl LocalInterface {
    /// The facts an agent sends in [`uadpbench_agent::AgentMsg::Interface`].
    pub fn facts(&self) -> InterfaceFacts {
        InterfaceFacts {
            name: self.name.clone(),
            ifindex: self.ifindex,
            mac: format_mac(&self.mac),
            ipv4: self.ipv4,
            mtu: self.mtu,
            timestamping: self
                .timestamping
                .as_ref()
                .and_then(|t| serde_json::to_value(t).ok()),
        }
    }
}

/// Whether `name` is a name Linux accepts for an interface (`dev_valid_name`).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// Reads `name`'s facts in the calling thread's network namespace. The interface must exist,
/// be up and have a MAC address.
pub fn local_interface(name: &str) -> Result<LocalInterface, InterfaceError> {
    if !valid_name(name) {
        return Err(InterfaceError::BadName(name.to_owned()));
    }
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == name)
        .ok_or_else(|| InterfaceError::NotFound(name.to_owned()))?;
    if !iface.is_up() {
        return Err(InterfaceError::Down(name.to_owned()));
    }
    let mac = iface
        .mac
        .map(|m| m.octets())
        .ok_or_else(|| InterfaceError::NoMac(name.to_owned()))?;
    let ipv4 = iface.ips.iter().find_map(|ip| match ip.ip() {
        std::net::IpAddr::V4(v4) => Some(v4),
        std::net::IpAddr::V6(_) => None,
    });
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(InterfaceError::List(std::io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mtu = uadpbench_sender::interop::query_mtu(sock.as_raw_fd(), name).map_err(|source| {
        InterfaceError::Mtu {
            name: name.to_owned(),
            source,
        }
    })?;
    Ok(LocalInterface {
        name: name.to_owned(),
        ifindex: iface.index,
        mac,
        ipv4,
        mtu,
        timestamping: timestamping_caps(name).ok(),
    })
}

/// Whether `name` is a veth end uadpbench created, seen from the calling thread's namespace.
pub fn is_own(name: &str) -> bool {
    uadpbench_topology::is_own_link(name)
}

/// The interface guard: `name` must be a veth end of a uadpbench topology (in a namespace
/// uadpbench created) unless `allowed`. `how` says which flag allows it, where.
pub fn guard(name: &str, allowed: bool, how: &str) -> Result<(), InterfaceError> {
    if allowed || is_own(name) {
        Ok(())
    } else {
        Err(InterfaceError::External {
            name: name.to_owned(),
            how: how.to_owned(),
        })
    }
}

/// What the agent says when its guard refuses an interface.
pub const AGENT_GUARD_HINT: &str = "To use it anyway, start the agent with \
     `uadpbench agent --allow-external-interface` on that host (use a dedicated test NIC).";

/// What the controller says when its guard refuses its own interface.
pub const CONTROLLER_GUARD_HINT: &str = "To use it anyway, pass --allow-external-interface to \
     `uadpbench run` (use a dedicated test NIC).";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_use() {
        for ok in ["eth0", "ub0123456789ab", "enp0s31f6", "veth-a", "a"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../../etc",
            "eth0:1",
            "has space",
            "sixteen-bytes-xx",
            "nul\0",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
            assert!(matches!(
                local_interface(bad),
                Err(InterfaceError::BadName(_))
            ));
        }
    }

    #[test]
    fn loopback_is_found_and_missing_interfaces_are_named() {
        let lo = local_interface("lo").expect("every namespace has lo");
        assert_eq!(lo.ipv4, Some(Ipv4Addr::LOCALHOST));
        assert!(lo.mtu >= 1500, "{lo:?}");
        assert_eq!(lo.facts().mac, "00:00:00:00:00:00");
        let err = local_interface("ubnosuchif0").unwrap_err().to_string();
        assert!(
            err.contains("ubnosuchif0") && err.contains("ip link"),
            "{err}"
        );
    }

    #[test]
    fn the_guard_refuses_foreign_interfaces_and_names_the_flag() {
        let err = guard("lo", false, AGENT_GUARD_HINT)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--allow-external-interface"), "{err}");
        assert!(err.contains("`lo`"), "{err}");
        guard("lo", true, AGENT_GUARD_HINT).unwrap();
    }
}
