//! uadpbench transports: UDP sockets, raw Ethernet (AF_PACKET) and AF_XDP, behind one trait,
//! plus the publisher and reflector/subscriber loops.
//!
//! [`xdp_program`] loads and attaches the `uadpbench_xdp` program (crate `xdp-ebpf`, built by
//! this crate's `build.rs` and embedded in the binary) that steers benchmark frames to AF_XDP
//! sockets.

pub mod xdp_program;
