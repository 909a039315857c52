//! `uadpbench decode`: UADP bytes from hex, a raw file or a capture → one JSON object per
//! NetworkMessage on stdout; one error line per malformed message (with its byte offset).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use uadp::{BuiltinType, DecodeOptions, NetworkMessage};
use uadpbench_sender::frame::EthFraming;

use crate::capture::{self, Carrier};
use crate::json;

/// Where the bytes come from.
#[derive(Debug, Clone)]
pub enum DecodeInput {
    /// One message as hex text (whitespace and a leading 0x are ignored).
    Hex(String),
    /// One message as the raw bytes of a file.
    File(PathBuf),
    /// Every UADP message in a pcap/pcapng capture.
    Pcap(PathBuf),
}

/// Counts of one decode invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeSummary {
    pub decoded: usize,
    pub failed: usize,
    /// Frames in a capture that carried no UADP (other traffic).
    pub skipped_frames: usize,
}

impl DecodeSummary {
    fn count(&mut self, decoded: bool) {
        if decoded {
            self.decoded += 1
        } else {
            self.failed += 1
        }
    }
}

/// Parses a RawData field layout such as `UInt32,UInt32,DateTime`.
pub fn parse_layout(text: &str) -> anyhow::Result<Vec<BuiltinType>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            BuiltinType::from_name(name).with_context(|| {
                let known: Vec<&str> = BuiltinType::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "unknown field type {name:?} in the RawData layout; known types: {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

fn hex_bytes(text: &str) -> anyhow::Result<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let cleaned = cleaned.strip_prefix("0x").unwrap_or(&cleaned);
    hex::decode(cleaned).map_err(|e| {
        anyhow::anyhow!(
            "--hex is not valid hex ({e}); give the message bytes as hex digits, e.g. f101ba08..."
        )
    })
}

/// How the `source` of a message found directly in Ethernet names its framing.
fn framing_name(framing: EthFraming) -> &'static str {
    match framing {
        EthFraming::EthernetII => "ethernet-ii",
        EthFraming::Ieee8023Snap => "ieee8023-llc-snap",
        EthFraming::Ieee8023Bare => "ieee8023-bare",
    }
}

