//! A run killed at a random moment leaves the machine as it found it: SIGINT, SIGTERM and
//! SIGHUP end the run cleanly (topology removed, result files complete); after SIGKILL,
//! `uadpbench cleanup` removes what the dead run left. Every CSV left behind parses.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use uadpbench_topology::find_leftovers;

fn start_run(out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_uadpbench"))
        .args([
            "run",
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
    for (i, sig) in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        .enumerate()
    {
        let out =
            std::env::temp_dir().join(format!("uadpbench-signal-{}-{sig}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let mut child = start_run(&out);
        let pid = child.id();
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
    let out = std::env::temp_dir().join(format!("uadpbench-sigkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut child = start_run(&out);
    let pid = child.id();
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
    assert_csvs_parse(&out);
    let _ = std::fs::remove_dir_all(&out);
}
