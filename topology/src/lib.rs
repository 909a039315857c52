//! # uadpbench-topology
//!
//! The default uadpbench test topology: two Linux network namespaces joined by a veth pair,
//! created on demand and removed again on every exit path that runs destructors.
//!
//! ```text
//!   netns uadpbench-<id>-a                     netns uadpbench-<id>-b
//!   ┌──────────────────────────┐               ┌──────────────────────────┐
//!   │ ub<id>a  198.18.0.1/24   │═══ veth ══════│ ub<id>b  198.18.0.2/24   │
//!   │ 02:75:62:00:00:01        │               │ 02:75:62:00:00:02        │
//!   └──────────────────────────┘               └──────────────────────────┘
//! ```
//!
//! * Names carry a per-instance id (pid + counter, 12 hex digits), so topologies made by
//!   parallel threads and parallel processes never collide. [`NETNS_PREFIX`] and [`LINK_PREFIX`]
//!   let [`find_leftovers`] / [`remove_leftovers`] find what a killed run left behind.
//! * Addresses come from the RFC 2544 benchmarking range 198.18.0.0/15; every instance uses the
//!   same ones, which is fine because the namespaces isolate them. The MACs are fixed,
//!   locally administered, and each side has a permanent neighbour entry for the other, so no
//!   ARP traffic disturbs a measurement. IPv6 is disabled on the veth ends by default (no router
//!   solicitations, DAD or MLD reports on the wire).
//! * The veth pair is created directly inside the namespaces: nothing is ever added to,
//!   changed in or removed from the root namespace's interfaces.
//! * [`Drop`] deletes the veth pair and both namespaces, also while a panic unwinds. It cannot
//!   run on SIGKILL or on a signal that kills the process without unwinding: the owner of a
//!   topology should handle SIGINT/SIGTERM (and `uadpbench cleanup` removes the rest).
//!
//! ## Threads and namespaces
//!
//! A network namespace is a property of a *thread*. Use [`spawn_in`] (or
//! [`Endpoint::spawn`]) for a thread that lives in one side, or [`enter`] for a guard that moves
//! the current thread temporarily. Sockets belong to the namespace of the thread that created
//! them.
//!
//! A BPF loader must stay in the root namespace: `ip netns exec` remounts `/sys` for the target
//! namespace, hiding bpffs and tracefs, while `setns(2)` as done here changes only the network
//! namespace of one thread.
//!
//! ## Requirements
//!
//! Root (CAP_SYS_ADMIN, CAP_NET_ADMIN), `ip` from iproute2, and `ethtool` only if
//! [`TopologyOptions::disable_offloads`] is set. [`preflight`] checks the first two.
//!
//! ```no_run
//! use uadpbench_topology::{Topology, TopologyOptions};
//! use std::net::UdpSocket;
//!
//! let topo = Topology::create(TopologyOptions::default())?;
//! let dst = (topo.b().ipv4(), 4840);
//! let _rx = topo.b().spawn("rx", move || -> std::io::Result<Vec<u8>> {
//!     let sock = UdpSocket::bind(dst)?;
//!     let mut buf = [0u8; 1500];
//!     let (n, _) = sock.recv_from(&mut buf)?;
//!     Ok(buf[..n].to_vec())
//! })?;
//! # Ok::<(), uadpbench_topology::Error>(())
//! ```

#![warn(missing_docs)]

mod cmd;
mod error;
mod leftovers;
mod names;
mod netns;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use error::{Error, Result};
pub use leftovers::{find_leftovers, remove_leftovers, Leftover, LeftoverKind, LeftoverScope};
pub use names::IFNAME_MAX;

/// Whether `ifname`, as seen from the calling thread's network namespace, is a veth end that
/// uadpbench created: the only interfaces the tool touches unless the user names another one
/// explicitly. The name alone proves nothing (anyone can call a veth `ub000123400000a`), so the
/// thread must also be inside a namespace uadpbench created: one whose identity (device and
/// inode) equals that of a `/var/run/netns/uadpbench-*` namespace file — the record every
/// [`Topology`] leaves while it exists.
pub fn is_own_link(ifname: &str) -> bool {
    names::id_of_link(ifname).is_some() && in_own_namespace()
}

