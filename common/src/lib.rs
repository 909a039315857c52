//! Types shared by the uadpbench eBPF programs (`xdp-ebpf`, `probes-ebpf`) and userspace.
//!
//! Everything here is `#[repr(C)]`, has no implicit padding (so it can be an eBPF map value or
//! global and implement [`aya::Pod`] with the `user` feature) and is `no_std`.
//!
//! Byte order: all multi-byte fields are in **host** byte order. The eBPF programs convert
//! packet fields (network order) before comparing.
#![no_std]
#![deny(missing_docs)]

/// EtherType of OPC UA PubSub UADP directly over Ethernet (IEC 62541-14, Annex H).
pub const UADP_ETHERTYPE: u16 = 0xB62C;
/// IANA UDP port for OPC UA (used for UADP over UDP/IP).
pub const UADP_UDP_PORT: u16 = 4840;

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of an IEEE 802.1Q VLAN tag (C-tag).
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// EtherType of an IEEE 802.1ad service tag (S-tag); treated like one 802.1Q tag.
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
/// IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Name of the XDP program in the `xdp-ebpf` object.
pub const XDP_PROGRAM_NAME: &str = "uadpbench_xdp";
/// Name of the `XSKMAP` (AF_XDP sockets, keyed by rx queue index) in the `xdp-ebpf` object.
pub const XSKS_MAP_NAME: &str = "XSKS";
/// Number of entries of [`XSKS_MAP_NAME`]: the highest rx queue index that can be served + 1.
pub const XSKS_MAX_ENTRIES: u32 = 64;
/// Name of the per-CPU counter array (indices: [`XdpCounter`]) in the `xdp-ebpf` object.
pub const XDP_COUNTERS_MAP_NAME: &str = "XDP_COUNTERS";
/// Name of the read-only global [`XdpConfig`] in the `xdp-ebpf` object (set it with
/// `aya::EbpfLoader::set_global` before loading).
pub const XDP_CONFIG_GLOBAL_NAME: &str = "XDP_CONFIG";

/// Indices of the `XDP_COUNTERS` per-CPU array (value type `u64`).
///
/// Invariants (summed over CPUs): `matched_eth + matched_udp == redirected + redirect_failed`
/// and every frame the program saw is counted in exactly one of `redirected`,
/// `redirect_failed`, `passed_foreign`, `passed_malformed`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XdpCounter {
    /// A benchmark frame was handed to the `XSKMAP` (`bpf_redirect_map` returned
    /// `XDP_REDIRECT`). The kernel can still drop it later (e.g. a full AF_XDP RX ring); see
    /// the `xdp:xdp_redirect_err` tracepoint for those.
    Redirected = 0,
    /// A benchmark frame matched but no AF_XDP socket is bound at its rx queue: it was passed to
    /// the kernel stack (`XDP_PASS`).
    RedirectFailed = 1,
    /// Not a benchmark frame: passed to the kernel stack untouched.
    PassedForeign = 2,
    /// Too short for the headers it announces (or an IPv4 header length < 20): passed.
    PassedMalformed = 3,
    /// Matched as UADP directly over Ethernet (EtherType 0xB62C, optionally VLAN-tagged).
    MatchedEth = 4,
    /// Matched as UADP over UDP/IPv4 (destination port == [`XdpConfig::udp_port`]).
    MatchedUdp = 5,
    /// With [`XDP_FLAG_STAMP`]: a benchmark message's arrival written to `XDP_STAMPS`.
    Stamped = 6,
    /// With [`XDP_FLAG_STAMP`]: a stamp overwrote another packet's stamp not yet read (more
    /// packets in flight than [`XDP_STAMP_SLOTS`]).
    StampOverwritten = 7,
}

impl XdpCounter {
    /// All counters, in index order.
    pub const ALL: [XdpCounter; XDP_COUNTER_COUNT as usize] = [
        XdpCounter::Redirected,
        XdpCounter::RedirectFailed,
        XdpCounter::PassedForeign,
        XdpCounter::PassedMalformed,
        XdpCounter::MatchedEth,
        XdpCounter::MatchedUdp,
        XdpCounter::Stamped,
        XdpCounter::StampOverwritten,
    ];

