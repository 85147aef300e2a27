//! Reading instances and their snapshots.

use lxd_core::store::{InstanceRecord, InstanceType, SnapshotRecord, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::col;
use crate::codes;
use crate::error::Context;
use crate::lookup;
use crate::rows::{
    self, secs, INSTANCE_CONFIG, INSTANCE_DEVICES, SNAPSHOT_CONFIG, SNAPSHOT_DEVICES,
};

/// Which instances to read.
pub(crate) enum Filter<'a> {
    /// Every instance.
    All,
    /// The instances of a project.
    Project(&'a str),
    /// One instance.
    One(&'a str, &'a str),
}

/// Instances, sorted by name (then project).
pub(crate) async fn instances(
    conn: &mut SqliteConnection,
    filter: Filter<'_>,
) -> StoreResult<Vec<InstanceRecord>> {
    let (project_id, name) = match filter {
        Filter::All => (None, None),
        Filter::Project(p) => (Some(lookup::project(conn, p).await?), None),
        Filter::One(p, n) => (Some(lookup::project(conn, p).await?), Some(n)),
    };
    let sql = format!(
        "SELECT i.id, p.name, i.name, n.name, i.type, i.architecture, i.ephemeral, i.stateful, \
         i.description, {}, {} \
         FROM instances i JOIN projects p ON p.id = i.project_id JOIN nodes n ON n.id = i.node_id \
         WHERE (?1 IS NULL OR i.project_id = ?1) AND (?2 IS NULL OR i.name = ?2) \
         ORDER BY i.name, p.name",
        secs("i.creation_date"),
        secs("i.last_use_date"),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(project_id)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| "reading instances".to_string())?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "instances"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_kv(conn, INSTANCE_CONFIG, &ids).await?;
    let mut devices = rows::load_devices(conn, INSTANCE_DEVICES, &ids).await?;
    let mut profiles = rows::load_names(
        conn,
        "SELECT ip.instance_id, p.name FROM instances_profiles ip \
         JOIN profiles p ON p.id = ip.profile_id \
         WHERE ip.instance_id IN ({ids}) ORDER BY ip.instance_id, ip.apply_order",
        &ids,
    )
    .await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            let name: String = col(row, 2, "instances")?;
            let code: i64 = col(row, 4, "instances")?;
            let instance_type = InstanceType::from_code(code).ok_or_else(|| {
                StoreError::Database(format!("instance {name:?} has unknown type {code}"))
            })?;
            Ok(InstanceRecord {
                project: col(row, 1, "instances")?,
                node: col(row, 3, "instances")?,
                instance_type,
                architecture: codes::architecture_name(col(row, 5, "instances")?).to_string(),
                ephemeral: col(row, 6, "instances")?,
                stateful: col(row, 7, "instances")?,
                description: col(row, 8, "instances")?,
                created_at: col(row, 9, "instances")?,
                last_used_at: col(row, 10, "instances")?,
                config: config.remove(id).unwrap_or_default(),
                devices: devices.remove(id).unwrap_or_default(),
                profiles: profiles.remove(id).unwrap_or_default(),
                name,
            })
        })
        .collect()
}

/// Snapshots of an instance (one of them with `name`), oldest first.
pub(crate) async fn snapshots(
    conn: &mut SqliteConnection,
    project: &str,
    instance: &str,
    name: Option<&str>,
) -> StoreResult<Vec<SnapshotRecord>> {
    let project_id = lookup::project(conn, project).await?;
    let instance_id = lookup::instance(conn, project_id, instance).await?;
    let sql = format!(
        "SELECT id, name, stateful, description, {}, {} FROM instances_snapshots \
         WHERE instance_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY creation_date, id",
        secs("creation_date"),
        secs("expiry_date"),
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(instance_id)
        .bind(name)
        .fetch_all(&mut *conn)
        .await
        .ctx(|| format!("reading the snapshots of instance {instance:?}"))?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "snapshots"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_kv(conn, SNAPSHOT_CONFIG, &ids).await?;
    let mut devices = rows::load_devices(conn, SNAPSHOT_DEVICES, &ids).await?;
    let mut profiles = rows::load_names(
        conn,
        "SELECT instance_snapshot_id, name FROM instances_snapshots_profiles \
         WHERE instance_snapshot_id IN ({ids}) ORDER BY instance_snapshot_id, apply_order",
        &ids,
    )
    .await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            Ok(SnapshotRecord {
                project: project.to_string(),
                instance: instance.to_string(),
                name: col(row, 1, "snapshots")?,
                stateful: col(row, 2, "snapshots")?,
                description: col(row, 3, "snapshots")?,
                created_at: col(row, 4, "snapshots")?,
                expires_at: col(row, 5, "snapshots")?,
                config: config.remove(id).unwrap_or_default(),
                devices: devices.remove(id).unwrap_or_default(),
                profiles: profiles.remove(id).unwrap_or_default(),
            })
        })
        .collect()
}
