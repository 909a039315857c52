//! The fan-out topology: one publisher namespace and N subscriber namespaces, each joined by a
//! veth pair to a Linux bridge that lives in a namespace of its own (the "switch").
//!
//! ```text
//!   uadpbench-<id>-a            uadpbench-<id>-w               uadpbench-<id>-b1 … -bN
//!   ┌───────────────────┐      ┌────────────────────────┐      ┌───────────────────────┐
//!   │ ub<id>a 198.18.0.1│══════│ pub ─┐                 │      │ ub<id>b 198.18.0.11   │
//!   │ route 224/4 → it  │      │      br0 (flooding)    │══════│ 02:75:62:00:01:01     │
//!   └───────────────────┘      │ sub1 … subN ─┘         │      └───────────────────────┘
//!                              └────────────────────────┘        … one per subscriber
//! ```
//!
//! * The publisher sends to a multicast group ([`FANOUT_GROUP`], MAC [`FANOUT_GROUP_MAC`]);
//!   the bridge floods it to every subscriber port (multicast snooping is off, as on a simple
//!   switch, so no IGMP querier is needed and every port gets every frame).
//! * Subscriber `i` (1-based) has 198.18.0.(10 + i) and MAC 02:75:62:00:01:i; every
//!   subscriber's veth end is called `ub<id>b` inside its own namespace.
//! * STP is off and the forwarding delay 0: ports forward as soon as they are up.
//! * [`Drop`] removes every veth, the bridge and all namespaces, as for [`Topology`](crate::Topology).

use std::net::Ipv4Addr;
use std::path::Path;

use crate::cmd::{ip, ip_ignore_missing};
use crate::endpoint::Endpoint;
use crate::names;
use crate::topology::{preflight, setup_inside, wait_oper_up};
use crate::{format_mac, spawn_in, Error, Result, Side, TopologyOptions, MTU_MAX, MTU_MIN};
use crate::{ADDR_A, MAC_A, NETNS_DIR, PREFIX_LEN};

/// Most subscribers one fan-out topology has.
pub const MAX_SUBSCRIBERS: usize = 32;
/// The multicast group the publisher sends to (administratively scoped, RFC 2365).
pub const FANOUT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 198, 18, 1);
/// The Ethernet address of [`FANOUT_GROUP`] (01:00:5e + its low 23 bits, RFC 1112).
pub const FANOUT_GROUP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x46, 0x12, 0x01];
/// Name of the bridge inside the switch namespace.
const BRIDGE: &str = "br0";
/// Name of the publisher's port on the bridge.
const PUBLISHER_PORT: &str = "pub";

/// IPv4 address of subscriber `i` (1-based).
pub fn subscriber_ipv4(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 10 + i as u8)
}

/// MAC address of subscriber `i` (1-based).
pub fn subscriber_mac(i: usize) -> [u8; 6] {
    [0x02, 0x75, 0x62, 0x00, 0x01, i as u8]
}

/// A publisher and N subscribers on one bridge; removed on drop.
#[derive(Debug)]
pub struct FanOutTopology {
    id: String,
    publisher: Endpoint,
    subscribers: Vec<Endpoint>,
    switch_netns: String,
    options: TopologyOptions,
    /// Namespaces this instance created, in creation order (and so must delete).
    created: Vec<String>,
    torn_down: bool,
}

impl FanOutTopology {
    /// Build a fan-out topology with `subscribers` subscribers (1..=[`MAX_SUBSCRIBERS`]).
    /// On error everything created so far is removed again.
    pub fn create(subscribers: usize, options: TopologyOptions) -> Result<FanOutTopology> {
        if !(MTU_MIN..=MTU_MAX).contains(&options.mtu) {
            return Err(Error::InvalidMtu {
                mtu: options.mtu,
                min: MTU_MIN,
                max: MTU_MAX,
            });
        }
        if !(1..=MAX_SUBSCRIBERS).contains(&subscribers) {
            return Err(Error::InvalidSubscribers {
                subscribers,
                max: MAX_SUBSCRIBERS,
            });
        }
        preflight()?;
        let mut topo = Self::reserve(subscribers, options)?;
        topo.configure()?;
        Ok(topo)
    }

