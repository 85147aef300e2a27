//! Volume operations on datasets: create, image datasets with their `@readonly` snapshot and
//! the clones made from it, copies (a clone of a `@copy-` snapshot, or `zfs send | zfs
//! receive` for an independent copy and for copies with snapshots), rename, snapshots,
//! restore, quotas and usage.

use std::path::Path;

use lxd_core::store::VolumeType;
use lxd_core::{PoolInfo, VolumeInfo};

use super::cmd::{retry_busy, zfs, zfs_unmounted};
use super::config;
use super::mount;
use super::names::{self, COPY_PREFIX, IMAGE_SNAPSHOT, SNAPSHOT_PREFIX};
use super::probe::Flavor;
use super::{clones, props};
use crate::error::{Result, StorageError};

/// A volume on a pool, with the names the operations need.
pub struct Vol<'a> {
    /// The implementation in use.
    pub flavor: Flavor,
    /// The pool.
    pub pool: &'a PoolInfo,
    /// The volume.
    pub vol: &'a VolumeInfo,
    /// The pool's dataset.
    pub root: String,
    /// The volume's dataset.
    pub dataset: String,
}

fn exists_err(what: &'static str, dataset: &str) -> StorageError {
    StorageError::AlreadyExists {
        what,
        path: dataset.into(),
    }
}

fn missing(what: &str, dataset: &str) -> StorageError {
    StorageError::not_found(what, Path::new(dataset))
}

impl<'a> Vol<'a> {
    /// The volume `vol` of `pool`.
    pub fn new(flavor: Flavor, pool: &'a PoolInfo, vol: &'a VolumeInfo) -> Result<Self> {
        names::check_component("volume name", &vol.name)?;
        let root = names::root(pool);
        let dataset = names::volume(&root, vol);
        Ok(Vol {
            flavor,
            pool,
            vol,
            root,
            dataset,
        })
    }

    fn path(&self) -> std::path::PathBuf {
        self.vol.path(self.pool)
    }

    fn snapshot(&self, snap: &str) -> Result<String> {
        names::check_component("snapshot name", snap)?;
        Ok(names::snapshot(&self.root, self.vol, snap))
    }

    fn create_props(&self) -> Vec<String> {
        mount::create_props(self.flavor, &self.path())
    }

    fn mount(&self) -> Result<()> {
        mount::mount(self.flavor, &self.dataset, &self.path())
    }

    fn unmount(&self) -> Result<()> {
        mount::unmount(self.flavor, &self.dataset, &self.path())
    }

    /// Removes what a failed create left: the dataset and its mount point.
    fn discard(&self) {
        let _ = self.unmount();
        let _ = clones::destroy_and_collect(self.flavor, &self.root, &self.dataset);
        let _ = std::fs::remove_dir(self.path());
    }

    fn ensure_absent(&self) -> Result<()> {
        if props::exists(&self.dataset)? {
            return Err(exists_err("zfs dataset", &self.dataset));
        }
        Ok(())
    }

    /// Creates an empty dataset and mounts it. An image dataset deleted earlier and kept for
    /// its clones is moved out of the way first.
    pub fn create(&self) -> Result<()> {
        self.ensure_absent()?;
        if self.vol.volume_type == VolumeType::Image {
            let old = names::deleted(&self.root, VolumeType::Image, &self.vol.name);
            if props::exists(&old)? {
                let aside = names::deleted(&self.root, VolumeType::Image, &names::random()?);
                zfs_unmounted(&["rename", &old, &aside])?;
            }
        }
        let props = self.create_props();
        let mut args = vec!["create"];
        args.extend(mount::option_args(&props));
        args.push(&self.dataset);
        zfs(&args)?;
        if let Err(e) = self.mount() {
            self.discard();
            return Err(e);
        }
        Ok(())
    }

    /// Seals a filled image dataset: takes the `@readonly` snapshot instances are cloned from
    /// and unmounts it.
    pub fn seal_image(&self) -> Result<()> {
        let snap = format!("{}@{IMAGE_SNAPSHOT}", self.dataset);
        zfs(&["snapshot", &snap])?;
        self.unmount()?;
        if !self.flavor.legacy_mounts() {
            props::set(&self.dataset, &["canmount=noauto"])?;
        }
        Ok(())
    }

