//! The open subscriber ([`Subscriber`]): its socket and output files, the receive loop with
//! its stop conditions, and the report assembled at the end.

use std::collections::HashMap;
use std::io::Write;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use uadpbench_sender::clock::monotonic_ns;
use uadpbench_sender::frame::{parse_raw_uadp, EthFraming, Rejected};

use super::output::{create, rename_into_place, Outputs, Received};
use super::report::SubscribeReport;
use super::state::State;
use super::stats::{join_send_log, FilteredCounts, WriterReport};
use super::SubscribeConfig;
use crate::interop::net::{self, EthSocket};
use crate::interop::url::Target;
use crate::interop::InteropError;
use crate::stats::Summary;

/// How long one receive call waits before the loop checks the stop conditions.
const POLL: Duration = Duration::from_millis(100);

enum Source {
    Udp { sock: UdpSocket, buf: Vec<u8> },
    Eth { sock: EthSocket, dst: [u8; 6] },
}

/// An open subscriber.
pub struct Subscriber {
    cfg: SubscribeConfig,
    target: Target,
    source: Source,
    state: State,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

fn mac_text(m: &[u8; 6]) -> String {
    uadpbench_topology::format_mac(m)
}

impl Subscriber {
    /// Opens the socket in the calling thread's network namespace (joining the group or
    /// multicast MAC on the named interface) and creates the output files (as `NAME.tmp`,
    /// renamed when the run ends).
    pub fn open(cfg: SubscribeConfig) -> Result<Self, InteropError> {
        let problems = cfg.problems();
        let Some(target) = cfg.target.filter(|_| problems.is_empty()) else {
            return Err(InteropError::Config(problems.join("; ")));
        };
        let source = match target {
            Target::Udp(at) => Source::Udp {
                sock: net::udp_receiver(at, cfg.interface.as_deref(), POLL)?,
                buf: vec![0; 65_536],
            },
            Target::Eth { mac, .. } => {
                let ifname = cfg
                    .interface
                    .as_deref()
                    .ok_or_else(|| InteropError::Config("raw Ethernet needs --interface".into()))?;
                let join = net::is_multicast_mac(&mac).then_some(mac);
                Source::Eth {
                    sock: EthSocket::open(ifname, join, POLL, cfg.disruptive_interface)?,
                    dst: mac,
                }
            }
        };
        let json = match &cfg.json_lines {
            Some(p) => Some((
                p.clone(),
                create(p, "cannot create the JSON-lines file")?,
                0,
            )),
            None => None,
        };
        let samples = match &cfg.samples {
            Some(p) => Some((
                p.clone(),
                csv::Writer::from_writer(create(p, "cannot create the samples file")?),
                0,
            )),
            None => None,
        };
        let state = State {
            filter: cfg.filter.clone(),
            send_time_field: cfg.send_time_field,
            keep_arrivals: cfg.send_log.is_some(),
            received: 0,
            accepted: 0,
            filtered: FilteredCounts::default(),
            decode_failures: 0,
            failures_by_source: HashMap::new(),
            first_decode_error: None,
            foreign: 0,
            malformed: 0,
            framings: [0; EthFraming::ALL.len()],
            writers: Vec::new(),
            index: HashMap::new(),
            out: Outputs { json, samples },
        };
        Ok(Subscriber {
            cfg,
            target,
            source,
            state,
        })
    }

    /// One line saying where it listens.
    pub fn describe(&self) -> String {
        let on = self
            .cfg
            .interface
            .as_deref()
            .map_or(String::new(), |i| format!(" on {i}"));
        format!("listening on {}{on}", self.target)
    }

    /// Receives until the count or duration is reached or `stop` is set; `observer` sees every
    /// accepted NetworkMessage.
    pub fn run(
        &mut self,
        stop: &AtomicBool,
        observer: &mut dyn FnMut(&Received<'_, '_>),
    ) -> Result<SubscribeReport, InteropError> {
        let start = monotonic_ns();
        let end = self
            .cfg
            .duration
            .map(|d| start.saturating_add(d.as_nanos() as u64));
        let mut interrupted = false;
        loop {
            if stop.load(Ordering::Relaxed) {
                interrupted = true;
                break;
            }
            if self.cfg.count.is_some_and(|c| self.state.accepted >= c) {
                break;
            }
            if end.is_some_and(|e| monotonic_ns() >= e) {
                break;
            }
            match &mut self.source {
                Source::Udp { sock, buf } => {
                    if let Some((n, from)) = net::udp_recv(sock, buf)? {
                        let recv_ns = monotonic_ns();
                        let layout = self.cfg.raw_layout.as_deref();
                        self.state.process(
                            &buf[..n],
                            &from.to_string(),
                            recv_ns,
                            layout,
                            observer,
                        )?;
                    }
                }
                Source::Eth { sock, dst } => {
                    let dst = *dst;
                    if let Some(frame) = sock.recv()? {
                        let recv_ns = monotonic_ns();
                        match parse_raw_uadp(frame) {
                            Ok(raw) if raw.destination == dst => {
                                if let Some(i) =
                                    EthFraming::ALL.iter().position(|f| *f == raw.framing)
                                {
                                    self.state.framings[i] += 1;
                                }
                                let from = mac_text(&raw.source);
                                let layout = self.cfg.raw_layout.as_deref();
                                self.state
                                    .process(raw.uadp, &from, recv_ns, layout, observer)?;
                            }
                            Ok(_) | Err(Rejected::Foreign) => self.state.foreign += 1,
                            Err(Rejected::Malformed) => self.state.malformed += 1,
                        }
                    }
                }
            }
        }
        let elapsed = Duration::from_nanos(monotonic_ns().saturating_sub(start));
        self.finish(elapsed, interrupted)
    }

