//! A data directory with a state store, an `lvm` pool of a unique name (volume groups are
//! system-wide), and the busybox image imported as `busybox`. Everything the site made
//! (instances, images, the pool and its volume group, physical volume, loop devices, loop
//! files, mounts) is removed when it is dropped, also when the test failed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{bail, Context};
use lxd_cluster::SqliteStore;
use lxd_core::image::{busybox, ImageFiles};
use lxd_core::store::{ClusterStore, ConfigMap, StoreOp, VolumeType};
use lxd_core::{Instance, Lxd, LxdConfig, VolumeInfo};

use crate::block;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this process and call, usable as a pool and volume group name.
pub fn unique(tag: &str) -> String {
    format!(
        "lxdt{}{tag}{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

/// The busybox image, built once per test process.
fn busybox_image() -> &'static PathBuf {
    static IMG: OnceLock<PathBuf> = OnceLock::new();
    IMG.get_or_init(|| {
        let p = PathBuf::from(format!(
            "/tmp/lxd-lvm-{}-busybox.tar.xz",
            std::process::id()
        ));
        busybox::build_image(&p).expect("build busybox image");
        p
    })
}

/// Removes the busybox image built by [`busybox_image`].
pub fn remove_busybox_image() {
    let _ = std::fs::remove_file(format!(
        "/tmp/lxd-lvm-{}-busybox.tar.xz",
        std::process::id()
    ));
}

/// Runs a command; its stdout, or an error with its stderr.
pub fn cmd(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .env("LVM_SUPPRESS_FD_WARNINGS", "1")
        .output()
        .with_context(|| format!("run {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `lvs -o FIELD VG/LV`, trimmed; `None` when the logical volume does not exist.
pub fn lv_field(vg: &str, lv: &str, field: &str) -> Option<String> {
    cmd(
        "lvm",
        &[
            "lvs",
            "--noheadings",
            "--nosuffix",
            "--units",
            "b",
            "-o",
            field,
            &format!("{vg}/{lv}"),
        ],
    )
    .ok()
    .map(|s| s.trim().to_string())
}

/// Names of the logical volumes of a volume group (empty when it does not exist).
pub fn lv_names(vg: &str) -> Vec<String> {
    cmd("lvm", &["lvs", "--noheadings", "-o", "lv_name", vg])
        .map(|s| s.split_whitespace().map(String::from).collect())
        .unwrap_or_default()
}

/// Whether a volume group exists.
pub fn vg_exists(vg: &str) -> bool {
    cmd("lvm", &["vgs", "--noheadings", "-o", "vg_name", vg]).is_ok()
}

/// Loop devices whose backing file is below `dir`.
pub fn loops_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/block")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        if let Ok(b) = std::fs::read_to_string(e.path().join("loop/backing_file")) {
            if Path::new(b.trim()).starts_with(dir) {
                out.push(format!("/dev/{name}"));
            }
        }
    }
    out
}

/// Mount points below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let prefix = format!("{}/", dir.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// The filesystem type mounted at `path`.
pub fn fstype_at(path: &Path) -> Option<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            (Path::new(pre.split_whitespace().nth(4)?) == path)
                .then(|| post.split_whitespace().next().map(str::to_string))
                .flatten()
        })
}

/// Size in bytes of the filesystem mounted at `path`.
pub fn fs_size(path: &Path) -> anyhow::Result<u64> {
    let s = nix::sys::statvfs::statvfs(path)?;
    Ok(s.blocks() * s.fragment_size())
}

/// A data directory with an lvm pool named [`Site::pool`].
pub struct Site {
    /// The data directory.
    pub dir: PathBuf,
    /// The pool's (and by default its volume group's) name.
    pub pool: String,
    /// The volume group.
    pub vg: String,
    /// The orchestration.
    pub lxd: Option<Lxd>,
}

/// Opens (or creates) the orchestration of a data directory.
pub async fn open_plain(dir: &Path) -> anyhow::Result<Lxd> {
    Ok(open(dir).await)
}

async fn open(dir: &Path) -> Lxd {
    let store: Arc<dyn ClusterStore> = Arc::new(SqliteStore::open_dir(dir).await.expect("store"));
    let mut cfg = LxdConfig::new(dir);
    cfg.runtime.cgroup_subtree = dir.file_name().unwrap().to_string_lossy().into_owned();
    Lxd::open(cfg, store, lxd_storage::drivers())
        .await
        .expect("lxd")
}

