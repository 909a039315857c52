//! The agent's side runner: what `uadpbench agent` does when a controller asks it to describe
//! an interface, or to run the far end of a run — the reflector of a ping-pong or the
//! subscriber of a cyclic publisher.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use uadpbench_agent::protocol::parse_mac;
use uadpbench_agent::{InterfaceFacts, Role, RunningSide, SideRunner, SideSpec};
use uadpbench_sender::bench_message::{BenchCodec, DEFAULT_PUBLISHER_ID, DEFAULT_WRITER_GROUP_ID};
use uadpbench_sender::loops::{self, ReflectorResult, SubscribeConfig, SubscribeResult};
use uadpbench_sender::membership::{ipv4_group_mac, MacMembership};
use uadpbench_sender::open::{open_transport, LinkInfo, PathOptions};
use uadpbench_sender::sched::ThreadSched;
use uadpbench_sender::transport::{Encap, PathKind};
use uadpbench_sender::udp::MAX_BATCH;

use super::iface::{self, LocalInterface, AGENT_GUARD_HINT};
use super::{
    end_cpu, End, RemoteConditions, RemoteSideParams, RemoteSideResult, RemoteSubscriberResult,
    MAX_REMOTE_FLOOD_MESSAGES, MAX_REMOTE_PROBED_MESSAGES, MAX_REMOTE_RECEPTIONS,
};
use crate::conditions::{IdleLatency, MachineConditions, Placement};
use crate::run::{Mode, RunConfig};

/// How long a side may take to open its path (loading the XDP program included).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The [`SideRunner`] of `uadpbench agent`.
#[derive(Debug, Clone, Default)]
pub struct BenchSideRunner {
    /// `--allow-external-interface`: controllers may use interfaces uadpbench did not create.
    pub allow_external_interface: bool,
    /// `--capture-dir`: where `run --peer-pcap NAME` captures go (`None`: refused).
    pub capture_dir: Option<std::path::PathBuf>,
}

impl BenchSideRunner {
    /// The file a capture named `name` goes to; refused without `--capture-dir`, for a bad
    /// name, or when the file exists already (captures are never overwritten).
    fn capture_file(&self, name: &str) -> Result<std::path::PathBuf, String> {
        let Some(dir) = &self.capture_dir else {
            return Err("this agent keeps no captures: start it with --capture-dir DIR to allow --peer-pcap".into());
        };
        if !super::valid_capture_name(name) {
            return Err(format!(
                "the capture name {name:?} is refused: letters, digits, '.', '-', '_', at most 100 bytes, no leading dot"
            ));
        }
        let file = dir.join(format!("{name}.pcap"));
        if file.exists() {
            return Err(format!(
                "{} exists on the agent's host: captures are never overwritten; choose another --peer-pcap name",
                file.display()
            ));
        }
        Ok(file)
    }
}

impl BenchSideRunner {
    fn interface(&self, name: &str) -> Result<LocalInterface, String> {
        if !iface::valid_name(name) {
            return Err(iface::InterfaceError::BadName(name.to_owned()).to_string());
        }
        iface::guard(name, self.allow_external_interface, AGENT_GUARD_HINT)
            .map_err(|e| format!("the agent refuses interface {name}: {e}"))?;
        iface::local_interface(name).map_err(|e| format!("on the agent's host: {e}"))
    }

