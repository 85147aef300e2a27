//! Instances: creation, configuration, state, snapshots, exec and console requests.

use super::{is_default, nullable, ConfigMap, Devices, StatusCode, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `type` of a container instance.
pub const INSTANCE_TYPE_CONTAINER: &str = "container";

/// `type` of a virtual-machine instance.
pub const INSTANCE_TYPE_VM: &str = "virtual-machine";

/// Fields available for a new LXD instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstancesPost {
    /// Architecture name.
    pub architecture: String,
    /// Instance configuration (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Instance devices (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// Whether the instance is ephemeral (deleted on shutdown).
    pub ephemeral: bool,
    /// List of profiles applied to the instance.
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// If set, instance will be restored to the provided snapshot name.
    #[serde(skip_serializing_if = "is_default")]
    pub restore: String,
    /// Whether the instance currently has saved state on disk.
    pub stateful: bool,
    /// Instance description.
    pub description: String,
    /// Instance name.
    pub name: String,
    /// Creation source.
    #[serde(deserialize_with = "nullable")]
    pub source: InstanceSource,
    /// Cloud instance type (AWS, GCP, Azure, ...) to emulate with limits.
    pub instance_type: String,
    /// Type (container or virtual-machine).
    pub r#type: String,
}

/// Fields available for a mass update.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstancesPut {
    /// Desired runtime state.
    pub state: Option<InstanceStatePut>,
}

/// Fields required to rename/move a LXD instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstancePost {
    /// New name for the instance.
    pub name: String,
    /// Whether the instance is being migrated to another server.
    pub migration: bool,
    /// Whether to perform a live migration (migration only).
    pub live: bool,
    /// Whether snapshots should be discarded (migration only).
    pub instance_only: bool,
    /// Whether snapshots should be discarded (migration only, deprecated, use instance_only).
    pub container_only: bool,
    /// Target for the migration, will use pull mode if not set (migration only).
    pub target: Option<InstancePostTarget>,
    /// Target pool for local cross-pool move.
    pub pool: String,
    /// Target project for local cross-project move.
    pub project: String,
    /// Allow inconsistent copies when migrating.
    pub allow_inconsistent: bool,
}

/// Migration target host and operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstancePostTarget {
    /// The certificate of the migration target.
    pub certificate: String,
    /// The operation URL on the remote target.
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
    /// Migration websockets credentials.
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub secrets: ConfigMap,
}

/// Modifiable fields of a LXD instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstancePut {
    /// Architecture name.
    pub architecture: String,
    /// Instance configuration (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Instance devices (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// Whether the instance is ephemeral (deleted on shutdown).
    pub ephemeral: bool,
    /// List of profiles applied to the instance.
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// If set, instance will be restored to the provided snapshot name.
    #[serde(skip_serializing_if = "is_default")]
    pub restore: String,
    /// Whether the instance currently has saved state on disk.
    pub stateful: bool,
    /// Instance description.
    pub description: String,
}

/// A LXD instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Instance {
    /// Architecture name.
    pub architecture: String,
    /// Instance configuration (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Instance devices (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// Whether the instance is ephemeral (deleted on shutdown).
    pub ephemeral: bool,
    /// List of profiles applied to the instance.
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// If set, instance will be restored to the provided snapshot name.
    #[serde(skip_serializing_if = "is_default")]
    pub restore: String,
    /// Whether the instance currently has saved state on disk.
    pub stateful: bool,
    /// Instance description.
    pub description: String,
    /// Instance creation timestamp.
    pub created_at: Timestamp,
    /// Expanded configuration (all profiles and local config merged).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub expanded_config: ConfigMap,
    /// Expanded devices (all profiles and local devices merged).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub expanded_devices: Devices,
    /// Instance name.
    pub name: String,
    /// Instance status (see instance_state).
    pub status: String,
    /// Instance status code (see instance_state).
    pub status_code: StatusCode,
    /// Last start timestamp.
    pub last_used_at: Timestamp,
    /// What cluster member this instance is located on.
    pub location: String,
    /// The type of instance (container or virtual-machine).
    pub r#type: String,
    /// Instance project name.
    pub project: String,
}

