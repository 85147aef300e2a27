//! Images, tested for real as root: formats and compressions, fingerprints, metadata, safe
//! unpacking of crafted tarballs, templates, and the offline builders. Run with
//! `cargo test -p lxd-tests --test images` (add `-- --nocapture` for the timings).
//!
//! `formats::debian_debootstrap` needs the network to the machine's Debian mirror and about a
//! minute: it runs only with `LXD_TEST_DEBIAN=1` and is reported as ignored otherwise.

mod fixture;
mod formats;
mod perf;
mod safety;
mod templates;

use libtest_mimic::{Arguments, Trial};

type TestResult = anyhow::Result<()>;

macro_rules! trials {
    ($($module:ident :: $name:ident),* $(,)?) => {
        vec![$(Trial::test(
            concat!(stringify!($module), "::", stringify!($name)),
            || -> Result<(), libtest_mimic::Failed> {
                let r: TestResult = $module::$name();
                r.map_err(|e| format!("{e:#}").into())
            },
        )),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the image tests need root (owners, device nodes, security.capability)");
        std::process::exit(1);
    }
    let mut tests: Vec<Trial> = trials![
        formats::fingerprint_matches_sha256sum,
        formats::every_compression_unpacks_to_the_same_tree,
        formats::split_tarball_and_squashfs_rootfs,
        formats::builder_round_trip_keeps_everything,
        formats::metadata_read_without_unpacking,
        formats::unpack_refuses_a_bad_destination,
        formats::debian_packs_a_tree,
        safety::malicious_tarballs_are_refused,
        templates::busybox_hostname_and_hosts,
        templates::config_get_conditions_and_create_only,
        templates::unsupported_constructs_are_errors,
        templates::targets_stay_inside_the_rootfs,
        perf::unpack_timings,
    ];
    let debian = std::env::var("LXD_TEST_DEBIAN").is_ok_and(|v| v == "1");
    if !debian {
        eprintln!("formats::debian_debootstrap is ignored: set LXD_TEST_DEBIAN=1 to run it (network, ~1 min)");
    }
    tests.extend(
        trials![formats::debian_debootstrap]
            .into_iter()
            .map(|t| t.with_ignored_flag(!debian)),
    );
    libtest_mimic::run(&args, tests).exit();
}
