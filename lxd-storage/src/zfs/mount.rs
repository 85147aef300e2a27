//! Mounting datasets at their LXD paths, in the way each implementation can: OpenZFS datasets
//! are `mountpoint=legacy` and mounted with `mount(2)` (as LXD does); zfs-fuse cannot mount
//! legacy datasets, so there a dataset carries its path in `mountpoint` and its daemon mounts
//! it (`zfs mount`/`zfs umount`, unmounting again and retrying while it reports busy).
//!
//! Volume datasets stay mounted while their pool is: the pool layer and the runtime reach a
//! volume's files through its path.

use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::cmd::{retry_busy, stderr_of, zfs};
use super::probe::Flavor;
use super::props;
use crate::error::{Result, StorageError};
use crate::mounts;

/// The properties a new volume dataset gets so it can be mounted at `path`.
pub fn create_props(flavor: Flavor, path: &Path) -> Vec<String> {
    if flavor.legacy_mounts() {
        vec!["mountpoint=legacy".into(), "canmount=noauto".into()]
    } else {
        vec![format!("mountpoint={}", path.display())]
    }
}

/// `-o PROP` arguments for `zfs create`/`zfs clone`.
pub fn option_args(props: &[String]) -> Vec<&str> {
    props.iter().flat_map(|p| ["-o", p.as_str()]).collect()
}

/// Whether `dataset` is what is mounted at `path`.
fn mounted_at(dataset: &str, path: &Path) -> Result<bool> {
    Ok(mounts::mounts_at(path)?
        .iter()
        .any(|m| m.source == dataset && (m.fstype == "zfs" || m.fstype.starts_with("fuse"))))
}

/// Mounts `dataset` at `path` (idempotent).
pub fn mount(flavor: Flavor, dataset: &str, path: &Path) -> Result<()> {
    if mounted_at(dataset, path)? {
        return Ok(());
    }
    // A mount left at the path (a zfs-fuse daemon that went away) is stale.
    mounts::unmount_all(path)?;
    if flavor.legacy_mounts() {
        std::fs::create_dir_all(path).map_err(|e| StorageError::io("create", path, e))?;
        nix::mount::mount(
            Some(dataset),
            path,
            Some("zfs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .map_err(|e| StorageError::sys("mount zfs dataset on", path, e))?;
    } else {
        let want = path.display().to_string();
        if props::get(dataset, "mountpoint")? != want {
            props::set(dataset, &[&format!("mountpoint={want}")])?;
        }
        if !mounted_at(dataset, path)? {
            if let Err(e) = zfs(&["mount", dataset]) {
                if !stderr_of(&e).contains("already mounted") {
                    return Err(e);
                }
            }
        }
        if !mounted_at(dataset, path)? {
            return Err(StorageError::InUse {
                path: path.to_path_buf(),
                reason: format!("zfs mount of {dataset} did not mount it there"),
            });
        }
    }
    tracing::debug!(dataset, path = %path.display(), "mounted");
    Ok(())
}

/// Unmounts `dataset` from `path` (idempotent) and removes the empty mount point.
pub fn unmount(flavor: Flavor, dataset: &str, path: &Path) -> Result<()> {
    if !flavor.legacy_mounts() && mounted_at(dataset, path)? {
        retry_busy(
            || match zfs(&["umount", dataset]) {
                Err(e) if stderr_of(&e).contains("not currently mounted") => Ok(String::new()),
                r => r,
            },
            || {},
        )?;
    }
    mounts::unmount_all(path)?;
    let _ = std::fs::remove_dir(path);
    Ok(())
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = |c: &u8| (b'0'..=b'7').contains(c);
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(octal) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// Every mount point of this mount namespace with its filesystem type, deepest first.
fn all_mounts() -> Result<Vec<(PathBuf, String)>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| StorageError::io("read", "/proc/self/mountinfo", e))?;
    let mut v: Vec<(PathBuf, String)> = text
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let target = unescape(pre.split_whitespace().nth(4)?);
            Some((target, post.split_whitespace().next()?.to_string()))
        })
        .collect();
    v.sort_by_key(|(m, _)| std::cmp::Reverse(m.as_os_str().len()));
    v.dedup();
    Ok(v)
}

/// The mount points of ZFS datasets (OpenZFS's `zfs` and zfs-fuse's `fuse.zfs`), deepest
/// first.
pub fn dataset_mounts() -> Result<Vec<PathBuf>> {
    Ok(all_mounts()?
        .into_iter()
        .filter(|(_, t)| t == "zfs" || t == "fuse.zfs")
        .map(|(m, _)| m)
        .collect())
}

/// Unmounts whatever is mounted below `dir` (deepest first): what is left of a pool whose
/// daemon went away, or of a pool being put away.
pub fn unmount_below(dir: &Path) -> Result<()> {
    for (m, _) in all_mounts()? {
        if m.starts_with(dir) && m != dir {
            mounts::unmount_all(&m)?;
        }
    }
    Ok(())
}

/// Makes a dataset that leaves its path (deleted, or moved away) never mount there again.
pub fn detach(flavor: Flavor, dataset: &str) -> Result<()> {
    if flavor.legacy_mounts() {
        return Ok(());
    }
    props::set(dataset, &["canmount=noauto", "mountpoint=none"])
}
