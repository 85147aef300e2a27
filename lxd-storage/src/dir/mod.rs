//! The `dir` driver: volumes are directories on any filesystem. Copies and snapshots use the
//! fast tree copy (reflinks where the filesystem has them, an in-kernel parallel copy
//! elsewhere); sizes are enforced with project quotas where the filesystem has them.

mod quota;

use std::path::{Path, PathBuf};

use lxd_core::store::ConfigMap;
use lxd_core::{PoolInfo, StorageCapabilities, StorageDriver, VolumeInfo};

use crate::copy::{copy_tree, remove_tree, CopyOptions};
use crate::error::{ResultExt, StorageError};
use crate::mounts;

const NAME: &str = "dir";

/// Pool keys the driver accepts.
const POOL_KEYS: &[&str] = &[
    "source",
    "rsync.bwlimit",
    "rsync.compression",
    "volatile.initial_source",
];

/// The `dir` storage driver.
#[derive(Debug, Default)]
pub struct DirDriver;

fn source(pool: &PoolInfo) -> PathBuf {
    pool.config
        .get("source")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| pool.mount_path.clone())
}

fn copy(src: &Path, dst: &Path) -> crate::error::Result<()> {
    if let Err(e) = copy_tree(src, dst, &CopyOptions::default()) {
        let _ = remove_tree(dst);
        return Err(e);
    }
    Ok(())
}

fn rename(from: &Path, to: &Path) -> crate::error::Result<()> {
    if to.exists() {
        return Err(StorageError::AlreadyExists {
            what: "volume",
            path: to.to_path_buf(),
        });
    }
    std::fs::rename(from, to).map_err(|e| StorageError::io("rename", from, e))
}

fn remove_if_empty(dir: &Path) {
    let _ = std::fs::remove_dir(dir);
}

