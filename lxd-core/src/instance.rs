//! The `Instance` trait: what every instance type (containers now, VMs later) offers the
//! orchestration and embedding programs, with its state and exec types.

use std::collections::BTreeMap;
use std::fmt;
use std::os::fd::OwnedFd;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::runtime::exec_client::ExecProcess;
pub use crate::runtime::monitor::protocol::WindowSize;

/// The run state of an instance, with LXD's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum InstanceStatus {
    /// Init is running.
    Running,
    /// Not running.
    Stopped,
    /// Every process is frozen.
    Frozen,
    /// Processes exist but their monitor is gone: the instance cannot be managed until it is
    /// force-stopped.
    Error,
}

impl fmt::Display for InstanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InstanceStatus::Running => "Running",
            InstanceStatus::Stopped => "Stopped",
            InstanceStatus::Frozen => "Frozen",
            InstanceStatus::Error => "Error",
        })
    }
}

/// A snapshot of an instance's state and resource use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceState {
    /// Running, Stopped, Frozen or Error.
    pub status: InstanceStatus,
    /// Host pid of the init process.
    pub pid: Option<i32>,
    /// Number of processes.
    pub processes: Option<u64>,
    /// Memory in use, in bytes.
    pub memory_usage: Option<u64>,
    /// Highest memory use, in bytes.
    pub memory_peak: Option<u64>,
    /// CPU time used, in nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Start time, seconds since the epoch.
    pub started_at: Option<u64>,
}

impl InstanceState {
    /// The state of an instance that is not running.
    pub fn stopped() -> Self {
        InstanceState {
            status: InstanceStatus::Stopped,
            pid: None,
            processes: None,
            memory_usage: None,
            memory_peak: None,
            cpu_usage_ns: None,
            started_at: None,
        }
    }
}

/// Where one of a command's standard streams goes.
#[derive(Debug, Default)]
pub enum ExecStdio {
    /// `/dev/null`.
    #[default]
    Null,
    /// A pipe whose other end the caller gets in [`ExecProcess`].
    Piped,
    /// A descriptor the caller already has (a file, a socket, a pipe end).
    Fd(OwnedFd),
}

/// A command to run in an instance.
#[derive(Debug, Default)]
pub struct ExecCommand {
    /// Program and arguments; a program without `/` is looked up in `PATH`.
    pub argv: Vec<String>,
    /// Extra environment (over the defaults and the instance's `environment.*`).
    pub env: BTreeMap<String, String>,
    /// Working directory; the user's home (`/root` for root) when it exists, else `/`.
    pub cwd: Option<String>,
    /// Container uid.
    pub uid: u32,
    /// Container gid.
    pub gid: u32,
    /// Standard input.
    pub stdin: ExecStdio,
    /// Standard output.
    pub stdout: ExecStdio,
    /// Standard error.
    pub stderr: ExecStdio,
    /// Run under a new terminal of this size (stdio then all go to the terminal).
    pub pty: Option<WindowSize>,
}

impl ExecCommand {
    /// A command with default settings (root, stdio to `/dev/null`).
    pub fn new<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        ExecCommand {
            argv: argv.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Sets one environment variable.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Sets the working directory.
    pub fn cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Runs as this container uid and gid.
    pub fn user(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// Pipes all three streams.
    pub fn piped(mut self) -> Self {
        self.stdin = ExecStdio::Piped;
        self.stdout = ExecStdio::Piped;
        self.stderr = ExecStdio::Piped;
        self
    }

    /// Runs under a new terminal.
    pub fn pty(mut self, cols: u16, rows: u16) -> Self {
        self.pty = Some(WindowSize { cols, rows });
        self
    }
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code (128 + signal when killed by one).
    pub exit_code: i32,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl ExecOutput {
    /// Stdout as text (lossy).
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// Stderr as text (lossy).
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// An instance: the operations LXD offers on a container (and later a VM).
#[async_trait]
pub trait Instance: Send + Sync {
    /// The instance's name.
    fn name(&self) -> &str;

    /// Starts the instance; returns when its init runs.
    async fn start(&self) -> Result<()>;

    /// Stops the instance at once, killing every process.
    async fn stop(&self) -> Result<()>;

    /// Asks init to halt, waits up to `timeout`, then kills what is left. Returns whether it
    /// had to kill.
    async fn shutdown(&self, timeout: Duration) -> Result<bool>;

    /// Freezes every process.
    async fn freeze(&self) -> Result<()>;

    /// Thaws a frozen instance.
    async fn unfreeze(&self) -> Result<()>;

    /// The current state and resource use.
    async fn state(&self) -> Result<InstanceState>;

    /// Starts a command in the running instance.
    async fn exec(&self, cmd: ExecCommand) -> Result<ExecProcess>;

    /// The console output logged so far.
    async fn console_log(&self) -> Result<Vec<u8>>;

    /// Runs a command to completion, collecting its stdout and stderr.
    async fn exec_output(&self, argv: &[&str]) -> Result<ExecOutput> {
        let mut cmd = ExecCommand::new(argv.iter().copied());
        cmd.stdout = ExecStdio::Piped;
        cmd.stderr = ExecStdio::Piped;
        let process = self.exec(cmd).await?;
        process.output().await
    }
}
