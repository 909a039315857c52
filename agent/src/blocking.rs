//! [`AgentClient`] for synchronous callers (the bench harness), with its own small runtime.

use tokio::runtime::Runtime;

use crate::client::{AgentClient, AgentError, ClientOptions, ClockEstimate};
use crate::protocol::{HostFacts, InterfaceFacts, SideSpec};

/// An [`AgentClient`] with its own one-worker tokio runtime, so that keep-alive pings go on
/// while the caller's threads run a timed loop. Must not be created or dropped inside an async
/// context.
#[derive(Debug)]
pub struct BlockingAgentClient {
    // Field order matters: the client goes before the runtime, whose drop then ends the
    // aborted keep-alive task.
    client: Option<AgentClient>,
    runtime: Runtime,
}

impl BlockingAgentClient {
    /// [`AgentClient::connect`].
    pub fn connect(addr: &str, token: Option<String>) -> Result<Self, AgentError> {
        Self::connect_with(
            addr,
            ClientOptions {
                token,
                ..ClientOptions::default()
            },
        )
    }

    /// [`AgentClient::connect_with`].
    pub fn connect_with(addr: &str, options: ClientOptions) -> Result<Self, AgentError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("uadpbench-agent-client")
            .enable_all()
            .build()
            .map_err(|source| AgentError::Io {
                context: "starting the client's runtime".into(),
                source,
            })?;
        let client = runtime.block_on(AgentClient::connect_with(addr, options))?;
        Ok(BlockingAgentClient {
            client: Some(client),
            runtime,
        })
    }

    fn client(&self) -> &AgentClient {
        self.client.as_ref().expect("present until bye or drop")
    }

    /// [`AgentClient::host`].
    pub fn host(&self) -> &HostFacts {
        self.client().host()
    }

    /// [`AgentClient::agent_tool_version`].
    pub fn agent_tool_version(&self) -> &str {
        self.client().agent_tool_version()
    }

    /// [`AgentClient::peer`].
    pub fn peer(&self) -> std::net::SocketAddr {
        self.client().peer()
    }

    /// [`AgentClient::clock_offset`].
    pub fn clock_offset(&self, samples: usize) -> Result<ClockEstimate, AgentError> {
        self.runtime.block_on(self.client().clock_offset(samples))
    }

    /// [`AgentClient::describe`].
    pub fn describe(&self, interface: &str) -> Result<InterfaceFacts, AgentError> {
        self.runtime.block_on(self.client().describe(interface))
    }

    /// [`AgentClient::start_side`].
    pub fn start_side(&self, spec: SideSpec) -> Result<u64, AgentError> {
        self.runtime.block_on(self.client().start_side(spec))
    }

    /// [`AgentClient::finish_side`].
    pub fn finish_side(&self, side_id: u64) -> Result<serde_json::Value, AgentError> {
        self.runtime.block_on(self.client().finish_side(side_id))
    }

    /// [`AgentClient::bye`].
    pub fn bye(mut self) -> Result<(), AgentError> {
        let client = self.client.take().expect("present until bye or drop");
        self.runtime.block_on(client.bye())
    }
}
