//! What the machine's latency conditions were: idle driver and states, frequency governor,
//! clocksource, SMT, isolated CPUs, kernel command line — read from sysfs/procfs, recorded in
//! meta.json and checked by `doctor`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

fn read_trim(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Facts about the machine that change latency, read once per run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineConditions {
    /// `cpuidle/current_driver` (e.g. `haltpoll`, `intel_idle`, `acpi_idle`); None: no cpuidle.
    pub cpuidle_driver: Option<String>,
    /// `cpuidle/current_governor` (or `current_governor_ro`).
    pub cpuidle_governor: Option<String>,
    /// The idle states of CPU 0: name and exit latency (µs).
    pub idle_states: Vec<IdleStateInfo>,
    /// `haltpoll.guest_halt_poll_ns` when the haltpoll driver is loaded: how long an idle vCPU
    /// polls before halting (0: it halts at once).
    pub guest_halt_poll_ns: Option<u64>,
    /// `current_clocksource` (tsc, kvm-clock, hpet, …).
    pub clocksource: Option<String>,
    /// `cpufreq/scaling_governor` of each CPU that has cpufreq (none on most VMs).
    pub cpufreq_governors: BTreeMap<usize, String>,
    /// SMT active (`/sys/devices/system/cpu/smt/active`).
    pub smt_active: Option<bool>,
    /// SMT siblings of every online CPU, as kernel CPU lists.
    pub smt_siblings: BTreeMap<usize, String>,
    /// `/sys/devices/system/cpu/isolated` (isolcpus=).
    pub isolated_cpus: Option<String>,
    /// `/sys/devices/system/cpu/nohz_full`.
    pub nohz_full: Option<String>,
    /// Online CPUs.
    pub online_cpus: Option<String>,
    /// The kernel's command line (`/proc/cmdline` up to a ` -- `, after which the words belong
    /// to init).
    pub kernel_cmdline: Option<String>,
}

/// One idle state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleStateInfo {
    pub index: usize,
    pub name: String,
    /// Exit latency, µs.
    pub latency_us: u64,
    /// A polling state (the CPU does not stop; leaving it costs nothing).
    pub polling: bool,
}

fn idle_state_dirs(cpu: usize) -> Vec<(usize, std::path::PathBuf)> {
    let base = format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle");
    let mut v: Vec<(usize, std::path::PathBuf)> = std::fs::read_dir(&base)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let i = name.strip_prefix("state")?.parse().ok()?;
            Some((i, e.path()))
        })
        .collect();
    v.sort();
    v
}

/// Whether an idle state polls (the kernel names its polling state `POLL`).
pub fn is_polling_state(name: &str) -> bool {
    name.eq_ignore_ascii_case("POLL")
}

impl MachineConditions {
    /// Reads this machine's conditions.
    pub fn read() -> MachineConditions {
        let cpu = "/sys/devices/system/cpu";
        let online = read_trim(format!("{cpu}/online"));
        let online_list = online
            .as_deref()
            .and_then(|s| super::placement::parse_cpu_list(s).ok())
            .unwrap_or_default();
        let idle_states = idle_state_dirs(0)
            .into_iter()
            .filter_map(|(index, dir)| {
                let name = read_trim(dir.join("name"))?;
                Some(IdleStateInfo {
                    index,
                    polling: is_polling_state(&name),
                    latency_us: read_trim(dir.join("latency"))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    name,
                })
            })
            .collect();
        let cmdline = read_trim("/proc/cmdline").map(|c| match c.find(" -- ") {
            Some(i) => c[..i].to_owned(),
            None => c,
        });
        MachineConditions {
            cpuidle_driver: read_trim(format!("{cpu}/cpuidle/current_driver")),
            cpuidle_governor: read_trim(format!("{cpu}/cpuidle/current_governor"))
                .or_else(|| read_trim(format!("{cpu}/cpuidle/current_governor_ro"))),
            idle_states,
            guest_halt_poll_ns: read_trim("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
                .and_then(|v| v.parse().ok()),
            clocksource: read_trim(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            ),
            cpufreq_governors: online_list
                .iter()
                .filter_map(|&c| {
                    read_trim(format!("{cpu}/cpu{c}/cpufreq/scaling_governor")).map(|g| (c, g))
                })
                .collect(),
            smt_active: read_trim(format!("{cpu}/smt/active")).map(|v| v == "1"),
            smt_siblings: online_list
                .iter()
                .filter_map(|&c| {
                    read_trim(format!("{cpu}/cpu{c}/topology/thread_siblings_list")).map(|s| (c, s))
                })
                .collect(),
            isolated_cpus: read_trim(format!("{cpu}/isolated")),
            nohz_full: read_trim(format!("{cpu}/nohz_full")),
            online_cpus: online,
            kernel_cmdline: cmdline,
        }
    }

    /// The deepest idle state's exit latency, µs (0 without cpuidle).
    pub fn deepest_idle_latency_us(&self) -> u64 {
        self.idle_states
            .iter()
            .map(|s| s.latency_us)
            .max()
            .unwrap_or(0)
    }
}

/// Cumulative idle-state entries of some CPUs: `[cpu] → [(state name, usage, time µs)]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdleCounters(BTreeMap<usize, Vec<(String, u64, u64)>>);

impl IdleCounters {
    /// Reads the counters of `cpus`.
    pub fn read(cpus: &[usize]) -> IdleCounters {
        IdleCounters(
            cpus.iter()
                .map(|&c| {
                    let states = idle_state_dirs(c)
                        .into_iter()
                        .filter_map(|(_, dir)| {
                            let num = |f: &str| {
                                read_trim(dir.join(f)).and_then(|v| v.parse::<u64>().ok())
                            };
                            Some((read_trim(dir.join("name"))?, num("usage")?, num("time")?))
                        })
                        .collect();
                    (c, states)
                })
                .collect(),
        )
    }

