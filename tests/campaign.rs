//! The smoke campaign end to end: interrupted midway, then resumed; nothing finished is lost
//! or redone, and the top-level tables cover every run exactly once.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use uadpbench::campaign::Campaign;
use uadpbench::campaign_run::{run_campaign, CampaignOptions};

fn runs_csv(dir: &Path) -> Vec<(String, String)> {
    let mut r = csv::Reader::from_path(dir.join("runs.csv")).expect("runs.csv");
    let h = r.headers().expect("header").clone();
    let id = h.iter().position(|c| c == "run_id").expect("run_id column");
    let status = h.iter().position(|c| c == "status").expect("status column");
    r.records()
        .map(|x| x.expect("row"))
        .map(|x| (x[id].to_owned(), x[status].to_owned()))
        .collect()
}

#[test]
fn interrupted_smoke_campaign_resumes_without_losing_or_redoing_runs() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns/smoke.toml");
    let (campaign, text) = Campaign::load(&file).expect("smoke campaign parses");
    let total = campaign.expand().len();
    let dir = std::env::temp_dir().join(format!("uadpbench-e2e-campaign-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);

    // Interrupt as soon as the second run has finished: some runs done, most not.
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let runs_dir = dir.join("runs");
    let killer = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        loop {
            let done = std::fs::read_dir(&runs_dir)
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter(|e| e.path().join("meta.json").is_file())
                        .count()
                })
                .unwrap_or(0);
            if done >= 2 || t0.elapsed() > Duration::from_secs(60) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        s.store(true, Ordering::Relaxed);
    });
    let first = run_campaign(
        &campaign,
        &text,
        &CampaignOptions {
            out: Some(dir.clone()),
            ..Default::default()
        },
        stop,
    )
    .expect("first attempt");
    killer.join().expect("killer");
    assert!(first.interrupted);
    let done_first: Vec<String> = runs_csv(&dir)
        .into_iter()
        .filter(|(_, s)| s == "ok")
        .map(|(id, _)| id)
        .collect();
    assert!(
        !done_first.is_empty() && done_first.len() < total,
        "{} of {total} done",
        done_first.len()
    );
    let mtimes: Vec<_> = done_first
        .iter()
        .map(|id| {
            let d = std::fs::read_dir(dir.join("runs"))
                .expect("runs dir")
                .map(|e| e.expect("entry").path())
                .find(|p| p.to_string_lossy().ends_with(id.as_str()))
                .expect("run dir of a finished run");
            std::fs::metadata(d.join("summary.csv"))
                .expect("summary")
                .modified()
                .expect("mtime")
        })
        .collect();

    // Resume: every run ends ok, the finished ones untouched.
    let resumed = run_campaign(
        &campaign,
        &text,
        &CampaignOptions {
            resume: Some(dir.clone()),
            ..Default::default()
        },
        Arc::new(AtomicBool::new(false)),
    )
    .expect("resume");
    assert!(!resumed.interrupted);
    let rows = runs_csv(&dir);
    assert_eq!(rows.len(), total);
    assert!(rows.iter().all(|(_, s)| s == "ok"), "{rows:?}");
    for (id, before) in done_first.iter().zip(mtimes) {
        let d = std::fs::read_dir(dir.join("runs"))
            .expect("runs dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.to_string_lossy().ends_with(id.as_str()))
            .expect("run dir");
        let after = std::fs::metadata(d.join("summary.csv"))
            .expect("summary")
            .modified()
            .expect("mtime");
        assert_eq!(before, after, "{id} was redone");
    }
    // Top-level tables: each run's rows exactly once.
    let mut summary = csv::Reader::from_path(dir.join("summary.csv")).expect("summary.csv");
    let mut per_run = std::collections::HashMap::<String, usize>::new();
    for rec in summary.records() {
        *per_run.entry(rec.expect("row")[0].to_owned()).or_default() += 1;
    }
    assert_eq!(per_run.len(), total);
    // Runs of one mode and probe set have one row count (a probe run adds its probe cost
    // and compensated latency): a duplicated run would stand out.
    let mut counts: std::collections::BTreeMap<(bool, bool), std::collections::BTreeSet<usize>> =
        Default::default();
    for (id, n) in &per_run {
        counts
            .entry((id.contains("pingpong"), id.contains("probes_none")))
            .or_default()
            .insert(*n);
    }
    assert!(
        counts.values().all(|c| c.len() == 1),
        "runs of one mode and probe set have one row count: {counts:?}"
    );
    let samples = csv::Reader::from_path(dir.join("samples.csv"))
        .expect("samples.csv")
        .records()
        .count();
    assert_eq!(samples, total * 500, "500 measured messages per run");

    // The report compares the configurations and draws readable plots.
    let data = uadpbench::report::load(&dir).expect("report loads the campaign");
    assert_eq!(data.len(), 8, "pingpong/cyclic × 64/256 B × probes off/on");
    assert!(data
        .values()
        .all(|d| d.runs == 2 && d.latency.len() == 1000));
    let table = uadpbench::report::table(&data);
    assert_eq!(table.len(), 9);
    let files = uadpbench::report::plots(&dir, &data).expect("plots");
    assert_eq!(
        files.len(),
        4 + 4 + 4 + 1,
        "4 CDFs, 4 cyclic jitter histograms, 4 stacked-segment plots, the overhead bars"
    );
    check_overhead(&dir);
    let lines = uadpbench::report::overhead_table(&dir).expect("overhead table");
    assert_eq!(
        lines.len(),
        3 + 4 * 3,
        "heading + p50/p99 and the compensated p50 of 4 workloads"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("rtt_compensated p50") || l.contains("one_way_compensated p50"))
            .count(),
        4,
        "{lines:#?}"
    );
    for f in &files {
        let svg = std::fs::read_to_string(f).expect("svg");
        assert!(
            svg.contains("<svg") && svg.contains("µs"),
            "{} lacks axis units",
            f.display()
        );
    }

    // Every table matches docs/csv-schema.md: columns in order, types, no empty required cell.
    for (file, schema) in SCHEMAS {
        check_schema(&dir.join(file), schema);
    }

    // Resuming with another file is refused.
    let other = text.replace("seed = 1", "seed = 2");
    let other_c = Campaign::parse(&other, "other").expect("parses");
    let err = run_campaign(
        &other_c,
        &other,
        &CampaignOptions {
            resume: Some(dir.clone()),
            ..Default::default()
        },
        Arc::new(AtomicBool::new(false)),
    )
    .expect_err("different campaign file");
    let msg = err.to_string();
    assert!(
        msg.contains("was started with a different campaign"),
        "{msg}"
    );
    assert!(msg.contains("order.seed: 1 → 2"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
}

/// overhead.csv pairs each probes-on run with the probes-off run of the same workload and
/// repetition: 4 workloads, 2 pairs each, and the means are those of the runs' summaries.
fn check_overhead(dir: &Path) {
    #[derive(serde::Deserialize)]
    struct Row {
        mode: String,
        payload_bytes: usize,
        metric: String,
        statistic: String,
        arm: String,
        probes: String,
        repetitions: usize,
        mean_off: f64,
        mean_arm: f64,
        delta: f64,
        ci_low: f64,
        ci_high: f64,
    }
    let rows: Vec<Row> = csv::Reader::from_path(dir.join("overhead.csv"))
        .expect("campaign overhead.csv")
        .deserialize()
        .collect::<Result<_, _>>()
        .expect("overhead rows");
    let mut workloads = std::collections::BTreeSet::new();
    for r in &rows {
        workloads.insert((r.mode.clone(), r.payload_bytes));
        assert_eq!((r.arm.as_str(), r.probes.as_str()), ("probes", "all"));
        assert_eq!(r.repetitions, 2, "{} {}", r.metric, r.statistic);
        assert!((r.delta - (r.mean_arm - r.mean_off)).abs() < 1e-6 * r.mean_off.abs().max(1.0));
        assert!(r.ci_low <= r.delta && r.delta <= r.ci_high);
    }
    assert_eq!(workloads.len(), 4);
    // mean_off of the 64 B ping-pong rtt p50 = mean of the two probes-off runs' p50.
    let mut summary = csv::Reader::from_path(dir.join("summary.csv")).expect("summary.csv");
    let off: Vec<f64> = summary
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| {
            r[0].starts_with("udp-udp-pingpong-64B-probes_none-r")
                && &r[5] == "rtt"
                && &r[6] == "p50"
        })
        .map(|r| r[7].parse::<f64>().expect("value"))
        .collect();
    assert_eq!(off.len(), 2);
    let row = rows
        .iter()
        .find(|r| {
            r.mode == "pingpong"
                && r.payload_bytes == 64
                && r.metric == "rtt"
                && r.statistic == "p50"
        })
        .expect("rtt p50 row of 64 B ping-pong");
    assert!((row.mean_off - (off[0] + off[1]) / 2.0).abs() < 1e-6 * row.mean_off);
}

