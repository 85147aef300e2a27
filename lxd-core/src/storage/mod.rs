//! Storage, in two levels as in LXD: thin drivers behind [`StorageDriver`] that only manage
//! volumes and declare what they can do, and the pool layer ([`pool::Pool`]) that owns the
//! records in the [`crate::ClusterStore`], reference-counts mounts and undoes failed steps.
//!
//! On-disk layout (LXD's): a pool is mounted at `$LXD_DIR/storage-pools/NAME`; its volumes live
//! in `containers/`, `images/`, `custom/`, `virtual-machines/` there and their snapshots in
//! `containers-snapshots/NAME/SNAP` (and `custom-snapshots/...`).

pub mod pool;

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::store::{ConfigMap, VolumeType};

/// What a driver can do, so the pool layer picks the fast path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageCapabilities {
    /// Images are unpacked once into an image volume and instances are made from it with
    /// [`StorageDriver::create_volume_from_image`] (a snapshot or clone) rather than a copy.
    pub optimized_images: bool,
    /// Snapshots share data with their volume (copy-on-write).
    pub cow_snapshots: bool,
    /// Copies share data with their source (copy-on-write).
    pub cow_copies: bool,
    /// `size` can be enforced.
    pub quotas: bool,
    /// Volumes are block devices that need mounting.
    pub block_backed: bool,
}

/// A pool as a driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolInfo {
    /// Pool name.
    pub name: String,
    /// Pool configuration (`source`, `size`, driver keys).
    pub config: ConfigMap,
    /// Where the pool is mounted: `$LXD_DIR/storage-pools/NAME`.
    pub mount_path: PathBuf,
    /// The data directory (`$LXD_DIR`), for loop files under `disks/`.
    pub lxd_dir: PathBuf,
}

impl PoolInfo {
    /// The pool's description for a data directory.
    pub fn new(name: &str, config: ConfigMap, lxd_dir: &Path) -> Self {
        PoolInfo {
            name: name.to_string(),
            config,
            mount_path: lxd_dir.join("storage-pools").join(name),
            lxd_dir: lxd_dir.to_path_buf(),
        }
    }

    /// LXD's loop file for a pool that makes its own: `$LXD_DIR/disks/NAME.img`.
    pub fn loop_file(&self) -> PathBuf {
        self.lxd_dir
            .join("disks")
            .join(format!("{}.img", self.name))
    }
}

/// A volume as a driver sees it. Volume names are unique per type within a pool; a project
/// other than `default` prefixes the name as `PROJECT_NAME`, as LXD does on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// Type.
    pub volume_type: VolumeType,
    /// On-disk name.
    pub name: String,
    /// Configuration (`size`, ...).
    pub config: ConfigMap,
}

impl VolumeInfo {
    /// A volume of a type and on-disk name with no configuration.
    pub fn new(volume_type: VolumeType, name: &str) -> Self {
        VolumeInfo {
            volume_type,
            name: name.to_string(),
            config: ConfigMap::new(),
        }
    }

    /// Where the volume's files are when mounted (LXD's layout).
    pub fn path(&self, pool: &PoolInfo) -> PathBuf {
        pool.mount_path
            .join(self.volume_type.dir_name())
            .join(&self.name)
    }

    /// The directory holding this volume's snapshots.
    pub fn snapshots_dir(&self, pool: &PoolInfo) -> PathBuf {
        pool.mount_path
            .join(format!("{}-snapshots", self.volume_type.dir_name()))
            .join(&self.name)
    }

    /// Where a snapshot's files are.
    pub fn snapshot_path(&self, pool: &PoolInfo, snapshot: &str) -> PathBuf {
        self.snapshots_dir(pool).join(snapshot)
    }
}

/// A storage driver. Drivers manage volumes only: no records, no rollback of earlier steps
/// (the pool layer does that), no reference counting. Each call either succeeds or leaves
/// nothing half-made of its own step.
pub trait StorageDriver: Send + Sync {
    /// LXD's name of the driver (`dir`, `btrfs`, `zfs`, `lvm`).
    fn name(&self) -> &'static str;

    /// What the driver can do.
    fn capabilities(&self) -> StorageCapabilities;

    /// Whether the driver can work on this host (its tools and kernel support are there); the
    /// error says what is missing. Pools are only created with an available driver, and only
    /// available drivers are offered to clients. The default: always available.
    fn check_available(&self) -> Result<()> {
        Ok(())
    }

    /// Checks pool configuration keys and values.
    fn validate_pool(&self, config: &ConfigMap) -> Result<()>;

    /// Creates the pool (its backing store, and mounts it); returns the configuration with
    /// the defaults it chose filled in (e.g. `source`, `size`).
    fn create_pool(&self, pool: &PoolInfo) -> Result<ConfigMap>;

