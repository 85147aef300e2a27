//! The configuration of an `lvm` pool and its volumes, with LXD's keys and defaults: the
//! volume group (`lvm.vg_name`, the pool's name by default), the thin pool
//! (`lvm.use_thinpool`, default true; `lvm.thinpool_name`, default `LXDThinPool`), and what
//! new volumes get (`volume.size`, default 10GiB; `volume.block.filesystem`, default ext4;
//! `volume.block.mount_options`, default `discard`).

use std::path::{Path, PathBuf};

use lxd_core::config::units::parse_size;
use lxd_core::store::ConfigMap;
use lxd_core::{PoolInfo, VolumeInfo};

use super::error::{LvmError, Result};
use super::fs::Fs;
use super::names::{check_lv_name, check_vg_name, DEFAULT_THINPOOL};

/// Pool keys the driver accepts.
pub const POOL_KEYS: &[&str] = &[
    "source",
    "size",
    "lvm.vg_name",
    "lvm.thinpool_name",
    "lvm.use_thinpool",
    "lvm.thinpool_metadata_size",
    "lvm.vg.force_reuse",
    "volume.size",
    "volume.block.filesystem",
    "volume.block.mount_options",
    "volatile.initial_source",
];

/// Volume keys the driver accepts.
pub const VOLUME_KEYS: &[&str] = &["size", "block.filesystem"];

/// LXD's size of a volume without `size` or `volume.size`.
pub const DEFAULT_VOLUME_SIZE: u64 = 10 << 30;

/// The loop file's size when `size` is not given (the btrfs driver's default; the file is
/// sparse).
pub const DEFAULT_POOL_SIZE: u64 = 5 << 30;

/// LXD's mount options for volumes.
pub const DEFAULT_MOUNT_OPTIONS: &str = "discard";

/// What backs a pool's volume group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backing {
    /// A loop file the driver made (`source` is its path).
    LoopFile(PathBuf),
    /// A block device the driver made the volume group on.
    Device(PathBuf),
    /// A volume group that existed before the pool.
    ExistingVg,
}

/// A pool's settings, resolved.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The volume group.
    pub vg: String,
    /// The thin pool, when the pool uses one.
    pub thinpool: Option<String>,
    /// What backs the volume group.
    pub backing: Backing,
    /// Size of a new volume without its own `size`.
    pub volume_size: u64,
    /// Filesystem of a new volume without its own `block.filesystem`.
    pub filesystem: Fs,
    /// Mount options of volumes.
    pub mount_options: String,
}

fn is_true(key: &str, v: &str) -> Result<bool> {
    match v {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(LvmError::invalid(key, v, "must be true or false")),
    }
}

fn size(key: &str, v: &str) -> Result<u64> {
    let n = parse_size(v).map_err(|e| LvmError::invalid(key, v, e))?;
    if n == 0 {
        return Err(LvmError::invalid(key, v, "must be more than 0"));
    }
    Ok(n)
}

/// Checks pool keys and values (before anything is made).
pub fn validate_pool(config: &ConfigMap) -> Result<()> {
    for (k, v) in config {
        match k.as_str() {
            "size" | "volume.size" | "lvm.thinpool_metadata_size" => {
                size(k, v)?;
            }
            "lvm.use_thinpool" | "lvm.vg.force_reuse" => {
                is_true(k, v)?;
            }
            "lvm.vg_name" => check_vg_name(k, v)?,
            "lvm.thinpool_name" => check_lv_name(k, "vg", v)?,
            "volume.block.filesystem" => {
                Fs::parse(k, v)?;
            }
            "source" => {
                if !v.is_empty() && !v.starts_with('/') {
                    check_vg_name(k, v)?;
                }
            }
            _ if POOL_KEYS.contains(&k.as_str()) => {}
            _ => {
                return Err(LvmError::invalid(
                    k,
                    v,
                    format!(
                        "not an option of the lvm driver (it has: {})",
                        POOL_KEYS.join(", ")
                    ),
                ))
            }
        }
    }
    if let Some(v) = config.get("lvm.use_thinpool") {
        if !is_true("lvm.use_thinpool", v)? && config.contains_key("lvm.thinpool_name") {
            return Err(LvmError::invalid(
                "lvm.use_thinpool",
                v,
                "cannot be false when lvm.thinpool_name is set",
            ));
        }
    }
    if let (Some(src), Some(vg)) = (config.get("source"), config.get("lvm.vg_name")) {
        if !src.is_empty() && !src.starts_with('/') && src != vg {
            return Err(LvmError::invalid(
                "lvm.vg_name",
                vg,
                format!("the source {src:?} names another volume group"),
            ));
        }
    }
    Ok(())
}

