//! Netlink behind lxd-net's own functions: links (bridge, veth, macvlan, vlan, vxlan, ipip),
//! addresses, routes, neighbours and vxlan forwarding entries, in the calling thread's network
//! namespace or in an instance's. The `rtnetlink` crate stays inside this module.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{FromRawFd, IntoRawFd};

use futures_util::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags, AddressScope};
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
};
use rtnetlink::packet_route::neighbour::{NeighbourFlags, NeighbourState};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{
    Handle, LinkBridge, LinkIpIp, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, LinkVlan,
    LinkVxlan, RouteMessageBuilder,
};
use tokio::task::JoinHandle;

use crate::cidr::{Cidr, Mac};
use crate::error::{NetError, Result};
use crate::netns::NetNs;

/// A connection to the kernel's routing netlink in one network namespace. The connection's
/// task ends when this is dropped.
pub struct Netlink {
    handle: Handle,
    task: JoinHandle<()>,
    /// `""` for the caller's namespace, `" in PATH"` otherwise (for messages).
    whereabouts: String,
}

impl Drop for Netlink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An interface as netlink reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name.
    pub name: String,
    /// The link kind (`bridge`, `veth`, `vlan`, ...); `None` for hardware and loopback.
    pub kind: Option<String>,
    /// IFF_UP.
    pub up: bool,
    /// IFF_LOOPBACK.
    pub loopback: bool,
    /// IFF_POINTOPOINT.
    pub point_to_point: bool,
    /// MTU.
    pub mtu: u32,
    /// Hardware address.
    pub mac: Vec<u8>,
    /// Permanent hardware address, when the driver reports one.
    pub perm_mac: Option<Vec<u8>>,
    /// The bridge (or bond) it is a port of.
    pub master: Option<u32>,
    /// The lower device (macvlan/vlan parent, veth peer index).
    pub link: Option<u32>,
    /// The bus device under it (a PCI or virtio device): set for physical nics.
    pub parent_dev: Option<String>,
    /// The interface alias (`ip link set alias`).
    pub alias: Option<String>,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    /// Interface index.
    pub index: u32,
    /// Address and prefix length.
    pub cidr: Cidr,
    /// `global`, `link`, `local` (host) or `site`.
    pub scope: &'static str,
}

/// A route of the main (or another) table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination subnet (`0.0.0.0/0` for a default route).
    pub dst: Cidr,
    /// Gateway, if any.
    pub gateway: Option<IpAddr>,
    /// Output interface.
    pub oif: Option<u32>,
    /// Routing table.
    pub table: u32,
    /// Whether it is a unicast route (not local, broadcast, ...).
    pub unicast: bool,
}

/// What to create for a veth pair.
#[derive(Debug, Clone)]
pub struct VethSpec<'a> {
    /// Host-side name.
    pub host: &'a str,
    /// Peer name (in `peer_netns` when given).
    pub peer: &'a str,
    /// MTU of both ends.
    pub mtu: Option<u32>,
    /// MAC of the peer.
    pub peer_mac: Option<Mac>,
    /// The bridge to enslave the host side to.
    pub master: Option<u32>,
    /// The namespace to create the peer in.
    pub peer_netns: Option<&'a NetNs>,
}

/// What to create for a vxlan device.
#[derive(Debug, Clone)]
pub struct VxlanSpec<'a> {
    /// Name.
    pub name: &'a str,
    /// VXLAN network identifier.
    pub vni: u32,
    /// Local underlay address.
    pub local: Ipv4Addr,
    /// Underlay interface.
    pub dev: u32,
    /// UDP destination port.
    pub port: u16,
    /// MAC address of the device.
    pub mac: Mac,
    /// MTU.
    pub mtu: u32,
}

/// A change to apply to an existing link (only the fields set).
#[derive(Debug, Clone, Default)]
pub struct LinkChange<'a> {
    /// Bring up (`Some(true)`) or down.
    pub up: Option<bool>,
    /// New MTU.
    pub mtu: Option<u32>,
    /// New MAC.
    pub mac: Option<Mac>,
    /// Enslave to this bridge (`Some(Some(i))`) or release (`Some(None)`).
    pub master: Option<Option<u32>>,
    /// New name.
    pub name: Option<&'a str>,
    /// New alias.
    pub alias: Option<&'a str>,
}

