//! A data directory with a state store, one pool of the kind under test, and the busybox
//! image imported as `busybox`; everything (instances, images, pools, mounts, loop devices,
//! cgroups) is removed when the test ends, also on failure.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use lxd_cluster::SqliteStore;
use lxd_core::image::{busybox, ImageFiles};
use lxd_core::store::{ClusterStore, ConfigMap, StoreOp};
use lxd_core::{Lxd, LxdConfig};
use lxd_storage::zfs::FuseDaemon;

use crate::block;

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// The kind of pool a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `dir` on the ext4 root filesystem (no reflinks).
    DirExt4,
    /// `dir` on an xfs loop file made with `reflink=1`.
    DirXfs,
    /// `btrfs` on a loop file the driver creates.
    Btrfs,
    /// `zfs` on a sparse file the driver creates, with a zpool name unique to the test
    /// (zfs-fuse has one daemon per host), and the pool keys given.
    Zfs(&'static [(&'static str, &'static str)]),
}

impl Kind {
    pub fn driver(self) -> &'static str {
        match self {
            Kind::DirExt4 | Kind::DirXfs => "dir",
            Kind::Btrfs => "btrfs",
            Kind::Zfs(_) => "zfs",
        }
    }
}

/// The busybox image, built once per test process; each import gets its own copy.
fn busybox_image() -> &'static PathBuf {
    static IMG: OnceLock<PathBuf> = OnceLock::new();
    IMG.get_or_init(|| {
        let p = PathBuf::from(format!("/tmp/lxd-st-{}-busybox.tar.xz", std::process::id()));
        busybox::build_image(&p).expect("build busybox image");
        p
    })
}

pub fn remove_busybox_image() {
    let _ = std::fs::remove_file(format!("/tmp/lxd-st-{}-busybox.tar.xz", std::process::id()));
}

pub struct Site {
    pub dir: PathBuf,
    pub lxd: Option<Lxd>,
    xfs: Option<PathBuf>,
    /// The zpool of a zfs site.
    pub zpool: Option<String>,
}

/// The zfs-fuse daemon (or the kernel's ZFS) the zfs sites use, held until the tests end.
static ZFS: Mutex<Option<FuseDaemon>> = Mutex::new(None);

/// Makes sure ZFS answers: starts the zfs-fuse daemon when there is no kernel module.
pub fn zfs_daemon() {
    let mut d = ZFS.lock().unwrap_or_else(|e| e.into_inner());
    if d.is_none() {
        *d = Some(FuseDaemon::ensure().expect("zfs-fuse daemon (apt-get install zfs-fuse)"));
    }
}

/// Lets go of the daemon: the last user stops a zfs-fuse daemon the tests started.
pub fn release_zfs_daemon() {
    ZFS.lock().unwrap_or_else(|e| e.into_inner()).take();
}

/// A zpool name no other test (or test process) uses.
pub fn unique_zpool(n: usize) -> String {
    format!("lxdt{}z{n}", std::process::id())
}

/// Whether a zpool of that name is imported.
pub fn zpool_exists(name: &str) -> bool {
    std::process::Command::new("zpool")
        .args(["list", "-H", "-o", "name", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(cmd)
        .args(args)
        .output()
        .expect(cmd);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn open(dir: &Path) -> Lxd {
    let store: Arc<dyn ClusterStore> = Arc::new(SqliteStore::open_dir(dir).await.expect("store"));
    let mut cfg = LxdConfig::new(dir);
    // Each site is its own LXD: its own cgroup subtree, named after its directory.
    cfg.runtime.cgroup_subtree = dir.file_name().unwrap().to_string_lossy().into_owned();
    Lxd::open(cfg, store, lxd_storage::drivers())
        .await
        .expect("lxd")
}

impl Site {
    pub fn new(tag: &str, kind: Kind) -> Site {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let dir = PathBuf::from(format!("/tmp/lxd-st-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut site = Site {
            dir: dir.clone(),
            lxd: None,
            xfs: None,
            zpool: None,
        };
        let mut pool_config = ConfigMap::new();
        match kind {
            Kind::DirExt4 => {}
            Kind::DirXfs => {
                let img = dir.join("xfs.img");
                let mnt = dir.join("xfs");
                std::fs::create_dir_all(&mnt).unwrap();
                run("truncate", &["-s", "1G", img.to_str().unwrap()]);
                run(
                    "mkfs.xfs",
                    &["-q", "-m", "reflink=1", img.to_str().unwrap()],
                );
                run(
                    "mount",
                    &["-o", "loop", img.to_str().unwrap(), mnt.to_str().unwrap()],
                );
                site.xfs = Some(mnt.clone());
                pool_config.insert("source".into(), mnt.join("pool").display().to_string());
            }
            Kind::Btrfs => {
                pool_config.insert("size".into(), "2GiB".into());
            }
            Kind::Zfs(keys) => {
                zfs_daemon();
                site.zpool = Some(unique_zpool(n));
                pool_config.insert("size".into(), "1GiB".into());
                pool_config.insert("zfs.pool_name".into(), unique_zpool(n));
                for (k, v) in keys {
                    pool_config.insert(k.to_string(), v.to_string());
                }
            }
        }
        block(async {
            let lxd = open(&dir).await;
            lxd.create_pool("pool", kind.driver(), "", pool_config)
                .await
                .expect("create pool");
            set_root_pool(&lxd, "pool").await;
            site.lxd = Some(lxd);
            site.import_busybox("busybox").await;
        });
        site
    }

    pub fn lxd(&self) -> &Lxd {
        self.lxd.as_ref().expect("open")
    }

    /// Imports a fresh copy of the busybox image under an alias; returns its fingerprint.
    pub async fn import_busybox(&self, alias: &str) -> String {
        let copy = self.dir.join(format!("upload-{alias}"));
        std::fs::copy(busybox_image(), &copy).unwrap();
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
            .await
            .expect("import busybox");
        img.record.fingerprint
    }

    /// Closes and reopens the store and the orchestration.
    pub fn reopen(&mut self) {
        self.lxd = None;
        let dir = self.dir.clone();
        self.lxd = Some(block(open(&dir)));
    }

    pub fn pool_path(&self) -> PathBuf {
        self.dir.join("storage-pools/pool")
    }
}

#[path = "../common/profile.rs"]
mod profile;
pub use profile::set_root_pool;

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
                for pool in lxd.pool_names() {
                    for vol in lxd.store().volumes(&pool).await.unwrap_or_default() {
                        eprintln!("cleanup: leftover volume {vol:?}");
                    }
                    let prof = lxd.store().profile("default", "default").await;
                    if let Ok(mut p) = prof {
                        p.devices.clear();
                        let _ = lxd.store().apply(vec![StoreOp::UpdateProfile(p)]).await;
                    }
                    if let Err(e) = lxd.delete_pool(&pool).await {
                        eprintln!("cleanup: delete pool {pool}: {e}");
                    }
                }
            });
        }
        // Anything still mounted under the directory (a failed pool) goes too.
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut under: Vec<String> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|m| m.starts_with(self.dir.to_str().unwrap()))
            .collect();
        under.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in under {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&m)
                .status();
        }
        if let Some(x) = &self.xfs {
            let _ = std::process::Command::new("umount").arg(x).status();
        }
        // A zpool this site made that a failed test left goes too.
        if let Some(z) = &self.zpool {
            if zpool_exists(z) {
                eprintln!("cleanup: destroying zpool {z}");
                let _ = std::process::Command::new("zpool")
                    .args(["destroy", "-f", z])
                    .status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
