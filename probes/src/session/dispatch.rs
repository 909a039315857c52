//! What a tracepoint costs beyond its BPF program ([`calibrate_dispatch`]).
//!
//! BPF run-time statistics time a program from its first to its last instruction. A
//! tracepoint hit costs more: the kernel calls into the tracepoint, a classic tracepoint builds
//! its trace record in a per-CPU buffer, `bpf_trace_run` disables migration and takes the RCU
//! read lock, and a system call traced by any `syscalls:*` or `raw_syscalls:*` program goes
//! through the slow system-call entry and exit path. None of that is in `run_time_ns`, and
//! on a virtual machine with speculative-execution mitigations it is of the order of the
//! program itself.
//!
//! The calibration runs on one thread pinned to one CPU. Its hook is `task_rename`, which
//! `prctl(PR_SET_NAME)` hits and `prctl(PR_GET_NAME)` does not, so one attachment serves two
//! system calls of which only one hits the hook. In each of these states it alternates
//! batches of the two calls (and of `getppid`):
//!
//! * nothing attached, at the start and again at the end;
//! * an empty classic program on `task:task_rename`;
//! * an empty BTF program on `task_rename`;
//! * an empty classic program on `syscalls:sys_enter_getpgid`, which nothing calls: the slow
//!   system-call path is on for every system call.
//!
//! Batches are timed with the thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`), so time in
//! which another thread had the CPU does not count.
//! A hit costs the median over the batches of (SET − GET) in its state minus the median of
//! (SET − GET) with nothing attached: paired batch by batch, so a host that changes speed
//! between states moves it little. The slow path is `getppid` in the last state minus
//! `getppid` with nothing attached (not paired: a comparison across states). A hit includes
//! the empty program's own few nanoseconds, which run-time statistics also count.
//! Detaching a tracepoint waits for an RCU grace period (tens of milliseconds here), so the
//! states change only four times.

use std::time::Instant;

use aya::{
    programs::{BtfTracePoint, TracePoint},
    Ebpf,
};
use uadpbench_common::PROBE_SCHED_MIN_BYTES;

use super::{
    attach::{describe, kernel_btf, kernel_info, OwnedLink},
    config::{globals, load},
    stats::{self, prog_info},
    ProbeConfig,
};
use crate::{layers::ProbePath, ProbeError};

/// The empty classic tracepoint program of the object.
const CLASSIC_PROGRAM: &str = "calib_tracepoint";
/// The empty BTF tracepoint program of the object.
const BTF_PROGRAM: &str = "calib_btf";
/// The hook: `prctl(PR_SET_NAME)` hits it.
const HOOK: (&str, &str) = ("task", "task_rename");
/// A system call nobody makes in the loop: attaching to it turns the slow path on.
const NOT_CALLED: (&str, &str) = ("syscalls", "sys_enter_getpgid");

/// How long the calibration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchConfig {
    /// System calls per batch.
    pub calls: u32,
    /// Batches per state (each times every call kind once).
    pub rounds: u32,
}

impl Default for DispatchConfig {
    /// 2 000 calls × 15 batches per state: about 0.4 s on a 2-vCPU VM, most of it the
    /// detaches' grace periods.
    fn default() -> Self {
        DispatchConfig {
            calls: 2_000,
            rounds: 15,
        }
    }
}

/// One measured cost: the median over the batches and its range.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DispatchFigure {
    /// Median over the batches, ns per call.
    pub median_ns: f64,
    /// Smallest batch, ns per call.
    pub min_ns: f64,
    /// Largest batch, ns per call.
    pub max_ns: f64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

impl DispatchFigure {
    /// The median and range of `values` minus `offset`.
    fn of(mut values: Vec<f64>, offset: f64) -> Self {
        let m = median(&mut values);
        DispatchFigure {
            median_ns: m - offset,
            min_ns: values.first().copied().unwrap_or(0.0) - offset,
            max_ns: values.last().copied().unwrap_or(0.0) - offset,
        }
    }

    /// The median, never below zero (a cost; noise can make a difference negative).
    pub fn cost_ns(&self) -> f64 {
        self.median_ns.max(0.0)
    }
}

