//! What observing costs: `uadpbench overhead` runs the same workload with the kernel probes off
//! and on — and optionally with bpftrace running the equivalent classic tracepoints — interleaved
//! (off, probes, bpftrace, off, probes, bpftrace, …) so that machine drift hits every arm alike,
//! one fresh [`run::run`] each, and reports the difference of each latency percentile (and of the
//! flood rate and the CPU time per message) with paired bootstrap confidence intervals.
//!
//! Files (columns in docs/csv-schema.md): `overhead.csv`, `overhead_cost.csv`, `meta.json`,
//! `bpftrace.bt` (with the bpftrace arm) and `runs/NN-<arm>-rK/` (each run's own files; the
//! bpftrace runs also hold `bpftrace.out`, `bpftrace.err` and `bpftrace_cost.csv`).
//!
//! Submodules: `bootstrap` (the paired bootstrap, pure), `rows` (which statistics are compared
//! and their overhead.csv rows), `bpftrace` (the bpftrace script and process), `cost` (BPF
//! program cost, through aya) and `report` (the terminal table); what they make public is
//! re-exported here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Serialize;
use uadpbench_probes::Selection;

use crate::meta::{BootstrapMeta, BpftraceMeta, OverheadMeta, OverheadRunMeta};
use crate::results::{self, SummaryRow};
use crate::run::{self, RunConfig, RunOutcome};

mod bootstrap;
mod bpftrace;
mod cost;
mod report;
mod rows;

pub use bootstrap::{bootstrap_paired, Interval};
pub use bpftrace::{bpftrace_script, BpftraceProbe, BpftraceScript};
pub use rows::{compared_statistics, overhead_rows};

/// Latency percentiles compared.
pub const PERCENTILES: [&str; 4] = ["p50", "p90", "p99", "p99.9"];

/// Default number of bootstrap resamples.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// Seed of the bootstrap RNG (results are reproducible from the run files).
pub const DEFAULT_SEED: u64 = 0x0ad9_be9c_u64;

/// One arm of the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// No instrumentation.
    Off,
    /// uadpbench's own probes (`RunConfig::probes`).
    Probes,
    /// bpftrace running the equivalent tracepoints, uadpbench's probes off.
    Bpftrace,
}

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Arm::Off => "off",
            Arm::Probes => "probes",
            Arm::Bpftrace => "bpftrace",
        }
    }
}

/// What to compare.
#[derive(Debug, Clone)]
pub struct OverheadConfig {
    /// The workload; its `probes` and `label` are set per arm.
    pub run: RunConfig,
    /// The probe selection of the probes arm (and of the bpftrace script): "all" or a list.
    pub probes: String,
    /// Runs per arm.
    pub repetitions: usize,
    /// Add the bpftrace arm.
    pub bpftrace: bool,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap RNG seed.
    pub seed: u64,
}

impl OverheadConfig {
    /// The probes arm's selection on the run's path.
    fn selection(&self) -> Result<Selection, String> {
        self.probes.trim().parse::<Selection>()
    }

    /// Every problem with the configuration (empty: valid).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match self.selection() {
            Ok(Selection::None) => problems.push(
                "--probes none: nothing to compare; give all or a list of layer names".into(),
            ),
            Ok(_) => {}
            Err(e) => problems.push(format!("--probes {:?}: {e}", self.probes)),
        }
        if self.repetitions == 0 {
            problems.push("--repetitions must be at least 1".into());
        }
        if self.resamples == 0 {
            problems.push("--resamples must be at least 1".into());
        }
        let mut probe_cfg = self.run.clone();
        probe_cfg.probes = self.probes.clone();
        problems.extend(
            probe_cfg
                .validate()
                .into_iter()
                .filter(|p| !p.starts_with("--probes")),
        );
        problems
    }

    /// The arms, in the order each repetition runs them.
    pub fn arms(&self) -> Vec<Arm> {
        let mut arms = vec![Arm::Off, Arm::Probes];
        if self.bpftrace {
            arms.push(Arm::Bpftrace);
        }
        arms
    }
}

