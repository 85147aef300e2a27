//! The fan overlay (`bridge.mode=fan`) on stock kernels.
//!
//! Address plan (Ubuntu's fan, as LXD computes it): each host owns the overlay /24 made of the
//! overlay's leading octet(s) and the host part of its underlay address. With overlay
//! `240.0.0.0/8` and underlay `10.1.0.0/16`, the host `10.1.2.3` owns `240.2.3.0/24` and its
//! bridge is `240.2.3.1/24`; instances get the rest by DHCP.
//!
//! Ubuntu's fan needs a kernel patch (`fan-map` on vxlan/ipip devices). This implementation
//! routes instead, with standard devices:
//! - `vxlan` (default): one vxlan device `NAME-fan` (VNI from the overlay prefix, UDP 8472,
//!   `local` = this host's underlay address, learning off, no default destination) that is
//!   *not* a bridge port. Its MAC is derived from the host's underlay address. For every peer
//!   host, from `fan.peers`: a route to the peer's overlay /24 via the peer's bridge address
//!   on-link on `NAME-fan`, a permanent neighbour entry giving that address the peer's derived
//!   MAC, and a forwarding-database entry sending that MAC to the peer's underlay address. No
//!   ARP or flooding crosses the underlay; the receiving host routes the packet to its bridge.
//! - `ipip`: an ipip tunnel `NAME-fan` with `local` and no fixed remote; for every peer a
//!   route to its overlay /24 via the peer's underlay address on-link on the tunnel (the tunnel
//!   takes the outer destination from the route's gateway).
//!
//! Traffic between overlays is routed, not NATed; traffic from the overlay to elsewhere is
//! NATed by the network's nftables table.

use std::net::{IpAddr, Ipv4Addr};

use crate::cidr::{Cidr, Mac};
use crate::config::{FanConfig, FanType};
use crate::error::{NetError, Result};
use crate::netlink::{LinkChange, Netlink, VxlanSpec};

/// The UDP port of the fan's vxlan (the Linux default, as Ubuntu's fan).
pub const VXLAN_PORT: u16 = 8472;

/// Bytes the encapsulation adds.
pub fn overhead(kind: FanType) -> u32 {
    match kind {
        FanType::Vxlan => 50,
        FanType::Ipip => 20,
    }
}

/// The tunnel device of fan network `name`.
pub fn tunnel_name(name: &str) -> String {
    format!("{name}-fan")
}

/// Checks the overlay and underlay sizes as LXD does.
pub fn check_sizes(overlay: &Cidr, underlay: &Cidr) -> Result<()> {
    if underlay.prefix != 16 && underlay.prefix != 24 {
        return Err(NetError::invalid(
            "fan.underlay_subnet",
            underlay.to_string(),
            "only /16 or /24 underlays are supported",
        ));
    }
    if overlay.prefix != 8 && overlay.prefix != 16 {
        return Err(NetError::invalid(
            "fan.overlay_subnet",
            overlay.to_string(),
            "only /8 or /16 overlays are supported",
        ));
    }
    if u32::from(overlay.prefix) + (32 - u32::from(underlay.prefix)) + 8 > 32 {
        return Err(NetError::invalid(
            "fan.overlay_subnet",
            overlay.to_string(),
            format!("overlay and underlay {underlay} are too large to accommodate the fan"),
        ));
    }
    Ok(())
}

/// The overlay /24 of the host with underlay address `addr` (as LXD's `fanAddress`).
pub fn host_subnet(overlay: &Cidr, underlay: &Cidr, addr: Ipv4Addr) -> Cidr {
    let o = match overlay.network() {
        IpAddr::V4(v) => v.octets(),
        IpAddr::V6(_) => [0; 4],
    };
    let u = addr.octets();
    let b = if overlay.prefix == 16 {
        [o[0], o[1], u[3], 0]
    } else if underlay.prefix == 24 {
        [o[0], u[3], 0, 0]
    } else {
        [o[0], u[2], u[3], 0]
    };
    Cidr {
        addr: IpAddr::V4(Ipv4Addr::from(b)),
        prefix: 24,
    }
}

/// The bridge address of the host with underlay address `addr`: `.1` of its overlay /24.
pub fn bridge_address(overlay: &Cidr, underlay: &Cidr, addr: Ipv4Addr) -> Cidr {
    let s = host_subnet(overlay, underlay, addr);
    Cidr {
        addr: s.nth(1),
        prefix: 24,
    }
}

/// The VXLAN network identifier of an overlay: its first three octets (`240.0.0.0/8` is
/// `0xf00000`), so every host of the same overlay agrees.
pub fn vni(overlay: &Cidr) -> u32 {
    match overlay.network() {
        IpAddr::V4(v) => {
            let o = v.octets();
            (u32::from(o[0]) << 16) | (u32::from(o[1]) << 8) | u32::from(o[2])
        }
        IpAddr::V6(_) => 0,
    }
}

