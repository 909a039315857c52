//! Typed errors of the codec. Decoding never panics: every malformed input maps to one of these.

/// What went wrong while decoding, and at which byte offset of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at byte offset {offset}: {kind}")]
pub struct DecodeError {
    /// Offset from the start of the NetworkMessage where the problem was found.
    pub offset: usize,
    /// The problem.
    pub kind: DecodeErrorKind,
}

/// Kinds of decode errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    #[error("message truncated: {needed} more byte(s) needed for {what}")]
    Truncated { what: &'static str, needed: usize },
    #[error("UADPVersion is {0}, only version 1 is defined")]
    UnsupportedVersion(u8),
    #[error("PublisherId type {0} is reserved")]
    ReservedPublisherIdType(u8),
    #[error("reserved bits 0x{value:02x} set in {field}")]
    ReservedBits { field: &'static str, value: u8 },
    #[error("{0} is not supported by this decoder")]
    Unsupported(Unsupported),
    #[error("PayloadHeader Count is 0")]
    NoDataSetMessages,
    #[error("PayloadHeader Count is {0}; at most {max} DataSetMessages per NetworkMessage are supported", max = crate::MAX_DATASET_MESSAGES)]
    TooManyDataSetMessages(u8),
    #[error("size of DataSetMessage #{index} is 0")]
    ZeroDataSetMessageSize { index: u8 },
    #[error("DataSetMessage #{index} declares {declared} bytes but only {available} remain")]
    DataSetMessageOverrun {
        index: u8,
        declared: usize,
        available: usize,
    },
    #[error("DataSetMessage #{index} has {extra} non-zero byte(s) after its fields")]
    DataSetMessageTrailingBytes { index: u8, extra: usize },
    #[error("{extra} non-zero byte(s) after the last DataSetMessage")]
    TrailingBytes { extra: usize },
    #[error("field encoding bits 0b11 are reserved")]
    ReservedFieldEncoding,
    #[error("DataSetMessage type {0} is reserved")]
    ReservedDataSetMessageType(u8),
    #[error("Variant built-in type {0} is not supported")]
    UnsupportedVariantType(u8),
    #[error("negative length {0} (only -1, meaning null, is allowed)")]
    NegativeLength(i32),
    #[error("array dimensions do not match the array length")]
    InvalidArrayDimensions,
    #[error("PromotedFields size {declared} does not match the encoded fields")]
    PromotedFieldsSize { declared: usize },
    #[error("RawData layout needs {needed} byte(s) but the DataSetMessage has {available}")]
    RawLayoutMismatch { needed: usize, available: usize },
    #[error("{what} is {found}, the layout expects {expected}")]
    LayoutMismatch {
        what: &'static str,
        expected: u64,
        found: u64,
    },
}

/// Message kinds that are recognised but not decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    #[error("a chunked NetworkMessage")]
    Chunk,
    #[error("a discovery request NetworkMessage")]
    DiscoveryRequest,
    #[error("a discovery response NetworkMessage")]
    DiscoveryResponse,
    #[error("NetworkMessage type {0} (reserved)")]
    ReservedNetworkMessageType(u8),
}

/// What went wrong while encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("output buffer too small: {needed} byte(s) needed, {available} available")]
    BufferTooSmall { needed: usize, available: usize },
    #[error("a NetworkMessage needs at least one DataSetMessage")]
    NoDataSetMessages,
    #[error(
        "without a PayloadHeader a NetworkMessage carries exactly one DataSetMessage, not {0}"
    )]
    PayloadHeaderRequired(usize),
    #[error("DataSetMessage #{0} has no DataSetWriterId but the PayloadHeader is enabled")]
    MissingWriterId(usize),
    #[error("DataSetMessage #{index} is {size} bytes; the Sizes array holds at most 65535")]
    DataSetMessageTooLarge { index: usize, size: usize },
    #[error("{what} is {len} bytes long; at most {max} are encodable")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{0} is encodable only with an element type that has a value")]
    InvalidValue(&'static str),
    #[error("RawData field #{index} is {found:?} but the layout says {expected:?}")]
    LayoutMismatch {
        index: usize,
        expected: crate::BuiltinType,
        found: crate::BuiltinType,
    },
    #[error("field count {0} exceeds 65535")]
    TooManyFields(usize),
}