fn nl_err(op: impl Into<String>, e: rtnetlink::Error) -> NetError {
    match e {
        rtnetlink::Error::NetlinkError(m) => {
            let code = m.raw_code().abs();
            NetError::Netlink {
                op: op.into(),
                errno: (code != 0).then(|| Errno::from_raw(code)),
                message: m.to_io().to_string(),
            }
        }
        other => NetError::Netlink {
            op: op.into(),
            errno: None,
            message: other.to_string(),
        },
    }
}

/// Whether the error is the kernel saying "no such device/entry".
pub fn is_missing(e: &NetError) -> bool {
    matches!(
        e.errno(),
        Some(Errno::ENODEV) | Some(Errno::ENOENT) | Some(Errno::ESRCH)
    )
}

impl Netlink {
    /// A connection in the calling thread's namespace.
    pub fn new() -> Result<Netlink> {
        let (conn, handle, _) = rtnetlink::new_connection()
            .map_err(|e| NetError::io("open netlink socket", "NETLINK_ROUTE", e))?;
        Ok(Netlink {
            handle,
            task: tokio::spawn(conn),
            whereabouts: String::new(),
        })
    }

    /// A connection inside another namespace.
    pub fn in_netns(ns: &NetNs) -> Result<Netlink> {
        let fd = ns.netlink_socket()?;
        // SAFETY: `fd` is an owned, freshly created netlink socket; its ownership moves into
        // the TokioSocket, which closes it.
        let sock = unsafe { rtnetlink::sys::TokioSocket::from_raw_fd(fd.into_raw_fd()) };
        let (conn, handle, _) = rtnetlink::from_socket(sock);
        Ok(Netlink {
            handle,
            task: tokio::spawn(conn),
            whereabouts: format!(" in {}", ns.path().display()),
        })
    }

    fn op(&self, what: impl std::fmt::Display) -> String {
        format!("{what}{}", self.whereabouts)
    }

