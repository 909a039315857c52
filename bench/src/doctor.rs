//! `uadpbench doctor`: what this machine allows, with the fix for each missing piece.
//! A missing feature disables what depends on it; the run itself says which.

use std::path::Path;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Missing, but only some measurements need it.
    Limited,
    /// Missing, and uadpbench cannot run without it.
    Missing,
}

/// One line of the doctor's report.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
    /// What to do about it (empty when Ok).
    pub fix: String,
    /// What depends on it.
    pub needed_for: &'static str,
}

fn check(
    name: &'static str,
    needed_for: &'static str,
    ok: bool,
    missing: Status,
    detail: String,
    fix: &str,
) -> Check {
    Check {
        name,
        status: if ok { Status::Ok } else { missing },
        detail,
        fix: if ok { String::new() } else { fix.to_owned() },
        needed_for,
    }
}

/// Effective capability mask of this process (from /proc/self/status).
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

const CAPS: [(&str, u32, &str); 5] = [
    (
        "CAP_NET_ADMIN",
        12,
        "namespaces' links and addresses, XDP attach",
    ),
    (
        "CAP_NET_RAW",
        13,
        "raw Ethernet (AF_PACKET) and AF_XDP sockets",
    ),
    (
        "CAP_SYS_ADMIN",
        21,
        "creating network namespaces (setns, mount)",
    ),
    ("CAP_PERFMON", 38, "tracing programs (tracepoints, uprobes)"),
    ("CAP_BPF", 39, "loading BPF programs and maps"),
];

fn mounted(fstype: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2] == fstype).then(|| f[1].to_owned())
        })
        .collect()
}

fn af_xdp_socket() -> Result<(), std::io::Error> {
    // SAFETY: plain socket(2); the fd is closed right away.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: closing the fd we just opened.
    unsafe { libc::close(fd) };
    Ok(())
}

