//! JSON rendering of decoded UADP messages, for `uadpbench decode`: every header field and every
//! decoded value, numbers as JSON numbers (64-bit integers exactly), DateTimes as RFC 3339 UTC
//! text beside their raw 100 ns ticks.

use serde_json::{json, Map, Value};
use uadp::{
    BuiltinType, DataSetMessage, DataSetMessageType, DataValue, DateTime, FieldEncoding,
    FieldValue, NetworkMessage, Payload, PublisherId, Scalar, UaBytes, Variant, VariantArray,
};

/// RFC 3339 text of an OPC UA DateTime, or `None` outside the representable range.
pub fn datetime_text(dt: DateTime) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(dt.to_unix_nanos()).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn datetime(dt: DateTime) -> Value {
    json!({ "utc": datetime_text(dt), "ticks": dt.0 })
}

fn bytes_text(b: UaBytes<'_>, as_text: bool) -> Value {
    match b.bytes() {
        None => Value::Null,
        Some(raw) if as_text => match std::str::from_utf8(raw) {
            Ok(s) => Value::String(s.to_owned()),
            Err(_) => json!({ "invalid_utf8_hex": hex::encode(raw) }),
        },
        Some(raw) => Value::String(hex::encode(raw)),
    }
}

fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or_else(|| Value::String(v.to_string()), Value::Number)
}

/// The value of a scalar (without its type).
pub fn scalar_value(s: &Scalar<'_>) -> Value {
    match *s {
        Scalar::Boolean(v) => v.into(),
        Scalar::SByte(v) => v.into(),
        Scalar::Byte(v) => v.into(),
        Scalar::Int16(v) => v.into(),
        Scalar::UInt16(v) => v.into(),
        Scalar::Int32(v) => v.into(),
        Scalar::UInt32(v) => v.into(),
        Scalar::Int64(v) => v.into(),
        Scalar::UInt64(v) => v.into(),
        Scalar::Float(v) => float(f64::from(v)),
        Scalar::Double(v) => float(v),
        Scalar::String(b) | Scalar::XmlElement(b) => bytes_text(b, true),
        Scalar::ByteString(b) => bytes_text(b, false),
        Scalar::DateTime(d) => datetime_text(d).map_or(Value::Null, Value::String),
        Scalar::Guid(g) => g.to_string().into(),
        Scalar::StatusCode(c) => c.0.into(),
    }
}

fn typed_scalar(s: &Scalar<'_>) -> Value {
    let mut o = Map::new();
    o.insert("type".into(), s.builtin_type().name().into());
    o.insert("value".into(), scalar_value(s));
    if let Scalar::DateTime(d) = s {
        o.insert("ticks".into(), d.0.into());
    }
    Value::Object(o)
}

fn array(a: &VariantArray<'_>) -> Value {
    let values: Result<Vec<Value>, _> = a.values().map(|v| v.map(|s| scalar_value(&s))).collect();
    let mut o = Map::new();
    o.insert("type".into(), a.element_type.name().into());
    match (a.len, values) {
        (None, _) => {
            o.insert("array".into(), Value::Null);
        }
        (Some(_), Ok(v)) => {
            o.insert("array".into(), Value::Array(v));
        }
        (Some(_), Err(e)) => {
            o.insert("error".into(), e.to_string().into());
        }
    }
    if a.dimensions.is_some() {
        o.insert(
            "dimensions".into(),
            a.dimension_values().collect::<Vec<i32>>().into(),
        );
    }
    Value::Object(o)
}

/// A Variant as `{"type":..,"value":..}`, `{"type":..,"array":[..]}` or `null`.
pub fn variant(v: &Variant<'_>) -> Value {
    match v {
        Variant::Null => json!({ "type": "Null", "value": null }),
        Variant::Scalar(s) => typed_scalar(s),
        Variant::Array(a) => array(a),
    }
}

fn data_value(d: &DataValue<'_>) -> Value {
    let mut o = Map::new();
    if let Some(v) = &d.value {
        o.insert("value".into(), variant(v));
    }
    if let Some(s) = d.status {
        o.insert("status".into(), s.0.into());
    }
    if let Some(t) = d.source_timestamp {
        o.insert("source_timestamp".into(), datetime(t));
    }
    if let Some(p) = d.source_picoseconds {
        o.insert("source_picoseconds".into(), p.into());
    }
    if let Some(t) = d.server_timestamp {
        o.insert("server_timestamp".into(), datetime(t));
    }
    if let Some(p) = d.server_picoseconds {
        o.insert("server_picoseconds".into(), p.into());
    }
    Value::Object(o)
}

fn field_value(v: &FieldValue<'_>) -> Value {
    match v {
        FieldValue::Variant(v) => variant(v),
        FieldValue::DataValue(d) => json!({ "type": "DataValue", "value": data_value(d) }),
        FieldValue::Raw(s) => typed_scalar(s),
    }
}

