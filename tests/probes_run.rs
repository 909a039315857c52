//! Per-layer probes through `uadpbench run --probes all`, 10 000 ping-pong messages per path:
//! every unconditional layer that attached stamps ≥ 99.9 % of the packets, timestamps never go
//! backwards along one side's layers, the segments add up to each packet's round trip, and no
//! probe event is lost at this rate.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use uadpbench::run::{run, RunConfig};
use uadpbench_sender::transport::{Encap, PathKind};

fn rows(path: &Path) -> (csv::StringRecord, Vec<csv::StringRecord>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let h = r.headers().expect("header").clone();
    (h.clone(), r.records().map(|x| x.expect("row")).collect())
}

fn col(h: &csv::StringRecord, name: &str) -> usize {
    h.iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name}"))
}

/// A probe session traces the syscall layers of every thread of this process: two runs with
/// probes at once would see each other's packets. The tests of this file take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `min_layers`: unconditional layers that must attach and stamp on this path here (the
/// segments then number at least `min_layers + 1`).
fn check(path: PathKind, encap: Encap, min_layers: usize) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let name = format!("{path}-{encap}");
    let dir = std::env::temp_dir().join(format!(
        "uadpbench-e2e-probes-{name}-{}",
        std::process::id()
    ));
    let cfg = RunConfig {
        path,
        encap,
        count: 10_000,
        warmup: 200,
        probes: "all".into(),
        ..RunConfig::default()
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false))).unwrap_or_else(|e| panic!("{name}: {e:#}"));

    // Every attached layer without a firing condition stamps ≥ 99.9 % of the packets on every
    // crossing it saw; nothing is lost.
    let (h, layers) = rows(&dir.join("probe_layers.csv"));
    let (attached, condition, lost) = (col(&h, "attached"), col(&h, "condition"), col(&h, "lost"));
    let (c0, c1, layer) = (
        col(&h, "coverage_crossing0"),
        col(&h, "coverage_crossing1"),
        col(&h, "layer"),
    );
    let mut direction_of = HashMap::new();
    let mut conditional = std::collections::HashSet::new();
    let mut checked = 0;
    for r in &layers {
        direction_of.insert(r[layer].to_owned(), r[col(&h, "direction")].to_owned());
        if !r[condition].is_empty() {
            // Layers that fire only under a condition (e.g. consume_skb) are counted, not checked.
            conditional.insert(r[layer].to_owned());
            continue;
        }
        assert_eq!(&r[lost], "0", "{name}: {} lost events", &r[layer]);
        if &r[attached] == "true" {
            for c in [c0, c1] {
                let cov: f64 = r[c]
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}: {} stamped nothing", &r[layer]));
                assert!(cov >= 0.999, "{name}: {} covers {cov}", &r[layer]);
            }
            checked += 1;
        }
    }
    assert!(
        checked >= min_layers,
        "{name}: only {checked} unconditional layers attached"
    );

    // Non-decreasing along each side's layers (table order within send / receive, per crossing).
    let (h, ev) = rows(&dir.join("layers.csv"));
    let (pid, lname, lidx, cross, t) = (
        col(&h, "packet_id"),
        col(&h, "layer"),
        col(&h, "layer_index"),
        col(&h, "crossing"),
        col(&h, "t_ns"),
    );
    let mut per: HashMap<(u64, u8, String), BTreeMap<u16, u64>> = HashMap::new();
    // Stamps per packet, each with whether it may legitimately come after the initiator's
    // receive: the tail of the echo's send call (`sock_send_length`, `sys_exit_sendto` on
    // crossing 1) runs in the reflector's thread while the initiator, woken from inside that
    // call, already returns with the echo.
    let mut by_packet: HashMap<u64, Vec<(u64, bool, String)>> = HashMap::new();
    for r in ev.iter().filter(|r| !conditional.contains(&r[lname])) {
        let key = (
            r[pid].parse().unwrap(),
            r[cross].parse().unwrap(),
            direction_of[&r[lname]].clone(),
        );
        per.entry(key)
            .or_default()
            .insert(r[lidx].parse().unwrap(), r[t].parse().unwrap());
        let echo_tail =
            &r[cross] == "1" && ["sock_send_length", "sys_exit_sendto"].contains(&&r[lname]);
        by_packet.entry(r[pid].parse().unwrap()).or_default().push((
            r[t].parse().unwrap(),
            echo_tail,
            format!("{}#{}", &r[lname], &r[cross]),
        ));
    }
    if path == PathKind::Xdp {
        // Generic XDP: the redirect into the AF_XDP socket follows the XDP program's stamp
        // of the same packet and crossing, on the same CPU.
        let cpu = col(&h, "cpu");
        let mut at: HashMap<(u64, String, String), (u64, String)> = HashMap::new();
        for r in &ev {
            if ["xdp_ingress", "xdp_redirect"].contains(&&r[lname]) {
                at.insert(
                    (
                        r[pid].parse().unwrap(),
                        r[cross].to_owned(),
                        r[lname].to_owned(),
                    ),
                    (r[t].parse().unwrap(), r[cpu].to_owned()),
                );
            }
        }
        let (mut ingress, mut ordered, mut missing, mut before, mut other_cpu) = (0, 0, 0, 0, 0);
        let mut gaps = Vec::new();
        for ((p, c, l), (ti, ci)) in &at {
            if l != "xdp_ingress" {
                continue;
            }
            ingress += 1;
            match at.get(&(*p, c.clone(), "xdp_redirect".to_owned())) {
                None => missing += 1,
                Some((tr, _)) if tr < ti => before += 1,
                Some((_, cr)) if cr != ci => other_cpu += 1,
                Some((tr, _)) => {
                    ordered += 1;
                    gaps.push(tr - ti);
                }
            }
        }
        gaps.sort_unstable();
        let q = |f: f64| gaps.get(((gaps.len() as f64 - 1.0) * f) as usize).copied();
        eprintln!(
            "{name}: xdp_ingress → xdp_redirect ns: p50 {:?} p99 {:?} p99.9 {:?} max {:?}",
            q(0.5),
            q(0.99),
            q(0.999),
            gaps.last()
        );
        assert!(
            ingress >= 19_980 && ordered * 1000 >= ingress * 999,
            "{name}: xdp_redirect after xdp_ingress on the same CPU on {ordered} of {ingress} \
             arrivals ({missing} without xdp_redirect, {before} before, {other_cpu} on another CPU)"
        );
    }
    let backwards = per
        .values()
        .filter(|m| m.values().zip(m.values().skip(1)).any(|(a, b)| b < a))
        .count();
    assert!(
        backwards * 1000 <= per.len(),
        "{name}: {backwards} of {} sides go backwards",
        per.len()
    );

    // The segments add up: the sum of the segment means equals the mean round trip of the
    // packets they cover (within rounding), and they cover ≥ 99 % of the packets.
    let (h, seg) = rows(&dir.join("segments.csv"));
    let (stat, value) = (col(&h, "statistic"), col(&h, "value"));
    let sum_means: f64 = seg
        .iter()
        .filter(|r| &r[stat] == "mean")
        .map(|r| r[value].parse::<f64>().unwrap())
        .sum();
    let counts: Vec<f64> = seg
        .iter()
        .filter(|r| &r[stat] == "count")
        .map(|r| r[value].parse().unwrap())
        .collect();
    assert!(
        counts.len() > min_layers && counts.windows(2).all(|w| w[0] == w[1]),
        "{name}: segments cover one packet set"
    );
    assert!(
        counts[0] >= 9_900.0,
        "{name}: only {} complete packets",
        counts[0]
    );
    let (h, samples) = rows(&dir.join("samples.csv"));
    let rtt = col(&h, "rtt_ns");
    let all_rtt: Vec<f64> = samples.iter().filter_map(|r| r[rtt].parse().ok()).collect();
    let mean_rtt = all_rtt.iter().sum::<f64>() / all_rtt.len() as f64;
    if counts[0] as usize == all_rtt.len() {
        assert!(
            (sum_means - mean_rtt).abs() < 1.0,
            "{name}: segments {sum_means} vs rtt {mean_rtt}"
        );
    }
    // Probe timestamps lie between the user-space send and receive of their packet.
    let (ts, tr, p) = (
        col(&h, "t_send_ns"),
        col(&h, "t_recv_ns"),
        col(&h, "packet_id"),
    );
    let (mut outside, mut late_tails) = (0, 0);
    let mut outside_by: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &samples {
        let (a, b): (u64, u64) = (r[ts].parse().unwrap(), r[tr].parse().unwrap());
        if let Some(v) = by_packet.get(&r[p].parse::<u64>().unwrap()) {
            for (x, tail, what) in v {
                if *x < a || (*x > b && !tail) {
                    outside += 1;
                    *outside_by.entry(what.as_str()).or_insert(0usize) += 1;
                }
                if *tail && *x > b {
                    late_tails += 1;
                }
            }
        }
    }
    eprintln!("{name}: {late_tails} echo send calls returned after the initiator's receive");
    assert!(
        outside * 1000 <= ev.len(),
        "{name}: {outside} stamps outside their packet's round trip: {outside_by:?}"
    );

    let (h, cost) = rows(&dir.join("probe_cost.csv"));
    let (runs, ns) = (col(&h, "run_count"), col(&h, "ns_per_run"));
    assert!(
        cost.iter()
            .any(|r| r[runs].parse::<u64>().unwrap() > 0
                && r[ns].parse::<f64>().is_ok_and(|v| v > 0.0)),
        "{name}: no program cost measured"
    );
    // The hooks' dispatch was calibrated before the session attached, and is in the cost
    // the compensation subtracts: a classic and a BTF tracepoint hit cost more than nothing.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    let d = &meta["probes"]["dispatch"]["this_host"];
    assert_eq!(d["measured"], serde_json::json!(true), "{name}: {d}");
    for figure in ["tracepoint", "btf_tracepoint", "syscall"] {
        assert!(
            d["cost"][figure]["median_ns"]
                .as_f64()
                .is_some_and(|v| v > 0.0),
            "{name}: dispatch {figure}: {d}"
        );
    }
    let c = &meta["probes"]["compensation"];
    assert!(
        c["dispatch_per_message_ns"]
            .as_f64()
            .is_some_and(|v| v > 0.0 && v < c["per_message_ns"].as_f64().unwrap()),
        "{name}: {c}"
    );
    if path == PathKind::Xdp {
        // The path's XDP program, one row per side: every arrival stamped, none overwritten.
        let (prog, rec, lost) = (
            col(&h, "program"),
            col(&h, "events_recorded"),
            col(&h, "events_lost"),
        );
        let xdp: Vec<_> = cost
            .iter()
            .filter(|r| &r[prog] == "uadpbench_xdp")
            .collect();
        assert_eq!(xdp.len(), 2, "{name}: XDP program rows");
        for r in xdp {
            assert_eq!(r[rec].parse::<u64>().unwrap(), 10_200, "{name}: stamps");
            assert_eq!(&r[lost], "0", "{name}");
        }
        // One session's statistics window covers both sides' XDP programs: both are in the
        // probes' cost (side B's was left out as "uncalibrated" before).
        assert_eq!(c["uncalibrated"], serde_json::json!([]), "{name}: {c}");
        assert!(
            c["ns_per_run"]["uadpbench_xdp"]
                .as_f64()
                .is_some_and(|v| v > 0.0),
            "{name}: {c}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn udp_path_layers() {
    check(PathKind::Udp, Encap::Udp, 6);
}

#[test]
fn eth_path_layers_ethernet_encapsulation() {
    check(PathKind::Eth, Encap::Eth, 6);
}

#[test]
fn eth_path_layers_udp_encapsulation() {
    check(PathKind::Eth, Encap::Udp, 6);
}

/// The xdp path: AF_XDP transmits with `__dev_direct_xmit` (no `net_dev_*xmit` tracepoints),
/// the peer veth takes the frame through `netif_rx` and `netif_receive_skb`, and the path's own
/// XDP program stamps it (`xdp_ingress`) before redirecting it to the AF_XDP socket.
#[test]
fn xdp_path_layers_ethernet_encapsulation() {
    check(PathKind::Xdp, Encap::Eth, 2);
}

#[test]
fn xdp_path_layers_udp_encapsulation() {
    check(PathKind::Xdp, Encap::Udp, 2);
}

/// `--probes-mode histogram`: the kernel counts every measured packet at every layer of its
/// way (both crossings of a ping-pong) into probe_histograms.csv and summary.csv; no stamp
/// file is written and nothing is lost although 20 000 messages pass 16 384 stamp slots.
#[test]
fn histogram_mode_run() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir =
        std::env::temp_dir().join(format!("uadpbench-e2e-probes-hist-{}", std::process::id()));
    let cfg = RunConfig {
        path: PathKind::Udp,
        encap: Encap::Udp,
        count: 20_000,
        warmup: 200,
        probes: "all".into(),
        probes_mode: uadpbench::run::ProbesMode::Histogram,
        ..RunConfig::default()
    };
    run(&cfg, &dir, Arc::new(AtomicBool::new(false))).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!dir.join("layers.csv").exists() && !dir.join("segments.csv").exists());
    let (h, samples) = rows(&dir.join("samples.csv"));
    let rtt = col(&h, "rtt_ns");
    let received = samples.iter().filter(|r| !r[rtt].is_empty()).count() as f64;
    assert!(received >= 19_990.0, "{received} received");
    let (h, summary) = rows(&dir.join("summary.csv"));
    let (m, st, v) = (col(&h, "metric"), col(&h, "statistic"), col(&h, "value"));
    let stat = |metric: &str, statistic: &str| {
        summary
            .iter()
            .find(|r| &r[m] == metric && &r[st] == statistic)
            .map(|r| r[v].parse::<f64>().unwrap())
            .unwrap_or_else(|| panic!("no {metric} {statistic}"))
    };
    let mut last = -1.0;
    for point in [
        "sys_enter_sendto#0",
        "netif_rx#0",
        "netif_receive_skb#0",
        "sock_recv_length#0",
        "sys_enter_sendto#1",
        "netif_receive_skb#1",
        "sys_exit_recvfrom#1",
    ] {
        let metric = format!("since_sys_enter_sendto:{point}");
        let n = stat(&metric, "count");
        assert!(
            n >= received * 0.999 && n <= 20_000.0,
            "{point}: {n} counted, {received} received"
        );
        let mean = stat(&metric, "mean");
        assert!(mean > last, "{point}: mean {mean} after {last}");
        last = mean;
    }
    // The last receive is within the round trip: its mean below the mean RTT.
    assert!(last < stat("rtt", "mean"), "{last}");
    let (h, hist) = rows(&dir.join("probe_histograms.csv"));
    let (point, count, kind, reference) = (
        col(&h, "point"),
        col(&h, "count"),
        col(&h, "kind"),
        col(&h, "reference"),
    );
    let total = |k: &str| -> u64 {
        hist.iter()
            .filter(|r| &r[point] == "netif_receive_skb#1" && &r[kind] == k)
            .map(|r| r[count].parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(
        total("since_reference") as f64,
        stat("since_sys_enter_sendto:netif_receive_skb#1", "count")
    );
    // Per segment: the echo's receive from its previous stamp, named after that point.
    let from = hist
        .iter()
        .find(|r| &r[point] == "netif_receive_skb#1" && &r[kind] == "segment")
        .map(|r| r[reference].to_owned())
        .expect("a segment row for netif_receive_skb#1");
    let metric = format!("segment:{from}->netif_receive_skb#1");
    assert_eq!(total("segment") as f64, stat(&metric, "count"));
    assert!(stat(&metric, "from_share") > 0.9, "{metric}");
    let metric = summary
        .iter()
        .map(|r| r[m].to_owned())
        .find(|x| x.starts_with("segment:") && x.ends_with("->sys_exit_recvfrom#1"))
        .expect("a segment to sys_exit_recvfrom#1");
    let n = stat(&metric, "count");
    assert!(n >= received * 0.999, "{metric}: {n} of {received}");
    let (h, layers) = rows(&dir.join("probe_layers.csv"));
    let lost = col(&h, "lost");
    assert!(layers.iter().all(|r| &r[lost] == "0"), "nothing lost");
    std::fs::remove_dir_all(&dir).ok();
}

/// A layer whose every mechanism this kernel lacks (udp_sendmsg: fentry, then kprobe) is
/// disabled with the reason for each mechanism; the run and the other layers go on. On a
/// kernel that offers one of them the layer attaches and stamps instead.
#[test]
fn a_missing_kernel_feature_disables_only_what_needs_it() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!(
        "uadpbench-e2e-probes-missing-{}",
        std::process::id()
    ));
    let cfg = RunConfig {
        path: PathKind::Udp,
        encap: Encap::Udp,
        count: 500,
        warmup: 20,
        probes: "udp_sendmsg,net_dev_queue".into(),
        ..RunConfig::default()
    };
    let outcome =
        run(&cfg, &dir, Arc::new(AtomicBool::new(false))).unwrap_or_else(|e| panic!("{e:#}"));
    let (h, layers) = rows(&dir.join("probe_layers.csv"));
    let row = |name: &str| {
        layers
            .iter()
            .find(|r| &r[col(&h, "layer")] == name)
            .unwrap_or_else(|| panic!("no row for {name}"))
    };
    let sendmsg = row("udp_sendmsg");
    let kprobes = Path::new("/sys/bus/event_source/devices/kprobe/type").exists();
    if &sendmsg[col(&h, "attached")] == "false" {
        assert!(
            !kprobes,
            "kprobes exist here, yet udp_sendmsg did not attach"
        );
        let why = &sendmsg[col(&h, "outcome")];
        assert!(
            why.starts_with("not attachable") && why.contains("fentry") && why.contains("kprobe"),
            "{why}"
        );
        assert!(
            outcome.report.iter().any(|l| l.contains("udp_sendmsg")),
            "the run does not say why udp_sendmsg is missing: {:#?}",
            outcome.report
        );
    } else {
        assert_ne!(&sendmsg[col(&h, "recorded")], "0");
    }
    let queue = row("net_dev_queue");
    assert_eq!(&queue[col(&h, "attached")], "true");
    assert_eq!(&queue[col(&h, "coverage_crossing0")], "1.0");
    // The measurement itself is complete.
    let (sh, summary) = rows(&dir.join("summary.csv"));
    let lost = summary
        .iter()
        .find(|r| &r[col(&sh, "metric")] == "messages" && &r[col(&sh, "statistic")] == "lost")
        .map(|r| r[col(&sh, "value")].parse::<f64>().expect("number"));
    assert_eq!(lost, Some(0.0));
    std::fs::remove_dir_all(&dir).ok();
}

