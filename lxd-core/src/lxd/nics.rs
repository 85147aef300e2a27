//! The nic devices of instances: resolving them against managed networks, attaching them
//! between the creation of a container's namespaces and its init, hot-plugging, detaching
//! after a stop, and the static DHCP leases the managed bridges hand out for them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use super::networks::nic_uses;
use super::Lxd;
use crate::error::{Error, Result};
use crate::network::{NicAttachment, NicDevice, NicDriver, StaticLease};
use crate::runtime::{PrestartHook, SpecNic};
use crate::store::{ConfigMap, DeviceConfig, Devices, InstanceRecord, NetworkRecord};

/// The nictypes this server plugs in.
const NICTYPES: &[&str] = &["bridged", "macvlan", "physical"];

/// A nic device of an instance, resolved against its network.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedNic {
    /// What the nic driver is given.
    pub device: NicDevice,
    /// The managed network it is on, if any.
    pub network: Option<NetworkRecord>,
}

impl ResolvedNic {
    /// The nictype after resolution (`bridged`, `macvlan`, `physical`).
    fn nictype(&self) -> &str {
        self.device
            .config
            .get("nictype")
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The interface name inside the instance.
    fn inner_name(&self) -> String {
        self.device
            .config
            .get("name")
            .cloned()
            .unwrap_or_else(|| self.device.name.clone())
    }

    /// What the monitor must know of it.
    fn spec(&self) -> SpecNic {
        SpecNic {
            name: self.inner_name(),
            host_name: (self.nictype() == "physical")
                .then(|| self.device.config.get("parent").cloned())
                .flatten(),
        }
    }
}

/// A MAC address in LXD's range (`00:16:3e:xx:xx:xx`).
pub(crate) fn random_hwaddr() -> String {
    let mut b = [0u8; 3];
    // SAFETY: getrandom writes at most b.len() bytes into b.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if n != b.len() as isize {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() ^ std::process::id())
            .unwrap_or_default();
        b = [(t >> 16) as u8, (t >> 8) as u8, t as u8];
    }
    format!("00:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// Checks a MAC address (`aa:bb:cc:dd:ee:ff`).
fn valid_hwaddr(v: &str) -> bool {
    let parts: Vec<&str> = v.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The gateway and prefix of a bridge's `ipv4.address` (`10.0.3.1/24`), if it has one.
fn ipv4_subnet(config: &ConfigMap) -> Option<(Ipv4Addr, u8)> {
    let v = config.get("ipv4.address")?;
    let (addr, prefix) = v.split_once('/')?;
    Some((
        addr.parse().ok()?,
        prefix.parse().ok().filter(|p| *p <= 32)?,
    ))
}

fn in_subnet(addr: Ipv4Addr, (net, prefix): (Ipv4Addr, u8)) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(addr) & mask == u32::from(net) & mask
}

/// The volatile keys of a device (`volatile.eth0.`).
fn volatile_prefix(dev: &str) -> String {
    format!("volatile.{dev}.")
}

/// What an attached nic left in the instance's volatile keys.
fn attachment_from(config: &ConfigMap, dev: &str) -> NicAttachment {
    let prefix = volatile_prefix(dev);
    let mut att = NicAttachment::default();
    for (k, v) in config {
        let Some(suffix) = k.strip_prefix(&prefix) else {
            continue;
        };
        match suffix {
            "host_name" => att.host_name = Some(v.clone()),
            "hwaddr" | "name" => {}
            _ => {
                att.volatile.insert(suffix.to_string(), v.clone());
            }
        }
    }
    att
}

/// The volatile keys recording an attachment (`None` removes a key).
fn attachment_keys(dev: &str, att: &NicAttachment) -> BTreeMap<String, Option<String>> {
    let prefix = volatile_prefix(dev);
    let mut out = BTreeMap::new();
    out.insert(format!("{prefix}host_name"), att.host_name.clone());
    for (k, v) in &att.volatile {
        out.insert(format!("{prefix}{k}"), Some(v.clone()));
    }
    out
}

/// The volatile keys a device's attachment left (all but its MAC address and inner name), to
/// forget after a detach.
fn forget_keys(config: &ConfigMap, dev: &str) -> BTreeMap<String, Option<String>> {
    let prefix = volatile_prefix(dev);
    config
        .keys()
        .filter(|k| {
            k.strip_prefix(&prefix)
                .is_some_and(|rest| rest != "hwaddr" && rest != "name")
        })
        .map(|k| (k.clone(), None))
        .collect()
}

/// Applies volatile key changes (`None` removes) to a configuration.
pub(crate) fn apply_changes(config: &mut ConfigMap, changes: BTreeMap<String, Option<String>>) {
    for (k, v) in changes {
        match v {
            Some(v) => {
                config.insert(k, v);
            }
            None => {
                config.remove(&k);
            }
        }
    }
}

fn nic_devices(devices: &Devices) -> impl Iterator<Item = (&String, &DeviceConfig)> {
    devices
        .iter()
        .filter(|(_, d)| d.get("type").map(String::as_str) == Some("nic"))
}

impl Lxd {
    fn nic_driver(&self) -> Result<Arc<dyn NicDriver>> {
        self.nic_driver.clone().ok_or_else(|| {
            Error::Invalid(
                "This server was started without networking: nics are not available".into(),
            )
        })
    }

    /// Resolves the nic devices among an instance's expanded devices; `config` (the
    /// instance's own) supplies recorded MAC addresses, new ones are made up.
    pub(crate) async fn resolve_nics(
        &self,
        project: &str,
        devices: &Devices,
        config: &ConfigMap,
    ) -> Result<Vec<ResolvedNic>> {
        let mut out = Vec::new();
        for (name, dev) in nic_devices(devices) {
            let bad = |m: String| Error::Invalid(format!("Device {name:?}: {m}"));
            let mut cfg = dev.clone();
            let mut network = None;
            let mut bridge = None;
            if let Some(net) = dev.get("network") {
                for k in ["nictype", "parent"] {
                    if dev.contains_key(k) {
                        return Err(bad(format!(
                            "Cannot use {k:?} property when the \"network\" property is set"
                        )));
                    }
                }
                let rec = self.network(project, net).await.map_err(|e| match e {
                    Error::Store(crate::store::StoreError::NotFound { .. }) => {
                        bad(format!("Network {net:?} not found"))
                    }
                    other => other,
                })?;
                match rec.kind.as_str() {
                    "bridge" => {
                        cfg.insert("nictype".into(), "bridged".into());
                        cfg.insert("parent".into(), rec.name.clone());
                        bridge = Some(rec.name.clone());
                    }
                    "macvlan" | "physical" => {
                        let parent = rec
                            .config
                            .get("parent")
                            .cloned()
                            .ok_or_else(|| bad(format!("Network {net:?} has no \"parent\"")))?;
                        cfg.insert("nictype".into(), rec.kind.clone());
                        cfg.insert("parent".into(), parent);
                    }
                    other => {
                        return Err(bad(format!(
                            "Networks of type {other:?} are not supported for nics"
                        )))
                    }
                }
                network = Some(rec);
            } else {
                let nictype = dev
                    .get("nictype")
                    .ok_or_else(|| bad("Either \"network\" or \"nictype\" must be set".into()))?;
                if !NICTYPES.contains(&nictype.as_str()) {
                    return Err(bad(format!(
                        "Unsupported nictype {nictype:?} (this server supports {})",
                        NICTYPES.join(", ")
                    )));
                }
                let parent = dev
                    .get("parent")
                    .ok_or_else(|| bad(format!("nictype {nictype:?} needs a \"parent\"")))?;
                if nictype == "bridged" {
                    bridge = Some(parent.clone());
                    // A managed bridge named as the parent is that network.
                    network = self.network(project, parent).await.ok();
                }
            }
            if let Some(a) = cfg.get("ipv4.address") {
                let addr: Ipv4Addr = a
                    .parse()
                    .map_err(|_| bad(format!("Invalid ipv4.address {a:?}")))?;
                let subnet = network
                    .as_ref()
                    .filter(|n| n.kind == "bridge")
                    .and_then(|n| ipv4_subnet(&n.config))
                    .ok_or_else(|| {
                        bad("ipv4.address needs a managed bridge network with IPv4".into())
                    })?;
                if !in_subnet(addr, subnet) || addr == subnet.0 {
                    return Err(bad(format!(
                        "ipv4.address {addr} is not a free address of the network's subnet {}/{}",
                        subnet.0, subnet.1
                    )));
                }
            }
            if let Some(h) = cfg.get("hwaddr") {
                if !valid_hwaddr(h) {
                    return Err(bad(format!("Invalid hwaddr {h:?}")));
                }
            }
            let hwaddr = cfg
                .get("hwaddr")
                .or_else(|| config.get(&format!("volatile.{name}.hwaddr")))
                .cloned()
                .unwrap_or_else(random_hwaddr);
            out.push(ResolvedNic {
                device: NicDevice {
                    name: name.clone(),
                    config: cfg,
                    bridge,
                    hwaddr,
                },
                network,
            });
        }
        let mut names: Vec<String> = out.iter().map(ResolvedNic::inner_name).collect();
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::Invalid(format!(
                "Two nics would be called {:?} inside the instance",
                w[0]
            )));
        }
        if !out.is_empty() {
            self.nic_driver()?;
        }
        Ok(out)
    }

