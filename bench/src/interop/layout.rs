//! A publisher's identity and DataSet layout ([`Layout`]), the serde form that command lines,
//! `--config` files and campaign files fill in ([`LayoutConfig`]: a preset plus overrides), and
//! the encoder that turns message *i* into UADP bytes ([`MessageEncoder`]).
//!
//! What each message carries, for message index *i* (0, 1, …):
//!
//! * NetworkMessage SequenceNumber and every DataSetMessage SequenceNumber: *i* mod 2¹⁶;
//!   NetworkMessageNumber 1 (one NetworkMessage per WriterGroup and cycle).
//! * Timestamps: the send time (UTC), PicoSeconds its sub-100 ns part; DataSetMessage Status 0
//!   (Good); ConfigurationVersion and GroupVersion as configured.
//! * Fields: the configured generators (counter, now, toggle, mono-ns, constants); every
//!   DataSetWriter of the message carries the same values.
//! * PromotedFields (if enabled): the first field, as a Variant.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uadp::{
    BuiltinType, DataSetMessage, DataSetMessageHeader, DataSetMessageType, DataValue, EncodeError,
    FieldEncoding, FieldValue, FieldsWriter, GroupHeader, Guid, NetworkMessage, Payload,
    PromotedFields, PublisherId, UaBytes, Variant, MAX_DATASET_MESSAGES,
};

use super::fields::{guid_from_text, FieldList, FieldSpec, Generator, OwnedScalar, SendTime};
use super::mask::{DataSetMessageContentMask as D, NetworkMessageContentMask as N};
use super::preset::Preset;

/// A layout that cannot be published, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("{0}")]
    Invalid(String),
    #[error("PublisherId `{text}`: {problem}; write TYPE:VALUE with TYPE one of Byte, UInt16, UInt32, UInt64, String (e.g. UInt16:2234), or a number for the preset's type")]
    PublisherId { text: String, problem: String },
}

/// The type of a PublisherId (ExtendedFlags1 bits 0–2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublisherIdType {
    Byte,
    UInt16,
    UInt32,
    UInt64,
    String,
}

impl PublisherIdType {
    fn from_name(name: &str) -> Option<Self> {
        [
            ("Byte", Self::Byte),
            ("UInt16", Self::UInt16),
            ("UInt32", Self::UInt32),
            ("UInt64", Self::UInt64),
            ("String", Self::String),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, t)| t)
    }
}

/// An owned PublisherId.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublisherIdValue {
    Byte(u8),
    UInt16(u16),
    UInt32(u32),
    UInt64(u64),
    /// Kept as bytes: the wire does not promise UTF-8.
    String(Vec<u8>),
}

impl PublisherIdValue {
    /// As the codec writes it.
    pub fn as_wire(&self) -> PublisherId<'_> {
        match self {
            PublisherIdValue::Byte(v) => PublisherId::Byte(*v),
            PublisherIdValue::UInt16(v) => PublisherId::UInt16(*v),
            PublisherIdValue::UInt32(v) => PublisherId::UInt32(*v),
            PublisherIdValue::UInt64(v) => PublisherId::UInt64(*v),
            PublisherIdValue::String(s) => PublisherId::String(UaBytes::new(s)),
        }
    }

    /// Copies a decoded one (a null String becomes the empty string).
    pub fn from_wire(p: &PublisherId<'_>) -> Self {
        match *p {
            PublisherId::Byte(v) => PublisherIdValue::Byte(v),
            PublisherId::UInt16(v) => PublisherIdValue::UInt16(v),
            PublisherId::UInt32(v) => PublisherIdValue::UInt32(v),
            PublisherId::UInt64(v) => PublisherIdValue::UInt64(v),
            PublisherId::String(s) => {
                PublisherIdValue::String(s.bytes().unwrap_or_default().to_vec())
            }
        }
    }

    /// The type.
    pub fn id_type(&self) -> PublisherIdType {
        match self {
            PublisherIdValue::Byte(_) => PublisherIdType::Byte,
            PublisherIdValue::UInt16(_) => PublisherIdType::UInt16,
            PublisherIdValue::UInt32(_) => PublisherIdType::UInt32,
            PublisherIdValue::UInt64(_) => PublisherIdType::UInt64,
            PublisherIdValue::String(_) => PublisherIdType::String,
        }
    }

    /// Parses `TYPE:VALUE`, or a bare value of `default_type`.
    pub fn parse(text: &str, default_type: PublisherIdType) -> Result<Self, LayoutError> {
        let error = |problem: &str| LayoutError::PublisherId {
            text: text.to_owned(),
            problem: problem.to_owned(),
        };
        let (ty, value) = match text.split_once(':') {
            Some((t, v)) => (
                PublisherIdType::from_name(t.trim()).ok_or_else(|| error("unknown type"))?,
                v,
            ),
            None => (default_type, text),
        };
        if ty == PublisherIdType::String {
            return Ok(PublisherIdValue::String(value.as_bytes().to_vec()));
        }
        let v = value.trim();
        let n = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
            Some(h) => u64::from_str_radix(h, 16),
            None => v.parse::<u64>(),
        }
        .map_err(|_| error("not an unsigned number"))?;
        let range = || error("out of the type's range");
        Ok(match ty {
            PublisherIdType::Byte => PublisherIdValue::Byte(u8::try_from(n).map_err(|_| range())?),
            PublisherIdType::UInt16 => {
                PublisherIdValue::UInt16(u16::try_from(n).map_err(|_| range())?)
            }
            PublisherIdType::UInt32 => {
                PublisherIdValue::UInt32(u32::try_from(n).map_err(|_| range())?)
            }
            PublisherIdType::UInt64 | PublisherIdType::String => PublisherIdValue::UInt64(n),
        })
    }
}

