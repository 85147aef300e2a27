//! The error type of lxd-net: one enum whose variants record the network, interface, key,
//! path or command that failed, and its conversion into [`lxd_core::Error`].
//!
//! lxd-core has no network variant yet: bad input becomes [`lxd_core::Error::Invalid`] (the
//! API answers 400 with the message), a conflict [`lxd_core::Error::InUse`], and everything
//! else [`lxd_core::Error::Io`] with `what = "network"` and the object's name as the path.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use nix::errno::Errno;

/// Every error lxd-net returns.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// A configuration key, device option or argument has a value that cannot be used.
    #[error("invalid {key} {value:?}: {reason}")]
    Invalid {
        /// The key (`"ipv4.address"`, `"network name"`, `"limits.ingress"`).
        key: String,
        /// The rejected value.
        value: String,
        /// Why it was rejected.
        reason: String,
    },

    /// A key this implementation knows but does not provide, or a key nobody knows.
    #[error("{object}: configuration key {key:?} {reason}")]
    Key {
        /// The network or device the key was given to.
        object: String,
        /// The key.
        key: String,
        /// `"is unknown"`, or why it is not provided.
        reason: String,
    },

    /// The new network's subnet overlaps one that is in use.
    #[error("network {network}: {key} {subnet} overlaps {other}")]
    Overlap {
        /// The network being checked.
        network: String,
        /// Its key holding the subnet.
        key: &'static str,
        /// Its subnet.
        subnet: String,
        /// What it overlaps (`network lxdbr1 (10.1.2.0/24)`, `route 10.0.0.0/8 on eth0`).
        other: String,
    },

    /// A netlink request failed.
    #[error("{op}: {message}")]
    Netlink {
        /// What was being done, naming the interface (`"create bridge lxdbr0"`).
        op: String,
        /// The errno the kernel answered, when it answered one.
        errno: Option<Errno>,
        /// The kernel's or the library's message.
        message: String,
    },

    /// A file-system or system call on a path failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`"write"`, `"open network namespace"`).
        op: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// An external command (nft, tc, dnsmasq) failed.
    #[error("command {cmd} failed ({status}): {stderr}")]
    Command {
        /// The command line.
        cmd: String,
        /// How it ended.
        status: ExitStatus,
        /// What it wrote to stderr (trimmed).
        stderr: String,
    },

    /// An external command could not be started.
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        /// The program.
        cmd: String,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// The DNS/DHCP service of a network failed.
    #[error("network {network}: dnsmasq {message}")]
    Dnsmasq {
        /// The network.
        network: String,
        /// What happened, with dnsmasq's own words when it printed any.
        message: String,
    },

    /// An interface or network that must exist does not.
    #[error("{what} {name} not found")]
    NotFound {
        /// `"interface"`, `"network"`, `"address in fan.underlay_subnet"`.
        what: String,
        /// Its name.
        name: String,
    },

    /// An interface that must not exist does.
    #[error("{what} {name} already exists")]
    AlreadyExists {
        /// `"interface"`.
        what: String,
        /// Its name.
        name: String,
    },

    /// The kernel or this implementation lacks a feature the configuration asks for.
    #[error("{what} is not supported: {reason}")]
    Unsupported {
        /// The feature (`"bridge.driver=openvswitch"`, `"vlan interfaces"`).
        what: String,
        /// Why.
        reason: String,
    },
}

impl NetError {
    /// A rejected value.
    pub fn invalid(
        key: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        NetError::Invalid {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// An I/O error on a path.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        NetError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A missing object.
    pub fn not_found(what: impl Into<String>, name: impl Into<String>) -> Self {
        NetError::NotFound {
            what: what.into(),
            name: name.into(),
        }
    }

    /// An unsupported feature.
    pub fn unsupported(what: impl Into<String>, reason: impl Into<String>) -> Self {
        NetError::Unsupported {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// The errno behind this error, when it came from the kernel.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            NetError::Netlink { errno, .. } => *errno,
            NetError::Io { source, .. } | NetError::Spawn { source, .. } => {
                source.raw_os_error().map(Errno::from_raw)
            }
            _ => None,
        }
    }

    /// Whether the input was at fault (the API answers 400).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            NetError::Invalid { .. }
                | NetError::Key { .. }
                | NetError::Overlap { .. }
                | NetError::Unsupported { .. }
                | NetError::NotFound { .. }
        )
    }

    /// The object (network, interface, path) the error is about, for [`lxd_core::Error::Network`].
    fn object(&self) -> PathBuf {
        match self {
            NetError::Io { path, .. } => path.clone(),
            NetError::Netlink { op, .. } => PathBuf::from(op.rsplit(' ').next().unwrap_or(op)),
            NetError::Dnsmasq { network, .. } => PathBuf::from(network),
            NetError::Command { cmd, .. } | NetError::Spawn { cmd, .. } => {
                PathBuf::from(cmd.split(' ').next().unwrap_or(cmd))
            }
            NetError::AlreadyExists { name, .. } => PathBuf::from(name),
            _ => PathBuf::new(),
        }
    }
}

impl From<NetError> for lxd_core::Error {
    fn from(e: NetError) -> Self {
        if e.is_bad_input() {
            return lxd_core::Error::Invalid(e.to_string());
        }
        if let NetError::AlreadyExists { .. } = e {
            return lxd_core::Error::InUse(e.to_string());
        }
        lxd_core::Error::Network {
            object: e.object().display().to_string(),
            source: Box::new(e),
        }
    }
}

/// The result type of lxd-net.
pub type Result<T, E = NetError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_becomes_invalid_with_the_key() {
        let e: lxd_core::Error =
            NetError::invalid("ipv4.address", "10.0.0.300/24", "not an IPv4 CIDR").into();
        match e {
            lxd_core::Error::Invalid(msg) => {
                assert!(msg.contains("ipv4.address"), "{msg}");
                assert!(msg.contains("10.0.0.300/24"), "{msg}");
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn netlink_failure_becomes_a_network_error_naming_the_interface() {
        let e: lxd_core::Error = NetError::Netlink {
            op: "create bridge lxdbr0".into(),
            errno: Some(Errno::EEXIST),
            message: "File exists".into(),
        }
        .into();
        match e {
            lxd_core::Error::Network { object, source } => {
                assert_eq!(object, "lxdbr0");
                assert!(source.to_string().contains("create bridge lxdbr0"));
            }
            other => panic!("expected Network, got {other:?}"),
        }
    }
}