    fn reserve(n: usize, options: TopologyOptions) -> Result<FanOutTopology> {
        let id = names::next_id();
        let mut publisher = Endpoint::new(&id, Side::A, options.mtu);
        publisher.peer_ipv4 = FANOUT_GROUP;
        publisher.peer_mac = FANOUT_GROUP_MAC;
        let subscribers = (1..=n)
            .map(|i| {
                let netns = names::netns_name(&id, 'b') + &i.to_string();
                Endpoint {
                    side: Side::B,
                    netns_path: Path::new(NETNS_DIR).join(&netns),
                    netns,
                    ifname: names::link_name(&id, 'b'),
                    ifindex: 0,
                    ipv4: subscriber_ipv4(i),
                    prefix_len: PREFIX_LEN,
                    mac: subscriber_mac(i),
                    mtu: options.mtu,
                    peer_ipv4: ADDR_A,
                    peer_mac: MAC_A,
                }
            })
            .collect();
        let mut topo = FanOutTopology {
            switch_netns: names::netns_name(&id, 'w'),
            id,
            publisher,
            subscribers,
            options,
            created: Vec::new(),
            torn_down: false,
        };
        let all: Vec<String> = std::iter::once(topo.switch_netns.clone())
            .chain(std::iter::once(topo.publisher.netns.clone()))
            .chain(topo.subscribers.iter().map(|s| s.netns.clone()))
            .collect();
        for ns in all {
            // A fresh id names nothing that exists unless a dead process left it behind
            // (`uadpbench cleanup` removes those): fail rather than reuse it.
            ip(&["netns", "add", &ns])?;
            topo.created.push(ns);
        }
        Ok(topo)
    }

