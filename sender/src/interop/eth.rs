//! Raw Ethernet on a named interface: an AF_PACKET socket through pnet, not promiscuous, and
//! the frames of the three framings stacks use.

use std::io;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::time::Duration;

use pnet_datalink::{DataLinkReceiver, DataLinkSender, NetworkInterface};

use super::{ifindex, io_err, NetError};
use crate::eth::PnetChannel;
use crate::frame::{EthFraming, VlanTag, LLC_SNAP_UADP, MAX_8023_LENGTH};
use crate::sys::set_sockopt;

/// An AF_PACKET socket on one named interface, used through pnet.
pub struct EthSocket {
    pub ifname: String,
    pub mac: [u8; 6],
    pub mtu: usize,
    tx: Box<dyn DataLinkSender>,
    rx: Box<dyn DataLinkReceiver>,
}

impl std::fmt::Debug for EthSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthSocket")
            .field("ifname", &self.ifname)
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

impl EthSocket {
    /// Opens an AF_PACKET socket on `ifname`; joins `multicast_mac` on it if given. An
    /// interface uadpbench did not create (not one of its veth ends) is refused unless
    /// `allow_disruptive` says the user named it with `--disruptive-interface`.
    pub fn open(
        ifname: &str,
        multicast_mac: Option<[u8; 6]>,
        timeout: Duration,
        allow_disruptive: bool,
    ) -> Result<Self, NetError> {
        if !allow_disruptive && !uadpbench_topology::is_own_link(ifname) {
            return Err(NetError::DisruptiveInterface(ifname.to_owned()));
        }
        let index = ifindex(ifname)?;
        let iface = pnet_datalink::interfaces()
            .into_iter()
            .find(|i| i.name == ifname)
            .ok_or_else(|| NetError::NoInterface(ifname.to_owned()))?;
        let mac = iface.mac.map(|m| m.octets()).unwrap_or_default();
        let sock = crate::sys::packet_socket().map_err(|e| {
            if e.raw_os_error() == Some(libc::EPERM) {
                NetError::RawPermission
            } else {
                NetError::Io {
                    what: "socket(AF_PACKET)".into(),
                    source: e,
                }
            }
        })?;
        let fd = sock.as_raw_fd();
        // Best effort: older kernels lack it, then our own frames are filtered by address.
        let _ = set_sockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_IGNORE_OUTGOING,
            &1 as &libc::c_int,
        );
        if let Some(group) = multicast_mac {
            crate::sys::add_mac_membership(fd, index, group).map_err(io_err(format!(
                "joining multicast MAC on {ifname} (PACKET_ADD_MEMBERSHIP)"
            )))?;
        }
        // 1500 if the kernel does not say.
        let mtu = crate::sys::interface_mtu(fd, ifname).map_or(1500, |mtu| mtu as usize);
        let (tx, rx) = channel(&iface, mtu, sock.into_raw_fd(), timeout)?;
        Ok(EthSocket {
            ifname: ifname.to_owned(),
            mac,
            mtu,
            tx,
            rx,
        })
    }

    /// Sends one frame.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), NetError> {
        match self.tx.send_to(frame, None) {
            Some(Ok(())) => Ok(()),
            Some(Err(e)) => Err(NetError::Io {
                what: format!("AF_PACKET send on {}", self.ifname),
                source: e,
            }),
            None => Err(NetError::Io {
                what: format!("AF_PACKET send on {}", self.ifname),
                source: io::Error::other("pnet refused the frame"),
            }),
        }
    }

    /// Receives one frame; `None` on timeout.
    pub fn recv(&mut self) -> Result<Option<&[u8]>, NetError> {
        match self.rx.next() {
            Ok(frame) => Ok(Some(frame)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut
                        | io::ErrorKind::WouldBlock
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(NetError::Io {
                what: format!("AF_PACKET receive on {}", self.ifname),
                source: e,
            }),
        }
    }
}

/// Hands `fd` (ownership included) to pnet, which binds it to `iface`.
fn channel(
    iface: &NetworkInterface,
    mtu: usize,
    fd: RawFd,
    timeout: Duration,
) -> Result<PnetChannel, NetError> {
    crate::eth::pnet_channel(iface, mtu, fd, timeout).map_err(|e| NetError::Io {
        what: format!(
            "binding the AF_PACKET socket to `{}` (is the interface up?)",
            iface.name
        ),
        source: e,
    })
}

/// Ethernet frame minimum without FCS: shorter frames are padded with zeros, as NICs do.
pub const MIN_FRAME: usize = 60;

