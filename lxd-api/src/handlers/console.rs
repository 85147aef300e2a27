//! `POST /1.0/instances/NAME/console`: attaches to a running container's console.
//!
//! The answer is a websocket-class operation whose metadata carries the secrets of two
//! websockets, `0` (the console's bytes, binary frames both ways) and `control`
//! (`window-resize` messages). Once both are connected the monitor attaches the console; the
//! operation ends when the client closes either (`lxc console`'s ctrl+a q closes `control`) or
//! the console goes.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use lxd_core::{Container, Instance, InstanceStatus, WindowSize};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use super::instances::resources;
use crate::server::operations::secret;
use crate::server::ws::WebSocket;
use crate::server::{ApiError, ApiState, NewOp, OpClass, Reply, Req};
use crate::types::{InstanceConsoleControl, InstanceConsolePost};

/// How long the client has to connect both websockets.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

fn size_of(width: i64, height: i64) -> Option<WindowSize> {
    let cols = u16::try_from(width).ok().filter(|w| *w > 0)?;
    let rows = u16::try_from(height).ok().filter(|h| *h > 0)?;
    Some(WindowSize { cols, rows })
}

/// Starts a console operation.
pub async fn post(
    st: Arc<ApiState>,
    mut req: Req,
    project: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let body: InstanceConsolePost = req.json().await?;
    match body.r#type.as_str() {
        "" | "console" => {}
        "vga" => {
            return Err(ApiError::bad_request(
                "VGA console is only supported by virtual machines",
            ))
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "Unknown console type {other:?}"
            )))
        }
    }
    let c = st.lxd.container(project, name).await?;
    if c.state().await?.status == InstanceStatus::Stopped {
        return Err(ApiError::bad_request("Instance is not running"));
    }
    let secrets = [("0", secret()), ("control", secret())];
    let fds: Map<String, Value> = secrets
        .iter()
        .map(|(n, s)| (n.to_string(), Value::String(s.clone())))
        .collect();
    let mut new = NewOp::task(project, "Showing console", &resources(project, &[name]));
    new.class = OpClass::Websocket;
    new.metadata = Map::from_iter([("fds".to_string(), Value::Object(fds))]);
    let size = size_of(body.width, body.height);
    let (hand_over, receive) = oneshot::channel::<[oneshot::Receiver<WebSocket>; 2]>();
    let instance = name.to_string();
    let op = st.ops.spawn(new, move |_op| async move {
        let [data, control] = receive
            .await
            .map_err(|_| ApiError::internal("console websockets were not registered"))?;
        session(c, instance, size, data, control).await
    });
    // The secrets are registered before the client can learn them from the answer.
    let receivers = [
        op.expect_socket(&secrets[0].1),
        op.expect_socket(&secrets[1].1),
    ];
    let _ = hand_over.send(receivers);
    Ok(Reply::Async(op.to_json(), op.url()))
}

async fn connected(rx: oneshot::Receiver<WebSocket>) -> Result<WebSocket, ()> {
    let mut ws = rx.await.map_err(drop)?;
    let _ = ws
        .send(Message::Ping(Bytes::from_static(b"keepalive")))
        .await;
    Ok(ws)
}

/// One attached console: waits for the sockets, attaches, and moves bytes until either side
/// goes away.
async fn session(
    c: Container,
    instance: String,
    size: Option<WindowSize>,
    data: oneshot::Receiver<WebSocket>,
    control: oneshot::Receiver<WebSocket>,
) -> Result<(), ApiError> {
    let both = async { Ok::<_, ()>((connected(data).await?, connected(control).await?)) };
    let Ok(Ok((data, mut control))) = tokio::time::timeout(CONNECT_TIMEOUT, both).await else {
        return Err(ApiError::internal(
            "Timed out waiting for websockets to connect",
        ));
    };
    let c2 = c.clone();
    let stream = tokio::task::spawn_blocking(move || c2.console_attach_blocking(size))
        .await
        .map_err(|e| ApiError::internal(format!("console task: {e}")))??;
    stream
        .set_nonblocking(true)
        .map_err(|e| ApiError::internal(format!("console stream: {e}")))?;
    let stream = tokio::net::UnixStream::from_std(stream)
        .map_err(|e| ApiError::internal(format!("console stream: {e}")))?;
    let (mut from_console, mut to_console) = stream.into_split();
    let (mut ws_out, mut ws_in) = data.split();
    tracing::debug!(%instance, "console attached");
    let output = async {
        let mut buf = vec![0u8; 8192];
        loop {
            match from_console.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let frame = Message::Binary(Bytes::copy_from_slice(&buf[..n]));
                    if ws_out.send(frame).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let input = async {
        while let Some(msg) = ws_in.next().await {
            let bytes = match msg {
                Ok(Message::Binary(b)) => b.to_vec(),
                Ok(Message::Text(t)) => t.as_bytes().to_vec(),
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => continue,
            };
            if to_console.write_all(&bytes).await.is_err() {
                return;
            }
        }
    };
    let controls = async {
        while let Some(Ok(msg)) = control.next().await {
            let raw = match &msg {
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Binary(b) => b.to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            let Ok(m) = serde_json::from_slice::<InstanceConsoleControl>(&raw) else {
                continue;
            };
            if m.command != "window-resize" {
                continue;
            }
            let dim = |k: &str| m.args.get(k).and_then(|v| v.parse::<i64>().ok());
            if let Some(size) = size_of(dim("width").unwrap_or(0), dim("height").unwrap_or(0)) {
                let c = c.clone();
                let _ = tokio::task::spawn_blocking(move || c.console_resize_blocking(size)).await;
            }
        }
        // `lxc console` detaches (ctrl+a q) by closing the control socket.
    };
    tokio::select! {
        _ = output => {}
        _ = input => {}
        _ = controls => {}
    }
    tracing::debug!(%instance, "console detached");
    Ok(())
}
