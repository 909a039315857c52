//! meta.json: what a reader of the results needs to trust and reproduce them — kernel, CPU,
//! clock source, tool version and git revision, the exact configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::conditions::{IdleDelta, MachineConditions, Modes, ResolvedPlacement};

/// meta.json of one run (`run`, each run of a campaign or an overhead measurement): written by
/// `run::write_results` with `C` = the run's `RunConfig`, read back (by `report`, `report.html`,
/// `compare`, campaign resume and the overhead analysis) with `C` = the configuration as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMeta<C = serde_json::Value> {
    pub run_id: String,
    pub started_utc: Option<String>,
    pub finished_utc: Option<String>,
    pub config: C,
    pub environment: Environment,
    /// Where the two sides ran: the local veth pair and its namespaces, or (with `--peer`) this
    /// host's and the agent host's interfaces — two shapes, kept as JSON.
    pub topology: serde_json::Value,
    pub conditions: RunConditions,
    /// A signal stopped the measurement before it was complete.
    pub interrupted: bool,
    pub message_layout: String,
    pub timing_source: String,
    /// The probe session (`--probes`): layers, stats window, losses.
    #[serde(default)]
    pub probes: Option<serde_json::Value>,
    /// The SO_TIMESTAMPING clock cross-check (`--so-timestamping`).
    #[serde(default)]
    pub clock_check: Option<serde_json::Value>,
    /// The receiving veth's capture (`--pcap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<serde_json::Value>,
    /// The far host of a `run --peer`: agent, clock offsets, the reflector's conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<serde_json::Value>,
    /// A fan-out run (`--subscribers N`): how many, which files, what the rows count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fanout: Option<serde_json::Value>,
    /// What a transport did differently from what the configuration asked (e.g. AF_XDP copy
    /// mode when the driver refused zero-copy), each with its reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transport_notes: Vec<String>,
}

/// The local machine's conditions around the timed part of a run (meta.json `conditions`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunConditions {
    pub placement: ResolvedPlacement,
    /// PM QoS CPU latency limit held while timed, µs, or `off`.
    pub idle_latency_us: String,
    /// What was held, in words.
    pub pm_qos: String,
    pub timed_cpus: Vec<usize>,
    /// Idle states entered on the timed CPUs during the timed part.
    pub idle_during_run: Vec<IdleDelta>,
    /// Steal time per timed CPU during the timed part, ms.
    pub steal_ms_during_run: BTreeMap<usize, f64>,
    pub timed_ms: f64,
    pub threads: Vec<ThreadConditions>,
    pub machine: MachineConditions,
    /// `ok`, or the quality flags joined by `+`.
    pub quality: String,
    /// The two modes of a multimodal latency distribution.
    pub modes: Option<Modes>,
}

/// How a timed thread was scheduled during its loop (warm-up included).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThreadConditions {
    pub role: String,
    pub migrations: Option<u64>,
    pub involuntary_switches: u64,
    pub voluntary_switches: u64,
    pub first_cpu: Option<u32>,
    pub last_cpu: Option<u32>,
    /// The loop's wall time and how much of it the thread ran on a CPU or waited for one
    /// (`/proc/thread-self/schedstat`), ns; the rest it slept.
    #[serde(default)]
    pub window_ns: u64,
    #[serde(default)]
    pub on_cpu_ns: Option<u64>,
    #[serde(default)]
    pub runqueue_wait_ns: Option<u64>,
    /// Which part of the run the counts cover.
    pub window: String,
}

/// meta.json of a campaign directory (`C`: the campaign as written, or as JSON when read).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CampaignMeta<C = serde_json::Value> {
    pub campaign: C,
    pub started_utc: Option<String>,
    pub finished_utc: Option<String>,
    pub interrupted: bool,
    /// The merged Perfetto trace of the campaign's probe runs (`campaign --trace`).
    pub trace: Option<crate::trace::TraceSpec>,
    pub environment: Environment,
}

