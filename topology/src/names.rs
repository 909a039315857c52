//! Instance ids and the names derived from them.
//!
//! An id is 12 lower-case hex digits: the process id (7 digits, enough for the kernel's
//! largest `pid_max` of 2^22) followed by a per-process counter (5 digits, wrapping). Ids are
//! therefore unique among the live processes of one PID namespace and among the instances of one
//! process; a collision with a leftover of a dead process (pid reuse) or with another PID
//! namespace sharing `/run/netns` is detected when `ip netns add` reports "File exists", and the
//! next id is tried.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::{LINK_PREFIX, NETNS_PREFIX};

/// Linux's longest interface name (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;

/// Hex digits of the pid part of an id.
pub(crate) const PID_DIGITS: usize = 7;
/// Hex digits of the counter part of an id.
pub(crate) const COUNTER_DIGITS: usize = 5;
/// Total length of an id.
pub(crate) const ID_LEN: usize = PID_DIGITS + COUNTER_DIGITS;

const COUNTER_MASK: u32 = (1 << (4 * COUNTER_DIGITS)) - 1;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh id for this process.
pub(crate) fn next_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    make_id(std::process::id(), n)
}

/// The id for pid `pid` and counter value `n` (the counter wraps at 16^5).
pub(crate) fn make_id(pid: u32, n: u32) -> String {
    // pid_max is at most 2^22, so 7 hex digits always suffice; mask anyway so the length is fixed.
    let pid = pid & ((1 << (4 * PID_DIGITS)) - 1);
    format!(
        "{pid:0pw$x}{:0cw$x}",
        n & COUNTER_MASK,
        pw = PID_DIGITS,
        cw = COUNTER_DIGITS
    )
}

/// Is `s` an id as made by [`make_id`]?
pub(crate) fn is_id(s: &str) -> bool {
    s.len() == ID_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The pid encoded in a valid id.
pub(crate) fn pid_of_id(id: &str) -> Option<u32> {
    if !is_id(id) {
        return None;
    }
    u32::from_str_radix(&id[..PID_DIGITS], 16).ok()
}

/// `uadpbench-<id>-a` / `-b`.
pub(crate) fn netns_name(id: &str, side: char) -> String {
    format!("{NETNS_PREFIX}{id}-{side}")
}

/// `ub<id>a` / `b` (15 characters: fits IFNAMSIZ).
pub(crate) fn link_name(id: &str, side: char) -> String {
    format!("{LINK_PREFIX}{id}{side}")
}

/// If `name` is a namespace name we make, its id: `uadpbench-<id>-a` / `-b` (two-namespace
/// topology), `-w` (the switch of a fan-out topology) or `-b<n>` (its subscriber n).
pub(crate) fn id_of_netns(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(NETNS_PREFIX)?;
    let (id, role) = rest.split_once('-')?;
    let role_ok = match role.as_bytes() {
        [b'a' | b'b' | b'w'] => true,
        [b'b', digits @ ..] => {
            (1..=3).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    };
    (role_ok && is_id(id)).then_some(id)
}

/// If `name` is an interface name we make, its id.
pub(crate) fn id_of_link(name: &str) -> Option<&str> {
    let rest = name.strip_prefix(LINK_PREFIX)?;
    let id = rest.strip_suffix('a').or_else(|| rest.strip_suffix('b'))?;
    is_id(id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn link_names_fit_ifnamsiz() {
        for (pid, n) in [(0, 0), (1, 1), (4_194_304, 0xfffff), (u32::MAX, u32::MAX)] {
            let id = make_id(pid, n);
            assert_eq!(id.len(), ID_LEN);
            for side in ['a', 'b'] {
                let l = link_name(&id, side);
                assert!(l.len() <= IFNAME_MAX, "{l} is {} chars", l.len());
                assert!(l.is_ascii() && !l.contains('/') && !l.contains(' '));
            }
        }
        assert_eq!(link_name(&make_id(0x3039, 7), 'a'), "ub000303900007a");
    }

    #[test]
    fn ids_are_unique_across_many_instances() {
        let mut seen = HashSet::new();
        for _ in 0..100_000 {
            let id = next_id();
            assert!(is_id(&id));
            assert!(seen.insert(id.clone()), "duplicate id {id}");
            for side in ['a', 'b'] {
                assert!(link_name(&id, side).len() <= IFNAME_MAX);
            }
        }
    }

    #[test]
    fn ids_are_unique_across_threads() {
        let handles: Vec<_> = (0..8)
            .map(|_| std::thread::spawn(|| (0..5_000).map(|_| next_id()).collect::<Vec<_>>()))
            .collect();
        let mut seen = HashSet::new();
        for h in handles {
            for id in h.join().expect("id thread panicked") {
                assert!(seen.insert(id.clone()), "duplicate id {id}");
            }
        }
    }

    #[test]
    fn ids_differ_between_processes() {
        // Same counter, different pid: different id, and no prefix ambiguity (fixed widths).
        let ids: HashSet<_> = (1..5000).map(|pid| make_id(pid, 1)).collect();
        assert_eq!(ids.len(), 4999);
        assert_ne!(make_id(0x1, 0x23), make_id(0x12, 0x3));
    }

    #[test]
    fn names_round_trip() {
        let id = make_id(4242, 17);
        assert_eq!(pid_of_id(&id), Some(4242));
        assert_eq!(id_of_netns(&netns_name(&id, 'a')), Some(id.as_str()));
        assert_eq!(id_of_netns(&netns_name(&id, 'b')), Some(id.as_str()));
        assert_eq!(id_of_link(&link_name(&id, 'a')), Some(id.as_str()));
        assert_eq!(id_of_link(&link_name(&id, 'b')), Some(id.as_str()));
        assert_eq!(id_of_link("ubuntu0"), None);
        assert_eq!(id_of_link("ub0123456789aX"), None);
        assert_eq!(id_of_link("ub0123456789ABa"), None);
        assert_eq!(id_of_netns("uadpbench-foo-a"), None);
        // The fan-out topology's switch and subscriber namespaces.
        assert_eq!(id_of_netns(&netns_name(&id, 'w')), Some(id.as_str()));
        assert_eq!(
            id_of_netns(&(netns_name(&id, 'b') + "12")),
            Some(id.as_str())
        );
        assert_eq!(id_of_netns(&(netns_name(&id, 'b') + "x")), None);
        assert_eq!(id_of_netns(&(netns_name(&id, 'c'))), None);
        assert_eq!(id_of_netns("other-000000000000-a"), None);
    }
}
