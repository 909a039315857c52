//! `uadpbench campaign --metrics-addr ADDR`: a Prometheus `/metrics` endpoint (text exposition
//! format 0.0.4) that follows a long campaign. After each finished run the campaign reads the
//! run's samples.csv and summary.csv and adds them here ([`Metrics`], encoded by
//! [`prometheus_client`]); a small HTTP server ([`MetricsServer`], [`tiny_http`], in `http`)
//! answers `GET /metrics` with the current state.
//!
//! Families (labels `path`, `encap`, `mode`, `payload_bytes`, `probes` and, for cyclic runs,
//! `interval_us` identify a configuration; repetitions add up):
//! * `uadpbench_latency_seconds` (histogram, label `kind`: `rtt` for pingpong, `one_way` for
//!   cyclic): every measured, received message (warm-up excluded).
//! * `uadpbench_send_deviation_seconds` (histogram): cyclic send time − deadline.
//! * `uadpbench_messages_{sent,received,lost}_total` (counters): summary.csv `messages`.
//! * `uadpbench_probe_layer_seconds` (histogram, labels `point`, e.g. `netif_rx#0`, and
//!   `reference`): runs with `probes_mode = "histogram"` — per layer, the time since the
//!   packet's stamp at the reference layer, from the kernel's log2 histograms
//!   (probe_histograms.csv); bucket bounds are powers of two nanoseconds.
//! * `uadpbench_probe_segment_seconds` (histogram, labels `point`, the segment's end, and
//!   `from`, the point most of the packets' previous stamps were at): the same runs — per
//!   layer, the time from the packet's previous stamp (one segment of its way).
//! * `uadpbench_runs_finished_total`, `uadpbench_runs_failed_total` (counters),
//!   `uadpbench_runs_planned` (gauge), `uadpbench_campaign_info{campaign}` (gauge, 1).
//!
//! Runs that a `--resume` finds already finished are counted as finished (their files are read
//! like those of new runs), so the endpoint always describes the whole results directory.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use prometheus_client::encoding::{prometheus_text, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::{Registry, Unit};

use crate::run::{Mode, RunConfig};

mod http;

pub use http::MetricsServer;

/// Default listen address of `--metrics-addr` (loopback only).
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// Upper bucket bounds in nanoseconds: 1-2-5 steps from 1 µs to 1 s (+Inf is implicit).
pub const BUCKETS_NS: [u64; 19] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
];

/// A label set: (name, value) pairs, encoded in this order.
pub type Labels = Vec<(&'static str, String)>;

/// The label set identifying a configuration.
pub fn config_labels(cfg: &RunConfig) -> Labels {
    let mut labels = vec![
        ("path", cfg.path.to_string()),
        ("encap", cfg.encap.to_string()),
        ("mode", cfg.mode.name().to_owned()),
        ("payload_bytes", cfg.payload_bytes.to_string()),
        ("probes", cfg.probes.trim().to_owned()),
    ];
    if cfg.mode == Mode::Cyclic {
        labels.push(("interval_us", cfg.interval_us.to_string()));
    }
    labels
}

fn seconds(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// A histogram with the [`BUCKETS_NS`] bounds (in seconds).
fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS_NS.iter().map(|&b| seconds(b)))
}

type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// log2 buckets of the probes' histograms (`uadpbench_common::HIST_BUCKETS`).
const LOG2_BUCKETS: usize = 32;

/// A histogram with power-of-two nanosecond buckets, filled with whole bucket counts (the
/// probes' in-kernel histograms) rather than one observation at a time.
#[derive(Debug, Clone, Default)]
struct Log2Histogram(Arc<Mutex<Log2Inner>>);

#[derive(Debug, Default)]
struct Log2Inner {
    buckets: [u64; LOG2_BUCKETS],
    sum_ns: f64,
}

impl Log2Histogram {
    fn add(&self, bucket: usize, count: u64) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = g.buckets.get_mut(bucket.min(LOG2_BUCKETS - 1)) {
            *b += count;
        }
    }

    fn add_sum(&self, ns: f64) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).sum_ns += ns;
    }
}

