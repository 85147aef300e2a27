//! The state store interface. All state is read and written through [`ClusterStore`], so a
//! replicated store can replace the single-node one without touching its callers.
//!
//! Writes are batches of [`StoreOp`]s applied in one transaction: either every operation of a
//! batch takes effect or none does. A batch is also the unit a replicated store will put in
//! its log.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A device: its configuration keys (`type`, `path`, `pool`, `nictype`, ...).
pub type DeviceConfig = BTreeMap<String, String>;
/// Devices by name.
pub type Devices = BTreeMap<String, DeviceConfig>;
/// A configuration map.
pub type ConfigMap = BTreeMap<String, String>;

/// Errors of a state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object does not exist.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// What kind of object ("Instance", "Image", ...).
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// An object of that name exists already.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The object is still used by others (e.g. a profile used by instances).
    #[error("{kind} {name:?} is in use: {reason}")]
    InUse {
        /// What kind of object.
        kind: &'static str,
        /// Its name.
        name: String,
        /// By what.
        reason: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(String),
    /// The store cannot run this query (e.g. raw SQL on a non-SQL store).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// The result type of stores.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectRecord {
    /// Name (`default`).
    pub name: String,
    /// Description.
    pub description: String,
    /// Configuration (`features.images`, ...).
    pub config: ConfigMap,
}

/// A profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRecord {
    /// Project.
    pub project: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Configuration.
    pub config: ConfigMap,
    /// Devices.
    pub devices: Devices,
}

/// Instance type, stored as LXD does (0 container, 1 virtual machine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceType {
    /// A system container.
    Container,
    /// A virtual machine.
    VirtualMachine,
}

impl InstanceType {
    /// LXD's database code.
    pub fn code(self) -> i64 {
        match self {
            InstanceType::Container => 0,
            InstanceType::VirtualMachine => 1,
        }
    }

    /// From LXD's database code.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(InstanceType::Container),
            1 => Some(InstanceType::VirtualMachine),
            _ => None,
        }
    }
}

/// An instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Project.
    pub project: String,
    /// Name.
    pub name: String,
    /// The node it lives on.
    pub node: String,
    /// Container or VM.
    pub instance_type: InstanceType,
    /// Architecture name (`x86_64`).
    pub architecture: String,
    /// Deleted when stopped.
    pub ephemeral: bool,
    /// Has stateful snapshots.
    pub stateful: bool,
    /// Description.
    pub description: String,
    /// Local configuration, including `volatile.*`.
    pub config: ConfigMap,
    /// Local devices.
    pub devices: Devices,
    /// Profiles, in the order they apply.
    pub profiles: Vec<String>,
    /// Creation time, seconds since the epoch.
    pub created_at: i64,
    /// Last start, seconds since the epoch (0 = never).
    pub last_used_at: i64,
}

/// An instance snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// Project.
    pub project: String,
    /// The instance.
    pub instance: String,
    /// Snapshot name.
    pub name: String,
    /// Configuration at the time of the snapshot.
    pub config: ConfigMap,
    /// Devices at the time of the snapshot.
    pub devices: Devices,
    /// Profiles at the time of the snapshot.
    pub profiles: Vec<String>,
    /// Stateful (includes memory).
    pub stateful: bool,
    /// Description.
    pub description: String,
    /// Creation time, seconds since the epoch.
    pub created_at: i64,
    /// Expiry time, seconds since the epoch (0 = never).
    pub expires_at: i64,
}

/// An image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Project.
    pub project: String,
    /// SHA-256 fingerprint (64 hex digits).
    pub fingerprint: String,
    /// File name it was uploaded as.
    pub filename: String,
    /// Size in bytes (all files).
    pub size: i64,
    /// Visible to untrusted clients.
    pub public: bool,
    /// Refreshed from its source automatically.
    pub auto_update: bool,
    /// Cached from a remote (deleted when unused).
    pub cached: bool,
    /// Architecture name.
    pub architecture: String,
    /// `container` or `virtual-machine`.
    pub image_type: String,
    /// Creation time from the metadata, seconds since the epoch.
    pub created_at: i64,
    /// Upload time.
    pub uploaded_at: i64,
    /// Expiry time (0 = never).
    pub expires_at: i64,
    /// Last time an instance was created from it (0 = never).
    pub last_used_at: i64,
    /// Properties (`os`, `release`, `description`, ...).
    pub properties: ConfigMap,
}

