//! Histogram mode ([`ProbeConfig::histogram`](super::ProbeConfig::histogram)): the probes
//! count, per (layer, crossing), the time since each packet's stamp at a reference layer in
//! per-CPU log2 histograms kept in the kernel; userspace reads them once at the end instead of
//! collecting every stamp. For runs longer than the stamp slots hold, and for live export.

use aya::{maps::PerCpuArray, Ebpf};
use uadpbench_common::{
    hist_from_index, hist_index, hist_point, hist_segment_index, HIST_BUCKETS, HIST_NO_REFERENCE,
    HIST_SUM, PROBE_HIST_MAP_NAME, PROBE_MAX_CROSSINGS,
};

use crate::{
    layers::{
        layer, path_layers, resolve, Direction, LayerId, Mechanism, ProbePath, Selected, Selection,
    },
    ProbeError,
};

/// What histogram mode counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramConfig {
    /// Packets with a lower id are not counted (the warm-up: ids `0..warmup`).
    pub first_packet: u32,
}

/// The reference layer of histogram mode on `path` with `selection`: the first selected layer
/// of the send side in path order that the probe session stamps into its own map, that is in
/// sequence and that has a tracepoint (tp_btf or classic) to attach to — every kernel this
/// runs on has those, while fentry/kprobe-only layers (e.g. `dev_direct_xmit`) may not attach
/// and the reference is fixed before attaching (`sys_enter_sendto` on the udp and eth paths,
/// `netif_rx` on the xdp path with `--probes all`); else the first such layer of the receive
/// side. `None`: nothing selected.
pub fn reference_layer(path: ProbePath, selection: &Selection) -> Option<LayerId> {
    let selected = resolve(path, selection);
    let usable = |d: Direction| {
        path_layers(path).find(|l| {
            l.direction == d
                && l.in_sequence
                && l.id != LayerId::XdpIngress
                && selected[l.id.index()] != Selected::No
                && l.candidates
                    .iter()
                    .any(|c| matches!(c.mechanism, Mechanism::TpBtf | Mechanism::Tracepoint))
        })
    };
    usable(Direction::Send)
        .or_else(|| usable(Direction::Receive))
        .map(|l| l.id)
}

/// One (layer, crossing)'s histogram of the time since its packets' reference stamps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerHistogram {
    /// The layer.
    pub layer: LayerId,
    /// The crossing (0: first, 1: the ping-pong echo).
    pub crossing: u8,
    /// Bucket `b` counts times in `[2^b, 2^(b+1))` ns (bucket 0: 0 and 1 ns; the last bucket
    /// is open-ended), [`HIST_BUCKETS`] of them.
    pub buckets: Vec<u64>,
    /// Sum of the counted times (ns).
    pub sum_ns: u64,
    /// Stamps of measured packets not counted: no reference stamp (or one later than the
    /// stamp).
    pub no_reference: u64,
}

impl LayerHistogram {
    /// Lower bound of bucket `b` (ns).
    pub fn bucket_low_ns(b: usize) -> u64 {
        if b == 0 {
            0
        } else {
            1 << b
        }
    }

    /// Upper bound of bucket `b` (ns, exclusive; `None` for the open-ended last bucket).
    pub fn bucket_high_ns(b: usize) -> Option<u64> {
        (b + 1 < HIST_BUCKETS as usize).then(|| 1 << (b + 1))
    }

    /// Counted stamps.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// Mean of the counted times (exact: from the kernel's sum).
    pub fn mean_ns(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum_ns as f64 / n as f64)
    }

    /// The `q` quantile (0..=1), interpolated linearly inside its log2 bucket: within a factor
    /// of two of the true value by construction. `None` when empty; the open-ended last
    /// bucket gives its lower bound.
    pub fn quantile_ns(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = (q.clamp(0.0, 1.0) * n as f64).max(1.0);
        let mut below = 0u64;
        for (b, &c) in self.buckets.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if (below + c) as f64 >= rank {
                let lo = Self::bucket_low_ns(b) as f64;
                let Some(hi) = Self::bucket_high_ns(b) else {
                    return Some(lo);
                };
                let frac = (rank - below as f64) / c as f64;
                return Some(lo + frac * (hi as f64 - lo));
            }
            below += c;
        }
        None
    }
}

/// One (layer, crossing)'s histogram of the time since its packets' *previous* stamp, with
/// the points those previous stamps were at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentHistogram {
    /// The segment's end: its histogram (`no_reference`: stamps with no earlier stamp of
    /// their packet — its first stamp, or one written after a later stamp of it).
    pub to: LayerHistogram,
    /// The segments' starts: (layer, crossing, segments), most frequent first.
    pub from: Vec<(LayerId, u8, u64)>,
}

impl SegmentHistogram {
    /// The most frequent start and its share of the counted segments.
    pub fn main_from(&self) -> Option<(LayerId, u8, f64)> {
        let total: u64 = self.from.iter().map(|f| f.2).sum();
        self.from
            .first()
            .filter(|_| total > 0)
            .map(|&(l, c, n)| (l, c, n as f64 / total as f64))
    }
}

/// What a histogram-mode session counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramReport {
    /// The reference layer (its crossing-0 stamp is each packet's time zero).
    pub reference: LayerId,
    /// First counted packet id.
    pub first_packet: u64,
    /// One per recorded (layer, crossing) with anything counted, in layer-id order.
    pub layers: Vec<LayerHistogram>,
    /// Per-segment histograms: one per recorded (layer, crossing) with anything counted, in
    /// layer-id order.
    pub segments: Vec<SegmentHistogram>,
}