impl Site {
    /// A site whose pool is made with `config` (a loop file of `size=2GiB` when `config`
    /// has no `source` and no `size`), with the busybox image imported.
    pub fn new(tag: &str, mut config: ConfigMap) -> anyhow::Result<Site> {
        let pool = unique(tag);
        let dir = PathBuf::from(format!("/tmp/lxd-lvm-{pool}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        if !config.contains_key("source") && !config.contains_key("size") {
            config.insert("size".into(), "2GiB".into());
        }
        let vg = config
            .get("lvm.vg_name")
            .cloned()
            .or_else(|| {
                config
                    .get("source")
                    .filter(|s| !s.starts_with('/'))
                    .cloned()
            })
            .unwrap_or_else(|| pool.clone());
        let mut site = Site {
            dir: dir.clone(),
            pool: pool.clone(),
            vg,
            lxd: None,
        };
        block(async {
            let lxd = open(&dir).await;
            site.lxd = Some(lxd);
            site.lxd()
                .create_pool(&pool, "lvm", "", config)
                .await
                .context("create lvm pool")?;
            set_root_pool(site.lxd(), &pool).await;
            site.import_busybox("busybox").await?;
            Ok::<(), anyhow::Error>(())
        })?;
        Ok(site)
    }

    /// The orchestration.
    pub fn lxd(&self) -> &Lxd {
        self.lxd.as_ref().expect("open")
    }

    /// Imports a fresh copy of the busybox image under an alias; returns its fingerprint.
    pub async fn import_busybox(&self, alias: &str) -> anyhow::Result<String> {
        let copy = self.dir.join(format!("upload-{alias}"));
        std::fs::copy(busybox_image(), &copy)?;
        let img = self
            .lxd()
            .import_image(
                "default",
                ImageFiles::Unified(copy),
                "busybox.tar.xz",
                false,
                ConfigMap::new(),
                vec![alias.to_string()],
            )
            .await?;
        Ok(img.record.fingerprint)
    }

    /// Closes and reopens the store and the orchestration (pools are mounted again).
    pub fn reopen(&mut self) {
        self.lxd = None;
        let dir = self.dir.clone();
        self.lxd = Some(block(open(&dir)));
    }

    /// The pool directory.
    pub fn pool_path(&self) -> PathBuf {
        self.dir.join("storage-pools").join(&self.pool)
    }

    /// The pool.
    pub fn pool(&self) -> Arc<lxd_core::storage::pool::Pool> {
        self.lxd().pool(&self.pool).expect("pool")
    }

    /// The logical volume of a container volume.
    pub fn container_lv(&self, name: &str) -> String {
        format!("containers_{}", name.replace('-', "--"))
    }

    /// Runs a shell script in a running instance; its stdout.
    pub async fn sh(&self, name: &str, script: &str) -> anyhow::Result<String> {
        let c = self.lxd().container("default", name).await?;
        let out = c
            .exec_output(&["sh", "-c", script])
            .await
            .with_context(|| format!("{name}: {script}"))?;
        anyhow::ensure!(out.exit_code == 0, "{script}: {out:?}");
        Ok(out.stdout_str())
    }

    /// Reads a file of a stopped instance's volume through a counted mount.
    pub async fn read_file(&self, name: &str, rel: &str) -> anyhow::Result<String> {
        let pool = self.pool();
        let p = pool
            .mount_volume(VolumeType::Container, "default", name)
            .await?;
        let r = std::fs::read_to_string(p.join(rel)).with_context(|| format!("{name}: {rel}"));
        pool.unmount_volume(VolumeType::Container, "default", name)
            .await?;
        r
    }

    /// Reads a file of an instance's snapshot (mounted read-only for the read).
    pub fn read_snapshot_file(&self, name: &str, snap: &str, rel: &str) -> anyhow::Result<String> {
        let pool = self.pool();
        let vol = VolumeInfo::new(VolumeType::Container, name);
        let d = lxd_storage::LvmDriver;
        let p = d.mount_snapshot(pool.info(), &vol, snap)?;
        let r =
            std::fs::read_to_string(p.join(rel)).with_context(|| format!("{name}/{snap}: {rel}"));
        d.unmount_snapshot(pool.info(), &vol, snap)?;
        r
    }

    /// Stops and deletes every instance and image, then the pool; fails on anything left.
    pub fn teardown(&mut self) -> anyhow::Result<()> {
        let lxd = self.lxd.take().expect("open");
        let pool = self.pool.clone();
        block(async {
            for inst in lxd.store().instances(None).await? {
                lxd.delete_instance(&inst.project, &inst.name, true).await?;
            }
            for img in lxd.store().images("default").await? {
                lxd.delete_image("default", &img.fingerprint).await?;
            }
            let vols = lxd.store().volumes(&pool).await?;
            anyhow::ensure!(vols.is_empty(), "volumes left: {vols:?}");
            let mut p = lxd.store().profile("default", "default").await?;
            p.devices.clear();
            lxd.store().apply(vec![StoreOp::UpdateProfile(p)]).await?;
            lxd.delete_pool(&pool).await?;
            Ok(())
        })?;
        anyhow::ensure!(
            !vg_exists(&self.vg) || !lv_names(&self.vg).iter().any(|l| l.contains('_')),
            "volumes left in {}: {:?}",
            self.vg,
            lv_names(&self.vg)
        );
        let l = loops_under(&self.dir);
        anyhow::ensure!(l.is_empty(), "loop devices left: {l:?}");
        let m = mounts_under(&self.dir);
        anyhow::ensure!(m.is_empty(), "mounts left: {m:?}");
        anyhow::ensure!(!self.dir.join("disks").join(format!("{pool}.img")).exists());
        anyhow::ensure!(!self.pool_path().exists(), "pool directory left");
        Ok(())
    }
}

#[path = "../common/profile.rs"]
mod profile;
pub use profile::set_root_pool;

/// Removes what a failed test left: instances, images, the pool, then by force its volume
/// group, physical volumes on loop devices below the directory, the loop devices, mounts.
impl Drop for Site {
    fn drop(&mut self) {
        if let Some(lxd) = self.lxd.take() {
            block(async {
                for inst in lxd.store().instances(None).await.unwrap_or_default() {
                    if let Err(e) = lxd.delete_instance(&inst.project, &inst.name, true).await {
                        eprintln!("cleanup: delete {}: {e}", inst.name);
                    }
                }
                for img in lxd.store().images("default").await.unwrap_or_default() {
                    let _ = lxd.delete_image("default", &img.fingerprint).await;
                }
                if let Ok(mut p) = lxd.store().profile("default", "default").await {
                    p.devices.clear();
                    let _ = lxd.store().apply(vec![StoreOp::UpdateProfile(p)]).await;
                }
                for pool in lxd.pool_names() {
                    if let Err(e) = lxd.delete_pool(&pool).await {
                        eprintln!("cleanup: delete pool {pool}: {e}");
                    }
                }
            });
        }
        force_cleanup(&self.dir, &[self.vg.as_str()], true);
    }
}

/// Unmounts everything below `dir`, removes the named volume groups (only those whose
/// physical volumes are loop devices backed below `dir`), detaches the loop devices backed
/// below `dir`, and removes `dir`. With `report`, says what it had to remove.
pub fn force_cleanup(dir: &Path, vgs: &[&str], report: bool) {
    let mut m = mounts_under(dir);
    m.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in m {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&p)
            .status();
    }
    let loops = loops_under(dir);
    for vg in vgs {
        if vg_exists(vg) {
            let pvs =
                cmd("lvm", &["pvs", "--noheadings", "-o", "pv_name,vg_name"]).unwrap_or_default();
            let ours = pvs.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() == 2 && f[1] == *vg && loops.iter().any(|d| d == f[0])
            });
            if ours {
                if report {
                    eprintln!("cleanup: removing volume group {vg}");
                }
                let _ = cmd("lvm", &["vgremove", "-f", vg]);
            }
        }
    }
    for d in &loops {
        let _ = cmd("lvm", &["pvremove", "-y", d]);
        let _ = std::process::Command::new("losetup")
            .args(["-d", d])
            .status();
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Fails unless the kernel has device-mapper, with the way to run the test where it has.
pub fn require_device_mapper() -> anyhow::Result<()> {
    if let Err(e) = lxd_storage::lvm::device_mapper_available() {
        bail!(
            "this test needs device-mapper, which this kernel lacks ({e}); run it in the VM: \
             scripts/vm-lvm-tests"
        );
    }
    Ok(())
}

/// `ConfigMap` from pairs.
pub fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Whether a container is running.
pub async fn running(site: &Site, name: &str) -> anyhow::Result<bool> {
    Ok(site
        .lxd()
        .container("default", name)
        .await?
        .state()
        .await?
        .status
        == lxd_core::InstanceStatus::Running)
}
