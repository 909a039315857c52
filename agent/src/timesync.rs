//! How a host's clocks are disciplined, as far as the host itself can tell: the kernel's NTP
//! state (`adjtimex`), the time daemons running (ptp4l, phc2sys, chronyd …), its PTP hardware
//! clocks, ptp4l's own offset from its master (from linuxptp's `pmc`, when ptp4l runs), and
//! `CLOCK_TAI − CLOCK_MONOTONIC` read on the spot.
//!
//! Two hosts whose CLOCK_TAI are both disciplined by PTP to one grandmaster share a time
//! scale: an agent's CLOCK_MONOTONIC time then maps onto the controller's as
//! `t − (tai_minus_monotonic(controller) − tai_minus_monotonic(agent))` — no estimate over the
//! control connection needed. [`TimeSync::ptp_disciplined`] says whether a host looks like that.
//! CLOCK_MONOTONIC and CLOCK_TAI are slewed alike by frequency corrections, so
//! `CLOCK_TAI − CLOCK_MONOTONIC` only changes when the clock is stepped (a daemon starting, a
//! leap second, `date -s`): a run compares it before and after.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Daemons that discipline a clock, by process name (`/proc/<pid>/comm`).
pub const TIME_DAEMONS: [&str; 7] = [
    "ptp4l",
    "phc2sys",
    "ts2phc",
    "timemaster",
    "chronyd",
    "ntpd",
    "systemd-timesyn",
];

/// How long `pmc` may take to answer before it is killed.
const PMC_TIMEOUT: Duration = Duration::from_secs(2);

/// A host's clock discipline and its `CLOCK_TAI − CLOCK_MONOTONIC` at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeSync {
    /// The kernel considers its clock synchronised (`adjtimex`: `STA_UNSYNC` clear).
    pub kernel_synchronised: bool,
    /// `adjtimex`'s clock state: `ok`, `insert leap`, `delete leap`, `leap in progress`,
    /// `leap done`, `unsynchronised`.
    pub kernel_state: String,
    /// `adjtimex` maximum and estimated error (µs) as the disciplining daemon last set them
    /// (phc2sys keeps maxerror low to hold `STA_UNSYNC` off; it is not PTP's error).
    pub maxerror_us: i64,
    /// `adjtimex` estimated error (µs), as the disciplining daemon last set it.
    pub esterror_us: i64,
    /// TAI − UTC (s) set in the kernel; 0: not set, CLOCK_TAI then equals CLOCK_REALTIME.
    pub tai_offset_s: i32,
    /// Clock daemons running ([`TIME_DAEMONS`]), sorted, each once.
    pub daemons: Vec<String>,
    /// PTP hardware clocks (`/sys/class/ptp`): `ptp0 (clock name)`.
    pub phcs: Vec<String>,
    /// `CLOCK_TAI − CLOCK_MONOTONIC` (ns), read between two CLOCK_MONOTONIC reads.
    pub tai_minus_monotonic_ns: i64,
    /// The span of the two CLOCK_MONOTONIC reads around the TAI read (ns): the read's error.
    pub read_width_ns: u64,
    /// ptp4l's last offset from its master (ns), from `pmc -u -b 0 'GET TIME_STATUS_NP'`;
    /// `None` without ptp4l or pmc, or when pmc did not answer.
    #[serde(default)]
    pub ptp4l_master_offset_ns: Option<i64>,
    /// ptp4l sees a grandmaster (`gmPresent`); `None` as above.
    #[serde(default)]
    pub ptp4l_gm_present: Option<bool>,
    /// The grandmaster's identity (`gmIdentity`); two hosts on one PTP domain report the same.
    #[serde(default)]
    pub ptp4l_gm_identity: Option<String>,
}

impl TimeSync {
    /// Reads this host's state (runs `pmc` only when ptp4l runs; at most [`PMC_TIMEOUT`]).
    pub fn read() -> TimeSync {
        let mut t = TimeSync::default();
        read_adjtimex(&mut t);
        t.daemons = running_daemons();
        t.phcs = phcs();
        let (d, width) = tai_minus_monotonic();
        t.tai_minus_monotonic_ns = d;
        t.read_width_ns = width;
        if t.daemons.iter().any(|d| d == "ptp4l") {
            if let Some(text) = pmc_time_status() {
                let s = parse_time_status(&text);
                t.ptp4l_master_offset_ns = s.master_offset_ns;
                t.ptp4l_gm_present = s.gm_present;
                t.ptp4l_gm_identity = s.gm_identity;
            }
        }
        t
    }

    /// The host's CLOCK_TAI looks PTP-disciplined: ptp4l and phc2sys run and the kernel clock
    /// is synchronised.
    pub fn ptp_disciplined(&self) -> bool {
        self.kernel_synchronised
            && ["ptp4l", "phc2sys"]
                .iter()
                .all(|d| self.daemons.iter().any(|x| x == d))
    }

    /// Why the host's CLOCK_TAI is not PTP-disciplined, in words; `None` if it is.
    pub fn why_not_ptp(&self) -> Option<String> {
        let mut missing: Vec<&str> = ["ptp4l", "phc2sys"]
            .into_iter()
            .filter(|d| !self.daemons.iter().any(|x| x == d))
            .collect();
        if !self.kernel_synchronised {
            missing.push("a synchronised kernel clock (adjtimex reports STA_UNSYNC)");
        }
        if missing.is_empty() {
            None
        } else {
            Some(format!("no {}", missing.join(", no ")))
        }
    }
}

