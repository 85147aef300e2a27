//! A thin-pool `lvm` pool on a loop file, driven through `Lxd`: image volume, instances as
//! thin snapshots of it, snapshots, restore (also to an older snapshot), copies, rename,
//! delete, and the reference-counted mounts of block-backed volumes.

use std::time::Duration;

use anyhow::{ensure, Context};
use lxd_core::store::VolumeType;
use lxd_core::{CreateInstance, InstanceSource};

use crate::fixture::{config, lv_field, lv_names, require_device_mapper, running, Site};
use crate::{block, TestResult};

pub fn thin_lifecycle() -> TestResult {
    require_device_mapper()?;
    let mut site = Site::new("thin", config(&[("volume.size", "256MiB")]))?;
    let vg = site.vg.clone();
    block(async {
        let lxd = site.lxd();
        // The pool: the volume group on the loop file, tagged, with LXD's thin pool.
        let rec = lxd.store().pool(&site.pool).await?;
        ensure!(
            rec.config.get("source").map(String::as_str)
                == Some(
                    site.dir
                        .join(format!("disks/{}.img", site.pool))
                        .to_str()
                        .unwrap()
                ),
            "{:?}",
            rec.config
        );
        ensure!(rec.config.get("lvm.vg_name") == Some(&vg));
        ensure!(rec.config.get("lvm.thinpool_name").map(String::as_str) == Some("LXDThinPool"));
        let tags = crate::fixture::cmd("lvm", &["vgs", "--noheadings", "-o", "vg_tags", &vg])?;
        ensure!(tags.trim() == "lxd_pool", "{tags}");
        ensure!(lv_field(&vg, "LXDThinPool", "lv_attr")
            .unwrap_or_default()
            .starts_with('t'));

        // Two instances of the image: both thin snapshots of the image volume.
        let fp = lxd.resolve_image("default", "busybox").await?.fingerprint;
        for n in ["a1", "a2"] {
            lxd.create_instance(CreateInstance::new(
                n,
                InstanceSource::Image("busybox".into()),
            ))
            .await?;
        }
        let image_lv = format!("images_{fp}");
        ensure!(
            lv_field(&vg, &image_lv, "lv_attr")
                .unwrap_or_default()
                .starts_with("Vr"),
            "the image volume is a read-only thin volume"
        );
        for n in ["a1", "a2"] {
            let o = lv_field(&vg, &site.container_lv(n), "origin");
            ensure!(o.as_deref() == Some(image_lv.as_str()), "{n}: origin {o:?}");
            ensure!(
                lv_field(&vg, &site.container_lv(n), "pool_lv").as_deref() == Some("LXDThinPool")
            );
        }
        // Not mounted until needed.
        let pool = site.pool();
        let a1_path = pool.volume_path(VolumeType::Container, "default", "a1");
        ensure!(
            crate::fixture::fstype_at(&a1_path).is_none(),
            "mounted before start"
        );

        // Start: mounted once (counted); the image's templates ran.
        lxd.start_instance("default", "a1").await?;
        ensure!(site.sh("a1", "cat /etc/hostname").await?.trim() == "a1");
        ensure!(crate::fixture::fstype_at(&a1_path).as_deref() == Some("ext4"));
        ensure!(pool.mount_count(VolumeType::Container, "default", "a1") == 1);
        // A second user of the mount keeps it past the instance's stop.
        pool.mount_volume(VolumeType::Container, "default", "a1")
            .await?;
        ensure!(pool.mount_count(VolumeType::Container, "default", "a1") == 2);

        // Snapshot while running, change, restore: the change is gone.
        site.sh("a1", "echo before > /root/file").await?;
        lxd.snapshot_instance("default", "a1", "s1").await?;
        let s1 = format!("{}-s1", site.container_lv("a1"));
        ensure!(lv_field(&vg, &s1, "origin").as_deref() == Some(site.container_lv("a1").as_str()));
        ensure!(lv_field(&vg, &s1, "lv_attr")
            .unwrap_or_default()
            .starts_with("Vr"));
        site.sh("a1", "echo after > /root/file; touch /root/new")
            .await?;
        pool.unmount_volume(VolumeType::Container, "default", "a1")
            .await?;
        ensure!(pool.mount_count(VolumeType::Container, "default", "a1") == 1);
        ensure!(
            crate::fixture::fstype_at(&a1_path).is_some(),
            "the running instance lost its mount"
        );
        lxd.restore_instance("default", "a1", "s1").await?;
        ensure!(running(&site, "a1").await?);
        ensure!(site.sh("a1", "cat /root/file").await?.trim() == "before");
        ensure!(
            site.sh("a1", "test -e /root/new || echo gone")
                .await?
                .trim()
                == "gone"
        );

        // A second snapshot, then restore to the older one while stopped.
        site.sh("a1", "echo two > /root/file").await?;
        lxd.snapshot_instance("default", "a1", "s2").await?;
        lxd.stop_instance("default", "a1", true, Duration::ZERO)
            .await?;
        ensure!(pool.mount_count(VolumeType::Container, "default", "a1") == 0);
        ensure!(
            crate::fixture::fstype_at(&a1_path).is_none(),
            "still mounted after stop"
        );
        ensure!(
            site.read_snapshot_file("a1", "s2", "rootfs/root/file")?
                .trim()
                == "two"
        );
        lxd.restore_instance("default", "a1", "s1").await?;
        ensure!(site.read_file("a1", "rootfs/root/file").await?.trim() == "before");
        // The restored volume is a thin snapshot of s1 under the volume's name.
        ensure!(lv_field(&vg, &site.container_lv("a1"), "origin").as_deref() == Some(s1.as_str()));
        ensure!(
            !lv_names(&vg).iter().any(|l| l.contains(".lxd")),
            "{:?}",
            lv_names(&vg)
        );

        // Copy with snapshots: thin snapshots of the source and of its snapshots.
        lxd.copy_instance("default", "a1", "a3", false).await?;
        ensure!(
            lv_field(&vg, &site.container_lv("a3"), "origin").as_deref()
                == Some(site.container_lv("a1").as_str())
        );
        for s in ["s1", "s2"] {
            let o = lv_field(&vg, &format!("{}-{s}", site.container_lv("a3")), "origin");
            ensure!(
                o == Some(format!("{}-{s}", site.container_lv("a1"))),
                "{s}: {o:?}"
            );
            ensure!(pool
                .snapshot_path(VolumeType::Container, "default", "a3", s)
                .is_dir());
        }
        ensure!(
            site.read_snapshot_file("a3", "s2", "rootfs/root/file")?
                .trim()
                == "two"
        );
        // Independent afterwards.
        lxd.start_instance("default", "a3").await?;
        ensure!(site.sh("a3", "hostname").await?.trim() == "a3");
        site.sh("a3", "echo changed > /root/file").await?;
        ensure!(site.read_file("a1", "rootfs/root/file").await?.trim() == "before");
        lxd.stop_instance("default", "a3", true, Duration::ZERO)
            .await?;

        // Copy from a snapshot: a writable thin snapshot of the snapshot's volume, with the
        // snapshot's files (a1 itself holds "before" now) and no snapshots of its own.
        lxd.copy_snapshot("default", "a1", "s2", "a7").await?;
        ensure!(
            lv_field(&vg, &site.container_lv("a7"), "origin")
                == Some(format!("{}-s2", site.container_lv("a1")))
        );
        ensure!(lxd.store().snapshots("default", "a7").await?.is_empty());
        ensure!(site.read_file("a7", "rootfs/root/file").await?.trim() == "two");
        lxd.start_instance("default", "a7").await?;
        ensure!(
            site.sh("a7", "hostname; cat /root/file")
                .await?
                .split_whitespace()
                .collect::<Vec<_>>()
                == ["a7", "two"]
        );
        lxd.delete_instance("default", "a7", true).await?;
        ensure!(lv_field(&vg, &site.container_lv("a7"), "lv_name").is_none());

        // Copy without snapshots, then rename it (stopped).
        lxd.copy_instance("default", "a3", "a-4", true).await?;
        ensure!(lxd.store().snapshots("default", "a-4").await?.is_empty());
        ensure!(
            lv_field(&vg, "containers_a--4", "origin").as_deref()
                == Some(site.container_lv("a3").as_str())
        );
        lxd.rename_instance("default", "a-4", "a5").await?;
        ensure!(lv_field(&vg, "containers_a--4", "lv_name").is_none());
        ensure!(lv_field(&vg, "containers_a5", "lv_name").is_some());
        ensure!(!pool
            .volume_path(VolumeType::Container, "default", "a-4")
            .exists());
        ensure!(site.read_file("a5", "rootfs/root/file").await?.trim() == "changed");
        // Rename of an instance with snapshots moves them along.
        lxd.rename_instance("default", "a3", "a6").await?;
        ensure!(
            lv_field(&vg, "containers_a6-s1", "lv_name").is_some(),
            "{:?}",
            lv_names(&vg)
        );
        ensure!(pool
            .snapshot_path(VolumeType::Container, "default", "a6", "s2")
            .is_dir());
        ensure!(
            site.read_snapshot_file("a6", "s1", "rootfs/root/file")?
                .trim()
                == "before"
        );

        // Delete a snapshot: the logical volume and its mount point go.
        lxd.delete_snapshot("default", "a1", "s2").await?;
        ensure!(lv_field(&vg, &format!("{}-s2", site.container_lv("a1")), "lv_name").is_none());
        ensure!(!pool
            .snapshot_path(VolumeType::Container, "default", "a1", "s2")
            .exists());

        // Delete the image while instances were made from it: it goes, they keep working.
        lxd.delete_image("default", &fp).await?;
        ensure!(lv_field(&vg, &image_lv, "lv_name").is_none());
        ensure!(!pool.volume_path(VolumeType::Image, "default", &fp).exists());
        lxd.start_instance("default", "a2").await?;
        ensure!(site.sh("a2", "hostname").await?.trim() == "a2");
        let used = pool.usage(VolumeType::Container, "default", "a2").await?;
        ensure!((100_000..200 << 20).contains(&used), "usage {used}");
        lxd.stop_instance("default", "a2", true, Duration::ZERO)
            .await?;
        // Usage of an unmounted volume is read through a private mount that goes away.
        let used2 = pool.usage(VolumeType::Container, "default", "a2").await?;
        ensure!(used2 > 100_000, "usage {used2}");
        ensure!(crate::fixture::mounts_under(&site.dir).is_empty());

        // The image's blocks, shared by its clones, are freed with the last of them.
        let data = || -> anyhow::Result<f64> {
            Ok(lv_field(&vg, "LXDThinPool", "data_percent")
                .unwrap_or_default()
                .parse()?)
        };
        let before = data()?;
        for n in ["a1", "a2", "a5", "a6"] {
            lxd.delete_instance("default", n, false).await?;
        }
        let after = data()?;
        ensure!(after < before / 2.0, "thin pool data {before}% -> {after}%");
        Ok::<(), anyhow::Error>(())
    })?;
    // Deleting everything leaves no logical volume, mount, loop device or file.
    site.teardown().context("teardown")?;
    ensure!(!crate::fixture::vg_exists(&vg), "volume group {vg} left");
    Ok(())
}

