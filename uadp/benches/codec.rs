//! Codec cost per message, one benchmark per row of docs/performance.md's codec table:
//!
//! - 64 B and 1400 B RawData messages of the Periodic-Fixed layout (UInt64 fields and one UInt32,
//!   20 header bytes): encode from typed values and decode + read every field value, through the
//!   general API (`FieldsWriter` + `NetworkMessage::encode`; `NetworkMessageView` +
//!   `values()`/`raw_values()`; the older `NetworkMessage::decode_with` + `fields()` for
//!   comparison) and through the Periodic-Fixed path (`PeriodicFixedCodec`, and the per-call
//!   `PeriodicFixedLayout` methods);
//! - the 55-byte SDK-tutorial message (open62541 vector V2: four Variant fields): decode + values
//!   and encode from typed values;
//! - the codec part of `uadpbench subscribe`'s per-message work over a recorded stream.
//!
//! "Read every field value" means every value is decoded into a `Scalar` (or `Field`) whose bits
//! are folded into a checksum that goes to `black_box`, for every API alike.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use uadp::{
    BuiltinType, DataSetMessage, DateTime, DecodeOptions, FieldEncoding, FieldValue, FieldsWriter,
    NetworkMessage, NetworkMessageView, Payload, PeriodicFixedCounters, PeriodicFixedLayout,
    PublisherId, Scalar, Variant,
};

/// The Periodic-Fixed identities of every benchmark message.
fn layout(fields: &[BuiltinType]) -> PeriodicFixedLayout<'_> {
    PeriodicFixedLayout {
        publisher_id: 2234,
        writer_group_id: 100,
        group_version: 0x1234_5678,
        fields,
    }
}

const COUNTERS: PeriodicFixedCounters = PeriodicFixedCounters {
    network_message_number: 1,
    sequence_number: 7,
    dataset_sequence_number: 7,
    status: 0,
};

/// The bits of a value, folded into a checksum: how the benchmarks "read" every value.
#[inline(always)]
fn bits(s: Scalar<'_>) -> u64 {
    match s {
        Scalar::Boolean(v) => u64::from(v),
        Scalar::SByte(v) => v as u64,
        Scalar::Byte(v) => u64::from(v),
        Scalar::Int16(v) => v as u64,
        Scalar::UInt16(v) => u64::from(v),
        Scalar::Int32(v) => v as u64,
        Scalar::UInt32(v) => u64::from(v),
        Scalar::Int64(v) => v as u64,
        Scalar::UInt64(v) => v,
        Scalar::Float(v) => u64::from(v.to_bits()),
        Scalar::Double(v) => v.to_bits(),
        Scalar::String(b) | Scalar::ByteString(b) | Scalar::XmlElement(b) => {
            b.0.map_or(u64::MAX, |b| b.len() as u64)
        }
        Scalar::DateTime(v) => v.0 as u64,
        Scalar::Guid(g) => u64::from(g.data1),
        Scalar::StatusCode(v) => u64::from(v.0),
    }
}

#[inline(always)]
fn fold(acc: u64, s: Scalar<'_>) -> u64 {
    acc.rotate_left(7) ^ bits(s)
}

/// Reads one decoded field value: its scalar goes into the checksum.
#[inline(always)]
fn fold_value(acc: u64, v: FieldValue<'_>) -> u64 {
    match v {
        FieldValue::Raw(s) | FieldValue::Variant(Variant::Scalar(s)) => fold(acc, s),
        _ => acc.wrapping_add(1),
    }
}

/// `n` UInt64 fields then one UInt32: 20 + 8 n + 4 bytes.
fn raw_types(total: usize) -> Vec<BuiltinType> {
    let n = (total - PeriodicFixedLayout::HEADER_LEN - 4) / 8;
    let mut types = vec![BuiltinType::UInt64; n];
    types.push(BuiltinType::UInt32);
    types
}

fn raw_values(types: &[BuiltinType]) -> Vec<Scalar<'static>> {
    types
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            BuiltinType::UInt64 => Scalar::UInt64(i as u64 * 0x0101_0101),
            _ => Scalar::UInt32(7),
        })
        .collect()
}

/// The general API's message for `fields` (the Periodic-Fixed headers, one RawData key frame).
fn general_message<'a>(l: &PeriodicFixedLayout<'_>, fields: &'a [u8]) -> NetworkMessage<'a> {
    l.to_message(COUNTERS, fields)
}

