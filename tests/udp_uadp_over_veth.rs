//! UADP messages of several shapes, encoded with the codec, cross the veth pair over UDP from
//! namespace A to namespace B, where the codec decodes them; afterwards nothing of the
//! topology is left.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use uadp::{
    DataSetMessage, DataSetMessageHeader, DataSetMessageType, DateTime, FieldEncoding, FieldValue,
    FieldsWriter, GroupHeader, NetworkMessage, Payload, PublisherId, Scalar, UaBytes, Variant,
};
use uadpbench_topology::{Side, Topology, TopologyOptions};

const COUNT: u16 = 500;

/// Message `i`: PublisherId 2234, WriterGroupId 100, DataSetWriterId 62541, sequence i,
/// Variant fields DateTime, Int32 -i, String "msg-i", Boolean (i even).
fn encode(i: u16, out: &mut [u8]) -> usize {
    let mut scratch = [0u8; 256];
    let text = format!("msg-{i}");
    let mut w = FieldsWriter::new(&mut scratch, FieldEncoding::Variant);
    for v in [
        Scalar::DateTime(DateTime::from_unix_nanos(
            1_704_067_200_000_000_000 + i128::from(i),
        )),
        Scalar::Int32(-i32::from(i)),
        Scalar::String(UaBytes::text(&text)),
        Scalar::Boolean(i.is_multiple_of(2)),
    ] {
        w.push(&FieldValue::Variant(Variant::Scalar(v)))
            .expect("field fits");
    }
    let fields = w.finish().expect("fields");
    let mut list = Payload::default();
    if let Payload::DataSetMessages(l) = &mut list {
        l.push(DataSetMessage {
            writer_id: Some(62541),
            header: DataSetMessageHeader {
                valid: true,
                field_encoding: FieldEncoding::Variant,
                message_type: DataSetMessageType::KeyFrame,
                sequence_number: Some(i),
                ..Default::default()
            },
            fields,
        });
    }
    let m = NetworkMessage {
        publisher_id: Some(PublisherId::UInt16(2234)),
        group_header: Some(GroupHeader {
            writer_group_id: Some(100),
            sequence_number: Some(i),
            ..Default::default()
        }),
        payload_header: true,
        payload: list,
        ..Default::default()
    };
    m.encode(out).expect("message fits")
}

#[test]
fn uadp_over_udp_between_namespaces_decodes_and_leaves_nothing_behind() {
    let topo = Topology::create(TopologyOptions::default()).expect("topology (run as root)");
    let id = topo.id().to_owned();
    let dst = (topo.b().ipv4(), uadp::UADP_UDP_PORT);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();

    let receiver = topo
        .spawn_in(Side::B, "e2e-rx", move || {
            let sock = UdpSocket::bind(("0.0.0.0", uadp::UADP_UDP_PORT)).expect("bind 4840 in B");
            sock.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            ready_tx.send(()).expect("ready");
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while got.len() < usize::from(COUNT) {
                let Ok(n) = sock.recv(&mut buf) else { break };
                let m = NetworkMessage::decode(&buf[..n]).expect("every message decodes");
                assert_eq!(m.publisher_id, Some(PublisherId::UInt16(2234)));
                assert_eq!(m.group_header.and_then(|g| g.writer_group_id), Some(100));
                let d = &m.dataset_messages()[0];
                assert_eq!(d.writer_id, Some(62541));
                let seq = d.header.sequence_number.expect("sequence number");
                let values: Vec<FieldValue<'_>> =
                    d.fields(None).map(|f| f.expect("field").value).collect();
                let text = format!("msg-{seq}");
                assert_eq!(
                    values,
                    vec![
                        FieldValue::Variant(Variant::Scalar(Scalar::DateTime(
                            DateTime::from_unix_nanos(1_704_067_200_000_000_000 + i128::from(seq))
                        ))),
                        FieldValue::Variant(Variant::Scalar(Scalar::Int32(-i32::from(seq)))),
                        FieldValue::Variant(Variant::Scalar(Scalar::String(UaBytes::text(&text)))),
                        FieldValue::Variant(Variant::Scalar(Scalar::Boolean(
                            seq.is_multiple_of(2)
                        ))),
                    ]
                );
                got.push(seq);
            }
            got
        })
        .expect("receiver thread");
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("receiver ready");

    let sender = topo
        .spawn_in(Side::A, "e2e-tx", move || {
            let sock = UdpSocket::bind(("0.0.0.0", 0)).expect("bind in A");
            let mut buf = [0u8; 512];
            for i in 0..COUNT {
                let n = encode(i, &mut buf);
                sock.send_to(&buf[..n], dst).expect("send");
                if i.is_multiple_of(50) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
        .expect("sender thread");
    sender.join().expect("sender");
    let got = receiver.join().expect("receiver");
    assert_eq!(
        got,
        (0..COUNT).collect::<Vec<_>>(),
        "all messages, in order"
    );

    drop(topo);
    let netns = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    let links = Command::new("ip")
        .args(["-o", "link"])
        .output()
        .expect("ip link");
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&id),
        "namespace left behind"
    );
    assert!(
        !String::from_utf8_lossy(&links.stdout).contains(&id),
        "veth left behind"
    );
}
