//! Accounting of received packet ids: duplicates and reordering, exactly, from the 64-bit
//! packet id every benchmark message carries.

/// What a newly received id was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First arrival, in order.
    InOrder,
    /// First arrival, after a higher id had already arrived.
    Reordered,
    /// Seen before.
    Duplicate,
}

/// Tracks which ids arrived. Memory: one bit per id up to the highest seen (preallocate with
/// [`SeqTracker::with_capacity`] to keep allocation off the receive path).
#[derive(Debug, Clone, Default)]
pub struct SeqTracker {
    bits: Vec<u64>,
    highest: Option<u64>,
    stats: SeqStats,
}

/// Totals of a [`SeqTracker`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqStats {
    /// Distinct ids received.
    pub received: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

/// Ids beyond this are refused (a corrupt id must not make the tracker allocate gigabytes).
pub const MAX_TRACKED_ID: u64 = 1 << 34;

impl SeqTracker {
    /// A tracker with room for ids `0..expected` without reallocating.
    pub fn with_capacity(expected: u64) -> Self {
        SeqTracker {
            bits: Vec::with_capacity(expected.div_ceil(64) as usize),
            ..Default::default()
        }
    }

    /// Records an arrival; `None` if the id is beyond [`MAX_TRACKED_ID`].
    pub fn observe(&mut self, id: u64) -> Option<Arrival> {
        if id >= MAX_TRACKED_ID {
            return None;
        }
        let word = (id / 64) as usize;
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let mask = 1u64 << (id % 64);
        if self.bits[word] & mask != 0 {
            self.stats.duplicates += 1;
            return Some(Arrival::Duplicate);
        }
        self.bits[word] |= mask;
        self.stats.received += 1;
        let arrival = match self.highest {
            Some(h) if id < h => {
                self.stats.reordered += 1;
                Arrival::Reordered
            }
            _ => {
                self.highest = Some(id);
                Arrival::InOrder
            }
        };
        Some(arrival)
    }

    pub fn contains(&self, id: u64) -> bool {
        self.bits
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    pub fn stats(&self) -> SeqStats {
        self.stats
    }

    /// Ids in `range` that never arrived.
    pub fn missing_in(&self, range: std::ops::Range<u64>) -> u64 {
        range.filter(|id| !self.contains(*id)).count() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reorder_duplicates_and_loss() {
        let mut t = SeqTracker::with_capacity(10);
        for id in [0, 1, 3, 2, 3, 5, 9] {
            t.observe(id);
        }
        assert_eq!(
            t.stats(),
            SeqStats {
                received: 6,
                duplicates: 1,
                reordered: 1
            }
        );
        assert_eq!(t.missing_in(0..10), 4);
        assert!(t.contains(9) && !t.contains(4));
        assert_eq!(t.observe(MAX_TRACKED_ID), None);
    }
}
