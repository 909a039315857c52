//! The SVG plots of `uadpbench report` (plotters): latency CDFs, send-jitter histograms,
//! per-layer segment bars and the probes' overhead bars.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;

use super::{read_overhead, strip_repetition, us, workload, ConfigData, ConfigKey};
use crate::overhead::OverheadRow;
use crate::schema::SegmentRow;

/// The line colours of every plot (matplotlib's tab10, in order).
pub(super) const COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Writes a rendered plot whole or not at all: plotters renders into a string, the file is
/// written atomically (a full disk leaves no empty or half SVG behind).
pub(super) fn save_svg(file: &Path, svg: &str) -> anyhow::Result<()> {
    crate::results::write_atomically(file, |w| {
        w.write_all(svg.as_bytes())?;
        Ok(())
    })
}

#[cfg(test)]
#[test]
fn fan_out_configurations_are_labelled_with_their_subscriber_count() {
    assert_eq!(
        fanout_label("udp-udp-cyclic-64B-1000us-8sub-probes_none"),
        ", 8 subscribers"
    );
    assert_eq!(fanout_label("udp-udp-cyclic-64B-1000us-probes_none"), "");
    assert_eq!(fanout_label("eth-eth-cyclic-64B-sub"), "");
}

pub(super) fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing a plot: {e}")
}

/// " probes on" when a configuration ran with kernel probes.
fn probe_label(name: &str) -> &'static str {
    match name.split("-probes_").nth(1) {
        Some(p) if p != "none" => " probes on",
        _ => "",
    }
}

