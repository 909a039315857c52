//! Byte offsets of the classic tracepoint fields the probes read, from the tracefs format files
//! (`events/<category>/<name>/format`, the `offset:` of each field).
//!
//! The eBPF programs read the fields at these offsets; the loader lists the same constants in
//! the layer table and checks every one against the running kernel's format file before it
//! attaches a program (a layer whose offsets differ is reported unavailable, not misread).
//! Names are `<EVENT>_<FIELD>`.

/// `syscalls:sys_enter_sendto`: `void * buff`.
pub const SYS_ENTER_SENDTO_BUFF: usize = 24;
/// `syscalls:sys_enter_sendto`: `size_t len`.
pub const SYS_ENTER_SENDTO_LEN: usize = 32;
/// `syscalls:sys_exit_sendto`: `long ret`.
pub const SYS_EXIT_SENDTO_RET: usize = 16;
/// `syscalls:sys_enter_recvfrom`: `void * ubuf`.
pub const SYS_ENTER_RECVFROM_UBUF: usize = 24;
/// `syscalls:sys_exit_recvfrom`: `long ret`.
pub const SYS_EXIT_RECVFROM_RET: usize = 16;
/// `syscalls:sys_enter_recvmsg`: `struct user_msghdr * msg`.
pub const SYS_ENTER_RECVMSG_MSG: usize = 24;
/// `syscalls:sys_exit_recvmsg`: `long ret`.
pub const SYS_EXIT_RECVMSG_RET: usize = 16;
/// `syscalls:sys_enter_poll`: `struct pollfd * ufds`.
pub const SYS_ENTER_POLL_UFDS: usize = 16;
/// `syscalls:sys_exit_poll`: `long ret`.
pub const SYS_EXIT_POLL_RET: usize = 16;

/// `sock:sock_send_length`: `int ret`.
pub const SOCK_SEND_LENGTH_RET: usize = 20;
/// `sock:sock_recv_length`: `int ret`.
pub const SOCK_RECV_LENGTH_RET: usize = 20;
/// `sock:sk_data_ready`: `const void * skaddr`.
pub const SK_DATA_READY_SKADDR: usize = 8;

/// `net:net_dev_queue`: `void * skbaddr`.
pub const NET_DEV_QUEUE_SKBADDR: usize = 8;
/// `net:net_dev_queue`: `unsigned int len`.
pub const NET_DEV_QUEUE_LEN: usize = 16;
/// `qdisc:qdisc_dequeue`: `void * skbaddr`.
pub const QDISC_DEQUEUE_SKBADDR: usize = 32;
/// `net:net_dev_start_xmit`: `const void * skbaddr`.
pub const NET_DEV_START_XMIT_SKBADDR: usize = 16;
/// `net:net_dev_start_xmit`: `unsigned int len`.
pub const NET_DEV_START_XMIT_LEN: usize = 36;
/// `net:netif_rx`: `void * skbaddr`.
pub const NETIF_RX_SKBADDR: usize = 8;
/// `net:netif_rx`: `unsigned int len`.
pub const NETIF_RX_LEN: usize = 16;
/// `net:net_dev_xmit`: `void * skbaddr`.
pub const NET_DEV_XMIT_SKBADDR: usize = 8;
/// `net:net_dev_xmit`: `unsigned int len`.
pub const NET_DEV_XMIT_LEN: usize = 16;
/// `net:netif_receive_skb`: `void * skbaddr`.
pub const NETIF_RECEIVE_SKB_SKBADDR: usize = 8;
/// `net:netif_receive_skb`: `unsigned int len`.
pub const NETIF_RECEIVE_SKB_LEN: usize = 16;

/// `skb:skb_copy_datagram_iovec`: `const void * skbaddr`.
pub const SKB_COPY_DATAGRAM_IOVEC_SKBADDR: usize = 8;
/// `skb:consume_skb`: `void * skbaddr`.
pub const CONSUME_SKB_SKBADDR: usize = 8;
/// `skb:kfree_skb`: `void * skbaddr`.
pub const KFREE_SKB_SKBADDR: usize = 8;

/// `sched:sched_waking`: `pid_t pid`.
pub const SCHED_WAKING_PID: usize = 24;
/// `sched:sched_waking`: `int target_cpu`.
pub const SCHED_WAKING_TARGET_CPU: usize = 32;
/// `ipi:ipi_send_cpu`: `unsigned int cpu`.
pub const IPI_SEND_CPU_CPU: usize = 8;
/// `xdp:xdp_redirect`: `int err` (always 0 here: failures go to `xdp_redirect_err`).
pub const XDP_REDIRECT_ERR: usize = 20;
/// `xdp:xdp_redirect`: `u32 map_id`.
pub const XDP_REDIRECT_MAP_ID: usize = 28;
/// `irq:softirq_entry` and `irq:softirq_exit`: `unsigned int vec`.
pub const SOFTIRQ_VEC: usize = 8;
/// `power:cpu_idle`: `u32 state`.
pub const CPU_IDLE_STATE: usize = 8;
/// `power:cpu_idle`: `u32 cpu_id`.
pub const CPU_IDLE_CPU_ID: usize = 12;

/// Byte offsets of the `sched:sched_switch` format fields the program reads.
pub mod sched_switch_format {
    /// `char prev_comm[16]`.
    pub const PREV_COMM: usize = 8;
    /// `pid_t prev_pid`.
    pub const PREV_PID: usize = 24;
    /// `long prev_state`.
    pub const PREV_STATE: usize = 32;
    /// `char next_comm[16]`.
    pub const NEXT_COMM: usize = 40;
    /// `pid_t next_pid`.
    pub const NEXT_PID: usize = 56;
    /// The bits of `prev_state` that name the state a task left the CPU in (`TASK_REPORT_MAX -
    /// 1`: running, S, D, T, t, X, Z, P, I). A *preempted* task is reported with none of them
    /// but `TASK_REPORT_MAX` (0x100, `R+` in the trace's text) — not 0. Stable since Linux
    /// 4.14; the tracepoint's own print format masks with the same value.
    pub const STATE_MASK: i64 = 0xff;

    /// Whether `prev_state` says the task left the CPU to sleep or block (not preempted,
    /// which leaves it runnable).
    pub const fn sleeping(prev_state: i64) -> bool {
        prev_state & STATE_MASK != 0
    }
}
