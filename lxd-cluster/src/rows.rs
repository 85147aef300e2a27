//! Reading and writing the key/value tables (`*_config`, `images_properties`) and writing the
//! device tables (`*_devices` with their `*_devices_config`) that LXD hangs off its objects
//! (instances, snapshots and profiles read theirs packed into their own rows: see
//! [`crate::packed`]), and the SQL that converts LXD's DATETIME text to and from seconds since
//! the epoch.

use std::collections::HashMap;

use lxd_core::store::{ConfigMap, Devices, StoreResult};
use sqlx::{AssertSqlSafe, Row, SqliteConnection};

use crate::codes;
use crate::error::Context;

/// SQL that turns a bound number of seconds since the epoch into LXD's DATETIME text
/// (`2024-05-01 12:00:00+00:00`); a bound NULL stays NULL.
pub(crate) const TO_DATETIME: &str = "strftime('%Y-%m-%d %H:%M:%S+00:00', ?, 'unixepoch')";

/// SQL that reads a DATETIME column as seconds since the epoch (0 for NULL).
pub(crate) fn secs(column: &str) -> String {
    format!("COALESCE(CAST(strftime('%s', {column}) AS INTEGER), 0)")
}

/// `Some(t)`, or `None` (stored as NULL) for the 0 that records use for "never".
pub(crate) fn nullable_time(t: i64) -> Option<i64> {
    (t != 0).then_some(t)
}

/// SQL for the set of ids bound as the JSON array `?1` (see [`id_json`]): one statement text
/// for any number of ids, so it is prepared once and cached, where a literal `IN (1,2,...)`
/// list would be a new statement (and a new cache entry) for every set of ids.
pub(crate) const IDS: &str = "SELECT value FROM json_each(?1)";

/// A key/value table hanging off an object table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KvTable {
    /// Table name.
    pub table: &'static str,
    /// Column holding the owner's id.
    pub owner: &'static str,
    /// Extra columns set on insert (`, type` for `images_properties`) and their values.
    pub extra: (&'static str, &'static str),
}

/// `projects_config`.
pub(crate) const PROJECT_CONFIG: KvTable = KvTable {
    table: "projects_config",
    owner: "project_id",
    extra: ("", ""),
};
/// `profiles_config`.
pub(crate) const PROFILE_CONFIG: KvTable = KvTable {
    table: "profiles_config",
    owner: "profile_id",
    extra: ("", ""),
};
/// `instances_config`.
pub(crate) const INSTANCE_CONFIG: KvTable = KvTable {
    table: "instances_config",
    owner: "instance_id",
    extra: ("", ""),
};
/// `instances_snapshots_config`.
pub(crate) const SNAPSHOT_CONFIG: KvTable = KvTable {
    table: "instances_snapshots_config",
    owner: "instance_snapshot_id",
    extra: ("", ""),
};
/// `images_properties` (LXD's property `type` is always 0).
pub(crate) const IMAGE_PROPERTIES: KvTable = KvTable {
    table: "images_properties",
    owner: "image_id",
    extra: (", type", ", 0"),
};
/// `storage_volumes_config`.
pub(crate) const VOLUME_CONFIG: KvTable = KvTable {
    table: "storage_volumes_config",
    owner: "storage_volume_id",
    extra: ("", ""),
};
/// `storage_volumes_snapshots_config`.
pub(crate) const VOLUME_SNAPSHOT_CONFIG: KvTable = KvTable {
    table: "storage_volumes_snapshots_config",
    owner: "storage_volume_snapshot_id",
    extra: ("", ""),
};

/// A key/value table whose keys are either cluster-wide (NULL `node_id`) or per node
/// (`storage_pools_config`, `networks_config`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct NodeKvTable {
    /// Table name.
    pub table: &'static str,
    /// Column holding the owner's id.
    pub owner: &'static str,
    /// The table of the owner's per-node rows and states (`storage_pools_nodes`).
    pub nodes: &'static str,
    /// The keys kept per node.
    pub node_keys: &'static [&'static str],
    /// What the owner is, for messages (`storage pool`).
    pub what: &'static str,
}

/// `storage_pools_config`: LXD keeps these keys per node (`db.NodeSpecificStorageConfig`).
pub(crate) const POOL_CONFIG: NodeKvTable = NodeKvTable {
    table: "storage_pools_config",
    owner: "storage_pool_id",
    nodes: "storage_pools_nodes",
    node_keys: &[
        "size",
        "source",
        "volatile.initial_source",
        "zfs.pool_name",
        "lvm.thinpool_name",
        "lvm.vg_name",
    ],
    what: "storage pool",
};

