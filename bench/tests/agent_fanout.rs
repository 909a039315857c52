//! Fan-out across hosts with network namespaces standing in for the hosts: a fan-out topology
//! (the publisher's namespace and N subscriber namespaces on one bridge) where each subscriber
//! namespace runs its own `uadpbench agent`, reached from the publisher's namespace over a
//! control link of its own (198.19.i.1 ⇄ 198.19.i.2, like a management network), and
//! `uadpbench run --peer … --peer … --subscribers N` publishes to the multicast group.
//!
//! * over udp, eth and xdp to two agents: every subscriber gets every message, the files of a
//!   local fan-out (subscribers.csv with each row's agent and clock bound, fanout_samples.csv,
//!   summary.csv) and meta.json with every agent's clock estimates and conditions;
//! * three agents with the estimated clock offsets: bounds above zero, the largest in
//!   summary.csv;
//! * a campaign with `[peer]` and `[[peer.fanout]]` (udp, eth and xdp × 1, 2, 4 and 8
//!   subscribers, eight agents): every run through the agents, the fan-out answer at the end,
//!   and `report` plots it;
//! * one agent killed mid-run: the controller ends with an error naming that agent and writes
//!   no results; the other agent serves its next controller;
//! * a subscriber count that is not the number of agents: exit status 2 before connecting.
//!
//! Needs root. Children are killed and the topology removed also when an assertion fails.

use std::process::{Command, Stdio};
use std::time::Duration;

use uadpbench::schema::{SubscriberRow, SummaryRow};
use uadpbench_topology::{FanOutTopology, TopologyOptions};

mod standin;
use standin::*;

/// The stand-in: a fan-out topology, a control link and an agent per subscriber namespace.
struct Hosts {
    topo: FanOutTopology,
    agents: Vec<Agent>,
}

impl Hosts {
    fn start(n: usize, scratch: &Scratch, agent_extra: &[&str]) -> Hosts {
        let topo = FanOutTopology::create(n, TopologyOptions::default())
            .expect("fan-out topology (run the tests as root)");
        let mut agents = Vec::new();
        for (i, s) in topo.subscribers().iter().enumerate() {
            let (a, b) = (
                format!("c{i:x}{}", topo.id()),
                format!("d{i:x}{}", topo.id()),
            );
            control_link(
                topo.publisher().netns(),
                &a,
                &controller_addr(i),
                s.netns(),
                &b,
                &agent_addr(i),
            );
            agents.push(Agent::start_in(
                s.netns(),
                &agent_addr(i),
                &scratch.path().join(format!("agent{}.log", i + 1)),
                agent_extra,
            ));
        }
        Hosts { topo, agents }
    }