/// The clock cross-check (`--so-timestamping`, udp, cyclic): every measured packet has the
/// kernel's three software stamps; on the probes' CLOCK_MONOTONIC axis they fall where the
/// kernel takes them — SCHED before `net_dev_queue`, SOFTWARE after `net_dev_start_xmit`, the
/// receive stamp before `netif_rx` — within a few µs, which only holds if the REALTIME →
/// MONOTONIC conversion and the probe clock are right. The receive-side syscall layers follow
/// the subscriber's `recvmsg`.
#[test]
fn so_timestamping_agrees_with_the_probe_clock() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir =
        std::env::temp_dir().join(format!("uadpbench-e2e-probes-clock-{}", std::process::id()));
    let mut cfg = RunConfig {
        path: PathKind::Udp,
        encap: Encap::Udp,
        mode: uadpbench::run::Mode::Cyclic,
        interval_us: 200,
        count: 3000,
        warmup: 100,
        probes: "all".into(),
        ..RunConfig::default()
    };
    cfg.path_options.so_timestamping = true;
    let outcome =
        run(&cfg, &dir, Arc::new(AtomicBool::new(false))).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(outcome
        .report
        .iter()
        .any(|l| l.contains("clock cross-check")));
    let (h, checks) = rows(&dir.join("clock_check.csv"));
    let (stamp, reference, delta, packet) = (
        col(&h, "stamp"),
        col(&h, "reference"),
        col(&h, "delta_ns"),
        col(&h, "packet_id"),
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta"))
            .expect("meta.json");
    let c = &meta["clock_check"];
    assert_eq!(c["measured_packets"], 3000);
    for s in ["tx_sched", "tx_software", "rx_software"] {
        let n = c["stamped"][s].as_u64().expect("count");
        assert!(n * 1000 >= 3000 * 999, "{s}: {n} of 3000 packets stamped");
    }
    let slack = c["offset_uncertainty_ns"].as_i64().expect("uncertainty") + 200;
    let deltas = |s: &str, r: &str| -> Vec<i64> {
        checks
            .iter()
            .filter(|x| &x[stamp] == s && &x[reference] == r)
            .map(|x| x[delta].parse().expect("delta"))
            .collect()
    };
    let median = |mut v: Vec<i64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    // (stamp, layer, the stamp comes before the layer's tracepoint?)
    for (s, layer, before) in [
        ("tx_sched", "net_dev_queue", true),
        ("tx_software", "net_dev_start_xmit", false),
        ("rx_software", "netif_rx", true),
    ] {
        let d = deltas(s, layer);
        assert!(
            d.len() * 1000 >= 3000 * 999,
            "{s} → {layer}: {} pairs",
            d.len()
        );
        let wrong = d
            .iter()
            .filter(|v| if before { **v < -slack } else { **v > slack })
            .count();
        assert!(
            wrong * 100 <= d.len(),
            "{s} → {layer}: {wrong} of {} on the wrong side",
            d.len()
        );
        let m = median(d);
        assert!(m.abs() < 20_000, "{s} → {layer}: median {m} ns");
    }
    // The user-space send time precedes the kernel's first stamp of every packet.
    let d = deltas("tx_sched", "user_send");
    assert!(d.iter().all(|v| *v < slack), "user_send after tx_sched");
    // Each packet's stamps are in kernel order on their own (REALTIME) clock.
    let mut real: BTreeMap<(u64, String), u64> = BTreeMap::new();
    for x in &checks {
        real.insert(
            (x[packet].parse().expect("id"), x[stamp].to_owned()),
            x[col(&h, "stamp_realtime_ns")].parse().expect("ns"),
        );
    }
    let ids: std::collections::BTreeSet<u64> = real.keys().map(|(id, _)| *id).collect();
    for id in ids {
        let get = |s: &str| real.get(&(id, s.to_owned())).copied();
        if let (Some(a), Some(b), Some(c)) =
            (get("tx_sched"), get("tx_software"), get("rx_software"))
        {
            assert!(a <= b && b <= c, "packet {id}: {a} {b} {c}");
        }
    }
    // The subscriber's recvmsg is followed by the receive-side syscall layers.
    let (lh, layers) = rows(&dir.join("probe_layers.csv"));
    for name in ["sock_recv_length", "sys_exit_recvfrom"] {
        let r = layers
            .iter()
            .find(|r| &r[col(&lh, "layer")] == name)
            .expect("layer row");
        let cov: f64 = r[col(&lh, "coverage_crossing0")].parse().expect("coverage");
        assert!(cov >= 0.999, "{name}: coverage {cov} with recvmsg");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// The wake-up layers on the udp path (`--probes all`, ping-pong: each side sleeps in
/// `recvfrom` until the other's packet wakes it): ≥ 99 % of the packets they apply to (the
/// receiver slept until the packet came) have `sched_waking` and `sched_switch_in`, in order per
/// packet between `netif_receive_skb` and `sock_recv_length`, and the segment chain runs from
/// the receive path through the wake-up to the receive system call:
/// netif_receive_skb → sk_data_ready → sched_waking → … → sched_switch_in → sock_recv_length.
#[test]
fn udp_wake_up_layers() {
    wake_up_layers(PathKind::Udp, Encap::Udp);
}

/// The same on the eth path, whose receiver (pnet) sleeps in `poll()` before its `recvfrom`.
#[test]
fn eth_wake_up_layers() {
    wake_up_layers(PathKind::Eth, Encap::Eth);
}

fn wake_up_layers(path: PathKind, encap: Encap) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = std::env::temp_dir().join(format!(
        "uadpbench-e2e-probes-wake-{path}-{}",
        std::process::id()
    ));
    let cfg = RunConfig {
        path,
        encap,
        count: 5_000,
        warmup: 200,
        probes: "all".into(),
        ..RunConfig::default()
    };
    let outcome =
        run(&cfg, &dir, Arc::new(AtomicBool::new(false))).unwrap_or_else(|e| panic!("{e:#}"));
    for l in &outcome.report {
        eprintln!("{l}");
    }
    let (h, layers) = rows(&dir.join("probe_layers.csv"));
    let cov = |name: &str, c: &str| -> f64 {
        let r = layers
            .iter()
            .find(|r| &r[col(&h, "layer")] == name)
            .unwrap_or_else(|| panic!("no row for {name}"));
        assert_eq!(&r[col(&h, "attached")], "true", "{name}");
        assert_eq!(&r[col(&h, "lost")], "0", "{name}");
        r[col(&h, c)].parse().unwrap_or(0.0)
    };
    // The wake-up applies to the packets whose receiver slept in recvfrom until they came
    // (not to one already queued when recvfrom was called): the probes count those.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).expect("meta"))
            .expect("meta.json");
    let wake = &meta["probes"]["wake"];
    let applicable = wake["applicable"].as_u64().expect("applicable");
    assert!(
        applicable >= 5_200,
        "the receiver slept for only {applicable} of 10 400 packets: {wake}"
    );
    for name in ["sched_waking", "sched_switch_in"] {
        let n = wake[name].as_u64().expect("count");
        assert!(
            n * 100 >= applicable * 99 && n <= applicable,
            "{name}: {n} of {applicable} packets: {wake}"
        );
        for c in ["coverage_crossing0", "coverage_crossing1"] {
            let v = cov(name, c);
            assert!(v > 0.5, "{name} {c}: {v}");
        }
    }
    // Per packet and crossing, the wake-up stamps lie in order between the packet's
    // netif_receive_skb and its sock_recv_length.
    let (h, ev) = rows(&dir.join("layers.csv"));
    let (pid, lname, cross, t) = (
        col(&h, "packet_id"),
        col(&h, "layer"),
        col(&h, "crossing"),
        col(&h, "t_ns"),
    );
    let order = [
        "net_rx_softirq",
        "netif_receive_skb",
        "sk_data_ready",
        "sched_waking",
        "ipi_send",
        "cpu_idle_exit",
        "sched_switch_in",
        "sock_recv_length",
    ];
    let mut per: HashMap<(u64, u8), BTreeMap<usize, u64>> = HashMap::new();
    for r in &ev {
        if let Some(i) = order.iter().position(|n| *n == &r[lname]) {
            per.entry((r[pid].parse().unwrap(), r[cross].parse().unwrap()))
                .or_default()
                .insert(i, r[t].parse().unwrap());
        }
    }
    // The NET_RX softirq that took each packet was entered before its netif_receive_skb.
    let softirq = per
        .values()
        .filter(|m| m.contains_key(&0) && m.contains_key(&1))
        .count();
    assert!(
        softirq * 100 >= per.len() * 99,
        "{softirq} of {} packet crossings stamped net_rx_softirq and netif_receive_skb",
        per.len()
    );
    let woken: Vec<_> = per.values().filter(|m| m.contains_key(&3)).collect();
    let out_of_order = woken
        .iter()
        .filter(|m| m.values().zip(m.values().skip(1)).any(|(a, b)| b < a))
        .count();
    assert!(
        out_of_order * 1000 <= woken.len(),
        "{out_of_order} of {} woken packets out of order",
        woken.len()
    );
    // When (nearly) every packet found its receiver asleep, the segment chain (segments.csv)
    // passes through the wake-up: netif_receive_skb → … → sched_waking → sched_switch_in →
    // sock_recv_length.
    let (h, seg) = rows(&dir.join("segments.csv"));
    let (from, to, stat) = (
        col(&h, "from_layer"),
        col(&h, "to_layer"),
        col(&h, "statistic"),
    );
    let chain: Vec<String> = seg
        .iter()
        .filter(|r| &r[stat] == "count")
        .flat_map(|r| [r[from].to_owned(), r[to].to_owned()])
        .fold(Vec::new(), |mut v, x| {
            if v.last() != Some(&x) {
                v.push(x);
            }
            v
        });
    eprintln!("chain: {chain:?}");
    // The chain keeps the packets stamped at every one of its points ≥ 99 % of those
    // received: the wake-up joins it when ≥ 99 % of the packets were woken on both crossings.
    let mut woken_both: HashMap<u64, std::collections::HashSet<(String, String)>> = HashMap::new();
    for r in &ev {
        if ["sk_data_ready", "sched_waking", "sched_switch_in"].contains(&&r[lname]) {
            woken_both
                .entry(r[pid].parse().unwrap())
                .or_default()
                .insert((r[lname].to_owned(), r[cross].to_owned()));
        }
    }
    let woken_on_both = woken_both.values().filter(|s| s.len() == 6).count();
    let in_chain = woken_on_both * 100 >= 5_000 * 99;
    eprintln!("woken on both crossings: {woken_on_both} of 5000");
    if in_chain {
        let pos = |name: &str| {
            chain
                .iter()
                .position(|x| x == name)
                .unwrap_or_else(|| panic!("{name} not in the chain {chain:?}"))
        };
        assert!(
            pos("netif_receive_skb") < pos("sched_waking")
                && pos("sched_waking") < pos("sched_switch_in")
                && pos("sched_switch_in") < pos("sock_recv_length"),
            "{chain:?}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
