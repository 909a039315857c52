//! Runs across two hosts with a network namespace standing in for the second host: the real
//! `uadpbench agent` runs inside namespace B (`ip netns exec`), and `uadpbench run --peer`
//! inside namespace A. As on two real hosts with a management network, the control connection
//! has its own link: a second veth pair between the namespaces (198.19.0.1 ⇄ 198.19.0.2, the
//! agent listening on 198.19.0.2:4850), so the measured veth (198.18.0.1 ⇄ 198.18.0.2) carries
//! only the benchmark's traffic.
//!
//! * a ping-pong over udp, eth and xdp completes without loss and writes the files of a local
//!   run, with the agent's clock estimates in meta.json; nothing but benchmark frames reach the
//!   raw receivers (no foreign frames);
//! * a cyclic run over udp, eth and xdp with the subscriber on the agent, and a flood with the
//!   counting subscriber there (exact accounting, rates); a campaign with a `[peer]` table;
//! * an agent killed during a run ends the controller within seconds, with an error naming the
//!   agent; a controller killed during a run leaves the agent ready for the next one;
//! * a wrong token, an interface outside uadpbench's namespaces on the agent, and
//!   `--peer-clock ptp` without PTP on the hosts, are refused with exit status 2 and a message
//!   saying what to do.
//!
//! Needs root (namespaces, raw sockets, PM QoS). Children are killed and the topology removed
//! also when an assertion fails.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use uadpbench::schema::SummaryRow;

mod standin;
use standin::*;

/// A ping-pong over `path` against the agent: complete, lossless, with the usual files.
fn pingpong_across(path: &str) {
    let _serial = serial();
    let scratch = Scratch::new(path);
    let topo = topology();
    let agent = Agent::start(&topo, scratch.path(), &[]);
    let dir = scratch.path().join("run");
    let out = dir.to_string_lossy().into_owned();
    let mut controller = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &[
            "--path", path, "--count", "2000", "--warmup", "100", "--out", &out,
        ],
    );
    let status = controller.wait_for(Duration::from_secs(120));
    let (stdout, stderr) = controller_output(scratch.path());
    assert!(
        status.is_some_and(|s| s.success()),
        "run --peer over {path}: {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nagent log:\n{}",
        agent.log()
    );
    assert!(
        stdout.contains(&format!("results: {out}/")),
        "the run says where its results are: {stdout}"
    );

    let rows: Vec<SummaryRow> = csv::Reader::from_path(dir.join("summary.csv"))
        .expect("summary.csv")
        .deserialize()
        .map(|r| r.expect("summary row"))
        .collect();
    assert_eq!(summary_value(&rows, "messages", "sent"), Some(2000.0));
    assert_eq!(summary_value(&rows, "messages", "received"), Some(2000.0));
    assert_eq!(summary_value(&rows, "messages", "lost"), Some(0.0));
    // The control connection has its own link: the measured one carries nothing else.
    assert_eq!(
        summary_value(&rows, "messages", "foreign_frames"),
        Some(0.0),
        "foreign frames on the measured link"
    );
    let p50 = summary_value(&rows, "rtt", "p50").expect("rtt p50 in summary.csv");
    assert!(p50 > 0.0, "p50 {p50}");
    assert!(summary_value(&rows, "cpu_reflector", "total_per_message").is_some());
    assert!(rows.iter().all(|r| r.path == path));

    let samples = csv::Reader::from_path(dir.join("samples.csv"))
        .expect("samples.csv")
        .records()
        .count();
    assert_eq!(samples, 2000);

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    let peer = &meta["peer"];
    assert_eq!(peer["agent"], format!("{AGENT_ADDR}:4850"), "{peer}");
    assert!(peer["host"]["hostname"].is_string(), "{peer}");
    assert!(peer["agent_tool_version"].is_string(), "{peer}");
    for when in ["before", "after"] {
        let c = &peer["clock"][when];
        assert!(c["offset_ns"].is_i64(), "{when}: {c}");
        assert!(c["uncertainty_ns"].is_u64(), "{when}: {c}");
        // One machine, one CLOCK_MONOTONIC: the estimate brackets zero.
        let off = c["offset_ns"].as_i64().unwrap_or(i64::MAX).unsigned_abs();
        assert!(
            off <= c["uncertainty_ns"].as_u64().unwrap_or(0) + 100_000,
            "{when}: {c}"
        );
    }
    assert!(peer["clock"]["drift_ns"].is_i64(), "{peer}");
    assert_eq!(peer["reflector"]["interface"]["name"], topo.b().ifname());
    assert_eq!(meta["topology"]["b"]["ifname"], topo.b().ifname());
    assert_eq!(meta["topology"]["a"]["ifname"], topo.a().ifname());
    // What each interface can timestamp is recorded: a veth has software stamps only.
    for end in ["a", "b"] {
        let ts = &meta["topology"][end]["timestamping"];
        assert_eq!(ts["software_rx"], true, "{end}: {ts}");
        assert_eq!(ts["hardware_rx"], false, "{end}: {ts}");
    }
    assert_eq!(meta["interrupted"], false);
    assert_eq!(meta["config"]["path"], path);

    assert!(
        agent.log().contains("reflector finished"),
        "{}",
        agent.log()
    );
    agent.stop();
}

