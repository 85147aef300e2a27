//! The zfs driver for real, through `Lxd`: on zfs-fuse when the kernel has no ZFS module (the
//! test setup starts its daemon), on OpenZFS otherwise (`scripts/zfs-vm` runs them in a VM).
//! Every pool has a zpool name unique to the test, on a sparse file under the test's
//! directory.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use lxd_core::store::{ConfigMap, VolumeType};
use lxd_core::{CreateInstance, Instance, InstanceSource, InstanceStatus};
use lxd_storage::zfs::Flavor;

use crate::fixture::{zpool_exists, Kind, Site};
use crate::{block, TestResult};

/// Runs `zfs ARGS`; its stdout.
fn zfs(args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new("zfs").args(args).output()?;
    ensure!(
        out.status.success(),
        "zfs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every dataset and snapshot of a zpool.
fn all(zpool: &str) -> anyhow::Result<Vec<String>> {
    Ok(
        zfs(&["list", "-H", "-o", "name", "-t", "all", "-r", zpool])?
            .lines()
            .map(str::to_string)
            .collect(),
    )
}

fn prop(ds: &str, p: &str) -> anyhow::Result<String> {
    Ok(zfs(&["get", "-H", "-p", "-o", "value", p, ds])?
        .trim()
        .to_string())
}

/// The datasets a fresh pool has.
fn layout(z: &str) -> Vec<String> {
    let mut v = vec![z.to_string()];
    for t in ["containers", "custom", "images", "virtual-machines"] {
        v.push(format!("{z}/{t}"));
    }
    v.push(format!("{z}/deleted"));
    for t in ["containers", "custom", "images", "virtual-machines"] {
        v.push(format!("{z}/deleted/{t}"));
    }
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

async fn sh(site: &Site, name: &str, script: &str) -> anyhow::Result<String> {
    let c = site.lxd().container("default", name).await?;
    let out = c
        .exec_output(&["sh", "-c", script])
        .await
        .with_context(|| format!("{name}: {script}"))?;
    ensure!(out.exit_code == 0, "{script}: {out:?}");
    Ok(out.stdout_str())
}

async fn launch(site: &Site, name: &str) -> anyhow::Result<()> {
    site.lxd()
        .create_instance(CreateInstance::new(
            name,
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
    Ok(())
}

fn vol_file(site: &Site, name: &str, file: &str) -> anyhow::Result<String> {
    let p = site
        .lxd()
        .pool("pool")?
        .volume_path(VolumeType::Container, "default", name)
        .join("rootfs")
        .join(file);
    std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))
}

fn write_vol_file(site: &Site, name: &str, file: &str, text: &str) -> anyhow::Result<()> {
    let p = site
        .lxd()
        .pool("pool")?
        .volume_path(VolumeType::Container, "default", name)
        .join("rootfs")
        .join(file);
    std::fs::write(&p, text).with_context(|| format!("write {}", p.display()))
}

fn zpool_of(site: &Site) -> String {
    site.zpool.clone().expect("a zfs site")
}

/// Launch twice (both clones of the image), run, snapshot, restore, copy with snapshots
/// (send/receive, independent) and without (a clone), delete everything: only LXD's datasets
/// are left, then deleting the pool leaves no zpool, file or mount.
pub fn zfs_lifecycle() -> TestResult {
    let mut site = Site::new("zfslife", Kind::Zfs(&[]));
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        let fp = lxd.resolve_image("default", "busybox").await?.fingerprint;
        launch(&site, "c1").await?;
        launch(&site, "c2").await?;
        let image = format!("{z}/images/{fp}");
        ensure!(all(&z)?.contains(&format!("{image}@readonly")));
        for c in ["c1", "c2"] {
            ensure!(
                prop(&format!("{z}/containers/{c}"), "origin")? == format!("{image}@readonly"),
                "{c} is not a clone of the image"
            );
        }
        lxd.start_instance("default", "c1").await?;
        ensure!(sh(&site, "c1", "hostname").await?.trim() == "c1");
        ensure!(sh(&site, "c1", "cat /etc/hostname").await?.trim() == "c1");
        // zfs-fuse has no idmapped mounts: the runtime shifted the rootfs on disk.
        let rec = lxd.store().instance("default", "c1").await?;
        let shifted = rec
            .config
            .get("volatile.last_state.idmap")
            .is_some_and(|m| m != "[]");
        if lxd_storage::zfs::flavor()? == Flavor::Fuse {
            ensure!(shifted, "not shifted on zfs-fuse: {:?}", rec.config);
        }

        // Snapshot while running, change, restore the latest snapshot.
        sh(&site, "c1", "echo one > /root/file").await?;
        lxd.snapshot_instance("default", "c1", "s1").await?;
        sh(&site, "c1", "echo two > /root/file; touch /root/new").await?;
        lxd.snapshot_instance("default", "c1", "s2").await?;
        sh(&site, "c1", "echo three > /root/file").await?;
        lxd.restore_instance("default", "c1", "s2").await?;
        ensure!(lxd.instance_state("default", "c1").await?.status == InstanceStatus::Running);
        ensure!(sh(&site, "c1", "cat /root/file").await?.trim() == "two");
        let snaps = all(&z)?;
        for s in ["s1", "s2"] {
            ensure!(snaps.contains(&format!("{z}/containers/c1@snapshot-{s}")));
        }

        // An older snapshot: refused as LXD does, and nothing changes.
        lxd.stop_instance("default", "c1", true, Duration::ZERO)
            .await?;
        let e = lxd
            .restore_instance("default", "c1", "s1")
            .await
            .expect_err("restore past a later snapshot without zfs.remove_snapshots");
        let msg = format!("{e:#}");
        ensure!(
            msg.contains("zfs.remove_snapshots") && msg.contains("s2"),
            "{msg}"
        );
        ensure!(vol_file(&site, "c1", "root/file")?.trim() == "two");
        ensure!(lxd.store().snapshots("default", "c1").await?.len() == 2);

        // Copy with snapshots: send/receive, not a clone, independent afterwards.
        lxd.copy_instance("default", "c1", "c3", false).await?;
        let c3 = format!("{z}/containers/c3");
        ensure!(
            prop(&c3, "origin")? == "-",
            "a copy with snapshots is a clone"
        );
        let left = all(&z)?;
        for s in ["s1", "s2"] {
            ensure!(left.contains(&format!("{c3}@snapshot-{s}")), "{left:?}");
        }
        ensure!(
            !left.iter().any(|d| d.contains("@copy-")),
            "temporary snapshots left: {left:?}"
        );
        ensure!(vol_file(&site, "c3", "root/file")?.trim() == "two");
        write_vol_file(&site, "c3", "root/file", "changed in the copy")?;
        ensure!(vol_file(&site, "c1", "root/file")?.trim() == "two");
        lxd.start_instance("default", "c3").await?;
        ensure!(sh(&site, "c3", "hostname").await?.trim() == "c3");
        // The copy's snapshot is its own: restoring it gives the source's old content.
        lxd.stop_instance("default", "c3", true, Duration::ZERO)
            .await?;
        lxd.restore_instance("default", "c3", "s2").await?;
        ensure!(vol_file(&site, "c3", "root/file")?.trim() == "two");

        // Copy without snapshots: a clone of a hidden snapshot of the source.
        lxd.copy_instance("default", "c1", "c4", true).await?;
        let origin = prop(&format!("{z}/containers/c4"), "origin")?;
        ensure!(
            origin.starts_with(&format!("{z}/containers/c1@copy-")),
            "{origin}"
        );
        ensure!(vol_file(&site, "c4", "root/file")?.trim() == "two");
        write_vol_file(&site, "c4", "root/file", "c4's own")?;
        ensure!(vol_file(&site, "c1", "root/file")?.trim() == "two");

        // Deleting a snapshot, then everything.
        lxd.delete_snapshot("default", "c1", "s1").await?;
        ensure!(!all(&z)?.contains(&format!("{z}/containers/c1@snapshot-s1")));
        for c in ["c4", "c3", "c1", "c2"] {
            lxd.delete_instance("default", c, true).await?;
        }
        lxd.delete_image("default", &fp).await?;
        ensure!(sorted(all(&z)?) == layout(&z), "{:?}", all(&z)?);
        let pool = lxd.pool("pool")?;
        for c in ["c1", "c2", "c3", "c4"] {
            ensure!(!pool
                .volume_path(VolumeType::Container, "default", c)
                .exists());
        }
        ensure!(lxd.store().volumes("pool").await?.is_empty());
        let mut prof = lxd.store().profile("default", "default").await?;
        prof.devices.clear();
        lxd.store()
            .apply(vec![lxd_core::store::StoreOp::UpdateProfile(prof)])
            .await?;
        lxd.delete_pool("pool").await?;
        Ok::<(), anyhow::Error>(())
    })?;
    ensure!(!zpool_exists(&z), "zpool {z} left");
    ensure!(
        !site.dir.join("disks/pool.img").exists(),
        "sparse file left"
    );
    ensure!(!site.pool_path().exists(), "pool directory left");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
    ensure!(
        !mounts.contains(site.dir.to_str().unwrap()),
        "mounts left under {}",
        site.dir.display()
    );
    site.lxd = None;
    Ok(())
}

/// With `volume.zfs.remove_snapshots=true` a restore to an older snapshot destroys the later
/// ones, their datasets and their records.
pub fn zfs_restore_removes_later_snapshots() -> TestResult {
    let site = Site::new(
        "zfsrm",
        Kind::Zfs(&[("volume.zfs.remove_snapshots", "true")]),
    );
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        launch(&site, "r1").await?;
        for (s, text) in [("s1", "one"), ("s2", "two"), ("s3", "three")] {
            write_vol_file(&site, "r1", "root/file", text)?;
            lxd.snapshot_instance("default", "r1", s).await?;
        }
        write_vol_file(&site, "r1", "root/file", "now")?;
        lxd.restore_instance("default", "r1", "s1").await?;
        ensure!(vol_file(&site, "r1", "root/file")?.trim() == "one");
        let names: Vec<String> = lxd
            .store()
            .snapshots("default", "r1")
            .await?
            .into_iter()
            .map(|s| s.name)
            .collect();
        ensure!(names == ["s1"], "{names:?}");
        let snaps: Vec<String> = all(&z)?.into_iter().filter(|d| d.contains('@')).collect();
        ensure!(
            snaps == [format!("{z}/containers/r1@snapshot-s1")]
                || snaps.len() == 2 && snaps.iter().any(|s| s.ends_with("@readonly")),
            "{snaps:?}"
        );
        ensure!(!snaps
            .iter()
            .any(|s| s.contains("snapshot-s2") || s.contains("snapshot-s3")));
        // The instance runs from the restored state.
        lxd.start_instance("default", "r1").await?;
        ensure!(sh(&site, "r1", "cat /root/file").await?.trim() == "one");
        Ok(())
    })
}

