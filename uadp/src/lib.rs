//! # uadp — OPC UA PubSub UADP codec (OPC UA Part 14 §7.2)
//!
//! Encoder and decoder for UADP NetworkMessages and DataSetMessages:
//!
//! - **Encoding** writes into a caller's buffer and never allocates
//!   ([`NetworkMessage::encode`], [`FieldsWriter`], [`PeriodicFixedLayout::encode`]).
//! - **Decoding** borrows from the input ([`NetworkMessage::decode`]): strings, byte strings,
//!   arrays and fields are slices of the received bytes, walked once for validation and decoded
//!   lazily by iterators.
//! - **The hot path** per received message is [`NetworkMessageView::decode`]: the same
//!   validation into a ~130-byte value of offsets (no 2.7 kB `NetworkMessage`), header parts
//!   read on demand, field values from [`DataSetView::values`] / [`DataSetView::raw_values`]
//!   without a second check. [`PeriodicFixedLayout::prepare`] gives a [`PeriodicFixedCodec`]
//!   whose sizes are computed once, and [`FieldsWriter::push_raw_values`] writes typed RawData
//!   values in one call.
//! - **Every malformed input is a typed [`DecodeError`]** with the byte offset: no panic, no
//!   out-of-bounds read (checked by property tests and a cargo-fuzz target).
//!
//! Covered: UADPVersion/flags, ExtendedFlags1/2, PublisherId (Byte, UInt16, UInt32, UInt64,
//! String), DataSetClassId, GroupHeader, PayloadHeader with the Sizes array, Timestamp,
//! PicoSeconds, PromotedFields, SecurityHeader (parsed, no cryptography), DataSetMessages
//! (key frame, delta frame, event, keep-alive) with Variant, DataValue and RawData fields.
//! Chunked and discovery NetworkMessages are recognised and reported as
//! [`Unsupported`], never misread. Trailing zero bytes (Ethernet padding) are accepted.
//!
//! The crate is `no_std` without the default `std` feature.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

mod builtin;
mod cursor;
mod dataset_message;
mod error;
mod network_message;
mod periodic_fixed;
mod scalar_io;
mod variant;
mod view;

pub use builtin::{BuiltinType, DateTime, Guid, StatusCode, UaBytes};
pub use dataset_message::{
    DataSetMessage, DataSetMessageHeader, DataSetMessageType, Field, FieldEncoding, FieldIter,
    FieldValue, Fields, FieldsWriter,
};
pub use error::{DecodeError, DecodeErrorKind, EncodeError, Unsupported};
pub use network_message::{
    DecodeOptions, GroupHeader, NetworkMessage, NetworkMessageHeader, Payload, PromotedFields,
    PublisherId, SecurityHeader, UADP_VERSION,
};
pub use periodic_fixed::{
    PeriodicFixedCodec, PeriodicFixedCounters, PeriodicFixedLayout, PeriodicFixedMessage,
};
pub use variant::{ArrayValues, DataValue, Scalar, Variant, VariantArray};
pub use view::{DataSetView, DataSetViews, FieldValues, NetworkMessageView, RawValues};

/// Most DataSetMessages one NetworkMessage may carry in this codec (the decoder refuses more,
/// as open62541 does).
pub const MAX_DATASET_MESSAGES: usize = 32;

/// EtherType of UADP over raw Ethernet (IEEE 802 assigned to OPC UA PubSub).
pub const UADP_ETHERTYPE: u16 = 0xB62C;

/// IANA UDP port of OPC UA (UADP over UDP uses 4840 by default).
pub const UADP_UDP_PORT: u16 = 4840;
