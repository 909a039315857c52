//! Property tests: for arbitrary messages, encode → decode is the identity (up to the
//! normalisation the wire format implies), and arbitrary bytes never make the decoder panic.

use proptest::collection::vec;
use proptest::prelude::*;
use uadp::*;

fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

#[derive(Debug, Clone)]
enum OScalar {
    B(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F32(u32),
    F64(u64),
    Str(Option<Vec<u8>>),
    Dt(i64),
    Guid(u32, u16, u16, [u8; 8]),
    Bytes(Option<Vec<u8>>),
    Xml(Option<Vec<u8>>),
    Status(u32),
}

impl OScalar {
    fn scalar(&self) -> Scalar<'_> {
        fn ub(o: &Option<Vec<u8>>) -> UaBytes<'_> {
            UaBytes(o.as_deref())
        }
        match self {
            OScalar::B(v) => Scalar::Boolean(*v),
            OScalar::I8(v) => Scalar::SByte(*v),
            OScalar::U8(v) => Scalar::Byte(*v),
            OScalar::I16(v) => Scalar::Int16(*v),
            OScalar::U16(v) => Scalar::UInt16(*v),
            OScalar::I32(v) => Scalar::Int32(*v),
            OScalar::U32(v) => Scalar::UInt32(*v),
            OScalar::I64(v) => Scalar::Int64(*v),
            OScalar::U64(v) => Scalar::UInt64(*v),
            OScalar::F32(v) => Scalar::Float(f32::from_bits(*v)),
            OScalar::F64(v) => Scalar::Double(f64::from_bits(*v)),
            OScalar::Str(v) => Scalar::String(ub(v)),
            OScalar::Dt(v) => Scalar::DateTime(DateTime(*v)),
            OScalar::Guid(a, b, c, d) => Scalar::Guid(Guid {
                data1: *a,
                data2: *b,
                data3: *c,
                data4: *d,
            }),
            OScalar::Bytes(v) => Scalar::ByteString(ub(v)),
            OScalar::Xml(v) => Scalar::XmlElement(ub(v)),
            OScalar::Status(v) => Scalar::StatusCode(StatusCode(*v)),
        }
    }
}

fn bytes_opt() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(vec(any::<u8>(), 0..12))
}

fn scalar_of(ty: BuiltinType) -> BoxedStrategy<OScalar> {
    use BuiltinType as T;
    match ty {
        T::Boolean => any::<bool>().prop_map(OScalar::B).boxed(),
        T::SByte => any::<i8>().prop_map(OScalar::I8).boxed(),
        T::Byte => any::<u8>().prop_map(OScalar::U8).boxed(),
        T::Int16 => any::<i16>().prop_map(OScalar::I16).boxed(),
        T::UInt16 => any::<u16>().prop_map(OScalar::U16).boxed(),
        T::Int32 => any::<i32>().prop_map(OScalar::I32).boxed(),
        T::UInt32 => any::<u32>().prop_map(OScalar::U32).boxed(),
        T::Int64 => any::<i64>().prop_map(OScalar::I64).boxed(),
        T::UInt64 => any::<u64>().prop_map(OScalar::U64).boxed(),
        T::Float => any::<u32>().prop_map(OScalar::F32).boxed(),
        T::Double => any::<u64>().prop_map(OScalar::F64).boxed(),
        T::String => bytes_opt().prop_map(OScalar::Str).boxed(),
        T::DateTime => any::<i64>().prop_map(OScalar::Dt).boxed(),
        T::Guid => any::<(u32, u16, u16, [u8; 8])>()
            .prop_map(|(a, b, c, d)| OScalar::Guid(a, b, c, d))
            .boxed(),
        T::ByteString => bytes_opt().prop_map(OScalar::Bytes).boxed(),
        T::XmlElement => bytes_opt().prop_map(OScalar::Xml).boxed(),
        T::StatusCode => any::<u32>().prop_map(OScalar::Status).boxed(),
    }
}

fn builtin_type() -> impl Strategy<Value = BuiltinType> {
    prop::sample::select(BuiltinType::ALL.to_vec())
}

