//! The pool layer: a storage pool with its driver, the records of its volumes, reference-counted
//! mounts, and rollback of failed multi-step work.
//!
//! Methods that are steps of a larger change (creating an instance, copying one) return a
//! [`Staged`] change: the driver work is done, the records to write are returned as
//! [`StoreOp`]s for the caller to apply in the same transaction as its own records, and the
//! revert guard undoes the driver work unless the caller declares success.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::revert::Revert;
use crate::storage::{PoolInfo, StorageDriver, VolumeInfo};
use crate::store::{
    ClusterStore, ConfigMap, StoragePoolRecord, StoreOp, VolumeKey, VolumeRecord,
    VolumeSnapshotRecord, VolumeType,
};

/// Driver work that is done, with the records that describe it and how to undo it.
#[must_use = "apply the ops, then call revert.success()"]
pub struct Staged {
    /// Records to write in the caller's transaction.
    pub ops: Vec<StoreOp>,
    /// Undoes the driver work unless `success()` is called.
    pub revert: Revert,
}

impl Staged {
    fn new() -> Self {
        Staged {
            ops: Vec::new(),
            revert: Revert::new(),
        }
    }

    /// Applies the ops in one transaction, then keeps the work.
    pub async fn commit(self, store: &dyn ClusterStore) -> Result<()> {
        store.apply(self.ops).await?;
        self.revert.success();
        Ok(())
    }
}

/// The on-disk name of a volume: LXD prefixes names in projects other than `default`.
pub fn disk_name(project: &str, name: &str) -> String {
    if project == "default" {
        name.to_string()
    } else {
        format!("{project}_{name}")
    }
}

/// A storage pool in use.
pub struct Pool {
    info: PoolInfo,
    driver: Arc<dyn StorageDriver>,
    store: Arc<dyn ClusterStore>,
    description: String,
    mounts: Mutex<HashMap<(VolumeType, String), u32>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.info.name)
            .field("driver", &self.driver.name())
            .field("mount_path", &self.info.mount_path)
            .finish()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Invalid(format!("storage task failed: {e}")))?
}

fn valid_volume_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 255
        || name.contains('/')
        || name.contains("..")
        || name.starts_with('.')
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::Invalid(format!("Invalid volume name {name:?}")));
    }
    Ok(())
}

impl Pool {
    /// Creates a pool: validates its configuration, has the driver create it, and records it.
    pub async fn create(
        store: Arc<dyn ClusterStore>,
        driver: Arc<dyn StorageDriver>,
        name: &str,
        description: &str,
        config: ConfigMap,
        lxd_dir: &std::path::Path,
    ) -> Result<Pool> {
        valid_volume_name(name)
            .map_err(|_| Error::Invalid(format!("Invalid pool name {name:?}")))?;
        {
            let d = driver.clone();
            blocking(move || d.check_available()).await?;
        }
        driver.validate_pool(&config)?;
        if store.pool(name).await.is_ok() {
            return Err(crate::store::StoreError::AlreadyExists {
                kind: "Storage pool",
                name: name.to_string(),
            }
            .into());
        }
        let mut info = PoolInfo::new(name, config, lxd_dir);
        let (d, i) = (driver.clone(), info.clone());
        let config = blocking(move || d.create_pool(&i)).await?;
        info.config = config.clone();
        let mut revert = Revert::new();
        {
            let (d, i) = (driver.clone(), info.clone());
            revert.add(move || {
                let _ = d.delete_pool(&i);
            });
        }
        store
            .apply(vec![StoreOp::CreatePool(StoragePoolRecord {
                name: name.to_string(),
                driver: driver.name().to_string(),
                description: description.to_string(),
                config,
                status: "CREATED".into(),
            })])
            .await?;
        revert.success();
        Ok(Pool {
            info,
            driver,
            store,
            description: description.to_string(),
            mounts: Mutex::new(HashMap::new()),
        })
    }

    /// Opens a recorded pool and mounts it.
    pub async fn open(
        store: Arc<dyn ClusterStore>,
        driver: Arc<dyn StorageDriver>,
        record: &StoragePoolRecord,
        lxd_dir: &std::path::Path,
    ) -> Result<Pool> {
        let info = PoolInfo::new(&record.name, record.config.clone(), lxd_dir);
        let (d, i) = (driver.clone(), info.clone());
        blocking(move || d.mount_pool(&i)).await?;
        Ok(Pool {
            info,
            driver,
            store,
            description: record.description.clone(),
            mounts: Mutex::new(HashMap::new()),
        })
    }

