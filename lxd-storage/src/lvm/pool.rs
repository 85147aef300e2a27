//! Pools of the `lvm` driver: the volume group on a loop file the driver creates
//! (`$LXD_DIR/disks/NAME.img`), on a block device (`source=/dev/...`), or an existing one
//! (`source=VG`); the thin pool in it; and the pool directory whose subdirectories are the
//! volumes' mount points.

use std::path::Path;

use lxd_core::config::units::{format_size, parse_size};
use lxd_core::store::ConfigMap;
use lxd_core::PoolInfo;

use super::cmd::{self, lvm};
use super::config::{self, is_block_device, Backing, PoolConfig, DEFAULT_POOL_SIZE};
use super::error::{LvmError, Result};
use super::names::POOL_TAG;
use crate::error::StorageError;
use crate::loopdev::{create_sparse_file, LoopDevice, LoopOptions};
use crate::mounts;

/// Fails at once, naming the pool, when the kernel has no device-mapper.
pub fn require_device_mapper(pool: &PoolInfo) -> Result<()> {
    match cmd::device_mapper_missing() {
        None => Ok(()),
        Some(detail) => Err(LvmError::NoDeviceMapper {
            what: format!("lvm storage pool {:?}", pool.name),
            detail,
        }),
    }
}

/// Whether LVM pools can work here: device-mapper in the kernel and the LVM tools installed.
pub fn check_available() -> Result<()> {
    if let Some(detail) = cmd::device_mapper_missing() {
        return Err(LvmError::NoDeviceMapper {
            what: "the lvm driver".into(),
            detail,
        });
    }
    lvm("check the LVM tools of", "the lvm driver", &["version"]).map(drop)
}

/// The loop device backing `file`, attached now if it is not yet. Attached without autoclear:
/// the LVM tools open and close the device all the time, and autoclear would let it go.
fn loop_device(file: &Path) -> Result<LoopDevice> {
    if !file.exists() {
        return Err(StorageError::not_found("pool loop file", file).into());
    }
    match LoopDevice::find_by_backing_file(file)? {
        Some(d) => Ok(d),
        None => Ok(LoopDevice::attach(file, &LoopOptions::default())?),
    }
}

/// Undo steps of a pool creation, run in reverse unless disarmed.
#[derive(Default)]
struct Undo {
    steps: Vec<Box<dyn FnOnce()>>,
}

impl Undo {
    fn add(&mut self, f: impl FnOnce() + 'static) {
        self.steps.push(Box::new(f));
    }

    fn run(mut self) {
        while let Some(f) = self.steps.pop() {
            f();
        }
    }
}

/// Creates the pool; returns its configuration with the choices made filled in.
pub fn create(pool: &PoolInfo) -> Result<ConfigMap> {
    require_device_mapper(pool)?;
    lvm("check the LVM tools for pool", &pool.name, &["version"])?;
    let mut config = pool.config.clone();
    let source = config.get("source").cloned().unwrap_or_default();
    config.insert("volatile.initial_source".into(), source.clone());
    let mut undo = Undo::default();
    match make(pool, &mut config, &source, &mut undo) {
        Ok(()) => Ok(config),
        Err(e) => {
            undo.run();
            Err(e)
        }
    }
}