fn scalar() -> impl Strategy<Value = OScalar> {
    builtin_type().prop_flat_map(scalar_of)
}

#[derive(Debug, Clone)]
enum OVariant {
    Null,
    Scalar(OScalar),
    /// element type, elements (None = null array), with a 2-D dimension split if Some(rows)
    Array(BuiltinType, Option<Vec<OScalar>>, Option<bool>),
}

impl OVariant {
    fn variant(&self) -> Variant<'_> {
        match self {
            OVariant::Null => Variant::Null,
            OVariant::Scalar(s) => Variant::Scalar(s.scalar()),
            OVariant::Array(ty, None, _) => Variant::Array(VariantArray::null(*ty)),
            OVariant::Array(ty, Some(values), dims) => {
                let scalars: Vec<Scalar<'_>> = values.iter().map(OScalar::scalar).collect();
                let d: Option<Vec<i32>> = dims.map(|two_d| {
                    if two_d && values.len() % 2 == 0 {
                        vec![2, values.len() as i32 / 2]
                    } else {
                        vec![values.len() as i32]
                    }
                });
                let scratch = leak(scalars.iter().map(Scalar::encoded_len).sum::<usize>() + 64);
                Variant::Array(
                    VariantArray::encode_from(*ty, &scalars, d.as_deref(), scratch)
                        .expect("array encodes"),
                )
            }
        }
    }
}

fn variant() -> impl Strategy<Value = OVariant> {
    prop_oneof![
        Just(OVariant::Null),
        scalar().prop_map(OVariant::Scalar),
        (
            builtin_type(),
            any::<bool>(),
            prop::option::of(any::<bool>())
        )
            .prop_flat_map(|(ty, null, dims)| {
                let values = if null {
                    Just(None).boxed()
                } else {
                    vec(scalar_of(ty), 0..5).prop_map(Some).boxed()
                };
                values.prop_map(move |v| OVariant::Array(ty, v, dims))
            }),
    ]
}

#[derive(Debug, Clone)]
struct ODataValue {
    value: Option<OVariant>,
    status: Option<u32>,
    src: Option<i64>,
    src_ps: Option<u16>,
    srv: Option<i64>,
    srv_ps: Option<u16>,
}

fn data_value() -> impl Strategy<Value = ODataValue> {
    (
        prop::option::of(variant()),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<u16>()),
    )
        .prop_map(|(value, status, src, src_ps, srv, srv_ps)| ODataValue {
            value,
            status,
            src,
            src_ps,
            srv,
            srv_ps,
        })
}

#[derive(Debug, Clone)]
enum OField {
    Variant(OVariant),
    DataValue(ODataValue),
    Raw(OScalar),
}

impl OField {
    fn value(&self) -> FieldValue<'_> {
        match self {
            OField::Variant(v) => FieldValue::Variant(v.variant()),
            OField::DataValue(d) => FieldValue::DataValue(DataValue {
                value: d.value.as_ref().map(OVariant::variant),
                status: d.status.map(StatusCode),
                source_timestamp: d.src.map(DateTime),
                source_picoseconds: d.src_ps,
                server_timestamp: d.srv.map(DateTime),
                server_picoseconds: d.srv_ps,
            }),
            OField::Raw(s) => FieldValue::Raw(s.scalar()),
        }
    }
}

#[derive(Debug, Clone)]
struct ODsm {
    writer_id: u16,
    header: DataSetMessageHeader,
    layout: Vec<BuiltinType>,
    fields: Vec<(u16, OField)>,
}

