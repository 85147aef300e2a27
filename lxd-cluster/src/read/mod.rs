//! Reading records back: every record complete (configuration, devices, profiles in apply
//! order), lists sorted by name (snapshots by creation date, then id).

pub(crate) mod image;
pub(crate) mod instance;
pub(crate) mod network;
pub(crate) mod project;
pub(crate) mod storage;

use lxd_core::store::{ConfigMap, NodeRecord, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Row, Sqlite, SqliteConnection};

use crate::codes;
use crate::error::Context;
use crate::rows::secs;
use crate::write::server::UNCLUSTERED_ADDRESS;

/// Column `i` of a row, or a [`lxd_core::store::StoreError::Database`] naming `what`.
pub(crate) fn col<'r, T>(row: &'r SqliteRow, i: usize, what: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(i).ctx(|| format!("reading {what}"))
}

/// Server configuration.
pub(crate) async fn config(conn: &mut SqliteConnection) -> StoreResult<ConfigMap> {
    let rows = sqlx::query("SELECT key, value FROM config")
        .fetch_all(conn)
        .await
        .ctx(|| "reading server config".to_string())?;
    let mut out = ConfigMap::new();
    for row in &rows {
        let key: String = col(row, 0, "server config")?;
        let value: Option<String> = col(row, 1, "server config")?;
        out.insert(key, value.unwrap_or_default());
    }
    Ok(out)
}

/// Nodes, by name.
pub(crate) async fn nodes(conn: &mut SqliteConnection) -> StoreResult<Vec<NodeRecord>> {
    let sql = format!(
        "SELECT name, description, address, schema, api_extensions, {}, arch \
         FROM nodes ORDER BY name",
        secs("heartbeat")
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .fetch_all(conn)
        .await
        .ctx(|| "reading nodes".to_string())?;
    rows.iter()
        .map(|row| {
            let address: String = col(row, 2, "nodes")?;
            Ok(NodeRecord {
                name: col(row, 0, "nodes")?,
                description: col(row, 1, "nodes")?,
                address: if address == UNCLUSTERED_ADDRESS {
                    String::new()
                } else {
                    address
                },
                schema: col(row, 3, "nodes")?,
                api_extensions: col(row, 4, "nodes")?,
                heartbeat: col(row, 5, "nodes")?,
                architecture: codes::architecture_name(col(row, 6, "nodes")?).to_string(),
            })
        })
        .collect()
}
