//! The concrete layout ([`Layout`]) a [`LayoutConfig`] resolves into, and the checks that it
//! can be published.

use uadp::{BuiltinType, FieldEncoding, Guid, MAX_DATASET_MESSAGES};

use super::{ConfigVersion, LayoutConfig, LayoutError, PublisherIdSetting, PublisherIdValue};
use crate::interop::fields::{guid_from_text, FieldSpec, Generator};
use crate::interop::mask::{DataSetMessageContentMask as D, NetworkMessageContentMask as N};
use crate::interop::preset::Preset;

/// A complete publisher layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// The preset it started from.
    pub preset: Option<Preset>,
    pub publisher_id: PublisherIdValue,
    pub writer_group_id: u16,
    /// One DataSetMessage per writer in each NetworkMessage (several need the PayloadHeader).
    pub writer_ids: Vec<u16>,
    pub network_message: N,
    pub dataset_message: D,
    pub encoding: FieldEncoding,
    pub fields: Vec<FieldSpec>,
    pub group_version: u32,
    pub config_version: ConfigVersion,
    pub dataset_class_id: Guid,
    /// Write ExtendedFlags1 even when nothing in it is set (Annex A layouts require it).
    pub extended_flags1: bool,
}

impl Layout {
    /// DataSetClassId used when the mask enables it and none is configured.
    pub const DEFAULT_DATASET_CLASS_ID: Guid = Guid {
        data1: 0x7561_6470,
        data2: 0x6265,
        data3: 0x6e63,
        data4: [0x68, 0, 0, 0, 0, 0, 0, 1],
    };

    /// The field types (the RawData layout a subscriber needs).
    pub fn field_types(&self) -> Vec<BuiltinType> {
        self.fields.iter().map(|f| f.ty).collect()
    }

    /// Checks the combination; every error says which flag or value to change.
    pub fn validate(&self) -> Result<(), LayoutError> {
        let bad = |m: String| Err(LayoutError::Invalid(m));
        let nm = self.network_message;
        for (flag, name) in [
            (N::WRITER_GROUP_ID, "WriterGroupId"),
            (N::GROUP_VERSION, "GroupVersion"),
            (N::NETWORK_MESSAGE_NUMBER, "NetworkMessageNumber"),
            (N::SEQUENCE_NUMBER, "SequenceNumber"),
        ] {
            if nm.contains(flag) && !nm.contains(N::GROUP_HEADER) {
                return bad(format!(
                    "the NetworkMessage content mask has {name} but not GroupHeader, which \
                     carries it: add GroupHeader to --network-message"
                ));
            }
        }
        if nm.contains(N::PICO_SECONDS) && !nm.contains(N::TIMESTAMP) {
            return bad(
                "the NetworkMessage content mask has PicoSeconds without Timestamp: add \
                 Timestamp to --network-message"
                    .into(),
            );
        }
        if self.dataset_message.contains(D::PICO_SECONDS)
            && !self.dataset_message.contains(D::TIMESTAMP)
        {
            return bad(
                "the DataSetMessage content mask has PicoSeconds without Timestamp: add \
                 Timestamp to --dataset-message"
                    .into(),
            );
        }
        if self.writer_ids.is_empty() {
            return bad("no DataSetWriterId: give at least one with --writer-ids".into());
        }
        if self.writer_ids.len() > MAX_DATASET_MESSAGES {
            return bad(format!(
                "{} DataSetWriterIds, but a NetworkMessage carries at most {MAX_DATASET_MESSAGES}",
                self.writer_ids.len()
            ));
        }
        if self.writer_ids.len() > 1 && !nm.contains(N::PAYLOAD_HEADER) {
            return bad(format!(
                "{} DataSetWriterIds need the PayloadHeader (it tells the DataSetMessages \
                 apart): add PayloadHeader to --network-message, or give one writer id",
                self.writer_ids.len()
            ));
        }
        let mut sorted = self.writer_ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != self.writer_ids.len() {
            return bad("the DataSetWriterIds repeat: give each writer once".into());
        }
        if self.fields.len() > usize::from(u16::MAX) {
            return bad(format!("{} fields: at most 65535", self.fields.len()));
        }
        if nm.contains(N::PROMOTED_FIELDS) && self.fields.is_empty() {
            return bad(
                "PromotedFields promotes the first field, but the DataSet has none: add \
                 --fields"
                    .into(),
            );
        }
        Ok(())
    }

