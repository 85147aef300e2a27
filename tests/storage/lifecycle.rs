//! Create from an image, start, snapshot, restore, copy, rename and copy snapshots, copy
//! custom volumes, delete, on every pool kind.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{ensure, Context};
use lxd_core::store::{
    ConfigMap, StoreOp, VolumeKey, VolumeRecord, VolumeSnapshotRecord, VolumeType,
};
use lxd_core::{
    CreateInstance, Instance, InstanceSource, InstanceStatus, PoolInfo, StorageCapabilities,
    StorageDriver, VolumeInfo,
};

use crate::fixture::{Kind, Site};
use crate::{block, TestResult};

async fn sh(site: &Site, name: &str, script: &str) -> anyhow::Result<String> {
    let c = site.lxd().container("default", name).await?;
    let out = c
        .exec_output(&["sh", "-c", script])
        .await
        .with_context(|| format!("{name}: {script}"))?;
    ensure!(out.exit_code == 0, "{script}: {out:?}");
    Ok(out.stdout_str())
}

fn lifecycle(kind: Kind, tag: &str) -> TestResult {
    let site = Site::new(tag, kind);
    block(async {
        let lxd = site.lxd();
        lxd.create_instance(CreateInstance::new(
            "c1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        lxd.create_instance(CreateInstance::new(
            "c2",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        lxd.start_instance("default", "c1").await?;
        // The image's create templates ran at first start: hostname file and hostname.
        ensure!(sh(&site, "c1", "cat /etc/hostname").await?.trim() == "c1");
        ensure!(sh(&site, "c1", "hostname").await?.trim() == "c1");
        ensure!(lxd.instance_state("default", "c1").await?.status == InstanceStatus::Running);

        // Snapshot while running, change, restore: the change is gone.
        sh(&site, "c1", "echo before > /root/file").await?;
        lxd.snapshot_instance("default", "c1", "s1").await?;
        sh(&site, "c1", "echo after > /root/file; touch /root/new").await?;
        lxd.restore_instance("default", "c1", "s1").await?;
        ensure!(lxd.instance_state("default", "c1").await?.status == InstanceStatus::Running);
        ensure!(sh(&site, "c1", "cat /root/file").await?.trim() == "before");
        ensure!(
            sh(&site, "c1", "test -e /root/new || echo gone")
                .await?
                .trim()
                == "gone"
        );

        // A second snapshot, then restore to the older one.
        sh(&site, "c1", "echo two > /root/file").await?;
        lxd.snapshot_instance("default", "c1", "s2").await?;
        lxd.stop_instance("default", "c1", true, Duration::ZERO)
            .await?;
        lxd.restore_instance("default", "c1", "s1").await?;
        let vol = lxd.instance_volume_path("default", "c1").await?;
        ensure!(std::fs::read_to_string(vol.join("rootfs/root/file"))?.trim() == "before");
        let snaps = lxd.store().snapshots("default", "c1").await?;
        ensure!(snaps.iter().map(|s| s.name.as_str()).collect::<Vec<_>>() == ["s1", "s2"]);

        // Copy with snapshots: independent afterwards.
        lxd.copy_instance("default", "c1", "c3", false).await?;
        let c3 = lxd.instance_volume_path("default", "c3").await?;
        ensure!(std::fs::read_to_string(c3.join("rootfs/root/file"))?.trim() == "before");
        std::fs::write(c3.join("rootfs/root/file"), "changed in the copy")?;
        ensure!(std::fs::read_to_string(vol.join("rootfs/root/file"))?.trim() == "before");
        let pool = lxd.pool("pool")?;
        for s in ["s1", "s2"] {
            ensure!(pool
                .snapshot_path(VolumeType::Container, "default", "c3", s)
                .is_dir());
        }
        ensure!(lxd.store().snapshots("default", "c3").await?.len() == 2);
        lxd.start_instance("default", "c3").await?;
        ensure!(sh(&site, "c3", "hostname").await?.trim() == "c3");
        // Snapshot data of the copy is its own.
        let snap_file = pool
            .snapshot_path(VolumeType::Container, "default", "c3", "s2")
            .join("rootfs/root/file");
        ensure!(std::fs::read_to_string(snap_file)?.trim() == "two");

        snapshot_renames_and_copies(&site).await?;

        // Delete with snapshots: files and records go.
        lxd.delete_snapshot("default", "c1", "s2").await?;
        ensure!(!pool
            .snapshot_path(VolumeType::Container, "default", "c1", "s2")
            .exists());
        lxd.delete_instance("default", "c3", true).await?;
        lxd.delete_instance("default", "c1", false).await?;
        lxd.delete_instance("default", "c2", false).await?;
        for n in ["c1", "c2", "c3"] {
            ensure!(
                !pool
                    .volume_path(VolumeType::Container, "default", n)
                    .exists(),
                "{n} volume left"
            );
            ensure!(
                lxd.store().instance("default", n).await.is_err(),
                "{n} record left"
            );
        }
        let vols = lxd.store().volumes("pool").await?;
        ensure!(
            vols.iter().all(|v| v.volume_type == VolumeType::Image),
            "{vols:?}"
        );
        let left: Vec<_> =
            std::fs::read_dir(site.pool_path().join("containers-snapshots"))?.collect();
        ensure!(left.is_empty(), "snapshot dirs left: {left:?}");
        Ok(())
    })
}

fn read(p: PathBuf) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(&p)
        .with_context(|| p.display().to_string())?
        .trim()
        .to_string())
}

