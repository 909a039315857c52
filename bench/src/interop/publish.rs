//! `uadpbench publish`: sends a configured UADP stream to a target, cyclically (absolute
//! CLOCK_MONOTONIC deadlines, so wake-up errors do not accumulate), and keeps a send log: per
//! message its index, the sequence number on the wire, deadline and send time. Where the
//! benchmark's timing cannot ride in the configured fields, a subscriber on the same host joins
//! this log on the sequence number (`subscribe --send-log`).

use std::net::{SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;
use uadpbench_sender::clock::{monotonic_ns, sleep_until};
use uadpbench_sender::frame::{EthFraming, VlanTag};

use super::fields::SendTime;
use super::layout::{Layout, MessageEncoder};
use super::net::{self, EthSocket, MulticastOptions, NetError};
use super::url::Target;
use super::InteropError;
use crate::stats::Summary;

/// Largest UDP/IPv4 payload.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// What to publish, where and how often.
#[derive(Debug, Clone)]
pub struct PublishConfig {
    pub target: Target,
    /// The interface to send on: required for multicast and raw Ethernet.
    pub interface: Option<String>,
    /// The user named `interface` with `--disruptive-interface`: raw Ethernet may open its
    /// AF_PACKET socket there although uadpbench did not create the interface.
    pub disruptive_interface: bool,
    pub layout: Layout,
    /// Messages to send (exclusive with `duration`).
    pub count: Option<u64>,
    /// How long to publish (exclusive with `count`).
    pub duration: Option<Duration>,
    /// Publishing interval (0: as fast as possible).
    pub interval: Duration,
    /// Busy-wait this long before each deadline (more precise wake-ups, burns CPU).
    pub spin: Duration,
    /// Raw Ethernet: Ethernet II (0xB62C), or an IEEE 802.3 length field followed by LLC/SNAP
    /// or (bare, as open62541 v1.4 sends) by the UADP message itself.
    pub framing: EthFraming,
    pub multicast: MulticastOptions,
    /// Where to write the send log (CSV).
    pub send_log: Option<PathBuf>,
}

impl PublishConfig {
    /// Every problem of the configuration, before anything is opened.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match (self.count, self.duration) {
            (None, None) => p.push("give --count N or --duration SECS".into()),
            (Some(_), Some(_)) => p.push("give --count or --duration, not both".into()),
            (Some(0), _) => p.push("--count must be at least 1".into()),
            (_, Some(d)) if d.is_zero() => p.push("--duration must be positive".into()),
            _ => {}
        }
        if self.target.needs_interface() && self.interface.is_none() {
            let kind = if self.target.is_multicast() {
                "a multicast group"
            } else {
                "a raw Ethernet target"
            };
            p.push(format!(
                "{} is {kind}: name the outgoing interface with --interface IFNAME \
                 (uadpbench never lets the routing table choose it)",
                self.target
            ));
        }
        if let Err(e) = self.layout.validate() {
            p.push(e.to_string());
        }
        p
    }
}

/// One row of the send log.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct SendLogRow {
    /// Message index (0, 1, …): the 64-bit sequence whose low 16 bits are on the wire.
    pub index: u64,
    /// The SequenceNumber on the wire (NetworkMessage and DataSetMessages, where enabled).
    pub sequence: u16,
    /// When the message was due (CLOCK_MONOTONIC ns).
    pub deadline_mono_ns: u64,
    /// When it was encoded and handed to the kernel (CLOCK_MONOTONIC ns).
    pub send_mono_ns: u64,
    /// The same instant as OPC UA DateTime ticks (100 ns since 1601, UTC).
    pub send_utc_ticks: i64,
    pub bytes: usize,
}

/// What a publish run did.
#[derive(Debug, Clone)]
pub struct PublishReport {
    pub target: String,
    pub interface: Option<String>,
    pub layout: Vec<String>,
    pub sent: u64,
    /// Messages the kernel refused for lack of buffer space (ENOBUFS/EAGAIN), not sent.
    pub dropped: u64,
    pub min_bytes: usize,
    pub max_bytes: usize,
    pub elapsed: Duration,
    pub interval: Duration,
    /// Send time minus deadline (ns).
    pub lateness: Option<Summary>,
    pub timing_source: String,
    pub send_log: Option<PathBuf>,
    pub interrupted: bool,
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1000.0)
}

