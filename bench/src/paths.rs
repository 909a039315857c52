//! Glue between the topology and the transports: the link facts of one side, and opening a
//! path there.

pub use uadpbench_sender::open::PathOptions;
use uadpbench_sender::open::{self, LinkInfo};
use uadpbench_sender::transport::{Encap, PathKind, Transport};
use uadpbench_topology::{Side, Topology};

/// Largest UADP message of a path at an MTU.
pub fn max_message_len(path: PathKind, encap: Encap, mtu: usize) -> usize {
    open::max_message_len(path, encap, mtu, false)
}

/// The link as seen from `side`.
pub fn link_info(topo: &Topology, side: Side) -> LinkInfo {
    let (me, peer) = (topo.endpoint(side), topo.endpoint(side.peer()));
    LinkInfo {
        ifname: me.ifname().to_owned(),
        ifindex: me.ifindex(),
        mtu: me.mtu() as usize,
        local_mac: me.mac(),
        local_ip: me.ipv4(),
        peer_mac: peer.mac(),
        peer_ip: peer.ipv4(),
        udp_port: uadp::UADP_UDP_PORT,
    }
}

/// Opens `path` for `side`; call on a thread already inside that side's namespace.
pub fn open(
    path: PathKind,
    encap: Encap,
    topo: &Topology,
    side: Side,
    options: &PathOptions,
) -> anyhow::Result<Box<dyn Transport>> {
    let link = link_info(topo, side);
    open::open_transport(path, encap, &link, options).map_err(|e| {
        anyhow::anyhow!(
            "opening the {path} path on {} ({}): {e}",
            link.ifname,
            side_name(side)
        )
    })
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::A => "side A",
        Side::B => "side B",
    }
}
