//! The per-layer probes on a real topology: benchmark messages over UDP and raw Ethernet from
//! namespace A to namespace B, one timestamp per layer per packet, with the best mechanism, with
//! classic tracepoints (skb-address correlation) and with libc uprobes. Needs root: without it
//! the tests fail and say so (never skip).

use std::{collections::HashSet, thread, time::Duration};

use uadpbench_probes::{
    embedded_object, layer, LayerId, Mechanism, Outcome, ProbePath, ProbeSession, Selected,
};
use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_topology::{Side, Topology};

mod support;
use support::*;

#[test]
fn object_is_embedded() {
    let obj = embedded_object();
    assert!(obj.len() > 64, "probes object missing");
    assert_eq!(&obj[..4], b"\x7fELF");
}

#[test]
fn udp_one_way_every_layer() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(1);
    let session = ProbeSession::start(session_config(&topo, pubid)).expect("start probes");
    assert!(session.stats_enabled());

    // What attached: every tracepoint/tp_btf layer of the path; fentry/kprobe-only layers are
    // not attached here, with a reason per mechanism.
    for s in session.layers() {
        let l = layer(s.layer);
        let hookable = l
            .candidates
            .iter()
            .any(|c| matches!(c.mechanism, Mechanism::TpBtf | Mechanism::Tracepoint));
        let fn_only = l
            .candidates
            .iter()
            .all(|c| matches!(c.mechanism, Mechanism::FEntry | Mechanism::KProbe));
        if l.optional {
            assert_eq!(s.selected, Selected::No, "{}", s.name);
            continue;
        }
        assert_eq!(s.selected, Selected::Yes, "{}", s.name);
        if hookable {
            assert!(s.recorded(), "{} should attach: {}", s.name, s.outcome);
            assert!(
                matches!(
                    s.attached_via(),
                    Some(Mechanism::TpBtf | Mechanism::Tracepoint)
                ),
                "{}: {}",
                s.name,
                s.outcome
            );
        }
        if fn_only && !kernel_allows_fentry_or_kprobes() {
            match &s.outcome {
                Outcome::Unavailable { reasons } => {
                    assert_eq!(reasons.len(), 2, "{}: {reasons:?}", s.name);
                    assert!(reasons[0].starts_with("fentry: "), "{reasons:?}");
                    assert!(reasons[1].starts_with("kprobe: "), "{reasons:?}");
                }
                o => panic!("{} should not attach on this kernel: {o}", s.name),
            }
        }
    }

    let t = udp_traffic(&topo, pubid, 1000, false);
    assert!(
        t.received.len() >= 990,
        "only {} of 1000 datagrams arrived",
        t.received.len()
    );
    let report = session.finish().expect("finish");
    print_report(&report);
    check_one_way(&report, &t, true);
    // Every recorded, unconditional layer saw packets.
    for s in report.layers.iter().filter(|s| s.recorded()) {
        if layer(s.layer).only_when.is_none() {
            assert!(
                report.events.iter().any(|e| e.layer == s.layer),
                "no events at {}",
                s.name
            );
        }
    }
    assert_eq!(report.thread_slot_evictions, 0);
    let ids: Vec<u32> = report.program_costs.iter().map(|c| c.prog_id).collect();
    for c in &report.program_costs {
        if c.events_recorded > 0 {
            assert!(c.run_count >= c.events_recorded, "{c:?}");
            assert!(c.ns_per_run.is_some(), "{c:?}");
        }
    }
    topo.destroy().expect("destroy topology");
    assert_nothing_left(&ids);
}

#[test]
fn classic_tracepoint_fallback() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(2);
    let mut cfg = session_config(&topo, pubid);
    cfg.deny = vec![Mechanism::TpBtf];
    let session = ProbeSession::start(cfg).expect("start probes");
    for s in session
        .layers()
        .iter()
        .filter(|s| s.selected == Selected::Yes)
    {
        if layer(s.layer)
            .candidates
            .iter()
            .any(|c| c.mechanism == Mechanism::Tracepoint)
        {
            assert_eq!(
                s.attached_via(),
                Some(Mechanism::Tracepoint),
                "{}: {}",
                s.name,
                s.outcome
            );
        }
    }
    let t = udp_traffic(&topo, pubid, 300, false);
    let report = session.finish().expect("finish");
    print_report(&report);
    check_one_way(&report, &t, true);
    for id in [
        LayerId::NetDevQueue,
        LayerId::NetDevStartXmit,
        LayerId::NetifRx,
        LayerId::NetDevXmit,
        LayerId::NetifReceiveSkb,
    ] {
        let n = report.events.iter().filter(|e| e.layer == id).count();
        assert!(n as u64 >= t.sent * 9 / 10, "{}: {n} events", id.name());
    }
    let ids: Vec<u32> = report.program_costs.iter().map(|c| c.prog_id).collect();
    topo.destroy().expect("destroy topology");
    assert_nothing_left(&ids);
}

