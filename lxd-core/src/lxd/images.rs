//! The image store of [`Lxd`]: image files under `$LXD_DIR/images/` (`FINGERPRINT`, and
//! `FINGERPRINT.rootfs` for split images), their records, aliases, and image volumes on pools.

use std::path::{Path, PathBuf};

use super::{now, Lxd};
use crate::error::{Error, Result};
use crate::image::{self, ImageFiles};
use crate::revert::Revert;
use crate::store::{ConfigMap, ImageAliasRecord, ImageRecord, StoreError, StoreOp};

/// The outcome of an import.
#[derive(Debug, Clone)]
pub struct ImportedImage {
    /// The new record.
    pub record: ImageRecord,
    /// Aliases created with it.
    pub aliases: Vec<String>,
}

fn move_file(from: &Path, to: &Path) -> Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            std::fs::copy(from, to).map_err(|e| Error::io("copy image file", to, e))?;
            let _ = std::fs::remove_file(from);
            Ok(())
        }
        Err(e) => Err(Error::io("move image file", to, e)),
    }
}

fn remove_files(files: &ImageFiles) {
    match files {
        ImageFiles::Unified(p) => {
            let _ = std::fs::remove_file(p);
        }
        ImageFiles::Split { metadata, rootfs } => {
            let _ = std::fs::remove_file(metadata);
            let _ = std::fs::remove_file(rootfs);
        }
    }
}

fn file_size(p: &Path) -> i64 {
    std::fs::metadata(p).map(|m| m.len() as i64).unwrap_or(0)
}

impl Lxd {
    /// `$LXD_DIR/images`.
    pub fn images_dir(&self) -> PathBuf {
        self.dir.join("images")
    }

    /// The stored files of an image (for export and unpacking).
    pub fn image_files(&self, fingerprint: &str) -> ImageFiles {
        let meta = self.images_dir().join(fingerprint);
        let rootfs = self.images_dir().join(format!("{fingerprint}.rootfs"));
        if rootfs.exists() {
            ImageFiles::Split {
                metadata: meta,
                rootfs,
            }
        } else {
            ImageFiles::Unified(meta)
        }
    }

    /// Imports an image from files (a unified tarball, or metadata and rootfs). The files are
    /// moved into the image store (and removed if the import fails). The fingerprint is
    /// computed as LXD computes it; properties from `metadata.yaml` are kept, `properties`
    /// are added over them.
    pub async fn import_image(
        &self,
        project: &str,
        files: ImageFiles,
        filename: &str,
        public: bool,
        properties: ConfigMap,
        aliases: Vec<String>,
    ) -> Result<ImportedImage> {
        let probe = files.clone();
        let parsed = tokio::task::spawn_blocking(move || -> Result<_> {
            let fp = image::fingerprint(&probe)?;
            let meta = image::read_metadata(&probe)?;
            Ok((fp, meta))
        })
        .await
        .map_err(|e| Error::Invalid(format!("import task: {e}")));
        let (fingerprint, meta) = match parsed.and_then(|r| r) {
            Ok(v) => v,
            Err(e) => {
                remove_files(&files);
                return Err(e);
            }
        };
        let lock = self.lock_for(format!("image/{fingerprint}"));
        let _g = lock.lock().await;
        if self.store.image(project, &fingerprint).await.is_ok() {
            remove_files(&files);
            return Err(Error::InUse(format!(
                "Image with same fingerprint already exists: {fingerprint}"
            )));
        }
        let mut revert = Revert::new();
        let target = self.image_files(&fingerprint);
        let placed = match (&files, &target) {
            (ImageFiles::Unified(src), _) => {
                let dst = self.images_dir().join(&fingerprint);
                move_file(src, &dst).map(|_| ImageFiles::Unified(dst))
            }
            (ImageFiles::Split { metadata, rootfs }, _) => {
                let m = self.images_dir().join(&fingerprint);
                let r = self.images_dir().join(format!("{fingerprint}.rootfs"));
                move_file(metadata, &m)
                    .and_then(|_| move_file(rootfs, &r))
                    .map(|_| ImageFiles::Split {
                        metadata: m,
                        rootfs: r,
                    })
            }
        };
        let placed = match placed {
            Ok(p) => p,
            Err(e) => {
                remove_files(&files);
                return Err(e);
            }
        };
        {
            let p = placed.clone();
            revert.add(move || remove_files(&p));
        }
        let size = match &placed {
            ImageFiles::Unified(p) => file_size(p),
            ImageFiles::Split { metadata, rootfs } => file_size(metadata) + file_size(rootfs),
        };
        let mut props = meta.properties.clone();
        props.extend(properties);
        let t = now();
        let record = ImageRecord {
            project: project.to_string(),
            fingerprint: fingerprint.clone(),
            filename: filename.to_string(),
            size,
            public,
            auto_update: false,
            cached: false,
            architecture: meta.architecture.clone(),
            image_type: "container".into(),
            created_at: meta.creation_date,
            uploaded_at: t,
            expires_at: meta.expiry_date,
            last_used_at: 0,
            properties: props,
        };
        let mut ops = vec![StoreOp::CreateImage(record.clone())];
        for a in &aliases {
            ops.push(StoreOp::CreateAlias(ImageAliasRecord {
                project: project.to_string(),
                name: a.clone(),
                fingerprint: fingerprint.clone(),
                description: String::new(),
            }));
        }
        self.store.apply(ops).await?;
        revert.success();
        Ok(ImportedImage { record, aliases })
    }

    /// Finds an image by alias, full fingerprint or unique fingerprint prefix.
    pub async fn resolve_image(&self, project: &str, name: &str) -> Result<ImageRecord> {
        if let Ok(alias) = self.store.alias(project, name).await {
            return Ok(self.store.image(project, &alias.fingerprint).await?);
        }
        match self.store.image(project, name).await {
            Ok(i) => Ok(i),
            Err(StoreError::NotFound { .. }) => Err(StoreError::NotFound {
                kind: "Image",
                name: name.to_string(),
            }
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an image: its volumes on every pool, its files and its record (with aliases).
    pub async fn delete_image(&self, project: &str, fingerprint: &str) -> Result<()> {
        let rec = self.store.image(project, fingerprint).await?;
        let lock = self.lock_for(format!("image/{}", rec.fingerprint));
        let _g = lock.lock().await;
        let pools: Vec<_> = self
            .pools
            .read()
            .expect("pools lock")
            .values()
            .cloned()
            .collect();
        for pool in pools {
            pool.delete_image_volume(&rec.fingerprint).await?;
        }
        self.store
            .apply(vec![StoreOp::DeleteImage {
                project: project.to_string(),
                fingerprint: rec.fingerprint.clone(),
            }])
            .await?;
        remove_files(&self.image_files(&rec.fingerprint));
        Ok(())
    }
}
