//! Building and removing a [`Topology`]: the two namespaces under a fresh id, the veth pair
//! created inside them, addresses, permanent neighbour entries, per-side sysctl/ethtool setup,
//! waiting for carrier, and teardown on drop.

use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::cmd::{self, ip, ip_ignore_missing};
use crate::names;
use crate::{format_mac, spawn_in, Endpoint, Error, Result, Side, MTU_MAX, MTU_MIN};

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
        Error::all(errors)
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
pub(crate) fn wait_oper_up(ep: &Endpoint) -> Result<()> {
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
pub(crate) fn setup_inside(
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
}