/// Deleting an image, a copied-from instance and a snapshot that clones depend on succeeds for
/// the user, also while the clones run. On OpenZFS what they came from is kept hidden in
/// `deleted/` (as LXD); on zfs-fuse, which cannot rename a dataset under a mounted clone, a
/// clone is promoted. Either way it is destroyed when the last clone goes, and its space freed.
pub fn zfs_dependent_clones() -> TestResult {
    let site = Site::new("zfsdep", Kind::Zfs(&[]));
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        let fuse = lxd_storage::zfs::flavor()? == Flavor::Fuse;
        let fp = lxd.resolve_image("default", "busybox").await?.fingerprint;
        launch(&site, "a1").await?;
        launch(&site, "a2").await?;
        lxd.start_instance("default", "a2").await?;
        // The image goes while a1 and a2 are its clones and a2 runs.
        lxd.delete_image("default", &fp).await?;
        ensure!(lxd.store().images("default").await?.is_empty());
        let hidden_image = format!("{z}/deleted/images/{fp}");
        let ds = all(&z)?;
        ensure!(
            !ds.iter().any(|d| d.starts_with(&format!("{z}/images/"))),
            "{ds:?}"
        );
        let (a1, a2) = (format!("{z}/containers/a1"), format!("{z}/containers/a2"));
        if fuse {
            // One instance now holds the image's snapshot, the other is its clone.
            let (o1, o2) = (prop(&a1, "origin")?, prop(&a2, "origin")?);
            ensure!(
                o1 == format!("{a2}@readonly") && o2 == "-"
                    || o2 == format!("{a1}@readonly") && o1 == "-",
                "{o1} {o2}"
            );
        } else {
            ensure!(ds.contains(&hidden_image), "{ds:?}");
            ensure!(prop(&a1, "origin")? == format!("{hidden_image}@readonly"));
        }
        ensure!(sh(&site, "a2", "hostname").await?.trim() == "a2");
        lxd.stop_instance("default", "a2", true, Duration::ZERO)
            .await?;

        // a1 is copied (a clone of a1@copy-...), the copy runs, then a1 goes.
        write_vol_file(&site, "a1", "root/mark", "from a1")?;
        lxd.copy_instance("default", "a1", "k1", true).await?;
        lxd.start_instance("default", "k1").await?;
        lxd.delete_instance("default", "a1", false).await?;
        let ds = all(&z)?;
        ensure!(!ds.contains(&a1), "{ds:?}");
        let hidden: Vec<&String> = ds
            .iter()
            .filter(|d| d.starts_with(&format!("{z}/deleted/containers/")) && !d.contains('@'))
            .collect();
        ensure!(hidden.len() == usize::from(!fuse), "{ds:?}");
        ensure!(sh(&site, "k1", "cat /root/mark").await? == "from a1");
        ensure!(vol_file(&site, "k1", "root/mark")? == "from a1");
        lxd.stop_instance("default", "k1", true, Duration::ZERO)
            .await?;

        // A snapshot with a clone made from it (as `lxc copy k1/snap k2` would).
        lxd.snapshot_instance("default", "k1", "snap").await?;
        let pool = lxd.pool("pool")?;
        let k2_path = pool.volume_path(VolumeType::Container, "default", "k2");
        let k2 = format!("{z}/containers/k2");
        let mut clone = vec!["clone".to_string()];
        if fuse {
            clone.extend(["-o".into(), format!("mountpoint={}", k2_path.display())]);
        } else {
            clone.extend(["-o".into(), "mountpoint=legacy".into()]);
        }
        clone.extend([format!("{z}/containers/k1@snapshot-snap"), k2.clone()]);
        zfs(&clone.iter().map(String::as_str).collect::<Vec<_>>())?;
        let driver = pool.driver().clone();
        let k2_vol = lxd_core::VolumeInfo::new(VolumeType::Container, "k2");
        driver.mount_volume(pool.info(), &k2_vol)?;
        lxd.delete_snapshot("default", "k1", "snap").await?;
        ensure!(lxd.store().snapshots("default", "k1").await?.is_empty());
        let ds = all(&z)?;
        ensure!(
            !ds.contains(&format!("{z}/containers/k1@snapshot-snap")),
            "{ds:?}"
        );
        let hidden_snap: Vec<&String> = ds
            .iter()
            .filter(|d| d.starts_with(&format!("{z}/containers/k1@deleted-")))
            .collect();
        ensure!(hidden_snap.len() == 1, "{ds:?}");
        // The clone is still mounted and readable after the rename.
        ensure!(std::fs::read_to_string(k2_path.join("rootfs/root/mark"))? == "from a1");
        driver.delete_volume(pool.info(), &k2_vol)?;
        let ds = all(&z)?;
        ensure!(!ds.iter().any(|d| d.contains("@deleted-")), "{ds:?}");

        // The last clones go: what they depended on goes with them, and its space.
        let used_before = prop(&z, "used")?.parse::<u64>()?;
        lxd.delete_instance("default", "k1", false).await?;
        let ds = all(&z)?;
        ensure!(
            !ds.iter()
                .any(|d| d.starts_with(&format!("{z}/deleted/containers/"))),
            "{ds:?}"
        );
        if !fuse {
            ensure!(
                ds.contains(&hidden_image),
                "the image went while a2 needs it"
            );
        }
        ensure!(sh_stopped_file(&site, "a2")?.contains("a2"));
        lxd.delete_instance("default", "a2", false).await?;
        ensure!(sorted(all(&z)?) == layout(&z), "{:?}", all(&z)?);
        let mut used_after = used_before;
        for _ in 0..50 {
            used_after = prop(&z, "used")?.parse()?;
            if used_after < used_before {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ensure!(
            used_after < used_before,
            "space not freed: {used_before} -> {used_after}"
        );
        Ok(())
    })
}

