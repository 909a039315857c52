//! Conformance vectors encoded by open62541 v1.5.7 (tests/vectors/open62541-v1.5.7.txt):
//! each V-vector decodes to exactly the described values and re-encodes byte-identically;
//! each N-vector fails with a typed error.

use uadp::*;

const VECTORS: &str = include_str!("vectors/open62541-v1.5.7.txt");
const JAN_2024: DateTime = DateTime(0x01da_3c45_7689_c000);

fn vector(id: &str) -> Vec<u8> {
    let line = VECTORS
        .lines()
        .find(|l| l.split('\t').next() == Some(id))
        .unwrap_or_else(|| panic!("vector {id} missing from the file"));
    let hex_text = line
        .split('\t')
        .nth(1)
        .expect("vector line has a hex column");
    hex::decode(hex_text).expect("vector hex is valid")
}

fn roundtrip(bytes: &[u8], m: &NetworkMessage<'_>) {
    let mut buf = [0u8; 512];
    let n = m.encode(&mut buf).expect("re-encode");
    assert_eq!(
        hex::encode(&buf[..n]),
        hex::encode(bytes),
        "re-encoding differs"
    );
}

fn standard_header(m: &NetworkMessage<'_>) {
    assert_eq!(m.publisher_id, Some(PublisherId::UInt16(2234)));
    assert_eq!(m.group_header.and_then(|g| g.writer_group_id), Some(100));
}

fn field_values<'a>(
    d: &DataSetMessage<'a>,
    layout: Option<&[BuiltinType]>,
) -> Vec<(u16, FieldValue<'a>)> {
    d.fields(layout)
        .map(|f| f.map(|f| (f.index, f.value)))
        .collect::<Result<_, _>>()
        .expect("fields decode")
}

#[test]
fn v1_variant_key_frame_with_timestamp_and_config_version() {
    let b = vector("V1");
    let m = NetworkMessage::decode(&b).unwrap();
    standard_header(&m);
    assert!(m.payload_header);
    let d = &m.dataset_messages()[0];
    assert_eq!(d.writer_id, Some(62541));
    assert_eq!(d.header.message_type, DataSetMessageType::KeyFrame);
    assert_eq!(d.header.field_encoding, FieldEncoding::Variant);
    assert_eq!(d.header.timestamp, Some(JAN_2024));
    assert_eq!(d.header.config_version_major, Some(1));
    assert_eq!(d.header.config_version_minor, Some(2));
    assert_eq!(
        field_values(d, None),
        vec![(
            0,
            FieldValue::Variant(Variant::Scalar(Scalar::DateTime(JAN_2024)))
        )]
    );
    assert_eq!(JAN_2024.to_unix_nanos(), 1_704_067_200_000_000_000);
    roundtrip(&b, &m);
}

#[test]
fn v2_four_variant_fields() {
    let b = vector("V2");
    let m = NetworkMessage::decode(&b).unwrap();
    standard_header(&m);
    let d = &m.dataset_messages()[0];
    assert_eq!(d.writer_id, Some(62541));
    let v = |s| FieldValue::Variant(Variant::Scalar(s));
    assert_eq!(
        field_values(d, None),
        vec![
            (0, v(Scalar::DateTime(JAN_2024))),
            (1, v(Scalar::Int32(-42))),
            (2, v(Scalar::Int64(1_234_567_890_123))),
            (3, v(Scalar::Boolean(true))),
        ]
    );
    roundtrip(&b, &m);
}

