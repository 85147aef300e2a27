//! Storage pools, volumes and volume snapshots.

use lxd_core::store::{
    StoragePoolRecord, StoreError, StoreResult, VolumeKey, VolumeRecord, VolumeSnapshotRecord,
};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::{already_exists, name_list, require_name};
use crate::codes;
use crate::error::Context;
use crate::kind;
use crate::lookup::{self, THIS_NODE};
use crate::rows::{self, nullable_time, TO_DATETIME, VOLUME_CONFIG, VOLUME_SNAPSHOT_CONFIG};

/// Creates a pool and its row in `storage_pools_nodes` for this node.
pub(crate) async fn create_pool(
    conn: &mut SqliteConnection,
    rec: &StoragePoolRecord,
) -> StoreResult<()> {
    require_name(kind::POOL, &rec.name)?;
    if lookup::find_pool(conn, &rec.name).await?.is_some() {
        return Err(already_exists(kind::POOL, rec.name.clone()));
    }
    let state = codes::pool_state_code(&rec.name, &rec.status)?;
    let what = || format!("creating storage pool {:?}", rec.name);
    let id = sqlx::query(
        "INSERT INTO storage_pools (name, driver, description, state) VALUES (?, ?, ?, ?)",
    )
    .bind(&rec.name)
    .bind(&rec.driver)
    .bind(&rec.description)
    .bind(state)
    .execute(&mut *conn)
    .await
    .ctx(what)?
    .last_insert_rowid();
    rows::put_node_view(
        conn,
        rows::POOL_CONFIG,
        THIS_NODE,
        (id, &rec.name),
        state,
        &rec.config,
    )
    .await
}

/// Replaces a pool's description, configuration and status.
pub(crate) async fn update_pool(
    conn: &mut SqliteConnection,
    rec: &StoragePoolRecord,
) -> StoreResult<()> {
    let id = lookup::pool(conn, &rec.name).await?;
    let state = codes::pool_state_code(&rec.name, &rec.status)?;
    let what = || format!("updating storage pool {:?}", rec.name);
    sqlx::query("UPDATE storage_pools SET description = ?, state = ? WHERE id = ?")
        .bind(&rec.description)
        .bind(state)
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    rows::put_node_view(
        conn,
        rows::POOL_CONFIG,
        THIS_NODE,
        (id, &rec.name),
        state,
        &rec.config,
    )
    .await
}

/// Deletes a pool that holds no volume.
pub(crate) async fn delete_pool(conn: &mut SqliteConnection, name: &str) -> StoreResult<()> {
    let id = lookup::pool(conn, name).await?;
    let volumes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM storage_volumes WHERE storage_pool_id = ? ORDER BY name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| format!("checking the volumes of storage pool {name:?}"))?;
    if !volumes.is_empty() {
        return Err(StoreError::InUse {
            kind: kind::POOL,
            name: name.to_string(),
            reason: format!("it holds volume(s) {}", name_list(&volumes, 5)),
        });
    }
    sqlx::query("DELETE FROM storage_pools WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting storage pool {name:?}"))?;
    Ok(())
}

fn key_of(rec: &VolumeRecord) -> VolumeKey {
    VolumeKey {
        pool: rec.pool.clone(),
        project: rec.project.clone(),
        volume_type: rec.volume_type,
        name: rec.name.clone(),
    }
}

