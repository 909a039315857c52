//! The one clock of every timestamp uadpbench takes: CLOCK_MONOTONIC, the clock
//! `bpf_ktime_get_ns()` reads in the kernel, so user and probe timestamps share one axis.

use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::time::{clock_gettime, clock_nanosleep, ClockId, ClockNanosleepFlags};

/// Nanoseconds of CLOCK_MONOTONIC (vDSO, no system call).
#[inline]
pub fn monotonic_ns() -> u64 {
    // CLOCK_MONOTONIC cannot fail on Linux; a zero would show up as an absurd latency, not UB.
    clock_gettime(ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// Nanoseconds of CLOCK_REALTIME (the clock of `SO_TIMESTAMPING` software stamps).
#[inline]
pub fn realtime_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_REALTIME).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// CLOCK_REALTIME − CLOCK_MONOTONIC, measured in user space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RealtimeOffset {
    /// REALTIME − MONOTONIC in ns: a realtime stamp minus this is on the monotonic axis.
    pub offset_ns: i64,
    /// Half the width of the tightest MONOTONIC/REALTIME/MONOTONIC read: the offset is
    /// exact to within ± this (plus the vDSO's read skew).
    pub uncertainty_ns: u64,
}

/// The REALTIME − MONOTONIC offset from the tightest of `samples` reads of MONOTONIC,
/// REALTIME, MONOTONIC (the two clocks differ by a constant except when REALTIME is stepped;
/// NTP slewing moves both). Compare the value before and after a measurement to notice a step.
pub fn realtime_offset(samples: usize) -> RealtimeOffset {
    let mut best = RealtimeOffset {
        offset_ns: 0,
        uncertainty_ns: u64::MAX,
    };
    for _ in 0..samples.max(1) {
        let m1 = monotonic_ns();
        let r = realtime_ns();
        let m2 = monotonic_ns();
        let half = m2.saturating_sub(m1) / 2;
        if half < best.uncertainty_ns {
            best = RealtimeOffset {
                offset_ns: r as i64 - (m1 + half) as i64,
                uncertainty_ns: half,
            };
        }
    }
    best
}

/// Resolution of CLOCK_MONOTONIC as the kernel reports it.
pub fn monotonic_resolution_ns() -> u64 {
    nix::time::clock_getres(ClockId::CLOCK_MONOTONIC).map_or(0, |t| {
        t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
    })
}

/// Sleeps until the absolute CLOCK_MONOTONIC time `deadline_ns` (`clock_nanosleep` with
/// TIMER_ABSTIME, so wake-up errors do not accumulate), then busy-waits the last `spin_ns`
/// nanoseconds before the deadline for a more precise wake-up at the cost of CPU.
pub fn sleep_until(deadline_ns: u64, spin_ns: u64) {
    let sleep_to = deadline_ns.saturating_sub(spin_ns);
    if monotonic_ns() < sleep_to {
        let ts = TimeSpec::from(Duration::from_nanos(sleep_to));
        // EINTR: retry; the loop below covers what is left.
        while clock_nanosleep(
            ClockId::CLOCK_MONOTONIC,
            ClockNanosleepFlags::TIMER_ABSTIME,
            &ts,
        )
        .is_err()
        {
            if monotonic_ns() >= sleep_to {
                break;
            }
        }
    }
    while monotonic_ns() < deadline_ns {
        std::hint::spin_loop();
    }
}

/// Scheduler counters of the calling thread, cumulative.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadSchedCounts {
    /// `se.nr_migrations` of `/proc/thread-self/sched` (None where the kernel does not show it).
    pub migrations: Option<u64>,
    /// Times the thread was switched out while runnable (preempted): `ru_nivcsw`.
    pub involuntary_switches: u64,
    /// Times the thread gave up the CPU to wait (blocking receive, sleep): `ru_nvcsw`.
    pub voluntary_switches: u64,
    /// The CPU the thread runs on now.
    pub cpu: Option<u32>,
    /// `/proc/thread-self/schedstat`: time on a CPU and time waiting on a run queue (runnable,
    /// not running) so far, ns (None where the kernel lacks CONFIG_SCHED_INFO).
    pub schedstat: Option<(u64, u64)>,
    /// CLOCK_MONOTONIC when these were read.
    pub at_ns: u64,
}

