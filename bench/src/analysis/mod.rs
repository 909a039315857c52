//! Pure analysis over a run's events and samples, shared by the run and by readers of its
//! files: the segment chain of probe runs, and taking the probes' own cost out of it.

pub mod compensation;
pub mod segments;
