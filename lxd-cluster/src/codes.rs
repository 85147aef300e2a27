//! LXD's integer codes for the names records carry: architectures (`shared/osarch`), device
//! types, storage pool states, volume content types and image types, as LXD 5.0 stores them.

use lxd_core::store::{StoreError, StoreResult};

/// LXD's architecture ids and their names (`shared/osarch/architectures.go`).
const ARCHITECTURES: &[(i64, &str)] = &[
    (1, "i686"),
    (2, "x86_64"),
    (3, "armv7l"),
    (4, "aarch64"),
    (5, "ppc"),
    (6, "ppc64"),
    (7, "ppc64le"),
    (8, "s390x"),
    (9, "mips"),
    (10, "mips64"),
    (11, "riscv32"),
    (12, "riscv64"),
    (13, "armv6l"),
    (14, "armv8l"),
];

/// Other names LXD accepts for an architecture (Debian's and Go's spellings).
const ARCHITECTURE_ALIASES: &[(i64, &str)] = &[
    (1, "i386"),
    (1, "i586"),
    (1, "386"),
    (1, "x86"),
    (1, "generic_32"),
    (2, "amd64"),
    (2, "generic_64"),
    (3, "armhf"),
    (3, "armhfp"),
    (3, "armv7a_hardfp"),
    (3, "armv7"),
    (3, "armv7a_vfpv3_hardfp"),
    (4, "arm64"),
    (4, "arm64_generic"),
    (5, "powerpc"),
    (6, "powerpc64"),
    (7, "ppc64el"),
    (9, "mipsel"),
    (10, "mips64el"),
    (13, "armel"),
    (13, "arm"),
];

/// LXD's id of an architecture name or alias (`x86_64` and `amd64` are 2).
pub fn architecture_id(name: &str) -> Option<i64> {
    ARCHITECTURES
        .iter()
        .chain(ARCHITECTURE_ALIASES)
        .find(|(_, n)| *n == name)
        .map(|(id, _)| *id)
}

/// The name of one of LXD's architecture ids (`unknown` for ids LXD does not define).
pub fn architecture_name(id: i64) -> &'static str {
    ARCHITECTURES
        .iter()
        .find(|(i, _)| *i == id)
        .map_or("unknown", |(_, n)| n)
}

/// The id of this host's architecture, as LXD records it for its node row.
pub fn local_architecture_id() -> i64 {
    let name = match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        "powerpc" => "ppc",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        other => other,
    };
    architecture_id(name).unwrap_or(0)
}

/// Checks an architecture name of an object and returns its id.
pub fn require_architecture(kind: &'static str, object: &str, arch: &str) -> StoreResult<i64> {
    architecture_id(arch).ok_or_else(|| {
        StoreError::Unsupported(format!(
            "{kind} {object:?}: architecture {arch:?} is not one LXD knows"
        ))
    })
}

/// LXD's device type codes (`lxd/db/cluster/devices.go`).
const DEVICE_TYPES: &[(i64, &str)] = &[
    (0, "none"),
    (1, "nic"),
    (2, "disk"),
    (3, "unix-char"),
    (4, "unix-block"),
    (5, "usb"),
    (6, "gpu"),
    (7, "infiniband"),
    (8, "proxy"),
    (9, "unix-hotplug"),
    (10, "tpm"),
    (11, "pci"),
];

/// LXD's code of a device type name, or an error naming the device and its owner.
pub fn device_type_code(owner: &str, device: &str, ty: Option<&str>) -> StoreResult<i64> {
    let Some(ty) = ty else {
        return Err(StoreError::Unsupported(format!(
            "device {device:?} of {owner} has no \"type\" key"
        )));
    };
    DEVICE_TYPES
        .iter()
        .find(|(_, n)| *n == ty)
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            StoreError::Unsupported(format!(
                "device {device:?} of {owner}: invalid device type {ty:?}"
            ))
        })
}

/// The device type name of one of LXD's codes.
pub fn device_type_name(code: i64) -> StoreResult<&'static str> {
    DEVICE_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
        .ok_or_else(|| StoreError::Database(format!("unknown device type code {code} in database")))
}

/// Storage pool states as LXD stores them, with the status names records carry.
const POOL_STATES: &[(i64, &str)] = &[(0, "PENDING"), (1, "CREATED"), (2, "ERRORED")];

/// LXD's code of a pool status (`PENDING`, `CREATED`, `ERRORED`, any case).
pub fn pool_state_code(pool: &str, status: &str) -> StoreResult<i64> {
    state_code("Storage pool", pool, status)
}

/// LXD's code of the status of an object with a pool's states (storage pools, networks).
pub fn state_code(kind: &str, object: &str, status: &str) -> StoreResult<i64> {
    POOL_STATES
        .iter()
        .find(|(_, n)| n.eq_ignore_ascii_case(status))
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            StoreError::Unsupported(format!(
                "{kind} {object:?}: invalid status {status:?} (PENDING, CREATED or ERRORED)"
            ))
        })
}

