//! `uadpbench publish`, `subscribe` and `decode`: UADP with third-party stacks and captures.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use uadpbench::decode::{self, DecodeInput};
use uadpbench::interop::{
    self,
    fields::FieldList,
    layout::{ConfigVersion, Encoding, LayoutConfig, PublisherIdSetting},
    mask::{DataSetMessageContentMask, NetworkMessageContentMask},
    net::MulticastOptions,
    preset::Preset,
    publish::{PublishConfig, Publisher},
    subscribe::{PublisherIdMatch, ReaderFilter, SubscribeConfig, Subscriber},
    url::Target,
};
use uadpbench_sender::frame::EthFraming;

use super::conditions::*;
use super::{seconds, stop_on_signal};

#[derive(Debug, Args)]
pub(crate) struct DecodeArgs {
    /// The message as hex digits.
    #[arg(long, conflicts_with_all = ["file", "pcap"])]
    hex: Option<String>,
    /// A capture (pcap or pcapng): UDP ports 4840-4850, EtherType 0xB62C frames and IEEE 802.3
    /// length-field frames with LLC/SNAP or bare UADP (open62541 v1.4).
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pcap: Option<PathBuf>,
    /// A file holding one message's raw bytes.
    file: Option<PathBuf>,
    /// Field types of RawData DataSetMessages, e.g. UInt32,UInt32,DateTime (RawData cannot be
    /// split into fields without it; without it the bytes are printed as hex).
    #[arg(long, value_name = "TYPES")]
    raw_layout: Option<String>,
}

/// Publisher identity and DataSet layout: a preset, a layout file, and flags over both.
#[derive(Debug, Args)]
pub(crate) struct LayoutArgs {
    /// Ready-made layout (default sdk-tutorial); the flags below override parts of it.
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// TOML file with layout keys (preset, publisher_id, writer_group_id, writer_ids,
    /// network_message, dataset_message, encoding, fields, ...); flags override it.
    #[arg(long, value_name = "FILE")]
    layout_file: Option<PathBuf>,
    /// PublisherId as TYPE:VALUE (TYPE Byte, UInt16, UInt32, UInt64 or String), or a number
    /// of the preset's type.
    #[arg(long, value_name = "[TYPE:]VALUE")]
    publisher_id: Option<PublisherIdSetting>,
    /// WriterGroupId (in the GroupHeader).
    #[arg(long, value_name = "ID")]
    writer_group_id: Option<u16>,
    /// DataSetWriterIds, comma-separated: one DataSetMessage each per NetworkMessage.
    #[arg(long, value_name = "ID,...", value_delimiter = ',')]
    writer_ids: Option<Vec<u16>>,
    /// UadpNetworkMessageContentMask: names joined by | (PublisherId, GroupHeader,
    /// WriterGroupId, GroupVersion, NetworkMessageNumber, SequenceNumber, PayloadHeader,
    /// Timestamp, PicoSeconds, DataSetClassId, PromotedFields), a number, or none.
    #[arg(long, value_name = "MASK")]
    network_message: Option<NetworkMessageContentMask>,
    /// UadpDataSetMessageContentMask: names joined by | (Timestamp, PicoSeconds, Status,
    /// MajorVersion, MinorVersion, SequenceNumber), a number, or none.
    #[arg(long, value_name = "MASK")]
    dataset_message: Option<DataSetMessageContentMask>,
    /// Field encoding.
    #[arg(long, value_enum)]
    encoding: Option<Encoding>,
    /// The DataSet: TYPE[=VALUE],... with VALUE counter, now, toggle, mono-ns or a constant,
    /// e.g. DateTime,Int32,Int64,Boolean or DateTime=now,Int32=-42,UInt64=mono-ns.
    #[arg(long, value_name = "FIELDS")]
    fields: Option<FieldList>,
    /// GroupVersion (in the GroupHeader).
    #[arg(long, value_name = "N")]
    group_version: Option<u32>,
    /// DataSet ConfigurationVersion, as the subscriber's DataSetMetaData has it.
    #[arg(long, value_name = "MAJOR.MINOR")]
    config_version: Option<ConfigVersion>,
    /// DataSetClassId (8-4-4-4-12 hex digits), sent when the mask has DataSetClassId.
    #[arg(long, value_name = "GUID")]
    dataset_class_id: Option<String>,
}

