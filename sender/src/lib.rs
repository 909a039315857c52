//! uadpbench transports: UDP sockets, raw Ethernet (AF_PACKET) and AF_XDP, behind one trait
//! ([`transport::Transport`]), plus the timed loops that use them ([`loops`]): ping-pong
//! initiator and reflector, cyclic publisher, subscriber, flood publisher.
//!
//! Every message is a UADP-Periodic-Fixed NetworkMessage ([`bench_message`]) carrying its
//! CLOCK_MONOTONIC send time ([`clock`]) and a 64-bit packet id ([`sequence`] accounts for
//! loss, reordering and duplicates).
//!
//! [`xdp_program`] loads and attaches the `uadpbench_xdp` program (crate `xdp-ebpf`, built by
//! this crate's `build.rs` and embedded in the binary) that steers benchmark frames to AF_XDP
//! sockets.

pub mod bench_message;
pub mod clock;
pub mod codec;
pub mod eth;
pub mod frame;
pub mod hw_stamping;
pub mod interop;
pub mod loops;
pub mod membership;
pub mod open;
pub mod sched;
pub mod sequence;
mod sys;
pub mod timestamping;
pub mod transport;
pub mod udp;
pub mod xdp;
pub mod xdp_program;
