//! `report DIR` → `DIR/report.html`: one self-contained page (inline SVG and CSS, no script, no
//! network access; it opens from a file) with the conditions of the machine and the runs, the
//! verdict, the latency CDFs, cyclic jitter, the probes' overhead, and the layer breakdown of
//! every probe run as a waterfall per path and direction.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Where in the stack a segment ends: the group the waterfall colours it by.
pub fn category(to_layer: &str) -> &'static str {
    match to_layer {
        "user_send" | "user_recv" => "user space",
        l if l.starts_with("sys_") || l.starts_with("libc_") => "syscall",
        "sock_send_length"
        | "sock_recv_length"
        | "udp_sendmsg"
        | "ip_send_skb"
        | "ip_rcv"
        | "udp_rcv"
        | "packet_sendmsg"
        | "packet_rcv"
        | "skb_copy_datagram_iovec"
        | "consume_skb" => "protocol",
        "net_dev_queue" | "qdisc_dequeue" | "net_dev_start_xmit" | "net_dev_xmit"
        | "dev_direct_xmit" => "device",
        "netif_rx" | "netif_receive_skb" | "xdp_ingress" | "napi_poll" | "softirq_entry"
        | "softirq_exit" | "xdp_redirect" => "softirq",
        l if l.contains("waking")
            || l.contains("wakeup")
            || l.contains("data_ready")
            || l.contains("cpu_idle") =>
        {
            "wake-up"
        }
        l if l.contains("sched_switch") => "scheduler",
        _ => "other",
    }
}

const CATEGORY_COLOURS: [(&str, &str); 8] = [
    ("user space", "#1f77b4"),
    ("syscall", "#ff7f0e"),
    ("protocol", "#2ca02c"),
    ("device", "#d62728"),
    ("softirq", "#9467bd"),
    ("wake-up", "#8c564b"),
    ("scheduler", "#e377c2"),
    ("other", "#7f7f7f"),
];

fn colour(cat: &str) -> &'static str {
    CATEGORY_COLOURS
        .iter()
        .find(|(c, _)| *c == cat)
        .map_or("#7f7f7f", |(_, col)| col)
}

use crate::schema::SegmentRow;

/// One segment of a waterfall.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub from: String,
    pub to: String,
    pub direction: u8,
    pub p50_ns: f64,
    pub p90_ns: f64,
}

/// Segments per configuration (first repetition that has them), in chain order.
fn load_segments(dir: &Path) -> anyhow::Result<BTreeMap<String, Vec<Segment>>> {
    let path = dir.join("segments.csv");
    let mut out: BTreeMap<String, Vec<Segment>> = BTreeMap::new();
    if !path.is_file() {
        return Ok(out);
    }
    let mut per_run: BTreeMap<String, BTreeMap<usize, Segment>> = BTreeMap::new();
    for row in csv::Reader::from_path(&path)?.deserialize::<SegmentRow>() {
        let r = row.with_context(|| format!("reading {}", path.display()))?;
        let seg = per_run
            .entry(r.run_id.clone())
            .or_default()
            .entry(r.segment_index)
            .or_insert_with(|| Segment {
                from: format!("{}#{}", r.from_layer, r.from_crossing),
                to: format!("{}#{}", r.to_layer, r.to_crossing),
                direction: r.to_crossing,
                p50_ns: 0.0,
                p90_ns: 0.0,
            });
        match r.statistic.as_str() {
            "p50" => seg.p50_ns = r.value,
            "p90" => seg.p90_ns = r.value,
            _ => {}
        }
    }
    for (run, segs) in per_run {
        let config = crate::verdict::config_of(&run);
        out.entry(config)
            .or_insert_with(|| segs.into_values().collect());
    }
    Ok(out)
}

/// The layer name of a `layer#crossing` label.
fn layer_name(label: &str) -> &str {
    label.split('#').next().unwrap_or(label)
}

/// The dominant segment of a direction, in words.
pub fn dominant(segs: &[Segment]) -> Option<String> {
    let total: f64 = segs.iter().map(|s| s.p50_ns.max(0.0)).sum();
    let d = segs.iter().max_by(|a, b| a.p50_ns.total_cmp(&b.p50_ns))?;
    Some(format!(
        "largest: {} → {} ({}), {:.2} µs of {:.2} µs ({:.0} %)",
        layer_name(&d.from),
        layer_name(&d.to),
        category(layer_name(&d.to)),
        d.p50_ns / 1e3,
        total / 1e3,
        100.0 * d.p50_ns.max(0.0) / total.max(1.0)
    ))
}

