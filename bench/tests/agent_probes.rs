//! Kernel probes on both ends of a run across hosts, on the local stand-in (the agent in
//! namespace B, `uadpbench run --peer --probes all` in namespace A, a control link of their
//! own; see agent_standin.rs). Each process traces its own end with its own probe session;
//! the controller merges the agent's stamps into one layers.csv / segments.csv:
//!
//! * both crossings of the packet's path are there: the ping's (trip 0) send layers stamped
//!   by this host and receive layers by the agent, the echo's (trip 1) the other way round;
//! * on the one kernel of the stand-in both sessions read one CLOCK_MONOTONIC, so every
//!   packet's stamps follow the order the packet took: send here, receive there, echo there,
//!   receive here;
//! * probe_cost.csv has programs of both ends (`side` a and b), meta.json the agent's part;
//! * a cyclic run stamps the publisher's send layers and the subscriber's receive layers.
//!
//! Needs root (namespaces, BPF, raw sockets).

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use uadpbench::schema::SummaryRow;

mod standin;
use standin::*;

/// layers.csv as `(packet_id, layer, crossing) → t_ns`.
fn layer_stamps(dir: &Path) -> HashMap<(u64, String, u8), u64> {
    let mut r = csv::Reader::from_path(dir.join("layers.csv")).expect("layers.csv");
    let h = r.headers().expect("header").clone();
    let col = |n: &str| h.iter().position(|c| c == n).expect(n);
    let (id, layer, crossing, t) = (col("packet_id"), col("layer"), col("crossing"), col("t_ns"));
    r.records()
        .map(|rec| {
            let rec = rec.expect("layers.csv row");
            (
                (
                    rec[id].parse().expect("packet_id"),
                    rec[layer].to_owned(),
                    rec[crossing].parse().expect("crossing"),
                ),
                rec[t].parse().expect("t_ns"),
            )
        })
        .collect()
}

/// Runs `run --peer --probes all` with `args` and returns the results directory.
fn probed_run(
    scratch: &Scratch,
    topo: &uadpbench_topology::Topology,
    args: &[&str],
) -> std::path::PathBuf {
    let agent = Agent::start(topo, scratch.path(), &[]);
    let dir = scratch.path().join("run");
    let out = dir.to_string_lossy().into_owned();
    let mut all: Vec<&str> = vec!["--probes", "all", "--out", &out];
    all.extend_from_slice(args);
    let stdout = run_controller_ok(topo, scratch.path(), &agent, &all, Duration::from_secs(180));
    assert!(
        stdout.contains("probes on both hosts"),
        "the run says who traced what: {stdout}"
    );
    assert!(
        agent.log().contains("probe session finished"),
        "{}",
        agent.log()
    );
    agent.stop();
    dir
}

/// The sides of probe_cost.csv's rows.
fn cost_sides(dir: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(dir.join("probe_cost.csv")).expect("probe_cost.csv");
    let h = r.headers().expect("header").clone();
    let side = h.iter().position(|c| c == "side").expect("side column");
    r.records()
        .map(|rec| rec.expect("row")[side].to_owned())
        .collect()
}

fn summary(dir: &Path) -> Vec<SummaryRow> {
    csv::Reader::from_path(dir.join("summary.csv"))
        .expect("summary.csv")
        .deserialize()
        .map(|r| r.expect("summary row"))
        .collect()
}

fn meta(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
        .expect("meta.json parses")
}

