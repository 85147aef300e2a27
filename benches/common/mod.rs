//! The timed storage operations the storage benches share, on an open [`Lxd`].

use std::path::Path;
use std::time::{Duration, Instant};

use lxd_core::image::ImageFiles;
use lxd_core::store::ConfigMap;
use lxd_core::{CreateInstance, InstanceSource, Lxd};

/// Runs a future on a small tokio runtime.
pub fn block<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
        .block_on(f)
}

/// Imports a unified image file under `alias` (a copy in `dir` is uploaded: import consumes it).
pub fn import(lxd: &Lxd, dir: &Path, file: &Path, alias: &str) {
    let copy = dir.join(format!("upload-{alias}"));
    std::fs::copy(file, &copy).unwrap();
    block(lxd.import_image(
        "default",
        ImageFiles::Unified(copy),
        alias,
        false,
        ConfigMap::new(),
        vec![alias.into()],
    ))
    .expect("import");
}

/// Creates an instance of `image`.
pub fn create(lxd: &Lxd, name: &str, image: &str) -> Duration {
    let t = Instant::now();
    block(lxd.create_instance(CreateInstance::new(
        name,
        InstanceSource::Image(image.into()),
    )))
    .expect("create");
    t.elapsed()
}

/// Snapshots an instance.
pub fn snapshot(lxd: &Lxd, name: &str, snap: &str) -> Duration {
    let t = Instant::now();
    block(lxd.snapshot_instance("default", name, snap)).expect("snapshot");
    t.elapsed()
}

/// Copies an instance with its snapshots.
pub fn copy(lxd: &Lxd, src: &str, dst: &str) -> Duration {
    let t = Instant::now();
    block(lxd.copy_instance("default", src, dst, false)).expect("copy");
    t.elapsed()
}

/// A copy without the snapshots (`lxc copy --instance-only`): a clone on zfs.
#[allow(dead_code)] // only the storage bench measures it
pub fn copy_instance_only(lxd: &Lxd, src: &str, dst: &str) -> Duration {
    let t = Instant::now();
    block(lxd.copy_instance("default", src, dst, true)).expect("copy");
    t.elapsed()
}

/// Restores an instance to a snapshot.
#[allow(dead_code)] // only the lvm bench measures it
pub fn restore(lxd: &Lxd, name: &str, snap: &str) -> Duration {
    let t = Instant::now();
    block(lxd.restore_instance("default", name, snap)).expect("restore");
    t.elapsed()
}
