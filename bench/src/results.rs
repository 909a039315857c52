//! Result files of a run: tidy CSV tables and meta.json, each written to a temporary name and
//! renamed into place, so that an interrupted run never leaves a half-written file.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

/// Writes `path` atomically: `write` fills `path.tmp`, which is flushed, synced and renamed.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = tmp_name(path);
    let file = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = BufWriter::new(file);
    write(&mut w)?;
    w.flush()
        .with_context(|| format!("writing {}", tmp.display()))?;
    let file = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", tmp.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes rows as a CSV file with a header, atomically.
pub fn write_csv<T: Serialize>(path: &Path, rows: &[T]) -> anyhow::Result<()> {
    write_atomically(path, |w| {
        let mut c = csv::Writer::from_writer(w);
        for r in rows {
            c.serialize(r)
                .with_context(|| format!("serialising a row of {}", path.display()))?;
        }
        c.flush()?;
        Ok(())
    })
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    write_atomically(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
        Ok(())
    })
}

/// One row of summary.csv (long format: one metric statistic per row).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryRow {
    pub run_id: String,
    pub path: String,
    pub encap: String,
    pub mode: String,
    pub payload_bytes: usize,
    pub metric: String,
    pub statistic: String,
    pub value: f64,
    pub unit: String,
}

/// One row of samples.csv: one message.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SampleRow {
    pub run_id: String,
    /// UADP NetworkMessage SequenceNumber (16 bits, wraps).
    pub seq: u16,
    pub packet_id: u64,
    pub t_send_ns: u64,
    /// Empty when the message was lost.
    pub t_recv_ns: Option<u64>,
    /// Ping-pong only.
    pub rtt_ns: Option<u64>,
    /// Cyclic only.
    pub one_way_ns: Option<u64>,
    /// Cyclic only: send time minus deadline.
    pub send_deviation_ns: Option<u64>,
    pub lost: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_is_written_whole_and_tmp_is_gone() {
        let dir =
            std::env::temp_dir().join(format!("uadpbench-results-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("summary.csv");
        let row = SummaryRow {
            run_id: "r".into(),
            path: "udp".into(),
            encap: "udp".into(),
            mode: "pingpong".into(),
            payload_bytes: 64,
            metric: "rtt".into(),
            statistic: "p50".into(),
            value: 1.5,
            unit: "ns".into(),
        };
        write_csv(&path, &[row.clone(), row]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("run_id,path,encap,mode,payload_bytes,metric,statistic,value,unit\n")
        );
        assert_eq!(text.lines().count(), 3);
        assert!(!tmp_name(&path).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
