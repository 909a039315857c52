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

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use uadp::{BuiltinType, DecodeOptions, NetworkMessage, NetworkMessageView};
use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::frame::{parse_raw_uadp, EthFraming, Rejected};

use super::fields::{field_scalar, OwnedScalar};
use super::layout::{LayoutError, PublisherIdType, PublisherIdValue};
use super::net::{self, EthSocket};
use super::url::Target;
use super::InteropError;
use crate::stats::Summary;

/// How long one receive call waits before the loop checks the stop conditions.
const POLL: Duration = Duration::from_millis(100);

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
struct WriterState {
    messages: u64,
    first_ns: u64,
    last_ns: u64,
    inter_arrival: Vec<u64>,
    sequence: SequenceTracker,
    sequence_source: Option<&'static str>,
    field_errors: u64,
    /// (unwrapped sequence, arrival) for the send-log join.
    arrivals: Vec<(u64, u64)>,
    latency: Vec<u64>,
    negative_latency: u64,
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

/// One accepted NetworkMessage, for an observer.
#[derive(Debug)]
pub struct Received<'a, 'm> {
    /// CLOCK_MONOTONIC ns right after the receive call returned.
    pub recv_mono_ns: u64,
    /// The sender: IP:port, or the source MAC.
    pub source: &'a str,
    pub message: &'a NetworkMessage<'m>,
    /// Indexes (into `message.dataset_messages()`) of the accepted DataSetMessages.
    pub accepted: &'a [usize],
    /// The RawData layout used to decode.
    pub raw_layout: Option<&'a [BuiltinType]>,
}

impl Received<'_, '_> {
    /// The field values of accepted DataSetMessage `i` (position in `accepted`), as owned
    /// scalars (`None` for a field that is not a scalar or did not decode).
    pub fn values(&self, i: usize) -> Vec<Option<OwnedScalar>> {
        let Some(d) = self
            .accepted
            .get(i)
            .and_then(|&k| self.message.dataset_messages().get(k))
        else {
            return Vec::new();
        };
        d.fields(self.raw_layout)
            .map(|f| {
                f.ok()
                    .and_then(|f| field_scalar(&f.value))
                    .map(|s| OwnedScalar::from_scalar(&s))
            })
            .collect()
    }
}

/// One row of the samples CSV: one accepted DataSetMessage.
#[derive(Debug, Clone, Serialize)]
struct SampleRow<'a> {
    recv_mono_ns: u64,
    source: &'a str,
    publisher_id: String,
    writer_group_id: Option<u16>,
    writer_id: Option<u16>,
    network_sequence: Option<u16>,
    dataset_sequence: Option<u16>,
    /// The unwrapped sequence the gap counts use (joins with a send log's `index`).
    sequence_ext: Option<u64>,
    inter_arrival_ns: Option<u64>,
    /// From `--send-time-field` only.
    send_mono_ns: Option<u64>,
    latency_ns: Option<i64>,
    message_bytes: usize,
    fields: usize,
    field_errors: u64,
}

enum Source {
    Udp { sock: UdpSocket, buf: Vec<u8> },
    Eth { sock: EthSocket, dst: [u8; 6] },
}

struct Outputs {
    json: Option<(PathBuf, BufWriter<File>, u64)>,
    samples: Option<(PathBuf, csv::Writer<BufWriter<File>>, u64)>,
}

fn create(path: &Path, what: &'static str) -> Result<BufWriter<File>, InteropError> {
    let tmp = super::tmp_path(path);
    File::create(&tmp)
        .map(BufWriter::new)
        .map_err(|source| InteropError::File {
            what,
            path: tmp,
            source,
        })
}

struct State {
    filter: ReaderFilter,
    send_time_field: Option<u16>,
    keep_arrivals: bool,
    received: u64,
    accepted: u64,
    filtered: FilteredCounts,
    decode_failures: u64,
    failures_by_source: HashMap<String, u64>,
    first_decode_error: Option<String>,
    foreign: u64,
    malformed: u64,
    /// UADP frames to the target per framing, indexed like [`EthFraming::ALL`].
    framings: [u64; EthFraming::ALL.len()],
    writers: Vec<(WriterKey, WriterState)>,
    index: HashMap<WriterKey, usize>,
    out: Outputs,
}