/// The hostname file of a stopped instance (its files are reachable through its path).
fn sh_stopped_file(site: &Site, name: &str) -> anyhow::Result<String> {
    vol_file(site, name, "etc/hostname")
}

/// Custom volumes through the pool layer: created with a size (`refquota` by the volume's
/// `zfs.use_refquota`), used by an instance, snapshotted, restored, copied, renamed, deleted.
pub fn zfs_custom_volumes() -> TestResult {
    let site = Site::new("zfscustom", Kind::Zfs(&[]));
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        let pool = lxd.pool("pool")?;
        let mut cfg = ConfigMap::new();
        cfg.insert("size".into(), "50MiB".into());
        cfg.insert("zfs.use_refquota".into(), "true".into());
        pool.create_volume(VolumeType::Custom, "default", "data", cfg)
            .await?
            .commit(&**lxd.store())
            .await?;
        let ds = format!("{z}/custom/data");
        ensure!(prop(&ds, "refquota")? == (50u64 << 20).to_string());
        ensure!(prop(&ds, "quota")? == "0");
        // A bad volume key is refused before anything is made.
        let mut bad = ConfigMap::new();
        bad.insert("zfs.use_refquota".into(), "perhaps".into());
        let e = match pool
            .create_volume(VolumeType::Custom, "default", "bad", bad)
            .await
        {
            Ok(_) => bail!("a bad volume key was accepted"),
            Err(e) => e.to_string(),
        };
        ensure!(e.contains("perhaps"), "{e}");
        ensure!(!all(&z)?.contains(&format!("{z}/custom/bad")));

        // An instance writes to it.
        let mut req = CreateInstance::new("user", InstanceSource::Image("busybox".into()));
        // The volume's root belongs to host root, which only a privileged instance is.
        req.config
            .insert("security.privileged".into(), "true".into());
        let mut disk = ConfigMap::new();
        disk.insert("type".into(), "disk".into());
        disk.insert("pool".into(), "pool".into());
        disk.insert("source".into(), "data".into());
        disk.insert("path".into(), "/data".into());
        req.devices.insert("data".into(), disk);
        lxd.create_instance(req).await?;
        lxd.start_instance("default", "user").await?;
        sh(&site, "user", "echo first > /data/f").await?;
        let host = pool.volume_path(VolumeType::Custom, "default", "data");
        ensure!(std::fs::read_to_string(host.join("f"))?.trim() == "first");
        lxd.stop_instance("default", "user", true, Duration::ZERO)
            .await?;

        pool.snapshot_volume(VolumeType::Custom, "default", "data", "v1")
            .await?
            .commit(&**lxd.store())
            .await?;
        ensure!(all(&z)?.contains(&format!("{ds}@snapshot-v1")));
        std::fs::write(host.join("f"), "second")?;
        pool.restore_snapshot(VolumeType::Custom, "default", "data", "v1")
            .await?;
        ensure!(std::fs::read_to_string(host.join("f"))?.trim() == "first");

        pool.copy_volume(VolumeType::Custom, "default", "data", "copy", true)
            .await?
            .commit(&**lxd.store())
            .await?;
        ensure!(all(&z)?.contains(&format!("{z}/custom/copy@snapshot-v1")));
        let copy = pool.volume_path(VolumeType::Custom, "default", "copy");
        ensure!(std::fs::read_to_string(copy.join("f"))?.trim() == "first");

        pool.rename_volume(VolumeType::Custom, "default", "copy", "moved")
            .await?
            .commit(&**lxd.store())
            .await?;
        let moved = pool.volume_path(VolumeType::Custom, "default", "moved");
        ensure!(std::fs::read_to_string(moved.join("f"))?.trim() == "first");
        ensure!(!copy.exists());
        ensure!(all(&z)?.contains(&format!("{z}/custom/moved@snapshot-v1")));

        lxd.delete_instance("default", "user", false).await?;
        for v in ["moved", "data"] {
            let ops = pool.delete_volume(VolumeType::Custom, "default", v).await?;
            lxd.store().apply(ops).await?;
        }
        let left: Vec<String> = all(&z)?
            .into_iter()
            .filter(|d| d.starts_with(&format!("{z}/custom/")))
            .collect();
        ensure!(left.is_empty(), "{left:?}");
        ensure!(!host.exists() && !moved.exists());
        Ok(())
    })
}

