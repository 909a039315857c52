//! Inputs a careful, hostile user tries: each must end in a clean refusal (exit status 2, a
//! message saying what to do, nothing set up or left behind) or a correct run — never a panic,
//! a wrapped number, an unbounded read or results of two runs mixed in one directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const UADPBENCH: &str = env!("CARGO_BIN_EXE_uadpbench");

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("uadpbench-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ub(args: &[&str]) -> Output {
    Command::new(UADPBENCH)
        .args(args)
        .output()
        .expect("run uadpbench")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// uadpbench namespaces that exist now.
fn namespaces() -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("uadpbench-"))
        .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn extreme_numbers_are_refused_before_setup() {
    let before = namespaces();
    for args in [
        &["--count", "1000000000000"][..],
        &["--count", "18446744073709551615"][..],
        &["--mode", "cyclic", "--interval-us", "18446744073709551615"][..],
        &["--mode", "cyclic", "--interval-us", "0"][..],
        &["--mode", "flood", "--duration", "nan"][..],
        &["--mode", "flood", "--duration", "1e300"][..],
        &["--mode", "flood", "--duration", "inf"][..],
        &["--mode", "flood", "--duration", "2", "--batch", "0"][..],
        &["--fifo", "200"][..],
        &["--mtu", "100000"][..],
        &["--payload", "65000"][..],
        &["--timeout-ms", "0"][..],
        &["--warmup", "99999999999"][..],
    ] {
        let dir = tmp("extreme");
        let mut a = vec!["run", "--path", "udp"];
        a.extend_from_slice(args);
        let dir_s = dir.display().to_string();
        a.extend_from_slice(&["--out", &dir_s]);
        let t = Instant::now();
        let o = ub(&a);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        // One message per problem.
        let lines: Vec<&str> = err.lines().collect();
        let mut unique = lines.clone();
        unique.dedup();
        assert_eq!(lines, unique, "{args:?}: repeated message");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{args:?}: refused late"
        );
        assert!(!dir.exists(), "{args:?}: a refused run writes nothing");
    }
    assert_eq!(namespaces(), before, "a refused run left namespaces");
}

