//! `uadpbench subscribe`: listens on a target, decodes every NetworkMessage, filters like a
//! DataSetReader (PublisherId, WriterGroupId, DataSetWriterId) and keeps per-writer statistics:
//! messages and rate, sequence gaps (DataSetMessage SequenceNumber, else the NetworkMessage
//! SequenceNumber; 16-bit, with wrap-around), inter-arrival times and their deviations
//! (jitter), field decode failures, and — where a send time is available — one-way latency.
//! Optionally every message goes to a JSON-lines file and every accepted DataSetMessage to a
//! samples CSV.
//!
//! Arrival time: CLOCK_MONOTONIC in user space right after the receive call returns (the same
//! clock as the publisher's send log, so on one host the two subtract).
//!
//! Filter semantics: a NetworkMessage passes if its PublisherId matches (a bare number matches
//! that value of any numeric type; `TYPE:VALUE` matches type and value) and its WriterGroupId
//! matches, each only when that filter is set (a message lacking the header field does not
//! match a set filter); of the passing messages, the DataSetMessages whose DataSetWriterId is
//! in the filter list (all, when the list is empty) are accepted. DataSetMessages without a
//! DataSetWriterId on the wire (no PayloadHeader) never match a DataSetWriterId filter.

mod filter;
mod output;
mod receive;
mod report;
mod state;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use uadp::BuiltinType;

use super::url::Target;

pub use filter::{PublisherIdMatch, ReaderFilter};
pub use output::Received;
pub use receive::Subscriber;
pub use report::SubscribeReport;
pub use stats::{FilteredCounts, SequenceTracker, WriterKey, WriterReport};

/// What to listen to and what to write.
#[derive(Debug, Clone, Default)]
pub struct SubscribeConfig {
    pub target: Option<Target>,
    /// The interface to listen on: required for multicast and raw Ethernet.
    pub interface: Option<String>,
    /// The user named `interface` with `--disruptive-interface`: raw Ethernet may open its
    /// AF_PACKET socket there although uadpbench did not create the interface.
    pub disruptive_interface: bool,
    pub filter: ReaderFilter,
    /// Field types of RawData DataSetMessages (they cannot be split into fields without it).
    pub raw_layout: Option<Vec<BuiltinType>>,
    /// Stop after this many accepted NetworkMessages.
    pub count: Option<u64>,
    /// Stop after this long (with `count`: whichever comes first).
    pub duration: Option<Duration>,
    /// Every received NetworkMessage as one JSON object per line.
    pub json_lines: Option<PathBuf>,
    /// One CSV row per accepted DataSetMessage.
    pub samples: Option<PathBuf>,
    /// The publishing interval, as the reference of the inter-arrival deviations (default:
    /// the mean inter-arrival time).
    pub expected_interval: Option<Duration>,
    /// Index of a field carrying the sender's CLOCK_MONOTONIC send time in ns (a `mono-ns`
    /// field of a uadpbench publisher on this host).
    pub send_time_field: Option<u16>,
    /// A uadpbench publisher's send log, joined on the sequence number for latency.
    pub send_log: Option<PathBuf>,
}

impl SubscribeConfig {
    /// Every problem of the configuration, before anything is opened.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let Some(target) = self.target else {
            return vec!["give --target URL".into()];
        };
        if target.needs_interface() && self.interface.is_none() {
            let kind = if target.is_multicast() {
                "a multicast group"
            } else {
                "a raw Ethernet target"
            };
            p.push(format!(
                "{target} is {kind}: name the interface to listen on with --interface IFNAME"
            ));
        }
        if self.count == Some(0) {
            p.push("--count must be at least 1".into());
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            p.push("--duration must be positive".into());
        }
        if self.send_time_field.is_some() && self.send_log.is_some() {
            p.push("give --send-time-field or --send-log, not both".into());
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_problems() {
        let c = SubscribeConfig::default();
        assert_eq!(c.problems(), ["give --target URL"]);
        let c = SubscribeConfig {
            target: Some("opc.udp://224.0.0.22".parse().unwrap()),
            ..Default::default()
        };
        assert!(c.problems()[0].contains("--interface IFNAME"));
        let c = SubscribeConfig {
            target: Some("opc.eth://02-00-00-00-00-01".parse().unwrap()),
            ..Default::default()
        };
        assert!(c.problems()[0].contains("raw Ethernet"));
        assert!(Subscriber::open(c).is_err());
    }
}