#[test]
fn pingpong_over_udp_with_the_far_side_on_the_agent() {
    pingpong_across("udp");
}

#[test]
fn pingpong_over_eth_with_the_far_side_on_the_agent() {
    pingpong_across("eth");
}

#[test]
fn pingpong_over_xdp_with_the_far_side_on_the_agent() {
    // The agent loads and attaches its XDP program under `ip netns exec`: loading needs no
    // bpffs, and attaching resolves the interface in the (process-wide) namespace.
    pingpong_across("xdp");
}

/// A cyclic publisher here, its subscriber on the agent: every message arrives, and the
/// one-way latencies come from the agent's receive times moved onto this host's clock —
/// exactly (`--peer-clock auto`: the stand-in's agent runs on this kernel) or through the
/// offset estimated over the control connection (`estimate`).
fn cyclic_across(path: &str, clock: &str) {
    let _serial = serial();
    let scratch = Scratch::new(&format!("cyclic-{path}"));
    let topo = topology();
    let agent = Agent::start(&topo, scratch.path(), &[]);
    let dir = scratch.path().join("run");
    let out = dir.to_string_lossy().into_owned();
    run_controller_ok(
        &topo,
        scratch.path(),
        &agent,
        &[
            "--path",
            path,
            "--mode",
            "cyclic",
            "--interval-us",
            "200",
            "--count",
            "2000",
            "--warmup",
            "100",
            "--peer-clock",
            clock,
            "--out",
            &out,
        ],
        Duration::from_secs(120),
    );
    let rows: Vec<SummaryRow> = csv::Reader::from_path(dir.join("summary.csv"))
        .expect("summary.csv")
        .deserialize()
        .map(|r| r.expect("summary row"))
        .collect();
    assert_eq!(summary_value(&rows, "messages", "sent"), Some(2000.0));
    assert_eq!(summary_value(&rows, "messages", "received"), Some(2000.0));
    assert_eq!(summary_value(&rows, "messages", "lost"), Some(0.0));
    // Within what a veth crossing takes (well under 10 ms even on a loaded machine).
    let p50 = summary_value(&rows, "one_way", "p50").expect("one_way p50");
    let min = summary_value(&rows, "one_way", "min").expect("one_way min");
    assert!(p50 < 10e6, "one-way p50 {p50} ns");
    let bound = summary_value(&rows, "one_way_clock_error", "bound").expect("clock bound");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    let applied = meta["peer"]["clock"]["applied"]
        .as_str()
        .unwrap_or_default();
    let source = |name: &str| summary_value(&rows, "one_way_clock_source", name);
    if clock == "auto" {
        // One kernel, one clock: exact, so every message arrives after it was sent.
        assert_eq!(bound, 0.0);
        assert_eq!(source("same_kernel"), Some(1.0));
        assert_eq!(meta["peer"]["clock"]["source"], "same_kernel");
        assert!(min > 0.0, "one-way min {min} ns");
        assert_eq!(meta["peer"]["clock"]["same_kernel_offset_ns"], 0);
        assert!(applied.contains("same boot id"), "{applied}");
    } else {
        // The estimate: its bound is half a TCP round trip on the veth.
        assert!(bound > 0.0 && bound < 1e6, "clock error bound {bound} ns");
        assert!(meta["peer"]["clock"]["same_kernel_offset_ns"].is_null());
        assert_eq!(source("estimate"), Some(1.0));
        assert_eq!(meta["peer"]["clock"]["source"], "estimate");
        // Both hosts' clock discipline, before and after, is recorded.
        for key in [
            "this_host_before",
            "this_host_after",
            "agent_before",
            "agent_after",
        ] {
            assert!(
                meta["peer"]["clock"]["time_sync"][key]["tai_minus_monotonic_ns"].is_i64(),
                "{key}: {}",
                meta["peer"]["clock"]
            );
        }
        assert!(applied.contains("interpolated"), "{applied}");
    }
    assert!(summary_value(&rows, "cpu_subscriber", "total_per_message").is_some());
    assert!(summary_value(&rows, "send_deviation", "p50").is_some());
    let mut samples = csv::Reader::from_path(dir.join("samples.csv")).expect("samples.csv");
    let headers = samples.headers().expect("header").clone();
    let one_way = headers
        .iter()
        .position(|h| h == "one_way_ns")
        .expect("one_way_ns column");
    let records: Vec<csv::StringRecord> = samples.records().map(|r| r.expect("row")).collect();
    assert_eq!(records.len(), 2000);
    assert!(records.iter().all(|r| !r[one_way].is_empty()));

    let peer = &meta["peer"];
    assert_eq!(peer["subscriber"]["interface"]["name"], topo.b().ifname());
    assert_eq!(meta["config"]["mode"], "cyclic");
    assert_eq!(meta["interrupted"], false);
    assert!(
        agent.log().contains("subscriber finished"),
        "{}",
        agent.log()
    );
    agent.stop();
}

