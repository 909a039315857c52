//! Executing a campaign: one results directory, one sub-directory per run written completely
//! before the next run starts, top-level tidy tables regenerated after every run, progress
//! bars, and `--resume` that skips finished runs.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::campaign::{Campaign, PlannedRun};
use crate::meta::Environment;
use crate::overhead::{self, OverheadRow};
use crate::results::{self, SummaryRow};
use crate::results::{rfc3339_now, utc_stamp};
use crate::run::{self, Mode};

/// Where and how to run a campaign.
#[derive(Debug, Clone, Default)]
pub struct CampaignOptions {
    /// Results directory (default: results/<name>-<UTC time>).
    pub out: Option<PathBuf>,
    /// Continue an interrupted campaign in this directory.
    pub resume: Option<PathBuf>,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
    /// Prometheus metrics updated after each finished run (served by
    /// [`crate::metrics::MetricsServer`]).
    pub metrics: Option<crate::metrics::Metrics>,
    /// `--trace FILE`: every run with probes writes `trace.json` of its window into its own
    /// directory; at the end they are merged into `file` ([`crate::trace::merge`]). Runs
    /// without probes are not traced (that would instrument the baseline).
    pub trace: Option<crate::trace::TraceSpec>,
}

/// A traced run's trace file inside its directory.
pub const RUN_TRACE: &str = "trace.json";

/// One row of runs.csv.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunRow {
    pub index: usize,
    pub run_id: String,
    pub repetition: u32,
    pub path: String,
    pub encap: String,
    pub mode: String,
    pub payload_bytes: usize,
    pub interval_us: Option<u64>,
    pub probes: String,
    /// `benchmark` or the layout's name in matrix.layouts.
    pub layout: String,
    pub count: u64,
    pub warmup: u64,
    pub duration_s: Option<f64>,
    /// ok, failed, or skipped (interrupted before it ran)
    pub status: String,
    pub error: String,
    pub sent: Option<u64>,
    pub received: Option<u64>,
    pub lost: Option<u64>,
    pub reordered: Option<u64>,
    pub duplicated: Option<u64>,
    pub decode_errors: Option<u64>,
    pub dir: String,
}

/// What a campaign produced.
#[derive(Debug, Clone)]
pub struct CampaignOutcome {
    pub dir: PathBuf,
    pub runs: Vec<RunRow>,
    pub interrupted: bool,
    /// The merged trace and the number of runs in it.
    pub trace: Option<(PathBuf, usize)>,
}

/// A run directory is complete when its summary.csv and meta.json exist (both are renamed into
/// place only after being fully written, meta.json last) and the run was not cut short.
fn is_complete(dir: &Path) -> bool {
    let Some(meta) = crate::meta::read_json::<crate::meta::RunMeta>(&dir.join("meta.json")) else {
        return false;
    };
    let interrupted = meta.interrupted;
    dir.join("summary.csv").is_file() && !interrupted
}

fn read_summary(dir: &Path) -> anyhow::Result<Vec<SummaryRow>> {
    let mut r = csv::Reader::from_path(dir.join("summary.csv"))?;
    let rows = r.deserialize().collect::<Result<Vec<SummaryRow>, _>>()?;
    Ok(rows)
}