    /// Index in the `XDP_COUNTERS` array.
    #[inline(always)]
    pub const fn index(self) -> u32 {
        self as u32
    }

    /// A short snake_case name (for CSV columns and logs).
    pub const fn name(self) -> &'static str {
        match self {
            XdpCounter::Redirected => "redirected",
            XdpCounter::RedirectFailed => "redirect_failed",
            XdpCounter::PassedForeign => "passed_foreign",
            XdpCounter::PassedMalformed => "passed_malformed",
            XdpCounter::MatchedEth => "matched_eth",
            XdpCounter::MatchedUdp => "matched_udp",
            XdpCounter::Stamped => "stamped",
            XdpCounter::StampOverwritten => "stamp_overwritten",
        }
    }
}

/// Number of entries of the `XDP_COUNTERS` array.
pub const XDP_COUNTER_COUNT: u32 = 8;

/// [`XdpConfig::flags`]: redirect UADP over Ethernet (EtherType 0xB62C).
pub const XDP_FLAG_REDIRECT_ETH: u32 = 1 << 0;
/// [`XdpConfig::flags`]: redirect UADP over UDP/IPv4 to [`XdpConfig::udp_port`].
pub const XDP_FLAG_REDIRECT_UDP: u32 = 1 << 1;
/// [`XdpConfig::flags`]: also look behind one 802.1Q / 802.1ad VLAN tag.
pub const XDP_FLAG_VLAN: u32 = 1 << 2;
/// [`XdpConfig::flags`]: stamp each benchmark message (`bpf_ktime_get_ns`, CLOCK_MONOTONIC)
/// into `XDP_STAMPS` at slot `packet_id & (XDP_STAMP_SLOTS - 1)`: the `xdp_ingress` probe
/// layer. Needs [`XdpConfig::publisher_id`] to recognise the benchmark message.
pub const XDP_FLAG_STAMP: u32 = 1 << 3;
/// Name of the `Array<Stamp>` of [`XDP_FLAG_STAMP`].
pub const XDP_STAMPS_MAP_NAME: &str = "XDP_STAMPS";
/// Entries of `XDP_STAMPS` (a power of two).
pub const XDP_STAMP_SLOTS: u32 = 1 << 16;
/// All redirect [`XdpConfig::flags`] bits (the default configuration).
pub const XDP_FLAGS_ALL: u32 = XDP_FLAG_REDIRECT_ETH | XDP_FLAG_REDIRECT_UDP | XDP_FLAG_VLAN;
/// Every defined [`XdpConfig::flags`] bit.
pub const XDP_FLAGS_KNOWN: u32 = XDP_FLAGS_ALL | XDP_FLAG_STAMP;

/// Configuration of the XDP program: the global `XDP_CONFIG` in `.rodata`, fixed at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XdpConfig {
    /// `XDP_FLAG_*` bits: which encapsulations to redirect.
    pub flags: u32,
    /// UDP destination port (host byte order) of UADP over UDP frames to redirect.
    pub udp_port: u16,
    /// PublisherId (UInt16) of the benchmark messages to stamp ([`XDP_FLAG_STAMP`]).
    pub publisher_id: u16,
}

impl XdpConfig {
    /// Redirect both encapsulations, VLAN tags allowed, UDP port 4840.
    pub const DEFAULT: XdpConfig = XdpConfig {
        flags: XDP_FLAGS_ALL,
        udp_port: UADP_UDP_PORT,
        publisher_id: 2234,
    };

    /// Whether all bits of `flag` are set.
    #[inline(always)]
    pub const fn has(&self, flag: u32) -> bool {
        self.flags & flag == flag
    }
}

impl Default for XdpConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

// clap's derive names `std` items; only userspace builds enable it.
#[cfg(feature = "clap")]
extern crate std;