/// Reads [`ThreadSchedCounts`] of the calling thread (a few µs: call it outside timed loops).
pub fn thread_sched_counts() -> ThreadSchedCounts {
    let (nvcsw, nivcsw) =
        match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD) {
            Ok(u) => (
                u.voluntary_context_switches() as u64,
                u.involuntary_context_switches() as u64,
            ),
            Err(_) => (0, 0),
        };
    let migrations = std::fs::read_to_string("/proc/thread-self/sched")
        .ok()
        .and_then(|s| parse_sched_field(&s, "se.nr_migrations"));
    // SAFETY: no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    let schedstat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| parse_schedstat(&s));
    ThreadSchedCounts {
        migrations,
        involuntary_switches: nivcsw,
        voluntary_switches: nvcsw,
        cpu: u32::try_from(cpu).ok(),
        schedstat,
        at_ns: monotonic_ns(),
    }
}

/// `/proc/<tid>/schedstat`: `<ns on a CPU> <ns waiting on a run queue> <timeslices>`.
pub fn parse_schedstat(text: &str) -> Option<(u64, u64)> {
    let mut f = text.split_whitespace();
    Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
}

/// The value of `field` in a `/proc/<pid>/sched` text (`name   :   value`).
pub fn parse_sched_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == field).then(|| v.trim().parse().ok())?
    })
}

/// CPU time (user, system) consumed so far by the calling thread.
pub fn thread_cpu_time() -> (Duration, Duration) {
    match nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_THREAD) {
        Ok(u) => {
            let tv = |t: nix::sys::time::TimeVal| {
                Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000)
            };
            (tv(u.user_time()), tv(u.system_time()))
        }
        Err(_) => (Duration::ZERO, Duration::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_counts_parse_and_read() {
        let text = "x (1, #threads: 1)\n---\nse.exec_start   :   12.5\nse.nr_migrations                             :                    3\nnr_switches  : 9\n";
        assert_eq!(parse_sched_field(text, "se.nr_migrations"), Some(3));
        assert_eq!(parse_sched_field(text, "nr_switches"), Some(9));
        assert_eq!(parse_sched_field(text, "se.exec_start"), None);
        assert_eq!(parse_sched_field(text, "missing"), None);
        let c = thread_sched_counts();
        assert!(c.cpu.is_some());
    }

    #[test]
    fn schedstat_splits_on_cpu_and_run_queue_time() {
        assert_eq!(
            parse_schedstat("152697 1715496 2\n"),
            Some((152_697, 1_715_496))
        );
        assert_eq!(parse_schedstat("garbage"), None);
        assert_eq!(parse_schedstat("1"), None);
        // This thread's own: spinning for 20 ms puts most of it on a CPU; what is missing went
        // to the run queue (second field) or to the hypervisor (steal time counts in neither).
        let before = thread_sched_counts();
        let until = monotonic_ns() + 20_000_000;
        while monotonic_ns() < until {}
        let after = thread_sched_counts();
        let (Some(a), Some(b)) = (before.schedstat, after.schedstat) else {
            panic!("this kernel keeps /proc/thread-self/schedstat (CONFIG_SCHED_INFO)");
        };
        let (on, wait) = (b.0 - a.0, b.1 - a.1);
        let window = after.at_ns - before.at_ns;
        assert!(
            on + wait >= 5_000_000,
            "on {on} + wait {wait} ns of {window}"
        );
        assert!(
            on + wait <= window + 1_000_000,
            "on {on} + wait {wait} ns of {window}"
        );
    }

    #[test]
    fn monotonic_advances() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
    }

    #[test]
    fn sleep_until_does_not_return_early() {
        let deadline = monotonic_ns() + 2_000_000;
        sleep_until(deadline, 50_000);
        assert!(monotonic_ns() >= deadline);
    }
}

#[cfg(test)]
mod offset_tests {
    use super::*;

    #[test]
    fn realtime_offset_is_stable_and_tight() {
        let a = realtime_offset(1000);
        let b = realtime_offset(1000);
        // Without a clock step in between, both measurements agree within their widths (and
        // a few µs of scheduling noise on a busy VM).
        let diff = (a.offset_ns - b.offset_ns).unsigned_abs();
        assert!(diff < 50_000, "{a:?} vs {b:?}");
        assert!(a.uncertainty_ns < 50_000, "{a:?}");
        // The offset maps a realtime read onto the monotonic axis.
        let m = monotonic_ns() as i64;
        let r = realtime_ns() as i64;
        assert!((r - a.offset_ns - m).abs() < 1_000_000);
    }
}
