//! `/1.0/projects`.

use std::sync::Arc;

use hyper::Method;
use lxd_core::store::{ProjectRecord, StoreOp};

use super::util::{check_etag, list, merge_patch, to_value, url};
use crate::server::reply::etag;
use crate::server::{ApiError, ApiState, Reply, Req};
use crate::types;

async fn project_json(st: &ApiState, p: &ProjectRecord) -> Result<types::Project, ApiError> {
    let mut used_by = Vec::new();
    for i in st.lxd.store().instances(Some(&p.name)).await? {
        used_by.push(url(&format!("/1.0/instances/{}", i.name), &p.name));
    }
    for pr in st.lxd.store().profiles(&p.name).await? {
        used_by.push(url(&format!("/1.0/profiles/{}", pr.name), &p.name));
    }
    for i in st.lxd.store().images(&p.name).await? {
        used_by.push(url(&format!("/1.0/images/{}", i.fingerprint), &p.name));
    }
    Ok(types::Project {
        config: p.config.clone(),
        description: p.description.clone(),
        name: p.name.clone(),
        used_by,
    })
}

/// `GET|POST /1.0/projects`.
pub async fn collection(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    match req.method {
        Method::GET => {
            let projects = st.lxd.store().projects().await?;
            let urls = projects
                .iter()
                .map(|p| format!("/1.0/projects/{}", p.name))
                .collect();
            let mut objs = Vec::new();
            if req.recursion() > 0 {
                for p in &projects {
                    objs.push(project_json(&st, p).await?);
                }
            }
            list(&req, urls, || objs)
        }
        Method::POST => {
            let body: types::ProjectsPost = req.json().await?;
            if body.name.is_empty() || body.name.contains('/') || body.name.contains('_') {
                return Err(ApiError::bad_request(format!(
                    "Invalid project name {:?}",
                    body.name
                )));
            }
            st.lxd
                .store()
                .apply(vec![StoreOp::CreateProject(ProjectRecord {
                    name: body.name.clone(),
                    description: body.description,
                    config: body.config,
                })])
                .await?;
            st.events.lifecycle(
                &body.name,
                "project-created",
                &format!("/1.0/projects/{}", body.name),
                serde_json::json!({}),
            );
            Ok(Reply::Created(format!("/1.0/projects/{}", body.name)))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `/1.0/projects/NAME`.
pub async fn entity(st: Arc<ApiState>, mut req: Req, name: &str) -> Result<Reply, ApiError> {
    let store = st.lxd.store();
    let rec = store.project(name).await?;
    let current = to_value(&project_json(&st, &rec).await?)?;
    match req.method {
        Method::GET => {
            let tag =
                etag(&serde_json::json!({"config": rec.config, "description": rec.description}));
            Ok(Reply::SyncEtag(current, tag))
        }
        Method::PUT | Method::PATCH => {
            check_etag(
                &req,
                &serde_json::json!({"config": rec.config, "description": rec.description}),
            )?;
            let body: serde_json::Value = req.json().await?;
            let mut next =
                serde_json::json!({"config": rec.config, "description": rec.description});
            if req.method == Method::PATCH {
                merge_patch(&mut next, &body);
            } else {
                next = body;
            }
            let put: types::ProjectPut = serde_json::from_value(next)
                .map_err(|e| ApiError::bad_request(format!("Invalid project: {e}")))?;
            store
                .apply(vec![StoreOp::UpdateProject(ProjectRecord {
                    name: name.to_string(),
                    description: put.description,
                    config: put.config,
                })])
                .await?;
            Ok(Reply::Sync(serde_json::json!({})))
        }
        Method::DELETE => {
            store
                .apply(vec![StoreOp::DeleteProject {
                    name: name.to_string(),
                }])
                .await?;
            Ok(Reply::Sync(serde_json::json!({})))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `GET /1.0/projects/NAME/state`.
pub async fn state(st: Arc<ApiState>, req: Req, name: &str) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    st.lxd.store().project(name).await?;
    let instances = st.lxd.store().instances(Some(name)).await?.len();
    Ok(Reply::Sync(serde_json::json!({
        "resources": {
            "containers": {"Limit": -1, "Usage": instances},
            "instances": {"Limit": -1, "Usage": instances},
        }
    })))
}
