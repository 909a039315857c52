//! What leaves the subscriber besides the report: the accepted NetworkMessage an observer
//! sees ([`Received`]), the rows of the samples CSV, and the JSON-lines / CSV output files
//! (written as `NAME.tmp`, renamed into place at the end).

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use serde::Serialize;
use uadp::{BuiltinType, NetworkMessage};

use crate::interop::fields::{field_scalar, OwnedScalar};
use crate::interop::InteropError;

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
pub(super) struct SubscribeSampleRow<'a> {
    pub(super) recv_mono_ns: u64,
    pub(super) source: &'a str,
    pub(super) publisher_id: String,
    pub(super) writer_group_id: Option<u16>,
    pub(super) writer_id: Option<u16>,
    pub(super) network_sequence: Option<u16>,
    pub(super) dataset_sequence: Option<u16>,
    /// The unwrapped sequence the gap counts use (joins with a send log's `index`).
    pub(super) sequence_ext: Option<u64>,
    pub(super) inter_arrival_ns: Option<u64>,
    /// From `--send-time-field` only.
    pub(super) send_mono_ns: Option<u64>,
    pub(super) latency_ns: Option<i64>,
    pub(super) message_bytes: usize,
    pub(super) fields: usize,
    pub(super) field_errors: u64,
}

pub(super) struct Outputs {
    pub(super) json: Option<(PathBuf, BufWriter<File>, u64)>,
    pub(super) samples: Option<(PathBuf, csv::Writer<BufWriter<File>>, u64)>,
}

pub(super) fn create(path: &Path, what: &'static str) -> Result<BufWriter<File>, InteropError> {
    let tmp = crate::interop::tmp_path(path);
    File::create(&tmp)
        .map(BufWriter::new)
        .map_err(|source| InteropError::File {
            what,
            path: tmp,
            source,
        })
}

pub(super) fn rename_into_place(path: &Path) -> Result<(), InteropError> {
    std::fs::rename(crate::interop::tmp_path(path), path).map_err(|source| InteropError::File {
        what: "cannot rename into place",
        path: path.to_owned(),
        source,
    })
}
