//! Writing a trace file and the lines the run prints about it.

use std::io::Write as _;
use std::path::Path;

use uadpbench_probes::ProbeReport;

use super::{build, TraceSpec, TraceSummary};
use crate::results::{self, SampleRow};

/// Builds the trace and writes it to `spec.file` atomically (temporary file + rename).
pub fn write(
    spec: &TraceSpec,
    report: &ProbeReport,
    samples: &[SampleRow],
) -> anyhow::Result<TraceSummary> {
    let (value, summary) = build(spec, report, samples)?;
    if let Some(dir) = spec.file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    results::write_atomically(&spec.file, |w| {
        serde_json::to_writer(&mut *w, &value)?;
        writeln!(w)?;
        Ok(())
    })?;
    Ok(summary)
}

/// The lines the run prints about a written trace.
pub fn report_lines(file: &Path, s: &TraceSummary, dropped: u64) -> Vec<String> {
    let mut lines = vec![format!(
        "  trace: {} ({} events: {} packets over {} layer tracks, {} context switches on {} CPU(s), {:.1} µs window)",
        file.display(),
        s.events,
        s.packets,
        s.layers,
        s.sched_switches,
        s.cpus,
        s.window_us
    )];
    if dropped > 0 {
        lines.push(format!(
            "    {dropped} context switch(es) lost: the sched_switch ring buffer was full"
        ));
    }
    lines.push(
        "    open it at https://ui.perfetto.dev → \"Open trace file\" (or chrome://tracing)".into(),
    );
    lines
}