    /// Everything checked before a thread is started: the side's link and conditions.
    fn prepare(&self, p: &RemoteSideParams) -> Result<Prepared, String> {
        let local = self.interface(&p.interface)?;
        let peer_mac = parse_mac(&p.peer_mac).ok_or_else(|| {
            format!(
                "the controller's MAC address {:?} is not aa:bb:cc:dd:ee:ff; run the same uadpbench version on both hosts",
                p.peer_mac
            )
        })?;
        let needs_ip = p.path == PathKind::Udp || p.encap == Encap::Udp;
        let (local_ip, peer_ip) = if needs_ip {
            let local_ip = local.ipv4.ok_or_else(|| {
                format!(
                    "interface {} on the agent's host has no IPv4 address, which the {} path with {} encapsulation needs: add one (ip addr add …) or use --encap eth",
                    local.name, p.path, p.encap
                )
            })?;
            let peer_ip = p.peer_ip.ok_or_else(|| {
                format!(
                    "the controller's interface has no IPv4 address, which the {} path with {} encapsulation needs",
                    p.path, p.encap
                )
            })?;
            (local_ip, peer_ip)
        } else {
            (
                local.ipv4.unwrap_or(Ipv4Addr::UNSPECIFIED),
                p.peer_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            )
        };
        let options = p.path_options.path_options(self.allow_external_interface);
        // The bounds a local run checks, against this host's interface.
        // A recording subscriber is the far end of a cyclic run (what --so-timestamping needs).
        let mode = match p.subscribe {
            Some(s) if s.record => Mode::Cyclic,
            _ => Mode::Pingpong,
        };
        let mut cfg = RunConfig::new(p.path, Some(p.encap), mode);
        cfg.payload_bytes = p.payload_bytes;
        cfg.mtu = local.mtu as usize;
        cfg.path_options = options.clone();
        cfg.placement = Placement::None;
        cfg.sched_b.fifo_priority = p.fifo_priority;
        let problems = cfg.validate();
        if !problems.is_empty() {
            return Err(format!(
                "the agent refuses the side on {}: {}",
                local.name,
                problems.join("; ")
            ));
        }
        let cpu = end_cpu(p.placement, p.cpu, End::Far)
            .map_err(|e| format!("on the agent's host: {e}"))?;
        let codec = BenchCodec::new(
            DEFAULT_PUBLISHER_ID,
            DEFAULT_WRITER_GROUP_ID,
            p.payload_bytes,
        )
        .map_err(|e| format!("the agent refuses the side: {e}"))?;
        Ok(Prepared {
            link: LinkInfo {
                ifname: local.name.clone(),
                ifindex: local.ifindex,
                mtu: local.mtu as usize,
                local_mac: local.mac,
                local_ip,
                peer_mac,
                peer_ip,
                udp_port: uadp::UADP_UDP_PORT,
            },
            path: p.path,
            encap: p.encap,
            options,
            codec,
            sched: ThreadSched {
                cpu,
                fifo_priority: p.fifo_priority,
            },
            idle: p
                .idle_latency_us
                .map_or(IdleLatency::Off, IdleLatency::Hold),
            conditions: RemoteConditions {
                cpu,
                fifo_priority: p.fifo_priority,
                pm_qos_us: p.idle_latency_us,
                own_interface: iface::is_own(&local.name),
                interface: local.facts(),
                environment: serde_json::to_value(crate::meta::Environment::current())
                    .unwrap_or_default(),
                machine: serde_json::to_value(MachineConditions::read()).unwrap_or_default(),
                time_sync_after: None,
                transport_notes: Vec::new(),
                capture: None,
            },
        })
    }
}

struct Prepared {
    link: LinkInfo,
    path: PathKind,
    encap: Encap,
    options: PathOptions,
    codec: BenchCodec,
    sched: ThreadSched,
    idle: IdleLatency,
    conditions: RemoteConditions,
}

impl SideRunner for BenchSideRunner {
    fn describe(&self, interface: &str) -> Result<InterfaceFacts, String> {
        self.interface(interface).map(|i| i.facts())
    }

