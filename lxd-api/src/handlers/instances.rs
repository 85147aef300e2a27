//! `/1.0/instances` (and the `/1.0/containers` alias): list, create, show, update, rename,
//! delete, state, console and logs. Exec, files and snapshots have their own modules.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use hyper::Method;
use lxd_core::runtime::netstate;
use lxd_core::store::{InstanceRecord, SnapshotRecord};
use lxd_core::{CreateInstance, Instance, InstanceSource, InstanceStatus, InstanceUpdate};
use serde_json::{json, Value};

use super::util::{check_etag, task, to_value, ts, url};
use crate::server::reply::{etag, full};
use crate::server::{ApiError, ApiState, NewOp, Reply, Req};
use crate::types::{self, StatusCode, Timestamp};

/// The operation resources of an instance: both spellings, as LXD lists them.
pub fn resources(project: &str, names: &[&str]) -> Vec<(&'static str, String)> {
    let mut v = Vec::new();
    for n in names {
        v.push(("containers", url(&format!("/1.0/containers/{n}"), project)));
    }
    for n in names {
        v.push(("instances", url(&format!("/1.0/instances/{n}"), project)));
    }
    v
}

fn status_code(s: InstanceStatus) -> StatusCode {
    match s {
        InstanceStatus::Running => StatusCode(103),
        InstanceStatus::Stopped => StatusCode(102),
        InstanceStatus::Frozen => StatusCode(110),
        InstanceStatus::Error => StatusCode(112),
    }
}

/// An instance's last use: LXD writes the Unix epoch for "never".
fn last_used(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs, 0)
}

/// The interfaces of a running container; a nic's host-side interface comes from its
/// device's `volatile.NAME.host_name`.
fn network_state(
    pid: i32,
    config: &lxd_core::InstanceConfig,
) -> BTreeMap<String, types::InstanceStateNetwork> {
    netstate::interfaces(pid)
        .into_iter()
        .map(|(name, i)| {
            let host_name = config
                .get(&format!("volatile.{name}.host_name"))
                .map(str::to_string)
                .unwrap_or_default();
            let n = types::InstanceStateNetwork {
                addresses: i
                    .addresses
                    .iter()
                    .map(|a| types::InstanceStateNetworkAddress {
                        family: a.family.into(),
                        address: a.address.clone(),
                        netmask: a.netmask.clone(),
                        scope: a.scope.into(),
                    })
                    .collect(),
                counters: types::InstanceStateNetworkCounters {
                    bytes_received: i.counters.bytes_received as i64,
                    bytes_sent: i.counters.bytes_sent as i64,
                    packets_received: i.counters.packets_received as i64,
                    packets_sent: i.counters.packets_sent as i64,
                    errors_received: i.counters.errors_received as i64,
                    errors_sent: i.counters.errors_sent as i64,
                    packets_dropped_outbound: i.counters.packets_dropped_outbound as i64,
                    packets_dropped_inbound: i.counters.packets_dropped_inbound as i64,
                },
                hwaddr: i.hwaddr,
                host_name,
                mtu: i.mtu as i64,
                state: i.state,
                r#type: i.kind,
            };
            (name, n)
        })
        .collect()
}

/// The `state` object of an instance.
pub async fn state_of(
    st: &ApiState,
    rec: &InstanceRecord,
) -> Result<types::InstanceState, ApiError> {
    let c = st.lxd.container(&rec.project, &rec.name).await?;
    state_from(&c).await
}

/// The `state` object from a runtime handle.
pub async fn state_from(c: &lxd_core::Container) -> Result<types::InstanceState, ApiError> {
    Ok(state_json(c, c.state().await?))
}

/// The `state` object of a runtime state; the interfaces are read from the container's
/// namespace here.
fn state_json(c: &lxd_core::Container, s: lxd_core::InstanceState) -> types::InstanceState {
    let running = s.status != InstanceStatus::Stopped;
    let pid = s.pid.unwrap_or(0);
    types::InstanceState {
        status: s.status.to_string(),
        status_code: status_code(s.status),
        disk: BTreeMap::new(),
        memory: types::InstanceStateMemory {
            usage: s.memory_usage.unwrap_or(0) as i64,
            usage_peak: s.memory_peak.unwrap_or(0) as i64,
            swap_usage: 0,
            swap_usage_peak: 0,
        },
        network: (running && pid > 0).then(|| network_state(pid, &c.config())),
        pid: pid as i64,
        processes: s.processes.unwrap_or(0) as i64,
        cpu: types::InstanceStateCPU {
            usage: s.cpu_usage_ns.unwrap_or(0) as i64,
        },
    }
}

