//! Benchmark runs with configured publisher layouts (needs root): a campaign whose matrix has
//! `layouts = ["benchmark", "sdk-tutorial", "plc"]` (a custom `[layouts.plc]`) runs ping-pong
//! and cyclic on all three paths; every run finishes without loss, the layout runs take their
//! message size from the layout and their timing from the send log (meta.json says so), and
//! the frames on the wire are the layout's messages, value by value (pcap + decode).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use uadpbench::campaign::Campaign;
use uadpbench::campaign_run::{run_campaign, CampaignOptions};
use uadpbench::decode::{self, DecodeInput};
use uadpbench::interop::layout::{LayoutConfig, PublisherIdValue};
use uadpbench::interop::preset::Preset;
use uadpbench::run::{run, Mode, RunConfig};
use uadpbench_sender::transport::{Encap, PathKind};

const CAMPAIGN: &str = r#"
name = "layouts"
[matrix]
paths = ["udp", "eth", "xdp"]
encaps = ["eth"]
modes = ["pingpong", "cyclic"]
payload_bytes = [64]
intervals_us = [200]
layouts = ["benchmark", "sdk-tutorial", "plc"]
[run]
count = 300
warmup = 20
[layouts.plc]
preset = "dynamic"
publisher_id = "UInt64:77"
writer_ids = [5]
fields = ["UInt32=counter", "Double=counter", "DateTime=now"]
"#;

fn out_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("uadpbench-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn a_campaign_runs_each_layout_on_every_path() {
    let campaign = Campaign::parse(CAMPAIGN, "inline").unwrap_or_else(|e| panic!("{e:?}"));
    let dir = out_dir("layout-campaign");
    let outcome = run_campaign(
        &campaign,
        CAMPAIGN,
        &CampaignOptions {
            out: Some(dir.clone()),
            ..Default::default()
        },
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(outcome.runs.len(), 3 * 2 * 3, "paths × modes × layouts");
    let mut sizes: BTreeMap<String, usize> = BTreeMap::new();
    for r in &outcome.runs {
        assert_eq!(r.status, "ok", "{}: {}", r.run_id, r.error);
        assert_eq!(r.lost, Some(0), "{}", r.run_id);
        assert_eq!(r.received, Some(300), "{}", r.run_id);
        assert_eq!(r.decode_errors, Some(0), "{}", r.run_id);
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("runs").join(&r.dir).join("meta.json"))
                .expect("meta.json"),
        )
        .expect("json");
        let timing = meta["timing_source"].as_str().expect("timing_source");
        if r.layout == "benchmark" {
            assert_eq!(r.payload_bytes, 64);
            assert!(timing.starts_with("message"), "{timing}");
        } else {
            assert!(timing.starts_with("send log"), "{}: {timing}", r.run_id);
            // One size per layout, whatever the path.
            let size = *sizes.entry(r.layout.clone()).or_insert(r.payload_bytes);
            assert_eq!(size, r.payload_bytes, "{}", r.run_id);
            assert!(
                r.run_id.contains(&format!("-layout_{}-", r.layout)),
                "{}",
                r.run_id
            );
        }
    }
    assert_eq!(sizes.len(), 2);
    // The SDK tutorial identifies messages by its Int32 counter, the custom one by its
    // DataSetMessage SequenceNumber.
    let timing_of = |layout: &str| {
        let r = outcome
            .runs
            .iter()
            .find(|r| r.layout == layout)
            .expect("run");
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("runs").join(&r.dir).join("meta.json"))
                .expect("meta.json"),
        )
        .expect("json");
        meta["timing_source"].as_str().unwrap_or("").to_owned()
    };
    assert!(timing_of("sdk-tutorial").contains("counter in field #1"));
    assert!(timing_of("plc").contains("DataSetMessage SequenceNumber"));
    // Every measured message has a latency.
    let mut samples = csv::Reader::from_path(dir.join("samples.csv")).expect("samples.csv");
    let h = samples.headers().expect("header").clone();
    let col = |n: &str| h.iter().position(|c| c == n).expect("column");
    let (rtt, one_way, lost) = (col("rtt_ns"), col("one_way_ns"), col("lost"));
    let mut n = 0;
    for rec in samples.records() {
        let rec = rec.expect("row");
        assert_eq!(&rec[lost], "false");
        let v: u64 = if rec[rtt].is_empty() {
            &rec[one_way]
        } else {
            &rec[rtt]
        }
        .parse()
        .expect("latency");
        assert!(v > 0 && v < 1_000_000_000);
        n += 1;
    }
    assert_eq!(n, 18 * 300);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_frames_on_the_wire_are_the_layouts_messages() {
    // (The xdp path's frames bypass packet taps: its pcap is empty by design.)
    for (path, encap, preset) in [
        (PathKind::Eth, Encap::Eth, Preset::SdkTutorial),
        (PathKind::Udp, Encap::Udp, Preset::PeriodicFixed),
    ] {
        let dir = out_dir(&format!("layout-pcap-{path}"));
        let pcap = dir.join("frames.pcap");
        let mut cfg = RunConfig {
            path,
            encap,
            mode: Mode::Cyclic,
            count: 200,
            warmup: 10,
            interval_us: 200,
            pcap: Some(pcap.clone()),
            layout: Some(LayoutConfig {
                preset: Some(preset),
                ..LayoutConfig::default()
            }),
            ..RunConfig::default()
        };
        cfg.apply_layout().expect("layout applies");
        run(&cfg, &dir, Arc::new(AtomicBool::new(false))).unwrap_or_else(|e| panic!("{e:#}"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let fields = (preset == Preset::PeriodicFixed).then(|| {
            LayoutConfig {
                preset: Some(preset),
                ..LayoutConfig::default()
            }
            .resolve()
            .expect("resolves")
            .field_types()
        });
        let d = decode::run(
            &DecodeInput::Pcap(pcap),
            fields.as_deref(),
            &mut out,
            &mut err,
        )
        .expect("decode");
        assert_eq!(d.decoded, 210, "{}", String::from_utf8_lossy(&err));
        assert_eq!(d.failed, 0);
        let layout = LayoutConfig {
            preset: Some(preset),
            ..LayoutConfig::default()
        }
        .resolve()
        .expect("resolves");
        for (i, line) in String::from_utf8(out).expect("utf-8").lines().enumerate() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json line");
            let want = match layout.publisher_id {
                PublisherIdValue::UInt16(v) => u64::from(v),
                PublisherIdValue::UInt64(v) => v,
                ref other => panic!("preset PublisherId {other}"),
            };
            assert_eq!(v["publisher_id"]["value"], want);
            let dsm = &v["dataset_messages"][0];
            match preset {
                Preset::SdkTutorial => {
                    assert_eq!(dsm["writer_id"], 62541);
                    // Field #1, the Int32 counter, is the message index.
                    assert_eq!(dsm["fields"][1]["value"], i as u64, "message {i}");
                }
                _ => assert_eq!(dsm["sequence_number"], i as u64, "message {i}"),
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