/// Renaming instance snapshots (with a refused name and a failed transaction undone), new
/// instances from snapshots (also a failed one undone), the driver trait's default copy from a
/// snapshot, and copies of custom volumes, on the site's pool `pool`. Leaves nothing behind.
async fn snapshot_renames_and_copies(site: &Site) -> TestResult {
    let lxd = site.lxd();
    let pool = lxd.pool("pool")?;
    let ct = VolumeType::Container;
    let snap_file = |inst: &str, snap: &str| {
        pool.snapshot_path(ct, "default", inst, snap)
            .join("rootfs/root/f")
    };
    let vol_file = |inst: &str| pool.volume_path(ct, "default", inst).join("rootfs/root/f");
    let vol_key = |t: VolumeType, name: &str| VolumeKey {
        pool: "pool".into(),
        project: "default".into(),
        volume_type: t,
        name: name.into(),
    };
    let vol_snaps = |name: &'static str| {
        let key = vol_key(ct, name);
        async move {
            let mut v: Vec<String> = lxd
                .store()
                .volume_snapshots(&key)
                .await?
                .into_iter()
                .map(|s| s.name)
                .collect();
            v.sort();
            anyhow::Ok(v)
        }
    };
    let inst_snaps = |name: &'static str| async move {
        let v: Vec<String> = lxd
            .store()
            .snapshots("default", name)
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        anyhow::Ok(v)
    };

    lxd.create_instance(CreateInstance::new(
        "r1",
        InstanceSource::Image("busybox".into()),
    ))
    .await?;
    std::fs::write(vol_file("r1"), "one")?;
    lxd.snapshot_instance("default", "r1", "a").await?;
    std::fs::write(vol_file("r1"), "two")?;
    lxd.snapshot_instance("default", "r1", "b").await?;

    // Rename: files, the instance snapshot record and the volume snapshot record follow.
    lxd.rename_snapshot("default", "r1", "a", "a2").await?;
    ensure!(inst_snaps("r1").await? == ["a2", "b"]);
    ensure!(vol_snaps("r1").await? == ["a2", "b"]);
    ensure!(read(snap_file("r1", "a2"))? == "one");
    ensure!(!pool.snapshot_path(ct, "default", "r1", "a").exists());

    // A taken name, an invalid one, a missing snapshot: refused, nothing changes.
    let e = lxd
        .rename_snapshot("default", "r1", "b", "a2")
        .await
        .expect_err("renamed onto a taken name");
    ensure!(e.to_string().contains("r1/a2"), "{e}");
    for bad in ["x/y", "a+b", "..", ""] {
        let e = lxd
            .rename_snapshot("default", "r1", "b", bad)
            .await
            .expect_err("renamed to an invalid name");
        ensure!(
            e.to_string().contains("Invalid snapshot name"),
            "{bad:?}: {e}"
        );
    }
    ensure!(lxd
        .rename_snapshot("default", "r1", "nosuch", "n")
        .await
        .is_err());
    ensure!(inst_snaps("r1").await? == ["a2", "b"]);
    ensure!(read(snap_file("r1", "a2"))? == "one" && read(snap_file("r1", "b"))? == "two");

    // The transaction refuses (a stray volume snapshot record holds the name): the files are
    // renamed back.
    let stray = VolumeSnapshotRecord {
        pool: "pool".into(),
        project: "default".into(),
        volume_type: ct,
        volume: "r1".into(),
        name: "stray".into(),
        description: String::new(),
        config: ConfigMap::new(),
        expires_at: 0,
    };
    lxd.store()
        .apply(vec![StoreOp::CreateVolumeSnapshot(stray)])
        .await?;
    let r = lxd.rename_snapshot("default", "r1", "a2", "stray").await;
    lxd.store()
        .apply(vec![StoreOp::DeleteVolumeSnapshot {
            key: vol_key(ct, "r1"),
            name: "stray".into(),
        }])
        .await?;
    ensure!(r.is_err(), "rename onto a recorded volume snapshot");
    ensure!(
        read(snap_file("r1", "a2"))? == "one",
        "files not renamed back"
    );
    ensure!(!pool.snapshot_path(ct, "default", "r1", "stray").exists());
    ensure!(inst_snaps("r1").await? == ["a2", "b"]);

    // A new instance from the renamed snapshot: its files, no snapshots, the copy template.
    lxd.copy_snapshot("default", "r1", "a2", "r2").await?;
    ensure!(
        read(vol_file("r2"))? == "one",
        "the copy has the current files"
    );
    ensure!(inst_snaps("r2").await?.is_empty() && vol_snaps("r2").await?.is_empty());
    ensure!(!pool.snapshot_path(ct, "default", "r2", "a2").exists());
    let rec = lxd.store().instance("default", "r2").await?;
    ensure!(
        rec.config
            .get("volatile.apply_template")
            .map(String::as_str)
            == Some("copy"),
        "{:?}",
        rec.config
    );
    lxd.start_instance("default", "r2").await?;
    ensure!(sh(site, "r2", "cat /root/f").await?.trim() == "one");
    ensure!(sh(site, "r2", "hostname").await?.trim() == "r2");
    sh(site, "r2", "echo mine > /root/f").await?;
    ensure!(
        read(snap_file("r1", "a2"))? == "one",
        "the copy writes into the snapshot"
    );
    lxd.delete_instance("default", "r2", true).await?;
    ensure!(read(snap_file("r1", "a2"))? == "one");

    // A copy whose records cannot be written (a stray volume record holds the name) leaves
    // no files; a missing snapshot leaves nothing either.
    let stray = VolumeRecord {
        pool: "pool".into(),
        project: "default".into(),
        volume_type: ct,
        name: "r3".into(),
        description: String::new(),
        content_type: "filesystem".into(),
        config: ConfigMap::new(),
    };
    lxd.store()
        .apply(vec![StoreOp::CreateVolume(stray)])
        .await?;
    let r = lxd.copy_snapshot("default", "r1", "b", "r3").await;
    lxd.store()
        .apply(vec![StoreOp::DeleteVolume(vol_key(ct, "r3"))])
        .await?;
    ensure!(r.is_err(), "copy onto a recorded volume");
    ensure!(
        !pool.volume_path(ct, "default", "r3").exists(),
        "r3 files left"
    );
    ensure!(lxd.store().instance("default", "r3").await.is_err());
    let e = lxd
        .copy_snapshot("default", "r1", "nosuch", "r4")
        .await
        .expect_err("copy of a missing snapshot");
    ensure!(e.to_string().contains("not found"), "{e}");
    ensure!(!pool.volume_path(ct, "default", "r4").exists());

    // The trait's default (what a driver without its own copy from a snapshot does).
    let default_copy = DefaultCopy(pool.driver().clone());
    let (info, src, dst) = (
        pool.info().clone(),
        VolumeInfo::new(ct, "r1"),
        VolumeInfo::new(ct, "r5"),
    );
    tokio::task::spawn_blocking(move || {
        default_copy.create_volume_from_snapshot(&info, &dst, &src, "b")?;
        let f = dst.path(&info).join("rootfs/root/f");
        let content = std::fs::read_to_string(&f);
        let snaps_left = dst.snapshots_dir(&info).exists();
        default_copy.delete_volume(&info, &dst)?;
        ensure!(content? == "two", "default copy content");
        ensure!(!snaps_left, "the default copy kept its snapshot");
        ensure!(!dst.path(&info).exists());
        anyhow::Ok(())
    })
    .await??;

    // Restore from the renamed snapshot.
    lxd.restore_instance("default", "r1", "a2").await?;
    ensure!(read(vol_file("r1"))? == "one");
    lxd.delete_instance("default", "r1", true).await?;
    ensure!(!pool.volume_path(ct, "default", "r1").exists());

    // Custom volumes: a copy has the files and is independent.
    let cv = VolumeType::Custom;
    let r = async {
        pool.create_volume(cv, "default", "v1", ConfigMap::new())
            .await?
            .commit(&**lxd.store())
            .await?;
        let v1 = pool.volume_path(cv, "default", "v1");
        std::fs::create_dir(v1.join("d"))?;
        std::fs::write(v1.join("d/hello"), "data")?;
        pool.copy_volume(cv, "default", "v1", "v2", true)
            .await?
            .commit(&**lxd.store())
            .await?;
        let v2 = pool.volume_path(cv, "default", "v2");
        ensure!(read(v2.join("d/hello"))? == "data");
        std::fs::write(v2.join("d/hello"), "changed")?;
        ensure!(
            read(v1.join("d/hello"))? == "data",
            "the copy is not independent"
        );
        ensure!(lxd.store().volume(&vol_key(cv, "v2")).await.is_ok());
        ensure!(
            pool.copy_volume(cv, "default", "v1", "v2", true)
                .await
                .is_err(),
            "copy onto a taken name"
        );
        ensure!(read(v2.join("d/hello"))? == "changed");
        anyhow::Ok(())
    }
    .await;
    for v in ["v1", "v2"] {
        if lxd.store().volume(&vol_key(cv, v)).await.is_ok() {
            let ops = pool.delete_volume(cv, "default", v).await?;
            lxd.store().apply(ops).await?;
        }
    }
    r
}

