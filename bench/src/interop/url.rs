//! OPC UA PubSub transport URLs (Part 14 §7.3): `opc.udp://HOST[:PORT]` for UADP over UDP
//! (unicast or multicast) and `opc.eth://MAC[:VID[.PCP]]` for UADP directly over Ethernet.
//!
//! Accepted forms:
//!
//! * `opc.udp://198.18.0.2:4840`, `opc.udp://224.0.0.22:4840/` (a trailing `/` as open62541
//!   writes it), `opc.udp://plc.local:4840` (resolved to its first IPv4 address),
//!   `opc.udp://224.0.0.22` (port 4840), `opc.udp://` or `opc.udp://:4840` (the group the OPC UA
//!   SDK tutorials use, [`DEFAULT_MULTICAST_GROUP`]).
//! * `opc.eth://01-00-5e-7f-00-01` (Part 14's hyphenated MAC), `opc.eth://01:00:5e:7f:00:01`,
//!   with an optional 802.1Q VLAN id and priority: `opc.eth://01-00-5e-7f-00-01:5.3`.
//!
//! IPv6 is refused with an error for now.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4, ToSocketAddrs};
use std::str::FromStr;

use uadpbench_sender::frame::VlanTag;

/// The multicast group of the OPC UA SDK tutorials (open62541 `opc.udp://224.0.0.22:4840/`).
pub const DEFAULT_MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);
/// The IANA port of OPC UA, UADP's default.
pub const DEFAULT_PORT: u16 = uadp::UADP_UDP_PORT;

/// Where UADP NetworkMessages go to (publish) or arrive at (subscribe).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// UADP over UDP/IPv4; multicast if the address is in 224.0.0.0/4.
    Udp(SocketAddrV4),
    /// UADP over raw Ethernet to this destination MAC, optionally 802.1Q-tagged.
    Eth { mac: [u8; 6], vlan: Option<VlanTag> },
}

impl Target {
    /// Whether this is a UDP multicast group.
    pub fn is_multicast(&self) -> bool {
        matches!(self, Target::Udp(a) if a.ip().is_multicast())
    }

    /// Whether an interface must be named for this target (multicast and raw Ethernet: the
    /// outgoing/listening interface is never left to the routing table).
    pub fn needs_interface(&self) -> bool {
        self.is_multicast() || matches!(self, Target::Eth { .. })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Udp(a) => write!(f, "opc.udp://{a}"),
            Target::Eth { mac, vlan } => {
                let [a, b, c, d, e, g] = *mac;
                write!(
                    f,
                    "opc.eth://{a:02x}-{b:02x}-{c:02x}-{d:02x}-{e:02x}-{g:02x}"
                )?;
                if let Some(t) = vlan {
                    write!(f, ":{}.{}", t.id, t.pcp)?;
                }
                Ok(())
            }
        }
    }
}

/// Why a target URL was refused; every message says what a valid one looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{0}` is not an OPC UA PubSub URL: use opc.udp://HOST:PORT (unicast or multicast, e.g. opc.udp://224.0.0.22:4840) or opc.eth://MAC[:VID[.PCP]] (e.g. opc.eth://01-00-5e-7f-00-01:5.3)")]
    Scheme(String),
    #[error(
        "`{url}`: invalid port `{port}`; give a number 1..=65535, e.g. opc.udp://224.0.0.22:4840"
    )]
    Port { url: String, port: String },
    #[error("`{url}`: IPv6 targets are not supported yet; use an IPv4 address")]
    Ipv6 { url: String },
    #[error("`{url}`: cannot resolve host `{host}` to an IPv4 address ({reason}); give an IPv4 address such as 198.18.0.2")]
    Host {
        url: String,
        host: String,
        reason: String,
    },
    #[error("`{url}`: unexpected path `{path}` after the address; write opc.udp://HOST:PORT (a single trailing / is allowed)")]
    Path { url: String, path: String },
    #[error("`{url}`: `{mac}` is not a MAC address; write six hex pairs separated by - (Part 14) or :, e.g. opc.eth://01-00-5e-7f-00-01")]
    Mac { url: String, mac: String },
    #[error("`{url}`: invalid VLAN `{vlan}`; write :VID or :VID.PCP with VID 0..=4095 and PCP 0..=7, e.g. opc.eth://01-00-5e-7f-00-01:5.3")]
    Vlan { url: String, vlan: String },
}

