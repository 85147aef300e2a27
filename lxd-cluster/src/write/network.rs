//! Managed networks: the network row, its configuration (per node for the keys LXD keeps per
//! node) and this node's row in `networks_nodes`.

use lxd_core::store::{NetworkRecord, StoreError, StoreResult};
use sqlx::SqliteConnection;

use super::{already_exists, name_list, require_name};
use crate::codes;
use crate::error::Context;
use crate::kind;
use crate::lookup::{self, THIS_NODE};
use crate::rows;

/// Creates a network with its row in `networks_nodes` for this node.
pub(crate) async fn create_network(
    conn: &mut SqliteConnection,
    rec: &NetworkRecord,
) -> StoreResult<()> {
    require_name(kind::NETWORK, &rec.name)?;
    let project_id = lookup::project(conn, &rec.project).await?;
    if lookup::find_network(conn, project_id, &rec.name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::NETWORK, rec.name.clone()));
    }
    let state = codes::state_code(kind::NETWORK, &rec.name, &rec.status)?;
    let ty = codes::network_type_code(&rec.name, &rec.kind)?;
    let what = || format!("creating network {:?}", rec.name);
    let id = sqlx::query(
        "INSERT INTO networks (project_id, name, description, state, type) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(project_id)
    .bind(&rec.name)
    .bind(&rec.description)
    .bind(state)
    .bind(ty)
    .execute(&mut *conn)
    .await
    .ctx(what)?
    .last_insert_rowid();
    rows::put_node_view(
        conn,
        rows::NETWORK_CONFIG,
        THIS_NODE,
        (id, &rec.name),
        state,
        &rec.config,
    )
    .await
}

/// Replaces a network's description, configuration and status (its type stays).
pub(crate) async fn update_network(
    conn: &mut SqliteConnection,
    rec: &NetworkRecord,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, &rec.project).await?;
    let id = lookup::network(conn, project_id, &rec.name).await?;
    let state = codes::state_code(kind::NETWORK, &rec.name, &rec.status)?;
    let what = || format!("updating network {:?}", rec.name);
    sqlx::query("UPDATE networks SET description = ?, state = ? WHERE id = ?")
        .bind(&rec.description)
        .bind(state)
        .bind(id)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    rows::put_node_view(
        conn,
        rows::NETWORK_CONFIG,
        THIS_NODE,
        (id, &rec.name),
        state,
        &rec.config,
    )
    .await
}

/// The instances and profiles whose nics use a network (`network=NAME`, or `parent=NAME`
/// for a nic on the network's interface), as `instance c1` / `profile default`. A network of
/// `default` is used by the projects without `features.networks` too.
async fn users(
    conn: &mut SqliteConnection,
    project: &str,
    project_id: i64,
    name: &str,
) -> StoreResult<Vec<String>> {
    // Projects whose nics see this project's networks.
    const SEES: &str = "(p.id = ?1 OR (?2 = 'default' AND NOT EXISTS ( \
        SELECT 1 FROM projects_config pc WHERE pc.project_id = p.id \
        AND pc.key = 'features.networks' AND pc.value IN ('true', '1', 'yes', 'on'))))";
    let nic = codes::device_type_code("", "", Some("nic"))?;
    let sql = format!(
        "SELECT 'instance ' || i.name FROM instances i \
         JOIN projects p ON p.id = i.project_id \
         JOIN instances_devices d ON d.instance_id = i.id \
         JOIN instances_devices_config c ON c.instance_device_id = d.id \
         WHERE {SEES} AND d.type = ?4 AND c.key IN ('network', 'parent') AND c.value = ?3 \
         UNION \
         SELECT 'profile ' || pr.name FROM profiles pr \
         JOIN projects p ON p.id = pr.project_id \
         JOIN profiles_devices d ON d.profile_id = pr.id \
         JOIN profiles_devices_config c ON c.profile_device_id = d.id \
         WHERE {SEES} AND d.type = ?4 AND c.key IN ('network', 'parent') AND c.value = ?3 \
         ORDER BY 1"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(project_id)
        .bind(project)
        .bind(name)
        .bind(nic)
        .fetch_all(conn)
        .await
        .ctx(|| format!("checking what uses network {name:?}"))
}

/// Refuses to change a network that nics use.
async fn require_unused(
    conn: &mut SqliteConnection,
    project: &str,
    project_id: i64,
    name: &str,
) -> StoreResult<()> {
    let users = users(conn, project, project_id, name).await?;
    if users.is_empty() {
        return Ok(());
    }
    Err(StoreError::InUse {
        kind: kind::NETWORK,
        name: name.to_string(),
        reason: format!("used by {}", name_list(&users, 5)),
    })
}

/// Renames a network nothing uses.
pub(crate) async fn rename_network(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
    new_name: &str,
) -> StoreResult<()> {
    require_name(kind::NETWORK, new_name)?;
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::network(conn, project_id, name).await?;
    if lookup::find_network(conn, project_id, new_name)
        .await?
        .is_some()
    {
        return Err(already_exists(kind::NETWORK, new_name));
    }
    require_unused(conn, project, project_id, name).await?;
    sqlx::query("UPDATE networks SET name = ? WHERE id = ?")
        .bind(new_name)
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("renaming network {name:?}"))?;
    Ok(())
}

/// Deletes a network nothing uses.
pub(crate) async fn delete_network(
    conn: &mut SqliteConnection,
    project: &str,
    name: &str,
) -> StoreResult<()> {
    let project_id = lookup::project(conn, project).await?;
    let id = lookup::network(conn, project_id, name).await?;
    require_unused(conn, project, project_id, name).await?;
    sqlx::query("DELETE FROM networks WHERE id = ?")
        .bind(id)
        .execute(conn)
        .await
        .ctx(|| format!("deleting network {name:?}"))?;
    Ok(())
}