mod path;
pub use path::{Encap, PathKind, UnknownName};
mod probe;
pub use probe::*;
pub mod tracepoint;
pub use tracepoint::sched_switch_format;

#[cfg(feature = "user")]
mod user {
    // SAFETY: repr(C), only integer fields, no padding (checked by the tests below), every bit
    // pattern is valid.
    unsafe impl aya::Pod for super::XdpConfig {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ProbeGlobals {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::KernelOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Stamp {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::ThreadState {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SkbId {}
}

#[cfg(test)]
mod tests {
    use core::mem::{align_of, size_of};

    use super::*;

    #[test]
    fn xdp_config_layout() {
        assert_eq!(size_of::<XdpConfig>(), 8);
        assert_eq!(align_of::<XdpConfig>(), 4);
        assert_eq!(core::mem::offset_of!(XdpConfig, flags), 0);
        assert_eq!(core::mem::offset_of!(XdpConfig, udp_port), 4);
        assert_eq!(core::mem::offset_of!(XdpConfig, publisher_id), 6);
    }

    #[test]
    fn probe_layouts() {
        assert_eq!(size_of::<Stamp>(), 24);
        assert_eq!(align_of::<Stamp>(), 8);
        assert_eq!(core::mem::offset_of!(Stamp, packet_id), 0);
        assert_eq!(core::mem::offset_of!(Stamp, t_ns), 8);
        assert_eq!(core::mem::offset_of!(Stamp, tid), 16);
        assert_eq!(core::mem::offset_of!(Stamp, cpu), 20);
        assert_eq!(size_of::<ThreadState>(), 112);
        assert_eq!(core::mem::offset_of!(ThreadState, send_id), 8);
        assert_eq!(core::mem::offset_of!(ThreadState, recv_ubuf), 24);
        assert_eq!(core::mem::offset_of!(ThreadState, libc_ubuf), 48);
        assert_eq!(core::mem::offset_of!(ThreadState, wake_data_ready_ns), 56);
        assert_eq!(core::mem::offset_of!(ThreadState, wake_switch_ns), 80);
        assert_eq!(core::mem::offset_of!(ThreadState, wake_waker_tid), 88);
        assert_eq!(core::mem::offset_of!(ThreadState, wake_idle_state), 100);
        assert_eq!(core::mem::offset_of!(ThreadState, wake_ipi_ns), 104);
        assert_eq!(size_of::<CpuState>(), 112);
        assert_eq!(core::mem::offset_of!(CpuState, tx_phase), 96);
        assert_eq!(core::mem::offset_of!(CpuState, tx_kind), 76);
        assert_eq!(core::mem::offset_of!(CpuState, tx_skb), 80);
        assert_eq!(core::mem::offset_of!(CpuState, tx_len), 100);
        assert_eq!(core::mem::offset_of!(CpuState, tx_end), 104);
        assert_eq!(core::mem::offset_of!(CpuState, rx_packet_id), 56);
        assert_eq!(core::mem::offset_of!(CpuState, rx_crossing), 72);
        assert_eq!(core::mem::offset_of!(CpuState, net_rx_exit_ns), 48);
        assert_eq!(core::mem::offset_of!(CpuState, waking_ns), 24);
        assert_eq!(core::mem::offset_of!(CpuState, waking_target_cpu), 36);
        assert_eq!(size_of::<SkbId>(), 24);
        assert_eq!(core::mem::offset_of!(SkbId, tagged_ns), 16);
        assert_eq!(size_of::<KernelOffsets>(), 16);
        assert_eq!(size_of::<ProbeGlobals>(), 52);
        assert_eq!(core::mem::offset_of!(ProbeGlobals, hist_ref_layer), 44);
        assert_eq!(core::mem::offset_of!(ProbeGlobals, netns_inum), 16);
        assert_eq!(core::mem::offset_of!(ProbeGlobals, publisher_id), 24);
        assert_eq!(core::mem::offset_of!(ProbeGlobals, offsets), 28);
    }

