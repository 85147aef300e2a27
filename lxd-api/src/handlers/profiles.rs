//! `/1.0/profiles`.

use std::sync::Arc;

use hyper::Method;
use lxd_core::store::{ProfileRecord, StoreOp};
use lxd_core::InstanceConfig;

use super::util::{check_etag, list, merge_patch, profile, to_value, url};
use crate::server::reply::etag;
use crate::server::{ApiError, ApiState, Reply, Req};
use crate::types;

async fn used_by(st: &ApiState, project: &str, name: &str) -> Result<Vec<String>, ApiError> {
    Ok(st
        .lxd
        .store()
        .instances(Some(project))
        .await?
        .into_iter()
        .filter(|i| i.profiles.iter().any(|p| p == name))
        .map(|i| url(&format!("/1.0/instances/{}", i.name), project))
        .collect())
}

/// Checks a profile's configuration and devices.
fn validate(put: &types::ProfilePut) -> Result<(), ApiError> {
    for k in put.config.keys() {
        if k.starts_with("volatile.") {
            return Err(ApiError::bad_request(
                "Volatile keys can only be set on instances",
            ));
        }
        if k.starts_with("image.") {
            return Err(ApiError::bad_request(
                "Image keys can only be set on instances",
            ));
        }
    }
    InstanceConfig::new(put.config.clone()).map_err(|e| ApiError::bad_request(e.to_string()))?;
    lxd_core::lxd::validate_devices(&put.devices).map_err(ApiError::from)?;
    Ok(())
}

fn writable(p: &ProfileRecord) -> serde_json::Value {
    serde_json::json!({"config": p.config, "description": p.description, "devices": p.devices})
}

/// `GET|POST /1.0/profiles`.
pub async fn collection(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    let project = req.project();
    match req.method {
        Method::GET => {
            let profiles = st.lxd.store().profiles(&project).await?;
            let urls = profiles
                .iter()
                .map(|p| url(&format!("/1.0/profiles/{}", p.name), &project))
                .collect();
            let mut objs = Vec::new();
            if req.recursion() > 0 {
                for p in &profiles {
                    objs.push(profile(p, used_by(&st, &project, &p.name).await?));
                }
            }
            list(&req, urls, || objs)
        }
        Method::POST => {
            let body: types::ProfilesPost = req.json().await?;
            if body.name.is_empty()
                || body.name.contains('/')
                || body.name == "."
                || body.name == ".."
            {
                return Err(ApiError::bad_request(format!(
                    "Invalid profile name {:?}",
                    body.name
                )));
            }
            validate(&types::ProfilePut {
                config: body.config.clone(),
                description: body.description.clone(),
                devices: body.devices.clone(),
            })?;
            st.lxd
                .store()
                .apply(vec![StoreOp::CreateProfile(ProfileRecord {
                    project: project.clone(),
                    name: body.name.clone(),
                    description: body.description,
                    config: body.config,
                    devices: body.devices,
                })])
                .await
                .map_err(|e| match e {
                    lxd_core::store::StoreError::AlreadyExists { .. } => {
                        ApiError::conflict(format!(
                            "Error inserting {:?} into database: The profile already exists",
                            body.name
                        ))
                    }
                    e => e.into(),
                })?;
            let u = url(&format!("/1.0/profiles/{}", body.name), &project);
            st.events
                .lifecycle(&project, "profile-created", &u, serde_json::json!({}));
            Ok(Reply::Created(u))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `/1.0/profiles/NAME`.
pub async fn entity(st: Arc<ApiState>, mut req: Req, name: &str) -> Result<Reply, ApiError> {
    let project = req.project();
    let store = st.lxd.store();
    let rec = store.profile(&project, name).await?;
    match req.method {
        Method::GET => {
            let v = to_value(&profile(&rec, used_by(&st, &project, name).await?))?;
            Ok(Reply::SyncEtag(v, etag(&writable(&rec))))
        }
        Method::PUT | Method::PATCH => {
            check_etag(&req, &writable(&rec))?;
            let body: serde_json::Value = req.json().await?;
            let mut next = writable(&rec);
            if req.method == Method::PATCH {
                merge_patch(&mut next, &body);
            } else {
                next = body;
            }
            let put: types::ProfilePut = serde_json::from_value(next)
                .map_err(|e| ApiError::bad_request(format!("Invalid profile: {e}")))?;
            validate(&put)?;
            store
                .apply(vec![StoreOp::UpdateProfile(ProfileRecord {
                    project: project.clone(),
                    name: name.to_string(),
                    description: put.description,
                    config: put.config,
                    devices: put.devices,
                })])
                .await?;
            st.events.lifecycle(
                &project,
                "profile-updated",
                &url(&format!("/1.0/profiles/{name}"), &project),
                serde_json::json!({}),
            );
            Ok(Reply::Sync(serde_json::json!({})))
        }
        Method::POST => {
            let body: types::ProfilePost = req.json().await?;
            if name == "default" {
                return Err(ApiError::bad_request(
                    "The \"default\" profile cannot be renamed",
                ));
            }
            if body.name.is_empty() || body.name.contains('/') {
                return Err(ApiError::bad_request(format!(
                    "Invalid profile name {:?}",
                    body.name
                )));
            }
            store
                .apply(vec![StoreOp::RenameProfile {
                    project: project.clone(),
                    name: name.to_string(),
                    new_name: body.name.clone(),
                }])
                .await?;
            Ok(Reply::Created(url(
                &format!("/1.0/profiles/{}", body.name),
                &project,
            )))
        }
        Method::DELETE => {
            if name == "default" {
                return Err(ApiError::bad_request(
                    "The \"default\" profile cannot be deleted",
                ));
            }
            let users = used_by(&st, &project, name).await?;
            if !users.is_empty() {
                return Err(ApiError::bad_request("Profile is currently in use"));
            }
            store
                .apply(vec![StoreOp::DeleteProfile {
                    project: project.clone(),
                    name: name.to_string(),
                }])
                .await?;
            st.events.lifecycle(
                &project,
                "profile-deleted",
                &url(&format!("/1.0/profiles/{name}"), &project),
                serde_json::json!({}),
            );
            Ok(Reply::Sync(serde_json::json!({})))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