impl fmt::Display for PublisherIdValue {
    /// `UInt16:2234`, `String:plc-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PublisherIdValue::Byte(v) => write!(f, "Byte:{v}"),
            PublisherIdValue::UInt16(v) => write!(f, "UInt16:{v}"),
            PublisherIdValue::UInt32(v) => write!(f, "UInt32:{v}"),
            PublisherIdValue::UInt64(v) => write!(f, "UInt64:{v}"),
            PublisherIdValue::String(s) => write!(f, "String:{}", String::from_utf8_lossy(s)),
        }
    }
}

/// A PublisherId as written in TOML: `"UInt16:2234"` or a number (of the preset's type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PublisherIdSetting {
    Number(u64),
    Text(String),
}

impl FromStr for PublisherIdSetting {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(PublisherIdSetting::Text(s.to_owned()))
    }
}

/// ConfigurationVersion of the DataSet (MajorVersion, MinorVersion); text form `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigVersion {
    pub major: u32,
    pub minor: u32,
}

impl FromStr for ConfigVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        match (a.trim().parse(), b.trim().parse()) {
            (Ok(major), Ok(minor)) => Ok(ConfigVersion { major, minor }),
            _ => Err(format!(
                "`{s}` is not MAJOR.MINOR (two unsigned 32-bit numbers, e.g. 1.0); use the \
                 subscriber's DataSetMetaData ConfigurationVersion"
            )),
        }
    }
}

impl fmt::Display for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Field encoding (DataSetFieldContentMask RawData bit, or Variant / DataValue).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// Each field a Variant (self-describing).
    #[default]
    #[serde(alias = "Variant")]
    Variant,
    /// Bare values; the subscriber must know the field types.
    #[serde(alias = "RawData")]
    RawData,
    /// Each field a DataValue carrying the value.
    #[serde(alias = "DataValue")]
    DataValue,
}

impl From<Encoding> for FieldEncoding {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Variant => FieldEncoding::Variant,
            Encoding::RawData => FieldEncoding::RawData,
            Encoding::DataValue => FieldEncoding::DataValue,
        }
    }
}

/// A complete publisher layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The preset it started from.
    pub preset: Option<Preset>,
    pub publisher_id: PublisherIdValue,
    pub writer_group_id: u16,
    /// One DataSetMessage per writer in each NetworkMessage (several need the PayloadHeader).
    pub writer_ids: Vec<u16>,
    pub network_message: N,
    pub dataset_message: D,
    pub encoding: FieldEncoding,
    pub fields: Vec<FieldSpec>,
    pub group_version: u32,
    pub config_version: ConfigVersion,
    pub dataset_class_id: Guid,
    /// Write ExtendedFlags1 even when nothing in it is set (Annex A layouts require it).
    pub extended_flags1: bool,
}