/// An image alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageAliasRecord {
    /// Project.
    pub project: String,
    /// Alias name.
    pub name: String,
    /// Target image fingerprint.
    pub fingerprint: String,
    /// Description.
    pub description: String,
}

/// A storage pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoragePoolRecord {
    /// Name.
    pub name: String,
    /// Driver (`dir`, `btrfs`, `zfs`, `lvm`).
    pub driver: String,
    /// Description.
    pub description: String,
    /// Configuration (`source`, `size`, ...).
    pub config: ConfigMap,
    /// `CREATED`, `PENDING` or `ERRORED`.
    pub status: String,
}

/// Volume types, stored as LXD does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VolumeType {
    /// A container's root volume.
    Container,
    /// An unpacked image.
    Image,
    /// A user's volume.
    Custom,
    /// A virtual machine's root volume.
    VirtualMachine,
}

impl VolumeType {
    /// LXD's database code.
    pub fn code(self) -> i64 {
        match self {
            VolumeType::Container => 0,
            VolumeType::Image => 1,
            VolumeType::Custom => 2,
            VolumeType::VirtualMachine => 3,
        }
    }

    /// From LXD's database code.
    pub fn from_code(code: i64) -> Option<Self> {
        match code {
            0 => Some(VolumeType::Container),
            1 => Some(VolumeType::Image),
            2 => Some(VolumeType::Custom),
            3 => Some(VolumeType::VirtualMachine),
            _ => None,
        }
    }

    /// LXD's API name (`container`, `image`, `custom`, `virtual-machine`).
    pub fn api_name(self) -> &'static str {
        match self {
            VolumeType::Container => "container",
            VolumeType::Image => "image",
            VolumeType::Custom => "custom",
            VolumeType::VirtualMachine => "virtual-machine",
        }
    }

    /// The directory of this type's volumes in a pool (`containers`, `images`, ...).
    pub fn dir_name(self) -> &'static str {
        match self {
            VolumeType::Container => "containers",
            VolumeType::Image => "images",
            VolumeType::Custom => "custom",
            VolumeType::VirtualMachine => "virtual-machines",
        }
    }
}

/// A storage volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    /// Pool.
    pub pool: String,
    /// Project.
    pub project: String,
    /// Type.
    pub volume_type: VolumeType,
    /// Name (instance name, image fingerprint, or the user's name).
    pub name: String,
    /// Description.
    pub description: String,
    /// `filesystem` or `block`.
    pub content_type: String,
    /// Configuration (`size`, ...).
    pub config: ConfigMap,
}

/// A snapshot of a storage volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSnapshotRecord {
    /// Pool.
    pub pool: String,
    /// Project.
    pub project: String,
    /// The volume's type.
    pub volume_type: VolumeType,
    /// The volume's name.
    pub volume: String,
    /// Snapshot name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Configuration at the time of the snapshot.
    pub config: ConfigMap,
    /// Expiry (0 = never).
    pub expires_at: i64,
}

/// A managed network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// Project (`default` unless the project has `features.networks`).
    pub project: String,
    /// Name (also its interface's name).
    pub name: String,
    /// LXD's network type (`bridge`, `macvlan`, `sriov`, `ovn`, `physical`).
    pub kind: String,
    /// Description.
    pub description: String,
    /// Configuration (`ipv4.address`, `bridge.mode`, ...).
    pub config: ConfigMap,
    /// `CREATED`, `PENDING` or `ERRORED`.
    pub status: String,
}

/// A cluster member (one row, this host, until clustering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Cluster address (empty when not clustered).
    pub address: String,
    /// Schema version it runs.
    pub schema: i64,
    /// Number of API extensions it supports.
    pub api_extensions: i64,
    /// Last heartbeat, seconds since the epoch.
    pub heartbeat: i64,
    /// Architecture name.
    pub architecture: String,
}

