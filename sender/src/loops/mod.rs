//! The timed loops: ping-pong initiator and reflector, cyclic publisher, subscriber, flood
//! publisher. They run on plain OS threads, see only [`Transport`], preallocate their sample
//! storage, and take every timestamp from CLOCK_MONOTONIC ([`crate::clock`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::clock::{
    monotonic_ns, sleep_until, thread_cpu_time, thread_sched_counts, ThreadSchedCounts,
};
use crate::codec::MessageCodec;
use crate::hw_stamping::PhcReadings;
use crate::sequence::{Arrival, SeqStats, SeqTracker};
use crate::transport::{Transport, TransportCounters, TransportError};
use crate::transport::{TxStamp, XdpStamps};

/// CPU time a loop's thread used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
    /// What the scheduler did to the timed thread during the loop (warm-up included).
    pub sched: SchedDelta,
}

/// Scheduler events of a timed thread between the start and the end of its loop.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SchedDelta {
    /// Moves to another CPU (None where the kernel does not count them per thread).
    pub migrations: Option<u64>,
    /// Times it was preempted (switched out while runnable).
    pub involuntary_switches: u64,
    /// Times it blocked (waited for a message or a deadline).
    pub voluntary_switches: u64,
    /// CPU at the start and at the end of the loop.
    pub first_cpu: Option<u32>,
    pub last_cpu: Option<u32>,
    /// Of the loop's wall time (`window_ns`): ns running on a CPU and ns runnable but waiting
    /// for one (`/proc/thread-self/schedstat`); the rest it slept (blocked in a receive, waiting
    /// for a deadline) or, on a VM, its vCPU was taken by the hypervisor (steal time counts in
    /// neither). None where the kernel does not keep schedstat.
    pub on_cpu_ns: Option<u64>,
    pub runqueue_wait_ns: Option<u64>,
    /// The loop's wall time, ns.
    pub window_ns: u64,
}

struct CpuMeter((Duration, Duration), ThreadSchedCounts);

impl CpuMeter {
    fn start() -> Self {
        let sched = thread_sched_counts();
        CpuMeter(thread_cpu_time(), sched)
    }
    fn stop(self) -> CpuTime {
        let (u, s) = thread_cpu_time();
        let end = thread_sched_counts();
        let start = self.1;
        CpuTime {
            user: u.saturating_sub(self.0 .0),
            system: s.saturating_sub(self.0 .1),
            sched: SchedDelta {
                migrations: start
                    .migrations
                    .zip(end.migrations)
                    .map(|(a, b)| b.saturating_sub(a)),
                involuntary_switches: end
                    .involuntary_switches
                    .saturating_sub(start.involuntary_switches),
                voluntary_switches: end
                    .voluntary_switches
                    .saturating_sub(start.voluntary_switches),
                first_cpu: start.cpu,
                last_cpu: end.cpu,
                on_cpu_ns: start
                    .schedstat
                    .zip(end.schedstat)
                    .map(|(a, b)| b.0.saturating_sub(a.0)),
                runqueue_wait_ns: start
                    .schedstat
                    .zip(end.schedstat)
                    .map(|(a, b)| b.1.saturating_sub(a.1)),
                window_ns: end.at_ns.saturating_sub(start.at_ns),
            },
        }
    }
}

/// Counts of messages that were not usable benchmark messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts {
    /// UADP-path messages that failed to decode as this run's benchmark messages.
    pub decode_errors: u64,
    /// Messages whose id is outside the run (e.g. from an earlier run).
    pub out_of_run: u64,
}

// ---------------------------------------------------------------- ping-pong

/// One round trip, as the initiator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    pub packet_id: u64,
    /// CLOCK_MONOTONIC just before the send call.
    pub t_send_ns: u64,
    /// CLOCK_MONOTONIC just after the echo was received; `None` if it never came in time.
    pub t_recv_ns: Option<u64>,
}