impl PublishReport {
    /// The report as printed.
    pub fn lines(&self) -> Vec<String> {
        let mut l = vec![format!(
            "published {} message(s) ({}..{} bytes) to {}{} in {:.3} s{}",
            self.sent,
            self.min_bytes,
            self.max_bytes,
            self.target,
            self.interface
                .as_deref()
                .map_or(String::new(), |i| format!(" via {i}")),
            self.elapsed.as_secs_f64(),
            if self.dropped > 0 {
                format!(", {} refused by the kernel (ENOBUFS)", self.dropped)
            } else {
                String::new()
            }
        )];
        l.extend(self.layout.iter().map(|x| format!("  {x}")));
        if let Some(s) = &self.lateness {
            l.push(format!(
                "send lateness vs the {} µs schedule (µs): p50 {} p99 {} max {}",
                self.interval.as_micros(),
                us(s.percentiles[0] as f64),
                us(s.percentiles[2] as f64),
                us(s.max as f64)
            ));
        }
        l.push(format!("timing: {}", self.timing_source));
        if self.send_log.is_none() && self.timing_source.contains("send log") {
            l.push("  (no send log written: add --send-log FILE)".into());
        }
        if let Some(p) = &self.send_log {
            l.push(format!(
                "send log: {} (index, sequence, deadline/send CLOCK_MONOTONIC ns)",
                p.display()
            ));
        }
        if self.interrupted {
            l.push("interrupted: stopped early by a signal".into());
        }
        l
    }
}

enum Sink {
    Udp {
        sock: UdpSocket,
        dst: SocketAddrV4,
    },
    Eth {
        sock: EthSocket,
        dst: [u8; 6],
        vlan: Option<VlanTag>,
        framing: EthFraming,
        frame: Vec<u8>,
    },
}