/// The MAC of a host's vxlan device, derived from its underlay address (locally
/// administered), so peers can address it without ARP.
pub fn tunnel_mac(underlay_addr: Ipv4Addr) -> Mac {
    let o = underlay_addr.octets();
    Mac([0x02, 0xfa, o[0], o[1], o[2], o[3]])
}

/// Where this host sits on the underlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Underlay {
    /// This host's underlay address.
    pub addr: Ipv4Addr,
    /// The interface holding it.
    pub dev: String,
    /// Its index.
    pub index: u32,
    /// Its MTU.
    pub mtu: u32,
}

/// Finds this host's address in the underlay subnet (not on `lo`, as LXD's `addressForSubnet`).
pub async fn find_underlay(nl: &Netlink, underlay: &Cidr) -> Result<Underlay> {
    let links = nl.links().await?;
    for a in nl.addresses(None).await? {
        let IpAddr::V4(v4) = a.cidr.addr else {
            continue;
        };
        if !underlay.contains(a.cidr.addr) {
            continue;
        }
        let Some(l) = links.iter().find(|l| l.index == a.index) else {
            continue;
        };
        if l.loopback {
            continue;
        }
        return Ok(Underlay {
            addr: v4,
            dev: l.name.clone(),
            index: l.index,
            mtu: l.mtu,
        });
    }
    Err(NetError::not_found(
        "address of this host in fan.underlay_subnet",
        underlay.to_string(),
    ))
}

/// Creates (or re-creates) the fan's tunnel device and the routes to every peer.
pub async fn setup_tunnel(
    nl: &Netlink,
    name: &str,
    fan: &FanConfig,
    under: &Underlay,
    mtu: u32,
) -> Result<()> {
    let tun = tunnel_name(name);
    nl.del_link_by_name(&tun).await?;
    match fan.kind {
        FanType::Vxlan => nl
            .add_vxlan(&VxlanSpec {
                name: &tun,
                vni: vni(&fan.overlay),
                local: under.addr,
                dev: under.index,
                port: VXLAN_PORT,
                mac: tunnel_mac(under.addr),
                mtu,
            })
            .await
            .map_err(|e| kernel_lacks(e, "fan.type=vxlan", "vxlan (CONFIG_VXLAN)"))?,
        FanType::Ipip => nl
            .add_ipip(&tun, under.addr, under.index, mtu)
            .await
            .map_err(|e| kernel_lacks(e, "fan.type=ipip", "ipip tunnels (CONFIG_NET_IPIP)"))?,
    }
    let link = nl.require_link(&tun).await?;
    nl.set_link(
        link.index,
        &tun,
        &LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    )
    .await?;
    for peer in &fan.peers {
        if *peer == under.addr {
            continue;
        }
        let subnet = host_subnet(&fan.overlay, &fan.underlay, *peer);
        let gw = bridge_address(&fan.overlay, &fan.underlay, *peer).addr;
        match fan.kind {
            FanType::Vxlan => {
                let mac = tunnel_mac(*peer);
                nl.add_fdb(link.index, mac, IpAddr::V4(*peer)).await?;
                nl.add_neighbour(link.index, gw, mac).await?;
                nl.add_route(subnet, Some(gw), link.index, true).await?;
            }
            FanType::Ipip => {
                nl.add_route(subnet, Some(IpAddr::V4(*peer)), link.index, true)
                    .await?;
            }
        }
    }
    Ok(())
}

/// Turns "unknown device type" into a clear statement of the missing kernel feature.
fn kernel_lacks(e: NetError, what: &str, feature: &str) -> NetError {
    match e.errno() {
        Some(nix::errno::Errno::EOPNOTSUPP) => {
            NetError::unsupported(what, format!("the running kernel has no {feature} support"))
        }
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        Cidr::parse(s).unwrap()
    }

    #[test]
    fn address_plan_as_ubuntu_fan() {
        let o = c("240.0.0.0/8");
        let u = c("10.1.0.0/16");
        let a: Ipv4Addr = "10.1.2.3".parse().unwrap();
        assert_eq!(host_subnet(&o, &u, a).to_string(), "240.2.3.0/24");
        assert_eq!(bridge_address(&o, &u, a).to_string(), "240.2.3.1/24");
        assert_eq!(
            host_subnet(&o, &c("192.168.5.0/24"), "192.168.5.7".parse().unwrap()).to_string(),
            "240.7.0.0/24"
        );
        assert_eq!(
            host_subnet(
                &c("250.10.0.0/16"),
                &c("192.168.5.0/24"),
                "192.168.5.7".parse().unwrap()
            )
            .to_string(),
            "250.10.7.0/24"
        );
        assert_eq!(vni(&o), 0xf0_0000);
        assert_eq!(tunnel_mac(a).to_string(), "02:fa:0a:01:02:03");
        assert!(check_sizes(&o, &u).is_ok());
        assert!(check_sizes(&c("250.10.0.0/16"), &c("10.1.0.0/16")).is_err());
        assert!(check_sizes(&o, &c("10.0.0.0/8")).is_err());
    }
}
