//! `uadpbench report DIR`: compares the paths of a campaign (or one run) side by side in the
//! terminal and draws SVG plots into DIR/plots: latency CDFs per path and cyclic send-jitter
//! histograms. Repetitions of one configuration are pooled. The plots are in `plots`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::overhead::OverheadRow;
use crate::schema::{FanoutSampleRow, SampleRow, SummaryRow};
use crate::stats::Summary;

/// One configuration: a run id without its repetition suffix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigKey {
    pub mode: String,
    pub payload_bytes: usize,
    pub path: String,
    pub encap: String,
    /// The run id without `-rN`.
    pub name: String,
}

/// Pooled measurements of one configuration.
#[derive(Debug, Default)]
pub struct ConfigData {
    pub latency: Vec<u64>,
    pub send_deviation: Vec<u64>,
    pub sent: f64,
    pub lost: f64,
    pub runs: usize,
}

pub(super) fn strip_repetition(run_id: &str) -> String {
    match run_id.rsplit_once("-r") {
        Some((head, rep)) if !rep.is_empty() && rep.chars().all(|c| c.is_ascii_digit()) => {
            head.to_owned()
        }
        _ => run_id.to_owned(),
    }
}

/// Reads a campaign or run directory into pooled per-configuration data.
pub fn load(dir: &Path) -> anyhow::Result<BTreeMap<ConfigKey, ConfigData>> {
    let summary_path = dir.join("summary.csv");
    if !summary_path.is_file() && dir.join("overhead.csv").is_file() {
        // An `uadpbench overhead` directory: only the overhead plot applies.
        return Ok(BTreeMap::new());
    }
    let mut rd = csv::Reader::from_path(&summary_path).with_context(|| {
        format!(
            "{} has no summary.csv: give a run or campaign results directory",
            dir.display()
        )
    })?;
    let mut key_of = BTreeMap::new();
    let mut data: BTreeMap<ConfigKey, ConfigData> = BTreeMap::new();
    for row in rd.deserialize::<SummaryRow>() {
        let r = row.with_context(|| format!("reading {}", summary_path.display()))?;
        let key = ConfigKey {
            mode: r.mode.clone(),
            payload_bytes: r.payload_bytes,
            path: r.path.clone(),
            encap: r.encap.clone(),
            name: strip_repetition(&r.run_id),
        };
        let d = data.entry(key.clone()).or_default();
        if r.metric == "messages" && r.statistic == "sent" {
            d.sent += r.value;
            d.runs += 1;
        }
        if r.metric == "messages" && r.statistic == "lost" {
            d.lost += r.value;
        }
        key_of.insert(r.run_id, key);
    }
    let samples_path = dir.join("samples.csv");
    if samples_path.is_file() {
        let mut rd = csv::Reader::from_path(&samples_path)?;
        for row in rd.deserialize::<SampleRow>() {
            let s = row.with_context(|| format!("reading {}", samples_path.display()))?;
            let Some(key) = key_of.get(&s.run_id) else {
                continue;
            };
            let Some(d) = data.get_mut(key) else { continue };
            if let Some(v) = s.rtt_ns.or(s.one_way_ns) {
                d.latency.push(v);
            }
            if let Some(v) = s.send_deviation_ns {
                d.send_deviation.push(v);
            }
        }
    }
    // Fan-out runs: every subscriber's one-way latencies, pooled (as summary.csv's one_way).
    let fanout_path = dir.join("fanout_samples.csv");
    if fanout_path.is_file() {
        let mut rd = csv::Reader::from_path(&fanout_path)?;
        for row in rd.deserialize::<FanoutSampleRow>() {
            let s = row.with_context(|| format!("reading {}", fanout_path.display()))?;
            let Some(d) = key_of.get(&s.run_id).and_then(|k| data.get_mut(k)) else {
                continue;
            };
            d.latency.extend(s.one_way_ns);
            // The publisher's deviation once per message, not once per subscriber.
            if s.subscriber == 1 {
                d.send_deviation.extend(s.send_deviation_ns);
            }
        }
    }
    Ok(data)
}

