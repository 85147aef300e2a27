//! lxd-core: the domain of the Rust LXD, as a library that Rust programs embed.
//!
//! It holds the instance types and configuration keys as LXD names them, the traits the
//! drivers implement ([`StorageDriver`], [`NetworkDriver`], [`ClusterStore`]), and a real
//! system-container runtime: user/pid/mount/net/uts/ipc/cgroup namespaces with an id map,
//! idmapped rootfs mounts, cgroups v1 and v2, LXD's seccomp and capability defaults, a monitor
//! process per container that outlives the program that started it, and exec.
//!
//! A program that runs containers must call [`init_hook`] first thing in `main`: the runtime
//! re-executes the program to become each container's monitor.
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() -> lxd_core::Result<()> {
//!     lxd_core::init_hook();
//!     let runtime = lxd_core::Runtime::new(lxd_core::RuntimeConfig::new("/var/lib/lxd-rs"))?;
//!     // ...
//!     Ok(())
//! }
//! ```

pub mod config;
pub mod error;
pub mod image;
pub mod instance;
pub mod lxd;
pub mod network;
pub mod revert;
pub mod runtime;
pub mod storage;
pub mod store;

pub use config::{ConfigError, InstanceConfig};
pub use error::{Error, Result};
pub use instance::{
    ExecCommand, ExecOutput, ExecStdio, Instance, InstanceState, InstanceStatus, WindowSize,
};
pub use lxd::{CreateInstance, InstanceSource, InstanceUpdate, Lxd, LxdConfig};
pub use network::{NetworkDriver, NicDriver};
pub use runtime::exec_client::ExecProcess;
pub use runtime::{Container, PrestartHook, Runtime, RuntimeConfig, SpecNic};
pub use storage::{PoolInfo, StorageCapabilities, StorageDriver, VolumeInfo};
pub use store::ClusterStore;

/// Turns this process into a container monitor when the runtime re-executed it as one, and
/// returns at once otherwise. Call it first thing in `main` of every program that starts
/// containers (before any thread is created).
pub fn init_hook() {
    if let Some(role) = std::env::var_os(runtime::REEXEC_ENV) {
        // SAFETY: called at the start of main before threads exist, as documented.
        unsafe { std::env::remove_var(runtime::REEXEC_ENV) };
        if role == "monitor" {
            runtime::monitor::main();
        }
    }
}
