//! The agent: accepts controllers, checks them, and runs the sides they ask for.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::{SinkExt, StreamExt};
use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, error, info, warn};

use crate::protocol::{
    decode, encode, framed, monotonic_ns, peek_protocol, AgentMsg, ControllerMsg, FramedStream,
    HostFacts, InterfaceFacts, SideSpec, PROTOCOL_VERSION, TOOL_VERSION,
};

/// How long a lost controller's side may take to stop and clean up before the agent logs a
/// warning about the runner (it keeps waiting: a thread cannot be killed).
pub const CLEANUP_BUDGET: Duration = Duration::from_secs(1);

/// How long a refused peer gets to finish sending before the agent closes the connection.
const REFUSE_LINGER: Duration = Duration::from_millis(500);

/// What the agent accepts.
#[derive(Clone)]
pub struct AgentConfig {
    /// Peers allowed to connect; empty allows every address. IPv4-mapped IPv6 peers are
    /// checked as IPv4.
    pub allow_from: Vec<IpNet>,
    /// Shared secret the controller must send in its hello; `None` accepts any.
    pub token: Option<String>,
    /// A controller not heard from for this long is lost: its side is stopped and cleaned up.
    /// The client pings well within it. `Duration::ZERO` disables the timeout.
    pub idle_timeout: Duration,
}

impl AgentConfig {
    /// Default idle timeout: 30 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

    /// Whether `ip` may connect.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow_from.is_empty() || self.allow_from.iter().any(|net| net.contains(&ip))
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            allow_from: Vec::new(),
            token: None,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("allow_from", &self.allow_from)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// Runs sides on the agent's host. Implemented by the bench crate.
pub trait SideRunner: Send + Sync + 'static {
    /// Prepares and starts one side and returns once it is ready (transport open), with its
    /// timed loop running on its own OS thread. The loop must stop soon after `stop` becomes
    /// true — check it at least every ~100 ms (receive timeouts) so that a lost controller's
    /// side is cleaned up within [`CLEANUP_BUDGET`].
    ///
    /// Called on a blocking thread, never on the async runtime. `Err` is a message for the
    /// controller's user.
    fn start(&self, spec: &SideSpec, stop: Arc<AtomicBool>)
        -> Result<Box<dyn RunningSide>, String>;

    /// Describes the network interface `interface` of the agent's host (its MAC, IPv4 address
    /// and MTU), for [`ControllerMsg::Describe`]. The name comes from the controller: check it
    /// before using it, and refuse interfaces the agent may not use (with the reason).
    ///
    /// Called on a blocking thread. The default refuses: a runner that starts sides on
    /// network interfaces implements it.
    fn describe(&self, interface: &str) -> Result<InterfaceFacts, String> {
        Err(format!(
            "this agent does not describe network interfaces (asked for {interface:?})"
        ))
    }
}

/// A started side.
pub trait RunningSide: Send {
    /// Waits for the side to end (the server has already set its `stop` flag), cleans up and
    /// returns its result. Called on a blocking thread.
    fn finish(self: Box<Self>) -> Result<serde_json::Value, String>;
}

struct Shared {
    config: AgentConfig,
    runner: Arc<dyn SideRunner>,
    next_side_id: AtomicU64,
}

/// Serves controllers on `listener` until `shutdown` completes, then stops every running side,
/// waits for their cleanup and returns.
///
/// Each connection is handled on its own task; a connection runs at most one side at a time.
/// Accept errors (e.g. too many open files) are logged and retried.
pub async fn serve(
    listener: TcpListener,
    config: AgentConfig,
    runner: Arc<dyn SideRunner>,
    shutdown: impl Future,
) {
    let shared = Arc::new(Shared {
        config,
        runner,
        next_side_id: AtomicU64::new(1),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let local = listener.local_addr().ok();
    info!(addr = ?local, config = ?shared.config, "agent listening");
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = Arc::clone(&shared);
                    let stop_rx = stop_rx.clone();
                    connections.spawn(handle_connection(stream, peer, shared, stop_rx));
                }
                Err(err) => {
                    warn!(%err, "accepting a controller connection failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                log_join(joined);
            }
        }
    }
    info!(
        connections = connections.len(),
        "agent shutting down: stopping running sides"
    );
    // Receivers only go away with their connections, so this cannot fail while any is open.
    let _ = stop_tx.send(true);
    while let Some(joined) = connections.join_next().await {
        log_join(joined);
    }
    info!("agent stopped");
}

fn log_join(joined: Result<(), tokio::task::JoinError>) {
    if let Err(err) = joined {
        error!(%err, "a controller connection task failed");
    }
}

/// Why a session ended.
enum End {
    Bye,
    Eof,
    Io(std::io::Error),
    Idle(Duration),
    Shutdown,
    Malformed(String),
}

