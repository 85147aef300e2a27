//! LXD's names for the logical volumes of a pool: a volume is `TYPE_NAME` (`containers_c1`,
//! `images_FINGERPRINT`, `custom_data`), its snapshot `TYPE_NAME-SNAP`; a `-` inside a name is
//! written `--` so the single `-` before the snapshot name stays unambiguous. Also the rules
//! LVM itself puts on volume group and logical volume names.

use lxd_core::store::VolumeType;

use super::error::{LvmError, Result};

/// The thin pool's name when `lvm.thinpool_name` is not set (LXD's).
pub const DEFAULT_THINPOOL: &str = "LXDThinPool";

/// The tag that marks a volume group as used by a pool (LXD's), so no second pool takes it.
pub const POOL_TAG: &str = "lxd_pool";

/// The suffix of the temporary logical volume a restore builds before it swaps it in.
pub const RESTORE_SUFFIX: &str = ".lxdrestore";

/// The suffix the replaced volume carries during the swap of a restore.
pub const OLD_SUFFIX: &str = ".lxdold";

/// Longest volume group or logical volume name LVM accepts.
const MAX_NAME: usize = 127;

/// Longest device-mapper name (`VG-LV` with every `-` doubled), `DM_NAME_LEN - 1`.
const MAX_DM_NAME: usize = 127;

/// Substrings LVM keeps for its internal volumes.
const RESERVED: &[&str] = &[
    "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_imeta", "_iorig", "_mimage", "_mlog",
    "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_wcorig",
];

/// `name` with every `-` doubled.
pub fn escape(name: &str) -> String {
    name.replace('-', "--")
}

/// The logical volume of a volume: `containers_c1`.
pub fn volume_lv(t: VolumeType, name: &str) -> String {
    format!("{}_{}", t.dir_name(), escape(name))
}

/// The logical volume of a volume's snapshot: `containers_c1-snap0`.
pub fn snapshot_lv(t: VolumeType, name: &str, snapshot: &str) -> String {
    format!("{}-{}", volume_lv(t, name), escape(snapshot))
}

/// What a logical volume name says about the volume it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLv {
    /// The volume's name.
    pub volume: String,
    /// The snapshot's name when the logical volume is a snapshot.
    pub snapshot: Option<String>,
}

/// Reads a logical volume name back for a volume type; `None` for one of another type (or
/// the thin pool). A lone `-` separates volume and snapshot, `--` is a `-` of either name.
pub fn parse_lv(t: VolumeType, lv: &str) -> Option<ParsedLv> {
    let rest = lv.strip_prefix(t.dir_name())?.strip_prefix('_')?;
    let mut volume = String::new();
    let mut snapshot: Option<String> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        let target = snapshot.as_mut().unwrap_or(&mut volume);
        if c != '-' {
            target.push(c);
        } else if chars.peek() == Some(&'-') {
            chars.next();
            target.push('-');
        } else if snapshot.is_none() {
            snapshot = Some(String::new());
        } else {
            // A second lone separator: not a name this driver makes.
            return None;
        }
    }
    if volume.is_empty() || snapshot.as_deref() == Some("") {
        return None;
    }
    Some(ParsedLv { volume, snapshot })
}