/// meta.json of an `overhead` directory (`C`: the workload's `RunConfig` when written).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverheadMeta<C = serde_json::Value> {
    /// Always `uadpbench overhead`.
    pub kind: String,
    pub started_utc: Option<String>,
    pub finished_utc: Option<String>,
    pub config: C,
    /// The probe set of the "on" arm.
    pub probes: serde_json::Value,
    pub repetitions: usize,
    pub complete_repetitions: usize,
    pub arms: Vec<String>,
    pub bootstrap: BootstrapMeta,
    pub bpftrace: Option<BpftraceMeta>,
    pub runs: Vec<OverheadRunMeta>,
    pub interrupted: bool,
    pub environment: Environment,
}

/// How the overhead's confidence intervals were computed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootstrapMeta {
    pub method: String,
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
    pub rng: String,
}

/// The bpftrace arm of an overhead measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BpftraceMeta {
    pub script: String,
    pub probes: serde_json::Value,
    pub skipped_layers: serde_json::Value,
}

/// One run of an overhead measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverheadRunMeta {
    pub index: usize,
    pub arm: String,
    pub repetition: usize,
    /// The run's directory, relative to the overhead directory.
    pub dir: PathBuf,
    pub interrupted: bool,
    pub bpftrace_events: Option<serde_json::Value>,
}

/// Any results directory's meta.json, as read: told apart by the key only that kind has
/// (`run_id`, `campaign`, `kind`). Not `#[serde(untagged)]`: serde's untagged buffering cannot
/// read map keys that are numbers (`steal_ms_during_run`'s CPU numbers).
#[derive(Debug, Clone)]
pub enum DirMeta {
    Run(Box<RunMeta>),
    Campaign(Box<CampaignMeta>),
    Overhead(Box<OverheadMeta>),
}

impl<'de> Deserialize<'de> for DirMeta {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = serde_json::Value::deserialize(d)?;
        let has = |k: &str| v.get(k).is_some();
        let r = if has("run_id") {
            serde_json::from_value(v).map(|m| DirMeta::Run(Box::new(m)))
        } else if has("campaign") {
            serde_json::from_value(v).map(|m| DirMeta::Campaign(Box::new(m)))
        } else if has("kind") {
            serde_json::from_value(v).map(|m| DirMeta::Overhead(Box::new(m)))
        } else {
            return Err(D::Error::custom(
                "not a uadpbench meta.json (no run_id, campaign or kind)",
            ));
        };
        r.map_err(D::Error::custom)
    }
}

impl DirMeta {
    pub fn environment(&self) -> &Environment {
        match self {
            DirMeta::Run(m) => &m.environment,
            DirMeta::Campaign(m) => &m.environment,
            DirMeta::Overhead(m) => &m.environment,
        }
    }

    pub fn started_utc(&self) -> Option<&str> {
        match self {
            DirMeta::Run(m) => m.started_utc.as_deref(),
            DirMeta::Campaign(m) => m.started_utc.as_deref(),
            DirMeta::Overhead(m) => m.started_utc.as_deref(),
        }
    }
}

/// Reads and parses a meta.json (`None` when missing or not of this shape).
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// The meta.json of a run, campaign or overhead directory, and the run meta.json that holds
/// the run conditions: the directory's own for a run, its first run's (`runs/*/meta.json`)
/// otherwise.
pub fn read_metas(dir: &Path) -> (Option<DirMeta>, Option<RunMeta>) {
    let top: Option<DirMeta> = read_json(&dir.join("meta.json"));
    let run = match &top {
        Some(DirMeta::Run(m)) => Some((**m).clone()),
        _ => {
            let mut runs: Vec<PathBuf> = std::fs::read_dir(dir.join("runs"))
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path().join("meta.json"))
                .filter(|p| p.is_file())
                .collect();
            runs.sort();
            runs.first().and_then(|p| read_json(p))
        }
    };
    (top, run)
}

/// Environment facts recorded with every run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Environment {
    pub tool: String,
    pub tool_version: String,
    pub git_revision: String,
    pub kernel_release: String,
    pub kernel_version: String,
    pub machine: String,
    pub cpu_model: String,
    pub online_cpus: usize,
    pub clock: ClockInfo,
}

