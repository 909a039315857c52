//! The workloads: one per mode (ping-pong, cyclic, flood). Each opens the path on both sides
//! (each side an OS thread moved into its namespace), runs the sender crate's timed loops and
//! turns what they measured into rows, samples and report lines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::codec::MessageCodec;
use uadpbench_sender::loops::{
    self, CyclicConfig, FloodConfig, PingPongConfig, RejectCounts, SubscribeConfig,
};
use uadpbench_sender::transport::{PathKind, Transport};
use uadpbench_topology::{Side, Topology};

use crate::paths;
use crate::results::SampleRow;
use crate::stats::Summary;

use super::*;

/// What every workload runs with.
#[derive(Clone, Copy)]
pub(super) struct Stage<'a> {
    pub cfg: &'a RunConfig,
    pub topo: &'a Arc<Topology>,
    pub codec: &'a dyn MessageCodec,
    pub stop: &'a Arc<AtomicBool>,
    pub run_id: &'a str,
}

/// What the workloads fill in for the run's files and terminal lines.
pub(super) struct Collected<'o, 'c> {
    pub rows: &'o mut Rows<'c>,
    pub samples: &'o mut Vec<SampleRow>,
    pub report: &'o mut Vec<String>,
    pub kernel_stamps: &'o mut KernelStamps,
}

/// One measurement mode: runs both sides over the topology and records what they measured.
pub(super) trait Workload {
    fn run(&self, stage: &Stage<'_>, out: &mut Collected<'_, '_>) -> anyhow::Result<()>;
}

/// Side A sends and waits for the echo; side B reflects (round-trip latency).
struct PingPong;
/// Side A publishes on a fixed interval; side B subscribes (one-way latency, jitter, loss).
struct Cyclic;
/// Side A sends as fast as it can for a duration; side B counts (throughput, loss).
struct Flood;

/// The workload of a mode.
pub(super) fn workload(mode: Mode) -> &'static dyn Workload {
    match mode {
        Mode::Pingpong => &PingPong,
        Mode::Cyclic => &Cyclic,
        Mode::Flood => &Flood,
    }
}

/// Opens a transport inside a side's namespace and runs `body` on that thread.
fn spawn_side<T: Send + 'static>(
    topo: &Arc<Topology>,
    side: Side,
    name: &str,
    cfg: &RunConfig,
    ready: Option<mpsc::Sender<()>>,
    body: impl FnOnce(&mut dyn Transport) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<T>>> {
    let t2 = Arc::clone(topo);
    let (path, encap, mut opts) = (cfg.path, cfg.encap, cfg.path_options.clone());
    // Probe runs on the xdp path: the XDP program stamps arrivals (the xdp_ingress layer).
    opts.xdp_stamps = cfg.path == PathKind::Xdp && (cfg.probes_enabled() || cfg.trace.is_some());
    if cfg.mode != Mode::Flood {
        // Latency modes handle one message at a time: plain send/recv system calls, no
        // batching (recvmmsg would only add its own overhead, and the probes' receive-side
        // syscall layers follow recvfrom).
        opts.batch = 1;
    }
    let sched = match side {
        Side::A => cfg.sched_a,
        Side::B => cfg.sched_b,
    };
    let handle = topo.spawn_in(side, name.to_owned(), move || -> anyhow::Result<T> {
        sched.apply_to_current_thread()?;
        let mut transport = paths::open(path, encap, &t2, side, &opts)?;
        if let Some(r) = ready {
            let _ = r.send(());
        }
        body(transport.as_mut())
    })?;
    Ok(handle)
}

pub(super) fn join<T>(
    h: std::thread::JoinHandle<anyhow::Result<T>>,
    what: &str,
) -> anyhow::Result<T> {
    match h.join() {
        Ok(r) => r.with_context(|| format!("the {what} failed")),
        Err(_) => bail!("the {what} thread panicked"),
    }
}

