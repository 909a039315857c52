//! uadpbench XDP program `uadpbench_xdp`.
//!
//! Redirects benchmark frames to the AF_XDP socket bound at the frame's rx queue (`XSKS`):
//! UADP directly over Ethernet (EtherType 0xB62C) and UADP over UDP/IPv4 to the configured port,
//! both optionally behind one 802.1Q/802.1ad tag. A matched frame for which no socket is bound
//! is passed to the kernel stack (`XDP_PASS`); everything else is passed untouched.
//! Outcomes are counted in the per-CPU array `XDP_COUNTERS` (indices: `XdpCounter`).
//!
//! Built for `bpfel-unknown-none` by `aya-build` from `sender/build.rs`. On the host the crate
//! compiles to an empty binary so that `cargo build/clippy --workspace` work.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

mod prog {
    use aya_ebpf::{
        bindings::xdp_action,
        macros::{map, xdp},
        maps::{PerCpuArray, XskMap},
        programs::XdpContext,
    };
    use uadpbench_common::{
        XdpConfig, XdpCounter, ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_UDP,
        UADP_ETHERTYPE, XDP_COUNTER_COUNT, XDP_FLAG_REDIRECT_ETH, XDP_FLAG_REDIRECT_UDP,
        XDP_FLAG_VLAN, XSKS_MAX_ENTRIES,
    };

    /// AF_XDP sockets keyed by rx queue index.
    #[map]
    static XSKS: XskMap = XskMap::with_max_entries(XSKS_MAX_ENTRIES, 0);

    /// Outcome counters, see `XdpCounter`.
    #[map]
    static XDP_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(XDP_COUNTER_COUNT, 0);

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
        /// A benchmark frame: try the XSKMAP.
        Match(XdpCounter),
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
                Verdict::Match(XdpCounter::MatchedEth)
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
            Verdict::Match(XdpCounter::MatchedUdp)
        } else {
            Verdict::Foreign
        }
    }

    #[xdp]
    pub fn uadpbench_xdp(ctx: XdpContext) -> u32 {
        // SAFETY: a plain read of a global; volatile so that the loader's value is used rather
        // than the compile-time default.
        let cfg = unsafe { core::ptr::read_volatile(&XDP_CONFIG) };
        match classify(&ctx, &cfg) {
            Verdict::Match(kind) => {
                count(kind);
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
