//! Interoperability paths end to end (needs root): every preset (UADP-Periodic-Fixed,
//! UADP-Dynamic, SDK tutorial) is published by the `publish` library code in namespace A and
//! received by the `subscribe` library code in namespace B over
//!
//! * UDP unicast (198.18.0.1 → 198.18.0.2:4840),
//! * UDP multicast (224.0.0.22:4840, sent with IP_MULTICAST_IF on A's veth, joined on B's
//!   veth: never the host's interfaces; the namespaces have no route for the group at all),
//! * raw Ethernet with EtherType 0xB62C (unicast to B's MAC, and 802.1Q-tagged),
//! * raw Ethernet in IEEE 802.3 length-field frames with LLC/SNAP, and with the UADP message
//!   right after the length field (bare, as open62541 v1.4 sends), to a multicast MAC joined
//!   on the subscriber's socket,
//!
//! and every received value is checked field by field against what the publisher's
//! generators produce for that message. A frame open62541 v1.4 sent (bare 802.3) is replayed
//! on the veth, next to STP and a truncated frame, and must be accepted with its values while
//! the others count as other traffic / malformed. Nothing of the topology is left afterwards.

use std::time::Duration;

use uadp::DateTime;
use uadpbench::interop::fields::{FieldList, OwnedScalar};
use uadpbench::interop::layout::PublisherIdValue;
use uadpbench::interop::net::{EthSocket, MulticastOptions};
use uadpbench::interop::preset::Preset;
use uadpbench::interop::publish::{PublishConfig, Publisher};
use uadpbench::interop::subscribe::{ReaderFilter, SubscribeConfig};
use uadpbench::interop::url::Target;
use uadpbench_sender::frame::EthFraming;
use uadpbench_topology::Side;

mod interop_exchange;
use interop_exchange::*;

#[test]
fn udp_unicast_each_preset() {
    let topo = topology();
    let to: Target = "opc.udp://198.18.0.2:4840".parse().unwrap();
    run_each_preset(&topo, "UDP unicast", to, to, false, EthFraming::EthernetII);
}

