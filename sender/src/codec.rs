//! What the timed loops ([`crate::loops`]) need from a message format: encode message *i*,
//! stamp its send time as late as possible, and recognise a received message as message *i*.
//!
//! Two formats implement it: the benchmark's own message ([`BenchCodec`]: the send time and the
//! full 64-bit packet id ride in the message), and — in the `uadpbench` crate — configured
//! publisher layouts (OPC UA SDK tutorial, Annex A presets, …) where only a 16-bit sequence
//! number identifies a message and the send time comes from the sender's own send log.

use uadp::{DecodeError, EncodeError};

use crate::bench_message::BenchCodec;

/// How a received message names its packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The full packet id (the benchmark message).
    Full(u64),
    /// Only the low `bits` bits (a 16-bit UADP SequenceNumber, or a counter field of the
    /// DataSet); [`unwrap_near`] recovers the id.
    Partial { value: u64, bits: u32 },
}

/// What a receiver reads out of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub identity: Identity,
    /// The CLOCK_MONOTONIC send time, when the message carries it.
    pub t_send_ns: Option<u64>,
}

impl Received {
    /// The packet id, recovered relative to `reference` (the id the receiver expects next, or
    /// the highest it has seen) for sequence-only identities.
    #[inline]
    pub fn packet_id(&self, reference: u64) -> Option<u64> {
        match self.identity {
            Identity::Full(id) => Some(id),
            Identity::Partial { value, bits } => unwrap_near(reference, value, bits),
        }
    }
}

/// The packet id nearest to `reference` (within half of the `bits`-bit space) whose low `bits`
/// bits are `value`; `None` if it would be negative or `bits` is 0.
#[inline]
pub fn unwrap_near(reference: u64, value: u64, bits: u32) -> Option<u64> {
    match bits {
        0 => None,
        64.. => Some(value),
        _ => {
            let mask = (1u64 << bits) - 1;
            let diff = value.wrapping_sub(reference) & mask;
            // diff in [0, 2^bits): forward if below half the space, else backwards.
            if diff < 1u64 << (bits - 1) {
                reference.checked_add(diff)
            } else {
                reference.checked_sub((1u64 << bits) - diff)
            }
        }
    }
}

/// A message format the loops publish and recognise. Each thread owns its codec
/// ([`MessageCodec::boxed`] makes another).
pub trait MessageCodec: Send {
    /// Bytes the largest message takes (buffer size).
    fn max_message_len(&self) -> usize;

    /// Writes message `packet_id` into `buf`, sent at about `t_send_ns` (CLOCK_MONOTONIC);
    /// returns its length.
    fn encode(
        &mut self,
        buf: &mut [u8],
        packet_id: u64,
        t_send_ns: u64,
    ) -> Result<usize, EncodeError>;

    /// Overwrites the send time of an encoded message in place, if the format carries one
    /// (called right before the send system call).
    fn restamp(&self, buf: &mut [u8], t_send_ns: u64);

    /// Recognises a received message; anything foreign or malformed is an error.
    fn decode(&mut self, bytes: &[u8]) -> Result<Received, DecodeError>;

    /// Whether [`MessageCodec::decode`] yields the full packet id and the send time (else
    /// timing joins the sequence number with the sender's send log).
    fn carries_timing(&self) -> bool;

    /// Another codec of the same format, for another thread.
    fn boxed(&self) -> Box<dyn MessageCodec>;
}

impl MessageCodec for BenchCodec {
    fn max_message_len(&self) -> usize {
        self.message_len()
    }

    #[inline]
    fn encode(
        &mut self,
        buf: &mut [u8],
        packet_id: u64,
        t_send_ns: u64,
    ) -> Result<usize, EncodeError> {
        BenchCodec::encode(self, buf, packet_id, t_send_ns)
    }

    #[inline]
    fn restamp(&self, buf: &mut [u8], t_send_ns: u64) {
        BenchCodec::restamp(buf, t_send_ns);
    }

    #[inline]
    fn decode(&mut self, bytes: &[u8]) -> Result<Received, DecodeError> {
        let f = BenchCodec::decode(self, bytes)?;
        Ok(Received {
            identity: Identity::Full(f.packet_id),
            t_send_ns: Some(f.t_send_ns),
        })
    }

    fn carries_timing(&self) -> bool {
        true
    }

    fn boxed(&self) -> Box<dyn MessageCodec> {
        Box::new(*self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_unwrap_around_the_reference() {
        assert_eq!(unwrap_near(0, 0, 16), Some(0));
        assert_eq!(unwrap_near(5, 3, 16), Some(3));
        assert_eq!(unwrap_near(5, 9, 16), Some(9));
        // Across the 16-bit wrap, both ways.
        assert_eq!(unwrap_near(65_535, 0, 16), Some(65_536));
        assert_eq!(unwrap_near(65_536, 65_535, 16), Some(65_535));
        assert_eq!(unwrap_near(3 * 65_536 + 10, 2, 16), Some(3 * 65_536 + 2));
        // Before id 0: not a packet of this run.
        assert_eq!(unwrap_near(2, 65_535, 16), None);
        // Other widths: a Byte counter, an Int32 counter, a full 64-bit one.
        assert_eq!(unwrap_near(300, 45, 8), Some(301));
        assert_eq!(unwrap_near(1 << 32, 0xffff_ffff, 32), Some((1 << 32) - 1));
        assert_eq!(unwrap_near(7, 1 << 50, 64), Some(1 << 50));
        assert_eq!(unwrap_near(7, 7, 0), None);
    }

    proptest::proptest! {
        #[test]
        fn ids_within_half_the_sequence_space_round_trip(
            reference in 0u64..1 << 40,
            bits in proptest::sample::select(vec![8u32, 16, 32]),
            fraction in -0.999f64..0.999,
        ) {
            let half = (1i64 << (bits - 1)) - 1;
            let id = reference as i64 + (fraction * half as f64) as i64;
            proptest::prop_assume!(id >= 0);
            let value = id as u64 & ((1u64 << bits) - 1);
            proptest::prop_assert_eq!(unwrap_near(reference, value, bits), Some(id as u64));
        }
    }

    #[test]
    fn the_benchmark_message_carries_its_timing() {
        let mut c: Box<dyn MessageCodec> = Box::new(BenchCodec::new(1, 2, 64).unwrap());
        let mut buf = [0u8; 64];
        let n = c.encode(&mut buf, 70_000, 0).unwrap();
        c.restamp(&mut buf[..n], 99);
        let r = c.boxed().decode(&buf[..n]).unwrap();
        assert_eq!(r.identity, Identity::Full(70_000));
        assert_eq!(r.t_send_ns, Some(99));
        assert_eq!(r.packet_id(0), Some(70_000));
        assert!(c.carries_timing());
    }
}