    /// Deletes an empty pool and its record.
    pub async fn delete(&self) -> Result<()> {
        let vols = self.store.volumes(&self.info.name).await?;
        if !vols.is_empty() {
            return Err(Error::InUse(format!(
                "The storage pool {:?} is currently in use ({} volumes)",
                self.info.name,
                vols.len()
            )));
        }
        let (d, i) = (self.driver.clone(), self.info.clone());
        blocking(move || d.delete_pool(&i)).await?;
        self.store
            .apply(vec![StoreOp::DeletePool {
                name: self.info.name.clone(),
            }])
            .await?;
        Ok(())
    }

    /// Releases the pool's mount (daemon shutdown).
    pub async fn unmount_pool(&self) -> Result<()> {
        let (d, i) = (self.driver.clone(), self.info.clone());
        blocking(move || d.unmount_pool(&i)).await
    }

    /// The pool as drivers see it.
    pub fn info(&self) -> &PoolInfo {
        &self.info
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The pool's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The driver.
    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    fn vol(&self, t: VolumeType, project: &str, name: &str, config: ConfigMap) -> VolumeInfo {
        VolumeInfo {
            volume_type: t,
            name: if t == VolumeType::Image {
                name.to_string()
            } else {
                disk_name(project, name)
            },
            config,
        }
    }

    fn key(&self, t: VolumeType, project: &str, name: &str) -> VolumeKey {
        VolumeKey {
            pool: self.info.name.clone(),
            project: project.to_string(),
            volume_type: t,
            name: name.to_string(),
        }
    }

    fn record(&self, t: VolumeType, project: &str, name: &str, config: ConfigMap) -> VolumeRecord {
        VolumeRecord {
            pool: self.info.name.clone(),
            project: project.to_string(),
            volume_type: t,
            name: name.to_string(),
            description: String::new(),
            content_type: "filesystem".into(),
            config,
        }
    }

    /// Where a volume's files are (mounting it first is the caller's business).
    pub fn volume_path(&self, t: VolumeType, project: &str, name: &str) -> PathBuf {
        self.vol(t, project, name, ConfigMap::new())
            .path(&self.info)
    }

    /// Where a volume snapshot's files are.
    pub fn snapshot_path(&self, t: VolumeType, project: &str, name: &str, snap: &str) -> PathBuf {
        self.vol(t, project, name, ConfigMap::new())
            .snapshot_path(&self.info, snap)
    }

    fn undo_delete(&self, vol: &VolumeInfo) -> impl FnOnce() + Send + 'static {
        let (d, i, v) = (self.driver.clone(), self.info.clone(), vol.clone());
        move || {
            let _ = d.delete_volume(&i, &v);
        }
    }

    /// Creates an empty volume (custom, or an instance's root without an image).
    pub async fn create_volume(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        config: ConfigMap,
    ) -> Result<Staged> {
        valid_volume_name(name)?;
        self.driver.validate_volume(&config)?;
        let vol = self.vol(t, project, name, config.clone());
        let (d, i, v) = (self.driver.clone(), self.info.clone(), vol.clone());
        let mut staged = Staged::new();
        blocking(move || d.create_volume(&i, &v)).await?;
        staged.revert.add(self.undo_delete(&vol));
        self.apply_size_async(&vol).await?;
        staged
            .ops
            .push(StoreOp::CreateVolume(self.record(t, project, name, config)));
        Ok(staged)
    }

    async fn apply_size_async(&self, vol: &VolumeInfo) -> Result<()> {
        if !vol.config.contains_key("size") {
            return Ok(());
        }
        let me = (self.driver.clone(), self.info.clone(), vol.clone());
        blocking(move || {
            let (d, i, v) = me;
            let pool = PoolRef {
                driver: &*d,
                info: &i,
            };
            pool.apply_size(&v)
        })
        .await
    }

