//! Snapshot and copy of instances per storage driver (dir on ext4, dir on an xfs loop with
//! reflink, btrfs on a loop file, zfs on a sparse file: zfs-fuse here, whose daemon the bench
//! starts when the kernel has no ZFS, OpenZFS in `scripts/vm-zfs-tests --bench`), on the
//! busybox image and on a Debian minbase image (thousands of files), plus creating a further
//! instance of the Debian image on dir.
//!
//! Run as root: `cargo bench -p lxd-benches --bench storage`. The Debian image is built once
//! with debootstrap (network to the machine's apt mirror) and cached in
//! `/var/tmp/lxd-rs-bench/`. With `LXD_BENCH_QUICK=1` the bench skips criterion and prints one
//! median per operation (`op<TAB>milliseconds`), for `benches/compare-lxd.sh`;
//! `LXD_BENCH_KINDS=zfs,btrfs` limits it to some pool kinds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use lxd_core::image::{busybox, debian};
use lxd_core::store::{ClusterStore, ConfigMap, StoreOp};
use lxd_core::{Lxd, LxdConfig};

mod common;
use common::block;

fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().expect(cmd);
    assert!(st.success(), "{cmd} {args:?}");
}

/// The images, built once (Debian cached across runs).
fn images(work: &Path) -> (PathBuf, Option<PathBuf>) {
    let bb = work.join("busybox.tar.xz");
    busybox::build_image(&bb).expect("busybox image");
    let cache = Path::new("/var/tmp/lxd-rs-bench");
    std::fs::create_dir_all(cache).expect("cache dir");
    let deb = cache.join("debian-bookworm.tar.xz");
    if !deb.exists() && std::env::var("LXD_BENCH_NO_DEBIAN").is_err() {
        eprintln!(
            "building the Debian image with debootstrap (once; cached in {})",
            cache.display()
        );
        if let Err(e) = debian::build_image(&deb, "bookworm", None) {
            eprintln!("no Debian image ({e}); the distribution benches are left out");
        }
    }
    (bb, deb.exists().then_some(deb))
}

struct Site {
    dir: PathBuf,
    lxd: Option<Lxd>,
    xfs: Option<PathBuf>,
    kind: &'static str,
}

impl Site {
    fn new(work: &Path, kind: &'static str) -> Site {
        let dir = work.join(kind);
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = ConfigMap::new();
        let mut xfs = None;
        let driver = match kind {
            "dir-ext4" => "dir",
            "dir-xfs" => {
                let img = dir.join("xfs.img");
                let mnt = dir.join("xfs");
                std::fs::create_dir_all(&mnt).unwrap();
                run("truncate", &["-s", "6G", img.to_str().unwrap()]);
                run(
                    "mkfs.xfs",
                    &["-q", "-m", "reflink=1", img.to_str().unwrap()],
                );
                run(
                    "mount",
                    &["-o", "loop", img.to_str().unwrap(), mnt.to_str().unwrap()],
                );
                config.insert("source".into(), mnt.join("pool").display().to_string());
                xfs = Some(mnt);
                "dir"
            }
            "zfs" => {
                config.insert("size".into(), "8GiB".into());
                // zfs-fuse has one daemon per host: a zpool name of this process.
                config.insert(
                    "zfs.pool_name".into(),
                    format!("lxdb{}", std::process::id()),
                );
                "zfs"
            }
            _ => {
                config.insert("size".into(), "8GiB".into());
                "btrfs"
            }
        };
        let lxd = block(async {
            let store: Arc<dyn ClusterStore> = Arc::new(
                lxd_cluster::SqliteStore::open_dir(&dir)
                    .await
                    .expect("store"),
            );
            let lxd = Lxd::open(LxdConfig::new(&dir), store, lxd_storage::drivers())
                .await
                .expect("lxd");
            lxd.create_pool("pool", driver, "", config)
                .await
                .expect("pool");
            let mut prof = lxd.store().profile("default", "default").await.unwrap();
            let mut root = ConfigMap::new();
            root.insert("type".into(), "disk".into());
            root.insert("path".into(), "/".into());
            root.insert("pool".into(), "pool".into());
            prof.devices.insert("root".into(), root);
            lxd.store()
                .apply(vec![StoreOp::UpdateProfile(prof)])
                .await
                .unwrap();
            lxd
        });
        Site {
            dir,
            lxd: Some(lxd),
            xfs,
            kind,
        }
    }

