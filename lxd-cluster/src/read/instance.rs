//! Reading instances and their snapshots.

use lxd_core::store::{InstanceRecord, InstanceType, SnapshotRecord, StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::col;
use crate::codes;
use crate::error::Context;
use crate::lookup;
use crate::packed;
use crate::rows::{secs, INSTANCE_CONFIG, INSTANCE_DEVICES, SNAPSHOT_CONFIG, SNAPSHOT_DEVICES};

/// Which instances to read.
pub(crate) enum Filter<'a> {
    /// Every instance.
    All,
    /// The instances of a project.
    Project(&'a str),
    /// One instance.
    One(&'a str, &'a str),
}

/// Instances, sorted by name (then project): one statement, each row with its config,
/// devices and profiles packed in.
pub(crate) async fn instances(
    conn: &mut SqliteConnection,
    filter: Filter<'_>,
) -> StoreResult<Vec<InstanceRecord>> {
    let (project, name) = match filter {
        Filter::All => (None, None),
        Filter::Project(p) => (Some(p), None),
        Filter::One(p, n) => (Some(p), Some(n)),
    };
    let sql = format!(
        "SELECT i.id, p.name, i.name, n.name, i.type, i.architecture, i.ephemeral, i.stateful, \
         i.description, {}, {}, {}, {}, {} \
         FROM instances i JOIN projects p ON p.id = i.project_id JOIN nodes n ON n.id = i.node_id \
         WHERE (?1 IS NULL OR p.name = ?1) AND (?2 IS NULL OR i.name = ?2) \
         ORDER BY i.name, p.name",
        secs("i.creation_date"),
        secs("i.last_use_date"),
        packed::config(INSTANCE_CONFIG, "i.id"),
        packed::devices(INSTANCE_DEVICES, "i.id"),
        packed::names(
            "pr.name",
            "ip.apply_order",
            "FROM instances_profiles ip JOIN profiles pr ON pr.id = ip.profile_id \
             WHERE ip.instance_id = i.id",
        ),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(project)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| "reading instances".to_string())?;
    if rows.is_empty() {
        if let Some(p) = project {
            // No instance: the project itself may be missing.
            lookup::project(conn, p).await?;
        }
    }
    let what = "instances";
    rows.iter()
        .map(|row| {
            let name: String = col(row, 2, what)?;
            let code: i64 = col(row, 4, what)?;
            let instance_type = InstanceType::from_code(code).ok_or_else(|| {
                StoreError::Database(format!("instance {name:?} has unknown type {code}"))
            })?;
            Ok(InstanceRecord {
                project: col(row, 1, what)?,
                node: col(row, 3, what)?,
                instance_type,
                architecture: codes::architecture_name(col(row, 5, what)?).to_string(),
                ephemeral: col(row, 6, what)?,
                stateful: col(row, 7, what)?,
                description: col(row, 8, what)?,
                created_at: col(row, 9, what)?,
                last_used_at: col(row, 10, what)?,
                config: packed::parse_config(col(row, 11, what)?, what)?,
                devices: packed::parse_devices(col(row, 12, what)?, what)?,
                profiles: packed::parse_names(col(row, 13, what)?, what)?,
                name,
            })
        })
        .collect()
}

/// The columns of a snapshot row: id, name, stateful, description, created, expires, config,
/// devices, profiles, project, instance (`s` is the snapshot, `p` its project, `i` its
/// instance).
fn snapshot_columns() -> String {
    format!(
        "s.id, s.name, s.stateful, s.description, {}, {}, {}, {}, {}, p.name, i.name",
        secs("s.creation_date"),
        secs("s.expiry_date"),
        packed::config(SNAPSHOT_CONFIG, "s.id"),
        packed::devices(SNAPSHOT_DEVICES, "s.id"),
        packed::names(
            "sp.name",
            "sp.apply_order",
            "FROM instances_snapshots_profiles sp WHERE sp.instance_snapshot_id = s.id",
        ),
    )
}

/// A snapshot record from a row of [`snapshot_columns`].
fn snapshot_record(row: &SqliteRow) -> StoreResult<SnapshotRecord> {
    let what = "snapshots";
    Ok(SnapshotRecord {
        project: col(row, 9, what)?,
        instance: col(row, 10, what)?,
        name: col(row, 1, what)?,
        stateful: col(row, 2, what)?,
        description: col(row, 3, what)?,
        created_at: col(row, 4, what)?,
        expires_at: col(row, 5, what)?,
        config: packed::parse_config(col(row, 6, what)?, what)?,
        devices: packed::parse_devices(col(row, 7, what)?, what)?,
        profiles: packed::parse_names(col(row, 8, what)?, what)?,
    })
}

/// Snapshots of an instance (one of them with `name`), oldest first, in one statement.
pub(crate) async fn snapshots(
    conn: &mut SqliteConnection,
    project: &str,
    instance: &str,
    name: Option<&str>,
) -> StoreResult<Vec<SnapshotRecord>> {
    let sql = format!(
        "SELECT {} FROM instances_snapshots s JOIN instances i ON i.id = s.instance_id \
         JOIN projects p ON p.id = i.project_id \
         WHERE p.name = ?1 AND i.name = ?2 AND (?3 IS NULL OR s.name = ?3) \
         ORDER BY s.creation_date, s.id",
        snapshot_columns(),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(project)
        .bind(instance)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| format!("reading the snapshots of instance {instance:?}"))?;
    if rows.is_empty() {
        // None: the project or the instance may be missing.
        let project_id = lookup::project(conn, project).await?;
        lookup::instance(conn, project_id, instance).await?;
    }
    rows.iter()
        .map(|row| {
            Ok(SnapshotRecord {
                project: project.to_string(),
                instance: instance.to_string(),
                ..snapshot_record(row)?
            })
        })
        .collect()
}

/// The snapshots of every instance of a project (all projects with `None`), in one
/// statement: by instance name (then project), each instance's oldest first.
pub(crate) async fn all_snapshots(
    conn: &mut SqliteConnection,
    project: Option<&str>,
) -> StoreResult<Vec<SnapshotRecord>> {
    let sql = format!(
        "SELECT {} FROM instances_snapshots s JOIN instances i ON i.id = s.instance_id \
         JOIN projects p ON p.id = i.project_id \
         WHERE ?1 IS NULL OR p.name = ?1 \
         ORDER BY i.name, p.name, s.creation_date, s.id",
        snapshot_columns(),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(project)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| "reading instance snapshots".to_string())?;
    if rows.is_empty() {
        if let Some(p) = project {
            lookup::project(conn, p).await?;
        }
    }
    rows.iter().map(snapshot_record).collect()
}