/// Ping-pong parameters.
#[derive(Debug, Clone, Copy)]
pub struct PingPongConfig {
    /// Round trips done first and excluded from the samples.
    pub warmup: u64,
    /// Measured round trips.
    pub count: u64,
    /// How long to wait for each echo before counting the message lost.
    pub timeout: Duration,
}

/// What the initiator measured.
#[derive(Debug, Clone)]
pub struct PingPongResult {
    /// One per measured message (warm-up excluded), in send order.
    pub round_trips: Vec<RoundTrip>,
    /// The XDP program's arrival stamps of the echoes (xdp path, probe runs).
    pub xdp: Option<XdpStamps>,
    pub seq: SeqStats,
    /// Echoes that arrived after their message was already counted lost.
    pub late: u64,
    pub rejects: RejectCounts,
    pub transport: TransportCounters,
    pub cpu: CpuTime,
    pub wall_ns: u64,
}

/// Sends each message and waits for its echo before sending the next.
pub fn ping_pong(
    t: &mut dyn Transport,
    codec: &mut dyn MessageCodec,
    cfg: &PingPongConfig,
    stop: &AtomicBool,
) -> Result<PingPongResult, TransportError> {
    let total = cfg.warmup + cfg.count;
    let mut round_trips = Vec::with_capacity(cfg.count as usize);
    let mut seq = SeqTracker::with_capacity(total);
    let mut rejects = RejectCounts::default();
    let mut late = 0;
    let mut tx = vec![0u8; codec.max_message_len()];
    let mut rx = vec![0u8; t.max_message_len().max(codec.max_message_len()) + 64];
    t.set_recv_timeout(cfg.timeout)?;
    let stamps_in_place = codec.carries_timing();
    let cpu = CpuMeter::start();
    let start = monotonic_ns();
    for id in 0..total {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Formats that carry the send time get it by `restamp` below; only the others (layout
        // fields like mono-ns) need the clock read here.
        let approx = if stamps_in_place { 0 } else { monotonic_ns() };
        let len = codec
            .encode(&mut tx, id, approx)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        let t_send = monotonic_ns();
        codec.restamp(&mut tx[..len], t_send);
        t.send(&tx[..len])?;
        let deadline = t_send + cfg.timeout.as_nanos() as u64;
        let mut t_recv = None;
        while let Some(n) = t.recv(&mut rx)? {
            let now = monotonic_ns();
            match codec.decode(&rx[..n]) {
                Ok(f) => match f.packet_id(id) {
                    // The echo of this message (the send time, where it rides, must match too).
                    Some(p) if p == id && f.t_send_ns.is_none_or(|ts| ts == t_send) => {
                        seq.observe(id);
                        t_recv = Some(now);
                        break;
                    }
                    Some(p) if p < id => {
                        // The echo of a message already given up on, or a duplicate.
                        match seq.observe(p) {
                            Some(Arrival::Duplicate) => {}
                            _ => late += 1,
                        }
                    }
                    _ => rejects.out_of_run += 1,
                },
                Err(_) => rejects.decode_errors += 1,
            }
            if now >= deadline {
                break;
            }
        }
        if id >= cfg.warmup {
            round_trips.push(RoundTrip {
                packet_id: id,
                t_send_ns: t_send,
                t_recv_ns: t_recv,
            });
        }
    }
    let wall_ns = monotonic_ns() - start;
    let xdp = t.xdp_stamps()?;
    Ok(PingPongResult {
        round_trips,
        xdp,
        seq: seq.stats(),
        late,
        rejects,
        transport: t.counters(),
        cpu: cpu.stop(),
        wall_ns,
    })
}

/// What the reflector did.
#[derive(Debug, Clone, Default)]
pub struct ReflectorResult {
    pub reflected: u64,
    /// The XDP program's arrival stamps of the pings (xdp path, probe runs).
    pub xdp: Option<XdpStamps>,
    pub rejects: RejectCounts,
    pub transport: TransportCounters,
    pub cpu: CpuTime,
}

/// Echoes every benchmark message back on the same path until `stop` is set.
pub fn reflect(
    t: &mut dyn Transport,
    codec: &mut dyn MessageCodec,
    stop: &AtomicBool,
) -> Result<ReflectorResult, TransportError> {
    let mut rx = vec![0u8; t.max_message_len().max(codec.max_message_len()) + 64];
    let mut r = ReflectorResult::default();
    // Wake up regularly to notice `stop`.
    t.set_recv_timeout(Duration::from_millis(20))?;
    let cpu = CpuMeter::start();
    while !stop.load(Ordering::Relaxed) {
        let Some(n) = t.recv(&mut rx)? else { continue };
        if codec.decode(&rx[..n]).is_err() {
            r.rejects.decode_errors += 1;
            continue;
        }
        t.send(&rx[..n])?;
        r.reflected += 1;
    }
    r.transport = t.counters();
    r.cpu = cpu.stop();
    r.xdp = t.xdp_stamps()?;
    Ok(r)
}

// ---------------------------------------------------------------- cyclic

/// Cyclic publisher parameters.
#[derive(Debug, Clone, Copy)]
pub struct CyclicConfig {
    pub warmup: u64,
    pub count: u64,
    /// Publishing interval.
    pub interval: Duration,
    /// Busy-wait this long before each deadline instead of sleeping (0: sleep only).
    pub spin: Duration,
}

/// One published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publication {
    pub packet_id: u64,
    /// When it should have been sent (start + id × interval).
    pub deadline_ns: u64,
    /// When the send call started.
    pub t_send_ns: u64,
}

