//! The agent's clock on this host's axis: the NTP-style estimates before and after a run,
//! interpolated; or — when both hosts' CLOCK_TAI are PTP-disciplined — the difference of
//! their `CLOCK_TAI − CLOCK_MONOTONIC`; or — when the agent runs on this kernel — the one
//! clock both read. [`choose`] picks one and says why.

use uadpbench_agent::{ClockEstimate, HostFacts, TimeSync};

use super::PeerClock;

/// The agent's clock as seen from this host: the two offset estimates taken before and after
/// the run, interpolated linearly in between (the drift of two crystals is linear over a run).
#[derive(Debug, Clone, Copy)]
pub(super) struct AgentClock {
    /// (this host's time of the estimate, offset ns, uncertainty ns), before and after.
    before: (u64, i64, u64),
    after: (u64, i64, u64),
}

impl AgentClock {
    pub(super) fn new(
        before: &ClockEstimate,
        t_before: u64,
        after: &ClockEstimate,
        t_after: u64,
    ) -> Self {
        AgentClock {
            before: (t_before, before.offset_ns, before.uncertainty_ns),
            after: (t_after, after.offset_ns, after.uncertainty_ns),
        }
    }

    /// One kernel, one clock: the offset is known exactly (time-namespace offsets).
    pub(super) fn exact(offset_ns: i64) -> Self {
        AgentClock {
            before: (0, offset_ns, 0),
            after: (0, offset_ns, 0),
        }
    }

    /// The agent's offset at this host's time `t`.
    fn offset_at(&self, t: u64) -> i64 {
        let ((t0, o0, _), (t1, o1, _)) = (self.before, self.after);
        if t1 <= t0 {
            return o0;
        }
        let frac =
            (i128::from(t) - i128::from(t0)) as f64 / (i128::from(t1) - i128::from(t0)) as f64;
        o0 + ((o1 - o0) as f64 * frac.clamp(0.0, 1.0)).round() as i64
    }

    /// An agent CLOCK_MONOTONIC time on this host's clock.
    pub(super) fn to_controller(self, agent_ns: u64) -> u64 {
        let approx = agent_ns.saturating_add_signed(-self.before.1);
        let offset = self.offset_at(approx);
        agent_ns.saturating_add_signed(-offset)
    }

    /// The error a one-way figure can carry from the clocks: the larger uncertainty of the two
    /// estimates (the true offset lies within ± that of each, and linearly in between).
    pub(super) fn error_bound_ns(&self) -> u64 {
        self.before.2.max(self.after.2)
    }
}

/// Where the agent's times on this host's axis come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClockSource {
    /// One kernel, one CLOCK_MONOTONIC (the local stand-in): exact.
    SameKernel,
    /// Both hosts' CLOCK_TAI disciplined by PTP: the difference of their TAI − MONOTONIC.
    PtpTai,
    /// The NTP-style estimate over the control connection.
    Estimate,
}

impl ClockSource {
    /// The name in summary.csv (`one_way_clock_source`) and meta.json.
    pub(super) fn name(self) -> &'static str {
        match self {
            ClockSource::SameKernel => "same_kernel",
            ClockSource::PtpTai => "ptp_tai",
            ClockSource::Estimate => "estimate",
        }
    }
}

/// The clock a run applies to an agent's times, with the facts behind the choice.
#[derive(Debug, Clone)]
pub(super) struct ClockChoice {
    pub(super) clock: AgentClock,
    pub(super) source: ClockSource,
    /// Why this source, in words (printed and in meta.json).
    pub(super) why: String,
    /// The PTP mapping's figures, when it was considered (meta.json `peer.clock.ptp`).
    pub(super) ptp: Option<serde_json::Value>,
}

/// What [`choose`] needs of one run: both hosts' clock facts before and after, and the
/// estimates over the control connection.
pub(super) struct ClockFacts<'a> {
    pub(super) agent: &'a HostFacts,
    pub(super) agent_after: Option<&'a TimeSync>,
    pub(super) local: &'a HostFacts,
    pub(super) local_before: &'a TimeSync,
    pub(super) local_after: &'a TimeSync,
    pub(super) before: &'a ClockEstimate,
    pub(super) t_before: u64,
    pub(super) after: &'a ClockEstimate,
    pub(super) t_after: u64,
}

/// A step of more than this between the before and after reads of `CLOCK_TAI −
/// CLOCK_MONOTONIC` (beyond the reads' own width) means the clock was stepped during the run.
const STEP_NS: u64 = 1_000;

