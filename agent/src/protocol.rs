//! The control protocol: message types, framing, and the few helpers both ends share.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of JSON (one
//! [`ControllerMsg`] or [`AgentMsg`], internally tagged by `"type"`). Frames larger than
//! [`MAX_FRAME_LEN`] are refused by the codec.

use bytes::Bytes;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LengthDelimitedCodec};

/// Version of this protocol. Both ends must speak the same one; the agent refuses a controller
/// with another version (and says which versions met).
pub const PROTOCOL_VERSION: u32 = 4;

/// Version of the uadpbench tool this crate belongs to (the workspace version), exchanged in the
/// handshake for messages and logs. Only [`PROTOCOL_VERSION`] decides compatibility.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// TCP port an agent listens on unless told otherwise (`uadpbench agent --listen ADDR`), and
/// the port a controller assumes when `--peer` names none.
pub const DEFAULT_AGENT_PORT: u16 = 4850;

/// Largest frame payload the agent accepts from a controller: 16 MiB.
pub const MAX_FRAME_LEN: usize = 16 * 1024 * 1024;

/// Largest frame payload a controller accepts from its agent: 256 MiB. A side's result can be
/// large (every reception of a subscriber, every probe stamp of the agent's end), and the
/// controller chose to connect to this agent; the agent keeps the tight [`MAX_FRAME_LEN`] for
/// what reaches it.
pub const MAX_RESULT_FRAME_LEN: usize = 256 * 1024 * 1024;

/// A TCP connection carrying length-prefixed frames.
pub type FramedStream = Framed<TcpStream, FrameCodec>;

/// Which end of the control connection a codec serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `uadpbench agent`: reads controller frames (≤ [`MAX_FRAME_LEN`]), writes results
    /// (≤ [`MAX_RESULT_FRAME_LEN`]).
    Agent,
    /// The controller: the other way round.
    Controller,
}

/// The codec of this protocol: 4-byte big-endian length prefix, with a size limit per
/// direction ([`End`]).
#[derive(Debug)]
pub struct FrameCodec {
    incoming: LengthDelimitedCodec,
    outgoing: LengthDelimitedCodec,
}

fn length_delimited(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .big_endian()
        .length_field_length(4)
        .max_frame_length(max)
        .new_codec()
}

/// The codec of `end`.
pub fn codec(end: End) -> FrameCodec {
    let (incoming, outgoing) = match end {
        End::Agent => (MAX_FRAME_LEN, MAX_RESULT_FRAME_LEN),
        End::Controller => (MAX_RESULT_FRAME_LEN, MAX_FRAME_LEN),
    };
    FrameCodec {
        incoming: length_delimited(incoming),
        outgoing: length_delimited(outgoing),
    }
}

impl tokio_util::codec::Decoder for FrameCodec {
    type Item = bytes::BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut bytes::BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        self.incoming.decode(src)
    }
}

impl tokio_util::codec::Encoder<Bytes> for FrameCodec {
    type Error = std::io::Error;

    fn encode(&mut self, item: Bytes, dst: &mut bytes::BytesMut) -> Result<(), Self::Error> {
        self.outgoing.encode(item, dst)
    }
}

/// Wraps a connected stream in the protocol's framing for `end`.
pub fn framed(stream: TcpStream, end: End) -> FramedStream {
    Framed::new(stream, codec(end))
}

/// Messages from the controller (the host running `uadpbench run --peer`) to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ControllerMsg {
    /// First message of every connection.
    Hello {
        /// The controller's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The controller's [`TOOL_VERSION`].
        tool_version: String,
        /// Shared secret, if the agent requires one.
        token: Option<String>,
    },
    /// A clock sample: `t1_ns` is the controller's CLOCK_MONOTONIC when it sent this.
    /// Also serves as the keep-alive.
    Clock {
        /// Controller send time (controller CLOCK_MONOTONIC, ns).
        t1_ns: u64,
    },
    /// Start one side of a run on the agent; answered with [`AgentMsg::Started`] once the
    /// side is ready (transport open), or [`AgentMsg::Failed`].
    StartSide {
        /// What to run.
        spec: SideSpec,
    },
    /// Describe one of the agent host's network interfaces (the controller learns the far
    /// end's MAC, IPv4 address and MTU from it); answered with [`AgentMsg::Interface`] or
    /// [`AgentMsg::Failed`].
    Describe {
        /// The interface name on the agent's host, as `ip link` shows it there.
        interface: String,
    },
    /// Stop the side and collect its result; answered with [`AgentMsg::SideFinished`] or
    /// [`AgentMsg::Failed`].
    FinishSide {
        /// The id [`AgentMsg::Started`] returned.
        side_id: u64,
    },
    /// End of the session. The agent stops a side still running and closes the connection.
    Bye,
}

