//! uadpbench against another OPC UA PubSub stack: asyncua (opcua-asyncio, pure Python,
//! `asyncua.pubsub`), the version that scripts/setup.sh pins. As root, in a fresh
//! two-namespace topology (198.18.0.1 ↔ 198.18.0.2), both ways:
//!
//! * `uadpbench publish` in A → an asyncua subscriber in B
//!   (`bench/tests/peers/asyncua_sub.py`: asyncua's own UDP connection, ReaderGroup and
//!   DataSetReader), which reports the headers and every field value asyncua decoded; checked
//!   message by message;
//! * an asyncua publisher in A (`bench/tests/peers/asyncua_pub.py`: asyncua's own
//!   WriterGroup, DataSetWriter and PublishedDataSet) → `uadpbench subscribe` in B: every
//!   value, the sequence accounting, no decode failure;
//!
//! for the layouts asyncua can be configured for (the SDK tutorial layout, UADP-Periodic-Fixed,
//! UADP-Dynamic with a PublisherId type asyncua gets right, every optional header asyncua
//! reads, all 17 field types in each of the three field encodings), over UDP unicast and
//! multicast. The limits docs/interop.md states (UInt64 PublisherIds, PromotedFields) are
//! asserted as well, so the documentation stays true for the pinned version. Without python3
//! or asyncua the tests fail and say what to install; they never skip.

use serde_json::Value;

mod asyncua;
use asyncua::from_asyncua::*;
use asyncua::to_asyncua::*;
use asyncua::*;