/// `zfs.clone_copy=false`: copies are independent datasets (send/receive), and deleting the
/// source hides nothing.
pub fn zfs_clone_copy_false() -> TestResult {
    let site = Site::new("zfsnoclone", Kind::Zfs(&[("zfs.clone_copy", "false")]));
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        launch(&site, "src").await?;
        write_vol_file(&site, "src", "root/mark", "source")?;
        lxd.copy_instance("default", "src", "dst", true).await?;
        let dst = format!("{z}/containers/dst");
        ensure!(
            prop(&dst, "origin")? == "-",
            "a clone despite zfs.clone_copy=false"
        );
        ensure!(vol_file(&site, "dst", "root/mark")? == "source");
        lxd.delete_instance("default", "src", false).await?;
        let ds = all(&z)?;
        ensure!(
            !ds.iter()
                .any(|d| d.contains("/deleted/containers/") || d.contains("@copy-")),
            "{ds:?}"
        );
        lxd.start_instance("default", "dst").await?;
        ensure!(sh(&site, "dst", "cat /root/mark").await? == "source");
        Ok(())
    })
}

async fn quota_writes(site: &Site, name: &str, limit_key: &str) -> anyhow::Result<()> {
    let lxd = site.lxd();
    let z = zpool_of(site);
    let ds = format!("{z}/containers/{name}");
    let mut req = CreateInstance::new(name, InstanceSource::Image("busybox".into()));
    let mut root = ConfigMap::new();
    root.insert("type".into(), "disk".into());
    root.insert("path".into(), "/".into());
    root.insert("pool".into(), "pool".into());
    root.insert("size".into(), "30MiB".into());
    req.devices.insert("root".into(), root);
    lxd.create_instance(req).await?;
    ensure!(prop(&ds, limit_key)? == (30u64 << 20).to_string());
    let other = if limit_key == "quota" {
        "refquota"
    } else {
        "quota"
    };
    ensure!(prop(&ds, other)? == "0", "{other} set too");
    lxd.start_instance("default", name).await?;
    let c = lxd.container("default", name).await?;
    // Random data: zfs compresses zeros to nothing.
    let out = c
        .exec_output(&[
            "sh",
            "-c",
            "dd if=/dev/urandom of=/big bs=1M count=60; r=$?; sync; exit $r",
        ])
        .await?;
    ensure!(
        out.exit_code != 0,
        "a write past the quota succeeded: {out:?}"
    );
    ensure!(
        out.stderr_str().contains("Disk quota exceeded"),
        "{}",
        out.stderr_str()
    );
    let used = prop(&ds, "used")?.parse::<u64>()?;
    ensure!(used <= 31 << 20, "{used} bytes used past a 30MiB limit");
    let ok = c
        .exec_output(&[
            "sh",
            "-c",
            "rm -f /big; sync; dd if=/dev/urandom of=/small bs=1M count=5 && sync",
        ])
        .await?;
    ensure!(ok.exit_code == 0, "{ok:?}");
    let pool = lxd.pool("pool")?;
    let mut used = 0;
    for _ in 0..50 {
        used = pool.usage(VolumeType::Container, "default", name).await?;
        if (4 << 20..30 << 20).contains(&used) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!((4 << 20..30 << 20).contains(&used), "usage {used}");
    // Raise the limit: the big write fits.
    pool.set_quota(VolumeType::Container, "default", name, Some("100MiB"))
        .await?;
    ensure!(prop(&ds, limit_key)? == (100u64 << 20).to_string());
    let big = c
        .exec_output(&[
            "sh",
            "-c",
            "dd if=/dev/urandom of=/big bs=1M count=60 && sync",
        ])
        .await?;
    ensure!(big.exit_code == 0, "{big:?}");
    // No limit at all.
    pool.set_quota(VolumeType::Container, "default", name, None)
        .await?;
    ensure!(prop(&ds, limit_key)? == "0");
    lxd.stop_instance("default", name, true, Duration::ZERO)
        .await?;
    let before = prop(&z, "used")?.parse::<u64>()?;
    lxd.delete_instance("default", name, false).await?;
    let mut after = before;
    for _ in 0..50 {
        after = prop(&z, "used")?.parse()?;
        if after + (50 << 20) <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(
        after + (50 << 20) <= before,
        "space not freed: {before} -> {after}"
    );
    Ok(())
}

/// `size` is a `quota` (or a `refquota` with `volume.zfs.use_refquota`): a write past it fails,
/// usage is reported, the limit can be raised and removed, and deleting frees the space.
pub fn zfs_quota() -> TestResult {
    let site = Site::new("zfsquota", Kind::Zfs(&[]));
    block(quota_writes(&site, "q1", "quota"))?;
    let site = Site::new("zfsrefq", Kind::Zfs(&[("volume.zfs.use_refquota", "true")]));
    block(quota_writes(&site, "q2", "refquota"))
}

/// Renaming moves the dataset, its snapshots and its mount.
pub fn zfs_rename() -> TestResult {
    let site = Site::new("zfsrename", Kind::Zfs(&[]));
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        launch(&site, "old").await?;
        write_vol_file(&site, "old", "root/mark", "kept")?;
        lxd.snapshot_instance("default", "old", "s").await?;
        lxd.rename_instance("default", "old", "new").await?;
        let ds = all(&z)?;
        ensure!(ds.contains(&format!("{z}/containers/new")), "{ds:?}");
        ensure!(
            ds.contains(&format!("{z}/containers/new@snapshot-s")),
            "{ds:?}"
        );
        ensure!(!ds.iter().any(|d| d.contains("containers/old")), "{ds:?}");
        let pool = lxd.pool("pool")?;
        ensure!(!pool
            .volume_path(VolumeType::Container, "default", "old")
            .exists());
        ensure!(vol_file(&site, "new", "root/mark")? == "kept");
        ensure!(lxd.store().snapshots("default", "new").await?.len() == 1);
        // The source of a running clone copy can be renamed.
        lxd.copy_instance("default", "new", "cl", true).await?;
        lxd.start_instance("default", "cl").await?;
        lxd.rename_instance("default", "new", "newer").await?;
        ensure!(vol_file(&site, "newer", "root/mark")? == "kept");
        ensure!(sh(&site, "cl", "cat /root/mark").await? == "kept");
        lxd.rename_instance("default", "newer", "new").await?;
        ensure!(lxd.store().snapshots("default", "new").await?.len() == 1);
        // A rename onto an existing instance is refused and changes nothing.
        launch(&site, "other").await?;
        ensure!(lxd
            .rename_instance("default", "new", "other")
            .await
            .is_err());
        ensure!(vol_file(&site, "new", "root/mark")? == "kept");
        lxd.start_instance("default", "new").await?;
        ensure!(sh(&site, "new", "hostname").await?.trim() == "new");
        Ok(())
    })
}

