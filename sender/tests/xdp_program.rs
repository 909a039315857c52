//! Loads `uadpbench_xdp`, attaches it to one end of a veth pair between two fresh network
//! namespaces and checks its counters against real traffic. Needs root (skips otherwise).
//!
//! The topology lives only in its own namespaces (`uadpbench-xdptest-<pid>-<tag>-{a,b}`, veth
//! `va` in a, `vb` in b, 198.18.0.0/24 from RFC 2544); the host's interfaces are never touched.
//! A Drop guard deletes the namespaces (and with them the veth pair) even on panic; leftovers of
//! killed runs (dead pid) are removed at the start.
//!
//! The loader stays in the root namespace: the attach and the sockets are done on threads that
//! `setns` into a namespace (never `ip netns exec`, which remounts /sys).

use std::{
    fs::File,
    io, mem,
    net::{Ipv4Addr, SocketAddrV4, UdpSocket},
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    process::Command,
    time::{Duration, Instant},
};

use nix::sched::{setns, CloneFlags};
use uadpbench_common::{XdpConfig, UADP_ETHERTYPE, XDP_FLAG_REDIRECT_UDP, XSKS_MAX_ENTRIES};
use uadpbench_sender::xdp_program::{XdpAttachMode, XdpCounters, XdpProgram, XdpProgramError};