/// Why PTP cannot map this agent's clock, checked before the run (`--peer-clock ptp` refuses
/// with it); `None` when both hosts look PTP-disciplined to one time scale.
pub(super) fn ptp_unavailable(agent: &HostFacts, local: &TimeSync) -> Option<String> {
    let Some(theirs) = &agent.time_sync else {
        return Some("the agent did not report its clock discipline (an older uadpbench)".into());
    };
    if let Some(why) = local.why_not_ptp() {
        return Some(format!(
            "this host's CLOCK_TAI is not PTP-disciplined: {why}"
        ));
    }
    if let Some(why) = theirs.why_not_ptp() {
        return Some(format!(
            "the agent host's CLOCK_TAI is not PTP-disciplined: {why}"
        ));
    }
    if theirs.tai_offset_s != local.tai_offset_s {
        return Some(format!(
            "the kernels' TAI − UTC offsets differ ({} s here, {} s on the agent's host): set it on both (phc2sys -w, or chrony's leapsectz)",
            local.tai_offset_s, theirs.tai_offset_s
        ));
    }
    if let (Some(a), Some(b)) = (&theirs.ptp4l_gm_identity, &local.ptp4l_gm_identity) {
        if a != b {
            return Some(format!(
                "the hosts follow different grandmasters ({b} here, {a} on the agent's host)"
            ));
        }
    }
    None
}

/// Picks the clock of a run (see [`ClockSource`]): the same kernel under `auto`; PTP's
/// CLOCK_TAI under `auto` or `ptp` when both hosts are PTP-disciplined, their
/// TAI − MONOTONIC did not step during the run and the mapping lies inside the estimates'
/// intervals (which hold the true offset); else the estimate.
pub(super) fn choose(mode: PeerClock, f: &ClockFacts<'_>) -> ClockChoice {
    let estimate = AgentClock::new(f.before, f.t_before, f.after, f.t_after);
    if mode == PeerClock::Auto {
        if let Some(offset) = f.agent.exact_monotonic_offset(f.local) {
            return ClockChoice {
                clock: AgentClock::exact(offset),
                source: ClockSource::SameKernel,
                why: "the agent runs on this kernel (same boot id): one CLOCK_MONOTONIC, the time-namespace offset applied".into(),
                ptp: None,
            };
        }
    }
    let fallback = |why: String, ptp: Option<serde_json::Value>| ClockChoice {
        clock: estimate,
        source: ClockSource::Estimate,
        why,
        ptp,
    };
    if mode == PeerClock::Estimate {
        return fallback("--peer-clock estimate".into(), None);
    }
    if let Some(why) = ptp_unavailable(f.agent, f.local_before) {
        return fallback(format!("no common PTP time scale: {why}"), None);
    }
    let (Some(theirs_before), Some(theirs_after)) = (f.agent.time_sync.as_ref(), f.agent_after)
    else {
        return fallback(
            "the agent did not report its clock after the run (an older uadpbench)".into(),
            None,
        );
    };
    let widths = theirs_before.read_width_ns
        + theirs_after.read_width_ns
        + f.local_before.read_width_ns
        + f.local_after.read_width_ns;
    let step = |a: &TimeSync, b: &TimeSync| {
        (b.tai_minus_monotonic_ns - a.tai_minus_monotonic_ns).unsigned_abs()
            > a.read_width_ns + b.read_width_ns + STEP_NS
    };
    // Agent MONOTONIC − this MONOTONIC when both TAI agree: (TAI − MONO here) − (TAI − MONO there).
    let theta = |local: &TimeSync, agent: &TimeSync| {
        local.tai_minus_monotonic_ns - agent.tai_minus_monotonic_ns
    };
    let (theta_before, theta_after) = (
        theta(f.local_before, theirs_before),
        theta(f.local_after, theirs_after),
    );
    let inside = |theta: i64, e: &ClockEstimate| {
        (theta - e.offset_ns).unsigned_abs() <= e.uncertainty_ns + widths
    };
    let consistent = inside(theta_before, f.before) && inside(theta_after, f.after);
    let offsets = [
        theirs_before.ptp4l_master_offset_ns,
        theirs_after.ptp4l_master_offset_ns,
        f.local_before.ptp4l_master_offset_ns,
        f.local_after.ptp4l_master_offset_ns,
    ];
    // ptp4l's own offsets from the master on both hosts (the larger of before and after
    // each), plus the reads' width: what PTP says of itself, not an independent measurement.
    let ptp4l_bound = match offsets {
        [Some(a0), Some(a1), Some(l0), Some(l1)] => Some(
            a0.unsigned_abs().max(a1.unsigned_abs())
                + l0.unsigned_abs().max(l1.unsigned_abs())
                + widths,
        ),
        _ => None,
    };
    let meta = serde_json::json!({
        "offset_before_ns": theta_before,
        "offset_after_ns": theta_after,
        "read_widths_ns": widths,
        "inside_the_estimates": consistent,
        "ptp4l_master_offsets_ns": {
            "agent": [offsets[0], offsets[1]],
            "this_host": [offsets[2], offsets[3]],
        },
        "bound_from": if ptp4l_bound.is_some() {
            "ptp4l's offsets from its master on both hosts (pmc TIME_STATUS_NP) plus the reads' width; phc2sys's own error (system clock vs the PTP hardware clock) is not included"
        } else {
            "the control connection's estimate (ptp4l's offsets could not be read: is linuxptp's pmc installed on both hosts?)"
        },
    });
    if step(theirs_before, theirs_after) || step(f.local_before, f.local_after) {
        return fallback(
            "a clock was stepped during the run (CLOCK_TAI − CLOCK_MONOTONIC changed): PTP's time scale not used".into(),
            Some(meta),
        );
    }
    if !consistent {
        return fallback(
            format!(
                "PTP's CLOCK_TAI disagrees with the control connection's estimate (offset {} ns by TAI, {} ± {} ns by the estimate): the hosts are not synchronised to each other; check ptp4l/phc2sys on both",
                theta_before, f.before.offset_ns, f.before.uncertainty_ns
            ),
            Some(meta),
        );
    }
    let bound = ptp4l_bound.unwrap_or(f.before.uncertainty_ns.max(f.after.uncertainty_ns));
    let at = |offset_ns: i64| ClockEstimate {
        offset_ns,
        uncertainty_ns: bound,
        min_rtt_ns: 0,
        samples: 1,
    };
    ClockChoice {
        clock: AgentClock::new(&at(theta_before), f.t_before, &at(theta_after), f.t_after),
        source: ClockSource::PtpTai,
        why: format!(
            "both hosts' CLOCK_TAI are PTP-disciplined (ptp4l + phc2sys, synchronised kernels): offset = (TAI − MONOTONIC here) − (TAI − MONOTONIC there), inside the control connection's estimate; bound from {}",
            if ptp4l_bound.is_some() { "ptp4l's offsets" } else { "the estimate (pmc unavailable)" }
        ),
        ptp: Some(meta),
    }
}