/// Messages from the agent to the controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMsg {
    /// Handshake accepted.
    Welcome {
        /// The agent's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The agent's [`TOOL_VERSION`].
        tool_version: String,
        /// Facts about the agent's host.
        host: HostFacts,
        /// The agent drops a controller it has not heard from for this long (0: never). The
        /// client sends [`ControllerMsg::Clock`] pings well within it.
        #[serde(default)]
        idle_timeout_ms: u64,
    },
    /// Connection refused (address not allowed, wrong token, other protocol version, no
    /// hello); the agent closes the connection after this frame.
    Refused {
        /// Why, and what to do about it.
        reason: String,
        /// The agent's [`PROTOCOL_VERSION`], so that a controller of another version can
        /// say so instead of showing only the reason.
        #[serde(default)]
        protocol: Option<u32>,
    },
    /// Answer to [`ControllerMsg::Clock`]: `t2_ns` receive time and `t3_ns` send time on the
    /// agent's CLOCK_MONOTONIC.
    ClockReply {
        /// Echo of the controller's `t1_ns`.
        t1_ns: u64,
        /// When the agent received the request (agent CLOCK_MONOTONIC, ns).
        t2_ns: u64,
        /// When the agent sent this reply (agent CLOCK_MONOTONIC, ns).
        t3_ns: u64,
    },
    /// Answer to [`ControllerMsg::Describe`].
    Interface(InterfaceFacts),
    /// The side runs.
    Started {
        /// Handle for [`ControllerMsg::FinishSide`].
        side_id: u64,
    },
    /// The side stopped; `result` is what the runner returned.
    SideFinished {
        /// The side that finished.
        side_id: u64,
        /// The runner's result (defined by the bench crate).
        result: serde_json::Value,
    },
    /// A request failed; the connection stays usable.
    Failed {
        /// What went wrong, and what to do about it.
        message: String,
    },
}

/// Facts about the agent's host, sent in [`AgentMsg::Welcome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostFacts {
    /// `uname -n`.
    pub hostname: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// Online CPUs (`sysconf(_SC_NPROCESSORS_ONLN)`).
    pub online_cpus: usize,
    /// `/proc/sys/kernel/random/boot_id`: the running kernel. Two processes that see the same
    /// one share one CLOCK_MONOTONIC (up to a time namespace's offset), so no estimate is needed.
    #[serde(default)]
    pub boot_id: Option<String>,
    /// This process's time-namespace offset of CLOCK_MONOTONIC (`/proc/self/timens_offsets`;
    /// 0 outside a time namespace), ns.
    #[serde(default)]
    pub monotonic_offset_ns: i64,
    /// How the host's clocks are disciplined (PTP, NTP, none) and its `CLOCK_TAI −
    /// CLOCK_MONOTONIC`, read when the facts were taken (the handshake for an agent).
    #[serde(default)]
    pub time_sync: Option<crate::timesync::TimeSync>,
}

impl HostFacts {
    /// The facts of this host.
    pub fn local() -> HostFacts {
        let (hostname, kernel_release) = uname();
        // SAFETY: sysconf has no memory-safety preconditions.
        let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        HostFacts {
            hostname,
            kernel_release,
            online_cpus: usize::try_from(cpus).unwrap_or(0),
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty()),
            monotonic_offset_ns: std::fs::read_to_string("/proc/self/timens_offsets")
                .ok()
                .and_then(|t| monotonic_timens_offset(&t))
                .unwrap_or(0),
            time_sync: Some(crate::timesync::TimeSync::read()),
        }
    }

    /// The agent's CLOCK_MONOTONIC minus this host's, exactly, when both run on one kernel
    /// (same boot id): the difference of their time-namespace offsets. `None` for two hosts.
    pub fn exact_monotonic_offset(&self, local: &HostFacts) -> Option<i64> {
        match (&self.boot_id, &local.boot_id) {
            (Some(a), Some(b)) if a == b => {
                Some(self.monotonic_offset_ns - local.monotonic_offset_ns)
            }
            _ => None,
        }
    }
}

