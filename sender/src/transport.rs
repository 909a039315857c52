//! The one interface every path implements. The measurement loops ([`crate::loops`]) only see
//! this trait, so a new path never touches measurement code.

use std::time::Duration;

pub use uadpbench_common::{Encap, PathKind};

/// Counters a transport keeps about what it saw besides benchmark messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransportCounters {
    /// Frames or datagrams received that were not for this benchmark (other EtherType, other
    /// port, other peer) and were skipped.
    pub foreign_frames: u64,
    /// Received frames too short or malformed at the link/IP/UDP level.
    pub malformed_frames: u64,
    /// Messages the kernel did not accept for sending (e.g. ENOBUFS in flood mode).
    pub send_dropped: u64,
}

/// Which `SO_TIMESTAMPING` transmit stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TxStampKind {
    /// `SCM_TSTAMP_SCHED`: entering the packet scheduler (`__dev_queue_xmit`).
    Sched,
    /// `SCM_TSTAMP_SND`: the driver handing the packet on (`skb_tx_timestamp`).
    Software,
    /// `SCM_TSTAMP_SND` taken by the NIC (`SOF_TIMESTAMPING_TX_HARDWARE`), raw: the NIC's
    /// PTP hardware clock time, not CLOCK_REALTIME.
    Hardware,
}

impl TxStampKind {
    pub fn name(self) -> &'static str {
        match self {
            TxStampKind::Sched => "tx_sched",
            TxStampKind::Software => "tx_software",
            TxStampKind::Hardware => "tx_hardware",
        }
    }
}

/// One `SO_TIMESTAMPING` transmit stamp from the socket's error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxStamp {
    /// `SOF_TIMESTAMPING_OPT_ID` key: the 0-based number of the send call on this socket.
    pub key: u32,
    pub kind: TxStampKind,
    /// Nanoseconds: CLOCK_REALTIME for the software kinds (software timestamps are
    /// wall-clock time), the NIC's PTP hardware clock for [`TxStampKind::Hardware`].
    pub ns: u64,
}

/// Arrival stamps the xdp path's XDP program wrote (probe runs): the `xdp_ingress` layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XdpStamps {
    /// One per slot that holds a stamp (the latest packet of that slot).
    pub stamps: Vec<uadpbench_common::Stamp>,
    /// Stamps the program wrote (`XdpCounter::Stamped`).
    pub stamped: u64,
    /// Stamps written over another packet's unread stamp (`XdpCounter::StampOverwritten`).
    pub overwritten: u64,
    /// The XDP program's runs and BPF run time so far (`BPF_ENABLE_STATS` must be on, as it
    /// is during a probe session; zero otherwise).
    pub run_count: u64,
    pub run_time_ns: u64,
}

/// Errors of a transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("{op} failed: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "a {len}-byte message does not fit this path (at most {max} bytes of UADP with this MTU)"
    )]
    MessageTooLarge { len: usize, max: usize },
    #[error("{0}")]
    Setup(String),
}

impl TransportError {
    pub fn io(op: &'static str, source: std::io::Error) -> Self {
        TransportError::Io { op, source }
    }
}

/// Sends and receives UADP messages over one path.
pub trait Transport: Send {
    /// A one-line description for logs and meta.json (path, encapsulation, options).
    fn describe(&self) -> String;

    /// The largest UADP message this path carries.
    fn max_message_len(&self) -> usize;

    /// Sends one message.
    fn send(&mut self, msg: &[u8]) -> Result<(), TransportError>;

    /// Sends several messages, batched where the path can; returns how many the kernel took.
    fn send_batch(&mut self, msgs: &[&[u8]]) -> Result<usize, TransportError> {
        for m in msgs {
            self.send(m)?;
        }
        Ok(msgs.len())
    }

    /// Waits up to [`Transport::recv_timeout`] for the next benchmark-path message and copies
    /// its UADP bytes into `buf`; `Ok(None)` on timeout. Foreign traffic is skipped and counted.
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, TransportError>;

    /// How long [`Transport::recv`] waits.
    fn recv_timeout(&self) -> Duration;

    /// Changes how long [`Transport::recv`] waits.
    fn set_recv_timeout(&mut self, timeout: Duration) -> Result<(), TransportError>;

    /// What the transport skipped or lost so far.
    fn counters(&self) -> TransportCounters;

    /// Whether `SO_TIMESTAMPING` software stamps are on (the udp path's `so_timestamping`).
    fn timestamping(&self) -> bool {
        false
    }

    /// The `SO_TIMESTAMPING` receive software stamp (CLOCK_REALTIME ns) of the message the
    /// last successful [`Transport::recv`] returned.
    fn last_rx_stamp(&self) -> Option<u64> {
        None
    }

    /// The NIC's hardware receive stamp (its PTP hardware clock's ns) of the message the last
    /// successful [`Transport::recv`] returned, when hardware stamps are on.
    fn last_rx_hw_stamp(&self) -> Option<u64> {
        None
    }

    /// The PTP hardware clock (`/dev/ptp<N>`) whose time the hardware stamps are in, when
    /// the transport switched its NIC's hardware stamping on.
    fn hardware_clock(&self) -> Option<i32> {
        None
    }

    /// The XDP program's arrival stamps (xdp path with `xdp_stamps`; `None` elsewhere).
    fn xdp_stamps(&mut self) -> Result<Option<XdpStamps>, TransportError> {
        Ok(None)
    }

    /// Moves the transmit stamps queued so far (without waiting) into `out`.
    fn drain_tx_stamps(&mut self, _out: &mut Vec<TxStamp>) -> Result<(), TransportError> {
        Ok(())
    }
}
