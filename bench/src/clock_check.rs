//! The clock cross-check of the probes (`--so-timestamping`, udp path, cyclic mode): the
//! kernel's own `SO_TIMESTAMPING` software stamps of every measured packet — transmit SCHED
//! (taken in `__dev_queue_xmit` just before the `net_dev_queue` tracepoint), transmit SOFTWARE
//! (`skb_tx_timestamp()` in `veth_xmit`, just after `net_dev_start_xmit`) and receive SOFTWARE
//! (in `netif_rx_internal` just before the `netif_rx` tracepoint, with the default
//! `net.core.netdev_tstamp_prequeue=1`) — set beside the user-space send/receive times and the
//! probe timestamps of the matching layers.
//!
//! The stamps are CLOCK_REALTIME (`ktime_get_real`); the probes and user-space times are
//! CLOCK_MONOTONIC (`bpf_ktime_get_ns`, `clock_gettime`). A stamp is moved onto the
//! monotonic axis with the REALTIME − MONOTONIC offset measured in user space before and after
//! the run ([`uadpbench_sender::clock::realtime_offset`]); a difference between the two means
//! the wall clock was stepped during the run, and is reported.
//!
//! `clock_check.csv`: one row per packet, stamp and reference: `delta_ns` = reference time −
//! stamp time (signed).

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use uadpbench_probes::LayerId;
use uadpbench_sender::clock::RealtimeOffset;
use uadpbench_sender::transport::{TxStamp, TxStampKind};

use crate::results::{self, SampleRow};

/// What a cyclic run collected for the cross-check.
#[derive(Debug, Clone)]
pub struct ClockStamps {
    /// Publisher's transmit stamps; the OPT_ID key is the packet id.
    pub tx: Vec<TxStamp>,
    /// Subscriber's receive stamps: (packet id, CLOCK_REALTIME ns).
    pub rx: Vec<(u64, u64)>,
    /// REALTIME − MONOTONIC before the publisher started and after both sides finished.
    pub before: RealtimeOffset,
    pub after: RealtimeOffset,
}

/// One row of clock_check.csv.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClockCheckRow {
    pub run_id: String,
    pub packet_id: u64,
    /// `tx_sched`, `tx_software` or `rx_software`.
    pub stamp: &'static str,
    pub stamp_realtime_ns: u64,
    /// The stamp on the CLOCK_MONOTONIC axis (realtime − offset).
    pub stamp_monotonic_ns: u64,
    /// `user_send`, a probe layer name, or `user_recv`.
    pub reference: &'static str,
    pub reference_t_ns: u64,
    /// reference_t_ns − stamp_monotonic_ns.
    pub delta_ns: i64,
}

/// The stamp/reference pairs compared, in path order, with the layer each reference is.
pub const COMPARISONS: [(&str, Reference); 7] = [
    ("tx_sched", Reference::UserSend),
    ("tx_sched", Reference::Layer(LayerId::NetDevQueue)),
    ("tx_software", Reference::Layer(LayerId::NetDevStartXmit)),
    ("tx_software", Reference::Layer(LayerId::NetifRx)),
    ("rx_software", Reference::Layer(LayerId::NetifRx)),
    ("rx_software", Reference::Layer(LayerId::NetifReceiveSkb)),
    ("rx_software", Reference::UserRecv),
];

/// What a stamp is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The user-space CLOCK_MONOTONIC time just before the send system call.
    UserSend,
    /// A probe layer's timestamp of the packet (first crossing).
    Layer(LayerId),
    /// The user-space time just after the receive system call returned.
    UserRecv,
}

impl Reference {
    pub fn name(self) -> &'static str {
        match self {
            Reference::UserSend => "user_send",
            Reference::Layer(l) => l.name(),
            Reference::UserRecv => "user_recv",
        }
    }
}

