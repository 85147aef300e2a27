//! [`remove_tree`]: a parallel `rm -rf` that never follows symlinks, never descends into a
//! mount below the tree, and makes read-only directories writable when it has to.

use std::path::Path;

use nix::errno::Errno;
use rayon::prelude::*;

use super::meta::{self, Kind};
use crate::error::{Result, StorageError};

/// Entries of one directory handled by one task at least.
const MIN_ENTRIES_PER_TASK: usize = 32;

/// Removes `path` and everything below it. A missing `path` is not an error; a file or
/// symlink is simply unlinked. Directories are emptied in parallel (2 to 8 threads).
///
/// Directories without write or search permission are made writable first. A mount point
/// anywhere in the tree (including `path` itself) stops the removal with
/// [`StorageError::InUse`] before anything inside that mount is touched. Files with the
/// immutable or append-only attribute cannot be removed and fail with the path named.
pub fn remove_tree(path: &Path) -> Result<()> {
    let Some(st) = meta::lstat_opt(path)? else {
        return Ok(());
    };
    if st.kind() != Kind::Dir {
        return unlink(path, false);
    }
    check_not_mount(path, &st, None)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(super::default_threads())
        .thread_name(|i| format!("lxd-remove-{i}"))
        .build()
        .map_err(|e| {
            StorageError::io("start removal threads for", path, std::io::Error::other(e))
        })?;
    pool.install(|| empty_dir(path, st.dev))?;
    unlink(path, true)
}

/// Refuses a directory that is the root of a mount (or, where the kernel does not say, one
/// on another device than the tree's root).
fn check_not_mount(path: &Path, st: &meta::Stat, root_dev: Option<u64>) -> Result<()> {
    let mount = match (st.mount_root, root_dev) {
        (Some(m), _) => m,
        (None, Some(dev)) => st.dev != dev,
        (None, None) => false,
    };
    if mount {
        return Err(StorageError::InUse {
            path: path.to_path_buf(),
            reason: "it is a mount point; unmount it before removing the tree".into(),
        });
    }
    Ok(())
}

/// Removes everything inside the directory `dir`.
fn empty_dir(dir: &Path, root_dev: u64) -> Result<()> {
    let entries = match meta::read_dir(dir) {
        Err(e) if e.errno() == Some(Errno::EACCES) => {
            make_writable(dir)?;
            meta::read_dir(dir)?
        }
        other => other?,
    };
    entries
        .par_iter()
        .with_min_len(MIN_ENTRIES_PER_TASK)
        .try_for_each(|entry| {
            let p = dir.join(&entry.name);
            let is_dir = match entry.dir {
                Some(d) => d,
                None => meta::lstat(&p)?.kind() == Kind::Dir,
            };
            if is_dir {
                let st = meta::lstat(&p)?;
                check_not_mount(&p, &st, Some(root_dev))?;
                empty_dir(&p, root_dev)?;
            }
            unlink_in(dir, &p, is_dir)
        })
}

/// Unlinks `path` (inside `dir`), making `dir` writable and retrying once when refused.
fn unlink_in(dir: &Path, path: &Path, is_dir: bool) -> Result<()> {
    match unlink(path, is_dir) {
        Err(e) if matches!(e.errno(), Some(Errno::EACCES) | Some(Errno::EPERM)) => {
            make_writable(dir)?;
            unlink(path, is_dir)
        }
        other => other,
    }
}

fn unlink(path: &Path, is_dir: bool) -> Result<()> {
    let c = meta::cpath(path)?;
    let flags = if is_dir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: `c` is NUL-terminated.
    let ret = unsafe { libc::unlinkat(libc::AT_FDCWD, c.as_ptr(), flags) };
    match Errno::result(ret) {
        Ok(_) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(StorageError::sys(
            if is_dir { "remove directory" } else { "remove" },
            path,
            e,
        )),
    }
}

/// Adds owner read, write and search permission to a directory.
fn make_writable(dir: &Path) -> Result<()> {
    let st = meta::lstat(dir)?;
    if st.kind() != Kind::Dir {
        return Err(StorageError::invalid(
            "directory",
            dir.display().to_string(),
            "not a directory",
        ));
    }
    let c = meta::cpath(dir)?;
    // SAFETY: `c` is NUL-terminated; `dir` is a directory (not a symlink) as just checked.
    let ret = unsafe { libc::fchmodat(libc::AT_FDCWD, c.as_ptr(), st.perm() | 0o700, 0) };
    Errno::result(ret)
        .map(drop)
        .map_err(|e| StorageError::sys("make writable", dir, e))
}