/// Checks volume keys and values.
pub fn validate_volume(config: &ConfigMap) -> Result<()> {
    for (k, v) in config {
        match k.as_str() {
            "size" => {
                size(k, v)?;
            }
            "block.filesystem" => {
                Fs::parse(k, v)?;
            }
            _ => {
                return Err(LvmError::invalid(
                    k,
                    v,
                    format!(
                        "not an option of an lvm volume (it has: {}; mount options are the pool's volume.block.mount_options)",
                        VOLUME_KEYS.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(())
}

/// Whether the pool uses a thin pool (`lvm.use_thinpool`, default true).
pub fn uses_thinpool(config: &ConfigMap) -> Result<bool> {
    config
        .get("lvm.use_thinpool")
        .map_or(Ok(true), |v| is_true("lvm.use_thinpool", v))
}

impl PoolConfig {
    /// Resolves the settings of a created (or being created) pool.
    pub fn of(pool: &PoolInfo) -> Result<PoolConfig> {
        let c = &pool.config;
        let source = c.get("source").map(String::as_str).unwrap_or("");
        let initial = c
            .get("volatile.initial_source")
            .map(String::as_str)
            .unwrap_or(source);
        let vg = match c.get("lvm.vg_name") {
            Some(v) => v.clone(),
            None if !source.is_empty() && !source.starts_with('/') => source.to_string(),
            None => pool.name.clone(),
        };
        check_vg_name("lvm.vg_name", &vg)?;
        let backing = if source.is_empty() || source == pool.loop_file().to_string_lossy() {
            Backing::LoopFile(pool.loop_file())
        } else if source.starts_with('/') {
            if Path::new(source).is_file() || !is_block_device(Path::new(source)) {
                Backing::LoopFile(PathBuf::from(source))
            } else {
                Backing::Device(PathBuf::from(source))
            }
        } else if initial.starts_with('/') {
            Backing::Device(PathBuf::from(initial))
        } else {
            Backing::ExistingVg
        };
        let thinpool = if uses_thinpool(c)? {
            let t = c
                .get("lvm.thinpool_name")
                .cloned()
                .unwrap_or_else(|| DEFAULT_THINPOOL.to_string());
            check_lv_name("lvm.thinpool_name", &vg, &t)?;
            Some(t)
        } else {
            None
        };
        Ok(PoolConfig {
            vg,
            thinpool,
            backing,
            volume_size: c
                .get("volume.size")
                .map_or(Ok(DEFAULT_VOLUME_SIZE), |v| size("volume.size", v))?,
            filesystem: c
                .get("volume.block.filesystem")
                .map_or(Ok(Fs::Ext4), |v| Fs::parse("volume.block.filesystem", v))?,
            mount_options: c
                .get("volume.block.mount_options")
                .cloned()
                .unwrap_or_else(|| DEFAULT_MOUNT_OPTIONS.to_string()),
        })
    }

    /// The size a new volume gets, rounded down to LVM's 512-byte unit.
    pub fn volume_size(&self, vol: &VolumeInfo) -> Result<u64> {
        let n = match vol.config.get("size") {
            Some(v) => size("size", v)?,
            None => self.volume_size,
        };
        round_size("size", n)
    }

    /// The filesystem a new volume gets.
    pub fn volume_filesystem(&self, vol: &VolumeInfo) -> Result<Fs> {
        vol.config
            .get("block.filesystem")
            .map_or(Ok(self.filesystem), |v| Fs::parse("block.filesystem", v))
    }

    /// `VG/THINPOOL`, when the pool uses one.
    pub fn thinpool_path(&self) -> Option<String> {
        self.thinpool.as_ref().map(|t| format!("{}/{t}", self.vg))
    }
}

/// Rounds a size down to a multiple of 512 bytes, as the LVM tools need.
pub fn round_size(key: &str, n: u64) -> Result<u64> {
    let r = n / 512 * 512;
    if r == 0 {
        return Err(LvmError::invalid(
            key,
            n.to_string(),
            "a logical volume needs at least 512 bytes",
        ));
    }
    Ok(r)
}

/// Whether `p` is a block device.
pub fn is_block_device(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device())
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
    fn validates_keys() {
        validate_pool(&map(&[
            ("size", "2GiB"),
            ("lvm.vg_name", "vg0"),
            ("lvm.thinpool_name", "tp"),
            ("volume.block.filesystem", "xfs"),
        ]))
        .unwrap();
        for (k, v, needle) in [
            ("nonsense", "1", "nonsense"),
            ("size", "lots", "lots"),
            ("lvm.use_thinpool", "maybe", "lvm.use_thinpool"),
            ("lvm.vg_name", "bad name", "lvm.vg_name"),
            ("volume.block.filesystem", "ntfs", "ntfs"),
            ("source", "vg with space", "source"),
            ("volume.size", "0", "volume.size"),
        ] {
            let e = validate_pool(&map(&[(k, v)])).unwrap_err().to_string();
            assert!(e.contains(needle), "{k}={v}: {e}");
        }
        let e = validate_pool(&map(&[
            ("lvm.use_thinpool", "false"),
            ("lvm.thinpool_name", "tp"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(e.contains("lvm.thinpool_name"), "{e}");
        let e = validate_pool(&map(&[("source", "vgA"), ("lvm.vg_name", "vgB")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("vgA"), "{e}");
        validate_volume(&map(&[("size", "1GiB"), ("block.filesystem", "ext4")])).unwrap();
        let e = validate_volume(&map(&[("block.mount_options", "noatime")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("block.mount_options"), "{e}");
    }

    #[test]
    fn resolves_defaults() {
        let dir = Path::new("/var/lib/lxd");
        let p = PoolInfo::new("p1", ConfigMap::new(), dir);
        let c = PoolConfig::of(&p).unwrap();
        assert_eq!(c.vg, "p1");
        assert_eq!(c.thinpool.as_deref(), Some("LXDThinPool"));
        assert_eq!(c.backing, Backing::LoopFile(dir.join("disks/p1.img")));
        assert_eq!(c.volume_size, 10 << 30);
        assert_eq!(c.filesystem, Fs::Ext4);
        assert_eq!(c.mount_options, "discard");
        let p = PoolInfo::new(
            "p2",
            map(&[
                ("source", "myvg"),
                ("lvm.use_thinpool", "false"),
                ("volatile.initial_source", "myvg"),
            ]),
            dir,
        );
        let c = PoolConfig::of(&p).unwrap();
        assert_eq!((c.vg.as_str(), c.thinpool.clone()), ("myvg", None));
        assert_eq!(c.backing, Backing::ExistingVg);
        let p = PoolInfo::new(
            "p3",
            map(&[
                ("source", "p3"),
                ("lvm.vg_name", "p3"),
                ("volatile.initial_source", "/dev/vdb"),
            ]),
            dir,
        );
        assert_eq!(
            PoolConfig::of(&p).unwrap().backing,
            Backing::Device("/dev/vdb".into())
        );
        let mut v = VolumeInfo::new(lxd_core::store::VolumeType::Custom, "v");
        v.config.insert("size".into(), "1000".into());
        assert_eq!(PoolConfig::of(&p).unwrap().volume_size(&v).unwrap(), 512);
    }
}