    fn logs(&self) -> String {
        self.agents
            .iter()
            .enumerate()
            .map(|(i, a)| format!("agent {} log:\n{}", i + 1, a.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `uadpbench run` in the publisher's namespace with one `--peer` per agent.
    fn controller(&self, scratch: &Scratch, extra: &[&str]) -> Killed {
        let out = std::fs::File::create(scratch.path().join("controller.out")).expect("stdout");
        let err = std::fs::File::create(scratch.path().join("controller.err")).expect("stderr");
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            self.topo.publisher().netns(),
            UADPBENCH,
            "run",
        ])
        .args(["--interface", self.topo.publisher().ifname()]);
        for (i, s) in self.topo.subscribers().iter().enumerate() {
            cmd.args(["--peer", &agent_addr(i)])
                .args(["--peer-interface", s.ifname()]);
        }
        let child = cmd
            .args(extra)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start `ip netns exec … uadpbench run --peer …`");
        Killed(Some(child))
    }
}

fn agent_addr(i: usize) -> String {
    format!("198.19.{}.2", i + 1)
}

fn controller_addr(i: usize) -> String {
    format!("198.19.{}.1", i + 1)
}

fn read_rows<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Vec<T> {
    csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .deserialize()
        .map(|r| r.expect("row"))
        .collect()
}

/// One publisher here, one subscriber on each of `n` agents, over `path`.
fn fanout_across(path: &str, n: usize, clock: &str) {
    let _serial = serial();
    let scratch = Scratch::new(&format!("fanout-{path}-{n}-{clock}"));
    let hosts = Hosts::start(n, &scratch, &[]);
    let dir = scratch.path().join("run");
    let out = dir.to_string_lossy().into_owned();
    let subscribers = n.to_string();
    let mut controller = hosts.controller(
        &scratch,
        &[
            "--subscribers",
            &subscribers,
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
            "--peer-clock",
            clock,
            "--out",
            &out,
        ],
    );
    let status = controller.wait_for(Duration::from_secs(120));
    let (stdout, stderr) = controller_output(scratch.path());
    assert!(
        status.is_some_and(|s| s.success()),
        "fan-out over {path} to {n} agents: {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        hosts.logs()
    );
    // What a user sees (shown with --nocapture).
    eprintln!("{stdout}");
    assert!(stdout.contains(&format!("results: {out}/")), "{stdout}");
    assert!(stdout.contains("subscribers.csv"), "{stdout}");

    let rows: Vec<SummaryRow> = read_rows(&dir.join("summary.csv"));
    let deliveries = 1000.0 * n as f64;
    assert_eq!(summary_value(&rows, "messages", "sent"), Some(deliveries));
    assert_eq!(
        summary_value(&rows, "messages", "received"),
        Some(deliveries)
    );
    assert_eq!(summary_value(&rows, "messages", "lost"), Some(0.0));
    let bound = summary_value(&rows, "one_way_clock_error", "bound").expect("clock bound");
    for i in 1..=n {
        assert!(
            summary_value(&rows, &format!("cpu_subscriber{i}"), "total_per_message").is_some(),
            "cpu row of subscriber {i}"
        );
    }

    let subs: Vec<SubscriberRow> = read_rows(&dir.join("subscribers.csv"));
    assert_eq!(subs.len(), n);
    for (i, r) in subs.iter().enumerate() {
        assert_eq!(r.subscriber, i + 1);
        assert_eq!((r.published, r.received, r.lost), (1000, 1000, 0), "{r:?}");
        assert_eq!(r.host, format!("{}:4850", agent_addr(i)));
        let p50 = r.one_way_p50_ns.expect("p50");
        assert!(p50 < 10e6, "subscriber {} one-way p50 {p50} ns", i + 1);
        let b = r.clock_error_bound_ns.expect("bound");
        assert!(b <= bound, "{b} > {bound}");
        if clock == "auto" {
            // The agents run on this kernel: one clock, exact.
            assert_eq!(b, 0.0);
            assert!(r.one_way_min_ns.is_some_and(|m| m > 0.0), "{r:?}");
        } else {
            assert!(b > 0.0 && b < 1e6, "subscriber {} bound {b}", i + 1);
        }
    }
    if clock != "auto" {
        assert_eq!(
            bound,
            subs.iter()
                .filter_map(|r| r.clock_error_bound_ns)
                .fold(0.0, f64::max)
        );
    }
    let samples = csv::Reader::from_path(dir.join("fanout_samples.csv"))
        .expect("fanout_samples.csv")
        .records()
        .count();
    assert_eq!(samples, 1000 * n);

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
            .expect("meta.json parses");
    let agents = meta["peer"]["agents"].as_array().expect("peer.agents");
    assert_eq!(agents.len(), n);
    for (i, a) in agents.iter().enumerate() {
        assert_eq!(a["agent"], format!("{}:4850", agent_addr(i)), "{a}");
        assert!(a["clock"]["before"]["offset_ns"].is_i64(), "{a}");
        assert!(a["clock"]["after"]["offset_ns"].is_i64(), "{a}");
        assert!(a["subscriber_side"]["interface"]["name"].is_string(), "{a}");
    }
    assert_eq!(meta["fanout"]["subscribers"], n);
    assert_eq!(
        meta["topology"]["subscribers"].as_array().map(Vec::len),
        Some(n)
    );
    assert_eq!(meta["topology"]["group"], "239.198.18.1");
    assert_eq!(meta["interrupted"], false);
    for (i, a) in hosts.agents.iter().enumerate() {
        assert!(
            a.log().contains("subscriber finished"),
            "agent {}: {}",
            i + 1,
            a.log()
        );
    }
    for a in hosts.agents {
        a.stop();
    }
}

#[test]
fn fanout_over_udp_to_two_agents() {
    fanout_across("udp", 2, "auto");
}

#[test]
fn fanout_over_eth_to_two_agents() {
    fanout_across("eth", 2, "auto");
}

#[test]
fn fanout_over_xdp_to_two_agents() {
    fanout_across("xdp", 2, "auto");
}

#[test]
fn fanout_over_udp_to_three_agents_with_estimated_clocks() {
    fanout_across("udp", 3, "estimate");
}

/// Environment of [`a_fanout_campaign_across_agents_answers_and_plots`] when it serves as the
/// measurement of bench/scripts/agent_fanout_standin.sh: messages per run (default 300),
/// repetitions (default 1) and where to copy the campaign's results (default: nowhere; the
/// scratch directory goes).
const COUNT_ENV: &str = "UADPBENCH_STANDIN_FANOUT_COUNT";
const REPS_ENV: &str = "UADPBENCH_STANDIN_FANOUT_REPS";
const KEEP_ENV: &str = "UADPBENCH_STANDIN_FANOUT_KEEP";

#[test]
fn a_fanout_campaign_across_agents_answers_and_plots() {
    let _serial = serial();
    let scratch = Scratch::new("fanout-campaign");
    let counts = [1usize, 2, 4, 8];
    let hosts = Hosts::start(8, &scratch, &[]);
    let subs = hosts.topo.subscribers();
    let count: u64 = std::env::var(COUNT_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let reps: usize = std::env::var(REPS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let mut file_text = format!(
        "name = \"fanout-hosts\"\n[matrix]\npaths = [\"udp\", \"eth\", \"xdp\"]\nencaps = [\"eth\"]\nmodes = [\"cyclic\"]\npayload_bytes = [64]\nintervals_us = [500]\nsubscribers = {counts:?}\nprobes = [\"none\"]\nrepetitions = {reps}\n[order]\nkind = \"interleaved\"\n[run]\ncount = {count}\nwarmup = 20\n[peer]\naddress = \"{}\"\ninterface = \"{}\"\npeer_interface = \"{}\"\n",
        agent_addr(0),
        hosts.topo.publisher().ifname(),
        subs[0].ifname(),
    );
    for (i, s) in subs.iter().enumerate() {
        file_text.push_str(&format!(
            "[[peer.fanout]]\naddress = \"{}\"\npeer_interface = \"{}\"\n",
            agent_addr(i),
            s.ifname()
        ));
    }
    let file = scratch.path().join("fanout-hosts.toml");
    std::fs::write(&file, file_text).expect("campaign file");
    let dir = scratch.path().join("campaign");
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            hosts.topo.publisher().netns(),
            UADPBENCH,
            "campaign",
        ])
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
        "fan-out campaign across agents: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\n{}",
        out.status,
        hosts.logs()
    );
    assert!(
        stdout.contains("answer — fan-out 64 B to 8 subscriber(s)"),
        "{stdout}"
    );
    let rows: Vec<SubscriberRow> = read_rows(&dir.join("subscribers.csv"));
    // udp, eth and xdp × (1 + 2 + 4 + 8 subscribers), every one on its agent.
    assert_eq!(
        rows.len(),
        reps * 3 * counts.iter().sum::<usize>(),
        "{rows:?}"
    );
    assert!(
        rows.iter().all(|r| r.lost == 0 && r.received == count),
        "{rows:?}"
    );
    assert!(rows
        .iter()
        .all(|r| r.host == format!("{}:4850", agent_addr(r.subscriber - 1))));
    for &n in &counts {
        assert_eq!(
            rows.iter().filter(|r| r.subscribers == n).count(),
            reps * 3 * n,
            "{n} subscribers: one row each per path and repetition"
        );
    }
    let report = Command::new(UADPBENCH)
        .arg("report")
        .arg(&dir)
        .output()
        .expect("report");
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    let svg = std::fs::read_to_string(dir.join("plots/fanout_64B.svg")).expect("fan-out plot");
    for path in ["udp/udp", "eth/eth", "xdp/eth"] {
        assert!(
            svg.contains(&format!("{path}: worst subscriber")),
            "{path} curve missing"
        );
    }
    if let Ok(keep) = std::env::var(KEEP_ENV) {
        let status = Command::new("cp")
            .arg("-a")
            .arg(&dir)
            .arg(&keep)
            .status()
            .expect("cp");
        assert!(status.success(), "copying the campaign to {keep}");
        std::fs::write(
            std::path::Path::new(&keep).join("campaign-stdout.txt"),
            stdout.as_bytes(),
        )
        .expect("campaign output");
    }
    for a in hosts.agents {
        a.stop();
    }
}