/// Whether the calling thread is in a network namespace created by uadpbench (see
/// [`is_own_link`]).
pub fn in_own_namespace() -> bool {
    let Ok(current) = current_netns() else {
        return false;
    };
    own_namespaces().contains(&current)
}

/// Identities of the namespaces uadpbench created that exist now (this process's and other
/// uadpbench processes').
pub fn own_namespaces() -> Vec<NetnsId> {
    std::fs::read_dir(NETNS_DIR)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(NETNS_PREFIX))
        .filter_map(|e| netns_id(e.path()).ok())
        .collect()
}
pub use netns::{current_netns, enter, netns_id, spawn_in, NetnsGuard, NetnsId, THREAD_NETNS};

use cmd::{ip, ip_ignore_missing};

/// Prefix of every network namespace this crate creates: `uadpbench-<id>-a` / `-b`.
pub const NETNS_PREFIX: &str = "uadpbench-";
/// Prefix of every veth end this crate creates: `ub<id>a` / `ub<id>b` (15 characters).
pub const LINK_PREFIX: &str = "ub";
/// Where iproute2 keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// IPv4 address of side A (RFC 2544 benchmarking range).
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// IPv4 address of side B (RFC 2544 benchmarking range).
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Prefix length of both addresses.
pub const PREFIX_LEN: u8 = 24;
/// MAC of side A's veth end (locally administered, unicast; `75:62` = "ub").
pub const MAC_A: [u8; 6] = [0x02, 0x75, 0x62, 0x00, 0x00, 0x01];
/// MAC of side B's veth end.
pub const MAC_B: [u8; 6] = [0x02, 0x75, 0x62, 0x00, 0x00, 0x02];
/// The OPC UA UDP port (UADP over UDP uses it by default).
pub const OPCUA_UDP_PORT: u16 = 4840;

/// Smallest MTU a veth accepts.
pub const MTU_MIN: u32 = 68;
/// Largest MTU a veth accepts.
pub const MTU_MAX: u32 = 65535;

/// Format a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    let [a, b, c, d, e, f] = *mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

/// One end of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Namespace `...-a`, address [`ADDR_A`].
    A,
    /// Namespace `...-b`, address [`ADDR_B`].
    B,
}

impl Side {
    /// The other side.
    pub fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }

    fn letter(self) -> char {
        match self {
            Side::A => 'a',
            Side::B => 'b',
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::A => "A",
            Side::B => "B",
        })
    }
}

/// How to build a [`Topology`]. Use `TopologyOptions { mtu: 9000, ..Default::default() }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyOptions {
    /// MTU of both veth ends ([`MTU_MIN`]..=[`MTU_MAX`]; default 1500). XDP on veth needs an
    /// MTU that fits one page (about 3500 or less) unless the program supports multi-buffer.
    pub mtu: u32,
    /// Disable IPv6 on the veth ends (default `true`): no link-local address, so no router
    /// solicitations, DAD or MLD packets among the measured ones.
    pub disable_ipv6: bool,
    /// Switch off checksum offload, scatter-gather, TSO/GSO/GRO and VLAN offload on both ends
    /// with `ethtool -K` (default `false`). With offloads on, UDP packets crossing a veth carry
    /// a partial checksum (CHECKSUM_PARTIAL), which raw-socket and AF_XDP receivers see as
    /// a wrong checksum. Needs `ethtool`.
    pub disable_offloads: bool,
}

impl Default for TopologyOptions {
    fn default() -> Self {
        TopologyOptions {
            mtu: 1500,
            disable_ipv6: true,
            disable_offloads: false,
        }
    }
}

/// One side of a topology: its namespace and its veth end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    side: Side,
    netns: String,
    netns_path: PathBuf,
    ifname: String,
    ifindex: u32,
    ipv4: Ipv4Addr,
    prefix_len: u8,
    mac: [u8; 6],
    mtu: u32,
    peer_ipv4: Ipv4Addr,
    peer_mac: [u8; 6],
}

