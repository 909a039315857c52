//! Integration tests: these really create network namespaces and need root (as on CI).

use std::net::{SocketAddr, UdpSocket};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::time::Duration;

use uadpbench_topology::{
    current_netns, find_leftovers, netns_id, remove_leftovers, LeftoverKind, LeftoverScope, Side,
    Topology, TopologyOptions, ADDR_A, ADDR_B, IFNAME_MAX, MAC_A, MAC_B, NETNS_DIR, OPCUA_UDP_PORT,
};

fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names (netns and links) of a topology, to check for after it is gone.
fn names_of(t: &Topology) -> Vec<String> {
    vec![
        t.a().netns().to_owned(),
        t.b().netns().to_owned(),
        t.a().ifname().to_owned(),
        t.b().ifname().to_owned(),
    ]
}

fn assert_gone(names: &[String], id: &str) {
    let netns = sh("ip", &["netns", "list"]);
    let links = sh("ip", &["-o", "link", "show"]);
    for n in names {
        assert!(
            !netns.contains(n.as_str()),
            "netns {n} still listed:\n{netns}"
        );
        assert!(
            !links.contains(n.as_str()),
            "link {n} still in root ns:\n{links}"
        );
    }
    assert!(
        !netns.contains(id),
        "id {id} still in `ip netns list`:\n{netns}"
    );
    assert!(!links.contains(id), "id {id} still in `ip link`:\n{links}");
    for n in &names[..2] {
        assert!(!std::path::Path::new(NETNS_DIR).join(n).exists());
    }
}

/// Receive `count` datagrams in B, sent from A; returns (payload, source) pairs.
fn exchange(t: &Topology, tag: &str, count: usize, size: usize) -> Vec<(Vec<u8>, SocketAddr)> {
    let dst = SocketAddr::from((t.b().ipv4(), OPCUA_UDP_PORT));
    let (ready_tx, ready_rx) = mpsc::channel();
    let rx = t
        .b()
        .spawn(
            format!("rx-{tag}"),
            move || -> std::io::Result<Vec<(Vec<u8>, SocketAddr)>> {
                let sock = UdpSocket::bind(dst)?;
                sock.set_read_timeout(Some(Duration::from_secs(5)))?;
                ready_tx.send(()).expect("test thread gone");
                let mut buf = vec![0u8; 65536];
                let mut got = Vec::new();
                for _ in 0..count {
                    let (n, from) = sock.recv_from(&mut buf)?;
                    got.push((buf[..n].to_vec(), from));
                }
                Ok(got)
            },
        )
        .expect("spawn receiver in B");
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("receiver did not bind");
    let tag = tag.to_owned();
    let tx = t
        .a()
        .spawn("tx", move || -> std::io::Result<()> {
            let sock = UdpSocket::bind((ADDR_A, 0))?;
            for i in 0..count {
                let mut msg = format!("{tag}:{i}:").into_bytes();
                msg.resize(size.max(msg.len()), b'x');
                let sent = sock.send_to(&msg, dst)?;
                assert_eq!(sent, msg.len());
            }
            Ok(())
        })
        .expect("spawn sender in A");
    tx.join().expect("sender panicked").expect("send failed");
    rx.join()
        .expect("receiver panicked")
        .expect("receive failed")
}

fn check_exchange(got: &[(Vec<u8>, SocketAddr)], tag: &str, size: usize) {
    assert_eq!(got.len(), 8);
    for (i, (payload, from)) in got.iter().enumerate() {
        let prefix = format!("{tag}:{i}:");
        assert!(
            payload.starts_with(prefix.as_bytes()),
            "datagram {i}: {payload:?}"
        );
        assert_eq!(payload.len(), size.max(prefix.len()));
        assert_eq!(from.ip(), ADDR_A);
    }
}

