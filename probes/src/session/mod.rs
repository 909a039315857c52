//! Loading, attaching (best mechanism per layer), draining and cost accounting.
//!
//! - `config`: what to trace ([`ProbeConfig`]), the programs' globals, loading the object;
//! - `attach`: loading one candidate program (the one place per mechanism) and attaching it;
//! - `dispatch`: what a tracepoint hit costs beyond its program ([`calibrate_dispatch`]);
//! - `plan`: what would attach, without attaching ([`plan()`]); the verifier's verdict on every
//!   program ([`verify_programs`]);
//! - `start`: [`ProbeSession::start`], attaching a session's layers, prerequisites and helpers;
//! - `probe_session`: the running [`ProbeSession`]: drains, losses, costs, the report;
//! - `report`: what sessions and plans report ([`ProbeReport`], [`LayerStatus`], ...);
//! - `stats`: `BPF_ENABLE_STATS`, the calibration watcher, the programs' run counts;
//! - `sched`: the `sched_switch` program and its ring buffer ([`SchedEvent`]);
//! - `maps`: the object's maps as the session uses them.

mod attach;
mod config;
mod dispatch;
mod histogram;
mod maps;
mod plan;
mod probe_session;
mod report;
mod sched;
mod start;
mod stats;

pub use config::{ProbeConfig, DEFAULT_SCHED_BUFFER_BYTES};
pub use dispatch::{calibrate_dispatch, DispatchConfig, DispatchCost, DispatchFigure};
pub use histogram::{
    point_name, reference_layer, HistogramConfig, HistogramReport, LayerHistogram, SegmentHistogram,
};
pub use plan::{plan, plan_with, verify_programs, ProgramCheck};
pub use probe_session::ProbeSession;
pub use report::{
    LayerEvent, LayerLoss, LayerPlan, LayerStatus, Outcome, ProbeReport, ProgramCost, StatsWindow,
};
pub use sched::SchedEvent;
pub use stats::STATS_WATCH_INTERVAL;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_and_report_are_send() {
        fn send<T: Send>() {}
        send::<ProbeSession>();
        send::<ProbeReport>();
        send::<ProbeConfig>();
    }
}
