//! PM QoS: keep CPUs out of idle states slower to leave than a bound while a run is timed.
//!
//! Writing a 32-bit latency (µs) to `/dev/cpu_dma_latency` and keeping the file open asks the
//! cpuidle governor to use only idle states whose exit latency is at most that value (0: only
//! polling). The request lasts as long as the file descriptor: the guard closes it when dropped,
//! and the kernel drops it when the process dies, even by SIGKILL. cyclictest holds 0 by default
//! for the same reason: on a VM whose idle driver halts the vCPU (haltpoll with
//! `guest_halt_poll_ns=0`), waking a halted CPU costs tens of µs per message.

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// The PM QoS device.
pub const CPU_DMA_LATENCY: &str = "/dev/cpu_dma_latency";

/// Largest `--idle-latency-us` accepted (the kernel's default "no constraint" is 2 000 s).
pub const MAX_IDLE_LATENCY_US: u32 = 2_000_000_000;

/// An active PM QoS CPU latency request; released on drop.
#[derive(Debug)]
pub struct PmQosGuard {
    file: File,
    latency_us: u32,
}

/// The request could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PmQosError {
    #[error("cannot open {CPU_DMA_LATENCY} ({0}): it needs root; pass --idle-latency-us off to run without holding idle states (results then depend on how fast idle CPUs wake up)")]
    Open(std::io::Error),
    #[error("cannot write {CPU_DMA_LATENCY} ({0})")]
    Write(std::io::Error),
}

impl PmQosGuard {
    /// Holds a CPU latency limit of `latency_us` until dropped.
    pub fn hold(latency_us: u32) -> Result<PmQosGuard, PmQosError> {
        Self::hold_at(Path::new(CPU_DMA_LATENCY), latency_us)
    }

    fn hold_at(path: &Path, latency_us: u32) -> Result<PmQosGuard, PmQosError> {
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(PmQosError::Open)?;
        // The device takes a binary s32 (or an ASCII hex string); binary is what cyclictest writes.
        let v = latency_us.min(i32::MAX as u32) as i32;
        file.write_all(&v.to_ne_bytes())
            .map_err(PmQosError::Write)?;
        Ok(PmQosGuard { file, latency_us })
    }

    /// The requested limit.
    pub fn latency_us(&self) -> u32 {
        self.latency_us
    }

    /// Releases the request now (same as dropping the guard).
    pub fn release(self) {
        drop(self.file);
    }
}

/// The CPU latency limit in force now (the strictest request of all processes), µs.
pub fn current_limit_us() -> std::io::Result<i32> {
    let mut f = File::open(CPU_DMA_LATENCY)?;
    let mut b = [0u8; 4];
    f.read_exact(&mut b)?;
    Ok(i32::from_ne_bytes(b))
}

/// `--idle-latency-us`: a limit in µs, or `off` (no request). In campaign files an integer
/// or the string "off".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdleLatency {
    /// Hold this limit (µs) while the run is timed.
    Hold(u32),
    /// Do not touch idle states.
    Off,
}

impl Default for IdleLatency {
    fn default() -> Self {
        IdleLatency::Hold(0)
    }
}

impl std::fmt::Display for IdleLatency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdleLatency::Hold(us) => write!(f, "{us}"),
            IdleLatency::Off => f.write_str("off"),
        }
    }
}

impl std::str::FromStr for IdleLatency {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(IdleLatency::Off);
        }
        match s.parse::<u64>() {
            Ok(v) if v <= MAX_IDLE_LATENCY_US as u64 => Ok(IdleLatency::Hold(v as u32)),
            _ => Err(format!(
                "idle latency {s:?}: give microseconds in 0..={MAX_IDLE_LATENCY_US} (0 = only polling idle) or `off`"
            )),
        }
    }
}

impl serde::Serialize for IdleLatency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            IdleLatency::Hold(us) => s.serialize_u32(*us),
            IdleLatency::Off => s.serialize_str("off"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for IdleLatency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(i64),
            Str(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(v) => v.to_string().parse(),
            Raw::Str(s) => s.parse(),
        }
        .map_err(serde::de::Error::custom)
    }
}

impl IdleLatency {
    /// Holds the request (None for `off`).
    pub fn hold(self) -> Result<Option<PmQosGuard>, PmQosError> {
        match self {
            IdleLatency::Hold(us) => PmQosGuard::hold(us).map(Some),
            IdleLatency::Off => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_idle_latency() {
        assert_eq!("0".parse::<IdleLatency>().unwrap(), IdleLatency::Hold(0));
        assert_eq!("OFF".parse::<IdleLatency>().unwrap(), IdleLatency::Off);
        assert_eq!("20".parse::<IdleLatency>().unwrap(), IdleLatency::Hold(20));
        assert!("-1".parse::<IdleLatency>().is_err());
        assert!("nan".parse::<IdleLatency>().is_err());
        assert!("18446744073709551615".parse::<IdleLatency>().is_err());
        assert_eq!(IdleLatency::default(), IdleLatency::Hold(0));
        assert_eq!(IdleLatency::Hold(5).to_string(), "5");
    }

    #[test]
    fn idle_latency_in_toml() {
        #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
        struct T {
            v: IdleLatency,
        }
        let t: T = toml::from_str("v = 0").unwrap();
        assert_eq!(t.v, IdleLatency::Hold(0));
        let t: T = toml::from_str("v = \"off\"").unwrap();
        assert_eq!(t.v, IdleLatency::Off);
        assert!(toml::from_str::<T>("v = -3").is_err());
        let back: T = toml::from_str(
            &toml::to_string(&T {
                v: IdleLatency::Hold(12),
            })
            .unwrap(),
        )
        .unwrap();
        assert_eq!(back.v, IdleLatency::Hold(12));
    }

    #[test]
    fn hold_writes_a_binary_s32_and_releases() {
        // A regular file stands in for the device to check the bytes written.
        let dir = std::env::temp_dir().join(format!("uadpbench-pmqos-{}", std::process::id()));
        std::fs::write(&dir, []).unwrap();
        let g = PmQosGuard::hold_at(&dir, 7).unwrap();
        assert_eq!(g.latency_us(), 7);
        assert_eq!(std::fs::read(&dir).unwrap(), 7i32.to_ne_bytes());
        g.release();
        std::fs::remove_file(&dir).unwrap();
    }
}
