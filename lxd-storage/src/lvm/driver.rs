//! [`LvmDriver`]: the `StorageDriver` of the `lvm` pools, a thin layer over [`super::pool`]
//! and [`super::volumes`].

use std::path::PathBuf;

use lxd_core::store::{ConfigMap, VolumeType};
use lxd_core::{PoolInfo, StorageCapabilities, StorageDriver, VolumeInfo};

use super::config;
use super::error::{IntoCore, Result};
use super::pool;
use super::volumes::Volumes;

/// The `lvm` storage driver (LXD's `lvm`): pools are LVM volume groups with a thin pool
/// (`lvm.use_thinpool=true`, the default) or classic logical volumes; volumes are logical
/// volumes with an ext4 or xfs filesystem, mounted when needed.
///
/// Its capabilities are those of thin pools (optimized images, copy-on-write snapshots and
/// copies). A pool with `lvm.use_thinpool=false` takes the same calls and does full copies
/// and classic snapshots itself.
#[derive(Debug, Default)]
pub struct LvmDriver;

fn vols<T>(pool: &PoolInfo, f: impl FnOnce(&Volumes) -> Result<T>) -> lxd_core::Result<T> {
    Volumes::new(pool).and_then(|v| f(&v)).core()
}

impl LvmDriver {
    /// Mounts a volume's snapshot read-only at its path (LXD's
    /// `containers-snapshots/NAME/SNAP`) and returns the path.
    pub fn mount_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<PathBuf> {
        vols(pool, |v| v.mount_snapshot(vol, snapshot))
    }

    /// Unmounts a snapshot mounted with [`LvmDriver::mount_snapshot`].
    pub fn unmount_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.unmount_snapshot(vol, snapshot))
    }

    /// The logical volume (`VG/LV`) that holds a volume.
    pub fn logical_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<String> {
        let pc = config::PoolConfig::of(pool).core()?;
        vols(pool, |v| v.lv(vol)).map(|lv| format!("{}/{lv}", pc.vg))
    }
}

impl StorageDriver for LvmDriver {
    fn name(&self) -> &'static str {
        super::NAME
    }

    fn capabilities(&self) -> StorageCapabilities {
        StorageCapabilities {
            optimized_images: true,
            cow_snapshots: true,
            cow_copies: true,
            quotas: true,
            block_backed: true,
        }
    }

    fn check_available(&self) -> lxd_core::Result<()> {
        pool::check_available().core()
    }

    fn validate_pool(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        config::validate_pool(config).core()
    }

    fn create_pool(&self, pool: &PoolInfo) -> lxd_core::Result<ConfigMap> {
        pool::create(pool).core()
    }

    fn delete_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        pool::delete(pool).core()
    }

    fn mount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        pool::mount(pool).core()
    }

    fn unmount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        pool::unmount(pool).core()
    }

    fn validate_volume(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        config::validate_volume(config).core()
    }

    fn create_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        vols(pool, |v| v.create(vol))
    }

    fn seal_image_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        vols(pool, |v| v.seal(vol))
    }

    fn create_volume_from_image(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        image: &VolumeInfo,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.create_from_image(vol, image))
    }

    fn create_volume_from_copy(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshots: &[String],
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.copy(vol, src, snapshots))
    }

    fn create_volume_from_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.copy_from_snapshot(vol, src, snapshot))
    }

    fn delete_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        vols(pool, |v| v.delete(vol))
    }

    fn rename_volume(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.rename(vol, new_name))
    }

    fn create_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.create_snapshot(vol, snapshot))
    }

    fn delete_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.delete_snapshot(vol, snapshot))
    }

    fn rename_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.rename_snapshot(vol, snapshot, new_name))
    }

    fn restore_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.restore(vol, snapshot))
    }

    fn set_quota(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        size: Option<u64>,
    ) -> lxd_core::Result<()> {
        vols(pool, |v| v.set_size(vol, size))
    }

    fn usage(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<u64> {
        vols(pool, |v| v.usage(vol))
    }

    fn mount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<PathBuf> {
        vols(pool, |v| v.mount(vol))
    }

    fn unmount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        vols(pool, |v| v.unmount(vol))
    }

    fn list_volumes(
        &self,
        pool: &PoolInfo,
        volume_type: VolumeType,
    ) -> lxd_core::Result<Vec<String>> {
        vols(pool, |v| v.list(volume_type))
    }
}
