//! What a fan-out run's subscribers saw: accounting over deliveries, each subscriber's one-way
//! latency and place in the arrival order, the spread between subscribers, and the rows of
//! subscribers.csv and fanout_samples.csv.

use anyhow::bail;
use uadpbench_sender::loops::{self, RejectCounts, SubscribeResult};
use uadpbench_sender::transport::TransportCounters;

use crate::run::output::{accounting_line, fmt_us, table_line, Accounting, Rows};
use crate::run::RunConfig;
use crate::schema::{FanoutSampleRow, SubscriberRow};
use crate::stats::Summary;

/// What [`record`] produced for the fan-out files.
pub(in crate::run) struct Seen {
    pub(in crate::run) subscribers: Vec<SubscriberRow>,
    pub(in crate::run) samples: Vec<FanoutSampleRow>,
}

/// Rows, terminal lines and the per-subscriber files of a fan-out run.
pub(in crate::run) fn record(
    rows: &mut Rows<'_>,
    report: &mut Vec<String>,
    run_id: &str,
    cfg: &RunConfig,
    total: u64,
    p: &loops::PublishResult,
    subs: &[SubscribeResult],
) -> anyhow::Result<Seen> {
    let n = subs.len();
    let published = p.publications.len() as u64;
    let mut send_by_id = vec![None; total as usize];
    for x in &p.publications {
        if let Some(slot) = send_by_id.get_mut(x.packet_id as usize) {
            *slot = Some(x.t_send_ns);
        }
    }
    // recv[i][id]: when subscriber i received id.
    let mut recv: Vec<Vec<Option<u64>>> = Vec::with_capacity(n);
    for (i, s) in subs.iter().enumerate() {
        let mut by_id = vec![None; total as usize];
        let mut mismatch = 0u64;
        for r in &s.receptions {
            if let Some(slot) = by_id.get_mut(r.packet_id as usize) {
                *slot = Some(r.t_recv_ns);
            }
            let logged = send_by_id.get(r.packet_id as usize).copied().flatten();
            if let (Some(carried), Some(logged)) = (r.t_send_ns, logged) {
                mismatch += u64::from(carried != logged);
            }
        }
        if mismatch > 0 {
            bail!("subscriber {}: {mismatch} message(s) carried another send time than the publisher logged for their packet id: the receiver matched the wrong messages", i + 1);
        }
        recv.push(by_id);
    }
    let order = arrival_order(&p.publications, &recv);

    let mut samples = Vec::with_capacity(p.publications.len() * n);
    let mut subscribers = Vec::with_capacity(n);
    let mut pooled = Vec::with_capacity(p.publications.len() * n);
    let mut totals = Accounting {
        tx: p.transport,
        ..Accounting::default()
    };
    for (i, s) in subs.iter().enumerate() {
        let mut one_way = Vec::with_capacity(p.publications.len());
        for x in &p.publications {
            let t_recv = recv[i].get(x.packet_id as usize).copied().flatten();
            let ow = t_recv.map(|t| t.saturating_sub(x.t_send_ns));
            one_way.extend(ow);
            samples.push(FanoutSampleRow {
                run_id: run_id.to_owned(),
                subscriber: i + 1,
                packet_id: x.packet_id,
                t_send_ns: x.t_send_ns,
                t_recv_ns: t_recv,
                one_way_ns: ow,
                lost: t_recv.is_none(),
                send_deviation_ns: Some(x.t_send_ns.saturating_sub(x.deadline_ns)),
            });
        }
        pooled.extend_from_slice(&one_way);
        let sum = Summary::of(one_way.iter().copied());
        let stat = |name: &str| {
            sum.as_ref()
                .and_then(|s| s.percentile(name))
                .map(|v| v as f64)
        };
        let cpu = (s.cpu.user + s.cpu.system).as_nanos() as f64;
        subscribers.push(SubscriberRow {
            run_id: run_id.to_owned(),
            path: cfg.path.to_string(),
            encap: cfg.encap.to_string(),
            payload_bytes: cfg.payload_bytes,
            subscribers: n,
            subscriber: i + 1,
            published,
            received: s.measured_received,
            lost: published.saturating_sub(s.measured_received),
            reordered: s.seq.reordered,
            duplicated: s.seq.duplicates,
            one_way_min_ns: sum.as_ref().map(|s| s.min as f64),
            one_way_p50_ns: stat("p50"),
            one_way_p90_ns: stat("p90"),
            one_way_p99_ns: stat("p99"),
            one_way_p99_9_ns: stat("p99.9"),
            one_way_max_ns: sum.as_ref().map(|s| s.max as f64),
            one_way_mean_ns: sum.as_ref().map(|s| s.mean),
            mean_arrival_rank: order.mean_rank[i],
            cpu_per_message_ns: cpu / s.seq.received.max(1) as f64,
            // A fan-out across hosts overwrites these with the agent and its bound.
            host: "local".into(),
            clock_error_bound_ns: Some(0.0),
        });
        totals.received += s.measured_received;
        totals.reordered += s.seq.reordered;
        totals.duplicated += s.seq.duplicates;
        totals.rejects = RejectCounts {
            decode_errors: totals.rejects.decode_errors + s.rejects.decode_errors,
            out_of_run: totals.rejects.out_of_run + s.rejects.out_of_run,
        };
        totals.rx = TransportCounters {
            foreign_frames: totals.rx.foreign_frames + s.transport.foreign_frames,
            malformed_frames: totals.rx.malformed_frames + s.transport.malformed_frames,
            send_dropped: totals.rx.send_dropped + s.transport.send_dropped,
        };
    }
    totals.sent = published * n as u64;
    totals.lost = totals.sent.saturating_sub(totals.received);
    rows.accounting(&totals);
    report.push(accounting_line(&totals) + " (deliveries: published × subscribers)");
    if let Some(s) = Summary::of(pooled.iter().copied()) {
        rows.summary("one_way", &s);
        report.extend(table_line("one way, all subs", &s));
    }
    let deviation = Summary::of(
        p.publications
            .iter()
            .map(|x| x.t_send_ns.saturating_sub(x.deadline_ns)),
    );
    if let Some(s) = &deviation {
        rows.summary("send_deviation", s);
        report.push(table_line("send deviation", s)[1].clone());
    }
    for r in &subscribers {
        report.push(subscriber_line(r));
    }
    // The last subscriber's wait behind the first, message by message.
    if let (Some(s), true) = (Summary::of(order.spread_ns.iter().copied()), n > 1) {
        rows.summary("arrival_spread", &s);
        report.extend(table_line("last − first sub", &s));
    }
    for (stat, v) in spread(&subscribers) {
        let unit = match stat {
            s if s.ends_with("_ns") => "ns",
            "worst_p99_subscriber" => "index",
            "most_lost_by_one_subscriber" => "messages",
            _ => "subscribers",
        };
        rows.push("fanout", stat, v, unit);
    }
    if let Some(line) = spread_line(&subscribers) {
        report.push(line);
    }
    rows.cpu("publisher", p.cpu, p.sent);
    for (i, s) in subs.iter().enumerate() {
        rows.cpu(&format!("subscriber{}", i + 1), s.cpu, s.seq.received);
    }
    rows.push(
        "interval",
        "configured",
        cfg.interval_us as f64 * 1000.0,
        "ns",
    );
    Ok(Seen {
        subscribers,
        samples,
    })
}

