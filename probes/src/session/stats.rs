//! `BPF_ENABLE_STATS`: turning it on and off (also from the calibration watcher), and the
//! programs' run counts and times it makes the kernel keep.

use std::{
    fs,
    mem::zeroed,
    os::fd::{AsFd as _, AsRawFd as _, BorrowedFd, OwnedFd},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    thread::JoinHandle,
    time::Duration,
};

use aya::programs::Program;

use super::{attach::describe, StatsWindow};
use crate::{layers::LayerId, slots::SlotMap, ProbeError};

/// How often the calibration watcher
/// ([`ProbeSession::stop_stats_at_packet`](crate::ProbeSession::stop_stats_at_packet)) looks at
/// the stamps: the statistics stay on for at most about this long into the measured packets.
pub const STATS_WATCH_INTERVAL: Duration = Duration::from_micros(100);

fn monotonic_ns() -> u64 {
    // SAFETY: a valid timespec out-parameter.
    let mut ts: libc::timespec = unsafe { zeroed() };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Turns `BPF_ENABLE_STATS` on if `requested`: the file descriptor that keeps it on, or why
/// it is off.
pub(super) fn enable(requested: bool) -> (Option<OwnedFd>, Option<String>) {
    if !requested {
        return (None, Some("not requested".to_owned()));
    }
    match aya::sys::enable_stats(aya::sys::Stats::RunTime) {
        Ok(fd) => (Some(fd), None),
        Err(e) => (
            None,
            Some(format!("BPF_ENABLE_STATS failed: {}", describe(&e))),
        ),
    }
}

/// The `BPF_ENABLE_STATS` file descriptor (statistics are on while it is open), shared with the
/// calibration watcher.
#[derive(Clone)]
pub(super) struct StatsHold(Arc<Mutex<(Option<OwnedFd>, StatsWindow)>>);

impl StatsHold {
    pub(super) fn new(fd: Option<OwnedFd>) -> Self {
        let window = StatsWindow {
            on_ns: fd.as_ref().map(|_| monotonic_ns()),
            ..StatsWindow::default()
        };
        StatsHold(Arc::new(Mutex::new((fd, window))))
    }

    fn lock(&self) -> MutexGuard<'_, (Option<OwnedFd>, StatsWindow)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn is_on(&self) -> bool {
        self.lock().0.is_some()
    }

    pub(super) fn stop(&self, at_packet: Option<u64>) {
        let mut g = self.lock();
        if g.0.take().is_some() {
            g.1.off_ns = Some(monotonic_ns());
            g.1.off_at_packet = at_packet;
        }
    }

    pub(super) fn window(&self) -> StatsWindow {
        self.lock().1
    }
}

