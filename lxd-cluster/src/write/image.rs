//! Images and their aliases.

use lxd_core::store::{ImageAliasRecord, ImageRecord, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::{already_exists, require_name};
use crate::codes;
use crate::error::Context;
use crate::kind;
use crate::lookup::{self, THIS_NODE};
use crate::rows::{self, nullable_time, IMAGE_PROPERTIES, TO_DATETIME};

/// Refuses a fingerprint that is not hexadecimal.
fn check_fingerprint(fingerprint: &str) -> StoreResult<()> {
    if fingerprint.is_empty() || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::Unsupported(format!(
            "image fingerprint {fingerprint:?} is not hexadecimal"
        )));
    }
    Ok(())
}

/// The checked codes of an image record.
fn codes_of(rec: &ImageRecord) -> StoreResult<(i64, i64)> {
    let arch = codes::require_architecture(kind::IMAGE, &rec.fingerprint, &rec.architecture)?;
    let ty = codes::image_type_code(&rec.fingerprint, &rec.image_type)?;
    Ok((arch, ty))
}

/// Creates an image, its properties, and its row in `images_nodes` for this node.
pub(crate) async fn create_image(
    conn: &mut SqliteConnection,
    rec: &ImageRecord,
) -> StoreResult<()> {
    check_fingerprint(&rec.fingerprint)?;
    let project_id = lookup::project(conn, &rec.project).await?;
    if lookup::find_image(conn, project_id, &rec.fingerprint)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::IMAGE, rec.fingerprint.clone()));
    }
    let (arch, ty) = codes_of(rec)?;
    let what = || format!("creating image {:?}", rec.fingerprint);
    let sql = format!(
        "INSERT INTO images (fingerprint, filename, size, public, architecture, creation_date, \
         expiry_date, upload_date, cached, last_use_date, auto_update, project_id, type) \
         VALUES (?, ?, ?, ?, ?, {TO_DATETIME}, {TO_DATETIME}, {TO_DATETIME}, ?, {TO_DATETIME}, \
         ?, ?, ?)"
    );
    let id = sqlx::query(AssertSqlSafe(sql))
        .bind(&rec.fingerprint)
        .bind(&rec.filename)
        .bind(rec.size)
        .bind(rec.public)
        .bind(arch)
        .bind(nullable_time(rec.created_at))
        .bind(nullable_time(rec.expires_at))
        .bind(rec.uploaded_at)
        .bind(rec.cached)
        .bind(nullable_time(rec.last_used_at))
        .bind(rec.auto_update)
        .bind(project_id)
        .bind(ty)
        .execute(&mut *conn)
        .await
        .ctx(what)?
        .last_insert_rowid();
    rows::replace_kv(conn, IMAGE_PROPERTIES, id, &rec.properties).await?;
    sqlx::query("INSERT INTO images_nodes (image_id, node_id) VALUES (?, ?)")
        .bind(id)
        .bind(THIS_NODE)
        .execute(conn)
        .await
        .ctx(what)?;
    Ok(())
}

/// Replaces an image's record and properties.
pub(crate) async fn update_image(
    conn: &mut SqliteConnection,
    rec: &ImageRecord,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, &rec.project).await?;
    let id = lookup::image(conn, project_id, &rec.fingerprint).await?;
    let (arch, ty) = codes_of(rec)?;
    let sql = format!(
        "UPDATE images SET filename = ?, size = ?, public = ?, architecture = ?, \
         creation_date = {TO_DATETIME}, expiry_date = {TO_DATETIME}, \
         upload_date = {TO_DATETIME}, cached = ?, last_use_date = {TO_DATETIME}, \
         auto_update = ?, type = ? WHERE id = ?"
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(&rec.filename)
        .bind(rec.size)
        .bind(rec.public)
        .bind(arch)
        .bind(nullable_time(rec.created_at))
        .bind(nullable_time(rec.expires_at))
        .bind(rec.uploaded_at)
        .bind(rec.cached)
        .bind(nullable_time(rec.last_used_at))
        .bind(rec.auto_update)
        .bind(ty)
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("updating image {:?}", rec.fingerprint))?;
    rows::replace_kv(conn, IMAGE_PROPERTIES, id, &rec.properties).await
}

/// Deletes an image; its aliases, properties and node rows go with it.
pub(crate) async fn delete_image(
    conn: &mut SqliteConnection,
    project: &str,
    fingerprint: &str,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::image(conn, project_id, fingerprint).await?;
    sqlx::query("DELETE FROM images WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting image {fingerprint:?}"))?;
    Ok(())
}

/// Creates an alias of an image of the same project.
pub(crate) async fn create_alias(
    conn: &mut SqliteConnection,
    rec: &ImageAliasRecord,
) -> StoreResult<()> {
    require_name(kind::ALIAS, &rec.name)?;
    let project_id = lookup::project(conn, &rec.project).await?;
    if lookup::find_alias(conn, project_id, &rec.name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::ALIAS, rec.name.clone()));
    }
    let image_id = lookup::image(conn, project_id, &rec.fingerprint).await?;
    sqlx::query(
        "INSERT INTO images_aliases (name, image_id, description, project_id) VALUES (?, ?, ?, ?)",
    )
    .bind(&rec.name)
    .bind(image_id)
    .bind(&rec.description)
    .bind(project_id)
    .execute(conn)
    .await
    .ctx(|| format!("creating image alias {:?}", rec.name))?;
    Ok(())
}

/// Points an alias at another image and replaces its description.
pub(crate) async fn update_alias(
    conn: &mut SqliteConnection,
    rec: &ImageAliasRecord,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, &rec.project).await?;
    let id = lookup::alias(conn, project_id, &rec.name).await?;
    let image_id = lookup::image(conn, project_id, &rec.fingerprint).await?;
    sqlx::query("UPDATE images_aliases SET image_id = ?, description = ? WHERE id = ?")
        .bind(image_id)
        .bind(&rec.description)
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("updating image alias {:?}", rec.name))?;
    Ok(())
}

/// Renames an alias.
pub(crate) async fn rename_alias(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
    new_name: &str,
) -> StoreResult<()> {
    require_name(kind::ALIAS, new_name)?;
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::alias(conn, project_id, name).await?;
    if lookup::find_alias(conn, project_id, new_name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::ALIAS, new_name));
    }
    sqlx::query("UPDATE images_aliases SET name = ? WHERE id = ?")
        .bind(new_name)
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("renaming image alias {name:?}"))?;
    Ok(())
}

/// Deletes an alias.
pub(crate) async fn delete_alias(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::alias(conn, project_id, name).await?;
    sqlx::query("DELETE FROM images_aliases WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting image alias {name:?}"))?;
    Ok(())
}
