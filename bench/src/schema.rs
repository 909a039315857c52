//! The result files' rows: one type per CSV file, written by the run and read back by
//! `report`, `report.html`, `compare` and the verdict — the writer and the readers cannot
//! disagree about a column. Columns are documented in docs/csv-schema.md.
//!
//! Other files keep their row type beside the code that owns them and derive both directions
//! the same way: runs.csv (`campaign_run::RunRow`), overhead.csv (`overhead::OverheadRow`),
//! compare.csv (`compare::CompareRow`), clock_check.csv (`clock_check::ClockCheckRow`).

use serde::{Deserialize, Serialize};

/// One row of summary.csv (long format: one metric statistic per row).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SummaryRow {
    pub run_id: String,
    pub path: String,
    pub encap: String,
    pub mode: String,
    pub payload_bytes: usize,
    pub metric: String,
    pub statistic: String,
    pub value: f64,
    pub unit: String,
    /// `cross-cpu`, `same-cpu` or `none` (empty in files written before placements existed).
    #[serde(default)]
    pub placement: String,
    /// CPU side A's timed thread was pinned to (empty: not pinned).
    #[serde(default)]
    pub cpu_a: Option<usize>,
    /// CPU side B's timed thread was pinned to (empty: not pinned).
    #[serde(default)]
    pub cpu_b: Option<usize>,
    /// `ok`, or what was not controlled: `multimodal`, `migrated`, `deep_idle` joined by `+`.
    #[serde(default)]
    pub quality: String,
}

/// One row of samples.csv: one message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SampleRow {
    pub run_id: String,
    /// UADP NetworkMessage SequenceNumber (16 bits, wraps).
    pub seq: u16,
    pub packet_id: u64,
    pub t_send_ns: u64,
    /// Empty when the message was lost.
    pub t_recv_ns: Option<u64>,
    /// Ping-pong only.
    pub rtt_ns: Option<u64>,
    /// Cyclic only.
    pub one_way_ns: Option<u64>,
    /// Cyclic only: send time minus deadline.
    pub send_deviation_ns: Option<u64>,
    pub lost: bool,
}

/// One row of segments.csv.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentRow {
    pub run_id: String,
    pub path: String,
    pub encap: String,
    pub mode: String,
    pub payload_bytes: usize,
    /// Position of the segment along the packet's way (0 = from the user-space send).
    pub segment_index: usize,
    pub from_layer: String,
    pub from_crossing: u8,
    pub to_layer: String,
    pub to_crossing: u8,
    pub statistic: String,
    pub value: f64,
    pub unit: String,
    /// `value` minus one run of the probe program whose stamp ends the segment (its cost as
    /// calibrated on the warm-up, `analysis::compensation`); empty for counts and spreads,
    /// and when the probes' cost was not calibrated (files of older versions: absent).
    #[serde(default)]
    pub compensated_value: Option<f64>,
}

/// One row of subscribers.csv (fan-out runs, `--subscribers N`): what one subscriber saw.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubscriberRow {
    pub run_id: String,
    pub path: String,
    pub encap: String,
    pub payload_bytes: usize,
    /// How many subscribers the run had.
    pub subscribers: usize,
    /// This subscriber (1-based; the bridge port order).
    pub subscriber: usize,
    /// Measured messages published (every subscriber should receive each once).
    pub published: u64,
    pub received: u64,
    pub lost: u64,
    pub reordered: u64,
    pub duplicated: u64,
    /// One-way latency statistics (ns), empty when nothing arrived.
    pub one_way_min_ns: Option<f64>,
    pub one_way_p50_ns: Option<f64>,
    pub one_way_p90_ns: Option<f64>,
    pub one_way_p99_ns: Option<f64>,
    pub one_way_p99_9_ns: Option<f64>,
    pub one_way_max_ns: Option<f64>,
    pub one_way_mean_ns: Option<f64>,
    /// Mean position of this subscriber among those that received a message (1: first),
    /// over the messages every subscriber received.
    pub mean_arrival_rank: Option<f64>,
    /// CPU time (user + system) of this subscriber's thread per received message (ns).
    pub cpu_per_message_ns: f64,
    /// Where this subscriber ran: `local` (a namespace of this host) or its agent's
    /// `host:port` (fan-out across hosts).
    #[serde(default)]
    pub host: String,
    /// The clock error its one-way figures may carry (ns): 0 on one host (one clock), the
    /// agent's offset-estimate bound across hosts (0 when the agent shares this kernel).
    #[serde(default)]
    pub clock_error_bound_ns: Option<f64>,
}

/// One row of fanout_samples.csv: one measured message at one subscriber.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FanoutSampleRow {
    pub run_id: String,
    pub subscriber: usize,
    pub packet_id: u64,
    pub t_send_ns: u64,
    /// Empty when the subscriber did not receive the message.
    pub t_recv_ns: Option<u64>,
    pub one_way_ns: Option<u64>,
    pub lost: bool,
    /// The publisher's send time − its scheduled deadline (the same for every subscriber).
    #[serde(default)]
    pub send_deviation_ns: Option<u64>,
}