/// An instance with its state, snapshots and backups (`GET /1.0/instances?recursion=2`).
///
/// `backups` and `snapshots` are `null` when the instance has none, as LXD leaves them nil.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceFull {
    /// Architecture name.
    pub architecture: String,
    /// Instance configuration (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Instance devices (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// Whether the instance is ephemeral (deleted on shutdown).
    pub ephemeral: bool,
    /// List of profiles applied to the instance.
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// If set, instance will be restored to the provided snapshot name.
    #[serde(skip_serializing_if = "is_default")]
    pub restore: String,
    /// Whether the instance currently has saved state on disk.
    pub stateful: bool,
    /// Instance description.
    pub description: String,
    /// Instance creation timestamp.
    pub created_at: Timestamp,
    /// Expanded configuration (all profiles and local config merged).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub expanded_config: ConfigMap,
    /// Expanded devices (all profiles and local devices merged).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub expanded_devices: Devices,
    /// Instance name.
    pub name: String,
    /// Instance status (see instance_state).
    pub status: String,
    /// Instance status code (see instance_state).
    pub status_code: StatusCode,
    /// Last start timestamp.
    pub last_used_at: Timestamp,
    /// What cluster member this instance is located on.
    pub location: String,
    /// The type of instance (container or virtual-machine).
    pub r#type: String,
    /// Instance project name.
    pub project: String,
    /// List of backups.
    pub backups: Option<Vec<InstanceBackup>>,
    /// Current state.
    pub state: Option<InstanceState>,
    /// List of snapshots.
    pub snapshots: Option<Vec<InstanceSnapshot>>,
}

/// Creation source for a new instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceSource {
    /// Source type.
    pub r#type: String,
    /// Certificate (for remote images or migration).
    pub certificate: String,
    /// Image alias name (for image source).
    #[serde(skip_serializing_if = "is_default")]
    pub alias: String,
    /// Image fingerprint (for image source).
    #[serde(skip_serializing_if = "is_default")]
    pub fingerprint: String,
    /// Image filters (for image source).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub properties: ConfigMap,
    /// Remote server URL (for remote images).
    #[serde(skip_serializing_if = "is_default")]
    pub server: String,
    /// Remote server secret (for remote private images).
    #[serde(skip_serializing_if = "is_default")]
    pub secret: String,
    /// Protocol name (for remote image).
    #[serde(skip_serializing_if = "is_default")]
    pub protocol: String,
    /// Base image fingerprint (for faster migration).
    #[serde(rename = "base-image", skip_serializing_if = "is_default")]
    pub base_image: String,
    /// Whether to use pull or push mode (for migration).
    #[serde(skip_serializing_if = "is_default")]
    pub mode: String,
    /// Remote operation URL (for migration).
    #[serde(skip_serializing_if = "is_default")]
    pub operation: String,
    /// Map of migration websockets (for migration).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub secrets: ConfigMap,
    /// Existing instance name or snapshot (for copy).
    #[serde(skip_serializing_if = "is_default")]
    pub source: String,
    /// Whether this is a live migration (for migration).
    #[serde(skip_serializing_if = "is_default")]
    pub live: bool,
    /// Whether the copy should skip the snapshots (for copy).
    #[serde(skip_serializing_if = "is_default")]
    pub instance_only: bool,
    /// Whether the copy should skip the snapshots (for copy, deprecated, use instance_only).
    #[serde(skip_serializing_if = "is_default")]
    pub container_only: bool,
    /// Whether this is refreshing an existing instance (for migration and copy).
    #[serde(skip_serializing_if = "is_default")]
    pub refresh: bool,
    /// Source project name (for copy and local image).
    #[serde(skip_serializing_if = "is_default")]
    pub project: String,
    /// Whether to ignore errors when copying (e.g. for volatile files).
    pub allow_inconsistent: bool,
}

/// Modifiable fields of a LXD instance's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceStatePut {
    /// State change action (start, stop, restart, freeze, unfreeze).
    pub action: String,
    /// How long to wait (in s) before giving up (when force isn't set).
    pub timeout: i64,
    /// Whether to force the action (for stop and restart).
    pub force: bool,
    /// Whether to store the runtime state (for stop).
    pub stateful: bool,
}

/// A LXD instance's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceState {
    /// Current status (Running, Stopped, Frozen or Error).
    pub status: String,
    /// Numeric status code (101, 102, 110, 112).
    pub status_code: StatusCode,
    /// Dict of disk usage.
    #[serde(deserialize_with = "nullable")]
    pub disk: BTreeMap<String, InstanceStateDisk>,
    /// Memory usage information.
    #[serde(deserialize_with = "nullable")]
    pub memory: InstanceStateMemory,
    /// Dict of network usage; `null` while the instance is not running.
    pub network: Option<BTreeMap<String, InstanceStateNetwork>>,
    /// PID of the runtime.
    pub pid: i64,
    /// Number of processes in the instance.
    pub processes: i64,
    /// CPU usage information.
    #[serde(deserialize_with = "nullable")]
    pub cpu: InstanceStateCPU,
}

