//! `uadpbench probes list` and `cleanup`.

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
