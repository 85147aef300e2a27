//! The orchestration an embedding program (and the daemon) uses: [`Lxd`] ties the state store,
//! the storage pools and their drivers, the image store and the container runtime together, and
//! carries out LXD's operations on them with rollback on failure.

mod images;
mod instances;
mod networks;
mod nics;
mod pools;
mod recover;

pub use images::ImportedImage;
pub use instances::{validate_devices, CreateInstance, InstanceSource, InstanceUpdate};
pub use networks::{NetworkUser, NETWORK_TYPES};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::{Error, Result};
use crate::network::{NetworkDriver, NicDriver};
use crate::runtime::{Runtime, RuntimeConfig};
use crate::storage::pool::Pool;
use crate::storage::StorageDriver;
use crate::store::{ClusterStore, StoreError};

/// Settings of an [`Lxd`].
#[derive(Debug, Clone)]
pub struct LxdConfig {
    /// The data directory (`$LXD_DIR`).
    pub lxd_dir: PathBuf,
    /// The container runtime's settings.
    pub runtime: RuntimeConfig,
}

impl LxdConfig {
    /// Defaults for a data directory: the runtime's files under it as well.
    pub fn new(lxd_dir: impl AsRef<Path>) -> Self {
        let dir = lxd_dir.as_ref();
        LxdConfig {
            lxd_dir: dir.to_path_buf(),
            runtime: RuntimeConfig::new(dir),
        }
    }
}

/// LXD as a library: pools, images and instances over a [`ClusterStore`].
pub struct Lxd {
    dir: PathBuf,
    store: Arc<dyn ClusterStore>,
    runtime: Runtime,
    drivers: HashMap<&'static str, Arc<dyn StorageDriver>>,
    /// The drivers that can work on this host, probed once on first use (the probes run
    /// the drivers' tools; `GET /1.0`, which every client command sends, reads this).
    available: std::sync::OnceLock<Vec<&'static str>>,
    pools: RwLock<HashMap<String, Arc<Pool>>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    net_drivers: HashMap<&'static str, Arc<dyn NetworkDriver>>,
    nic_driver: Option<Arc<dyn NicDriver>>,
}

impl Lxd {
    /// Opens the data directory: creates its layout, and mounts every recorded pool with its
    /// driver (one of `drivers`).
    pub async fn open(
        config: LxdConfig,
        store: Arc<dyn ClusterStore>,
        drivers: Vec<Arc<dyn StorageDriver>>,
    ) -> Result<Self> {
        for d in ["images", "storage-pools", "disks", "containers"] {
            let p = config.lxd_dir.join(d);
            std::fs::create_dir_all(&p).map_err(|e| Error::io("create directory", &p, e))?;
        }
        let runtime = Runtime::new(config.runtime)?;
        let drivers: HashMap<&'static str, Arc<dyn StorageDriver>> =
            drivers.into_iter().map(|d| (d.name(), d)).collect();
        let lxd = Lxd {
            dir: config.lxd_dir,
            store,
            runtime,
            drivers,
            available: std::sync::OnceLock::new(),
            pools: RwLock::new(HashMap::new()),
            locks: Mutex::new(HashMap::new()),
            net_drivers: HashMap::new(),
            nic_driver: None,
        };
        for rec in lxd.store.pools().await? {
            let driver = lxd.driver(&rec.driver)?;
            match Pool::open(lxd.store.clone(), driver, &rec, &lxd.dir).await {
                Ok(pool) => {
                    lxd.pools
                        .write()
                        .expect("pools lock")
                        .insert(rec.name.clone(), Arc::new(pool));
                }
                Err(e) => tracing::error!(pool = %rec.name, "cannot mount storage pool: {e}"),
            }
        }
        Ok(lxd)
    }

    /// Adds networking: drivers of managed network types (`bridge`, ...) and the driver that
    /// plugs nics into instances. Without them instances have no nics and no network can
    /// be created. Call [`Lxd::start_networks`] next to bring the recorded networks up.
    pub fn with_networking(
        mut self,
        drivers: Vec<Arc<dyn NetworkDriver>>,
        nic: Arc<dyn NicDriver>,
    ) -> Self {
        self.net_drivers = drivers.into_iter().map(|d| (d.kind(), d)).collect();
        self.nic_driver = Some(nic);
        self
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The state store.
    pub fn store(&self) -> &Arc<dyn ClusterStore> {
        &self.store
    }

    /// The container runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The driver called `name`.
    pub fn driver(&self, name: &str) -> Result<Arc<dyn StorageDriver>> {
        self.drivers
            .get(name)
            .cloned()
            .ok_or_else(|| Error::Invalid(format!("Unknown storage driver {name:?}")))
    }

    /// Names of the storage drivers that can work on this host (see
    /// [`StorageDriver::check_available`]), as probed on the first call. Creating a pool
    /// probes its driver again, so a tool installed later is not refused.
    pub fn driver_names(&self) -> Vec<&'static str> {
        self.available
            .get_or_init(|| {
                let mut v: Vec<&'static str> = self
                    .drivers
                    .iter()
                    .filter(|(_, d)| d.check_available().is_ok())
                    .map(|(n, _)| *n)
                    .collect();
                v.sort_unstable();
                v
            })
            .clone()
    }

    /// An open pool.
    pub fn pool(&self, name: &str) -> Result<Arc<Pool>> {
        self.pools
            .read()
            .expect("pools lock")
            .get(name)
            .cloned()
            .ok_or_else(|| {
                StoreError::NotFound {
                    kind: "Storage pool",
                    name: name.to_string(),
                }
                .into()
            })
    }

    /// A lock that serialises operations on one object (an instance, an image).
    fn lock_for(&self, key: String) -> Arc<tokio::sync::Mutex<()>> {
        self.locks
            .lock()
            .expect("locks lock")
            .entry(key)
            .or_default()
            .clone()
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
