//! The controller's side: a connection to one agent.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::protocol::{
    decode, encode, framed, monotonic_ns, peek_protocol, AgentMsg, ControllerMsg, FramedStream,
    HostFacts, InterfaceFacts, SideSpec, PROTOCOL_VERSION, TOOL_VERSION,
};

/// What can go wrong talking to an agent. Every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The address did not resolve or no address accepted the connection.
    #[error(
        "cannot connect to the uadpbench agent at {addr}: {source}; check that `uadpbench agent \
         --listen` runs there and that no firewall blocks the port"
    )]
    Connect {
        /// The address as given.
        addr: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The agent refused the connection.
    #[error("the uadpbench agent refused the connection: {0}")]
    Refused(String),
    /// The agent speaks another protocol version.
    #[error(
        "the uadpbench agent speaks protocol {theirs}, this controller speaks protocol {ours}; \
         run the same uadpbench version on both hosts"
    )]
    VersionMismatch {
        /// This crate's [`PROTOCOL_VERSION`].
        ours: u32,
        /// The agent's.
        theirs: u32,
    },
    /// Reading from or writing to the connection failed.
    #[error("talking to the uadpbench agent failed while {context}: {source}; check the network between the hosts and the agent's log")]
    Io {
        /// What the client was doing.
        context: String,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The agent closed the connection.
    #[error("the uadpbench agent closed the connection while {context}; see the agent's log")]
    Closed {
        /// What the client was doing.
        context: String,
    },
    /// The agent did not answer in time.
    #[error("the uadpbench agent did not answer within {} s while {context}; check that it still runs and the network between the hosts", .after.as_secs_f64())]
    Timeout {
        /// What the client was doing.
        context: String,
        /// How long it waited.
        after: Duration,
    },
    /// The agent answered something this protocol does not expect.
    #[error("the uadpbench agent answered unexpectedly while {context}: {detail}; run the same uadpbench version on both hosts")]
    Protocol {
        /// What the client was doing.
        context: String,
        /// What came.
        detail: String,
    },
    /// The agent could not do what was asked (its message says why).
    #[error("the uadpbench agent could not complete the request while {context}: {message}")]
    Failed {
        /// What the client was doing.
        context: String,
        /// The agent's message.
        message: String,
    },
    /// An earlier request on this connection failed half-way; the connection cannot be
    /// trusted to be in step any more.
    #[error("the connection to the uadpbench agent is unusable after an earlier failure ({0}); connect again")]
    Broken(String),
}

/// Options of [`AgentClient::connect_with`].
#[derive(Clone)]
pub struct ClientOptions {
    /// The agent's token, if it requires one.
    pub token: Option<String>,
    /// Limit for establishing the TCP connection and the handshake.
    pub connect_timeout: Duration,
    /// Limit for one request (`StartSide` and `FinishSide` may open or close transports,
    /// load programs, join threads).
    pub request_timeout: Duration,
    /// Send `Clock` pings while idle, so that the agent does not take this controller for
    /// lost during a long run (every quarter of the idle timeout the agent announces, so
    /// that no silence exceeds half of it).
    pub keepalive: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            token: None,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
            keepalive: true,
        }
    }
}

impl fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientOptions")
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("keepalive", &self.keepalive)
            .finish()
    }
}

/// The agent's clock relative to the controller's, both CLOCK_MONOTONIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockEstimate {
    /// Agent clock minus controller clock, ns: an agent timestamp minus this is on the
    /// controller's axis.
    pub offset_ns: i64,
    /// Half the round trip of the sample chosen: the true offset lies within
    /// `offset_ns ± uncertainty_ns`.
    pub uncertainty_ns: u64,
    /// The smallest round trip seen (network time without the agent's processing), ns.
    pub min_rtt_ns: u64,
    /// Samples taken.
    pub samples: usize,
}

