//! Projects and profiles.

use lxd_core::store::{ProfileRecord, ProjectRecord, StoreError, StoreResult};
use sqlx::SqliteConnection;

use super::{already_exists, name_list, require_name};
use crate::error::Context;
use crate::kind;
use crate::lookup::{self, is_true};
use crate::rows::{self, PROFILE_CONFIG, PROFILE_DEVICES, PROJECT_CONFIG};

/// Creates a project; with `features.profiles` on it gets its `default` profile, as LXD's
/// `POST /1.0/projects` does.
pub(crate) async fn create_project(
    conn: &mut SqliteConnection,
    rec: &ProjectRecord,
) -> StoreResult<()> {
    require_name(kind::PROJECT, &rec.name)?;
    if lookup::find_project(conn, &rec.name).await?.is_some() {
        return Err(already_exists(kind::PROJECT, rec.name.clone()));
    }
    let id = sqlx::query("INSERT INTO projects (name, description) VALUES (?, ?)")
        .bind(&rec.name)
        .bind(&rec.description)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("creating project {:?}", rec.name))?
        .last_insert_rowid();
    rows::replace_kv(conn, PROJECT_CONFIG, id, &rec.config).await?;
    ensure_default_profile(conn, id, rec).await
}

/// Gives a project with `features.profiles` on its `default` profile if it has none.
async fn ensure_default_profile(
    conn: &mut SqliteConnection,
    id: i64,
    rec: &ProjectRecord,
) -> StoreResult<()> {
    let wanted = rec
        .config
        .get("features.profiles")
        .is_some_and(|v| is_true(v));
    if !wanted || lookup::find_profile(conn, id, "default").await?.is_some() {
        return Ok(());
    }
    sqlx::query("INSERT INTO profiles (name, description, project_id) VALUES ('default', ?, ?)")
        .bind(format!("Default LXD profile for project {}", rec.name))
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("creating the default profile of project {:?}", rec.name))?;
    Ok(())
}

/// Replaces a project's description and configuration; turning `features.profiles` on gives
/// it a `default` profile, as LXD's project update does.
pub(crate) async fn update_project(
    conn: &mut SqliteConnection,
    rec: &ProjectRecord,
) -> StoreResult<()> {
    let id = lookup::project(conn, &rec.name).await?;
    sqlx::query("UPDATE projects SET description = ? WHERE id = ?")
        .bind(&rec.description)
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("updating project {:?}", rec.name))?;
    rows::replace_kv(conn, PROJECT_CONFIG, id, &rec.config).await?;
    ensure_default_profile(conn, id, rec).await
}

/// Deletes a project that holds nothing but its `default` profile.
pub(crate) async fn delete_project(conn: &mut SqliteConnection, name: &str) -> StoreResult<()> {
    let id = lookup::project(conn, name).await?;
    let in_use = |reason: String| StoreError::InUse {
        kind: kind::PROJECT,
        name: name.to_string(),
        reason,
    };
    if name == "default" {
        return Err(in_use("the default project cannot be deleted".into()));
    }
    let mut held = Vec::new();
    for (sql, what) in [
        (
            "SELECT COUNT(*) FROM instances WHERE project_id = ?",
            "instance(s)",
        ),
        (
            "SELECT COUNT(*) FROM images WHERE project_id = ?",
            "image(s)",
        ),
        (
            "SELECT COUNT(*) FROM storage_volumes WHERE project_id = ?",
            "storage volume(s)",
        ),
        (
            "SELECT COUNT(*) FROM profiles WHERE project_id = ? AND name != 'default'",
            "profile(s) other than default",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(&mut *conn)
            .await
            .ctx(|| format!("checking what project {name:?} holds"))?;
        if n > 0 {
            held.push(format!("{n} {what}"));
        }
    }
    if !held.is_empty() {
        return Err(in_use(format!("it still holds {}", held.join(", "))));
    }
    sqlx::query("DELETE FROM projects WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting project {name:?}"))?;
    Ok(())
}

/// Creates a profile.
pub(crate) async fn create_profile(
    conn: &mut SqliteConnection,
    rec: &ProfileRecord,
) -> StoreResult<()> {
    require_name(kind::PROFILE, &rec.name)?;
    let project_id = lookup::project(conn, &rec.project).await?;
    if lookup::find_profile(conn, project_id, &rec.name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::PROFILE, rec.name.clone()));
    }
    let id = sqlx::query("INSERT INTO profiles (name, description, project_id) VALUES (?, ?, ?)")
        .bind(&rec.name)
        .bind(&rec.description)
        .bind(project_id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("creating profile {:?}", rec.name))?
        .last_insert_rowid();
    write_profile_body(conn, id, rec).await
}

async fn write_profile_body(
    conn: &mut SqliteConnection,
    id: i64,
    rec: &ProfileRecord,
) -> StoreResult<()> {
    rows::replace_kv(conn, PROFILE_CONFIG, id, &rec.config).await?;
    let owner = format!("profile {:?}", rec.name);
    rows::replace_devices(conn, PROFILE_DEVICES, id, &owner, &rec.devices).await
}

/// Replaces a profile's description, configuration and devices.
pub(crate) async fn update_profile(
    conn: &mut SqliteConnection,
    rec: &ProfileRecord,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, &rec.project).await?;
    let id = lookup::profile(conn, project_id, &rec.name).await?;
    sqlx::query("UPDATE profiles SET description = ? WHERE id = ?")
        .bind(&rec.description)
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(|| format!("updating profile {:?}", rec.name))?;
    write_profile_body(conn, id, rec).await
}

/// Renames a profile (the instances using it keep it: they refer to its id).
pub(crate) async fn rename_profile(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
    new_name: &str,
) -> StoreResult<()> {
    require_name(kind::PROFILE, new_name)?;
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::profile(conn, project_id, name).await?;
    if lookup::find_profile(conn, project_id, new_name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::PROFILE, new_name));
    }
    sqlx::query("UPDATE profiles SET name = ? WHERE id = ?")
        .bind(new_name)
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("renaming profile {name:?}"))?;
    Ok(())
}

/// Deletes a profile no instance uses.
pub(crate) async fn delete_profile(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::profile(conn, project_id, name).await?;
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT CASE WHEN projects.id = ? THEN instances.name \
                ELSE instances.name || ' (project ' || projects.name || ')' END \
         FROM instances_profiles \
         JOIN instances ON instances.id = instances_profiles.instance_id \
         JOIN projects ON projects.id = instances.project_id \
         WHERE instances_profiles.profile_id = ? ORDER BY projects.name, instances.name",
    )
    .bind(project_id)
    .bind(id)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| format!("checking the users of profile {name:?}"))?;
    if !users.is_empty() {
        return Err(StoreError::InUse {
            kind: kind::PROFILE,
            name: name.to_string(),
            reason: format!("used by instance(s) {}", name_list(&users, 5)),
        });
    }
    sqlx::query("DELETE FROM profiles WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting profile {name:?}"))?;
    Ok(())
}
