//! Instances and their snapshots.

use std::collections::{BTreeMap, HashSet};

use lxd_core::store::{InstanceRecord, SnapshotRecord, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::{already_exists, require_name};
use crate::codes;
use crate::error::Context;
use crate::kind;
use crate::lookup;
use crate::rows::{
    self, nullable_time, INSTANCE_CONFIG, INSTANCE_DEVICES, SNAPSHOT_CONFIG, SNAPSHOT_DEVICES,
    TO_DATETIME,
};

/// The columns an instance record sets, checked.
struct Columns {
    node_id: i64,
    arch: i64,
}

async fn columns(conn: &mut SqliteConnection, rec: &InstanceRecord) -> StoreResult<Columns> {
    let arch = codes::require_architecture(kind::INSTANCE, &rec.name, &rec.architecture)?;
    let node_id = lookup::node(conn, &rec.node).await?;
    Ok(Columns { node_id, arch })
}

/// Creates an instance with its configuration, devices and profiles.
pub(crate) async fn create_instance(
    conn: &mut SqliteConnection,
    rec: &InstanceRecord,
) -> StoreResult<()> {
    require_name(kind::INSTANCE, &rec.name)?;
    let project_id = lookup::project(conn, &rec.project).await?;
    if lookup::find_instance(conn, project_id, &rec.name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::INSTANCE, rec.name.clone()));
    }
    let c = columns(conn, rec).await?;
    let sql = format!(
        "INSERT INTO instances (node_id, name, architecture, type, ephemeral, creation_date, \
         stateful, last_use_date, description, project_id) \
         VALUES (?, ?, ?, ?, ?, {TO_DATETIME}, ?, {TO_DATETIME}, ?, ?)"
    );
    let id = sqlx::query(AssertSqlSafe(sql))
        .bind(c.node_id)
        .bind(&rec.name)
        .bind(c.arch)
        .bind(rec.instance_type.code())
        .bind(rec.ephemeral)
        .bind(rec.created_at)
        .bind(rec.stateful)
        .bind(nullable_time(rec.last_used_at))
        .bind(&rec.description)
        .bind(project_id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("creating instance {:?}", rec.name))?
        .last_insert_rowid();
    write_instance_body(conn, id, project_id, rec).await
}

async fn write_instance_body(
    conn: &mut SqliteConnection,
    id: i64,
    project_id: i64,
    rec: &InstanceRecord,
) -> StoreResult<()> {
    rows::replace_kv(conn, INSTANCE_CONFIG, id, &rec.config).await?;
    let owner = format!("instance {:?}", rec.name);
    rows::replace_devices(conn, INSTANCE_DEVICES, id, &owner, &rec.devices).await?;
    write_profiles(conn, id, project_id, &rec.name, &rec.profiles).await
}

/// Replaces an instance's profile list, in order; the profiles are those of the project the
/// instance's project takes its profiles from.
async fn write_profiles(
    conn: &mut SqliteConnection,
    id: i64,
    project_id: i64,
    instance: &str,
    profiles: &[String],
) -> StoreResult<()> {
    let what = || format!("writing the profiles of instance {instance:?}");
    sqlx::query("DELETE FROM instances_profiles WHERE instance_id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    let from = lookup::profiles_project(conn, project_id).await?;
    let mut seen = HashSet::new();
    for (order, name) in profiles.iter().enumerate() {
        if !seen.insert(name.as_str()) {
            return Err(StoreError::Unsupported(format!(
                "instance {instance:?} lists profile {name:?} twice"
            )));
        }
        let profile_id = lookup::profile(conn, from, name).await?;
        sqlx::query(
            "INSERT INTO instances_profiles (instance_id, profile_id, apply_order) VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(profile_id)
        .bind(order as i64 + 1)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    }
    Ok(())
}

/// Replaces an instance's record (not its snapshots).
pub(crate) async fn update_instance(
    conn: &mut SqliteConnection,
    rec: &InstanceRecord,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, &rec.project).await?;
    let id = lookup::instance(conn, project_id, &rec.name).await?;
    let c = columns(conn, rec).await?;
    let sql = format!(
        "UPDATE instances SET node_id = ?, architecture = ?, type = ?, ephemeral = ?, \
         creation_date = {TO_DATETIME}, stateful = ?, last_use_date = {TO_DATETIME}, \
         description = ? WHERE id = ?"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(c.node_id)
        .bind(c.arch)
        .bind(rec.instance_type.code())
        .bind(rec.ephemeral)
        .bind(rec.created_at)
        .bind(rec.stateful)
        .bind(nullable_time(rec.last_used_at))
        .bind(&rec.description)
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("updating instance {:?}", rec.name))?;
    write_instance_body(conn, id, project_id, rec).await
}

/// Sets or removes configuration keys of an instance, keeping the others.
pub(crate) async fn set_instance_config(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
    changes: &BTreeMap<String, Option<String>>,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::instance(conn, project_id, name).await?;
    for (key, value) in changes {
        rows::set_kv(conn, INSTANCE_CONFIG, id, key, value.as_deref()).await?;
    }
    Ok(())
}

/// Renames an instance; its snapshots refer to its id and follow.
pub(crate) async fn rename_instance(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
    new_name: &str,
) -> StoreResult<()> {
    require_name(kind::INSTANCE, new_name)?;
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::instance(conn, project_id, name).await?;
    if lookup::find_instance(conn, project_id, new_name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::INSTANCE, new_name));
    }
    sqlx::query("UPDATE instances SET name = ? WHERE id = ?")
        .bind(new_name)
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("renaming instance {name:?}"))?;
    Ok(())
}