/// A driver that takes the trait's default copy from a snapshot and hands everything else to
/// the real driver it wraps.
struct DefaultCopy(Arc<dyn StorageDriver>);

impl StorageDriver for DefaultCopy {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn capabilities(&self) -> StorageCapabilities {
        self.0.capabilities()
    }
    fn validate_pool(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        self.0.validate_pool(config)
    }
    fn create_pool(&self, pool: &PoolInfo) -> lxd_core::Result<ConfigMap> {
        self.0.create_pool(pool)
    }
    fn delete_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        self.0.delete_pool(pool)
    }
    fn mount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        self.0.mount_pool(pool)
    }
    fn unmount_pool(&self, pool: &PoolInfo) -> lxd_core::Result<()> {
        self.0.unmount_pool(pool)
    }
    fn validate_volume(&self, config: &ConfigMap) -> lxd_core::Result<()> {
        self.0.validate_volume(config)
    }
    fn create_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        self.0.create_volume(pool, vol)
    }
    fn seal_image_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        self.0.seal_image_volume(pool, vol)
    }
    fn create_volume_from_image(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        image: &VolumeInfo,
    ) -> lxd_core::Result<()> {
        self.0.create_volume_from_image(pool, vol, image)
    }
    fn create_volume_from_copy(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        src: &VolumeInfo,
        snapshots: &[String],
    ) -> lxd_core::Result<()> {
        self.0.create_volume_from_copy(pool, vol, src, snapshots)
    }
    fn delete_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        self.0.delete_volume(pool, vol)
    }
    fn rename_volume(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        self.0.rename_volume(pool, vol, new_name)
    }
    fn create_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        self.0.create_snapshot(pool, vol, snapshot)
    }
    fn delete_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        self.0.delete_snapshot(pool, vol, snapshot)
    }
    fn rename_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
        new_name: &str,
    ) -> lxd_core::Result<()> {
        self.0.rename_snapshot(pool, vol, snapshot, new_name)
    }
    fn restore_snapshot(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        snapshot: &str,
    ) -> lxd_core::Result<()> {
        self.0.restore_snapshot(pool, vol, snapshot)
    }
    fn set_quota(
        &self,
        pool: &PoolInfo,
        vol: &VolumeInfo,
        size: Option<u64>,
    ) -> lxd_core::Result<()> {
        self.0.set_quota(pool, vol, size)
    }
    fn usage(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<u64> {
        self.0.usage(pool, vol)
    }
    fn mount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<PathBuf> {
        self.0.mount_volume(pool, vol)
    }
    fn unmount_volume(&self, pool: &PoolInfo, vol: &VolumeInfo) -> lxd_core::Result<()> {
        self.0.unmount_volume(pool, vol)
    }
}

