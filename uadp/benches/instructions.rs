//! Instructions per message of the codec paths, for `valgrind --tool=callgrind` (a count that
//! does not depend on how busy the machine is; docs/performance.md gives the results):
//!
//! ```text
//! cargo bench -p uadp --bench instructions --no-run      # prints the executable's path
//! for n in 20000 40000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/dev/null <executable> $n 64 viewraw
//! done
//! # (Ir at 40000 − Ir at 20000) / 20000 = instructions per message
//! ```
//!
//! Arguments: iterations, message size (64 or 1400: the Periodic-Fixed RawData layout of
//! benches/codec.rs; the tutorial modes ignore it) and a mode:
//!
//! - `dec`, `decf`, `tutf`, `pfenc`, `pfdec`, `genc` use only what the crate had before the
//!   borrowing view (commit 3c795e3): `decode_with`, `decode_with` + `fields()` (RawData and the
//!   SDK-tutorial message), the per-call Periodic-Fixed layout, and a `NetworkMessage` built per
//!   message from `FieldsWriter::push`. Built against that commit's `uadp/src` they give the
//!   "before" column.
//! - `view`, `viewraw`, `viewrawfor`, `viewvals`, `viewfor`, `tutview`, `tutviewfor`: the view
//!   alone, with `raw_values()` (fold / `for`), with `values()` (fold / `for`), and the tutorial.
//! - `cenc`, `cdec`, `cdecv`: `PeriodicFixedCodec` encode, decode, decode + values.
//! - `tgenc`: `encode_with_fields` on a template with `push_raw_values`.
//!
//! Run by `cargo bench` without arguments it only prints this usage.

use criterion::black_box;
use uadp::{
    BuiltinType, DecodeOptions, FieldEncoding, FieldValue, FieldsWriter, NetworkMessage,
    NetworkMessageView, PeriodicFixedCounters, PeriodicFixedLayout, Scalar, Variant,
};

/// open62541 vector V2 (the SDK tutorial's publisher message): four Variant fields.
const TUTORIAL: [u8; 55] = [
    0xf1, 0x01, 0xba, 0x08, 0x01, 0x64, 0x00, 0x01, 0x4d, 0xf4, 0xe1, 0x10, 0x00, 0xc0, 0x89, 0x76,
    0x45, 0x3c, 0xda, 0x01, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x04, 0x00, 0x0d, 0x00,
    0xc0, 0x89, 0x76, 0x45, 0x3c, 0xda, 0x01, 0x06, 0xd6, 0xff, 0xff, 0xff, 0x08, 0xcb, 0x04, 0xfb,
    0x71, 0x1f, 0x01, 0x00, 0x00, 0x01, 0x01,
];

/// The bits of the value types these messages carry, folded into a checksum.
#[inline(always)]
fn bits(s: Scalar<'_>) -> u64 {
    match s {
        Scalar::UInt64(v) => v,
        Scalar::UInt32(v) => u64::from(v),
        Scalar::Int32(v) => v as u64,
        Scalar::Int64(v) => v as u64,
        Scalar::Boolean(v) => u64::from(v),
        Scalar::DateTime(v) => v.0 as u64,
        _ => 3,
    }
}

