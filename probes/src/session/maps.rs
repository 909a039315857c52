//! The object's maps as the session uses them (errors name the map and the operation).

use std::os::fd::AsFd as _;

use aya::{
    maps::{Array, Map, PerCpuArray},
    Ebpf,
};
use uadpbench_common::{PROBE_COUNTERS_MAP_NAME, PROBE_SLOTS_MAP_NAME};

use crate::{slots::SlotMap, ProbeError};

/// Writes `(index, value)` entries of the `u32` array map `name`.
pub(super) fn set_u32(
    ebpf: &mut Ebpf,
    name: &'static str,
    entries: &[(u32, u32)],
) -> Result<(), ProbeError> {
    let map = ebpf.map_mut(name).ok_or(ProbeError::MissingMap(name))?;
    let mut array = Array::<_, u32>::try_from(map).map_err(|source| ProbeError::Map {
        map: name,
        op: "opening as array",
        source: Box::new(source),
    })?;
    for &(index, value) in entries {
        array
            .set(index, value, 0)
            .map_err(|source| ProbeError::Map {
                map: name,
                op: "update",
                source: Box::new(source),
            })?;
    }
    Ok(())
}

/// Maps the stamp map (`PROBE_SLOTS`, `slots` packet slots) into this process; every call is
/// a mapping of its own.
pub(super) fn map_slots(ebpf: &Ebpf, slots: u32) -> Result<SlotMap, ProbeError> {
    let map = ebpf
        .map(PROBE_SLOTS_MAP_NAME)
        .ok_or(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME))?;
    let Map::Array(data) = map else {
        return Err(ProbeError::MissingMap(PROBE_SLOTS_MAP_NAME));
    };
    SlotMap::map(data.fd().as_fd(), slots).map_err(|source| ProbeError::Mmap {
        bytes: SlotMap::bytes(slots),
        source,
    })
}

/// The per-CPU `u64` counters (`PROBE_COUNTERS`): index → sum over the CPUs (0 if unreadable).
pub(super) fn counters(ebpf: &Ebpf) -> Result<impl Fn(u32) -> u64 + '_, ProbeError> {
    let map = ebpf
        .map(PROBE_COUNTERS_MAP_NAME)
        .ok_or(ProbeError::MissingMap(PROBE_COUNTERS_MAP_NAME))?;
    let array = PerCpuArray::<_, u64>::try_from(map).map_err(|source| ProbeError::Map {
        map: PROBE_COUNTERS_MAP_NAME,
        op: "opening as per-CPU array",
        source: Box::new(source),
    })?;
    Ok(move |index: u32| {
        array
            .get(&index, 0)
            .map(|v| v.iter().copied().fold(0u64, u64::wrapping_add))
            .unwrap_or(0)
    })
}
