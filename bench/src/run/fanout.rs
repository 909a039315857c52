//! One publisher, N subscribers (`--subscribers N`): the fan-out topology (each subscriber in
//! its own namespace, all on one bridge), the publisher's cyclic loop sending to a multicast
//! group, one subscriber thread per namespace, and what each subscriber saw — one-way latency,
//! loss, its place in the arrival order — in summary.csv, subscribers.csv and
//! fanout_samples.csv.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::{bail, Context};
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::loops::{self, CyclicConfig, RejectCounts, SubscribeConfig, SubscribeResult};
use uadpbench_sender::open::LinkInfo;
use uadpbench_sender::transport::{PathKind, TransportCounters};
use uadpbench_topology::{Endpoint, FanOutTopology, TopologyOptions, FANOUT_GROUP};

use crate::schema::{FanoutSampleRow, SubscriberRow};
use crate::stats::Summary;

use super::workload::join;
use super::*;

/// Runs a fan-out measurement (the configuration is validated) and writes its files.
pub(super) fn run(
    cfg: &RunConfig,
    n: usize,
    out_dir: &Path,
    stop: Arc<AtomicBool>,
    placement: ResolvedPlacement,
    machine: MachineConditions,
) -> anyhow::Result<RunOutcome> {
    let env = Environment::current();
    let started = crate::results::rfc3339_now();
    let topo = FanOutTopology::create(
        n,
        TopologyOptions {
            mtu: cfg.mtu as u32,
            ..TopologyOptions::default()
        },
    )
    .with_context(|| {
        format!("setting up the fan-out topology (1 publisher, {n} subscribers on a bridge)")
    })?;
    let run_id = cfg.run_id();
    let mut rows = Rows {
        cfg,
        run_id: &run_id,
        rows: Vec::new(),
        placement,
        sched: Vec::new(),
    };
    let mut report = vec![format!(
        "uadpbench run {run_id}: cyclic mode, one publisher to {n} subscriber(s) over a bridge ({}), {}-byte UADP messages, warm-up of {} message(s) excluded",
        match cfg.path {
            PathKind::Udp => format!("UDP multicast to {FANOUT_GROUP}"),
            _ => format!(
                "frames to the group's MAC {}",
                uadpbench_topology::format_mac(&uadpbench_topology::FANOUT_GROUP_MAC)
            ),
        },
        cfg.payload_bytes,
        cfg.warmup
    )];
    report.push(format!(
        "  {} (all subscribers share side B's CPU)",
        placement.describe()
    ));
    let window = TimedWindow::start(cfg, &placement, &machine, &mut report)?;
    let measured = measure(cfg, &topo, &stop);
    let timed = window.stop();
    let (publication, subs) = measured?;

    let total = cfg.warmup + cfg.measured_count();
    let interrupted = cut_short(
        stop.load(Ordering::Relaxed),
        cfg.mode,
        publication.publications.len() as u64,
        cfg.measured_count(),
    );
    let seen = record(
        &mut rows,
        &mut report,
        &run_id,
        cfg,
        total,
        &publication,
        &subs,
    )?;
    crate::results::write_csv(&out_dir.join("subscribers.csv"), &seen.subscribers)?;
    crate::results::write_csv(&out_dir.join("fanout_samples.csv"), &seen.samples)?;
    report.push(format!(
        "  per subscriber: subscribers.csv; per message and subscriber: fanout_samples.csv (in {})",
        out_dir.display()
    ));

    let topology_meta = serde_json::json!({
        "kind": "fan-out: one publisher namespace and N subscriber namespaces, each on a veth pair to one Linux bridge (STP off, multicast snooping off: every port gets every frame) in a namespace of its own",
        "publisher": endpoint_meta(topo.publisher()),
        "subscribers": topo.subscribers().iter().map(endpoint_meta).collect::<Vec<_>>(),
        "switch_netns": topo.switch_netns(),
        "group": FANOUT_GROUP.to_string(),
        "group_mac": uadpbench_topology::format_mac(&uadpbench_topology::FANOUT_GROUP_MAC),
        "mtu": cfg.mtu,
    });
    topo.destroy().context("removing the fan-out topology")?;
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
        topology_meta,
        MetaSections {
            fanout: Some(serde_json::json!({
                "subscribers": n,
                "files": ["subscribers.csv", "fanout_samples.csv"],
                "messages": "summary.csv's messages rows count deliveries: sent = measured messages published × subscribers",
                "one_way": "summary.csv's one_way pools every subscriber's receptions; subscribers.csv has each subscriber's",
                "clock": "CLOCK_MONOTONIC of this host on both ends (exact)",
            })),
            ..MetaSections::default()
        },
    )
}

