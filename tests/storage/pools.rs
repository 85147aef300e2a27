//! Driver specifics: optimized images, quotas, failures that must leave nothing behind.

use std::time::Duration;

use anyhow::{bail, ensure, Context};
use lxd_core::image::{busybox, ImageFiles, RootfsFormat};
use lxd_core::store::{ConfigMap, VolumeType};
use lxd_core::{CreateInstance, Instance, InstanceSource};

use crate::fixture::{run, Kind, Site};
use crate::{block, TestResult};

fn subvolume_field(path: &std::path::Path, field: &str) -> String {
    run("btrfs", &["subvolume", "show", path.to_str().unwrap()])
        .lines()
        .find_map(|l| l.trim().strip_prefix(field).map(|v| v.trim().to_string()))
        .unwrap_or_default()
}

pub fn btrfs_instances_are_snapshots_of_the_image() -> TestResult {
    let site = Site::new("optimized", Kind::Btrfs);
    block(async {
        let lxd = site.lxd();
        let fp = lxd.resolve_image("default", "busybox").await?.fingerprint;
        for n in ["a1", "a2"] {
            lxd.create_instance(CreateInstance::new(
                n,
                InstanceSource::Image("busybox".into()),
            ))
            .await?;
        }
        let pool = lxd.pool("pool")?;
        let image = pool.volume_path(VolumeType::Image, "default", &fp);
        let uuid = subvolume_field(&image, "UUID:");
        ensure!(!uuid.is_empty());
        ensure!(subvolume_field(&image, "Flags:").contains("readonly"));
        for n in ["a1", "a2"] {
            let v = pool.volume_path(VolumeType::Container, "default", n);
            ensure!(
                subvolume_field(&v, "Parent UUID:") == uuid,
                "{n} is not a snapshot of the image"
            );
        }
        ensure!(lxd
            .store()
            .volume(&lxd_core::store::VolumeKey {
                pool: "pool".into(),
                project: "default".into(),
                volume_type: VolumeType::Image,
                name: fp.clone(),
            })
            .await
            .is_ok());
        // Deleting the image removes its volume; the instances stay usable.
        lxd.delete_image("default", &fp).await?;
        ensure!(!image.exists());
        lxd.start_instance("default", "a2").await?;
        let out = lxd
            .container("default", "a2")
            .await?
            .exec_output(&["hostname"])
            .await?;
        ensure!(out.stdout_str().trim() == "a2");
        Ok(())
    })
}

