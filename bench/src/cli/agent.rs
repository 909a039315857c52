//! `uadpbench agent`: serve controllers (`uadpbench run --peer`) on this host until SIGINT or
//! SIGTERM, running the far end of their runs (docs/two-hosts.md).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use ipnet::IpNet;
use uadpbench::remote::addr;
use uadpbench::remote::runner::BenchSideRunner;
use uadpbench_agent::{AgentConfig, PROTOCOL_VERSION, TOOL_VERSION};

#[derive(Debug, Args)]
pub(crate) struct AgentArgs {
    /// Address (of this host, or of the namespace the agent runs in) to accept controllers
    /// on: ADDR[:PORT], port 4850 by default; [ADDR]:PORT for IPv6.
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = addr::parse_listen)]
    listen: std::net::SocketAddr,
    /// Accept controllers from this network or address only (repeatable). Default: loopback,
    /// the private ranges (10/8, 172.16/12, 192.168/16, fc00::/7), link-local and the RFC 2544
    /// benchmarking range 198.18.0.0/15; every other address is refused. `0.0.0.0/0` and `::/0`
    /// accept everyone.
    #[arg(long, value_name = "CIDR", value_parser = addr::parse_allow_from)]
    allow_from: Vec<IpNet>,
    /// Require this shared token (the file's content, whitespace trimmed) from controllers,
    /// which pass the same file with `run --token-file`. Travels in clear text: it keeps other
    /// users of a lab network out, it is not encryption.
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// Let controllers run on interfaces uadpbench did not create (a real NIC). Raw sockets and
    /// XDP on an interface can disrupt its other traffic: use a dedicated test NIC.
    #[arg(long)]
    allow_external_interface: bool,
    /// Keep captures here: a controller's `run --peer-pcap NAME` writes the frames this host's
    /// interface received during the run to DIR/NAME.pcap. Without it such runs are refused.
    #[arg(long, value_name = "DIR")]
    capture_dir: Option<PathBuf>,
}

pub(crate) fn agent_command(a: AgentArgs) -> anyhow::Result<ExitCode> {
    init_logging();
    let token = match &a.token_file {
        Some(file) => {
            let token = addr::read_token(file)?;
            if addr::readable_by_others(file) {
                eprintln!(
                    "warning: the token file {} is readable by other users; chmod 600 it",
                    file.display()
                );
            }
            Some(token)
        }
        None => None,
    };
    let allow_from = if a.allow_from.is_empty() {
        addr::default_allow_from()
    } else {
        a.allow_from.clone()
    };
    let config = AgentConfig {
        allow_from: allow_from.clone(),
        token,
        ..AgentConfig::default()
    };
    if let Some(dir) = &a.capture_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("--capture-dir {}: cannot create it: {e}", dir.display())
        })?;
    }
    let runner = Arc::new(BenchSideRunner {
        allow_external_interface: a.allow_external_interface,
        capture_dir: a.capture_dir.clone(),
    });
    if let Some(code) = super::too_few_open_files() {
        return Ok(code);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("uadpbench-agent")
        .enable_all()
        .build()
        .context("cannot start the agent's runtime")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(a.listen))
        .with_context(|| {
            format!(
                "cannot listen on {}: is another agent running there, and is it an address of this host (or of the network namespace the agent runs in)?",
                a.listen
            )
        })?;
    let local = listener.local_addr().unwrap_or(a.listen);

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(true);
    })
    .map_err(|e| anyhow::anyhow!("cannot install the signal handler: {e}"))?;

    say!("uadpbench agent {TOOL_VERSION} (protocol {PROTOCOL_VERSION}) listening on {local}");
    say!(
        "  controllers from: {}{}",
        allow_from
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        if a.allow_from.is_empty() {
            " (default; --allow-from to change)"
        } else {
            ""
        }
    );
    say!(
        "  token: {}",
        if config.token.is_some() {
            "required"
        } else {
            "none (--token-file to require one)"
        }
    );
    say!(
        "  interfaces: {}",
        if a.allow_external_interface {
            "any (--allow-external-interface)"
        } else {
            "uadpbench's own veth ends only (--allow-external-interface for a real NIC)"
        }
    );
    say!(
        "  captures: {}",
        a.capture_dir.as_ref().map_or(
            "none (--capture-dir DIR to keep them)".to_owned(),
            |d| format!("{}/NAME.pcap (run --peer-pcap NAME)", d.display())
        )
    );
    say!("  stop with Ctrl-C or SIGTERM");
    runtime.block_on(uadpbench_agent::serve(
        listener,
        config,
        runner,
        async move {
            let _ = stop_rx.wait_for(|&stop| stop).await;
        },
    ));
    say!("uadpbench agent stopped");
    Ok(ExitCode::SUCCESS)
}

/// Logs of the agent (connections, refusals, sides) on stderr; `RUST_LOG` overrides the
/// default level (info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
