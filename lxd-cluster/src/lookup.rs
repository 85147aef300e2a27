//! Finding rows' ids by the names records carry, with [`StoreError::NotFound`] naming what is
//! missing.

use lxd_core::store::{StoreError, StoreResult, VolumeKey};
use sqlx::SqliteConnection;

use crate::error::Context;
use crate::kind;

/// The id of this host's row in `nodes` (LXD's node 1 until clustering).
pub(crate) const THIS_NODE: i64 = 1;

fn not_found(kind: &'static str, name: impl Into<String>) -> StoreError {
    StoreError::NotFound {
        kind,
        name: name.into(),
    }
}

/// A project's id, if it exists.
pub(crate) async fn find_project(
    conn: &mut SqliteConnection,
    name: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM projects WHERE name = ?")
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up project {name:?}"))
}

/// A project's id.
pub(crate) async fn project(conn: &mut SqliteConnection, name: &str) -> StoreResult<i64> {
    find_project(conn, name)
        .await?
        .ok_or_else(|| not_found(kind::PROJECT, name))
}

/// A profile's id, if it exists.
pub(crate) async fn find_profile(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM profiles WHERE project_id = ? AND name = ?")
        .bind(project_id)
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up profile {name:?}"))
}

/// A profile's id.
pub(crate) async fn profile(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<i64> {
    find_profile(conn, project_id, name)
        .await?
        .ok_or_else(|| not_found(kind::PROFILE, name))
}

/// The project whose profiles the instances of a project use: the project itself when it has
/// `features.profiles` on, else `default` (as LXD's `project.ProfileProject`).
pub(crate) async fn profiles_project(
    conn: &mut SqliteConnection,
    project_id: i64,
) -> StoreResult<i64> {
    let own: Option<Option<String>> = sqlx::query_scalar(
        "SELECT value FROM projects_config WHERE project_id = ? AND key = 'features.profiles'",
    )
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await
    .ctx(|| "reading features.profiles".to_string())?;
    if own.flatten().is_some_and(|v| is_true(&v)) {
        return Ok(project_id);
    }
    project(conn, "default").await
}

/// LXD's `shared.IsTrue`.
pub(crate) fn is_true(value: &str) -> bool {
    matches!(
        value.to_ascii_lowercase().as_str(),
        "true" | "1" | "yes" | "on"
    )
}

/// An instance's id, if it exists.
pub(crate) async fn find_instance(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM instances WHERE project_id = ? AND name = ?")
        .bind(project_id)
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up instance {name:?}"))
}

/// An instance's id.
pub(crate) async fn instance(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<i64> {
    find_instance(conn, project_id, name)
        .await?
        .ok_or_else(|| not_found(kind::INSTANCE, name))
}

/// An instance snapshot's id, if it exists.
pub(crate) async fn find_snapshot(
    conn: &mut SqliteConnection,
    instance_id: i64,
    name: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM instances_snapshots WHERE instance_id = ? AND name = ?")
        .bind(instance_id)
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up snapshot {name:?}"))
}

/// An instance snapshot's id.
pub(crate) async fn snapshot(
    conn: &mut SqliteConnection,
    instance_id: i64,
    instance: &str,
    name: &str,
) -> StoreResult<i64> {
    find_snapshot(conn, instance_id, name)
        .await?
        .ok_or_else(|| not_found(kind::SNAPSHOT, format!("{instance}/{name}")))
}

/// An image's id by full fingerprint, if it exists.
pub(crate) async fn find_image(
    conn: &mut SqliteConnection,
    project_id: i64,
    fingerprint: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM images WHERE project_id = ? AND fingerprint = ?")
        .bind(project_id)
        .bind(fingerprint)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up image {fingerprint:?}"))
}

/// An image's id by full fingerprint.
pub(crate) async fn image(
    conn: &mut SqliteConnection,
    project_id: i64,
    fingerprint: &str,
) -> StoreResult<i64> {
    find_image(conn, project_id, fingerprint)
        .await?
        .ok_or_else(|| not_found(kind::IMAGE, fingerprint))
}

/// An image alias's id, if it exists.
pub(crate) async fn find_alias(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM images_aliases WHERE project_id = ? AND name = ?")
        .bind(project_id)
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up image alias {name:?}"))
}

/// An image alias's id.
pub(crate) async fn alias(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<i64> {
    find_alias(conn, project_id, name)
        .await?
        .ok_or_else(|| not_found(kind::ALIAS, name))
}

/// A storage pool's id, if it exists.
pub(crate) async fn find_pool(conn: &mut SqliteConnection, name: &str) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM storage_pools WHERE name = ?")
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up storage pool {name:?}"))
}

/// A storage pool's id.
pub(crate) async fn pool(conn: &mut SqliteConnection, name: &str) -> StoreResult<i64> {
    find_pool(conn, name)
        .await?
        .ok_or_else(|| not_found(kind::POOL, name))
}

/// A network's id, if it exists.
pub(crate) async fn find_network(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM networks WHERE project_id = ? AND name = ?")
        .bind(project_id)
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up network {name:?}"))
}

/// A network's id.
pub(crate) async fn network(
    conn: &mut SqliteConnection,
    project_id: i64,
    name: &str,
) -> StoreResult<i64> {
    find_network(conn, project_id, name)
        .await?
        .ok_or_else(|| not_found(kind::NETWORK, name))
}

/// A storage volume's id (with its pool's and project's), if the pool and project exist.
pub(crate) async fn find_volume(
    conn: &mut SqliteConnection,
    key: &VolumeKey,
) -> StoreResult<(i64, i64, Option<i64>)> {
    let pool_id = pool(conn, &key.pool).await?;
    let project_id = project(conn, &key.project).await?;
    let id = sqlx::query_scalar(
        "SELECT id FROM storage_volumes \
         WHERE storage_pool_id = ? AND project_id = ? AND name = ? AND type = ? \
         AND (node_id = ? OR node_id IS NULL)",
    )
    .bind(pool_id)
    .bind(project_id)
    .bind(&key.name)
    .bind(key.volume_type.code())
    .bind(THIS_NODE)
    .fetch_optional(conn)
    .await
    .ctx(|| format!("looking up storage volume {:?}", key.name))?;
    Ok((pool_id, project_id, id))
}

/// A storage volume's id.
pub(crate) async fn volume(conn: &mut SqliteConnection, key: &VolumeKey) -> StoreResult<i64> {
    find_volume(conn, key)
        .await?
        .2
        .ok_or_else(|| not_found(kind::VOLUME, key.name.clone()))
}

/// A volume snapshot's id, if it exists.
pub(crate) async fn find_volume_snapshot(
    conn: &mut SqliteConnection,
    volume_id: i64,
    name: &str,
) -> StoreResult<Option<i64>> {
    sqlx::query_scalar(
        "SELECT id FROM storage_volumes_snapshots WHERE storage_volume_id = ? AND name = ?",
    )
    .bind(volume_id)
    .bind(name)
    .fetch_optional(conn)
    .await
    .ctx(|| format!("looking up volume snapshot {name:?}"))
}

/// A node's id by name; the empty name is this node.
pub(crate) async fn node(conn: &mut SqliteConnection, name: &str) -> StoreResult<i64> {
    if name.is_empty() {
        return Ok(THIS_NODE);
    }
    sqlx::query_scalar("SELECT id FROM nodes WHERE name = ?")
        .bind(name)
        .fetch_optional(conn)
        .await
        .ctx(|| format!("looking up node {name:?}"))?
        .ok_or_else(|| not_found(kind::NODE, name))
}
