//! The encoder writes headers in one of two ways: with one room check for all of them when
//! the output has enough bytes left (a fixed window), or field by field when it has not (a
//! small buffer) or when a header part has a variable size. Both must give the same bytes,
//! and a buffer too small must fail the same way wherever it is cut.

use proptest::option::of;
use proptest::prelude::*;
use uadp::*;

#[derive(Debug, Clone)]
struct Dsm {
    writer_id: u16,
    header: DataSetMessageHeader,
    values: Vec<u64>,
}

#[derive(Debug, Clone)]
struct Msg {
    publisher: Option<(u8, u64)>,
    class_id: Option<u32>,
    group: Option<GroupHeader>,
    payload_header: bool,
    timestamp: Option<i64>,
    picoseconds: Option<u16>,
    promoted: bool,
    security: Option<(u32, Vec<u8>, Option<u16>)>,
    ext1: bool,
    ext2: bool,
    dsms: Vec<Dsm>,
}

fn group() -> impl Strategy<Value = GroupHeader> {
    (
        of(any::<u16>()),
        of(any::<u32>()),
        of(any::<u16>()),
        of(any::<u16>()),
    )
        .prop_map(|(a, b, c, d)| GroupHeader {
            writer_group_id: a,
            group_version: b,
            network_message_number: c,
            sequence_number: d,
        })
}

fn dsm() -> impl Strategy<Value = Dsm> {
    (
        any::<u16>(),
        (any::<bool>(), 0u8..4, of(any::<u16>()), of(any::<i64>())),
        (
            of(any::<u16>()),
            of(any::<u16>()),
            of(any::<u32>()),
            of(any::<u32>()),
        ),
        any::<bool>(),
        proptest::collection::vec(any::<u64>(), 0..5),
    )
        .prop_map(
            |(writer_id, (valid, ty, seq, ts), (ps, st, ma, mi), f2, values)| {
                let message_type = match ty {
                    0 => DataSetMessageType::KeyFrame,
                    1 => DataSetMessageType::Event,
                    2 => DataSetMessageType::KeepAlive,
                    _ => DataSetMessageType::KeyFrame,
                };
                Dsm {
                    writer_id,
                    header: DataSetMessageHeader {
                        valid,
                        field_encoding: if ty == 3 {
                            FieldEncoding::Variant
                        } else {
                            FieldEncoding::RawData
                        },
                        message_type,
                        sequence_number: seq,
                        timestamp: ts.map(DateTime),
                        picoseconds: ps,
                        status: st,
                        config_version_major: ma,
                        config_version_minor: mi,
                        flags2_present: f2,
                    },
                    values,
                }
            },
        )
}

fn message() -> impl Strategy<Value = Msg> {
    (
        (of((0u8..5, any::<u64>())), of(any::<u32>()), of(group())),
        (
            any::<bool>(),
            of(any::<i64>()),
            of(any::<u16>()),
            any::<bool>(),
        ),
        of((
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..6),
            of(any::<u16>()),
        )),
        (any::<bool>(), any::<bool>()),
        proptest::collection::vec(dsm(), 1..4),
    )
        .prop_map(
            |(
                (publisher, class_id, group),
                (ph, timestamp, picoseconds, promoted),
                security,
                (e1, e2),
                mut dsms,
            )| {
                if !ph {
                    dsms.truncate(1);
                }
                Msg {
                    publisher,
                    class_id,
                    group,
                    payload_header: ph,
                    timestamp,
                    picoseconds,
                    promoted,
                    security,
                    ext1: e1,
                    ext2: e2,
                    dsms,
                }
            },
        )
}

const STRING_ID: &[u8] = b"publisher-7";
const PROMOTED: [u8; 5] = [0x07, 0x2a, 0x00, 0x00, 0x00];

fn build(o: &Msg) -> NetworkMessage<'_> {
    let mut m = NetworkMessage {
        publisher_id: o.publisher.map(|(t, v)| match t {
            0 => PublisherId::Byte(v as u8),
            1 => PublisherId::UInt16(v as u16),
            2 => PublisherId::UInt32(v as u32),
            3 => PublisherId::UInt64(v),
            _ => PublisherId::String(UaBytes(Some(STRING_ID))),
        }),
        dataset_class_id: o.class_id.map(|d| Guid {
            data1: d,
            data2: 2,
            data3: 3,
            data4: [4, 5, 6, 7, 8, 9, 10, 11],
        }),
        group_header: o.group,
        payload_header: o.payload_header,
        timestamp: o.timestamp.map(DateTime),
        picoseconds: o.picoseconds,
        promoted_fields: o.promoted.then_some(PromotedFields { bytes: &PROMOTED }),
        security: o
            .security
            .as_ref()
            .map(|(t, nonce, footer)| SecurityHeader {
                signed: true,
                encrypted: false,
                force_key_reset: false,
                security_token_id: *t,
                message_nonce: nonce,
                footer_size: *footer,
            }),
        security_trailer: if o.security.is_some() {
            &[1, 2, 3]
        } else {
            &[]
        },
        extended_flags1_present: o.ext1,
        extended_flags2_present: o.ext2,
        ..Default::default()
    };
    if let Payload::DataSetMessages(list) = &mut m.payload {
        for d in &o.dsms {
            list.push(DataSetMessage {
                writer_id: Some(d.writer_id),
                header: d.header,
                fields: Fields::default(),
            });
        }
    }
    m
}