    /// Makes sure the image `fingerprint` is unpacked into an image volume on this pool
    /// (drivers with optimized images), with `fill` writing its files into the volume
    /// directory. Records it; does nothing if it exists.
    pub async fn ensure_image_volume(
        &self,
        fingerprint: &str,
        fill: impl FnOnce(&std::path::Path) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let key = self.key(VolumeType::Image, "default", fingerprint);
        if self.store.volume(&key).await.is_ok() {
            return Ok(());
        }
        let vol = self.vol(VolumeType::Image, "default", fingerprint, ConfigMap::new());
        let mut revert = Revert::new();
        let (d, i, v) = (self.driver.clone(), self.info.clone(), vol.clone());
        blocking(move || {
            d.create_volume(&i, &v)?;
            let path = v.path(&i);
            if let Err(e) = fill(&path).and_then(|_| d.seal_image_volume(&i, &v)) {
                let _ = d.delete_volume(&i, &v);
                return Err(e);
            }
            Ok(())
        })
        .await?;
        revert.add(self.undo_delete(&vol));
        self.store
            .apply(vec![StoreOp::CreateVolume(self.record(
                VolumeType::Image,
                "default",
                fingerprint,
                ConfigMap::new(),
            ))])
            .await?;
        revert.success();
        Ok(())
    }

    /// Deletes the image volume of `fingerprint`, if this pool has one.
    pub async fn delete_image_volume(&self, fingerprint: &str) -> Result<()> {
        let key = self.key(VolumeType::Image, "default", fingerprint);
        if self.store.volume(&key).await.is_err() {
            return Ok(());
        }
        let vol = self.vol(VolumeType::Image, "default", fingerprint, ConfigMap::new());
        let (d, i) = (self.driver.clone(), self.info.clone());
        blocking(move || d.delete_volume(&i, &vol)).await?;
        self.store.apply(vec![StoreOp::DeleteVolume(key)]).await?;
        Ok(())
    }

    /// Creates an instance's root volume from the image volume of `fingerprint` (which must
    /// exist, see [`Pool::ensure_image_volume`]).
    pub async fn create_volume_from_image(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        fingerprint: &str,
        config: ConfigMap,
    ) -> Result<Staged> {
        valid_volume_name(name)?;
        self.driver.validate_volume(&config)?;
        let vol = self.vol(t, project, name, config.clone());
        let image = self.vol(VolumeType::Image, "default", fingerprint, ConfigMap::new());
        let (d, i, v) = (self.driver.clone(), self.info.clone(), vol.clone());
        blocking(move || d.create_volume_from_image(&i, &v, &image)).await?;
        let mut staged = Staged::new();
        staged.revert.add(self.undo_delete(&vol));
        self.apply_size_async(&vol).await?;
        staged
            .ops
            .push(StoreOp::CreateVolume(self.record(t, project, name, config)));
        Ok(staged)
    }

    /// Copies a volume (and, when asked, its snapshots) to a new volume on the same pool.
    pub async fn copy_volume(
        &self,
        t: VolumeType,
        project: &str,
        src: &str,
        dst: &str,
        with_snapshots: bool,
    ) -> Result<Staged> {
        valid_volume_name(dst)?;
        let src_key = self.key(t, project, src);
        let src_rec = self.store.volume(&src_key).await?;
        let snaps: Vec<VolumeSnapshotRecord> = if with_snapshots {
            self.store.volume_snapshots(&src_key).await?
        } else {
            Vec::new()
        };
        let names: Vec<String> = snaps.iter().map(|s| s.name.clone()).collect();
        let src_vol = self.vol(t, project, src, src_rec.config.clone());
        let dst_vol = self.vol(t, project, dst, src_rec.config.clone());
        let (d, i, v) = (self.driver.clone(), self.info.clone(), dst_vol.clone());
        let undo_snaps = names.clone();
        blocking(move || d.create_volume_from_copy(&i, &v, &src_vol, &names)).await?;
        let mut staged = Staged::new();
        {
            let (d, i, v) = (self.driver.clone(), self.info.clone(), dst_vol.clone());
            staged.revert.add(move || {
                for s in undo_snaps.iter().rev() {
                    let _ = d.delete_snapshot(&i, &v, s);
                }
                let _ = d.delete_volume(&i, &v);
            });
        }
        let mut rec = src_rec.clone();
        rec.name = dst.to_string();
        staged.ops.push(StoreOp::CreateVolume(rec));
        for s in snaps {
            staged
                .ops
                .push(StoreOp::CreateVolumeSnapshot(VolumeSnapshotRecord {
                    volume: dst.to_string(),
                    ..s
                }));
        }
        Ok(staged)
    }

