//! `uadpbench campaign --metrics-addr ADDR`: a Prometheus `/metrics` endpoint (text exposition
//! format 0.0.4) that follows a long campaign. After each finished run the campaign reads the
//! run's samples.csv and summary.csv and adds them here; a tiny HTTP/1.0 server on its own
//! thread answers `GET /metrics` with the current state.
//!
//! Families (labels `path`, `encap`, `mode`, `payload_bytes`, `probes` and, for cyclic runs,
//! `interval_us` identify a configuration; repetitions add up):
//! * `uadpbench_latency_seconds` (histogram, label `kind`: `rtt` for pingpong, `one_way` for
//!   cyclic): every measured, received message (warm-up excluded).
//! * `uadpbench_send_deviation_seconds` (histogram): cyclic send time − deadline.
//! * `uadpbench_messages_{sent,received,lost}_total` (counters): summary.csv `messages`.
//! * `uadpbench_runs_finished_total`, `uadpbench_runs_failed_total` (counters),
//!   `uadpbench_runs_planned` (gauge), `uadpbench_campaign_info{campaign}` (gauge, 1).
//!
//! Runs that a `--resume` finds already finished are counted as finished (their files are read
//! like those of new runs), so the endpoint always describes the whole results directory.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;

use crate::run::{Mode, RunConfig};

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

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Non-cumulative counts per bucket; index BUCKETS_NS.len() is +Inf.
    buckets: [u64; BUCKETS_NS.len() + 1],
    count: u64,
    sum_ns: u128,
}

impl Histogram {
    fn observe(&mut self, ns: u64) {
        let i = BUCKETS_NS.partition_point(|&b| b < ns);
        self.buckets[i] += 1;
        self.count += 1;
        self.sum_ns += u128::from(ns);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0u64;
        for (i, n) in self.buckets.iter().enumerate() {
            cum += n;
            let le = BUCKETS_NS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| (*b as f64 / 1e9).to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cum}");
        }
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum_ns as f64 / 1e9);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Messages {
    sent: u64,
    received: u64,
    lost: u64,
}

#[derive(Debug, Default)]
struct State {
    campaign: String,
    planned: usize,
    finished: u64,
    failed: u64,
    /// (labels incl. kind) → latency histogram
    latency: BTreeMap<String, Histogram>,
    deviation: BTreeMap<String, Histogram>,
    messages: BTreeMap<String, Messages>,
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The label set identifying a configuration.
pub fn config_labels(cfg: &RunConfig) -> String {
    let mut s = format!(
        "path=\"{}\",encap=\"{}\",mode=\"{}\",payload_bytes=\"{}\",probes=\"{}\"",
        escape(&cfg.path.to_string()),
        escape(&cfg.encap.to_string()),
        cfg.mode.name(),
        cfg.payload_bytes,
        escape(cfg.probes.trim())
    );
    if cfg.mode == Mode::Cyclic {
        let _ = write!(s, ",interval_us=\"{}\"", cfg.interval_us);
    }
    s
}

/// The metrics of one campaign, shared between the campaign and the HTTP thread.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    state: Arc<Mutex<State>>,
}