impl Layout {
    /// DataSetClassId used when the mask enables it and none is configured.
    pub const DEFAULT_DATASET_CLASS_ID: Guid = Guid {
        data1: 0x7561_6470,
        data2: 0x6265,
        data3: 0x6e63,
        data4: [0x68, 0, 0, 0, 0, 0, 0, 1],
    };

    /// The field types (the RawData layout a subscriber needs).
    pub fn field_types(&self) -> Vec<BuiltinType> {
        self.fields.iter().map(|f| f.ty).collect()
    }

    /// Checks the combination; every error says which flag or value to change.
    pub fn validate(&self) -> Result<(), LayoutError> {
        let bad = |m: String| Err(LayoutError::Invalid(m));
        let nm = self.network_message;
        for (flag, name) in [
            (N::WRITER_GROUP_ID, "WriterGroupId"),
            (N::GROUP_VERSION, "GroupVersion"),
            (N::NETWORK_MESSAGE_NUMBER, "NetworkMessageNumber"),
            (N::SEQUENCE_NUMBER, "SequenceNumber"),
        ] {
            if nm.contains(flag) && !nm.contains(N::GROUP_HEADER) {
                return bad(format!(
                    "the NetworkMessage content mask has {name} but not GroupHeader, which \
                     carries it: add GroupHeader to --network-message"
                ));
            }
        }
        if nm.contains(N::PICO_SECONDS) && !nm.contains(N::TIMESTAMP) {
            return bad(
                "the NetworkMessage content mask has PicoSeconds without Timestamp: add \
                 Timestamp to --network-message"
                    .into(),
            );
        }
        if self.dataset_message.contains(D::PICO_SECONDS)
            && !self.dataset_message.contains(D::TIMESTAMP)
        {
            return bad(
                "the DataSetMessage content mask has PicoSeconds without Timestamp: add \
                 Timestamp to --dataset-message"
                    .into(),
            );
        }
        if self.writer_ids.is_empty() {
            return bad("no DataSetWriterId: give at least one with --writer-ids".into());
        }
        if self.writer_ids.len() > MAX_DATASET_MESSAGES {
            return bad(format!(
                "{} DataSetWriterIds, but a NetworkMessage carries at most {MAX_DATASET_MESSAGES}",
                self.writer_ids.len()
            ));
        }
        if self.writer_ids.len() > 1 && !nm.contains(N::PAYLOAD_HEADER) {
            return bad(format!(
                "{} DataSetWriterIds need the PayloadHeader (it tells the DataSetMessages \
                 apart): add PayloadHeader to --network-message, or give one writer id",
                self.writer_ids.len()
            ));
        }
        let mut sorted = self.writer_ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.writer_ids.len() {
            return bad("the DataSetWriterIds repeat: give each writer once".into());
        }
        if self.fields.len() > usize::from(u16::MAX) {
            return bad(format!("{} fields: at most 65535", self.fields.len()));
        }
        if nm.contains(N::PROMOTED_FIELDS) && self.fields.is_empty() {
            return bad(
                "PromotedFields promotes the first field, but the DataSet has none: add \
                 --fields"
                    .into(),
            );
        }
        Ok(())
    }