fn bench_raw(c: &mut Criterion, total: usize) {
    let types = raw_types(total);
    let values = raw_values(&types);
    let l = layout(&types);
    let codec = l.prepare();
    let mut buf = vec![0u8; 2048];
    let len = match codec.encode(&mut buf, COUNTERS, &values) {
        Ok(len) => len,
        Err(e) => panic!("benchmark setup: {e}"),
    };
    assert_eq!(len, total, "benchmark message size");
    let bytes = buf[..len].to_vec();
    let options = DecodeOptions {
        raw_layout: Some(&types),
        ..Default::default()
    };
    let field_values: Vec<FieldValue<'_>> = values.iter().map(|v| FieldValue::Raw(*v)).collect();
    let mut scratch = vec![0u8; 2048];

    // Every path reads back what was encoded.
    let view = NetworkMessageView::decode(&bytes, &options).expect("view decodes");
    let d = view.dataset_messages().next().expect("one DataSetMessage");
    assert!(d.raw_values().eq(values.iter().copied()));
    assert_eq!(d.values().count(), values.len());
    let m = codec.decode(&bytes).expect("Periodic-Fixed decodes");
    assert!(codec.values(&m).eq(values.iter().copied()));

    let mut g = c.benchmark_group(format!("uadp_{len}B"));
    g.throughput(Throughput::Bytes(len as u64));

    // Encode from typed values.
    g.bench_function("periodic_fixed_encode", |b| {
        b.iter(|| codec.encode(black_box(&mut buf), black_box(COUNTERS), black_box(&values)))
    });
    g.bench_function("periodic_fixed_encode_unprepared", |b| {
        b.iter(|| l.encode(black_box(&mut buf), black_box(COUNTERS), black_box(&values)))
    });
    // A template message (headers, DataSetMessage header) built once; the counters are
    // updated in place and the values written straight into the output.
    let mut template = general_message(&l, &[]);
    let mut seq = 0u16;
    let mut check = vec![0u8; 2048];
    let n = template
        .encode_with_fields(&mut check, |_, w| w.push_raw_values(&values).map(drop))
        .expect("template encode");
    assert_eq!(check[..n], bytes[..], "encode_with_fields");
    g.bench_function("general_encode", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            if let Some(g) = template.group_header.as_mut() {
                g.sequence_number = Some(seq);
            }
            template.encode_with_fields(black_box(&mut buf), |_, w| {
                w.push_raw_values(black_box(&values)).map(drop)
            })
        })
    });
    g.bench_function("general_encode_build_message", |b| {
        b.iter(|| {
            let mut w = FieldsWriter::new(&mut scratch, FieldEncoding::RawData);
            w.push_raw_values(black_box(&values))?;
            let f = w.finish()?;
            general_message(&l, f.bytes).encode(black_box(&mut buf))
        })
    });
    g.bench_function("general_encode_push_each", |b| {
        b.iter(|| {
            let mut w = FieldsWriter::new(&mut scratch, FieldEncoding::RawData);
            for v in black_box(&field_values) {
                w.push(v)?;
            }
            let f = w.finish()?;
            general_message(&l, f.bytes).encode(black_box(&mut buf))
        })
    });
    let pre = general_message(&l, &bytes[PeriodicFixedLayout::HEADER_LEN..]);
    g.bench_function("general_encode_preencoded_fields", |b| {
        b.iter(|| black_box(&pre).encode(black_box(&mut buf)))
    });

    // Decode + read every field value.
    g.bench_function("periodic_fixed_decode", |b| {
        b.iter(|| codec.decode(black_box(&bytes)))
    });
    g.bench_function("periodic_fixed_decode_unprepared", |b| {
        b.iter(|| l.decode(black_box(&bytes)))
    });
    g.bench_function("periodic_fixed_decode_values", |b| {
        b.iter(|| {
            let m = codec.decode(black_box(&bytes))?;
            let mut acc = u64::from(m.counters.sequence_number);
            for v in codec.values(&m) {
                acc = fold(acc, v);
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    g.bench_function("view_decode", |b| {
        b.iter(|| {
            NetworkMessageView::decode(black_box(&bytes), black_box(&options)).map(|m| m.padding())
        })
    });
    g.bench_function("view_decode_values", |b| {
        b.iter(|| {
            let m = NetworkMessageView::decode(black_box(&bytes), black_box(&options))?;
            let mut acc = 0;
            for d in m.dataset_messages() {
                for f in d.values() {
                    acc = fold_value(acc, f.value);
                }
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    g.bench_function("view_decode_values_fold", |b| {
        b.iter(|| {
            let m = NetworkMessageView::decode(black_box(&bytes), black_box(&options))?;
            let mut acc = 0;
            for d in m.dataset_messages() {
                acc = d.values().fold(acc, |acc, f| fold_value(acc, f.value));
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    g.bench_function("view_decode_raw_values", |b| {
        b.iter(|| {
            let m = NetworkMessageView::decode(black_box(&bytes), black_box(&options))?;
            let mut acc = 0;
            for d in m.dataset_messages() {
                for v in d.raw_values() {
                    acc = fold(acc, v);
                }
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    g.bench_function("network_message_decode", |b| {
        b.iter(|| {
            NetworkMessage::decode_with(black_box(&bytes), black_box(&options)).map(|m| m.padding)
        })
    });
    g.bench_function("network_message_decode_fields", |b| {
        b.iter(|| {
            let m = NetworkMessage::decode_with(black_box(&bytes), black_box(&options))?;
            let mut acc = 0;
            for d in m.dataset_messages() {
                for f in d.fields(Some(&types)) {
                    acc = fold_value(acc, f?.value);
                }
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    g.finish();
}

/// open62541 vector V2 (the SDK tutorial's publisher message): four Variant fields.
const TUTORIAL: [u8; 55] = [
    0xf1, 0x01, 0xba, 0x08, 0x01, 0x64, 0x00, 0x01, 0x4d, 0xf4, 0xe1, 0x10, 0x00, 0xc0, 0x89, 0x76,
    0x45, 0x3c, 0xda, 0x01, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x0d, 0x00,
    0xc0, 0x89, 0x76, 0x45, 0x3c, 0xda, 0x01, 0x06, 0xd6, 0xff, 0xff, 0xff, 0x08, 0xcb, 0x04, 0xfb,
    0x71, 0x1f, 0x01, 0x00, 0x00, 0x01, 0x01,
];

fn bench_tutorial(c: &mut Criterion) {
    let bytes = TUTORIAL;
    let options = DecodeOptions::default();
    let reference = NetworkMessage::decode(&bytes).expect("V2 decodes");
    let header = reference.dataset_messages()[0].header;
    let jan_2024 = DateTime(0x01da_3c45_7689_c000);
    let values = [
        FieldValue::Variant(Variant::Scalar(Scalar::DateTime(jan_2024))),
        FieldValue::Variant(Variant::Scalar(Scalar::Int32(-42))),
        FieldValue::Variant(Variant::Scalar(Scalar::Int64(1_234_567_890_123))),
        FieldValue::Variant(Variant::Scalar(Scalar::Boolean(true))),
    ];
    let view = NetworkMessageView::decode(&bytes, &options).expect("view decodes");
    let d = view.dataset_messages().next().expect("one DataSetMessage");
    assert!(d.values().map(|f| f.value).eq(values));

    let mut scratch = [0u8; 128];
    let mut buf = [0u8; 128];
    let mut g = c.benchmark_group("uadp_55B_tutorial");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("view_decode_values", |b| {
        b.iter(|| {
            let m = NetworkMessageView::decode(black_box(&bytes), black_box(&options))?;
            let mut acc = 0;
            for d in m.dataset_messages() {
                for f in d.values() {
                    acc = fold_value(acc, f.value);
                }
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    g.bench_function("view_decode_values_fold", |b| {
        b.iter(|| {
            let m = NetworkMessageView::decode(black_box(&bytes), black_box(&options))?;
            let mut acc = 0;
            for d in m.dataset_messages() {
                acc = d.values().fold(acc, |acc, f| fold_value(acc, f.value));
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    g.bench_function("network_message_decode_fields", |b| {
        b.iter(|| {
            let m = NetworkMessage::decode_with(black_box(&bytes), black_box(&options))?;
            let mut acc = 0;
            for d in m.dataset_messages() {
                for f in d.fields(None) {
                    acc = fold_value(acc, f?.value);
                }
            }
            Ok::<_, uadp::DecodeError>(acc)
        })
    });
    let mut template = reference_header(&reference);
    list_push(
        &mut template.payload,
        DataSetMessage {
            writer_id: Some(62541),
            header,
            fields: Default::default(),
        },
    );
    let n = template
        .encode_with_fields(&mut buf, |_, w| {
            values.iter().try_for_each(|v| w.push(v).map(drop))
        })
        .expect("template encode");
    assert_eq!(buf[..n], bytes[..], "encode_with_fields reproduces V2");
    g.bench_function("general_encode", |b| {
        b.iter(|| {
            template.encode_with_fields(black_box(&mut buf), |_, w| {
                black_box(&values)
                    .iter()
                    .try_for_each(|v| w.push(v).map(drop))
            })
        })
    });
    g.bench_function("general_encode_build_message", |b| {
        b.iter(|| {
            let mut w = FieldsWriter::new(&mut scratch, FieldEncoding::Variant);
            for v in black_box(&values) {
                w.push(v)?;
            }
            let fields = w.finish()?;
            let mut list = Payload::default();
            list_push(
                &mut list,
                DataSetMessage {
                    writer_id: Some(62541),
                    header,
                    fields,
                },
            );
            let m = NetworkMessage {
                payload: list,
                ..reference_header(&reference)
            };
            m.encode(black_box(&mut buf))
        })
    });
    g.finish();
    // The encoder reproduces the vector.
    let mut w = FieldsWriter::new(&mut scratch, FieldEncoding::Variant);
    for v in &values {
        w.push(v).expect("push");
    }
    let fields = w.finish().expect("finish");
    let mut list = Payload::default();
    list_push(
        &mut list,
        DataSetMessage {
            writer_id: Some(62541),
            header,
            fields,
        },
    );
    let n = NetworkMessage {
        payload: list,
        ..reference_header(&reference)
    }
    .encode(&mut buf)
    .expect("encode");
    assert_eq!(buf[..n], bytes[..]);
}

fn list_push<'a>(p: &mut Payload<'a>, d: DataSetMessage<'a>) {
    if let Payload::DataSetMessages(l) = p {
        l.push(d);
    }
}

/// The tutorial message's headers without its payload.
fn reference_header<'a>(m: &NetworkMessage<'a>) -> NetworkMessage<'a> {
    NetworkMessage {
        publisher_id: m.publisher_id,
        dataset_class_id: m.dataset_class_id,
        group_header: m.group_header,
        payload_header: m.payload_header,
        timestamp: m.timestamp,
        picoseconds: m.picoseconds,
        promoted_fields: m.promoted_fields,
        security: m.security,
        extended_flags1_present: m.extended_flags1_present,
        extended_flags2_present: m.extended_flags2_present,
        ..Default::default()
    }
}

/// A recorded stream as `uadpbench subscribe` receives it: 1024 messages of 64 bytes from one
/// publisher, sequence numbers counting up. Per message: decode with the subscriber's layout,
/// the PublisherId / WriterGroupId filter, the sequence number, every field value (what
/// `subscribe` does with the codec, without its report bookkeeping).
fn bench_subscribe_stream(c: &mut Criterion) {
    const N: usize = 1024;
    let types = raw_types(64);
    let values = raw_values(&types);
    let codec = layout(&types).prepare();
    let mut stream = Vec::with_capacity(N);
    for i in 0..N {
        let mut buf = [0u8; 64];
        let counters = PeriodicFixedCounters {
            network_message_number: i as u16,
            sequence_number: i as u16,
            dataset_sequence_number: i as u16,
            status: 0,
        };
        let n = codec.encode(&mut buf, counters, &values).expect("encode");
        stream.push(buf[..n].to_vec());
    }
    let options = DecodeOptions {
        raw_layout: Some(&types),
        ..Default::default()
    };
    let want_publisher = PublisherId::UInt16(2234);
    let mut g = c.benchmark_group("uadp_subscribe_stream_64B");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("view", |b| {
        b.iter(|| {
            let (mut accepted, mut last_seq, mut fields, mut acc) = (0u64, 0u16, 0usize, 0u64);
            for bytes in &stream {
                let Ok(m) = NetworkMessageView::decode(black_box(bytes), &options) else {
                    continue;
                };
                if m.publisher_id() != Some(want_publisher)
                    || m.group_header().and_then(|g| g.writer_group_id) != Some(100)
                {
                    continue;
                }
                accepted += 1;
                for d in m.dataset_messages() {
                    if let Some(s) = d.sequence_number() {
                        last_seq = s;
                    }
                    for f in d.values() {
                        fields += 1;
                        acc = fold_value(acc, f.value);
                    }
                }
            }
            (accepted, last_seq, fields, acc)
        })
    });
    g.bench_function("decode_with_fields", |b| {
        b.iter(|| {
            let (mut accepted, mut last_seq, mut fields, mut acc) = (0u64, 0u16, 0usize, 0u64);
            for bytes in &stream {
                let Ok(m) = NetworkMessage::decode_with(black_box(bytes), &options) else {
                    continue;
                };
                if m.publisher_id != Some(want_publisher)
                    || m.group_header.and_then(|g| g.writer_group_id) != Some(100)
                {
                    continue;
                }
                accepted += 1;
                for d in m.dataset_messages() {
                    if let Some(s) = d.header.sequence_number {
                        last_seq = s;
                    }
                    for f in d.fields(options.raw_layout).flatten() {
                        fields += 1;
                        acc = fold_value(acc, f.value);
                    }
                }
            }
            (accepted, last_seq, fields, acc)
        })
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    bench_raw(c, 64);
    bench_raw(c, 1400);
    bench_tutorial(c);
    bench_subscribe_stream(c);
}

criterion_group!(benches, codec);
criterion_main!(benches);
