//! `uadpbench run` on the udp path, through the library: zero loss, sane latencies, result
//! files that parse and agree with each other.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use uadpbench::run::{run, Mode, RunConfig};

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("uadpbench-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// summary.csv as (metric, statistic) → value.
fn summary(dir: &Path) -> HashMap<(String, String), f64> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).expect("summary.csv");
    let headers = r.headers().expect("header").clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        [
            "run_id",
            "path",
            "encap",
            "mode",
            "payload_bytes",
            "metric",
            "statistic",
            "value",
            "unit",
            "placement",
            "cpu_a",
            "cpu_b",
            "quality"
        ]
    );
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            (
                (rec[5].to_owned(), rec[6].to_owned()),
                rec[7].parse::<f64>().expect("numeric value"),
            )
        })
        .collect()
}

fn samples(dir: &Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(dir.join("samples.csv"))
        .expect("samples.csv")
        .records()
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn pingpong_10000_messages_zero_loss() {
    let dir = out_dir("pingpong");
    let cfg = RunConfig {
        count: 10_000,
        warmup: 500,
        ..RunConfig::default()
    };
    let outcome = run(&cfg, &dir, Arc::new(AtomicBool::new(false))).expect("run");
    let s = summary(&dir);
    assert_eq!(s[&("messages".into(), "sent".into())], 10_000.0);
    assert_eq!(s[&("messages".into(), "received".into())], 10_000.0);
    assert_eq!(s[&("messages".into(), "lost".into())], 0.0);
    assert_eq!(s[&("messages".into(), "decode_errors".into())], 0.0);
    assert_eq!(s[&("rtt".into(), "count".into())], 10_000.0);
    let p50 = s[&("rtt".into(), "p50".into())];
    // A veth round trip on one host takes microseconds, not nanoseconds or seconds.
    assert!((1_000.0..5_000_000.0).contains(&p50), "rtt p50 {p50} ns");
    assert!(s[&("rtt".into(), "min".into())] <= p50 && p50 <= s[&("rtt".into(), "max".into())]);
    // Where the timed threads' time went: on a CPU + waiting for one + asleep = the loop.
    for role in ["initiator", "reflector"] {
        let get = |stat: &str| s[&(format!("sched_{role}"), stat.to_owned())];
        let (window, on, wait, asleep) = (
            get("window"),
            get("on_cpu"),
            get("runqueue_wait"),
            get("asleep_or_stolen"),
        );
        assert!(window > 0.0 && on > 0.0, "{role}: window {window} on {on}");
        assert!(
            (on + wait + asleep - window).abs() < 1.0 || on + wait >= window,
            "{role}: {on} + {wait} + {asleep} != {window}"
        );
    }

    let rows = samples(&dir);
    assert_eq!(rows.len(), 10_000);
    for (i, r) in rows.iter().enumerate() {
        let id: u64 = r[2].parse().expect("packet_id");
        assert_eq!(id, 500 + i as u64, "samples in send order after warm-up");
        let (ts, tr, rtt): (u64, u64, u64) = (
            r[3].parse().unwrap(),
            r[4].parse().unwrap(),
            r[5].parse().unwrap(),
        );
        assert_eq!(tr - ts, rtt);
        assert_eq!(&r[8], "false");
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("json");
    assert_eq!(meta["environment"]["clock"]["userspace"], "CLOCK_MONOTONIC");
    assert_eq!(meta["config"]["path"], "udp");
    assert!(meta["environment"]["kernel_release"]
        .as_str()
        .is_some_and(|k| !k.is_empty()));
    assert_eq!(outcome.run_id, "udp-udp-pingpong-64B");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn cyclic_1ms_and_flood() {
    let dir = out_dir("cyclic");
    let cfg = RunConfig {
        mode: Mode::Cyclic,
        count: 2_000,
        warmup: 100,
        interval_us: 1_000,
        payload_bytes: 256,
        ..RunConfig::default()
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false))).expect("cyclic run");
    let s = summary(&dir);
    assert_eq!(s[&("messages".into(), "lost".into())], 0.0);
    assert_eq!(s[&("one_way".into(), "count".into())], 2_000.0);
    assert_eq!(s[&("send_deviation".into(), "count".into())], 2_000.0);
    // The publisher is on 1 ms deadlines: its median lateness is far below one interval.
    assert!(s[&("send_deviation".into(), "p50".into())] < 1_000_000.0);
    let rows = samples(&dir);
    assert_eq!(rows.len(), 2_000);
    assert!(
        rows.iter().all(|r| !r[6].is_empty() && !r[7].is_empty()),
        "one_way and deviation on every row"
    );
    std::fs::remove_dir_all(&dir).ok();

    let dir = out_dir("flood");
    let cfg = RunConfig {
        mode: Mode::Flood,
        duration_s: Some(1.0),
        warmup: 0,
        ..RunConfig::default()
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false))).expect("flood run");
    let s = summary(&dir);
    let sent = s[&("messages".into(), "sent".into())];
    let received = s[&("messages".into(), "received".into())];
    let lost = s[&("messages".into(), "lost".into())];
    assert!(sent > 0.0 && s[&("rate".into(), "received_per_second".into())] > 0.0);
    assert_eq!(sent - received, lost, "loss is exact: sent - received");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn oversized_payload_is_refused_before_setup() {
    let cfg = RunConfig {
        payload_bytes: 1473,
        ..RunConfig::default()
    };
    let problems = cfg.validate();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("at most 1472"), "{}", problems[0]);
    let err =
        run(&cfg, &out_dir("invalid"), Arc::new(AtomicBool::new(false))).expect_err("refused");
    assert!(err.to_string().contains("invalid run configuration"));
}

/// `--udp-unconnected`: both ends sendto/recvfrom on unconnected sockets; the run is as
/// complete as a connected one and meta.json says which it was.
#[test]
fn pingpong_on_unconnected_sockets() {
    let dir = out_dir("unconnected");
    let cfg = RunConfig {
        count: 5_000,
        warmup: 200,
        path_options: uadpbench_sender::open::PathOptions {
            udp_unconnected: true,
            ..Default::default()
        },
        ..RunConfig::default()
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false))).expect("run");
    let s = summary(&dir);
    assert_eq!(s[&("messages".into(), "received".into())], 5_000.0);
    assert_eq!(s[&("messages".into(), "lost".into())], 0.0);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("json");
    assert_eq!(meta["config"]["path_options"]["udp_unconnected"], true);
    std::fs::remove_dir_all(&dir).ok();
}
