//! One exchange between `uadpbench publish` and `subscribe` in a fresh topology: the case,
//! what the subscriber recorded, and the checks every preset must pass.

#![allow(dead_code, reason = "shared by the test functions of the test file")]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uadp::DateTime;
use uadpbench::interop::fields::OwnedScalar;
use uadpbench::interop::layout::{Layout, PublisherIdValue};
use uadpbench::interop::net::MulticastOptions;
use uadpbench::interop::preset::Preset;
use uadpbench::interop::publish::{PublishConfig, PublishReport, Publisher};
use uadpbench::interop::subscribe::{
    ReaderFilter, Received, SubscribeConfig, SubscribeReport, Subscriber,
};
use uadpbench::interop::url::Target;
use uadpbench_sender::frame::EthFraming;
use uadpbench_topology::{format_mac, Side, Topology, TopologyOptions};

pub const COUNT: u64 = 40;
pub const INTERVAL: Duration = Duration::from_micros(500);

/// What the subscriber saw of one accepted NetworkMessage.
#[derive(Debug, Clone)]
pub struct Got {
    pub publisher_id: Option<PublisherIdValue>,
    pub writer_group_id: Option<u16>,
    pub network_sequence: Option<u16>,
    /// (DataSetWriterId, DataSetMessage SequenceNumber, field values) per DataSetMessage.
    pub dataset_messages: Vec<(Option<u16>, Option<u16>, FieldValues)>,
}

/// The decoded values of one DataSetMessage (`None`: not a scalar / did not decode).
pub type FieldValues = Vec<Option<OwnedScalar>>;

pub fn record(r: &Received<'_, '_>) -> Got {
    let m = r.message;
    Got {
        publisher_id: m.publisher_id.as_ref().map(PublisherIdValue::from_wire),
        writer_group_id: m.group_header.and_then(|g| g.writer_group_id),
        network_sequence: m.group_header.and_then(|g| g.sequence_number),
        dataset_messages: r
            .accepted
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let d = &m.dataset_messages()[k];
                (d.writer_id, d.header.sequence_number, r.values(i))
            })
            .collect(),
    }
}

pub fn now_ticks() -> i64 {
    let ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    DateTime::from_unix_nanos(ns as i128).0
}

/// One stream from A to B.
pub struct Case {
    pub layout: Layout,
    pub publish_to: Target,
    pub publish_on: Option<String>,
    pub listen_at: Target,
    pub listen_on: Option<String>,
    pub framing: EthFraming,
    pub tweak: fn(&mut SubscribeConfig),
    pub send_log: Option<PathBuf>,
}

pub struct Outcome {
    pub published: PublishReport,
    pub subscribed: SubscribeReport,
    pub got: Vec<Got>,
    /// UTC ticks before the first and after the last message.
    pub window: (i64, i64),
}

/// A subscriber running in B (opened when this returns); join it for its report and messages.
pub fn start_subscriber(
    topo: &Topology,
    sub_cfg: SubscribeConfig,
) -> JoinHandle<Option<(SubscribeReport, Vec<Got>)>> {
    let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
    let subscriber = topo
        .spawn_in(Side::B, "interop-sub", move || {
            // The previous exchange's subscriber bound the same address and has closed its
            // socket, but a child that another test thread of this process forked at that
            // moment (`ip …` for its topology) holds a copy of the descriptor until it execs
            // (CLOEXEC): the port stays busy for that long. Retry briefly instead of failing.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            let mut s = loop {
                match Subscriber::open(sub_cfg.clone()) {
                    Ok(s) => break s,
                    Err(e)
                        if e.to_string().contains("Address already in use")
                            && std::time::Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return None;
                    }
                }
            };
            ready_tx.send(Ok(())).expect("test thread gone");
            let mut got = Vec::new();
            let report = s
                .run(&AtomicBool::new(false), &mut |r| got.push(record(r)))
                .expect("subscribe runs");
            Some((report, got))
        })
        .expect("spawn the subscriber in B");
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("subscriber thread answers")
        .unwrap_or_else(|e| panic!("opening the subscriber: {e}"));
    subscriber
}

pub fn exchange(topo: &Topology, case: Case) -> Outcome {
    let mut sub_cfg = SubscribeConfig {
        target: Some(case.listen_at),
        interface: case.listen_on.clone(),
        disruptive_interface: false,
        filter: ReaderFilter::default(),
        raw_layout: Some(case.layout.field_types()),
        count: Some(COUNT),
        duration: Some(Duration::from_secs(10)),
        ..Default::default()
    };
    (case.tweak)(&mut sub_cfg);
    let subscriber = start_subscriber(topo, sub_cfg);

    let start = now_ticks();
    let pub_cfg = PublishConfig {
        target: case.publish_to,
        interface: case.publish_on.clone(),
        disruptive_interface: false,
        layout: case.layout.clone(),
        count: Some(COUNT),
        duration: None,
        interval: INTERVAL,
        spin: Duration::ZERO,
        framing: case.framing,
        multicast: MulticastOptions::default(),
        send_log: case.send_log.clone(),
    };
    let publisher = topo
        .spawn_in(Side::A, "interop-pub", move || {
            let mut p = Publisher::open(pub_cfg).expect("open the publisher");
            p.run(&AtomicBool::new(false)).expect("publish runs")
        })
        .expect("spawn the publisher in A");
    let published = publisher.join().expect("publisher thread");
    let (subscribed, got) = subscriber
        .join()
        .expect("subscriber thread")
        .expect("subscriber opened");
    Outcome {
        published,
        subscribed,
        got,
        window: (start, now_ticks()),
    }
}

