//! `/1.0/networks`: managed networks (created, changed and deleted through the orchestration)
//! and the host's other interfaces, listed as unmanaged networks.

use std::sync::Arc;

use hyper::Method;
use lxd_core::network::{HostInterface, NetworkState};
use lxd_core::store::{NetworkRecord, StoreError};

use super::util::{check_etag, list, to_value, url};
use crate::server::reply::etag;
use crate::server::{ApiError, ApiState, Reply, Req};
use crate::types;

/// LXD's status names of a network record's state.
fn status_name(status: &str) -> &'static str {
    match status {
        "CREATED" => "Created",
        "PENDING" => "Pending",
        "ERRORED" => "Errored",
        _ => "Unknown",
    }
}

/// What LXD hashes for a network's ETag: `[name, managed, type, description, config]`.
fn etag_of(
    name: &str,
    managed: bool,
    kind: &str,
    description: &str,
    config: &lxd_core::store::ConfigMap,
) -> serde_json::Value {
    serde_json::json!([name, managed, kind, description, config])
}

async fn used_by(st: &ApiState, project: &str, name: &str) -> Result<Vec<String>, ApiError> {
    Ok(st
        .lxd
        .network_users(project, name)
        .await?
        .into_iter()
        .map(|u| url(&format!("/1.0/{}/{}", u.collection, u.name), &u.project))
        .collect())
}

async fn managed(
    st: &ApiState,
    project: &str,
    rec: &NetworkRecord,
) -> Result<types::Network, ApiError> {
    Ok(types::Network {
        config: rec.config.clone(),
        description: rec.description.clone(),
        name: rec.name.clone(),
        r#type: rec.kind.clone(),
        used_by: Some(used_by(st, project, &rec.name).await?),
        managed: true,
        status: status_name(&rec.status).into(),
        locations: Some(vec!["none".into()]),
    })
}

async fn unmanaged(
    st: &ApiState,
    project: &str,
    iface: &HostInterface,
) -> Result<types::Network, ApiError> {
    let users = used_by(st, project, &iface.name).await?;
    Ok(types::Network {
        name: iface.name.clone(),
        r#type: iface.kind.clone(),
        used_by: (!users.is_empty()).then_some(users),
        managed: false,
        ..Default::default()
    })
}

/// Managed networks first (by name), then the host interfaces that are not one of them.
async fn all(
    st: &ApiState,
    project: &str,
) -> Result<(Vec<NetworkRecord>, Vec<HostInterface>), ApiError> {
    let records = st.lxd.networks(project).await?;
    let host = st
        .lxd
        .host_interfaces()
        .await?
        .into_iter()
        .filter(|i| !records.iter().any(|r| r.name == i.name))
        .collect();
    Ok((records, host))
}

