//! What the probe tests share: root check, serialisation, UDP benchmark traffic between the
//! namespaces of a topology, the per-packet checks of a one-way probe report, an AF_PACKET
//! receiver, and what else on the machine could disturb BPF statistics.

#![allow(
    dead_code,
    reason = "each test binary uses its own subset of these helpers"
)]

use std::{
    collections::{BTreeMap, HashSet},
    net::{SocketAddr, UdpSocket},
    sync::Mutex,
    thread,
    time::Duration,
};

use uadpbench_probes::{layer, LayerEvent, LayerId, ProbeConfig, ProbePath, ProbeReport};
use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_topology::{Side, Topology};

/// Tests that attach probes run one at a time (costs and CPU stay comparable).
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Fails (never skips) a test that needs root for `what`.
pub fn require_root(what: &str) {
    assert!(
        is_root(),
        "needs root ({what}): run the tests as root (sudo scripts/test.sh); a test that \
         cannot run fails instead of passing"
    );
}

pub fn gettid() -> u32 {
    // SAFETY: no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// What the sending and receiving threads saw.
pub struct Traffic {
    pub sender_tid: u32,
    pub receiver_tid: u32,
    pub sent: u64,
    pub received: HashSet<u64>,
}

/// Sends `n` benchmark messages from A to B:4840 (paced), receives them in B.
pub fn udp_traffic(topo: &Topology, publisher_id: u16, n: u64, libc_to: bool) -> Traffic {
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

pub fn topo_addr_a() -> std::net::Ipv4Addr {
    uadpbench_topology::ADDR_A
}

pub fn topo_addr_b() -> std::net::Ipv4Addr {
    uadpbench_topology::ADDR_B
}

/// A publisher id unlikely to be used by anything else running now.
pub fn unique_publisher_id(salt: u16) -> u16 {
    (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(salt)
        | 0x8000
}

pub fn print_report(report: &ProbeReport) {
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
pub fn check_one_way(report: &ProbeReport, t: &Traffic, check_tids: bool) {
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
pub fn assert_nothing_left(prog_ids: &[u32]) {
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

pub fn session_config(topo: &Topology, publisher_id: u16) -> ProbeConfig {
    let mut cfg = ProbeConfig::new(ProbePath::Udp);
    cfg.publisher_id = publisher_id;
    cfg.netns = vec![
        topo.a().netns_path().to_path_buf(),
        topo.b().netns_path().to_path_buf(),
    ];
    cfg
}

/// fentry works on kernels that allow it; this one does not (no kprobes, fentry refused with
/// EPERM: docs/probes.md, "Layers").
pub fn kernel_allows_fentry_or_kprobes() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe/type").exists()
}

/// An AF_PACKET socket for EtherType 0xB62C bound to `ifindex` (in the current namespace).
pub fn packet_socket(ifindex: u32) -> std::os::fd::OwnedFd {
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

/// Whether a process other than this one holds a `BPF_ENABLE_STATS` descriptor
/// (`anon_inode:bpf-stats`).
pub fn others_hold_bpf_stats() -> bool {
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
