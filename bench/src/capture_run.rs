//! `uadpbench run --pcap FILE`: the benchmark frames as seen on the receiving veth (namespace
//! B), written as a pcap file that `uadpbench decode --pcap` (or Wireshark) reads back.
//!
//! A thread moved into namespace B opens an AF_PACKET socket (`ETH_P_ALL`, bound to B's veth)
//! before the measurement starts and reads until it is told to stop after the loops end. It
//! keeps frames the veth *received* (not those B sent, e.g. the reflector's echoes) that carry
//! UADP: EtherType 0xB62C (optionally 802.1Q-tagged), IEEE 802.3 length-field frames with
//! LLC/SNAP or bare UADP, or IPv4/UDP with a port in 4840–4850.
//!
//! Notes for readers of the file:
//! * Timestamps are CLOCK_REALTIME taken when the capture thread read the frame (what pcap
//!   readers expect), not the benchmark's CLOCK_MONOTONIC send/receive times.
//! * The kernel strips an 802.1Q tag before AF_PACKET sees a frame on veth (the tag travels as
//!   metadata), so frames of a `--vlan-id` run appear untagged.
//! * On the xdp path the XDP program redirects frames to the AF_XDP socket before the packet
//!   taps: the capture stays empty there.
//! * The capture costs CPU on the machine that measures (one more socket receiving every
//!   frame, one more thread): compare latencies of runs with and without `--pcap` with care.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context};
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, TsResolution};
use uadpbench_topology::Topology;

use uadpbench_sender::frame::{uadp_in_8023_data, MAX_8023_LENGTH};

use crate::capture::UADP_UDP_PORTS;

const ETHERTYPE_UADP: u16 = 0xB62C;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88A8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const SNAPLEN: usize = 65_535;

/// What a capture wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Benchmark frames written to the pcap file.
    pub frames: u64,
    /// Frames the socket read that were not benchmark frames (ARP, IPv6, other traffic).
    pub other_frames: u64,
    /// Frames the kernel dropped because the capture socket's buffer was full
    /// (PACKET_STATISTICS `tp_drops`).
    pub kernel_drops: u64,
}

/// A running capture; [`PcapCapture::finish`] stops it and renames the file into place.
pub struct PcapCapture {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<anyhow::Result<CaptureStats>>,
    tmp: PathBuf,
    file: PathBuf,
}