impl Endpoint {
    fn new(id: &str, side: Side, mtu: u32) -> Self {
        let (ipv4, mac, peer_ipv4, peer_mac) = match side {
            Side::A => (ADDR_A, MAC_A, ADDR_B, MAC_B),
            Side::B => (ADDR_B, MAC_B, ADDR_A, MAC_A),
        };
        let netns = names::netns_name(id, side.letter());
        Endpoint {
            side,
            netns_path: Path::new(NETNS_DIR).join(&netns),
            netns,
            ifname: names::link_name(id, side.letter()),
            ifindex: 0,
            ipv4,
            prefix_len: PREFIX_LEN,
            mac,
            mtu,
            peer_ipv4,
            peer_mac,
        }
    }

    /// Which side this is.
    pub fn side(&self) -> Side {
        self.side
    }
    /// Name of the network namespace (`uadpbench-<id>-a`).
    pub fn netns(&self) -> &str {
        &self.netns
    }
    /// Path of the namespace file (`/var/run/netns/<name>`), for [`enter`] / [`spawn_in`].
    pub fn netns_path(&self) -> &Path {
        &self.netns_path
    }
    /// Name of the veth end inside the namespace (`ub<id>a`).
    pub fn ifname(&self) -> &str {
        &self.ifname
    }
    /// Interface index of the veth end, as seen inside its namespace.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
    /// IPv4 address of the veth end.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }
    /// Prefix length of [`ipv4`](Self::ipv4).
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }
    /// MAC address of the veth end.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    /// MTU of the veth end.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }
    /// IPv4 address of the other side.
    pub fn peer_ipv4(&self) -> Ipv4Addr {
        self.peer_ipv4
    }
    /// MAC address of the other side.
    pub fn peer_mac(&self) -> [u8; 6] {
        self.peer_mac
    }

    /// Move the current thread into this side's namespace until the guard drops.
    pub fn enter(&self) -> Result<NetnsGuard> {
        enter(&self.netns_path)
    }

    /// Spawn a named OS thread that runs `f` inside this side's namespace.
    pub fn spawn<F, T>(&self, name: impl Into<String>, f: F) -> Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_in(&self.netns_path, name, f)
    }
}

/// Check that a topology can be built here: effective uid 0 and iproute2's `ip` present.
pub fn preflight() -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Err(Error::NotRoot { euid });
    }
    ip(&["-V"])?;
    Ok(())
}

/// Two network namespaces joined by a veth pair; removed on drop.
#[derive(Debug)]
pub struct Topology {
    id: String,
    a: Endpoint,
    b: Endpoint,
    options: TopologyOptions,
    /// Which namespaces this instance created (and so must delete).
    created: [bool; 2],
    torn_down: bool,
}

/// How many ids [`Topology::create`] tries when namespace names are taken.
const MAX_ID_ATTEMPTS: u32 = 64;

impl Topology {
    /// Build a new topology (see the crate docs for what it looks like).
    ///
    /// On error everything created so far is removed again.
    pub fn create(options: TopologyOptions) -> Result<Topology> {
        if !(MTU_MIN..=MTU_MAX).contains(&options.mtu) {
            return Err(Error::InvalidMtu {
                mtu: options.mtu,
                min: MTU_MIN,
                max: MTU_MAX,
            });
        }
        preflight()?;
        let mut topo = Self::reserve(options)?;
        topo.configure()?;
        Ok(topo)
    }

    /// Create both namespaces under a fresh id; skip ids whose names exist already.
    fn reserve(options: TopologyOptions) -> Result<Topology> {
        let mut last = String::new();
        for _ in 0..MAX_ID_ATTEMPTS {
            let id = names::next_id();
            let mut topo = Topology {
                a: Endpoint::new(&id, Side::A, options.mtu),
                b: Endpoint::new(&id, Side::B, options.mtu),
                id,
                options: options.clone(),
                created: [false, false],
                torn_down: false,
            };
            let mut taken = false;
            for (i, ns) in [topo.a.netns.clone(), topo.b.netns.clone()]
                .iter()
                .enumerate()
            {
                match ip(&["netns", "add", ns]) {
                    Ok(_) => topo.created[i] = true,
                    Err(Error::Command { ref stderr, .. }) if stderr.contains("File exists") => {
                        last.clone_from(ns);
                        taken = true;
                        break;
                    }
                    // `topo` drops here and removes what it created.
                    Err(e) => return Err(e),
                }
            }
            if !taken {
                return Ok(topo);
            }
            // Drop `topo`: removes the namespace it did create, if any.
        }
        Err(Error::IdsExhausted {
            attempts: MAX_ID_ATTEMPTS,
            last,
        })
    }