fn make(pool: &PoolInfo, config: &mut ConfigMap, source: &str, undo: &mut Undo) -> Result<()> {
    let loop_file = pool.loop_file();
    let mut created_vg = true;
    let vg;
    if source.is_empty() || Path::new(source) == loop_file {
        vg = config
            .get("lvm.vg_name")
            .cloned()
            .unwrap_or_else(|| pool.name.clone());
        if cmd::vg(&vg)?.is_some() {
            return Err(LvmError::AlreadyExists {
                what: "volume group",
                name: vg,
            });
        }
        let size = match config.get("size") {
            Some(s) => parse_size(s).map_err(|e| LvmError::invalid("size", s, e))?,
            None => DEFAULT_POOL_SIZE,
        };
        if let Some(parent) = loop_file.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StorageError::io("create", parent, e))?;
        }
        create_sparse_file(&loop_file, size)?;
        {
            let f = loop_file.clone();
            undo.add(move || {
                let _ = std::fs::remove_file(f);
            });
        }
        let dev = LoopDevice::attach(&loop_file, &LoopOptions::default())?;
        let dev_path = dev.path().to_path_buf();
        undo.add(move || {
            let _ = dev.detach();
        });
        make_vg(&vg, &dev_path, undo)?;
        config.insert("source".into(), loop_file.display().to_string());
        config.insert("size".into(), format_size(size));
    } else if source.starts_with('/') {
        let dev = Path::new(source);
        if !is_block_device(dev) {
            return Err(LvmError::invalid(
                "source",
                source,
                "not a block device (an lvm pool is made on a loop file it creates when source \
                 is empty, on a block device, or on an existing volume group named by source)",
            ));
        }
        vg = config
            .get("lvm.vg_name")
            .cloned()
            .unwrap_or_else(|| pool.name.clone());
        if cmd::vg(&vg)?.is_some() {
            return Err(LvmError::AlreadyExists {
                what: "volume group",
                name: vg,
            });
        }
        if let Some(other) = cmd::pv_vg(dev)?.filter(|v| !v.is_empty()) {
            return Err(LvmError::InUse {
                what: "block device",
                name: source.to_string(),
                reason: format!("it is a physical volume of the volume group {other}"),
            });
        }
        make_vg(&vg, dev, undo)?;
        // As LXD: the pool's source is now its volume group; the device is remembered in
        // volatile.initial_source. The size is the device's.
        config.insert("source".into(), vg.clone());
        config.remove("size");
    } else {
        vg = source.to_string();
        created_vg = false;
        let Some(report) = cmd::vg(&vg)? else {
            return Err(LvmError::NotFound {
                what: "volume group",
                name: vg,
            });
        };
        let force = config
            .get("lvm.vg.force_reuse")
            .is_some_and(|v| matches!(v.as_str(), "true" | "1" | "yes" | "on"));
        if !force {
            if report.tags.iter().any(|t| t == POOL_TAG) {
                return Err(LvmError::InUse {
                    what: "volume group",
                    name: vg,
                    reason: format!("it carries the tag {POOL_TAG}: another pool uses it"),
                });
            }
            let thin = config::uses_thinpool(config)?;
            let tp = PoolConfig::of(&PoolInfo {
                config: config.clone(),
                ..pool.clone()
            })?
            .thinpool;
            let others: Vec<String> = cmd::lvs(&vg)?
                .into_iter()
                .filter(|l| !(thin && Some(&l.name) == tp.as_ref() && l.is_thin_pool()))
                .map(|l| l.name)
                .collect();
            if !others.is_empty() {
                return Err(LvmError::InUse {
                    what: "volume group",
                    name: vg,
                    reason: format!(
                        "it is not empty (it holds {}); set lvm.vg.force_reuse=true to share it",
                        others.join(", ")
                    ),
                });
            }
        }
        config.remove("size");
    }
    config.insert("lvm.vg_name".into(), vg.clone());
    let info = PoolInfo {
        config: config.clone(),
        ..pool.clone()
    };
    let pc = PoolConfig::of(&info)?;
    if let Some(tp) = &pc.thinpool {
        config.insert("lvm.thinpool_name".into(), tp.clone());
        match cmd::lv(&vg, tp)? {
            Some(l) if l.is_thin_pool() => {}
            Some(_) => {
                return Err(LvmError::InUse {
                    what: "logical volume",
                    name: format!("{vg}/{tp}"),
                    reason: "it exists and is not a thin pool".into(),
                })
            }
            None => {
                let mut args = vec![
                    "lvcreate".to_string(),
                    "--yes".into(),
                    "--type".into(),
                    "thin-pool".into(),
                    "--extents".into(),
                    "100%FREE".into(),
                    "--name".into(),
                    tp.clone(),
                ];
                if let Some(m) = config.get("lvm.thinpool_metadata_size") {
                    let b = parse_size(m)
                        .map_err(|e| LvmError::invalid("lvm.thinpool_metadata_size", m, e))?;
                    args.push("--poolmetadatasize".into());
                    args.push(format!("{}b", b / 512 * 512));
                }
                args.push(vg.clone());
                let a: Vec<&str> = args.iter().map(String::as_str).collect();
                lvm("create thin pool", &format!("{vg}/{tp}"), &a)?;
                if !created_vg {
                    let (vg, tp) = (vg.clone(), tp.clone());
                    undo.add(move || {
                        let _ = lvm(
                            "remove thin pool",
                            &tp,
                            &["lvremove", "--yes", "-f", &format!("{vg}/{tp}")],
                        );
                    });
                }
            }
        }
    }
    lvm(
        "tag volume group",
        &vg,
        &["vgchange", "--addtag", POOL_TAG, &vg],
    )?;
    {
        let vg = vg.clone();
        undo.add(move || {
            let _ = lvm(
                "untag volume group",
                &vg,
                &["vgchange", "--deltag", POOL_TAG, &vg],
            );
        });
    }
    std::fs::create_dir_all(&pool.mount_path)
        .map_err(|e| StorageError::io("create", &pool.mount_path, e))?;
    {
        let p = pool.mount_path.clone();
        undo.add(move || {
            let _ = mounts::remove_layout(&p);
            let _ = std::fs::remove_dir(&p);
        });
    }
    mounts::create_layout(&pool.mount_path)?;
    tracing::info!(pool = %pool.name, vg, thinpool = ?pc.thinpool, "lvm pool created");
    Ok(())
}

