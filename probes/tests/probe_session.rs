//! The probe session beyond one-way stamps: every program passes the verifier, the plan lists
//! every layer of each path, BPF statistics stop at the calibration packet, the `minimal`
//! selection stamps only its layers, and the wake-up layers match the scheduler. Needs root:
//! without it the tests fail and say so (never skip).

use std::{
    net::{SocketAddr, UdpSocket},
    thread,
    time::Duration,
};

use uadpbench_probes::{
    layer, plan, HistogramConfig, LayerId, Mechanism, Outcome, ProbePath, ProbeSession, Selected,
    Selection,
};
use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_topology::{Side, Topology};

mod support;
use support::*;

#[test]
fn the_verifier_accepts_every_program() {
    require_root("loads programs");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let checks = uadpbench_probes::verify_programs().expect("load the object");
    assert!(checks.len() >= 35, "{} programs", checks.len());
    for c in &checks {
        eprintln!("{:<30} {:<10} {:?}", c.program, c.mechanism, c.result);
        match c.mechanism {
            // Refused by this kernel before verification (docs/probes.md, "Layers").
            Mechanism::FEntry if !kernel_allows_fentry_or_kprobes() => {
                let e = c.result.as_ref().expect_err("fentry refused here");
                assert!(e.contains("EPERM"), "{}: {e}", c.program);
            }
            Mechanism::FEntry => {}
            _ => assert_eq!(c.result, Ok(()), "{}", c.program),
        }
    }
}

