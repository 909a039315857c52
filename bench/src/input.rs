//! Reading files a user names, bounded: a campaign or layout file is a few KiB, so reading
//! `/dev/zero` or a 10 GB file by mistake must fail at once with a clear error instead of
//! filling memory.

use std::io::Read;
use std::path::Path;

/// Largest campaign or layout file read (TOML written by hand).
pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
/// Largest raw UADP file `decode FILE` reads (one message; UDP carries at most 64 KiB).
pub const MAX_RAW_MESSAGE_BYTES: u64 = 1 << 20;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a regular file ({kind}): give the path of a file")]
    NotAFile { path: String, kind: &'static str },
    #[error("{path} is larger than {max} bytes, the limit for {what}")]
    TooLarge {
        path: String,
        max: u64,
        what: &'static str,
    },
    #[error("{path} is not UTF-8 text")]
    NotText { path: String },
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_fifo() {
        "a pipe"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Checks that `path` is a regular file.
pub fn regular_file(path: &Path) -> Result<std::fs::File, InputError> {
    let p = || path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| InputError::Io { path: p(), source })?;
    let meta = file
        .metadata()
        .map_err(|source| InputError::Io { path: p(), source })?;
    if !meta.is_file() {
        return Err(InputError::NotAFile {
            path: p(),
            kind: kind_of(meta.file_type()),
        });
    }
    Ok(file)
}

/// Reads a regular file of at most `max` bytes.
pub fn read_bounded(path: &Path, max: u64, what: &'static str) -> Result<Vec<u8>, InputError> {
    let p = || path.display().to_string();
    let file = regular_file(path)?;
    let mut bytes = Vec::new();
    // `take` also bounds a file that grows while it is read.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Io { path: p(), source })?;
    if bytes.len() as u64 > max {
        return Err(InputError::TooLarge {
            path: p(),
            max,
            what,
        });
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text_bounded(path: &Path, max: u64, what: &'static str) -> Result<String, InputError> {
    String::from_utf8(read_bounded(path, max, what)?).map_err(|_| InputError::NotText {
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_at_once() {
        let t = std::time::Instant::now();
        for (p, kind) in [("/dev/zero", "character device"), ("/tmp", "directory")] {
            let e = read_bounded(Path::new(p), MAX_CONFIG_BYTES, "campaign files").unwrap_err();
            assert!(matches!(e, InputError::NotAFile { .. }), "{e}");
            assert!(e.to_string().contains(kind), "{e}");
        }
        assert!(t.elapsed() < std::time::Duration::from_secs(1));
        let e = read_bounded(Path::new("/nonexistent/x"), 10, "x").unwrap_err();
        assert!(matches!(e, InputError::Io { .. }));
    }

    #[test]
    fn size_is_bounded() {
        let f = std::env::temp_dir().join(format!("uadpbench-input-{}", std::process::id()));
        std::fs::write(&f, vec![b'a'; 100]).unwrap();
        assert_eq!(read_bounded(&f, 100, "x").unwrap().len(), 100);
        let e = read_bounded(&f, 99, "layout files").unwrap_err();
        assert!(
            e.to_string()
                .contains("larger than 99 bytes, the limit for layout files"),
            "{e}"
        );
        std::fs::write(&f, [0xff, 0xfe]).unwrap();
        assert!(matches!(
            read_text_bounded(&f, 10, "x"),
            Err(InputError::NotText { .. })
        ));
        std::fs::remove_file(&f).unwrap();
    }
}