    /// Destroys an empty pool and what the driver made for it (loop file, mount).
    fn delete_pool(&self, pool: &PoolInfo) -> Result<()>;

    /// Makes the pool available at its mount path (idempotent).
    fn mount_pool(&self, pool: &PoolInfo) -> Result<()>;

    /// Releases the pool's mount (idempotent).
    fn unmount_pool(&self, pool: &PoolInfo) -> Result<()>;

    /// Checks volume configuration keys and values (`size`, ...).
    fn validate_volume(&self, config: &ConfigMap) -> Result<()>;

    /// Creates an empty volume.
    fn create_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> Result<()>;

    /// Makes an image volume read-only once it has been filled (drivers that can).
    fn seal_image_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> Result<()>;

    /// Creates `vol` from the filled image volume `image` (a snapshot or clone where the
    /// driver has optimized images, else a copy).
    fn create_volume_from_image(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        image: &VolumeInfo,
    ) -> Result<()>;

    /// Creates `vol` as a copy of `src`, and copies of `src`'s snapshots named in `snapshots`
    /// (oldest first) as snapshots of `vol`. The copy is independent of the source afterwards.
    fn create_volume_from_copy(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshots: &[String],
    ) -> Result<()>;

    /// Creates `vol` as a copy of the snapshot `snapshot` of `src`, with no snapshots of its
    /// own; the copy is writable and independent of the source afterwards.
    ///
    /// The default composes the other calls: `src` is copied with that one snapshot, the copy
    /// is restored to it and its snapshot deleted. Drivers override it with a direct copy or
    /// clone of the snapshot.
    fn create_volume_from_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshot: &str,
    ) -> Result<()> {
        let snaps = [snapshot.to_string()];
        self.create_volume_from_copy(pool, vol, src, &snaps)?;
        let r = self
            .restore_snapshot(pool, vol, snapshot)
            .and_then(|()| self.delete_snapshot(pool, vol, snapshot));
        if let Err(e) = r {
            let _ = self.delete_snapshot(pool, vol, snapshot);
            let _ = self.delete_volume(pool, vol);
            return Err(e);
        }
        Ok(())
    }

    /// Deletes a volume that has no snapshots left.
    fn delete_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> Result<()>;

    /// Renames a volume and its snapshots.
    fn rename_volume(&self, pool: &PoolInfo, vol: &VolumeInfo, new_name: &str) -> Result<()>;

    /// Takes a snapshot.
    fn create_snapshot(&self, pool: &PoolInfo, vol: &VolumeInfo, snapshot: &str) -> Result<()>;

    /// Deletes a snapshot.
    fn delete_snapshot(&self, pool: &PoolInfo, vol: &VolumeInfo, snapshot: &str) -> Result<()>;

    /// Renames a snapshot.
    fn rename_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
        new_name: &str,
    ) -> Result<()>;

    /// The snapshots of `vol` (oldest first) that restoring `snapshot` would destroy: a driver
    /// that can only roll back to the latest snapshot (zfs) names the later ones, or refuses
    /// when the volume's configuration does not allow removing them. The caller deletes them,
    /// files and records, before [`StorageDriver::restore_snapshot`]. The default: none.
    fn snapshots_removed_by_restore(
        &self,
        _pool: &PoolInfo,
        _vol: &VolumeInfo,
        _snapshot: &str,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }

    /// Puts the volume back to the snapshot's content (the volume must not be in use).
    fn restore_snapshot(&self, pool: &PoolInfo, vol: &VolumeInfo, snapshot: &str) -> Result<()>;

    /// Sets (`Some`) or removes (`None`) the volume's size limit.
    fn set_quota(&self, pool: &PoolInfo, vol: &VolumeInfo, size: Option<u64>) -> Result<()>;

    /// Bytes used by the volume.
    fn usage(&self, pool: &PoolInfo, vol: &VolumeInfo) -> Result<u64>;

    /// Makes the volume's files available and returns their directory.
    fn mount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> Result<PathBuf>;

    /// Releases a volume mount.
    fn unmount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> Result<()>;

    /// On-disk names of the volumes of a type that exist in the pool (for recovery after a
    /// crash). The default lists the type's directory.
    fn list_volumes(&self, pool: &PoolInfo, volume_type: VolumeType) -> Result<Vec<String>> {
        let dir = pool.mount_path.join(volume_type.dir_name());
        let mut names = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(entries) => {
                for e in entries {
                    let e = e.map_err(|e| crate::Error::io("list volumes", &dir, e))?;
                    if let Some(n) = e.file_name().to_str() {
                        names.push(n.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(crate::Error::io("list volumes", &dir, e)),
        }
        names.sort();
        Ok(names)
    }
}
