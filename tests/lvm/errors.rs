//! Bad input and failures: each refused with an error naming the key, value or object, and
//! leaving nothing behind (no record, logical volume, loop device, file or mount).

use anyhow::{bail, ensure};
use lxd_core::store::{ConfigMap, VolumeType};
use lxd_core::{CreateInstance, InstanceSource};

use crate::fixture::{cmd, config, loops_under, lv_names, require_device_mapper, unique, Site};
use crate::{block, TestResult};

pub fn bad_input_leaves_nothing() -> TestResult {
    require_device_mapper()?;
    let site = Site::new("bad", config(&[("volume.size", "64MiB")]))?;
    block(async {
        let lxd = site.lxd();
        let disks = site.dir.join("disks");
        let plain_file = site.dir.join("plain-file");
        std::fs::write(&plain_file, "not a disk")?;
        let plain_file = plain_file.display().to_string();
        let loops_before = loops_under(&site.dir);
        let cases: Vec<(ConfigMap, &str)> = vec![
            (config(&[("nonsense", "1")]), "nonsense"),
            (config(&[("size", "lots")]), "lots"),
            (
                config(&[("lvm.use_thinpool", "perhaps")]),
                "lvm.use_thinpool",
            ),
            (
                config(&[("lvm.use_thinpool", "false"), ("lvm.thinpool_name", "tp")]),
                "lvm.thinpool_name",
            ),
            (config(&[("lvm.vg_name", "no/slash")]), "no/slash"),
            (config(&[("volume.block.filesystem", "ntfs")]), "ntfs"),
            (config(&[("source", &plain_file)]), "not a block device"),
            (
                config(&[("source", "novg_here_at_all")]),
                "novg_here_at_all",
            ),
            // The volume group name is taken (by the site's pool).
            (config(&[("lvm.vg_name", &site.vg)]), "already exists"),
        ];
        for (i, (c, needle)) in cases.into_iter().enumerate() {
            let name = format!("bad{i}");
            let e = match lxd.create_pool(&name, "lvm", "", c.clone()).await {
                Ok(_) => bail!("pool {c:?} was accepted"),
                Err(e) => format!("{e:#}"),
            };
            ensure!(e.contains(needle), "{c:?}: {e}");
            ensure!(
                !disks.join(format!("{name}.img")).exists(),
                "{c:?}: loop file left"
            );
            ensure!(
                !site.dir.join("storage-pools").join(&name).exists(),
                "{c:?}: pool directory left"
            );
            ensure!(lxd.store().pool(&name).await.is_err(), "{c:?}: recorded");
        }
        ensure!(loops_under(&site.dir) == loops_before, "loop device left");
        ensure!(lxd.pool_names() == std::slice::from_ref(&site.pool));

        // Names LVM cannot hold, and a snapshot name that would read as part of the volume's.
        let pool = site.pool();
        match pool
            .create_volume(VolumeType::Custom, "default", "bad@name", ConfigMap::new())
            .await
        {
            Ok(_) => bail!("custom volume bad@name accepted"),
            Err(e) => ensure!(e.to_string().contains("bad@name"), "{e}"),
        }
        lxd.create_instance(CreateInstance::new(
            "v1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        match lxd.snapshot_instance("default", "v1", "-s").await {
            Ok(_) => bail!("snapshot -s accepted"),
            Err(e) => ensure!(e.to_string().contains("-s"), "{e}"),
        }
        ensure!(lxd.store().snapshots("default", "v1").await?.is_empty());
        // A size the thin pool cannot back is still a thin volume (over-provisioning), but a
        // size LVM refuses outright names the volume.
        let mut huge = ConfigMap::new();
        huge.insert("size".into(), "1EiB".into());
        match pool
            .create_volume(VolumeType::Custom, "default", "huge", huge)
            .await
        {
            Ok(_) => bail!("a 1EiB volume was made"),
            Err(e) => ensure!(e.to_string().contains("custom_huge"), "{e}"),
        }
        ensure!(!lv_names(&site.vg).iter().any(|l| l.contains("huge")));
        ensure!(!pool
            .volume_path(VolumeType::Custom, "default", "huge")
            .exists());

        // An image that fails to unpack: its volume (mounted while it is filled) goes away.
        let upload = site.dir.join("evil.tar");
        evil_image(&upload)?;
        let img = lxd
            .import_image(
                "default",
                lxd_core::image::ImageFiles::Unified(upload),
                "evil.tar",
                false,
                ConfigMap::new(),
                vec!["evil".into()],
            )
            .await?;
        match lxd
            .create_instance(CreateInstance::new(
                "e1",
                InstanceSource::Image("evil".into()),
            ))
            .await
        {
            Ok(_) => bail!("an image with a hard link out of its rootfs was unpacked"),
            Err(e) => ensure!(e.to_string().contains("shadow"), "{e}"),
        }
        let fp = &img.record.fingerprint;
        ensure!(
            !lv_names(&site.vg).iter().any(|l| l.contains(fp.as_str())),
            "{:?}",
            lv_names(&site.vg)
        );
        ensure!(!pool.volume_path(VolumeType::Image, "default", fp).exists());
        ensure!(lxd.store().instance("default", "e1").await.is_err());
        ensure!(crate::fixture::mounts_under(&site.dir).is_empty());
        Ok::<(), anyhow::Error>(())
    })
}

/// A unified image whose rootfs holds a hard link to a host file.
fn evil_image(path: &std::path::Path) -> anyhow::Result<()> {
    let mut b = tar::Builder::new(std::fs::File::create(path)?);
    let header = |kind: tar::EntryType, size: u64, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h
    };
    let meta = b"architecture: x86_64\ncreation_date: 1700000000\nproperties:\n  os: evil\n";
    let mut h = header(tar::EntryType::Regular, meta.len() as u64, 0o644);
    h.set_cksum();
    b.append_data(&mut h, "metadata.yaml", &meta[..])?;
    let mut d = header(tar::EntryType::Directory, 0, 0o755);
    d.set_cksum();
    b.append_data(&mut d, "rootfs/", &[][..])?;
    let mut l = header(tar::EntryType::Link, 0, 0o644);
    b.append_link(&mut l, "rootfs/shadow", "/etc/shadow")?;
    b.finish()?;
    Ok(())
}

