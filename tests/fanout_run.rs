//! One publisher to N subscribers on the local bridge (`--subscribers`), on every path: each
//! subscriber receives every message exactly once, the per-subscriber files agree with the
//! summary, and the topology is gone afterwards.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use uadpbench::run::{run, Mode, RunConfig};
use uadpbench::schema::{FanoutSampleRow, SubscriberRow};
use uadpbench_sender::transport::{Encap, PathKind};

const SUBSCRIBERS: usize = 3;
const COUNT: u64 = 2_000;

fn summary(dir: &Path) -> HashMap<(String, String), f64> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).expect("summary.csv");
    r.deserialize::<uadpbench::schema::SummaryRow>()
        .map(|row| {
            let row = row.expect("summary row");
            ((row.metric, row.statistic), row.value)
        })
        .collect()
}

fn rows<T: serde::de::DeserializeOwned>(file: &Path) -> Vec<T> {
    csv::Reader::from_path(file)
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        .deserialize()
        .map(|r| r.expect("row"))
        .collect()
}

fn netns_list() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check(path: PathKind, encap: Encap) {
    let name = format!("{path}-{encap}");
    let dir = std::env::temp_dir().join(format!(
        "uadpbench-e2e-fanout-{name}-{}",
        std::process::id()
    ));
    let cfg = RunConfig {
        count: COUNT,
        warmup: 100,
        interval_us: 500,
        subscribers: Some(SUBSCRIBERS),
        ..RunConfig::new(path, Some(encap), Mode::Cyclic)
    };
    let outcome = run(&cfg, &dir, Arc::new(AtomicBool::new(false)))
        .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    assert!(!outcome.interrupted);
    let s = summary(&dir);
    let get = |m: &str, st: &str| {
        s.get(&(m.to_owned(), st.to_owned()))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let deliveries = (COUNT as usize * SUBSCRIBERS) as f64;
    assert_eq!(get("messages", "sent"), deliveries, "{name}");
    assert_eq!(get("messages", "received"), deliveries, "{name}");
    for stat in ["lost", "duplicated", "decode_errors", "foreign_frames"] {
        assert_eq!(get("messages", stat), 0.0, "{name}: {stat}");
    }
    assert_eq!(get("one_way", "count"), deliveries, "{name}");
    assert_eq!(get("arrival_spread", "count"), COUNT as f64, "{name}");
    assert!(get("arrival_spread", "min") >= 0.0);
    assert_eq!(get("fanout", "subscribers"), SUBSCRIBERS as f64);
    assert_eq!(get("fanout", "most_lost_by_one_subscriber"), 0.0);
    assert!(get("fanout", "worst_p99_ns") >= get("fanout", "best_p99_ns"));

    let subs: Vec<SubscriberRow> = rows(&dir.join("subscribers.csv"));
    assert_eq!(subs.len(), SUBSCRIBERS, "{name}");
    let mut rank_sum = 0.0;
    for (i, r) in subs.iter().enumerate() {
        assert_eq!(r.subscriber, i + 1);
        assert_eq!(
            (r.published, r.received, r.lost),
            (COUNT, COUNT, 0),
            "{name}"
        );
        let (p50, p99) = (
            r.one_way_p50_ns.expect("p50"),
            r.one_way_p99_ns.expect("p99"),
        );
        assert!(p50 > 0.0 && p50 <= p99, "{name}: {r:?}");
        rank_sum += r
            .mean_arrival_rank
            .expect("every message reached every subscriber");
    }
    // Ranks 1..=N once per message: their means add up to N(N+1)/2.
    let expected = (SUBSCRIBERS * (SUBSCRIBERS + 1) / 2) as f64;
    assert!((rank_sum - expected).abs() < 1e-6, "{name}: {rank_sum}");

    let samples: Vec<FanoutSampleRow> = rows(&dir.join("fanout_samples.csv"));
    assert!(samples.iter().all(|x| x.send_deviation_ns.is_some()));
    assert_eq!(samples.len(), COUNT as usize * SUBSCRIBERS, "{name}");
    assert!(samples.iter().all(|x| !x.lost
        && x.t_recv_ns
            .zip(x.one_way_ns)
            .map(|(r, ow)| r - x.t_send_ns == ow)
            == Some(true)));

    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    assert_eq!(meta["fanout"]["subscribers"], SUBSCRIBERS);
    let subs_meta = meta["topology"]["subscribers"]
        .as_array()
        .expect("subscribers");
    assert_eq!(subs_meta.len(), SUBSCRIBERS);
    let switch = meta["topology"]["switch_netns"].as_str().expect("switch");
    let after = netns_list();
    assert!(!after.contains(switch), "{switch} left behind:\n{after}");
    for s in subs_meta {
        let ns = s["netns"].as_str().expect("netns");
        assert!(!after.contains(ns), "{ns} left behind");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn udp_multicast_fan_out() {
    check(PathKind::Udp, Encap::Udp);
}

#[test]
fn eth_fan_out() {
    check(PathKind::Eth, Encap::Eth);
}

#[test]
fn eth_udp_encap_fan_out() {
    check(PathKind::Eth, Encap::Udp);
}

#[test]
fn xdp_fan_out() {
    check(PathKind::Xdp, Encap::Eth);
}

#[test]
fn fan_out_refuses_what_it_does_not_measure() {
    for (mode, probes, want) in [
        (Mode::Pingpong, "none", "use --mode cyclic"),
        (Mode::Flood, "none", "use --mode cyclic"),
        (Mode::Cyclic, "all", "--probes none"),
    ] {
        let cfg = RunConfig {
            subscribers: Some(2),
            duration_s: Some(1.0),
            probes: probes.into(),
            ..RunConfig::new(PathKind::Udp, None, mode)
        };
        let p = cfg.validate();
        assert!(p.iter().any(|p| p.contains(want)), "{mode:?}: {p:?}");
    }
    for n in [0, uadpbench_topology::MAX_SUBSCRIBERS + 1] {
        let cfg = RunConfig {
            subscribers: Some(n),
            ..RunConfig::new(PathKind::Udp, None, Mode::Cyclic)
        };
        assert!(cfg.validate().iter().any(|p| p.contains("--subscribers")));
    }
}

/// A fan-out campaign ends with the fan-out answer, merges every run's subscribers.csv and
/// `report` draws the per-subscriber plot.
#[test]
fn fan_out_campaign_answers_and_plots() {
    let text = r#"
name = "fanout-e2e"
[matrix]
paths = ["udp", "eth"]
encaps = ["eth"]
modes = ["cyclic"]
payload_bytes = [64]
intervals_us = [500]
subscribers = [1, 3]
repetitions = 1
[run]
count = 400
warmup = 20
"#;
    let campaign = uadpbench::campaign::Campaign::parse(text, "fanout-e2e.toml")
        .unwrap_or_else(|e| panic!("{e:?}"));
    let dir = std::env::temp_dir().join(format!(
        "uadpbench-e2e-fanout-campaign-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let outcome = uadpbench::campaign_run::run_campaign(
        &campaign,
        text,
        &uadpbench::campaign_run::CampaignOptions {
            out: Some(dir.clone()),
            resume: None,
            progress: false,
            metrics: None,
            trace: None,
        },
        Arc::new(AtomicBool::new(false)),
    )
    .expect("fan-out campaign");
    assert!(
        outcome.runs.iter().all(|r| r.status == "ok"),
        "{:?}",
        outcome.runs
    );
    let subs: Vec<SubscriberRow> = rows(&dir.join("subscribers.csv"));
    // udp and eth × (1 + 3 subscribers).
    assert_eq!(subs.len(), 2 * (1 + 3));
    assert!(subs.iter().all(|s| s.lost == 0 && s.received == 400));
    let verdict = uadpbench::verdict::write_verdict(&dir).expect("verdict");
    assert!(
        verdict
            .iter()
            .any(|l| l.starts_with("answer — fan-out 64 B to 3 subscriber(s)")),
        "{verdict:#?}"
    );
    assert!(verdict
        .iter()
        .any(|l| l.contains("cyclic to 3 subscriber(s) 64 B")));
    let data = uadpbench::report::load(&dir).expect("report data");
    // The comparison table pools every subscriber's latencies: 400 per subscriber.
    for (k, d) in &data {
        let n: usize = if k.name.contains("-3sub") { 3 } else { 1 };
        assert_eq!(d.latency.len(), 400 * n, "{}", k.name);
        assert_eq!(d.send_deviation.len(), 400, "{}", k.name);
    }
    let files = uadpbench::report::plots(&dir, &data).expect("plots");
    let plot = dir.join("plots/fanout_64B.svg");
    assert!(files.contains(&plot), "{files:?}");
    let svg = std::fs::read_to_string(&plot).expect("svg");
    assert!(svg.contains("udp/udp: worst subscriber") && svg.contains("eth/eth: worst subscriber"));
    std::fs::remove_dir_all(&dir).ok();
}

/// `subscriber_cpus` pins each subscriber where it says (used in turn), recorded in meta.json;
/// a CPU that is not usable is refused before anything is set up.
#[test]
fn subscribers_run_on_the_cpus_given() {
    let usable = uadpbench::conditions::placement::usable_cpus().expect("usable CPUs");
    let cpus: Vec<usize> = usable.iter().rev().take(2).copied().collect();
    let dir =
        std::env::temp_dir().join(format!("uadpbench-e2e-fanout-cpus-{}", std::process::id()));
    let cfg = RunConfig {
        count: 300,
        warmup: 20,
        interval_us: 500,
        subscribers: Some(3),
        subscriber_cpus: cpus.clone(),
        ..RunConfig::new(PathKind::Udp, None, Mode::Cyclic)
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false))).unwrap_or_else(|e| panic!("{e:#}"));
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    let want: Vec<usize> = (0..3).map(|i| cpus[i % cpus.len()]).collect();
    assert_eq!(meta["fanout"]["subscriber_cpus"], serde_json::json!(want));
    let threads = meta["conditions"]["threads"].as_array().expect("threads");
    for (i, cpu) in want.iter().enumerate() {
        let role = format!("subscriber{}", i + 1);
        let t = threads
            .iter()
            .find(|t| t["role"] == role.as_str())
            .unwrap_or_else(|| panic!("no {role} in {threads:?}"));
        assert_eq!(t["first_cpu"], *cpu, "{role}: {t}");
        assert_eq!(t["last_cpu"], *cpu, "{role}: {t}");
    }
    std::fs::remove_dir_all(&dir).ok();
    let bad = RunConfig {
        subscriber_cpus: vec![100_000],
        ..cfg
    };
    assert!(bad
        .validate()
        .iter()
        .any(|p| p.contains("--subscriber-cpus: CPU 100000")));
}
