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
    set_sockopt(fd, level, name, &value)
}

/// Sets a socket option whose value is a plain C struct (`ip_mreqn`, `packet_mreq`, …).
pub(crate) fn set_sockopt<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed; the kernel copies it.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `PACKET_ADD_MEMBERSHIP` of the multicast MAC `mac` on interface `ifindex` for the
/// AF_PACKET socket `fd`: the address enters the interface's receive filter until the socket
/// closes.
pub(crate) fn add_mac_membership(fd: RawFd, ifindex: u32, mac: [u8; 6]) -> io::Result<()> {
    let mut mr_address = [0u8; 8];
    mr_address[..6].copy_from_slice(&mac);
    let mreq = libc::packet_mreq {
        mr_ifindex: ifindex as libc::c_int,
        mr_type: libc::PACKET_MR_MULTICAST as libc::c_ushort,
        mr_alen: 6,
        mr_address,
    };
    set_sockopt(fd, libc::SOL_PACKET, libc::PACKET_ADD_MEMBERSHIP, &mreq)
}

/// A new AF_PACKET raw socket (close-on-exec). Protocol 0: it receives nothing until it is
/// bound (pnet binds it with ETH_P_ALL).
pub(crate) fn packet_socket() -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket(2).
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) })
}

/// The MTU of `ifname` in the network namespace of the socket `fd` (SIOCGIFMTU; /sys would
/// show the root namespace's interfaces to a thread moved with setns).
pub(crate) fn interface_mtu(fd: RawFd, ifname: &str) -> io::Result<u32> {
    // SAFETY: ifreq is plain old data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req
        .ifr_name
        .iter_mut()
        .zip(ifname.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads ifr_name and writes ifr_mtu of the ifreq we own.
    let rc = unsafe { libc::ioctl(fd, libc::SIOCGIFMTU, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel filled the mtu member of the union.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    u32::try_from(mtu).map_err(|_| io::Error::other(format!("negative MTU {mtu}")))
}

/// `struct scm_timestamping` (linux/errqueue.h): `ts[0]` is the software timestamp, `ts[2]`
/// the raw hardware one (PTP hardware clock time).
#[repr(C)]
struct ScmTimestamping {
    ts: [libc::timespec; 3],
}

/// `SCM_TSTAMP_SND` / `SCM_TSTAMP_SCHED` (linux/errqueue.h; not in the libc crate).
pub(crate) const SCM_TSTAMP_SND: u32 = 0;
pub(crate) const SCM_TSTAMP_SCHED: u32 = 1;

/// Room for the control messages of one datagram (timestamping + extended error).
const CONTROL_BYTES: usize = 256;

/// A control buffer aligned for `cmsghdr`.
#[repr(C, align(8))]
struct Control([u8; CONTROL_BYTES]);

fn timespec_ns(ts: &libc::timespec) -> Option<u64> {
    let ns = u64::try_from(ts.tv_sec).ok()? * 1_000_000_000 + u64::try_from(ts.tv_nsec).ok()?;
    (ns != 0).then_some(ns)
}

/// What one `recvmsg` returned: payload bytes, the software timestamp (`SCM_TIMESTAMPING`
/// `ts[0]`, CLOCK_REALTIME ns), the raw hardware timestamp (`ts[2]`, the NIC's PTP hardware
/// clock ns) and, on the error queue, the extended error's `ee_info` (stamp type) and
/// `ee_data` (OPT_ID key).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Received {
    pub len: usize,
    pub stamp_ns: Option<u64>,
    pub hw_stamp_ns: Option<u64>,
    pub tstamp_info: Option<(u32, u32)>,
}

/// `recvmsg` into `buf` with a control buffer; `flags` e.g. `MSG_ERRQUEUE | MSG_DONTWAIT`.
pub(crate) fn recvmsg_timestamped(
    fd: RawFd,
    buf: &mut [u8],
    flags: libc::c_int,
) -> io::Result<Received> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    let mut control = Control([0; CONTROL_BYTES]);
    // SAFETY: msghdr is plain old data; all-zero is a valid empty value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.0.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = CONTROL_BYTES as _;
    // SAFETY: msg points at a live iovec over `buf` and at `control`, both outliving the call.
    let r = unsafe { libc::recvmsg(fd, &mut msg, flags) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Received {
        len: r as usize,
        ..Received::default()
    };
    // SAFETY: CMSG_FIRSTHDR/CMSG_NXTHDR walk the control bytes the kernel wrote
    // (msg_controllen was updated to their length); every header is checked for its level and
    // type, and its data read with read_unaligned at the size that type defines.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            let len = (*c).cmsg_len as usize;
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPING)
                    if len
                        >= libc::CMSG_LEN(std::mem::size_of::<ScmTimestamping>() as u32)
                            as usize =>
                {
                    let t = std::ptr::read_unaligned(data as *const ScmTimestamping);
                    out.stamp_ns = timespec_ns(&t.ts[0]);
                    out.hw_stamp_ns = timespec_ns(&t.ts[2]);
                }
                (libc::SOL_IP, libc::IP_RECVERR) | (libc::SOL_IPV6, libc::IPV6_RECVERR)
                    if len
                        >= libc::CMSG_LEN(std::mem::size_of::<libc::sock_extended_err>() as u32)
                            as usize =>
                {
                    let e = std::ptr::read_unaligned(data as *const libc::sock_extended_err);
                    if e.ee_errno == libc::ENOMSG as u32
                        && e.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING
                    {
                        out.tstamp_info = Some((e.ee_info, e.ee_data));
                    }
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Ok(out)
}
