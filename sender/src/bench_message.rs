//! The benchmark's UADP message: a UADP-Periodic-Fixed NetworkMessage (Part 14 A.2.1) whose
//! RawData fields carry the sender's CLOCK_MONOTONIC send time, a 64-bit packet id and a filler
//! ByteString that brings the message to the requested size.

use uadp::{
    BuiltinType, DecodeError, EncodeError, PeriodicFixedCounters, PeriodicFixedLayout, Scalar,
    UaBytes,
};

/// RawData fields: send time (ns, CLOCK_MONOTONIC), packet id, filler.
pub const FIELDS: [BuiltinType; 3] = [
    BuiltinType::UInt64,
    BuiltinType::UInt64,
    BuiltinType::ByteString,
];

/// Smallest message: header + two UInt64 + an empty ByteString (4-byte length).
pub const MIN_MESSAGE_LEN: usize = PeriodicFixedLayout::HEADER_LEN + 8 + 8 + 4;

/// Largest message this codec builds (jumbo frames on veth).
pub const MAX_MESSAGE_LEN: usize = 9000;

static ZEROS: [u8; MAX_MESSAGE_LEN] = [0; MAX_MESSAGE_LEN];

/// Identities the benchmark publisher uses by default (the OPC UA SDK tutorial values).
pub const DEFAULT_PUBLISHER_ID: u16 = uadpbench_common::BENCH_PUBLISHER_ID;
pub const DEFAULT_WRITER_GROUP_ID: u16 = 100;

/// What a receiver reads out of a benchmark message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchFields {
    pub packet_id: u64,
    pub t_send_ns: u64,
    /// The NetworkMessage SequenceNumber (the low 16 bits of the packet id).
    pub sequence_number: u16,
}

/// A message size the codec cannot build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a UADP benchmark message of {requested} bytes is impossible: the smallest is {min} bytes, the largest {max}")]
pub struct MessageSizeError {
    pub requested: usize,
    pub min: usize,
    pub max: usize,
}

/// Encodes and decodes benchmark messages of one size.
#[derive(Debug, Clone, Copy)]
pub struct BenchCodec {
    layout: PeriodicFixedLayout<'static>,
    message_len: usize,
}