pub fn dir_ext4_lifecycle() -> TestResult {
    lifecycle(Kind::DirExt4, "dirext4")
}

pub fn dir_xfs_lifecycle() -> TestResult {
    lifecycle(Kind::DirXfs, "dirxfs")
}

pub fn btrfs_lifecycle() -> TestResult {
    lifecycle(Kind::Btrfs, "btrfs")
}

pub fn state_survives_reopening() -> TestResult {
    let mut site = Site::new("reopen", Kind::Btrfs);
    block(async {
        let lxd = site.lxd();
        let mut req = CreateInstance::new("keep", InstanceSource::Image("busybox".into()));
        req.config.insert("limits.memory".into(), "128MiB".into());
        req.config.insert("user.note".into(), "kept".into());
        lxd.create_instance(req).await?;
        lxd.snapshot_instance("default", "keep", "snap0").await?;
        Ok::<(), anyhow::Error>(())
    })?;
    site.reopen();
    block(async {
        let lxd = site.lxd();
        let rec = lxd.store().instance("default", "keep").await?;
        ensure!(rec.config.get("user.note").map(String::as_str) == Some("kept"));
        ensure!(rec.config.get("limits.memory").map(String::as_str) == Some("128MiB"));
        ensure!(lxd.store().snapshots("default", "keep").await?.len() == 1);
        ensure!(lxd.pool_names() == ["pool"]);
        let img = lxd.resolve_image("default", "busybox").await?;
        ensure!(lxd.image_files(&img.fingerprint).metadata_file().is_file());
        lxd.start_instance("default", "keep").await?;
        ensure!(sh(&site, "keep", "hostname").await?.trim() == "keep");
        let c = lxd.container("default", "keep").await?;
        ensure!(c.state().await?.status == InstanceStatus::Running);
        // The runtime's volatile keys were recorded.
        let rec = lxd.store().instance("default", "keep").await?;
        ensure!(
            rec.config.contains_key("volatile.idmap.current"),
            "{:?}",
            rec.config
        );
        ensure!(!rec.config.contains_key("volatile.apply_template"));
        Ok(())
    })
}

