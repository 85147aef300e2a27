//! `/1.0/images` and `/1.0/images/aliases`: import (a raw unified tarball, or a multipart
//! upload of metadata and rootfs), list, show, update, export, delete, and aliases.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyStream;
use hyper::body::Incoming;
use hyper::Method;
use lxd_core::image::ImageFiles;
use lxd_core::store::{ImageAliasRecord, ImageRecord, StoreOp};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::util::{check_etag, list, merge_patch, task, to_value, ts, url};
use crate::server::reply::{etag, full, Body};
use crate::server::request::percent_decode;
use crate::server::{ApiError, ApiState, NewOp, Reply, Req};
use crate::types::{self, Timestamp};

fn image_json(rec: &ImageRecord, aliases: &[ImageAliasRecord]) -> types::Image {
    types::Image {
        auto_update: rec.auto_update,
        properties: rec.properties.clone(),
        public: rec.public,
        // LXD writes the Unix epoch for "never expires".
        expires_at: Timestamp::from_unix(rec.expires_at, 0),
        profiles: vec!["default".into()],
        aliases: aliases
            .iter()
            .filter(|a| a.fingerprint == rec.fingerprint)
            .map(|a| types::ImageAlias {
                name: a.name.clone(),
                description: a.description.clone(),
            })
            .collect(),
        architecture: rec.architecture.clone(),
        cached: rec.cached,
        filename: rec.filename.clone(),
        fingerprint: rec.fingerprint.clone(),
        size: rec.size,
        update_source: None,
        r#type: rec.image_type.clone(),
        created_at: ts(rec.created_at),
        last_used_at: ts(rec.last_used_at),
        uploaded_at: ts(rec.uploaded_at),
    }
}

fn writable(rec: &ImageRecord) -> Value {
    json!({
        "auto_update": rec.auto_update,
        "properties": rec.properties,
        "public": rec.public,
        "expires_at": rec.expires_at,
    })
}

fn upload_path(st: &ApiState) -> PathBuf {
    let id = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    st.lxd.images_dir().join(format!("lxd_post_{}", id.trim()))
}

async fn save_stream(mut body: ByteStream, path: &Path) -> Result<u64, ApiError> {
    let mut f = tokio::fs::File::create(path)
        .await
        .map_err(|e| ApiError::internal(format!("create {}: {e}", path.display())))?;
    let mut n = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        n += chunk.len() as u64;
        f.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("write {}: {e}", path.display())))?;
    }
    f.flush()
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(n)
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Bytes, ApiError>> + Send>>;

fn body_stream(body: Incoming) -> ByteStream {
    Box::pin(BodyStream::new(body).filter_map(|f| {
        futures_util::future::ready(match f {
            Ok(frame) => frame.into_data().ok().map(Ok),
            Err(e) => Some(Err(ApiError::bad_request(format!(
                "Reading the upload: {e}"
            )))),
        })
    }))
}

/// Reads an upload into files under the image store: a raw unified tarball, or the
/// `metadata` and `rootfs` parts of a multipart body. Returns the files and the name the
/// image is recorded under.
async fn receive(
    st: &ApiState,
    body: Incoming,
    content_type: &str,
    filename: &str,
) -> Result<(ImageFiles, String), ApiError> {
    if let Some(boundary) = content_type
        .strip_prefix("multipart/form-data")
        .and_then(|_| multer::parse_boundary(content_type).ok())
    {
        let stream = body_stream(body).map(|r| r.map_err(|e| std::io::Error::other(e.message)));
        let mut mp = multer::Multipart::new(stream, boundary);
        let (mut meta, mut rootfs, mut rootfs_name) = (None, None, String::new());
        let cleanup = |p: &[&Option<PathBuf>]| {
            for x in p.iter().copied().flatten() {
                let _ = std::fs::remove_file(x);
            }
        };
        loop {
            let field = match mp.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    cleanup(&[&meta, &rootfs]);
                    return Err(ApiError::bad_request(format!(
                        "Invalid multipart image upload: {e}"
                    )));
                }
            };
            let name = field.name().unwrap_or("").to_string();
            let fname = field.file_name().unwrap_or("").to_string();
            let path = upload_path(st);
            let s = field
                .map(|r| r.map_err(|e| ApiError::bad_request(format!("Reading the upload: {e}"))));
            if let Err(e) = save_stream(Box::pin(s), &path).await {
                let _ = std::fs::remove_file(&path);
                cleanup(&[&meta, &rootfs]);
                return Err(e);
            }
            match name.as_str() {
                "metadata" => meta = Some(path),
                "rootfs" => {
                    rootfs = Some(path);
                    rootfs_name = fname;
                }
                "rootfs.img" => {
                    let _ = std::fs::remove_file(&path);
                    cleanup(&[&meta, &rootfs]);
                    return Err(ApiError::bad_request(
                        "Virtual machine images are not supported",
                    ));
                }
                other => {
                    let _ = std::fs::remove_file(&path);
                    cleanup(&[&meta, &rootfs]);
                    return Err(ApiError::bad_request(format!(
                        "Invalid multipart image part {other:?}"
                    )));
                }
            }
        }
        match (meta, rootfs) {
            (Some(m), Some(r)) => Ok((
                ImageFiles::Split {
                    metadata: m,
                    rootfs: r,
                },
                rootfs_name,
            )),
            (m, r) => {
                cleanup(&[&m, &r]);
                Err(ApiError::bad_request(
                    "A split image upload needs a metadata and a rootfs part",
                ))
            }
        }
    } else {
        let path = upload_path(st);
        if let Err(e) = save_stream(body_stream(body), &path).await {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok((ImageFiles::Unified(path), filename.to_string()))
    }
}

