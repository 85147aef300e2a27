//! Fixtures of the store tests: a temporary LXD directory removed on drop, and one record
//! of each kind.

// Each test binary uses a part of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use lxd_cluster::SqliteStore;
use lxd_core::store::{
    ClusterStore, ConfigMap, Database, Devices, ImageRecord, InstanceRecord, InstanceType,
    ProfileRecord, ProjectRecord, SnapshotRecord, StoragePoolRecord, StoreError, VolumeKey,
    VolumeRecord, VolumeSnapshotRecord, VolumeType,
};

/// A unique directory under /tmp, removed when dropped (also when the test fails).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Result<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "lxd-cluster-test-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn global(&self) -> PathBuf {
        self.0.join("database/global/db.bin")
    }

    pub fn local(&self) -> PathBuf {
        self.0.join("database/local.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub async fn open(dir: &TempDir) -> Result<SqliteStore> {
    Ok(SqliteStore::open_dir(&dir.0).await?)
}

pub fn map(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn devices(list: &[(&str, &[(&str, &str)])]) -> Devices {
    list.iter()
        .map(|(name, pairs)| (name.to_string(), map(pairs)))
        .collect()
}

pub fn project(name: &str) -> ProjectRecord {
    ProjectRecord {
        name: name.into(),
        description: format!("project {name}"),
        config: map(&[
            ("features.images", "true"),
            ("features.profiles", "true"),
            ("features.storage.volumes", "true"),
            ("limits.instances", "5"),
        ]),
    }
}

pub fn profile(project: &str, name: &str) -> ProfileRecord {
    ProfileRecord {
        project: project.into(),
        name: name.into(),
        description: format!("profile {name}"),
        config: map(&[("limits.memory", "256MiB"), ("environment.FOO", "bar")]),
        devices: devices(&[
            ("root", &[("type", "disk"), ("path", "/"), ("pool", "p1")]),
            (
                "eth0",
                &[
                    ("type", "nic"),
                    ("nictype", "bridged"),
                    ("parent", "lxdbr0"),
                ],
            ),
        ]),
    }
}

pub fn instance(project: &str, name: &str, profiles: &[&str]) -> InstanceRecord {
    InstanceRecord {
        project: project.into(),
        name: name.into(),
        node: "none".into(),
        instance_type: InstanceType::Container,
        architecture: "x86_64".into(),
        ephemeral: false,
        stateful: true,
        description: format!("instance {name}"),
        config: map(&[
            ("image.os", "Debian"),
            ("volatile.base_image", "abcd"),
            ("security.privileged", "false"),
        ]),
        devices: devices(&[
            (
                "data",
                &[("type", "disk"), ("source", "/srv"), ("path", "/mnt")],
            ),
            (
                "proxy0",
                &[
                    ("type", "proxy"),
                    ("listen", "tcp:127.0.0.1:80"),
                    ("connect", "tcp:127.0.0.1:8080"),
                ],
            ),
            ("gpu0", &[("type", "gpu")]),
        ]),
        profiles: profiles.iter().map(|p| p.to_string()).collect(),
        created_at: 1_700_000_000,
        last_used_at: 1_700_000_500,
    }
}

pub fn snapshot(project: &str, instance: &str, name: &str, created_at: i64) -> SnapshotRecord {
    SnapshotRecord {
        project: project.into(),
        instance: instance.into(),
        name: name.into(),
        config: map(&[("image.os", "Debian"), ("limits.cpu", "2")]),
        devices: devices(&[(
            "data",
            &[("type", "disk"), ("source", "/srv"), ("path", "/mnt")],
        )]),
        profiles: vec!["default".into(), "web".into()],
        stateful: false,
        description: format!("snapshot {name}"),
        created_at,
        expires_at: created_at + 86_400,
    }
}

pub fn fingerprint(prefix: &str) -> String {
    let mut f = prefix.to_string();
    while f.len() < 64 {
        f.push('0');
    }
    f
}

pub fn image(project: &str, fp: &str) -> ImageRecord {
    ImageRecord {
        project: project.into(),
        fingerprint: fp.into(),
        filename: "debian-12.tar.xz".into(),
        size: 123_456_789,
        public: true,
        auto_update: true,
        cached: false,
        architecture: "x86_64".into(),
        image_type: "container".into(),
        created_at: 1_690_000_000,
        uploaded_at: 1_690_000_100,
        expires_at: 0,
        last_used_at: 1_690_000_200,
        properties: map(&[
            ("os", "Debian"),
            ("release", "bookworm"),
            ("description", "Debian 12"),
        ]),
    }
}

pub fn pool(name: &str) -> StoragePoolRecord {
    StoragePoolRecord {
        name: name.into(),
        driver: "dir".into(),
        description: format!("pool {name}"),
        config: map(&[
            ("source", "/var/lib/lxd/storage-pools/p1"),
            ("rsync.bwlimit", "10MB"),
        ]),
        status: "CREATED".into(),
    }
}

pub fn volume(pool: &str, project: &str, t: VolumeType, name: &str) -> VolumeRecord {
    VolumeRecord {
        pool: pool.into(),
        project: project.into(),
        volume_type: t,
        name: name.into(),
        description: format!("volume {name}"),
        content_type: "filesystem".into(),
        config: map(&[("size", "1GiB")]),
    }
}

pub fn key(pool: &str, project: &str, t: VolumeType, name: &str) -> VolumeKey {
    VolumeKey {
        pool: pool.into(),
        project: project.into(),
        volume_type: t,
        name: name.into(),
    }
}

pub fn volume_snapshot(volume: &str, name: &str) -> VolumeSnapshotRecord {
    VolumeSnapshotRecord {
        pool: "p1".into(),
        project: "default".into(),
        volume_type: VolumeType::Custom,
        volume: volume.into(),
        name: name.into(),
        description: format!("snapshot {name}"),
        config: map(&[("size", "1GiB")]),
        expires_at: 1_800_000_000,
    }
}

pub fn is_not_found(e: &StoreError, kind: &str, name: &str) -> bool {
    matches!(e, StoreError::NotFound { kind: k, name: n } if *k == kind && n == name)
}

pub fn is_exists(e: &StoreError, kind: &str, name: &str) -> bool {
    matches!(e, StoreError::AlreadyExists { kind: k, name: n } if *k == kind && n == name)
}

pub async fn rows(store: &SqliteStore, db: Database, sql: &str) -> Result<Vec<Vec<String>>> {
    let r = store.query(db, sql).await?;
    Ok(r.rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| v.unwrap_or_else(|| "NULL".into()))
                .collect()
        })
        .collect())
}

pub fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}
