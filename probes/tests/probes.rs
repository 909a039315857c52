//! The per-layer probes on a real topology: 1000 benchmark messages over UDP from namespace A
//! to namespace B, one timestamp per layer per packet. Needs root (skips otherwise).

use std::{
    collections::{BTreeMap, HashSet},
    net::{SocketAddr, UdpSocket},
    sync::Mutex,
    thread,
    time::Duration,
};

use uadpbench_probes::{
    embedded_object, layer, plan, LayerEvent, LayerId, Mechanism, Outcome, ProbeConfig, ProbePath,
    ProbeReport, ProbeSession, Selected, Selection,
};
use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_topology::{Side, Topology};

/// Tests that attach probes run one at a time (costs and CPU stay comparable).
static SERIAL: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Fails (never skips) a test that needs root for `what`.
fn require_root(what: &str) {
    assert!(
        is_root(),
        "needs root ({what}): run the tests as root (sudo scripts/test.sh); a test that \
         cannot run fails instead of passing"
    );
}

fn gettid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::gettid() as u32 }
}

#[test]
fn object_is_embedded() {
    let obj = embedded_object();
    assert!(obj.len() > 64, "probes object missing");
    assert_eq!(&obj[..4], b"\x7fELF");
}

/// What the sending and receiving threads saw.
struct Traffic {
    sender_tid: u32,
    receiver_tid: u32,
    sent: u64,
    received: HashSet<u64>,
}

/// Sends `n` benchmark messages from A to B:4840 (paced), receives them in B.
fn udp_traffic(topo: &Topology, publisher_id: u16, n: u64, libc_to: bool) -> Traffic {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = topo
        .spawn_in(Side::B, "probes-rx", move || {
            let sock = UdpSocket::bind((topo_addr_b(), 4840)).expect("bind B:4840");
            sock.set_read_timeout(Some(Duration::from_millis(500)))
                .expect("timeout");
            ready_tx.send(()).expect("ready");
            let codec = BenchCodec::new(publisher_id, 100, 64).expect("codec");
            let mut buf = [0u8; 2048];
            let mut got = HashSet::new();
            while (got.len() as u64) < n {
                let r = if libc_to {
                    sock.recv_from(&mut buf).map(|(len, _)| len)
                } else {
                    sock.recv(&mut buf)
                };
                match r {
                    Ok(len) => {
                        let f = codec.decode(&buf[..len]).expect("benchmark message");
                        got.insert(f.packet_id);
                    }
                    Err(_) => break, // timeout: the rest was lost
                }
            }
            (gettid(), got)
        })
        .expect("spawn receiver");
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("receiver ready");
    let sender = topo
        .spawn_in(Side::A, "probes-tx", move || {
            let codec = BenchCodec::new(publisher_id, 100, 64).expect("codec");
            let sock = UdpSocket::bind((topo_addr_a(), 0)).expect("bind A");
            let to = SocketAddr::from((topo_addr_b(), 4840));
            if !libc_to {
                sock.connect(to).expect("connect");
            }
            let mut buf = [0u8; 64];
            for id in 0..n {
                let len = codec.encode(&mut buf, id, 0).expect("encode");
                if libc_to {
                    sock.send_to(&buf[..len], to).expect("send_to");
                } else {
                    sock.send(&buf[..len]).expect("send");
                }
                thread::sleep(Duration::from_micros(50));
            }
            gettid()
        })
        .expect("spawn sender");
    let sender_tid = sender.join().expect("sender");
    let (receiver_tid, received) = receiver.join().expect("receiver");
    Traffic {
        sender_tid,
        receiver_tid,
        sent: n,
        received,
    }
}

fn topo_addr_a() -> std::net::Ipv4Addr {
    uadpbench_topology::ADDR_A
}

fn topo_addr_b() -> std::net::Ipv4Addr {
    uadpbench_topology::ADDR_B
}