/// Each subscriber's mean position in the arrival order (1: first) and, per message, how long
/// after the first subscriber the last one had it — over the messages all subscribers
/// received (mean ranks `None` when no message reached every subscriber).
fn arrival_order(publications: &[loops::Publication], recv: &[Vec<Option<u64>>]) -> ArrivalOrder {
    let n = recv.len();
    let mut spread_ns = Vec::with_capacity(publications.len());
    let mut sums = vec![0u64; n];
    let mut counted = 0u64;
    let mut times = Vec::with_capacity(n);
    for x in publications {
        times.clear();
        for (i, r) in recv.iter().enumerate() {
            match r.get(x.packet_id as usize).copied().flatten() {
                Some(t) => times.push((t, i)),
                None => break,
            }
        }
        if times.len() != n {
            continue;
        }
        times.sort_unstable();
        if let (Some(first), Some(last)) = (times.first(), times.last()) {
            spread_ns.push(last.0 - first.0);
        }
        for (rank, (_, i)) in times.iter().enumerate() {
            sums[*i] += rank as u64 + 1;
        }
        counted += 1;
    }
    ArrivalOrder {
        mean_rank: sums
            .into_iter()
            .map(|s| (counted > 0).then(|| s as f64 / counted as f64))
            .collect(),
        spread_ns,
    }
}

/// Who got each message first, from [`arrival_order`].
struct ArrivalOrder {
    /// Each subscriber's mean position in the arrival order (1: first).
    mean_rank: Vec<Option<f64>>,
    /// Per message every subscriber received: last receive time − first (ns).
    spread_ns: Vec<u64>,
}

