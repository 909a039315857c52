//! `uadpbench run --path udp --count 2000 --trace FILE` (through the library): the trace is
//! valid Chrome trace-event JSON (every event has the keys its phase needs, complete events a
//! non-negative duration), has context switches of at least one CPU, packet slices on at
//! least five layer tracks and off-CPU intervals of the sender thread, and every event lies in
//! the window. Needs root (probes).

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use uadpbench::campaign::Campaign;
use uadpbench::campaign_run::{run_campaign, CampaignOptions, RUN_TRACE};
use uadpbench::run::{run, RunConfig};
use uadpbench::trace::TraceSpec;
use uadpbench_sender::transport::PathKind;

/// Probe sessions trace the whole process: one probe-enabled run at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn run_writes_a_perfetto_trace() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("uadpbench-e2e-trace-{}", std::process::id()));
    let file = dir.join("trace.json");
    let cfg = RunConfig {
        path: PathKind::Udp,
        count: 2000,
        warmup: 200,
        // probes "none": --trace implies all.
        trace: Some(TraceSpec::new(&file)),
        ..RunConfig::default()
    };
    let outcome = run(&cfg, &dir.join("run"), Arc::new(AtomicBool::new(false)))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        outcome
            .report
            .iter()
            .any(|l| l.contains(&file.display().to_string())),
        "the run does not say where the trace went: {:#?}",
        outcome.report
    );
    assert!(outcome.report.iter().any(|l| l.contains("ui.perfetto.dev")));
    assert!(
        !dir.join("trace.json.tmp").exists(),
        "temporary file left behind"
    );

    let text = std::fs::read_to_string(&file).expect("trace file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("trace is JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents array");
    let window_us = v["otherData"]["window_us"].as_f64().expect("window_us");
    assert!(window_us > 0.0);

    let mut layer_tracks = HashSet::new();
    let mut cpu_pids = HashSet::new();
    let mut off_cpu = 0;
    let sender = v["otherData"]["sender_tid"].as_u64().expect("sender tid");
    for e in events {
        for key in ["name", "ph", "ts", "pid", "tid"] {
            assert!(e.get(key).is_some(), "event without {key}: {e}");
        }
        let ph = e["ph"].as_str().expect("ph string");
        let ts = e["ts"].as_f64().expect("numeric ts");
        let pid = e["pid"].as_u64().expect("numeric pid");
        let tid = e["tid"].as_u64().expect("numeric tid");
        match ph {
            "M" => assert!(e["args"].is_object(), "metadata without args: {e}"),
            "X" => {
                let dur = e["dur"].as_f64().expect("X event with dur");
                assert!(dur >= 0.0, "negative dur: {e}");
                assert!(
                    ts >= 0.0 && ts + dur <= window_us + 1e-6,
                    "event outside the window (0..{window_us} µs): {e}"
                );
                match pid {
                    1 => {
                        layer_tracks.insert(tid);
                    }
                    2 if tid == sender && e["cat"] == "off_cpu" => off_cpu += 1,
                    p if p >= 100 => {
                        cpu_pids.insert(p);
                    }
                    _ => {}
                }
            }
            "s" | "t" | "f" => {
                assert!(e.get("id").is_some(), "flow event without id: {e}");
                assert!(ts >= 0.0 && ts <= window_us + 1e-6, "flow outside: {e}");
            }
            other => panic!("unexpected phase {other}: {e}"),
        }
    }
    // Layer tracks: the stack layers, without the user-space ends (tids 0 and 10000).
    let layers = layer_tracks
        .iter()
        .filter(|t| **t != 0 && **t != 10_000)
        .count();
    assert!(layers >= 5, "only {layers} layer tracks");
    assert!(!cpu_pids.is_empty(), "no CPU track with context switches");
    assert!(
        off_cpu > 0,
        "no off-CPU interval of the sender thread {sender}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `uadpbench campaign --trace FILE`: the probe runs are traced, the probes-off runs are not
/// (their baseline stays uninstrumented), and FILE holds every traced run as its own process
/// group, named after the run.
#[test]
fn campaign_merges_the_traces_of_its_probe_runs() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let text = r#"
name = "trace-test"
[matrix]
paths = ["udp"]
modes = ["pingpong"]
payload_bytes = [64]
probes = ["none", "all"]
repetitions = 2
[run]
count = 400
warmup = 50
"#;
    let campaign = Campaign::parse(text, "inline").expect("campaign parses");
    let dir = std::env::temp_dir().join(format!("uadpbench-e2e-ctrace-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let file = dir.join("campaign-trace.json");
    let outcome = run_campaign(
        &campaign,
        text,
        &CampaignOptions {
            out: Some(dir.clone()),
            trace: Some(TraceSpec {
                packets: 50,
                ..TraceSpec::new(&file)
            }),
            ..Default::default()
        },
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        outcome.runs.iter().all(|r| r.status == "ok"),
        "{:?}",
        outcome.runs
    );
    assert_eq!(outcome.trace, Some((file.clone(), 2)));
    let mut traced = Vec::new();
    for r in &outcome.runs {
        let has = dir.join("runs").join(&r.dir).join(RUN_TRACE).is_file();
        assert_eq!(
            has,
            r.probes == "all",
            "{}: trace.json only with probes",
            r.run_id
        );
        if has {
            traced.push(r.run_id.clone());
        }
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("merged trace"))
            .expect("merged trace is JSON");
    let events = v["traceEvents"].as_array().expect("traceEvents");
    let mut groups = HashSet::new();
    let mut packet_slices = HashSet::new();
    for e in events {
        for key in ["name", "ph", "ts", "pid", "tid"] {
            assert!(e.get(key).is_some(), "event without {key}: {e}");
        }
        let pid = e["pid"].as_u64().expect("pid");
        if e["ph"] == "M" && e["name"] == "process_name" {
            let name = e["args"]["name"].as_str().expect("name");
            let run = name.split(" · ").next().expect("run id prefix");
            assert!(traced.iter().any(|t| t == run), "{name}");
            groups.insert(pid / 1000);
        }
        if e["ph"] == "X" && e["cat"] == "packet" {
            packet_slices.insert(pid / 1000);
        }
    }
    assert_eq!(groups.len(), 2, "one process group per traced run");
    assert_eq!(
        packet_slices.len(),
        2,
        "packets on the layer tracks of both runs"
    );
    std::fs::remove_dir_all(&dir).ok();
}
