//! The `btrfs` driver: a pool is a btrfs filesystem (on a loop file it creates, a block device,
//! or an existing btrfs directory); volumes are subvolumes, snapshots and copies are subvolume
//! snapshots made with the btrfs ioctls, and sizes are qgroup limits. Subvolumes nested in a
//! volume are snapshotted, copied and deleted with it.

use std::path::{Path, PathBuf};

use lxd_core::store::ConfigMap;
use lxd_core::{PoolInfo, StorageCapabilities, StorageDriver, VolumeInfo};

use super::ioctl;
use crate::error::{Result, ResultExt, StorageError};
use crate::loopdev::{create_sparse_file, LoopDevice, LoopOptions};
use crate::mounts;

const NAME: &str = "btrfs";
const POOL_KEYS: &[&str] = &[
    "source",
    "size",
    "btrfs.mount_options",
    "volatile.initial_source",
];
const DEFAULT_MOUNT_OPTIONS: &str = "user_subvol_rm_allowed";
/// LXD's default loop file size when `size` is not given (it uses 20% of free space, at least
/// 5 GiB); the file is sparse.
const DEFAULT_SIZE: u64 = 5 << 30;

/// The `btrfs` storage driver.
#[derive(Debug, Default)]
pub struct BtrfsDriver;

/// What backs a pool.
enum Backing {
    /// A loop file.
    File(PathBuf),
    /// A block device.
    Device(PathBuf),
    /// A directory on an existing btrfs filesystem.
    Dir(PathBuf),
}

fn backing(pool: &PoolInfo) -> Backing {
    let src = pool
        .config
        .get("source")
        .map(PathBuf::from)
        .unwrap_or_else(|| pool.loop_file());
    match std::fs::metadata(&src) {
        Ok(m) if m.is_dir() => Backing::Dir(src),
        Ok(m) if std::os::unix::fs::FileTypeExt::is_block_device(&m.file_type()) => {
            Backing::Device(src)
        }
        _ => Backing::File(src),
    }
}

fn mount_options(pool: &PoolInfo) -> String {
    pool.config
        .get("btrfs.mount_options")
        .cloned()
        .unwrap_or_else(|| DEFAULT_MOUNT_OPTIONS.to_string())
}

fn mount(pool: &PoolInfo) -> Result<()> {
    if mounts::is_mounted(&pool.mount_path)? {
        return Ok(());
    }
    std::fs::create_dir_all(&pool.mount_path)
        .map_err(|e| StorageError::io("create", &pool.mount_path, e))?;
    match backing(pool) {
        Backing::File(f) => {
            if !f.exists() {
                return Err(StorageError::not_found("pool loop file", &f));
            }
            let dev = match LoopDevice::find_by_backing_file(&f)? {
                Some(d) => d,
                None => LoopDevice::attach(
                    &f,
                    &LoopOptions {
                        autoclear: true,
                        ..Default::default()
                    },
                )?,
            };
            mounts::mount_fs(dev.path(), &pool.mount_path, "btrfs", &mount_options(pool))
        }
        Backing::Device(d) => mounts::mount_fs(&d, &pool.mount_path, "btrfs", &mount_options(pool)),
        Backing::Dir(d) => mounts::bind(&d, &pool.mount_path),
    }
}

/// Snapshots `src` to `dst` with the subvolumes nested in it.
fn snapshot_tree(src: &Path, dst: &Path, readonly: bool) -> Result<()> {
    let (parent, name) = split(dst)?;
    let nested = ioctl::nested_subvolumes(src)?;
    ioctl::snapshot(src, parent, name, readonly && nested.is_empty())?;
    let r = (|| -> Result<()> {
        for sub in &nested {
            let rel = sub.strip_prefix(src).expect("nested below src");
            let target = dst.join(rel);
            // The snapshot holds an empty directory where the nested subvolume was.
            std::fs::remove_dir(&target)
                .map_err(|e| StorageError::io("remove placeholder", &target, e))?;
            let (tp, tn) = split(&target)?;
            ioctl::snapshot(sub, tp, tn, false)?;
        }
        if readonly && !nested.is_empty() {
            for sub in nested.iter().rev() {
                ioctl::set_readonly(&dst.join(sub.strip_prefix(src).expect("below src")), true)?;
            }
            ioctl::set_readonly(dst, true)?;
        }
        Ok(())
    })();
    if let Err(e) = r {
        let _ = delete_tree(dst);
        return Err(e);
    }
    Ok(())
}

