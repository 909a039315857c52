//! `uadpbench`: command line. Parses the arguments and dispatches to the command's module in
//! `cli/`; exit codes: 0 success, 1 a check failed (doctor, compare --fail-if-worse), 2 bad
//! input or an error, 130 interrupted.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Prints a line on stdout. A closed pipe (`uadpbench … | head -1`) ends the program quietly
/// with status 0, as other command-line tools do, instead of panicking; results are written
/// before anything is printed.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }};
}

mod cli;
use cli::agent::*;
use cli::campaign::*;
use cli::interop::*;
use cli::maintenance::*;
use cli::overhead::*;
use cli::run::*;

#[derive(Debug, Parser)]
#[command(
    name = "uadpbench",
    version,
    about = "Benchmark OPC UA PubSub UADP over UDP, raw Ethernet and AF_XDP on Linux"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run one measurement over a fresh two-namespace veth topology (or, with --peer, against
    /// a uadpbench agent on another host).
    Run(RunArgs),
    /// Serve controllers (`uadpbench run --peer`) on this host: run the far end of their
    /// measurements until SIGINT/SIGTERM (docs/two-hosts.md).
    Agent(AgentArgs),
    /// Run a campaign file (a matrix of runs) into one results directory.
    Campaign(CampaignArgs),
    /// Decode UADP NetworkMessages and print one JSON object per message.
    Decode(DecodeArgs),
    /// Compare the paths of a campaign (or one run) and draw plots into DIR/plots.
    Report(ReportArgs),
    /// Check privileges and kernel features, with the fix for each missing one.
    Doctor,
    /// The kernel probe layers: which attach on this kernel, how, or why not.
    #[command(subcommand)]
    Probes(ProbesCommand),
    /// Remove namespaces and veths that killed runs left behind.
    Cleanup(CleanupArgs),
    /// Publish a configured UADP stream to an OPC UA target (a third-party subscriber, a PLC).
    Publish(PublishArgs),
    /// Receive UADP from a target, filter like a DataSetReader and report per writer.
    Subscribe(SubscribeArgs),
    /// Measure what the probes cost: the same workload with probes off and on (and optionally
    /// under bpftrace), interleaved, with bootstrap confidence intervals; writes overhead.csv.
    Overhead(OverheadArgs),
    /// Compare two runs or campaigns (A = before, B = after): p50/p99/rate per configuration
    /// with the change, a bootstrap CI and better/worse/no change; conditions that differ first.
    Compare(CompareArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run_command(a),
        Command::Agent(a) => agent_command(a),
        Command::Campaign(a) => campaign_command(a),
        Command::Report(a) => report_command(a),
        Command::Probes(ProbesCommand::List { path }) => probes_list(path),
        Command::Probes(ProbesCommand::Dispatch { calls, rounds, cpu }) => {
            probes_dispatch(calls, rounds, cpu)
        }
        Command::Doctor => {
            let (lines, fatal) = uadpbench::doctor::report(&uadpbench::doctor::run_checks());
            for l in lines {
                say!("{l}");
            }
            say!("\nlatency conditions (what makes the same command give different numbers):");
            let (lines, _) = uadpbench::doctor::report(&uadpbench::doctor::latency_checks());
            for l in lines {
                say!("{l}");
            }
            Ok(if fatal {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Decode(a) => decode_command(a),
        Command::Cleanup(a) => cleanup_command(a),
        Command::Publish(a) => publish_command(a),
        Command::Subscribe(a) => subscribe_command(a),
        Command::Overhead(a) => overhead_command(a),
        Command::Compare(a) => compare_command(a),
    };
    match result {
        Ok(code) => code,
        // stdout closed by the reader (`| head`): not an error of ours.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