/// Decodes one message and writes its JSON (or an error line) — returns whether it decoded.
fn emit(
    bytes: &[u8],
    options: &DecodeOptions<'_>,
    context: Option<serde_json::Value>,
    label: &str,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<bool> {
    match NetworkMessage::decode_with(bytes, options) {
        Ok(m) => {
            let mut v = json::network_message(&m, options.raw_layout);
            if let serde_json::Value::Object(o) = &mut v {
                o.insert("length".into(), bytes.len().into());
                if let Some(c) = context {
                    o.insert("source".into(), c);
                }
            }
            writeln!(out, "{v}")?;
            Ok(true)
        }
        Err(e) => {
            writeln!(err, "error: {label}at byte offset {}: {}", e.offset, e.kind)?;
            Ok(false)
        }
    }
}

/// Runs the decode command, writing JSON lines to `out` and error lines to `err`.
pub fn run(
    input: &DecodeInput,
    raw_layout: Option<&[BuiltinType]>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<DecodeSummary> {
    let options = DecodeOptions {
        raw_layout,
        ..Default::default()
    };
    let mut summary = DecodeSummary::default();
    match input {
        DecodeInput::Hex(text) => {
            summary.count(emit(&hex_bytes(text)?, &options, None, "", out, err)?)
        }
        DecodeInput::File(path) => {
            let bytes = crate::input::read_bounded(
                path,
                crate::input::MAX_RAW_MESSAGE_BYTES,
                "a raw UADP message (decode --pcap reads captures of any size)",
            )?;
            summary.count(emit(&bytes, &options, None, "", out, err)?)
        }
        DecodeInput::Pcap(path) => {
            let file = crate::input::regular_file(path)?;
            let streamed = capture::for_each_frame(std::io::BufReader::new(file), |f| {
                let Some((carrier, payload)) = capture::uadp_payload(f.link, &f.data) else {
                    summary.skipped_frames += 1;
                    return Ok(());
                };
                let ctx = match carrier {
                    Carrier::Ethernet(framing) => serde_json::json!({
                        "frame": f.number, "carrier": "ethernet", "framing": framing_name(framing)
                    }),
                    Carrier::Udp { src_port, dst_port } => serde_json::json!({
                        "frame": f.number, "carrier": "udp", "src_port": src_port, "dst_port": dst_port
                    }),
                };
                let label = format!("frame {}: ", f.number);
                summary.count(emit(payload, &options, Some(ctx), &label, out, err)?);
                Ok(())
            });
            let streamed = match streamed {
                Ok(s) => s,
                Err(capture::StreamError::Visitor(e)) => return Err(e),
                Err(capture::StreamError::Capture(e)) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("reading capture {}", path.display())))
                }
            };
            if let Some(e) = streamed.error {
                // Every complete frame was printed; the bad record is reported and counted.
                writeln!(
                    err,
                    "frame {}: cannot read the record ({e}); {} complete frame(s) before it were decoded",
                    streamed.frames + 1,
                    streamed.frames
                )?;
                summary.count(false);
            }
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V2: &str = "f101ba08016400014df4e11000c08976453cda01010000000200000004000d00c08976453cda0106d6ffffff08cb04fb711f0100000101";

    #[test]
    fn a_truncated_last_pcap_record_keeps_the_complete_frames() {
        use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
        let uadp = hex::decode(V2).unwrap();
        let mut frame = vec![
            0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01, 0x02, 0, 0, 0, 0, 1, 0xb6, 0x2c,
        ];
        frame.extend_from_slice(&uadp);
        let mut w = PcapWriter::with_header(
            Vec::new(),
            PcapHeader {
                datalink: pcap_file::DataLink::ETHERNET,
                ..PcapHeader::default()
            },
        )
        .unwrap();
        for i in 0..3 {
            let p = PcapPacket::new(
                std::time::Duration::from_millis(i),
                frame.len() as u32,
                &frame,
            );
            w.write_packet(&p).unwrap();
        }
        let mut bytes = w.into_writer();
        bytes.truncate(bytes.len() - 10); // the third record is cut short
        let file =
            std::env::temp_dir().join(format!("uadpbench-trunc-{}.pcap", std::process::id()));
        std::fs::write(&file, &bytes).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = run(&DecodeInput::Pcap(file.clone()), None, &mut out, &mut err).unwrap();
        std::fs::remove_file(&file).unwrap();
        let (out, err) = (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        );
        assert_eq!(s.decoded, 2, "{err}");
        assert_eq!(
            s.failed, 1,
            "the truncated record counts as a failure (exit status 1)"
        );
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(err.contains("frame 3: cannot read the record"), "{err}");
    }

    fn decode_hex(hex: &str) -> (DecodeSummary, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let s = run(&DecodeInput::Hex(hex.into()), None, &mut out, &mut err).unwrap();
        (
            s,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn the_readme_example_prints_identities_and_values() {
        let (s, out, err) = decode_hex(V2);
        assert_eq!(
            s,
            DecodeSummary {
                decoded: 1,
                failed: 0,
                skipped_frames: 0
            }
        );
        assert!(err.is_empty());
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["publisher_id"]["value"], 2234);
        assert_eq!(v["group_header"]["writer_group_id"], 100);
        let d = &v["dataset_messages"][0];
        assert_eq!(d["writer_id"], 62541);
        assert_eq!(d["fields"][0]["value"], "2024-01-01T00:00:00Z");
        assert_eq!(d["fields"][1]["value"], -42);
        assert_eq!(d["fields"][2]["value"], 1_234_567_890_123i64);
        assert_eq!(d["fields"][3]["value"], true);
    }

    #[test]
    fn malformed_input_names_offset_and_reason() {
        let (s, out, err) = decode_hex("9105");
        assert_eq!(s.failed, 1);
        assert!(out.is_empty());
        assert_eq!(
            err.trim(),
            "error: at byte offset 1: PublisherId type 5 is reserved"
        );
    }

    #[test]
    fn bad_hex_is_an_error() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert!(run(&DecodeInput::Hex("zz".into()), None, &mut out, &mut err).is_err());
    }

    #[test]
    fn layout_parsing() {
        assert_eq!(
            parse_layout("UInt32, datetime").unwrap(),
            vec![BuiltinType::UInt32, BuiltinType::DateTime]
        );
        assert!(parse_layout("Int33")
            .unwrap_err()
            .to_string()
            .contains("known types"));
    }
}
