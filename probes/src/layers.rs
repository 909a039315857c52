//! The layer table: which stack layers exist, which paths cross them, in which order, and how
//! each can be hooked (mechanism candidates in order of preference).

use std::{fmt, str::FromStr};

pub use uadpbench_common::LayerId;

/// A benchmark path (transport) whose layers are traced: the workspace's one path type.
pub use uadpbench_common::PathKind as ProbePath;

/// The bit of a path in a layer's path set.
const fn path_bit(p: ProbePath) -> u8 {
    match p {
        ProbePath::Udp => UDP,
        ProbePath::Eth => ETH,
        ProbePath::Xdp => XDP,
    }
}

/// Which half of the trip a layer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the sending user call to the driver.
    Send,
    /// From the driver (or XDP hook) to the receiving user call.
    Receive,
}

impl Direction {
    /// `send` / `receive`.
    pub const fn name(self) -> &'static str {
        match self {
            Direction::Send => "send",
            Direction::Receive => "receive",
        }
    }
}

/// How a layer is hooked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mechanism {
    /// BPF trampoline at a kernel function's entry (needs BTF; refused by some kernels).
    FEntry,
    /// kprobe at a kernel function's entry (needs `CONFIG_KPROBES`).
    KProbe,
    /// BTF-typed raw tracepoint (typed `struct sk_buff *` argument).
    TpBtf,
    /// Classic (perf) tracepoint with its format-file fields.
    Tracepoint,
    /// Untyped raw tracepoint. No layer uses it yet: `tp_btf` covers the same hooks with types.
    RawTracepoint,
    /// uprobe / uretprobe on a libc function.
    UProbe,
    /// The XDP program of the `xdp` path (outside this crate).
    Xdp,
}

impl Mechanism {
    /// All mechanisms, in the order of preference.
    pub const ALL: [Mechanism; 7] = [
        Mechanism::FEntry,
        Mechanism::KProbe,
        Mechanism::TpBtf,
        Mechanism::Tracepoint,
        Mechanism::RawTracepoint,
        Mechanism::UProbe,
        Mechanism::Xdp,
    ];

    /// `fentry`, `kprobe`, `tp_btf`, `tracepoint`, `raw_tp`, `uprobe`, `xdp`.
    pub const fn name(self) -> &'static str {
        match self {
            Mechanism::FEntry => "fentry",
            Mechanism::KProbe => "kprobe",
            Mechanism::TpBtf => "tp_btf",
            Mechanism::Tracepoint => "tracepoint",
            Mechanism::RawTracepoint => "raw_tp",
            Mechanism::UProbe => "uprobe",
            Mechanism::Xdp => "xdp",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mechanism {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mechanism::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown mechanism `{s}`: use one of {}",
                    Mechanism::ALL.map(Mechanism::name).join(", ")
                )
            })
    }
}

/// Where a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachPoint {
    /// Kernel function (fentry, kprobe).
    Function(&'static str),
    /// BTF tracepoint `name` (no trace record is built: the program gets the raw arguments).
    BtfTracepoint {
        /// Tracepoint name.
        name: &'static str,
        /// Argument index of its `struct sk_buff *`, which the program reads; `None`: the
        /// program reads scalar arguments only (the loader checks only that it exists).
        skb_arg: Option<usize>,
    },
    /// Classic tracepoint `category:name`; the program reads `fields` at these offsets (the
    /// loader checks them against the format file).
    Tracepoint {
        /// Tracepoint category.
        category: &'static str,
        /// Tracepoint name.
        name: &'static str,
        /// `(field, byte offset)` pairs the program reads.
        fields: &'static [(&'static str, u16)],
    },
    /// libc function(s); `ret`: at return (uretprobe).
    Libc {
        /// Symbols (the same program is attached to each).
        symbols: &'static [&'static str],
        /// uretprobe instead of uprobe.
        ret: bool,
    },
    /// Provided by another component (the XDP program).
    External(&'static str),
}

impl fmt::Display for AttachPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachPoint::Function(name) => write!(f, "{name}()"),
            AttachPoint::BtfTracepoint { name, .. } => write!(f, "btf_trace_{name}"),
            AttachPoint::Tracepoint { category, name, .. } => write!(f, "{category}:{name}"),
            AttachPoint::Libc { symbols, ret } => {
                write!(
                    f,
                    "libc {}{}",
                    symbols.join("/"),
                    if *ret { " (return)" } else { "" }
                )
            }
            AttachPoint::External(what) => f.write_str(what),
        }
    }
}

/// One way to hook a layer: a program of the `probes-ebpf` object and its attach point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// The mechanism.
    pub mechanism: Mechanism,
    /// Program (function) name in the object; empty for [`Mechanism::Xdp`].
    pub program: &'static str,
    /// Where it attaches.
    pub attach: AttachPoint,
    /// How the program finds the packet id.
    pub correlation: Correlation,
}

/// How a probe finds the packet id of its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Correlation {
    /// Reads the user buffer of the call (`bpf_probe_read_user`).
    UserBuffer,
    /// Reads the frame in the skb (`skb->head + skb->mac_header`, or `skb->data` before the
    /// MAC header is set), offsets from BTF.
    SkbBytes,
    /// The packet of the current thread's `sendto` (saved at `sys_enter_sendto`).
    SendThread,
    /// The packet the current thread's `recvfrom` received (buffer saved at
    /// `sys_enter_recvfrom`, read once the data is there).
    RecvThread,
    /// skb address → packet map, filled by the first transmit layer from the sending thread.
    SkbMap,
    /// The XDP program reads the packet itself.
    XdpPacket,
    /// Context of the receiving thread's wake-up: saved in its `recvfrom` context (receiver
    /// tid) when it happens, stamped with the packet that `recvfrom` returns.
    WakeContext,
    /// Context of the CPU that received the packet: the event on that CPU that belongs to
    /// the packet `netif_receive_skb` stamped there (the NET_RX softirq it ran in, the XDP
    /// redirect right after it), joined within a time window.
    CpuContext,
}

