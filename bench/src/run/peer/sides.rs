//! The two sides of a run across hosts: this host's loop (ping-pong initiator or cyclic
//! publisher) with the agent watchdog, and what each side's result is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use uadpbench_agent::{AgentError, BlockingAgentClient, Role};
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::loops::{
    self, CyclicConfig, FloodConfig, PingPongConfig, PingPongResult, PublishResult,
};
use uadpbench_sender::open::{open_transport, LinkInfo};

use super::AGENT_CHECK_EVERY;
use crate::remote::{RemoteConditions, RemoteSideResult, RemoteSubscriberResult};
use crate::run::{Mode, RunConfig};

/// Runs side A's loop on a pinned thread while another thread checks every agent every
/// [`AGENT_CHECK_EVERY`]; a lost agent stops the loop. Returns the loop's result and the
/// first lost agent (its index in `clients`) with the check's error, if any.
pub(super) fn run_initiator(
    cfg: &RunConfig,
    allow_external_interface: bool,
    link: &LinkInfo,
    clients: &[&BlockingAgentClient],
    stop: &Arc<AtomicBool>,
) -> (anyhow::Result<NearResult>, Option<(usize, AgentError)>) {
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let watchdog = scope.spawn(|| {
            let mut next = Instant::now() + AGENT_CHECK_EVERY;
            while !done.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(20));
                if Instant::now() < next {
                    continue;
                }
                for (i, client) in clients.iter().enumerate() {
                    if let Err(e) = client.clock_offset(1) {
                        stop.store(true, Ordering::Relaxed);
                        return Some((i, e));
                    }
                }
                next = Instant::now() + AGENT_CHECK_EVERY;
            }
            None
        });
        let initiator = std::thread::Builder::new()
            .name(format!("ub-{}", cfg.mode.name()))
            .spawn_scoped(scope, || -> anyhow::Result<NearResult> {
                cfg.sched_a.apply_to_current_thread()?;
                let mut options = cfg.path_options.clone();
                if cfg.mode != Mode::Flood {
                    // Latency modes: one message per system call, as in-process runs.
                    options.batch = 1;
                }
                options.allow_disruptive_interface = allow_external_interface;
                let mut transport = open_transport(cfg.path, cfg.encap, link, &options)
                    .with_context(|| {
                        format!(
                            "opening the {} path on {} (this host)",
                            cfg.path, link.ifname
                        )
                    })?;
                let mut codec = cfg.codec()?;
                Ok(match cfg.mode {
                    Mode::Pingpong => {
                        let pp = PingPongConfig {
                            warmup: cfg.warmup,
                            count: cfg.count,
                            timeout: Duration::from_millis(cfg.timeout_ms),
                        };
                        NearResult::PingPong(loops::ping_pong(
                            transport.as_mut(),
                            codec.as_mut(),
                            &pp,
                            stop,
                        )?)
                    }
                    Mode::Flood => NearResult::Publish(loops::publish_flood(
                        transport.as_mut(),
                        codec.as_mut(),
                        &FloodConfig {
                            duration: Duration::from_secs_f64(cfg.duration_s.unwrap_or(1.0)),
                            batch: cfg.path_options.batch,
                        },
                        stop,
                    )?),
                    Mode::Cyclic => {
                        let cyc = CyclicConfig {
                            warmup: cfg.warmup,
                            count: cfg.measured_count(),
                            interval: Duration::from_micros(cfg.interval_us),
                            spin: Duration::from_micros(cfg.spin_us),
                        };
                        // Start one interval from now so the first deadline is not late.
                        let start = monotonic_ns() + cyc.interval.as_nanos() as u64;
                        NearResult::Publish(loops::publish_cyclic(
                            transport.as_mut(),
                            codec.as_mut(),
                            &cyc,
                            start,
                            stop,
                        )?)
                    }
                })
            });
        let result = match initiator {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "the {} thread panicked",
                    near_name(cfg.mode)
                ))
            }),
            Err(e) => Err(anyhow::anyhow!(
                "cannot start the {} thread: {e}",
                near_name(cfg.mode)
            )),
        };
        done.store(true, Ordering::Release);
        let lost = watchdog.join().unwrap_or(None);
        (result, lost)
    })
}

/// What this host's side measured.
pub(super) enum NearResult {
    PingPong(PingPongResult),
    Publish(PublishResult),
}

/// What the agent's side reported.
pub(super) enum FarResult {
    Reflector(Box<RemoteSideResult>),
    Subscriber(Box<RemoteSubscriberResult>),
}

impl FarResult {
    pub(super) fn read(role: Role, value: serde_json::Value) -> serde_json::Result<Self> {
        Ok(match role {
            Role::Reflector => FarResult::Reflector(serde_json::from_value(value)?),
            Role::Subscriber => FarResult::Subscriber(serde_json::from_value(value)?),
        })
    }

    pub(super) fn conditions(&self) -> &RemoteConditions {
        match self {
            FarResult::Reflector(r) => &r.conditions,
            FarResult::Subscriber(r) => &r.conditions,
        }
    }

    /// The agent's probe report, when it ran probes.
    pub(super) fn probes(&self) -> Option<&crate::remote::RemoteProbeReport> {
        match self {
            FarResult::Reflector(r) => r.probes.as_ref(),
            FarResult::Subscriber(r) => r.probes.as_ref(),
        }
    }
}

/// This host's side, in words.
pub(super) fn near_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Pingpong => "ping-pong initiator",
        Mode::Cyclic | Mode::Flood => "publisher",
    }
}

/// The agent's side, in words (also its key in meta.json's "peer").
pub(super) fn far_name(role: Role) -> &'static str {
    match role {
        Role::Reflector => "reflector",
        Role::Subscriber => "subscriber",
    }
}
