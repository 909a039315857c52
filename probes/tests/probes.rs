//! Loads the probes, attaches `net:net_dev_start_xmit` and sees its counter rise when packets go
//! out on loopback. Needs root (skips otherwise).

use std::{
    net::{Ipv4Addr, UdpSocket},
    time::{Duration, Instant},
};

use uadpbench_probes::{embedded_object, ProbeCounter, ProbeSet, TRACEPOINTS};

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn object_is_embedded() {
    let obj = embedded_object();
    assert!(obj.len() > 64, "probes object missing");
    assert_eq!(&obj[..4], b"\x7fELF");
}

#[test]
fn net_dev_start_xmit_counts_loopback_packets() {
    if !is_root() {
        eprintln!("skipping: needs root (loads and attaches a tracepoint program)");
        return;
    }
    let mut probes = ProbeSet::load().expect("load probes");
    assert_eq!(
        probes
            .counter(ProbeCounter::NetDevStartXmit)
            .expect("counter"),
        0
    );
    probes.attach_all().expect("attach probes");
    assert_eq!(probes.attached().count(), TRACEPOINTS.len());
    // Attaching again is a no-op.
    probes.attach_all().expect("attach again");
    assert_eq!(probes.attached().count(), TRACEPOINTS.len());

    let before = probes
        .counter(ProbeCounter::NetDevStartXmit)
        .expect("counter");
    let rx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    rx.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let tx = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    const N: u64 = 10;
    let mut buf = [0u8; 64];
    for i in 0..N {
        tx.send_to(&[i as u8; 8], rx.local_addr().expect("addr"))
            .expect("send");
        rx.recv(&mut buf).expect("loopback datagram");
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut after = probes
        .counter(ProbeCounter::NetDevStartXmit)
        .expect("counter");
    while after < before + N && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        after = probes
            .counter(ProbeCounter::NetDevStartXmit)
            .expect("counter");
    }
    assert!(
        after >= before + N,
        "net_dev_start_xmit ran {} times for {N} loopback datagrams",
        after - before
    );
    drop(probes);
}
