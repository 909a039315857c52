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

    // Interrupt after about a second: some runs finished, some not.
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
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
    let counts: std::collections::BTreeSet<usize> = per_run.values().copied().collect();
    assert!(
        counts.len() <= 2,
        "pingpong and cyclic runs have fixed row counts: {counts:?}"
    );
    let samples = csv::Reader::from_path(dir.join("samples.csv"))
        .expect("samples.csv")
        .records()
        .count();
    assert_eq!(samples, total * 500, "500 measured messages per run");

    // The report compares the configurations and draws readable plots.
    let data = uadpbench::report::load(&dir).expect("report loads the campaign");
    assert_eq!(data.len(), 4, "pingpong/cyclic × 64/256 B");
    assert!(data
        .values()
        .all(|d| d.runs == 2 && d.latency.len() == 1000));
    let table = uadpbench::report::table(&data);
    assert_eq!(table.len(), 5);
    let files = uadpbench::report::plots(&dir, &data).expect("plots");
    assert_eq!(files.len(), 4 + 2, "4 CDFs + 2 cyclic jitter histograms");
    for f in &files {
        let svg = std::fs::read_to_string(f).expect("svg");
        assert!(
            svg.contains("<svg") && svg.contains("µs"),
            "{} lacks axis units",
            f.display()
        );
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
    assert!(err.to_string().contains("different campaign file"));
    std::fs::remove_dir_all(&dir).ok();
}