/// Whether an Ethernet frame carries a benchmark message (UADP over Ethernet or UDP/IPv4).
pub fn is_benchmark_frame(frame: &[u8]) -> bool {
    let be16 = |o: usize| {
        frame
            .get(o..o + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let mut off = 12;
    let mut ethertype = match be16(off) {
        Some(t) => t,
        None => return false,
    };
    while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
        off += 4;
        ethertype = match be16(off) {
            Some(t) => t,
            None => return false,
        };
    }
    let l3 = off + 2;
    match ethertype {
        ETHERTYPE_UADP => true,
        // An IEEE 802.3 length field: UADP behind LLC/SNAP or bare, within the length.
        len if len <= MAX_8023_LENGTH => frame
            .get(l3..)
            .is_some_and(|data| uadp_in_8023_data(data, Some(len)).is_ok()),
        ETHERTYPE_IPV4 => {
            let Some(&vihl) = frame.get(l3) else {
                return false;
            };
            if vihl >> 4 != 4 || frame.get(l3 + 9) != Some(&17) {
                return false;
            }
            let l4 = l3 + usize::from(vihl & 0x0f) * 4;
            match (be16(l4), be16(l4 + 2)) {
                (Some(s), Some(d)) => UADP_UDP_PORTS.contains(&s) || UADP_UDP_PORTS.contains(&d),
                _ => false,
            }
        }
        _ => false,
    }
}

fn realtime() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// An AF_PACKET socket bound to one interface of the calling thread's namespace.
struct PacketSocket(std::os::fd::OwnedFd);

impl PacketSocket {
    fn open(ifindex: u32) -> anyhow::Result<Self> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2); the fd is owned right away.
        let raw = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(proto),
            )
        };
        if raw < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EPERM) {
                bail!("--pcap: cannot open an AF_PACKET socket (EPERM): run as root or grant CAP_NET_RAW");
            }
            return Err(e).context("--pcap: socket(AF_PACKET)");
        }
        // SAFETY: raw is a fresh fd we own.
        let sock = PacketSocket(unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) });
        let fd = sock.0.as_raw_fd();
        // A large buffer so that a flood run loses as little as possible (FORCE needs root;
        // fall back to the ordinary limit).
        let size: libc::c_int = 16 << 20;
        let setopt = |level, name, val: &libc::c_int| {
            // SAFETY: val points to a c_int for the duration of the call.
            unsafe {
                libc::setsockopt(
                    fd,
                    level,
                    name,
                    (val as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            }
        };
        if setopt(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &size) != 0 {
            let _ = setopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &size);
        }
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 50_000,
        };
        // SAFETY: tv is a valid timeval.
        if unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        } != 0
        {
            return Err(std::io::Error::last_os_error()).context("--pcap: SO_RCVTIMEO");
        }
        // SAFETY: zeroed sockaddr_ll is valid; filled below.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: sll is a valid sockaddr_ll of the given length.
        if unsafe {
            libc::bind(
                fd,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        } != 0
        {
            return Err(std::io::Error::last_os_error()).context("--pcap: bind(AF_PACKET)");
        }
        Ok(sock)
    }

    /// One frame: its captured length (truncated to `buf`), original length and packet type;
    /// None on timeout.
    fn recv(&self, buf: &mut [u8]) -> std::io::Result<Option<(usize, usize, u8)>> {
        use std::os::fd::AsRawFd;
        // SAFETY: zeroed sockaddr_ll is valid as an out parameter.
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: buf and sll are valid for writes of the given lengths. MSG_TRUNC returns the
        // frame's real length.
        let n = unsafe {
            libc::recvfrom(
                self.0.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut sll as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.kind() {
                std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let orig = n as usize;
        Ok(Some((orig.min(buf.len()), orig, sll.sll_pkttype)))
    }

    /// PACKET_STATISTICS drops since the last call.
    fn drops(&self) -> u64 {
        use std::os::fd::AsRawFd;
        // SAFETY: zeroed tpacket_stats is valid as an out parameter.
        let mut st: libc::tpacket_stats = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: st is valid for writes of len bytes.
        let r = unsafe {
            libc::getsockopt(
                self.0.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if r == 0 {
            u64::from(st.tp_drops)
        } else {
            0
        }
    }
}

fn tmp_name(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    file.with_file_name(name)
}

/// Starts capturing on side B's veth into `file` (written as `file.tmp` until finished).
/// Returns once the socket is bound, so that every frame sent afterwards is seen.
pub fn start(topo: &Arc<Topology>, file: &Path) -> anyhow::Result<PcapCapture> {
    start_in(topo.b().netns_path(), topo.b().ifindex(), file)
}

/// [`start`] on interface `ifindex` of the network namespace at `netns` (e.g.
/// [`uadpbench_topology::THREAD_NETNS`]: the caller's own, as on an agent's host).
pub fn start_in(netns: &Path, ifindex: u32, file: &Path) -> anyhow::Result<PcapCapture> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("--pcap: cannot create {}", parent.display()))?;
    }
    let tmp = tmp_name(file);
    let out =
        File::create(&tmp).with_context(|| format!("--pcap: cannot create {}", tmp.display()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<anyhow::Result<()>>();
    let st = Arc::clone(&stop);
    let handle =
        uadpbench_topology::spawn_in(netns, "ub-pcap", move || -> anyhow::Result<CaptureStats> {
            let sock = match PacketSocket::open(ifindex) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow::anyhow!("{e:#}")));
                    return Err(e);
                }
            };
            let header = PcapHeader {
                snaplen: SNAPLEN as u32,
                datalink: DataLink::ETHERNET,
                ts_resolution: TsResolution::NanoSecond,
                ..PcapHeader::default()
            };
            let mut writer =
                PcapWriter::with_header(BufWriter::with_capacity(1 << 20, out), header)
                    .context("--pcap: writing the pcap header")?;
            let _ = ready_tx.send(Ok(()));
            let mut stats = CaptureStats::default();
            let mut buf = vec![0u8; SNAPLEN];
            let mut stopping = false;
            loop {
                if !stopping && st.load(Ordering::Acquire) {
                    // Drain what is queued, then end at the first timeout.
                    stopping = true;
                }
                match sock.recv(&mut buf).context("--pcap: recvfrom")? {
                    None if stopping => break,
                    None => {}
                    Some((caplen, orig, pkttype)) => {
                        let frame = &buf[..caplen];
                        if pkttype == libc::PACKET_OUTGOING || !is_benchmark_frame(frame) {
                            stats.other_frames += 1;
                            continue;
                        }
                        writer
                            .write_packet(&PcapPacket::new(realtime(), orig as u32, frame))
                            .context("--pcap: writing a frame")?;
                        stats.frames += 1;
                    }
                }
            }
            stats.kernel_drops = sock.drops();
            let mut inner = writer.into_writer();
            inner.flush().context("--pcap: writing the file")?;
            inner
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .context("--pcap: writing the file")?;
            Ok(stats)
        })?;
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(())) => Ok(PcapCapture {
            stop,
            handle,
            tmp,
            file: file.to_owned(),
        }),
        Ok(Err(e)) => {
            let _ = handle.join();
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
        Err(_) => {
            stop.store(true, Ordering::Release);
            let _ = std::fs::remove_file(&tmp);
            bail!("--pcap: the capture thread did not start")
        }
    }
}

