//! # uadpbench — the harness behind the `uadpbench` command
//!
//! The binary only parses its command line; everything it does lives here, testable without
//! the CLI: decoding captures ([`decode`]), and (as the project grows) topology set-up, runs,
//! statistics and result files.

pub mod capture;
pub mod decode;
pub mod json;