fn endpoint_meta(e: &Endpoint) -> serde_json::Value {
    serde_json::json!({
        "netns": e.netns(),
        "ifname": e.ifname(),
        "ipv4": e.ipv4().to_string(),
        "mac": uadpbench_topology::format_mac(&e.mac()),
    })
}

/// The link facts of one end: its own address and the address it sends to or hears from.
fn link_of(e: &Endpoint) -> LinkInfo {
    LinkInfo {
        ifname: e.ifname().to_owned(),
        ifindex: e.ifindex(),
        mtu: e.mtu() as usize,
        local_mac: e.mac(),
        local_ip: e.ipv4(),
        peer_mac: e.peer_mac(),
        peer_ip: e.peer_ipv4(),
        udp_port: uadp::UADP_UDP_PORT,
    }
}

/// Starts every subscriber (each waits until its transport is open), then the publisher;
/// returns what the publisher sent and what each subscriber received, in subscriber order.
fn measure(
    cfg: &RunConfig,
    topo: &FanOutTopology,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<(loops::PublishResult, Vec<SubscribeResult>)> {
    let codec = cfg.codec()?;
    let mut opts = cfg.path_options.clone();
    // One message at a time (as every latency mode), multicast on the udp path.
    opts.batch = 1;
    if cfg.path == PathKind::Udp {
        opts.multicast_group = Some(FANOUT_GROUP);
    }
    let total = cfg.warmup + cfg.measured_count();
    let publisher_done = Arc::new(AtomicBool::new(false));
    let sub_cfg = SubscribeConfig {
        warmup: cfg.warmup,
        expected: total,
        record: true,
        linger: Duration::from_millis(cfg.timeout_ms),
    };
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut handles = Vec::new();
    let mut started = Ok(());
    for (i, s) in topo.subscribers().iter().enumerate() {
        let (link, opts, ready) = (link_of(s), opts.clone(), ready_tx.clone());
        let (path, encap, sched) = (cfg.path, cfg.encap, cfg.sched_b);
        let (pd, st) = (Arc::clone(&publisher_done), Arc::clone(stop));
        let mut c = codec.boxed();
        let spawned = s.spawn(format!("ub-sub{}", i + 1), move || -> anyhow::Result<_> {
            sched.apply_to_current_thread()?;
            let mut t =
                uadpbench_sender::open::open_transport(path, encap, &link, &opts).map_err(|e| {
                    anyhow::anyhow!(
                        "opening the {path} path on {} (subscriber {}): {e}",
                        link.ifname,
                        i + 1
                    )
                })?;
            let _ = ready.send(());
            Ok(loops::subscribe(
                t.as_mut(),
                c.as_mut(),
                &sub_cfg,
                &pd,
                &st,
            )?)
        });
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => {
                started = Err(anyhow::Error::from(e));
                break;
            }
        }
    }
    drop(ready_tx);
    if started.is_ok() {
        for _ in 0..handles.len() {
            if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
                started = Err(anyhow::anyhow!(
                    "a subscriber did not start (see the error below)"
                ));
                break;
            }
        }
    }
    if let Err(e) = started {
        publisher_done.store(true, Ordering::Release);
        stop.store(true, Ordering::Relaxed);
        let mut first = e;
        for (i, h) in handles.into_iter().enumerate() {
            if let Err(e) = join(h, &format!("subscriber {}", i + 1)) {
                first = e.context(first.to_string());
            }
        }
        return Err(first);
    }
    let cyc = CyclicConfig {
        warmup: cfg.warmup,
        count: cfg.measured_count(),
        interval: Duration::from_micros(cfg.interval_us),
        spin: Duration::from_micros(cfg.spin_us),
    };
    let (link, popts, sched) = (link_of(topo.publisher()), opts.clone(), cfg.sched_a);
    let (path, encap) = (cfg.path, cfg.encap);
    let (pd, st) = (Arc::clone(&publisher_done), Arc::clone(stop));
    let mut c = codec.boxed();
    let publisher = topo
        .publisher()
        .spawn("ub-publisher", move || -> anyhow::Result<_> {
            let r = (|| {
                sched.apply_to_current_thread()?;
                let mut t = uadpbench_sender::open::open_transport(path, encap, &link, &popts)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "opening the {path} path on {} (publisher): {e}",
                            link.ifname
                        )
                    })?;
                let start = monotonic_ns() + cyc.interval.as_nanos() as u64;
                Ok(loops::publish_cyclic(
                    t.as_mut(),
                    c.as_mut(),
                    &cyc,
                    start,
                    &st,
                )?)
            })();
            pd.store(true, Ordering::Release);
            r
        });
    let publication = match publisher {
        Ok(h) => join(h, "publisher"),
        Err(e) => Err(e.into()),
    };
    publisher_done.store(true, Ordering::Release);
    let mut subs = Vec::with_capacity(handles.len());
    for (i, h) in handles.into_iter().enumerate() {
        subs.push(join(h, &format!("subscriber {}", i + 1))?);
    }
    Ok((publication?, subs))
}

