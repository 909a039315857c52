//! The timed loops allocate only up front: running them for 2 000 or for 20 000 messages
//! costs the same number of heap allocations, so no message allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_sender::loops::{ping_pong, reflect, PingPongConfig};
use uadpbench_sender::sequence::SeqTracker;
use uadpbench_sender::udp::{UdpOptions, UdpTransport};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! { static COUNT_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) }; }

// SAFETY: forwards to the system allocator; counts only on threads that opted in.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if COUNT_HERE.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if COUNT_HERE.with(|c| c.get()) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// The counter is global: the tests of this file take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn free_port() -> SocketAddrV4 {
    match UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|s| s.local_addr()) {
        Ok(SocketAddr::V4(a)) => a,
        other => panic!("no loopback port: {other:?}"),
    }
}

fn opts(local: SocketAddrV4, peer: SocketAddrV4) -> UdpOptions {
    UdpOptions {
        local,
        peer,
        mtu: 1500,
        connected: true,
        busy_poll_us: 0,
        recv_batch: 1,
        recv_timeout: Duration::from_millis(200),
        socket_buffer_bytes: 0,
        so_timestamping: false,
        hardware_timestamps: false,
        multicast: None,
    }
}

/// Allocations made by the initiator thread during one ping-pong run of `count` messages.
fn allocations_for(count: u64) -> usize {
    let (a, b) = (free_port(), free_port());
    let mut codec = BenchCodec::new(2234, 100, 64).expect("codec");
    let mut codec_b = codec;
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let s2 = std::sync::Arc::clone(&stop);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reflector = std::thread::spawn(move || {
        let mut t = UdpTransport::open(opts(b, a)).expect("reflector socket");
        ready_tx.send(()).expect("ready");
        reflect(&mut t, &mut codec_b, &s2).expect("reflect")
    });
    ready_rx.recv().expect("reflector ready");
    let mut t = UdpTransport::open(opts(a, b)).expect("initiator socket");
    let cfg = PingPongConfig {
        warmup: 10,
        count,
        timeout: Duration::from_millis(500),
    };
    ALLOCS.store(0, Ordering::Relaxed);
    COUNT_HERE.with(|c| c.set(true));
    let r = ping_pong(&mut t, &mut codec, &cfg, &AtomicBool::new(false)).expect("ping-pong");
    COUNT_HERE.with(|c| c.set(false));
    let n = ALLOCS.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    reflector.join().expect("reflector");
    assert_eq!(
        r.round_trips
            .iter()
            .filter(|x| x.t_recv_ns.is_some())
            .count() as u64,
        count,
        "no loss on loopback"
    );
    n
}

#[test]
fn ping_pong_allocates_nothing_per_message() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let small = allocations_for(2_000);
    let large = allocations_for(20_000);
    assert_eq!(
        small, large,
        "allocations grow with the message count: {small} for 2 000, {large} for 20 000"
    );
}

#[test]
fn sequence_tracking_with_capacity_does_not_allocate() {
    let _turn = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let mut t = SeqTracker::with_capacity(100_000);
    ALLOCS.store(0, Ordering::Relaxed);
    COUNT_HERE.with(|c| c.set(true));
    for id in 0..100_000u64 {
        t.observe(id ^ 1);
    }
    COUNT_HERE.with(|c| c.set(false));
    assert_eq!(ALLOCS.load(Ordering::Relaxed), 0);
    assert_eq!(t.stats().received, 100_000);
}