impl Correlation {
    /// Short description.
    pub const fn describe(self) -> &'static str {
        match self {
            Correlation::UserBuffer => "packet id read from the user buffer",
            Correlation::SkbBytes => "packet id read from the frame in the skb",
            Correlation::SendThread => "packet of the thread's sendto (from sys_enter_sendto)",
            Correlation::RecvThread => {
                "packet the thread's recvfrom received (buffer from sys_enter_recvfrom)"
            }
            Correlation::SkbMap => "skb address -> packet map filled on transmit",
            Correlation::XdpPacket => "read by the XDP program from the packet",
            Correlation::WakeContext => {
                "wake-up of the thread whose recvfrom returns the packet (receiver tid, time \
                 window after the packet's last stack layer)"
            }
            Correlation::CpuContext => {
                "the packet netif_receive_skb stamped on the same CPU (same softirq, time \
                 window)"
            }
        }
    }
}

/// A program that must run for a layer's probe to work, besides the probe itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Requirement {
    /// Another layer (selected too, and recorded).
    Layer(LayerId),
    /// A helper program that records nothing of its own.
    Helper(Helper),
}

/// Helper programs (no layer of their own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Helper {
    /// `syscalls:sys_enter_recvfrom`: remembers the receive buffer.
    SysEnterRecvfrom,
    /// libc `recv`/`recvfrom` entry: remembers the receive buffer.
    LibcRecvEntry,
    /// `skb:kfree_skb` (classic variants): forgets dropped skbs in the skb map.
    KfreeSkb,
    /// `syscalls:sys_enter_recvmsg`: remembers the first iovec's buffer (receivers using
    /// `recvmsg`, e.g. for `SO_TIMESTAMPING` control messages).
    SysEnterRecvmsg,
    /// `syscalls:sys_exit_recvmsg`: stamps the `sys_exit_recvfrom` layer for a `recvmsg`.
    SysExitRecvmsg,
    /// `syscalls:sys_enter_poll`: a receiver that waits in `poll()` before `recvfrom` (pnet,
    /// the eth path): its sleep counts for the wake-up layers.
    SysEnterPoll,
    /// `syscalls:sys_exit_poll`: passes the `poll()`'s sleep and wake-up to the next `recvfrom`.
    SysExitPoll,
    /// `irq:softirq_exit`: the NET_RX softirq on a CPU ended (for `net_rx_softirq`).
    SoftirqExit,
}

impl Helper {
    /// The helper's program.
    pub const fn candidate(self) -> Candidate {
        match self {
            Helper::SysEnterRecvfrom => Candidate {
                mechanism: Mechanism::Tracepoint,
                program: "tp_sys_enter_recvfrom",
                attach: AttachPoint::Tracepoint {
                    category: "syscalls",
                    name: "sys_enter_recvfrom",
                    fields: &[(
                        "ubuf",
                        uadpbench_common::tracepoint::SYS_ENTER_RECVFROM_UBUF as u16,
                    )],
                },
                correlation: Correlation::UserBuffer,
            },
            Helper::LibcRecvEntry => Candidate {
                mechanism: Mechanism::UProbe,
                program: "uprobe_libc_recv",
                attach: AttachPoint::Libc {
                    symbols: &["recv", "recvfrom"],
                    ret: false,
                },
                correlation: Correlation::UserBuffer,
            },
            Helper::SysEnterRecvmsg => Candidate {
                mechanism: Mechanism::Tracepoint,
                program: "tp_sys_enter_recvmsg",
                attach: AttachPoint::Tracepoint {
                    category: "syscalls",
                    name: "sys_enter_recvmsg",
                    fields: &[(
                        "msg",
                        uadpbench_common::tracepoint::SYS_ENTER_RECVMSG_MSG as u16,
                    )],
                },
                correlation: Correlation::UserBuffer,
            },
            Helper::SysExitRecvmsg => Candidate {
                mechanism: Mechanism::Tracepoint,
                program: "tp_sys_exit_recvmsg",
                attach: AttachPoint::Tracepoint {
                    category: "syscalls",
                    name: "sys_exit_recvmsg",
                    fields: &[(
                        "ret",
                        uadpbench_common::tracepoint::SYS_EXIT_RECVMSG_RET as u16,
                    )],
                },
                correlation: Correlation::RecvThread,
            },
            Helper::SysEnterPoll => Candidate {
                mechanism: Mechanism::Tracepoint,
                program: "tp_sys_enter_poll",
                attach: AttachPoint::Tracepoint {
                    category: "syscalls",
                    name: "sys_enter_poll",
                    fields: &[(
                        "ufds",
                        uadpbench_common::tracepoint::SYS_ENTER_POLL_UFDS as u16,
                    )],
                },
                correlation: Correlation::WakeContext,
            },
            Helper::SysExitPoll => Candidate {
                mechanism: Mechanism::Tracepoint,
                program: "tp_sys_exit_poll",
                attach: AttachPoint::Tracepoint {
                    category: "syscalls",
                    name: "sys_exit_poll",
                    fields: &[(
                        "ret",
                        uadpbench_common::tracepoint::SYS_EXIT_POLL_RET as u16,
                    )],
                },
                correlation: Correlation::WakeContext,
            },
            Helper::SoftirqExit => Candidate {
                mechanism: Mechanism::Tracepoint,
                program: "tp_softirq_exit",
                attach: AttachPoint::Tracepoint {
                    category: "irq",
                    name: "softirq_exit",
                    fields: &[("vec", uadpbench_common::tracepoint::SOFTIRQ_VEC as u16)],
                },
                correlation: Correlation::WakeContext,
            },
            Helper::KfreeSkb => Candidate {
                mechanism: Mechanism::Tracepoint,
                program: "tp_kfree_skb",
                attach: AttachPoint::Tracepoint {
                    category: "skb",
                    name: "kfree_skb",
                    fields: &[(
                        "skbaddr",
                        uadpbench_common::tracepoint::KFREE_SKB_SKBADDR as u16,
                    )],
                },
                correlation: Correlation::SkbMap,
            },
        }
    }

