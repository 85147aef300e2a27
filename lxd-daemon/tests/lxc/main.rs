//! The daemon driven by Debian's unmodified `lxc` 5.0.2 client, for real as root.
//! Run with `cargo test -p lxd-daemon --test lxc`.

mod fixture;
mod smoke;

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
    let tests: Vec<Trial> = trials![smoke::info_launch_list_exec_stop_delete];
    let conclusion = libtest_mimic::run(&args, tests);
    fixture::remove_busybox_image();
    conclusion.exit();
}
