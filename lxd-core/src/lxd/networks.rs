//! Managed networks: records in the store, kernel objects and services through the driver
//! of their type. Every change is made in the driver and the store together, and undone in
//! the driver when the store refuses it.

use std::path::PathBuf;
use std::sync::Arc;

use super::Lxd;
use crate::error::{Error, Result};
use crate::network::{HostInterface, Lease, NetworkDriver, NetworkInfo, NetworkState};
use crate::store::{ConfigMap, Devices, NetworkRecord, StoreError, StoreOp};

/// LXD's managed network types, in the order LXD lists them.
pub const NETWORK_TYPES: &[&str] = &["bridge", "macvlan", "sriov", "ovn", "physical"];

/// An instance or profile with a nic on a network.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NetworkUser {
    /// `instances` or `profiles` (the API collection).
    pub collection: &'static str,
    /// Its project.
    pub project: String,
    /// Its name.
    pub name: String,
}

/// Whether a nic device (of any instance or profile) is on the network `name`: its
/// `network`, or for bridged and macvlan nics its `parent`.
pub(crate) fn nic_uses(dev: &crate::store::DeviceConfig, name: &str) -> bool {
    dev.get("type").map(String::as_str) == Some("nic")
        && (dev.get("network").map(String::as_str) == Some(name)
            || dev.get("parent").map(String::as_str) == Some(name))
}

fn uses(devices: &Devices, name: &str) -> bool {
    devices.values().any(|d| nic_uses(d, name))
}

/// Checks a network name as LXD checks interface names (the bridge is called after the
/// network).
fn validate_network_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::Invalid("No name provided".into()));
    }
    if name.len() < 2 {
        return Err(Error::Invalid(
            "Network interface is too short (minimum 2 characters)".into(),
        ));
    }
    if name.len() > 15 {
        return Err(Error::Invalid(
            "Network interface is too long (maximum 15 characters)".into(),
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::Invalid(
            "Network interface contains invalid characters".into(),
        ));
    }
    Ok(())
}

impl Lxd {
    /// The project whose networks a project uses: itself with `features.networks`, else
    /// `default`.
    pub async fn networks_project(&self, project: &str) -> Result<String> {
        let p = self.store.project(project).await?;
        let own = p
            .config
            .get("features.networks")
            .is_some_and(|v| matches!(v.as_str(), "true" | "1" | "yes" | "on"));
        Ok(if own {
            project.to_string()
        } else {
            "default".into()
        })
    }

    /// The driver of a managed network type.
    pub fn network_driver(&self, kind: &str) -> Result<Arc<dyn NetworkDriver>> {
        if let Some(d) = self.net_drivers.get(kind) {
            return Ok(d.clone());
        }
        if NETWORK_TYPES.contains(&kind) {
            return Err(Error::Invalid(format!(
                "Network type {kind:?} is not supported on this server"
            )));
        }
        Err(Error::Invalid(format!(
            "Invalid network type {kind:?} (one of {})",
            NETWORK_TYPES.join(", ")
        )))
    }

    /// Whether networking drivers were given (see [`Lxd::with_networking`]).
    pub fn has_networking(&self) -> bool {
        self.nic_driver.is_some()
    }

    /// The driver's view of a network record.
    pub(crate) fn net_info(&self, rec: &NetworkRecord) -> NetworkInfo {
        NetworkInfo {
            name: rec.name.clone(),
            kind: rec.kind.clone(),
            config: rec.config.clone(),
            state_dir: self.network_dir(&rec.name),
        }
    }

    fn network_dir(&self, name: &str) -> PathBuf {
        self.dir.join("networks").join(name)
    }

    /// Managed networks seen from a project.
    pub async fn networks(&self, project: &str) -> Result<Vec<NetworkRecord>> {
        let owner = self.networks_project(project).await?;
        Ok(self.store.networks(&owner).await?)
    }

    /// One managed network seen from a project.
    pub async fn network(&self, project: &str, name: &str) -> Result<NetworkRecord> {
        let owner = self.networks_project(project).await?;
        Ok(self.store.network(&owner, name).await?)
    }

    /// The host's interfaces (for the list of unmanaged networks); empty without networking.
    pub async fn host_interfaces(&self) -> Result<Vec<HostInterface>> {
        match &self.nic_driver {
            Some(n) => n.host_interfaces().await,
            None => Ok(Vec::new()),
        }
    }

