//! A fast, faithful copy of a directory tree, the data path of the `dir` driver (and of any
//! driver copying between pools): ownership, permission bits with setuid/setgid/sticky,
//! access and modification times to the nanosecond, every extended attribute (file
//! capabilities, `trusted.*`, POSIX ACLs), hard links, holes of sparse files, symlinks,
//! device nodes, fifos and sockets. File data is shared with a reflink where the filesystem
//! can (xfs with `reflink=1`, btrfs), else copied in the kernel.
//!
//! Directories are created in order while regular files are copied by a pool of 2 to 8
//! threads; hard links are made once every file exists, and the directories' own metadata
//! last, so read-only directories come out right. [`remove_tree`] is the matching parallel
//! delete.

mod data;
pub(crate) mod meta;
mod remove;
mod tree;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

pub use remove::remove_tree;
pub use tree::copy_tree;

/// Whether to share data with reflinks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reflink {
    /// Clone where the filesystem can, copy elsewhere (the default).
    #[default]
    Auto,
    /// Always copy the data.
    Never,
    /// Clone every file or fail (for callers that promise copy-on-write copies).
    Always,
}

/// How [`copy_tree`] copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOptions {
    /// Do not descend into mounts below the source (their mount points are copied as empty
    /// directories), like `cp -x`. Default `true`.
    pub one_file_system: bool,
    /// Worker threads; `None` picks the number of CPUs, clamped to 2..=8.
    pub threads: Option<usize>,
    /// Reflink policy. Default [`Reflink::Auto`].
    pub reflink: Reflink,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            one_file_system: true,
            threads: None,
            reflink: Reflink::Auto,
        }
    }
}

impl CopyOptions {
    /// The number of worker threads these options ask for.
    pub(crate) fn thread_count(&self) -> usize {
        match self.threads {
            Some(n) => n.max(1),
            None => default_threads(),
        }
    }
}

/// The number of CPUs, clamped to 2..=8.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

/// What [`copy_tree`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyStats {
    /// Entries other than directories created (regular files, symlinks, device nodes, fifos,
    /// sockets and hard links).
    pub files: u64,
    /// Directories created, the destination root included.
    pub dirs: u64,
    /// Bytes of regular-file data (apparent sizes, each inode once).
    pub bytes: u64,
    /// Extra names made as hard links to an inode already copied.
    pub hardlinks: u64,
    /// Every non-empty regular file shares its data with the source through a reflink (and
    /// there was at least one).
    pub reflinked: bool,
}

/// Counters shared by the copy's threads.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub files: AtomicU64,
    pub dirs: AtomicU64,
    pub bytes: AtomicU64,
    pub hardlinks: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Whether files in `dir` can be reflinked (`FICLONE`): makes two small files there, clones
/// one into the other and removes both. Any failure (including not being able to create the
/// files) answers `false`.
pub fn reflink_supported(dir: &Path) -> bool {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let pid = std::process::id();
    let a = dir.join(format!(".lxd-reflink-probe.{pid}.{n}.a"));
    let b = dir.join(format!(".lxd-reflink-probe.{pid}.{n}.b"));
    let create = |p: &Path| -> std::io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(p)
    };
    let result = (|| -> std::io::Result<bool> {
        let src = create(&a)?;
        std::os::unix::fs::FileExt::write_all_at(&src, &[0x5a; 4096], 0)?;
        let dst = create(&b)?;
        Ok(data::ficlone(&src, &dst).is_ok())
    })();
    for p in [&a, &b] {
        if let Err(e) = std::fs::remove_file(p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove reflink probe file");
            }
        }
    }
    match result {
        Ok(ok) => ok,
        Err(e) => {
            tracing::debug!(dir = %dir.display(), error = %e, "reflink probe failed");
            false
        }
    }
}