fn file_size(files: &ImageFiles) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    match files {
        ImageFiles::Unified(p) => size(p),
        ImageFiles::Split { metadata, rootfs } => size(metadata) + size(rootfs),
    }
}

/// `GET|POST /1.0/images`.
pub async fn collection(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    let project = req.project();
    match req.method {
        Method::GET => {
            let recs = st.lxd.store().images(&project).await?;
            let aliases = st.lxd.store().aliases(&project).await?;
            let urls = recs
                .iter()
                .map(|i| url(&format!("/1.0/images/{}", i.fingerprint), &project))
                .collect();
            list(&req, urls, || {
                recs.iter().map(|r| image_json(r, &aliases)).collect()
            })
        }
        Method::POST => {
            let content_type = req.header("content-type").unwrap_or("").to_string();
            if content_type.starts_with("application/json") {
                let body: types::ImagesPost = req.json().await?;
                let kind = body.source.map(|s| s.r#type).unwrap_or_default();
                return Err(ApiError::bad_request(format!(
                    "Creating images from source type {kind:?} is not supported; upload the image file"
                )));
            }
            let filename = req.header("x-lxd-filename").unwrap_or("").to_string();
            let public = req
                .header("x-lxd-public")
                .is_some_and(|v| v == "true" || v == "1");
            let mut properties = lxd_core::store::ConfigMap::new();
            if let Some(p) = req.header("x-lxd-properties") {
                for pair in p.split('&').filter(|s| !s.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    properties.insert(percent_decode(k, true)?, percent_decode(v, true)?);
                }
            }
            // The upload is read before answering: hyper drops a request body once the
            // response to a `Connection: close` request is out.
            let body = req.take_body()?;
            let (files, name) = receive(&st, body, &content_type, &filename).await?;
            let st2 = st.clone();
            let op_new = NewOp {
                resources: Default::default(),
                ..NewOp::task(&project, "Downloading image", &[])
            };
            task(&st, op_new, move |op| async move {
                let fp = {
                    let f = files.clone();
                    tokio::task::spawn_blocking(move || lxd_core::image::fingerprint(&f))
                        .await
                        .map_err(|e| ApiError::internal(e.to_string()))?
                };
                if let Ok(fp) = &fp {
                    op.set_metadata("fingerprint", json!(fp));
                    op.set_metadata("size", json!(file_size(&files).to_string()));
                }
                let imported = st2
                    .lxd
                    .import_image(&project, files, &name, public, properties, Vec::new())
                    .await?;
                st2.events.lifecycle(
                    &project,
                    "image-created",
                    &url(
                        &format!("/1.0/images/{}", imported.record.fingerprint),
                        &project,
                    ),
                    json!({"type": "container"}),
                );
                Ok(())
            })
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `/1.0/images/FINGERPRINT`.
pub async fn entity(st: Arc<ApiState>, mut req: Req, fp: &str) -> Result<Reply, ApiError> {
    let project = req.project();
    let rec = st.lxd.store().image(&project, fp).await?;
    match req.method {
        Method::GET => {
            let aliases = st.lxd.store().aliases(&project).await?;
            Ok(Reply::SyncEtag(
                to_value(&image_json(&rec, &aliases))?,
                etag(&writable(&rec)),
            ))
        }
        Method::PUT | Method::PATCH => {
            check_etag(&req, &writable(&rec))?;
            let body: Value = req.json().await?;
            let aliases = st.lxd.store().aliases(&project).await?;
            let mut next = to_value(&image_json(&rec, &aliases))?;
            if req.method == Method::PATCH {
                merge_patch(&mut next, &body);
            } else {
                for k in [
                    "auto_update",
                    "properties",
                    "public",
                    "expires_at",
                    "profiles",
                ] {
                    next[k] = body.get(k).cloned().unwrap_or(Value::Null);
                }
            }
            let put: types::ImagePut = serde_json::from_value(next)
                .map_err(|e| ApiError::bad_request(format!("Invalid image: {e}")))?;
            let expires = put.expires_at.to_unix().map(|(s, _)| s.max(0)).unwrap_or(0);
            st.lxd
                .store()
                .apply(vec![StoreOp::UpdateImage(ImageRecord {
                    auto_update: put.auto_update,
                    properties: put.properties,
                    public: put.public,
                    expires_at: expires,
                    ..rec
                })])
                .await?;
            Ok(Reply::Sync(json!({})))
        }
        Method::DELETE => {
            let u = url(&format!("/1.0/images/{}", rec.fingerprint), &project);
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, "Deleting image", &[("images", u.clone())]),
                move |_op| async move {
                    st2.lxd.delete_image(&project, &rec.fingerprint).await?;
                    st2.events
                        .lifecycle(&project, "image-deleted", &u, json!({}));
                    Ok(())
                },
            )
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn file_body(path: &Path) -> Result<(Body, u64), ApiError> {
    let data = std::fs::read(path)
        .map_err(|e| ApiError::internal(format!("read {}: {e}", path.display())))?;
    let n = data.len() as u64;
    Ok((full(data), n))
}

fn extension(path: &Path) -> &'static str {
    use lxd_core::image::{detect_format, Compression, FileFormat};
    match detect_format(path) {
        Ok(FileFormat::Squashfs) => ".squashfs",
        Ok(FileFormat::Tarball(c)) => Compression::extension(c),
        Ok(FileFormat::Qcow2) => ".qcow2",
        Err(_) => ".tar",
    }
}

/// `GET /1.0/images/FINGERPRINT/export`.
pub async fn export(st: Arc<ApiState>, req: Req, fp: &str) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let project = req.project();
    let rec = st.lxd.store().image(&project, fp).await?;
    match st.lxd.image_files(&rec.fingerprint) {
        ImageFiles::Unified(p) => {
            let (body, n) = file_body(&p)?;
            Ok(Reply::Raw {
                status: 200,
                headers: vec![
                    ("content-type", "application/octet-stream".into()),
                    ("content-length", n.to_string()),
                    (
                        "content-disposition",
                        format!("inline;filename={}{}", rec.fingerprint, extension(&p)),
                    ),
                ],
                body,
            })
        }
        ImageFiles::Split { metadata, rootfs } => {
            let boundary = crate::server::operations::secret();
            let meta = std::fs::read(&metadata).map_err(|e| ApiError::internal(e.to_string()))?;
            let root = std::fs::read(&rootfs).map_err(|e| ApiError::internal(e.to_string()))?;
            let mut body = Vec::with_capacity(meta.len() + root.len() + 512);
            let part = |body: &mut Vec<u8>, name: &str, file: &str, data: &[u8]| {
                body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\n");
            };
            part(
                &mut body,
                "metadata",
                &format!("meta-{}{}", rec.fingerprint, extension(&metadata)),
                &meta,
            );
            part(
                &mut body,
                "rootfs",
                &format!("{}{}", rec.fingerprint, extension(&rootfs)),
                &root,
            );
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            Ok(Reply::Raw {
                status: 200,
                headers: vec![(
                    "content-type",
                    format!("multipart/form-data; boundary={boundary}"),
                )],
                body: full(body),
            })
        }
    }
}

/// `POST /1.0/images/FINGERPRINT/refresh`.
pub async fn refresh(st: Arc<ApiState>, req: Req, fp: &str) -> Result<Reply, ApiError> {
    st.lxd.store().image(&req.project(), fp).await?;
    Err(ApiError::bad_request(
        "Only images from remote servers can be refreshed",
    ))
}

fn alias_json(a: &ImageAliasRecord) -> types::ImageAliasesEntry {
    types::ImageAliasesEntry {
        description: a.description.clone(),
        target: a.fingerprint.clone(),
        name: a.name.clone(),
        r#type: "container".into(),
    }
}

/// `GET|POST /1.0/images/aliases`.
pub async fn aliases(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    let project = req.project();
    match req.method {
        Method::GET => {
            let recs = st.lxd.store().aliases(&project).await?;
            let urls = recs
                .iter()
                .map(|a| url(&format!("/1.0/images/aliases/{}", a.name), &project))
                .collect();
            list(&req, urls, || recs.iter().map(alias_json).collect())
        }
        Method::POST => {
            let body: types::ImageAliasesPost = req.json().await?;
            if body.name.is_empty() || body.name.contains('/') {
                return Err(ApiError::bad_request(format!(
                    "Invalid alias name {:?}",
                    body.name
                )));
            }
            let img = st.lxd.store().image(&project, &body.target).await?;
            st.lxd
                .store()
                .apply(vec![StoreOp::CreateAlias(ImageAliasRecord {
                    project: project.clone(),
                    name: body.name.clone(),
                    fingerprint: img.fingerprint.clone(),
                    description: body.description,
                })])
                .await
                .map_err(|e| match e {
                    lxd_core::store::StoreError::AlreadyExists { .. } => {
                        ApiError::conflict(format!("Alias {:?} already exists", body.name))
                    }
                    e => e.into(),
                })?;
            let u = url(&format!("/1.0/images/aliases/{}", body.name), &project);
            st.events.lifecycle(
                &project,
                "image-alias-created",
                &u,
                json!({"target": img.fingerprint}),
            );
            Ok(Reply::Created(u))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// `/1.0/images/aliases/NAME`.
pub async fn alias(st: Arc<ApiState>, mut req: Req, name: &str) -> Result<Reply, ApiError> {
    let project = req.project();
    let rec = st.lxd.store().alias(&project, name).await?;
    let w = json!({"description": rec.description, "target": rec.fingerprint});
    match req.method {
        Method::GET => Ok(Reply::SyncEtag(to_value(&alias_json(&rec))?, etag(&w))),
        Method::PUT | Method::PATCH => {
            check_etag(&req, &w)?;
            let body: Value = req.json().await?;
            let mut next = w.clone();
            if req.method == Method::PATCH {
                merge_patch(&mut next, &body);
            } else {
                next = body;
            }
            let put: types::ImageAliasesEntryPut = serde_json::from_value(next)
                .map_err(|e| ApiError::bad_request(format!("Invalid alias: {e}")))?;
            let img = st.lxd.store().image(&project, &put.target).await?;
            st.lxd
                .store()
                .apply(vec![StoreOp::UpdateAlias(ImageAliasRecord {
                    fingerprint: img.fingerprint,
                    description: put.description,
                    ..rec
                })])
                .await?;
            Ok(Reply::Sync(json!({})))
        }
        Method::POST => {
            let body: types::ImageAliasesEntryPost = req.json().await?;
            if body.name.is_empty() || body.name.contains('/') {
                return Err(ApiError::bad_request(format!(
                    "Invalid alias name {:?}",
                    body.name
                )));
            }
            st.lxd
                .store()
                .apply(vec![StoreOp::RenameAlias {
                    project: project.clone(),
                    name: name.to_string(),
                    new_name: body.name.clone(),
                }])
                .await?;
            Ok(Reply::Created(url(
                &format!("/1.0/images/aliases/{}", body.name),
                &project,
            )))
        }
        Method::DELETE => {
            st.lxd
                .store()
                .apply(vec![StoreOp::DeleteAlias {
                    project: project.clone(),
                    name: name.to_string(),
                }])
                .await?;
            st.events.lifecycle(
                &project,
                "image-alias-deleted",
                &url(&format!("/1.0/images/aliases/{name}"), &project),
                json!({}),
            );
            Ok(Reply::Sync(json!({})))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}