    /// The record of a volume snapshot, or `Snapshot "NAME/SNAP" not found`.
    async fn snapshot_record(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        snap: &str,
    ) -> Result<VolumeSnapshotRecord> {
        self.store
            .volume_snapshots(&self.key(t, project, name))
            .await?
            .into_iter()
            .find(|s| s.name == snap)
            .ok_or_else(|| {
                crate::store::StoreError::NotFound {
                    kind: "Snapshot",
                    name: format!("{name}/{snap}"),
                }
                .into()
            })
    }

    /// Creates the volume `dst` as a copy of the snapshot `snap` of `src` (same type and
    /// project, on this pool), with no snapshots of its own and the configuration `config`
    /// (its `size` is applied).
    pub async fn create_volume_from_snapshot(
        &self,
        t: VolumeType,
        project: &str,
        src: &str,
        snap: &str,
        dst: &str,
        config: ConfigMap,
    ) -> Result<Staged> {
        valid_volume_name(dst)?;
        self.driver.validate_volume(&config)?;
        let src_rec = self.store.volume(&self.key(t, project, src)).await?;
        self.snapshot_record(t, project, src, snap).await?;
        let src_vol = self.vol(t, project, src, src_rec.config.clone());
        let dst_vol = self.vol(t, project, dst, config.clone());
        let (d, i, v, s) = (
            self.driver.clone(),
            self.info.clone(),
            dst_vol.clone(),
            snap.to_string(),
        );
        blocking(move || d.create_volume_from_snapshot(&i, &v, &src_vol, &s)).await?;
        let mut staged = Staged::new();
        staged.revert.add(self.undo_delete(&dst_vol));
        self.apply_size_async(&dst_vol).await?;
        staged.ops.push(StoreOp::CreateVolume(VolumeRecord {
            description: src_rec.description,
            content_type: src_rec.content_type,
            ..self.record(t, project, dst, config)
        }));
        Ok(staged)
    }

    /// Renames a volume snapshot: its files, and its record (in the returned ops). The
    /// transaction refuses a name that is taken, and the revert guard renames the files back.
    pub async fn rename_snapshot(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        snap: &str,
        new_name: &str,
    ) -> Result<Staged> {
        valid_volume_name(new_name).map_err(|_| {
            Error::Invalid(format!(
                "Invalid snapshot name {new_name:?}: not usable as a file name"
            ))
        })?;
        let vol_rec = self.store.volume(&self.key(t, project, name)).await?;
        let rec = self.snapshot_record(t, project, name, snap).await?;
        let vol = self.vol(t, project, name, vol_rec.config);
        let (d, i, v, from, to) = (
            self.driver.clone(),
            self.info.clone(),
            vol.clone(),
            snap.to_string(),
            new_name.to_string(),
        );
        blocking(move || d.rename_snapshot(&i, &v, &from, &to)).await?;
        let mut staged = Staged::new();
        {
            let (d, i, from, to) = (
                self.driver.clone(),
                self.info.clone(),
                snap.to_string(),
                new_name.to_string(),
            );
            staged.revert.add(move || {
                if let Err(e) = d.rename_snapshot(&i, &vol, &to, &from) {
                    tracing::error!(volume = vol.name, snapshot = to, "renaming back: {e}");
                }
            });
        }
        // The store has no rename of a volume snapshot: the record is replaced, in one
        // transaction, keeping its description, configuration and expiry.
        staged.ops.push(StoreOp::DeleteVolumeSnapshot {
            key: self.key(t, project, name),
            name: snap.to_string(),
        });
        staged
            .ops
            .push(StoreOp::CreateVolumeSnapshot(VolumeSnapshotRecord {
                name: new_name.to_string(),
                ..rec
            }));
        Ok(staged)
    }

