//! Campaigns: a TOML file describing a matrix of runs (paths × encapsulations × modes ×
//! payload sizes × intervals × probe sets × repetitions), expanded into an ordered list of runs
//! (interleaved, or shuffled with a seed so that machine drift does not masquerade as a
//! transport difference), executed one after the other with each run's files complete before
//! the next starts, and resumable.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use uadpbench_sender::sched::ThreadSched;
use uadpbench_sender::transport::{Encap, PathKind};

use crate::conditions::{IdleLatency, Placement};
use crate::interop::layout::LayoutConfig;
use crate::interop::preset::Preset;
use crate::paths::PathOptions;
use crate::run::{Mode, RunConfig};

mod resume;
pub use resume::differences;

/// A campaign file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Campaign {
    /// Short name, used in the results directory name.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub matrix: Matrix,
    #[serde(default)]
    pub run: RunDefaults,
    #[serde(default)]
    pub order: Order,
    #[serde(default)]
    pub sched: Sched,
    /// Publisher layouts named in `matrix.layouts` besides `benchmark` and the preset names:
    /// `[layouts.NAME]` tables holding a preset and overrides (the keys of a `--config` file
    /// of `uadpbench publish`, docs/interop.md).
    #[serde(default)]
    pub layouts: BTreeMap<String, LayoutConfig>,
    /// `[peer]`: run every run across two hosts, side B on a `uadpbench agent`
    /// (docs/two-hosts.md); ping-pong and cyclic only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<PeerSection>,
}

/// A campaign's `[peer]` table: the options of `uadpbench run --peer`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerSection {
    /// The agent's `HOST[:PORT]` (`--peer`).
    pub address: String,
    /// This host's interface (`--interface`).
    pub interface: String,
    /// The agent host's interface (`--peer-interface`).
    pub peer_interface: String,
    /// The shared token's file (`--token-file`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// `--allow-external-interface`.
    #[serde(default)]
    pub allow_external_interface: bool,
    /// `[[peer.fanout]]`: the agents of fan-out runs (`matrix.subscribers`), one subscriber
    /// each; a run with N subscribers uses the first N. Empty: fan-out runs use the agent
    /// above, so only `subscribers = 1` works.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fanout: Vec<FanoutAgent>,
}

/// One agent of `[[peer.fanout]]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FanoutAgent {
    /// The agent's `HOST[:PORT]`.
    pub address: String,
    /// The agent host's interface.
    pub peer_interface: String,
}

impl PeerSection {
    /// The agents (address, interface) a run with `subscribers` uses: the `[peer]` agent for
    /// a run without fan-out (and for fan-out when `[[peer.fanout]]` is empty), else the first
    /// `subscribers` of `[[peer.fanout]]` (fewer if the list is shorter: the run is refused).
    pub fn agents_for(&self, subscribers: Option<usize>) -> Vec<(&str, &str)> {
        match subscribers {
            Some(n) if !self.fanout.is_empty() => self
                .fanout
                .iter()
                .take(n)
                .map(|a| (a.address.as_str(), a.peer_interface.as_str()))
                .collect(),
            _ => vec![(self.address.as_str(), self.peer_interface.as_str())],
        }
    }
}

/// Whether a campaign name can be used as a directory name under results/ (no separator, no
/// `..`, nothing hidden).
pub fn name_is_safe(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The `matrix.layouts` name of the benchmark's own message.
pub const BENCHMARK_LAYOUT: &str = "benchmark";

/// The axes of the matrix. Every combination is run `repetitions` times.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    pub paths: Vec<PathKind>,
    /// Encapsulations for the eth and xdp paths (the udp path is always UDP).
    #[serde(default = "default_encaps")]
    pub encaps: Vec<Encap>,
    pub modes: Vec<Mode>,
    pub payload_bytes: Vec<usize>,
    /// Cyclic publishing intervals (µs); ignored by other modes.
    #[serde(default = "default_intervals")]
    pub intervals_us: Vec<u64>,
    /// Probe sets: "none", "all" or a comma-separated list of layer names.
    #[serde(default = "default_probes")]
    pub probes: Vec<String>,
    /// Message layouts: "benchmark" (the benchmark's own message, sized by `payload_bytes`),
    /// a preset ("periodic-fixed", "dynamic", "sdk-tutorial") or a name defined under
    /// `[layouts.NAME]`. A layout decides its message size (one run per combination instead
    /// of one per payload size) and runs with probe set "none" only (the probes find the
    /// packet id in the benchmark message).
    #[serde(default = "default_layouts")]
    pub layouts: Vec<String>,
    /// CPU placements of the two timed threads: "cross-cpu" (default), "same-cpu", "none".
    #[serde(default = "default_placements")]
    pub placements: Vec<Placement>,
    /// Fan-out: cyclic runs with one publisher to each of these subscriber counts on a local
    /// bridge (`run --subscribers`). Empty (default): cyclic runs over the two-namespace veth
    /// pair. Other modes ignore it.
    #[serde(default)]
    pub subscribers: Vec<usize>,
    #[serde(default = "one")]
    pub repetitions: u32,
}