/// Disk information section of a LXD instance's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceStateDisk {
    /// Disk usage in bytes.
    pub usage: i64,
}

/// CPU section of a LXD instance's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceStateCPU {
    /// CPU usage in nanoseconds.
    pub usage: i64,
}

/// Memory information section of a LXD instance's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceStateMemory {
    /// Memory usage in bytes.
    pub usage: i64,
    /// Peak memory usage in bytes.
    pub usage_peak: i64,
    /// SWAP usage in bytes.
    pub swap_usage: i64,
    /// Peak SWAP usage in bytes.
    pub swap_usage_peak: i64,
}

/// Network information section of a LXD instance's state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceStateNetwork {
    /// List of IP addresses.
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<InstanceStateNetworkAddress>,
    /// Traffic counters.
    #[serde(deserialize_with = "nullable")]
    pub counters: InstanceStateNetworkCounters,
    /// MAC address.
    pub hwaddr: String,
    /// Name of the interface on the host.
    pub host_name: String,
    /// MTU (maximum transmit unit) for the interface.
    pub mtu: i64,
    /// Administrative state of the interface (up/down).
    pub state: String,
    /// Type of interface (broadcast, loopback, point-to-point, ...).
    pub r#type: String,
}

/// An IP address of an instance's network interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceStateNetworkAddress {
    /// Network family (inet or inet6).
    pub family: String,
    /// IP address.
    pub address: String,
    /// Network mask.
    pub netmask: String,
    /// Address scope (local, link or global).
    pub scope: String,
}

/// Traffic counters of an instance's network interface.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceStateNetworkCounters {
    /// Number of bytes received.
    pub bytes_received: i64,
    /// Number of bytes sent.
    pub bytes_sent: i64,
    /// Number of packets received.
    pub packets_received: i64,
    /// Number of packets sent.
    pub packets_sent: i64,
    /// Number of errors received.
    pub errors_received: i64,
    /// Number of errors sent.
    pub errors_sent: i64,
    /// Number of outbound packets dropped.
    pub packets_dropped_outbound: i64,
    /// Number of inbound packets dropped.
    pub packets_dropped_inbound: i64,
}

/// Fields available for a new LXD instance snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceSnapshotsPost {
    /// Snapshot name.
    pub name: String,
    /// Whether the snapshot should include runtime state.
    pub stateful: bool,
    /// When the snapshot expires (gets auto-deleted).
    pub expires_at: Option<Timestamp>,
}

/// Fields required to rename/move a LXD instance snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceSnapshotPost {
    /// New name for the snapshot.
    pub name: String,
    /// Whether this is a migration request.
    pub migration: bool,
    /// Migration target for push migration (requires migration).
    pub target: Option<InstancePostTarget>,
    /// Whether to perform a live migration (requires migration).
    #[serde(skip_serializing_if = "is_default")]
    pub live: bool,
}

/// Modifiable fields of a LXD instance snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceSnapshotPut {
    /// When the snapshot expires (gets auto-deleted).
    pub expires_at: Timestamp,
}

/// A LXD instance snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceSnapshot {
    /// When the snapshot expires (gets auto-deleted).
    pub expires_at: Timestamp,
    /// Architecture name.
    pub architecture: String,
    /// Instance configuration (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Instance creation timestamp.
    pub created_at: Timestamp,
    /// Instance devices (see doc/instances.md).
    #[serde(deserialize_with = "nullable")]
    pub devices: Devices,
    /// Whether the instance is ephemeral (deleted on shutdown).
    pub ephemeral: bool,
    /// Expanded configuration (all profiles and local config merged).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub expanded_config: ConfigMap,
    /// Expanded devices (all profiles and local devices merged).
    #[serde(skip_serializing_if = "is_default", deserialize_with = "nullable")]
    pub expanded_devices: Devices,
    /// Last start timestamp.
    pub last_used_at: Timestamp,
    /// Snapshot name.
    pub name: String,
    /// List of profiles applied to the instance.
    #[serde(deserialize_with = "nullable")]
    pub profiles: Vec<String>,
    /// Whether the instance currently has saved state on disk.
    pub stateful: bool,
    /// Size of the snapshot in bytes.
    pub size: i64,
}

