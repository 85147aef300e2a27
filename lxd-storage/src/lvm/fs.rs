//! The filesystems inside logical volumes (`block.filesystem`: ext4, the default, or xfs):
//! making them, telling which one a device holds from its superblock, mounting (snapshots
//! read-only without log replay, xfs without the duplicate-UUID check that copies and
//! snapshots would trip), growing and shrinking, and short-lived private mounts.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::mount::{mount, MsFlags};

use super::cmd::run_tool;
use super::error::{LvmError, Result};
use crate::error::StorageError;
use crate::mounts;

/// A filesystem the driver puts in a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fs {
    /// ext4 (LXD's default).
    Ext4,
    /// xfs.
    Xfs,
}

impl Fs {
    /// Reads `block.filesystem` (or `volume.block.filesystem`).
    pub fn parse(key: &str, value: &str) -> Result<Fs> {
        match value {
            "ext4" => Ok(Fs::Ext4),
            "xfs" => Ok(Fs::Xfs),
            _ => Err(LvmError::invalid(
                key,
                value,
                "the lvm driver makes ext4 or xfs filesystems",
            )),
        }
    }

    /// The filesystem type for mount(2).
    pub fn name(self) -> &'static str {
        match self {
            Fs::Ext4 => "ext4",
            Fs::Xfs => "xfs",
        }
    }

    /// Which filesystem `dev` holds, from its superblock magic (ext4: `0xEF53` at byte 1080,
    /// xfs: `XFSB` at byte 0).
    pub fn detect(dev: &Path) -> Result<Fs> {
        let mut head = [0u8; 2048];
        let mut f = File::open(dev).map_err(|e| StorageError::io("open", dev, e))?;
        f.read_exact(&mut head)
            .map_err(|e| StorageError::io("read superblock of", dev, e))?;
        if &head[0..4] == b"XFSB" {
            Ok(Fs::Xfs)
        } else if head[1080..1082] == [0x53, 0xEF] {
            Ok(Fs::Ext4)
        } else {
            Err(LvmError::Unsupported {
                what: format!("the content of {}", dev.display()),
                reason: "it holds neither an ext4 nor an xfs filesystem".into(),
            })
        }
    }

    /// Makes the filesystem on `dev` (LXD's flags: no discard pass, no lazy initialisation,
    /// so nothing is written in the background later).
    pub fn make(self, dev: &Path) -> Result<()> {
        let d = dev.to_string_lossy();
        match self {
            Fs::Ext4 => run_tool(
                "mkfs.ext4",
                &[
                    "-q",
                    "-F",
                    "-E",
                    "nodiscard,lazy_itable_init=0,lazy_journal_init=0",
                    &d,
                ],
                "make ext4 filesystem on",
                &d,
                "e2fsprogs",
            ),
            Fs::Xfs => run_tool(
                "mkfs.xfs",
                &["-q", "-f", "-K", &d],
                "make xfs filesystem on",
                &d,
                "xfsprogs",
            ),
        }
        .map(drop)
    }

    /// Mount options for a volume: the pool's, plus `nouuid` on xfs (copies and snapshots
    /// keep their origin's UUID). Read-only snapshot mounts skip log replay.
    pub fn options(self, base: &str, snapshot: bool) -> String {
        let mut opts: Vec<&str> = base.split(',').filter(|o| !o.is_empty()).collect();
        if self == Fs::Xfs && !opts.contains(&"nouuid") {
            opts.push("nouuid");
        }
        if snapshot {
            // A snapshot of a mounted volume is consistent (device-mapper freezes the
            // filesystem while it suspends the origin) but read-only: never replay a log.
            opts.retain(|o| *o != "discard");
            opts.push(match self {
                Fs::Ext4 => "noload",
                Fs::Xfs => "norecovery",
            });
        }
        opts.join(",")
    }

    /// Mounts `dev` on `target`.
    pub fn mount(self, dev: &Path, target: &Path, options: &str, read_only: bool) -> Result<()> {
        let flags = if read_only {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        let data = (!options.is_empty()).then_some(options);
        mount(Some(dev), target, Some(self.name()), flags, data).map_err(|e| {
            LvmError::Storage(StorageError::sys(
                if read_only {
                    "mount read-only"
                } else {
                    "mount"
                },
                target,
                e,
            ))
        })?;
        tracing::debug!(dev = %dev.display(), target = %target.display(), options, "lvm: mounted");
        Ok(())
    }

    /// Grows the filesystem to fill its (already grown) device; `mounted` is where it is
    /// mounted (both tools grow online).
    pub fn grow(self, dev: &Path, mounted: &Path) -> Result<()> {
        let d = dev.to_string_lossy();
        match self {
            Fs::Ext4 => run_tool(
                "resize2fs",
                &[&d],
                "grow ext4 filesystem on",
                &d,
                "e2fsprogs",
            ),
            Fs::Xfs => {
                let m = mounted.to_string_lossy();
                run_tool(
                    "xfs_growfs",
                    &[&m],
                    "grow xfs filesystem on",
                    &d,
                    "xfsprogs",
                )
            }
        }
        .map(drop)
    }

    /// Shrinks the (unmounted) filesystem on `dev` to `size` bytes, checking it first.
    pub fn shrink(self, dev: &Path, size: u64) -> Result<()> {
        let d = dev.to_string_lossy();
        match self {
            Fs::Xfs => Err(LvmError::Unsupported {
                what: format!("shrinking the xfs filesystem on {d}"),
                reason: "xfs filesystems cannot shrink".into(),
            }),
            Fs::Ext4 => {
                // e2fsck exits 1 when it fixed something, which is fine here.
                match run_tool(
                    "e2fsck",
                    &["-f", "-y", &d],
                    "check ext4 filesystem on",
                    &d,
                    "e2fsprogs",
                ) {
                    Err(LvmError::Command { status, .. }) if status.code() == Some(1) => {}
                    other => {
                        other?;
                    }
                }
                let k = format!("{}K", size / 1024);
                run_tool(
                    "resize2fs",
                    &[&d, &k],
                    "shrink ext4 filesystem on",
                    &d,
                    "e2fsprogs",
                )
                .map(drop)
            }
        }
    }
}