fn default_placements() -> Vec<Placement> {
    vec![Placement::CrossCpu]
}

/// Per-run parameters shared by every run of the campaign.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunDefaults {
    /// Measured messages per pingpong/cyclic run.
    pub count: u64,
    /// Cyclic: run length instead of `count`. Flood: run length (required for flood).
    pub duration_s: Option<f64>,
    pub warmup: u64,
    pub spin_us: u64,
    pub timeout_ms: u64,
    pub mtu: usize,
    pub batch: usize,
    pub busy_poll_us: u32,
    /// xdp path: UMEM frames and ring entries (a power of two).
    pub xdp_ring_size: u32,
    /// xdp path: kick only when the kernel asks (XDP_USE_NEED_WAKEUP).
    pub xdp_need_wakeup: bool,
    /// xdp path: attach the XDP program in driver (native) mode.
    pub xdp_driver_mode: bool,
    /// xdp path: zero-copy AF_XDP where the driver has it (else copy mode, noted).
    pub xdp_zero_copy: bool,
    /// xdp path: the receive queue the AF_XDP socket binds to.
    pub xdp_queue: u32,
    /// udp path, cyclic runs: SO_TIMESTAMPING clock cross-check (clock_check.csv); other runs
    /// ignore it.
    pub so_timestamping: bool,
    /// Runs with probes: "events" (every stamp) or "histogram" (in-kernel log2 histograms,
    /// also exported by `--metrics-addr`).
    pub probes_mode: crate::run::ProbesMode,
}

impl Default for RunDefaults {
    fn default() -> Self {
        let d = RunConfig::default();
        RunDefaults {
            count: d.count,
            duration_s: None,
            warmup: d.warmup,
            spin_us: d.spin_us,
            timeout_ms: d.timeout_ms,
            mtu: d.mtu,
            batch: d.path_options.batch,
            busy_poll_us: d.path_options.busy_poll_us,
            xdp_ring_size: d.path_options.xdp_ring_size,
            xdp_need_wakeup: d.path_options.xdp_need_wakeup,
            xdp_driver_mode: false,
            xdp_zero_copy: false,
            xdp_queue: 0,
            so_timestamping: false,
            probes_mode: crate::run::ProbesMode::Events,
        }
    }
}

/// Order of the runs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Order {
    /// "interleaved": repetition by repetition, every combination once per round;
    /// "random": all runs shuffled with `seed`.
    pub kind: OrderKind,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum OrderKind {
    #[default]
    Interleaved,
    Random,
}

/// CPU pinning and scheduling policy of the timed threads.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Sched {
    /// Override the placement's CPU for side A / side B.
    pub cpu_a: Option<usize>,
    pub cpu_b: Option<usize>,
    pub fifo_priority: Option<i32>,
    /// PM QoS CPU latency limit (µs, or "off") held while each run is timed; default 0.
    pub idle_latency_us: IdleLatency,
    /// Fan-out runs (`matrix.subscribers`): the subscribers' CPUs, used in turn; empty (default):
    /// all on side B's CPU.
    pub subscriber_cpus: Vec<usize>,
}

fn default_encaps() -> Vec<Encap> {
    vec![Encap::Eth]
}
fn default_intervals() -> Vec<u64> {
    vec![1000]
}
fn default_probes() -> Vec<String> {
    vec!["none".into()]
}
fn default_layouts() -> Vec<String> {
    vec![BENCHMARK_LAYOUT.into()]
}
fn one() -> u32 {
    1
}

/// A problem in a campaign file, with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct CampaignError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before[nl + 1..].chars().count()
    }) + 1;
    (line, column)
}

/// Where a top-level key or table starts, for semantic errors (best effort: its first line).
fn position_of(text: &str, key: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find(|(_, l)| {
            let t = l.trim_start();
            t.starts_with(&format!("{key} "))
                || t.starts_with(&format!("{key}="))
                || t.starts_with(&format!("[{key}]"))
        })
        .map_or((1, 1), |(i, l)| (i + 1, l.len() - l.trim_start().len() + 1))
}

