//! Types of the per-layer probes (`probes-ebpf` and its loader `uadpbench-probes`).
//!
//! # Transport: per-packet timestamp slots
//!
//! The probes do not send events through a ring buffer. Each probe writes one [`Stamp`] into
//! the array map [`PROBE_SLOTS_MAP_NAME`] (`Array<Stamp>`, `BPF_F_MMAPABLE`), at the slot of its
//! packet in its layer's region:
//!
//! ```text
//! PROBE_SLOTS[stamp_index(layer, crossing, packet_id, slot_mask)] = Stamp { packet_id, t_ns, tid, cpu }
//! ```
//!
//! The regions are layer-major (`[layer][crossing][packet_id & slot_mask]`): consecutive packets
//! of one layer are adjacent, so a probe writes where the previous packet's probe wrote (warm
//! cache lines and pages, sequential for the prefetcher) instead of into a fresh per-packet
//! record.
//!
//! `t_ns == 0` marks a free stamp. Userspace maps the array and drains it (copies the stamps
//! out and zeroes `t_ns`). A probe that finds its stamp still holding an undrained *other*
//! packet overwrites it and counts [`LayerCounter::Overwritten`] for its layer; a probe that
//! finds both crossings of its layer already holding *this* packet counts
//! [`LayerCounter::ExtraCrossing`] and drops its stamp. So every event is either drained or
//! counted.
//!
//! `crossing` is 0 the first time a packet id crosses a layer and 1 the second time (a
//! ping-pong echo carries the same packet id back through the same layers).
//!
//! # Hook for the XDP program
//!
//! [`LayerId::XdpIngress`] is stamped by the XDP program of the `xdp` path, not by
//! `probes-ebpf`. To do so it declares a map of the same name and layout, shares it with the
//! loader (pinning), and writes its stamp at [`stamp_index`] like the probes do (`crossing` 0,
//! or 1 if stamp 0 already holds the packet).

use crate::UADP_UDP_PORT;

/// Layer regions in [`PROBE_SLOTS_MAP_NAME`]: room for every [`LayerId`] (id < this).
pub const PROBE_MAX_LAYERS: usize = 30;
/// How often one packet id can cross the same layer and be recorded (out and echo).
pub const PROBE_MAX_CROSSINGS: usize = 2;
/// Default number of packet slots (a power of two): stamps of the last 16384 packet ids are
/// kept until drained. Each slot is `PROBE_MAX_LAYERS × PROBE_MAX_CROSSINGS` stamps of 24
/// bytes (1440 bytes): 16384 slots are 22.5 MiB.
pub const PROBE_DEFAULT_SLOTS: u32 = 16384;

/// Name of the stamp array (`Array<Stamp>`, [`stamp_entries`] entries, `BPF_F_MMAPABLE`) in
/// the `probes-ebpf` object.
pub const PROBE_SLOTS_MAP_NAME: &str = "PROBE_SLOTS";
/// Name of the per-CPU counter array (`PerCpuArray<u64>`, indices [`layer_counter_index`] and
/// [`GlobalCounter`]) in the `probes-ebpf` object.
pub const PROBE_COUNTERS_MAP_NAME: &str = "PROBE_COUNTERS";
/// Name of the per-thread context array (`Array<ThreadState>`, index `tid % PROBE_THREAD_SLOTS`).
pub const PROBE_THREADS_MAP_NAME: &str = "PROBE_THREADS";
/// Entries of [`PROBE_THREADS_MAP_NAME`] (a power of two).
pub const PROBE_THREAD_SLOTS: u32 = 4096;
/// Name of the skb address → packet map (`LruHashMap<u64, SkbId>`) used by the classic
/// tracepoint variants, which see only `skbaddr`.
pub const PROBE_SKB_IDS_MAP_NAME: &str = "PROBE_SKB_IDS";
/// Entries of [`PROBE_SKB_IDS_MAP_NAME`].
pub const PROBE_SKB_IDS_ENTRIES: u32 = 8192;
/// Name of the record masks (`Array<u32>`, [`RECORD_MASKS`] entries): bit [`LayerId::bit`]
/// set = the layer's probe writes stamps. Entry [`RECORD_MASK_MAIN`] is read by every program
/// except the classic skb tracepoints, which read [`RECORD_MASK_CLASSIC`]: a program attached
/// only as a helper (e.g. the classic `consume_skb` that forgets freed skbs) keeps its context
/// work but records nothing. Written by userspace after attaching; all zero = record nothing.
pub const PROBE_RECORD_MAP_NAME: &str = "PROBE_RECORD";
/// Entries of [`PROBE_RECORD_MAP_NAME`].
pub const RECORD_MASKS: u32 = 2;
/// [`PROBE_RECORD_MAP_NAME`] entry of all programs but the classic skb tracepoints.
pub const RECORD_MASK_MAIN: u32 = 0;
/// [`PROBE_RECORD_MAP_NAME`] entry of the classic skb tracepoints.
pub const RECORD_MASK_CLASSIC: u32 = 1;

/// Name of the read-only global [`ProbeGlobals`] in the `probes-ebpf` object.
pub const PROBE_GLOBALS_NAME: &str = "PROBE_GLOBALS";

/// `BPF_F_MMAPABLE`: the array map can be `mmap`ed by userspace.
pub const BPF_F_MMAPABLE: u32 = 1 << 10;

