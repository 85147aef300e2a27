//! The nic driver: plugs instances into networks and host interfaces.
//!
//! - `bridged` (`nictype=bridged`, or `network=NAME` of a bridge network): a veth pair; the
//!   host side (`host_name`, default `veth` + 8 random hex digits) is a port of the bridge, the
//!   other side is created directly in the instance's network namespace (found through
//!   `/proc/PID/ns/net`) under its final name (`name`, default the device name) with the nic's
//!   MAC and MTU (default: the bridge's), then brought up. `limits.ingress`/`limits.egress`/
//!   `limits.max` apply on the host side (see [`crate::tc`]).
//! - `macvlan`: a bridge-mode macvlan of `parent` (or of `parent.VLAN` with `vlan`), created
//!   directly in the instance's namespace.
//! - `physical`: the host interface `parent` (or `parent.VLAN`) moves into the instance under
//!   the nic's name; its MAC and MTU are recorded (`last_state.hwaddr`, `last_state.mtu`) and
//!   restored when it comes back. On detach it is moved back from the running instance; when
//!   the instance's namespace is gone, the kernel has already returned it to the initial
//!   namespace (under its in-instance name, or `devN` when that was taken), and it is found
//!   there by MAC address and renamed back.
//!
//! A vlan interface `parent.N` that does not exist is created and marked as this
//! implementation's through its alias (`lxdrs: instance/nic,...`, the nics using it); the last
//! nic to leave deletes it, so the bookkeeping lives in the kernel and survives restarts.

use std::collections::BTreeMap;
use std::time::Instant;

use async_trait::async_trait;
use lxd_core::network::{HostInterface, NetworkState, NicAttachment, NicDevice, NicDriver};
use lxd_core::store::DeviceConfig;

use crate::cidr::Mac;
use crate::error::{NetError, Result};
use crate::names::{check_interface_name, random_dev_name, random_mac};
use crate::netlink::{is_missing, Link, LinkChange, Netlink, VethSpec};
use crate::netns::NetNs;
use crate::state;
use crate::tc;

/// The nic types this driver plugs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NicType {
    /// A veth pair into a bridge.
    Bridged,
    /// A macvlan of a host interface.
    Macvlan,
    /// A host interface moved into the instance.
    Physical,
}

const COMMON_KEYS: &[&str] = &["type", "nictype", "name", "mtu", "hwaddr", "boot.priority"];
const BRIDGED_KEYS: &[&str] = &[
    "network",
    "parent",
    "host_name",
    "limits.ingress",
    "limits.egress",
    "limits.max",
    "ipv4.address",
    "ipv6.address",
];
const MACVLAN_KEYS: &[&str] = &["network", "parent", "vlan"];
const PHYSICAL_KEYS: &[&str] = &["parent", "vlan"];
const NOT_PROVIDED: &[(&str, &str)] = &[
    ("ipv4.routes", "routes to nics are not implemented"),
    ("ipv6.routes", "routes to nics are not implemented"),
    ("ipv4.routes.external", "routes to nics are not implemented"),
    ("ipv6.routes.external", "routes to nics are not implemented"),
    ("security.mac_filtering", "nic filtering is not implemented"),
    (
        "security.ipv4_filtering",
        "nic filtering is not implemented",
    ),
    (
        "security.ipv6_filtering",
        "nic filtering is not implemented",
    ),
    (
        "security.port_isolation",
        "port isolation is not implemented",
    ),
    ("vlan.tagged", "bridge vlan filtering is not implemented"),
    ("gvrp", "GVRP registration is not implemented"),
    ("maas.subnet.ipv4", "MAAS integration is not implemented"),
    ("maas.subnet.ipv6", "MAAS integration is not implemented"),
];

/// The nic driver.
#[derive(Debug, Default)]
pub struct Nics;

fn get<'a>(c: &'a DeviceConfig, k: &str) -> Option<&'a str> {
    c.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