fn dsm_header() -> impl Strategy<Value = DataSetMessageHeader> {
    (
        any::<bool>(),
        prop::sample::select(vec![
            FieldEncoding::Variant,
            FieldEncoding::RawData,
            FieldEncoding::DataValue,
        ]),
        prop::sample::select(vec![
            DataSetMessageType::KeyFrame,
            DataSetMessageType::DeltaFrame,
            DataSetMessageType::Event,
            DataSetMessageType::KeepAlive,
        ]),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<i64>()),
        prop::option::of(any::<u16>()),
        prop::option::of(any::<u16>()),
        (
            prop::option::of(any::<u32>()),
            prop::option::of(any::<u32>()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(valid, field_encoding, message_type, seq, ts, ps, status, (maj, min, f2))| {
                DataSetMessageHeader {
                    valid,
                    field_encoding,
                    message_type,
                    sequence_number: seq,
                    timestamp: ts.map(DateTime),
                    picoseconds: ps,
                    status,
                    config_version_major: maj,
                    config_version_minor: min,
                    flags2_present: f2,
                }
            },
        )
}

fn dsm() -> impl Strategy<Value = ODsm> {
    (any::<u16>(), dsm_header(), vec(builtin_type(), 1..6)).prop_flat_map(
        |(writer_id, header, layout)| {
            let fields: BoxedStrategy<Vec<(u16, OField)>> =
                match (header.message_type, header.field_encoding) {
                    (DataSetMessageType::KeepAlive, _) => Just(vec![]).boxed(),
                    (DataSetMessageType::DeltaFrame, FieldEncoding::RawData) => {
                        let l = layout.clone();
                        vec(0..l.len() as u16, 0..4)
                            .prop_flat_map(move |idx| {
                                idx.iter()
                                    .map(|i| {
                                        scalar_of(l[*i as usize]).prop_map(OField::Raw).prop_map({
                                            let i = *i;
                                            move |f| (i, f)
                                        })
                                    })
                                    .collect::<Vec<_>>()
                            })
                            .boxed()
                    }
                    (_, FieldEncoding::RawData) => layout
                        .iter()
                        .enumerate()
                        .map(|(i, t)| scalar_of(*t).prop_map(move |s| (i as u16, OField::Raw(s))))
                        .collect::<Vec<_>>()
                        .boxed(),
                    (t, enc) => {
                        let value = if enc == FieldEncoding::Variant {
                            variant().prop_map(OField::Variant).boxed()
                        } else {
                            data_value().prop_map(OField::DataValue).boxed()
                        };
                        let delta = t == DataSetMessageType::DeltaFrame;
                        vec((any::<u16>(), value), 0..4)
                            .prop_map(move |v| {
                                v.into_iter()
                                    .enumerate()
                                    .map(|(i, (idx, f))| (if delta { idx } else { i as u16 }, f))
                                    .collect()
                            })
                            .boxed()
                    }
                };
            fields.prop_map(move |fields| ODsm {
                writer_id,
                header,
                layout: layout.clone(),
                fields,
            })
        },
    )
}

#[derive(Debug, Clone)]
enum OPub {
    B(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    S(Option<Vec<u8>>),
}

/// signed, encrypted, force key reset, token id, nonce, footer size, trailer bytes
type OSecurity = (bool, bool, bool, u32, Vec<u8>, Option<u16>, Vec<u8>);

#[derive(Debug, Clone)]
struct OMsg {
    publisher: Option<OPub>,
    class_id: Option<[u8; 16]>,
    group: Option<GroupHeader>,
    payload_header: bool,
    timestamp: Option<i64>,
    picoseconds: Option<u16>,
    promoted: Option<Vec<OVariant>>,
    security: Option<OSecurity>,
    ext1: bool,
    ext2: bool,
    dsms: Vec<ODsm>,
    encrypted_bytes: Vec<u8>,
}

fn group() -> impl Strategy<Value = GroupHeader> {
    any::<(Option<u16>, Option<u32>, Option<u16>, Option<u16>)>().prop_map(|(a, b, c, d)| {
        GroupHeader {
            writer_group_id: a,
            group_version: b,
            network_message_number: c,
            sequence_number: d,
        }
    })
}

fn message() -> impl Strategy<Value = OMsg> {
    let publisher = prop::option::of(prop_oneof![
        any::<u8>().prop_map(OPub::B),
        any::<u16>().prop_map(OPub::U16),
        any::<u32>().prop_map(OPub::U32),
        any::<u64>().prop_map(OPub::U64),
        bytes_opt().prop_map(OPub::S),
    ]);
    let security = prop::option::of((
        any::<bool>(),
        prop::bool::weighted(0.2),
        any::<bool>(),
        any::<u32>(),
        vec(any::<u8>(), 0..8),
        prop::option::of(any::<u16>()),
        vec(any::<u8>(), 0..8),
    ));
    (
        (
            publisher,
            prop::option::of(any::<[u8; 16]>()),
            prop::option::of(group()),
            any::<bool>(),
        ),
        (
            prop::option::of(any::<i64>()),
            prop::option::of(any::<u16>()),
            prop::option::of(vec(variant(), 0..3)),
        ),
        (security, any::<bool>(), any::<bool>()),
        vec(dsm(), 1..4),
        vec(any::<u8>(), 0..16),
    )
        .prop_map(
            |(
                (publisher, class_id, group, payload_header),
                (timestamp, picoseconds, promoted),
                (security, ext1, ext2),
                mut dsms,
                encrypted_bytes,
            )| {
                if !payload_header {
                    dsms.truncate(1);
                }
                OMsg {
                    publisher,
                    class_id,
                    group,
                    payload_header,
                    timestamp,
                    picoseconds,
                    promoted,
                    security,
                    ext1,
                    ext2,
                    dsms,
                    encrypted_bytes,
                }
            },
        )
}

struct Built<'a> {
    msg: NetworkMessage<'a>,
    layouts: Vec<(u16, &'a [BuiltinType])>,
}

fn build(o: &OMsg) -> Built<'_> {
    let mut msg = NetworkMessage {
        publisher_id: o.publisher.as_ref().map(|p| match p {
            OPub::B(v) => PublisherId::Byte(*v),
            OPub::U16(v) => PublisherId::UInt16(*v),
            OPub::U32(v) => PublisherId::UInt32(*v),
            OPub::U64(v) => PublisherId::UInt64(*v),
            OPub::S(s) => PublisherId::String(UaBytes(s.as_deref())),
        }),
        dataset_class_id: o.class_id.map(|b| Guid {
            data1: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            data2: u16::from_le_bytes([b[4], b[5]]),
            data3: u16::from_le_bytes([b[6], b[7]]),
            data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }),
        group_header: o.group,
        payload_header: o.payload_header,
        timestamp: o.timestamp.map(DateTime),
        picoseconds: o.picoseconds,
        extended_flags1_present: o.ext1,
        extended_flags2_present: o.ext2,
        ..Default::default()
    };
    if let Some(p) = &o.promoted {
        let values: Vec<Variant<'_>> = p.iter().map(OVariant::variant).collect();
        msg.promoted_fields =
            Some(PromotedFields::encode_from(&values, leak(4096)).expect("promoted fields encode"));
    }
    let mut layouts = Vec::new();
    if let Some((signed, encrypted, reset, token, nonce, footer, trailer)) = &o.security {
        msg.security = Some(SecurityHeader {
            signed: *signed,
            encrypted: *encrypted,
            force_key_reset: *reset,
            security_token_id: *token,
            message_nonce: nonce,
            footer_size: *footer,
        });
        if *encrypted {
            let ids: Vec<u8> = if o.payload_header {
                o.dsms
                    .iter()
                    .flat_map(|d| d.writer_id.to_le_bytes())
                    .collect()
            } else {
                vec![]
            };
            let ids: &'static [u8] = Box::leak(ids.into_boxed_slice());
            msg.payload = Payload::Encrypted {
                writer_ids: ids,
                bytes: &o.encrypted_bytes,
            };
            return Built { msg, layouts };
        }
        msg.security_trailer = trailer;
    }
    let mut list = Payload::default();
    for (i, d) in o.dsms.iter().enumerate() {
        let writer_id = if o.payload_header {
            Some(d.writer_id)
        } else {
            None
        };
        let fields = if d.header.message_type == DataSetMessageType::KeepAlive {
            Fields::default()
        } else {
            let mut w = FieldsWriter::new(leak(8192), d.header.field_encoding);
            for (idx, f) in &d.fields {
                if d.header.message_type == DataSetMessageType::DeltaFrame {
                    w.push_indexed(*idx, &f.value()).expect("field encodes");
                } else {
                    w.push(&f.value()).expect("field encodes");
                }
            }
            w.finish().expect("fields finish")
        };
        if d.header.field_encoding == FieldEncoding::RawData {
            // The decoder looks layouts up by writer id; without a PayloadHeader there is one DSM.
            layouts.push((writer_id.unwrap_or(0), &d.layout[..]));
        }
        if let Payload::DataSetMessages(v) = &mut list {
            v.push(DataSetMessage {
                writer_id,
                header: d.header,
                fields,
            });
        }
        let _ = i;
    }
    msg.payload = list;
    Built { msg, layouts }
}

fn normalised<'a>(m: &NetworkMessage<'a>) -> NetworkMessage<'a> {
    let mut n = m.clone();
    n.extended_flags2_present = m.promoted_fields.is_some() || m.extended_flags2_present;
    n.extended_flags1_present = matches!(
        m.publisher_id,
        Some(
            PublisherId::UInt16(_)
                | PublisherId::UInt32(_)
                | PublisherId::UInt64(_)
                | PublisherId::String(_)
        )
    ) || m.dataset_class_id.is_some()
        || m.security.is_some()
        || m.timestamp.is_some()
        || m.picoseconds.is_some()
        || n.extended_flags2_present
        || m.extended_flags1_present;
    if let Payload::DataSetMessages(v) = &mut n.payload {
        for d in v.iter_mut() {
            let h = &mut d.header;
            h.flags2_present = h.flags2_present
                || h.message_type != DataSetMessageType::KeyFrame
                || h.timestamp.is_some()
                || h.picoseconds.is_some();
        }
    }
    n
}

