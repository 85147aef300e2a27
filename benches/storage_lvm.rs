//! Snapshot and copy of instances on `lvm` pools (a thin pool, and classic logical volumes),
//! with `dir` and `btrfs` measured in the same place for scale, on the busybox image and, when
//! it is given, the Debian minbase image (`benches/storage.rs` builds and caches it).
//!
//! LVM needs device-mapper, which the development machine's kernel lacks, so this bench runs
//! in the VM of `scripts/vm-lvm-tests --bench` (Debian's kernel under qemu TCG: every figure
//! there is slowed by the emulation, which is why dir and btrfs are measured beside lvm).
//! It prints one line per operation, `op<TAB>median ms<TAB>runs`; with
//! `LXD_BENCH_CRITERION=1` it runs the operations under criterion instead.
//!
//! Environment: `LXD_BENCH_DEBIAN` (the Debian image's path; without it only busybox is
//! measured), `LXD_BENCH_KINDS` (default `lvm,lvm-classic,dir,btrfs`), `LXD_BENCH_RUNS`
//! (runs per operation, default 5 for busybox, 3 for Debian). On a kernel without
//! device-mapper the lvm kinds stop the bench with an error that says where to run it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use lxd_core::image::busybox;
use lxd_core::store::{ClusterStore, ConfigMap, StoreOp};
use lxd_core::{Lxd, LxdConfig};

mod common;
use common::block;

/// A data directory with one pool of a kind.
struct Site {
    dir: PathBuf,
    lxd: Option<Lxd>,
    kind: String,
}

fn pool_config(kind: &str) -> (&'static str, ConfigMap) {
    let mut c = ConfigMap::new();
    let driver = match kind {
        "lvm" => {
            c.insert("size".into(), "12GiB".into());
            c.insert("volume.size".into(), "1GiB".into());
            "lvm"
        }
        "lvm-classic" => {
            // Classic volumes and snapshots take real extents (the loop file stays sparse).
            c.insert("size".into(), "64GiB".into());
            c.insert("volume.size".into(), "512MiB".into());
            c.insert("lvm.use_thinpool".into(), "false".into());
            "lvm"
        }
        "btrfs" => {
            c.insert("size".into(), "8GiB".into());
            "btrfs"
        }
        "dir" => "dir",
        other => panic!("unknown kind {other} (lvm, lvm-classic, dir, btrfs)"),
    };
    (driver, c)
}

impl Site {
    fn new(work: &Path, kind: &str) -> Site {
        let dir = work.join(kind);
        std::fs::create_dir_all(&dir).unwrap();
        let (driver, config) = pool_config(kind);
        let name = format!("bench{}", kind.replace('-', ""));
        let lxd = block(async {
            let store: Arc<dyn ClusterStore> = Arc::new(
                lxd_cluster::SqliteStore::open_dir(&dir)
                    .await
                    .expect("store"),
            );
            let mut cfg = LxdConfig::new(&dir);
            cfg.runtime.cgroup_subtree = format!("bench-{kind}");
            let lxd = Lxd::open(cfg, store, lxd_storage::drivers())
                .await
                .expect("lxd");
            lxd.create_pool(&name, driver, "", config)
                .await
                .unwrap_or_else(|e| panic!("create the {kind} pool: {e}"));
            let mut prof = lxd.store().profile("default", "default").await.unwrap();
            let mut root = ConfigMap::new();
            root.insert("type".into(), "disk".into());
            root.insert("path".into(), "/".into());
            root.insert("pool".into(), name.clone());
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
            kind: kind.to_string(),
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
                for p in lxd.pool_names() {
                    if let Err(e) = lxd.delete_pool(&p).await {
                        eprintln!("{}: delete pool {p}: {e}", self.kind);
                    }
                }
            });
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The operations measured on one site for one image: (name, timed closure).
type Op<'a> = Box<dyn Fn(u64) -> Duration + 'a>;

fn ops<'a>(site: &'a Site, image: &'a str) -> Vec<(String, Op<'a>)> {
    // As benches/storage.rs: snapshots accumulate on one instance; copies are made of one
    // with exactly one snapshot; restores go back to that snapshot.
    let snap_src = format!("{image}-snapsrc");
    common::create(site.lxd(), &snap_src, image);
    let copy_src = format!("{image}-copysrc");
    common::create(site.lxd(), &copy_src, image);
    common::snapshot(site.lxd(), &copy_src, "snap0");
    let k = site.kind.clone();
    vec![
        (
            format!("snapshot {image} {k}"),
            Box::new(move |i| common::snapshot(site.lxd(), &snap_src, &format!("s{i}"))) as Op<'a>,
        ),
        (
            format!("copy {image} (with 1 snapshot) {k}"),
            Box::new(move |i| common::copy(site.lxd(), &copy_src, &format!("{image}-copy{i}"))),
        ),
        (
            format!("new instance of {image} (image on pool) {k}"),
            Box::new(move |i| common::create(site.lxd(), &format!("{image}-new{i}"), image)),
        ),
        (
            format!("restore {image} to its snapshot {k}"),
            Box::new(move |_| common::restore(site.lxd(), &format!("{image}-copysrc"), "snap0")),
        ),
    ]
}

fn main() {
    lxd_core::init_hook();
    let kinds: Vec<String> = std::env::var("LXD_BENCH_KINDS")
        .unwrap_or_else(|_| "lvm,lvm-classic,dir,btrfs".into())
        .split(',')
        .map(String::from)
        .collect();
    if kinds.iter().any(|k| k.starts_with("lvm")) {
        if let Err(e) = lxd_storage::lvm::device_mapper_available() {
            eprintln!(
                "the lvm kinds need device-mapper, which this kernel lacks ({e}); run the bench \
                 in the VM: scripts/vm-lvm-tests --bench (or set LXD_BENCH_KINDS=dir,btrfs)"
            );
            std::process::exit(1);
        }
    }
    let work = PathBuf::from(format!("/tmp/lxd-bench-lvm-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let bb = work.join("busybox.tar.xz");
    busybox::build_image(&bb).expect("busybox image");
    let debian = std::env::var("LXD_BENCH_DEBIAN").ok().map(PathBuf::from);
    let runs: Option<u64> = std::env::var("LXD_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok());
    let criterion = std::env::var("LXD_BENCH_CRITERION").is_ok();
    let mut crit = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    for kind in &kinds {
        let site = Site::new(&work, kind);
        common::import(site.lxd(), &site.dir, &bb, "busybox");
        let mut images = vec![("busybox", runs.unwrap_or(5))];
        if let Some(d) = &debian {
            common::import(site.lxd(), &site.dir, d, "debian");
            images.push(("debian", runs.unwrap_or(3)));
        }
        for (image, n) in images {
            let first = common::create(site.lxd(), &format!("{image}-first"), image);
            println!(
                "first instance of {image} (unpacks the image) {kind}\t{:.1}\t1",
                first.as_secs_f64() * 1e3
            );
            for (name, op) in ops(&site, image) {
                if criterion {
                    let mut i = 0u64;
                    crit.bench_function(&name, |b| {
                        b.iter_custom(|iters| {
                            (0..iters)
                                .map(|_| {
                                    i += 1;
                                    op(i)
                                })
                                .sum()
                        })
                    });
                } else {
                    let mut t: Vec<f64> = (0..n).map(|i| op(i).as_secs_f64() * 1e3).collect();
                    t.sort_by(f64::total_cmp);
                    println!("{name}\t{:.1}\t{n}", t[t.len() / 2]);
                }
            }
        }
    }
    if criterion {
        crit.final_summary();
    }
    let _ = std::fs::remove_dir_all(&work);
}
