//! Controlled conditions of a run: the PM QoS CPU latency request is held while the run is
//! timed and released when it ends (also when it is interrupted with SIGINT or SIGTERM), the
//! threads sit where the placement says, and meta.json / summary.csv record it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const UADPBENCH: &str = env!("CARGO_BIN_EXE_uadpbench");

/// The PM QoS value is machine-wide: the tests that read it take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("uadpbench-e2e-cond-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The CPU latency limit in force (µs): the strictest request of all processes.
fn cpu_dma_latency() -> i32 {
    let mut f = std::fs::File::open("/dev/cpu_dma_latency")
        .expect("/dev/cpu_dma_latency (the tests run as root)");
    let mut b = [0u8; 4];
    f.read_exact(&mut b).expect("read the PM QoS value");
    i32::from_ne_bytes(b)
}

fn start_run(dir: &Path, count: u64, extra: &[&str]) -> Child {
    Command::new(UADPBENCH)
        .args([
            "run", "--path", "udp", "--mode", "pingpong", "--warmup", "100",
        ])
        .args(["--count", &count.to_string()])
        .args(extra)
        .arg("--out")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start uadpbench run")
}

/// Polls the PM QoS value until `cond` holds or `limit` passes.
fn wait_for(limit: Duration, mut cond: impl FnMut(i32) -> bool) -> Option<i32> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        let v = cpu_dma_latency();
        if cond(v) {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn meta(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
        .expect("meta.json parses")
}

#[test]
fn pm_qos_is_held_while_timed_and_released_after() {
    let _serial = serial();
    let baseline = cpu_dma_latency();
    assert!(
        baseline > 0,
        "another process holds /dev/cpu_dma_latency at {baseline}: cannot tell this run's request apart"
    );
    let dir = out_dir("pmqos");
    let child = start_run(&dir, 30_000, &[]);
    let held = wait_for(Duration::from_secs(20), |v| v == 0);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(held, Some(0), "the run never held PM QoS at 0");
    assert_eq!(
        cpu_dma_latency(),
        baseline,
        "PM QoS not released after the run"
    );

    let m = meta(&dir);
    let c = &m["conditions"];
    assert_eq!(c["placement"]["placement"], "cross-cpu", "{c}");
    let (a, b) = (&c["placement"]["cpu_a"], &c["placement"]["cpu_b"]);
    assert!(a.is_u64() && b.is_u64() && a != b, "{c}");
    assert_eq!(c["idle_latency_us"], "0");
    assert!(c["machine"]["clocksource"].is_string(), "{c}");
    assert!(c["machine"].get("cpuidle_driver").is_some(), "{c}");
    assert!(c["machine"]["kernel_cmdline"].is_string(), "{c}");
    assert!(c["idle_during_run"].is_array());
    let threads = c["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 2, "{c}");
    for t in threads {
        // Pinned threads stay where they were put.
        assert_eq!(t["migrations"], 0, "{t}");
        assert_eq!(t["first_cpu"], t["last_cpu"], "{t}");
    }
    assert!(c["quality"].is_string());
    // summary.csv carries the placement, the CPUs and the quality on every row.
    let mut r = csv::Reader::from_path(dir.join("summary.csv")).expect("summary.csv");
    let h = r.headers().expect("header").clone();
    let col = |n: &str| h.iter().position(|x| x == n).expect(n);
    let (pl, ca, cb, q) = (col("placement"), col("cpu_a"), col("cpu_b"), col("quality"));
    for rec in r.records() {
        let rec = rec.expect("row");
        assert_eq!(&rec[pl], "cross-cpu");
        assert_eq!(rec[ca].parse::<u64>().ok(), a.as_u64());
        assert_eq!(rec[cb].parse::<u64>().ok(), b.as_u64());
        assert!(!rec[q].is_empty());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pm_qos_is_released_on_sigint_and_sigterm() {
    let _serial = serial();
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let baseline = cpu_dma_latency();
        let dir = out_dir(&format!("sig{sig}"));
        let child = start_run(&dir, 10_000_000, &[]);
        let held = wait_for(Duration::from_secs(20), |v| v == 0);
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let out = child.wait_with_output().expect("wait");
        assert_eq!(held, Some(0), "signal {sig}: PM QoS never held");
        assert_eq!(
            out.status.code(),
            Some(130),
            "signal {sig}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            cpu_dma_latency(),
            baseline,
            "signal {sig}: PM QoS still held after the run ended"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn idle_latency_off_holds_nothing_and_placement_none_is_recorded() {
    let _serial = serial();
    let baseline = cpu_dma_latency();
    let dir = out_dir("off");
    let mut child = start_run(
        &dir,
        20_000,
        &["--idle-latency-us", "off", "--placement", "none"],
    );
    let mut seen = i32::MAX;
    while child.try_wait().expect("try_wait").is_none() {
        seen = seen.min(cpu_dma_latency());
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        seen, baseline,
        "--idle-latency-us off must not request anything"
    );
    let m = meta(&dir);
    assert_eq!(m["conditions"]["idle_latency_us"], "off");
    assert_eq!(m["conditions"]["placement"]["placement"], "none");
    assert!(m["conditions"]["placement"]["cpu_a"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unusable_cpus_are_refused_before_setup() {
    for args in [
        &["--cpu-a", "4096"][..],
        &["--placement", "cross-cpu", "--cpu-a", "0", "--cpu-b", "0"][..],
        &["--idle-latency-us", "-1"][..],
        &["--placement", "sideways"][..],
    ] {
        let dir = out_dir("refused");
        let out = Command::new(UADPBENCH)
            .args(["run", "--path", "udp", "--count", "10"])
            .args(args)
            .arg("--out")
            .arg(&dir)
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!dir.exists(), "{args:?}: refused runs write nothing");
    }
}