#[test]
fn udp_from_a_to_b_and_nothing_left_after_drop() {
    let t = Topology::create(TopologyOptions::default()).expect("create topology");
    let (a, b) = (t.a(), t.b());
    assert_eq!((a.side(), b.side()), (Side::A, Side::B));
    assert_eq!((a.ipv4(), b.ipv4(), a.prefix_len()), (ADDR_A, ADDR_B, 24));
    assert_eq!((a.mac(), b.mac()), (MAC_A, MAC_B));
    assert_eq!((a.peer_mac(), b.peer_ipv4()), (MAC_B, ADDR_A));
    assert_eq!((a.mtu(), b.mtu()), (1500, 1500));
    assert!(a.ifindex() > 1 && b.ifindex() > 1);
    assert!(a.ifname().len() <= IFNAME_MAX && b.ifname().len() <= IFNAME_MAX);
    assert_eq!(
        a.netns_path(),
        std::path::Path::new(NETNS_DIR).join(a.netns())
    );
    assert!(a.netns().starts_with("uadpbench-") && a.netns().contains(t.id()));

    // What iproute2 sees inside the namespaces.
    let link_a = sh(
        "ip",
        &["-n", a.netns(), "-o", "link", "show", "dev", a.ifname()],
    );
    assert!(
        link_a.contains("02:75:62:00:00:01") && link_a.contains("mtu 1500"),
        "{link_a}"
    );
    assert!(
        link_a.starts_with(&format!("{}: ", a.ifindex())),
        "{link_a}"
    );
    let neigh_a = sh("ip", &["-n", a.netns(), "neigh", "show", "dev", a.ifname()]);
    assert!(
        neigh_a.contains("198.18.0.2 lladdr 02:75:62:00:00:02 PERMANENT"),
        "{neigh_a}"
    );
    let neigh_b = sh("ip", &["-n", b.netns(), "neigh", "show", "dev", b.ifname()]);
    assert!(
        neigh_b.contains("198.18.0.1 lladdr 02:75:62:00:00:01 PERMANENT"),
        "{neigh_b}"
    );
    let addr_b = sh("ip", &["-n", b.netns(), "addr", "show", "dev", b.ifname()]);
    assert!(addr_b.contains("inet 198.18.0.2/24"), "{addr_b}");
    assert!(!addr_b.contains("inet6"), "IPv6 should be off:\n{addr_b}");
    assert!(addr_b.contains("state UP"), "veth should be up:\n{addr_b}");
    for ep in [a, b] {
        let sysctl = format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", ep.ifname());
        let v = sh("ip", &["netns", "exec", ep.netns(), "cat", &sysctl]);
        assert_eq!(v.trim(), "1", "{sysctl} in {}", ep.netns());
        let lo = sh("ip", &["-n", ep.netns(), "-o", "link", "show", "dev", "lo"]);
        assert!(lo.contains("LOOPBACK,UP"), "lo should be up: {lo}");
    }
    // The veth never shows up in the root namespace.
    let root_links = sh("ip", &["-o", "link", "show"]);
    assert!(!root_links.contains(t.id()), "{root_links}");

    let got = exchange(&t, "hello", 8, 64);
    check_exchange(&got, "hello", 64);

    let (names, id) = (names_of(&t), t.id().to_owned());
    drop(t);
    assert_gone(&names, &id);
}

#[test]
fn panic_while_topology_exists_still_cleans_up() {
    let seen: Mutex<Option<(Vec<String>, String)>> = Mutex::new(None);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let t = Topology::create(TopologyOptions::default()).expect("create topology");
        *seen.lock().expect("poisoned") = Some((names_of(&t), t.id().to_owned()));
        let netns = sh("ip", &["netns", "list"]);
        assert!(netns.contains(t.a().netns()) && netns.contains(t.b().netns()));
        panic!("deliberate panic with topology {} alive", t.id());
    }));
    assert!(result.is_err(), "the closure should have panicked");
    let (names, id) = seen
        .into_inner()
        .expect("poisoned")
        .expect("topology was created");
    assert_gone(&names, &id);
}

