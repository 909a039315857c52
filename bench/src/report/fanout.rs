//! Fan-out results (`--subscribers N`, subscribers.csv): the answer to "what does the N-th
//! subscriber see?" — per transport and subscriber count, the best and the worst subscriber's
//! one-way p50/p99 and the most any subscriber lost (mean over repetitions) — in the terminal,
//! in verdict.md, and as a plot per message size (`plots/fanout_<size>B.svg`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use plotters::prelude::*;

use super::plots::COLOURS;
use super::strip_repetition;
use crate::schema::SubscriberRow;

/// Reads a run or campaign directory's subscribers.csv (empty when it has none).
pub fn load(dir: &Path) -> anyhow::Result<Vec<SubscriberRow>> {
    let path = dir.join("subscribers.csv");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    csv::Reader::from_path(&path)?
        .deserialize::<SubscriberRow>()
        .collect::<Result<_, _>>()
        .with_context(|| format!("reading {}", path.display()))
}

/// One (transport, message size, subscriber count): its repetitions summarised.
#[derive(Debug, Clone, PartialEq)]
pub struct FanoutPoint {
    pub transport: String,
    pub payload_bytes: usize,
    pub subscribers: usize,
    pub repetitions: usize,
    /// Means over the repetitions of: the lowest and highest subscriber p50, the lowest and
    /// highest subscriber p99 (ns).
    pub best_p50: f64,
    pub worst_p50: f64,
    pub best_p99: f64,
    pub worst_p99: f64,
    /// The last subscriber's mean p50 and p99 (the bridge's last port), ns.
    pub last_p50: f64,
    pub last_p99: f64,
    /// The most one subscriber lost in any repetition, and the published count it is out of.
    pub most_lost: u64,
    pub published: u64,
    /// Every subscriber's p99 of every repetition (for the plot), ns.
    pub each_p99: Vec<f64>,
    /// The worst subscriber's p99 of each repetition, ns (for the confidence interval).
    pub worst_p99_reps: Vec<f64>,
}