    /// Which sequence number a subscriber can count gaps with, if any.
    pub fn sequence_source(&self) -> Option<&'static str> {
        if self.dataset_message.contains(D::SEQUENCE_NUMBER) {
            Some("DataSetMessage SequenceNumber")
        } else if self.network_message.contains(N::GROUP_HEADER)
            && self.network_message.contains(N::SEQUENCE_NUMBER)
        {
            Some("NetworkMessage SequenceNumber")
        } else {
            None
        }
    }

    /// Index of the first field carrying the CLOCK_MONOTONIC send time (`mono-ns`).
    pub fn send_time_field(&self) -> Option<usize> {
        self.fields
            .iter()
            .position(|f| f.generator == Generator::MonotonicNs)
    }
}

impl LayoutConfig {
    /// The preset with the overrides applied, validated.
    pub fn resolve(&self) -> Result<Layout, LayoutError> {
        let mut l = self.preset.unwrap_or_default().layout();
        if let Some(p) = &self.publisher_id {
            l.publisher_id = match p {
                PublisherIdSetting::Number(n) => {
                    PublisherIdValue::parse(&n.to_string(), l.publisher_id.id_type())?
                }
                PublisherIdSetting::Text(t) => {
                    PublisherIdValue::parse(t, l.publisher_id.id_type())?
                }
            };
        }
        if let Some(v) = self.writer_group_id {
            l.writer_group_id = v;
        }
        if let Some(v) = &self.writer_ids {
            l.writer_ids.clone_from(v);
        }
        if let Some(v) = self.network_message {
            l.network_message = v;
        }
        if let Some(v) = self.dataset_message {
            l.dataset_message = v;
        }
        if let Some(v) = self.encoding {
            l.encoding = v.into();
        }
        if let Some(v) = &self.fields {
            l.fields.clone_from(&v.0);
        }
        if let Some(v) = self.group_version {
            l.group_version = v;
        }
        if let Some(v) = self.config_version {
            l.config_version = v;
        }
        if let Some(t) = &self.dataset_class_id {
            l.dataset_class_id = guid_from_text(t).ok_or_else(|| {
                LayoutError::Invalid(format!(
                    "DataSetClassId `{t}` is not a GUID; write 8-4-4-4-12 hex digits"
                ))
            })?;
        }
        l.validate()?;
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_combinations_say_what_to_change() {
        let check = |cfg: LayoutConfig, needle: &str| {
            let e = cfg.resolve().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        check(
            LayoutConfig {
                network_message: Some(N::PUBLISHER_ID | N::SEQUENCE_NUMBER),
                ..Default::default()
            },
            "add GroupHeader",
        );
        check(
            LayoutConfig {
                network_message: Some(N::PICO_SECONDS),
                ..Default::default()
            },
            "add Timestamp to --network-message",
        );
        check(
            LayoutConfig {
                dataset_message: Some(D::PICO_SECONDS),
                ..Default::default()
            },
            "add Timestamp to --dataset-message",
        );
        check(
            LayoutConfig {
                preset: Some(Preset::PeriodicFixed),
                writer_ids: Some(vec![1, 2]),
                ..Default::default()
            },
            "add PayloadHeader",
        );
        check(
            LayoutConfig {
                writer_ids: Some(vec![]),
                ..Default::default()
            },
            "--writer-ids",
        );
        check(
            LayoutConfig {
                writer_ids: Some(vec![4, 4]),
                ..Default::default()
            },
            "repeat",
        );
        check(
            LayoutConfig {
                dataset_class_id: Some("nope".into()),
                ..Default::default()
            },
            "8-4-4-4-12",
        );
    }
}