/// The cross-check of one run.
#[derive(Debug, Clone)]
pub struct ClockCheck {
    pub rows: Vec<ClockCheckRow>,
    /// Offset used: the mean of the offsets before and after.
    pub offset_ns: i64,
    /// after − before: non-zero beyond the uncertainties means a wall-clock step.
    pub offset_change_ns: i64,
    pub uncertainty_ns: u64,
    /// Measured packets with each stamp.
    pub stamped: [(&'static str, usize); 3],
    pub measured: usize,
}

impl ClockCheck {
    /// Deltas of one comparison.
    pub fn deltas(&self, stamp: &str, reference: &str) -> Vec<i64> {
        self.rows
            .iter()
            .filter(|r| r.stamp == stamp && r.reference == reference)
            .map(|r| r.delta_ns)
            .collect()
    }
}

/// Joins the stamps with the samples (user send/receive times of the measured packets) and,
/// with probes, the layer timestamps `layer_t[(packet id, layer)]` (first crossing).
pub fn evaluate(
    run_id: &str,
    stamps: &ClockStamps,
    samples: &[SampleRow],
    layer_t: Option<&HashMap<(u64, LayerId), u64>>,
) -> ClockCheck {
    let offset_ns = (stamps.before.offset_ns + stamps.after.offset_ns) / 2;
    let to_mono = |realtime: u64| (realtime as i64 - offset_ns).max(0) as u64;
    let measured: HashMap<u64, &SampleRow> = samples.iter().map(|s| (s.packet_id, s)).collect();
    let mut by_stamp: HashMap<(&'static str, u64), u64> = HashMap::new();
    for t in &stamps.tx {
        let name = match t.kind {
            TxStampKind::Sched => "tx_sched",
            TxStampKind::Software => "tx_software",
        };
        by_stamp.insert((name, u64::from(t.key)), t.realtime_ns);
    }
    for (id, ns) in &stamps.rx {
        by_stamp.insert(("rx_software", *id), *ns);
    }
    let mut ids: Vec<u64> = measured.keys().copied().collect();
    ids.sort_unstable();
    let mut rows = Vec::new();
    for id in ids {
        let s = measured[&id];
        for (stamp, reference) in COMPARISONS {
            let Some(&real) = by_stamp.get(&(stamp, id)) else {
                continue;
            };
            let reference_t = match reference {
                Reference::UserSend => Some(s.t_send_ns),
                Reference::UserRecv => s.t_recv_ns,
                Reference::Layer(l) => layer_t.and_then(|m| m.get(&(id, l)).copied()),
            };
            let Some(reference_t) = reference_t else {
                continue;
            };
            let mono = to_mono(real);
            rows.push(ClockCheckRow {
                run_id: run_id.to_owned(),
                packet_id: id,
                stamp,
                stamp_realtime_ns: real,
                stamp_monotonic_ns: mono,
                reference: reference.name(),
                reference_t_ns: reference_t,
                delta_ns: reference_t as i64 - mono as i64,
            });
        }
    }
    let count = |name: &str| {
        measured
            .keys()
            .filter(|id| by_stamp.contains_key(&(name, **id)))
            .count()
    };
    ClockCheck {
        offset_ns,
        offset_change_ns: stamps.after.offset_ns - stamps.before.offset_ns,
        uncertainty_ns: stamps
            .before
            .uncertainty_ns
            .max(stamps.after.uncertainty_ns),
        stamped: [
            ("tx_sched", count("tx_sched")),
            ("tx_software", count("tx_software")),
            ("rx_software", count("rx_software")),
        ],
        measured: measured.len(),
        rows,
    }
}

/// Writes clock_check.csv and returns the terminal lines and the meta.json object.
pub fn write(
    check: &ClockCheck,
    out_dir: &Path,
) -> anyhow::Result<(Vec<String>, serde_json::Value)> {
    results::write_csv(&out_dir.join("clock_check.csv"), &check.rows)?;
    let mut lines = vec![format!(
        "  clock cross-check (SO_TIMESTAMPING software stamps, CLOCK_REALTIME moved to CLOCK_MONOTONIC by {} ns ± {} ns; offset change during the run {} ns): stamped {} of {} measured packets",
        check.offset_ns,
        check.uncertainty_ns,
        check.offset_change_ns,
        check
            .stamped
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", "),
        check.measured
    )];
    let mut comparisons = Vec::new();
    for (stamp, reference) in COMPARISONS {
        let d = check.deltas(stamp, reference.name());
        let Some(rows) = crate::stats::signed_rows(&d) else {
            continue;
        };
        let get = |n: &str| rows.iter().find(|(k, _)| *k == n).map_or(0.0, |(_, v)| *v);
        lines.push(format!(
            "    {:<12} → {:<20} Δ p50 {:>9.0} ns  [min {:>8.0}, p99 {:>8.0}]  n {}",
            stamp,
            reference.name(),
            get("p50"),
            get("min"),
            get("p99"),
            d.len()
        ));
        comparisons.push(serde_json::json!({
            "stamp": stamp,
            "reference": reference.name(),
            "count": d.len(),
            "delta_ns": rows.iter().map(|(k, v)| ((*k).to_owned(), serde_json::json!(v))).collect::<serde_json::Map<String, serde_json::Value>>(),
        }));
    }
    if check.offset_change_ns.unsigned_abs() > 2 * check.uncertainty_ns + 10_000 {
        lines.push(format!(
            "    warning: CLOCK_REALTIME moved by {} ns against CLOCK_MONOTONIC during the run (a clock step): the deltas are off by up to that much",
            check.offset_change_ns
        ));
    }
    let meta = serde_json::json!({
        "stamps": "SO_TIMESTAMPING software stamps: tx_sched (SOF_TIMESTAMPING_TX_SCHED, __dev_queue_xmit before trace_net_dev_queue), tx_software (SOF_TIMESTAMPING_TX_SOFTWARE, skb_tx_timestamp in the driver's xmit), rx_software (SOF_TIMESTAMPING_RX_SOFTWARE, netif_rx_internal before trace_netif_rx with netdev_tstamp_prequeue=1)",
        "stamp_clock": "CLOCK_REALTIME (ktime_get_real)",
        "reference_clock": "CLOCK_MONOTONIC (bpf_ktime_get_ns, clock_gettime)",
        "offset_ns": check.offset_ns,
        "offset_uncertainty_ns": check.uncertainty_ns,
        "offset_change_during_run_ns": check.offset_change_ns,
        "measured_packets": check.measured,
        "stamped": check.stamped.iter().map(|(n, c)| ((*n).to_owned(), serde_json::json!(c))).collect::<serde_json::Map<String, serde_json::Value>>(),
        "comparisons": comparisons,
    });
    Ok((lines, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(id: u64, send: u64, recv: u64) -> SampleRow {
        SampleRow {
            run_id: "r".into(),
            seq: id as u16,
            packet_id: id,
            t_send_ns: send,
            t_recv_ns: Some(recv),
            rtt_ns: None,
            one_way_ns: Some(recv - send),
            send_deviation_ns: Some(0),
            lost: false,
        }
    }

    #[test]
    fn stamps_move_to_the_monotonic_axis_and_pair_with_their_references() {
        let off = RealtimeOffset {
            offset_ns: 1_000_000,
            uncertainty_ns: 10,
        };
        let stamps = ClockStamps {
            tx: vec![
                TxStamp {
                    key: 0,
                    kind: TxStampKind::Sched,
                    realtime_ns: 1_000_150,
                },
                TxStamp {
                    key: 0,
                    kind: TxStampKind::Software,
                    realtime_ns: 1_000_300,
                },
                // Warm-up packet 7 is not measured: ignored.
                TxStamp {
                    key: 7,
                    kind: TxStampKind::Sched,
                    realtime_ns: 5,
                },
            ],
            rx: vec![(0, 1_000_400)],
            before: off,
            after: off,
        };
        let layers: HashMap<(u64, LayerId), u64> = [
            ((0, LayerId::NetDevQueue), 160),
            ((0, LayerId::NetDevStartXmit), 290),
            ((0, LayerId::NetifRx), 410),
        ]
        .into_iter()
        .collect();
        let c = evaluate("r", &stamps, &[sample(0, 100, 900)], Some(&layers));
        let d = |s, r| c.deltas(s, r);
        assert_eq!(d("tx_sched", "user_send"), [-50]);
        assert_eq!(d("tx_sched", "net_dev_queue"), [10]);
        assert_eq!(d("tx_software", "net_dev_start_xmit"), [-10]);
        assert_eq!(d("tx_software", "netif_rx"), [110]);
        assert_eq!(d("rx_software", "netif_rx"), [10]);
        assert_eq!(d("rx_software", "user_recv"), [500]);
        assert!(
            d("rx_software", "netif_receive_skb").is_empty(),
            "no such stamp"
        );
        assert_eq!(
            c.stamped,
            [("tx_sched", 1), ("tx_software", 1), ("rx_software", 1)]
        );
        assert_eq!(c.offset_change_ns, 0);
        // Without probes only the user-space references remain.
        let c = evaluate("r", &stamps, &[sample(0, 100, 900)], None);
        assert_eq!(c.rows.len(), 2);
    }
}
