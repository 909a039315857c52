//! The serde form of a layout that command lines, `--config` files and campaign files fill in
//! ([`LayoutConfig`]: a preset plus overrides), with the setting types it is made of and the
//! TOML file loader.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uadp::FieldEncoding;

use super::LayoutError;
use crate::interop::fields::FieldList;
use crate::interop::mask::{DataSetMessageContentMask as D, NetworkMessageContentMask as N};
use crate::interop::preset::Preset;

/// A PublisherId as written in TOML: `"UInt16:2234"` or a number (of the preset's type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PublisherIdSetting {
    Number(u64),
    Text(String),
}

impl FromStr for PublisherIdSetting {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(PublisherIdSetting::Text(s.to_owned()))
    }
}

/// ConfigurationVersion of the DataSet (MajorVersion, MinorVersion); text form `MAJOR.MINOR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigVersion {
    pub major: u32,
    pub minor: u32,
}

impl FromStr for ConfigVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('.').unwrap_or((s, "0"));
        match (a.trim().parse(), b.trim().parse()) {
            (Ok(major), Ok(minor)) => Ok(ConfigVersion { major, minor }),
            _ => Err(format!(
                "`{s}` is not MAJOR.MINOR (two unsigned 32-bit numbers, e.g. 1.0); use the \
                 subscriber's DataSetMetaData ConfigurationVersion"
            )),
        }
    }
}

impl fmt::Display for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Field encoding (DataSetFieldContentMask RawData bit, or Variant / DataValue).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// Each field a Variant (self-describing).
    #[default]
    #[serde(alias = "Variant")]
    Variant,
    /// Bare values; the subscriber must know the field types.
    #[serde(alias = "RawData")]
    RawData,
    /// Each field a DataValue carrying the value.
    #[serde(alias = "DataValue")]
    DataValue,
}

impl From<Encoding> for FieldEncoding {
    fn from(e: Encoding) -> Self {
        match e {
            Encoding::Variant => FieldEncoding::Variant,
            Encoding::RawData => FieldEncoding::RawData,
            Encoding::DataValue => FieldEncoding::DataValue,
        }
    }
}

/// A layout as command lines, `--config` files and campaign files give it: a preset (default
/// `sdk-tutorial`) and overrides of its parts. In TOML:
///
/// ```toml
/// preset = "sdk-tutorial"
/// publisher_id = "UInt16:2234"
/// writer_group_id = 100
/// writer_ids = [62541]
/// network_message = "PublisherId|GroupHeader|WriterGroupId|PayloadHeader"
/// dataset_message = ["Timestamp", "MajorVersion", "MinorVersion", "SequenceNumber"]
/// encoding = "variant"
/// fields = ["DateTime=now", "Int32=counter", "Int64=counter", "Boolean=toggle"]
/// config_version = { major = 1, minor = 0 }
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LayoutConfig {
    pub preset: Option<Preset>,
    pub publisher_id: Option<PublisherIdSetting>,
    pub writer_group_id: Option<u16>,
    pub writer_ids: Option<Vec<u16>>,
    pub network_message: Option<N>,
    pub dataset_message: Option<D>,
    pub encoding: Option<Encoding>,
    pub fields: Option<FieldList>,
    pub group_version: Option<u32>,
    pub config_version: Option<ConfigVersion>,
    /// DataSetClassId as `8-4-4-4-12` hex digits (used when the mask enables it).
    pub dataset_class_id: Option<String>,
}

impl LayoutConfig {
    /// `self` with every setting of `top` that is present replacing it.
    pub fn overlay(self, top: LayoutConfig) -> LayoutConfig {
        LayoutConfig {
            preset: top.preset.or(self.preset),
            publisher_id: top.publisher_id.or(self.publisher_id),
            writer_group_id: top.writer_group_id.or(self.writer_group_id),
            writer_ids: top.writer_ids.or(self.writer_ids),
            network_message: top.network_message.or(self.network_message),
            dataset_message: top.dataset_message.or(self.dataset_message),
            encoding: top.encoding.or(self.encoding),
            fields: top.fields.or(self.fields),
            group_version: top.group_version.or(self.group_version),
            config_version: top.config_version.or(self.config_version),
            dataset_class_id: top.dataset_class_id.or(self.dataset_class_id),
        }
    }

    /// Reads a TOML file holding a `LayoutConfig` (the keys above).
    pub fn load(path: &std::path::Path) -> Result<Self, LayoutError> {
        let text =
            crate::input::read_text_bounded(path, crate::input::MAX_CONFIG_BYTES, "layout files")
                .map_err(|e| LayoutError::Invalid(e.to_string()))?;
        toml::from_str(&text).map_err(|e| LayoutError::Invalid(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::PublisherIdValue;
    use super::*;
    use uadp::BuiltinType;

    #[test]
    fn toml_layout_overlays_a_preset() {
        let cfg: LayoutConfig = toml::from_str(
            r#"
            preset = "dynamic"
            publisher_id = 77
            writer_ids = [5, 6]
            dataset_message = ["Timestamp", "SequenceNumber"]
            encoding = "raw-data"
            fields = "UInt32,Boolean=true"
            config_version = { major = 3, minor = 4 }
            "#,
        )
        .unwrap();
        let l = cfg.resolve().unwrap();
        assert_eq!(l.publisher_id, PublisherIdValue::UInt64(77));
        assert_eq!(l.writer_ids, [5, 6]);
        assert_eq!(l.network_message.0, 0x41);
        assert_eq!(l.dataset_message.0, 0x21);
        assert_eq!(l.encoding, FieldEncoding::RawData);
        assert_eq!(l.field_types(), [BuiltinType::UInt32, BuiltinType::Boolean]);
        assert_eq!(l.config_version, ConfigVersion { major: 3, minor: 4 });
        // The command line wins over the file.
        let top = LayoutConfig {
            writer_ids: Some(vec![9]),
            ..Default::default()
        };
        assert_eq!(cfg.overlay(top).resolve().unwrap().writer_ids, [9]);
        assert!(toml::from_str::<LayoutConfig>("bogus = 1").is_err());
        assert!(toml::from_str::<LayoutConfig>("fields = [\"Int32=x\"]").is_err());
    }
}
