//! Dataset names, in LXD's layout under the pool's dataset (`zfs.pool_name`, by default the
//! LXD pool's name): `ROOT/containers/NAME`, `ROOT/custom/NAME`, `ROOT/images/FINGERPRINT`
//! (with its `@readonly` snapshot), snapshots `@snapshot-NAME`, and the hidden
//! `ROOT/deleted/TYPE/...` datasets and `@deleted-...` / `@copy-...` snapshots that clones
//! still depend on.

use std::io::Read;

use lxd_core::store::VolumeType;
use lxd_core::{PoolInfo, VolumeInfo};

use crate::error::{Result, StorageError};

/// The prefix of a user snapshot's name.
pub const SNAPSHOT_PREFIX: &str = "snapshot-";
/// The prefix of the snapshot a clone copy is made from.
pub const COPY_PREFIX: &str = "copy-";
/// The prefix a deleted snapshot that clones still depend on is renamed to.
pub const DELETED_PREFIX: &str = "deleted-";
/// The snapshot of an image dataset that instances are cloned from.
pub const IMAGE_SNAPSHOT: &str = "readonly";
/// The dataset holding what is deleted but still needed by clones.
pub const DELETED: &str = "deleted";

/// The volume types that have a dataset directory.
pub const VOLUME_TYPES: &[VolumeType] = &[
    VolumeType::Container,
    VolumeType::Custom,
    VolumeType::Image,
    VolumeType::VirtualMachine,
];

/// The pool's dataset: `zfs.pool_name`, else the pool's name.
pub fn root(pool: &PoolInfo) -> String {
    pool.config
        .get("zfs.pool_name")
        .filter(|s| !s.is_empty())
        .cloned()
        .unwrap_or_else(|| pool.name.clone())
}

/// The zpool holding `dataset` (its first component).
pub fn zpool_of(dataset: &str) -> &str {
    dataset.split('/').next().unwrap_or(dataset)
}

/// The datasets LXD keeps under the pool's dataset, parents first.
pub fn layout(root: &str) -> Vec<String> {
    let mut v: Vec<String> = VOLUME_TYPES
        .iter()
        .map(|t| format!("{root}/{}", t.dir_name()))
        .collect();
    v.push(format!("{root}/{DELETED}"));
    v.extend(
        VOLUME_TYPES
            .iter()
            .map(|t| format!("{root}/{DELETED}/{}", t.dir_name())),
    );
    v
}

/// The dataset of a volume type: `ROOT/containers`, ...
pub fn type_dataset(root: &str, t: VolumeType) -> String {
    format!("{root}/{}", t.dir_name())
}

/// A volume's dataset.
pub fn volume(root: &str, vol: &VolumeInfo) -> String {
    format!("{}/{}", type_dataset(root, vol.volume_type), vol.name)
}

/// A user snapshot of a volume: `DATASET@snapshot-NAME`.
pub fn snapshot(root: &str, vol: &VolumeInfo, snap: &str) -> String {
    format!("{}@{SNAPSHOT_PREFIX}{snap}", volume(root, vol))
}

/// Where a volume of type `t` goes when it is deleted while clones depend on it.
pub fn deleted(root: &str, t: VolumeType, name: &str) -> String {
    format!("{root}/{DELETED}/{}/{name}", t.dir_name())
}

/// Whether `dataset` is one of the hidden deleted datasets.
pub fn is_deleted(root: &str, dataset: &str) -> bool {
    dataset
        .strip_prefix(root)
        .and_then(|r| r.strip_prefix('/'))
        .and_then(|r| r.strip_prefix(DELETED))
        .is_some_and(|r| r.starts_with('/'))
}

/// A random name (32 hex digits) for hidden datasets and snapshots.
pub fn random() -> Result<String> {
    let mut b = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .map_err(|e| StorageError::io("read", "/dev/urandom", e))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Checks that `name` can be a dataset name component (ZFS allows letters, digits and
/// `_-.:`).
pub fn check_component(key: &str, name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 200
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
    {
        return Err(StorageError::invalid(
            key,
            name,
            "a zfs dataset name may only hold letters, digits and _-.:",
        ));
    }
    Ok(())
}

/// Checks a `zfs.pool_name` or an existing pool `source`: a zpool or a dataset path.
pub fn check_dataset_path(key: &str, name: &str) -> Result<()> {
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Err(StorageError::invalid(
            key,
            name,
            "must be a zfs pool or dataset name",
        ));
    }
    for c in name.split('/') {
        check_component(key, c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_names() {
        let pool = PoolInfo::new("p", Default::default(), std::path::Path::new("/l"));
        assert_eq!(root(&pool), "p");
        let l = layout("tank/lxd");
        assert_eq!(l[0], "tank/lxd/containers");
        assert!(l.contains(&"tank/lxd/deleted".to_string()));
        assert!(l.contains(&"tank/lxd/deleted/images".to_string()));
        let v = VolumeInfo::new(VolumeType::Custom, "data");
        assert_eq!(volume("tank", &v), "tank/custom/data");
        assert_eq!(snapshot("tank", &v, "s1"), "tank/custom/data@snapshot-s1");
        assert!(is_deleted("tank", "tank/deleted/images/abc"));
        assert!(!is_deleted("tank", "tank/deletedx/a"));
        assert!(!is_deleted("tank", "tank/containers/deleted"));
        assert_eq!(zpool_of("tank/lxd"), "tank");
        assert_eq!(random().unwrap().len(), 32);
    }

    #[test]
    fn bad_names() {
        assert!(check_component("name", "c1").is_ok());
        let e = check_component("name", "a@b").unwrap_err().to_string();
        assert!(e.contains("a@b"), "{e}");
        assert!(check_dataset_path("source", "tank/lxd").is_ok());
        assert!(check_dataset_path("source", "/dev/x").is_err());
        assert!(check_dataset_path("source", "tank//x").is_err());
    }
}
