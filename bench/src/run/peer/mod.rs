//! `uadpbench run --peer`: a run across two hosts. Side A (ping-pong initiator, cyclic or
//! flood publisher) runs here on `--interface`; side B (reflector, recording subscriber, or
//! counting subscriber for a flood) runs on the agent's host (`uadpbench agent`) on
//! `--peer-interface`, started and finished over the agent's control connection. No topology
//! is created: both interfaces exist already.
//!
//! Round-trip times are taken on this host's clock alone, so they need no common clock. The
//! agent's clock offset is estimated before and after the run (NTP-style over the control
//! connection) and recorded in meta.json under "peer", with its drift; it is not applied to
//! anything yet. The result files are those of a local run (summary.csv, samples.csv,
//! meta.json), written by the same code.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use uadpbench_agent::{
    AgentError, BlockingAgentClient, ClientOptions, HostFacts, InterfaceFacts, Role, SideSpec,
    TimeSync, PROTOCOL_VERSION,
};
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::loops::PingPongResult;
use uadpbench_sender::open::LinkInfo;
use uadpbench_sender::transport::{Encap, PathKind};

use super::workload::{record_cyclic, record_flood, record_ping_pong, Collected};
use super::*;
use crate::clock_check::{move_far_stamps, ClockStamps, FarMove, HardwareStamps};
use crate::remote::iface::{self, CONTROLLER_GUARD_HINT};
use crate::remote::{
    end_cpu, End, RemotePathOptions, RemoteProbeParams, RemoteSideParams, RemoteSubscribe,
    RemoteTraceWindow, MAX_REMOTE_PROBED_MESSAGES, MAX_REMOTE_RECEPTIONS,
};
use clock::{clock_meta, ClockFacts, ClockSource};
use sides::{far_name, near_name, run_initiator, FarResult, NearResult};

mod clock;
mod fanout;
mod sides;

/// Clock exchanges per offset estimate (the one with the smallest round trip is kept).
pub const CLOCK_SAMPLES: usize = 32;

/// How often the controller checks, during the timed loop, that the agent is still there (one
/// clock exchange on the control connection): a killed agent ends the run within about this.
pub const AGENT_CHECK_EVERY: Duration = Duration::from_secs(1);

/// Limit of one request to the agent (a hung agent host is noticed after this at the latest).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The far end of a run across hosts.
#[derive(Debug, Clone)]
pub struct PeerSpec {
    /// The agent's `host:port`.
    pub addr: String,
    /// This host's interface (`--interface`).
    pub interface: String,
    /// The agent host's interface (`--peer-interface`).
    pub peer_interface: String,
    /// The agent's token (`--token-file`).
    pub token: Option<String>,
    /// `--allow-external-interface`: this host's interface need not be uadpbench's own.
    pub allow_external_interface: bool,
    /// `--peer-clock`.
    pub clock: PeerClock,
    /// `--peer-pcap NAME`: the agent captures what its interface receives into NAME.pcap in
    /// its `--capture-dir`.
    pub pcap_name: Option<String>,
}

/// How a cyclic run across hosts puts the agent's receive times on this host's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerClock {
    /// Exact when the agent runs on this kernel (same boot id), else PTP's CLOCK_TAI when
    /// both hosts are PTP-disciplined, else the estimate.
    #[default]
    Auto,
    /// Always the offset estimated over the control connection.
    Estimate,
    /// Both hosts' PTP-disciplined CLOCK_TAI (refused before the run when either host is not
    /// PTP-disciplined; the estimate when the mapping fails its checks after the run).
    Ptp,
}

/// What `run --peer` refuses before it connects (exit status 2), one message each: the
/// configuration's own problems (with `--cpu-b` and `--subscriber-cpus`, CPUs of the agents'
/// hosts, left to the agents), a fan-out whose subscriber count is not the number of agents
/// (`agents`), and what is not built across hosts yet.
pub fn peer_problems(cfg: &RunConfig, agents: usize) -> Vec<String> {
    let mut problems = validate_near(cfg);
    match cfg.subscribers {
        Some(n) if n != agents => problems.push(format!(
            "--subscribers {n} with {agents} --peer(s): across hosts each agent runs one subscriber, so give one --peer per subscriber ({n}), or leave --subscribers out to fan out to every --peer"
        )),
        None if agents > 1 => problems.push(format!(
            "{agents} --peers: several agents are a fan-out (one publisher, one subscriber per agent): add --subscribers {agents} --mode cyclic"
        )),
        _ => {}
    }
    if cfg.mode == Mode::Cyclic && cfg.warmup + cfg.measured_count() > MAX_REMOTE_RECEPTIONS {
        problems.push(format!(
            "--count plus --warmup is {} but a cyclic run across hosts takes at most {MAX_REMOTE_RECEPTIONS} messages (the agent sends every reception back in one control frame): run repetitions instead",
            cfg.warmup + cfg.measured_count()
        ));
    }
    if cfg.probes_enabled()
        && cfg.probes_mode != crate::run::ProbesMode::Histogram
        && cfg.mode != Mode::Flood
        && cfg.warmup + cfg.measured_count() > MAX_REMOTE_PROBED_MESSAGES
    {
        problems.push(format!(
            "--count plus --warmup is {} but a run across hosts with --probes takes at most {MAX_REMOTE_PROBED_MESSAGES} messages (the agent keeps and sends back the stamps of each): run repetitions, or count in the kernel with --probes-mode histogram",
            cfg.warmup + cfg.measured_count()
        ));
    }
    if cfg.pcap.is_some() {
        problems.push("--pcap with --peer: the frames arrive on the agent's host; use --peer-pcap NAME (the agent writes NAME.pcap into its --capture-dir)".into());
    }
    if cfg.layout.is_some() {
        problems.push(
            "--layout with --peer: the agent reflects the benchmark's own message only; leave --layout out".into(),
        );
    }
    problems
}