/// Parses a target URL (see the module docs for the accepted forms).
pub fn parse_target(url: &str) -> Result<Target, UrlError> {
    let trimmed = url.trim();
    let lower = trimmed.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("opc.udp://") {
        // Keep the original case for hostnames (DNS is case-insensitive anyway).
        let rest = &trimmed[trimmed.len() - rest.len()..];
        parse_udp(trimmed, rest).map(Target::Udp)
    } else if let Some(rest) = lower.strip_prefix("opc.eth://") {
        parse_eth(trimmed, rest)
    } else {
        Err(UrlError::Scheme(trimmed.to_owned()))
    }
}

impl FromStr for Target {
    type Err = UrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_target(s)
    }
}

fn parse_udp(url: &str, rest: &str) -> Result<SocketAddrV4, UrlError> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if !path.is_empty() && path != "/" {
        return Err(UrlError::Path {
            url: url.to_owned(),
            path: path.to_owned(),
        });
    }
    if authority.starts_with('[') || authority.matches(':').count() > 1 {
        return Err(UrlError::Ipv6 {
            url: url.to_owned(),
        });
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => {
            let port = p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| UrlError::Port {
                    url: url.to_owned(),
                    port: p.to_owned(),
                })?;
            (h, port)
        }
        None => (authority, DEFAULT_PORT),
    };
    if host.is_empty() {
        return Ok(SocketAddrV4::new(DEFAULT_MULTICAST_GROUP, port));
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(SocketAddrV4::new(ip, port));
    }
    let host_error = |reason: String| UrlError::Host {
        url: url.to_owned(),
        host: host.to_owned(),
        reason,
    };
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(host_error("not an address or host name".into()));
    }
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| host_error(e.to_string()))?;
    for a in addrs {
        if let std::net::SocketAddr::V4(v4) = a {
            return Ok(v4);
        }
    }
    Err(host_error("it has no IPv4 address".into()))
}

/// Parses `aa-bb-cc-dd-ee-ff` or `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let sep = if text.contains('-') { '-' } else { ':' };
    let mut mac = [0u8; 6];
    let mut parts = text.split(sep);
    for byte in &mut mac {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn parse_eth(url: &str, rest: &str) -> Result<Target, UrlError> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let parts: Vec<&str> = rest.split(':').collect();
    // Hyphenated MAC: `MAC` or `MAC:VLAN`; colon MAC: six parts, or seven with the VLAN.
    let (mac_text, vlan_text) = match parts.len() {
        1 => (rest.to_owned(), None),
        2 => (parts[0].to_owned(), Some(parts[1])),
        6 => (rest.to_owned(), None),
        7 => (parts[..6].join(":"), Some(parts[6])),
        _ => (rest.to_owned(), None),
    };
    let mac = parse_mac(&mac_text).ok_or_else(|| UrlError::Mac {
        url: url.to_owned(),
        mac: mac_text.clone(),
    })?;
    let vlan = match vlan_text {
        None => None,
        Some(v) => Some(parse_vlan(v).ok_or_else(|| UrlError::Vlan {
            url: url.to_owned(),
            vlan: v.to_owned(),
        })?),
    };
    Ok(Target::Eth { mac, vlan })
}