fn push_values(o: &Msg, i: usize, w: &mut FieldsWriter<'_>) -> Result<(), EncodeError> {
    let d = &o.dsms[i];
    let scalars: Vec<Scalar<'_>> = d.values.iter().map(|v| Scalar::UInt64(*v)).collect();
    match d.header.field_encoding {
        FieldEncoding::RawData => w.push_raw_values(&scalars).map(drop),
        _ => scalars
            .iter()
            .try_for_each(|s| w.push(&FieldValue::Variant(Variant::Scalar(*s))).map(drop)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn every_buffer_size_gives_the_same_bytes_or_a_too_small_error(o in message()) {
        let m = build(&o);
        let mut big = vec![0u8; 4096];
        let n = m
            .encode_with_fields(&mut big, |i, w| push_values(&o, i, w))
            .expect("encodes");
        let bytes = big[..n].to_vec();
        // The message decodes, with the headers it was given.
        let decoded = NetworkMessage::decode(&bytes).expect("decodes");
        prop_assert_eq!(decoded.publisher_id, m.publisher_id);
        prop_assert_eq!(decoded.group_header, m.group_header);
        prop_assert_eq!(decoded.timestamp, m.timestamp);
        prop_assert_eq!(decoded.security, m.security);
        // Exact and slightly larger buffers (the field-by-field paths near the end).
        for extra in [0usize, 1, 7, 30, 60, 150] {
            let mut buf = vec![0xEEu8; n + extra];
            let k = m
                .encode_with_fields(&mut buf, |i, w| push_values(&o, i, w))
                .expect("fits");
            prop_assert_eq!(&buf[..k], &bytes[..]);
            // Nothing written past the message.
            prop_assert!(buf[k..].iter().all(|b| *b == 0xEE));
        }
        // Every cut: the error names the first byte that did not fit.
        for cut in 0..n {
            let mut buf = vec![0u8; cut];
            let r = m.encode_with_fields(&mut buf, |i, w| push_values(&o, i, w));
            match r {
                Err(EncodeError::BufferTooSmall { needed, available }) => {
                    prop_assert_eq!(available, cut);
                    prop_assert!(needed > cut && needed <= n, "needed {} cut {} n {}", needed, cut, n);
                }
                other => prop_assert!(false, "cut {}: {:?}", cut, other),
            }
            // The same error from a big buffer's prefix and from a buffer of its own.
            let r2 = m.encode_with_fields(&mut big[..cut], |i, w| push_values(&o, i, w));
            prop_assert_eq!(r, r2);
        }
    }

    #[test]
    fn header_errors_do_not_depend_on_the_buffer(o in message(), missing in any::<prop::sample::Index>()) {
        let mut m = build(&o);
        if !m.payload_header {
            return Ok(());
        }
        let i = missing.index(m.dataset_messages().len());
        if let Payload::DataSetMessages(list) = &mut m.payload {
            list[i].writer_id = None;
        }
        let mut big = vec![0u8; 4096];
        let mut small = vec![0u8; 200];
        let a = m.encode_with_fields(&mut big, |i, w| push_values(&o, i, w));
        let b = m.encode_with_fields(&mut small, |i, w| push_values(&o, i, w));
        prop_assert_eq!(a, Err(EncodeError::MissingWriterId(i)));
        prop_assert_eq!(b, Err(EncodeError::MissingWriterId(i)));
    }
}

/// The benchmark's 64-byte message, byte by byte (the Periodic-Fixed header, five UInt64
/// values and a UInt32), from the window paths and from an exact-size buffer.
#[test]
fn periodic_fixed_message_bytes() {
    let types = [
        BuiltinType::UInt64,
        BuiltinType::UInt64,
        BuiltinType::UInt64,
        BuiltinType::UInt64,
        BuiltinType::UInt64,
        BuiltinType::UInt32,
    ];
    let l = PeriodicFixedLayout {
        publisher_id: 2234,
        writer_group_id: 100,
        group_version: 0x1234_5678,
        fields: &types,
    };
    let c = PeriodicFixedCounters {
        network_message_number: 1,
        sequence_number: 7,
        dataset_sequence_number: 7,
        status: 0,
    };
    let values: Vec<Scalar<'_>> = (0..5u64)
        .map(|i| Scalar::UInt64(i * 0x0101_0101))
        .chain([Scalar::UInt32(7)])
        .collect();
    let mut want = vec![
        0xB1, 0x01, 0xBA, 0x08, 0x0F, 0x64, 0x00, 0x78, 0x56, 0x34, 0x12, 0x01, 0x00, 0x07, 0x00,
        0x1B, 0x07, 0x00, 0x00, 0x00,
    ];
    for i in 0..5u64 {
        want.extend_from_slice(&(i * 0x0101_0101).to_le_bytes());
    }
    want.extend_from_slice(&7u32.to_le_bytes());
    let template = l.to_message(c, &[]);
    for size in [64usize, 100, 2048] {
        let mut buf = vec![0u8; size];
        let n = template
            .encode_with_fields(&mut buf, |_, w| w.push_raw_values(&values).map(drop))
            .expect("encodes");
        assert_eq!(&buf[..n], &want[..], "buffer of {size}");
        let mut pf = vec![0u8; size];
        let k = l
            .prepare()
            .encode(&mut pf, c, &values)
            .expect("Periodic-Fixed");
        assert_eq!(&pf[..k], &want[..]);
    }
}
