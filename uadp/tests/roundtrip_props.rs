//! Property tests: for arbitrary messages, encode → decode is the identity (up to the
//! normalisation the wire format implies), and arbitrary bytes never make the decoder panic.

use proptest::collection::vec;
use proptest::prelude::*;
use uadp::*;

mod props;
use props::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_identity(o in message()) {
        let built = build(&o);
        let mut buf = vec![0u8; 65536];
        let n = built.msg.encode(&mut buf).expect("encodes");
        let raw_layout = if built.msg.payload_header { None } else { built.layouts.first().map(|(_, l)| *l) };
        let options = DecodeOptions { raw_layout, raw_layouts_by_writer: &built.layouts };
        // Writer ids may repeat across DSMs: give each DSM's layout by position when they do.
        let unique_ids = {
            let mut ids: Vec<u16> = o.dsms.iter().map(|d| d.writer_id).collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len() == o.dsms.len()
        };
        prop_assume!(unique_ids || !o.payload_header);
        let decoded = NetworkMessage::decode_with(&buf[..n], &options).expect("decodes what it encoded");
        prop_assert_eq!(&decoded, &normalised(&built.msg));
        check_view(&buf[..n], &options)?;

        // The values path: what the iterators yield is what was put in.
        for (d, od) in decoded.dataset_messages().iter().zip(&o.dsms) {
            let got: Vec<(u16, FieldValue<'_>)> =
                d.fields(Some(&od.layout)).map(|f| f.map(|f| (f.index, f.value))).collect::<Result<_, _>>().expect("fields");
            let want: Vec<(u16, FieldValue<'_>)> = od.fields.iter().map(|(i, f)| (*i, f.value())).collect();
            prop_assert_eq!(got.len(), want.len());
            for ((gi, gv), (wi, wv)) in got.iter().zip(&want) {
                prop_assert_eq!(gi, wi);
                assert_same_value(gv, wv)?;
            }
        }
        // Writing the fields in place from the values gives the same bytes.
        if !matches!(built.msg.payload, Payload::Encrypted { .. }) {
            let mut inplace = vec![0u8; 65536];
            let k = built
                .msg
                .encode_with_fields(&mut inplace, |i, w| {
                    let d = &o.dsms[i];
                    for (idx, f) in &d.fields {
                        if d.header.message_type == DataSetMessageType::DeltaFrame {
                            w.push_indexed(*idx, &f.value())?;
                        } else {
                            w.push(&f.value())?;
                        }
                    }
                    Ok(())
                })
                .expect("encodes with fields in place");
            prop_assert_eq!(&inplace[..k], &buf[..n]);
            // Too small a buffer fails the same way as `encode`.
            let cut = n / 2;
            let a = built.msg.encode(&mut inplace[..cut]);
            let b = built.msg.encode_with_fields(&mut again_buf(cut), |i, w| {
                let d = &o.dsms[i];
                for (idx, f) in &d.fields {
                    if d.header.message_type == DataSetMessageType::DeltaFrame {
                        w.push_indexed(*idx, &f.value())?;
                    } else {
                        w.push(&f.value())?;
                    }
                }
                Ok(())
            });
            prop_assert_eq!(a.is_err(), b.is_err());
            if let (Err(EncodeError::BufferTooSmall { available: x, .. }), Err(EncodeError::BufferTooSmall { available: y, .. })) = (a, b) {
                prop_assert_eq!(x, y);
            }
        }
        // Encoding the decoded message reproduces the bytes.
        let mut again = vec![0u8; 65536];
        let m = decoded.encode(&mut again).expect("re-encodes");
        prop_assert_eq!(&again[..m], &buf[..n]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256), raw in vec(builtin_type(), 0..4)) {
        let options = DecodeOptions { raw_layout: Some(&raw), ..Default::default() };
        for opts in [DecodeOptions::default(), options] {
            check_view(&bytes, &opts)?;
            if let Ok(m) = NetworkMessage::decode_with(&bytes, &opts) {
                for d in m.dataset_messages() {
                    for f in d.fields(Some(&raw)) {
                        let _ = f;
                    }
                }
                // Whatever decodes, re-encodes and decodes to the same message.
                let mut buf = vec![0u8; 1024];
                let n = m.encode(&mut buf).expect("a decoded message re-encodes");
                let again = NetworkMessage::decode_with(&buf[..n], &opts).expect("re-encoded bytes decode");
                prop_assert_eq!(again.dataset_messages(), m.dataset_messages());
            }
        }
    }

    #[test]
    fn mutated_messages_decode_alike_on_both_paths(
        o in message(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let built = build(&o);
        let mut buf = vec![0u8; 65536];
        let n = built.msg.encode(&mut buf).expect("encodes");
        buf[at.index(n)] = byte;
        let raw_layout = built.layouts.first().map(|(_, l)| *l);
        for options in [
            DecodeOptions { raw_layouts_by_writer: &built.layouts, ..Default::default() },
            DecodeOptions { raw_layout, ..Default::default() },
        ] {
            check_view(&buf[..n], &options)?;
        }
    }

    #[test]
    fn periodic_fixed_codec_encodes_like_the_field_writer(
        raw in vec(builtin_type().prop_flat_map(|t| (Just(t), scalar())), 0..12),
        same_type in vec(any::<bool>(), 12),
        buf_len in 0usize..200,
        counters in any::<(u16, u16, u16, u16)>(),
    ) {
        // A layout, and values that mostly follow it.
        let layout: Vec<BuiltinType> = raw.iter().map(|(t, _)| *t).collect();
        let owned: Vec<OScalar> = raw
            .iter()
            .zip(&same_type)
            .map(|((t, s), same)| if *same { first_of(*t) } else { s.clone() })
            .collect();
        let values: Vec<Scalar<'_>> = owned.iter().map(OScalar::scalar).collect();
        let l = PeriodicFixedLayout {
            publisher_id: 7,
            writer_group_id: 9,
            group_version: 11,
            fields: &layout,
        };
        let counters = PeriodicFixedCounters {
            network_message_number: counters.0,
            sequence_number: counters.1,
            dataset_sequence_number: counters.2,
            status: counters.3,
        };
        let codec = l.prepare();
        prop_assert_eq!(codec.fields_len(), l.fields_len());
        prop_assert_eq!(codec.encoded_len(), l.encoded_len());
        let mut a = vec![0xAAu8; buf_len];
        let mut b = vec![0xAAu8; buf_len];
        let got = codec.encode(&mut a, counters, &values);
        let unprepared = l.encode(&mut b, counters, &values);
        prop_assert_eq!(got, unprepared);
        prop_assert_eq!(&a, &b);
        // The reference: the header, then FieldsWriter::push with the layout check.
        let mut c = vec![0xAAu8; buf_len];
        let want = reference_encode(&l, &mut c, counters, &values);
        prop_assert_eq!(got, want);
        if let Ok(n) = got {
            prop_assert_eq!(&a[..n], &c[..n]);
            let m = codec.decode(&a[..n]).expect("decodes what it encoded");
            prop_assert_eq!(m, l.decode(&a[..n]).expect("unprepared decode"));
            prop_assert_eq!(m.counters, counters);
            prop_assert_eq!(codec.values(&m).collect::<Vec<_>>(), values.clone());
            let options = DecodeOptions { raw_layout: Some(&layout), ..Default::default() };
            let view = NetworkMessageView::decode(&a[..n], &options).expect("view decodes");
            let d = view.dataset_message(0).expect("one DataSetMessage");
            prop_assert_eq!(d.raw_values().collect::<Vec<_>>(), values);
        }
    }

    #[test]
    fn periodic_fixed_codec_decodes_like_the_layout(
        layout in vec(builtin_type(), 0..6),
        bytes in vec(any::<u8>(), 0..80),
        header in any::<bool>(),
    ) {
        let l = PeriodicFixedLayout {
            publisher_id: 0x0201,
            writer_group_id: 0x0403,
            group_version: 0,
            fields: &layout,
        };
        // Half the inputs start with the right fixed header, so that the fields are reached.
        let mut input = bytes.clone();
        if header && input.len() >= 20 {
            input[..7].copy_from_slice(&[0xB1, 0x01, 0x01, 0x02, 0x0F, 0x03, 0x04]);
            input[15] = 0x1B;
        }
        let codec = l.prepare();
        prop_assert_eq!(codec.decode(&input), l.decode(&input));
        if let Ok(m) = codec.decode(&input) {
            let options = DecodeOptions { raw_layout: Some(&layout), ..Default::default() };
            let general = NetworkMessage::decode_with(&input, &options).expect("general decode");
            let want: Vec<Scalar<'_>> = general.dataset_messages()[0]
                .fields(Some(&layout))
                .map(|f| match f.expect("field").value {
                    FieldValue::Raw(s) => s,
                    other => panic!("{other:?}"),
                })
                .collect();
            prop_assert_eq!(codec.values(&m).collect::<Vec<_>>(), want);
        }
    }

    #[test]
    fn push_raw_values_writes_what_push_writes(
        raw in vec(scalar(), 0..10),
        layout in prop::option::of(vec(builtin_type(), 0..10)),
        follow in any::<bool>(),
        buf_len in 0usize..160,
        before in vec(scalar(), 0..2),
    ) {
        // Values of the layout's types when `follow`, so that most batches pass the check.
        let owned: Vec<OScalar> = match (&layout, follow) {
            (Some(l), true) => l.iter().map(|t| first_of(*t)).collect(),
            _ => raw,
        };
        let values: Vec<Scalar<'_>> = owned.iter().map(OScalar::scalar).collect();
        let before: Vec<Scalar<'_>> = before.iter().map(OScalar::scalar).collect();
        let mut a = vec![0u8; buf_len];
        let mut b = vec![0u8; buf_len];
        let mut wa = FieldsWriter::new(&mut a, FieldEncoding::RawData);
        let mut wb = FieldsWriter::new(&mut b, FieldEncoding::RawData);
        if let Some(l) = &layout {
            wa = wa.with_layout(l);
            wb = wb.with_layout(l);
        }
        // Both writers start from the same fields already written (or the same error).
        let pa = wa.push_raw_values(&before).map(|_| ());
        let pb = before.iter().try_for_each(|v| wb.push(&FieldValue::Raw(*v)).map(|_| ()));
        prop_assert_eq!(pa, pb);
        if pa.is_ok() {
            let got = wa.push_raw_values(&values).map(|_| ());
            let want = values.iter().try_for_each(|v| wb.push(&FieldValue::Raw(*v)).map(|_| ()));
            prop_assert_eq!(got, want);
            if got.is_ok() {
                prop_assert_eq!(wa.finish(), wb.finish());
            }
        }
    }

    #[test]
    fn truncation_is_an_error_not_a_panic(o in message(), cut in any::<prop::sample::Index>()) {
        let built = build(&o);
        let mut buf = vec![0u8; 65536];
        let n = built.msg.encode(&mut buf).expect("encodes");
        let at = cut.index(n);
        let options = DecodeOptions { raw_layouts_by_writer: &built.layouts, ..Default::default() };
        let _ = NetworkMessage::decode_with(&buf[..at], &options);
        check_view(&buf[..at], &options)?;
    }
}

/// A value of type `t` (the first the strategy would pick).
fn first_of(t: BuiltinType) -> OScalar {
    use BuiltinType as T;
    match t {
        T::Boolean => OScalar::B(true),
        T::SByte => OScalar::I8(-3),
        T::Byte => OScalar::U8(3),
        T::Int16 => OScalar::I16(-300),
        T::UInt16 => OScalar::U16(300),
        T::Int32 => OScalar::I32(-70_000),
        T::UInt32 => OScalar::U32(70_000),
        T::Int64 => OScalar::I64(-5_000_000_000),
        T::UInt64 => OScalar::U64(5_000_000_000),
        T::Float => OScalar::F32(0x3fc0_0000),
        T::Double => OScalar::F64(0x3ff8_0000_0000_0000),
        T::String => OScalar::Str(Some(b"text".to_vec())),
        T::DateTime => OScalar::Dt(0x01da_3c45_7689_c000),
        T::Guid => OScalar::Guid(1, 2, 3, [4; 8]),
        T::ByteString => OScalar::Bytes(None),
        T::XmlElement => OScalar::Xml(Some(vec![])),
        T::StatusCode => OScalar::Status(0x8000_0000),
    }
}

/// Periodic-Fixed encoding as it was written before the prepared codec: the 20 header bytes,
/// then each value checked against the layout and encoded in turn.
fn reference_encode(
    l: &PeriodicFixedLayout<'_>,
    buf: &mut [u8],
    c: PeriodicFixedCounters,
    values: &[Scalar<'_>],
) -> Result<usize, EncodeError> {
    if values.len() != l.fields.len() {
        return Err(EncodeError::InvalidValue(
            "a value list whose length differs from the layout",
        ));
    }
    let mut h = [0u8; 20];
    h[0] = 0xB1;
    h[1] = 0x01;
    h[2..4].copy_from_slice(&l.publisher_id.to_le_bytes());
    h[4] = 0x0F;
    h[5..7].copy_from_slice(&l.writer_group_id.to_le_bytes());
    h[7..11].copy_from_slice(&l.group_version.to_le_bytes());
    h[11..13].copy_from_slice(&c.network_message_number.to_le_bytes());
    h[13..15].copy_from_slice(&c.sequence_number.to_le_bytes());
    h[15] = 0x1B;
    h[16..18].copy_from_slice(&c.dataset_sequence_number.to_le_bytes());
    h[18..20].copy_from_slice(&c.status.to_le_bytes());
    if buf.len() < 20 {
        return Err(EncodeError::BufferTooSmall {
            needed: 20,
            available: buf.len(),
        });
    }
    buf[..20].copy_from_slice(&h);
    let shift = |e: EncodeError| match e {
        EncodeError::BufferTooSmall { needed, available } => EncodeError::BufferTooSmall {
            needed: needed + 20,
            available: available + 20,
        },
        other => other,
    };
    let mut w = FieldsWriter::new(&mut buf[20..], FieldEncoding::RawData).with_layout(l.fields);
    for v in values {
        w.push(&FieldValue::Raw(*v)).map_err(shift)?;
    }
    Ok(20 + w.finish().map_err(shift)?.bytes.len())
}

fn again_buf(n: usize) -> Vec<u8> {
    vec![0u8; n]
}
