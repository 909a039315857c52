//! Encode/decode cost of a 64-byte and a 1400-byte UADP message (Periodic-Fixed RawData layout),
//! through the generic NetworkMessage codec and the Periodic-Fixed fast path.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use uadp::{BuiltinType, NetworkMessage, PeriodicFixedCounters, PeriodicFixedLayout, Scalar};

/// A Periodic-Fixed layout of `n` UInt64 fields: 20 header bytes + 8 n.
fn layout(fields: &[BuiltinType]) -> PeriodicFixedLayout<'_> {
    PeriodicFixedLayout {
        publisher_id: 2234,
        writer_group_id: 100,
        group_version: 0x1234_5678,
        fields,
    }
}

fn bench_size(c: &mut Criterion, total: usize) {
    // UInt64 fields, then one UInt32 to land exactly on `total` bytes (both sizes are 4 mod 8).
    let n = (total - PeriodicFixedLayout::HEADER_LEN - 4) / 8;
    let mut types = vec![BuiltinType::UInt64; n];
    types.push(BuiltinType::UInt32);
    let mut values: Vec<Scalar<'_>> = (0..n as u64).map(Scalar::UInt64).collect();
    values.push(Scalar::UInt32(7));
    let l = layout(&types);
    let counters = PeriodicFixedCounters {
        network_message_number: 1,
        sequence_number: 7,
        dataset_sequence_number: 7,
        status: 0,
    };
    let mut buf = vec![0u8; 2048];
    let len = match l.encode(&mut buf, counters, &values) {
        Ok(len) => len,
        Err(e) => panic!("benchmark setup: {e}"),
    };
    assert_eq!(len, total, "benchmark message size");
    let bytes = buf[..len].to_vec();
    let options = uadp::DecodeOptions {
        raw_layout: Some(&types),
        ..Default::default()
    };

    let mut g = c.benchmark_group(format!("uadp_{len}B"));
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("periodic_fixed_encode", |b| {
        b.iter(|| l.encode(black_box(&mut buf), black_box(counters), black_box(&values)))
    });
    g.bench_function("periodic_fixed_decode", |b| {
        b.iter(|| l.decode(black_box(&bytes)))
    });
    g.bench_function("network_message_decode", |b| {
        b.iter(|| {
            NetworkMessage::decode_with(black_box(&bytes), black_box(&options)).map(|m| m.padding)
        })
    });
    let msg = l.to_message(counters, &bytes[PeriodicFixedLayout::HEADER_LEN..]);
    g.bench_function("network_message_encode", |b| {
        b.iter(|| black_box(&msg).encode(black_box(&mut buf)))
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    bench_size(c, 64);
    bench_size(c, 1400);
}

criterion_group!(benches, codec);
criterion_main!(benches);