pub(super) fn us(ns: u64) -> String {
    format!("{:.2}", ns as f64 / 1000.0)
}

/// The terminal comparison table.
pub fn table(data: &BTreeMap<ConfigKey, ConfigData>) -> Vec<String> {
    let mut out = vec![format!(
        "{:<46} {:>4} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
        "configuration (latency = rtt | one-way)",
        "runs",
        "n",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "max µs",
        "jitter p99",
        "loss %"
    )];
    for (k, d) in data {
        let s = Summary::of(d.latency.iter().copied());
        let j = Summary::of(d.send_deviation.iter().copied());
        let p = |s: &Option<Summary>, n: &str| {
            s.as_ref()
                .and_then(|s| s.percentile(n))
                .map_or("-".into(), us)
        };
        out.push(format!(
            "{:<46} {:>4} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10} {:>8}",
            k.name,
            d.runs,
            d.latency.len(),
            p(&s, "p50"),
            p(&s, "p99"),
            p(&s, "p99.9"),
            s.as_ref().map_or("-".into(), |s| us(s.max)),
            p(&j, "p99"),
            if d.sent > 0.0 {
                format!("{:.3}", 100.0 * d.lost / d.sent)
            } else {
                "-".into()
            }
        ));
    }
    out
}

pub mod fanout;
mod plots;
pub use plots::plots;

/// "path/encap mode sizeB[ interval][ placement]" of an overhead.csv row.
pub(super) fn workload(r: &OverheadRow) -> String {
    let interval = r.interval_us.map_or(String::new(), |i| format!(" {i}µs"));
    let placement = if r.placement.is_empty() {
        String::new()
    } else {
        format!(" {}", r.placement)
    };
    format!(
        "{}/{} {} {}B{interval}{placement}",
        r.path, r.encap, r.mode, r.payload_bytes
    )
}

pub(super) fn read_overhead(dir: &Path) -> anyhow::Result<Vec<OverheadRow>> {
    let path = dir.join("overhead.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let mut rd = csv::Reader::from_path(&path)?;
    rd.deserialize::<OverheadRow>()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))
}

/// The terminal lines of a directory's overhead.csv (an `uadpbench overhead` directory, or a
/// campaign that ran probes off and on): the latency added at p50 and p99 per workload.
pub fn overhead_table(dir: &Path) -> anyhow::Result<Vec<String>> {
    let rows = read_overhead(dir)?;
    let latency: Vec<&OverheadRow> = rows
        .iter()
        .filter(|r| r.unit == "ns" && (r.statistic == "p50" || r.statistic == "p99"))
        .collect();
    if latency.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = vec![
        String::new(),
        "instrumentation overhead (overhead.csv; Δ = with − without, paired bootstrap 95 % CI over repetitions)".into(),
        format!(
            "{:<38} {:<9} {:<16} {:>4} {:>10} {:>10} {:>10} {:>22}",
            "workload", "arm", "probes", "reps", "stat", "off µs", "Δ µs", "95 % CI µs"
        ),
    ];
    for r in latency {
        out.push(format!(
            "{:<38} {:<9} {:<16} {:>4} {:>10} {:>10.2} {:>+10.2} {:>22}",
            workload(r),
            r.arm,
            r.probes,
            r.repetitions,
            format!("{} {}", r.metric, r.statistic),
            r.mean_off / 1000.0,
            r.delta / 1000.0,
            format!("[{:+.2}, {:+.2}]", r.ci_low / 1000.0, r.ci_high / 1000.0)
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repetition_suffix() {
        assert_eq!(
            strip_repetition("udp-udp-pingpong-64B-probes_none-r12"),
            "udp-udp-pingpong-64B-probes_none"
        );
        assert_eq!(
            strip_repetition("udp-udp-pingpong-64B"),
            "udp-udp-pingpong-64B"
        );
    }
}