/// A key to identify a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeKey {
    /// Pool.
    pub pool: String,
    /// Project.
    pub project: String,
    /// Type.
    pub volume_type: VolumeType,
    /// Name.
    pub name: String,
}

/// One change; a batch of them is applied atomically by [`ClusterStore::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreOp {
    /// Sets (`Some`) or removes (`None`) a server configuration key.
    SetConfig {
        /// Key.
        key: String,
        /// Value.
        value: Option<String>,
    },
    /// Creates or updates this node's row.
    PutNode(NodeRecord),
    /// Creates a project (fails if it exists).
    CreateProject(ProjectRecord),
    /// Replaces a project's description and configuration.
    UpdateProject(ProjectRecord),
    /// Deletes a project (fails while it holds instances, images, profiles other than
    /// `default`, or volumes).
    DeleteProject {
        /// Name.
        name: String,
    },
    /// Creates a profile (fails if it exists).
    CreateProfile(ProfileRecord),
    /// Replaces a profile.
    UpdateProfile(ProfileRecord),
    /// Renames a profile.
    RenameProfile {
        /// Project.
        project: String,
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
    },
    /// Deletes a profile (fails while instances use it).
    DeleteProfile {
        /// Project.
        project: String,
        /// Name.
        name: String,
    },
    /// Creates an instance (fails if the name is taken in the project, or a profile is
    /// missing).
    CreateInstance(InstanceRecord),
    /// Replaces an instance's record (not its snapshots).
    UpdateInstance(InstanceRecord),
    /// Sets (`Some`) or removes (`None`) configuration keys of an instance.
    SetInstanceConfig {
        /// Project.
        project: String,
        /// Instance.
        name: String,
        /// Keys to set or remove.
        changes: BTreeMap<String, Option<String>>,
    },
    /// Renames an instance (its snapshots follow).
    RenameInstance {
        /// Project.
        project: String,
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
    },
    /// Deletes an instance and its snapshots.
    DeleteInstance {
        /// Project.
        project: String,
        /// Name.
        name: String,
    },
    /// Creates an instance snapshot (fails if it exists).
    CreateSnapshot(SnapshotRecord),
    /// Renames an instance snapshot.
    RenameSnapshot {
        /// Project.
        project: String,
        /// Instance.
        instance: String,
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
    },
    /// Deletes an instance snapshot.
    DeleteSnapshot {
        /// Project.
        project: String,
        /// Instance.
        instance: String,
        /// Name.
        name: String,
    },
    /// Creates an image (fails if the fingerprint exists in the project).
    CreateImage(ImageRecord),
    /// Replaces an image's record.
    UpdateImage(ImageRecord),
    /// Deletes an image and its aliases.
    DeleteImage {
        /// Project.
        project: String,
        /// Full fingerprint.
        fingerprint: String,
    },
    /// Creates an alias (fails if it exists or the image does not).
    CreateAlias(ImageAliasRecord),
    /// Replaces an alias's target and description.
    UpdateAlias(ImageAliasRecord),
    /// Renames an alias.
    RenameAlias {
        /// Project.
        project: String,
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
    },
    /// Deletes an alias.
    DeleteAlias {
        /// Project.
        project: String,
        /// Name.
        name: String,
    },
    /// Creates a storage pool (fails if it exists).
    CreatePool(StoragePoolRecord),
    /// Replaces a pool's description, configuration and status.
    UpdatePool(StoragePoolRecord),
    /// Deletes a pool (fails while it holds volumes).
    DeletePool {
        /// Name.
        name: String,
    },
    /// Creates a volume (fails if it exists).
    CreateVolume(VolumeRecord),
    /// Replaces a volume's description and configuration.
    UpdateVolume(VolumeRecord),
    /// Renames a volume (its snapshots follow).
    RenameVolume {
        /// The volume.
        key: VolumeKey,
        /// New name.
        new_name: String,
    },
    /// Deletes a volume and its snapshots.
    DeleteVolume(VolumeKey),
    /// Creates a volume snapshot.
    CreateVolumeSnapshot(VolumeSnapshotRecord),
    /// Deletes a volume snapshot.
    DeleteVolumeSnapshot {
        /// The volume.
        key: VolumeKey,
        /// Snapshot name.
        name: String,
    },
    /// Creates a managed network (fails if the name is taken in the project).
    CreateNetwork(NetworkRecord),
    /// Replaces a network's description, configuration and status.
    UpdateNetwork(NetworkRecord),
    /// Renames a network.
    RenameNetwork {
        /// Project.
        project: String,
        /// Current name.
        name: String,
        /// New name.
        new_name: String,
    },
    /// Deletes a network.
    DeleteNetwork {
        /// Project.
        project: String,
        /// Name.
        name: String,
    },
}

