//! NIC hardware timestamps: switching an interface's hardware stamping on for every packet
//! (`SIOCSHWTSTAMP`, what `hwstamp_ctl -t 1 -r 1` does) for the duration of a run, and the
//! offset between the NIC's PTP hardware clock (PHC, `/dev/ptp<N>`) and CLOCK_REALTIME
//! (`PTP_SYS_OFFSET_EXTENDED`), which puts the NIC's stamps on the host's clock axis.
//!
//! Hardware stamps are raw PHC time (`SOF_TIMESTAMPING_RAW_HARDWARE`). Two NICs' stamps are
//! comparable directly only when their PHCs are synchronised to each other (`ptp4l` on both,
//! one PTP domain); one NIC's stamps are comparable with its host's stamps through
//! [`phc_realtime_offset`].

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::timestamping::timestamping_caps;

/// Why hardware stamping cannot be used on an interface; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum HwStampError {
    /// `ETHTOOL_GET_TS_INFO` failed.
    #[error("cannot read the timestamping capabilities of `{ifname}` ({source}); check the name with `ip link`")]
    Caps {
        ifname: String,
        #[source]
        source: io::Error,
    },
    /// The interface cannot stamp every packet in hardware (veth, most virtual NICs, NICs
    /// whose receive filters are PTP-only).
    #[error("`{ifname}` cannot timestamp every packet in hardware ({what}; `ethtool -T {ifname}` shows its capabilities): software stamps only")]
    Unsupported { ifname: String, what: String },
    /// `SIOCSHWTSTAMP` was refused or did not give the receive filter `all`.
    #[error("cannot switch hardware timestamping on for every packet on `{ifname}`: {why}")]
    Enable { ifname: String, why: String },
}

/// `struct hwtstamp_config` values (linux/net_tstamp.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HwConfig {
    pub tx_type: i32,
    pub rx_filter: i32,
}

impl HwConfig {
    /// Transmit stamps on and every received packet stamped.
    pub const EVERY_PACKET: HwConfig = HwConfig {
        tx_type: libc::HWTSTAMP_TX_ON as i32,
        rx_filter: libc::HWTSTAMP_FILTER_ALL as i32,
    };
}

/// Hardware stamping switched on for every packet on one interface; the configuration found
/// before is put back when this is dropped (unless it already stamped every packet).
#[derive(Debug)]
pub struct HardwareStamping {
    ifname: String,
    sock: OwnedFd,
    /// The configuration to put back; `None` when nothing was changed.
    restore: Option<HwConfig>,
    /// The PTP hardware clock of the interface.
    pub phc_index: i32,
}

fn ifreq_for(ifname: &str, config: &mut libc::hwtstamp_config) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(ifname.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_data = (config as *mut libc::hwtstamp_config).cast();
    req
}

fn hwtstamp_ioctl(
    sock: &OwnedFd,
    ifname: &str,
    request: libc::c_ulong,
    config: HwConfig,
) -> io::Result<HwConfig> {
    let mut raw = libc::hwtstamp_config {
        flags: 0,
        tx_type: config.tx_type,
        rx_filter: config.rx_filter,
    };
    let mut req = ifreq_for(ifname, &mut raw);
    // SAFETY: SIOC[GS]HWTSTAMP read ifr_name and read/write one struct hwtstamp_config at
    // ifr_data: `raw` is that struct, alive for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request as _, &mut req) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(HwConfig {
        tx_type: raw.tx_type,
        rx_filter: raw.rx_filter,
    })
}