/// The spread between subscribers: the best and worst p50 and p99, which subscriber is the
/// worst (by p99), and the most any one subscriber lost.
fn spread(subs: &[SubscriberRow]) -> Vec<(&'static str, f64)> {
    let mut out = vec![("subscribers", subs.len() as f64)];
    let pick = |f: fn(&SubscriberRow) -> Option<f64>| -> Option<(f64, f64, usize)> {
        let vals: Vec<(f64, usize)> = subs
            .iter()
            .filter_map(|s| f(s).map(|v| (v, s.subscriber)))
            .collect();
        let lo = vals.iter().map(|v| v.0).fold(f64::INFINITY, f64::min);
        let hi = vals
            .iter()
            .copied()
            .fold(None, |acc: Option<(f64, usize)>, v| match acc {
                Some(a) if a.0 >= v.0 => Some(a),
                _ => Some(v),
            })?;
        Some((lo, hi.0, hi.1))
    };
    if let Some((lo, hi, _)) = pick(|s| s.one_way_p50_ns) {
        out.extend([
            ("best_p50_ns", lo),
            ("worst_p50_ns", hi),
            ("p50_spread_ns", hi - lo),
        ]);
    }
    if let Some((lo, hi, who)) = pick(|s| s.one_way_p99_ns) {
        out.extend([
            ("best_p99_ns", lo),
            ("worst_p99_ns", hi),
            ("p99_spread_ns", hi - lo),
            ("worst_p99_subscriber", who as f64),
        ]);
    }
    out.push((
        "most_lost_by_one_subscriber",
        subs.iter().map(|s| s.lost).max().unwrap_or(0) as f64,
    ));
    out
}

fn subscriber_line(r: &SubscriberRow) -> String {
    let us = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), fmt_us);
    format!(
        "  subscriber {:>2}: received {:>7}  lost {:>5}  one way p50 {:>8} µs  p99 {:>8} µs  max {:>8} µs  mean arrival rank {}",
        r.subscriber,
        r.received,
        r.lost,
        us(r.one_way_p50_ns),
        us(r.one_way_p99_ns),
        us(r.one_way_max_ns),
        r.mean_arrival_rank
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}")),
    )
}

fn spread_line(subs: &[SubscriberRow]) -> Option<String> {
    let s = spread(subs);
    let get = |k: &str| s.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    Some(format!(
        "  between subscribers: p50 {}–{} µs, p99 {}–{} µs (worst: subscriber {}), most lost by one: {}",
        fmt_us(get("best_p50_ns")?),
        fmt_us(get("worst_p50_ns")?),
        fmt_us(get("best_p99_ns")?),
        fmt_us(get("worst_p99_ns")?),
        get("worst_p99_subscriber")? as usize,
        get("most_lost_by_one_subscriber")? as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publication(id: u64) -> loops::Publication {
        loops::Publication {
            packet_id: id,
            t_send_ns: 1000 * id,
            deadline_ns: 1000 * id,
        }
    }

    #[test]
    fn arrival_ranks_count_only_messages_every_subscriber_got() {
        let pubs: Vec<_> = (0..3).map(publication).collect();
        // Subscriber 0 is first on ids 0 and 1; subscriber 1 missed id 2.
        let recv = vec![
            vec![Some(10), Some(1020), Some(2050)],
            vec![Some(15), Some(1030), None],
        ];
        let order = arrival_order(&pubs, &recv);
        assert_eq!(order.mean_rank, vec![Some(1.0), Some(2.0)]);
        assert_eq!(order.spread_ns, vec![5, 10]);
        let none = vec![vec![None, None, None], vec![Some(1), Some(2), Some(3)]];
        let order = arrival_order(&pubs, &none);
        assert_eq!(order.mean_rank, vec![None, None]);
        assert!(order.spread_ns.is_empty());
    }

    #[test]
    fn spread_names_the_worst_subscriber() {
        let row = |i: usize, p50: f64, p99: f64, lost: u64| SubscriberRow {
            run_id: "r".into(),
            path: "udp".into(),
            encap: "udp".into(),
            payload_bytes: 64,
            subscribers: 3,
            subscriber: i,
            published: 100,
            received: 100 - lost,
            lost,
            reordered: 0,
            duplicated: 0,
            one_way_min_ns: Some(p50 / 2.0),
            one_way_p50_ns: Some(p50),
            one_way_p90_ns: Some(p50),
            one_way_p99_ns: Some(p99),
            one_way_p99_9_ns: Some(p99),
            one_way_max_ns: Some(p99),
            one_way_mean_ns: Some(p50),
            mean_arrival_rank: Some(i as f64),
            cpu_per_message_ns: 1.0,
            host: "local".into(),
            clock_error_bound_ns: Some(0.0),
        };
        let s = spread(&[
            row(1, 10.0, 20.0, 0),
            row(2, 12.0, 50.0, 3),
            row(3, 15.0, 30.0, 1),
        ]);
        let get = |k: &str| s.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        assert_eq!(get("p50_spread_ns"), Some(5.0));
        assert_eq!(get("worst_p99_ns"), Some(50.0));
        assert_eq!(get("worst_p99_subscriber"), Some(2.0));
        assert_eq!(get("most_lost_by_one_subscriber"), Some(3.0));
        assert_eq!(get("subscribers"), Some(3.0));
    }
}