/// Reads the per-CPU histograms of the `recorded` layers and sums them over the CPUs.
pub(super) fn read(
    ebpf: &Ebpf,
    recorded: &[LayerId],
    reference: LayerId,
    first_packet: u64,
) -> Result<HistogramReport, ProbeError> {
    let map = ebpf
        .map(PROBE_HIST_MAP_NAME)
        .ok_or(ProbeError::MissingMap(PROBE_HIST_MAP_NAME))?;
    let array = PerCpuArray::<_, u64>::try_from(map).map_err(|source| ProbeError::Map {
        map: PROBE_HIST_MAP_NAME,
        op: "opening as per-CPU array",
        source: Box::new(source),
    })?;
    let get = |index: u32| -> Result<u64, ProbeError> {
        array
            .get(&index, 0)
            .map(|v| v.iter().copied().fold(0u64, u64::wrapping_add))
            .map_err(|source| ProbeError::Map {
                map: PROBE_HIST_MAP_NAME,
                op: "lookup",
                source: Box::new(source),
            })
    };
    let mut ids: Vec<LayerId> = recorded.to_vec();
    ids.sort_by_key(|l| l.index());
    let mut layers = Vec::new();
    for &id in &ids {
        for crossing in 0..PROBE_MAX_CROSSINGS as u32 {
            let buckets = (0..HIST_BUCKETS)
                .map(|b| get(hist_index(id, crossing, b)))
                .collect::<Result<Vec<u64>, _>>()?;
            let h = LayerHistogram {
                layer: id,
                crossing: crossing as u8,
                buckets,
                sum_ns: get(hist_index(id, crossing, HIST_SUM))?,
                no_reference: get(hist_index(id, crossing, HIST_NO_REFERENCE))?,
            };
            if h.count() > 0 || h.no_reference > 0 {
                layers.push(h);
            }
        }
    }
    let points: Vec<(LayerId, u8)> = ids
        .iter()
        .flat_map(|&id| (0..PROBE_MAX_CROSSINGS as u8).map(move |c| (id, c)))
        .collect();
    let mut segments = Vec::new();
    for &(id, crossing) in &points {
        let to = hist_point(id, u32::from(crossing));
        let buckets = (0..HIST_BUCKETS)
            .map(|b| get(hist_segment_index(to, b)))
            .collect::<Result<Vec<u64>, _>>()?;
        let h = LayerHistogram {
            layer: id,
            crossing,
            buckets,
            sum_ns: get(hist_segment_index(to, HIST_SUM))?,
            no_reference: get(hist_segment_index(to, HIST_NO_REFERENCE))?,
        };
        if h.count() == 0 && h.no_reference == 0 {
            continue;
        }
        let mut from = Vec::new();
        for &(fid, fc) in &points {
            let n = get(hist_from_index(to, hist_point(fid, u32::from(fc))))?;
            if n > 0 {
                from.push((fid, fc, n));
            }
        }
        from.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.index().cmp(&b.0.index())));
        segments.push(SegmentHistogram { to: h, from });
    }
    Ok(HistogramReport {
        reference,
        first_packet,
        layers,
        segments,
    })
}

/// The name of a (layer, crossing) as the run's files write it: `netif_rx#0`.
pub fn point_name(layer_id: LayerId, crossing: u8) -> String {
    format!("{}#{crossing}", layer(layer_id).name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(buckets: &[(usize, u64)]) -> LayerHistogram {
        let mut b = vec![0; HIST_BUCKETS as usize];
        for &(i, n) in buckets {
            b[i] = n;
        }
        LayerHistogram {
            layer: LayerId::NetifRx,
            crossing: 0,
            buckets: b,
            sum_ns: 0,
            no_reference: 0,
        }
    }

    #[test]
    fn quantiles_interpolate_inside_the_log2_bucket() {
        // 100 stamps in [1024, 2048) ns: the median is half-way.
        let h = hist(&[(10, 100)]);
        assert_eq!(h.quantile_ns(0.5), Some(1536.0));
        assert_eq!(h.quantile_ns(1.0), Some(2048.0));
        // 90 fast, 10 slow: p50 in the fast bucket, p99 in the slow one.
        let h = hist(&[(10, 90), (20, 10)]);
        assert!(h.quantile_ns(0.5).unwrap() < 2048.0);
        let p99 = h.quantile_ns(0.99).unwrap();
        assert!(((1 << 20) as f64..(1 << 21) as f64).contains(&p99), "{p99}");
        assert_eq!(hist(&[]).quantile_ns(0.5), None);
        // The open-ended last bucket reports its lower bound.
        let last = HIST_BUCKETS as usize - 1;
        assert_eq!(
            hist(&[(last, 1)]).quantile_ns(0.5),
            Some((1u64 << last) as f64)
        );
    }

    #[test]
    fn the_reference_is_the_first_stamped_send_layer() {
        assert_eq!(
            reference_layer(ProbePath::Udp, &Selection::All),
            Some(LayerId::SysEnterSendto)
        );
        assert_eq!(
            reference_layer(ProbePath::Xdp, &Selection::All),
            Some(LayerId::NetifRx)
        );
        // minimal on xdp: no send layer; the first receive layer in sequence.
        assert_eq!(
            reference_layer(ProbePath::Xdp, &"minimal".parse().unwrap()),
            Some(LayerId::NetifReceiveSkb)
        );
        assert_eq!(reference_layer(ProbePath::Udp, &Selection::None), None);
    }
}