    fn configure(&mut self) -> Result<()> {
        let mtu = self.options.mtu.to_string();
        let (a, b) = (&self.a, &self.b);
        let (mac_a, mac_b) = (format_mac(&a.mac), format_mac(&b.mac));
        // Created inside A with the peer placed straight into B: never visible in the root ns.
        ip(&[
            "-n", &a.netns, "link", "add", &a.ifname, "mtu", &mtu, "address", &mac_a, "type",
            "veth", "peer", "name", &b.ifname, "mtu", &mtu, "address", &mac_b, "netns", &b.netns,
        ])?;

        let disable_ipv6 = self.options.disable_ipv6;
        let disable_offloads = self.options.disable_offloads;
        let mut ifindex = [0u32; 2];
        for (i, ep) in [&self.a, &self.b].into_iter().enumerate() {
            let (ifname, netns) = (ep.ifname.clone(), ep.netns.clone());
            ifindex[i] = spawn_in(
                &ep.netns_path,
                format!("topo-setup-{}", ep.side),
                move || setup_inside(&ifname, &netns, disable_ipv6, disable_offloads),
            )?
            .join()
            .map_err(|_| Error::Thread {
                name: format!("topo-setup-{}", ep.side),
                source: std::io::Error::other("setup thread panicked"),
            })??;
        }
        self.a.ifindex = ifindex[0];
        self.b.ifindex = ifindex[1];

        for ep in [&self.a, &self.b] {
            let cidr = format!("{}/{}", ep.ipv4, ep.prefix_len);
            ip(&["-n", &ep.netns, "addr", "add", &cidr, "dev", &ep.ifname])?;
            ip(&["-n", &ep.netns, "link", "set", "dev", "lo", "up"])?;
            ip(&["-n", &ep.netns, "link", "set", "dev", &ep.ifname, "up"])?;
        }
        // After both ends are up: taking a device down flushes its neighbour entries.
        for ep in [&self.a, &self.b] {
            let (peer_ip, peer_mac) = (ep.peer_ipv4.to_string(), format_mac(&ep.peer_mac));
            ip(&[
                "-n",
                &ep.netns,
                "neigh",
                "replace",
                &peer_ip,
                "lladdr",
                &peer_mac,
                "dev",
                &ep.ifname,
                "nud",
                "permanent",
            ])?;
        }
        // Packets sent before the kernel's link watcher has handled the carrier-on event hit
        // the noop qdisc and are dropped silently: wait until both ends are operationally up.
        for ep in [&self.a, &self.b] {
            wait_oper_up(ep)?;
        }
        Ok(())
    }

    /// The instance id shared by all names of this topology.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// Side A (198.18.0.1).
    pub fn a(&self) -> &Endpoint {
        &self.a
    }
    /// Side B (198.18.0.2).
    pub fn b(&self) -> &Endpoint {
        &self.b
    }
    /// Either side.
    pub fn endpoint(&self, side: Side) -> &Endpoint {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }
    /// The options it was built with.
    pub fn options(&self) -> &TopologyOptions {
        &self.options
    }

    /// Spawn a named OS thread that runs `f` inside `side`'s namespace.
    pub fn spawn_in<F, T>(&self, side: Side, name: impl Into<String>, f: F) -> Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.endpoint(side).spawn(name, f)
    }

    /// Remove the topology now and report errors (which `Drop` can only print).
    pub fn destroy(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        if self.torn_down {
            return Ok(());
        }
        self.torn_down = true;
        let mut errors = Vec::new();
        // Delete the veth first: a namespace whose file is removed lives on while a thread or
        // socket still refers to it, and its veth end with it. Deleting one end removes both.
        if self.created[0] {
            if let Err(e) =
                ip_ignore_missing(&["-n", &self.a.netns, "link", "del", "dev", &self.a.ifname])
            {
                errors.push(e);
            }
        }
        for (i, ep) in [&self.a, &self.b].into_iter().enumerate() {
            if self.created[i] {
                if let Err(e) = ip_ignore_missing(&["netns", "del", &ep.netns]) {
                    errors.push(e);
                }
            }
        }
        match errors.len() {
            0 => Ok(()),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Teardown(errors)),
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!("uadpbench-topology: removing topology {}: {e}", self.id);
        }
    }
}

