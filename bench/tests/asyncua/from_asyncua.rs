//! An asyncua publisher → `uadpbench subscribe`: one exchange and the checks of what uadpbench
//! decoded.

use std::process::ExitStatus;

use serde_json::Value;
use uadpbench_topology::Topology;

use super::*;
// ---------------------------------------------------------------------------------------------
// asyncua publisher → uadpbench subscribe

pub struct FromAsyncua {
    pub what: &'static str,
    pub multicast: bool,
    /// asyncua_pub.py flags (masks, encoding, PublisherId).
    pub publisher: &'static [&'static str],
    /// `uadpbench subscribe` filters and field types.
    pub subscriber: &'static [&'static str],
    /// (type, value) of the PublisherId uadpbench decodes.
    pub publisher_id: (&'static str, u64),
    pub writer_group_id: Option<u64>,
    /// asyncua numbers NetworkMessages from 0 and DataSetMessages from 1.
    pub network_sequence: bool,
    pub dataset_sequence: bool,
    pub encoding: &'static str,
    /// `subscribe --duration`: the longest the subscriber waits for COUNT messages.
    pub listen_secs: &'static str,
}

pub struct Subscribed {
    pub status: ExitStatus,
    pub report: String,
    pub stderr: String,
    pub json: Vec<Value>,
    pub published: Value,
}

pub fn asyncua_to_subscribe(topo: &Topology, case: &FromAsyncua) -> Subscribed {
    let (a, b) = (topo.a(), topo.b());
    let url = if case.multicast {
        GROUP_URL
    } else {
        UNICAST_URL
    };
    let dir = std::env::temp_dir().join(format!("uadpbench-asyncua-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let json = dir.join("from-asyncua.jsonl");
    let count = COUNT.to_string();
    let mut args = vec![
        "subscribe",
        "--target",
        url,
        "--count",
        &count,
        "--duration",
        case.listen_secs,
        "--json-lines",
        json.to_str().expect("UTF-8 path"),
    ];
    if case.multicast {
        args.extend(["--interface", b.ifname()]);
    }
    args.extend(case.subscriber);
    let mut sub = Proc::spawn(
        &format!("uadpbench subscribe ({})", case.what),
        b.netns(),
        env!("CARGO_BIN_EXE_uadpbench"),
        &args,
    );
    sub.wait_for("listening on");

    let pub_script = peer("asyncua_pub.py");
    let mut pub_args = vec![
        pub_script.as_str(),
        "--url",
        url,
        "--count",
        &count,
        "--interval-ms",
        "5",
    ];
    pub_args.extend(case.publisher);
    let publisher = Proc::spawn(
        &format!("asyncua publisher ({})", case.what),
        a.netns(),
        "python3",
        &pub_args,
    );
    let (st, out, err) = publisher.finish();
    assert!(
        st.success(),
        "{}: asyncua publisher failed: {out}\n{err}",
        case.what
    );
    let published = json_last_line(case.what, &out);
    let (status, report, stderr) = sub.finish();
    let json = std::fs::read_to_string(&json)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    std::fs::remove_dir_all(&dir).ok();
    Subscribed {
        status,
        report,
        stderr,
        json,
        published,
    }
}

/// The `n`th field's value object (DataValue fields carry it one level down).
pub fn field<'a>(dsm: &'a Value, n: usize, encoding: &str) -> &'a Value {
    let f = &dsm["fields"][n];
    if encoding == "DataValue" {
        assert_eq!(f["type"], "DataValue", "{dsm}");
        assert_eq!(f["value"]["status"], 0, "{dsm}");
        &f["value"]["value"]
    } else {
        f
    }
}

pub fn check_uadpbench_decoded(case: &FromAsyncua, s: &Subscribed) {
    let ctx = case.what;
    let all = format!("{}\n{}", s.report, s.stderr);
    assert!(s.status.success(), "{ctx}: subscribe failed:\n{all}");
    assert_eq!(s.published["asyncua"], ASYNCUA_VERSION, "{ctx}");
    assert_eq!(s.published["generated"], COUNT, "{ctx}: {}", s.published);
    for needle in [
        format!("{COUNT} accepted, 0 filtered out, 0 decode failure(s)"),
        format!("messages {COUNT},"),
        "field decode failures 0".to_owned(),
        if case.dataset_sequence || case.network_sequence {
            "0 lost in 0 gap(s), 0 duplicate(s), 0 reordered".to_owned()
        } else {
            "no sequence number on the wire".to_owned()
        },
    ] {
        assert!(all.contains(&needle), "{ctx}: `{needle}` not in:\n{all}");
    }
    let (first, last) = (
        s.published["first_utc_us"].as_i64().expect("first time"),
        s.published["last_utc_us"].as_i64().expect("last time"),
    );
    assert_eq!(s.json.len() as u64, COUNT, "{ctx}: JSON lines");
    let (ptype, pvalue) = case.publisher_id;
    for (i, m) in s.json.iter().enumerate() {
        let ctx = format!("{ctx}, message {i}: {m}");
        let i = i as u64;
        assert_eq!(m["accepted"], true, "{ctx}");
        assert_eq!(m["publisher_id"]["type"], ptype, "{ctx}");
        assert_eq!(m["publisher_id"]["value"], pvalue, "{ctx}");
        assert_eq!(
            m["group_header"]["writer_group_id"].as_u64(),
            case.writer_group_id,
            "{ctx}: WriterGroupId"
        );
        assert_eq!(
            m["group_header"]["sequence_number"].as_u64(),
            case.network_sequence.then_some(i),
            "{ctx}: NetworkMessage SequenceNumber (asyncua counts from 0)"
        );
        let dsms = m["dataset_messages"].as_array().expect("DataSetMessages");
        assert_eq!(dsms.len(), 1, "{ctx}");
        let d = &dsms[0];
        assert_eq!(d["field_encoding"], case.encoding, "{ctx}");
        assert_eq!(d["message_type"], "KeyFrame", "{ctx}");
        assert_eq!(
            d["sequence_number"].as_u64(),
            case.dataset_sequence.then_some(i + 1),
            "{ctx}: DataSetMessage SequenceNumber (asyncua counts from 1)"
        );
        assert_eq!(d["fields"].as_array().map(Vec::len), Some(4), "{ctx}");
        // DateTime = when asyncua sampled message i (whole microseconds).
        let dt = field(d, 0, case.encoding);
        assert_eq!(dt["type"], "DateTime", "{ctx}");
        let ticks = dt["ticks"].as_i64().expect("DateTime ticks");
        assert_eq!(ticks % 10, 0, "{ctx}: asyncua sends whole microseconds");
        let us = (ticks - UNIX_EPOCH_TICKS) / 10;
        assert!(first <= us && us <= last, "{ctx}: DateTime outside the run");
        if i == 0 {
            assert_eq!(us, first, "{ctx}");
        }
        if i == COUNT - 1 {
            assert_eq!(us, last, "{ctx}");
        }
        for (n, ty, want) in [
            (1, "Int32", Value::from(i)),
            (2, "Int64", Value::from(i)),
            (3, "Boolean", Value::from(i.is_multiple_of(2))),
        ] {
            let f = field(d, n, case.encoding);
            assert_eq!(
                (&f["type"], &f["value"]),
                (&Value::from(ty), &want),
                "{ctx}"
            );
        }
    }
}
