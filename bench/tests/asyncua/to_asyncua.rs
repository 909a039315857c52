//! `uadpbench publish` → an asyncua subscriber: one exchange and the checks of what asyncua
//! decoded.

use serde_json::Value;
use uadpbench_topology::Topology;

use super::*;
// ---------------------------------------------------------------------------------------------
// uadpbench publish → asyncua subscriber

/// What the asyncua subscriber must have decoded.
#[derive(Clone, Copy)]
pub struct AsyncuaSees {
    /// asyncua's class of the decoded PublisherId ("UInt16", "UInt32", "Byte", "str").
    pub publisher_id_class: &'static str,
    pub publisher_id: &'static str,
    pub writer_group_id: Option<u64>,
    pub network_sequence: bool,
    pub dataset_sequence: bool,
    /// The Variant types asyncua hands to the application for the four fields.
    pub types: [&'static str; 4],
}

pub const VARIANT_TYPES: [&str; 4] = ["DateTime", "Int32", "Int64", "Boolean"];

pub struct ToAsyncua<'a> {
    pub what: &'a str,
    pub multicast: bool,
    /// `uadpbench publish` layout flags.
    pub layout: &'a [&'a str],
    /// The asyncua DataSetReader: PublisherId TYPE:VALUE, WriterGroupId, DataSetWriterId
    /// (0: any).
    pub reader: (&'a str, u16, u16),
    /// The DataSetMetaData of the reader: the field types.
    pub fields: &'a str,
    pub sees: Option<AsyncuaSees>,
}

/// The DataSet of every preset.
pub const TUTORIAL_FIELDS: &str = "DateTime,Int32,Int64,Boolean";

/// Runs one exchange and returns the subscriber's report and the publish window (µs).
pub fn publish_to_asyncua(topo: &Topology, case: &ToAsyncua<'_>) -> (Value, (i64, i64)) {
    let (a, b) = (topo.a(), topo.b());
    let url = if case.multicast {
        GROUP_URL
    } else {
        UNICAST_URL
    };
    let (pid, wg, writer) = case.reader;
    let (wg, writer, count) = (wg.to_string(), writer.to_string(), COUNT.to_string());
    let sub_script = peer("asyncua_sub.py");
    let mut sub = Proc::spawn(
        &format!("asyncua subscriber ({})", case.what),
        b.netns(),
        "python3",
        &[
            &sub_script,
            "--url",
            url,
            "--publisher-id",
            pid,
            "--writer-group-id",
            &wg,
            "--writer-id",
            &writer,
            "--fields",
            case.fields,
            "--count",
            &count,
            "--timeout",
            "15",
        ],
    );
    sub.wait_for("\"ready\": true");

    let mut args = vec![
        "publish",
        "--target",
        url,
        "--count",
        &count,
        "--interval-us",
        "2000",
    ];
    if case.multicast {
        args.extend(["--interface", a.ifname()]);
    }
    args.extend(case.layout);
    let t0 = unix_us_now();
    let publisher = Proc::spawn(
        &format!("uadpbench publish ({})", case.what),
        a.netns(),
        env!("CARGO_BIN_EXE_uadpbench"),
        &args,
    );
    let (st, out, err) = publisher.finish();
    let t1 = unix_us_now();
    assert!(
        st.success(),
        "{}: uadpbench publish failed: {out}\n{err}",
        case.what
    );
    let (st, out, err) = sub.finish();
    assert!(
        st.success(),
        "{}: asyncua subscriber failed: {out}\n{err}",
        case.what
    );
    (json_last_line(case.what, &out), (t0, t1))
}

pub fn check_asyncua_decoded(case: &ToAsyncua<'_>, report: &Value, (t0, t1): (i64, i64)) {
    let ctx = case.what;
    let sees = case.sees.expect("a case that asyncua accepts");
    assert_eq!(report["asyncua"], ASYNCUA_VERSION, "{ctx}");
    assert_eq!(report["invalid_packets"], 0, "{ctx}: {report}");
    assert_eq!(report["errors"], Value::Array(vec![]), "{ctx}");
    let messages = report["messages"].as_array().expect("messages");
    assert_eq!(messages.len() as u64, COUNT, "{ctx}: {report}");
    for (i, m) in messages.iter().enumerate() {
        let ctx = format!("{ctx}, message {i}: {m}");
        let i = i as u64;
        assert_eq!(
            m["publisher_id_class"], sees.publisher_id_class,
            "{ctx}: PublisherId type"
        );
        let pid = match m["publisher_id"].as_u64() {
            Some(n) => n.to_string(),
            None => m["publisher_id"].as_str().unwrap_or_default().to_owned(),
        };
        assert_eq!(pid, sees.publisher_id, "{ctx}: PublisherId");
        assert_eq!(
            m["writer_group_id"].as_u64(),
            sees.writer_group_id,
            "{ctx}: WriterGroupId"
        );
        assert_eq!(
            m["network_sequence"].as_u64(),
            sees.network_sequence.then_some(i),
            "{ctx}: NetworkMessage SequenceNumber"
        );
        // The DataSet the reader selected (with two writers: the second one).
        let k = m["dataset_messages"]
            .as_array()
            .map_or(0, |d| d.len().saturating_sub(1));
        let dsm = &m["dataset_messages"][k];
        assert_eq!(
            dsm["sequence"].as_u64(),
            sees.dataset_sequence.then_some(i),
            "{ctx}: DataSetMessage SequenceNumber"
        );
        let datasets = m["datasets"].as_array().expect("datasets");
        assert_eq!(datasets.len(), 1, "{ctx}: DataSets delivered to the reader");
        let fields = datasets[0]["fields"].as_array().expect("fields");
        let types: Vec<&str> = fields.iter().filter_map(|f| f["type"].as_str()).collect();
        assert_eq!(types, sees.types, "{ctx}: Variant types");
        for f in fields {
            assert_eq!(f["status"], 0, "{ctx}: StatusCode Good");
        }
        // DateTime=now (asyncua keeps microseconds), Int32=counter, Int64=counter,
        // Boolean=toggle.
        let t = fields[0]["value"].as_i64().expect("DateTime as µs");
        assert!(
            t0 - 1 <= t && t <= t1,
            "{ctx}: DateTime {t} outside {t0}..{t1}"
        );
        assert_eq!(fields[1]["value"].as_u64(), Some(i), "{ctx}: Int32");
        assert_eq!(fields[2]["value"].as_u64(), Some(i), "{ctx}: Int64");
        assert_eq!(
            fields[3]["value"].as_bool(),
            Some(i.is_multiple_of(2)),
            "{ctx}: Boolean"
        );
    }
}