/// How long [`wait_oper_up`] waits.
const UP_TIMEOUT: Duration = Duration::from_secs(5);

/// Poll until `ip link` reports `state UP` for the endpoint's veth.
fn wait_oper_up(ep: &Endpoint) -> Result<()> {
    let start = Instant::now();
    let mut delay = Duration::from_micros(500);
    loop {
        let line = ip(&["-n", &ep.netns, "-o", "link", "show", "dev", &ep.ifname])?;
        if line.contains(" state UP ") && !line.contains("NO-CARRIER") {
            return Ok(());
        }
        if start.elapsed() >= UP_TIMEOUT {
            return Err(Error::LinkNotUp {
                ifname: ep.ifname.clone(),
                netns: ep.netns.clone(),
                waited_ms: start.elapsed().as_millis() as u64,
                last: line.trim().to_owned(),
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// Runs on a thread inside the namespace: sysctl, ethtool, ifindex.
fn setup_inside(
    ifname: &str,
    netns: &str,
    disable_ipv6: bool,
    disable_offloads: bool,
) -> Result<u32> {
    if disable_ipv6 {
        // /proc/sys/net is resolved against the calling thread's network namespace.
        let path = PathBuf::from(format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"));
        match std::fs::write(&path, b"1\n") {
            Ok(()) => {}
            // The kernel has IPv6 off entirely (ipv6.disable=1): nothing to disable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(Error::Io {
                    what: "cannot disable IPv6 on the veth",
                    path,
                    source,
                })
            }
        }
    }
    if disable_offloads {
        // A child process inherits the network namespace of the thread that spawns it.
        cmd::run(
            "ethtool",
            &[
                "-K", ifname, "rx", "off", "tx", "off", "sg", "off", "tso", "off", "gso", "off",
                "gro", "off", "rxvlan", "off", "txvlan", "off",
            ],
        )?;
    }
    nix::net::if_::if_nametoindex(ifname).map_err(|source| Error::NoSuchInterface {
        ifname: ifname.to_owned(),
        netns: netns.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_and_endpoint_can_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Topology>();
        send_sync::<Endpoint>();
        send_sync::<Error>();
    }

    #[test]
    fn mac_formatting_and_defaults() {
        assert_eq!(format_mac(&MAC_A), "02:75:62:00:00:01");
        assert_eq!(format_mac(&MAC_B), "02:75:62:00:00:02");
        // Locally administered, unicast.
        assert_eq!(MAC_A[0] & 0b11, 0b10);
        let o = TopologyOptions::default();
        assert_eq!(
            (o.mtu, o.disable_ipv6, o.disable_offloads),
            (1500, true, false)
        );
        let ep = Endpoint::new("000000100002", Side::B, 1500);
        assert_eq!(ep.netns(), "uadpbench-000000100002-b");
        assert_eq!(ep.ifname(), "ub000000100002b");
        assert_eq!(
            ep.netns_path(),
            Path::new("/var/run/netns/uadpbench-000000100002-b")
        );
        assert_eq!((ep.ipv4(), ep.peer_ipv4()), (ADDR_B, ADDR_A));
        assert_eq!(Side::A.peer(), Side::B);
    }

    #[test]
    fn error_messages_say_what_to_do() {
        let e = Error::NotRoot { euid: 1000 };
        assert!(e.to_string().contains("run as root"));
        let e = Error::ToolMissing {
            tool: "ip",
            package: "iproute2",
        };
        assert!(e.to_string().contains("apt-get install iproute2"));
        let hint = error::hint_for("RTNETLINK answers: Operation not permitted");
        assert!(hint.contains("CAP_NET_ADMIN"));
    }
}
