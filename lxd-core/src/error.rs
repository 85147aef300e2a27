//! The error type of lxd-core: one enum that wraps the errors of its modules and records the
//! object (instance, path, cgroup) that failed.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::image::ImageError;
use crate::runtime::cgroup::CgroupError;
use crate::runtime::idmap::IdmapError;
use crate::store::StoreError;

/// Every error lxd-core returns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An instance configuration key or value was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// An id map could not be built or applied.
    #[error(transparent)]
    Idmap(#[from] IdmapError),

    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),

    /// The instance name is not usable (LXD requires a valid hostname).
    #[error("Invalid instance name {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The instance is not in a state that allows the operation.
    #[error("Instance {name:?}: {message}")]
    InvalidState {
        /// The instance.
        name: String,
        /// LXD's wording, e.g. "The instance is already running".
        message: &'static str,
    },

    /// The root filesystem cannot be used to start a container.
    #[error("Instance {name:?}: invalid root filesystem {path}: {reason}")]
    InvalidRootfs {
        /// The instance.
        name: String,
        /// The rootfs path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A file-system or system call on a path failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Starting a container failed; the message comes from the monitor or the container's
    /// setup and names the step that failed.
    #[error("Failed to start instance {name:?}: {message}")]
    Start {
        /// The instance.
        name: String,
        /// The failing step and its cause.
        message: String,
    },

    /// The monitor process of an instance failed or answered with an error.
    #[error("Instance {name:?}: {message}")]
    Monitor {
        /// The instance.
        name: String,
        /// What went wrong.
        message: String,
    },

    /// A command could not be run in the instance.
    #[error("Exec in instance {name:?} failed: {message}")]
    Exec {
        /// The instance.
        name: String,
        /// What went wrong.
        message: String,
    },

    /// The seccomp filter could not be built.
    #[error("seccomp: {0}")]
    Seccomp(String),

    /// The state store failed or refused a change.
    #[error(transparent)]
    Store(#[from] StoreError),

    /// An image could not be read, unpacked or built.
    #[error(transparent)]
    Image(#[from] ImageError),

    /// A storage driver failed.
    #[error("storage driver {driver}: {source}")]
    Storage {
        /// The driver's name.
        driver: &'static str,
        /// The driver's error, which names the pool, volume or path.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A network or nic driver failed (not because of bad input).
    #[error("{source}")]
    Network {
        /// The network, interface or device that failed.
        object: String,
        /// The driver's error, which names it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// The request is not valid (bad argument, unknown device type, ...).
    #[error("{0}")]
    Invalid(String),

    /// The object is in use and cannot be changed that way.
    #[error("{0}")]
    InUse(String),
}

impl Error {
    /// Wraps an I/O error with what was being done and the path it was done to.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// The result type of lxd-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