    fn start(
        &self,
        spec: &SideSpec,
        stop: Arc<AtomicBool>,
    ) -> Result<Box<dyn RunningSide>, String> {
        let params: RemoteSideParams =
            serde_json::from_value(spec.params.clone()).map_err(|e| {
                format!(
                    "the side's parameters do not parse ({e}); run the same uadpbench version on both hosts"
                )
            })?;
        let work = match (spec.role, params.subscribe) {
            (Role::Reflector, None) => Work::Reflect,
            (Role::Subscriber, Some(sub)) => {
                let limit = if sub.record {
                    MAX_REMOTE_RECEPTIONS
                } else {
                    MAX_REMOTE_FLOOD_MESSAGES
                };
                if sub.expected > limit || sub.warmup > sub.expected {
                    return Err(format!(
                        "the agent refuses a subscriber for {} messages ({} warm-up): at most {limit} per run across hosts{}",
                        sub.expected,
                        sub.warmup,
                        if sub.record { " when every reception is sent back" } else { "" }
                    ));
                }
                Work::Subscribe(
                    SubscribeConfig {
                        warmup: sub.warmup,
                        expected: sub.expected,
                        record: sub.record,
                        linger: Duration::from_millis(sub.linger_ms.clamp(1, MAX_LINGER_MS)),
                    },
                    sub.batch.clamp(1, MAX_BATCH),
                )
            }
            (role, _) => {
                return Err(format!(
                    "a {role:?} side needs {} subscriber parameters; run the same uadpbench version on both hosts",
                    if role == Role::Subscriber { "its" } else { "no" }
                ))
            }
        };
        if let Some(group) = params.path_options.multicast_group {
            if !group.is_multicast() {
                return Err(format!(
                    "the agent refuses multicast group {group}: not an IPv4 multicast address (224.0.0.0/4)"
                ));
            }
            if spec.role != Role::Subscriber {
                return Err(
                    "a multicast group is for a fan-out subscriber; a reflector answers one controller by unicast: run the same uadpbench version on both hosts".into(),
                );
            }
        }
        let capture_file = params
            .pcap_name
            .as_deref()
            .map(|n| self.capture_file(n))
            .transpose()?;
        let mut prepared = self.prepare(&params)?;
        if let Work::Subscribe(_, batch) = &work {
            prepared.options.batch = *batch;
        }
        // Probes attach before the side opens its path and stay until it is finished.
        let probes = match &params.probes {
            Some(p) => {
                let spec = probe_spec(p, params.path, &work)?;
                // The xdp path's own XDP program stamps the arrivals (`xdp_ingress`).
                prepared.options.xdp_stamps = params.path == PathKind::Xdp;
                Some(
                    crate::probe_run::start_session(
                        &spec,
                        vec![uadpbench_topology::THREAD_NETNS.into()],
                    )
                    .map_err(|e| format!("on the agent's host: {e:#}"))?,
                )
            }
            None => None,
        };
        // The capture starts before the side opens its path: every frame of the run is seen.
        let capture = match &capture_file {
            Some(file) => Some(
                crate::capture_run::start_in(
                    std::path::Path::new(uadpbench_topology::THREAD_NETNS),
                    prepared.link.ifindex,
                    file,
                )
                .map_err(|e| format!("on the agent's host: {e:#}"))?,
            ),
            None => None,
        };
        let conditions = prepared.conditions.clone();
        let notes = prepared.options.notes.clone();
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        let thread_stop = Arc::clone(&stop);
        let what = work.name();
        let started = (|| -> Result<JoinHandle<Result<Output, String>>, String> {
            let thread = std::thread::Builder::new()
                .name(format!("ub-{what}"))
                .spawn(move || side_thread(prepared, work, &thread_stop, &ready_tx))
                .map_err(|e| format!("cannot start the {what} thread: {e}"))?;
            match ready_rx.recv_timeout(READY_TIMEOUT) {
                Ok(Ok(())) => Ok(thread),
                Ok(Err(message)) => {
                    let _ = thread.join();
                    Err(message)
                }
                Err(_) => {
                    stop.store(true, Ordering::Release);
                    Err(match thread.join() {
                        Ok(Err(message)) => message,
                        Ok(Ok(_)) => format!(
                            "the {what} did not open its path within {} s",
                            READY_TIMEOUT.as_secs()
                        ),
                        Err(_) => format!("the {what} thread panicked while opening its path"),
                    })
                }
            }
        })();
        let thread = match started {
            Ok(t) => t,
            Err(message) => {
                // Nothing of a side that did not start stays behind, its capture included.
                if let Some(c) = capture {
                    c.abort();
                }
                return Err(message);
            }
        };
        tracing::info!(
            interface = %conditions.interface.name,
            path = %params.path,
            encap = %params.encap,
            cpu = ?conditions.cpu,
            "{what} ready"
        );
        Ok(Box::new(AgentSide {
            thread: Some(thread),
            conditions,
            notes,
            capture,
            probes,
            trace: params.probes.as_ref().and_then(|p| p.trace.clone()),
        }))
    }
}

