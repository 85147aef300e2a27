//! Start, force stop and exec `true` of a busybox container (run as root:
//! `cargo bench -p lxd-benches --bench runtime`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use lxd_core::image::busybox;
use lxd_core::{ExecCommand, InstanceConfig, Runtime, RuntimeConfig};

fn main() {
    lxd_core::init_hook();
    let dir = PathBuf::from(format!("/tmp/lxd-bench-{}", std::process::id()));
    let rootfs = dir.join("rootfs");
    busybox::build_rootfs(&rootfs, busybox::HOST_BUSYBOX.as_ref()).expect("busybox rootfs");
    let rt = Runtime::new(RuntimeConfig::new(&dir)).expect("runtime");
    let c = rt
        .container("bench", &rootfs, InstanceConfig::default())
        .expect("container");

    let mut crit = Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(10))
        .configure_from_args();
    crit.bench_function("container start (busybox)", |b| {
        b.iter_custom(|n| {
            let mut total = Duration::ZERO;
            for _ in 0..n {
                let t = Instant::now();
                c.start_blocking().expect("start");
                total += t.elapsed();
                c.stop_blocking().expect("stop");
            }
            total
        })
    });
    crit.bench_function("container stop --force (busybox)", |b| {
        b.iter_custom(|n| {
            let mut total = Duration::ZERO;
            for _ in 0..n {
                c.start_blocking().expect("start");
                let t = Instant::now();
                c.stop_blocking().expect("stop");
                total += t.elapsed();
            }
            total
        })
    });
    c.start_blocking().expect("start");
    crit.bench_function("exec true (busybox)", |b| {
        b.iter(|| {
            let p = c.exec_blocking(ExecCommand::new(["true"])).expect("exec");
            assert_eq!(p.wait_blocking().expect("wait"), 0);
        })
    });
    c.stop_blocking().expect("stop");
    c.delete_blocking().expect("delete");
    crit.final_summary();
    let _ = std::fs::remove_dir_all(&dir);
}