/// Bytes in use on the filesystem mounted at `path` (what `df` shows as used).
pub fn used_bytes(path: &Path) -> Result<u64> {
    let s = nix::sys::statvfs::statvfs(path)
        .map_err(|e| LvmError::Storage(StorageError::sys("statvfs", path, e)))?;
    Ok((s.blocks() - s.blocks_free()) * s.fragment_size())
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A private mount for the driver's own work (copying, growing, measuring), at a directory of
/// its own under the pool, so it never disturbs the counted mount at the volume's path.
/// Dropping it unmounts and removes the directory.
#[derive(Debug)]
pub struct TempMount {
    path: PathBuf,
}

impl TempMount {
    /// Mounts `dev` (holding `fs`) under `parent`.
    pub fn new(
        parent: &Path,
        dev: &Path,
        fs: Fs,
        options: &str,
        read_only: bool,
    ) -> Result<TempMount> {
        let path = parent.join(format!(
            ".lvm-mount-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).map_err(|e| StorageError::io("create", &path, e))?;
        if let Err(e) = fs.mount(dev, &path, options, read_only) {
            let _ = std::fs::remove_dir(&path);
            return Err(e);
        }
        Ok(TempMount { path })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts now, reporting a failure.
    pub fn release(mut self) -> Result<()> {
        let p = std::mem::take(&mut self.path);
        mounts::unmount_all(&p)?;
        std::fs::remove_dir(&p).map_err(|e| StorageError::io("remove", &p, e))?;
        Ok(())
    }
}

impl Drop for TempMount {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        if let Err(e) = mounts::unmount_all(&self.path) {
            tracing::warn!(path = %self.path.display(), "lvm: temporary mount left: {e}");
            return;
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        assert_eq!(Fs::Ext4.options("discard", false), "discard");
        assert_eq!(Fs::Xfs.options("discard", false), "discard,nouuid");
        assert_eq!(Fs::Ext4.options("discard", true), "noload");
        assert_eq!(Fs::Xfs.options("", true), "nouuid,norecovery");
        assert!(Fs::parse("block.filesystem", "btrfs")
            .unwrap_err()
            .to_string()
            .contains("block.filesystem"));
    }

    #[test]
    fn detects_real_filesystems() {
        let dir = std::env::temp_dir().join(format!("lxd-lvm-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for fs in [Fs::Ext4, Fs::Xfs] {
            let img = dir.join(format!("{}.img", fs.name()));
            let f = File::create(&img).unwrap();
            f.set_len(320 << 20).unwrap();
            drop(f);
            fs.make(&img).unwrap();
            assert_eq!(Fs::detect(&img).unwrap(), fs);
        }
        let blank = dir.join("blank.img");
        File::create(&blank).unwrap().set_len(1 << 20).unwrap();
        let e = Fs::detect(&blank).unwrap_err().to_string();
        assert!(e.contains("blank.img"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
