//! A zfs pool's life: creating it on a sparse file (`$LXD_DIR/disks/NAME.img`), a block
//! device or an existing zpool or dataset, with LXD's datasets in it; importing and mounting it
//! when LXD starts; exporting it; destroying it.

use std::path::{Path, PathBuf};

use lxd_core::store::{ConfigMap, VolumeType};
use lxd_core::{PoolInfo, VolumeInfo};

use super::cmd::{retry_busy, zfs, zpool};
use super::config::{self, DEFAULT_SIZE};
use super::mount;
use super::names;
use super::probe::Flavor;
use super::{clones, props};
use crate::error::{Result, StorageError};
use crate::loopdev::create_sparse_file;
use crate::mounts;

/// What pool creation made, so a failure removes exactly that.
#[derive(Default)]
struct Made {
    file: Option<PathBuf>,
    zpool: Option<String>,
    dataset: Option<String>,
    layout: Vec<String>,
}

impl Made {
    fn undo(&self, flavor: Flavor) {
        for ds in self.layout.iter().rev() {
            let _ = clones::destroy(flavor, ds, true);
        }
        if let Some(ds) = &self.dataset {
            let _ = clones::destroy(flavor, ds, true);
        }
        if let Some(z) = &self.zpool {
            let _ = destroy_zpool(z);
        }
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(f);
        }
    }
}

fn destroy_zpool(name: &str) -> Result<()> {
    retry_busy(|| zpool(&["destroy", "-f", name]), || {})?;
    Ok(())
}

fn clash(name: &str) -> StorageError {
    StorageError::invalid(
        "zfs.pool_name",
        name,
        "a zfs pool of that name already exists on this host (set zfs.pool_name to another name)",
    )
}

/// The properties of the pool's dataset: LXD's (exec, setuid, devices, POSIX ACLs and xattrs
/// in the inode on OpenZFS; zfs-fuse has only plain xattrs), never mounted itself.
fn root_props(flavor: Flavor) -> &'static [&'static str] {
    if flavor.legacy_mounts() {
        &[
            "mountpoint=legacy",
            "setuid=on",
            "exec=on",
            "devices=on",
            "acltype=posixacl",
            "xattr=sa",
        ]
    } else {
        &[
            "mountpoint=none",
            "setuid=on",
            "exec=on",
            "devices=on",
            "xattr=on",
        ]
    }
}

fn create_zpool(name: &str, vdev: &str) -> Result<()> {
    zpool(&[
        "create",
        "-f",
        "-o",
        "cachefile=none",
        "-m",
        "none",
        "-O",
        "compression=on",
        name,
        vdev,
    ])?;
    Ok(())
}

/// Creates the pool; returns its configuration with `source`, `size` and `zfs.pool_name`
/// filled in (LXD's values).
pub fn create(flavor: Flavor, pool: &PoolInfo) -> Result<ConfigMap> {
    let mut config = pool.config.clone();
    let source = config.get("source").filter(|s| !s.is_empty()).cloned();
    config
        .entry("volatile.initial_source".into())
        .or_insert_with(|| source.clone().unwrap_or_default());
    let loop_file = pool.loop_file();
    let mut made = Made::default();
    let r = (|| -> Result<()> {
        let root = match source.as_deref() {
            None => create_on_file(pool, &mut config, &loop_file, &mut made)?,
            Some(s) if Path::new(s) == loop_file => {
                create_on_file(pool, &mut config, &loop_file, &mut made)?
            }
            Some(s) if s.starts_with('/') => create_on_device(pool, &mut config, s, &mut made)?,
            Some(s) => use_existing(flavor, &mut config, s, &mut made)?,
        };
        props::set(&root, root_props(flavor))?;
        for ds in names::layout(&root) {
            let mp = if flavor.legacy_mounts() {
                "mountpoint=legacy"
            } else {
                "mountpoint=none"
            };
            zfs(&["create", "-o", mp, &ds])?;
            made.layout.push(ds);
        }
        mounts::create_layout(&pool.mount_path)?;
        tracing::info!(
            pool = pool.name,
            dataset = root,
            flavor = flavor.name(),
            "zfs pool created"
        );
        Ok(())
    })();
    if let Err(e) = r {
        made.undo(flavor);
        let _ = mounts::remove_layout(&pool.mount_path);
        let _ = std::fs::remove_dir(&pool.mount_path);
        return Err(e);
    }
    Ok(config)
}

