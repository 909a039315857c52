//! Histogram mode (`--probes-mode histogram`): what the kernel's per-layer log2 histograms
//! give the run — probe_histograms.csv rows, summary.csv statistics and terminal lines. Pure:
//! the probes' [`HistogramReport`] in, rows and lines out.
//!
//! Two kinds per (layer, crossing): the time since the packet's reference stamp (cumulative)
//! and the time since the packet's previous stamp (one segment of its way, named after the
//! point most of those previous stamps were at).

use serde::Serialize;
use uadpbench_probes::{point_name, HistogramReport, LayerHistogram, SegmentHistogram};

/// One non-empty bucket of one (layer, crossing): a probe_histograms.csv row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramRow {
    pub run_id: String,
    /// The layer's point, `netif_rx#0`.
    pub point: String,
    /// Whose kernel counted it: `both` (a local run, one session), `a` (this host, across
    /// hosts) or `b` (the agent's host).
    pub side: &'static str,
    /// `since_reference` (time since the packet's stamp at `reference`) or `segment` (time
    /// since the packet's previous stamp; `reference` is the point most of them were at).
    pub kind: &'static str,
    pub layer: &'static str,
    pub crossing: u8,
    /// The point whose stamp is time zero: `sys_enter_sendto#0`; for a segment the most
    /// frequent previous point (empty when none).
    pub reference: String,
    /// log2 bucket: times in `[low_ns, high_ns)`.
    pub bucket: usize,
    pub low_ns: u64,
    /// Empty for the open-ended last bucket.
    pub high_ns: Option<u64>,
    pub count: u64,
}

/// A summary.csv statistic: (metric, statistic, value, unit).
pub type SummaryStat = (String, &'static str, f64, &'static str);

/// What the histograms contribute to a run.
#[derive(Debug, Default)]
pub struct HistogramOutcome {
    pub rows: Vec<HistogramRow>,
    pub summary: Vec<SummaryStat>,
    pub lines: Vec<String>,
    /// Counted stamps per (layer, crossing), for probe_layers.csv's coverage.
    pub counted: Vec<(uadpbench_probes::LayerId, u8, u64)>,
}

/// The metric name of a point's time since the reference: `since_sys_enter_sendto:netif_rx#0`.
pub fn metric(report: &HistogramReport, h: &LayerHistogram) -> String {
    format!(
        "since_{}:{}",
        report.reference.name(),
        point_name(h.layer, h.crossing)
    )
}

/// The metric name of a segment: `segment:netif_rx#0->netif_receive_skb#0` (its most
/// frequent start), `segment:?->…` without any counted start.
pub fn segment_metric(s: &SegmentHistogram) -> String {
    format!(
        "segment:{}->{}",
        main_from_name(s),
        point_name(s.to.layer, s.to.crossing)
    )
}

fn main_from_name(s: &SegmentHistogram) -> String {
    s.main_from()
        .map_or("?".to_owned(), |(l, c, _)| point_name(l, c))
}

/// probe_histograms.csv rows of one histogram's non-empty buckets.
fn bucket_rows(
    run_id: &str,
    h: &LayerHistogram,
    kind: &'static str,
    reference: &str,
    side: &'static str,
) -> impl Iterator<Item = HistogramRow> {
    let (run_id, point, reference) = (
        run_id.to_owned(),
        point_name(h.layer, h.crossing),
        reference.to_owned(),
    );
    let (layer, crossing) = (h.layer.name(), h.crossing);
    h.buckets
        .clone()
        .into_iter()
        .enumerate()
        .filter(|&(_, count)| count > 0)
        .map(move |(b, count)| HistogramRow {
            run_id: run_id.clone(),
            point: point.clone(),
            side,
            kind,
            layer,
            crossing,
            reference: reference.clone(),
            bucket: b,
            low_ns: LayerHistogram::bucket_low_ns(b),
            high_ns: LayerHistogram::bucket_high_ns(b),
            count,
        })
}

/// count, mean and quantiles of `h` as summary.csv statistics of `metric`.
fn stats(out: &mut Vec<SummaryStat>, metric: &str, h: &LayerHistogram) {
    out.push((metric.to_owned(), "count", h.count() as f64, "stamps"));
    if let Some(v) = h.mean_ns() {
        out.push((metric.to_owned(), "mean", v, "ns"));
    }
    for (stat, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
        if let Some(v) = h.quantile_ns(q) {
            out.push((metric.to_owned(), stat, v, "ns"));
        }
    }
}

/// Which host counted a point (layer, crossing): see [`HistogramRow::side`].
pub type SideOf<'a> = &'a dyn Fn(uadpbench_probes::LayerId, u8) -> &'static str;