pub fn rename_keeps_snapshots() -> TestResult {
    let site = Site::new("rename", Kind::DirExt4);
    block(async {
        let lxd = site.lxd();
        lxd.create_instance(CreateInstance::new(
            "old",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        lxd.snapshot_instance("default", "old", "s").await?;
        lxd.start_instance("default", "old").await?;
        ensure!(
            lxd.rename_instance("default", "old", "new").await.is_err(),
            "renamed while running"
        );
        lxd.stop_instance("default", "old", true, Duration::ZERO)
            .await?;
        lxd.rename_instance("default", "old", "new").await?;
        ensure!(lxd.store().instance("default", "old").await.is_err());
        ensure!(lxd.store().snapshots("default", "new").await?.len() == 1);
        let pool = lxd.pool("pool")?;
        ensure!(pool
            .snapshot_path(VolumeType::Container, "default", "new", "s")
            .is_dir());
        ensure!(!pool
            .volume_path(VolumeType::Container, "default", "old")
            .exists());
        lxd.start_instance("default", "new").await?;
        ensure!(sh(&site, "new", "hostname").await?.trim() == "new");
        let names: Vec<String> = lxd
            .store()
            .volumes("pool")
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect();
        ensure!(
            names.contains(&"new".to_string()) && !names.contains(&"old".to_string()),
            "{names:?}"
        );
        Ok(())
    })
    .context("rename")
}
