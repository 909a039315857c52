//! uadpbench per-layer probes: one timestamp per stack layer per benchmark packet.
//!
//! Every program recognises benchmark messages (UADP bytes 0xB1 0x01 + the configured
//! PublisherId, carried in UDP/IPv4 or directly after the Ethernet header, EtherType 0xB62C,
//! optionally behind one VLAN tag) and writes a [`Stamp`] into the slot map `PROBE_SLOTS`
//! (see `uadpbench_common::probe` for the layout and the loss accounting).
//!
//! How each program finds the packet id:
//! - syscall tracepoints and uprobes: from the user buffer (`bpf_probe_read_user`);
//! - layers without packet bytes (`sock_*_length`, `sys_exit_*`, `udp_sendmsg`, ...): from the
//!   per-thread context `PROBE_THREADS` written at the system call's entry;
//! - `tp_btf`/fentry programs: from the frame at `skb->head + skb->mac_header` (or `skb->data`
//!   while the MAC header is unset, i.e. on the transmit path), struct offsets resolved from BTF
//!   by the loader and passed in `PROBE_GLOBALS`;
//! - classic tracepoints (`skbaddr` only): through the skb → packet map `PROBE_SKB_IDS`, filled
//!   by the first transmit layer from the sending thread's context.
//!
//! Process-context layers trace only threads of `PROBE_GLOBALS.target_tgid`; device-level
//! layers (softirq context) only devices in the configured network namespaces.
//!
//! Built for `bpfel-unknown-none` by `aya-build` from `probes/build.rs`. On the host the crate
//! compiles to an empty binary so that `cargo build/clippy --workspace` work.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

mod prog {
    use core::{
        ffi::c_void,
        mem::MaybeUninit,
        ptr::{read_volatile, write_volatile},
    };

    use aya_ebpf::{
        helpers::{
            bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_ktime_get_ns,
            bpf_probe_read_kernel, generated as gen,
        },
        macros::{btf_tracepoint, fentry, kprobe, map, tracepoint, uprobe, uretprobe},
        maps::{Array, LruHashMap, PerCpuArray, RingBuf},
        programs::{
            BtfTracePointContext, FEntryContext, ProbeContext, RetProbeContext, TracePointContext,
        },
        EbpfContext,
    };
    use uadpbench_common::{
        global_counter_index, layer_counter_index, stamp_entries, stamp_index, GlobalCounter,
        LayerCounter, LayerId, ProbeGlobals, SkbId, Stamp, ThreadState, BPF_F_MMAPABLE,
        ETHERTYPE_IPV4, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_UDP, PROBE_COUNTER_COUNT,
        PROBE_DEFAULT_SLOTS, PROBE_FLAG_NETNS_FILTER, PROBE_FLAG_OFFSETS, PROBE_SKB_IDS_ENTRIES,
        PROBE_THREAD_SLOTS, RECORD_MASKS, RECORD_MASK_CLASSIC, RECORD_MASK_MAIN, SKB_ID_MAX_AGE_NS,
        THREAD_LIBC_RECV, THREAD_RECV, THREAD_RECV_ID, THREAD_SEND, UADP_BYTE0, UADP_BYTE1,
        UADP_ETHERTYPE, UADP_PACKET_ID_OFFSET, UADP_PROBE_LEN, USER_FORMAT_ETHERNET,
        USER_FORMAT_UADP,
    };
    use uadpbench_common::{
        hist_bucket, hist_from_index, hist_index, hist_point, hist_segment_index, LastStamp,
        HIST_NO_REFERENCE, HIST_SUM, PROBE_FLAG_HISTOGRAM, PROBE_HIST_ENTRIES, PROBE_MAX_CROSSINGS,
    };
    use uadpbench_common::{
        tracepoint::{self as tpf, sched_switch_format as ssf},
        SchedSwitch, PROBE_SCHED_MIN_BYTES,
    };
    use uadpbench_common::{
        CpuState, CPU_IDLE_EXIT, NET_RX_SOFTIRQ, PROBE_FLAG_DATA_READY, THREAD_POLL, THREAD_POLLED,
        THREAD_SLEPT, WAKE_DATA_READY_MAX_NS, WAKE_IPI_MAX_NS, XDP_REDIRECT_MAX_NS,
    };
    use uadpbench_common::{
        PROBE_FLAG_TX_CHAIN, TX_CHAIN_FOREIGN, TX_CHAIN_NONE, TX_CHAIN_PACKET, TX_PHASE_DRIVER,
        TX_PHASE_QUEUED,
    };

    /// The stamps, `[layer][crossing][packet slot]` (`BPF_F_MMAPABLE`: userspace maps and
    /// drains them). The loader sets the size for its number of slots.
    #[map]
    static PROBE_SLOTS: Array<Stamp> =
        Array::with_max_entries(stamp_entries(PROBE_DEFAULT_SLOTS), BPF_F_MMAPABLE);

    /// Per-layer and global counters (`LayerCounter`, `GlobalCounter`).
    #[map]
    static PROBE_COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(PROBE_COUNTER_COUNT, 0);

    /// Per-thread context of the system calls in progress, index `tid % PROBE_THREAD_SLOTS`.
    #[map]
    static PROBE_THREADS: Array<ThreadState> = Array::with_max_entries(PROBE_THREAD_SLOTS, 0);

    /// Record masks (`RECORD_MASK_MAIN`, `RECORD_MASK_CLASSIC`), written by userspace.
    #[map]
    static PROBE_RECORD: Array<u32> = Array::with_max_entries(RECORD_MASKS, 0);

    /// skb address → packet, for the classic tracepoints (which see only `skbaddr`).
    #[map]
    static PROBE_SKB_IDS: LruHashMap<u64, SkbId> =
        LruHashMap::with_max_entries(PROBE_SKB_IDS_ENTRIES, 0);

    /// `sched_switch` records of the trace window (the loader sizes it; one page by default).
    #[map]
    static PROBE_SCHED: RingBuf = RingBuf::with_byte_size(PROBE_SCHED_MIN_BYTES, 0);

    /// Histogram mode: per-CPU log2 histograms of the time since each packet's reference
    /// stamp, per (layer, crossing) (`uadpbench_common::hist_index`).
    #[map]
    static PROBE_HIST: PerCpuArray<u64> = PerCpuArray::with_max_entries(PROBE_HIST_ENTRIES, 0);

    /// Histogram mode: each packet slot's latest stamp (packet id, time, point), which the
    /// packet's next stamp measures its segment from. The loader sizes it like the slots.
    #[map]
    static PROBE_LAST: Array<LastStamp> = Array::with_max_entries(PROBE_DEFAULT_SLOTS, 0);

    /// Per-CPU context of the wake-up layers: last `sk_data_ready`, last idle exit.
    #[map]
    static PROBE_CPU: PerCpuArray<CpuState> = PerCpuArray::with_max_entries(1, 0);

    /// Trace window switch: entry 0 non-zero = record context switches. Written by userspace.
    #[map]
    static PROBE_TRACE: Array<u32> = Array::with_max_entries(1, 0);

    /// Configuration, a read-only global the loader overrides (`EbpfLoader::override_global`).
    /// The verifier reads frozen read-only globals as constants, so disabled features cost
    /// nothing and the struct offsets are constants for the BTF-typed loads.
    #[no_mangle]
    static PROBE_GLOBALS: ProbeGlobals = ProbeGlobals::DEFAULT;

    /// Reads a field of `PROBE_GLOBALS` (volatile: the compiler must not fold the default).
    macro_rules! g {
        ($($field:tt)+) => {{
            // SAFETY: a plain read of an immutable static.
            #[allow(unused_unsafe, reason = "the macro is also used inside unsafe blocks")]
            let value = unsafe { read_volatile(&raw const PROBE_GLOBALS.$($field)+) };
            value
        }};
    }

    const ETH_HLEN: usize = 14;
    const IPV4_HLEN: usize = 20;
    const UDP_HLEN: usize = 8;
    /// Bytes of a frame read at once: VLAN tag + IPv4 (no options) + UDP + the UADP bytes the
    /// probes need (82), rounded up.
    const FRAME_READ: usize = 88;
    /// `skb->mac_header` when unset.
    const MAC_HEADER_UNSET: u16 = 0xffff;

    // ------------------------------------------------------------------ counters, stamps

    #[inline(always)]
    fn bump(index: u32) {
        if let Some(p) = PROBE_COUNTERS.get_ptr_mut(index) {
            // SAFETY: this CPU's slot of a per-CPU array. A program does not nest into itself on
            // one CPU and each index is written by one program (one per layer).
            unsafe { *p += 1 };
        }
    }

    #[inline(always)]
    fn bump_layer(layer: LayerId, counter: LayerCounter) {
        bump(layer_counter_index(layer, counter));
    }

    #[derive(Clone, Copy)]
    enum Crossing {
        /// The first crossing whose stamp of this layer does not hold the packet yet.
        Next,
        /// A crossing known from the context (e.g. carried from `sys_enter_sendto`).
        Fixed(u32),
    }

    /// Whether `layer`'s stamps are recorded (`mask`: `RECORD_MASK_MAIN` or `_CLASSIC`).
    #[inline(always)]
    fn recording(layer: LayerId, mask: u32) -> bool {
        PROBE_RECORD
            .get(mask)
            .is_some_and(|m| *m & layer.bit() != 0)
    }

    /// Writes the stamp of `layer` for packet `id`; returns the crossing used.
    #[inline(always)]
    fn record(layer: LayerId, id: u64, crossing: Crossing, tid: u32) -> u32 {
        record_masked(layer, id, crossing, RECORD_MASK_MAIN, tid)
    }

