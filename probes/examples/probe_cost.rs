//! Measures what the per-layer probes cost (`BPF_ENABLE_STATS`: run count and run time of each
//! program) while benchmark messages go over UDP from namespace A to namespace B.
//!
//! ```text
//! sudo target/debug/examples/probe_cost [--count N] [--pace-us US] [--probes all|none|LIST]
//!                                       [--deny MECH,MECH] [--size BYTES]
//! ```
//!
//! `--pace-us 0` sends back to back (hot caches); a pace of tens of µs leaves the CPU idle
//! between packets, as a latency benchmark does (cold caches).

use std::{
    net::{SocketAddr, UdpSocket},
    thread,
    time::{Duration, Instant},
};

use uadpbench_probes::{Mechanism, ProbeConfig, ProbePath, ProbeSession, Selection};
use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_topology::{Side, Topology, ADDR_A, ADDR_B};

struct Args {
    count: u64,
    pace_us: u64,
    size: usize,
    selection: Selection,
    deny: Vec<Mechanism>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        count: 20_000,
        pace_us: 0,
        size: 64,
        selection: Selection::All,
        deny: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--count" => a.count = value()?.parse().map_err(|e| format!("--count: {e}"))?,
            "--pace-us" => a.pace_us = value()?.parse().map_err(|e| format!("--pace-us: {e}"))?,
            "--size" => a.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--probes" => a.selection = value()?.parse()?,
            "--deny" => {
                a.deny = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("probe_cost: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args) {
        eprintln!("probe_cost: {e}");
        let mut src = e.source();
        while let Some(s) = src {
            eprintln!("  caused by: {s}");
            src = s.source();
        }
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let topo = Topology::create(Default::default())?;
    let publisher_id = (std::process::id() as u16) | 0x8000;
    let mut cfg = ProbeConfig::new(ProbePath::Udp);
    cfg.selection = args.selection.clone();
    cfg.deny = args.deny.clone();
    cfg.publisher_id = publisher_id;
    cfg.netns = vec![
        topo.a().netns_path().to_path_buf(),
        topo.b().netns_path().to_path_buf(),
    ];
    cfg.slots = (args.count.next_power_of_two().clamp(2, 1 << 20)) as u32;
    let session = ProbeSession::start(cfg)?;
    for l in session.layers() {
        println!("# {:<24} {}", l.name, l.outcome);
    }

    let n = args.count;
    let size = args.size;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = topo.spawn_in(Side::B, "cost-rx", move || {
        let sock = UdpSocket::bind((ADDR_B, 4840)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        ready_tx.send(()).expect("ready");
        let mut buf = [0u8; 9000];
        let mut got = 0u64;
        while got < n && sock.recv(&mut buf).is_ok() {
            got += 1;
        }
        got
    })?;
    ready_rx.recv_timeout(Duration::from_secs(5))?;
    let pace = Duration::from_micros(args.pace_us);
    let sender = topo.spawn_in(Side::A, "cost-tx", move || {
        let codec = BenchCodec::new(publisher_id, 100, size).expect("codec");
        let sock = UdpSocket::bind((ADDR_A, 0)).expect("bind");
        sock.connect(SocketAddr::from((ADDR_B, 4840)))
            .expect("connect");
        let mut buf = vec![0u8; size];
        let start = Instant::now();
        for id in 0..n {
            let len = codec.encode(&mut buf, id, 0).expect("encode");
            let _ = sock.send(&buf[..len]);
            if !pace.is_zero() {
                thread::sleep(pace);
            }
        }
        start.elapsed()
    })?;
    let elapsed = sender.join().map_err(|_| "sender panicked")?;
    let received = receiver.join().map_err(|_| "receiver panicked")?;
    let report = session.finish()?;

    println!(
        "# sent {n} ({size} B UADP, pace {} us) in {:.1} ms, received {received}, events {}",
        args.pace_us,
        elapsed.as_secs_f64() * 1e3,
        report.events.len()
    );
    println!("program,mechanism,role,run_count,run_time_ns,ns_per_run,missed_runs,recorded,lost");
    let mut per_run = Vec::new();
    for c in &report.program_costs {
        println!(
            "{},{},{},{},{},{},{},{},{}",
            c.program,
            c.mechanism,
            c.role,
            c.run_count,
            c.run_time_ns,
            c.ns_per_run.map_or(String::new(), |v| format!("{v:.1}")),
            c.missed_runs,
            c.events_recorded,
            c.events_lost
        );
        if let Some(v) = c.ns_per_run {
            per_run.push(v);
        }
    }
    per_run.sort_by(f64::total_cmp);
    if !per_run.is_empty() {
        println!(
            "# median ns/run over {} programs: {:.1} (min {:.1}, max {:.1})",
            per_run.len(),
            per_run[per_run.len() / 2],
            per_run[0],
            per_run[per_run.len() - 1]
        );
    }
    for l in &report.lost_per_layer {
        if l.lost() + l.maybe_lost() > 0 {
            println!("# loss {l:?}");
        }
    }
    topo.destroy()?;
    Ok(())
}