    /// Takes a snapshot of a volume.
    pub async fn snapshot_volume(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        snap: &str,
    ) -> Result<Staged> {
        valid_volume_name(snap)?;
        let rec = self.store.volume(&self.key(t, project, name)).await?;
        let vol = self.vol(t, project, name, rec.config.clone());
        let (d, i, v, s) = (
            self.driver.clone(),
            self.info.clone(),
            vol.clone(),
            snap.to_string(),
        );
        blocking(move || d.create_snapshot(&i, &v, &s)).await?;
        let mut staged = Staged::new();
        {
            let (d, i, v, s) = (
                self.driver.clone(),
                self.info.clone(),
                vol,
                snap.to_string(),
            );
            staged.revert.add(move || {
                let _ = d.delete_snapshot(&i, &v, &s);
            });
        }
        staged
            .ops
            .push(StoreOp::CreateVolumeSnapshot(VolumeSnapshotRecord {
                pool: self.info.name.clone(),
                project: project.to_string(),
                volume_type: t,
                volume: name.to_string(),
                name: snap.to_string(),
                description: String::new(),
                config: rec.config,
                expires_at: 0,
            }));
        Ok(staged)
    }

    /// Deletes a volume snapshot (files first, then the record).
    pub async fn delete_snapshot(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        snap: &str,
    ) -> Result<Vec<StoreOp>> {
        let vol = self.vol(t, project, name, ConfigMap::new());
        let (d, i, s) = (self.driver.clone(), self.info.clone(), snap.to_string());
        blocking(move || d.delete_snapshot(&i, &vol, &s)).await?;
        Ok(vec![StoreOp::DeleteVolumeSnapshot {
            key: self.key(t, project, name),
            name: snap.to_string(),
        }])
    }

    /// The snapshots (oldest first) that restoring `snap` would destroy, which the caller
    /// deletes first (see [`StorageDriver::snapshots_removed_by_restore`]); an error when the
    /// volume's configuration forbids it.
    pub async fn snapshots_removed_by_restore(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        snap: &str,
    ) -> Result<Vec<String>> {
        let rec = self.store.volume(&self.key(t, project, name)).await?;
        let vol = self.vol(t, project, name, rec.config);
        let (d, i, s) = (self.driver.clone(), self.info.clone(), snap.to_string());
        blocking(move || d.snapshots_removed_by_restore(&i, &vol, &s)).await
    }

    /// Puts a volume back to a snapshot's content (the volume must not be in use).
    pub async fn restore_snapshot(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        snap: &str,
    ) -> Result<()> {
        let key = self.key(t, project, name);
        let snaps = self.store.volume_snapshots(&key).await?;
        if !snaps.iter().any(|s| s.name == snap) {
            return Err(crate::store::StoreError::NotFound {
                kind: "Snapshot",
                name: format!("{name}/{snap}"),
            }
            .into());
        }
        let vol = self.vol(t, project, name, ConfigMap::new());
        let (d, i, s) = (self.driver.clone(), self.info.clone(), snap.to_string());
        blocking(move || d.restore_snapshot(&i, &vol, &s)).await
    }

    /// Renames a volume and its snapshots; returns the record change.
    pub async fn rename_volume(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        new_name: &str,
    ) -> Result<Staged> {
        valid_volume_name(new_name)?;
        let vol = self.vol(t, project, name, ConfigMap::new());
        let new_disk = disk_name(project, new_name);
        let (d, i, v, n) = (
            self.driver.clone(),
            self.info.clone(),
            vol.clone(),
            new_disk.clone(),
        );
        blocking(move || d.rename_volume(&i, &v, &n)).await?;
        let mut staged = Staged::new();
        {
            let (d, i) = (self.driver.clone(), self.info.clone());
            let renamed = VolumeInfo {
                name: new_disk,
                ..vol.clone()
            };
            let old = vol.name.clone();
            staged.revert.add(move || {
                let _ = d.rename_volume(&i, &renamed, &old);
            });
        }
        staged.ops.push(StoreOp::RenameVolume {
            key: self.key(t, project, name),
            new_name: new_name.to_string(),
        });
        Ok(staged)
    }

