//! The segment chain of a probe run: which (layer, crossing) points a packet's way is cut at,
//! and the latency of each segment between consecutive points over the packets stamped at
//! every point (so that each packet's segments add up to its round trip). Pure: events and
//! samples in, rows and terminal lines out.

use std::collections::{BTreeMap, HashMap};

use uadpbench_probes::{LayerEvent, LayerStatus};

use crate::run::RunConfig;
use crate::schema::{SampleRow, SegmentRow};

/// What the chain gives the run: segments.csv's rows, the lines for the terminal, and how many
/// received packets each (layer index, crossing) stamped (probe_layers.csv's coverage).
#[derive(Debug, Default)]
pub struct ChainSegments {
    pub segments: Vec<SegmentRow>,
    pub lines: Vec<String>,
    pub coverage: HashMap<(u16, u8), u64>,
}

/// A point along the packet's way: a layer at a crossing, or a user-space end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Point {
    UserSend,
    Layer { crossing: u8, layer_index: u16 },
    UserRecv,
}

/// A (layer, crossing) that may join the segment chain: its median time after the user-space
/// send and how many received packets it stamped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Candidate {
    offset: i64,
    point: Point,
    stamped: u64,
}

/// The chain's layer points and those left out, with how many packets would have stamped
/// every point had they joined.
#[derive(Debug, Default)]
struct Admitted {
    chain: Vec<Candidate>,
    left_out: Vec<(Candidate, u64)>,
}

/// Chooses the chain so that the packets stamped at *every* point stay ≥ `threshold`: points
/// join best-covered first, and one that would take the joint set below the threshold stays
/// out. Each point alone may cover 99 % while their misses fall on different packets (the
/// wake-up layers fire only when the receiver slept; on one packet crossing 0 misses them,
/// on another crossing 1), and segments over a shrinking subset would describe a selection,
/// not the run.
fn admit_jointly(
    mut candidates: Vec<Candidate>,
    packets: &[&BTreeMap<Point, u64>],
    threshold: u64,
) -> Admitted {
    candidates.sort_by(|a, b| b.stamped.cmp(&a.stamped).then(a.offset.cmp(&b.offset)));
    let mut complete: Vec<bool> = vec![true; packets.len()];
    let mut out = Admitted::default();
    for c in candidates {
        let together = packets
            .iter()
            .zip(&complete)
            .filter(|(m, ok)| **ok && m.contains_key(&c.point))
            .count() as u64;
        if together >= threshold.max(1) {
            for (m, ok) in packets.iter().zip(complete.iter_mut()) {
                *ok = *ok && m.contains_key(&c.point);
            }
            out.chain.push(c);
        } else {
            out.left_out.push((c, together));
        }
    }
    out
}

