//! Every path × encapsulation × mode across the veth pair, through the harness: 10 000
//! messages in ping-pong and in cyclic 1 ms mode with zero loss and no decode error (every
//! received message is decoded and validated with the uadp codec), and a flood run with a
//! positive rate and exact loss accounting.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use uadpbench::run::{run, Mode, RunConfig};
use uadpbench_sender::transport::{Encap, PathKind};

fn summary(dir: &Path) -> HashMap<(String, String), f64> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).expect("summary.csv");
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            (
                (rec[5].to_owned(), rec[6].to_owned()),
                rec[7].parse::<f64>().expect("value"),
            )
        })
        .collect()
}

fn check_path(path: PathKind, encap: Encap) {
    let name = format!("{path}-{encap}");
    for (mode, payload) in [(Mode::Pingpong, 64), (Mode::Cyclic, 1400)] {
        let dir = std::env::temp_dir().join(format!(
            "uadpbench-e2e-{name}-{}-{}",
            mode.name(),
            std::process::id()
        ));
        let cfg = RunConfig {
            path,
            encap,
            mode,
            count: 10_000,
            warmup: 200,
            payload_bytes: payload,
            interval_us: 1000,
            ..RunConfig::default()
        };
        run(&cfg, &dir, Arc::new(AtomicBool::new(false)))
            .unwrap_or_else(|e| panic!("{name} {}: {e:#}", mode.name()));
        let s = summary(&dir);
        let get = |m: &str, st: &str| {
            s.get(&(m.to_owned(), st.to_owned()))
                .copied()
                .unwrap_or(f64::NAN)
        };
        assert_eq!(get("messages", "sent"), 10_000.0, "{name} {}", mode.name());
        assert_eq!(
            get("messages", "received"),
            10_000.0,
            "{name} {}",
            mode.name()
        );
        assert_eq!(get("messages", "lost"), 0.0, "{name} {}", mode.name());
        assert_eq!(
            get("messages", "decode_errors"),
            0.0,
            "{name} {}",
            mode.name()
        );
        assert_eq!(get("messages", "duplicated"), 0.0, "{name} {}", mode.name());
        let metric = if mode == Mode::Pingpong {
            "rtt"
        } else {
            "one_way"
        };
        assert_eq!(get(metric, "count"), 10_000.0);
        assert!(get(metric, "p50") > 0.0);
        std::fs::remove_dir_all(&dir).ok();
    }
    let dir =
        std::env::temp_dir().join(format!("uadpbench-e2e-{name}-flood-{}", std::process::id()));
    let cfg = RunConfig {
        path,
        encap,
        mode: Mode::Flood,
        duration_s: Some(1.0),
        warmup: 0,
        ..RunConfig::default()
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false)))
        .unwrap_or_else(|e| panic!("{name} flood: {e:#}"));
    let s = summary(&dir);
    let get = |m: &str, st: &str| s[&(m.to_owned(), st.to_owned())];
    assert!(
        get("messages", "sent") > 0.0 && get("rate", "received_per_second") > 0.0,
        "{name} flood"
    );
    assert_eq!(
        get("messages", "sent") - get("messages", "received"),
        get("messages", "lost"),
        "{name}: exact loss"
    );
    assert_eq!(get("messages", "decode_errors"), 0.0, "{name} flood");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn udp_path() {
    check_path(PathKind::Udp, Encap::Udp);
}

#[test]
fn eth_path_ethernet_encapsulation() {
    check_path(PathKind::Eth, Encap::Eth);
}

#[test]
fn eth_path_udp_encapsulation() {
    check_path(PathKind::Eth, Encap::Udp);
}

#[test]
fn xdp_path_ethernet_encapsulation() {
    check_path(PathKind::Xdp, Encap::Eth);
}

#[test]
fn xdp_path_udp_encapsulation() {
    check_path(PathKind::Xdp, Encap::Udp);
}

/// `--xdp-zero-copy` on veth (no zero-copy driver support): the run completes in copy mode and
/// says so — a NOTE line and meta.json `transport_notes` — instead of failing or pretending.
#[test]
fn xdp_zero_copy_without_driver_support_runs_in_copy_mode_and_says_so() {
    let dir = std::env::temp_dir().join(format!("uadpbench-e2e-xdp-zc-{}", std::process::id()));
    let mut cfg = RunConfig {
        path: PathKind::Xdp,
        encap: Encap::Eth,
        mode: Mode::Pingpong,
        count: 500,
        warmup: 50,
        ..RunConfig::default()
    };
    cfg.path_options.xdp_zero_copy = true;
    let outcome = run(&cfg, &dir, Arc::new(AtomicBool::new(false))).expect("xdp run");
    assert!(
        outcome
            .report
            .iter()
            .any(|l| l.contains("NOTE") && l.contains("zero-copy") && l.contains("copy mode")),
        "{:#?}",
        outcome.report
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    let notes = meta["transport_notes"].as_array().expect("transport_notes");
    // One per side: both veth ends lack zero-copy.
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(
        notes
            .iter()
            .all(|n| n.as_str().is_some_and(|n| n.contains("EOPNOTSUPP"))),
        "{notes:?}"
    );
    assert_eq!(
        summary(&dir).get(&("messages".into(), "lost".into())),
        Some(&0.0)
    );
    std::fs::remove_dir_all(&dir).ok();
}