/// The `monotonic` line of `/proc/self/timens_offsets` (`monotonic <s> <ns>`) in ns.
fn monotonic_timens_offset(text: &str) -> Option<i64> {
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("monotonic"))?;
    let mut f = line.split_whitespace().skip(1);
    let secs: i64 = f.next()?.parse().ok()?;
    let nanos: i64 = f.next()?.parse().ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

fn uname() -> (String, String) {
    // SAFETY: utsname is plain old data; all-zero is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (String::new(), String::new());
    }
    (c_chars(&uts.nodename), c_chars(&uts.release))
}

fn c_chars(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One network interface of the agent's host, as [`AgentMsg::Interface`] describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceFacts {
    /// Interface name.
    pub name: String,
    /// Interface index in the agent's network namespace.
    pub ifindex: u32,
    /// MAC address, `aa:bb:cc:dd:ee:ff` ([`parse_mac`] reads it back).
    pub mac: String,
    /// The interface's first IPv4 address, if it has one.
    pub ipv4: Option<std::net::Ipv4Addr>,
    /// MTU in bytes.
    pub mtu: u32,
    /// What the interface can timestamp (`ethtool -T`: software/hardware, the PTP hardware
    /// clock, transmit types, receive filters), as the bench crate's `TimestampingCaps` JSON;
    /// `None` when it could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamping: Option<serde_json::Value>,
}

impl InterfaceFacts {
    /// The MAC address as bytes; `None` if [`InterfaceFacts::mac`] is not `aa:bb:cc:dd:ee:ff`.
    pub fn mac_bytes(&self) -> Option<[u8; 6]> {
        parse_mac(&self.mac)
    }
}

/// Parses `aa:bb:cc:dd:ee:ff` (hex digits in either case).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// One side of a run as the agent should run it. The bench crate defines and interprets
/// `params`; this crate only carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SideSpec {
    /// What the side does.
    pub role: Role,
    /// Role-specific parameters (transport, addresses, message size, counts, placement…).
    pub params: serde_json::Value,
}

/// The roles an agent can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Answers every benchmark message (the far end of a ping-pong).
    Reflector,
    /// Receives and timestamps a publisher's messages.
    Subscriber,
}

/// A frame that is not a message of this protocol.
#[derive(Debug, thiserror::Error)]
#[error("malformed frame ({len} bytes): {source}")]
pub struct DecodeError {
    len: usize,
    #[source]
    source: serde_json::Error,
}

/// Serialises a message into a frame payload.
pub fn encode<T: Serialize>(msg: &T) -> Bytes {
    // The messages are structs and enums with string keys; serde_json cannot fail on them.
    Bytes::from(serde_json::to_vec(msg).expect("protocol messages always serialise"))
}

/// Parses a frame payload.
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(frame).map_err(|source| DecodeError {
        len: frame.len(),
        source,
    })
}

/// The `"protocol"` number of a frame, read leniently: a peer of another version may send a
/// hello or welcome this version cannot parse, but its protocol number is still readable.
pub fn peek_protocol(frame: &[u8]) -> Option<u32> {
    let value: serde_json::Value = serde_json::from_slice(frame).ok()?;
    value
        .get("protocol")?
        .as_u64()
        .and_then(|p| u32::try_from(p).ok())
}

