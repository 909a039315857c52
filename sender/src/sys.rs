//! The few system calls std and nix do not wrap conveniently: `sendmmsg`/`recvmmsg` on
//! connected sockets. All `unsafe` of this crate lives here.

use std::io;
use std::os::fd::RawFd;

use crate::udp::MAX_BATCH;

/// Sends up to [`MAX_BATCH`] messages on a connected socket; returns how many were sent.
pub(crate) fn sendmmsg(fd: RawFd, msgs: &[&[u8]]) -> io::Result<usize> {
    let n = msgs.len().min(MAX_BATCH);
    let mut iov: [libc::iovec; MAX_BATCH] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_BATCH];
    // SAFETY: mmsghdr is plain old data; all-zero is a valid (empty) value.
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for i in 0..n {
        iov[i] = libc::iovec {
            iov_base: msgs[i].as_ptr() as *mut libc::c_void,
            iov_len: msgs[i].len(),
        };
    }
    for i in 0..n {
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: hdrs[..n] point at iovecs that point at live, readable slices for the whole call;
    // the kernel only reads them (send side).
    let r = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

/// Receives up to `lens.len()` datagrams into consecutive `slot`-byte slices of `bufs`
/// (waiting for the first one only, `MSG_WAITFORONE`); returns how many arrived.
pub(crate) fn recvmmsg(
    fd: RawFd,
    bufs: &mut [u8],
    slot: usize,
    lens: &mut [usize],
) -> io::Result<usize> {
    let n = lens.len().min(MAX_BATCH).min(bufs.len() / slot.max(1));
    let mut iov: [libc::iovec; MAX_BATCH] = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; MAX_BATCH];
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { std::mem::zeroed() };
    for (i, chunk) in bufs.chunks_exact_mut(slot).take(n).enumerate() {
        iov[i] = libc::iovec {
            iov_base: chunk.as_mut_ptr() as *mut libc::c_void,
            iov_len: slot,
        };
    }
    for i in 0..n {
        hdrs[i].msg_hdr.msg_iov = &mut iov[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: each iovec points at a distinct, writable `slot`-byte chunk of `bufs`, which
    // outlives the call; the timeout comes from SO_RCVTIMEO (null timeout pointer).
    let r = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_WAITFORONE,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let r = r as usize;
    for i in 0..r {
        lens[i] = hdrs[i].msg_len as usize;
    }
    Ok(r)
}

/// Sets an integer socket option (for options nix does not name, e.g. `SO_BUSY_POLL`).
pub(crate) fn set_int_sockopt(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its exact size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