/// The status name of a pool state code (`UNKNOWN` for codes LXD does not define).
pub fn pool_state_name(code: i64) -> &'static str {
    POOL_STATES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("UNKNOWN", |(_, n)| n)
}

/// Network types as LXD stores them (`lxd/db/networks.go`).
const NETWORK_TYPES: &[(i64, &str)] = &[
    (0, "bridge"),
    (1, "macvlan"),
    (2, "sriov"),
    (3, "ovn"),
    (4, "physical"),
];

/// LXD's code of a network type.
pub fn network_type_code(network: &str, kind: &str) -> StoreResult<i64> {
    NETWORK_TYPES
        .iter()
        .find(|(_, n)| *n == kind)
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            StoreError::Unsupported(format!(
                "Network {network:?}: invalid type {kind:?} \
                 (bridge, macvlan, sriov, ovn or physical)"
            ))
        })
}

/// The network type name of one of LXD's codes.
pub fn network_type_name(code: i64) -> StoreResult<&'static str> {
    NETWORK_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
        .ok_or_else(|| StoreError::Database(format!("unknown network type {code} in database")))
}

/// Volume content types as LXD stores them.
const CONTENT_TYPES: &[(i64, &str)] = &[(0, "filesystem"), (1, "block"), (2, "iso")];

/// LXD's code of a volume content type.
pub fn content_type_code(volume: &str, content_type: &str) -> StoreResult<i64> {
    CONTENT_TYPES
        .iter()
        .find(|(_, n)| *n == content_type)
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            StoreError::Unsupported(format!(
                "Storage volume {volume:?}: invalid content type {content_type:?} \
                 (filesystem, block or iso)"
            ))
        })
}

/// The content type name of one of LXD's codes.
pub fn content_type_name(code: i64) -> StoreResult<&'static str> {
    CONTENT_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
        .ok_or_else(|| {
            StoreError::Database(format!("unknown volume content type {code} in database"))
        })
}

/// Image types as LXD stores them.
const IMAGE_TYPES: &[(i64, &str)] = &[(0, "container"), (1, "virtual-machine")];

/// LXD's code of an image type.
pub fn image_type_code(fingerprint: &str, image_type: &str) -> StoreResult<i64> {
    IMAGE_TYPES
        .iter()
        .find(|(_, n)| *n == image_type)
        .map(|(c, _)| *c)
        .ok_or_else(|| {
            StoreError::Unsupported(format!(
                "Image {fingerprint:?}: invalid type {image_type:?} (container or virtual-machine)"
            ))
        })
}

/// The image type name of one of LXD's codes.
pub fn image_type_name(code: i64) -> StoreResult<&'static str> {
    IMAGE_TYPES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
        .ok_or_else(|| StoreError::Database(format!("unknown image type {code} in database")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_round_trip() {
        for (id, name) in ARCHITECTURES {
            assert_eq!(architecture_id(name), Some(*id));
            assert_eq!(architecture_name(*id), *name);
        }
        assert_eq!(architecture_id("amd64"), Some(2));
        assert_eq!(architecture_id("arm64"), Some(4));
        assert_eq!(architecture_id("vax"), None);
        assert!(local_architecture_id() > 0);
    }

    #[test]
    fn device_types_match_lxd() {
        assert_eq!(device_type_code("x", "eth0", Some("nic")).unwrap(), 1);
        assert_eq!(device_type_code("x", "root", Some("disk")).unwrap(), 2);
        assert_eq!(device_type_code("x", "t", Some("pci")).unwrap(), 11);
        let err = device_type_code("instance \"c1\"", "d", Some("floppy")).unwrap_err();
        assert!(err.to_string().contains("floppy"), "{err}");
        assert!(device_type_code("x", "d", None).is_err());
        assert_eq!(device_type_name(8).unwrap(), "proxy");
    }

    #[test]
    fn network_types_match_lxd() {
        assert_eq!(network_type_code("n", "bridge").unwrap(), 0);
        assert_eq!(network_type_code("n", "physical").unwrap(), 4);
        assert!(network_type_code("n", "hub").is_err());
        assert_eq!(network_type_name(1).unwrap(), "macvlan");
        assert!(network_type_name(7).is_err());
    }

    #[test]
    fn pool_states_accept_any_case() {
        assert_eq!(pool_state_code("p", "Created").unwrap(), 1);
        assert_eq!(pool_state_code("p", "PENDING").unwrap(), 0);
        assert!(pool_state_code("p", "gone").is_err());
        assert_eq!(pool_state_name(2), "ERRORED");
        assert_eq!(pool_state_name(9), "UNKNOWN");
    }
}
