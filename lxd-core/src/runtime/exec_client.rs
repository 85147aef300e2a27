//! The caller's side of exec: a running command in a container, its stdio, terminal, signals
//! and exit code.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use super::monitor::protocol::{self, Reply, Request};
use crate::error::{Error, Result};
use crate::instance::ExecOutput;

/// A command started in a container.
#[derive(Debug)]
pub struct ExecProcess {
    name: String,
    pid: i32,
    conn: UnixStream,
    /// Write end of the command's stdin, when piped.
    pub stdin: Option<File>,
    /// Read end of the command's stdout, when piped.
    pub stdout: Option<File>,
    /// Read end of the command's stderr, when piped.
    pub stderr: Option<File>,
    /// The terminal's master side, for a pty exec: read output from it, write input to it.
    pub pty: Option<File>,
    /// A second handle on the master, kept for resizing when `pty` is taken.
    pty_ctl: Option<OwnedFd>,
}

impl ExecProcess {
    pub(crate) fn new(
        name: String,
        pid: i32,
        conn: UnixStream,
        pipes: [Option<File>; 3],
        pty: Option<OwnedFd>,
    ) -> Self {
        let [stdin, stdout, stderr] = pipes;
        let pty_ctl = pty.as_ref().and_then(|p| p.try_clone().ok());
        ExecProcess {
            name,
            pid,
            conn,
            stdin,
            stdout,
            stderr,
            pty: pty.map(File::from),
            pty_ctl,
        }
    }

    fn err(&self, message: impl Into<String>) -> Error {
        Error::Exec {
            name: self.name.clone(),
            message: message.into(),
        }
    }

    /// Host pid of the command.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends a signal to the command.
    pub fn signal(&self, signal: i32) -> Result<()> {
        protocol::send(&self.conn, &Request::Signal { signal }, &[])
            .map_err(|e| self.err(format!("forward signal {signal}: {e}")))
    }

    /// Resizes the command's terminal (pty exec only); the kernel sends it `SIGWINCH`.
    pub fn resize(&self, cols: u16, rows: u16) -> Result<()> {
        let pty = self
            .pty_ctl
            .as_ref()
            .ok_or_else(|| self.err("resize: the command has no terminal"))?;
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a winsize from the pointer, which is valid for the call.
        if unsafe { libc::ioctl(pty.as_raw_fd(), libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(self.err(format!("resize: {}", std::io::Error::last_os_error())));
        }
        Ok(())
    }

    /// Waits for the command to end and returns its exit code (128 + signal if killed).
    pub fn wait_blocking(&self) -> Result<i32> {
        let _ = self.conn.set_read_timeout(None);
        match protocol::recv::<Reply>(&self.conn) {
            Ok((Reply::ExecExited { exit_code }, _)) => Ok(exit_code),
            Ok((other, _)) => Err(self.err(format!("unexpected reply {other:?}"))),
            Err(e) => Err(self.err(format!("waiting for exit: {e}"))),
        }
    }

    /// Waits for the command to end without blocking the async runtime.
    pub async fn wait(&self) -> Result<i32> {
        let conn = self
            .conn
            .try_clone()
            .map_err(|e| self.err(format!("clone connection: {e}")))?;
        let me = ExecProcess::new(self.name.clone(), self.pid, conn, [None, None, None], None);
        tokio::task::spawn_blocking(move || me.wait_blocking())
            .await
            .map_err(|e| self.err(format!("wait task: {e}")))?
    }

    /// Closes stdin, reads stdout and stderr to the end and waits for the exit code.
    pub fn output_blocking(mut self) -> Result<ExecOutput> {
        drop(self.stdin.take());
        let (out, err) = (self.stdout.take(), self.stderr.take());
        let read_all = |f: Option<File>| -> Vec<u8> {
            let mut buf = Vec::new();
            if let Some(mut f) = f {
                let _ = f.read_to_end(&mut buf);
            }
            buf
        };
        let (stdout, stderr) = std::thread::scope(|s| {
            let e = s.spawn(|| read_all(err));
            let o = read_all(out);
            (o, e.join().unwrap_or_default())
        });
        let exit_code = self.wait_blocking()?;
        Ok(ExecOutput {
            exit_code,
            stdout,
            stderr,
        })
    }

    /// [`ExecProcess::output_blocking`] without blocking the async runtime.
    pub async fn output(self) -> Result<ExecOutput> {
        let name = self.name.clone();
        tokio::task::spawn_blocking(move || self.output_blocking())
            .await
            .map_err(|e| Error::Exec {
                name,
                message: format!("output task: {e}"),
            })?
    }
}