#[test]
fn dev_zero_is_refused_within_a_second() {
    for args in [
        &["campaign", "--dry-run", "/dev/zero"][..],
        &["decode", "/dev/zero"][..],
        &["decode", "--pcap", "/dev/zero"][..],
        &["run", "--layout", "/dev/zero"][..],
        &["publish", "--layout-file", "/dev/zero", "--dry-run"][..],
    ] {
        let t = Instant::now();
        let o = ub(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(t.elapsed() < Duration::from_secs(1), "{args:?}");
    }
}

#[test]
fn output_paths_are_checked_before_setup() {
    let dir = tmp("pcapdir");
    std::fs::create_dir_all(&dir).expect("dir");
    let d = dir.display().to_string();
    for (flag, value) in [
        ("--pcap", d.clone()),
        ("--trace", d.clone()),
        ("--pcap", "/etc/hostname/x.pcap".into()),
    ] {
        let out = tmp("pcapout");
        let t = Instant::now();
        let o = ub(&[
            "run",
            "--path",
            "udp",
            "--count",
            "10",
            flag,
            &value,
            "--out",
            &out.display().to_string(),
        ]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stderr(&o));
        assert!(t.elapsed() < Duration::from_secs(5));
        assert!(!out.exists());
    }
    // Nothing beside the directory either (no DIR.tmp).
    assert!(!PathBuf::from(format!("{d}.tmp")).exists());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_second_run_into_the_same_out_is_refused_and_force_replaces() {
    let dir = tmp("sameout");
    let d = dir.display().to_string();
    // A probe run leaves layers.csv …
    let o = ub(&[
        "run", "--path", "udp", "--count", "200", "--warmup", "10", "--probes", "all", "--out", &d,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("layers.csv").is_file());
    let first = std::fs::read(dir.join("summary.csv")).expect("summary");
    // … a second run into the same directory is refused and changes nothing …
    let o = ub(&[
        "run", "--path", "udp", "--count", "100", "--warmup", "10", "--out", &d,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(dir.join("summary.csv")).expect("summary"),
        first
    );
    // … and with --force replaces it whole: no stale probe file of the first run stays.
    let o = ub(&[
        "run", "--path", "udp", "--count", "100", "--warmup", "10", "--out", &d, "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !dir.join("layers.csv").exists(),
        "stale layers.csv of the first run"
    );
    assert!(!dir.join("segments.csv").exists());
    let text = std::fs::read_to_string(dir.join("summary.csv")).expect("summary");
    assert!(
        text.lines().any(|l| l.contains(",messages,sent,100.0,")),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

fn write_campaign(path: &Path, name: &str, count: u32) {
    std::fs::write(
        path,
        format!(
            "name = \"{name}\"\n[matrix]\npaths = [\"udp\"]\nmodes = [\"pingpong\"]\npayload_bytes = [64]\n[run]\ncount = {count}\nwarmup = 10\n"
        ),
    )
    .expect("write campaign");
}

#[test]
fn campaigns_are_not_mixed_and_stay_in_results() {
    let base = tmp("campaign");
    std::fs::create_dir_all(&base).expect("dir");
    let file = base.join("c.toml");
    write_campaign(&file, "hostile", 200);
    let out = base.join("out");
    let (f, o) = (file.display().to_string(), out.display().to_string());
    let r = ub(&["campaign", &f, "--out", &o]);
    assert!(r.status.success(), "{}", stderr(&r));
    let original = std::fs::read_to_string(out.join("campaign.toml")).expect("campaign.toml");

    // --out of an existing campaign without --resume: refused.
    let r = ub(&["campaign", &f, "--out", &o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(stderr(&r).contains("--resume"), "{}", stderr(&r));

    // A resume with other settings: refused, the difference shown, nothing overwritten.
    write_campaign(&file, "hostile", 300);
    let r = ub(&["campaign", &f, "--resume", &o]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));
    assert!(
        stderr(&r).contains("run.count: 200 → 300"),
        "{}",
        stderr(&r)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("campaign.toml")).expect("campaign.toml"),
        original
    );
    // The same settings with another comment resume fine.
    std::fs::write(&file, format!("# a comment\n{original}")).expect("write");
    let r = ub(&["campaign", &f, "--resume", &o]);
    assert!(r.status.success(), "{}", stderr(&r));

    // Names that would write outside results/ are refused.
    for bad in ["../../escaped", "/abs/path"] {
        write_campaign(&file, bad, 10);
        let r = ub(&["campaign", "--dry-run", &f]);
        assert_eq!(r.status.code(), Some(2), "{bad}: {}", stderr(&r));
        assert!(
            stderr(&r).contains("names the results directory"),
            "{}",
            stderr(&r)
        );
    }
    std::fs::remove_dir_all(&base).expect("cleanup");
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::process::Stdio;
    for args in [&["probes", "list"][..], &["doctor"][..], &["--help"][..]] {
        let mut child = Command::new(UADPBENCH)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        // Close the read end at once, like `| head -0`.
        drop(child.stdout.take());
        let o = child.wait_with_output().expect("wait");
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(o.status.success(), "{args:?}: {:?} {err}", o.status);
    }
}

/// More messages than the probes keep stamps for: said before the run, and the printed layer
/// summary agrees with probe_layers.csv instead of claiming every packet was stamped.
#[test]
fn probe_coverage_is_not_claimed_beyond_the_slots() {
    let dir = tmp("coverage");
    let d = dir.display().to_string();
    let o = ub(&[
        "run", "--path", "udp", "--count", "140000", "--warmup", "1000", "--probes", "all",
        "--out", &d,
    ]);
    let (out, err) = (String::from_utf8_lossy(&o.stdout), stderr(&o));
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("only about the last 131072 packets are stamped"),
        "no warning before the run: {err}"
    );
    let mut rd = csv::Reader::from_path(dir.join("probe_layers.csv")).expect("probe_layers.csv");
    let h = rd.headers().expect("header").clone();
    let col = |n: &str| h.iter().position(|x| x == n).expect(n);
    let (layer, cov0, cov1) = (
        col("layer"),
        col("coverage_crossing0"),
        col("coverage_crossing1"),
    );
    let mut low = Vec::new();
    for rec in rd.records() {
        let rec = rec.expect("row");
        for (c, i) in [(0, cov0), (1, cov1)] {
            if let Ok(v) = rec[i].parse::<f64>() {
                if v < 0.99 {
                    low.push((rec[layer].to_owned(), c));
                }
            }
        }
    }
    assert!(
        !low.is_empty(),
        "140 000 packets cannot all be stamped in 131 072 slots"
    );
    for (l, c) in &low {
        assert!(
            out.contains(&format!("{l} (crossing {c})")),
            "{l} crossing {c} has low coverage in probe_layers.csv but the summary does not say so:\n{out}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A small tmpfs mounted for one test, unmounted (and its mount point removed) on drop.
struct SmallDisk {
    dir: PathBuf,
}

impl SmallDisk {
    fn mount(name: &str, bytes: u64) -> SmallDisk {
        let dir = tmp(name);
        std::fs::create_dir_all(&dir).expect("mount point");
        let st = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes}"),
                "uadpbench-test",
            ])
            .arg(&dir)
            .status()
            .expect("mount");
        assert!(
            st.success(),
            "mount tmpfs on {}: needs root (sudo scripts/test.sh)",
            dir.display()
        );
        SmallDisk { dir }
    }

    /// Files under the disk that an interrupted write left: `*.tmp`, and SVGs that are empty
    /// or cut short (no closing `</svg>`).
    fn partial_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut stack = vec![self.dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("read_dir").flatten() {
                let p = e.path();
                let meta = e.metadata().expect("metadata");
                if meta.is_dir() {
                    stack.push(p);
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                let cut_svg = name.ends_with(".svg")
                    && !std::fs::read_to_string(&p)
                        .unwrap_or_default()
                        .trim_end()
                        .ends_with("</svg>");
                if name.ends_with(".tmp") || cut_svg {
                    found.push(p);
                }
            }
        }
        found
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Fills the file system holding `dir` (one file, written until ENOSPC), then gives `spare`
/// bytes back.
fn fill(dir: &Path, spare: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(dir.join("filler")).expect("filler");
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let len = f.metadata().expect("filler size").len();
    f.set_len(len.saturating_sub(spare))
        .expect("truncate filler");
}

#[test]
fn a_full_disk_leaves_no_partial_files() {
    // A run whose samples do not fit: it fails, says why, and leaves no NAME.tmp behind.
    let disk = SmallDisk::mount("fulldisk-run", 48 * 1024);
    let out = disk.dir.join("run");
    let o = ub(&[
        "run",
        "--path",
        "udp",
        "--count",
        "5000",
        "--warmup",
        "10",
        "--out",
        &out.display().to_string(),
    ]);
    let err = stderr(&o);
    // Exit status 2: an error (main.rs's convention), not a crash (134) or success.
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(disk.partial_files(), Vec::<PathBuf>::new(), "{err}");
    drop(disk);

    // A report whose plots do not fit: no empty or half SVG, no .tmp.
    let src = tmp("fulldisk-src");
    let o = ub(&[
        "run",
        "--path",
        "udp",
        "--count",
        "300",
        "--warmup",
        "10",
        "--out",
        &src.display().to_string(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let disk = SmallDisk::mount("fulldisk-report", 4 * 1024 * 1024);
    let run = disk.dir.join("run");
    std::fs::create_dir_all(&run).expect("run dir");
    for e in std::fs::read_dir(&src).expect("src").flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), run.join(e.file_name())).expect("copy");
        }
    }
    // Room for verdict.md (one page), not for the first plot.
    fill(&disk.dir, 8192);
    let o = ub(&["report", &run.display().to_string()]);
    let err = stderr(&o);
    assert!(run.join("verdict.md").is_file(), "{err}");
    assert_eq!(o.status.code(), Some(2), "report on a full disk: {err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(disk.partial_files(), Vec::<PathBuf>::new(), "{err}");
    std::fs::remove_dir_all(&src).expect("cleanup");
}

/// Runs uadpbench through a shell that first sets `ulimit` (e.g. `-n 20`, or `-S -n 20`).
fn ub_limited(limit: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit {limit} && exec \"$0\" \"$@\""))
        .arg(UADPBENCH)
        .args(args)
        .output()
        .expect("run uadpbench under ulimit")
}

#[test]
fn too_few_open_files_is_refused_before_setup() {
    let before = namespaces();
    // Hard limit 20: nothing can raise it, so the run is refused before any namespace exists
    // (it used to fail halfway with "interface not found" and leave namespaces behind).
    for path in ["udp", "eth", "xdp"] {
        let dir = tmp("fewfds");
        let d = dir.display().to_string();
        let o = ub_limited(
            "-n 20",
            &["run", "--path", path, "--count", "50", "--out", &d],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{path}: {err}");
        assert!(err.contains("open-file limit is 20"), "{path}: {err}");
        assert!(err.contains("ulimit -n"), "{path}: {err}");
        assert!(!dir.exists(), "{path}: a refused run writes nothing");
    }
    assert_eq!(namespaces(), before, "a refused run left namespaces");
    // Soft limit 20 under a higher hard limit: raised, and the run completes.
    let dir = tmp("fewfds-soft");
    let d = dir.display().to_string();
    let o = ub_limited(
        "-S -n 20",
        &[
            "run", "--path", "xdp", "--count", "50", "--warmup", "10", "--out", &d,
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(dir.join("summary.csv").is_file());
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

/// Runs uadpbench as the unprivileged user `nobody`.
fn ub_as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            UADPBENCH,
        ])
        .args(args)
        .output()
        .expect("setpriv (util-linux)")
}

#[test]
fn without_privileges_nothing_is_started_or_written() {
    let before = namespaces();
    let dir = tmp("nonroot");
    let d = dir.display().to_string();
    let o = ub_as_nobody(&["run", "--path", "udp", "--count", "50", "--out", &d]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("root"), "{err}");
    assert!(
        !dir.exists(),
        "a refused run leaves no (empty) --out: {err}"
    );

    // A campaign stops at once instead of trying every run.
    let file = tmp("nonroot-campaign.toml");
    write_campaign(&file, "nonroot", 50);
    let t = Instant::now();
    let o = ub_as_nobody(&["campaign", &file.display().to_string()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("root"), "{err}");
    assert!(!err.contains("run 2"), "tried the runs: {err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{err}");
    assert_eq!(namespaces(), before);
    let _ = std::fs::remove_file(&file);
}