/// One run of a campaign.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    /// 1-based position in the campaign order.
    pub index: usize,
    pub repetition: u32,
    pub probes: String,
    /// `matrix.layouts` entry ("benchmark" for the benchmark's own message).
    pub layout: String,
    pub config: RunConfig,
}

impl PlannedRun {
    /// Unique id within the campaign.
    pub fn id(&self) -> String {
        let c = &self.config;
        let interval = if c.mode == Mode::Cyclic {
            format!("-{}us", c.interval_us)
        } else {
            String::new()
        };
        let layout = if self.layout == BENCHMARK_LAYOUT {
            String::new()
        } else {
            format!("-layout_{}", self.layout)
        };
        // The default placement keeps the ids of campaigns written before placements existed.
        let placement = if c.placement == Placement::CrossCpu {
            String::new()
        } else {
            format!("-{}", c.placement)
        };
        let fanout = c
            .subscribers
            .map_or_else(String::new, |n| format!("-{n}sub"));
        format!(
            "{}-{}-{}-{}B{interval}{fanout}{layout}{placement}-probes_{}-r{}",
            c.path,
            c.encap,
            c.mode.name(),
            c.payload_bytes,
            self.probes.replace(',', "+"),
            self.repetition
        )
    }

    /// Directory of this run inside the campaign directory.
    pub fn dir(&self, campaign_dir: &Path) -> PathBuf {
        campaign_dir
            .join("runs")
            .join(format!("{:04}-{}", self.index, self.id()))
    }
}