/// Builds the chain and its segments from the measured packets' layer events (`events`) and
/// the received samples.
pub fn chain_segments(
    run_id: &str,
    cfg: &RunConfig,
    events: &[&LayerEvent],
    received: &[&SampleRow],
    layers: &[LayerStatus],
) -> ChainSegments {
    // The chain: user send, every (layer, crossing) that stamped at least 99 % of the received
    // packets, user receive — in the order the packets actually cross them (median time after
    // the user-space send). On veth the receive path runs inside the sender's system call, so
    // table order and time order differ; time order is what the segments must follow.
    let name_of: HashMap<u16, &'static str> = layers
        .iter()
        .map(|s| (s.layer_index as u16, s.name))
        .collect();
    let mut coverage: HashMap<(u16, u8), u64> = HashMap::new();
    let mut per_packet: HashMap<u64, BTreeMap<Point, u64>> = HashMap::new();
    for e in events {
        *coverage.entry((e.layer_index, e.crossing)).or_default() += 1;
        per_packet.entry(e.packet_id).or_default().insert(
            Point::Layer {
                crossing: e.crossing,
                layer_index: e.layer_index,
            },
            e.t_ns,
        );
    }
    for s in received {
        let m = per_packet.entry(s.packet_id).or_default();
        m.insert(Point::UserSend, s.t_send_ns);
        if let Some(t) = s.t_recv_ns {
            m.insert(Point::UserRecv, t);
        }
    }
    let threshold = (received.len() as f64 * 0.99).ceil() as u64;
    let mut candidates: Vec<Candidate> = Vec::new();
    for (&(layer_index, crossing), &n) in &coverage {
        if n < threshold.max(1) {
            continue;
        }
        let p = Point::Layer {
            crossing,
            layer_index,
        };
        let mut offsets: Vec<i64> = received
            .iter()
            .filter_map(|s| {
                per_packet
                    .get(&s.packet_id)?
                    .get(&p)
                    .map(|t| *t as i64 - s.t_send_ns as i64)
            })
            .collect();
        offsets.sort_unstable();
        candidates.push(Candidate {
            offset: offsets.get(offsets.len() / 2).copied().unwrap_or(0),
            point: p,
            stamped: n,
        });
    }
    // Stamps that typically come after the user-space receive (e.g. the skb being freed) are
    // not on the way to the receiver: they stay in layers.csv but not in the chain.
    let mut e2e: Vec<i64> = received
        .iter()
        .filter_map(|s| s.t_recv_ns.map(|t| t as i64 - s.t_send_ns as i64))
        .collect();
    e2e.sort_unstable();
    let e2e_median = e2e.get(e2e.len() / 2).copied().unwrap_or(i64::MAX);
    candidates.retain(|c| c.offset <= e2e_median);
    let stamps_of: Vec<&BTreeMap<Point, u64>> = received
        .iter()
        .filter_map(|s| per_packet.get(&s.packet_id))
        .collect();
    let admitted = admit_jointly(candidates, &stamps_of, threshold);
    let mut points: Vec<(i64, Point)> = vec![(i64::MIN, Point::UserSend)];
    points.extend(admitted.chain.iter().map(|c| (c.offset, c.point)));
    points.push((i64::MAX, Point::UserRecv));
    points.sort();
    let chain: Vec<Point> = points.into_iter().map(|(_, p)| p).collect();
    // Packets that stamped every point: their segments add up to their end-to-end latency.
    let complete = received
        .iter()
        .filter(|s| {
            per_packet
                .get(&s.packet_id)
                .is_some_and(|m| chain.iter().all(|p| m.contains_key(p)))
        })
        .count();
    let label = |p: Point| -> (String, u8) {
        match p {
            Point::UserSend => ("user_send".into(), 0),
            Point::UserRecv => ("user_recv".into(), 0),
            Point::Layer {
                crossing,
                layer_index,
            } => (
                name_of
                    .get(&layer_index)
                    .copied()
                    .unwrap_or("unknown")
                    .to_owned(),
                crossing,
            ),
        }
    };
    let mut segments = Vec::new();
    // Layers that stamped but too few packets to be in the chain: say so, with the same
    // coverage as probe_layers.csv, rather than claim completeness over the rest.
    let mut left_out: Vec<String> = coverage
        .iter()
        .filter(|(_, &n)| n < threshold.max(1))
        .map(|(&(li, c), &n)| {
            format!(
                "{} (crossing {c}) {:.1} %",
                name_of.get(&li).copied().unwrap_or("unknown"),
                100.0 * n as f64 / received.len().max(1) as f64
            )
        })
        .collect();
    left_out.extend(admitted.left_out.iter().map(|(c, together)| {
        let (name, crossing) = (
            match c.point {
                Point::Layer { layer_index, .. } => {
                    name_of.get(&layer_index).copied().unwrap_or("unknown")
                }
                _ => "unknown",
            },
            match c.point {
                Point::Layer { crossing, .. } => crossing,
                _ => 0,
            },
        );
        format!(
            "{name} (crossing {crossing}) {:.1} % alone but {:.1} % together with the layers above it",
            100.0 * c.stamped as f64 / received.len().max(1) as f64,
            100.0 * *together as f64 / received.len().max(1) as f64
        )
    }));
    left_out.sort();
    let layer_points = chain
        .iter()
        .filter(|p| matches!(p, Point::Layer { .. }))
        .count();
    let mut lines = vec![if layer_points == 0 {
        format!(
            "  per-layer segments: no layer stamped ≥ 99 % of the {} received packets, so there is no layer breakdown",
            received.len()
        )
    } else {
        format!(
            "  per-layer segments (p50 µs, in crossing order; {complete} of {} packets stamped at all {layer_points} layer points of the chain):",
            received.len()
        )
    }];
    if !left_out.is_empty() {
        lines.push(format!(
            "  layers left out of the chain (the chain's packets must be ≥ 99 % of those received; see probe_layers.csv): {}",
            left_out.join(", ")
        ));
    }
    // Segments over the packets that stamped every point, so that for each of them (and for
    // the means) the segments add up exactly to the end-to-end latency.
    let complete_packets: Vec<&BTreeMap<Point, u64>> = received
        .iter()
        .filter_map(|s| per_packet.get(&s.packet_id))
        .filter(|m| chain.iter().all(|p| m.contains_key(p)))
        .collect();
    for (i, w) in chain.windows(2).enumerate() {
        let (from, to) = (w[0], w[1]);
        let deltas: Vec<i64> = complete_packets
            .iter()
            .map(|m| m[&to] as i64 - m[&from] as i64)
            .collect();
        let negative = deltas.iter().filter(|d| **d < 0).count();
        let (fl, fc) = label(from);
        let (tl, tc) = label(to);
        let mut push = |statistic: &str, value: f64, unit: &str| {
            segments.push(SegmentRow {
                run_id: run_id.to_owned(),
                path: cfg.path.to_string(),
                encap: cfg.encap.to_string(),
                mode: cfg.mode.name().to_owned(),
                payload_bytes: cfg.payload_bytes,
                segment_index: i,
                from_layer: fl.clone(),
                from_crossing: fc,
                to_layer: tl.clone(),
                to_crossing: tc,
                statistic: statistic.to_owned(),
                value,
                unit: unit.to_owned(),
                compensated_value: None,
            })
        };
        push("negative", negative as f64, "messages");
        match crate::stats::signed_rows(&deltas) {
            Some(rows) => {
                let p50 = rows
                    .iter()
                    .find(|(n, _)| *n == "p50")
                    .map_or(0.0, |(_, v)| *v);
                for (stat, v) in rows {
                    push(stat, v, if stat == "count" { "messages" } else { "ns" });
                }
                lines.push(format!(
                    "    {:>2}. {:<28} → {:<28} {:>9.2}{}",
                    i,
                    format!("{fl}#{fc}"),
                    format!("{tl}#{tc}"),
                    p50 / 1000.0,
                    if negative > 0 {
                        format!("  ({negative} negative: concurrent threads)")
                    } else {
                        String::new()
                    }
                ));
            }
            None => push("count", 0.0, "messages"),
        }
    }
    ChainSegments {
        segments,
        lines,
        coverage,
    }
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    fn layer(layer_index: u16, crossing: u8) -> Point {
        Point::Layer {
            crossing,
            layer_index,
        }
    }

    fn candidate(p: Point, offset: i64, packets: &[BTreeMap<Point, u64>]) -> Candidate {
        Candidate {
            offset,
            point: p,
            stamped: packets.iter().filter(|m| m.contains_key(&p)).count() as u64,
        }
    }

    /// 1000 packets, all stamped at layer 1; layer 2 misses packets 0..8 on crossing 0 and
    /// layer 3 misses packets 8..16 on crossing 1: each alone covers 99.2 %, together 98.4 %.
    fn packets() -> Vec<BTreeMap<Point, u64>> {
        (0..1000u64)
            .map(|i| {
                let mut m = BTreeMap::new();
                m.insert(layer(1, 0), i);
                if i >= 8 {
                    m.insert(layer(2, 0), i);
                }
                if !(8..16).contains(&i) {
                    m.insert(layer(3, 1), i);
                }
                m
            })
            .collect()
    }

    #[test]
    fn points_whose_misses_add_up_below_the_threshold_are_left_out() {
        let packets = packets();
        let refs: Vec<&BTreeMap<Point, u64>> = packets.iter().collect();
        let c = [
            candidate(layer(1, 0), 10, &packets),
            candidate(layer(2, 0), 20, &packets),
            candidate(layer(3, 1), 30, &packets),
        ];
        let a = admit_jointly(c.to_vec(), &refs, 990);
        let chain: Vec<Point> = a.chain.iter().map(|c| c.point).collect();
        assert_eq!(chain, vec![layer(1, 0), layer(2, 0)]);
        assert_eq!(a.left_out.len(), 1);
        assert_eq!(a.left_out[0].0.point, layer(3, 1));
        assert_eq!(a.left_out[0].1, 984);
        let complete = refs
            .iter()
            .filter(|m| chain.iter().all(|p| m.contains_key(p)))
            .count();
        assert!(complete >= 990, "{complete}");
    }

    #[test]
    fn a_lower_threshold_admits_every_point() {
        let packets = packets();
        let refs: Vec<&BTreeMap<Point, u64>> = packets.iter().collect();
        let c = [
            candidate(layer(3, 1), 30, &packets),
            candidate(layer(1, 0), 10, &packets),
            candidate(layer(2, 0), 20, &packets),
        ];
        let a = admit_jointly(c.to_vec(), &refs, 980);
        assert_eq!(a.chain.len(), 3);
        assert!(a.left_out.is_empty());
    }

    #[test]
    fn correlated_misses_do_not_push_each_other_out() {
        // Two points missing the same 8 packets (like sched_waking and sched_switch_in).
        let packets: Vec<BTreeMap<Point, u64>> = (0..1000u64)
            .map(|i| {
                let mut m = BTreeMap::new();
                if i >= 8 {
                    m.insert(layer(4, 0), i);
                    m.insert(layer(5, 0), i);
                }
                m
            })
            .collect();
        let refs: Vec<&BTreeMap<Point, u64>> = packets.iter().collect();
        let c = [
            candidate(layer(4, 0), 1, &packets),
            candidate(layer(5, 0), 2, &packets),
        ];
        let a = admit_jointly(c.to_vec(), &refs, 990);
        assert_eq!(a.chain.len(), 2);
    }
}