    /// Deletes a volume with its snapshots; returns the record change (already applied to
    /// disk: the files are gone).
    pub async fn delete_volume(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
    ) -> Result<Vec<StoreOp>> {
        let key = self.key(t, project, name);
        let snaps = self.store.volume_snapshots(&key).await.unwrap_or_default();
        let vol = self.vol(t, project, name, ConfigMap::new());
        let (d, i) = (self.driver.clone(), self.info.clone());
        let names: Vec<String> = snaps.iter().map(|s| s.name.clone()).collect();
        blocking(move || {
            for s in names.iter().rev() {
                d.delete_snapshot(&i, &vol, s)?;
            }
            d.delete_volume(&i, &vol)
        })
        .await?;
        Ok(vec![StoreOp::DeleteVolume(key)])
    }

    /// Sets or removes a volume's size limit and records it.
    pub async fn set_quota(
        &self,
        t: VolumeType,
        project: &str,
        name: &str,
        size: Option<&str>,
    ) -> Result<()> {
        let key = self.key(t, project, name);
        let mut rec = self.store.volume(&key).await?;
        let bytes = size
            .map(|s| {
                crate::config::units::parse_size(s)
                    .map_err(|e| Error::Invalid(format!("Invalid size {s:?}: {e}")))
            })
            .transpose()?;
        let vol = self.vol(t, project, name, rec.config.clone());
        let (d, i) = (self.driver.clone(), self.info.clone());
        blocking(move || d.set_quota(&i, &vol, bytes)).await?;
        match size {
            Some(s) => rec.config.insert("size".into(), s.to_string()),
            None => rec.config.remove("size"),
        };
        self.store.apply(vec![StoreOp::UpdateVolume(rec)]).await?;
        Ok(())
    }

    /// Bytes used by a volume.
    pub async fn usage(&self, t: VolumeType, project: &str, name: &str) -> Result<u64> {
        let vol = self.vol(t, project, name, ConfigMap::new());
        let (d, i) = (self.driver.clone(), self.info.clone());
        blocking(move || d.usage(&i, &vol)).await
    }

    /// Mounts a volume (counted) and returns its directory.
    pub async fn mount_volume(&self, t: VolumeType, project: &str, name: &str) -> Result<PathBuf> {
        let vol = self.vol(t, project, name, ConfigMap::new());
        let key = (t, vol.name.clone());
        let first = {
            let mut m = self.mounts.lock().expect("mounts lock");
            let n = m.entry(key.clone()).or_insert(0);
            *n += 1;
            *n == 1
        };
        if !first {
            return Ok(vol.path(&self.info));
        }
        let (d, i) = (self.driver.clone(), self.info.clone());
        match blocking(move || d.mount_volume(&i, &vol)).await {
            Ok(p) => Ok(p),
            Err(e) => {
                self.mounts.lock().expect("mounts lock").remove(&key);
                Err(e)
            }
        }
    }

    /// Releases one mount of a volume; the last one unmounts it.
    pub async fn unmount_volume(&self, t: VolumeType, project: &str, name: &str) -> Result<()> {
        let vol = self.vol(t, project, name, ConfigMap::new());
        let key = (t, vol.name.clone());
        let last = {
            let mut m = self.mounts.lock().expect("mounts lock");
            match m.get_mut(&key) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    m.remove(&key);
                    true
                }
                None => false,
            }
        };
        if last {
            let (d, i) = (self.driver.clone(), self.info.clone());
            blocking(move || d.unmount_volume(&i, &vol)).await?;
        }
        Ok(())
    }

    /// How many mounts of a volume are held.
    pub fn mount_count(&self, t: VolumeType, project: &str, name: &str) -> u32 {
        let vol = self.vol(t, project, name, ConfigMap::new());
        *self
            .mounts
            .lock()
            .expect("mounts lock")
            .get(&(t, vol.name))
            .unwrap_or(&0)
    }
}

/// Borrowed driver and pool, for synchronous helpers.
struct PoolRef<'a> {
    driver: &'a dyn StorageDriver,
    info: &'a PoolInfo,
}

impl PoolRef<'_> {
    fn apply_size(&self, vol: &VolumeInfo) -> Result<()> {
        if let Some(size) = vol.config.get("size") {
            let bytes = crate::config::units::parse_size(size)
                .map_err(|e| Error::Invalid(format!("Invalid size {size:?}: {e}")))?;
            self.driver.set_quota(self.info, vol, Some(bytes))?;
        }
        Ok(())
    }
}
