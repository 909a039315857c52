//! Controlled measurement conditions: where the timed threads run ([`placement`]), which idle
//! states the CPUs may use while a run is timed ([`pm_qos`]), what the machine's latency
//! conditions were ([`machine`]) and whether a result shows something that was not controlled
//! ([`quality`]).
//!
//! Why: on a VM whose idle driver halts idle vCPUs, the same round trip measured 3.2 µs with
//! both threads on one CPU and 72–75 µs on two CPUs, and an unpinned run fell on either side
//! from one run to the next. A benchmark whose default answers such a coin flip is not one.

pub mod consistency;
pub mod machine;
pub mod placement;
pub mod pm_qos;
pub mod quality;

pub use machine::{IdleCounters, IdleDelta, MachineConditions, StealCounters};
pub use placement::{Placement, PlacementError, ResolvedPlacement};
pub use pm_qos::{IdleLatency, PmQosGuard};
pub use quality::{find_modes, quality_label, Modes, QualityFlag};
