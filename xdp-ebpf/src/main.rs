//! uadpbench XDP program `uadpbench_xdp`.
//!
//! Redirects benchmark frames to the AF_XDP socket bound at the frame's rx queue (`XSKS`):
//! UADP directly over Ethernet (EtherType 0xB62C) and UADP over UDP/IPv4 to the configured port,
//! both optionally behind one 802.1Q/802.1ad tag. A matched frame for which no socket is bound
//! is passed to the kernel stack (`XDP_PASS`); everything else is passed untouched.
//! Outcomes are counted in the per-CPU array `XDP_COUNTERS` (indices: `XdpCounter`).
//! With `XDP_FLAG_STAMP` (probe runs) every benchmark message's arrival is also stamped
//! (`bpf_ktime_get_ns`, CLOCK_MONOTONIC, taken first thing) into `XDP_STAMPS` at slot
//! `packet_id & (XDP_STAMP_SLOTS - 1)`: the `xdp_ingress` layer of the probes.
//!
//! Built for `bpfel-unknown-none` by `aya-build` from `sender/build.rs`. On the host the crate
//! compiles to an empty binary so that `cargo build/clippy --workspace` work.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

mod prog {
    use aya_ebpf::{
        bindings::xdp_action,
        helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
        macros::{map, xdp},
        maps::{Array, PerCpuArray, XskMap},
        programs::XdpContext,
    };
    use uadpbench_common::{
        Stamp, XdpConfig, XdpCounter, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_UDP,
        UADP_BYTE0, UADP_BYTE1, UADP_ETHERTYPE, UADP_PACKET_ID_OFFSET, UADP_PROBE_LEN,
        XDP_COUNTER_COUNT, XDP_FLAG_REDIRECT_ETH, XDP_FLAG_REDIRECT_UDP, XDP_FLAG_STAMP,
        XDP_FLAG_VLAN, XDP_STAMP_SLOTS, XSKS_MAX_ENTRIES,
    };

    /// AF_XDP sockets keyed by rx queue index.
    #[map]
    static XSKS: XskMap = XskMap::with_max_entries(XSKS_MAX_ENTRIES, 0);

    /// Outcome counters, see `XdpCounter`.
    #[map]
    static XDP_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(XDP_COUNTER_COUNT, 0);

    /// Arrival stamps of benchmark messages (`XDP_FLAG_STAMP`), slot = packet id & mask.
    #[map]
    static XDP_STAMPS: Array<Stamp> = Array::with_max_entries(XDP_STAMP_SLOTS, 0);

    /// Configuration, a read-only global the loader overrides with `EbpfLoader::set_global`.
    #[no_mangle]
    static XDP_CONFIG: XdpConfig = XdpConfig::DEFAULT;

    const ETH_HLEN: usize = 14;
    const VLAN_HLEN: usize = 4;
    const IPV4_MIN_HLEN: usize = 20;
    const UDP_HLEN: usize = 8;

    #[inline(always)]
    fn count(counter: XdpCounter) {
        if let Some(p) = XDP_COUNTERS.get_ptr_mut(counter.index()) {
            // SAFETY: per-CPU slot of this CPU; XDP programs do not preempt themselves.
            unsafe { *p += 1 };
        }
    }

    /// `N` bytes at `off`, bounds-checked against `data_end` (the form the verifier accepts).
    #[inline(always)]
    fn bytes<const N: usize>(ctx: &XdpContext, off: usize) -> Option<[u8; N]> {
        let start = ctx.data();
        let end = ctx.data_end();
        if start + off + N > end {
            return None;
        }
        // SAFETY: checked `[start+off, start+off+N)` lies inside the packet.
        Some(unsafe { core::ptr::read_unaligned((start + off) as *const [u8; N]) })
    }

    #[inline(always)]
    fn be16(ctx: &XdpContext, off: usize) -> Option<u16> {
        bytes::<2>(ctx, off).map(u16::from_be_bytes)
    }

    enum Verdict {
        /// A benchmark frame (its UADP message at this offset): try the XSKMAP.
        Match(XdpCounter, usize),
        Foreign,
        Malformed,
    }

    #[inline(always)]
    fn classify(ctx: &XdpContext, cfg: &XdpConfig) -> Verdict {
        let Some(mut ethertype) = be16(ctx, 12) else {
            return Verdict::Malformed;
        };
        let mut l3 = ETH_HLEN;
        if ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
            if !cfg.has(XDP_FLAG_VLAN) {
                return Verdict::Foreign;
            }
            let Some(inner) = be16(ctx, ETH_HLEN + 2) else {
                return Verdict::Malformed;
            };
            ethertype = inner;
            l3 = ETH_HLEN + VLAN_HLEN;
        }