/// Rows, statistics and lines of `report` for run `run_id`; `received` measured messages;
/// `side_of` says whose kernel counted each point.
pub fn evaluate(
    run_id: &str,
    report: &HistogramReport,
    received: u64,
    side_of: SideOf<'_>,
) -> HistogramOutcome {
    let reference = point_name(report.reference, 0);
    let mut out = HistogramOutcome::default();
    for h in &report.layers {
        out.rows.extend(bucket_rows(
            run_id,
            h,
            "since_reference",
            &reference,
            side_of(h.layer, h.crossing),
        ));
        let m = metric(report, h);
        stats(&mut out.summary, &m, h);
        out.summary
            .push((m.clone(), "no_reference", h.no_reference as f64, "stamps"));
        out.counted.push((h.layer, h.crossing, h.count()));
    }
    for s in &report.segments {
        out.rows.extend(bucket_rows(
            run_id,
            &s.to,
            "segment",
            &main_from_name(s),
            side_of(s.to.layer, s.to.crossing),
        ));
        let m = segment_metric(s);
        stats(&mut out.summary, &m, &s.to);
        out.summary
            .push((m.clone(), "no_previous", s.to.no_reference as f64, "stamps"));
        if let Some((_, _, share)) = s.main_from() {
            out.summary
                .push((m.clone(), "from_share", share, "fraction"));
        }
    }
    // Terminal: the points in the order of their mean time (the packet's way).
    let mut order: Vec<&LayerHistogram> = report.layers.iter().filter(|h| h.count() > 0).collect();
    order.sort_by(|a, b| {
        a.mean_ns()
            .unwrap_or(f64::MAX)
            .total_cmp(&b.mean_ns().unwrap_or(f64::MAX))
    });
    out.lines.push(format!(
        "  per-layer time since {reference} (histogram mode: counted in the kernel for packets {} on, {received} received; mean exact, quantiles interpolated in log2 buckets, so within a factor of 2):",
        report.first_packet
    ));
    out.lines.push(format!(
        "     {:<28} {:>9} {:>10} {:>10} {:>10}",
        "point", "count", "mean µs", "p50 µs", "p99 µs"
    ));
    for h in order {
        let us = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.2}", v / 1000.0));
        let mut line = format!(
            "     {:<28} {:>9} {:>10} {:>10} {:>10}",
            point_name(h.layer, h.crossing),
            h.count(),
            us(h.mean_ns()),
            us(h.quantile_ns(0.5)),
            us(h.quantile_ns(0.99)),
        );
        if h.no_reference > 0 {
            line.push_str(&format!("  ({} without a reference stamp)", h.no_reference));
        }
        out.lines.push(line);
    }
    segment_lines(report, side_of, &mut out.lines);
    out
}