/// A ping-pong over `path` with probes on both ends: (first layer here, first layer there,
/// the echo's first layer there, its last layer here) must be stamped, in that order, for
/// at least 99 % of the packets.
fn pingpong_probed(path: &str, send_layer: &str, far_receive: &str, near_receive: &str) {
    let _serial = serial();
    let scratch = Scratch::new(&format!("probes-{path}"));
    let topo = topology();
    let count = 1000u64;
    let dir = probed_run(
        &scratch,
        &topo,
        &[
            "--path",
            path,
            "--count",
            &count.to_string(),
            "--warmup",
            "100",
        ],
    );
    let rows = summary(&dir);
    assert_eq!(summary_value(&rows, "messages", "lost"), Some(0.0));
    let stamps = layer_stamps(&dir);
    let mut ordered = 0;
    for id in 100..100 + count {
        let at = |layer: &str, crossing: u8| stamps.get(&(id, layer.to_owned(), crossing)).copied();
        let chain = [
            at(send_layer, 0),
            at(far_receive, 0),
            at(send_layer, 1),
            at(near_receive, 1),
        ];
        if let [Some(a), Some(b), Some(c), Some(d)] = chain {
            if a < b && b < c && c < d {
                ordered += 1;
            }
        }
    }
    assert!(
        ordered * 100 >= count * 99,
        "{path}: {ordered} of {count} packets have {send_layer}/0 < {far_receive}/0 < {send_layer}/1 < {near_receive}/1"
    );
    let sides = cost_sides(&dir);
    assert!(sides.iter().any(|s| s == "a"), "{sides:?}");
    assert!(sides.iter().any(|s| s == "b"), "{sides:?}");
    assert!(!sides.iter().any(|s| s == "both"), "{sides:?}");
    let m = meta(&dir);
    let agent = &m["probes"]["agent"];
    assert!(agent["layers"].is_array(), "{agent}");
    // Both hosts calibrated their hooks' dispatch; the agent sent its figures back.
    let dispatch = &m["probes"]["dispatch"];
    for host in ["this_host", "agent"] {
        assert_eq!(dispatch[host]["measured"], true, "{host}: {dispatch}");
        assert!(
            dispatch[host]["cost"]["tracepoint"]["median_ns"].is_f64(),
            "{host}: {dispatch}"
        );
    }
    assert!(
        agent["clock"]
            .as_str()
            .unwrap_or_default()
            .contains("same boot id"),
        "{agent}"
    );
    assert_eq!(agent["stamps_left_out"]["placed_twice"], 0, "{agent}");
    assert_eq!(agent["stamps_left_out"]["unknown_layers"], 0, "{agent}");
    let segments = csv::Reader::from_path(dir.join("segments.csv"))
        .expect("segments.csv")
        .records()
        .count();
    assert!(segments >= 3, "{segments} segments");
}

#[test]
fn udp_pingpong_is_stamped_on_both_ends() {
    pingpong_probed(
        "udp",
        "sys_enter_sendto",
        "netif_receive_skb",
        "sys_exit_recvfrom",
    );
}

#[test]
fn eth_pingpong_is_stamped_on_both_ends() {
    pingpong_probed(
        "eth",
        "sys_enter_sendto",
        "netif_receive_skb",
        "sys_exit_recvfrom",
    );
}

#[test]
fn xdp_pingpong_is_stamped_on_both_ends() {
    // AF_XDP sends without a user buffer the probes could read: veth's netif_rx is the first
    // stamp of each trip, on the receiving end.
    pingpong_probed("xdp", "netif_rx", "xdp_ingress", "xdp_ingress");
}