/// The dispatch calibration attaches and detaches its empty programs: a classic tracepoint
/// hit and a BTF tracepoint hit cost more than nothing, a system call costs something, every
/// median lies in its batches' range, and nothing stays loaded.
#[test]
fn dispatch_calibration_prices_a_tracepoint_hit() {
    require_root("loads programs");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let d = uadpbench_probes::calibrate_dispatch(uadpbench_probes::DispatchConfig {
        calls: 20_000,
        rounds: 5,
    })
    .expect("calibrate");
    eprintln!("{d:?}");
    assert_eq!((d.calls, d.rounds), (20_000, 5));
    assert!(d.syscall.median_ns > 10.0, "{d:?}");
    assert!(d.tracepoint.median_ns > 0.0, "{d:?}");
    assert!(d.btf_tracepoint.median_ns > 0.0, "{d:?}");
    for f in [d.syscall, d.syscall_tracing, d.tracepoint, d.btf_tracepoint] {
        assert!(f.min_ns <= f.median_ns && f.median_ns <= f.max_ns, "{d:?}");
    }
    assert!(d.cpu.is_some(), "the loop runs pinned: {d:?}");
    // Nothing left behind: the calibration's programs went with its object (the kernel
    // frees a detached program after an RCU grace period: allow it a few seconds).
    let mut text = String::new();
    for _ in 0..50 {
        let out = std::process::Command::new("bpftool")
            .args(["prog", "show"])
            .output()
            .expect("bpftool (scripts/setup.sh installs it)");
        text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !text.contains("calib_") {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    assert!(!text.contains("calib_"), "left loaded:\n{text}");
}

#[test]
fn plan_lists_every_layer_of_each_path() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for path in ProbePath::ALL {
        let p = plan(path, &Selection::All);
        let names: Vec<&str> = p.iter().map(|l| l.name).collect();
        let expected: Vec<&str> = uadpbench_probes::path_layers(path)
            .map(|l| l.name())
            .collect();
        assert_eq!(names, expected, "{path}");
        for (i, l) in p.iter().enumerate() {
            assert_eq!(l.layer_index, i);
            assert_eq!(
                l.selected,
                if layer(l.layer).optional {
                    Selected::No
                } else {
                    Selected::Yes
                }
            );
        }
        require_root("attaches every layer");
        for l in &p {
            let row = layer(l.layer);
            eprintln!("{path} {:<24} {}", l.name, l.outcome);
            if row
                .candidates
                .iter()
                .any(|c| matches!(c.mechanism, Mechanism::TpBtf | Mechanism::Tracepoint))
            {
                assert!(
                    matches!(
                        l.attached_via(),
                        Some(Mechanism::TpBtf | Mechanism::Tracepoint)
                    ),
                    "{path} {}: {}",
                    l.name,
                    l.outcome
                );
            }
            if l.layer == LayerId::XdpIngress {
                assert!(matches!(l.outcome, Outcome::Unavailable { .. }));
            }
            if row
                .candidates
                .iter()
                .all(|c| c.mechanism == Mechanism::UProbe)
            {
                assert_eq!(l.attached_via(), Some(Mechanism::UProbe), "{}", l.name);
            }
            if !kernel_allows_fentry_or_kprobes()
                && row
                    .candidates
                    .iter()
                    .all(|c| matches!(c.mechanism, Mechanism::FEntry | Mechanism::KProbe))
            {
                let Outcome::Unavailable { reasons } = &l.outcome else {
                    panic!("{}: {}", l.name, l.outcome)
                };
                assert!(
                    reasons[0].contains("fentry: ") && reasons[0].contains("EPERM"),
                    "{reasons:?}"
                );
                assert!(
                    reasons[1].contains("kprobe: ") && reasons[1].contains("CONFIG_KPROBES"),
                    "{reasons:?}"
                );
            }
        }
    }
}

/// `BPF_ENABLE_STATS` is a calibration window: on while the first packets pass, off from the
/// first stamp of packet `k`, so the programs' run counts stop growing while the rest pass
/// (unless `kernel.bpf_stats_enabled` keeps statistics on machine-wide).
#[test]
fn stats_stop_at_the_calibration_packet() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(7);
    let mut session = ProbeSession::start(session_config(&topo, pubid)).expect("start probes");
    assert!(session.stats_enabled());
    const K: u64 = 100;
    const N: u64 = 1000;
    session.stop_stats_at_packet(K).expect("watcher");
    // Packets 0..K: statistics on.
    let first = udp_traffic(&topo, pubid, K, false);
    assert!(session.stats_enabled(), "off before packet {K}");
    // Packet K (a second sender, ids K..N) turns them off within a few watcher intervals.
    let (tx_done, rx_done) = std::sync::mpsc::channel();
    let rest = {
        let codec = BenchCodec::new(pubid, 100, 64).expect("codec");
        topo.spawn_in(Side::A, "probes-tx2", move || {
            // Unconnected, to a port nobody listens on (ICMP errors are not reported).
            let sock = UdpSocket::bind((topo_addr_a(), 0)).expect("bind A");
            let to = SocketAddr::from((topo_addr_b(), 4841));
            let mut buf = [0u8; 64];
            // The first calibration-ending packet, then wait until the statistics are off.
            let len = codec.encode(&mut buf, K, 0).expect("encode");
            sock.send_to(&buf[..len], to).expect("send");
            rx_done
                .recv_timeout(Duration::from_secs(5))
                .expect("stats off");
            for id in K + 1..N {
                let len = codec.encode(&mut buf, id, 0).expect("encode");
                sock.send_to(&buf[..len], to).expect("send");
                thread::sleep(Duration::from_micros(20));
            }
        })
        .expect("spawn")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while session.stats_enabled() && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_micros(100));
    }
    assert!(
        !session.stats_enabled(),
        "statistics still on after packet {K}"
    );
    let others_before = others_hold_bpf_stats();
    tx_done.send(()).expect("go");
    rest.join().expect("sender 2");
    let w = session.stats_window();
    assert_eq!(w.off_at_packet, Some(K));
    assert!(w.on_ns.unwrap() < w.off_ns.unwrap());
    let report = session.finish().expect("finish");
    assert_eq!(report.stats_window, w);
    let enter = report
        .program_costs
        .iter()
        .find(|c| c.program == "tp_sys_enter_sendto")
        .expect("sys_enter_sendto program");
    eprintln!("{enter:?}");
    // All N stamped, but only about the first K counted by the statistics.
    assert!(enter.events_recorded >= N - 5, "{enter:?}");
    assert!(enter.run_count >= first.sent, "{enter:?}");
    let global = std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled")
        .is_ok_and(|s| s.trim() == "1");
    // Statistics are machine-wide: another process holding BPF_ENABLE_STATS (e.g. a probe run
    // with UADPBENCH_PROBE_STATS=run) keeps them counting.
    let others = others_before || others_hold_bpf_stats();
    if global || others {
        eprintln!("statistics kept on by the sysctl ({global}) or another process ({others})");
    } else {
        assert!(
            enter.run_count < N / 2,
            "statistics kept counting after packet {K}: {enter:?}"
        );
    }
    topo.destroy().expect("destroy topology");
}