/// A stack layer a packet crosses. The discriminant is the index into
/// [`PacketSlot::stamps`]`[crossing]` and the id in every event.
///
/// The order is the table order: send side from the user call to the driver, then receive side
/// from the driver (or XDP) to the user. The userspace table (`uadpbench_probes::LAYERS`) says
/// for each layer which paths cross it and how it is hooked.
#[repr(u16)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LayerId {
    /// uprobe on libc `send`/`sendto` (entry): the user/libc boundary before the system call.
    LibcSendto = 0,
    /// `syscalls:sys_enter_sendto`.
    SysEnterSendto = 1,
    /// `udp_sendmsg` entry (fentry/kprobe).
    UdpSendmsg = 2,
    /// `ip_send_skb` entry (fentry/kprobe).
    IpSendSkb = 3,
    /// `packet_sendmsg` entry (fentry/kprobe), AF_PACKET.
    PacketSendmsg = 4,
    /// `__dev_direct_xmit` entry (fentry/kprobe): AF_XDP copy-mode and `PACKET_QDISC_BYPASS` TX.
    DevDirectXmit = 5,
    /// `net:net_dev_queue`: `dev_queue_xmit` entered.
    NetDevQueue = 6,
    /// `qdisc:qdisc_dequeue`: a qdisc handed the packet on (only with a qdisc; veth: noqueue).
    QdiscDequeue = 7,
    /// `net:net_dev_start_xmit`: the driver's `ndo_start_xmit` is called.
    NetDevStartXmit = 8,
    /// `net:netif_rx`: veth hands the packet to the peer's backlog (inside `veth_xmit`).
    NetifRx = 9,
    /// `net:net_dev_xmit`: the driver's `ndo_start_xmit` returned.
    NetDevXmit = 10,
    /// `sock:sock_send_length`: the protocol's `sendmsg` returned.
    SockSendLength = 11,
    /// `syscalls:sys_exit_sendto`.
    SysExitSendto = 12,
    /// `net:netif_receive_skb`: the receive path takes the packet from the backlog.
    NetifReceiveSkb = 13,
    /// The XDP program of the `xdp` path (stamped by that program itself). In generic (SKB)
    /// mode it runs after `netif_receive_skb`'s tracepoint (`do_xdp_generic` in
    /// `__netif_receive_skb_core`); in native mode in the driver, before any skb exists.
    XdpIngress = 14,
    /// `ip_rcv` entry (fentry/kprobe).
    IpRcv = 15,
    /// `udp_rcv` entry (fentry/kprobe).
    UdpRcv = 16,
    /// `packet_rcv` entry (fentry/kprobe), AF_PACKET.
    PacketRcv = 17,
    /// `sock:sk_data_ready`: the packet was queued to the receiving socket, which wakes its
    /// reader (context: stamped only for a receiving thread that slept in `recvfrom` until
    /// this packet woke it; the time of the last `sk_data_ready` on the waker's CPU).
    SkDataReady = 18,
    /// `sched:sched_waking` of the receiving thread asleep in `recvfrom` (context).
    SchedWaking = 19,
    /// `power:cpu_idle` exit on the receiving thread's CPU before it was switched in
    /// (context: only when that CPU was idle).
    CpuIdleExit = 20,
    /// `sched:sched_switch` with `next` = the receiving thread, after its wake-up (context).
    SchedSwitchIn = 21,
    /// `skb:skb_copy_datagram_iovec`: the payload is copied to the user buffer.
    SkbCopyDatagramIovec = 22,
    /// `sock:sock_recv_length`: the protocol's `recvmsg` returned.
    SockRecvLength = 23,
    /// `syscalls:sys_exit_recvfrom`.
    SysExitRecvfrom = 24,
    /// uretprobe on libc `recv`/`recvfrom`: the user/libc boundary after the system call.
    LibcRecvfrom = 25,
    /// `skb:consume_skb`: the received skb is freed, during `recvfrom` or later on the CPU
    /// that allocated it (deferred free); not ordered relative to the socket layers.
    ConsumeSkb = 26,
    /// `ipi:ipi_send_cpu`: the waker sends an inter-processor interrupt to the CPU of the
    /// receiving thread it just woke (context; only when waking it needs one).
    IpiSend = 27,
    /// `irq:softirq_entry` of the NET_RX softirq in which the packet's `netif_receive_skb`
    /// ran (context: the entry of the softirq that took the packet from the backlog or the
    /// NIC's NAPI poll).
    NetRxSoftirq = 28,
    /// `xdp:xdp_redirect`: the redirect of the XDP program's verdict into the AF_XDP socket's
    /// map is done (generic mode: after `xsk_generic_rcv` copied the frame into the UMEM and
    /// the RX ring), in the softirq whose `netif_receive_skb` stamped the packet (context).
    XdpRedirect = 29,
}

/// Number of [`LayerId`]s.
pub const LAYER_COUNT: usize = 30;

// Every layer has a region in the stamp array and a bit in the u32 record masks.
const _: () = assert!(LAYER_COUNT <= PROBE_MAX_LAYERS && LAYER_COUNT <= 32);

