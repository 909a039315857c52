//! Cost of the harness's own per-sample work: statistics over a run's samples, sequence
//! accounting per received message, and the benchmark message encode/decode.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use uadpbench::stats::Summary;
use uadpbench_sender::bench_message::BenchCodec;
use uadpbench_sender::sequence::SeqTracker;

fn harness(c: &mut Criterion) {
    // Latencies with a realistic spread (5–50 µs), deterministic.
    let values: Vec<u64> = (0..100_000u64)
        .map(|i| 5_000 + (i * 7919) % 45_000)
        .collect();
    let mut g = c.benchmark_group("statistics");
    g.throughput(Throughput::Elements(values.len() as u64));
    g.bench_function("summary_of_100k_samples", |b| {
        b.iter(|| Summary::of(black_box(&values).iter().copied()))
    });
    g.finish();

    let mut g = c.benchmark_group("sequence");
    g.throughput(Throughput::Elements(1));
    g.bench_function("observe_in_order", |b| {
        b.iter_batched_ref(
            || (SeqTracker::with_capacity(1 << 20), 0u64),
            |(t, id)| {
                *id += 1;
                t.observe(black_box(*id))
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("bench_message");
    for len in [64usize, 1400] {
        let codec = BenchCodec::new(2234, 100, len).expect("codec");
        let mut buf = vec![0u8; len];
        let n = codec.encode(&mut buf, 1, 2).expect("encode");
        let msg = buf[..n].to_vec();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("encode_{len}B"), |b| {
            b.iter(|| codec.encode(black_box(&mut buf), black_box(7), black_box(9)))
        });
        g.bench_function(format!("decode_{len}B"), |b| {
            b.iter(|| codec.decode(black_box(&msg)))
        });
    }
    g.finish();
}

criterion_group!(benches, harness);
criterion_main!(benches);