pub fn failure_mid_copy_leaves_nothing() -> TestResult {
    require_device_mapper()?;
    for thin in [true, false] {
        let mut c = config(&[("volume.size", "64MiB")]);
        if !thin {
            c.insert("lvm.use_thinpool".into(), "false".into());
        }
        let site = Site::new("midcopy", c)?;
        block(async {
            let lxd = site.lxd();
            lxd.create_instance(CreateInstance::new(
                "src",
                InstanceSource::Image("busybox".into()),
            ))
            .await?;
            lxd.snapshot_instance("default", "src", "s1").await?;
            lxd.snapshot_instance("default", "src", "s2").await?;
            // Remove the second snapshot behind the store's back: the copy fails after the
            // first snapshot was copied.
            cmd(
                "lvm",
                &["lvremove", "-y", &format!("{}/containers_src-s2", site.vg)],
            )?;
            ensure!(lxd
                .copy_instance("default", "src", "dst", false)
                .await
                .is_err());
            ensure!(
                lxd.store().instance("default", "dst").await.is_err(),
                "record left"
            );
            let left: Vec<String> = lv_names(&site.vg)
                .into_iter()
                .filter(|l| l.contains("dst"))
                .collect();
            ensure!(left.is_empty(), "logical volumes left: {left:?}");
            let pool = site.pool();
            ensure!(!pool
                .volume_path(VolumeType::Container, "default", "dst")
                .exists());
            ensure!(!site.pool_path().join("containers-snapshots/dst").exists());
            ensure!(crate::fixture::mounts_under(&site.dir).is_empty());
            Ok::<(), anyhow::Error>(())
        })
        .map_err(|e| e.context(if thin { "thin" } else { "classic" }))?;
    }
    Ok(())
}

pub fn refused_without_device_mapper() -> TestResult {
    // Host side: where the kernel has no device-mapper, a pool is refused at once, clearly,
    // leaving nothing; where it has one, the check says so.
    let has_dm = std::fs::read_to_string("/proc/misc")?
        .lines()
        .any(|l| l.ends_with(" device-mapper"));
    if has_dm {
        ensure!(lxd_storage::lvm::device_mapper_available().is_ok());
        return Ok(());
    }
    let name = unique("nodm");
    let dir = std::path::PathBuf::from(format!("/tmp/lxd-lvm-{name}"));
    std::fs::create_dir_all(&dir)?;
    let r = block(async {
        let lxd = crate::fixture::open_plain(&dir).await?;
        let t = std::time::Instant::now();
        let e = match lxd
            .create_pool(&name, "lvm", "", config(&[("size", "1GiB")]))
            .await
        {
            Ok(_) => bail!("an lvm pool was made without device-mapper"),
            Err(e) => e.to_string(),
        };
        ensure!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "took {:?}",
            t.elapsed()
        );
        ensure!(
            e.contains("lvm") && e.contains("device-mapper") && e.contains("vm-lvm-tests"),
            "{e}"
        );
        ensure!(!dir.join(format!("disks/{name}.img")).exists());
        ensure!(loops_under(&dir).is_empty());
        ensure!(!dir.join("storage-pools").join(&name).exists());
        ensure!(lxd.store().pool(&name).await.is_err());
        Ok(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    r
}
