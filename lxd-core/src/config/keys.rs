//! The table of instance configuration keys LXD 5.0 defines for containers, and the check
//! of each value.

use super::limits::{CpuAllowance, CpuLimit, MemoryLimit};
use super::units::parse_size_key;
use super::ConfigError;
use crate::runtime::idmap::parse_raw_idmap;

/// How the value of a key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Any string.
    Any,
    /// `true`/`false` (LXD also takes `1`, `yes`, `on`, `0`, `no`, `off`).
    Bool,
    /// An integer (may be negative).
    Int,
    /// A non-negative integer.
    Uint,
    /// An integer 0-10.
    Priority,
    /// A byte size (`512MiB`).
    Size,
    /// `limits.memory`: a size or a percentage.
    Memory,
    /// `limits.cpu`: a count or a set.
    Cpu,
    /// `limits.cpu.allowance`.
    CpuAllowance,
    /// One of a fixed list of words.
    OneOf(&'static [&'static str]),
    /// `raw.idmap` lines.
    RawIdmap,
    /// A comma separated list of syscall names.
    SyscallList,
    /// `limits.kernel.*`: an rlimit, `unlimited` or `SOFT:HARD`.
    Rlimit,
    /// A key LXD defines that this implementation does not provide (the reason is given).
    Unsupported(&'static str),
}

/// Exact keys.
const KEYS: &[(&str, KeyKind)] = &[
    ("boot.autostart", KeyKind::Bool),
    ("boot.autostart.delay", KeyKind::Uint),
    ("boot.autostart.priority", KeyKind::Int),
    ("boot.host_shutdown_timeout", KeyKind::Uint),
    ("boot.stop.priority", KeyKind::Int),
    ("cloud-init.network-config", KeyKind::Any),
    ("cloud-init.user-data", KeyKind::Any),
    ("cloud-init.vendor-data", KeyKind::Any),
    (
        "cluster.evacuate",
        KeyKind::OneOf(&["auto", "migrate", "live-migrate", "stop"]),
    ),
    ("limits.cpu", KeyKind::Cpu),
    ("limits.cpu.allowance", KeyKind::CpuAllowance),
    ("limits.cpu.priority", KeyKind::Priority),
    ("limits.memory", KeyKind::Memory),
    ("limits.memory.enforce", KeyKind::OneOf(&["hard", "soft"])),
    ("limits.memory.swap", KeyKind::Bool),
    ("limits.memory.swap.priority", KeyKind::Priority),
    ("limits.processes", KeyKind::Uint),
    ("limits.disk.priority", KeyKind::Priority),
    ("limits.network.priority", KeyKind::Priority),
    ("migration.incremental.memory", KeyKind::Bool),
    ("migration.incremental.memory.goal", KeyKind::Uint),
    ("migration.incremental.memory.iterations", KeyKind::Uint),
    ("raw.idmap", KeyKind::RawIdmap),
    (
        "raw.lxc",
        KeyKind::Unsupported("there is no liblxc to pass raw configuration to"),
    ),
    (
        "raw.apparmor",
        KeyKind::Unsupported("AppArmor is not available on this host"),
    ),
    (
        "raw.seccomp",
        KeyKind::Unsupported("use security.syscalls.deny instead"),
    ),
    ("security.devlxd", KeyKind::Bool),
    ("security.devlxd.images", KeyKind::Bool),
    ("security.idmap.base", KeyKind::Uint),
    ("security.idmap.isolated", KeyKind::Bool),
    ("security.idmap.size", KeyKind::Uint),
    ("security.nesting", KeyKind::Bool),
    ("security.privileged", KeyKind::Bool),
    ("security.protection.delete", KeyKind::Bool),
    ("security.protection.shift", KeyKind::Bool),
    ("security.syscalls.deny", KeyKind::SyscallList),
    ("security.syscalls.deny_compat", KeyKind::Bool),
    ("security.syscalls.deny_default", KeyKind::Bool),
    (
        "security.syscalls.allow",
        KeyKind::Unsupported("allow-lists are not implemented; use security.syscalls.deny"),
    ),
    ("snapshots.expiry", KeyKind::Any),
    ("snapshots.pattern", KeyKind::Any),
    ("snapshots.schedule", KeyKind::Any),
    ("snapshots.schedule.stopped", KeyKind::Bool),
    (
        "linux.kernel_modules",
        KeyKind::Unsupported("this host cannot load kernel modules"),
    ),
];

/// Key prefixes with free-form names after them.
const PREFIXES: &[(&str, KeyKind)] = &[
    ("environment.", KeyKind::Any),
    ("user.", KeyKind::Any),
    ("image.", KeyKind::Any),
    ("volatile.", KeyKind::Any),
    ("limits.kernel.", KeyKind::Rlimit),
    ("linux.sysctl.", KeyKind::Any),
    (
        "security.syscalls.intercept.",
        KeyKind::Unsupported("seccomp notification interception is not implemented"),
    ),
    (
        "limits.hugepages.",
        KeyKind::Unsupported("hugepage limits are not implemented"),
    ),
    (
        "nvidia.",
        KeyKind::Unsupported("GPU passthrough is not implemented"),
    ),
];

/// The kind of a key, if the key exists.
pub fn key_kind(key: &str) -> Option<KeyKind> {
    if let Some((_, kind)) = KEYS.iter().find(|(k, _)| *k == key) {
        return Some(*kind);
    }
    PREFIXES
        .iter()
        .find(|(p, _)| key.len() > p.len() && key.starts_with(p))
        .map(|(_, kind)| *kind)
}

