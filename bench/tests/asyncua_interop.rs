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

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use uadpbench_topology::Topology;

/// The asyncua release these tests (and docs/interop.md) were written against; scripts/setup.sh
/// installs exactly this one.
const ASYNCUA_VERSION: &str = "2.1.0";
/// Messages per exchange.
const COUNT: u64 = 30;
/// How long any one process may take.
const DEADLINE: Duration = Duration::from_secs(30);
/// UA DateTime ticks (100 ns since 1601) at the Unix epoch.
const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

fn peer(script: &str) -> String {
    format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"))
}

/// Fails (never skips) unless this runs as root with python3 and the pinned asyncua.
fn preflight() {
    assert!(
        nix::unistd::Uid::effective().is_root(),
        "needs root (network namespaces): run the tests as root (sudo scripts/test.sh)"
    );
    let out = Command::new("python3")
        .args([
            "-c",
            "import importlib.metadata as m, asyncua.pubsub; print(m.version('asyncua'))",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is missing ({e}): the asyncua interoperability tests need python3 with \
                 asyncua {ASYNCUA_VERSION}; run scripts/setup.sh (apt-get install python3 \
                 python3-pip, python3 -m pip install asyncua=={ASYNCUA_VERSION})"
            )
        });
    assert!(
        out.status.success(),
        "asyncua is not installed for python3 ({}): run scripts/setup.sh or \
         `python3 -m pip install asyncua=={ASYNCUA_VERSION}`",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert_eq!(
        version, ASYNCUA_VERSION,
        "python3 has asyncua {version}; these tests and docs/interop.md describe \
         {ASYNCUA_VERSION}: `python3 -m pip install asyncua=={ASYNCUA_VERSION}` (scripts/setup.sh)"
    );
}

/// The topology, with a route for multicast in both namespaces: asyncua cannot name an
/// interface (it joins groups on INADDR_ANY and sends without IP_MULTICAST_IF), so the
/// routing table must pick the veth.
fn topology() -> Topology {
    let topo = Topology::create(Default::default()).expect("topology (run the tests as root)");
    for e in [topo.a(), topo.b()] {
        let st = Command::new("ip")
            .args([
                "-n",
                e.netns(),
                "route",
                "add",
                "224.0.0.0/4",
                "dev",
                e.ifname(),
            ])
            .status()
            .expect("run ip route");
        assert!(st.success(), "ip route add 224.0.0.0/4 in {}", e.netns());
    }
    topo
}

fn unix_us_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    d.as_micros() as i64
}

enum Line {
    Out(String),
    Err(String),
}

/// A process in a namespace with its output lines collected by two threads.
struct Proc {
    what: String,
    child: Child,
    lines: mpsc::Receiver<Line>,
    readers: Vec<JoinHandle<()>>,
    stdout: Vec<String>,
    stderr: Vec<String>,
}

impl Proc {
    fn spawn(what: &str, ns: &str, program: &str, args: &[&str]) -> Proc {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{what}: cannot start {program}: {e}"));
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("stdout piped");
        let err = child.stderr.take().expect("stderr piped");
        let readers = vec![
            forward(out, tx.clone(), Line::Out),
            forward(err, tx, Line::Err),
        ];
        Proc {
            what: what.to_owned(),
            child,
            lines: rx,
            readers,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    fn keep(&mut self, line: Line) -> Option<String> {
        match line {
            Line::Out(l) => {
                self.stdout.push(l.clone());
                Some(l)
            }
            Line::Err(l) => {
                self.stderr.push(l);
                None
            }
        }
    }

    /// Waits for a line (stdout or stderr) containing `needle`.
    fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = match &line {
                        Line::Out(l) | Line::Err(l) => l.contains(needle),
                    };
                    self.keep(line);
                    if found {
                        return;
                    }
                }
                Err(_) => panic!(
                    "{}: no `{needle}` (exit {:?})\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.child.try_wait().ok().flatten(),
                    self.stdout.join("\n"),
                    self.stderr.join("\n")
                ),
            }
        }
    }

    /// Waits for the exit; returns the status, stdout and stderr.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + DEADLINE;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait for the child") {
                break s;
            }
            assert!(
                Instant::now() < deadline,
                "{}: still running after {DEADLINE:?}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in std::mem::take(&mut self.readers) {
            r.join().expect("output reader");
        }
        while let Ok(line) = self.lines.try_recv() {
            self.keep(line);
        }
        (status, self.stdout.join("\n"), self.stderr.join("\n"))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Only on a failed test: finish() leaves an exited child.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn forward<R: Read + Send + 'static>(
    r: R,
    tx: mpsc::Sender<Line>,
    wrap: fn(String) -> Line,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines() {
            let Ok(line) = line else { break };
            if tx.send(wrap(line)).is_err() {
                break;
            }
        }
    })
}