/// `--probes minimal` attaches the first and last stamps of each side only, and they stamp
/// every packet.
#[test]
fn minimal_selection_stamps_its_layers_only() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(9);
    let mut cfg = session_config(&topo, pubid);
    cfg.selection = "minimal".parse().expect("minimal");
    let session = ProbeSession::start(cfg).expect("start probes");
    let recorded: Vec<LayerId> = session
        .layers()
        .iter()
        .filter(|s| s.recorded())
        .map(|s| s.layer)
        .collect();
    assert_eq!(
        recorded,
        [
            LayerId::SysEnterSendto,
            LayerId::NetifReceiveSkb,
            LayerId::SockRecvLength,
            LayerId::SysExitRecvfrom
        ]
    );
    let t = udp_traffic(&topo, pubid, 500, false);
    assert!(t.received.len() >= 495, "{} received", t.received.len());
    let report = session.finish().expect("finish");
    for id in &recorded {
        let n = report
            .events
            .iter()
            .filter(|e| e.layer == *id && t.received.contains(&e.packet_id))
            .count();
        assert!(
            n * 100 >= t.received.len() * 99,
            "{}: {n} of {} packets",
            id.name(),
            t.received.len()
        );
    }
    assert!(report.events.iter().all(|e| recorded.contains(&e.layer)));
    // 4 layers and the 3 receive helpers: fewer programs than `all` (16 here).
    assert!(
        report.program_costs.len() <= 7,
        "{:?}",
        report
            .program_costs
            .iter()
            .map(|c| c.program)
            .collect::<Vec<_>>()
    );
    topo.destroy().expect("destroy topology");
}