/// ", N subscribers" when a configuration is a fan-out run (`…-<N>sub…` in its id).
fn fanout_label(name: &str) -> String {
    name.split('-')
        .find_map(|part| {
            part.strip_suffix("sub")
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map_or_else(String::new, |n| format!(", {n} subscribers"))
}

/// Latency CDFs, one plot per (mode, payload), one line per configuration.
fn latency_cdfs(
    data: &BTreeMap<ConfigKey, ConfigData>,
    plots: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut groups: BTreeMap<(String, usize), Vec<(&ConfigKey, &ConfigData)>> = BTreeMap::new();
    for (k, d) in data.iter().filter(|(_, d)| !d.latency.is_empty()) {
        groups
            .entry((k.mode.clone(), k.payload_bytes))
            .or_default()
            .push((k, d));
    }
    let mut written = Vec::new();
    for ((mode, payload), series) in groups {
        let what = if mode == "pingpong" {
            "round-trip time"
        } else {
            "one-way latency"
        };
        let file = plots.join(format!("latency_cdf_{mode}_{payload}B.svg"));
        let (lo, hi) = series
            .iter()
            .flat_map(|(_, d)| d.latency.iter())
            .fold((u64::MAX, 0u64), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let (lo, hi) = (
            (lo.max(1) as f64 / 1000.0) * 0.9,
            (hi.max(2) as f64 / 1000.0) * 1.1,
        );
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, (960, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{what} CDF — {mode}, {payload}-byte UADP messages"),
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d((lo..hi).log_scale(), 0f64..1f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_desc(format!("{what} (µs, log scale)"))
            .y_desc("fraction of messages ≤ x")
            .draw()
            .map_err(plot_err)?;
        for (i, (k, d)) in series.iter().enumerate() {
            let mut v = d.latency.clone();
            v.sort_unstable();
            let n = v.len() as f64;
            // At most ~2000 points per line: every k-th order statistic plus the maximum.
            let step = (v.len() / 2000).max(1);
            let pts: Vec<(f64, f64)> = v
                .iter()
                .enumerate()
                .filter(|(j, _)| j % step == 0 || *j + 1 == v.len())
                .map(|(j, x)| (*x as f64 / 1000.0, (j + 1) as f64 / n))
                .collect();
            let colour = COLOURS[i % COLOURS.len()];
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(plot_err)?
                .label(format!(
                    "{} {}{}{} (n={})",
                    k.path,
                    k.encap,
                    probe_label(&k.name),
                    fanout_label(&k.name),
                    v.len()
                ))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(("sans-serif", 15))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
        drop(chart);
        drop(root);
        save_svg(&file, &svg)?;
        written.push(file);
    }
    Ok(written)
}

/// Cyclic send-jitter histograms, one per configuration.
fn jitter_histograms(
    data: &BTreeMap<ConfigKey, ConfigData>,
    plots: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (k, d) in data.iter().filter(|(_, d)| !d.send_deviation.is_empty()) {
        let file = plots.join(format!("send_jitter_{}.svg", k.name));
        let mut v = d.send_deviation.clone();
        v.sort_unstable();
        // Clip the axis at p99.9 so the bulk stays readable; the caption says so.
        let clip = v[((v.len() as f64 * 0.999) as usize).min(v.len() - 1)].max(1);
        let bins = 80u64;
        let width = (clip / bins).max(1);
        let mut counts = vec![0u64; bins as usize + 1];
        for x in &v {
            counts[((x / width).min(bins)) as usize] += 1;
        }
        let top = counts.iter().copied().max().unwrap_or(1) as f64 * 1.1;
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, (960, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "send deviation from deadline — {} (n={}, axis clipped at p99.9 = {} µs)",
                    k.name,
                    v.len(),
                    us(clip)
                ),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..(width * (bins + 1)) as f64 / 1000.0, 0f64..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_desc("send time − deadline (µs)")
            .y_desc("messages")
            .draw()
            .map_err(plot_err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, c)| {
                let x0 = (i as u64 * width) as f64 / 1000.0;
                let x1 = ((i as u64 + 1) * width) as f64 / 1000.0;
                Rectangle::new([(x0, 0.0), (x1, *c as f64)], COLOURS[0].filled())
            }))
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
        drop(chart);
        drop(root);
        save_svg(&file, &svg)?;
        written.push(file);
    }
    Ok(written)
}

/// Writes every plot into `dir/plots` and returns the files.
pub fn plots(dir: &Path, data: &BTreeMap<ConfigKey, ConfigData>) -> anyhow::Result<Vec<PathBuf>> {
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots)
        .with_context(|| format!("cannot create {}", plots.display()))?;
    let mut files = latency_cdfs(data, &plots)?;
    files.extend(jitter_histograms(data, &plots)?);
    files.extend(segment_bars(dir, &plots)?);
    files.extend(overhead_bars(dir, &plots)?);
    files.extend(super::fanout::plots(dir, &plots)?);
    Ok(files)
}

/// Per-layer stacked segments: one horizontal bar per configuration (repetitions pooled,
/// count-weighted means), one rectangle per segment, so the bar's length is the mean
/// end-to-end latency. One plot per (mode, payload).
fn segment_bars(dir: &Path, plots: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let path = dir.join("segments.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    // (mode, payload) → config → segment index → (label, Σ mean·count, Σ count)
    type Segs = BTreeMap<usize, (String, f64, f64)>;
    let mut groups: BTreeMap<(String, usize), BTreeMap<String, Segs>> = BTreeMap::new();
    let mut counts: BTreeMap<(String, usize), f64> = BTreeMap::new();
    let mut rd = csv::Reader::from_path(&path)?;
    let mut rows = Vec::new();
    for r in rd.deserialize::<SegmentRow>() {
        let r = r.with_context(|| format!("reading {}", path.display()))?;
        if r.statistic == "count" {
            counts.insert((r.run_id.clone(), r.segment_index), r.value);
        }
        rows.push(r);
    }
    for r in rows.iter().filter(|r| r.statistic == "mean") {
        let n = counts
            .get(&(r.run_id.clone(), r.segment_index))
            .copied()
            .unwrap_or(0.0);
        let label = format!(
            "{}#{} → {}#{}",
            r.from_layer, r.from_crossing, r.to_layer, r.to_crossing
        );
        let e = groups
            .entry((r.mode.clone(), r.payload_bytes))
            .or_default()
            .entry(strip_repetition(&r.run_id))
            .or_default()
            .entry(r.segment_index)
            .or_insert((label, 0.0, 0.0));
        e.1 += r.value * n;
        e.2 += n;
    }
    let mut written = Vec::new();
    for ((mode, payload), configs) in groups {
        let file = plots.join(format!("segments_{mode}_{payload}B.svg"));
        let bars: Vec<(String, Vec<(String, f64)>)> = configs
            .into_iter()
            .map(|(name, segs)| {
                let parts = segs
                    .into_values()
                    .map(|(l, sum, n)| (l, if n > 0.0 { sum / n / 1000.0 } else { 0.0 }))
                    .collect();
                (name, parts)
            })
            .collect();
        let total_max = bars
            .iter()
            .map(|(_, p)| p.iter().map(|(_, v)| v.max(0.0)).sum::<f64>())
            .fold(1.0f64, f64::max);
        // One distinct colour per segment name, in order of first appearance.
        let mut names: Vec<String> = Vec::new();
        for (_, parts) in &bars {
            for (l, _) in parts {
                if !names.contains(l) {
                    names.push(l.clone());
                }
            }
        }
        let colour_of = |l: &str| -> HSLColor {
            let i = names.iter().position(|n| n == l).unwrap_or(0);
            HSLColor(
                (i as f64 * 0.61803).fract(),
                0.65,
                if i % 2 == 0 { 0.45 } else { 0.62 },
            )
        };
        let height = (160 + 60 * bars.len() as u32).max(120 + 16 * names.len() as u32);
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, (1300, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let (left, right) = root.split_horizontally(900);
        let mut chart = ChartBuilder::on(&left)
            .caption(
                format!("where the time goes — {mode}, {payload}-byte UADP (mean per segment)"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(20)
            .build_cartesian_2d(0f64..total_max * 1.05, 0f64..bars.len() as f64)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 16))
            .x_desc("mean latency (µs), stacked by segment; bar length = mean end-to-end latency")
            .draw()
            .map_err(plot_err)?;
        for (row, (name, parts)) in bars.iter().enumerate() {
            let (y0, y1) = (row as f64 + 0.2, row as f64 + 0.8);
            let mut x = 0.0;
            for (label, v) in parts {
                let v = v.max(0.0);
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y0), (x + v, y1)],
                        colour_of(label).filled(),
                    )))
                    .map_err(plot_err)?;
                x += v;
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("{name} ({x:.1} µs)"),
                    (0.0, row as f64 + 0.95),
                    ("sans-serif", 13),
                )))
                .map_err(plot_err)?;
        }
        // The legend in its own panel: every segment name with its colour.
        right
            .draw(&Text::new(
                "segments (from → to, #crossing)",
                (10, 20),
                ("sans-serif", 14),
            ))
            .map_err(plot_err)?;
        for (k, l) in names.iter().enumerate() {
            let y = 40 + 16 * k as i32;
            right
                .draw(&Rectangle::new(
                    [(10, y), (22, y + 11)],
                    colour_of(l).filled(),
                ))
                .map_err(plot_err)?;
            right
                .draw(&Text::new(l.clone(), (28, y), ("sans-serif", 12)))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
        drop(chart);
        drop((left, right, root));
        save_svg(&file, &svg)?;
        written.push(file);
    }
    Ok(written)
}

