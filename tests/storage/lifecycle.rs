//! Create from an image, start, snapshot, restore, copy, delete, on every pool kind.

use std::time::Duration;

use anyhow::{ensure, Context};
use lxd_core::store::VolumeType;
use lxd_core::{CreateInstance, Instance, InstanceSource, InstanceStatus};

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