fn json_last_line(what: &str, stdout: &str) -> Value {
    let last = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{what}: no output"));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{what}: `{last}` is not JSON: {e}"))
}

/// B's address: the unicast target (`publish`) and the address bound (`subscribe`).
const UNICAST_URL: &str = "opc.udp://198.18.0.2:4840";
/// The SDK tutorials' multicast group.
const GROUP_URL: &str = "opc.udp://224.0.0.22:4840";

// ---------------------------------------------------------------------------------------------
// uadpbench publish → asyncua subscriber

/// What the asyncua subscriber must have decoded.
#[derive(Clone, Copy)]
struct AsyncuaSees {
    /// asyncua's class of the decoded PublisherId ("UInt16", "UInt32", "Byte", "str").
    publisher_id_class: &'static str,
    publisher_id: &'static str,
    writer_group_id: Option<u64>,
    network_sequence: bool,
    dataset_sequence: bool,
    /// The Variant types asyncua hands to the application for the four fields.
    types: [&'static str; 4],
}

const VARIANT_TYPES: [&str; 4] = ["DateTime", "Int32", "Int64", "Boolean"];

struct ToAsyncua<'a> {
    what: &'a str,
    multicast: bool,
    /// `uadpbench publish` layout flags.
    layout: &'a [&'a str],
    /// The asyncua DataSetReader: PublisherId TYPE:VALUE, WriterGroupId, DataSetWriterId
    /// (0: any).
    reader: (&'a str, u16, u16),
    /// The DataSetMetaData of the reader: the field types.
    fields: &'a str,
    sees: Option<AsyncuaSees>,
}

/// The DataSet of every preset.
const TUTORIAL_FIELDS: &str = "DateTime,Int32,Int64,Boolean";

/// Runs one exchange and returns the subscriber's report and the publish window (µs).
fn publish_to_asyncua(topo: &Topology, case: &ToAsyncua<'_>) -> (Value, (i64, i64)) {
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

fn check_asyncua_decoded(case: &ToAsyncua<'_>, report: &Value, (t0, t1): (i64, i64)) {
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

// ---------------------------------------------------------------------------------------------
// asyncua publisher → uadpbench subscribe

struct FromAsyncua {
    what: &'static str,
    multicast: bool,
    /// asyncua_pub.py flags (masks, encoding, PublisherId).
    publisher: &'static [&'static str],
    /// `uadpbench subscribe` filters and field types.
    subscriber: &'static [&'static str],
    /// (type, value) of the PublisherId uadpbench decodes.
    publisher_id: (&'static str, u64),
    writer_group_id: Option<u64>,
    /// asyncua numbers NetworkMessages from 0 and DataSetMessages from 1.
    network_sequence: bool,
    dataset_sequence: bool,
    encoding: &'static str,
    /// `subscribe --duration`: the longest the subscriber waits for COUNT messages.
    listen_secs: &'static str,
}

struct Subscribed {
    status: ExitStatus,
    report: String,
    stderr: String,
    json: Vec<Value>,
    published: Value,
}

fn asyncua_to_subscribe(topo: &Topology, case: &FromAsyncua) -> Subscribed {
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
fn field<'a>(dsm: &'a Value, n: usize, encoding: &str) -> &'a Value {
    let f = &dsm["fields"][n];
    if encoding == "DataValue" {
        assert_eq!(f["type"], "DataValue", "{dsm}");
        assert_eq!(f["value"]["status"], 0, "{dsm}");
        &f["value"]["value"]
    } else {
        f
    }
}

fn check_uadpbench_decoded(case: &FromAsyncua, s: &Subscribed) {
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