/// The pool survives LXD restarting with its zpool exported (a host reboot): reopening
/// imports it and mounts the volumes again.
pub fn zfs_reimport() -> TestResult {
    let mut site = Site::new("zfsreopen", Kind::Zfs(&[]));
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        launch(&site, "keep").await?;
        write_vol_file(&site, "keep", "root/mark", "survives")?;
        lxd.snapshot_instance("default", "keep", "s0").await?;
        lxd.pool("pool")?.unmount_pool().await?;
        ensure!(!zpool_exists(&z), "zpool still imported after unmount_pool");
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")?;
        ensure!(!mounts.contains(site.pool_path().to_str().unwrap()));
        Ok::<(), anyhow::Error>(())
    })?;
    site.reopen();
    block(async {
        let lxd = site.lxd();
        ensure!(zpool_exists(&z), "not imported again");
        ensure!(vol_file(&site, "keep", "root/mark")? == "survives");
        lxd.start_instance("default", "keep").await?;
        ensure!(sh(&site, "keep", "cat /root/mark").await? == "survives");
        Ok(())
    })
}

/// A copy that fails half-way (a snapshot destroyed behind the store's back) leaves no
/// dataset, record or mount.
pub fn zfs_failure_mid_copy() -> TestResult {
    let site = Site::new("zfsmidcopy", Kind::Zfs(&[]));
    let z = zpool_of(&site);
    block(async {
        let lxd = site.lxd();
        launch(&site, "src").await?;
        lxd.snapshot_instance("default", "src", "s1").await?;
        lxd.snapshot_instance("default", "src", "s2").await?;
        zfs(&["destroy", &format!("{z}/containers/src@snapshot-s2")])?;
        let before = sorted(all(&z)?);
        ensure!(lxd
            .copy_instance("default", "src", "dst", false)
            .await
            .is_err());
        ensure!(lxd.store().instance("default", "dst").await.is_err());
        ensure!(sorted(all(&z)?) == before, "{:?}", all(&z)?);
        let pool = lxd.pool("pool")?;
        ensure!(!pool
            .volume_path(VolumeType::Container, "default", "dst")
            .exists());
        Ok(())
    })
}

