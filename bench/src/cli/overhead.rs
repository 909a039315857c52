//! `uadpbench overhead`: the same workload with probes off and on (and under bpftrace).

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use clap::Args;
use uadpbench::run::Mode;

use super::conditions::*;
use super::stop_on_signal;

#[derive(Debug, Args)]
pub(crate) struct OverheadArgs {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Runs per arm (off, probes[, bpftrace]), interleaved.
    #[arg(long, default_value_t = 5)]
    repetitions: usize,
    /// Probes of the probes arm: all, or a comma-separated list of layer names.
    #[arg(long, default_value = "all")]
    probes: String,
    /// How the probes arm's probes report: events (every stamp, as `run`) or histogram
    /// (in-kernel log2 histograms; its added latency is the cost of that mode).
    #[arg(long, value_enum, default_value_t = uadpbench::run::ProbesMode::Events)]
    probes_mode: uadpbench::run::ProbesMode,
    /// Add a third arm: bpftrace running the equivalent classic tracepoints (probes off).
    #[arg(long)]
    bpftrace: bool,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = uadpbench::overhead::DEFAULT_RESAMPLES)]
    resamples: usize,
    #[command(flatten)]
    conditions: ConditionsArgs,
    /// Results directory (default: results/overhead-<UTC time>-<run id>).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub(crate) fn overhead_command(a: OverheadArgs) -> anyhow::Result<ExitCode> {
    use uadpbench::overhead::{run_overhead, OverheadConfig, DEFAULT_SEED};
    let mut run = a.workload.config();
    run.probes_mode = a.probes_mode;
    if run.mode == Mode::Flood && run.duration_s.is_none() {
        run.duration_s = Some(2.0);
    }
    let mut cfg = OverheadConfig {
        run,
        probes: a.probes,
        repetitions: a.repetitions,
        bpftrace: a.bpftrace,
        resamples: a.resamples,
        seed: DEFAULT_SEED,
    };
    a.conditions.apply(&mut cfg.run);
    let problems = cfg.validate();
    if let Some(code) = super::refused(&problems) {
        return Ok(code);
    }
    if let Some(code) = super::too_few_open_files() {
        return Ok(code);
    }
    let out = a
        .out
        .unwrap_or_else(|| uadpbench::results::default_dir("overhead-", &cfg.run.run_id()));
    let stop = stop_on_signal()?;
    let outcome = run_overhead(&cfg, &out, Arc::clone(&stop))?;
    for line in &outcome.report {
        say!("{line}");
    }
    let d = outcome.dir.display();
    say!("results: {d}/overhead.csv, {d}/overhead_cost.csv, meta.json and runs/*/ (columns in docs/csv-schema.md)");
    if outcome.interrupted {
        eprintln!("interrupted: the table covers the repetitions finished before the signal");
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
