//! The server: `GET /1.0` for trusted and untrusted clients, `PUT/PATCH /1.0`.

use super::{nullable, ConfigMap};
use serde::{Deserialize, Serialize};

/// A LXD server for an untrusted client.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerUntrusted {
    /// List of supported API extensions.
    #[serde(deserialize_with = "nullable")]
    pub api_extensions: Vec<String>,
    /// Support status of the current API (one of "devel", "stable" or "deprecated").
    pub api_status: String,
    /// API version number.
    pub api_version: String,
    /// Whether the client is trusted (one of "trusted" or "untrusted").
    pub auth: String,
    /// Whether the server is public-only (only public endpoints are implemented).
    pub public: bool,
    /// List of supported authentication methods.
    #[serde(deserialize_with = "nullable")]
    pub auth_methods: Vec<String>,
}

/// A LXD server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    /// Server configuration map (refer to doc/server.md).
    #[serde(deserialize_with = "nullable")]
    pub config: serde_json::Map<String, serde_json::Value>,
    /// List of supported API extensions.
    #[serde(deserialize_with = "nullable")]
    pub api_extensions: Vec<String>,
    /// Support status of the current API (one of "devel", "stable" or "deprecated").
    pub api_status: String,
    /// API version number.
    pub api_version: String,
    /// Whether the client is trusted (one of "trusted" or "untrusted").
    pub auth: String,
    /// Whether the server is public-only (only public endpoints are implemented).
    pub public: bool,
    /// List of supported authentication methods.
    #[serde(deserialize_with = "nullable")]
    pub auth_methods: Vec<String>,
    /// Read-only status/configuration information.
    #[serde(deserialize_with = "nullable")]
    pub environment: ServerEnvironment,
}

/// Modifiable fields of a LXD server configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerPut {
    /// Server configuration map (refer to doc/server.md).
    #[serde(deserialize_with = "nullable")]
    pub config: serde_json::Map<String, serde_json::Value>,
}

/// Read-only environment fields of a LXD server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerEnvironment {
    /// List of addresses the server is listening on.
    #[serde(deserialize_with = "nullable")]
    pub addresses: Vec<String>,
    /// List of architectures supported by the server.
    #[serde(deserialize_with = "nullable")]
    pub architectures: Vec<String>,
    /// Server certificate as PEM encoded X509.
    pub certificate: String,
    /// Server certificate fingerprint as SHA256.
    pub certificate_fingerprint: String,
    /// List of supported instance drivers (separate by " | ").
    pub driver: String,
    /// List of supported instance driver versions (separate by " | ").
    pub driver_version: String,
    /// Current firewall driver.
    pub firewall: String,
    /// OS kernel name.
    pub kernel: String,
    /// OS kernel architecture.
    pub kernel_architecture: String,
    /// Map of kernel features that were tested on startup.
    #[serde(deserialize_with = "nullable")]
    pub kernel_features: ConfigMap,
    /// Kernel version.
    pub kernel_version: String,
    /// Map of LXC features that were tested on startup.
    #[serde(deserialize_with = "nullable")]
    pub lxc_features: ConfigMap,
    /// Name of the operating system (Linux distribution).
    pub os_name: String,
    /// Version of the operating system (Linux distribution).
    pub os_version: String,
    /// Current project name.
    pub project: String,
    /// Server implementation name.
    pub server: String,
    /// Whether the server is part of a cluster.
    pub server_clustered: bool,
    /// Mode of the event distribution subsystem (`full-mesh`, `hub-server` or `hub-client`).
    pub server_event_mode: String,
    /// Server hostname.
    pub server_name: String,
    /// PID of the LXD process.
    pub server_pid: i64,
    /// Server version.
    pub server_version: String,
    /// List of active storage drivers (separate by " | ").
    pub storage: String,
    /// List of active storage driver versions (separate by " | ").
    pub storage_version: String,
    /// List of supported storage drivers.
    #[serde(deserialize_with = "nullable")]
    pub storage_supported_drivers: Vec<ServerStorageDriverInfo>,
}

/// Read-only info about a storage driver.
///
/// LXD writes these fields capitalized (`Name`, `Version`, `Remote`); lower case is accepted
/// too, as Go matches names case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerStorageDriverInfo {
    /// Name of the driver.
    #[serde(rename = "Name", alias = "name")]
    pub name: String,
    /// Version of the driver.
    #[serde(rename = "Version", alias = "version")]
    pub version: String,
    /// Whether the driver has remote volumes.
    #[serde(rename = "Remote", alias = "remote")]
    pub remote: bool,
}

impl Server {
    /// The modifiable fields, as `PUT /1.0` takes them.
    pub fn writable(&self) -> ServerPut {
        ServerPut {
            config: self.config.clone(),
        }
    }

    /// The fields an untrusted client is shown.
    pub fn untrusted(&self) -> ServerUntrusted {
        ServerUntrusted {
            api_extensions: self.api_extensions.clone(),
            api_status: self.api_status.clone(),
            api_version: self.api_version.clone(),
            auth: self.auth.clone(),
            public: self.public,
            auth_methods: self.auth_methods.clone(),
        }
    }
}