/// One run of one arm.
#[derive(Debug, Clone)]
pub struct ArmRun {
    /// 1-based position in the run order.
    pub index: usize,
    pub arm: Arm,
    /// 1-based.
    pub repetition: usize,
    pub dir: PathBuf,
    pub summary: Vec<SummaryRow>,
    /// A signal cut the run short: it is not used.
    pub interrupted: bool,
    /// The bpftrace process of this run (bpftrace arm).
    pub bpftrace_pid: Option<u32>,
    /// Events bpftrace counted per layer (bpftrace arm).
    pub bpftrace_events: BTreeMap<String, u64>,
}

/// One row of overhead.csv: one statistic of one arm against the off arm (written by
/// `overhead` and campaigns, read by `report`, the verdict and `compare`).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct OverheadRow {
    pub path: String,
    pub encap: String,
    pub mode: String,
    pub payload_bytes: usize,
    /// Cyclic runs: the publishing interval.
    pub interval_us: Option<u64>,
    pub metric: String,
    pub statistic: String,
    pub arm: String,
    /// The probe selection of the arm (`all` or a list of layers; the bpftrace arm mirrors it).
    pub probes: String,
    /// Complete (off, arm) pairs the row is computed from.
    pub repetitions: usize,
    pub mean_off: f64,
    pub mean_arm: f64,
    /// mean_arm − mean_off.
    pub delta: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    pub unit: String,
    /// CPU placement of the workload (empty in files written before placements existed).
    #[serde(default)]
    pub placement: String,
}

/// Per-program BPF cost of an arm, over its runs (one row of overhead_cost.csv).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OverheadCostRow {
    pub arm: String,
    /// BPF program (`total`: all programs of the arm).
    pub program: String,
    pub mechanism: String,
    /// Runs in which the program ran at least once.
    pub runs: usize,
    /// Program runs, summed over the runs.
    pub run_count: u64,
    /// BPF run time, summed over the runs.
    pub run_time_ns: u64,
    /// Mean over the runs of run_time_ns / run_count.
    pub mean_ns_per_run: Option<f64>,
    /// Mean over the runs of the program's BPF time per benchmark message (warm-up included).
    pub ns_per_message: Option<f64>,
}

/// What `uadpbench overhead` produced.
#[derive(Debug, Clone)]
pub struct OverheadOutcome {
    pub dir: PathBuf,
    pub rows: Vec<OverheadRow>,
    pub costs: Vec<OverheadCostRow>,
    pub runs: Vec<ArmRun>,
    /// Lines for the terminal.
    pub report: Vec<String>,
    /// A signal ended the comparison early; the rows cover the complete repetitions.
    pub interrupted: bool,
}