        if ethertype == UADP_ETHERTYPE {
            return if cfg.has(XDP_FLAG_REDIRECT_ETH) {
                Verdict::Match(XdpCounter::MatchedEth, l3)
            } else {
                Verdict::Foreign
            };
        }
        if ethertype != ETHERTYPE_IPV4 || !cfg.has(XDP_FLAG_REDIRECT_UDP) {
            return Verdict::Foreign;
        }

        // IPv4: version/IHL, flags/fragment offset, protocol.
        let Some([ver_ihl]) = bytes::<1>(ctx, l3) else {
            return Verdict::Malformed;
        };
        if ver_ihl >> 4 != 4 {
            return Verdict::Malformed;
        }
        let ihl = usize::from(ver_ihl & 0x0f) * 4;
        if ihl < IPV4_MIN_HLEN {
            return Verdict::Malformed;
        }
        let Some(frag) = be16(ctx, l3 + 6) else {
            return Verdict::Malformed;
        };
        let Some([proto]) = bytes::<1>(ctx, l3 + 9) else {
            return Verdict::Malformed;
        };
        if proto != IPPROTO_UDP {
            return Verdict::Foreign;
        }
        // Fragments (MF set or offset != 0) go to the stack, which reassembles them.
        if frag & 0x3fff != 0 {
            return Verdict::Foreign;
        }
        let l4 = l3 + ihl;
        if bytes::<UDP_HLEN>(ctx, l4).is_none() {
            return Verdict::Malformed;
        }
        let Some(dport) = be16(ctx, l4 + 2) else {
            return Verdict::Malformed;
        };
        if dport == cfg.udp_port {
            Verdict::Match(XdpCounter::MatchedUdp, l4 + UDP_HLEN)
        } else {
            Verdict::Foreign
        }
    }

    /// Stamps the benchmark message at `off` (arrival time `t_ns`) into `XDP_STAMPS`.
    #[inline(always)]
    fn stamp(ctx: &XdpContext, cfg: &XdpConfig, off: usize, t_ns: u64) {
        let Some(b) = bytes::<UADP_PROBE_LEN>(ctx, off) else {
            return;
        };
        if b[0] != UADP_BYTE0
            || b[1] != UADP_BYTE1
            || u16::from_le_bytes([b[2], b[3]]) != cfg.publisher_id
        {
            return;
        }
        let p = UADP_PACKET_ID_OFFSET;
        let id = u64::from_le_bytes([
            b[p],
            b[p + 1],
            b[p + 2],
            b[p + 3],
            b[p + 4],
            b[p + 5],
            b[p + 6],
            b[p + 7],
        ]);
        let Some(slot) = XDP_STAMPS.get_ptr_mut((id as u32) & (XDP_STAMP_SLOTS - 1)) else {
            return;
        };
        // SAFETY: array map value; plain integers. Userspace reads the slots after the run.
        unsafe {
            if (*slot).t_ns != 0 && (*slot).packet_id != id {
                count(XdpCounter::StampOverwritten);
            }
            (*slot).packet_id = id;
            (*slot).tid = 0;
            (*slot).cpu = bpf_get_smp_processor_id();
            (*slot).t_ns = t_ns;
        }
        count(XdpCounter::Stamped);
    }

    #[xdp]
    pub fn uadpbench_xdp(ctx: XdpContext) -> u32 {
        // SAFETY: a plain read of a global; volatile so that the loader's value is used rather
        // than the compile-time default.
        let cfg = unsafe { core::ptr::read_volatile(&XDP_CONFIG) };
        let stamping = cfg.has(XDP_FLAG_STAMP);
        // SAFETY: helper without preconditions. First thing, so the stamp is the arrival.
        let t_ns = if stamping {
            unsafe { bpf_ktime_get_ns() }
        } else {
            0
        };
        match classify(&ctx, &cfg) {
            Verdict::Match(kind, off) => {
                count(kind);
                if stamping {
                    stamp(&ctx, &cfg, off, t_ns);
                }
                // Lower bits of flags = the action returned when the queue has no socket.
                match XSKS.redirect(ctx.rx_queue_index(), u64::from(xdp_action::XDP_PASS)) {
                    Ok(action) => {
                        count(XdpCounter::Redirected);
                        action
                    }
                    Err(_) => {
                        count(XdpCounter::RedirectFailed);
                        xdp_action::XDP_PASS
                    }
                }
            }
            Verdict::Foreign => {
                count(XdpCounter::PassedForeign);
                xdp_action::XDP_PASS
            }
            Verdict::Malformed => {
                count(XdpCounter::PassedMalformed);
                xdp_action::XDP_PASS
            }
        }
    }

    #[cfg(target_arch = "bpf")]
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