/// The fast path agrees with the general one: [`NetworkMessageView::decode`] accepts exactly
/// what [`NetworkMessage::decode_with`] accepts, with the same error, gives the same message, and
/// its value iterators yield what `fields()` yields.
fn check_view(bytes: &[u8], options: &DecodeOptions<'_>) -> Result<(), TestCaseError> {
    let general = NetworkMessage::decode_with(bytes, options);
    let view = NetworkMessageView::decode(bytes, options);
    let (m, v) = match (general, view) {
        (Err(a), Err(b)) => {
            prop_assert_eq!(a, b);
            return Ok(());
        }
        (Ok(m), Ok(v)) => (m, v),
        (a, b) => {
            return Err(TestCaseError::fail(format!(
                "decode_with and the view disagree: {:?} / {:?}",
                a.map(|_| ()),
                b.map(|_| ())
            )))
        }
    };
    prop_assert_eq!(&v.to_message(), &m);
    prop_assert_eq!(v.header(), m.header());
    prop_assert_eq!(v.publisher_id(), m.publisher_id);
    prop_assert_eq!(v.dataset_class_id(), m.dataset_class_id);
    prop_assert_eq!(v.group_header(), m.group_header);
    prop_assert_eq!(v.payload_header(), m.payload_header);
    prop_assert_eq!(v.timestamp(), m.timestamp);
    prop_assert_eq!(v.picoseconds(), m.picoseconds);
    prop_assert_eq!(v.promoted_fields(), m.promoted_fields);
    prop_assert_eq!(v.security(), m.security);
    prop_assert_eq!(v.security_trailer(), m.security_trailer);
    prop_assert_eq!(v.padding(), m.padding);
    prop_assert_eq!(v.bytes(), bytes);
    match &m.payload {
        Payload::Encrypted { writer_ids, bytes } => {
            prop_assert_eq!(v.encrypted_payload(), Some((*writer_ids, *bytes)));
        }
        Payload::DataSetMessages(_) => prop_assert_eq!(v.encrypted_payload(), None),
    }
    prop_assert_eq!(v.dataset_count(), m.dataset_messages().len());
    prop_assert_eq!(v.dataset_messages().len(), m.dataset_messages().len());
    prop_assert_eq!(v.dataset_messages().count(), m.dataset_messages().len());
    for (i, (dv, d)) in v.dataset_messages().zip(m.dataset_messages()).enumerate() {
        prop_assert_eq!(v.dataset_message(i), Some(dv));
        prop_assert_eq!(&dv.message(), d);
        prop_assert_eq!(dv.writer_id(), d.writer_id);
        prop_assert_eq!(dv.header(), d.header);
        prop_assert_eq!(dv.sequence_number(), d.header.sequence_number);
        prop_assert_eq!(dv.field_encoding(), d.header.field_encoding);
        prop_assert_eq!(dv.message_type(), d.header.message_type);
        prop_assert_eq!(dv.fields(), d.fields);
        let layout = dv.layout();
        prop_assert_eq!(layout, options.layout_for_test(d.writer_id));
        let general: Vec<Result<Field<'_>, DecodeError>> = d.fields(layout).collect();
        let errors = general.iter().filter(|f| f.is_err()).count();
        prop_assert_eq!(dv.missing_layout(), errors > 0, "{:?}", general);
        let values: Vec<Field<'_>> = dv.values().collect();
        prop_assert_eq!(dv.values().len(), values.len());
        prop_assert_eq!(dv.field_count(), values.len());
        let folded: Vec<Field<'_>> = dv.values().fold(Vec::new(), |mut acc, f| {
            acc.push(f);
            acc
        });
        prop_assert_eq!(&folded, &values);
        if errors == 0 {
            let want: Vec<Field<'_>> = general.into_iter().map(|f| f.expect("no error")).collect();
            prop_assert_eq!(values.len(), want.len());
            for (g, w) in values.iter().zip(&want) {
                prop_assert_eq!(g.index, w.index);
                assert_same_value(&g.value, &w.value)?;
            }
        } else {
            prop_assert!(values.is_empty());
        }
        let raw: Vec<Scalar<'_>> = dv.raw_values().collect();
        let raw_folded: Vec<Scalar<'_>> = dv.raw_values().fold(Vec::new(), |mut acc, s| {
            acc.push(s);
            acc
        });
        prop_assert_eq!(&raw_folded, &raw);
        let raw_key = d.header.field_encoding == FieldEncoding::RawData
            && matches!(
                d.header.message_type,
                DataSetMessageType::KeyFrame | DataSetMessageType::Event
            )
            && layout.is_some();
        if raw_key {
            let want: Vec<Scalar<'_>> = values
                .iter()
                .map(|f| match f.value {
                    FieldValue::Raw(s) => s,
                    other => panic!("a RawData field decoded as {other:?}"),
                })
                .collect();
            prop_assert_eq!(raw, want);
        } else {
            prop_assert!(raw.is_empty());
        }
    }
    prop_assert_eq!(v.dataset_message(v.dataset_count()), None);
    Ok(())
}