/// Groups subscribers.csv rows by configuration (repetitions pooled by their mean).
pub fn points(rows: &[SubscriberRow]) -> Vec<FanoutPoint> {
    // config → run → rows
    type Runs<'a> = BTreeMap<String, Vec<&'a SubscriberRow>>;
    let mut configs: BTreeMap<(String, usize, usize, String), Runs> = BTreeMap::new();
    for r in rows {
        configs
            .entry((
                format!("{}/{}", r.path, r.encap),
                r.payload_bytes,
                r.subscribers,
                strip_repetition(&r.run_id),
            ))
            .or_default()
            .entry(r.run_id.clone())
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for ((transport, payload_bytes, subscribers, _), runs) in configs {
        let mut acc = [
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        ];
        let (mut most_lost, mut published, mut each_p99) = (0, 0, Vec::new());
        for subs in runs.values() {
            let p50: Vec<f64> = subs.iter().filter_map(|s| s.one_way_p50_ns).collect();
            let p99: Vec<f64> = subs.iter().filter_map(|s| s.one_way_p99_ns).collect();
            let (Some(last), false, false) = (
                subs.iter().max_by_key(|s| s.subscriber),
                p50.is_empty(),
                p99.is_empty(),
            ) else {
                continue;
            };
            let (min, max) = (
                |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min),
                |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            );
            for (slot, v) in acc.iter_mut().zip([
                min(&p50),
                max(&p50),
                min(&p99),
                max(&p99),
                last.one_way_p50_ns.unwrap_or(f64::NAN),
                last.one_way_p99_ns.unwrap_or(f64::NAN),
            ]) {
                slot.push(v);
            }
            most_lost = most_lost.max(subs.iter().map(|s| s.lost).max().unwrap_or(0));
            published = published.max(subs.iter().map(|s| s.published).max().unwrap_or(0));
            each_p99.extend(p99);
        }
        if acc[0].is_empty() {
            continue;
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        out.push(FanoutPoint {
            transport,
            payload_bytes,
            subscribers,
            repetitions: acc[0].len(),
            best_p50: mean(&acc[0]),
            worst_p50: mean(&acc[1]),
            best_p99: mean(&acc[2]),
            worst_p99: mean(&acc[3]),
            last_p50: mean(&acc[4]),
            last_p99: mean(&acc[5]),
            most_lost,
            published,
            each_p99,
            worst_p99_reps: acc[3].clone(),
        });
    }
    out.sort_by(|a, b| {
        (a.payload_bytes, &a.transport, a.subscribers).cmp(&(
            b.payload_bytes,
            &b.transport,
            b.subscribers,
        ))
    });
    out
}

fn us(ns: f64) -> String {
    format!("{:.1}", ns / 1e3)
}

/// The fan-out part of the verdict: per transport and size, how the subscribers' p99 grows
/// with their number, and the answer at the largest count. Empty without fan-out runs.
pub fn answer_lines(rows: &[SubscriberRow]) -> Vec<String> {
    let pts = points(rows);
    if pts.is_empty() {
        return Vec::new();
    }
    let reps = pts.iter().map(|p| p.repetitions).max().unwrap_or(0);
    let across_hosts = rows.iter().any(|r| !r.host.is_empty() && r.host != "local");
    let mut lines = vec![format!(
        "fan-out — one publisher to N subscribers {}: one-way p99 of the best–worst subscriber (µs), mean of {reps} repetition(s):",
        if across_hosts { "on N agents (across hosts)" } else { "on one bridge" }
    )];
    let bound = rows
        .iter()
        .filter_map(|r| r.clock_error_bound_ns)
        .fold(0.0, f64::max);
    if bound > 0.0 {
        lines.push(format!(
            "  clocks: subscribers on other hosts carry up to ± {} µs of clock error (subscribers.csv clock_error_bound_ns): smaller differences between them are not measured",
            us(bound)
        ));
    }
    let mut by_cfg: BTreeMap<(usize, &str), Vec<&FanoutPoint>> = BTreeMap::new();
    for p in &pts {
        by_cfg
            .entry((p.payload_bytes, p.transport.as_str()))
            .or_default()
            .push(p);
    }
    for ((payload, transport), ps) in &by_cfg {
        let steps: Vec<String> = ps
            .iter()
            .map(|p| {
                if p.subscribers == 1 {
                    format!("1 sub {}", us(p.worst_p99))
                } else {
                    format!(
                        "{} subs {}–{}",
                        p.subscribers,
                        us(p.best_p99),
                        us(p.worst_p99)
                    )
                }
            })
            .collect();
        let lost = ps.iter().map(|p| p.most_lost).max().unwrap_or(0);
        lines.push(format!(
            "  {transport} {payload} B: {}; most lost by one subscriber: {lost}",
            steps.join(" | ")
        ));
    }
    // The answer at the largest subscriber count of each size.
    let mut sizes: BTreeMap<usize, Vec<&FanoutPoint>> = BTreeMap::new();
    for p in &pts {
        sizes.entry(p.payload_bytes).or_default().push(p);
    }
    for (payload, ps) in sizes {
        let n = ps.iter().map(|p| p.subscribers).max().unwrap_or(0);
        let Some(best) = ps
            .iter()
            .filter(|p| p.subscribers == n)
            .min_by(|a, b| a.worst_p99.total_cmp(&b.worst_p99))
        else {
            continue;
        };
        let ci = |p: &FanoutPoint| crate::verdict::mean_ci(&p.worst_p99_reps);
        let tied: Vec<&str> = ps
            .iter()
            .filter(|p| p.subscribers == n && p.transport != best.transport)
            .filter(|p| match (ci(best), ci(p)) {
                (Some(b), Some(o)) => o.1 <= b.2 && b.1 <= o.2,
                _ => false,
            })
            .map(|p| p.transport.as_str())
            .collect();
        let tied = if tied.is_empty() {
            String::new()
        } else {
            format!(
                " — not distinguishable from {} (95 % CIs over the repetitions overlap)",
                tied.join(", ")
            )
        };
        let baseline = ps
            .iter()
            .find(|p| p.transport == best.transport && p.subscribers == 1)
            .map(|b| b.worst_p99);
        let growth = match baseline {
            Some(b) if b > 0.0 && n > 1 => {
                format!(", {:.2}× its p99 with one subscriber", best.worst_p99 / b)
            }
            _ => String::new(),
        };
        lines.push(format!(
            "answer — fan-out {payload} B to {n} subscriber(s): lowest worst-subscriber p99 on {} ({} µs{growth}){tied}; its last subscriber sees p50 {} µs vs {} µs for the best",
            best.transport,
            us(best.worst_p99),
            us(best.last_p50),
            us(best.best_p50),
        ));
    }
    lines
}

/// One plot per message size: x = subscribers, y = one-way p99 (µs); per transport a solid
/// line through the worst subscriber's p99, a dashed one through the best's, every
/// subscriber's p99 as a dot; loss per count in the lower panel.
pub fn plots(dir: &Path, plots: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let pts = points(&load(dir)?);
    let mut sizes: BTreeMap<usize, Vec<&FanoutPoint>> = BTreeMap::new();
    for p in &pts {
        sizes.entry(p.payload_bytes).or_default().push(p);
    }
    let mut written = Vec::new();
    for (payload, ps) in sizes {
        let file = plots.join(format!("fanout_{payload}B.svg"));
        let n_max = ps.iter().map(|p| p.subscribers).max().unwrap_or(1) as f64;
        let y_max = ps
            .iter()
            .flat_map(|p| p.each_p99.iter().copied().chain([p.worst_p99]))
            .fold(1.0, f64::max)
            / 1e3
            * 1.1;
        let loss_max = ps
            .iter()
            .map(|p| 100.0 * p.most_lost as f64 / p.published.max(1) as f64)
            .fold(0.0, f64::max)
            .max(0.01)
            * 1.2;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (960, 720)).into_drawing_area();
            root.fill(&WHITE).map_err(super::plots::plot_err)?;
            let (upper, lower) = root.split_vertically(520);
            let mut chart = ChartBuilder::on(&upper)
                .caption(
                    format!("fan-out — one-way p99 per subscriber, {payload}-byte UADP messages"),
                    ("sans-serif", 22),
                )
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.5f64..n_max + 0.5, 0f64..y_max)
                .map_err(super::plots::plot_err)?;
            chart
                .configure_mesh()
                .label_style(("sans-serif", 15))
                .axis_desc_style(("sans-serif", 16))
                .x_labels(n_max as usize + 2)
                .x_label_formatter(&integer_label)
                .x_desc("subscribers")
                .y_desc("one-way p99 (µs)")
                .draw()
                .map_err(super::plots::plot_err)?;
            let mut transports: Vec<&str> = ps.iter().map(|p| p.transport.as_str()).collect();
            transports.dedup();
            transports.sort_unstable();
            transports.dedup();
            for (i, t) in transports.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                let line: Vec<&&FanoutPoint> = ps.iter().filter(|p| p.transport == *t).collect();
                let worst: Vec<(f64, f64)> = line
                    .iter()
                    .map(|p| (p.subscribers as f64, p.worst_p99 / 1e3))
                    .collect();
                let best: Vec<(f64, f64)> = line
                    .iter()
                    .map(|p| (p.subscribers as f64, p.best_p99 / 1e3))
                    .collect();
                chart
                    .draw_series(LineSeries::new(worst, colour.stroke_width(2)))
                    .map_err(super::plots::plot_err)?
                    .label(format!("{t}: worst subscriber (dashed: best)"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                    });
                chart
                    .draw_series(DashedLineSeries::new(best, 6, 4, colour.stroke_width(1)))
                    .map_err(super::plots::plot_err)?;
                // Every subscriber's p99, nudged sideways per transport so they do not hide.
                let dx = (i as f64 - (transports.len() as f64 - 1.0) / 2.0) * 0.08;
                chart
                    .draw_series(line.iter().flat_map(|p| {
                        p.each_p99.iter().map(move |v| {
                            Circle::new((p.subscribers as f64 + dx, v / 1e3), 2, colour.filled())
                        })
                    }))
                    .map_err(super::plots::plot_err)?;
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK)
                .label_font(("sans-serif", 15))
                .draw()
                .map_err(super::plots::plot_err)?;
            let mut loss = ChartBuilder::on(&lower)
                .margin(12)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0.5f64..n_max + 0.5, 0f64..loss_max)
                .map_err(super::plots::plot_err)?;
            loss.configure_mesh()
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 15))
                .x_labels(n_max as usize + 2)
                .x_label_formatter(&integer_label)
                .x_desc("subscribers")
                .y_desc("most lost by one (%)")
                .draw()
                .map_err(super::plots::plot_err)?;
            for (i, t) in transports.iter().enumerate() {
                let colour = COLOURS[i % COLOURS.len()];
                let pts: Vec<(f64, f64)> = ps
                    .iter()
                    .filter(|p| p.transport == *t)
                    .map(|p| {
                        (
                            p.subscribers as f64,
                            100.0 * p.most_lost as f64 / p.published.max(1) as f64,
                        )
                    })
                    .collect();
                loss.draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                    .map_err(super::plots::plot_err)?;
                loss.draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                    .map_err(super::plots::plot_err)?;
            }
            root.present().map_err(super::plots::plot_err)?;
        }
        super::plots::save_svg(&file, &svg)?;
        written.push(file);
    }
    Ok(written)
}