/// Which database a raw query runs against (as `lxd sql local|global`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    /// This node's own database.
    Local,
    /// The cluster-wide database.
    Global,
}

/// Rows of a raw query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResult {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each value rendered as text (`NULL` as `None`).
    pub rows: Vec<Vec<Option<String>>>,
    /// Rows changed, for statements that change rows.
    pub rows_affected: u64,
}

/// The state store.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Applies a batch of changes in one transaction; on error nothing is changed.
    async fn apply(&self, ops: Vec<StoreOp>) -> StoreResult<()>;

    /// Server configuration.
    async fn config(&self) -> StoreResult<ConfigMap>;
    /// Nodes.
    async fn nodes(&self) -> StoreResult<Vec<NodeRecord>>;

    /// Projects.
    async fn projects(&self) -> StoreResult<Vec<ProjectRecord>>;
    /// One project.
    async fn project(&self, name: &str) -> StoreResult<ProjectRecord>;

    /// Profiles of a project.
    async fn profiles(&self, project: &str) -> StoreResult<Vec<ProfileRecord>>;
    /// One profile.
    async fn profile(&self, project: &str, name: &str) -> StoreResult<ProfileRecord>;

    /// Instances of a project (all projects with `None`).
    async fn instances(&self, project: Option<&str>) -> StoreResult<Vec<InstanceRecord>>;
    /// One instance.
    async fn instance(&self, project: &str, name: &str) -> StoreResult<InstanceRecord>;
    /// Snapshots of an instance, oldest first.
    async fn snapshots(&self, project: &str, instance: &str) -> StoreResult<Vec<SnapshotRecord>>;
    /// Snapshots of every instance of a project (of all projects with `None`), in one read:
    /// by instance name (then project), each instance's oldest first.
    async fn all_snapshots(&self, project: Option<&str>) -> StoreResult<Vec<SnapshotRecord>>;
    /// One snapshot.
    async fn snapshot(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> StoreResult<SnapshotRecord>;

    /// Images of a project.
    async fn images(&self, project: &str) -> StoreResult<Vec<ImageRecord>>;
    /// One image, by full fingerprint or a unique prefix of it.
    async fn image(&self, project: &str, fingerprint: &str) -> StoreResult<ImageRecord>;
    /// Aliases of a project.
    async fn aliases(&self, project: &str) -> StoreResult<Vec<ImageAliasRecord>>;
    /// One alias.
    async fn alias(&self, project: &str, name: &str) -> StoreResult<ImageAliasRecord>;

    /// Storage pools.
    async fn pools(&self) -> StoreResult<Vec<StoragePoolRecord>>;
    /// One pool.
    async fn pool(&self, name: &str) -> StoreResult<StoragePoolRecord>;
    /// Volumes of a pool (of every project).
    async fn volumes(&self, pool: &str) -> StoreResult<Vec<VolumeRecord>>;
    /// One volume.
    async fn volume(&self, key: &VolumeKey) -> StoreResult<VolumeRecord>;
    /// Snapshots of a volume, oldest first.
    async fn volume_snapshots(&self, key: &VolumeKey) -> StoreResult<Vec<VolumeSnapshotRecord>>;

    /// Managed networks of a project, by name.
    async fn networks(&self, project: &str) -> StoreResult<Vec<NetworkRecord>>;
    /// One managed network.
    async fn network(&self, project: &str, name: &str) -> StoreResult<NetworkRecord>;

    /// Runs raw SQL (for `lxd sql`); stores without SQL answer [`StoreError::Unsupported`].
    async fn query(&self, db: Database, sql: &str) -> StoreResult<QueryResult>;
}
