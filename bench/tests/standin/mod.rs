//! The local two-host stand-in: a uadpbench topology plus a control link, the agent and the
//! controller as child processes in its namespaces (killed and reaped on drop), scratch
//! directories, the tests' serialisation.

#![allow(dead_code, reason = "shared by the test functions of the test file")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use uadpbench::schema::SummaryRow;
use uadpbench_topology::{Topology, TopologyOptions};

pub const UADPBENCH: &str = env!("CARGO_BIN_EXE_uadpbench");
/// The agent's address on the control link.
pub const AGENT_ADDR: &str = "198.19.0.2";
/// This side's address on the control link.
pub const CONTROLLER_ADDR: &str = "198.19.0.1";

/// The tests pin threads and hold PM QoS on a small machine: one at a time.
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A scratch directory, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let d =
            std::env::temp_dir().join(format!("uadpbench-e2e-agent-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch directory");
        Scratch(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed (and reaped) when dropped, also while a panic unwinds.
pub struct Killed(pub Option<Child>);

impl Killed {
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child present until dropped")
    }

    /// Waits up to `limit` for the child to exit; kills it after that.
    pub fn wait_for(&mut self, limit: Duration) -> Option<ExitStatus> {
        let t0 = Instant::now();
        loop {
            match self.child().try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if t0.elapsed() < limit => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = self.child().kill();
                    let _ = self.child().wait();
                    return None;
                }
            }
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `uadpbench agent` inside namespace B.
pub struct Agent {
    pub process: Killed,
    pub log: PathBuf,
}

impl Agent {
    /// Starts the agent and waits until it listens.
    pub fn start(topo: &Topology, dir: &Path, extra: &[&str]) -> Agent {
        Agent::start_in(topo.b().netns(), AGENT_ADDR, &dir.join("agent.log"), extra)
    }

    /// Starts an agent in namespace `netns` listening on `addr`:4850, logging to `log`, and
    /// waits until it listens.
    pub fn start_in(netns: &str, addr: &str, log: &Path, extra: &[&str]) -> Agent {
        let log = log.to_path_buf();
        let stderr = std::fs::File::create(&log).expect("agent log file");
        let child = Command::new("ip")
            .args(["netns", "exec", netns, UADPBENCH, "agent"])
            .args(["--listen", &format!("{addr}:4850")])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start `ip netns exec … uadpbench agent`");
        let mut process = Killed(Some(child));
        let stdout = process.child().stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel::<String>();
        // Reads (and keeps draining) the agent's stdout.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let t0 = Instant::now();
        let mut seen = Vec::new();
        while t0.elapsed() < Duration::from_secs(15) {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains("listening on") => {
                    assert!(line.contains(&format!("{addr}:4850")), "{line}");
                    return Agent { process, log };
                }
                Ok(line) => seen.push(line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "the agent did not say it listens; stdout: {seen:?}; log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the agent's log contains `what`.
    pub fn wait_for_log(&self, what: &str, limit: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.log().contains(what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// SIGTERM, then the agent must stop on its own.
    pub fn stop(mut self) {
        let pid = self.process.child().id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = self.process.wait_for(Duration::from_secs(5));
        assert!(
            status.is_some_and(|s| s.success()),
            "the agent did not stop cleanly on SIGTERM ({status:?}); log:\n{}",
            self.log()
        );
    }
}

/// `uadpbench run --peer` inside namespace A, its stdout and stderr going to files in `dir`.
pub fn start_controller(
    topo: &Topology,
    dir: &Path,
    peer_interface: &str,
    extra: &[&str],
) -> Killed {
    let out = std::fs::File::create(dir.join("controller.out")).expect("stdout file");
    let err = std::fs::File::create(dir.join("controller.err")).expect("stderr file");
    let mode: &[&str] = if extra.contains(&"--mode") {
        &[]
    } else {
        &["--mode", "pingpong"]
    };
    let child = Command::new("ip")
        .args(["netns", "exec", topo.a().netns(), UADPBENCH, "run"])
        .args(["--peer", AGENT_ADDR])
        .args(["--interface", topo.a().ifname()])
        .args(["--peer-interface", peer_interface])
        .args(mode)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("start `ip netns exec … uadpbench run --peer`");
    Killed(Some(child))
}

/// Runs `uadpbench run --peer` with `extra` against the agent's measured veth end (B's) and
/// waits up to `limit` for it; returns its stdout. Panics with both of its outputs and the
/// agent's log when it did not succeed.
pub fn run_controller_ok(
    topo: &Topology,
    dir: &Path,
    agent: &Agent,
    extra: &[&str],
    limit: Duration,
) -> String {
    let mut controller = start_controller(topo, dir, topo.b().ifname(), extra);
    let status = controller.wait_for(limit);
    let (stdout, stderr) = controller_output(dir);
    assert!(
        status.is_some_and(|s| s.success()),
        "run --peer {extra:?}: {status:?}\nstdout:\n{stdout}\nstderr:\n{stderr}\nagent log:\n{}",
        agent.log()
    );
    stdout
}

pub fn controller_output(dir: &Path) -> (String, String) {
    (
        std::fs::read_to_string(dir.join("controller.out")).unwrap_or_default(),
        std::fs::read_to_string(dir.join("controller.err")).unwrap_or_default(),
    )
}

/// The measured topology plus a control link: a second veth pair between its namespaces
/// (`uc…a` ⇄ `uc…b`, removed with the namespaces).
pub fn topology() -> Topology {
    let topo =
        Topology::create(TopologyOptions::default()).expect("topology (run the tests as root)");
    let id = &topo.a().ifname()[2..topo.a().ifname().len() - 1];
    let (ca, cb) = (format!("uc{id}a"), format!("uc{id}b"));
    control_link(
        topo.a().netns(),
        &ca,
        CONTROLLER_ADDR,
        topo.b().netns(),
        &cb,
        AGENT_ADDR,
    );
    topo
}

/// A veth pair `a` (in namespace `ns_a`, address `addr_a`/30) ⇄ `b` (in `ns_b`, `addr_b`/30),
/// both up: a control link, removed with the namespaces.
pub fn control_link(ns_a: &str, a: &str, addr_a: &str, ns_b: &str, b: &str, addr_b: &str) {
    let ip = |args: &[&str]| {
        let st = Command::new("ip").args(args).status().expect("ip");
        assert!(st.success(), "ip {args:?}");
    };
    ip(&[
        "link", "add", a, "netns", ns_a, "type", "veth", "peer", "name", b, "netns", ns_b,
    ]);
    ip(&["-n", ns_a, "addr", "add", &format!("{addr_a}/30"), "dev", a]);
    ip(&["-n", ns_b, "addr", "add", &format!("{addr_b}/30"), "dev", b]);
    ip(&["-n", ns_a, "link", "set", a, "up"]);
    ip(&["-n", ns_b, "link", "set", b, "up"]);
}

pub fn summary_value(rows: &[SummaryRow], metric: &str, statistic: &str) -> Option<f64> {
    rows.iter()
        .find(|r| r.metric == metric && r.statistic == statistic)
        .map(|r| r.value)
}
