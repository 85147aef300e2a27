//! Server configuration and this node's row.

use lxd_core::store::{NodeRecord, StoreResult};
use sqlx::{AssertSqlSafe, SqliteConnection};

use super::{already_exists, require_name};
use crate::codes;
use crate::error::Context;
use crate::kind;
use crate::lookup::THIS_NODE;
use crate::rows::{nullable_time, TO_DATETIME};

/// The address LXD records for a node that is not clustered.
pub(crate) const UNCLUSTERED_ADDRESS: &str = "0.0.0.0";

/// Sets or removes a server configuration key.
pub(crate) async fn set_config(
    conn: &mut SqliteConnection,
    key: &str,
    value: Option<&str>,
) -> StoreResult<()> {
    let what = || format!("writing server config key {key:?}");
    match value {
        Some(v) => sqlx::query(
            "INSERT INTO config (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(v)
        .execute(conn)
        .await
        .ctx(what)?,
        None => sqlx::query("DELETE FROM config WHERE key = ?")
            .bind(key)
            .execute(conn)
            .await
            .ctx(what)?,
    };
    Ok(())
}

/// Creates or updates this node's row (LXD's node 1).
pub(crate) async fn put_node(conn: &mut SqliteConnection, rec: &NodeRecord) -> StoreResult<()> {
    require_name(kind::NODE, &rec.name)?;
    let arch = codes::require_architecture(kind::NODE, &rec.name, &rec.architecture)?;
    let address = if rec.address.is_empty() {
        UNCLUSTERED_ADDRESS
    } else {
        rec.address.as_str()
    };
    let what = || format!("writing node {:?}", rec.name);
    let clash: Option<i64> = sqlx::query_scalar("SELECT id FROM nodes WHERE name = ? AND id != ?")
        .bind(&rec.name)
        .bind(THIS_NODE)
        .fetch_optional(&mut *conn)
        .await
        .ctx(what)?;
    if clash.is_some() {
        return Err(already_exists(kind::NODE, rec.name.clone()));
    }
    let clash: Option<i64> =
        sqlx::query_scalar("SELECT id FROM nodes WHERE address = ? AND id != ?")
            .bind(address)
            .bind(THIS_NODE)
            .fetch_optional(&mut *conn)
            .await
            .ctx(what)?;
    if clash.is_some() {
        return Err(already_exists(
            kind::NODE,
            format!("{} ({address})", rec.name),
        ));
    }
    let update = format!(
        "UPDATE nodes SET name = ?, description = ?, address = ?, schema = ?, \
         api_extensions = ?, heartbeat = {TO_DATETIME}, arch = ? WHERE id = ?"
    );
    let done = sqlx::query(AssertSqlSafe(update))
        .bind(&rec.name)
        .bind(&rec.description)
        .bind(address)
        .bind(rec.schema)
        .bind(rec.api_extensions)
        .bind(nullable_time(rec.heartbeat))
        .bind(arch)
        .bind(THIS_NODE)
        .execute(&mut *conn)
        .await
        .ctx(what)?;
    if done.rows_affected() == 0 {
        let insert = format!(
            "INSERT INTO nodes (id, name, description, address, schema, api_extensions, \
             heartbeat, arch) VALUES (?, ?, ?, ?, ?, ?, {TO_DATETIME}, ?)"
        );
        sqlx::query(AssertSqlSafe(insert))
            .bind(THIS_NODE)
            .bind(&rec.name)
            .bind(&rec.description)
            .bind(address)
            .bind(rec.schema)
            .bind(rec.api_extensions)
            .bind(nullable_time(rec.heartbeat))
            .bind(arch)
            .execute(&mut *conn)
            .await
            .ctx(what)?;
    }
    Ok(())
}
