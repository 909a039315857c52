//! What a subscribe run saw ([`SubscribeReport`]) and the lines printed about it.

use std::path::PathBuf;
use std::time::Duration;

use uadpbench_sender::frame::EthFraming;

use super::stats::{FilteredCounts, WriterReport};
use crate::stats::Summary;

/// What a subscribe run saw.
#[derive(Debug, Clone)]
pub struct SubscribeReport {
    pub target: String,
    pub interface: Option<String>,
    /// Datagrams / UADP frames received.
    pub received: u64,
    pub accepted: u64,
    pub filtered: FilteredCounts,
    pub decode_failures: u64,
    /// Decode failures by sender (IP:port or MAC).
    pub decode_failures_by_source: Vec<(String, u64)>,
    pub first_decode_error: Option<String>,
    /// Raw Ethernet: frames of other protocols / truncated frames.
    pub foreign_frames: u64,
    pub malformed_frames: u64,
    /// Raw Ethernet: UADP frames to the target MAC per framing (those seen at least once, in
    /// the order of [`EthFraming::ALL`]).
    pub eth_framings: Vec<(EthFraming, u64)>,
    pub writers: Vec<WriterReport>,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Where latency came from, or why there is none.
    pub timing: String,
    pub json_lines: Option<(PathBuf, u64)>,
    pub samples: Option<(PathBuf, u64)>,
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1000.0)
}

fn summary_us(s: &Summary) -> String {
    format!(
        "mean {} sd {} min {} p50 {} p99 {} max {}",
        us(s.mean),
        us(s.stddev),
        us(s.min as f64),
        us(s.percentiles[0] as f64),
        us(s.percentiles[2] as f64),
        us(s.max as f64)
    )
}

impl SubscribeReport {
    /// The report as printed.
    pub fn lines(&self) -> Vec<String> {
        let mut l = vec![format!(
            "subscribed to {}{} for {:.3} s: {} NetworkMessage(s) received, {} accepted, {} filtered out, {} decode failure(s)",
            self.target,
            self.interface.as_deref().map_or(String::new(), |i| format!(" on {i}")),
            self.elapsed.as_secs_f64(),
            self.received,
            self.accepted,
            self.filtered.total(),
            self.decode_failures
        )];
        let f = self.filtered;
        if f.total() > 0 {
            l.push(format!(
                "  filtered: {} by PublisherId, {} by WriterGroupId, {} by DataSetWriterId, {} encrypted",
                f.publisher_id, f.writer_group_id, f.writer_id, f.encrypted
            ));
        }
        if !self.eth_framings.is_empty() {
            let by: Vec<String> = self
                .eth_framings
                .iter()
                .map(|(f, n)| format!("{n} {}", f.describe()))
                .collect();
            l.push(format!("  raw Ethernet framing: {}", by.join(", ")));
        }
        if self.foreign_frames + self.malformed_frames > 0 {
            l.push(format!(
                "  raw Ethernet: {} frame(s) of other traffic, {} malformed",
                self.foreign_frames, self.malformed_frames
            ));
        }
        for (src, n) in &self.decode_failures_by_source {
            l.push(format!("  decode failures from {src}: {n}"));
        }
        if let Some(e) = &self.first_decode_error {
            l.push(format!("  first decode failure: {e}"));
        }
        for w in &self.writers {
            l.push(format!("writer {}", w.key));
            let seq = match w.sequence_source {
                Some(src) => format!(
                    "sequence ({src}): {} lost in {} gap(s), {} duplicate(s), {} reordered",
                    w.sequence.lost, w.sequence.gaps, w.sequence.duplicates, w.sequence.reordered
                ),
                None => "no sequence number on the wire: gaps not measurable".into(),
            };
            l.push(format!(
                "  messages {}, {:.1}/s; {seq}; field decode failures {}",
                w.messages, w.rate_hz, w.field_errors
            ));
            if let Some(s) = &w.inter_arrival {
                l.push(format!("  inter-arrival µs: {}", summary_us(s)));
            }
            if let Some(s) = &w.deviation {
                l.push(format!(
                    "  jitter (|inter-arrival − {} µs|) µs: mean {} p50 {} p99 {} max {}",
                    us(w.deviation_reference_ns),
                    us(s.mean),
                    us(s.percentiles[0] as f64),
                    us(s.percentiles[2] as f64),
                    us(s.max as f64)
                ));
            }
            if let Some(s) = &w.latency {
                l.push(format!("  latency µs: {}", summary_us(s)));
            }
            if w.negative_latency > 0 {
                l.push(format!(
                    "  {} sample(s) arrived before their send time (clocks not shared?), excluded",
                    w.negative_latency
                ));
            }
        }
        if self.writers.is_empty() {
            l.push("no DataSetMessage accepted: check --target, --interface and the filters (decode with --json-lines to see what arrives)".into());
        }
        l.push(format!("timing: {}", self.timing));
        if let Some((p, n)) = &self.json_lines {
            l.push(format!("json lines: {} ({n} lines)", p.display()));
        }
        if let Some((p, n)) = &self.samples {
            l.push(format!("samples:    {} ({n} rows)", p.display()));
        }
        if self.interrupted {
            l.push("interrupted: stopped by a signal".into());
        }
        l
    }
}