fn dataset_message(d: &DataSetMessage<'_>, raw_layout: Option<&[BuiltinType]>) -> Value {
    let h = &d.header;
    let mut o = Map::new();
    if let Some(w) = d.writer_id {
        o.insert("writer_id".into(), w.into());
    }
    o.insert("valid".into(), h.valid.into());
    o.insert(
        "message_type".into(),
        format!("{:?}", h.message_type).into(),
    );
    o.insert(
        "field_encoding".into(),
        format!("{:?}", h.field_encoding).into(),
    );
    if let Some(s) = h.sequence_number {
        o.insert("sequence_number".into(), s.into());
    }
    if let Some(t) = h.timestamp {
        o.insert("timestamp".into(), datetime(t));
    }
    if let Some(p) = h.picoseconds {
        o.insert("picoseconds".into(), p.into());
    }
    if let Some(s) = h.status {
        o.insert("status".into(), s.into());
    }
    if let Some(v) = h.config_version_major {
        o.insert("config_version_major".into(), v.into());
    }
    if let Some(v) = h.config_version_minor {
        o.insert("config_version_minor".into(), v.into());
    }
    if h.message_type != DataSetMessageType::KeepAlive {
        if h.field_encoding == FieldEncoding::RawData && raw_layout.is_none() {
            // Without the DataSet's field layout RawData cannot be split into fields.
            o.insert("raw_data_hex".into(), hex::encode(d.fields.bytes).into());
        } else {
            let mut fields = Vec::new();
            for f in d.fields(raw_layout) {
                match f {
                    Ok(f) => {
                        let mut v = field_value(&f.value);
                        if let Value::Object(m) = &mut v {
                            m.insert("index".into(), f.index.into());
                        }
                        fields.push(v);
                    }
                    Err(e) => fields.push(json!({ "error": e.to_string() })),
                }
            }
            o.insert("fields".into(), Value::Array(fields));
        }
    }
    Value::Object(o)
}

/// The whole NetworkMessage as one JSON object.
pub fn network_message(m: &NetworkMessage<'_>, raw_layout: Option<&[BuiltinType]>) -> Value {
    let mut o = Map::new();
    if let Some(p) = &m.publisher_id {
        let (ty, value) = match p {
            PublisherId::Byte(v) => ("Byte", Value::from(*v)),
            PublisherId::UInt16(v) => ("UInt16", Value::from(*v)),
            PublisherId::UInt32(v) => ("UInt32", Value::from(*v)),
            PublisherId::UInt64(v) => ("UInt64", Value::from(*v)),
            PublisherId::String(s) => ("String", bytes_text(*s, true)),
        };
        o.insert("publisher_id".into(), json!({ "type": ty, "value": value }));
    }
    if let Some(g) = m.dataset_class_id {
        o.insert("dataset_class_id".into(), g.to_string().into());
    }
    if let Some(g) = &m.group_header {
        let mut gh = Map::new();
        if let Some(v) = g.writer_group_id {
            gh.insert("writer_group_id".into(), v.into());
        }
        if let Some(v) = g.group_version {
            gh.insert("group_version".into(), v.into());
        }
        if let Some(v) = g.network_message_number {
            gh.insert("network_message_number".into(), v.into());
        }
        if let Some(v) = g.sequence_number {
            gh.insert("sequence_number".into(), v.into());
        }
        o.insert("group_header".into(), Value::Object(gh));
    }
    o.insert("payload_header".into(), m.payload_header.into());
    if let Some(t) = m.timestamp {
        o.insert("timestamp".into(), datetime(t));
    }
    if let Some(p) = m.picoseconds {
        o.insert("picoseconds".into(), p.into());
    }
    if let Some(p) = &m.promoted_fields {
        let values: Vec<Value> = p
            .values()
            .map(|v| v.map_or_else(|e| json!({ "error": e.to_string() }), |v| variant(&v)))
            .collect();
        o.insert("promoted_fields".into(), Value::Array(values));
    }
    if let Some(s) = &m.security {
        o.insert(
            "security".into(),
            json!({
                "signed": s.signed,
                "encrypted": s.encrypted,
                "force_key_reset": s.force_key_reset,
                "security_token_id": s.security_token_id,
                "message_nonce_hex": hex::encode(s.message_nonce),
                "footer_size": s.footer_size,
                "trailer_hex": hex::encode(m.security_trailer),
            }),
        );
    }
    match &m.payload {
        Payload::DataSetMessages(list) => {
            let ds: Vec<Value> = list
                .iter()
                .map(|d| dataset_message(d, raw_layout))
                .collect();
            o.insert("dataset_messages".into(), Value::Array(ds));
        }
        Payload::Encrypted { writer_ids, bytes } => {
            let ids: Vec<u16> = writer_ids
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            o.insert("writer_ids".into(), ids.into());
            o.insert("encrypted_payload_hex".into(), hex::encode(bytes).into());
        }
    }
    if m.padding > 0 {
        o.insert("padding_bytes".into(), m.padding.into());
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_2024() {
        assert_eq!(
            datetime_text(DateTime(0x01da_3c45_7689_c000)).as_deref(),
            Some("2024-01-01T00:00:00Z")
        );
    }

    #[test]
    fn u64_stays_exact() {
        let v = scalar_value(&Scalar::UInt64(u64::MAX));
        assert_eq!(v.to_string(), "18446744073709551615");
    }

    #[test]
    fn nan_is_text_not_invalid_json() {
        assert_eq!(
            scalar_value(&Scalar::Double(f64::NAN)),
            Value::String("NaN".into())
        );
    }
}
