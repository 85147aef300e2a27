//! The object kinds this store names in [`lxd_core::store::StoreError`]s, and how it names
//! the objects: a snapshot as `INSTANCE/SNAPSHOT`, a volume snapshot as `VOLUME/SNAPSHOT`, an
//! image by its fingerprint.

/// A project.
pub const PROJECT: &str = "Project";
/// A profile.
pub const PROFILE: &str = "Profile";
/// An instance.
pub const INSTANCE: &str = "Instance";
/// An instance snapshot (named `INSTANCE/SNAPSHOT`).
pub const SNAPSHOT: &str = "Snapshot";
/// An image (named by fingerprint or the prefix asked for).
pub const IMAGE: &str = "Image";
/// An image alias.
pub const ALIAS: &str = "Image alias";
/// A storage pool.
pub const POOL: &str = "Storage pool";
/// A storage volume (named by its name).
pub const VOLUME: &str = "Storage volume";
/// A storage volume snapshot (named `VOLUME/SNAPSHOT`).
pub const VOLUME_SNAPSHOT: &str = "Storage volume snapshot";
/// A managed network.
pub const NETWORK: &str = "Network";
/// A cluster member.
pub const NODE: &str = "Node";