impl LayerId {
    /// All layers, in id (= table) order.
    pub const ALL: [LayerId; LAYER_COUNT] = [
        LayerId::LibcSendto,
        LayerId::SysEnterSendto,
        LayerId::UdpSendmsg,
        LayerId::IpSendSkb,
        LayerId::PacketSendmsg,
        LayerId::DevDirectXmit,
        LayerId::NetDevQueue,
        LayerId::QdiscDequeue,
        LayerId::NetDevStartXmit,
        LayerId::NetifRx,
        LayerId::NetDevXmit,
        LayerId::SockSendLength,
        LayerId::SysExitSendto,
        LayerId::NetifReceiveSkb,
        LayerId::XdpIngress,
        LayerId::IpRcv,
        LayerId::UdpRcv,
        LayerId::PacketRcv,
        LayerId::SkDataReady,
        LayerId::SchedWaking,
        LayerId::CpuIdleExit,
        LayerId::SchedSwitchIn,
        LayerId::SkbCopyDatagramIovec,
        LayerId::SockRecvLength,
        LayerId::SysExitRecvfrom,
        LayerId::LibcRecvfrom,
        LayerId::ConsumeSkb,
        LayerId::IpiSend,
        LayerId::NetRxSoftirq,
        LayerId::XdpRedirect,
    ];

    /// The id as an index (`0..LAYER_COUNT`).
    #[inline(always)]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The layer with this id.
    pub const fn from_index(index: usize) -> Option<LayerId> {
        if index < LAYER_COUNT {
            Some(Self::ALL[index])
        } else {
            None
        }
    }

    /// The stable snake_case name (CSV values, `--probes` lists).
    pub const fn name(self) -> &'static str {
        match self {
            LayerId::LibcSendto => "libc_sendto",
            LayerId::SysEnterSendto => "sys_enter_sendto",
            LayerId::UdpSendmsg => "udp_sendmsg",
            LayerId::IpSendSkb => "ip_send_skb",
            LayerId::PacketSendmsg => "packet_sendmsg",
            LayerId::DevDirectXmit => "dev_direct_xmit",
            LayerId::NetDevQueue => "net_dev_queue",
            LayerId::QdiscDequeue => "qdisc_dequeue",
            LayerId::NetDevStartXmit => "net_dev_start_xmit",
            LayerId::NetifRx => "netif_rx",
            LayerId::NetDevXmit => "net_dev_xmit",
            LayerId::SockSendLength => "sock_send_length",
            LayerId::SysExitSendto => "sys_exit_sendto",
            LayerId::XdpIngress => "xdp_ingress",
            LayerId::NetifReceiveSkb => "netif_receive_skb",
            LayerId::IpRcv => "ip_rcv",
            LayerId::UdpRcv => "udp_rcv",
            LayerId::PacketRcv => "packet_rcv",
            LayerId::SkDataReady => "sk_data_ready",
            LayerId::SchedWaking => "sched_waking",
            LayerId::CpuIdleExit => "cpu_idle_exit",
            LayerId::SchedSwitchIn => "sched_switch_in",
            LayerId::SkbCopyDatagramIovec => "skb_copy_datagram_iovec",
            LayerId::ConsumeSkb => "consume_skb",
            LayerId::IpiSend => "ipi_send",
            LayerId::NetRxSoftirq => "net_rx_softirq",
            LayerId::XdpRedirect => "xdp_redirect",
            LayerId::SockRecvLength => "sock_recv_length",
            LayerId::SysExitRecvfrom => "sys_exit_recvfrom",
            LayerId::LibcRecvfrom => "libc_recvfrom",
        }
    }

    /// The layer of this name.
    pub fn from_name(name: &str) -> Option<LayerId> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// Bit of this layer in the record masks ([`PROBE_RECORD_MAP_NAME`]).
    #[inline(always)]
    pub const fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

/// One timestamp of one packet at one layer. `t_ns == 0`: free.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stamp {
    /// The packet id (UADP RawData field 2 = the benchmark's 64-bit packet id).
    pub packet_id: u64,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) when the probe ran; 0 = free stamp. Written last.
    pub t_ns: u64,
    /// The thread (kernel pid) that was current when the probe ran (softirq work runs in
    /// whatever thread it interrupted, or in `ksoftirqd`).
    pub tid: u32,
    /// The CPU the probe ran on.
    pub cpu: u32,
}

/// Index into [`PROBE_SLOTS_MAP_NAME`] of the stamp of `layer` for a packet
/// (`slot_mask` = slots − 1, slots a power of two).
#[inline(always)]
pub const fn stamp_index(layer: LayerId, crossing: u32, packet_id: u64, slot_mask: u32) -> u32 {
    ((layer as u32) * PROBE_MAX_CROSSINGS as u32 + (crossing & 1)) * (slot_mask + 1)
        + ((packet_id as u32) & slot_mask)
}

/// Entries of [`PROBE_SLOTS_MAP_NAME`] for `slots` packet slots.
pub const fn stamp_entries(slots: u32) -> u32 {
    PROBE_MAX_LAYERS as u32 * PROBE_MAX_CROSSINGS as u32 * slots
}

