//! Instance operations of [`Lxd`]: create (from an image, empty, as a copy of an instance or of
//! one of its snapshots), start, stop, snapshot, rename a snapshot, restore, copy, rename,
//! delete, each recorded through the [`ClusterStore`] and undone on failure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use super::nics::apply_changes;
use super::{now, Lxd};
use crate::config::InstanceConfig;
use crate::error::{Error, Result};
use crate::image::{self, TemplateContext, Trigger};
use crate::instance::{Instance, InstanceState, InstanceStatus};
use crate::runtime::{Container, DiskMount};
use crate::storage::pool::{disk_name, Pool};
use crate::store::{
    ConfigMap, Devices, InstanceRecord, InstanceType, SnapshotRecord, StoreError, StoreOp,
    VolumeType,
};

/// Where a new instance's root filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceSource {
    /// An image, by alias or fingerprint.
    Image(String),
    /// An empty root volume.
    None,
    /// A copy of another instance of the same project.
    Copy {
        /// The source instance.
        source: String,
        /// Leave its snapshots behind.
        instance_only: bool,
    },
    /// A copy of a snapshot of another instance of the same project: the snapshot's files
    /// and configuration, without snapshots of its own.
    Snapshot {
        /// The instance the snapshot belongs to.
        source: String,
        /// The snapshot.
        snapshot: String,
    },
}

/// A request to create an instance.
#[derive(Debug, Clone)]
pub struct CreateInstance {
    /// Project.
    pub project: String,
    /// Name (a valid hostname).
    pub name: String,
    /// Root filesystem source.
    pub source: InstanceSource,
    /// Local configuration.
    pub config: ConfigMap,
    /// Local devices.
    pub devices: Devices,
    /// Profiles (`None`: `default`; for a copy: the source's).
    pub profiles: Option<Vec<String>>,
    /// Put the root volume on this pool (adds a local `root` disk device).
    pub pool: Option<String>,
    /// Delete the instance when it stops.
    pub ephemeral: bool,
    /// Description.
    pub description: String,
}

impl CreateInstance {
    /// A request with defaults: project `default`, profile `default`, no local config.
    pub fn new(name: &str, source: InstanceSource) -> Self {
        CreateInstance {
            project: "default".into(),
            name: name.to_string(),
            source,
            config: ConfigMap::new(),
            devices: Devices::new(),
            profiles: None,
            pool: None,
            ephemeral: false,
            description: String::new(),
        }
    }
}

/// LXD's device types.
const DEVICE_TYPES: &[&str] = &[
    "none",
    "nic",
    "disk",
    "unix-char",
    "unix-block",
    "usb",
    "gpu",
    "infiniband",
    "proxy",
    "unix-hotplug",
    "tpm",
    "pci",
];

/// Checks devices: known types, and a root disk that names a pool.
pub fn validate_devices(devices: &Devices) -> Result<()> {
    for (name, dev) in devices {
        let t = dev
            .get("type")
            .ok_or_else(|| Error::Invalid(format!("Device {name:?} has no type")))?;
        if !DEVICE_TYPES.contains(&t.as_str()) {
            return Err(Error::Invalid(format!(
                "Device {name:?} has an invalid type {t:?}"
            )));
        }
        if t == "disk" && !dev.contains_key("path") {
            return Err(Error::Invalid(format!(
                "Disk device {name:?} must have a path"
            )));
        }
    }
    Ok(())
}

/// The root disk device in expanded devices.
fn root_disk(devices: &Devices) -> Option<&crate::store::DeviceConfig> {
    devices.values().find(|d| {
        d.get("type").map(String::as_str) == Some("disk")
            && d.get("path").map(String::as_str) == Some("/")
    })
}

/// The root disk's pool in expanded devices.
fn root_pool(devices: &Devices) -> Result<String> {
    root_disk(devices)
        .and_then(|d| d.get("pool").cloned())
        .ok_or_else(|| {
            Error::Invalid("Failed getting root disk: No root device could be found".into())
        })
}

fn random_uuid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Keys a copy does not inherit: identity and runtime state of the source.
fn copyable(key: &str) -> bool {
    !key.starts_with("volatile.")
        || key == "volatile.base_image"
        || key == "volatile.last_state.idmap"
}

