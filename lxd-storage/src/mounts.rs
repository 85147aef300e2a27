//! Mount helpers shared by the drivers: the pool directory layout, mount checks and the
//! bind/unmount calls.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::error::{Result, StorageError};

/// The volume directories LXD keeps at the top of every pool.
pub const POOL_DIRS: &[&str] = &[
    "containers",
    "containers-snapshots",
    "images",
    "custom",
    "custom-snapshots",
    "virtual-machines",
    "virtual-machines-snapshots",
];

/// Creates the pool's volume directories (mode 0711, as LXD).
pub fn create_layout(mount_path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for d in POOL_DIRS {
        let p = mount_path.join(d);
        std::fs::create_dir_all(&p).map_err(|e| StorageError::io("create", &p, e))?;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711))
            .map_err(|e| StorageError::io("chmod", &p, e))?;
    }
    Ok(())
}

/// Removes the pool's volume directories if they are empty; returns whether any was left.
pub fn remove_layout(mount_path: &Path) -> Result<bool> {
    let mut left = false;
    for d in POOL_DIRS {
        let p = mount_path.join(d);
        match std::fs::remove_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => left = true,
            Err(e) => return Err(StorageError::io("remove", &p, e)),
        }
    }
    Ok(left)
}

/// Unescapes a mountinfo path field.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A mount from `/proc/self/mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// Mount point.
    pub target: PathBuf,
    /// Filesystem type.
    pub fstype: String,
    /// Mount source (device).
    pub source: String,
}

/// The mounts whose mount point is exactly `path`.
pub fn mounts_at(path: &Path) -> Result<Vec<MountEntry>> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| StorageError::io("read", "/proc/self/mountinfo", e))?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let target = PathBuf::from(unescape(pre.split_whitespace().nth(4)?));
            let mut post = post.split_whitespace();
            let fstype = post.next()?.to_string();
            let source = unescape(post.next().unwrap_or(""));
            (target == path).then_some(MountEntry {
                target,
                fstype,
                source,
            })
        })
        .collect())
}

/// Whether something is mounted at `path`.
pub fn is_mounted(path: &Path) -> Result<bool> {
    Ok(!mounts_at(path)?.is_empty())
}

/// Bind-mounts `src` on `dst`.
pub fn bind(src: &Path, dst: &Path) -> Result<()> {
    mount(Some(src), dst, None::<&str>, MsFlags::MS_BIND, None::<&str>)
        .map_err(|e| StorageError::sys("bind mount", dst, e))
}

/// Mounts a filesystem.
pub fn mount_fs(source: &Path, target: &Path, fstype: &str, options: &str) -> Result<()> {
    let data = (!options.is_empty()).then_some(options);
    mount(Some(source), target, Some(fstype), MsFlags::empty(), data)
        .map_err(|e| StorageError::sys("mount", target, e))
}

/// Unmounts everything stacked at `path` (a no-op when nothing is mounted).
pub fn unmount_all(path: &Path) -> Result<()> {
    while is_mounted(path)? {
        match umount2(path, MntFlags::empty()) {
            Ok(()) => {}
            Err(nix::errno::Errno::EBUSY) => umount2(path, MntFlags::MNT_DETACH)
                .map_err(|e| StorageError::sys("umount", path, e))?,
            Err(e) => return Err(StorageError::sys("umount", path, e)),
        }
    }
    Ok(())
}

/// Runs a command, returning its stdout, or an error with its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| StorageError::io("run", cmd, e))?;
    if !out.status.success() {
        return Err(StorageError::Command {
            cmd: format!("{cmd} {}", args.join(" ")),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Bytes used by a tree (allocated blocks, hard links counted once), staying on its
/// filesystem.
pub fn tree_usage(root: &Path) -> Result<u64> {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let top = std::fs::symlink_metadata(root).map_err(|e| StorageError::io("stat", root, e))?;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StorageError::io("stat", &p, e)),
        };
        if m.dev() != top.dev() {
            continue;
        }
        if m.nlink() > 1 && !m.is_dir() && !seen.insert(m.ino()) {
            continue;
        }
        total += m.blocks() * 512;
        if m.is_dir() {
            for e in std::fs::read_dir(&p).map_err(|e| StorageError::io("read directory", &p, e))? {
                stack.push(
                    e.map_err(|e| StorageError::io("read directory", &p, e))?
                        .path(),
                );
            }
        }
    }
    Ok(total)
}