    /// A name for reports.
    /// A cheaper candidate to try before [`Self::candidate`], where there is one (a BTF
    /// tracepoint reading scalar arguments only).
    pub const fn btf_candidate(self) -> Option<Candidate> {
        match self {
            Helper::SoftirqExit => Some(tp_btf_context(
                "btf_softirq_exit",
                "softirq_exit",
                Correlation::WakeContext,
            )),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Helper::SysEnterRecvfrom => "helper:sys_enter_recvfrom",
            Helper::LibcRecvEntry => "helper:libc_recv_entry",
            Helper::KfreeSkb => "helper:kfree_skb",
            Helper::SysEnterRecvmsg => "helper:sys_enter_recvmsg",
            Helper::SysExitRecvmsg => "helper:sys_exit_recvmsg",
            Helper::SysEnterPoll => "helper:sys_enter_poll",
            Helper::SysExitPoll => "helper:sys_exit_poll",
            Helper::SoftirqExit => "helper:softirq_exit",
        }
    }
}

/// One row of the layer table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    /// Id (also the index in [`LAYERS`]).
    pub id: LayerId,
    /// Send or receive side.
    pub direction: Direction,
    /// Bit set of the paths that cross it (see [`Layer::on_path`]).
    paths: u8,
    /// Not part of [`Selection::All`] (expensive: uprobes); select it by name.
    pub optional: bool,
    /// What the layer is.
    pub description: &'static str,
    /// When an attached probe legitimately sees no packet (`None`: it always should).
    pub only_when: Option<&'static str>,
    /// Its timestamps are in order with the layers before it on its side (false: the event
    /// can happen at another time, e.g. a deferred free; or a context layer added at the end
    /// of the table, whose place on the path is elsewhere: `ipi_send`, `net_rx_softirq`).
    pub in_sequence: bool,
    /// Ways to hook it, best first.
    pub candidates: &'static [Candidate],
    /// What else must run for it (any mechanism).
    pub requires: &'static [Requirement],
}

impl Layer {
    /// The stable snake_case name.
    pub const fn name(&self) -> &'static str {
        self.id.name()
    }

    /// Whether `path` crosses this layer.
    pub const fn on_path(&self, path: ProbePath) -> bool {
        self.paths & path_bit(path) != 0
    }

    /// The paths that cross it.
    pub fn paths(&self) -> impl Iterator<Item = ProbePath> + '_ {
        ProbePath::ALL.into_iter().filter(|p| self.on_path(*p))
    }
}

const UDP: u8 = 1;
const ETH: u8 = 2;
const XDP: u8 = 4;

const fn fentry(program: &'static str, function: &'static str, c: Correlation) -> Candidate {
    Candidate {
        mechanism: Mechanism::FEntry,
        program,
        attach: AttachPoint::Function(function),
        correlation: c,
    }
}

const fn kprobe(program: &'static str, function: &'static str, c: Correlation) -> Candidate {
    Candidate {
        mechanism: Mechanism::KProbe,
        program,
        attach: AttachPoint::Function(function),
        correlation: c,
    }
}

const fn tp_btf(program: &'static str, name: &'static str, skb_arg: usize) -> Candidate {
    Candidate {
        mechanism: Mechanism::TpBtf,
        program,
        attach: AttachPoint::BtfTracepoint {
            name,
            skb_arg: Some(skb_arg),
        },
        correlation: Correlation::SkbBytes,
    }
}

/// A BTF tracepoint whose program reads scalar arguments only (or none): the context
/// programs, which then skip the classic tracepoint's record (cheaper per event; the classic
/// tracepoint stays as the fallback candidate).
const fn tp_btf_context(program: &'static str, name: &'static str, c: Correlation) -> Candidate {
    Candidate {
        mechanism: Mechanism::TpBtf,
        program,
        attach: AttachPoint::BtfTracepoint {
            name,
            skb_arg: None,
        },
        correlation: c,
    }
}

const fn tracepoint(
    program: &'static str,
    category: &'static str,
    name: &'static str,
    fields: &'static [(&'static str, u16)],
    c: Correlation,
) -> Candidate {
    Candidate {
        mechanism: Mechanism::Tracepoint,
        program,
        attach: AttachPoint::Tracepoint {
            category,
            name,
            fields,
        },
        correlation: c,
    }
}

/// Layers the thread-context send layers need: the entry saves the packet, the exit ends it.
const SEND_CONTEXT: &[Requirement] = &[
    Requirement::Layer(LayerId::SysEnterSendto),
    Requirement::Layer(LayerId::SysExitSendto),
];

/// When the wake-up layers apply.
const WOKEN: &str = "the receiving thread slept in recvfrom (or in the poll() before it) until \
                     the packet woke it (not when the packet was already queued, nor for a \
                     busy-polling receiver)";

