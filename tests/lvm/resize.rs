//! Sizes of `lvm` volumes: enforced (a write past the size fails), grown with their filesystem
//! (online, ext4 and xfs), shrunk (ext4, unmounted), refused to shrink (xfs); xfs volumes of
//! one image mounted side by side (same filesystem UUID).

use std::time::Duration;

use anyhow::{bail, ensure};
use lxd_core::store::{ConfigMap, VolumeType};
use lxd_core::{CreateInstance, Instance, InstanceSource};

use crate::fixture::{config, fs_size, fstype_at, lv_field, require_device_mapper, Site};
use crate::{block, TestResult};

fn lv_size(site: &Site, lv: &str) -> anyhow::Result<u64> {
    Ok(lv_field(&site.vg, lv, "lv_size")
        .ok_or_else(|| anyhow::anyhow!("no logical volume {lv}"))?
        .parse()?)
}

pub fn ext4_size_enforced_grown_shrunk() -> TestResult {
    require_device_mapper()?;
    let mut site = Site::new("ext4size", config(&[("volume.size", "128MiB")]))?;
    block(async {
        let lxd = site.lxd();
        let mut req = CreateInstance::new("q1", InstanceSource::Image("busybox".into()));
        let mut root = ConfigMap::new();
        root.insert("type".into(), "disk".into());
        root.insert("path".into(), "/".into());
        root.insert("pool".into(), site.pool.clone());
        root.insert("size".into(), "48MiB".into());
        req.devices.insert("root".into(), root);
        lxd.create_instance(req).await?;
        // The thin snapshot of the 128MiB image was shrunk to the instance's size.
        ensure!(lv_size(&site, "containers_q1")? == 48 << 20);
        lxd.start_instance("default", "q1").await?;
        let c = lxd.container("default", "q1").await?;
        let out = c
            .exec_output(&[
                "sh",
                "-c",
                "dd if=/dev/zero of=/big bs=1M count=64 conv=fsync",
            ])
            .await?;
        ensure!(
            out.exit_code != 0,
            "a write past the size succeeded: {out:?}"
        );
        ensure!(
            out.stderr_str().contains("No space left"),
            "{}",
            out.stderr_str()
        );
        site.sh("q1", "rm -f /big").await?;
        let pool = site.pool();
        let path = pool.volume_path(VolumeType::Container, "default", "q1");
        let before = fs_size(&path)?;
        // Grow while running: the filesystem follows online, and the big write fits.
        pool.set_quota(VolumeType::Container, "default", "q1", Some("160MiB"))
            .await?;
        ensure!(lv_size(&site, "containers_q1")? == 160 << 20);
        let after = fs_size(&path)?;
        ensure!(
            after > before + (100 << 20),
            "filesystem not grown: {before} -> {after}"
        );
        site.sh(
            "q1",
            "dd if=/dev/zero of=/big bs=1M count=64 conv=fsync && rm /big",
        )
        .await?;
        // Shrinking needs the volume unmounted.
        let e = pool
            .set_quota(VolumeType::Container, "default", "q1", Some("96MiB"))
            .await
            .expect_err("shrank a mounted volume");
        ensure!(e.to_string().contains("mounted"), "{e}");
        lxd.stop_instance("default", "q1", true, Duration::ZERO)
            .await?;
        pool.set_quota(VolumeType::Container, "default", "q1", Some("96MiB"))
            .await?;
        ensure!(lv_size(&site, "containers_q1")? == 96 << 20);
        let p = pool
            .mount_volume(VolumeType::Container, "default", "q1")
            .await?;
        let shrunk = fs_size(&p)?;
        ensure!(shrunk < after && shrunk > 60 << 20, "{shrunk}");
        ensure!(p.join("rootfs/bin/busybox").is_file());
        pool.unmount_volume(VolumeType::Container, "default", "q1")
            .await?;
        let rec = lxd
            .store()
            .volume(&lxd_core::store::VolumeKey {
                pool: site.pool.clone(),
                project: "default".into(),
                volume_type: VolumeType::Container,
                name: "q1".into(),
            })
            .await?;
        ensure!(rec.config.get("size").map(String::as_str) == Some("96MiB"));
        // Shrinking below what the files need fails and leaves the volume as it was.
        let e = pool
            .set_quota(VolumeType::Container, "default", "q1", Some("1MiB"))
            .await
            .expect_err("shrank below the data");
        ensure!(
            e.to_string().contains("containers_q1") || e.to_string().contains("q1"),
            "{e}"
        );
        ensure!(lv_size(&site, "containers_q1")? == 96 << 20);
        lxd.start_instance("default", "q1").await?;
        ensure!(site.sh("q1", "hostname").await?.trim() == "q1");
        Ok::<(), anyhow::Error>(())
    })?;
    site.teardown()
}