#[test]
fn uadpbench_publish_to_asyncua_subscriber() {
    preflight();
    let topo = topology();
    let tutorial = AsyncuaSees {
        publisher_id_class: "UInt16",
        publisher_id: "2234",
        writer_group_id: Some(100),
        network_sequence: false,
        dataset_sequence: false,
        types: VARIANT_TYPES,
    };
    let cases = [
        ToAsyncua {
            what: "SDK tutorial layout over UDP unicast",
            multicast: false,
            layout: &["--preset", "sdk-tutorial"],
            reader: ("UInt16:2234", 100, 62541),
            fields: TUTORIAL_FIELDS,
            sees: Some(tutorial),
        },
        ToAsyncua {
            what: "SDK tutorial layout over UDP multicast",
            multicast: true,
            layout: &["--preset", "sdk-tutorial"],
            reader: ("UInt16:2234", 100, 62541),
            fields: TUTORIAL_FIELDS,
            sees: Some(tutorial),
        },
        ToAsyncua {
            // No PayloadHeader: asyncua gives the DataSetMessage writer id 0, so only a
            // wildcard reader (DataSetWriterId 0) takes it; RawData values reach the
            // application as plain Python numbers, re-typed Int64.
            what: "UADP-Periodic-Fixed (RawData) over UDP unicast",
            multicast: false,
            layout: &["--preset", "periodic-fixed"],
            reader: ("UInt16:2234", 100, 0),
            fields: TUTORIAL_FIELDS,
            sees: Some(AsyncuaSees {
                network_sequence: true,
                dataset_sequence: true,
                types: ["DateTime", "Int64", "Int64", "Boolean"],
                ..tutorial
            }),
        },
        ToAsyncua {
            what: "UADP-Dynamic with a UInt32 PublisherId over UDP unicast",
            multicast: false,
            layout: &["--preset", "dynamic", "--publisher-id", "UInt32:2234"],
            reader: ("UInt32:2234", 0, 62541),
            fields: TUTORIAL_FIELDS,
            sees: Some(AsyncuaSees {
                publisher_id_class: "UInt32",
                writer_group_id: None,
                dataset_sequence: true,
                ..tutorial
            }),
        },
        ToAsyncua {
            what: "String PublisherId, two DataSetMessages (Sizes) over UDP multicast",
            multicast: true,
            layout: &[
                "--preset",
                "dynamic",
                "--publisher-id",
                "String:plc-1",
                "--writer-ids",
                "62541,62542",
            ],
            reader: ("String:plc-1", 0, 62542),
            fields: TUTORIAL_FIELDS,
            sees: Some(AsyncuaSees {
                publisher_id_class: "str",
                publisher_id: "plc-1",
                writer_group_id: None,
                dataset_sequence: true,
                ..tutorial
            }),
        },
        ToAsyncua {
            what: "DataValue fields with every optional header asyncua reads",
            multicast: false,
            layout: &[
                "--preset",
                "sdk-tutorial",
                "--publisher-id",
                "Byte:7",
                "--encoding",
                "data-value",
                "--network-message",
                "PublisherId|GroupHeader|WriterGroupId|GroupVersion|NetworkMessageNumber|\
                 SequenceNumber|PayloadHeader|Timestamp|PicoSeconds|DataSetClassId",
                "--dataset-message",
                "Timestamp|PicoSeconds|Status|MajorVersion|MinorVersion|SequenceNumber",
            ],
            reader: ("Byte:7", 100, 62541),
            fields: TUTORIAL_FIELDS,
            sees: Some(AsyncuaSees {
                publisher_id_class: "Byte",
                publisher_id: "7",
                network_sequence: true,
                dataset_sequence: true,
                ..tutorial
            }),
        },
    ];
    for case in &cases {
        let (report, window) = publish_to_asyncua(&topo, case);
        check_asyncua_decoded(case, &report, window);
        eprintln!("ok: uadpbench publish → asyncua: {}", case.what);
    }

    // What asyncua does not accept (docs/interop.md).
    // UADP-Dynamic as Annex A.2.2 has it, PublisherId UInt64: asyncua reads the UInt64 type
    // (ExtendedFlags1 bits 011) as UInt16, misparses the rest and delivers nothing, silently.
    let dynamic = ToAsyncua {
        what: "UADP-Dynamic with its UInt64 PublisherId",
        multicast: false,
        layout: &["--preset", "dynamic"],
        reader: ("UInt64:2234", 0, 62541),
        fields: TUTORIAL_FIELDS,
        sees: None,
    };
    let (report, _) = publish_to_asyncua(&topo, &dynamic);
    let messages = report["messages"].as_array().expect("messages");
    assert_eq!(messages.len() as u64, COUNT, "{report}");
    for m in messages {
        assert_eq!(m["publisher_id_class"], "UInt16", "{m}");
        assert_eq!(m["datasets"], Value::Array(vec![]), "{m}");
    }
    assert_eq!(report["invalid_packets"], 0, "{report}");
    // PromotedFields: asyncua takes the Size (bytes, Part 14) for a count of Variants and
    // drops every message as invalid.
    let promoted = ToAsyncua {
        what: "PromotedFields",
        multicast: false,
        layout: &[
            "--preset",
            "sdk-tutorial",
            "--network-message",
            "PublisherId|GroupHeader|WriterGroupId|PayloadHeader|PromotedFields",
        ],
        reader: ("UInt16:2234", 100, 62541),
        fields: TUTORIAL_FIELDS,
        sees: None,
    };
    let (report, _) = publish_to_asyncua(&topo, &promoted);
    assert_eq!(report["invalid_packets"], COUNT, "{report}");
    assert_eq!(report["messages"], Value::Array(vec![]), "{report}");
}

