//! uadpbench tracing programs (per-layer probes).
//!
//! For now one program, `net_dev_start_xmit` on the classic tracepoint `net:net_dev_start_xmit`,
//! that counts its runs in the per-CPU array `PROBE_COUNTERS` (index `ProbeCounter`). The
//! per-layer probe set with ring-buffer events (`ProbeEvent`) builds on this.
//!
//! Built for `bpfel-unknown-none` by `aya-build` from `probes/build.rs`. On the host the crate
//! compiles to an empty binary so that `cargo build/clippy --workspace` work.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

mod prog {
    use aya_ebpf::{
        macros::{map, tracepoint},
        maps::PerCpuArray,
        programs::TracePointContext,
    };
    use uadpbench_common::{ProbeCounter, PROBE_COUNTER_COUNT};

    /// Run counters, see `ProbeCounter`.
    #[map]
    static PROBE_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PROBE_COUNTER_COUNT, 0);

    #[inline(always)]
    fn count(counter: ProbeCounter) {
        if let Some(p) = PROBE_COUNTERS.get_ptr_mut(counter.index()) {
            // SAFETY: this CPU's slot; the kernel does not nest tracing programs on one CPU.
            unsafe { *p += 1 };
        }
    }

    #[tracepoint(category = "net", name = "net_dev_start_xmit")]
    pub fn net_dev_start_xmit(_ctx: TracePointContext) -> u32 {
        count(ProbeCounter::NetDevStartXmit);
        0
    }

    #[cfg(target_arch = "bpf")]
    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(not(target_arch = "bpf"))]
fn main() {}
