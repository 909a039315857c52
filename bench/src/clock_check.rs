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
//! Where the interface can stamp every packet in hardware (a real NIC; never veth), the
//! NIC's own stamps join them: transmit HARDWARE (when the NIC sent the frame) and receive
//! HARDWARE (when it took the frame off the wire), raw PTP-hardware-clock time moved onto
//! CLOCK_REALTIME by the PHC readings of each side (`PTP_SYS_OFFSET_EXTENDED` before and after
//! the run), and from there onto the monotonic axis like the software stamps.
//!
//! `clock_check.csv`: one row per packet, stamp and reference: `delta_ns` = reference time −
//! stamp time (signed).

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;
use uadpbench_probes::LayerId;
use uadpbench_sender::clock::RealtimeOffset;
use uadpbench_sender::hw_stamping::PhcReadings;
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
    /// The NIC hardware stamps, where the interfaces have them.
    pub hardware: HardwareStamps,
    /// Across hosts: the receive stamps were taken on the agent's host and moved onto this
    /// host's clock ([`move_far_stamps`]); what that move was and its error bound.
    pub far: Option<FarMove>,
}

/// How receive stamps taken on another host reached this host's clock.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FarMove {
    /// The agent's host name.
    pub host: String,
    /// Error bound of the move (the agent clock mapping's, plus its realtime reading's).
    pub bound_ns: u64,
    /// The mapping used (the run's one-way clock source).
    pub how: String,
}

/// Moves stamps `(packet id, ns)` taken on the agent's CLOCK_REALTIME onto this host's
/// CLOCK_REALTIME: minus the agent's REALTIME − MONOTONIC (`far_offset_ns`), through the run's
/// agent-to-controller clock mapping (`to_controller`, monotonic to monotonic), plus this
/// host's REALTIME − MONOTONIC (`offset_ns`).
pub fn move_far_stamps(
    stamps: &[(u64, u64)],
    far_offset_ns: i64,
    to_controller: &dyn Fn(u64) -> u64,
    offset_ns: i64,
) -> Vec<(u64, u64)> {
    stamps
        .iter()
        .map(|&(id, ns)| {
            let far_mono = (ns as i64 - far_offset_ns).max(0) as u64;
            let mono = to_controller(far_mono);
            (id, (mono as i64 + offset_ns).max(0) as u64)
        })
        .collect()
}

/// The NIC hardware stamps of a run and what puts them on this host's CLOCK_REALTIME axis.
#[derive(Debug, Clone, Default)]
pub struct HardwareStamps {
    /// The publisher NIC's PHC − CLOCK_REALTIME and its error bound (ns), for the
    /// `TxStampKind::Hardware` stamps in [`ClockStamps::tx`].
    pub tx_offset: Option<(i64, u64)>,
    /// Subscriber NIC's receive stamps: (packet id, PHC ns).
    pub rx: Vec<(u64, u64)>,
    /// The subscriber NIC's PHC − CLOCK_REALTIME (of this host) and its error bound.
    pub rx_offset: Option<(i64, u64)>,
    /// meta.json's account of each side: interface, PHC, readings, or why there are none.
    pub meta: serde_json::Value,
}

impl HardwareStamps {
    /// The hardware stamps of one run: each side's PHC readings (`None`: that side had no
    /// hardware stamps), the receive stamps, and the notes saying why a side had none.
    pub fn new(
        tx_phc: Option<&PhcReadings>,
        rx_phc: Option<&PhcReadings>,
        rx: Vec<(u64, u64)>,
        why_none: Vec<String>,
    ) -> Self {
        HardwareStamps {
            tx_offset: tx_phc.and_then(PhcReadings::offset),
            rx_offset: rx_phc.and_then(PhcReadings::offset),
            rx,
            meta: serde_json::json!({
                "publisher_phc": tx_phc,
                "subscriber_phc": rx_phc,
                "notes": why_none,
            }),
        }
    }
}

/// The transport notes that say why a side has no hardware stamps.
pub fn hardware_notes(notes: &[String]) -> Vec<String> {
    notes
        .iter()
        .filter(|n| n.starts_with("hardware timestamps"))
        .cloned()
        .collect()
}