impl LayoutArgs {
    fn resolve(self) -> anyhow::Result<interop::layout::Layout> {
        let base = match &self.layout_file {
            Some(p) => LayoutConfig::load(p)?,
            None => LayoutConfig::default(),
        };
        let flags = LayoutConfig {
            preset: self.preset,
            publisher_id: self.publisher_id,
            writer_group_id: self.writer_group_id,
            writer_ids: self.writer_ids,
            network_message: self.network_message,
            dataset_message: self.dataset_message,
            encoding: self.encoding,
            fields: self.fields,
            group_version: self.group_version,
            config_version: self.config_version,
            dataset_class_id: self.dataset_class_id,
        };
        Ok(base.overlay(flags).resolve()?)
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum FramingArg {
    /// Ethernet II, EtherType 0xB62C (Part 14): what open62541 v1.4 subscribers receive.
    EthernetIi,
    /// IEEE 802.3 length field + LLC/SNAP header carrying 0xB62C (RFC 1042 encapsulation);
    /// open62541 v1.4 discards these frames.
    Ieee8023,
    /// IEEE 802.3 length field, then the UADP message with no LLC header: what open62541 v1.4
    /// publishers send.
    #[value(name = "ieee8023-bare")]
    Ieee8023Bare,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// Where to send: opc.udp://HOST:PORT (unicast or multicast) or opc.eth://MAC[:VID[.PCP]].
    #[arg(long, value_name = "URL", default_value = "opc.udp://224.0.0.22:4840")]
    target: Target,
    /// Interface to send on; required for multicast and opc.eth (never the route's default).
    #[arg(long, value_name = "IFNAME", conflicts_with = "disruptive_interface")]
    interface: Option<String>,
    /// opc.eth on an interface uadpbench did not create (a NIC, a bridge, another veth):
    /// the raw AF_PACKET socket shares, and can disrupt, that interface's traffic. Use it
    /// instead of --interface; UDP targets never need it.
    #[arg(long, value_name = "IFNAME")]
    disruptive_interface: Option<String>,
    #[command(flatten)]
    layout: LayoutArgs,
    /// Messages to send.
    #[arg(long, conflicts_with = "duration")]
    count: Option<u64>,
    /// Seconds to publish.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Publishing interval in microseconds (0: as fast as possible).
    #[arg(long, default_value_t = 1_000)]
    interval_us: u64,
    /// Busy-wait this many microseconds before each deadline (more precise, burns CPU).
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
    /// opc.eth: frame format. `subscribe` accepts all three whatever is chosen here.
    #[arg(long, value_enum, default_value = "ethernet-ii")]
    eth_framing: FramingArg,
    /// Multicast TTL (1: the link only).
    #[arg(long, default_value_t = 1)]
    multicast_ttl: u8,
    /// Also deliver multicast to sockets of this host (IP_MULTICAST_LOOP).
    #[arg(long)]
    multicast_loop: bool,
    /// Write the send log (CSV: index, sequence, deadline and send CLOCK_MONOTONIC ns) here.
    #[arg(long, value_name = "FILE")]
    send_log: Option<PathBuf>,
    /// Print the resolved layout and message 0 (hex and JSON); send nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    conditions: EndpointConditionsArgs,
}

#[derive(Debug, Args)]
pub(crate) struct SubscribeArgs {
    /// Where to listen: opc.udp://ADDR:PORT (a local address, 0.0.0.0, or a multicast group)
    /// or opc.eth://MAC (the destination MAC of the frames; Ethernet II 0xB62C and IEEE 802.3
    /// length-field frames, with LLC/SNAP or bare UADP as open62541 v1.4 sends, are all
    /// accepted).
    #[arg(long, value_name = "URL", default_value = "opc.udp://224.0.0.22:4840")]
    target: Target,
    /// Interface to listen on; required for multicast and opc.eth.
    #[arg(long, value_name = "IFNAME", conflicts_with = "disruptive_interface")]
    interface: Option<String>,
    /// opc.eth on an interface uadpbench did not create (a NIC, a bridge, another veth):
    /// the raw AF_PACKET socket shares, and can disrupt, that interface's traffic. Use it
    /// instead of --interface; UDP targets never need it.
    #[arg(long, value_name = "IFNAME")]
    disruptive_interface: Option<String>,
    /// Accept only this PublisherId: a number (any numeric type) or TYPE:VALUE (exact).
    #[arg(long, value_name = "[TYPE:]VALUE")]
    publisher_id: Option<PublisherIdMatch>,
    /// Accept only this WriterGroupId.
    #[arg(long, value_name = "ID")]
    writer_group_id: Option<u16>,
    /// Accept only these DataSetWriterIds (comma-separated or repeated).
    #[arg(long = "writer-id", value_name = "ID", value_delimiter = ',')]
    writer_ids: Vec<u16>,
    /// RawData field types, TYPE,TYPE,... (RawData cannot be split into fields without them).
    #[arg(long, value_name = "TYPES")]
    fields: Option<FieldList>,
    /// Take the RawData field types from this preset's DataSet.
    #[arg(long, value_enum, conflicts_with = "fields")]
    preset: Option<Preset>,
    /// Stop after this many accepted NetworkMessages.
    #[arg(long)]
    count: Option<u64>,
    /// Stop after this many seconds (with --count: whichever comes first).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Write every received NetworkMessage as one JSON object per line.
    #[arg(long, value_name = "FILE")]
    json_lines: Option<PathBuf>,
    /// Write one CSV row per accepted DataSetMessage.
    #[arg(long, value_name = "FILE")]
    samples: Option<PathBuf>,
    /// The publishing interval, reference of the jitter (default: the mean inter-arrival).
    #[arg(long, value_name = "US")]
    expected_interval_us: Option<u64>,
    /// Field index carrying the publisher's CLOCK_MONOTONIC send time (a mono-ns field).
    #[arg(long, value_name = "N", conflicts_with = "send_log")]
    send_time_field: Option<u16>,
    /// A uadpbench publisher's send log: latency joined on the sequence number.
    #[arg(long, value_name = "FILE")]
    send_log: Option<PathBuf>,
    #[command(flatten)]
    conditions: EndpointConditionsArgs,
}

pub(crate) fn publish_command(a: PublishArgs) -> anyhow::Result<ExitCode> {
    let layout = a.layout.resolve()?;
    if a.dry_run {
        for l in interop::publish::preview(&layout)? {
            say!("{l}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cfg = PublishConfig {
        target: a.target,
        disruptive_interface: a.disruptive_interface.is_some(),
        interface: a.interface.or(a.disruptive_interface),
        layout,
        count: a.count,
        duration: seconds("--duration", a.duration)?,
        interval: std::time::Duration::from_micros(a.interval_us),
        spin: std::time::Duration::from_micros(a.spin_us),
        framing: match a.eth_framing {
            FramingArg::EthernetIi => EthFraming::EthernetII,
            FramingArg::Ieee8023 => EthFraming::Ieee8023Snap,
            FramingArg::Ieee8023Bare => EthFraming::Ieee8023Bare,
        },
        multicast: MulticastOptions {
            ttl: a.multicast_ttl,
            loopback: a.multicast_loop,
        },
        send_log: a.send_log,
    };
    let mut problems = cfg.problems();
    problems.extend(a.conditions.problems());
    if let Some(code) = super::refused(&problems) {
        return Ok(code);
    }
    let _pm_qos = a.conditions.apply()?;
    let mut publisher = Publisher::open(cfg)?;
    let stop = stop_on_signal()?;
    eprintln!("{} (Ctrl-C stops)", publisher.describe());
    let report = publisher.run(&stop)?;
    for l in report.lines() {
        say!("{l}");
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn subscribe_command(a: SubscribeArgs) -> anyhow::Result<ExitCode> {
    let raw_layout = match (a.fields, a.preset) {
        (Some(f), _) => Some(f.0.iter().map(|f| f.ty).collect()),
        (None, Some(p)) => Some(p.layout().field_types()),
        (None, None) => None,
    };
    let bounded = a.count.is_some() || a.duration.is_some();
    let cfg = SubscribeConfig {
        target: Some(a.target),
        disruptive_interface: a.disruptive_interface.is_some(),
        interface: a.interface.or(a.disruptive_interface),
        filter: ReaderFilter {
            publisher_id: a.publisher_id,
            writer_group_id: a.writer_group_id,
            writer_ids: a.writer_ids,
        },
        raw_layout,
        count: a.count,
        duration: seconds("--duration", a.duration)?,
        json_lines: a.json_lines,
        samples: a.samples,
        expected_interval: a.expected_interval_us.map(std::time::Duration::from_micros),
        send_time_field: a.send_time_field,
        send_log: a.send_log,
    };
    let mut problems = cfg.problems();
    problems.extend(a.conditions.problems());
    if let Some(code) = super::refused(&problems) {
        return Ok(code);
    }
    let _pm_qos = a.conditions.apply()?;
    let mut subscriber = Subscriber::open(cfg)?;
    let stop = stop_on_signal()?;
    eprintln!("{} (Ctrl-C stops)", subscriber.describe());
    let report = subscriber.run(&stop, &mut |_| {})?;
    for l in report.lines() {
        say!("{l}");
    }
    Ok(if report.interrupted && bounded {
        ExitCode::from(130)
    } else if report.accepted == 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn decode_command(a: DecodeArgs) -> anyhow::Result<ExitCode> {
    let input = match (a.hex, a.pcap, a.file) {
        (Some(h), _, _) => DecodeInput::Hex(h),
        (_, Some(p), _) => DecodeInput::Pcap(p),
        (_, _, Some(f)) => DecodeInput::File(f),
        _ => anyhow::bail!("nothing to decode: give --hex HEX, --pcap FILE or a FILE of raw bytes"),
    };
    let layout = a
        .raw_layout
        .as_deref()
        .map(decode::parse_layout)
        .transpose()?;
    let summary = decode::run(
        &input,
        layout.as_deref(),
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )?;
    if summary.failed > 0 {
        eprintln!(
            "{} message(s) decoded, {} failed",
            summary.decoded, summary.failed
        );
        return Ok(ExitCode::from(1));
    }
    if summary.decoded == 0 {
        eprintln!(
            "no UADP message found ({} frame(s) without UADP)",
            summary.skipped_frames
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}