/// Per-layer counters in [`PROBE_COUNTERS_MAP_NAME`]; see [`layer_counter_index`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LayerCounter {
    /// Stamps written.
    Recorded = 0,
    /// Stamps written over an undrained stamp of another packet (that stamp is lost).
    Overwritten = 1,
    /// Stamps dropped because both crossings of the layer already hold this packet.
    ExtraCrossing = 2,
    /// A probe of a benchmark thread could not read the buffer (`bpf_probe_read_*` failed), so
    /// it could not tell whether this was a benchmark message.
    ReadFailed = 3,
    /// Classic tracepoint variants: the skb map knew the skb address but the frame length the
    /// tracepoint reports differs from the tagged packet's (a stale entry of a freed skb whose
    /// memory now holds another packet): no stamp written.
    Mismatch = 4,
    /// Classic tracepoint variants: the skb map knew the skb address, but the entry is stale:
    /// tagged longer than [`SKB_ID_MAX_AGE_NS`] ago, or older than the packet that already
    /// holds this layer's slot (the skb was freed without a tracepoint and its memory reused).
    /// No stamp written, the entry is removed.
    Stale = 5,
    /// Wake-up layers ([`LayerId::SchedWaking`] only): received benchmark packets whose
    /// receiving thread slept in the `recvfrom` that returned them, i.e. the packets the
    /// wake-up layers apply to (stamped or not).
    Applicable = 6,
    /// tp_btf transmit-chain layers (`qdisc_dequeue`, `net_dev_start_xmit`, `netif_rx`,
    /// `net_dev_xmit`): skbs whose packet id (or "not a benchmark packet") was taken from the
    /// CPU's transmit-chain context written by `net_dev_queue` for the same skb, without
    /// reading the frame ([`PROBE_FLAG_TX_CHAIN`]). Benchmark and other skbs alike.
    ChainHit = 7,
}

/// Counters per layer in [`PROBE_COUNTERS_MAP_NAME`].
pub const LAYER_COUNTERS: u32 = 8;

/// Index of a per-layer counter in [`PROBE_COUNTERS_MAP_NAME`].
#[inline(always)]
pub const fn layer_counter_index(layer: LayerId, counter: LayerCounter) -> u32 {
    layer as u32 * LAYER_COUNTERS + counter as u32
}

/// Counters not tied to a layer, after the per-layer ones in [`PROBE_COUNTERS_MAP_NAME`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GlobalCounter {
    /// A thread took over a [`ThreadState`] slot that held another thread's in-flight context
    /// (`tid` collision modulo [`PROBE_THREAD_SLOTS`]); that thread's later layers find none.
    ThreadSlotEvictions = 0,
    /// Inserting into the skb map failed.
    SkbIdsInsertFailed = 1,
    /// `sched_switch` records dropped because the ring buffer [`PROBE_SCHED_MAP_NAME`] was
    /// full.
    SchedDropped = 2,
    /// `sched_switch` records written into [`PROBE_SCHED_MAP_NAME`].
    SchedRecorded = 3,
}

/// Index of a global counter in [`PROBE_COUNTERS_MAP_NAME`].
#[inline(always)]
pub const fn global_counter_index(counter: GlobalCounter) -> u32 {
    PROBE_MAX_LAYERS as u32 * LAYER_COUNTERS + counter as u32
}

/// Entries of [`PROBE_COUNTERS_MAP_NAME`].
pub const PROBE_COUNTER_COUNT: u32 = PROBE_MAX_LAYERS as u32 * LAYER_COUNTERS + 8;

/// [`ThreadState::flags`]: `send_id`/`send_crossing` hold the benchmark message of the
/// `sendto` in progress.
pub const THREAD_SEND: u32 = 1 << 0;
/// [`ThreadState::flags`]: `recv_ubuf` holds the buffer of the `recvfrom` in progress.
pub const THREAD_RECV: u32 = 1 << 1;
/// [`ThreadState::flags`]: `recv_id`/`recv_crossing` hold the benchmark message received by
/// the `recvfrom` in progress.
pub const THREAD_RECV_ID: u32 = 1 << 2;
/// [`ThreadState::flags`]: `libc_ubuf` holds the buffer of the libc `recv`/`recvfrom` in
/// progress.
pub const THREAD_LIBC_RECV: u32 = 1 << 3;
/// [`ThreadState::flags`]: the thread went to sleep (switched out not runnable) during the
/// `recvfrom` in progress; the `wake_*` fields describe its last wake-up since.
pub const THREAD_SLEPT: u32 = 1 << 4;
/// [`ThreadState::flags`]: the thread is in `poll()` (a receiver that waits there, then reads
/// with `recvfrom`, e.g. pnet on the eth path): its sleep counts like one in `recvfrom`.
pub const THREAD_POLL: u32 = 1 << 5;
/// [`ThreadState::flags`]: the last system call was a `poll()`; the next `recvfrom` keeps
/// its [`THREAD_SLEPT`] and wake-up.
pub const THREAD_POLLED: u32 = 1 << 6;

/// Per-thread context of the system-call layers (value of [`PROBE_THREADS_MAP_NAME`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ThreadState {
    /// The thread owning this slot.
    pub tid: u32,
    /// `THREAD_*` bits.
    pub flags: u32,
    /// Packet id of the `sendto` in progress.
    pub send_id: u64,
    /// Crossing of the `sendto` in progress.
    pub send_crossing: u32,
    /// Expected length of the frame (L2) the `sendto` in progress makes (for the classic
    /// tracepoint fallback, which tags the thread's skb of that length).
    pub send_len: u32,
    /// User buffer of the `recvfrom` in progress.
    pub recv_ubuf: u64,
    /// Packet id received by the `recvfrom` in progress.
    pub recv_id: u64,
    /// Crossing of the `recvfrom` in progress.
    pub recv_crossing: u32,
    /// Explicit padding.
    pub _reserved: u32,
    /// User buffer of the libc `recv`/`recvfrom` in progress.
    pub libc_ubuf: u64,
    /// Wake-up of the sleeping receiver ([`THREAD_SLEPT`]): the `sk_data_ready` before its
    /// `sched_waking` on the waker's CPU (0: none).
    pub wake_data_ready_ns: u64,
    /// Its `sched_waking` (0: not woken yet, or not by a packet).
    pub wake_waking_ns: u64,
    /// The `cpu_idle` exit of the CPU it was switched in on (0: that CPU was not idle).
    pub wake_idle_exit_ns: u64,
    /// Its `sched_switch` in (0: not yet).
    pub wake_switch_ns: u64,
    /// The waker's thread.
    pub wake_waker_tid: u32,
    /// The waker's CPU.
    pub wake_waker_cpu: u32,
    /// The CPU it was switched in on.
    pub wake_switch_cpu: u32,
    /// The idle state that CPU left (`power:cpu_idle` state of the preceding entry).
    pub wake_idle_state: u32,
    /// The `ipi:ipi_send_cpu` the waker sent to the CPU the receiver was woken onto, right
    /// after its `sched_waking` (0: none was needed, or not seen).
    pub wake_ipi_ns: u64,
}

