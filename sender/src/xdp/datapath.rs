//! The `xdp` path's data path: TX frames from the UMEM free list onto the TX ring with kicks and
//! completion reclaim, RX from the RX ring with fill-ring refill and busy-poll / `ppoll` waits,
//! and [`Transport`] for [`XdpTransport`].

use std::io;
use std::time::{Duration, Instant};

use xsk_rs::FrameDesc;

use super::{error_chain, setup, XdpTransport};
use crate::frame::{parse_uadp, Rejected};
use crate::transport::{Transport, TransportCounters, TransportError, XdpStamps};

/// How long a send waits for a free UMEM frame before counting the message as dropped.
const TX_FRAME_WAIT: Duration = Duration::from_millis(10);
/// Kicks a batch send makes at most while waiting for the kernel to drain the TX ring.
const MAX_DRAIN_KICKS: usize = 1024;

impl XdpTransport {
    /// Takes completed TX frames back into the free list.
    fn reclaim(&mut self) {
        // SAFETY: the scratch descriptors are overwritten with completed frames, which the
        // kernel has handed back to us.
        let n = unsafe { self.cq.consume(&mut self.comp_scratch) };
        self.tx_free.extend_from_slice(&self.comp_scratch[..n]);
    }

    /// Wakes the kernel up to transmit what is on the TX ring.
    fn kick(&mut self) -> Result<(), TransportError> {
        // Without need_wakeup every batch is kicked (one sendto per batch in copy mode).
        if !self.need_wakeup || self.tx_q.needs_wakeup() {
            // EAGAIN/EBUSY/ENOBUFS/ENETDOWN are ignored by xsk-rs: the frames stay on the ring
            // (or are completed unsent) and the next kick continues.
            self.tx_q
                .wakeup()
                .map_err(|e| TransportError::io("sendto (AF_XDP TX kick)", e))?;
        }
        Ok(())
    }

    /// A free UMEM frame for sending, waiting briefly for completions if none is free.
    fn acquire_tx_frame(&mut self) -> Result<Option<FrameDesc>, TransportError> {
        if self.tx_free.is_empty() {
            self.reclaim();
        }
        if self.tx_free.is_empty() {
            let deadline = Instant::now() + TX_FRAME_WAIT;
            while self.tx_free.is_empty() && Instant::now() < deadline {
                self.kick()?;
                self.reclaim();
            }
        }
        Ok(self.tx_free.pop())
    }

    /// Writes the frame carrying `msg` into the UMEM frame `desc`.
    fn write_frame(&self, desc: &mut FrameDesc, msg: &[u8]) -> Result<(), TransportError> {
        let len = self.builder.frame_len(msg.len());
        // SAFETY: `desc` came from the free list: neither the kernel nor another descriptor
        // refers to this frame now.
        let mut data = unsafe { self.umem.data_mut(desc) };
        data.cursor().set_pos(len);
        let out = data.contents_mut();
        self.builder
            .build(out, msg)
            .map_err(|e| setup(format!("building an AF_XDP frame: {e}")))?;
        Ok(())
    }

    fn check_len(&self, msg: &[u8]) -> Result<(), TransportError> {
        if msg.len() > self.max_len {
            return Err(TransportError::MessageTooLarge {
                len: msg.len(),
                max: self.max_len,
            });
        }
        Ok(())
    }

    /// Returns an RX frame to the fill ring (or the backlog if the ring has no room).
    fn refill(&mut self, desc: FrameDesc) {
        if !self.fill_backlog.is_empty() {
            // SAFETY: backlog frames are ours (consumed from the RX ring, data copied out).
            let n = unsafe { self.fq.produce(&self.fill_backlog) };
            if n > 0 {
                self.fill_backlog.clear();
            }
        }
        // SAFETY: as above.
        if unsafe { self.fq.produce_one(&desc) } == 0 {
            self.fill_backlog.push(desc);
        }
    }

