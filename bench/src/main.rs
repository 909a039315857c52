//! `uadpbench`: command line. Parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use uadpbench::decode::{self, DecodeInput};

#[derive(Debug, Parser)]
#[command(name = "uadpbench", version, about = "Benchmark OPC UA PubSub UADP over UDP, raw Ethernet and AF_XDP on Linux")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode UADP NetworkMessages and print one JSON object per message.
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// The message as hex digits.
    #[arg(long, conflicts_with_all = ["file", "pcap"])]
    hex: Option<String>,
    /// A capture (pcap or pcapng): UDP ports 4840-4850 and EtherType 0xB62C frames.
    #[arg(long, value_name = "FILE", conflicts_with = "file")]
    pcap: Option<PathBuf>,
    /// A file holding one message's raw bytes.
    file: Option<PathBuf>,
    /// Field types of RawData DataSetMessages, e.g. UInt32,UInt32,DateTime (RawData cannot be
    /// split into fields without it; without it the bytes are printed as hex).
    #[arg(long, value_name = "TYPES")]
    raw_layout: Option<String>,
}

fn decode_command(a: DecodeArgs) -> anyhow::Result<ExitCode> {
    let input = match (a.hex, a.pcap, a.file) {
        (Some(h), _, _) => DecodeInput::Hex(h),
        (_, Some(p), _) => DecodeInput::Pcap(p),
        (_, _, Some(f)) => DecodeInput::File(f),
        _ => anyhow::bail!("nothing to decode: give --hex HEX, --pcap FILE or a FILE of raw bytes"),
    };
    let layout = a.raw_layout.as_deref().map(decode::parse_layout).transpose()?;
    let summary = decode::run(&input, layout.as_deref(), &mut std::io::stdout().lock(), &mut std::io::stderr().lock())?;
    if summary.failed > 0 {
        eprintln!("{} message(s) decoded, {} failed", summary.decoded, summary.failed);
        return Ok(ExitCode::from(1));
    }
    if summary.decoded == 0 {
        eprintln!("no UADP message found ({} frame(s) without UADP)", summary.skipped_frames);
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(a) => decode_command(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
