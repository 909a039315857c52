//! The command line: one module per command (its clap arguments and the function that turns
//! them into a configuration and runs it). `main.rs` only parses and dispatches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub(crate) mod agent;
pub(crate) mod campaign;
pub(crate) mod conditions;
pub(crate) mod interop;
pub(crate) mod maintenance;
pub(crate) mod overhead;
pub(crate) mod run;

pub(crate) fn seconds(flag: &str, s: Option<f64>) -> anyhow::Result<Option<std::time::Duration>> {
    s.map(|v| {
        std::time::Duration::try_from_secs_f64(v)
            .map_err(|_| anyhow::anyhow!("{flag} {v}: give a non-negative number of seconds"))
    })
    .transpose()
}

pub(crate) fn stop_on_signal() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    ctrlc::set_handler(move || s.store(true, Ordering::Relaxed))
        .map_err(|e| anyhow::anyhow!("cannot install the signal handler: {e}"))?;
    Ok(stop)
}

/// Prints each problem of a configuration as an error; `Some(2)` (refused, before anything ran)
/// when there was one.
pub(crate) fn refused(problems: &[String]) -> Option<std::process::ExitCode> {
    for p in problems {
        eprintln!("error: {p}");
    }
    (!problems.is_empty()).then(|| std::process::ExitCode::from(2))
}

/// Raises the open-file limit for a run (see [`uadpbench::limits`]); `Some(2)` with the reason
/// when even the hard limit is too low — before anything is set up.
pub(crate) fn too_few_open_files() -> Option<std::process::ExitCode> {
    match uadpbench::limits::ensure_open_files(uadpbench::limits::MIN_OPEN_FILES) {
        Ok(_) => None,
        Err(e) => {
            eprintln!("error: {e}");
            Some(std::process::ExitCode::from(2))
        }
    }
}