    fn lxd(&self) -> &Lxd {
        self.lxd.as_ref().unwrap()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(lxd) = self.lxd.take() {
            block(async {
                for i in lxd.store().instances(None).await.unwrap_or_default() {
                    let _ = lxd.delete_instance(&i.project, &i.name, true).await;
                }
                for i in lxd.store().images("default").await.unwrap_or_default() {
                    let _ = lxd.delete_image("default", &i.fingerprint).await;
                }
                let mut prof = lxd.store().profile("default", "default").await.unwrap();
                prof.devices.clear();
                let _ = lxd.store().apply(vec![StoreOp::UpdateProfile(prof)]).await;
                let _ = lxd.delete_pool("pool").await;
            });
        }
        if let Some(x) = &self.xfs {
            let _ = Command::new("umount").arg(x).status();
        }
        if self.kind == "zfs" {
            // A zpool a failed delete left (it is this process's).
            let z = format!("lxdb{}", std::process::id());
            if Command::new("zpool")
                .args(["list", "-H", "-o", "name", &z])
                .output()
                .is_ok_and(|o| o.status.success())
            {
                let _ = Command::new("zpool").args(["destroy", "-f", &z]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The operations measured on one site for one image: (name, timed closure).
type Op<'a> = Box<dyn Fn(u64) -> Duration + 'a>;

fn ops<'a>(site: &'a Site, image: &'a str) -> Vec<(String, Op<'a>)> {
    // Snapshots accumulate on one instance; copies are made of another that has exactly one
    // snapshot (what LXD's anchor measures: a source with one snapshot).
    let snap_src = format!("{image}-snapsrc");
    common::create(site.lxd(), &snap_src, image);
    let copy_src = format!("{image}-copysrc");
    common::create(site.lxd(), &copy_src, image);
    common::snapshot(site.lxd(), &copy_src, "snap0");
    let k = site.kind;
    vec![
        (
            format!("snapshot {image} {k}"),
            Box::new(move |i| common::snapshot(site.lxd(), &snap_src, &format!("s{i}"))) as Op<'a>,
        ),
        (
            format!("copy {image} (with 1 snapshot) {k}"),
            Box::new({
                let copy_src = copy_src.clone();
                move |i| common::copy(site.lxd(), &copy_src, &format!("{image}-copy{i}"))
            }),
        ),
        (
            format!("copy {image} (instance only) {k}"),
            Box::new(move |i| {
                common::copy_instance_only(site.lxd(), &copy_src, &format!("{image}-only{i}"))
            }),
        ),
        (
            format!("new instance of {image} (image on pool) {k}"),
            Box::new(move |i| common::create(site.lxd(), &format!("{image}-new{i}"), image)),
        ),
    ]
}

fn main() {
    lxd_core::init_hook();
    let work = PathBuf::from(format!("/tmp/lxd-bench-storage-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let (bb, deb) = images(&work);
    let quick = std::env::var("LXD_BENCH_QUICK").is_ok();
    let mut crit = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let kinds: Vec<&'static str> = ["dir-ext4", "dir-xfs", "btrfs", "zfs"]
        .into_iter()
        .filter(|k| {
            std::env::var("LXD_BENCH_KINDS")
                .map_or(true, |only| only.split(',').any(|o| o.trim() == *k))
        })
        .collect();
    // The zfs-fuse daemon (when the kernel has no ZFS), held until the end.
    let _zfs = kinds
        .contains(&"zfs")
        .then(|| lxd_storage::zfs::FuseDaemon::ensure().expect("zfs (apt-get install zfs-fuse)"));
    for kind in kinds {
        let site = Site::new(&work, kind);
        common::import(site.lxd(), &site.dir, &bb, "busybox");
        let mut images = vec!["busybox"];
        if let Some(d) = &deb {
            common::import(site.lxd(), &site.dir, d, "debian");
            images.push("debian");
        }
        for image in images {
            let first = common::create(site.lxd(), &format!("{image}-first"), image);
            println!(
                "first instance of {image} (unpacks the image) {kind}\t{:.1}",
                first.as_secs_f64() * 1e3
            );
            for (name, op) in ops(&site, image) {
                if quick {
                    let mut t: Vec<f64> = (0..5).map(|i| op(i).as_secs_f64() * 1e3).collect();
                    t.sort_by(f64::total_cmp);
                    println!("{name}\t{:.1}", t[2]);
                } else {
                    let mut n = 0u64;
                    crit.bench_function(&name, |b| {
                        b.iter_custom(|iters| {
                            (0..iters)
                                .map(|_| {
                                    n += 1;
                                    op(n)
                                })
                                .sum()
                        })
                    });
                }
            }
        }
    }
    if !quick {
        crit.final_summary();
    }
    let _ = std::fs::remove_dir_all(&work);
}