    /// Which sequence number a subscriber can count gaps with, if any.
    pub fn sequence_source(&self) -> Option<&'static str> {
        if self.dataset_message.contains(D::SEQUENCE_NUMBER) {
            Some("DataSetMessage SequenceNumber")
        } else if self.network_message.contains(N::GROUP_HEADER)
            && self.network_message.contains(N::SEQUENCE_NUMBER)
        {
            Some("NetworkMessage SequenceNumber")
        } else {
            None
        }
    }

    /// Index of the first field carrying the CLOCK_MONOTONIC send time (`mono-ns`).
    pub fn send_time_field(&self) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.generator == Generator::MonotonicNs)
    }

    /// Where one-way timing comes from with this layout (printed with the results).
    pub fn timing_source(&self) -> String {
        match (self.send_time_field(), self.sequence_source()) {
            (Some(i), _) => format!(
                "send time rides in field #{i} (CLOCK_MONOTONIC ns): a subscriber on this \
                 host measures latency with --send-time-field {i}"
            ),
            (None, Some(seq)) => format!(
                "the benchmark's timing data cannot ride in these fields: timing comes from \
                 the {seq} and this publisher's send log (join on it)"
            ),
            (None, None) => "no send time and no sequence number on the wire: only arrival \
                             times can be measured (add SequenceNumber to \
                             --dataset-message, or a UInt64=mono-ns field)"
                .into(),
        }
    }

    /// Human-readable description, one item per line.
    pub fn describe(&self) -> Vec<String> {
        let writers: Vec<String> = self.writer_ids.iter().map(u16::to_string).collect();
        let fields: Vec<String> = self.fields.iter().map(ToString::to_string).collect();
        let nm = self.network_message;
        let off = |on: bool| if on { "" } else { " (not on the wire)" };
        let mut lines = Vec::new();
        if let Some(p) = self.preset {
            lines.push(format!("preset:         {p} ({})", p.origin()));
        }
        lines.push(format!(
            "identity:       PublisherId {}{}, WriterGroupId {}{}, DataSetWriterId {}{}",
            self.publisher_id,
            off(nm.contains(N::PUBLISHER_ID)),
            self.writer_group_id,
            off(nm.contains(N::GROUP_HEADER) && nm.contains(N::WRITER_GROUP_ID)),
            writers.join(","),
            off(nm.contains(N::PAYLOAD_HEADER)),
        ));
        lines.push(format!("NetworkMessage: {}", self.network_message));
        lines.push(format!(
            "DataSetMessage: {}, {:?} key frames, ConfigurationVersion {}",
            self.dataset_message, self.encoding, self.config_version
        ));
        lines.push(format!("fields:         {}", fields.join(",")));
        lines
    }
}

/// A layout as command lines, `--config` files and campaign files give it: a preset (default
/// `sdk-tutorial`) and overrides of its parts. In TOML:
///
/// ```toml
/// preset = "sdk-tutorial"
/// publisher_id = "UInt16:2234"
/// writer_group_id = 100
/// writer_ids = [62541]
/// network_message = "PublisherId|GroupHeader|WriterGroupId|PayloadHeader"
/// dataset_message = ["Timestamp", "MajorVersion", "MinorVersion", "SequenceNumber"]
/// encoding = "variant"
/// fields = ["DateTime=now", "Int32=counter", "Int64=counter", "Boolean=toggle"]
/// config_version = { major = 1, minor = 0 }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LayoutConfig {
    pub preset: Option<Preset>,
    pub publisher_id: Option<PublisherIdSetting>,
    pub writer_group_id: Option<u16>,
    pub writer_ids: Option<Vec<u16>>,
    pub network_message: Option<N>,
    pub dataset_message: Option<D>,
    pub encoding: Option<Encoding>,
    pub fields: Option<FieldList>,
    pub group_version: Option<u32>,
    pub config_version: Option<ConfigVersion>,
    /// DataSetClassId as `8-4-4-4-12` hex digits (used when the mask enables it).
    pub dataset_class_id: Option<String>,
}

impl LayoutConfig {
    /// `self` with every setting of `top` that is present replacing it.
    pub fn overlay(self, top: LayoutConfig) -> LayoutConfig {
        LayoutConfig {
            preset: top.preset.or(self.preset),
            publisher_id: top.publisher_id.or(self.publisher_id),
            writer_group_id: top.writer_group_id.or(self.writer_group_id),
            writer_ids: top.writer_ids.or(self.writer_ids),
            network_message: top.network_message.or(self.network_message),
            dataset_message: top.dataset_message.or(self.dataset_message),
            encoding: top.encoding.or(self.encoding),
            fields: top.fields.or(self.fields),
            group_version: top.group_version.or(self.group_version),
            config_version: top.config_version.or(self.config_version),
            dataset_class_id: top.dataset_class_id.or(self.dataset_class_id),
        }
    }

    /// Reads a TOML file holding a `LayoutConfig` (the keys above).
    pub fn load(path: &std::path::Path) -> Result<Self, LayoutError> {
        let text =
            crate::input::read_text_bounded(path, crate::input::MAX_CONFIG_BYTES, "layout files")
                .map_err(|e| LayoutError::Invalid(e.to_string()))?;
        toml::from_str(&text).map_err(|e| LayoutError::Invalid(format!("{}: {e}", path.display())))
    }