impl fmt::Display for End {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Bye => f.write_str("controller said bye"),
            End::Eof => f.write_str("controller closed the connection"),
            End::Io(err) => write!(f, "connection to the controller failed: {err}"),
            End::Idle(t) => write!(f, "controller silent for {} ms", t.as_millis()),
            End::Shutdown => f.write_str("agent shutting down"),
            End::Malformed(what) => write!(f, "controller sent a malformed frame: {what}"),
        }
    }
}

/// Waits for the next frame, the idle timeout or shutdown.
async fn next_frame(
    conn: &mut FramedStream,
    idle: Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<BytesMut, End> {
    let read = async {
        if idle.is_zero() {
            Ok(conn.next().await)
        } else {
            tokio::time::timeout(idle, conn.next()).await
        }
    };
    tokio::select! {
        biased;
        _ = shutdown.wait_for(|&stop| stop) => Err(End::Shutdown),
        read = read => match read {
            Err(_) => Err(End::Idle(idle)),
            Ok(None) => Err(End::Eof),
            Ok(Some(Err(err))) => Err(End::Io(err)),
            Ok(Some(Ok(frame))) => Ok(frame),
        },
    }
}

async fn send(conn: &mut FramedStream, msg: &AgentMsg) -> Result<(), End> {
    conn.send(encode(msg)).await.map_err(End::Io)
}

/// Sends `Refused`, half-closes, and drains what the peer still sends (so that closing does
/// not reset the connection before the peer has read the reason).
async fn refuse(mut conn: FramedStream, peer: SocketAddr, reason: String) {
    warn!(%peer, %reason, "refused controller");
    let msg = AgentMsg::Refused {
        reason,
        protocol: Some(PROTOCOL_VERSION),
    };
    if conn.send(encode(&msg)).await.is_err() {
        return;
    }
    let mut stream = conn.into_inner();
    let linger = async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let mut budget = 64 * 1024;
        while budget > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => budget -= n.min(budget),
            }
        }
    };
    let _ = tokio::time::timeout(REFUSE_LINGER, linger).await;
}

/// Compares two secrets in time independent of where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// Checks the hello; `Err` is the reason to refuse.
fn check_hello(frame: &[u8], config: &AgentConfig) -> Result<String, String> {
    let hello = decode::<ControllerMsg>(frame);
    if let Some(theirs) = peek_protocol(frame) {
        if theirs != PROTOCOL_VERSION {
            let their_tool = match &hello {
                Ok(ControllerMsg::Hello { tool_version, .. }) => {
                    format!(" (uadpbench {tool_version})")
                }
                _ => String::new(),
            };
            return Err(format!(
                "protocol version mismatch: the controller speaks uadpbench agent protocol \
                 {theirs}{their_tool}, this agent speaks protocol {PROTOCOL_VERSION} \
                 (uadpbench {TOOL_VERSION}); run the same uadpbench version on both hosts"
            ));
        }
    }
    let (tool_version, token) = match hello {
        Ok(ControllerMsg::Hello {
            protocol: _,
            tool_version,
            token,
        }) => (tool_version, token),
        Ok(other) => {
            return Err(format!(
                "expected a hello as the first message, got {other:?}; connect with `uadpbench run --peer`"
            ))
        }
        Err(err) => {
            return Err(format!(
                "expected a hello as the first message ({err}); connect with `uadpbench run --peer`"
            ))
        }
    };
    if let Some(expected) = &config.token {
        match token {
            None => {
                return Err(
                    "this agent requires a token; pass the agent's token to the controller".into(),
                )
            }
            Some(given) if !constant_time_eq(given.as_bytes(), expected.as_bytes()) => {
                return Err(
                    "wrong token; pass the token the agent was started with to the controller"
                        .into(),
                )
            }
            Some(_) => {}
        }
    }
    Ok(tool_version)
}

/// Sets `stop` when dropped unless disarmed: a side whose start was abandoned still stops.
struct StopOnDrop(Option<Arc<AtomicBool>>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(stop) = self.0.take() {
            stop.store(true, Ordering::Release);
        }
    }
}

/// The side a connection runs.
struct ActiveSide {
    id: u64,
    stop: Arc<AtomicBool>,
    side: Option<Box<dyn RunningSide>>,
}