    /// [`record`] with the given record mask. `tid` 0: look up the current thread (one helper
    /// call, ~20 ns here: callers that know it pass it).
    #[inline(always)]
    fn record_masked(layer: LayerId, id: u64, crossing: Crossing, mask: u32, tid: u32) -> u32 {
        let slot_mask = g!(slot_mask);
        let c = match crossing {
            Crossing::Fixed(c) => c & 1,
            Crossing::Next => {
                let Some(s0) = PROBE_SLOTS.get_ptr(stamp_index(layer, 0, id, slot_mask)) else {
                    return 0;
                };
                // SAFETY: array map value; plain integers.
                unsafe {
                    if read_volatile(&raw const (*s0).t_ns) != 0
                        && read_volatile(&raw const (*s0).packet_id) == id
                    {
                        1
                    } else {
                        0
                    }
                }
            }
        };
        if !recording(layer, mask) {
            return c;
        }
        let Some(s) = PROBE_SLOTS.get_ptr_mut(stamp_index(layer, c, id, slot_mask)) else {
            return c;
        };
        // SAFETY: `s` points into the array map's value; concurrent writers of the same stamp
        // are not expected (one program per layer, a packet crosses a layer once per
        // crossing); the fields are plain integers.
        unsafe {
            if read_volatile(&raw const (*s).t_ns) != 0 {
                if read_volatile(&raw const (*s).packet_id) == id {
                    bump_layer(layer, LayerCounter::ExtraCrossing);
                    return c;
                }
                bump_layer(layer, LayerCounter::Overwritten);
            }
            let t_ns = bpf_ktime_get_ns();
            let tid = if tid != 0 {
                tid
            } else {
                bpf_get_current_pid_tgid() as u32
            };
            let cpu = bpf_get_smp_processor_id();
            write_volatile(&raw mut (*s).packet_id, id);
            write_volatile(&raw mut (*s).tid, tid);
            write_volatile(&raw mut (*s).cpu, cpu);
            // Last: a non-zero t_ns marks the stamp valid.
            write_volatile(&raw mut (*s).t_ns, t_ns);
            hist_count(layer, c, id, t_ns, true);
        }
        bump_layer(layer, LayerCounter::Recorded);
        c
    }

    /// Histogram mode: counts the time from packet `id`'s reference stamp to `t_ns` in the
    /// histogram of (`layer`, `crossing`), and, for a stamp recorded when it was taken
    /// (`in_time_order`), the segment from its previous stamp ([`hist_segment`]). A no-op (a constant branch for the verifier)
    /// otherwise.
    #[inline(always)]
    fn hist_count(layer: LayerId, crossing: u32, id: u64, t_ns: u64, in_time_order: bool) {
        if g!(flags) & PROBE_FLAG_HISTOGRAM == 0 || id < g!(hist_first_packet) as u64 {
            return;
        }
        if in_time_order {
            hist_segment(hist_point(layer, crossing), id, t_ns);
        }
        // stamp_index(reference layer, crossing 0, id) from the raw layer index.
        let mask = g!(slot_mask);
        let r = g!(hist_ref_layer) * PROBE_MAX_CROSSINGS as u32 * (mask + 1) + (id as u32 & mask);
        let t_ref = PROBE_SLOTS
            .get_ptr(r)
            // SAFETY: array map value; plain integers.
            .and_then(|s| unsafe {
                let t = read_volatile(&raw const (*s).t_ns);
                (t != 0 && t <= t_ns && read_volatile(&raw const (*s).packet_id) == id).then_some(t)
            });
        let Some(t_ref) = t_ref else {
            if let Some(n) = PROBE_HIST.get_ptr_mut(hist_index(layer, crossing, HIST_NO_REFERENCE))
            {
                // SAFETY: this CPU's slot of a per-CPU array; programs do not nest on a CPU.
                unsafe { *n += 1 };
            }
            return;
        };
        let d = t_ns - t_ref;
        if let Some(n) = PROBE_HIST.get_ptr_mut(hist_index(layer, crossing, hist_bucket(d))) {
            // SAFETY: as above.
            unsafe { *n += 1 };
        }
        if let Some(n) = PROBE_HIST.get_ptr_mut(hist_index(layer, crossing, HIST_SUM)) {
            // SAFETY: as above.
            unsafe { *n += d };
        }
    }

    /// Histogram mode: counts the time from packet `id`'s previous stamp (its slot's
    /// `PROBE_LAST`, whichever point wrote it) to `t_ns` in the per-segment histogram of
    /// `point`, and that predecessor; then `point` becomes the packet's latest stamp. The
    /// packet's first stamp, and a stamp written after a later one of the same packet (another
    /// CPU), count as having no earlier stamp.
    #[inline(always)]
    fn hist_segment(point: u32, id: u64, t_ns: u64) {
        let Some(last) = PROBE_LAST.get_ptr_mut(id as u32 & g!(slot_mask)) else {
            return;
        };
        let count = |index: u32, by: u64| {
            if let Some(n) = PROBE_HIST.get_ptr_mut(index) {
                // SAFETY: this CPU's slot of a per-CPU array; programs do not nest on a CPU.
                unsafe { *n += by };
            }
        };
        // SAFETY: array map value of plain integers; a racing writer on another CPU can only
        // make this read a mix of two stamps of the packet, which the checks below bound.
        unsafe {
            let same = read_volatile(&raw const (*last).packet_id) == id;
            let t_prev = read_volatile(&raw const (*last).t_ns);
            let from = read_volatile(&raw const (*last).point);
            if same && t_prev != 0 && t_prev > t_ns {
                count(hist_segment_index(point, HIST_NO_REFERENCE), 1);
                return;
            }
            if same && t_prev != 0 && from < uadpbench_common::HIST_POINTS {
                let d = t_ns - t_prev;
                count(hist_segment_index(point, hist_bucket(d)), 1);
                count(hist_segment_index(point, HIST_SUM), d);
                count(hist_from_index(point, from), 1);
            } else {
                count(hist_segment_index(point, HIST_NO_REFERENCE), 1);
            }
            write_volatile(&raw mut (*last).packet_id, id);
            write_volatile(&raw mut (*last).point, point);
            write_volatile(&raw mut (*last).t_ns, t_ns);
        }
    }

    /// Writes a stamp of `layer` for packet `id` at `crossing` with a time, thread and CPU
    /// taken earlier (the wake-up layers: their events happen before the packet id is known).
    #[inline(always)]
    fn record_at(layer: LayerId, id: u64, crossing: u32, t_ns: u64, tid: u32, cpu: u32) {
        if t_ns == 0 || !recording(layer, RECORD_MASK_MAIN) {
            return;
        }
        let Some(s) = PROBE_SLOTS.get_ptr_mut(stamp_index(layer, crossing, id, g!(slot_mask)))
        else {
            return;
        };
        // SAFETY: as in `record_masked`.
        unsafe {
            if read_volatile(&raw const (*s).t_ns) != 0 {
                if read_volatile(&raw const (*s).packet_id) == id {
                    bump_layer(layer, LayerCounter::ExtraCrossing);
                    return;
                }
                bump_layer(layer, LayerCounter::Overwritten);
            }
            write_volatile(&raw mut (*s).packet_id, id);
            write_volatile(&raw mut (*s).tid, tid);
            write_volatile(&raw mut (*s).cpu, cpu);
            write_volatile(&raw mut (*s).t_ns, t_ns);
            // Only xdp_redirect is stamped at the time it is recorded; the other layers of
            // `record_at` (wake-up, softirq) carry times taken earlier, out of time order.
            hist_count(layer, crossing, id, t_ns, layer == LayerId::XdpRedirect);
        }
        bump_layer(layer, LayerCounter::Recorded);
    }

    // ------------------------------------------------------------------ threads

    /// The current thread id if it belongs to the target process.
    #[inline(always)]
    fn target_thread() -> Option<u32> {
        let pid_tgid = bpf_get_current_pid_tgid();
        let target = g!(target_tgid);
        if target != 0 && (pid_tgid >> 32) as u32 != target {
            return None;
        }
        Some(pid_tgid as u32)
    }

    #[inline(always)]
    fn thread_state(tid: u32) -> Option<*mut ThreadState> {
        PROBE_THREADS.get_ptr_mut(tid & (PROBE_THREAD_SLOTS - 1))
    }

    /// The current target thread's context slot, taken over if another thread held it.
    #[inline(always)]
    fn claim_thread() -> Option<(*mut ThreadState, u32)> {
        let tid = target_thread()?;
        let ts = thread_state(tid)?;
        // SAFETY: array map value; only target threads with this slot index write it.
        unsafe {
            if (*ts).tid != tid {
                if (*ts).flags != 0 {
                    bump(global_counter_index(GlobalCounter::ThreadSlotEvictions));
                }
                (*ts).tid = tid;
                (*ts).flags = 0;
            }
        }
        Some((ts, tid))
    }

    /// The current target thread's context slot if it owns it.
    #[inline(always)]
    fn own_thread() -> Option<(*mut ThreadState, u32)> {
        let tid = target_thread()?;
        let ts = thread_state(tid)?;
        // SAFETY: array map value.
        if unsafe { (*ts).tid } != tid {
            return None;
        }
        Some((ts, tid))
    }

    // ------------------------------------------------------------------ packet parsing

    enum Parsed {
        Id(u64),
        Foreign,
        ReadFailed,
    }

    /// Copies memory at an address into a buffer: kernel or user memory.
    trait Reader {
        /// # Safety
        /// `dst` is valid for `len` bytes; `src` is any address (the helper fails cleanly).
        unsafe fn read(src: u64, dst: *mut u8, len: u32) -> bool;
    }

    struct KernelMem;
    impl Reader for KernelMem {
        #[inline(always)]
        unsafe fn read(src: u64, dst: *mut u8, len: u32) -> bool {
            // SAFETY: see the trait; the helper handles faults.
            unsafe { gen::bpf_probe_read_kernel(dst.cast(), len, src as *const c_void) == 0 }
        }
    }

    struct UserMem;
    impl Reader for UserMem {
        #[inline(always)]
        unsafe fn read(src: u64, dst: *mut u8, len: u32) -> bool {
            // SAFETY: see the trait; the helper handles faults.
            unsafe { gen::bpf_probe_read_user(dst.cast(), len, src as *const c_void) == 0 }
        }
    }

    /// `N` bytes at `src`, or `None` if unreadable. No zero-initialisation: LLVM would emit a
    /// `memset` subprogram call (a byte loop) for it, the most expensive part of a probe.
    #[inline(always)]
    fn read_bytes<R: Reader, const N: usize>(src: u64) -> Option<[u8; N]> {
        let mut b = MaybeUninit::<[u8; N]>::uninit();
        // SAFETY: `b` has room for N bytes; on success the helper wrote all of them.
        unsafe { R::read(src, b.as_mut_ptr().cast(), N as u32).then(|| b.assume_init()) }
    }