/// Column type in a schema: `Some(kind)`, with `?` meaning the cell may be empty.
type Schema = &'static [(&'static str, &'static str)];

const SCHEMAS: &[(&str, Schema)] = &[
    (
        "runs.csv",
        &[
            ("index", "int"),
            ("run_id", "str"),
            ("repetition", "int"),
            ("path", "str"),
            ("encap", "str"),
            ("mode", "str"),
            ("payload_bytes", "int"),
            ("interval_us", "int?"),
            ("probes", "str"),
            ("layout", "str"),
            ("count", "int"),
            ("warmup", "int"),
            ("duration_s", "float?"),
            ("status", "str"),
            ("error", "str?"),
            ("sent", "int?"),
            ("received", "int?"),
            ("lost", "int?"),
            ("reordered", "int?"),
            ("duplicated", "int?"),
            ("decode_errors", "int?"),
            ("dir", "str"),
        ],
    ),
    (
        "summary.csv",
        &[
            ("run_id", "str"),
            ("path", "str"),
            ("encap", "str"),
            ("mode", "str"),
            ("payload_bytes", "int"),
            ("metric", "str"),
            ("statistic", "str"),
            ("value", "float"),
            ("unit", "str"),
            ("placement", "str"),
            ("cpu_a", "int?"),
            ("cpu_b", "int?"),
            ("quality", "str"),
        ],
    ),
    (
        "samples.csv",
        &[
            ("run_id", "str"),
            ("seq", "int"),
            ("packet_id", "int"),
            ("t_send_ns", "int"),
            ("t_recv_ns", "int?"),
            ("rtt_ns", "int?"),
            ("one_way_ns", "int?"),
            ("send_deviation_ns", "int?"),
            ("lost", "bool"),
        ],
    ),
    (
        "layers.csv",
        &[
            ("run_id", "str"),
            ("seq", "int"),
            ("packet_id", "int"),
            ("layer", "str"),
            ("layer_index", "int"),
            ("crossing", "int"),
            ("t_ns", "int"),
            ("cpu", "int"),
            ("tid", "int"),
        ],
    ),
    (
        "segments.csv",
        &[
            ("run_id", "str"),
            ("path", "str"),
            ("encap", "str"),
            ("mode", "str"),
            ("payload_bytes", "int"),
            ("segment_index", "int"),
            ("from_layer", "str"),
            ("from_crossing", "int"),
            ("to_layer", "str"),
            ("to_crossing", "int"),
            ("statistic", "str"),
            ("value", "float"),
            ("unit", "str"),
            ("compensated_value", "float?"),
        ],
    ),
    (
        "probe_cost.csv",
        &[
            ("run_id", "str"),
            ("program", "str"),
            ("role", "str"),
            ("mechanism", "str"),
            ("run_count", "int"),
            ("run_time_ns", "int"),
            ("ns_per_run", "float?"),
            ("missed_runs", "int"),
            ("events_recorded", "int"),
            ("events_lost", "int"),
            ("side", "str"),
        ],
    ),
    (
        "overhead.csv",
        &[
            ("path", "str"),
            ("encap", "str"),
            ("mode", "str"),
            ("payload_bytes", "int"),
            ("interval_us", "int?"),
            ("metric", "str"),
            ("statistic", "str"),
            ("arm", "str"),
            ("probes", "str"),
            ("repetitions", "int"),
            ("mean_off", "float"),
            ("mean_arm", "float"),
            ("delta", "float"),
            ("ci_low", "float"),
            ("ci_high", "float"),
            ("unit", "str"),
            ("placement", "str"),
        ],
    ),
    (
        "probe_layers.csv",
        &[
            ("run_id", "str"),
            ("layer", "str"),
            ("direction", "str"),
            ("layer_index", "int"),
            ("attached", "bool"),
            ("outcome", "str"),
            ("condition", "str?"),
            ("recorded", "int"),
            ("drained", "int"),
            ("overwritten", "int"),
            ("extra_crossings", "int"),
            ("read_failures", "int"),
            ("mismatches", "int"),
            ("stale_matches", "int"),
            ("missed_runs", "int"),
            ("lost", "int"),
            ("coverage_crossing0", "float?"),
            ("coverage_crossing1", "float?"),
            ("chain_hits", "int"),
        ],
    ),
];

fn check_schema(path: &Path, schema: Schema) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header: Vec<String> = r
        .headers()
        .expect("header")
        .iter()
        .map(str::to_owned)
        .collect();
    let want: Vec<&str> = schema.iter().map(|(c, _)| *c).collect();
    assert_eq!(header, want, "{}: columns", path.display());
    let mut rows = 0;
    for rec in r.records() {
        let rec = rec.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        rows += 1;
        for ((col, kind), cell) in schema.iter().zip(rec.iter()) {
            let (kind, optional) = kind.strip_suffix('?').map_or((*kind, false), |k| (k, true));
            if cell.is_empty() {
                assert!(
                    optional,
                    "{}: empty required cell {col} in row {rows}",
                    path.display()
                );
                continue;
            }
            let ok = match kind {
                "int" => cell.parse::<i64>().is_ok(),
                "float" => cell.parse::<f64>().is_ok(),
                "bool" => cell == "true" || cell == "false",
                _ => true,
            };
            assert!(ok, "{}: {col} = {cell:?} is not {kind}", path.display());
        }
    }
    assert!(rows > 0, "{} has no rows", path.display());
}