/// This host's CLOCK_MONOTONIC in nanoseconds, the clock of every uadpbench timestamp.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_kernel_means_one_monotonic_clock() {
        assert_eq!(
            monotonic_timens_offset("monotonic           0         0\nboottime  0 0\n"),
            Some(0)
        );
        assert_eq!(
            monotonic_timens_offset("boottime 1 0\nmonotonic -2 500\n"),
            Some(-1_999_999_500)
        );
        assert_eq!(monotonic_timens_offset("garbage"), None);
        let here = HostFacts::local();
        assert!(
            here.boot_id.is_some(),
            "Linux has /proc/sys/kernel/random/boot_id"
        );
        assert_eq!(here.exact_monotonic_offset(&here), Some(0));
        let mut far = here.clone();
        far.boot_id = Some("another-kernel".into());
        assert_eq!(far.exact_monotonic_offset(&here), None);
        far.boot_id = here.boot_id.clone();
        far.monotonic_offset_ns = 5_000;
        assert_eq!(far.exact_monotonic_offset(&here), Some(5_000));
    }
    use bytes::BytesMut;
    use serde_json::json;
    use tokio_util::codec::{Decoder, Encoder};

    #[test]
    fn messages_are_tagged_json() {
        let msg = ControllerMsg::Clock { t1_ns: 5 };
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"type": "clock", "t1_ns": 5})
        );
        let spec = ControllerMsg::StartSide {
            spec: SideSpec {
                role: Role::Reflector,
                params: json!({"path": "udp"}),
            },
        };
        let value = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            value,
            json!({"type": "start_side", "spec": {"role": "reflector", "params": {"path": "udp"}}})
        );
        let back: ControllerMsg = decode(&encode(&spec)).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn describe_and_interface_are_tagged_json() {
        let msg = ControllerMsg::Describe {
            interface: "eth1".into(),
        };
        assert_eq!(
            serde_json::to_value(&msg).unwrap(),
            json!({"type": "describe", "interface": "eth1"})
        );
        let facts = AgentMsg::Interface(InterfaceFacts {
            name: "eth1".into(),
            ifindex: 3,
            mac: "02:75:62:00:00:02".into(),
            ipv4: Some(std::net::Ipv4Addr::new(198, 18, 0, 2)),
            mtu: 1500,
            timestamping: None,
        });
        let value = serde_json::to_value(&facts).unwrap();
        assert_eq!(
            value,
            json!({"type": "interface", "name": "eth1", "ifindex": 3,
                   "mac": "02:75:62:00:00:02", "ipv4": "198.18.0.2", "mtu": 1500})
        );
        let back: AgentMsg = decode(&encode(&facts)).unwrap();
        assert_eq!(back, facts);
    }

    #[test]
    fn macs_parse_and_format() {
        let mac = [0x02, 0x75, 0x62, 0x00, 0xab, 0xFF];
        assert_eq!(format_mac(&mac), "02:75:62:00:ab:ff");
        assert_eq!(parse_mac("02:75:62:00:AB:ff"), Some(mac));
        for bad in [
            "",
            "02:75:62:00:ab",
            "02:75:62:00:ab:ff:00",
            "2:75:62:00:ab:ff",
            "zz:75:62:00:ab:ff",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn refused_without_protocol_still_parses() {
        let msg: AgentMsg = decode(br#"{"type":"refused","reason":"no"}"#).unwrap();
        assert_eq!(
            msg,
            AgentMsg::Refused {
                reason: "no".into(),
                protocol: None
            }
        );
    }

    #[test]
    fn peek_protocol_reads_unknown_shapes() {
        assert_eq!(
            peek_protocol(br#"{"type":"hello2","protocol":7,"x":[1]}"#),
            Some(7)
        );
        assert_eq!(peek_protocol(b"not json"), None);
        assert_eq!(peek_protocol(br#"{"type":"bye"}"#), None);
    }

    #[test]
    fn codec_is_big_endian_and_bounded_per_direction() {
        let mut codec = codec(End::Agent);
        let mut buf = BytesMut::new();
        codec.encode(Bytes::from_static(b"abc"), &mut buf).unwrap();
        assert_eq!(&buf[..], b"\0\0\0\x03abc");

        // The agent refuses a controller frame over 16 MiB…
        let oversized = ((MAX_FRAME_LEN as u32) + 1).to_be_bytes();
        assert!(codec.decode(&mut BytesMut::from(&oversized[..])).is_err());
        // …while a controller takes a result of that size, up to 256 MiB.
        let mut controller = super::codec(End::Controller);
        assert!(controller
            .decode(&mut BytesMut::from(&oversized[..]))
            .unwrap()
            .is_none());
        let too_big = ((MAX_RESULT_FRAME_LEN as u32) + 1).to_be_bytes();
        assert!(super::codec(End::Controller)
            .decode(&mut BytesMut::from(&too_big[..]))
            .is_err());
        // Each end writes what the other reads.
        let big = Bytes::from(vec![0u8; MAX_FRAME_LEN + 1]);
        assert!(codec.encode(big.clone(), &mut BytesMut::new()).is_ok());
        assert!(controller.encode(big, &mut BytesMut::new()).is_err());
    }

    #[test]
    fn host_facts_are_filled() {
        let facts = HostFacts::local();
        assert!(!facts.hostname.is_empty());
        assert!(!facts.kernel_release.is_empty());
        assert!(facts.online_cpus >= 1);
    }

    #[test]
    fn monotonic_advances() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a);
    }
}
