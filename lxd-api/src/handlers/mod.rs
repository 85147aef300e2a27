//! LXD's endpoints: the routing table and one module per area.

mod console;
mod events;
mod exec;
mod files;
mod images;
mod instances;
mod internal;
mod networks;
mod operations;
mod profiles;
mod projects;
mod server;
mod snapshots;
mod storage;
pub(crate) mod util;

use std::sync::Arc;

use hyper::Method;

use crate::server::{ApiError, ApiState, Reply, Req};

/// Dispatches a request to its handler.
pub async fn route(st: Arc<ApiState>, req: Req) -> Result<Reply, ApiError> {
    let path = req.path.clone();
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    let m = req.method.clone();
    use Method as M;
    match (&m, p.as_slice()) {
        (_, []) => match m {
            M::GET => Ok(Reply::Sync(serde_json::json!(["/1.0"]))),
            _ => Err(ApiError::method_not_allowed()),
        },
        (_, ["internal", rest @ ..]) => internal::route(st, req, &rest.join("/")).await,
        (_, ["1.0"]) => match m {
            M::GET => server::get(st, req).await,
            M::PUT | M::PATCH => server::put(st, req).await,
            _ => Err(ApiError::method_not_allowed()),
        },
        (_, ["1.0", "events"]) => events::get(st, req).await,
        (_, ["1.0", "operations"]) => operations::list(st, req).await,
        (_, ["1.0", "operations", id]) => {
            let id = id.to_string();
            match m {
                M::GET => operations::get(st, &id).await,
                M::DELETE => operations::cancel(st, &id).await,
                _ => Err(ApiError::method_not_allowed()),
            }
        }
        (_, ["1.0", "operations", id, "wait"]) => {
            let id = id.to_string();
            operations::wait(st, req, &id).await
        }
        (_, ["1.0", "operations", id, "websocket"]) => {
            let id = id.to_string();
            operations::websocket(st, req, &id).await
        }
        (_, ["1.0", "projects"]) => projects::collection(st, req).await,
        (_, ["1.0", "projects", name]) => {
            let name = name.to_string();
            projects::entity(st, req, &name).await
        }
        (_, ["1.0", "projects", name, "state"]) => {
            let name = name.to_string();
            projects::state(st, req, &name).await
        }
        (_, ["1.0", "profiles"]) => profiles::collection(st, req).await,
        (_, ["1.0", "profiles", name]) => {
            let name = name.to_string();
            profiles::entity(st, req, &name).await
        }
        (_, ["1.0", "networks"]) => networks::collection(st, req).await,
        (_, ["1.0", "networks", name]) => {
            let name = name.to_string();
            networks::entity(st, req, &name).await
        }
        (_, ["1.0", "networks", name, "state"]) => {
            let name = name.to_string();
            networks::state(st, req, &name).await
        }
        (_, ["1.0", "networks", name, "leases"]) => {
            let name = name.to_string();
            networks::leases(st, req, &name).await
        }
        (_, ["1.0", "storage-pools"]) => storage::pools(st, req).await,
        (_, ["1.0", "storage-pools", pool]) => {
            let pool = pool.to_string();
            storage::pool(st, req, &pool).await
        }
        (_, ["1.0", "storage-pools", pool, "resources"]) => {
            let pool = pool.to_string();
            storage::resources(st, req, &pool).await
        }
        (_, ["1.0", "storage-pools", pool, "volumes"]) => {
            let pool = pool.to_string();
            storage::volumes(st, req, &pool, None).await
        }
        (_, ["1.0", "storage-pools", pool, "volumes", t]) => {
            let (pool, t) = (pool.to_string(), t.to_string());
            storage::volumes(st, req, &pool, Some(&t)).await
        }
        (_, ["1.0", "storage-pools", pool, "volumes", t, name]) => {
            let (pool, t, name) = (pool.to_string(), t.to_string(), name.to_string());
            storage::volume(st, req, &pool, &t, &name).await
        }
        (_, ["1.0", "storage-pools", pool, "volumes", t, name, "state"]) => {
            let (pool, t, name) = (pool.to_string(), t.to_string(), name.to_string());
            storage::volume_state(st, req, &pool, &t, &name).await
        }
        (_, ["1.0", "storage-pools", pool, "volumes", t, name, "snapshots"]) => {
            let (pool, t, name) = (pool.to_string(), t.to_string(), name.to_string());
            storage::volume_snapshots(st, req, &pool, &t, &name).await
        }
        (_, ["1.0", "images"]) => images::collection(st, req).await,
        (_, ["1.0", "images", "aliases"]) => images::aliases(st, req).await,
        (_, ["1.0", "images", "aliases", name]) => {
            let name = name.to_string();
            images::alias(st, req, &name).await
        }
        (_, ["1.0", "images", fp]) => {
            let fp = fp.to_string();
            images::entity(st, req, &fp).await
        }
        (_, ["1.0", "images", fp, "export"]) => {
            let fp = fp.to_string();
            images::export(st, req, &fp).await
        }
        (_, ["1.0", "images", fp, "refresh"]) => {
            let fp = fp.to_string();
            images::refresh(st, req, &fp).await
        }
        (_, ["1.0", kind @ ("instances" | "containers")]) => {
            let kind = kind.to_string();
            instances::collection(st, req, &kind).await
        }
        (_, ["1.0", "instances" | "containers", name, rest @ ..]) => {
            let (name, rest): (String, Vec<String>) = (
                name.to_string(),
                rest.iter().map(|s| s.to_string()).collect(),
            );
            instances::route(st, req, &name, &rest).await
        }
        (_, ["1.0", "networks", ..]) => Err(ApiError::not_found("Network not found")),
        (_, ["1.0", "certificates"]) if m == M::GET => Ok(Reply::Sync(serde_json::json!([]))),
        (_, ["1.0", "warnings"]) if m == M::GET => Ok(Reply::Sync(serde_json::json!([]))),
        _ => Err(ApiError::not_found("not found")),
    }
}