fn wait_ready(rx: &mpsc::Receiver<()>, what: &str) -> anyhow::Result<()> {
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| anyhow::anyhow!("the {what} did not start (see the error above)"))
}

impl Workload for PingPong {
    fn run(&self, stage: &Stage<'_>, out: &mut Collected<'_, '_>) -> anyhow::Result<()> {
        let Stage {
            cfg,
            topo,
            codec,
            stop,
            run_id,
        } = *stage;
        let Collected {
            rows,
            samples,
            report,
            kernel_stamps,
        } = out;
        let reflector_stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let rs = Arc::clone(&reflector_stop);
        let reflector = spawn_side(topo, Side::B, "ub-reflector", cfg, Some(ready_tx), {
            let mut c = codec.boxed();
            move |t| Ok(loops::reflect(t, c.as_mut(), &rs)?)
        })?;
        if let Err(e) = wait_ready(&ready_rx, "reflector") {
            reflector_stop.store(true, Ordering::Relaxed);
            join(reflector, "reflector")?;
            return Err(e);
        }
        let pp = PingPongConfig {
            warmup: cfg.warmup,
            count: cfg.count,
            timeout: Duration::from_millis(cfg.timeout_ms),
        };
        let st = Arc::clone(stop);
        let mut c = codec.boxed();
        let initiator = spawn_side(topo, Side::A, "ub-pingpong", cfg, None, move |t| {
            Ok(loops::ping_pong(t, c.as_mut(), &pp, &st)?)
        })?;
        let result = join(initiator, "ping-pong initiator");
        reflector_stop.store(true, Ordering::Relaxed);
        let refl = join(reflector, "reflector")?;
        let r = result?;
        // The XDP program of each side stamps what arrives there: pings at B, echoes at A.
        if let Some(x) = &refl.xdp {
            kernel_stamps.xdp.push((0, x.clone()));
        }
        if let Some(x) = &r.xdp {
            kernel_stamps.xdp.push((1, x.clone()));
        }

        record_ping_pong(rows, samples, report, run_id, &r, &refl);
        Ok(())
    }
}

/// A ping-pong's rows, terminal lines and samples from what the initiator measured and what
/// the reflector did (local or on an agent's host).
pub(super) fn record_ping_pong(
    rows: &mut Rows<'_>,
    samples: &mut Vec<SampleRow>,
    report: &mut Vec<String>,
    run_id: &str,
    r: &loops::PingPongResult,
    refl: &loops::ReflectorResult,
) {
    let measured = r.round_trips.len() as u64;
    let received = r
        .round_trips
        .iter()
        .filter(|x| x.t_recv_ns.is_some())
        .count() as u64;
    let a = Accounting {
        sent: measured,
        received,
        lost: measured - received,
        reordered: r.seq.reordered,
        duplicated: r.seq.duplicates,
        late: r.late,
        rejects: RejectCounts {
            decode_errors: r.rejects.decode_errors + refl.rejects.decode_errors,
            out_of_run: r.rejects.out_of_run + refl.rejects.out_of_run,
        },
        tx: r.transport,
        rx: refl.transport,
    };
    rows.accounting(&a);
    report.push(accounting_line(&a));
    let rtts: Vec<u64> = r
        .round_trips
        .iter()
        .filter_map(|x| x.t_recv_ns.map(|t| t - x.t_send_ns))
        .collect();
    if let Some(s) = Summary::of(rtts.iter().copied()) {
        rows.summary("rtt", &s);
        report.extend(table_line("round trip", &s));
    }
    rows.cpu("initiator", r.cpu, measured);
    rows.cpu("reflector", refl.cpu, refl.reflected);
    if r.wall_ns > 0 {
        rows.push(
            "rate",
            "round_trips_per_second",
            measured as f64 * 1e9 / r.wall_ns as f64,
            "1/s",
        );
    }
    samples.extend(r.round_trips.iter().map(|x| SampleRow {
        run_id: run_id.to_owned(),
        seq: x.packet_id as u16,
        packet_id: x.packet_id,
        t_send_ns: x.t_send_ns,
        t_recv_ns: x.t_recv_ns,
        rtt_ns: x.t_recv_ns.map(|t| t - x.t_send_ns),
        one_way_ns: None,
        send_deviation_ns: None,
        lost: x.t_recv_ns.is_none(),
    }));
}

