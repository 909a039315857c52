//! Scheduling of the timed threads: CPU pinning and the SCHED_FIFO real-time policy, applied
//! by each thread to itself before its loop starts.

use std::io;

use serde::Serialize;

/// How a timed thread is scheduled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ThreadSched {
    /// Pin to this CPU.
    pub cpu: Option<usize>,
    /// Run under SCHED_FIFO with this priority (1–99).
    pub fifo_priority: Option<i32>,
}

/// Errors applying a [`ThreadSched`].
#[derive(Debug, thiserror::Error)]
pub enum SchedError {
    #[error("cannot pin the thread to CPU {cpu} ({source}); is that CPU online? (see nproc)")]
    Affinity { cpu: usize, source: nix::Error },
    #[error("cannot switch the thread to SCHED_FIFO priority {priority} ({source}); it needs root or CAP_SYS_NICE and a priority in 1..=99")]
    Fifo { priority: i32, source: io::Error },
}

impl ThreadSched {
    /// Applies the settings to the calling thread. Also sets its timer slack to 1 ns: a
    /// normal thread's sleeps may otherwise end up to 50 µs late (the kernel's default slack,
    /// which lets it batch wake-ups), which a cyclic publisher would report as send jitter.
    pub fn apply_to_current_thread(&self) -> Result<(), SchedError> {
        // SAFETY: prctl(PR_SET_TIMERSLACK) takes an integer and affects only this thread;
        // failure only leaves the default slack.
        unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0) };
        if let Some(cpu) = self.cpu {
            let mut set = nix::sched::CpuSet::new();
            set.set(cpu)
                .map_err(|source| SchedError::Affinity { cpu, source })?;
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .map_err(|source| SchedError::Affinity { cpu, source })?;
        }
        if let Some(priority) = self.fifo_priority {
            let param = libc::sched_param {
                sched_priority: priority,
            };
            // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for the call.
            let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
            if r != 0 {
                return Err(SchedError::Fifo {
                    priority,
                    source: io::Error::last_os_error(),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_and_fifo_on_a_scratch_thread() {
        let r = std::thread::spawn(|| {
            ThreadSched {
                cpu: Some(0),
                fifo_priority: Some(10),
            }
            .apply_to_current_thread()
        })
        .join()
        .expect("thread");
        // As root (how the tests run) both succeed.
        r.expect("pinning and SCHED_FIFO as root");
        let bad = std::thread::spawn(|| {
            ThreadSched {
                cpu: None,
                fifo_priority: Some(1000),
            }
            .apply_to_current_thread()
        })
        .join()
        .expect("thread");
        assert!(matches!(bad, Err(SchedError::Fifo { .. })));
    }
}