    #[inline(always)]
    fn be16(hi: u8, lo: u8) -> u16 {
        u16::from_be_bytes([hi, lo])
    }

    /// The packet id of the benchmark message at `b[off..]`, if it is one.
    #[inline(always)]
    fn uadp_at<const N: usize>(b: &[u8; N], off: usize) -> Parsed {
        if off + UADP_PROBE_LEN > N {
            return Parsed::Foreign;
        }
        if b[off] != UADP_BYTE0
            || b[off + 1] != UADP_BYTE1
            || u16::from_le_bytes([b[off + 2], b[off + 3]]) != g!(publisher_id)
        {
            return Parsed::Foreign;
        }
        let p = off + UADP_PACKET_ID_OFFSET;
        Parsed::Id(u64::from_le_bytes([
            b[p],
            b[p + 1],
            b[p + 2],
            b[p + 3],
            b[p + 4],
            b[p + 5],
            b[p + 6],
            b[p + 7],
        ]))
    }

    #[inline(always)]
    fn udp_port_ok(sport: u16, dport: u16) -> bool {
        let port = g!(udp_port);
        sport == port || dport == port
    }

    /// The packet id of the Ethernet frame at `frame` (`len`: bytes valid there).
    #[inline(always)]
    unsafe fn frame_id<R: Reader>(frame: u64, len: u64) -> Parsed {
        let Some(b) = read_bytes::<R, FRAME_READ>(frame) else {
            return Parsed::ReadFailed;
        };
        let et = be16(b[12], b[13]);
        if et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ {
            // SAFETY: as above.
            unsafe { after_ethernet::<R, 4>(&b, frame, len) }
        } else {
            // SAFETY: as above.
            unsafe { after_ethernet::<R, 0>(&b, frame, len) }
        }
    }

    #[inline(always)]
    unsafe fn after_ethernet<R: Reader, const V: usize>(
        b: &[u8; FRAME_READ],
        frame: u64,
        len: u64,
    ) -> Parsed {
        let l3 = ETH_HLEN + V;
        let et = be16(b[l3 - 2], b[l3 - 1]);
        if et == UADP_ETHERTYPE {
            if len < (l3 + UADP_PROBE_LEN) as u64 {
                return Parsed::Foreign;
            }
            return uadp_at(b, l3);
        }
        if et != ETHERTYPE_IPV4 {
            return Parsed::Foreign;
        }
        let vihl = b[l3];
        // Not IPv4/UDP, or a non-first fragment.
        if vihl >> 4 != 4 || b[l3 + 9] != IPPROTO_UDP || (b[l3 + 6] & 0x1f) | b[l3 + 7] != 0 {
            return Parsed::Foreign;
        }
        let ihl = ((vihl & 0x0f) as usize) * 4;
        if ihl == IPV4_HLEN {
            let l4 = l3 + IPV4_HLEN;
            if !udp_port_ok(be16(b[l4], b[l4 + 1]), be16(b[l4 + 2], b[l4 + 3]))
                || len < (l4 + UDP_HLEN + UADP_PROBE_LEN) as u64
            {
                return Parsed::Foreign;
            }
            uadp_at(b, l4 + UDP_HLEN)
        } else if ihl > IPV4_HLEN {
            // IPv4 options: read the UDP header and the UADP bytes behind them.
            let l4 = (l3 + ihl) as u64;
            if len < l4 + (UDP_HLEN + UADP_PROBE_LEN) as u64 {
                return Parsed::Foreign;
            }
            let Some(u) = read_bytes::<R, { UDP_HLEN + UADP_PROBE_LEN }>(frame + l4) else {
                return Parsed::ReadFailed;
            };
            if !udp_port_ok(be16(u[0], u[1]), be16(u[2], u[3])) {
                return Parsed::Foreign;
            }
            uadp_at(&u, UDP_HLEN)
        } else {
            Parsed::Foreign
        }
    }

    /// A zeroed frame buffer, written with 8-byte stores (not a `memset` call).
    #[inline(always)]
    fn zeroed_frame() -> [u8; FRAME_READ] {
        #[repr(C, align(8))]
        struct Words([u64; FRAME_READ / 8]);
        let mut w = MaybeUninit::<Words>::uninit();
        let p = w.as_mut_ptr().cast::<u64>();
        for i in 0..FRAME_READ / 8 {
            // SAFETY: `i` < the number of words.
            unsafe { write_volatile(p.add(i), 0) };
        }
        // SAFETY: every word was written; [u8; N] has no alignment needs.
        unsafe { core::mem::transmute::<Words, [u8; FRAME_READ]>(w.assume_init()) }
    }

    /// The packet id of a user buffer of `len` bytes (format per `PROBE_GLOBALS.user_format`).
    #[inline(always)]
    fn user_id(buf: u64, len: u64) -> Parsed {
        let format = g!(user_format);
        if format == USER_FORMAT_UADP {
            if len < UADP_PROBE_LEN as u64 {
                return Parsed::Foreign;
            }
            let Some(b) = read_bytes::<UserMem, UADP_PROBE_LEN>(buf) else {
                return Parsed::ReadFailed;
            };
            uadp_at(&b, 0)
        } else if format == USER_FORMAT_ETHERNET {
            if len < FRAME_READ as u64 {
                // Shorter frames: read only what is there (no fault past a page end).
                if len < (ETH_HLEN + UADP_PROBE_LEN) as u64 {
                    return Parsed::Foreign;
                }
                let mut b = zeroed_frame();
                let n = (len as usize).min(FRAME_READ);
                // SAFETY: `b` has room for FRAME_READ ≥ n bytes.
                if !unsafe { UserMem::read(buf, b.as_mut_ptr(), n as u32) } {
                    return Parsed::ReadFailed;
                }
                let et = be16(b[12], b[13]);
                // SAFETY: only the in-buffer branches are reachable for len < FRAME_READ.
                return unsafe {
                    if et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ {
                        after_ethernet::<UserMem, 4>(&b, buf, len)
                    } else {
                        after_ethernet::<UserMem, 0>(&b, buf, len)
                    }
                };
            }
            // SAFETY: see Reader.
            unsafe { frame_id::<UserMem>(buf, len) }
        } else {
            Parsed::Foreign
        }
    }

    // ------------------------------------------------------------------ kernel structs

    /// Reads kernel struct fields: direct loads (BTF-typed pointers of tp_btf/fentry programs,
    /// which the verifier turns into fault-safe loads) or `bpf_probe_read_kernel` (kprobes).
    trait KernelFields {
        unsafe fn u64_at(p: *const u8, off: u16) -> u64;
        unsafe fn u32_at(p: *const u8, off: u16) -> u32;
        unsafe fn u16_at(p: *const u8, off: u16) -> u16;
    }

    struct Direct;
    impl KernelFields for Direct {
        #[inline(always)]
        unsafe fn u64_at(p: *const u8, off: u16) -> u64 {
            // SAFETY: `p` is a BTF-typed kernel pointer; the verifier checks the access.
            unsafe { read_volatile(p.add(off as usize).cast::<u64>()) }
        }
        #[inline(always)]
        unsafe fn u32_at(p: *const u8, off: u16) -> u32 {
            // SAFETY: as above.
            unsafe { read_volatile(p.add(off as usize).cast::<u32>()) }
        }
        #[inline(always)]
        unsafe fn u16_at(p: *const u8, off: u16) -> u16 {
            // SAFETY: as above.
            unsafe { read_volatile(p.add(off as usize).cast::<u16>()) }
        }
    }

    struct Probed;
    impl KernelFields for Probed {
        #[inline(always)]
        unsafe fn u64_at(p: *const u8, off: u16) -> u64 {
            // SAFETY: bpf_probe_read_kernel handles faults.
            unsafe { bpf_probe_read_kernel(p.add(off as usize).cast::<u64>()).unwrap_or(0) }
        }
        #[inline(always)]
        unsafe fn u32_at(p: *const u8, off: u16) -> u32 {
            // SAFETY: as above.
            unsafe { bpf_probe_read_kernel(p.add(off as usize).cast::<u32>()).unwrap_or(0) }
        }
        #[inline(always)]
        unsafe fn u16_at(p: *const u8, off: u16) -> u16 {
            // SAFETY: as above.
            unsafe { bpf_probe_read_kernel(p.add(off as usize).cast::<u16>()).unwrap_or(0) }
        }
    }

    /// Whether the skb's device is in one of the traced network namespaces.
    #[inline(always)]
    unsafe fn skb_dev_traced<K: KernelFields>(skb: *const u8) -> bool {
        if g!(flags) & PROBE_FLAG_NETNS_FILTER == 0 {
            return true;
        }
        // SAFETY: see KernelFields.
        unsafe {
            let dev = K::u64_at(skb, g!(offsets.skb_dev)) as *const u8;
            if dev.is_null() {
                return false;
            }
            let net = K::u64_at(dev, g!(offsets.dev_nd_net)) as *const u8;
            if net.is_null() {
                return false;
            }
            let inum = K::u32_at(net, g!(offsets.net_ns_inum));
            inum != 0 && (inum == g!(netns_inum[0]) || inum == g!(netns_inum[1]))
        }
    }

    /// The packet id of the frame in an skb: at `head + mac_header`, or at `data` while the MAC
    /// header is unset (transmit path before the driver).
    #[inline(always)]
    unsafe fn skb_id<K: KernelFields>(skb: *const u8) -> Parsed {
        // SAFETY: see KernelFields.
        let frame = unsafe {
            let mac = K::u16_at(skb, g!(offsets.skb_mac_header));
            if mac != MAC_HEADER_UNSET {
                K::u64_at(skb, g!(offsets.skb_head)) + mac as u64
            } else {
                K::u64_at(skb, g!(offsets.skb_data))
            }
        };
        if frame == 0 {
            return Parsed::Foreign;
        }
        // SAFETY: see Reader.
        unsafe { frame_id::<KernelMem>(frame, u64::MAX) }
    }