impl TypedMetric for Log2Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Log2Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Bucket b holds [2^b, 2^(b+1)) ns: its upper bound is 2^(b+1) ns. The open-ended
        // last bucket is the `+Inf` line, which the encoder adds (the total count).
        let buckets: Vec<(f64, u64)> = g.buckets[..LOG2_BUCKETS - 1]
            .iter()
            .enumerate()
            .map(|(b, &n)| (seconds(1u64 << (b + 1)), n))
            .collect();
        let count = g.buckets.iter().sum();
        encoder.encode_histogram::<NoLabelSet>(g.sum_ns / 1e9, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// The registry and handles to its metrics.
#[derive(Debug)]
struct State {
    registry: Registry,
    campaign: Family<Labels, Gauge>,
    planned: Gauge,
    finished: Counter,
    failed: Counter,
    latency: HistogramFamily,
    deviation: HistogramFamily,
    sent: Family<Labels, Counter>,
    received: Family<Labels, Counter>,
    lost: Family<Labels, Counter>,
    probe_layer: Family<Labels, Log2Histogram>,
    probe_segment: Family<Labels, Log2Histogram>,
}

impl Default for State {
    fn default() -> Self {
        let campaign = Family::<Labels, Gauge>::default();
        campaign
            .get_or_create(&vec![("campaign", String::new())])
            .set(1);
        let (planned, finished, failed) =
            (Gauge::default(), Counter::default(), Counter::default());
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let deviation: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let (sent, received, lost) = Default::default();
        let mut registry = Registry::default();
        // The registry appends the final full stop of each help text; counters get `_total`.
        registry.register(
            "uadpbench_campaign_info",
            "The campaign being run",
            campaign.clone(),
        );
        registry.register(
            "uadpbench_runs_planned",
            "Runs in the campaign",
            planned.clone(),
        );
        registry.register(
            "uadpbench_runs_finished",
            "Runs finished and written",
            finished.clone(),
        );
        registry.register("uadpbench_runs_failed", "Runs that failed", failed.clone());
        registry.register_with_unit(
            "uadpbench_latency",
            "Per-message latency of measured messages (kind rtt: pingpong round trip; \
             one_way: cyclic), warm-up excluded",
            Unit::Seconds,
            latency.clone(),
        );
        registry.register_with_unit(
            "uadpbench_send_deviation",
            "Cyclic mode: actual send time minus the scheduled deadline",
            Unit::Seconds,
            deviation.clone(),
        );
        let messages: [(&str, &str, &Family<Labels, Counter>); 3] = [
            ("sent", "Measured messages sent", &sent),
            ("received", "Measured messages received", &received),
            ("lost", "Measured messages lost", &lost),
        ];
        for (name, help, family) in messages {
            registry.register(format!("uadpbench_messages_{name}"), help, family.clone());
        }
        let probe_layer = Family::<Labels, Log2Histogram>::default();
        registry.register_with_unit(
            "uadpbench_probe_layer",
            "Probes in histogram mode: per layer (point = layer#crossing), the time from the \
             packet's stamp at the reference layer, counted in the kernel in power-of-two \
             nanosecond buckets",
            Unit::Seconds,
            probe_layer.clone(),
        );
        let probe_segment = Family::<Labels, Log2Histogram>::default();
        registry.register_with_unit(
            "uadpbench_probe_segment",
            "Probes in histogram mode: per layer (point = layer#crossing), the time from the \
             packet's previous stamp (from = the most frequent previous point), counted in the \
             kernel in power-of-two nanosecond buckets",
            Unit::Seconds,
            probe_segment.clone(),
        );
        State {
            registry,
            campaign,
            planned,
            finished,
            failed,
            latency,
            deviation,
            sent,
            received,
            lost,
            probe_layer,
            probe_segment,
        }
    }
}

/// What one finished run adds, read before anything is recorded (a run counts whole or not
/// at all).
#[derive(Debug, Default)]
struct RunData {
    latency_ns: Vec<u64>,
    deviation_ns: Vec<u64>,
    sent: u64,
    received: u64,
    lost: u64,
    /// probe_histograms.csv: (segment?, point, reference, bucket, count).
    probe_buckets: Vec<(bool, String, String, usize, u64)>,
    /// summary.csv `since_<reference>:<point>` / `segment:<from>-><point>` mean × count:
    /// (segment?, point, sum of ns).
    probe_sums: Vec<(bool, String, f64)>,
}

impl RunData {
    /// samples.csv (if any): the `{kind}_ns` and `send_deviation_ns` columns; summary.csv: the
    /// `messages` rows.
    fn read(run_dir: &Path, kind: &str) -> anyhow::Result<RunData> {
        let mut d = RunData::default();
        let samples = run_dir.join("samples.csv");
        if samples.is_file() {
            let mut r = csv::Reader::from_path(&samples)
                .with_context(|| format!("reading {}", samples.display()))?;
            let h = r.headers()?.clone();
            let col = |name: &str| h.iter().position(|c| c == name);
            let (lat_col, dev_col) = (col(&format!("{kind}_ns")), col("send_deviation_ns"));
            for rec in r.records() {
                let rec = rec?;
                let num = |c: Option<usize>| {
                    c.and_then(|c| rec.get(c))
                        .and_then(|v| v.parse::<u64>().ok())
                };
                d.latency_ns.extend(num(lat_col));
                d.deviation_ns.extend(num(dev_col));
            }
        }
        let hist = run_dir.join("probe_histograms.csv");
        if hist.is_file() {
            let mut r = csv::Reader::from_path(&hist)
                .with_context(|| format!("reading {}", hist.display()))?;
            let h = r.headers()?.clone();
            let col = |name: &str| {
                h.iter()
                    .position(|c| c == name)
                    .with_context(|| format!("{}: no column {name}", hist.display()))
            };
            let (p, rf, b, n) = (
                col("point")?,
                col("reference")?,
                col("bucket")?,
                col("count")?,
            );
            // Files of older versions have no `kind`: all since the reference.
            let kind = h.iter().position(|c| c == "kind");
            for rec in r.records() {
                let rec = rec?;
                let field = |i: usize| rec.get(i).unwrap_or_default();
                let segment = kind.is_some_and(|k| field(k) == "segment");
                if let (Ok(bucket), Ok(count)) = (field(b).parse(), field(n).parse()) {
                    d.probe_buckets.push((
                        segment,
                        field(p).to_owned(),
                        field(rf).to_owned(),
                        bucket,
                        count,
                    ));
                }
            }
        }
        let summary = run_dir.join("summary.csv");
        let mut r = csv::Reader::from_path(&summary)
            .with_context(|| format!("reading {}", summary.display()))?;
        let h = r.headers()?.clone();
        let col = |name: &str| h.iter().position(|c| c == name);
        if let (Some(m), Some(st), Some(v)) = (col("metric"), col("statistic"), col("value")) {
            let mut means: std::collections::HashMap<(bool, String), (f64, f64)> =
                Default::default();
            for rec in r.records() {
                let rec = rec?;
                let metric = rec.get(m).unwrap_or_default();
                let point = if let Some(rest) = metric.strip_prefix("segment:") {
                    rest.split_once("->").map(|(_, p)| (true, p.to_owned()))
                } else if metric.starts_with("since_") {
                    metric.split_once(':').map(|(_, p)| (false, p.to_owned()))
                } else {
                    None
                };
                if let Some(point) = point {
                    let val = rec.get(v).and_then(|x| x.parse::<f64>().ok());
                    let e = means.entry(point).or_default();
                    match (rec.get(st), val) {
                        (Some("mean"), Some(x)) => e.0 = x,
                        (Some("count"), Some(x)) => e.1 = x,
                        _ => {}
                    }
                    continue;
                }
                if rec.get(m) != Some("messages") {
                    continue;
                }
                let val = rec
                    .get(v)
                    .and_then(|x| x.parse::<f64>().ok())
                    .unwrap_or(0.0) as u64;
                match rec.get(st) {
                    Some("sent") => d.sent += val,
                    Some("received") => d.received += val,
                    Some("lost") => d.lost += val,
                    _ => {}
                }
            }
            d.probe_sums = means
                .into_iter()
                .map(|((segment, p), (mean, count))| (segment, p, mean * count))
                .collect();
        }
        Ok(d)
    }
}

/// The metrics of one campaign, shared between the campaign and the HTTP thread. Updates and
/// scrapes take one lock, so a scrape sees each run either completely or not at all.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    state: Arc<Mutex<State>>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&g)
    }

    /// Names the campaign and the number of planned runs.
    pub fn set_campaign(&self, name: &str, planned: usize) {
        self.with(|s| {
            s.campaign.clear();
            s.campaign
                .get_or_create(&vec![("campaign", name.to_owned())])
                .set(1);
            s.planned.set(i64::try_from(planned).unwrap_or(i64::MAX));
        });
    }

    /// Adds a finished run: its samples.csv (if any) and the `messages` rows of summary.csv.
    pub fn record_finished(&self, cfg: &RunConfig, run_dir: &Path) -> anyhow::Result<()> {
        let labels = config_labels(cfg);
        let kind = match cfg.mode {
            Mode::Pingpong => "rtt",
            _ => "one_way",
        };
        let d = RunData::read(run_dir, kind)?;
        self.with(|s| {
            let mut with_kind = labels.clone();
            with_kind.push(("kind", kind.to_owned()));
            let lat = s.latency.get_or_create_owned(&with_kind);
            for &ns in &d.latency_ns {
                lat.observe(seconds(ns));
            }
            if cfg.mode == Mode::Cyclic {
                let dev = s.deviation.get_or_create_owned(&labels);
                for &ns in &d.deviation_ns {
                    dev.observe(seconds(ns));
                }
            }
            let point_labels = |segment: bool, point: &str, reference: &str| {
                let mut l = labels.clone();
                l.push(("point", point.to_owned()));
                l.push((
                    if segment { "from" } else { "reference" },
                    reference.to_owned(),
                ));
                l
            };
            let family = |segment: bool| {
                if segment {
                    &s.probe_segment
                } else {
                    &s.probe_layer
                }
            };
            for (segment, point, reference, bucket, count) in &d.probe_buckets {
                family(*segment)
                    .get_or_create(&point_labels(*segment, point, reference))
                    .add(*bucket, *count);
            }
            for (segment, point, sum) in &d.probe_sums {
                if let Some((_, _, reference, _, _)) = d
                    .probe_buckets
                    .iter()
                    .find(|(g, p, _, _, _)| g == segment && p == point)
                {
                    family(*segment)
                        .get_or_create(&point_labels(*segment, point, reference))
                        .add_sum(*sum);
                }
            }
            s.sent.get_or_create(&labels).inc_by(d.sent);
            s.received.get_or_create(&labels).inc_by(d.received);
            s.lost.get_or_create(&labels).inc_by(d.lost);
            s.finished.inc();
        });
        Ok(())
    }

    /// Counts a failed run.
    pub fn record_failed(&self) {
        self.with(|s| s.failed.inc());
    }

    /// The text exposition format (0.0.4) of the current state.
    pub fn render(&self) -> String {
        self.with(|s| {
            let mut out = String::new();
            prometheus_text::encode(&mut out, &s.registry).expect("encoding into a String");
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample lines of `name` in `text`.
    fn lines<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
        text.lines().filter(|l| l.starts_with(name)).collect()
    }

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        let h = m.with(|s| s.latency.get_or_create_owned(&vec![("a", "b".to_owned())]));
        for v in [500, 1_000, 1_001, 3_000_000, 2_000_000_000] {
            h.observe(seconds(v));
        }
        let out = m.render();
        let bucket = |le: &str| {
            let prefix = format!("uadpbench_latency_seconds_bucket{{a=\"b\",le=\"{le}\"}} ");
            out.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no bucket {le}:\n{out}"))
                .parse::<u64>()
                .unwrap()
        };
        assert_eq!(bucket("1e-06"), 2, "≤ bound, as `le` says");
        assert_eq!(bucket("2e-06"), 3);
        assert_eq!(bucket("1"), 4);
        assert_eq!(bucket("+Inf"), 5);
        assert_eq!(
            lines(&out, "uadpbench_latency_seconds_bucket").len(),
            BUCKETS_NS.len() + 1
        );
        assert!(
            out.contains("uadpbench_latency_seconds_count{a=\"b\"} 5\n"),
            "{out}"
        );
    }

    /// A cyclic run's files in a fresh directory `name` (2 latencies, 2 deviations, 3 sent,
    /// 2 received, 1 lost) and its configuration.
    fn cyclic_run(name: &str) -> (std::path::PathBuf, RunConfig) {
        let dir = std::env::temp_dir().join(format!("uadpbench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("samples.csv"),
            "seq,one_way_ns,send_deviation_ns\n1,15000,300\n2,,400\n3,25000,x\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("summary.csv"),
            "metric,statistic,value\nmessages,sent,3\nmessages,received,2\nmessages,lost,1\n\
             one_way,p50,15000\n",
        )
        .unwrap();
        let cfg = RunConfig {
            mode: Mode::Cyclic,
            interval_us: 500,
            ..RunConfig::default()
        };
        (dir, cfg)
    }

    #[test]
    fn families_names_and_types() {
        let m = Metrics::default();
        let out = m.render();
        assert!(
            out.contains("uadpbench_campaign_info{campaign=\"\"} 1\n"),
            "{out}"
        );
        assert!(
            !out.contains("uadpbench_latency_seconds"),
            "a family without series is left out:\n{out}"
        );
        m.set_campaign("nightly \"x\"", 12);
        m.record_failed();
        let (dir, cfg) = cyclic_run("metrics-families");
        m.record_finished(&cfg, &dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let out = m.render();
        for (name, ty) in [
            ("uadpbench_campaign_info", "gauge"),
            ("uadpbench_runs_planned", "gauge"),
            ("uadpbench_runs_finished_total", "counter"),
            ("uadpbench_runs_failed_total", "counter"),
            ("uadpbench_latency_seconds", "histogram"),
            ("uadpbench_send_deviation_seconds", "histogram"),
            ("uadpbench_messages_sent_total", "counter"),
            ("uadpbench_messages_received_total", "counter"),
            ("uadpbench_messages_lost_total", "counter"),
        ] {
            assert!(
                out.contains(&format!("# TYPE {name} {ty}\n")),
                "{name}:\n{out}"
            );
            assert!(out.contains(&format!("# HELP {name} ")), "{name}:\n{out}");
        }
        assert!(!out.contains(".."), "one full stop per help text:\n{out}");
        assert!(
            out.contains("uadpbench_campaign_info{campaign=\"nightly \\\"x\\\"\"} 1\n"),
            "{out}"
        );
        assert_eq!(lines(&out, "uadpbench_campaign_info{").len(), 1);
        assert!(out.contains("uadpbench_runs_planned 12\n"), "{out}");
        assert!(out.contains("uadpbench_runs_failed_total 1\n"), "{out}");
        assert!(out.contains("uadpbench_runs_finished_total 1\n"), "{out}");
    }

    #[test]
    fn probe_histograms_become_a_log2_histogram_family() {
        let (dir, cfg) = cyclic_run("metrics-probe-hist");
        std::fs::write(
            dir.join("probe_histograms.csv"),
            "run_id,point,kind,layer,crossing,reference,bucket,low_ns,high_ns,count\n\
             r,netif_rx#0,since_reference,netif_rx,0,sys_enter_sendto#0,10,1024,2048,7\n\
             r,netif_rx#0,since_reference,netif_rx,0,sys_enter_sendto#0,12,4096,8192,3\n\
             r,netif_rx#0,segment,netif_rx,0,net_dev_xmit#0,8,256,512,10\n",
        )
        .unwrap();
        let summary = std::fs::read_to_string(dir.join("summary.csv")).unwrap()
            + "since_sys_enter_sendto:netif_rx#0,count,10\n\
               since_sys_enter_sendto:netif_rx#0,mean,2000\n\
               segment:net_dev_xmit#0->netif_rx#0,count,10\n\
               segment:net_dev_xmit#0->netif_rx#0,mean,300\n";
        std::fs::write(dir.join("summary.csv"), summary).unwrap();
        let m = Metrics::default();
        m.record_finished(&cfg, &dir).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let out = m.render();
        assert!(
            out.contains("# TYPE uadpbench_probe_layer_seconds histogram\n"),
            "{out}"
        );
        let series: Vec<&str> = lines(&out, "uadpbench_probe_layer_seconds_bucket{")
            .into_iter()
            .filter(|l| l.contains("point=\"netif_rx#0\",reference=\"sys_enter_sendto#0\""))
            .collect();
        assert_eq!(series.len(), 32, "{out}");
        let value = |l: &str| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap();
        // Cumulative: 0 up to 1024 ns, 7 up to 2048 ns (bucket 10's bound), 10 from 8192 ns.
        assert_eq!(value(series[9]), 0);
        assert_eq!(value(series[10]), 7);
        assert_eq!(value(series[11]), 7);
        assert_eq!(value(series[12]), 10);
        assert!(series[31].contains("le=\"+Inf\""), "{}", series[31]);
        assert_eq!(value(series[31]), 10);
        let count = lines(&out, "uadpbench_probe_layer_seconds_count{");
        assert!(count[0].ends_with(" 10"), "{count:?}");
        let sum = lines(&out, "uadpbench_probe_layer_seconds_sum{");
        let sum: f64 = sum[0].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((sum - 2e-5).abs() < 1e-12, "{sum}");
        // The segment rows: their own family, labelled with the segment's start.
        let seg: Vec<&str> = lines(&out, "uadpbench_probe_segment_seconds_bucket{")
            .into_iter()
            .filter(|l| l.contains("point=\"netif_rx#0\",from=\"net_dev_xmit#0\""))
            .collect();
        assert_eq!(seg.len(), 32, "{out}");
        assert_eq!(value(seg[7]), 0);
        assert_eq!(value(seg[8]), 10);
        let sum = lines(&out, "uadpbench_probe_segment_seconds_sum{");
        let sum: f64 = sum[0].rsplit(' ').next().unwrap().parse().unwrap();
        assert!((sum - 3e-6).abs() < 1e-12, "{sum}");
    }

    #[test]
    fn a_finished_run_is_recorded() {
        let (dir, cfg) = cyclic_run("metrics-run");
        let m = Metrics::default();
        m.record_finished(&cfg, &dir).unwrap();
        m.record_finished(&cfg, &dir).unwrap();
        let missing = dir.join("missing");
        assert!(m.record_finished(&cfg, &missing).is_err());
        let _ = std::fs::remove_dir_all(&dir);
        let out = m.render();
        let labels = format!(
            "path=\"{}\",encap=\"{}\",mode=\"cyclic\",payload_bytes=\"{}\",probes=\"{}\",\
             interval_us=\"500\"",
            cfg.path,
            cfg.encap,
            cfg.payload_bytes,
            cfg.probes.trim()
        );
        let has = |line: String| assert!(out.contains(&line), "{line} missing:\n{out}");
        has(format!(
            "uadpbench_latency_seconds_count{{{labels},kind=\"one_way\"}} 4\n"
        ));
        has(format!(
            "uadpbench_send_deviation_seconds_count{{{labels}}} 4\n"
        ));
        has(format!("uadpbench_messages_sent_total{{{labels}}} 6\n"));
        has(format!("uadpbench_messages_received_total{{{labels}}} 4\n"));
        has(format!("uadpbench_messages_lost_total{{{labels}}} 2\n"));
        has("uadpbench_runs_finished_total 2\n".to_owned());
        let sum = out
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "uadpbench_latency_seconds_sum{{{labels},kind=\"one_way\"}} "
                ))
            })
            .unwrap()
            .parse::<f64>()
            .unwrap();
        assert!((sum - 80e-6).abs() < 1e-12, "{sum}");
    }
}