/// What a tracepoint hit costs beyond the program's own run time, on this host.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DispatchCost {
    /// The `getppid` system call with nothing attached, ns per call.
    pub syscall: DispatchFigure,
    /// The slow system-call path, per system call, while any system-call tracepoint has a
    /// program (not paired: across two states).
    pub syscall_tracing: DispatchFigure,
    /// One classic tracepoint hit with an empty program.
    pub tracepoint: DispatchFigure,
    /// One BTF tracepoint hit with an empty program.
    pub btf_tracepoint: DispatchFigure,
    /// What BPF run-time statistics count for one run of the empty classic program (ns;
    /// `None`: the statistics could not be turned on). Their clock reads bracket the
    /// program, so a counted run time holds part of a clock read beyond the program itself.
    pub tracepoint_counted_ns: Option<f64>,
    /// The same for the empty BTF program.
    pub btf_tracepoint_counted_ns: Option<f64>,
    /// Calls per batch.
    pub calls: u32,
    /// Batches per state.
    pub rounds: u32,
    /// The CPU the loop ran on (pinned), if it could be pinned.
    pub cpu: Option<usize>,
    /// Wall time of the whole calibration, ns.
    pub elapsed_ns: u64,
}

impl DispatchCost {
    /// What one run of a program attached with `mechanism` (`Mechanism::name()`) costs
    /// beyond the run time BPF statistics count for it: the hit of an empty program minus
    /// what the statistics count for the empty program (that difference is the dispatch less
    /// the clock-read share the statistics add to every counted run; it may be negative).
    /// Classic, raw and BTF tracepoints are calibrated; other mechanisms (XDP, which the
    /// driver calls directly; uprobes, kprobes, fentry, which this calibration does not
    /// cover) get `None`.
    pub fn per_hit_ns(&self, mechanism: &str) -> Option<f64> {
        match mechanism {
            "tracepoint" => {
                Some(self.tracepoint.cost_ns() - self.tracepoint_counted_ns.unwrap_or(0.0))
            }
            // Raw tracepoints go through the same `bpf_trace_run` as BTF ones.
            "tp_btf" | "raw_tp" => {
                Some(self.btf_tracepoint.cost_ns() - self.btf_tracepoint_counted_ns.unwrap_or(0.0))
            }
            _ => None,
        }
    }
}

/// Pins the calling thread to the CPU it runs on; returns that CPU.
fn pin_here() -> Option<usize> {
    // SAFETY: no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    let cpu = usize::try_from(cpu).ok()?;
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays inside it for a CPU the
    // kernel just reported.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        (libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) == 0).then_some(cpu)
    }
}

/// The calls the batches time.
#[derive(Clone, Copy)]
enum Call {
    /// `prctl(PR_SET_NAME)` with the thread's own name: hits `task_rename`.
    SetName,
    /// `prctl(PR_GET_NAME)`: the same system call, no hook.
    GetName,
    /// `getppid`.
    Getppid,
}

