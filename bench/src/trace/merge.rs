//! Merging the per-run traces of a campaign into one trace-event file.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::meta;
use crate::results;

/// Trace processes of one run in a merged campaign trace: run `k` (0-based) owns the pids
/// `(k + 1) * MERGE_PID_STRIDE + pid`.
const MERGE_PID_STRIDE: u64 = 1_000;

/// Flow ids of run `k` are offset by `(k + 1) * MERGE_FLOW_STRIDE` so that arrows never link
/// two runs.
const MERGE_FLOW_STRIDE: u64 = 1 << 40;

/// Merges per-run traces into one trace-event file: every run keeps its own processes (layer
/// tracks, benchmark threads, CPUs), named `<run id> · <process>`, sorted in run order; each
/// run's timestamps stay relative to its own window start, so the runs' windows lie on top of
/// each other from 0 and compare at a glance. Returns the number of events written.
pub fn merge(runs: &[(String, PathBuf)], out: &Path) -> anyhow::Result<usize> {
    let mut events: Vec<Value> = Vec::new();
    let mut windows = Vec::new();
    for (k, (run_id, file)) in runs.iter().enumerate() {
        let text = std::fs::read_to_string(file)
            .map_err(|e| anyhow::anyhow!("reading the trace {}: {e}", file.display()))?;
        let value: Value = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not trace-event JSON: {e}", file.display()))?;
        let Some(list) = value["traceEvents"].as_array() else {
            anyhow::bail!("{} has no traceEvents array", file.display());
        };
        let base = (k as u64 + 1) * MERGE_PID_STRIDE;
        let mut pids = BTreeSet::new();
        for ev in list {
            let mut ev = ev.clone();
            let Some(pid) = ev["pid"].as_u64() else {
                continue;
            };
            anyhow::ensure!(
                pid < MERGE_PID_STRIDE,
                "{}: pid {pid} too large to merge",
                file.display()
            );
            ev["pid"] = json!(base + pid);
            pids.insert(base + pid);
            if let Some(id) = ev.get("id").and_then(Value::as_u64) {
                ev["id"] = json!((k as u64 + 1) * MERGE_FLOW_STRIDE + id);
            }
            if ev["ph"] == "M" && ev["name"] == "process_name" {
                let name = ev["args"]["name"].as_str().unwrap_or("").to_owned();
                ev["args"]["name"] = json!(format!("{run_id} · {name}"));
            }
            events.push(ev);
        }
        for pid in pids {
            events.push(meta(
                "process_sort_index",
                pid,
                0,
                json!({"sort_index": pid}),
            ));
        }
        windows.push(json!({
            "run_id": run_id,
            "pids": [base, base + MERGE_PID_STRIDE - 1],
            "window_start_ns": value["otherData"]["window_start_ns"],
            "window_us": value["otherData"]["window_us"],
            "packets": value["otherData"]["packets"],
        }));
    }
    let n = events.len();
    let value = json!({
        "traceEvents": events,
        "displayTimeUnit": "ns",
        "otherData": {
            "tool": "uadpbench campaign --trace",
            "clock": "bpf_ktime_get_ns (CLOCK_MONOTONIC); each run's ts in µs from its own window_start_ns",
            "runs": windows,
        },
    });
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    results::write_atomically(out, |w| {
        serde_json::to_writer(&mut *w, &value)?;
        writeln!(w)?;
        Ok(())
    })?;
    Ok(n)
}

#[cfg(test)]
mod merge_tests {
    use super::super::{complete, PID_CPU_BASE, PID_LAYERS};
    use super::*;

    fn trace(dir: &Path, name: &str) -> PathBuf {
        let f = dir.join(name);
        let v = json!({"traceEvents": [
            meta("process_name", PID_LAYERS, 0, json!({"name": "packet layers"})),
            complete("udp_sendmsg", "packet", PID_LAYERS, 3, 1.0, 2.0, json!({})),
            json!({"name": "packet", "ph": "s", "id": 7, "bp": "e", "ts": 1.0, "pid": PID_LAYERS, "tid": 3}),
            complete("uadpbench", "cpu", PID_CPU_BASE + 1, 0, 0.5, 4.0, json!({})),
        ], "otherData": {"window_start_ns": 5, "window_us": 4.5, "packets": 1}});
        std::fs::write(&f, v.to_string()).expect("write");
        f
    }

    #[test]
    fn runs_keep_separate_processes_and_flows() {
        let dir = std::env::temp_dir().join(format!("uadpbench-merge-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let a = trace(&dir, "a.json");
        let b = trace(&dir, "b.json");
        let out = dir.join("all.json");
        let n = merge(&[("run-a".into(), a), ("run-b".into(), b)], &out).expect("merge");
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("json");
        let evs = v["traceEvents"].as_array().expect("events");
        assert_eq!(evs.len(), n);
        let names: Vec<&str> = evs
            .iter()
            .filter(|e| e["name"] == "process_name")
            .filter_map(|e| e["args"]["name"].as_str())
            .collect();
        assert_eq!(names, ["run-a · packet layers", "run-b · packet layers"]);
        let pids: BTreeSet<u64> = evs.iter().filter_map(|e| e["pid"].as_u64()).collect();
        assert_eq!(
            pids.into_iter().collect::<Vec<_>>(),
            [1001, 1101, 2001, 2101]
        );
        let ids: Vec<u64> = evs.iter().filter_map(|e| e["id"].as_u64()).collect();
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0], ids[1], "flows of two runs never link");
        assert_eq!(v["otherData"]["runs"][1]["run_id"], "run-b");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_broken_trace_is_an_error() {
        let dir = std::env::temp_dir().join(format!("uadpbench-merge-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = dir.join("bad.json");
        std::fs::write(&f, "{\"x\": 1}").expect("write");
        assert!(merge(&[("r".into(), f)], &dir.join("out.json")).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
