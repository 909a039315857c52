//! `uadpbench probes list`, `probes dispatch` and `cleanup`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use uadpbench_sender::transport::PathKind;

#[derive(Debug, Subcommand)]
pub(crate) enum ProbesCommand {
    /// List each layer of a path with the mechanism it would use here, or why it cannot attach.
    List {
        /// Only this path; default: all three.
        #[arg(long, value_enum)]
        path: Option<PathKind>,
    },
    /// Measure what a tracepoint hit costs beyond its BPF program on this host (the dispatch
    /// that BPF run-time statistics do not count; probe runs measure it before attaching).
    Dispatch {
        /// System calls per batch.
        #[arg(long, default_value_t = 2_000)]
        calls: u32,
        /// Batches per state (nothing attached, classic, BTF, slow system-call path).
        #[arg(long, default_value_t = 15)]
        rounds: u32,
        /// Run the loop on this CPU (default: where the process starts).
        #[arg(long)]
        cpu: Option<usize>,
    },
}

pub(crate) fn probes_dispatch(
    calls: u32,
    rounds: u32,
    cpu: Option<usize>,
) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    if let Some(cpu) = cpu {
        uadpbench_sender::sched::ThreadSched {
            cpu: Some(cpu),
            fifo_priority: None,
        }
        .apply_to_current_thread()
        .with_context(|| format!("--cpu {cpu}: pinning the calibration there"))?;
    }
    say!(
        "timing prctl(PR_SET_NAME) against prctl(PR_GET_NAME) and getppid with nothing, an empty classic and an empty BTF program on task_rename, and a system-call tracepoint attached ({rounds} batches × {calls} calls per state)..."
    );
    let d =
        uadpbench_probes::calibrate_dispatch(uadpbench_probes::DispatchConfig { calls, rounds })
            .context("the dispatch calibration needs root (it loads two empty BPF programs)")?;
    let row = |what: &str, f: &uadpbench_probes::DispatchFigure| {
        say!(
            "  {what:<58} {:>7.1} ns  (batches {:.1} … {:.1})",
            f.median_ns,
            f.min_ns,
            f.max_ns
        );
    };
    row("getppid, nothing attached", &d.syscall);
    row(
        "slow system-call path (a syscall tracepoint attached)",
        &d.syscall_tracing,
    );
    row("classic tracepoint hit, empty program", &d.tracepoint);
    row("BTF tracepoint hit, empty program", &d.btf_tracepoint);
    let counted = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} ns"));
    say!(
        "  BPF statistics count for one empty run: classic {}, BTF {}",
        counted(d.tracepoint_counted_ns),
        counted(d.btf_tracepoint_counted_ns)
    );
    let per = |m: &str| {
        d.per_hit_ns(m)
            .map_or("-".to_owned(), |v| format!("{v:.1} ns"))
    };
    say!(
        "  added to each counted run by the compensation: classic {}, BTF {}",
        per("tracepoint"),
        per("tp_btf")
    );
    say!(
        "CPU {}, {:.2} s; probe runs measure this before attaching and add it to every program run's counted BPF time (docs/probes.md, Cost)",
        d.cpu.map_or("?".to_owned(), |c| c.to_string()),
        d.elapsed_ns as f64 / 1e9
    );
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct CleanupArgs {
    /// Also remove topologies whose owning process still runs (default: orphans only).
    #[arg(long)]
    all: bool,
    /// Results tree to clear of partial files (`*.tmp` of interrupted writes, empty SVGs)
    /// older than a minute; complete results are never touched.
    #[arg(long, value_name = "DIR", default_value = "results")]
    results: PathBuf,
}

pub(crate) fn probes_list(path: Option<PathKind>) -> anyhow::Result<ExitCode> {
    use uadpbench_probes::{plan, Selection};
    let paths: Vec<PathKind> = match path {
        Some(p) => vec![p],
        None => PathKind::ALL.to_vec(),
    };
    for p in paths {
        say!("path {p}:");
        for l in plan(p, &Selection::All) {
            let when = l
                .only_when
                .map(|w| format!("  [fires only when: {w}]"))
                .unwrap_or_default();
            // The probe session cannot attach xdp_ingress itself: the xdp path's own XDP
            // program stamps it in probe runs.
            let outcome = if l.layer == uadpbench_probes::LayerId::XdpIngress {
                "xdp: stamped by the xdp path's own XDP program in probe runs (XDP_FLAG_STAMP)"
                    .to_owned()
            } else {
                l.outcome.to_string()
            };
            say!(
                "  {:>2} {:<24} {:<8} {outcome}{when}",
                l.layer_index,
                l.name,
                format!("{:?}", l.direction).to_lowercase(),
            );
        }
        say!("  {}", uadpbench_probes::minimal_description(p));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn cleanup_command(a: CleanupArgs) -> anyhow::Result<ExitCode> {
    let scope = if a.all {
        uadpbench_topology::LeftoverScope::All
    } else {
        uadpbench_topology::LeftoverScope::Orphaned
    };
    let removed = uadpbench_topology::remove_leftovers(scope)?;
    for r in &removed {
        say!("removed {:?} {}", r.kind, r.name);
    }
    let partial = if a.results.is_dir() {
        uadpbench::results::remove_partial_files(&a.results, std::time::Duration::from_secs(60))
            .map_err(|e| {
                anyhow::anyhow!("clearing partial files under {}: {e}", a.results.display())
            })?
    } else {
        Vec::new()
    };
    for p in &partial {
        say!("removed partial file {}", p.display());
    }
    if removed.is_empty() && partial.is_empty() {
        say!("nothing to clean up");
    }
    Ok(ExitCode::SUCCESS)
}