/// The type of a nic device, its keys checked.
pub fn nic_type(dev: &str, c: &DeviceConfig) -> Result<NicType> {
    let t = match (get(c, "nictype"), get(c, "network")) {
        (Some("bridged"), _) | (None, Some(_)) => NicType::Bridged,
        (Some("macvlan"), _) => NicType::Macvlan,
        (Some("physical"), _) => NicType::Physical,
        (Some(other), _) => {
            return Err(NetError::invalid(
                format!("device {dev} nictype"),
                other,
                "not provided by this implementation (bridged, macvlan or physical)",
            ))
        }
        (None, None) => {
            return Err(NetError::invalid(
                format!("device {dev} nictype"),
                "",
                "a nic needs nictype or network",
            ))
        }
    };
    let own: &[&str] = match t {
        NicType::Bridged => BRIDGED_KEYS,
        NicType::Macvlan => MACVLAN_KEYS,
        NicType::Physical => PHYSICAL_KEYS,
    };
    for k in c.keys() {
        if COMMON_KEYS.contains(&k.as_str()) || own.contains(&k.as_str()) {
            continue;
        }
        let reason = match NOT_PROVIDED.iter().find(|(n, _)| n == k) {
            Some((_, r)) => format!("is not provided: {r}"),
            None => format!("is not a key of {} nics", type_name(t)),
        };
        return Err(NetError::Key {
            object: format!("device {dev}"),
            key: k.clone(),
            reason,
        });
    }
    if let Some(m) = get(c, "mtu") {
        parse_mtu(dev, m)?;
    }
    if let Some(h) = get(c, "hwaddr") {
        parse_mac(&format!("device {dev} hwaddr"), h)?;
    }
    if let Some(v) = get(c, "vlan") {
        parse_vlan(dev, v)?;
    }
    for k in ["limits.ingress", "limits.egress", "limits.max"] {
        if let Some(v) = get(c, k) {
            tc::parse_bit_rate(&format!("device {dev} {k}"), v)?;
        }
    }
    if let Some(n) = get(c, "name") {
        check_interface_name(&format!("device {dev} name"), n)?;
    }
    if let Some(n) = get(c, "host_name") {
        check_interface_name(&format!("device {dev} host_name"), n)?;
    }
    Ok(t)
}

fn type_name(t: NicType) -> &'static str {
    match t {
        NicType::Bridged => "bridged",
        NicType::Macvlan => "macvlan",
        NicType::Physical => "physical",
    }
}

fn parse_mtu(dev: &str, v: &str) -> Result<u32> {
    match v.parse::<u32>() {
        Ok(m) if (68..=65535).contains(&m) => Ok(m),
        _ => Err(NetError::invalid(
            format!("device {dev} mtu"),
            v,
            "an MTU is an integer from 68 to 65535",
        )),
    }
}

fn parse_mac(key: &str, v: &str) -> Result<Mac> {
    match Mac::parse(v) {
        Some(m) if m.is_unicast() => Ok(m),
        _ => Err(NetError::invalid(key, v, "not a unicast MAC address")),
    }
}

fn parse_vlan(dev: &str, v: &str) -> Result<u16> {
    match v.parse::<u16>() {
        Ok(id) if id <= 4094 => Ok(id),
        _ => Err(NetError::invalid(
            format!("device {dev} vlan"),
            v,
            "a vlan id is an integer from 0 to 4094",
        )),
    }
}

/// Everything attach and detach need, resolved from the device.
struct Plan<'a> {
    instance: &'a str,
    nic: &'a NicDevice,
    kind: NicType,
    /// The interface name inside the instance.
    name: String,
    mtu: Option<u32>,
}

