//! Fan-out across hosts (`run --subscribers N` with N `--peer`s): one publisher here, one
//! subscriber on each agent, the publisher sending every message once to a multicast group
//! (udp: the IPv4 group; eth/xdp: the group's MAC) that the network delivers to every agent.
//! Each agent records its receptions on its own clock; they come back when the controller
//! finishes the sides, move onto this host's clock through each agent's own offset (exact on
//! this kernel, else the estimate interpolated over the run), and go through the same
//! accounting as a fan-out on one host: subscribers.csv, fanout_samples.csv, summary.csv.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use uadpbench_agent::{BlockingAgentClient, ClockEstimate, HostFacts, Role, SideSpec, TimeSync};
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::membership::ipv4_group_mac;
use uadpbench_sender::transport::PathKind;
use uadpbench_topology::FANOUT_GROUP;

use super::clock::{choose, clock_meta, ClockFacts, ClockSource};
use super::sides::{run_initiator, NearResult};
use super::*;
use crate::remote::{end_cpu, End, RemotePathOptions, RemoteSideParams, RemoteSubscribe};
use crate::run::fanout::record::record;

/// One agent of a fan-out: its connection, host, interface and clock.
struct Subscriber<'p> {
    spec: &'p PeerSpec,
    host: HostFacts,
    far_iface: InterfaceFacts,
    t_before: u64,
    clock_before: ClockEstimate,
}