/// One row of clock_check.csv.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ClockCheckRow {
    pub run_id: String,
    pub packet_id: u64,
    /// `tx_sched`, `tx_software`, `rx_software`, `tx_hardware` or `rx_hardware`.
    pub stamp: &'static str,
    /// CLOCK_REALTIME ns; for the `*_hardware` stamps the NIC's PHC time moved onto
    /// CLOCK_REALTIME with that side's PHC readings.
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
pub const COMPARISONS: [(&str, Reference); 11] = [
    ("tx_sched", Reference::UserSend),
    ("tx_sched", Reference::Layer(LayerId::NetDevQueue)),
    ("tx_software", Reference::Layer(LayerId::NetDevStartXmit)),
    ("tx_software", Reference::Layer(LayerId::NetifRx)),
    ("tx_hardware", Reference::Layer(LayerId::NetDevStartXmit)),
    ("tx_hardware", Reference::RxHardware),
    ("rx_hardware", Reference::Layer(LayerId::NetifReceiveSkb)),
    ("rx_software", Reference::Layer(LayerId::NetifRx)),
    ("rx_software", Reference::Layer(LayerId::NetifReceiveSkb)),
    ("rx_software", Reference::UserRecv),
    ("rx_hardware", Reference::UserRecv),
];

/// The stamps, in path order.
pub const STAMPS: [&str; 5] = [
    "tx_sched",
    "tx_software",
    "tx_hardware",
    "rx_hardware",
    "rx_software",
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
    /// The receiving NIC's hardware stamp of the packet: `tx_hardware → rx_hardware` is the
    /// time from one NIC to the other (wire, switches, both MACs).
    RxHardware,
}