async fn create_err(
    lxd: &lxd_core::Lxd,
    name: &str,
    pairs: &[(&str, &str)],
) -> anyhow::Result<String> {
    let config: ConfigMap = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match lxd.create_pool(name, "zfs", "", config).await {
        Ok(_) => bail!("pool {name} with {pairs:?} was created"),
        Err(e) => Ok(format!("{e:#}")),
    }
}

/// Pools on a block device and on an existing zpool and dataset; bad sizes, sources and a
/// zpool name that is taken give clear errors and leave nothing behind.
pub fn zfs_pool_sources() -> TestResult {
    let site = Site::new("zfssrc", Kind::Zfs(&[]));
    let tag = std::process::id();
    block(async {
        let lxd = site.lxd();
        // A block device: a loop device on a sparse file of the test.
        let img = site.dir.join("dev.img");
        lxd_storage::create_sparse_file(&img, 512 << 20)?;
        let dev = lxd_storage::LoopDevice::attach(&img, &Default::default())?;
        let dev_zpool = format!("lxdt{tag}dev");
        let r = async {
            let mut cfg = ConfigMap::new();
            cfg.insert("source".into(), dev.path().display().to_string());
            cfg.insert("zfs.pool_name".into(), dev_zpool.clone());
            let p = lxd.create_pool("ondev", "zfs", "", cfg).await?;
            ensure!(p.info().config.get("source") == Some(&dev_zpool));
            ensure!(zpool_exists(&dev_zpool));
            let st = zfs_cmd_out("zpool", &["status", &dev_zpool])?;
            ensure!(
                st.contains(dev.path().file_name().unwrap().to_str().unwrap()),
                "{st}"
            );
            lxd.delete_pool("ondev").await?;
            ensure!(!zpool_exists(&dev_zpool));
            Ok::<(), anyhow::Error>(())
        }
        .await;
        if zpool_exists(&dev_zpool) {
            let _ = zfs_cmd_out("zpool", &["destroy", "-f", &dev_zpool]);
        }
        let _ = dev.detach();
        r?;

        // An existing zpool, whole and as a dataset in it.
        let own = format!("lxdt{tag}own");
        let own_img = site.dir.join("own.img");
        lxd_storage::create_sparse_file(&own_img, 512 << 20)?;
        zfs_cmd_out(
            "zpool",
            &[
                "create",
                "-f",
                "-o",
                "cachefile=none",
                "-m",
                "none",
                &own,
                own_img.to_str().unwrap(),
            ],
        )?;
        let r = async {
            let mut cfg = ConfigMap::new();
            cfg.insert("source".into(), format!("{own}/lxd"));
            let p = lxd.create_pool("inds", "zfs", "", cfg).await?;
            ensure!(p.info().config.get("zfs.pool_name") == Some(&format!("{own}/lxd")));
            let mut req = CreateInstance::new("d1", InstanceSource::Image("busybox".into()));
            req.pool = Some("inds".into());
            lxd.create_instance(req).await?;
            ensure!(all(&own)?.contains(&format!("{own}/lxd/containers/d1")));
            // The dataset is not empty now: a second pool on it is refused.
            let e = create_err(lxd, "again", &[("source", &format!("{own}/lxd"))]).await?;
            ensure!(e.contains("not empty"), "{e}");
            lxd.delete_instance("default", "d1", false).await?;
            let fp = lxd.resolve_image("default", "busybox").await?.fingerprint;
            lxd.pool("inds")?.delete_image_volume(&fp).await?;
            lxd.delete_pool("inds").await?;
            ensure!(all(&own)? == [own.clone()], "{:?}", all(&own)?);
            // The whole zpool.
            let mut cfg = ConfigMap::new();
            cfg.insert("source".into(), own.clone());
            lxd.create_pool("whole", "zfs", "", cfg).await?;
            ensure!(all(&own)?.contains(&format!("{own}/containers")));
            lxd.delete_pool("whole").await?;
            // As LXD: a pool that is a whole zpool takes it with it.
            ensure!(!zpool_exists(&own), "zpool {own} left");
            Ok::<(), anyhow::Error>(())
        }
        .await;
        if zpool_exists(&own) {
            let _ = zfs_cmd_out("zpool", &["destroy", "-f", &own]);
        }
        r?;

        // Bad input.
        let e = create_err(lxd, "bad1", &[("size", "lots")]).await?;
        ensure!(e.contains("lots"), "{e}");
        let e = create_err(lxd, "bad2", &[("size", "10MiB")]).await?;
        ensure!(e.contains("64MiB"), "{e}");
        let e = create_err(lxd, "bad3", &[("source", "/dev/lxd-no-such-disk")]).await?;
        ensure!(e.contains("/dev/lxd-no-such-disk"), "{e}");
        let e = create_err(lxd, "bad4", &[("source", img.to_str().unwrap())]).await?;
        ensure!(e.contains("not a block device"), "{e}");
        let e = create_err(lxd, "bad5", &[("source", &format!("lxdt{tag}nosuchpool"))]).await?;
        ensure!(e.contains("nosuchpool"), "{e}");
        let e = create_err(lxd, "bad6", &[("zfs.clone_copy", "sometimes")]).await?;
        ensure!(e.contains("zfs.clone_copy"), "{e}");
        let e = create_err(lxd, "bad7", &[("zfs.pool_name", "a/b")]).await?;
        ensure!(e.contains("zfs.pool_name"), "{e}");
        // The site's own zpool name is taken.
        let taken = zpool_of(&site);
        let e = create_err(lxd, "clash", &[("size", "1GiB"), ("zfs.pool_name", &taken)]).await?;
        ensure!(e.contains("already exists") && e.contains(&taken), "{e}");
        let e = create_err(lxd, "pool", &[]).await?;
        ensure!(e.contains("already exists"), "{e}");
        ensure!(lxd.pool_names() == ["pool"], "{:?}", lxd.pool_names());
        for n in [
            "bad1", "bad2", "bad3", "bad4", "bad5", "bad6", "bad7", "clash",
        ] {
            ensure!(
                !site.dir.join(format!("disks/{n}.img")).exists(),
                "{n}.img left"
            );
            ensure!(
                !site.dir.join(format!("storage-pools/{n}")).exists(),
                "{n} dir left"
            );
        }
        // The clash left the site's pool alone.
        launch(&site, "still").await?;
        Ok(())
    })
}

