//! `/1.0/storage-pools` and their volumes.

use std::sync::Arc;

use hyper::Method;
use lxd_core::store::{StoragePoolRecord, StoreOp, VolumeKey, VolumeRecord, VolumeType};
use serde_json::{json, Value};

use super::util::{list, merge_patch, task, to_value, url};
use crate::server::{ApiError, ApiState, NewOp, Reply, Req};
use crate::types::{self, Timestamp};

fn status(s: &str) -> String {
    match s {
        "CREATED" => "Created",
        "PENDING" => "Pending",
        "ERRORED" => "Errored",
        other => other,
    }
    .to_string()
}

async fn pool_used_by(st: &ApiState, pool: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for v in st.lxd.store().volumes(pool).await? {
        match v.volume_type {
            VolumeType::Image => out.push(format!("/1.0/images/{}", v.name)),
            VolumeType::Container => {
                out.push(url(&format!("/1.0/instances/{}", v.name), &v.project));
                let key = VolumeKey {
                    pool: pool.into(),
                    project: v.project.clone(),
                    volume_type: v.volume_type,
                    name: v.name.clone(),
                };
                for s in st.lxd.store().volume_snapshots(&key).await? {
                    out.push(url(
                        &format!("/1.0/instances/{}/snapshots/{}", v.name, s.name),
                        &v.project,
                    ));
                }
            }
            _ => out.push(url(
                &format!(
                    "/1.0/storage-pools/{pool}/volumes/{}/{}",
                    v.volume_type.api_name(),
                    v.name
                ),
                &v.project,
            )),
        }
    }
    for p in st.lxd.store().projects().await? {
        for prof in st.lxd.store().profiles(&p.name).await? {
            if prof
                .devices
                .values()
                .any(|d| d.get("pool").map(String::as_str) == Some(pool))
            {
                out.push(url(&format!("/1.0/profiles/{}", prof.name), &p.name));
            }
        }
    }
    Ok(out)
}

async fn pool_json(st: &ApiState, p: &StoragePoolRecord) -> Result<types::StoragePool, ApiError> {
    let used = pool_used_by(st, &p.name).await?;
    Ok(types::StoragePool {
        config: p.config.clone(),
        description: p.description.clone(),
        name: p.name.clone(),
        driver: p.driver.clone(),
        used_by: (!used.is_empty()).then_some(used),
        status: status(&p.status),
        locations: Some(vec!["none".into()]),
    })
}

