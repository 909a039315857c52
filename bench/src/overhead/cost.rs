//! What the BPF programs of an arm cost: the bpftrace process's programs (bpftrace_cost.csv of
//! a run) and the per-program aggregate over an arm's runs (overhead_cost.csv), from each run's
//! probe_cost.csv or bpftrace_cost.csv.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_task_fd_type};
use serde::Serialize;

use super::bootstrap::mean;
use super::bpftrace::BpftraceScript;
use super::rows::value_of;
use super::{Arm, ArmRun, OverheadCostRow};
use crate::results::SummaryRow;
use crate::run::{Mode, RunConfig};

/// How a perf event fd of another process is attached: the answer of `BPF_TASK_FD_QUERY`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TaskFd {
    prog_id: u32,
    fd_type: u32,
    /// Tracepoint name, kprobe function or uprobe file.
    name: String,
}

/// `BPF_TASK_FD_QUERY`: the BPF program attached through perf event fd `fd` of process `pid`.
///
/// A raw `bpf()` call, because aya 0.14 has no wrapper for this command (it only queries its
/// own links; bpftrace 0.17 attaches tracepoints and uprobes with `PERF_EVENT_IOC_SET_BPF`,
/// not BPF links, so `aya::programs::loaded_links` does not see them). The attribute layout
/// comes from aya-obj's generated kernel bindings, as in `uadpbench_probes`' `prog_info`.
fn task_fd_query(pid: u32, fd: u32) -> Option<TaskFd> {
    let mut buf = [0u8; 256];
    // SAFETY: plain-old-data kernel struct; all-zero is a valid value.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.task_fd_query.pid = pid;
    attr.task_fd_query.fd = fd;
    attr.task_fd_query.buf_len = buf.len() as u32;
    attr.task_fd_query.buf = buf.as_mut_ptr() as u64;
    // SAFETY: attr is a valid bpf_attr of the announced size; the kernel writes at most
    // buf_len bytes into buf, which outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_TASK_FD_QUERY as libc::c_long,
            &raw mut attr,
            std::mem::size_of::<bpf_attr>(),
        )
    };
    if rc != 0 {
        return None;
    }
    let name = std::ffi::CStr::from_bytes_until_nul(&buf)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default();
    // SAFETY: the kernel filled the task_fd_query variant.
    let (prog_id, fd_type) = unsafe { (attr.task_fd_query.prog_id, attr.task_fd_query.fd_type) };
    Some(TaskFd {
        prog_id,
        fd_type,
        name,
    })
}

/// `(run_count, run_time_ns)` of the loaded BPF programs with these ids (aya's program info;
/// the counters advance while BPF statistics are enabled).
fn program_stats(ids: &BTreeSet<u32>) -> BTreeMap<u32, (u64, u64)> {
    if ids.is_empty() {
        return BTreeMap::new();
    }
    aya::programs::loaded_programs()
        .flatten()
        .filter(|p| ids.contains(&p.id()))
        .map(|p| {
            let ns = u64::try_from(p.run_time().as_nanos()).unwrap_or(u64::MAX);
            (p.id(), (p.run_count(), ns))
        })
        .collect()
}

/// One program of the bpftrace process, as bpftrace_cost.csv has it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct BpftraceCostRow {
    run_id: String,
    program: String,
    mechanism: String,
    attach: String,
    prog_id: u32,
    run_count: u64,
    run_time_ns: u64,
    ns_per_run: Option<f64>,
}