/// What `DecodeOptions` gives a DataSetMessage (its private `layout_for`, restated).
trait LayoutFor<'l> {
    fn layout_for_test(&self, writer_id: Option<u16>) -> Option<&'l [BuiltinType]>;
}

impl<'l> LayoutFor<'l> for DecodeOptions<'l> {
    fn layout_for_test(&self, writer_id: Option<u16>) -> Option<&'l [BuiltinType]> {
        writer_id
            .and_then(|id| {
                self.raw_layouts_by_writer
                    .iter()
                    .find(|(w, _)| *w == id)
                    .map(|(_, l)| *l)
            })
            .or(self.raw_layout)
    }
}

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

/// Values compare structurally; arrays compare by their decoded elements.
fn assert_same_value(got: &FieldValue<'_>, want: &FieldValue<'_>) -> Result<(), TestCaseError> {
    prop_assert_eq!(got, want);
    if let (FieldValue::Variant(Variant::Array(g)), FieldValue::Variant(Variant::Array(w))) =
        (got, want)
    {
        let gv: Vec<_> = g.values().collect::<Result<_, _>>().expect("array values");
        let wv: Vec<_> = w.values().collect::<Result<_, _>>().expect("array values");
        prop_assert_eq!(gv, wv);
        prop_assert_eq!(
            g.dimension_values().collect::<Vec<_>>(),
            w.dimension_values().collect::<Vec<_>>()
        );
    }
    Ok(())
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