fn parse_vlan(text: &str) -> Option<VlanTag> {
    let (vid, pcp) = match text.split_once('.') {
        Some((v, p)) => (v, Some(p)),
        None => (text, None),
    };
    let id: u16 = vid.parse().ok().filter(|v| *v <= 4095)?;
    let pcp: u8 = match pcp {
        Some(p) => p.parse().ok().filter(|p| *p <= 7)?,
        None => 0,
    };
    Some(VlanTag { id, pcp })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(a: [u8; 4], port: u16) -> Target {
        Target::Udp(SocketAddrV4::new(Ipv4Addr::from(a), port))
    }

    #[test]
    fn udp_unicast_and_multicast() {
        assert_eq!(
            parse_target("opc.udp://198.18.0.2:4840").unwrap(),
            udp([198, 18, 0, 2], 4840)
        );
        assert_eq!(
            parse_target("opc.udp://224.0.0.22:4840/").unwrap(),
            udp([224, 0, 0, 22], 4840)
        );
        assert_eq!(
            parse_target("OPC.UDP://239.1.2.3").unwrap(),
            udp([239, 1, 2, 3], 4840)
        );
        assert_eq!(
            parse_target("opc.udp://").unwrap(),
            udp([224, 0, 0, 22], 4840)
        );
        assert_eq!(
            parse_target("opc.udp://:4841").unwrap(),
            udp([224, 0, 0, 22], 4841)
        );
        assert_eq!(
            parse_target("opc.udp://localhost:4840").unwrap(),
            udp([127, 0, 0, 1], 4840)
        );
        assert!(parse_target("opc.udp://224.0.0.22:4840")
            .unwrap()
            .is_multicast());
        assert!(!parse_target("opc.udp://198.18.0.2").unwrap().is_multicast());
        assert!(parse_target("opc.udp://224.0.0.22")
            .unwrap()
            .needs_interface());
        assert!(!parse_target("opc.udp://198.18.0.2")
            .unwrap()
            .needs_interface());
    }

    #[test]
    fn udp_errors_say_what_to_write() {
        let e = parse_target("http://224.0.0.22:4840").unwrap_err();
        assert!(matches!(e, UrlError::Scheme(_)));
        assert!(e.to_string().contains("opc.udp://HOST:PORT"), "{e}");
        for bad in [
            "opc.udp://1.2.3.4:0",
            "opc.udp://1.2.3.4:70000",
            "opc.udp://1.2.3.4:x",
        ] {
            assert!(
                matches!(parse_target(bad), Err(UrlError::Port { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_target("opc.udp://[ff02::1]:4840"),
            Err(UrlError::Ipv6 { .. })
        ));
        assert!(matches!(
            parse_target("opc.udp://1.2.3.4:4840/x"),
            Err(UrlError::Path { .. })
        ));
        assert!(matches!(
            parse_target("opc.udp://no_such host:4840"),
            Err(UrlError::Host { .. })
        ));
    }

    #[test]
    fn eth_forms() {
        let mac = [0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01];
        assert_eq!(
            parse_target("opc.eth://01-00-5E-7F-00-01").unwrap(),
            Target::Eth { mac, vlan: None }
        );
        assert_eq!(
            parse_target("opc.eth://01:00:5e:7f:00:01").unwrap(),
            Target::Eth { mac, vlan: None }
        );
        let tagged = Target::Eth {
            mac,
            vlan: Some(VlanTag { id: 5, pcp: 3 }),
        };
        assert_eq!(
            parse_target("opc.eth://01-00-5e-7f-00-01:5.3").unwrap(),
            tagged
        );
        assert_eq!(
            parse_target("opc.eth://01:00:5e:7f:00:01:5.3/").unwrap(),
            tagged
        );
        assert_eq!(
            parse_target("opc.eth://01-00-5e-7f-00-01:4095").unwrap(),
            Target::Eth {
                mac,
                vlan: Some(VlanTag { id: 4095, pcp: 0 })
            }
        );
        assert_eq!(tagged.to_string(), "opc.eth://01-00-5e-7f-00-01:5.3");
        assert!(tagged.needs_interface());
    }

    #[test]
    fn eth_errors() {
        for bad in [
            "opc.eth://01-00-5e",
            "opc.eth://01-00-5e-7f-00-01-02",
            "opc.eth://01-00-5e-7f-00-zz",
            "opc.eth://",
            "opc.eth://1-0-5e-7f-0-1",
        ] {
            assert!(
                matches!(parse_target(bad), Err(UrlError::Mac { .. })),
                "{bad}"
            );
        }
        for bad in [
            "opc.eth://01-00-5e-7f-00-01:4096",
            "opc.eth://01-00-5e-7f-00-01:5.8",
            "opc.eth://01-00-5e-7f-00-01:x",
            "opc.eth://01-00-5e-7f-00-01:",
        ] {
            let e = parse_target(bad).unwrap_err();
            assert!(matches!(e, UrlError::Vlan { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("VID 0..=4095"));
        }
    }
}
