//! Reading managed networks.

use lxd_core::store::{NetworkRecord, StoreResult};
use sqlx::SqliteConnection;

use super::col;
use crate::codes;
use crate::error::Context;
use crate::kind;
use crate::lookup::{self, THIS_NODE};
use crate::rows;

/// Networks of a project (one of them with `name`), by name, with the configuration this node
/// sees (its own keys and the cluster-wide ones).
pub(crate) async fn networks(
    conn: &mut SqliteConnection,
    project: &str,
    name: Option<&str>,
) -> StoreResult<Vec<NetworkRecord>> {
    let project_id = lookup::project(conn, project).await?;
    let rows = sqlx::query(
        "SELECT id, name, type, COALESCE(description, ''), state FROM networks \
         WHERE project_id = ?1 AND (?2 IS NULL OR name = ?2) ORDER BY name",
    )
    .bind(project_id)
    .bind(name)
    .fetch_all(&mut *conn)
    .await
    .ctx(|| "reading networks".to_string())?;
    let ids = rows
        .iter()
        .map(|r| col(r, 0, "networks"))
        .collect::<StoreResult<Vec<i64>>>()?;
    let mut config = rows::load_node_kv(conn, rows::NETWORK_CONFIG, THIS_NODE, &ids).await?;
    rows.iter()
        .zip(&ids)
        .map(|(row, id)| {
            let name: String = col(row, 1, kind::NETWORK)?;
            Ok(NetworkRecord {
                project: project.to_string(),
                kind: codes::network_type_name(col(row, 2, "networks")?)?.to_string(),
                description: col(row, 3, "networks")?,
                status: codes::pool_state_name(col(row, 4, "networks")?).to_string(),
                config: config.remove(id).unwrap_or_default(),
                name,
            })
        })
        .collect()
}
