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

mod config;
mod describe;
mod encoder;
mod identity;
mod resolve;

pub use config::{ConfigVersion, Encoding, LayoutConfig, PublisherIdSetting};
pub use encoder::MessageEncoder;
pub use identity::{PublisherIdType, PublisherIdValue};
pub use resolve::Layout;

/// A layout that cannot be published, with what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("{0}")]
    Invalid(String),
    #[error("PublisherId `{text}`: {problem}; write TYPE:VALUE with TYPE one of Byte, UInt16, UInt32, UInt64, String (e.g. UInt16:2234), or a number for the preset's type")]
    PublisherId { text: String, problem: String },
}
