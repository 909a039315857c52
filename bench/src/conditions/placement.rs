//! Where the two timed threads run: `--placement cross-cpu|same-cpu|none`, `--cpu-a/--cpu-b`.
//!
//! The default, `cross-cpu`, pins side A and side B to two distinct CPUs — the honest analogue
//! of two hosts: every message crosses CPUs and the receiving thread has to be woken on its
//! own CPU. `same-cpu` pins both to one CPU (the message is handed over by the scheduler on one
//! CPU: no inter-processor wake-up). `none` leaves the threads to the scheduler, whose choice
//! changes from run to run — the reason the same command used to give 3 µs or 80 µs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How the two timed threads are placed on CPUs.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// Side A and side B pinned to two distinct CPUs (chosen deterministically).
    #[default]
    CrossCpu,
    /// Both sides pinned to one CPU.
    SameCpu,
    /// Not pinned (unless `--cpu-a/--cpu-b` pin a side): the scheduler decides.
    None,
}

impl Placement {
    /// The name used on the command line, in campaign files and in the CSV.
    pub fn name(self) -> &'static str {
        match self {
            Placement::CrossCpu => "cross-cpu",
            Placement::SameCpu => "same-cpu",
            Placement::None => "none",
        }
    }

    /// Every placement, in the order campaigns list them.
    pub const ALL: [Placement; 3] = [Placement::CrossCpu, Placement::SameCpu, Placement::None];
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Placement::ALL
            .into_iter()
            .find(|p| p.name() == s.trim())
            .ok_or_else(|| format!("unknown placement {s:?}: use cross-cpu, same-cpu or none"))
    }
}

/// A placement with the CPUs it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedPlacement {
    pub placement: Placement,
    /// CPU of side A's timed thread (initiator / publisher); `None`: not pinned.
    pub cpu_a: Option<usize>,
    /// CPU of side B's timed thread (reflector / subscriber); `None`: not pinned.
    pub cpu_b: Option<usize>,
}

impl ResolvedPlacement {
    /// One line for the printed run header.
    pub fn describe(&self) -> String {
        let cpu = |c: Option<usize>| c.map_or("not pinned".to_owned(), |c| format!("on CPU {c}"));
        format!(
            "placement {}: side A {}, side B {}",
            self.placement,
            cpu(self.cpu_a),
            cpu(self.cpu_b)
        )
    }

    /// The CPUs the timed threads are pinned to (deduplicated, sorted).
    pub fn pinned_cpus(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.cpu_a.into_iter().chain(self.cpu_b).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// A placement that cannot be honoured (exit status 2: a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("CPU {cpu} ({side}) is offline or outside this process's CPU affinity mask; usable CPUs: {usable}")]
    Unusable {
        cpu: usize,
        side: &'static str,
        usable: String,
    },
    #[error("--placement cross-cpu needs two distinct CPUs, but {why}; use --placement same-cpu or choose other --cpu-a/--cpu-b")]
    NeedTwo { why: String },
    #[error("cannot read the usable CPUs ({0}); pass --placement none to run without pinning")]
    Unknown(String),
}

/// Formats CPU numbers as a short list (`0-3,6`).
pub fn cpu_list(cpus: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(",")
    }
}

/// Parses a kernel CPU list (`0-3,6`, as in `/sys/devices/system/cpu/online`).
pub fn parse_cpu_list(s: &str) -> Result<Vec<usize>, String> {
    let mut v = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let bad = || format!("not a CPU list: {s:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b - a > 65_536 {
                    return Err(bad());
                }
                v.extend(a..=b);
            }
            None => v.push(part.parse().map_err(|_| bad())?),
        }
    }
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

/// CPUs this process may run on: online and in its affinity mask.
pub fn usable_cpus() -> Result<Vec<usize>, PlacementError> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map_err(|e| PlacementError::Unknown(format!("/sys/devices/system/cpu/online: {e}")))
        .and_then(|s| parse_cpu_list(&s).map_err(PlacementError::Unknown))?;
    let mask = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map_err(|e| PlacementError::Unknown(format!("sched_getaffinity: {e}")))?;
    Ok(online
        .into_iter()
        .filter(|&c| mask.is_set(c).unwrap_or(false))
        .collect())
}