#[test]
fn asyncua_publisher_to_uadpbench_subscribe() {
    preflight();
    let topo = topology();
    let tutorial = FromAsyncua {
        what: "SDK tutorial layout (0x47 / 0x19) over UDP unicast",
        multicast: false,
        publisher: &["--network-message", "0x47", "--dataset-message", "0x19"],
        subscriber: &[
            "--publisher-id",
            "UInt16:2234",
            "--writer-group-id",
            "100",
            "--writer-id",
            "62541",
        ],
        publisher_id: ("UInt16", 2234),
        writer_group_id: Some(100),
        network_sequence: false,
        dataset_sequence: false,
        encoding: "Variant",
        listen_secs: "15",
    };
    let cases = [
        FromAsyncua {
            what: "SDK tutorial layout (0x47 / 0x19) over UDP multicast",
            multicast: true,
            ..tutorial
        },
        FromAsyncua {
            what: "asyncua's WriterGroup/DataSetWriter defaults (0x7F / 0x25)",
            publisher: &["--network-message", "0x7f", "--dataset-message", "0x25"],
            network_sequence: true,
            dataset_sequence: true,
            ..tutorial
        },
        FromAsyncua {
            what: "UADP-Periodic-Fixed layout (0x3F / 0x24, RawData)",
            publisher: &[
                "--network-message",
                "0x3f",
                "--dataset-message",
                "0x24",
                "--encoding",
                "raw-data",
            ],
            subscriber: &[
                "--publisher-id",
                "UInt16:2234",
                "--writer-group-id",
                "100",
                "--preset",
                "periodic-fixed",
            ],
            network_sequence: true,
            dataset_sequence: true,
            encoding: "RawData",
            ..tutorial
        },
        FromAsyncua {
            what: "UADP-Dynamic layout (0x41 / 0x35) with a UInt32 PublisherId",
            publisher: &[
                "--network-message",
                "0x41",
                "--dataset-message",
                "0x35",
                "--publisher-id",
                "UInt32:2234",
            ],
            subscriber: &["--publisher-id", "UInt32:2234", "--writer-id", "62541"],
            publisher_id: ("UInt32", 2234),
            writer_group_id: None,
            dataset_sequence: true,
            ..tutorial
        },
        FromAsyncua {
            what: "DataValue fields, NetworkMessage Timestamp and PicoSeconds (0x1C7 / 0x1B)",
            publisher: &[
                "--network-message",
                "0x1c7",
                "--dataset-message",
                "0x1b",
                "--encoding",
                "data-value",
            ],
            encoding: "DataValue",
            ..tutorial
        },
    ];
    for case in std::iter::once(&tutorial).chain(&cases) {
        let s = asyncua_to_subscribe(&topo, case);
        check_uadpbench_decoded(case, &s);
        eprintln!("ok: asyncua → uadpbench subscribe: {}", case.what);
    }

    // What asyncua does not send correctly (docs/interop.md): a UInt64 PublisherId goes out
    // with the reserved type 6 (ExtendedFlags1 bits 110); uadpbench refuses every message
    // with that reason.
    let uint64 = FromAsyncua {
        what: "UInt64 PublisherId",
        publisher: &["--publisher-id", "UInt64:2234"],
        subscriber: &[],
        // Nothing is accepted, so --count never ends it: long enough for the publisher.
        listen_secs: "5",
        ..tutorial
    };
    let s = asyncua_to_subscribe(&topo, &uint64);
    let all = format!("{}\n{}", s.report, s.stderr);
    assert_eq!(s.status.code(), Some(1), "nothing accepted: exit 1\n{all}");
    assert!(
        all.contains(&format!(
            "{COUNT} NetworkMessage(s) received, 0 accepted, 0 filtered out, {COUNT} decode failure(s)"
        )),
        "{all}"
    );
    assert!(all.contains("PublisherId type 6 is reserved"), "{all}");
    assert_eq!(s.json.len() as u64, COUNT);
}

// ---------------------------------------------------------------------------------------------
// Every field type uadpbench can send, in the three field encodings, decoded by asyncua