fn pool_name_for_new_zpool(pool: &PoolInfo, config: &mut ConfigMap) -> Result<String> {
    let name = config
        .get("zfs.pool_name")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| pool.name.clone());
    if name.contains('/') {
        return Err(StorageError::invalid(
            "zfs.pool_name",
            name,
            "can't point to a dataset when source isn't an existing zpool",
        ));
    }
    names::check_component("zfs.pool_name", &name)?;
    if props::zpool_imported(&name)? {
        return Err(clash(&name));
    }
    config.insert("zfs.pool_name".into(), name.clone());
    Ok(name)
}

fn create_on_file(
    pool: &PoolInfo,
    config: &mut ConfigMap,
    file: &Path,
    made: &mut Made,
) -> Result<String> {
    let name = pool_name_for_new_zpool(pool, config)?;
    if file.exists() {
        return Err(StorageError::AlreadyExists {
            what: "pool loop file",
            path: file.to_path_buf(),
        });
    }
    let size = match config.get("size").filter(|s| !s.is_empty()) {
        Some(s) => lxd_core::config::units::parse_size(s)
            .map_err(|e| StorageError::invalid("size", s.clone(), e))?,
        None => DEFAULT_SIZE,
    };
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent).map_err(|e| StorageError::io("create", parent, e))?;
    }
    create_sparse_file(file, size)?;
    made.file = Some(file.to_path_buf());
    create_zpool(&name, &file.to_string_lossy())?;
    made.zpool = Some(name.clone());
    config.insert("source".into(), file.display().to_string());
    config.insert("size".into(), lxd_core::config::units::format_size(size));
    Ok(name)
}

fn create_on_device(
    pool: &PoolInfo,
    config: &mut ConfigMap,
    dev: &str,
    made: &mut Made,
) -> Result<String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(dev) {
        Ok(m) if m.file_type().is_block_device() => {}
        Ok(_) => {
            return Err(StorageError::invalid(
                "source",
                dev,
                "is not a block device (custom loop file locations are not supported)",
            ))
        }
        Err(e) => return Err(StorageError::io("stat source", dev, e)),
    }
    let name = pool_name_for_new_zpool(pool, config)?;
    create_zpool(&name, dev)?;
    made.zpool = Some(name.clone());
    // As LXD: the zpool is found again by its name, not by the device's path.
    config.insert("source".into(), name.clone());
    config.remove("size");
    Ok(name)
}

fn use_existing(
    flavor: Flavor,
    config: &mut ConfigMap,
    source: &str,
    made: &mut Made,
) -> Result<String> {
    names::check_dataset_path("source", source)?;
    let name = config
        .get("zfs.pool_name")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| source.to_string());
    if name != source {
        return Err(StorageError::invalid(
            "zfs.pool_name",
            name,
            format!("must match source ({source}) when source names an existing zpool or dataset"),
        ));
    }
    let zp = names::zpool_of(source);
    if !props::zpool_imported(zp)? {
        zpool(&["import", "-o", "cachefile=none", zp]).map_err(|e| {
            StorageError::invalid(
                "source",
                source,
                format!(
                    "no zfs pool {zp:?} is imported or can be imported ({})",
                    super::cmd::stderr_of(&e)
                ),
            )
        })?;
    }
    if source.contains('/') && !props::exists(source)? {
        let mp = if flavor.legacy_mounts() {
            "mountpoint=legacy"
        } else {
            "mountpoint=none"
        };
        zfs(&["create", "-p", "-o", mp, source])?;
        made.dataset = Some(source.to_string());
    }
    let children = props::children(source)?;
    if !children.is_empty() {
        return Err(StorageError::InUse {
            path: PathBuf::from(source),
            reason: format!(
                "the zfs pool or dataset is not empty (it holds {})",
                children.join(", ")
            ),
        });
    }
    config.insert("zfs.pool_name".into(), source.to_string());
    config.remove("size");
    Ok(source.to_string())
}

