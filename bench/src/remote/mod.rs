//! Runs across two hosts (issue 17): what the bench crate puts into the agent protocol.
//!
//! The control plane (framing, handshake, the tokio server, the clients, the clock-offset
//! estimate) lives in the `uadpbench-agent` crate; it carries a side's parameters and result
//! as JSON it does not interpret. This module defines that JSON and runs the sides:
//!
//! * [`RemoteSideParams`] / [`RemoteSideResult`]: what the controller (`uadpbench run --peer`)
//!   asks the agent to run, and what the agent reports back.
//! * [`runner::BenchSideRunner`]: the agent's [`uadpbench_agent::SideRunner`] — describes an
//!   interface, opens the path on it and runs [`uadpbench_sender::loops::reflect`] on a pinned
//!   OS thread until the controller finishes the side.
//! * [`iface`]: a local interface's facts (MAC, IPv4, ifindex, MTU) read in the calling
//!   thread's network namespace, and the interface guard (only uadpbench's own veth ends
//!   unless `--allow-external-interface`).
//! * [`addr`]: `--listen` / `--peer` addresses and the agent's default allow-from list.
//!
//! The controller's side of a run is [`crate::run::run_with_peer`]. docs/two-hosts.md has the
//! commands and what is not built yet.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use uadpbench_agent::InterfaceFacts;
use uadpbench_sender::clock::RealtimeOffset;
use uadpbench_sender::hw_stamping::PhcReadings;
use uadpbench_sender::loops::{
    CpuTime, Reception, ReflectorResult, RejectCounts, SchedDelta, SubscribeResult,
};
use uadpbench_sender::open::PathOptions;
use uadpbench_sender::sequence::SeqStats;
use uadpbench_sender::transport::{Encap, PathKind, TransportCounters};

use crate::conditions::Placement;

pub mod addr;
pub mod iface;
pub mod probes;
pub mod runner;

pub use probes::{
    RemoteProbeParams, RemoteProbeReport, RemoteTraceWindow, MAX_REMOTE_PROBED_MESSAGES,
};

/// What the controller asks an agent to run: the far end of a ping-pong (a reflector) on one
/// of the agent host's interfaces. The agent validates every field before it opens anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSideParams {
    /// Transport path (udp, eth, xdp).
    pub path: PathKind,
    /// Encapsulation (eth/xdp: UADP in Ethernet or in UDP/IPv4).
    pub encap: Encap,
    /// The agent host's interface (`--peer-interface`).
    pub interface: String,
    /// MAC address of the controller's interface, `aa:bb:cc:dd:ee:ff`: where the echoes go.
    pub peer_mac: String,
    /// IPv4 address of the controller's interface (needed by the udp path and UDP
    /// encapsulation).
    pub peer_ip: Option<Ipv4Addr>,
    /// Bytes of each UADP NetworkMessage (the reflector validates every message it echoes).
    pub payload_bytes: usize,
    /// Pin the reflector to this CPU of the agent's host (`--cpu-b`).
    pub cpu: Option<usize>,
    /// Without `cpu`: `none` leaves the reflector unpinned, `cross-cpu`/`same-cpu` pin it to
    /// the CPU a local run would give side B (the highest usable CPU).
    pub placement: Placement,
    /// PM QoS CPU latency limit (µs) the agent holds while the side runs; `None`: idle states
    /// are left alone.
    pub idle_latency_us: Option<u32>,
    /// SCHED_FIFO priority of the reflector thread (`--fifo`).
    pub fifo_priority: Option<i32>,
    /// The path options that apply to the far end.
    pub path_options: RemotePathOptions,
    /// A subscriber side (`--mode cyclic`): how many messages to expect; `None` for a
    /// reflector.
    #[serde(default)]
    pub subscribe: Option<RemoteSubscribe>,
    /// `run --peer-pcap NAME`: capture the benchmark frames the agent's interface receives
    /// into NAME.pcap in the agent's `--capture-dir` (the name is checked: letters, digits,
    /// `.`, `-`, `_`, at most 100 bytes, no leading dot).
    #[serde(default)]
    pub pcap_name: Option<String>,
    /// `run --peer --probes`: the agent traces its end with its own probe session and sends
    /// the stamps back with the result.
    #[serde(default)]
    pub probes: Option<RemoteProbeParams>,
}

