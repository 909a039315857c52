//! The per-message work of the receive loop: decode one NetworkMessage, filter it like a
//! DataSetReader, update the per-writer statistics and write its JSON line and samples rows.

use std::collections::HashMap;
use std::io::Write;

use uadp::{BuiltinType, DecodeOptions, NetworkMessage, NetworkMessageView};
use uadpbench_sender::frame::EthFraming;

use super::filter::ReaderFilter;
use super::output::{Outputs, Received, SubscribeSampleRow};
use super::stats::{FilteredCounts, WriterKey, WriterState};
use crate::interop::fields::{field_scalar, OwnedScalar};
use crate::interop::layout::PublisherIdValue;
use crate::interop::InteropError;

pub(super) struct State {
    pub(super) filter: ReaderFilter,
    pub(super) send_time_field: Option<u16>,
    pub(super) keep_arrivals: bool,
    pub(super) received: u64,
    pub(super) accepted: u64,
    pub(super) filtered: FilteredCounts,
    pub(super) decode_failures: u64,
    pub(super) failures_by_source: HashMap<String, u64>,
    pub(super) first_decode_error: Option<String>,
    pub(super) foreign: u64,
    pub(super) malformed: u64,
    /// UADP frames to the target per framing, indexed like [`EthFraming::ALL`].
    pub(super) framings: [u64; EthFraming::ALL.len()],
    pub(super) writers: Vec<(WriterKey, WriterState)>,
    pub(super) index: HashMap<WriterKey, usize>,
    pub(super) out: Outputs,
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

    pub(super) fn process(
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
                c.serialize(SubscribeSampleRow {
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
