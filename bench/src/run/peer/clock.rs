//! The agent's clock on this host's axis: the NTP-style estimates before and after a run,
//! interpolated, or — when the agent runs on this kernel — the one clock both read.

use uadpbench_agent::ClockEstimate;

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
