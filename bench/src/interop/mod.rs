//! # Interoperating with real OPC UA PubSub stacks
//!
//! `uadpbench publish` and `uadpbench subscribe`: uadpbench as a standard UADP peer of a PLC or
//! an SDK application (open62541 and others), rather than only of itself.
//!
//! * [`layout`]: the publisher's identity (PublisherId of any type, WriterGroupId,
//!   DataSetWriterIds) and layout (the Part 14 content masks [`mask`], field encoding, the
//!   DataSet's fields [`fields`] with values that change per message), as a serde struct
//!   ([`layout::LayoutConfig`]) that command lines, `--config` files and campaign files fill in,
//!   starting from a [`preset`] (UADP-Periodic-Fixed, UADP-Dynamic, the SDK tutorials).
//! * [`url`]: `opc.udp://HOST:PORT` (unicast, multicast) and `opc.eth://MAC[:VID[.PCP]]`.
//! * [`net`]: the sockets, only on interfaces the user names.
//! * [`publish`]: a cyclic publisher with a send log; [`subscribe`]: a DataSetReader-like
//!   subscriber with per-writer statistics, JSON lines and a samples CSV.
//!
//! docs/interop.md is the user's guide.

pub mod fields;
pub mod layout;
pub mod layout_codec;
pub mod mask;
pub use uadpbench_sender::interop as net;
pub mod preset;
pub mod publish;
pub mod subscribe;
pub mod url;

use std::path::PathBuf;

/// Errors of `publish` and `subscribe`; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum InteropError {
    #[error(transparent)]
    Net(#[from] net::NetError),
    #[error(transparent)]
    Layout(#[from] layout::LayoutError),
    #[error(transparent)]
    Url(#[from] url::UrlError),
    #[error("{0}")]
    Config(String),
    #[error("cannot encode message {index}: {source}; use fewer or shorter fields")]
    Encode {
        index: u64,
        #[source]
        source: uadp::EncodeError,
    },
    #[error("{what} {}: {source}", path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} {}: {message}", path.display())]
    Format {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
}

/// `path` + `.tmp`: where an output file is written before it is renamed into place.
pub(crate) fn tmp_path(path: &std::path::Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}