pub fn xfs_volumes() -> TestResult {
    require_device_mapper()?;
    let mut site = Site::new(
        "xfs",
        config(&[
            ("size", "3GiB"),
            ("volume.size", "320MiB"),
            ("volume.block.filesystem", "xfs"),
        ]),
    )?;
    block(async {
        let lxd = site.lxd();
        // Two instances of one xfs image run side by side (their filesystems share a UUID).
        for n in ["x1", "x2"] {
            lxd.create_instance(CreateInstance::new(
                n,
                InstanceSource::Image("busybox".into()),
            ))
            .await?;
            lxd.start_instance("default", n).await?;
            ensure!(site.sh(n, "hostname").await?.trim() == n);
        }
        let pool = site.pool();
        let path = pool.volume_path(VolumeType::Container, "default", "x1");
        ensure!(fstype_at(&path).as_deref() == Some("xfs"));
        let before = fs_size(&path)?;
        pool.set_quota(VolumeType::Container, "default", "x1", Some("512MiB"))
            .await?;
        let after = fs_size(&path)?;
        ensure!(
            after > before + (150 << 20),
            "xfs not grown online: {before} -> {after}"
        );
        let df = site.sh("x1", "df -k / | tail -1").await?;
        // Filesystem, 1K-blocks, Used, Available, Use%, Mounted on (the first may be blank).
        let f: Vec<&str> = df.split_whitespace().collect();
        let pct = f.iter().position(|x| x.ends_with('%')).unwrap_or(0);
        let total: u64 = f.get(pct.wrapping_sub(3)).unwrap_or(&"0").parse()?;
        ensure!(total > 400 << 10, "the instance sees {df}");
        for n in ["x1", "x2"] {
            lxd.stop_instance("default", n, true, Duration::ZERO)
                .await?;
        }
        // xfs cannot shrink: refused, size kept.
        let e = pool
            .set_quota(VolumeType::Container, "default", "x1", Some("320MiB"))
            .await
            .expect_err("xfs shrank");
        ensure!(e.to_string().contains("xfs"), "{e}");
        ensure!(lv_size(&site, "containers_x1")? == 512 << 20);
        // Grow while unmounted: through a private mount.
        let p = pool
            .mount_volume(VolumeType::Container, "default", "x2")
            .await?;
        let before = fs_size(&p)?;
        pool.unmount_volume(VolumeType::Container, "default", "x2")
            .await?;
        pool.set_quota(VolumeType::Container, "default", "x2", Some("400MiB"))
            .await?;
        ensure!(lv_size(&site, "containers_x2")? == 400 << 20);
        let p = pool
            .mount_volume(VolumeType::Container, "default", "x2")
            .await?;
        let after = fs_size(&p)?;
        ensure!(
            after >= before + (70 << 20),
            "xfs not grown: {before} -> {after}"
        );
        pool.unmount_volume(VolumeType::Container, "default", "x2")
            .await?;
        // Snapshot and restore on xfs.
        lxd.start_instance("default", "x2").await?;
        site.sh("x2", "echo one > /root/f").await?;
        lxd.snapshot_instance("default", "x2", "s").await?;
        site.sh("x2", "echo two > /root/f").await?;
        ensure!(site.read_snapshot_file("x2", "s", "rootfs/root/f")?.trim() == "one");
        lxd.restore_instance("default", "x2", "s").await?;
        ensure!(site.sh("x2", "cat /root/f").await?.trim() == "one");

        // A custom volume: ext4 on this xfs pool by its own block.filesystem, and sized.
        let mut c = ConfigMap::new();
        c.insert("block.filesystem".into(), "ext4".into());
        c.insert("size".into(), "64MiB".into());
        pool.create_volume(VolumeType::Custom, "default", "data", c)
            .await?
            .commit(&**lxd.store())
            .await?;
        let p = pool
            .mount_volume(VolumeType::Custom, "default", "data")
            .await?;
        ensure!(fstype_at(&p).as_deref() == Some("ext4"));
        ensure!(
            std::fs::read_dir(&p)?.next().is_none(),
            "a new volume is empty"
        );
        std::fs::write(p.join("x"), "custom")?;
        pool.unmount_volume(VolumeType::Custom, "default", "data")
            .await?;
        let ops = pool
            .delete_volume(VolumeType::Custom, "default", "data")
            .await?;
        lxd.store().apply(ops).await?;
        ensure!(lv_field(&site.vg, "custom_data", "lv_name").is_none());
        // A volume key the driver does not have is refused, naming it.
        let mut bad = ConfigMap::new();
        bad.insert("block.mount_options".into(), "noatime".into());
        match pool
            .create_volume(VolumeType::Custom, "default", "bad", bad)
            .await
        {
            Ok(_) => bail!("block.mount_options on a volume was accepted"),
            Err(e) => ensure!(e.to_string().contains("block.mount_options"), "{e}"),
        }
        Ok::<(), anyhow::Error>(())
    })?;
    site.teardown()
}
