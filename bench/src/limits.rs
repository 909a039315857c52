//! Process resource limits a run depends on. A run holds namespace descriptors, sockets,
//! AF_XDP rings and (with probes) dozens of BPF maps, programs and links; when the open-file
//! limit runs out halfway, the kernel's EMFILE surfaces as whatever call hit it first
//! ("interface not found", a map that cannot be created) and the namespaces may not be removable
//! any more. So the limit is checked — and the soft limit raised to the hard one, as Go and
//! systemd do for their programs — before anything is set up.

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Fewest open files a run is started with. Sampled peaks of `run --probes all` (every 20 ms,
/// 2026-12-02): 63 descriptors on the udp path, 37 on xdp; the rest is headroom for campaigns
/// (metrics endpoint, trace files) and for probes added later.
pub const MIN_OPEN_FILES: u64 = 256;

/// The open-file limit is too low even after raising the soft limit to the hard one.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the open-file limit is {soft} (hard limit {hard}); a run needs at least {min} descriptors \
     (namespaces, sockets, AF_XDP rings, BPF maps and programs): raise it, e.g. `ulimit -n 1024` \
     in the shell that starts uadpbench, or LimitNOFILE= in a systemd unit"
)]
pub struct TooFewOpenFiles {
    pub soft: u64,
    pub hard: u64,
    pub min: u64,
}

/// What [`ensure_open_files`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// Soft limit before.
    pub was: u64,
    /// Soft limit now.
    pub now: u64,
}

/// The soft limit a process with limits `(soft, hard)` should run with, or why it cannot.
pub fn plan_open_files(soft: u64, hard: u64, min: u64) -> Result<u64, TooFewOpenFiles> {
    let now = soft.max(hard);
    if now < min {
        return Err(TooFewOpenFiles { soft, hard, min });
    }
    Ok(now)
}

/// Raises the soft open-file limit to the hard limit and checks it is at least `min`.
pub fn ensure_open_files(min: u64) -> Result<OpenFiles, TooFewOpenFiles> {
    // getrlimit(RLIMIT_NOFILE) cannot fail for a valid resource; treat a failure as "unknown,
    // leave it" rather than refusing a run over it.
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return Ok(OpenFiles {
            was: u64::MAX,
            now: u64::MAX,
        });
    };
    let now = plan_open_files(soft, hard, min)?;
    if now != soft && setrlimit(Resource::RLIMIT_NOFILE, now, hard).is_err() {
        // Not raised (a sandbox that forbids it): run with what there is if it suffices.
        if soft < min {
            return Err(TooFewOpenFiles { soft, hard, min });
        }
        return Ok(OpenFiles {
            was: soft,
            now: soft,
        });
    }
    Ok(OpenFiles { was: soft, now })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_goes_up_to_the_hard_one() {
        assert_eq!(plan_open_files(1024, 524_288, 256), Ok(524_288));
        assert_eq!(plan_open_files(300, 300, 256), Ok(300));
        assert_eq!(plan_open_files(10, 4096, 256), Ok(4096));
    }

    #[test]
    fn a_hard_limit_below_the_minimum_is_refused_with_what_to_do() {
        let e = plan_open_files(10, 10, 256).unwrap_err();
        assert_eq!(
            e,
            TooFewOpenFiles {
                soft: 10,
                hard: 10,
                min: 256
            }
        );
        let text = e.to_string();
        assert!(text.contains("open-file limit is 10"), "{text}");
        assert!(text.contains("ulimit -n"), "{text}");
    }
}