/// A waterfall: one bar per segment (p50) starting where the previous one ended, with a
/// whisker to its p90.
pub fn waterfall_svg(title: &str, segs: &[Segment]) -> String {
    let row_h = 18.0;
    let left = 330.0;
    let width = 900.0;
    // Room on the right for the last value label and the axis note.
    let chart_w = width - left - 70.0;
    let total: f64 = segs.iter().map(|s| s.p50_ns.max(0.0)).sum();
    let extent = segs
        .iter()
        .scan(0.0, |acc, s| {
            let start = *acc;
            *acc += s.p50_ns.max(0.0);
            Some(start + s.p90_ns.max(s.p50_ns).max(0.0))
        })
        .fold(total, f64::max)
        .max(1.0);
    let x = |ns: f64| left + chart_w * ns / extent;
    let height = 40.0 + row_h * segs.len() as f64 + 44.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" aria-label="{t}"><text x="10" y="18" font-size="14" font-weight="bold">{t}</text>"#,
        t = esc(title)
    );
    let mut at = 0.0;
    for (i, seg) in segs.iter().enumerate() {
        let y = 30.0 + row_h * i as f64;
        let cat = category(layer_name(&seg.to));
        let w = (x(at + seg.p50_ns.max(0.0)) - x(at)).max(1.0);
        let _ = write!(
            s,
            r#"<text x="{tx}" y="{ty}" font-size="11" text-anchor="end">{label}</text><rect x="{rx}" y="{y}" width="{w}" height="{h}" fill="{c}"><title>{label}: p50 {p50:.2} µs, p90 {p90:.2} µs ({cat})</title></rect><line x1="{wx0}" x2="{wx1}" y1="{wy}" y2="{wy}" stroke="black" stroke-width="1"/><text x="{vx}" y="{ty}" font-size="10">{p50:.2}</text>"#,
            tx = left - 6.0,
            ty = y + 12.0,
            label = esc(&format!(
                "{} → {}",
                layer_name(&seg.from),
                layer_name(&seg.to)
            )),
            rx = x(at),
            h = row_h - 4.0,
            c = colour(cat),
            p50 = seg.p50_ns / 1e3,
            p90 = seg.p90_ns / 1e3,
            wx0 = x(at + seg.p50_ns.max(0.0)),
            wx1 = x(at + seg.p90_ns.max(seg.p50_ns).max(0.0)),
            wy = y + (row_h - 4.0) / 2.0,
            vx = x(at + seg.p90_ns.max(seg.p50_ns).max(0.0)) + 4.0,
        );
        at += seg.p50_ns.max(0.0);
    }
    let axis_y = 30.0 + row_h * segs.len() as f64 + 8.0;
    let _ = write!(
        s,
        r#"<line x1="{left}" x2="{r}" y1="{axis_y}" y2="{axis_y}" stroke="black"/><text x="{left}" y="{ly}" font-size="11">0</text><text x="{r}" y="{ly}" font-size="11" text-anchor="end">{e:.1} µs</text><text x="{left}" y="{ly2}" font-size="10" fill="gray">bars: p50 of each segment, stacked in crossing order; whiskers: its p90</text></svg>"#,
        ly2 = axis_y + 28.0,
        r = left + chart_w,
        ly = axis_y + 14.0,
        e = extent / 1e3
    );
    s
}

fn legend() -> String {
    let mut s = String::from(r#"<p class="legend">"#);
    for (c, col) in CATEGORY_COLOURS {
        let _ = write!(
            s,
            r#"<span><svg width="12" height="12"><rect width="12" height="12" fill="{col}"/></svg> {c}</span> "#
        );
    }
    s.push_str("</p>");
    s
}

/// The conditions table: from the directory's meta.json, or its first run's.
fn conditions_table(dir: &Path) -> String {
    let (top, run) = crate::meta::read_metas(dir);
    let rows: Vec<(String, String)> = crate::meta::condition_facts(top.as_ref(), run.as_ref())
        .into_iter()
        .filter_map(|f| Some((f.label.to_owned(), f.value?)))
        .collect();
    if rows.is_empty() {
        return "<p>No meta.json found: conditions unknown.</p>".into();
    }
    let mut s = String::from("<table class=\"conditions\">");
    for (k, x) in rows {
        let _ = write!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(&k), esc(&x));
    }
    s.push_str("</table>");
    s
}

/// Inline SVG of a plot file (its XML declaration removed).
fn inline_svg(file: &Path) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let start = text.find("<svg")?;
    Some(text[start..].to_owned())
}

