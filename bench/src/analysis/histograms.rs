//! Histogram mode (`--probes-mode histogram`): what the kernel's per-layer log2 histograms
//! give the run — probe_histograms.csv rows, summary.csv statistics and terminal lines. Pure:
//! the probes' [`HistogramReport`] in, rows and lines out.

use serde::Serialize;
use uadpbench_probes::{point_name, HistogramReport, LayerHistogram};

/// One non-empty bucket of one (layer, crossing): a probe_histograms.csv row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistogramRow {
    pub run_id: String,
    /// The layer's point, `netif_rx#0`.
    pub point: String,
    pub layer: &'static str,
    pub crossing: u8,
    /// The point whose stamp is time zero: `sys_enter_sendto#0`.
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

/// Rows, statistics and lines of `report` for run `run_id`; `received` measured messages.
pub fn evaluate(run_id: &str, report: &HistogramReport, received: u64) -> HistogramOutcome {
    let reference = point_name(report.reference, 0);
    let mut out = HistogramOutcome::default();
    for h in &report.layers {
        let point = point_name(h.layer, h.crossing);
        for (b, &count) in h.buckets.iter().enumerate() {
            if count == 0 {
                continue;
            }
            out.rows.push(HistogramRow {
                run_id: run_id.to_owned(),
                point: point.clone(),
                layer: h.layer.name(),
                crossing: h.crossing,
                reference: reference.clone(),
                bucket: b,
                low_ns: LayerHistogram::bucket_low_ns(b),
                high_ns: LayerHistogram::bucket_high_ns(b),
                count,
            });
        }
        let m = metric(report, h);
        out.summary
            .push((m.clone(), "count", h.count() as f64, "stamps"));
        out.summary
            .push((m.clone(), "no_reference", h.no_reference as f64, "stamps"));
        if let Some(v) = h.mean_ns() {
            out.summary.push((m.clone(), "mean", v, "ns"));
        }
        for (stat, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            if let Some(v) = h.quantile_ns(q) {
                out.summary.push((m.clone(), stat, v, "ns"));
            }
        }
        out.counted.push((h.layer, h.crossing, h.count()));
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
    out
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
        };
        let o = evaluate("r1", &report, 10);
        assert_eq!(o.rows.len(), 3);
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
        // Lines list the points by mean time: the reference, netif_rx, then sock_recv_length.
        let pos = |p: &str| o.lines.iter().position(|l| l.contains(p)).unwrap();
        assert!(pos("sys_enter_sendto#0  ") < pos("netif_rx#0"));
        assert!(pos("netif_rx#0") < pos("sock_recv_length#0"));
    }
}