/// What the publisher did.
#[derive(Debug, Clone)]
pub struct PublishResult {
    /// Measured messages (warm-up excluded).
    pub publications: Vec<Publication>,
    /// `SO_TIMESTAMPING` transmit stamps (cyclic, with the udp path's `so_timestamping`); the
    /// OPT_ID key of each is the packet id (one send call per id, in order).
    pub tx_stamps: Vec<TxStamp>,
    /// The NIC's PTP hardware clock against CLOCK_REALTIME, read before and after the
    /// publications, when the transport has hardware stamps on.
    pub phc: Option<PhcReadings>,
    /// All messages sent, warm-up included.
    pub sent: u64,
    pub transport: TransportCounters,
    pub cpu: CpuTime,
    pub wall_ns: u64,
}

/// Publishes on absolute deadlines `start_ns + id × interval`.
pub fn publish_cyclic(
    t: &mut dyn Transport,
    codec: &mut dyn MessageCodec,
    cfg: &CyclicConfig,
    start_ns: u64,
    stop: &AtomicBool,
) -> Result<PublishResult, TransportError> {
    let total = cfg.warmup + cfg.count;
    let interval = cfg.interval.as_nanos() as u64;
    let spin = cfg.spin.as_nanos() as u64;
    let mut publications = Vec::with_capacity(cfg.count as usize);
    let mut tx = vec![0u8; codec.max_message_len()];
    let mut sent = 0;
    let stamping = t.timestamping();
    let mut tx_stamps = Vec::with_capacity(if stamping { 3 * total as usize } else { 0 });
    let mut phc = t.hardware_clock().map(PhcReadings::start);
    let cpu = CpuMeter::start();
    for id in 0..total {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let deadline = start_ns + id * interval;
        let len = codec
            .encode(&mut tx, id, deadline)
            .map_err(|e| TransportError::Setup(e.to_string()))?;
        sleep_until(deadline, spin);
        let t_send = monotonic_ns();
        codec.restamp(&mut tx[..len], t_send);
        t.send(&tx[..len])?;
        sent += 1;
        if stamping {
            t.drain_tx_stamps(&mut tx_stamps)?;
        }
        if id >= cfg.warmup {
            publications.push(Publication {
                packet_id: id,
                deadline_ns: deadline,
                t_send_ns: t_send,
            });
        }
    }
    if stamping {
        // Stamps of the last sends may still be on their way to the error queue.
        std::thread::sleep(Duration::from_millis(2));
        t.drain_tx_stamps(&mut tx_stamps)?;
    }
    if let Some(p) = &mut phc {
        p.finish();
    }
    Ok(PublishResult {
        publications,
        tx_stamps,
        phc,
        sent,
        transport: t.counters(),
        cpu: cpu.stop(),
        wall_ns: monotonic_ns().saturating_sub(start_ns),
    })
}