impl ClockEstimate {
    /// The NTP estimate of one exchange: `t1` controller send, `t2` agent receive, `t3` agent
    /// send, `t4` controller receive. Returns (offset, round trip without the agent's time).
    pub fn sample(t1: u64, t2: u64, t3: u64, t4: u64) -> (i64, u64) {
        let (t1, t2, t3, t4) = (t1 as i128, t2 as i128, t3 as i128, t4 as i128);
        let offset = ((t2 - t1) + (t3 - t4)) / 2;
        let rtt = ((t4 - t1) - (t3 - t2)).max(0);
        (
            offset.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            rtt.min(u64::MAX as i128) as u64,
        )
    }
}

struct Conn {
    framed: FramedStream,
    last_sent: Instant,
    /// Set when a request failed or was abandoned half-way.
    broken: Option<String>,
}

impl Conn {
    /// One request, one answer.
    async fn round_trip(
        &mut self,
        msg: &ControllerMsg,
        context: &str,
        limit: Duration,
    ) -> Result<AgentMsg, AgentError> {
        if let Some(why) = &self.broken {
            return Err(AgentError::Broken(why.clone()));
        }
        // Marked broken until the answer is in: a cancelled or failed request leaves the
        // stream out of step.
        self.broken = Some(format!("request cancelled while {context}"));
        let result = self.exchange(msg, context, limit).await;
        match &result {
            Ok(_) => self.broken = None,
            Err(err) => self.broken = Some(err.to_string()),
        }
        result
    }

    async fn exchange(
        &mut self,
        msg: &ControllerMsg,
        context: &str,
        limit: Duration,
    ) -> Result<AgentMsg, AgentError> {
        self.framed
            .send(encode(msg))
            .await
            .map_err(|source| AgentError::Io {
                context: context.to_owned(),
                source,
            })?;
        self.last_sent = Instant::now();
        let frame = match tokio::time::timeout(limit, self.framed.next()).await {
            Err(_) => {
                return Err(AgentError::Timeout {
                    context: context.to_owned(),
                    after: limit,
                })
            }
            Ok(None) => {
                return Err(AgentError::Closed {
                    context: context.to_owned(),
                })
            }
            Ok(Some(Err(source))) => {
                return Err(AgentError::Io {
                    context: context.to_owned(),
                    source,
                })
            }
            Ok(Some(Ok(frame))) => frame,
        };
        decode::<AgentMsg>(&frame).map_err(|err| AgentError::Protocol {
            context: context.to_owned(),
            detail: err.to_string(),
        })
    }
}

/// A connection to one agent, handshake done. Requests go one at a time; with keep-alive on
/// (the default) a background task pings the agent while the connection is idle, so the
/// client must live on a runtime that keeps running (multi-threaded, or
/// [`BlockingAgentClient`](crate::BlockingAgentClient)).
///
/// Dropping the client closes the connection; the agent then stops and cleans up a side still
/// running.
pub struct AgentClient {
    conn: Arc<Mutex<Conn>>,
    peer: SocketAddr,
    host: HostFacts,
    agent_tool_version: String,
    request_timeout: Duration,
    keepalive: Option<JoinHandle<()>>,
}

impl fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentClient")
            .field("peer", &self.peer)
            .field("host", &self.host)
            .field("agent_tool_version", &self.agent_tool_version)
            .finish_non_exhaustive()
    }
}

impl AgentClient {
    /// Connects to the agent at `addr` (`host:port`) and does the handshake, with default
    /// [`ClientOptions`] and `token`.
    pub async fn connect(addr: &str, token: Option<String>) -> Result<AgentClient, AgentError> {
        Self::connect_with(
            addr,
            ClientOptions {
                token,
                ..ClientOptions::default()
            },
        )
        .await
    }

