//! `lxd sql local|global QUERY`: runs SQL in the daemon and prints LXD's tables.

use anyhow::{bail, Context, Result};
use hyper::Method;
use lxd_api::client::Client;
use serde_json::{json, Value};

use crate::cli::SqlArgs;

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a table as LXD's `lxd sql` does: a ruled box, headers centred, cells left-aligned.
pub fn render(columns: &[String], rows: &[Vec<Value>]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(cell).collect()).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r.get(i).map_or(0, |s| s.chars().count()))
                .chain([c.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule: String = format!(
        "+{}+\n",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("+")
    );
    let mut out = rule.clone();
    out.push('|');
    for (c, w) in columns.iter().zip(&widths) {
        let len = c.chars().count();
        let left = (w - len) / 2;
        let right = w - len - left;
        out.push_str(&format!(
            " {}{}{} |",
            " ".repeat(left),
            c,
            " ".repeat(right)
        ));
    }
    out.push('\n');
    out.push_str(&rule);
    for r in &cells {
        out.push('|');
        for (i, w) in widths.iter().enumerate() {
            let s = r.get(i).cloned().unwrap_or_default();
            out.push_str(&format!(" {s}{} |", " ".repeat(w - s.chars().count())));
        }
        out.push('\n');
    }
    out.push_str(&rule);
    out
}

/// Runs `lxd sql`.
pub fn run(args: SqlArgs) -> Result<()> {
    if args.database != "local" && args.database != "global" {
        bail!("Invalid database type");
    }
    let query = if args.query == "-" {
        let mut q = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut q)?;
        q
    } else {
        args.query.clone()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = Client::new(&crate::lxd_dir());
        if query.trim() == ".schema" || query.trim() == ".dump" {
            let path = format!(
                "/internal/sql?database={}&{}=1",
                args.database,
                if query.trim() == ".schema" {
                    "schema"
                } else {
                    "dump"
                }
            );
            let r = client
                .request(Method::GET, &path, None)
                .await
                .context("Failed to request dump")?;
            print!("{}", r.metadata()["text"].as_str().unwrap_or(""));
            return Ok(());
        }
        let r = client
            .request(
                Method::POST,
                "/internal/sql",
                Some(&json!({"database": args.database, "query": query})),
            )
            .await?;
        let results = r.metadata()["Results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let many = results.len() > 1;
        for (i, res) in results.iter().enumerate() {
            if many {
                println!("=> Query {i}:\n");
            }
            if res["type"] == "select" {
                let columns: Vec<String> = res["columns"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|c| c.as_str().unwrap_or("").to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                let rows: Vec<Vec<Value>> = res["rows"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|r| r.as_array().cloned().unwrap_or_default())
                            .collect()
                    })
                    .unwrap_or_default();
                print!("{}", render(&columns, &rows));
            } else {
                println!("Rows affected: {}", res["rows_affected"]);
            }
            if many {
                println!();
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::render;
    use serde_json::json;

    #[test]
    fn table_like_lxd() {
        let t = render(
            &["id".into(), "name".into(), "description".into()],
            &[vec![
                json!(1),
                json!("default"),
                json!("Default LXD project"),
            ]],
        );
        assert_eq!(
            t,
            "+----+---------+---------------------+\n\
             | id |  name   |     description     |\n\
             +----+---------+---------------------+\n\
             | 1  | default | Default LXD project |\n\
             +----+---------+---------------------+\n"
        );
        let empty = render(&["id".into(), "key".into(), "value".into()], &[]);
        assert_eq!(
            empty,
            "+----+-----+-------+\n| id | key | value |\n+----+-----+-------+\n+----+-----+-------+\n"
        );
    }
}
