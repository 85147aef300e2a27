//! The network driver interface. Drivers (in lxd-net) create networks and plug instances into
//! them; the networking issue extends this declaration with network creation and leases.

use async_trait::async_trait;

use crate::error::Result;

/// A network driver: what the runtime needs to give a started container its nics.
#[async_trait]
pub trait NetworkDriver: Send + Sync {
    /// LXD's name of the network type (`bridge`, `macvlan`, `physical`).
    fn kind(&self) -> &str;

    /// Creates the nic `device` for the instance whose init has host pid `init_pid` and moves
    /// it into the instance's network namespace.
    async fn attach_nic(&self, instance: &str, device: &str, init_pid: i32) -> Result<()>;

    /// Removes the nic `device` of an instance (also when the instance has stopped).
    async fn detach_nic(&self, instance: &str, device: &str) -> Result<()>;
}