pub fn state_survives_reopening() -> TestResult {
    require_device_mapper()?;
    let mut site = Site::new("reopen", config(&[("volume.size", "128MiB")]))?;
    block(async {
        let lxd = site.lxd();
        lxd.create_instance(CreateInstance::new(
            "keep",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        lxd.snapshot_instance("default", "keep", "snap0").await?;
        Ok::<(), anyhow::Error>(())
    })?;
    // A restore cut short after the volume was renamed away and before the restored one
    // took its place: reopening the pool finishes it.
    let vg = site.vg.clone();
    crate::fixture::cmd(
        "lvm",
        &[
            "lvcreate",
            "--yes",
            "-s",
            "-kn",
            "-prw",
            "-n",
            "containers_keep.lxdrestore",
            &format!("{vg}/containers_keep-snap0"),
        ],
    )?;
    crate::fixture::cmd(
        "lvm",
        &["lvrename", &vg, "containers_keep", "containers_keep.lxdold"],
    )?;
    // Release the pool as a daemon shutdown does: the volume group is deactivated and the
    // loop device let go; reopening attaches and activates them again.
    block(site.pool().unmount_pool())?;
    ensure!(
        crate::fixture::loops_under(&site.dir).is_empty(),
        "loop device kept"
    );
    site.reopen();
    block(async {
        let lxd = site.lxd();
        ensure!(lxd.pool_names() == [site.pool.clone()]);
        ensure!(
            lv_field(&vg, "containers_keep", "origin").as_deref() == Some("containers_keep-snap0"),
            "{:?}",
            lv_names(&vg)
        );
        ensure!(
            !lv_names(&vg).iter().any(|l| l.contains(".lxd")),
            "{:?}",
            lv_names(&vg)
        );
        lxd.start_instance("default", "keep").await?;
        ensure!(site.sh("keep", "hostname").await?.trim() == "keep");
        lxd.restore_instance("default", "keep", "snap0").await?;
        ensure!(site.sh("keep", "hostname").await?.trim() == "keep");
        Ok::<(), anyhow::Error>(())
    })?;
    site.teardown()
}