impl Reference {
    pub fn name(self) -> &'static str {
        match self {
            Reference::UserSend => "user_send",
            Reference::Layer(l) => l.name(),
            Reference::UserRecv => "user_recv",
            Reference::RxHardware => "rx_hardware",
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
    /// Measured packets with each stamp (the hardware ones only when there were any).
    pub stamped: Vec<(&'static str, usize)>,
    /// Worst error bound of the PHC-to-REALTIME moves of the hardware stamps (ns), when
    /// there were hardware stamps.
    pub hardware_bound_ns: Option<u64>,
    /// meta.json's account of the hardware stamps ([`HardwareStamps::meta`]).
    pub hardware_meta: serde_json::Value,
    /// Across hosts: how the receive stamps reached this host's clock.
    pub far: Option<FarMove>,
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
    let hw = &stamps.hardware;
    let phc_to_realtime = |phc: u64, offset: (i64, u64)| (phc as i64 - offset.0).max(0) as u64;
    for t in &stamps.tx {
        let ns = match t.kind {
            TxStampKind::Sched | TxStampKind::Software => t.ns,
            TxStampKind::Hardware => match hw.tx_offset {
                Some(o) => phc_to_realtime(t.ns, o),
                None => continue,
            },
        };
        by_stamp.insert((t.kind.name(), u64::from(t.key)), ns);
    }
    for (id, ns) in &stamps.rx {
        by_stamp.insert(("rx_software", *id), *ns);
    }
    if let Some(o) = hw.rx_offset {
        for (id, ns) in &hw.rx {
            by_stamp.insert(("rx_hardware", *id), phc_to_realtime(*ns, o));
        }
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
                Reference::RxHardware => by_stamp.get(&("rx_hardware", id)).map(|&r| to_mono(r)),
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
        stamped: STAMPS
            .iter()
            .map(|&n| (n, count(n)))
            .filter(|&(n, c)| c > 0 || !n.ends_with("_hardware"))
            .collect(),
        hardware_bound_ns: [hw.tx_offset, hw.rx_offset]
            .iter()
            .flatten()
            .map(|o| o.1)
            .max(),
        hardware_meta: hw.meta.clone(),
        far: stamps.far.clone(),
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
    match check.hardware_bound_ns {
        Some(b) => lines.push(format!(
            "    NIC hardware stamps moved from the PTP hardware clocks onto CLOCK_REALTIME within ± {b} ns (readings before and after the run; meta.json clock_check.hardware)"
        )),
        None => lines.push(
            "    no NIC hardware stamps (the interfaces have none, e.g. veth; meta.json clock_check.hardware says why)".into(),
        ),
    }
    if let Some(f) = &check.far {
        lines.push(format!(
            "    the receive stamps were taken on {} and moved onto this host's clock ({}; ± {} ns): deltas between them and this host's references carry that error",
            f.host, f.how, f.bound_ns
        ));
    }
    if check.offset_change_ns.unsigned_abs() > 2 * check.uncertainty_ns + 10_000 {
        lines.push(format!(
            "    warning: CLOCK_REALTIME moved by {} ns against CLOCK_MONOTONIC during the run (a clock step): the deltas are off by up to that much",
            check.offset_change_ns
        ));
    }
    let meta = serde_json::json!({
        "stamps": "SO_TIMESTAMPING software stamps: tx_sched (SOF_TIMESTAMPING_TX_SCHED, __dev_queue_xmit before trace_net_dev_queue), tx_software (SOF_TIMESTAMPING_TX_SOFTWARE, skb_tx_timestamp in the driver's xmit), rx_software (SOF_TIMESTAMPING_RX_SOFTWARE, netif_rx_internal before trace_netif_rx with netdev_tstamp_prequeue=1); where the NIC has them, hardware stamps: tx_hardware (SOF_TIMESTAMPING_TX_HARDWARE, the NIC transmitting the frame), rx_hardware (SOF_TIMESTAMPING_RX_HARDWARE, the NIC receiving it), raw PHC time moved onto CLOCK_REALTIME",
        "hardware": check.hardware_meta,
        "hardware_to_realtime_bound_ns": check.hardware_bound_ns,
        "receive_stamps_moved_from": check.far,
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
                    ns: 1_000_150,
                },
                TxStamp {
                    key: 0,
                    kind: TxStampKind::Software,
                    ns: 1_000_300,
                },
                // Warm-up packet 7 is not measured: ignored.
                TxStamp {
                    key: 7,
                    kind: TxStampKind::Sched,
                    ns: 5,
                },
            ],
            rx: vec![(0, 1_000_400)],
            before: off,
            after: off,
            hardware: HardwareStamps::default(),
            far: None,
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
        assert_eq!(c.hardware_bound_ns, None);
        assert_eq!(c.offset_change_ns, 0);
        // Without probes only the user-space references remain (no hardware stamps).
        let c = evaluate("r", &stamps, &[sample(0, 100, 900)], None);
        assert_eq!(c.rows.len(), 2);
    }

    #[test]
    fn hardware_stamps_move_through_their_phc_readings() {
        use uadpbench_sender::hw_stamping::PhcOffset;
        let off = RealtimeOffset {
            offset_ns: 1_000_000,
            uncertainty_ns: 10,
        };
        let reading = |phc_minus_realtime_ns, uncertainty_ns| PhcReadings {
            phc_index: 0,
            before: Some(PhcOffset {
                phc_index: 0,
                phc_minus_realtime_ns,
                uncertainty_ns,
            }),
            after: Some(PhcOffset {
                phc_index: 0,
                phc_minus_realtime_ns,
                uncertainty_ns,
            }),
            error: None,
        };
        // The publisher's PHC runs 37 s ahead of REALTIME (TAI), the subscriber's 5 µs behind.
        let (tx_phc, rx_phc) = (reading(37_000_000_000, 30), reading(-5_000, 80));
        let stamps = ClockStamps {
            tx: vec![TxStamp {
                key: 0,
                kind: TxStampKind::Hardware,
                ns: 37_000_000_000 + 1_000_320,
            }],
            rx: vec![(0, 1_000_400)],
            before: off,
            after: off,
            hardware: HardwareStamps::new(
                Some(&tx_phc),
                Some(&rx_phc),
                vec![(0, 1_000_350 - 5_000)],
                Vec::new(),
            ),
            far: None,
        };
        let layers: HashMap<(u64, LayerId), u64> = [
            ((0, LayerId::NetDevStartXmit), 290),
            ((0, LayerId::NetifReceiveSkb), 420),
        ]
        .into_iter()
        .collect();
        let c = evaluate("r", &stamps, &[sample(0, 100, 900)], Some(&layers));
        let d = |s, r| c.deltas(s, r);
        assert_eq!(d("tx_hardware", "net_dev_start_xmit"), [-30]);
        assert_eq!(d("tx_hardware", "rx_hardware"), [30]);
        assert_eq!(d("rx_hardware", "netif_receive_skb"), [70]);
        assert_eq!(d("rx_hardware", "user_recv"), [550]);
        assert_eq!(c.hardware_bound_ns, Some(80));
        assert!(c.stamped.contains(&("tx_hardware", 1)) && c.stamped.contains(&("rx_hardware", 1)));
        // Without a PHC reading the hardware stamps cannot be placed: left out, not guessed.
        let unread = PhcReadings {
            before: None,
            ..tx_phc
        };
        let stamps = ClockStamps {
            hardware: HardwareStamps::new(Some(&unread), None, Vec::new(), Vec::new()),
            ..stamps
        };
        let c = evaluate("r", &stamps, &[sample(0, 100, 900)], Some(&layers));
        assert!(c.deltas("tx_hardware", "net_dev_start_xmit").is_empty());
        assert_eq!(c.hardware_bound_ns, None);
    }

    #[test]
    fn far_stamps_reach_this_hosts_realtime_through_both_offsets() {
        // The agent's REALTIME − MONOTONIC is 7 000; its monotonic runs 1 000 ahead of this
        // host's; this host's REALTIME − MONOTONIC is 3 000.
        let to_controller = |t: u64| t - 1_000;
        let moved = move_far_stamps(&[(4, 20_000), (5, 21_000)], 7_000, &to_controller, 3_000);
        assert_eq!(moved, [(4, 15_000), (5, 16_000)]);
    }
}
