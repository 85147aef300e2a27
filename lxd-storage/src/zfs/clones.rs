//! LXD's "dependent clones": a dataset or snapshot that clones were made from cannot be
//! destroyed while they exist, yet the user's delete must succeed.
//!
//! On OpenZFS, as LXD does, a volume with dependent clones is renamed into the hidden
//! `ROOT/deleted/TYPE/` dataset and a snapshot to `@deleted-...`; when the last clone goes,
//! what it came from is destroyed too, up the chain.
//!
//! zfs-fuse cannot rename a dataset while a clone of it is mounted ("dataset is busy"), and
//! volumes stay mounted. There the newest dependent clone is promoted instead (`zfs promote`
//! hands it the snapshots clones depend on), which leaves the volume free of dependents: it is
//! destroyed, or renamed. The snapshots that moved are hidden ones and go when their last
//! clone does.

use super::cmd::{is_missing, retry_busy, stderr_of, zfs, zfs_unmounted};
use super::mount;
use super::names::{self, COPY_PREFIX, DELETED_PREFIX, IMAGE_SNAPSHOT, SNAPSHOT_PREFIX};
use super::probe::Flavor;
use super::props;
use crate::error::Result;
use lxd_core::store::VolumeType;

/// Destroys `dataset` (a filesystem with its snapshots, or one snapshot), retrying while
/// zfs-fuse reports it busy (unmounting it again between attempts).
pub fn destroy(flavor: Flavor, dataset: &str, recursive: bool) -> Result<()> {
    let mut args = vec!["destroy"];
    if recursive {
        args.push("-r");
    }
    args.push(dataset);
    let r = retry_busy(
        || zfs(&args),
        || {
            if !flavor.legacy_mounts() && !dataset.contains('@') {
                let _ = zfs(&["umount", "-f", dataset]);
            }
        },
    );
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_missing(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Destroys a filesystem that no clone depends on, with its snapshots, then whatever hidden
/// origin only it still needed.
pub fn destroy_and_collect(flavor: Flavor, root: &str, dataset: &str) -> Result<()> {
    let origin = match props::get(dataset, "origin") {
        Ok(o) => o,
        Err(e) if is_missing(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    destroy(flavor, dataset, true)?;
    tracing::debug!(dataset, "destroyed");
    collect_origin(flavor, root, &origin)
}

/// Whether a snapshot is one the user does not see: not `@snapshot-...`, and not the
/// `@readonly` snapshot of a live image dataset (a `@readonly` that a promote moved to an
/// instance is hidden).
fn hidden_snapshot(root: &str, parent: &str, snap: &str) -> bool {
    if snap.starts_with(SNAPSHOT_PREFIX) {
        return false;
    }
    if snap == IMAGE_SNAPSHOT {
        let images = format!("{}/", names::type_dataset(root, VolumeType::Image));
        return !parent.starts_with(&images);
    }
    snap.starts_with(COPY_PREFIX) || snap.starts_with(DELETED_PREFIX)
}

/// After a clone of `origin` is gone: destroys `origin` if it is hidden (a deleted dataset's
/// snapshot, a `@copy-`/`@deleted-` snapshot) and nothing else depends on it.
pub fn collect_origin(flavor: Flavor, root: &str, origin: &str) -> Result<()> {
    let Some((parent, snap)) = origin.split_once('@') else {
        return Ok(());
    };
    if names::is_deleted(root, parent) {
        if props::clones_of(root, parent)?.is_empty() {
            tracing::info!(
                dataset = parent,
                "destroying a deleted dataset whose last clone is gone"
            );
            return destroy_and_collect(flavor, root, parent);
        }
    } else if hidden_snapshot(root, parent, snap) && props::clones_of(root, origin)?.is_empty() {
        tracing::debug!(
            snapshot = origin,
            "destroying a hidden snapshot no clone needs"
        );
        destroy(flavor, origin, false)?;
    }
    Ok(())
}

/// Hands the snapshots of `dataset` that clones depend on over to the clone of the newest of
/// them (`zfs promote`), so that nothing depends on `dataset` any more; it becomes a clone of
/// that snapshot. Returns whether there was anything to hand over.
pub fn release_dependents(root: &str, dataset: &str) -> Result<bool> {
    let origins = props::origins(root)?;
    let mut newest = None;
    for snap in props::snapshots(dataset)? {
        let full = format!("{dataset}@{snap}");
        if let Some(c) = props::clones_in(&origins, &full).into_iter().next() {
            newest = Some(c);
        }
    }
    let Some(clone) = newest else {
        return Ok(false);
    };
    retry_busy(|| zfs_unmounted(&["promote", &clone]), || {})?;
    tracing::info!(dataset, clone, "promoted the clone that depended on it");
    Ok(true)
}

/// Deletes a volume's dataset: destroyed (with what only it needed) when no clone depends on
/// it; else its snapshots that no clone needs are destroyed and it is moved to `hidden`
/// (OpenZFS), or its dependents are handed to a clone and it is destroyed (zfs-fuse).
pub fn delete_or_hide(flavor: Flavor, root: &str, dataset: &str, hidden: &str) -> Result<()> {
    if !props::exists(dataset)? {
        return Ok(());
    }
    let origins = props::origins(root)?;
    let clones = props::clones_in(&origins, dataset);
    if clones.is_empty() {
        return destroy_and_collect(flavor, root, dataset);
    }
    for snap in props::snapshots(dataset)? {
        let full = format!("{dataset}@{snap}");
        if props::clones_in(&origins, &full).is_empty() {
            destroy(flavor, &full, false)?;
        }
    }
    if !flavor.legacy_mounts() {
        release_dependents(root, dataset)?;
        return destroy_and_collect(flavor, root, dataset);
    }
    mount::detach(flavor, dataset)?;
    retry_busy(|| zfs_unmounted(&["rename", dataset, hidden]), || {})?;
    tracing::info!(
        dataset,
        hidden,
        ?clones,
        "kept hidden while clones depend on it"
    );
    Ok(())
}

/// Deletes a snapshot: destroyed when no clone depends on it, else renamed to a hidden
/// `@deleted-...` name. The rename runs where no dataset is mounted (zfs-fuse's would unmount
/// and remount the clones); should a clone be unmounted all the same, it is mounted again.
pub fn delete_snapshot(flavor: Flavor, root: &str, full: &str) -> Result<()> {
    if !props::exists(full)? {
        return Ok(());
    }
    let clones = props::clones_of(root, full)?;
    if clones.is_empty() {
        return destroy(flavor, full, false);
    }
    let (dataset, _) = full.split_once('@').expect("a snapshot name");
    let hidden = format!("{dataset}@{DELETED_PREFIX}{}", names::random()?);
    let was_mounted: Vec<(String, String)> = if flavor.legacy_mounts() {
        Vec::new()
    } else {
        clones
            .iter()
            .filter(|c| props::get(c, "mounted").is_ok_and(|m| m == "yes"))
            .filter_map(|c| Some((c.clone(), props::get(c, "mountpoint").ok()?)))
            .collect()
    };
    if let Err(e) = zfs_unmounted(&["rename", full, &hidden]) {
        // Should zfs-fuse remount the clones and fail to, the rename is done all the same.
        if !props::exists(&hidden)? {
            return Err(e);
        }
        tracing::debug!("snapshot renamed; {}", stderr_of(&e));
    }
    for (clone, path) in was_mounted {
        mount::mount(flavor, &clone, std::path::Path::new(&path))?;
    }
    tracing::info!(
        snapshot = full,
        hidden,
        ?clones,
        "kept hidden while clones depend on it"
    );
    Ok(())
}

/// Destroys the hidden datasets below `ROOT/deleted` that no clone depends on any more (what
/// an interrupted delete left).
pub fn collect_deleted(flavor: Flavor, root: &str) -> Result<()> {
    for t in names::VOLUME_TYPES {
        let dir = names::deleted(root, *t, "");
        let dir = dir.trim_end_matches('/');
        if !props::exists(dir)? {
            continue;
        }
        for ds in props::children(dir)? {
            if props::clones_of(root, &ds)?.is_empty() {
                destroy_and_collect(flavor, root, &ds)?;
            }
        }
    }
    Ok(())
}
