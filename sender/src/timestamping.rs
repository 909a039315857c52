//! What an interface can timestamp (`ETHTOOL_GET_TS_INFO`, what `ethtool -T` shows): software
//! and hardware transmit/receive stamps, the PTP hardware clock, and the hardware's transmit
//! types and receive filters. Read through a socket of the calling thread's network namespace.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

/// `ETHTOOL_GET_TS_INFO` (linux/ethtool.h).
const ETHTOOL_GET_TS_INFO: u32 = 0x41;

/// `struct ethtool_ts_info` (linux/ethtool.h).
#[repr(C)]
#[derive(Default)]
struct EthtoolTsInfo {
    cmd: u32,
    so_timestamping: u32,
    phc_index: i32,
    tx_types: u32,
    tx_reserved: [u32; 3],
    rx_filters: u32,
    rx_reserved: [u32; 3],
}

/// Names of the `hwtstamp_tx_types` bits (linux/net_tstamp.h).
const TX_TYPES: [&str; 4] = ["off", "on", "onestep-sync", "onestep-p2p"];

/// Names of the `hwtstamp_rx_filters` bits (linux/net_tstamp.h).
const RX_FILTERS: [&str; 16] = [
    "none",
    "all",
    "some",
    "ptpv1-l4-event",
    "ptpv1-l4-sync",
    "ptpv1-l4-delay-req",
    "ptpv2-l4-event",
    "ptpv2-l4-sync",
    "ptpv2-l4-delay-req",
    "ptpv2-l2-event",
    "ptpv2-l2-sync",
    "ptpv2-l2-delay-req",
    "ptpv2-event",
    "ptpv2-sync",
    "ptpv2-delay-req",
    "ntp-all",
];

/// An interface's timestamping capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimestampingCaps {
    /// Software transmit and receive stamps (`SOF_TIMESTAMPING_{TX,RX}_SOFTWARE`).
    pub software_tx: bool,
    pub software_rx: bool,
    /// Hardware stamps taken by the NIC (`SOF_TIMESTAMPING_{TX,RX}_HARDWARE`) and reported
    /// raw, in the PTP hardware clock's time (`SOF_TIMESTAMPING_RAW_HARDWARE`).
    pub hardware_tx: bool,
    pub hardware_rx: bool,
    pub hardware_raw: bool,
    /// `/dev/ptp<N>` of the NIC's clock; `None` without one.
    pub phc_index: Option<i32>,
    /// Hardware transmit modes (`off`, `on`, `onestep-sync` …).
    pub tx_types: Vec<String>,
    /// Hardware receive filters (`none`, `all`, `ptpv2-event` …): `all` stamps every packet,
    /// the PTP ones only PTP packets (not the benchmark's).
    pub rx_filters: Vec<String>,
}

impl TimestampingCaps {
    /// The NIC can stamp the benchmark's own packets in hardware, both ways: transmit `on`
    /// and the receive filter `all`, reported raw.
    pub fn hardware_for_every_packet(&self) -> bool {
        self.hardware_tx
            && self.hardware_rx
            && self.hardware_raw
            && self.tx_types.iter().any(|t| t == "on")
            && self.rx_filters.iter().any(|f| f == "all")
    }

    fn from_raw(raw: &EthtoolTsInfo) -> Self {
        let has = |flag: u32| raw.so_timestamping & flag != 0;
        let names = |bits: u32, table: &[&str]| {
            table
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1u32 << i) != 0)
                .map(|(_, n)| (*n).to_owned())
                .collect()
        };
        TimestampingCaps {
            software_tx: has(libc::SOF_TIMESTAMPING_TX_SOFTWARE),
            software_rx: has(libc::SOF_TIMESTAMPING_RX_SOFTWARE),
            hardware_tx: has(libc::SOF_TIMESTAMPING_TX_HARDWARE),
            hardware_rx: has(libc::SOF_TIMESTAMPING_RX_HARDWARE),
            hardware_raw: has(libc::SOF_TIMESTAMPING_RAW_HARDWARE),
            phc_index: (raw.phc_index >= 0).then_some(raw.phc_index),
            tx_types: names(raw.tx_types, &TX_TYPES),
            rx_filters: names(raw.rx_filters, &RX_FILTERS),
        }
    }
}

/// Reads `ifname`'s timestamping capabilities in the calling thread's network namespace.
pub fn timestamping_caps(ifname: &str) -> io::Result<TimestampingCaps> {
    if ifname.is_empty() || ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{ifname:?} is not an interface name"),
        ));
    }
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut info = EthtoolTsInfo {
        cmd: ETHTOOL_GET_TS_INFO,
        ..EthtoolTsInfo::default()
    };
    // SAFETY: ifreq is plain old data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (&mut info as *mut EthtoolTsInfo).cast();
    // SAFETY: SIOCETHTOOL reads ifr_name and the command at ifr_data, and writes at most
    // sizeof(struct ethtool_ts_info) bytes there: `info` is that struct, alive for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TimestampingCaps::from_raw(&info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_capabilities_are_named() {
        let raw = EthtoolTsInfo {
            cmd: ETHTOOL_GET_TS_INFO,
            so_timestamping: libc::SOF_TIMESTAMPING_TX_HARDWARE
                | libc::SOF_TIMESTAMPING_RX_HARDWARE
                | libc::SOF_TIMESTAMPING_RAW_HARDWARE
                | libc::SOF_TIMESTAMPING_TX_SOFTWARE
                | libc::SOF_TIMESTAMPING_RX_SOFTWARE,
            phc_index: 0,
            tx_types: 0b11,
            rx_filters: 0b11 | 1 << 12,
            ..EthtoolTsInfo::default()
        };
        let caps = TimestampingCaps::from_raw(&raw);
        assert!(caps.hardware_for_every_packet());
        assert_eq!(caps.phc_index, Some(0));
        assert_eq!(caps.tx_types, ["off", "on"]);
        assert_eq!(caps.rx_filters, ["none", "all", "ptpv2-event"]);
        // PTP-only receive filters do not stamp the benchmark's packets.
        let ptp_only = EthtoolTsInfo {
            rx_filters: 1 | 1 << 12,
            ..raw
        };
        assert!(!TimestampingCaps::from_raw(&ptp_only).hardware_for_every_packet());
        let none = TimestampingCaps::from_raw(&EthtoolTsInfo {
            phc_index: -1,
            ..EthtoolTsInfo::default()
        });
        assert_eq!(none.phc_index, None);
        assert!(!none.hardware_tx && none.tx_types.is_empty());
    }

    #[test]
    fn loopback_has_software_stamps_only() {
        let caps = timestamping_caps("lo").expect("ETHTOOL_GET_TS_INFO on lo");
        assert!(caps.software_rx, "{caps:?}");
        assert!(!caps.hardware_tx && !caps.hardware_rx, "{caps:?}");
        assert_eq!(caps.phc_index, None, "{caps:?}");
        assert!(timestamping_caps("no-such-if0").is_err());
    }
}