impl<'a> Plan<'a> {
    fn new(instance: &'a str, nic: &'a NicDevice) -> Result<Plan<'a>> {
        let kind = nic_type(&nic.name, &nic.config)?;
        let name = get(&nic.config, "name").unwrap_or(&nic.name).to_string();
        check_interface_name(&format!("device {} name", nic.name), &name)?;
        let mtu = get(&nic.config, "mtu")
            .map(|m| parse_mtu(&nic.name, m))
            .transpose()?;
        Ok(Plan {
            instance,
            nic,
            kind,
            name,
            mtu,
        })
    }

    fn get(&self, k: &str) -> Option<&str> {
        get(&self.nic.config, k)
    }

    fn key(&self, k: &str) -> String {
        format!("device {} {k}", self.nic.name)
    }

    /// The configured MAC (`hwaddr` key, else the volatile one), if any.
    fn configured_mac(&self) -> Result<Option<Mac>> {
        if let Some(h) = self.get("hwaddr") {
            return parse_mac(&self.key("hwaddr"), h).map(Some);
        }
        if !self.nic.hwaddr.is_empty() {
            return parse_mac(&self.key("volatile hwaddr"), &self.nic.hwaddr).map(Some);
        }
        Ok(None)
    }

    fn parent(&self) -> Result<&str> {
        self.get("parent").ok_or_else(|| {
            NetError::invalid(
                self.key("parent"),
                "",
                format!("a {} nic needs a parent interface", type_name(self.kind)),
            )
        })
    }

    /// The host device the nic builds on: `parent`, or `parent.VLAN`.
    fn host_device(&self) -> Result<(String, Option<u16>)> {
        let parent = self.parent()?;
        match self.get("vlan") {
            Some(v) => {
                let id = parse_vlan(&self.nic.name, v)?;
                let name = format!("{parent}.{id}");
                check_interface_name(&self.key("vlan interface"), &name)?;
                Ok((name, Some(id)))
            }
            None => Ok((parent.to_string(), None)),
        }
    }

    fn user(&self) -> String {
        format!("{}/{}", self.instance, self.nic.name)
    }

    fn limits(&self) -> Result<(Option<u64>, Option<u64>)> {
        let rate = |k: &str| -> Result<Option<u64>> {
            self.get(k)
                .map(|v| tc::parse_bit_rate(&self.key(k), v))
                .transpose()
        };
        let max = rate("limits.max")?;
        Ok((
            rate("limits.ingress")?.or(max),
            rate("limits.egress")?.or(max),
        ))
    }
}

const ALIAS_PREFIX: &str = "lxdrs:";