/// Which clocks the timestamps come from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClockInfo {
    /// Every user-space timestamp: clock_gettime(CLOCK_MONOTONIC).
    pub userspace: String,
    /// Every BPF timestamp: bpf_ktime_get_ns(), which reads CLOCK_MONOTONIC.
    pub bpf: String,
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
            tool: "uadpbench".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            git_revision: env!("UADPBENCH_GIT_REVISION").into(),
            kernel_release: field(|u| u.release()),
            kernel_version: field(|u| u.version()),
            machine: field(|u| u.machine()),
            cpu_model: cpu_model(),
            online_cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            clock: ClockInfo {
                userspace: "CLOCK_MONOTONIC".into(),
                bpf: "bpf_ktime_get_ns (CLOCK_MONOTONIC)".into(),
                monotonic_resolution_ns: uadpbench_sender::clock::monotonic_resolution_ns(),
                clocksource: read_trimmed(
                    "/sys/devices/system/clocksource/clocksource0/current_clocksource",
                ),
            },
        }
    }
}

/// One fact of a results directory's conditions, for the tables of `report.html` and the
/// differences `compare` lists first.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionFact {
    /// Stable key (`environment.kernel_release`, `conditions.cpuidle_driver`, …).
    pub key: &'static str,
    /// Words for a person.
    pub label: &'static str,
    /// `None`: not recorded (or not applicable on this machine).
    pub value: Option<String>,
}

/// The machine and run conditions of a directory: environment from its own meta.json (or its
/// first run's), run conditions from the run meta.json of [`read_metas`].
pub fn condition_facts(top: Option<&DirMeta>, run: Option<&RunMeta>) -> Vec<ConditionFact> {
    let env = top
        .map(DirMeta::environment)
        .or(run.map(|r| &r.environment));
    let started = top
        .and_then(DirMeta::started_utc)
        .or(run.and_then(|r| r.started_utc.as_deref()));
    let c = run.map(|r| &r.conditions);
    let m = c.map(|c| &c.machine);
    let fact = |key, label, value: Option<String>| ConditionFact { key, label, value };
    vec![
        fact(
            "environment.kernel_release",
            "kernel",
            env.map(|e| e.kernel_release.clone()),
        ),
        fact(
            "environment.cpu_model",
            "CPU",
            env.map(|e| e.cpu_model.clone()),
        ),
        fact(
            "environment.online_cpus",
            "online CPUs",
            env.map(|e| e.online_cpus.to_string()),
        ),
        fact(
            "environment.clocksource",
            "clocksource",
            env.map(|e| e.clock.clocksource.clone()),
        ),
        fact(
            "environment.tool_version",
            "tool",
            env.map(|e| e.tool_version.clone()),
        ),
        fact(
            "environment.git_revision",
            "git revision",
            env.map(|e| e.git_revision.clone()),
        ),
        fact("started_utc", "started (UTC)", started.map(str::to_owned)),
        fact(
            "conditions.placement",
            "placement of the first run",
            c.map(|c| c.placement.placement.to_string()),
        ),
        fact(
            "conditions.idle_latency_us",
            "PM QoS CPU latency limit (µs)",
            c.map(|c| c.idle_latency_us.clone()),
        ),
        fact(
            "conditions.cpuidle_driver",
            "cpuidle driver",
            m.and_then(|m| m.cpuidle_driver.clone()),
        ),
        fact(
            "conditions.cpuidle_governor",
            "cpuidle governor",
            m.and_then(|m| m.cpuidle_governor.clone()),
        ),
        fact(
            "conditions.guest_halt_poll_ns",
            "haltpoll guest_halt_poll_ns",
            m.and_then(|m| m.guest_halt_poll_ns).map(|v| v.to_string()),
        ),
        fact(
            "conditions.smt_active",
            "SMT active",
            m.and_then(|m| m.smt_active).map(|v| v.to_string()),
        ),
        fact(
            "conditions.isolated_cpus",
            "isolated CPUs",
            m.and_then(|m| m.isolated_cpus.clone()),
        ),
        fact(
            "conditions.kernel_cmdline",
            "kernel command line",
            m.and_then(|m| m.kernel_cmdline.clone()),
        ),
    ]
}