type SubscriberHandle = std::thread::JoinHandle<anyhow::Result<loops::SubscribeResult>>;

/// Starts the subscriber in namespace B and waits until its transport is open.
fn start_subscriber(
    cfg: &RunConfig,
    topo: &Arc<Topology>,
    codec: &dyn MessageCodec,
    sub_cfg: SubscribeConfig,
    publisher_done: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<SubscriberHandle> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (pd, st) = (Arc::clone(publisher_done), Arc::clone(stop));
    let subscriber = spawn_side(topo, Side::B, "ub-subscriber", cfg, Some(ready_tx), {
        let mut c = codec.boxed();
        move |t| Ok(loops::subscribe(t, c.as_mut(), &sub_cfg, &pd, &st)?)
    })?;
    if let Err(e) = wait_ready(&ready_rx, "subscriber") {
        publisher_done.store(true, Ordering::Release);
        stop.store(true, Ordering::Relaxed);
        join(subscriber, "subscriber")?;
        return Err(e);
    }
    Ok(subscriber)
}

impl Workload for Cyclic {
    fn run(&self, stage: &Stage<'_>, out: &mut Collected<'_, '_>) -> anyhow::Result<()> {
        let Stage {
            cfg,
            topo,
            codec,
            stop,
            run_id,
        } = *stage;
        let kernel_stamps = &mut *out.kernel_stamps;
        let offset_before = cfg
            .path_options
            .so_timestamping
            .then(|| uadpbench_sender::clock::realtime_offset(1000));
        let count = cfg.measured_count();
        let total = cfg.warmup + count;
        let publisher_done = Arc::new(AtomicBool::new(false));
        let sub_cfg = SubscribeConfig {
            warmup: cfg.warmup,
            expected: total,
            record: true,
            linger: Duration::from_millis(cfg.timeout_ms),
        };
        let subscriber = start_subscriber(cfg, topo, codec, sub_cfg, &publisher_done, stop)?;
        let cyc = CyclicConfig {
            warmup: cfg.warmup,
            count,
            interval: Duration::from_micros(cfg.interval_us),
            spin: Duration::from_micros(cfg.spin_us),
        };
        let (pd, st) = (Arc::clone(&publisher_done), Arc::clone(stop));
        let mut c = codec.boxed();
        let publisher = spawn_side(topo, Side::A, "ub-publisher", cfg, None, move |t| {
            // Start one interval from now so the first deadline is not already late.
            let start = monotonic_ns() + cyc.interval.as_nanos() as u64;
            let r = loops::publish_cyclic(t, c.as_mut(), &cyc, start, &st);
            pd.store(true, Ordering::Release);
            Ok(r?)
        })?;
        let pub_result = join(publisher, "publisher");
        publisher_done.store(true, Ordering::Release);
        let sub = join(subscriber, "subscriber")?;
        let p = pub_result?;
        if let Some(before) = offset_before {
            kernel_stamps.clock = Some(crate::clock_check::ClockStamps {
                tx: p.tx_stamps.clone(),
                rx: sub.rx_stamps.clone(),
                before,
                after: uadpbench_sender::clock::realtime_offset(1000),
                hardware: crate::clock_check::HardwareStamps::new(
                    p.phc.as_ref(),
                    sub.phc.as_ref(),
                    sub.rx_hw_stamps.clone(),
                    crate::clock_check::hardware_notes(&cfg.path_options.notes.snapshot()),
                ),
                far: None,
            });
        }

        if let Some(x) = &sub.xdp {
            kernel_stamps.xdp.push((0, x.clone()));
        }
        record_cyclic(out, run_id, cfg, total, &p, &sub)
    }
}

