//! The DataSetReader-like filter: which PublisherId, WriterGroupId and DataSetWriterIds a
//! subscriber accepts, and how a PublisherId filter matches a decoded PublisherId.

use std::str::FromStr;

use crate::interop::layout::{LayoutError, PublisherIdType, PublisherIdValue};

/// A PublisherId filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherIdMatch {
    /// A bare number: that value of any numeric PublisherId type.
    Numeric(u64),
    /// `TYPE:VALUE`: that type and value.
    Exact(PublisherIdValue),
}

impl PublisherIdMatch {
    /// Whether a decoded PublisherId matches.
    pub fn matches(&self, id: &PublisherIdValue) -> bool {
        match self {
            PublisherIdMatch::Exact(v) => v == id,
            PublisherIdMatch::Numeric(n) => id.as_wire().as_u64() == Some(*n),
        }
    }
}

impl FromStr for PublisherIdMatch {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self, LayoutError> {
        if s.contains(':') {
            PublisherIdValue::parse(s, PublisherIdType::UInt64).map(PublisherIdMatch::Exact)
        } else {
            match PublisherIdValue::parse(s, PublisherIdType::UInt64)? {
                PublisherIdValue::UInt64(n) => Ok(PublisherIdMatch::Numeric(n)),
                other => Ok(PublisherIdMatch::Exact(other)),
            }
        }
    }
}

/// DataSetReader-like filters; unset ones accept everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReaderFilter {
    pub publisher_id: Option<PublisherIdMatch>,
    pub writer_group_id: Option<u16>,
    /// DataSetWriterIds to accept (empty: all).
    pub writer_ids: Vec<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publisher_id_filters() {
        let any: PublisherIdMatch = "2234".parse().unwrap();
        assert!(any.matches(&PublisherIdValue::UInt16(2234)));
        assert!(any.matches(&PublisherIdValue::UInt64(2234)));
        assert!(!any.matches(&PublisherIdValue::UInt16(2235)));
        let exact: PublisherIdMatch = "UInt16:2234".parse().unwrap();
        assert!(exact.matches(&PublisherIdValue::UInt16(2234)));
        assert!(!exact.matches(&PublisherIdValue::UInt64(2234)));
        let s: PublisherIdMatch = "String:plc-1".parse().unwrap();
        assert!(s.matches(&PublisherIdValue::String(b"plc-1".to_vec())));
        assert!("Int8:1".parse::<PublisherIdMatch>().is_err());
    }
}