/// Histogram mode: 2 000 packets through 64 stamp slots (reused 30 times over) are all
/// counted, per layer, as the time since their `sys_enter_sendto`; the warm-up ids are not;
/// the layers' mean times grow along the packet's way; no stamp is collected or lost.
#[test]
fn histogram_mode_counts_every_packet_in_the_kernel() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(11);
    let mut cfg = session_config(&topo, pubid);
    cfg.slots = 64;
    cfg.histogram = Some(HistogramConfig { first_packet: 100 });
    let session = ProbeSession::start(cfg).expect("start probes");
    let t = udp_traffic(&topo, pubid, 2_000, false);
    assert!(t.received.len() >= 1_980, "{} received", t.received.len());
    let measured_received = t.received.iter().filter(|id| **id >= 100).count() as u64;
    let report = session.finish().expect("finish");
    assert!(
        report.events.is_empty(),
        "histogram mode collects no stamps"
    );
    let h = report.histograms.as_ref().expect("histograms");
    assert_eq!(h.reference, LayerId::SysEnterSendto);
    assert_eq!(h.first_packet, 100);
    for l in &h.layers {
        eprintln!(
            "{:<26} #{} count {:>5} no-ref {:>3} mean {:>8.0} p50 {:>8.0} ns",
            l.layer.name(),
            l.crossing,
            l.count(),
            l.no_reference,
            l.mean_ns().unwrap_or(f64::NAN),
            l.quantile_ns(0.5).unwrap_or(f64::NAN)
        );
    }
    let of = |id: LayerId| {
        h.layers
            .iter()
            .find(|l| l.layer == id && l.crossing == 0)
            .unwrap_or_else(|| panic!("{}: no histogram", id.name()))
    };
    // The reference itself: every measured send, at time 0.
    let r = of(LayerId::SysEnterSendto);
    assert_eq!(r.count(), 1_900);
    assert_eq!(r.buckets[0], 1_900);
    assert_eq!(r.sum_ns, 0);
    let chain = [
        LayerId::NetDevQueue,
        LayerId::NetifRx,
        LayerId::NetifReceiveSkb,
        LayerId::SockRecvLength,
        LayerId::SysExitRecvfrom,
    ];
    let mut last = 0.0;
    for id in chain {
        let l = of(id);
        assert!(
            l.count() * 100 >= measured_received * 99 && l.count() <= 1_900,
            "{}: {} counted of {measured_received} received",
            id.name(),
            l.count()
        );
        assert!(l.no_reference * 100 <= l.count(), "{}", id.name());
        let mean = l.mean_ns().expect("mean");
        assert!(mean > last, "{}: mean {mean} ns after {last} ns", id.name());
        let p50 = l.quantile_ns(0.5).expect("p50");
        assert!(p50 > 0.0 && p50 < 10_000_000.0, "{}: p50 {p50}", id.name());
        last = mean;
    }
    // Per segment: every counted stamp of a point is in its segment histogram or counted as
    // having no earlier stamp of its packet, exactly once.
    let mut firsts = 0;
    let mut segment_sum = 0u64;
    for seg in &h.segments {
        let s = &seg.to;
        let from: Vec<String> = seg
            .from
            .iter()
            .map(|(l, c, n)| format!("{}#{c} {n}", l.name()))
            .collect();
        eprintln!(
            "segment to {:<22} #{} count {:>5} first {:>5} mean {:>8.0} ns from {}",
            s.layer.name(),
            s.crossing,
            s.count(),
            s.no_reference,
            s.mean_ns().unwrap_or(f64::NAN),
            from.join(", ")
        );
        let l = h
            .layers
            .iter()
            .find(|l| l.layer == s.layer && l.crossing == s.crossing)
            .expect("the same point since the reference");
        assert_eq!(
            s.count() + s.no_reference,
            l.count() + l.no_reference,
            "{}: every stamp once",
            s.layer.name()
        );
        assert_eq!(seg.from.iter().map(|f| f.2).sum::<u64>(), s.count());
        firsts += s.no_reference;
        // The skb is freed after the receive on most packets (after the last point): those
        // segments lie beyond the way the sums are compared over.
        if s.layer != LayerId::ConsumeSkb {
            segment_sum += s.sum_ns;
        }
    }
    // Each measured packet has one first stamp (a stamp written after a later one of its
    // packet, on another CPU, also counts as one: rare).
    assert!(
        (1_900..=1_900 + 19).contains(&firsts),
        "{firsts} stamps without an earlier one"
    );
    // The layers recorded with times taken earlier (wake-up, softirq) are not segments.
    for id in [
        LayerId::SkDataReady,
        LayerId::SchedWaking,
        LayerId::SchedSwitchIn,
        LayerId::NetRxSoftirq,
    ] {
        assert!(
            h.segments.iter().all(|s| s.to.layer != id),
            "{}: a segment",
            id.name()
        );
    }
    // The chain's hops in time order: on veth netif_receive_skb follows the end of the
    // transmit (net_dev_xmit, after netif_rx queued the frame to the backlog); the receive
    // system call's exit follows the socket read.
    for (to, from) in [
        (LayerId::NetifReceiveSkb, LayerId::NetDevXmit),
        (LayerId::SysExitRecvfrom, LayerId::SockRecvLength),
    ] {
        let seg = h
            .segments
            .iter()
            .find(|s| s.to.layer == to && s.to.crossing == 0)
            .unwrap_or_else(|| panic!("{}: no segment histogram", to.name()));
        let (l, c, share) = seg.main_from().expect("a predecessor");
        assert!(
            l == from && c == 0 && share >= 0.99,
            "{}: mostly from {}#{c} ({share})",
            to.name(),
            l.name()
        );
    }
    // Segments telescope: per packet they add up to its last stamp minus its first, which is
    // the reference here; summed, they match the time since the reference at the last point
    // to within the stamps written out of order (and the rare skb freed mid-way).
    let last_point = of(LayerId::SysExitRecvfrom);
    eprintln!(
        "segments add up to {segment_sum} ns; since the reference at {}: {} ns",
        last_point.layer.name(),
        last_point.sum_ns
    );
    let ratio = segment_sum as f64 / last_point.sum_ns as f64;
    assert!((0.95..=1.05).contains(&ratio), "segments / total {ratio}");
    // Slot reuse is not loss here.
    for l in &report.lost_per_layer {
        assert_eq!(l.lost(), 0, "{}", l.layer.name());
    }
    topo.destroy().expect("destroy topology");
}

