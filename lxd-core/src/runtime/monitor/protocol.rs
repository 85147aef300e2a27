//! The control protocol between a monitor and the programs that talk to it: length-prefixed
//! JSON messages over its unix socket, with file descriptors (exec stdio, a pty) passed as
//! `SCM_RIGHTS` alongside.

use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use serde::{Deserialize, Serialize};

use crate::runtime::cgroup::Cgroup;
use crate::runtime::idmap::IdmapSet;
use crate::runtime::sys;

/// The largest message either side accepts.
pub(crate) const MAX_MESSAGE: usize = 1 << 20;

/// A request to a monitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Report the container's state.
    Info,
    /// Send the halt signal, wait up to `timeout_ms`, then kill.
    Shutdown {
        /// How long to wait for a clean halt.
        timeout_ms: u64,
    },
    /// Kill every process at once.
    Stop,
    /// Freeze every process.
    Freeze,
    /// Thaw every process.
    Unfreeze,
    /// Run a command; stdio descriptors travel with the message.
    Exec(ExecRequest),
    /// Apply new `limits.*` to the running container.
    UpdateLimits {
        /// The new configuration.
        config: crate::config::InstanceConfig,
    },
    /// Mount (`add`) or unmount a disk device in the running container.
    Mount {
        /// The device.
        mount: crate::runtime::spec::DiskMount,
        /// Mount or unmount.
        add: bool,
    },
    /// Replace the list of nics the container holds (after a hot-plug).
    SetNics {
        /// The nics.
        nics: Vec<crate::runtime::spec::SpecNic>,
    },
    /// Attach this connection to the console: after the `Done` reply it carries the
    /// console's raw bytes both ways (a new attach replaces an older one).
    ConsoleAttach {
        /// The terminal size to set, if known.
        size: Option<WindowSize>,
    },
    /// Set the console's terminal size.
    ConsoleResize {
        /// The new size.
        size: WindowSize,
    },
    /// Forward a signal to the process of this exec connection.
    Signal {
        /// The signal number.
        signal: i32,
    },
}

/// A terminal size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSize {
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
}

/// What to run and how, as sent to the monitor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The complete environment.
    pub env: Vec<(String, String)>,
    /// Working directory inside the container.
    pub cwd: String,
    /// Container uid to run as.
    pub uid: u32,
    /// Container gid to run as.
    pub gid: u32,
    /// Run under a new pty of this size instead of the passed stdio.
    pub pty: Option<WindowSize>,
    /// Which of stdin, stdout, stderr have a descriptor attached (in that order); the others
    /// are `/dev/null`.
    pub stdio: [bool; 3],
}

/// A monitor's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The request was carried out.
    Done,
    /// The container has stopped (after shutdown or stop).
    Stopped {
        /// Whether it had to be killed.
        killed: bool,
    },
    /// The request failed.
    Error {
        /// Why.
        message: String,
    },
    /// State of the container.
    Info(MonitorInfo),
    /// The command started (a pty master travels with this message when asked for).
    ExecStarted {
        /// Host pid of the command.
        pid: i32,
    },
    /// The command ended: its exit status, or 128 + the signal that killed it.
    ExecExited {
        /// The exit code.
        exit_code: i32,
    },
    /// The container's namespaces exist and its init waits: the spawner may run its
    /// pre-start hook, then writes `go` (or a line with the reason to give up).
    Created {
        /// Host pid of the waiting init.
        init_pid: i32,
    },
    /// The container started.
    Started {
        /// The id map now applied to the rootfs on disk, when a shift was needed or undone
        /// (`volatile.last_state.idmap`).
        last_state_idmap: Option<String>,
    },
}

/// What a monitor reports about its container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorInfo {
    /// The monitor's pid.
    pub monitor_pid: i32,
    /// Host pid of the container's init.
    pub init_pid: i32,
    /// Whether the container is frozen.
    pub frozen: bool,
    /// Start time, seconds since the epoch.
    pub started_at: u64,
    /// The id map in use.
    pub idmap: IdmapSet,
    /// The instance's cgroup.
    pub cgroup: Cgroup,
    /// Memory in use, in bytes.
    pub memory_usage: Option<u64>,
    /// Highest memory use, in bytes.
    pub memory_peak: Option<u64>,
    /// CPU time used, in nanoseconds.
    pub cpu_usage_ns: Option<u64>,
    /// Number of processes.
    pub processes: Option<u64>,
}

/// Errors of the wire protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The peer closed the connection.
    #[error("connection closed")]
    Closed,
    /// A socket call failed.
    #[error("socket: {0}")]
    Sys(#[from] nix::Error),
    /// A message was not valid.
    #[error("bad message: {0}")]
    Bad(String),
}

/// One message as it goes on the wire: its length (little-endian `u32`), then its JSON.
pub(crate) fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ProtocolError> {
    let mut data = vec![0u8; 4];
    serde_json::to_writer(&mut data, msg).map_err(|e| ProtocolError::Bad(e.to_string()))?;
    let len = (data.len() - 4) as u32;
    data[..4].copy_from_slice(&len.to_le_bytes());
    Ok(data)
}

/// The JSON body of one message (after its length).
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ProtocolError> {
    serde_json::from_slice(body).map_err(|e| ProtocolError::Bad(e.to_string()))
}

/// Writes one message with descriptors attached.
pub fn send<T: Serialize>(sock: &UnixStream, msg: &T, fds: &[RawFd]) -> Result<(), ProtocolError> {
    let data = encode(msg)?;
    sys::send_with_fds(sock.as_fd(), &data, fds)?;
    Ok(())
}

/// Reads one message and the descriptors that came with it.
pub fn recv<T: for<'de> Deserialize<'de>>(
    sock: &UnixStream,
) -> Result<(T, Vec<OwnedFd>), ProtocolError> {
    let mut fds = Vec::new();
    let mut head = [0u8; 4];
    read_exact(sock, &mut head, &mut fds)?;
    let len = u32::from_le_bytes(head) as usize;
    if len > MAX_MESSAGE {
        return Err(ProtocolError::Bad(format!("message of {len} bytes")));
    }
    let mut body = vec![0u8; len];
    read_exact(sock, &mut body, &mut fds)?;
    Ok((decode(&body)?, fds))
}

fn read_exact(
    sock: &UnixStream,
    mut buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> Result<(), ProtocolError> {
    while !buf.is_empty() {
        let (n, got) = sys::recv_with_fds(sock.as_fd(), buf)?;
        fds.extend(got);
        if n == 0 {
            return Err(ProtocolError::Closed);
        }
        buf = &mut buf[n..];
    }
    Ok(())
}