/// Per-CPU context of the wake-up layers (value of [`PROBE_CPU_MAP_NAME`], one entry).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CpuState {
    /// Last `sock:sk_data_ready` on this CPU.
    pub data_ready_ns: u64,
    /// Last `power:cpu_idle` exit on this CPU.
    pub idle_exit_ns: u64,
    /// State of the last `power:cpu_idle` entry on this CPU.
    pub idle_enter_state: u32,
    /// State that the last exit left.
    pub idle_exit_state: u32,
    /// The last `sched_waking` of a receiving thread on this CPU (the waker's) — what an
    /// `ipi:ipi_send_cpu` right after belongs to (0: none pending).
    pub waking_ns: u64,
    /// The thread it woke.
    pub waking_tid: u32,
    /// The CPU it woke that thread onto (`sched_waking`'s `target_cpu`).
    pub waking_target_cpu: u32,
    /// The last `irq:softirq_entry` of the NET_RX softirq on this CPU.
    pub net_rx_entry_ns: u64,
    /// The last `irq:softirq_exit` of the NET_RX softirq on this CPU.
    pub net_rx_exit_ns: u64,
    /// The last benchmark packet `netif_receive_skb` stamped on this CPU while `xdp_redirect`
    /// is recorded: what an `xdp:xdp_redirect` right after belongs to (generic XDP runs in
    /// the same `__netif_receive_skb_core` call). 0 in `rx_t_ns`: none pending.
    pub rx_packet_id: u64,
    /// When it was stamped.
    pub rx_t_ns: u64,
    /// Its crossing.
    pub rx_crossing: u32,
    /// Transmit chain ([`PROBE_FLAG_TX_CHAIN`]): what the last chain start on this CPU
    /// (`net_dev_queue`, `qdisc_dequeue`) or `net_dev_start_xmit` found in its skb:
    /// `TX_CHAIN_NONE`, `TX_CHAIN_PACKET` or `TX_CHAIN_FOREIGN`.
    pub tx_kind: u32,
    /// That skb's address.
    pub tx_skb: u64,
    /// Its packet id (`TX_CHAIN_PACKET`).
    pub tx_packet_id: u64,
    /// `TX_PHASE_QUEUED` (written by `net_dev_queue` or `qdisc_dequeue`) or
    /// `TX_PHASE_DRIVER` (by `net_dev_start_xmit`: the driver has the skb until
    /// `net_dev_xmit`).
    pub tx_phase: u32,
    /// Its `skb->len` then.
    pub tx_len: u32,
    /// Its `skb->data + skb->len` then: unchanged when a layer pulls or pushes a header (veth
    /// pulls the Ethernet header before `netif_rx`), where `len` alone changes.
    pub tx_end: u64,
}

/// `irq:softirq_entry`/`softirq_exit` `vec` of the network receive softirq (`NET_RX_SOFTIRQ`).
pub const NET_RX_SOFTIRQ: u32 = 3;

/// Name of the per-CPU wake-up context (`PerCpuArray<CpuState>`, 1 entry).
pub const PROBE_CPU_MAP_NAME: &str = "PROBE_CPU";

/// Longest time from a `sock:sk_data_ready` to the `sched:sched_waking` it causes on the same
/// CPU (they are one call chain: `sock_def_readable` → `try_to_wake_up`); a waking later than
/// this after the CPU's last `sk_data_ready` was not caused by a packet.
pub const WAKE_DATA_READY_MAX_NS: u64 = 50_000;

/// Longest time from a receiver's `sched:sched_waking` to the `ipi:ipi_send_cpu` of the same
/// wake-up on the waker's CPU (one call chain: `try_to_wake_up` → `ttwu_queue_wakelist` →
/// `send_call_function_single_ipi`).
pub const WAKE_IPI_MAX_NS: u64 = 50_000;

/// Longest time from a packet's `netif_receive_skb` to the `xdp:xdp_redirect` of the generic
/// XDP program run on it, on the same CPU (one call: `__netif_receive_skb_core` →
/// `do_xdp_generic` → `xdp_do_generic_redirect`). What ties the redirect to the packet is the
/// order on the CPU (every skb of a traced device entering `netif_receive_skb` replaces or
/// clears the context; a redirect, failed or not, consumes it): this bound only keeps a
/// context whose packet was never redirected from being taken by a redirect much later. It
/// is not a latency assumption: on a loaded 2-vCPU VM the redirect came 24 µs after the
/// program's stamp at p99 and beyond 50 µs in about 1 of 1 000 packets (the copy into the
/// UMEM and the socket's wake-up lie in between).
pub const XDP_REDIRECT_MAX_NS: u64 = 5_000_000;