/// Whether `name` is acceptable as a capture name on an agent (no path, nothing hidden).
pub fn valid_capture_name(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// What an agent captured (`run --peer-pcap`), reported with the side's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCapture {
    /// The file on the agent's host.
    pub file: String,
    /// Benchmark frames written, frames of other traffic skipped, frames the kernel dropped.
    pub frames: u64,
    pub other_frames: u64,
    pub kernel_drops: u64,
}

/// What a subscriber on an agent expects (ids `0..expected`, the first `warmup` not recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteSubscribe {
    pub warmup: u64,
    pub expected: u64,
    /// After the controller says the publisher is done, stop when nothing arrived for this
    /// long (ms).
    pub linger_ms: u64,
    /// Keep every reception and send it back (cyclic: one-way latency); `false` (flood): count
    /// only, so `expected` may exceed [`MAX_REMOTE_RECEPTIONS`].
    #[serde(default = "yes")]
    pub record: bool,
    /// Messages per receive call (flood: `recvmmsg` / AF_XDP ring batches; cyclic: 1).
    #[serde(default = "one_message")]
    pub batch: usize,
}

fn yes() -> bool {
    true
}

fn one_message() -> usize {
    1
}

/// Most messages a counting (flood) subscriber on an agent accepts: the ids the sequence
/// tracker follows (one bit each, touched only as they arrive).
pub const MAX_REMOTE_FLOOD_MESSAGES: u64 = uadpbench_sender::sequence::MAX_TRACKED_ID;

/// Most messages a subscriber on an agent takes in one run: its receptions travel back in one
/// control frame (≤ 16 MiB of JSON, about 45 bytes per reception).
pub const MAX_REMOTE_RECEPTIONS: u64 = 300_000;

/// The [`PathOptions`] a reflector on an agent uses (the rest are the agent's decision).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemotePathOptions {
    /// `SO_BUSY_POLL` microseconds (udp/xdp; 0: off).
    pub busy_poll_us: u32,
    /// 802.1Q VLAN id (eth/xdp).
    pub vlan_id: Option<u16>,
    /// 802.1Q priority code point.
    pub vlan_pcp: u8,
    /// `PACKET_QDISC_BYPASS` (eth).
    pub qdisc_bypass: bool,
    /// XDP in driver mode.
    pub xdp_driver_mode: bool,
    /// Zero-copy AF_XDP.
    pub xdp_zero_copy: bool,
    /// UMEM frames and ring entries.
    pub xdp_ring_size: u32,
    /// `XDP_USE_NEED_WAKEUP`.
    pub xdp_need_wakeup: bool,
    /// Fan-out across hosts: the subscriber receives this IPv4 multicast group (udp: joined
    /// with IGMP; eth/xdp: the group's MAC added to the interface's receive filter for the
    /// side's duration). `None`: unicast from the controller.
    #[serde(default)]
    pub multicast_group: Option<Ipv4Addr>,
    /// The receive queue the far end's AF_XDP socket binds to (`--xdp-queue`).
    #[serde(default)]
    pub xdp_queue: u32,
    /// udp: the far end's socket is unconnected too (`--udp-unconnected`).
    #[serde(default)]
    pub udp_unconnected: bool,
    /// udp subscriber: `SO_TIMESTAMPING` receive stamps (software, and the NIC's hardware
    /// ones where its interface has them), sent back with the result (`--so-timestamping`).
    #[serde(default)]
    pub so_timestamping: bool,
}

impl RemotePathOptions {
    /// The far end's share of the controller's path options.
    pub fn from_path_options(o: &PathOptions) -> Self {
        RemotePathOptions {
            busy_poll_us: o.busy_poll_us,
            vlan_id: o.vlan_id,
            vlan_pcp: o.vlan_pcp,
            qdisc_bypass: o.qdisc_bypass,
            xdp_driver_mode: o.xdp_driver_mode,
            xdp_zero_copy: o.xdp_zero_copy,
            xdp_ring_size: o.xdp_ring_size,
            xdp_need_wakeup: o.xdp_need_wakeup,
            multicast_group: o.multicast_group,
            xdp_queue: o.xdp_queue,
            udp_unconnected: o.udp_unconnected,
            so_timestamping: o.so_timestamping,
        }
    }