#[test]
fn a_killed_agent_ends_the_fanout_with_an_error_naming_it() {
    let _serial = serial();
    let scratch = Scratch::new("fanout-kill");
    let mut hosts = Hosts::start(2, &scratch, &[]);
    let out = scratch.path().join("run");
    let out = out.to_string_lossy().into_owned();
    let mut controller = hosts.controller(
        &scratch,
        &[
            "--subscribers",
            "2",
            "--mode",
            "cyclic",
            "--interval-us",
            "200",
            "--count",
            "200000",
            "--warmup",
            "0",
            "--out",
            &out,
        ],
    );
    for (i, a) in hosts.agents.iter().enumerate() {
        assert!(
            a.wait_for_log("subscriber ready", Duration::from_secs(20)),
            "subscriber {} did not start; {}\ncontroller: {:?}",
            i + 1,
            hosts.logs(),
            controller_output(scratch.path())
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let killed = hosts.agents.remove(1);
    drop(killed);
    let status = controller.wait_for(Duration::from_secs(10));
    let (stdout, stderr) = controller_output(scratch.path());
    assert!(
        status.is_some_and(|s| !s.success()),
        "the controller went on without agent 2: {status:?}\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "lost the uadpbench agent at {}:4850 (subscriber 2)",
            agent_addr(1)
        )),
        "{stderr}"
    );
    assert!(
        !std::path::Path::new(&out).join("meta.json").exists(),
        "results written after a lost agent"
    );
    // The surviving agent noticed the controller go and cleaned up.
    assert!(
        hosts.agents[0].wait_for_log(
            "aborted side stopped and cleaned up",
            Duration::from_secs(5)
        ),
        "{}",
        hosts.logs()
    );
    for a in hosts.agents.drain(..) {
        a.stop();
    }
}

#[test]
fn a_subscriber_count_that_is_not_the_number_of_agents_is_refused() {
    // Refused before any connection: no topology or agent needed.
    let out = Command::new(UADPBENCH)
        .args(["run", "--mode", "cyclic", "--subscribers", "3"])
        .args(["--peer", "198.19.1.2", "--peer", "198.19.2.2"])
        .args([
            "--interface",
            "ub0000000001a",
            "--peer-interface",
            "ub0000000001b",
        ])
        .output()
        .expect("run uadpbench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--subscribers 3 with 2 --peer"), "{stderr}");
    let out = Command::new(UADPBENCH)
        .args(["run", "--mode", "cyclic"])
        .args(["--peer", "198.19.1.2", "--peer", "198.19.1.2:4850"])
        .args([
            "--interface",
            "ub0000000001a",
            "--peer-interface",
            "ub0000000001b",
        ])
        .output()
        .expect("run uadpbench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("given twice"), "{stderr}");
}
