//! The layer tracks of a trace (process "packet layers"): one track per stack layer a packet
//! crossed, each packet a slice on every layer from its stamp there to its next stamp, and flow
//! arrows linking one packet's stamps in time order.

use std::collections::{BTreeSet, HashMap};

use serde_json::{json, Value};
use uadpbench_probes::{LayerId, ProbeReport};

use super::build::Window;
use super::{complete, meta, us, PID_LAYERS};

/// Thread ids of the user-space ends on the layer process (layer tracks are index + 1).
const TID_USER_SEND: u64 = 0;
const TID_USER_RECV: u64 = 10_000;

/// Layers of system calls made by benchmark threads (their tids are benchmark threads).
const THREAD_LAYERS: [LayerId; 7] = [
    LayerId::LibcSendto,
    LayerId::SysEnterSendto,
    LayerId::SockSendLength,
    LayerId::SysExitSendto,
    LayerId::SockRecvLength,
    LayerId::SysExitRecvfrom,
    LayerId::LibcRecvfrom,
];

/// A point of a packet's way on one track.
#[derive(Debug, Clone)]
struct Stamp {
    t_ns: u64,
    tid: u64,
    packet_id: u64,
    name: String,
    args: Value,
}

/// What the layer tracks found out about the run's threads.
pub(super) struct LayerTracks {
    /// The layer tracks (thread ids on the layer process: layer index + 1).
    pub(super) layer_tids: BTreeSet<u64>,
    /// Threads that made a benchmark system call.
    pub(super) thread_tids: BTreeSet<u32>,
    /// The thread that made the first send system call.
    pub(super) sender_tid: Option<u32>,
}

/// Pushes the layer tracks of the packets in `w` onto `events`.
pub(super) fn layer_tracks(
    w: &Window<'_>,
    report: &ProbeReport,
    events: &mut Vec<Value>,
) -> LayerTracks {
    let (measured, packets, t0, t1) = (&w.measured, &w.packets, w.t0, w.t1);
    events.push(meta(
        "process_name",
        PID_LAYERS,
        0,
        json!({"name": "packet layers (send path down, receive path up)"}),
    ));
    events.push(meta(
        "process_sort_index",
        PID_LAYERS,
        0,
        json!({"sort_index": 0}),
    ));
    let name_of: HashMap<u16, &str> = report
        .layers
        .iter()
        .map(|s| (s.layer_index as u16, s.name))
        .collect();
    let mut layer_tids: BTreeSet<u64> = BTreeSet::new();
    let mut stamps: Vec<Stamp> = Vec::new();
    let mut thread_tids: BTreeSet<u32> = BTreeSet::new();
    let mut sender_tid: Option<u32> = None;
    for (id, evs) in packets {
        if let Some(s) = measured.get(id) {
            stamps.push(Stamp {
                t_ns: s.t_send_ns,
                tid: TID_USER_SEND,
                packet_id: *id,
                name: format!("pkt {id}"),
                args: json!({"packet_id": id, "point": "user_send"}),
            });
            if let Some(r) = s.t_recv_ns {
                stamps.push(Stamp {
                    t_ns: r,
                    tid: TID_USER_RECV,
                    packet_id: *id,
                    name: format!("pkt {id}"),
                    args: json!({"packet_id": id, "point": "user_recv"}),
                });
            }
        }
        for e in evs {
            let tid = u64::from(e.layer_index) + 1;
            layer_tids.insert(tid);
            if THREAD_LAYERS.contains(&e.layer) && e.tid != 0 {
                thread_tids.insert(e.tid);
                if e.crossing == 0
                    && matches!(e.layer, LayerId::SysEnterSendto | LayerId::LibcSendto)
                    && sender_tid.is_none()
                {
                    sender_tid = Some(e.tid);
                }
            }
            stamps.push(Stamp {
                t_ns: e.t_ns,
                tid,
                packet_id: *id,
                name: if e.crossing == 0 {
                    format!("pkt {id}")
                } else {
                    format!("pkt {id} (echo)")
                },
                args: json!({"packet_id": id, "layer": e.layer.name(), "crossing": e.crossing,
                             "cpu": e.cpu, "tid": e.tid, "t_ns": e.t_ns}),
            });
        }
    }
    let has_user = !measured.is_empty();
    if has_user {
        events.push(meta(
            "thread_name",
            PID_LAYERS,
            TID_USER_SEND,
            json!({"name": "user send"}),
        ));
        events.push(meta(
            "thread_sort_index",
            PID_LAYERS,
            TID_USER_SEND,
            json!({"sort_index": 0}),
        ));
        events.push(meta(
            "thread_name",
            PID_LAYERS,
            TID_USER_RECV,
            json!({"name": "user receive"}),
        ));
        events.push(meta(
            "thread_sort_index",
            PID_LAYERS,
            TID_USER_RECV,
            json!({"sort_index": TID_USER_RECV}),
        ));
    }
    for &tid in &layer_tids {
        let idx = (tid - 1) as u16;
        let name = name_of.get(&idx).copied().unwrap_or("unknown");
        events.push(meta(
            "thread_name",
            PID_LAYERS,
            tid,
            json!({"name": format!("{idx:02} {name}")}),
        ));
        events.push(meta(
            "thread_sort_index",
            PID_LAYERS,
            tid,
            json!({"sort_index": tid}),
        ));
    }
    // Slice ends: the packet's next stamp, but never past the next slice of the same track
    // (slices of one track must not overlap).
    let mut next_on_track: HashMap<usize, u64> = HashMap::new();
    {
        let mut per_track: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, s) in stamps.iter().enumerate() {
            per_track.entry(s.tid).or_default().push(i);
        }
        for v in per_track.values_mut() {
            v.sort_by_key(|&i| stamps[i].t_ns);
            for w in v.windows(2) {
                next_on_track.insert(w[0], stamps[w[1]].t_ns);
            }
        }
    }
    let mut per_packet: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, s) in stamps.iter().enumerate() {
        per_packet.entry(s.packet_id).or_default().push(i);
    }
    let mut layer_events = 0usize;
    let mut packet_ids: Vec<u64> = per_packet.keys().copied().collect();
    packet_ids.sort_unstable();
    for id in packet_ids {
        let mut idx = per_packet.remove(&id).unwrap_or_default();
        idx.sort_by_key(|&i| (stamps[i].t_ns, stamps[i].tid));
        let n = idx.len();
        for (k, &i) in idx.iter().enumerate() {
            let s = &stamps[i];
            let packet_next = idx.get(k + 1).map(|&j| stamps[j].t_ns);
            let track_next = next_on_track.get(&i).copied();
            let end = match (packet_next, track_next) {
                (Some(p), Some(t)) => p.min(t),
                (Some(p), None) => p,
                (None, Some(t)) => t.min(s.t_ns + 1_000),
                (None, None) => s.t_ns + 1_000,
            }
            .min(t1)
            .max(s.t_ns);
            let ts = us(s.t_ns, t0);
            events.push(complete(
                &s.name,
                "packet",
                PID_LAYERS,
                s.tid,
                ts,
                us(end, t0) - ts,
                s.args.clone(),
            ));
            layer_events += 1;
            if n > 1 {
                let ph = match k {
                    0 => "s",
                    k if k + 1 == n => "f",
                    _ => "t",
                };
                events.push(
                    json!({"name": "packet", "cat": "packet", "ph": ph, "id": id,
                    "bp": "e", "ts": ts, "pid": PID_LAYERS, "tid": s.tid}),
                );
            }
        }
    }
    let _ = layer_events;
    LayerTracks {
        layer_tids,
        thread_tids,
        sender_tid,
    }
}