/// Imports the pool's zpool if it is not, and mounts its volumes (idempotent).
pub fn mount(flavor: Flavor, pool: &PoolInfo) -> Result<()> {
    let root = names::root(pool);
    if !props::exists(&root)? {
        let zp = names::zpool_of(&root);
        if props::zpool_imported(zp)? {
            return Err(StorageError::not_found(
                format!("zfs dataset of pool {} (zpool {zp} is imported)", pool.name),
                Path::new(&root),
            ));
        }
        // Mounts left by a zfs-fuse daemon that went away are stale.
        mount::unmount_below(&pool.mount_path)?;
        let source = pool.config.get("source").cloned().unwrap_or_default();
        let mut args = vec!["import", "-f", "-o", "cachefile=none"];
        let dir;
        if source.starts_with('/') {
            dir = Path::new(&source)
                .parent()
                .unwrap_or(Path::new("/"))
                .display()
                .to_string();
            args.extend(["-d", dir.as_str()]);
        }
        args.push(zp);
        zpool(&args)?;
        if !props::exists(&root)? {
            return Err(StorageError::not_found(
                format!("zfs dataset of pool {}", pool.name),
                Path::new(&root),
            ));
        }
        tracing::info!(pool = pool.name, zpool = zp, "zfs pool imported");
    }
    mounts::create_layout(&pool.mount_path)?;
    for t in [
        VolumeType::Container,
        VolumeType::Custom,
        VolumeType::VirtualMachine,
    ] {
        let parent = names::type_dataset(&root, t);
        if !props::exists(&parent)? {
            continue;
        }
        for ds in props::children(&parent)? {
            let name = ds.rsplit('/').next().unwrap_or(&ds);
            let vol = VolumeInfo::new(t, name);
            mount::mount(flavor, &ds, &vol.path(pool))?;
        }
    }
    Ok(())
}

/// Unmounts the pool's volumes and exports its zpool (when the pool owns a whole zpool and
/// `zfs.export` is not false).
pub fn unmount(flavor: Flavor, pool: &PoolInfo) -> Result<()> {
    let root = names::root(pool);
    if props::exists(&root)? {
        for ds in props::descendants(&root)?.iter().rev() {
            if let Some(vol) = volume_of(&root, ds) {
                mount::unmount(flavor, ds, &vol.path(pool))?;
            }
        }
        if !root.contains('/') && config::export(pool) {
            retry_busy(|| zpool(&["export", &root]), || {})?;
            tracing::info!(pool = pool.name, zpool = root, "zfs pool exported");
        }
    }
    mount::unmount_below(&pool.mount_path)
}

/// The volume a dataset is, if it is one (`ROOT/TYPE/NAME`).
fn volume_of(root: &str, ds: &str) -> Option<VolumeInfo> {
    let rest = ds.strip_prefix(root)?.strip_prefix('/')?;
    let (dir, name) = rest.split_once('/')?;
    if name.contains('/') {
        return None;
    }
    let t = names::VOLUME_TYPES
        .iter()
        .find(|t| t.dir_name() == dir)
        .copied()?;
    Some(VolumeInfo::new(t, name))
}

/// Destroys an empty pool: its zpool (or dataset, when it was given one), the directories and
/// the sparse file it made. Hidden datasets no clone needs any more go first.
pub fn delete(flavor: Flavor, pool: &PoolInfo) -> Result<()> {
    let root = names::root(pool);
    let present = match mount(flavor, pool) {
        Ok(()) => true,
        Err(e) => {
            // A pool whose zpool is gone (its file removed) can still be deleted.
            if props::exists(&root).unwrap_or(false) {
                return Err(e);
            }
            tracing::warn!(
                pool = pool.name,
                "deleting a zfs pool whose dataset cannot be found: {e}"
            );
            false
        }
    };
    if present {
        clones::collect_deleted(flavor, &root)?;
        let layout = names::layout(&root);
        let left: Vec<String> = props::descendants(&root)?
            .into_iter()
            .filter(|d| !layout.contains(d))
            .collect();
        if !left.is_empty() {
            return Err(StorageError::InUse {
                path: pool.mount_path.clone(),
                reason: format!("the zfs pool has leftover datasets: {}", left.join(", ")),
            });
        }
        mount::unmount_below(&pool.mount_path)?;
        if root.contains('/') {
            clones::destroy(flavor, &root, true)?;
        } else {
            destroy_zpool(&root)?;
        }
    }
    if mounts::remove_layout(&pool.mount_path)? {
        return Err(StorageError::InUse {
            path: pool.mount_path.clone(),
            reason: "files are left in the pool's directories".into(),
        });
    }
    let _ = std::fs::remove_dir(&pool.mount_path);
    let file = pool.loop_file();
    if pool.config.get("source").map(PathBuf::from) == Some(file.clone()) {
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io("remove", &file, e)),
        }
    }
    tracing::info!(pool = pool.name, dataset = root, "zfs pool deleted");
    Ok(())
}