impl PcapCapture {
    /// Stops the capture (after draining what the socket holds) and renames the file into place.
    pub fn finish(self) -> anyhow::Result<CaptureStats> {
        self.stop.store(true, Ordering::Release);
        let stats = match self.handle.join() {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("the pcap capture thread panicked")),
        };
        match stats {
            Ok(s) => {
                std::fs::rename(&self.tmp, &self.file).with_context(|| {
                    format!(
                        "--pcap: renaming {} to {}",
                        self.tmp.display(),
                        self.file.display()
                    )
                })?;
                Ok(s)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&self.tmp);
                Err(e)
            }
        }
    }

    /// The file the capture goes to once finished.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Stops the capture and discards the file (the run failed).
    pub fn abort(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.handle.join();
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::is_benchmark_frame;

    fn eth(ethertype: u16, rest: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(rest);
        f
    }

    #[test]
    fn filter_keeps_uadp_frames_only() {
        assert!(is_benchmark_frame(&eth(0xB62C, &[0xf1, 0x01])));
        let mut tagged = vec![0u8; 12];
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0xB6, 0x2C, 0xf1]);
        assert!(is_benchmark_frame(&tagged));
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0];
        ip.extend_from_slice(&[0; 8]);
        ip.extend_from_slice(&[0x12, 0x34, 0x12, 0xE8, 0, 8, 0, 0]);
        assert!(is_benchmark_frame(&eth(0x0800, &ip)));
        ip[9] = 6; // TCP
        assert!(!is_benchmark_frame(&eth(0x0800, &ip)));
        assert!(!is_benchmark_frame(&eth(0x0806, &[0; 28])));
        // IEEE 802.3 length-field frames: bare UADP and LLC/SNAP are kept, STP and lengths
        // beyond the frame are not.
        assert!(is_benchmark_frame(&eth(2, &[0xf1, 0x01, 0, 0])));
        assert!(is_benchmark_frame(&eth(
            10,
            &[0xaa, 0xaa, 0x03, 0, 0, 0, 0xb6, 0x2c, 0xf1, 0x01]
        )));
        assert!(!is_benchmark_frame(&eth(3, &[0xf1, 0x01])));
        assert!(!is_benchmark_frame(&eth(
            39,
            &[0x42, 0x42, 0x03, 0, 0, 0, 0]
        )));
        assert!(!is_benchmark_frame(&[0; 10]));
    }
}