/// `power:cpu_idle` state of an exit event (`PWR_EVENT_EXIT`).
pub const CPU_IDLE_EXIT: u32 = u32::MAX;

/// Value of [`PROBE_SKB_IDS_MAP_NAME`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SkbId {
    /// The packet id.
    pub packet_id: u64,
    /// Its crossing.
    pub crossing: u32,
    /// Length of the frame (from the Ethernet header) when it was tagged.
    pub frame_len: u32,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) when the entry was written: matches older than
    /// [`SKB_ID_MAX_AGE_NS`] are stale.
    pub tagged_ns: u64,
}

/// Oldest skb map entry a classic tracepoint still trusts, in ns since it was tagged.
///
/// UDP frees most skbs without a tracepoint (NAPI cache, deferred free), so `consume_skb` and
/// `kfree_skb` cannot forget every tagged address; when the allocator hands the same address to
/// a later skb (another packet, or a netlink message of the same process), a lookup would
/// attribute it to the old packet. A benchmark packet lives in the stack for microseconds to a
/// few milliseconds (a full default socket receive queue drains in ~3 ms even at 100 kpps);
/// 50 ms rejects reused addresses while keeping every packet of a stalled receiver that is not
/// already lost. Rejected matches are counted as [`LayerCounter::Stale`].
pub const SKB_ID_MAX_AGE_NS: u64 = 50_000_000;

/// Byte offsets of the few kernel struct fields the BTF-typed probes read, resolved from
/// `/sys/kernel/btf/vmlinux` by the loader (the eBPF programs are built without CO-RE).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KernelOffsets {
    /// `struct sk_buff`: `head` (`unsigned char *`).
    pub skb_head: u16,
    /// `struct sk_buff`: `data` (`unsigned char *`).
    pub skb_data: u16,
    /// `struct sk_buff`: `mac_header` (`u16`, `0xffff` = unset).
    pub skb_mac_header: u16,
    /// `struct sk_buff`: `dev` (`struct net_device *`).
    pub skb_dev: u16,
    /// `struct net_device`: `nd_net` (`possible_net_t`, whose first member is `struct net *`).
    pub dev_nd_net: u16,
    /// `struct net`: `ns.inum` (`unsigned int`), the network namespace inode number.
    pub net_ns_inum: u16,
    /// `struct sk_buff`: `len` (`unsigned int`).
    pub skb_len: u16,
    /// Explicit padding.
    pub _reserved: u16,
}

/// [`ProbeGlobals::flags`]: [`ProbeGlobals::offsets`] are valid (BTF was readable).
pub const PROBE_FLAG_OFFSETS: u32 = 1 << 0;
/// [`ProbeGlobals::flags`]: device-level layers only record packets on devices in the network
/// namespaces [`ProbeGlobals::netns_inum`].
pub const PROBE_FLAG_NETNS_FILTER: u32 = 1 << 1;
/// [`ProbeGlobals::flags`]: the `sock:sk_data_ready` program is attached: a receiver's
/// `sched_waking` counts as its packet wake-up only right after an `sk_data_ready` on the
/// waker's CPU ([`WAKE_DATA_READY_MAX_NS`]); without it, any wake-up in `recvfrom` counts.
pub const PROBE_FLAG_DATA_READY: u32 = 1 << 2;
/// [`ProbeGlobals::flags`]: histogram mode (`--probes-mode histogram`): every stamp of a
/// packet with id ≥ [`ProbeGlobals::hist_first_packet`] also counts the time since the
/// packet's stamp at [`ProbeGlobals::hist_ref_layer`] (crossing 0) in the per-CPU log2
/// histograms [`PROBE_HIST_MAP_NAME`]. Userspace does not collect the stamps themselves.
pub const PROBE_FLAG_HISTOGRAM: u32 = 1 << 3;
/// [`ProbeGlobals::flags`]: parse each transmitted frame once. `net_dev_queue` (or, with a
/// qdisc, `qdisc_dequeue` on the CPU that dequeues) reads the frame and leaves the skb
/// address and what it found (packet id, or not a benchmark packet) in the CPU's context
/// ([`CpuState::tx_skb`]); `net_dev_start_xmit`, which only runs after one of them on the same
/// CPU in the same call, takes it from there when address and data end (`data + len`)
/// match, and marks the skb as in the driver; veth's `netif_rx` and `net_dev_xmit` take it
/// only while it is in the driver (`net_dev_xmit` ends it). Set by the loader only when those
/// programs are all tp_btf programs of the session.
pub const PROBE_FLAG_TX_CHAIN: u32 = 1 << 4;

/// [`CpuState::tx_kind`]: no transmit-chain context.
pub const TX_CHAIN_NONE: u32 = 0;
/// [`CpuState::tx_kind`]: the skb holds benchmark packet [`CpuState::tx_packet_id`].
pub const TX_CHAIN_PACKET: u32 = 1;
/// [`CpuState::tx_kind`]: the skb holds no benchmark packet.
pub const TX_CHAIN_FOREIGN: u32 = 2;
/// [`CpuState::tx_phase`]: written by `net_dev_queue` or `qdisc_dequeue`.
pub const TX_PHASE_QUEUED: u32 = 1;
/// [`CpuState::tx_phase`]: written by `net_dev_start_xmit`, until `net_dev_xmit`.
pub const TX_PHASE_DRIVER: u32 = 2;

