//! Arguments shared by several commands: CPU placement and idle states (`run`, `overhead`,
//! `campaign` overrides), the endpoint conditions of `publish`/`subscribe`, and `--trace`.

use std::path::PathBuf;

use clap::Args;
use uadpbench::conditions::{IdleLatency, Placement};
use uadpbench::run::{Mode, RunConfig};
use uadpbench_common::{Encap, PathKind};

/// `--trace` and its window, on `run` and `campaign`.
#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// Write a timeline of a window of the run (the first --trace-packets measured packets)
    /// as Perfetto/Chrome trace-event JSON: one track per stack layer with each packet moving
    /// down the send path and up the receive path, beside the thread running on each CPU
    /// (sched:sched_switch) and the benchmark threads' off-CPU intervals. Open it at
    /// ui.perfetto.dev (Open trace file). `run`: implies --probes all when --probes is none.
    /// `campaign`: every run with probes writes its runs/*/trace.json (runs without probes
    /// stay uninstrumented), merged into FILE at the end, one process group per run.
    /// Records every context switch while a traced run lasts (~0.2 µs each).
    #[arg(long, value_name = "FILE")]
    pub(crate) trace: Option<PathBuf>,
    /// --trace window: the first N measured packets.
    #[arg(long, value_name = "N", default_value_t = uadpbench::trace::DEFAULT_TRACE_PACKETS)]
    pub(crate) trace_packets: u64,
    /// --trace window: the packets of this many ms from the first measured one (instead of
    /// --trace-packets).
    #[arg(long, value_name = "MS")]
    pub(crate) trace_window_ms: Option<f64>,
}

impl TraceArgs {
    pub(crate) fn spec(&self) -> Option<uadpbench::trace::TraceSpec> {
        self.trace.clone().map(|file| uadpbench::trace::TraceSpec {
            file,
            packets: self.trace_packets,
            window_ms: self.trace_window_ms,
        })
    }
}

/// Conditions of `publish`/`subscribe`: one timed thread.
#[derive(Debug, Args, Clone)]
pub(crate) struct EndpointConditionsArgs {
    /// Pin the publishing/subscribing thread to this CPU (default: not pinned).
    #[arg(long, value_name = "CPU")]
    pub(crate) cpu: Option<usize>,
    /// PM QoS CPU latency limit held while running, in µs (0, the default: idle CPUs only
    /// poll, so a wake-up does not add tens of µs to the timing), or `off`.
    #[arg(long, value_name = "US|off", default_value = "0")]
    pub(crate) idle_latency_us: IdleLatency,
}

impl EndpointConditionsArgs {
    /// Problems to refuse with exit status 2.
    pub(crate) fn problems(&self) -> Vec<String> {
        let Some(cpu) = self.cpu else {
            return Vec::new();
        };
        match uadpbench::conditions::placement::usable_cpus() {
            Ok(u) if u.contains(&cpu) => Vec::new(),
            Ok(u) => vec![format!(
                "--cpu {cpu}: offline or outside this process's CPU affinity mask; usable CPUs: {}",
                uadpbench::conditions::placement::cpu_list(&u)
            )],
            Err(e) => vec![format!("--cpu {cpu}: {e}")],
        }
    }

    /// Pins the calling thread and holds PM QoS; the guard releases it.
    pub(crate) fn apply(&self) -> anyhow::Result<Option<uadpbench::conditions::PmQosGuard>> {
        uadpbench_sender::sched::ThreadSched {
            cpu: self.cpu,
            fifo_priority: None,
        }
        .apply_to_current_thread()?;
        let guard = self.idle_latency_us.hold()?;
        eprintln!(
            "conditions: {}; idle states: {}",
            self.cpu
                .map_or("thread not pinned".into(), |c| format!("pinned to CPU {c}")),
            match self.idle_latency_us {
                IdleLatency::Hold(us) => format!("PM QoS CPU latency limit {us} µs held"),
                IdleLatency::Off => "not controlled".into(),
            }
        );
        Ok(guard)
    }
}

/// Controlled conditions of the timed part: CPU placement and idle states.
#[derive(Debug, Args, Clone)]
pub(crate) struct ConditionsArgs {
    /// Where the two timed threads run: cross-cpu (sides A and B pinned to two distinct CPUs,
    /// chosen deterministically and printed: the analogue of two hosts), same-cpu (both on one
    /// CPU), or none (the scheduler decides; results then change from run to run).
    #[arg(long, value_enum, default_value = "cross-cpu")]
    pub(crate) placement: Placement,
    /// Pin the thread in namespace A (initiator/publisher) to this CPU (overrides the
    /// placement's choice; must be online and in this process's affinity mask).
    #[arg(long, value_name = "CPU")]
    pub(crate) cpu_a: Option<usize>,
    /// Pin the thread in namespace B (reflector/subscriber) to this CPU.
    #[arg(long, value_name = "CPU")]
    pub(crate) cpu_b: Option<usize>,
    /// PM QoS CPU latency limit held while the run is timed, in µs: 0 (default) lets idle CPUs
    /// only poll, as cyclictest does; `off` leaves idle states alone (waking a halted CPU can
    /// cost tens of µs per message on a VM).
    #[arg(long, value_name = "US|off", default_value = "0")]
    pub(crate) idle_latency_us: IdleLatency,
}

impl ConditionsArgs {
    pub(crate) fn apply(&self, cfg: &mut RunConfig) {
        cfg.placement = self.placement;
        cfg.idle_latency = self.idle_latency_us;
        cfg.sched_a.cpu = self.cpu_a;
        cfg.sched_b.cpu = self.cpu_b;
    }
}

/// What is measured: path, encapsulation, mode and the message counts (`run`, `overhead`).
#[derive(Debug, Args, Clone)]
pub(crate) struct WorkloadArgs {
    /// Transport path.
    #[arg(long, value_enum, default_value = "udp")]
    pub(crate) path: PathKind,
    /// Encapsulation for eth/xdp: UADP directly in Ethernet (0xB62C) or in UDP/IPv4.
    /// Default: udp for the udp path, eth otherwise.
    #[arg(long, value_enum)]
    pub(crate) encap: Option<Encap>,
    /// Measurement mode.
    #[arg(long, value_enum, default_value = "pingpong")]
    pub(crate) mode: Mode,
    /// Measured messages per run (pingpong, cyclic).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) count: u64,
    /// Run length in seconds (flood; cyclic: instead of --count).
    #[arg(long, value_name = "SECS")]
    pub(crate) duration: Option<f64>,
    /// Messages sent first in each run and excluded from statistics.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) warmup: u64,
    /// Size of each UADP NetworkMessage in bytes (default 64; `run --layout` sets its own size).
    #[arg(long)]
    pub(crate) payload: Option<usize>,
    /// Cyclic publishing interval in microseconds.
    #[arg(long, default_value_t = 1_000)]
    pub(crate) interval_us: u64,
}

impl WorkloadArgs {
    /// The run configuration these arguments describe (the rest at its defaults).
    pub(crate) fn config(&self) -> RunConfig {
        let mut cfg = RunConfig::new(self.path, self.encap, self.mode);
        cfg.count = self.count;
        cfg.duration_s = self.duration;
        cfg.warmup = self.warmup;
        if let Some(p) = self.payload {
            cfg.payload_bytes = p;
        }
        cfg.interval_us = self.interval_us;
        cfg
    }
}
