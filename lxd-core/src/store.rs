//! The state store interface. All state is read and written through it, so a replicated store
//! can replace the single-node one without touching its callers. The storage issue extends
//! this declaration with pools, volumes, images and profiles.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::error::Result;

/// An instance as recorded in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    /// Project name (`default`).
    pub project: String,
    /// Instance name.
    pub name: String,
    /// Configuration, including `volatile.*` keys.
    pub config: BTreeMap<String, String>,
}

/// The state store.
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// An instance's record, if it exists.
    async fn instance(&self, project: &str, name: &str) -> Result<Option<InstanceRecord>>;

    /// Creates or replaces an instance's record.
    async fn put_instance(&self, record: InstanceRecord) -> Result<()>;

    /// Deletes an instance's record.
    async fn delete_instance(&self, project: &str, name: &str) -> Result<()>;
}