/// An estimate as meta.json's `peer.clock.before` / `after` records it.
pub(super) fn clock_meta(c: &ClockEstimate) -> serde_json::Value {
    serde_json::json!({
        "offset_ns": c.offset_ns,
        "uncertainty_ns": c.uncertainty_ns,
        "min_rtt_ns": c.min_rtt_ns,
        "samples": c.samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::CLOCK_SAMPLES;

    fn estimate(offset_ns: i64, uncertainty_ns: u64) -> ClockEstimate {
        ClockEstimate {
            offset_ns,
            uncertainty_ns,
            min_rtt_ns: 2 * uncertainty_ns,
            samples: CLOCK_SAMPLES,
        }
    }

    fn ptp_host(d: i64, master_offset: i64) -> TimeSync {
        TimeSync {
            kernel_synchronised: true,
            kernel_state: "ok".into(),
            tai_offset_s: 37,
            daemons: vec!["phc2sys".into(), "ptp4l".into()],
            tai_minus_monotonic_ns: d,
            read_width_ns: 50,
            ptp4l_master_offset_ns: Some(master_offset),
            ptp4l_gm_present: Some(true),
            ptp4l_gm_identity: Some("00a069.fffe.0b552d".into()),
            ..TimeSync::default()
        }
    }

    fn host(boot: &str, ts: &TimeSync) -> HostFacts {
        HostFacts {
            hostname: boot.into(),
            kernel_release: String::new(),
            online_cpus: 2,
            boot_id: Some(boot.into()),
            monotonic_offset_ns: 0,
            time_sync: Some(ts.clone()),
        }
    }

    /// Two PTP hosts: the agent's CLOCK_MONOTONIC is 5 s ahead, so its TAI − MONO is 5 s less.
    fn choose_with(
        mode: PeerClock,
        agent_before: &TimeSync,
        agent_after: &TimeSync,
        local: &TimeSync,
        estimate_offset: i64,
    ) -> ClockChoice {
        let agent = host("far", agent_before);
        let here = host("near", local);
        let e = estimate(estimate_offset, 40_000);
        choose(
            mode,
            &ClockFacts {
                agent: &agent,
                agent_after: Some(agent_after),
                local: &here,
                local_before: local,
                local_after: local,
                before: &e,
                t_before: 0,
                after: &e,
                t_after: 1_000_000_000,
            },
        )
    }

    #[test]
    fn ptp_hosts_map_through_tai_and_everything_else_falls_back() {
        let here = ptp_host(100_000_000_000, 80);
        let there = ptp_host(95_000_000_000, -120);
        let c = choose_with(PeerClock::Auto, &there, &there, &here, 5_000_010_000);
        assert_eq!(c.source, ClockSource::PtpTai, "{}", c.why);
        assert_eq!(c.clock.to_controller(6_000_000_000), 1_000_000_000);
        // ptp4l's offsets (120 + 80) plus four reads of 50 ns.
        assert_eq!(c.clock.error_bound_ns(), 400);
        // The same under --peer-clock ptp; --peer-clock estimate never uses it.
        let c = choose_with(PeerClock::Ptp, &there, &there, &here, 5_000_010_000);
        assert_eq!(c.source, ClockSource::PtpTai);
        let c = choose_with(PeerClock::Estimate, &there, &there, &here, 5_000_010_000);
        assert_eq!(c.source, ClockSource::Estimate);
        assert_eq!(c.clock.error_bound_ns(), 40_000);
        // TAI outside the estimate's interval: not synchronised to each other.
        let c = choose_with(PeerClock::Auto, &there, &there, &here, 5_000_100_000);
        assert_eq!(c.source, ClockSource::Estimate);
        assert!(c.why.contains("disagrees"), "{}", c.why);
        // A step during the run.
        let stepped = ptp_host(95_000_002_000, -120);
        let c = choose_with(PeerClock::Auto, &there, &stepped, &here, 5_000_010_000);
        assert!(c.why.contains("stepped"), "{}", c.why);
        // No phc2sys on the agent's host, or other grandmasters.
        let mut no_phc2sys = there.clone();
        no_phc2sys.daemons = vec!["ptp4l".into()];
        let c = choose_with(
            PeerClock::Auto,
            &no_phc2sys,
            &no_phc2sys,
            &here,
            5_000_010_000,
        );
        assert!(
            c.why.contains("agent host's CLOCK_TAI") && c.why.contains("phc2sys"),
            "{}",
            c.why
        );
        let mut other_gm = there.clone();
        other_gm.ptp4l_gm_identity = Some("001122.fffe.334455".into());
        let c = choose_with(PeerClock::Auto, &other_gm, &other_gm, &here, 5_000_010_000);
        assert!(c.why.contains("different grandmasters"), "{}", c.why);
        // Without pmc the bound is the estimate's.
        let mut quiet = there.clone();
        quiet.ptp4l_master_offset_ns = None;
        let c = choose_with(PeerClock::Auto, &quiet, &quiet, &here, 5_000_010_000);
        assert_eq!(c.source, ClockSource::PtpTai);
        assert_eq!(c.clock.error_bound_ns(), 40_000);
    }

    #[test]
    fn one_kernel_is_exact_under_auto_only() {
        let ts = ptp_host(1, 0);
        let a = host("same", &ts);
        let e = estimate(7, 100);
        let facts = ClockFacts {
            agent: &a,
            agent_after: Some(&ts),
            local: &a,
            local_before: &ts,
            local_after: &ts,
            before: &e,
            t_before: 0,
            after: &e,
            t_after: 1,
        };
        let c = choose(PeerClock::Auto, &facts);
        assert_eq!(
            (c.source, c.clock.error_bound_ns()),
            (ClockSource::SameKernel, 0)
        );
        assert_eq!(
            choose(PeerClock::Estimate, &facts).source,
            ClockSource::Estimate
        );
    }

    #[test]
    fn agent_times_move_onto_this_clock_with_the_interpolated_offset() {
        // The agent's clock is 1 s ahead at t = 10 s and 1 s + 2 µs ahead at t = 20 s.
        let clock = AgentClock::new(
            &estimate(1_000_000_000, 300),
            10_000_000_000,
            &estimate(1_000_002_000, 500),
            20_000_000_000,
        );
        // At this host's 10 s, 15 s and 20 s.
        assert_eq!(clock.to_controller(11_000_000_000), 10_000_000_000);
        assert_eq!(clock.to_controller(16_000_001_000), 15_000_000_000);
        assert_eq!(clock.to_controller(21_000_002_000), 20_000_000_000);
        // Outside the two estimates the nearer one holds.
        assert_eq!(clock.to_controller(10_000_000_000), 9_000_000_000);
        assert_eq!(clock.to_controller(31_000_002_000), 30_000_000_000);
        assert_eq!(clock.error_bound_ns(), 500);
        // A clock behind this one (negative offset).
        let behind = AgentClock::new(&estimate(-5_000, 100), 1_000, &estimate(-5_000, 100), 2_000);
        assert_eq!(behind.to_controller(10_000), 15_000);
    }
}