/// Name of the per-CPU histogram array (`PerCpuArray<u64>`, [`PROBE_HIST_ENTRIES`] entries,
/// index [`hist_index`]) of histogram mode.
pub const PROBE_HIST_MAP_NAME: &str = "PROBE_HIST";
/// log2 buckets per (layer, crossing): bucket `b` counts times in `[2^b, 2^(b+1))` ns (bucket
/// 0 also holds 0 and 1 ns; the last one everything from 2^31 ns ≈ 2.1 s on).
pub const HIST_BUCKETS: u32 = 32;
/// Entries per (layer, crossing): the buckets, then [`HIST_SUM`] and [`HIST_NO_REFERENCE`].
pub const HIST_STRIDE: u32 = HIST_BUCKETS + 2;
/// Offset in a (layer, crossing) block: the sum of the counted times (ns).
pub const HIST_SUM: u32 = HIST_BUCKETS;
/// Offset in a (layer, crossing) block: stamps of measured packets not counted in the buckets
/// because their reference stamp was missing (or later than the stamp).
pub const HIST_NO_REFERENCE: u32 = HIST_BUCKETS + 1;
/// (layer, crossing) points of histogram mode: point `layer · 2 + crossing`.
pub const HIST_POINTS: u32 = PROBE_MAX_LAYERS as u32 * PROBE_MAX_CROSSINGS as u32;
/// Start of the per-segment region of [`PROBE_HIST_MAP_NAME`]: per (layer, crossing), the same
/// block as [`hist_index`] for the time from the packet's *previous* stamp (whichever point it
/// was, earlier in time) to its stamp there; [`HIST_NO_REFERENCE`] counts stamps with no earlier
/// stamp of the packet (its first, or one written after a later stamp of it).
pub const HIST_SEGMENT_BASE: u32 = HIST_POINTS * HIST_STRIDE;
/// Start of the predecessor counts of [`PROBE_HIST_MAP_NAME`]: entry
/// `HIST_FROM_BASE + to_point · HIST_POINTS + from_point` counts the segments that ended at
/// `to_point` and started at `from_point`.
pub const HIST_FROM_BASE: u32 = 2 * HIST_SEGMENT_BASE;
/// Entries of [`PROBE_HIST_MAP_NAME`]: since-reference blocks, per-segment blocks, then the
/// predecessor counts.
pub const PROBE_HIST_ENTRIES: u32 = HIST_FROM_BASE + HIST_POINTS * HIST_POINTS;

/// Name of the per-packet last-stamp array of histogram mode (`Array<LastStamp>`, one entry
/// per stamp slot, index `packet_id & slot_mask`).
pub const PROBE_LAST_MAP_NAME: &str = "PROBE_LAST";

/// Histogram mode: the latest stamp of the packet in a slot (its id, time and point), which
/// the packet's next stamp measures its segment from.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LastStamp {
    /// The packet whose stamp this is.
    pub packet_id: u64,
    /// When (`bpf_ktime_get_ns`); 0: empty.
    pub t_ns: u64,
    /// `layer · 2 + crossing`.
    pub point: u32,
    /// Padding to 24 bytes.
    pub _reserved: u32,
}

/// The histogram-mode point of `layer` at `crossing`.
#[inline(always)]
pub const fn hist_point(layer: LayerId, crossing: u32) -> u32 {
    (layer as u32) * PROBE_MAX_CROSSINGS as u32 + (crossing & 1)
}

/// Index into [`PROBE_HIST_MAP_NAME`] of `offset` of the per-segment block of the point
/// `to_point` ([`hist_point`]).
#[inline(always)]
pub const fn hist_segment_index(to_point: u32, offset: u32) -> u32 {
    HIST_SEGMENT_BASE + to_point * HIST_STRIDE + offset
}

/// Index into [`PROBE_HIST_MAP_NAME`] of the count of segments from `from_point` to
/// `to_point`.
#[inline(always)]
pub const fn hist_from_index(to_point: u32, from_point: u32) -> u32 {
    HIST_FROM_BASE + to_point * HIST_POINTS + from_point
}

/// Index into [`PROBE_HIST_MAP_NAME`] of `offset` (a bucket, [`HIST_SUM`] or
/// [`HIST_NO_REFERENCE`]) of `layer` at `crossing`.
#[inline(always)]
pub const fn hist_index(layer: LayerId, crossing: u32, offset: u32) -> u32 {
    ((layer as u32) * PROBE_MAX_CROSSINGS as u32 + (crossing & 1)) * HIST_STRIDE + offset
}

/// The log2 bucket of `ns` (see [`HIST_BUCKETS`]); written for the BPF verifier (no loop).
#[inline(always)]
pub const fn hist_bucket(ns: u64) -> u32 {
    let mut v = ns;
    let mut b = 0;
    if v >= 1 << 32 {
        v >>= 32;
        b += 32;
    }
    if v >= 1 << 16 {
        v >>= 16;
        b += 16;
    }
    if v >= 1 << 8 {
        v >>= 8;
        b += 8;
    }
    if v >= 1 << 4 {
        v >>= 4;
        b += 4;
    }
    if v >= 1 << 2 {
        v >>= 2;
        b += 2;
    }
    if v >= 1 << 1 {
        b += 1;
    }
    if b >= HIST_BUCKETS {
        HIST_BUCKETS - 1
    } else {
        b
    }
}

