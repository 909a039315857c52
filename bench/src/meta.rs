//! meta.json: what a reader of the results needs to trust and reproduce them — kernel, CPU,
//! clock source, tool version and git revision, the exact configuration.

use serde::Serialize;

/// meta.json of a run or campaign directory, and the meta.json that holds the run conditions:
/// the directory's own for a run, its first run's (`runs/*/meta.json`) for a campaign.
pub fn read_metas(dir: &std::path::Path) -> (Option<serde_json::Value>, Option<serde_json::Value>) {
    let read = |p: &std::path::Path| -> Option<serde_json::Value> {
        serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
    };
    let top = read(&dir.join("meta.json"));
    let run = if top.as_ref().is_some_and(|m| m.get("conditions").is_some()) {
        top.clone()
    } else {
        let mut runs: Vec<std::path::PathBuf> = std::fs::read_dir(dir.join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("meta.json"))
            .filter(|p| p.is_file())
            .collect();
        runs.sort();
        runs.first().and_then(|p| read(p))
    };
    (top, run)
}

/// Environment facts recorded with every run.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub tool: &'static str,
    pub tool_version: &'static str,
    pub git_revision: &'static str,
    pub kernel_release: String,
    pub kernel_version: String,
    pub machine: String,
    pub cpu_model: String,
    pub online_cpus: usize,
    pub clock: ClockInfo,
}

/// Which clocks the timestamps come from.
#[derive(Debug, Clone, Serialize)]
pub struct ClockInfo {
    /// Every user-space timestamp: clock_gettime(CLOCK_MONOTONIC).
    pub userspace: &'static str,
    /// Every BPF timestamp: bpf_ktime_get_ns(), which reads CLOCK_MONOTONIC.
    pub bpf: &'static str,
    pub monotonic_resolution_ns: u64,
    /// The kernel clocksource behind CLOCK_MONOTONIC (tsc, kvm-clock, ...).
    pub clocksource: String,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

impl Environment {
    /// Reads the environment of this machine.
    pub fn current() -> Self {
        let uname = nix::sys::utsname::uname().ok();
        let field = |f: fn(&nix::sys::utsname::UtsName) -> &std::ffi::OsStr| {
            uname.as_ref().map_or_else(
                || "unknown".to_owned(),
                |u| f(u).to_string_lossy().into_owned(),
            )
        };
        Environment {
            tool: "uadpbench",
            tool_version: env!("CARGO_PKG_VERSION"),
            git_revision: env!("UADPBENCH_GIT_REVISION"),
            kernel_release: field(|u| u.release()),
            kernel_version: field(|u| u.version()),
            machine: field(|u| u.machine()),
            cpu_model: cpu_model(),
            online_cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            clock: ClockInfo {
                userspace: "CLOCK_MONOTONIC",
                bpf: "bpf_ktime_get_ns (CLOCK_MONOTONIC)",
                monotonic_resolution_ns: uadpbench_sender::clock::monotonic_resolution_ns(),
                clocksource: read_trimmed(
                    "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                ),
            },
        }
    }
}
