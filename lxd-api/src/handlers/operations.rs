//! `/1.0/operations`.

use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use serde_json::{json, Map, Value};

use crate::server::operations::OpStatus;
use crate::server::{ws, ApiError, ApiState, Reply, Req};

fn not_found() -> ApiError {
    ApiError::not_found("Operation not found")
}

/// `GET /1.0/operations`: operations grouped by status.
pub async fn list(st: Arc<ApiState>, req: Req) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let project = req.query.get("project").cloned();
    let all_projects = req.query.get("all-projects").is_some_and(|v| v == "true");
    let filter = if all_projects {
        None
    } else {
        Some(project.as_deref().unwrap_or("default"))
    };
    let mut groups: Map<String, Value> = Map::new();
    for op in st.ops.list(filter) {
        let key = op.status().name().to_lowercase();
        let entry = groups.entry(key).or_insert_with(|| json!([]));
        let v = if req.recursion() > 0 {
            op.to_json()
        } else {
            json!(op.url())
        };
        if let Some(a) = entry.as_array_mut() {
            a.push(v);
        }
    }
    Ok(Reply::Sync(Value::Object(groups)))
}

/// `GET /1.0/operations/ID`.
pub async fn get(st: Arc<ApiState>, id: &str) -> Result<Reply, ApiError> {
    let op = st.ops.get(id).ok_or_else(not_found)?;
    Ok(Reply::Sync(op.to_json()))
}

/// `DELETE /1.0/operations/ID`: cancels.
pub async fn cancel(st: Arc<ApiState>, id: &str) -> Result<Reply, ApiError> {
    let op = st.ops.get(id).ok_or_else(not_found)?;
    op.cancel()?;
    Ok(Reply::Sync(json!({})))
}

/// `GET /1.0/operations/ID/wait?timeout=N` (N < 0: forever).
pub async fn wait(st: Arc<ApiState>, req: Req, id: &str) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let op = st.ops.get(id).ok_or_else(not_found)?;
    let timeout = req
        .query
        .get("timeout")
        .and_then(|t| t.parse::<i64>().ok())
        .unwrap_or(-1);
    let t = (timeout >= 0).then(|| Duration::from_secs(timeout as u64));
    op.wait(t).await;
    Ok(Reply::Sync(op.to_json()))
}

/// `GET /1.0/operations/ID/websocket?secret=S`: connects one of an operation's websockets.
pub async fn websocket(st: Arc<ApiState>, mut req: Req, id: &str) -> Result<Reply, ApiError> {
    let secret = req.query.get("secret").cloned().unwrap_or_default();
    let op = st.ops.get(id).ok_or_else(not_found)?;
    if op.status() != OpStatus::Running {
        return Err(ApiError::bad_request("Operation is not running"));
    }
    let tx = op
        .take_socket(&secret)
        .ok_or_else(|| ApiError::bad_request("Invalid websocket secret"))?;
    let r = ws::accept(
        &req.headers,
        req.on_upgrade.take(),
        move |socket| async move {
            let _ = tx.send(socket);
        },
    )?;
    Ok(Reply::Http(r))
}
