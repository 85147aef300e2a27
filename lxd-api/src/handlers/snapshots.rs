//! `/1.0/instances/NAME/snapshots`.

use std::sync::Arc;

use hyper::Method;
use lxd_core::Lxd;
use serde_json::json;

use super::instances::{resources, snapshots_of};
use super::util::{list, task, to_value, url};
use crate::server::{ApiError, ApiState, NewOp, Reply, Req};
use crate::types;

/// `GET|POST /1.0/instances/NAME/snapshots`.
pub async fn collection(
    st: Arc<ApiState>,
    mut req: Req,
    project: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let rec = st.lxd.store().instance(project, name).await?;
    match req.method {
        Method::GET => {
            let snaps = st.lxd.store().snapshots(project, name).await?;
            let urls = snaps
                .iter()
                .map(|s| {
                    url(
                        &format!("/1.0/instances/{name}/snapshots/{}", s.name),
                        project,
                    )
                })
                .collect();
            let objs = if req.recursion() > 0 {
                snapshots_of(&st, &rec).await?
            } else {
                Vec::new()
            };
            list(&req, urls, || objs)
        }
        Method::POST => {
            let body: types::InstanceSnapshotsPost = req.json().await?;
            if body.stateful {
                return Err(ApiError::bad_request(
                    "Stateful snapshots are not supported",
                ));
            }
            if body.name.contains('/') {
                return Err(ApiError::bad_request(
                    "Snapshot names may not contain slashes",
                ));
            }
            let snap = if body.name.is_empty() {
                st.lxd.next_snapshot_name(project, name).await?
            } else {
                body.name.clone()
            };
            let res = resources(project, &[name]);
            let (project, name) = (project.to_string(), name.to_string());
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, "Snapshotting instance", &res),
                move |_op| async move {
                    st2.lxd.snapshot_instance(&project, &name, &snap).await?;
                    st2.events.lifecycle(
                        &project,
                        "instance-snapshot-created",
                        &url(&format!("/1.0/instances/{name}/snapshots/{snap}"), &project),
                        json!({}),
                    );
                    Ok(())
                },
            )
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `/1.0/instances/NAME/snapshots/SNAP`.
pub async fn entity(
    st: Arc<ApiState>,
    mut req: Req,
    project: &str,
    name: &str,
    snap: &str,
) -> Result<Reply, ApiError> {
    let rec = st.lxd.store().instance(project, name).await?;
    st.lxd.store().snapshot(project, name, snap).await?;
    match req.method {
        Method::GET => {
            let all = snapshots_of(&st, &rec).await?;
            let s = all
                .into_iter()
                .find(|s| s.name == snap)
                .ok_or_else(|| ApiError::not_found("Snapshot not found"))?;
            Ok(Reply::Sync(to_value(&s)?))
        }
        Method::DELETE => {
            let res = resources(project, &[name]);
            let (project, name, snap) = (project.to_string(), name.to_string(), snap.to_string());
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, "Deleting snapshot", &res),
                move |_op| async move {
                    st2.lxd.delete_snapshot(&project, &name, &snap).await?;
                    st2.events.lifecycle(
                        &project,
                        "instance-snapshot-deleted",
                        &url(&format!("/1.0/instances/{name}/snapshots/{snap}"), &project),
                        json!({}),
                    );
                    Ok(())
                },
            )
        }
        Method::POST => {
            let body: types::InstanceSnapshotPost = req.json().await?;
            if body.migration {
                return Err(ApiError::bad_request("Migration is not supported"));
            }
            let new_name = body.name;
            // Refused before an operation is made, as LXD does.
            Lxd::check_snapshot_name(&new_name)?;
            if st
                .lxd
                .store()
                .snapshot(project, name, &new_name)
                .await
                .is_ok()
            {
                return Err(ApiError::conflict(format!(
                    "Name '{name}/{new_name}' already in use"
                )));
            }
            let res = resources(project, &[name]);
            let (project, name, snap) = (project.to_string(), name.to_string(), snap.to_string());
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, "Renaming snapshot", &res),
                move |_op| async move {
                    st2.lxd
                        .rename_snapshot(&project, &name, &snap, &new_name)
                        .await?;
                    st2.events.lifecycle(
                        &project,
                        "instance-snapshot-renamed",
                        &url(
                            &format!("/1.0/instances/{name}/snapshots/{new_name}"),
                            &project,
                        ),
                        json!({"old_name": snap}),
                    );
                    Ok(())
                },
            )
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