/// The agent's probe session for a side, checked: a known selection and statistics mode,
/// slots a power of two within [`crate::probe_run::MAX_PROBE_SLOTS`], a subscriber within
/// [`MAX_REMOTE_PROBED_MESSAGES`].
fn probe_spec(
    p: &super::RemoteProbeParams,
    path: PathKind,
    work: &Work,
) -> Result<crate::probe_run::SessionSpec, String> {
    let selection = p
        .selection
        .trim()
        .parse::<uadpbench_probes::Selection>()
        .map_err(|e| {
            format!(
                "the agent refuses the probe selection {:?}: {e}",
                p.selection
            )
        })?;
    if selection == uadpbench_probes::Selection::None {
        return Err("the agent was asked for probes with the selection \"none\"; run the same uadpbench version on both hosts".into());
    }
    let max = crate::probe_run::MAX_PROBE_SLOTS;
    if !p.slots.is_power_of_two() || !(2..=max).contains(&p.slots) {
        return Err(format!(
            "the agent refuses {} probe slots: a power of two from 2 to {max}",
            p.slots
        ));
    }
    if let Work::Subscribe(cfg, _) = work {
        if cfg.expected > MAX_REMOTE_PROBED_MESSAGES && !p.histogram {
            return Err(format!(
                "the agent refuses probes for {} messages: at most {MAX_REMOTE_PROBED_MESSAGES} per run when its stamps are sent back",
                cfg.expected
            ));
        }
    }
    Ok(crate::probe_run::SessionSpec {
        path,
        selection,
        slots: p.slots,
        stats: crate::probe_run::StatsMode::parse(&p.stats)
            .map_err(|e| format!("the agent refuses the statistics mode {e}"))?,
        warmup: p.warmup,
        // --trace: the context switches of this host, cut to the window when sent back.
        sched_switch: p.trace.is_some(),
        histogram: p.histogram,
    })
}

/// What a side does once its path is open.
enum Work {
    /// Echo every message until the controller finishes the side.
    Reflect,
    /// Receive (and timestamp, unless only counting), `batch` messages per receive call; the
    /// controller finishing the side means the publisher is done.
    Subscribe(SubscribeConfig, usize),
}

impl Work {
    fn name(&self) -> &'static str {
        match self {
            Work::Reflect => "reflector",
            Work::Subscribe(..) => "subscriber",
        }
    }
}

/// What a side's thread returns.
enum Output {
    Reflector(ReflectorResult),
    /// With the agent's REALTIME − MONOTONIC before and after, when it took stamps.
    Subscriber(
        Box<SubscribeResult>,
        Option<(
            uadpbench_sender::clock::RealtimeOffset,
            uadpbench_sender::clock::RealtimeOffset,
        )>,
    ),
}

/// Longest linger of a subscriber after its publisher finished: a lost controller's side is
/// cleaned up within about this.
const MAX_LINGER_MS: u64 = 500;

/// A side: pinned, PM QoS held, path opened on this thread; then it reflects until `stop`, or
/// receives until every expected message arrived or `stop` (the publisher is done) and the
/// path stayed quiet for the linger.
fn side_thread(
    p: Prepared,
    work: Work,
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), String>>,
) -> Result<Output, String> {
    let Prepared {
        link,
        path,
        encap,
        options,
        mut codec,
        sched,
        idle,
        ..
    } = p;
    let setup = (|| -> Result<_, String> {
        sched
            .apply_to_current_thread()
            .map_err(|e| format!("on the agent's host: {e}"))?;
        let pm_qos = idle
            .hold()
            .map_err(|e| format!("on the agent's host: {e}"))?;
        let transport = open_transport(path, encap, &link, &options).map_err(|e| {
            format!(
                "opening the {path} path on {} on the agent's host: {e}",
                link.ifname
            )
        })?;
        // Raw paths: frames to a group MAC pass a real NIC's filter only once it is joined
        // (a UDP socket's IGMP join does this for the udp path).
        let membership = match options.multicast_group {
            Some(group) if path != PathKind::Udp => Some(
                MacMembership::join(link.ifindex, ipv4_group_mac(group))
                    .map_err(|e| format!("on the agent's host, interface {}: {e}", link.ifname))?,
            ),
            _ => None,
        };
        Ok((pm_qos, transport, membership))
    })();
    let (pm_qos, mut transport, membership) = match setup {
        Ok(s) => s,
        Err(message) => {
            let _ = ready.send(Err(message.clone()));
            return Err(message);
        }
    };
    let _ = ready.send(Ok(()));
    let what = work.name();
    let result = match work {
        Work::Reflect => {
            loops::reflect(transport.as_mut(), &mut codec, stop).map(Output::Reflector)
        }
        Work::Subscribe(cfg, _) => {
            // The controller finishing the side sets `stop`: for a subscriber that means the
            // publisher is done, so it lingers for the last messages in flight.
            let never = AtomicBool::new(false);
            let stamping = transport.timestamping();
            let before = stamping.then(|| uadpbench_sender::clock::realtime_offset(1000));
            loops::subscribe(transport.as_mut(), &mut codec, &cfg, stop, &never).map(|r| {
                let offsets = before.map(|b| (b, uadpbench_sender::clock::realtime_offset(1000)));
                Output::Subscriber(Box::new(r), offsets)
            })
        }
    }
    .map_err(|e| format!("the {what} on {} failed: {e}", link.ifname));
    drop(transport);
    drop(membership);
    drop(pm_qos);
    result
}