    /// The volatile keys to record for nics that had none recorded: the MAC address
    /// (unless the device sets one) and the interface name inside (`volatile.eth0.name`).
    pub(crate) fn new_hwaddrs(
        nics: &[ResolvedNic],
        config: &ConfigMap,
    ) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        for n in nics {
            let dev = &n.device.name;
            if !n.device.config.contains_key("hwaddr") {
                out.insert(format!("volatile.{dev}.hwaddr"), n.device.hwaddr.clone());
            }
            out.insert(format!("volatile.{dev}.name"), n.inner_name());
        }
        out.into_iter()
            .filter(|(k, v)| config.get(k) != Some(v))
            .map(|(k, v)| (k, Some(v)))
            .collect()
    }

    /// The volatile keys of nic devices that are gone (`None` for each, to remove them).
    pub(crate) fn removed_nic_keys(
        old: &Devices,
        new: &Devices,
        config: &ConfigMap,
    ) -> BTreeMap<String, Option<String>> {
        let gone: Vec<String> = nic_devices(old)
            .filter(|(name, _)| !new.contains_key(*name))
            .map(|(name, _)| volatile_prefix(name))
            .collect();
        config
            .keys()
            .filter(|k| gone.iter().any(|p| k.starts_with(p.as_str())))
            .map(|k| (k.clone(), None))
            .collect()
    }

    /// The hook that attaches `nics` to a starting container; the attachments land in
    /// `done` (so a failed start can detach them).
    pub(crate) fn nic_hook(
        &self,
        instance: &str,
        nics: Vec<ResolvedNic>,
        done: Arc<Mutex<Vec<(String, NicAttachment)>>>,
    ) -> Result<PrestartHook> {
        let driver = self.nic_driver()?;
        let handle = tokio::runtime::Handle::current();
        let instance = instance.to_string();
        Ok(Box::new(move |pid| {
            handle.block_on(async {
                for nic in &nics {
                    let att = driver.attach(&instance, &nic.device, pid).await?;
                    done.lock()
                        .expect("attachments lock")
                        .push((nic.device.name.clone(), att));
                }
                Ok(())
            })
        }))
    }

    /// Prepares a container's start: its nics resolved, their MAC addresses recorded, the
    /// static leases of their networks refreshed, and the hook that attaches them set.
    /// Returns the volatile keys to record and where the attachments will land.
    pub(crate) async fn prepare_nics(
        &self,
        rec: &mut InstanceRecord,
        devices: &Devices,
        container: &crate::runtime::Container,
    ) -> Result<(Vec<ResolvedNic>, Arc<Mutex<Vec<(String, NicAttachment)>>>)> {
        let done = Arc::new(Mutex::new(Vec::new()));
        let nics = self
            .resolve_nics(&rec.project, devices, &rec.config)
            .await?;
        container.set_nics(nics.iter().map(ResolvedNic::spec).collect());
        if nics.is_empty() {
            return Ok((nics, done));
        }
        let fresh = Self::new_hwaddrs(&nics, &rec.config);
        if !fresh.is_empty() {
            self.store
                .apply(vec![crate::store::StoreOp::SetInstanceConfig {
                    project: rec.project.clone(),
                    name: rec.name.clone(),
                    changes: fresh.clone(),
                }])
                .await?;
            apply_changes(&mut rec.config, fresh);
        }
        // Only nics with a fixed address change a bridge's static leases.
        let fixed: Vec<ResolvedNic> = nics
            .iter()
            .filter(|n| n.device.config.contains_key("ipv4.address"))
            .cloned()
            .collect();
        for net in Self::managed_bridges(&fixed) {
            self.refresh_static_leases(&net).await;
        }
        container.set_prestart_hook(self.nic_hook(&rec.name, nics.clone(), done.clone())?);
        Ok((nics, done))
    }

    /// The volatile keys recording the attachments of a start.
    pub(crate) fn attached_keys(
        done: &Mutex<Vec<(String, NicAttachment)>>,
    ) -> BTreeMap<String, Option<String>> {
        let mut out = BTreeMap::new();
        for (dev, att) in done.lock().expect("attachments lock").iter() {
            out.extend(attachment_keys(dev, att));
        }
        out
    }

    /// Detaches nics after their container stopped (or failed to start): what is left on
    /// the host side goes. Returns the volatile keys to forget.
    pub(crate) async fn detach_nics(
        &self,
        instance: &str,
        nics: &[ResolvedNic],
        config: &ConfigMap,
        init_pid: Option<i32>,
    ) -> BTreeMap<String, Option<String>> {
        let mut forget = BTreeMap::new();
        let Some(driver) = self.nic_driver.clone() else {
            return forget;
        };
        for nic in nics {
            let att = attachment_from(config, &nic.device.name);
            if let Err(e) = driver.detach(instance, &nic.device, &att, init_pid).await {
                tracing::warn!(instance, nic = %nic.device.name, "detaching: {e}");
            }
            forget.extend(forget_keys(config, &nic.device.name));
        }
        forget
    }

    /// Hot-plugs nic changes into a running container: removed and changed nics are
    /// detached, new and changed ones attached. Returns the volatile key changes.
    pub(crate) async fn hotplug_nics(
        &self,
        rec: &InstanceRecord,
        old_devices: &Devices,
        new_devices: &Devices,
        container: &crate::runtime::Container,
        init_pid: i32,
    ) -> Result<BTreeMap<String, Option<String>>> {
        let old: BTreeMap<&String, &DeviceConfig> = nic_devices(old_devices).collect();
        let new: BTreeMap<&String, &DeviceConfig> = nic_devices(new_devices).collect();
        if old == new {
            return Ok(BTreeMap::new());
        }
        let removed: Devices = old
            .iter()
            .filter(|(k, v)| new.get(*k) != Some(*v))
            .map(|(k, v)| ((*k).clone(), (*v).clone()))
            .collect();
        let added: Devices = new
            .iter()
            .filter(|(k, v)| old.get(*k) != Some(*v))
            .map(|(k, v)| ((*k).clone(), (*v).clone()))
            .collect();
        // Resolve everything first: a bad new nic changes nothing.
        let adding = self.resolve_nics(&rec.project, &added, &rec.config).await?;
        let all_new = self
            .resolve_nics(&rec.project, new_devices, &rec.config)
            .await?;
        let removing = self
            .resolve_nics(&rec.project, &removed, &rec.config)
            .await
            .unwrap_or_default();
        let mut changes = self
            .detach_nics(&rec.name, &removing, &rec.config, Some(init_pid))
            .await;
        let driver = self.nic_driver()?;
        changes.extend(Self::new_hwaddrs(&adding, &rec.config));
        let mut attached: Vec<&ResolvedNic> = Vec::new();
        for nic in &adding {
            match driver.attach(&rec.name, &nic.device, init_pid).await {
                Ok(att) => {
                    changes.extend(attachment_keys(&nic.device.name, &att));
                    attached.push(nic);
                }
                Err(e) => {
                    for done in attached {
                        let att = NicAttachment::default();
                        let _ = driver
                            .detach(&rec.name, &done.device, &att, Some(init_pid))
                            .await;
                    }
                    return Err(e);
                }
            }
        }
        let c = container.clone();
        let specs: Vec<SpecNic> = all_new.iter().map(ResolvedNic::spec).collect();
        tokio::task::spawn_blocking(move || c.update_nics_blocking(specs))
            .await
            .map_err(|e| Error::Invalid(format!("nic update task: {e}")))??;
        Ok(changes)
    }

    /// The managed bridges among resolved nics' networks.
    pub(crate) fn managed_bridges(nics: &[ResolvedNic]) -> Vec<NetworkRecord> {
        let mut out: Vec<NetworkRecord> = Vec::new();
        for n in nics.iter().filter_map(|n| n.network.as_ref()) {
            if n.kind == "bridge" && !out.iter().any(|o| o.name == n.name) {
                out.push(n.clone());
            }
        }
        out
    }

    /// The instances of the projects that use a network owner's networks, with their
    /// expanded devices.
    pub(crate) async fn instances_seeing(
        &self,
        owner: &str,
    ) -> Result<Vec<(InstanceRecord, Devices)>> {
        let mut out = Vec::new();
        for p in self.store.projects().await? {
            if self.networks_project(&p.name).await? != owner {
                continue;
            }
            let profiles = self.store.profiles(&p.name).await?;
            for inst in self.store.instances(Some(&p.name)).await? {
                let devices = match Lxd::expand_with(&inst, &profiles) {
                    Ok((_, d)) => d,
                    Err(_) => self.expanded(&inst).await?.1,
                };
                out.push((inst, devices));
            }
        }
        Ok(out)
    }

    /// The static DHCP entries of a managed bridge: every instance nic on it with a known MAC
    /// address, named after its instance, with its `ipv4.address` if it has one.
    pub(crate) async fn static_leases(&self, net: &NetworkRecord) -> Result<Vec<StaticLease>> {
        let mut out = Vec::new();
        for (inst, devices) in self.instances_seeing(&net.project).await? {
            for (dev, cfg) in nic_devices(&devices) {
                if !nic_uses(cfg, &net.name) {
                    continue;
                }
                let hwaddr = cfg
                    .get("hwaddr")
                    .or_else(|| inst.config.get(&format!("volatile.{dev}.hwaddr")));
                let Some(hwaddr) = hwaddr else { continue };
                out.push(StaticLease {
                    hostname: inst.name.clone(),
                    hwaddr: hwaddr.clone(),
                    ipv4: cfg.get("ipv4.address").cloned().unwrap_or_default(),
                });
            }
        }
        Ok(out)
    }

    /// Hands a managed bridge its current static leases; failures are logged (the network
    /// keeps its previous ones).
    pub(crate) async fn refresh_static_leases(&self, net: &NetworkRecord) {
        if net.kind != "bridge" {
            return;
        }
        let result = async {
            let mut leases = self.static_leases(net).await?;
            leases.retain(|l| !l.ipv4.is_empty());
            let driver = self.network_driver(&net.kind)?;
            driver.set_static_leases(&self.net_info(net), &leases).await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(network = %net.name, "updating static leases: {e}");
        }
    }

    /// Refreshes the static leases of the managed bridges the nics with a fixed address among
    /// some devices use (after an instance changed, was renamed or deleted).
    pub(crate) async fn refresh_leases_of(&self, project: &str, devices: &Devices) {
        if self.net_drivers.is_empty() {
            return;
        }
        let mut seen: Vec<String> = Vec::new();
        // Only nics with a fixed address are in the static leases.
        for (_, d) in nic_devices(devices).filter(|(_, d)| d.contains_key("ipv4.address")) {
            let Some(name) = d.get("network").or_else(|| d.get("parent")) else {
                continue;
            };
            if seen.contains(name) {
                continue;
            }
            seen.push(name.clone());
            if let Ok(net) = self.network(project, name).await {
                self.refresh_static_leases(&net).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwaddrs_are_in_lxd_range_and_valid() {
        let a = random_hwaddr();
        assert!(a.starts_with("00:16:3e:") && valid_hwaddr(&a), "{a}");
        assert!(!valid_hwaddr("00:16:3e:00:00"));
        assert!(!valid_hwaddr("00:16:3e:00:00:zz"));
    }

    #[test]
    fn subnets() {
        let mut c = ConfigMap::new();
        c.insert("ipv4.address".into(), "10.1.2.1/24".into());
        let s = ipv4_subnet(&c).unwrap();
        assert!(in_subnet("10.1.2.50".parse().unwrap(), s));
        assert!(!in_subnet("10.1.3.50".parse().unwrap(), s));
        c.insert("ipv4.address".into(), "none".into());
        assert!(ipv4_subnet(&c).is_none());
    }

    #[test]
    fn attachments_round_trip_through_volatile_keys() {
        let mut att = NicAttachment {
            host_name: Some("veth12345678".into()),
            ..Default::default()
        };
        att.volatile
            .insert("last_state.created".into(), "true".into());
        let mut config = ConfigMap::new();
        for (k, v) in attachment_keys("eth0", &att) {
            config.insert(k, v.unwrap());
        }
        config.insert("volatile.eth0.hwaddr".into(), "00:16:3e:00:00:01".into());
        assert_eq!(attachment_from(&config, "eth0"), att);
        let forget = forget_keys(&config, "eth0");
        assert!(forget.contains_key("volatile.eth0.host_name"));
        assert!(
            !forget.contains_key("volatile.eth0.hwaddr"),
            "the MAC stays"
        );
    }
}