#[test]
fn udp_multicast_each_preset_on_the_named_veths_only() {
    let topo = topology();
    let group: Target = "opc.udp://224.0.0.22:4840".parse().unwrap();
    run_each_preset(
        &topo,
        "UDP multicast",
        group,
        group,
        true,
        EthFraming::EthernetII,
    );

    // Without a named interface nothing is opened: the route's default is never used.
    let err = topo
        .spawn_in(Side::A, "interop-no-if", move || {
            Publisher::open(PublishConfig {
                target: group,
                interface: None,
                disruptive_interface: false,
                layout: Preset::SdkTutorial.layout(),
                count: Some(1),
                duration: None,
                interval: INTERVAL,
                spin: Duration::ZERO,
                framing: EthFraming::EthernetII,
                multicast: MulticastOptions::default(),
                send_log: None,
            })
            .map(|_| ())
            .unwrap_err()
            .to_string()
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(err.contains("--interface"), "{err}");
}

#[test]
fn raw_ethernet_ethertype_b62c_each_preset() {
    let topo = topology();
    let to = eth_target(topo.b().mac(), "");
    run_each_preset(
        &topo,
        "Ethernet II 0xB62C",
        to,
        to,
        true,
        EthFraming::EthernetII,
    );
    // 802.1Q-tagged (VID 5, PCP 3): the kernel strips the tag before AF_PACKET.
    let tagged = eth_target(topo.b().mac(), ":5.3");
    run_each_preset(
        &topo,
        "Ethernet II 0xB62C, VLAN 5",
        tagged,
        tagged,
        true,
        EthFraming::EthernetII,
    );
}

#[test]
fn raw_ethernet_8023_length_field_frames_each_preset() {
    let topo = topology();
    // A multicast destination: the subscriber joins it on its socket (PACKET_ADD_MEMBERSHIP).
    let to = eth_target([0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01], "");
    run_each_preset(
        &topo,
        "IEEE 802.3 + LLC/SNAP",
        to,
        to,
        true,
        EthFraming::Ieee8023Snap,
    );
}

#[test]
fn raw_ethernet_8023_bare_frames_each_preset() {
    let topo = topology();
    // open62541 v1.4's framing, to the multicast MAC of its examples.
    let to = eth_target([0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01], "");
    run_each_preset(
        &topo,
        "IEEE 802.3, bare UADP",
        to,
        to,
        true,
        EthFraming::Ieee8023Bare,
    );
}

/// A frame open62541 v1.4 sent (SDK tutorial publisher to opc.eth://01-00-5e-7f-00-01): IEEE
/// 802.3 length 0x003b, then the 59-byte UADP NetworkMessage, no LLC header.
const OPEN62541_BARE_8023: &str = "01005e7f000162eac941d008003bf101ba080964000000014df4e9100000a8bbac9d3b82dd01080a3d7836093d7804000dc6bbac9d3b82dd0106000000000800000000000000000101";
/// Where the sequence numbers lie in that frame (little endian): the GroupHeader's
/// NetworkMessage SequenceNumber and the DataSetMessage SequenceNumber.
const NM_SEQ_AT: usize = 14 + 7;
const DSM_SEQ_AT: usize = 14 + 14;

#[test]
fn open62541_bare_8023_frames_replayed_on_the_veth_are_accepted_with_values() {
    let topo = topology();
    let group = [0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01];
    let captured: Vec<u8> = (0..OPEN62541_BARE_8023.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&OPEN62541_BARE_8023[i..i + 2], 16).expect("hex"))
        .collect();
    assert_eq!(captured.len(), 14 + 59);
    assert_eq!(&captured[NM_SEQ_AT..NM_SEQ_AT + 2], &[0, 0]);
    assert_eq!(&captured[DSM_SEQ_AT..DSM_SEQ_AT + 2], &[0, 0]);

    // Other traffic first: STP (802.3, LLC 42-42-03), a bare frame whose length runs past
    // the frame, and the captured frame to another destination.
    let mut stp = vec![0x01, 0x80, 0xc2, 0x00, 0x00, 0x00];
    stp.extend_from_slice(&captured[6..12]);
    stp.extend_from_slice(&[0x00, 0x27, 0x42, 0x42, 0x03, 0, 0, 0, 0]);
    stp.resize(60, 0);
    let mut too_long = captured.clone();
    too_long[12..14].copy_from_slice(&60u16.to_be_bytes());
    let mut elsewhere = captured.clone();
    elsewhere[..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0x7f, 0x00, 0x02]);
    let mut frames = vec![stp, too_long, elsewhere];
    // Then the captured frame COUNT times, with sequence numbers 0, 1, 2, …
    for i in 0..COUNT as u16 {
        let mut f = captured.clone();
        f[NM_SEQ_AT..NM_SEQ_AT + 2].copy_from_slice(&i.to_le_bytes());
        f[DSM_SEQ_AT..DSM_SEQ_AT + 2].copy_from_slice(&i.to_le_bytes());
        frames.push(f);
    }

    let subscriber = start_subscriber(
        &topo,
        SubscribeConfig {
            target: Some(eth_target(group, "")),
            interface: Some(topo.b().ifname().to_owned()),
            disruptive_interface: false,
            filter: ReaderFilter::default(),
            raw_layout: None,
            count: Some(COUNT),
            duration: Some(Duration::from_secs(10)),
            ..Default::default()
        },
    );
    let a_if = topo.a().ifname().to_owned();
    topo.spawn_in(Side::A, "interop-replay", move || {
        let mut sock = EthSocket::open(&a_if, None, Duration::from_millis(100), false)
            .expect("AF_PACKET socket on A's veth");
        for f in &frames {
            sock.send(f).expect("send a frame");
            std::thread::sleep(INTERVAL);
        }
    })
    .expect("spawn the replay in A")
    .join()
    .expect("replay thread");
    let (s, got) = subscriber
        .join()
        .expect("subscriber thread")
        .expect("subscriber opened");
    eprintln!("--- open62541 bare 802.3 replay\n{}", s.lines().join("\n"));

    assert_eq!(s.accepted, COUNT, "{}", s.lines().join("\n"));
    assert_eq!(s.decode_failures, 0);
    assert_eq!(s.eth_framings, vec![(EthFraming::Ieee8023Bare, COUNT)]);
    assert_eq!(s.malformed_frames, 1, "the frame whose length runs past it");
    // STP and the other destination; the kernel may add IPv6 neighbour discovery.
    assert!(s.foreign_frames >= 2, "{}", s.lines().join("\n"));
    assert!(
        s.lines().iter().any(|l| l.contains(&format!(
            "raw Ethernet framing: {COUNT} IEEE 802.3, bare UADP"
        ))),
        "{}",
        s.lines().join("\n")
    );
    assert_eq!(s.writers.len(), 1);
    let w = &s.writers[0];
    assert_eq!(w.messages, COUNT);
    assert_eq!(w.field_errors, 0);
    assert_eq!(w.sequence_source, Some("DataSetMessage SequenceNumber"));
    assert_eq!(
        (w.sequence.lost, w.sequence.duplicates, w.sequence.reordered),
        (0, 0, 0)
    );
    assert_eq!(got.len() as u64, COUNT);
    for (i, g) in got.iter().enumerate() {
        let ctx = format!("replayed message {i}");
        assert_eq!(
            g.publisher_id,
            Some(PublisherIdValue::UInt16(2234)),
            "{ctx}"
        );
        assert_eq!(g.writer_group_id, Some(100), "{ctx}");
        assert_eq!(g.network_sequence, Some(i as u16), "{ctx}");
        assert_eq!(g.dataset_messages.len(), 1, "{ctx}");
        let (writer_id, seq, values) = &g.dataset_messages[0];
        assert_eq!((*writer_id, *seq), (Some(62541), Some(i as u16)), "{ctx}");
        // The SDK tutorial's DataSet as open62541 filled it: the time, 0, 0, true.
        assert_eq!(
            values,
            &vec![
                Some(OwnedScalar::DateTime(DateTime(0x01dd_823b_9dac_bbc6))),
                Some(OwnedScalar::Int32(0)),
                Some(OwnedScalar::Int64(0)),
                Some(OwnedScalar::Boolean(true)),
            ],
            "{ctx}"
        );
    }
}