// ---------------------------------------------------------------- flood

/// Flood publisher parameters.
#[derive(Debug, Clone, Copy)]
pub struct FloodConfig {
    pub duration: Duration,
    /// Messages per `send_batch` call.
    pub batch: usize,
}

/// Sends as fast as the path takes messages, for a duration. Returns the number sent.
pub fn publish_flood(
    t: &mut dyn Transport,
    codec: &mut dyn MessageCodec,
    cfg: &FloodConfig,
    stop: &AtomicBool,
) -> Result<PublishResult, TransportError> {
    let batch = cfg.batch.clamp(1, 64);
    let len = codec.max_message_len();
    let mut lens = [0usize; 64];
    let mut bufs = vec![0u8; len * batch];
    let start = monotonic_ns();
    let end = start + cfg.duration.as_nanos() as u64;
    let mut next_id = 0u64;
    let mut sent = 0u64;
    let cpu = CpuMeter::start();
    while !stop.load(Ordering::Relaxed) {
        let now = monotonic_ns();
        if now >= end {
            break;
        }
        for (i, chunk) in bufs.chunks_exact_mut(len).enumerate() {
            lens[i] = codec
                .encode(chunk, next_id + i as u64, now)
                .map_err(|e| TransportError::Setup(e.to_string()))?;
        }
        let mut refs: [&[u8]; 64] = [&[]; 64];
        for ((r, chunk), n) in refs.iter_mut().zip(bufs.chunks_exact(len)).zip(lens) {
            *r = &chunk[..n];
        }
        sent += t.send_batch(&refs[..batch])? as u64;
        next_id += batch as u64;
    }
    let wall_ns = monotonic_ns() - start;
    let mut transport = t.counters();
    // Ids that the kernel refused are lost by definition; they were handed out nonetheless.
    transport.send_dropped = next_id - sent;
    Ok(PublishResult {
        publications: Vec::new(),
        tx_stamps: Vec::new(),
        phc: None,
        sent: next_id,
        transport,
        cpu: cpu.stop(),
        wall_ns,
    })
}

// ---------------------------------------------------------------- subscriber

/// One received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reception {
    pub packet_id: u64,
    /// The send time the message carried (the benchmark message; configured layouts join
    /// the packet id with the publisher's send log instead).
    pub t_send_ns: Option<u64>,
    /// CLOCK_MONOTONIC just after the receive call returned.
    pub t_recv_ns: u64,
}

/// Subscriber parameters.
#[derive(Debug, Clone, Copy)]
pub struct SubscribeConfig {
    /// Ids below this are warm-up: counted, not recorded.
    pub warmup: u64,
    /// How many ids the publisher will send at most (for preallocation and completion).
    pub expected: u64,
    /// Record each reception (cyclic mode) or only count (flood mode).
    pub record: bool,
    /// After the publisher finished, stop when nothing arrived for this long.
    pub linger: Duration,
}

/// What the subscriber measured.
#[derive(Debug, Clone)]
pub struct SubscribeResult {
    pub receptions: Vec<Reception>,
    /// `SO_TIMESTAMPING` receive stamps (packet id, CLOCK_REALTIME ns) of the recorded
    /// receptions, with the udp path's `so_timestamping`.
    pub rx_stamps: Vec<(u64, u64)>,
    /// The NIC's hardware receive stamps (packet id, PTP hardware clock ns) of the recorded
    /// receptions, when the transport has hardware stamps on.
    pub rx_hw_stamps: Vec<(u64, u64)>,
    /// That clock against CLOCK_REALTIME, read before and after the receptions.
    pub phc: Option<PhcReadings>,
    /// The XDP program's arrival stamps (xdp path, probe runs).
    pub xdp: Option<XdpStamps>,
    pub seq: SeqStats,
    /// Distinct measured (non-warm-up) ids received.
    pub measured_received: u64,
    pub rejects: RejectCounts,
    pub transport: TransportCounters,
    pub cpu: CpuTime,
    /// First and last reception times (for rates).
    pub first_recv_ns: Option<u64>,
    pub last_recv_ns: Option<u64>,
}