    /// Path options for a reflector: one message at a time, receive timeouts short enough
    /// (100 ms) for the stop flag to be seen.
    pub fn path_options(&self, allow_external_interface: bool) -> PathOptions {
        PathOptions {
            busy_poll_us: self.busy_poll_us,
            udp_unconnected: self.udp_unconnected,
            so_timestamping: self.so_timestamping,
            batch: 1,
            vlan_id: self.vlan_id,
            vlan_pcp: self.vlan_pcp,
            qdisc_bypass: self.qdisc_bypass,
            xdp_driver_mode: self.xdp_driver_mode,
            xdp_zero_copy: self.xdp_zero_copy,
            xdp_ring_size: self.xdp_ring_size,
            xdp_need_wakeup: self.xdp_need_wakeup,
            multicast_group: self.multicast_group,
            xdp_queue: self.xdp_queue,
            allow_disruptive_interface: allow_external_interface,
            recv_timeout: std::time::Duration::from_millis(100),
            ..PathOptions::default()
        }
    }
}

/// What a reflector on an agent reports when it is finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteSideResult {
    /// Messages echoed.
    pub reflected: u64,
    /// Received messages that were not this run's benchmark messages.
    pub decode_errors: u64,
    /// Messages with an id outside the run.
    pub out_of_run: u64,
    /// Transport counters of the reflector's transport.
    pub transport: RemoteCounters,
    /// CPU time and scheduler events of the reflector thread.
    pub cpu: RemoteCpu,
    /// How the side ran on the agent's host.
    pub conditions: RemoteConditions,
    /// The agent's probe report (`run --peer --probes`).
    #[serde(default)]
    pub probes: Option<RemoteProbeReport>,
}

/// [`TransportCounters`] on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCounters {
    pub foreign_frames: u64,
    pub malformed_frames: u64,
    pub send_dropped: u64,
}

/// [`CpuTime`] on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteCpu {
    pub user_ns: u64,
    pub system_ns: u64,
    pub migrations: Option<u64>,
    pub involuntary_switches: u64,
    pub voluntary_switches: u64,
    pub first_cpu: Option<u32>,
    pub last_cpu: Option<u32>,
    #[serde(default)]
    pub on_cpu_ns: Option<u64>,
    #[serde(default)]
    pub runqueue_wait_ns: Option<u64>,
    #[serde(default)]
    pub window_ns: u64,
}

/// The conditions of a side on the agent's host, for meta.json's "peer".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteConditions {
    /// The CPU the reflector was pinned to (`None`: not pinned).
    pub cpu: Option<usize>,
    /// SCHED_FIFO priority, if any.
    pub fifo_priority: Option<i32>,
    /// The PM QoS CPU latency limit held while the side ran (µs), if any.
    pub pm_qos_us: Option<u32>,
    /// The interface the side ran on.
    pub interface: InterfaceFacts,
    /// Whether that interface is a veth end of a uadpbench topology.
    pub own_interface: bool,
    /// The agent host's environment (tool version, kernel, CPU model, clocksource), as a
    /// local run records its own in meta.json.
    pub environment: serde_json::Value,
    /// The agent host's idle and frequency setup.
    pub machine: serde_json::Value,
    /// The agent host's clock discipline when the side finished (its `CLOCK_TAI −
    /// CLOCK_MONOTONIC` then; the handshake's [`uadpbench_agent::HostFacts`] has the one
    /// before).
    #[serde(default)]
    pub time_sync_after: Option<uadpbench_agent::TimeSync>,
    /// What the agent's transport did differently from what was asked (e.g. copy mode
    /// instead of zero-copy), each with its reason.
    #[serde(default)]
    pub transport_notes: Vec<String>,
    /// The capture of `run --peer-pcap`, when asked for.
    #[serde(default)]
    pub capture: Option<RemoteCapture>,
}

impl RemoteSideResult {
    /// The wire form of a reflector's result.
    pub fn new(r: &ReflectorResult, conditions: RemoteConditions) -> Self {
        RemoteSideResult {
            reflected: r.reflected,
            decode_errors: r.rejects.decode_errors,
            out_of_run: r.rejects.out_of_run,
            transport: RemoteCounters::of(&r.transport),
            cpu: remote_cpu(&r.cpu),
            conditions,
            probes: None,
        }
    }