#[test]
fn two_topologies_in_parallel_threads_do_not_collide() {
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|tag| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let t = Topology::create(TopologyOptions::default()).expect("create topology");
                // Both exist at the same time from here on.
                barrier.wait();
                let got = exchange(&t, tag, 8, 100);
                check_exchange(&got, tag, 100);
                barrier.wait();
                let info = (names_of(&t), t.id().to_owned());
                t.destroy().expect("destroy");
                info
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("topology thread panicked"))
        .collect();
    assert_ne!(results[0].1, results[1].1, "ids must differ");
    for (names, id) in &results {
        assert_gone(names, id);
    }
}

#[test]
fn enter_guard_moves_only_this_thread_and_restores() {
    let t = Topology::create(TopologyOptions::default()).expect("create topology");
    let root = current_netns().expect("own netns");
    let ns_a = netns_id(t.a().netns_path()).expect("netns id of A");
    assert_ne!(root, ns_a);
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let other = std::thread::spawn(move || {
        go_rx.recv().expect("recv");
        current_netns()
    });
    {
        let _guard = t.a().enter().expect("enter A");
        assert_eq!(current_netns().expect("own netns"), ns_a);
        // A thread that already existed is not affected...
        go_tx.send(()).expect("send");
        let other = other.join().expect("thread panicked").expect("netns");
        assert_eq!(other, root);
        // ...but a thread spawned now inherits the namespace of its creator.
        let child = std::thread::spawn(current_netns)
            .join()
            .expect("thread panicked")
            .expect("netns");
        assert_eq!(child, ns_a);
        let idx = nix::net::if_::if_nametoindex(t.a().ifname()).expect("ifindex inside A");
        assert_eq!(idx, t.a().ifindex());
        // A socket created here belongs to A: it can bind A's address.
        UdpSocket::bind((ADDR_A, 0)).expect("bind 198.18.0.1 inside A");
    }
    assert_eq!(current_netns().expect("own netns"), root);
    assert!(
        UdpSocket::bind((ADDR_A, 0)).is_err(),
        "198.18.0.1 must not exist in the root ns"
    );

    let guard = t.b().enter().expect("enter B");
    assert_eq!(
        current_netns().expect("own netns"),
        netns_id(t.b().netns_path()).expect("id")
    );
    guard.restore().expect("restore");
    assert_eq!(current_netns().expect("own netns"), root);

    let in_b = t
        .spawn_in(Side::B, "probe", current_netns)
        .expect("spawn in B")
        .join()
        .expect("thread panicked")
        .expect("netns");
    assert_eq!(in_b, netns_id(t.b().netns_path()).expect("id"));
}

#[test]
fn spawn_in_missing_namespace_is_an_error() {
    let err = uadpbench_topology::spawn_in("/var/run/netns/uadpbench-does-not-exist", "x", || ())
        .expect_err("must fail");
    assert!(err.to_string().contains("ip netns list"), "{err}");
}

#[test]
fn jumbo_mtu_and_offloads_off() {
    let opts = TopologyOptions {
        mtu: 9000,
        disable_offloads: true,
        ..Default::default()
    };
    let t = Topology::create(opts).expect("create topology");
    let link = sh(
        "ip",
        &[
            "-n",
            t.b().netns(),
            "-o",
            "link",
            "show",
            "dev",
            t.b().ifname(),
        ],
    );
    assert!(link.contains("mtu 9000"), "{link}");
    let features = sh(
        "ip",
        &[
            "netns",
            "exec",
            t.a().netns(),
            "ethtool",
            "-k",
            t.a().ifname(),
        ],
    );
    assert!(features.contains("tx-checksumming: off"), "{features}");
    assert!(
        features.contains("generic-segmentation-offload: off"),
        "{features}"
    );
    let got = exchange(&t, "jumbo", 8, 8000);
    check_exchange(&got, "jumbo", 8000);
    let (names, id) = (names_of(&t), t.id().to_owned());
    t.destroy().expect("destroy");
    assert_gone(&names, &id);
}