/// Whether a session of the sending host records a layer stamped there when it sends: a
/// send-direction layer other than those veth stamps on the receiving device (`netif_rx`,
/// `net_dev_xmit`).
fn stamps_own_sends(layers: &[uadpbench_probes::LayerStatus]) -> bool {
    use uadpbench_probes::{Direction, LayerId};
    layers.iter().any(|s| {
        s.recorded()
            && s.direction == Direction::Send
            && !matches!(s.layer, LayerId::NetifRx | LayerId::NetDevXmit)
    })
}

/// Ids a counting subscriber prepares for in a flood: what the publisher could send in the
/// duration at 4 million messages per second (as a local flood).
fn flood_expected(cfg: &RunConfig) -> u64 {
    (cfg.duration_s.unwrap_or(1.0) * 4e6) as u64 + 1024
}

/// [`RunConfig::validate`] for the near end: each host resolves its own end's CPU
/// ([`end_cpu`]), so only `--cpu-a` is checked here and `--cpu-b` is left to the agent.
fn validate_near(cfg: &RunConfig) -> Vec<String> {
    let mut here = cfg.clone();
    here.sched_b.cpu = None;
    here.subscriber_cpus.clear();
    here.placement = Placement::None;
    here.validate()
}

/// Runs across hosts: a fan-out to one subscriber on each of `peers` when the configuration
/// has `--subscribers`, else a run against the one agent of `peers`; writes the run's files
/// into `out_dir` (nothing half-written stays behind on an error).
pub fn run_with_peers(
    cfg: &RunConfig,
    peers: &[PeerSpec],
    out_dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<RunOutcome> {
    let problems = peer_problems(cfg, peers.len());
    if !problems.is_empty() {
        bail!(
            "invalid run configuration:\n  - {}",
            problems.join("\n  - ")
        );
    }
    match (cfg.subscribers, peers) {
        (None, [peer]) => run_with_peer(cfg, peer, out_dir, stop),
        _ => {
            let created = !out_dir.exists();
            let r = fanout::run_fanout(cfg, peers, out_dir, stop);
            if r.is_err() && created {
                let _ = std::fs::remove_dir(out_dir);
            }
            r
        }
    }
}

/// Runs a ping-pong against the agent of `peer` and writes the run's files into `out_dir`.
pub fn run_with_peer(
    cfg: &RunConfig,
    peer: &PeerSpec,
    out_dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<RunOutcome> {
    let created = !out_dir.exists();
    let r = run_with_peer_in(cfg, peer, out_dir, stop);
    if r.is_err() && created {
        // Nothing half-written stays behind (remove_dir keeps a non-empty directory).
        let _ = std::fs::remove_dir(out_dir);
    }
    r
}

fn needs_ipv4(path: PathKind, encap: Encap) -> bool {
    path == PathKind::Udp || encap == Encap::Udp
}

fn run_with_peer_in(
    cfg: &RunConfig,
    peer: &PeerSpec,
    out_dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<RunOutcome> {
    let problems = peer_problems(cfg, 1);
    if !problems.is_empty() {
        bail!(
            "invalid run configuration:\n  - {}",
            problems.join("\n  - ")
        );
    }
    let far_cpu = cfg.sched_b.cpu;
    let mut cfg = cfg.clone();
    cfg.sched_b.cpu = None;

    iface::guard(
        &peer.interface,
        peer.allow_external_interface,
        CONTROLLER_GUARD_HINT,
    )?;
    let local = iface::local_interface(&peer.interface).context("on this host (--interface)")?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create the results directory {}", out_dir.display()))?;

    let client = connect(peer)?;
    let agent_host = client.host().clone();
    let local_host = HostFacts::local();
    let local_sync_before = local_host.time_sync.clone().unwrap_or_default();
    refuse_ptp_if_unavailable(peer, &agent_host, &local_sync_before)?;
    let t_before = monotonic_ns();
    // `--so-timestamping`: this host's REALTIME − MONOTONIC around the run (the software
    // stamps are wall-clock time).
    let realtime_before = cfg
        .path_options
        .so_timestamping
        .then(|| uadpbench_sender::clock::realtime_offset(1000));
    let clock_before = client
        .clock_offset(CLOCK_SAMPLES)
        .map_err(agent_error)
        .context("estimating the agent's clock offset before the run")?;
    let far_iface = client.describe(&peer.peer_interface).map_err(agent_error)?;
    let far_mac = far_iface.mac_bytes().with_context(|| {
        format!(
            "the agent reported MAC {:?} for {}; run the same uadpbench version on both hosts",
            far_iface.mac, far_iface.name
        )
    })?;
    check_ipv4(&cfg, &local, &far_iface)?;
    // No veth is created: the smaller of the two interfaces' MTUs bounds the message.
    cfg.mtu = local.mtu.min(far_iface.mtu) as usize;
    let problems = validate_near(&cfg);
    if !problems.is_empty() {
        bail!(
            "invalid run configuration for {} ⇄ {} (MTU {}):\n  - {}",
            local.name,
            far_iface.name,
            cfg.mtu,
            problems.join("\n  - ")
        );
    }
    cfg.sched_a.cpu = end_cpu(cfg.placement, cfg.sched_a.cpu, End::Near)
        .map_err(|e| anyhow::anyhow!("--placement {}: {e}", cfg.placement))?;

    // Probes: this host traces its end (its namespace's devices, this process's threads), the
    // agent its own; both attach before either side opens its path.
    let probe_spec = crate::probe_run::SessionSpec::of(&cfg)?;
    let probes = match &probe_spec {
        Some(spec) => {
            // The xdp path's own XDP program stamps the echoes' arrivals (`xdp_ingress`).
            cfg.path_options.xdp_stamps = cfg.path == PathKind::Xdp;
            let mut session = crate::probe_run::start_session(
                spec,
                vec![uadpbench_topology::THREAD_NETNS.into()],
            )?;
            if cfg.mode != Mode::Pingpong && !stamps_own_sends(session.layers()) {
                // A publisher whose host stamps none of its sends (the xdp path: AF_XDP's
                // transmit has no hook here) would keep the calibration watcher polling the
                // whole run, which keeps a CPU awake and the latencies low: no calibration.
                session.stop_stats();
                eprintln!(
                    "note: this host's probes stamp none of the publisher's sends on the {} path; its BPF statistics are off (probe_cost.csv side a: no calibrated cost)",
                    cfg.path
                );
            }
            Some(session)
        }
        None => None,
    };

    let params = RemoteSideParams {
        path: cfg.path,
        encap: cfg.encap,
        interface: peer.peer_interface.clone(),
        peer_mac: uadpbench_agent::protocol::format_mac(&local.mac),
        peer_ip: local.ipv4,
        payload_bytes: cfg.payload_bytes,
        cpu: far_cpu,
        placement: cfg.placement,
        idle_latency_us: match cfg.idle_latency {
            IdleLatency::Hold(us) => Some(us),
            IdleLatency::Off => None,
        },
        fifo_priority: cfg.sched_b.fifo_priority,
        path_options: RemotePathOptions::from_path_options(&cfg.path_options),
        pcap_name: peer.pcap_name.clone(),
        probes: probe_spec.as_ref().map(|spec| RemoteProbeParams {
            selection: if cfg.probes_enabled() {
                cfg.probes.trim().to_owned()
            } else {
                "all".into()
            },
            slots: spec.slots,
            stats: spec.stats.name().to_owned(),
            warmup: spec.warmup,
            histogram: spec.histogram,
            trace: cfg.trace.as_ref().map(|t| RemoteTraceWindow {
                first_packet: cfg.warmup,
                packets: t.packets,
                window_ns: t.window_ms.map(|ms| (ms * 1e6) as u64),
            }),
        }),
        subscribe: match cfg.mode {
            Mode::Pingpong => None,
            Mode::Cyclic => Some(RemoteSubscribe {
                warmup: cfg.warmup,
                expected: cfg.warmup + cfg.measured_count(),
                linger_ms: cfg.timeout_ms,
                record: true,
                batch: 1,
            }),
            // Counting only; ids are bounded by what the publisher can send in the duration.
            Mode::Flood => Some(RemoteSubscribe {
                warmup: 0,
                expected: flood_expected(&cfg),
                linger_ms: cfg.timeout_ms,
                record: false,
                batch: cfg.path_options.batch,
            }),
        },
    };
    let role = match cfg.mode {
        Mode::Pingpong => Role::Reflector,
        Mode::Cyclic | Mode::Flood => Role::Subscriber,
    };
    let side_id = client
        .start_side(SideSpec {
            role,
            params: serde_json::to_value(&params)
                .context("encoding the far_iface side's parameters")?,
        })
        .map_err(agent_error)?;

    let machine = MachineConditions::read();
    let env = Environment::current();
    let started = crate::results::rfc3339_now();
    let run_id = cfg.run_id();
    let mut report = vec![
        format!(
            "uadpbench run {run_id}: {} mode across two hosts, {}-byte UADP messages, warm-up of {} message(s) excluded",
            cfg.mode.name(),
            cfg.payload_bytes,
            cfg.warmup
        ),
        format!(
            "  this host: {} ({}) ⇄ agent {} at {}: {} ({})",
            local.name,
            describe_link(&local.facts()),
            agent_host.hostname,
            peer.addr,
            far_iface.name,
            describe_link(&far_iface)
        ),
    ];
    report.extend(
        [
            iface::hardware_timestamps_note(&local.facts(), "this host"),
            iface::hardware_timestamps_note(&far_iface, "the agent's host"),
        ]
        .into_iter()
        .flatten()
        .map(|n| format!("  note: {n}")),
    );
    let near_placement = ResolvedPlacement {
        placement: cfg.placement,
        cpu_a: cfg.sched_a.cpu,
        cpu_b: None,
    };
    let window = TimedWindow::start(&cfg, &near_placement, &machine, &mut report)?;
    let link = near_link(
        &local,
        far_mac,
        far_iface.ipv4.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
    );
    let (initiator, lost_agent) = run_initiator(
        &cfg,
        peer.allow_external_interface,
        &link,
        &[&client],
        &stop,
    );
    let timed = window.stop();
    if let Some((_, err)) = lost_agent {
        bail!(
            "lost the uadpbench agent at {} during the run: {err}. Is `uadpbench agent` still running there? No results were written",
            peer.addr
        );
    }
    let near = initiator.with_context(|| format!("the {} failed", near_name(cfg.mode)))?;
    let remote = client.finish_side(side_id).map_err(agent_error)?;
    let far = FarResult::read(role, remote).with_context(|| {
        format!(
            "the agent at {} sent a {} result this version cannot read; run the same uadpbench version on both hosts",
            peer.addr,
            far_name(role)
        )
    })?;
    let t_after = monotonic_ns();
    let clock_after = client
        .clock_offset(CLOCK_SAMPLES)
        .map_err(agent_error)
        .context("estimating the agent's clock offset after the run")?;
    let local_sync_after = TimeSync::read();
    let agent_version = client.agent_tool_version().to_owned();
    let agent_addr = client.peer();
    if let Err(e) = client.bye() {
        eprintln!("warning: ending the session with the agent: {e}");
    }

    let far_conditions = far.conditions().clone();
    let capture_meta = far_conditions.capture.as_ref().map(|c| {
        report.push(format!(
            "  capture on the agent's host ({}): {} ({} benchmark frame(s), {} other, {} dropped by the kernel); fetch it from there, e.g. with scp",
            agent_host.hostname, c.file, c.frames, c.other_frames, c.kernel_drops
        ));
        serde_json::json!({
            "host": peer.addr,
            "file": c.file,
            "interface": far_iface.name,
            "frames": c.frames,
            "other_frames": c.other_frames,
            "kernel_drops": c.kernel_drops,
            "what": "the benchmark frames the agent's interface received (warm-up included), captured on the agent's host",
            "timestamps": "CLOCK_REALTIME of the agent's host when its capture thread read the frame (not the benchmark clock)",
        })
    });
    for note in &far_conditions.transport_notes {
        cfg.path_options
            .notes
            .push(format!("the agent's host: {note}"));
    }
    cfg.sched_b.cpu = far_conditions.cpu;
    let placement = ResolvedPlacement {
        placement: cfg.placement,
        cpu_a: cfg.sched_a.cpu,
        cpu_b: far_conditions.cpu,
    };
    let cfg = &cfg;
    let cpu = |c: Option<usize>| c.map_or("not pinned".to_owned(), |c| format!("on CPU {c}"));
    report.push(format!(
        "  placement {}: side A (this host) {}, side B (agent's host) {}",
        cfg.placement,
        cpu(placement.cpu_a),
        cpu(placement.cpu_b)
    ));
    let drift_ns = clock_after.offset_ns.saturating_sub(clock_before.offset_ns);
    let interval_ns = t_after.saturating_sub(t_before);
    let choice = clock::choose(
        peer.clock,
        &ClockFacts {
            agent: &agent_host,
            agent_after: far_conditions.time_sync_after.as_ref(),
            local: &local_host,
            local_before: &local_sync_before,
            local_after: &local_sync_after,
            before: &clock_before,
            t_before,
            after: &clock_after,
            t_after,
        },
    );
    // One kernel (the local stand-in): one clock, known exactly.
    let same_kernel_offset = (choice.source == ClockSource::SameKernel)
        .then(|| agent_host.exact_monotonic_offset(&local_host))
        .flatten();
    let applied = match (cfg.mode, choice.source) {
        (Mode::Pingpong, _) => "not applied: round trips need no common clock",
        (Mode::Flood, _) => "not applied: a flood counts messages and needs no common clock",
        (Mode::Cyclic, ClockSource::SameKernel) => {
            "not needed: the agent runs on this kernel (same boot id); the subscriber's receive times are on this host's clock up to the time-namespace offset, which is applied"
        }
        (Mode::Cyclic, ClockSource::PtpTai) => {
            "not used: both hosts' CLOCK_TAI are PTP-disciplined, the subscriber's receive times are moved with the TAI − MONOTONIC difference instead (peer.clock.ptp)"
        }
        (Mode::Cyclic, ClockSource::Estimate) => {
            "applied to the subscriber's receive times, interpolated"
        }
    };
    report.push(format!(
        "  agent clock − this clock (CLOCK_MONOTONIC, {applied}): {} ± {} µs before, {} ± {} µs after",
        fmt_us(clock_before.offset_ns as f64),
        fmt_us(clock_before.uncertainty_ns as f64),
        fmt_us(clock_after.offset_ns as f64),
        fmt_us(clock_after.uncertainty_ns as f64),
    ));
    let mut rows = Rows {
        cfg,
        run_id: &run_id,
        rows: Vec::new(),
        placement,
        sched: Vec::new(),
        shared_cpu: Vec::new(),
    };
    let mut samples = Vec::new();
    let mut kernel_stamps = KernelStamps::default();
    let sent = match (&near, &far) {
        (NearResult::PingPong(r), FarResult::Reflector(remote)) => {
            record_ping_pong(
                &mut rows,
                &mut samples,
                &mut report,
                &run_id,
                r,
                &remote.reflector_result(),
            );
            r.round_trips.len() as u64
        }
        (NearResult::Publish(p), FarResult::Subscriber(remote)) if cfg.mode == Mode::Flood => {
            record_flood(
                &mut rows,
                &mut report,
                cfg,
                p,
                &remote.subscribe_result(|t| t),
            );
            p.sent
        }
        (NearResult::Publish(p), FarResult::Subscriber(remote)) => {
            let clock = choice.clock;
            let sub = remote.subscribe_result(|t| clock.to_controller(t));
            let bound = clock.error_bound_ns();
            report.push(match (choice.source, same_kernel_offset) {
                (ClockSource::SameKernel, Some(offset)) => format!(
                    "  one-way latency: the agent runs on this kernel (same boot id), so both sides read one CLOCK_MONOTONIC (offset exactly {} µs from time namespaces); no estimate applied",
                    fmt_us(offset as f64)
                ),
                (ClockSource::PtpTai, _) => format!(
                    "  one-way latency across hosts: the agent's receive times moved onto this host's clock through PTP's CLOCK_TAI on both hosts; error bound ± {} µs",
                    fmt_us(bound as f64)
                ),
                _ => format!(
                    "  one-way latency across hosts: the agent's receive times moved onto this host's clock (offset interpolated between the two estimates: {}); error bound ± {} µs",
                    choice.why,
                    fmt_us(bound as f64)
                ),
            });
            rows.push("one_way_clock_error", "bound", bound as f64, "ns");
            rows.push("one_way_clock_source", choice.source.name(), 1.0, "flag");
            let mut out = Collected {
                rows: &mut rows,
                samples: &mut samples,
                report: &mut report,
                kernel_stamps: &mut kernel_stamps,
            };
            record_cyclic(
                &mut out,
                &run_id,
                cfg,
                cfg.warmup + cfg.measured_count(),
                p,
                &sub,
            )?;
            if let Some(before) = realtime_before {
                kernel_stamps.clock = Some(far_clock_stamps(
                    cfg,
                    p,
                    remote,
                    before,
                    &|t| clock.to_controller(t),
                    FarMove {
                        host: agent_host.hostname.clone(),
                        bound_ns: bound,
                        how: choice.source.name().to_owned(),
                    },
                ));
            }
            let p50 = rows
                .rows
                .iter()
                .find(|r| r.metric == "one_way" && r.statistic == "p50")
                .map(|r| r.value);
            if p50.is_some_and(|p50| bound as f64 > p50) {
                report.push(format!(
                    "  WARNING: the clock error bound (± {} µs) is larger than the median one-way latency: these one-way figures mostly show the clock estimate; compare round trips (--mode pingpong) or use PTP-synchronised clocks",
                    fmt_us(bound as f64)
                ));
            }
            p.publications.len() as u64
        }
        _ => bail!("internal error: the far side's role does not match --mode"),
    };
    let probe_outcome = match probes {
        Some(session) => {
            if let NearResult::PingPong(PingPongResult { xdp: Some(x), .. }) = &near {
                // This host's session numbers its own arrivals crossing 0, like the agent's.
                kernel_stamps.xdp.push((0, x.clone()));
            }
            let near_report = crate::probe_run::collect(session, &kernel_stamps.xdp)?;
            let far_report = far.probes().with_context(|| {
                format!(
                    "the agent at {} ran the side without probes; run the same uadpbench version on both hosts",
                    peer.addr
                )
            })?;
            let clock = choice.clock;
            let to_controller = move |t: u64| clock.to_controller(t);
            let clock_words = match choice.source {
                ClockSource::SameKernel => "need no mapping: the agent runs on this kernel (same boot id), one CLOCK_MONOTONIC (time-namespace offset applied)".to_owned(),
                ClockSource::PtpTai => format!(
                    "were moved onto this host's clock through both hosts' PTP-disciplined CLOCK_TAI (± {} µs): segments between a layer of this host and one of the agent's carry that error",
                    fmt_us(clock.error_bound_ns() as f64)
                ),
                ClockSource::Estimate => format!(
                    "were moved onto this host's clock with the estimated offset (± {} µs): segments between a layer of this host and one of the agent's carry that error, segments within one host do not",
                    fmt_us(clock.error_bound_ns() as f64)
                ),
            };
            let outcome = crate::probe_run::write(
                near_report,
                cfg,
                &run_id,
                &samples,
                out_dir,
                &kernel_stamps,
                Some(crate::probe_run::FarProbes {
                    report: far_report,
                    to_controller: &to_controller,
                    host: &agent_host.hostname,
                    clock: clock_words,
                    // One kernel (same boot id) whatever --peer-clock chose.
                    same_kernel: agent_host.exact_monotonic_offset(&local_host).is_some(),
                }),
            )?;
            report.extend(outcome.report.iter().cloned());
            // Two hosts never share a CPU: the path's cost.
            rows.push_compensated(outcome.per_message_ns, outcome.on_path_ns, false);
            for (metric, statistic, value, unit) in &outcome.summary {
                rows.push(metric, statistic, *value, unit);
            }
            Some(outcome)
        }
        None => None,
    };
    // The clock cross-check (`--so-timestamping`): with probes it was done in `write` (with
    // the layer stamps).
    let clock_check = match (&probe_outcome, &kernel_stamps.clock) {
        (Some(p), _) => p.clock.clone(),
        (None, Some(c)) => Some(crate::clock_check::evaluate(&run_id, c, &samples, None)),
        (None, None) => None,
    };
    let clock_check_meta = match &clock_check {
        Some(c) => Some(super::write_clock_check(
            c,
            out_dir,
            &mut report,
            &mut rows,
        )?),
        None => None,
    };
    let interrupted = cut_short(
        stop.load(Ordering::Relaxed),
        cfg.mode,
        sent,
        cfg.measured_count(),
    );
    let topology = serde_json::json!({
        "kind": "two hosts (run --peer): this host's interface ⇄ the agent host's interface; no topology created",
        "a": link_meta(&local.facts(), &HostFacts::local().hostname, iface::is_own(&local.name)),
        "b": link_meta(&far_iface, &agent_host.hostname, far_conditions.own_interface),
        "mtu": cfg.mtu,
        "control": format!(
            "agent protocol {PROTOCOL_VERSION} over TCP to {agent_addr}; this slice sends it over whatever route reaches the agent (in the local stand-in: the measured veth itself)"
        ),
    });
    let peer_meta = serde_json::json!({
        "agent": peer.addr,
        "agent_address": agent_addr.to_string(),
        "agent_tool_version": agent_version,
        "protocol": PROTOCOL_VERSION,
        "host": agent_host,
        "clock": {
            "what": "agent CLOCK_MONOTONIC minus this host's CLOCK_MONOTONIC (NTP-style over the control connection, the exchange with the smallest round trip of each estimate)",
            "applied": applied,
            "before": clock_meta(&clock_before),
            "after": clock_meta(&clock_after),
            "drift_ns": drift_ns,
            "interval_ns": interval_ns,
            "drift_ppm": if interval_ns > 0 { drift_ns as f64 * 1e6 / interval_ns as f64 } else { 0.0 },
            "same_kernel_offset_ns": same_kernel_offset,
            "source": choice.source.name(),
            "source_why": choice.why,
            "ptp": choice.ptp,
            "time_sync": {
                "this_host_before": local_sync_before,
                "this_host_after": local_sync_after,
                "agent_before": agent_host.time_sync,
                "agent_after": far_conditions.time_sync_after,
            },
        },
        far_name(role): far_conditions,
        "agent_checks": format!(
            "one clock exchange every {} ms on the control connection while the loop ran, to notice a lost agent",
            AGENT_CHECK_EVERY.as_millis()
        ),
        "conditions_scope": "meta.json's \"conditions\" (idle states, steal, PM QoS) are this host's; the agent host's are under peer.reflector",
    });
    write_results(
        out_dir,
        RunRecord {
            cfg,
            run_id: &run_id,
            rows,
            samples,
            report,
            placement,
            machine,
            timed,
            env,
            started,
            interrupted,
        },
        topology,
        super::MetaSections {
            peer: Some(peer_meta),
            capture: capture_meta,
            probes: probe_outcome.map(|p| p.meta),
            clock_check: clock_check_meta,
            ..super::MetaSections::default()
        },
    )
}

/// The clock cross-check's stamps of a cyclic run across hosts: this host's transmit stamps,
/// and the agent's receive stamps (software, and hardware where its NIC has them) moved onto
/// this host's clock by `to_controller`, with that move's error bound in `far`.
fn far_clock_stamps(
    cfg: &RunConfig,
    p: &uadpbench_sender::loops::PublishResult,
    remote: &crate::remote::RemoteSubscriberResult,
    before: uadpbench_sender::clock::RealtimeOffset,
    to_controller: &dyn Fn(u64) -> u64,
    mut far: FarMove,
) -> ClockStamps {
    let after = uadpbench_sender::clock::realtime_offset(1000);
    let offset_ns = (before.offset_ns + after.offset_ns) / 2;
    let (far_offset_ns, far_uncertainty) = match remote.realtime_offsets {
        Some((b, a)) => (
            (b.offset_ns + a.offset_ns) / 2,
            b.uncertainty_ns.max(a.uncertainty_ns) + (a.offset_ns - b.offset_ns).unsigned_abs() / 2,
        ),
        // An agent that sent no offsets sent no stamps either.
        None => (0, 0),
    };
    far.bound_ns += far_uncertainty;
    let rx = move_far_stamps(&remote.rx_stamps, far_offset_ns, to_controller, offset_ns);
    // The agent's PHC stamps go onto its CLOCK_REALTIME first, then the same way.
    let rx_phc = remote.phc.as_ref().and_then(|r| r.offset());
    let rx_hw: Vec<(u64, u64)> = match rx_phc {
        Some((phc_minus_realtime, _)) => remote
            .rx_hw_stamps
            .iter()
            .map(|&(id, ns)| (id, (ns as i64 - phc_minus_realtime).max(0) as u64))
            .collect(),
        None => Vec::new(),
    };
    let mut notes = crate::clock_check::hardware_notes(&cfg.path_options.notes.snapshot());
    notes.extend(
        crate::clock_check::hardware_notes(&remote.conditions.transport_notes)
            .into_iter()
            .map(|n| format!("agent: {n}")),
    );
    let mut hardware = HardwareStamps::new(p.phc.as_ref(), remote.phc.as_ref(), Vec::new(), notes);
    hardware.rx = move_far_stamps(&rx_hw, far_offset_ns, to_controller, offset_ns);
    // Already on this host's realtime axis: only the error bounds remain.
    hardware.rx_offset = rx_phc.map(|(_, b)| (0, b + far.bound_ns));
    ClockStamps {
        tx: p.tx_stamps.clone(),
        rx,
        before,
        after,
        hardware,
        far: Some(far),
    }
}

/// Connects to the agent of `peer` (handshake, version and token checks) and says so.
fn connect(peer: &PeerSpec) -> anyhow::Result<BlockingAgentClient> {
    let client = BlockingAgentClient::connect_with(
        &peer.addr,
        ClientOptions {
            token: peer.token.clone(),
            request_timeout: REQUEST_TIMEOUT,
            ..ClientOptions::default()
        },
    )
    .map_err(|e| match e {
        AgentError::Refused(_) => anyhow::anyhow!(
            "{e} (`uadpbench run --token-file FILE` passes the token; the agent's --allow-from lists the addresses it accepts)"
        ),
        e => agent_error(e),
    })?;
    let host = client.host();
    eprintln!(
        "connected to the uadpbench agent at {} (host {}, uadpbench {}, {} CPUs)",
        peer.addr,
        host.hostname,
        client.agent_tool_version(),
        host.online_cpus
    );
    Ok(client)
}

/// `--peer-clock ptp` needs both hosts PTP-disciplined to one time scale: refused before the
/// run otherwise, saying why.
fn refuse_ptp_if_unavailable(
    peer: &PeerSpec,
    agent: &HostFacts,
    local: &TimeSync,
) -> anyhow::Result<()> {
    if peer.clock != PeerClock::Ptp {
        return Ok(());
    }
    match clock::ptp_unavailable(agent, local) {
        None => Ok(()),
        Some(why) => bail!(
            "--peer-clock ptp with the agent at {}: {why}. Run ptp4l and phc2sys on both hosts (docs/two-hosts.md, \"PTP\"), or use --peer-clock auto",
            peer.addr
        ),
    }
}

/// The link facts of this host's end, sending to `peer_mac` / `peer_ip` (the agent's
/// interface, or a fan-out's multicast group).
fn near_link(
    local: &iface::LocalInterface,
    peer_mac: [u8; 6],
    peer_ip: std::net::Ipv4Addr,
) -> LinkInfo {
    LinkInfo {
        ifname: local.name.clone(),
        ifindex: local.ifindex,
        mtu: local.mtu as usize,
        local_mac: local.mac,
        local_ip: local.ipv4.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
        peer_mac,
        peer_ip,
        udp_port: uadp::UADP_UDP_PORT,
    }
}

/// The udp path and UDP encapsulation need an IPv4 address on both interfaces.
fn check_ipv4(
    cfg: &RunConfig,
    local: &iface::LocalInterface,
    far_iface: &InterfaceFacts,
) -> anyhow::Result<()> {
    if !needs_ipv4(cfg.path, cfg.encap) {
        return Ok(());
    }
    if local.ipv4.is_none() {
        bail!(
            "{} on this host has no IPv4 address, which the {} path with {} encapsulation needs: add one (ip addr add …) or use --path eth --encap eth",
            local.name, cfg.path, cfg.encap
        );
    }
    if far_iface.ipv4.is_none() {
        bail!(
            "{} on the agent's host has no IPv4 address, which the {} path with {} encapsulation needs: add one there or use --path eth --encap eth",
            far_iface.name, cfg.path, cfg.encap
        );
    }
    Ok(())
}

/// An agent error as one message: its text already includes its cause (as a chain it would
/// print twice).
fn agent_error(e: AgentError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn describe_link(f: &InterfaceFacts) -> String {
    format!(
        "{}, {}, MTU {}",
        f.mac,
        f.ipv4.map_or("no IPv4".to_owned(), |ip| ip.to_string()),
        f.mtu
    )
}

fn link_meta(f: &InterfaceFacts, host: &str, own: bool) -> serde_json::Value {
    serde_json::json!({
        "host": host,
        "ifname": f.name,
        "ifindex": f.ifindex,
        "mac": f.mac,
        "ipv4": f.ipv4.map(|ip| ip.to_string()),
        "mtu": f.mtu,
        "uadpbench_veth": own,
        "timestamping": f.timestamping,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_needs_one_agent_per_subscriber_and_oversized_cyclic_runs_are_refused() {
        // A flood counts on the agent: accepted, with a receiver prepared for its duration.
        let mut cfg = RunConfig::new(PathKind::Udp, None, Mode::Flood);
        cfg.duration_s = Some(1.0);
        assert!(
            peer_problems(&cfg, 1).is_empty(),
            "{:?}",
            peer_problems(&cfg, 1)
        );
        assert_eq!(flood_expected(&cfg), 4_001_024);
        // Fan-out: one subscriber per agent.
        let mut cfg = RunConfig::new(PathKind::Udp, None, Mode::Cyclic);
        cfg.subscribers = Some(2);
        assert!(
            peer_problems(&cfg, 2).is_empty(),
            "{:?}",
            peer_problems(&cfg, 2)
        );
        let p = peer_problems(&cfg, 3);
        assert!(
            p.iter()
                .any(|m| m.contains("--subscribers 2 with 3 --peer")),
            "{p:?}"
        );
        // The subscribers' CPUs are the agents' hosts' CPUs: not checked here.
        cfg.subscriber_cpus = vec![4095];
        assert!(
            peer_problems(&cfg, 2).is_empty(),
            "{:?}",
            peer_problems(&cfg, 2)
        );
        // Several agents without --subscribers, and fan-out outside cyclic mode.
        let mut cfg = RunConfig::new(PathKind::Udp, None, Mode::Cyclic);
        let p = peer_problems(&cfg, 2);
        assert!(p.iter().any(|m| m.contains("add --subscribers 2")), "{p:?}");
        cfg.mode = Mode::Pingpong;
        cfg.subscribers = Some(2);
        assert!(!peer_problems(&cfg, 2).is_empty());
        let mut cfg = RunConfig::new(PathKind::Udp, None, Mode::Cyclic);
        assert!(
            peer_problems(&cfg, 1).is_empty(),
            "{:?}",
            peer_problems(&cfg, 1)
        );
        cfg.count = MAX_REMOTE_RECEPTIONS;
        let p = peer_problems(&cfg, 1);
        assert!(p.iter().any(|m| m.contains("at most")), "{p:?}");
    }
}
