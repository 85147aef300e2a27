//! Which ZFS this host has: OpenZFS's kernel module (modern CLI), the zfs-fuse daemon (older
//! CLI, user-space mounts), or none, with the reason. The answer is kept for a few seconds so
//! that listing the available drivers does not run a command each time.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Result, StorageError};

/// How long a probe's answer is reused.
const PROBE_TTL: Duration = Duration::from_secs(5);

/// The ZFS implementation the `zfs` and `zpool` commands talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// OpenZFS: the kernel module is loaded; `zfs list -p`, `mountpoint=legacy` with
    /// `mount(2)`, idmapped mounts where the kernel has them.
    OpenZfs,
    /// zfs-fuse: datasets are FUSE mounts made by its daemon at their `mountpoint` property;
    /// no `list -p`, no legacy mounts, no idmapped mounts, one daemon per host.
    Fuse,
}

impl Flavor {
    /// Whether datasets use `mountpoint=legacy` and are mounted with `mount(2)` (OpenZFS), or
    /// carry their mount path in `mountpoint` and are mounted by `zfs mount` (zfs-fuse).
    pub fn legacy_mounts(self) -> bool {
        self == Flavor::OpenZfs
    }

    /// A short name for logs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::OpenZfs => "OpenZFS",
            Flavor::Fuse => "zfs-fuse",
        }
    }
}

static CACHE: Mutex<Option<(Instant, std::result::Result<Flavor, String>)>> = Mutex::new(None);

/// The host's ZFS, or an error saying why there is none (a missing tool, no kernel module and
/// no zfs-fuse daemon).
pub fn flavor() -> Result<Flavor> {
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let answer = match &*cache {
        Some((at, answer)) if at.elapsed() < PROBE_TTL => answer.clone(),
        _ => {
            let answer = probe();
            match &answer {
                Ok(f) => tracing::debug!(flavor = f.name(), "zfs probe"),
                Err(e) => tracing::debug!("zfs probe: {e}"),
            }
            *cache = Some((Instant::now(), answer.clone()));
            answer
        }
    };
    answer.map_err(|reason| StorageError::Unsupported {
        what: "the zfs storage driver".into(),
        reason,
    })
}

/// Whether `tool` is an executable file in one of `PATH`'s directories.
pub(crate) fn in_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            std::fs::metadata(d.join(tool))
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
    })
}

fn probe() -> std::result::Result<Flavor, String> {
    for tool in ["zpool", "zfs"] {
        if !in_path(tool) {
            return Err(format!(
                "Required tool '{tool}' is missing (Debian packages: zfsutils-linux, or zfs-fuse)"
            ));
        }
    }
    if Path::new("/sys/module/zfs").exists() {
        return Ok(Flavor::OpenZfs);
    }
    // Without the module only zfs-fuse's tools can answer, through its daemon's socket.
    let out = std::process::Command::new("zpool")
        .args(["list", "-H", "-o", "name"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run zpool: {e}"))?;
    if out.status.success() {
        return Ok(Flavor::Fuse);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
    Err(format!(
        "no zfs kernel module is loaded and no zfs-fuse daemon answers (zpool list: {stderr})"
    ))
}