/// Deletes a subvolume and every subvolume nested in it.
fn delete_tree(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    if ioctl::is_readonly(path)? {
        ioctl::set_readonly(path, false)?;
    }
    let nested = ioctl::nested_subvolumes(path)?;
    for sub in nested.iter().rev() {
        if ioctl::is_readonly(sub)? {
            ioctl::set_readonly(sub, false)?;
        }
    }
    for sub in nested.iter().rev() {
        ioctl::delete_subvolume(sub)?;
    }
    ioctl::delete_subvolume(path)
}

fn split(p: &Path) -> Result<(&Path, &str)> {
    let name = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        StorageError::invalid("path", p.display().to_string(), "has no final name")
    })?;
    Ok((p.parent().unwrap_or(Path::new("/")), name))
}

fn exists_err(what: &'static str, p: &Path) -> StorageError {
    StorageError::AlreadyExists {
        what,
        path: p.to_path_buf(),
    }
}

impl StorageDriver for BtrfsDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities {
            optimized_images: true,
            cow_snapshots: true,
            cow_copies: true,
            quotas: true,
            block_backed: false,
        }
    }

    fn validate_pool(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        for (k, v) in config {
            if !POOL_KEYS.contains(&k.as_str()) {
                return Err(lxd_core::Error::Invalid(format!(
                    "Invalid option for the btrfs driver: {k:?}"
                )));
            }
            if k == "size" {
                lxd_core::config::units::parse_size(v)
                    .map_err(|e| lxd_core::Error::Invalid(format!("Invalid size {v:?}: {e}")))?;
            }
        }
        Ok(())
    }

    fn create_pool(&self, pool: &PoolInfo) -> lxd_core::Result<ConfigMap> {
        let mut config = pool.config.clone();
        let given = config.get("source").filter(|s| !s.is_empty()).cloned();
        let r = (|| -> Result<()> {
            match given.as_deref().map(PathBuf::from) {
                None => {
                    let file = pool.loop_file();
                    if file.exists() {
                        return Err(exists_err("pool loop file", &file));
                    }
                    let size = match config.get("size") {
                        Some(s) => lxd_core::config::units::parse_size(s)
                            .map_err(|e| StorageError::invalid("size", s.clone(), e))?,
                        None => DEFAULT_SIZE,
                    };
                    if let Some(parent) = file.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| StorageError::io("create", parent, e))?;
                    }
                    create_sparse_file(&file, size)?;
                    if let Err(e) = mounts::run(
                        "mkfs.btrfs",
                        &["-q", "-f", "-L", &pool.name, &file.to_string_lossy()],
                    ) {
                        let _ = std::fs::remove_file(&file);
                        return Err(e);
                    }
                    config.insert("source".into(), file.display().to_string());
                    config.insert("size".into(), lxd_core::config::units::format_size(size));
                }
                Some(src) if src.is_dir() || !src.exists() => {
                    // An existing btrfs filesystem: the pool lives in a subvolume there.
                    let parent = src.parent().unwrap_or(Path::new("/"));
                    if !ioctl::is_btrfs(parent)? {
                        return Err(StorageError::invalid(
                            "source",
                            src.display().to_string(),
                            "is not on a btrfs filesystem",
                        ));
                    }
                    if !src.exists() {
                        let (p, n) = split(&src)?;
                        ioctl::create_subvolume(p, n)?;
                    } else if std::fs::read_dir(&src)
                        .map_err(|e| StorageError::io("read directory", &src, e))?
                        .next()
                        .is_some()
                    {
                        return Err(StorageError::InUse {
                            path: src.clone(),
                            reason: "the source directory is not empty".into(),
                        });
                    }
                }
                Some(dev) => {
                    mounts::run(
                        "mkfs.btrfs",
                        &["-q", "-f", "-L", &pool.name, &dev.to_string_lossy()],
                    )?;
                }
            }
            config
                .entry("btrfs.mount_options".into())
                .or_insert_with(|| DEFAULT_MOUNT_OPTIONS.to_string());
            let info = PoolInfo {
                config: config.clone(),
                ..pool.clone()
            };
            mount(&info)?;
            mounts::create_layout(&pool.mount_path)
        })();
        if let Err(e) = r {
            let _ = mounts::unmount_all(&pool.mount_path);
            if given.is_none() {
                let _ = std::fs::remove_file(pool.loop_file());
            }
            return Err(e.into_core(NAME));
        }
        Ok(config)
    }

    fn delete_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            mount(pool)?;
            if mounts::remove_layout(&pool.mount_path)? {
                return Err(StorageError::InUse {
                    path: pool.mount_path.clone(),
                    reason: "volumes are left in the pool".into(),
                });
            }
            mounts::unmount_all(&pool.mount_path)?;
            let _ = std::fs::remove_dir(&pool.mount_path);
            match backing(pool) {
                Backing::File(f) => {
                    if let Some(dev) = LoopDevice::find_by_backing_file(&f)? {
                        let _ = dev.detach();
                    }
                    if f.starts_with(pool.lxd_dir.join("disks")) {
                        std::fs::remove_file(&f).map_err(|e| StorageError::io("remove", &f, e))?;
                    }
                }
                Backing::Dir(d) => {
                    if ioctl::is_subvolume(&d)? {
                        ioctl::delete_subvolume(&d)?;
                    }
                }
                Backing::Device(_) => {}
            }
            Ok(())
        })()
        .driver(NAME)
    }

    fn mount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        mount(pool).driver(NAME)
    }

    fn unmount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        mounts::unmount_all(&pool.mount_path).driver(NAME)
    }

    fn validate_volume(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        for (k, v) in config {
            match k.as_str() {
                "size" => {
                    lxd_core::config::units::parse_size(v).map_err(|e| {
                        lxd_core::Error::Invalid(format!("Invalid size {v:?}: {e}"))
                    })?;
                }
                _ => {
                    return Err(lxd_core::Error::Invalid(format!(
                        "Invalid option for a btrfs volume: {k:?}"
                    )))
                }
            }
        }
        Ok(())
    }

    fn create_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        let p = vol.path(pool);
        (|| -> Result<()> {
            if p.exists() {
                return Err(exists_err("volume", &p));
            }
            let (parent, name) = split(&p)?;
            ioctl::create_subvolume(parent, name)?;
            Ok(())
        })()
        .driver(NAME)
    }

    fn seal_image_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        ioctl::set_readonly(&vol.path(pool), true).driver(NAME)
    }

    fn create_volume_from_image(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        image: &VolumeInfo,
    ) -> lxd_core::Result<()> {
        let dst = vol.path(pool);
        if dst.exists() {
            return Err(exists_err("volume", &dst).into_core(NAME));
        }
        snapshot_tree(&image.path(pool), &dst, false).driver(NAME)
    }

    fn create_volume_from_copy(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshots: &[String],
    ) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            let dst = vol.path(pool);
            if dst.exists() {
                return Err(exists_err("volume", &dst));
            }
            let snap_dir = vol.snapshots_dir(pool);
            let undo = |e: StorageError| {
                for s in snapshots {
                    let _ = delete_tree(&vol.snapshot_path(pool, s));
                }
                let _ = std::fs::remove_dir(&snap_dir);
                let _ = delete_tree(&dst);
                e
            };
            if !snapshots.is_empty() {
                std::fs::create_dir_all(&snap_dir)
                    .map_err(|e| undo(StorageError::io("create", &snap_dir, e)))?;
                for s in snapshots {
                    let from = src.snapshot_path(pool, s);
                    if !from.exists() {
                        return Err(undo(StorageError::not_found("snapshot", &from)));
                    }
                    snapshot_tree(&from, &vol.snapshot_path(pool, s), true).map_err(undo)?;
                }
            }
            snapshot_tree(&src.path(pool), &dst, false).map_err(undo)?;
            // A copy of a read-only image volume is writable.
            if ioctl::is_readonly(&dst)? {
                ioctl::set_readonly(&dst, false).map_err(undo)?;
            }
            Ok(())
        })()
        .driver(NAME)
    }

    fn create_volume_from_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            let dst = vol.path(pool);
            if dst.exists() {
                return Err(exists_err("volume", &dst));
            }
            let from = src.snapshot_path(pool, snapshot);
            if !from.exists() {
                return Err(StorageError::not_found("snapshot", &from));
            }
            // A writable snapshot of the read-only one.
            snapshot_tree(&from, &dst, false)?;
            let writable = ioctl::is_readonly(&dst).and_then(|ro| {
                if ro {
                    ioctl::set_readonly(&dst, false)
                } else {
                    Ok(())
                }
            });
            if let Err(e) = writable {
                let _ = delete_tree(&dst);
                return Err(e);
            }
            Ok(())
        })()
        .driver(NAME)
    }

    fn delete_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            delete_tree(&vol.path(pool))?;
            let snaps = vol.snapshots_dir(pool);
            if snaps.exists() {
                std::fs::remove_dir(&snaps).map_err(|e| StorageError::io("remove", &snaps, e))?;
            }
            Ok(())
        })()
        .driver(NAME)
    }

    fn rename_volume(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        let renamed = VolumeInfo {
            name: new_name.to_string(),
            ..vol.clone()
        };
        (|| -> Result<()> {
            let (from, to) = (vol.path(pool), renamed.path(pool));
            if to.exists() {
                return Err(exists_err("volume", &to));
            }
            std::fs::rename(&from, &to).map_err(|e| StorageError::io("rename", &from, e))?;
            let snaps = vol.snapshots_dir(pool);
            if snaps.exists() {
                if let Err(e) = std::fs::rename(&snaps, renamed.snapshots_dir(pool)) {
                    let _ = std::fs::rename(&to, &from);
                    return Err(StorageError::io("rename", &snaps, e));
                }
            }
            Ok(())
        })()
        .driver(NAME)
    }

    fn create_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            let dir = vol.snapshots_dir(pool);
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io("create", &dir, e))?;
            let dst = vol.snapshot_path(pool, snapshot);
            if dst.exists() {
                return Err(exists_err("snapshot", &dst));
            }
            snapshot_tree(&vol.path(pool), &dst, true)
        })()
        .driver(NAME)
    }

    fn delete_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            delete_tree(&vol.snapshot_path(pool, snapshot))?;
            let _ = std::fs::remove_dir(vol.snapshots_dir(pool));
            Ok(())
        })()
        .driver(NAME)
    }

    fn rename_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        let (from, to) = (
            vol.snapshot_path(pool, snapshot),
            vol.snapshot_path(pool, new_name),
        );
        if to.exists() {
            return Err(exists_err("snapshot", &to).into_core(NAME));
        }
        std::fs::rename(&from, &to)
            .map_err(|e| StorageError::io("rename", &from, e))
            .driver(NAME)
    }

    fn restore_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            let snap = vol.snapshot_path(pool, snapshot);
            if !snap.exists() {
                return Err(StorageError::not_found("snapshot", &snap));
            }
            let live = vol.path(pool);
            let staging = live.with_file_name(format!(".{}.restore", vol.name));
            let _ = delete_tree(&staging);
            snapshot_tree(&snap, &staging, false)?;
            let old = live.with_file_name(format!(".{}.old", vol.name));
            if let Err(e) = std::fs::rename(&live, &old) {
                let _ = delete_tree(&staging);
                return Err(StorageError::io("rename", &live, e));
            }
            if let Err(e) = std::fs::rename(&staging, &live) {
                let _ = std::fs::rename(&old, &live);
                let _ = delete_tree(&staging);
                return Err(StorageError::io("rename", &staging, e));
            }
            // Keep the size limit of the volume.
            if let Ok(u) = ioctl::qgroup_usage(&old) {
                if let Some(max) = u.max_referenced {
                    let _ = ioctl::qgroup_limit(&live, Some(max));
                }
            }
            delete_tree(&old)
        })()
        .driver(NAME)
    }

    fn set_quota(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        size: Option<u64>,
    ) -> lxd_core::Result<()> {
        (|| -> Result<()> {
            if size.is_some() {
                if ioctl::qgroup_usage(&vol.path(pool)).is_err() {
                    ioctl::quota_enable(&pool.mount_path)?;
                    ioctl::quota_rescan_wait(&pool.mount_path)?;
                }
            } else if ioctl::qgroup_usage(&vol.path(pool)).is_err() {
                return Ok(());
            }
            ioctl::qgroup_limit(&vol.path(pool), size)
        })()
        .driver(NAME)
    }

    fn usage(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<u64> {
        let p = vol.path(pool);
        if ioctl::sync(&p).is_ok() {
            if let Ok(u) = ioctl::qgroup_usage(&p) {
                return Ok(u.referenced);
            }
        }
        mounts::tree_usage(&p).driver(NAME)
    }

    fn mount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<PathBuf> {
        let p = vol.path(pool);
        if !p.is_dir() {
            return Err(StorageError::not_found("volume", &p).into_core(NAME));
        }
        Ok(p)
    }

    fn unmount_volume(&self, _pool: &PoolInfo, _vol: &VolumeInfo) -> lxd_core::Result<()> {
        Ok(())
    }
}
