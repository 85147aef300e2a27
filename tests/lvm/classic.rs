//! An `lvm` pool without a thin pool (`lvm.use_thinpool=false`): classic logical volumes,
//! classic copy-on-write snapshots, full copies, restore by copying files back.

use std::time::Duration;

use anyhow::ensure;
use lxd_core::store::VolumeType;
use lxd_core::{CreateInstance, InstanceSource};

use crate::fixture::{config, lv_field, lv_names, require_device_mapper, Site};
use crate::{block, TestResult};

pub fn classic_lifecycle() -> TestResult {
    require_device_mapper()?;
    let mut site = Site::new(
        "classic",
        config(&[("lvm.use_thinpool", "false"), ("volume.size", "64MiB")]),
    )?;
    let vg = site.vg.clone();
    block(async {
        let lxd = site.lxd();
        ensure!(
            !lv_names(&vg).iter().any(|l| l == "LXDThinPool"),
            "a thin pool was made"
        );
        lxd.create_instance(CreateInstance::new(
            "c1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        let lv = site.container_lv("c1");
        // A classic volume holding a full copy: no origin, no thin pool.
        ensure!(lv_field(&vg, &lv, "origin").as_deref() == Some(""));
        ensure!(lv_field(&vg, &lv, "pool_lv").as_deref() == Some(""));
        ensure!(lv_field(&vg, &lv, "lv_attr")
            .unwrap_or_default()
            .starts_with("-w"));
        lxd.start_instance("default", "c1").await?;
        ensure!(site.sh("c1", "hostname").await?.trim() == "c1");
        site.sh("c1", "echo one > /root/f").await?;
        // Classic snapshot of the running volume.
        lxd.snapshot_instance("default", "c1", "s1").await?;
        let s1 = format!("{lv}-s1");
        ensure!(lv_field(&vg, &s1, "origin").as_deref() == Some(lv.as_str()));
        ensure!(lv_field(&vg, &s1, "lv_attr")
            .unwrap_or_default()
            .starts_with("sr"));
        site.sh("c1", "echo two > /root/f; touch /root/new").await?;
        lxd.snapshot_instance("default", "c1", "s2").await?;
        site.sh("c1", "echo three > /root/f").await?;
        // Restore (the instance is stopped and started again): the files come back.
        lxd.restore_instance("default", "c1", "s1").await?;
        ensure!(site.sh("c1", "cat /root/f").await?.trim() == "one");
        ensure!(
            site.sh("c1", "test -e /root/new || echo gone")
                .await?
                .trim()
                == "gone"
        );
        lxd.stop_instance("default", "c1", true, Duration::ZERO)
            .await?;
        ensure!(site.read_snapshot_file("c1", "s2", "rootfs/root/f")?.trim() == "two");

        // A full copy with its snapshots: each its own classic volume and snapshot.
        lxd.copy_instance("default", "c1", "c2", false).await?;
        let c2 = site.container_lv("c2");
        ensure!(lv_field(&vg, &c2, "origin").as_deref() == Some(""));
        for s in ["s1", "s2"] {
            ensure!(
                lv_field(&vg, &format!("{c2}-{s}"), "origin").as_deref() == Some(c2.as_str()),
                "{s}"
            );
        }
        ensure!(site.read_snapshot_file("c2", "s1", "rootfs/root/f")?.trim() == "one");
        ensure!(site.read_snapshot_file("c2", "s2", "rootfs/root/f")?.trim() == "two");
        ensure!(site.read_file("c2", "rootfs/root/f").await?.trim() == "one");
        lxd.start_instance("default", "c2").await?;
        ensure!(site.sh("c2", "hostname").await?.trim() == "c2");
        site.sh("c2", "echo mine > /root/f").await?;
        ensure!(site.read_file("c1", "rootfs/root/f").await?.trim() == "one");
        lxd.stop_instance("default", "c2", true, Duration::ZERO)
            .await?;

        // Copy from a snapshot: a classic volume of its own filled with the snapshot's files.
        lxd.copy_snapshot("default", "c1", "s2", "c3").await?;
        let c3 = site.container_lv("c3");
        ensure!(lv_field(&vg, &c3, "origin").as_deref() == Some(""));
        ensure!(lv_field(&vg, &c3, "lv_attr")
            .unwrap_or_default()
            .starts_with("-w"));
        ensure!(lxd.store().snapshots("default", "c3").await?.is_empty());
        ensure!(site.read_file("c3", "rootfs/root/f").await?.trim() == "two");
        ensure!(site.read_file("c3", "rootfs/root/new").await?.is_empty());
        lxd.delete_instance("default", "c3", false).await?;
        ensure!(lv_field(&vg, &c3, "lv_name").is_none());

        // Grow a classic volume with its filesystem; rename with snapshots; delete.
        let pool = site.pool();
        pool.set_quota(VolumeType::Container, "default", "c2", Some("100MiB"))
            .await?;
        ensure!(lv_field(&vg, &c2, "lv_size").as_deref() == Some(&(100u64 << 20).to_string()[..]));
        lxd.rename_instance("default", "c2", "c3").await?;
        ensure!(lv_field(&vg, "containers_c3-s2", "origin").as_deref() == Some("containers_c3"));
        ensure!(site.read_file("c3", "rootfs/root/f").await?.trim() == "mine");
        lxd.delete_snapshot("default", "c1", "s1").await?;
        ensure!(lv_field(&vg, &s1, "lv_name").is_none());
        lxd.delete_instance("default", "c3", false).await?;
        lxd.delete_instance("default", "c1", false).await?;
        let left: Vec<String> = lv_names(&vg)
            .into_iter()
            .filter(|l| l.starts_with("containers_"))
            .collect();
        ensure!(left.is_empty(), "{left:?}");
        Ok::<(), anyhow::Error>(())
    })?;
    site.teardown()
}