impl Metrics {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut g)
    }

    /// Names the campaign and the number of planned runs.
    pub fn set_campaign(&self, name: &str, planned: usize) {
        self.with(|s| {
            s.campaign = name.to_owned();
            s.planned = planned;
        });
    }

    /// Adds a finished run: its samples.csv (if any) and the `messages` rows of summary.csv.
    pub fn record_finished(&self, cfg: &RunConfig, run_dir: &Path) -> anyhow::Result<()> {
        let labels = config_labels(cfg);
        let kind = match cfg.mode {
            Mode::Pingpong => "rtt",
            _ => "one_way",
        };
        let mut lat = Histogram::default();
        let mut dev = Histogram::default();
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
                if let Some(v) = num(lat_col) {
                    lat.observe(v);
                }
                if let Some(v) = num(dev_col) {
                    dev.observe(v);
                }
            }
        }
        let mut msgs = Messages::default();
        let summary = run_dir.join("summary.csv");
        let mut r = csv::Reader::from_path(&summary)
            .with_context(|| format!("reading {}", summary.display()))?;
        let h = r.headers()?.clone();
        let col = |name: &str| h.iter().position(|c| c == name);
        if let (Some(m), Some(st), Some(v)) = (col("metric"), col("statistic"), col("value")) {
            for rec in r.records() {
                let rec = rec?;
                if rec.get(m) != Some("messages") {
                    continue;
                }
                let val = rec
                    .get(v)
                    .and_then(|x| x.parse::<f64>().ok())
                    .unwrap_or(0.0) as u64;
                match rec.get(st) {
                    Some("sent") => msgs.sent += val,
                    Some("received") => msgs.received += val,
                    Some("lost") => msgs.lost += val,
                    _ => {}
                }
            }
        }
        self.with(|s| {
            let merge = |into: &mut Histogram, from: &Histogram| {
                for (a, b) in into.buckets.iter_mut().zip(from.buckets) {
                    *a += b;
                }
                into.count += from.count;
                into.sum_ns += from.sum_ns;
            };
            merge(
                s.latency
                    .entry(format!("{labels},kind=\"{kind}\""))
                    .or_default(),
                &lat,
            );
            if cfg.mode == Mode::Cyclic {
                merge(s.deviation.entry(labels.clone()).or_default(), &dev);
            }
            let m = s.messages.entry(labels).or_default();
            m.sent += msgs.sent;
            m.received += msgs.received;
            m.lost += msgs.lost;
            s.finished += 1;
        });
        Ok(())
    }

    /// Counts a failed run.
    pub fn record_failed(&self) {
        self.with(|s| s.failed += 1);
    }

    /// The text exposition format of the current state.
    pub fn render(&self) -> String {
        self.with(|s| {
            let mut out = String::new();
            let _ = writeln!(
                out,
                "# HELP uadpbench_campaign_info The campaign being run.\n# TYPE uadpbench_campaign_info gauge\nuadpbench_campaign_info{{campaign=\"{}\"}} 1",
                escape(&s.campaign)
            );
            let _ = writeln!(out, "# HELP uadpbench_runs_planned Runs in the campaign.\n# TYPE uadpbench_runs_planned gauge\nuadpbench_runs_planned {}", s.planned);
            let _ = writeln!(out, "# HELP uadpbench_runs_finished_total Runs finished and written.\n# TYPE uadpbench_runs_finished_total counter\nuadpbench_runs_finished_total {}", s.finished);
            let _ = writeln!(out, "# HELP uadpbench_runs_failed_total Runs that failed.\n# TYPE uadpbench_runs_failed_total counter\nuadpbench_runs_failed_total {}", s.failed);
            let _ = writeln!(out, "# HELP uadpbench_latency_seconds Per-message latency of measured messages (kind rtt: pingpong round trip; one_way: cyclic), warm-up excluded.\n# TYPE uadpbench_latency_seconds histogram");
            for (labels, h) in &s.latency {
                h.render(&mut out, "uadpbench_latency_seconds", labels);
            }
            let _ = writeln!(out, "# HELP uadpbench_send_deviation_seconds Cyclic mode: actual send time minus the scheduled deadline.\n# TYPE uadpbench_send_deviation_seconds histogram");
            for (labels, h) in &s.deviation {
                h.render(&mut out, "uadpbench_send_deviation_seconds", labels);
            }
            for (name, help, get) in [
                ("sent", "Measured messages sent.", (|m: &Messages| m.sent) as fn(&Messages) -> u64),
                ("received", "Measured messages received.", |m: &Messages| m.received),
                ("lost", "Measured messages lost.", |m: &Messages| m.lost),
            ] {
                let _ = writeln!(out, "# HELP uadpbench_messages_{name}_total {help}\n# TYPE uadpbench_messages_{name}_total counter");
                for (labels, m) in &s.messages {
                    let _ = writeln!(out, "uadpbench_messages_{name}_total{{{labels}}} {}", get(m));
                }
            }
            out
        })
    }
}

/// The HTTP endpoint; stops when dropped.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and serves `metrics` on `GET /metrics` from a background thread.
    pub fn start(addr: &str, metrics: Metrics) -> anyhow::Result<MetricsServer> {
        let listener = TcpListener::bind(addr)
            .with_context(|| format!("--metrics-addr {addr}: cannot listen there"))?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("ub-metrics".into())
            .spawn(move || {
                while !st.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let _ = serve_one(stream, &metrics);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })?;
        Ok(MetricsServer {
            addr: local,
            stop,
            handle: Some(handle),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve_one(mut stream: TcpStream, metrics: &Metrics) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    // Read the request head (up to the blank line, at most 8 KiB).
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && !req.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
        if req.len() > 8192 {
            break;
        }
    }
    let line = String::from_utf8_lossy(&req);
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "uadpbench: metrics are at /metrics\n".to_owned(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::default();
        for v in [500, 1_000, 1_001, 3_000_000, 2_000_000_000] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(
            out.contains("x_bucket{a=\"b\",le=\"0.000001\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_bucket{a=\"b\",le=\"0.000002\"} 3\n"),
            "{out}"
        );
        assert!(out.contains("x_bucket{a=\"b\",le=\"1\"} 4\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 5\n"), "{out}");
        assert!(out.contains("x_count{a=\"b\"} 5\n"), "{out}");
    }
}