    /// Creates the volume as a clone of `image`'s `@readonly` snapshot.
    pub fn clone_image(&self, image: &Vol<'_>) -> Result<()> {
        self.ensure_absent()?;
        let origin = format!("{}@{IMAGE_SNAPSHOT}", image.dataset);
        if !props::exists(&origin)? {
            return Err(missing("image snapshot", &origin));
        }
        self.clone_from(&origin)
    }

    fn clone_from(&self, origin: &str) -> Result<()> {
        let props = self.create_props();
        let mut args = vec!["clone"];
        args.extend(mount::option_args(&props));
        args.push(origin);
        args.push(&self.dataset);
        zfs(&args)?;
        if let Err(e) = self.mount() {
            self.discard();
            return Err(e);
        }
        Ok(())
    }

    /// Creates the volume as a copy of `src` with copies of the snapshots named (oldest
    /// first): a clone when there are none and `zfs.clone_copy` allows it, else a
    /// `zfs send | zfs receive` of each snapshot and of the current state.
    pub fn copy_from(&self, src: &Vol<'_>, snapshots: &[String]) -> Result<()> {
        self.ensure_absent()?;
        if !props::exists(&src.dataset)? {
            return Err(missing("zfs dataset", &src.dataset));
        }
        let temp = format!("{}@{COPY_PREFIX}{}", src.dataset, names::random()?);
        zfs(&["snapshot", &temp])?;
        if snapshots.is_empty() && config::clone_copy(self.pool) {
            // The clone keeps `temp`; it goes when the clone does (see clones.rs).
            if let Err(e) = self.clone_from(&temp) {
                let _ = clones::destroy(self.flavor, &temp, false);
                return Err(e);
            }
            return Ok(());
        }
        let r = self.send_copy(src, snapshots, &temp);
        let _ = clones::destroy(self.flavor, &temp, false);
        if let Err(e) = r {
            self.discard();
            return Err(e);
        }
        Ok(())
    }

    /// Creates the volume as a copy of `src`'s snapshot `snap`, with no snapshots of its own:
    /// a clone of the snapshot when `zfs.clone_copy` allows it, else a `zfs send | zfs
    /// receive` of that snapshot alone.
    pub fn copy_from_snapshot(&self, src: &Vol<'_>, snap: &str) -> Result<()> {
        self.ensure_absent()?;
        let full = src.snapshot(snap)?;
        if !props::exists(&full)? {
            return Err(missing("zfs snapshot", &full));
        }
        if config::clone_copy(self.pool) {
            // The snapshot, now an origin, is hidden rather than destroyed when deleted.
            return self.clone_from(&full);
        }
        let r = (|| -> Result<()> {
            super::cmd::send_receive(&[full.as_str()], &["-u", &self.dataset])?;
            let (_, name) = full.split_once('@').expect("a snapshot");
            clones::destroy(self.flavor, &format!("{}@{name}", self.dataset), false)?;
            let props = self.create_props();
            let refs: Vec<&str> = props.iter().map(String::as_str).collect();
            props::set(&self.dataset, &refs)?;
            self.mount()
        })();
        if let Err(e) = r {
            self.discard();
            return Err(e);
        }
        Ok(())
    }

    fn send_copy(&self, src: &Vol<'_>, snapshots: &[String], temp: &str) -> Result<()> {
        let mut prev: Option<String> = None;
        let mut steps: Vec<String> = Vec::new();
        for s in snapshots {
            let full = src.snapshot(s)?;
            if !props::exists(&full)? {
                return Err(missing("snapshot", &full));
            }
            steps.push(full);
        }
        steps.push(temp.to_string());
        for step in &steps {
            let mut send = Vec::new();
            if let Some(p) = &prev {
                send.extend(["-i", p.as_str()]);
            }
            send.push(step.as_str());
            super::cmd::send_receive(&send, &["-u", &self.dataset])?;
            prev = Some(step.clone());
        }
        let (_, temp_snap) = temp.split_once('@').expect("a snapshot");
        clones::destroy(self.flavor, &format!("{}@{temp_snap}", self.dataset), false)?;
        let props = self.create_props();
        let refs: Vec<&str> = props.iter().map(String::as_str).collect();
        props::set(&self.dataset, &refs)?;
        self.mount()
    }