/// `pvcreate` + `vgcreate` on `dev`, with their undo.
fn make_vg(vg: &str, dev: &Path, undo: &mut Undo) -> Result<()> {
    let d = dev.to_string_lossy().into_owned();
    if cmd::pv_vg(dev)?.is_none() {
        lvm("create physical volume on", &d, &["pvcreate", &d])?;
        let d = d.clone();
        undo.add(move || {
            let _ = lvm("remove physical volume", &d, &["pvremove", "-y", &d]);
        });
    }
    lvm("create volume group", vg, &["vgcreate", vg, &d])?;
    let vg = vg.to_string();
    undo.add(move || {
        let _ = lvm("remove volume group", &vg, &["vgremove", "-f", &vg]);
    });
    Ok(())
}

/// Destroys an empty pool: the volume group it made (with its physical volume, loop device
/// and loop file), or, on a volume group that existed before, the empty thin pool and the tag.
pub fn delete(pool: &PoolInfo) -> Result<()> {
    let pc = PoolConfig::of(pool)?;
    let loop_dev = match &pc.backing {
        Backing::LoopFile(f) if f.exists() => Some(loop_device(f)?),
        _ => None,
    };
    if let Some(report) = cmd::vg(&pc.vg)? {
        if cmd::device_mapper_missing().is_none() {
            let left: Vec<String> = cmd::lvs(&pc.vg)?
                .into_iter()
                .filter(|l| Some(&l.name) != pc.thinpool.as_ref())
                .filter(|l| pc.backing != Backing::ExistingVg || is_lxd_lv(&l.name))
                .map(|l| l.name)
                .collect();
            if !left.is_empty() {
                return Err(LvmError::InUse {
                    what: "volume group",
                    name: pc.vg.clone(),
                    reason: format!("volumes are left in the pool: {}", left.join(", ")),
                });
            }
        }
        match &pc.backing {
            Backing::LoopFile(_) | Backing::Device(_) => {
                lvm("remove volume group", &pc.vg, &["vgremove", "-f", &pc.vg])?;
                let pv = match (&loop_dev, &pc.backing) {
                    (Some(d), _) => Some(d.path().to_path_buf()),
                    (None, Backing::Device(d)) => Some(d.clone()),
                    _ => None,
                };
                if let Some(pv) = pv {
                    let p = pv.to_string_lossy();
                    lvm("remove physical volume", &p, &["pvremove", "-y", &p])?;
                }
            }
            Backing::ExistingVg => {
                if let Some(tp) = &pc.thinpool {
                    if cmd::lv(&pc.vg, tp)?.is_some() {
                        lvm(
                            "remove thin pool",
                            &format!("{}/{tp}", pc.vg),
                            &["lvremove", "--yes", "-f", &format!("{}/{tp}", pc.vg)],
                        )?;
                    }
                }
                if report.tags.iter().any(|t| t == POOL_TAG) {
                    lvm(
                        "untag volume group",
                        &pc.vg,
                        &["vgchange", "--deltag", POOL_TAG, &pc.vg],
                    )?;
                }
            }
        }
    }
    if let Some(d) = loop_dev {
        d.detach()?;
    }
    if let Backing::LoopFile(f) = &pc.backing {
        if f.starts_with(pool.lxd_dir.join("disks")) {
            match std::fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io("remove", f, e).into()),
            }
        }
    }
    if mounts::remove_layout(&pool.mount_path)? {
        return Err(LvmError::InUse {
            what: "pool directory",
            name: pool.mount_path.display().to_string(),
            reason: "volume mount points are left in it".into(),
        });
    }
    match std::fs::remove_dir(&pool.mount_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StorageError::io("remove", &pool.mount_path, e).into()),
    }
    tracing::info!(pool = %pool.name, vg = pc.vg, "lvm pool deleted");
    Ok(())
}