const NS_PREFIX: &str = "uadpbench-xdptest-";
const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Fails (never skips) a test that loads and attaches XDP when not run as root.
fn require_root() {
    assert!(
        is_root(),
        "needs root (loads and attaches XDP): run the tests as root (sudo scripts/test.sh); \
         a test that cannot run fails instead of passing"
    );
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running `ip {}`: {e} (install iproute2)", args.join(" ")));
    assert!(
        out.status.success(),
        "`ip {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes namespaces of earlier runs of this test whose process is gone.
fn remove_stale_namespaces() {
    let Ok(dir) = std::fs::read_dir("/var/run/netns") else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct Topology {
    ns_a: String,
    ns_b: String,
}

impl Topology {
    fn new(tag: &str) -> Topology {
        remove_stale_namespaces();
        let pid = std::process::id();
        let topo = Topology {
            ns_a: format!("{NS_PREFIX}{pid}-{tag}-a"),
            ns_b: format!("{NS_PREFIX}{pid}-{tag}-b"),
        };
        // The guard exists before anything is created, so a failure below still cleans up.
        ip(&["netns", "add", &topo.ns_a]);
        ip(&["netns", "add", &topo.ns_b]);
        ip(&[
            "-n", &topo.ns_a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns",
            &topo.ns_b,
        ]);
        ip(&[
            "-n",
            &topo.ns_a,
            "addr",
            "add",
            &format!("{ADDR_A}/24"),
            "dev",
            "va",
        ]);
        ip(&[
            "-n",
            &topo.ns_b,
            "addr",
            "add",
            &format!("{ADDR_B}/24"),
            "dev",
            "vb",
        ]);
        for (ns, dev) in [(&topo.ns_a, "va"), (&topo.ns_b, "vb")] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            ip(&["-n", ns, "link", "set", dev, "up"]);
        }
        topo
    }

    fn link_show(&self, ns: &str, dev: &str) -> String {
        let out = Command::new("ip")
            .args(["-n", ns, "link", "show", "dev", dev])
            .output()
            .expect("ip link show");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Runs `f` on a thread that has entered network namespace `ns`.
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let handle = s.spawn(|| {
            let fd = File::open(format!("/var/run/netns/{ns}")).expect("open netns file");
            setns(&fd, CloneFlags::CLONE_NEWNET).expect("setns into the test namespace");
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

fn if_index(name: &str) -> i32 {
    let c = std::ffi::CString::new(name).expect("name");
    // SAFETY: valid C string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    assert_ne!(idx, 0, "interface {name} not found");
    idx as i32
}

/// An AF_PACKET socket that sends raw frames on `ifindex` (created in the caller's namespace).
struct RawSender {
    fd: OwnedFd,
    ifindex: i32,
}

impl RawSender {
    fn new(ifname: &str) -> RawSender {
        // SAFETY: plain socket(2); protocol 0 = send only, receive nothing.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(fd >= 0, "AF_PACKET socket: {}", io::Error::last_os_error());
        RawSender {
            // SAFETY: fd is a fresh, owned descriptor.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            ifindex: if_index(ifname),
        }
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: zeroed sockaddr_ll is valid; fields set below.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: frame and sll are valid for the given lengths.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(
            n,
            frame.len() as isize,
            "AF_PACKET sendto: {}",
            io::Error::last_os_error()
        );
    }
}

const BROADCAST: [u8; 6] = [0xff; 6];
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];

fn uadp_eth_frame(vlan: bool) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&SRC_MAC);
    if vlan {
        f.extend_from_slice(&0x8100u16.to_be_bytes());
        f.extend_from_slice(&((3u16 << 13) | 42).to_be_bytes()); // PCP 3, VID 42
    }
    f.extend_from_slice(&UADP_ETHERTYPE.to_be_bytes());
    // A minimal UADP NetworkMessage header (version 1, no flags) and some payload.
    f.extend_from_slice(&[0x01, 0, 0, 0]);
    f.resize(f.len().max(60), 0);
    f
}

/// IPv4 frames the program must pass as malformed: IHL < 5, and a UDP header cut off.
fn malformed_ipv4_frames() -> Vec<Vec<u8>> {
    let mut bad_ihl = Vec::new();
    bad_ihl.extend_from_slice(&BROADCAST);
    bad_ihl.extend_from_slice(&SRC_MAC);
    bad_ihl.extend_from_slice(&0x0800u16.to_be_bytes());
    bad_ihl.push(0x41); // version 4, IHL 1
    bad_ihl.resize(60, 0);

    let mut cut = Vec::new();
    cut.extend_from_slice(&BROADCAST);
    cut.extend_from_slice(&SRC_MAC);
    cut.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut iph = [0u8; 20];
    iph[0] = 0x45;
    iph[8] = 64;
    iph[9] = 17; // UDP
    cut.extend_from_slice(&iph);
    cut.extend_from_slice(&[0x12, 0x34]); // 2 of the 8 UDP header bytes
    vec![bad_ihl, cut]
}

fn icmp_checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for chunk in data.chunks(2) {
        let word = u16::from_be_bytes([chunk[0], *chunk.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One ICMP echo request/reply over a raw socket created in the caller's namespace.
fn ping(dst: Ipv4Addr, seq: u16) -> io::Result<()> {
    // SAFETY: plain socket(2).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fresh descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let tv = libc::timeval {
        tv_sec: 2,
        tv_usec: 0,
    };
    // SAFETY: valid option pointer/length.
    unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            mem::size_of::<libc::timeval>() as u32,
        )
    };
    let ident: u16 = 0x5544;
    let mut req = [0u8; 16];
    req[0] = 8; // echo request
    req[4..6].copy_from_slice(&ident.to_be_bytes());
    req[6..8].copy_from_slice(&seq.to_be_bytes());
    req[8..].copy_from_slice(b"uadpbnch");
    let ck = icmp_checksum(&req);
    req[2..4].copy_from_slice(&ck.to_be_bytes());
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as u16,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(dst).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: valid buffers.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            req.as_ptr().cast(),
            req.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            mem::size_of::<libc::sockaddr_in>() as u32,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 1500];
    while Instant::now() < deadline {
        // SAFETY: valid buffer.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let pkt = &buf[..n as usize];
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        let icmp = &pkt[ihl..];
        if icmp.len() >= 8
            && icmp[0] == 0
            && icmp[4..6] == ident.to_be_bytes()
            && icmp[6..8] == seq.to_be_bytes()
        {
            return Ok(());
        }
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no echo reply"))
}

fn udp_socket(addr: Ipv4Addr, port: u16) -> UdpSocket {
    let s = UdpSocket::bind(SocketAddrV4::new(addr, port)).expect("bind UDP socket");
    s.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    s
}

fn recv_count(sock: &UdpSocket, expected: usize) -> usize {
    let mut buf = [0u8; 2048];
    let mut got = 0;
    while got < expected {
        match sock.recv(&mut buf) {
            Ok(_) => got += 1,
            Err(_) => break,
        }
    }
    got
}

fn wait_counters(
    prog: &XdpProgram,
    base: &XdpCounters,
    done: impl Fn(&XdpCounters) -> bool,
) -> XdpCounters {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let d = prog.counters().expect("read counters").delta_since(base);
        if done(&d) || Instant::now() > deadline {
            return d;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_default_config(mode: XdpAttachMode, tag: &str) {
    require_root();
    let topo = Topology::new(tag);
    let mut prog = XdpProgram::load(XdpConfig::default()).expect("load the XDP program");
    let base = prog.counters().expect("counters");
    assert_eq!(base, XdpCounters::default());

    let ifindex = in_netns(&topo.ns_b, || prog.attach_name("vb", mode)).expect("attach");
    assert!(ifindex > 0);
    assert_eq!(prog.attached(), Some((ifindex, mode)));
    let shown = topo.link_show(&topo.ns_b, "vb");
    assert!(
        shown.contains("prog/xdp"),
        "`ip link show vb` does not show XDP: {shown}"
    );

    const N: usize = 20;
    let (rx_uadp, rx_other) = in_netns(&topo.ns_b, || {
        (udp_socket(ADDR_B, 4840), udp_socket(ADDR_B, 4841))
    });
    let (tx, raw) = in_netns(&topo.ns_a, || (udp_socket(ADDR_A, 0), RawSender::new("va")));
    for i in 0..N {
        let msg = [0x01, 0, 0, 0, i as u8];
        tx.send_to(&msg, SocketAddrV4::new(ADDR_B, 4840))
            .expect("send to 4840");
        tx.send_to(&msg, SocketAddrV4::new(ADDR_B, 4841))
            .expect("send to 4841");
    }
    // No AF_XDP socket is bound: matched frames fall back to XDP_PASS and reach the stack.
    assert_eq!(
        recv_count(&rx_uadp, N),
        N,
        "UDP:4840 datagrams must still be delivered"
    );
    assert_eq!(
        recv_count(&rx_other, N),
        N,
        "UDP:4841 datagrams must be delivered"
    );

    for vlan in [false, true] {
        for _ in 0..5 {
            raw.send(&uadp_eth_frame(vlan));
        }
    }
    for f in malformed_ipv4_frames() {
        raw.send(&f);
    }
    // ICMP still works while attached.
    in_netns(&topo.ns_a, || {
        for seq in 1..=3 {
            ping(ADDR_B, seq).expect("ping 198.18.0.2 while XDP is attached");
        }
    });

    let d = wait_counters(&prog, &base, |d| {
        d.matched_udp() >= N as u64 && d.matched_eth() >= 10 && d.passed_malformed() >= 2
    });
    eprintln!("{mode}: {:?}", d.iter().collect::<Vec<_>>());
    assert_eq!(d.matched_udp(), N as u64, "{d:?}");
    assert_eq!(d.matched_eth(), 10, "{d:?}");
    assert_eq!(d.redirected(), 0, "no AF_XDP socket is bound: {d:?}");
    assert_eq!(d.redirect_failed(), N as u64 + 10, "{d:?}");
    assert_eq!(d.passed_malformed(), 2, "{d:?}");
    // UDP:4841 (N), ARP request(s), ICMP echo requests (3), maybe IPv6 ND/MLD.
    let (pings, arp) = (3, 1);
    assert!(d.passed_foreign() >= N as u64 + pings + arp, "{d:?}");
    assert_eq!(
        d.matched_eth() + d.matched_udp(),
        d.redirected() + d.redirect_failed()
    );

    prog.detach().expect("detach");
    assert_eq!(prog.attached(), None);
    let shown = topo.link_show(&topo.ns_b, "vb");
    assert!(
        !shown.contains("prog/xdp"),
        "XDP still attached after detach: {shown}"
    );
    // Re-attach works, and drop detaches (checked in `drop_detaches`).
    in_netns(&topo.ns_b, || prog.attach_name("vb", mode)).expect("re-attach");
    assert!(matches!(
        in_netns(&topo.ns_b, || prog.attach_name("vb", mode)),
        Err(XdpProgramError::AlreadyAttached { .. })
    ));
    drop(prog);
    let shown = topo.link_show(&topo.ns_b, "vb");
    assert!(
        !shown.contains("prog/xdp"),
        "XDP still attached after drop: {shown}"
    );
}

#[test]
fn skb_mode_counts_and_passes() {
    check_default_config(XdpAttachMode::Skb, "skb");
}

#[test]
fn driver_mode_on_veth() {
    check_default_config(XdpAttachMode::Driver, "drv");
}

/// The loader's config reaches the program (global `XDP_CONFIG` in .rodata).
#[test]
fn custom_config_port_and_flags() {
    require_root();
    let topo = Topology::new("cfg");
    let config = XdpConfig {
        flags: XDP_FLAG_REDIRECT_UDP,
        udp_port: 4999,
        publisher_id: 2234,
    };
    let mut prog = XdpProgram::load(config).expect("load");
    assert_eq!(prog.config(), config);
    in_netns(&topo.ns_b, || prog.attach_name("vb", XdpAttachMode::Skb)).expect("attach");
    let base = prog.counters().expect("counters");
    let rx = in_netns(&topo.ns_b, || udp_socket(ADDR_B, 4999));
    let (tx, raw) = in_netns(&topo.ns_a, || (udp_socket(ADDR_A, 0), RawSender::new("va")));
    for _ in 0..7 {
        tx.send_to(b"x", SocketAddrV4::new(ADDR_B, 4999))
            .expect("send");
        tx.send_to(b"x", SocketAddrV4::new(ADDR_B, 4840))
            .expect("send");
    }
    assert_eq!(recv_count(&rx, 7), 7);
    raw.send(&uadp_eth_frame(false));
    raw.send(&uadp_eth_frame(true));
    let d = wait_counters(&prog, &base, |d| {
        d.matched_udp() >= 7 && d.passed_foreign() >= 9
    });
    assert_eq!(d.matched_udp(), 7, "{d:?}");
    assert_eq!(d.matched_eth(), 0, "Ethernet redirect is off: {d:?}");
    // 7 datagrams to 4840, 2 UADP Ethernet frames (flag off; the VLAN one because the VLAN flag
    // is off too), plus ARP etc.
    assert!(d.passed_foreign() >= 9, "{d:?}");
    assert_eq!(d.redirect_failed(), 7, "{d:?}");
}

#[test]
fn errors_are_explicit() {
    let bad = XdpConfig {
        flags: 1 << 31,
        ..XdpConfig::default()
    };
    assert!(matches!(
        XdpProgram::load(bad),
        Err(XdpProgramError::InvalidConfig { .. })
    ));
    let zero_port = XdpConfig {
        udp_port: 0,
        ..XdpConfig::default()
    };
    assert!(matches!(
        XdpProgram::load(zero_port),
        Err(XdpProgramError::InvalidConfig { .. })
    ));
    require_root();
    let mut prog = XdpProgram::load(XdpConfig::default()).expect("load");
    let err = prog
        .attach_name("uadpbench-nope0", XdpAttachMode::Skb)
        .expect_err("no such interface");
    assert!(
        matches!(err, XdpProgramError::InterfaceNotFound { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ip link"), "{err}");
    assert!(!uadpbench_sender::xdp_program::embedded_object().is_empty());
    assert_eq!(prog.xsks_mut().expect("XSKS map").len(), XSKS_MAX_ENTRIES);
    let info = prog.program_info().expect("program info");
    assert!(info.id() > 0);
}