    /// Deletes the volume (its user snapshots are gone already): destroyed, or hidden in
    /// `deleted/` while clones depend on it.
    pub fn delete(&self) -> Result<()> {
        let path = self.path();
        if props::exists(&self.dataset)? {
            self.unmount()?;
            let hidden_name = if self.vol.volume_type == VolumeType::Image {
                let h = names::deleted(&self.root, VolumeType::Image, &self.vol.name);
                if props::exists(&h)? {
                    names::deleted(&self.root, VolumeType::Image, &names::random()?)
                } else {
                    h
                }
            } else {
                names::deleted(&self.root, self.vol.volume_type, &names::random()?)
            };
            clones::delete_or_hide(self.flavor, &self.root, &self.dataset, &hidden_name)?;
        }
        let _ = std::fs::remove_dir(&path);
        let _ = std::fs::remove_dir(self.vol.snapshots_dir(self.pool));
        Ok(())
    }

    /// Renames the volume's dataset (its snapshots follow) and moves its mount.
    pub fn rename(&self, new_name: &str) -> Result<()> {
        let renamed = VolumeInfo {
            name: new_name.to_string(),
            ..self.vol.clone()
        };
        let to = Vol::new(self.flavor, self.pool, &renamed)?;
        to.ensure_absent()?;
        if !props::exists(&self.dataset)? {
            return Err(missing("zfs dataset", &self.dataset));
        }
        if !self.flavor.legacy_mounts() {
            // zfs-fuse cannot rename a dataset while a clone of it is mounted.
            clones::release_dependents(&self.root, &self.dataset)?;
        }
        self.unmount()?;
        if let Err(e) = retry_busy(
            || zfs_unmounted(&["rename", &self.dataset, &to.dataset]),
            || {},
        ) {
            let _ = self.mount();
            return Err(e);
        }
        if let Err(e) = to.mount() {
            let _ = to.unmount();
            let _ = zfs_unmounted(&["rename", &to.dataset, &self.dataset]);
            let _ = self.mount();
            return Err(e);
        }
        let _ = std::fs::remove_dir(self.vol.snapshots_dir(self.pool));
        Ok(())
    }

    /// Takes a snapshot.
    pub fn create_snapshot(&self, snap: &str) -> Result<()> {
        let full = self.snapshot(snap)?;
        if props::exists(&full)? {
            return Err(exists_err("zfs snapshot", &full));
        }
        zfs(&["snapshot", &full])?;
        Ok(())
    }

    /// Deletes a snapshot (hidden while clones depend on it).
    pub fn delete_snapshot(&self, snap: &str) -> Result<()> {
        let full = self.snapshot(snap)?;
        clones::delete_snapshot(self.flavor, &self.root, &full)
    }

    /// Renames a snapshot.
    pub fn rename_snapshot(&self, snap: &str, new_name: &str) -> Result<()> {
        let (from, to) = (self.snapshot(snap)?, self.snapshot(new_name)?);
        if props::exists(&to)? {
            return Err(exists_err("zfs snapshot", &to));
        }
        if !props::exists(&from)? {
            return Err(missing("zfs snapshot", &from));
        }
        zfs_unmounted(&["rename", &from, &to])?;
        Ok(())
    }