#[test]
fn v3_periodic_fixed() {
    let b = vector("V3");
    let layout = [BuiltinType::UInt32; 4];
    let opts = DecodeOptions {
        raw_layout: Some(&layout),
        ..Default::default()
    };
    let m = NetworkMessage::decode_with(&b, &opts).unwrap();
    assert!(!m.payload_header);
    assert_eq!(m.publisher_id, Some(PublisherId::UInt16(2234)));
    assert_eq!(
        m.group_header,
        Some(GroupHeader {
            writer_group_id: Some(100),
            group_version: Some(0x1234_5678),
            network_message_number: Some(1),
            sequence_number: Some(7),
        })
    );
    let d = &m.dataset_messages()[0];
    assert_eq!(d.header.field_encoding, FieldEncoding::RawData);
    assert_eq!(d.header.sequence_number, Some(7));
    assert_eq!(d.header.status, Some(0));
    assert_eq!(
        field_values(d, Some(&layout)),
        (0..4u16)
            .map(|i| (i, FieldValue::Raw(Scalar::UInt32(u32::from(i) + 1))))
            .collect::<Vec<_>>()
    );
    roundtrip(&b, &m);

    // The ready-made layout decodes and encodes the same bytes.
    let pf = PeriodicFixedLayout {
        publisher_id: 2234,
        writer_group_id: 100,
        group_version: 0x1234_5678,
        fields: &layout,
    };
    let fixed = pf.decode(&b).unwrap();
    let counters = PeriodicFixedCounters {
        network_message_number: 1,
        sequence_number: 7,
        dataset_sequence_number: 7,
        status: 0,
    };
    assert_eq!(fixed.counters, counters);
    let mut buf = [0u8; 64];
    let n = pf
        .encode(
            &mut buf,
            counters,
            &[
                Scalar::UInt32(1),
                Scalar::UInt32(2),
                Scalar::UInt32(3),
                Scalar::UInt32(4),
            ],
        )
        .unwrap();
    assert_eq!(&buf[..n], &b[..]);
    assert_eq!(pf.encoded_len(), Some(b.len()));
    roundtrip(&b, &pf.to_message(counters, fixed.fields));

    // Without a layout the RawData bytes are kept whole.
    let m = NetworkMessage::decode(&b).unwrap();
    assert_eq!(m.dataset_messages()[0].fields.bytes.len(), 16);
    assert!(m.dataset_messages()[0]
        .fields(None)
        .next()
        .unwrap()
        .is_err());
    roundtrip(&b, &m);
}