/// A cyclic publisher here, its subscriber on the agent: every publication stamped leaving
/// (`first`) before arriving (`last`), no layer crossed twice.
fn cyclic_probed(path: &str, first: &str, last: &str) -> std::path::PathBuf {
    let _serial = serial();
    let scratch = Scratch::new(&format!("probes-cyclic-{path}"));
    let topo = topology();
    let dir = probed_run(
        &scratch,
        &topo,
        &[
            "--path",
            path,
            "--mode",
            "cyclic",
            "--interval-us",
            "200",
            "--count",
            "1000",
            "--warmup",
            "100",
        ],
    );
    let stamps = layer_stamps(&dir);
    let mut ordered = 0;
    for id in 100..1100u64 {
        let at = |layer: &str| stamps.get(&(id, layer.to_owned(), 0)).copied();
        if let (Some(a), Some(b)) = (at(first), at(last)) {
            if a < b {
                ordered += 1;
            }
        }
    }
    assert!(
        ordered >= 990,
        "{path}: {ordered} of 1000 publications stamped {first} < {last}"
    );
    let second: std::collections::BTreeSet<&str> = stamps
        .keys()
        .filter(|(_, _, c)| *c == 1)
        .map(|(_, l, _)| l.as_str())
        .collect();
    assert!(
        second.is_empty(),
        "a publication crosses each layer once, but these layers have a crossing 1: {second:?}"
    );
    // Kept for the caller to inspect; the scratch directory goes with this function.
    let keep = std::env::temp_dir().join(format!(
        "uadpbench-probes-cyclic-{path}-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&keep);
    std::fs::create_dir_all(&keep).expect("keep dir");
    for f in ["meta.json", "probe_cost.csv"] {
        std::fs::copy(dir.join(f), keep.join(f)).expect("copy");
    }
    keep
}

#[test]
fn cyclic_udp_publisher_and_remote_subscriber_are_stamped() {
    let keep = cyclic_probed("udp", "sys_enter_sendto", "netif_receive_skb");
    let m = meta(&keep);
    assert!(
        m["probes"]["stats"]["window"]
            .as_str()
            .unwrap_or_default()
            .starts_with("calibration"),
        "{}",
        m["probes"]["stats"]
    );
    let _ = std::fs::remove_dir_all(keep);
}

#[test]
fn cyclic_xdp_publisher_without_own_stamps_runs_uncalibrated() {
    // AF_XDP's transmit has no hook on this kernel: this host's session stamps nothing, so
    // its calibration watcher must not poll through the run (it would keep a CPU awake).
    let keep = cyclic_probed("xdp", "netif_rx", "xdp_ingress");
    let m = meta(&keep);
    assert!(
        m["probes"]["stats"]["window"]
            .as_str()
            .unwrap_or_default()
            .starts_with("stopped before"),
        "{}",
        m["probes"]["stats"]
    );
    assert_eq!(m["probes"]["agent"]["stats"]["off_at_packet"], 100);
    let _ = std::fs::remove_dir_all(keep);
}

/// `--trace` across the agent: one timeline with the packet's layers on both ends (the ping
/// sent here and received there, the echo sent there and received here), CPU tracks, and the
/// agent's context switches sent back (on the stand-in's one kernel they are this host's
/// CPUs already: counted, shown once).
#[test]
fn a_trace_across_the_agent_shows_both_ends() {
    let _serial = serial();
    let scratch = Scratch::new("probes-trace");
    let topo = topology();
    let trace = scratch.path().join("timeline.json");
    let trace_arg = trace.to_string_lossy().into_owned();
    let dir = probed_run(
        &scratch,
        &topo,
        &[
            "--path",
            "udp",
            "--count",
            "500",
            "--warmup",
            "100",
            "--trace",
            &trace_arg,
            "--trace-packets",
            "50",
        ],
    );
    let (stdout, _) = controller_output(scratch.path());
    assert!(
        stdout.contains("context switch(es) from the agent's host, which runs this kernel"),
        "the agent's switches came back: {stdout}"
    );
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).expect("trace written"))
            .expect("trace parses");
    let events = value["traceEvents"].as_array().expect("traceEvents");
    let stamped: std::collections::BTreeSet<(String, u64)> = events
        .iter()
        .filter_map(|e| {
            Some((
                e["args"]["layer"].as_str()?.to_owned(),
                e["args"]["crossing"].as_u64()?,
            ))
        })
        .collect();
    for (layer, crossing) in [
        ("sys_enter_sendto", 0),  // the ping, sent here
        ("sys_exit_recvfrom", 0), // received by the agent's reflector
        ("sys_enter_sendto", 1),  // the echo, sent by the agent
        ("sys_exit_recvfrom", 1), // received here
    ] {
        assert!(
            stamped.contains(&(layer.to_owned(), crossing)),
            "{layer}#{crossing} in the trace: {stamped:?}"
        );
    }
    let cpu_tracks = events
        .iter()
        .filter(|e| {
            e["name"] == "process_name"
                && e["args"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("CPU "))
        })
        .count();
    assert!(cpu_tracks >= 1, "CPU tracks: {cpu_tracks}");
    assert_eq!(value["otherData"]["packets"], 50, "{}", value["otherData"]);
    assert!(dir.join("layers.csv").exists());
}