fn snapshot_json(
    rec: &SnapshotRecord,
    expanded_config: BTreeMap<String, String>,
    expanded_devices: types::Devices,
) -> types::InstanceSnapshot {
    types::InstanceSnapshot {
        expires_at: ts(rec.expires_at),
        architecture: "x86_64".into(),
        config: rec.config.clone(),
        created_at: ts(rec.created_at),
        devices: rec.devices.clone(),
        ephemeral: false,
        expanded_config,
        expanded_devices,
        last_used_at: Timestamp::zero(),
        name: rec.name.clone(),
        profiles: rec.profiles.clone(),
        stateful: rec.stateful,
        size: -1,
    }
}

/// The snapshots of an instance as LXD sends them.
pub async fn snapshots_of(
    st: &ApiState,
    rec: &InstanceRecord,
) -> Result<Vec<types::InstanceSnapshot>, ApiError> {
    let profiles = st.lxd.store().profiles(&rec.project).await?;
    let snaps = st.lxd.store().snapshots(&rec.project, &rec.name).await?;
    snapshots_with(rec, snaps, &profiles)
}

/// The snapshot records of an instance as LXD sends them.
fn snapshots_with(
    rec: &InstanceRecord,
    snaps: Vec<SnapshotRecord>,
    profiles: &[lxd_core::store::ProfileRecord],
) -> Result<Vec<types::InstanceSnapshot>, ApiError> {
    let mut out = Vec::new();
    for s in snaps {
        let as_inst = InstanceRecord {
            config: s.config.clone(),
            devices: s.devices.clone(),
            profiles: s.profiles.clone(),
            ..rec.clone()
        };
        let (cfg, devs) = lxd_core::Lxd::expand_with(&as_inst, profiles)?;
        out.push(snapshot_json(&s, cfg, devs));
    }
    Ok(out)
}

/// The instance object (recursion 1 of the list); with `full`, also state and snapshots.
pub async fn instance_json(
    st: &ApiState,
    rec: &InstanceRecord,
    full: bool,
) -> Result<types::InstanceFull, ApiError> {
    let profiles = st.lxd.store().profiles(&rec.project).await?;
    let snaps = if full {
        Some(st.lxd.store().snapshots(&rec.project, &rec.name).await?)
    } else {
        None
    };
    instance_json_with(st, rec, snaps, &profiles).await
}

/// [`instance_json`] with the project's profiles already loaded; the full object (state and
/// snapshots) when the instance's snapshot records are given.
async fn instance_json_with(
    st: &ApiState,
    rec: &InstanceRecord,
    snaps: Option<Vec<SnapshotRecord>>,
    profiles: &[lxd_core::store::ProfileRecord],
) -> Result<types::InstanceFull, ApiError> {
    let (expanded_config, expanded_devices) = lxd_core::Lxd::expand_with(rec, profiles)?;
    let c = st
        .lxd
        .container_of(rec, expanded_config.clone(), &expanded_devices)?;
    let s = c.state().await?;
    let (status, status_code) = (s.status.to_string(), status_code(s.status));
    let mut inst = types::InstanceFull {
        architecture: rec.architecture.clone(),
        config: rec.config.clone(),
        devices: rec.devices.clone(),
        ephemeral: rec.ephemeral,
        profiles: rec.profiles.clone(),
        stateful: rec.stateful,
        description: rec.description.clone(),
        created_at: ts(rec.created_at),
        expanded_config,
        expanded_devices,
        name: rec.name.clone(),
        status,
        status_code,
        last_used_at: last_used(rec.last_used_at),
        location: "none".into(),
        r#type: "container".into(),
        project: rec.project.clone(),
        ..Default::default()
    };
    if let Some(snaps) = snaps {
        inst.backups = None;
        let snaps = snapshots_with(rec, snaps, profiles)?;
        inst.snapshots = (!snaps.is_empty()).then_some(snaps);
        // Only the full object carries the state, and only it needs the interfaces.
        inst.state = Some(state_json(&c, s));
    }
    Ok(inst)
}