fn zfs_cmd_out(cmd: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(cmd).args(args).output()?;
    ensure!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The environment variable that makes the test binary run [`unavailable_child`].
pub const UNAVAILABLE_ENV: &str = "LXD_TEST_ZFS_UNAVAILABLE";

/// Without the zfs tools the driver is not offered and creating a zfs pool says why. Runs in
/// a child process of the test binary with an empty `PATH`.
pub fn zfs_unavailable() -> TestResult {
    let dir = std::path::PathBuf::from(format!("/tmp/lxd-st-{}-nozfs", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(UNAVAILABLE_ENV, &dir)
        .env("PATH", dir.join("empty"))
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        stdout.contains("Required tool 'zpool' is missing"),
        "{stdout}"
    );
    Ok(())
}

/// The child side of [`zfs_unavailable`]: prints the error of a zfs pool create and checks the
/// driver is not listed, in a data directory given by the environment.
pub fn unavailable_child(dir: &Path) -> anyhow::Result<()> {
    block(async {
        let store: std::sync::Arc<dyn lxd_core::ClusterStore> =
            std::sync::Arc::new(lxd_cluster::SqliteStore::open_dir(dir).await?);
        let mut cfg = lxd_core::LxdConfig::new(dir);
        cfg.runtime.cgroup_subtree = "lxd-st-nozfs".into();
        let lxd = lxd_core::Lxd::open(cfg, store, lxd_storage::drivers()).await?;
        ensure!(
            !lxd.driver_names().contains(&"zfs"),
            "{:?}",
            lxd.driver_names()
        );
        ensure!(lxd.driver_names().contains(&"dir"));
        let e = create_err(&lxd, "p", &[("size", "1GiB")]).await?;
        ensure!(!dir.join("disks/p.img").exists());
        ensure!(!dir.join("storage-pools/p").exists());
        println!("{e}");
        Ok(())
    })
}