    #[test]
    fn layer_ids_are_dense_and_named() {
        for (i, l) in LayerId::ALL.iter().enumerate() {
            assert_eq!(l.index(), i);
            assert_eq!(LayerId::from_index(i), Some(*l));
            assert_eq!(LayerId::from_name(l.name()), Some(*l));
            assert!(l
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        assert_eq!(LayerId::from_index(LAYER_COUNT), None);
        assert_eq!(LayerId::from_name("nope"), None);
        assert!(
            layer_counter_index(LayerId::LibcRecvfrom, LayerCounter::Mismatch)
                < global_counter_index(GlobalCounter::ThreadSlotEvictions)
        );
        assert!(global_counter_index(GlobalCounter::SkbIdsInsertFailed) < PROBE_COUNTER_COUNT);
        assert_eq!(stamp_index(LayerId::LibcSendto, 0, 0x1_0000_0005, 0xff), 5);
        assert_eq!(
            stamp_index(LayerId::LibcSendto, 1, 0x1_0000_0005, 0xff),
            256 + 5
        );
        assert_eq!(
            stamp_index(LayerId::SysEnterSendto, 0, 7, 0xff),
            2 * 256 + 7
        );
        assert_eq!(
            stamp_index(LayerId::XdpRedirect, 1, u64::MAX, 0xff) + 1,
            (LAYER_COUNT as u32) * 2 * 256
        );
        assert!(stamp_index(LayerId::XdpRedirect, 1, u64::MAX, 0xff) < stamp_entries(256));
        assert_eq!(
            hist_index(LayerId::XdpRedirect, 1, HIST_NO_REFERENCE) + 1,
            HIST_SEGMENT_BASE
        );
        assert_eq!(hist_index(LayerId::LibcSendto, 1, 0), HIST_STRIDE);
        // The per-segment blocks mirror the since-reference ones, then the predecessor counts
        // fill the map to its end.
        let last = hist_point(LayerId::XdpRedirect, 1);
        assert_eq!(last + 1, HIST_POINTS);
        assert_eq!(
            hist_segment_index(last, HIST_NO_REFERENCE) + 1,
            HIST_FROM_BASE
        );
        assert_eq!(
            hist_segment_index(hist_point(LayerId::SysEnterSendto, 0), 3),
            HIST_SEGMENT_BASE + hist_index(LayerId::SysEnterSendto, 0, 3)
        );
        assert_eq!(hist_from_index(last, last) + 1, PROBE_HIST_ENTRIES);
        assert_eq!(core::mem::size_of::<LastStamp>(), 24);
    }

    #[test]
    fn xdp_counters_are_dense() {
        for (i, c) in XdpCounter::ALL.iter().enumerate() {
            assert_eq!(c.index() as usize, i);
        }
        assert_eq!(XdpCounter::ALL.len(), XDP_COUNTER_COUNT as usize);
    }

    #[test]
    fn default_config() {
        let c = XdpConfig::default();
        assert_eq!(c.udp_port, 4840);
        assert!(c.has(XDP_FLAG_REDIRECT_ETH));
        assert!(c.has(XDP_FLAG_REDIRECT_UDP));
        assert!(c.has(XDP_FLAG_VLAN));
        assert_eq!(UADP_ETHERTYPE, 0xB62C);
    }

    #[test]
    fn histogram_buckets_are_log2_of_nanoseconds() {
        assert_eq!(hist_bucket(0), 0);
        assert_eq!(hist_bucket(1), 0);
        assert_eq!(hist_bucket(2), 1);
        assert_eq!(hist_bucket(3), 1);
        assert_eq!(hist_bucket(1023), 9);
        assert_eq!(hist_bucket(1024), 10);
        for b in 1..HIST_BUCKETS - 1 {
            assert_eq!(hist_bucket((1u64 << b) - 1), b - 1, "below 2^{b}");
            assert_eq!(hist_bucket(1u64 << b), b, "at 2^{b}");
        }
        assert_eq!(hist_bucket(1 << 31), HIST_BUCKETS - 1);
        assert_eq!(hist_bucket(u64::MAX), HIST_BUCKETS - 1);
    }
}