/// The writable fields, for ETags.
fn writable(rec: &InstanceRecord) -> Value {
    json!({
        "architecture": rec.architecture,
        "config": rec.config,
        "devices": rec.devices,
        "ephemeral": rec.ephemeral,
        "profiles": rec.profiles,
        "description": rec.description,
    })
}

/// Snapshot records grouped by (project, instance), each group oldest first.
fn by_instance(snaps: Vec<SnapshotRecord>) -> HashMap<(String, String), Vec<SnapshotRecord>> {
    let mut out: HashMap<_, Vec<_>> = HashMap::new();
    for s in snaps {
        out.entry((s.project.clone(), s.instance.clone()))
            .or_default()
            .push(s);
    }
    out
}

/// `GET /1.0/instances`: URLs, the objects (recursion 1), or the full objects with state and
/// snapshots (recursion 2).
async fn list_instances(
    st: Arc<ApiState>,
    req: &Req,
    project: &str,
    kind: &str,
) -> Result<Reply, ApiError> {
    let all = req.query.get("all-projects").is_some_and(|v| v == "true");
    let scope = if all { None } else { Some(project) };
    let recursion = req.recursion();
    let full = recursion >= 2;
    let store = st.lxd.store();
    // What the objects need is read at once: the instances, the project's profiles and, for
    // full objects, the snapshots of every instance (one read, not one per instance).
    let (recs, own_profiles, snaps) = tokio::join!(
        store.instances(scope),
        async {
            if recursion > 0 && !all {
                store.profiles(project).await.map(Some)
            } else {
                Ok(None)
            }
        },
        async {
            if full {
                store.all_snapshots(scope).await.map(Some)
            } else {
                Ok(None)
            }
        },
    );
    let (recs, own_profiles, snaps) = (recs?, own_profiles?, snaps?);
    if recursion == 0 {
        let urls: Vec<String> = recs
            .iter()
            .map(|r| url(&format!("/1.0/{kind}/{}", r.name), &r.project))
            .collect();
        return Ok(Reply::Sync(to_value(&urls)?));
    }
    let mut profiles = HashMap::new();
    if let Some(p) = own_profiles {
        profiles.insert(project.to_string(), Arc::new(p));
    }
    for r in &recs {
        if !profiles.contains_key(&r.project) {
            profiles.insert(
                r.project.clone(),
                Arc::new(store.profiles(&r.project).await?),
            );
        }
    }
    let mut snaps = snaps.map(by_instance);
    // Every instance's state is a round trip to its monitor and a read of its interfaces:
    // one task each, so the monitors answer at once and the reads spread over the runtime's
    // threads.
    let tasks: Vec<_> = recs
        .into_iter()
        .map(|r| {
            let st = st.clone();
            let profiles = profiles[&r.project].clone();
            let snaps = snaps.as_mut().map(|s| {
                s.remove(&(r.project.clone(), r.name.clone()))
                    .unwrap_or_default()
            });
            tokio::spawn(async move { instance_json_with(&st, &r, snaps, &profiles).await })
        })
        .collect();
    let mut objs = Vec::with_capacity(tasks.len());
    for task in tasks {
        let inst = task
            .await
            .map_err(|e| ApiError::internal(format!("listing instances: {e}")))?;
        let mut v = to_value(&inst?)?;
        if !full {
            if let Some(o) = v.as_object_mut() {
                o.remove("state");
                o.remove("snapshots");
                o.remove("backups");
            }
        }
        objs.push(v);
    }
    // The objects are JSON already: no second conversion of the whole list.
    Ok(Reply::Sync(Value::Array(objs)))
}