    /// Refuses a network name that a host interface already has.
    async fn require_no_interface(&self, name: &str) -> Result<()> {
        if self.host_interfaces().await?.iter().any(|i| i.name == name) {
            return Err(Error::Invalid(format!(
                "Network interface {name:?} already exists"
            )));
        }
        Ok(())
    }

    /// The other managed networks of every project (subnets must not overlap any of them).
    async fn all_other_networks(&self, except: Option<(&str, &str)>) -> Result<Vec<NetworkInfo>> {
        let mut out = Vec::new();
        for p in self.store.projects().await? {
            for rec in self.store.networks(&p.name).await? {
                if except == Some((p.name.as_str(), rec.name.as_str())) {
                    continue;
                }
                out.push(self.net_info(&rec));
            }
        }
        Ok(out)
    }

    /// Creates a managed network and brings it up; nothing is left if a step fails.
    pub async fn create_network(
        &self,
        project: &str,
        name: &str,
        kind: &str,
        description: &str,
        config: ConfigMap,
    ) -> Result<NetworkRecord> {
        validate_network_name(name)?;
        let driver = self.network_driver(kind)?;
        let owner = self.networks_project(project).await?;
        let lock = self.lock_for("networks".into());
        let _g = lock.lock().await;
        match self.store.network(&owner, name).await {
            Ok(_) => {
                return Err(StoreError::AlreadyExists {
                    kind: "Network",
                    name: name.to_string(),
                }
                .into())
            }
            Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        self.require_no_interface(name).await?;
        let others = self.all_other_networks(None).await?;
        let config = driver.prepare(name, &config, &others).await?;
        let mut rec = NetworkRecord {
            project: owner,
            name: name.to_string(),
            kind: kind.to_string(),
            description: description.to_string(),
            config,
            status: "PENDING".into(),
        };
        // The record claims the name first; the network is brought up next.
        self.store
            .apply(vec![StoreOp::CreateNetwork(rec.clone())])
            .await?;
        let info = self.net_info(&rec);
        let created = async {
            std::fs::create_dir_all(&info.state_dir)
                .map_err(|e| Error::io("create directory", &info.state_dir, e))?;
            driver.create(&info).await?;
            rec.status = "CREATED".into();
            if let Err(e) = self
                .store
                .apply(vec![StoreOp::UpdateNetwork(rec.clone())])
                .await
            {
                let _ = driver.stop(&info).await;
                return Err(e.into());
            }
            Ok(())
        }
        .await;
        if let Err(e) = created {
            let _ = std::fs::remove_dir_all(&info.state_dir);
            let _ = self
                .store
                .apply(vec![StoreOp::DeleteNetwork {
                    project: rec.project.clone(),
                    name: name.to_string(),
                }])
                .await;
            return Err(e);
        }
        tracing::info!(network = name, kind, "network created");
        Ok(rec)
    }

    /// Replaces a network's description and configuration and applies it to the running
    /// network; the old configuration comes back if the store refuses the new one.
    pub async fn update_network(
        &self,
        project: &str,
        name: &str,
        description: &str,
        config: ConfigMap,
    ) -> Result<NetworkRecord> {
        let lock = self.lock_for("networks".into());
        let _g = lock.lock().await;
        let old = self.network(project, name).await?;
        let driver = self.network_driver(&old.kind)?;
        let others = self
            .all_other_networks(Some((old.project.as_str(), name)))
            .await?;
        let config = driver.prepare(name, &config, &others).await?;
        let mut rec = old.clone();
        rec.description = description.to_string();
        rec.config = config;
        let (old_info, new_info) = (self.net_info(&old), self.net_info(&rec));
        if old.config != rec.config {
            driver.update(&old_info, &new_info).await?;
        }
        if let Err(e) = self
            .store
            .apply(vec![StoreOp::UpdateNetwork(rec.clone())])
            .await
        {
            if old.config != rec.config {
                if let Err(r) = driver.update(&new_info, &old_info).await {
                    tracing::error!(network = name, "restoring the old configuration: {r}");
                }
            }
            return Err(e.into());
        }
        // The static leases carry on under the new configuration.
        self.refresh_static_leases(&rec).await;
        Ok(rec)
    }

    /// Renames a network nothing uses (its interface follows).
    pub async fn rename_network(&self, project: &str, name: &str, new_name: &str) -> Result<()> {
        validate_network_name(new_name)?;
        let lock = self.lock_for("networks".into());
        let _g = lock.lock().await;
        let old = self.network(project, name).await?;
        let driver = self.network_driver(&old.kind)?;
        if !self.network_users(project, name).await?.is_empty() {
            return Err(Error::InUse("Network is currently in use".into()));
        }
        if self.network(project, new_name).await.is_ok() {
            return Err(StoreError::AlreadyExists {
                kind: "Network",
                name: new_name.to_string(),
            }
            .into());
        }
        self.require_no_interface(new_name).await?;
        let mut new = old.clone();
        new.name = new_name.to_string();
        let others = self
            .all_other_networks(Some((old.project.as_str(), name)))
            .await?;
        let old_info = self.net_info(&old);
        // The old interface goes first: its addresses are the new one's.
        driver.stop(&old_info).await?;
        let restart_old = || async {
            if let Err(e) = driver.start(&old_info).await {
                tracing::error!(network = name, "bringing the network back: {e}");
            }
        };
        new.config = match driver.prepare(new_name, &old.config, &others).await {
            Ok(c) => c,
            Err(e) => {
                restart_old().await;
                return Err(e);
            }
        };
        let new_info = self.net_info(&new);
        if let Err(e) = self
            .store
            .apply(vec![StoreOp::RenameNetwork {
                project: old.project.clone(),
                name: name.to_string(),
                new_name: new_name.to_string(),
            }])
            .await
        {
            restart_old().await;
            return Err(e.into());
        }
        let _ = std::fs::remove_dir_all(&old_info.state_dir);
        let started = async {
            std::fs::create_dir_all(&new_info.state_dir)
                .map_err(|e| Error::io("create directory", &new_info.state_dir, e))?;
            driver.create(&new_info).await
        }
        .await;
        if let Err(e) = started {
            let _ = driver.stop(&new_info).await;
            let _ = self
                .store
                .apply(vec![StoreOp::RenameNetwork {
                    project: old.project.clone(),
                    name: new_name.to_string(),
                    new_name: name.to_string(),
                }])
                .await;
            let _ = std::fs::create_dir_all(&old_info.state_dir);
            restart_old().await;
            return Err(e);
        }
        Ok(())
    }

    /// Deletes a network nothing uses: its interfaces, rules, services and files go.
    pub async fn delete_network(&self, project: &str, name: &str) -> Result<()> {
        let lock = self.lock_for("networks".into());
        let _g = lock.lock().await;
        let rec = self.network(project, name).await?;
        if !self.network_users(project, name).await?.is_empty() {
            return Err(Error::InUse("The network is currently in use".into()));
        }
        let driver = self.network_driver(&rec.kind)?;
        let info = self.net_info(&rec);
        driver.stop(&info).await?;
        if let Err(e) = self
            .store
            .apply(vec![StoreOp::DeleteNetwork {
                project: rec.project.clone(),
                name: name.to_string(),
            }])
            .await
        {
            if let Err(r) = driver.start(&info).await {
                tracing::error!(network = name, "bringing the network back: {r}");
            }
            return Err(e.into());
        }
        let _ = std::fs::remove_dir_all(&info.state_dir);
        tracing::info!(network = name, "network deleted");
        Ok(())
    }

    /// The instances and profiles with a nic on a network, sorted.
    pub async fn network_users(&self, project: &str, name: &str) -> Result<Vec<NetworkUser>> {
        let owner = self.networks_project(project).await?;
        let mut out = Vec::new();
        for p in self.store.projects().await? {
            if self.networks_project(&p.name).await? != owner {
                continue;
            }
            for prof in self.store.profiles(&p.name).await? {
                if uses(&prof.devices, name) {
                    out.push(NetworkUser {
                        collection: "profiles",
                        project: p.name.clone(),
                        name: prof.name,
                    });
                }
            }
        }
        for (inst, devices) in self.instances_seeing(&owner).await? {
            if uses(&devices, name) {
                out.push(NetworkUser {
                    collection: "instances",
                    project: inst.project,
                    name: inst.name,
                });
            }
        }
        out.sort();
        Ok(out)
    }

    /// The state of a managed network, or of any host interface.
    pub async fn network_state(&self, project: &str, name: &str) -> Result<NetworkState> {
        match self.network(project, name).await {
            Ok(rec) => {
                let info = self.net_info(&rec);
                self.network_driver(&rec.kind)?.state(&info).await
            }
            Err(Error::Store(StoreError::NotFound { .. })) if self.nic_driver.is_some() => {
                let nic = self.nic_driver.as_ref().expect("checked");
                let known = nic.host_interfaces().await?;
                if !known.iter().any(|i| i.name == name) {
                    return Err(StoreError::NotFound {
                        kind: "Network",
                        name: name.to_string(),
                    }
                    .into());
                }
                nic.interface_state(name).await
            }
            Err(e) => Err(e),
        }
    }

    /// The DHCP leases of a managed network: the instances' nics with a fixed address, then
    /// what dnsmasq handed out.
    pub async fn network_leases(&self, project: &str, name: &str) -> Result<Vec<Lease>> {
        let rec = self.network(project, name).await?;
        let info = self.net_info(&rec);
        let mut out: Vec<Lease> = Vec::new();
        // The bridge's own addresses come first, as `NAME.gw`.
        for key in ["ipv4.address", "ipv6.address"] {
            if let Some((addr, _)) = rec.config.get(key).and_then(|v| v.split_once('/')) {
                out.push(Lease {
                    hostname: format!("{name}.gw"),
                    hwaddr: String::new(),
                    address: addr.to_string(),
                    kind: "gateway".into(),
                });
            }
        }
        out.extend(
            self.static_leases(&rec)
                .await?
                .into_iter()
                .filter(|l| !l.ipv4.is_empty())
                .map(|l| Lease {
                    hostname: l.hostname,
                    hwaddr: l.hwaddr,
                    address: l.ipv4,
                    kind: "static".into(),
                }),
        );
        for lease in self.network_driver(&rec.kind)?.leases(&info).await? {
            if !out
                .iter()
                .any(|l| l.hwaddr.eq_ignore_ascii_case(&lease.hwaddr) && l.address == lease.address)
            {
                out.push(lease);
            }
        }
        Ok(out)
    }

    /// Brings every recorded network up (daemon start); a network that fails is logged and
    /// marked `ERRORED`, the others carry on.
    pub async fn start_networks(&self) -> Result<()> {
        if self.net_drivers.is_empty() {
            return Ok(());
        }
        for p in self.store.projects().await? {
            for mut rec in self.store.networks(&p.name).await? {
                let info = self.net_info(&rec);
                let result = async {
                    std::fs::create_dir_all(&info.state_dir)
                        .map_err(|e| Error::io("create directory", &info.state_dir, e))?;
                    self.network_driver(&rec.kind)?.start(&info).await
                }
                .await;
                let status = match &result {
                    Ok(()) => "CREATED",
                    Err(e) => {
                        tracing::error!(network = %rec.name, "cannot start network: {e}");
                        "ERRORED"
                    }
                };
                if result.is_ok() {
                    self.refresh_static_leases(&rec).await;
                }
                if rec.status != status {
                    rec.status = status.into();
                    self.store.apply(vec![StoreOp::UpdateNetwork(rec)]).await?;
                }
            }
        }
        Ok(())
    }

    /// Takes every recorded network down (`lxd shutdown`, after the instances stopped).
    pub async fn stop_networks(&self) -> Result<()> {
        if self.net_drivers.is_empty() {
            return Ok(());
        }
        for p in self.store.projects().await? {
            for rec in self.store.networks(&p.name).await? {
                let info = self.net_info(&rec);
                if let Err(e) = self.network_driver(&rec.kind)?.stop(&info).await {
                    tracing::error!(network = %rec.name, "cannot stop network: {e}");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_names_are_interface_names() {
        assert!(validate_network_name("lxdbr0").is_ok());
        assert!(validate_network_name("br-a_1.2").is_ok());
        for bad in ["", "a", "a-name-longer-than-15", "a/b", "a b", "x:y", "é"] {
            assert!(validate_network_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn nic_usage_by_network_or_parent() {
        let nic = |k: &str, v: &str| {
            [("type", "nic"), (k, v)]
                .into_iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<crate::store::DeviceConfig>()
        };
        assert!(nic_uses(&nic("network", "br0"), "br0"));
        assert!(nic_uses(&nic("parent", "br0"), "br0"));
        assert!(!nic_uses(&nic("network", "br1"), "br0"));
        let mut disk = nic("source", "br0");
        disk.insert("type".into(), "disk".into());
        assert!(!nic_uses(&disk, "br0"));
    }
}