/// Runs a fan-out from this host to one subscriber on each agent of `peers` and writes the
/// files of a local fan-out run into `out_dir`. `peers` share `--interface`, the token, the
/// interface guard and `--peer-clock` (the CLI and the campaign build them so).
pub(super) fn run_fanout(
    cfg: &RunConfig,
    peers: &[PeerSpec],
    out_dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<RunOutcome> {
    let Some(first) = peers.first() else {
        bail!("a fan-out across hosts needs at least one --peer");
    };
    let n = peers.len();
    let mut cfg = cfg.clone();
    cfg.subscribers = Some(n);
    let far_cpu = cfg.sched_b.cpu;
    cfg.sched_b.cpu = None;
    iface::guard(
        &first.interface,
        first.allow_external_interface,
        CONTROLLER_GUARD_HINT,
    )?;
    let local = iface::local_interface(&first.interface).context("on this host (--interface)")?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create the results directory {}", out_dir.display()))?;

    // Connect to every agent first: a refusal anywhere ends the run before anything starts.
    let local_host = HostFacts::local();
    let local_sync_before = local_host.time_sync.clone().unwrap_or_default();
    let mut subs = Vec::with_capacity(n);
    let mut clients = Vec::with_capacity(n);
    for (i, spec) in peers.iter().enumerate() {
        let client = connect(spec).with_context(|| format!("subscriber {} of {n}", i + 1))?;
        let host = client.host().clone();
        refuse_ptp_if_unavailable(spec, &host, &local_sync_before)?;
        let t_before = monotonic_ns();
        let clock_before = client
            .clock_offset(CLOCK_SAMPLES)
            .map_err(agent_error)
            .with_context(|| {
                format!(
                    "estimating the clock offset of the agent at {} before the run",
                    spec.addr
                )
            })?;
        let far_iface = client
            .describe(&spec.peer_interface)
            .map_err(agent_error)
            .with_context(|| format!("the agent at {}", spec.addr))?;
        check_ipv4(&cfg, &local, &far_iface)
            .with_context(|| format!("the agent at {}", spec.addr))?;
        clients.push(client);
        subs.push(Subscriber {
            spec,
            host,
            far_iface,
            t_before,
            clock_before,
        });
    }
    // No veth is created: the smallest MTU on the way bounds the message.
    cfg.mtu = subs
        .iter()
        .map(|s| s.far_iface.mtu)
        .fold(local.mtu, u32::min) as usize;
    let problems = validate_near(&cfg);
    if !problems.is_empty() {
        bail!(
            "invalid run configuration for {} to {n} agent(s) (MTU {}):\n  - {}",
            local.name,
            cfg.mtu,
            problems.join("\n  - ")
        );
    }
    cfg.sched_a.cpu = end_cpu(cfg.placement, cfg.sched_a.cpu, End::Near)
        .map_err(|e| anyhow::anyhow!("--placement {}: {e}", cfg.placement))?;

    let total = cfg.warmup + cfg.measured_count();
    let mut side_ids = Vec::with_capacity(n);
    for (i, (s, client)) in subs.iter().zip(&clients).enumerate() {
        let params = RemoteSideParams {
            path: cfg.path,
            encap: cfg.encap,
            interface: s.spec.peer_interface.clone(),
            peer_mac: uadpbench_agent::protocol::format_mac(&local.mac),
            peer_ip: local.ipv4,
            payload_bytes: cfg.payload_bytes,
            cpu: if cfg.subscriber_cpus.is_empty() {
                far_cpu
            } else {
                Some(cfg.subscriber_cpus[i % cfg.subscriber_cpus.len()])
            },
            placement: cfg.placement,
            idle_latency_us: match cfg.idle_latency {
                IdleLatency::Hold(us) => Some(us),
                IdleLatency::Off => None,
            },
            fifo_priority: cfg.sched_b.fifo_priority,
            path_options: RemotePathOptions {
                multicast_group: Some(FANOUT_GROUP),
                ..RemotePathOptions::from_path_options(&cfg.path_options)
            },
            // Each agent keeps its own capture; names differ per subscriber (agents may
            // share a file system, as in the stand-in).
            pcap_name: s
                .spec
                .pcap_name
                .as_ref()
                .map(|n| format!("{n}-sub{}", i + 1)),
            subscribe: Some(RemoteSubscribe {
                warmup: cfg.warmup,
                expected: total,
                linger_ms: cfg.timeout_ms,
                record: true,
                batch: 1,
            }),
            probes: None,
        };
        let id = client
            .start_side(SideSpec {
                role: Role::Subscriber,
                params: serde_json::to_value(&params)
                    .context("encoding the subscriber's parameters")?,
            })
            .map_err(agent_error)
            .with_context(|| format!("starting subscriber {} at {}", i + 1, s.spec.addr))?;
        side_ids.push(id);
    }

    let machine = MachineConditions::read();
    let env = Environment::current();
    let started = crate::results::rfc3339_now();
    let run_id = cfg.run_id();
    let mut report = vec![format!(
        "uadpbench run {run_id}: cyclic mode, one publisher to {n} subscriber(s) on {n} agent(s) ({}), {}-byte UADP messages, warm-up of {} message(s) excluded",
        match cfg.path {
            PathKind::Udp => format!("UDP multicast to {FANOUT_GROUP}"),
            _ => format!(
                "frames to the group's MAC {}",
                uadpbench_topology::format_mac(&ipv4_group_mac(FANOUT_GROUP))
            ),
        },
        cfg.payload_bytes,
        cfg.warmup
    )];
    report.push(format!(
        "  this host: {} ({})",
        local.name,
        describe_link(&local.facts())
    ));
    for (i, s) in subs.iter().enumerate() {
        report.push(format!(
            "  subscriber {}: agent {} at {}: {} ({})",
            i + 1,
            s.host.hostname,
            s.spec.addr,
            s.far_iface.name,
            describe_link(&s.far_iface)
        ));
    }
    report.extend(
        std::iter::once(iface::hardware_timestamps_note(&local.facts(), "this host"))
            .chain(
                subs.iter()
                    .map(|s| iface::hardware_timestamps_note(&s.far_iface, &s.spec.addr)),
            )
            .flatten()
            .map(|n| format!("  note: {n}")),
    );
    let near_placement = ResolvedPlacement {
        placement: cfg.placement,
        cpu_a: cfg.sched_a.cpu,
        cpu_b: None,
    };
    let window = TimedWindow::start(&cfg, &near_placement, &machine, &mut report)?;
    let link = near_link(&local, ipv4_group_mac(FANOUT_GROUP), FANOUT_GROUP);
    let mut publisher_cfg = cfg.clone();
    if cfg.path == PathKind::Udp {
        publisher_cfg.path_options.multicast_group = Some(FANOUT_GROUP);
    }
    let checked: Vec<&BlockingAgentClient> = clients.iter().collect();
    let (publisher, lost_agent) = run_initiator(
        &publisher_cfg,
        first.allow_external_interface,
        &link,
        &checked,
        &stop,
    );
    let timed = window.stop();
    if let Some((i, err)) = lost_agent {
        bail!(
            "lost the uadpbench agent at {} (subscriber {}) during the run: {err}. Is `uadpbench agent` still running there? No results were written",
            peers[i].addr,
            i + 1
        );
    }
    let publication = match publisher.context("the publisher failed")? {
        NearResult::Publish(p) => p,
        NearResult::PingPong(_) => bail!("internal error: a fan-out publisher ran a ping-pong"),
    };

    // Finish every side (the publisher is done: each lingers for what is in flight), then
    // estimate each clock again.
    let mut finished = Vec::with_capacity(n);
    for ((s, client), id) in subs.iter().zip(&clients).zip(side_ids) {
        let value = client
            .finish_side(id)
            .map_err(agent_error)
            .with_context(|| format!("finishing the subscriber at {}", s.spec.addr))?;
        finished.push(value);
    }
    let mut results = Vec::with_capacity(n);
    let mut bounds = Vec::with_capacity(n);
    let mut sources = Vec::with_capacity(n);
    let mut peer_meta = Vec::with_capacity(n);
    for (i, ((s, client), value)) in subs.iter().zip(&clients).zip(finished).enumerate() {
        let remote: crate::remote::RemoteSubscriberResult = serde_json::from_value(value)
            .with_context(|| {
                format!(
                    "the agent at {} sent a subscriber result this version cannot read; run the same uadpbench version on every host",
                    s.spec.addr
                )
            })?;
        let t_after = monotonic_ns();
        let clock_after = client
            .clock_offset(CLOCK_SAMPLES)
            .map_err(agent_error)
            .with_context(|| {
                format!(
                    "estimating the clock offset of the agent at {} after the run",
                    s.spec.addr
                )
            })?;
        let local_sync_after = TimeSync::read();
        let choice = choose(
            s.spec.clock,
            &ClockFacts {
                agent: &s.host,
                agent_after: remote.conditions.time_sync_after.as_ref(),
                local: &local_host,
                local_before: &local_sync_before,
                local_after: &local_sync_after,
                before: &s.clock_before,
                t_before: s.t_before,
                after: &clock_after,
                t_after,
            },
        );
        let same_kernel_offset = (choice.source == ClockSource::SameKernel)
            .then(|| s.host.exact_monotonic_offset(&local_host))
            .flatten();
        let clock = choice.clock;
        results.push(remote.subscribe_result(|t| clock.to_controller(t)));
        if let Some(c) = &remote.conditions.capture {
            report.push(format!(
                "  subscriber {} capture on its agent's host ({}): {} ({} benchmark frame(s), {} other, {} dropped by the kernel)",
                i + 1,
                s.spec.addr,
                c.file,
                c.frames,
                c.other_frames,
                c.kernel_drops
            ));
        }
        for note in &remote.conditions.transport_notes {
            cfg.path_options.notes.push(format!(
                "subscriber {} (agent {}): {note}",
                i + 1,
                s.spec.addr
            ));
        }
        let bound = clock.error_bound_ns();
        bounds.push(bound);
        let drift_ns = clock_after
            .offset_ns
            .saturating_sub(s.clock_before.offset_ns);
        let interval_ns = t_after.saturating_sub(s.t_before);
        report.push(format!(
            "  subscriber {} clock: {}",
            i + 1,
            match (choice.source, same_kernel_offset) {
                (ClockSource::SameKernel, Some(offset)) => format!(
                    "the agent runs on this kernel (same boot id): one CLOCK_MONOTONIC, offset exactly {} µs",
                    fmt_us(offset as f64)
                ),
                (ClockSource::PtpTai, _) => format!(
                    "PTP's CLOCK_TAI on both hosts; error bound ± {} µs",
                    fmt_us(bound as f64)
                ),
                _ => format!(
                    "agent − this host {} ± {} µs before, {} ± {} µs after, interpolated ({}); error bound ± {} µs",
                    fmt_us(s.clock_before.offset_ns as f64),
                    fmt_us(s.clock_before.uncertainty_ns as f64),
                    fmt_us(clock_after.offset_ns as f64),
                    fmt_us(clock_after.uncertainty_ns as f64),
                    choice.why,
                    fmt_us(bound as f64)
                ),
            }
        ));
        sources.push(choice.source);
        peer_meta.push(serde_json::json!({
            "subscriber": i + 1,
            "agent": s.spec.addr,
            "agent_address": client.peer().to_string(),
            "agent_tool_version": client.agent_tool_version(),
            "protocol": PROTOCOL_VERSION,
            "host": s.host,
            "clock": {
                "what": "agent CLOCK_MONOTONIC minus this host's CLOCK_MONOTONIC (NTP-style over the control connection, the exchange with the smallest round trip of each estimate)",
                "applied": match choice.source {
                    ClockSource::SameKernel => "not needed: the agent runs on this kernel (same boot id); the time-namespace offset is applied",
                    ClockSource::PtpTai => "not used: PTP's CLOCK_TAI on both hosts maps the receive times (ptp)",
                    ClockSource::Estimate => "applied to the subscriber's receive times, interpolated",
                },
                "source": choice.source.name(),
                "source_why": choice.why,
                "ptp": choice.ptp,
                "time_sync": {
                    "this_host_before": local_sync_before,
                    "this_host_after": local_sync_after,
                    "agent_before": s.host.time_sync,
                    "agent_after": remote.conditions.time_sync_after,
                },
                "before": clock_meta(&s.clock_before),
                "after": clock_meta(&clock_after),
                "drift_ns": drift_ns,
                "interval_ns": interval_ns,
                "drift_ppm": if interval_ns > 0 { drift_ns as f64 * 1e6 / interval_ns as f64 } else { 0.0 },
                "same_kernel_offset_ns": same_kernel_offset,
                "error_bound_ns": bound,
            },
            "subscriber_side": remote.conditions,
        }));
    }
    for (s, client) in subs.iter().zip(clients) {
        if let Err(e) = client.bye() {
            eprintln!(
                "warning: ending the session with the agent at {}: {e}",
                s.spec.addr
            );
        }
    }

    let placement = ResolvedPlacement {
        placement: cfg.placement,
        cpu_a: cfg.sched_a.cpu,
        cpu_b: None,
    };
    let cfg = &cfg;
    let mut rows = Rows {
        cfg,
        run_id: &run_id,
        rows: Vec::new(),
        placement,
        sched: Vec::new(),
        // Agents on one kernel (the stand-in) can share a CPU; agents on other hosts cannot.
        shared_cpu: subscribers_sharing_a_cpu(
            &subs
                .iter()
                .zip(&peer_meta)
                .map(|(s, m)| {
                    let cpu = m["subscriber_side"]["cpu"].as_u64()?;
                    Some((
                        s.host
                            .boot_id
                            .clone()
                            .unwrap_or_else(|| s.spec.addr.clone()),
                        cpu,
                    ))
                })
                .collect::<Vec<_>>(),
        ),
    };
    let mut seen = record(
        &mut rows,
        &mut report,
        &run_id,
        cfg,
        total,
        &publication,
        &results,
    )?;
    let worst = bounds.iter().copied().max().unwrap_or(0);
    rows.push("one_way_clock_error", "bound", worst as f64, "ns");
    // The weakest source any subscriber's times went through.
    let weakest = [
        ClockSource::Estimate,
        ClockSource::PtpTai,
        ClockSource::SameKernel,
    ]
    .into_iter()
    .find(|c| sources.contains(c))
    .unwrap_or(ClockSource::Estimate);
    rows.push("one_way_clock_source", weakest.name(), 1.0, "flag");
    for (row, (s, bound)) in seen.subscribers.iter_mut().zip(subs.iter().zip(&bounds)) {
        row.host = s.spec.addr.clone();
        row.clock_error_bound_ns = Some(*bound as f64);
    }
    let best_p50 = seen
        .subscribers
        .iter()
        .filter_map(|r| r.one_way_p50_ns)
        .fold(f64::INFINITY, f64::min);
    if worst as f64 > best_p50 {
        report.push(format!(
            "  WARNING: a clock error bound (± {} µs) is larger than a subscriber's median one-way latency: these one-way figures and the spread between subscribers mostly show the clock estimates; use PTP-synchronised clocks",
            fmt_us(worst as f64)
        ));
    }
    crate::results::write_csv(&out_dir.join("subscribers.csv"), &seen.subscribers)?;
    crate::results::write_csv(&out_dir.join("fanout_samples.csv"), &seen.samples)?;
    report.push(format!(
        "  per subscriber: subscribers.csv; per message and subscriber: fanout_samples.csv (in {})",
        out_dir.display()
    ));
    let interrupted = cut_short(
        stop.load(Ordering::Relaxed),
        cfg.mode,
        publication.publications.len() as u64,
        cfg.measured_count(),
    );
    let topology = serde_json::json!({
        "kind": "fan-out across hosts (run --peer … --subscribers N): this host's interface publishes to a multicast group; each agent's interface receives it; no topology created",
        "a": link_meta(&local.facts(), &HostFacts::local().hostname, iface::is_own(&local.name)),
        "subscribers": subs
            .iter()
            .zip(&peer_meta)
            .map(|(s, m)| link_meta(
                &s.far_iface,
                &s.host.hostname,
                m["subscriber_side"]["own_interface"].as_bool().unwrap_or(false),
            ))
            .collect::<Vec<_>>(),
        "group": FANOUT_GROUP.to_string(),
        "group_mac": uadpbench_topology::format_mac(&ipv4_group_mac(FANOUT_GROUP)),
        "mtu": cfg.mtu,
    });
    write_results(
        out_dir,
        RunRecord {
            cfg,
            run_id: &run_id,
            rows,
            samples: Vec::new(),
            report,
            placement,
            machine,
            timed,
            env,
            started,
            interrupted,
        },
        topology,
        MetaSections {
            peer: Some(serde_json::json!({
                "agents": peer_meta,
                "agent_checks": format!(
                    "one clock exchange per agent every {} ms on the control connections while the publisher ran, to notice a lost agent",
                    AGENT_CHECK_EVERY.as_millis()
                ),
                "conditions_scope": "meta.json's \"conditions\" are this host's (the publisher's); each agent's are under peer.agents[i].subscriber_side",
            })),
            fanout: Some(serde_json::json!({
                "subscribers": n,
                "subscriber_cpus": subs_cpus(&peer_meta),
                "files": ["subscribers.csv", "fanout_samples.csv"],
                "messages": "summary.csv's messages rows count deliveries: sent = measured messages published × subscribers",
                "one_way": "summary.csv's one_way pools every subscriber's receptions; subscribers.csv has each subscriber's, with its agent (host) and clock error bound",
                "clock": "each agent's receive times moved onto this host's CLOCK_MONOTONIC with that agent's own offset (peer.agents[i].clock); one_way_clock_error in summary.csv is the largest bound",
            })),
            ..MetaSections::default()
        },
    )
}

/// The CPU each agent's subscriber ran on (as the agents reported it).
fn subs_cpus(peer_meta: &[serde_json::Value]) -> Vec<Option<u64>> {
    peer_meta
        .iter()
        .map(|m| m["subscriber_side"]["cpu"].as_u64())
        .collect()
}