/// A complete run meta.json as a run writes it, for tests of its readers.
#[cfg(test)]
pub(crate) fn test_run_meta_json(interrupted: bool, probes: Option<serde_json::Value>) -> String {
    let cfg = crate::run::RunConfig::default();
    let mut m = tests::run_meta(&cfg);
    m.interrupted = interrupted;
    m.probes = probes;
    serde_json::to_string(&m).expect("serialise a test meta.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::Placement;
    use crate::run::RunConfig;

    pub(super) fn run_meta(cfg: &RunConfig) -> RunMeta<&RunConfig> {
        RunMeta {
            run_id: "udp-udp-pingpong-64B".into(),
            started_utc: Some("2026-12-02T16:00:00Z".into()),
            finished_utc: None,
            config: cfg,
            environment: Environment::current(),
            topology: serde_json::json!({"kind": "veth"}),
            conditions: RunConditions {
                placement: ResolvedPlacement {
                    placement: Placement::CrossCpu,
                    cpu_a: Some(0),
                    cpu_b: Some(1),
                },
                idle_latency_us: "0".into(),
                pm_qos: "held".into(),
                timed_cpus: vec![0, 1],
                idle_during_run: Vec::new(),
                steal_ms_during_run: BTreeMap::from([(0, 0.5)]),
                timed_ms: 120.0,
                threads: Vec::new(),
                machine: MachineConditions {
                    cpuidle_driver: Some("haltpoll".into()),
                    guest_halt_poll_ns: Some(0),
                    ..MachineConditions::default()
                },
                quality: "ok".into(),
                modes: None,
            },
            interrupted: false,
            message_layout: "benchmark".into(),
            timing_source: "send stamp".into(),
            probes: Some(serde_json::json!({"stats": {"off_at_packet": 1000}})),
            clock_check: None,
            capture: None,
            peer: None,
            fanout: None,
            transport_notes: Vec::new(),
        }
    }

    #[test]
    fn a_written_run_meta_reads_back_typed() {
        let cfg = RunConfig::default();
        let text = serde_json::to_string(&run_meta(&cfg)).unwrap();
        let back: DirMeta = serde_json::from_str(&text).unwrap();
        let DirMeta::Run(m) = &back else {
            panic!("read as {back:?}")
        };
        assert_eq!(m.run_id, "udp-udp-pingpong-64B");
        assert_eq!(m.conditions.placement.cpu_b, Some(1));
        assert_eq!(m.config["count"], serde_json::json!(cfg.count));
        assert!(!m.interrupted);
        let facts = condition_facts(Some(&back), Some(m));
        let get = |k: &str| facts.iter().find(|f| f.key == k).unwrap().value.clone();
        assert_eq!(
            get("conditions.cpuidle_driver").as_deref(),
            Some("haltpoll")
        );
        assert_eq!(get("conditions.guest_halt_poll_ns").as_deref(), Some("0"));
        assert_eq!(get("conditions.placement").as_deref(), Some("cross-cpu"));
        assert_eq!(get("conditions.smt_active"), None);
        assert_eq!(get("started_utc").as_deref(), Some("2026-12-02T16:00:00Z"));
    }

    #[test]
    fn campaign_and_overhead_metas_are_told_apart() {
        let c = CampaignMeta {
            campaign: serde_json::json!({"name": "x"}),
            started_utc: None,
            finished_utc: None,
            interrupted: true,
            trace: None,
            environment: Environment::current(),
        };
        let back: DirMeta = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert!(
            matches!(back, DirMeta::Campaign(ref m) if m.interrupted),
            "{back:?}"
        );

        let o = OverheadMeta {
            kind: "uadpbench overhead".into(),
            started_utc: None,
            finished_utc: None,
            config: serde_json::json!({}),
            probes: serde_json::json!("all"),
            repetitions: 3,
            complete_repetitions: 3,
            arms: vec!["off".into(), "on".into()],
            bootstrap: BootstrapMeta {
                method: "m".into(),
                resamples: 10,
                confidence: 0.95,
                seed: 1,
                rng: "ChaCha8".into(),
            },
            bpftrace: None,
            runs: Vec::new(),
            interrupted: false,
            environment: Environment::current(),
        };
        let back: DirMeta = serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert!(
            matches!(back, DirMeta::Overhead(ref m) if m.repetitions == 3),
            "{back:?}"
        );
        // Something else is none of them.
        assert!(serde_json::from_str::<DirMeta>("{\"run_id\": 1}").is_err());
    }
}