    /// Every interface.
    pub async fn links(&self) -> Result<Vec<Link>> {
        let msgs: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err(self.op("list interfaces"), e))?;
        Ok(msgs.iter().map(parse_link).collect())
    }

    /// The interface named `name`, if it exists.
    pub async fn link(&self, name: &str) -> Result<Option<Link>> {
        let r: std::result::Result<Vec<LinkMessage>, _> = self
            .handle
            .link()
            .get()
            .match_name(name)
            .execute()
            .try_collect()
            .await;
        match r {
            Ok(v) => Ok(v.first().map(parse_link)),
            Err(e) => {
                let e = nl_err(self.op(format!("get interface {name}")), e);
                if is_missing(&e) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The interface with index `index`, if it exists.
    pub async fn link_by_index(&self, index: u32) -> Result<Option<Link>> {
        let r: std::result::Result<Vec<LinkMessage>, _> = self
            .handle
            .link()
            .get()
            .match_index(index)
            .execute()
            .try_collect()
            .await;
        match r {
            Ok(v) => Ok(v.first().map(parse_link)),
            Err(e) => {
                let e = nl_err(self.op(format!("get interface #{index}")), e);
                if is_missing(&e) {
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// The interface named `name`, or an error naming it.
    pub async fn require_link(&self, name: &str) -> Result<Link> {
        self.link(name)
            .await?
            .ok_or_else(|| NetError::not_found("interface", format!("{name}{}", self.whereabouts)))
    }

    /// Creates a bridge (no STP, no forward delay).
    pub async fn add_bridge(&self, name: &str, mtu: u32, mac: Mac) -> Result<()> {
        let msg = LinkBridge::new(name)
            .forward_delay(0)
            .mtu(mtu)
            .address(mac.0.to_vec())
            .build();
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("create bridge {name}")), e))
    }

    /// Creates a veth pair, the peer possibly in another namespace.
    pub async fn add_veth(&self, spec: &VethSpec<'_>) -> Result<()> {
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new().name(spec.peer);
        if let Some(m) = spec.peer_mac {
            peer = peer.address(m.0.to_vec());
        }
        if let Some(mtu) = spec.mtu {
            peer = peer.mtu(mtu);
        }
        if let Some(ns) = spec.peer_netns {
            peer = peer.setns_by_fd(ns.raw_fd());
        }
        let mut b = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(spec.host)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
        if let Some(mtu) = spec.mtu {
            b = b.mtu(mtu);
        }
        if let Some(master) = spec.master {
            b = b.controller(master);
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| {
                nl_err(
                    self.op(format!("create veth pair {}/{}", spec.peer, spec.host)),
                    e,
                )
            })
    }

    /// Creates a bridge-mode macvlan on `parent`, possibly directly in another namespace.
    pub async fn add_macvlan(
        &self,
        name: &str,
        parent: u32,
        mac: Option<Mac>,
        mtu: Option<u32>,
        netns: Option<&NetNs>,
    ) -> Result<()> {
        let mut b = LinkMacVlan::new(name, parent, MacVlanMode::Bridge);
        if let Some(m) = mac {
            b = b.address(m.0.to_vec());
        }
        if let Some(mtu) = mtu {
            b = b.mtu(mtu);
        }
        if let Some(ns) = netns {
            b = b.setns_by_fd(ns.raw_fd());
        }
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("create macvlan {name}")), e))
    }

    /// Creates an ifb (intermediate functional block) device.
    pub async fn add_ifb(&self, name: &str) -> Result<()> {
        self.handle
            .link()
            .add(rtnetlink::LinkIfb::new(name).build())
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("create ifb {name}")), e))
    }

    /// Creates an 802.1Q vlan interface on `parent`.
    pub async fn add_vlan(&self, name: &str, parent: u32, id: u16) -> Result<()> {
        self.handle
            .link()
            .add(LinkVlan::new(name, parent, id).build())
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("create vlan {name}")), e))
    }

    /// Creates a vxlan device without learning and without a default remote.
    pub async fn add_vxlan(&self, spec: &VxlanSpec<'_>) -> Result<()> {
        let b = LinkVxlan::new(spec.name, spec.vni)
            .dev(spec.dev)
            .local(spec.local)
            .port(spec.port)
            .learning(false)
            .address(spec.mac.0.to_vec())
            .mtu(spec.mtu);
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("create vxlan {}", spec.name)), e))
    }

    /// Creates an ipip tunnel with a local address and no fixed remote (the remote comes from
    /// each route's gateway).
    pub async fn add_ipip(&self, name: &str, local: Ipv4Addr, dev: u32, mtu: u32) -> Result<()> {
        let b = LinkIpIp::new(name)
            .local(local)
            .dev(dev)
            .ttl(64)
            .pmtudisc(true)
            .mtu(mtu);
        self.handle
            .link()
            .add(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("create ipip tunnel {name}")), e))
    }

    /// Applies `change` to the interface `index` (`label` names it in errors).
    pub async fn set_link(&self, index: u32, label: &str, change: &LinkChange<'_>) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(index);
        match change.up {
            Some(true) => b = b.up(),
            Some(false) => b = b.down(),
            None => {}
        }
        if let Some(mtu) = change.mtu {
            b = b.mtu(mtu);
        }
        if let Some(m) = change.mac {
            b = b.address(m.0.to_vec());
        }
        match change.master {
            Some(Some(m)) => b = b.controller(m),
            Some(None) => b = b.nocontroller(),
            None => {}
        }
        if let Some(n) = change.name {
            b = b.name(n);
        }
        if let Some(a) = change.alias {
            b = b.alias(a);
        }
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("configure interface {label}")), e))
    }

    /// Moves the interface `index` into `ns`, renaming it to `new_name` on the way.
    pub async fn move_link(
        &self,
        index: u32,
        label: &str,
        ns: &NetNs,
        new_name: Option<&str>,
    ) -> Result<()> {
        let mut b = LinkUnspec::new_with_index(index).setns_by_fd(ns.raw_fd());
        if let Some(n) = new_name {
            b = b.name(n);
        }
        self.handle
            .link()
            .set(b.build())
            .execute()
            .await
            .map_err(|e| {
                nl_err(
                    self.op(format!(
                        "move interface {label} to {}{}",
                        ns.path().display(),
                        new_name.map(|n| format!(" as {n}")).unwrap_or_default()
                    )),
                    e,
                )
            })
    }

    /// Deletes the interface `index`.
    pub async fn del_link(&self, index: u32, label: &str) -> Result<()> {
        self.handle
            .link()
            .del(index)
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("delete interface {label}")), e))
    }

    /// Deletes the interface `name` if it exists; returns whether it did.
    pub async fn del_link_by_name(&self, name: &str) -> Result<bool> {
        let Some(l) = self.link(name).await? else {
            return Ok(false);
        };
        match self.del_link(l.index, name).await {
            Ok(()) => Ok(true),
            Err(e) if is_missing(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The addresses of one interface (`Some(index)`) or of all.
    pub async fn addresses(&self, index: Option<u32>) -> Result<Vec<Addr>> {
        let mut req = self.handle.address().get();
        if let Some(i) = index {
            req = req.set_link_index_filter(i);
        }
        let msgs: Vec<_> = req
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err(self.op("list addresses"), e))?;
        let mut out = Vec::new();
        for m in msgs {
            let mut local = None;
            let mut address = None;
            for a in &m.attributes {
                match a {
                    AddressAttribute::Local(ip) => local = Some(*ip),
                    AddressAttribute::Address(ip) => address = Some(*ip),
                    _ => {}
                }
            }
            let Some(ip) = local.or(address) else {
                continue;
            };
            let Some(cidr) = Cidr::new(ip, m.header.prefix_len) else {
                continue;
            };
            let scope = match m.header.scope {
                AddressScope::Universe => "global",
                AddressScope::Link => "link",
                AddressScope::Host => "local",
                AddressScope::Site => "site",
                _ => "global",
            };
            out.push(Addr {
                index: m.header.index,
                cidr,
                scope,
            });
        }
        Ok(out)
    }

    /// Adds an address (without duplicate address detection when `nodad`); an address that
    /// is already there is fine.
    pub async fn add_address(
        &self,
        index: u32,
        label: &str,
        cidr: Cidr,
        nodad: bool,
    ) -> Result<()> {
        let mut req = self
            .handle
            .address()
            .add(index, cidr.addr, cidr.prefix)
            .replace();
        if nodad {
            req.message_mut()
                .attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        req.execute()
            .await
            .map_err(|e| nl_err(self.op(format!("add address {cidr} to {label}")), e))
    }

    /// Removes an address.
    pub async fn del_address(&self, index: u32, label: &str, cidr: Cidr) -> Result<()> {
        let msg = match cidr.addr {
            IpAddr::V4(a) => rtnetlink::AddressMessageBuilder::<Ipv4Addr>::new()
                .index(index)
                .address(a, cidr.prefix)
                .build(),
            IpAddr::V6(a) => rtnetlink::AddressMessageBuilder::<std::net::Ipv6Addr>::new()
                .index(index)
                .address(a, cidr.prefix)
                .build(),
        };
        self.handle
            .address()
            .del(msg)
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("remove address {cidr} from {label}")), e))
    }

    /// The routes of one family, all tables.
    pub async fn routes(&self, v4: bool) -> Result<Vec<Route>> {
        let msg = if v4 {
            RouteMessageBuilder::<Ipv4Addr>::new().build()
        } else {
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
        };
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(msg)
            .execute()
            .try_collect()
            .await
            .map_err(|e| nl_err(self.op("list routes"), e))?;
        let mut out = Vec::new();
        for m in msgs {
            let mut dst = None;
            let mut gateway = None;
            let mut oif = None;
            let mut table = u32::from(m.header.table);
            for a in &m.attributes {
                match a {
                    RouteAttribute::Destination(d) => dst = route_ip(d),
                    RouteAttribute::Gateway(g) => gateway = route_ip(g),
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    RouteAttribute::Table(t) => table = *t,
                    _ => {}
                }
            }
            let zero: IpAddr = if v4 {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                std::net::Ipv6Addr::UNSPECIFIED.into()
            };
            let Some(dst) = Cidr::new(dst.unwrap_or(zero), m.header.destination_prefix_length)
            else {
                continue;
            };
            out.push(Route {
                dst,
                gateway,
                oif,
                table,
                unicast: m.header.kind == RouteType::Unicast,
            });
        }
        Ok(out)
    }

    /// Adds (or replaces) a route in the main table: `dst` via `gateway` (on-link when
    /// `onlink`, needed when the gateway is not in a local subnet) out of `oif`.
    pub async fn add_route(
        &self,
        dst: Cidr,
        gateway: Option<IpAddr>,
        oif: u32,
        onlink: bool,
    ) -> Result<()> {
        let msg = build_route(dst, gateway, oif, onlink)?;
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("add route {dst}")), e))
    }

    /// Removes a route of the main table added by [`Netlink::add_route`].
    pub async fn del_route(&self, dst: Cidr, gateway: Option<IpAddr>, oif: u32) -> Result<()> {
        let mut msg = build_route(dst, gateway, oif, false)?;
        msg.header.scope = RouteScope::NoWhere;
        self.handle
            .route()
            .del(msg)
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("remove route {dst}")), e))
    }

    /// Adds (or replaces) a permanent neighbour entry: `ip` is at `mac` on `index`.
    pub async fn add_neighbour(&self, index: u32, ip: IpAddr, mac: Mac) -> Result<()> {
        self.handle
            .neighbours()
            .add(index, ip)
            .link_layer_address(&mac.0)
            .state(NeighbourState::Permanent)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("add neighbour {ip} ({mac})")), e))
    }

    /// Adds (or replaces) a forwarding entry of a vxlan device: frames to `mac` go to the
    /// underlay address `dst`.
    pub async fn add_fdb(&self, index: u32, mac: Mac, dst: IpAddr) -> Result<()> {
        self.handle
            .neighbours()
            .add_bridge(index, &mac.0)
            .flags(NeighbourFlags::Own)
            .state(NeighbourState::Permanent)
            .destination(dst)
            .replace()
            .execute()
            .await
            .map_err(|e| nl_err(self.op(format!("add forwarding entry {mac} -> {dst}")), e))
    }
}

