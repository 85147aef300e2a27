//! Networking interfaces. Network drivers (in lxd-net) create and run managed networks (LXD's
//! `bridge` type, with the fan overlay as a bridge mode); the nic driver plugs instances into
//! networks and host interfaces (`bridged`, `macvlan`, `physical` nics). The orchestration in
//! [`crate::Lxd`] owns the records and decides when to call them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::{ConfigMap, DeviceConfig};

/// A managed network as a driver sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkInfo {
    /// Name (also the name of its bridge interface).
    pub name: String,
    /// LXD's type (`bridge`).
    pub kind: String,
    /// Configuration, defaults filled in.
    pub config: ConfigMap,
    /// A directory for the driver's files (dnsmasq leases, hosts, pid): `$LXD_DIR/networks/NAME`.
    pub state_dir: PathBuf,
}

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetAddress {
    /// `inet` or `inet6`.
    pub family: String,
    /// The address.
    pub address: String,
    /// Prefix length.
    pub netmask: String,
    /// `global`, `link` or `local`.
    pub scope: String,
}

/// Traffic counters of an interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetCounters {
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Packets received.
    pub packets_received: u64,
    /// Packets sent.
    pub packets_sent: u64,
}

/// The state of a network's (or any host) interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    /// `up` or `down`.
    pub state: String,
    /// MAC address.
    pub hwaddr: String,
    /// MTU.
    pub mtu: u32,
    /// `broadcast`, `loopback`, `point-to-point`.
    pub kind: String,
    /// Addresses.
    pub addresses: Vec<NetAddress>,
    /// Counters.
    pub counters: NetCounters,
}

/// A DHCP lease of a managed network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Host name the client gave (or the instance's).
    pub hostname: String,
    /// MAC address.
    pub hwaddr: String,
    /// Leased address.
    pub address: String,
    /// `dynamic` or `static`.
    pub kind: String,
}

/// A static DHCP lease: a nic with `ipv4.address` on a managed network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticLease {
    /// The instance's name (its DNS name on the network).
    pub hostname: String,
    /// The nic's MAC address.
    pub hwaddr: String,
    /// The address it always gets.
    pub ipv4: String,
}

/// A host interface, for the list of networks (unmanaged ones included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInterface {
    /// Name.
    pub name: String,
    /// LXD's type: `loopback`, `bridge`, `physical`, `vlan`, `bond`, `unknown`.
    pub kind: String,
}

/// A driver of one network type.
#[async_trait]
pub trait NetworkDriver: Send + Sync {
    /// LXD's network type (`bridge`).
    fn kind(&self) -> &'static str;

    /// Checks a new or changed configuration and fills in defaults (`ipv4.address=auto`
    /// becomes a free subnet, ...); `others` are the other managed networks, whose subnets a
    /// new one must not overlap.
    async fn prepare(
        &self,
        name: &str,
        config: &ConfigMap,
        others: &[NetworkInfo],
    ) -> Result<ConfigMap>;

    /// Creates the network's kernel objects and services and starts them.
    async fn create(&self, net: &NetworkInfo) -> Result<()>;

    /// Makes sure a recorded network is up (daemon start); idempotent.
    async fn start(&self, net: &NetworkInfo) -> Result<()>;

    /// Takes the network down: its interfaces, firewall rules, services and sysctl changes
    /// go, so nothing is left.
    async fn stop(&self, net: &NetworkInfo) -> Result<()>;

    /// Applies a changed configuration to a running network.
    async fn update(&self, old: &NetworkInfo, new: &NetworkInfo) -> Result<()>;

    /// The state of the network's interface.
    async fn state(&self, net: &NetworkInfo) -> Result<NetworkState>;

    /// The current DHCP leases.
    async fn leases(&self, net: &NetworkInfo) -> Result<Vec<Lease>>;

    /// Replaces the static leases (nics with `ipv4.address`).
    async fn set_static_leases(&self, net: &NetworkInfo, leases: &[StaticLease]) -> Result<()>;
}

/// A nic device of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicDevice {
    /// Device name (`eth0`).
    pub name: String,
    /// Device configuration (`nictype`, `network`, `parent`, `name`, `hwaddr`, `mtu`,
    /// `vlan`, `ipv4.address`, `limits.ingress`, `limits.egress`, `host_name`).
    pub config: DeviceConfig,
    /// The bridge to plug a `bridged` nic into (a managed network's interface or a host
    /// bridge).
    pub bridge: Option<String>,
    /// The MAC address to use (`volatile.NAME.hwaddr`).
    pub hwaddr: String,
}

/// What attaching a nic produced, recorded as volatile keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NicAttachment {
    /// The host-side interface (`volatile.NAME.host_name`), for veth pairs.
    pub host_name: Option<String>,
    /// Extra volatile values to remember (`last_state.created`, ...), by key suffix.
    pub volatile: BTreeMap<String, String>,
}

/// Plugs instances into networks.
#[async_trait]
pub trait NicDriver: Send + Sync {
    /// Creates the nic and moves it into the network namespace of `init_pid`, named
    /// `config.name` (default: the device name).
    async fn attach(&self, instance: &str, nic: &NicDevice, init_pid: i32)
        -> Result<NicAttachment>;

    /// Removes a nic (also after the instance stopped, when only host-side parts remain);
    /// `init_pid` is set while the instance runs.
    async fn detach(
        &self,
        instance: &str,
        nic: &NicDevice,
        attachment: &NicAttachment,
        init_pid: Option<i32>,
    ) -> Result<()>;

    /// The host's interfaces (for the unmanaged entries of the network list).
    async fn host_interfaces(&self) -> Result<Vec<HostInterface>>;

    /// The state of any host interface.
    async fn interface_state(&self, name: &str) -> Result<NetworkState>;
}