#[test]
fn cyclic_over_udp_with_the_subscriber_on_the_agent() {
    cyclic_across("udp", "auto");
}

#[test]
fn cyclic_over_udp_with_the_estimated_clock_offset() {
    cyclic_across("udp", "estimate");
}

#[test]
fn cyclic_over_eth_with_the_subscriber_on_the_agent() {
    cyclic_across("eth", "auto");
}

#[test]
fn cyclic_over_xdp_with_the_subscriber_on_the_agent() {
    cyclic_across("xdp", "auto");
}

/// `--so-timestamping` across the agent: the subscriber's SO_TIMESTAMPING receive stamps are
/// taken on the agent, sent back, and moved onto this host's clock (one kernel here, so the
/// move is exact up to the two realtime readings): every measured packet has its receive
/// stamp before the agent's thread read it (`user_recv`), and the missing NIC hardware stamps
/// (veth has none) are explained for both hosts.
#[test]
fn the_clock_cross_check_takes_its_receive_stamps_on_the_agent() {
    let _serial = serial();
    let scratch = Scratch::new("cyclic-so-timestamping");
    let topo = topology();
    let agent = Agent::start(&topo, scratch.path(), &[]);
    let dir = scratch.path().join("run");
    let out = dir.to_string_lossy().into_owned();
    let stdout = run_controller_ok(
        &topo,
        scratch.path(),
        &agent,
        &[
            "--path",
            "udp",
            "--mode",
            "cyclic",
            "--interval-us",
            "200",
            "--count",
            "1000",
            "--warmup",
            "100",
            "--so-timestamping",
            "--out",
            &out,
        ],
        Duration::from_secs(120),
    );
    assert!(
        stdout.contains("receive stamps were taken on")
            && stdout.contains("no NIC hardware stamps"),
        "{stdout}"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    let c = &meta["clock_check"];
    let moved = &c["receive_stamps_moved_from"];
    assert_eq!(moved["how"], "same_kernel", "{c}");
    // One kernel: only the two processes' REALTIME − MONOTONIC readings separate the clocks.
    let bound = moved["bound_ns"].as_u64().expect("bound");
    assert!(bound < 100_000, "bound {bound} ns");
    for s in ["tx_sched", "tx_software", "rx_software"] {
        let n = c["stamped"][s].as_u64().expect("count");
        assert!(
            n * 1000 >= 1000 * 999,
            "{s}: {n} of 1000 packets stamped: {c}"
        );
    }
    // veth has no hardware stamps, on either end; each end says so.
    let notes: Vec<&str> = c["hardware"]["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    assert!(
        notes.iter().any(|n| !n.starts_with("agent: ")
            && n.contains("cannot timestamp every packet in hardware"))
            && notes
                .iter()
                .any(|n| n.starts_with("agent: hardware timestamps")
                    && n.contains(topo.b().ifname())),
        "{notes:?}"
    );
    assert!(c["hardware_to_realtime_bound_ns"].is_null(), "{c}");
    // Each receive stamp (the agent's kernel taking the datagram) comes before the agent's
    // thread read it; both on this host's clock now.
    let mut reader = csv::Reader::from_path(dir.join("clock_check.csv")).expect("clock_check.csv");
    let h = reader.headers().expect("header").clone();
    let col = |n: &str| h.iter().position(|x| x == n).expect(n);
    let (stamp, reference, delta) = (col("stamp"), col("reference"), col("delta_ns"));
    let deltas: Vec<i64> = reader
        .records()
        .map(|r| r.expect("row"))
        .filter(|r| &r[stamp] == "rx_software" && &r[reference] == "user_recv")
        .map(|r| r[delta].parse().expect("delta"))
        .collect();
    assert!(deltas.len() >= 999, "{} rx_software rows", deltas.len());
    let slack = bound as i64 + 1_000;
    assert!(
        deltas.iter().all(|&d| d > -slack && d < 50_000_000),
        "rx_software → user_recv outside (−{slack} ns, 50 ms): min {:?} max {:?}",
        deltas.iter().min(),
        deltas.iter().max()
    );
    agent.stop();
}

/// A flood over `path` with the counting subscriber on the agent: exact accounting (every sent
/// message received or lost, none twice), rates, and no clock applied.
fn flood_across(path: &str) {
    let _serial = serial();
    let scratch = Scratch::new(&format!("flood-{path}"));
    let topo = topology();
    let agent = Agent::start(&topo, scratch.path(), &[]);
    let dir = scratch.path().join("run");
    let out = dir.to_string_lossy().into_owned();
    run_controller_ok(
        &topo,
        scratch.path(),
        &agent,
        &[
            "--path",
            path,
            "--mode",
            "flood",
            "--duration",
            "1",
            "--out",
            &out,
        ],
        Duration::from_secs(120),
    );
    let rows: Vec<SummaryRow> = csv::Reader::from_path(dir.join("summary.csv"))
        .expect("summary.csv")
        .deserialize()
        .map(|r| r.expect("summary row"))
        .collect();
    let get = |m: &str, s: &str| summary_value(&rows, m, s).unwrap_or(f64::NAN);
    let (sent, received, lost) = (
        get("messages", "sent"),
        get("messages", "received"),
        get("messages", "lost"),
    );
    assert!(sent > 1000.0, "sent {sent}");
    assert!(
        received > 0.0 && received <= sent,
        "received {received} of {sent}"
    );
    assert_eq!(received + lost, sent, "every message received or lost");
    assert_eq!(get("messages", "duplicated"), 0.0);
    assert_eq!(get("messages", "decode_errors"), 0.0);
    assert!(get("rate", "received_per_second") > 1000.0);
    assert!(get("cpu_subscriber", "total_per_message") > 0.0);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    assert_eq!(meta["config"]["mode"], "flood");
    let applied = meta["peer"]["clock"]["applied"]
        .as_str()
        .unwrap_or_default();
    assert!(applied.contains("no common clock"), "{applied}");
    assert_eq!(
        meta["peer"]["subscriber"]["interface"]["name"],
        topo.b().ifname()
    );
    assert!(
        agent.log().contains("subscriber finished"),
        "{}",
        agent.log()
    );
    agent.stop();
}

#[test]
fn flood_over_udp_with_the_subscriber_on_the_agent() {
    flood_across("udp");
}

#[test]
fn flood_over_eth_with_the_subscriber_on_the_agent() {
    flood_across("eth");
}

#[test]
fn flood_over_xdp_with_the_subscriber_on_the_agent() {
    flood_across("xdp");
}

/// A campaign file with a `[peer]` table runs every run through the agent and ends with the
/// usual tables and verdict.
#[test]
fn a_campaign_with_a_peer_table_runs_through_the_agent() {
    let _serial = serial();
    let scratch = Scratch::new("campaign");
    let topo = topology();
    let agent = Agent::start(&topo, scratch.path(), &[]);
    let file = scratch.path().join("two-hosts.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"two-hosts\"\n[matrix]\npaths = [\"udp\", \"eth\"]\nmodes = [\"pingpong\", \"cyclic\"]\npayload_bytes = [64]\nintervals_us = [500]\nprobes = [\"none\"]\nrepetitions = 1\n[run]\ncount = 300\nwarmup = 50\n[peer]\naddress = \"{AGENT_ADDR}\"\ninterface = \"{}\"\npeer_interface = \"{}\"\n",
            topo.a().ifname(),
            topo.b().ifname()
        ),
    )
    .expect("campaign file");
    let dir = scratch.path().join("campaign");
    let out = Command::new("ip")
        .args(["netns", "exec", topo.a().netns(), UADPBENCH, "campaign"])
        .arg(&file)
        .arg("--out")
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run the campaign");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "campaign with [peer]: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nagent log:\n{}",
        out.status,
        agent.log()
    );
    let mut runs = csv::Reader::from_path(dir.join("runs.csv")).expect("runs.csv");
    let header = runs.headers().expect("header").clone();
    let status = header.iter().position(|h| h == "status").expect("status");
    let mode = header.iter().position(|h| h == "mode").expect("mode");
    let rows: Vec<csv::StringRecord> = runs.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| &r[status] == "ok"), "{rows:?}");
    assert_eq!(rows.iter().filter(|r| &r[mode] == "cyclic").count(), 2);
    for entry in std::fs::read_dir(dir.join("runs"))
        .expect("runs/")
        .flatten()
    {
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(entry.path().join("meta.json")).expect("meta.json"),
        )
        .expect("meta.json parses");
        assert_eq!(
            meta["peer"]["agent"],
            format!("{AGENT_ADDR}:4850"),
            "{meta}"
        );
    }
    assert!(
        stdout.contains("verdict") || stderr.contains("verdict"),
        "{stdout}{stderr}"
    );
    agent.stop();
}