/// Run time of every tracepoint/uprobe program `pid` (bpftrace) attached: `BPF_TASK_FD_QUERY`
/// on its perf event fds (which program, attached where) joined with the programs' run time
/// and count. bpftrace's own BEGIN/END uprobes are left out.
pub(super) fn bpftrace_costs(
    pid: u32,
    run_id: &str,
    script: &BpftraceScript,
) -> Vec<BpftraceCostRow> {
    let fd_dir = format!("/proc/{pid}/fd");
    let Ok(entries) = std::fs::read_dir(&fd_dir) else {
        return Vec::new();
    };
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
    let mut attached: Vec<TaskFd> = Vec::new();
    for e in entries.flatten() {
        let Ok(fd) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let link = std::fs::read_link(e.path()).unwrap_or_default();
        if link.to_string_lossy().contains("perf_event") {
            attached.extend(task_fd_query(pid, fd));
        }
    }
    let stats = program_stats(&attached.iter().map(|a| a.prog_id).collect());
    let is = |t: u32, want: bpf_task_fd_type| t == want as u32;
    let mut rows = Vec::new();
    for TaskFd {
        prog_id,
        fd_type,
        name,
    } in attached
    {
        let uprobe = is(fd_type, bpf_task_fd_type::BPF_FD_TYPE_UPROBE)
            || is(fd_type, bpf_task_fd_type::BPF_FD_TYPE_URETPROBE);
        if uprobe && exe.as_ref().is_some_and(|x| Path::new(&name) == x) {
            continue; // BEGIN_trigger / END_trigger
        }
        let tracepoint = is(fd_type, bpf_task_fd_type::BPF_FD_TYPE_TRACEPOINT);
        let mechanism = if tracepoint || is(fd_type, bpf_task_fd_type::BPF_FD_TYPE_RAW_TRACEPOINT) {
            "tracepoint"
        } else if is(fd_type, bpf_task_fd_type::BPF_FD_TYPE_KPROBE)
            || is(fd_type, bpf_task_fd_type::BPF_FD_TYPE_KRETPROBE)
        {
            "kprobe"
        } else {
            "uprobe"
        };
        let program = script
            .probes
            .iter()
            .find(|p| {
                (tracepoint && p.attach.ends_with(&format!(":{name}")))
                    || (!tracepoint && p.attach.contains(&name))
            })
            .map_or_else(|| format!("bt_{name}"), |p| format!("bt_{}", p.name));
        let (run_count, run_time_ns) = stats.get(&prog_id).copied().unwrap_or((0, 0));
        rows.push(BpftraceCostRow {
            run_id: run_id.to_owned(),
            program,
            mechanism: mechanism.into(),
            attach: name,
            prog_id,
            run_count,
            run_time_ns,
            ns_per_run: (run_count > 0).then(|| run_time_ns as f64 / run_count as f64),
        });
    }
    rows.sort_by(|a, b| a.program.cmp(&b.program).then(a.prog_id.cmp(&b.prog_id)));
    rows
}

/// Messages inside the BPF-statistics window of a probe run, when the statistics covered only
/// the calibration phase (meta.json `probes.stats.off_at_packet`).
fn calibration_messages(dir: &Path) -> Option<f64> {
    let meta: crate::meta::RunMeta = crate::meta::read_json(&dir.join("meta.json"))?;
    meta.probes?.pointer("/stats/off_at_packet")?.as_f64()
}

/// Messages a run pushed through the probes: measured ones plus the warm-up.
fn messages_of(cfg: &RunConfig, summary: &[SummaryRow]) -> Option<f64> {
    let sent = value_of(summary, "messages", "sent")?;
    Some(match cfg.mode {
        Mode::Flood => sent,
        Mode::Pingpong | Mode::Cyclic => sent + cfg.warmup as f64,
    })
}

