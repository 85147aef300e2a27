//! Storage pools, their volumes, volume snapshots and usage.

use super::{is_default, nullable, ConfigMap, Timestamp};
use serde::{Deserialize, Serialize};

/// Fields of a new LXD storage pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoragePoolsPost {
    /// Storage pool configuration map (refer to doc/storage.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the storage pool.
    pub description: String,
    /// Storage pool name.
    pub name: String,
    /// Storage pool driver (btrfs, ceph, cephfs, dir, lvm or zfs).
    pub driver: String,
}

/// Fields of a LXD storage pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoragePool {
    /// Storage pool configuration map (refer to doc/storage.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the storage pool.
    pub description: String,
    /// Storage pool name.
    pub name: String,
    /// Storage pool driver (btrfs, ceph, cephfs, dir, lvm or zfs).
    pub driver: String,
    /// List of URLs of objects using this storage pool; LXD sends `null` when nothing does.
    pub used_by: Option<Vec<String>>,
    /// Pool status (Pending, Created, Errored or Unknown).
    pub status: String,
    /// Cluster members on which the storage pool has been defined (`["none"]` outside a
    /// cluster).
    pub locations: Option<Vec<String>>,
}

/// Modifiable fields of a LXD storage pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoragePoolPut {
    /// Storage pool configuration map (refer to doc/storage.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the storage pool.
    pub description: String,
}

/// Space and inodes of a storage pool (`GET /1.0/storage-pools/NAME/resources`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesStoragePool {
    /// Disk space usage.
    #[serde(deserialize_with = "nullable")]
    pub space: ResourcesStoragePoolSpace,
    /// Disk inode usage.
    #[serde(deserialize_with = "nullable")]
    pub inodes: ResourcesStoragePoolInodes,
}

/// Space available to a given storage pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesStoragePoolSpace {
    /// Used disk space (bytes).
    #[serde(skip_serializing_if = "is_default")]
    pub used: u64,
    /// Total disk space (bytes).
    pub total: u64,
}

/// Inodes available to a given storage pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResourcesStoragePoolInodes {
    /// Used inodes.
    pub used: u64,
    /// Total inodes.
    pub total: u64,
}

/// Fields of a new LXD storage pool volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumesPost {
    /// Storage volume configuration map (refer to doc/storage.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the storage volume.
    pub description: String,
    /// Name of a snapshot to restore.
    #[serde(skip_serializing_if = "is_default")]
    pub restore: String,
    /// Volume name.
    pub name: String,
    /// Volume type (container, custom, image or virtual-machine).
    pub r#type: String,
    /// Migration source.
    #[serde(deserialize_with = "nullable")]
    pub source: StorageVolumeSource,
    /// Volume content type (filesystem or block).
    pub content_type: String,
}

/// Fields required to rename a LXD storage pool volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumePost {
    /// New volume name.
    pub name: String,
    /// New storage pool.
    #[serde(skip_serializing_if = "is_default")]
    pub pool: String,
    /// Initiate volume migration.
    pub migration: bool,
    /// Migration target (for push mode).
    pub target: Option<StorageVolumePostTarget>,
    /// Whether snapshots should be discarded (migration only).
    pub volume_only: bool,
    /// New project name.
    #[serde(skip_serializing_if = "is_default")]
    pub project: String,
}

/// Migration target host and operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumePostTarget {
    /// The certificate of the migration target.
    pub certificate: String,
    /// Remote operation URL (for migration).
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
    /// Migration websockets credentials.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub secrets: ConfigMap,
}

/// Fields of a LXD storage volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolume {
    /// Storage volume configuration map (refer to doc/storage.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the storage volume.
    pub description: String,
    /// Name of a snapshot to restore.
    #[serde(skip_serializing_if = "is_default")]
    pub restore: String,
    /// Volume name.
    pub name: String,
    /// Volume type.
    pub r#type: String,
    /// List of URLs of objects using this storage volume.
    #[serde(deserialize_with = "nullable")]
    pub used_by: Vec<String>,
    /// What cluster member this record was found on.
    pub location: String,
    /// Volume content type (filesystem or block).
    pub content_type: String,
    /// Project containing the volume (since LXD 5.0.2).
    pub project: String,
    /// Volume creation timestamp (since LXD 5.0.2).
    pub created_at: Timestamp,
}

/// Modifiable fields of a LXD storage volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumePut {
    /// Storage volume configuration map (refer to doc/storage.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the storage volume.
    pub description: String,
    /// Name of a snapshot to restore.
    #[serde(skip_serializing_if = "is_default")]
    pub restore: String,
}

/// Creation source for a new storage volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumeSource {
    /// Source volume name (for copy).
    pub name: String,
    /// Source type (copy or migration).
    pub r#type: String,
    /// Source storage pool (for copy).
    pub pool: String,
    /// Certificate (for migration).
    pub certificate: String,
    /// Whether to use pull or push mode (for migration).
    #[serde(skip_serializing_if = "is_default")]
    pub mode: String,
    /// Remote operation URL (for migration).
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
    /// Map of migration websockets (for migration).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub secrets: ConfigMap,
    /// Whether snapshots should be discarded (for migration).
    pub volume_only: bool,
    /// Whether existing destination volume should be refreshed.
    pub refresh: bool,
    /// Source project name.
    #[serde(skip_serializing_if = "is_default")]
    pub project: String,
}

/// Fields available for a new LXD storage volume snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumeSnapshotsPost {
    /// Snapshot name.
    pub name: String,
    /// When the snapshot expires (gets auto-deleted).
    pub expires_at: Option<Timestamp>,
}

/// Fields required to rename/move a LXD storage volume snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumeSnapshotPost {
    /// New snapshot name.
    pub name: String,
}

/// A LXD storage volume snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumeSnapshot {
    /// Description of the storage volume.
    pub description: String,
    /// When the snapshot expires (gets auto-deleted).
    pub expires_at: Option<Timestamp>,
    /// Snapshot name.
    pub name: String,
    /// Storage volume configuration map (refer to doc/storage.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// The content type (filesystem or block).
    pub content_type: String,
    /// Volume snapshot creation timestamp (since LXD 5.0.2).
    pub created_at: Timestamp,
}

/// Modifiable fields of a LXD storage volume snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumeSnapshotPut {
    /// Description of the storage volume.
    pub description: String,
    /// When the snapshot expires (gets auto-deleted).
    pub expires_at: Option<Timestamp>,
}

/// Live state of the volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumeState {
    /// Volume usage.
    pub usage: Option<StorageVolumeStateUsage>,
}

/// Disk usage of a volume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageVolumeStateUsage {
    /// Used space in bytes.
    #[serde(skip_serializing_if = "is_default")]
    pub used: u64,
    /// Storage volume size in bytes (since LXD 5.0.2).
    pub total: i64,
}

impl StoragePool {
    /// The modifiable fields, as `PUT /1.0/storage-pools/NAME` takes them.
    pub fn writable(&self) -> StoragePoolPut {
        StoragePoolPut {
            config: self.config.clone(),
            description: self.description.clone(),
        }
    }
}

impl StorageVolume {
    /// The modifiable fields, as `PUT /1.0/storage-pools/POOL/volumes/TYPE/NAME` takes them.
    pub fn writable(&self) -> StorageVolumePut {
        StorageVolumePut {
            config: self.config.clone(),
            description: self.description.clone(),
            restore: self.restore.clone(),
        }
    }
}