/// `GET|POST /1.0/storage-pools`.
pub async fn pools(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    match req.method {
        Method::GET => {
            let recs = st.lxd.store().pools().await?;
            let urls = recs
                .iter()
                .map(|p| format!("/1.0/storage-pools/{}", p.name))
                .collect();
            let mut objs = Vec::new();
            if req.recursion() > 0 {
                for p in &recs {
                    objs.push(pool_json(&st, p).await?);
                }
            }
            list(&req, urls, || objs)
        }
        Method::POST => {
            let body: types::StoragePoolsPost = req.json().await?;
            if body.name.is_empty() {
                return Err(ApiError::bad_request("No name provided"));
            }
            let mut config = body.config.clone();
            config.retain(|_, v| !v.is_empty());
            st.lxd
                .create_pool(&body.name, &body.driver, &body.description, config)
                .await?;
            Ok(Reply::Created(format!("/1.0/storage-pools/{}", body.name)))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `/1.0/storage-pools/NAME`.
pub async fn pool(st: Arc<ApiState>, mut req: Req, name: &str) -> Result<Reply, ApiError> {
    let rec = st.lxd.store().pool(name).await?;
    match req.method {
        Method::GET => Ok(Reply::Sync(to_value(&pool_json(&st, &rec).await?)?)),
        Method::PUT | Method::PATCH => {
            let body: Value = req.json().await?;
            let mut next = json!({"config": rec.config, "description": rec.description});
            if req.method == Method::PATCH {
                merge_patch(&mut next, &body);
            } else {
                next = body;
            }
            let put: types::StoragePoolPut = serde_json::from_value(next)
                .map_err(|e| ApiError::bad_request(format!("Invalid storage pool: {e}")))?;
            // Only the description and keys that need no driver work may change.
            for (k, v) in &put.config {
                if rec.config.get(k) != Some(v) {
                    return Err(ApiError::bad_request(format!(
                        "Changing the storage pool key {k:?} is not supported"
                    )));
                }
            }
            st.lxd
                .store()
                .apply(vec![StoreOp::UpdatePool(StoragePoolRecord {
                    description: put.description,
                    ..rec
                })])
                .await?;
            Ok(Reply::Sync(json!({})))
        }
        Method::DELETE => {
            st.lxd.delete_pool(name).await?;
            Ok(Reply::Sync(json!({})))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `GET /1.0/storage-pools/NAME/resources`: space and inodes of the pool's filesystem.
pub async fn resources(st: Arc<ApiState>, _req: Req, name: &str) -> Result<Reply, ApiError> {
    let pool = st.lxd.pool(name)?;
    let s = nix::sys::statvfs::statvfs(&pool.info().mount_path).map_err(|e| {
        ApiError::internal(format!("statfs {}: {e}", pool.info().mount_path.display()))
    })?;
    let frag = s.fragment_size();
    let r = types::ResourcesStoragePool {
        space: types::ResourcesStoragePoolSpace {
            used: (s.blocks() - s.blocks_free()) * frag,
            total: s.blocks() * frag,
        },
        inodes: types::ResourcesStoragePoolInodes {
            used: s.files() - s.files_free(),
            total: s.files(),
        },
    };
    Ok(Reply::Sync(to_value(&r)?))
}

fn parse_type(t: &str) -> Result<VolumeType, ApiError> {
    match t {
        "container" => Ok(VolumeType::Container),
        "image" => Ok(VolumeType::Image),
        "custom" => Ok(VolumeType::Custom),
        "virtual-machine" => Ok(VolumeType::VirtualMachine),
        other => Err(ApiError::bad_request(format!(
            "Invalid storage volume type {other:?}"
        ))),
    }
}

async fn volumes_json(
    st: &ApiState,
    pool: &str,
    project: &str,
    t: Option<VolumeType>,
) -> Result<Vec<types::StorageVolume>, ApiError> {
    let mut out = Vec::new();
    for v in st.lxd.store().volumes(pool).await? {
        if v.project != project && v.volume_type != VolumeType::Image {
            continue;
        }
        if t.is_some_and(|t| t != v.volume_type) {
            continue;
        }
        let used_by = match v.volume_type {
            VolumeType::Container => vec![url(&format!("/1.0/instances/{}", v.name), &v.project)],
            VolumeType::Image => vec![format!("/1.0/images/{}", v.name)],
            _ => Vec::new(),
        };
        let key = VolumeKey {
            pool: pool.into(),
            project: v.project.clone(),
            volume_type: v.volume_type,
            name: v.name.clone(),
        };
        let snaps = st.lxd.store().volume_snapshots(&key).await?;
        out.push(volume_json(&v, used_by));
        for s in snaps {
            let used = match v.volume_type {
                VolumeType::Container => vec![url(
                    &format!("/1.0/instances/{}/snapshots/{}", v.name, s.name),
                    &v.project,
                )],
                _ => Vec::new(),
            };
            out.push(types::StorageVolume {
                config: s.config.clone(),
                name: format!("{}/{}", v.name, s.name),
                used_by: used,
                ..volume_json(&v, Vec::new())
            });
        }
    }
    Ok(out)
}

fn volume_json(v: &VolumeRecord, used_by: Vec<String>) -> types::StorageVolume {
    types::StorageVolume {
        config: v.config.clone(),
        description: v.description.clone(),
        name: v.name.clone(),
        r#type: v.volume_type.api_name().into(),
        used_by,
        location: "none".into(),
        content_type: v.content_type.clone(),
        project: v.project.clone(),
        created_at: Timestamp::zero(),
        ..Default::default()
    }
}

/// `GET|POST /1.0/storage-pools/NAME/volumes[/TYPE]`.
pub async fn volumes(
    st: Arc<ApiState>,
    mut req: Req,
    pool: &str,
    t: Option<&str>,
) -> Result<Reply, ApiError> {
    st.lxd.store().pool(pool).await?;
    let project = req.project();
    let vt = t.map(parse_type).transpose()?;
    match req.method {
        Method::GET => {
            let vols = volumes_json(&st, pool, &project, vt).await?;
            let urls = vols
                .iter()
                .map(|v| {
                    url(
                        &format!("/1.0/storage-pools/{pool}/volumes/{}/{}", v.r#type, v.name),
                        &project,
                    )
                })
                .collect();
            list(&req, urls, || vols)
        }
        Method::POST => {
            let body: types::StorageVolumesPost = req.json().await?;
            let vt = match (vt, body.r#type.as_str()) {
                (Some(t), _) => t,
                (None, "" | "custom") => VolumeType::Custom,
                (None, other) => parse_type(other)?,
            };
            if vt != VolumeType::Custom {
                return Err(ApiError::bad_request("Only custom volumes can be created"));
            }
            if !body.source.r#type.is_empty() {
                return copy_volume(st, &project, pool, body).await;
            }
            let p = st.lxd.pool(pool)?;
            let staged = p
                .create_volume(vt, &project, &body.name, body.config.clone())
                .await?;
            staged.commit(&**st.lxd.store()).await?;
            Ok(Reply::Created(url(
                &format!("/1.0/storage-pools/{pool}/volumes/custom/{}", body.name),
                &project,
            )))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `POST /1.0/storage-pools/POOL/volumes/custom` with `source.type=copy`: a copy of a custom
/// volume of the same pool and project (with its snapshots unless `volume_only`), or of one of
/// its snapshots (`source.name` = `VOLUME/SNAPSHOT`), made by an operation as in LXD. What
/// can be checked at once (names, the source, a taken name) is refused before the operation.
async fn copy_volume(
    st: Arc<ApiState>,
    project: &str,
    pool: &str,
    body: types::StorageVolumesPost,
) -> Result<Reply, ApiError> {
    let src = &body.source;
    if src.r#type != "copy" {
        return Err(ApiError::bad_request(format!(
            "Storage volume source type {:?} is not supported",
            src.r#type
        )));
    }
    if body.name.is_empty() {
        return Err(ApiError::bad_request("No name provided"));
    }
    if src.name.is_empty() {
        return Err(ApiError::bad_request("No source volume name provided"));
    }
    let src_pool = if src.pool.is_empty() {
        pool
    } else {
        src.pool.as_str()
    };
    st.lxd.store().pool(src_pool).await?;
    if src_pool != pool {
        return Err(ApiError::bad_request(format!(
            "Copying storage volume {:?} from storage pool {src_pool:?} to storage pool {pool:?} is not supported",
            src.name
        )));
    }
    if !src.project.is_empty() && src.project != project {
        return Err(ApiError::bad_request(format!(
            "Copying storage volume {:?} from project {:?} to project {project:?} is not supported",
            src.name, src.project
        )));
    }
    if src.refresh {
        return Err(ApiError::bad_request(
            "Refreshing an existing storage volume is not supported",
        ));
    }
    let key = |name: &str| VolumeKey {
        pool: pool.into(),
        project: project.into(),
        volume_type: VolumeType::Custom,
        name: name.into(),
    };
    let (src_name, src_snap) = match src.name.split_once('/') {
        Some((v, s)) => (v.to_string(), Some(s.to_string())),
        None => (src.name.clone(), None),
    };
    st.lxd.store().volume(&key(&src_name)).await?;
    if let Some(snap) = &src_snap {
        let snaps = st.lxd.store().volume_snapshots(&key(&src_name)).await?;
        if !snaps.iter().any(|s| &s.name == snap) {
            return Err(ApiError::not_found("Storage volume snapshot not found"));
        }
    }
    if st.lxd.store().volume(&key(&body.name)).await.is_ok() {
        return Err(ApiError::conflict(format!(
            "Storage volume {:?} already exists on storage pool {pool:?}",
            body.name
        )));
    }
    let p = st.lxd.pool(pool)?;
    let with_snapshots = !src.volume_only;
    let (project, pool) = (project.to_string(), pool.to_string());
    let st2 = st.clone();
    task(
        &st,
        NewOp::task(&project, "Copying storage volume", &[]),
        move |_op| async move {
            let t = VolumeType::Custom;
            let staged = match &src_snap {
                Some(snap) => {
                    p.create_volume_from_snapshot(
                        t,
                        &project,
                        &src_name,
                        snap,
                        &body.name,
                        body.config,
                    )
                    .await?
                }
                None => {
                    p.copy_volume(t, &project, &src_name, &body.name, with_snapshots)
                        .await?
                }
            };
            staged.commit(&**st2.lxd.store()).await?;
            st2.events.lifecycle(
                &project,
                "storage-volume-created",
                &url(
                    &format!("/1.0/storage-pools/{pool}/volumes/custom/{}", body.name),
                    &project,
                ),
                json!({"type": "custom"}),
            );
            Ok(())
        },
    )
}

/// `/1.0/storage-pools/POOL/volumes/TYPE/NAME`.
pub async fn volume(
    st: Arc<ApiState>,
    mut req: Req,
    pool: &str,
    t: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let project = req.project();
    let vt = parse_type(t)?;
    let key = VolumeKey {
        pool: pool.into(),
        project: if vt == VolumeType::Image {
            "default".into()
        } else {
            project.clone()
        },
        volume_type: vt,
        name: name.into(),
    };
    let rec = st.lxd.store().volume(&key).await?;
    match req.method {
        Method::GET => Ok(Reply::Sync(to_value(&volume_json(&rec, Vec::new()))?)),
        Method::PUT | Method::PATCH => {
            let body: Value = req.json().await?;
            let mut next = json!({"config": rec.config, "description": rec.description});
            if req.method == Method::PATCH {
                merge_patch(&mut next, &body);
            } else {
                next = body;
            }
            let put: types::StorageVolumePut = serde_json::from_value(next)
                .map_err(|e| ApiError::bad_request(format!("Invalid storage volume: {e}")))?;
            let p = st.lxd.pool(pool)?;
            if put.config.get("size") != rec.config.get("size") {
                p.set_quota(
                    vt,
                    &key.project,
                    name,
                    put.config.get("size").map(String::as_str),
                )
                .await?;
            }
            let rec = st.lxd.store().volume(&key).await?;
            st.lxd
                .store()
                .apply(vec![StoreOp::UpdateVolume(VolumeRecord {
                    description: put.description,
                    config: put.config,
                    ..rec
                })])
                .await?;
            Ok(Reply::Sync(json!({})))
        }
        Method::DELETE => {
            if vt != VolumeType::Custom {
                return Err(ApiError::bad_request(
                    "Only custom volumes can be deleted directly",
                ));
            }
            let p = st.lxd.pool(pool)?;
            let ops = p.delete_volume(vt, &key.project, name).await?;
            st.lxd.store().apply(ops).await?;
            Ok(Reply::Sync(json!({})))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `GET /1.0/storage-pools/POOL/volumes/TYPE/NAME/state`.
pub async fn volume_state(
    st: Arc<ApiState>,
    req: Req,
    pool: &str,
    t: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let vt = parse_type(t)?;
    let project = req.project();
    let p = st.lxd.pool(pool)?;
    let used = p.usage(vt, &project, name).await?;
    Ok(Reply::Sync(json!({"usage": {"used": used, "total": -1}})))
}

/// `GET /1.0/storage-pools/POOL/volumes/TYPE/NAME/snapshots`.
pub async fn volume_snapshots(
    st: Arc<ApiState>,
    req: Req,
    pool: &str,
    t: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::not_implemented(
            "Volume snapshots are managed through their instance",
        ));
    }
    let vt = parse_type(t)?;
    let project = req.project();
    let key = VolumeKey {
        pool: pool.into(),
        project: project.clone(),
        volume_type: vt,
        name: name.into(),
    };
    let snaps = st.lxd.store().volume_snapshots(&key).await?;
    let urls: Vec<String> = snaps
        .iter()
        .map(|s| {
            url(
                &format!(
                    "/1.0/storage-pools/{pool}/volumes/{t}/{name}/snapshots/{}",
                    s.name
                ),
                &project,
            )
        })
        .collect();
    let objs: Vec<types::StorageVolumeSnapshot> = snaps
        .iter()
        .map(|s| types::StorageVolumeSnapshot {
            description: s.description.clone(),
            expires_at: None,
            name: s.name.clone(),
            config: s.config.clone(),
            ..Default::default()
        })
        .collect();
    list(&req, urls, || objs)
}