impl HardwareStamping {
    /// Switches `ifname` (in the calling thread's network namespace) to stamp every packet
    /// in hardware: transmit `on`, receive filter `all`. Needs CAP_NET_ADMIN. Refused, with
    /// the reason, when the interface cannot (see [`HwStampError`]).
    pub fn enable(ifname: &str) -> Result<Self, HwStampError> {
        let caps = timestamping_caps(ifname).map_err(|source| HwStampError::Caps {
            ifname: ifname.into(),
            source,
        })?;
        if !caps.hardware_for_every_packet() {
            let what = if !(caps.hardware_tx && caps.hardware_rx && caps.hardware_raw) {
                "no hardware transmit/receive stamps".to_owned()
            } else {
                format!(
                    "transmit types [{}], receive filters [{}]: it needs `on` and `all`",
                    caps.tx_types.join(", "),
                    caps.rx_filters.join(", ")
                )
            };
            return Err(HwStampError::Unsupported {
                ifname: ifname.into(),
                what,
            });
        }
        let Some(phc_index) = caps.phc_index else {
            return Err(HwStampError::Unsupported {
                ifname: ifname.into(),
                what: "no PTP hardware clock to read its stamps against".into(),
            });
        };
        let enable_err = |why: String| HwStampError::Enable {
            ifname: ifname.into(),
            why,
        };
        // SAFETY: plain socket(2); the descriptor is owned right away.
        let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(enable_err(io::Error::last_os_error().to_string()));
        }
        // SAFETY: `raw` is a fresh descriptor nobody else owns.
        let sock = unsafe { OwnedFd::from_raw_fd(raw) };
        // Older drivers have no SIOCGHWTSTAMP: then the previous state is unknown and "off"
        // is put back.
        let before = hwtstamp_ioctl(
            &sock,
            ifname,
            libc::SIOCGHWTSTAMP,
            HwConfig {
                tx_type: 0,
                rx_filter: 0,
            },
        )
        .unwrap_or(HwConfig {
            tx_type: libc::HWTSTAMP_TX_OFF as i32,
            rx_filter: libc::HWTSTAMP_FILTER_NONE as i32,
        });
        if before == HwConfig::EVERY_PACKET {
            return Ok(HardwareStamping {
                ifname: ifname.into(),
                sock,
                restore: None,
                phc_index,
            });
        }
        let got = hwtstamp_ioctl(&sock, ifname, libc::SIOCSHWTSTAMP, HwConfig::EVERY_PACKET)
            .map_err(|e| {
                enable_err(format!(
                    "SIOCSHWTSTAMP: {e} (it needs CAP_NET_ADMIN; a running ptp4l may hold the NIC's configuration)"
                ))
            })?;
        let stamping = HardwareStamping {
            ifname: ifname.into(),
            sock,
            restore: Some(before),
            phc_index,
        };
        if got != HwConfig::EVERY_PACKET {
            // Dropping `stamping` puts the old configuration back.
            return Err(enable_err(format!(
                "the driver answered transmit type {} and receive filter {} instead of on/all",
                got.tx_type, got.rx_filter
            )));
        }
        Ok(stamping)
    }

    /// The interface whose stamping this holds.
    pub fn interface(&self) -> &str {
        &self.ifname
    }

    /// Whether this changed the interface's configuration (and puts it back when dropped).
    pub fn changed(&self) -> Option<HwConfig> {
        self.restore
    }
}

impl Drop for HardwareStamping {
    fn drop(&mut self) {
        if let Some(before) = self.restore {
            if let Err(e) = hwtstamp_ioctl(&self.sock, &self.ifname, libc::SIOCSHWTSTAMP, before) {
                tracing::warn!(
                    "could not put back the hardware timestamping configuration of {} (transmit type {}, receive filter {}): {e}; set it with `hwstamp_ctl -i {} -t {} -r {}`",
                    self.ifname, before.tx_type, before.rx_filter, self.ifname, before.tx_type, before.rx_filter
                );
            }
        }
    }
}

/// PHC − CLOCK_REALTIME of one PTP hardware clock, from the tightest of the kernel's
/// `PTP_SYS_OFFSET_EXTENDED` samples (system time read just before and just after the PHC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhcOffset {
    /// `/dev/ptp<N>`.
    pub phc_index: i32,
    /// PHC time − CLOCK_REALTIME (ns): a PHC stamp minus this is on the realtime axis.
    pub phc_minus_realtime_ns: i64,
    /// Half the width of the tightest sample's system-time window.
    pub uncertainty_ns: u64,
}

fn ptp_ns(t: &libc::ptp_clock_time) -> i128 {
    i128::from(t.sec) * 1_000_000_000 + i128::from(t.nsec)
}

/// The tightest sample of `PTP_SYS_OFFSET_EXTENDED` (`[system before, PHC, system after]`
/// each) as (PHC − system midpoint, half window).
fn tightest(samples: &[[libc::ptp_clock_time; 3]]) -> Option<(i64, u64)> {
    samples
        .iter()
        .filter_map(|[before, phc, after]| {
            let (b, p, a) = (ptp_ns(before), ptp_ns(phc), ptp_ns(after));
            let width = a - b;
            (width >= 0).then(|| {
                let offset = p - (b + width / 2);
                (i64::try_from(offset).ok(), (width / 2) as u64)
            })
        })
        .filter_map(|(o, half)| Some((o?, half)))
        .min_by_key(|&(_, half)| half)
}

/// Measures PHC − CLOCK_REALTIME of `/dev/ptp<phc_index>` (read access to the device needed).
pub fn phc_realtime_offset(phc_index: i32) -> io::Result<PhcOffset> {
    let path = format!("/dev/ptp{phc_index}");
    let dev = File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot open {path}: {e}")))?;
    // SAFETY: plain old data; all zeros is a valid (empty) request.
    let mut req: libc::ptp_sys_offset_extended = unsafe { std::mem::zeroed() };
    req.n_samples = libc::PTP_MAX_SAMPLES;
    // clockid 0 (CLOCK_REALTIME) is what kernels without the clockid field read as well.
    // SAFETY: PTP_SYS_OFFSET_EXTENDED reads n_samples and writes that many samples into
    // `req`, which is the struct the request number was made for, alive for the call.
    let rc = unsafe { libc::ioctl(dev.as_raw_fd(), libc::PTP_SYS_OFFSET_EXTENDED, &mut req) };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("PTP_SYS_OFFSET_EXTENDED on {path}: {e}"),
        ));
    }
    let n = (req.n_samples as usize).min(req.ts.len());
    let (phc_minus_realtime_ns, uncertainty_ns) = tightest(&req.ts[..n]).ok_or_else(|| {
        io::Error::other(format!(
            "{path} returned no usable PTP_SYS_OFFSET_EXTENDED sample"
        ))
    })?;
    Ok(PhcOffset {
        phc_index,
        phc_minus_realtime_ns,
        uncertainty_ns,
    })
}

