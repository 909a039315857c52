//! `uadpbench run --pcap`: the capture on B's veth holds exactly the benchmark frames B
//! received (warm-up included), and `uadpbench decode --pcap` decodes every one of them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use uadpbench::decode::{self, DecodeInput};
use uadpbench::run::{run, Mode, RunConfig};
use uadpbench_sender::transport::{Encap, PathKind};

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("uadpbench-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

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

fn check(name: &str, cfg: RunConfig) {
    let dir = out_dir(name);
    let pcap = dir.join("frames.pcap");
    let cfg = RunConfig {
        pcap: Some(pcap.clone()),
        ..cfg
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false))).expect("run");
    assert!(pcap.is_file(), "pcap written");
    assert!(
        !dir.join("frames.pcap.tmp").exists(),
        "no temporary file left"
    );
    let s = summary(&dir);
    let get = |m: &str, st: &str| s[&(m.to_owned(), st.to_owned())] as u64;
    // Frames B received: pingpong — every ping the reflector got (warm-up + measured);
    // cyclic — every publication the subscriber got (warm-up + measured received).
    let expected = cfg.warmup
        + match cfg.mode {
            Mode::Pingpong => get("messages", "sent"),
            _ => get("messages", "received"),
        };
    assert_eq!(get("messages", "lost"), 0, "no loss on the veth");
    let frames = get("capture", "frames");
    assert_eq!(get("capture", "kernel_drops"), 0);
    assert_eq!(
        frames, expected,
        "capture count = messages received by B, warm-up included"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta"))
            .expect("meta.json");
    assert_eq!(meta["capture"]["frames"], frames);

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let d = decode::run(&DecodeInput::Pcap(pcap), None, &mut out, &mut err).expect("decode");
    assert_eq!(d.decoded as u64, frames, "every captured frame decodes");
    assert_eq!(d.failed, 0, "{}", String::from_utf8_lossy(&err));
    assert_eq!(d.skipped_frames, 0, "only benchmark frames are captured");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pcap_of_udp_path_pingpong() {
    check(
        "pcap-udp",
        RunConfig {
            path: PathKind::Udp,
            encap: Encap::Udp,
            mode: Mode::Pingpong,
            count: 300,
            warmup: 30,
            ..RunConfig::default()
        },
    );
}

#[test]
fn pcap_of_eth_path_ethernet_encapsulation_cyclic() {
    check(
        "pcap-eth",
        RunConfig {
            path: PathKind::Eth,
            encap: Encap::Eth,
            mode: Mode::Cyclic,
            count: 300,
            warmup: 30,
            interval_us: 500,
            payload_bytes: 128,
            ..RunConfig::default()
        },
    );
}

#[test]
fn pcap_of_eth_path_pingpong() {
    check(
        "pcap-eth-pp",
        RunConfig {
            path: PathKind::Eth,
            encap: Encap::Eth,
            mode: Mode::Pingpong,
            count: 200,
            warmup: 20,
            ..RunConfig::default()
        },
    );
}