#[test]
fn a_killed_agent_ends_the_run_with_an_error_naming_it() {
    let _serial = serial();
    let scratch = Scratch::new("kill");
    let topo = topology();
    let mut agent = Agent::start(&topo, scratch.path(), &[]);
    let out = scratch.path().join("run");
    let out = out.to_string_lossy().into_owned();
    let mut controller = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &[
            "--path", "udp", "--count", "1000000", "--warmup", "0", "--out", &out,
        ],
    );
    assert!(
        agent.wait_for_log("reflector ready", Duration::from_secs(20)),
        "the reflector did not start; agent log:\n{}\ncontroller: {:?}",
        agent.log(),
        controller_output(scratch.path())
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        controller.child().try_wait().expect("try_wait").is_none(),
        "the run ended before the agent was killed: {:?}",
        controller_output(scratch.path())
    );
    agent.process.child().kill().expect("SIGKILL the agent");
    let killed = Instant::now();
    let status = controller.wait_for(Duration::from_secs(15));
    let took = killed.elapsed();
    let (_, stderr) = controller_output(scratch.path());
    let status = status.expect("the controller did not end within 15 s of the agent's death");
    assert!(!status.success(), "{status:?}: {stderr}");
    assert!(
        took < Duration::from_secs(5),
        "the controller needed {took:?} to notice; stderr: {stderr}"
    );
    assert!(
        stderr.contains(&format!("lost the uadpbench agent at {AGENT_ADDR}:4850")),
        "{stderr}"
    );
    assert!(
        !Path::new(&out).join("meta.json").exists(),
        "a run without its far side must not look complete"
    );
}