fn build_route(dst: Cidr, gateway: Option<IpAddr>, oif: u32, onlink: bool) -> Result<RouteMessage> {
    let bad = |m: String| NetError::invalid("route", dst.to_string(), m);
    let mut b = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst.network(), dst.prefix)
        .map_err(|e| bad(e.to_string()))?
        .output_interface(oif);
    if let Some(g) = gateway {
        b = b.gateway(g).map_err(|e| bad(e.to_string()))?;
    }
    if onlink {
        b = b.onlink();
    }
    if gateway.is_none() {
        b = b.scope(RouteScope::Link);
    }
    let mut msg = b.build();
    if msg.header.address_family == AddressFamily::Unspec {
        msg.header.address_family = if dst.is_v4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
    }
    Ok(msg)
}

fn route_ip(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

fn parse_link(m: &LinkMessage) -> Link {
    let mut l = Link {
        index: m.header.index,
        up: m.header.flags.contains(LinkFlags::Up),
        loopback: m.header.flags.contains(LinkFlags::Loopback),
        point_to_point: m.header.flags.contains(LinkFlags::Pointopoint),
        ..Link::default()
    };
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n.clone(),
            LinkAttribute::Mtu(v) => l.mtu = *v,
            LinkAttribute::Address(v) => l.mac = v.clone(),
            LinkAttribute::PermAddress(v) => l.perm_mac = Some(v.clone()),
            LinkAttribute::Controller(v) => l.master = Some(*v),
            LinkAttribute::Link(v) => l.link = Some(*v),
            LinkAttribute::ParentDevName(v) => l.parent_dev = Some(v.clone()),
            LinkAttribute::IfAlias(v) => l.alias = Some(v.clone()),
            LinkAttribute::Stats64(s) => {
                l.rx_bytes = s.rx_bytes;
                l.tx_bytes = s.tx_bytes;
                l.rx_packets = s.rx_packets;
                l.tx_packets = s.tx_packets;
            }
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        l.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    l
}