/// Runs the comparison into `out_dir` and writes its files.
pub fn run_overhead(
    cfg: &OverheadConfig,
    out_dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<OverheadOutcome> {
    let problems = cfg.validate();
    if !problems.is_empty() {
        bail!(
            "invalid overhead configuration:\n  - {}",
            problems.join("\n  - ")
        );
    }
    let selection = cfg.selection().map_err(|e| anyhow::anyhow!(e))?;
    let runs_dir = out_dir.join("runs");
    std::fs::create_dir_all(&runs_dir)
        .with_context(|| format!("cannot create {}", runs_dir.display()))?;
    let started = time::OffsetDateTime::now_utc();
    let env = crate::meta::Environment::current();

    let script = cfg
        .bpftrace
        .then(|| bpftrace_script(cfg.run.path, &selection, std::process::id()));
    let script_path = out_dir.join("bpftrace.bt");
    if let Some(s) = &script {
        if s.probes.is_empty() {
            bail!(
                "bpftrace has nothing to attach for --probes {} on the {} path",
                cfg.probes,
                cfg.run.path
            );
        }
        results::write_atomically(&script_path, |w| {
            std::io::Write::write_all(w, s.text.as_bytes())?;
            Ok(())
        })?;
    }

    let arms = cfg.arms();
    let total = arms.len() * cfg.repetitions;
    let width = total.to_string().len().max(2);
    let mut runs: Vec<ArmRun> = Vec::new();
    let base_id = RunConfig {
        label: None,
        ..cfg.run.clone()
    }
    .run_id();
    'reps: for rep in 1..=cfg.repetitions {
        for &arm in &arms {
            if stop.load(Ordering::Relaxed) {
                break 'reps;
            }
            let index = runs.len() + 1;
            let dir = runs_dir.join(format!("{index:0width$}-{}-r{rep}", arm.name()));
            let mut rc = cfg.run.clone();
            rc.label = Some(format!("{base_id}-{}-r{rep}", arm.name()));
            rc.probes = match arm {
                Arm::Probes => cfg.probes.clone(),
                Arm::Off | Arm::Bpftrace => "none".into(),
            };
            if arm != Arm::Probes {
                rc.probes_mode = crate::run::ProbesMode::Events;
            }
            eprintln!(
                "[{index}/{total}] {} repetition {rep}: {}",
                arm.name(),
                dir.display()
            );
            let (outcome, bt) = match (arm, &script) {
                (Arm::Bpftrace, Some(s)) => {
                    let (outcome, pid, events) =
                        run_under_bpftrace(&rc, &dir, Arc::clone(&stop), &script_path, s)?;
                    (outcome, Some((pid, events)))
                }
                _ => {
                    let what = format!("run {}", dir.display());
                    (run::run(&rc, &dir, Arc::clone(&stop)).context(what)?, None)
                }
            };
            let (bpftrace_pid, bpftrace_events) = bt.unwrap_or_default();
            runs.push(ArmRun {
                index,
                arm,
                repetition: rep,
                dir,
                summary: outcome.summary,
                interrupted: outcome.interrupted,
                bpftrace_pid,
                bpftrace_events,
            });
        }
    }
    let interrupted = stop.load(Ordering::Relaxed);

    // Complete repetitions only: every arm ran to the end.
    let complete: Vec<usize> = (1..=cfg.repetitions)
        .filter(|rep| {
            arms.iter().all(|a| {
                runs.iter()
                    .any(|r| r.repetition == *rep && r.arm == *a && !r.interrupted)
            })
        })
        .collect();
    let run_of = |arm: Arm, rep: usize| {
        runs.iter()
            .find(|r| r.arm == arm && r.repetition == rep)
            .expect("complete repetition")
    };
    let mut rows = Vec::new();
    for (j, &arm) in arms.iter().skip(1).enumerate() {
        let pairs: Vec<(&[SummaryRow], &[SummaryRow])> = complete
            .iter()
            .map(|&rep| {
                (
                    run_of(Arm::Off, rep).summary.as_slice(),
                    run_of(arm, rep).summary.as_slice(),
                )
            })
            .collect();
        rows.extend(overhead_rows(
            &cfg.run,
            arm,
            &cfg.probes,
            &pairs,
            cfg.resamples,
            cfg.seed ^ j as u64,
        ));
    }
    let mut costs = Vec::new();
    for (arm, file) in [
        (Arm::Probes, "probe_cost.csv"),
        (Arm::Bpftrace, "bpftrace_cost.csv"),
    ] {
        let of_arm: Vec<&ArmRun> = runs
            .iter()
            .filter(|r| r.arm == arm && complete.contains(&r.repetition))
            .collect();
        costs.extend(cost::aggregate_costs(arm, &of_arm, file, &cfg.run));
    }

    results::write_csv(&out_dir.join("overhead.csv"), &rows)?;
    results::write_csv(&out_dir.join("overhead_cost.csv"), &costs)?;
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    };
    let meta = OverheadMeta {
        kind: "uadpbench overhead".into(),
        started_utc: rfc3339(started),
        finished_utc: rfc3339(time::OffsetDateTime::now_utc()),
        config: &cfg.run,
        probes: serde_json::to_value(&cfg.probes)?,
        repetitions: cfg.repetitions,
        complete_repetitions: complete.len(),
        arms: arms.iter().map(|a| a.name().to_owned()).collect(),
        bootstrap: BootstrapMeta {
            method: "paired percentile bootstrap of mean(arm - off) over repetitions".into(),
            resamples: cfg.resamples,
            confidence: 0.95,
            seed: cfg.seed,
            rng: "ChaCha8".into(),
        },
        bpftrace: script
            .as_ref()
            .map(|s| -> anyhow::Result<BpftraceMeta> {
                Ok(BpftraceMeta {
                    script: "bpftrace.bt".into(),
                    probes: serde_json::to_value(&s.probes)?,
                    skipped_layers: serde_json::to_value(&s.skipped)?,
                })
            })
            .transpose()?,
        runs: runs
            .iter()
            .map(|r| -> anyhow::Result<OverheadRunMeta> {
                Ok(OverheadRunMeta {
                    index: r.index,
                    arm: r.arm.name().into(),
                    repetition: r.repetition,
                    dir: r.dir.strip_prefix(out_dir).unwrap_or(&r.dir).to_path_buf(),
                    interrupted: r.interrupted,
                    bpftrace_events: (r.arm == Arm::Bpftrace)
                        .then(|| serde_json::to_value(&r.bpftrace_events))
                        .transpose()?,
                })
            })
            .collect::<anyhow::Result<_>>()?,
        interrupted,
        environment: env,
    };
    results::write_json(&out_dir.join("meta.json"), &meta)?;

    let mut report = report::table(cfg, &rows, complete.len());
    if let Some(s) = &script {
        report.extend(report::bpftrace_lines(s, &runs));
    }
    report.extend(report::cost_lines(&costs));
    Ok(OverheadOutcome {
        dir: out_dir.to_owned(),
        rows,
        costs,
        runs,
        report,
        interrupted,
    })
}