/// A run's readings of one PHC against CLOCK_REALTIME, before and after its timed part: the
/// mean puts hardware stamps on the realtime axis; the change between the two is the PHC's
/// drift against the system clock over the run (zero when `phc2sys` ties them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhcReadings {
    pub phc_index: i32,
    pub before: Option<PhcOffset>,
    pub after: Option<PhcOffset>,
    /// Why a reading failed (the hardware stamps then stay on the PHC's own axis).
    pub error: Option<String>,
}

impl PhcReadings {
    /// Reads `/dev/ptp<phc_index>` once (before the timed part).
    pub fn start(phc_index: i32) -> Self {
        let mut r = PhcReadings {
            phc_index,
            before: None,
            after: None,
            error: None,
        };
        match phc_realtime_offset(phc_index) {
            Ok(o) => r.before = Some(o),
            Err(e) => r.error = Some(e.to_string()),
        }
        r
    }

    /// Reads it again (after the timed part).
    pub fn finish(&mut self) {
        match phc_realtime_offset(self.phc_index) {
            Ok(o) => self.after = Some(o),
            Err(e) => {
                self.error.get_or_insert(e.to_string());
            }
        }
    }

    /// PHC − CLOCK_REALTIME over the run (the mean of both readings) and its error bound:
    /// the readings' uncertainties plus half their difference (drift during the run).
    pub fn offset(&self) -> Option<(i64, u64)> {
        let (b, a) = (self.before?, self.after?);
        let mean = b.phc_minus_realtime_ns / 2 + a.phc_minus_realtime_ns / 2;
        let drift = (a.phc_minus_realtime_ns - b.phc_minus_realtime_ns).unsigned_abs() / 2;
        Some((mean, b.uncertainty_ns.max(a.uncertainty_ns) + drift))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ns: i64) -> libc::ptp_clock_time {
        libc::ptp_clock_time {
            sec: ns.div_euclid(1_000_000_000),
            nsec: ns.rem_euclid(1_000_000_000) as u32,
            reserved: 0,
        }
    }

    #[test]
    fn the_tightest_sample_gives_the_offset() {
        // PHC runs 37 s + 250 ns ahead of the system clock; the second sample's window is
        // the narrowest (200 ns), the third is malformed (after < before).
        let ahead = 37_000_000_250;
        let samples = [
            [t(1_000_000_000), t(1_000_000_900 + ahead), t(1_000_002_000)],
            [t(2_000_000_000), t(2_000_000_100 + ahead), t(2_000_000_200)],
            [t(3_000_000_500), t(3_000_000_000 + ahead), t(3_000_000_000)],
        ];
        assert_eq!(tightest(&samples), Some((ahead, 100)));
        assert_eq!(tightest(&samples[2..]), None);
        assert_eq!(tightest(&[]), None);
    }

    #[test]
    fn the_ioctl_struct_is_the_kernels() {
        // linux/ptp_clock.h: n_samples, clockid, rsv[2], then 25 × 3 × 16-byte times.
        assert_eq!(
            std::mem::size_of::<libc::ptp_sys_offset_extended>(),
            16 + 25 * 3 * 16
        );
        assert_eq!(std::mem::size_of::<libc::hwtstamp_config>(), 12);
    }

    #[test]
    fn veth_and_loopback_are_refused_with_the_reason() {
        match HardwareStamping::enable("lo") {
            Err(HwStampError::Unsupported { what, .. }) => {
                assert!(what.contains("no hardware"), "{what}")
            }
            other => panic!("lo cannot stamp in hardware: {other:?}"),
        }
        assert!(matches!(
            HardwareStamping::enable("no-such-if0"),
            Err(HwStampError::Caps { .. })
        ));
    }

    #[test]
    fn a_missing_phc_is_a_clear_error() {
        let e = phc_realtime_offset(4095).expect_err("no /dev/ptp4095");
        assert!(e.to_string().contains("/dev/ptp4095"), "{e}");
        let mut r = PhcReadings::start(4095);
        r.finish();
        assert!(r.offset().is_none() && r.error.is_some(), "{r:?}");
    }

    #[test]
    fn readings_give_the_mean_offset_and_a_bound_with_the_drift() {
        let at = |o, u| PhcOffset {
            phc_index: 0,
            phc_minus_realtime_ns: o,
            uncertainty_ns: u,
        };
        let r = PhcReadings {
            phc_index: 0,
            before: Some(at(1_000, 40)),
            after: Some(at(1_600, 70)),
            error: None,
        };
        // Mean 1 300; bound: the wider reading (70) plus half the drift (300).
        assert_eq!(r.offset(), Some((1_300, 370)));
        assert_eq!(PhcReadings { after: None, ..r }.offset(), None);
    }
}
