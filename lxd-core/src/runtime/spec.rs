//! Everything a monitor needs to run one container, computed by the runtime in the embedding
//! program and handed to the monitor when it is spawned.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::InstanceConfig;
use crate::runtime::cgroup::Cgroup;
use crate::runtime::idmap::IdmapSet;

/// How an unprivileged rootfs is presented to the container's id map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdmapMode {
    /// An idmapped mount where the kernel and filesystem support it, else a one-time shift.
    #[default]
    Auto,
    /// Always shift ownership on disk (recorded in `volatile.last_state.idmap`).
    Shift,
}

/// The files of one instance's runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePaths {
    /// Directory of the control socket and pid file.
    pub run_dir: PathBuf,
    /// Directory of `console.log` and `monitor.log`.
    pub log_dir: PathBuf,
}

impl InstancePaths {
    /// The monitor's control socket.
    pub fn socket(&self) -> PathBuf {
        self.run_dir.join("monitor.sock")
    }
    /// The monitor's pid file (monitor pid and init pid).
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join("monitor.pid")
    }
    /// The console log.
    pub fn console_log(&self) -> PathBuf {
        self.log_dir.join("console.log")
    }
    /// The monitor's own log.
    pub fn monitor_log(&self) -> PathBuf {
        self.log_dir.join("monitor.log")
    }
}

/// A host directory or file bound into the container (a `disk` device other than the root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskMount {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the container.
    pub path: String,
    /// Mounted read-only.
    pub readonly: bool,
}

/// A network interface the container holds (a nic device attached by the embedding program).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecNic {
    /// Its name inside the container (`eth0`).
    pub name: String,
    /// For a host interface moved in (a `physical` nic): the name it gets back on the host
    /// when the container stops for good.
    pub host_name: Option<String>,
}

/// A container to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Runtime id (directories, cgroup).
    pub name: String,
    /// The container's hostname (the instance name).
    pub hostname: String,
    /// The root filesystem directory.
    pub rootfs: PathBuf,
    /// Validated configuration.
    pub config: InstanceConfig,
    /// The id map (empty when privileged).
    pub idmap: IdmapSet,
    /// The map the rootfs is shifted to on disk (`volatile.last_state.idmap`), if any.
    pub disk_idmap: IdmapSet,
    /// Idmapped mount or shift.
    pub idmap_mode: IdmapMode,
    /// The instance's cgroup, planned.
    pub cgroup: Cgroup,
    /// Runtime files.
    pub paths: InstancePaths,
    /// The signal that asks init to halt.
    pub halt_signal: i32,
    /// The cgroup hierarchies to mount inside the container: (directory name under
    /// `/sys/fs/cgroup`, mount options); an empty name means cgroup2 at `/sys/fs/cgroup` itself.
    pub cgroup_mounts: Vec<(String, String)>,
    /// Host paths bound into the container.
    pub mounts: Vec<DiskMount>,
    /// The nics the container holds: carried over reboots, physical ones handed back.
    #[serde(default)]
    pub nics: Vec<SpecNic>,
    /// Whether the spawner runs a hook (attaching nics) between the creation of the
    /// container's namespaces and its init: the monitor reports `Created` and waits for `go`.
    #[serde(default)]
    pub prestart_hook: bool,
}
