//! Result files of a run: tidy CSV tables and meta.json, each written to a temporary name and
//! renamed into place, so that an interrupted run never leaves a half-written file.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

/// Writes `path` atomically: `write` fills `path.tmp`, which is flushed, synced and renamed.
/// On any error (a full disk, say) the partial `path.tmp` is removed.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = tmp_name(path);
    let r = write_tmp_then_rename(path, &tmp, write);
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

fn write_tmp_then_rename(
    path: &Path,
    tmp: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = BufWriter::new(file);
    write(&mut w)?;
    w.flush()
        .with_context(|| format!("writing {}", tmp.display()))?;
    let file = w
        .into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", tmp.display(), e.error()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    fs::rename(tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Removes what interrupted writes left under `root` (a results tree): `*.tmp` files (a
/// result file is written to `NAME.tmp` and renamed when complete, so a `.tmp` is never a
/// result) and empty `*.svg` plots, if unmodified for `min_age` (a live run may be writing
/// one). Complete files are never touched. Returns the removed paths.
pub fn remove_partial_files(
    root: &Path,
    min_age: std::time::Duration,
) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                // results/<campaign>/runs/<run>/plots: a few levels suffice.
                if depth < 6 && !meta.file_type().is_symlink() {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            if !meta.is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let partial = name.ends_with(".tmp") || (name.ends_with(".svg") && meta.len() == 0);
            let old = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            if partial && old {
                fs::remove_file(&path)?;
                removed.push(path);
            }
        }
    }
    removed.sort();
    Ok(removed)
}

/// Files a run writes into its directory (besides `*.tmp` of an interrupted write).
pub const RUN_FILES: &[&str] = &[
    "summary.csv",
    "samples.csv",
    "meta.json",
    "layers.csv",
    "segments.csv",
    "probe_cost.csv",
    "probe_layers.csv",
    "probe_histograms.csv",
    "clock_check.csv",
    "trace.json",
];

/// A `--out` directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    #[error("--out {0} already holds results ({1}); choose another directory, or pass --force to replace them (uadpbench removes its own files there first)")]
    NotEmpty(String, String),
    #[error("--out {0} is not a directory")]
    NotADirectory(String),
    #[error("--out {0}: {1}")]
    Io(String, std::io::Error),
}

/// Checks a run's `--out` before anything is set up: it must not exist, or be empty. With
/// `force`, the files a run writes ([`RUN_FILES`] and `*.tmp`) are removed first so that no
/// stale file of an earlier run stays beside the new ones; other files are left alone.
pub fn prepare_run_dir(dir: &Path, force: bool) -> Result<(), OutDirError> {
    let d = || dir.display().to_string();
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(OutDirError::NotADirectory(d()));
    }
    let names: Vec<String> = fs::read_dir(dir)
        .map_err(|e| OutDirError::Io(d(), e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    if !force {
        let mut shown: Vec<&str> = names.iter().map(String::as_str).take(4).collect();
        shown.sort_unstable();
        let more = if names.len() > 4 { ", …" } else { "" };
        return Err(OutDirError::NotEmpty(
            d(),
            format!("{}{more}", shown.join(", ")),
        ));
    }
    for n in &names {
        if RUN_FILES.contains(&n.as_str()) || n.ends_with(".tmp") {
            fs::remove_file(dir.join(n)).map_err(|e| OutDirError::Io(d(), e))?;
        }
    }
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

pub use crate::schema::{SampleRow, SummaryRow};

/// The current UTC time as `YYYYMMDDTHHMMSSZ`: the stamp of default results directory names.
pub fn utc_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// The current UTC time in RFC 3339 (meta.json's `started_utc` / `finished_utc`).
pub fn rfc3339_now() -> Option<String> {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// `results/<prefix><UTC stamp>-<run id>`, with `-2`, `-3`, … when two runs start in the same
/// second.
pub fn default_dir(prefix: &str, run_id: &str) -> PathBuf {
    let base = PathBuf::from("results").join(format!("{prefix}{}-{run_id}", utc_stamp()));
    (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                PathBuf::from(format!("{}-{n}", base.display()))
            }
        })
        .find(|d| !d.exists())
        .unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_dir_is_refused_unless_empty_or_forced() {
        let dir = std::env::temp_dir().join(format!("uadpbench-outdir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        prepare_run_dir(&dir, false).unwrap();
        fs::create_dir_all(&dir).unwrap();
        prepare_run_dir(&dir, false).unwrap();
        fs::write(dir.join("summary.csv"), "x").unwrap();
        fs::write(dir.join("layers.csv.tmp"), "x").unwrap();
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        let e = prepare_run_dir(&dir, false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        prepare_run_dir(&dir, true).unwrap();
        assert!(!dir.join("summary.csv").exists());
        assert!(!dir.join("layers.csv.tmp").exists());
        assert!(dir.join("notes.txt").exists(), "other files are the user's");
        fs::write(dir.join("f"), "x").unwrap();
        assert!(matches!(
            prepare_run_dir(&dir.join("f"), false),
            Err(OutDirError::NotADirectory(_))
        ));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cleanup_removes_partial_files_only() {
        let root = std::env::temp_dir().join(format!("uadpbench-partial-{}", std::process::id()));
        let run = root.join("camp/runs/0001-x");
        fs::create_dir_all(run.join("plots")).unwrap();
        fs::write(run.join("summary.csv"), "complete").unwrap();
        fs::write(run.join("layers.csv.tmp"), "half").unwrap();
        fs::write(run.join("plots/a.svg"), "").unwrap();
        fs::write(run.join("plots/b.svg"), "<svg/>").unwrap();
        // Too young: a live run may be writing it.
        assert!(
            remove_partial_files(&root, std::time::Duration::from_secs(3600))
                .unwrap()
                .is_empty()
        );
        let removed = remove_partial_files(&root, std::time::Duration::ZERO).unwrap();
        assert_eq!(
            removed,
            vec![run.join("layers.csv.tmp"), run.join("plots/a.svg")]
        );
        assert!(run.join("summary.csv").is_file() && run.join("plots/b.svg").is_file());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_failed_write_leaves_no_tmp() {
        let dir = std::env::temp_dir().join(format!("uadpbench-failwrite-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.csv");
        let r = write_atomically(&path, |_| anyhow::bail!("disk full"));
        assert!(r.is_err());
        assert!(!tmp_name(&path).exists());
        assert!(!path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

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
            placement: "cross-cpu".into(),
            cpu_a: Some(0),
            cpu_b: Some(1),
            quality: "ok".into(),
        };
        write_csv(&path, &[row.clone(), row.clone()]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "run_id,path,encap,mode,payload_bytes,metric,statistic,value,unit,placement,cpu_a,cpu_b,quality\n"
        ));
        assert_eq!(text.lines().count(), 3);
        // The same type reads it back.
        let back: Vec<SummaryRow> = csv::Reader::from_path(&path)
            .unwrap()
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(back, vec![row.clone(), row]);
        assert!(!tmp_name(&path).exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