/// Receives until every expected id arrived, or the publisher is done (`publisher_done`) and
/// the path stayed quiet for `linger`, or `stop` is set.
pub fn subscribe(
    t: &mut dyn Transport,
    codec: &mut dyn MessageCodec,
    cfg: &SubscribeConfig,
    publisher_done: &AtomicBool,
    stop: &AtomicBool,
) -> Result<SubscribeResult, TransportError> {
    let mut receptions = Vec::with_capacity(if cfg.record {
        cfg.expected.saturating_sub(cfg.warmup) as usize
    } else {
        0
    });
    let mut seq = SeqTracker::with_capacity(cfg.expected);
    let mut rejects = RejectCounts::default();
    let mut rx = vec![0u8; t.max_message_len().max(codec.max_message_len()) + 64];
    let mut measured_received = 0;
    let (mut first, mut last) = (None, None);
    let poll = cfg
        .linger
        .min(Duration::from_millis(50))
        .max(Duration::from_millis(1));
    t.set_recv_timeout(poll)?;
    let cpu = CpuMeter::start();
    let mut quiet_since: Option<u64> = None;
    let stamping = t.timestamping() && cfg.record;
    let mut rx_stamps = Vec::new();
    let mut rx_hw_stamps = Vec::new();
    let mut phc = t.hardware_clock().map(PhcReadings::start);
    // Highest packet id seen: sequence-only identities unwrap around it.
    let mut highest = 0u64;
    loop {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if seq.stats().received >= cfg.expected && cfg.expected > 0 {
            break;
        }
        let Some(n) = t.recv(&mut rx)? else {
            if publisher_done.load(Ordering::Acquire) {
                let now = monotonic_ns();
                let since = *quiet_since.get_or_insert(now);
                if now - since >= cfg.linger.as_nanos() as u64 {
                    break;
                }
            }
            continue;
        };
        quiet_since = None;
        let now = monotonic_ns();
        let f = match codec.decode(&rx[..n]) {
            Ok(f) => f,
            Err(_) => {
                rejects.decode_errors += 1;
                continue;
            }
        };
        let packet_id = match f.packet_id(highest) {
            Some(id) if id < cfg.expected => id,
            _ => {
                rejects.out_of_run += 1;
                continue;
            }
        };
        highest = highest.max(packet_id);
        first.get_or_insert(now);
        last = Some(now);
        match seq.observe(packet_id) {
            Some(Arrival::Duplicate) | None => continue,
            Some(_) => {}
        }
        if packet_id >= cfg.warmup {
            measured_received += 1;
            if cfg.record {
                if stamping {
                    if let Some(ns) = t.last_rx_stamp() {
                        rx_stamps.push((packet_id, ns));
                    }
                    if let Some(ns) = t.last_rx_hw_stamp() {
                        rx_hw_stamps.push((packet_id, ns));
                    }
                }
                receptions.push(Reception {
                    packet_id,
                    t_send_ns: f.t_send_ns,
                    t_recv_ns: now,
                });
            }
        }
    }
    let xdp = t.xdp_stamps()?;
    if let Some(p) = &mut phc {
        p.finish();
    }
    Ok(SubscribeResult {
        receptions,
        rx_stamps,
        rx_hw_stamps,
        phc,
        xdp,
        seq: seq.stats(),
        measured_received,
        rejects,
        transport: t.counters(),
        cpu: cpu.stop(),
        first_recv_ns: first,
        last_recv_ns: last,
    })
}

#[cfg(test)]
mod tests;
