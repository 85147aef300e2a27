//! The configuration keys of zfs pools and volumes (LXD's names) and their checks.

use lxd_core::store::ConfigMap;
use lxd_core::{PoolInfo, VolumeInfo};

use super::names;

/// Pool keys the driver accepts.
pub const POOL_KEYS: &[&str] = &[
    "source",
    "size",
    "zfs.pool_name",
    "zfs.clone_copy",
    "zfs.export",
    "volume.zfs.remove_snapshots",
    "volume.zfs.use_refquota",
    "volatile.initial_source",
];

/// Volume keys the driver accepts.
pub const VOLUME_KEYS: &[&str] = &["size", "zfs.remove_snapshots", "zfs.use_refquota"];

/// LXD's default size of a pool's sparse file when `size` is not given (LXD picks 20% of the
/// free space, at least 5 GiB).
pub const DEFAULT_SIZE: u64 = 5 << 30;

/// The smallest vdev zpool accepts.
pub const MIN_SIZE: u64 = 64 << 20;

fn invalid(msg: String) -> lxd_core::Error {
    lxd_core::Error::Invalid(msg)
}

/// Parses LXD's boolean values.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn check_bool(key: &str, v: &str) -> lxd_core::Result<()> {
    parse_bool(v)
        .map(drop)
        .ok_or_else(|| invalid(format!("Invalid value {v:?} for {key}: must be a boolean")))
}

/// Checks pool keys and values.
pub fn validate_pool(config: &ConfigMap) -> lxd_core::Result<()> {
    for (k, v) in config {
        match k.as_str() {
            "size" => {
                let size = lxd_core::config::units::parse_size(v)
                    .map_err(|e| invalid(format!("Invalid size {v:?}: {e}")))?;
                if size < MIN_SIZE {
                    return Err(invalid(format!(
                        "Invalid size {v:?}: a zfs pool needs at least 64MiB"
                    )));
                }
            }
            "zfs.pool_name" => {
                names::check_dataset_path(k, v).map_err(|e| invalid(e.to_string()))?
            }
            "zfs.clone_copy" if v == "rebase" => {
                return Err(invalid(
                    "Invalid value \"rebase\" for zfs.clone_copy: only true or false are supported"
                        .into(),
                ))
            }
            "zfs.clone_copy"
            | "zfs.export"
            | "volume.zfs.remove_snapshots"
            | "volume.zfs.use_refquota" => check_bool(k, v)?,
            "source" | "volatile.initial_source" => {
                if !v.is_empty() && !v.starts_with('/') {
                    names::check_dataset_path(k, v).map_err(|e| invalid(e.to_string()))?;
                }
            }
            _ => {
                return Err(invalid(format!(
                    "Invalid option for the zfs driver: {k:?} (it has: {})",
                    POOL_KEYS.join(", ")
                )))
            }
        }
    }
    Ok(())
}

/// Checks volume keys and values.
pub fn validate_volume(config: &ConfigMap) -> lxd_core::Result<()> {
    for (k, v) in config {
        match k.as_str() {
            "size" => {
                lxd_core::config::units::parse_size(v)
                    .map_err(|e| invalid(format!("Invalid size {v:?}: {e}")))?;
            }
            "zfs.remove_snapshots" | "zfs.use_refquota" => check_bool(k, v)?,
            _ => {
                return Err(invalid(format!(
                    "Invalid option for a zfs volume: {k:?} (it has: {})",
                    VOLUME_KEYS.join(", ")
                )))
            }
        }
    }
    Ok(())
}

/// A volume key, else the pool's `volume.KEY` default, as a boolean.
fn volume_bool(pool: &PoolInfo, vol: &VolumeInfo, key: &str) -> bool {
    vol.config
        .get(key)
        .or_else(|| pool.config.get(&format!("volume.{key}")))
        .and_then(|v| parse_bool(v))
        .unwrap_or(false)
}

/// `zfs.remove_snapshots`: a restore may destroy the snapshots taken after its target.
pub fn remove_snapshots(pool: &PoolInfo, vol: &VolumeInfo) -> bool {
    volume_bool(pool, vol, "zfs.remove_snapshots")
}

/// `zfs.use_refquota`: `size` limits what the dataset refers to (`refquota`) rather than what
/// it uses with its snapshots (`quota`).
pub fn use_refquota(pool: &PoolInfo, vol: &VolumeInfo) -> bool {
    volume_bool(pool, vol, "zfs.use_refquota")
}

/// `zfs.clone_copy` (default true): copies without snapshots are clones, else
/// `zfs send | zfs receive`.
pub fn clone_copy(pool: &PoolInfo) -> bool {
    pool.config
        .get("zfs.clone_copy")
        .and_then(|v| parse_bool(v))
        .unwrap_or(true)
}

/// `zfs.export` (default true): unmounting the pool exports its zpool.
pub fn export(pool: &PoolInfo) -> bool {
    pool.config
        .get("zfs.export")
        .and_then(|v| parse_bool(v))
        .unwrap_or(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn pool_keys() {
        assert!(validate_pool(&map(&[("size", "1GiB"), ("zfs.clone_copy", "false")])).is_ok());
        let e = validate_pool(&map(&[("size", "lots")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("lots"), "{e}");
        let e = validate_pool(&map(&[("size", "1MiB")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("64MiB"), "{e}");
        let e = validate_pool(&map(&[("zfs.clone_copy", "rebase")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("rebase"), "{e}");
        let e = validate_pool(&map(&[("btrfs.mount_options", "x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("btrfs.mount_options"), "{e}");
        let e = validate_pool(&map(&[("zfs.pool_name", "a@b")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("a@b"), "{e}");
        assert!(validate_pool(&map(&[("source", "tank/lxd")])).is_ok());
        assert!(validate_pool(&map(&[("source", "/dev/sdb")])).is_ok());
    }

    #[test]
    fn volume_keys_and_defaults() {
        assert!(validate_volume(&map(&[("zfs.use_refquota", "true")])).is_ok());
        let e = validate_volume(&map(&[("zfs.use_refquota", "maybe")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("maybe") && e.contains("zfs.use_refquota"), "{e}");
        let pool = PoolInfo::new(
            "p",
            map(&[("volume.zfs.remove_snapshots", "true")]),
            std::path::Path::new("/x"),
        );
        let mut vol = VolumeInfo::new(lxd_core::store::VolumeType::Container, "c");
        assert!(remove_snapshots(&pool, &vol));
        vol.config
            .insert("zfs.remove_snapshots".into(), "false".into());
        assert!(!remove_snapshots(&pool, &vol));
        assert!(!use_refquota(&pool, &vol));
        assert!(clone_copy(&pool) && export(&pool));
    }
}
