//! Per-writer statistics: whom a DataSetMessage comes from, sequence-number gap accounting,
//! the running state of one writer and its final report, the filtered-out counts, and the
//! latency join against a publisher's send log.

use std::collections::HashMap;

use crate::interop::layout::PublisherIdValue;
use crate::stats::Summary;

/// Whom a DataSetMessage comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriterKey {
    pub publisher_id: Option<PublisherIdValue>,
    pub writer_group_id: Option<u16>,
    pub writer_id: Option<u16>,
}

impl std::fmt::Display for WriterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |v: Option<u16>| v.map_or("-".to_owned(), |v| v.to_string());
        write!(
            f,
            "PublisherId {}, WriterGroupId {}, DataSetWriterId {}",
            self.publisher_id
                .as_ref()
                .map_or("-".to_owned(), ToString::to_string),
            opt(self.writer_group_id),
            opt(self.writer_id)
        )
    }
}

/// 16-bit sequence numbers unwrapped into a 64-bit sequence, with loss accounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SequenceTracker {
    last: Option<u16>,
    ext: u64,
    pub lost: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

impl SequenceTracker {
    /// Accounts for `seq`; returns its unwrapped value.
    pub fn observe(&mut self, seq: u16) -> u64 {
        let Some(last) = self.last else {
            self.last = Some(seq);
            self.ext = u64::from(seq);
            return self.ext;
        };
        let ahead = seq.wrapping_sub(last);
        if ahead == 0 {
            self.duplicates += 1;
            self.ext
        } else if ahead < 0x8000 {
            if ahead > 1 {
                self.lost += u64::from(ahead - 1);
                self.gaps += 1;
            }
            self.ext += u64::from(ahead);
            self.last = Some(seq);
            self.ext
        } else {
            // Behind the newest: a late message fills a hole counted as lost.
            let behind = last.wrapping_sub(seq);
            self.reordered += 1;
            self.lost = self.lost.saturating_sub(1);
            self.ext.saturating_sub(u64::from(behind))
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct WriterState {
    pub(super) messages: u64,
    pub(super) first_ns: u64,
    pub(super) last_ns: u64,
    pub(super) inter_arrival: Vec<u64>,
    pub(super) sequence: SequenceTracker,
    pub(super) sequence_source: Option<&'static str>,
    pub(super) field_errors: u64,
    /// (unwrapped sequence, arrival) for the send-log join.
    pub(super) arrivals: Vec<(u64, u64)>,
    pub(super) latency: Vec<u64>,
    pub(super) negative_latency: u64,
}

/// Statistics of one writer.
#[derive(Debug, Clone)]
pub struct WriterReport {
    pub key: WriterKey,
    pub messages: u64,
    /// Messages per second between the first and the last arrival.
    pub rate_hz: f64,
    /// Which sequence number the gap counts come from (`None`: none on the wire).
    pub sequence_source: Option<&'static str>,
    pub sequence: SequenceTracker,
    /// Inter-arrival times (ns).
    pub inter_arrival: Option<Summary>,
    /// |inter-arrival − reference| (ns): the jitter.
    pub deviation: Option<Summary>,
    /// The reference of the deviations (ns): the expected interval, or the mean.
    pub deviation_reference_ns: f64,
    /// Fields that failed to decode (e.g. RawData without a matching layout).
    pub field_errors: u64,
    /// One-way latency (ns), where a send time is available.
    pub latency: Option<Summary>,
    /// Samples whose send time lay after their arrival (clocks not shared), excluded.
    pub negative_latency: u64,
}

/// Why NetworkMessages were not accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilteredCounts {
    pub publisher_id: u64,
    pub writer_group_id: u64,
    /// Messages none of whose DataSetMessages has an accepted DataSetWriterId.
    pub writer_id: u64,
    /// Encrypted payloads (not decoded).
    pub encrypted: u64,
}

impl FilteredCounts {
    pub fn total(&self) -> u64 {
        self.publisher_id + self.writer_group_id + self.writer_id + self.encrypted
    }
}

/// Latencies of `arrivals` (unwrapped sequence, arrival ns) against a send log (index, send
/// ns). The unwrapped sequence equals the index modulo 2¹⁶; the offset is fixed by the first
/// arrival: the latest logged index with its sequence sent before it arrived.
pub(super) fn join_send_log(log: &[(u64, u64)], arrivals: &[(u64, u64)]) -> (Vec<u64>, u64) {
    let sent: HashMap<u64, u64> = log.iter().copied().collect();
    let Some(&(ext0, recv0)) = arrivals.first() else {
        return (Vec::new(), 0);
    };
    let base = ext0 % 65_536;
    let first_index = log
        .iter()
        .filter(|(i, t)| i % 65_536 == base && *t <= recv0)
        .map(|(i, _)| *i)
        .max();
    let Some(first_index) = first_index else {
        return (Vec::new(), 0);
    };
    let offset = first_index as i128 - ext0 as i128;
    let (mut lat, mut neg) = (Vec::with_capacity(arrivals.len()), 0);
    for &(ext, recv) in arrivals {
        let Ok(index) = u64::try_from(ext as i128 + offset) else {
            continue;
        };
        if let Some(&send) = sent.get(&index) {
            match recv.checked_sub(send) {
                Some(l) => lat.push(l),
                None => neg += 1,
            }
        }
    }
    (lat, neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_and_count_gaps() {
        let mut t = SequenceTracker::default();
        assert_eq!(t.observe(65_534), 65_534);
        assert_eq!(t.observe(65_535), 65_535);
        assert_eq!(t.observe(0), 65_536);
        assert_eq!(t.observe(3), 65_539); // 1, 2 lost
        assert_eq!((t.lost, t.gaps), (2, 1));
        assert_eq!(t.observe(3), 65_539);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.observe(2), 65_538); // late: fills a hole
        assert_eq!((t.lost, t.reordered), (1, 1));
        assert_eq!(t.observe(4), 65_540);
        assert_eq!(t.lost, 1);
    }

    #[test]
    fn send_log_join_survives_wrap_and_late_start() {
        // Publisher sent indexes 0..70000 at t = 1000 * index; the subscriber started late and
        // saw indexes 65540.. (wire sequence 4..), 10 µs after each send.
        let log: Vec<(u64, u64)> = (0..70_000u64).map(|i| (i, 1000 * i)).collect();
        let mut t = SequenceTracker::default();
        let arrivals: Vec<(u64, u64)> = (65_540..65_600u64)
            .map(|i| (t.observe(i as u16), 1000 * i + 10_000))
            .collect();
        let (lat, neg) = join_send_log(&log, &arrivals);
        assert_eq!(neg, 0);
        assert_eq!(lat.len(), 60);
        assert!(lat.iter().all(|l| *l == 10_000), "{lat:?}");
    }
}