fn alias_users(l: &Link) -> Option<Vec<String>> {
    let a = l.alias.as_deref()?.strip_prefix(ALIAS_PREFIX)?;
    Some(
        a.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

fn alias_of(users: &[String]) -> String {
    format!("{ALIAS_PREFIX} {}", users.join(","))
}

/// Makes sure `parent.id` exists and is up; returns whether this call created it.
async fn ensure_vlan(nl: &Netlink, parent: &str, name: &str, id: u16, user: &str) -> Result<bool> {
    if let Some(l) = nl.link(name).await? {
        if let Some(mut users) = alias_users(&l) {
            if !users.iter().any(|u| u == user) {
                users.push(user.to_string());
                let alias = alias_of(&users);
                if alias.len() <= 255 {
                    nl.set_link(
                        l.index,
                        name,
                        &LinkChange {
                            alias: Some(&alias),
                            ..LinkChange::default()
                        },
                    )
                    .await?;
                }
            }
        }
        return Ok(false);
    }
    let p = nl
        .link(parent)
        .await?
        .ok_or_else(|| NetError::not_found("parent interface", parent))?;
    nl.add_vlan(name, p.index, id)
        .await
        .map_err(|e| match e.errno() {
            Some(nix::errno::Errno::EOPNOTSUPP) => NetError::unsupported(
                format!("vlan {id} on {parent}"),
                "the running kernel has no 802.1Q vlan support (CONFIG_VLAN_8021Q)",
            ),
            _ => e,
        })?;
    let l = nl.require_link(name).await?;
    let alias = alias_of(&[user.to_string()]);
    nl.set_link(
        l.index,
        name,
        &LinkChange {
            up: Some(true),
            alias: Some(&alias),
            ..LinkChange::default()
        },
    )
    .await?;
    Ok(true)
}

/// Drops `user` from a vlan interface this implementation made, deleting it when unused.
async fn release_vlan(nl: &Netlink, name: &str, user: &str) -> Result<()> {
    let Some(l) = nl.link(name).await? else {
        return Ok(());
    };
    let Some(mut users) = alias_users(&l) else {
        return Ok(()); // not ours
    };
    users.retain(|u| u != user);
    if users.is_empty() {
        match nl.del_link(l.index, name).await {
            Err(e) if !is_missing(&e) => return Err(e),
            _ => {}
        }
    } else {
        let alias = alias_of(&users);
        nl.set_link(
            l.index,
            name,
            &LinkChange {
                alias: Some(&alias),
                ..LinkChange::default()
            },
        )
        .await?;
    }
    Ok(())
}

async fn bring_up_inside(ns: &NetNs, name: &str) -> Result<()> {
    let nlc = Netlink::in_netns(ns)?;
    let l = nlc.require_link(name).await?;
    nlc.set_link(
        l.index,
        name,
        &LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    )
    .await
}

fn exists_inside(e: NetError, name: &str, instance: &str) -> NetError {
    match e.errno() {
        Some(nix::errno::Errno::EEXIST) => NetError::AlreadyExists {
            what: "interface".into(),
            name: format!("{name} in instance {instance}"),
        },
        _ => e,
    }
}

impl Nics {
    async fn attach_inner(
        &self,
        instance: &str,
        nic: &NicDevice,
        init_pid: i32,
    ) -> Result<NicAttachment> {
        let t = Instant::now();
        let plan = Plan::new(instance, nic)?;
        let ns = NetNs::of_pid(init_pid)?;
        let r = match plan.kind {
            NicType::Bridged => self.attach_bridged(&plan, &ns).await,
            NicType::Macvlan => self.attach_macvlan(&plan, &ns).await,
            NicType::Physical => self.attach_physical(&plan, &ns).await,
        };
        tracing::debug!(instance, device = %nic.name, elapsed = ?t.elapsed(), ok = r.is_ok(), "nic attach");
        r
    }

    async fn attach_bridged(&self, plan: &Plan<'_>, ns: &NetNs) -> Result<NicAttachment> {
        let bridge = match (&plan.nic.bridge, plan.get("parent")) {
            (Some(b), _) => b.clone(),
            (None, Some(p)) => p.to_string(),
            (None, None) => {
                return Err(NetError::invalid(
                    plan.key("network"),
                    plan.get("network").unwrap_or(""),
                    "a bridged nic needs a managed network or a parent bridge",
                ))
            }
        };
        let (ingress, egress) = plan.limits()?;
        let nl = Netlink::new()?;
        let br = nl
            .link(&bridge)
            .await?
            .ok_or_else(|| NetError::not_found("bridge", bridge.clone()))?;
        if br.kind.as_deref() != Some("bridge") {
            return Err(NetError::invalid(
                plan.key("parent"),
                &bridge,
                format!(
                    "not a bridge (a {} interface)",
                    br.kind.as_deref().unwrap_or("hardware")
                ),
            ));
        }
        let host = match plan.get("host_name") {
            Some(h) => h.to_string(),
            None => random_dev_name("veth")?,
        };
        if nl.link(&host).await?.is_some() {
            return Err(NetError::AlreadyExists {
                what: "host interface".into(),
                name: host,
            });
        }
        let (mac, generated) = match plan.configured_mac()? {
            Some(m) => (m, false),
            None => (random_mac()?, true),
        };
        let mtu = plan.mtu.unwrap_or(br.mtu);
        nl.add_veth(&VethSpec {
            host: &host,
            peer: &plan.name,
            mtu: Some(mtu),
            peer_mac: Some(mac),
            master: Some(br.index),
            peer_netns: Some(ns),
        })
        .await
        .map_err(|e| exists_inside(e, &plan.name, plan.instance))?;

        let rest = async {
            let h = nl.require_link(&host).await?;
            nl.set_link(
                h.index,
                &host,
                &LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            )
            .await?;
            if ingress.is_some() || egress.is_some() {
                tc::apply(&nl, &host, ingress, egress).await?;
            }
            bring_up_inside(ns, &plan.name).await
        };
        if let Err(e) = rest.await {
            let _ = tc::clear(&nl, &host).await;
            let _ = nl.del_link_by_name(&host).await;
            return Err(e);
        }
        let mut volatile = BTreeMap::new();
        if generated {
            volatile.insert("hwaddr".to_string(), mac.to_string());
        }
        Ok(NicAttachment {
            host_name: Some(host),
            volatile,
        })
    }

    async fn attach_macvlan(&self, plan: &Plan<'_>, ns: &NetNs) -> Result<NicAttachment> {
        let nl = Netlink::new()?;
        let (dev, vlan) = plan.host_device()?;
        let created = match vlan {
            Some(id) => ensure_vlan(&nl, plan.parent()?, &dev, id, &plan.user()).await?,
            None => false,
        };
        let (mac, generated) = match plan.configured_mac()? {
            Some(m) => (m, false),
            None => (random_mac()?, true),
        };
        let r = async {
            let p = nl
                .link(&dev)
                .await?
                .ok_or_else(|| NetError::not_found("parent interface", dev.clone()))?;
            nl.add_macvlan(&plan.name, p.index, Some(mac), plan.mtu, Some(ns))
                .await
                .map_err(|e| exists_inside(e, &plan.name, plan.instance))?;
            bring_up_inside(ns, &plan.name).await
        }
        .await;
        if let Err(e) = r {
            if vlan.is_some() {
                let _ = release_vlan(&nl, &dev, &plan.user()).await;
            }
            return Err(e);
        }
        let mut volatile = BTreeMap::new();
        volatile.insert("last_state.created".to_string(), created.to_string());
        if generated {
            volatile.insert("hwaddr".to_string(), mac.to_string());
        }
        Ok(NicAttachment {
            host_name: None,
            volatile,
        })
    }

    async fn attach_physical(&self, plan: &Plan<'_>, ns: &NetNs) -> Result<NicAttachment> {
        let nl = Netlink::new()?;
        let (dev, vlan) = plan.host_device()?;
        let created = match vlan {
            Some(id) => ensure_vlan(&nl, plan.parent()?, &dev, id, &plan.user()).await?,
            None => false,
        };
        let l = match nl.link(&dev).await? {
            Some(l) => l,
            None => return Err(NetError::not_found("parent interface", dev)),
        };
        let hwaddr = plan
            .get("hwaddr")
            .map(|h| parse_mac(&plan.key("hwaddr"), h))
            .transpose()?;
        let orig_mac = Mac::from_slice(&l.mac);
        let r = async {
            nl.set_link(
                l.index,
                &dev,
                &LinkChange {
                    up: Some(false),
                    mtu: plan.mtu,
                    mac: hwaddr,
                    ..LinkChange::default()
                },
            )
            .await?;
            nl.move_link(l.index, &dev, ns, Some(&plan.name))
                .await
                .map_err(|e| exists_inside(e, &plan.name, plan.instance))?;
            bring_up_inside(ns, &plan.name).await
        }
        .await;
        if let Err(e) = r {
            // Put it back as it was, wherever it is.
            if nl.link(&dev).await.ok().flatten().is_some() {
                let _ = nl
                    .set_link(
                        l.index,
                        &dev,
                        &LinkChange {
                            mtu: Some(l.mtu),
                            mac: orig_mac,
                            ..LinkChange::default()
                        },
                    )
                    .await;
            }
            if vlan.is_some() {
                let _ = release_vlan(&nl, &dev, &plan.user()).await;
            }
            return Err(e);
        }
        let mut volatile = BTreeMap::new();
        volatile.insert("last_state.created".to_string(), created.to_string());
        if let Some(m) = orig_mac {
            volatile.insert("last_state.hwaddr".to_string(), m.to_string());
        }
        volatile.insert("last_state.mtu".to_string(), l.mtu.to_string());
        Ok(NicAttachment {
            host_name: Some(dev),
            volatile,
        })
    }

    async fn detach_inner(
        &self,
        instance: &str,
        nic: &NicDevice,
        att: &NicAttachment,
        init_pid: Option<i32>,
    ) -> Result<()> {
        let plan = Plan::new(instance, nic)?;
        // The instance's namespace, while it exists.
        let ns = match init_pid {
            Some(pid) => match NetNs::of_pid(pid) {
                Ok(ns) => Some(ns),
                Err(e) => {
                    tracing::debug!(instance, error = %e, "instance namespace gone");
                    None
                }
            },
            None => None,
        };
        match plan.kind {
            NicType::Bridged => {
                let host = att
                    .host_name
                    .clone()
                    .or_else(|| plan.get("host_name").map(str::to_string));
                let nl = Netlink::new()?;
                if let Some(h) = host {
                    tc::clear(&nl, &h).await?;
                    nl.del_link_by_name(&h).await?;
                } else if let Some(ns) = &ns {
                    let nlc = Netlink::in_netns(ns)?;
                    nlc.del_link_by_name(&plan.name).await?;
                }
                Ok(())
            }
            NicType::Macvlan => {
                let nl = Netlink::new()?;
                if let Some(ns) = &ns {
                    let nlc = Netlink::in_netns(ns)?;
                    if let Some(l) = find_inside(&nlc, &plan, att).await? {
                        nlc.del_link(l.index, &plan.name).await?;
                    }
                }
                if plan.get("vlan").is_some() {
                    let (dev, _) = plan.host_device()?;
                    release_vlan(&nl, &dev, &plan.user()).await?;
                }
                Ok(())
            }
            NicType::Physical => self.detach_physical(&plan, att, ns.as_ref()).await,
        }
    }

    async fn detach_physical(
        &self,
        plan: &Plan<'_>,
        att: &NicAttachment,
        ns: Option<&NetNs>,
    ) -> Result<()> {
        let nl = Netlink::new()?;
        let dev = match &att.host_name {
            Some(h) => h.clone(),
            None => plan.host_device()?.0,
        };
        let orig_mac = att
            .volatile
            .get("last_state.hwaddr")
            .and_then(|m| Mac::parse(m));
        let orig_mtu = att
            .volatile
            .get("last_state.mtu")
            .and_then(|m| m.parse::<u32>().ok());
        let here = NetNs::current()?;

        // From the running instance back to the host, under its own name.
        let mut moved = false;
        if let Some(ns) = ns {
            if !ns.same_as(&here)? {
                let nlc = Netlink::in_netns(ns)?;
                if let Some(l) = find_inside(&nlc, plan, att).await? {
                    nlc.set_link(
                        l.index,
                        &l.name,
                        &LinkChange {
                            up: Some(false),
                            ..LinkChange::default()
                        },
                    )
                    .await?;
                    nlc.move_link(l.index, &l.name, &here, Some(&dev)).await?;
                    moved = true;
                }
            }
        }

        // Or already back (the instance's namespace died): by name, else by MAC.
        let link = match nl.link(&dev).await? {
            Some(l) => Some(l),
            None if !moved => {
                let want = [plan.configured_phys_mac(), orig_mac];
                let links = nl.links().await?;
                links.into_iter().find(|l| {
                    let m = Mac::from_slice(&l.mac);
                    m.is_some() && want.contains(&m) && l.kind.as_deref() != Some("macvlan")
                })
            }
            None => None,
        };
        let Some(link) = link else {
            tracing::warn!(
                instance = plan.instance,
                device = %plan.nic.name,
                interface = %dev,
                "physical interface not found in the instance nor on the host; nothing to restore"
            );
            return Ok(());
        };
        nl.set_link(
            link.index,
            &link.name,
            &LinkChange {
                up: Some(false),
                name: (link.name != dev).then_some(dev.as_str()),
                mtu: orig_mtu.filter(|m| *m != link.mtu),
                mac: orig_mac.filter(|m| Some(*m) != Mac::from_slice(&link.mac)),
                ..LinkChange::default()
            },
        )
        .await?;
        if plan.get("vlan").is_some() {
            release_vlan(&nl, &dev, &plan.user()).await?;
        }
        Ok(())
    }
}

impl Plan<'_> {
    /// The MAC a physical nic was given (only the `hwaddr` key, never a volatile one).
    fn configured_phys_mac(&self) -> Option<Mac> {
        self.get("hwaddr").and_then(Mac::parse)
    }
}

/// The nic's interface inside the instance: by name, else by its MAC.
async fn find_inside(nlc: &Netlink, plan: &Plan<'_>, att: &NicAttachment) -> Result<Option<Link>> {
    if let Some(l) = nlc.link(&plan.name).await? {
        return Ok(Some(l));
    }
    let mut macs: Vec<Mac> = Vec::new();
    if let Ok(Some(m)) = plan.configured_mac() {
        macs.push(m);
    }
    for k in ["hwaddr", "last_state.hwaddr"] {
        if let Some(m) = att.volatile.get(k).and_then(|m| Mac::parse(m)) {
            macs.push(m);
        }
    }
    Ok(nlc
        .links()
        .await?
        .into_iter()
        .find(|l| Mac::from_slice(&l.mac).is_some_and(|m| macs.contains(&m)) && !l.loopback))
}

#[async_trait]
impl NicDriver for Nics {
    async fn attach(
        &self,
        instance: &str,
        nic: &NicDevice,
        init_pid: i32,
    ) -> lxd_core::Result<NicAttachment> {
        Ok(self.attach_inner(instance, nic, init_pid).await?)
    }

    async fn detach(
        &self,
        instance: &str,
        nic: &NicDevice,
        attachment: &NicAttachment,
        init_pid: Option<i32>,
    ) -> lxd_core::Result<()> {
        Ok(self
            .detach_inner(instance, nic, attachment, init_pid)
            .await?)
    }

    async fn host_interfaces(&self) -> lxd_core::Result<Vec<HostInterface>> {
        let nl = Netlink::new()?;
        Ok(nl
            .links()
            .await?
            .into_iter()
            .map(|l| HostInterface {
                kind: state::host_kind(&l).to_string(),
                name: l.name,
            })
            .collect())
    }

    async fn interface_state(&self, name: &str) -> lxd_core::Result<NetworkState> {
        let nl = Netlink::new()?;
        let l = nl.require_link(name).await?;
        Ok(state::link_state(&nl, &l).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(pairs: &[(&str, &str)]) -> DeviceConfig {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nic_keys_are_checked() {
        assert_eq!(
            nic_type("eth0", &dev(&[("type", "nic"), ("network", "lxdbr0")])).unwrap(),
            NicType::Bridged
        );
        assert_eq!(
            nic_type(
                "eth0",
                &dev(&[("nictype", "macvlan"), ("parent", "eth0"), ("vlan", "10")])
            )
            .unwrap(),
            NicType::Macvlan
        );
        let e = nic_type(
            "eth0",
            &dev(&[
                ("nictype", "macvlan"),
                ("parent", "eth0"),
                ("limits.ingress", "1Mbit"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("limits.ingress"), "{e}");
        let e = nic_type("eth0", &dev(&[("nictype", "sriov"), ("parent", "eth0")])).unwrap_err();
        assert!(e.to_string().contains("sriov"), "{e}");
        let e = nic_type(
            "eth0",
            &dev(&[("nictype", "bridged"), ("security.mac_filtering", "true")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not implemented"), "{e}");
        let e = nic_type(
            "eth0",
            &dev(&[
                ("nictype", "physical"),
                ("parent", "eth0"),
                ("vlan", "5000"),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("4094"), "{e}");
        let e = nic_type(
            "eth0",
            &dev(&[("nictype", "bridged"), ("name", "a-very-long-interface")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("15"), "{e}");
        let e = nic_type(
            "eth0",
            &dev(&[("nictype", "bridged"), ("limits.egress", "fast")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("limits.egress"), "{e}");
    }

    #[test]
    fn vlan_alias_bookkeeping() {
        let l = Link {
            alias: Some(alias_of(&["c1/eth0".into(), "c2/eth1".into()])),
            ..Link::default()
        };
        assert_eq!(alias_users(&l).unwrap(), vec!["c1/eth0", "c2/eth1"]);
        let foreign = Link {
            alias: Some("uplink".into()),
            ..Link::default()
        };
        assert!(alias_users(&foreign).is_none());
    }
}