/// An open publisher.
pub struct Publisher {
    cfg: PublishConfig,
    sink: Sink,
    encoder: MessageEncoder,
    buf: Vec<u8>,
    max_len: usize,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("target", &self.cfg.target)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Opens the socket (on the calling thread's network namespace) and checks that one
    /// message of the layout fits the target.
    pub fn open(cfg: PublishConfig) -> Result<Self, InteropError> {
        let problems = cfg.problems();
        if !problems.is_empty() {
            return Err(InteropError::Config(problems.join("; ")));
        }
        let (sink, max_len) = match cfg.target {
            Target::Udp(dst) => (
                Sink::Udp {
                    sock: net::udp_sender(dst, cfg.interface.as_deref(), cfg.multicast)?,
                    dst,
                },
                MAX_UDP_PAYLOAD,
            ),
            Target::Eth { mac, vlan } => {
                let ifname = cfg
                    .interface
                    .as_deref()
                    .ok_or_else(|| InteropError::Config("raw Ethernet needs --interface".into()))?;
                let sock = EthSocket::open(
                    ifname,
                    None,
                    Duration::from_millis(100),
                    cfg.disruptive_interface,
                )?;
                let max = net::max_eth_payload(cfg.framing, sock.mtu);
                (
                    Sink::Eth {
                        sock,
                        dst: mac,
                        vlan,
                        framing: cfg.framing,
                        frame: Vec::with_capacity(max + 32),
                    },
                    max,
                )
            }
        };
        let mut p = Publisher {
            encoder: MessageEncoder::new(cfg.layout.clone()),
            cfg,
            sink,
            buf: vec![0; MAX_UDP_PAYLOAD],
            max_len,
        };
        // The first message shows whether the layout fits at all.
        let n = p.encode(0, &SendTime::now())?;
        if n > p.max_len {
            let (ifname, mtu) = match &p.sink {
                Sink::Eth { sock, .. } => (sock.ifname.clone(), sock.mtu),
                Sink::Udp { .. } => ("UDP".into(), MAX_UDP_PAYLOAD),
            };
            return Err(NetError::TooLarge {
                len: n,
                max: p.max_len,
                mtu,
                ifname,
            }
            .into());
        }
        Ok(p)
    }

    fn encode(&mut self, index: u64, t: &SendTime) -> Result<usize, InteropError> {
        self.encoder
            .encode(index, t, &mut self.buf)
            .map_err(|source| InteropError::Encode { index, source })
    }

    /// One line saying what is published where.
    pub fn describe(&self) -> String {
        let via = match &self.sink {
            Sink::Udp { .. } => self
                .cfg
                .interface
                .as_deref()
                .map_or(String::new(), |i| format!(" via {i}")),
            Sink::Eth { sock, framing, .. } => format!(
                " via {} ({}, {})",
                sock.ifname,
                uadpbench_topology::format_mac(&sock.mac),
                framing.describe()
            ),
        };
        format!(
            "publishing to {}{via}, every {} µs",
            self.cfg.target,
            self.cfg.interval.as_micros()
        )
    }

    fn send(&mut self, len: usize) -> Result<bool, InteropError> {
        let msg = &self.buf[..len];
        match &mut self.sink {
            Sink::Udp { sock, dst } => match sock.send_to(msg, *dst) {
                Ok(_) => Ok(true),
                Err(e)
                    if e.raw_os_error() == Some(libc::ENOBUFS)
                        || e.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    Ok(false)
                }
                Err(e) => Err(NetError::Io {
                    what: format!("sending to {dst}"),
                    source: e,
                }
                .into()),
            },
            Sink::Eth {
                sock,
                dst,
                vlan,
                framing,
                frame,
            } => {
                net::build_eth_frame(frame, *dst, sock.mac, *vlan, *framing, msg);
                match sock.send(frame) {
                    Ok(()) => Ok(true),
                    Err(NetError::Io { source, .. })
                        if source.raw_os_error() == Some(libc::ENOBUFS) =>
                    {
                        Ok(false)
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// Publishes until the count or duration is reached or `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<PublishReport, InteropError> {
        let interval = self.cfg.interval.as_nanos() as u64;
        let spin = self.cfg.spin.as_nanos() as u64;
        let expected = self.cfg.count.unwrap_or_else(|| {
            let d = self.cfg.duration.unwrap_or_default().as_nanos() as u64;
            d.checked_div(interval).unwrap_or(0).saturating_add(1)
        });
        let mut log: Vec<SendLogRow> =
            Vec::with_capacity(usize::try_from(expected.min(10_000_000)).unwrap_or(0));
        let mut lateness = Vec::with_capacity(log.capacity());
        let (mut min_bytes, mut max_bytes, mut dropped) = (usize::MAX, 0usize, 0u64);
        let mut interrupted = false;
        // Start one interval from now, so the first deadline is not already late.
        let start = monotonic_ns() + interval.min(1_000_000);
        let end = self
            .cfg
            .duration
            .map(|d| start.saturating_add(d.as_nanos() as u64));
        let mut index = 0u64;
        loop {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break;
            }
            if self.cfg.count.is_some_and(|c| index >= c) {
                break;
            }
            let deadline = start.saturating_add(index.saturating_mul(interval));
            if let Some(e) = end {
                // With interval 0 every deadline is `start`: the clock decides.
                if deadline >= e || (interval == 0 && monotonic_ns() >= e) {
                    break;
                }
            }
            sleep_until(deadline, spin);
            let t = SendTime::now();
            let n = self.encode(index, &t)?;
            if !self.send(n)? {
                dropped += 1;
            }
            min_bytes = min_bytes.min(n);
            max_bytes = max_bytes.max(n);
            lateness.push(t.mono_ns.saturating_sub(deadline));
            log.push(SendLogRow {
                index,
                sequence: index as u16,
                deadline_mono_ns: deadline,
                send_mono_ns: t.mono_ns,
                send_utc_ticks: t.utc.0,
                bytes: n,
            });
            index += 1;
        }
        let elapsed = Duration::from_nanos(monotonic_ns().saturating_sub(start));
        if let Some(path) = &self.cfg.send_log {
            crate::results::write_csv(path, &log).map_err(|e| InteropError::Format {
                what: "writing the send log",
                path: path.clone(),
                message: format!("{e:#}"),
            })?;
        }
        Ok(PublishReport {
            target: self.cfg.target.to_string(),
            interface: self.cfg.interface.clone(),
            layout: self.cfg.layout.describe(),
            sent: index - dropped,
            dropped,
            min_bytes: if index == 0 { 0 } else { min_bytes },
            max_bytes,
            elapsed,
            interval: self.cfg.interval,
            lateness: Summary::of(lateness),
            timing_source: self.cfg.layout.timing_source(),
            send_log: self.cfg.send_log.clone(),
            interrupted,
        })
    }
}

/// What `publish --dry-run` prints: the resolved layout, then message 0 encoded now as hex
/// and as the JSON `uadpbench decode` would print (nothing is opened or sent).
pub fn preview(layout: &Layout) -> Result<Vec<String>, InteropError> {
    let mut encoder = MessageEncoder::new(layout.clone());
    let mut buf = vec![0u8; MAX_UDP_PAYLOAD];
    let n = encoder
        .encode(0, &SendTime::now(), &mut buf)
        .map_err(|source| InteropError::Encode { index: 0, source })?;
    let types = layout.field_types();
    let options = uadp::DecodeOptions {
        raw_layout: Some(&types),
        ..Default::default()
    };
    let m = uadp::NetworkMessage::decode_with(&buf[..n], &options).map_err(|e| {
        InteropError::Config(format!(
            "internal: the encoded message does not decode: {e}"
        ))
    })?;
    let mut lines = layout.describe();
    lines.push(format!("timing:         {}", layout.timing_source()));
    lines.push(format!("message 0 ({n} bytes): {}", hex::encode(&buf[..n])));
    lines.push(crate::json::network_message(&m, Some(&types)).to_string());
    Ok(lines)
}

/// Reads a send log written by [`Publisher::run`]: `(index, send_mono_ns)` rows.
pub fn read_send_log(path: &std::path::Path) -> Result<Vec<(u64, u64)>, InteropError> {
    let format = |message: String| InteropError::Format {
        what: "reading the send log",
        path: path.to_owned(),
        message,
    };
    let mut r = csv::Reader::from_path(path).map_err(|e| format(e.to_string()))?;
    let headers = r.headers().map_err(|e| format(e.to_string()))?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format(format!("no `{name}` column: is this a uadpbench send log?")))
    };
    let (i_index, i_send) = (col("index")?, col("send_mono_ns")?);
    let mut rows = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| format(e.to_string()))?;
        let num = |i: usize| -> Result<u64, InteropError> {
            rec.get(i).and_then(|v| v.parse().ok()).ok_or_else(|| {
                format(format!(
                    "line {}: not a number",
                    rec.position().map_or(0, |p| p.line())
                ))
            })
        };
        rows.push((num(i_index)?, num(i_send)?));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interop::preset::Preset;

