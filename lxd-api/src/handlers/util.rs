//! Shared pieces of the handlers: URLs, timestamps, record-to-wire conversions, and starting
//! operations.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::server::{ApiError, ApiState, NewOp, Operation, Reply, Req};
use crate::types::{self, Timestamp};

/// A timestamp from seconds since the epoch (0 is Go's zero time).
pub fn ts(secs: i64) -> Timestamp {
    if secs == 0 {
        Timestamp::zero()
    } else {
        Timestamp::from_unix(secs, 0)
    }
}

/// An object's URL with LXD's `?project=` suffix outside the default project.
pub fn url(base: &str, project: &str) -> String {
    if project == "default" {
        base.to_string()
    } else {
        format!("{base}?project={project}")
    }
}

/// A serializable value as JSON.
pub fn to_value<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::internal(format!("encoding: {e}")))
}

/// A list answer: URLs at recursion 0, objects otherwise.
pub fn list<T: Serialize>(
    req: &Req,
    urls: Vec<String>,
    objects: impl FnOnce() -> Vec<T>,
) -> Result<Reply, ApiError> {
    if req.recursion() == 0 {
        Ok(Reply::Sync(to_value(&urls)?))
    } else {
        Ok(Reply::Sync(to_value(&objects())?))
    }
}

/// Starts a task operation running `work` and answers with it.
pub fn task<F, Fut>(st: &Arc<ApiState>, new: NewOp, work: F) -> Result<Reply, ApiError>
where
    F: FnOnce(Arc<Operation>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ApiError>> + Send + 'static,
{
    let op = st.ops.spawn(new, work);
    Ok(Reply::Async(op.to_json(), op.url()))
}

/// A profile record as LXD sends it.
pub fn profile(p: &lxd_core::store::ProfileRecord, used_by: Vec<String>) -> types::Profile {
    types::Profile {
        config: p.config.clone(),
        description: p.description.clone(),
        devices: p.devices.clone(),
        name: p.name.clone(),
        used_by,
    }
}

/// Checks an `If-Match` header against the object's current ETag.
pub fn check_etag(req: &Req, current: &Value) -> Result<(), ApiError> {
    if let Some(want) = req.header("if-match") {
        let want = want.trim_matches('"');
        let have = crate::server::reply::etag(current);
        if !want.is_empty() && want != have {
            return Err(ApiError::precondition(format!(
                "ETag doesn't match: {have} vs {want}"
            )));
        }
    }
    Ok(())
}

/// Merges a PATCH body into an object: keys present in the patch replace (maps are merged one
/// level deep, as LXD does for `config` and `devices`).
pub fn merge_patch(base: &mut Value, patch: &Value) {
    if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            match (b.get_mut(k), v) {
                (Some(Value::Object(bo)), Value::Object(po)) if k == "config" || k == "devices" => {
                    for (kk, vv) in po {
                        bo.insert(kk.clone(), vv.clone());
                    }
                }
                _ => {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
    }
}
