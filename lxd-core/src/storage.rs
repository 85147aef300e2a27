//! The storage driver interface. Drivers (in lxd-storage) manage volumes only and declare what
//! they can do; the pool layer above them owns records and rollback. The storage issue extends
//! this declaration with creation, snapshots, copies and quotas.

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::Result;

/// What a driver can do, so the pool layer picks the fast path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageCapabilities {
    /// Images are unpacked once into an image volume and instances are cloned from it.
    pub optimized_images: bool,
    /// Snapshots share data with their volume (copy-on-write).
    pub cow_snapshots: bool,
    /// `size` can be enforced.
    pub quotas: bool,
    /// Volumes are block devices that need mounting.
    pub block_backed: bool,
}

/// The kind of a volume, which decides its directory in the pool (LXD's layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeKind {
    /// `containers/NAME`.
    Container,
    /// `images/FINGERPRINT`.
    Image,
    /// `custom/NAME`.
    Custom,
}

/// A volume in a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRef {
    /// The volume's kind.
    pub kind: VolumeKind,
    /// Its name within the kind.
    pub name: String,
}

/// A storage driver: the operations the runtime needs to get an instance's root filesystem.
#[async_trait]
pub trait StorageDriver: Send + Sync {
    /// LXD's name of the driver (`dir`, `btrfs`, `zfs`, `lvm`).
    fn name(&self) -> &str;

    /// What the driver can do.
    fn capabilities(&self) -> StorageCapabilities;

    /// Makes the volume available and returns the directory that holds its files.
    async fn mount_volume(&self, volume: &VolumeRef) -> Result<PathBuf>;

    /// Releases a mount taken with [`StorageDriver::mount_volume`].
    async fn unmount_volume(&self, volume: &VolumeRef) -> Result<()>;
}