/// `calls` calls of `call`; ns per call.
fn time_calls(call: Call, calls: u32, name: &[u8; 16]) -> f64 {
    let mut buf = [0u8; 16];
    let once = |buf: &mut [u8; 16]| match call {
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes (`name`
        // ends with a NUL); PR_GET_NAME writes 16 bytes into `buf`; getppid takes nothing.
        // None can fail in a way that matters to the timing.
        Call::SetName => unsafe {
            libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
        },
        Call::GetName => unsafe {
            libc::prctl(
                libc::PR_GET_NAME,
                buf.as_mut_ptr() as libc::c_ulong,
                0,
                0,
                0,
            );
        },
        Call::Getppid => unsafe {
            libc::syscall(libc::SYS_getppid);
        },
    };
    // A short warm-up: caches and branch predictors.
    for _ in 0..calls / 10 {
        once(&mut buf);
    }
    let start = thread_cpu_ns();
    for _ in 0..calls {
        once(&mut buf);
    }
    thread_cpu_ns().saturating_sub(start) as f64 / f64::from(calls.max(1))
}

/// This thread's CPU time (ns): time another thread runs on the CPU, after a preemption, is
/// not in it, so a busy host does not inflate the batches.
fn thread_cpu_ns() -> u64 {
    // SAFETY: a valid timespec out-parameter.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above; CLOCK_THREAD_CPUTIME_ID always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One state's batches: per batch the ns per call of SET − GET, and of getppid.
#[derive(Default)]
struct Batches {
    set_minus_get: Vec<f64>,
    getppid: Vec<f64>,
}

fn run_batches(config: DispatchConfig, name: &[u8; 16], out: &mut Batches) {
    for round in 0..config.rounds {
        // Alternate the order so that a drift does not favour one call.
        let (set, get) = if round % 2 == 0 {
            let s = time_calls(Call::SetName, config.calls, name);
            (s, time_calls(Call::GetName, config.calls, name))
        } else {
            let g = time_calls(Call::GetName, config.calls, name);
            (time_calls(Call::SetName, config.calls, name), g)
        };
        out.set_minus_get.push(set - get);
        out.getppid
            .push(time_calls(Call::Getppid, config.calls, name));
    }
}

/// With BPF statistics on, `calls` hits of the hook: the run time the statistics count per
/// run of `program` (`None`: statistics refused, or nothing counted).
fn counted_ns(ebpf: &Ebpf, program: &str, calls: u32, name: &[u8; 16]) -> Option<f64> {
    let before = ebpf.program(program).and_then(prog_info)?;
    let (fd, _) = stats::enable(true);
    let fd = fd?;
    time_calls(Call::SetName, calls, name);
    drop(fd);
    let after = ebpf.program(program).and_then(prog_info)?;
    let runs = after.run_cnt.checked_sub(before.run_cnt)?;
    let time = after.run_time_ns.checked_sub(before.run_time_ns)?;
    (runs > 0).then(|| time as f64 / runs as f64)
}

fn err(what: &str, e: &(dyn std::error::Error + 'static)) -> ProbeError {
    ProbeError::Dispatch(format!("{what}: {}", describe(e)))
}

fn program<'e>(
    ebpf: &'e mut Ebpf,
    name: &str,
) -> Result<&'e mut aya::programs::Program, ProbeError> {
    ebpf.program_mut(name).ok_or_else(|| {
        ProbeError::Dispatch(format!(
            "the embedded probes object has no program `{name}`: the object is stale, rebuild uadpbench-probes"
        ))
    })
}

/// A classic attachment of the empty program (detached when dropped).
fn attach_classic(
    ebpf: &mut Ebpf,
    (category, name): (&str, &str),
) -> Result<OwnedLink, ProbeError> {
    let p: &mut TracePoint = program(ebpf, CLASSIC_PROGRAM)?
        .try_into()
        .map_err(|e| err(CLASSIC_PROGRAM, &e))?;
    let id = p
        .attach(category, name)
        .map_err(|e| err(&format!("{category}:{name}"), &e))?;
    let link = p.take_link(id).map_err(|e| err(CLASSIC_PROGRAM, &e))?;
    Ok(OwnedLink::Tracepoint(link))
}

/// The BTF attachment of the empty program (detached when dropped).
fn attach_btf(ebpf: &mut Ebpf) -> Result<OwnedLink, ProbeError> {
    let p: &mut BtfTracePoint = program(ebpf, BTF_PROGRAM)?
        .try_into()
        .map_err(|e| err(BTF_PROGRAM, &e))?;
    let id = p.attach().map_err(|e| err(BTF_PROGRAM, &e))?;
    let link = p.take_link(id).map_err(|e| err(BTF_PROGRAM, &e))?;
    Ok(OwnedLink::BtfTracepoint(link))
}

/// Measures what a tracepoint hit costs beyond its program on this host (module docs). Runs
/// on a thread of its own, pinned to the CPU it starts on, and needs root. Call it while no
/// probe session of this process is attached: an attached system-call tracepoint has the
/// slow path on already (then `syscall_tracing` comes out near zero).
pub fn calibrate_dispatch(config: DispatchConfig) -> Result<DispatchCost, ProbeError> {
    if config.calls == 0 || config.rounds == 0 {
        return Err(ProbeError::Config(
            "dispatch calibration: calls and rounds must be at least 1".into(),
        ));
    }
    crate::ensure_tracefs()?;
    let kernel = kernel_info();
    let mut ebpf = load(
        &globals(&ProbeConfig::new(ProbePath::Udp), &kernel)?,
        2,
        PROBE_SCHED_MIN_BYTES,
    )?;
    {
        let p: &mut TracePoint = program(&mut ebpf, CLASSIC_PROGRAM)?
            .try_into()
            .map_err(|e| err(CLASSIC_PROGRAM, &e))?;
        p.load().map_err(|e| err(CLASSIC_PROGRAM, &e))?;
    }
    {
        let btf = kernel_btf().map_err(|e| ProbeError::Dispatch(format!("kernel BTF: {e}")))?;
        let p: &mut BtfTracePoint = program(&mut ebpf, BTF_PROGRAM)?
            .try_into()
            .map_err(|e| err(BTF_PROGRAM, &e))?;
        p.load(HOOK.1, &btf).map_err(|e| err(BTF_PROGRAM, &e))?;
    }
    let started = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| -> Result<_, ProbeError> {
            let cpu = pin_here();
            // The thread's own name, set again and again (PR_SET_NAME with the same name
            // changes nothing anyone sees).
            let mut name = [0u8; 16];
            // SAFETY: PR_GET_NAME writes at most 16 bytes, NUL-terminated.
            unsafe {
                libc::prctl(
                    libc::PR_GET_NAME,
                    name.as_mut_ptr() as libc::c_ulong,
                    0,
                    0,
                    0,
                )
            };
            name[15] = 0;
            let mut idle = Batches::default();
            let mut classic = Batches::default();
            let mut btf = Batches::default();
            let mut slow = Batches::default();
            run_batches(config, &name, &mut idle);
            let (classic_counted, btf_counted);
            {
                let _link = attach_classic(&mut ebpf, HOOK)?;
                run_batches(config, &name, &mut classic);
                classic_counted = counted_ns(&ebpf, CLASSIC_PROGRAM, config.calls, &name);
            }
            {
                let _link = attach_btf(&mut ebpf)?;
                run_batches(config, &name, &mut btf);
                btf_counted = counted_ns(&ebpf, BTF_PROGRAM, config.calls, &name);
            }
            {
                let _link = attach_classic(&mut ebpf, NOT_CALLED)?;
                run_batches(config, &name, &mut slow);
            }
            run_batches(config, &name, &mut idle);
            Ok((cpu, idle, classic, btf, slow, classic_counted, btf_counted))
        })
        .join()
        .map_err(|_| ProbeError::Dispatch("the calibration thread panicked".into()))?
    });
    let (cpu, idle, classic, btf, slow, classic_counted, btf_counted) = result?;
    let base = median(&mut idle.set_minus_get.clone());
    let syscall = median(&mut idle.getppid.clone());
    Ok(DispatchCost {
        syscall: DispatchFigure::of(idle.getppid, 0.0),
        syscall_tracing: DispatchFigure::of(slow.getppid, syscall),
        tracepoint: DispatchFigure::of(classic.set_minus_get, base),
        btf_tracepoint: DispatchFigure::of(btf.set_minus_get, base),
        tracepoint_counted_ns: classic_counted,
        btf_tracepoint_counted_ns: btf_counted,
        calls: config.calls,
        rounds: config.rounds,
        cpu,
        elapsed_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_medians_with_their_range() {
        let f = DispatchFigure::of(vec![5.0, -1.0, 3.0], 0.0);
        assert_eq!((f.median_ns, f.min_ns, f.max_ns), (3.0, -1.0, 5.0));
        let f = DispatchFigure::of(vec![14.0, 12.0], 10.0);
        assert_eq!((f.median_ns, f.min_ns, f.max_ns), (3.0, 2.0, 4.0));
        assert_eq!(DispatchFigure::of(vec![-2.0], 0.0).cost_ns(), 0.0);
    }

    #[test]
    fn hits_are_priced_by_mechanism() {
        let fig = |v| DispatchFigure {
            median_ns: v,
            min_ns: v,
            max_ns: v,
        };
        let c = DispatchCost {
            syscall: fig(170.0),
            syscall_tracing: fig(40.0),
            tracepoint: fig(60.0),
            btf_tracepoint: fig(-3.0),
            tracepoint_counted_ns: Some(25.0),
            btf_tracepoint_counted_ns: None,
            calls: 1,
            rounds: 1,
            cpu: None,
            elapsed_ns: 0,
        };
        // The hit less what the statistics already count for an empty run.
        assert_eq!(c.per_hit_ns("tracepoint"), Some(35.0));
        assert_eq!(c.per_hit_ns("tp_btf"), Some(0.0));
        assert_eq!(c.per_hit_ns("xdp"), None);
        assert_eq!(c.per_hit_ns("uprobe"), None);
    }

    #[test]
    fn empty_calibrations_are_refused() {
        let e = calibrate_dispatch(DispatchConfig {
            calls: 0,
            rounds: 3,
        })
        .unwrap_err();
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