    /// Entries and time per CPU and state between `self` (before) and `after`.
    pub fn delta(&self, after: &IdleCounters) -> Vec<IdleDelta> {
        let mut out = Vec::new();
        for (cpu, before) in &self.0 {
            let Some(after) = after.0.get(cpu) else {
                continue;
            };
            for ((name, u0, t0), (name1, u1, t1)) in before.iter().zip(after) {
                if name != name1 {
                    continue;
                }
                out.push(IdleDelta {
                    cpu: *cpu,
                    state: name.clone(),
                    polling: is_polling_state(name),
                    entries: u1.saturating_sub(*u0),
                    time_us: t1.saturating_sub(*t0),
                });
            }
        }
        out
    }
}

/// Cumulative time the hypervisor ran something else while a vCPU wanted to run ("steal",
/// the 8th value of a `cpuN` line of `/proc/stat`), per CPU, in USER_HZ ticks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StealCounters(BTreeMap<usize, u64>);

impl StealCounters {
    /// Reads the steal time of every CPU.
    pub fn read() -> StealCounters {
        StealCounters(
            std::fs::read_to_string("/proc/stat")
                .map(|s| parse_steal(&s))
                .unwrap_or_default(),
        )
    }

    /// Steal time of `cpus` between `self` (before) and `after`, ms.
    pub fn delta_ms(&self, after: &StealCounters, cpus: &[usize]) -> BTreeMap<usize, f64> {
        // SAFETY: sysconf has no preconditions.
        let hz = match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
            v if v > 0 => v as f64,
            _ => 100.0,
        };
        cpus.iter()
            .filter_map(|c| {
                let (a, b) = (self.0.get(c)?, after.0.get(c)?);
                Some((*c, b.saturating_sub(*a) as f64 * 1000.0 / hz))
            })
            .collect()
    }
}

/// `cpuN` → steal ticks from a `/proc/stat` text.
pub fn parse_steal(text: &str) -> BTreeMap<usize, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let cpu: usize = f.next()?.strip_prefix("cpu")?.parse().ok()?;
            let steal = f.nth(7)?.parse().ok()?;
            Some((cpu, steal))
        })
        .collect()
}

/// Idle-state use of one CPU during a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdleDelta {
    pub cpu: usize,
    pub state: String,
    pub polling: bool,
    /// Times the CPU entered the state.
    pub entries: u64,
    /// Time spent in it, µs.
    pub time_us: u64,
}

/// Entries into idle states deeper than polling, summed over `deltas`.
pub fn deep_idle_entries(deltas: &[IdleDelta]) -> u64 {
    deltas
        .iter()
        .filter(|d| !d.polling)
        .map(|d| d.entries)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_machine() {
        let m = MachineConditions::read();
        assert!(m.online_cpus.is_some());
        assert!(m.clocksource.is_some());
        if let Some(c) = &m.kernel_cmdline {
            assert!(!c.contains(" -- "));
        }
    }

    #[test]
    fn steal_is_parsed_per_cpu() {
        let text = "cpu  342255 0 76348 108359 2805 0 1454 1814 0 0\ncpu0 1 2 3 4 5 6 7 80 0 0\ncpu1 1 2 3 4 5 6 7 90 0 0\nintr 5\n";
        let s = parse_steal(text);
        assert_eq!(s.get(&0), Some(&80));
        assert_eq!(s.get(&1), Some(&90));
        assert_eq!(s.len(), 2);
        let before = StealCounters(s);
        let after = StealCounters(parse_steal(&text.replace(" 80 ", " 85 ")));
        let d = before.delta_ms(&after, &[0, 1, 7]);
        assert!(d[&0] > 0.0);
        assert_eq!(d[&1], 0.0);
        assert!(!d.contains_key(&7));
        assert!(!StealCounters::read().0.is_empty());
    }

    #[test]
    fn idle_deltas_count_deep_states_only() {
        let before = IdleCounters(BTreeMap::from([(
            1,
            vec![("POLL".into(), 10, 5), ("C1".into(), 100, 1000)],
        )]));
        let after = IdleCounters(BTreeMap::from([(
            1,
            vec![("POLL".into(), 50, 9), ("C1".into(), 103, 1090)],
        )]));
        let d = before.delta(&after);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].entries, 40);
        assert!(d[0].polling);
        assert_eq!(d[1].time_us, 90);
        assert_eq!(deep_idle_entries(&d), 3);
        // A CPU missing afterwards contributes nothing.
        assert!(before.delta(&IdleCounters::default()).is_empty());
    }
}