fn run_row(
    r: &PlannedRun,
    status: &str,
    error: String,
    summary: &[SummaryRow],
    dir: &Path,
) -> RunRow {
    let count = |stat: &str| {
        summary
            .iter()
            .find(|s| s.metric == "messages" && s.statistic == stat)
            .map(|s| s.value as u64)
    };
    let c = &r.config;
    RunRow {
        index: r.index,
        run_id: r.id(),
        repetition: r.repetition,
        path: c.path.to_string(),
        encap: c.encap.to_string(),
        mode: c.mode.name().into(),
        payload_bytes: c.payload_bytes,
        interval_us: (c.mode == Mode::Cyclic).then_some(c.interval_us),
        probes: r.probes.clone(),
        layout: r.layout.clone(),
        count: c.measured_count(),
        warmup: c.warmup,
        duration_s: c.duration_s,
        status: status.into(),
        error,
        sent: count("sent"),
        received: count("received"),
        lost: count("lost"),
        reordered: count("reordered"),
        duplicated: count("duplicated"),
        decode_errors: count("decode_errors"),
        dir: dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Concatenates a per-run CSV file of every finished run into one top-level table.
fn concat_csv(campaign_dir: &Path, runs: &[PlannedRun], file: &str) -> anyhow::Result<usize> {
    let mut header: Option<csv::StringRecord> = None;
    let mut records = Vec::new();
    for r in runs {
        let path = r.dir(campaign_dir).join(file);
        if !path.is_file() || !is_complete(&r.dir(campaign_dir)) {
            continue;
        }
        let mut rd =
            csv::Reader::from_path(&path).with_context(|| format!("reading {}", path.display()))?;
        let h = rd.headers()?.clone();
        if h.is_empty() {
            // A table without rows (e.g. no probe events on a path) is written without a header.
            continue;
        }
        if header.as_ref().is_some_and(|x| *x != h) {
            bail!(
                "{} has other columns than the runs before it",
                path.display()
            );
        }
        header.get_or_insert(h);
        for rec in rd.records() {
            records.push(rec?);
        }
    }
    let Some(header) = header else { return Ok(0) };
    let n = records.len();
    results::write_atomically(&campaign_dir.join(file), |w| {
        let mut c = csv::Writer::from_writer(w);
        c.write_record(&header)?;
        for r in &records {
            c.write_record(r)?;
        }
        c.flush()?;
        Ok(())
    })?;
    Ok(n)
}

/// The instrumentation overhead of a campaign: every probe set other than `none` compared with
/// the `none` runs of the same workload (every parameter equal but the probes), paired by
/// repetition — a campaign's interleaved or randomised order puts the runs of one repetition
/// close together. Only repetitions where both runs finished count.
fn campaign_overhead(dir: &Path, planned: &[PlannedRun]) -> anyhow::Result<Vec<OverheadRow>> {
    let workload_of = |r: &PlannedRun| -> anyhow::Result<(String, run::RunConfig)> {
        let mut c = r.config.clone();
        c.label = None;
        c.probes = "none".into();
        c.trace = None;
        c.pcap = None;
        Ok((serde_json::to_string(&c)?, c))
    };
    // workload key → probe set → repetition → summary
    type ByRep = BTreeMap<u32, Vec<SummaryRow>>;
    let mut groups: BTreeMap<String, (run::RunConfig, BTreeMap<String, ByRep>)> = BTreeMap::new();
    for r in planned {
        let rdir = r.dir(dir);
        if !is_complete(&rdir) {
            continue;
        }
        let summary = read_summary(&rdir)
            .with_context(|| format!("reading {}/summary.csv", rdir.display()))?;
        let (key, workload) = workload_of(r)?;
        let probes = match r.config.probe_selection() {
            Ok(uadpbench_probes::Selection::None) => "none".to_owned(),
            _ => r.probes.clone(),
        };
        groups
            .entry(key)
            .or_insert_with(|| (workload, BTreeMap::new()))
            .1
            .entry(probes)
            .or_default()
            .insert(r.repetition, summary);
    }
    let mut rows = Vec::new();
    for (workload, by_probes) in groups.values() {
        let Some(off) = by_probes.get("none") else {
            continue;
        };
        for (j, (probes, on)) in by_probes.iter().filter(|(p, _)| *p != "none").enumerate() {
            let pairs: Vec<(&[SummaryRow], &[SummaryRow])> = off
                .iter()
                .filter_map(|(rep, o)| on.get(rep).map(|a| (o.as_slice(), a.as_slice())))
                .collect();
            rows.extend(overhead::overhead_rows(
                workload,
                overhead::Arm::Probes,
                probes,
                &pairs,
                overhead::DEFAULT_RESAMPLES,
                overhead::DEFAULT_SEED ^ j as u64,
            ));
        }
    }
    Ok(rows)
}

/// Runs (or resumes) a campaign.
pub fn run_campaign(
    campaign: &Campaign,
    campaign_text: &str,
    options: &CampaignOptions,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<CampaignOutcome> {
    let dir = match (&options.resume, &options.out) {
        (Some(d), _) => {
            let previous = std::fs::read_to_string(d.join("campaign.toml")).with_context(|| {
                format!(
                    "{} is not a campaign directory (no campaign.toml)",
                    d.display()
                )
            })?;
            let original = Campaign::parse(&previous, "campaign.toml").map_err(|e| {
                anyhow::anyhow!(
                    "{}/campaign.toml no longer parses ({}); start a new directory",
                    d.display(),
                    e.first().map(ToString::to_string).unwrap_or_default()
                )
            })?;
            let diff = crate::campaign::differences(&original, campaign);
            if !diff.is_empty() {
                bail!(
                    "{} was started with a different campaign; its finished runs would be mixed with runs of other settings:\n  {}\nresume with the original settings (a copy is in {}/campaign.toml) or start a new directory",
                    d.display(),
                    diff.join("\n  "),
                    d.display()
                );
            }
            d.clone()
        }
        (None, Some(d)) => {
            if d.join("campaign.toml").exists() {
                bail!(
                    "--out {} already holds a campaign: continue it with --resume {} (the same campaign file), or choose a new directory",
                    d.display(),
                    d.display()
                );
            }
            if std::fs::read_dir(d).is_ok_and(|mut e| e.next().is_some()) {
                bail!(
                    "--out {} is not empty: choose a new directory for the campaign",
                    d.display()
                );
            }
            d.clone()
        }
        (None, None) => PathBuf::from("results").join(format!("{}-{}", campaign.name, utc_stamp())),
    };
    std::fs::create_dir_all(dir.join("runs"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    if options.resume.is_none() {
        // On resume the original file stays: it is what the finished runs were made with.
        results::write_atomically(&dir.join("campaign.toml"), |w| {
            use std::io::Write;
            w.write_all(campaign_text.as_bytes())?;
            Ok(())
        })?;
    }
    let started = rfc3339_now();
    let env = Environment::current();
    let write_meta = |finished: Option<String>, interrupted: bool| {
        results::write_json(
            &dir.join("meta.json"),
            &crate::meta::CampaignMeta {
                campaign: &campaign,
                started_utc: started.clone(),
                finished_utc: finished,
                interrupted,
                trace: options.trace.clone(),
                environment: env.clone(),
            },
        )
    };
    write_meta(None, false)?;

    let planned = campaign.expand();
    // Across hosts: every run goes to the `[peer]` agent, fan-out runs to the first N agents
    // of `[[peer.fanout]]` (the token is read once, up front).
    let peer = campaign
        .peer
        .as_ref()
        .map(|p| -> anyhow::Result<_> {
            let token = p
                .token_file
                .as_deref()
                .map(crate::remote::addr::read_token)
                .transpose()?;
            Ok((p, token))
        })
        .transpose()?;
    let peers_for = |config: &run::RunConfig| -> anyhow::Result<Vec<run::PeerSpec>> {
        let Some((p, token)) = &peer else {
            return Ok(Vec::new());
        };
        p.agents_for(config.subscribers)
            .into_iter()
            .map(|(address, peer_interface)| {
                Ok(run::PeerSpec {
                    addr: crate::remote::addr::peer_address(address)
                        .map_err(|e| anyhow::anyhow!("[peer] address {address:?}: {e}"))?,
                    interface: p.interface.clone(),
                    peer_interface: peer_interface.to_owned(),
                    token: token.clone(),
                    allow_external_interface: p.allow_external_interface,
                    clock: run::PeerClock::Auto,
                    pcap_name: None,
                })
            })
            .collect()
    };
    if let Some(m) = &options.metrics {
        m.set_campaign(&campaign.name, planned.len());
    }
    let record_metrics = |r: &PlannedRun, rdir: &Path| {
        if let Some(m) = &options.metrics {
            if let Err(e) = m.record_finished(&r.config, rdir) {
                eprintln!("warning: metrics of {}: {e:#}", r.id());
            }
        }
    };
    let estimate: HashMap<usize, f64> = planned
        .iter()
        .map(|r| (r.index, r.estimated_seconds()))
        .collect();
    let total_ms: u64 = estimate.values().map(|s| (s * 1000.0) as u64).sum();

    let multi = MultiProgress::with_draw_target(if options.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let overall = multi.add(ProgressBar::new(total_ms.max(1)));
    overall.set_style(
        ProgressStyle::with_template("campaign {prefix} [{bar:40}] {percent:>3}% elapsed {elapsed_precise} ETA {eta_precise}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let current = multi.add(ProgressBar::new(1));
    current.set_style(
        ProgressStyle::with_template("  run {msg} [{bar:30}] {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let mut rows = Vec::new();
    let mut done_ms = 0u64;
    for (i, r) in planned.iter().enumerate() {
        overall.set_prefix(format!("{}/{}", i + 1, planned.len()));
        let rdir = r.dir(&dir);
        let est_ms = (estimate.get(&r.index).copied().unwrap_or(1.0) * 1000.0) as u64;
        if is_complete(&rdir) {
            let summary = read_summary(&rdir).unwrap_or_default();
            rows.push(run_row(r, "ok", String::new(), &summary, &rdir));
            record_metrics(r, &rdir);
            done_ms += est_ms;
            overall.set_position(done_ms);
            continue;
        }
        if stop.load(Ordering::Relaxed) {
            rows.push(run_row(
                r,
                "skipped",
                "interrupted before it ran".into(),
                &[],
                &rdir,
            ));
            continue;
        }
        // A partial directory from an interrupted attempt is redone from scratch.
        if rdir.exists() {
            std::fs::remove_dir_all(&rdir)
                .with_context(|| format!("removing the partial run {}", rdir.display()))?;
        }
        current.set_length(est_ms.max(1));
        current.set_position(0);
        current.set_message(r.id());
        let t0 = Instant::now();
        let ticking = Arc::new(AtomicBool::new(true));
        let ticker = {
            let (cur, all, tk) = (current.clone(), overall.clone(), Arc::clone(&ticking));
            std::thread::spawn(move || {
                while tk.load(Ordering::Relaxed) {
                    let e = t0.elapsed().as_millis() as u64;
                    cur.set_position(e.min(est_ms));
                    all.set_position(done_ms + e.min(est_ms));
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        let mut config = r.config.clone();
        if let Some(t) = options.trace.as_ref().filter(|_| config.probes_enabled()) {
            config.trace = Some(crate::trace::TraceSpec {
                file: rdir.join(RUN_TRACE),
                ..t.clone()
            });
        }
        let result = match &peer {
            None => run::run(&config, &rdir, Arc::clone(&stop)),
            Some(_) => peers_for(&config)
                .and_then(|specs| run::run_with_peers(&config, &specs, &rdir, Arc::clone(&stop))),
        };
        ticking.store(false, Ordering::Relaxed);
        let _ = ticker.join();
        done_ms += est_ms;
        overall.set_position(done_ms);
        match result {
            Ok(o) if o.interrupted => {
                // Cut short by a signal: its numbers cover only part of the run. Drop it so
                // that --resume runs it again in full.
                let _ = std::fs::remove_dir_all(&rdir);
                rows.push(run_row(
                    r,
                    "skipped",
                    "interrupted during the run".into(),
                    &[],
                    &rdir,
                ));
            }
            Ok(outcome) => {
                if options.progress {
                    let _ = multi.println(format!(
                        "done {} ({:.1}s)",
                        r.id(),
                        t0.elapsed().as_secs_f64()
                    ));
                }
                rows.push(run_row(r, "ok", String::new(), &outcome.summary, &rdir));
                record_metrics(r, &rdir);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                let _ = multi.println(format!("FAILED {}: {msg}", r.id()));
                // Keep nothing half-done: a failed run leaves no directory to be mistaken.
                let _ = std::fs::remove_dir_all(&rdir);
                rows.push(run_row(r, "failed", msg, &[], &rdir));
                if let Some(m) = &options.metrics {
                    m.record_failed();
                }
            }
        }
        results::write_csv(&dir.join("runs.csv"), &rows)?;
        concat_csv(&dir, &planned, "summary.csv")?;
    }
    overall.finish_and_clear();
    current.finish_and_clear();
    // Runs not reached (interrupted) are listed too.
    for r in planned.iter().skip(rows.len()) {
        rows.push(run_row(
            r,
            "skipped",
            "interrupted before it ran".into(),
            &[],
            &r.dir(&dir),
        ));
    }
    results::write_csv(&dir.join("runs.csv"), &rows)?;
    concat_csv(&dir, &planned, "summary.csv")?;
    for table in [
        "samples.csv",
        "segments.csv",
        "probe_cost.csv",
        "probe_layers.csv",
        "probe_histograms.csv",
        "layers.csv",
        "subscribers.csv",
        "fanout_samples.csv",
    ] {
        concat_csv(&dir, &planned, table)?;
    }
    let trace = match &options.trace {
        Some(t) => {
            let traced: Vec<(String, PathBuf)> = planned
                .iter()
                .map(|r| (r.id(), r.dir(&dir).join(RUN_TRACE)))
                .filter(|(_, f)| f.is_file())
                .collect();
            if traced.is_empty() {
                eprintln!(
                    "trace: no run of the campaign wrote a trace (only runs with probes are traced): {} not written",
                    t.file.display()
                );
                None
            } else {
                crate::trace::merge(&traced, &t.file)
                    .with_context(|| format!("merging the run traces into {}", t.file.display()))?;
                Some((t.file.clone(), traced.len()))
            }
        }
        None => None,
    };
    let overhead = campaign_overhead(&dir, &planned)?;
    if !overhead.is_empty() {
        results::write_csv(&dir.join("overhead.csv"), &overhead)?;
    }
    let interrupted = stop.load(Ordering::Relaxed);
    write_meta(if interrupted { None } else { rfc3339_now() }, interrupted)?;
    Ok(CampaignOutcome {
        dir,
        runs: rows,
        interrupted,
        trace,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::Campaign;

    const TWO_RUNS: &str = r#"
name = "t"
[matrix]
paths = ["udp"]
modes = ["pingpong"]
payload_bytes = [64]
repetitions = 2
"#;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "uadpbench-campaign-run-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn finish(dir: &Path, interrupted: bool, summary: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("summary.csv"), summary).unwrap();
        std::fs::write(
            dir.join("meta.json"),
            crate::meta::test_run_meta_json(interrupted, None),
        )
        .unwrap();
    }

    #[test]
    fn only_finished_uninterrupted_runs_are_complete() {
        let d = scratch("complete");
        assert!(!is_complete(&d), "empty directory");
        std::fs::write(d.join("summary.csv"), "a\n1\n").unwrap();
        assert!(
            !is_complete(&d),
            "summary without meta.json (killed before the rename)"
        );
        finish(&d, true, "a\n1\n");
        assert!(!is_complete(&d), "interrupted");
        finish(&d, false, "a\n1\n");
        assert!(is_complete(&d));
        std::fs::write(d.join("meta.json"), "{not json").unwrap();
        assert!(!is_complete(&d), "unreadable meta.json");
        std::fs::remove_dir_all(&d).ok();
    }

    #[test]
    fn concatenation_keeps_one_header_and_skips_unfinished_runs() {
        let d = scratch("concat");
        let c = Campaign::parse(TWO_RUNS, "t.toml").unwrap();
        let runs = c.expand();
        assert_eq!(runs.len(), 2);
        finish(&runs[0].dir(&d), false, "run_id,value\nr1,1\nr1,2\n");
        // The second run was cut short: its rows stay out of the campaign's table.
        finish(&runs[1].dir(&d), true, "run_id,value\nr2,3\n");
        assert_eq!(concat_csv(&d, &runs, "summary.csv").unwrap(), 2);
        let text = std::fs::read_to_string(d.join("summary.csv")).unwrap();
        assert_eq!(text, "run_id,value\nr1,1\nr1,2\n");
        // Resumed and finished: both runs, the header once.
        finish(&runs[1].dir(&d), false, "run_id,value\nr2,3\n");
        assert_eq!(concat_csv(&d, &runs, "summary.csv").unwrap(), 3);
        let text = std::fs::read_to_string(d.join("summary.csv")).unwrap();
        assert_eq!(text.matches("run_id").count(), 1, "{text}");
        // A run with other columns is an error that names the file, not a silent mix.
        finish(&runs[1].dir(&d), false, "run_id,other\nr2,3\n");
        let e = concat_csv(&d, &runs, "summary.csv").unwrap_err();
        assert!(format!("{e:#}").contains("other columns"), "{e:#}");
        std::fs::remove_dir_all(&d).ok();
    }
}
