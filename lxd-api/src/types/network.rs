//! Networks, their live state and DHCP leases.

use super::{nullable, ConfigMap};
use serde::{Deserialize, Serialize};

/// Fields of a new LXD network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworksPost {
    /// Network configuration map (refer to doc/networks.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the network.
    pub description: String,
    /// The name of the new network.
    pub name: String,
    /// The network type (refer to doc/networks.md).
    pub r#type: String,
}

/// Fields required to rename a LXD network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkPost {
    /// The new name for the network.
    pub name: String,
}

/// Modifiable fields of a LXD network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkPut {
    /// Network configuration map (refer to doc/networks.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the network.
    pub description: String,
}

/// A LXD network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    /// Network configuration map (refer to doc/networks.md).
    #[serde(deserialize_with = "nullable")]
    pub config: ConfigMap,
    /// Description of the network.
    pub description: String,
    /// The network name.
    pub name: String,
    /// The network type.
    pub r#type: String,
    /// List of URLs of objects using this network; LXD sends `null` for an unmanaged
    /// interface nothing uses.
    pub used_by: Option<Vec<String>>,
    /// Whether this is a LXD managed network.
    pub managed: bool,
    /// The state of the network (for managed network in clusters).
    pub status: String,
    /// Cluster members on which the network has been defined; `null` outside a cluster.
    pub locations: Option<Vec<String>>,
}

/// A DHCP lease.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkLease {
    /// The hostname associated with the record.
    pub hostname: String,
    /// The MAC address.
    pub hwaddr: String,
    /// The IP address.
    pub address: String,
    /// The type of record (static or dynamic).
    pub r#type: String,
    /// What cluster member this record was found on.
    pub location: String,
}

/// Network state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkState {
    /// List of addresses.
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<NetworkStateAddress>,
    /// Interface counters.
    #[serde(deserialize_with = "nullable")]
    pub counters: NetworkStateCounters,
    /// MAC address.
    pub hwaddr: String,
    /// MTU.
    pub mtu: i64,
    /// Link state.
    pub state: String,
    /// Interface type.
    pub r#type: String,
    /// Additional bond interface information.
    pub bond: Option<NetworkStateBond>,
    /// Additional bridge interface information.
    pub bridge: Option<NetworkStateBridge>,
    /// Additional vlan interface information.
    pub vlan: Option<NetworkStateVLAN>,
    /// Additional OVN network information.
    pub ovn: Option<NetworkStateOVN>,
}

/// A network address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStateAddress {
    /// Address family.
    pub family: String,
    /// IP address.
    pub address: String,
    /// IP netmask (CIDR).
    pub netmask: String,
    /// Address scope.
    pub scope: String,
}

/// Packet counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStateCounters {
    /// Number of bytes received.
    pub bytes_received: i64,
    /// Number of bytes sent.
    pub bytes_sent: i64,
    /// Number of packets received.
    pub packets_received: i64,
    /// Number of packets sent.
    pub packets_sent: i64,
}

/// Bond specific state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStateBond {
    /// Bonding mode.
    pub mode: String,
    /// Transmit balancing policy.
    pub transmit_policy: String,
    /// Delay on link up (ms).
    pub up_delay: u64,
    /// Delay on link down (ms).
    pub down_delay: u64,
    /// How often to check for link state (ms).
    pub mii_frequency: u64,
    /// Bond link state.
    pub mii_state: String,
    /// List of devices that are part of the bond.
    #[serde(deserialize_with = "nullable")]
    pub lower_devices: Vec<String>,
}

/// Bridge specific state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStateBridge {
    /// Bridge ID.
    pub id: String,
    /// Whether STP is enabled.
    pub stp: bool,
    /// Delay on port join (ms).
    pub forward_delay: u64,
    /// Default VLAN ID.
    pub vlan_default: u64,
    /// Whether VLAN filtering is enabled.
    pub vlan_filtering: bool,
    /// List of devices that are in the bridge.
    #[serde(deserialize_with = "nullable")]
    pub upper_devices: Vec<String>,
}

/// VLAN specific state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStateVLAN {
    /// Parent device.
    pub lower_device: String,
    /// VLAN ID.
    pub vid: u64,
}

/// OVN specific state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStateOVN {
    /// OVN network chassis name.
    pub chassis: String,
}

impl Network {
    /// The modifiable fields, as `PUT /1.0/networks/NAME` takes them.
    pub fn writable(&self) -> NetworkPut {
        NetworkPut {
            config: self.config.clone(),
            description: self.description.clone(),
        }
    }
}
