//! Raw SQL for `lxd sql local|global`: a statement that returns columns gives its rows as
//! text, the others their count of changed rows.
//!
//! Several statements separated by `;` run in one transaction, as LXD runs them; since a
//! [`QueryResult`] holds one set of rows, only one of them may return rows.

use lxd_core::store::{QueryResult, StoreError, StoreResult};
use sqlx::sqlite::SqliteRow;
use sqlx::{
    AssertSqlSafe, Column, Connection, Executor, Row, SqlSafeStr, SqliteConnection, SqlitePool,
    Statement, TypeInfo, ValueRef,
};

/// Runs `sql` on `pool`. `db` names the database in errors (`global`, `local`).
pub(crate) async fn run(pool: &SqlitePool, db: &str, sql: &str) -> StoreResult<QueryResult> {
    let fail = |e: sqlx::Error| StoreError::Database(format!("{db} database: {sql:?}: {e}"));
    let statements = split(sql);
    if statements.is_empty() {
        return Err(StoreError::Unsupported(format!(
            "{db} database: empty query"
        )));
    }
    let mut conn = pool.acquire().await.map_err(fail)?;
    if let [one] = statements.as_slice() {
        return run_one(&mut conn, one).await.map_err(fail);
    }
    let mut with_rows = 0;
    for s in &statements {
        let prepared = (&mut *conn)
            .prepare(AssertSqlSafe(s.to_string()).into_sql_str())
            .await
            .map_err(fail)?;
        with_rows += usize::from(!prepared.columns().is_empty());
    }
    if with_rows > 0 {
        return Err(StoreError::Unsupported(format!(
            "{db} database: {sql:?} holds {} statements; send a statement that returns rows \
             on its own",
            statements.len()
        )));
    }
    let mut tx = conn.begin().await.map_err(fail)?;
    let mut total = 0;
    for s in &statements {
        total += run_one(&mut tx, s).await.map_err(fail)?.rows_affected;
    }
    tx.commit().await.map_err(fail)?;
    Ok(QueryResult {
        rows_affected: total,
        ..QueryResult::default()
    })
}

/// Runs one statement.
async fn run_one(conn: &mut SqliteConnection, sql: &str) -> Result<QueryResult, sqlx::Error> {
    let statement = (&mut *conn)
        .prepare(AssertSqlSafe(sql.to_string()).into_sql_str())
        .await?;
    let columns: Vec<String> = statement
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    if columns.is_empty() {
        let done = statement.query().execute(&mut *conn).await?;
        return Ok(QueryResult {
            columns,
            rows: Vec::new(),
            rows_affected: done.rows_affected(),
        });
    }
    let found = statement.query().fetch_all(&mut *conn).await?;
    let rows = found
        .iter()
        .map(|row| render(row, columns.len()))
        .collect::<Result<_, _>>()?;
    Ok(QueryResult {
        columns,
        rows,
        rows_affected: 0,
    })
}

/// Splits SQL text on the `;` that end statements (not those in quotes, identifiers or
/// comments), dropping pieces that hold nothing but blanks and comments.
fn split(sql: &str) -> Vec<&str> {
    #[derive(PartialEq)]
    enum In {
        Code,
        Quote(char),
        LineComment,
        BlockComment,
    }
    let mut out = Vec::new();
    let mut state = In::Code;
    let mut start = 0;
    let mut meaningful = false;
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match state {
            In::Code => match c {
                '\'' | '"' | '`' => {
                    state = In::Quote(c);
                    meaningful = true;
                }
                '[' => {
                    state = In::Quote(']');
                    meaningful = true;
                }
                '-' if chars.peek().is_some_and(|(_, n)| *n == '-') => {
                    chars.next();
                    state = In::LineComment;
                }
                '/' if chars.peek().is_some_and(|(_, n)| *n == '*') => {
                    chars.next();
                    state = In::BlockComment;
                }
                ';' => {
                    if meaningful {
                        out.push(sql[start..i].trim());
                    }
                    start = i + 1;
                    meaningful = false;
                }
                c if !c.is_whitespace() => meaningful = true,
                _ => {}
            },
            In::Quote(end) if c == end => state = In::Code,
            In::LineComment if c == '\n' => state = In::Code,
            In::BlockComment if c == '*' && chars.peek().is_some_and(|(_, n)| *n == '/') => {
                chars.next();
                state = In::Code;
            }
            _ => {}
        }
    }
    if meaningful {
        out.push(sql[start..].trim());
    }
    out
}

/// A row's values as text: integers in decimal, reals as Rust prints them, text as is, blobs
/// as text where they are UTF-8 (lossily), NULL as `None`.
fn render(row: &SqliteRow, n: usize) -> Result<Vec<Option<String>>, sqlx::Error> {
    (0..n)
        .map(|i| {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                return Ok(None);
            }
            let ty = raw.type_info().name().to_string();
            Ok(Some(match ty.as_str() {
                "INTEGER" | "BOOLEAN" => row.try_get_unchecked::<i64, _>(i)?.to_string(),
                "REAL" => row.try_get_unchecked::<f64, _>(i)?.to_string(),
                "BLOB" => {
                    String::from_utf8_lossy(&row.try_get_unchecked::<Vec<u8>, _>(i)?).into_owned()
                }
                _ => row.try_get_unchecked::<String, _>(i)?,
            }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_on_statement_ends_only() {
        assert_eq!(split("SELECT 1"), ["SELECT 1"]);
        assert_eq!(split(" SELECT 1 ; ; SELECT 2;"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(
            split("INSERT INTO t VALUES ('a;b', \"c;\", [d;]); DELETE FROM t"),
            [
                "INSERT INTO t VALUES ('a;b', \"c;\", [d;])",
                "DELETE FROM t"
            ]
        );
        assert_eq!(
            split("SELECT 1 -- one; two\n; /* ; */ SELECT 2"),
            ["SELECT 1 -- one; two", "/* ; */ SELECT 2"]
        );
        assert_eq!(split("-- nothing\n ; /* at all */"), Vec::<&str>::new());
        assert_eq!(
            split("SELECT 'it''s'; SELECT 3"),
            ["SELECT 'it''s'", "SELECT 3"]
        );
    }
}
