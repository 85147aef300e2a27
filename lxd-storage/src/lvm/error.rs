//! The error type of the `lvm` driver: every variant names the pool, volume group, logical
//! volume, key or path that failed, and the driver turns it into
//! [`lxd_core::Error::Storage`] with [`LvmError::into_core`].

use std::process::ExitStatus;

use crate::error::StorageError;

/// Every error of the `lvm` driver.
#[derive(Debug, thiserror::Error)]
pub enum LvmError {
    /// An `lvm` (or filesystem tool) command failed.
    #[error("{op} {object}: `{cmd}` failed ({status}): {stderr}")]
    Command {
        /// What was being done (`"create thin volume"`, `"grow filesystem of"`, ...).
        op: &'static str,
        /// The object it was done to (`vg/containers_c1`, `/dev/loop3`, ...).
        object: String,
        /// The command line.
        cmd: String,
        /// How it ended.
        status: ExitStatus,
        /// What it wrote to stderr (trimmed).
        stderr: String,
    },

    /// A tool the driver needs is not installed.
    #[error("{op} {object}: the command {tool:?} is not installed ({package})")]
    ToolMissing {
        /// What was being done.
        op: &'static str,
        /// The object it was done to.
        object: String,
        /// The missing program.
        tool: String,
        /// The Debian package that has it.
        package: &'static str,
    },

    /// The kernel has no device-mapper, so no logical volume can be activated.
    #[error(
        "{what}: the kernel has no device-mapper ({detail}); LVM pools need the dm-mod and \
         dm-thin-pool modules (see scripts/vm-lvm-tests for a VM that has them)"
    )]
    NoDeviceMapper {
        /// What needed it (`lvm storage pool "p1"`, `the lvm driver`).
        what: String,
        /// What was checked.
        detail: String,
    },

    /// A configuration key, argument or name has a value that cannot be used.
    #[error("invalid {key} {value:?}: {reason}")]
    Invalid {
        /// The key or argument.
        key: String,
        /// The rejected value.
        value: String,
        /// Why.
        reason: String,
    },

    /// An object that must exist does not.
    #[error("{what} {name} not found")]
    NotFound {
        /// The kind of object (`"volume group"`, `"logical volume"`, ...).
        what: &'static str,
        /// Its name.
        name: String,
    },

    /// An object that must not exist does.
    #[error("{what} {name} already exists")]
    AlreadyExists {
        /// The kind of object.
        what: &'static str,
        /// Its name.
        name: String,
    },

    /// The object is in use and cannot be changed that way.
    #[error("{what} {name} is in use: {reason}")]
    InUse {
        /// The kind of object.
        what: &'static str,
        /// Its name.
        name: String,
        /// How it is in use.
        reason: String,
    },

    /// The operation is not possible on this object.
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// The operation and its object.
        what: String,
        /// Why.
        reason: String,
    },

    /// A command printed something the driver cannot read.
    #[error("unexpected output of `{cmd}`: {reason}: {output:?}")]
    Parse {
        /// The command line.
        cmd: String,
        /// The offending output.
        output: String,
        /// What was wrong with it.
        reason: String,
    },

    /// A file, mount or loop device operation failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl LvmError {
    /// A rejected value.
    pub fn invalid(
        key: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        LvmError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Wraps this error as lxd-core's [`lxd_core::Error::Storage`] of the `lvm` driver.
    pub fn into_core(self) -> lxd_core::Error {
        lxd_core::Error::Storage {
            driver: super::NAME,
            source: Box::new(self),
        }
    }
}

/// The result type of the `lvm` driver.
pub type Result<T, E = LvmError> = std::result::Result<T, E>;

/// Converts driver results into lxd-core results.
pub(crate) trait IntoCore<T> {
    /// Maps the error with [`LvmError::into_core`].
    fn core(self) -> lxd_core::Result<T>;
}

impl<T> IntoCore<T> for Result<T> {
    fn core(self) -> lxd_core::Result<T> {
        self.map_err(LvmError::into_core)
    }
}