    /// The reflector's result as a local run has it, for the shared ping-pong rows.
    pub fn reflector_result(&self) -> ReflectorResult {
        ReflectorResult {
            reflected: self.reflected,
            xdp: None,
            rejects: RejectCounts {
                decode_errors: self.decode_errors,
                out_of_run: self.out_of_run,
            },
            transport: self.transport.counters(),
            cpu: self.cpu.cpu_time(),
        }
    }
}

/// What a subscriber on an agent reports when it is finished: every recorded reception on
/// the agent's CLOCK_MONOTONIC (the controller moves them onto its own clock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteSubscriberResult {
    /// `(packet id, receive time on the agent's CLOCK_MONOTONIC ns, send time the message
    /// carried)`.
    pub receptions: Vec<(u64, u64, Option<u64>)>,
    /// Distinct ids received, duplicates, reordered (warm-up included).
    pub received: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Distinct measured (non-warm-up) ids received.
    pub measured_received: u64,
    pub decode_errors: u64,
    pub out_of_run: u64,
    pub transport: RemoteCounters,
    pub cpu: RemoteCpu,
    /// First and last receive times (agent clock).
    pub first_recv_ns: Option<u64>,
    pub last_recv_ns: Option<u64>,
    pub conditions: RemoteConditions,
    /// The agent's probe report (`run --peer --probes`).
    #[serde(default)]
    pub probes: Option<RemoteProbeReport>,
    /// `--so-timestamping`: the subscriber's `SO_TIMESTAMPING` receive stamps (packet id,
    /// the agent's CLOCK_REALTIME ns) of the recorded receptions.
    #[serde(default)]
    pub rx_stamps: Vec<(u64, u64)>,
    /// The agent NIC's hardware receive stamps (packet id, its PHC ns), where it has them.
    #[serde(default)]
    pub rx_hw_stamps: Vec<(u64, u64)>,
    /// That PHC against the agent's CLOCK_REALTIME, before and after the receptions.
    #[serde(default)]
    pub phc: Option<PhcReadings>,
    /// The agent's REALTIME − MONOTONIC before and after the receptions (with stamps).
    #[serde(default)]
    pub realtime_offsets: Option<(RealtimeOffset, RealtimeOffset)>,
}

fn remote_cpu(c: &CpuTime) -> RemoteCpu {
    let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    RemoteCpu {
        user_ns: nanos(c.user),
        system_ns: nanos(c.system),
        migrations: c.sched.migrations,
        involuntary_switches: c.sched.involuntary_switches,
        voluntary_switches: c.sched.voluntary_switches,
        first_cpu: c.sched.first_cpu,
        last_cpu: c.sched.last_cpu,
        on_cpu_ns: c.sched.on_cpu_ns,
        runqueue_wait_ns: c.sched.runqueue_wait_ns,
        window_ns: c.sched.window_ns,
    }
}

impl RemoteCpu {
    fn cpu_time(&self) -> CpuTime {
        CpuTime {
            user: std::time::Duration::from_nanos(self.user_ns),
            system: std::time::Duration::from_nanos(self.system_ns),
            sched: SchedDelta {
                migrations: self.migrations,
                involuntary_switches: self.involuntary_switches,
                voluntary_switches: self.voluntary_switches,
                first_cpu: self.first_cpu,
                last_cpu: self.last_cpu,
                on_cpu_ns: self.on_cpu_ns,
                runqueue_wait_ns: self.runqueue_wait_ns,
                window_ns: self.window_ns,
            },
        }
    }
}

impl RemoteCounters {
    fn of(t: &TransportCounters) -> Self {
        RemoteCounters {
            foreign_frames: t.foreign_frames,
            malformed_frames: t.malformed_frames,
            send_dropped: t.send_dropped,
        }
    }

    fn counters(&self) -> TransportCounters {
        TransportCounters {
            foreign_frames: self.foreign_frames,
            malformed_frames: self.malformed_frames,
            send_dropped: self.send_dropped,
        }
    }
}