/// Deletes an instance; its snapshots, config, devices and profile links go with it.
pub(crate) async fn delete_instance(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::instance(conn, project_id, name).await?;
    sqlx::query("DELETE FROM instances WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting instance {name:?}"))?;
    Ok(())
}

/// Creates an instance snapshot with its configuration, devices and profile names.
pub(crate) async fn create_snapshot(
    conn: &mut SqliteConnection,
    rec: &SnapshotRecord,
) -> StoreResult<()> {
    require_name(kind::SNAPSHOT, &rec.name)?;
    let project_id = lookup::project(conn, &rec.project).await?;
    let instance_id = lookup::instance(conn, project_id, &rec.instance).await?;
    let full = format!("{}/{}", rec.instance, rec.name);
    if lookup::find_snapshot(conn, instance_id, &rec.name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::SNAPSHOT, full));
    }
    let what = || format!("creating snapshot {full:?}");
    let sql = format!(
        "INSERT INTO instances_snapshots (instance_id, name, creation_date, stateful, \
         description, expiry_date) VALUES (?, ?, {TO_DATETIME}, ?, ?, {TO_DATETIME})"
    );
    let id = sqlx::query(AssertSqlSafe(sql))
        .bind(instance_id)
        .bind(&rec.name)
        .bind(rec.created_at)
        .bind(rec.stateful)
        .bind(&rec.description)
        .bind(nullable_time(rec.expires_at))
        .execute(&mut *conn)
        .await
        .ctx(what)?
        .last_insert_rowid();
    rows::replace_kv(conn, SNAPSHOT_CONFIG, id, &rec.config).await?;
    let owner = format!("snapshot {full:?}");
    rows::replace_devices(conn, SNAPSHOT_DEVICES, id, &owner, &rec.devices).await?;
    let mut seen = HashSet::new();
    for (order, profile) in rec.profiles.iter().enumerate() {
        if !seen.insert(profile.as_str()) {
            return Err(StoreError::Unsupported(format!(
                "snapshot {full:?} lists profile {profile:?} twice"
            )));
        }
        sqlx::query(
            "INSERT INTO instances_snapshots_profiles (instance_snapshot_id, name, apply_order) \
             VALUES (?, ?, ?)",
        )
        .bind(id)
        .bind(profile)
        .bind(order as i64 + 1)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    }
    Ok(())
}

/// Renames an instance snapshot.
pub(crate) async fn rename_snapshot(
    conn: &mut SqliteConnection,
    project: &str,
    instance: &str,
    name: &str,
    new_name: &str,
) -> StoreResult<()> {
    require_name(kind::SNAPSHOT, new_name)?;
    let project_id = lookup::project(conn, project).await?;
    let instance_id = lookup::instance(conn, project_id, instance).await?;
    let id = lookup::snapshot(conn, instance_id, instance, name).await?;
    if lookup::find_snapshot(conn, instance_id, new_name)
        .await?
        .is_some()
    {
        return Err(already_exists(
            kind::SNAPSHOT,
            format!("{instance}/{new_name}"),
        ));
    }
    sqlx::query("UPDATE instances_snapshots SET name = ? WHERE id = ?")
        .bind(new_name)
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("renaming snapshot {instance}/{name}"))?;
    Ok(())
}

/// Deletes an instance snapshot.
pub(crate) async fn delete_snapshot(
    conn: &mut SqliteConnection,
    project: &str,
    instance: &str,
    name: &str,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, project).await?;
    let instance_id = lookup::instance(conn, project_id, instance).await?;
    let id = lookup::snapshot(conn, instance_id, instance, name).await?;
    sqlx::query("DELETE FROM instances_snapshots WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting snapshot {instance}/{name}"))?;
    Ok(())
}