/// The segments in the order of their end points' mean time since the reference; points
/// without one (the agent's, across hosts) by the chain of their most frequent starts, after
/// this host's.
fn segment_lines(report: &HistogramReport, side_of: SideOf<'_>, lines: &mut Vec<String>) {
    let since = |s: &SegmentHistogram| {
        report
            .layers
            .iter()
            .find(|l| l.layer == s.to.layer && l.crossing == s.to.crossing)
            .and_then(LayerHistogram::mean_ns)
    };
    // Along the chain of most frequent starts: the sum of the segments' means back to a
    // point without a counted start (at most one step per segment: no cycles).
    let chained = |s: &SegmentHistogram| {
        let mut t = 0.0;
        let mut cur = s;
        for _ in 0..report.segments.len() {
            t += cur.to.mean_ns().unwrap_or(0.0);
            let Some((l, c, _)) = cur.main_from() else {
                break;
            };
            match report
                .segments
                .iter()
                .find(|x| x.to.layer == l && x.to.crossing == c)
            {
                Some(prev) => cur = prev,
                None => break,
            }
        }
        t
    };
    let mut order: Vec<(u8, f64, &SegmentHistogram)> = report
        .segments
        .iter()
        .filter(|s| s.to.count() > 0)
        .map(|s| match since(s) {
            Some(t) => (0, t, s),
            None => (1, chained(s), s),
        })
        .collect();
    if order.is_empty() {
        return;
    }
    order.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    lines.push(
        "  per segment (time from the packet's previous stamp, whichever point it was; \"from\" is the most frequent one):".into(),
    );
    lines.push(format!(
        "     {:<50} {:>9} {:>10} {:>10} {:>10} {:>6}",
        "from → to", "count", "mean µs", "p50 µs", "p99 µs", "from %"
    ));
    let us = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.2}", v / 1000.0));
    for (_, _, s) in order {
        let side = match side_of(s.to.layer, s.to.crossing) {
            "a" => "  (this host)",
            "b" => "  (agent's host)",
            _ => "",
        };
        lines.push(format!(
            "     {:<50} {:>9} {:>10} {:>10} {:>10} {:>6.1}{side}",
            format!(
                "{} → {}",
                main_from_name(s),
                point_name(s.to.layer, s.to.crossing)
            ),
            s.to.count(),
            us(s.to.mean_ns()),
            us(s.to.quantile_ns(0.5)),
            us(s.to.quantile_ns(0.99)),
            s.main_from().map_or(0.0, |m| m.2 * 100.0),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uadpbench_probes::LayerId;

    fn hist(layer: LayerId, crossing: u8, buckets: &[(usize, u64)], sum_ns: u64) -> LayerHistogram {
        let mut b = vec![0; 32];
        for &(i, n) in buckets {
            b[i] = n;
        }
        LayerHistogram {
            layer,
            crossing,
            buckets: b,
            sum_ns,
            no_reference: 0,
        }
    }

    #[test]
    fn rows_statistics_and_lines_follow_the_histograms() {
        let report = HistogramReport {
            reference: LayerId::SysEnterSendto,
            first_packet: 1000,
            layers: vec![
                hist(LayerId::SysEnterSendto, 0, &[(0, 10)], 0),
                // 10 stamps in [4096, 8192) ns, mean 5 µs.
                hist(LayerId::SockRecvLength, 0, &[(12, 10)], 50_000),
                // 10 stamps in [1024, 2048) ns, mean 1.5 µs.
                hist(LayerId::NetifRx, 0, &[(10, 10)], 15_000),
            ],
            segments: vec![
                SegmentHistogram {
                    // 10 segments in [2048, 4096) ns, 8 from netif_rx, 2 from sys_enter_sendto.
                    to: hist(LayerId::SockRecvLength, 0, &[(11, 10)], 35_000),
                    from: vec![(LayerId::NetifRx, 0, 8), (LayerId::SysEnterSendto, 0, 2)],
                },
                SegmentHistogram {
                    to: LayerHistogram {
                        no_reference: 10,
                        ..hist(LayerId::SysEnterSendto, 0, &[], 0)
                    },
                    from: Vec::new(),
                },
            ],
        };
        let o = evaluate("r1", &report, 10, &|_, _| "both");
        assert_eq!(o.rows.len(), 4);
        let seg = o.rows.iter().find(|r| r.kind == "segment").unwrap();
        assert_eq!(
            (seg.point.as_str(), seg.reference.as_str(), seg.bucket),
            ("sock_recv_length#0", "netif_rx#0", 11)
        );
        let rx = o.rows.iter().find(|r| r.layer == "netif_rx").unwrap();
        assert_eq!((rx.low_ns, rx.high_ns, rx.count), (1024, Some(2048), 10));
        assert_eq!(rx.reference, "sys_enter_sendto#0");
        let stat = |m: &str, s: &str| {
            o.summary
                .iter()
                .find(|(mm, ss, _, _)| mm == m && *ss == s)
                .map(|x| x.2)
        };
        assert_eq!(
            stat("since_sys_enter_sendto:netif_rx#0", "mean"),
            Some(1500.0)
        );
        assert_eq!(
            stat("since_sys_enter_sendto:netif_rx#0", "p50"),
            Some(1536.0)
        );
        assert_eq!(
            stat("since_sys_enter_sendto:sock_recv_length#0", "count"),
            Some(10.0)
        );
        let m = "segment:netif_rx#0->sock_recv_length#0";
        assert_eq!(stat(m, "mean"), Some(3500.0));
        assert_eq!(stat(m, "from_share"), Some(0.8));
        assert_eq!(stat(m, "no_previous"), Some(0.0));
        // The first stamps: no previous one, nothing else.
        assert_eq!(
            stat("segment:?->sys_enter_sendto#0", "no_previous"),
            Some(10.0)
        );
        assert_eq!(stat("segment:?->sys_enter_sendto#0", "count"), Some(0.0));
        assert!(o
            .lines
            .iter()
            .any(|l| l.contains("netif_rx#0 → sock_recv_length#0") && l.contains("80.0")));
        // Lines list the points by mean time: the reference, netif_rx, then sock_recv_length.
        let pos = |p: &str| o.lines.iter().position(|l| l.contains(p)).unwrap();
        assert!(pos("sys_enter_sendto#0  ") < pos("netif_rx#0"));
        assert!(pos("netif_rx#0") < pos("sock_recv_length#0"));
    }
}
