//! Where an `lvm` pool's volume group comes from: a block device (`source=/dev/...`) or a
//! volume group that existed before (`source=VG`), which the pool leaves in place.

use anyhow::{bail, ensure, Context};
use lxd_core::store::VolumeType;
use lxd_core::{CreateInstance, InstanceSource};

use crate::fixture::{
    cmd, config, force_cleanup, lv_field, lv_names, require_device_mapper, unique, vg_exists, Site,
};
use crate::{block, TestResult};

/// The spare disk the VM script attaches for this test.
const DEVICE_VAR: &str = "LXD_LVM_TEST_DEVICE";

pub fn pool_on_block_device() -> TestResult {
    require_device_mapper()?;
    let dev = std::env::var(DEVICE_VAR).with_context(|| {
        format!("{DEVICE_VAR} must name a spare block device the test may wipe (scripts/vm-lvm-tests sets it)")
    })?;
    let mut site = Site::new("dev", config(&[("source", &dev)]))?;
    let vg = site.vg.clone();
    block(async {
        let lxd = site.lxd();
        let rec = lxd.store().pool(&site.pool).await?;
        // As LXD: the source becomes the volume group, the device is remembered.
        ensure!(rec.config.get("source") == Some(&vg), "{:?}", rec.config);
        ensure!(rec.config.get("volatile.initial_source") == Some(&dev));
        ensure!(!rec.config.contains_key("size"));
        let pvs = cmd("lvm", &["pvs", "--noheadings", "-o", "vg_name", &dev])?;
        ensure!(pvs.trim() == vg, "{pvs}");
        lxd.create_instance(CreateInstance::new(
            "d1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        lxd.start_instance("default", "d1").await?;
        ensure!(site.sh("d1", "hostname").await?.trim() == "d1");
        Ok::<(), anyhow::Error>(())
    })?;
    site.teardown()?;
    ensure!(!vg_exists(&vg));
    ensure!(
        cmd("lvm", &["pvs", "--noheadings", &dev]).is_err(),
        "{dev} is still a physical volume"
    );
    Ok(())
}

/// A volume group the test makes itself on a loop file, removed (with the loop device) when
/// the value is dropped.
struct OwnVg {
    dir: std::path::PathBuf,
    vg: String,
    dev: String,
}

impl OwnVg {
    fn new() -> anyhow::Result<OwnVg> {
        let vg = unique("own");
        let dir = std::path::PathBuf::from(format!("/tmp/lxd-lvm-{vg}-backing"));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("vg.img");
        std::fs::File::create(&file)?.set_len(1 << 30)?;
        let dev = lxd_storage::LoopDevice::attach(&file, &Default::default())?
            .path()
            .display()
            .to_string();
        let own = OwnVg { dir, vg, dev };
        cmd("lvm", &["pvcreate", &own.dev])?;
        cmd("lvm", &["vgcreate", &own.vg, &own.dev])?;
        Ok(own)
    }
}

impl Drop for OwnVg {
    fn drop(&mut self) {
        force_cleanup(&self.dir, &[self.vg.as_str()], false);
    }
}

pub fn pool_on_existing_vg() -> TestResult {
    require_device_mapper()?;
    let own = OwnVg::new()?;
    // A volume group with a volume of someone else is refused, and left alone.
    cmd(
        "lvm",
        &["lvcreate", "--yes", "-L", "8M", "-n", "theirs", &own.vg],
    )?;
    match Site::new("exist", config(&[("source", &own.vg)])) {
        Ok(_) => bail!("a non-empty volume group was taken"),
        Err(e) => ensure!(
            format!("{e:#}").contains("not empty") && format!("{e:#}").contains("theirs"),
            "{e:#}"
        ),
    }
    ensure!(lv_names(&own.vg) == ["theirs"], "{:?}", lv_names(&own.vg));
    cmd("lvm", &["lvremove", "-y", &format!("{}/theirs", own.vg)])?;

    let mut site = Site::new(
        "exist",
        config(&[
            ("source", &own.vg),
            ("lvm.thinpool_name", "tp"),
            ("volume.size", "64MiB"),
        ]),
    )?;
    ensure!(site.vg == own.vg);
    let tags = cmd("lvm", &["vgs", "--noheadings", "-o", "vg_tags", &own.vg])?;
    ensure!(tags.trim() == "lxd_pool", "{tags}");
    ensure!(lv_field(&own.vg, "tp", "lv_attr")
        .unwrap_or_default()
        .starts_with('t'));
    // A second pool cannot take the same volume group.
    block(async {
        let e = site
            .lxd()
            .create_pool("second", "lvm", "", config(&[("source", &own.vg)]))
            .await
            .expect_err("two pools on one volume group");
        ensure!(
            e.to_string().contains("lxd_pool") || e.to_string().contains("in use"),
            "{e}"
        );
        let lxd = site.lxd();
        lxd.create_instance(CreateInstance::new(
            "e1",
            InstanceSource::Image("busybox".into()),
        ))
        .await?;
        ensure!(lv_field(&own.vg, "containers_e1", "pool_lv").as_deref() == Some("tp"));
        let p = site
            .pool()
            .mount_volume(VolumeType::Container, "default", "e1")
            .await?;
        ensure!(p.join("rootfs/bin/busybox").is_file());
        site.pool()
            .unmount_volume(VolumeType::Container, "default", "e1")
            .await?;
        Ok::<(), anyhow::Error>(())
    })?;
    site.teardown()?;
    // The volume group stays, without the pool's thin pool and tag.
    ensure!(
        vg_exists(&own.vg),
        "the pool removed a volume group it did not make"
    );
    ensure!(lv_names(&own.vg).is_empty(), "{:?}", lv_names(&own.vg));
    let tags = cmd("lvm", &["vgs", "--noheadings", "-o", "vg_tags", &own.vg])?;
    ensure!(tags.trim().is_empty(), "{tags}");
    Ok(())
}
