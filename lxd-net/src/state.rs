//! The state of an interface as LXD reports it (`/1.0/networks/NAME/state`): up or down, MAC,
//! MTU, kind, addresses and counters, read over netlink.

use lxd_core::network::{NetAddress, NetCounters, NetworkState};

use crate::cidr::format_hwaddr;
use crate::error::Result;
use crate::netlink::{Link, Netlink};

/// The state of `link`.
pub async fn link_state(nl: &Netlink, link: &Link) -> Result<NetworkState> {
    let addresses = nl
        .addresses(Some(link.index))
        .await?
        .into_iter()
        .map(|a| NetAddress {
            family: if a.cidr.is_v4() { "inet" } else { "inet6" }.into(),
            address: a.cidr.addr.to_string(),
            netmask: a.cidr.prefix.to_string(),
            scope: a.scope.into(),
        })
        .collect();
    Ok(NetworkState {
        state: if link.up { "up" } else { "down" }.into(),
        hwaddr: format_hwaddr(&link.mac),
        mtu: link.mtu,
        kind: if link.loopback {
            "loopback"
        } else if link.point_to_point {
            "point-to-point"
        } else {
            "broadcast"
        }
        .into(),
        addresses,
        counters: NetCounters {
            bytes_received: link.rx_bytes,
            bytes_sent: link.tx_bytes,
            packets_received: link.rx_packets,
            packets_sent: link.tx_packets,
        },
    })
}

/// LXD's type of a host interface in the network list: `loopback`, `bridge`, `vlan`,
/// `physical` (backed by a bus device), `bond` or `unknown`.
pub fn host_kind(link: &Link) -> &'static str {
    if link.loopback {
        return "loopback";
    }
    match link.kind.as_deref() {
        Some("bridge") | Some("openvswitch") => "bridge",
        Some("vlan") => "vlan",
        Some("bond") => "bond",
        Some(_) => "unknown",
        None if link.parent_dev.is_some() => "physical",
        None => "unknown",
    }
}