/// Accounting, one-way latency (the publisher's send log joined with the receptions, both
/// on one clock), send deviation, CPU rows and samples of a cyclic run — a local one, or one
/// across hosts whose receptions were moved onto this host's clock.
pub(super) fn record_cyclic(
    out: &mut Collected<'_, '_>,
    run_id: &str,
    cfg: &RunConfig,
    total: u64,
    p: &loops::PublishResult,
    sub: &loops::SubscribeResult,
) -> anyhow::Result<()> {
    let Collected {
        rows,
        samples,
        report,
        ..
    } = out;
    let measured = p.publications.len() as u64;
    let a = Accounting {
        sent: measured,
        received: sub.measured_received,
        lost: measured.saturating_sub(sub.measured_received),
        reordered: sub.seq.reordered,
        duplicated: sub.seq.duplicates,
        late: 0,
        rejects: sub.rejects,
        tx: p.transport,
        rx: sub.transport,
    };
    rows.accounting(&a);
    report.push(accounting_line(&a));
    let mut recv_by_id = vec![None; total as usize];
    let mut carried_mismatch = 0u64;
    for r in &sub.receptions {
        if let Some(slot) = recv_by_id.get_mut(r.packet_id as usize) {
            *slot = Some(r.t_recv_ns);
        }
    }
    // One-way latency: the send log (the publisher's own time of each id) joined with the
    // receptions. The benchmark message also carries its send time: it must agree.
    let mut one_way = Vec::with_capacity(p.publications.len());
    let mut send_by_id = vec![None; total as usize];
    for x in &p.publications {
        if let Some(slot) = send_by_id.get_mut(x.packet_id as usize) {
            *slot = Some(x.t_send_ns);
        }
        if let Some(t) = recv_by_id.get(x.packet_id as usize).copied().flatten() {
            one_way.push(t.saturating_sub(x.t_send_ns));
        }
    }
    for r in &sub.receptions {
        let logged = send_by_id.get(r.packet_id as usize).copied().flatten();
        if let (Some(carried), Some(logged)) = (r.t_send_ns, logged) {
            if carried != logged {
                carried_mismatch += 1;
            }
        }
    }
    if carried_mismatch > 0 {
        bail!(
        "{carried_mismatch} message(s) carried another send time than the publisher logged for their packet id: the receiver matched the wrong messages"
    );
    }
    let deviation: Vec<u64> = p
        .publications
        .iter()
        .map(|x| x.t_send_ns.saturating_sub(x.deadline_ns))
        .collect();
    if let Some(s) = Summary::of(one_way.iter().copied()) {
        rows.summary("one_way", &s);
        report.extend(table_line("one way", &s));
    }
    if let Some(s) = Summary::of(deviation.iter().copied()) {
        rows.summary("send_deviation", &s);
        report.push(table_line("send deviation", &s)[1].clone());
    }
    rows.cpu("publisher", p.cpu, p.sent);
    rows.cpu("subscriber", sub.cpu, sub.seq.received);
    rows.push(
        "interval",
        "configured",
        cfg.interval_us as f64 * 1000.0,
        "ns",
    );
    samples.extend(p.publications.iter().map(|x| {
        let t_recv = recv_by_id.get(x.packet_id as usize).copied().flatten();
        SampleRow {
            run_id: run_id.to_owned(),
            seq: x.packet_id as u16,
            packet_id: x.packet_id,
            t_send_ns: x.t_send_ns,
            t_recv_ns: t_recv,
            rtt_ns: None,
            one_way_ns: t_recv.map(|t| t.saturating_sub(x.t_send_ns)),
            send_deviation_ns: Some(x.t_send_ns.saturating_sub(x.deadline_ns)),
            lost: t_recv.is_none(),
        }
    }));
    Ok(())
}

