//! One publisher, N subscribers (`--subscribers N`): the fan-out topology (each subscriber in
//! its own namespace, all on one bridge), the publisher's cyclic loop sending to a multicast
//! group, one subscriber thread per namespace, and what each subscriber saw — one-way latency,
//! loss, its place in the arrival order — in summary.csv, subscribers.csv and
//! fanout_samples.csv.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use anyhow::Context;
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::loops::{self, CyclicConfig, SubscribeConfig, SubscribeResult};
use uadpbench_sender::open::LinkInfo;
use uadpbench_sender::transport::PathKind;
use uadpbench_topology::{Endpoint, FanOutTopology, TopologyOptions, FANOUT_GROUP};

use super::workload::join;
use super::*;

pub(in crate::run) mod record;
use record::record;

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
        shared_cpu: subscribers_sharing_a_cpu(
            &(0..n)
                .map(|i| subscriber_sched(cfg, i).cpu)
                .collect::<Vec<_>>(),
        ),
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
        "  {}; {}",
        placement.describe(),
        subscriber_placement(cfg, n)
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
                "subscriber_cpus": (0..n).map(|i| subscriber_sched(cfg, i).cpu).collect::<Vec<_>>(),
                "files": ["subscribers.csv", "fanout_samples.csv"],
                "messages": "summary.csv's messages rows count deliveries: sent = measured messages published × subscribers",
                "one_way": "summary.csv's one_way pools every subscriber's receptions; subscribers.csv has each subscriber's",
                "clock": "CLOCK_MONOTONIC of this host on both ends (exact)",
            })),
            ..MetaSections::default()
        },
    )
}

/// Scheduling of subscriber `i` (0-based): side B's, on its own CPU from `--subscriber-cpus`.
fn subscriber_sched(cfg: &RunConfig, i: usize) -> uadpbench_sender::sched::ThreadSched {
    let mut sched = cfg.sched_b;
    if !cfg.subscriber_cpus.is_empty() {
        sched.cpu = Some(cfg.subscriber_cpus[i % cfg.subscriber_cpus.len()]);
    }
    sched
}

/// Where the subscribers run, in words.
fn subscriber_placement(cfg: &RunConfig, n: usize) -> String {
    if cfg.subscriber_cpus.is_empty() {
        return "all subscribers share side B's CPU".into();
    }
    let cpus: Vec<String> = (0..n)
        .map(|i| {
            subscriber_sched(cfg, i)
                .cpu
                .map_or("-".into(), |c| c.to_string())
        })
        .collect();
    format!(
        "subscribers 1…{n} on CPUs {} (--subscriber-cpus)",
        cpus.join(",")
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
        let (path, encap, sched) = (cfg.path, cfg.encap, subscriber_sched(cfg, i));
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