/// The calibration watcher thread; dropping it stops and joins it.
pub(super) struct StatsWatch {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl StatsWatch {
    /// Starts a thread that looks at `view` every [`STATS_WATCH_INTERVAL`] and stops `hold`
    /// once one of `layers` holds a stamp of `packet_id`.
    pub(super) fn spawn(
        view: SlotMap,
        layers: Vec<LayerId>,
        packet_id: u64,
        hold: StatsHold,
    ) -> Result<StatsWatch, ProbeError> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_w = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("probe-stats".into())
            .spawn(move || {
                while !stop_w.load(Ordering::Relaxed) {
                    if view.holds_packet(&layers, packet_id) {
                        hold.stop(Some(packet_id));
                        return;
                    }
                    std::thread::sleep(STATS_WATCH_INTERVAL);
                }
            })
            .map_err(|e| ProbeError::Config(format!("cannot start the stats watcher: {e}")))?;
        Ok(StatsWatch {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for StatsWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The few `bpf_prog_info` fields we report.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ProgInfo {
    pub(super) id: u32,
    pub(super) run_time_ns: u64,
    pub(super) run_cnt: u64,
    pub(super) recursion_misses: u64,
}

/// The id, run count and run time of a loaded program (aya's `ProgramInfo`, i.e.
/// `BPF_OBJ_GET_INFO_BY_FD`), and its `recursion_misses`. `None`: not loaded, or the kernel
/// refused the info.
pub(super) fn prog_info(prog: &Program) -> Option<ProgInfo> {
    let info = prog.info().ok()?;
    let fd = prog.fd().ok()?;
    Some(ProgInfo {
        id: info.id(),
        run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
        run_cnt: info.run_count(),
        recursion_misses: recursion_misses(fd.as_fd()),
    })
}

/// `recursion_misses` of the program `fd` refers to, from `/proc/self/fdinfo/<fd>` (0 if the
/// kernel does not count them: before 5.12).
///
/// aya 0.14's `ProgramInfo` has no accessor for `bpf_prog_info.recursion_misses` (it exposes
/// `id()`, `run_count()`, `run_time()`, ...; its `bpf_prog_info` is `pub(crate)`), so this
/// reads the same counter from the program's fdinfo (`recursion_misses:\t<n>`, printed by the
/// kernel next to `run_time_ns` and `run_cnt`) instead of issuing `BPF_OBJ_GET_INFO_BY_FD`
/// by hand.
fn recursion_misses(fd: BorrowedFd<'_>) -> u64 {
    fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .ok()
        .and_then(|info| fdinfo_value(&info, "recursion_misses"))
        .unwrap_or(0)
}

/// The value of `key` in an fdinfo text (`key:\tvalue` lines).
fn fdinfo_value(info: &str, key: &str) -> Option<u64> {
    info.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if k != key {
            return None;
        }
        v.trim().parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use std::os::fd::{AsFd as _, AsRawFd as _};

    use uadpbench_common::PROBE_SCHED_MIN_BYTES;

    use super::{fdinfo_value, prog_info};
    use crate::{
        is_root,
        layers::{layer, LayerId, ProbePath},
        session::{
            attach::{kernel_btf, kernel_info, load_program},
            config::{globals, load},
            ProbeConfig,
        },
    };

    /// aya's `ProgramInfo` and the fdinfo agree on a loaded program, and the kernel prints the
    /// `recursion_misses` counter that [`prog_info`] reads from the fdinfo.
    #[test]
    fn reads_a_loaded_programs_info() {
        if !is_root() {
            eprintln!("skipped: loading BPF needs root");
            return;
        }
        let kernel = kernel_info();
        let config = ProbeConfig::new(ProbePath::Udp);
        let mut ebpf = load(
            &globals(&config, &kernel).expect("globals"),
            2,
            PROBE_SCHED_MIN_BYTES,
        )
        .expect("load the object");
        let c = layer(LayerId::SysEnterSendto).candidates[0];
        let prog = ebpf.program_mut(c.program).expect("program");
        load_program(prog, &c, &kernel_btf(), &kernel).expect("load the program");
        let prog = ebpf.program(c.program).expect("program");
        let info = prog_info(prog).expect("program info");
        assert!(info.id > 0, "{info:?}");
        let fd = prog.fd().expect("fd");
        let fdinfo =
            std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_fd().as_raw_fd()))
                .expect("fdinfo");
        assert_eq!(fdinfo_value(&fdinfo, "prog_id"), Some(u64::from(info.id)));
        assert_eq!(
            fdinfo_value(&fdinfo, "recursion_misses"),
            Some(info.recursion_misses),
            "{fdinfo}"
        );
    }

    #[test]
    fn reads_fdinfo_values() {
        let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t2072\nprog_type:\t5\n\
                    prog_jited:\t1\nprog_tag:\t8e6b9fd6b5d9a9c1\nmemlock:\t4096\nprog_id:\t85\n\
                    run_time_ns:\t1234\nrun_cnt:\t7\nrecursion_misses:\t3\nverified_insns:\t99\n";
        assert_eq!(fdinfo_value(info, "recursion_misses"), Some(3));
        assert_eq!(fdinfo_value(info, "run_cnt"), Some(7));
        assert_eq!(fdinfo_value(info, "prog_tag"), None);
        assert_eq!(fdinfo_value(info, "missing"), None);
    }
}