    fn cfg(target: &str) -> PublishConfig {
        PublishConfig {
            target: target.parse().unwrap(),
            interface: None,
            disruptive_interface: false,
            layout: Preset::SdkTutorial.layout(),
            count: Some(1),
            duration: None,
            interval: Duration::from_millis(1),
            spin: Duration::ZERO,
            framing: EthFraming::EthernetII,
            multicast: MulticastOptions::default(),
            send_log: None,
        }
    }

    #[test]
    fn raw_ethernet_on_a_foreign_interface_needs_the_disruptive_flag() {
        // `lo` exists everywhere and uadpbench never creates it: refused before any socket.
        let mut c = cfg("opc.eth://02-00-00-00-00-01");
        c.interface = Some("lo".into());
        let Err(e) = Publisher::open(c) else {
            panic!("opc.eth on lo without --disruptive-interface was accepted");
        };
        let text = e.to_string();
        assert!(text.contains("--disruptive-interface lo"), "{text}");
    }

    #[test]
    fn problems_are_reported_before_opening() {
        assert!(cfg("opc.udp://198.18.0.2:4840").problems().is_empty());
        let p = cfg("opc.udp://224.0.0.22:4840").problems();
        assert!(p[0].contains("--interface IFNAME"), "{p:?}");
        let p = cfg("opc.eth://01-00-5e-00-00-01").problems();
        assert!(p[0].contains("raw Ethernet target"), "{p:?}");
        let mut c = cfg("opc.udp://198.18.0.2:4840");
        c.count = None;
        assert!(c.problems()[0].contains("--count N or --duration"));
        c.duration = Some(Duration::from_secs(1));
        c.count = Some(5);
        assert!(c.problems()[0].contains("not both"));
        // Nothing is opened when the configuration is wrong.
        let e = Publisher::open(cfg("opc.udp://224.0.0.22")).unwrap_err();
        assert!(e.to_string().contains("--interface"), "{e}");
    }

    #[test]
    fn send_log_round_trips() {
        let dir = std::env::temp_dir().join(format!("uadpbench-sendlog-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("send.csv");
        let rows = [
            SendLogRow {
                index: 0,
                sequence: 0,
                deadline_mono_ns: 10,
                send_mono_ns: 12,
                send_utc_ticks: 5,
                bytes: 40,
            },
            SendLogRow {
                index: 65_536,
                sequence: 0,
                deadline_mono_ns: 20,
                send_mono_ns: 23,
                send_utc_ticks: 6,
                bytes: 40,
            },
        ];
        crate::results::write_csv(&path, &rows).unwrap();
        assert_eq!(read_send_log(&path).unwrap(), [(0, 12), (65_536, 23)]);
        std::fs::write(&path, "a,b\n1,2\n").unwrap();
        let e = read_send_log(&path).unwrap_err().to_string();
        assert!(e.contains("no `index` column"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
