//! The `lvm` storage driver for real, driven through `Lxd` as root: thin pools and classic
//! logical volumes on loop files, a block device and an existing volume group; instances,
//! snapshots, restores, copies, sizes, renames, deletes, bad input.
//!
//! Every test but one needs device-mapper, which the development machine's kernel lacks:
//! they are ignored in a plain `cargo test` (listed as `[needs device-mapper: ...]`) and
//! run by `scripts/vm-lvm-tests`, which boots Debian's kernel under qemu and runs this
//! binary there with `--ignored`. Run with `--ignored` on a kernel without device-mapper,
//! each of them fails and says so. `errors::refused_without_device_mapper` runs everywhere.

mod classic;
mod errors;
mod fixture;
mod resize;
mod sources;
mod thin;

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

/// Why the device-mapper tests are ignored in a plain run.
const NEEDS_DM: &str = "needs device-mapper: scripts/vm-lvm-tests";

macro_rules! trials {
    ($ignored:expr; $($module:ident :: $name:ident),* $(,)?) => {
        vec![$({
            let t = Trial::test(
                concat!(stringify!($module), "::", stringify!($name)),
                || $module::$name().map_err(|e| format!("{e:#}").into()),
            );
            if $ignored { t.with_ignored_flag(true).with_kind(NEEDS_DM) } else { t }
        }),*]
    };
}

fn main() {
    lxd_core::init_hook();
    let args = Arguments::from_args();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the lvm tests need root (loop devices, device-mapper, mounts, containers)");
        std::process::exit(1);
    }
    let mut tests: Vec<Trial> = trials![true;
        thin::thin_lifecycle,
        thin::state_survives_reopening,
        resize::ext4_size_enforced_grown_shrunk,
        resize::xfs_volumes,
        classic::classic_lifecycle,
        sources::pool_on_block_device,
        sources::pool_on_existing_vg,
        errors::bad_input_leaves_nothing,
        errors::failure_mid_copy_leaves_nothing,
    ];
    tests.extend(trials![false; errors::refused_without_device_mapper]);
    let conclusion = libtest_mimic::run(&args, tests);
    fixture::remove_busybox_image();
    conclusion.exit();
}
