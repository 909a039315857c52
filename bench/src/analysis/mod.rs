//! Pure analysis over a run's events and samples, shared by the run and by readers of its
//! files: the segment chain of probe runs, taking the probes' own cost out of it, and the
//! in-kernel histograms of `--probes-mode histogram`.

pub mod compensation;
pub mod histograms;
pub mod segments;