#[test]
fn a_killed_controller_leaves_the_agent_ready_for_the_next_run() {
    let _serial = serial();
    let scratch = Scratch::new("lost-controller");
    let topo = topology();
    let agent = Agent::start(&topo, scratch.path(), &[]);
    let first = scratch.path().join("first").to_string_lossy().into_owned();
    let mut controller = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &[
            "--path", "udp", "--count", "1000000", "--warmup", "0", "--out", &first,
        ],
    );
    assert!(
        agent.wait_for_log("reflector ready", Duration::from_secs(20)),
        "the reflector did not start; agent log:\n{}",
        agent.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    controller.child().kill().expect("SIGKILL the controller");
    let _ = controller.wait_for(Duration::from_secs(5));
    // The agent notices the closed connection, stops the reflector and frees its port.
    assert!(
        agent.wait_for_log("aborted side stopped", Duration::from_secs(5)),
        "{}",
        agent.log()
    );
    let second = scratch.path().join("second");
    let out = second.to_string_lossy().into_owned();
    let mut controller = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &[
            "--path", "udp", "--count", "500", "--warmup", "50", "--out", &out,
        ],
    );
    let status = controller.wait_for(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "the next run: {status:?} {:?}\nagent log:\n{}",
        controller_output(scratch.path()),
        agent.log()
    );
    assert!(second.join("meta.json").is_file());
    agent.stop();
}