/// SMT siblings of `cpu` (itself included), from sysfs; just `cpu` when unknown.
pub fn smt_siblings(cpu: usize) -> Vec<usize> {
    std::fs::read_to_string(format!(
        "/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
    ))
    .ok()
    .and_then(|s| parse_cpu_list(&s).ok())
    .unwrap_or_else(|| vec![cpu])
}

/// Resolves a placement against the usable CPUs.
///
/// Deterministic choice: side B gets the highest usable CPU, side A the highest usable CPU
/// that is neither B nor an SMT sibling of B (a sibling only if nothing else is left) — so on
/// a 2-CPU machine A = 0, B = 1, the same every run. Overrides must be usable CPUs.
pub fn resolve(
    placement: Placement,
    cpu_a: Option<usize>,
    cpu_b: Option<usize>,
    usable: &[usize],
    siblings: impl Fn(usize) -> Vec<usize>,
) -> Result<ResolvedPlacement, PlacementError> {
    for (cpu, side) in [(cpu_a, "--cpu-a"), (cpu_b, "--cpu-b")] {
        if let Some(cpu) = cpu {
            if !usable.contains(&cpu) {
                return Err(PlacementError::Unusable {
                    cpu,
                    side,
                    usable: cpu_list(usable),
                });
            }
        }
    }
    let highest = usable.iter().copied().max();
    let (a, b) = match placement {
        Placement::None => (cpu_a, cpu_b),
        Placement::SameCpu => {
            let c = cpu_a.or(cpu_b).or(highest);
            match (cpu_a, cpu_b) {
                (Some(x), Some(y)) if x != y => (Some(x), Some(y)),
                _ => (c, c),
            }
        }
        Placement::CrossCpu => {
            let pick_other = |taken: usize| -> Option<usize> {
                let sib = siblings(taken);
                let mut cands: Vec<usize> =
                    usable.iter().copied().filter(|&c| c != taken).collect();
                cands.sort_unstable_by(|x, y| y.cmp(x));
                cands
                    .iter()
                    .copied()
                    .find(|c| !sib.contains(c))
                    .or_else(|| cands.first().copied())
            };
            let (a, b) = match (cpu_a, cpu_b) {
                (Some(a), Some(b)) => (Some(a), Some(b)),
                (Some(a), None) => (Some(a), pick_other(a)),
                (None, Some(b)) => (pick_other(b), Some(b)),
                (None, None) => {
                    let b = highest;
                    (b.and_then(pick_other), b)
                }
            };
            match (a, b) {
                (Some(a), Some(b)) if a != b => (Some(a), Some(b)),
                (Some(a), Some(_)) => {
                    return Err(PlacementError::NeedTwo {
                        why: format!("both sides were given CPU {a}"),
                    })
                }
                _ => {
                    return Err(PlacementError::NeedTwo {
                        why: format!("only CPU(s) {} are usable", cpu_list(usable)),
                    })
                }
            }
        }
    };
    Ok(ResolvedPlacement {
        placement,
        cpu_a: a,
        cpu_b: b,
    })
}