#[inline(always)]
fn fold_value(acc: u64, v: FieldValue<'_>) -> u64 {
    match v {
        FieldValue::Raw(s) | FieldValue::Variant(Variant::Scalar(s)) => {
            acc.rotate_left(7) ^ bits(s)
        }
        _ => acc.wrapping_add(1),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(iters), Some(total), Some(mode)) = (
        args.first().and_then(|a| a.parse::<u64>().ok()),
        args.get(1)
            .and_then(|a| a.parse::<usize>().ok())
            .filter(|t| *t == 64 || *t == 1400),
        args.get(2),
    ) else {
        println!("usage: instructions ITERATIONS 64|1400 MODE (see uadp/benches/instructions.rs)");
        return;
    };
    let n = (total - PeriodicFixedLayout::HEADER_LEN - 4) / 8;
    let mut types = vec![BuiltinType::UInt64; n];
    types.push(BuiltinType::UInt32);
    let mut values: Vec<Scalar<'_>> = (0..n as u64).map(Scalar::UInt64).collect();
    values.push(Scalar::UInt32(7));
    let l = PeriodicFixedLayout {
        publisher_id: 2234,
        writer_group_id: 100,
        group_version: 0x1234_5678,
        fields: &types,
    };
    let mut buf = vec![0u8; 2048];
    let len = l
        .encode(&mut buf, PeriodicFixedCounters::default(), &values)
        .expect("setup encode");
    let bytes = buf[..len].to_vec();
    let options = DecodeOptions {
        raw_layout: Some(&types),
        ..Default::default()
    };
    let tutorial_options = DecodeOptions::default();
    let field_values: Vec<FieldValue<'_>> = values.iter().map(|v| FieldValue::Raw(*v)).collect();
    let mut scratch = vec![0u8; 2048];
    let codec = l.prepare();
    let template = l.to_message(PeriodicFixedCounters::default(), &[]);
    let mut acc = 0u64;
    for _ in 0..iters {
        match mode.as_str() {
            "dec" => {
                let m = NetworkMessage::decode_with(black_box(&bytes), black_box(&options));
                acc += m.expect("decode").padding as u64;
            }
            "decf" => {
                let m = NetworkMessage::decode_with(black_box(&bytes), black_box(&options));
                for d in m.expect("decode").dataset_messages() {
                    for f in d.fields(Some(&types)) {
                        acc = fold_value(acc, f.expect("field").value);
                    }
                }
            }
            "tutf" => {
                let m = NetworkMessage::decode_with(black_box(&TUTORIAL), &tutorial_options);
                for d in m.expect("decode").dataset_messages() {
                    for f in d.fields(None) {
                        acc = fold_value(acc, f.expect("field").value);
                    }
                }
            }
            "pfenc" => {
                let r = l.encode(black_box(&mut buf), Default::default(), black_box(&values));
                acc += r.expect("encode") as u64;
            }
            "pfdec" => acc += l.decode(black_box(&bytes)).expect("decode").fields.len() as u64,
            "genc" => {
                let mut w = FieldsWriter::new(&mut scratch, FieldEncoding::RawData);
                for v in black_box(&field_values) {
                    w.push(v).expect("push");
                }
                let f = w.finish().expect("finish");
                let m = l.to_message(PeriodicFixedCounters::default(), f.bytes);
                acc += m.encode(black_box(&mut buf)).expect("encode") as u64;
            }
            "view" => {
                acc += NetworkMessageView::decode(black_box(&bytes), black_box(&options))
                    .expect("decode")
                    .padding() as u64
            }
            "viewraw" => {
                for d in NetworkMessageView::decode(black_box(&bytes), black_box(&options))
                    .expect("decode")
                    .dataset_messages()
                {
                    acc = d.raw_values().fold(acc, |a, s| a.rotate_left(7) ^ bits(s));
                }
            }
            "viewrawfor" => {
                for d in NetworkMessageView::decode(black_box(&bytes), black_box(&options))
                    .expect("decode")
                    .dataset_messages()
                {
                    for s in d.raw_values() {
                        acc = acc.rotate_left(7) ^ bits(s);
                    }
                }
            }
            "viewvals" => {
                for d in NetworkMessageView::decode(black_box(&bytes), black_box(&options))
                    .expect("decode")
                    .dataset_messages()
                {
                    acc = d.values().fold(acc, |a, f| fold_value(a, f.value));
                }
            }
            "viewfor" => {
                for d in NetworkMessageView::decode(black_box(&bytes), black_box(&options))
                    .expect("decode")
                    .dataset_messages()
                {
                    for f in d.values() {
                        acc = fold_value(acc, f.value);
                    }
                }
            }
            "tutview" | "tutviewfor" => {
                let m = NetworkMessageView::decode(black_box(&TUTORIAL), &tutorial_options);
                for d in m.expect("decode").dataset_messages() {
                    if mode == "tutview" {
                        acc = d.values().fold(acc, |a, f| fold_value(a, f.value));
                    } else {
                        for f in d.values() {
                            acc = fold_value(acc, f.value);
                        }
                    }
                }
            }
            "cenc" => {
                let r = codec.encode(black_box(&mut buf), Default::default(), black_box(&values));
                acc += r.expect("encode") as u64;
            }
            "cdec" => {
                acc += codec
                    .decode(black_box(&bytes))
                    .expect("decode")
                    .fields
                    .len() as u64
            }
            "cdecv" => {
                let m = codec.decode(black_box(&bytes)).expect("decode");
                acc = codec
                    .values(&m)
                    .fold(acc, |a, s| a.rotate_left(7) ^ bits(s));
            }
            "tgenc" => {
                let r = template.encode_with_fields(black_box(&mut buf), |_, w| {
                    w.push_raw_values(black_box(&values)).map(drop)
                });
                acc += r.expect("encode") as u64;
            }
            other => {
                println!("unknown mode {other} (see uadp/benches/instructions.rs)");
                return;
            }
        }
    }
    black_box(acc);
}