/// `GET|POST /1.0/networks`.
pub async fn collection(st: Arc<ApiState>, mut req: Req) -> Result<Reply, ApiError> {
    let project = req.project();
    match req.method {
        Method::GET => {
            let (records, host) = all(&st, &project).await?;
            let names = records
                .iter()
                .map(|r| &r.name)
                .chain(host.iter().map(|i| &i.name));
            let urls = names
                .map(|n| url(&format!("/1.0/networks/{n}"), &project))
                .collect();
            let mut objs = Vec::new();
            if req.recursion() > 0 {
                for r in &records {
                    objs.push(managed(&st, &project, r).await?);
                }
                for i in &host {
                    objs.push(unmanaged(&st, &project, i).await?);
                }
            }
            list(&req, urls, || objs)
        }
        Method::POST => {
            let body: types::NetworksPost = req.json().await?;
            let kind = if body.r#type.is_empty() {
                "bridge".to_string()
            } else {
                body.r#type.clone()
            };
            if body.name.is_empty() {
                return Err(ApiError::bad_request("No name provided"));
            }
            st.lxd
                .create_network(&project, &body.name, &kind, &body.description, body.config)
                .await
                .map_err(|e| match e {
                    lxd_core::Error::Store(StoreError::AlreadyExists { .. }) => {
                        ApiError::bad_request("The network already exists")
                    }
                    e => e.into(),
                })?;
            let u = url(&format!("/1.0/networks/{}", body.name), &project);
            st.events
                .lifecycle(&project, "network-created", &u, serde_json::json!({}));
            Ok(Reply::Created(u))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Not found for both managed networks and host interfaces.
fn not_found() -> ApiError {
    ApiError::not_found("Network not found")
}

/// `/1.0/networks/NAME`.
pub async fn entity(st: Arc<ApiState>, mut req: Req, name: &str) -> Result<Reply, ApiError> {
    let project = req.project();
    let rec = match st.lxd.network(&project, name).await {
        Ok(r) => Some(r),
        Err(lxd_core::Error::Store(StoreError::NotFound { .. })) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(rec) = rec else {
        // A host interface: readable, not changeable.
        let iface = st
            .lxd
            .host_interfaces()
            .await?
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| match req.method {
                Method::GET => not_found(),
                _ => ApiError::not_found("Failed loading network: Network not found"),
            })?;
        return match req.method {
            Method::GET => {
                let n = unmanaged(&st, &project, &iface).await?;
                let tag = etag_of(&n.name, false, &n.r#type, "", &Default::default());
                Ok(Reply::SyncEtag(to_value(&n)?, etag(&tag)))
            }
            Method::DELETE | Method::PUT | Method::PATCH | Method::POST => Err(
                ApiError::not_found("Failed loading network: Network not found"),
            ),
            _ => Err(ApiError::method_not_allowed()),
        };
    };
    let u = url(&format!("/1.0/networks/{name}"), &project);
    match req.method {
        Method::GET => {
            let v = to_value(&managed(&st, &project, &rec).await?)?;
            let tag = etag_of(name, true, &rec.kind, &rec.description, &rec.config);
            Ok(Reply::SyncEtag(v, etag(&tag)))
        }
        Method::PUT | Method::PATCH => {
            let tag = etag_of(name, true, &rec.kind, &rec.description, &rec.config);
            check_etag(&req, &tag)?;
            let body: types::NetworkPut = req.json().await?;
            let mut config = body.config;
            if req.method == Method::PATCH {
                // As LXD: the keys given are merged, an empty value removes one; the
                // description is always replaced.
                let mut merged = rec.config.clone();
                for (k, v) in config {
                    if v.is_empty() {
                        merged.remove(&k);
                    } else {
                        merged.insert(k, v);
                    }
                }
                config = merged;
            }
            st.lxd
                .update_network(&project, name, &body.description, config)
                .await?;
            st.events
                .lifecycle(&project, "network-updated", &u, serde_json::json!({}));
            Ok(Reply::Sync(serde_json::json!({})))
        }
        Method::POST => {
            let body: types::NetworkPost = req.json().await?;
            if body.name.is_empty() {
                return Err(ApiError::bad_request("New network name not provided"));
            }
            st.lxd
                .rename_network(&project, name, &body.name)
                .await
                .map_err(|e| match e {
                    lxd_core::Error::Store(StoreError::AlreadyExists { .. }) => {
                        ApiError::conflict(format!("Network {:?} already exists", body.name))
                    }
                    e => e.into(),
                })?;
            let new = url(&format!("/1.0/networks/{}", body.name), &project);
            st.events.lifecycle(
                &project,
                "network-renamed",
                &new,
                serde_json::json!({"old_name": name}),
            );
            Ok(Reply::Created(new))
        }
        Method::DELETE => {
            st.lxd.delete_network(&project, name).await?;
            st.events
                .lifecycle(&project, "network-deleted", &u, serde_json::json!({}));
            Ok(Reply::Sync(serde_json::json!({})))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// A state as LXD sends it.
pub fn state_json(s: &NetworkState) -> types::NetworkState {
    types::NetworkState {
        addresses: s
            .addresses
            .iter()
            .map(|a| types::NetworkStateAddress {
                family: a.family.clone(),
                address: a.address.clone(),
                netmask: a.netmask.clone(),
                scope: a.scope.clone(),
            })
            .collect(),
        counters: types::NetworkStateCounters {
            bytes_received: s.counters.bytes_received as i64,
            bytes_sent: s.counters.bytes_sent as i64,
            packets_received: s.counters.packets_received as i64,
            packets_sent: s.counters.packets_sent as i64,
        },
        hwaddr: s.hwaddr.clone(),
        mtu: i64::from(s.mtu),
        state: s.state.clone(),
        r#type: s.kind.clone(),
        ..Default::default()
    }
}

/// `GET /1.0/networks/NAME/state`.
pub async fn state(st: Arc<ApiState>, req: Req, name: &str) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let s = st
        .lxd
        .network_state(&req.project(), name)
        .await
        .map_err(|e| match e {
            lxd_core::Error::Store(StoreError::NotFound { .. }) => {
                ApiError::not_found(format!("Network interface {name:?} not found"))
            }
            e => e.into(),
        })?;
    Ok(Reply::Sync(to_value(&state_json(&s))?))
}

/// `GET /1.0/networks/NAME/leases`.
pub async fn leases(st: Arc<ApiState>, req: Req, name: &str) -> Result<Reply, ApiError> {
    if req.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    let leases = st
        .lxd
        .network_leases(&req.project(), name)
        .await
        .map_err(|e| match e {
            lxd_core::Error::Store(StoreError::NotFound { .. }) => {
                ApiError::not_found("Failed loading network: Network not found")
            }
            e => e.into(),
        })?
        .into_iter()
        .map(|l| types::NetworkLease {
            location: if l.kind == "gateway" { "" } else { "none" }.into(),
            hostname: l.hostname,
            hwaddr: l.hwaddr,
            address: l.address,
            r#type: l.kind,
        })
        .collect::<Vec<_>>();
    Ok(Reply::Sync(to_value(&leases)?))
}
