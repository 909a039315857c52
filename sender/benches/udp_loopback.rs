//! Per-message cost of the udp path's send and receive in isolation, on loopback (no
//! namespaces needed): one send + one receive of a 64-byte benchmark message, and a batch of 32
//! through sendmmsg + recvmmsg.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_sender::transport::Transport;
use uadpbench_sender::udp::{UdpOptions, UdpTransport};

fn port() -> SocketAddrV4 {
    match UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|s| s.local_addr()) {
        Ok(SocketAddr::V4(a)) => a,
        other => panic!("no loopback port: {other:?}"),
    }
}

fn pair(batch: usize) -> (UdpTransport, UdpTransport) {
    let (a, b) = (port(), port());
    let o = |local, peer| UdpOptions {
        local,
        peer,
        mtu: 1500,
        connected: true,
        busy_poll_us: 0,
        recv_batch: batch,
        recv_timeout: Duration::from_millis(100),
        socket_buffer_bytes: 4 << 20,
        so_timestamping: false,
        hardware_timestamps: false,
        multicast: None,
    };
    match (UdpTransport::open(o(a, b)), UdpTransport::open(o(b, a))) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => panic!("loopback sockets: {e}"),
    }
}

fn udp(c: &mut Criterion) {
    let codec = BenchCodec::new(2234, 100, 64).expect("codec");
    let mut msg = [0u8; 64];
    let n = codec.encode(&mut msg, 1, 1).expect("encode");
    let mut rx = [0u8; 2048];

    let mut g = c.benchmark_group("udp_loopback");
    g.throughput(Throughput::Elements(1));
    let (mut a, mut b) = pair(1);
    g.bench_function("send_recv_one_64B", |bch| {
        bch.iter(|| {
            a.send(black_box(&msg[..n])).expect("send");
            b.recv(black_box(&mut rx)).expect("recv")
        })
    });
    let (mut a, mut b) = pair(32);
    let refs = [&msg[..n]; 32];
    g.throughput(Throughput::Elements(32));
    g.bench_function("sendmmsg_recvmmsg_32x64B", |bch| {
        bch.iter(|| {
            a.send_batch(black_box(&refs)).expect("sendmmsg");
            for _ in 0..32 {
                b.recv(&mut rx).expect("recv");
            }
        })
    });
    g.finish();
}

criterion_group!(benches, udp);
criterion_main!(benches);
