//! `uadpbench compare A B` on result directories with known contents: a known shift is found
//! and called worse, equal sets give "no change", conditions that differ come first, and
//! `--fail-if-worse` turns a regression into exit status 1.

use std::path::{Path, PathBuf};
use std::process::Command;

const UADPBENCH: &str = env!("CARGO_BIN_EXE_uadpbench");

fn write_summary(dir: &Path, placement: &str, p50s_us: &[f64]) {
    std::fs::create_dir_all(dir).expect("dir");
    let mut text = String::from(
        "run_id,path,encap,mode,payload_bytes,metric,statistic,value,unit,placement,cpu_a,cpu_b,quality\n",
    );
    for (i, p) in p50s_us.iter().enumerate() {
        let id = format!("udp-udp-pingpong-64B-probes_none-r{}", i + 1);
        for (metric, stat, v, unit) in [
            ("rtt", "p50", p * 1e3, "ns"),
            ("rtt", "p99", p * 2e3, "ns"),
            ("rate", "round_trips_per_second", 1e6 / p, "1/s"),
            ("messages", "sent", 1000.0, "messages"),
            ("messages", "lost", 0.0, "messages"),
        ] {
            text.push_str(&format!(
                "{id},udp,udp,pingpong,64,{metric},{stat},{v},{unit},{placement},0,1,ok\n"
            ));
        }
    }
    std::fs::write(dir.join("summary.csv"), text).expect("summary");
}

fn base(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("uadpbench-cmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn compare(a: &Path, b: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(UADPBENCH)
        .arg("compare")
        .arg(a)
        .arg(b)
        .args(extra)
        .output()
        .expect("compare");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn a_regression_is_found_and_can_fail_the_build() {
    let d = base("shift");
    let (a, b) = (d.join("a"), d.join("b"));
    write_summary(&a, "cross-cpu", &[10.0, 10.2, 9.9, 10.1]);
    write_summary(&b, "same-cpu", &[12.0, 12.3, 11.8, 12.1]);
    let (code, out, err) = compare(&a, &b, &[]);
    assert_eq!(code, Some(0), "{err}");
    let cond = out
        .find("placement: cross-cpu → same-cpu")
        .expect("conditions listed");
    let table = out.find("configuration").expect("table");
    assert!(cond < table, "differing conditions come first:\n{out}");
    let p50 = out.lines().find(|l| l.contains(" p50 ")).expect("p50 row");
    assert!(p50.contains("+19.9") && p50.ends_with("worse"), "{p50}");
    let rate = out
        .lines()
        .find(|l| l.contains(" rate "))
        .expect("rate row");
    assert!(rate.ends_with("worse"), "a lower rate is worse: {rate}");
    assert!(b.join("compare.csv").is_file());
    let csv = std::fs::read_to_string(b.join("compare.csv")).expect("csv");
    assert!(csv.starts_with(
        "config,statistic,a,b,change_percent,ci_low_percent,ci_high_percent,basis,n_a,n_b,verdict"
    ));
    let (code, _, err) = compare(&a, &b, &["--fail-if-worse", "10"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("worse by more than 10"), "{err}");
    let (code, _, _) = compare(&a, &b, &["--fail-if-worse", "50"]);
    assert_eq!(code, Some(0));
    let (code, _, _) = compare(&a, &b, &["--threshold", "nan"]);
    assert_eq!(code, Some(2));
    std::fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn equal_sets_give_no_change() {
    let d = base("equal");
    let (a, b) = (d.join("a"), d.join("b"));
    write_summary(&a, "cross-cpu", &[10.0, 10.4, 9.7]);
    write_summary(&b, "cross-cpu", &[10.1, 9.8, 10.3]);
    let (code, out, err) = compare(&a, &b, &["--fail-if-worse", "1"]);
    assert_eq!(code, Some(0), "{err}\n{out}");
    assert!(out.contains("0 better, 0 worse, 3 no change"), "{out}");
    assert!(out.contains("conditions: the same"), "{out}");
    std::fs::remove_dir_all(&d).expect("cleanup");
}

#[test]
fn not_a_results_directory_is_a_clear_error() {
    let d = base("none");
    std::fs::create_dir_all(&d).expect("dir");
    let (code, _, err) = compare(&d, &d, &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no summary.csv"), "{err}");
    std::fs::remove_dir_all(&d).expect("cleanup");
}