    /// The preset with the overrides applied, validated.
    pub fn resolve(&self) -> Result<Layout, LayoutError> {
        let mut l = self.preset.unwrap_or_default().layout();
        if let Some(p) = &self.publisher_id {
            l.publisher_id = match p {
                PublisherIdSetting::Number(n) => {
                    PublisherIdValue::parse(&n.to_string(), l.publisher_id.id_type())?
                }
                PublisherIdSetting::Text(t) => {
                    PublisherIdValue::parse(t, l.publisher_id.id_type())?
                }
            };
        }
        if let Some(v) = self.writer_group_id {
            l.writer_group_id = v;
        }
        if let Some(v) = &self.writer_ids {
            l.writer_ids.clone_from(v);
        }
        if let Some(v) = self.network_message {
            l.network_message = v;
        }
        if let Some(v) = self.dataset_message {
            l.dataset_message = v;
        }
        if let Some(v) = self.encoding {
            l.encoding = v.into();
        }
        if let Some(v) = &self.fields {
            l.fields.clone_from(&v.0);
        }
        if let Some(v) = self.group_version {
            l.group_version = v;
        }
        if let Some(v) = self.config_version {
            l.config_version = v;
        }
        if let Some(t) = &self.dataset_class_id {
            l.dataset_class_id = guid_from_text(t).ok_or_else(|| {
                LayoutError::Invalid(format!(
                    "DataSetClassId `{t}` is not a GUID; write 8-4-4-4-12 hex digits"
                ))
            })?;
        }
        l.validate()?;
        Ok(l)
    }
}

/// Encodes the messages of one [`Layout`]; buffers are reused from message to message.
#[derive(Debug)]
pub struct MessageEncoder {
    layout: Layout,
    fields_buf: Vec<u8>,
    promoted_buf: Vec<u8>,
    values: Vec<OwnedScalar>,
}

/// Room for one DataSet's encoded fields (a UDP datagram's worth).
const FIELDS_CAPACITY: usize = 65_536;