/// A publisher id unlikely to be used by anything else running now.
fn unique_publisher_id(salt: u16) -> u16 {
    (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(salt)
        | 0x8000
}

fn print_report(report: &ProbeReport) {
    eprintln!("layers:");
    for l in &report.layers {
        eprintln!("  {:<24} {:?} {}", l.name, l.selected, l.outcome);
    }
    eprintln!("costs:");
    for c in &report.program_costs {
        eprintln!(
            "  {:<28} {:<10} runs {:>8}  ns/run {:>7}  missed {}  recorded {}  lost {}",
            c.program,
            c.mechanism.name(),
            c.run_count,
            c.ns_per_run.map_or("-".into(), |v| format!("{v:.1}")),
            c.missed_runs,
            c.events_recorded,
            c.events_lost
        );
    }
    for l in &report.lost_per_layer {
        if l.lost() + l.maybe_lost() > 0 {
            eprintln!("  loss {:?}", l);
        }
    }
}

/// Checks the events of a one-way run; returns the layers with events.
fn check_one_way(report: &ProbeReport, t: &Traffic, check_tids: bool) {
    let recorded: Vec<LayerId> = report
        .layers
        .iter()
        .filter(|l| l.recorded())
        .map(|l| l.layer)
        .collect();
    // Events per (layer, packet).
    let mut per: BTreeMap<(LayerId, u64), Vec<&LayerEvent>> = BTreeMap::new();
    for e in &report.events {
        assert!(e.packet_id < t.sent, "event of a packet never sent: {e:?}");
        assert_eq!(
            e.crossing, 0,
            "one-way traffic crosses each layer once: {e:?}"
        );
        assert!(
            recorded.contains(&e.layer),
            "event of an unrecorded layer {e:?}"
        );
        per.entry((e.layer, e.packet_id)).or_default().push(e);
    }
    for loss in &report.lost_per_layer {
        assert_eq!(
            loss.recorded,
            loss.drained + loss.overwritten,
            "every recorded stamp is drained or counted overwritten: {loss:?}"
        );
    }
    for &id in &recorded {
        let l = layer(id);
        if l.only_when.is_some() {
            continue;
        }
        let expected: Vec<u64> = match l.direction {
            uadpbench_probes::Direction::Send => (0..t.sent).collect(),
            uadpbench_probes::Direction::Receive => t.received.iter().copied().collect(),
        };
        let loss = report
            .lost_per_layer
            .iter()
            .find(|x| x.layer == id)
            .expect("loss entry");
        let missing = expected
            .iter()
            .filter(|p| per.get(&(id, **p)).is_none_or(|v| v.is_empty()))
            .count() as u64;
        let dup = per
            .iter()
            .filter(|((lid, _), v)| *lid == id && v.len() > 1)
            .count();
        assert_eq!(dup, 0, "{}: more than one event for a packet", id.name());
        assert!(
            missing <= loss.lost() + loss.maybe_lost(),
            "{}: {missing} of {} packets without an event, counters explain only {} ({loss:?})",
            id.name(),
            expected.len(),
            loss.lost() + loss.maybe_lost()
        );
    }
    // Timestamps non-decreasing along each side, per packet.
    for p in 0..t.sent {
        for dir in [
            uadpbench_probes::Direction::Send,
            uadpbench_probes::Direction::Receive,
        ] {
            let mut last: Option<(LayerId, u64)> = None;
            for &id in recorded
                .iter()
                .filter(|l| layer(**l).direction == dir && layer(**l).in_sequence)
            {
                let Some(e) = per.get(&(id, p)).and_then(|v| v.first()) else {
                    continue;
                };
                if let Some((lid, lt)) = last {
                    assert!(
                        e.t_ns >= lt,
                        "packet {p}: {} at {} before {} at {lt}",
                        id.name(),
                        e.t_ns,
                        lid.name()
                    );
                }
                last = Some((id, e.t_ns));
            }
        }
    }
    if check_tids {
        for e in &report.events {
            let want = match e.layer {
                LayerId::LibcSendto
                | LayerId::SysEnterSendto
                | LayerId::SockSendLength
                | LayerId::SysExitSendto => Some(t.sender_tid),
                LayerId::SkbCopyDatagramIovec
                | LayerId::SockRecvLength
                | LayerId::SysExitRecvfrom
                | LayerId::LibcRecvfrom => Some(t.receiver_tid),
                _ => None,
            };
            if let Some(tid) = want {
                assert_eq!(e.tid, tid, "wrong thread for {e:?}");
            }
        }
    }
}

/// No program or link of the session is left in the kernel.
fn assert_nothing_left(prog_ids: &[u32]) {
    let ids: HashSet<u32> = prog_ids.iter().copied().filter(|i| *i != 0).collect();
    assert!(!ids.is_empty(), "no program ids recorded");
    for p in aya::programs::loaded_programs().flatten() {
        assert!(!ids.contains(&p.id()), "program {} still loaded", p.id());
    }
    for l in aya::programs::loaded_links().flatten() {
        assert!(
            !ids.contains(&l.program_id()),
            "link {} of our program {} still attached",
            l.id(),
            l.program_id()
        );
    }
}

fn session_config(topo: &Topology, publisher_id: u16) -> ProbeConfig {
    let mut cfg = ProbeConfig::new(ProbePath::Udp);
    cfg.publisher_id = publisher_id;
    cfg.netns = vec![
        topo.a().netns_path().to_path_buf(),
        topo.b().netns_path().to_path_buf(),
    ];
    cfg
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

/// fentry works on kernels that allow it; this one does not (no kprobes, fentry refused with
/// EPERM: docs/probes.md, "Layers").
fn kernel_allows_fentry_or_kprobes() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
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

/// An AF_PACKET socket for EtherType 0xB62C bound to `ifindex` (in the current namespace).
fn packet_socket(ifindex: u32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd as _;
    let proto = (0xB62Cu16).to_be();
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, proto as i32) };
    assert!(
        fd >= 0,
        "AF_PACKET socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: we own the new descriptor.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    use std::os::fd::AsRawFd as _;
    // SAFETY: valid sockaddr_ll of the given size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind: {}", std::io::Error::last_os_error());
    fd
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

/// Whether a process other than this one holds a `BPF_ENABLE_STATS` descriptor
/// (`anon_inode:bpf-stats`).
fn others_hold_bpf_stats() -> bool {
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        let name = p.file_name();
        let name = name.to_string_lossy();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
        std::fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
            fds.flatten().any(|fd| {
                std::fs::read_link(fd.path())
                    .is_ok_and(|l| l.to_string_lossy().contains("bpf-stats"))
            })
        })
    })
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
    let (mut applies, mut complete, mut wrong, mut idle, mut data_ready) = (0, 0, 0, 0, 0);
    for &p in &t.received {
        let (Some(nrs), Some(srl)) = (
            at(LayerId::NetifReceiveSkb, p),
            at(LayerId::SockRecvLength, p),
        ) else {
            continue;
        };
        // The receiver's last switch before the packet: out asleep = it was waiting.
        let last = switches.iter().rev().find(|e| e.t_ns <= nrs);
        let asleep = last.is_some_and(|e| e.prev_tid == r && e.prev_state != 0);
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
            assert!(nrs <= d && Some(d) <= woke, "packet {p}: sk_data_ready {d}");
        }
        if let Some(i) = at(LayerId::CpuIdleExit, p) {
            idle += 1;
            assert!(
                woke <= Some(i) && Some(i) <= sw,
                "packet {p}: cpu_idle_exit {i}"
            );
        }
    }
    eprintln!(
        "{} received, {applies} with a sleeping receiver, {complete} complete, {wrong} wrong, \
         {data_ready} sk_data_ready, {idle} cpu_idle_exit",
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