/// (program, mechanism, run_count, run_time_ns) of a probe_cost.csv or bpftrace_cost.csv
/// (empty if the file is missing or lacks the columns).
fn read_cost_csv(path: &Path) -> Vec<(String, String, u64, u64)> {
    let Ok(mut r) = csv::Reader::from_path(path) else {
        return Vec::new();
    };
    let Ok(h) = r.headers().cloned() else {
        return Vec::new();
    };
    let col = |n: &str| h.iter().position(|c| c == n);
    let (Some(p), Some(c), Some(t)) = (col("program"), col("run_count"), col("run_time_ns")) else {
        return Vec::new();
    };
    let m = col("mechanism");
    r.records()
        .flatten()
        .filter_map(|rec| {
            Some((
                rec.get(p)?.to_owned(),
                m.and_then(|m| rec.get(m)).unwrap_or("").to_owned(),
                rec.get(c)?.parse().ok()?,
                rec.get(t)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Per-program cost over the arm's runs, from each run directory's cost file.
pub(super) fn aggregate_costs(
    arm: Arm,
    runs: &[&ArmRun],
    file: &str,
    cfg: &RunConfig,
) -> Vec<OverheadCostRow> {
    #[derive(Default)]
    struct Acc {
        mechanism: String,
        runs: usize,
        run_count: u64,
        run_time_ns: u64,
        per_run: Vec<f64>,
        per_msg: Vec<f64>,
    }
    let mut by_program: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc {
        mechanism: "all".into(),
        ..Acc::default()
    };
    for r in runs {
        let rows = read_cost_csv(&r.dir.join(file));
        if rows.is_empty() {
            continue;
        }
        // probe_cost.csv of a probe run covers its calibration window (the warm-up packets
        // before `off_at_packet`) unless BPF statistics ran for the whole run.
        let messages = calibration_messages(&r.dir)
            .or_else(|| messages_of(cfg, &r.summary))
            .filter(|m| *m > 0.0);
        let mut run_total = 0u64;
        for (program, mechanism, count, time) in rows {
            let a = by_program.entry(program).or_default();
            a.mechanism = mechanism;
            run_total += time;
            if count > 0 {
                a.runs += 1;
                a.run_count += count;
                a.run_time_ns += time;
                a.per_run.push(time as f64 / count as f64);
                total.run_count += count;
                total.run_time_ns += time;
            }
            if let Some(m) = messages {
                a.per_msg.push(time as f64 / m);
            }
        }
        total.runs += 1;
        if let Some(m) = messages {
            total.per_msg.push(run_total as f64 / m);
        }
    }
    if total.runs == 0 {
        return Vec::new();
    }
    if total.run_count > 0 {
        total
            .per_run
            .push(total.run_time_ns as f64 / total.run_count as f64);
    }
    let row = |program: String, a: Acc| OverheadCostRow {
        arm: arm.name().into(),
        program,
        mechanism: a.mechanism,
        runs: a.runs,
        run_count: a.run_count,
        run_time_ns: a.run_time_ns,
        mean_ns_per_run: (!a.per_run.is_empty()).then(|| mean(&a.per_run)),
        ns_per_message: (!a.per_msg.is_empty()).then(|| mean(&a.per_msg)),
    };
    let mut out: Vec<OverheadCostRow> = by_program.into_iter().map(|(p, a)| row(p, a)).collect();
    out.push(row("total".into(), total));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_in(dir: &Path, index: usize) -> ArmRun {
        ArmRun {
            index,
            arm: Arm::Probes,
            repetition: index,
            dir: dir.to_owned(),
            summary: Vec::new(),
            interrupted: false,
            bpftrace_pid: None,
            bpftrace_events: BTreeMap::new(),
        }
    }

    #[test]
    fn costs_aggregate_per_program_and_in_total() {
        let base = std::env::temp_dir().join(format!("uadpbench-cost-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (a, b, empty) = (base.join("a"), base.join("b"), base.join("empty"));
        for d in [&a, &b, &empty] {
            std::fs::create_dir_all(d).unwrap();
        }
        let meta = |n: u64| {
            crate::meta::test_run_meta_json(
                false,
                Some(serde_json::json!({"stats": {"off_at_packet": n}})),
            )
        };
        std::fs::write(
            a.join("probe_cost.csv"),
            "program,mechanism,run_count,run_time_ns\np1,tp_btf,100,10000\np2,fentry,0,0\n",
        )
        .unwrap();
        std::fs::write(a.join("meta.json"), meta(100)).unwrap();
        std::fs::write(
            b.join("probe_cost.csv"),
            "program,mechanism,run_count,run_time_ns\np1,tp_btf,300,60000\np2,fentry,50,5000\n",
        )
        .unwrap();
        std::fs::write(b.join("meta.json"), meta(200)).unwrap();
        let runs = [run_in(&a, 1), run_in(&b, 2), run_in(&empty, 3)];
        let refs: Vec<&ArmRun> = runs.iter().collect();
        let rows = aggregate_costs(Arm::Probes, &refs, "probe_cost.csv", &RunConfig::default());
        let _ = std::fs::remove_dir_all(&base);

        let names: Vec<&str> = rows.iter().map(|r| r.program.as_str()).collect();
        assert_eq!(names, ["p1", "p2", "total"]);
        let p1 = &rows[0];
        assert_eq!((p1.runs, p1.run_count, p1.run_time_ns), (2, 400, 70_000));
        assert_eq!(p1.mechanism, "tp_btf");
        assert_eq!(p1.mean_ns_per_run, Some((100.0 + 200.0) / 2.0));
        assert_eq!(p1.ns_per_message, Some((100.0 + 300.0) / 2.0));
        let p2 = &rows[1];
        assert_eq!((p2.runs, p2.run_count), (1, 50), "runs in which it ran");
        assert_eq!(p2.mean_ns_per_run, Some(100.0));
        let total = &rows[2];
        assert_eq!(total.arm, "probes");
        assert_eq!(
            (total.runs, total.run_count),
            (2, 450),
            "runs with a cost file"
        );
        assert_eq!(total.mean_ns_per_run, Some(75_000.0 / 450.0));
        assert_eq!(total.ns_per_message, Some((100.0 + 325.0) / 2.0));
        assert!(
            aggregate_costs(Arm::Probes, &[], "probe_cost.csv", &RunConfig::default()).is_empty()
        );
    }
}