impl Campaign {
    /// Parses and validates a campaign file; every problem carries `file:line:column`.
    pub fn parse(text: &str, file: &str) -> Result<Campaign, Vec<CampaignError>> {
        let c: Campaign = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| line_col(text, s.start));
            vec![CampaignError {
                file: file.into(),
                line,
                column,
                message: e.message().to_owned(),
            }]
        })?;
        let problems = c.problems(text, file);
        if problems.is_empty() {
            Ok(c)
        } else {
            Err(problems)
        }
    }

    /// Reads and parses a campaign file.
    pub fn load(path: &Path) -> anyhow::Result<(Campaign, String)> {
        let text =
            crate::input::read_text_bounded(path, crate::input::MAX_CONFIG_BYTES, "campaign files")
                .context("reading the campaign file")?;
        match Campaign::parse(&text, &path.display().to_string()) {
            Ok(c) => Ok((c, text)),
            Err(errors) => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Err(anyhow::anyhow!("{}", lines.join("\n")).context(InvalidCampaign))
            }
        }
    }

    fn problems(&self, text: &str, file: &str) -> Vec<CampaignError> {
        let mut out = Vec::new();
        let mut err = |key: &str, message: String| {
            let (line, column) = position_of(text, key);
            out.push(CampaignError {
                file: file.into(),
                line,
                column,
                message,
            });
        };
        if !name_is_safe(&self.name) {
            err(
                "name",
                format!(
                    "name {:?} names the results directory: use 1-64 letters, digits, '-', '_' or '.', not starting with '.'",
                    self.name
                ),
            );
        }
        let m = &self.matrix;
        for (key, empty) in [
            ("paths", m.paths.is_empty()),
            ("modes", m.modes.is_empty()),
            ("payload_bytes", m.payload_bytes.is_empty()),
            ("intervals_us", m.intervals_us.is_empty()),
            ("probes", m.probes.is_empty()),
            ("encaps", m.encaps.is_empty()),
            ("placements", m.placements.is_empty()),
        ] {
            if empty {
                err(key, format!("matrix.{key} is empty: nothing to run"));
            }
        }
        if m.repetitions == 0 {
            err(
                "repetitions",
                "matrix.repetitions is 0: nothing to run".into(),
            );
        }
        for p in &m.probes {
            if p.trim().is_empty() {
                err("probes", "an empty probe set: use \"none\"".into());
            }
        }
        if m.layouts.is_empty() {
            err(
                "layouts",
                "matrix.layouts is empty: nothing to run (use [\"benchmark\"])".into(),
            );
        }
        for name in &m.layouts {
            if self.layout_config(name).is_none() {
                err(
                    "layouts",
                    format!(
                        "layout {name:?} is neither \"benchmark\", a preset ({}) nor defined under [layouts.{name}]",
                        Preset::ALL.map(Preset::name).join(", ")
                    ),
                );
            }
        }
        for name in self.layouts.keys() {
            if !m.layouts.contains(name) {
                err(
                    &format!("layouts.{name}"),
                    format!("[layouts.{name}] is defined but not in matrix.layouts"),
                );
            }
        }
        let without_probes = m.probes.iter().any(|p| p.trim() == "none");
        if !without_probes && m.layouts.iter().any(|l| l != BENCHMARK_LAYOUT) {
            err(
                "layouts",
                "layouts other than \"benchmark\" run without probes, and matrix.probes has no \"none\": add \"none\" to matrix.probes".into(),
            );
        }
        if let Some(peer) = &self.peer {
            if let Err(e) = crate::remote::addr::peer_address(&peer.address) {
                err(
                    "address",
                    format!("peer.address: {}", e.replace("--peer", "address")),
                );
            }
            for (key, value) in [
                ("interface", &peer.interface),
                ("peer_interface", &peer.peer_interface),
            ]
            .into_iter()
            .chain(
                peer.fanout
                    .iter()
                    .map(|a| ("peer_interface", &a.peer_interface)),
            ) {
                if !crate::remote::iface::valid_name(value) {
                    err(
                        key,
                        format!("peer.{key} {value:?} is not an interface name"),
                    );
                }
            }
            let mut addresses = BTreeSet::new();
            for (i, a) in peer.fanout.iter().enumerate() {
                match crate::remote::addr::peer_address(&a.address) {
                    Err(e) => err(
                        "address",
                        format!(
                            "peer.fanout[{i}].address: {}",
                            e.replace("--peer", "address")
                        ),
                    ),
                    Ok(resolved) if !addresses.insert(resolved.clone()) => err(
                        "address",
                        format!(
                            "peer.fanout[{i}].address {resolved} is listed twice: each fan-out agent runs one subscriber"
                        ),
                    ),
                    Ok(_) => {}
                }
            }
        }
        // Every run's own validation (across hosts: what `run --peer` accepts), reported once
        // per distinct message.
        let mut seen = BTreeSet::new();
        for r in self.expand() {
            let problems = match &self.peer {
                None => r.config.validate(),
                Some(peer) => crate::run::peer_problems(
                    &r.config,
                    peer.agents_for(r.config.subscribers).len(),
                ),
            };
            for problem in problems {
                if seen.insert(problem.clone()) {
                    let key = if problem.contains("--layout") {
                        "layouts"
                    } else if problem.contains("payload") {
                        "payload_bytes"
                    } else if problem.contains("interval") {
                        "intervals_us"
                    } else if problem.contains("--peer") {
                        "peer"
                    } else if problem.contains("duration") || problem.contains("count") {
                        "run"
                    } else {
                        "matrix"
                    };
                    err(
                        key,
                        format!("{} (in run {})", problem.replace("--", ""), r.id()),
                    );
                }
            }
        }
        out
    }

    /// The layout a `matrix.layouts` name stands for: `Some(None)` for the benchmark's own
    /// message, `None` if the name is unknown.
    pub fn layout_config(&self, name: &str) -> Option<Option<LayoutConfig>> {
        if name == BENCHMARK_LAYOUT {
            return Some(None);
        }
        if let Some(l) = self.layouts.get(name) {
            return Some(Some(l.clone()));
        }
        Preset::ALL.into_iter().find(|p| p.name() == name).map(|p| {
            Some(LayoutConfig {
                preset: Some(p),
                ..LayoutConfig::default()
            })
        })
    }

    /// The runs in execution order.
    pub fn expand(&self) -> Vec<PlannedRun> {
        let m = &self.matrix;
        let mut combos = Vec::new();
        for path in &m.paths {
            let encaps: Vec<Encap> = if *path == PathKind::Udp {
                vec![Encap::Udp]
            } else {
                m.encaps.clone()
            };
            for encap in encaps {
                for mode in &m.modes {
                    for layout in &m.layouts {
                        let benchmark = layout == BENCHMARK_LAYOUT;
                        // A layout decides its size: one entry instead of the payload axis.
                        let payloads: Vec<Option<usize>> = if benchmark {
                            m.payload_bytes.iter().copied().map(Some).collect()
                        } else {
                            vec![None]
                        };
                        for payload in payloads {
                            let intervals: &[u64] = if *mode == Mode::Cyclic {
                                &m.intervals_us
                            } else {
                                &m.intervals_us[..1.min(m.intervals_us.len())]
                            };
                            for interval in intervals {
                                for probes in &m.probes {
                                    let probes = probes.trim();
                                    if !benchmark && probes != "none" {
                                        continue;
                                    }
                                    let fanouts: Vec<Option<usize>> =
                                        if *mode == Mode::Cyclic && !m.subscribers.is_empty() {
                                            m.subscribers.iter().copied().map(Some).collect()
                                        } else {
                                            vec![None]
                                        };
                                    for placement in &m.placements {
                                        for subscribers in &fanouts {
                                            combos.push(Combo {
                                                path: *path,
                                                encap,
                                                mode: *mode,
                                                payload,
                                                interval: *interval,
                                                probes: probes.to_owned(),
                                                layout: layout.clone(),
                                                placement: *placement,
                                                subscribers: *subscribers,
                                            });
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let mut runs = Vec::new();
        for rep in 1..=m.repetitions {
            for Combo {
                path,
                encap,
                mode,
                payload,
                interval,
                probes,
                layout,
                placement,
                subscribers,
            } in &combos
            {
                let d = &self.run;
                let config = RunConfig {
                    count: d.count,
                    duration_s: d.duration_s,
                    warmup: d.warmup,
                    payload_bytes: payload.unwrap_or(0),
                    interval_us: *interval,
                    spin_us: d.spin_us,
                    timeout_ms: d.timeout_ms,
                    mtu: d.mtu,
                    path_options: PathOptions {
                        batch: d.batch,
                        busy_poll_us: d.busy_poll_us,
                        xdp_ring_size: d.xdp_ring_size,
                        xdp_need_wakeup: d.xdp_need_wakeup,
                        // The xdp settings apply to xdp runs; other paths ignore them.
                        xdp_driver_mode: d.xdp_driver_mode && *path == PathKind::Xdp,
                        xdp_zero_copy: d.xdp_zero_copy && *path == PathKind::Xdp,
                        xdp_queue: if *path == PathKind::Xdp {
                            d.xdp_queue
                        } else {
                            0
                        },
                        so_timestamping: d.so_timestamping
                            && *path == PathKind::Udp
                            && *mode == Mode::Cyclic,
                        ..PathOptions::default()
                    },
                    placement: *placement,
                    idle_latency: self.sched.idle_latency_us,
                    sched_a: ThreadSched {
                        cpu: self.sched.cpu_a,
                        fifo_priority: self.sched.fifo_priority,
                    },
                    sched_b: ThreadSched {
                        cpu: self.sched.cpu_b,
                        fifo_priority: self.sched.fifo_priority,
                    },
                    probes: probes.clone(),
                    // Runs without probes have nothing to count.
                    probes_mode: if probes == "none" {
                        crate::run::ProbesMode::Events
                    } else {
                        d.probes_mode
                    },
                    pcap: None,
                    trace: None,
                    layout: self.layout_config(layout).flatten(),
                    subscribers: *subscribers,
                    subscriber_cpus: if subscribers.is_some() {
                        self.sched.subscriber_cpus.clone()
                    } else {
                        Vec::new()
                    },
                    ..RunConfig::new(*path, Some(*encap), *mode)
                };
                let mut config = config;
                // An invalid layout leaves the size at 0; validation reports the layout.
                let _ = config.apply_layout();
                let mut r = PlannedRun {
                    index: 0,
                    repetition: rep,
                    probes: probes.clone(),
                    layout: layout.clone(),
                    config,
                };
                r.config.label = Some(r.id());
                runs.push(r);
            }
        }
        if self.order.kind == OrderKind::Random {
            // ChaCha8 with a fixed seed: the same order on every machine and version.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.order.seed);
            runs.shuffle(&mut rng);
        }
        for (i, r) in runs.iter_mut().enumerate() {
            r.index = i + 1;
        }
        runs
    }

    /// Expected wall time of the whole campaign, seconds.
    pub fn estimated_seconds(&self) -> f64 {
        self.expand()
            .iter()
            .map(PlannedRun::estimated_seconds)
            .sum()
    }
}

impl PlannedRun {
    /// Rough wall time of this run (set-up + messages), for progress bars and ETAs.
    pub fn estimated_seconds(&self) -> f64 {
        let c = &self.config;
        let n = (c.warmup + c.measured_count()) as f64;
        0.5 + match c.mode {
            Mode::Pingpong => n * 30e-6,
            Mode::Cyclic => n * c.interval_us as f64 * 1e-6,
            Mode::Flood => c.duration_s.unwrap_or(0.0),
        }
    }
}

/// One combination of the matrix's axes (before repetitions).
struct Combo {
    path: PathKind,
    encap: Encap,
    mode: Mode,
    payload: Option<usize>,
    interval: u64,
    probes: String,
    layout: String,
    placement: Placement,
    subscribers: Option<usize>,
}

/// Marker error: the campaign file is invalid (exit status 2).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("invalid campaign file")]
pub struct InvalidCampaign;

#[cfg(test)]
mod tests;
