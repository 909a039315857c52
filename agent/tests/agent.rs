//! The agent and its client over 127.0.0.1, with a fake runner whose side is a thread looping
//! until its stop flag is set.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use uadpbench_agent::protocol::{decode, encode, framed, End};
use uadpbench_agent::{
    serve, AgentClient, AgentConfig, AgentError, AgentMsg, BlockingAgentClient, ClientOptions,
    ControllerMsg, HostFacts, InterfaceFacts, Role, RunningSide, SideRunner, SideSpec,
    PROTOCOL_VERSION, TOOL_VERSION,
};

/// What the fake runner reports.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Started(Role),
    /// `finish` joined the side's thread.
    Finished {
        iterations: u64,
    },
    /// The side was dropped without `finish`: the server's cleanup path did not run.
    DroppedUnfinished,
}

struct FakeRunner {
    events: mpsc::UnboundedSender<Event>,
}

impl SideRunner for FakeRunner {
    fn start(
        &self,
        spec: &SideSpec,
        stop: Arc<AtomicBool>,
    ) -> Result<Box<dyn RunningSide>, String> {
        if let Some(message) = spec.params.get("fail").and_then(|m| m.as_str()) {
            return Err(message.to_owned());
        }
        let thread = std::thread::spawn(move || {
            let mut iterations = 0u64;
            while !stop.load(Ordering::Acquire) {
                iterations += 1;
                std::thread::sleep(Duration::from_millis(1));
            }
            iterations
        });
        let _ = self.events.send(Event::Started(spec.role));
        Ok(Box::new(FakeSide {
            thread: Some(thread),
            role: spec.role,
            events: self.events.clone(),
        }))
    }

    fn describe(&self, interface: &str) -> Result<InterfaceFacts, String> {
        match interface {
            "veth-far" => Ok(far_interface()),
            other => Err(format!("no interface {other:?} here; check `ip link`")),
        }
    }
}

fn far_interface() -> InterfaceFacts {
    InterfaceFacts {
        name: "veth-far".into(),
        ifindex: 7,
        mac: "02:75:62:00:00:02".into(),
        ipv4: Some(Ipv4Addr::new(198, 18, 0, 2)),
        mtu: 1500,
        timestamping: None,
    }
}

/// A runner that keeps the trait's default `describe`.
struct NoDescribeRunner;

impl SideRunner for NoDescribeRunner {
    fn start(&self, _: &SideSpec, _: Arc<AtomicBool>) -> Result<Box<dyn RunningSide>, String> {
        Err("starts nothing".into())
    }
}

struct FakeSide {
    thread: Option<JoinHandle<u64>>,
    role: Role,
    events: mpsc::UnboundedSender<Event>,
}

impl RunningSide for FakeSide {
    fn finish(mut self: Box<Self>) -> Result<serde_json::Value, String> {
        let thread = self.thread.take().expect("finished once");
        let iterations = thread
            .join()
            .map_err(|_| "side thread panicked".to_owned())?;
        let _ = self.events.send(Event::Finished { iterations });
        Ok(json!({ "role": self.role, "iterations": iterations }))
    }
}

impl Drop for FakeSide {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.events.send(Event::DroppedUnfinished);
        }
    }
}

struct Agent {
    addr: String,
    events: mpsc::UnboundedReceiver<Event>,
    shutdown: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    async fn start(config: AgentConfig) -> Agent {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, events) = mpsc::unbounded_channel();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        let runner = Arc::new(FakeRunner { events: tx });
        let task = tokio::spawn(serve(listener, config, runner, async {
            let _ = shutdown_rx.await;
        }));
        Agent {
            addr,
            events,
            shutdown: Some(shutdown_tx),
            task,
        }
    }

    async fn next_event(&mut self, within: Duration) -> Option<Event> {
        tokio::time::timeout(within, self.events.recv())
            .await
            .ok()
            .flatten()
    }

    async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .expect("the agent stops within 3 s")
            .unwrap();
    }
}

fn reflector() -> SideSpec {
    SideSpec {
        role: Role::Reflector,
        params: json!({"path": "udp"}),
    }
}

const WAIT: Duration = Duration::from_secs(3);