#[test]
fn wrong_tokens_and_foreign_interfaces_are_refused_with_exit_2() {
    let _serial = serial();
    let scratch = Scratch::new("refuse");
    let right = scratch.path().join("right.token");
    let wrong = scratch.path().join("wrong.token");
    std::fs::write(&right, "the-right-token\n").expect("token file");
    std::fs::write(&wrong, "not-the-token\n").expect("token file");
    let topo = topology();
    let agent = Agent::start(
        &topo,
        scratch.path(),
        &["--token-file", &right.to_string_lossy()],
    );
    let out = scratch.path().join("run").to_string_lossy().into_owned();
    let attempt = |peer_interface: &str, extra: &[&str]| {
        let mut args = vec!["--count", "100", "--warmup", "0", "--out", &out];
        args.extend_from_slice(extra);
        let mut c = start_controller(&topo, scratch.path(), peer_interface, &args);
        let status = c
            .wait_for(Duration::from_secs(30))
            .expect("the refused controller ends");
        (status, controller_output(scratch.path()).1)
    };

    let (status, stderr) = attempt(
        topo.b().ifname(),
        &["--token-file", &wrong.to_string_lossy()],
    );
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("wrong token"), "{stderr}");
    assert!(stderr.contains("--token-file"), "{stderr}");
    let (status, stderr) = attempt(topo.b().ifname(), &[]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("requires a token"), "{stderr}");
    assert!(
        !Path::new(&out).exists(),
        "a refused run leaves no directory"
    );

    // The right token, but an interface of the agent's namespace uadpbench did not create.
    let (status, stderr) = attempt("lo", &["--token-file", &right.to_string_lossy()]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refuses interface lo") && stderr.contains("--allow-external-interface"),
        "{stderr}"
    );
    assert!(agent.log().contains("wrong token"), "{}", agent.log());

    // --peer-clock ptp needs both hosts PTP-disciplined: refused before anything runs, naming
    // what is missing (this machine runs no ptp4l; if it did, the run would go ahead).
    let local = uadpbench_agent::TimeSync::read();
    let (status, stderr) = attempt(
        topo.b().ifname(),
        &[
            "--token-file",
            &right.to_string_lossy(),
            "--mode",
            "cyclic",
            "--peer-clock",
            "ptp",
        ],
    );
    if local.ptp_disciplined() {
        assert!(status.success(), "{stderr}");
    } else {
        assert_eq!(status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--peer-clock ptp") && stderr.contains("not PTP-disciplined"),
            "{stderr}"
        );
        assert!(
            !Path::new(&out).exists(),
            "a refused run leaves no directory"
        );
    }
    agent.stop();
}