/// Creates a volume on this node.
pub(crate) async fn create_volume(
    conn: &mut SqliteConnection,
    rec: &VolumeRecord,
) -> StoreResult<()> {
    require_name(kind::VOLUME, &rec.name)?;
    let (pool_id, project_id, existing) = lookup::find_volume(conn, &key_of(rec)).await?;
    if existing.is_some() {
        return Err(already_exists(kind::VOLUME, rec.name.clone()));
    }
    let content = codes::content_type_code(&rec.name, &rec.content_type)?;
    let id = sqlx::query(
        "INSERT INTO storage_volumes (name, storage_pool_id, node_id, type, description, \
         project_id, content_type) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&rec.name)
    .bind(pool_id)
    .bind(THIS_NODE)
    .bind(rec.volume_type.code())
    .bind(&rec.description)
    .bind(project_id)
    .bind(content)
    .execute(&mut *conn)
    .await
    .ctx(|| format!("creating storage volume {:?}", rec.name))?
    .last_insert_rowid();
    rows::replace_kv(conn, VOLUME_CONFIG, id, &rec.config).await
}

/// Replaces a volume's description and configuration.
pub(crate) async fn update_volume(
    conn: &mut SqliteConnection,
    rec: &VolumeRecord,
) -> StoreResult<()> {
    let id = lookup::volume(conn, &key_of(rec)).await?;
    sqlx::query("UPDATE storage_volumes SET description = ? WHERE id = ?")
        .bind(&rec.description)
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("updating storage volume {:?}", rec.name))?;
    rows::replace_kv(conn, VOLUME_CONFIG, id, &rec.config).await
}

/// Renames a volume; its snapshots refer to its id and follow.
pub(crate) async fn rename_volume(
    conn: &mut SqliteConnection,
    key: &VolumeKey,
    new_name: &str,
) -> StoreResult<()> {
    require_name(kind::VOLUME, new_name)?;
    let id = lookup::volume(conn, key).await?;
    let target = VolumeKey {
        name: new_name.to_string(),
        ..key.clone()
    };
    if lookup::find_volume(conn, &target).await?.2.is_some() {
        return Err(already_exists(kind::VOLUME, new_name));
    }
    sqlx::query("UPDATE storage_volumes SET name = ? WHERE id = ?")
        .bind(new_name)
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("renaming storage volume {:?}", key.name))?;
    Ok(())
}

/// Deletes a volume with its snapshots.
pub(crate) async fn delete_volume(conn: &mut SqliteConnection, key: &VolumeKey) -> StoreResult<()> {
    let id = lookup::volume(conn, key).await?;
    sqlx::query("DELETE FROM storage_volumes WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting storage volume {:?}", key.name))?;
    Ok(())
}

/// Creates a volume snapshot.
pub(crate) async fn create_volume_snapshot(
    conn: &mut SqliteConnection,
    rec: &VolumeSnapshotRecord,
) -> StoreResult<()> {
    require_name(kind::VOLUME_SNAPSHOT, &rec.name)?;
    let key = VolumeKey {
        pool: rec.pool.clone(),
        project: rec.project.clone(),
        volume_type: rec.volume_type,
        name: rec.volume.clone(),
    };
    let volume_id = lookup::volume(conn, &key).await?;
    let full = format!("{}/{}", rec.volume, rec.name);
    if lookup::find_volume_snapshot(conn, volume_id, &rec.name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::VOLUME_SNAPSHOT, full));
    }
    let sql = format!(
        "INSERT INTO storage_volumes_snapshots (storage_volume_id, name, description, \
         expiry_date) VALUES (?, ?, ?, {TO_DATETIME})"
    );
    let id = sqlx::query(AssertSqlSafe(sql))
        .bind(volume_id)
        .bind(&rec.name)
        .bind(&rec.description)
        .bind(nullable_time(rec.expires_at))
        .execute(&mut *conn)
        .await
        .ctx(|| format!("creating volume snapshot {full:?}"))?
        .last_insert_rowid();
    rows::replace_kv(conn, VOLUME_SNAPSHOT_CONFIG, id, &rec.config).await
}

/// Deletes a volume snapshot.
pub(crate) async fn delete_volume_snapshot(
    conn: &mut SqliteConnection,
    key: &VolumeKey,
    name: &str,
) -> StoreResult<()> {
    let volume_id = lookup::volume(conn, key).await?;
    let full = format!("{}/{name}", key.name);
    let id = lookup::find_volume_snapshot(conn, volume_id, name)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            kind: kind::VOLUME_SNAPSHOT,
            name: full.clone(),
        })?;
    sqlx::query("DELETE FROM storage_volumes_snapshots WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting volume snapshot {full:?}"))?;
    Ok(())
}
