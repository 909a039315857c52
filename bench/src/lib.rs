//! # uadpbench — the harness behind the `uadpbench` command
//!
//! The binary only parses its command line; everything it does lives here, testable without
//! the CLI: one measurement over the two-namespace topology ([`run`]), its statistics
//! ([`stats`]) and result files ([`results`], [`meta`]), and decoding of UADP messages and
//! captures ([`decode`]), publishing to / subscribing from third-party OPC UA PubSub stacks
//! ([`interop`]), and runs across two hosts with the far side on `uadpbench agent` ([`remote`],
//! [`run::run_with_peer`]).

pub mod analysis;
pub mod campaign;
pub mod campaign_run;
pub mod capture;
pub mod capture_run;
pub mod clock_check;
pub mod compare;
pub mod conditions;
pub mod decode;
pub mod doctor;
pub mod html;
pub mod input;
pub mod interop;
pub mod json;
pub mod limits;
pub mod meta;
pub mod metrics;
pub mod overhead;
pub mod paths;
pub mod probe_run;
pub mod remote;
pub mod report;
pub mod results;
pub mod run;
pub mod schema;
pub mod stats;
pub mod trace;
pub mod verdict;
