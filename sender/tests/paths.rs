//! The raw paths over a real veth pair between two network namespaces: `eth` (AF_PACKET via
//! pnet) and `xdp` (AF_XDP + the uadpbench XDP program), each with UADP over Ethernet and over
//! UDP/IPv4. Needs root (namespaces, raw sockets, BPF); skipped otherwise.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use pnet_datalink::{Channel, ChannelType};
use uadpbench_sender::bench_message::{BenchCodec, DEFAULT_PUBLISHER_ID, DEFAULT_WRITER_GROUP_ID};
use uadpbench_sender::eth::EthTransport;
use uadpbench_sender::loops::{ping_pong, reflect, PingPongConfig};
use uadpbench_sender::open::{open_transport, LinkInfo, PathOptions};
use uadpbench_sender::transport::{Encap, PathKind, Transport, TransportCounters};
use uadpbench_sender::xdp::XdpTransport;
use uadpbench_topology::{Endpoint, Side, Topology, TopologyOptions};

const COUNT: u64 = 1000;
const SIZES: [usize; 2] = [64, 1400];
const PACE_BATCH: u64 = 50;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

macro_rules! require_root {
    () => {
        assert!(
            is_root(),
            "needs root (network namespaces, raw sockets, XDP): run the tests as root \
             (sudo scripts/test.sh); a test that cannot run fails instead of passing"
        );
    };
}

fn link_of(ep: &Endpoint) -> LinkInfo {
    LinkInfo {
        ifname: ep.ifname().to_owned(),
        ifindex: ep.ifindex(),
        mtu: ep.mtu() as usize,
        local_mac: ep.mac(),
        local_ip: ep.ipv4(),
        peer_mac: ep.peer_mac(),
        peer_ip: ep.peer_ipv4(),
        udp_port: 4840,
    }
}

fn codec(size: usize) -> BenchCodec {
    BenchCodec::new(DEFAULT_PUBLISHER_ID, DEFAULT_WRITER_GROUP_ID, size).expect("codec")
}

