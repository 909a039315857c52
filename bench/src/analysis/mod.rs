//! Pure analysis over a run's events and samples, shared by the run and by readers of its
//! files: the segment chain of probe runs.

pub mod segments;
