//! The harness of the asyncua interoperability tests: the pinned version and its preflight, a
//! fresh topology with a multicast route, child processes inside a namespace whose output is
//! read line by line, and the two directions' exchanges (`to_asyncua`, `from_asyncua`).

#![allow(
    dead_code,
    reason = "shared by the test functions of asyncua_interop.rs"
)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use uadpbench_topology::Topology;

pub mod from_asyncua;
pub mod to_asyncua;

/// The asyncua release these tests (and docs/interop.md) were written against; scripts/setup.sh
/// installs exactly this one.
pub const ASYNCUA_VERSION: &str = "2.1.0";
/// Messages per exchange.
pub const COUNT: u64 = 30;
/// How long any one process may take.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// UA DateTime ticks (100 ns since 1601) at the Unix epoch.
pub const UNIX_EPOCH_TICKS: i64 = 116_444_736_000_000_000;

pub fn peer(script: &str) -> String {
    format!("{}/tests/peers/{script}", env!("CARGO_MANIFEST_DIR"))
}

/// Fails (never skips) unless this runs as root with python3 and the pinned asyncua.
pub fn preflight() {
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
pub fn topology() -> Topology {
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

pub fn unix_us_now() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    d.as_micros() as i64
}

pub enum Line {
    Out(String),
    Err(String),
}

/// A process in a namespace with its output lines collected by two threads.
pub struct Proc {
    pub what: String,
    pub child: Child,
    pub lines: mpsc::Receiver<Line>,
    pub readers: Vec<JoinHandle<()>>,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Proc {
    pub fn spawn(what: &str, ns: &str, program: &str, args: &[&str]) -> Proc {
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

    pub fn keep(&mut self, line: Line) -> Option<String> {
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
    pub fn wait_for(&mut self, needle: &str) {
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
    pub fn finish(mut self) -> (ExitStatus, String, String) {
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

pub fn forward<R: Read + Send + 'static>(
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

pub fn json_last_line(what: &str, stdout: &str) -> Value {
    let last = stdout
        .lines()
        .last()
        .unwrap_or_else(|| panic!("{what}: no output"));
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{what}: `{last}` is not JSON: {e}"))
}

/// B's address: the unicast target (`publish`) and the address bound (`subscribe`).
pub const UNICAST_URL: &str = "opc.udp://198.18.0.2:4840";
/// The SDK tutorials' multicast group.
pub const GROUP_URL: &str = "opc.udp://224.0.0.22:4840";
