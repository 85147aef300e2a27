//! Asking a container's monitor for its report over a non-blocking socket: the control
//! protocol's request and answer for a message that carries no descriptors, so any number of
//! containers can be asked at once without a thread each.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::monitor::protocol::{self, MonitorInfo, Reply, Request, MAX_MESSAGE};
use super::{connect_error, Container};
use crate::error::{Error, Result};
use crate::instance::InstanceState;

/// How long a monitor has to answer (as for the blocking calls).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `msg` and reads one answer's body.
async fn exchange(conn: &mut UnixStream, msg: &[u8]) -> io::Result<Vec<u8>> {
    conn.write_all(msg).await?;
    let mut head = [0u8; 4];
    conn.read_exact(&mut head).await?;
    let len = u32::from_le_bytes(head) as usize;
    if len > MAX_MESSAGE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad message: message of {len} bytes"),
        ));
    }
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).await?;
    Ok(body)
}

impl Container {
    /// The monitor's report, when running ([`Container::info_blocking`] without a thread).
    pub async fn info(&self) -> Result<Option<MonitorInfo>> {
        let sock = self.inner.paths.socket();
        let mut conn = match UnixStream::connect(&sock).await {
            Ok(c) => c,
            Err(e) if connect_error(&e) => return Ok(None),
            Err(e) => return Err(Error::io("connect", sock, e)),
        };
        let msg = protocol::encode(&Request::Info).map_err(|e| self.monitor_err(e.to_string()))?;
        let body = match tokio::time::timeout(ANSWER_TIMEOUT, exchange(&mut conn, &msg)).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(self.monitor_err("connection closed"))
            }
            Ok(Err(e)) => return Err(self.monitor_err(format!("socket: {e}"))),
            Err(_) => {
                return Err(
                    self.monitor_err(format!("no answer within {}s", ANSWER_TIMEOUT.as_secs()))
                )
            }
        };
        match protocol::decode::<Reply>(&body).map_err(|e| self.monitor_err(e.to_string()))? {
            Reply::Info(i) => Ok(Some(i)),
            Reply::Error { message } => Err(self.monitor_err(message)),
            other => Err(self.monitor_err(format!("unexpected reply {other:?}"))),
        }
    }

    /// [`crate::Instance::state`]: the monitor's report, or what the pid file says when no
    /// monitor answers.
    pub(crate) async fn state_async(&self) -> Result<InstanceState> {
        match self.info().await? {
            Some(i) => Ok(Self::running_state(i)),
            None => Ok(self.state_without_monitor()),
        }
    }
}
