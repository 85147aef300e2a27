//! An object's child rows packed into one column of its own row, so that a record and its
//! configuration, devices and profile list come back from a single statement (a statement is
//! a consistent snapshot of its own: no transaction, no round trip per child table).
//!
//! The SQL builders here give subqueries that list the children as SQL literals, each made
//! by sqlite's `quote()` (text in single quotes with `'` doubled, integers as digits, `NULL`)
//! and separated by commas; the parsers read such a list back. A subquery over no rows gives
//! SQL NULL, read as an empty list.

use lxd_core::store::{ConfigMap, DeviceConfig, Devices, StoreError, StoreResult};

use crate::codes;
use crate::rows::{DeviceTables, KvTable};

/// SQL for the keys of the owner whose id is the SQL expression `owner`: `'key','value',...`.
pub(crate) fn config(t: KvTable, owner: &str) -> String {
    format!(
        "(SELECT group_concat(quote(key) || ',' || quote(value), ',') FROM {table} \
         WHERE {col} = {owner})",
        table = t.table,
        col = t.owner,
    )
}

/// SQL for the devices of the owner whose id is the SQL expression `owner`:
/// `'name',type,'packed config',...`, the configuration packed as by [`config`].
pub(crate) fn devices(t: DeviceTables, owner: &str) -> String {
    format!(
        "(SELECT group_concat(quote(d.name) || ',' || d.type || ',' || quote(COALESCE(\
         (SELECT group_concat(quote(c.key) || ',' || quote(c.value), ',') FROM {config} c \
         WHERE c.{device} = d.id), '')), ',') FROM {devices} d WHERE d.{col} = {owner})",
        config = t.config,
        device = t.device,
        devices = t.devices,
        col = t.owner,
    )
}

/// SQL for a list of names: the column `name` of the rows `from_where` (`FROM ... WHERE
/// ...`) selects, in the order of the expression `order`.
pub(crate) fn names(name: &str, order: &str, from_where: &str) -> String {
    format!("(SELECT group_concat(quote({name}), ',' ORDER BY {order}) {from_where})")
}

/// One SQL literal of a packed list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Literal {
    Null,
    Text(String),
    Int(i64),
}

fn bad(what: &str, reason: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("reading {what}: {reason}"))
}

/// The literals of a packed list (none for NULL).
fn literals(packed: Option<&str>, what: &str) -> StoreResult<Vec<Literal>> {
    let Some(s) = packed else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (lit, tail) = if let Some(body) = rest.strip_prefix('\'') {
            // Text up to the quote that is not doubled.
            let mut text = String::new();
            let mut chars = body.char_indices();
            let end = loop {
                match chars.next() {
                    Some((i, '\'')) => {
                        if body[i + 1..].starts_with('\'') {
                            text.push('\'');
                            chars.next();
                        } else {
                            break i + 1;
                        }
                    }
                    Some((_, c)) => text.push(c),
                    None => return Err(bad(what, "unterminated text in a packed list")),
                }
            };
            (Literal::Text(text), &body[end..])
        } else if let Some(tail) = rest.strip_prefix("NULL") {
            (Literal::Null, tail)
        } else {
            let len = rest.find(',').unwrap_or(rest.len());
            let n = rest[..len].parse().map_err(|_| {
                bad(
                    what,
                    format!("unexpected {:?} in a packed list", &rest[..len]),
                )
            })?;
            (Literal::Int(n), &rest[len..])
        };
        out.push(lit);
        rest = match tail.strip_prefix(',') {
            Some(t) if !t.is_empty() => t,
            Some(_) => return Err(bad(what, "trailing comma in a packed list")),
            None if tail.is_empty() => tail,
            None => return Err(bad(what, format!("unexpected {tail:?} in a packed list"))),
        };
    }
    Ok(out)
}

fn text(lit: Literal, what: &str) -> StoreResult<String> {
    match lit {
        Literal::Text(s) => Ok(s),
        other => Err(bad(what, format!("expected text, found {other:?}"))),
    }
}

/// A [`config`] column: NULL values read as empty strings, as the row-by-row reads do.
pub(crate) fn parse_config(packed: Option<&str>, what: &str) -> StoreResult<ConfigMap> {
    let mut out = ConfigMap::new();
    let mut it = literals(packed, what)?.into_iter();
    while let Some(key) = it.next() {
        let value = match it.next() {
            Some(Literal::Null) => String::new(),
            Some(v) => text(v, what)?,
            None => return Err(bad(what, "a key without a value")),
        };
        out.insert(text(key, what)?, value);
    }
    Ok(out)
}

/// A [`devices`] column, each device with its `type` key rebuilt from LXD's type code.
pub(crate) fn parse_devices(packed: Option<&str>, what: &str) -> StoreResult<Devices> {
    let mut out = Devices::new();
    let mut it = literals(packed, what)?.into_iter();
    while let Some(name) = it.next() {
        let (Some(Literal::Int(code)), Some(config)) = (it.next(), it.next()) else {
            return Err(bad(what, "a device without its type and configuration"));
        };
        let config = text(config, what)?;
        let mut device = DeviceConfig::new();
        device.insert("type".into(), codes::device_type_name(code)?.to_string());
        device.extend(parse_config(
            (!config.is_empty()).then_some(config.as_str()),
            what,
        )?);
        out.insert(text(name, what)?, device);
    }
    Ok(out)
}

/// A [`names`] column.
pub(crate) fn parse_names(packed: Option<&str>, what: &str) -> StoreResult<Vec<String>> {
    literals(packed, what)?
        .into_iter()
        .map(|l| text(l, what))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_read_back_what_quote_writes() {
        let got = literals(Some("'a','it''s',NULL,42,'',-7,'x,y'"), "t").unwrap();
        assert_eq!(
            got,
            [
                Literal::Text("a".into()),
                Literal::Text("it's".into()),
                Literal::Null,
                Literal::Int(42),
                Literal::Text(String::new()),
                Literal::Int(-7),
                Literal::Text("x,y".into()),
            ]
        );
        assert!(literals(None, "t").unwrap().is_empty());
        assert!(literals(Some(""), "t").unwrap().is_empty());
    }

    #[test]
    fn malformed_lists_are_refused_with_what_was_read() {
        for bad in ["'open", "'a',", "'a' 'b'", "X'00'", "1.5"] {
            let e = literals(Some(bad), "instances").unwrap_err();
            assert!(e.to_string().contains("reading instances"), "{bad}: {e}");
        }
    }

    #[test]
    fn config_devices_and_names() {
        let config = parse_config(Some("'limits.cpu','2','empty',NULL"), "t").unwrap();
        assert_eq!(config["limits.cpu"], "2");
        assert_eq!(config["empty"], "");
        // A disk device (type code 2) with its keys, and a nic (1) without any.
        let devices = parse_devices(
            Some("'root',2,'''path'',''/'',''pool'',''p''','eth0',1,''"),
            "t",
        )
        .unwrap();
        assert_eq!(devices["root"]["path"], "/");
        assert_eq!(devices["root"]["pool"], "p");
        assert_eq!(devices["root"]["type"], "disk");
        assert_eq!(devices["eth0"].len(), 1);
        assert_eq!(devices["eth0"]["type"], "nic");
        assert_eq!(
            parse_names(Some("'default','web'"), "t").unwrap(),
            ["default", "web"]
        );
        assert!(parse_devices(Some("'root',2"), "t").is_err());
        assert!(parse_config(Some("'k'"), "t").is_err());
    }
}
