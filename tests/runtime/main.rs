//! The container runtime, tested for real as root: namespaces, id maps, cgroups, seccomp,
//! the monitor, exec. Run with `cargo test -p lxd-tests --test runtime`.
//!
//! The harness is libtest-mimic so that `main` can call `lxd_core::init_hook()`: the runtime
//! re-executes this binary as each container's monitor.

mod fixture;
mod lifecycle;
mod limits;
mod nics;
mod security;

use std::future::Future;

use libtest_mimic::{Arguments, Trial};

type TestResult = anyhow::Result<()>;

/// Runs a future on a small tokio runtime (the `Instance` trait is async).
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
    if std::env::var_os("LXD_TEST_ROLE").is_some_and(|r| r == "starter") {
        lifecycle::starter_role();
    }
    let args = Arguments::from_args();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the runtime tests need root (namespaces, cgroups, mounts)");
        std::process::exit(1);
    }
    let tests: Vec<Trial> = trials![
        lifecycle::pid1_is_init_and_hostname_is_name,
        lifecycle::no_host_mount_is_visible,
        lifecycle::console_log_has_boot_output,
        lifecycle::exec_exit_code_and_separate_streams,
        lifecycle::exec_stdin_env_cwd_user,
        lifecycle::exec_pty_sees_terminal_and_resizes,
        lifecycle::exec_signal_forwarding,
        lifecycle::exec_errors,
        lifecycle::shutdown_clean_with_busybox_init,
        lifecycle::shutdown_timeout_then_kill,
        lifecycle::freeze_and_unfreeze_v1,
        lifecycle::freeze_and_unfreeze_unified,
        lifecycle::survives_starter_kill_and_reattaches,
        lifecycle::delete_leaves_nothing,
        lifecycle::reboot_restarts_container,
        lifecycle::state_and_double_start,
        lifecycle::bad_input_leaves_nothing,
        lifecycle::rootfs_below_a_private_directory,
        limits::memory_limit_ooms_inside_only,
        limits::pids_limit_stops_fork_bomb,
        limits::cpu_count_and_allowance,
        limits::kernel_rlimits,
        security::unprivileged_root_is_host_range,
        security::privileged_maps_nothing_and_proc_sys_ro,
        security::isolated_idmaps_do_not_overlap,
        security::shift_fallback_recorded_and_undone,
        security::seccomp_denies_lxd_default_list,
        security::capabilities_dropped,
        security::devices_and_devpts,
        nics::prestart_hook_reboot_and_physical_return,
        nics::failing_prestart_hook_aborts_start,
    ];
    let conclusion = libtest_mimic::run(&args, tests);
    fixture::remove_subtree();
    conclusion.exit();
}