/// Overhead bars with their confidence intervals: one bar per latency statistic of an
/// `uadpbench overhead` directory; p50 and p99 per workload when overhead.csv holds several
/// workloads (a campaign).
fn overhead_bars(dir: &Path, plots: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let rows = read_overhead(dir)?;
    let mut workloads: Vec<String> = rows.iter().map(workload).collect();
    workloads.sort();
    workloads.dedup();
    let several = workloads.len() > 1;
    let latency: Vec<&OverheadRow> = rows
        .iter()
        .filter(|r| {
            r.unit == "ns"
                && r.statistic.starts_with('p')
                && (!several || r.statistic == "p50" || r.statistic == "p99")
        })
        .collect();
    if latency.is_empty() {
        return Ok(Vec::new());
    }
    let file = plots.join("overhead.svg");
    let labels: Vec<String> = latency
        .iter()
        .map(|r| {
            let what = format!("{} {} [{}: {}]", r.metric, r.statistic, r.arm, r.probes);
            if several {
                format!("{} {what}", workload(r))
            } else {
                what
            }
        })
        .collect();
    let (lo, hi) = latency.iter().fold((0f64, 0f64), |(lo, hi), r| {
        (lo.min(r.ci_low / 1000.0), hi.max(r.ci_high / 1000.0))
    });
    let mut svg = String::new();
    let root = SVGBackend::with_string(&mut svg, (1000, 140 + 40 * latency.len() as u32))
        .into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let first = latency[0];
    let mut chart = ChartBuilder::on(&root)
        .caption(
            if several {
                format!(
                    "latency added by the instrumentation — {} workloads (with − without, 95 % bootstrap CI)",
                    workloads.len()
                )
            } else {
                format!(
                    "latency added by the instrumentation — {} (arm − off, 95 % bootstrap CI)",
                    workload(first)
                )
            },
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(20)
        .build_cartesian_2d(
            (lo * 1.1 - 1.0)..(hi * 1.1 + 1.0),
            0f64..latency.len() as f64,
        )
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .x_desc("added latency (µs)")
        .draw()
        .map_err(plot_err)?;
    for (i, (r, label)) in latency.iter().zip(&labels).enumerate() {
        let colour = if r.arm == "probes" {
            COLOURS[0]
        } else {
            COLOURS[1]
        };
        let (y0, y1) = (i as f64 + 0.25, i as f64 + 0.75);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.0, y0), (r.delta / 1000.0, y1)],
                colour.filled(),
            )))
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (r.ci_low / 1000.0, i as f64 + 0.5),
                    (r.ci_high / 1000.0, i as f64 + 0.5),
                ],
                BLACK.stroke_width(2),
            )))
            .map_err(plot_err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!(
                    "{label}: {:+.1} µs [{:+.1}, {:+.1}]",
                    r.delta / 1000.0,
                    r.ci_low / 1000.0,
                    r.ci_high / 1000.0
                ),
                (lo * 1.1 - 1.0, i as f64 + 0.95),
                ("sans-serif", 13),
            )))
            .map_err(plot_err)?;
    }
    root.present().map_err(plot_err)?;
    drop(chart);
    drop(root);
    save_svg(&file, &svg)?;
    Ok(vec![file])
}