fn check_chars(kind: &str, name: &str) -> Result<()> {
    let bad = |reason: String| Err(LvmError::invalid(kind, name, reason));
    if name.is_empty() {
        return bad("must not be empty".into());
    }
    if name.len() > MAX_NAME {
        return bad(format!("longer than LVM's {MAX_NAME} characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.' | '-')))
    {
        return bad(format!(
            "LVM names allow only a-z A-Z 0-9 + _ . - (found {c:?})"
        ));
    }
    if name.starts_with('-') {
        return bad("must not begin with '-'".into());
    }
    if name == "." || name == ".." {
        return bad("is reserved".into());
    }
    Ok(())
}

/// Checks a volume group name against LVM's rules.
pub fn check_vg_name(key: &str, name: &str) -> Result<()> {
    check_chars(key, name)
}

/// Checks a logical volume name against LVM's rules, and that `VG-LV` fits device-mapper.
pub fn check_lv_name(key: &str, vg: &str, lv: &str) -> Result<()> {
    check_chars(key, lv)?;
    if lv == "snapshot" || lv == "pvmove" {
        return Err(LvmError::invalid(key, lv, "is reserved by LVM"));
    }
    if let Some(r) = RESERVED.iter().find(|r| lv.contains(*r)) {
        return Err(LvmError::invalid(
            key,
            lv,
            format!("LVM keeps names containing {r:?} for its own volumes"),
        ));
    }
    let dm = escape(vg).len() + 1 + escape(lv).len();
    if dm > MAX_DM_NAME {
        return Err(LvmError::invalid(
            key,
            lv,
            format!(
                "the device-mapper name of {vg}/{lv} would be {dm} characters, more than {MAX_DM_NAME}"
            ),
        ));
    }
    Ok(())
}

/// Checks that a snapshot name can be told apart from the volume name in an LV name.
pub fn check_snapshot_name(snapshot: &str) -> Result<()> {
    if snapshot.starts_with('-') {
        return Err(LvmError::invalid(
            "snapshot name",
            snapshot,
            "an LVM snapshot name must not begin with '-' (it would read as part of the volume name)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_lxd() {
        assert_eq!(volume_lv(VolumeType::Container, "c1"), "containers_c1");
        assert_eq!(volume_lv(VolumeType::Container, "my-c"), "containers_my--c");
        assert_eq!(volume_lv(VolumeType::Image, "abc123"), "images_abc123");
        assert_eq!(volume_lv(VolumeType::Custom, "data"), "custom_data");
        assert_eq!(
            volume_lv(VolumeType::VirtualMachine, "v"),
            "virtual-machines_v"
        );
        assert_eq!(
            snapshot_lv(VolumeType::Container, "my-c", "snap-0"),
            "containers_my--c-snap--0"
        );
        assert_eq!(
            volume_lv(VolumeType::Container, "proj_c1"),
            "containers_proj_c1"
        );
    }

    #[test]
    fn names_parse_back() {
        for (vol, snap) in [
            ("c1", None),
            ("my-c", None),
            ("a-", None),
            ("c1", Some("s1")),
            ("my-c", Some("snap-0")),
            ("a-", Some("b")),
            ("x--y", Some("z-")),
        ] {
            let lv = match snap {
                Some(s) => snapshot_lv(VolumeType::Container, vol, s),
                None => volume_lv(VolumeType::Container, vol),
            };
            assert_eq!(
                parse_lv(VolumeType::Container, &lv),
                Some(ParsedLv {
                    volume: vol.into(),
                    snapshot: snap.map(String::from)
                }),
                "{lv}"
            );
        }
        assert_eq!(parse_lv(VolumeType::Image, "containers_c1"), None);
        assert_eq!(parse_lv(VolumeType::Container, "LXDThinPool"), None);
        assert_eq!(parse_lv(VolumeType::Container, "containers_"), None);
        assert_eq!(parse_lv(VolumeType::Container, "containers_a-b-c"), None);
        assert_eq!(parse_lv(VolumeType::Container, "containers_a-"), None);
        // "virtual-machines" is not mistaken for a container or custom name.
        assert_eq!(parse_lv(VolumeType::Custom, "virtual-machines_v"), None);
    }

    #[test]
    fn lvm_rules() {
        check_vg_name("lvm.vg_name", "vg0").unwrap();
        check_vg_name("lvm.vg_name", "my-vg.1+x").unwrap();
        for bad in ["", "-vg", ".", "..", "v g", "vg/x", "vé"] {
            let e = check_vg_name("lvm.vg_name", bad).unwrap_err().to_string();
            assert!(e.contains("lvm.vg_name"), "{e}");
        }
        check_lv_name("volume", "vg", "containers_c1").unwrap();
        let e = check_lv_name("volume", "vg", "containers_x_tmeta")
            .unwrap_err()
            .to_string();
        assert!(e.contains("_tmeta"), "{e}");
        let long = "a".repeat(120);
        let e = check_lv_name("volume", "vg-with-dashes", &long)
            .unwrap_err()
            .to_string();
        assert!(e.contains("device-mapper"), "{e}");
        assert!(check_lv_name("volume", "vg", "snapshot").is_err());
        assert!(check_snapshot_name("-s").is_err());
        check_snapshot_name("s-1").unwrap();
    }
}
