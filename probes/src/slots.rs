//! The slot array mapped into this process (`BPF_F_MMAPABLE`), and its draining.

use std::{
    io,
    os::fd::{AsRawFd as _, BorrowedFd},
    ptr::{self, NonNull},
    sync::atomic::{fence, Ordering},
};

use uadpbench_common::{stamp_entries, stamp_index, LayerId, Stamp, PROBE_MAX_CROSSINGS};

/// One drained stamp.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Drained {
    pub layer: LayerId,
    pub crossing: u8,
    pub stamp: Stamp,
}

/// `PROBE_SLOTS`, mapped shared and writable (draining zeroes `t_ns`).
pub(crate) struct SlotMap {
    base: NonNull<Stamp>,
    slots: u32,
    bytes: usize,
}

// SAFETY: the mapping is plain shared memory; access goes through &mut self.
unsafe impl Send for SlotMap {}

impl SlotMap {
    /// Bytes of the mapping for `slots` packet slots.
    pub fn bytes(slots: u32) -> usize {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
        (stamp_entries(slots) as usize * size_of::<Stamp>()).div_ceil(page) * page
    }

    /// Maps the stamp array (for `slots` packet slots) behind `fd`.
    pub fn map(fd: BorrowedFd<'_>, slots: u32) -> io::Result<Self> {
        let bytes = Self::bytes(slots);
        // SAFETY: a new shared mapping of a BPF array fd; the kernel checks size and flags.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = NonNull::new(p.cast::<Stamp>())
            .ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(SlotMap { base, slots, bytes })
    }

    /// Whether a stamp of `packet_id` (either crossing) is in the slots of any of `layers`
    /// (read only).
    pub fn holds_packet(&self, layers: &[LayerId], packet_id: u64) -> bool {
        let mask = self.slots - 1;
        layers.iter().any(|&layer| {
            (0..PROBE_MAX_CROSSINGS as u32).any(|crossing| {
                let i = stamp_index(layer, crossing, packet_id, mask) as usize;
                // SAFETY: `i < stamp_entries(slots)`, inside the mapping; volatile reads of
                // plain integers the kernel writes concurrently (t_ns last).
                unsafe {
                    let s = self.base.as_ptr().add(i);
                    ptr::read_volatile(ptr::addr_of!((*s).t_ns)) != 0 && {
                        fence(Ordering::Acquire);
                        ptr::read_volatile(ptr::addr_of!((*s).packet_id)) == packet_id
                    }
                }
            })
        })
    }

    /// Copies out and frees every valid stamp of `layers` whose packet id is below `before`
    /// (all if `None`). Returns the number of stamps drained.
    pub fn drain(
        &mut self,
        layers: &[LayerId],
        before: Option<u64>,
        out: &mut Vec<Drained>,
    ) -> usize {
        let mut n = 0;
        let mask = self.slots - 1;
        for &layer in layers {
            for crossing in 0..PROBE_MAX_CROSSINGS as u32 {
                let first = stamp_index(layer, crossing, 0, mask) as usize;
                for slot in 0..self.slots as usize {
                    // SAFETY: `first + slot < stamp_entries(slots)`, inside the mapping.
                    let s = unsafe { self.base.as_ptr().add(first + slot) };
                    // SAFETY: aligned, inside the mapping; the kernel writes concurrently, so
                    // read volatile: t_ns is written last and read first.
                    let t_ns = unsafe { ptr::read_volatile(ptr::addr_of!((*s).t_ns)) };
                    if t_ns == 0 {
                        continue;
                    }
                    fence(Ordering::Acquire);
                    // SAFETY: as above.
                    let (packet_id, tid, cpu) = unsafe {
                        (
                            ptr::read_volatile(ptr::addr_of!((*s).packet_id)),
                            ptr::read_volatile(ptr::addr_of!((*s).tid)),
                            ptr::read_volatile(ptr::addr_of!((*s).cpu)),
                        )
                    };
                    if before.is_some_and(|b| packet_id >= b) {
                        continue;
                    }
                    // SAFETY: as above.
                    unsafe { ptr::write_volatile(ptr::addr_of_mut!((*s).t_ns), 0) };
                    out.push(Drained {
                        layer,
                        crossing: crossing as u8,
                        stamp: Stamp {
                            packet_id,
                            t_ns,
                            tid,
                            cpu,
                        },
                    });
                    n += 1;
                }
            }
        }
        n
    }
}

impl Drop for SlotMap {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.bytes) };
    }
}