    /// Connects to the agent at `addr` (`host:port`) and does the handshake.
    pub async fn connect_with(
        addr: &str,
        options: ClientOptions,
    ) -> Result<AgentClient, AgentError> {
        let limit = options.connect_timeout;
        let stream = match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(AgentError::Connect {
                    addr: addr.to_owned(),
                    source: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no connection within {} s", limit.as_secs_f64()),
                    ),
                })
            }
            Ok(Err(source)) => {
                return Err(AgentError::Connect {
                    addr: addr.to_owned(),
                    source,
                })
            }
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let peer = stream.peer_addr().map_err(|source| AgentError::Connect {
            addr: addr.to_owned(),
            source,
        })?;
        let mut conn = framed(stream, crate::protocol::End::Controller);
        let hello = ControllerMsg::Hello {
            protocol: PROTOCOL_VERSION,
            tool_version: TOOL_VERSION.to_owned(),
            token: options.token.clone(),
        };
        let context = "greeting the agent";
        let io_err = |source| AgentError::Io {
            context: context.to_owned(),
            source,
        };
        conn.send(encode(&hello)).await.map_err(io_err)?;
        let frame = match tokio::time::timeout(limit, conn.next()).await {
            Err(_) => {
                return Err(AgentError::Timeout {
                    context: context.to_owned(),
                    after: limit,
                })
            }
            Ok(None) => {
                return Err(AgentError::Closed {
                    context: context.to_owned(),
                })
            }
            Ok(Some(Err(source))) => return Err(io_err(source)),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Some(theirs) = peek_protocol(&frame) {
            if theirs != PROTOCOL_VERSION {
                return Err(AgentError::VersionMismatch {
                    ours: PROTOCOL_VERSION,
                    theirs,
                });
            }
        }
        let welcome = decode::<AgentMsg>(&frame).map_err(|err| AgentError::Protocol {
            context: context.to_owned(),
            detail: err.to_string(),
        })?;
        let (agent_tool_version, host, idle_timeout_ms) = match welcome {
            AgentMsg::Welcome {
                protocol: _,
                tool_version,
                host,
                idle_timeout_ms,
            } => (tool_version, host, idle_timeout_ms),
            AgentMsg::Refused { reason, .. } => return Err(AgentError::Refused(reason)),
            other => {
                return Err(AgentError::Protocol {
                    context: context.to_owned(),
                    detail: format!("expected a welcome, got {other:?}"),
                })
            }
        };
        debug!(%peer, ?host, agent = %agent_tool_version, idle_timeout_ms, "connected to agent");
        let conn = Arc::new(Mutex::new(Conn {
            framed: conn,
            last_sent: Instant::now(),
            broken: None,
        }));
        let keepalive = (options.keepalive && idle_timeout_ms > 0).then(|| {
            let every = Duration::from_millis(idle_timeout_ms) / 4;
            tokio::spawn(keepalive(
                Arc::downgrade(&conn),
                every,
                options.request_timeout,
            ))
        });
        Ok(AgentClient {
            conn,
            peer,
            host,
            agent_tool_version,
            request_timeout: options.request_timeout,
            keepalive,
        })
    }

    /// The agent's host.
    pub fn host(&self) -> &HostFacts {
        &self.host
    }

    /// The uadpbench version the agent runs.
    pub fn agent_tool_version(&self) -> &str {
        &self.agent_tool_version
    }

    /// The agent's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    async fn request(&self, msg: &ControllerMsg, context: &str) -> Result<AgentMsg, AgentError> {
        let mut conn = self.conn.lock().await;
        conn.round_trip(msg, context, self.request_timeout).await
    }

    /// Estimates the agent's clock offset NTP-style from `samples` exchanges (at least one),
    /// keeping the one with the smallest round trip.
    pub async fn clock_offset(&self, samples: usize) -> Result<ClockEstimate, AgentError> {
        let samples = samples.max(1);
        let mut conn = self.conn.lock().await;
        let mut best: Option<(i64, u64)> = None;
        for _ in 0..samples {
            let (offset, rtt) = clock_sample(&mut conn, self.request_timeout).await?;
            if best.is_none_or(|(_, best_rtt)| rtt < best_rtt) {
                best = Some((offset, rtt));
            }
        }
        let (offset_ns, min_rtt_ns) = best.expect("at least one sample");
        Ok(ClockEstimate {
            offset_ns,
            uncertainty_ns: min_rtt_ns.div_ceil(2),
            min_rtt_ns,
            samples,
        })
    }

    /// Describes the network interface `interface` of the agent's host (MAC, IPv4, MTU).
    pub async fn describe(&self, interface: &str) -> Result<InterfaceFacts, AgentError> {
        let context = format!("describing the agent's interface {interface:?}");
        match self
            .request(
                &ControllerMsg::Describe {
                    interface: interface.to_owned(),
                },
                &context,
            )
            .await?
        {
            AgentMsg::Interface(facts) => Ok(facts),
            other => Err(unexpected(other, context)),
        }
    }

    /// Starts a side on the agent; returns once it is ready.
    pub async fn start_side(&self, spec: SideSpec) -> Result<u64, AgentError> {
        let context = format!("starting a {:?} side", spec.role);
        match self
            .request(&ControllerMsg::StartSide { spec }, &context)
            .await?
        {
            AgentMsg::Started { side_id } => Ok(side_id),
            other => Err(unexpected(other, context)),
        }
    }

    /// Stops the side and returns its result.
    pub async fn finish_side(&self, side_id: u64) -> Result<serde_json::Value, AgentError> {
        let context = format!("finishing side {side_id}");
        match self
            .request(&ControllerMsg::FinishSide { side_id }, &context)
            .await?
        {
            AgentMsg::SideFinished {
                side_id: id,
                result,
            } if id == side_id => Ok(result),
            other => Err(unexpected(other, context)),
        }
    }

    /// Ends the session: the agent stops a side still running and closes the connection. Waits
    /// (up to the request timeout) until it has.
    pub async fn bye(mut self) -> Result<(), AgentError> {
        if let Some(task) = self.keepalive.take() {
            task.abort();
        }
        let context = "saying bye";
        let mut conn = self.conn.lock().await;
        if let Some(why) = &conn.broken {
            return Err(AgentError::Broken(why.clone()));
        }
        conn.framed
            .send(encode(&ControllerMsg::Bye))
            .await
            .map_err(|source| AgentError::Io {
                context: context.to_owned(),
                source,
            })?;
        let closed = async {
            match conn.framed.next().await {
                None | Some(Err(_)) => Ok(()),
                Some(Ok(frame)) => Err(AgentError::Protocol {
                    context: context.to_owned(),
                    detail: format!(
                        "expected the connection to close, got {}",
                        String::from_utf8_lossy(&frame)
                    ),
                }),
            }
        };
        match tokio::time::timeout(self.request_timeout, closed).await {
            Ok(result) => result,
            Err(_) => Err(AgentError::Timeout {
                context: context.to_owned(),
                after: self.request_timeout,
            }),
        }
    }
}