impl RemoteSubscriberResult {
    /// The wire form of a subscriber's result.
    pub fn new(r: &SubscribeResult, conditions: RemoteConditions) -> Self {
        RemoteSubscriberResult {
            receptions: r
                .receptions
                .iter()
                .map(|x| (x.packet_id, x.t_recv_ns, x.t_send_ns))
                .collect(),
            received: r.seq.received,
            duplicates: r.seq.duplicates,
            reordered: r.seq.reordered,
            measured_received: r.measured_received,
            decode_errors: r.rejects.decode_errors,
            out_of_run: r.rejects.out_of_run,
            transport: RemoteCounters::of(&r.transport),
            cpu: remote_cpu(&r.cpu),
            first_recv_ns: r.first_recv_ns,
            last_recv_ns: r.last_recv_ns,
            conditions,
            probes: None,
            rx_stamps: r.rx_stamps.clone(),
            rx_hw_stamps: r.rx_hw_stamps.clone(),
            phc: r.phc.clone(),
            realtime_offsets: None,
        }
    }

    /// The subscriber's result as a local run has it, its receive times moved onto the
    /// controller's clock by `to_controller` (agent ns → controller ns).
    pub fn subscribe_result(&self, to_controller: impl Fn(u64) -> u64) -> SubscribeResult {
        SubscribeResult {
            receptions: self
                .receptions
                .iter()
                .map(|&(packet_id, t_recv, t_send)| Reception {
                    packet_id,
                    t_send_ns: t_send,
                    t_recv_ns: to_controller(t_recv),
                })
                .collect(),
            // Agent CLOCK_REALTIME stamps: see `crate::clock_check::move_far_stamps`.
            rx_stamps: Vec::new(),
            rx_hw_stamps: Vec::new(),
            phc: None,
            xdp: None,
            seq: SeqStats {
                received: self.received,
                duplicates: self.duplicates,
                reordered: self.reordered,
            },
            measured_received: self.measured_received,
            rejects: RejectCounts {
                decode_errors: self.decode_errors,
                out_of_run: self.out_of_run,
            },
            transport: self.transport.counters(),
            cpu: self.cpu.cpu_time(),
            first_recv_ns: self.first_recv_ns.map(&to_controller),
            last_recv_ns: self.last_recv_ns.map(&to_controller),
        }
    }
}

/// Which end of a run across hosts a thread is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The controller's side A (the initiator).
    Near,
    /// The agent's side B (the reflector).
    Far,
}