    fn configure(&mut self) -> Result<()> {
        let mtu = self.options.mtu.to_string();
        let sw = self.switch_netns.clone();
        // The switch namespace: no IPv6 anywhere in it (no MLD, DAD or RS on the bridge).
        spawn_in(Path::new(NETNS_DIR).join(&sw), "topo-setup-switch", || {
            for knob in ["all", "default"] {
                let path = format!("/proc/sys/net/ipv6/conf/{knob}/disable_ipv6");
                match std::fs::write(&path, b"1\n") {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(Error::Io {
                            what: "cannot disable IPv6 in the switch namespace",
                            path: path.into(),
                            source: e,
                        })
                    }
                    _ => {}
                }
            }
            Ok(())
        })?
        .join()
        .map_err(|_| thread_panicked("topo-setup-switch"))??;
        ip(&[
            "-n",
            &sw,
            "link",
            "add",
            BRIDGE,
            "mtu",
            &mtu,
            "type",
            "bridge",
            "stp_state",
            "0",
            "forward_delay",
            "0",
            "mcast_snooping",
            "0",
        ])?;
        let mut ports = vec![(self.publisher.clone(), PUBLISHER_PORT.to_owned())];
        ports.extend(
            self.subscribers
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), format!("sub{}", i + 1))),
        );
        for (ep, port) in &ports {
            let mac = format_mac(&ep.mac);
            ip(&[
                "-n", &ep.netns, "link", "add", &ep.ifname, "mtu", &mtu, "address", &mac, "type",
                "veth", "peer", "name", port, "mtu", &mtu, "netns", &sw,
            ])?;
            ip(&["-n", &sw, "link", "set", "dev", port, "master", BRIDGE])?;
            ip(&["-n", &sw, "link", "set", "dev", port, "up"])?;
        }
        ip(&["-n", &sw, "link", "set", "dev", BRIDGE, "up"])?;
        ip(&["-n", &sw, "link", "set", "dev", "lo", "up"])?;

        let disable_ipv6 = self.options.disable_ipv6;
        let disable_offloads = self.options.disable_offloads;
        let mut endpoints: Vec<&mut Endpoint> = vec![&mut self.publisher];
        endpoints.extend(self.subscribers.iter_mut());
        for ep in endpoints {
            let (ifname, netns) = (ep.ifname.clone(), ep.netns.clone());
            let name = format!("topo-setup-{}", ep.netns);
            ep.ifindex = spawn_in(&ep.netns_path, name.clone(), move || {
                setup_inside(&ifname, &netns, disable_ipv6, disable_offloads)
            })?
            .join()
            .map_err(|_| thread_panicked(&name))??;
            let cidr = format!("{}/{}", ep.ipv4, ep.prefix_len);
            ip(&["-n", &ep.netns, "addr", "add", &cidr, "dev", &ep.ifname])?;
            ip(&["-n", &ep.netns, "link", "set", "dev", "lo", "up"])?;
            ip(&["-n", &ep.netns, "link", "set", "dev", &ep.ifname, "up"])?;
        }
        // The publisher reaches the group (and all multicast) through its veth; subscribers
        // know the publisher's MAC, so nothing on the wire asks for it.
        ip(&[
            "-n",
            &self.publisher.netns,
            "route",
            "add",
            "224.0.0.0/4",
            "dev",
            &self.publisher.ifname,
        ])?;
        for s in &self.subscribers {
            ip(&[
                "-n",
                &s.netns,
                "neigh",
                "replace",
                &ADDR_A.to_string(),
                "lladdr",
                &format_mac(&MAC_A),
                "dev",
                &s.ifname,
                "nud",
                "permanent",
            ])?;
        }
        for ep in std::iter::once(&self.publisher).chain(self.subscribers.iter()) {
            wait_oper_up(ep)?;
        }
        Ok(())
    }

    /// The instance id shared by all names of this topology.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The publisher's side (198.18.0.1; its peer address is the group).
    pub fn publisher(&self) -> &Endpoint {
        &self.publisher
    }
    /// The subscribers, in order (subscriber 1 first).
    pub fn subscribers(&self) -> &[Endpoint] {
        &self.subscribers
    }
    /// The namespace holding the bridge.
    pub fn switch_netns(&self) -> &str {
        &self.switch_netns
    }
    /// The options it was built with.
    pub fn options(&self) -> &TopologyOptions {
        &self.options
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
        // Links first (a namespace outlives its file while a thread or socket refers to it,
        // and its veth end with it); deleting one end removes both.
        for ep in std::iter::once(&self.publisher).chain(self.subscribers.iter()) {
            if self.created.contains(&ep.netns) {
                if let Err(e) =
                    ip_ignore_missing(&["-n", &ep.netns, "link", "del", "dev", &ep.ifname])
                {
                    errors.push(e);
                }
            }
        }
        for ns in self.created.iter().rev() {
            if let Err(e) = ip_ignore_missing(&["netns", "del", ns]) {
                errors.push(e);
            }
        }
        Error::all(errors)
    }
}

impl Drop for FanOutTopology {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            eprintln!(
                "uadpbench-topology: removing fan-out topology {}: {e}",
                self.id
            );
        }
    }
}

fn thread_panicked(name: &str) -> Error {
    Error::Thread {
        name: name.to_owned(),
        source: std::io::Error::other("setup thread panicked"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_mac_is_the_groups_multicast_mac() {
        let o = FANOUT_GROUP.octets();
        assert!(FANOUT_GROUP.is_multicast());
        assert_eq!(
            FANOUT_GROUP_MAC,
            [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
        );
    }

    #[test]
    fn subscriber_addresses_are_distinct_and_in_the_benchmark_range() {
        let mut seen = std::collections::HashSet::new();
        for i in 1..=MAX_SUBSCRIBERS {
            let ip = subscriber_ipv4(i);
            assert_eq!(ip.octets()[..3], [198, 18, 0]);
            assert_ne!(ip, ADDR_A);
            assert!(seen.insert((ip, subscriber_mac(i))));
            assert_eq!(
                subscriber_mac(i)[0] & 0b11,
                0b10,
                "locally administered unicast"
            );
        }
    }
}