/// What [`record`] produced for the fan-out files.
struct Seen {
    subscribers: Vec<SubscriberRow>,
    samples: Vec<FanoutSampleRow>,
}

/// Rows, terminal lines and the per-subscriber files of a fan-out run.
fn record(
    rows: &mut Rows<'_>,
    report: &mut Vec<String>,
    run_id: &str,
    cfg: &RunConfig,
    total: u64,
    p: &loops::PublishResult,
    subs: &[SubscribeResult],
) -> anyhow::Result<Seen> {
    let n = subs.len();
    let published = p.publications.len() as u64;
    let mut send_by_id = vec![None; total as usize];
    for x in &p.publications {
        if let Some(slot) = send_by_id.get_mut(x.packet_id as usize) {
            *slot = Some(x.t_send_ns);
        }
    }
    // recv[i][id]: when subscriber i received id.
    let mut recv: Vec<Vec<Option<u64>>> = Vec::with_capacity(n);
    for (i, s) in subs.iter().enumerate() {
        let mut by_id = vec![None; total as usize];
        let mut mismatch = 0u64;
        for r in &s.receptions {
            if let Some(slot) = by_id.get_mut(r.packet_id as usize) {
                *slot = Some(r.t_recv_ns);
            }
            let logged = send_by_id.get(r.packet_id as usize).copied().flatten();
            if let (Some(carried), Some(logged)) = (r.t_send_ns, logged) {
                mismatch += u64::from(carried != logged);
            }
        }
        if mismatch > 0 {
            bail!("subscriber {}: {mismatch} message(s) carried another send time than the publisher logged for their packet id: the receiver matched the wrong messages", i + 1);
        }
        recv.push(by_id);
    }
    let order = arrival_order(&p.publications, &recv);

    let mut samples = Vec::with_capacity(p.publications.len() * n);
    let mut subscribers = Vec::with_capacity(n);
    let mut pooled = Vec::with_capacity(p.publications.len() * n);
    let mut totals = Accounting {
        tx: p.transport,
        ..Accounting::default()
    };
    for (i, s) in subs.iter().enumerate() {
        let mut one_way = Vec::with_capacity(p.publications.len());
        for x in &p.publications {
            let t_recv = recv[i].get(x.packet_id as usize).copied().flatten();
            let ow = t_recv.map(|t| t.saturating_sub(x.t_send_ns));
            one_way.extend(ow);
            samples.push(FanoutSampleRow {
                run_id: run_id.to_owned(),
                subscriber: i + 1,
                packet_id: x.packet_id,
                t_send_ns: x.t_send_ns,
                t_recv_ns: t_recv,
                one_way_ns: ow,
                lost: t_recv.is_none(),
            });
        }
        pooled.extend_from_slice(&one_way);
        let sum = Summary::of(one_way.iter().copied());
        let stat = |name: &str| {
            sum.as_ref()
                .and_then(|s| s.percentile(name))
                .map(|v| v as f64)
        };
        let cpu = (s.cpu.user + s.cpu.system).as_nanos() as f64;
        subscribers.push(SubscriberRow {
            run_id: run_id.to_owned(),
            path: cfg.path.to_string(),
            encap: cfg.encap.to_string(),
            payload_bytes: cfg.payload_bytes,
            subscribers: n,
            subscriber: i + 1,
            published,
            received: s.measured_received,
            lost: published.saturating_sub(s.measured_received),
            reordered: s.seq.reordered,
            duplicated: s.seq.duplicates,
            one_way_min_ns: sum.as_ref().map(|s| s.min as f64),
            one_way_p50_ns: stat("p50"),
            one_way_p90_ns: stat("p90"),
            one_way_p99_ns: stat("p99"),
            one_way_p99_9_ns: stat("p99.9"),
            one_way_max_ns: sum.as_ref().map(|s| s.max as f64),
            one_way_mean_ns: sum.as_ref().map(|s| s.mean),
            mean_arrival_rank: order.mean_rank[i],
            cpu_per_message_ns: cpu / s.seq.received.max(1) as f64,
        });
        totals.received += s.measured_received;
        totals.reordered += s.seq.reordered;
        totals.duplicated += s.seq.duplicates;
        totals.rejects = RejectCounts {
            decode_errors: totals.rejects.decode_errors + s.rejects.decode_errors,
            out_of_run: totals.rejects.out_of_run + s.rejects.out_of_run,
        };
        totals.rx = TransportCounters {
            foreign_frames: totals.rx.foreign_frames + s.transport.foreign_frames,
            malformed_frames: totals.rx.malformed_frames + s.transport.malformed_frames,
            send_dropped: totals.rx.send_dropped + s.transport.send_dropped,
        };
    }
    totals.sent = published * n as u64;
    totals.lost = totals.sent.saturating_sub(totals.received);
    rows.accounting(&totals);
    report.push(accounting_line(&totals) + " (deliveries: published × subscribers)");
    if let Some(s) = Summary::of(pooled.iter().copied()) {
        rows.summary("one_way", &s);
        report.extend(table_line("one way, all subs", &s));
    }
    let deviation = Summary::of(
        p.publications
            .iter()
            .map(|x| x.t_send_ns.saturating_sub(x.deadline_ns)),
    );
    if let Some(s) = &deviation {
        rows.summary("send_deviation", s);
        report.push(table_line("send deviation", s)[1].clone());
    }
    for r in &subscribers {
        report.push(subscriber_line(r));
    }
    // The last subscriber's wait behind the first, message by message.
    if let (Some(s), true) = (Summary::of(order.spread_ns.iter().copied()), n > 1) {
        rows.summary("arrival_spread", &s);
        report.extend(table_line("last − first sub", &s));
    }
    for (stat, v) in spread(&subscribers) {
        let unit = match stat {
            s if s.ends_with("_ns") => "ns",
            "worst_p99_subscriber" => "index",
            "most_lost_by_one_subscriber" => "messages",
            _ => "subscribers",
        };
        rows.push("fanout", stat, v, unit);
    }
    if let Some(line) = spread_line(&subscribers) {
        report.push(line);
    }
    rows.cpu("publisher", p.cpu, p.sent);
    for (i, s) in subs.iter().enumerate() {
        rows.cpu(&format!("subscriber{}", i + 1), s.cpu, s.seq.received);
    }
    rows.push(
        "interval",
        "configured",
        cfg.interval_us as f64 * 1000.0,
        "ns",
    );
    Ok(Seen {
        subscribers,
        samples,
    })
}

