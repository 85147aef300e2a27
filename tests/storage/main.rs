//! Storage pools, images and the instance lifecycle on them, for real as root: dir on ext4 and
//! on an xfs loop with reflink, btrfs on a loop file, zfs on a sparse file (zfs-fuse, whose
//! daemon the tests start when the kernel has no ZFS), with the sqlite state store.
//! Run with `cargo test -p lxd-tests --test storage`.

mod fixture;
mod lifecycle;
mod pools;
mod zfs;

use std::future::Future;

use libtest_mimic::{Arguments, Trial};

type TestResult = anyhow::Result<()>;

/// Runs a future on a small tokio runtime.
pub fn block<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
        .block_on(f)
}

macro_rules! trials {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$(Trial::test(
            concat!(stringify!($module), "::", stringify!($name)),
            || $module::$name().map_err(|e| format!("{e:#}").into()),
        )),*]
    };
}

fn main() {
    lxd_core::init_hook();
    // The child process of `zfs::zfs_unavailable`.
    if let Some(dir) = std::env::var_os(zfs::UNAVAILABLE_ENV) {
        if let Err(e) = zfs::unavailable_child(std::path::Path::new(&dir)) {
            eprintln!("{e:#}");
            std::process::exit(1);
        }
        return;
    }
    let args = Arguments::from_args();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the storage tests need root (loop devices, mounts, containers)");
        std::process::exit(1);
    }
    let tests: Vec<Trial> = trials![
        lifecycle::dir_ext4_lifecycle,
        lifecycle::dir_xfs_lifecycle,
        lifecycle::btrfs_lifecycle,
        lifecycle::state_survives_reopening,
        lifecycle::rename_keeps_snapshots,
        pools::btrfs_instances_are_snapshots_of_the_image,
        pools::dir_keeps_the_unpacked_image,
        pools::btrfs_quota_enforced_and_space_freed,
        pools::dir_quota_refused_and_nothing_left,
        pools::malicious_image_leaves_nothing,
        pools::failure_mid_copy_leaves_nothing,
        pools::split_squashfs_image_launches,
        pools::btrfs_nested_subvolumes,
        pools::pool_errors,
        zfs::zfs_lifecycle,
        zfs::zfs_restore_removes_later_snapshots,
        zfs::zfs_dependent_clones,
        zfs::zfs_clone_copy_false,
        zfs::zfs_custom_volumes,
        zfs::zfs_quota,
        zfs::zfs_rename,
        zfs::zfs_reimport,
        zfs::zfs_failure_mid_copy,
        zfs::zfs_pool_sources,
        zfs::zfs_unavailable,
    ];
    let conclusion = libtest_mimic::run(&args, tests);
    fixture::remove_busybox_image();
    fixture::release_zfs_daemon();
    conclusion.exit();
}