/// [`resolve`] against this machine.
pub fn resolve_here(
    placement: Placement,
    cpu_a: Option<usize>,
    cpu_b: Option<usize>,
) -> Result<ResolvedPlacement, PlacementError> {
    if placement == Placement::None && cpu_a.is_none() && cpu_b.is_none() {
        return Ok(ResolvedPlacement {
            placement,
            cpu_a: None,
            cpu_b: None,
        });
    }
    resolve(placement, cpu_a, cpu_b, &usable_cpus()?, smt_siblings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_smt(c: usize) -> Vec<usize> {
        vec![c]
    }

    #[test]
    fn parses_and_formats_cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,6\n").unwrap(), vec![0, 1, 2, 3, 6]);
        assert_eq!(parse_cpu_list("1").unwrap(), vec![1]);
        assert_eq!(parse_cpu_list("").unwrap(), Vec::<usize>::new());
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("0-99999999999").is_err());
        assert_eq!(cpu_list(&[0, 1, 2, 3, 6]), "0-3,6");
        assert_eq!(cpu_list(&[]), "none");
    }

    #[test]
    fn placement_names_round_trip() {
        for p in Placement::ALL {
            assert_eq!(p.name().parse::<Placement>().unwrap(), p);
        }
        assert!("cross".parse::<Placement>().is_err());
        assert_eq!(Placement::default(), Placement::CrossCpu);
    }

    #[test]
    fn cross_cpu_is_deterministic_and_distinct() {
        let r = resolve(Placement::CrossCpu, None, None, &[0, 1], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(0), Some(1)));
        let r2 = resolve(Placement::CrossCpu, None, None, &[0, 1], no_smt).unwrap();
        assert_eq!(r, r2);
        let r = resolve(Placement::CrossCpu, None, None, &[0, 1, 2, 3], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(2), Some(3)));
    }

    #[test]
    fn cross_cpu_avoids_smt_siblings() {
        // 0/2 and 1/3 are sibling pairs.
        let smt = |c: usize| {
            if c.is_multiple_of(2) {
                vec![0, 2]
            } else {
                vec![1, 3]
            }
        };
        let r = resolve(Placement::CrossCpu, None, None, &[0, 1, 2, 3], smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(2), Some(3)));
        let smt = |c: usize| if c < 2 { vec![0, 1] } else { vec![2, 3] };
        let r = resolve(Placement::CrossCpu, None, None, &[0, 1, 2, 3], smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(1), Some(3)));
        // Only siblings left: take one rather than fail.
        let r = resolve(Placement::CrossCpu, None, None, &[0, 1], |_| vec![0, 1]).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(0), Some(1)));
    }

    #[test]
    fn overrides_win_and_are_checked() {
        let r = resolve(Placement::CrossCpu, Some(1), None, &[0, 1], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(1), Some(0)));
        let r = resolve(Placement::CrossCpu, Some(1), Some(0), &[0, 1], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(1), Some(0)));
        let e = resolve(Placement::CrossCpu, Some(4), None, &[0, 1], no_smt).unwrap_err();
        assert!(matches!(e, PlacementError::Unusable { cpu: 4, .. }), "{e}");
        assert!(e.to_string().contains("usable CPUs: 0-1"), "{e}");
        let e = resolve(Placement::SameCpu, None, Some(9), &[0, 1], no_smt).unwrap_err();
        assert!(matches!(e, PlacementError::Unusable { cpu: 9, .. }));
        let e = resolve(Placement::CrossCpu, Some(1), Some(1), &[0, 1], no_smt).unwrap_err();
        assert!(matches!(e, PlacementError::NeedTwo { .. }), "{e}");
    }

    #[test]
    fn same_cpu_and_none() {
        let r = resolve(Placement::SameCpu, None, None, &[0, 1], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(1), Some(1)));
        let r = resolve(Placement::SameCpu, Some(0), None, &[0, 1], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (Some(0), Some(0)));
        let r = resolve(Placement::None, None, None, &[0, 1], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (None, None));
        let r = resolve(Placement::None, None, Some(1), &[0, 1], no_smt).unwrap();
        assert_eq!((r.cpu_a, r.cpu_b), (None, Some(1)));
        assert_eq!(r.pinned_cpus(), vec![1]);
    }

    #[test]
    fn cross_cpu_needs_two_cpus() {
        let e = resolve(Placement::CrossCpu, None, None, &[3], no_smt).unwrap_err();
        assert!(matches!(e, PlacementError::NeedTwo { .. }));
        assert!(e.to_string().contains("same-cpu"), "{e}");
    }

    #[test]
    fn this_machine_resolves() {
        let usable = usable_cpus().expect("usable CPUs");
        assert!(!usable.is_empty());
        let r = resolve_here(Placement::SameCpu, None, None).expect("same-cpu");
        assert!(usable.contains(&r.cpu_a.expect("pinned")));
    }
}
