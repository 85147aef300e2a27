//! Recovery after a crash or a kill of the program: what an interrupted operation left behind
//! is finished or removed, so no half-made instance, volume or image remains.

use super::Lxd;
use crate::error::Result;
use crate::storage::pool::disk_name;
use crate::storage::VolumeInfo;
use crate::store::VolumeType;

impl Lxd {
    /// Cleans up after an interrupted run: volumes on disk without a record (a create or copy
    /// killed before it was recorded), half-done restores, image uploads never recorded.
    pub async fn recover(&self) -> Result<()> {
        let pools: Vec<_> = self
            .pools
            .read()
            .expect("pools lock")
            .values()
            .cloned()
            .collect();
        for pool in pools {
            let recorded = self.store.volumes(pool.name()).await?;
            for t in [VolumeType::Container, VolumeType::Image, VolumeType::Custom] {
                let known: Vec<String> = recorded
                    .iter()
                    .filter(|v| v.volume_type == t)
                    .map(|v| {
                        if t == VolumeType::Image {
                            v.name.clone()
                        } else {
                            disk_name(&v.project, &v.name)
                        }
                    })
                    .collect();
                let (driver, info) = (pool.driver().clone(), pool.info().clone());
                let on_disk = {
                    let (d, i) = (driver.clone(), info.clone());
                    tokio::task::spawn_blocking(move || d.list_volumes(&i, t))
                        .await
                        .map_err(|e| crate::Error::Invalid(format!("recovery task: {e}")))??
                };
                for name in on_disk {
                    if known.contains(&name) {
                        continue;
                    }
                    // A restore that was cut short: `.NAME.restore` / `.NAME.old`.
                    if let Some(base) = name.strip_prefix('.').and_then(|n| {
                        n.strip_suffix(".old")
                            .or_else(|| n.strip_suffix(".restore"))
                    }) {
                        let live = VolumeInfo::new(t, base).path(&info);
                        let leftover = VolumeInfo::new(t, &name).path(&info);
                        if name.ends_with(".old") && !live.exists() {
                            tracing::warn!(
                                pool = pool.name(),
                                "finishing an interrupted restore of {base}"
                            );
                            let _ = std::fs::rename(&leftover, &live);
                            continue;
                        }
                    }
                    tracing::warn!(pool = pool.name(), volume = %name, "removing a volume left by an interrupted operation");
                    let (d, i) = (driver.clone(), info.clone());
                    let vol = VolumeInfo::new(t, &name);
                    let snaps_dir = vol.snapshots_dir(&info);
                    tokio::task::spawn_blocking(move || {
                        if let Ok(entries) = std::fs::read_dir(&snaps_dir) {
                            for e in entries.flatten() {
                                if let Some(s) = e.file_name().to_str() {
                                    let _ = d.delete_snapshot(&i, &vol, s);
                                }
                            }
                        }
                        d.delete_volume(&i, &vol)
                    })
                    .await
                    .map_err(|e| crate::Error::Invalid(format!("recovery task: {e}")))??;
                }
            }
        }
        // Image files that no record owns (an upload or import killed half-way).
        let images = self.images_dir();
        let mut known = std::collections::HashSet::new();
        for p in self.store.projects().await? {
            for i in self.store.images(&p.name).await? {
                known.insert(i.fingerprint.clone());
                known.insert(format!("{}.rootfs", i.fingerprint));
            }
        }
        if let Ok(entries) = std::fs::read_dir(&images) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    tracing::warn!("removing image file {name} left by an interrupted import");
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }
}