/// A running side.
struct AgentSide {
    thread: Option<JoinHandle<Result<Output, String>>>,
    conditions: RemoteConditions,
    /// What its transport noted when it opened (a fallback and why).
    notes: uadpbench_sender::open::SetupNotes,
    /// `run --peer-pcap`: the capture of the frames the interface received.
    capture: Option<crate::capture_run::PcapCapture>,
    /// `run --peer --probes`: this host's probe session (side B's end).
    probes: Option<uadpbench_probes::ProbeSession>,
    /// `run --peer --trace`: the window whose context switches go back with the stamps.
    trace: Option<super::probes::RemoteTraceWindow>,
}

impl RunningSide for AgentSide {
    fn finish(mut self: Box<Self>) -> Result<serde_json::Value, String> {
        let thread = self
            .thread
            .take()
            .ok_or_else(|| "the side was already finished".to_owned())?;
        let joined = thread
            .join()
            .map_err(|_| "the side's thread panicked".to_owned());
        // The side is done: the capture ends (draining what its socket holds) and is kept even
        // when the side failed — it may show why.
        let capture = match self.capture.take() {
            Some(c) => {
                let file = c.file().display().to_string();
                Some(
                    c.finish()
                        .map(|st| super::RemoteCapture {
                            file,
                            frames: st.frames,
                            other_frames: st.other_frames,
                            kernel_drops: st.kernel_drops,
                        })
                        .map_err(|e| format!("the capture on the agent's host failed: {e:#}"))?,
                )
            }
            None => None,
        };
        let output = joined??;
        let probes = match self.probes.take() {
            Some(session) => {
                let xdp = match &output {
                    Output::Reflector(r) => r.xdp.clone(),
                    Output::Subscriber(r, _) => r.xdp.clone(),
                };
                let report = crate::probe_run::collect(
                    session,
                    &xdp.iter().map(|x| (0, x.clone())).collect::<Vec<_>>(),
                )
                .map_err(|e| format!("on the agent's host: {e:#}"))?;
                let mut wire = super::RemoteProbeReport::new(&report);
                if let Some(w) = &self.trace {
                    wire.sched =
                        super::probes::sched_in_window(&report.events, &report.sched_events, w);
                    wire.sched_dropped = report.sched_dropped;
                    wire.sched_error = report.sched_error.clone();
                }
                wire.costs.extend(
                    xdp.as_ref()
                        .and_then(super::probes::RemoteCost::xdp_program),
                );
                tracing::info!(events = report.events.len(), "probe session finished");
                Some(wire)
            }
            None => None,
        };
        let mut conditions = self.conditions.clone();
        conditions.capture = capture;
        conditions.time_sync_after = Some(uadpbench_agent::TimeSync::read());
        conditions.transport_notes = self.notes.snapshot();
        let encoded = match output {
            Output::Reflector(r) => {
                tracing::info!(reflected = r.reflected, "reflector finished");
                let mut result = RemoteSideResult::new(&r, conditions);
                result.probes = probes;
                serde_json::to_value(result)
            }
            Output::Subscriber(r, offsets) => {
                tracing::info!(
                    received = r.seq.received,
                    measured = r.measured_received,
                    "subscriber finished"
                );
                let mut result = RemoteSubscriberResult::new(&r, conditions);
                result.probes = probes;
                result.realtime_offsets = offsets;
                serde_json::to_value(result)
            }
        };
        encoded.map_err(|e| format!("cannot encode the side's result: {e}"))
    }
}