impl StorageDriver for DirDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities {
            optimized_images: false,
            cow_snapshots: false,
            cow_copies: false,
            quotas: false,
            block_backed: false,
        }
    }

    fn validate_pool(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        for key in config.keys() {
            if !POOL_KEYS.contains(&key.as_str()) {
                return Err(lxd_core::Error::Invalid(format!(
                    "Invalid option for the dir driver: {key:?}"
                )));
            }
        }
        if let Some(s) = config.get("source") {
            if !Path::new(s).is_absolute() {
                return Err(lxd_core::Error::Invalid(format!(
                    "Invalid source {s:?}: must be an absolute path"
                )));
            }
        }
        Ok(())
    }

    fn create_pool(&self, pool: &PoolInfo) -> lxd_core::Result<ConfigMap> {
        let src = source(pool);
        let mut config = pool.config.clone();
        let r = (|| -> crate::error::Result<()> {
            std::fs::create_dir_all(&pool.mount_path)
                .map_err(|e| StorageError::io("create", &pool.mount_path, e))?;
            if src != pool.mount_path {
                std::fs::create_dir_all(&src).map_err(|e| StorageError::io("create", &src, e))?;
                let busy = std::fs::read_dir(&src)
                    .map_err(|e| StorageError::io("read directory", &src, e))?
                    .next()
                    .is_some();
                if busy {
                    return Err(StorageError::InUse {
                        path: src.clone(),
                        reason: "the source directory is not empty".into(),
                    });
                }
                mounts::bind(&src, &pool.mount_path)?;
            }
            mounts::create_layout(&pool.mount_path)
        })();
        if let Err(e) = r {
            let _ = mounts::unmount_all(&pool.mount_path);
            return Err(e.into_core(NAME));
        }
        config.insert("source".into(), src.display().to_string());
        Ok(config)
    }

    fn delete_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        (|| -> crate::error::Result<()> {
            self.mount_pool(pool).map_err(|e| StorageError::InUse {
                path: pool.mount_path.clone(),
                reason: e.to_string(),
            })?;
            if mounts::remove_layout(&pool.mount_path)? {
                return Err(StorageError::InUse {
                    path: pool.mount_path.clone(),
                    reason: "volumes are left in the pool".into(),
                });
            }
            mounts::unmount_all(&pool.mount_path)?;
            remove_if_empty(&pool.mount_path);
            Ok(())
        })()
        .driver(NAME)
    }

    fn mount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        let src = source(pool);
        if src == pool.mount_path {
            return Ok(());
        }
        (|| -> crate::error::Result<()> {
            if !mounts::is_mounted(&pool.mount_path)? {
                std::fs::create_dir_all(&pool.mount_path)
                    .map_err(|e| StorageError::io("create", &pool.mount_path, e))?;
                mounts::bind(&src, &pool.mount_path)?;
            }
            Ok(())
        })()
        .driver(NAME)
    }

    fn unmount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        if source(pool) == pool.mount_path {
            return Ok(());
        }
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
                        "Invalid option for a dir volume: {k:?}"
                    )))
                }
            }
        }
        Ok(())
    }

    fn create_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        let p = vol.path(pool);
        (|| -> crate::error::Result<()> {
            if p.exists() {
                return Err(StorageError::AlreadyExists {
                    what: "volume",
                    path: p.clone(),
                });
            }
            std::fs::create_dir(&p).map_err(|e| StorageError::io("create", &p, e))?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o711))
                .map_err(|e| StorageError::io("chmod", &p, e))
        })()
        .driver(NAME)
    }

    fn seal_image_volume(&self, _pool: &PoolInfo, _vol: &VolumeInfo) -> lxd_core::Result<()> {
        Ok(())
    }

    fn create_volume_from_image(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        image: &VolumeInfo,
    ) -> lxd_core::Result<()> {
        copy(&image.path(pool), &vol.path(pool)).driver(NAME)
    }

    fn create_volume_from_copy(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshots: &[String],
    ) -> lxd_core::Result<()> {
        (|| -> crate::error::Result<()> {
            let dst = vol.path(pool);
            if dst.exists() {
                return Err(StorageError::AlreadyExists {
                    what: "volume",
                    path: dst,
                });
            }
            let snap_dir = vol.snapshots_dir(pool);
            let undo = |e: StorageError| {
                let _ = remove_tree(&snap_dir);
                let _ = remove_tree(&dst);
                e
            };
            if !snapshots.is_empty() {
                std::fs::create_dir_all(&snap_dir)
                    .map_err(|e| undo(StorageError::io("create", &snap_dir, e)))?;
                for s in snapshots {
                    copy(&src.snapshot_path(pool, s), &vol.snapshot_path(pool, s)).map_err(undo)?;
                }
            }
            copy(&src.path(pool), &dst).map_err(undo)
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
        (|| -> crate::error::Result<()> {
            let dst = vol.path(pool);
            if dst.exists() {
                return Err(StorageError::AlreadyExists {
                    what: "volume",
                    path: dst,
                });
            }
            let from = src.snapshot_path(pool, snapshot);
            if !from.is_dir() {
                return Err(StorageError::not_found("snapshot", &from));
            }
            copy(&from, &dst)
        })()
        .driver(NAME)
    }

    fn delete_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        (|| -> crate::error::Result<()> {
            remove_tree(&vol.path(pool))?;
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
        (|| -> crate::error::Result<()> {
            rename(&vol.path(pool), &renamed.path(pool))?;
            let snaps = vol.snapshots_dir(pool);
            if snaps.exists() {
                if let Err(e) = rename(&snaps, &renamed.snapshots_dir(pool)) {
                    let _ = std::fs::rename(renamed.path(pool), vol.path(pool));
                    return Err(e);
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
        (|| -> crate::error::Result<()> {
            let dir = vol.snapshots_dir(pool);
            std::fs::create_dir_all(&dir).map_err(|e| StorageError::io("create", &dir, e))?;
            let dst = vol.snapshot_path(pool, snapshot);
            if dst.exists() {
                return Err(StorageError::AlreadyExists {
                    what: "snapshot",
                    path: dst,
                });
            }
            copy(&vol.path(pool), &dst)
        })()
        .driver(NAME)
    }

    fn delete_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        (|| -> crate::error::Result<()> {
            remove_tree(&vol.snapshot_path(pool, snapshot))?;
            remove_if_empty(&vol.snapshots_dir(pool));
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
        rename(
            &vol.snapshot_path(pool, snapshot),
            &vol.snapshot_path(pool, new_name),
        )
        .driver(NAME)
    }

    fn restore_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        (|| -> crate::error::Result<()> {
            let snap = vol.snapshot_path(pool, snapshot);
            if !snap.is_dir() {
                return Err(StorageError::not_found("snapshot", &snap));
            }
            let live = vol.path(pool);
            let staging = live.with_file_name(format!(".{}.restore", vol.name));
            let _ = remove_tree(&staging);
            copy(&snap, &staging)?;
            let old = live.with_file_name(format!(".{}.old", vol.name));
            std::fs::rename(&live, &old).map_err(|e| {
                let _ = remove_tree(&staging);
                StorageError::io("rename", &live, e)
            })?;
            if let Err(e) = std::fs::rename(&staging, &live) {
                let _ = std::fs::rename(&old, &live);
                let _ = remove_tree(&staging);
                return Err(StorageError::io("rename", &staging, e));
            }
            remove_tree(&old)
        })()
        .driver(NAME)
    }

    fn set_quota(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        size: Option<u64>,
    ) -> lxd_core::Result<()> {
        let p = vol.path(pool);
        match size {
            None if quota::check_supported(&p).is_err() => Ok(()),
            _ => quota::set_limit(&p, size).driver(NAME),
        }
    }

    fn usage(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<u64> {
        let p = vol.path(pool);
        if let Some(u) = quota::usage(&p) {
            return Ok(u);
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
