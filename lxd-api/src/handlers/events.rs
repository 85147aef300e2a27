//! `GET /1.0/events`: a websocket of events, filtered by type and project.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::server::{ws, ApiError, ApiState, Reply, Req};

/// Streams events to the client until it goes away.
pub async fn get(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    if !ws::is_upgrade(&req.headers) {
        return Err(ApiError::bad_request(
            "The events endpoint needs a websocket",
        ));
    }
    let types: Vec<String> = req
        .query
        .get("type")
        .map(|t| {
            t.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let all_projects = req.query.get("all-projects").is_some_and(|v| v == "true");
    let project = req.project();
    let mut rx = st.events.subscribe();
    let r = ws::accept(
        &req.headers,
        req.on_upgrade.take(),
        move |socket| async move {
            let (mut tx, mut incoming) = socket.split();
            // LXD pings every websocket right after the upgrade.
            if tx.send(Message::Ping("keepalive".into())).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    ev = rx.recv() => match ev {
                        Ok(ev) => {
                            let kind = ev["type"].as_str().unwrap_or("");
                            if !types.is_empty() && !types.iter().any(|t| t == kind) {
                                continue;
                            }
                            let p = ev["project"].as_str().unwrap_or("default");
                            if !all_projects && p != project {
                                continue;
                            }
                            if tx.send(Message::text(format!("{ev}\n"))).await.is_err() {
                                break;
                            }
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => break,
                    },
                    msg = incoming.next() => match msg {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        _ => {}
                    },
                }
            }
        },
    )?;
    Ok(Reply::Http(r))
}