fn options(vlan: Option<(u16, u8)>) -> PathOptions {
    PathOptions {
        vlan_id: vlan.map(|v| v.0),
        vlan_pcp: vlan.map_or(0, |v| v.1),
        recv_timeout: Duration::from_secs(2),
        ..Default::default()
    }
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn xdp_attached(ep: &Endpoint) -> bool {
    ip(&["-n", ep.netns(), "link", "show", "dev", ep.ifname()]).contains("xdp")
}

/// Sends `COUNT` messages of each size in paced batches.
fn send_all(t: &mut dyn Transport) {
    for size in SIZES {
        let c = codec(size);
        let mut buf = vec![0u8; size];
        for id in 0..COUNT {
            let n = c.encode(&mut buf, id, 1000 + id).expect("encode");
            t.send(&buf[..n]).expect("send");
            if (id + 1) % PACE_BATCH == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Let the receiver switch codecs before the next size.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Receives `COUNT` messages of each size and checks every one decodes, in order, complete.
fn recv_all(t: &mut dyn Transport) {
    let mut buf = vec![0u8; 2048];
    for size in SIZES {
        let c = codec(size);
        for id in 0..COUNT {
            let n = t.recv(&mut buf).expect("recv").unwrap_or_else(|| {
                panic!("{}: size {size}: message {id} lost (timeout)", t.describe())
            });
            assert_eq!(n, size, "{}: size of message {id}", t.describe());
            let f = c.decode(&buf[..n]).expect("every received message decodes");
            assert_eq!(f.packet_id, id, "{}: order", t.describe());
            assert_eq!(f.t_send_ns, 1000 + id);
        }
    }
}

/// Opens `rx_path` in B (signals when ready) and runs `rx`; then opens `tx_path` in A and runs
/// `tx`. Returns what `rx` returned.
fn pair<R: Send + 'static>(
    topo: &Topology,
    (tx_path, tx_encap, tx_opts): (PathKind, Encap, PathOptions),
    (rx_path, rx_encap, rx_opts): (PathKind, Encap, PathOptions),
    tx: impl FnOnce(&mut dyn Transport) + Send + 'static,
    rx: impl FnOnce(&mut dyn Transport) -> R + Send + 'static,
) -> R {
    let (ready_tx, ready_rx) = mpsc::channel();
    let link_b = link_of(topo.b());
    let receiver = topo
        .spawn_in(Side::B, "rx", move || {
            let mut t =
                open_transport(rx_path, rx_encap, &link_b, &rx_opts).expect("open receiver");
            ready_tx.send(()).expect("test gone");
            rx(t.as_mut())
        })
        .expect("spawn in B");
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("receiver did not open");
    let link_a = link_of(topo.a());
    let sender = topo
        .spawn_in(Side::A, "tx", move || {
            let mut t = open_transport(tx_path, tx_encap, &link_a, &tx_opts).expect("open sender");
            tx(t.as_mut());
        })
        .expect("spawn in A");
    sender.join().expect("sender panicked");
    receiver.join().expect("receiver panicked")
}

fn one_way(path: PathKind, encap: Encap) {
    let topo = Topology::create(TopologyOptions::default()).expect("topology");
    let counters: TransportCounters = pair(
        &topo,
        (path, encap, options(None)),
        (path, encap, options(None)),
        send_all,
        |t| {
            recv_all(t);
            t.counters()
        },
    );
    assert_eq!(counters.malformed_frames, 0, "{counters:?}");
    for ep in [topo.a(), topo.b()] {
        assert!(!xdp_attached(ep), "XDP left attached on {}", ep.ifname());
    }
}

#[test]
fn eth_path_eth_encap() {
    require_root!();
    one_way(PathKind::Eth, Encap::Eth);
}

#[test]
fn eth_path_udp_encap() {
    require_root!();
    one_way(PathKind::Eth, Encap::Udp);
}

#[test]
fn xdp_path_eth_encap() {
    require_root!();
    one_way(PathKind::Xdp, Encap::Eth);
}

#[test]
fn xdp_path_udp_encap() {
    require_root!();
    one_way(PathKind::Xdp, Encap::Udp);
}

/// A VLAN-tagged (VID 5, PCP 3) eth send reaches an eth receiver (the kernel strips the tag
/// before AF_PACKET) and an xdp receiver (the XDP program looks behind the tag).
#[test]
fn vlan_tagged_eth_send_is_received() {
    require_root!();
    for rx_path in [PathKind::Eth, PathKind::Xdp] {
        for encap in [Encap::Eth, Encap::Udp] {
            let topo = Topology::create(TopologyOptions::default()).expect("topology");
            pair(
                &topo,
                (PathKind::Eth, encap, options(Some((5, 3)))),
                (rx_path, encap, options(None)),
                send_all,
                recv_all,
            );
        }
    }
}

/// The kernel stack keeps working while the XDP program and the socket are attached:
/// UDP to another port, ARP; frames the program redirects but that do not come from the peer
/// are counted as foreign; nothing stays attached after the transport is dropped.
#[test]
fn xdp_passes_other_traffic_and_counts_foreign_frames() {
    require_root!();
    for encap in [Encap::Eth, Encap::Udp] {
        let topo = Topology::create(TopologyOptions::default()).expect("topology");
        let (link_a, link_b) = (link_of(topo.a()), link_of(topo.b()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let b = topo.b().clone();
        let receiver = topo
            .spawn_in(Side::B, "xdp-rx", move || {
                let mut t = XdpTransport::open(encap, &link_b, &options(None)).expect("open xdp");
                let plain = UdpSocket::bind(SocketAddrV4::new(b.ipv4(), 9999)).expect("bind 9999");
                plain
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                assert!(xdp_attached(&b), "the transport attaches the XDP program");
                ready_tx.send(()).expect("test gone");
                let mut buf = [0u8; 2048];
                let (n, from) = plain
                    .recv_from(&mut buf)
                    .expect("UDP to port 9999 still arrives");
                assert_eq!(&buf[..n], b"not uadp");
                assert_eq!(from.ip(), std::net::IpAddr::V4(b.peer_ipv4()));
                go_rx.recv().expect("test gone");
                // Three frames from a stranger, then one from the peer.
                let n = t.recv(&mut buf).expect("recv").expect("the peer's message");
                codec(64).decode(&buf[..n]).expect("decodes");
                let counters = t.counters();
                let prog = t.program_counters().expect("program counters");
                let stats = t.socket_statistics().expect("socket statistics");
                drop(t);
                (counters, prog, stats.rx_dropped(), xdp_attached(&b))
            })
            .expect("spawn in B");
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver did not open");

        let a = topo.a().clone();
        let sender = topo
            .spawn_in(Side::A, "tx", move || {
                let sock = UdpSocket::bind(SocketAddrV4::new(a.ipv4(), 0)).expect("bind");
                sock.send_to(b"not uadp", SocketAddrV4::new(a.peer_ipv4(), 9999))
                    .expect("send");
                assert!(
                    arp_reply(&a),
                    "ARP request answered by B while XDP is attached"
                );
                go_tx.send(()).expect("receiver gone");
                // A stranger on A's link: other source MAC and IP, same EtherType / port.
                let stranger = LinkInfo {
                    local_mac: [0x02, 0x75, 0x62, 0, 0, 0x99],
                    local_ip: Ipv4Addr::new(198, 18, 0, 99),
                    ..link_a.clone()
                };
                let mut fake =
                    EthTransport::open(encap, &stranger, &options(None)).expect("open eth");
                let mut real =
                    EthTransport::open(encap, &link_a, &options(None)).expect("open eth");
                let c = codec(64);
                let mut msg = [0u8; 64];
                let n = c.encode(&mut msg, 7, 7).expect("encode");
                for _ in 0..3 {
                    fake.send(&msg[..n]).expect("send");
                }
                real.send(&msg[..n]).expect("send");
            })
            .expect("spawn in A");
        sender.join().expect("sender panicked");
        let (counters, prog, rx_dropped, attached_after) =
            receiver.join().expect("receiver panicked");
        eprintln!(
            "{encap}: transport {counters:?}, program {:?}, rx_dropped {rx_dropped}",
            prog.iter().collect::<Vec<_>>()
        );
        assert_eq!(counters.foreign_frames, 3, "{counters:?}");
        assert_eq!(counters.malformed_frames, 0, "{counters:?}");
        assert_eq!(
            prog.redirected(),
            4,
            "3 foreign + 1 benchmark frame redirected"
        );
        // The UDP datagram to 9999 and the ARP request were passed (plus anything else).
        assert!(
            prog.passed_foreign() >= 2,
            "{:?}",
            prog.iter().collect::<Vec<_>>()
        );
        assert_eq!(rx_dropped, 0);
        assert!(
            !attached_after,
            "XDP program still attached after the transport was dropped"
        );
    }
}

/// Sends an ARP request for the peer from `ep`'s namespace and waits for the reply.
fn arp_reply(ep: &Endpoint) -> bool {
    let iface = pnet_datalink::interfaces()
        .into_iter()
        .find(|i| i.name == ep.ifname())
        .expect("interface in A");
    let config = pnet_datalink::Config {
        channel_type: ChannelType::Layer2,
        read_timeout: Some(Duration::from_millis(100)),
        promiscuous: false,
        ..Default::default()
    };
    let Ok(Channel::Ethernet(mut tx, mut rx)) = pnet_datalink::channel(&iface, config) else {
        panic!("pnet channel");
    };
    let mut req = Vec::with_capacity(42);
    req.extend_from_slice(&[0xff; 6]);
    req.extend_from_slice(&ep.mac());
    req.extend_from_slice(&[0x08, 0x06]); // ARP
    req.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet/IPv4, request
    req.extend_from_slice(&ep.mac());
    req.extend_from_slice(&ep.ipv4().octets());
    req.extend_from_slice(&[0; 6]);
    req.extend_from_slice(&ep.peer_ipv4().octets());
    tx.send_to(&req, None)
        .expect("pnet send")
        .expect("send ARP request");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while std::time::Instant::now() < deadline {
        if let Ok(f) = rx.next() {
            if f.len() >= 42
                && f[12..14] == [0x08, 0x06]
                && f[20..22] == [0, 2]
                && f[28..32] == ep.peer_ipv4().octets()
            {
                return true;
            }
        }
    }
    false
}

/// Ping-pong through the timed loops: `reflect` in B, `ping_pong` in A, zero loss.
fn ping_pong_over(path: PathKind, encap: Encap, count: u64, opts: PathOptions) {
    let opts_b = opts.clone();
    let topo = Topology::create(TopologyOptions::default()).expect("topology");
    let stop = Arc::new(AtomicBool::new(false));
    let stop_b = Arc::clone(&stop);
    let (ready_tx, ready_rx) = mpsc::channel();
    let link_b = link_of(topo.b());
    let reflector = topo
        .spawn_in(Side::B, "reflect", move || {
            let mut t = open_transport(path, encap, &link_b, &opts_b).expect("open reflector");
            ready_tx.send(()).expect("test gone");
            reflect(t.as_mut(), &mut codec(64), &stop_b).expect("reflect")
        })
        .expect("spawn in B");
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("reflector did not open");
    let link_a = link_of(topo.a());
    let initiator = topo
        .spawn_in(Side::A, "ping", move || {
            let mut t = open_transport(path, encap, &link_a, &opts).expect("open initiator");
            let cfg = PingPongConfig {
                warmup: 0,
                count,
                timeout: Duration::from_secs(1),
            };
            ping_pong(t.as_mut(), &mut codec(64), &cfg, &AtomicBool::new(false)).expect("ping_pong")
        })
        .expect("spawn in A");
    let r = initiator.join().expect("initiator panicked");
    stop.store(true, Ordering::Relaxed);
    let refl = reflector.join().expect("reflector panicked");
    let mut rtts: Vec<u64> = r
        .round_trips
        .iter()
        .filter_map(|rt| rt.t_recv_ns.map(|t| t - rt.t_send_ns))
        .collect();
    rtts.sort_unstable();
    assert_eq!(rtts.len() as u64, count, "lost round trips: {:?}", r.seq);
    assert_eq!(r.seq.received, count);
    assert_eq!((r.seq.duplicates, r.late), (0, 0));
    assert_eq!(refl.reflected, count);
    assert_eq!(r.rejects.decode_errors + refl.rejects.decode_errors, 0);
    eprintln!(
        "ping-pong {path}/{encap}: {count} round trips, RTT p50 {:.1} us, p99 {:.1} us, max {:.1} us; \
         foreign frames seen: initiator {}, reflector {}",
        rtts[rtts.len() / 2] as f64 / 1e3,
        rtts[rtts.len() * 99 / 100] as f64 / 1e3,
        rtts[rtts.len() - 1] as f64 / 1e3,
        r.transport.foreign_frames,
        refl.transport.foreign_frames,
    );
}

#[test]
fn ping_pong_xdp_udp_encap() {
    require_root!();
    ping_pong_over(PathKind::Xdp, Encap::Udp, 2000, options(None));
}

#[test]
fn ping_pong_xdp_eth_encap() {
    require_root!();
    ping_pong_over(PathKind::Xdp, Encap::Eth, 2000, options(None));
}

#[test]
fn ping_pong_eth_paths() {
    require_root!();
    ping_pong_over(PathKind::Eth, Encap::Eth, 2000, options(None));
    ping_pong_over(PathKind::Eth, Encap::Udp, 2000, options(None));
}

/// `send_batch` on the AF_XDP TX ring (batches larger than the kernel's 32 per kick).
#[test]
fn xdp_send_batch() {
    require_root!();
    let topo = Topology::create(TopologyOptions::default()).expect("topology");
    let opts = PathOptions {
        batch: 64,
        ..options(None)
    };
    pair(
        &topo,
        (PathKind::Xdp, Encap::Udp, opts.clone()),
        (PathKind::Xdp, Encap::Udp, opts),
        |t| {
            for size in SIZES {
                let c = codec(size);
                let msgs: Vec<Vec<u8>> = (0..COUNT)
                    .map(|id| {
                        let mut b = vec![0u8; size];
                        c.encode(&mut b, id, 1000 + id).expect("encode");
                        b
                    })
                    .collect();
                for chunk in msgs.chunks(100) {
                    let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                    assert_eq!(t.send_batch(&refs).expect("send_batch"), refs.len());
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(t.counters().send_dropped, 0);
        },
        recv_all,
    );
}

/// Native (driver-mode) XDP on veth, and busy polling on the RX ring.
#[test]
fn ping_pong_xdp_driver_mode_and_busy_poll() {
    require_root!();
    let drv = PathOptions {
        xdp_driver_mode: true,
        ..options(None)
    };
    ping_pong_over(PathKind::Xdp, Encap::Udp, 2000, drv);
    let busy = PathOptions {
        busy_poll_us: 50,
        ..options(None)
    };
    ping_pong_over(PathKind::Xdp, Encap::Eth, 2000, busy);
}

/// veth has no AF_XDP zero-copy: asking for it gives a working socket in copy mode and a note
/// saying why; a receive queue the interface does not have is a clear error, with nothing left
/// attached.
#[test]
fn xdp_zero_copy_falls_back_to_copy_mode_with_a_note_and_missing_queues_are_refused() {
    require_root!();
    let topo = Topology::create(TopologyOptions::default()).expect("topology");
    let link_b = link_of(topo.b());
    let b = topo.b().clone();
    let (describe, notes, err, attached) = topo
        .spawn_in(Side::B, "zc", move || {
            let opts = PathOptions {
                xdp_zero_copy: true,
                ..options(None)
            };
            let t = XdpTransport::open(Encap::Udp, &link_b, &opts).expect("copy mode");
            let describe = uadpbench_sender::transport::Transport::describe(&t);
            drop(t);
            let missing = PathOptions {
                xdp_queue: 7,
                ..options(None)
            };
            let err = XdpTransport::open(Encap::Udp, &link_b, &missing)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            (describe, opts.notes.snapshot(), err, xdp_attached(&b))
        })
        .expect("spawn in B")
        .join()
        .expect("thread panicked");
    assert!(describe.contains("copy mode"), "{describe}");
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("--xdp-zero-copy") && notes[0].contains("copy mode"),
        "{notes:?}"
    );
    assert!(err.contains("queue"), "{err}");
    assert!(!attached);
}

/// The largest message each raw path announces fits on the wire: MTU-sized UADP over Ethernet
/// (1500 B, 1504 with a tag) and 1472 B over UDP/IPv4, tagged and untagged.
#[test]
fn largest_messages_fit() {
    require_root!();
    let topo = Topology::create(TopologyOptions::default()).expect("topology");
    for path in [PathKind::Eth, PathKind::Xdp] {
        for encap in [Encap::Eth, Encap::Udp] {
            for vlan in [None, Some((5, 3))] {
                let max = match encap {
                    Encap::Eth => 1500,
                    Encap::Udp => 1472,
                };
                pair(
                    &topo,
                    (path, encap, options(vlan)),
                    (path, encap, options(None)),
                    move |t| {
                        assert_eq!(t.max_message_len(), max, "{}", t.describe());
                        let c = codec(max);
                        let mut buf = vec![0u8; max];
                        for id in 0..10 {
                            let n = c.encode(&mut buf, id, id).expect("encode");
                            t.send(&buf[..n]).expect("send");
                        }
                        let too_big = vec![0u8; max + 1];
                        assert!(t.send(&too_big).is_err(), "oversized message refused");
                    },
                    move |t| {
                        let c = codec(max);
                        let mut buf = vec![0u8; 2048];
                        for id in 0..10 {
                            let n = t.recv(&mut buf).expect("recv").unwrap_or_else(|| {
                                panic!("{path}/{encap}/{vlan:?}: message {id} lost")
                            });
                            assert_eq!(c.decode(&buf[..n]).expect("decodes").packet_id, id);
                        }
                    },
                );
            }
        }
    }
}
