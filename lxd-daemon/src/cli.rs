//! The command line, as LXD spells it.

use clap::{Args, Parser, Subcommand};

/// The LXD container manager (daemon).
#[derive(Debug, Parser)]
#[command(name = "lxd", version = lxd_api::LXD_VERSION, about = "The LXD container manager (daemon)")]
pub struct Cli {
    /// The daemon's flags (when no subcommand is given).
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// A subcommand.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags of the daemon itself.
#[derive(Debug, Args, Clone)]
pub struct DaemonArgs {
    /// The group of users that will be allowed to talk to LXD.
    #[arg(long, global = true)]
    pub group: Option<String>,
    /// Path to the log file.
    #[arg(long, global = true)]
    pub logfile: Option<String>,
    /// Show all debug messages.
    #[arg(short = 'd', long, global = true)]
    pub debug: bool,
    /// Show all information messages.
    #[arg(short = 'v', long, global = true)]
    pub verbose: bool,
}

/// `lxd` subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configure the LXD daemon.
    Init(InitArgs),
    /// Execute a SQL query against the LXD local or global database.
    Sql(SqlArgs),
    /// Wait for LXD to be ready to process requests.
    Waitready {
        /// Number of seconds to wait before giving up.
        #[arg(short = 't', long, default_value_t = 0)]
        timeout: u64,
    },
    /// Tell LXD to shutdown all containers and exit.
    Shutdown {
        /// Number of seconds to wait before giving up.
        #[arg(short = 't', long, default_value_t = 0)]
        timeout: u64,
    },
    /// Show the server version.
    Version,
}

/// `lxd init` flags.
#[derive(Debug, Args, Clone, Default)]
pub struct InitArgs {
    /// Automatic (non-interactive) mode.
    #[arg(long)]
    pub auto: bool,
    /// Pre-seed mode, expects YAML config from stdin.
    #[arg(long)]
    pub preseed: bool,
    /// Dump YAML config to stdout.
    #[arg(long)]
    pub dump: bool,
    /// Storage backend to use (btrfs, dir, lvm or zfs, default: dir).
    #[arg(long = "storage-backend")]
    pub storage_backend: Option<String>,
    /// Setup device based storage using DEVICE.
    #[arg(long = "storage-create-device")]
    pub storage_create_device: Option<String>,
    /// Setup loop based storage with SIZE in GiB.
    #[arg(long = "storage-create-loop")]
    pub storage_create_loop: Option<u64>,
    /// Storage pool to use or create.
    #[arg(long = "storage-pool")]
    pub storage_pool: Option<String>,
}

/// `lxd sql` arguments.
#[derive(Debug, Args, Clone)]
pub struct SqlArgs {
    /// `local` or `global`.
    pub database: String,
    /// The query, `-` to read it from stdin, or `.schema` / `.dump`.
    pub query: String,
}
