//! The encoder that turns message *i* of a [`Layout`] into UADP bytes ([`MessageEncoder`]).

use uadp::{
    DataSetMessage, DataSetMessageHeader, DataSetMessageType, DataValue, EncodeError,
    FieldEncoding, FieldValue, FieldsWriter, GroupHeader, NetworkMessage, Payload, PromotedFields,
    Variant,
};

use super::Layout;
use crate::interop::fields::{OwnedScalar, SendTime};
use crate::interop::mask::{DataSetMessageContentMask as D, NetworkMessageContentMask as N};

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
    use super::super::{Encoding, LayoutConfig};
    use super::*;
    use uadp::{DateTime, PublisherId, UaBytes};

    fn t() -> SendTime {
        SendTime {
            utc: DateTime(0x01da_3c45_7689_c000),
            picoseconds: 4200,
            mono_ns: 99,
        }
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
            .map(|f| crate::interop::fields::field_scalar(&f.unwrap().value).unwrap())
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
}
