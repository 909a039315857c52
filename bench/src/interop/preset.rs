//! Ready-made layouts: the two header layouts of Part 14 Annex A and the one of the OPC UA SDK
//! tutorials. Every part of a preset can be overridden (see [`super::layout::LayoutConfig`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use uadp::FieldEncoding;

use super::fields::FieldList;
use super::layout::{ConfigVersion, Layout, PublisherIdValue};
use super::mask::{DataSetMessageContentMask as D, NetworkMessageContentMask as N};

/// The identities every preset uses unless overridden: those of the open62541 tutorials.
pub const TUTORIAL_PUBLISHER_ID: u16 = 2234;
pub const TUTORIAL_WRITER_GROUP_ID: u16 = 100;
pub const TUTORIAL_DATASET_WRITER_ID: u16 = 62541;
/// The DataSet of the tutorials' subscriber (`tutorial_pubsub_subscribe.c`: DateTime, Int32,
/// Int64, BoolToggle), with values that change per message.
pub const TUTORIAL_FIELDS: &str = "DateTime=now,Int32=counter,Int64=counter,Boolean=toggle";

/// A ready-made layout.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// UADP-Periodic-Fixed (Part 14 Annex A.2.1, `http://opcfoundation.org/UA/PubSub-Layouts/UADP-Periodic-Fixed`):
    /// PublisherId UInt16, GroupHeader with WriterGroupId, GroupVersion, NetworkMessageNumber and
    /// SequenceNumber, no PayloadHeader; DataSetMessage with SequenceNumber and Status, RawData
    /// fields, key frames only (NetworkMessage mask 0x3F, DataSetMessage mask 0x24).
    PeriodicFixed,
    /// UADP-Dynamic (Part 14 Annex A.2.2, `http://opcfoundation.org/UA/PubSub-Layouts/UADP-Dynamic`):
    /// PublisherId UInt64 and PayloadHeader, no GroupHeader; DataSetMessage with SequenceNumber,
    /// Timestamp, Status and MinorVersion; Variant fields (NetworkMessage mask 0x41,
    /// DataSetMessage mask 0x35).
    Dynamic,
    /// The OPC UA SDK tutorials (open62541 `tutorial_pubsub_publish.c` / `_subscribe.c`):
    /// PublisherId UInt16 2234, GroupHeader with WriterGroupId 100, PayloadHeader with
    /// DataSetWriterId 62541; DataSetMessage with Timestamp, MajorVersion and MinorVersion
    /// (open62541's default); Variant key frames (NetworkMessage mask 0x47, DataSetMessage
    /// mask 0x19). No sequence numbers on the wire.
    #[default]
    SdkTutorial,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 3] = [Preset::PeriodicFixed, Preset::Dynamic, Preset::SdkTutorial];

    /// The name on the command line and in TOML.
    pub fn name(self) -> &'static str {
        match self {
            Preset::PeriodicFixed => "periodic-fixed",
            Preset::Dynamic => "dynamic",
            Preset::SdkTutorial => "sdk-tutorial",
        }
    }

    /// Where the layout comes from.
    pub fn origin(self) -> &'static str {
        match self {
            Preset::PeriodicFixed => "UADP-Periodic-Fixed, OPC UA Part 14 Annex A.2.1",
            Preset::Dynamic => "UADP-Dynamic, OPC UA Part 14 Annex A.2.2",
            Preset::SdkTutorial => {
                "OPC UA SDK tutorials (open62541 tutorial_pubsub_publish/subscribe)"
            }
        }
    }

    /// The preset's complete layout.
    pub fn layout(self) -> Layout {
        let fields = TUTORIAL_FIELDS
            .parse::<FieldList>()
            .map(|l| l.0)
            .unwrap_or_default();
        let base = Layout {
            preset: Some(self),
            publisher_id: PublisherIdValue::UInt16(TUTORIAL_PUBLISHER_ID),
            writer_group_id: TUTORIAL_WRITER_GROUP_ID,
            writer_ids: vec![TUTORIAL_DATASET_WRITER_ID],
            network_message: N(0),
            dataset_message: D(0),
            encoding: FieldEncoding::Variant,
            fields,
            group_version: 1,
            config_version: ConfigVersion { major: 1, minor: 0 },
            dataset_class_id: Layout::DEFAULT_DATASET_CLASS_ID,
            extended_flags1: false,
        };
        match self {
            Preset::PeriodicFixed => Layout {
                network_message: N::PUBLISHER_ID
                    | N::GROUP_HEADER
                    | N::WRITER_GROUP_ID
                    | N::GROUP_VERSION
                    | N::NETWORK_MESSAGE_NUMBER
                    | N::SEQUENCE_NUMBER,
                dataset_message: D::STATUS | D::SEQUENCE_NUMBER,
                encoding: FieldEncoding::RawData,
                // Table A.1: ExtendedFlags1 enabled, whatever the PublisherId type.
                extended_flags1: true,
                ..base
            },
            Preset::Dynamic => Layout {
                publisher_id: PublisherIdValue::UInt64(TUTORIAL_PUBLISHER_ID.into()),
                network_message: N::PUBLISHER_ID | N::PAYLOAD_HEADER,
                dataset_message: D::TIMESTAMP | D::STATUS | D::MINOR_VERSION | D::SEQUENCE_NUMBER,
                // Table A.7: ExtendedFlags1 enabled (it carries the UInt64 PublisherId type).
                extended_flags1: true,
                ..base
            },
            Preset::SdkTutorial => Layout {
                network_message: N::PUBLISHER_ID
                    | N::GROUP_HEADER
                    | N::WRITER_GROUP_ID
                    | N::PAYLOAD_HEADER,
                dataset_message: D::TIMESTAMP | D::MAJOR_VERSION | D::MINOR_VERSION,
                ..base
            },
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::fields::{FieldList, SendTime};
    use crate::interop::layout::{LayoutConfig, MessageEncoder};
    use uadp::{BuiltinType, DateTime, NetworkMessage, PublisherId};

    /// The open62541 v1.5.7 conformance vectors (copied into the tests of the `uadp` crate).
    const V2: &str = "f101ba08016400014df4e11000c08976453cda01010000000200000004000d00c08976453cda0106d6ffffff08cb04fb711f0100000101";
    const V3: &str = "b101ba080f640078563412010007001b0700000001000000020000000300000004000000";
    const JAN_2024: DateTime = DateTime(0x01da_3c45_7689_c000);

    fn at_2024() -> SendTime {
        SendTime {
            utc: JAN_2024,
            picoseconds: 0,
            mono_ns: 1,
        }
    }

    fn encode(cfg: LayoutConfig, index: u64) -> Vec<u8> {
        let mut enc = MessageEncoder::new(cfg.resolve().expect("valid layout"));
        let mut buf = vec![0u8; 2048];
        let n = enc.encode(index, &at_2024(), &mut buf).expect("encodes");
        buf.truncate(n);
        buf
    }

    #[test]
    fn sdk_tutorial_preset_encodes_like_open62541() {
        // V2: the tutorial DataSet with constant values and ConfigurationVersion 1.2.
        let bytes = encode(
            LayoutConfig {
                preset: Some(Preset::SdkTutorial),
                fields: Some(
                    "DateTime=now,Int32=-42,Int64=1234567890123,Boolean=true"
                        .parse::<FieldList>()
                        .unwrap(),
                ),
                config_version: Some(ConfigVersion { major: 1, minor: 2 }),
                ..Default::default()
            },
            0,
        );
        assert_eq!(hex::encode(&bytes), V2);
        // And with live values it decodes to the tutorial identities.
        let live = encode(
            LayoutConfig {
                preset: Some(Preset::SdkTutorial),
                ..Default::default()
            },
            9,
        );
        let m = NetworkMessage::decode(&live).unwrap();
        assert_eq!(m.publisher_id, Some(PublisherId::UInt16(2234)));
        assert_eq!(m.group_header.unwrap().writer_group_id, Some(100));
        assert_eq!(m.group_header.unwrap().sequence_number, None);
        let d = &m.dataset_messages()[0];
        assert_eq!(d.writer_id, Some(62541));
        assert_eq!(d.header.timestamp, Some(JAN_2024));
        assert_eq!(d.header.sequence_number, None);
        let v: Vec<_> = d
            .fields(None)
            .map(|f| crate::interop::fields::field_scalar(&f.unwrap().value).unwrap())
            .collect();
        assert_eq!(
            v,
            [
                uadp::Scalar::DateTime(JAN_2024),
                uadp::Scalar::Int32(9),
                uadp::Scalar::Int64(9),
                uadp::Scalar::Boolean(false)
            ]
        );
    }

    #[test]
    fn periodic_fixed_preset_encodes_like_open62541() {
        // V3: GroupVersion 0x12345678, sequence 7, RawData 4 x UInt32 (1, 2, 3, 4).
        let bytes = encode(
            LayoutConfig {
                preset: Some(Preset::PeriodicFixed),
                group_version: Some(0x1234_5678),
                fields: Some("UInt32=1,UInt32=2,UInt32=3,UInt32=4".parse().unwrap()),
                ..Default::default()
            },
            7,
        );
        assert_eq!(hex::encode(&bytes), V3);
        // The codec's own Periodic-Fixed decoder agrees.
        let layout = uadp::PeriodicFixedLayout {
            publisher_id: 2234,
            writer_group_id: 100,
            group_version: 0x1234_5678,
            fields: &[BuiltinType::UInt32; 4],
        };
        let m = layout.decode(&bytes).unwrap();
        assert_eq!(m.counters.sequence_number, 7);
        assert_eq!(m.counters.network_message_number, 1);
    }

    #[test]
    fn dynamic_preset_has_the_annex_a22_headers() {
        let bytes = encode(
            LayoutConfig {
                preset: Some(Preset::Dynamic),
                ..Default::default()
            },
            65_537,
        );
        // UADPFlags: version 1, PublisherId, PayloadHeader, ExtendedFlags1 (Table A.7);
        // ExtendedFlags1: PublisherId UInt64.
        assert_eq!(&bytes[..2], &[0xD1, 0x03]);
        assert_eq!(&bytes[2..10], &2234u64.to_le_bytes());
        // PayloadHeader: one DataSetMessage, writer 62541.
        assert_eq!(&bytes[10..13], &[1, 0x4d, 0xf4]);
        // DataSetFlags1: valid, Variant, SequenceNumber, Status, MinorVersion, DataSetFlags2
        // (Table A.11); DataSetFlags2: key frame, Timestamp.
        assert_eq!(&bytes[13..15], &[0xD9, 0x10]);
        let m = NetworkMessage::decode(&bytes).unwrap();
        let h = m.dataset_messages()[0].header;
        assert_eq!(h.sequence_number, Some(1)); // 65537 wraps to 1
        assert_eq!((h.status, h.config_version_minor), (Some(0), Some(0)));
        assert_eq!(h.config_version_major, None);
        assert!(m.group_header.is_none());
    }
}