/// `GET|POST /1.0/instances`.
pub async fn collection(st: Arc<ApiState>, req: Req, kind: &str) -> Result<Reply, ApiError> {
    let project = req.project();
    match req.method {
        Method::GET => list_instances(st, &req, &project, kind).await,
        Method::POST => create(st, req, &project).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

const ADJECTIVES: &[&str] = &[
    "able", "brave", "calm", "daring", "eager", "fair", "gentle", "happy", "jolly", "keen",
    "lucky", "merry", "neat", "proud", "quick", "rapid", "sunny", "tidy", "vivid", "witty",
];
const NOUNS: &[&str] = &[
    "ant", "bear", "cat", "dog", "eel", "fox", "gnu", "hawk", "ibis", "jay", "kiwi", "lynx",
    "mole", "newt", "owl", "puma", "quail", "seal", "toad", "wolf",
];

fn random_name() -> String {
    let r = std::fs::read_to_string("/proc/sys/kernel/random/uuid").unwrap_or_default();
    let n = r
        .bytes()
        .fold(7u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64));
    format!(
        "{}-{}",
        ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize],
        NOUNS[((n / 97) % NOUNS.len() as u64) as usize]
    )
}

async fn create(st: Arc<ApiState>, mut req: Req, project: &str) -> Result<Reply, ApiError> {
    let body: types::InstancesPost = req.json().await?;
    if !body.r#type.is_empty() && body.r#type != "container" {
        return Err(ApiError::bad_request(format!(
            "Instance type {:?} is not supported",
            body.r#type
        )));
    }
    let name = if body.name.is_empty() {
        random_name()
    } else {
        body.name.clone()
    };
    let source = match body.source.r#type.as_str() {
        "image" => {
            let s = &body.source;
            let img = if !s.fingerprint.is_empty() {
                s.fingerprint.clone()
            } else if !s.alias.is_empty() {
                s.alias.clone()
            } else if !s.server.is_empty() {
                return Err(ApiError::bad_request(
                    "Remote image servers are not supported; import the image first",
                ));
            } else {
                return Err(ApiError::bad_request("No image alias or fingerprint given"));
            };
            InstanceSource::Image(img)
        }
        "none" | "" => InstanceSource::None,
        "copy" => {
            let s = &body.source;
            if s.source.is_empty() {
                return Err(ApiError::bad_request("Must specify a source instance"));
            }
            if !s.project.is_empty() && s.project != project {
                return Err(ApiError::bad_request(format!(
                    "Copying from project {:?} to project {project:?} is not supported",
                    s.project
                )));
            }
            if s.refresh {
                return Err(ApiError::bad_request(
                    "Refreshing an existing instance is not supported",
                ));
            }
            match s.source.split_once('/') {
                // `INSTANCE/SNAPSHOT`: a new instance from the snapshot, without snapshots.
                Some((instance, snapshot)) => {
                    if instance.is_empty() || snapshot.is_empty() || snapshot.contains('/') {
                        return Err(ApiError::bad_request(format!(
                            "Invalid source snapshot {:?}: expected INSTANCE/SNAPSHOT",
                            s.source
                        )));
                    }
                    InstanceSource::Snapshot {
                        source: instance.to_string(),
                        snapshot: snapshot.to_string(),
                    }
                }
                None => InstanceSource::Copy {
                    source: s.source.clone(),
                    instance_only: s.instance_only || s.container_only,
                },
            }
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "Unsupported instance source {other:?}"
            )))
        }
    };
    let mut names = vec![name.as_str()];
    if let InstanceSource::Copy { source, .. } | InstanceSource::Snapshot { source, .. } = &source {
        names.push(source);
    }
    let res = resources(project, &names);
    let project = project.to_string();
    let st2 = st.clone();
    task(
        &st,
        NewOp::task(&project, "Creating instance", &res),
        move |_op| async move {
            let req = CreateInstance {
                project: project.clone(),
                name: name.clone(),
                source,
                config: body.config,
                devices: body.devices,
                profiles: (!body.profiles.is_empty()).then_some(body.profiles),
                pool: None,
                ephemeral: body.ephemeral,
                description: body.description,
            };
            let rec = st2.lxd.create_instance(req).await.map_err(|e| {
            let e = ApiError::from(e);
            if e.status == 409 {
                ApiError::bad_request("Failed creating instance record: Add instance info to the database: This \"instances\" entry already exists")
            } else {
                e
            }
        })?;
            let (_, devices) = st2.lxd.expanded(&rec).await?;
            let pool = devices
                .values()
                .find(|d| d.get("path").map(String::as_str) == Some("/"))
                .and_then(|d| d.get("pool").cloned())
                .unwrap_or_default();
            st2.events.lifecycle(
                &project,
                "instance-created",
                &url(&format!("/1.0/instances/{name}"), &project),
                json!({"storage-pool": pool, "type": "container"}),
            );
            Ok(())
        },
    )
}

