use super::*;
use crate::bench_message::BenchCodec;
use std::collections::{HashSet, VecDeque};

/// An in-memory path for the initiator's bookkeeping: every message sent comes back as its
/// echo unless its id is in `drop`; ids in `garbage_before` are preceded by bytes that do
/// not decode, ids in `late_echo_of` (id → earlier id) by an echo of an earlier message,
/// ids in `duplicate` come back twice. An empty queue is a receive timeout.
struct Scripted {
    codec: BenchCodec,
    queue: VecDeque<Vec<u8>>,
    sent: u64,
    drop: HashSet<u64>,
    garbage_before: HashSet<u64>,
    late_echo_of: Vec<(u64, u64)>,
    duplicate: HashSet<u64>,
    held: Vec<(u64, Vec<u8>)>,
}

impl Transport for Scripted {
    fn describe(&self) -> String {
        "scripted".into()
    }
    fn max_message_len(&self) -> usize {
        1500
    }
    fn send(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        let id = self.sent;
        self.sent += 1;
        if self.garbage_before.contains(&id) {
            self.queue.push_back(vec![0xff; 20]);
        }
        if let Some((_, earlier)) = self.late_echo_of.iter().find(|(at, _)| *at == id) {
            if let Some((_, m)) = self.held.iter().find(|(h, _)| h == earlier) {
                self.queue.push_back(m.clone());
            }
        }
        if self.drop.contains(&id) {
            self.held.push((id, msg.to_vec()));
        } else {
            self.queue.push_back(msg.to_vec());
            if self.duplicate.contains(&id) {
                self.queue.push_back(msg.to_vec());
            }
        }
        Ok(())
    }
    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, TransportError> {
        Ok(self.queue.pop_front().map(|m| {
            buf[..m.len()].copy_from_slice(&m);
            m.len()
        }))
    }
    fn recv_timeout(&self) -> Duration {
        Duration::from_millis(1)
    }
    fn set_recv_timeout(&mut self, _: Duration) -> Result<(), TransportError> {
        Ok(())
    }
    fn counters(&self) -> TransportCounters {
        TransportCounters::default()
    }
}

fn scripted() -> Scripted {
    Scripted {
        codec: BenchCodec::new(2234, 100, 64).unwrap(),
        queue: VecDeque::new(),
        sent: 0,
        drop: HashSet::new(),
        garbage_before: HashSet::new(),
        late_echo_of: Vec::new(),
        duplicate: HashSet::new(),
        held: Vec::new(),
    }
}

#[test]
fn ping_pong_accounts_for_loss_late_echoes_duplicates_and_garbage() {
    let mut t = scripted();
    t.drop = [12, 30].into();
    t.garbage_before = [15].into();
    // The echo of 12, given up on, arrives while 20 waits for its own: late, not 20's.
    t.late_echo_of = vec![(20, 12)];
    t.duplicate = [25].into();
    let mut codec = t.codec;
    let cfg = PingPongConfig {
        warmup: 10,
        count: 40,
        timeout: Duration::from_millis(1),
    };
    let r = ping_pong(&mut t, &mut codec, &cfg, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.round_trips.len(), 40, "warm-up excluded");
    assert_eq!(r.round_trips[0].packet_id, 10);
    let lost: Vec<u64> = r
        .round_trips
        .iter()
        .filter(|x| x.t_recv_ns.is_none())
        .map(|x| x.packet_id)
        .collect();
    assert_eq!(lost, [12, 30]);
    assert!(r
        .round_trips
        .iter()
        .all(|x| x.t_recv_ns.is_none_or(|rcv| rcv >= x.t_send_ns)));
    assert_eq!(r.rejects.decode_errors, 1);
    assert_eq!(r.late, 1, "the echo of 12 after it was counted lost");
    // 25's second copy is read while 26 waits: a duplicate, not late and not 26's echo.
    assert!(r
        .round_trips
        .iter()
        .any(|x| x.packet_id == 26 && x.t_recv_ns.is_some()));
    assert_eq!(r.seq.duplicates, 1, "{:?}", r.seq);
}

#[test]
fn ping_pong_stops_when_asked() {
    let mut t = scripted();
    let mut codec = t.codec;
    let cfg = PingPongConfig {
        warmup: 0,
        count: 1_000,
        timeout: Duration::from_millis(1),
    };
    let stop = AtomicBool::new(true);
    let r = ping_pong(&mut t, &mut codec, &cfg, &stop).unwrap();
    assert!(r.round_trips.is_empty());
    assert_eq!(t.sent, 0);
}