    /// The user snapshots taken after `snap`, which a rollback to it destroys; an error when
    /// there are some and `zfs.remove_snapshots` is not set.
    pub fn later_snapshots(&self, snap: &str) -> Result<Vec<String>> {
        let full = self.snapshot(snap)?;
        let all = props::user_snapshots(&self.dataset)?;
        let Some(i) = all.iter().position(|s| s == snap) else {
            return Err(missing("zfs snapshot", &full));
        };
        let later = all[i + 1..].to_vec();
        if !later.is_empty() && !config::remove_snapshots(self.pool, self.vol) {
            return Err(StorageError::invalid(
                "snapshot",
                snap,
                format!(
                    "Snapshot {snap:?} cannot be restored due to subsequent snapshot(s) ({}). \
                     Set zfs.remove_snapshots to override",
                    later.join(", ")
                ),
            ));
        }
        Ok(later)
    }

    /// Rolls the volume back to a snapshot. Later user snapshots must be gone already (see
    /// [`Vol::later_snapshots`]); later hidden snapshots go with the rollback unless a copy
    /// still depends on them.
    pub fn restore(&self, snap: &str) -> Result<()> {
        let full = self.snapshot(snap)?;
        let all = props::snapshots(&self.dataset)?;
        let target = format!("{SNAPSHOT_PREFIX}{snap}");
        let Some(i) = all.iter().position(|s| *s == target) else {
            return Err(missing("zfs snapshot", &full));
        };
        let later = &all[i + 1..];
        let users: Vec<&str> = later
            .iter()
            .filter_map(|s| s.strip_prefix(SNAPSHOT_PREFIX))
            .collect();
        if !users.is_empty() {
            return Err(StorageError::invalid(
                "snapshot",
                snap,
                format!(
                    "Snapshot {snap:?} cannot be restored due to subsequent snapshot(s) ({}). \
                     Set zfs.remove_snapshots to override",
                    users.join(", ")
                ),
            ));
        }
        for s in later {
            let dependents = props::clones_of(&self.root, &format!("{}@{s}", self.dataset))?;
            if !dependents.is_empty() {
                return Err(StorageError::InUse {
                    path: full.clone().into(),
                    reason: format!(
                        "cannot roll back past @{s}: the clones {} depend on it (delete them, or copy with zfs.clone_copy=false)",
                        dependents.join(", ")
                    ),
                });
            }
        }
        retry_busy(|| zfs(&["rollback", "-r", &full]), || {})?;
        Ok(())
    }

    /// Sets or removes the size limit: `refquota` with `zfs.use_refquota`, else `quota`.
    pub fn set_quota(&self, size: Option<u64>) -> Result<()> {
        let (key, other) = if config::use_refquota(self.pool, self.vol) {
            ("refquota", "quota")
        } else {
            ("quota", "refquota")
        };
        let value = match size {
            Some(n) if n > 0 => n.to_string(),
            _ => "none".into(),
        };
        if props::get_u64(&self.dataset, other)? != 0 {
            zfs(&["set", &format!("{other}=none"), &self.dataset])?;
        }
        zfs(&["set", &format!("{key}={value}"), &self.dataset])?;
        Ok(())
    }

    /// Bytes used: `referenced` when a `refquota` limits the dataset, else `used` (with its
    /// snapshots), as LXD reports them.
    pub fn usage(&self) -> Result<u64> {
        if props::get_u64(&self.dataset, "refquota")? > 0 {
            props::get_u64(&self.dataset, "referenced")
        } else {
            props::get_u64(&self.dataset, "used")
        }
    }

    /// Mounts the volume (idempotent); returns its path.
    pub fn mount_volume(&self) -> Result<std::path::PathBuf> {
        if !props::exists(&self.dataset)? {
            return Err(missing("zfs dataset", &self.dataset));
        }
        self.mount()?;
        Ok(self.path())
    }
}

/// The volumes of a type on the pool (their datasets' names).
pub fn list(pool: &PoolInfo, t: VolumeType) -> Result<Vec<String>> {
    let parent = names::type_dataset(&names::root(pool), t);
    if !props::exists(&parent)? {
        return Ok(Vec::new());
    }
    let mut v: Vec<String> = props::children(&parent)?
        .into_iter()
        .filter_map(|d| d.rsplit('/').next().map(str::to_string))
        .collect();
    v.sort();
    Ok(v)
}
