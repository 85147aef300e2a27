//! [`ZfsDriver`]: the `zfs` driver behind lxd-core's [`StorageDriver`] trait, which detects the
//! host's ZFS ([`super::Flavor`]) and hands each call to the pool and volume operations.

use std::path::PathBuf;

use lxd_core::store::{ConfigMap, VolumeType};
use lxd_core::{PoolInfo, StorageCapabilities, StorageDriver, VolumeInfo};

use super::probe::{flavor, Flavor};
use super::volume::{self, Vol};
use super::{config, pool};
use crate::error::{Result, ResultExt};

const NAME: &str = "zfs";

/// The `zfs` storage driver. Datasets stay mounted while their pool is. On zfs-fuse idmapped
/// mounts are not possible; the runtime notices (`mount_setattr` fails with `EINVAL`) and
/// shifts the rootfs on disk instead.
#[derive(Debug, Default)]
pub struct ZfsDriver;

/// Runs `f` on the volume with the host's ZFS, mapping errors to the driver's.
fn with_vol<T>(
    pool: &PoolInfo,
    vol: &VolumeInfo,
    f: impl FnOnce(&Vol<'_>) -> Result<T>,
) -> lxd_core::Result<T> {
    (|| {
        let v = Vol::new(flavor()?, pool, vol)?;
        f(&v)
    })()
    .driver(NAME)
}

fn with_flavor<T>(f: impl FnOnce(Flavor) -> Result<T>) -> lxd_core::Result<T> {
    flavor().and_then(f).driver(NAME)
}

impl StorageDriver for ZfsDriver {
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

    fn check_available(&self) -> lxd_core::Result<()> {
        flavor().map(drop).driver(NAME)
    }

    fn validate_pool(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        config::validate_pool(config)
    }

    fn create_pool(&self, pool: &PoolInfo) -> lxd_core::Result<ConfigMap> {
        with_flavor(|f| pool::create(f, pool))
    }

    fn delete_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        with_flavor(|f| pool::delete(f, pool))
    }

    fn mount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        with_flavor(|f| pool::mount(f, pool))
    }

    fn unmount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        with_flavor(|f| pool::unmount(f, pool))
    }

    fn validate_volume(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        config::validate_volume(config)
    }

    fn create_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.create())
    }

    fn seal_image_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.seal_image())
    }

    fn create_volume_from_image(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        image: &VolumeInfo,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| {
            let img = Vol::new(v.flavor, pool, image)?;
            v.clone_image(&img)
        })
    }

    fn create_volume_from_copy(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshots: &[String],
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| {
            let s = Vol::new(v.flavor, pool, src)?;
            v.copy_from(&s, snapshots)
        })
    }

    fn create_volume_from_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| {
            let s = Vol::new(v.flavor, pool, src)?;
            v.copy_from_snapshot(&s, snapshot)
        })
    }

    fn delete_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.delete())
    }

    fn rename_volume(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.rename(new_name))
    }

    fn create_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.create_snapshot(snapshot))
    }

    fn delete_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.delete_snapshot(snapshot))
    }

    fn rename_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.rename_snapshot(snapshot, new_name))
    }

    fn snapshots_removed_by_restore(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<Vec<String>> {
        with_vol(pool, vol, |v| v.later_snapshots(snapshot))
    }

    fn restore_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.restore(snapshot))
    }

    fn set_quota(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        size: Option<u64>,
    ) -> lxd_core::Result<()> {
        with_vol(pool, vol, |v| v.set_quota(size))
    }

    fn usage(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<u64> {
        with_vol(pool, vol, |v| v.usage())
    }

    fn mount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<PathBuf> {
        with_vol(pool, vol, |v| v.mount_volume())
    }

    fn unmount_volume(&self, _pool: &PoolInfo, _vol: &VolumeInfo) -> lxd_core::Result<()> {
        // Volumes stay mounted while the pool is (see the type's documentation).
        Ok(())
    }

    fn list_volumes(
        &self,
        pool: &PoolInfo,
        volume_type: VolumeType,
    ) -> lxd_core::Result<Vec<String>> {
        volume::list(pool, volume_type).driver(NAME)
    }
}