/// Writes `DIR/report.html` from the directory's files and the plots already drawn into
/// `DIR/plots` (`plots`); returns its path.
pub fn write_report(
    dir: &Path,
    table: &[String],
    verdict: &[String],
    consistency: &[String],
    plots: &[PathBuf],
) -> anyhow::Result<PathBuf> {
    let mut h = String::new();
    let title = format!("uadpbench report: {}", dir.display());
    let _ = write!(
        h,
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{t}</title><style>
body{{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}} h1{{font-size:1.4em}} h2{{border-bottom:1px solid #ccc;padding-bottom:.2em}}
pre{{background:#f6f6f6;padding:.8em;white-space:pre-wrap;font-size:12px}} table.conditions th{{text-align:left;padding-right:1em;font-weight:normal;color:#555}}
figure{{margin:1em 0}} .legend span{{margin-right:1em;font-size:12px}} section{{margin-bottom:2em}}
</style></head><body><h1>{t}</h1>"#,
        t = esc(&title)
    );
    let _ = write!(
        h,
        r#"<section id="conditions"><h2>Conditions</h2>{}</section>"#,
        conditions_table(dir)
    );
    let _ = write!(
        h,
        r#"<section id="verdict"><h2>Verdict</h2><pre>{}</pre>{}</section>"#,
        esc(&verdict.join("\n")),
        if consistency.is_empty() {
            String::new()
        } else {
            format!("<pre>{}</pre>", esc(&consistency.join("\n")))
        }
    );
    let by_prefix = |prefix: &str| -> Vec<&PathBuf> {
        plots
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .collect()
    };
    for (id, heading, prefix) in [
        ("cdf", "Latency distributions", "latency_cdf"),
        ("jitter", "Cyclic send jitter", "send_jitter"),
        ("fanout", "One publisher, many subscribers", "fanout"),
        ("overhead", "What the probes cost", "overhead"),
    ] {
        let files = by_prefix(prefix);
        if files.is_empty() {
            continue;
        }
        let _ = write!(h, r#"<section id="{id}"><h2>{heading}</h2>"#);
        for f in files {
            if let Some(svg) = inline_svg(f) {
                let _ = write!(
                    h,
                    "<figure>{svg}<figcaption>{}</figcaption></figure>",
                    esc(&f
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default())
                );
            }
        }
        h.push_str("</section>");
    }
    let segments = load_segments(dir)?;
    if !segments.is_empty() {
        h.push_str(
            r#"<section id="layers"><h2>Where the time goes: layer waterfalls (probe runs)</h2>"#,
        );
        h.push_str(&legend());
        for (config, segs) in &segments {
            for (dir_label, d) in [("A → B", 0u8), ("B → A (echo)", 1u8)] {
                let part: Vec<Segment> =
                    segs.iter().filter(|s| s.direction == d).cloned().collect();
                if part.is_empty() {
                    continue;
                }
                let _ = write!(
                    h,
                    "<figure>{}<figcaption>{}</figcaption></figure>",
                    waterfall_svg(&format!("{config}: {dir_label}"), &part),
                    esc(&dominant(&part).unwrap_or_default())
                );
            }
        }
        h.push_str("</section>");
    }
    let _ = write!(
        h,
        r#"<section id="table"><h2>All configurations</h2><pre>{}</pre></section></body></html>"#,
        esc(&table.join("\n"))
    );
    let out = dir.join("report.html");
    crate::results::write_atomically(&out, |w| {
        use std::io::Write;
        w.write_all(h.as_bytes())?;
        Ok(())
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_plot_gets_its_section() {
        let dir =
            std::env::temp_dir().join(format!("uadpbench-html-sections-{}", std::process::id()));
        let plots_dir = dir.join("plots");
        std::fs::create_dir_all(&plots_dir).unwrap();
        let mut plots = Vec::new();
        for name in [
            "latency_cdf_cyclic_64B.svg",
            "send_jitter_udp-udp-cyclic-64B.svg",
            "fanout_64B.svg",
            "overhead_p50.svg",
        ] {
            let f = plots_dir.join(name);
            std::fs::write(
                &f,
                format!("<svg xmlns=\"http://www.w3.org/2000/svg\"><text>{name}</text></svg>"),
            )
            .unwrap();
            plots.push(f);
        }
        let html =
            std::fs::read_to_string(write_report(&dir, &[], &[], &[], &plots).unwrap()).unwrap();
        for (id, name) in [
            ("cdf", "latency_cdf_cyclic_64B.svg"),
            ("jitter", "send_jitter_udp-udp-cyclic-64B.svg"),
            ("fanout", "fanout_64B.svg"),
            ("overhead", "overhead_p50.svg"),
        ] {
            let start = html
                .find(&format!("<section id=\"{id}\""))
                .unwrap_or_else(|| panic!("no {id} section"));
            let end = html[start..].find("</section>").unwrap() + start;
            assert!(
                html[start..end].contains(&format!("<text>{name}</text>")),
                "{id}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn categories_follow_the_stack() {
        assert_eq!(category("sys_enter_sendto"), "syscall");
        assert_eq!(category("net_dev_queue"), "device");
        assert_eq!(category("netif_receive_skb"), "softirq");
        assert_eq!(category("sock_recv_length"), "protocol");
        assert_eq!(category("user_recv"), "user space");
        assert_eq!(category("sched_waking"), "wake-up");
        assert_eq!(category("sched_switch_in"), "scheduler");
    }

    #[test]
    fn waterfall_stacks_and_names_the_dominant_segment() {
        let segs = vec![
            Segment {
                from: "user_send#0".into(),
                to: "sys_enter_sendto#0".into(),
                direction: 0,
                p50_ns: 1000.0,
                p90_ns: 1500.0,
            },
            Segment {
                from: "sys_enter_sendto#0".into(),
                to: "sock_recv_length#0".into(),
                direction: 0,
                p50_ns: 8000.0,
                p90_ns: 9000.0,
            },
        ];
        let svg = waterfall_svg("t <x>", &segs);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("t &lt;x&gt;"));
        assert_eq!(svg.matches("<rect").count(), 2);
        let d = dominant(&segs).unwrap();
        assert!(
            d.contains("sys_enter_sendto → sock_recv_length (protocol), 8.00 µs of 9.00 µs (89 %)"),
            "{d}"
        );
    }
}