pub fn dir_keeps_the_unpacked_image() -> TestResult {
    let site = Site::new("dirimage", Kind::DirExt4);
    block(async {
        let lxd = site.lxd();
        let fp = lxd.resolve_image("default", "busybox").await?.fingerprint;
        lxd.create_instance(CreateInstance::new(
            "d1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        let pool = lxd.pool("pool")?;
        let image = pool.volume_path(VolumeType::Image, "default", &fp);
        ensure!(
            image.join("rootfs/bin/busybox").is_file(),
            "image volume not kept"
        );
        // Mark the kept tree: a re-unpack from the tarball would not have the marker.
        std::fs::write(image.join("rootfs/marker"), "from the kept volume")?;
        lxd.create_instance(CreateInstance::new(
            "d2",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        let d2 = pool.volume_path(VolumeType::Container, "default", "d2");
        ensure!(std::fs::read_to_string(d2.join("rootfs/marker"))? == "from the kept volume");
        // The copy is a copy: different inodes, independent content.
        use std::os::unix::fs::MetadataExt;
        let a = std::fs::metadata(image.join("rootfs/bin/busybox"))?.ino();
        let b = std::fs::metadata(d2.join("rootfs/bin/busybox"))?.ino();
        ensure!(a != b);
        Ok(())
    })
}

pub fn btrfs_quota_enforced_and_space_freed() -> TestResult {
    let site = Site::new("quota", Kind::Btrfs);
    block(async {
        let lxd = site.lxd();
        let mut req = CreateInstance::new("q1", InstanceSource::Image("busybox".into()));
        let mut root = ConfigMap::new();
        root.insert("type".into(), "disk".into());
        root.insert("path".into(), "/".into());
        root.insert("pool".into(), "pool".into());
        root.insert("size".into(), "30MiB".into());
        req.devices.insert("root".into(), root);
        lxd.create_instance(req).await?;
        lxd.start_instance("default", "q1").await?;
        let c = lxd.container("default", "q1").await?;
        let out = c
            .exec_output(&[
                "sh",
                "-c",
                "dd if=/dev/zero of=/big bs=1M count=60 conv=fsync",
            ])
            .await?;
        ensure!(
            out.exit_code != 0,
            "a write past the quota succeeded: {out:?}"
        );
        ensure!(out.stderr_str().contains("quota"), "{}", out.stderr_str());
        let ok = c
            .exec_output(&[
                "sh",
                "-c",
                "rm -f /big; dd if=/dev/zero of=/small bs=1M count=5 conv=fsync",
            ])
            .await?;
        ensure!(ok.exit_code == 0, "{ok:?}");
        let used = lxd
            .pool("pool")?
            .usage(VolumeType::Container, "default", "q1")
            .await?;
        ensure!((5 << 20..30 << 20).contains(&used), "usage {used}");
        // Raise the limit and the big write fits.
        lxd.pool("pool")?
            .set_quota(VolumeType::Container, "default", "q1", Some("100MiB"))
            .await?;
        let big = c
            .exec_output(&[
                "sh",
                "-c",
                "dd if=/dev/zero of=/big bs=1M count=60 conv=fsync",
            ])
            .await?;
        ensure!(big.exit_code == 0, "{big:?}");
        lxd.stop_instance("default", "q1", true, Duration::ZERO)
            .await?;
        // Delete frees the space.
        let mnt = site.pool_path();
        let free = |p: &std::path::Path| {
            nix::sys::statvfs::statvfs(p).map(|s| s.blocks_available() * s.fragment_size())
        };
        run("sync", &[]);
        let before = free(&mnt)?;
        lxd.delete_instance("default", "q1", false).await?;
        let mut after = before;
        for _ in 0..100 {
            run("btrfs", &["filesystem", "sync", mnt.to_str().unwrap()]);
            after = free(&mnt)?;
            if after >= before + (50 << 20) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(
            after >= before + (50 << 20),
            "space not freed: {before} -> {after}"
        );
        Ok(())
    })
}

pub fn dir_quota_refused_and_nothing_left() -> TestResult {
    let site = Site::new("dirquota", Kind::DirExt4);
    block(async {
        let lxd = site.lxd();
        let mut req = CreateInstance::new("big", InstanceSource::Image("busybox".into()));
        let mut root = ConfigMap::new();
        root.insert("type".into(), "disk".into());
        root.insert("path".into(), "/".into());
        root.insert("pool".into(), "pool".into());
        root.insert("size".into(), "10MiB".into());
        req.devices.insert("root".into(), root);
        let err = match lxd.create_instance(req).await {
            Ok(_) => bail!("a size on an ext4 dir pool without project quotas was accepted"),
            Err(e) => format!("{e:#}"),
        };
        ensure!(
            err.contains("project quotas") && err.contains("ext4"),
            "{err}"
        );
        // The failure came after the volume was made: it was undone, and nothing recorded.
        ensure!(lxd.store().instance("default", "big").await.is_err());
        let pool = lxd.pool("pool")?;
        ensure!(!pool
            .volume_path(VolumeType::Container, "default", "big")
            .exists());
        let vols = lxd.store().volumes("pool").await?;
        ensure!(
            vols.iter().all(|v| v.volume_type == VolumeType::Image),
            "{vols:?}"
        );
        Ok(())
    })
}

/// A unified tarball whose rootfs holds a hard link to a host file.
fn malicious_image(path: &std::path::Path) -> anyhow::Result<()> {
    let f = std::fs::File::create(path)?;
    let mut b = tar::Builder::new(f);
    let meta = b"architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: evil\n";
    let mut h = tar::Header::new_gnu();
    h.set_size(meta.len() as u64);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    b.append_data(&mut h, "metadata.yaml", &meta[..])?;
    let mut d = tar::Header::new_gnu();
    d.set_entry_type(tar::EntryType::Directory);
    d.set_mode(0o755);
    d.set_size(0);
    d.set_uid(0);
    d.set_gid(0);
    d.set_mtime(1_700_000_000);
    d.set_cksum();
    b.append_data(&mut d, "rootfs/", &[][..])?;
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Link);
    l.set_size(0);
    l.set_mode(0o644);
    l.set_uid(0);
    l.set_gid(0);
    l.set_mtime(1_700_000_000);
    b.append_link(&mut l, "rootfs/shadow", "/etc/shadow")?;
    b.finish()?;
    Ok(())
}

pub fn malicious_image_leaves_nothing() -> TestResult {
    let site = Site::new("evil", Kind::Btrfs);
    block(async {
        let lxd = site.lxd();
        let upload = site.dir.join("evil.tar");
        malicious_image(&upload)?;
        let img = lxd
            .import_image(
                "default",
                ImageFiles::Unified(upload),
                "evil.tar",
                false,
                ConfigMap::new(),
                vec!["evil".into()],
            )
            .await?;
        let err = lxd
            .create_instance(CreateInstance::new(
                "e1",
                InstanceSource::Image("evil".into()),
            ))
            .await
            .expect_err("unpacking a hard link to /etc/shadow must fail");
        ensure!(format!("{err}").contains("shadow"), "{err}");
        ensure!(lxd.store().instance("default", "e1").await.is_err());
        let pool = lxd.pool("pool")?;
        ensure!(!pool
            .volume_path(VolumeType::Image, "default", &img.record.fingerprint)
            .exists());
        ensure!(!pool
            .volume_path(VolumeType::Container, "default", "e1")
            .exists());
        ensure!(lxd
            .store()
            .volumes("pool")
            .await?
            .iter()
            .all(|v| v.name != img.record.fingerprint));
        Ok(())
    })
}

pub fn failure_mid_copy_leaves_nothing() -> TestResult {
    for kind in [Kind::DirExt4, Kind::Btrfs] {
        let site = Site::new("midcopy", kind);
        block(async {
            let lxd = site.lxd();
            lxd.create_instance(CreateInstance::new(
                "src",
                InstanceSource::Image("busybox".into()),
            ))
            .await?;
            lxd.snapshot_instance("default", "src", "s1").await?;
            lxd.snapshot_instance("default", "src", "s2").await?;
            // Break the second snapshot's files behind the store's back: the copy fails after
            // the first snapshot was copied.
            let pool = lxd.pool("pool")?;
            let s2 = pool.snapshot_path(VolumeType::Container, "default", "src", "s2");
            match kind {
                Kind::Btrfs => {
                    run(
                        "btrfs",
                        &["property", "set", s2.to_str().unwrap(), "ro", "false"],
                    );
                    run("btrfs", &["subvolume", "delete", s2.to_str().unwrap()]);
                }
                _ => std::fs::remove_dir_all(&s2)?,
            }
            let err = lxd.copy_instance("default", "src", "dst", false).await;
            ensure!(err.is_err(), "copy with a missing snapshot succeeded");
            ensure!(
                lxd.store().instance("default", "dst").await.is_err(),
                "record left"
            );
            ensure!(lxd
                .store()
                .snapshots("default", "dst")
                .await
                .map_or(true, |s| s.is_empty()));
            ensure!(
                !pool
                    .volume_path(VolumeType::Container, "default", "dst")
                    .exists(),
                "volume left"
            );
            ensure!(
                !pool
                    .snapshot_path(VolumeType::Container, "default", "dst", "s1")
                    .exists()
                    && !site.pool_path().join("containers-snapshots/dst").exists(),
                "snapshot left"
            );
            let vols = lxd.store().volumes("pool").await?;
            ensure!(vols.iter().all(|v| v.name != "dst"), "{vols:?}");
            Ok::<(), anyhow::Error>(())
        })
        .with_context(|| format!("{kind:?}"))?;
    }
    Ok(())
}

pub fn split_squashfs_image_launches() -> TestResult {
    let site = Site::new("split", Kind::DirXfs);
    block(async {
        let lxd = site.lxd();
        let meta = site.dir.join("meta.tar.xz");
        let rootfs = site.dir.join("rootfs.squashfs");
        let built = busybox::build_split_image(&meta, &rootfs, RootfsFormat::Squashfs)?;
        let img = lxd
            .import_image(
                "default",
                ImageFiles::Split {
                    metadata: meta,
                    rootfs,
                },
                "split",
                false,
                ConfigMap::new(),
                vec!["split".into()],
            )
            .await?;
        ensure!(img.record.fingerprint == built.fingerprint);
        ensure!(img.record.properties.get("os").map(String::as_str) == Some("busybox"));
        lxd.create_instance(CreateInstance::new(
            "sq",
            InstanceSource::Image("split".into()),
        ))
        .await?;
        lxd.start_instance("default", "sq").await?;
        let out = lxd
            .container("default", "sq")
            .await?
            .exec_output(&["cat", "/etc/hostname"])
            .await?;
        ensure!(out.stdout_str().trim() == "sq");
        Ok(())
    })
}

pub fn btrfs_nested_subvolumes() -> TestResult {
    let site = Site::new("nested", Kind::Btrfs);
    block(async {
        let lxd = site.lxd();
        lxd.create_instance(CreateInstance::new(
            "n1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        let pool = lxd.pool("pool")?;
        let vol = pool.volume_path(VolumeType::Container, "default", "n1");
        let sub = vol.join("rootfs/var/lib/inner");
        std::fs::create_dir_all(sub.parent().unwrap())?;
        lxd_storage::btrfs::ioctl::create_subvolume(sub.parent().unwrap(), "inner")?;
        std::fs::write(sub.join("data"), "nested data")?;
        lxd.snapshot_instance("default", "n1", "s").await?;
        let snap = pool.snapshot_path(VolumeType::Container, "default", "n1", "s");
        ensure!(std::fs::read_to_string(snap.join("rootfs/var/lib/inner/data"))? == "nested data");
        std::fs::write(sub.join("data"), "changed")?;
        lxd.restore_instance("default", "n1", "s").await?;
        ensure!(std::fs::read_to_string(vol.join("rootfs/var/lib/inner/data"))? == "nested data");
        lxd.copy_instance("default", "n1", "n2", false).await?;
        let n2 = pool.volume_path(VolumeType::Container, "default", "n2");
        ensure!(std::fs::read_to_string(n2.join("rootfs/var/lib/inner/data"))? == "nested data");
        lxd.delete_instance("default", "n2", false).await?;
        lxd.delete_instance("default", "n1", false).await?;
        ensure!(!vol.exists() && !n2.exists() && !snap.exists());
        Ok(())
    })
}

pub fn pool_errors() -> TestResult {
    let site = Site::new("poolerr", Kind::DirExt4);
    block(async {
        let lxd = site.lxd();
        let mut bad = ConfigMap::new();
        bad.insert("nonsense".into(), "1".into());
        let e = lxd
            .create_pool("p2", "dir", "", bad)
            .await
            .unwrap_err()
            .to_string();
        ensure!(e.contains("nonsense"), "{e}");
        let e = lxd
            .create_pool("p3", "nodriver", "", ConfigMap::new())
            .await
            .unwrap_err()
            .to_string();
        ensure!(e.contains("nodriver"), "{e}");
        let e = lxd
            .create_pool("pool", "dir", "", ConfigMap::new())
            .await
            .unwrap_err()
            .to_string();
        ensure!(e.contains("already exists"), "{e}");
        let mut size = ConfigMap::new();
        size.insert("size".into(), "lots".into());
        let e = lxd
            .create_pool("p4", "btrfs", "", size)
            .await
            .unwrap_err()
            .to_string();
        ensure!(e.contains("lots"), "{e}");
        ensure!(lxd.pool_names() == ["pool"]);
        ensure!(!site.dir.join("disks/p4.img").exists());
        // A pool in use cannot go.
        lxd.create_instance(CreateInstance::new(
            "u1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        ensure!(lxd.delete_pool("pool").await.is_err());
        let c = lxd.container("default", "u1").await?;
        ensure!(c.state().await?.status == lxd_core::InstanceStatus::Stopped);
        Ok(())
    })
}