/// LXD's true spellings.
pub(crate) fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on")
}

fn is_bool(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on" | "false" | "0" | "no" | "off"
    )
}

const RLIMITS: &[&str] = &[
    "as",
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Checks one key and its (non-empty) value.
pub fn validate_key(key: &str, value: &str) -> Result<(), ConfigError> {
    let kind = key_kind(key).ok_or_else(|| ConfigError::UnknownKey {
        key: key.to_string(),
    })?;
    let bad = |reason: &str| Err(ConfigError::invalid(key, value, reason));
    match kind {
        KeyKind::Any => Ok(()),
        KeyKind::Bool if is_bool(value) => Ok(()),
        KeyKind::Bool => bad("expected true or false"),
        KeyKind::Int if value.parse::<i64>().is_ok() => Ok(()),
        KeyKind::Int => bad("expected an integer"),
        KeyKind::Uint if value.parse::<u64>().is_ok() => Ok(()),
        KeyKind::Uint => bad("expected a non-negative integer"),
        KeyKind::Priority if value.parse::<u8>().is_ok_and(|p| p <= 10) => Ok(()),
        KeyKind::Priority => bad("expected an integer between 0 and 10"),
        KeyKind::Size => parse_size_key(key, value).map(drop),
        KeyKind::Memory => MemoryLimit::parse(key, value).map(drop),
        KeyKind::Cpu => CpuLimit::parse(key, value).map(drop),
        KeyKind::CpuAllowance => CpuAllowance::parse(key, value).map(drop),
        KeyKind::OneOf(words) if words.contains(&value) => Ok(()),
        KeyKind::OneOf(words) => bad(&format!("expected one of {}", words.join(", "))),
        KeyKind::RawIdmap => parse_raw_idmap(value)
            .map(drop)
            .map_err(|e| ConfigError::invalid(key, value, e.to_string())),
        KeyKind::SyscallList => {
            for name in value.split([',', ' ', '\n']).filter(|s| !s.is_empty()) {
                if libseccomp::ScmpSyscall::from_name(name).is_err() {
                    return bad(&format!("unknown system call {name:?}"));
                }
            }
            Ok(())
        }
        KeyKind::Rlimit => {
            let name = &key["limits.kernel.".len()..];
            if !RLIMITS.contains(&name) {
                return Err(ConfigError::UnknownKey {
                    key: key.to_string(),
                });
            }
            let ok = |s: &str| s == "unlimited" || s.parse::<u64>().is_ok();
            match value.split_once(':') {
                Some((soft, hard)) if ok(soft) && ok(hard) => Ok(()),
                None if ok(value) => Ok(()),
                _ => bad("expected a number, \"unlimited\" or SOFT:HARD"),
            }
        }
        KeyKind::Unsupported(why) => bad(&format!("not supported by this implementation: {why}")),
    }
}

/// Checks an instance name: LXD requires a valid hostname label, since the name becomes the
/// container's hostname.
pub fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > 63 {
        return Err("Name must be 1 to 63 characters long");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err("Name can only contain alphanumeric and hyphen characters");
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("Name must not start or end with a hyphen");
    }
    if name.as_bytes()[0].is_ascii_digit() {
        return Err("Name must not start with a digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InstanceConfig;

    #[test]
    fn names() {
        for good in ["c1", "web-01", "A", &"a".repeat(63)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "1abc",
            "-a",
            "a-",
            "a_b",
            "a.b",
            "a b",
            "ä",
            &"a".repeat(64),
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_key_named() {
        let err = InstanceConfig::from_pairs([("limits.memroy", "1GiB")]).unwrap_err();
        assert_eq!(err.to_string(), "Unknown configuration key: limits.memroy");
    }

    #[test]
    fn bad_values_named() {
        for (k, v) in [
            ("limits.memory", "lots"),
            ("limits.cpu", "many"),
            ("limits.processes", "-5"),
            ("security.privileged", "maybe"),
            ("limits.cpu.priority", "11"),
            ("raw.idmap", "both x y"),
            ("limits.kernel.nofile", "lots"),
            ("security.syscalls.deny", "not_a_syscall"),
            ("raw.lxc", "lxc.aa_profile=unconfined"),
        ] {
            let msg = InstanceConfig::from_pairs([(k, v)])
                .unwrap_err()
                .to_string();
            assert!(msg.contains(k) && msg.contains(v), "{msg}");
        }
    }

    #[test]
    fn accepted() {
        let c = InstanceConfig::from_pairs([
            ("limits.memory", "512MiB"),
            ("limits.cpu", "0-1"),
            ("limits.processes", "100"),
            ("security.nesting", "true"),
            ("environment.FOO", "bar"),
            ("boot.autostart", "false"),
            ("user.anything", "x"),
            ("raw.idmap", "both 1000 1000"),
            ("limits.kernel.nofile", "1024:4096"),
            ("security.syscalls.deny", "mount,umount2"),
        ])
        .unwrap();
        assert_eq!(c.environment().get("FOO").map(String::as_str), Some("bar"));
        assert!(c.get_bool("security.nesting"));
        assert!(!c.privileged());
    }

    #[test]
    fn isolated_conflicts_with_privileged() {
        assert!(InstanceConfig::from_pairs([
            ("security.privileged", "true"),
            ("security.idmap.isolated", "true")
        ])
        .is_err());
    }
}