/// One run of the bpftrace arm: BPF run-time statistics on, bpftrace attached (its probes
/// filtered to this process), the workload, the bpftrace programs' cost read while they are
/// still attached, bpftrace stopped. Writes `bpftrace_cost.csv`, `bpftrace.out` and
/// `bpftrace.err` into the run directory; returns the run, bpftrace's pid and its event
/// counts per layer.
fn run_under_bpftrace(
    rc: &RunConfig,
    dir: &Path,
    stop: Arc<AtomicBool>,
    script_path: &Path,
    script: &BpftraceScript,
) -> anyhow::Result<(RunOutcome, Option<u32>, BTreeMap<String, u64>)> {
    let what = format!("run {}", dir.display());
    // BPF run time is counted while the fd is open; without it the cost rows read 0.
    let stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).ok();
    let mut bt = bpftrace::Bpftrace::start(script_path, Duration::from_secs(90))
        .with_context(|| what.clone())?;
    let pid = bt.pid();
    let outcome = run::run(rc, dir, stop).context(what)?;
    let costs = match pid {
        Some(pid) => cost::bpftrace_costs(pid, rc.label.as_deref().unwrap_or(""), script),
        None => Vec::new(),
    };
    let out = bt.stop();
    drop(stats);
    if !costs.is_empty() {
        results::write_csv(&dir.join("bpftrace_cost.csv"), &costs)?;
    }
    results::write_atomically(&dir.join("bpftrace.out"), |w| {
        for l in &out.stdout {
            std::io::Write::write_all(w, l.as_bytes())?;
            std::io::Write::write_all(w, b"\n")?;
        }
        Ok(())
    })?;
    results::write_atomically(&dir.join("bpftrace.err"), |w| {
        std::io::Write::write_all(w, out.stderr.as_bytes())?;
        Ok(())
    })?;
    Ok((outcome, pid, bpftrace::parse_event_counts(&out.stdout)))
}
