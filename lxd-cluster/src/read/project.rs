//! Reading projects and profiles.

use lxd_core::store::{ProfileRecord, ProjectRecord, StoreResult};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::col;
use crate::error::Context;
use crate::lookup;
use crate::packed;
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

/// Profiles of a project (one of them with `name`), by name: one statement, each row with
/// its config and devices packed in.
pub(crate) async fn profiles(
    conn: &mut SqliteConnection,
    project: &str,
    name: Option<&str>,
) -> StoreResult<Vec<ProfileRecord>> {
    let sql = format!(
        "SELECT pr.name, pr.description, {}, {} FROM profiles pr \
         JOIN projects p ON p.id = pr.project_id \
         WHERE p.name = ?1 AND (?2 IS NULL OR pr.name = ?2) ORDER BY pr.name",
        packed::config(PROFILE_CONFIG, "pr.id"),
        packed::devices(PROFILE_DEVICES, "pr.id"),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(project)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| format!("reading the profiles of project {project:?}"))?;
    if rows.is_empty() {
        // None: the project itself may be missing.
        lookup::project(conn, project).await?;
    }
    let what = "profiles";
    rows.iter()
        .map(|row| {
            Ok(ProfileRecord {
                project: project.to_string(),
                name: col(row, 0, what)?,
                description: col(row, 1, what)?,
                config: packed::parse_config(col(row, 2, what)?, what)?,
                devices: packed::parse_devices(col(row, 3, what)?, what)?,
            })
        })
        .collect()
}
