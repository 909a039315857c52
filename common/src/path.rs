//! The vocabulary every crate shares: which Linux path a benchmark takes and how UADP is
//! carried on the wire. One definition each; the command line (`clap` feature), campaign files
//! and CSV/JSON (`serde` feature) and the probes use these types directly.

use core::fmt;
use core::str::FromStr;

/// The Linux path a transport sends through.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PathKind {
    /// UDP socket (`sendto`/`sendmmsg`, `recvfrom`/`recvmmsg`).
    Udp = 0,
    /// AF_PACKET raw socket (pnet): the user buffer is the whole Ethernet frame.
    Eth = 1,
    /// AF_XDP socket (xsk-rs) with the uadpbench XDP program steering frames to it.
    Xdp = 2,
}

impl PathKind {
    /// Every path, in the order reports list them.
    pub const ALL: [PathKind; 3] = [PathKind::Udp, PathKind::Eth, PathKind::Xdp];

    /// `udp`, `eth`, `xdp`: the name on the command line, in campaign files and in CSV.
    pub const fn name(self) -> &'static str {
        match self {
            PathKind::Udp => "udp",
            PathKind::Eth => "eth",
            PathKind::Xdp => "xdp",
        }
    }
}

impl fmt::Display for PathKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not one of the enum's values (the message lists the valid ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownName {
    /// What the names are of (`path`, `encapsulation`).
    pub what: &'static str,
    /// The valid names, comma-separated.
    pub valid: &'static str,
}

impl fmt::Display for UnknownName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} (valid: {})", self.what, self.valid)
    }
}

impl FromStr for PathKind {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PathKind::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or(UnknownName {
                what: "path",
                valid: "udp, eth, xdp",
            })
    }
}

/// How UADP is carried on the wire.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Encap {
    /// UADP directly in Ethernet II, EtherType 0xB62C.
    Eth = 0,
    /// UADP in UDP/IPv4 to port 4840.
    Udp = 1,
}

impl Encap {
    /// Both encapsulations.
    pub const ALL: [Encap; 2] = [Encap::Eth, Encap::Udp];

    /// The encapsulation a path uses unless told otherwise: UDP/IPv4 for the udp path (it
    /// has no other), UADP directly in Ethernet for eth and xdp.
    pub const fn default_for(path: PathKind) -> Encap {
        match path {
            PathKind::Udp => Encap::Udp,
            PathKind::Eth | PathKind::Xdp => Encap::Eth,
        }
    }

    /// `eth`, `udp`.
    pub const fn name(self) -> &'static str {
        match self {
            Encap::Eth => "eth",
            Encap::Udp => "udp",
        }
    }
}

impl fmt::Display for Encap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encap {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Encap::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or(UnknownName {
                what: "encapsulation",
                valid: "eth, udp",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for p in PathKind::ALL {
            assert_eq!(p.name().parse::<PathKind>(), Ok(p));
        }
        for e in Encap::ALL {
            assert_eq!(e.name().parse::<Encap>(), Ok(e));
        }
        assert!("tcp".parse::<PathKind>().is_err());
        assert!("UDP".parse::<Encap>().is_err());
    }
}