/// The wake-up layers against the scheduler's own record of the same run (every context
/// switch, `ProbeConfig::sched_switch`): a packet whose receiver was asleep in `recvfrom` when
/// the packet reached `netif_receive_skb` — and that is the first the receiver read after it
/// was switched in again — has `sched_waking` and `sched_switch_in` stamps, in order between
/// `netif_receive_skb` and `sock_recv_length`, and its `sched_switch_in` is the receiver's first
/// switch-in after the packet; any other packet has none.
#[test]
fn wake_up_layers_match_the_scheduler() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(11);
    let mut cfg = session_config(&topo, pubid);
    cfg.sched_switch = true;
    let session = ProbeSession::start(cfg).expect("start probes");
    for s in session.layers() {
        eprintln!("{:<24} {}", s.name, s.outcome);
    }
    for id in [LayerId::SchedWaking, LayerId::SchedSwitchIn] {
        let s = session.layers().iter().find(|s| s.layer == id).unwrap();
        assert!(s.recorded(), "{}: {}", s.name, s.outcome);
    }
    let t = udp_traffic(&topo, pubid, 500, false);
    let report = session.finish().expect("finish");
    assert_eq!(report.sched_dropped, 0);
    let at = |layer: LayerId, p: u64| {
        report
            .events
            .iter()
            .find(|e| e.layer == layer && e.packet_id == p)
            .map(|e| e.t_ns)
    };
    let r = t.receiver_tid;
    let switches: Vec<_> = report
        .sched_events
        .iter()
        .filter(|e| e.prev_tid == r || e.next_tid == r)
        .collect();
    let mut reads: Vec<u64> = t
        .received
        .iter()
        .filter_map(|p| at(LayerId::SockRecvLength, *p))
        .collect();
    reads.sort_unstable();
    let (mut applies, mut complete, mut wrong, mut idle, mut data_ready, mut ipi) =
        (0, 0, 0, 0, 0, 0);
    let mut unrecorded = 0;
    for &p in &t.received {
        let (Some(nrs), Some(srl)) = (
            at(LayerId::NetifReceiveSkb, p),
            at(LayerId::SockRecvLength, p),
        ) else {
            continue;
        };
        // The scheduler's record must hold the receiver's switch-in before it read the packet:
        // where its last switch before the read is a switch-out, the record misses a switch
        // (seen once in CI, on a busy VM: for 3 ms neither sched_switch program saw the
        // receiver's switch-ins while the other layers kept stamping) and cannot judge this
        // packet. Such packets are counted and printed, not judged.
        if switches
            .iter()
            .rev()
            .find(|e| e.t_ns <= srl)
            .is_some_and(|e| e.next_tid != r)
        {
            unrecorded += 1;
            eprintln!(
                "packet {p}: read at {srl} while the scheduler's record has the receiver \
                 switched out"
            );
            continue;
        }
        // The receiver's last switch before the packet: out asleep = it was waiting.
        let last = switches.iter().rev().find(|e| e.t_ns <= nrs);
        let asleep = last.is_some_and(|e| e.prev_tid == r && e.sleeping());
        let woke = at(LayerId::SchedWaking, p);
        let sw = at(LayerId::SchedSwitchIn, p);
        if !asleep {
            if woke.is_some() || sw.is_some() {
                wrong += 1;
            }
            continue;
        }
        let first_in = switches
            .iter()
            .find(|e| e.t_ns > nrs && e.next_tid == r)
            .map(|e| e.t_ns);
        // Several packets can queue while the woken receiver waits for a CPU: the wake-up is
        // the first one's; the others were already queued when their recvfrom was called.
        if let Some(f) = first_in {
            if reads.iter().any(|x| *x >= f && *x < srl) {
                if woke.is_some() || sw.is_some() {
                    wrong += 1;
                }
                continue;
            }
        }
        applies += 1;
        match (woke, sw, first_in) {
            (Some(w), Some(s), Some(f)) if nrs <= w && w <= s && s <= srl => {
                if s.abs_diff(f) < 20_000 {
                    complete += 1;
                } else {
                    eprintln!("packet {p}: switch-in stamp {s}, scheduler {f}");
                    wrong += 1;
                }
            }
            x => {
                eprintln!("packet {p}: nrs {nrs} srl {srl} (waking, switch, sched) {x:?}");
            }
        }
        if let Some(d) = at(LayerId::SkDataReady, p) {
            data_ready += 1;
            assert!(
                nrs <= d && woke.is_none_or(|w| d <= w),
                "packet {p}: sk_data_ready {d}"
            );
        }
        if let Some(i) = at(LayerId::CpuIdleExit, p) {
            idle += 1;
            assert!(
                woke <= Some(i) && sw.is_none_or(|s| i <= s),
                "packet {p}: cpu_idle_exit {i}"
            );
        }
        // The interrupt is sent after the waking, before the receiver runs (and before its
        // CPU leaves idle, when it was idle).
        if let Some(i) = at(LayerId::IpiSend, p) {
            ipi += 1;
            assert!(
                woke <= Some(i) && sw.is_none_or(|s| i <= s),
                "packet {p}: ipi_send {i}, waking {woke:?}, switch-in {sw:?}"
            );
            if let Some(x) = at(LayerId::CpuIdleExit, p) {
                assert!(i <= x, "packet {p}: ipi_send {i} after cpu_idle_exit {x}");
            }
        }
    }
    for c in report
        .program_costs
        .iter()
        .filter(|c| c.program.starts_with("tp_sched"))
    {
        eprintln!(
            "{}: {} runs, {} missed",
            c.program, c.run_count, c.missed_runs
        );
    }
    eprintln!(
        "{} received, {applies} with a sleeping receiver, {complete} complete, {wrong} wrong, \
         {data_ready} sk_data_ready, {idle} cpu_idle_exit, {ipi} ipi_send, {unrecorded} read \
         while the scheduler's record has the receiver switched out",
        t.received.len()
    );
    assert!(
        applies * 2 >= t.received.len(),
        "the paced receiver should mostly sleep"
    );
    assert!(
        complete * 100 >= applies * 99,
        "{complete} of {applies} complete"
    );
    assert!(wrong * 100 <= applies, "{wrong} wrong");
    topo.destroy().expect("destroy topology");
}