impl BenchCodec {
    /// A codec whose messages are exactly `message_len` bytes of UADP.
    pub fn new(
        publisher_id: u16,
        writer_group_id: u16,
        message_len: usize,
    ) -> Result<Self, MessageSizeError> {
        if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&message_len) {
            return Err(MessageSizeError {
                requested: message_len,
                min: MIN_MESSAGE_LEN,
                max: MAX_MESSAGE_LEN,
            });
        }
        Ok(BenchCodec {
            layout: PeriodicFixedLayout {
                publisher_id,
                writer_group_id,
                group_version: 1,
                fields: &FIELDS,
            },
            message_len,
        })
    }

    /// Bytes of every message.
    pub fn message_len(&self) -> usize {
        self.message_len
    }

    /// The Periodic-Fixed layout (for decoding with the general codec).
    pub fn layout(&self) -> &PeriodicFixedLayout<'static> {
        &self.layout
    }

    /// Writes message `packet_id` sent at `t_send_ns` into `buf`; returns its length.
    #[inline]
    pub fn encode(
        &self,
        buf: &mut [u8],
        packet_id: u64,
        t_send_ns: u64,
    ) -> Result<usize, EncodeError> {
        let seq = packet_id as u16;
        let counters = PeriodicFixedCounters {
            network_message_number: 1,
            sequence_number: seq,
            dataset_sequence_number: seq,
            status: 0,
        };
        let filler = &ZEROS[..self.message_len - MIN_MESSAGE_LEN];
        self.layout.encode(
            buf,
            counters,
            &[
                Scalar::UInt64(t_send_ns),
                Scalar::UInt64(packet_id),
                Scalar::ByteString(UaBytes::new(filler)),
            ],
        )
    }

    /// Overwrites the send time of an encoded message in place (for senders that stamp after
    /// encoding, as late as possible before the system call).
    #[inline]
    pub fn restamp(buf: &mut [u8], t_send_ns: u64) {
        if let Some(field) =
            buf.get_mut(PeriodicFixedLayout::HEADER_LEN..PeriodicFixedLayout::HEADER_LEN + 8)
        {
            field.copy_from_slice(&t_send_ns.to_le_bytes());
        }
    }

    /// Validates a received message (every fixed header byte, identities, layout) and reads
    /// its fields. Anything else is an error: foreign or malformed.
    #[inline]
    pub fn decode(&self, bytes: &[u8]) -> Result<BenchFields, DecodeError> {
        let m = self.layout.decode(bytes)?;
        let mut t = [0u8; 8];
        let mut id = [0u8; 8];
        // The layout guarantees at least 16 field bytes.
        t.copy_from_slice(&m.fields[..8]);
        id.copy_from_slice(&m.fields[8..16]);
        Ok(BenchFields {
            packet_id: u64::from_le_bytes(id),
            t_send_ns: u64::from_le_bytes(t),
            sequence_number: m.counters.sequence_number,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_every_size() {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        for len in [MIN_MESSAGE_LEN, 64, 1400, 1472, MAX_MESSAGE_LEN] {
            let c = BenchCodec::new(2234, 100, len).unwrap();
            let n = c.encode(&mut buf, 0x1_0000_0005, 123_456_789).unwrap();
            assert_eq!(n, len);
            let f = c.decode(&buf[..n]).unwrap();
            assert_eq!(
                f,
                BenchFields {
                    packet_id: 0x1_0000_0005,
                    t_send_ns: 123_456_789,
                    sequence_number: 5
                }
            );
            BenchCodec::restamp(&mut buf[..n], 42);
            assert_eq!(c.decode(&buf[..n]).unwrap().t_send_ns, 42);
            // The general codec reads the same message.
            let opts = uadp::DecodeOptions {
                raw_layout: Some(&FIELDS),
                ..Default::default()
            };
            assert!(uadp::NetworkMessage::decode_with(&buf[..n], &opts).is_ok());
        }
    }

    /// The probes find a benchmark message by its first bytes and read the packet id at a
    /// fixed offset without decoding (common's constants, used by probes-ebpf): the codec must
    /// write exactly that, at every size.
    #[test]
    fn the_probes_layout_matches_what_the_codec_writes() {
        use uadpbench_common::{
            ProbeGlobals, UADP_BYTE0, UADP_BYTE1, UADP_PACKET_ID_OFFSET, UADP_PROBE_LEN,
        };
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        for len in [MIN_MESSAGE_LEN, 64, 1400, MAX_MESSAGE_LEN] {
            let c = BenchCodec::new(DEFAULT_PUBLISHER_ID, DEFAULT_WRITER_GROUP_ID, len).unwrap();
            let id = 0x0123_4567_89ab_cdef;
            let n = c.encode(&mut buf, id, 99).unwrap();
            assert!(n >= UADP_PROBE_LEN);
            assert_eq!((buf[0], buf[1]), (UADP_BYTE0, UADP_BYTE1), "{len} B");
            assert_eq!(
                u16::from_le_bytes([buf[2], buf[3]]),
                ProbeGlobals::DEFAULT.publisher_id
            );
            let at = &buf[UADP_PACKET_ID_OFFSET..UADP_PACKET_ID_OFFSET + 8];
            assert_eq!(u64::from_le_bytes(at.try_into().unwrap()), id, "{len} B");
            assert_eq!(UADP_PACKET_ID_OFFSET + 8, UADP_PROBE_LEN);
        }
    }

    #[test]
    fn sizes_out_of_range_are_errors() {
        assert!(BenchCodec::new(1, 1, MIN_MESSAGE_LEN - 1).is_err());
        assert!(BenchCodec::new(1, 1, MAX_MESSAGE_LEN + 1).is_err());
    }

    #[test]
    fn foreign_messages_are_rejected() {
        let mut buf = [0u8; 64];
        let c = BenchCodec::new(2234, 100, 64).unwrap();
        let n = c.encode(&mut buf, 1, 2).unwrap();
        let other = BenchCodec::new(2235, 100, 64).unwrap();
        assert!(other.decode(&buf[..n]).is_err());
        assert!(c.decode(&buf[..10]).is_err());
    }
}
