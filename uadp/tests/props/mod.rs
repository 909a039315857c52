//! Generators of the property tests: owned messages (every header option, every field
//! encoding and type), their strategies, building the borrowed `NetworkMessage` from them, the
//! normalisation the wire format implies, and the view-against-decode check.

use proptest::collection::vec;
use proptest::prelude::*;
use uadp::*;

mod check;
pub use check::*;

pub fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

#[derive(Debug, Clone)]
pub enum OScalar {
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
    pub fn scalar(&self) -> Scalar<'_> {
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

pub fn bytes_opt() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::of(vec(any::<u8>(), 0..12))
}

pub fn scalar_of(ty: BuiltinType) -> BoxedStrategy<OScalar> {
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

pub fn builtin_type() -> impl Strategy<Value = BuiltinType> {
    prop::sample::select(BuiltinType::ALL.to_vec())
}

pub fn scalar() -> impl Strategy<Value = OScalar> {
    builtin_type().prop_flat_map(scalar_of)
}

#[derive(Debug, Clone)]
pub enum OVariant {
    Null,
    Scalar(OScalar),
    /// element type, elements (None = null array), with a 2-D dimension split if Some(rows)
    Array(BuiltinType, Option<Vec<OScalar>>, Option<bool>),
}

impl OVariant {
    pub fn variant(&self) -> Variant<'_> {
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

pub fn variant() -> impl Strategy<Value = OVariant> {
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
pub struct ODataValue {
    pub value: Option<OVariant>,
    pub status: Option<u32>,
    pub src: Option<i64>,
    pub src_ps: Option<u16>,
    pub srv: Option<i64>,
    pub srv_ps: Option<u16>,
}

pub fn data_value() -> impl Strategy<Value = ODataValue> {
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
pub enum OField {
    Variant(OVariant),
    DataValue(ODataValue),
    Raw(OScalar),
}

impl OField {
    pub fn value(&self) -> FieldValue<'_> {
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
pub struct ODsm {
    pub writer_id: u16,
    pub header: DataSetMessageHeader,
    pub layout: Vec<BuiltinType>,
    pub fields: Vec<(u16, OField)>,
}

pub fn dsm_header() -> impl Strategy<Value = DataSetMessageHeader> {
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

pub fn dsm() -> impl Strategy<Value = ODsm> {
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
pub enum OPub {
    B(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    S(Option<Vec<u8>>),
}

/// signed, encrypted, force key reset, token id, nonce, footer size, trailer bytes
pub type OSecurity = (bool, bool, bool, u32, Vec<u8>, Option<u16>, Vec<u8>);

#[derive(Debug, Clone)]
pub struct OMsg {
    pub publisher: Option<OPub>,
    pub class_id: Option<[u8; 16]>,
    pub group: Option<GroupHeader>,
    pub payload_header: bool,
    pub timestamp: Option<i64>,
    pub picoseconds: Option<u16>,
    pub promoted: Option<Vec<OVariant>>,
    pub security: Option<OSecurity>,
    pub ext1: bool,
    pub ext2: bool,
    pub dsms: Vec<ODsm>,
    pub encrypted_bytes: Vec<u8>,
}

pub fn group() -> impl Strategy<Value = GroupHeader> {
    any::<(Option<u16>, Option<u32>, Option<u16>, Option<u16>)>().prop_map(|(a, b, c, d)| {
        GroupHeader {
            writer_group_id: a,
            group_version: b,
            network_message_number: c,
            sequence_number: d,
        }
    })
}

pub fn message() -> impl Strategy<Value = OMsg> {
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

pub struct Built<'a> {
    pub msg: NetworkMessage<'a>,
    pub layouts: Vec<(u16, &'a [BuiltinType])>,
}

pub fn build(o: &OMsg) -> Built<'_> {
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

pub fn normalised<'a>(m: &NetworkMessage<'a>) -> NetworkMessage<'a> {
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