/// Shuts down every running instance (`lxd shutdown`, `SIGPWR`); they start again with the
/// daemon.
pub async fn shutdown_instances(st: &Arc<ApiState>) {
    instances::shutdown_all(st).await;
}

/// Starts the instances that should run when the daemon starts: `boot.autostart=true`, or no
/// `boot.autostart` and running when the daemon last stopped them
/// (`volatile.last_state.power=RUNNING`), as LXD does.
pub async fn autostart(st: &Arc<ApiState>) {
    let Ok(recs) = st.lxd.store().instances(None).await else {
        return;
    };
    for rec in recs {
        let Ok((config, _)) = st.lxd.expanded(&rec).await else {
            continue;
        };
        let wanted = match config.get("boot.autostart").map(String::as_str) {
            Some("true") | Some("1") => true,
            Some(_) => false,
            None => {
                rec.config
                    .get("volatile.last_state.power")
                    .map(String::as_str)
                    == Some("RUNNING")
            }
        };
        if !wanted {
            continue;
        }
        let Ok(c) = st.lxd.container(&rec.project, &rec.name).await else {
            continue;
        };
        use lxd_core::Instance;
        if c.state()
            .await
            .map(|s| s.status != lxd_core::InstanceStatus::Stopped)
            .unwrap_or(true)
        {
            continue;
        }
        match st.lxd.start_instance(&rec.project, &rec.name).await {
            Ok(()) => st.events.lifecycle(
                &rec.project,
                "instance-started",
                &handlers_url(&rec.project, &rec.name),
                serde_json::json!({}),
            ),
            Err(e) => tracing::warn!(instance = %rec.name, "autostart: {e}"),
        }
    }
}

fn handlers_url(project: &str, name: &str) -> String {
    util::url(&format!("/1.0/instances/{name}"), project)
}
