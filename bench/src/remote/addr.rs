//! Addresses of runs across hosts: the agent's `--listen` and `--allow-from`, the
//! controller's `--peer`, and the token file both read.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use ipnet::IpNet;
use uadpbench_agent::DEFAULT_AGENT_PORT;

/// Where an agent accepts controllers from unless `--allow-from` says otherwise: loopback,
/// the private ranges (RFC 1918, IPv6 unique-local), link-local, and the RFC 2544
/// benchmarking range 198.18.0.0/15. Everything else (public addresses) is refused.
pub const DEFAULT_ALLOW_FROM: [&str; 9] = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "198.18.0.0/15",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
];

/// [`DEFAULT_ALLOW_FROM`], parsed.
pub fn default_allow_from() -> Vec<IpNet> {
    DEFAULT_ALLOW_FROM
        .iter()
        .filter_map(|net| net.parse().ok())
        .collect()
}

/// `--allow-from`: a network (`198.18.0.0/15`) or one address (`192.0.2.7`).
pub fn parse_allow_from(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!("{text:?} is neither a network (198.18.0.0/15, fd00::/8) nor an address")
    })
}

/// `--listen`: `ADDR:PORT`, `[V6]:PORT`, or an address alone (port [`DEFAULT_AGENT_PORT`]).
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, DEFAULT_AGENT_PORT))
        .map_err(|_| {
            format!(
                "{text:?} is not an address to listen on: give ADDR[:PORT] with an address of this \
                 host, e.g. 198.18.0.2:{DEFAULT_AGENT_PORT} or [fd00::2]:{DEFAULT_AGENT_PORT}"
            )
        })
}

/// `--peer HOST[:PORT]` as the `host:port` the client connects to (port
/// [`DEFAULT_AGENT_PORT`] when none is given).
pub fn peer_address(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("--peer is empty: give the agent's HOST[:PORT]".into());
    }
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(text.to_owned());
    }
    if let Ok(ip) = text
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, DEFAULT_AGENT_PORT).to_string());
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            if host.is_empty() || port.parse::<u16>().is_err() {
                Err(format!(
                    "--peer {text:?}: give HOST[:PORT] with a port in 1..=65535"
                ))
            } else {
                Ok(text.to_owned())
            }
        }
        Some(_) => Err(format!(
            "--peer {text:?}: write an IPv6 address with a port as [ADDR]:PORT"
        )),
        None => Ok(format!("{text}:{DEFAULT_AGENT_PORT}")),
    }
}

/// Reads a token file: its content without surrounding whitespace, which must not be empty.
pub fn read_token(file: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the token file {}: {e}; give a readable file holding the shared token",
            file.display()
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        anyhow::bail!(
            "the token file {} is empty: put the shared token in it (e.g. `openssl rand -hex 16 > {}`)",
            file.display(),
            file.display()
        );
    }
    Ok(token.to_owned())
}

/// Whether others than the owner may read `file` (a token file should be mode 0600).
pub fn readable_by_others(file: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(file).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            parse_listen("198.18.0.2:4900").unwrap(),
            "198.18.0.2:4900".parse().unwrap()
        );
        assert_eq!(
            parse_listen("198.18.0.2").unwrap(),
            "198.18.0.2:4850".parse().unwrap()
        );
        assert_eq!(
            parse_listen("[fd00::2]").unwrap(),
            "[fd00::2]:4850".parse().unwrap()
        );
        assert_eq!(parse_listen("::").unwrap(), "[::]:4850".parse().unwrap());
        assert!(parse_listen("example.org:4850").is_err());
        assert!(parse_listen("198.18.0.2:99999").is_err());
    }

    #[test]
    fn peer_addresses() {
        assert_eq!(peer_address("198.18.0.2").unwrap(), "198.18.0.2:4850");
        assert_eq!(peer_address("198.18.0.2:4900").unwrap(), "198.18.0.2:4900");
        assert_eq!(peer_address("fd00::2").unwrap(), "[fd00::2]:4850");
        assert_eq!(peer_address("[fd00::2]:4900").unwrap(), "[fd00::2]:4900");
        assert_eq!(peer_address("far-host").unwrap(), "far-host:4850");
        assert_eq!(peer_address("far-host:4900").unwrap(), "far-host:4900");
        assert!(peer_address("far-host:http").is_err());
        assert!(peer_address(":4850").is_err());
        assert!(peer_address("").is_err());
    }

    #[test]
    fn allow_from_entries_and_default() {
        assert_eq!(
            parse_allow_from("198.18.0.0/15").unwrap().to_string(),
            "198.18.0.0/15"
        );
        assert_eq!(
            parse_allow_from("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_allow_from("10.1.2.3/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert!(parse_allow_from("nope").is_err());
        let default = default_allow_from();
        assert_eq!(default.len(), DEFAULT_ALLOW_FROM.len());
        let allowed = |ip: &str| {
            let ip: IpAddr = ip.parse().unwrap();
            default.iter().any(|n| n.contains(&ip))
        };
        for ok in [
            "127.0.0.1",
            "10.9.8.7",
            "192.168.1.1",
            "198.19.255.1",
            "::1",
            "fd12::1",
        ] {
            assert!(allowed(ok), "{ok}");
        }
        for refused in ["8.8.8.8", "203.0.113.5", "2001:db8::1", "172.32.0.1"] {
            assert!(!allowed(refused), "{refused}");
        }
    }

    #[test]
    fn token_files() {
        let dir = std::env::temp_dir().join(format!("uadpbench-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "  s3cret\n").unwrap();
        assert_eq!(read_token(&file).unwrap(), "s3cret");
        std::fs::write(&file, "\n").unwrap();
        assert!(read_token(&file).unwrap_err().to_string().contains("empty"));
        assert!(read_token(&dir.join("missing"))
            .unwrap_err()
            .to_string()
            .contains("cannot read"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