/// The CPU one end's timed thread is pinned to, chosen on its own host as a local run would
/// choose it for that side: `explicit` (`--cpu-a` / `--cpu-b`) if given (it must be usable
/// here); otherwise nothing for `none`, the highest usable CPU for side B, and for side A the
/// CPU a local cross-cpu run gives A (another CPU than B's, falling back to the highest on a
/// one-CPU host) or, same-cpu, the highest.
pub fn end_cpu(
    placement: Placement,
    explicit: Option<usize>,
    end: End,
) -> Result<Option<usize>, crate::conditions::PlacementError> {
    use crate::conditions::placement::{resolve_here, usable_cpus};
    if let Some(cpu) = explicit {
        let (a, b) = match end {
            End::Near => (Some(cpu), None),
            End::Far => (None, Some(cpu)),
        };
        resolve_here(Placement::None, a, b)?;
        return Ok(Some(cpu));
    }
    let highest = || usable_cpus().map(|u| u.into_iter().max());
    match (placement, end) {
        (Placement::None, _) => Ok(None),
        (Placement::SameCpu, _) | (Placement::CrossCpu, End::Far) => highest(),
        (Placement::CrossCpu, End::Near) => match resolve_here(Placement::CrossCpu, None, None) {
            Ok(p) => Ok(p.cpu_a),
            Err(crate::conditions::PlacementError::NeedTwo { .. }) => highest(),
            Err(e) => Err(e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn capture_names_are_file_names_only() {
        for ok in ["r1", "run-2026.12.03_a", &"x".repeat(100)] {
            assert!(valid_capture_name(ok), "{ok}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "a b", "ü", &"x".repeat(101)] {
            assert!(!valid_capture_name(bad), "{bad}");
        }
    }

    #[test]
    fn subscriber_parameters_default_to_recording_one_message_at_a_time() {
        // What a controller sends for a cyclic run (no record/batch keys): record every
        // reception, one message per receive call.
        let cyclic: RemoteSubscribe =
            serde_json::from_str(r#"{"warmup": 10, "expected": 110, "linger_ms": 200}"#)
                .expect("parses");
        assert!(cyclic.record);
        assert_eq!(cyclic.batch, 1);
        let flood = RemoteSubscribe {
            warmup: 0,
            expected: 4_001_024,
            linger_ms: 200,
            record: false,
            batch: 32,
        };
        let back: RemoteSubscribe =
            serde_json::from_value(serde_json::to_value(flood).expect("encodes")).expect("parses");
        assert_eq!(back, flood);
        assert!(serde_json::from_str::<RemoteSubscribe>(
            r#"{"warmup": 0, "expected": 1, "linger_ms": 1, "extra": 1}"#
        )
        .is_err());
    }

    #[test]
    fn each_end_picks_its_cpu_as_a_local_run_would() {
        let usable = crate::conditions::placement::usable_cpus().unwrap();
        let highest = usable.iter().copied().max();
        assert_eq!(end_cpu(Placement::None, None, End::Near).unwrap(), None);
        assert_eq!(end_cpu(Placement::None, None, End::Far).unwrap(), None);
        assert_eq!(
            end_cpu(Placement::CrossCpu, None, End::Far).unwrap(),
            highest
        );
        assert_eq!(
            end_cpu(Placement::SameCpu, None, End::Near).unwrap(),
            highest
        );
        let near = end_cpu(Placement::CrossCpu, None, End::Near).unwrap();
        if usable.len() > 1 {
            assert_ne!(near, highest);
        }
        assert_eq!(
            end_cpu(Placement::CrossCpu, Some(usable[0]), End::Far).unwrap(),
            Some(usable[0])
        );
        let err = end_cpu(Placement::None, Some(100_000), End::Far).unwrap_err();
        assert!(err.to_string().contains("--cpu-b"), "{err}");
    }

    #[test]
    fn params_round_trip_and_refuse_unknown_fields() {
        let params = RemoteSideParams {
            path: PathKind::Eth,
            encap: Encap::Eth,
            interface: "eth1".into(),
            peer_mac: "02:75:62:00:00:01".into(),
            peer_ip: None,
            payload_bytes: 64,
            cpu: Some(1),
            placement: Placement::CrossCpu,
            idle_latency_us: Some(0),
            fifo_priority: None,
            path_options: RemotePathOptions::from_path_options(&PathOptions::default()),
            subscribe: None,
            pcap_name: None,
            probes: None,
        };
        let value = serde_json::to_value(&params).unwrap();
        assert_eq!(value["path"], "eth");
        assert_eq!(value["placement"], "cross-cpu");
        let back: RemoteSideParams = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back, params);
        let mut extra = value;
        extra["command"] = "rm -rf /".into();
        assert!(serde_json::from_value::<RemoteSideParams>(extra).is_err());
    }

    #[test]
    fn reflector_result_survives_the_wire() {
        let r = ReflectorResult {
            reflected: 2100,
            xdp: None,
            rejects: RejectCounts {
                decode_errors: 1,
                out_of_run: 2,
            },
            transport: TransportCounters {
                foreign_frames: 3,
                malformed_frames: 4,
                send_dropped: 5,
            },
            cpu: CpuTime {
                user: Duration::from_micros(1500),
                system: Duration::from_micros(2500),
                sched: SchedDelta {
                    migrations: Some(0),
                    involuntary_switches: 6,
                    voluntary_switches: 2100,
                    first_cpu: Some(1),
                    last_cpu: Some(1),
                    on_cpu_ns: Some(900_000),
                    runqueue_wait_ns: Some(20_000),
                    window_ns: 5_000_000,
                },
            },
        };
        let conditions = RemoteConditions {
            cpu: Some(1),
            fifo_priority: None,
            pm_qos_us: Some(0),
            interface: InterfaceFacts {
                name: "eth1".into(),
                ifindex: 2,
                mac: "02:75:62:00:00:02".into(),
                ipv4: None,
                mtu: 1500,
                timestamping: None,
            },
            own_interface: false,
            environment: serde_json::json!({}),
            machine: serde_json::json!({}),
            time_sync_after: Some(uadpbench_agent::TimeSync::read()),
            transport_notes: Vec::new(),
            capture: None,
        };
        let wire = serde_json::to_value(RemoteSideResult::new(&r, conditions)).unwrap();
        let back: RemoteSideResult = serde_json::from_value(wire).unwrap();
        let again = back.reflector_result();
        assert_eq!(again.reflected, r.reflected);
        assert_eq!(again.rejects, r.rejects);
        assert_eq!(again.transport, r.transport);
        assert_eq!(again.cpu, r.cpu);
    }
}
