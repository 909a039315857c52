//! # uadpbench-agent
//!
//! Runs one side of a uadpbench measurement on a second host. The *agent*
//! (`uadpbench agent --listen`) waits for a *controller* (`uadpbench run --peer`), which asks it
//! to start a side (a reflector or a subscriber), runs its own side locally, and then collects
//! the agent side's result.
//!
//! This crate holds the control plane only: the protocol ([`protocol`]), the agent server
//! ([`serve`]) and the controller's client ([`AgentClient`], [`BlockingAgentClient`]). It is
//! built on tokio; the timed loops are not: a [`SideRunner`] (implemented by the bench crate)
//! runs each side's loop on its own OS thread, as every uadpbench loop does.
//!
//! ## Protocol
//!
//! One TCP connection per controller (the agent listens on [`DEFAULT_AGENT_PORT`], 4850, unless
//! told otherwise). Every frame is a 4-byte big-endian length followed by
//! that many bytes of JSON (at most 16 MiB towards the agent, [`protocol::MAX_FRAME_LEN`];
//! 256 MiB towards the controller, [`protocol::MAX_RESULT_FRAME_LEN`], for large results): a
//! [`ControllerMsg`] or an [`AgentMsg`], tagged by `"type"`:
//!
//! ```text
//! controller                                     agent
//!   hello {protocol, tool_version, token}   ─►
//!                                           ◄─   welcome {protocol, tool_version, host, idle_timeout_ms}
//!                                                | refused {reason, protocol}, then close
//!   clock {t1_ns}                           ─►
//!                                           ◄─   clock_reply {t1_ns, t2_ns, t3_ns}
//!   describe {interface}                    ─►
//!                                           ◄─   interface {name, ifindex, mac, ipv4, mtu} | failed {message}
//!   start_side {spec: {role, params}}       ─►
//!                                           ◄─   started {side_id} | failed {message}
//!   finish_side {side_id}                   ─►
//!                                           ◄─   side_finished {side_id, result} | failed {message}
//!   bye                                     ─►   (stops a running side, closes)
//! ```
//!
//! After the handshake the controller sends any number of requests, one at a time, each
//! answered before the next. `params` of a [`SideSpec`] and the `result` of a finished side are
//! JSON the bench crate defines; this crate only carries them.
//!
//! ## Handshake and versions
//!
//! The controller's first message is `hello`. The agent refuses a controller whose
//! [`PROTOCOL_VERSION`] differs from its own, with a reason naming both versions ("run the same
//! uadpbench version on both hosts"); the protocol number is read leniently, so this works even
//! when the other version's hello has another shape. `refused` carries the agent's protocol
//! version, so the client reports [`AgentError::VersionMismatch`] rather than just the reason.
//! The tool versions are exchanged for messages and logs only.
//!
//! ## Clocks
//!
//! All times are CLOCK_MONOTONIC in nanoseconds, as everywhere in uadpbench.
//! [`AgentClient::clock_offset`] estimates the agent's clock minus the controller's NTP-style
//! (θ = ((t2 − t1) + (t3 − t4)) / 2 of the exchange with the smallest round trip, ± half that
//! round trip).
//!
//! ## Security model
//!
//! The agent offers benchmark operations only: clock samples, describing a network interface
//! (name, MAC, IPv4, MTU) and starting/finishing the sides a [`SideRunner`] knows. There is no file access, no command execution, no way to name a
//! program or a path: whatever a side does is decided by the runner's code on the agent's host,
//! within the bounds the runner validates `params` against.
//!
//! * **allow-from**: [`AgentConfig::allow_from`] lists the networks a controller may connect
//!   from (empty: all; the CLI is expected to default to a restrictive list). Others get a
//!   `refused` frame and are logged.
//! * **token**: with [`AgentConfig::token`] set, the hello must carry the same token (compared
//!   in constant time). The token travels in clear text: it keeps other users of a lab network
//!   from driving the agent by accident or on purpose, it is not encryption. Do not expose the
//!   agent to untrusted networks.
//! * The agent runs as root (transports need it), so keep both lists tight.
//!
//! ## A lost controller
//!
//! A run must not outlive its controller. The agent takes the controller for lost when the
//! connection ends (EOF or reset) or when no frame arrives for [`AgentConfig::idle_timeout`]
//! (default 30 s, announced in `welcome`); then it sets the running side's stop flag and
//! finishes it (joins its thread, closes its transport) on a blocking thread. Runners check the
//! stop flag often enough (every ~100 ms) that this completes within 1 s of noticing
//! ([`server::CLEANUP_BUDGET`]; the agent logs a warning if a runner overruns it). The
//! aborted side's result is logged and discarded. `bye` with a side still running, and shutting
//! the agent down, stop the side the same way.
//!
//! The client keeps a long run alive: while no request is in flight it sends `clock` pings
//! every quarter of the announced idle timeout (see [`ClientOptions::keepalive`]).
//!
//! ## Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use uadpbench_agent::{serve, AgentClient, AgentConfig, Role, SideRunner, SideSpec};
//!
//! # async fn example(runner: Arc<dyn SideRunner>) -> Result<(), Box<dyn std::error::Error>> {
//! // The agent.
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:4850").await?;
//! let config = AgentConfig { allow_from: vec!["198.18.0.0/15".parse()?], ..AgentConfig::default() };
//! tokio::spawn(serve(listener, config, runner, std::future::pending::<()>()));
//!
//! // The controller.
//! let agent = AgentClient::connect("198.18.0.2:4850", None).await?;
//! let clock = agent.clock_offset(32).await?;
//! let side = agent
//!     .start_side(SideSpec { role: Role::Reflector, params: serde_json::json!({}) })
//!     .await?;
//! // ... run the local side ...
//! let result = agent.finish_side(side).await?;
//! agent.bye().await?;
//! # let _ = (clock, result);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod blocking;
mod client;
pub mod protocol;
pub mod server;
pub mod timesync;

pub use blocking::BlockingAgentClient;
pub use client::{AgentClient, AgentError, ClientOptions, ClockEstimate};
pub use protocol::{
    AgentMsg, ControllerMsg, HostFacts, InterfaceFacts, Role, SideSpec, DEFAULT_AGENT_PORT,
    PROTOCOL_VERSION, TOOL_VERSION,
};
pub use server::{serve, AgentConfig, RunningSide, SideRunner};
pub use timesync::TimeSync;
