//! Integration tests of the fan-out topology: they really create namespaces, a bridge and
//! veth pairs, and need root (as on CI).

use std::net::{SocketAddrV4, UdpSocket};
use std::process::Command;
use std::time::Duration;

use uadpbench_topology::{
    find_leftovers, is_own_link, FanOutTopology, LeftoverKind, TopologyOptions, ADDR_A,
    FANOUT_GROUP, OPCUA_UDP_PORT,
};

fn netns_list() -> String {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("cannot run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every subscriber that joins the group receives every datagram the publisher sends to it,
/// from the publisher's address; nothing is left after the topology is dropped.
#[test]
fn multicast_reaches_every_subscriber_and_nothing_is_left() {
    const SUBSCRIBERS: usize = 3;
    const MESSAGES: u8 = 20;
    let topo = FanOutTopology::create(SUBSCRIBERS, TopologyOptions::default())
        .expect("creating the fan-out topology (root needed)");
    let id = topo.id().to_owned();
    assert_eq!(topo.subscribers().len(), SUBSCRIBERS);
    // Every namespace is ours: the leftover finder sees them, owned by this live process.
    let ours: Vec<_> = find_leftovers()
        .expect("listing leftovers")
        .into_iter()
        .filter(|l| l.kind == LeftoverKind::Netns && l.name.contains(&id))
        .collect();
    assert_eq!(ours.len(), SUBSCRIBERS + 2, "{ours:?}");
    assert!(ours.iter().all(|l| l.owner_alive && l.owner_pid.is_some()));

    let mut receivers = Vec::new();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    for s in topo.subscribers() {
        let (ifname, local) = (s.ifname().to_owned(), s.ipv4());
        let ready = ready_tx.clone();
        receivers.push(
            s.spawn("fanout-rx", move || -> std::io::Result<Vec<u8>> {
                assert!(is_own_link(&ifname), "{ifname} is not recognised as ours");
                let sock = UdpSocket::bind(SocketAddrV4::new(FANOUT_GROUP, OPCUA_UDP_PORT))?;
                sock.join_multicast_v4(&FANOUT_GROUP, &local)?;
                sock.set_read_timeout(Some(Duration::from_secs(2)))?;
                let _ = ready.send(());
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                while got.len() < MESSAGES as usize {
                    let (n, from) = sock.recv_from(&mut buf)?;
                    assert_eq!(from.ip(), std::net::IpAddr::V4(ADDR_A));
                    assert_eq!(n, 1);
                    got.push(buf[0]);
                }
                Ok(got)
            })
            .expect("spawning a subscriber thread"),
        );
    }
    for _ in 0..SUBSCRIBERS {
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a subscriber did not start");
    }
    topo.publisher()
        .spawn("fanout-tx", || -> std::io::Result<()> {
            let sock = UdpSocket::bind(SocketAddrV4::new(ADDR_A, OPCUA_UDP_PORT))?;
            sock.set_multicast_loop_v4(false)?;
            for i in 0..MESSAGES {
                sock.send_to(&[i], SocketAddrV4::new(FANOUT_GROUP, OPCUA_UDP_PORT))?;
            }
            Ok(())
        })
        .expect("spawning the publisher thread")
        .join()
        .expect("publisher panicked")
        .expect("publishing to the group");
    for r in receivers {
        let got = r
            .join()
            .expect("subscriber panicked")
            .expect("a subscriber missed datagrams");
        assert_eq!(got, (0..MESSAGES).collect::<Vec<_>>());
    }
    topo.destroy().expect("removing the fan-out topology");
    let after = netns_list();
    assert!(!after.contains(&id), "namespaces of {id} left:\n{after}");
}

#[test]
fn subscriber_count_is_checked() {
    for n in [0, uadpbench_topology::MAX_SUBSCRIBERS + 1] {
        let e = FanOutTopology::create(n, TopologyOptions::default()).expect_err("refused");
        assert!(e.to_string().contains("choose a count"), "{e}");
    }
}
