//! The daemon driven by Debian's unmodified `lxc` 5.0.2 client, for real as root.
//! Run with `cargo test -p lxd-daemon --test lxc`.

mod daemon;
mod exec;
mod files;
mod fixture;
mod instances;
mod network;
mod smoke;
mod snapshots;

use libtest_mimic::{Arguments, Trial};

type TestResult = Result<(), String>;

macro_rules! trials {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$(Trial::test(concat!(stringify!($module), "::", stringify!($name)), || {
            $module::$name().map_err(Into::into)
        })),*]
    };
}

/// Fails the test with a message unless the condition holds.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

fn main() {
    let args = Arguments::from_args();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("these tests need root (they run containers)");
        std::process::exit(1);
    }
    if std::process::Command::new("lxc")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!(
            "Debian's lxd-client package (the lxc command) is required: apt-get install lxd-client"
        );
        std::process::exit(1);
    }
    let tests: Vec<Trial> = trials![
        smoke::info_launch_list_exec_stop_delete,
        instances::launch_options_pools_and_storage_commands,
        instances::list_formats,
        instances::state_commands,
        instances::snapshot_restore_copy_move_delete,
        instances::config_and_devices,
        instances::profiles,
        instances::operations_monitor_console,
        instances::error_envelopes,
        daemon::restart_keeps_containers_running,
        daemon::interrupted_operations_are_cleaned_up,
        daemon::shutdown_stops_instances_and_they_come_back,
        daemon::init_auto_and_sql,
        daemon::bad_requests_get_4xx,
        exec::streams_exit_codes_env_and_users,
        exec::interactive_terminal,
        exec::signals_and_refusals,
        exec::api_record_output_and_timing,
        exec::console_attach_and_detach,
        files::push_pull_delete,
        files::raw_api,
        files::stopped_instance,
        files::escape_attempts,
        network::bridge_dhcp_dns_nat_static_lease_and_cleanup,
        network::macvlan_and_container_as_router,
        network::fan_overlay_across_three_hosts,
        network::bad_input_is_refused,
        network::init_auto_bridge_restart_and_shutdown,
        network::init_interactive_asks_for_a_bridge,
        snapshots::rename_and_copy_from_snapshot_dir,
        snapshots::rename_and_copy_from_snapshot_btrfs,
        snapshots::rename_and_copy_from_snapshot_zfs,
        snapshots::rename_and_copy_from_snapshot_zfs_full_copies,
        snapshots::custom_volume_copy,
    ];
    let conclusion = libtest_mimic::run(&args, tests);
    fixture::remove_busybox_image();
    conclusion.exit();
}