fn latency_from_send_log(c: &mut SubscribeConfig) {
    // Read after the run: listen for a fixed time so the publisher has written its log.
    c.count = None;
    c.duration = Some(Duration::from_millis(1500));
    c.send_log = Some(timing_send_log());
}

fn latency_from_field(c: &mut SubscribeConfig) {
    c.send_time_field = Some(4);
    c.expected_interval = Some(INTERVAL);
    let dir = out_dir("timing");
    c.json_lines = Some(dir.join("messages.jsonl"));
    c.samples = Some(dir.join("samples.csv"));
}

#[test]
fn timing_from_send_log_and_from_a_field_and_output_files() {
    let topo = topology();
    let to: Target = "opc.udp://198.18.0.2:4840".parse().unwrap();

    // Periodic-Fixed: timing cannot ride in the fields; the send log joined on the sequence.
    let layout = Preset::PeriodicFixed.layout();
    assert!(layout.timing_source().contains("send log"));
    let o = exchange(
        &topo,
        Case {
            layout,
            publish_to: to,
            publish_on: None,
            listen_at: to,
            listen_on: None,
            framing: EthFraming::EthernetII,
            tweak: latency_from_send_log,
            send_log: Some(timing_send_log()),
        },
    );
    check(Preset::PeriodicFixed, "UDP unicast with a send log", &o);
    let lat = o.subscribed.writers[0]
        .latency
        .as_ref()
        .expect("latency from the send log");
    assert_eq!(lat.count, COUNT);
    assert!(lat.max < 1_000_000_000, "latency {lat:?}");
    assert!(
        o.subscribed.timing.contains("send log"),
        "{}",
        o.subscribed.timing
    );

    // Dynamic with a mono-ns field: latency from the field, files written.
    let mut layout = Preset::Dynamic.layout();
    layout
        .fields
        .extend("UInt64=mono-ns".parse::<FieldList>().expect("field").0);
    assert!(layout.timing_source().contains("field #4"));
    let o = exchange(
        &topo,
        Case {
            layout,
            publish_to: to,
            publish_on: None,
            listen_at: to,
            listen_on: None,
            framing: EthFraming::EthernetII,
            tweak: latency_from_field,
            send_log: None,
        },
    );
    let s = &o.subscribed;
    assert_eq!(s.accepted, COUNT, "{}", s.lines().join("\n"));
    let w = &s.writers[0];
    assert_eq!(
        w.latency.as_ref().expect("latency from the field").count,
        COUNT
    );
    assert_eq!(w.deviation_reference_ns, INTERVAL.as_nanos() as f64);
    assert!(s.timing.contains("field #4"), "{}", s.timing);
    let (json_path, json_n) = s.json_lines.clone().expect("json lines written");
    let (samples_path, samples_n) = s.samples.clone().expect("samples written");
    assert_eq!((json_n, samples_n), (COUNT, COUNT));
    let text = std::fs::read_to_string(&json_path).expect("json lines file");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len() as u64, COUNT);
    assert_eq!(lines[3]["publisher_id"]["type"], "UInt64");
    assert_eq!(lines[3]["dataset_messages"][0]["writer_id"], 62541);
    assert_eq!(lines[3]["dataset_messages"][0]["sequence_number"], 3);
    assert_eq!(lines[3]["dataset_messages"][0]["fields"][1]["value"], 3);
    assert_eq!(lines[3]["accepted"], true);
    let mut csv = csv::Reader::from_path(&samples_path).expect("samples CSV");
    let headers = csv.headers().expect("header").clone();
    let col = |n: &str| headers.iter().position(|h| h == n).expect(n);
    let (seq, lat) = (col("sequence_ext"), col("latency_ns"));
    let rows: Vec<csv::StringRecord> = csv.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len() as u64, COUNT);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[seq].parse::<u64>().unwrap(), i as u64);
        assert!(r[lat].parse::<i64>().unwrap() >= 0);
    }
    std::fs::remove_dir_all(out_dir("timing")).ok();
}