fn read_adjtimex(t: &mut TimeSync) {
    // SAFETY: timex is plain old data; all-zero (modes = 0) asks adjtimex to read only.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, writable timex; modes 0 changes nothing.
    let state = unsafe { libc::adjtimex(&mut tx) };
    t.kernel_synchronised = state >= 0 && tx.status & libc::STA_UNSYNC == 0;
    t.kernel_state = match state {
        libc::TIME_OK => "ok",
        libc::TIME_INS => "insert leap",
        libc::TIME_DEL => "delete leap",
        libc::TIME_OOP => "leap in progress",
        libc::TIME_WAIT => "leap done",
        libc::TIME_ERROR => "unsynchronised",
        _ => "unknown",
    }
    .to_owned();
    t.maxerror_us = tx.maxerror;
    t.esterror_us = tx.esterror;
    t.tai_offset_s = tx.tai;
}

fn running_daemons() -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .map(|c| c.trim().to_owned())
        .filter(|c| TIME_DAEMONS.contains(&c.as_str()))
        .collect();
    found.sort();
    found.dedup();
    found
}

fn phcs() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/sys/class/ptp")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let clock = std::fs::read_to_string(e.path().join("clock_name")).unwrap_or_default();
            format!("{name} ({})", clock.trim())
        })
        .collect();
    out.sort();
    out
}

fn clock_ns(clock: libc::clockid_t) -> i128 {
    // SAFETY: timespec is plain old data.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable timespec; both clocks always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// `CLOCK_TAI − CLOCK_MONOTONIC` (ns) and the width of the read: the narrowest of a few
/// monotonic–TAI–monotonic sandwiches, the TAI read taken at their midpoint.
pub fn tai_minus_monotonic() -> (i64, u64) {
    let mut best = (0i64, u64::MAX);
    for _ in 0..8 {
        let m1 = clock_ns(libc::CLOCK_MONOTONIC);
        let tai = clock_ns(libc::CLOCK_TAI);
        let m2 = clock_ns(libc::CLOCK_MONOTONIC);
        let width = u64::try_from(m2 - m1).unwrap_or(u64::MAX);
        if width < best.1 {
            let d = tai - (m1 + m2) / 2;
            best = (i64::try_from(d).unwrap_or(i64::MAX), width);
        }
    }
    best
}

/// What `GET TIME_STATUS_NP` answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeStatus {
    /// `master_offset` (ns).
    pub master_offset_ns: Option<i64>,
    /// `gmPresent`.
    pub gm_present: Option<bool>,
    /// `gmIdentity`.
    pub gm_identity: Option<String>,
}

/// Reads pmc's `TIME_STATUS_NP` response (`name value` lines, any indentation); unknown
/// lines are ignored.
pub fn parse_time_status(text: &str) -> TimeStatus {
    let mut s = TimeStatus::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        match (f.next(), f.next()) {
            (Some("master_offset"), Some(v)) => s.master_offset_ns = v.parse().ok(),
            (Some("gmPresent"), Some(v)) => s.gm_present = v.parse().ok(),
            (Some("gmIdentity"), Some(v)) => s.gm_identity = Some(v.to_owned()),
            _ => {}
        }
    }
    s
}

/// `pmc -u -b 0 'GET TIME_STATUS_NP'`'s output, or `None` (no pmc, no answer in time).
fn pmc_time_status() -> Option<String> {
    let mut child = Command::new("pmc")
        .args(["-u", "-b", "0", "GET TIME_STATUS_NP"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let t0 = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if t0.elapsed() < PMC_TIMEOUT => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut out).ok()?;
    out.contains("master_offset").then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmc_time_status_is_read() {
        let text = "sending: GET TIME_STATUS_NP\n\t90e2ba.fffe.20c7f8-0 seq 0 RESPONSE MANAGEMENT TIME_STATUS_NP\n\t\tmaster_offset              -310\n\t\tingress_time               1361545089345029441\n\t\tcumulativeScaledRateOffset   +1.000000000\n\t\tgmPresent                  true\n\t\tgmIdentity                 00a069.fffe.0b552d\n";
        assert_eq!(
            parse_time_status(text),
            TimeStatus {
                master_offset_ns: Some(-310),
                gm_present: Some(true),
                gm_identity: Some("00a069.fffe.0b552d".into()),
            }
        );
        assert_eq!(parse_time_status("garbage\n"), TimeStatus::default());
    }

    #[test]
    fn ptp_discipline_needs_both_daemons_and_a_synchronised_kernel() {
        let mut t = TimeSync {
            kernel_synchronised: true,
            daemons: vec!["phc2sys".into(), "ptp4l".into()],
            ..TimeSync::default()
        };
        assert!(t.ptp_disciplined());
        assert_eq!(t.why_not_ptp(), None);
        t.daemons = vec!["chronyd".into()];
        assert!(!t.ptp_disciplined());
        let why = t.why_not_ptp().unwrap_or_default();
        assert!(
            why.contains("no ptp4l") && why.contains("no phc2sys"),
            "{why}"
        );
        t.daemons = vec!["phc2sys".into(), "ptp4l".into()];
        t.kernel_synchronised = false;
        assert!(t.why_not_ptp().is_some_and(|w| w.contains("STA_UNSYNC")));
    }

    #[test]
    fn this_host_is_read() {
        let t = TimeSync::read();
        // TAI is at least the kernel's TAI offset ahead of UTC, and far ahead of the boot.
        assert!(t.tai_minus_monotonic_ns > 1_000_000_000, "{t:?}");
        assert!(t.read_width_ns < 1_000_000, "{t:?}");
        assert!(!t.kernel_state.is_empty());
        // Stable between two reads: nothing steps the clock in between (allow the read error).
        let (d, w) = tai_minus_monotonic();
        assert!(
            (d - t.tai_minus_monotonic_ns).unsigned_abs() <= w + t.read_width_ns + 1_000,
            "{d} vs {}",
            t.tai_minus_monotonic_ns
        );
    }
}
