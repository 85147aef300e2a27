//! `/1.0`: the server's information and configuration.

use std::sync::Arc;

use lxd_core::store::StoreOp;
use serde_json::{Map, Value};

use super::util::{check_etag, merge_patch, to_value};
use crate::server::reply::etag;
use crate::server::{ApiError, ApiState, Reply, Req};
use crate::types;

/// Server configuration keys this daemon accepts.
const SERVER_KEYS: &[&str] = &[
    "core.https_address",
    "core.proxy_http",
    "core.proxy_https",
    "core.proxy_ignore_hosts",
    "core.shutdown_timeout",
    "core.debug_address",
    "images.auto_update_cached",
    "images.auto_update_interval",
    "images.compression_algorithm",
    "images.default_architecture",
    "images.remote_cache_expiry",
];

fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (get("NAME"), get("VERSION_ID"))
}

async fn config(st: &ApiState) -> Result<Map<String, Value>, ApiError> {
    Ok(st
        .lxd
        .store()
        .config()
        .await?
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect())
}

/// `GET /1.0`.
pub async fn get(st: Arc<ApiState>, _req: Req) -> Result<Reply, ApiError> {
    let uts = nix::sys::utsname::uname().map_err(|e| ApiError::internal(e.to_string()))?;
    let (os_name, os_version) = os_release();
    let mut storage: Vec<String> = Vec::new();
    for p in st.lxd.store().pools().await? {
        if !storage.contains(&p.driver) {
            storage.push(p.driver);
        }
    }
    let drivers = st
        .lxd
        .driver_names()
        .into_iter()
        .map(|d| types::ServerStorageDriverInfo {
            name: d.to_string(),
            version: "1".into(),
            remote: false,
        })
        .collect();
    let config = config(&st).await?;
    let server = types::Server {
        config: config.clone(),
        api_extensions: crate::API_EXTENSIONS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        api_status: "stable".into(),
        api_version: "1.0".into(),
        auth: "trusted".into(),
        public: false,
        auth_methods: vec!["tls".into()],
        environment: types::ServerEnvironment {
            addresses: Vec::new(),
            architectures: vec!["x86_64".into(), "i686".into()],
            driver: "lxc".into(),
            driver_version: crate::LXD_VERSION.into(),
            firewall: "nftables".into(),
            kernel: uts.sysname().to_string_lossy().into_owned(),
            kernel_architecture: uts.machine().to_string_lossy().into_owned(),
            kernel_version: uts.release().to_string_lossy().into_owned(),
            os_name,
            os_version,
            project: "default".into(),
            server: "lxd".into(),
            server_clustered: false,
            server_event_mode: "full-mesh".into(),
            server_name: st.info.hostname.clone(),
            server_pid: st.info.pid as i64,
            server_version: st.info.version.clone(),
            storage: storage.join(" | "),
            storage_version: storage.iter().map(|_| "1").collect::<Vec<_>>().join(" | "),
            storage_supported_drivers: drivers,
            ..Default::default()
        },
    };
    Ok(Reply::SyncEtag(
        to_value(&server)?,
        etag(&Value::Object(config)),
    ))
}

/// `PUT|PATCH /1.0`: server configuration.
pub async fn put(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    let current = config(&st).await?;
    check_etag(&req, &Value::Object(current.clone()))?;
    let body: Value = req.json().await?;
    let mut next = serde_json::json!({"config": current});
    if req.method == hyper::Method::PATCH {
        merge_patch(&mut next, &body);
    } else {
        next = body;
    }
    let put: types::ServerPut = serde_json::from_value(next)
        .map_err(|e| ApiError::bad_request(format!("Invalid server configuration: {e}")))?;
    let mut ops = Vec::new();
    for (k, v) in &put.config {
        if !SERVER_KEYS.contains(&k.as_str()) {
            return Err(ApiError::bad_request(format!(
                "Invalid server configuration key {k:?}"
            )));
        }
        let v = match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if k == "core.https_address" && !v.is_empty() {
            return Err(ApiError::bad_request(
                "This daemon only listens on its unix socket",
            ));
        }
        ops.push(StoreOp::SetConfig {
            key: k.clone(),
            value: (!v.is_empty()).then_some(v),
        });
    }
    for k in current.keys() {
        if !put.config.contains_key(k) {
            ops.push(StoreOp::SetConfig {
                key: k.clone(),
                value: None,
            });
        }
    }
    st.lxd.store().apply(ops).await?;
    Ok(Reply::Sync(serde_json::json!({})))
}