/// What the wake-up layers need: the receive context (`recvfrom` entered — or `poll()` before
/// it —, the packet id read where it returns) and each other (a wake-up starts when the receiver is switched out asleep
/// and is stamped once the packet id is known).
const WAKE_CONTEXT: &[Requirement] = &[
    Requirement::Helper(Helper::SysEnterRecvfrom),
    Requirement::Helper(Helper::SysEnterRecvmsg),
    Requirement::Helper(Helper::SysExitRecvmsg),
    Requirement::Helper(Helper::SysEnterPoll),
    Requirement::Helper(Helper::SysExitPoll),
    Requirement::Layer(LayerId::SysExitRecvfrom),
    Requirement::Layer(LayerId::SchedWaking),
    Requirement::Layer(LayerId::SchedSwitchIn),
];

/// The layer table, indexed by [`LayerId`].
pub static LAYERS: [Layer; uadpbench_common::LAYER_COUNT] = [
    Layer {
        id: LayerId::LibcSendto,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: true,
        description:
            "libc send()/sendto() entered: the user/libc boundary (uprobe, a trap per call)",
        only_when: None,
        in_sequence: true,
        candidates: &[Candidate {
            mechanism: Mechanism::UProbe,
            program: "uprobe_libc_send",
            attach: AttachPoint::Libc {
                symbols: &["send", "sendto"],
                ret: false,
            },
            correlation: Correlation::UserBuffer,
        }],
        requires: &[],
    },
    Layer {
        id: LayerId::SysEnterSendto,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: false,
        description: "sendto system call entered",
        only_when: None,
        in_sequence: true,
        candidates: &[tracepoint(
            "tp_sys_enter_sendto",
            "syscalls",
            "sys_enter_sendto",
            &[
                (
                    "buff",
                    uadpbench_common::tracepoint::SYS_ENTER_SENDTO_BUFF as u16,
                ),
                (
                    "len",
                    uadpbench_common::tracepoint::SYS_ENTER_SENDTO_LEN as u16,
                ),
            ],
            Correlation::UserBuffer,
        )],
        requires: &[],
    },
    Layer {
        id: LayerId::UdpSendmsg,
        direction: Direction::Send,
        paths: UDP,
        optional: false,
        description: "UDP layer entered (udp_sendmsg)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            fentry("fentry_udp_sendmsg", "udp_sendmsg", Correlation::SendThread),
            kprobe("kprobe_udp_sendmsg", "udp_sendmsg", Correlation::SendThread),
        ],
        requires: SEND_CONTEXT,
    },
    Layer {
        id: LayerId::IpSendSkb,
        direction: Direction::Send,
        paths: UDP,
        optional: false,
        description: "IP layer hands the datagram to the output path (ip_send_skb)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            fentry("fentry_ip_send_skb", "ip_send_skb", Correlation::SendThread),
            kprobe("kprobe_ip_send_skb", "ip_send_skb", Correlation::SendThread),
        ],
        requires: SEND_CONTEXT,
    },
    Layer {
        id: LayerId::PacketSendmsg,
        direction: Direction::Send,
        paths: ETH,
        optional: false,
        description: "AF_PACKET layer entered (packet_sendmsg)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            fentry(
                "fentry_packet_sendmsg",
                "packet_sendmsg",
                Correlation::SendThread,
            ),
            kprobe(
                "kprobe_packet_sendmsg",
                "packet_sendmsg",
                Correlation::SendThread,
            ),
        ],
        requires: SEND_CONTEXT,
    },
    Layer {
        id: LayerId::DevDirectXmit,
        direction: Direction::Send,
        paths: ETH | XDP,
        optional: false,
        description: "direct transmit without qdisc (__dev_direct_xmit: AF_XDP copy mode, \
                      PACKET_QDISC_BYPASS)",
        only_when: Some("AF_XDP transmit, or AF_PACKET with PACKET_QDISC_BYPASS"),
        in_sequence: true,
        candidates: &[
            fentry(
                "fentry_dev_direct_xmit",
                "__dev_direct_xmit",
                Correlation::SkbBytes,
            ),
            kprobe(
                "kprobe_dev_direct_xmit",
                "__dev_direct_xmit",
                Correlation::SkbBytes,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::NetDevQueue,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: false,
        description: "dev_queue_xmit entered (net:net_dev_queue)",
        only_when: Some("not with PACKET_QDISC_BYPASS (eth path)"),
        in_sequence: true,
        candidates: &[
            tp_btf("btf_net_dev_queue", "net_dev_queue", 0),
            tracepoint(
                "tp_net_dev_queue",
                "net",
                "net_dev_queue",
                &[
                    (
                        "skbaddr",
                        uadpbench_common::tracepoint::NET_DEV_QUEUE_SKBADDR as u16,
                    ),
                    (
                        "len",
                        uadpbench_common::tracepoint::NET_DEV_QUEUE_LEN as u16,
                    ),
                ],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::QdiscDequeue,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: false,
        description: "a qdisc dequeued the packet (qdisc:qdisc_dequeue)",
        only_when: Some("the device has a qdisc (veth's default is noqueue)"),
        in_sequence: true,
        candidates: &[
            tp_btf("btf_qdisc_dequeue", "qdisc_dequeue", 3),
            tracepoint(
                "tp_qdisc_dequeue",
                "qdisc",
                "qdisc_dequeue",
                &[(
                    "skbaddr",
                    uadpbench_common::tracepoint::QDISC_DEQUEUE_SKBADDR as u16,
                )],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::NetDevStartXmit,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: false,
        description: "driver transmit called (net:net_dev_start_xmit)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            tp_btf("btf_net_dev_start_xmit", "net_dev_start_xmit", 0),
            tracepoint(
                "tp_net_dev_start_xmit",
                "net",
                "net_dev_start_xmit",
                &[
                    (
                        "skbaddr",
                        uadpbench_common::tracepoint::NET_DEV_START_XMIT_SKBADDR as u16,
                    ),
                    (
                        "len",
                        uadpbench_common::tracepoint::NET_DEV_START_XMIT_LEN as u16,
                    ),
                ],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::NetifRx,
        direction: Direction::Send,
        paths: UDP | ETH | XDP,
        optional: false,
        description: "veth hands the packet to the peer's backlog (net:netif_rx, inside the \
                      driver transmit)",
        only_when: Some("veth without native-mode XDP or GRO on the peer"),
        in_sequence: true,
        candidates: &[
            tp_btf("btf_netif_rx", "netif_rx", 0),
            tracepoint(
                "tp_netif_rx",
                "net",
                "netif_rx",
                &[
                    (
                        "skbaddr",
                        uadpbench_common::tracepoint::NETIF_RX_SKBADDR as u16,
                    ),
                    ("len", uadpbench_common::tracepoint::NETIF_RX_LEN as u16),
                ],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::NetDevXmit,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: false,
        description: "driver transmit returned (net:net_dev_xmit)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            tp_btf("btf_net_dev_xmit", "net_dev_xmit", 0),
            tracepoint(
                "tp_net_dev_xmit",
                "net",
                "net_dev_xmit",
                &[
                    (
                        "skbaddr",
                        uadpbench_common::tracepoint::NET_DEV_XMIT_SKBADDR as u16,
                    ),
                    ("len", uadpbench_common::tracepoint::NET_DEV_XMIT_LEN as u16),
                ],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::SockSendLength,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: false,
        description: "protocol sendmsg returned (sock:sock_send_length)",
        only_when: None,
        in_sequence: true,
        candidates: &[tracepoint(
            "tp_sock_send_length",
            "sock",
            "sock_send_length",
            &[(
                "ret",
                uadpbench_common::tracepoint::SOCK_SEND_LENGTH_RET as u16,
            )],
            Correlation::SendThread,
        )],
        requires: SEND_CONTEXT,
    },
    Layer {
        id: LayerId::SysExitSendto,
        direction: Direction::Send,
        paths: UDP | ETH,
        optional: false,
        description: "sendto system call returns",
        only_when: None,
        in_sequence: true,
        candidates: &[tracepoint(
            "tp_sys_exit_sendto",
            "syscalls",
            "sys_exit_sendto",
            &[(
                "ret",
                uadpbench_common::tracepoint::SYS_EXIT_SENDTO_RET as u16,
            )],
            Correlation::SendThread,
        )],
        requires: &[Requirement::Layer(LayerId::SysEnterSendto)],
    },
    Layer {
        id: LayerId::NetifReceiveSkb,
        direction: Direction::Receive,
        paths: UDP | ETH | XDP,
        optional: false,
        description: "receive path takes the packet (net:netif_receive_skb)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            tp_btf("btf_netif_receive_skb", "netif_receive_skb", 0),
            tracepoint(
                "tp_netif_receive_skb",
                "net",
                "netif_receive_skb",
                &[
                    (
                        "skbaddr",
                        uadpbench_common::tracepoint::NETIF_RECEIVE_SKB_SKBADDR as u16,
                    ),
                    (
                        "len",
                        uadpbench_common::tracepoint::NETIF_RECEIVE_SKB_LEN as u16,
                    ),
                ],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::XdpIngress,
        direction: Direction::Receive,
        paths: XDP,
        optional: false,
        description: "XDP program at the receiving device, before the redirect to AF_XDP \
                      (generic mode: after netif_receive_skb)",
        only_when: None,
        in_sequence: true,
        candidates: &[Candidate {
            mechanism: Mechanism::Xdp,
            program: "",
            attach: AttachPoint::External("the xdp path's XDP program (xdp-ebpf)"),
            correlation: Correlation::XdpPacket,
        }],
        requires: &[],
    },
    Layer {
        id: LayerId::IpRcv,
        direction: Direction::Receive,
        paths: UDP,
        optional: false,
        description: "IP receive (ip_rcv)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            fentry("fentry_ip_rcv", "ip_rcv", Correlation::SkbBytes),
            kprobe("kprobe_ip_rcv", "ip_rcv", Correlation::SkbBytes),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::UdpRcv,
        direction: Direction::Receive,
        paths: UDP,
        optional: false,
        description: "UDP receive (udp_rcv)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            fentry("fentry_udp_rcv", "udp_rcv", Correlation::SkbBytes),
            kprobe("kprobe_udp_rcv", "udp_rcv", Correlation::SkbBytes),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::PacketRcv,
        direction: Direction::Receive,
        paths: ETH,
        optional: false,
        description: "AF_PACKET receive (packet_rcv)",
        only_when: None,
        in_sequence: true,
        candidates: &[
            fentry("fentry_packet_rcv", "packet_rcv", Correlation::SkbBytes),
            kprobe("kprobe_packet_rcv", "packet_rcv", Correlation::SkbBytes),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::SkDataReady,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "the packet is queued to the receiving socket, which wakes its reader \
                      (sock:sk_data_ready; context of the wake-up)",
        only_when: Some(WOKEN),
        in_sequence: true,
        candidates: &[
            tp_btf_context("btf_sk_data_ready", "sk_data_ready", Correlation::WakeContext),
            tracepoint(
            "tp_sk_data_ready",
            "sock",
            "sk_data_ready",
            &[(
                "skaddr",
                uadpbench_common::tracepoint::SK_DATA_READY_SKADDR as u16,
            ),
        ],
            Correlation::WakeContext,
        )],
        requires: &[Requirement::Layer(LayerId::SchedWaking)],
    },
    Layer {
        id: LayerId::SchedWaking,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "the receiving thread, asleep in recvfrom, is woken (sched:sched_waking, \
                      on the waker's CPU)",
        only_when: Some(WOKEN),
        in_sequence: true,
        candidates: &[tracepoint(
            "tp_sched_waking",
            "sched",
            "sched_waking",
            &[
                ("pid", uadpbench_common::tracepoint::SCHED_WAKING_PID as u16),
                (
                    "target_cpu",
                    uadpbench_common::tracepoint::SCHED_WAKING_TARGET_CPU as u16,
                ),
            ],
            Correlation::WakeContext,
        )],
        requires: WAKE_CONTEXT,
    },
    Layer {
        id: LayerId::CpuIdleExit,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "the receiving thread's CPU leaves its idle state (power:cpu_idle exit)",
        only_when: Some(
            "the receiving thread slept in recvfrom until the packet woke it, and its CPU was \
             idle (the idle task was switched out for it)",
        ),
        in_sequence: true,
        candidates: &[
            tp_btf_context("btf_cpu_idle", "cpu_idle", Correlation::WakeContext),
            tracepoint(
            "tp_cpu_idle",
            "power",
            "cpu_idle",
            &[
                ("state", uadpbench_common::tracepoint::CPU_IDLE_STATE as u16),
                (
                    "cpu_id",
                    uadpbench_common::tracepoint::CPU_IDLE_CPU_ID as u16,
                ),
            ],
            Correlation::WakeContext,
        ),
        ],
        requires: &[
            Requirement::Layer(LayerId::SchedWaking),
            Requirement::Layer(LayerId::SchedSwitchIn),
        ],
    },
    Layer {
        id: LayerId::SchedSwitchIn,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "the woken receiving thread is switched in (sched:sched_switch, next = \
                      the receiver)",
        only_when: Some(WOKEN),
        in_sequence: true,
        candidates: &[tracepoint(
            "tp_sched_switch_wake",
            "sched",
            "sched_switch",
            &[
                (
                    "prev_pid",
                    uadpbench_common::sched_switch_format::PREV_PID as u16,
                ),
                (
                    "prev_state",
                    uadpbench_common::sched_switch_format::PREV_STATE as u16,
                ),
                (
                    "next_pid",
                    uadpbench_common::sched_switch_format::NEXT_PID as u16,
                ),
            ],
            Correlation::WakeContext,
        )],
        requires: WAKE_CONTEXT,
    },
    Layer {
        id: LayerId::SkbCopyDatagramIovec,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "payload copied to the user buffer (skb:skb_copy_datagram_iovec)",
        only_when: Some(
            "the copy goes through skb_copy_datagram_iter: AF_PACKET, or UDP with a non-linear \
             skb (UDP copies linear skbs with copy_linear_skb, which has no tracepoint)",
        ),
        in_sequence: true,
        candidates: &[
            tp_btf("btf_skb_copy_datagram_iovec", "skb_copy_datagram_iovec", 0),
            tracepoint(
                "tp_skb_copy_datagram_iovec",
                "skb",
                "skb_copy_datagram_iovec",
                &[(
                    "skbaddr",
                    uadpbench_common::tracepoint::SKB_COPY_DATAGRAM_IOVEC_SKBADDR as u16,
                )],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::SockRecvLength,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "protocol recvmsg returned (sock:sock_recv_length)",
        only_when: None,
        in_sequence: true,
        candidates: &[tracepoint(
            "tp_sock_recv_length",
            "sock",
            "sock_recv_length",
            &[(
                "ret",
                uadpbench_common::tracepoint::SOCK_RECV_LENGTH_RET as u16,
            )],
            Correlation::RecvThread,
        )],
        requires: &[
            Requirement::Helper(Helper::SysEnterRecvfrom),
            Requirement::Helper(Helper::SysEnterRecvmsg),
            Requirement::Layer(LayerId::SysExitRecvfrom),
        ],
    },
    Layer {
        id: LayerId::SysExitRecvfrom,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "recvfrom (or recvmsg) system call returns",
        only_when: None,
        in_sequence: true,
        candidates: &[tracepoint(
            "tp_sys_exit_recvfrom",
            "syscalls",
            "sys_exit_recvfrom",
            &[(
                "ret",
                uadpbench_common::tracepoint::SYS_EXIT_RECVFROM_RET as u16,
            )],
            Correlation::RecvThread,
        )],
        requires: &[
            Requirement::Helper(Helper::SysEnterRecvfrom),
            Requirement::Helper(Helper::SysEnterRecvmsg),
            Requirement::Helper(Helper::SysExitRecvmsg),
        ],
    },
    Layer {
        id: LayerId::LibcRecvfrom,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: true,
        description: "libc recv()/recvfrom() returns: the libc/user boundary (uretprobe, a trap \
                      per call)",
        only_when: None,
        in_sequence: true,
        candidates: &[Candidate {
            mechanism: Mechanism::UProbe,
            program: "uretprobe_libc_recv",
            attach: AttachPoint::Libc {
                symbols: &["recv", "recvfrom"],
                ret: true,
            },
            correlation: Correlation::UserBuffer,
        }],
        requires: &[Requirement::Helper(Helper::LibcRecvEntry)],
    },
    Layer {
        id: LayerId::ConsumeSkb,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "received skb freed (skb:consume_skb): in recvfrom after the copy, or \
                      later on the CPU that allocated it (deferred free)",
        only_when: Some(
            "the skb is freed through consume_skb: since Linux 6.x UDP frees most received \
             skbs through skb_attempt_defer_free / the NAPI skb cache, which has no tracepoint",
        ),
        in_sequence: false,
        candidates: &[
            tp_btf("btf_consume_skb", "consume_skb", 0),
            tracepoint(
                "tp_consume_skb",
                "skb",
                "consume_skb",
                &[(
                    "skbaddr",
                    uadpbench_common::tracepoint::CONSUME_SKB_SKBADDR as u16,
                )],
                Correlation::SkbMap,
            ),
        ],
        requires: &[],
    },
    Layer {
        id: LayerId::IpiSend,
        direction: Direction::Receive,
        paths: UDP | ETH,
        optional: false,
        description: "the waker sends an inter-processor interrupt to the CPU the receiving thread is woken onto (ipi:ipi_send_cpu, on the waker's CPU, right after its sched_waking)",
        only_when: Some(
            "the receiving thread slept in recvfrom until the packet woke it, and waking it needed an interrupt to another CPU (that CPU idle and not polling, or running another thread); not when it is woken onto the waker's own CPU",
        ),
        in_sequence: false,
        candidates: &[
            tp_btf_context("btf_ipi_send_cpu", "ipi_send_cpu", Correlation::WakeContext),
            tracepoint(
            "tp_ipi_send_cpu",
            "ipi",
            "ipi_send_cpu",
            &[("cpu", uadpbench_common::tracepoint::IPI_SEND_CPU_CPU as u16),
        ],
            Correlation::WakeContext,
        )],
        requires: &[
            Requirement::Layer(LayerId::SchedWaking),
            Requirement::Layer(LayerId::SchedSwitchIn),
        ],
    },
    Layer {
        id: LayerId::NetRxSoftirq,
        direction: Direction::Receive,
        paths: UDP | ETH | XDP,
        optional: false,
        description: "the NET_RX softirq in which the packet's netif_receive_skb ran is entered (irq:softirq_entry; veth: its backlog, a NIC: its NAPI poll)",
        only_when: Some(
            "netif_receive_skb (tp_btf) stamped the packet inside a NET_RX softirq; not with busy polling in process context, nor with the classic netif_receive_skb fallback",
        ),
        in_sequence: false,
        candidates: &[
            tp_btf_context("btf_softirq_entry", "softirq_entry", Correlation::CpuContext),
            tracepoint(
            "tp_softirq_entry",
            "irq",
            "softirq_entry",
            &[("vec", uadpbench_common::tracepoint::SOFTIRQ_VEC as u16),
        ],
            Correlation::CpuContext,
        )],
        requires: &[
            Requirement::Helper(Helper::SoftirqExit),
            Requirement::Layer(LayerId::NetifReceiveSkb),
        ],
    },
    Layer {
        id: LayerId::XdpRedirect,
        direction: Direction::Receive,
        paths: XDP,
        optional: false,
        description: "the XDP program's redirect into the AF_XDP socket is done (xdp:xdp_redirect; \
                      generic mode: the frame is in the UMEM and the socket's RX ring)",
        only_when: Some(
            "generic (SKB-mode) XDP with netif_receive_skb (tp_btf) stamping the packet just \
             before on the same CPU; not in native (driver) mode, where no skb exists before \
             the redirect, nor with the classic netif_receive_skb fallback",
        ),
        in_sequence: false,
        candidates: &[tracepoint(
            "tp_xdp_redirect",
            "xdp",
            "xdp_redirect",
            &[
                ("err", uadpbench_common::tracepoint::XDP_REDIRECT_ERR as u16),
                ("map_id", uadpbench_common::tracepoint::XDP_REDIRECT_MAP_ID as u16),
            ],
            Correlation::CpuContext,
        )],
        requires: &[Requirement::Layer(LayerId::NetifReceiveSkb)],
    },
];

/// The table row of a layer.
pub fn layer(id: LayerId) -> &'static Layer {
    &LAYERS[id.index()]
}

/// The layers `path` crosses, in order (the position is the layer's `layer_index`).
pub fn path_layers(path: ProbePath) -> impl Iterator<Item = &'static Layer> {
    LAYERS.iter().filter(move |l| l.on_path(path))
}

/// Position of `layer` in [`path_layers`]`(path)`.
pub fn layer_index(path: ProbePath, layer: LayerId) -> Option<usize> {
    path_layers(path).position(|l| l.id == layer)
}

/// The layers of `--probes minimal`: the first and the last stamp of each side that the
/// packet id is read at — `sys_enter_sendto`, `netif_receive_skb`, `sock_recv_length`,
/// `sys_exit_recvfrom` on the udp and eth paths, `netif_receive_skb` and `xdp_ingress` (the
/// path's XDP program) on the xdp path. [`Selection::Layers`] keeps the ones on the path.
pub const MINIMAL: [LayerId; 5] = [
    LayerId::SysEnterSendto,
    LayerId::NetifReceiveSkb,
    LayerId::XdpIngress,
    LayerId::SockRecvLength,
    LayerId::SysExitRecvfrom,
];

/// The layers of [`MINIMAL`] that `path` crosses, in path order.
pub fn minimal_layers(path: ProbePath) -> impl Iterator<Item = &'static Layer> {
    path_layers(path).filter(|l| MINIMAL.contains(&l.id))
}

/// One line for `uadpbench probes list`: what `--probes minimal` traces on `path`.
pub fn minimal_description(path: ProbePath) -> String {
    format!(
        "--probes minimal: {} (the rest of `all` left out: fewer program runs per packet)",
        minimal_layers(path)
            .map(Layer::name)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// Which layers to trace.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Selection {
    /// Every non-optional layer of the path.
    #[default]
    All,
    /// None.
    None,
    /// These layers (their prerequisites are added).
    Layers(Vec<LayerId>),
}

impl FromStr for Selection {
    type Err = String;
    /// `all`, `minimal` ([`MINIMAL`], as a layer list), `none` or a comma-separated list of
    /// layer names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "all" => Ok(Selection::All),
            "minimal" => Ok(Selection::Layers(MINIMAL.to_vec())),
            "none" | "" => Ok(Selection::None),
            list => list
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| {
                    LayerId::from_name(n).ok_or_else(|| {
                        format!(
                            "unknown probe layer `{n}`: use all, minimal, none or a \
                             comma-separated list of {}",
                            LAYERS
                                .iter()
                                .map(Layer::name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Selection::Layers),
        }
    }
}

/// Why a layer is traced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Selected {
    /// Not traced.
    No,
    /// Selected.
    Yes,
    /// Needed by a selected layer.
    Prerequisite,
}

/// The layers of `path` that `selection` traces (with prerequisites), as a per-layer array
/// indexed by [`LayerId::index`]. Pure: the bpftrace arm of `overhead` asks it too.
pub fn resolve(path: ProbePath, selection: &Selection) -> [Selected; LAYERS.len()] {
    let mut out = [Selected::No; LAYERS.len()];
    match selection {
        Selection::None => {}
        Selection::All => {
            for l in path_layers(path).filter(|l| !l.optional) {
                out[l.id.index()] = Selected::Yes;
            }
        }
        Selection::Layers(ids) => {
            for id in ids {
                if layer(*id).on_path(path) {
                    out[id.index()] = Selected::Yes;
                }
            }
        }
    }
    // Prerequisites (one level suffices today; loop for safety).
    loop {
        let mut changed = false;
        for l in LAYERS.iter() {
            if out[l.id.index()] == Selected::No {
                continue;
            }
            for r in l.requires {
                if let Requirement::Layer(dep) = r {
                    if out[dep.index()] == Selected::No {
                        out[dep.index()] = Selected::Prerequisite;
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_indexed_by_id() {
        for (i, l) in LAYERS.iter().enumerate() {
            assert_eq!(l.id.index(), i, "{}", l.name());
            assert!(!l.candidates.is_empty(), "{}", l.name());
            assert!(l.paths().count() > 0, "{}", l.name());
        }
    }

    #[test]
    fn send_before_receive_on_every_path() {
        for p in ProbePath::ALL {
            let dirs: Vec<_> = path_layers(p).map(|l| l.direction).collect();
            let first_rx = dirs.iter().position(|d| *d == Direction::Receive).unwrap();
            assert!(
                dirs[first_rx..].iter().all(|d| *d == Direction::Receive),
                "{p}"
            );
        }
    }

    #[test]
    fn selection_parses() {
        assert_eq!("all".parse::<Selection>().unwrap(), Selection::All);
        assert_eq!("none".parse::<Selection>().unwrap(), Selection::None);
        assert_eq!(
            "net_dev_queue, sys_exit_sendto"
                .parse::<Selection>()
                .unwrap(),
            Selection::Layers(vec![LayerId::NetDevQueue, LayerId::SysExitSendto])
        );
        let e = "net_dev_queue,bogus".parse::<Selection>().unwrap_err();
        assert!(e.contains("bogus") && e.contains("sys_enter_sendto"), "{e}");
    }

    #[test]
    fn minimal_is_first_and_last_per_side() {
        let m = "minimal".parse::<Selection>().unwrap();
        let traced = |p| {
            let r = resolve(p, &m);
            LAYERS
                .iter()
                .filter(|l| r[l.id.index()] != Selected::No)
                .map(|l| l.name())
                .collect::<Vec<_>>()
        };
        for p in [ProbePath::Udp, ProbePath::Eth] {
            assert_eq!(
                traced(p),
                [
                    "sys_enter_sendto",
                    "netif_receive_skb",
                    "sock_recv_length",
                    "sys_exit_recvfrom"
                ],
                "{p}"
            );
        }
        assert_eq!(traced(ProbePath::Xdp), ["netif_receive_skb", "xdp_ingress"]);
        assert!(minimal_description(ProbePath::Udp).contains("sock_recv_length"));
        let all = resolve(ProbePath::Udp, &Selection::All);
        let n_all = all.iter().filter(|s| **s != Selected::No).count();
        assert!(traced(ProbePath::Udp).len() * 2 < n_all);
    }

    #[test]
    fn prerequisites_are_added() {
        let r = resolve(
            ProbePath::Udp,
            &Selection::Layers(vec![LayerId::SockSendLength, LayerId::LibcRecvfrom]),
        );
        assert_eq!(r[LayerId::SockSendLength.index()], Selected::Yes);
        assert_eq!(r[LayerId::SysEnterSendto.index()], Selected::Prerequisite);
        assert_eq!(r[LayerId::SysExitSendto.index()], Selected::Prerequisite);
        assert_eq!(r[LayerId::LibcRecvfrom.index()], Selected::Yes);
        assert_eq!(r[LayerId::NetDevQueue.index()], Selected::No);
        let all = resolve(ProbePath::Udp, &Selection::All);
        assert_eq!(all[LayerId::LibcSendto.index()], Selected::No, "optional");
        assert_eq!(all[LayerId::PacketRcv.index()], Selected::No, "not on udp");
        assert_eq!(all[LayerId::ConsumeSkb.index()], Selected::Yes);
    }
}