#[test]
fn filters_select_like_a_dataset_reader() {
    let topo = topology();
    let to: Target = "opc.udp://198.18.0.2:4840".parse().unwrap();
    fn other_writer(c: &mut SubscribeConfig) {
        c.filter.writer_ids = vec![1];
        c.count = None;
        c.duration = Some(Duration::from_millis(500));
    }
    let o = exchange(
        &topo,
        Case {
            layout: Preset::SdkTutorial.layout(),
            publish_to: to,
            publish_on: None,
            listen_at: to,
            listen_on: None,
            framing: EthFraming::EthernetII,
            tweak: other_writer,
            send_log: None,
        },
    );
    assert_eq!(o.subscribed.accepted, 0);
    assert_eq!(o.subscribed.filtered.writer_id, COUNT);
    assert!(o.got.is_empty());
    fn right_ids(c: &mut SubscribeConfig) {
        c.filter.publisher_id = Some("UInt16:2234".parse().unwrap());
        c.filter.writer_group_id = Some(100);
        c.filter.writer_ids = vec![62541];
    }
    let o = exchange(
        &topo,
        Case {
            layout: Preset::SdkTutorial.layout(),
            publish_to: to,
            publish_on: None,
            listen_at: to,
            listen_on: None,
            framing: EthFraming::EthernetII,
            tweak: right_ids,
            send_log: None,
        },
    );
    check(Preset::SdkTutorial, "UDP unicast with filters", &o);
}