#[test]
fn invalid_mtu_is_rejected_before_anything_is_created() {
    let err = Topology::create(TopologyOptions {
        mtu: 20,
        ..Default::default()
    })
    .expect_err("mtu 20 must be rejected");
    assert!(err.to_string().contains("68..=65535"), "{err}");
}

#[test]
fn leftovers_are_found_and_only_orphans_removed() {
    let t = Topology::create(TopologyOptions::default()).expect("create topology");

    // A namespace named like ours whose owner process is gone.
    let mut child = Command::new("true").spawn().expect("spawn true");
    let dead_pid = child.id();
    child.wait().expect("wait");
    let orphan = format!("uadpbench-{dead_pid:07x}00000-a");
    sh("ip", &["netns", "add", &orphan]);

    let found = find_leftovers().expect("find leftovers");
    let mine = found
        .iter()
        .find(|l| l.name == t.a().netns())
        .expect("own namespace listed");
    assert_eq!(mine.kind, LeftoverKind::Netns);
    assert_eq!(mine.owner_pid, Some(std::process::id()));
    assert!(!mine.is_orphaned());
    // Another test process running the same test may remove our orphan at any moment (that is
    // what orphans are for), so only check it when it is still there.
    if let Some(theirs) = found.iter().find(|l| l.name == orphan) {
        assert_eq!(theirs.owner_pid, Some(dead_pid));
        assert!(theirs.is_orphaned(), "{theirs}");
    }

    let removed = remove_leftovers(LeftoverScope::Orphaned).expect("remove orphans");
    assert!(!removed
        .iter()
        .any(|l| l.owner_pid == Some(std::process::id())));
    let netns = sh("ip", &["netns", "list"]);
    assert!(!netns.contains(&orphan), "{netns}");
    assert!(
        netns.contains(t.a().netns()),
        "live topology must survive: {netns}"
    );
    // And it still works.
    check_exchange(&exchange(&t, "after", 8, 32), "after", 32);
}

/// The interface guard goes by the namespace, not the name: a veth named like uadpbench's in a
/// namespace uadpbench did not create is foreign; the same name inside a topology is its own.
#[test]
fn a_lookalike_veth_in_a_foreign_namespace_is_not_own() {
    let t = Topology::create(TopologyOptions::default()).expect("topology");
    let own = t.a().ifname().to_owned();
    let in_topology = t
        .spawn_in(Side::A, "guard", move || {
            (
                uadpbench_topology::is_own_link(&own),
                uadpbench_topology::in_own_namespace(),
            )
        })
        .expect("spawn")
        .join()
        .expect("join");
    assert_eq!(in_topology, (true, true));
    // The root namespace is not uadpbench's, whatever the name.
    assert!(!uadpbench_topology::in_own_namespace());
    assert!(!uadpbench_topology::is_own_link(t.a().ifname()));

    // A foreign namespace holding a veth with an uadpbench-style name.
    let ns = format!("ubforeign{}", std::process::id());
    let lookalike = "ub000123400000a";
    sh("ip", &["netns", "add", &ns]);
    let result = std::panic::catch_unwind(|| {
        sh(
            "ip",
            &[
                "-n", &ns, "link", "add", lookalike, "type", "veth", "peer", "name", "ubpeer0",
            ],
        );
        let path = std::path::PathBuf::from(NETNS_DIR).join(&ns);
        uadpbench_topology::spawn_in(&path, "foreign", move || {
            (
                uadpbench_topology::is_own_link(lookalike),
                uadpbench_topology::in_own_namespace(),
            )
        })
        .expect("spawn in the foreign namespace")
        .join()
        .expect("join")
    });
    sh("ip", &["netns", "del", &ns]);
    assert_eq!(result.expect("foreign check"), (false, false));
}