impl Drop for AgentClient {
    fn drop(&mut self) {
        if let Some(task) = self.keepalive.take() {
            task.abort();
        }
    }
}

fn unexpected(msg: AgentMsg, context: String) -> AgentError {
    match msg {
        AgentMsg::Failed { message } => AgentError::Failed { context, message },
        other => AgentError::Protocol {
            context,
            detail: format!("{other:?}"),
        },
    }
}

/// One clock exchange: (offset, round trip).
async fn clock_sample(conn: &mut Conn, limit: Duration) -> Result<(i64, u64), AgentError> {
    let context = "measuring the clock offset";
    let t1 = monotonic_ns();
    let reply = conn
        .round_trip(&ControllerMsg::Clock { t1_ns: t1 }, context, limit)
        .await?;
    let t4 = monotonic_ns();
    match reply {
        AgentMsg::ClockReply {
            t1_ns,
            t2_ns,
            t3_ns,
        } if t1_ns == t1 => Ok(ClockEstimate::sample(t1, t2_ns, t3_ns, t4)),
        other => {
            let err = unexpected(other, context.to_owned());
            conn.broken = Some(err.to_string());
            Err(err)
        }
    }
}

/// Pings the agent whenever nothing was sent for `every`; ends with the client or the
/// connection.
async fn keepalive(conn: Weak<Mutex<Conn>>, every: Duration, limit: Duration) {
    let every = every.max(Duration::from_millis(10));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(conn) = conn.upgrade() else { return };
        let mut conn = conn.lock().await;
        if conn.broken.is_some() {
            return;
        }
        if conn.last_sent.elapsed() < every {
            continue;
        }
        if let Err(err) = clock_sample(&mut conn, limit).await {
            debug!(%err, "keep-alive ping failed; the next request will report the error");
            return;
        }
    }
}
