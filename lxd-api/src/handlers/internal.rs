//! `/internal/*`: what the `lxd` subcommands talk to (`waitready`, `shutdown`, `sql`).

use std::sync::Arc;

use hyper::Method;
use lxd_core::store::Database;
use serde_json::{json, Value};

use crate::server::{ApiError, ApiState, Reply, Req};

#[derive(serde::Deserialize)]
struct SqlQuery {
    database: String,
    query: String,
}

/// A value as LXD's JSON types it: integers and floats as numbers, the rest as text.
fn typed(v: &Option<String>) -> Value {
    match v {
        None => Value::Null,
        Some(s) => {
            if let Ok(i) = s.parse::<i64>() {
                json!(i)
            } else if let Some(f) = s
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && s.contains('.'))
            {
                json!(f)
            } else {
                json!(s)
            }
        }
    }
}

fn result_json(r: lxd_core::store::QueryResult, select: bool) -> Value {
    if select {
        let rows: Vec<Vec<Value>> = r
            .rows
            .iter()
            .map(|row| row.iter().map(typed).collect())
            .collect();
        let rows = if rows.is_empty() {
            Value::Null
        } else {
            json!(rows)
        };
        json!({"type": "select", "columns": r.columns, "rows": rows, "rows_affected": 0})
    } else {
        json!({"type": "exec", "columns": null, "rows": null, "rows_affected": r.rows_affected})
    }
}

async fn dump(st: &ApiState, db: Database, data: bool) -> Result<String, ApiError> {
    let store = st.lxd.store();
    let r = store
        .query(db, "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, name")
        .await?;
    let mut text = String::from("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n");
    for s in r
        .rows
        .iter()
        .filter_map(|row| row.first().cloned().flatten())
    {
        text.push_str(&format!("{s};\n"));
    }
    if data {
        let tables = store
            .query(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
            .await?;
        for t in tables
            .rows
            .iter()
            .filter_map(|r| r.first().cloned().flatten())
        {
            let rows = store.query(db, &format!("SELECT * FROM \"{t}\"")).await?;
            for row in rows.rows {
                let vals: Vec<String> = row
                    .iter()
                    .map(|v| match typed(v) {
                        Value::Null => "NULL".to_string(),
                        Value::String(s) => format!("'{}'", s.replace('\'', "''")),
                        n => n.to_string(),
                    })
                    .collect();
                text.push_str(&format!("INSERT INTO {t} VALUES({});\n", vals.join(",")));
            }
        }
    }
    text.push_str("COMMIT;\n");
    Ok(text)
}

fn database(name: &str) -> Result<Database, ApiError> {
    match name {
        "local" => Ok(Database::Local),
        "global" => Ok(Database::Global),
        other => Err(ApiError::bad_request(format!(
            "Invalid database type {other:?}"
        ))),
    }
}

/// Dispatches `/internal/...`.
pub async fn route(st: Arc<ApiState>, mut req: Req, rest: &str) -> Result<Reply, ApiError> {
    match (req.method.clone(), rest) {
        (Method::GET, "ready") => Ok(Reply::Sync(json!({}))),
        (Method::PUT, "shutdown") => {
            st.shutdown.send_replace(true);
            Ok(Reply::Sync(json!({})))
        }
        (Method::GET, "sql") => {
            let db = database(req.query.get("database").map(String::as_str).unwrap_or(""))?;
            let data = req.query.get("dump").is_some_and(|v| v == "1");
            Ok(Reply::Sync(json!({"text": dump(&st, db, data).await?})))
        }
        (Method::POST, "sql") => {
            let q: SqlQuery = req.json().await?;
            let db = database(&q.database)?;
            let store = st.lxd.store();
            let mut results = Vec::new();
            for stmt in q.query.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                let lower = stmt.to_lowercase();
                let select = ["select", "pragma", "with", "explain"]
                    .iter()
                    .any(|k| lower.starts_with(k));
                let r = store
                    .query(db, stmt)
                    .await
                    .map_err(|e| ApiError::internal(format!("Failed to execute query: {e}")))?;
                results.push(result_json(r, select));
            }
            Ok(Reply::Sync(json!({"Results": results})))
        }
        _ => Err(ApiError::not_found("not found")),
    }
}