/// The types, in order, with uadpbench's generators: counters, the send time, a toggle, a
/// constant StatusCode.
const ALL_TYPES: [(&str, &str); 17] = [
    ("Boolean", "toggle"),
    ("SByte", "counter"),
    ("Byte", "counter"),
    ("Int16", "counter"),
    ("UInt16", "counter"),
    ("Int32", "counter"),
    ("UInt32", "counter"),
    ("Int64", "counter"),
    ("UInt64", "counter"),
    ("Float", "counter"),
    ("Double", "counter"),
    ("String", "counter"),
    ("DateTime", "now"),
    ("Guid", "counter"),
    ("ByteString", "counter"),
    ("XmlElement", "counter"),
    ("StatusCode", "0x80000000"),
];

/// What asyncua hands to the application for the field of type `ty` in message `i` (the
/// subscriber's JSON: DateTime is checked against the run's window instead).
fn asyncua_value(ty: &str, i: u64) -> Value {
    match ty {
        "Boolean" => Value::from(i.is_multiple_of(2)),
        "Float" | "Double" => Value::from(i as f64),
        "String" => Value::from(i.to_string()),
        "Guid" => Value::from(format!("{i:08x}-0000-0000-7561-647062656e63")),
        "ByteString" => Value::from(hex::encode(i.to_le_bytes())),
        "XmlElement" => Value::from(format!("<n>{i}</n>")),
        "StatusCode" => Value::from(0x8000_0000u64),
        _ => Value::from(i),
    }
}

/// RawData values reach asyncua's application as plain Python values, re-typed.
fn raw_retyped(ty: &str) -> &str {
    match ty {
        "SByte" | "Byte" | "Int16" | "UInt16" | "Int32" | "UInt32" | "Int64" | "UInt64" => "Int64",
        "Float" => "Double",
        other => other,
    }
}

#[test]
fn every_field_type_in_every_encoding_reaches_asyncua() {
    preflight();
    let topo = topology();
    let generators = ALL_TYPES
        .iter()
        .map(|(t, g)| format!("{t}={g}"))
        .collect::<Vec<_>>()
        .join(",");
    let types = ALL_TYPES.map(|(t, _)| t).join(",");
    for (encoding, preset, writer, raw) in [
        ("variant", "sdk-tutorial", 62541, false),
        ("data-value", "sdk-tutorial", 62541, false),
        ("raw-data", "periodic-fixed", 0, true),
    ] {
        let what = format!("all 17 field types, {encoding}");
        let case = ToAsyncua {
            what: &what,
            multicast: false,
            layout: &[
                "--preset",
                preset,
                "--encoding",
                encoding,
                "--fields",
                &generators,
            ],
            reader: ("UInt16:2234", 100, writer),
            fields: &types,
            sees: None,
        };
        let (report, (t0, t1)) = publish_to_asyncua(&topo, &case);
        let ctx = case.what;
        assert_eq!(report["invalid_packets"], 0, "{ctx}: {report}");
        assert_eq!(report["errors"], Value::Array(vec![]), "{ctx}");
        let messages = report["messages"].as_array().expect("messages");
        assert_eq!(messages.len() as u64, COUNT, "{ctx}: {report}");
        for (i, m) in messages.iter().enumerate() {
            let ctx = format!("{ctx}, message {i}: {m}");
            let i = i as u64;
            let fields = m["datasets"][0]["fields"].as_array().expect("a DataSet");
            assert_eq!(fields.len(), ALL_TYPES.len(), "{ctx}");
            for (f, (ty, _)) in fields.iter().zip(ALL_TYPES) {
                let want_type = if raw { raw_retyped(ty) } else { ty };
                assert_eq!(f["type"], want_type, "{ctx}: {ty}");
                assert_eq!(f["status"], 0, "{ctx}: {ty}");
                if ty == "DateTime" {
                    let t = f["value"].as_i64().expect("DateTime as µs");
                    assert!(
                        t0 - 1 <= t && t <= t1,
                        "{ctx}: DateTime {t} outside the run"
                    );
                } else {
                    assert_eq!(f["value"], asyncua_value(ty, i), "{ctx}: {ty}");
                }
            }
        }
        eprintln!("ok: uadpbench publish → asyncua: {ctx}");
    }
}