impl ActiveSide {
    /// Sets `stop` and finishes the side on a blocking thread.
    async fn finish(mut self) -> Result<serde_json::Value, String> {
        self.stop.store(true, Ordering::Release);
        let side = self.side.take().expect("an active side is finished once");
        let id = self.id;
        let started = Instant::now();
        let mut finishing = tokio::task::spawn_blocking(move || side.finish());
        let joined = match tokio::time::timeout(CLEANUP_BUDGET, &mut finishing).await {
            Ok(joined) => joined,
            Err(_) => {
                warn!(
                    side_id = id,
                    budget_ms = CLEANUP_BUDGET.as_millis() as u64,
                    "side has not finished within its cleanup budget; its runner does not check \
                     the stop flag often enough — still waiting"
                );
                finishing.await
            }
        };
        debug!(
            side_id = id,
            elapsed_us = started.elapsed().as_micros() as u64,
            "side finished"
        );
        joined
            .unwrap_or_else(|err| Err(format!("the side's runner panicked while finishing: {err}")))
    }
}

impl Drop for ActiveSide {
    fn drop(&mut self) {
        // Only reached if the connection task was cancelled between start and finish (runtime
        // torn down): stop and clean up on a plain thread.
        if let Some(side) = self.side.take() {
            self.stop.store(true, Ordering::Release);
            let id = self.id;
            let spawned = std::thread::Builder::new()
                .name(format!("agent-cleanup-{id}"))
                .spawn(move || {
                    if let Err(err) = side.finish() {
                        warn!(side_id = id, %err, "abandoned side finished with an error");
                    }
                });
            if let Err(err) = spawned {
                error!(side_id = id, %err, "cannot spawn a thread to clean up an abandoned side");
            }
        }
    }
}

async fn handle_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = framed(stream, crate::protocol::End::Agent);
    let config = &shared.config;
    if !config.allows(peer.ip()) {
        let reason = format!(
            "{} is not allowed to use this agent; add it to the agent's allow-from list",
            peer.ip().to_canonical()
        );
        refuse(conn, peer, reason).await;
        return;
    }
    let hello = match next_frame(&mut conn, config.idle_timeout, &mut shutdown).await {
        Ok(frame) => frame,
        Err(end) => {
            debug!(%peer, reason = %end, "connection ended before the hello");
            return;
        }
    };
    let controller_version = match check_hello(&hello, config) {
        Ok(version) => version,
        Err(reason) => {
            refuse(conn, peer, reason).await;
            return;
        }
    };
    let welcome = AgentMsg::Welcome {
        protocol: PROTOCOL_VERSION,
        tool_version: TOOL_VERSION.to_owned(),
        host: HostFacts::local(),
        idle_timeout_ms: config
            .idle_timeout
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX),
    };
    if send(&mut conn, &welcome).await.is_err() {
        return;
    }
    if controller_version != TOOL_VERSION {
        info!(%peer, controller = %controller_version, agent = TOOL_VERSION,
            "controller runs another uadpbench version with the same protocol");
    }
    info!(%peer, "controller connected");
    let mut active: Option<ActiveSide> = None;
    let end = session(&mut conn, &shared, &mut shutdown, &mut active).await;
    if let Some(side) = active.take() {
        let id = side.id;
        if matches!(end, End::Bye) {
            info!(%peer, side_id = id, "controller said bye with a side running; stopping it");
        } else {
            warn!(%peer, side_id = id, reason = %end, "controller lost; aborting the run");
        }
        match side.finish().await {
            Ok(_) => info!(%peer, side_id = id, "aborted side stopped and cleaned up"),
            Err(err) => warn!(%peer, side_id = id, %err, "aborted side finished with an error"),
        }
    }
    info!(%peer, reason = %end, "controller disconnected");
}

/// Answers requests until the session ends.
async fn session(
    conn: &mut FramedStream,
    shared: &Shared,
    shutdown: &mut watch::Receiver<bool>,
    active: &mut Option<ActiveSide>,
) -> End {
    loop {
        let frame = match next_frame(conn, shared.config.idle_timeout, shutdown).await {
            Ok(frame) => frame,
            Err(end) => return end,
        };
        let t2_ns = monotonic_ns();
        let msg = match decode::<ControllerMsg>(&frame) {
            Ok(msg) => msg,
            Err(err) => {
                let message =
                    format!("{err}; the controller and agent must run the same uadpbench version");
                let _ = send(
                    conn,
                    &AgentMsg::Failed {
                        message: message.clone(),
                    },
                )
                .await;
                return End::Malformed(message);
            }
        };
        let reply = match msg {
            ControllerMsg::Clock { t1_ns } => AgentMsg::ClockReply {
                t1_ns,
                t2_ns,
                t3_ns: monotonic_ns(),
            },
            ControllerMsg::Describe { interface } => describe(shared, interface).await,
            ControllerMsg::StartSide { spec } => start_side(shared, spec, active).await,
            ControllerMsg::FinishSide { side_id } => finish_side(side_id, active).await,
            ControllerMsg::Bye => return End::Bye,
            ControllerMsg::Hello { .. } => AgentMsg::Failed {
                message: "hello sent twice; the handshake is already done".into(),
            },
        };
        if let Err(end) = send(conn, &reply).await {
            return end;
        }
    }
}

