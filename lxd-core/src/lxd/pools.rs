//! Storage pool operations of [`Lxd`].

use std::sync::Arc;

use super::Lxd;
use crate::error::{Error, Result};
use crate::storage::pool::Pool;
use crate::store::ConfigMap;

impl Lxd {
    /// Creates a storage pool with one of the drivers.
    pub async fn create_pool(
        &self,
        name: &str,
        driver: &str,
        description: &str,
        config: ConfigMap,
    ) -> Result<Arc<Pool>> {
        let lock = self.lock_for(format!("pool/{name}"));
        let _g = lock.lock().await;
        let d = self.driver(driver)?;
        let pool = Arc::new(
            Pool::create(self.store.clone(), d, name, description, config, &self.dir).await?,
        );
        self.pools
            .write()
            .expect("pools lock")
            .insert(name.to_string(), pool.clone());
        Ok(pool)
    }

    /// Deletes an empty storage pool. Unused image volumes on it are removed first, as LXD
    /// does.
    pub async fn delete_pool(&self, name: &str) -> Result<()> {
        let lock = self.lock_for(format!("pool/{name}"));
        let _g = lock.lock().await;
        let pool = self.pool(name)?;
        for vol in self.store.volumes(name).await? {
            if vol.volume_type == crate::store::VolumeType::Image {
                pool.delete_image_volume(&vol.name).await?;
            }
        }
        let in_use: Vec<String> = self
            .store
            .profiles("default")
            .await?
            .into_iter()
            .filter(|p| {
                p.devices
                    .values()
                    .any(|d| d.get("pool").map(String::as_str) == Some(name))
            })
            .map(|p| p.name)
            .collect();
        if !in_use.is_empty() {
            return Err(Error::InUse(format!(
                "The storage pool {name:?} is used by profiles: {}",
                in_use.join(", ")
            )));
        }
        pool.delete().await?;
        self.pools.write().expect("pools lock").remove(name);
        Ok(())
    }

    /// Names of the open pools.
    pub fn pool_names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .pools
            .read()
            .expect("pools lock")
            .keys()
            .cloned()
            .collect();
        v.sort();
        v
    }
}
