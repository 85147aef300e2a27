//! `lxd`: the Rust LXD daemon and its subcommands, with LXD's command line.
//!
//! `lxd` runs the daemon on `$LXD_DIR/unix.socket` (`/var/lib/lxd` by default); `lxd init`
//! configures it (interactively, `--auto` or `--preseed`), `lxd sql` queries its databases,
//! `lxd waitready` waits for it, `lxd shutdown` stops its instances and it.

mod cli;
mod daemon;
mod init;
mod sql;

use std::path::PathBuf;

use clap::Parser;

/// The data directory: `$LXD_DIR`, or `/var/lib/lxd`.
pub fn lxd_dir() -> PathBuf {
    std::env::var_os("LXD_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/lxd"))
}

fn main() {
    // The runtime re-executes this binary as container monitors.
    lxd_core::init_hook();
    let cli = cli::Cli::parse();
    let result = match cli.command {
        None => daemon::run(&cli.daemon),
        Some(cli::Command::Init(args)) => init::run(args),
        Some(cli::Command::Sql(args)) => sql::run(args),
        Some(cli::Command::Waitready { timeout }) => daemon::waitready(timeout),
        Some(cli::Command::Shutdown { timeout }) => daemon::shutdown(timeout),
        Some(cli::Command::Version) => {
            println!("{}", lxd_api::LXD_VERSION);
            Ok(())
        }
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
