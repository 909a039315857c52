//! `uadpbench campaign`, `report` and `compare`: many runs, and the answers drawn from them.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Args;

use super::conditions::*;

#[derive(Debug, Args)]
pub(crate) struct CompareArgs {
    /// The reference results directory (a run or a campaign).
    a: PathBuf,
    /// The results directory compared with it.
    b: PathBuf,
    /// Smallest change (%) called better or worse when its 95 % CI excludes 0.
    #[arg(long, value_name = "PCT", default_value_t = 3.0)]
    threshold: f64,
    /// Exit with status 1 if any statistic got worse by more than PCT % (for CI scripts).
    #[arg(long, value_name = "PCT")]
    fail_if_worse: Option<f64>,
    /// Where to write the comparison as CSV (default: B/compare.csv).
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CampaignArgs {
    /// The campaign file (TOML), e.g. campaigns/default.toml.
    file: PathBuf,
    /// Results directory (default: results/<name>-<UTC time>).
    #[arg(long, conflicts_with = "resume")]
    out: Option<PathBuf>,
    /// Continue an interrupted campaign in this directory (finished runs are kept).
    #[arg(long, value_name = "DIR")]
    resume: Option<PathBuf>,
    /// Only check the file and list the runs, without running them.
    #[arg(long)]
    dry_run: bool,
    /// Serve Prometheus metrics (per-configuration latency histograms, message and loss
    /// counters, runs finished/failed; updated after each run) on http://ADDR/metrics.
    /// Without a value: 127.0.0.1:9464 (loopback only).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = uadpbench::metrics::DEFAULT_ADDR)]
    metrics_addr: Option<String>,
    #[command(flatten)]
    trace: TraceArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// A campaign or run results directory.
    dir: PathBuf,
    /// Only print the table, draw no plots (report.html then has no charts but the waterfalls).
    #[arg(long)]
    no_plots: bool,
    /// Do not write DIR/report.html (written by default: one self-contained page).
    #[arg(long)]
    no_html: bool,
}

pub(crate) fn campaign_command(a: CampaignArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    use uadpbench::campaign::{Campaign, InvalidCampaign};
    use uadpbench::campaign_run::{run_campaign, CampaignOptions};
    let (campaign, text) = match Campaign::load(&a.file) {
        Ok(c) => c,
        Err(e) if e.is::<InvalidCampaign>() => {
            eprintln!("{}", e.root_cause());
            return Ok(ExitCode::from(2));
        }
        Err(e) => return Err(e),
    };
    let planned = campaign.expand();
    if !a.dry_run && !uadpbench::doctor::privileged() {
        eprintln!("error: a campaign's runs create network namespaces and load BPF programs: run it as root (sudo), or with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_NET_RAW and CAP_SYS_ADMIN (uadpbench doctor checks)");
        return Ok(ExitCode::from(2));
    }
    if !a.dry_run {
        if let Some(code) = super::too_few_open_files() {
            return Ok(code);
        }
    }
    eprintln!(
        "campaign {}: {} runs, about {:.0} s",
        campaign.name,
        planned.len(),
        campaign.estimated_seconds()
    );
    if a.dry_run {
        for r in &planned {
            say!("{:4} {}", r.index, r.id());
        }
        return Ok(ExitCode::SUCCESS);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
        .map_err(|e| anyhow::anyhow!("cannot install the signal handler: {e}"))?;
    let metrics = a
        .metrics_addr
        .as_ref()
        .map(|_| uadpbench::metrics::Metrics::default());
    let _server = match (&a.metrics_addr, &metrics) {
        (Some(addr), Some(m)) => {
            let server = uadpbench::metrics::MetricsServer::start(addr, m.clone())?;
            eprintln!("metrics: http://{}/metrics", server.local_addr());
            Some(server)
        }
        _ => None,
    };
    let options = CampaignOptions {
        out: a.out,
        resume: a.resume,
        progress: std::io::stderr().is_terminal(),
        metrics,
        trace: a.trace.spec(),
    };
    if let Some(t) = &options.trace {
        let problems = t.validate();
        if let Some(code) = super::refused(&problems) {
            return Ok(code);
        }
    }
    let outcome = run_campaign(&campaign, &text, &options, Arc::clone(&stop))?;
    let ok = outcome.runs.iter().filter(|r| r.status == "ok").count();
    let failed: Vec<_> = outcome
        .runs
        .iter()
        .filter(|r| r.status == "failed")
        .collect();
    let lost: u64 = outcome.runs.iter().filter_map(|r| r.lost).sum();
    let sent: u64 = outcome.runs.iter().filter_map(|r| r.sent).sum();
    say!(
        "{} of {} runs finished; {sent} messages measured, {lost} lost (per run: runs.csv)",
        ok,
        outcome.runs.len()
    );
    for r in &failed {
        say!("FAILED {}: {}", r.run_id, r.error);
    }
    for line in uadpbench::conditions::consistency::consistency_lines(&outcome.dir)? {
        say!("{line}");
    }
    if outcome.dir.join("summary.csv").is_file() {
        say!("");
        for line in uadpbench::verdict::write_verdict(&outcome.dir)? {
            say!("{line}");
        }
    }
    let d = outcome.dir.display();
    let overhead = if outcome.dir.join("overhead.csv").is_file() {
        ", overhead.csv"
    } else {
        ""
    };
    say!("results: {d}/ (runs.csv, summary.csv, samples.csv{overhead}, meta.json, runs/*; columns in docs/csv-schema.md)");
    say!("plot:    uadpbench report {d}   (comparison table + SVG plots in {d}/plots)");
    if let Some((file, n)) = &outcome.trace {
        say!(
            "trace:   {} ({n} runs, one process group each; open it at https://ui.perfetto.dev → \"Open trace file\")",
            file.display()
        );
    }
    if outcome.interrupted {
        eprintln!("interrupted: finished runs are kept; continue with: uadpbench campaign {} --resume {d}", a.file.display());
        return Ok(ExitCode::from(130));
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn compare_command(a: CompareArgs) -> anyhow::Result<ExitCode> {
    for (flag, v) in [
        ("--threshold", Some(a.threshold)),
        ("--fail-if-worse", a.fail_if_worse),
    ] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && (0.0..=1000.0).contains(v))) {
            eprintln!("error: {flag} {v}: give a percentage in 0..=1000");
            return Ok(ExitCode::from(2));
        }
    }
    let c = uadpbench::compare::compare(&a.a, &a.b, a.threshold)?;
    for l in uadpbench::compare::lines(&c, &a.a, &a.b) {
        say!("{l}");
    }
    let csv = a.csv.unwrap_or_else(|| a.b.join("compare.csv"));
    uadpbench::results::write_csv(&csv, &c.rows)?;
    say!(
        "comparison: {} (columns in docs/csv-schema.md)",
        csv.display()
    );
    if let Some(pct) = a.fail_if_worse {
        let worse = uadpbench::compare::worse_than(&c, pct);
        if !worse.is_empty() {
            eprintln!(
                "{} statistic(s) worse by more than {pct} %: {}",
                worse.len(),
                worse
                    .iter()
                    .map(|r| format!("{} {} {:+.1} %", r.config, r.statistic, r.change_percent))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn report_command(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let data = uadpbench::report::load(&a.dir)?;
    let table = if data.is_empty() {
        Vec::new()
    } else {
        uadpbench::report::table(&data)
    };
    for line in &table {
        say!("{line}");
    }
    for line in uadpbench::report::overhead_table(&a.dir)? {
        say!("{line}");
    }
    let consistency = uadpbench::conditions::consistency::consistency_lines(&a.dir)?;
    for line in &consistency {
        say!("{line}");
    }
    let verdict = if a.dir.join("summary.csv").is_file() {
        say!("");
        let v = uadpbench::verdict::write_verdict(&a.dir)?;
        for line in &v {
            say!("{line}");
        }
        v
    } else {
        Vec::new()
    };
    let files = if a.no_plots {
        Vec::new()
    } else {
        uadpbench::report::plots(&a.dir, &data)?
    };
    let d = a.dir.display();
    if !a.no_plots {
        say!("plots ({}): {d}/plots/ (SVG)", files.len());
    }
    if a.dir.join("summary.csv").is_file() {
        say!("verdict: {d}/verdict.md");
    }
    if !a.no_html {
        let html = uadpbench::html::write_report(&a.dir, &table, &verdict, &consistency, &files)?;
        say!(
            "report:  {} (self-contained; open it in a browser)",
            html.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