impl State {
    fn writer(&mut self, key: WriterKey) -> &mut WriterState {
        let i = match self.index.get(&key) {
            Some(i) => *i,
            None => {
                self.writers.push((key.clone(), WriterState::default()));
                self.index.insert(key, self.writers.len() - 1);
                self.writers.len() - 1
            }
        };
        &mut self.writers[i].1
    }

    fn process(
        &mut self,
        bytes: &[u8],
        source: &str,
        recv_ns: u64,
        layout: Option<&[BuiltinType]>,
        observer: &mut dyn FnMut(&Received<'_, '_>),
    ) -> Result<(), InteropError> {
        self.received += 1;
        let options = DecodeOptions {
            raw_layout: layout,
            ..Default::default()
        };
        // The borrowing view: no 2.7 kB NetworkMessage per message, field values read from the
        // validated bytes. The full message is built only for JSON lines and the observer.
        let m = match NetworkMessageView::decode(bytes, &options) {
            Ok(m) => m,
            Err(e) => {
                self.decode_failures += 1;
                *self
                    .failures_by_source
                    .entry(source.to_owned())
                    .or_default() += 1;
                let text = format!("from {source}: {e}");
                self.first_decode_error.get_or_insert(text);
                if let Some((path, w, n)) = &mut self.out.json {
                    let v = serde_json::json!({
                        "recv_mono_ns": recv_ns,
                        "source": source,
                        "length": bytes.len(),
                        "error": e.to_string(),
                        "hex": hex::encode(bytes),
                    });
                    writeln!(w, "{v}").map_err(|e| InteropError::File {
                        what: "writing",
                        path: path.clone(),
                        source: e,
                    })?;
                    *n += 1;
                }
                return Ok(());
            }
        };
        let publisher = m.publisher_id().as_ref().map(PublisherIdValue::from_wire);
        let group_header = m.group_header();
        let group = group_header.as_ref();
        let writer_group_id = group.and_then(|g| g.writer_group_id);
        let f = &self.filter;
        let mut accepted = Vec::new();
        if f.publisher_id
            .as_ref()
            .is_some_and(|p| !publisher.as_ref().is_some_and(|id| p.matches(id)))
        {
            self.filtered.publisher_id += 1;
        } else if f
            .writer_group_id
            .is_some_and(|w| writer_group_id != Some(w))
        {
            self.filtered.writer_group_id += 1;
        } else if m.dataset_count() == 0 {
            self.filtered.encrypted += 1;
        } else {
            accepted = m
                .dataset_messages()
                .enumerate()
                .filter(|(_, d)| {
                    f.writer_ids.is_empty()
                        || d.writer_id().is_some_and(|id| f.writer_ids.contains(&id))
                })
                .map(|(i, _)| i)
                .collect();
            if accepted.is_empty() {
                self.filtered.writer_id += 1;
            }
        }
        let mut full: Option<NetworkMessage<'_>> = None;
        if let Some((path, w, n)) = &mut self.out.json {
            let mut v =
                crate::json::network_message(full.get_or_insert_with(|| m.to_message()), layout);
            if let serde_json::Value::Object(o) = &mut v {
                o.insert("recv_mono_ns".into(), recv_ns.into());
                o.insert("source".into(), source.into());
                o.insert("length".into(), bytes.len().into());
                o.insert("accepted".into(), (!accepted.is_empty()).into());
            }
            writeln!(w, "{v}").map_err(|e| InteropError::File {
                what: "writing",
                path: path.clone(),
                source: e,
            })?;
            *n += 1;
        }
        if accepted.is_empty() {
            return Ok(());
        }
        self.accepted += 1;
        let nm_seq = group.and_then(|g| g.sequence_number);
        for (i, d) in m.dataset_messages().enumerate() {
            if !accepted.contains(&i) {
                continue;
            }
            let key = WriterKey {
                publisher_id: publisher.clone(),
                writer_group_id,
                writer_id: d.writer_id(),
            };
            // Field check (the view has validated every field: only RawData fields without a
            // layout are unreadable, one error as `fields()` reports it), and the send time if
            // a field carries it.
            let missing = d.missing_layout();
            let nfields = if missing { 1 } else { d.field_count() };
            let field_errors = u64::from(missing);
            let send_ns = self
                .send_time_field
                .and_then(|k| d.values().nth(usize::from(k)))
                .and_then(|fv| field_scalar(&fv.value))
                .and_then(|s| OwnedScalar::from_scalar(&s).as_i128())
                .and_then(|v| u64::try_from(v).ok());
            let dsm_seq = d.sequence_number();
            let keep_arrivals = self.keep_arrivals;
            let w = self.writer(key.clone());
            let (seq, src) = match (dsm_seq, nm_seq) {
                (Some(s), _) => (Some(s), Some("DataSetMessage SequenceNumber")),
                (None, Some(s)) => (Some(s), Some("NetworkMessage SequenceNumber")),
                (None, None) => (None, None),
            };
            if w.sequence_source.is_none() {
                w.sequence_source = src;
            }
            let ext = seq.map(|s| w.sequence.observe(s));
            let inter = (w.messages > 0).then(|| recv_ns.saturating_sub(w.last_ns));
            if let Some(d) = inter {
                w.inter_arrival.push(d);
            }
            if w.messages == 0 {
                w.first_ns = recv_ns;
            }
            w.messages += 1;
            w.last_ns = recv_ns;
            w.field_errors += field_errors;
            let latency = send_ns.map(|s| recv_ns as i64 - s as i64);
            match latency {
                Some(l) if l >= 0 => w.latency.push(l as u64),
                Some(_) => w.negative_latency += 1,
                None => {}
            }
            if keep_arrivals {
                if let Some(e) = ext {
                    w.arrivals.push((e, recv_ns));
                }
            }
            if let Some((path, c, n)) = &mut self.out.samples {
                c.serialize(SampleRow {
                    recv_mono_ns: recv_ns,
                    source,
                    publisher_id: key
                        .publisher_id
                        .as_ref()
                        .map_or(String::new(), ToString::to_string),
                    writer_group_id,
                    writer_id: d.writer_id(),
                    network_sequence: nm_seq,
                    dataset_sequence: dsm_seq,
                    sequence_ext: ext,
                    inter_arrival_ns: inter,
                    send_mono_ns: send_ns,
                    latency_ns: latency,
                    message_bytes: bytes.len(),
                    fields: nfields,
                    field_errors,
                })
                .map_err(|e| InteropError::Format {
                    what: "writing",
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                *n += 1;
            }
        }
        let full = full.unwrap_or_else(|| m.to_message());
        observer(&Received {
            recv_mono_ns: recv_ns,
            source,
            message: &full,
            accepted: &accepted,
            raw_layout: layout,
        });
        Ok(())
    }
}

/// An open subscriber.
pub struct Subscriber {
    cfg: SubscribeConfig,
    target: Target,
    source: Source,
    state: State,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn mac_text(m: &[u8; 6]) -> String {
    uadpbench_topology::format_mac(m)
}

impl Subscriber {
    /// Opens the socket in the calling thread's network namespace (joining the group or
    /// multicast MAC on the named interface) and creates the output files (as `NAME.tmp`,
    /// renamed when the run ends).
    pub fn open(cfg: SubscribeConfig) -> Result<Self, InteropError> {
        let problems = cfg.problems();
        let Some(target) = cfg.target.filter(|_| problems.is_empty()) else {
            return Err(InteropError::Config(problems.join("; ")));
        };
        let source = match target {
            Target::Udp(at) => Source::Udp {
                sock: net::udp_receiver(at, cfg.interface.as_deref(), POLL)?,
                buf: vec![0; 65_536],
            },
            Target::Eth { mac, .. } => {
                let ifname = cfg
                    .interface
                    .as_deref()
                    .ok_or_else(|| InteropError::Config("raw Ethernet needs --interface".into()))?;
                let join = net::is_multicast_mac(&mac).then_some(mac);
                Source::Eth {
                    sock: EthSocket::open(ifname, join, POLL, cfg.disruptive_interface)?,
                    dst: mac,
                }
            }
        };
        let json = match &cfg.json_lines {
            Some(p) => Some((
                p.clone(),
                create(p, "cannot create the JSON-lines file")?,
                0,
            )),
            None => None,
        };
        let samples = match &cfg.samples {
            Some(p) => Some((
                p.clone(),
                csv::Writer::from_writer(create(p, "cannot create the samples file")?),
                0,
            )),
            None => None,
        };
        let state = State {
            filter: cfg.filter.clone(),
            send_time_field: cfg.send_time_field,
            keep_arrivals: cfg.send_log.is_some(),
            received: 0,
            accepted: 0,
            filtered: FilteredCounts::default(),
            decode_failures: 0,
            failures_by_source: HashMap::new(),
            first_decode_error: None,
            foreign: 0,
            malformed: 0,
            framings: [0; EthFraming::ALL.len()],
            writers: Vec::new(),
            index: HashMap::new(),
            out: Outputs { json, samples },
        };
        Ok(Subscriber {
            cfg,
            target,
            source,
            state,
        })
    }

    /// One line saying where it listens.
    pub fn describe(&self) -> String {
        let on = self
            .cfg
            .interface
            .as_deref()
            .map_or(String::new(), |i| format!(" on {i}"));
        format!("listening on {}{on}", self.target)
    }

    /// Receives until the count or duration is reached or `stop` is set; `observer` sees every
    /// accepted NetworkMessage.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        observer: &mut dyn FnMut(&Received<'_, '_>),
    ) -> Result<SubscribeReport, InteropError> {
        let start = monotonic_ns();
        let end = self
            .cfg
            .duration
            .map(|d| start.saturating_add(d.as_nanos() as u64));
        let mut interrupted = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break;
            }
            if self.cfg.count.is_some_and(|c| self.state.accepted >= c) {
                break;
            }
            if end.is_some_and(|e| monotonic_ns() >= e) {
                break;
            }
            match &mut self.source {
                Source::Udp { sock, buf } => {
                    if let Some((n, from)) = net::udp_recv(sock, buf)? {
                        let recv_ns = monotonic_ns();
                        let layout = self.cfg.raw_layout.as_deref();
                        self.state.process(
                            &buf[..n],
                            &from.to_string(),
                            recv_ns,
                            layout,
                            observer,
                        )?;
                    }
                }
                Source::Eth { sock, dst } => {
                    let dst = *dst;
                    if let Some(frame) = sock.recv()? {
                        let recv_ns = monotonic_ns();
                        match parse_raw_uadp(frame) {
                            Ok(raw) if raw.destination == dst => {
                                if let Some(i) =
                                    EthFraming::ALL.iter().position(|f| *f == raw.framing)
                                {
                                    self.state.framings[i] += 1;
                                }
                                let from = mac_text(&raw.source);
                                let layout = self.cfg.raw_layout.as_deref();
                                self.state
                                    .process(raw.uadp, &from, recv_ns, layout, observer)?;
                            }
                            Ok(_) | Err(Rejected::Foreign) => self.state.foreign += 1,
                            Err(Rejected::Malformed) => self.state.malformed += 1,
                        }
                    }
                }
            }
        }
        let elapsed = Duration::from_nanos(monotonic_ns().saturating_sub(start));
        self.finish(elapsed, interrupted)
    }