fn command_exists(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// Runs every check.
/// Whether this process may create namespaces and load BPF: root, or every capability needed.
pub fn privileged() -> bool {
    nix::unistd::geteuid().is_root()
        || effective_caps().is_some_and(|c| CAPS.iter().all(|(_, bit, _)| c & (1 << bit) != 0))
}

pub fn run_checks() -> Vec<Check> {
    let mut out = Vec::new();
    let caps = effective_caps();
    let euid = nix::unistd::geteuid();
    out.push(check(
        "privileges",
        "everything",
        privileged(),
        Status::Missing,
        format!("euid {euid}, effective capabilities {}", caps.map_or("unknown".into(), |c| format!("{c:#x}"))),
        "run as root (sudo) or grant CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN",
    ));
    for (name, bit, what) in CAPS {
        let has = caps.is_some_and(|c| c & (1 << bit) != 0);
        out.push(Check {
            name,
            status: if has { Status::Ok } else { Status::Missing },
            detail: if has {
                "effective".into()
            } else {
                "not in the effective set".into()
            },
            fix: if has {
                String::new()
            } else {
                format!("run as root or add {name} (setcap / systemd AmbientCapabilities)")
            },
            needed_for: what,
        });
    }
    out.push(check(
        "iproute2",
        "the namespace/veth topology",
        command_exists("ip"),
        Status::Missing,
        "the `ip` command".into(),
        "apt-get install iproute2 (scripts/setup.sh does)",
    ));
    let netns_dir = Path::new("/var/run/netns");
    out.push(check(
        "network namespaces",
        "the topology",
        Path::new("/proc/self/ns/net").exists(),
        Status::Missing,
        format!(
            "/proc/self/ns/net; named namespaces under {}",
            netns_dir.display()
        ),
        "a kernel with CONFIG_NET_NS",
    ));
    out.push(check(
        "BTF",
        "tp_btf probes (typed skb access) and CO-RE",
        Path::new("/sys/kernel/btf/vmlinux").exists(),
        Status::Limited,
        "/sys/kernel/btf/vmlinux".into(),
        "a kernel built with CONFIG_DEBUG_INFO_BTF=y",
    ));
    let tracefs = [
        "/sys/kernel/tracing/events",
        "/sys/kernel/debug/tracing/events",
    ]
    .iter()
    .find(|p| Path::new(p).exists());
    out.push(check(
        "tracefs",
        "classic tracepoint probes",
        tracefs.is_some(),
        Status::Limited,
        tracefs.map_or("not mounted".into(), |p| (*p).to_owned()),
        "mount -t tracefs nodev /sys/kernel/tracing (scripts/setup.sh does)",
    ));
    let bpffs = mounted("bpf");
    out.push(check(
        "bpffs",
        "pinning maps/links (not required by default)",
        !bpffs.is_empty(),
        Status::Limited,
        if bpffs.is_empty() {
            "not mounted".into()
        } else {
            bpffs.join(", ")
        },
        "mount -t bpf bpf /sys/fs/bpf",
    ));
    let kprobes = Path::new("/sys/bus/event_source/devices/kprobe").exists();
    out.push(check(
        "kprobes",
        "extra probe layers (udp_sendmsg, ip_send_skb, ...) where fentry is refused",
        kprobes,
        Status::Limited,
        if kprobes {
            "kprobe PMU present".into()
        } else {
            "no kprobe PMU (CONFIG_KPROBES off)".into()
        },
        "a kernel with CONFIG_KPROBES=y; the tracepoint layers work without it",
    ));
    let lockdown = std::fs::read_to_string("/sys/kernel/security/lockdown")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    out.push(Check {
        name: "kernel lockdown",
        status: if lockdown.contains("[none]") {
            Status::Ok
        } else {
            Status::Limited
        },
        detail: lockdown.clone(),
        fix: if lockdown.contains("[none]") {
            String::new()
        } else {
            "fentry/fexit may be refused under lockdown; uadpbench falls back to tracepoints".into()
        },
        needed_for: "fentry/fexit probes",
    });
    let stats =
        std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").map(|s| s.trim().to_owned());
    out.push(check(
        "BPF run-time statistics",
        "probe cost per program (probe_cost.csv)",
        stats.is_ok(),
        Status::Limited,
        stats.map_or("/proc/sys/kernel/bpf_stats_enabled missing".into(), |v| {
            format!("bpf_stats_enabled = {v} (enabled per run with BPF_ENABLE_STATS)")
        }),
        "a kernel ≥ 5.8",
    ));
    let xdp = af_xdp_socket();
    out.push(check(
        "AF_XDP",
        "the xdp path",
        xdp.is_ok(),
        Status::Limited,
        xdp.as_ref().map_or_else(
            |e| format!("socket(AF_XDP) failed: {e}"),
            |_| "socket(AF_XDP) works".into(),
        ),
        "a kernel with CONFIG_XDP_SOCKETS=y, run as root",
    ));
    for (tool, what) in [
        ("sockperf", "the sockperf side-by-side check"),
        ("bpftool", "inspecting loaded programs in tests"),
    ] {
        out.push(check(
            tool,
            what,
            command_exists(tool),
            Status::Limited,
            format!("`{tool}` on PATH"),
            "scripts/setup.sh installs it",
        ));
    }
    out
}

/// What "needed for" says of the latency-condition checks.
const LATENCY: &str = "stable latency numbers";

/// The "latency conditions" section: what makes the same command give different numbers on
/// this machine, with what uadpbench does about it or the flag/fix for each. None of it stops
/// a run (status ok or LIMITED).
pub fn latency_checks() -> Vec<Check> {
    use crate::conditions::MachineConditions;
    let m = MachineConditions::read();
    let mut out = Vec::new();
    let driver = m.cpuidle_driver.clone().unwrap_or_else(|| "none".into());
    let deepest = m.deepest_idle_latency_us();
    out.push(check(
        "idle states",
        LATENCY,
        true,
        Status::Limited,
        format!(
            "cpuidle driver {driver}, governor {}, states {} (deepest exit latency {deepest} µs); runs hold PM QoS /dev/cpu_dma_latency at 0 while timed (--idle-latency-us)",
            m.cpuidle_governor.as_deref().unwrap_or("none"),
            if m.idle_states.is_empty() {
                "none".into()
            } else {
                m.idle_states
                    .iter()
                    .map(|s| format!("{}({} µs)", s.name, s.latency_us))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        ),
        "",
    ));
    let pm_qos = std::fs::OpenOptions::new()
        .write(true)
        .open(crate::conditions::pm_qos::CPU_DMA_LATENCY);
    out.push(check(
        "PM QoS device",
        LATENCY,
        pm_qos.is_ok(),
        Status::Limited,
        match &pm_qos {
            Ok(_) => format!("{} writable", crate::conditions::pm_qos::CPU_DMA_LATENCY),
            Err(e) => format!("{}: {e}", crate::conditions::pm_qos::CPU_DMA_LATENCY),
        },
        "run as root; without it pass --idle-latency-us off, and expect round trips that include waking halted CPUs",
    ));
    if let Some(ns) = m.guest_halt_poll_ns {
        out.push(check(
            "haltpoll",
            LATENCY,
            ns > 0,
            Status::Limited,
            format!("guest_halt_poll_ns={ns}: an idle vCPU {}", if ns > 0 { "polls before it halts" } else { "halts at once (waking it costs tens of µs)" }),
            "uadpbench holds PM QoS at 0 during runs, which keeps CPUs polling; for other tools set haltpoll.guest_halt_poll_ns=200000 on the kernel command line, or hold /dev/cpu_dma_latency",
        ));
    }
    let governors: std::collections::BTreeSet<&String> = m.cpufreq_governors.values().collect();
    let perf = governors.iter().all(|g| g.as_str() == "performance");
    out.push(check(
        "CPU frequency",
        LATENCY,
        governors.is_empty() || perf,
        Status::Limited,
        if governors.is_empty() {
            "no cpufreq (fixed or host-controlled frequency)".into()
        } else {
            format!("scaling governors: {}", governors.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", "))
        },
        "cpupower frequency-set -g performance (or echo performance > /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)",
    ));
    let smt = m.smt_active.unwrap_or(false);
    out.push(check(
        "SMT",
        LATENCY,
        true,
        Status::Limited,
        format!(
            "{}; the cross-cpu placement avoids putting the two sides on SMT siblings",
            if smt {
                "active (siblings share a core)"
            } else {
                "off or absent"
            }
        ),
        "",
    ));
    let isolated = m.isolated_cpus.clone().unwrap_or_default();
    out.push(check(
        "isolated CPUs",
        LATENCY,
        !isolated.is_empty(),
        Status::Limited,
        format!(
            "isolcpus: {}, nohz_full: {}",
            if isolated.is_empty() { "none" } else { &isolated },
            m.nohz_full.as_deref().filter(|s| !s.is_empty()).unwrap_or("none")
        ),
        "for the quietest numbers boot with isolcpus=CPUS nohz_full=CPUS and pin the sides there with --cpu-a/--cpu-b",
    ));
    let cs = m.clocksource.clone().unwrap_or_else(|| "unknown".into());
    out.push(check(
        "clocksource",
        LATENCY,
        matches!(cs.as_str(), "tsc" | "kvm-clock" | "arch_sys_counter"),
        Status::Limited,
        format!("{cs} (every timestamp is a CLOCK_MONOTONIC read through it)"),
        "a slow clocksource (hpet, acpi_pm) adds ~0.5–1 µs per clock read: check dmesg for why tsc was rejected",
    ));
    let sync = uadpbench_agent::TimeSync::read();
    out.push(check(
        "clock discipline",
        "one-way latency across hosts",
        sync.ptp_disciplined(),
        Status::Limited,
        format!(
            "kernel clock {} (adjtimex), TAI − UTC {} s, daemons: {}, PTP hardware clocks: {}{}",
            sync.kernel_state,
            sync.tai_offset_s,
            if sync.daemons.is_empty() { "none".into() } else { sync.daemons.join(" ") },
            if sync.phcs.is_empty() { "none".into() } else { sync.phcs.join(" ") },
            sync.ptp4l_master_offset_ns
                .map_or(String::new(), |o| format!(", ptp4l offset from master {o} ns"))
        ),
        "one host needs nothing; for one-way latency across hosts run ptp4l and phc2sys on both (docs/two-hosts.md, \"PTP\"), else the agent's clock is estimated over TCP to tens of µs",
    ));
    out
}

/// The report as lines; the exit status is non-zero iff something required is missing.
pub fn report(checks: &[Check]) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut fatal = false;
    for c in checks {
        let mark = match c.status {
            Status::Ok => "ok     ",
            Status::Limited => "LIMITED",
            Status::Missing => "MISSING",
        };
        fatal |= c.status == Status::Missing;
        lines.push(format!(
            "{mark} {:<24} {}  [{}]",
            c.name, c.detail, c.needed_for
        ));
        if !c.fix.is_empty() {
            lines.push(format!("        fix: {}", c.fix));
        }
    }
    (lines, fatal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_machine_passes_the_required_checks() {
        let checks = run_checks();
        assert!(checks.iter().any(|c| c.name == "AF_XDP"));
        let latency = latency_checks();
        assert!(latency.iter().any(|c| c.name == "idle states"));
        assert!(latency.iter().any(|c| c.name == "clocksource"));
        for c in latency.iter().filter(|c| c.status != Status::Ok) {
            assert!(!c.fix.is_empty(), "{} has no fix", c.name);
            assert_eq!(
                c.status,
                Status::Limited,
                "latency conditions never stop a run"
            );
        }
        let (lines, fatal) = report(&checks);
        // The tests run as root on a kernel with namespaces (CI): nothing required is missing.
        assert!(!fatal, "{}", lines.join("\n"));
        // Every non-ok line carries a fix.
        for c in checks.iter().filter(|c| c.status != Status::Ok) {
            assert!(!c.fix.is_empty(), "{} has no fix", c.name);
        }
    }
}
