//! `uadpbench overhead` through the library: interleaved runs with probes off and on (and under
//! bpftrace), overhead.csv with a bootstrap interval per percentile, and no bpftrace process
//! left behind. Needs root (namespaces, BPF).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use uadpbench::overhead::{run_overhead, OverheadConfig, DEFAULT_SEED, PERCENTILES};
use uadpbench::run::RunConfig;

/// The two tests measure timing: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("uadpbench-e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(repetitions: usize, count: u64, bpftrace: bool) -> OverheadConfig {
    OverheadConfig {
        run: RunConfig {
            count,
            warmup: 200,
            ..RunConfig::default()
        },
        probes: "all".into(),
        repetitions,
        bpftrace,
        resamples: 2000,
        seed: DEFAULT_SEED,
    }
}

/// overhead.csv rows keyed by (metric, statistic, arm).
fn overhead_csv(dir: &Path) -> HashMap<(String, String, String), csv::StringRecord> {
    let mut r = csv::Reader::from_path(dir.join("overhead.csv")).expect("overhead.csv");
    assert_eq!(
        r.headers().expect("header").iter().collect::<Vec<_>>(),
        [
            "path",
            "encap",
            "mode",
            "payload_bytes",
            "interval_us",
            "metric",
            "statistic",
            "arm",
            "probes",
            "repetitions",
            "mean_off",
            "mean_arm",
            "delta",
            "ci_low",
            "ci_high",
            "unit",
            "placement"
        ]
    );
    r.records()
        .map(|rec| {
            let rec = rec.expect("row");
            ((rec[5].into(), rec[6].into(), rec[7].into()), rec)
        })
        .collect()
}

fn check_percentiles(
    rows: &HashMap<(String, String, String), csv::StringRecord>,
    arm: &str,
    reps: usize,
) {
    for p in PERCENTILES {
        let r = rows
            .get(&("rtt".into(), p.into(), arm.into()))
            .unwrap_or_else(|| panic!("no rtt {p} row for arm {arm}"));
        assert_eq!(&r[0], "udp");
        assert_eq!(&r[2], "pingpong");
        assert_eq!(&r[4], "", "no interval for ping-pong");
        assert_eq!(&r[8], "all", "the probe selection of both arms");
        assert_eq!(r[9].parse::<usize>().unwrap(), reps);
        assert_eq!(&r[15], "ns");
        let f = |i: usize| r[i].parse::<f64>().unwrap();
        let (off, on, delta, lo, hi) = (f(10), f(11), f(12), f(13), f(14));
        assert!(off > 1_000.0 && on > 1_000.0, "{arm} {p}: {off} {on}");
        assert!((on - off - delta).abs() < 1e-6 * off.max(1.0), "{arm} {p}");
        assert!(lo <= delta && delta <= hi, "{arm} {p}: {lo} {delta} {hi}");
    }
}

fn run_dirs(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("runs"))
        .expect("runs/")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn pingpong_overhead_has_an_interval_per_percentile() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = out_dir("overhead");
    let outcome = run_overhead(
        &config(2, 2000, false),
        &dir,
        Arc::new(AtomicBool::new(false)),
    )
    .expect("overhead run");
    assert!(!outcome.interrupted);
    let rows = overhead_csv(&dir);
    check_percentiles(&rows, "probes", 2);
    assert!(rows.keys().all(|(_, _, arm)| arm == "probes"));
    assert!(rows.contains_key(&(
        "rate".into(),
        "round_trips_per_second".into(),
        "probes".into()
    )));
    // The compensated p50 of the probe runs, against the plain p50 without probes: below the
    // probe runs' own p50 (their cost on the path taken out), compared with the same off runs.
    let comp = rows
        .get(&("rtt_compensated".into(), "p50".into(), "probes".into()))
        .expect("an rtt_compensated p50 row");
    let plain = &rows[&("rtt".into(), "p50".into(), "probes".into())];
    let f = |r: &csv::StringRecord, i: usize| r[i].parse::<f64>().unwrap();
    assert_eq!(f(comp, 10), f(plain, 10), "both against the off runs' p50");
    assert!(
        f(comp, 11) < f(plain, 11) && f(comp, 11) > 0.0,
        "compensated {} vs probes on {}",
        f(comp, 11),
        f(plain, 11)
    );
    assert_eq!(
        run_dirs(&dir),
        ["01-off-r1", "02-probes-r1", "03-off-r2", "04-probes-r2"]
    );
    for d in run_dirs(&dir) {
        let run = dir.join("runs").join(&d);
        assert!(run.join("summary.csv").is_file(), "{d}");
        assert_eq!(
            run.join("probe_cost.csv").is_file(),
            d.contains("probes"),
            "{d}: probe_cost.csv only where the probes ran"
        );
    }
    // The probes' BPF cost is aggregated per program, with a total.
    assert!(outcome
        .costs
        .iter()
        .any(|c| c.arm == "probes" && c.program == "total" && c.run_count > 0));
    assert!(dir.join("overhead_cost.csv").is_file());
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["complete_repetitions"], 2);
    assert_eq!(meta["runs"].as_array().unwrap().len(), 4);
    std::fs::remove_dir_all(&dir).ok();
}

/// Processes whose parent is this process and whose command is bpftrace.
fn bpftrace_children() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // pid (comm) state ppid ...
            let Some((head, tail)) = stat.rsplit_once(')') else {
                return false;
            };
            let ppid = tail
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok());
            head.ends_with("(bpftrace") && ppid == Some(me)
        })
        .collect()
}

#[test]
fn bpftrace_arm_runs_and_leaves_no_bpftrace_behind() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // setup.sh installs bpftrace: missing is a broken setup, not a reason to skip.
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("bpftrace").is_file()))
        .unwrap_or(false);
    assert!(found, "bpftrace is not on PATH: run scripts/setup.sh");

    let dir = out_dir("overhead-bpftrace");
    let outcome = run_overhead(
        &config(2, 1000, true),
        &dir,
        Arc::new(AtomicBool::new(false)),
    )
    .expect("overhead run with bpftrace");
    let rows = overhead_csv(&dir);
    check_percentiles(&rows, "probes", 2);
    check_percentiles(&rows, "bpftrace", 2);
    assert_eq!(
        run_dirs(&dir),
        [
            "01-off-r1",
            "02-probes-r1",
            "03-bpftrace-r1",
            "04-off-r2",
            "05-probes-r2",
            "06-bpftrace-r2"
        ]
    );
    let script = std::fs::read_to_string(dir.join("bpftrace.bt")).expect("bpftrace.bt");
    assert!(script.contains(&format!("/pid == {}/", std::process::id())));
    for r in outcome.runs.iter().filter(|r| r.arm.name() == "bpftrace") {
        // bpftrace saw every message of the run (warm-up included) at the syscall layer.
        let n = r
            .bpftrace_events
            .get("sys_enter_sendto")
            .copied()
            .unwrap_or(0);
        assert!(
            n >= 1200,
            "{}: sys_enter_sendto events {n}",
            r.dir.display()
        );
        assert!(r.dir.join("bpftrace.out").is_file());
        let pid = r.bpftrace_pid.expect("bpftrace pid");
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        assert_ne!(comm.trim(), "bpftrace", "bpftrace {pid} still runs");
    }
    assert!(outcome
        .costs
        .iter()
        .any(|c| c.arm == "bpftrace" && c.program == "total" && c.run_count > 0));
    assert_eq!(bpftrace_children(), Vec::<u32>::new());
    std::fs::remove_dir_all(&dir).ok();
}
