//! Benchmark runs with a configured publisher layout (`uadpbench run --layout …`, `layouts` in
//! campaign files): the timed loops publish messages of the layout and recognise the echoes or
//! receptions as the same messages, so a transport comparison can use the exact bytes a real
//! OPC UA PubSub application sends.
//!
//! Such layouts have no room for the benchmark's 64-bit packet id and send time: a message is
//! identified by its DataSetMessage SequenceNumber, else its NetworkMessage SequenceNumber
//! (16 bits), else the first integer `counter` field of the DataSet (8–64 bits; the SDK
//! tutorial layout has no sequence numbers but an Int32 counter), unwrapped around the id the
//! receiver expects; its send time is the one the sending loop logged for that id (the
//! "send log"). A layout with none of these cannot be used in a run.

use uadp::{
    BuiltinType, DecodeError, DecodeErrorKind, DecodeOptions, EncodeError, FieldValue,
    NetworkMessageView, Scalar, Variant,
};
use uadpbench_sender::codec::{Identity, MessageCodec, Received};

use super::fields::{Generator, SendTime};
use super::layout::{Layout, LayoutError, MessageEncoder, PublisherIdValue};
use super::mask::{DataSetMessageContentMask as D, NetworkMessageContentMask as N};

/// Where a run with this layout reads its message identity from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SequenceSource {
    DataSetMessage,
    NetworkMessage,
    /// Field `index`, an integer of `bits` bits carrying the message index.
    Counter {
        index: usize,
        bits: u32,
    },
}

impl SequenceSource {
    fn describe(self) -> String {
        match self {
            SequenceSource::DataSetMessage => "the DataSetMessage SequenceNumber (16 bits)".into(),
            SequenceSource::NetworkMessage => "the NetworkMessage SequenceNumber (16 bits)".into(),
            SequenceSource::Counter { index, bits } => {
                format!("the counter in field #{index} ({bits} bits)")
            }
        }
    }
}

/// Bits of an integer type a counter field wraps at.
fn counter_bits(ty: BuiltinType) -> Option<u32> {
    use BuiltinType as T;
    match ty {
        T::SByte | T::Byte => Some(8),
        T::Int16 | T::UInt16 => Some(16),
        T::Int32 | T::UInt32 => Some(32),
        T::Int64 | T::UInt64 => Some(64),
        _ => None,
    }
}

/// The bits of an integer scalar (two's complement for signed types).
fn scalar_bits(s: &Scalar<'_>) -> Option<u64> {
    Some(match *s {
        Scalar::SByte(v) => u64::from(v as u8),
        Scalar::Byte(v) => u64::from(v),
        Scalar::Int16(v) => u64::from(v as u16),
        Scalar::UInt16(v) => u64::from(v),
        Scalar::Int32(v) => u64::from(v as u32),
        Scalar::UInt32(v) => u64::from(v),
        Scalar::Int64(v) => v as u64,
        Scalar::UInt64(v) => v,
        _ => return None,
    })
}

/// A [`MessageCodec`] for a configured [`Layout`].
#[derive(Debug)]
pub struct LayoutCodec {
    encoder: MessageEncoder,
    field_types: Vec<BuiltinType>,
    raw: bool,
    sequence: SequenceSource,
    max_len: usize,
}

/// Largest UADP message a layout run may produce (a jumbo veth frame).
const MAX_LAYOUT_MESSAGE: usize = 9000;

impl LayoutCodec {
    /// A codec for `layout`; an error says what the layout lacks for a benchmark run.
    pub fn new(layout: Layout) -> Result<Self, LayoutError> {
        layout.validate()?;
        let sequence = if layout.dataset_message.contains(D::SEQUENCE_NUMBER) {
            SequenceSource::DataSetMessage
        } else if layout.network_message.contains(N::GROUP_HEADER)
            && layout.network_message.contains(N::SEQUENCE_NUMBER)
        {
            SequenceSource::NetworkMessage
        } else if let Some((index, bits)) = layout.fields.iter().enumerate().find_map(|(i, f)| {
            (f.generator == Generator::Counter)
                .then(|| counter_bits(f.ty))
                .flatten()
                .map(|b| (i, b))
        }) {
            SequenceSource::Counter { index, bits }
        } else {
            return Err(LayoutError::Invalid(
                "a benchmark run matches each received message to its send time by a \
                 SequenceNumber or an integer counter field, and this layout has neither: add \
                 SequenceNumber to --dataset-message, or a field such as UInt32=counter"
                    .into(),
            ));
        };
        let field_types = layout.field_types();
        let raw = layout.encoding == uadp::FieldEncoding::RawData;
        Ok(LayoutCodec {
            encoder: MessageEncoder::new(layout),
            field_types,
            raw,
            sequence,
            max_len: MAX_LAYOUT_MESSAGE,
        })
    }

