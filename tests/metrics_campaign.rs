//! `uadpbench campaign --metrics-addr`: the smoke campaign with the Prometheus endpoint on a
//! free loopback port, scraped with a plain TcpStream while and after it runs.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use uadpbench::campaign::Campaign;
use uadpbench::campaign_run::{run_campaign, CampaignOptions};
use uadpbench::metrics::{Metrics, MetricsServer};

fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("request");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("response");
    let (head, body) = resp.split_once("\r\n\r\n").expect("HTTP head");
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

/// A sample line: name, labels (sorted, without `le`), le, value.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    le: Option<String>,
    value: f64,
}

fn parse(body: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in body.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("value");
        let value: f64 = value.parse().expect("numeric value");
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}').expect("closing brace")),
            None => (series, ""),
        };
        let mut ls = Vec::new();
        let mut le = None;
        for kv in labels.split(',').filter(|x| !x.is_empty()) {
            let (k, v) = kv.split_once('=').expect("label");
            let v = v.trim_matches('"').to_owned();
            if k == "le" {
                le = Some(v);
            } else {
                ls.push((k.to_owned(), v));
            }
        }
        ls.sort();
        out.push(Sample {
            name: name.to_owned(),
            labels: ls,
            le,
            value,
        });
    }
    out
}

fn label<'a>(l: &'a [(String, String)], k: &str) -> &'a str {
    l.iter()
        .find(|(x, _)| x == k)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn smoke_campaign_metrics_endpoint() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/smoke.toml");
    let (campaign, text) = Campaign::load(&file).expect("smoke campaign parses");
    let total = campaign.expand().len();
    let dir = std::env::temp_dir().join(format!("uadpbench-e2e-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    let metrics = Metrics::default();
    let server = MetricsServer::start("127.0.0.1:0", metrics.clone()).expect("listen");
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());

    let d = dir.clone();
    let runner = std::thread::spawn(move || {
        run_campaign(
            &campaign,
            &text,
            &CampaignOptions {
                out: Some(d),
                metrics: Some(metrics),
                ..Default::default()
            },
            Arc::new(AtomicBool::new(false)),
        )
    });
    // While it runs: the endpoint answers and is well formed.
    std::thread::sleep(Duration::from_millis(1500));
    let during = parse(&scrape(addr));
    assert!(during
        .iter()
        .any(|s| s.name == "uadpbench_runs_planned" && s.value == total as f64));
    let outcome = runner.join().expect("campaign thread").expect("campaign");
    assert!(outcome.runs.iter().all(|r| r.status == "ok"));

    let body = scrape(addr);
    let samples = parse(&body);
    let value = |name: &str| {
        samples
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name} missing:\n{body}"))
            .value
    };
    assert_eq!(value("uadpbench_runs_finished_total"), total as f64);
    assert_eq!(value("uadpbench_runs_failed_total"), 0.0);

    // Expected count per configuration: the measured messages received, over repetitions.
    let mut expected: HashMap<(String, String, String, String, String), f64> = HashMap::new();
    for r in &outcome.runs {
        *expected
            .entry((
                r.path.clone(),
                r.encap.clone(),
                r.mode.clone(),
                r.payload_bytes.to_string(),
                r.probes.clone(),
            ))
            .or_default() += r.received.expect("received") as f64;
    }
    let key = |l: &[(String, String)]| {
        (
            label(l, "path").to_owned(),
            label(l, "encap").to_owned(),
            label(l, "mode").to_owned(),
            label(l, "payload_bytes").to_owned(),
            label(l, "probes").to_owned(),
        )
    };
    let counts: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "uadpbench_latency_seconds_count")
        .collect();
    assert_eq!(
        counts.len(),
        expected.len(),
        "one histogram per configuration"
    );
    for c in &counts {
        let k = key(&c.labels);
        assert_eq!(c.value, expected[&k], "_count of {k:?}");
        let kind = label(&c.labels, "kind");
        assert_eq!(kind, if k.2 == "pingpong" { "rtt" } else { "one_way" });
        // Buckets: cumulative, non-decreasing, +Inf equal to _count.
        let buckets: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == "uadpbench_latency_seconds_bucket" && s.labels == c.labels)
            .collect();
        assert!(buckets.len() > 2);
        let mut prev_le = f64::NEG_INFINITY;
        let mut prev = 0.0;
        for b in &buckets {
            let le = b.le.as_deref().expect("le");
            let le: f64 = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().expect("le")
            };
            assert!(le > prev_le, "bucket bounds increase");
            assert!(b.value >= prev, "bucket counts are cumulative");
            prev_le = le;
            prev = b.value;
        }
        assert_eq!(prev_le, f64::INFINITY, "last bucket is +Inf");
        assert_eq!(prev, c.value, "+Inf bucket equals _count");
        let sum = samples
            .iter()
            .find(|s| s.name == "uadpbench_latency_seconds_sum" && s.labels == c.labels)
            .expect("_sum");
        assert!(
            sum.value > 0.0 && sum.value / c.value < 0.1,
            "mean latency in seconds"
        );
    }
    for s in samples
        .iter()
        .filter(|s| s.name == "uadpbench_messages_lost_total")
    {
        assert_eq!(s.value, 0.0);
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