/// Checks a snapshot name: usable in a URL segment, as LXD requires (no `/`, `?`, `&`, `+`),
/// and as a file name (not empty, `.` or `..`, no control characters).
fn validate_snapshot_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "Cannot be empty".to_string()
    } else if let Some(c) = ["/", "?", "&", "+"].into_iter().find(|c| name.contains(c)) {
        format!("Cannot contain {c:?}")
    } else if name == "." || name == ".." {
        format!("Cannot be {name:?}")
    } else if name.chars().any(char::is_control) {
        "Cannot contain control characters".to_string()
    } else {
        return Ok(());
    };
    Err(Error::Invalid(format!(
        "Invalid snapshot name {name:?}: {reason}"
    )))
}

impl Lxd {
    /// The configuration and devices of an instance with its profiles applied.
    pub async fn expanded(&self, rec: &InstanceRecord) -> Result<(ConfigMap, Devices)> {
        let mut config = ConfigMap::new();
        let mut devices = Devices::new();
        for p in &rec.profiles {
            let prof = self.store.profile(&rec.project, p).await?;
            config.extend(prof.config);
            devices.extend(prof.devices);
        }
        config.extend(rec.config.clone());
        devices.extend(rec.devices.clone());
        Ok((config, devices))
    }

    /// [`Lxd::expanded`] with the profiles already loaded (for listing many instances).
    pub fn expand_with(
        rec: &InstanceRecord,
        profiles: &[crate::store::ProfileRecord],
    ) -> Result<(ConfigMap, Devices)> {
        let mut config = ConfigMap::new();
        let mut devices = Devices::new();
        for p in &rec.profiles {
            let prof =
                profiles
                    .iter()
                    .find(|x| &x.name == p)
                    .ok_or_else(|| StoreError::NotFound {
                        kind: "Profile",
                        name: p.clone(),
                    })?;
            config.extend(prof.config.clone());
            devices.extend(prof.devices.clone());
        }
        config.extend(rec.config.clone());
        devices.extend(rec.devices.clone());
        Ok((config, devices))
    }

    /// The runtime handle of an instance whose expanded configuration is known.
    pub fn container_of(
        &self,
        rec: &InstanceRecord,
        config: ConfigMap,
        devices: &Devices,
    ) -> Result<Container> {
        let pool = self.pool(&root_pool(devices)?)?;
        self.container_for(rec, config, &pool)
    }

    fn instance_key(project: &str, name: &str) -> String {
        format!("instance/{project}/{name}")
    }