async fn start_side(shared: &Shared, spec: SideSpec, active: &mut Option<ActiveSide>) -> AgentMsg {
    if let Some(side) = active {
        return AgentMsg::Failed {
            message: format!(
                "side {} is still running on this connection; finish it before starting another",
                side.id
            ),
        };
    }
    let id = shared.next_side_id.fetch_add(1, Ordering::Relaxed);
    let stop = Arc::new(AtomicBool::new(false));
    let mut guard = StopOnDrop(Some(Arc::clone(&stop)));
    let runner = Arc::clone(&shared.runner);
    let role = spec.role;
    let started = {
        let stop = Arc::clone(&stop);
        tokio::task::spawn_blocking(move || runner.start(&spec, stop)).await
    };
    match started {
        Ok(Ok(side)) => {
            guard.0 = None;
            info!(side_id = id, ?role, "side started");
            *active = Some(ActiveSide {
                id,
                stop,
                side: Some(side),
            });
            AgentMsg::Started { side_id: id }
        }
        Ok(Err(message)) => {
            warn!(side_id = id, ?role, %message, "side failed to start");
            AgentMsg::Failed { message }
        }
        Err(err) => AgentMsg::Failed {
            message: format!("the side's runner panicked while starting: {err}"),
        },
    }
}

async fn describe(shared: &Shared, interface: String) -> AgentMsg {
    let runner = Arc::clone(&shared.runner);
    let described = {
        let interface = interface.clone();
        tokio::task::spawn_blocking(move || runner.describe(&interface)).await
    };
    match described {
        Ok(Ok(facts)) => AgentMsg::Interface(facts),
        Ok(Err(message)) => {
            warn!(%interface, %message, "cannot describe the interface");
            AgentMsg::Failed { message }
        }
        Err(err) => AgentMsg::Failed {
            message: format!("the side's runner panicked while describing {interface:?}: {err}"),
        },
    }
}

async fn finish_side(side_id: u64, active: &mut Option<ActiveSide>) -> AgentMsg {
    match active.take() {
        Some(side) if side.id == side_id => match side.finish().await {
            Ok(result) => {
                info!(side_id, "side finished");
                AgentMsg::SideFinished { side_id, result }
            }
            Err(message) => AgentMsg::Failed { message },
        },
        Some(side) => {
            let message = format!(
                "side {side_id} is not running here (this connection runs side {})",
                side.id
            );
            *active = Some(side);
            AgentMsg::Failed { message }
        }
        None => AgentMsg::Failed {
            message: format!(
                "side {side_id} is not running on this connection; start a side first"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn allow_from_checks_canonical_addresses() {
        let mut config = AgentConfig::default();
        assert!(config.allows("203.0.113.9".parse().unwrap()));
        config.allow_from = vec!["198.18.0.0/15".parse().unwrap()];
        assert!(config.allows("198.19.1.2".parse().unwrap()));
        assert!(config.allows("::ffff:198.18.0.1".parse().unwrap()));
        assert!(!config.allows("127.0.0.1".parse().unwrap()));
        assert!(!config.allows("::1".parse().unwrap()));
    }

    #[test]
    fn hello_checks() {
        let config = AgentConfig {
            token: Some("tok".into()),
            ..AgentConfig::default()
        };
        let hello = |protocol, token: Option<&str>| {
            encode(&ControllerMsg::Hello {
                protocol,
                tool_version: "9.9.9".into(),
                token: token.map(str::to_owned),
            })
        };
        assert_eq!(
            check_hello(&hello(PROTOCOL_VERSION, Some("tok")), &config).unwrap(),
            "9.9.9"
        );
        assert!(check_hello(&hello(PROTOCOL_VERSION, None), &config)
            .unwrap_err()
            .contains("requires a token"));
        assert!(check_hello(&hello(PROTOCOL_VERSION, Some("x")), &config)
            .unwrap_err()
            .contains("wrong token"));
        let mismatch = check_hello(&hello(PROTOCOL_VERSION + 1, Some("tok")), &config).unwrap_err();
        assert!(
            mismatch.contains(&format!("protocol {}", PROTOCOL_VERSION + 1)),
            "{mismatch}"
        );
        assert!(mismatch.contains("uadpbench 9.9.9"), "{mismatch}");
        assert!(check_hello(b"{}", &config)
            .unwrap_err()
            .contains("expected a hello"));
        assert!(check_hello(&encode(&ControllerMsg::Bye), &config)
            .unwrap_err()
            .contains("expected a hello"));
    }
}