    /// Waits until the RX ring has entries or `deadline` passes; false on timeout.
    fn wait_rx(&mut self, deadline: Instant) -> Result<bool, TransportError> {
        loop {
            if self.rx_q.nb_avail(1) > 0 {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            if !self.busy_poll.is_zero() {
                let spin_until = (now + self.busy_poll).min(deadline);
                while Instant::now() < spin_until {
                    if self.rx_q.nb_avail(1) > 0 {
                        return Ok(true);
                    }
                    std::hint::spin_loop();
                }
                if Instant::now() >= deadline {
                    return Ok(false);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = libc::timespec {
                tv_sec: left.as_secs().min(i32::MAX as u64) as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, a valid timespec, no signal mask change.
            let r = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(TransportError::io("ppoll on the AF_XDP socket", e));
                }
            } else if r == 0 {
                return Ok(self.rx_q.nb_avail(1) > 0);
            }
        }
    }
}

impl Transport for XdpTransport {
    fn describe(&self) -> String {
        let vlan = match self.vlan {
            Some(t) => format!("vlan {} pcp {}", t.id, t.pcp),
            None => "untagged".into(),
        };
        format!(
            "xdp (AF_XDP {} via xsk-rs, XDP program in {} mode) on {} queue {} encap {}, {vlan}, \
             ring {}, UMEM frame {} B, batch {}, busy poll {} us",
            if self.zero_copy {
                "zero-copy"
            } else {
                "copy mode"
            },
            self.mode,
            self.link.ifname,
            self.queue,
            self.encap,
            self.ring,
            self.frame_size,
            self.batch,
            self.busy_poll.as_micros(),
        )
    }

    fn max_message_len(&self) -> usize {
        self.max_len
    }

    fn send(&mut self, msg: &[u8]) -> Result<(), TransportError> {
        self.check_len(msg)?;
        self.reclaim();
        let Some(mut desc) = self.acquire_tx_frame()? else {
            self.counters.send_dropped += 1;
            return Ok(());
        };
        if let Err(e) = self.write_frame(&mut desc, msg) {
            self.tx_free.push(desc);
            return Err(e);
        }
        // SAFETY: the frame is written and ours; from now on the kernel owns it until it comes
        // back on the completion ring.
        if unsafe { self.tx_q.produce_one(&desc) } == 0 {
            self.tx_free.push(desc);
            self.counters.send_dropped += 1;
        }
        self.kick()
    }

    fn send_batch(&mut self, msgs: &[&[u8]]) -> Result<usize, TransportError> {
        if let Some(m) = msgs.iter().find(|m| m.len() > self.max_len) {
            return Err(TransportError::MessageTooLarge {
                len: m.len(),
                max: self.max_len,
            });
        }
        let mut sent = 0;
        for chunk in msgs.chunks(self.batch) {
            self.reclaim();
            self.tx_batch.clear();
            for m in chunk {
                let Some(mut desc) = self.acquire_tx_frame()? else {
                    self.counters.send_dropped += 1;
                    continue;
                };
                if let Err(e) = self.write_frame(&mut desc, m) {
                    self.tx_free.push(desc);
                    self.tx_free.extend_from_slice(&self.tx_batch);
                    return Err(e);
                }
                self.tx_batch.push(desc);
            }
            // SAFETY: the frames are written and ours; the kernel owns them from here on.
            let n = unsafe { self.tx_q.produce(&self.tx_batch) };
            if n < self.tx_batch.len() {
                self.counters.send_dropped += (self.tx_batch.len() - n) as u64;
                self.tx_free.extend_from_slice(&self.tx_batch[n..]);
            }
            sent += n;
            // Copy mode takes at most 32 descriptors per kick: kick until the ring is drained.
            self.kick()?;
            let mut kicks = 1;
            while self.tx_q.nb_free(self.ring) < self.ring && kicks < MAX_DRAIN_KICKS {
                self.kick()?;
                self.reclaim();
                kicks += 1;
            }
        }
        self.reclaim();
        Ok(sent)
    }

    fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, TransportError> {
        let deadline = Instant::now() + self.recv_timeout;
        loop {
            while self.rx_next < self.rx_filled {
                let desc = self.rx_descs[self.rx_next];
                self.rx_next += 1;
                // SAFETY: the descriptor came from the RX ring and is not on the fill ring yet.
                let data = unsafe { self.umem.data(&desc) };
                let got = match parse_uadp(data.contents(), self.encap, &self.filter) {
                    Ok(uadp) => {
                        let n = uadp.len().min(buf.len());
                        buf[..n].copy_from_slice(&uadp[..n]);
                        Some(n)
                    }
                    Err(Rejected::Foreign) => {
                        self.counters.foreign_frames += 1;
                        None
                    }
                    Err(Rejected::Malformed) => {
                        self.counters.malformed_frames += 1;
                        None
                    }
                };
                self.refill(desc);
                if got.is_some() {
                    return Ok(got);
                }
            }
            // SAFETY: the scratch descriptors are overwritten with received frames.
            let n = unsafe { self.rx_q.consume(&mut self.rx_descs) };
            if n > 0 {
                self.rx_next = 0;
                self.rx_filled = n;
                continue;
            }
            if !self.wait_rx(deadline)? {
                return Ok(None);
            }
        }
    }

    fn recv_timeout(&self) -> Duration {
        self.recv_timeout
    }

    fn set_recv_timeout(&mut self, timeout: Duration) -> Result<(), TransportError> {
        self.recv_timeout = timeout;
        Ok(())
    }

    fn counters(&self) -> TransportCounters {
        self.counters
    }

    fn xdp_stamps(&mut self) -> Result<Option<XdpStamps>, TransportError> {
        if !self.program.config().has(uadpbench_common::XDP_FLAG_STAMP) {
            return Ok(None);
        }
        let stamps = self.program.stamps().map_err(|e| setup(error_chain(&e)))?;
        let c = self.program_counters()?;
        let (run_count, run_time_ns) = self
            .program
            .program_info()
            .map_or((0, 0), |i| (i.run_count(), i.run_time().as_nanos() as u64));
        Ok(Some(XdpStamps {
            stamps,
            stamped: c.get(uadpbench_common::XdpCounter::Stamped),
            overwritten: c.get(uadpbench_common::XdpCounter::StampOverwritten),
            run_count,
            run_time_ns,
        }))
    }
}