/// Largest UADP message one frame of `framing` carries at `mtu` (a VLAN tag lies outside it).
pub fn max_eth_payload(framing: EthFraming, mtu: usize) -> usize {
    match framing {
        EthFraming::EthernetII => mtu,
        // The length field counts the LLC/SNAP header (if any) and the message: ≤ 1500.
        EthFraming::Ieee8023Snap | EthFraming::Ieee8023Bare => mtu
            .min(usize::from(MAX_8023_LENGTH))
            .saturating_sub(framing.llc_len()),
    }
}

/// Writes a frame `src → dst` of `framing` carrying `uadp` into `out` (cleared first);
/// padded to [`MIN_FRAME`].
pub fn build_eth_frame(
    out: &mut Vec<u8>,
    dst: [u8; 6],
    src: [u8; 6],
    vlan: Option<VlanTag>,
    framing: EthFraming,
    uadp: &[u8],
) {
    out.clear();
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    if let Some(t) = vlan {
        out.extend_from_slice(&0x8100u16.to_be_bytes());
        out.extend_from_slice(&((u16::from(t.pcp) << 13) | (t.id & 0x0FFF)).to_be_bytes());
    }
    match framing {
        EthFraming::EthernetII => out.extend_from_slice(&uadp::UADP_ETHERTYPE.to_be_bytes()),
        EthFraming::Ieee8023Snap | EthFraming::Ieee8023Bare => {
            // Callers keep `uadp` within `max_eth_payload`, so the length fits 1500.
            let len = (framing.llc_len() + uadp.len()) as u16;
            out.extend_from_slice(&len.to_be_bytes());
            if framing == EthFraming::Ieee8023Snap {
                out.extend_from_slice(&LLC_SNAP_UADP);
            }
        }
    }
    out.extend_from_slice(uadp);
    if out.len() < MIN_FRAME {
        out.resize(MIN_FRAME, 0);
    }
}

/// Whether a MAC is a multicast (group) address other than broadcast.
pub fn is_multicast_mac(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 1 && *mac != [0xff; 6]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::parse_raw_uadp;

    #[test]
    fn frames_parse_back_in_every_framing() {
        let dst = [1, 0, 0x5e, 0, 0, 0x16];
        let src = [2, 0x75, 0x62, 0, 0, 1];
        let mut buf = Vec::new();
        for framing in EthFraming::ALL {
            for vlan in [None, Some(VlanTag { id: 7, pcp: 5 })] {
                build_eth_frame(&mut buf, dst, src, vlan, framing, &[0xf1, 1, 2]);
                assert_eq!(buf.len(), MIN_FRAME);
                let raw = parse_raw_uadp(&buf).unwrap();
                assert_eq!(
                    (raw.destination, raw.source, raw.vlan, raw.framing),
                    (dst, src, vlan, framing)
                );
                match framing {
                    EthFraming::Ieee8023Snap | EthFraming::Ieee8023Bare => {
                        assert_eq!(raw.uadp, &[0xf1, 1, 2])
                    }
                    EthFraming::EthernetII => assert_eq!(&raw.uadp[..3], &[0xf1, 1, 2]),
                }
            }
        }
        // Bare: the length field (3), then the message, no LLC header.
        build_eth_frame(
            &mut buf,
            dst,
            src,
            None,
            EthFraming::Ieee8023Bare,
            &[0xf1, 1, 2],
        );
        assert_eq!(&buf[12..17], &[0x00, 0x03, 0xf1, 1, 2]);
        assert_eq!(&buf[17..], &[0; MIN_FRAME - 17]);
        // The largest bare message fills the 1500-byte length exactly.
        let big = [0xf1; 1500];
        build_eth_frame(&mut buf, dst, src, None, EthFraming::Ieee8023Bare, &big);
        assert_eq!((buf.len(), &buf[12..14]), (1514, &[0x05, 0xdc][..]));
        assert_eq!(parse_raw_uadp(&buf).unwrap().uadp.len(), 1500);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Snap, 1500), 1492);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Snap, 9000), 1492);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Bare, 1500), 1500);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Bare, 9000), 1500);
        assert_eq!(max_eth_payload(EthFraming::Ieee8023Bare, 1280), 1280);
        assert_eq!(max_eth_payload(EthFraming::EthernetII, 9000), 9000);
        assert!(is_multicast_mac(&dst) && !is_multicast_mac(&src) && !is_multicast_mac(&[0xff; 6]));
    }
}