    /// Which events of an skb layer are ours.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Scope {
        /// Softirq/device context: skbs on devices in the traced namespaces.
        Device,
        /// Process context: skbs handled by target threads.
        Process,
        /// Any context (recognised by content only).
        Any,
    }

    /// Where an skb layer stands in the transmit chain of one `dev_queue_xmit` call
    /// ([`PROBE_FLAG_TX_CHAIN`]).
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Chain {
        /// Not a transmit-chain layer: read the frame.
        No,
        /// `net_dev_queue`, `qdisc_dequeue`: read the frame, leave the result in the CPU's
        /// context (queued).
        Start,
        /// `net_dev_start_xmit`: use the context if it is this skb's (else read the frame);
        /// the skb is in the driver from here.
        Driver,
        /// veth's `netif_rx`: use the context only while this skb is in the driver.
        InDriver,
        /// `net_dev_xmit` with the skb length the tracepoint reports (the driver may have
        /// freed the skb): use the context while this skb is in the driver, and end it.
        End(u32),
    }

    /// The transmit-chain context for `skb`, if the CPU's context holds it: same address and
    /// data end (`data + len`, `end`), or for `net_dev_xmit` the same length (`xmit_len`);
    /// `driver`: only while the skb is in the driver.
    #[inline(always)]
    fn chain_lookup(
        skb: *const u8,
        end: u64,
        xmit_len: Option<u32>,
        driver: bool,
    ) -> Option<Parsed> {
        let cs = PROBE_CPU.get_ptr_mut(0)?;
        // SAFETY: this CPU's entry (programs do not nest on a CPU).
        unsafe {
            let kind = (*cs).tx_kind;
            if kind == TX_CHAIN_NONE
                || (*cs).tx_skb != skb as u64
                || (driver && (*cs).tx_phase != TX_PHASE_DRIVER)
            {
                return None;
            }
            let same = match xmit_len {
                Some(l) => {
                    (*cs).tx_kind = TX_CHAIN_NONE;
                    (*cs).tx_len == l
                }
                None => (*cs).tx_end == end,
            };
            if !same {
                return None;
            }
            Some(if kind == TX_CHAIN_PACKET {
                Parsed::Id((*cs).tx_packet_id)
            } else {
                Parsed::Foreign
            })
        }
    }

    /// Leaves what was found in `skb` (length `len`, data end `end`) in the CPU's context for
    /// the transmit layers after this one, in `phase`.
    #[inline(always)]
    fn chain_set(skb: *const u8, len: u32, end: u64, parsed: &Parsed, phase: u32) {
        let Some(cs) = PROBE_CPU.get_ptr_mut(0) else {
            return;
        };
        // SAFETY: this CPU's entry.
        unsafe {
            match *parsed {
                Parsed::Id(id) => {
                    (*cs).tx_kind = TX_CHAIN_PACKET;
                    (*cs).tx_packet_id = id;
                }
                Parsed::Foreign => (*cs).tx_kind = TX_CHAIN_FOREIGN,
                Parsed::ReadFailed => {
                    (*cs).tx_kind = TX_CHAIN_NONE;
                    return;
                }
            }
            (*cs).tx_skb = skb as u64;
            (*cs).tx_len = len;
            (*cs).tx_end = end;
            (*cs).tx_phase = phase;
        }
    }

    /// An skb layer with a BTF-typed (or probe-read) `struct sk_buff *`.
    #[inline(always)]
    fn on_skb<K: KernelFields>(layer: LayerId, skb: *const u8, scope: Scope, chain: Chain) {
        if g!(flags) & PROBE_FLAG_OFFSETS == 0 || skb.is_null() {
            return;
        }
        let mut tid = 0;
        if scope == Scope::Process {
            match target_thread() {
                Some(t) => tid = t,
                None => return,
            }
        }
        // SAFETY: see KernelFields.
        if scope == Scope::Device && !unsafe { skb_dev_traced::<K>(skb) } {
            return;
        }
        let chained = g!(flags) & PROBE_FLAG_TX_CHAIN != 0 && chain != Chain::No;
        let mut found = None;
        let (mut len, mut end) = (0, 0);
        if chained {
            if let Chain::End(l) = chain {
                found = chain_lookup(skb, 0, Some(l), true);
            } else {
                // SAFETY: see KernelFields.
                unsafe {
                    len = K::u32_at(skb, g!(offsets.skb_len));
                    end = K::u64_at(skb, g!(offsets.skb_data)).wrapping_add(len as u64);
                }
                if chain != Chain::Start {
                    found = chain_lookup(skb, end, None, chain == Chain::InDriver);
                }
            }
            if found.is_some() {
                bump_layer(layer, LayerCounter::ChainHit);
            }
        }
        let parsed = match found {
            Some(p) => p,
            // SAFETY: see KernelFields.
            None => unsafe { skb_id::<K>(skb) },
        };
        if chained {
            match chain {
                Chain::Start => chain_set(skb, len, end, &parsed, TX_PHASE_QUEUED),
                Chain::Driver => chain_set(skb, len, end, &parsed, TX_PHASE_DRIVER),
                _ => {}
            }
        }
        match parsed {
            Parsed::Id(id) => {
                let c = record(layer, id, Crossing::Next, tid);
                if layer == LayerId::NetifReceiveSkb {
                    net_rx_softirq(id, c, tid);
                    xdp_redirect_context(id, c);
                }
            }
            Parsed::ReadFailed => {
                bump_layer(layer, LayerCounter::ReadFailed);
                if layer == LayerId::NetifReceiveSkb {
                    xdp_redirect_context_clear();
                }
            }
            Parsed::Foreign => {
                if layer == LayerId::NetifReceiveSkb {
                    xdp_redirect_context_clear();
                }
            }
        }
    }

    /// The packet `id` (crossing `c`) is being received by `netif_receive_skb`: if this CPU is
    /// inside a NET_RX softirq (entered after its last exit), stamp that softirq's entry.
    #[inline(always)]
    fn net_rx_softirq(id: u64, c: u32, tid: u32) {
        if !recording(LayerId::NetRxSoftirq, RECORD_MASK_MAIN) {
            return;
        }
        let Some(cs) = PROBE_CPU.get_ptr(0) else {
            return;
        };
        // SAFETY: this CPU's entry; helpers without preconditions.
        unsafe {
            let entry = (*cs).net_rx_entry_ns;
            if entry != 0 && entry > (*cs).net_rx_exit_ns {
                let tid = if tid != 0 {
                    tid
                } else {
                    bpf_get_current_pid_tgid() as u32
                };
                record_at(
                    LayerId::NetRxSoftirq,
                    id,
                    c,
                    entry,
                    tid,
                    bpf_get_smp_processor_id(),
                );
            }
        }
    }

    /// The packet `id` (crossing `c`) is being received by `netif_receive_skb`: with the
    /// `xdp_redirect` layer recorded, remember it on this CPU for the generic XDP program's
    /// redirect that follows in the same call.
    #[inline(always)]
    fn xdp_redirect_context(id: u64, c: u32) {
        if !recording(LayerId::XdpRedirect, RECORD_MASK_MAIN) {
            return;
        }
        if let Some(cs) = PROBE_CPU.get_ptr_mut(0) {
            // SAFETY: this CPU's entry; helper without preconditions.
            unsafe {
                (*cs).rx_packet_id = id;
                (*cs).rx_crossing = c;
                (*cs).rx_t_ns = bpf_ktime_get_ns();
            }
        }
    }

    /// Another skb of a traced device enters `netif_receive_skb` on this CPU: a redirect that
    /// follows belongs to it, not to the last benchmark packet.
    #[inline(always)]
    fn xdp_redirect_context_clear() {
        if !recording(LayerId::XdpRedirect, RECORD_MASK_MAIN) {
            return;
        }
        if let Some(cs) = PROBE_CPU.get_ptr_mut(0) {
            // SAFETY: this CPU's entry.
            unsafe { (*cs).rx_t_ns = 0 };
        }
    }

    /// `xdp:xdp_redirect`: a successful XDP redirect on this CPU. Generic XDP redirects inside
    /// `__netif_receive_skb_core`, right after its `netif_receive_skb` tracepoint: the
    /// redirect belongs to the packet stamped there (within `XDP_REDIRECT_MAX_NS`, once).
    #[tracepoint(category = "xdp", name = "xdp_redirect")]
    pub fn tp_xdp_redirect(ctx: TracePointContext) -> u32 {
        let Some(cs) = PROBE_CPU.get_ptr_mut(0) else {
            return 0;
        };
        // SAFETY: this CPU's entry; helpers without preconditions.
        unsafe {
            let t = (*cs).rx_t_ns;
            if t == 0 {
                return 0;
            }
            // A failed redirect consumes the context too: its packet was not redirected.
            (*cs).rx_t_ns = 0;
            let err: i32 = tp_field(&ctx, tpf::XDP_REDIRECT_ERR);
            if err != 0 {
                return 0;
            }
            let now = bpf_ktime_get_ns();
            if now.wrapping_sub(t) > XDP_REDIRECT_MAX_NS {
                return 0;
            }
            record_at(
                LayerId::XdpRedirect,
                (*cs).rx_packet_id,
                (*cs).rx_crossing,
                now,
                bpf_get_current_pid_tgid() as u32,
                bpf_get_smp_processor_id(),
            );
        }
        0
    }

    /// A softirq `vec` starts on this CPU: remember when, if it is NET_RX.
    #[inline(always)]
    fn on_softirq_entry(vec: u32) {
        if vec == NET_RX_SOFTIRQ {
            if let Some(cs) = PROBE_CPU.get_ptr_mut(0) {
                // SAFETY: this CPU's entry; helper without preconditions.
                unsafe { (*cs).net_rx_entry_ns = bpf_ktime_get_ns() };
            }
        }
    }

    /// A softirq `vec` ends on this CPU: remember when, if it is NET_RX.
    #[inline(always)]
    fn on_softirq_exit(vec: u32) {
        if vec == NET_RX_SOFTIRQ {
            if let Some(cs) = PROBE_CPU.get_ptr_mut(0) {
                // SAFETY: this CPU's entry; helper without preconditions.
                unsafe { (*cs).net_rx_exit_ns = bpf_ktime_get_ns() };
            }
        }
    }

    /// `irq:softirq_entry`: remembers when this CPU entered the NET_RX softirq.
    #[tracepoint(category = "irq", name = "softirq_entry")]
    pub fn tp_softirq_entry(ctx: TracePointContext) -> u32 {
        on_softirq_entry(tp_field(&ctx, tpf::SOFTIRQ_VEC));
        0
    }

    /// The same as a BTF tracepoint (`vec_nr`, argument 0): no trace record is built.
    #[btf_tracepoint(function = "softirq_entry")]
    pub fn btf_softirq_entry(ctx: BtfTracePointContext) -> i32 {
        // argument 0 of btf_trace_softirq_entry is `unsigned int vec_nr`.
        on_softirq_entry(ctx.arg::<u64>(0) as u32);
        0
    }

    /// Helper (no layer): `irq:softirq_exit`: remembers when this CPU left the NET_RX softirq.
    #[tracepoint(category = "irq", name = "softirq_exit")]
    pub fn tp_softirq_exit(ctx: TracePointContext) -> u32 {
        on_softirq_exit(tp_field(&ctx, tpf::SOFTIRQ_VEC));
        0
    }

    /// The same as a BTF tracepoint (`vec_nr`, argument 0).
    #[btf_tracepoint(function = "softirq_exit")]
    pub fn btf_softirq_exit(ctx: BtfTracePointContext) -> i32 {
        // argument 0 of btf_trace_softirq_exit is `unsigned int vec_nr`.
        on_softirq_exit(ctx.arg::<u64>(0) as u32);
        0
    }

    // ------------------------------------------------------------------ context layers

    /// A send-side layer without packet bytes: the packet of the thread's `sendto`.
    #[inline(always)]
    fn on_send_context(layer: LayerId) {
        let Some((ts, tid)) = own_thread() else {
            return;
        };
        // SAFETY: array map value owned by this thread.
        unsafe {
            if (*ts).flags & THREAD_SEND != 0 {
                record(
                    layer,
                    (*ts).send_id,
                    Crossing::Fixed((*ts).send_crossing),
                    tid,
                );
            }
        }
    }

    /// A tracepoint field at a fixed offset: a `uadpbench_common::tracepoint` constant, which the
    /// loader's layer table lists too and checks against the kernel's format file.
    #[inline(always)]
    fn tp_field<T: Copy>(ctx: &TracePointContext, off: usize) -> T {
        // SAFETY: tracepoint context reads at constant offsets are checked by the verifier.
        unsafe { read_volatile((ctx.as_ptr() as *const u8).add(off).cast::<T>()) }
    }

    // ------------------------------------------------------------------ syscalls

    #[tracepoint(category = "syscalls", name = "sys_enter_sendto")]
    pub fn tp_sys_enter_sendto(ctx: TracePointContext) -> u32 {
        let Some((ts, tid)) = claim_thread() else {
            return 0;
        };
        let buf: u64 = tp_field(&ctx, tpf::SYS_ENTER_SENDTO_BUFF);
        let len: u64 = tp_field(&ctx, tpf::SYS_ENTER_SENDTO_LEN);
        // SAFETY: array map value owned by this thread.
        unsafe { (*ts).flags &= !THREAD_SEND };
        match user_id(buf, len) {
            Parsed::Id(id) => {
                let c = record(LayerId::SysEnterSendto, id, Crossing::Next, tid);
                let frame_len = if g!(user_format) == USER_FORMAT_UADP {
                    len + (ETH_HLEN + IPV4_HLEN + UDP_HLEN) as u64
                } else {
                    len
                };
                // SAFETY: as above.
                unsafe {
                    (*ts).send_id = id;
                    (*ts).send_crossing = c;
                    (*ts).send_len = frame_len as u32;
                    (*ts).flags |= THREAD_SEND;
                }
            }
            Parsed::ReadFailed => bump_layer(LayerId::SysEnterSendto, LayerCounter::ReadFailed),
            Parsed::Foreign => {}
        }
        0
    }

    #[tracepoint(category = "syscalls", name = "sys_exit_sendto")]
    pub fn tp_sys_exit_sendto(_ctx: TracePointContext) -> u32 {
        let Some((ts, tid)) = own_thread() else {
            return 0;
        };
        // SAFETY: array map value owned by this thread.
        unsafe {
            if (*ts).flags & THREAD_SEND != 0 {
                record(
                    LayerId::SysExitSendto,
                    (*ts).send_id,
                    Crossing::Fixed((*ts).send_crossing),
                    tid,
                );
                (*ts).flags &= !THREAD_SEND;
            }
        }
        0
    }

    #[tracepoint(category = "sock", name = "sock_send_length")]
    pub fn tp_sock_send_length(_ctx: TracePointContext) -> u32 {
        on_send_context(LayerId::SockSendLength);
        0
    }

    /// Helper (no layer): remembers the user buffer of a `recvfrom`.
    #[tracepoint(category = "syscalls", name = "sys_enter_recvfrom")]
    pub fn tp_sys_enter_recvfrom(ctx: TracePointContext) -> u32 {
        let Some((ts, _)) = claim_thread() else {
            return 0;
        };
        let ubuf: u64 = tp_field(&ctx, tpf::SYS_ENTER_RECVFROM_UBUF);
        // SAFETY: array map value owned by this thread.
        unsafe {
            (*ts).recv_ubuf = ubuf;
            (*ts).flags = recv_entry_flags((*ts).flags);
        }
        0
    }

    #[tracepoint(category = "sock", name = "sock_recv_length")]
    pub fn tp_sock_recv_length(ctx: TracePointContext) -> u32 {
        let Some((ts, tid)) = own_thread() else {
            return 0;
        };
        let ret: i32 = tp_field(&ctx, tpf::SOCK_RECV_LENGTH_RET);
        // SAFETY: array map value owned by this thread.
        unsafe {
            if (*ts).flags & (THREAD_RECV | THREAD_RECV_ID) != THREAD_RECV || ret <= 0 {
                return 0;
            }
            match user_id((*ts).recv_ubuf, ret as u64) {
                Parsed::Id(id) => {
                    let c = record(LayerId::SockRecvLength, id, Crossing::Next, tid);
                    (*ts).recv_id = id;
                    (*ts).recv_crossing = c;
                    (*ts).flags |= THREAD_RECV_ID;
                    emit_wake(ts, (*ts).flags & THREAD_SLEPT != 0, id, c, tid);
                }
                Parsed::ReadFailed => bump_layer(LayerId::SockRecvLength, LayerCounter::ReadFailed),
                Parsed::Foreign => {}
            }
        }
        0
    }

    #[tracepoint(category = "syscalls", name = "sys_exit_recvfrom")]
    pub fn tp_sys_exit_recvfrom(ctx: TracePointContext) -> u32 {
        on_sys_exit_recv(tp_field(&ctx, tpf::SYS_EXIT_RECVFROM_RET));
        0
    }

    /// Helper (no layer): remembers the first iovec's buffer of a `recvmsg` (receivers that
    /// need control messages, e.g. `SO_TIMESTAMPING`, use it instead of `recvfrom`).
    #[tracepoint(category = "syscalls", name = "sys_enter_recvmsg")]
    pub fn tp_sys_enter_recvmsg(ctx: TracePointContext) -> u32 {
        let Some((ts, _)) = claim_thread() else {
            return 0;
        };
        let msg: u64 = tp_field(&ctx, tpf::SYS_ENTER_RECVMSG_MSG);
        // struct user_msghdr: msg_iov at offset 16; struct iovec: iov_base at offset 0.
        let Some(iov) = read_bytes::<UserMem, 8>(msg + 16).map(u64::from_le_bytes) else {
            return 0;
        };
        let Some(base) = read_bytes::<UserMem, 8>(iov).map(u64::from_le_bytes) else {
            return 0;
        };
        // SAFETY: array map value owned by this thread.
        unsafe {
            (*ts).recv_ubuf = base;
            (*ts).flags = recv_entry_flags((*ts).flags);
        }
        0
    }

    /// Helper: the receive system call layer (`sys_exit_recvfrom`) for a `recvmsg`.
    #[tracepoint(category = "syscalls", name = "sys_exit_recvmsg")]
    pub fn tp_sys_exit_recvmsg(ctx: TracePointContext) -> u32 {
        on_sys_exit_recv(tp_field(&ctx, tpf::SYS_EXIT_RECVMSG_RET));
        0
    }

    /// The receive system call returned `ret`: stamps the `sys_exit_recvfrom` layer with the
    /// packet the thread's buffer received.
    #[inline(always)]
    fn on_sys_exit_recv(ret: i64) {
        let Some((ts, tid)) = own_thread() else {
            return;
        };
        // SAFETY: array map value owned by this thread.
        unsafe {
            let flags = (*ts).flags;
            if flags & THREAD_RECV == 0 {
                return;
            }
            (*ts).flags = flags & !(THREAD_RECV | THREAD_RECV_ID | THREAD_SLEPT);
            if ret <= 0 {
                return;
            }
            if flags & THREAD_RECV_ID != 0 {
                record(
                    LayerId::SysExitRecvfrom,
                    (*ts).recv_id,
                    Crossing::Fixed((*ts).recv_crossing),
                    tid,
                );
                return;
            }
            match user_id((*ts).recv_ubuf, ret as u64) {
                Parsed::Id(id) => {
                    let c = record(LayerId::SysExitRecvfrom, id, Crossing::Next, tid);
                    emit_wake(ts, flags & THREAD_SLEPT != 0, id, c, tid);
                }
                Parsed::ReadFailed => {
                    bump_layer(LayerId::SysExitRecvfrom, LayerCounter::ReadFailed)
                }
                Parsed::Foreign => {}
            }
        }
    }

    // ------------------------------------------------------------------ tp_btf skb layers

    #[btf_tracepoint(function = "net_dev_queue")]
    pub fn btf_net_dev_queue(ctx: BtfTracePointContext) -> i32 {
        on_skb::<Direct>(
            LayerId::NetDevQueue,
            ctx.arg(0),
            Scope::Device,
            Chain::Start,
        );
        0
    }

    #[btf_tracepoint(function = "qdisc_dequeue")]
    pub fn btf_qdisc_dequeue(ctx: BtfTracePointContext) -> i32 {
        // The dequeued skb starts the driver part of the chain on the CPU running the qdisc.
        on_skb::<Direct>(
            LayerId::QdiscDequeue,
            ctx.arg(3),
            Scope::Device,
            Chain::Start,
        );
        0
    }

    #[btf_tracepoint(function = "net_dev_start_xmit")]
    pub fn btf_net_dev_start_xmit(ctx: BtfTracePointContext) -> i32 {
        on_skb::<Direct>(
            LayerId::NetDevStartXmit,
            ctx.arg(0),
            Scope::Device,
            Chain::Driver,
        );
        0
    }

    #[btf_tracepoint(function = "netif_rx")]
    pub fn btf_netif_rx(ctx: BtfTracePointContext) -> i32 {
        // veth's transmit hands the skb to the peer inside the driver call; AF_XDP's direct
        // transmit reaches it without net_dev_start_xmit (the frame is read).
        on_skb::<Direct>(LayerId::NetifRx, ctx.arg(0), Scope::Device, Chain::InDriver);
        0
    }

    #[btf_tracepoint(function = "net_dev_xmit")]
    pub fn btf_net_dev_xmit(ctx: BtfTracePointContext) -> i32 {
        // net_dev_xmit(skb, rc, dev, skb_len): the skb may be gone, its length is an argument.
        let len: u32 = ctx.arg(3);
        on_skb::<Direct>(
            LayerId::NetDevXmit,
            ctx.arg(0),
            Scope::Device,
            Chain::End(len),
        );
        0
    }

    #[btf_tracepoint(function = "netif_receive_skb")]
    pub fn btf_netif_receive_skb(ctx: BtfTracePointContext) -> i32 {
        on_skb::<Direct>(
            LayerId::NetifReceiveSkb,
            ctx.arg(0),
            Scope::Device,
            Chain::No,
        );
        0
    }

    #[btf_tracepoint(function = "skb_copy_datagram_iovec")]
    pub fn btf_skb_copy_datagram_iovec(ctx: BtfTracePointContext) -> i32 {
        on_skb::<Direct>(
            LayerId::SkbCopyDatagramIovec,
            ctx.arg(0),
            Scope::Process,
            Chain::No,
        );
        0
    }

    #[btf_tracepoint(function = "consume_skb")]
    pub fn btf_consume_skb(ctx: BtfTracePointContext) -> i32 {
        // Content only: UDP frees received skbs on the CPU that allocated them (deferred), in
        // whatever context runs there.
        on_skb::<Direct>(LayerId::ConsumeSkb, ctx.arg(0), Scope::Any, Chain::No);
        0
    }

    // ------------------------------------------------------------------ classic skb layers

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum SkbRole {
        /// Look the skb up only.
        Lookup,
        /// First transmit layer: an skb of the sending thread with the expected length is the
        /// thread's packet; remember it (replacing a stale entry at the same address).
        Tag,
        /// The skb is freed: forget it.
        Free,
    }

    /// The frame length a classic tracepoint reports: `Some(reported + adjust)` to compare
    /// with the tagged frame length, `None` if it reports none.
    type FrameLen = Option<u32>;

    /// Whether the skb map entry `e` found at this layer belongs to an skb that was freed
    /// without a tracepoint and whose address now holds another skb: tagged more than
    /// [`SKB_ID_MAX_AGE_NS`] ago, or older than the packet whose stamp already holds this
    /// layer's slot (packet ids grow during a run, so a later packet in the slot means the
    /// entry's own packet passed this layer long ago).
    #[inline(always)]
    fn stale(layer: LayerId, e: &SkbId) -> bool {
        // SAFETY: helper without preconditions.
        let now = unsafe { bpf_ktime_get_ns() };
        if now.wrapping_sub(e.tagged_ns) > SKB_ID_MAX_AGE_NS {
            return true;
        }
        let slot = stamp_index(layer, e.crossing & 1, e.packet_id, g!(slot_mask));
        let Some(s) = PROBE_SLOTS.get_ptr(slot) else {
            return false;
        };
        // SAFETY: array map value; plain integers.
        unsafe {
            read_volatile(&raw const (*s).t_ns) != 0
                && read_volatile(&raw const (*s).packet_id) > e.packet_id
        }
    }

    /// A classic skb tracepoint (`skbaddr` at `skb_off`).
    #[inline(always)]
    fn on_skbaddr(
        ctx: &TracePointContext,
        layer: LayerId,
        skb_off: usize,
        frame_len: FrameLen,
        role: SkbRole,
    ) {
        let skb: u64 = tp_field(ctx, skb_off);
        if role == SkbRole::Tag {
            if let Some((ts, tid)) = own_thread() {
                // SAFETY: array map value owned by this thread.
                let tagged = unsafe {
                    ((*ts).flags & THREAD_SEND != 0 && Some((*ts).send_len) == frame_len).then(
                        || SkbId {
                            packet_id: (*ts).send_id,
                            crossing: (*ts).send_crossing,
                            frame_len: (*ts).send_len,
                            tagged_ns: bpf_ktime_get_ns(),
                        },
                    )
                };
                if let Some(e) = tagged {
                    if PROBE_SKB_IDS.insert(skb, e, 0).is_err() {
                        bump(global_counter_index(GlobalCounter::SkbIdsInsertFailed));
                    }
                    record_masked(
                        layer,
                        e.packet_id,
                        Crossing::Fixed(e.crossing),
                        RECORD_MASK_CLASSIC,
                        tid,
                    );
                    return;
                }
            }
        }
        // SAFETY: the value is a plain copy out of the hash map.
        let Some(e) = (unsafe { PROBE_SKB_IDS.get(skb) }).copied() else {
            return;
        };
        if stale(layer, &e) {
            let _ = PROBE_SKB_IDS.remove(skb);
            bump_layer(layer, LayerCounter::Stale);
            return;
        }
        if role == SkbRole::Free {
            let _ = PROBE_SKB_IDS.remove(skb);
        }
        if frame_len.is_some_and(|l| l != e.frame_len) {
            bump_layer(layer, LayerCounter::Mismatch);
            return;
        }
        record_masked(
            layer,
            e.packet_id,
            Crossing::Fixed(e.crossing),
            RECORD_MASK_CLASSIC,
            0,
        );
    }

    #[tracepoint(category = "net", name = "net_dev_queue")]
    pub fn tp_net_dev_queue(ctx: TracePointContext) -> u32 {
        let len: u32 = tp_field(&ctx, tpf::NET_DEV_QUEUE_LEN);
        on_skbaddr(
            &ctx,
            LayerId::NetDevQueue,
            tpf::NET_DEV_QUEUE_SKBADDR,
            Some(len),
            SkbRole::Tag,
        );
        0
    }

    #[tracepoint(category = "qdisc", name = "qdisc_dequeue")]
    pub fn tp_qdisc_dequeue(ctx: TracePointContext) -> u32 {
        on_skbaddr(
            &ctx,
            LayerId::QdiscDequeue,
            tpf::QDISC_DEQUEUE_SKBADDR,
            None,
            SkbRole::Lookup,
        );
        0
    }

    #[tracepoint(category = "net", name = "net_dev_start_xmit")]
    pub fn tp_net_dev_start_xmit(ctx: TracePointContext) -> u32 {
        let len: u32 = tp_field(&ctx, tpf::NET_DEV_START_XMIT_LEN);
        on_skbaddr(
            &ctx,
            LayerId::NetDevStartXmit,
            tpf::NET_DEV_START_XMIT_SKBADDR,
            Some(len),
            SkbRole::Tag,
        );
        0
    }

    #[tracepoint(category = "net", name = "netif_rx")]
    pub fn tp_netif_rx(ctx: TracePointContext) -> u32 {
        // Reported after eth_type_trans pulled the Ethernet header.
        let len: u32 = tp_field(&ctx, tpf::NETIF_RX_LEN);
        on_skbaddr(
            &ctx,
            LayerId::NetifRx,
            tpf::NETIF_RX_SKBADDR,
            Some(len + ETH_HLEN as u32),
            SkbRole::Lookup,
        );
        0
    }

    #[tracepoint(category = "net", name = "net_dev_xmit")]
    pub fn tp_net_dev_xmit(ctx: TracePointContext) -> u32 {
        let len: u32 = tp_field(&ctx, tpf::NET_DEV_XMIT_LEN);
        on_skbaddr(
            &ctx,
            LayerId::NetDevXmit,
            tpf::NET_DEV_XMIT_SKBADDR,
            Some(len),
            SkbRole::Lookup,
        );
        0
    }

    #[tracepoint(category = "net", name = "netif_receive_skb")]
    pub fn tp_netif_receive_skb(ctx: TracePointContext) -> u32 {
        let len: u32 = tp_field(&ctx, tpf::NETIF_RECEIVE_SKB_LEN);
        on_skbaddr(
            &ctx,
            LayerId::NetifReceiveSkb,
            tpf::NETIF_RECEIVE_SKB_SKBADDR,
            Some(len + ETH_HLEN as u32),
            SkbRole::Lookup,
        );
        0
    }

    #[tracepoint(category = "skb", name = "skb_copy_datagram_iovec")]
    pub fn tp_skb_copy_datagram_iovec(ctx: TracePointContext) -> u32 {
        on_skbaddr(
            &ctx,
            LayerId::SkbCopyDatagramIovec,
            tpf::SKB_COPY_DATAGRAM_IOVEC_SKBADDR,
            None,
            SkbRole::Lookup,
        );
        0
    }

    #[tracepoint(category = "skb", name = "consume_skb")]
    pub fn tp_consume_skb(ctx: TracePointContext) -> u32 {
        on_skbaddr(
            &ctx,
            LayerId::ConsumeSkb,
            tpf::CONSUME_SKB_SKBADDR,
            None,
            SkbRole::Free,
        );
        0
    }

    /// Helper (no layer) of the classic variants: forgets dropped skbs.
    #[tracepoint(category = "skb", name = "kfree_skb")]
    pub fn tp_kfree_skb(ctx: TracePointContext) -> u32 {
        let skb: u64 = tp_field(&ctx, tpf::KFREE_SKB_SKBADDR);
        // SAFETY: plain lookup.
        if unsafe { PROBE_SKB_IDS.get(skb) }.is_some() {
            let _ = PROBE_SKB_IDS.remove(skb);
        }
        0
    }

    // ------------------------------------------------------------------ fentry (BTF kernels)

    #[fentry(function = "udp_sendmsg")]
    pub fn fentry_udp_sendmsg(_ctx: FEntryContext) -> i32 {
        on_send_context(LayerId::UdpSendmsg);
        0
    }

    #[fentry(function = "ip_send_skb")]
    pub fn fentry_ip_send_skb(_ctx: FEntryContext) -> i32 {
        on_send_context(LayerId::IpSendSkb);
        0
    }

    #[fentry(function = "packet_sendmsg")]
    pub fn fentry_packet_sendmsg(_ctx: FEntryContext) -> i32 {
        on_send_context(LayerId::PacketSendmsg);
        0
    }

    #[fentry(function = "__dev_direct_xmit")]
    pub fn fentry_dev_direct_xmit(ctx: FEntryContext) -> i32 {
        on_skb::<Direct>(LayerId::DevDirectXmit, ctx.arg(0), Scope::Device, Chain::No);
        0
    }

    #[fentry(function = "ip_rcv")]
    pub fn fentry_ip_rcv(ctx: FEntryContext) -> i32 {
        on_skb::<Direct>(LayerId::IpRcv, ctx.arg(0), Scope::Device, Chain::No);
        0
    }

    #[fentry(function = "udp_rcv")]
    pub fn fentry_udp_rcv(ctx: FEntryContext) -> i32 {
        on_skb::<Direct>(LayerId::UdpRcv, ctx.arg(0), Scope::Device, Chain::No);
        0
    }

    #[fentry(function = "packet_rcv")]
    pub fn fentry_packet_rcv(ctx: FEntryContext) -> i32 {
        on_skb::<Direct>(LayerId::PacketRcv, ctx.arg(0), Scope::Device, Chain::No);
        0
    }

    // ------------------------------------------------------------------ kprobes

    #[inline(always)]
    fn kprobe_skb(ctx: &ProbeContext, layer: LayerId) {
        let skb: *const u8 = ctx.arg(0).unwrap_or(core::ptr::null());
        on_skb::<Probed>(layer, skb, Scope::Device, Chain::No);
    }

    #[kprobe(function = "udp_sendmsg")]
    pub fn kprobe_udp_sendmsg(_ctx: ProbeContext) -> u32 {
        on_send_context(LayerId::UdpSendmsg);
        0
    }

    #[kprobe(function = "ip_send_skb")]
    pub fn kprobe_ip_send_skb(_ctx: ProbeContext) -> u32 {
        on_send_context(LayerId::IpSendSkb);
        0
    }

    #[kprobe(function = "packet_sendmsg")]
    pub fn kprobe_packet_sendmsg(_ctx: ProbeContext) -> u32 {
        on_send_context(LayerId::PacketSendmsg);
        0
    }

    #[kprobe(function = "__dev_direct_xmit")]
    pub fn kprobe_dev_direct_xmit(ctx: ProbeContext) -> u32 {
        kprobe_skb(&ctx, LayerId::DevDirectXmit);
        0
    }

    #[kprobe(function = "ip_rcv")]
    pub fn kprobe_ip_rcv(ctx: ProbeContext) -> u32 {
        kprobe_skb(&ctx, LayerId::IpRcv);
        0
    }

    #[kprobe(function = "udp_rcv")]
    pub fn kprobe_udp_rcv(ctx: ProbeContext) -> u32 {
        kprobe_skb(&ctx, LayerId::UdpRcv);
        0
    }

    #[kprobe(function = "packet_rcv")]
    pub fn kprobe_packet_rcv(ctx: ProbeContext) -> u32 {
        kprobe_skb(&ctx, LayerId::PacketRcv);
        0
    }

    // ------------------------------------------------------------------ libc uprobes

    /// Entry of libc `send`/`sendto` (attached to both symbols).
    #[uprobe]
    pub fn uprobe_libc_send(ctx: ProbeContext) -> u32 {
        let Some(tid) = target_thread() else {
            return 0;
        };
        let buf: u64 = ctx.arg(1).unwrap_or(0);
        let len: u64 = ctx.arg(2).unwrap_or(0);
        match user_id(buf, len) {
            Parsed::Id(id) => {
                record(LayerId::LibcSendto, id, Crossing::Next, tid);
            }
            Parsed::ReadFailed => bump_layer(LayerId::LibcSendto, LayerCounter::ReadFailed),
            Parsed::Foreign => {}
        }
        0
    }

    /// Helper (no layer): entry of libc `recv`/`recvfrom`, remembers the buffer.
    #[uprobe]
    pub fn uprobe_libc_recv(ctx: ProbeContext) -> u32 {
        let Some((ts, _)) = claim_thread() else {
            return 0;
        };
        let buf: u64 = ctx.arg(1).unwrap_or(0);
        // SAFETY: array map value owned by this thread.
        unsafe {
            (*ts).libc_ubuf = buf;
            (*ts).flags |= THREAD_LIBC_RECV;
        }
        0
    }

    /// Return of libc `recv`/`recvfrom`.
    #[uretprobe]
    pub fn uretprobe_libc_recv(ctx: RetProbeContext) -> u32 {
        let Some((ts, tid)) = own_thread() else {
            return 0;
        };
        let ret: i64 = ctx.ret();
        // SAFETY: array map value owned by this thread.
        unsafe {
            if (*ts).flags & THREAD_LIBC_RECV == 0 {
                return 0;
            }
            (*ts).flags &= !THREAD_LIBC_RECV;
            if ret <= 0 {
                return 0;
            }
            match user_id((*ts).libc_ubuf, ret as u64) {
                Parsed::Id(id) => {
                    record(LayerId::LibcRecvfrom, id, Crossing::Next, tid);
                }
                Parsed::ReadFailed => bump_layer(LayerId::LibcRecvfrom, LayerCounter::ReadFailed),
                Parsed::Foreign => {}
            }
        }
        0
    }

    // ------------------------------------------------------------------ wake-up layers

    /// The packet `id` (crossing `c`) is the one the thread's `recvfrom` got: if the thread
    /// slept in that `recvfrom` and a packet woke it, stamp the wake-up layers with the times
    /// saved when they happened, and forget them.
    #[inline(always)]
    unsafe fn emit_wake(ts: *mut ThreadState, slept: bool, id: u64, c: u32, tid: u32) {
        // SAFETY: array map value owned by this thread (the caller's).
        unsafe {
            if !slept {
                return;
            }
            bump_layer(LayerId::SchedWaking, LayerCounter::Applicable);
            if (*ts).wake_waking_ns == 0 {
                (*ts).flags &= !THREAD_SLEPT;
                return;
            }
            let (waker, wcpu) = ((*ts).wake_waker_tid, (*ts).wake_waker_cpu);
            record_at(
                LayerId::SkDataReady,
                id,
                c,
                (*ts).wake_data_ready_ns,
                waker,
                wcpu,
            );
            record_at(
                LayerId::SchedWaking,
                id,
                c,
                (*ts).wake_waking_ns,
                waker,
                wcpu,
            );
            // Sent on the waker's CPU, in the waker's context (0: no interrupt was needed).
            record_at(LayerId::IpiSend, id, c, (*ts).wake_ipi_ns, waker, wcpu);
            let scpu = (*ts).wake_switch_cpu;
            if (*ts).wake_switch_ns != 0 {
                // The idle task (tid 0) ran on that CPU until the exit.
                record_at(
                    LayerId::CpuIdleExit,
                    id,
                    c,
                    (*ts).wake_idle_exit_ns,
                    0,
                    scpu,
                );
            }
            record_at(
                LayerId::SchedSwitchIn,
                id,
                c,
                (*ts).wake_switch_ns,
                tid,
                scpu,
            );
            (*ts).flags &= !THREAD_SLEPT;
            (*ts).wake_waking_ns = 0;
        }
    }

    /// Flags at the entry of a receive system call: receiving, no packet yet; a sleep (and
    /// wake-up) is kept only if the previous system call was a `poll()` that waited for it.
    #[inline(always)]
    fn recv_entry_flags(flags: u32) -> u32 {
        let keep = if flags & THREAD_POLLED != 0 {
            THREAD_SLEPT
        } else {
            0
        };
        (flags & !(THREAD_RECV | THREAD_RECV_ID | THREAD_SLEPT | THREAD_POLL | THREAD_POLLED))
            | (flags & keep)
            | THREAD_RECV
    }

    /// Helper (no layer): `poll()` entered — a receiver may wait here before its `recvfrom`.
    #[tracepoint(category = "syscalls", name = "sys_enter_poll")]
    pub fn tp_sys_enter_poll(_ctx: TracePointContext) -> u32 {
        let Some((ts, _)) = claim_thread() else {
            return 0;
        };
        // SAFETY: array map value owned by this thread.
        unsafe {
            (*ts).flags = ((*ts).flags & !(THREAD_SLEPT | THREAD_POLLED)) | THREAD_POLL;
            (*ts).wake_waking_ns = 0;
        }
        0
    }

    /// Helper (no layer): `poll()` returns; its sleep and wake-up pass to the next `recvfrom`.
    #[tracepoint(category = "syscalls", name = "sys_exit_poll")]
    pub fn tp_sys_exit_poll(_ctx: TracePointContext) -> u32 {
        let Some((ts, _)) = own_thread() else {
            return 0;
        };
        // SAFETY: array map value owned by this thread.
        unsafe {
            if (*ts).flags & THREAD_POLL != 0 {
                (*ts).flags = ((*ts).flags & !THREAD_POLL) | THREAD_POLLED;
            }
        }
        0
    }

    /// The context slot of thread `tid` if it owns it and is in a receive system call.
    #[inline(always)]
    fn receiving(tid: u32) -> Option<*mut ThreadState> {
        if tid == 0 {
            return None;
        }
        let ts = thread_state(tid)?;
        // SAFETY: array map value.
        unsafe {
            ((*ts).tid == tid && (*ts).flags & (THREAD_RECV | THREAD_POLL) != 0).then_some(ts)
        }
    }

    /// `sched:sched_switch`, for the wake-up layers: a receiver in `recvfrom` switched out
    /// asleep starts a wake-up; switched in after a packet woke it, ends it (with the idle
    /// exit of its CPU when it was the idle task that it replaced).
    #[tracepoint(category = "sched", name = "sched_switch")]
    pub fn tp_sched_switch_wake(ctx: TracePointContext) -> u32 {
        let prev: i32 = tp_field(&ctx, ssf::PREV_PID);
        let next: i32 = tp_field(&ctx, ssf::NEXT_PID);
        if let Some(ts) = receiving(prev as u32) {
            // Preempted (still runnable, `TASK_REPORT_MAX`) is not asleep: a receiver
            // preempted after its wake-up keeps the wake-up's stamps.
            if ssf::sleeping(tp_field(&ctx, ssf::PREV_STATE)) {
                // SAFETY: array map value; the thread is being switched out on this CPU.
                unsafe {
                    (*ts).flags |= THREAD_SLEPT;
                    (*ts).wake_waking_ns = 0;
                    (*ts).wake_data_ready_ns = 0;
                    (*ts).wake_idle_exit_ns = 0;
                    (*ts).wake_switch_ns = 0;
                    (*ts).wake_ipi_ns = 0;
                }
            }
        }
        if let Some(ts) = receiving(next as u32) {
            // SAFETY: array map value; the thread is being switched in on this CPU.
            unsafe {
                if (*ts).flags & THREAD_SLEPT != 0
                    && (*ts).wake_waking_ns != 0
                    && (*ts).wake_switch_ns == 0
                {
                    let now = bpf_ktime_get_ns();
                    (*ts).wake_switch_ns = now;
                    (*ts).wake_switch_cpu = bpf_get_smp_processor_id();
                    if prev == 0 {
                        if let Some(cs) = PROBE_CPU.get_ptr(0) {
                            let exit = (*cs).idle_exit_ns;
                            if exit >= (*ts).wake_waking_ns && exit <= now {
                                (*ts).wake_idle_exit_ns = exit;
                                (*ts).wake_idle_state = (*cs).idle_exit_state;
                            }
                        }
                    }
                }
            }
        }
        0
    }

    /// `sched:sched_waking`: a receiver asleep in `recvfrom` is woken; it is its packet's
    /// wake-up when an `sk_data_ready` ran on this CPU just before (same call chain).
    #[tracepoint(category = "sched", name = "sched_waking")]
    pub fn tp_sched_waking(ctx: TracePointContext) -> u32 {
        let pid: i32 = tp_field(&ctx, tpf::SCHED_WAKING_PID);
        let Some(ts) = receiving(pid as u32) else {
            return 0;
        };
        // SAFETY: array map value; helpers without preconditions.
        unsafe {
            if (*ts).flags & THREAD_SLEPT == 0 || (*ts).wake_waking_ns != 0 {
                return 0;
            }
            let now = bpf_ktime_get_ns();
            let mut ready = 0;
            if let Some(cs) = PROBE_CPU.get_ptr(0) {
                ready = (*cs).data_ready_ns;
            }
            let recent = ready != 0 && now.wrapping_sub(ready) <= WAKE_DATA_READY_MAX_NS;
            if g!(flags) & PROBE_FLAG_DATA_READY != 0 && !recent {
                return 0;
            }
            (*ts).wake_data_ready_ns = if recent { ready } else { 0 };
            (*ts).wake_waking_ns = now;
            (*ts).wake_ipi_ns = 0;
            (*ts).wake_waker_tid = bpf_get_current_pid_tgid() as u32;
            (*ts).wake_waker_cpu = bpf_get_smp_processor_id();
            // An interrupt to the CPU the receiver is woken onto, sent next on this CPU, is
            // this wake-up's.
            if let Some(cs) = PROBE_CPU.get_ptr_mut(0) {
                let target: i32 = tp_field(&ctx, tpf::SCHED_WAKING_TARGET_CPU);
                (*cs).waking_ns = now;
                (*cs).waking_tid = pid as u32;
                (*cs).waking_target_cpu = target as u32;
            }
        }
        0
    }

    /// `ipi:ipi_send_cpu`: an inter-processor interrupt right after a receiver's
    /// `sched_waking` on this CPU, to the CPU it was woken onto, is that wake-up's (the
    /// target CPU is idle, or runs another thread, and must be told).
    #[tracepoint(category = "ipi", name = "ipi_send_cpu")]
    pub fn tp_ipi_send_cpu(ctx: TracePointContext) -> u32 {
        on_ipi_send_cpu(tp_field(&ctx, tpf::IPI_SEND_CPU_CPU));
        0
    }

    /// The same as a BTF tracepoint (`cpu`, argument 0).
    #[btf_tracepoint(function = "ipi_send_cpu")]
    pub fn btf_ipi_send_cpu(ctx: BtfTracePointContext) -> i32 {
        // argument 0 of btf_trace_ipi_send_cpu is `unsigned int cpu`.
        on_ipi_send_cpu(ctx.arg::<u64>(0) as u32);
        0
    }

    /// An IPI to `cpu` is sent from this CPU.
    #[inline(always)]
    fn on_ipi_send_cpu(cpu: u32) {
        let Some(cs) = PROBE_CPU.get_ptr_mut(0) else {
            return;
        };
        // SAFETY: this CPU's entry; array map values; helpers without preconditions.
        unsafe {
            let waking = (*cs).waking_ns;
            if waking == 0 {
                return;
            }
            if cpu != (*cs).waking_target_cpu {
                return;
            }
            (*cs).waking_ns = 0;
            let now = bpf_ktime_get_ns();
            if now.wrapping_sub(waking) > WAKE_IPI_MAX_NS {
                return;
            }
            let Some(ts) = receiving((*cs).waking_tid) else {
                return;
            };
            if (*ts).wake_waking_ns == waking && (*ts).wake_ipi_ns == 0 {
                (*ts).wake_ipi_ns = now;
            }
        }
    }

    /// This CPU queues data to a socket: remember when.
    #[inline(always)]
    fn on_sk_data_ready() {
        if let Some(cs) = PROBE_CPU.get_ptr_mut(0) {
            // SAFETY: this CPU's entry; helper without preconditions.
            unsafe { (*cs).data_ready_ns = bpf_ktime_get_ns() };
        }
    }

    /// `sock:sk_data_ready`: remembers when this CPU last queued data to a socket.
    #[tracepoint(category = "sock", name = "sk_data_ready")]
    pub fn tp_sk_data_ready(_ctx: TracePointContext) -> u32 {
        on_sk_data_ready();
        0
    }

    /// The same as a BTF tracepoint (its argument, the socket, is not read).
    #[btf_tracepoint(function = "sk_data_ready")]
    pub fn btf_sk_data_ready(_ctx: BtfTracePointContext) -> i32 {
        on_sk_data_ready();
        0
    }

    /// `power:cpu_idle`: remembers the state this CPU entered, and when it left it.
    #[tracepoint(category = "power", name = "cpu_idle")]
    pub fn tp_cpu_idle(ctx: TracePointContext) -> u32 {
        on_cpu_idle(tp_field(&ctx, tpf::CPU_IDLE_STATE));
        0
    }

    /// The same as a BTF tracepoint (`state`, argument 0).
    #[btf_tracepoint(function = "cpu_idle")]
    pub fn btf_cpu_idle(ctx: BtfTracePointContext) -> i32 {
        // argument 0 of btf_trace_cpu_idle is `unsigned int state`.
        on_cpu_idle(ctx.arg::<u64>(0) as u32);
        0
    }

    /// This CPU enters idle state `state`, or leaves idle (`CPU_IDLE_EXIT`).
    #[inline(always)]
    fn on_cpu_idle(state: u32) {
        if let Some(cs) = PROBE_CPU.get_ptr_mut(0) {
            // SAFETY: this CPU's entry; helper without preconditions.
            unsafe {
                if state == CPU_IDLE_EXIT {
                    (*cs).idle_exit_ns = bpf_ktime_get_ns();
                    (*cs).idle_exit_state = (*cs).idle_enter_state;
                } else {
                    (*cs).idle_enter_state = state;
                }
            }
        }
    }

    // ------------------------------------------------------------------ scheduler

    /// `sched:sched_switch`: while the trace window is open, every context switch on every CPU
    /// (not filtered) into the ring buffer `PROBE_SCHED`; a full buffer
    /// counts `GlobalCounter::SchedDropped`.
    #[tracepoint(category = "sched", name = "sched_switch")]
    pub fn tp_sched_switch(ctx: TracePointContext) -> u32 {
        if PROBE_TRACE.get(0).is_none_or(|on| *on == 0) {
            return 0;
        }
        let Some(mut entry) = PROBE_SCHED.reserve::<SchedSwitch>(0) else {
            bump(global_counter_index(GlobalCounter::SchedDropped));
            return 0;
        };
        let prev_tid: i32 = tp_field(&ctx, ssf::PREV_PID);
        let next_tid: i32 = tp_field(&ctx, ssf::NEXT_PID);
        // SAFETY: helpers without preconditions.
        let (t_ns, cpu) = unsafe { (bpf_ktime_get_ns(), bpf_get_smp_processor_id()) };
        entry.write(SchedSwitch {
            t_ns,
            prev_state: tp_field(&ctx, ssf::PREV_STATE),
            cpu,
            prev_tid: prev_tid as u32,
            next_tid: next_tid as u32,
            _reserved: 0,
            prev_comm: tp_field(&ctx, ssf::PREV_COMM),
            next_comm: tp_field(&ctx, ssf::NEXT_COMM),
        });
        entry.submit(0);
        bump(global_counter_index(GlobalCounter::SchedRecorded));
        0
    }

    /// Dispatch calibration (no layer): an empty classic tracepoint program. The loader
    /// attaches it to `task:task_rename` (hit by `prctl(PR_SET_NAME)`) and to
    /// `syscalls:sys_enter_getpgid` (never called: it only switches the slow system-call path
    /// on), to time what a hook costs beyond its program (`uadpbench_probes::calibrate_dispatch`).
    #[tracepoint]
    pub fn calib_tracepoint(_ctx: TracePointContext) -> u32 {
        0
    }

    /// Dispatch calibration (no layer): an empty BTF tracepoint program on `task_rename`.
    #[btf_tracepoint(function = "task_rename")]
    pub fn calib_btf(_ctx: BtfTracePointContext) -> i32 {
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