/// This test process's directory for output files of `what`.
pub fn out_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir()
        .join(format!("uadpbench-interop-{}", std::process::id()))
        .join(what);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

pub fn timing_send_log() -> PathBuf {
    out_dir("timing").join("send-log.csv")
}

/// Every message arrived once, in order, with the values its index implies.
pub fn check(preset: Preset, what: &str, o: &Outcome) {
    let ctx = format!("{preset} over {what}");
    assert_eq!(o.published.sent, COUNT, "{ctx}: sent");
    let s = &o.subscribed;
    eprintln!(
        "--- {ctx}\n{}\n{}",
        o.published.lines().join("\n"),
        s.lines().join("\n")
    );
    assert_eq!(
        s.accepted,
        COUNT,
        "{ctx}: accepted\n{}",
        s.lines().join("\n")
    );
    assert_eq!(s.decode_failures, 0, "{ctx}: decode failures");
    assert_eq!(s.writers.len(), 1, "{ctx}: one writer");
    let w = &s.writers[0];
    assert_eq!(w.messages, COUNT, "{ctx}");
    assert_eq!(w.field_errors, 0, "{ctx}: field errors");
    assert_eq!(
        (w.sequence.lost, w.sequence.duplicates, w.sequence.reordered),
        (0, 0, 0),
        "{ctx}"
    );
    assert!(w.rate_hz > 100.0, "{ctx}: rate {}", w.rate_hz);
    let ia = w.inter_arrival.as_ref().expect("inter-arrival statistics");
    assert_eq!(ia.count, COUNT - 1, "{ctx}");

    let (pid, wg, writer, nm_seq, dsm_seq) = match preset {
        Preset::PeriodicFixed => (PublisherIdValue::UInt16(2234), Some(100), None, true, true),
        Preset::Dynamic => (
            PublisherIdValue::UInt64(2234),
            None,
            Some(62541),
            false,
            true,
        ),
        Preset::SdkTutorial => (
            PublisherIdValue::UInt16(2234),
            Some(100),
            Some(62541),
            false,
            false,
        ),
    };
    assert_eq!(
        w.sequence_source,
        match (dsm_seq, nm_seq) {
            (true, _) => Some("DataSetMessage SequenceNumber"),
            (false, true) => Some("NetworkMessage SequenceNumber"),
            (false, false) => None,
        },
        "{ctx}"
    );
    assert_eq!(o.got.len() as u64, COUNT, "{ctx}: observed messages");
    let (t0, t1) = o.window;
    for (i, g) in o.got.iter().enumerate() {
        let i = i as u64;
        let ctx = format!("{ctx}, message {i}");
        assert_eq!(g.publisher_id.as_ref(), Some(&pid), "{ctx}: PublisherId");
        assert_eq!(g.writer_group_id, wg, "{ctx}: WriterGroupId");
        assert_eq!(
            g.network_sequence,
            nm_seq.then_some(i as u16),
            "{ctx}: NetworkMessage SequenceNumber"
        );
        assert_eq!(g.dataset_messages.len(), 1, "{ctx}");
        let (writer_id, seq, values) = &g.dataset_messages[0];
        assert_eq!(*writer_id, writer, "{ctx}: DataSetWriterId");
        assert_eq!(
            *seq,
            dsm_seq.then_some(i as u16),
            "{ctx}: DataSetMessage SequenceNumber"
        );
        // DateTime=now, Int32=counter, Int64=counter, Boolean=toggle.
        assert_eq!(values.len(), 4, "{ctx}: field count");
        match &values[0] {
            Some(OwnedScalar::DateTime(d)) => {
                assert!(
                    t0 <= d.0 && d.0 <= t1,
                    "{ctx}: DateTime {d:?} outside the run"
                )
            }
            other => panic!("{ctx}: field 0 is {other:?}, not a DateTime"),
        }
        assert_eq!(
            values[1],
            Some(OwnedScalar::Int32(i as i32)),
            "{ctx}: Int32"
        );
        assert_eq!(
            values[2],
            Some(OwnedScalar::Int64(i as i64)),
            "{ctx}: Int64"
        );
        assert_eq!(
            values[3],
            Some(OwnedScalar::Boolean(i.is_multiple_of(2))),
            "{ctx}: Boolean"
        );
    }
}

pub fn no_tweak(_: &mut SubscribeConfig) {}

pub fn run_each_preset(
    topo: &Topology,
    what: &str,
    publish_to: Target,
    listen_at: Target,
    interfaces: bool,
    framing: EthFraming,
) {
    for preset in Preset::ALL {
        let o = exchange(
            topo,
            Case {
                layout: preset.layout(),
                publish_to,
                publish_on: interfaces.then(|| topo.a().ifname().to_owned()),
                listen_at,
                listen_on: interfaces.then(|| topo.b().ifname().to_owned()),
                framing,
                tweak: no_tweak,
                send_log: None,
            },
        );
        check(preset, what, &o);
        if matches!(listen_at, Target::Eth { .. }) {
            // Every frame arrived in the framing it was sent in.
            assert_eq!(
                o.subscribed.eth_framings,
                vec![(framing, COUNT)],
                "{preset} over {what}"
            );
        }
    }
}

pub fn topology() -> Topology {
    Topology::create(TopologyOptions::default()).expect("topology (run the tests as root)")
}

pub fn eth_target(mac: [u8; 6], vlan: &str) -> Target {
    format!("opc.eth://{}{vlan}", format_mac(&mac))
        .parse()
        .expect("eth URL")
}