/// Each subscriber's mean position in the arrival order (1: first) and, per message, how long
/// after the first subscriber the last one had it — over the messages all subscribers
/// received (mean ranks `None` when no message reached every subscriber).
fn arrival_order(publications: &[loops::Publication], recv: &[Vec<Option<u64>>]) -> ArrivalOrder {
    let n = recv.len();
    let mut spread_ns = Vec::with_capacity(publications.len());
    let mut sums = vec![0u64; n];
    let mut counted = 0u64;
    let mut times = Vec::with_capacity(n);
    for x in publications {
        times.clear();
        for (i, r) in recv.iter().enumerate() {
            match r.get(x.packet_id as usize).copied().flatten() {
                Some(t) => times.push((t, i)),
                None => break,
            }
        }
        if times.len() != n {
            continue;
        }
        times.sort_unstable();
        if let (Some(first), Some(last)) = (times.first(), times.last()) {
            spread_ns.push(last.0 - first.0);
        }
        for (rank, (_, i)) in times.iter().enumerate() {
            sums[*i] += rank as u64 + 1;
        }
        counted += 1;
    }
    ArrivalOrder {
        mean_rank: sums
            .into_iter()
            .map(|s| (counted > 0).then(|| s as f64 / counted as f64))
            .collect(),
        spread_ns,
    }
}

/// Who got each message first, from [`arrival_order`].
struct ArrivalOrder {
    /// Each subscriber's mean position in the arrival order (1: first).
    mean_rank: Vec<Option<f64>>,
    /// Per message every subscriber received: last receive time − first (ns).
    spread_ns: Vec<u64>,
}