/// A LXD instance backup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceBackup {
    /// Backup name.
    pub name: String,
    /// When the backup was created.
    pub created_at: Timestamp,
    /// When the backup expires (gets auto-deleted).
    pub expires_at: Timestamp,
    /// Whether to ignore snapshots.
    pub instance_only: bool,
    /// Whether to ignore snapshots (deprecated, use instance_only).
    pub container_only: bool,
    /// Whether to use a pool-optimized binary format (instead of plain tarball).
    pub optimized_storage: bool,
}

/// A LXD instance exec request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceExecPost {
    /// Command and its arguments.
    #[serde(deserialize_with = "nullable")]
    pub command: Vec<String>,
    /// Whether to wait for all websockets to be connected before spawning the command.
    #[serde(rename = "wait-for-websocket")]
    pub wait_for_websocket: bool,
    /// Whether to spawn the command interactively (one PTY instead of 3 pipes).
    pub interactive: bool,
    /// Additional environment to pass to the command.
    #[serde(deserialize_with = "nullable")]
    pub environment: ConfigMap,
    /// Terminal width in characters (for interactive).
    pub width: i64,
    /// Terminal height in rows (for interactive).
    pub height: i64,
    /// Whether to capture the output for later download (requires non-interactive).
    #[serde(rename = "record-output")]
    pub record_output: bool,
    /// UID of the user to spawn the command as.
    pub user: u32,
    /// GID of the user to spawn the command as.
    pub group: u32,
    /// Current working directory for the command.
    pub cwd: String,
}

/// A message on an exec operation's control websocket: `window-resize` (args `width`,
/// `height`) or `signal` (with `signal` set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceExecControl {
    /// Control command (`window-resize` or `signal`).
    pub command: String,
    /// Command arguments (`width` and `height` for `window-resize`).
    #[serde(deserialize_with = "nullable")]
    pub args: ConfigMap,
    /// Signal number to send (for `signal`).
    pub signal: i64,
}

/// A LXD instance console request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceConsolePost {
    /// Console width in columns (console type only).
    pub width: i64,
    /// Console height in rows (console type only).
    pub height: i64,
    /// Type of console to attach to (console or vga).
    pub r#type: String,
}

/// A message on a console operation's control websocket (`window-resize`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceConsoleControl {
    /// Control command (`window-resize`).
    pub command: String,
    /// Command arguments (`width` and `height` for `window-resize`).
    #[serde(deserialize_with = "nullable")]
    pub args: ConfigMap,
}

impl Instance {
    /// The modifiable fields, as `PUT /1.0/instances/NAME` takes them.
    pub fn writable(&self) -> InstancePut {
        InstancePut {
            architecture: self.architecture.clone(),
            config: self.config.clone(),
            devices: self.devices.clone(),
            ephemeral: self.ephemeral,
            profiles: self.profiles.clone(),
            restore: self.restore.clone(),
            stateful: self.stateful,
            description: self.description.clone(),
        }
    }
}

impl InstanceFull {
    /// The instance record without state, snapshots and backups.
    pub fn instance(&self) -> Instance {
        Instance {
            architecture: self.architecture.clone(),
            config: self.config.clone(),
            devices: self.devices.clone(),
            ephemeral: self.ephemeral,
            profiles: self.profiles.clone(),
            restore: self.restore.clone(),
            stateful: self.stateful,
            description: self.description.clone(),
            created_at: self.created_at.clone(),
            expanded_config: self.expanded_config.clone(),
            expanded_devices: self.expanded_devices.clone(),
            name: self.name.clone(),
            status: self.status.clone(),
            status_code: self.status_code,
            last_used_at: self.last_used_at.clone(),
            location: self.location.clone(),
            r#type: self.r#type.clone(),
            project: self.project.clone(),
        }
    }

    /// An instance record with the given state, snapshots and backups.
    pub fn from_parts(
        instance: Instance,
        state: Option<InstanceState>,
        snapshots: Option<Vec<InstanceSnapshot>>,
        backups: Option<Vec<InstanceBackup>>,
    ) -> Self {
        Self {
            architecture: instance.architecture,
            config: instance.config,
            devices: instance.devices,
            ephemeral: instance.ephemeral,
            profiles: instance.profiles,
            restore: instance.restore,
            stateful: instance.stateful,
            description: instance.description,
            created_at: instance.created_at,
            expanded_config: instance.expanded_config,
            expanded_devices: instance.expanded_devices,
            name: instance.name,
            status: instance.status,
            status_code: instance.status_code,
            last_used_at: instance.last_used_at,
            location: instance.location,
            r#type: instance.r#type,
            project: instance.project,
            backups,
            state,
            snapshots,
        }
    }
}