/// `--peer-pcap NAME`: the agent captures what its interface received (every request of the
/// ping-pong, warm-up included) into NAME.pcap in its `--capture-dir`; the run says where and
/// meta.json records it. An agent without `--capture-dir`, and a name that is a path, are
/// refused with exit status 2.
#[test]
fn the_agent_captures_into_its_capture_dir_when_asked() {
    let _serial = serial();
    let scratch = Scratch::new("peer-pcap");
    let captures = scratch.path().join("captures");
    let topo = topology();
    let agent = Agent::start(
        &topo,
        scratch.path(),
        &["--capture-dir", &captures.to_string_lossy()],
    );
    let dir = scratch.path().join("run");
    let out = dir.to_string_lossy().into_owned();
    let mut controller = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &[
            "--path",
            "udp",
            "--count",
            "500",
            "--warmup",
            "50",
            "--peer-pcap",
            "r1",
            "--out",
            &out,
        ],
    );
    let status = controller.wait_for(Duration::from_secs(60));
    let (stdout, stderr) = controller_output(scratch.path());
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{stdout}\n{stderr}\nagent log:\n{}",
        agent.log()
    );
    let file = captures.join("r1.pcap");
    assert!(
        stdout.contains(&file.display().to_string()),
        "the run names the capture: {stdout}"
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    assert_eq!(meta["capture"]["frames"], 550, "{}", meta["capture"]);
    assert_eq!(meta["capture"]["file"], file.display().to_string());
    // A pcap file: its header and 550 records of at least the UADP message each.
    let len = std::fs::metadata(&file).expect("the capture file").len();
    assert!(len > 24 + 550 * (16 + 64), "{len} bytes");

    // The same name again: never overwritten.
    let again = scratch.path().join("again").to_string_lossy().into_owned();
    let mut c = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &[
            "--count",
            "10",
            "--warmup",
            "0",
            "--peer-pcap",
            "r1",
            "--out",
            &again,
        ],
    );
    let st = c.wait_for(Duration::from_secs(30)).expect("ends");
    let (_, stderr) = controller_output(scratch.path());
    assert_eq!(st.code(), Some(2), "{stderr}");
    assert!(stderr.contains("never overwritten"), "{stderr}");
    // A path instead of a name: refused before connecting.
    let mut c = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &["--count", "10", "--peer-pcap", "../x", "--out", &again],
    );
    let st = c.wait_for(Duration::from_secs(30)).expect("ends");
    let (_, stderr) = controller_output(scratch.path());
    assert_eq!(st.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a path"), "{stderr}");
    agent.stop();

    // An agent without --capture-dir refuses.
    let agent = Agent::start(&topo, scratch.path(), &[]);
    let mut c = start_controller(
        &topo,
        scratch.path(),
        topo.b().ifname(),
        &["--count", "10", "--peer-pcap", "r2", "--out", &again],
    );
    let st = c.wait_for(Duration::from_secs(30)).expect("ends");
    let (_, stderr) = controller_output(scratch.path());
    assert_eq!(st.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--capture-dir"), "{stderr}");
    agent.stop();
}
