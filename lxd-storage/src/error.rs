//! The error type of lxd-storage: one enum whose variants record the path, command or key
//! that failed, and its conversion into [`lxd_core::Error::Storage`] once the driver is known.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use nix::errno::Errno;

/// Every error lxd-storage returns.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A file-system operation on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"open"`, `"copy data to"`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// A system call or ioctl on a path failed.
    #[error("{op} {path}: {source}")]
    Sys {
        /// The call (`"BTRFS_IOC_SNAP_CREATE_V2"`, `"mknod"`, ...).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The errno it returned.
        #[source]
        source: Errno,
    },

    /// An extended attribute could not be read or written.
    #[error("{op} extended attribute {name:?} of {path}: {source}")]
    Xattr {
        /// `"list"`, `"read"`, `"write"` or `"remove"`.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The attribute's name (empty when listing).
        name: String,
        /// The errno.
        #[source]
        source: Errno,
    },

    /// An external command failed.
    #[error("command {cmd} failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// How it ended.
        status: ExitStatus,
        /// What it wrote to stderr (trimmed).
        stderr: String,
    },

    /// A key, argument or name has a value that cannot be used.
    #[error("invalid {key} {value:?}: {reason}")]
    Invalid {
        /// The configuration key or argument.
        key: String,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },

    /// The operation is not possible here (kernel, filesystem or configuration lacks it).
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// The operation or feature.
        what: String,
        /// Why it is not available.
        reason: String,
    },

    /// An object that must exist does not.
    #[error("{what} not found: {path}")]
    NotFound {
        /// The kind of object (`"subvolume"`, `"loop device"`, `"qgroup 0/257"`).
        what: String,
        /// Where it was looked for.
        path: PathBuf,
    },

    /// An object that must not exist does.
    #[error("{what} already exists: {path}")]
    AlreadyExists {
        /// The kind of object.
        what: &'static str,
        /// Its path.
        path: PathBuf,
    },

    /// The path is in use (a mount point, a non-empty directory) and cannot be changed that way.
    #[error("{path} is in use: {reason}")]
    InUse {
        /// The path.
        path: PathBuf,
        /// How it is in use.
        reason: String,
    },
}

impl StorageError {
    /// An I/O error on a path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A failed system call on a path.
    pub fn sys(op: &'static str, path: impl Into<PathBuf>, source: Errno) -> Self {
        StorageError::Sys {
            op,
            path: path.into(),
            source,
        }
    }

    /// A rejected value.
    pub fn invalid(
        key: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        StorageError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// A missing object.
    pub fn not_found(what: impl Into<String>, path: &Path) -> Self {
        StorageError::NotFound {
            what: what.into(),
            path: path.to_path_buf(),
        }
    }

    /// The errno behind this error, when it came from the kernel.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            StorageError::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            StorageError::Sys { source, .. } | StorageError::Xattr { source, .. } => Some(*source),
            _ => None,
        }
    }

    /// Wraps this error as lxd-core's [`lxd_core::Error::Storage`] of the named driver.
    pub fn into_core(self, driver: &'static str) -> lxd_core::Error {
        lxd_core::Error::Storage {
            driver,
            source: Box::new(self),
        }
    }
}

/// The result type of lxd-storage.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Converts lxd-storage results into lxd-core results once the driver is known.
pub trait ResultExt<T> {
    /// Maps the error with [`StorageError::into_core`] for the driver `name`.
    fn driver(self, name: &'static str) -> lxd_core::Result<T>;
}

impl<T> ResultExt<T> for Result<T> {
    fn driver(self, name: &'static str) -> lxd_core::Result<T> {
        self.map_err(|e| e.into_core(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_error_names_driver_and_path() {
        let r: Result<()> = Err(StorageError::sys(
            "BTRFS_IOC_SNAP_CREATE_V2",
            "/pool/containers/c1",
            Errno::EEXIST,
        ));
        let e = r.driver("btrfs").unwrap_err();
        assert!(matches!(
            e,
            lxd_core::Error::Storage {
                driver: "btrfs",
                ..
            }
        ));
        let msg = e.to_string();
        assert!(
            msg.starts_with("storage driver btrfs: BTRFS_IOC_SNAP_CREATE_V2 /pool/containers/c1"),
            "{msg}"
        );
        let source = std::error::Error::source(&e).expect("source");
        let inner = source
            .downcast_ref::<StorageError>()
            .expect("a StorageError");
        assert_eq!(inner.errno(), Some(Errno::EEXIST));
    }
}
