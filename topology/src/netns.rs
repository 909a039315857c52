//! Moving the current thread into a network namespace, and spawning threads that live in one.
//!
//! Network namespaces are per *thread* on Linux: `setns(fd, CLONE_NEWNET)` moves only the calling
//! thread. Sockets (UDP, AF_PACKET / pnet channels, AF_XDP), `if_nametoindex` and netlink sockets
//! belong to the namespace of the thread that creates them, and keep it after the thread moves on.

use std::fs::File;
use std::marker::PhantomData;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;

use nix::sched::{setns, CloneFlags};

use crate::error::{Error, Result};

/// The calling thread's own network namespace (`/proc/thread-self`, not `/proc/self`, which is
/// the main thread's).
pub const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Identity of a network namespace (device and inode of its nsfs file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NetnsId {
    /// `st_dev` of the namespace file.
    pub dev: u64,
    /// `st_ino` of the namespace file (what `ls -l /proc/PID/ns/net` shows as `net:[INO]`).
    pub ino: u64,
}

/// Identity of the namespace at `path` (e.g. `/var/run/netns/NAME`).
pub fn netns_id(path: impl AsRef<Path>) -> Result<NetnsId> {
    let path = path.as_ref();
    let md = std::fs::metadata(path).map_err(|source| Error::NetnsOpen {
        path: path.to_owned(),
        source,
    })?;
    Ok(NetnsId {
        dev: md.dev(),
        ino: md.ino(),
    })
}

/// Identity of the calling thread's network namespace.
pub fn current_netns() -> Result<NetnsId> {
    netns_id(THREAD_NETNS)
}

fn open_ns(path: &Path) -> Result<File> {
    File::open(path).map_err(|source| Error::NetnsOpen {
        path: path.to_owned(),
        source,
    })
}

fn setns_file(file: &File, path: &Path) -> Result<()> {
    setns(file, CloneFlags::CLONE_NEWNET).map_err(|source| Error::Setns {
        path: path.to_owned(),
        source,
    })
}

/// Restores the thread's original network namespace when dropped. Made by [`enter`].
///
/// The guard is `!Send`: it must be dropped on the thread that entered.
#[must_use = "the thread returns to its original namespace when the guard is dropped"]
#[derive(Debug)]
pub struct NetnsGuard {
    original: File,
    entered: PathBuf,
    restored: bool,
    _not_send: PhantomData<*const ()>,
}

/// Move the **current thread** into the network namespace at `ns_path` (e.g.
/// [`Endpoint::netns_path`](crate::Endpoint::netns_path)); the returned guard moves it back.
///
/// Threads spawned while the guard is alive start in the entered namespace (a new thread
/// inherits its creator's), and stay there after the guard is dropped.
///
/// Use this for short stretches (creating a socket, looking up an ifindex). For a thread that
/// should live in the namespace, use [`spawn_in`].
///
/// Only the network namespace changes: the mount namespace stays, so `/sys`, bpffs and tracefs
/// remain those of the root namespace. That is why a BPF loader must **not** be run under
/// `ip netns exec` (which remounts `/sys` for the namespace, hiding bpffs and tracefs): keep the
/// loader in the root namespace and move only the threads that open sockets.
pub fn enter(ns_path: impl AsRef<Path>) -> Result<NetnsGuard> {
    let ns_path = ns_path.as_ref();
    let original = open_ns(Path::new(THREAD_NETNS))?;
    let target = open_ns(ns_path)?;
    setns_file(&target, ns_path)?;
    Ok(NetnsGuard {
        original,
        entered: ns_path.to_owned(),
        restored: false,
        _not_send: PhantomData,
    })
}

impl NetnsGuard {
    /// The namespace this guard entered.
    pub fn entered(&self) -> &Path {
        &self.entered
    }

    /// Return to the original namespace now, reporting failure (which `Drop` cannot).
    pub fn restore(mut self) -> Result<()> {
        self.restored = true;
        setns_file(&self.original, Path::new(THREAD_NETNS))
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if self.restored {
            return;
        }
        if let Err(e) = setns_file(&self.original, Path::new(THREAD_NETNS)) {
            // A thread silently left in the wrong namespace would corrupt every later
            // measurement, so this is loud. (setns to a namespace whose fd we hold, as the
            // process that already entered one, does not fail in practice.)
            if std::thread::panicking() {
                eprintln!("uadpbench-topology: could not restore the thread's netns: {e}");
            } else {
                panic!("uadpbench-topology: could not restore the thread's netns: {e}");
            }
        }
    }
}

/// Spawn a named OS thread that first moves into the network namespace at `ns_path`, then runs
/// `f`. Returns once the thread is in the namespace, so a `setns` failure is reported here, and
/// `f` never runs outside the namespace.
///
/// Linux shows at most 15 bytes of a thread name (`top`, `ps -L`); the full name is kept by Rust.
pub fn spawn_in<F, T>(
    ns_path: impl AsRef<Path>,
    name: impl Into<String>,
    f: F,
) -> Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let ns_path = ns_path.as_ref().to_owned();
    let name = name.into();
    // Open in the caller so that a wrong path is reported with the caller's context.
    let target = open_ns(&ns_path)?;
    let (tx, rx) = mpsc::sync_channel::<Result<()>>(1);
    let path_in_thread = ns_path.clone();
    let handle = std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let entered = setns_file(&target, &path_in_thread);
            drop(target);
            let ok = entered.is_ok();
            // The receiver only goes away if the spawner itself died; nothing to report to then.
            let _ = tx.send(entered);
            if !ok {
                // The spawner already has the error; end this thread without running `f`
                // and without invoking the panic hook.
                std::panic::resume_unwind(Box::new("setns failed"));
            }
            f()
        })
        .map_err(|source| Error::Thread {
            name: name.clone(),
            source,
        })?;
    match rx.recv() {
        Ok(Ok(())) => Ok(handle),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(Error::Thread {
            name,
            source: std::io::Error::other("thread ended before entering the namespace"),
        }),
    }
}