impl MessageEncoder {
    /// An encoder for a validated layout.
    pub fn new(layout: Layout) -> Self {
        MessageEncoder {
            values: Vec::with_capacity(layout.fields.len()),
            layout,
            fields_buf: vec![0; FIELDS_CAPACITY],
            promoted_buf: vec![0; FIELDS_CAPACITY],
        }
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The field values message `index` sent at `t` carries.
    pub fn values(&self, index: u64, t: &SendTime) -> Vec<OwnedScalar> {
        self.layout
            .fields
            .iter()
            .map(|f| f.value(index, t))
            .collect()
    }

    /// Encodes message `index` sent at `t` into `out`; returns its length.
    pub fn encode(
        &mut self,
        index: u64,
        t: &SendTime,
        out: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let MessageEncoder {
            layout: l,
            fields_buf,
            promoted_buf,
            values,
        } = self;
        values.clear();
        values.extend(l.fields.iter().map(|f| f.value(index, t)));
        let seq = index as u16;
        let mut w = FieldsWriter::new(fields_buf, l.encoding);
        for v in values.iter() {
            let s = v.as_scalar();
            let fv = match l.encoding {
                FieldEncoding::Variant => FieldValue::Variant(Variant::Scalar(s)),
                FieldEncoding::RawData => FieldValue::Raw(s),
                FieldEncoding::DataValue => FieldValue::DataValue(DataValue {
                    value: Some(Variant::Scalar(s)),
                    ..Default::default()
                }),
            };
            w.push(&fv)?;
        }
        let fields = w.finish()?;
        let dm = l.dataset_message;
        let header = DataSetMessageHeader {
            valid: true,
            field_encoding: l.encoding,
            message_type: DataSetMessageType::KeyFrame,
            sequence_number: dm.contains(D::SEQUENCE_NUMBER).then_some(seq),
            timestamp: dm.contains(D::TIMESTAMP).then_some(t.utc),
            picoseconds: dm.contains(D::PICO_SECONDS).then_some(t.picoseconds),
            status: dm.contains(D::STATUS).then_some(0),
            config_version_major: dm
                .contains(D::MAJOR_VERSION)
                .then_some(l.config_version.major),
            config_version_minor: dm
                .contains(D::MINOR_VERSION)
                .then_some(l.config_version.minor),
            flags2_present: false,
        };
        let nm = l.network_message;
        let mut payload = Payload::default();
        if let Payload::DataSetMessages(list) = &mut payload {
            for id in &l.writer_ids {
                // `validate` keeps the count within the list's capacity.
                list.try_push(DataSetMessage {
                    writer_id: Some(*id),
                    header,
                    fields,
                })
                .map_err(|_| EncodeError::InvalidValue("more DataSetWriters than fit"))?;
            }
        }
        let promoted = if nm.contains(N::PROMOTED_FIELDS) {
            match values.first() {
                Some(v) => Some(PromotedFields::encode_from(
                    &[Variant::Scalar(v.as_scalar())],
                    promoted_buf,
                )?),
                None => None,
            }
        } else {
            None
        };
        let m = NetworkMessage {
            publisher_id: nm
                .contains(N::PUBLISHER_ID)
                .then(|| l.publisher_id.as_wire()),
            dataset_class_id: nm
                .contains(N::DATASET_CLASS_ID)
                .then_some(l.dataset_class_id),
            group_header: nm.contains(N::GROUP_HEADER).then(|| GroupHeader {
                writer_group_id: nm.contains(N::WRITER_GROUP_ID).then_some(l.writer_group_id),
                group_version: nm.contains(N::GROUP_VERSION).then_some(l.group_version),
                network_message_number: nm.contains(N::NETWORK_MESSAGE_NUMBER).then_some(1),
                sequence_number: nm.contains(N::SEQUENCE_NUMBER).then_some(seq),
            }),
            payload_header: nm.contains(N::PAYLOAD_HEADER),
            timestamp: nm.contains(N::TIMESTAMP).then_some(t.utc),
            picoseconds: nm.contains(N::PICO_SECONDS).then_some(t.picoseconds),
            promoted_fields: promoted,
            payload,
            extended_flags1_present: l.extended_flags1,
            ..Default::default()
        };
        m.encode(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uadp::DateTime;

    fn t() -> SendTime {
        SendTime {
            utc: DateTime(0x01da_3c45_7689_c000),
            picoseconds: 4200,
            mono_ns: 99,
        }
    }

    #[test]
    fn publisher_ids() {
        use PublisherIdType as T;
        assert_eq!(
            PublisherIdValue::parse("UInt16:2234", T::UInt64).unwrap(),
            PublisherIdValue::UInt16(2234)
        );
        assert_eq!(
            PublisherIdValue::parse("2234", T::UInt64).unwrap(),
            PublisherIdValue::UInt64(2234)
        );
        assert_eq!(
            PublisherIdValue::parse("string:plc-1", T::Byte).unwrap(),
            PublisherIdValue::String(b"plc-1".to_vec())
        );
        assert_eq!(
            PublisherIdValue::parse("Byte:0xff", T::Byte).unwrap(),
            PublisherIdValue::Byte(255)
        );
        for bad in ["Byte:256", "Int32:5", "UInt16:-1", "UInt16:"] {
            let e = PublisherIdValue::parse(bad, T::UInt16).unwrap_err();
            assert!(e.to_string().contains("TYPE:VALUE"), "{bad}: {e}");
        }
        assert_eq!(PublisherIdValue::UInt32(7).to_string(), "UInt32:7");
    }

    #[test]
    fn every_header_field_round_trips() {
        let cfg = LayoutConfig {
            publisher_id: Some("String:plc-1".parse().unwrap()),
            writer_ids: Some(vec![1, 2, 3]),
            network_message: Some(N(0x7FF)),
            dataset_message: Some(D(0x3F)),
            encoding: Some(Encoding::DataValue),
            fields: Some("UInt64=mono-ns,String,Double=2.5".parse().unwrap()),
            ..Default::default()
        };
        let mut e = MessageEncoder::new(cfg.resolve().unwrap());
        let mut buf = vec![0u8; 4096];
        let n = e.encode(70_000, &t(), &mut buf).unwrap();
        let m = NetworkMessage::decode(&buf[..n]).unwrap();
        assert_eq!(
            m.publisher_id,
            Some(PublisherId::String(UaBytes::text("plc-1")))
        );
        assert_eq!(m.dataset_class_id, Some(Layout::DEFAULT_DATASET_CLASS_ID));
        let g = m.group_header.unwrap();
        assert_eq!(
            (
                g.writer_group_id,
                g.group_version,
                g.network_message_number,
                g.sequence_number
            ),
            (Some(100), Some(1), Some(1), Some(70_000u64 as u16))
        );
        assert_eq!((m.timestamp, m.picoseconds), (Some(t().utc), Some(4200)));
        let promoted: Vec<_> = m.promoted_fields.unwrap().values().collect();
        assert_eq!(promoted, [Ok(Variant::Scalar(uadp::Scalar::UInt64(99)))]);
        let ids: Vec<_> = m.dataset_messages().iter().map(|d| d.writer_id).collect();
        assert_eq!(ids, [Some(1), Some(2), Some(3)]);
        let h = m.dataset_messages()[2].header;
        assert_eq!(h.sequence_number, Some(70_000u64 as u16));
        assert_eq!(
            (h.timestamp, h.picoseconds, h.status),
            (Some(t().utc), Some(4200), Some(0))
        );
        assert_eq!(
            (h.config_version_major, h.config_version_minor),
            (Some(1), Some(0))
        );
        let values: Vec<_> = m.dataset_messages()[2]
            .fields(None)
            .map(|f| super::super::fields::field_scalar(&f.unwrap().value).unwrap())
            .collect();
        assert_eq!(
            values,
            [
                uadp::Scalar::UInt64(99),
                uadp::Scalar::String(UaBytes::text("70000")),
                uadp::Scalar::Double(2.5)
            ]
        );
    }

    #[test]
    fn invalid_combinations_say_what_to_change() {
        let check = |cfg: LayoutConfig, needle: &str| {
            let e = cfg.resolve().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        check(
            LayoutConfig {
                network_message: Some(N::PUBLISHER_ID | N::SEQUENCE_NUMBER),
                ..Default::default()
            },
            "add GroupHeader",
        );
        check(
            LayoutConfig {
                network_message: Some(N::PICO_SECONDS),
                ..Default::default()
            },
            "add Timestamp to --network-message",
        );
        check(
            LayoutConfig {
                dataset_message: Some(D::PICO_SECONDS),
                ..Default::default()
            },
            "add Timestamp to --dataset-message",
        );
        check(
            LayoutConfig {
                preset: Some(Preset::PeriodicFixed),
                writer_ids: Some(vec![1, 2]),
                ..Default::default()
            },
            "add PayloadHeader",
        );
        check(
            LayoutConfig {
                writer_ids: Some(vec![]),
                ..Default::default()
            },
            "--writer-ids",
        );
        check(
            LayoutConfig {
                writer_ids: Some(vec![4, 4]),
                ..Default::default()
            },
            "repeat",
        );
        check(
            LayoutConfig {
                dataset_class_id: Some("nope".into()),
                ..Default::default()
            },
            "8-4-4-4-12",
        );
    }

    #[test]
    fn toml_layout_overlays_a_preset() {
        let cfg: LayoutConfig = toml::from_str(
            r#"
            preset = "dynamic"
            publisher_id = 77
            writer_ids = [5, 6]
            dataset_message = ["Timestamp", "SequenceNumber"]
            encoding = "raw-data"
            fields = "UInt32,Boolean=true"
            config_version = { major = 3, minor = 4 }
            "#,
        )
        .unwrap();
        let l = cfg.resolve().unwrap();
        assert_eq!(l.publisher_id, PublisherIdValue::UInt64(77));
        assert_eq!(l.writer_ids, [5, 6]);
        assert_eq!(l.network_message.0, 0x41);
        assert_eq!(l.dataset_message.0, 0x21);
        assert_eq!(l.encoding, FieldEncoding::RawData);
        assert_eq!(l.field_types(), [BuiltinType::UInt32, BuiltinType::Boolean]);
        assert_eq!(l.config_version, ConfigVersion { major: 3, minor: 4 });
        // The command line wins over the file.
        let top = LayoutConfig {
            writer_ids: Some(vec![9]),
            ..Default::default()
        };
        assert_eq!(cfg.overlay(top).resolve().unwrap().writer_ids, [9]);
        assert!(toml::from_str::<LayoutConfig>("bogus = 1").is_err());
        assert!(toml::from_str::<LayoutConfig>("fields = [\"Int32=x\"]").is_err());
    }

    #[test]
    fn timing_source_is_stated() {
        let l = Preset::SdkTutorial.layout();
        assert!(l.timing_source().contains("only arrival times"));
        let l = Preset::PeriodicFixed.layout();
        assert!(l
            .timing_source()
            .contains("DataSetMessage SequenceNumber and this publisher's send log"));
        let mut l = Preset::Dynamic.layout();
        l.fields.push("UInt64=mono-ns".parse().unwrap());
        assert!(l.timing_source().contains("field #4"));
    }
}
