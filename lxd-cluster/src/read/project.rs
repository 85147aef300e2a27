//! Reading projects and profiles.

use lxd_core::store::{ProfileRecord, ProjectRecord, StoreResult};
use sqlx::SqliteConnection;

use super::col;
use crate::error::Context;
use crate::lookup;
use crate::rows::{self, PROFILE_CONFIG, PROFILE_DEVICES, PROJECT_CONFIG};

/// Projects (all with `None`), by name.
pub(crate) async fn projects(
    conn: &mut SqliteConnection,
    name: Option<&str>,
) -> StoreResult<Vec<ProjectRecord>> {
    let rows = sqlx::query(
        "SELECT id, name, description FROM projects WHERE ?1 IS NULL OR name = ?1 ORDER BY name",
    )
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| "reading projects".to_string())?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "projects"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_kv(conn, PROJECT_CONFIG, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            Ok(ProjectRecord {
                name: col(row, 1, "projects")?,
                description: col(row, 2, "projects")?,
                config: config.remove(id).unwrap_or_default(),
            })
        })
        .collect()
}

/// Profiles of a project (one of them with `name`), by name.
pub(crate) async fn profiles(
    conn: &mut SqliteConnection,
    project: &str,
    name: Option<&str>,
) -> StoreResult<Vec<ProfileRecord>> {
    let project_id = lookup::project(conn, project).await?;
    let rows = sqlx::query(
        "SELECT id, name, description FROM profiles \
         WHERE project_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY name",
    )
    .bind(project_id)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| format!("reading the profiles of project {project:?}"))?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "profiles"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_kv(conn, PROFILE_CONFIG, &ids).await?;
    let mut devices = rows::load_devices(conn, PROFILE_DEVICES, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            Ok(ProfileRecord {
                project: project.to_string(),
                name: col(row, 1, "profiles")?,
                description: col(row, 2, "profiles")?,
                config: config.remove(id).unwrap_or_default(),
                devices: devices.remove(id).unwrap_or_default(),
            })
        })
        .collect()
}