/// [`ProbeGlobals::user_format`]: the user buffer of `sendto`/`recvfrom` is the UADP message
/// (UDP socket).
pub const USER_FORMAT_UADP: u32 = 0;
/// [`ProbeGlobals::user_format`]: the user buffer is a whole Ethernet frame (AF_PACKET).
pub const USER_FORMAT_ETHERNET: u32 = 1;
/// [`ProbeGlobals::user_format`]: the system calls carry no packet (AF_XDP kicks).
pub const USER_FORMAT_NONE: u32 = 2;

/// Configuration of the probes: the read-only global `PROBE_GLOBALS`, fixed at load time.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProbeGlobals {
    /// Only threads of this process (tgid) are traced by the process-context layers; 0 = all.
    pub target_tgid: u32,
    /// Slots − 1 (slots is a power of two).
    pub slot_mask: u32,
    /// `PROBE_FLAG_*` bits.
    pub flags: u32,
    /// [`USER_FORMAT_UADP`], [`USER_FORMAT_ETHERNET`] or [`USER_FORMAT_NONE`].
    pub user_format: u32,
    /// Network namespace inode numbers for [`PROBE_FLAG_NETNS_FILTER`] (0 = unused entry).
    pub netns_inum: [u32; 2],
    /// PublisherId (UInt16) of benchmark messages.
    pub publisher_id: u16,
    /// UDP port of UADP over UDP (source or destination).
    pub udp_port: u16,
    /// Kernel struct offsets (valid if [`PROBE_FLAG_OFFSETS`]).
    pub offsets: KernelOffsets,
    /// Histogram mode ([`PROBE_FLAG_HISTOGRAM`]): the layer whose crossing-0 stamp of a
    /// packet is the reference of its times (its [`LayerId`] index).
    pub hist_ref_layer: u32,
    /// Histogram mode: packets with a lower id (the warm-up) are not counted.
    pub hist_first_packet: u32,
}

impl ProbeGlobals {
    /// Nothing traced until the loader sets it up.
    pub const DEFAULT: ProbeGlobals = ProbeGlobals {
        target_tgid: 0,
        slot_mask: PROBE_DEFAULT_SLOTS - 1,
        flags: 0,
        user_format: USER_FORMAT_UADP,
        netns_inum: [0; 2],
        publisher_id: BENCH_PUBLISHER_ID,
        udp_port: UADP_UDP_PORT,
        offsets: KernelOffsets {
            skb_head: 0,
            skb_data: 0,
            skb_mac_header: 0,
            skb_dev: 0,
            dev_nd_net: 0,
            net_ns_inum: 0,
            skb_len: 0,
            _reserved: 0,
        },
        hist_ref_layer: 0,
        hist_first_packet: 0,
    };
}

impl Default for ProbeGlobals {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// PublisherId (UInt16) of the benchmark's own messages (the OPC UA SDK tutorial's value):
/// the publisher writes it, the probes match it.
pub const BENCH_PUBLISHER_ID: u16 = 2234;

/// Offset of the packet id (UInt64 LE) in a benchmark UADP message.
pub const UADP_PACKET_ID_OFFSET: usize = 28;
/// Bytes of a benchmark UADP message a probe needs to see (up to the end of the packet id).
pub const UADP_PROBE_LEN: usize = 36;
/// First byte of a benchmark message: UADP version 1, PublisherId, GroupHeader, PayloadHeader
/// and ExtendedFlags1 present.
pub const UADP_BYTE0: u8 = 0xB1;
/// Second byte: ExtendedFlags1 = PublisherId type UInt16.
pub const UADP_BYTE1: u8 = 0x01;

/// Name of the ring buffer of [`SchedSwitch`] records (`RingBuf`) written by the
/// `sched:sched_switch` program while the trace window is open (see [`PROBE_TRACE_MAP_NAME`]).
/// The object declares it with [`PROBE_SCHED_MIN_BYTES`]; a loader that records scheduler
/// switches sizes it up (`EbpfLoader::map_max_entries`).
pub const PROBE_SCHED_MAP_NAME: &str = "PROBE_SCHED";
/// Size of [`PROBE_SCHED_MAP_NAME`] in the object (one page: a session that does not record
/// scheduler switches costs nothing).
pub const PROBE_SCHED_MIN_BYTES: u32 = 4096;
/// Name of the trace-window switch (`Array<u32>`, 1 entry): non-zero = the `sched_switch`
/// program records every context switch on every CPU. Written by userspace.
pub const PROBE_TRACE_MAP_NAME: &str = "PROBE_TRACE";

/// One context switch (`sched:sched_switch`), a record of [`PROBE_SCHED_MAP_NAME`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SchedSwitch {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) at the switch.
    pub t_ns: u64,
    /// `prev_state` of the thread switched out, as the tracepoint reports it: `TASK_*` bits
    /// when it went to sleep or blocked; `TASK_REPORT_MAX` (0x100) when it was preempted
    /// (still runnable). Tell them apart with [`crate::tracepoint::sched_switch_format::sleeping`].
    pub prev_state: i64,
    /// The CPU.
    pub cpu: u32,
    /// Thread switched out (0 = idle).
    pub prev_tid: u32,
    /// Thread switched in (0 = idle).
    pub next_tid: u32,
    /// Explicit padding.
    pub _reserved: u32,
    /// `comm` of the thread switched out (NUL-padded).
    pub prev_comm: [u8; 16],
    /// `comm` of the thread switched in (NUL-padded).
    pub next_comm: [u8; 16],
}