impl Workload for Flood {
    fn run(&self, stage: &Stage<'_>, out: &mut Collected<'_, '_>) -> anyhow::Result<()> {
        let Stage {
            cfg,
            topo,
            codec,
            stop,
            ..
        } = *stage;
        let Collected { rows, report, .. } = out;
        let duration = Duration::from_secs_f64(cfg.duration_s.unwrap_or(1.0));
        let publisher_done = Arc::new(AtomicBool::new(false));
        // Upper bound for preallocation only: 4 million messages per second.
        let expected = (duration.as_secs_f64() * 4e6) as u64 + 1024;
        let sub_cfg = SubscribeConfig {
            warmup: 0,
            expected,
            record: false,
            linger: Duration::from_millis(cfg.timeout_ms),
        };
        let subscriber = start_subscriber(cfg, topo, codec, sub_cfg, &publisher_done, stop)?;
        let flood = FloodConfig {
            duration,
            batch: cfg.path_options.batch,
        };
        let (pd, st) = (Arc::clone(&publisher_done), Arc::clone(stop));
        let mut c = codec.boxed();
        let publisher = spawn_side(topo, Side::A, "ub-flood", cfg, None, move |t| {
            let r = loops::publish_flood(t, c.as_mut(), &flood, &st);
            pd.store(true, Ordering::Release);
            Ok(r?)
        })?;
        let pub_result = join(publisher, "flood publisher");
        publisher_done.store(true, Ordering::Release);
        let sub = join(subscriber, "subscriber")?;
        let p = pub_result?;
        record_flood(rows, report, cfg, &p, &sub);
        Ok(())
    }
}

/// A flood run's accounting, rates and CPU rows from what the publisher sent and the
/// subscriber counted (local, or on an agent's host).
pub(super) fn record_flood(
    rows: &mut Rows<'_>,
    report: &mut Vec<String>,
    cfg: &RunConfig,
    p: &loops::PublishResult,
    sub: &loops::SubscribeResult,
) {
    let a = Accounting {
        sent: p.sent,
        received: sub.seq.received,
        lost: p.sent.saturating_sub(sub.seq.received),
        reordered: sub.seq.reordered,
        duplicated: sub.seq.duplicates,
        late: 0,
        rejects: sub.rejects,
        tx: p.transport,
        rx: sub.transport,
    };
    rows.accounting(&a);
    report.push(accounting_line(&a));
    let secs = p.wall_ns as f64 / 1e9;
    let rx_rate = if secs > 0.0 {
        sub.seq.received as f64 / secs
    } else {
        0.0
    };
    let tx_rate = if secs > 0.0 {
        p.sent as f64 / secs
    } else {
        0.0
    };
    rows.push("rate", "sent_per_second", tx_rate, "1/s");
    rows.push("rate", "received_per_second", rx_rate, "1/s");
    rows.push(
        "rate",
        "received_uadp_bits_per_second",
        rx_rate * cfg.payload_bytes as f64 * 8.0,
        "bit/s",
    );
    rows.push("duration", "publisher_wall", p.wall_ns as f64, "ns");
    rows.cpu("publisher", p.cpu, p.sent);
    rows.cpu("subscriber", sub.cpu, sub.seq.received);
    report.push(format!(
    "  rate: sent {:.0}/s, received {:.0}/s ({:.1} Mbit/s of UADP); CPU per message: publisher {:.0} ns, subscriber {:.0} ns",
    tx_rate,
    rx_rate,
    rx_rate * cfg.payload_bytes as f64 * 8.0 / 1e6,
    (p.cpu.user + p.cpu.system).as_nanos() as f64 / p.sent.max(1) as f64,
    (sub.cpu.user + sub.cpu.system).as_nanos() as f64 / sub.seq.received.max(1) as f64,
));
}