    /// The layout.
    pub fn layout(&self) -> &Layout {
        self.encoder.layout()
    }

    /// Where the run's timing comes from (for the results).
    pub fn timing_source(&self) -> String {
        format!(
            "send log: each received message is matched by {} to the time the sending loop \
             logged for it (CLOCK_MONOTONIC, just before the send system call)",
            self.sequence.describe()
        )
    }

    /// Bytes of the first message (the size the run reports as its message size).
    pub fn message_len(&mut self) -> Result<usize, EncodeError> {
        let mut buf = vec![0u8; self.max_len];
        self.encoder.encode(0, &SendTime::now(), &mut buf)
    }

    fn mismatch(what: &'static str, expected: u64, found: u64) -> DecodeError {
        DecodeError {
            offset: 0,
            kind: DecodeErrorKind::LayoutMismatch {
                what,
                expected,
                found,
            },
        }
    }
}

fn publisher_number(p: &PublisherIdValue) -> u64 {
    match p {
        PublisherIdValue::Byte(v) => u64::from(*v),
        PublisherIdValue::UInt16(v) => u64::from(*v),
        PublisherIdValue::UInt32(v) => u64::from(*v),
        PublisherIdValue::UInt64(v) => *v,
        PublisherIdValue::String(s) => s.len() as u64,
    }
}

impl MessageCodec for LayoutCodec {
    fn max_message_len(&self) -> usize {
        self.max_len
    }

    fn encode(
        &mut self,
        buf: &mut [u8],
        packet_id: u64,
        t_send_ns: u64,
    ) -> Result<usize, EncodeError> {
        // Wall clock for DateTime fields and timestamps; the loop's CLOCK_MONOTONIC time for
        // mono-ns fields.
        let t = SendTime {
            mono_ns: t_send_ns,
            ..SendTime::now()
        };
        self.encoder.encode(packet_id, &t, buf)
    }

    fn restamp(&self, _buf: &mut [u8], _t_send_ns: u64) {
        // The send time is not in a fixed place: the send log holds it.
    }

    fn decode(&mut self, bytes: &[u8]) -> Result<Received, DecodeError> {
        let options = DecodeOptions {
            raw_layout: self.raw.then_some(self.field_types.as_slice()),
            ..Default::default()
        };
        // The borrowing view: no 2.7 kB NetworkMessage per message, values read on demand.
        let m = NetworkMessageView::decode(bytes, &options)?;
        let l = self.encoder.layout();
        let nm = l.network_message;
        if nm.contains(N::PUBLISHER_ID) {
            let found = m.publisher_id().as_ref().map(PublisherIdValue::from_wire);
            if found.as_ref() != Some(&l.publisher_id) {
                return Err(Self::mismatch(
                    "PublisherId",
                    publisher_number(&l.publisher_id),
                    found.as_ref().map_or(0, publisher_number),
                ));
            }
        }
        let group_header = m.group_header();
        let group = group_header.as_ref();
        if nm.contains(N::GROUP_HEADER) && nm.contains(N::WRITER_GROUP_ID) {
            let found = group.and_then(|g| g.writer_group_id);
            if found != Some(l.writer_group_id) {
                return Err(Self::mismatch(
                    "WriterGroupId",
                    u64::from(l.writer_group_id),
                    found.map_or(0, u64::from),
                ));
            }
        }
        let first = m
            .dataset_messages()
            .next()
            .ok_or_else(|| Self::mismatch("DataSetMessage count", 1, 0))?;
        if nm.contains(N::PAYLOAD_HEADER) {
            let want = l.writer_ids.first().copied();
            if first.writer_id() != want {
                return Err(Self::mismatch(
                    "DataSetWriterId",
                    want.map_or(0, u64::from),
                    first.writer_id().map_or(0, u64::from),
                ));
            }
        }
        let (value, bits) = match self.sequence {
            SequenceSource::DataSetMessage => (first.sequence_number().map(u64::from), 16),
            SequenceSource::NetworkMessage => {
                (group.and_then(|g| g.sequence_number).map(u64::from), 16)
            }
            SequenceSource::Counter { index, bits } => {
                let layout = self.raw.then_some(self.field_types.as_slice());
                let field = if first.missing_layout() {
                    // Unreadable RawData fields: the error `fields()` reports.
                    first.message().fields(layout).nth(index).transpose()?
                } else {
                    first.values().nth(index)
                };
                let scalar = match field.map(|f| f.value) {
                    Some(FieldValue::Raw(s)) | Some(FieldValue::Variant(Variant::Scalar(s))) => {
                        Some(s)
                    }
                    Some(FieldValue::DataValue(d)) => match d.value {
                        Some(Variant::Scalar(s)) => Some(s),
                        _ => None,
                    },
                    _ => None,
                };
                (scalar.as_ref().and_then(scalar_bits), bits)
            }
        };
        let value = value.ok_or_else(|| Self::mismatch("message identity presence", 1, 0))?;
        Ok(Received {
            identity: Identity::Partial { value, bits },
            t_send_ns: None,
        })
    }