    fn finish(
        &mut self,
        elapsed: Duration,
        interrupted: bool,
    ) -> Result<SubscribeReport, InteropError> {
        let s = &mut self.state;
        let json_lines = match s.out.json.take() {
            Some((path, mut w, n)) => {
                w.flush().map_err(|e| InteropError::File {
                    what: "writing",
                    path: path.clone(),
                    source: e,
                })?;
                rename_into_place(&path)?;
                Some((path, n))
            }
            None => None,
        };
        let samples = match s.out.samples.take() {
            Some((path, mut c, n)) => {
                c.flush().map_err(|e| InteropError::File {
                    what: "writing",
                    path: path.clone(),
                    source: e,
                })?;
                drop(c);
                rename_into_place(&path)?;
                Some((path, n))
            }
            None => None,
        };
        let log = match &self.cfg.send_log {
            Some(p) => Some(crate::interop::publish::read_send_log(p)?),
            None => None,
        };
        let mut writers = Vec::new();
        let mut joined = 0u64;
        for (key, w) in &mut s.writers {
            if let Some(log) = &log {
                let (lat, neg) = join_send_log(log, &w.arrivals);
                joined += (lat.len() as u64) + neg;
                w.latency = lat;
                w.negative_latency = neg;
            }
            let inter = Summary::of(w.inter_arrival.iter().copied());
            let reference = match (self.cfg.expected_interval, &inter) {
                (Some(d), _) => d.as_nanos() as f64,
                (None, Some(s)) => s.mean,
                (None, None) => 0.0,
            };
            let deviation = Summary::of(
                w.inter_arrival
                    .iter()
                    .map(|d| (*d as f64 - reference).abs().round() as u64),
            );
            let span = w.last_ns.saturating_sub(w.first_ns);
            writers.push(WriterReport {
                key: key.clone(),
                messages: w.messages,
                rate_hz: if span > 0 {
                    (w.messages - 1) as f64 * 1e9 / span as f64
                } else {
                    0.0
                },
                sequence_source: w.sequence_source,
                sequence: w.sequence.clone(),
                inter_arrival: inter,
                deviation,
                deviation_reference_ns: reference,
                field_errors: w.field_errors,
                latency: Summary::of(w.latency.iter().copied()),
                negative_latency: w.negative_latency,
            });
        }
        let timing = match (&self.cfg.send_log, self.cfg.send_time_field) {
            (Some(p), _) => format!(
                "latency from the publisher's send log {} joined on the sequence number ({joined} sample(s) matched); arrival times CLOCK_MONOTONIC after the receive call",
                p.display()
            ),
            (None, Some(k)) => format!(
                "latency from the send time in field #{k} (CLOCK_MONOTONIC ns of the publisher: valid on this host only); arrival times CLOCK_MONOTONIC after the receive call"
            ),
            (None, None) => "arrival times only (CLOCK_MONOTONIC after the receive call); for latency give --send-time-field N (a uadpbench mono-ns field) or --send-log FILE (a uadpbench publisher's, joined on the sequence number)".into(),
        };
        let mut by_source: Vec<(String, u64)> = s.failures_by_source.clone().into_iter().collect();
        by_source.sort();
        Ok(SubscribeReport {
            target: self.target.to_string(),
            interface: self.cfg.interface.clone(),
            received: s.received,
            accepted: s.accepted,
            filtered: s.filtered,
            decode_failures: s.decode_failures,
            decode_failures_by_source: by_source,
            first_decode_error: s.first_decode_error.clone(),
            foreign_frames: s.foreign,
            malformed_frames: s.malformed,
            eth_framings: EthFraming::ALL
                .into_iter()
                .zip(s.framings)
                .filter(|(_, n)| *n > 0)
                .collect(),
            writers,
            elapsed,
            interrupted,
            timing,
            json_lines,
            samples,
        })
    }
}