/// Parse once per transmit: with the transmit-chain cache (the default) the transmit layers
/// after `net_dev_queue` — `net_dev_start_xmit`, veth's `netif_rx`, `net_dev_xmit` — take
/// every benchmark packet from `net_dev_queue`'s context instead of reading its frame, and
/// the stamps are the same as when every layer reads the frame (cache off): every packet
/// at every layer, once, with its own id. The same with a qdisc on the sending device (the
/// context then comes from `qdisc_dequeue`, which stamps every packet too).
#[test]
fn transmit_layers_reuse_what_net_dev_queue_read() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    const N: u64 = 1000;
    const CHAINED: [LayerId; 3] = [
        LayerId::NetDevStartXmit,
        LayerId::NetifRx,
        LayerId::NetDevXmit,
    ];
    for (round, tx_chain, qdisc) in [(0u16, true, false), (1, false, false), (2, true, true)] {
        if qdisc {
            let a = topo.a();
            let out = std::process::Command::new("nsenter")
                .arg(format!("--net={}", a.netns_path().display()))
                // tbf: a qdisc without the empty-queue bypass (pfifo has one), so every
                // packet is enqueued and dequeued; this kernel has htb, tbf and fifos only.
                .args(["tc", "qdisc", "replace", "dev", a.ifname(), "root", "tbf"])
                .args(["rate", "10gbit", "burst", "1mb", "latency", "10ms"])
                .output()
                .expect("run nsenter tc");
            assert!(out.status.success(), "tc: {out:?}");
        }
        let pubid = unique_publisher_id(13 + round);
        let mut cfg = session_config(&topo, pubid);
        cfg.tx_chain = tx_chain;
        let session = ProbeSession::start(cfg).expect("start probes");
        let t = udp_traffic(&topo, pubid, N, false);
        let report = session.finish().expect("finish");
        print_report(&report);
        check_one_way(&report, &t, false);
        let hits = |id: LayerId| {
            report
                .lost_per_layer
                .iter()
                .find(|l| l.layer == id)
                .map_or(0, |l| l.chain_hits)
        };
        let stamped = |id: LayerId| {
            report
                .events
                .iter()
                .filter(|e| e.layer == id && e.packet_id < N)
                .count() as u64
        };
        for id in CHAINED {
            eprintln!(
                "tx_chain {tx_chain} qdisc {qdisc}: {} chain hits {} stamped {}",
                id.name(),
                hits(id),
                stamped(id)
            );
            assert_eq!(stamped(id), N, "{}: every packet stamped once", id.name());
            if tx_chain {
                // Other skbs of the namespaces (ARP, neighbour probes) count too.
                assert!(hits(id) >= N, "{}: {} chain hits", id.name(), hits(id));
            } else {
                assert_eq!(hits(id), 0, "{}: cache off", id.name());
            }
        }
        if qdisc {
            assert_eq!(stamped(LayerId::QdiscDequeue), N, "qdisc_dequeue");
        }
        // The layers that start a chain or are outside it always read the frame.
        for id in [
            LayerId::NetDevQueue,
            LayerId::QdiscDequeue,
            LayerId::NetifReceiveSkb,
            LayerId::SysEnterSendto,
        ] {
            assert_eq!(hits(id), 0, "{}", id.name());
        }
    }
    topo.destroy().expect("destroy topology");
}