/// `networks_config`: LXD keeps these keys per node (`db.NodeSpecificNetworkConfig`).
pub(crate) const NETWORK_CONFIG: NodeKvTable = NodeKvTable {
    table: "networks_config",
    owner: "network_id",
    nodes: "networks_nodes",
    node_keys: &[
        "bgp.ipv4.nexthop",
        "bgp.ipv6.nexthop",
        "bridge.external_interfaces",
        "parent",
    ],
    what: "network",
};

/// Writes what node `node` sees of owner `id` (named `name`): its row in the nodes table
/// with `state`, and the configuration (its own keys and the cluster-wide ones), replacing
/// what was there.
pub(crate) async fn put_node_view(
    conn: &mut SqliteConnection,
    t: NodeKvTable,
    node: i64,
    (id, name): (i64, &str),
    state: i64,
    config: &ConfigMap,
) -> StoreResult<()> {
    let what = || format!("writing the config of {} {name:?}", t.what);
    let upsert = format!(
        "INSERT INTO {nodes} ({owner}, node_id, state) VALUES (?, ?, ?) \
         ON CONFLICT ({owner}, node_id) DO UPDATE SET state = excluded.state",
        nodes = t.nodes,
        owner = t.owner
    );
    sqlx::query(AssertSqlSafe(upsert))
        .bind(id)
        .bind(node)
        .bind(state)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    let delete = format!(
        "DELETE FROM {} WHERE {} = ? AND (node_id = ? OR node_id IS NULL)",
        t.table, t.owner
    );
    sqlx::query(AssertSqlSafe(delete))
        .bind(id)
        .bind(node)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    let insert = format!(
        "INSERT INTO {} ({}, node_id, key, value) VALUES (?, ?, ?, ?)",
        t.table, t.owner
    );
    for (key, value) in config {
        let key_node = t.node_keys.contains(&key.as_str()).then_some(node);
        sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(id)
            .bind(key_node)
            .bind(key)
            .bind(value)
            .execute(&mut *conn)
            .await
            .ctx(what)?;
    }
    Ok(())
}

/// The configuration node `node` sees of the owners `ids` (owners without keys are absent).
pub(crate) async fn load_node_kv(
    conn: &mut SqliteConnection,
    t: NodeKvTable,
    node: i64,
    ids: &[i64],
) -> StoreResult<HashMap<i64, ConfigMap>> {
    let what = || format!("reading {} config", t.what);
    let mut out: HashMap<i64, ConfigMap> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT {owner}, key, value FROM {table} \
         WHERE {owner} IN ({IDS}) AND (node_id = ?2 OR node_id IS NULL)",
        owner = t.owner,
        table = t.table,
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(id_json(ids))
        .bind(node)
        .fetch_all(&mut *conn)
        .await
        .ctx(what)?;
    for row in rows {
        let id: i64 = row.try_get(0).ctx(what)?;
        let key: String = row.try_get(1).ctx(what)?;
        let value: Option<String> = row.try_get(2).ctx(what)?;
        out.entry(id)
            .or_default()
            .insert(key, value.unwrap_or_default());
    }
    Ok(out)
}

/// A device table and its configuration table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DeviceTables {
    /// The device table (`instances_devices`).
    pub devices: &'static str,
    /// Its column holding the owner's id (`instance_id`).
    pub owner: &'static str,
    /// The device configuration table (`instances_devices_config`).
    pub config: &'static str,
    /// Its column holding the device's id (`instance_device_id`).
    pub device: &'static str,
}

/// Profiles' devices.
pub(crate) const PROFILE_DEVICES: DeviceTables = DeviceTables {
    devices: "profiles_devices",
    owner: "profile_id",
    config: "profiles_devices_config",
    device: "profile_device_id",
};
/// Instances' devices.
pub(crate) const INSTANCE_DEVICES: DeviceTables = DeviceTables {
    devices: "instances_devices",
    owner: "instance_id",
    config: "instances_devices_config",
    device: "instance_device_id",
};
/// Instance snapshots' devices.
pub(crate) const SNAPSHOT_DEVICES: DeviceTables = DeviceTables {
    devices: "instances_snapshots_devices",
    owner: "instance_snapshot_id",
    config: "instances_snapshots_devices_config",
    device: "instance_snapshot_device_id",
};

/// Ids as the JSON array bound for [`IDS`].
pub(crate) fn id_json(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 4 + 2);
    out.push('[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    out.push(']');
    out
}