    fn carries_timing(&self) -> bool {
        false
    }

    fn boxed(&self) -> Box<dyn MessageCodec> {
        Box::new(LayoutCodec {
            encoder: MessageEncoder::new(self.encoder.layout().clone()),
            field_types: self.field_types.clone(),
            raw: self.raw,
            sequence: self.sequence,
            max_len: self.max_len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::layout::LayoutConfig;
    use super::super::preset::Preset;
    use super::*;

    fn codec(preset: Preset) -> LayoutCodec {
        let layout = LayoutConfig {
            preset: Some(preset),
            ..Default::default()
        }
        .resolve()
        .expect("preset resolves");
        LayoutCodec::new(layout).expect("usable in a run")
    }

    #[test]
    fn every_preset_round_trips_its_sequence_number() {
        for preset in Preset::ALL {
            let mut c = codec(preset);
            let mut buf = vec![0u8; c.max_message_len()];
            for id in [0u64, 1, 65_535, 65_536, 200_000] {
                let n = c.encode(&mut buf, id, 123).expect("encode");
                let r = c.boxed().decode(&buf[..n]).expect("decode");
                assert_eq!(r.t_send_ns, None, "{preset}");
                assert_eq!(r.packet_id(id), Some(id), "{preset} id {id}");
                assert_eq!(r.packet_id(id.saturating_sub(3)), Some(id), "{preset}");
            }
            assert!(!c.carries_timing());
            assert!(c.message_len().expect("len") > 10);
        }
    }

    #[test]
    fn another_publisher_is_rejected() {
        let mut a = codec(Preset::SdkTutorial);
        let mut other = LayoutConfig {
            preset: Some(Preset::SdkTutorial),
            writer_group_id: Some(101),
            ..Default::default()
        }
        .resolve()
        .map(LayoutCodec::new)
        .expect("resolves")
        .expect("codec");
        let mut buf = vec![0u8; 9000];
        let n = other.encode(&mut buf, 5, 0).expect("encode");
        let e = a.decode(&buf[..n]).expect_err("foreign writer group");
        assert!(e.to_string().contains("WriterGroupId"), "{e}");
        // The benchmark's own message is not a layout message either.
        let bench = uadpbench_sender::bench_message::BenchCodec::new(7, 8, 64).expect("codec");
        let n = bench.encode(&mut buf, 5, 0).expect("encode");
        assert!(a.decode(&buf[..n]).is_err());
    }

    #[test]
    fn identities_follow_the_layout() {
        assert_eq!(
            codec(Preset::PeriodicFixed).sequence,
            SequenceSource::DataSetMessage
        );
        assert_eq!(
            codec(Preset::Dynamic).sequence,
            SequenceSource::DataSetMessage
        );
        // No sequence numbers in the SDK tutorial layout: its Int32 counter (field #1).
        assert_eq!(
            codec(Preset::SdkTutorial).sequence,
            SequenceSource::Counter { index: 1, bits: 32 }
        );
        assert!(codec(Preset::SdkTutorial)
            .timing_source()
            .contains("field #1"));
    }

    #[test]
    fn a_layout_without_any_identity_is_refused() {
        let layout = LayoutConfig {
            preset: Some(Preset::SdkTutorial),
            fields: Some("DateTime=now,Boolean=toggle".parse().expect("fields")),
            ..Default::default()
        }
        .resolve()
        .expect("resolves");
        let e = LayoutCodec::new(layout).expect_err("no identity");
        assert!(e.to_string().contains("counter"), "{e}");
    }
}