#[test]
fn v4_group_flags_0b_raw_ten_uint32() {
    let b = vector("V4");
    let layout = [BuiltinType::UInt32; 10];
    let m = NetworkMessage::decode_with(
        &b,
        &DecodeOptions {
            raw_layout: Some(&layout),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        m.group_header,
        Some(GroupHeader {
            writer_group_id: Some(100),
            group_version: Some(0x1234_5678),
            network_message_number: None,
            sequence_number: Some(7),
        })
    );
    let d = &m.dataset_messages()[0];
    assert_eq!(d.writer_id, Some(62541));
    // The vector file's text says "DSM seq 1", but its bytes (0b 0700 ...) carry 7, and the
    // 59-byte length leaves no room for another reading: the bytes are authoritative.
    assert_eq!(d.header.sequence_number, Some(7));
    assert_eq!(
        field_values(d, Some(&layout)),
        (0..10u16)
            .map(|i| (i, FieldValue::Raw(Scalar::UInt32(u32::from(i) + 1))))
            .collect::<Vec<_>>()
    );
    roundtrip(&b, &m);
}

#[test]
fn v5_delta_frame() {
    let b = vector("V5");
    let m = NetworkMessage::decode(&b).unwrap();
    standard_header(&m);
    let d = &m.dataset_messages()[0];
    assert_eq!(d.header.message_type, DataSetMessageType::DeltaFrame);
    assert_eq!(d.header.sequence_number, Some(8));
    assert_eq!(
        field_values(d, None),
        vec![
            (1, FieldValue::Variant(Variant::Scalar(Scalar::Int32(-42)))),
            (
                3,
                FieldValue::Variant(Variant::Scalar(Scalar::Boolean(true)))
            ),
        ]
    );
    roundtrip(&b, &m);
}

#[test]
fn v6_keep_alive() {
    let b = vector("V6");
    let m = NetworkMessage::decode(&b).unwrap();
    let d = &m.dataset_messages()[0];
    assert_eq!(d.header.message_type, DataSetMessageType::KeepAlive);
    assert_eq!(d.header.sequence_number, Some(9));
    assert_eq!(d.fields(None).count(), 0);
    roundtrip(&b, &m);
}

#[test]
fn v8_two_messages_with_sizes() {
    let b = vector("V8");
    let m = NetworkMessage::decode(&b).unwrap();
    let ds = m.dataset_messages();
    assert_eq!(ds.len(), 2);
    assert_eq!((ds[0].writer_id, ds[1].writer_id), (Some(1), Some(2)));
    assert_eq!(ds[0].encoded_len(), 8);
    assert_eq!(ds[1].encoded_len(), 5);
    assert_eq!(
        field_values(&ds[0], None),
        vec![(0, FieldValue::Variant(Variant::Scalar(Scalar::Int32(-42))))]
    );
    assert_eq!(
        field_values(&ds[1], None),
        vec![(
            0,
            FieldValue::Variant(Variant::Scalar(Scalar::Boolean(true)))
        )]
    );
    roundtrip(&b, &m);
}

#[test]
fn every_valid_vector_roundtrips() {
    let mut seen = 0;
    for line in VECTORS.lines().filter(|l| l.starts_with('V')) {
        let id = line.split('\t').next().unwrap();
        let b = vector(id);
        let m = NetworkMessage::decode(&b).unwrap_or_else(|e| panic!("{id}: {e}"));
        roundtrip(&b, &m);
        seen += 1;
    }
    assert_eq!(seen, 7);
}

#[test]
fn n_vectors_fail_cleanly() {
    let expected = [
        ("N1", DecodeErrorKind::UnsupportedVersion(15)),
        ("N2", DecodeErrorKind::NoDataSetMessages),
        ("N3", DecodeErrorKind::TooManyDataSetMessages(33)),
        ("N4", DecodeErrorKind::ZeroDataSetMessageSize { index: 0 }),
        ("N5", DecodeErrorKind::ReservedPublisherIdType(5)),
    ];
    for (id, kind) in expected {
        let err = NetworkMessage::decode(&vector(id)).expect_err(id);
        assert_eq!(err.kind, kind, "{id}");
    }
}

#[test]
fn ethernet_padding_to_46_bytes_is_accepted() {
    for id in ["V1", "V5", "V6"] {
        let mut b = vector(id);
        let unpadded = b.len();
        b.resize(46, 0);
        let m = NetworkMessage::decode(&b).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(m.padding, 46 - unpadded, "{id}");
        let mut buf = [0u8; 64];
        let n = m.encode(&mut buf).unwrap();
        assert_eq!(&buf[..n], &b[..unpadded], "{id}");
        drop(m);
        // Non-zero bytes after the message are not padding.
        b[45] = 1;
        assert!(
            matches!(
                NetworkMessage::decode(&b).unwrap_err().kind,
                DecodeErrorKind::TrailingBytes { .. }
            ),
            "{id}"
        );
    }
}

/// The fast path (`NetworkMessageView` and its value iterators) reads every vector as the
/// general decoder does, with and without RawData layouts; the N-vectors fail with the same
/// errors; padded vectors keep their padding.
#[test]
fn every_vector_reads_alike_through_the_view() {
    let u32x4 = [BuiltinType::UInt32; 4];
    let u32x10 = [BuiltinType::UInt32; 10];
    for line in VECTORS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let id = line.split('\t').next().expect("id column");
        let mut b = vector(id);
        for padded in [false, true] {
            if padded {
                b.resize(b.len().max(46), 0);
            }
            for layout in [None, Some(&u32x4[..]), Some(&u32x10[..])] {
                let opts = DecodeOptions {
                    raw_layout: layout,
                    ..Default::default()
                };
                let general = NetworkMessage::decode_with(&b, &opts);
                let view = NetworkMessageView::decode(&b, &opts);
                match (&general, &view) {
                    (Err(a), Err(v)) => assert_eq!(a, v, "{id}"),
                    (Ok(m), Ok(v)) => {
                        assert_eq!(&v.to_message(), m, "{id}");
                        assert_eq!(v.padding(), m.padding, "{id}");
                        for (dv, d) in v.dataset_messages().zip(m.dataset_messages()) {
                            let want: Vec<_> = d.fields(layout).collect();
                            if want.iter().all(Result::is_ok) {
                                let got: Vec<_> = dv.values().map(Ok).collect();
                                assert_eq!(got, want, "{id}");
                            } else {
                                assert!(dv.missing_layout(), "{id}");
                            }
                        }
                    }
                    _ => panic!("{id}: decode_with {general:?}, view {view:?}"),
                }
            }
        }
    }
}