/// The spread between subscribers: the best and worst p50 and p99, which subscriber is the
/// worst (by p99), and the most any one subscriber lost.
fn spread(subs: &[SubscriberRow]) -> Vec<(&'static str, f64)> {
    let mut out = vec![("subscribers", subs.len() as f64)];
    let pick = |f: fn(&SubscriberRow) -> Option<f64>| -> Option<(f64, f64, usize)> {
        let vals: Vec<(f64, usize)> = subs
            .iter()
            .filter_map(|s| f(s).map(|v| (v, s.subscriber)))
            .collect();
        let lo = vals.iter().map(|v| v.0).fold(f64::INFINITY, f64::min);
        let hi = vals
            .iter()
            .copied()
            .fold(None, |acc: Option<(f64, usize)>, v| match acc {
                Some(a) if a.0 >= v.0 => Some(a),
                _ => Some(v),
            })?;
        Some((lo, hi.0, hi.1))
    };
    if let Some((lo, hi, _)) = pick(|s| s.one_way_p50_ns) {
        out.extend([
            ("best_p50_ns", lo),
            ("worst_p50_ns", hi),
            ("p50_spread_ns", hi - lo),
        ]);
    }
    if let Some((lo, hi, who)) = pick(|s| s.one_way_p99_ns) {
        out.extend([
            ("best_p99_ns", lo),
            ("worst_p99_ns", hi),
            ("p99_spread_ns", hi - lo),
            ("worst_p99_subscriber", who as f64),
        ]);
    }
    out.push((
        "most_lost_by_one_subscriber",
        subs.iter().map(|s| s.lost).max().unwrap_or(0) as f64,
    ));
    out
}

fn subscriber_line(r: &SubscriberRow) -> String {
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), fmt_us);
    format!(
        "  subscriber {:>2}: received {:>7}  lost {:>5}  one way p50 {:>8} µs  p99 {:>8} µs  max {:>8} µs  mean arrival rank {}",
        r.subscriber,
        r.received,
        r.lost,
        us(r.one_way_p50_ns),
        us(r.one_way_p99_ns),
        us(r.one_way_max_ns),
        r.mean_arrival_rank
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
    )
}

fn spread_line(subs: &[SubscriberRow]) -> Option<String> {
    let s = spread(subs);
    let get = |k: &str| s.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    Some(format!(
        "  between subscribers: p50 {}–{} µs, p99 {}–{} µs (worst: subscriber {}), most lost by one: {}",
        fmt_us(get("best_p50_ns")?),
        fmt_us(get("worst_p50_ns")?),
        fmt_us(get("best_p99_ns")?),
        fmt_us(get("worst_p99_ns")?),
        get("worst_p99_subscriber")? as usize,
        get("most_lost_by_one_subscriber")? as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(id: u64) -> loops::Publication {
        loops::Publication {
            packet_id: id,
            t_send_ns: 1000 * id,
            deadline_ns: 1000 * id,
        }
    }

    #[test]
    fn arrival_ranks_count_only_messages_every_subscriber_got() {
        let pubs: Vec<_> = (0..3).map(publication).collect();
        // Subscriber 0 is first on ids 0 and 1; subscriber 1 missed id 2.
        let recv = vec![
            vec![Some(10), Some(1020), Some(2050)],
            vec![Some(15), Some(1030), None],
        ];
        let order = arrival_order(&pubs, &recv);
        assert_eq!(order.mean_rank, vec![Some(1.0), Some(2.0)]);
        assert_eq!(order.spread_ns, vec![5, 10]);
        let none = vec![vec![None, None, None], vec![Some(1), Some(2), Some(3)]];
        let order = arrival_order(&pubs, &none);
        assert_eq!(order.mean_rank, vec![None, None]);
        assert!(order.spread_ns.is_empty());
    }

    #[test]
    fn spread_names_the_worst_subscriber() {
        let row = |i: usize, p50: f64, p99: f64, lost: u64| SubscriberRow {
            run_id: "r".into(),
            path: "udp".into(),
            encap: "udp".into(),
            payload_bytes: 64,
            subscribers: 3,
            subscriber: i,
            published: 100,
            received: 100 - lost,
            lost,
            reordered: 0,
            duplicated: 0,
            one_way_min_ns: Some(p50 / 2.0),
            one_way_p50_ns: Some(p50),
            one_way_p90_ns: Some(p50),
            one_way_p99_ns: Some(p99),
            one_way_p99_9_ns: Some(p99),
            one_way_max_ns: Some(p99),
            one_way_mean_ns: Some(p50),
            mean_arrival_rank: Some(i as f64),
            cpu_per_message_ns: 1.0,
        };
        let s = spread(&[
            row(1, 10.0, 20.0, 0),
            row(2, 12.0, 50.0, 3),
            row(3, 15.0, 30.0, 1),
        ]);
        let get = |k: &str| s.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("p50_spread_ns"), Some(5.0));
        assert_eq!(get("worst_p99_ns"), Some(50.0));
        assert_eq!(get("worst_p99_subscriber"), Some(2.0));
        assert_eq!(get("most_lost_by_one_subscriber"), Some(3.0));
        assert_eq!(get("subscribers"), Some(3.0));
    }
}