/// Subscriber counts are whole: label only the integer ticks.
fn integer_label(x: &f64) -> String {
    if x.fract().abs() < 1e-9 && *x >= 1.0 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(run: &str, path: &str, n: usize, i: usize, p99_us: f64, lost: u64) -> SubscriberRow {
        SubscriberRow {
            run_id: run.into(),
            path: path.into(),
            encap: path.into(),
            payload_bytes: 64,
            subscribers: n,
            subscriber: i,
            published: 1000,
            received: 1000 - lost,
            lost,
            reordered: 0,
            duplicated: 0,
            one_way_min_ns: Some(1e3),
            one_way_p50_ns: Some(p99_us * 500.0),
            one_way_p90_ns: Some(p99_us * 800.0),
            one_way_p99_ns: Some(p99_us * 1e3),
            one_way_p99_9_ns: Some(p99_us * 1e3),
            one_way_max_ns: Some(p99_us * 1e3),
            one_way_mean_ns: Some(p99_us * 500.0),
            mean_arrival_rank: Some(i as f64),
            cpu_per_message_ns: 1.0,
            host: "local".into(),
            clock_error_bound_ns: Some(0.0),
        }
    }

    #[test]
    fn points_average_repetitions_and_answer_names_the_best_transport() {
        let rows = vec![
            row("udp-1sub-r1", "udp", 1, 1, 30.0, 0),
            row("udp-4sub-r1", "udp", 4, 1, 32.0, 0),
            row("udp-4sub-r1", "udp", 4, 4, 60.0, 2),
            row("udp-4sub-r2", "udp", 4, 1, 34.0, 0),
            row("udp-4sub-r2", "udp", 4, 4, 40.0, 0),
            row("eth-1sub-r1", "eth", 1, 1, 20.0, 0),
            row("eth-4sub-r1", "eth", 4, 1, 22.0, 0),
            row("eth-4sub-r1", "eth", 4, 4, 30.0, 0),
        ];
        let pts = points(&rows);
        let udp4 = pts
            .iter()
            .find(|p| p.transport == "udp/udp" && p.subscribers == 4)
            .expect("udp 4");
        assert_eq!(udp4.repetitions, 2);
        assert_eq!(udp4.worst_p99, 50_000.0);
        assert_eq!(udp4.best_p99, 33_000.0);
        assert_eq!(udp4.most_lost, 2);
        assert_eq!(udp4.each_p99.len(), 4);
        let lines = answer_lines(&rows);
        let answer = lines.last().expect("answer");
        assert!(answer.contains("to 4 subscriber(s)"), "{answer}");
        assert!(answer.contains("eth/eth (30.0 µs, 1.50×"), "{answer}");
        // udp has two repetitions (40 and 60 µs): its interval covers eth's single value,
        // but eth's single repetition has an unbounded interval either way.
        assert!(
            answer.contains("not distinguishable from udp/udp"),
            "{answer}"
        );
        assert!(
            lines.iter().any(|l| l.contains(
                "udp/udp 64 B: 1 sub 30.0 | 4 subs 33.0–50.0; most lost by one subscriber: 2"
            )),
            "{lines:?}"
        );
        assert!(answer_lines(&[]).is_empty());
        assert!(lines[0].contains("on one bridge"), "{lines:?}");
        assert!(!lines.iter().any(|l| l.contains("clocks:")), "{lines:?}");
        // Across hosts the answer says so and states the clock error it carries.
        let remote: Vec<SubscriberRow> = rows
            .iter()
            .cloned()
            .map(|mut r| {
                r.host = format!("198.19.{}.2:4850", r.subscriber);
                r.clock_error_bound_ns = Some(45_000.0);
                r
            })
            .collect();
        let lines = answer_lines(&remote);
        assert!(lines[0].contains("on N agents"), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.contains("± 45.0 µs of clock error")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_clear_winner_is_not_called_a_tie() {
        let rows = vec![
            row("udp-2sub-r1", "udp", 2, 2, 60.0, 0),
            row("udp-2sub-r2", "udp", 2, 2, 61.0, 0),
            row("eth-2sub-r1", "eth", 2, 2, 30.0, 0),
            row("eth-2sub-r2", "eth", 2, 2, 31.0, 0),
        ];
        let lines = answer_lines(&rows);
        let answer = lines.last().expect("answer");
        assert!(answer.contains("on eth/eth (30.5 µs)"), "{answer}");
        assert!(!answer.contains("not distinguishable"), "{answer}");
    }
}