    fn finish(
        &mut self,
        elapsed: Duration,
        interrupted: bool,
    ) -> Result<SubscribeReport, InteropError> {
        let s = &mut self.state;
        let json_lines = match s.out.json.take() {
            Some((path, mut w, n)) => {
                w.flush().map_err(|e| InteropError::File {
                    what: "writing",
                    path: path.clone(),
                    source: e,
                })?;
                rename_into_place(&path)?;
                Some((path, n))
            }
            None => None,
        };
        let samples = match s.out.samples.take() {
            Some((path, mut c, n)) => {
                c.flush().map_err(|e| InteropError::File {
                    what: "writing",
                    path: path.clone(),
                    source: e,
                })?;
                drop(c);
                rename_into_place(&path)?;
                Some((path, n))
            }
            None => None,
        };
        let log = match &self.cfg.send_log {
            Some(p) => Some(super::publish::read_send_log(p)?),
            None => None,
        };
        let mut writers = Vec::new();
        let mut joined = 0u64;
        for (key, w) in &mut s.writers {
            if let Some(log) = &log {
                let (lat, neg) = join_send_log(log, &w.arrivals);
                joined += (lat.len() as u64) + neg;
                w.latency = lat;
                w.negative_latency = neg;
            }
            let inter = Summary::of(w.inter_arrival.iter().copied());
            let reference = match (self.cfg.expected_interval, &inter) {
                (Some(d), _) => d.as_nanos() as f64,
                (None, Some(s)) => s.mean,
                (None, None) => 0.0,
            };
            let deviation = Summary::of(
                w.inter_arrival
                    .iter()
                    .map(|d| (*d as f64 - reference).abs().round() as u64),
            );
            let span = w.last_ns.saturating_sub(w.first_ns);
            writers.push(WriterReport {
                key: key.clone(),
                messages: w.messages,
                rate_hz: if span > 0 {
                    (w.messages - 1) as f64 * 1e9 / span as f64
                } else {
                    0.0
                },
                sequence_source: w.sequence_source,
                sequence: w.sequence.clone(),
                inter_arrival: inter,
                deviation,
                deviation_reference_ns: reference,
                field_errors: w.field_errors,
                latency: Summary::of(w.latency.iter().copied()),
                negative_latency: w.negative_latency,
            });
        }
        let timing = match (&self.cfg.send_log, self.cfg.send_time_field) {
            (Some(p), _) => format!(
                "latency from the publisher's send log {} joined on the sequence number ({joined} sample(s) matched); arrival times CLOCK_MONOTONIC after the receive call",
                p.display()
            ),
            (None, Some(k)) => format!(
                "latency from the send time in field #{k} (CLOCK_MONOTONIC ns of the publisher: valid on this host only); arrival times CLOCK_MONOTONIC after the receive call"
            ),
            (None, None) => "arrival times only (CLOCK_MONOTONIC after the receive call); for latency give --send-time-field N (a uadpbench mono-ns field) or --send-log FILE (a uadpbench publisher's, joined on the sequence number)".into(),
        };
        let mut by_source: Vec<(String, u64)> = s.failures_by_source.clone().into_iter().collect();
        by_source.sort();
        Ok(SubscribeReport {
            target: self.target.to_string(),
            interface: self.cfg.interface.clone(),
            received: s.received,
            accepted: s.accepted,
            filtered: s.filtered,
            decode_failures: s.decode_failures,
            decode_failures_by_source: by_source,
            first_decode_error: s.first_decode_error.clone(),
            foreign_frames: s.foreign,
            malformed_frames: s.malformed,
            eth_framings: EthFraming::ALL
                .into_iter()
                .zip(s.framings)
                .filter(|(_, n)| *n > 0)
                .collect(),
            writers,
            elapsed,
            interrupted,
            timing,
            json_lines,
            samples,
        })
    }
}

fn rename_into_place(path: &Path) -> Result<(), InteropError> {
    std::fs::rename(super::tmp_path(path), path).map_err(|source| InteropError::File {
        what: "cannot rename into place",
        path: path.to_owned(),
        source,
    })
}

/// Latencies of `arrivals` (unwrapped sequence, arrival ns) against a send log (index, send
/// ns). The unwrapped sequence equals the index modulo 2¹⁶; the offset is fixed by the first
/// arrival: the latest logged index with its sequence sent before it arrived.
fn join_send_log(log: &[(u64, u64)], arrivals: &[(u64, u64)]) -> (Vec<u64>, u64) {
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