/// Histogram mode across the agent: each host counts in its own kernel; this host's
/// since-reference and per-segment histograms and the agent's per-segment histograms come
/// back in the run's crossings — the ping's receive segments from the agent (side b), the
/// echo's receive segments from this host (side a) — with no per-packet stamps and no limit
/// on the run's length from the stamps.
#[test]
fn histogram_mode_counts_on_both_hosts() {
    let _serial = serial();
    let scratch = Scratch::new("probes-histogram");
    let topo = topology();
    let dir = probed_run(
        &scratch,
        &topo,
        &[
            "--path",
            "udp",
            "--count",
            "2000",
            "--warmup",
            "100",
            "--probes-mode",
            "histogram",
        ],
    );
    let rows = summary(&dir);
    assert_eq!(summary_value(&rows, "messages", "lost"), Some(0.0));
    assert!(
        !dir.join("layers.csv").exists(),
        "histogram mode keeps no stamps"
    );
    let mut r =
        csv::Reader::from_path(dir.join("probe_histograms.csv")).expect("probe_histograms.csv");
    let h = r.headers().expect("header").clone();
    let col = |n: &str| h.iter().position(|c| c == n).expect(n);
    let (point, side, kind, count) = (col("point"), col("side"), col("kind"), col("count"));
    let mut counted: HashMap<(String, String, String), u64> = HashMap::new();
    for rec in r.records() {
        let rec = rec.expect("row");
        *counted
            .entry((
                rec[point].to_owned(),
                rec[side].to_owned(),
                rec[kind].to_owned(),
            ))
            .or_default() += rec[count].parse::<u64>().expect("count");
    }
    let n = |p: &str, s: &str, k: &str| {
        counted
            .get(&(p.to_owned(), s.to_owned(), k.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    // The ping arrives at the agent (its receive layers, trip 0), the echo here (trip 1):
    // every measured round trip counted once per point, on the host that saw it.
    for (p, s) in [
        ("sock_recv_length#0", "b"),
        ("sys_exit_recvfrom#0", "b"),
        ("sock_recv_length#1", "a"),
        ("sys_exit_recvfrom#1", "a"),
    ] {
        let c = n(p, s, "segment");
        assert!(
            (1_980..=2_000).contains(&c),
            "{p} on side {s}: {c} segments counted; {counted:?}"
        );
    }
    // Times since the reference only where the reference was stamped: this host.
    assert!(
        counted
            .keys()
            .filter(|(_, _, k)| k == "since_reference")
            .all(|(_, s, _)| s == "a"),
        "{counted:?}"
    );
    assert!(n("sys_exit_recvfrom#1", "a", "since_reference") >= 1_980);
    // summary.csv has each host's segments, named after their most frequent start.
    let to_far_exit = rows
        .iter()
        .find(|r| r.metric.starts_with("segment:") && r.metric.ends_with("->sys_exit_recvfrom#0"))
        .map(|r| r.metric.clone())
        .expect("the agent's receive exit as a segment");
    assert!(
        to_far_exit.starts_with("segment:sock_recv_length#0->"),
        "{to_far_exit}"
    );
    let m = meta(&dir);
    assert_eq!(m["probes"]["mode"], "histogram", "{}", m["probes"]);
}