/// Whether a logical volume name is one this driver makes (a volume or snapshot).
fn is_lxd_lv(name: &str) -> bool {
    ["containers_", "images_", "custom_", "virtual-machines_"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Makes the pool usable: device-mapper present, the loop device attached (and the volume
/// group activated after a fresh attach), the volume group there, the directories made.
pub fn mount(pool: &PoolInfo) -> Result<()> {
    require_device_mapper(pool)?;
    let pc = PoolConfig::of(pool)?;
    if let Backing::LoopFile(f) = &pc.backing {
        loop_device(f)?;
    }
    if cmd::vg(&pc.vg)?.is_none() {
        return Err(LvmError::NotFound {
            what: "volume group",
            name: pc.vg,
        });
    }
    lvm(
        "activate volume group",
        &pc.vg,
        &["vgchange", "-ay", &pc.vg],
    )?;
    super::volumes::Volumes::new(pool)?.finish_interrupted_restores()?;
    std::fs::create_dir_all(&pool.mount_path)
        .map_err(|e| StorageError::io("create", &pool.mount_path, e))?;
    mounts::create_layout(&pool.mount_path)?;
    Ok(())
}

/// Releases the pool when none of its volumes is mounted: deactivates the volume group and,
/// for a loop file, detaches the loop device. With volumes mounted (instances that outlive the
/// program) it leaves everything as it is.
pub fn unmount(pool: &PoolInfo) -> Result<()> {
    let pc = PoolConfig::of(pool)?;
    let prefix = pool.mount_path.to_string_lossy().into_owned() + "/";
    let busy = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| StorageError::io("read", "/proc/self/mountinfo", e))?
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .any(|m| m.starts_with(&prefix));
    if busy {
        tracing::debug!(pool = %pool.name, "lvm: volumes mounted, pool left active");
        return Ok(());
    }
    if cmd::device_mapper_missing().is_none() && cmd::vg(&pc.vg)?.is_some() {
        lvm(
            "deactivate volume group",
            &pc.vg,
            &["vgchange", "-an", &pc.vg],
        )?;
    }
    if let Backing::LoopFile(f) = &pc.backing {
        if f.exists() {
            if let Some(d) = LoopDevice::find_by_backing_file(f)? {
                d.detach()?;
            }
        }
    }
    Ok(())
}
