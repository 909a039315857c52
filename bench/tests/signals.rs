//! A run killed at a random moment leaves the machine as it found it: SIGINT, SIGTERM and
//! SIGHUP end the run cleanly (topology removed, result files complete); after SIGKILL,
//! `uadpbench cleanup` removes what the dead run left. Every CSV left behind parses, and
//! `bpftool prog`/`bpftool link` show none of the run's BPF programs (XDP program, probes) or
//! links, nothing is pinned under /sys/fs/bpf, and `kernel.bpf_stats_enabled` is back to what
//! it was.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use uadpbench_topology::find_leftovers;

/// The two tests load BPF programs and compare bpftool snapshots: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Program names of uadpbench's BPF objects (probes-ebpf, xdp-ebpf) as the kernel shows them.
fn ours(name: &str) -> bool {
    [
        "tp_",
        "btf_",
        "fentry_",
        "kprobe_",
        "uprobe_",
        "uadpbench_xdp",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

fn bpftool(what: &str) -> Vec<serde_json::Value> {
    let out = Command::new("bpftool")
        .args(["-j", what, "show"])
        .output()
        .unwrap_or_else(|e| panic!("bpftool (scripts/setup.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "bpftool {what} show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() {
        return Vec::new();
    }
    serde_json::from_str::<Vec<serde_json::Value>>(&text).expect("bpftool JSON")
}

/// Ids of loaded BPF programs with uadpbench's names.
fn our_programs() -> std::collections::BTreeSet<u64> {
    bpftool("prog")
        .iter()
        .filter(|p| p["name"].as_str().is_some_and(ours))
        .filter_map(|p| p["id"].as_u64())
        .collect()
}

fn bpf_stats_enabled() -> String {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// What the run loaded while it ran (programs new since `before`), once it has loaded some.
fn programs_of_the_run(
    before: &std::collections::BTreeSet<u64>,
) -> std::collections::BTreeSet<u64> {
    let t0 = Instant::now();
    loop {
        let now: std::collections::BTreeSet<u64> =
            our_programs().difference(before).copied().collect();
        if !now.is_empty() || t0.elapsed() > Duration::from_secs(15) {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// None of `progs` is loaded any more (programs are freed shortly after their last
/// reference), no link points at one, nothing of ours is pinned, bpf_stats is as before.
fn assert_no_bpf_left(progs: &std::collections::BTreeSet<u64>, stats_before: &str) {
    let t0 = Instant::now();
    loop {
        let alive: Vec<u64> = our_programs().intersection(progs).copied().collect();
        let links: Vec<u64> = bpftool("link")
            .iter()
            .filter(|l| l["prog_id"].as_u64().is_some_and(|p| progs.contains(&p)))
            .filter_map(|l| l["id"].as_u64())
            .collect();
        if alive.is_empty() && links.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "still loaded: programs {alive:?}, links {links:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pinned: Vec<String> = std::fs::read_dir("/sys/fs/bpf")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("uadpbench"))
                .collect()
        })
        .unwrap_or_default();
    assert!(pinned.is_empty(), "pinned under /sys/fs/bpf: {pinned:?}");
    assert_eq!(
        bpf_stats_enabled(),
        stats_before,
        "kernel.bpf_stats_enabled"
    );
}

fn start_run(out: &Path, path: &str, probes: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_uadpbench"))
        .args([
            "run",
            "--path",
            path,
            "--probes",
            probes,
            "--mode",
            "cyclic",
            "--count",
            "100000",
            "--warmup",
            "0",
            "--interval-us",
            "1000",
            "--out",
        ])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start uadpbench run")
}

fn leftovers_of(pid: u32) -> Vec<String> {
    find_leftovers()
        .expect("list leftovers")
        .into_iter()
        .filter(|l| l.owner_pid == Some(pid))
        .map(|l| l.name)
        .collect()
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Every *.csv in `dir` parses completely with a consistent number of columns.
fn assert_csvs_parse(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "csv") {
            let mut r = csv::Reader::from_path(&p).expect("open csv");
            for rec in r.records() {
                rec.unwrap_or_else(|err| panic!("{} does not parse: {err}", p.display()));
            }
        }
    }
}

/// A pseudo-random delay in [200, 1500) ms, different every run (the seed is printed).
fn random_delay(salt: u64) -> Duration {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let ms = 200 + (seed >> 7) % 1300;
    eprintln!("signal after {ms} ms (seed {seed})");
    Duration::from_millis(ms)
}

#[test]
fn catchable_signals_end_the_run_cleanly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Each signal on another path, with the probes on: XDP program, AF_XDP and AF_PACKET
    // sockets, tracepoint and tp_btf probes, bpf_stats are all live when the signal comes.
    for (i, (sig, path)) in [
        (libc::SIGINT, "xdp"),
        (libc::SIGTERM, "eth"),
        (libc::SIGHUP, "udp"),
    ]
    .into_iter()
    .enumerate()
    {
        let out =
            std::env::temp_dir().join(format!("uadpbench-signal-{}-{sig}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let (before, stats_before) = (our_programs(), bpf_stats_enabled());
        let mut child = start_run(&out, path, "all");
        let pid = child.id();
        let progs = programs_of_the_run(&before);
        assert!(!progs.is_empty(), "the {path} run loaded no BPF program");
        std::thread::sleep(random_delay(i as u64));
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
        let status = wait_with_timeout(&mut child, Duration::from_secs(20)).unwrap_or_else(|| {
            let _ = child.kill();
            panic!("run did not end within 20 s of signal {sig}")
        });
        assert!(
            !status.success(),
            "an interrupted run must not report success"
        );
        assert!(
            leftovers_of(pid).is_empty(),
            "signal {sig} left {:?}",
            leftovers_of(pid)
        );
        assert_no_bpf_left(&progs, &stats_before);
        assert_csvs_parse(&out);
        if out.join("meta.json").exists() {
            let meta: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(out.join("meta.json")).expect("meta"),
            )
            .expect("meta.json parses");
            assert_eq!(meta["interrupted"], true);
        }
        let _ = std::fs::remove_dir_all(&out);
    }
}

#[test]
fn sigkill_then_cleanup_removes_everything() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let out = std::env::temp_dir().join(format!("uadpbench-sigkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (before, stats_before) = (our_programs(), bpf_stats_enabled());
    let mut child = start_run(&out, "xdp", "all");
    let pid = child.id();
    let progs = programs_of_the_run(&before);
    assert!(!progs.is_empty(), "the xdp run loaded no BPF program");
    // Wait until the topology exists, then kill at a random moment.
    let t0 = Instant::now();
    while leftovers_of(pid).is_empty() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(random_delay(99));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    assert!(
        !leftovers_of(pid).is_empty(),
        "a SIGKILLed run cannot clean up: leftovers expected"
    );
    let cleanup = Command::new(env!("CARGO_BIN_EXE_uadpbench"))
        .arg("cleanup")
        .output()
        .expect("cleanup");
    assert!(
        cleanup.status.success(),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );
    let said = String::from_utf8_lossy(&cleanup.stdout);
    assert!(
        said.contains("removed"),
        "cleanup reports what it removed: {said}"
    );
    assert!(
        leftovers_of(pid).is_empty(),
        "after cleanup: {:?}",
        leftovers_of(pid)
    );
    assert_no_bpf_left(&progs, &stats_before);
    assert_csvs_parse(&out);
    let _ = std::fs::remove_dir_all(&out);
}