/// The key/value maps of the owners `ids` (owners without keys are absent).
pub(crate) async fn load_kv(
    conn: &mut SqliteConnection,
    t: KvTable,
    ids: &[i64],
) -> StoreResult<HashMap<i64, ConfigMap>> {
    let mut out: HashMap<i64, ConfigMap> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = format!(
        "SELECT {owner}, key, value FROM {table} WHERE {owner} IN ({IDS})",
        owner = t.owner,
        table = t.table,
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(id_json(ids))
        .fetch_all(&mut *conn)
        .await
        .ctx(|| format!("reading {}", t.table))?;
    for row in rows {
        let owner: i64 = row.try_get(0).ctx(|| format!("reading {}", t.table))?;
        let key: String = row.try_get(1).ctx(|| format!("reading {}", t.table))?;
        let value: Option<String> = row.try_get(2).ctx(|| format!("reading {}", t.table))?;
        out.entry(owner)
            .or_default()
            .insert(key, value.unwrap_or_default());
    }
    Ok(out)
}

/// Replaces an owner's keys with `map`.
pub(crate) async fn replace_kv(
    conn: &mut SqliteConnection,
    t: KvTable,
    id: i64,
    map: &ConfigMap,
) -> StoreResult<()> {
    let delete = format!("DELETE FROM {} WHERE {} = ?", t.table, t.owner);
    sqlx::query(AssertSqlSafe(delete))
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("clearing {}", t.table))?;
    for (key, value) in map {
        set_kv(conn, t, id, key, Some(value)).await?;
    }
    Ok(())
}

/// Sets (`Some`) or removes (`None`) one key of an owner.
pub(crate) async fn set_kv(
    conn: &mut SqliteConnection,
    t: KvTable,
    id: i64,
    key: &str,
    value: Option<&str>,
) -> StoreResult<()> {
    let sql = match value {
        Some(_) if t.extra.0.is_empty() => format!(
            "INSERT INTO {table} ({owner}, key, value) VALUES (?, ?, ?) \
             ON CONFLICT ({owner}, key) DO UPDATE SET value = excluded.value",
            table = t.table,
            owner = t.owner,
        ),
        // images_properties has no unique key: replace by hand.
        Some(_) => {
            let delete = format!("DELETE FROM {} WHERE {} = ? AND key = ?", t.table, t.owner);
            sqlx::query(AssertSqlSafe(delete))
                .bind(id)
                .bind(key)
                .execute(&mut *conn)
                .await
                .ctx(|| format!("writing {} key {key:?}", t.table))?;
            format!(
                "INSERT INTO {table} ({owner}, key, value{cols}) VALUES (?, ?, ?{vals})",
                table = t.table,
                owner = t.owner,
                cols = t.extra.0,
                vals = t.extra.1,
            )
        }
        None => format!("DELETE FROM {} WHERE {} = ? AND key = ?", t.table, t.owner),
    };
    let mut q = sqlx::query(AssertSqlSafe(sql)).bind(id).bind(key);
    if let Some(v) = value {
        q = q.bind(v);
    }
    q.execute(&mut *conn)
        .await
        .ctx(|| format!("writing {} key {key:?}", t.table))?;
    Ok(())
}

/// Replaces an owner's devices: the `type` key goes to the device row as LXD's code, the other
/// keys to the configuration table. `owner_desc` names the owner in errors
/// (`instance "c1"`).
pub(crate) async fn replace_devices(
    conn: &mut SqliteConnection,
    t: DeviceTables,
    id: i64,
    owner_desc: &str,
    devices: &Devices,
) -> StoreResult<()> {
    let what = || format!("writing {} of {owner_desc}", t.devices);
    let delete = format!("DELETE FROM {} WHERE {} = ?", t.devices, t.owner);
    sqlx::query(AssertSqlSafe(delete))
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    let insert_device = format!(
        "INSERT INTO {} ({}, name, type) VALUES (?, ?, ?)",
        t.devices, t.owner
    );
    let insert_config = format!(
        "INSERT INTO {} ({}, key, value) VALUES (?, ?, ?)",
        t.config, t.device
    );
    for (name, config) in devices {
        let code =
            codes::device_type_code(owner_desc, name, config.get("type").map(String::as_str))?;
        let device_id = sqlx::query(AssertSqlSafe(insert_device.clone()))
            .bind(id)
            .bind(name)
            .bind(code)
            .execute(&mut *conn)
            .await
            .ctx(what)?
            .last_insert_rowid();
        for (key, value) in config.iter().filter(|(k, _)| k.as_str() != "type") {
            sqlx::query(AssertSqlSafe(insert_config.clone()))
                .bind(device_id)
                .bind(key)
                .bind(value)
                .execute(&mut *conn)
                .await
                .ctx(what)?;
        }
    }
    Ok(())
}