/// Dispatches `/1.0/instances/NAME/...`.
pub async fn route(
    st: Arc<ApiState>,
    req: Req,
    name: &str,
    rest: &[String],
) -> Result<Reply, ApiError> {
    let project = req.project();
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        [] => entity(st, req, &project, name).await,
        ["state"] => state(st, req, &project, name).await,
        ["snapshots"] => super::snapshots::collection(st, req, &project, name).await,
        ["snapshots", snap] => super::snapshots::entity(st, req, &project, name, snap).await,
        ["exec"] if req.method == Method::POST => super::exec::post(st, req, &project, name).await,
        ["files"] => super::files::handle(st, req, &project, name).await,
        ["console"] => console(st, req, &project, name).await,
        ["logs"] => logs(st, req, &project, name, None).await,
        ["logs", file] => logs(st, req, &project, name, Some(file)).await,
        _ => Err(ApiError::not_found("not found")),
    }
}

async fn entity(
    st: Arc<ApiState>,
    mut req: Req,
    project: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let rec = st.lxd.store().instance(project, name).await?;
    match req.method {
        Method::GET => {
            let full = req.recursion() >= 1;
            let mut v = to_value(&instance_json(&st, &rec, full).await?)?;
            if !full {
                if let Some(o) = v.as_object_mut() {
                    o.remove("state");
                    o.remove("snapshots");
                    o.remove("backups");
                }
            }
            Ok(Reply::SyncEtag(v, etag(&writable(&rec))))
        }
        Method::PUT | Method::PATCH => {
            check_etag(&req, &writable(&rec))?;
            let body: Value = req.json().await?;
            let restore = body
                .get("restore")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let res = resources(project, &[name]);
            let (project, name) = (project.to_string(), name.to_string());
            if !restore.is_empty() {
                let snap = restore.rsplit('/').next().unwrap_or(&restore).to_string();
                let st2 = st.clone();
                return task(
                    &st,
                    NewOp::task(&project, "Restoring snapshot", &res),
                    move |_op| async move {
                        st2.lxd.restore_instance(&project, &name, &snap).await?;
                        st2.events.lifecycle(
                            &project,
                            "instance-restored",
                            &url(&format!("/1.0/instances/{name}"), &project),
                            json!({"snapshot": format!("{name}/{snap}")}),
                        );
                        Ok(())
                    },
                );
            }
            let mut next = writable(&rec);
            if req.method == Method::PATCH {
                super::util::merge_patch(&mut next, &body);
            } else {
                next = body;
            }
            let put: types::InstancePut = serde_json::from_value(next)
                .map_err(|e| ApiError::bad_request(format!("Invalid instance: {e}")))?;
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, "Updating instance", &res),
                move |_op| async move {
                    let update = InstanceUpdate {
                        config: put.config,
                        devices: put.devices,
                        profiles: put.profiles,
                        description: put.description,
                        ephemeral: put.ephemeral,
                    };
                    st2.lxd
                        .update_instance(&project, &name, update)
                        .await
                        .map_err(|e| match e {
                            lxd_core::Error::Config(c) => {
                                ApiError::bad_request(format!("Invalid config: {c}"))
                            }
                            e => e.into(),
                        })?;
                    st2.events.lifecycle(
                        &project,
                        "instance-updated",
                        &url(&format!("/1.0/instances/{name}"), &project),
                        json!({}),
                    );
                    Ok(())
                },
            )
        }
        Method::POST => {
            let body: types::InstancePost = req.json().await?;
            if body.migration {
                return Err(ApiError::bad_request("Migration is not supported"));
            }
            if !body.pool.is_empty() || !body.project.is_empty() {
                return Err(ApiError::bad_request(
                    "Moving an instance to another pool or project is not supported",
                ));
            }
            let res = resources(project, &[name]);
            let (project, name) = (project.to_string(), name.to_string());
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, "Renaming instance", &res),
                move |_op| async move {
                    st2.lxd.rename_instance(&project, &name, &body.name).await?;
                    st2.events.lifecycle(
                        &project,
                        "instance-renamed",
                        &url(&format!("/1.0/instances/{}", body.name), &project),
                        json!({"old_name": name}),
                    );
                    Ok(())
                },
            )
        }
        Method::DELETE => {
            let res = resources(project, &[name]);
            let (project, name) = (project.to_string(), name.to_string());
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, "Deleting instance", &res),
                move |_op| async move {
                    for s in st2.lxd.store().snapshots(&project, &name).await? {
                        st2.events.lifecycle(
                            &project,
                            "instance-snapshot-deleted",
                            &url(
                                &format!("/1.0/instances/{name}/snapshots/{}", s.name),
                                &project,
                            ),
                            json!({}),
                        );
                    }
                    st2.lxd.delete_instance(&project, &name, false).await?;
                    st2.events.lifecycle(
                        &project,
                        "instance-deleted",
                        &url(&format!("/1.0/instances/{name}"), &project),
                        json!({}),
                    );
                    Ok(())
                },
            )
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn state(
    st: Arc<ApiState>,
    mut req: Req,
    project: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    let rec = st.lxd.store().instance(project, name).await?;
    match req.method {
        Method::GET => Ok(Reply::Sync(to_value(&state_of(&st, &rec).await?)?)),
        Method::PUT => {
            let body: types::InstanceStatePut = req.json().await?;
            let description = match body.action.as_str() {
                "start" => "Starting instance",
                "stop" => "Stopping instance",
                "restart" => "Restarting instance",
                "freeze" => "Freezing instance",
                "unfreeze" => "Unfreezing instance",
                other => return Err(ApiError::bad_request(format!("Unknown action {other}"))),
            };
            let res = vec![("instances", url(&format!("/1.0/instances/{name}"), project))];
            let (project, name) = (project.to_string(), name.to_string());
            let st2 = st.clone();
            task(
                &st,
                NewOp::task(&project, description, &res),
                move |_op| async move { change_state(&st2, &project, &name, &body).await },
            )
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// Carries out a state change, failing with LXD's messages.
async fn change_state(
    st: &ApiState,
    project: &str,
    name: &str,
    body: &types::InstanceStatePut,
) -> Result<(), ApiError> {
    let lxd = &st.lxd;
    let c = lxd.container(project, name).await?;
    let status = c.state().await?.status;
    let source = url(&format!("/1.0/instances/{name}"), project);
    let requestor = |action: &str| st.events.lifecycle(project, action, &source, Value::Null);
    // `timeout` -1 means "no limit" to the client; we bound it by LXD's later default.
    let timeout = if body.timeout < 0 {
        Duration::from_secs(600)
    } else {
        Duration::from_secs(body.timeout as u64)
    };
    match body.action.as_str() {
        "start" => {
            if status != InstanceStatus::Stopped {
                return Err(ApiError::bad_request("The instance is already running"));
            }
            lxd.start_instance(project, name).await?;
            requestor("instance-started");
        }
        "stop" => {
            if status == InstanceStatus::Stopped {
                return Err(ApiError::bad_request("The instance is already stopped"));
            }
            let force = body.force || body.timeout == 0;
            lxd.stop_instance(project, name, force, timeout).await?;
            requestor(if force {
                "instance-stopped"
            } else {
                "instance-shutdown"
            });
        }
        "restart" => {
            if status == InstanceStatus::Stopped {
                return Err(ApiError::bad_request("The instance is already stopped"));
            }
            lxd.stop_instance(project, name, body.force, timeout)
                .await?;
            lxd.start_instance(project, name).await?;
            requestor("instance-restarted");
        }
        "freeze" => {
            if status == InstanceStatus::Stopped {
                return Err(ApiError::bad_request("The container isn't running"));
            }
            if status == InstanceStatus::Frozen {
                return Err(ApiError::bad_request("The container is already frozen"));
            }
            c.freeze().await?;
            requestor("instance-paused");
        }
        "unfreeze" => {
            if status != InstanceStatus::Frozen {
                return Err(ApiError::bad_request("The container is not frozen"));
            }
            c.unfreeze().await?;
            requestor("instance-resumed");
        }
        _ => unreachable!("checked before"),
    }
    Ok(())
}

async fn console(
    st: Arc<ApiState>,
    req: Req,
    project: &str,
    name: &str,
) -> Result<Reply, ApiError> {
    st.lxd.store().instance(project, name).await?;
    let c = st.lxd.container(project, name).await?;
    match req.method {
        Method::GET => {
            let log = c.console_log().await?;
            Ok(Reply::Raw {
                status: 200,
                headers: vec![("content-type", "application/octet-stream".into())],
                body: full(log),
            })
        }
        Method::DELETE => {
            let p = c.paths().console_log();
            if p.exists() {
                std::fs::write(&p, b"")
                    .map_err(|e| ApiError::internal(format!("clear console log: {e}")))?;
            }
            Ok(Reply::Sync(json!({})))
        }
        Method::POST => super::console::post(st, req, project, name).await,
        _ => Err(ApiError::method_not_allowed()),
    }
}

async fn logs(
    st: Arc<ApiState>,
    req: Req,
    project: &str,
    name: &str,
    file: Option<&str>,
) -> Result<Reply, ApiError> {
    st.lxd.store().instance(project, name).await?;
    let c = st.lxd.container(project, name).await?;
    let dir = c.paths().log_dir.clone();
    match file {
        None => {
            let mut names: Vec<String> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| e.file_name().into_string().ok())
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            Ok(Reply::Sync(json!(names
                .iter()
                .map(|n| url(&format!("/1.0/instances/{name}/logs/{n}"), project))
                .collect::<Vec<_>>())))
        }
        Some(f) => {
            if f.contains('/') || f.starts_with('.') {
                return Err(ApiError::bad_request(format!(
                    "Invalid log file name {f:?}"
                )));
            }
            let p = dir.join(f);
            match req.method {
                Method::GET => {
                    let data = std::fs::read(&p).map_err(|_| ApiError::not_found("not found"))?;
                    Ok(Reply::Raw {
                        status: 200,
                        headers: vec![("content-type", "application/octet-stream".into())],
                        body: full(data),
                    })
                }
                Method::DELETE => {
                    if !f.starts_with("exec_") {
                        return Err(ApiError::bad_request(
                            "Only exec output logs can be deleted",
                        ));
                    }
                    std::fs::remove_file(&p).map_err(|_| ApiError::not_found("not found"))?;
                    Ok(Reply::Sync(json!({})))
                }
                _ => Err(ApiError::method_not_allowed()),
            }
        }
    }
}

/// Stops every running instance (for `lxd shutdown` and `SIGPWR`), in parallel, each with its
/// `boot.host_shutdown_timeout` (30 s by default).
pub async fn shutdown_all(st: &ApiState) {
    let Ok(recs) = st.lxd.store().instances(None).await else {
        return;
    };
    let mut tasks = Vec::new();
    for rec in recs {
        let lxd = st.lxd.clone();
        tasks.push(tokio::spawn(async move {
            let Ok(c) = lxd.container(&rec.project, &rec.name).await else {
                return;
            };
            if c.state()
                .await
                .map(|s| s.status == InstanceStatus::Stopped)
                .unwrap_or(true)
            {
                return;
            }
            let timeout = rec
                .config
                .get("boot.host_shutdown_timeout")
                .and_then(|t| t.parse().ok())
                .unwrap_or(30);
            if let Err(e) = lxd
                .stop_instance(&rec.project, &rec.name, false, Duration::from_secs(timeout))
                .await
            {
                tracing::warn!(instance = %rec.name, "shutdown: {e}");
            }
            // The instance is to come back at the next start.
            let mut changes = BTreeMap::new();
            changes.insert(
                "volatile.last_state.power".to_string(),
                Some("RUNNING".to_string()),
            );
            let _ = lxd
                .store()
                .apply(vec![lxd_core::store::StoreOp::SetInstanceConfig {
                    project: rec.project.clone(),
                    name: rec.name.clone(),
                    changes,
                }])
                .await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}