    /// The runtime handle of an instance (does not start it).
    pub async fn container(&self, project: &str, name: &str) -> Result<Container> {
        let rec = self.store.instance(project, name).await?;
        let (config, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        self.container_for(&rec, config, &pool)
    }

    fn container_for(
        &self,
        rec: &InstanceRecord,
        config: ConfigMap,
        pool: &Pool,
    ) -> Result<Container> {
        let vol = pool.volume_path(VolumeType::Container, &rec.project, &rec.name);
        let id = disk_name(&rec.project, &rec.name);
        self.runtime.container_with_id(
            &id,
            &rec.name,
            vol.join("rootfs"),
            InstanceConfig::new(config)?,
        )
    }

    /// The host paths the `disk` devices (other than the root) bind into the container: a
    /// host path `source`, or a custom volume `source` on `pool`.
    pub fn disk_mounts(&self, project: &str, devices: &Devices) -> Result<Vec<DiskMount>> {
        let mut out = Vec::new();
        for (name, d) in devices {
            if d.get("type").map(String::as_str) != Some("disk")
                || d.get("path").map(String::as_str) == Some("/")
            {
                continue;
            }
            let path = d.get("path").cloned().unwrap_or_default();
            let source = d
                .get("source")
                .ok_or_else(|| Error::Invalid(format!("Disk device {name:?} has no source")))?;
            let host = match d.get("pool") {
                Some(p) => self
                    .pool(p)?
                    .volume_path(VolumeType::Custom, project, source),
                None => {
                    let p = PathBuf::from(source);
                    if !p.is_absolute() {
                        return Err(Error::Invalid(format!(
                            "Disk device {name:?}: the source {source:?} must be an absolute host path"
                        )));
                    }
                    p
                }
            };
            out.push(DiskMount {
                source: host,
                path,
                readonly: d.get("readonly").is_some_and(|v| v == "true" || v == "1"),
            });
        }
        Ok(out)
    }

    /// Creates an instance; every step is undone if a later one fails.
    pub async fn create_instance(&self, req: CreateInstance) -> Result<InstanceRecord> {
        crate::config::validate_name(&req.name).map_err(|reason| Error::InvalidName {
            name: req.name.clone(),
            reason,
        })?;
        let lock = self.lock_for(Self::instance_key(&req.project, &req.name));
        let _g = lock.lock().await;
        self.store.project(&req.project).await?;
        if self.store.instance(&req.project, &req.name).await.is_ok() {
            return Err(StoreError::AlreadyExists {
                kind: "Instance",
                name: req.name.clone(),
            }
            .into());
        }
        // The source instance of a copy, and what the copy inherits: the instance's own
        // configuration, devices and profiles, or those recorded with the snapshot.
        let (source_rec, inherited) = match &req.source {
            InstanceSource::Copy { source, .. } => {
                let src = self.store.instance(&req.project, source).await?;
                let inherited = (
                    src.config.clone(),
                    src.devices.clone(),
                    src.profiles.clone(),
                );
                (Some(src), Some(inherited))
            }
            InstanceSource::Snapshot { source, snapshot } => {
                let src = self.store.instance(&req.project, source).await?;
                let snap = self.store.snapshot(&req.project, source, snapshot).await?;
                (Some(src), Some((snap.config, snap.devices, snap.profiles)))
            }
            InstanceSource::Image(_) | InstanceSource::None => (None, None),
        };
        let profiles = req.profiles.clone().unwrap_or_else(|| match &inherited {
            Some((_, _, profiles)) => profiles.clone(),
            None => vec!["default".to_string()],
        });
        let mut config = req.config.clone();
        let mut devices = req.devices.clone();
        if let Some((src_config, src_devices, _)) = &inherited {
            for (k, v) in src_config {
                if copyable(k) {
                    config.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            for (k, v) in src_devices {
                devices.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        if let Some(pool) = &req.pool {
            let mut root = BTreeMap::new();
            root.insert("type".to_string(), "disk".to_string());
            root.insert("path".to_string(), "/".to_string());
            root.insert("pool".to_string(), pool.clone());
            devices.insert("root".into(), root);
        }
        let mut rec = InstanceRecord {
            project: req.project.clone(),
            name: req.name.clone(),
            node: "none".into(),
            instance_type: InstanceType::Container,
            architecture: std::env::consts::ARCH.to_string(),
            ephemeral: req.ephemeral,
            stateful: false,
            description: req.description.clone(),
            config,
            devices,
            profiles,
            created_at: now(),
            last_used_at: 0,
        };
        // Validate the local and the expanded configuration before touching storage.
        InstanceConfig::new(rec.config.clone())?;
        let (expanded_config, expanded_devices) = self.expanded(&rec).await?;
        InstanceConfig::new(expanded_config)?;
        validate_devices(&expanded_devices)?;
        let pool = self.pool(&root_pool(&expanded_devices)?)?;
        rec.config.insert("volatile.uuid".into(), random_uuid());
        // Nics are checked against their networks and get their MAC addresses now.
        let nics = self
            .resolve_nics(&req.project, &expanded_devices, &rec.config)
            .await?;
        let fresh = Self::new_hwaddrs(&nics, &rec.config);
        apply_changes(&mut rec.config, fresh);
        // The root disk's `size` becomes the volume's quota, as in LXD.
        let mut vol_config = ConfigMap::new();
        if let Some(size) = root_disk(&expanded_devices).and_then(|d| d.get("size")) {
            vol_config.insert("size".into(), size.clone());
        }
        let mut ops = Vec::new();
        let staged = match &req.source {
            InstanceSource::None => {
                let s = pool
                    .create_volume(VolumeType::Container, &req.project, &req.name, vol_config)
                    .await?;
                let root = pool
                    .volume_path(VolumeType::Container, &req.project, &req.name)
                    .join("rootfs");
                std::fs::create_dir_all(&root).map_err(|e| Error::io("create rootfs", &root, e))?;
                s
            }
            InstanceSource::Image(alias) => {
                let img = self.resolve_image(&req.project, alias).await?;
                let files = self.image_files(&img.fingerprint);
                pool.ensure_image_volume(&img.fingerprint, move |dir| {
                    image::unpack(&files, dir, &image::UnpackOptions::default())?;
                    Ok(())
                })
                .await?;
                rec.config
                    .insert("volatile.base_image".into(), img.fingerprint.clone());
                rec.config
                    .insert("volatile.apply_template".into(), "create".into());
                for (k, v) in &img.properties {
                    rec.config
                        .entry(format!("image.{k}"))
                        .or_insert_with(|| v.clone());
                }
                let mut used = img.clone();
                used.last_used_at = now();
                ops.push(StoreOp::UpdateImage(used));
                pool.create_volume_from_image(
                    VolumeType::Container,
                    &req.project,
                    &req.name,
                    &img.fingerprint,
                    vol_config,
                )
                .await?
            }
            InstanceSource::Copy {
                source,
                instance_only,
            } => {
                let src = source_rec.as_ref().expect("loaded above");
                self.check_same_pool(src, &pool).await?;
                rec.config
                    .insert("volatile.apply_template".into(), "copy".into());
                if !instance_only {
                    for s in self.store.snapshots(&req.project, source).await? {
                        ops.push(StoreOp::CreateSnapshot(SnapshotRecord {
                            instance: req.name.clone(),
                            ..s
                        }));
                    }
                }
                pool.copy_volume(
                    VolumeType::Container,
                    &req.project,
                    source,
                    &req.name,
                    !instance_only,
                )
                .await?
            }
            InstanceSource::Snapshot { source, snapshot } => {
                let src = source_rec.as_ref().expect("loaded above");
                self.check_same_pool(src, &pool).await?;
                rec.config
                    .insert("volatile.apply_template".into(), "copy".into());
                pool.create_volume_from_snapshot(
                    VolumeType::Container,
                    &req.project,
                    source,
                    snapshot,
                    &req.name,
                    vol_config,
                )
                .await?
            }
        };
        let mut all = vec![StoreOp::CreateInstance(rec.clone())];
        all.extend(staged.ops);
        all.extend(ops);
        self.store.apply(all).await?;
        staged.revert.success();
        self.refresh_leases_of(&rec.project, &expanded_devices)
            .await;
        Ok(rec)
    }

    /// Starts an instance: mounts its root volume, applies pending templates, runs it, and
    /// records the runtime's volatile keys.
    pub async fn start_instance(&self, project: &str, name: &str) -> Result<()> {
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        let t0 = std::time::Instant::now();
        let mut rec = self.store.instance(project, name).await?;
        let (config, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let container = self.container_for(&rec, config.clone(), &pool)?;
        if container.state().await?.status != InstanceStatus::Stopped {
            return Err(Error::InvalidState {
                name: name.to_string(),
                message: "The instance is already running",
            });
        }
        container.set_mounts(self.disk_mounts(project, &devices)?);
        let (nics, attached) = self.prepare_nics(&mut rec, &devices, &container).await?;
        let vol = pool
            .mount_volume(VolumeType::Container, project, name)
            .await?;
        let result = async {
            let ctx = TemplateContext {
                name: name.to_string(),
                architecture: rec.architecture.clone(),
                privileged: config
                    .get("security.privileged")
                    .is_some_and(|v| v == "true"),
                config: config.clone(),
                instance_type: "container".into(),
            };
            let pending = config.get("volatile.apply_template").cloned();
            let v = vol.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                match pending.as_deref() {
                    Some("create") => image::apply_templates(&v, Trigger::Create, &ctx)?,
                    Some("copy") => image::apply_templates(&v, Trigger::Copy, &ctx)?,
                    _ => {}
                }
                image::apply_templates(&v, Trigger::Start, &ctx)?;
                Ok(())
            })
            .await
            .map_err(|e| Error::Invalid(format!("template task: {e}")))??;
            tracing::debug!(
                instance = name,
                ms = t0.elapsed().as_secs_f64() * 1e3,
                "start: templates applied"
            );
            container.start().await?;
            tracing::debug!(
                instance = name,
                ms = t0.elapsed().as_secs_f64() * 1e3,
                "start: running"
            );
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            let mut partial = rec.config.clone();
            apply_changes(&mut partial, Self::attached_keys(&attached));
            self.detach_nics(name, &nics, &partial, None).await;
            let _ = pool
                .unmount_volume(VolumeType::Container, project, name)
                .await;
            return Err(e);
        }
        apply_changes(&mut rec.config, Self::attached_keys(&attached));
        // Record the runtime's volatile keys and drop the applied template trigger.
        let after = container.config();
        for (k, v) in after.as_map() {
            if k.starts_with("volatile.") && config.get(k) != Some(v) {
                rec.config.insert(k.clone(), v.clone());
            }
        }
        rec.config.remove("volatile.apply_template");
        rec.config
            .insert("volatile.last_state.power".into(), "RUNNING".into());
        rec.last_used_at = now();
        self.store.apply(vec![StoreOp::UpdateInstance(rec)]).await?;
        Ok(())
    }

    /// Stops an instance: at once (`force`), or cleanly within `timeout` and then at once.
    pub async fn stop_instance(
        &self,
        project: &str,
        name: &str,
        force: bool,
        timeout: Duration,
    ) -> Result<()> {
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        self.stop_locked(project, name, force, timeout).await
    }

    async fn stop_locked(
        &self,
        project: &str,
        name: &str,
        force: bool,
        timeout: Duration,
    ) -> Result<()> {
        let rec = self.store.instance(project, name).await?;
        let (config, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let container = self.container_for(&rec, config, &pool)?;
        if force {
            container.stop().await?;
        } else {
            container.shutdown(timeout).await?;
        }
        if pool.mount_count(VolumeType::Container, project, name) > 0 {
            pool.unmount_volume(VolumeType::Container, project, name)
                .await?;
        }
        let mut changes = match self.resolve_nics(project, &devices, &rec.config).await {
            Ok(nics) => self.detach_nics(name, &nics, &rec.config, None).await,
            Err(e) => {
                tracing::warn!(instance = name, "nics of the stopped instance: {e}");
                BTreeMap::new()
            }
        };
        changes.insert(
            "volatile.last_state.power".to_string(),
            Some("STOPPED".to_string()),
        );
        self.store
            .apply(vec![StoreOp::SetInstanceConfig {
                project: project.to_string(),
                name: name.to_string(),
                changes,
            }])
            .await?;
        if rec.ephemeral {
            self.delete_locked(project, name).await?;
        }
        Ok(())
    }

    /// The state of an instance.
    pub async fn instance_state(&self, project: &str, name: &str) -> Result<InstanceState> {
        self.container(project, name).await?.state().await
    }

    /// Takes a snapshot of an instance's root volume (running or stopped) and records the
    /// instance's configuration with it.
    pub async fn snapshot_instance(&self, project: &str, name: &str, snapshot: &str) -> Result<()> {
        validate_snapshot_name(snapshot)?;
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        let rec = self.store.instance(project, name).await?;
        if self.store.snapshot(project, name, snapshot).await.is_ok() {
            return Err(StoreError::AlreadyExists {
                kind: "Snapshot",
                name: format!("{name}/{snapshot}"),
            }
            .into());
        }
        let (_, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let mut staged = pool
            .snapshot_volume(VolumeType::Container, project, name, snapshot)
            .await?;
        staged.ops.insert(
            0,
            StoreOp::CreateSnapshot(SnapshotRecord {
                project: project.to_string(),
                instance: name.to_string(),
                name: snapshot.to_string(),
                config: rec.config.clone(),
                devices: rec.devices.clone(),
                profiles: rec.profiles.clone(),
                stateful: false,
                description: String::new(),
                created_at: now(),
                expires_at: 0,
            }),
        );
        staged.commit(&**self.store()).await
    }

    /// Checks a snapshot name as snapshots and renames of snapshots do: usable in a URL
    /// segment, as LXD requires (no `/`, `?`, `&`, `+`), and as a file name (not empty, `.`
    /// or `..`, no control characters). The error names the name and the reason.
    pub fn check_snapshot_name(name: &str) -> Result<()> {
        validate_snapshot_name(name)
    }

    /// Refuses a copy of `src` (or of one of its snapshots) onto another pool than its own.
    async fn check_same_pool(&self, src: &InstanceRecord, pool: &Pool) -> Result<()> {
        let (_, src_devices) = self.expanded(src).await?;
        let src_pool = root_pool(&src_devices)?;
        if src_pool != pool.name() {
            return Err(Error::Invalid(format!(
                "Copying instance {:?} from storage pool {src_pool:?} to storage pool {:?} is not supported",
                src.name,
                pool.name()
            )));
        }
        Ok(())
    }

    /// Renames an instance snapshot: its volume's snapshot (files and record) and its record,
    /// together; the files are renamed back if the records cannot be written. A name that is
    /// invalid or taken is refused before anything changes.
    pub async fn rename_snapshot(
        &self,
        project: &str,
        name: &str,
        snapshot: &str,
        new_name: &str,
    ) -> Result<()> {
        validate_snapshot_name(new_name)?;
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        let rec = self.store.instance(project, name).await?;
        self.store.snapshot(project, name, snapshot).await?;
        if self.store.snapshot(project, name, new_name).await.is_ok() {
            return Err(StoreError::AlreadyExists {
                kind: "Snapshot",
                name: format!("{name}/{new_name}"),
            }
            .into());
        }
        let (_, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let mut staged = pool
            .rename_snapshot(VolumeType::Container, project, name, snapshot, new_name)
            .await?;
        staged.ops.insert(
            0,
            StoreOp::RenameSnapshot {
                project: project.to_string(),
                instance: name.to_string(),
                name: snapshot.to_string(),
                new_name: new_name.to_string(),
            },
        );
        staged.commit(&**self.store()).await
    }

    /// Deletes an instance snapshot.
    pub async fn delete_snapshot(&self, project: &str, name: &str, snapshot: &str) -> Result<()> {
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        let rec = self.store.instance(project, name).await?;
        self.store.snapshot(project, name, snapshot).await?;
        let (_, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let mut ops = pool
            .delete_snapshot(VolumeType::Container, project, name, snapshot)
            .await?;
        ops.push(StoreOp::DeleteSnapshot {
            project: project.to_string(),
            instance: name.to_string(),
            name: snapshot.to_string(),
        });
        self.store.apply(ops).await?;
        Ok(())
    }

    /// Restores an instance to a snapshot: its files and its configuration. A running
    /// instance is stopped first and started again after.
    pub async fn restore_instance(&self, project: &str, name: &str, snapshot: &str) -> Result<()> {
        let was_running = {
            let lock = self.lock_for(Self::instance_key(project, name));
            let _g = lock.lock().await;
            let snap = self.store.snapshot(project, name, snapshot).await?;
            let mut rec = self.store.instance(project, name).await?;
            let (config, devices) = self.expanded(&rec).await?;
            let pool = self.pool(&root_pool(&devices)?)?;
            let running = self
                .container_for(&rec, config, &pool)?
                .state()
                .await?
                .status
                != InstanceStatus::Stopped;
            if running {
                self.stop_locked(project, name, true, Duration::ZERO)
                    .await?;
                rec = self.store.instance(project, name).await?;
            }
            // Snapshots the driver must destroy to get there (later ones, on zfs with
            // `zfs.remove_snapshots`) go first, files and records, as LXD does.
            for later in pool
                .snapshots_removed_by_restore(VolumeType::Container, project, name, snapshot)
                .await?
                .iter()
                .rev()
            {
                let mut ops = pool
                    .delete_snapshot(VolumeType::Container, project, name, later)
                    .await?;
                ops.push(StoreOp::DeleteSnapshot {
                    project: project.to_string(),
                    instance: name.to_string(),
                    name: later.clone(),
                });
                self.store.apply(ops).await?;
            }
            pool.restore_snapshot(VolumeType::Container, project, name, snapshot)
                .await?;
            // The configuration comes back too; the runtime's own volatile keys stay.
            let mut config: ConfigMap = snap
                .config
                .into_iter()
                .filter(|(k, _)| {
                    !k.starts_with("volatile.idmap") && k != "volatile.last_state.idmap"
                })
                .collect();
            for (k, v) in &rec.config {
                if k.starts_with("volatile.idmap") || k == "volatile.last_state.idmap" {
                    config.insert(k.clone(), v.clone());
                }
            }
            rec.config = config;
            rec.devices = snap.devices;
            rec.profiles = snap.profiles;
            self.store.apply(vec![StoreOp::UpdateInstance(rec)]).await?;
            running
        };
        if was_running {
            self.start_instance(project, name).await?;
        }
        Ok(())
    }

    /// Creates a new instance from a snapshot of another: the snapshot's files and
    /// configuration, without snapshots.
    pub async fn copy_snapshot(
        &self,
        project: &str,
        source: &str,
        snapshot: &str,
        target: &str,
    ) -> Result<InstanceRecord> {
        let req = CreateInstance {
            project: project.to_string(),
            ..CreateInstance::new(
                target,
                InstanceSource::Snapshot {
                    source: source.to_string(),
                    snapshot: snapshot.to_string(),
                },
            )
        };
        self.create_instance(req).await
    }

    /// Copies an instance (and its snapshots unless `instance_only`) to a new instance.
    pub async fn copy_instance(
        &self,
        project: &str,
        source: &str,
        target: &str,
        instance_only: bool,
    ) -> Result<InstanceRecord> {
        let req = CreateInstance {
            project: project.to_string(),
            ..CreateInstance::new(
                target,
                InstanceSource::Copy {
                    source: source.to_string(),
                    instance_only,
                },
            )
        };
        self.create_instance(req).await
    }

    /// Renames a stopped instance.
    pub async fn rename_instance(&self, project: &str, name: &str, new_name: &str) -> Result<()> {
        crate::config::validate_name(new_name).map_err(|reason| Error::InvalidName {
            name: new_name.to_string(),
            reason,
        })?;
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        let rec = self.store.instance(project, name).await?;
        if self.store.instance(project, new_name).await.is_ok() {
            return Err(StoreError::AlreadyExists {
                kind: "Instance",
                name: new_name.to_string(),
            }
            .into());
        }
        let (config, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let container = self.container_for(&rec, config, &pool)?;
        if container.state().await?.status != InstanceStatus::Stopped {
            return Err(Error::InvalidState {
                name: name.to_string(),
                message: "Renaming of running instance not allowed",
            });
        }
        let mut staged = pool
            .rename_volume(VolumeType::Container, project, name, new_name)
            .await?;
        staged.ops.insert(
            0,
            StoreOp::RenameInstance {
                project: project.to_string(),
                name: name.to_string(),
                new_name: new_name.to_string(),
            },
        );
        staged.commit(&**self.store()).await?;
        container.delete().await?;
        self.refresh_leases_of(project, &devices).await;
        Ok(())
    }

    /// Deletes an instance with its snapshots; a running one only with `force` (stopped first).
    pub async fn delete_instance(&self, project: &str, name: &str, force: bool) -> Result<()> {
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        let rec = self.store.instance(project, name).await?;
        let (config, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let container = self.container_for(&rec, config, &pool)?;
        if container.state().await?.status != InstanceStatus::Stopped {
            if !force {
                return Err(Error::InvalidState {
                    name: name.to_string(),
                    message: "The instance is currently running, stop it first",
                });
            }
            self.stop_locked(project, name, true, Duration::ZERO)
                .await?;
            if rec.ephemeral {
                return Ok(());
            }
        }
        self.delete_locked(project, name).await
    }

    async fn delete_locked(&self, project: &str, name: &str) -> Result<()> {
        let rec = self.store.instance(project, name).await?;
        let (config, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        let container = self.container_for(&rec, config, &pool)?;
        let mut ops = pool
            .delete_volume(VolumeType::Container, project, name)
            .await?;
        ops.push(StoreOp::DeleteInstance {
            project: project.to_string(),
            name: name.to_string(),
        });
        self.store.apply(ops).await?;
        container.delete().await?;
        self.refresh_leases_of(project, &devices).await;
        Ok(())
    }

    /// Where an instance's root volume is (its `rootfs/` holds the container's files).
    pub async fn instance_volume_path(&self, project: &str, name: &str) -> Result<PathBuf> {
        let rec = self.store.instance(project, name).await?;
        let (_, devices) = self.expanded(&rec).await?;
        let pool = self.pool(&root_pool(&devices)?)?;
        Ok(pool.volume_path(VolumeType::Container, project, name))
    }
}

/// The writable part of an instance, as a `PUT` carries it.
#[derive(Debug, Clone, Default)]
pub struct InstanceUpdate {
    /// Local configuration; `volatile.*` keys left out keep their current values.
    pub config: ConfigMap,
    /// Local devices.
    pub devices: Devices,
    /// Profiles.
    pub profiles: Vec<String>,
    /// Description.
    pub description: String,
    /// Ephemeral flag.
    pub ephemeral: bool,
}

impl Lxd {
    /// Replaces an instance's configuration, devices and profiles after validating them; a
    /// running container gets changed limits at once.
    pub async fn update_instance(
        &self,
        project: &str,
        name: &str,
        update: InstanceUpdate,
    ) -> Result<InstanceRecord> {
        let lock = self.lock_for(Self::instance_key(project, name));
        let _g = lock.lock().await;
        let old = self.store.instance(project, name).await?;
        let mut rec = old.clone();
        rec.config = update.config;
        for (k, v) in &old.config {
            if k.starts_with("volatile.") && !rec.config.contains_key(k) {
                rec.config.insert(k.clone(), v.clone());
            }
        }
        rec.devices = update.devices;
        rec.profiles = update.profiles;
        rec.description = update.description;
        rec.ephemeral = update.ephemeral;
        InstanceConfig::new(rec.config.clone())?;
        for p in &rec.profiles {
            self.store.profile(project, p).await?;
        }
        let (old_cfg, old_devices) = self.expanded(&old).await?;
        let (config, devices) = self.expanded(&rec).await?;
        let expanded = InstanceConfig::new(config.clone())?;
        validate_devices(&devices)?;
        if root_pool(&devices)? != root_pool(&old_devices)? {
            return Err(Error::Invalid(
                "Changing the root disk's storage pool is not supported".into(),
            ));
        }
        let pool = self.pool(&root_pool(&devices)?)?;
        let nics = self.resolve_nics(project, &devices, &rec.config).await?;
        let fresh = Self::new_hwaddrs(&nics, &rec.config);
        apply_changes(&mut rec.config, fresh);
        let gone = Self::removed_nic_keys(&old_devices, &devices, &rec.config);
        let container = self.container_for(&rec, config, &pool)?;
        let state = container.state().await?;
        let running = state.status != InstanceStatus::Stopped;
        if running {
            // Disk devices are hot-plugged first: one that cannot be mounted is not recorded.
            let new = self.disk_mounts(project, &devices)?;
            let old = self.disk_mounts(project, &old_devices).unwrap_or_default();
            let c = container.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                for m in old.iter().filter(|m| !new.contains(m)) {
                    c.hotplug_blocking(m, false)?;
                }
                for m in new.iter().filter(|m| !old.contains(m)) {
                    c.hotplug_blocking(m, true)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| Error::Invalid(format!("hotplug task: {e}")))??;
            if let Some(pid) = state.pid {
                let changes = self
                    .hotplug_nics(&rec, &old_devices, &devices, &container, pid)
                    .await?;
                apply_changes(&mut rec.config, changes);
            }
        }
        apply_changes(&mut rec.config, gone);
        self.store
            .apply(vec![StoreOp::UpdateInstance(rec.clone())])
            .await?;
        self.refresh_leases_of(project, &old_devices).await;
        self.refresh_leases_of(project, &devices).await;
        if running {
            let limits_changed =
                old_cfg
                    .iter()
                    .filter(|(k, _)| k.starts_with("limits."))
                    .ne(expanded
                        .as_map()
                        .iter()
                        .filter(|(k, _)| k.starts_with("limits.")));
            if limits_changed {
                let c = container.clone();
                tokio::task::spawn_blocking(move || c.update_limits_blocking(&expanded))
                    .await
                    .map_err(|e| Error::Invalid(format!("update task: {e}")))??;
            }
        }
        Ok(rec)
    }

    /// The next free snapshot name of LXD's default pattern (`snap0`, `snap1`, ...).
    pub async fn next_snapshot_name(&self, project: &str, name: &str) -> Result<String> {
        let snaps = self.store.snapshots(project, name).await?;
        let rec = self.store.instance(project, name).await?;
        let (config, _) = self.expanded(&rec).await?;
        let pattern = config
            .get("snapshots.pattern")
            .cloned()
            .unwrap_or_else(|| "snap%d".to_string());
        for i in 0.. {
            let candidate = pattern.replace("%d", &i.to_string());
            if !snaps.iter().any(|s| s.name == candidate) {
                return Ok(candidate);
            }
        }
        unreachable!("some index is free")
    }
}