/// Host facts without the clock reads that differ from one moment to the next.
fn without_clock_reads(h: &HostFacts) -> HostFacts {
    let mut h = h.clone();
    if let Some(t) = h.time_sync.as_mut() {
        t.tai_minus_monotonic_ns = 0;
        t.read_width_ns = 0;
        t.maxerror_us = 0;
    }
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_reports_host_facts() {
    let agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    let local = HostFacts::local();
    assert_eq!(
        without_clock_reads(client.host()),
        without_clock_reads(&local)
    );
    // The clock facts travel too; CLOCK_TAI − CLOCK_MONOTONIC agrees up to the reads' error
    // (one kernel).
    let (theirs, ours) = (
        client.host().time_sync.clone().expect("agent's time sync"),
        local.time_sync.clone().expect("local time sync"),
    );
    assert!(
        (theirs.tai_minus_monotonic_ns - ours.tai_minus_monotonic_ns).unsigned_abs()
            <= theirs.read_width_ns + ours.read_width_ns + 1_000,
        "{theirs:?} vs {ours:?}"
    );
    assert!(!client.host().hostname.is_empty());
    assert!(!client.host().kernel_release.is_empty());
    assert!(client.host().online_cpus >= 1);
    assert_eq!(client.agent_tool_version(), TOOL_VERSION);
    client.bye().await.unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_refuses_other_protocol_version() {
    let agent = Agent::start(AgentConfig::default()).await;
    let stream = tokio::net::TcpStream::connect(&agent.addr).await.unwrap();
    let mut conn = framed(stream, End::Controller);
    let theirs = PROTOCOL_VERSION + 1;
    conn.send(encode(&ControllerMsg::Hello {
        protocol: theirs,
        tool_version: "9.9.9".into(),
        token: None,
    }))
    .await
    .unwrap();
    let frame = conn.next().await.unwrap().unwrap();
    let AgentMsg::Refused { reason, protocol } = decode(&frame).unwrap() else {
        panic!("expected refused, got {}", String::from_utf8_lossy(&frame));
    };
    assert_eq!(protocol, Some(PROTOCOL_VERSION));
    assert!(reason.contains(&format!("protocol {theirs}")), "{reason}");
    assert!(
        reason.contains(&format!("protocol {PROTOCOL_VERSION}")),
        "{reason}"
    );
    assert!(
        reason.contains("run the same uadpbench version on both hosts"),
        "{reason}"
    );
    // Then the agent closes.
    assert!(matches!(conn.next().await, None | Some(Err(_))));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_reports_version_mismatch() {
    // A future agent whose welcome this version cannot parse.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let fake = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut conn = framed(stream, End::Agent);
        let _hello = conn.next().await.unwrap().unwrap();
        let welcome =
            json!({"type": "welcome", "protocol": PROTOCOL_VERSION + 1, "shape": ["new"]});
        conn.send(encode(&welcome)).await.unwrap();
    });
    let err = AgentClient::connect(&addr, None).await.unwrap_err();
    match &err {
        AgentError::VersionMismatch { ours, theirs } => {
            assert_eq!(*ours, PROTOCOL_VERSION);
            assert_eq!(*theirs, PROTOCOL_VERSION + 1);
        }
        other => panic!("expected a version mismatch, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)),
        "{text}"
    );
    assert!(
        text.contains(&format!("protocol {PROTOCOL_VERSION}")),
        "{text}"
    );
    assert!(text.contains("same uadpbench version"), "{text}");
    fake.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_or_missing_token_refused() {
    let agent = Agent::start(AgentConfig {
        token: Some("s3cret".into()),
        ..AgentConfig::default()
    })
    .await;
    match AgentClient::connect(&agent.addr, Some("guess".into())).await {
        Err(AgentError::Refused(reason)) => assert!(reason.contains("wrong token"), "{reason}"),
        other => panic!("expected refused, got {other:?}"),
    }
    match AgentClient::connect(&agent.addr, None).await {
        Err(AgentError::Refused(reason)) => {
            assert!(reason.contains("requires a token"), "{reason}")
        }
        other => panic!("expected refused, got {other:?}"),
    }
    let client = AgentClient::connect(&agent.addr, Some("s3cret".into()))
        .await
        .unwrap();
    client.bye().await.unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_outside_allow_from_refused() {
    let mut agent = Agent::start(AgentConfig {
        allow_from: vec!["198.18.0.0/15".parse().unwrap()],
        ..AgentConfig::default()
    })
    .await;
    let err = AgentClient::connect(&agent.addr, None).await.unwrap_err();
    let AgentError::Refused(reason) = &err else {
        panic!("expected refused, got {err}");
    };
    assert!(reason.contains("127.0.0.1"), "{reason}");
    assert!(reason.contains("allow-from"), "{reason}");
    assert!(err.to_string().contains("refused"), "{err}");
    assert_eq!(agent.events.try_recv().ok(), None);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_runs_on_one_connection() {
    let mut agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = client.start_side(reflector()).await.unwrap();
        assert_eq!(
            agent.next_event(WAIT).await,
            Some(Event::Started(Role::Reflector))
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        let result = client.finish_side(id).await.unwrap();
        assert_eq!(result["role"], "reflector");
        assert!(result["iterations"].as_u64().unwrap() >= 1, "{result}");
        assert!(matches!(
            agent.next_event(WAIT).await,
            Some(Event::Finished { .. })
        ));
        ids.push(id);
    }
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "side ids are distinct: {ids:?}"
    );
    client.bye().await.unwrap();
    assert_eq!(agent.events.try_recv().ok(), None);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_side_at_a_time_and_failures_keep_the_connection() {
    let mut agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();

    let failing = SideSpec {
        role: Role::Subscriber,
        params: json!({"fail": "no such interface; pass --peer-iface"}),
    };
    match client.start_side(failing).await {
        Err(AgentError::Failed { message, .. }) => {
            assert_eq!(message, "no such interface; pass --peer-iface")
        }
        other => panic!("expected failed, got {other:?}"),
    }

    let id = client.start_side(reflector()).await.unwrap();
    match client.start_side(reflector()).await {
        Err(AgentError::Failed { message, .. }) => {
            assert!(message.contains("still running"), "{message}")
        }
        other => panic!("expected failed, got {other:?}"),
    }
    match client.finish_side(id + 1000).await {
        Err(AgentError::Failed { message, .. }) => {
            assert!(message.contains("not running"), "{message}")
        }
        other => panic!("expected failed, got {other:?}"),
    }
    client.finish_side(id).await.unwrap();
    assert_eq!(
        agent.next_event(WAIT).await,
        Some(Event::Started(Role::Reflector))
    );
    assert!(matches!(
        agent.next_event(WAIT).await,
        Some(Event::Finished { .. })
    ));
    client.bye().await.unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_controller_stops_the_side() {
    let mut agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    client.start_side(reflector()).await.unwrap();
    assert_eq!(
        agent.next_event(WAIT).await,
        Some(Event::Started(Role::Reflector))
    );
    tokio::time::sleep(Duration::from_millis(20)).await;

    let dropped = Instant::now();
    drop(client);
    let event = agent.next_event(WAIT).await;
    let elapsed = dropped.elapsed();
    // `Finished` is sent by `finish` after joining the thread: the server's cleanup path ran.
    assert!(
        matches!(event, Some(Event::Finished { iterations }) if iterations >= 1),
        "{event:?}"
    );
    assert!(elapsed < WAIT, "cleanup took {elapsed:?}");
    eprintln!("controller dropped -> side thread joined: {elapsed:?}");
    assert_eq!(agent.events.try_recv().ok(), None);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bye_with_a_running_side_stops_it() {
    let mut agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    client.start_side(reflector()).await.unwrap();
    assert_eq!(
        agent.next_event(WAIT).await,
        Some(Event::Started(Role::Reflector))
    );
    // bye returns once the agent closed, which it does after cleaning up.
    client.bye().await.unwrap();
    assert!(matches!(
        agent.events.try_recv().ok(),
        Some(Event::Finished { .. })
    ));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_controller_is_dropped_after_the_idle_timeout() {
    let mut agent = Agent::start(AgentConfig {
        idle_timeout: Duration::from_millis(300),
        ..AgentConfig::default()
    })
    .await;
    let client = AgentClient::connect_with(
        &agent.addr,
        ClientOptions {
            keepalive: false,
            ..ClientOptions::default()
        },
    )
    .await
    .unwrap();
    let id = client.start_side(reflector()).await.unwrap();
    assert_eq!(
        agent.next_event(WAIT).await,
        Some(Event::Started(Role::Reflector))
    );
    let event = agent.next_event(WAIT).await;
    assert!(matches!(event, Some(Event::Finished { .. })), "{event:?}");
    let err = client.finish_side(id).await.unwrap_err();
    assert!(
        matches!(err, AgentError::Closed { .. } | AgentError::Io { .. }),
        "{err}"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_carries_a_run_past_the_idle_timeout() {
    let mut agent = Agent::start(AgentConfig {
        idle_timeout: Duration::from_millis(1000),
        ..AgentConfig::default()
    })
    .await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    let id = client.start_side(reflector()).await.unwrap();
    assert_eq!(
        agent.next_event(WAIT).await,
        Some(Event::Started(Role::Reflector))
    );
    // Two and a half idle timeouts; pings every 250 ms leave 500 ms of scheduling slack.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        agent.events.try_recv().ok(),
        None,
        "the side is still running"
    );
    let result = client.finish_side(id).await.unwrap();
    assert!(result["iterations"].as_u64().unwrap() >= 1);
    client.bye().await.unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_offset_against_the_same_host() {
    let agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    let estimate = client.clock_offset(32).await.unwrap();
    assert_eq!(estimate.samples, 32);
    assert!(estimate.uncertainty_ns > 0, "{estimate:?}");
    assert!(estimate.min_rtt_ns > 0, "{estimate:?}");
    assert!(
        estimate.offset_ns.unsigned_abs() <= estimate.uncertainty_ns + 50_000,
        "{estimate:?}"
    );
    client.bye().await.unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_running_sides() {
    let mut agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    client.start_side(reflector()).await.unwrap();
    assert_eq!(
        agent.next_event(WAIT).await,
        Some(Event::Started(Role::Reflector))
    );
    let _ = agent.shutdown.take().unwrap().send(());
    tokio::time::timeout(WAIT, &mut agent.task)
        .await
        .expect("the agent stops within 3 s")
        .unwrap();
    assert!(matches!(
        agent.events.try_recv().ok(),
        Some(Event::Finished { .. })
    ));
    assert!(client.clock_offset(1).await.is_err());
}

#[test]
fn blocking_client_runs_a_side() {
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let mut agent = server_rt.block_on(Agent::start(AgentConfig {
        idle_timeout: Duration::from_millis(1000),
        ..AgentConfig::default()
    }));
    let client = BlockingAgentClient::connect(&agent.addr, None).unwrap();
    assert_eq!(
        without_clock_reads(client.host()),
        without_clock_reads(&HostFacts::local())
    );
    let estimate = client.clock_offset(4).unwrap();
    assert!(estimate.offset_ns.unsigned_abs() <= estimate.uncertainty_ns + 50_000);
    let id = client.start_side(reflector()).unwrap();
    // Outside any runtime call: the client's own runtime keeps the connection alive.
    std::thread::sleep(Duration::from_millis(2500));
    let result = client.finish_side(id).unwrap();
    assert_eq!(result["role"], "reflector");
    client.bye().unwrap();
    server_rt.block_on(async {
        assert_eq!(
            agent.next_event(WAIT).await,
            Some(Event::Started(Role::Reflector))
        );
        assert!(matches!(
            agent.next_event(WAIT).await,
            Some(Event::Finished { .. })
        ));
        agent.stop().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_answers_interface_facts_and_failures_keep_the_connection() {
    let agent = Agent::start(AgentConfig::default()).await;
    let client = AgentClient::connect(&agent.addr, None).await.unwrap();
    let facts = client.describe("veth-far").await.unwrap();
    assert_eq!(facts, far_interface());
    assert_eq!(facts.mac_bytes(), Some([0x02, 0x75, 0x62, 0, 0, 2]));
    match client.describe("eth9").await {
        Err(AgentError::Failed { message, context }) => {
            assert!(message.contains("no interface \"eth9\""), "{message}");
            assert!(context.contains("eth9"), "{context}");
        }
        other => panic!("expected failed, got {other:?}"),
    }
    // Still in step: the next requests work.
    assert_eq!(client.describe("veth-far").await.unwrap(), far_interface());
    client.clock_offset(2).await.unwrap();
    client.bye().await.unwrap();
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_on_a_runner_without_it_fails_cleanly() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        AgentConfig::default(),
        Arc::new(NoDescribeRunner),
        async {
            let _ = shutdown_rx.await;
        },
    ));
    let client = AgentClient::connect(&addr, None).await.unwrap();
    match client.describe("eth0").await {
        Err(AgentError::Failed { message, .. }) => {
            assert!(message.contains("does not describe"), "{message}")
        }
        other => panic!("expected failed, got {other:?}"),
    }
    client.clock_offset(1).await.unwrap();
    client.bye().await.unwrap();
    let _ = shutdown_tx.send(());
    tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
}

#[test]
fn blocking_client_describes_and_is_shareable_between_threads() {
    fn assert_sync<T: Sync + Send>() {}
    assert_sync::<BlockingAgentClient>();
    let server_rt = tokio::runtime::Runtime::new().unwrap();
    let agent = server_rt.block_on(Agent::start(AgentConfig::default()));
    let client = BlockingAgentClient::connect(&agent.addr, None).unwrap();
    assert_eq!(client.peer().to_string(), agent.addr);
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            for _ in 0..20 {
                client.clock_offset(1).unwrap();
            }
        });
        for _ in 0..20 {
            assert_eq!(client.describe("veth-far").unwrap(), far_interface());
        }
        watcher.join().unwrap();
    });
    client.bye().unwrap();
    server_rt.block_on(agent.stop());
}