#[test]
fn libc_uprobes() {
    require_root("topology, BPF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(3);
    let mut cfg = session_config(&topo, pubid);
    cfg.selection = "libc_sendto,libc_recvfrom,sys_exit_recvfrom"
        .parse()
        .expect("selection");
    let session = ProbeSession::start(cfg).expect("start probes");
    let st = |id: LayerId| {
        session
            .layers()
            .iter()
            .find(|s| s.layer == id)
            .cloned()
            .expect("layer")
    };
    assert_eq!(
        st(LayerId::LibcSendto).attached_via(),
        Some(Mechanism::UProbe)
    );
    assert_eq!(
        st(LayerId::LibcRecvfrom).attached_via(),
        Some(Mechanism::UProbe)
    );
    assert_eq!(st(LayerId::NetDevQueue).selected, Selected::No);
    let t = udp_traffic(&topo, pubid, 200, true);
    let report = session.finish().expect("finish");
    print_report(&report);
    check_one_way(&report, &t, true);
    for id in [
        LayerId::LibcSendto,
        LayerId::LibcRecvfrom,
        LayerId::SysExitRecvfrom,
    ] {
        let n = report.events.iter().filter(|e| e.layer == id).count() as u64;
        assert!(n >= t.received.len() as u64, "{}: {n} events", id.name());
    }
    let ids: Vec<u32> = report.program_costs.iter().map(|c| c.prog_id).collect();
    topo.destroy().expect("destroy topology");
    assert_nothing_left(&ids);
}

#[test]
fn eth_one_way_every_layer() {
    require_root("topology, BPF");
    use std::os::fd::AsRawFd as _;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let topo = Topology::create(Default::default()).expect("topology");
    let pubid = unique_publisher_id(4);
    let mut cfg = session_config(&topo, pubid);
    cfg.path = ProbePath::Eth;
    let session = ProbeSession::start(cfg).expect("start probes");
    const N: u64 = 300;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let b_ifindex = topo.b().ifindex();
    let receiver = topo
        .spawn_in(Side::B, "eth-rx", move || {
            let fd = packet_socket(b_ifindex);
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 500_000,
            };
            // SAFETY: valid option value.
            unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const tv).cast(),
                    std::mem::size_of::<libc::timeval>() as u32,
                )
            };
            ready_tx.send(()).expect("ready");
            let codec = BenchCodec::new(pubid, 100, 64).expect("codec");
            let mut got = HashSet::new();
            let mut buf = [0u8; 2048];
            while (got.len() as u64) < N {
                // SAFETY: valid buffer.
                let n = unsafe {
                    libc::recvfrom(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                    )
                };
                if n <= 0 {
                    break;
                }
                if let Ok(f) = codec.decode(&buf[14..n as usize]) {
                    got.insert(f.packet_id);
                }
            }
            (gettid(), got)
        })
        .expect("spawn receiver");
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("receiver ready");
    let (a_ifindex, a_mac, b_mac) = (topo.a().ifindex(), topo.a().mac(), topo.b().mac());
    let sender = topo
        .spawn_in(Side::A, "eth-tx", move || {
            let fd = packet_socket(a_ifindex);
            let codec = BenchCodec::new(pubid, 100, 64).expect("codec");
            let mut frame = [0u8; 14 + 64];
            frame[..6].copy_from_slice(&b_mac);
            frame[6..12].copy_from_slice(&a_mac);
            frame[12..14].copy_from_slice(&0xB62Cu16.to_be_bytes());
            for id in 0..N {
                codec.encode(&mut frame[14..], id, 0).expect("encode");
                // SAFETY: valid buffer; the socket is bound, no address needed.
                let n = unsafe {
                    libc::sendto(
                        fd.as_raw_fd(),
                        frame.as_ptr().cast(),
                        frame.len(),
                        0,
                        std::ptr::null(),
                        0,
                    )
                };
                assert_eq!(
                    n,
                    frame.len() as isize,
                    "{}",
                    std::io::Error::last_os_error()
                );
                thread::sleep(Duration::from_micros(50));
            }
            gettid()
        })
        .expect("spawn sender");
    let sender_tid = sender.join().expect("sender");
    let (receiver_tid, received) = receiver.join().expect("receiver");
    assert!(
        received.len() as u64 >= N * 9 / 10,
        "{} frames",
        received.len()
    );
    let t = Traffic {
        sender_tid,
        receiver_tid,
        sent: N,
        received,
    };
    let report = session.finish().expect("finish");
    print_report(&report);
    check_one_way(&report, &t, true);
    for id in [
        LayerId::SysEnterSendto,
        LayerId::NetDevQueue,
        LayerId::NetDevStartXmit,
        LayerId::NetifRx,
        LayerId::NetDevXmit,
        LayerId::SockSendLength,
        LayerId::SysExitSendto,
        LayerId::NetifReceiveSkb,
        LayerId::SkbCopyDatagramIovec,
        LayerId::SockRecvLength,
        LayerId::SysExitRecvfrom,
    ] {
        let n = report.events.iter().filter(|e| e.layer == id).count() as u64;
        assert!(n >= t.received.len() as u64, "{}: {n} events", id.name());
    }
    let ids: Vec<u32> = report.program_costs.iter().map(|c| c.prog_id).collect();
    topo.destroy().expect("destroy topology");
    assert_nothing_left(&ids);
}
